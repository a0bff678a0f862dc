-- The isolation policy must be usable as an index condition (spec/core.md §2):
-- tenant_id = pm.rls_tenant_id() has to appear inside an Index Cond, not a Filter,
-- on the app's typical point, range and tenant-wide queries.
\ir ../include/common.psql

BEGIN;
SELECT plan(6);

-- EXPLAIN output of stmt as pm_app with tenant A's context, or 'error:SQLSTATE'.
CREATE FUNCTION pg_temp.plan_as_app(stmt text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    result text;
    line   text;
BEGIN
    BEGIN
        PERFORM pm.set_context(pg_temp.uid('a', 1));
        PERFORM set_config('role', 'pm_app', true);
        FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || stmt LOOP
            result := concat_ws(E'\n', result, line);
        END LOOP;
        PERFORM set_config('role', 'none', true);
        PERFORM pm.set_context(NULL);
    EXCEPTION WHEN OTHERS THEN
        result := 'error:' || SQLSTATE;
    END;
    RETURN result;
END
$f$;

-- Several tenants of realistic shape, so that an index is worth using.
INSERT INTO pm_oltp.tenants (id, name)
SELECT pg_temp.uid(p, 1), 'Tenant ' || p FROM unnest(ARRAY['a', 'b', 'c', 'd']) p;
INSERT INTO pm_oltp.leads (tenant_id, email)
SELECT pg_temp.uid(p, 1), format('lead%s@%s.test', i, p)
FROM unnest(ARRAY['a', 'b', 'c', 'd']) p, generate_series(1, 2000) i;
INSERT INTO pm_oltp.emails (tenant_id, direction, status, sent_at)
SELECT pg_temp.uid(p, 1), 'outbound', 'sent', now() - (i % 365) * interval '1 day' - i * interval '1 second'
FROM unnest(ARRAY['a', 'b', 'c', 'd']) p, generate_series(1, 5000) i;
ANALYZE pm_oltp.tenants, pm_oltp.leads, pm_oltp.emails;

SELECT matches(pg_temp.plan_as_app($$SELECT * FROM pm_oltp.leads WHERE email = 'lead42@a.test'$$),
               'Index Cond: \(\(tenant_id = pm\.rls_tenant_id\(\)\) AND \(\(email\)::text = ',
               'leads point lookup by email: the policy is part of the Index Cond');

SELECT matches(pg_temp.plan_as_app($$SELECT * FROM pm_oltp.emails
                                     WHERE sent_at >= now() - interval '2 days'
                                       AND sent_at < now() - interval '1 day'$$),
               'Index Cond: \(\(tenant_id = pm\.rls_tenant_id\(\)\) AND \(sent_at >= ',
               'emails sent_at range: the policy and the range share one Index Cond');
SELECT matches(pg_temp.plan_as_app($$SELECT * FROM pm_oltp.emails
                                     WHERE sent_at >= now() - interval '2 days'
                                       AND sent_at < now() - interval '1 day'$$),
               'emails_tenant_sent_at_idx',
               'emails sent_at range uses the (tenant_id, sent_at) index');

-- A tenant-wide count reads a quarter of the table here; the planner may rightly
-- prefer a sequential scan, so it is switched off to show the index is usable.
SET LOCAL enable_seqscan = off;
SELECT matches(pg_temp.plan_as_app('SELECT count(*) FROM pm_oltp.leads'),
               'Index Cond: \(tenant_id = pm\.rls_tenant_id\(\)\)',
               'leads tenant-wide count: the policy is an Index Cond');
SELECT matches(pg_temp.plan_as_app('SELECT count(*) FROM pm_oltp.emails'),
               'Index Cond: \(tenant_id = pm\.rls_tenant_id\(\)\)',
               'emails tenant-wide count: the policy is an Index Cond');
SELECT doesnt_match(pg_temp.plan_as_app('SELECT count(*) FROM pm_oltp.leads'),
                    'Filter: .*rls_tenant_id',
                    'leads tenant-wide count: the policy is not evaluated as a per-row Filter');

SELECT * FROM finish();
ROLLBACK;
