-- pm_core 0.3 -> 0.4: staff-only tables (pm.enable_staff_only), for rows that no tenant may
-- read directly even within its own tenant, and whose tenant column may be NULL for rows that
-- concern no tenant (pm_notify.admin_system_events).  A fresh CREATE EXTENSION pm_core runs
-- 0.1 and every upgrade script up to this one.  Reference: docs/pm_core.md.

\echo Use "ALTER EXTENSION pm_core UPDATE TO '0.4'" to load this file. \quit

ALTER TABLE pm.tenant_tables ADD COLUMN staff_only boolean NOT NULL DEFAULT false;

-- RLS enabled and forced with no permissive policy: roles subject to RLS (pm_app) read and
-- write nothing; pm_staff and pm_service (BYPASSRLS) see every row.  pm.rls_audit() then
-- accepts a nullable tenant column and flags any permissive policy someone adds.
CREATE FUNCTION pm.enable_staff_only(tbl regclass, tenant_column name DEFAULT 'tenant_id')
RETURNS void
AS 'MODULE_PATHNAME', 'pm_enable_staff_only'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pm.enable_staff_only(regclass, name) IS
  'RLS enabled and forced without a permissive policy: only BYPASSRLS roles (staff, service) read the table';
REVOKE ALL ON FUNCTION pm.enable_staff_only(regclass, name) FROM PUBLIC;
