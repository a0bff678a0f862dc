#!/usr/bin/env bash
# pm_olap across two clusters: OLTP (pm_oltp, dirty-key capture) and OLAP (pm_olap, linked to
# OLTP through pm_fdw).  A seeded random workload of sends and late events (olap/workload.sql)
# runs in rounds interleaved with rollups:
#   1. after every round, OLAP equals the test's own recompute from OLTP (olap/recompute.sql,
#      written apart from pm_oltp.olap_fact_rows) and pm_olap.verify() is empty
#   2. a rollup killed mid-way (pg_terminate_backend while it holds the remote snapshot)
#      changes nothing and the next one converges; two concurrent rollups converge
#   3. OLAP stopped while OLTP keeps changing, restarted: one rollup catches up exactly
#   4. rows crossing the link are proportional to the keys changed (a late event on one
#      message moves one row per fact table, not the tenant's emails)
#   5. the link's login is RLS-bound: it sees no OLTP row through the imported tables, and
#      pm_app in OLAP sees only its tenant's analytics; verify/rebuild errors are clear
#   6. rebuild repairs a tampered OLAP row; billing rows match OLTP's counts
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"

here="$PM_ROOT/tests/integration/olap"
PW='olap-link-Pw-91'
SEED=${PM_OLAP_SEED:-$((RANDOM % 1000))}
echo "# seed $SEED (PM_OLAP_SEED=$SEED reproduces this run)"
PRE="shared_preload_libraries = 'pg_cron,penguinmails'"
pm_cluster_start oltp postgres "$PRE" >/dev/null
pm_cluster_start olap pm_olap "$PRE" >/dev/null
OP=$(pm_cluster_port oltp)

o() { pm_psql oltp -d pm_oltp -At "$@"; }
a() { pm_psql olap -d pm_olap -At "$@"; }

pm_psql oltp -c "CREATE DATABASE pm_oltp" >/dev/null
o >/dev/null <<SQL
CREATE EXTENSION pm_oltp CASCADE;
SELECT pm.ensure_roles();
CREATE ROLE olap_link LOGIN PASSWORD '$PW' IN ROLE pm_app;
SELECT pm_oltp.grant_olap_link('olap_link');
SQL
o -v seed="$SEED" -f "$here/seed.sql" >/dev/null
pm_psql olap -c "CREATE DATABASE pm_olap" >/dev/null 2>&1 || true
a >/dev/null <<SQL
CREATE EXTENSION pm_core;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_olap CASCADE;
SELECT pm.link_tier('oltp', 'host=127.0.0.1 port=$OP dbname=pm_oltp', 'olap_link', '$PW');
SQL

rollup() { a -c "SELECT sum(keys) FROM pm_olap.rollup()"; }
drain() { # rollups until nothing is pending (small batches exercise the watermark)
    local i
    for i in $(seq 1 50); do
        a -c "SELECT * FROM pm_olap.rollup(${1:-50})" >/dev/null
        [[ $(o -c "SELECT count(*) FROM pm_oltp.olap_dirty_keys k
                   WHERE k.xid::text::bigint >= (SELECT 0)") == 0 ]] && return 0
        [[ $(a -c "SELECT pending_keys FROM pm_olap.rollup_state") == 0 ]] && return 0
    done
}
same() { # OLAP's rows vs the test's own recompute; prints the first differences
    local want got
    want=$(o -f "$here/recompute.sql")
    got=$(a -f "$here/olap_rows.sql")
    if [[ "$want" == "$got" ]]; then echo same; else
        diff <(echo "$want") <(echo "$got") | head -5 | tr '\n' ' '; fi
}
range="(now() AT TIME ZONE 'UTC')::date - 12, (now() AT TIME ZONE 'UTC')::date + 1"
verify_count() { a -c "SELECT count(*) FROM pm_olap.verify($range)"; }

# --- 1. rounds of workload and rollups -------------------------------------------------------
for round in 1 2 3; do
    o -v seed="$SEED" -v round="$round" -f "$here/workload.sql" >/dev/null
    drain 40
    check "round $round: OLAP equals the independent recompute" "$(same)" same
    check "round $round: verify() is empty" "$(verify_count)" 0
done
check_match "the workload made rows in every fact table" \
    "$(a -c "SELECT (SELECT count(*) FROM pm_olap.campaign_analytics) > 5 AND (SELECT count(*) FROM pm_olap.lead_analytics) > 20
                AND (SELECT count(*) FROM pm_olap.warmup_analytics WHERE sent > 0) > 0 AND (SELECT count(*) FROM pm_olap.sequence_step_analytics) > 5")" '^t$'
check "a rollup with nothing pending changes nothing" \
    "$(a -c "SELECT sum(rows_upserted) FROM pm_olap.rollup()")" 0

# --- 2. killed mid-way, concurrent -----------------------------------------------------------
o -v seed="$SEED" -v round=4 -f "$here/workload.sql" >/dev/null
# Hold the OLTP side of the rollup: an exclusive lock on the emails table blocks the
# remote recompute, so the rollup is inside its transaction when it is killed.
o -c "BEGIN; LOCK pm_oltp.emails IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;" >/dev/null &
locker=$!
sleep 0.5
a -c "SELECT * FROM pm_olap.rollup()" >/dev/null 2>&1 &
victim=$!
sleep 1.5
killed=$(a -c "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE query LIKE '%pm_olap.rollup()%' AND pid <> pg_backend_pid()) k")
wait "$victim" || true
wait "$locker" || true
check "a running rollup was killed" "$killed" 1
check "the killed rollup moved no watermark" \
    "$(a -c "SELECT last_keys FROM pm_olap.rollup_state") $(o -c "SELECT count(*) > 0 FROM pm_oltp.olap_dirty_keys")" "0 t"
a -c "SELECT * FROM pm_olap.rollup(30)" >/dev/null &
a -c "SELECT * FROM pm_olap.rollup(30)" >/dev/null &
wait
drain 1000
check "after a killed and two concurrent rollups: OLAP equals the recompute" "$(same)" same
check "and verify() is empty" "$(verify_count)" 0

# --- 3. OLAP down while OLTP keeps changing ---------------------------------------------------
pm_cluster_stop olap
for round in 5 6; do o -v seed="$SEED" -v round="$round" -f "$here/workload.sql" >/dev/null; done
check "OLTP keeps recording events with OLAP down" \
    "$(o -c "SELECT count(*) > 0 FROM pm_oltp.olap_dirty_keys")" t
pm_cluster_restart olap >/dev/null 2>&1 || pm_cluster_start olap pm_olap "$PRE" >/dev/null
a -c "SELECT * FROM pm_olap.rollup(1000000)" >/dev/null
check "one rollup after the outage catches up exactly" "$(same)" same
check "verify() is empty after the outage" "$(verify_count)" 0
check "the next rollup acknowledges: OLTP forgets the consumed keys" \
    "$(a -c "SELECT * FROM pm_olap.rollup()" >/dev/null; o -c "SELECT count(*) FROM pm_oltp.olap_dirty_keys")" 0

# --- 4. rows across the link ∝ keys changed ----------------------------------------------------
before=$(a -c "SELECT rows_from_link FROM pm_olap.rollup_state")
o -c "SELECT pm_oltp.record_email_event(id, 'opened', sent_at + interval '1 hour')
      FROM pm_oltp.emails WHERE direction = 'outbound' AND opened_at IS NULL AND campaign_id IS NOT NULL
      ORDER BY sent_at LIMIT 1" >/dev/null
a -c "SELECT * FROM pm_olap.rollup()" >/dev/null
after=$(a -c "SELECT rows_from_link FROM pm_olap.rollup_state")
check "one late open moves one row per fact table across the link (campaign, step, mailbox, lead)" \
    "$((after - before))" 4
check "and OLAP still equals the recompute" "$(same)" same

# --- 5. isolation and errors ---------------------------------------------------------------------
TA=00000001-0000-4000-8000-000000000001
check "the link login sees no OLTP row through the imported tables" \
    "$(a -c "SELECT count(*) FROM pm_oltp_link.emails")" 0
check "pm_app with tenant 1 reads only tenant 1's campaign rows" \
    "$(a -c "BEGIN; SET LOCAL ROLE pm_app; SELECT pm.set_context('$TA');
            SELECT count(*) = count(*) FILTER (WHERE tenant_id = '$TA') AND count(*) > 0 FROM pm_olap.campaign_analytics; COMMIT;" | tail -1)" t
check_match "pm_app without a tenant context is refused, not shown every tenant" \
    "$(a -c "BEGIN; SET LOCAL ROLE pm_app; SELECT count(*) FROM pm_olap.mailbox_analytics; COMMIT;" 2>&1)" 'no tenant context' 
check_match "pm_app may not run the rollup" \
    "$(a -c "SET ROLE pm_app; SELECT * FROM pm_olap.rollup()" 2>&1)" 'permission denied for function rollup'
check_match "pm_app may not read the audit log" \
    "$(a -c "BEGIN; SET LOCAL ROLE pm_app; SELECT pm.set_context('$TA'); SELECT count(*) FROM pm_olap.admin_audit_log" 2>&1)" 'permission denied for table admin_audit_log'
check_match "verify with a reversed range names it" \
    "$(a -c "SELECT * FROM pm_olap.verify('2026-12-05', '2026-12-01')" 2>&1)" 'day range 2026-12-05 .. 2026-12-01 is empty'
check_match "rollup(0) is refused" "$(a -c "SELECT * FROM pm_olap.rollup(0)" 2>&1)" 'max_keys must be a positive number of keys, got 0'
check "pm.rls_audit() is empty in OLAP and OLTP" \
    "$(a -c "SELECT count(*) FROM pm.rls_audit()") $(o -c "SELECT count(*) FROM pm.rls_audit()")" "0 0"

# --- 6. repair and billing ---------------------------------------------------------------------
a -c "UPDATE pm_olap.campaign_analytics SET sent = sent + 7 WHERE id = (SELECT min(id) FROM pm_olap.campaign_analytics WHERE sent > 0)"
check "verify() finds a tampered row" "$(verify_count)" 1
a -c "SELECT pm_olap.rebuild($range)" >/dev/null
check "rebuild repairs it" "$(verify_count) $(same)" "0 same"
check "billing rows: emails_sent this period equals OLTP's count per tenant" \
    "$(a -c "SELECT string_agg(tenant_id || '=' || emails_sent, ',' ORDER BY tenant_id) FROM pm_olap.billing_analytics WHERE period_start <= now() AND period_end > now()")" \
    "$(o -c "SELECT string_agg(id || '=' || (SELECT count(*) FROM pm_oltp.emails m WHERE m.tenant_id = t.id AND m.direction = 'outbound'
                 AND m.sent_at >= date_trunc('month', now()) AND m.sent_at < date_trunc('month', now()) + interval '1 month'), ',' ORDER BY id)
             FROM pm_oltp.tenants t")"
check_match "billing_usage of a stored period is exact" \
    "$(a -c "SELECT emails_sent > 0, exact FROM pm_olap.billing_usage('$TA', date_trunc('month', now()), date_trunc('month', now()) + interval '1 month')")" '^t\|t$'

# --- 7. concurrent audits form one chain ----------------------------------------------------------
# 50 transactions per session (autocommit), so the sessions interleave on the chain head.
for w in 1 2 3 4; do
    for i in $(seq 1 50); do
        echo "SELECT pm_olap.audit(NULL, 'role.change', 'tenant_user', 'w$w-$i', '$TA');"
    done | a >/dev/null &
done
wait
check "200 audits from 4 concurrent sessions: seq 1..200 without gaps, one chain, verify empty" \
    "$(a -c "SELECT count(*) || ' ' || min(seq) || ' ' || max(seq) || ' ' || count(DISTINCT prev_hash) FROM pm_olap.admin_audit_log")|$(a -c "SELECT count(*) FROM pm_olap.audit_verify()")" \
    "200 1 200 200|0"

# --- 8. upgrade path: pm_oltp 0.1 -> 0.2 -> 0.3 and pm_fdw 0.1 -> 0.2 on a database with data ---------
pm_psql oltp -c "CREATE DATABASE pm_upgrade" >/dev/null
u() { pm_psql oltp -d pm_upgrade -At "$@"; }
u >/dev/null <<'SQL'
CREATE EXTENSION pm_core;
CREATE EXTENSION pm_oltp VERSION '0.1';
CREATE EXTENSION pm_fdw VERSION '0.1';
INSERT INTO pm_oltp.tenants (id, name) VALUES ('00000009-0000-4000-8000-000000000009', 'u');
INSERT INTO pm_oltp.emails (tenant_id, direction, status, sent_at)
VALUES ('00000009-0000-4000-8000-000000000009', 'outbound', 'sent', now());
ALTER EXTENSION pm_oltp UPDATE;
ALTER EXTENSION pm_fdw UPDATE;
SQL
check "ALTER EXTENSION UPDATE reaches pm_oltp 0.5 (0.3: C++ capture) and pm_fdw 0.3" \
    "$(u -c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname IN ('pm_oltp', 'pm_fdw')")" \
    "pm_fdw 0.3, pm_oltp 0.5"
check "an upgraded OLTP captures a late event on an email from before the upgrade" \
    "$(u -c "SELECT pm_oltp.record_email_event(id, 'opened') FROM pm_oltp.emails" >/dev/null
       u -c "SELECT string_agg(kind::text, '' ORDER BY kind) FROM pm_oltp.olap_dirty_keys")" "e"

checks_done
