-- Outage suite, the queue on a cluster of its own: producers enqueue, a worker completes.
-- Each enqueue records its job in the same transaction and each completion records it
-- again, so "lost" and "run twice" can be counted exactly.
\set ON_ERROR_STOP on
-- A lease of a worker that died with its session runs out within seconds.
INSERT INTO pm_queue.job_queues (name, max_attempts, backoff_base_ms, backoff_max_ms, timeout_seconds)
VALUES ('outage-sends', 1000, 100, 1000, 3);
CREATE TABLE outage.enqueued (job_id uuid PRIMARY KEY);
CREATE TABLE outage.done (job_id uuid NOT NULL);

CREATE FUNCTION outage.enqueue_one() RETURNS text LANGUAGE sql AS $$
    INSERT INTO outage.enqueued
    SELECT pm_queue.enqueue('outage-sends', '{"kind": "send"}',
                            tenant_id => 'aaaaaaaa-0000-4000-8000-000000000001')
    RETURNING job_id::text
$$;

CREATE FUNCTION outage.work(max_jobs int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    j record;
    done int := 0;
BEGIN
    FOR j IN SELECT * FROM pm_queue.claim(ARRAY['outage-sends'], 'outage-worker', max_jobs) LOOP
        INSERT INTO outage.done VALUES (j.id);
        PERFORM pm_queue.complete(j.id, 'outage-worker');
        done := done + 1;
    END LOOP;
    RETURN done::text;
END $$;
