-- pm_core §1: tenant context settings, caching and the missing-context modes.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_core;
RESET client_min_messages;

\i sql/include/try.psql

-- No context: NULL from the readers, 42501 from the guards.
SELECT pm.current_tenant_id() IS NULL AS tenant_unset, pm.current_user_id() IS NULL AS user_unset;
SELECT pg_temp.try('SELECT pm.rls_tenant_id()');
SELECT pg_temp.try('SELECT pm.require_tenant()');

-- Transaction-local by default: gone after COMMIT.
BEGIN;
SELECT pm.set_context('11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222');
SELECT pm.current_tenant_id(), pm.current_user_id(), pm.rls_tenant_id(), pm.require_tenant();
SELECT current_setting('app.current_tenant_id') AS raw_setting;
COMMIT;
SELECT pm.current_tenant_id() IS NULL AS gone_after_commit;

-- ... and after ROLLBACK, and a savepoint rollback restores the earlier tenant.
BEGIN;
SELECT pm.set_context('11111111-1111-1111-1111-111111111111');
SAVEPOINT s;
SELECT pm.set_context('33333333-3333-3333-3333-333333333333');
SELECT pm.current_tenant_id() AS inside_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT pm.current_tenant_id() AS after_savepoint_rollback;
ROLLBACK;
SELECT pm.current_tenant_id() IS NULL AS gone_after_rollback;

-- Session-wide when asked; NULL clears both settings.
SELECT pm.set_context('44444444-4444-4444-4444-444444444444', NULL, false);
SELECT pm.current_tenant_id() AS session_tenant, pm.current_user_id() IS NULL AS user_cleared;
SELECT pm.set_context(NULL, NULL, false);
SELECT pm.current_tenant_id() IS NULL AS cleared;
SELECT pg_temp.try('SELECT pm.set_context(NULL, NULL, NULL)');

-- The setting text is parsed like uuid input; the cache follows every change of text.
SELECT set_config('app.current_tenant_id', v, false) AS raw, pm.current_tenant_id() AS parsed
FROM (VALUES ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'),
             ('{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12}'),
             ('a0eebc999c0b4ef8bb6d6bb9bd380a13')) AS forms(v);
SELECT set_config('app.current_tenant_id', 'not-a-uuid', false) IS NOT NULL AS set;
SELECT pg_temp.try('SELECT pm.current_tenant_id()');
SELECT pg_temp.try('SELECT pm.rls_tenant_id()');
SELECT set_config('app.current_user_id', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1', false) IS NOT NULL AS set;
SELECT pg_temp.try('SELECT pm.current_user_id()');
SELECT set_config('app.current_tenant_id', '', false) = '' AS emptied,
       set_config('app.current_user_id', '', false) = '' AS emptied_user;
SELECT pm.current_tenant_id() IS NULL AS empty_means_unset;

-- deny: policies see NULL (zero rows); require_tenant still refuses.
SET pm.missing_tenant_context = deny;
SELECT pm.rls_tenant_id() IS NULL AS denied;
SELECT pg_temp.try('SELECT pm.require_tenant()');
RESET pm.missing_tenant_context;
SELECT pg_temp.try('SET pm.missing_tenant_context = everything');
-- pm.* is reserved for this library: a typo is an error, not a silent placeholder.
SELECT pg_temp.try('SET pm.missing_tenant_contxt = deny');

-- The value a policy's call site keeps between calls follows every change of the setting:
-- a PL/pgSQL simple expression keeps its call site for the whole transaction, across
-- set_context, set_config, an exception block's rollback and RESET.
CREATE FUNCTION pg_temp.seen_by_one_call_site() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  t uuid;
  u uuid;
BEGIN
  FOR i IN 1..3 LOOP
    PERFORM pm.set_context(('00000000-0000-0000-0000-00000000000' || i)::uuid,
                           ('00000000-0000-0000-0000-0000000000a' || i)::uuid);
    t := pm.rls_tenant_id();
    u := pm.current_user_id();
    RETURN NEXT 'set_context ' || i || ': ' || t || ' / ' || u;
  END LOOP;
  PERFORM set_config('app.current_tenant_id', '00000000-0000-0000-0000-000000000009', true);
  t := pm.rls_tenant_id();
  RETURN NEXT 'set_config: ' || t;
  BEGIN
    PERFORM pm.set_context('00000000-0000-0000-0000-000000000008');
    t := pm.rls_tenant_id();
    RETURN NEXT 'inside the block: ' || t;
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN raise_exception THEN
    t := pm.rls_tenant_id();
    RETURN NEXT 'after its rollback: ' || t;
  END;
  PERFORM set_config('app.current_tenant_id', '', true);
  SET LOCAL pm.missing_tenant_context = deny;
  t := pm.rls_tenant_id();
  RETURN NEXT 'emptied: ' || coalesce(t::text, 'NULL');
END
$$;
BEGIN;
SELECT * FROM pg_temp.seen_by_one_call_site();
ROLLBACK;
-- The same within one statement: each row's call sees the value its row set.
SELECT pm.set_context(t::uuid) IS NULL AS set, pm.rls_tenant_id()
FROM (VALUES ('00000000-0000-0000-0000-000000000011'), ('00000000-0000-0000-0000-000000000012')) v(t);
SELECT pm.set_context(NULL, NULL, false);

-- Defined by the library: SHOW answers before anything sets them (empty: no context).
SELECT current_setting('app.current_tenant_id') = '' AS tenant_defined_empty,
       current_setting('app.current_user_id') = '' AS user_defined_empty;

-- Function properties the planner relies on.
SELECT proname, provolatile, proparallel, proleakproof
FROM pg_proc
WHERE pronamespace = 'pm'::regnamespace
  AND proname IN ('current_tenant_id', 'current_user_id', 'rls_tenant_id', 'require_tenant')
ORDER BY proname;
