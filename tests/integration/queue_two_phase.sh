#!/usr/bin/env bash
# pm_queue and two-phase commit: a prepared transaction keeps its effect on the claim hint;
# and the 0.3 -> 0.4 upgrade that closes the hint's helpers.
#
# A claim starts its index scan at its queue's claim hint (docs/queue.md), which every commit
# that makes a job ready lowers.  A PREPARE TRANSACTION used to drop those lowerings (COMMIT
# PREPARED runs later, in any backend), so a job it made ready behind the hint waited for the
# 10 s full-scan safety net.  Here, with the hint advanced past priority 10 by earlier claims:
#   1. an enqueue of a priority-10 job, prepared, a claim meanwhile (cannot see it), then
#      COMMIT PREPARED from another session: the next claim returns that job;
#   2. the same through enqueue_many;
#   3. an operator's raw UPDATE (a write outside the API resets the hints) prepared and
#      committed: the next claim returns the job it made most urgent; the same committed at
#      once from a session that had never used the API;
#   4. ROLLBACK PREPARED: nothing is claimed twice or lost, claims go on in order;
#   5. an enqueue into a queue whose worker is idle (it would be NOTIFYed) can be prepared,
#      and the worker is notified when a later enqueue commits;
#   6. the upgrade 0.3 -> 0.4 closes the claim hint's helpers (42501 for pm_app) and the
#      rewritten enqueue_many / heartbeat / complete_many work on jobs from before.
# Each step runs well inside the 10 s full-scan period, so the safety net does not find the
# jobs; the checks fail when the prepared lowering is dropped.
#
# Run by tests/run (PM_ROOT, PM_TEST_LIB set) or by hand as root:
#   PM_ROOT=$PWD PM_TEST_LIB=$PWD/tests/lib bash tests/integration/queue_two_phase.sh
set -euo pipefail

root=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/lib/cluster.sh
. "${PM_TEST_LIB:-$root/tests/lib}/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "${PM_TEST_LIB:-$root/tests/lib}/checks.sh"

PM_CLUSTER_BASE=$(mktemp -d /tmp/pmq-2pc.XXXXXX)
chmod 0755 "$PM_CLUSTER_BASE"
pm_cluster_start tpc postgres "max_prepared_transactions = 8" >/dev/null
pm_cluster_use tpc q2pc
createdb q2pc

val() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
val >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pm_queue CASCADE;
INSERT INTO pm_queue.job_queues (name) VALUES ('tpc'), ('tpc-idle');
SQL

# Fresh backlog of five priority-100 jobs, then two claims: the first (a full scan) makes
# the hint valid, the second advances it to (100, ..): a priority-10 job is behind it.
backlog() {
    val >/dev/null <<'SQL'
TRUNCATE pm_queue.jobs, pm_queue.job_logs;
SELECT pm_queue.enqueue('tpc', jsonb_build_object('j', 'a' || g), priority => 100,
                        run_at => now() - interval '1 hour' + g * interval '1 s')
  FROM generate_series(1, 5) g;
SQL
    val -c "SELECT count(*) FROM pm_queue.claim('{tpc}', 'w', 1)" >/dev/null
    val -c "SELECT count(*) FROM pm_queue.claim('{tpc}', 'w', 1)" >/dev/null
}
claim() { val -c "SELECT string_agg(payload ->> 'j', ',') FROM pm_queue.claim('{tpc}', 'w', ${1:-1})"; }

# On a fresh backlog: `stmt` in a transaction prepared as `gid`, a claim meanwhile (it cannot
# see the prepared write, and advances the hint past a3), COMMIT PREPARED from another
# session, then what the next claim of `n` jobs returns.
prepared_step() {   # what gid stmt n expected
    backlog
    val -c "BEGIN" -c "$3" -c "PREPARE TRANSACTION '$2'" >/dev/null
    check "$1: a claim while it is prepared does not see it" "$(claim)" "a3"
    val -c "COMMIT PREPARED '$2'" >/dev/null
    check "$1: after COMMIT PREPARED the next claim returns its jobs first" "$(claim "$4")" "$5"
}

# 1. enqueue of a priority-10 job; then the rest of the backlog in order.
prepared_step "enqueue" q1 "SELECT pm_queue.enqueue('tpc', '{\"j\": \"urgent\"}', priority => 10)" 1 urgent
check "... then the backlog in order" "$(claim 5)" "a4,a5"
# 2. enqueue_many.
prepared_step "enqueue_many" q2 \
    "SELECT count(*) FROM pm_queue.enqueue_many('tpc', ARRAY['{\"j\": \"u1\"}', '{\"j\": \"u2\"}']::jsonb[], priority => 10)" \
    2 u1,u2
# 3. an operator's raw UPDATE (resets every hint of the database at commit).
prepared_step "raw UPDATE" q3 "UPDATE pm_queue.jobs SET priority = 5 WHERE payload ->> 'j' = 'a5'" 1 a5

# ... and committed at once, by a session that never called the API before (it had not
# attached the hints' shared memory, so its commit reset nothing).
backlog
val -c "UPDATE pm_queue.jobs SET priority = 5 WHERE payload ->> 'j' = 'a4'" >/dev/null
check "a raw UPDATE from a fresh session resets the hints: its job comes first" "$(claim)" "a4"

# 4. ROLLBACK PREPARED: the enqueue never happened; claims carry on in order.
backlog
val -c "BEGIN" -c "SELECT pm_queue.enqueue('tpc', '{\"j\": \"gone\"}', priority => 10)" \
    -c "PREPARE TRANSACTION 'q4'" >/dev/null
val -c "ROLLBACK PREPARED 'q4'" >/dev/null
check "after ROLLBACK PREPARED the rest of the backlog, nothing else" "$(claim 5)" "a3,a4,a5"
check "no prepared transaction is left" "$(val -c "SELECT count(*) FROM pg_prepared_xacts")" 0

# 5. a worker of tpc-idle is idle (its claim came back empty): an enqueue would NOTIFY it, and
#    a transaction that ran NOTIFY cannot be prepared.  The NOTIFY waits for a real commit.
val -c "SELECT count(*) FROM pm_queue.claim('{tpc-idle}', 'w', 1)" >/dev/null
check "an enqueue into an idle queue can be prepared" \
    "$(val -c "BEGIN" -c "SELECT pm_queue.enqueue('tpc-idle', '{\"j\": \"p\"}') IS NOT NULL" \
           -c "PREPARE TRANSACTION 'q5'" 2>&1 | tr '\n' ' ')" "t "
val -c "COMMIT PREPARED 'q5'" >/dev/null
check "... and its job is claimed after COMMIT PREPARED" \
    "$(val -c "SELECT string_agg(payload ->> 'j', ',') FROM pm_queue.claim('{tpc-idle}', 'w', 5)")" "p"
check "a committed enqueue still notifies the idle worker" \
    "$(val -c "LISTEN pm_queue" -c "SELECT pm_queue.enqueue('tpc-idle', '{}') IS NOT NULL" -c "SELECT 1" 2>&1 \
       | grep -c 'Asynchronous notification "pm_queue" with payload "tpc-idle"')" 1

# 6. upgrade 0.3 -> 0.4: the helpers were executable by PUBLIC and are not any more; jobs
#    enqueued before the upgrade are claimed, heartbeated and completed through the new
#    C++ functions.
createdb q2pc_up
up() { psql -X -q -At -v ON_ERROR_STOP=1 -d q2pc_up "$@"; }
up >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pm_core;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_queue VERSION '0.3';
INSERT INTO pm_queue.job_queues (name) VALUES ('up');
SELECT count(*) FROM pm_queue.enqueue_many('up', ARRAY['{"j": 1}', '{"j": 2}']::jsonb[]);
SQL
check "0.3: PUBLIC may run the hint helpers" \
    "$(up -c "SELECT has_function_privilege('pm_app', 'pm_queue.hot_write_begin()', 'EXECUTE')")" t
up -c "ALTER EXTENSION pm_queue UPDATE TO '0.4'" >/dev/null
check "ALTER EXTENSION pm_queue UPDATE reaches 0.4" \
    "$(up -c "SELECT extversion FROM pg_extension WHERE extname = 'pm_queue'")" 0.4
check "0.4: no role but the owner may run hot_write_begin, hot_write_end, note_ready, wake_workers" \
    "$(up -c "SELECT count(*) FROM pg_proc p, unnest(ARRAY['pm_app', 'pm_service', 'pm_staff']) r
              WHERE p.pronamespace = 'pm_queue'::regnamespace
                AND p.proname IN ('hot_write_begin', 'hot_write_end', 'note_ready', 'wake_workers')
                AND has_function_privilege(r, p.oid, 'EXECUTE')")" 0
check "pm_app calling note_ready() after the upgrade: 42501" \
    "$(up -v VERBOSITY=verbose -c "SET ROLE pm_app" -c "SELECT pm_queue.note_ready('up', 1, now())" 2>&1 \
       | grep -c 'ERROR:  42501: permission denied for function note_ready')" 1
check "jobs from before the upgrade: claimed, heartbeated, completed (enqueue_many, heartbeat, complete_many)" \
    "$(up -c "SELECT count(*) FROM pm_queue.claim('{up}', 'w', 5)" \
          -c "SELECT bool_and(pm_queue.heartbeat(id, 'w')) FROM pm_queue.jobs" \
          -c "SELECT count(*) FROM pm_queue.complete_many(ARRAY(SELECT id FROM pm_queue.jobs), 'w')" \
          -c "SELECT count(*) FROM pm_queue.enqueue_many('up', ARRAY['{}']::jsonb[])" | tr '\n' ' ')" "2 t 2 1 "

checks_done
