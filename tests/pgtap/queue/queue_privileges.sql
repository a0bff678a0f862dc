-- pm_queue 0.4: the claim hint's helpers are closed to everyone but the extension's owner.
-- With EXECUTE, a caller could open a hot-write section (hot_write_begin) and then write
-- jobs without the claim hint hearing of it (a job made ready behind the hint then waits
-- for the 10 s safety net), or send NOTIFYs at will (wake_workers).  The API functions that
-- used the helpers from plpgsql are C++ now and still work for the roles that call them.
\ir ../include/common.psql

\set extension pm_queue
\ir ../include/begin_with_extension.psql
SELECT plan(18);

CREATE ROLE pgtap_queue_plain NOLOGIN;
-- USAGE on the schema, so a refusal can only come from the function's own privileges.
GRANT USAGE ON SCHEMA pm_queue TO pgtap_queue_plain;
INSERT INTO pm_queue.job_queues (name) VALUES ('pgtap-priv');

SELECT is(pg_temp.as_role(r, pg_temp.uid('a', 1), 'SELECT pm_queue.' || f),
          'error:42501', format('%s cannot call pm_queue.%s (42501)', r, f))
  FROM unnest(ARRAY['pm_app', 'pm_service', 'pgtap_queue_plain']) AS r,
       unnest(ARRAY['hot_write_begin()', 'hot_write_end()',
                    $$note_ready('pgtap-priv', 1, now())$$, $$wake_workers('pgtap-priv')$$]) AS f;

SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ')
             FROM pg_proc p
            WHERE p.pronamespace = 'pm_queue'::regnamespace
              AND p.proname IN ('hot_write_begin', 'hot_write_end', 'note_ready', 'wake_workers')
              AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                                               WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))),
          NULL, 'no hint helper is executable by PUBLIC');

-- The API keeps working for its callers.
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
                          $$SELECT count(*) FROM pm_queue.enqueue_many('pgtap-priv', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[])$$,
                          'value'),
          '2', 'pm_app enqueues a batch (enqueue_many)');
SELECT is(pg_temp.as_role('pm_service', NULL,
                          $$SELECT count(*) FROM pm_queue.claim('{pgtap-priv}', 'w1', 2)$$, 'value'),
          '2', 'pm_service claims them');
SELECT is(pg_temp.as_role('pm_service', NULL,
                          $$SELECT bool_and(pm_queue.heartbeat(id, 'w1')) FROM pm_queue.jobs WHERE queue_name = 'pgtap-priv'$$,
                          'value'),
          'true', 'pm_service extends its leases (heartbeat)');
SELECT is(pg_temp.as_role('pm_service', NULL,
                          $$SELECT count(*) FROM pm_queue.complete_many(ARRAY(SELECT id FROM pm_queue.jobs WHERE queue_name = 'pgtap-priv'), 'w1')$$,
                          'value'),
          '2', 'pm_service completes them (complete_many)');
SELECT is((SELECT string_agg(status, ',') FROM pm_queue.jobs WHERE queue_name = 'pgtap-priv'),
          'completed,completed', '... and both are completed');

SELECT * FROM finish();
ROLLBACK;
