-- pm_queue contract (spec/queue.md): names of tables, columns, views and functions, the
-- seeded queues, the RLS audit, and that claims read only the hot partial index.
\ir ../include/common.psql

\set extension pm_queue
\ir ../include/begin_with_extension.psql
SELECT plan(35);

SELECT tables_are('pm_queue', ARRAY['job_queues', 'jobs', 'job_logs', 'rate_limits', 'rate_windows'],
                  'pm_queue has the spec''s tables (+ rate_windows, the budget counters)');
SELECT views_are('pm_queue', ARRAY['stats', 'dead_letter'], 'views stats and dead_letter');

SELECT columns_are('pm_queue', 'jobs', ARRAY[
    'id', 'queue_name', 'tenant_id', 'status', 'priority', 'payload', 'idempotency_key', 'rate_key',
    'attempt_count', 'max_attempts', 'run_at', 'locked_by', 'locked_until', 'started_at',
    'completed_at', 'failed_at', 'cancelled_at', 'last_error_message', 'result', 'created_at',
    'updated_at'], 'jobs has exactly the spec''s columns');
SELECT col_is_pk('pm_queue', 'jobs', 'id', 'jobs.id is the primary key');
-- status, priority and payload are domains over the spec's types (their CHECKs are cached;
-- a table CHECK is re-parsed by every INSERT/UPDATE statement).
SELECT is((SELECT array_agg(a.attname || ' ' || format_type(coalesce(nullif(t.typbasetype, 0), t.oid), NULL)
                            ORDER BY a.attname)
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = 'pm_queue.jobs'::regclass AND a.attname IN ('status', 'priority', 'payload')),
          ARRAY['payload jsonb', 'priority integer', 'status text'],
          'payload is jsonb, priority integer, status text (as domains carrying the CHECKs)');
SELECT col_not_null('pm_queue', 'jobs', 'tenant_id', 'tenant_id is NOT NULL (platform jobs use the nil uuid)');
SELECT ok((SELECT bool_and(EXISTS (SELECT 1 FROM information_schema.columns c
                                    WHERE c.table_schema = 'pm_queue' AND c.table_name = 'job_queues'
                                      AND c.column_name = x))
            FROM unnest(ARRAY['name', 'default_priority', 'is_active', 'max_attempts', 'timeout_seconds',
                              'backoff_base_ms', 'backoff_max_ms', 'backoff_jitter',
                              'max_running_per_tenant', 'retain_completed', 'retain_failed',
                              'created_at']) x),
          'job_queues has every column of the spec');
SELECT ok((SELECT bool_and(EXISTS (SELECT 1 FROM information_schema.columns c
                                    WHERE c.table_schema = 'pm_queue' AND c.table_name = 'job_logs'
                                      AND c.column_name = x))
            FROM unnest(ARRAY['job_id', 'attempt_number', 'status', 'log_message', 'worker_id',
                              'started_at', 'finished_at', 'duration']) x),
          'job_logs has every column of the spec');
SELECT has_column('pm_queue', 'rate_limits', 'max_per_window', 'rate_limits.max_per_window');
SELECT has_column('pm_queue', 'rate_limits', 'window_len', 'rate_limits.window_len');
SELECT columns_are('pm_queue', 'stats', ARRAY[
    'queue_name', 'is_active', 'ready', 'scheduled', 'running', 'retry_scheduled', 'failed_24h',
    'oldest_ready_age', 'completed_1m', 'completed_5m', 'avg_run_time', 'p95_run_time',
    'error_rate', 'active_workers'], 'stats has the listed columns');

SELECT has_function('pm_queue', 'enqueue',
                    ARRAY['text', 'jsonb', 'integer', 'timestamp with time zone', 'integer', 'text',
                          'uuid', 'text'], 'enqueue(queue, payload, priority, run_at, max_attempts, idempotency_key, tenant_id, rate_key)');
SELECT function_returns('pm_queue', 'enqueue',
                        ARRAY['text', 'jsonb', 'integer', 'timestamp with time zone', 'integer', 'text',
                              'uuid', 'text'], 'uuid', 'enqueue returns uuid');
SELECT has_function('pm_queue', 'enqueue_many',
                    ARRAY['text', 'jsonb[]', 'integer', 'timestamp with time zone', 'integer', 'text[]',
                          'uuid', 'text[]'], 'enqueue_many');
SELECT function_returns('pm_queue', 'claim', ARRAY['text[]', 'text', 'integer'], 'setof pm_queue.jobs',
                        'claim(queues, worker_id, max_jobs) returns SETOF pm_queue.jobs');
SELECT function_returns('pm_queue', 'heartbeat', ARRAY['uuid', 'text'], 'boolean', 'heartbeat');
SELECT function_returns('pm_queue', 'complete', ARRAY['uuid', 'text', 'jsonb'], 'boolean', 'complete');
SELECT function_returns('pm_queue', 'fail', ARRAY['uuid', 'text', 'text', 'boolean'], 'text', 'fail returns the new status');
SELECT function_returns('pm_queue', 'reap_expired', ARRAY[]::text[], 'integer', 'reap_expired returns int');
SELECT has_function('pm_queue', 'cancel', ARRAY['uuid'], 'cancel(job_id)');
SELECT has_function('pm_queue', 'pause', ARRAY['text'], 'pause(queue)');
SELECT has_function('pm_queue', 'resume', ARRAY['text'], 'resume(queue)');
SELECT has_function('pm_queue', 'replay', ARRAY['uuid'], 'replay(job_id)');
SELECT has_function('pm_queue', 'replay_failed', ARRAY['text', 'timestamp with time zone'], 'replay_failed(queue, since)');
SELECT function_returns('pm_queue', 'prune', ARRAY['integer'], 'integer', 'prune(batch) returns int');

-- Argument defaults as the spec writes them.
SELECT is((SELECT pg_get_function_arguments('pm_queue.enqueue(text, jsonb, integer, timestamp with time zone, integer, text, uuid, text)'::regprocedure)),
          'queue text, payload jsonb, priority integer DEFAULT NULL::integer, run_at timestamp with time zone DEFAULT now(), max_attempts integer DEFAULT NULL::integer, idempotency_key text DEFAULT NULL::text, tenant_id uuid DEFAULT pm.current_tenant_id(), rate_key text DEFAULT NULL::text',
          'enqueue''s defaults follow the spec');

SELECT results_eq(
    $$SELECT name, default_priority, timeout_seconds FROM pm_queue.job_queues
       WHERE name IN ('email-sending', 'email-processing', 'analytics', 'warmup', 'bounce', 'webhook',
                      'notifications', 'maintenance', 'import-export') ORDER BY name$$,
    $$VALUES ('analytics', 150, 300), ('bounce', 75, 60), ('email-processing', 75, 60),
             ('email-sending', 100, 30), ('import-export', 100, 60), ('maintenance', 100, 60),
             ('notifications', 100, 60), ('warmup', 75, 120), ('webhook', 100, 15)$$,
    'the nine seeded queues with their priorities and timeouts');

SELECT is_empty('SELECT * FROM pm.rls_audit()', 'pm.rls_audit() is empty with pm_queue installed');
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polrelid = 'pm_queue.jobs'::regclass), 1,
          'jobs has exactly one policy (tenant_isolation)');

-- The hot set: a claim's candidate scan is an ordered range scan of the partial index of
-- ready jobs, with a LIMIT, whatever the history (10^4 completed jobs here).
INSERT INTO pm_queue.job_queues (name) VALUES ('pgtap-explain');
INSERT INTO pm_queue.jobs (queue_name, tenant_id, status, completed_at, updated_at)
SELECT 'pgtap-explain', pm_queue.platform_tenant(), 'completed', now(), now() FROM generate_series(1, 10000);
SELECT pm_queue.enqueue_many('pgtap-explain', array_fill('{}'::jsonb, ARRAY[50])) IS NOT NULL \g /dev/null
ANALYZE pm_queue.jobs;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; acc text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP acc := acc || r || E'\n'; END LOOP;
    RETURN acc;
END $$;
SELECT matches(pg_temp.plan_of($$SELECT j.id FROM pm_queue.jobs j
                                   WHERE j.queue_name = 'pgtap-explain'
                                     AND j.completed_at IS NULL AND j.failed_at IS NULL AND j.cancelled_at IS NULL
                                     AND j.status IN ('queued', 'retry_scheduled')
                                     AND j.run_at <= now() ORDER BY j.priority, j.run_at LIMIT 10
                                     FOR UPDATE SKIP LOCKED$$),
               'Index Scan using jobs_live_idx',
               'claim candidates come from jobs_live_idx in order (no sort, no history scan)');
SELECT doesnt_match(pg_temp.plan_of($$SELECT j.id FROM pm_queue.jobs j
                                   WHERE j.queue_name = 'pgtap-explain'
                                     AND j.completed_at IS NULL AND j.failed_at IS NULL AND j.cancelled_at IS NULL
                                     AND j.status IN ('queued', 'retry_scheduled')
                                     AND j.run_at <= now() ORDER BY j.priority, j.run_at LIMIT 10
                                     FOR UPDATE SKIP LOCKED$$),
                    'Sort',
                    'no sort node in the candidate scan');
SELECT is((SELECT count(*)::int FROM pm_queue.claim('{pgtap-explain}', 'pgtap', 20)), 20,
          'claim takes 20 of the 50 ready jobs among 10^4 completed ones');
SELECT ok((SELECT pg_relation_size('pm_queue.jobs_live_idx') < pg_relation_size('pm_queue.jobs_pkey') / 10),
          'the live index is a small fraction of the table''s primary key (history stays out)');

-- A claim is a HOT update: no index of jobs mentions a column it changes, and the page has
-- room for the new version.  Adding such an index makes every claim write index entries.
SELECT is((SELECT n_tup_hot_upd - n_tup_upd FROM pg_stat_xact_user_tables
            WHERE relid = 'pm_queue.jobs'::regclass), 0::bigint,
          'every update so far in this transaction (the 20 claims above) was HOT');
SELECT is((SELECT array_agg(DISTINCT a.attname ORDER BY a.attname)
             FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid
            WHERE i.indrelid = 'pm_queue.jobs'::regclass
              AND a.attname IN ('status', 'locked_by', 'locked_until', 'started_at', 'attempt_count', 'updated_at')
              AND (a.attnum = ANY (i.indkey)
                   OR pg_get_expr(i.indpred, i.indrelid) ~ ('\m' || a.attname || '\M')
                   OR pg_get_expr(i.indexprs, i.indrelid) ~ ('\m' || a.attname || '\M'))),
          NULL::name[],
          'no index key or predicate mentions a column that a claim changes');

SELECT * FROM finish();
ROLLBACK;
