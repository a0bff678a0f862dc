-- pm_core 0.1: tenant context, RLS helpers and storage keys (schema pm).
-- Contract: ../shared/spec/core.md.  Implementations are C++ in src/.

\echo Use "CREATE EXTENSION pm_core" to load this file. \quit

------------------------------------------------------------------------------
-- Registries the RLS helpers and pm.ensure_roles() work from
------------------------------------------------------------------------------

-- Functions that splice regclass output or compare pg_get_expr() text pin
-- search_path to pg_catalog, so names come out schema-qualified whatever the
-- caller's path is.

-- Tables put under isolation by pm.enable_tenant_isolation / pm.enable_user_isolation.
-- rls_audit() checks them (plus every table with a tenant_id column).
CREATE TABLE pm.tenant_tables (
    tbl            regclass PRIMARY KEY,
    tenant_column  name NOT NULL,
    user_column    name,               -- set for per-user isolation
    user_nullable  boolean NOT NULL DEFAULT false,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    -- Rows an extension script wrote are re-created by CREATE EXTENSION on
    -- restore; only the others belong in a dump.
    from_extension_script boolean NOT NULL DEFAULT false
);

-- What the application role may do with a table; pm.ensure_roles() grants from it.
--   write: SELECT/INSERT/UPDATE/DELETE (tenant-owned tables, filtered by RLS)
--   read:  SELECT only (global reference data such as plans)
--   none:  no access (platform-internal tables)
-- Staff (pm_staff) read every table of the pm_* schemas; pm_service may write them.
CREATE TABLE pm.table_access (
    tbl        regclass PRIMARY KEY,
    app_access text NOT NULL CHECK (app_access IN ('write', 'read', 'none')),
    from_extension_script boolean NOT NULL DEFAULT false
);

-- Registry rows follow their tables: a dropped table is forgotten, so a later
-- table that reuses the oid does not inherit its registration.
CREATE FUNCTION pm.forget_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pm.tenant_tables t USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND t.tbl = d.objid;
    DELETE FROM pm.table_access a USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND a.tbl = d.objid;
END $$;

CREATE EVENT TRIGGER pm_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION pm.forget_dropped_tables();

SELECT pg_catalog.pg_extension_config_dump('pm.tenant_tables', 'WHERE NOT from_extension_script');
SELECT pg_catalog.pg_extension_config_dump('pm.table_access', 'WHERE NOT from_extension_script');

------------------------------------------------------------------------------
-- §1 Tenant context
------------------------------------------------------------------------------

CREATE FUNCTION pm.set_context(tenant_id uuid, user_id uuid DEFAULT NULL,
                               is_local boolean DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'pm_set_context'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pm.set_context(uuid, uuid, boolean) IS
  'Sets app.current_tenant_id / app.current_user_id (transaction-local by default; NULL clears)';

CREATE FUNCTION pm.current_tenant_id() RETURNS uuid
AS 'MODULE_PATHNAME', 'pm_current_tenant_id'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION pm.current_user_id() RETURNS uuid
AS 'MODULE_PATHNAME', 'pm_current_user_id'
LANGUAGE C STABLE PARALLEL SAFE;

-- What policies call.  COST 1: as cheap as an operator, so the planner does not
-- shy away from plans that evaluate it.  LEAKPROOF: it reads no row data.
CREATE FUNCTION pm.rls_tenant_id() RETURNS uuid
AS 'MODULE_PATHNAME', 'pm_rls_tenant_id'
LANGUAGE C STABLE PARALLEL SAFE LEAKPROOF COST 1;

CREATE FUNCTION pm.require_tenant() RETURNS uuid
AS 'MODULE_PATHNAME', 'pm_require_tenant'
LANGUAGE C STABLE PARALLEL SAFE;

------------------------------------------------------------------------------
-- §2 RLS helpers
------------------------------------------------------------------------------

CREATE FUNCTION pm.enable_tenant_isolation(tbl regclass, tenant_column name DEFAULT 'tenant_id')
RETURNS void
AS 'MODULE_PATHNAME', 'pm_enable_tenant_isolation'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION pm.enable_user_isolation(tbl regclass, user_column name DEFAULT 'user_id',
                                         tenant_column name DEFAULT 'tenant_id')
RETURNS void
AS 'MODULE_PATHNAME', 'pm_enable_user_isolation'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

-- search_path pinned so policy expressions deparse schema-qualified, whatever the caller's path.
CREATE FUNCTION pm.rls_audit() RETURNS TABLE(table_name regclass, problem text)
AS 'MODULE_PATHNAME', 'pm_rls_audit'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

-- Records what pm_app may do with a table (write | read | none) for pm.ensure_roles().
CREATE FUNCTION pm.set_table_access(tbl regclass, app_access text) RETURNS void
AS 'MODULE_PATHNAME', 'pm_set_table_access'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

-- Grants the roles what pm.table_access says, for every installed pm_* schema.
-- Roles that do not exist yet are skipped: extension scripts call it too.
CREATE FUNCTION pm.apply_grants() RETURNS void
AS 'MODULE_PATHNAME', 'pm_apply_grants'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION pm.ensure_roles() RETURNS void
AS 'MODULE_PATHNAME', 'pm_ensure_roles'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- BEFORE UPDATE row trigger keeping a timestamptz column (default "updated") current.
CREATE FUNCTION pm.touch_updated() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_touch_updated'
LANGUAGE C;

------------------------------------------------------------------------------
-- §3 Storage keys
------------------------------------------------------------------------------

-- Not STRICT: a NULL argument is a caller bug and raises 22004 instead of
-- silently producing a NULL key.
CREATE FUNCTION pm.storage_key(tenant_id uuid, kind text, content bytea) RETURNS text
AS 'MODULE_PATHNAME', 'pm_storage_key'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Not STRICT: NULL parts are part of the encoding (NULL differs from '').
CREATE FUNCTION pm.body_storage_key(tenant_id uuid, content_text text, content_html text,
                                    headers jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pm_body_storage_key'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION pm.storage_key_parse(key text)
RETURNS TABLE(version int, kind text, tenant_id uuid, digest text)
AS 'MODULE_PATHNAME', 'pm_storage_key_parse'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1;

-- Never raises; NULL is not a valid key (false).
CREATE FUNCTION pm.storage_key_is_valid(key text) RETURNS boolean
AS 'MODULE_PATHNAME', 'pm_storage_key_is_valid'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Jump consistent hash of the digest: growing N -> N+1 shards moves only the
-- keys that land in the new shard (~1/(N+1)).  shards: 1..65536.
CREATE FUNCTION pm.storage_key_shard(key text, shards int) RETURNS int
AS 'MODULE_PATHNAME', 'pm_storage_key_shard'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------
-- Privileges: the registries are maintained through the functions above.
------------------------------------------------------------------------------
REVOKE ALL ON pm.tenant_tables, pm.table_access FROM PUBLIC;
SELECT pm.set_table_access('pm.tenant_tables', 'read');
SELECT pm.set_table_access('pm.table_access', 'read');
