-- pm_queue 0.3 -> 0.4: the claim hint's helpers are no longer callable by everyone, and a
-- prepared transaction (2PC) keeps its effect on the claim hints.
--
-- hot_write_begin() / hot_write_end() / note_ready() let a caller write jobs without the
-- hints hearing of it (a job made ready behind the hint waits for the 10 s safety net), and
-- wake_workers() sends NOTIFYs on demand.  The API functions that used them from plpgsql
-- (enqueue_many, heartbeat, complete_many) run as their caller, so the caller needed EXECUTE
-- on them; they are C++ now (src/queue/enqueue.cpp, heartbeat.cpp, complete.cpp) and open
-- their hot-write sections themselves.  EXECUTE on the helpers is revoked from PUBLIC and
-- granted to nobody (the extension's owner keeps it).
--
-- The 2PC part is in the module (src/queue/shared.cpp): nothing to do here.

\echo Use "ALTER EXTENSION pm_queue UPDATE TO '0.4'" to load this file. \quit

-- enqueue_many's checks and INSERT, unchanged, without the hint helpers; each row carries the
-- key the batch became ready at, which the C++ wrapper reports to the hint.  Callable
-- directly: its INSERT then counts as a write outside the API (the hints reset at commit).
CREATE FUNCTION pm_queue.enqueue_many_rows(queue text, payloads jsonb[], priority int DEFAULT NULL,
                                      run_at timestamptz DEFAULT now(),
                                      max_attempts int DEFAULT NULL,
                                      idempotency_keys text[] DEFAULT NULL,
                                      tenant_id uuid DEFAULT pm.current_tenant_id(),
                                      rate_keys text[] DEFAULT NULL)
RETURNS TABLE (id uuid, ready_priority int, ready_at timestamptz)
LANGUAGE plpgsql VOLATILE ROWS 100
AS $fn$
#variable_conflict use_column
DECLARE
    q        pm_queue.job_queues;
    n        int := coalesce(cardinality(enqueue_many_rows.payloads), 0);
    ids      uuid[];
    tenant   uuid := coalesce(enqueue_many_rows.tenant_id, pm_queue.platform_tenant());
    ready_time timestamptz := coalesce(enqueue_many_rows.run_at, now());
    bad      record;
BEGIN
    SELECT * INTO q FROM pm_queue.job_queues jq WHERE jq.name = enqueue_many_rows.queue;
    IF NOT FOUND THEN
        PERFORM pm_queue.raise_unknown_queue(enqueue_many_rows.queue);
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;
    IF n > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('enqueue_many takes at most 10000 payloads, got %s', n);
    END IF;
    IF cardinality(enqueue_many_rows.idempotency_keys) > n OR cardinality(enqueue_many_rows.rate_keys) > n THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'idempotency_keys and rate_keys must not be longer than payloads';
    END IF;
    SELECT p.ord, p.payload, pg_column_size(p.payload) AS size INTO bad
      FROM unnest(enqueue_many_rows.payloads) WITH ORDINALITY AS p(payload, ord)
     WHERE p.payload IS NULL OR pg_column_size(p.payload) > pm_queue.max_payload_bytes()
     ORDER BY p.ord LIMIT 1;
    IF FOUND THEN
        IF bad.payload IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
                MESSAGE = format('payloads[%s] of a job for queue %s must not be NULL', bad.ord, q.name);
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('payloads[%s] of a job for queue %s is %s bytes, the limit is %s', bad.ord,
                             q.name, bad.size, pm_queue.max_payload_bytes()),
            HINT = 'Jobs carry ids and storage keys, not bodies.';
    END IF;
    IF enqueue_many_rows.priority IS NOT NULL AND enqueue_many_rows.priority NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
            MESSAGE = format('priority %s is out of range', enqueue_many_rows.priority),
            DETAIL = 'Priorities run from 1 (runs first) to 1000 (runs last).';
    END IF;
    IF enqueue_many_rows.max_attempts IS NOT NULL AND enqueue_many_rows.max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
            MESSAGE = format('max_attempts %s is out of range (1..1000)', enqueue_many_rows.max_attempts);
    END IF;
    IF NOT isfinite(ready_time) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('run_at must be a finite timestamp, got %s', ready_time);
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(enqueue_many_rows.idempotency_keys) k
                WHERE k = '' OR length(k) > 200) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'idempotency_keys must be 1 to 200 characters';
    END IF;
    PERFORM pm_queue.check_rate_key(k) FROM unnest(enqueue_many_rows.rate_keys) k WHERE k IS NOT NULL;
    IF q.rate_key_prefix IS NOT NULL AND EXISTS (
           SELECT 1 FROM generate_series(1, n) i
            WHERE enqueue_many_rows.rate_keys[i] IS NULL
               OR NOT starts_with(enqueue_many_rows.rate_keys[i], q.rate_key_prefix)) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s jobs need a rate_key starting with %L for every payload',
                             q.name, q.rate_key_prefix);
    END IF;

    ids := ARRAY(SELECT pm_queue.new_job_id() FROM generate_series(1, n));
    IF enqueue_many_rows.idempotency_keys IS NULL THEN
        INSERT INTO pm_queue.jobs (id, queue_name, tenant_id, priority, payload, rate_key,
                                   max_attempts, run_at)
        SELECT ids[i], q.name, tenant, coalesce(enqueue_many_rows.priority, q.default_priority),
               enqueue_many_rows.payloads[i], enqueue_many_rows.rate_keys[i],
               coalesce(enqueue_many_rows.max_attempts, q.max_attempts), ready_time
          FROM generate_series(1, n) i;
        RETURN QUERY SELECT unnest(ids), coalesce(enqueue_many_rows.priority, q.default_priority), ready_time;
        RETURN;
    END IF;

    INSERT INTO pm_queue.jobs (id, queue_name, tenant_id, priority, payload, idempotency_key,
                               rate_key, max_attempts, run_at)
    SELECT ids[i], q.name, tenant, coalesce(enqueue_many_rows.priority, q.default_priority),
           enqueue_many_rows.payloads[i], enqueue_many_rows.idempotency_keys[i], enqueue_many_rows.rate_keys[i],
           coalesce(enqueue_many_rows.max_attempts, q.max_attempts), ready_time
      FROM generate_series(1, n) i
    ON CONFLICT (queue_name, tenant_id, idempotency_key)
       WHERE idempotency_key IS NOT NULL DO NOTHING;
    -- Keyed payloads resolve to whichever job holds the key (this call's or an older one).
    RETURN QUERY
    SELECT CASE WHEN k.key IS NULL THEN ids[k.i]
                ELSE (SELECT j.id FROM pm_queue.jobs j
                       WHERE j.queue_name = q.name AND j.tenant_id = tenant
                         AND j.idempotency_key = k.key) END,
           coalesce(enqueue_many_rows.priority, q.default_priority), ready_time
      FROM (SELECT i, enqueue_many_rows.idempotency_keys[i] AS key FROM generate_series(1, n) i) k
     ORDER BY k.i;
END
$fn$;
COMMENT ON FUNCTION pm_queue.enqueue_many_rows(text, jsonb[], int, timestamptz, int, text[], uuid, text[]) IS
  'enqueue_many() without the claim-hint report: use enqueue_many()';

-- Ids come back in the order of `payloads`; idempotency_keys / rate_keys, when given, are
-- parallel arrays (NULL elements allowed).  One NOTIFY per call.
CREATE OR REPLACE FUNCTION pm_queue.enqueue_many(queue text, payloads jsonb[], priority int DEFAULT NULL,
                                                 run_at timestamptz DEFAULT now(),
                                                 max_attempts int DEFAULT NULL,
                                                 idempotency_keys text[] DEFAULT NULL,
                                                 tenant_id uuid DEFAULT pm.current_tenant_id(),
                                                 rate_keys text[] DEFAULT NULL)
RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'pm_queue_enqueue_many'
LANGUAGE C VOLATILE ROWS 100;

CREATE OR REPLACE FUNCTION pm_queue.heartbeat(job_id uuid, worker_id text) RETURNS boolean
AS 'MODULE_PATHNAME', 'pm_queue_heartbeat'
LANGUAGE C VOLATILE;

-- Batch form for workers that claim many jobs at once: the ids this worker held and has now
-- completed (jobs it does not hold are left alone and not returned).  results, when given,
-- is parallel to job_ids.
CREATE OR REPLACE FUNCTION pm_queue.complete_many(job_ids uuid[], worker_id text, results jsonb[] DEFAULT NULL)
RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'pm_queue_complete_many'
LANGUAGE C VOLATILE ROWS 100;
ALTER FUNCTION pm_queue.complete_many(uuid[], text, jsonb[]) RESET ALL;

REVOKE ALL ON FUNCTION pm_queue.hot_write_begin() FROM PUBLIC;
REVOKE ALL ON FUNCTION pm_queue.hot_write_end() FROM PUBLIC;
REVOKE ALL ON FUNCTION pm_queue.note_ready(text, int, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION pm_queue.wake_workers(text) FROM PUBLIC;
