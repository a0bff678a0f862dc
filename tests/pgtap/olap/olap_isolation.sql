-- pm_olap tenant isolation, table by table and function by function: pm_app with tenant A's
-- context reads A's analytics only and writes none, no context is refused, pm_service and
-- pm_staff see every tenant, the audit log and the bookkeeping tables are closed to pm_app,
-- and every function either refuses pm_app or answers within its tenant.  Also the exact
-- distinct counts of pm_olap.unique_leads.
\ir ../include/common.psql
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION pm_olap CASCADE;
RESET client_min_messages;
SELECT plan(82);

SELECT pm.ensure_roles();
SELECT pg_temp.uid('a', 1) AS ta, pg_temp.uid('b', 1) AS tb \gset

-- One row of tenant A and two of tenant B in every fact table.
CREATE TEMP TABLE facts (t text, cols text, a_row text, b_rows text);
INSERT INTO facts VALUES
    ('pm_olap.campaign_analytics', 'tenant_id, campaign_id, day, sent',
     format('(%L, %L, current_date, 3)', :'ta', pg_temp.uid('a', 21)),
     format('(%L, %L, current_date, 5), (%L, %L, current_date - 1, 7)', :'tb', pg_temp.uid('b', 21), :'tb', pg_temp.uid('b', 21))),
    ('pm_olap.sequence_step_analytics', 'tenant_id, step_id, day, sent',
     format('(%L, %L, current_date, 3)', :'ta', pg_temp.uid('a', 31)),
     format('(%L, %L, current_date, 5), (%L, %L, current_date - 1, 7)', :'tb', pg_temp.uid('b', 31), :'tb', pg_temp.uid('b', 31))),
    ('pm_olap.mailbox_analytics', 'tenant_id, mailbox_id, day, sent',
     format('(%L, %L, current_date, 3)', :'ta', pg_temp.uid('a', 11)),
     format('(%L, %L, current_date, 5), (%L, %L, current_date - 1, 7)', :'tb', pg_temp.uid('b', 11), :'tb', pg_temp.uid('b', 11))),
    ('pm_olap.lead_analytics', 'tenant_id, lead_id, campaign_id, day, sent',
     format('(%L, %L, %L, current_date, 3)', :'ta', pg_temp.uid('a', 41), pg_temp.uid('a', 21)),
     format('(%L, %L, %L, current_date, 5), (%L, %L, %L, current_date - 1, 7)', :'tb', pg_temp.uid('b', 41),
            pg_temp.uid('b', 21), :'tb', pg_temp.uid('b', 41), pg_temp.uid('b', 21))),
    ('pm_olap.warmup_analytics', 'tenant_id, mailbox_id, day, sent',
     format('(%L, %L, current_date, 3)', :'ta', pg_temp.uid('a', 11)),
     format('(%L, %L, current_date, 5), (%L, %L, current_date - 1, 7)', :'tb', pg_temp.uid('b', 11), :'tb', pg_temp.uid('b', 11))),
    ('pm_olap.billing_analytics', 'tenant_id, period_start, period_end, emails_sent',
     format('(%L, date_trunc(''month'', now()), date_trunc(''month'', now()) + interval ''1 month'', 3)', :'ta'),
     format('(%L, date_trunc(''month'', now()), date_trunc(''month'', now()) + interval ''1 month'', 5), '
            '(%L, date_trunc(''month'', now()) + interval ''1 day'', date_trunc(''month'', now()) + interval ''1 month'', 7)', :'tb', :'tb'));
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT * FROM facts LOOP
        EXECUTE format('INSERT INTO %s (%s) VALUES %s, %s', f.t, f.cols, f.a_row, f.b_rows);
    END LOOP;
END $$;

-- ------------------------------------------------------------------ every fact table (6 x 8)
SELECT is(pg_temp.as_role('pm_app', :'ta', format('SELECT count(*) FROM %s', t), 'value'), '1',
          t || ': tenant A reads its one row') FROM facts;
SELECT is(pg_temp.as_role('pm_app', :'ta', format('SELECT count(*) FROM %s WHERE tenant_id = %L', t, :'tb'), 'value'), '0',
          t || ': tenant A asking for B''s rows by id gets none') FROM facts;
SELECT is(pg_temp.as_role('pm_app', :'ta', format('INSERT INTO %s (%s) VALUES %s', t, cols, a_row)), 'error:42501',
          t || ': pm_app cannot insert, not even for itself') FROM facts;
SELECT is(pg_temp.as_role('pm_app', :'ta', format('UPDATE %s SET updated = now()', t)), 'error:42501',
          t || ': pm_app cannot update') FROM facts;
SELECT is(pg_temp.as_role('pm_app', :'ta', format('DELETE FROM %s', t)), 'error:42501',
          t || ': pm_app cannot delete') FROM facts;
SELECT is(pg_temp.as_role('pm_app', NULL, format('SELECT count(*) FROM %s', t), 'value'), 'error:42501',
          t || ': no tenant context is refused, never every tenant''s rows') FROM facts;
SELECT is(pg_temp.as_role('pm_service', NULL, format('SELECT count(*) FROM %s', t), 'value'), '3',
          t || ': pm_service sees every tenant') FROM facts;
SELECT is(pg_temp.as_role('pm_staff', NULL, format('SELECT count(*) FROM %s', t), 'value'), '3',
          t || ': pm_staff sees every tenant') FROM facts;

-- ------------------------------------------------------------------ the audit log and bookkeeping
SELECT pm_olap.audit(NULL, 'plan.change', 'subscription', 's1', :'ta');
SELECT pm_olap.audit(NULL, 'plan.change', 'subscription', 's2', :'tb');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT count(*) FROM pm_olap.admin_audit_log', 'value'), 'error:42501',
          'admin_audit_log: pm_app cannot read even its own tenant''s records');
SELECT is(pg_temp.as_role('pm_staff', NULL, 'SELECT count(*) FROM pm_olap.admin_audit_log', 'value'), '2',
          'admin_audit_log: pm_staff reads every tenant''s');
SELECT is(pg_temp.as_role('pm_staff', NULL, 'DELETE FROM pm_olap.admin_audit_log'), 'error:42501',
          'admin_audit_log: pm_staff cannot delete');
SELECT is(pg_temp.as_role('pm_service', NULL, 'UPDATE pm_olap.admin_audit_log SET notes = ''x'''), 'error:42501',
          'admin_audit_log: pm_service cannot rewrite');
SELECT is(pg_temp.as_role('pm_app', :'ta', format('SELECT count(*) FROM %s', t), 'value'), 'error:42501',
          t || ': closed to pm_app')
FROM unnest(ARRAY['pm_olap.audit_head', 'pm_olap.audit_anchors', 'pm_olap.audit_sources',
                  'pm_olap.audit_retention_categories', 'pm_olap.rollup_state', 'pm_olap.audit_checks']) t;

-- ------------------------------------------------------------------ functions pm_app may not run
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT ' || call), 'error:42501', call || ': refused to pm_app')
FROM unnest(ARRAY[
    'pm_olap.rollup()', 'pm_olap.rebuild(current_date, current_date)',
    'pm_olap.verify(current_date, current_date)', 'pm_olap.billing_rollup()', 'pm_olap.schedule()',
    'pm_olap.audit_retention()', 'pm_olap.audit_nightly()',
    'pm_olap.audit(NULL, ''x.y'', ''x'', NULL, pm.current_tenant_id())', 'pm_olap.audit_verify()',
    'pm_olap.grant_audit_writer(''pm_app'')',
    'pm_olap._apply_facts(''campaign'', 0, 1, current_date, current_date, NULL)',
    'pm_olap._apply_billing(0, 1, NULL)']) call;

-- ------------------------------------------------------------------ functions pm_app may run
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT count(*) FROM pm_olap.freshness()', 'value'), '6',
          'freshness(): pm_app sees the lag of the six analytics tables (no tenant data in it)');
SELECT is(pg_temp.as_role('pm_app', :'ta',
              format($$SELECT emails_sent || ' ' || exact FROM pm_olap.billing_usage(%L, date_trunc('month', now()),
                        date_trunc('month', now()) + interval '1 month')$$, :'ta'), 'value'),
          '3 true', 'billing_usage(): tenant A reads its own period');
SELECT is(pg_temp.as_role('pm_app', :'ta',
              format($$SELECT emails_sent FROM pm_olap.billing_usage(%L, date_trunc('month', now()),
                        date_trunc('month', now()) + interval '1 month')$$, :'tb'), 'value'),
          'error:42501', 'billing_usage(): another tenant''s usage is refused, not reported as zero');
SELECT is(pg_temp.as_role('pm_service', NULL,
              format($$SELECT emails_sent FROM pm_olap.billing_usage(%L, date_trunc('month', now()),
                        date_trunc('month', now()) + interval '1 month')$$, :'tb'), 'value'),
          '5', 'billing_usage(): pm_service reads any tenant');
SELECT is(pg_temp.as_role('pm_app', :'ta',
              'SELECT (pm.engagement(sent, delivered, opened_tracked, clicked_tracked, replied, bounced, unsubscribed, spam_complaints)).sent FROM pm_olap.campaign_analytics',
              'value'), '3', 'pm.engagement over a table sums only the tenant''s rows');
SELECT is(pg_temp.as_role('pm_app', :'ta',
              format('SELECT contacted FROM pm_olap.unique_leads(%L, current_date - 7, current_date)', pg_temp.uid('b', 21)),
              'value'), '0', 'unique_leads(): another tenant''s campaign shows nothing');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT pm_olap.warmup_progress(''warming'', 10, 40)', 'value'), '25',
          'warmup_progress(): callable by pm_app');

-- ------------------------------------------------------------------ unique_leads, exactly
-- Campaign A1: lead 41 sent on two days and opened on both, lead 42 sent once and never
-- opened, lead 43 opened and replied 10 days ago (outside a 7-day window).
INSERT INTO pm_olap.lead_analytics (tenant_id, lead_id, campaign_id, day, sent, opened_tracked, replied, bounced) VALUES
    (:'ta', pg_temp.uid('a', 41), pg_temp.uid('a', 21), current_date - 1, 1, 1, 0, 0),
    (:'ta', pg_temp.uid('a', 42), pg_temp.uid('a', 21), current_date - 2, 1, 0, 0, 1),
    (:'ta', pg_temp.uid('a', 43), pg_temp.uid('a', 21), current_date - 10, 1, 1, 1, 0);
UPDATE pm_olap.lead_analytics SET opened_tracked = 2 WHERE lead_id = pg_temp.uid('a', 41) AND day = current_date;
SELECT is(pg_temp.as_role('pm_app', :'ta',
              format('SELECT (u.*)::text FROM pm_olap.unique_leads(%L, current_date - 7, current_date) u', pg_temp.uid('a', 21)),
              'value'), '(2,1,0,0,1)',
          'unique_leads(): a lead opened on two days counts once; the window excludes older days');
SELECT is(pg_temp.as_role('pm_app', :'ta',
              format('SELECT (u.*)::text FROM pm_olap.unique_leads(%L, current_date - 30, current_date) u', pg_temp.uid('a', 21)),
              'value'), '(3,2,0,1,1)', 'unique_leads(): a wider window takes the older lead in');
SELECT throws_ok(format('SELECT * FROM pm_olap.unique_leads(%L, current_date, current_date - 1)', pg_temp.uid('a', 21)),
                 '22023', NULL, 'unique_leads(): an empty day range is refused');
SELECT throws_ok('SELECT * FROM pm_olap.unique_leads(NULL, current_date, current_date)', '22004',
                 'unique_leads: campaign must not be NULL', 'unique_leads(): a NULL campaign is refused');

SELECT is_empty($$SELECT * FROM pm.rls_audit()$$, 'pm.rls_audit() is empty');

SELECT * FROM finish();
ROLLBACK;
