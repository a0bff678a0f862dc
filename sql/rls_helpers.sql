-- pm_core §2: enable_tenant_isolation / enable_user_isolation / rls_audit / ensure_roles.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_core;
RESET client_min_messages;
SELECT pm.ensure_roles();

\i sql/include/try.psql

CREATE SCHEMA regress_rls;
CREATE TABLE regress_rls.notes (
    id        int,
    tenant_id uuid NOT NULL,
    body      text,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE regress_rls.loose (id int, tenant_id uuid, label text);
CREATE TABLE regress_rls.wrong_type (id int, tenant_id text);

-- The audit sees unprotected tenant tables (candidates: any table with a tenant_id column).
SELECT table_name, problem FROM pm.rls_audit()
WHERE table_name::text LIKE 'regress_rls.%' ORDER BY table_name::text, problem;

-- Clear errors for bad arguments.
SELECT pg_temp.try($$SELECT pm.enable_tenant_isolation('regress_rls.notes', 'org_id')$$);
SELECT pg_temp.try($$SELECT pm.enable_tenant_isolation('regress_rls.wrong_type')$$);
SELECT pg_temp.try($$SELECT pm.enable_tenant_isolation('regress_rls.notes', 'body')$$);
CREATE VIEW regress_rls.v AS SELECT * FROM regress_rls.notes;
SELECT pg_temp.try($$SELECT pm.enable_tenant_isolation('regress_rls.v')$$);

-- Isolation, and re-running changes nothing (same policy row, same registry row).
SELECT pm.enable_tenant_isolation('regress_rls.notes');
SELECT oid AS policy_oid, xmin AS policy_xmin FROM pg_policy
WHERE polrelid = 'regress_rls.notes'::regclass \gset
SELECT pm.enable_tenant_isolation('regress_rls.notes');
SELECT oid = :policy_oid AND xmin = :policy_xmin AS unchanged FROM pg_policy
WHERE polrelid = 'regress_rls.notes'::regclass;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'regress_rls.notes'::regclass;
SELECT polname, polcmd, polpermissive, pg_get_expr(polqual, polrelid) AS using_expr,
       pg_get_expr(polwithcheck, polrelid) AS check_expr
FROM pg_policy WHERE polrelid = 'regress_rls.notes'::regclass;

-- Behaviour as an application role.
CREATE ROLE regress_rls_app IN ROLE pm_app;
GRANT USAGE ON SCHEMA regress_rls TO regress_rls_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON regress_rls.notes TO regress_rls_app;
INSERT INTO regress_rls.notes VALUES
    (1, 'aaaaaaaa-0000-0000-0000-000000000001', 'a1'),
    (2, 'aaaaaaaa-0000-0000-0000-000000000001', 'a2'),
    (1, 'bbbbbbbb-0000-0000-0000-000000000002', 'b1');
SET ROLE regress_rls_app;
SELECT pg_temp.try('SELECT count(*) FROM regress_rls.notes');
BEGIN;
SELECT pm.set_context('aaaaaaaa-0000-0000-0000-000000000001');
SELECT id, body FROM regress_rls.notes ORDER BY id;
SELECT pg_temp.try($$INSERT INTO regress_rls.notes VALUES (9, 'bbbbbbbb-0000-0000-0000-000000000002', 'x')$$);
SELECT pg_temp.try($$UPDATE regress_rls.notes SET tenant_id = 'bbbbbbbb-0000-0000-0000-000000000002'$$);
UPDATE regress_rls.notes SET body = 'hijacked' WHERE tenant_id = 'bbbbbbbb-0000-0000-0000-000000000002';
DELETE FROM regress_rls.notes WHERE body = 'b1';
-- The tenant condition is an index condition, not a filter.
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM regress_rls.notes WHERE id = 2;
COMMIT;
SET pm.missing_tenant_context = deny;
SELECT count(*) AS rows_without_context FROM regress_rls.notes;
RESET pm.missing_tenant_context;
RESET ROLE;
SELECT tenant_id, id, body FROM regress_rls.notes ORDER BY 1, 2;

-- Partitions are isolated too: querying one directly is checked by its own policy.
CREATE TABLE regress_rls.events (tenant_id uuid NOT NULL, at date NOT NULL, kind text)
    PARTITION BY RANGE (at);
CREATE TABLE regress_rls.events_2026 PARTITION OF regress_rls.events
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX ON regress_rls.events (tenant_id, at);
SELECT pm.enable_tenant_isolation('regress_rls.events');
SELECT c.relname, c.relforcerowsecurity, p.polname
FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
WHERE c.oid IN ('regress_rls.events'::regclass, 'regress_rls.events_2026'::regclass) ORDER BY 1;

-- Per-user isolation: a tenant's user sees own rows and tenant-wide (NULL user) rows.
CREATE TABLE regress_rls.prefs (tenant_id uuid NOT NULL, user_id uuid, k text);
CREATE INDEX ON regress_rls.prefs (tenant_id);
SELECT pm.enable_tenant_isolation('regress_rls.prefs');
SELECT pm.enable_user_isolation('regress_rls.prefs');
SELECT polname, pg_get_expr(polqual, polrelid) FROM pg_policy
WHERE polrelid = 'regress_rls.prefs'::regclass;
GRANT SELECT ON regress_rls.prefs TO regress_rls_app;
INSERT INTO regress_rls.prefs VALUES
    ('aaaaaaaa-0000-0000-0000-000000000001', 'cccccccc-0000-0000-0000-000000000001', 'mine'),
    ('aaaaaaaa-0000-0000-0000-000000000001', 'cccccccc-0000-0000-0000-000000000002', 'colleague'),
    ('aaaaaaaa-0000-0000-0000-000000000001', NULL, 'tenant-wide'),
    ('bbbbbbbb-0000-0000-0000-000000000002', 'cccccccc-0000-0000-0000-000000000001', 'other tenant');
SET ROLE regress_rls_app;
BEGIN;
SELECT pm.set_context('aaaaaaaa-0000-0000-0000-000000000001', 'cccccccc-0000-0000-0000-000000000001');
SELECT k FROM regress_rls.prefs ORDER BY k;
COMMIT;
RESET ROLE;

-- The audit catches drift: an extra permissive policy, RLS no longer forced, an altered policy.
CREATE POLICY open_door ON regress_rls.notes USING (true);
ALTER TABLE regress_rls.notes NO FORCE ROW LEVEL SECURITY;
ALTER POLICY tenant_isolation ON regress_rls.events_2026 USING (true);
SELECT table_name, problem FROM pm.rls_audit()
WHERE table_name::text LIKE 'regress_rls.%' ORDER BY table_name::text, problem;
DROP POLICY open_door ON regress_rls.notes;
SELECT pm.enable_tenant_isolation('regress_rls.notes');
SELECT pm.enable_tenant_isolation('regress_rls.events');
DROP TABLE regress_rls.loose, regress_rls.wrong_type;
SELECT count(*) AS problems_left FROM pm.rls_audit() WHERE table_name::text LIKE 'regress_rls.%';

-- Roles: attributes are enforced even when a role pre-existed with the wrong ones.
ALTER ROLE pm_app BYPASSRLS;
SELECT pm.ensure_roles();
SELECT rolname, rolbypassrls, rolcanlogin FROM pg_roles
WHERE rolname IN ('pm_app', 'pm_staff', 'pm_service') ORDER BY 1;
SELECT pg_temp.try($$SELECT pm.set_table_access('regress_rls.notes', 'everything')$$);

-- touch_updated keeps "updated" current and refuses misuse.
CREATE TABLE regress_rls.touched (id int PRIMARY KEY, updated timestamptz DEFAULT '2000-01-01');
CREATE TRIGGER touch BEFORE UPDATE ON regress_rls.touched
    FOR EACH ROW EXECUTE FUNCTION pm.touch_updated();
INSERT INTO regress_rls.touched VALUES (1);
BEGIN;
UPDATE regress_rls.touched SET id = 1;
SELECT updated = now() AS touched FROM regress_rls.touched;
COMMIT;
CREATE TRIGGER touch_insert BEFORE INSERT ON regress_rls.touched
    FOR EACH ROW EXECUTE FUNCTION pm.touch_updated();
SELECT pg_temp.try('INSERT INTO regress_rls.touched VALUES (2)');
DROP TRIGGER touch_insert ON regress_rls.touched;
CREATE TRIGGER touch_missing BEFORE UPDATE ON regress_rls.touched
    FOR EACH ROW EXECUTE FUNCTION pm.touch_updated('modified');
SELECT pg_temp.try('UPDATE regress_rls.touched SET id = 1');
SELECT pg_temp.try('SELECT pm.touch_updated()');

DROP SCHEMA regress_rls CASCADE;
DROP OWNED BY regress_rls_app;
DROP ROLE regress_rls_app;
SELECT count(*) AS registry_rows_left FROM pm.tenant_tables t
WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.tbl);
