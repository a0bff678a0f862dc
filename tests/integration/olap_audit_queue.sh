#!/usr/bin/env bash
# High-risk changes made in OLTP reach the OLAP audit log through pm_queue (pm_oltp 0.3):
#   1. plan, role and tenant-config changes enqueue one olap-audit job each in the writing
#      transaction (rolled back with it; unwatched columns enqueue nothing)
#   2. pm_oltp.deliver_audit() appends them through the OLTP -> OLAP link with the changed
#      columns only, the acting user, client address and retention category; the chain verifies
#   3. OLAP stopped: the change still commits in OLTP, delivery fails into the queue's backoff;
#      OLAP back: the record arrives once
#   4. a job whose record OLAP already holds (remote committed, local not) does not append twice
#   5. a record OLAP refuses goes to the dead letter at once and does not block the others
#   6. the link's login can only append; pm_app cannot deliver; without pm_queue nothing breaks
#   7. upgrade path: pm_queue 0.1 -> 0.2, pm_oltp 0.2 -> 0.3
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"

PW='audit-writer-Pw-27'
PRE="shared_preload_libraries = 'penguinmails'"
pm_cluster_start oltp postgres "$PRE" >/dev/null
pm_cluster_start olap postgres "$PRE" >/dev/null
AP=$(pm_cluster_port olap)

o() { pm_psql oltp -d pm_oltp -At "$@"; }
a() { pm_psql olap -d pm_olap -At "$@"; }
T=00000001-0000-4000-8000-00000000000a
ADMIN=00000001-0000-4000-8000-0000000000a1
MEMBER=00000001-0000-4000-8000-0000000000a2
P1=00000001-0000-4000-8000-0000000000b1
P2=00000001-0000-4000-8000-0000000000b2

pm_psql olap -c "CREATE DATABASE pm_olap" >/dev/null
a >/dev/null <<SQL
CREATE EXTENSION pm_core;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_olap CASCADE;
CREATE ROLE oltp_audit LOGIN PASSWORD '$PW';
SELECT pm_olap.grant_audit_writer('oltp_audit');
SQL
pm_psql oltp -c "CREATE DATABASE pm_oltp" >/dev/null
o >/dev/null <<SQL
CREATE EXTENSION pm_oltp CASCADE;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_queue;
CREATE EXTENSION pm_fdw;
SELECT pm.link_tier('olap', 'host=127.0.0.1 port=$AP dbname=pm_olap', 'oltp_audit', '$PW');
INSERT INTO pm_oltp.tenants (id, name) VALUES ('$T', 'Acme');
INSERT INTO pm_oltp.users (id, email) VALUES ('$ADMIN', 'admin@acme.test'), ('$MEMBER', 'm@acme.test');
INSERT INTO pm_oltp.plans (id, name, slug) VALUES ('$P1', 'Starter', 'starter'), ('$P2', 'Growth', 'growth');
SQL
jobs() { o -c "SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'olap-audit' ${1:-}"; }
deliver() { o -c "SELECT delivered || '/' || failed || '/' || pending FROM pm_oltp.deliver_audit()"; }
logged() { a -c "SELECT count(*) FROM pm_olap.admin_audit_log ${1:-}"; }
as_admin() { # one OLTP transaction by the tenant's admin, from a known client address
    o -c "BEGIN" -c "SELECT pm.set_context('$T', '$ADMIN')" -c "SET LOCAL app.client_ip = '203.0.113.7'" \
      -c "SET LOCAL app.user_agent = 'console/1.0'" "$@" -c "COMMIT" >/dev/null
}

# --- 1. capture in the writing transaction --------------------------------------------------
as_admin -c "INSERT INTO pm_oltp.tenant_users (tenant_id, user_id, roles) VALUES ('$T', '$ADMIN', '{owner}'), ('$T', '$MEMBER', '{member}')" \
         -c "INSERT INTO pm_oltp.subscriptions (tenant_id, plan_id) VALUES ('$T', '$P1')" \
         -c "INSERT INTO pm_oltp.tenant_config (tenant_id) VALUES ('$T')"
check "the seed's four high-risk rows enqueued four olap-audit jobs" "$(jobs)" 4
as_admin -c "UPDATE pm_oltp.subscriptions SET plan_id = '$P2' WHERE tenant_id = '$T'" \
         -c "UPDATE pm_oltp.tenant_users SET roles = '{admin}' WHERE user_id = '$MEMBER'" \
         -c "UPDATE pm_oltp.tenant_config SET billing_email = 'billing@acme.test' WHERE tenant_id = '$T'"
check "a plan change, a role change and a config change: one job each" "$(jobs)" 7
o -c "BEGIN" -c "UPDATE pm_oltp.subscriptions SET plan_id = '$P1'" -c "ROLLBACK" >/dev/null
o -c "UPDATE pm_oltp.tenant_users SET email = 'member@acme.test' WHERE user_id = '$MEMBER'" >/dev/null
o -c "UPDATE pm_oltp.subscriptions SET plan_id = plan_id" >/dev/null
check "a rolled-back plan change, a contact-email edit and a no-op update enqueue nothing" "$(jobs)" 7

# --- 2. delivery ----------------------------------------------------------------------------
check "deliver_audit: 7 delivered, 0 failed, 0 pending" "$(deliver)" "7/0/0"
check "OLAP holds the seven records, its chain intact" \
    "$(logged) $(a -c "SELECT count(*) FROM pm_olap.audit_verify()")" "7 0"
check "the plan change: acting user, changed column only, client, financial retention" \
    "$(a -c "SELECT concat_ws(' | ', action, admin_user_id, resource_type, tenant_id, old_values, new_values,
                               ip_address, user_agent, notes, retention_category, metadata->>'table')
             FROM pm_olap.admin_audit_log WHERE action = 'subscription.updated'")" \
    "subscription.updated | $ADMIN | subscription | $T | {\"plan_id\": \"$P1\"} | {\"plan_id\": \"$P2\"} | 203.0.113.7 | console/1.0 | changed: plan_id | financial | subscriptions"
check "the role change names the member and keeps the old roles" \
    "$(a -c "SELECT resource_id || ' ' || old_values || ' ' || new_values || ' ' || retention_category
             FROM pm_olap.admin_audit_log WHERE action = 'tenant_user.updated'")" \
    "$MEMBER {\"roles\": [\"member\"]} {\"roles\": [\"admin\"]} security"
check "every job completed with the id of its audit row" \
    "$(o -c "SELECT string_agg(DISTINCT status, ',') || ' ' || count(*) FILTER (WHERE result ? 'audit_id')
             FROM pm_queue.jobs WHERE queue_name = 'olap-audit'")" "completed 7"
check "nothing left: a second run delivers nothing" "$(deliver)" "0/0/0"

# --- 3. OLAP down ---------------------------------------------------------------------------
pm_cluster_stop olap
as_admin -c "UPDATE pm_oltp.tenant_users SET roles = '{admin,billing}' WHERE user_id = '$MEMBER'"
check "OLAP down: the role change still commits in OLTP" \
    "$(o -c "SELECT roles FROM pm_oltp.tenant_users WHERE user_id = '$MEMBER'")" "{admin,billing}"
check "OLAP down: delivery fails into the queue (0 delivered, 1 failed, 1 pending)" "$(deliver)" "0/1/1"
check_match "the job waits for its backoff with the connection error" \
    "$(o -c "SELECT status || ' ' || (run_at > now()) || ' ' || attempt_count || ' ' || last_error_message
             FROM pm_queue.jobs WHERE queue_name = 'olap-audit' AND status <> 'completed'")" \
    '^retry_scheduled true 1 08006: .*olap'
pm_cluster_restart olap >/dev/null
# The job's backoff and the link's own retry interval (5 s) both have to pass: cron's
# every-minute run, compressed.
got=
for _ in $(seq 1 30); do
    sleep 1
    got=$(deliver)
    [[ $got == 0/1/1 || $got == 0/0/1 ]] || break
done
check "OLAP back: the record arrives once" "$got" "1/0/0"
check "the role change is in OLAP, the chain intact" \
    "$(logged "WHERE new_values = '{\"roles\": [\"admin\", \"billing\"]}'") $(a -c "SELECT count(*) FROM pm_olap.audit_verify()")" "1 0"

# --- 4. redelivery --------------------------------------------------------------------------
# A run whose remote transaction committed and whose local one did not: the job is still
# queued while OLAP already holds its record.
as_admin -c "UPDATE pm_oltp.tenant_config SET theme_mode = 'dark' WHERE tenant_id = '$T'"
job=$(o -c "SELECT id FROM pm_queue.jobs WHERE queue_name = 'olap-audit' AND status = 'queued'")
first=$(o -c "SELECT id FROM pm.tier_call('olap', 'audit', ARRAY[NULL, 'tenant_config.updated',
                 'tenant_config', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'confidential',
                 'standard', 'pm_oltp:$job']) AS r(id bigint)")
before=$(logged)
check "the job of an already appended record completes" "$(deliver)" "1/0/0"
check "... and appends nothing: same row count, the first row's id" \
    "$(logged) $(o -c "SELECT result->>'audit_id' FROM pm_queue.jobs WHERE id = '$job'")" "$before $first"

# --- 5. a record OLAP refuses ---------------------------------------------------------------
o -c "SELECT pm_queue.enqueue('olap-audit', '{\"action\": \"x.updated\", \"resource_type\": \"x\",
                               \"data_classification\": \"confidential\", \"retention_category\": \"forever\"}',
                               tenant_id => '$T')" >/dev/null
as_admin -c "UPDATE pm_oltp.tenant_config SET ui_language = 'de' WHERE tenant_id = '$T'"
check "a refused record fails, the next one is still delivered" "$(deliver)" "1/1/0"
check_match "the refused record is in the dead letter at once, with OLAP's reason" \
    "$(o -c "SELECT status || ' ' || attempt_count || ' ' || last_error_message FROM pm_queue.jobs
             WHERE payload->>'retention_category' = 'forever'")" \
    '^failed 1 22023: unknown retention_category "forever"'

# --- 6. privileges and absence of pm_queue -------------------------------------------------
check_match "the link's login cannot read the audit log" \
    "$(o -c "SELECT count(*) FROM pm_olap_link.admin_audit_log" 2>&1 || true)" 'permission denied'
check_match "pm_app cannot run the delivery" \
    "$(o -c "SET ROLE pm_app" -c "SELECT * FROM pm_oltp.deliver_audit()" 2>&1 || true)" 'permission denied'
check_match "max_jobs 0 is refused" "$(o -c "SELECT * FROM pm_oltp.deliver_audit(0)" 2>&1 || true)" \
    'max_jobs must be at least 1, got 0'
pm_psql oltp -c "CREATE DATABASE pm_noqueue" >/dev/null
n() { pm_psql oltp -d pm_noqueue -At "$@"; }
n >/dev/null <<SQL
CREATE EXTENSION pm_oltp CASCADE;
INSERT INTO pm_oltp.tenants (id, name) VALUES ('$T', 'Acme');
INSERT INTO pm_oltp.plans (id, name, slug) VALUES ('$P1', 'Starter', 'starter'), ('$P2', 'Growth', 'growth');
INSERT INTO pm_oltp.subscriptions (tenant_id, plan_id) VALUES ('$T', '$P1');
UPDATE pm_oltp.subscriptions SET plan_id = '$P2';
SQL
check "without pm_queue a plan change still works" "$(n -c "SELECT plan_id FROM pm_oltp.subscriptions")" "$P2"
check_match "without pm_queue deliver_audit says what it needs" \
    "$(n -c "SELECT * FROM pm_oltp.deliver_audit()" 2>&1 || true)" 'needs pm_queue and pm_fdw'

# --- 7. upgrade path ------------------------------------------------------------------------
pm_psql oltp -c "CREATE DATABASE pm_upgrade" >/dev/null
u() { pm_psql oltp -d pm_upgrade -At "$@"; }
u >/dev/null <<SQL
CREATE EXTENSION pm_core;
CREATE EXTENSION pm_oltp VERSION '0.2';
CREATE EXTENSION pm_queue VERSION '0.1';
INSERT INTO pm_oltp.tenants (id, name) VALUES ('$T', 'Acme');
INSERT INTO pm_oltp.plans (id, name, slug) VALUES ('$P1', 'Starter', 'starter'), ('$P2', 'Growth', 'growth');
INSERT INTO pm_oltp.subscriptions (tenant_id, plan_id) VALUES ('$T', '$P1');
ALTER EXTENSION pm_queue UPDATE TO '0.2';
ALTER EXTENSION pm_oltp UPDATE TO '0.3';
UPDATE pm_oltp.subscriptions SET plan_id = '$P2';
SQL
check "ALTER EXTENSION UPDATE TO reaches pm_oltp 0.3 and pm_queue 0.2; the plan change is queued" \
    "$(u -c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname IN ('pm_oltp', 'pm_queue')")
     $(u -c "SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'olap-audit'")" \
    "pm_oltp 0.3, pm_queue 0.2
     1"

checks_done
