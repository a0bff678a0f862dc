-- Main job, tier link report — in pm_oltp: for each tenant, its latest message with the
-- body resolved through the link (pm.resolve_content as pm_app, the tenant's context
-- propagated to the content tier's RLS), then the link's health.
--   psql -d pm_oltp -f demo/fdw_report.sql
\set ON_ERROR_STOP on
\pset footer off
CREATE TEMP TABLE resolved (tenant text, recipient text, subject text, body text, bytes int);
GRANT INSERT ON resolved TO pm_app;
SELECT format($f$
BEGIN;
SET LOCAL ROLE pm_app;
SET LOCAL app.current_tenant_id = %L;
INSERT INTO pg_temp.resolved
SELECT %L, e.recipient, e.subject,
       left(regexp_replace(c.content_text, '\s+', ' ', 'g'), 60) || '…', c.raw_size_bytes
FROM (SELECT * FROM pm_oltp.emails WHERE content_storage_key IS NOT NULL AND direction = 'outbound'
      ORDER BY sent_at DESC NULLS LAST, id LIMIT 1) e
CROSS JOIN LATERAL pm.resolve_content(e.content_storage_key) c;
COMMIT;$f$, t.id, t.name)
FROM pm_oltp.tenants t ORDER BY t.name
\gexec
SELECT * FROM resolved ORDER BY tenant;

SELECT tier, server, state, failures, last_error, last_ok, retry_at,
       round(round_trip_ms::numeric, 2) AS round_trip_ms
FROM pm.tier_status();
