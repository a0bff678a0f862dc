-- Main job, tier link, step 1 — in the CONTENT database (pm_content), as a superuser:
-- the role the OLTP database's link logs in as.  A member of pm_app, so the content
-- tier's RLS applies to the tenant pm_fdw propagates.
--   psql -d pm_content -v link_password=... -f demo/fdw_content_role.sql
\set ON_ERROR_STOP on
SELECT pm.ensure_roles();
DROP ROLE IF EXISTS pm_content_link;
CREATE ROLE pm_content_link LOGIN PASSWORD :'link_password' IN ROLE pm_app;
