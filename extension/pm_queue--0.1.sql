-- pm_queue 0.1: the jobs store (schema pm_queue).
-- Contract: ../shared/spec/queue.md; design, worker loop and rate-limit algorithm: docs/queue.md.
--
-- Layout, chosen so that claim latency does not depend on how much history the table holds:
--   * one table, pm_queue.jobs, for every state; a job is updated in place through its life
--     (queued -> running -> completed | retry_scheduled | failed | cancelled);
--   * a job is finished when completed_at, failed_at or cancelled_at is set.  Claims read
--     only the partial index jobs_live_idx of unfinished jobs, so 10^6 completed jobs cost a
--     claim nothing; pruning and stats read the partial indexes of finished jobs (one per
--     finishing timestamp).  History costs disk, not latency;
--   * no index mentions status, locked_by, locked_until, started_at, attempt_count or
--     updated_at, the columns a claim changes, so a claim is a HOT update (no index entry
--     written).  HOT needs room on the row's page, and a page's jobs are claimed together
--     (FIFO), before pruning can reclaim anything: fillfactor 50 leaves room for a new
--     version of every row.  A completion writes the new row
--     version's entries in the primary key, jobs_tenant_idx and jobs_completed_idx;
--   * status, priority and the payload bound are CHECKs of domains, not of the table: the
--     executor re-parses a table's CHECK expressions from the catalog on every INSERT and
--     UPDATE statement (measured at ~10% of a claim), a domain's constraints are cached;
--   * rate budgets are counters per (key, window) in pm_queue.rate_windows, consumed at claim
--     time with one INSERT .. ON CONFLICT DO UPDATE per batch.
--
-- Every function is SECURITY INVOKER: pm_app callers stay under the tenant policy on jobs,
-- workers run as pm_service (BYPASSRLS).  Function bodies schema-qualify every object and
-- leave search_path alone (a SET clause would cost every call a GUC save/restore).

\echo Use "CREATE EXTENSION pm_queue" to load this file. \quit

------------------------------------------------------------------------------
-- C++ helpers (src/queue/*.cpp over src/queue/pure/*.cpp)
------------------------------------------------------------------------------

-- Time-ordered uuid (v7): enqueues append to the primary-key index instead of
-- scattering over it.
CREATE FUNCTION pm_queue.new_job_id() RETURNS uuid
AS 'MODULE_PATHNAME', 'pm_queue_new_job_id'
LANGUAGE C VOLATILE PARALLEL SAFE;

-- min(base_ms * 2^exponent, max_ms) * (1 +- jitter); exponent = retries already scheduled.
CREATE FUNCTION pm_queue.backoff_delay(exponent int, base_ms int, max_ms int, jitter real)
RETURNS interval
AS 'MODULE_PATHNAME', 'pm_queue_backoff_delay'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

-- Start of the fixed window (aligned on multiples of its length since 1970-01-01 UTC)
-- containing `at`; months are refused (no fixed length).
CREATE FUNCTION pm_queue.rate_window_start(at timestamptz, window_len interval)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pm_queue_rate_window_start'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The email_account id of a 'mailbox:<uuid>' key, NULL for any other key.  Never raises.
CREATE FUNCTION pm_queue.rate_key_mailbox(key text) RETURNS uuid
AS 'MODULE_PATHNAME', 'pm_queue_rate_key_mailbox'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Raises 22023 naming what is wrong with a rate key.
CREATE FUNCTION pm_queue.check_rate_key(key text) RETURNS void
AS 'MODULE_PATHNAME', 'pm_queue_check_rate_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Documented limits, as functions so the table, the API and the docs share one number.
CREATE FUNCTION pm_queue.max_payload_bytes() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 65536 $$;

-- Jobs enqueued without a tenant (platform maintenance) belong to the nil uuid: tenant_id
-- stays NOT NULL, so the tenant policy and its index hold for every row.
CREATE FUNCTION pm_queue.platform_tenant() RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;

------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------

CREATE TABLE pm_queue.job_queues (
    name                   text PRIMARY KEY
                           CONSTRAINT job_queues_name_format
                           CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    default_priority       int NOT NULL DEFAULT 100 CHECK (default_priority BETWEEN 1 AND 1000),
    is_active              boolean NOT NULL DEFAULT true,
    max_attempts           int NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 1000),
    timeout_seconds        int NOT NULL DEFAULT 60 CHECK (timeout_seconds BETWEEN 1 AND 86400),
    backoff_base_ms        int NOT NULL DEFAULT 1000 CHECK (backoff_base_ms >= 0),
    backoff_max_ms         int NOT NULL DEFAULT 300000,
    backoff_jitter         real NOT NULL DEFAULT 0.25 CHECK (backoff_jitter BETWEEN 0 AND 1),
    max_running_per_tenant int CHECK (max_running_per_tenant >= 1),
    retain_completed       interval NOT NULL DEFAULT '7 days' CHECK (retain_completed >= '0'),
    retain_failed          interval NOT NULL DEFAULT '90 days' CHECK (retain_failed >= '0'),
    -- Jobs of this queue must carry a rate_key with this prefix (email-sending: 'mailbox:'),
    -- so no send can bypass its mailbox budget by omitting the key.
    rate_key_prefix        text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_queues_backoff_order CHECK (backoff_max_ms >= backoff_base_ms)
);
COMMENT ON TABLE pm_queue.job_queues IS 'Queues and their policies; pause/resume flip is_active';

INSERT INTO pm_queue.job_queues (name, default_priority, timeout_seconds, rate_key_prefix) VALUES
    ('email-sending',    100,  30, 'mailbox:'),
    ('email-processing',  75,  60, NULL),
    ('analytics',        150, 300, NULL),
    ('warmup',            75, 120, NULL),
    ('bounce',            75,  60, NULL),
    ('webhook',          100,  15, NULL),
    ('notifications',    100,  60, NULL),
    ('maintenance',      100,  60, NULL),
    ('import-export',    100,  60, NULL);

CREATE DOMAIN pm_queue.job_status AS text
    CONSTRAINT job_status_check
    CHECK (VALUE IN ('queued', 'retry_scheduled', 'migrated_to_redis', 'running', 'completed',
                     'failed', 'cancelled'));
CREATE DOMAIN pm_queue.job_priority AS int
    CONSTRAINT job_priority_check CHECK (VALUE BETWEEN 1 AND 1000);
-- 65536 = pm_queue.max_payload_bytes(), as a literal: the SQL function would run un-inlined.
CREATE DOMAIN pm_queue.job_payload AS jsonb
    CONSTRAINT job_payload_size CHECK (pg_column_size(VALUE) <= 65536);

CREATE TABLE pm_queue.jobs (
    id                 uuid PRIMARY KEY DEFAULT pm_queue.new_job_id(),
    -- -> job_queues (name), enforced by enqueue()/enqueue_many() and by a guard on
    -- job_queues rather than by a FOREIGN KEY: the FK check locks the queue's row (KEY SHARE)
    -- on every insert, which measured at ~60% of the cost of an enqueue.
    queue_name         text NOT NULL,
    tenant_id          uuid NOT NULL DEFAULT coalesce(pm.current_tenant_id(), pm_queue.platform_tenant()),
    status             pm_queue.job_status NOT NULL DEFAULT 'queued',
    priority           pm_queue.job_priority NOT NULL DEFAULT 100,
    payload            pm_queue.job_payload NOT NULL DEFAULT '{}',
    idempotency_key    text,
    rate_key           text,
    attempt_count      int NOT NULL DEFAULT 0,
    max_attempts       int NOT NULL DEFAULT 3,
    run_at             timestamptz NOT NULL DEFAULT now(),
    locked_by          text,
    locked_until       timestamptz,
    started_at         timestamptz,
    completed_at       timestamptz,
    failed_at          timestamptz,
    cancelled_at       timestamptz,
    last_error_message text,
    result             jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50,
        autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05,
        autovacuum_analyze_scale_factor = 0.02);
-- Only the contract's CHECKs (status, priority, payload size, as domains): the other
-- invariants (attempts, key lengths, leases, a finished job's timestamp) are upheld by the
-- functions that write jobs.  A job in a finished status must carry its timestamp
-- (completed_at / failed_at / cancelled_at): that is what the indexes below go by.
COMMENT ON TABLE pm_queue.jobs IS
  'Jobs in every state; metadata and ids/storage keys only, never bodies (payload <= 64 KiB)';

-- The hot set: unfinished jobs (ready, scheduled, running).  A claim walks this index in
-- (priority, run_at) order from the claim hint, skipping running ones, and stops after
-- max_jobs ready entries, whatever the size of the table.  The lease reaper and the
-- running counts read it too.
CREATE INDEX jobs_live_idx ON pm_queue.jobs (queue_name, priority, run_at)
    WHERE completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL;
-- History, one index per finishing timestamp: prune by age, stats over the last minutes,
-- dead letters.
CREATE INDEX jobs_completed_idx ON pm_queue.jobs (queue_name, completed_at)
    WHERE completed_at IS NOT NULL;
CREATE INDEX jobs_failed_idx ON pm_queue.jobs (queue_name, failed_at)
    WHERE failed_at IS NOT NULL;
CREATE INDEX jobs_cancelled_idx ON pm_queue.jobs (queue_name, cancelled_at)
    WHERE cancelled_at IS NOT NULL;
-- The tenant policy as an index condition.  completed_at last: a tenant's unfinished jobs of
-- a queue (the running count of max_running_per_tenant) are the range completed_at IS NULL,
-- without walking its history.  A claim does not change these columns.
CREATE INDEX jobs_tenant_idx ON pm_queue.jobs (tenant_id, queue_name, completed_at);
-- One job per idempotency key and tenant within a queue.  Per tenant, not global: a global
-- key would let one tenant learn that another used a key, and block its enqueue.
CREATE UNIQUE INDEX jobs_idempotency_key ON pm_queue.jobs (queue_name, tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The reference jobs.queue_name -> job_queues.name, from the parent's side: a queue that
-- still has jobs can be neither renamed nor deleted.
CREATE FUNCTION pm_queue.guard_queue_in_use() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.name IS DISTINCT FROM OLD.name)
       AND EXISTS (SELECT 1 FROM pm_queue.jobs j WHERE j.queue_name = OLD.name) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = format('queue %L still has jobs', OLD.name),
            HINT = 'Cancel or prune its jobs first (pm_queue.prune removes finished ones '
                   'past retention).';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;
CREATE TRIGGER guard_queue_in_use BEFORE UPDATE OF name OR DELETE ON pm_queue.job_queues
    FOR EACH ROW EXECUTE FUNCTION pm_queue.guard_queue_in_use();

-- Writes to jobs outside the API's hot-write sections (an operator's UPDATE, fail(),
-- replay(), ...) may put ready jobs anywhere in jobs_live_idx: they reset the claim hints
-- of the database at commit, and the next claim of each queue scans from the start.
-- FOR EACH STATEMENT: one call per statement, never per job.
CREATE FUNCTION pm_queue.jobs_written() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_queue_jobs_written'
LANGUAGE C VOLATILE;
CREATE TRIGGER jobs_written BEFORE INSERT OR UPDATE ON pm_queue.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION pm_queue.jobs_written();

-- One row per unsuccessful attempt (retry, failed, lease expired).  A successful attempt
-- is recorded on the job row itself (started_at, completed_at, locked_by, result).
CREATE TABLE pm_queue.job_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id         uuid NOT NULL,
    queue_name     text NOT NULL,
    attempt_number int NOT NULL,
    status         text NOT NULL CHECK (status IN ('attempting', 'success', 'retry', 'failed')),
    log_message    text,
    worker_id      text,
    started_at     timestamptz,
    finished_at    timestamptz NOT NULL DEFAULT now(),
    duration       interval
);
CREATE INDEX job_logs_job_idx ON pm_queue.job_logs (job_id);
CREATE INDEX job_logs_queue_finished_idx ON pm_queue.job_logs (queue_name, finished_at);
COMMENT ON TABLE pm_queue.job_logs IS 'Unsuccessful attempts; pruned with their jobs';

CREATE TABLE pm_queue.rate_limits (
    key            text PRIMARY KEY CHECK (key <> '' AND length(key) <= 200),
    max_per_window int NOT NULL CHECK (max_per_window >= 0),
    window_len     interval NOT NULL
                   CONSTRAINT rate_limits_window_len
                   CHECK (pm_queue.rate_window_start('2000-01-01 00:00:00+00', window_len) IS NOT NULL),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pm_queue.rate_limits IS
  'Budgets per rate key (fixed windows); mailbox:<id> defaults to email_accounts.daily_limit per UTC day';

-- Consumption counters: one row per key and window, written by claim() only.
CREATE TABLE pm_queue.rate_windows (
    key            text NOT NULL,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    max_per_window int NOT NULL,
    used           int NOT NULL,
    last_grant     int NOT NULL,
    PRIMARY KEY (key, window_start)
-- Every claim of a key updates its row: room on the page keeps those updates HOT.  No
-- CHECK: claim() is the only writer, and a table CHECK costs every upsert a re-parse.
) WITH (fillfactor = 50);
CREATE INDEX rate_windows_end_idx ON pm_queue.rate_windows (window_end);
COMMENT ON TABLE pm_queue.rate_windows IS
  'Claims per rate key and window (used never exceeds max_per_window at claim time)';

------------------------------------------------------------------------------
-- Error helpers (only on error paths)
------------------------------------------------------------------------------

CREATE FUNCTION pm_queue.raise_unknown_queue(queue text) RETURNS void
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
        MESSAGE = format('unknown queue %s', coalesce(quote_literal(queue), 'NULL')),
        HINT = 'Known queues: ' || coalesce((SELECT string_agg(q.name, ', ' ORDER BY q.name)
                                             FROM pm_queue.job_queues q), 'none');
END
$fn$;

-- Why a worker may not complete/fail a job.  Returns false (instead of raising) only when a
-- worker repeats the complete() it already made: a retried network call is not an error.
CREATE FUNCTION pm_queue.check_not_held(job_id uuid, worker_id text, action text)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    st     text;
    holder text;
BEGIN
    SELECT j.status, j.locked_by INTO st, holder FROM pm_queue.jobs j WHERE j.id = check_not_held.job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('job %s does not exist', coalesce(job_id::text, 'NULL')),
            HINT = 'It was never enqueued, was pruned, or belongs to another tenant.';
    END IF;
    IF action = 'complete' AND st = 'completed' AND holder = worker_id THEN
        RETURN false;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('cannot %s job %s: worker %s does not hold its lease',
                         action, job_id, coalesce(quote_literal(worker_id), 'NULL')),
        DETAIL = format('The job is %s%s.', st,
                        CASE WHEN st = 'running' THEN ' under worker ' || quote_literal(holder)
                             ELSE '' END),
        HINT = 'The lease expired (heartbeat more often) or the job was cancelled; drop this '
               'attempt''s result, another attempt owns the job now.';
END
$fn$;

------------------------------------------------------------------------------
-- Enqueue
------------------------------------------------------------------------------

-- NOTIFY pm_queue (payload: the queue name) when a worker of the queue came back from claim()
-- empty-handed since the last notifying commit (a flag per queue in shared memory, see
-- docs/queue.md).  A worker only waits after a claim that returned less than it asked for,
-- and a woken worker claims until the queue is empty again, so other enqueues have nobody
-- to wake.  Skipping those notifications matters: NOTIFY takes a database-wide lock held
-- through commit, which serialises the commits of every notifying transaction.
CREATE FUNCTION pm_queue.wake_workers(queue text) RETURNS void
AS 'MODULE_PATHNAME', 'pm_queue_wake_workers'
LANGUAGE C VOLATILE;

-- Hot-write sections: writes to jobs made by the API report their effect on the claim hint
-- themselves (note_ready); any other INSERT or UPDATE of jobs resets the hints at commit
-- (trigger jobs_written below).
CREATE FUNCTION pm_queue.hot_write_begin() RETURNS void
AS 'MODULE_PATHNAME', 'pm_queue_hot_write_begin'
LANGUAGE C VOLATILE;
CREATE FUNCTION pm_queue.hot_write_end() RETURNS void
AS 'MODULE_PATHNAME', 'pm_queue_hot_write_end'
LANGUAGE C VOLATILE;
-- Ends a hot-write section that made jobs of `queue` ready at (priority, run_at) or later.
CREATE FUNCTION pm_queue.note_ready(queue text, priority int, run_at timestamptz) RETURNS void
AS 'MODULE_PATHNAME', 'pm_queue_note_ready'
LANGUAGE C VOLATILE;

-- Why enqueue() inserted nothing for a queue: unknown, or a rate key its queue requires is
-- missing.  Returns when neither (then the row exists already: idempotency).
CREATE FUNCTION pm_queue.check_enqueue(queue text, rate_key text) RETURNS void
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    prefix text;
BEGIN
    SELECT q.rate_key_prefix INTO prefix FROM pm_queue.job_queues q WHERE q.name = check_enqueue.queue;
    IF NOT FOUND THEN
        PERFORM pm_queue.raise_unknown_queue(queue);
    END IF;
    IF prefix IS NOT NULL AND (rate_key IS NULL OR NOT starts_with(rate_key, prefix)) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s jobs need a rate_key starting with %L, got %s', queue,
                             prefix, coalesce(quote_literal(rate_key), 'NULL')),
            HINT = format('Pass rate_key => %L || <id>: the budget is enforced at claim time.',
                          prefix);
    END IF;
END
$fn$;

-- C++ (src/queue/enqueue.cpp): arguments checked in C++, then one INSERT planned once per
-- backend that reads the queue's defaults and rate-key rule itself; when it inserts nothing,
-- check_enqueue() says why (or the idempotency key is taken: the holder's id is returned).
CREATE FUNCTION pm_queue.enqueue(queue text, payload jsonb, priority int DEFAULT NULL,
                                 run_at timestamptz DEFAULT now(), max_attempts int DEFAULT NULL,
                                 idempotency_key text DEFAULT NULL,
                                 tenant_id uuid DEFAULT pm.current_tenant_id(),
                                 rate_key text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'pm_queue_enqueue'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION pm_queue.enqueue(text, jsonb, int, timestamptz, int, text, uuid, text) IS
  'Adds a job (same idempotency key -> the existing id); NOTIFY pm_queue with the queue name';

-- Ids come back in the order of `payloads`; idempotency_keys / rate_keys, when given, are
-- parallel arrays (NULL elements allowed).  One NOTIFY per call.
CREATE FUNCTION pm_queue.enqueue_many(queue text, payloads jsonb[], priority int DEFAULT NULL,
                                      run_at timestamptz DEFAULT now(),
                                      max_attempts int DEFAULT NULL,
                                      idempotency_keys text[] DEFAULT NULL,
                                      tenant_id uuid DEFAULT pm.current_tenant_id(),
                                      rate_keys text[] DEFAULT NULL)
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE ROWS 100
AS $fn$
#variable_conflict use_column
DECLARE
    q        pm_queue.job_queues;
    n        int := coalesce(cardinality(enqueue_many.payloads), 0);
    ids      uuid[];
    tenant   uuid := coalesce(enqueue_many.tenant_id, pm_queue.platform_tenant());
    ready_at timestamptz := coalesce(enqueue_many.run_at, now());
    bad      record;
BEGIN
    SELECT * INTO q FROM pm_queue.job_queues jq WHERE jq.name = enqueue_many.queue;
    IF NOT FOUND THEN
        PERFORM pm_queue.raise_unknown_queue(enqueue_many.queue);
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;
    IF n > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('enqueue_many takes at most 10000 payloads, got %s', n);
    END IF;
    IF cardinality(enqueue_many.idempotency_keys) > n OR cardinality(enqueue_many.rate_keys) > n THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'idempotency_keys and rate_keys must not be longer than payloads';
    END IF;
    SELECT p.ord, p.payload, pg_column_size(p.payload) AS size INTO bad
      FROM unnest(enqueue_many.payloads) WITH ORDINALITY AS p(payload, ord)
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
    IF enqueue_many.priority IS NOT NULL AND enqueue_many.priority NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
            MESSAGE = format('priority %s is out of range', enqueue_many.priority),
            DETAIL = 'Priorities run from 1 (runs first) to 1000 (runs last).';
    END IF;
    IF enqueue_many.max_attempts IS NOT NULL AND enqueue_many.max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
            MESSAGE = format('max_attempts %s is out of range (1..1000)', enqueue_many.max_attempts);
    END IF;
    IF NOT isfinite(ready_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('run_at must be a finite timestamp, got %s', ready_at);
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(enqueue_many.idempotency_keys) k
                WHERE k = '' OR length(k) > 200) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'idempotency_keys must be 1 to 200 characters';
    END IF;
    PERFORM pm_queue.check_rate_key(k) FROM unnest(enqueue_many.rate_keys) k WHERE k IS NOT NULL;
    IF q.rate_key_prefix IS NOT NULL AND EXISTS (
           SELECT 1 FROM generate_series(1, n) i
            WHERE enqueue_many.rate_keys[i] IS NULL
               OR NOT starts_with(enqueue_many.rate_keys[i], q.rate_key_prefix)) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s jobs need a rate_key starting with %L for every payload',
                             q.name, q.rate_key_prefix);
    END IF;

    ids := ARRAY(SELECT pm_queue.new_job_id() FROM generate_series(1, n));
    PERFORM pm_queue.hot_write_begin();
    IF enqueue_many.idempotency_keys IS NULL THEN
        INSERT INTO pm_queue.jobs (id, queue_name, tenant_id, priority, payload, rate_key,
                                   max_attempts, run_at)
        SELECT ids[i], q.name, tenant, coalesce(enqueue_many.priority, q.default_priority),
               enqueue_many.payloads[i], enqueue_many.rate_keys[i],
               coalesce(enqueue_many.max_attempts, q.max_attempts), ready_at
          FROM generate_series(1, n) i;
        PERFORM pm_queue.note_ready(q.name, coalesce(enqueue_many.priority, q.default_priority), ready_at);
        IF ready_at <= now() THEN
            PERFORM pm_queue.wake_workers(q.name);
        END IF;
        RETURN QUERY SELECT unnest(ids);
        RETURN;
    END IF;

    INSERT INTO pm_queue.jobs (id, queue_name, tenant_id, priority, payload, idempotency_key,
                               rate_key, max_attempts, run_at)
    SELECT ids[i], q.name, tenant, coalesce(enqueue_many.priority, q.default_priority),
           enqueue_many.payloads[i], enqueue_many.idempotency_keys[i], enqueue_many.rate_keys[i],
           coalesce(enqueue_many.max_attempts, q.max_attempts), ready_at
      FROM generate_series(1, n) i
    ON CONFLICT (queue_name, tenant_id, idempotency_key)
       WHERE idempotency_key IS NOT NULL DO NOTHING;
    PERFORM pm_queue.note_ready(q.name, coalesce(enqueue_many.priority, q.default_priority), ready_at);
    IF ready_at <= now() THEN
        PERFORM pm_queue.wake_workers(q.name);
    END IF;
    -- Keyed payloads resolve to whichever job holds the key (this call's or an older one).
    RETURN QUERY
    SELECT CASE WHEN k.key IS NULL THEN ids[k.i]
                ELSE (SELECT j.id FROM pm_queue.jobs j
                       WHERE j.queue_name = q.name AND j.tenant_id = tenant
                         AND j.idempotency_key = k.key) END
      FROM (SELECT i, enqueue_many.idempotency_keys[i] AS key FROM generate_series(1, n) i) k
     ORDER BY k.i;
END
$fn$;

------------------------------------------------------------------------------
-- Claim
------------------------------------------------------------------------------

-- Daily budgets of mailboxes when pm_oltp shares this database (NULL daily_limit: no
-- budget); nothing in a database of its own.  One call per claim round, whatever the
-- number of keys.
CREATE FUNCTION pm_queue.mailbox_limits(ids uuid[])
RETURNS TABLE(mailbox_id uuid, daily_limit int)
LANGUAGE plpgsql STABLE ROWS 100
AS $fn$
BEGIN
    IF cardinality(ids) > 0 AND to_regclass('pm_oltp.email_accounts') IS NOT NULL THEN
        RETURN QUERY
        SELECT a.id, a.daily_limit FROM pm_oltp.email_accounts a
         WHERE a.id = ANY (ids) AND a.daily_limit IS NOT NULL;
    END IF;
END
$fn$;

-- The budget of each key: a pm_queue.rate_limits row, else the mailbox's daily_limit per
-- UTC day; keys with neither are unlimited (no row).
CREATE FUNCTION pm_queue.rate_budgets(keys text[])
RETURNS TABLE(key text, max_per_window int, window_len interval)
LANGUAGE plpgsql STABLE ROWS 100
AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT k.key, coalesce(r.max_per_window, m.daily_limit), coalesce(r.window_len, interval '1 day')
      FROM unnest(rate_budgets.keys) AS k(key)
      LEFT JOIN pm_queue.rate_limits r ON r.key = k.key
      LEFT JOIN pm_queue.mailbox_limits(ARRAY(SELECT pm_queue.rate_key_mailbox(x)
                                                FROM unnest(rate_budgets.keys) x
                                               WHERE x LIKE 'mailbox:%')) m
             ON r.key IS NULL AND m.mailbox_id = pm_queue.rate_key_mailbox(k.key)
     WHERE r.key IS NOT NULL OR m.mailbox_id IS NOT NULL;
END
$fn$;

-- The slow path of claim(), for queues with max_running_per_tenant: which locked candidates
-- may run now.  Side effects: consumes rate budget for the jobs it admits and moves
-- over-budget jobs to the end of their window.  Claimers of one (queue, tenant) are
-- serialised with a transaction-scoped advisory lock taken with pg_try_*: a pair another
-- claimer is admitting right now is skipped this time (its jobs stay ready), so claims never
-- wait for each other and cannot deadlock.  Running jobs are counted by a statement that
-- starts after the lock is held, so it sees every earlier holder's commit.
CREATE FUNCTION pm_queue.admit(c_id uuid[], c_tenant uuid[], c_queue text[], c_key text[],
                               capped text[])
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    blocked uuid[] := '{}';
    p_queue text[];
    p_tenant uuid[];
    p_ok    boolean[];
    l_key   text[];
    l_len   interval[];
    l_max   int[];
    l_ok    boolean[];
    g_key   text[];
    g_n     int[];
    take    uuid[];
    d_id    uuid[];
    d_until timestamptz[];
BEGIN
    IF capped IS NOT NULL THEN
        SELECT array_agg(p.queue_name), array_agg(p.tenant_id),
               array_agg(pg_try_advisory_xact_lock(7368049, hashtext(p.queue_name || '/' || p.tenant_id)))
          INTO p_queue, p_tenant, p_ok
          FROM (SELECT DISTINCT c.queue_name, c.tenant_id
                  FROM unnest(c_queue, c_tenant) AS c(queue_name, tenant_id)
                 WHERE c.queue_name = ANY (capped)
                 ORDER BY 1, 2) p;
        IF p_queue IS NOT NULL THEN
            SELECT coalesce(array_agg(x.id), '{}') INTO blocked
              FROM (SELECT c.id, p.ok, p.room,
                           row_number() OVER (PARTITION BY c.queue_name, c.tenant_id ORDER BY c.ord) AS rn
                      FROM unnest(c_id, c_queue, c_tenant) WITH ORDINALITY AS c(id, queue_name, tenant_id, ord)
                      JOIN (SELECT u.queue_name, u.tenant_id, u.ok,
                                   q.max_running_per_tenant
                                   - (SELECT count(*) FROM pm_queue.jobs r
                                       WHERE r.tenant_id = u.tenant_id AND r.queue_name = u.queue_name
                                         AND r.completed_at IS NULL AND r.failed_at IS NULL
                                         AND r.cancelled_at IS NULL
                                         AND r.status = 'running') AS room
                              FROM unnest(p_queue, p_tenant, p_ok) AS u(queue_name, tenant_id, ok)
                              JOIN pm_queue.job_queues q ON q.name = u.queue_name) p
                        ON p.queue_name = c.queue_name AND p.tenant_id = c.tenant_id) x
             WHERE NOT x.ok OR x.rn > x.room;
        END IF;
    END IF;

    IF EXISTS (SELECT 1 FROM unnest(c_key, c_id) AS c(key, id)
                WHERE c.key IS NOT NULL AND c.id <> ALL (blocked)) THEN
        SELECT array_agg(b.key), array_agg(b.window_len), array_agg(b.max_per_window),
               array_agg(pg_try_advisory_xact_lock(7368050, hashtext(b.key)))
          INTO l_key, l_len, l_max, l_ok
          FROM pm_queue.rate_budgets(ARRAY(
                   SELECT DISTINCT c.key FROM unnest(c_key, c_id) AS c(key, id)
                    WHERE c.key IS NOT NULL AND c.id <> ALL (blocked))) b;
        IF l_key IS NOT NULL THEN
            WITH need AS (
                SELECT l.key, l.len, l.max, count(*)::int AS n
                  FROM unnest(l_key, l_len, l_max, l_ok) AS l(key, len, max, ok)
                  JOIN unnest(c_key, c_id) AS c(key, id) ON c.key = l.key
                 WHERE l.ok AND c.id <> ALL (blocked)
                 GROUP BY 1, 2, 3
            ), granted AS (
                INSERT INTO pm_queue.rate_windows AS w
                       (key, window_start, window_end, max_per_window, used, last_grant)
                SELECT need.key, s.ws, s.ws + need.len, need.max, least(need.n, need.max),
                       least(need.n, need.max)
                  FROM need CROSS JOIN LATERAL
                       (SELECT pm_queue.rate_window_start(now(), need.len) AS ws) s
                ON CONFLICT (key, window_start) DO UPDATE
                   SET used = w.used + least(excluded.last_grant,
                                             greatest(excluded.max_per_window - w.used, 0)),
                       last_grant = least(excluded.last_grant,
                                          greatest(excluded.max_per_window - w.used, 0)),
                       max_per_window = excluded.max_per_window
                 WHERE w.used < excluded.max_per_window
                RETURNING w.key, w.last_grant
            )
            SELECT array_agg(granted.key), array_agg(granted.last_grant) INTO g_key, g_n
              FROM granted;
        END IF;
    END IF;

    SELECT coalesce(array_agg(x.id) FILTER (WHERE x.verdict = 'take'), '{}'),
           array_agg(x.id) FILTER (WHERE x.verdict = 'defer'),
           array_agg(x.until) FILTER (WHERE x.verdict = 'defer')
      INTO take, d_id, d_until
      FROM (SELECT c.id,
                   CASE WHEN c.id = ANY (blocked) THEN 'skip'
                        WHEN l.key IS NULL THEN 'take'
                        WHEN NOT l.ok THEN 'skip'
                        WHEN row_number() OVER (PARTITION BY c.key, c.id = ANY (blocked)
                                                ORDER BY c.ord) <= coalesce(g.n, 0) THEN 'take'
                        ELSE 'defer' END AS verdict,
                   pm_queue.rate_window_start(now(), l.len) + l.len AS until
              FROM unnest(c_id, c_key) WITH ORDINALITY AS c(id, key, ord)
              LEFT JOIN unnest(l_key, l_len, l_ok) AS l(key, len, ok) ON l.key = c.key
              LEFT JOIN unnest(g_key, g_n) AS g(key, n) ON g.key = c.key) x;

    IF d_id IS NOT NULL THEN
        UPDATE pm_queue.jobs j SET run_at = d_until[array_position(d_id, j.id)], updated_at = now()
         WHERE j.id = ANY (d_id);
    END IF;
    RETURN take;
END
$fn$;

-- C++ (src/queue/claim.cpp).  Queues without a per-tenant cap: rounds of a locking
-- statement (the first `want` ready jobs in (priority, run_at) order, SKIP LOCKED) and a
-- lease statement (consumes the budgets of rate-keyed candidates, one upsert per key and
-- window, defers the over-budget ones to their window's end, probes the claim hint).  The
-- scan starts at the queue's claim hint (shared
-- memory): claimed jobs stay at the head of jobs_live_idx while they run and leave dead
-- entries there once finished, which vacuum cannot remove while any session holds an older
-- snapshot; the hint lets the btree descent skip both (docs/queue.md).  Queues with max_running_per_tenant: claim_capped().
CREATE FUNCTION pm_queue.claim(queues text[], worker_id text, max_jobs int DEFAULT 1)
RETURNS SETOF pm_queue.jobs
AS 'MODULE_PATHNAME', 'pm_queue_claim'
LANGUAGE C VOLATILE ROWS 10;

COMMENT ON FUNCTION pm_queue.claim(text[], text, int) IS
  'Leases up to max_jobs ready jobs (priority, then run_at) honouring is_active, '
  'max_running_per_tenant and rate budgets; SKIP LOCKED';

-- claim() for queues with max_running_per_tenant: candidates first, then admission (caps
-- and rate budgets) in pm_queue.admit().  Called by claim() with the jobs still wanted.
CREATE FUNCTION pm_queue.claim_capped(queues text[], worker_id text, want int)
RETURNS SETOF pm_queue.jobs
LANGUAGE plpgsql VOLATILE ROWS 10
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
DECLARE
    n_claimed  int := 0;
    rounds     int := 0;
    seen       uuid[] := '{}';
    j          pm_queue.jobs;
    capped     text[];
    c_id       uuid[];
    c_tenant   uuid[];
    c_queue    text[];
    c_key      text[];
    take       uuid[];
    max_jobs   int := claim_capped.want;
BEGIN
    -- Queues with max_running_per_tenant: candidates first, then admission (caps and rate
    -- budgets) in pm_queue.admit().
    SELECT array_agg(q.name ORDER BY q.name) INTO capped
      FROM pm_queue.job_queues q
     WHERE q.name = ANY (claim_capped.queues) AND q.is_active AND q.max_running_per_tenant IS NOT NULL;
    LOOP
        rounds := rounds + 1;
        SELECT array_agg(c.id ORDER BY c.priority, c.run_at),
               array_agg(c.tenant_id ORDER BY c.priority, c.run_at),
               array_agg(c.queue_name ORDER BY c.priority, c.run_at),
               array_agg(c.rate_key ORDER BY c.priority, c.run_at)
          INTO c_id, c_tenant, c_queue, c_key
          FROM (SELECT c.*
                  FROM unnest(capped) AS a(name)
                 CROSS JOIN LATERAL (
                       SELECT jb.id, jb.tenant_id, jb.queue_name, jb.rate_key, jb.priority, jb.run_at
                         FROM pm_queue.jobs jb
                        WHERE jb.queue_name = a.name
                          AND jb.completed_at IS NULL AND jb.failed_at IS NULL
                          AND jb.cancelled_at IS NULL
                          AND jb.status IN ('queued', 'retry_scheduled')
                          AND jb.run_at <= now()
                          AND jb.id <> ALL (seen)
                        ORDER BY jb.priority, jb.run_at
                        LIMIT want
                          FOR UPDATE SKIP LOCKED) c
                 ORDER BY c.priority, c.run_at
                 LIMIT want) c;
        EXIT WHEN c_id IS NULL;
        take := pm_queue.admit(c_id, c_tenant, c_queue, c_key, capped);
        FOR j IN
            UPDATE pm_queue.jobs jb
               SET status = 'running', locked_by = claim_capped.worker_id,
                   locked_until = now() + (SELECT q.timeout_seconds FROM pm_queue.job_queues q
                                            WHERE q.name = jb.queue_name) * interval '1 second',
                   attempt_count = jb.attempt_count + 1, started_at = now(), updated_at = now()
             WHERE jb.id = ANY (take)
            RETURNING jb.*
        LOOP
            n_claimed := n_claimed + 1;
            RETURN NEXT j;
        END LOOP;
        EXIT WHEN n_claimed >= max_jobs OR cardinality(c_id) < want OR rounds >= 8;
        seen := seen || c_id;
        want := max_jobs - n_claimed;
    END LOOP;
END
$fn$;


------------------------------------------------------------------------------
-- Leases and outcomes
------------------------------------------------------------------------------

CREATE FUNCTION pm_queue.heartbeat(job_id uuid, worker_id text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $fn$
#variable_conflict use_column
DECLARE
    found_it boolean;
BEGIN
    -- A lease extension leaves the ready set alone: no hint reset (see hot_write_begin).
    PERFORM pm_queue.hot_write_begin();
    UPDATE pm_queue.jobs j
       SET locked_until = now() + q.timeout_seconds * interval '1 second', updated_at = now()
      FROM pm_queue.job_queues q
     WHERE j.id = heartbeat.job_id AND j.status = 'running' AND j.locked_by = heartbeat.worker_id
       AND q.name = j.queue_name;
    found_it := FOUND;
    PERFORM pm_queue.hot_write_end();
    RETURN found_it;
END
$fn$;

-- C++ (src/queue/complete.cpp): one primary-key UPDATE planned once per backend;
-- check_not_held() explains a refusal (false for the holder repeating its complete()).
CREATE FUNCTION pm_queue.complete(job_id uuid, worker_id text, result jsonb DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pm_queue_complete'
LANGUAGE C VOLATILE;

-- Batch form for workers that claim many jobs at once: the ids this worker held and has now
-- completed (jobs it does not hold are left alone and not returned).  results, when given,
-- is parallel to job_ids.
-- (Generic plans: with the ids spelled out, the planner likes to AND the primary key with the
-- partial index of running jobs, which costs a scan of that whole index per call.)
CREATE FUNCTION pm_queue.complete_many(job_ids uuid[], worker_id text, results jsonb[] DEFAULT NULL)
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE ROWS 100
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
BEGIN
    -- Completions leave the ready set alone: no hint reset (see hot_write_begin).
    PERFORM pm_queue.hot_write_begin();
    IF complete_many.results IS NULL THEN
        RETURN QUERY
        UPDATE pm_queue.jobs j
           SET status = 'completed', completed_at = now(), updated_at = now(), locked_until = NULL
         WHERE j.id = ANY (complete_many.job_ids) AND j.status = 'running'
           AND j.locked_by = complete_many.worker_id
        RETURNING j.id;
    ELSE
        RETURN QUERY
        UPDATE pm_queue.jobs j
           SET status = 'completed', completed_at = now(), updated_at = now(), locked_until = NULL,
               result = complete_many.results[array_position(complete_many.job_ids, j.id)]
         WHERE j.id = ANY (complete_many.job_ids) AND j.status = 'running'
           AND j.locked_by = complete_many.worker_id
        RETURNING j.id;
    END IF;
    PERFORM pm_queue.hot_write_end();
END
$fn$;

CREATE FUNCTION pm_queue.fail(job_id uuid, worker_id text, error text, retryable boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $fn$
#variable_conflict use_column
DECLARE
    j          record;
    new_status text;
    message    text := left(coalesce(fail.error, '(no error message)'), 10000);
BEGIN
    SELECT jb.id, jb.queue_name, jb.attempt_count, jb.max_attempts, jb.started_at,
           q.backoff_base_ms, q.backoff_max_ms, q.backoff_jitter
      INTO j
      FROM pm_queue.jobs jb JOIN pm_queue.job_queues q ON q.name = jb.queue_name
     WHERE jb.id = fail.job_id AND jb.status = 'running' AND jb.locked_by = fail.worker_id
       FOR UPDATE OF jb;
    IF NOT FOUND THEN
        PERFORM pm_queue.check_not_held(fail.job_id, fail.worker_id, 'fail');
    END IF;

    IF coalesce(fail.retryable, true) AND j.attempt_count < j.max_attempts THEN
        new_status := 'retry_scheduled';
        UPDATE pm_queue.jobs jb
           SET status = 'retry_scheduled', locked_by = NULL, locked_until = NULL,
               run_at = now() + pm_queue.backoff_delay(j.attempt_count - 1, j.backoff_base_ms,
                                                       j.backoff_max_ms, j.backoff_jitter),
               last_error_message = message, updated_at = now()
         WHERE jb.id = j.id;
    ELSE
        -- Dead letter: the job keeps locked_by (the last worker) for the post-mortem.
        new_status := 'failed';
        UPDATE pm_queue.jobs jb
           SET status = 'failed', locked_until = NULL, failed_at = now(),
               last_error_message = message, updated_at = now()
         WHERE jb.id = j.id;
    END IF;

    INSERT INTO pm_queue.job_logs (job_id, queue_name, attempt_number, status, log_message,
                                   worker_id, started_at, finished_at, duration)
    VALUES (j.id, j.queue_name, j.attempt_count,
            CASE new_status WHEN 'failed' THEN 'failed' ELSE 'retry' END,
            message, fail.worker_id, j.started_at, now(), now() - j.started_at);
    RETURN new_status;
END
$fn$;

COMMENT ON FUNCTION pm_queue.fail(uuid, text, text, boolean) IS
  'retry_scheduled after min(base*2^(attempt-1), max)*(1+-jitter), or failed (dead letter) when '
  'attempts are exhausted or retryable is false; returns the new status';

-- Leases whose holder stopped heartbeating (crashed, killed, partitioned) go through fail():
-- the job is retried, or dead-lettered when that was its last attempt.
CREATE FUNCTION pm_queue.reap_expired() RETURNS int
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    r record;
    n int := 0;
BEGIN
    FOR r IN
        SELECT j.id, j.locked_by FROM pm_queue.jobs j
         WHERE j.completed_at IS NULL AND j.failed_at IS NULL AND j.cancelled_at IS NULL
           AND j.status = 'running' AND j.locked_until < now()
         ORDER BY j.locked_until
           FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM pm_queue.fail(r.id, r.locked_by, 'lease expired', true);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$fn$;

------------------------------------------------------------------------------
-- Operations
------------------------------------------------------------------------------

-- True when the job was cancelled now; false when it had already finished.  A running
-- job's worker then gets 55000 from complete()/fail().
CREATE FUNCTION pm_queue.cancel(job_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $fn$
#variable_conflict use_column
BEGIN
    UPDATE pm_queue.jobs j
       SET status = 'cancelled', cancelled_at = now(), locked_until = NULL, updated_at = now()
     WHERE j.id = cancel.job_id
       AND j.status IN ('queued', 'retry_scheduled', 'running', 'migrated_to_redis');
    IF FOUND THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pm_queue.jobs j WHERE j.id = cancel.job_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('job %s does not exist', coalesce(cancel.job_id::text, 'NULL'));
    END IF;
    RETURN false;
END
$fn$;

-- pause / resume: sets is_active; true when the state changed, false when it already was
-- that way, an error for an unknown queue.
CREATE FUNCTION pm_queue.set_active(queue text, active boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
    UPDATE pm_queue.job_queues q SET is_active = set_active.active, updated_at = now()
     WHERE q.name = set_active.queue AND q.is_active <> set_active.active;
    IF FOUND THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pm_queue.job_queues q WHERE q.name = set_active.queue) THEN
        PERFORM pm_queue.raise_unknown_queue(set_active.queue);
    END IF;
    RETURN false;
END
$fn$;

-- Paused queues keep accepting jobs; claim() simply hands none out.
CREATE FUNCTION pm_queue.pause(queue text) RETURNS boolean
LANGUAGE sql VOLATILE
AS $$ SELECT pm_queue.set_active(queue, false) $$;

-- Resumed queues wake their idle workers.
CREATE FUNCTION pm_queue.resume(queue text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
    IF pm_queue.set_active(resume.queue, true) THEN
        PERFORM pg_notify('pm_queue', resume.queue);
        RETURN true;
    END IF;
    RETURN false;
END
$fn$;

-- A dead letter back to the queue with a fresh set of attempts; its failure stays in
-- last_error_message and job_logs.
CREATE FUNCTION pm_queue.replay(job_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $fn$
#variable_conflict use_column
DECLARE
    st text;
    qn text;
BEGIN
    UPDATE pm_queue.jobs j
       SET status = 'queued', attempt_count = 0, run_at = now(), failed_at = NULL,
           locked_by = NULL, locked_until = NULL, started_at = NULL, updated_at = now()
     WHERE j.id = replay.job_id AND j.status = 'failed'
    RETURNING j.queue_name INTO qn;
    IF FOUND THEN
        PERFORM pg_notify('pm_queue', qn);
        RETURN true;
    END IF;
    SELECT j.status INTO st FROM pm_queue.jobs j WHERE j.id = replay.job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('job %s does not exist', coalesce(replay.job_id::text, 'NULL'));
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('job %s is %s; only failed jobs (dead letters) can be replayed',
                         replay.job_id, st);
END
$fn$;

-- Every dead letter of `queue` that failed at or after `since`; returns how many.
CREATE FUNCTION pm_queue.replay_failed(queue text, since timestamptz DEFAULT '-infinity')
RETURNS int
LANGUAGE plpgsql VOLATILE
AS $fn$
#variable_conflict use_column
DECLARE
    n int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pm_queue.job_queues q WHERE q.name = replay_failed.queue) THEN
        PERFORM pm_queue.raise_unknown_queue(replay_failed.queue);
    END IF;
    UPDATE pm_queue.jobs j
       SET status = 'queued', attempt_count = 0, run_at = now(), failed_at = NULL,
           locked_by = NULL, locked_until = NULL, started_at = NULL, updated_at = now()
     WHERE j.queue_name = replay_failed.queue AND j.status = 'failed'
       AND j.failed_at IS NOT NULL AND j.failed_at >= coalesce(replay_failed.since, '-infinity');
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('pm_queue', replay_failed.queue);
    END IF;
    RETURN n;
END
$fn$;

-- One batch of housekeeping: at most `batch` finished jobs past their queue's retention
-- (completed and cancelled: retain_completed; failed: retain_failed) with their logs, logs
-- past retention, and rate windows that ended over two days ago.  Returns the rows removed;
-- call it until it returns 0 (pg_cron: every minute).  Never touches unfinished jobs.
CREATE FUNCTION pm_queue.prune(batch int DEFAULT 10000) RETURNS int
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    victims uuid[];
    n_jobs  int := 0;
    n_logs  int := 0;
    n_logs2 int := 0;
    n_win   int := 0;
BEGIN
    IF batch IS NULL OR batch < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('batch must be at least 1, got %s', coalesce(batch::text, 'NULL'));
    END IF;

    victims := ARRAY(
        SELECT v.id FROM pm_queue.job_queues q
         CROSS JOIN LATERAL (
               (SELECT j.id FROM pm_queue.jobs j
                 WHERE j.queue_name = q.name AND j.completed_at IS NOT NULL
                   AND j.completed_at < now() - q.retain_completed LIMIT batch)
               UNION ALL
               (SELECT j.id FROM pm_queue.jobs j
                 WHERE j.queue_name = q.name AND j.cancelled_at IS NOT NULL
                   AND j.cancelled_at < now() - q.retain_completed LIMIT batch)
               UNION ALL
               (SELECT j.id FROM pm_queue.jobs j
                 WHERE j.queue_name = q.name AND j.failed_at IS NOT NULL
                   AND j.failed_at < now() - q.retain_failed LIMIT batch)) v
         LIMIT batch);
    IF cardinality(victims) > 0 THEN
        DELETE FROM pm_queue.jobs j WHERE j.id = ANY (victims)
           AND j.status IN ('completed', 'failed', 'cancelled');
        GET DIAGNOSTICS n_jobs = ROW_COUNT;
        DELETE FROM pm_queue.job_logs l WHERE l.job_id = ANY (victims);
        GET DIAGNOSTICS n_logs = ROW_COUNT;
    END IF;

    DELETE FROM pm_queue.job_logs l
     WHERE l.id = ANY (ARRAY(
           SELECT o.id FROM pm_queue.job_queues q
            CROSS JOIN LATERAL (
                  SELECT x.id FROM pm_queue.job_logs x
                   WHERE x.queue_name = q.name
                     AND x.finished_at < now() - greatest(q.retain_failed, q.retain_completed)
                   LIMIT batch) o
            LIMIT batch));
    GET DIAGNOSTICS n_logs2 = ROW_COUNT;

    DELETE FROM pm_queue.rate_windows w
     WHERE (w.key, w.window_start) IN (
           SELECT x.key, x.window_start FROM pm_queue.rate_windows x
            WHERE x.window_end < now() - interval '2 days' LIMIT batch);
    GET DIAGNOSTICS n_win = ROW_COUNT;

    RETURN n_jobs + n_logs + n_logs2 + n_win;
END
$fn$;

------------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------------

-- security_invoker: a pm_app reader sees its own tenant's dead letters only.
CREATE VIEW pm_queue.dead_letter WITH (security_invoker = true) AS
SELECT j.* FROM pm_queue.jobs j WHERE j.failed_at IS NOT NULL AND j.status = 'failed';
COMMENT ON VIEW pm_queue.dead_letter IS 'Failed jobs (attempts exhausted or not retryable)';

-- Per queue.  ready: claimable now; scheduled / retry_scheduled: waiting for their run_at
-- (queued in the future or deferred by a rate budget / backing off after a failure);
-- completed_*, run times and error_rate over the last minutes; error_rate = failed attempts
-- / (failed attempts + completions) over 5 minutes; active_workers: distinct lease holders.
CREATE VIEW pm_queue.stats WITH (security_invoker = true) AS
SELECT q.name AS queue_name,
       q.is_active,
       r.ready,
       r.scheduled,
       coalesce(w.running, 0) AS running,
       r.retry_scheduled,
       (SELECT count(*) FROM pm_queue.jobs j
         WHERE j.queue_name = q.name AND j.failed_at IS NOT NULL AND j.status = 'failed'
           AND j.failed_at > now() - interval '24 hours') AS failed_24h,
       r.oldest_ready_age,
       c.completed_1m,
       c.completed_5m,
       c.avg_run_time,
       c.p95_run_time,
       CASE WHEN c.completed_5m + e.failed_5m > 0
            THEN round(e.failed_5m::numeric / (c.completed_5m + e.failed_5m), 4) END AS error_rate,
       coalesce(w.active_workers, 0) AS active_workers
  FROM pm_queue.job_queues q
 CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE j.run_at <= now()) AS ready,
              count(*) FILTER (WHERE j.status = 'queued' AND j.run_at > now()) AS scheduled,
              count(*) FILTER (WHERE j.status = 'retry_scheduled' AND j.run_at > now())
                  AS retry_scheduled,
              now() - min(j.run_at) FILTER (WHERE j.run_at <= now()) AS oldest_ready_age
         FROM pm_queue.jobs j
        WHERE j.queue_name = q.name
          AND j.completed_at IS NULL AND j.failed_at IS NULL AND j.cancelled_at IS NULL
          AND j.status IN ('queued', 'retry_scheduled')) r
  LEFT JOIN LATERAL (
       SELECT count(*) AS running, count(DISTINCT j.locked_by) AS active_workers
         FROM pm_queue.jobs j
        WHERE j.queue_name = q.name
          AND j.completed_at IS NULL AND j.failed_at IS NULL AND j.cancelled_at IS NULL
          AND j.status = 'running') w ON true
 CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE j.completed_at > now() - interval '1 minute') AS completed_1m,
              count(*) AS completed_5m,
              avg(j.completed_at - j.started_at) AS avg_run_time,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY j.completed_at - j.started_at)
                  AS p95_run_time
         FROM pm_queue.jobs j
        WHERE j.queue_name = q.name AND j.completed_at IS NOT NULL AND j.status = 'completed'
          AND j.completed_at > now() - interval '5 minutes') c
 CROSS JOIN LATERAL (
       SELECT count(*) AS failed_5m FROM pm_queue.job_logs l
        WHERE l.queue_name = q.name AND l.finished_at > now() - interval '5 minutes') e;
COMMENT ON VIEW pm_queue.stats IS 'Per-queue backlog, throughput, run times, error rate, workers';

------------------------------------------------------------------------------
-- Isolation, grants, dumps
------------------------------------------------------------------------------

SELECT pm.enable_tenant_isolation('pm_queue.jobs');

SELECT pm.set_table_access('pm_queue.jobs', 'write');
SELECT pm.set_table_access('pm_queue.dead_letter', 'read');
SELECT pm.set_table_access('pm_queue.job_queues', 'read');
SELECT pm.set_table_access(t, 'none')
  FROM unnest(ARRAY['pm_queue.job_logs', 'pm_queue.rate_limits', 'pm_queue.rate_windows',
                    'pm_queue.stats']::regclass[]) AS t;

-- Seeded queues are re-created by CREATE EXTENSION on restore; only added ones are dumped.
SELECT pg_catalog.pg_extension_config_dump('pm_queue.job_queues',
    $$WHERE name NOT IN ('email-sending', 'email-processing', 'analytics', 'warmup', 'bounce',
                         'webhook', 'notifications', 'maintenance', 'import-export')$$);
SELECT pg_catalog.pg_extension_config_dump('pm_queue.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('pm_queue.job_logs', '');
SELECT pg_catalog.pg_extension_config_dump('pm_queue.job_logs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_queue.rate_limits', '');
SELECT pg_catalog.pg_extension_config_dump('pm_queue.rate_windows', '');

SELECT pm.apply_grants();
