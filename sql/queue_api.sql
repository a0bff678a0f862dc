-- pm_queue: the job life cycle through the API (spec/queue.md), bad input and its SQLSTATEs.
-- Deterministic: no ids or clock readings are printed; intervals are taken inside one
-- transaction, where now() does not move.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_queue CASCADE;
RESET client_min_messages;

-- Job ids differ per run.
SET regress.try_mask = '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}';
SET regress.try_mask_as = '<job>';
\i sql/include/try.psql

-- The seeded queues and their policies.
SELECT name, default_priority, timeout_seconds, max_attempts, is_active, rate_key_prefix,
       backoff_base_ms, backoff_max_ms, backoff_jitter, retain_completed, retain_failed
  FROM pm_queue.job_queues ORDER BY name;

-- Retries of this queue back off by an hour: nothing comes back while the script runs
-- (the schedule itself is tested in queue_retry.sql).
INSERT INTO pm_queue.job_queues (name, timeout_seconds, max_attempts, backoff_base_ms,
                                 backoff_max_ms, backoff_jitter)
VALUES ('regress-life', 30, 3, 3600000, 7200000, 0);

------------------------------------------------------------------------------
-- Claim order: priority first (lower runs sooner), then run_at; future jobs wait.
------------------------------------------------------------------------------
BEGIN;
SELECT count(*) AS enqueued FROM (VALUES
    (pm_queue.enqueue('regress-life', '{"n": "low"}', priority => 500)),
    (pm_queue.enqueue('regress-life', '{"n": "urgent"}', priority => 5)),
    (pm_queue.enqueue('regress-life', '{"n": "later"}', run_at => now() - interval '1 minute')),
    (pm_queue.enqueue('regress-life', '{"n": "earlier"}', run_at => now() - interval '2 minutes')),
    (pm_queue.enqueue('regress-life', '{"n": "future"}', run_at => now() + interval '1 hour'))) v(id);
COMMIT;
SELECT payload ->> 'n' AS job, priority, status, attempt_count, locked_by,
       locked_until - started_at AS lease
  FROM pm_queue.claim('{regress-life}', 'worker-1', 1);
SELECT payload ->> 'n' AS job, priority FROM pm_queue.claim('{regress-life}', 'worker-1', 1);
SELECT payload ->> 'n' AS job, priority FROM pm_queue.claim('{regress-life}', 'worker-1', 1);
SELECT payload ->> 'n' AS job, priority FROM pm_queue.claim('{regress-life}', 'worker-1', 5);
SELECT count(*) AS nothing_ready FROM pm_queue.claim('{regress-life}', 'worker-1', 5);

------------------------------------------------------------------------------
-- Leases: only the holder heartbeats, completes or fails; complete is idempotent for it.
------------------------------------------------------------------------------
CREATE TEMP TABLE held AS
SELECT id, payload ->> 'n' AS job FROM pm_queue.jobs WHERE queue_name = 'regress-life' AND status = 'running';
SELECT job FROM held ORDER BY job;
SELECT pm_queue.heartbeat(id, 'worker-1') AS holder_heartbeat,
       pm_queue.heartbeat(id, 'worker-2') AS other_heartbeat
  FROM held WHERE job = 'urgent';
SELECT pg_temp.try(format('SELECT pm_queue.complete(%L, %L)', id, 'worker-2')) AS other_completes
  FROM held WHERE job = 'urgent';
SELECT pg_temp.try(format('SELECT pm_queue.fail(%L, %L, %L)', id, 'worker-2', 'x')) AS other_fails
  FROM held WHERE job = 'urgent';
SELECT pm_queue.complete(id, 'worker-1', '{"sent": true}') AS completed FROM held WHERE job = 'urgent';
SELECT pm_queue.complete(id, 'worker-1') AS completed_again FROM held WHERE job = 'urgent';
SELECT status, result, locked_by, locked_until IS NULL AS lease_released, completed_at IS NOT NULL AS stamped
  FROM pm_queue.jobs j JOIN held h USING (id) WHERE h.job = 'urgent';
SELECT pm_queue.heartbeat(id, 'worker-1') AS heartbeat_after_completion FROM held WHERE job = 'urgent';
SELECT pg_temp.try('SELECT pm_queue.complete(''00000000-0000-0000-0000-0000000000ff'', ''worker-1'')')
       AS unknown_job;
-- complete_many: the ids this worker held, nothing else.
SELECT count(*) AS completed_many
  FROM pm_queue.complete_many(ARRAY(SELECT id FROM held WHERE job <> 'urgent'), 'worker-1');
SELECT count(*) AS completed_many_again
  FROM pm_queue.complete_many(ARRAY(SELECT id FROM held), 'worker-1');

------------------------------------------------------------------------------
-- Lease expiry: the reaper sends the job through fail(.., 'lease expired'); the late
-- worker's complete is refused.
------------------------------------------------------------------------------
SELECT pm_queue.enqueue('regress-life', '{"n": "slow"}') IS NOT NULL AS enqueued;
SELECT payload ->> 'n' AS job FROM pm_queue.claim('{regress-life}', 'worker-slow', 1);
UPDATE pm_queue.jobs SET locked_until = now() - interval '1 second'
 WHERE queue_name = 'regress-life' AND status = 'running';
SELECT pm_queue.reap_expired() AS reaped;
SELECT pm_queue.reap_expired() AS reaped_again;
SELECT status, attempt_count, last_error_message, locked_by IS NULL AS unlocked
  FROM pm_queue.jobs WHERE payload ->> 'n' = 'slow';
SELECT pg_temp.try(format('SELECT pm_queue.complete(%L, %L)', id, 'worker-slow')) AS late_complete
  FROM pm_queue.jobs WHERE payload ->> 'n' = 'slow';
SELECT l.attempt_number, l.status, l.log_message, l.worker_id, l.duration IS NOT NULL AS timed
  FROM pm_queue.job_logs l JOIN pm_queue.jobs j ON j.id = l.job_id WHERE j.payload ->> 'n' = 'slow';

------------------------------------------------------------------------------
-- Cancel: a queued job is never claimed; a running one's worker is told.
------------------------------------------------------------------------------
SELECT pm_queue.cancel(id) AS cancelled_future FROM pm_queue.jobs WHERE payload ->> 'n' = 'future';
SELECT pm_queue.cancel(id) AS cancelled_twice FROM pm_queue.jobs WHERE payload ->> 'n' = 'future';
UPDATE pm_queue.jobs SET run_at = now() - interval '1 hour' WHERE payload ->> 'n' = 'future';
SELECT count(*) AS cancelled_not_claimed FROM pm_queue.claim('{regress-life}', 'worker-3', 5);
SELECT pm_queue.enqueue('regress-life', '{"n": "doomed"}') IS NOT NULL AS enqueued;
SELECT payload ->> 'n' AS job FROM pm_queue.claim('{regress-life}', 'worker-4', 1);
SELECT pm_queue.cancel(id) AS cancelled_running FROM pm_queue.jobs WHERE payload ->> 'n' = 'doomed';
SELECT pg_temp.try(format('SELECT pm_queue.complete(%L, %L)', id, 'worker-4')) AS complete_cancelled
  FROM pm_queue.jobs WHERE payload ->> 'n' = 'doomed';
SELECT pg_temp.try('SELECT pm_queue.cancel(''00000000-0000-0000-0000-0000000000ff'')') AS cancel_unknown;

------------------------------------------------------------------------------
-- Pause / resume: a paused queue accepts jobs and hands none out.
------------------------------------------------------------------------------
SELECT pm_queue.pause('regress-life') AS paused, pm_queue.pause('regress-life') AS paused_again;
SELECT pm_queue.enqueue('regress-life', '{"n": "while-paused"}') IS NOT NULL AS accepted;
SELECT count(*) AS claimed_while_paused FROM pm_queue.claim('{regress-life}', 'worker-5', 10);
SELECT ready FROM pm_queue.stats WHERE queue_name = 'regress-life';
SELECT pm_queue.resume('regress-life') AS resumed, pm_queue.resume('regress-life') AS resumed_again;
SELECT payload ->> 'n' AS job FROM pm_queue.claim('{regress-life}', 'worker-5', 10) ORDER BY 1;
SELECT pg_temp.try('SELECT pm_queue.pause(''no-such-queue'')') AS pause_unknown;

------------------------------------------------------------------------------
-- Idempotency keys: one job per (queue, tenant, key), the same id every time.
------------------------------------------------------------------------------
SELECT pm_queue.enqueue('regress-life', '{"v": 1}', idempotency_key => 'order-42')
     = pm_queue.enqueue('regress-life', '{"v": 2}', idempotency_key => 'order-42') AS same_id;
SELECT count(*) AS jobs_with_key, min(payload ->> 'v') AS first_payload_kept
  FROM pm_queue.jobs WHERE idempotency_key = 'order-42';
SELECT pm_queue.enqueue('regress-life', '{}', idempotency_key => 'order-42',
                        tenant_id => '11111111-1111-1111-1111-111111111111')
    <> pm_queue.enqueue('regress-life', '{}', idempotency_key => 'order-42') AS other_tenant_other_job;
SELECT count(*) AS returned, count(DISTINCT id) AS distinct_jobs
  FROM pm_queue.enqueue_many('regress-life', ARRAY['{}', '{}', '{}', '{}']::jsonb[],
                             idempotency_keys => ARRAY['order-42', 'b', 'b', NULL]) AS id;
SELECT count(*) AS keyed_jobs FROM pm_queue.jobs
 WHERE queue_name = 'regress-life' AND idempotency_key IN ('order-42', 'b');

------------------------------------------------------------------------------
-- Bad input: clear messages, specific SQLSTATEs.
------------------------------------------------------------------------------
SELECT pg_temp.try('SELECT pm_queue.enqueue(''no-such-queue'', ''{}'')') AS unknown_queue;
SELECT pg_temp.try('SELECT pm_queue.enqueue(''regress-life'', ''{}'', priority => 0)') AS priority_low;
SELECT pg_temp.try('SELECT pm_queue.enqueue(''regress-life'', ''{}'', priority => 1001)') AS priority_high;
SELECT pg_temp.try($$SELECT pm_queue.enqueue('regress-life', jsonb_build_object('body', repeat('x', 70000)))$$)
       AS oversized_payload;
SELECT pg_temp.try($$SELECT pm_queue.enqueue('regress-life', jsonb_build_object('body', repeat('x', 65000)))$$)
       AS payload_under_limit;
SELECT pm_queue.max_payload_bytes();
SELECT pg_temp.try('SELECT pm_queue.enqueue(''regress-life'', NULL)') AS null_payload;
SELECT pg_temp.try('SELECT pm_queue.enqueue(''regress-life'', ''{}'', max_attempts => 0)') AS no_attempts;
SELECT pg_temp.try('SELECT pm_queue.enqueue(''regress-life'', ''{}'', run_at => ''infinity'')') AS infinite_run_at;
SELECT pg_temp.try('SELECT pm_queue.enqueue(''regress-life'', ''{}'', idempotency_key => '''')') AS empty_key;
SELECT pg_temp.try('SELECT pm_queue.enqueue(''regress-life'', ''{}'', rate_key => ''mailbox:42'')') AS bad_mailbox_key;
SELECT pg_temp.try('SELECT pm_queue.enqueue(''email-sending'', ''{}'')') AS send_without_mailbox;
SELECT pg_temp.try('SELECT pm_queue.enqueue(''email-sending'', ''{}'', rate_key => ''domain:x'')') AS send_with_domain_key;
SELECT pg_temp.try('SELECT pm_queue.enqueue_many(''regress-life'', ARRAY[''{}'', NULL]::jsonb[])') AS null_in_batch;
SELECT pg_temp.try('SELECT pm_queue.enqueue_many(''no-such-queue'', ARRAY[''{}'']::jsonb[])') AS batch_unknown_queue;
SELECT pg_temp.try('SELECT pm_queue.claim(''{regress-life,no-such-queue}'', ''w'', 1)') AS claim_unknown_queue;
SELECT pg_temp.try('SELECT pm_queue.claim(''{}'', ''w'', 1)') AS claim_no_queue;
SELECT pg_temp.try('SELECT pm_queue.claim(''{regress-life}'', '''', 1)') AS claim_no_worker;
SELECT pg_temp.try('SELECT pm_queue.claim(''{regress-life}'', ''w'', 0)') AS claim_zero;
SELECT pg_temp.try('SELECT pm_queue.claim(''{regress-life}'', ''w'', 1001)') AS claim_too_many;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.try('SELECT pm_queue.claim(''{regress-life}'', ''w'', 1)') AS claim_repeatable_read;
ROLLBACK;
SELECT pg_temp.try('SELECT pm_queue.prune(0)') AS prune_zero;
SELECT pg_temp.try('SELECT pm_queue.replay_failed(''no-such-queue'')') AS replay_unknown_queue;
SELECT pg_temp.try($$INSERT INTO pm_queue.rate_limits VALUES ('k', 5, '1 month')$$) AS monthly_window;
SELECT pg_temp.try($$INSERT INTO pm_queue.rate_limits VALUES ('k', 5, '0 seconds')$$) AS empty_window;
SELECT pg_temp.try($$INSERT INTO pm_queue.jobs (queue_name, tenant_id, status) VALUES ('regress-life', pm_queue.platform_tenant(), 'done')$$)
       AS bad_status;
SELECT pg_temp.try($$DELETE FROM pm_queue.job_queues WHERE name = 'regress-life'$$) AS drop_busy_queue;
