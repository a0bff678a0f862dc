#!/usr/bin/env bash
# pm_core partition maintenance under load, on its own cluster (log_lock_waits on, a lock wait
# is logged once it passes deadlock_timeout = 200 ms):
#   1. 4 writers insert continuously and a reader keeps a transaction open on the parent
#      while maintenance drains 20k misplaced rows out of the default: no writer waits 200 ms
#      on a lock, the default ends empty, no row is lost or duplicated (count + checksum);
#      retention, which needs the parent ACCESS EXCLUSIVE, is reported as skipped meanwhile
#      and done once the reader has gone;
#   2. two maintenance runs at once: one works, the other skips the set;
#   3. maintenance while the application runs DDL on the parent: no deadlock, no error;
#   4. pg_cron: pm.partition_schedule() installs the job; the procedure it runs works;
#   5. pg_dump / restore round trip of a set: same partitions, rows and registry, and
#      maintenance works on the restored copy;
#   6. upgrade: a database with pm_core 0.1 gets the manager with ALTER EXTENSION UPDATE.
# Run by tests/run (PM_ROOT, PM_TEST_LIB set) or by hand as root.
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"

# pm_core 0.5 registers a set of its own in every database (pm.outbox, the event outbox):
# the checks below are about the application's sets and leave it out.
pm_cluster_start part pm_part "log_lock_waits = on
deadlock_timeout = '200ms'
log_min_messages = info
log_line_prefix = '%m [%p] %d %u %a '" >/dev/null
dir=$(pm_cluster_dir part)
work=$dir/work
mkdir -p "$work"
chmod 0777 "$work"
pm_cluster_use part pm_part
pm_psql part -d postgres -c "CREATE DATABASE pm_part" -c "CREATE ROLE writer LOGIN"
q() { pm_psql part -d pm_part -At "$@"; }

q <<'SQL' >/dev/null
CREATE EXTENSION pm_core;
CREATE EXTENSION pg_cron;
CREATE TABLE events (
    id        bigint GENERATED ALWAYS AS IDENTITY,
    account   uuid NOT NULL,
    at        timestamptz NOT NULL,
    kind      text NOT NULL,
    PRIMARY KEY (at, id)
) PARTITION BY RANGE (at);
GRANT INSERT, SELECT ON events TO writer;
SELECT pm.partition_create_parent('events', 'at', 'day', premake => 4, retention => '30 days',
                                  start => now() - interval '32 days');
-- 20k rows the default holds: days 10 to 14 ahead, past the premade partitions.
INSERT INTO events (account, at, kind)
SELECT gen_random_uuid(), date_trunc('day', now()) + (10 + g % 5) * interval '1 day'
       + (g % 86400) * interval '1 second', 'misplaced'
FROM generate_series(1, 20000) g;
SQL
misplaced_sum="SELECT count(*) || ':' || sum(hashtext(id || '/' || at || '/' || account)::bigint)
               FROM events WHERE kind = 'misplaced'"
before=$(q -c "$misplaced_sum")
check "setup: the default holds the 20000 misplaced rows" \
    "$(q -c "SELECT rows_in_default FROM pm.partition_status() WHERE parent <> 'pm.outbox'::regclass")" "20000"

# --- 1. writers, a long reader, maintenance ---------------------------------------------
cat >"$work/write.sql" <<'SQL'
INSERT INTO events (account, at, kind) VALUES (gen_random_uuid(), now(), 'written');
SQL
# Constant bounds: the planner prunes to today's partition, so the reader locks the parent and
# that partition only.  (A reader of the default too would keep any partition from being
# attached: PostgreSQL's ATTACH needs the default ACCESS EXCLUSIVE; see docs/partitions.md.)
today=$(q -c "SELECT date_trunc('day', now())")
tomorrow=$(q -c "SELECT date_trunc('day', now()) + interval '1 day'")
PGAPPNAME=reader psql -X -q -At -d pm_part \
    -c "BEGIN" \
    -c "SELECT count(*) FROM events WHERE at >= '$today' AND at < '$tomorrow'" \
    -c "SELECT pg_sleep(12)" -c "COMMIT" >"$work/reader.out" 2>&1 &
reader=$!
PGAPPNAME=writers pgbench -n -U writer -c 4 -j 2 -T 18 -f "$work/write.sql" pm_part \
    >"$work/writers.log" 2>&1 &
writers=$!
sleep 2
start_ms=$(($(date +%s%N) / 1000000))
q -F '|' -c "SELECT created, dropped, moved_from_default, coalesce(skipped, '') FROM pm.run_maintenance() WHERE parent <> 'pm.outbox'::regclass" \
    >"$work/maint1.out"
maint_ms=$(($(date +%s%N) / 1000000 - start_ms))
IFS='|' read -r created dropped moved skipped <"$work/maint1.out"
check "1: maintenance made the 5 partitions the misplaced rows need" "$created" "5"
check "1: and moved all 20000 rows out of the default" "$moved" "20000"
check_match "1: retention waits for a transaction that does not hold the default's lock" \
    "$skipped" "^retention deferred to the next run"
echo "# first maintenance call under load: ${maint_ms} ms wall"
q -F '|' -c "SELECT dropped, skipped FROM pm.run_maintenance() WHERE parent <> 'pm.outbox'::regclass" >"$work/maint2.out"
IFS='|' read -r dropped skipped <"$work/maint2.out"
check "1: retention cannot have the parent while the reader reads it" "$dropped" "0"
check_match "1: ... and says so in skipped" "$skipped" \
    "^retention of events_p[0-9]{8}: could not lock public.events ACCESS EXCLUSIVE in 20 tries of 50 ms$"
wait "$reader"
check "1: the reader's transaction was never disturbed" "$(sed -n 1p "$work/reader.out" | grep -c '^[0-9]')" "1"
q -F '|' -c "SELECT created, dropped FROM pm.run_maintenance() WHERE parent <> 'pm.outbox'::regclass" >"$work/maint2.out"
check "1: once the reader has gone, retention drops the 2 expired days" "$(cat "$work/maint2.out")" "0|2"
wait "$writers" || { cat "$work/writers.log"; exit 1; }
written=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/writers.log")
check "1: every writer insert is in the table, once" \
    "$(q -c "SELECT count(*) || '/' || count(DISTINCT id) FROM events WHERE kind = 'written'")" "$written/$written"
check "1: the misplaced rows are all still there, unchanged (count:checksum)" "$(q -c "$misplaced_sum")" "$before"
check "1: the default ends empty" "$(q -c "SELECT count(*) FROM ONLY events_default")" "0"
check "1: each misplaced row sits in the partition of its day" \
    "$(q -c "SELECT count(*) FROM events WHERE kind = 'misplaced'
             AND tableoid::regclass::text <> 'events_p' || to_char(at AT TIME ZONE 'UTC', 'YYYYMMDD')")" "0"
waits=$(grep -c ' writer writers LOG:  process [0-9]* still waiting' "$dir/server.log" || true)
check "1: no writer waited 200 ms on a lock (log_lock_waits)" "$waits" "0"

# --- 2. two runs at once: one works, one skips ------------------------------------------
q -c "INSERT INTO events (account, at, kind) VALUES (gen_random_uuid(), now() + interval '40 days', 'late')" >/dev/null
psql -X -q -At -d pm_part -c "BEGIN" -c "SELECT created FROM pm.run_maintenance() WHERE parent <> 'pm.outbox'::regclass" \
    -c "SELECT pg_sleep(3)" -c "COMMIT" >"$work/first.out" 2>&1 &
first=$!
sleep 1
check "2: a second run while the first holds the set skips it" \
    "$(q -c "SELECT created || ' ' || skipped FROM pm.run_maintenance() WHERE parent <> 'pm.outbox'::regclass")" \
    "0 another pm.run_maintenance() is working on this set"
wait "$first"
check "2: the first run did the work" "$(sed -n 1p "$work/first.out")" "1"

# --- 3. application DDL on the parent during maintenance --------------------------------
cat >"$work/ddl.sql" <<'SQL'
ALTER TABLE events ADD COLUMN note text;
CREATE INDEX events_kind_idx ON events (kind);
DROP INDEX events_kind_idx;
ALTER TABLE events DROP COLUMN note;
SQL
cat >"$work/misplace.sql" <<'SQL'
INSERT INTO events (account, at, kind)
VALUES (gen_random_uuid(), now() + (60 + random() * 300) * interval '1 day', 'late');
SQL
PGAPPNAME=ddl pgbench -n -c 1 -T 10 -f "$work/ddl.sql" pm_part >"$work/ddl.log" 2>&1 &
ddl=$!
PGAPPNAME=writers pgbench -n -U writer -c 3 -j 2 -T 10 -f "$work/write.sql" -f "$work/misplace.sql" pm_part \
    >"$work/writers3.log" 2>&1 &
writers=$!
maint_errors=0
end=$((SECONDS + 10))
while ((SECONDS < end)); do
    q -c "SELECT * FROM pm.run_maintenance() WHERE parent <> 'pm.outbox'::regclass" >>"$work/maint3.out" 2>&1 || maint_errors=$((maint_errors + 1))
    sleep 0.3
done
ddl_rc=0; wait "$ddl" || ddl_rc=$?
wait "$writers" || true
check "3: maintenance calls during application DDL: no error" "$maint_errors" "0"
grep -E 'ERROR|DETAIL' "$work/maint3.out" | sort | uniq -c | sed 's/^/# maintenance: /' || true
check "3: the application's DDL loop: no error" "$ddl_rc/$(grep -c 'ERROR' "$work/ddl.log" || true)" "0/0"
check "3: no deadlock anywhere" "$(grep -c 'deadlock detected' "$dir/server.log" || true)" "0"
grep -A8 'deadlock detected' "$dir/server.log" | sed 's/^/# /' || true
grep ERROR "$work/ddl.log" | sed 's/^/# ddl: /' || true
q -c "SELECT * FROM pm.run_maintenance() WHERE parent <> 'pm.outbox'::regclass" >/dev/null
check "3: a last run leaves the default empty" "$(q -c "SELECT count(*) FROM ONLY events_default")" "0"
check "3: pm.rls_audit() is empty" "$(q -c "SELECT count(*) FROM pm.rls_audit()")" "0"

# --- 4. pg_cron ----------------------------------------------------------------------------
job=$(q -c "SELECT pm.partition_schedule()")
check "4: partition_schedule installs the pg_cron job" \
    "$(q -c "SELECT schedule || ' ' || command || ' ' || database FROM cron.job WHERE jobid = $job")" \
    "*/10 * * * * CALL pm.run_maintenance_proc() pm_part"
check "4: scheduling again replaces the job instead of adding one" \
    "$(q -c "SELECT pm.partition_schedule('*/5 * * * *') = $job, count(*) FROM cron.job GROUP BY 1")" "t|1"
q -c "CALL pm.run_maintenance_proc()" >/dev/null
check "4: the procedure the job calls runs maintenance (one transaction per set)" \
    "$(q -c "SELECT last_run > now() - interval '1 minute' FROM pm.partition_sets WHERE parent <> 'pm.outbox'::regclass")" "t"

# --- 5. pg_dump / restore ------------------------------------------------------------------
pm_psql part -d postgres -c "CREATE DATABASE pm_dump" -c "CREATE DATABASE pm_restored"
d() { pm_psql part -d "$1" -At -c "$2"; }
pm_psql part -d pm_dump <<'SQL' >/dev/null
CREATE EXTENSION pm_core;
CREATE SCHEMA "app.data";
CREATE TABLE "app.data"."Audit Log" (tenant_id uuid NOT NULL, at timestamptz NOT NULL, what text)
    PARTITION BY RANGE (at);
CREATE INDEX ON "app.data"."Audit Log" (tenant_id, at);
SELECT pm.enable_tenant_isolation('"app.data"."Audit Log"');
SELECT pm.partition_create_parent('"app.data"."Audit Log"', 'at', 'week', premake => 2,
                                  retention => '90 days', start => now() - interval '3 weeks');
INSERT INTO "app.data"."Audit Log"
SELECT gen_random_uuid(), now() - g * interval '1 hour', 'e' || g FROM generate_series(1, 400) g;
INSERT INTO "app.data"."Audit Log" VALUES (gen_random_uuid(), now() + interval '6 weeks', 'future');
SQL
status="SELECT parent, grain, partitions, newest_upper, ahead, oldest_lower, rows_in_default FROM pm.partition_status() WHERE parent <> 'pm.outbox'::regclass"
rows='SELECT count(*) || '"':'"' || sum(hashtext(t::text)::bigint) FROM "app.data"."Audit Log" t'
# The procedure of docs/operations.md: pg_dump -Fc, then pm-restore (which runs maintenance
# itself; here the restored copy's own first run is checked below, so the default keeps its row).
pg_dump -Fc -d pm_dump -f "$work/dump.fc"
PGHOST=$PM_CLUSTER_BASE/part/sock PGPORT=$(pm_cluster_port part) PGUSER=postgres PM_RESTORE_NO_MAINTENANCE=1 \
    "$PM_ROOT/bin/pm-restore" pm_restored "$work/dump.fc" >/dev/null 2>"$work/restore.err" || true
check "5: the dump restores without error" "$(grep -c -i error "$work/restore.err" || true)" "0"
sed 's/^/# restore: /' "$work/restore.err" | head -5
check "5: partition_status is the same after restore" "$(d pm_restored "$status")" "$(d pm_dump "$status")"
check "5: rows are the same after restore" "$(d pm_restored "$rows")" "$(d pm_dump "$rows")"
check "5: the registry row came back with its settings" \
    "$(d pm_restored "SELECT grain, premake, retention, retention_mode FROM pm.partition_sets WHERE parent <> 'pm.outbox'::regclass")" \
    "$(d pm_dump "SELECT grain, premake, retention, retention_mode FROM pm.partition_sets WHERE parent <> 'pm.outbox'::regclass")"
check "5: maintenance on the restored copy drains its default" \
    "$(d pm_restored "SELECT created || '/' || moved_from_default FROM pm.run_maintenance() WHERE parent <> 'pm.outbox'::regclass")" "1/1"
check "5: pm.rls_audit() is empty in the restored database" \
    "$(d pm_restored "SELECT count(*) FROM pm.rls_audit()")" "0"
d pm_restored "SELECT * FROM pm.rls_audit()" | sed 's/^/# audit: /'

# --- 6. upgrade from 0.1 ------------------------------------------------------------------
pm_psql part -d postgres -c "CREATE DATABASE pm_upgrade"
pm_psql part -d pm_upgrade <<'SQL' >/dev/null
CREATE EXTENSION pm_core VERSION '0.1';
CREATE TABLE t (tenant_id uuid NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE INDEX ON t (tenant_id);
SELECT pm.enable_tenant_isolation('t');
ALTER EXTENSION pm_core UPDATE;
SQL
check "6: ALTER EXTENSION pm_core UPDATE reaches today's version (partitions in 0.2, aggregates in 0.3, staff-only tables in 0.4, outbox in 0.5, restorable dumps in 0.6)" \
    "$(d pm_upgrade "SELECT extversion FROM pg_extension WHERE extname = 'pm_core'")|$(d pm_upgrade "SELECT (pm.engagement(4, 2, 1, 0, 0, 0, 0, 0)).open_rate")" \
    "$(d pm_upgrade "SELECT default_version FROM pg_available_extensions WHERE name = 'pm_core'")|0.5"
check "6: the upgraded database partitions a table it had under isolation" \
    "$(d pm_upgrade "SELECT pm.partition_create_parent('t', 'at', 'month', premake => 1)")|$(d pm_upgrade "SELECT count(*) FROM pm.rls_audit()")" "2|0"
check "6: and forgets a dropped set (its event trigger came with the update)" \
    "$(d pm_upgrade "DROP TABLE t; SELECT count(*) FROM pm.partition_sets WHERE parent <> 'pm.outbox'::regclass")" "0"

checks_done
