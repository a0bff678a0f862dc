-- Main job, tier link, step 3 — in pm_oltp after demo/sample.sql and demo/fdw_link.sql:
-- writes a body for every email that has none yet THROUGH THE LINK (pm.put_content →
-- pm_content.put_body on the content tier, under each tenant's context) and stores the
-- returned key in emails.content_storage_key.  Re-running it writes nothing new.
--   psql -d pm_oltp -f demo/fdw_load.sql
\set ON_ERROR_STOP on
SELECT format($f$
BEGIN;
SET LOCAL ROLE pm_app;
SET LOCAL app.current_tenant_id = %L;
UPDATE pm_oltp.emails e
SET content_storage_key = pm.put_content(e.tenant_id,
        format('Hi %%s,%%s%%sFollowing up on %%s.', coalesce(l.name, 'there'), chr(10), chr(10),
               coalesce(e.subject, 'our last note')),
        format('<p>Hi %%s,</p><p>Following up on %%s.</p>', coalesce(l.name, 'there'),
               coalesce(e.subject, 'our last note')),
        jsonb_build_object('Subject', e.subject, 'To', e.recipient))
FROM pm_oltp.emails e2 LEFT JOIN pm_oltp.leads l ON l.tenant_id = e2.tenant_id AND l.id = e2.lead_id
WHERE e.id = e2.id AND e.content_storage_key IS NULL;
COMMIT;$f$, t.id)
FROM pm_oltp.tenants t ORDER BY t.id
\gexec
