#!/usr/bin/env bash
# pm_queue under real concurrency: parallel workers on separate connections.
#
#   1. exactly once: 8 workers drain 3000 jobs while a killer terminates worker backends in
#      the middle of jobs (pg_terminate_backend) and a stalled worker overruns its lease.
#      Every job is completed exactly once, none is lost, no attempt is handed to two
#      workers, killed workers' jobs come back through lease expiry, the stalled worker's
#      late complete() is refused (55000);
#   2. rate budgets: 8 workers on 10 keys limited to 10 per 1-second window and on 5 mailboxes
#      whose pm_oltp daily_limit is 7: no window of any key ever sees more claims than its
#      budget, over-budget jobs are deferred (never failed) and all run in later windows;
#   3. idempotency: 8 concurrent pgbench clients enqueue 1600 times with 50 keys (and batches
#      with overlapping keys): one job per key, every caller got that job's id;
#   4. NOTIFY: a listener is woken by an enqueue into an idle queue;
#   5. a database of its own (no pm_oltp): the queue works, mailbox keys have no default budget.
#
# Run by tests/run (PM_ROOT, PM_TEST_LIB set) or by hand as root:
#   PM_ROOT=$PWD PM_TEST_LIB=$PWD/tests/lib bash tests/integration/queue_concurrency.sh
set -euo pipefail

root=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/lib/cluster.sh
. "${PM_TEST_LIB:-$root/tests/lib}/cluster.sh"

# A base directory of our own: other tools sweep stale /tmp/pm-clusters.* directories.
PM_CLUSTER_BASE=$(mktemp -d /tmp/pmq-it.XXXXXX)
chmod 0755 "$PM_CLUSTER_BASE"
pm_cluster_start queue postgres "max_connections = 60" >/dev/null
pm_cluster_use queue qit
work=$(pm_cluster_dir queue)/work
mkdir -p "$work"
createdb qit

failures=0
pass() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
val() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
# check "description" "SQL returning one value" "expected value"
check() {
    local got
    got=$(val -c "$2")
    if [[ $got == "$3" ]]; then pass "$1"; else fail "$1 (got '$got', want '$3')"; fi
}

sql <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pm_oltp CASCADE;
CREATE EXTENSION pm_queue;
SELECT pm.ensure_roles() \g /dev/null
CREATE ROLE qit_worker LOGIN IN ROLE pm_service;

-- What workers saw: every lease they got (in the claim's transaction) and every
-- completion they made (in complete()'s transaction).
CREATE TABLE it_claims (job_id uuid, worker text, attempt int, rate_key text, started timestamptz);
CREATE TABLE it_done (job_id uuid, worker text, attempt int);
CREATE TABLE it_refused (job_id uuid, worker text, attempt int, sqlstate text);
GRANT ALL ON it_claims, it_done, it_refused TO PUBLIC;

-- A worker: claim a batch (commit), work on it (a kill lands here most of the time),
-- complete each job (commit).  Leaves when nothing is running and nothing is due soon.
CREATE PROCEDURE it_worker(worker text, queue text, batch int, work_ms int, deadline timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    j    record;
    ids  uuid[];
    atts int[];
BEGIN
    LOOP
        EXIT WHEN clock_timestamp() > deadline;
        ids := '{}';
        atts := '{}';
        FOR j IN SELECT id, attempt_count, rate_key, started_at
                   FROM pm_queue.claim(ARRAY[queue], worker, batch) LOOP
            INSERT INTO it_claims VALUES (j.id, worker, j.attempt_count, j.rate_key, j.started_at);
            ids := ids || j.id;
            atts := atts || j.attempt_count;
        END LOOP;
        COMMIT;
        IF cardinality(ids) = 0 THEN
            EXIT WHEN NOT EXISTS (SELECT 1 FROM pm_queue.jobs
                                   WHERE queue_name = queue
                                     AND (status = 'running'
                                          OR (status IN ('queued', 'retry_scheduled')
                                              AND run_at < now() + interval '5 seconds')));
            PERFORM pg_sleep(0.02);
            COMMIT;
            CONTINUE;
        END IF;
        IF work_ms > 0 THEN
            PERFORM pg_sleep(work_ms / 1000.0);
            COMMIT;
        END IF;
        FOR i IN 1 .. cardinality(ids) LOOP
            BEGIN
                IF pm_queue.complete(ids[i], worker) THEN
                    INSERT INTO it_done VALUES (ids[i], worker, atts[i]);
                END IF;
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO it_refused VALUES (ids[i], worker, atts[i], SQLSTATE);
            END;
        END LOOP;
        COMMIT;
    END LOOP;
END $$;
SQL

# Starts worker slot $1 (generation $2) on queue $3 with batch $4, work_ms $5.
start_worker() {
    # Role attributes (BYPASSRLS) are not inherited through membership: a worker's login
    # role becomes pm_service with SET ROLE.
    PGAPPNAME=qit-w$1-g$2 PGUSER=qit_worker psql -X -q -v ON_ERROR_STOP=1 -c "SET ROLE pm_service" \
        -c "CALL it_worker('w$1-g$2', '$3', $4, $5, clock_timestamp() + interval '90 seconds')" \
        >"$work/worker-$1-$2.log" 2>&1 &
    worker_pid[$1]=$!
}
declare -a worker_pid=()

unfinished() {   # queue -> jobs not yet completed
    val -c "SELECT count(*) FROM pm_queue.jobs WHERE queue_name = '$1' AND status <> 'completed'"
}

# ---------------------------------------------------------------------------------------
echo "== 1. exactly once, with workers killed mid-job =="
sql <<'SQL'
INSERT INTO pm_queue.job_queues (name, timeout_seconds, max_attempts, backoff_base_ms, backoff_jitter)
VALUES ('it-work', 2, 20, 100, 0);
SELECT count(*) FROM pm_queue.enqueue_many('it-work',
    ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, 3000) g)) \g /dev/null
-- The stalled worker's job: claimed now, completed after its lease is gone.
INSERT INTO pm_queue.job_queues (name, timeout_seconds) VALUES ('it-stall', 1);
SELECT pm_queue.enqueue('it-stall', '{}') \g /dev/null
SQL
stalled_job=$(val -c "SELECT id FROM pm_queue.claim('{it-stall}', 'stalled-worker', 1)")

(
    while :; do
        psql -X -q -At -c "SELECT pm_queue.reap_expired()" >/dev/null 2>&1 || true
        sleep 0.3
    done
) &
reaper=$!
pm_on_exit "kill $reaper 2>/dev/null || true"

declare -a gen=()
for i in 1 2 3 4 5 6 7 8; do gen[i]=1; start_worker "$i" 1 it-work 5 40; done

kills=0
deadline=$((SECONDS + 75))
while (( $(unfinished it-work) > 0 )) && ((SECONDS < deadline)); do
    sleep 0.3
    if ((kills < 6)); then
        # A worker that holds leases right now: the kill lands in the middle of its jobs.
        killed=$(val -c "SELECT count(pg_terminate_backend(pid)) FROM (
                             SELECT a.pid FROM pg_stat_activity a
                              WHERE a.application_name LIKE 'qit-w%'
                                AND EXISTS (SELECT 1 FROM pm_queue.jobs j
                                             WHERE j.status = 'running'
                                               AND j.locked_by = substr(a.application_name, 5))
                              ORDER BY random() LIMIT 1) v")
        kills=$((kills + killed))
    fi
    for i in 1 2 3 4 5 6 7 8; do
        if ! kill -0 "${worker_pid[i]}" 2>/dev/null; then
            wait "${worker_pid[i]}" 2>/dev/null || true
            if (( $(unfinished it-work) > 0 )); then
                gen[i]=$((gen[i] + 1))
                start_worker "$i" "${gen[i]}" it-work 5 40
            fi
        fi
    done
done
late=$(val -c "SELECT pm_queue.reap_expired()" >/dev/null; \
       psql -X -q -At -c "SELECT pm_queue.complete('$stalled_job', 'stalled-worker')" 2>&1 || true)
for i in 1 2 3 4 5 6 7 8; do wait "${worker_pid[i]}" 2>/dev/null || true; done

echo "   $kills worker backends terminated while holding leases"
((kills >= 3)) && pass "workers were killed mid-job ($kills times)" || fail "only $kills kills landed"
check "every job completed (none lost)" \
      "SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM pm_queue.jobs WHERE queue_name = 'it-work'" \
      "3000/3000"
check "one completion per job (none twice)" \
      "SELECT count(*) || '/' || count(DISTINCT job_id) FROM it_done d JOIN pm_queue.jobs j ON j.id = d.job_id WHERE j.queue_name = 'it-work'" \
      "3000/3000"
check "no attempt was handed to two workers" \
      "SELECT count(*) FROM (SELECT job_id, attempt FROM it_claims GROUP BY 1, 2 HAVING count(*) > 1) x" "0"
check "each job was completed by the holder of its last attempt" \
      "SELECT count(*) FROM it_done d JOIN pm_queue.jobs j ON j.id = d.job_id
        WHERE d.attempt <> j.attempt_count OR d.worker <> j.locked_by" "0"
check "a job was leased again only after its previous lease expired" \
      "SELECT count(*) FROM (SELECT c.job_id, count(*) AS claims FROM it_claims c
                               JOIN pm_queue.jobs j ON j.id = c.job_id
                              WHERE j.queue_name = 'it-work' GROUP BY 1) x
         LEFT JOIN (SELECT job_id, count(*) AS expiries FROM pm_queue.job_logs
                     WHERE log_message = 'lease expired' GROUP BY 1) e USING (job_id)
        WHERE x.claims - 1 <> coalesce(e.expiries, 0)" "0"
check "killed workers' jobs came back through lease expiry" \
      "SELECT count(DISTINCT job_id) > 0 FROM pm_queue.job_logs WHERE queue_name = 'it-work' AND log_message = 'lease expired'" "t"
check "... and were retried by other workers" \
      "SELECT count(*) > 0 FROM it_claims c JOIN pm_queue.jobs j ON j.id = c.job_id
        WHERE j.queue_name = 'it-work' AND c.attempt > 1" "t"
check "no job dead-lettered" "SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'it-work' AND status = 'failed'" "0"
if [[ $late == *"does not hold its lease"* ]]; then
    pass "a worker past its lease cannot complete (55000)"
else
    fail "the stalled worker's late complete was not refused: $late"
fi

# ---------------------------------------------------------------------------------------
echo "== 2. rate budgets under concurrency =="
sql <<'SQL'
INSERT INTO pm_queue.job_queues (name, timeout_seconds) VALUES ('it-rate', 30);
INSERT INTO pm_queue.rate_limits (key, max_per_window, window_len)
SELECT 'domain:' || k, 10, '1 second' FROM generate_series(1, 10) k;
INSERT INTO pm_oltp.tenants (id, name) VALUES ('99999999-0000-4000-8000-000000000001', 'it tenant');
INSERT INTO pm_oltp.email_accounts (id, tenant_id, email, daily_limit)
SELECT md5('it-mailbox-' || m)::uuid, '99999999-0000-4000-8000-000000000001',
       'it' || m || '@queue-it.example', 7
  FROM generate_series(1, 5) m;
-- 30 jobs per domain key (3 windows' worth), 20 per mailbox (7 today), shuffled.
SELECT count(*) FROM pm_queue.enqueue_many('it-rate',
    ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 400)),
    rate_keys => ARRAY(SELECT k FROM (
        SELECT 'domain:' || (1 + g % 10) AS k FROM generate_series(0, 299) g
        UNION ALL
        SELECT 'mailbox:' || md5('it-mailbox-' || (1 + g % 5))::uuid FROM generate_series(0, 99) g) x
        ORDER BY random())) \g /dev/null
SQL
for i in 1 2 3 4 5 6 7 8; do start_worker "$i" r it-rate 4 0; done
for i in 1 2 3 4 5 6 7 8; do wait "${worker_pid[i]}" 2>/dev/null || true; done
check "no key ever got more claims than its budget in one window" \
      "SELECT count(*) FROM (
           SELECT c.rate_key, pm_queue.rate_window_start(c.started, '1 second')
             FROM it_claims c JOIN pm_queue.jobs j ON j.id = c.job_id
            WHERE j.queue_name = 'it-rate' AND c.rate_key LIKE 'domain:%'
            GROUP BY 1, 2 HAVING count(*) > 10) x" "0"
check "every domain job ran, none failed" \
      "SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FILTER (WHERE status = 'failed')
         FROM pm_queue.jobs WHERE queue_name = 'it-rate' AND rate_key LIKE 'domain:%'" "300/0"
check "budgets bound: each domain key needed at least 3 windows" \
      "SELECT min(n) >= 3 FROM (SELECT c.rate_key, count(DISTINCT pm_queue.rate_window_start(c.started, '1 second')) AS n
                                  FROM it_claims c WHERE c.rate_key LIKE 'domain:%' GROUP BY 1) x" "t"
check "each window's counter matches the claims made in it" \
      "SELECT count(*) FROM pm_queue.rate_windows w
         FULL JOIN (SELECT rate_key, pm_queue.rate_window_start(started, '1 second') AS ws, count(*) AS n
                      FROM it_claims WHERE rate_key LIKE 'domain:%' GROUP BY 1, 2) c
           ON c.rate_key = w.key AND c.ws = w.window_start
        WHERE (w.key LIKE 'domain:%' OR c.rate_key IS NOT NULL) AND w.used IS DISTINCT FROM c.n" "0"
check "mailboxes sent exactly their daily_limit (7) today" \
      "SELECT string_agg(DISTINCT n::text, ',') FROM (SELECT rate_key, count(*) AS n FROM it_claims
                                                       WHERE rate_key LIKE 'mailbox:%' GROUP BY 1) x" "7"
check "the other 13 per mailbox wait for the next UTC day, queued" \
      "SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'it-rate' AND rate_key LIKE 'mailbox:%'
          AND status = 'queued'
          AND run_at = date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day'" "65"

# ---------------------------------------------------------------------------------------
echo "== 3. idempotency under concurrent enqueue =="
sql <<'SQL'
INSERT INTO pm_queue.job_queues (name) VALUES ('it-idem');
CREATE TABLE it_idem (k int, job uuid);
GRANT ALL ON it_idem TO PUBLIC;
SQL
cat >"$work/idem.sql" <<'SQL'
\set k random(1, 50)
INSERT INTO it_idem VALUES (:k, pm_queue.enqueue('it-idem', '{}', idempotency_key => 'key-' || :k));
SQL
cat >"$work/idem_many.sql" <<'SQL'
\set k random(1, 45)
INSERT INTO it_idem SELECT :k + o - 1, j FROM pm_queue.enqueue_many('it-idem', array_fill('{}'::jsonb, ARRAY[6]), idempotency_keys => ARRAY(SELECT 'key-' || (:k + g) FROM generate_series(0, 5) g)) WITH ORDINALITY AS e(j, o);
SQL
pgbench -n -c 8 -j 4 -t 200 -f "$work/idem.sql" -f "$work/idem_many.sql" >"$work/idem.log" 2>&1 ||
    fail "pgbench idempotency run failed: $(tail -n 3 "$work/idem.log")"
check "one job per key" \
      "SELECT count(*) || '/' || count(DISTINCT idempotency_key) FROM pm_queue.jobs WHERE queue_name = 'it-idem'" "50/50"
check "every caller got the id of its key's job" \
      "SELECT count(*) FROM it_idem i JOIN pm_queue.jobs j ON j.id = i.job
        WHERE j.idempotency_key <> 'key-' || i.k" "0"
check "... and no caller got another id" \
      "SELECT count(*) FROM (SELECT k FROM it_idem GROUP BY k HAVING count(DISTINCT job) > 1) x" "0"
check "all 1600 calls answered" "SELECT count(*) >= 1600 FROM it_idem" "t"

# ---------------------------------------------------------------------------------------
echo "== 4. NOTIFY wakes an idle worker =="
sql -c "INSERT INTO pm_queue.job_queues (name) VALUES ('it-notify')"
psql -X -c "LISTEN pm_queue" -c "SELECT pg_sleep(2)" -c "SELECT 'done'" >"$work/listen.log" 2>&1 &
listener=$!
sleep 0.7
val -c "SELECT pm_queue.enqueue('it-notify', '{}')" >/dev/null      # idle queue: notifies
val -c "SELECT pm_queue.enqueue('it-notify', '{}')" >/dev/null      # backlog: workers are busy
wait "$listener" || true
n=$(grep -c 'notification "pm_queue" with payload "it-notify"' "$work/listen.log" || true)
[[ $n == 1 ]] && pass "one notification (channel pm_queue, payload = queue name) for the idle queue" ||
    fail "expected 1 notification, got $n: $(cat "$work/listen.log")"

# ---------------------------------------------------------------------------------------
echo "== 5. a queue database without pm_oltp =="
createdb qonly
PGDATABASE=qonly sql <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pm_queue CASCADE;
INSERT INTO pm_queue.job_queues (name) VALUES ('solo');
SELECT pm_queue.enqueue_many('solo', array_fill('{}'::jsonb, ARRAY[5]),
                             rate_keys => array_fill('mailbox:' || md5('x')::uuid, ARRAY[5])) \g /dev/null
SQL
PGDATABASE=qonly check "mailbox keys have no default budget without pm_oltp" \
      "SELECT count(pm_queue.complete(id, 'solo-worker')) FROM pm_queue.claim('{solo}', 'solo-worker', 10)" "5"
PGDATABASE=qonly sql <<'SQL'
INSERT INTO pm_queue.rate_limits VALUES ('mailbox:' || md5('x')::uuid, 2, '1 day');
SELECT pm_queue.enqueue_many('solo', array_fill('{}'::jsonb, ARRAY[5]),
                             rate_keys => array_fill('mailbox:' || md5('x')::uuid, ARRAY[5])) \g /dev/null
SQL
PGDATABASE=qonly check "an explicit rate_limits row still applies" \
      "SELECT count(*) FROM pm_queue.claim('{solo}', 'solo-worker', 10)" "2"
PGDATABASE=qonly check "pm.rls_audit() is empty" "SELECT count(*) FROM pm.rls_audit()" "0"

# ---------------------------------------------------------------------------------------
echo "== 6. claim hint: no job left behind it, with a snapshot held open =="
# 4 workers claim from the hint while another session holds a snapshot (claimed jobs'
# index entries cannot be cleaned).  Meanwhile jobs become ready *behind* the hint: more
# urgent ones, ones due an hour ago, retries (fail() -> retry_scheduled), and an operator's
# raw UPDATE.  Each must be claimed within 5 seconds (the periodic full scan, the safety
# net, comes only every 10 s), and every job exactly once.
sql <<'SQL'
INSERT INTO pm_queue.job_queues (name, timeout_seconds, max_attempts, backoff_base_ms, backoff_max_ms,
                                 backoff_jitter)
VALUES ('it-hint', 60, 3, 0, 0, 0);
CREATE TABLE it_late (job_id uuid, kind text, ready_at timestamptz);
GRANT ALL ON it_late TO PUBLIC;
SELECT count(*) FROM pm_queue.enqueue_many('it-hint',
    ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, 2000) g)) \g /dev/null
SQL
cat >"$work/hint_worker.sql" <<'SQL'
SELECT pm_queue.enqueue('it-hint', '{}');
SELECT (SELECT id FROM pm_queue.claim('{it-hint}', 'hw' || :client_id, 1)) AS id \gset
SELECT pm_queue.complete(:id, 'hw' || :client_id);
SQL
psql -X -q -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM pm_queue.job_queues" \
     -c "SELECT pg_sleep(14)" -c "COMMIT" >/dev/null 2>&1 &
holder=$!
sleep 0.5
pgbench -n -M prepared -T 10 -c 4 -j 2 -f "$work/hint_worker.sql" >"$work/hint_pgbench.log" 2>&1 &
load=$!
sleep 1
# Late jobs arrive during the first 4 s of the 10 s of load only, so every one of them has more
# than 5 s of running workers left (on a slow machine the ten rounds can take most of the 10 s).
late_until=$((SECONDS + 4))
for i in $(seq 1 10); do
    ((i == 1 || SECONDS < late_until)) || break
    sql <<'SQL' >/dev/null
INSERT INTO it_late SELECT pm_queue.enqueue('it-hint', '{"late": "urgent"}', priority => 5), 'urgent', clock_timestamp();
INSERT INTO it_late SELECT pm_queue.enqueue('it-hint', '{"late": "past"}', run_at => now() - interval '1 hour'), 'past', clock_timestamp();
-- A retry: claimed by this session, failed at once (backoff 0) -> ready again.
INSERT INTO it_late SELECT c.id, 'retry', clock_timestamp() FROM pm_queue.claim('{it-hint}', 'hint-failer', 1) c;
SELECT pm_queue.fail(job_id, 'hint-failer', 'transient') FROM it_late WHERE kind = 'retry'
   AND job_id IN (SELECT id FROM pm_queue.jobs WHERE status = 'running' AND locked_by = 'hint-failer');
UPDATE it_late SET ready_at = clock_timestamp() WHERE kind = 'retry' AND ready_at > clock_timestamp() - interval '1 second';
-- An operator moves the newest queued job to the head of the queue.
WITH moved AS (
    UPDATE pm_queue.jobs SET run_at = now() - interval '2 hours', payload = '{"late": "raw"}'
     WHERE id = (SELECT id FROM pm_queue.jobs WHERE queue_name = 'it-hint' AND status = 'queued'
                    AND payload = '{}' ORDER BY run_at DESC LIMIT 1)
    RETURNING id)
INSERT INTO it_late SELECT id, 'raw', clock_timestamp() FROM moved;
SQL
    sleep 0.4
done
wait "$load" || true
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true
grep -q '^tps' "$work/hint_pgbench.log" && pass "hint workers ran under a held snapshot" ||
    fail "hint workers failed: $(tail -n 3 "$work/hint_pgbench.log")"
check "late jobs of every kind were made ready" \
      "SELECT count(DISTINCT kind) FROM it_late" "4"
check "every late job was claimed again within 5 s of becoming ready (none left behind the hint)" \
      "SELECT count(*) FROM it_late l JOIN pm_queue.jobs j ON j.id = l.job_id
        WHERE j.status <> 'completed' OR j.started_at > l.ready_at + interval '5 seconds'" "0"
check "no job of the hint queue completed twice or lost (attempts: 1, or 2 for retries)" \
      "SELECT count(*) FROM pm_queue.jobs j WHERE queue_name = 'it-hint' AND status = 'completed'
          AND attempt_count <> CASE WHEN id IN (SELECT job_id FROM it_late WHERE kind = 'retry') THEN 2 ELSE 1 END" "0"

echo
if ((failures)); then
    echo "queue_concurrency: $failures check(s) failed; worker logs:"
    tail -n 5 "$work"/worker-*.log 2>/dev/null | head -n 60
    exit 1
fi
echo "queue_concurrency: all checks passed"
