#!/usr/bin/env bash
# Backup and restore of every tier database with pg_dump -Fc / pg_restore, the procedure of
# docs/operations.md, from a source cluster (the four tier databases, linked) to a second one:
#   1. roles first (pg_dumpall --roles-only), then each database restored without an error
#   2. every table of every database: the same row count and the same md5 of its ordered rows
#      (partitions one by one); pm.rls_audit() empty; the same partitions with the same bounds
#      and the same partition_status(); sequences go on past the restored ids
#   3. "restored on a later day": the source's sets were made to extend differently from what
#      a fresh CREATE EXTENSION makes (old partitions with rows, the newest dropped, rows in
#      the default), so any partition the restore's CREATE EXTENSION made would meet the dump's
#   4. the API works on the restored tiers, linked to each other: bodies put and old keys
#      resolved, a job enqueued/claimed/completed, a rollup with verify() empty, notifications
#      made and read, a system event, an audit record; RLS still isolates tenants
#   5. the pg_cron jobs of every tier re-created on the restored cluster
#   6. upgrade path: databases made at the oldest versions (their partitions members of the
#      extensions, as the old scripts made them), updated, dumped and restored the same way
#
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"

PW='backup-link-Pw-27'
PRE="shared_preload_libraries = 'pg_cron,penguinmails'"
pm_cluster_start src pm_oltp "$PRE" >/dev/null
pm_cluster_start dst pm_oltp "$PRE" >/dev/null
SP=$(pm_cluster_port src)
DP=$(pm_cluster_port dst)
work=$PM_CLUSTER_BASE/work
mkdir -p "$work"
chmod 0777 "$work"
export PGOPTIONS='-c client_min_messages=warning'

s() { local db=$1; shift; pm_psql src -d "$db" -At "$@"; }
d() { local db=$1; shift; pm_psql dst -d "$db" -At "$@"; }
TA=00000001-0000-4000-8000-00000000000a
TB=00000002-0000-4000-8000-00000000000b
UA=00000001-0000-4000-8000-0000000000a1
UB=00000002-0000-4000-8000-0000000000b1

# --- the source: four tier databases on one cluster, linked (the embedded default) -------------
for db in pm_oltp pm_content pm_notify pm_olap; do pm_psql src -c "CREATE DATABASE $db" >/dev/null; done
s pm_content >/dev/null <<SQL
CREATE EXTENSION pm_content CASCADE;
SELECT pm.ensure_roles();
CREATE ROLE pm_content_link LOGIN PASSWORD '$PW' IN ROLE pm_app;
SQL
s pm_notify >/dev/null <<SQL
CREATE EXTENSION pm_notify CASCADE;
CREATE ROLE pm_oltp_notify LOGIN PASSWORD '$PW';
SELECT pm_notify.grant_producer('pm_oltp_notify');
SQL
s pm_olap >/dev/null <<SQL
CREATE EXTENSION pm_olap CASCADE;
CREATE ROLE pm_oltp_audit LOGIN PASSWORD '$PW';
SELECT pm_olap.grant_audit_writer('pm_oltp_audit');
SQL
s pm_oltp >/dev/null <<SQL
CREATE EXTENSION pm_oltp CASCADE;
CREATE EXTENSION pm_queue;
CREATE EXTENSION pm_fdw;
CREATE EXTENSION pg_cron;
CREATE ROLE pm_olap_link LOGIN PASSWORD '$PW' IN ROLE pm_app;
SELECT pm_oltp.grant_olap_link('pm_olap_link');
SELECT pm.link_tier('content', 'host=127.0.0.1 port=$SP dbname=pm_content', 'pm_content_link', '$PW');
SELECT pm.link_tier('notify', 'host=127.0.0.1 port=$SP dbname=pm_notify', 'pm_oltp_notify', '$PW');
SELECT pm.link_tier('olap', 'host=127.0.0.1 port=$SP dbname=pm_olap', 'pm_oltp_audit', '$PW');
SQL
s pm_olap -c "SELECT pm.link_tier('oltp', 'host=127.0.0.1 port=$SP dbname=pm_oltp', 'pm_olap_link', '$PW')" >/dev/null

# --- realistic data through the public API ---------------------------------------------------
# OLTP: the demo's sample (six tenants, leads, campaigns sent in waves, every event through
# record_email_event), plus two small tenants of our own for the isolation checks.
s pm_oltp -f "$PM_ROOT/demo/sample.sql" >/dev/null
s pm_oltp >/dev/null <<SQL
INSERT INTO pm_oltp.tenants (id, name) VALUES ('$TA', 'Tenant A'), ('$TB', 'Tenant B');
INSERT INTO pm_oltp.leads (tenant_id, email, name)
SELECT t, format('lead%s@%s.example', g, left(t::text, 8)), 'Lead ' || g
FROM unnest(ARRAY['$TA', '$TB']::uuid[]) t, generate_series(1, 25) g;
SQL
# Content: bodies put through the link as the application (pm_app, tenant context), the keys
# kept on the emails; an attachment on some of them.
s pm_oltp >/dev/null <<'SQL'
DO $$
DECLARE
    t uuid;
BEGIN
    FOR t IN SELECT DISTINCT tenant_id FROM pm_oltp.emails ORDER BY 1 LOOP
        PERFORM pm.set_context(t);
        UPDATE pm_oltp.emails e
           SET content_storage_key = pm.put_content(e.tenant_id, 'Hi, ' || e.recipient || ' #' || e.id,
                                                    '<p>Hi, ' || e.recipient || '</p>',
                                                    jsonb_build_object('Subject', e.subject))
         WHERE e.id IN (SELECT id FROM pm_oltp.emails WHERE tenant_id = t ORDER BY id LIMIT 40);
    END LOOP;
END $$;
SQL
s pm_content >/dev/null <<'SQL'
SELECT pm_content.put_attachment(storage_key, 'terms.pdf', 'application/pdf',
                                 convert_to(repeat('%PDF-1.4 terms ', 200) || storage_key, 'UTF8'))
FROM (SELECT storage_key FROM pm_content.content_objects ORDER BY storage_key LIMIT 30) k;
SQL
# Queue: jobs queued, claimed and completed, failed into the dead letter; notifications and
# audit records produced in OLTP and delivered over the links.
s pm_oltp >/dev/null <<'SQL'
SELECT pm_queue.enqueue('email-sending', jsonb_build_object('email_id', id), idempotency_key => 'send:' || id,
                        rate_key => 'mailbox:' || email_account_id)
FROM (SELECT id, email_account_id FROM pm_oltp.emails ORDER BY id LIMIT 60) e;
SELECT pm_queue.complete(id, 'w1', '{"provider_id": "p"}') FROM pm_queue.claim(ARRAY['email-sending'], 'w1', 20);
SELECT pm_queue.fail(id, 'w1', 'smtp 550', retryable => false) FROM pm_queue.claim(ARRAY['email-sending'], 'w1', 5);
SQL
s pm_oltp -c "SELECT pm_queue.enqueue('webhook', jsonb_build_object('n', g), idempotency_key => 'rc:' || g) FROM generate_series(1, 6) g" \
    -c "SELECT pm_queue.complete(id, 'w1') FROM pm_queue.claim(ARRAY['webhook'], 'w1', 2)" >/dev/null
s pm_oltp -f "$PM_ROOT/demo/notify_actions.sql" >/dev/null
s pm_oltp -f "$PM_ROOT/demo/audit_actions.sql" >/dev/null
s pm_oltp -c "SELECT * FROM pm_oltp.deliver_notifications(100000)" -c "SELECT * FROM pm_oltp.deliver_audit(10000)" >/dev/null
s pm_notify >/dev/null <<SQL
SELECT pm_notify.notify('$TA', '$UA', 'import.done', 'Import done', 'A''s import');
SELECT pm_notify.notify('$TB', '$UB', 'import.done', 'Import done', 'B''s import');
SELECT pm_notify.system_event('smtp_slow', 'high', 'SMTP relay slow', '{"relay": "r1"}', dedup_key => 'smtp_slow')
FROM generate_series(1, 3);
BEGIN; SELECT pm.set_context('$TA', '$UA'); SET LOCAL ROLE pm_app; SELECT pm_notify.mark_all_read(); COMMIT;
SQL
s pm_olap -c "SELECT * FROM pm_olap.rollup(1000000)" -c "SELECT pm_olap.billing_rollup()" >/dev/null
# Event outbox: a sink that collects without shipping (enabled = false) holds the tier's
# events as pending rows, some of them three days old.
for db in pm_oltp pm_content pm_notify pm_olap; do
    s "$db" >/dev/null <<SQL
INSERT INTO pm.outbox_sinks (name, kind, url, events, enabled)
VALUES ('archive', 'jsonl', 'http://127.0.0.1:9/$db', '{*}', false);
INSERT INTO pm.outbox_sink_secrets (sink, api_key) VALUES ('archive', 'secret-$db');
SELECT pm.log_event('backup_test', jsonb_build_object('n', g), tenant_id => '$TA') FROM generate_series(1, 12) g;
UPDATE pm.outbox SET created_at = created_at - interval '3 days' WHERE (properties->>'n')::int <= 4;
SQL
done

# --- "a later day": the dump's partitions are not the ones a fresh CREATE EXTENSION makes ----
# Old months with rows (maintenance gives them partitions of their own), the newest partition
# dropped, and rows left in the default; then the real pg_cron jobs, inactive while we compare.
s pm_notify >/dev/null <<SQL
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, created_at)
SELECT '$TA', '$UA', 'old', 'Old ' || g, 'from months ago', now() - g * interval '25 days' FROM generate_series(2, 5) g;
SQL
for db in pm_notify pm_olap pm_oltp pm_content; do s "$db" -c "SELECT count(*) FROM pm.run_maintenance()" >/dev/null; done
# (A partition that belongs to the extension cannot be dropped: the drop below then fails,
# and so does the partition manager's retention of it.)
s pm_notify >/dev/null <<'SQL' || true
SELECT format('DROP TABLE %s', max(c.oid::regclass::text)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'pm_notify.notifications'::regclass AND c.relname ~ '_p[0-9]+$' \gexec
SQL
s pm_notify >/dev/null <<'SQL'
INSERT INTO pm_notify.notifications (tenant_id, user_id, type, title, message, created_at)
VALUES ('00000001-0000-4000-8000-00000000000a', NULL, 'future', 'Future', 'lands in the default', now() + interval '8 months');
SQL
s pm_olap >/dev/null <<'SQL' || true
SELECT format('DROP TABLE %s', max(c.oid::regclass::text)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'pm_olap.campaign_analytics'::regclass AND c.relname ~ '_p[0-9]+$' \gexec
SQL
# pg_cron lives in pm_oltp (cron.database_name): every tier's jobs are installed from there.
cron_lists=(pm_oltp:pm_oltp.notification_cron_jobs pm_oltp:pm.outbox_cron_jobs pm_notify:pm_notify.cron_jobs
            pm_olap:pm_olap.cron_jobs pm_content:pm.outbox_cron_jobs pm_notify:pm.outbox_cron_jobs
            pm_olap:pm.outbox_cron_jobs)
install_cron() { # cluster: from the cron database, each tier's jobs (names made unique per database)
    local c=$1 entry db list
    for entry in "${cron_lists[@]}"; do
        db=${entry%%:*} list=${entry#*:}
        pm_psql "$c" -d "$db" -At -F $'\t' -c "SELECT job_name, schedule, command FROM $list()" |
            while IFS=$'\t' read -r name sched cmd; do
                [[ $name == pm-outbox-* ]] && name="$name-$db"
                pm_psql "$c" -d pm_oltp -v n="$name" -v s="$sched" -v c="$cmd" -v d="$db" >/dev/null \
                    <<<"SELECT cron.schedule_in_database(:'n', :'s', :'c', :'d')"
            done
    done
}
install_cron src
s pm_oltp -c "UPDATE cron.job SET active = false" >/dev/null
cron_jobs="SELECT string_agg(jobname || ' ' || database || ' ' || schedule, ', ' ORDER BY jobname) FROM cron.job"

# --- what each database holds: every table, row count and md5 of its ordered rows -----------
# Leaf tables (partitions one by one) of every schema but the catalogs; left out: state that
# is not data (pg_cron's run history, the outbox's sink health, pm_fdw's last logged link
# states; docs/operations.md says so).
cat >"$work/tables.sql" <<'SQL'
-- The registries hold registration times and run stamps of their own: counted here, their
-- contents compared in shape.sql.
SELECT CASE WHEN c.oid::regclass::text IN ('pm.partition_sets', 'pm.tenant_tables')
            THEN format('SELECT %L || '' '' || count(*) FROM ONLY %s', c.oid::regclass::text, c.oid::regclass)
            ELSE format('SELECT %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(t::text, E''\n'' ORDER BY t::text)), ''-'') FROM ONLY %s t',
                        c.oid::regclass::text, c.oid::regclass) END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND c.oid::regclass::text NOT IN ('cron.job_run_details', 'pm.outbox_sink_state', 'pm.tier_transitions')
ORDER BY c.oid::regclass::text \gexec
SQL
cat >"$work/shape.sql" <<'SQL'
SELECT i.inhparent::regclass || ' ' || c.oid::regclass || ' ' || pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid ORDER BY 1;
SELECT parent || ' ' || grain || ' ' || partitions || ' ' || coalesce(newest_upper::text, '-') || ' '
       || coalesce(oldest_lower::text, '-') || ' ' || coalesce(rows_in_default::text, '-')
FROM pm.partition_status() ORDER BY 1;
SELECT parent || ' ' || grain || ' ' || premake || ' ' || coalesce(retention::text, '-')
FROM pm.partition_sets ORDER BY 1;
SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1;
-- Every index, by definition, and what it belongs to (a restore that skipped one, or built
-- one twice, differs here).
SELECT indexdef FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;
SELECT count(*) || ' index attachments' FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'i';
SQL
snapshot() { # cluster db -> file
    pm_psql "$1" -d "$2" -At -f "$work/tables.sql" >"$work/$1.$2.tables"
    pm_psql "$1" -d "$2" -At -f "$work/shape.sql" >"$work/$1.$2.shape"
}
first_diff() { diff "$1" "$2" | head -6 | tr '\n' ' '; }

# --- dump, roles first, restore -----------------------------------------------------------------
# The procedure of docs/operations.md, verbatim: roles from the source cluster (every
# pm_* role and each link's login, passwords included), then each database.
pg_dumpall -h 127.0.0.1 -p "$SP" -U postgres --roles-only >"$work/roles.sql"
grep -v -E '^(CREATE|ALTER) ROLE postgres( |;)' "$work/roles.sql" |
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$DP" -U postgres -d postgres >/dev/null 2>"$work/roles.err" &&
    roles_ok=0 || roles_ok=$?
check "roles from pg_dumpall --roles-only restore without an error" "$roles_ok $(wc -c <"$work/roles.err")" "0 0"
restore_db() { # db: dump from src, restore into a new database on dst; prints pg_restore's status and error count
    local db=$1 rc
    snapshot src "$db"
    pg_dump -h 127.0.0.1 -p "$SP" -U postgres -Fc -d "$db" -f "$work/$db.dump"
    pm_psql dst -c "CREATE DATABASE $db" >/dev/null
    rc=0
    # pm-restore as docs/operations.md gives it; maintenance is left for later (the shape
    # right after the restore is compared, then maintenance is checked on its own).
    PGHOST=127.0.0.1 PGPORT=$DP PGUSER=postgres PM_RESTORE_NO_MAINTENANCE=1 \
        "$PM_ROOT/bin/pm-restore" "$db" "$work/$db.dump" >/dev/null 2>"$work/$db.restore.err" || rc=$?
    echo "$rc $(grep -c 'error' "$work/$db.restore.err" || true)"
}

for db in pm_content pm_notify pm_olap pm_oltp; do
    check "$db: pg_restore exits 0 and reports no error" "$(restore_db "$db")" "0 0"
    sed 's/^/# restore: /' "$work/$db.restore.err" | head -5
    snapshot dst "$db"
    check "$db: every table has the same rows (count and md5 of the ordered rows)" \
        "$(first_diff "$work/src.$db.tables" "$work/dst.$db.tables")" ""
    check "$db: the same partitions, bounds, partition_status() and sets" \
        "$(first_diff "$work/src.$db.shape" "$work/dst.$db.shape")" ""
    check "$db: pm.rls_audit() is empty after restore" "$(d "$db" -c "SELECT count(*) FROM pm.rls_audit()")" 0
done
check_match "the comparison covered the tables that matter" \
    "$(cat "$work"/src.*.tables | wc -l) $(grep -c -E '^pm_notify.notifications_p[0-9]+ [1-9]' "$work/src.pm_notify.tables") $(grep -c -E '^pm_olap.admin_audit_log_(p[0-9]+|default) [1-9]' "$work/src.pm_olap.tables") $(grep -c -E '^pm.outbox_(p[0-9]+|default) [1-9]' "$work/src.pm_oltp.tables")" \
    '^[0-9]{3} [2-9] [1-9] [2-9]$'
check_match "the source's sets extend differently from a fresh install (old months, a dropped newest, a default with rows)" \
    "$(grep -c 'pm_notify.notifications pm_notify.notifications_p' "$work/src.pm_notify.shape") $(grep '^pm_notify.notifications month' "$work/src.pm_notify.shape" | head -1 | awk '{print $NF}')" \
    '^[5-9] 1$'
check "pending outbox events, sinks, secrets and dead letters are in the dump" \
    "$(d pm_oltp -c "SELECT (SELECT count(*) FROM pm.outbox) || ' ' || (SELECT string_agg(name || ':' || enabled, ',') FROM pm.outbox_sinks) || ' ' || (SELECT count(*) FROM pm.outbox_sink_secrets)")" \
    "$(s pm_oltp -c "SELECT (SELECT count(*) FROM pm.outbox) || ' ' || (SELECT string_agg(name || ':' || enabled, ',') FROM pm.outbox_sinks) || ' ' || (SELECT count(*) FROM pm.outbox_sink_secrets)")"

# --- the restored tiers, linked to each other, work ----------------------------------------------
# Links point at the source's host and port (the dump keeps them): re-point them.
d pm_oltp >/dev/null <<SQL
SELECT pm.link_tier('content', 'host=127.0.0.1 port=$DP dbname=pm_content', 'pm_content_link', '$PW');
SELECT pm.link_tier('notify', 'host=127.0.0.1 port=$DP dbname=pm_notify', 'pm_oltp_notify', '$PW');
SELECT pm.link_tier('olap', 'host=127.0.0.1 port=$DP dbname=pm_olap', 'pm_oltp_audit', '$PW');
SQL
d pm_olap -c "SELECT pm.link_tier('oltp', 'host=127.0.0.1 port=$DP dbname=pm_oltp', 'pm_olap_link', '$PW')" >/dev/null
check "every link of the restored OLTP is up" \
    "$(d pm_oltp -c "SELECT string_agg(tier || ':' || state, ',' ORDER BY tier) FROM pm.tier_status()")" "content:up,notify:up,olap:up"
app() { # cluster db tenant user sql: as pm_app in a tenant (and user) context
    pm_psql "$1" -d "$2" -At -c "BEGIN" -c "SELECT pm.set_context('$3'${4:+, '$4'})" -c "SET LOCAL ROLE pm_app" -c "$5" -c "COMMIT" | sed -n 2p
}
resolved="SELECT count(*) || ' ' || md5(string_agg(r.content_text || r.content_html, ',' ORDER BY r.storage_key))
          FROM pm.resolve_content_many(ARRAY(SELECT content_storage_key FROM pm_oltp.emails
                                              WHERE tenant_id = pm.current_tenant_id() ORDER BY id LIMIT 40)) r"
t1=$(s pm_oltp -c "SELECT tenant_id FROM pm_oltp.emails ORDER BY tenant_id LIMIT 1")
check "old keys resolve through the restored link to the same bodies" \
    "$(app dst pm_oltp "$t1" "" "$resolved")" "$(app src pm_oltp "$t1" "" "$resolved")"
key=$(app dst pm_oltp "$TA" "" "SELECT pm.put_content('$TA', 'Hello after restore', '<p>Hello</p>', '{\"Subject\": \"R\"}')")
check "a new body put after restore reads back (its key is the computed one)" \
    "$(app dst pm_oltp "$TA" "" "SELECT content_text || ' ' || (storage_key = pm.body_storage_key('$TA', 'Hello after restore', '<p>Hello</p>', '{\"Subject\": \"R\"}')) FROM pm.resolve_content('$key')")" \
    "Hello after restore true"
check "RLS after restore: tenant B cannot resolve tenant A's body, in OLTP or in the content tier" \
    "$(pm_psql dst -d pm_oltp -c "BEGIN" -c "SELECT pm.set_context('$TB')" -c "SET LOCAL ROLE pm_app" -c "SELECT * FROM pm.resolve_content('$key')" 2>&1 | grep -c 'belongs to another tenant') $(app dst pm_content "$TB" "" "SELECT count(*) FROM pm_content.get('$key')") $(app dst pm_content "$TA" "" "SELECT count(*) FROM pm_content.get('$key')")" \
    "1 0 1"
check "RLS after restore: each tenant sees exactly its own leads" \
    "$(app dst pm_oltp "$TA" "" "SELECT count(*) || '/' || count(*) FILTER (WHERE tenant_id <> '$TA') FROM pm_oltp.leads") $(app dst pm_oltp "$TB" "" "SELECT count(*) FROM pm_oltp.leads WHERE tenant_id = '$TA'")" \
    "25/0 0"
states="SELECT string_agg(status || ':' || n, ',' ORDER BY status) FROM (SELECT status, count(*) n FROM pm_queue.jobs
        WHERE queue_name = 'webhook' GROUP BY 1) x"
job=$(d pm_oltp -c "SELECT pm_queue.enqueue('webhook', '{\"n\": 7}')")
claimed=$(d pm_oltp -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM pm_queue.claim(ARRAY['webhook'], 'w9', 1000)")
d pm_oltp -c "SELECT pm_queue.complete(id, 'w9') FROM unnest(string_to_array('$claimed', ',')::uuid[]) id" >/dev/null
check "queue after restore: the jobs queued at dump time and a new one are claimed and completed" \
    "$(tr ',' '\n' <<<"$claimed" | grep -c .) $(grep -c "$job" <<<"$claimed") $(d pm_oltp -c "$states")" "5 1 completed:7"
check "an idempotency key used before the dump returns the restored job" \
    "$(d pm_oltp -c "SELECT pm_queue.enqueue('webhook', '{}', idempotency_key => 'rc:3')")" \
    "$(s pm_oltp -c "SELECT id FROM pm_queue.jobs WHERE idempotency_key = 'rc:3'")"
range="(now() AT TIME ZONE 'UTC')::date - 400, (now() AT TIME ZONE 'UTC')::date + 1"
check "OLAP after restore: verify() is empty against the restored OLTP" "$(d pm_olap -c "SELECT count(*) FROM pm_olap.verify($range)")" 0
d pm_oltp -c "SELECT pm_oltp.record_email_event(id, 'opened', sent_at + interval '1 hour') FROM pm_oltp.emails WHERE sent_at IS NOT NULL ORDER BY id LIMIT 30" >/dev/null
d pm_olap -c "SELECT * FROM pm_olap.rollup(1000000)" >/dev/null
check "a rollup of changes made after restore: verify() still empty, new rows get new ids" \
    "$(d pm_olap -c "SELECT count(*) FROM pm_olap.verify($range)") $(d pm_olap -c "SELECT count(*) FROM (SELECT id FROM pm_olap.campaign_analytics GROUP BY id HAVING count(*) > 1) x")" "0 0"
# The demo's two audited changes, undone (made again they would change nothing, and an
# unchanged row is no audit record).
sed -e "s/pending_plan_id = (SELECT id FROM pm_oltp.plans WHERE slug = 'growth')/pending_plan_id = NULL/" \
    -e "s/SET roles = '{member,admin}'/SET roles = '{member}'/" -e "s/AND roles = '{member}'/AND roles = '{member,admin}'/" \
    "$PM_ROOT/demo/audit_actions.sql" | d pm_oltp >/dev/null
check "an audit record made after restore extends the restored chain intact" \
    "$(d pm_oltp -c "SELECT delivered FROM pm_oltp.deliver_audit(100)") $(d pm_olap -c "SELECT count(*) FROM pm_olap.audit_verify()")" "2 0"
check "the audit log's partitions still refuse TRUNCATE after restore" \
    "$(d pm_olap -c "SELECT string_agg(DISTINCT t.tgname, ',') || ' ' || count(*) FILTER (WHERE t.tgname IS NULL) FROM pg_inherits i LEFT JOIN pg_trigger t ON t.tgrelid = i.inhrelid AND t.tgname = 'audit_no_truncate' WHERE i.inhparent = 'pm_olap.admin_audit_log'::regclass")" \
    "audit_no_truncate 0"
before=$(app dst pm_notify "$TA" "$UA" "SELECT pm_notify.unread_count()")
d pm_notify -c "SELECT pm_notify.notify('$TA', '$UA', 'restored', 'After restore', 'hello')" >/dev/null
check "notifications after restore: read state kept, a new one is unread, B sees none of A's" \
    "$before $(app dst pm_notify "$TA" "$UA" "SELECT pm_notify.unread_count()") $(app dst pm_notify "$TB" "$UB" "SELECT count(*) FROM pm_notify.notifications WHERE tenant_id = '$TA'")" \
    "$(app src pm_notify "$TA" "$UA" "SELECT pm_notify.unread_count()") $(($(app src pm_notify "$TA" "$UA" "SELECT pm_notify.unread_count()") + 1)) 0"
check "system events after restore: the open incident is bumped, not duplicated; new ids follow the old" \
    "$(d pm_notify -c "SELECT pm_notify.system_event('smtp_slow', 'high', 'SMTP relay slow', dedup_key => 'smtp_slow') = (SELECT id FROM pm_notify.admin_system_events WHERE dedup_key = 'smtp_slow')") $(d pm_notify -c "SELECT pm_notify.system_event('disk', 'low', 'disk 80 %') > (SELECT max(id) FROM pm_notify.admin_system_events WHERE event_type <> 'disk')")" \
    "t t"
d pm_oltp -c "UPDATE pm_oltp.campaigns SET status = 'completed' WHERE id = (SELECT id FROM pm_oltp.campaigns WHERE status <> 'completed' ORDER BY id LIMIT 1)" >/dev/null
check "a notification produced in the restored OLTP reaches the restored notifications tier" \
    "$(d pm_oltp -c "SELECT delivered || '/' || failed FROM pm_oltp.deliver_notifications(100)")" "1/0"
for db in pm_oltp pm_content pm_notify pm_olap; do
    d "$db" -c "SELECT count(*) FROM pm.run_maintenance()" >/dev/null
done
check "maintenance on the restored sets: nothing skipped, the default drained, the dropped month back" \
    "$(d pm_notify -c "SELECT count(*) FILTER (WHERE skipped IS NOT NULL) FROM pm.run_maintenance()") $(d pm_notify -c "SELECT rows_in_default FROM pm.partition_status() WHERE parent = 'pm_notify.notifications'::regclass") $(d pm_notify -c "SELECT ahead >= 2 FROM pm.partition_status() WHERE parent = 'pm_notify.notifications'::regclass")" \
    "0 0 t"

# --- pg_cron jobs: restored with pg_cron's own table, re-created by name ---------------------
check "pg_cron's jobs came back with the OLTP database" "$(d pm_oltp -c "$cron_jobs")" "$(s pm_oltp -c "$cron_jobs")"
install_cron dst
check "re-creating every tier's jobs replaces them by name (same set, none twice)" \
    "$(d pm_oltp -c "$cron_jobs")" "$(s pm_oltp -c "$cron_jobs")"
check_match "every tier's jobs are there" "$(d pm_oltp -c "SELECT count(*) || ' ' || count(DISTINCT database) FROM cron.job")" '^1[0-9] 4$'

# --- upgrade path: made at the oldest versions, updated, dumped, restored ------------------------
pm_psql src -c "CREATE DATABASE pm_upg_oltp" -c "CREATE DATABASE pm_upg_tiers" >/dev/null
s pm_upg_oltp >/dev/null <<SQL
CREATE EXTENSION pm_core VERSION '0.1';
CREATE EXTENSION pm_oltp VERSION '0.1';
CREATE EXTENSION pm_queue VERSION '0.1';
INSERT INTO pm_oltp.tenants (id, name) VALUES ('$TA', 'Tenant A');
INSERT INTO pm_oltp.leads (tenant_id, email, name) SELECT '$TA', 'l' || g || '@a.example', 'L' FROM generate_series(1, 20) g;
SELECT pm_queue.enqueue('import-export', jsonb_build_object('n', g)) FROM generate_series(1, 5) g;
ALTER EXTENSION pm_core UPDATE;
ALTER EXTENSION pm_oltp UPDATE;
ALTER EXTENSION pm_queue UPDATE;
SQL
# The partitions the 0.1 scripts made belonged to their extensions: made so here by hand
# (today's library keeps every partition out of the extension).
s pm_upg_tiers >/dev/null <<SQL
CREATE EXTENSION pm_core VERSION '0.4';
CREATE EXTENSION pm_fdw VERSION '0.1';
CREATE EXTENSION pm_notify VERSION '0.1';
CREATE EXTENSION pm_olap VERSION '0.1';
SELECT count(*) FROM pm.run_maintenance();
SELECT format('ALTER EXTENSION %I ADD TABLE %s', e.extname, i.inhrelid::regclass)
FROM pg_inherits i JOIN pg_depend d ON d.objid = i.inhparent AND d.deptype = 'e' AND d.classid = 'pg_class'::regclass
JOIN pg_extension e ON e.oid = d.refobjid
WHERE NOT EXISTS (SELECT 1 FROM pg_depend m WHERE m.objid = i.inhrelid AND m.deptype = 'e') \gexec
SELECT pm_notify.notify('$TA', '$UA', 't', 'Before the update', 'm') FROM generate_series(1, 3);
SELECT pm_notify.system_event('x', 'low', 'before the update');
SELECT pm_olap.audit('$UA', 'plan.change', 'subscription', 's1', '$TA');
ALTER EXTENSION pm_core UPDATE;
ALTER EXTENSION pm_fdw UPDATE;
ALTER EXTENSION pm_notify UPDATE;
ALTER EXTENSION pm_olap UPDATE;
SELECT pm_notify.notify('$TA', '$UA', 't', 'After the update', 'm');
SELECT pm_olap.audit('$UA', 'role.change', 'tenant_user', 'u1', '$TA');
SQL
check "the updated databases are at today's versions" \
    "$(s pm_upg_oltp -c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'") | $(s pm_upg_tiers -c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'")" \
    "$(pm_default_versions src pm_core pm_oltp pm_queue) | $(pm_default_versions src pm_core pm_fdw pm_notify pm_olap)"
check "the update made the old member partitions ordinary tables of the database" \
    "$(s pm_upg_tiers -c "SELECT count(*) FROM pg_inherits i JOIN pg_depend m ON m.objid = i.inhrelid AND m.deptype = 'e'")" \
    "0"
for db in pm_upg_oltp pm_upg_tiers; do
    check "$db: pg_restore exits 0 and reports no error" "$(restore_db "$db")" "0 0"
    sed 's/^/# restore: /' "$work/$db.restore.err" | head -5
    snapshot dst "$db"
    check "$db: every table has the same rows after the round trip" \
        "$(first_diff "$work/src.$db.tables" "$work/dst.$db.tables")" ""
    check "$db: the same partitions and sets" "$(first_diff "$work/src.$db.shape" "$work/dst.$db.shape")" ""
done
check "the updated database's notifications and audit records all came back" \
    "$(d pm_upg_tiers -c "SELECT (SELECT count(*) FROM pm_notify.notifications) || ' ' || (SELECT count(*) FROM pm_olap.admin_audit_log) || ' ' || (SELECT count(*) FROM pm_olap.audit_verify())")" "4 2 0"

# A plain pg_restore (no replica mode) is refused at the first tier extension, loudly.
pm_psql dst -c "CREATE DATABASE pm_plain" >/dev/null
pg_restore -h 127.0.0.1 -p "$DP" -U postgres -d pm_plain "$work/pm_notify.dump" >/dev/null 2>"$work/plain.err" || true
check "a plain pg_restore is refused with 55000 and the procedure in its hint" \
    "$(grep -c 'restoring pm.outbox needs session_replication_role = replica' "$work/plain.err") $(grep -c 'HINT:  Before pg_restore: ALTER DATABASE' "$work/plain.err")" "1 1"
check "pm-restore refuses a database that already has PenguinMails extensions" \
    "$(PGHOST=127.0.0.1 PGPORT=$DP PGUSER=postgres "$PM_ROOT/bin/pm-restore" pm_notify "$work/pm_notify.dump" 2>&1 | grep -c 'already has PenguinMails extensions')" 1

checks_done
