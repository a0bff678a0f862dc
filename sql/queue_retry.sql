-- pm_queue: retries with capped exponential backoff (jitter 0 makes it exact), dead letters
-- and replay, fixed-window rate budgets, retention.  Intervals are read inside the
-- transaction that set them, where now() does not move.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_queue CASCADE;
RESET client_min_messages;

-- Job ids differ per run.
SET regress.try_mask = '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}';
SET regress.try_mask_as = '<job>';
\i sql/include/try.psql

INSERT INTO pm_queue.job_queues (name, max_attempts, backoff_base_ms, backoff_max_ms, backoff_jitter)
VALUES ('regress-retry', 6, 1000, 5000, 0);

------------------------------------------------------------------------------
-- Backoff: attempt n fails -> retry after min(1000 ms * 2^(n-1), 5000 ms); the 6th failure
-- dead-letters the job.  One transaction: claim, fail, read the delay, make it due again.
------------------------------------------------------------------------------
SELECT pm_queue.enqueue('regress-retry', '{"to": "ann@example.com"}') IS NOT NULL AS enqueued;
CREATE TEMP TABLE schedule (attempt int, status text, delay interval);
CREATE FUNCTION pg_temp.fail_once(worker text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    j pm_queue.jobs;
    st text;
BEGIN
    SELECT * INTO j FROM pm_queue.claim('{regress-retry}', worker, 1);
    st := pm_queue.fail(j.id, worker, 'smtp 451 try later');
    INSERT INTO schedule
    SELECT j.attempt_count, st, CASE WHEN st = 'retry_scheduled' THEN x.run_at - now() END
      FROM pm_queue.jobs x WHERE x.id = j.id;
    UPDATE pm_queue.jobs SET run_at = now() WHERE id = j.id AND status = 'retry_scheduled';
END $$;
BEGIN;
SELECT pg_temp.fail_once('w' || g) FROM generate_series(1, 6) g;
COMMIT;
SELECT * FROM schedule ORDER BY attempt;
SELECT count(*) AS claimable_dead_letter FROM pm_queue.claim('{regress-retry}', 'w7', 1);
SELECT queue_name, status, attempt_count, max_attempts, last_error_message, locked_by,
       failed_at IS NOT NULL AS failed_at_set, locked_until IS NULL AS no_lease
  FROM pm_queue.dead_letter WHERE queue_name = 'regress-retry';
SELECT attempt_number, status, worker_id FROM pm_queue.job_logs
 WHERE queue_name = 'regress-retry' ORDER BY attempt_number;
SELECT failed_24h, retry_scheduled FROM pm_queue.stats WHERE queue_name = 'regress-retry';

-- The SQL-callable backoff itself, at the cap and beyond.
SELECT g AS exponent, pm_queue.backoff_delay(g, 1000, 300000, 0) AS delay
  FROM (VALUES (0), (1), (7), (8), (9), (40), (2147483647)) v(g);
SELECT pg_temp.try('SELECT pm_queue.backoff_delay(0, 2000, 1000, 0)') AS max_below_base;
SELECT pg_temp.try('SELECT pm_queue.backoff_delay(0, 1000, 2000, 1.5)') AS jitter_too_big;
-- Jitter 0.25: every delay within +-25% of the un-jittered one, and not all equal.
SELECT min(d) >= interval '3 seconds' AS within_low, max(d) <= interval '5 seconds' AS within_high,
       count(DISTINCT d) > 1 AS jittered
  FROM (SELECT pm_queue.backoff_delay(2, 1000, 300000, 0.25) AS d FROM generate_series(1, 500)) x;

------------------------------------------------------------------------------
-- Replay: a dead letter back to the queue with fresh attempts.
------------------------------------------------------------------------------
SELECT pm_queue.replay(id) AS replayed FROM pm_queue.dead_letter WHERE queue_name = 'regress-retry';
SELECT status, attempt_count, failed_at IS NULL AS failed_at_cleared, last_error_message
  FROM pm_queue.jobs WHERE queue_name = 'regress-retry';
SELECT pg_temp.try(format('SELECT pm_queue.replay(%L)', id)) AS replay_queued
  FROM pm_queue.jobs WHERE queue_name = 'regress-retry';
SELECT pg_temp.try('SELECT pm_queue.replay(''00000000-0000-0000-0000-0000000000ff'')') AS replay_unknown;
SELECT payload ->> 'to' AS to, attempt_count FROM pm_queue.claim('{regress-retry}', 'w8', 1);
-- Not retryable: straight to the dead letters, whatever attempts are left.
SELECT pm_queue.fail(id, 'w8', 'mailbox does not exist', retryable => false) AS non_retryable
  FROM pm_queue.jobs WHERE queue_name = 'regress-retry';
-- replay_failed: the dead letters of one queue failed since a point in time.
SELECT pm_queue.enqueue_many('regress-retry', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[]) IS NOT NULL AS enqueued;
SELECT pm_queue.fail(id, 'w9', 'hard bounce', false) FROM pm_queue.claim('{regress-retry}', 'w9', 5);
UPDATE pm_queue.jobs SET failed_at = now() - interval '3 days'
 WHERE queue_name = 'regress-retry' AND payload ->> 'n' = '1';
SELECT pm_queue.replay_failed('regress-retry', now() - interval '1 day') AS replayed_recent;
SELECT payload ->> 'n' AS n, status FROM pm_queue.jobs WHERE queue_name = 'regress-retry' ORDER BY 1;
SELECT pm_queue.replay_failed('regress-retry') AS replayed_all;
SELECT count(*) FILTER (WHERE status = 'queued') AS queued, count(*) AS total
  FROM pm_queue.jobs WHERE queue_name = 'regress-retry';

------------------------------------------------------------------------------
-- Rate budgets (fixed windows): a claim takes at most the budget left in the key's window;
-- the rest is deferred to the window's end, never failed; keys without a budget are free.
-- (Windows of 300/366 days: no boundary falls between two statements of this script.)
------------------------------------------------------------------------------
INSERT INTO pm_queue.job_queues (name) VALUES ('regress-rate');
INSERT INTO pm_queue.rate_limits (key, max_per_window, window_len) VALUES
    ('domain:a', 2, '300 days'), ('domain:b', 0, '366 days');
SELECT count(*) AS enqueued FROM pm_queue.enqueue_many('regress-rate',
    array_fill('{}'::jsonb, ARRAY[8]),
    rate_keys => ARRAY['domain:a', 'domain:a', 'domain:a', 'domain:a', 'domain:b', 'free', NULL,
                       'domain:a']);
BEGIN;
SELECT rate_key, count(*) AS claimed FROM pm_queue.claim('{regress-rate}', 'w1', 10)
 GROUP BY 1 ORDER BY 1 NULLS LAST;
SELECT rate_key, status,
       run_at = pm_queue.rate_window_start(now(), CASE rate_key WHEN 'domain:a' THEN interval '300 days'
                                                                ELSE interval '366 days' END)
                + CASE rate_key WHEN 'domain:a' THEN interval '300 days' ELSE interval '366 days' END
           AS deferred_to_window_end,
       count(*)
  FROM pm_queue.jobs WHERE queue_name = 'regress-rate' AND status = 'queued' GROUP BY 1, 2, 3 ORDER BY 1;
SELECT key, used, max_per_window, window_end - window_start AS window_len
  FROM pm_queue.rate_windows WHERE key LIKE 'domain:%' ORDER BY key;
COMMIT;
SELECT count(*) AS over_budget_claims FROM pm_queue.claim('{regress-rate}', 'w2', 10);
-- A budget raised mid-window applies at once; lowered below use, it grants nothing more.
UPDATE pm_queue.rate_limits SET max_per_window = 3 WHERE key = 'domain:a';
UPDATE pm_queue.jobs SET run_at = now() WHERE queue_name = 'regress-rate' AND status = 'queued';
SELECT rate_key, count(*) AS claimed_after_raise FROM pm_queue.claim('{regress-rate}', 'w3', 10) GROUP BY 1;
UPDATE pm_queue.rate_limits SET max_per_window = 1 WHERE key = 'domain:a';
UPDATE pm_queue.jobs SET run_at = now() WHERE queue_name = 'regress-rate' AND status = 'queued';
SELECT count(*) AS claimed_after_cut FROM pm_queue.claim('{regress-rate}', 'w4', 10);
SELECT key, used, max_per_window FROM pm_queue.rate_windows WHERE key = 'domain:a';
SELECT scheduled, running FROM pm_queue.stats WHERE queue_name = 'regress-rate';
-- A claim naming several queues takes the same budget step for its keyed candidates.
UPDATE pm_queue.rate_limits SET max_per_window = 5 WHERE key = 'domain:a';
UPDATE pm_queue.jobs SET run_at = now() WHERE queue_name = 'regress-rate' AND status = 'queued';
SELECT rate_key, count(*) AS claimed_by_multi_queue_claim
  FROM pm_queue.claim('{regress-rate,analytics}', 'w5', 10) GROUP BY 1 ORDER BY 1 NULLS LAST;
SELECT key, used, max_per_window FROM pm_queue.rate_windows WHERE key LIKE 'domain:%' ORDER BY key;
-- Windows are aligned on multiples of their length since 1970-01-01 UTC.
SELECT pm_queue.rate_window_start('2024-03-10 13:45:30.25+00', '1 day') AS day,
       pm_queue.rate_window_start('2024-03-10 13:45:30.25+00', '1 hour') AS hour,
       pm_queue.rate_window_start('2024-03-10 13:45:30.25+00', '15 minutes') AS quarter;
SELECT pm_queue.rate_key_mailbox('mailbox:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') AS mailbox,
       pm_queue.rate_key_mailbox('domain:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') IS NULL AS not_mailbox;

------------------------------------------------------------------------------
-- Retention: prune removes finished jobs past their queue's retention, in batches, and
-- never an unfinished job, however old.
------------------------------------------------------------------------------
INSERT INTO pm_queue.job_queues (name, retain_completed, retain_failed)
VALUES ('regress-prune', '1 day', '30 days');
INSERT INTO pm_queue.jobs (queue_name, tenant_id, status, payload, updated_at, created_at,
                           completed_at, failed_at, cancelled_at)
SELECT 'regress-prune', pm_queue.platform_tenant(), s.status, jsonb_build_object('age', s.age),
       now() - s.age, now() - s.age,
       CASE s.status WHEN 'completed' THEN now() - s.age END,
       CASE s.status WHEN 'failed' THEN now() - s.age END,
       CASE s.status WHEN 'cancelled' THEN now() - s.age END
  FROM (VALUES ('completed', interval '2 days'), ('completed', interval '3 days'),
               ('completed', interval '12 hours'), ('cancelled', interval '2 days'),
               ('failed', interval '10 days'), ('failed', interval '31 days'),
               ('queued', interval '400 days'), ('running', interval '400 days'),
               ('retry_scheduled', interval '400 days')) s(status, age)
 CROSS JOIN generate_series(1, 3);
UPDATE pm_queue.jobs SET locked_by = 'w', locked_until = now() WHERE queue_name = 'regress-prune' AND status = 'running';
INSERT INTO pm_queue.job_logs (job_id, queue_name, attempt_number, status, finished_at)
SELECT id, queue_name, 1, 'failed', updated_at FROM pm_queue.jobs
 WHERE queue_name = 'regress-prune' AND status = 'failed';
SELECT pm_queue.prune(4) AS first_batch;
SELECT count(*) AS finished_left_past_retention FROM pm_queue.jobs
 WHERE queue_name = 'regress-prune' AND status IN ('completed', 'cancelled', 'failed')
   AND coalesce(completed_at, failed_at, cancelled_at)
       < now() - CASE status WHEN 'failed' THEN interval '30 days' ELSE interval '1 day' END;
SELECT pm_queue.prune(100) > 0 AS second_batch;
SELECT pm_queue.prune(100) AS nothing_left;
SELECT status, payload ->> 'age' AS age, count(*) FROM pm_queue.jobs
 WHERE queue_name = 'regress-prune' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS logs_left FROM pm_queue.job_logs WHERE queue_name = 'regress-prune';
