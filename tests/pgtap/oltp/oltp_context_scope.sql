-- A transaction-local tenant context must not outlive its transaction: pooled
-- connections hand the same session to the next request.  This file cannot run
-- inside one outer transaction, so its fixture is committed and removed at the end.
\ir ../include/common.psql

SELECT plan(10);

-- Counts leads as pm_app with whatever context the session/transaction holds.
CREATE FUNCTION pg_temp.app_leads() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    result text;
BEGIN
    BEGIN
        PERFORM set_config('role', 'pm_app', true);
        SELECT count(*)::text INTO result FROM pm_oltp.leads;
        PERFORM set_config('role', 'none', true);
    EXCEPTION WHEN OTHERS THEN
        result := 'error:' || SQLSTATE;
    END;
    RETURN result;
END
$f$;

-- Leftovers of an interrupted earlier run.
SELECT pm.set_context(NULL, NULL, false);
DELETE FROM pm_oltp.tenants WHERE id IN (pg_temp.uid('d', 1), pg_temp.uid('e', 1));

INSERT INTO pm_oltp.tenants (id, name) VALUES (pg_temp.uid('d', 1), 'D'), (pg_temp.uid('e', 1), 'E');
INSERT INTO pm_oltp.leads (tenant_id, email) VALUES
    (pg_temp.uid('d', 1), 'one@d.test'),
    (pg_temp.uid('e', 1), 'one@e.test'), (pg_temp.uid('e', 1), 'two@e.test');

-- Autocommit: this statement is a transaction of its own.
SELECT pm.set_context(pg_temp.uid('d', 1));
SELECT is(pg_temp.app_leads(), 'error:42501',
          'a local context set in an autocommitted statement is gone in the next one');

BEGIN;
SELECT pm.set_context(pg_temp.uid('d', 1));
SELECT is(pg_temp.app_leads(), '1', 'inside its transaction the local context applies');
COMMIT;
SELECT is(pg_temp.app_leads(), 'error:42501', 'after COMMIT the local context is gone');

BEGIN;
SELECT pm.set_context(pg_temp.uid('d', 1));
ROLLBACK;
SELECT is(pg_temp.app_leads(), 'error:42501', 'after ROLLBACK the local context is gone');

BEGIN;
SAVEPOINT before_context;
SELECT pm.set_context(pg_temp.uid('d', 1));
ROLLBACK TO SAVEPOINT before_context;
SELECT is(pg_temp.app_leads(), 'error:42501',
          'a context set inside a rolled-back savepoint is gone');
COMMIT;

SELECT pm.set_context(pg_temp.uid('d', 1), NULL, false);
SELECT is(pg_temp.app_leads(), '1', 'a session context (is_local => false) persists');

BEGIN;
SELECT pm.set_context(pg_temp.uid('e', 1));
SELECT is(pg_temp.app_leads(), '2', 'a local context overrides the session context');
COMMIT;
SELECT is(pg_temp.app_leads(), '1', 'after COMMIT the session context is back, not the local one');

SELECT pm.set_context(NULL, NULL, false);
SELECT is(pg_temp.app_leads(), 'error:42501', 'clearing the session context leaves none');

DELETE FROM pm_oltp.tenants WHERE id IN (pg_temp.uid('d', 1), pg_temp.uid('e', 1));
SELECT is((SELECT count(*) FROM pm_oltp.leads
           WHERE tenant_id IN (pg_temp.uid('d', 1), pg_temp.uid('e', 1))),
          0::bigint, 'fixture removed');

SELECT * FROM finish();
