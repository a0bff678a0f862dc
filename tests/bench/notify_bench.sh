#!/usr/bin/env bash
# Notifications benchmark (not part of the test suite).  One cluster, databases pm_notify and
# pm_oltp linked by pm_fdw (the embedded default shape).  As root, after `make install`:
#
#   tests/bench/notify_bench.sh                       10M notifications, 5 runs
#   tests/bench/notify_bench.sh --rows 1000000 --runs 3
#
# The table: --rows notifications of 100k users in 1000 tenants over 80 days (about 20 %
# unread; older than this month they sit in the default partition, as after a partition
# manager outage), 200 tenant-wide rows per tenant; the measured user owns 10k of them, 950
# unread, and has read 150 of its tenant's 200 tenant-wide rows; a second user of the tenant
# has 10k and never reads (the worst case of the count).  Reported side by side, medians of --runs:
#   1. unread_count() and unread(50) as pm_app in the user's context: p50 / p99 of 2000 calls
#      timed inside the server (target p99 < 1 ms), next to the plain query a hand-written
#      app would run (count of the user's own unread rows, RLS off, explicit filters): ratio;
#      and once right after a restart (cold shared buffers)
#   2. mark_all_read() on the 1000 unread (950 own + 50 tenant-wide), in a rolled-back
#      transaction: ms
#   3. delivery from OLTP through the link: 20k queued notifications, deliver_notifications()
#      in batches of 100 vs batches of 1 (one remote call per job): notifications/s and ratio
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

rows=10000000 runs=5 jobs=20000
while (($#)); do
    case $1 in
        --rows) rows=$2; shift ;;
        --runs) runs=$2; shift ;;
        --jobs) jobs=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

PW='bench-notify-pw'
pm_cluster_start bench postgres "shared_preload_libraries = 'penguinmails'
shared_buffers = 512MB
max_wal_size = 8GB" >/dev/null
n() { pm_psql bench -d pm_notify -At "$@"; }
o() { pm_psql bench -d pm_oltp -At "$@"; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

T=00000000-0000-4000-8000-000000000001   # the measured tenant
U=00000000-0000-4000-8000-0000000000f1   # the measured user
W=00000000-0000-4000-8000-0000000000f2   # worst case: a user of the same tenant who never reads

pm_psql bench -c "CREATE DATABASE pm_notify" >/dev/null
n >/dev/null <<SQL
CREATE EXTENSION pm_core;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_notify;
CREATE ROLE oltp_notify LOGIN PASSWORD '$PW';
SELECT pm_notify.grant_producer('oltp_notify');
SQL
echo "loading $rows notifications (100k users, 1000 tenants, 80 days)"
t0=$SECONDS
n >/dev/null <<SQL
-- Everyone else: user u of tenant u % 1000.
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, is_read, read_at, created_at)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(1 + u % 1000), 12, '0'))::uuid,
       ('00000000-0000-4000-9000-' || lpad(to_hex(u), 12, '0'))::uuid,
       'campaign.completed', 'Campaign ' || g || ' completed', 'Sent ' || g % 997 || ', opened ' || g % 101,
       g % 5 <> 0, CASE WHEN g % 5 <> 0 THEN now() END,
       now() - (g % 6912000) * interval '1 second'
FROM generate_series(1, $rows - 20000 - 200000) g, LATERAL (SELECT g % 100000 AS u) x;
-- 200 tenant-wide rows per tenant.
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, created_at)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(t), 12, '0'))::uuid, NULL, 'quota.80',
       'Quota ' || i, 'You used 80 % of something', now() - i * interval '6 hours'
FROM generate_series(1, 1000) t, generate_series(1, 200) i;
-- The measured user: 10k own, 950 unread.
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, is_read, read_at, created_at)
SELECT '$T', '$U', 'campaign.completed', 'Mine ' || g, 'Sent ' || g, g > 950, CASE WHEN g > 950 THEN now() END,
       now() - g * interval '11 minutes'
FROM generate_series(1, 10000) g;
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, created_at)
SELECT '$T', '$W', 'campaign.completed', 'Unread ' || g, 'Sent ' || g, now() - g * interval '11 minutes'
FROM generate_series(1, 10000) g;
INSERT INTO pm_notify.notification_receipts (tenant_id, user_id, notification_id, created_at, read_at)
SELECT tenant_id, '$U', id, created_at, now() FROM pm_notify.notifications
WHERE tenant_id = '$T' AND user_id IS NULL ORDER BY created_at DESC LIMIT 150;
SQL
n -c "VACUUM ANALYZE pm_notify.notifications" -c "VACUUM ANALYZE pm_notify.notification_receipts" >/dev/null
echo "  loaded in $((SECONDS - t0)) s: $(n -c "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('pm_notify.notifications')") with indexes"
n -c "SELECT '  partitions: ' || string_agg(relid::text || ' ' || (SELECT count(*) FROM pm_notify.notifications WHERE tableoid = relid), ', ') FROM pg_partition_tree('pm_notify.notifications') WHERE isleaf"

# Per-call timing inside the server: p50 and p99 in microseconds of `calls` executions of stmt.
n >/dev/null <<'SQL'
CREATE FUNCTION public.bench_calls(stmt text, calls int, as_app boolean, tenant uuid, usr uuid,
                                   OUT p50_us float8, OUT p99_us float8)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    us float8[] := '{}';
    dummy text;
BEGIN
    PERFORM pm.set_context(tenant, usr);
    IF as_app THEN
        SET LOCAL ROLE pm_app;
    END IF;
    FOR i IN 1 .. calls LOOP
        t0 := clock_timestamp();
        EXECUTE stmt INTO dummy;
        us := us || extract(epoch FROM clock_timestamp() - t0) * 1e6;
    END LOOP;
    RESET ROLE;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x), percentile_cont(0.99) WITHIN GROUP (ORDER BY x)
      INTO p50_us, p99_us FROM unnest(us) x;
END $$;
-- The baseline a hand-written app would run: the spec's index, no RLS, no tenant-wide rows.
-- A function, so its plan is cached as the API functions' are.
CREATE FUNCTION public.plain_unread_count(tenant uuid, usr uuid) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c bigint;
BEGIN
    SELECT count(*) INTO c FROM pm_notify.notifications n
    WHERE n.tenant_id = tenant AND n.user_id = usr AND NOT n.is_read AND n.deleted_at IS NULL;
    RETURN c;
END $$;
-- mark_all_read() timed inside a subtransaction that is rolled back: "ms changed".
CREATE FUNCTION public.bench_mark_all_read(tenant uuid, usr uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    result text;
BEGIN
    PERFORM pm.set_context(tenant, usr);
    BEGIN
        SET LOCAL ROLE pm_app;
        t0 := clock_timestamp();
        result := pm_notify.mark_all_read()::text;
        result := round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 2) || ' ' || result;
        RAISE EXCEPTION 'roll back' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN
        RESET ROLE;
    END;
    RETURN result;
END $$;
SQL
call() { # stmt as_app -> "p50 p99"
    n -c "SELECT round(p50_us::numeric, 1) || ' ' || round(p99_us::numeric, 1)
          FROM public.bench_calls(\$s\$$1\$s\$, 2000, $2, '$T', '$U')"
}
check=$(n -c "SELECT pm.set_context('$T', '$U', false)" -c "SELECT pm_notify.unread_count()" | tail -1)
echo "  the user's unread_count(): $check (950 own + 50 tenant-wide)"

declare -a c50 c99 u50 u99 b50 b99 w50 w99 mar
for r in $(seq 1 "$runs"); do
    read -r a b <<<"$(call 'SELECT pm_notify.unread_count()' true)"; c50+=("$a"); c99+=("$b")
    read -r a b <<<"$(call 'SELECT count(*) FROM pm_notify.unread(50)' true)"; u50+=("$a"); u99+=("$b")
    read -r a b <<<"$(call "SELECT public.plain_unread_count('$T', '$U')" false)"
    b50+=("$a"); b99+=("$b")
    read -r a b <<<"$(n -c "SELECT round(p50_us::numeric, 1) || ' ' || round(p99_us::numeric, 1)
                            FROM public.bench_calls('SELECT pm_notify.unread_count()', 500, true, '$T', '$W')")"
    w50+=("$a"); w99+=("$b")
    mar+=("$(n -c "SELECT public.bench_mark_all_read('$T', '$U')")")
done
med() { printf '%s\n' "$@" | median; }
mar_ms=$(printf '%s\n' "${mar[@]}" | awk '{print $1}' | median)
mar_n=$(printf '%s\n' "${mar[@]}" | awk '{print $2}' | head -1)
pm_cluster_restart bench >/dev/null
cold=$(n -c "SELECT pm.set_context('$T', '$U', false)" -c "SET ROLE pm_app" \
         -c "SELECT extract(epoch FROM clock_timestamp()) * 1e6" -c "SELECT pm_notify.unread_count()" \
         -c "SELECT extract(epoch FROM clock_timestamp()) * 1e6" | awk 'NR==2{a=$1} NR==4{b=$1} END {printf "%.0f", b-a}')

echo "loading $jobs notification jobs in pm_oltp"
pm_psql bench -c "CREATE DATABASE pm_oltp" >/dev/null
o >/dev/null <<SQL
CREATE EXTENSION pm_oltp CASCADE;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_queue;
CREATE EXTENSION pm_fdw;
SELECT pm.link_tier('notify', 'host=127.0.0.1 port=$(pm_cluster_port bench) dbname=pm_notify', 'oltp_notify', '$PW');
SQL
enqueue() {
    o -c "SELECT count(pm_oltp.enqueue_notification(jsonb_build_object('kind', 'notification',
              'tenant_id', '$T', 'user_id', '$U', 'type', 'import.done', 'title', 'Import ' || g,
              'message', 'Your import finished'), '$T')) FROM generate_series(1, $1) g" >/dev/null
}
rate() { # batch jobs -> notifications/s
    enqueue "$2"
    local t0 t1 got
    t0=$(date +%s%N)
    got=$(o -c "SELECT delivered FROM pm_oltp.deliver_notifications($2, $1)")
    t1=$(date +%s%N)
    [[ $got == "$2" ]] || { echo "delivered $got of $2" >&2; exit 1; }
    echo $((got * 1000000000 / (t1 - t0)))
}
declare -a r100 r1
for r in $(seq 1 "$runs"); do
    r100+=("$(rate 100 "$jobs")")
    r1+=("$(rate 1 $((jobs / 10)))")
done

printf '\n=== pm_notify, %s notifications, medians of %s runs ===\n' "$rows" "$runs"
printf '%-44s %10s %10s\n' "in-server time per call (us)" p50 p99
printf '%-44s %10s %10s\n' "unread_count() (pm_app, RLS, own+tenant-wide)" "$(med "${c50[@]}")" "$(med "${c99[@]}")"
printf '%-44s %10s %10s\n' "unread(50)" "$(med "${u50[@]}")" "$(med "${u99[@]}")"
printf '%-44s %10s %10s\n' "baseline: plain count of own unread, RLS off" "$(med "${b50[@]}")" "$(med "${b99[@]}")"
awk -v a="$(med "${c50[@]}")" -v b="$(med "${b50[@]}")" 'BEGIN {printf "unread_count / baseline (p50): %.2fx\n", a / b}'
printf '%-44s %10s %10s\n' "worst case: unread_count() with 10k unread" "$(med "${w50[@]}")" "$(med "${w99[@]}")"
echo "unread_count() right after a restart (cold shared buffers, one call): ${cold} us"
echo "mark_all_read() on $mar_n unread: ${mar_ms} ms"
printf 'delivery OLTP -> pm_notify through the link: batch 100: %s notifications/s, batch 1: %s/s, ratio %s\n' \
    "$(med "${r100[@]}")" "$(med "${r1[@]}")" \
    "$(awk -v a="$(med "${r100[@]}")" -v b="$(med "${r1[@]}")" 'BEGIN {printf "%.1fx", a / b}')"
