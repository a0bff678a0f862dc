-- pm_queue tenant isolation (spec/queue.md): as pm_app a tenant sees and enqueues only its
-- own jobs; workers run as pm_service.  And the mailbox budgets that follow
-- pm_oltp.email_accounts.daily_limit when the queue shares the OLTP database.
-- Statements under test run through pg_temp.run_as() so pgTAP's own temp tables are never
-- touched by pm_app.
\ir ../include/common.psql

\set extension pm_queue
\ir ../include/begin_with_extension.psql
SELECT plan(36);

CREATE FUNCTION pg_temp.run_as(who text, tenant uuid, stmt text) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
    result text;
BEGIN
    PERFORM pm.current_tenant_id();
    BEGIN
        PERFORM pm.set_context(tenant);
        PERFORM set_config('role', who, true);
        EXECUTE stmt INTO result;
        PERFORM set_config('role', 'none', true);
        PERFORM pm.set_context(NULL);
    EXCEPTION WHEN OTHERS THEN
        result := 'error:' || SQLSTATE;
    END;
    RETURN result;
END $f$;

INSERT INTO pm_queue.job_queues (name, max_attempts) VALUES ('pgtap-iso', 1);
-- Tenant A: 2 jobs (one of them dead-lettered); tenant B: 3 jobs; both used key 'k'.
SELECT pm_queue.enqueue('pgtap-iso', '{"who": "a"}', tenant_id => pg_temp.uid('a', 1), idempotency_key => 'k') IS NOT NULL \g /dev/null
SELECT pm_queue.enqueue('pgtap-iso', '{"who": "a", "dead": true}', tenant_id => pg_temp.uid('a', 1)) IS NOT NULL \g /dev/null
SELECT pm_queue.enqueue('pgtap-iso', '{"who": "b"}', tenant_id => pg_temp.uid('b', 1), idempotency_key => 'k') IS NOT NULL \g /dev/null
SELECT pm_queue.enqueue_many('pgtap-iso', ARRAY['{"who": "b"}', '{"who": "b", "dead": true}']::jsonb[],
                             tenant_id => pg_temp.uid('b', 1)) IS NOT NULL \g /dev/null
SELECT pm_queue.fail(id, 'pgtap', 'dead', false) FROM pm_queue.claim('{pgtap-iso}', 'pgtap', 10)
 WHERE payload ? 'dead' \g /dev/null
UPDATE pm_queue.jobs SET status = 'queued', locked_by = NULL, locked_until = NULL
 WHERE queue_name = 'pgtap-iso' AND status = 'running';
CREATE TEMP TABLE b_job AS SELECT id FROM pm_queue.jobs
 WHERE tenant_id = pg_temp.uid('b', 1) AND status = 'queued' LIMIT 1;
GRANT SELECT ON b_job TO PUBLIC;

SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1), 'SELECT count(*) FROM pm_queue.jobs'), '2',
          'pm_app sees exactly its tenant''s jobs');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         format('SELECT count(*) FROM pm_queue.jobs WHERE tenant_id = %L', pg_temp.uid('b', 1))),
          '0', 'another tenant''s jobs are invisible even when asked for by tenant_id');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1), 'SELECT count(*) FROM pm_queue.dead_letter'), '1',
          'dead_letter shows only the tenant''s own failed jobs');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         $$SELECT pm_queue.enqueue('pgtap-iso', '{"who": "a2"}') IS NOT NULL$$),
          'true', 'pm_app enqueues without naming a tenant');
SELECT is((SELECT tenant_id FROM pm_queue.jobs WHERE payload ->> 'who' = 'a2'), pg_temp.uid('a', 1),
          '... and the job belongs to the context''s tenant');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         format($$SELECT pm_queue.enqueue('pgtap-iso', '{}', tenant_id => %L)$$, pg_temp.uid('b', 1))),
          'error:42501', 'enqueueing for another tenant is refused (42501)');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         $$SELECT pm_queue.enqueue('pgtap-iso', '{}', idempotency_key => 'k') IS NOT NULL$$),
          'true', 'an idempotency key another tenant used is no obstacle');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         $$SELECT count(*) FROM pm_queue.jobs WHERE idempotency_key = 'k'$$),
          '1', '... and the tenant still has one job for its key');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         'SELECT pm_queue.cancel(id) FROM b_job'),
          'error:P0002', 'another tenant''s job cannot be cancelled: it does not exist for this tenant');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         $$WITH u AS (UPDATE pm_queue.jobs SET priority = 1 WHERE id IN (SELECT id FROM b_job) RETURNING 1)
                           SELECT count(*) FROM u$$),
          '0', 'another tenant''s job cannot be updated');
CREATE TEMP TABLE ready_before AS
SELECT tenant_id, count(*) AS n FROM pm_queue.jobs
 WHERE queue_name = 'pgtap-iso' AND status = 'queued' GROUP BY 1;
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         $$SELECT count(*) FROM pm_queue.claim('{pgtap-iso}', 'app-as-worker', 10)$$),
          (SELECT n::text FROM ready_before WHERE tenant_id = pg_temp.uid('a', 1)),
          'even claiming as pm_app reaches only the tenant''s own ready jobs');
SELECT is(pg_temp.run_as('pm_app', NULL, 'SELECT count(*) FROM pm_queue.jobs'), 'error:42501',
          'no tenant context: 42501, never every tenant''s jobs');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1), 'SELECT count(*) FROM pm_queue.job_queues'),
          (SELECT count(*)::text FROM pm_queue.job_queues), 'pm_app reads the queue list');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1), 'SELECT count(*) FROM pm_queue.job_logs'),
          'error:42501', 'job_logs are not for pm_app');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1), 'SELECT count(*) FROM pm_queue.stats'),
          'error:42501', 'stats (all tenants'' counts) are not for pm_app');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1), 'SELECT count(*) FROM pm_queue.rate_limits'),
          'error:42501', 'rate_limits are not for pm_app');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1), $$SELECT pm_queue.pause('pgtap-iso')$$),
          'error:42501', 'pm_app cannot pause a queue');
SELECT is(pg_temp.run_as('pm_service', NULL, $$SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'pgtap-iso'$$),
          (SELECT count(*)::text FROM pm_queue.jobs WHERE queue_name = 'pgtap-iso'),
          'pm_service (workers) sees every tenant''s jobs without a context');
SELECT is(pg_temp.run_as('pm_service', NULL,
                         $$SELECT count(*) FROM pm_queue.claim('{pgtap-iso}', 'svc', 10)$$),
          (SELECT n::text FROM ready_before WHERE tenant_id = pg_temp.uid('b', 1)),
          'pm_service claims the other tenant''s ready jobs (tenant A''s are leased to app-as-worker)');
-- Completing under row-level security (the statement path; workers take the direct one).
CREATE TEMP TABLE leased AS
SELECT id, tenant_id, locked_by FROM pm_queue.jobs WHERE queue_name = 'pgtap-iso' AND status = 'running';
GRANT SELECT ON leased TO PUBLIC;
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         format($$SELECT pm_queue.complete(%L, 'svc')$$,
                                (SELECT id FROM leased WHERE locked_by = 'svc' LIMIT 1))),
          'error:P0002', 'pm_app cannot complete another tenant''s job, even naming its worker');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         $$SELECT count(*) FROM pm_queue.complete_many(ARRAY(SELECT id FROM leased), 'app-as-worker')$$),
          (SELECT count(*)::text FROM leased WHERE locked_by = 'app-as-worker'),
          'complete_many as pm_app completes the tenant''s own leased jobs and nothing else');
SELECT is((SELECT count(*)::int FROM pm_queue.jobs j JOIN leased l USING (id)
            WHERE l.locked_by = 'svc' AND j.status = 'running'),
          (SELECT count(*)::int FROM leased WHERE locked_by = 'svc'),
          '... the other tenant''s leased jobs are still running');
SELECT is(pg_temp.run_as('pm_service', NULL, 'SELECT count(*) FROM pm_queue.stats'),
          (SELECT count(*)::text FROM pm_queue.job_queues), 'pm_service reads stats');
SELECT is(pg_temp.run_as('pm_staff', NULL, $$SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'pgtap-iso'$$),
          (SELECT count(*)::text FROM pm_queue.jobs WHERE queue_name = 'pgtap-iso'),
          'pm_staff reads every tenant''s jobs');
SELECT is(pg_temp.run_as('pm_staff', NULL, $$SELECT pm_queue.enqueue('pgtap-iso', '{}') IS NOT NULL$$),
          'error:42501', 'pm_staff cannot enqueue');

------------------------------------------------------------------------------
-- mailbox:<id> budgets follow pm_oltp.email_accounts.daily_limit per UTC day.
------------------------------------------------------------------------------
INSERT INTO pm_oltp.tenants (id, name) VALUES (pg_temp.uid('c', 1), 'pgtap queue tenant');
INSERT INTO pm_oltp.email_accounts (id, tenant_id, email, daily_limit) VALUES
    (pg_temp.uid('d', 1), pg_temp.uid('c', 1), 'limited@pgtap-queue.example', 3),
    (pg_temp.uid('d', 2), pg_temp.uid('c', 1), 'unlimited@pgtap-queue.example', NULL),
    (pg_temp.uid('d', 3), pg_temp.uid('c', 1), 'overridden@pgtap-queue.example', 3);
INSERT INTO pm_queue.rate_limits (key, max_per_window, window_len)
VALUES ('mailbox:' || pg_temp.uid('d', 3), 1, '1 day');
SELECT pm_queue.enqueue_many('email-sending', array_fill('{}'::jsonb, ARRAY[5]), tenant_id => pg_temp.uid('c', 1),
                             rate_keys => array_fill('mailbox:' || pg_temp.uid('d', m), ARRAY[5])) IS NOT NULL
  FROM generate_series(1, 3) m \g /dev/null
CREATE TEMP TABLE sent AS SELECT rate_key FROM pm_queue.claim('{email-sending}', 'sender', 100);
SELECT is((SELECT count(*)::int FROM sent WHERE rate_key = 'mailbox:' || pg_temp.uid('d', 1)), 3,
          'a mailbox with daily_limit 3 sends 3 of its 5 jobs');
SELECT is((SELECT count(*)::int FROM sent WHERE rate_key = 'mailbox:' || pg_temp.uid('d', 2)), 5,
          'daily_limit NULL: no budget');
SELECT is((SELECT count(*)::int FROM sent WHERE rate_key = 'mailbox:' || pg_temp.uid('d', 3)), 1,
          'a pm_queue.rate_limits row overrides the mailbox''s daily_limit');
SELECT is((SELECT count(*)::int FROM pm_queue.jobs
            WHERE queue_name = 'email-sending' AND status = 'queued'
              AND run_at = date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day'),
          6, 'over-budget jobs wait for the next UTC day, still queued');
SELECT is((SELECT count(*)::int FROM pm_queue.jobs WHERE queue_name = 'email-sending' AND status = 'failed'), 0,
          'no over-budget job failed');
SELECT is((SELECT count(*)::int FROM pm_queue.claim('{email-sending}', 'sender', 100)), 0,
          'nothing more to send today');
UPDATE pm_oltp.email_accounts SET daily_limit = 4 WHERE id = pg_temp.uid('d', 1);
UPDATE pm_queue.jobs SET run_at = now() WHERE queue_name = 'email-sending' AND status = 'queued';
SELECT is((SELECT count(*)::int FROM pm_queue.claim('{email-sending}', 'sender', 100)), 1,
          'raising daily_limit frees exactly the difference today');
SELECT is((SELECT used FROM pm_queue.rate_windows WHERE key = 'mailbox:' || pg_temp.uid('d', 1)), 4,
          'the window counter records every send');

-- The budget step for a claimer under row-level security (a worker role without BYPASSRLS)
-- is the statement grant_plan, not the direct path workers take: same counters, same result.
CREATE ROLE pgtap_rls_worker IN ROLE pm_app;
GRANT SELECT, INSERT, UPDATE ON pm_queue.rate_windows TO pgtap_rls_worker;
GRANT SELECT ON pm_queue.rate_limits TO pgtap_rls_worker;
SELECT pm_queue.enqueue_many('email-sending', array_fill('{}'::jsonb, ARRAY[3]), tenant_id => pg_temp.uid('c', 1),
                             rate_keys => array_fill('mailbox:' || pg_temp.uid('d', 1), ARRAY[3])) IS NOT NULL \g /dev/null
UPDATE pm_oltp.email_accounts SET daily_limit = 6 WHERE id = pg_temp.uid('d', 1);
UPDATE pm_queue.jobs SET run_at = now() WHERE queue_name = 'email-sending' AND status = 'queued';
SELECT is(pg_temp.run_as('pgtap_rls_worker', pg_temp.uid('c', 1),
                         $$SELECT count(*) FROM pm_queue.claim('{email-sending}', 'rls-sender', 100)$$), '2',
          'under RLS, raising daily_limit from 4 to 6 frees exactly 2 more sends');
SELECT is((SELECT used FROM pm_queue.rate_windows WHERE key = 'mailbox:' || pg_temp.uid('d', 1)), 6,
          'both budget paths count in the same window row');
UPDATE pm_queue.jobs SET run_at = now() WHERE queue_name = 'email-sending' AND status = 'queued';
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('c', 1),
                         $$SELECT count(*) FROM pm_queue.claim('{email-sending}', 'app-sender', 100)$$), 'error:42501',
          'pm_app cannot consume rate budgets (no access to the budget tables)');

SELECT * FROM finish();
ROLLBACK;
