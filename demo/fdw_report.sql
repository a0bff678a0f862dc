-- Main job, tier link report — in pm_oltp: for each tenant, one message with its body
-- resolved through the link (pm.resolve_content, tenant context propagated), then the
-- link's health.
--   psql -d pm_oltp -f demo/fdw_report.sql
\set ON_ERROR_STOP on
\pset footer off
SELECT format($f$
BEGIN;
SET LOCAL ROLE pm_app;
SET LOCAL app.current_tenant_id = %L;
SELECT %L AS tenant, e.recipient, e.subject, left(c.content_text, 60) AS body_text,
       c.raw_size_bytes AS bytes
FROM (SELECT * FROM pm_oltp.emails WHERE content_storage_key IS NOT NULL
      ORDER BY sent_at NULLS LAST, id LIMIT 1) e
CROSS JOIN LATERAL pm.resolve_content(e.content_storage_key) c;
COMMIT;$f$, t.id, t.name)
FROM pm_oltp.tenants t ORDER BY t.name
\gexec
SELECT tier, server, state, failures, last_ok, round(round_trip_ms::numeric, 2) AS round_trip_ms
FROM pm.tier_status();
