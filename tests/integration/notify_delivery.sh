#!/usr/bin/env bash
# Notifications produced in OLTP reach the notifications tier (pm_notify) through pm_queue
# and the pm_fdw link, exactly once, on two clusters:
#   1. completed campaigns enqueue in their transaction (rolled back: nothing); one delivery
#      run moves them in batches; users read them through RLS, per user
#   2. concurrent producers with the same dedup keys / the same incident: one row each; a
#      user with 10k items counts unread through index-only scans
#   3. the notifications cluster stopped (immediate) while producers keep committing and the
#      delivery loop keeps running, then restarted: every notification delivered exactly once,
#      no job lost or failed; the outage itself became one tier_down system event, resolved
#   4. a job already delivered (remote committed, local not) makes nothing twice
#   5. one refused item goes to the dead letter, the rest of its batch is delivered
#   6. the link's login only delivers; pm_app cannot run the delivery
#   7. upgrade path: pm_core 0.3 -> 0.5, pm_oltp 0.3 -> 0.5 (through 0.4's producers)
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"

PW='notify-producer-Pw-13'
PRE="shared_preload_libraries = 'penguinmails'"
pm_cluster_start oltp postgres "$PRE" >/dev/null
pm_cluster_start notify postgres "$PRE" >/dev/null
NP=$(pm_cluster_port notify)

o() { pm_psql oltp -d pm_oltp -At "$@"; }
n() { pm_psql notify -d pm_notify -At "$@"; }
T=00000001-0000-4000-8000-00000000000a
U1=00000001-0000-4000-8000-0000000000a1
U2=00000001-0000-4000-8000-0000000000a2

pm_psql notify -c "CREATE DATABASE pm_notify" >/dev/null
n >/dev/null <<SQL
CREATE EXTENSION pm_core;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_notify;
CREATE ROLE oltp_notify LOGIN PASSWORD '$PW';
SELECT pm_notify.grant_producer('oltp_notify');
SQL
pm_psql oltp -c "CREATE DATABASE pm_oltp" >/dev/null
o >/dev/null <<SQL
CREATE EXTENSION pm_oltp CASCADE;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_queue;
CREATE EXTENSION pm_fdw;
SELECT pm.link_tier('notify', 'host=127.0.0.1 port=$NP dbname=pm_notify', 'oltp_notify', '$PW');
INSERT INTO pm_oltp.tenants (id, name) VALUES ('$T', 'Acme');
INSERT INTO pm_oltp.campaigns (tenant_id, name, status)
SELECT '$T', 'Campaign ' || g, 'sending' FROM generate_series(1, 425) g;
SQL
jobs() { o -c "SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'notifications' ${1:-}"; }
deliver() { o -c "SELECT delivered || '/' || failed || '/' || pending FROM pm_oltp.deliver_notifications(${1:-})"; }
complete() { o -c "UPDATE pm_oltp.campaigns SET status = 'completed' WHERE name IN ($1)" >/dev/null; }
notes() { n -c "SELECT count(*) FROM pm_notify.notifications ${1:-}"; }

# --- 1. produce in the writing transaction, deliver in batches ------------------------------
complete "$(printf "'Campaign %d'," $(seq 1 20) | sed 's/,$//')"
o -c "BEGIN" -c "UPDATE pm_oltp.campaigns SET status = 'completed' WHERE name = 'Campaign 21'" -c "ROLLBACK" >/dev/null
check "20 completed campaigns enqueued 20 jobs; the rolled-back one none" "$(jobs)" 20
check "one run delivers all 20 in batches of 8" "$(deliver '1000, 8')" "20/0/0"
check "pm_notify holds 20, each with its job's dedup key" \
    "$(notes "WHERE dedup_key LIKE 'pm_oltp:%'") $(n -c "SELECT count(DISTINCT dedup_key) FROM pm_notify.notifications")" "20 20"
check "every job completed with the id it made" \
    "$(o -c "SELECT string_agg(DISTINCT status, ',') || ' ' || count(*) FILTER (WHERE result ? 'id')
             FROM pm_queue.jobs WHERE queue_name = 'notifications'")" "completed 20"
as_user() { n -c "BEGIN" -c "SELECT pm.set_context('$T', '$1')" -c "SET LOCAL ROLE pm_app" -c "$2" -c "COMMIT" | sed -n 2p; }
check "user 1 sees the 20 tenant-wide notifications unread" "$(as_user $U1 "SELECT pm_notify.unread_count()")" 20
as_user $U1 "SELECT pm_notify.mark_all_read()" >/dev/null
check "after user 1 marks all read, user 2 still has 20 unread" \
    "$(as_user $U1 "SELECT pm_notify.unread_count()") $(as_user $U2 "SELECT pm_notify.unread_count()")" "0 20"
check "nothing left: a second run delivers nothing" "$(deliver)" "0/0/0"

# --- 2. concurrent producers (each call its own transaction, as retried producers) ---------
for w in 1 2 3 4 5 6; do
    pm_psql notify -d pm_notify -At >"$PM_CLUSTER_BASE/producer.$w" 2>&1 <<SQL &
SELECT format(\$f\$SELECT %s, pm_notify.notify('$T', '$U1', 'import.done', 'Import %s', 'done', dedup_key => 'import-%s')\$f\$, k, k, k)
FROM generate_series(1, 50) k ORDER BY (k * $w) % 50 \\gexec
SELECT 'event ' || pm_notify.system_event('smtp_slow', 'medium', 'SMTP relay slow', dedup_key => 'smtp_slow')
FROM generate_series(1, 20);
SQL
done
wait
check "6 concurrent producers of the same 50 keys made 50 notifications" \
    "$(notes "WHERE type = 'import.done'")" 50
check "each key returned one id to every producer" \
    "$(sort -u "$PM_CLUSTER_BASE"/producer.* | grep -c '^[0-9]*|')" 50
check "120 reports of one incident from 6 sessions: one open event, 120 occurrences" \
    "$(n -c "SELECT count(*) || ' ' || sum(occurrences) FROM pm_notify.admin_system_events WHERE dedup_key = 'smtp_slow'")" "1 120"

# unread_count() for a user with 10k items: the plan after VACUUM, as the application runs it.
n >/dev/null <<SQL
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, is_read, created_at)
SELECT '$T', '$U2', 'bulk', 'Item ' || g, 'x', g > 1000, now() - g * interval '1 minute'
FROM generate_series(1, 10000) g;
VACUUM ANALYZE pm_notify.notifications;
SQL
plan=$(n -c "BEGIN" -c "SELECT pm.set_context('$T', '$U2')" -c "SET LOCAL ROLE pm_app" \
         -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count(*) FROM pm_notify.my_unread" -c "COMMIT")
check "10k items: unread_count() counts 1000 own + 20 tenant-wide" \
    "$(n -c "BEGIN" -c "SELECT pm.set_context('$T', '$U2')" -c "SET LOCAL ROLE pm_app" -c "SELECT pm_notify.unread_count()" -c "COMMIT" | sed -n 2p)" 1020
check_match "10k items: this month's partition is read index-only, no heap fetch, no scan that returns rows" \
    "$(grep -c "Index Only Scan using .* on notifications_p$(date -u +%Y%m) " <<<"$plan") $(grep -E '(Seq Scan|Bitmap Heap Scan) on notifications.*actual rows=[1-9]' <<<"$plan" | wc -l) $(grep -E 'Heap Fetches: [1-9]' <<<"$plan" | wc -l)" \
    '^[1-9][0-9]* 0 0$'

# --- 3. the notifications cluster down mid-stream -------------------------------------------
# 400 completions, one per transaction, while a delivery loop runs every 0.2 s; the
# notifications cluster is killed after 2 s and comes back 4 s later.
producer_log=$PM_CLUSTER_BASE/stream.producer
o >"$producer_log" 2>&1 <<'SQL' &
DO $$
BEGIN
    FOR i IN 22 .. 421 LOOP
        UPDATE pm_oltp.campaigns SET status = 'completed' WHERE name = 'Campaign ' || i;
        COMMIT;
        PERFORM pg_sleep(0.02);
    END LOOP;
END $$;
SQL
producer=$!
stop_flag=$PM_CLUSTER_BASE/stream.stop
deliverer_log=$PM_CLUSTER_BASE/stream.deliverer
( while [[ ! -f $stop_flag ]]; do deliver >>"$deliverer_log" 2>&1 || echo "error" >>"$deliverer_log"; sleep 0.2; done ) &
deliverer=$!
sleep 2
pm_pg_bin pg_ctl -D "$(pm_cluster_dir notify)/data" -m immediate -w stop >/dev/null 2>&1
sleep 1
during=$(jobs "AND status <> 'completed'")
sleep 3
pm_pg_start "$(pm_cluster_dir notify)" "$NP" fixed >/dev/null
set +e; wait "$producer"; producer_rc=$?; set -e
check "OLTP kept committing throughout the outage (producer finished cleanly)" "$producer_rc" 0
check_match "jobs waited in OLTP while the tier was down" "$during" '^[1-9][0-9]*$'
# Backoff (1 s base, jittered) and the link's retry interval (5 s) have to pass.
for _ in $(seq 1 90); do
    [[ $(jobs "AND status <> 'completed'") == 0 ]] && break
    sleep 1
done
touch "$stop_flag"
wait "$deliverer" || true
check "back up: no job pending, none failed" \
    "$(jobs "AND status <> 'completed'") $(jobs "AND status = 'failed'")" "0 0"
check "every completed campaign is one notification, none twice" \
    "$(o -c "SELECT count(*) FROM pm_oltp.campaigns WHERE status = 'completed'") $(notes "WHERE type = 'campaign.completed'") $(n -c "SELECT count(DISTINCT title) FROM pm_notify.notifications WHERE type = 'campaign.completed'")" \
    "420 420 420"
check_match "the delivery loop saw the outage as failed runs" "$(grep -c '^0/[1-9]' "$deliverer_log" || true)" '^[1-9][0-9]*$'
# The outage as staff see it: the first run after recovery delivered the tier_down event,
# a later one (the link up again) its resolution.
deliver >/dev/null; deliver >/dev/null
check "the outage is one tier_down event for the notify link, resolved" \
    "$(n -c "SELECT count(*) || ' ' || bool_and(is_resolved) || ' ' || max(severity) FROM pm_notify.admin_system_events WHERE event_type = 'tier_down' AND dedup_key = 'tier_down:pm_tier_notify'")" \
    "1 true high"
check "OLTP forgets the incident once it is resolved" "$(o -c "SELECT count(*) FROM pm_oltp.tier_incidents")" 0

# --- 4. redelivery ------------------------------------------------------------------------
complete "'Campaign 422'"
job=$(o -c "SELECT id FROM pm_queue.jobs WHERE queue_name = 'notifications' AND status = 'queued'")
item=$(o -c "SELECT jsonb_build_array(pm_oltp.notification_item(id, payload)) FROM pm_queue.jobs WHERE id = '$job'")
first=$(o -c "SELECT id FROM pm.tier_call('notify', 'deliver', ARRAY[\$i\$$item\$i\$]) AS r(ref text, id text)")
before=$(notes)
check "the job of an already delivered notification completes" "$(deliver)" "1/0/0"
check "... and makes nothing twice: same count, the first id" \
    "$(notes) $(o -c "SELECT result->>'id' FROM pm_queue.jobs WHERE id = '$job'")" "$before $first"

# --- 5. a refused item --------------------------------------------------------------------
o >/dev/null <<SQL
SELECT pm_oltp.enqueue_notification(jsonb_build_object('kind', 'notification', 'tenant_id', '$T',
           'type', 'x', 'title', 'Item ' || g, 'message', 'm', 'channel', CASE WHEN g = 3 THEN 'sms' ELSE 'in_app' END), '$T')
FROM generate_series(1, 5) g;
SQL
check "a batch with one refused item: 4 delivered, 1 failed" "$(deliver)" "4/1/0"
check_match "the refused item is in the dead letter at once, with the tier's reason" \
    "$(o -c "SELECT status || ' ' || attempt_count || ' ' || last_error_message FROM pm_queue.jobs WHERE payload->>'channel' = 'sms'")" \
    '^failed 1 22023: pm_notify.notify: unknown channel "sms"'

# --- 6. privileges ------------------------------------------------------------------------
check_match "the link's login cannot read notifications" \
    "$(pm_psql notify -d pm_notify -At -U oltp_notify -c "SELECT pm.set_context('$T')" -c "SELECT count(*) FROM pm_notify.notifications" 2>&1 || true)" \
    'permission denied'
check_match "pm_app cannot run the delivery" \
    "$(o -c "SET ROLE pm_app" -c "SELECT * FROM pm_oltp.deliver_notifications()" 2>&1 || true)" 'permission denied'
check_match "batch 0 is refused" "$(deliver '10, 0' 2>&1 || true)" 'batch 1-1000, got 10 and 0'

# --- 7. upgrade path ----------------------------------------------------------------------
pm_psql oltp -c "CREATE DATABASE pm_upgrade" >/dev/null
u() { pm_psql oltp -d pm_upgrade -At "$@"; }
u >/dev/null <<SQL
CREATE EXTENSION pm_core VERSION '0.3';
CREATE EXTENSION pm_oltp VERSION '0.3';
CREATE EXTENSION pm_queue VERSION '0.2';
INSERT INTO pm_oltp.tenants (id, name) VALUES ('$T', 'Acme');
INSERT INTO pm_oltp.campaigns (tenant_id, name, status) VALUES ('$T', 'Old', 'sending');
ALTER EXTENSION pm_core UPDATE;
ALTER EXTENSION pm_oltp UPDATE;
UPDATE pm_oltp.campaigns SET status = 'completed';
SQL
check "ALTER EXTENSION UPDATE reaches today's pm_core and pm_oltp; a completion is queued; rls_audit empty" \
    "$(u -c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname IN ('pm_core', 'pm_oltp')")
     $(u -c "SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'notifications'") $(u -c "SELECT count(*) FROM pm.rls_audit()")" \
    "$(pm_default_versions oltp pm_core pm_oltp)
     1 0"

checks_done
