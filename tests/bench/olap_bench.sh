#!/usr/bin/env bash
# OLAP benchmark (not part of the test suite), two clusters (OLTP, OLAP) linked by pm_fdw.
# As root, after `make install`:
#
#   tests/bench/olap_bench.sh                 10M emails over 100 tenants, 5 runs
#   tests/bench/olap_bench.sh --emails 1000000 --runs 3
#   tests/bench/olap_bench.sh --emails 1000000 --runs 3 --whale   tenant 1 owns half the emails
#
# Side by side, one run, medians of --runs:
#   1. rebuild of every day vs rollup() after 1 % of the emails got a late open (target
#      rollup ≤ 5 % of rebuild); rows that crossed the link for the rollup; verify() empty
#   2. record_email_event with dirty-key capture vs the same calls with only the capture
#      triggers disabled (ALTER TABLE ... DISABLE TRIGGER olap_capture; every other trigger
#      runs in both): cost ratio (target ≤ 1.10), for 10k events in one statement and for
#      one event per transaction from 8 pgbench clients
#   3. sustained one-event transactions for 60 s with rollup() every 5 s: events/min, max lag
#   4. a tenant's 90-day campaign dashboard read (pm.engagement over day rows) as pm_app
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

emails=10000000 runs=5 tenants=100 whale=0
while (($#)); do
    case $1 in
        --whale) whale=1 ;;
        --emails) emails=$2; shift ;;
        --runs) runs=$2; shift ;;
        --tenants) tenants=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

PW='bench-link-pw'
PRE="shared_preload_libraries = 'pg_cron,penguinmails'
shared_buffers = 512MB
max_wal_size = 8GB"
pm_cluster_start oltp postgres "$PRE" >/dev/null
pm_cluster_start olap postgres "$PRE" >/dev/null
o() { pm_psql oltp -d pm_oltp -At "$@"; }
a() { pm_psql olap -d pm_olap -At "$@"; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }

pm_psql oltp -c "CREATE DATABASE pm_oltp" >/dev/null
o >/dev/null <<SQL
CREATE EXTENSION pm_oltp CASCADE;
SELECT pm.ensure_roles();
CREATE ROLE olap_link LOGIN PASSWORD '$PW' IN ROLE pm_app;
SELECT pm_oltp.grant_olap_link('olap_link');
SQL
echo "loading $emails emails over $tenants tenants (90 days, 10 campaigns x 2 steps, 5 mailboxes, 2000 leads per tenant)"
o >/dev/null <<SQL
SET session_replication_role = replica;  -- a bulk load: rebuild reads it, not the key log
INSERT INTO pm_oltp.tenants (id, name) SELECT gen_random_uuid(), 't' || i FROM generate_series(1, $tenants) i;
INSERT INTO pm_oltp.email_accounts (tenant_id, email)
SELECT t.id, t.name || '-box' || i || '@bench.test' FROM pm_oltp.tenants t, generate_series(1, 5) i;
INSERT INTO pm_oltp.campaigns (tenant_id, name) SELECT t.id, 'c' || i FROM pm_oltp.tenants t, generate_series(1, 10) i;
INSERT INTO pm_oltp.campaign_sequence_steps (tenant_id, campaign_id, step_order)
SELECT c.tenant_id, c.id, s FROM pm_oltp.campaigns c, generate_series(0, 1) s;
INSERT INTO pm_oltp.leads (tenant_id, email) SELECT t.id, 'l' || i || '@x.test' FROM pm_oltp.tenants t, generate_series(1, 2000) i;
CREATE TEMP TABLE tc AS SELECT (row_number() OVER (ORDER BY t.id) - 1)::int AS n, t.id AS tenant_id, array_agg(DISTINCT c.id) AS camps, array_agg(DISTINCT a.id) AS boxes,
       (SELECT array_agg(l.id) FROM pm_oltp.leads l WHERE l.tenant_id = t.id) AS leads
FROM pm_oltp.tenants t JOIN pm_oltp.campaigns c ON c.tenant_id = t.id JOIN pm_oltp.email_accounts a ON a.tenant_id = t.id GROUP BY t.id;
CREATE TEMP TABLE ts AS SELECT campaign_id, array_agg(id ORDER BY step_order) AS steps FROM pm_oltp.campaign_sequence_steps GROUP BY 1;
INSERT INTO pm_oltp.emails (tenant_id, campaign_id, step_id, lead_id, email_account_id, direction, status,
                            sent_at, delivered_at, opened_at, replied_at, bounced_at)
SELECT tc.tenant_id, c, ts.steps[1 + i % 2], tc.leads[1 + i % 2000], tc.boxes[1 + i % 5], 'outbound', 'delivered',
       s, s + interval '1 minute', CASE WHEN i % 3 = 0 THEN s + interval '2 hours' END,
       CASE WHEN i % 40 = 0 THEN s + interval '1 day' END, CASE WHEN i % 50 = 0 THEN s + interval '5 minutes' END
FROM generate_series(1, $emails) i
JOIN tc ON tc.n = CASE WHEN $whale = 1 AND i % 2 = 0 THEN 0 ELSE i % $tenants END
CROSS JOIN LATERAL (SELECT tc.camps[1 + (i / $tenants) % 10] AS c, now() - ((i % 90) * interval '1 day') - (i % 86400) * interval '1 second' AS s) x
JOIN ts ON ts.campaign_id = x.c;
VACUUM ANALYZE pm_oltp.emails;
SQL
pm_psql olap -c "CREATE DATABASE pm_olap" >/dev/null
a >/dev/null <<SQL
CREATE EXTENSION pm_core; SELECT pm.ensure_roles(); CREATE EXTENSION pm_olap CASCADE;
SELECT pm.link_tier('oltp', 'host=127.0.0.1 port=$(pm_cluster_port oltp) dbname=pm_oltp', 'olap_link', '$PW');
SQL
range="(now() AT TIME ZONE 'UTC')::date - 91, (now() AT TIME ZONE 'UTC')::date"
late=$((emails / 100))
rebuild_ms=() rollup_ms=() crossed=()
for r in $(seq 1 "$runs"); do
    rebuild_ms+=("$(ms a -c "SELECT pm_olap.rebuild($range)")")
    # 1 % of the emails (spread over every day and tenant) get a late click.
    o -c "SELECT count(pm_oltp.record_email_event(id, 'clicked', sent_at + interval '3 hours'))
          FROM (SELECT id, sent_at FROM pm_oltp.emails TABLESAMPLE BERNOULLI (1) REPEATABLE ($r)
                WHERE clicked_at IS NULL LIMIT $late) e" >/dev/null
    before=$(a -c "SELECT rows_from_link FROM pm_olap.rollup_state")
    rollup_ms+=("$(ms a -c "SELECT * FROM pm_olap.rollup(1000000)")")
    crossed+=("$(( $(a -c "SELECT rows_from_link FROM pm_olap.rollup_state") - before ))")
    a -c "SELECT * FROM pm_olap.rollup()" >/dev/null   # acknowledge
done
rb=$(printf '%s\n' "${rebuild_ms[@]}" | median)
ru=$(printf '%s\n' "${rollup_ms[@]}" | median)
cr=$(printf '%s\n' "${crossed[@]}" | median)
bad=$(a -c "SELECT count(*) FROM pm_olap.verify($range)")

# record_email_event with and without dirty-key capture, alternating.  The baseline disables
# only our triggers (every other trigger of the tables still runs), so the ratio is what
# capture adds.  Two shapes: 10k events in one statement (a webhook batch), and one event
# per transaction from 8 clients on this machine's cores (pgbench, tps).
capture() { o -c "DO \$\$ DECLARE t regclass; BEGIN
    FOR t IN SELECT tgrelid::regclass FROM pg_trigger WHERE tgname = 'olap_capture' LOOP
        EXECUTE format('ALTER TABLE %s $1 TRIGGER olap_capture', t);
    END LOOP; END \$\$" >/dev/null; }
o >/dev/null <<'SQL'
CREATE TABLE public.bench_ids AS
SELECT row_number() OVER (ORDER BY id) AS n, id, sent_at FROM pm_oltp.emails WHERE clicked_at IS NULL AND replied_at IS NULL;
CREATE UNIQUE INDEX ON public.bench_ids (n);
ANALYZE public.bench_ids;
SQL
ev_sql="SELECT count(pm_oltp.record_email_event(id, 'replied', sent_at + interval '4 hours'))
        FROM public.bench_ids WHERE n > :off AND n <= :off + 10000"
# Short and noisy: at least 7 pairs, each after a checkpoint, the order flipped every pair.
o -c "VACUUM ANALYZE pm_oltp.emails" >/dev/null
with=() without=() off=0 pairs=$((runs > 7 ? runs : 7))
for r in $(seq 1 "$pairs"); do
    order="DISABLE ENABLE"
    ((r % 2)) || order="ENABLE DISABLE"
    for mode in $order; do
        capture $mode
        o -c "CHECKPOINT" >/dev/null
        t=$(ms o -v off=$off <<<"$ev_sql")
        off=$((off + 10000))
        if [[ $mode == ENABLE ]]; then with+=("$t"); else without+=("$t"); fi
    done
done
w=$(printf '%s\n' "${with[@]}" | median)
wo=$(printf '%s\n' "${without[@]}" | median)

# Every pgbench event changes its message: each click is earlier than any before it
# (record_email_event keeps the earliest), so no transaction is a cheaper no-op.
o -c "CREATE SEQUENCE public.bench_tick" >/dev/null
total=$(o -c "SELECT count(*) FROM public.bench_ids")
pgb_script=$(mktemp)
cat >"$pgb_script" <<'PGB'
\set n random(1, :total)
SELECT pm_oltp.record_email_event(id, 'clicked', sent_at + interval '3 hours' - nextval('public.bench_tick') * interval '1 microsecond')
  FROM public.bench_ids WHERE n = :n;
PGB
# pgbench's clients against OLTP, one event per transaction, for the given seconds.
events_for() {
    PGHOST=$(pm_cluster_host oltp) PGPORT=$(pm_cluster_port oltp) PGUSER=postgres \
        pgbench -n -c 8 -j 2 -T "$1" -D total="$total" -f "$pgb_script" pm_oltp 2>/dev/null
}
tps_with=() tps_without=()
for r in $(seq 1 "$runs"); do
    for mode in DISABLE ENABLE; do
        capture $mode
        tps=$(events_for 8 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        if [[ $mode == ENABLE ]]; then tps_with+=("$tps"); else tps_without+=("$tps"); fi
    done
done
capture ENABLE

# Sustained load: the same clients for 60 s while rollup() runs 5 s after the previous pass
# ended (the cron job runs it every minute).  Lag = age of the oldest change not yet rolled
# up when a pass starts; a change is in OLAP at most that plus one pass later.
a -c "SELECT * FROM pm_olap.rollup(1000000)" >/dev/null
sustained_log=$(mktemp)
events_for 60 >"$sustained_log" &
pgb_pid=$!
lags=() passes=()
while kill -0 "$pgb_pid" 2>/dev/null; do
    sleep 5
    # Staleness when the pass starts: the oldest change OLTP holds above the watermark.
    wm=$(a -c "SELECT watermark FROM pm_olap.rollup_state WHERE source = 'oltp'")
    lags+=("$(o -c "SELECT coalesce(round(extract(epoch FROM now() - min(changed_at))::numeric, 1), 0)
                    FROM pm_oltp.olap_dirty_keys WHERE xid >= '$wm'::xid8")")
    passes+=("$(ms a -c "SELECT * FROM pm_olap.rollup(1000000)")")
done
wait "$pgb_pid" || true
sustained_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$sustained_log")
rm -f "$sustained_log" "$pgb_script"
catchup=$(ms a -c "SELECT * FROM pm_olap.rollup(1000000)")
max_lag=$(printf '%s\n' "${lags[@]}" | sort -n | tail -1)
pass_ms=$(printf '%s\n' "${passes[@]}" | median)
pass_max=$(printf '%s\n' "${passes[@]}" | sort -n | tail -1)
tw=$(printf '%s\n' "${tps_with[@]}" | median)
two=$(printf '%s\n' "${tps_without[@]}" | median)
a -c "SELECT * FROM pm_olap.rollup(1000000)" >/dev/null

# The dashboard of the biggest tenant (the whale, with --whale).
t1=$(a -c "SELECT tenant_id FROM pm_olap.campaign_analytics GROUP BY 1 ORDER BY sum(sent) DESC LIMIT 1")
c1=$(a -c "SELECT campaign_id FROM pm_olap.campaign_analytics WHERE tenant_id = '$t1' AND campaign_id IS NOT NULL LIMIT 1")
dash="BEGIN; SET LOCAL ROLE pm_app; SELECT pm.set_context('$t1');
SELECT (pm.engagement(sent, delivered, opened_tracked, clicked_tracked, replied, bounced, unsubscribed, spam_complaints)).*
FROM pm_olap.campaign_analytics WHERE campaign_id = '$c1' AND day > current_date - 90; COMMIT;"
dms=$(for r in $(seq 1 20); do pm_psql olap -d pm_olap -At <<<"\\timing on
$dash" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | tail -1; done | median)

printf '\n== pm_olap benchmark: %s emails, %s tenants%s, medians of %s runs ==\n' "$emails" "$tenants" \
    "$( ((whale)) && echo ', one owning half of them')" "$runs"
printf 'rebuild of 92 days            %8s ms\n' "$rb"
printf 'rollup after 1%% late events   %8s ms   ratio rollup/rebuild %.3f (target <= 0.05)\n' "$ru" "$(echo "$ru / $rb" | bc -l)"
printf 'rows across the link (rollup) %8s      for %s changed emails\n' "$cr" "$late"
printf 'verify() rows after the runs  %8s\n' "$bad"
printf 'record_email_event x10000/stmt %8s ms with capture, %s ms without: ratio %.3f (target <= 1.10)\n' "$w" "$wo" "$(echo "$w / $wo" | bc -l)"
printf 'record_email_event 1/txn, 8 cl %8.0f tps with capture, %.0f tps without: cost ratio %.3f (target <= 1.10)\n' "$tw" "$two" "$(echo "$two / $tw" | bc -l)"
printf 'sustained events, 8 clients    %8.0f events/min for 60 s; rollup 5 s after the last: oldest unrolled change at a pass start max %s s, pass %s ms median / %s ms max, final catch-up %s ms (target: 1M/min, lag < 60 s)\n' \
    "$(echo "$sustained_tps * 60" | bc -l)" "$max_lag" "$pass_ms" "$pass_max" "$catchup"
printf 'campaign 90-day dashboard     %8s ms (slowest statement, median of 20)\n' "$dms"
