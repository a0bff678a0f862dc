-- Main job, tier link, step 3 — in pm_oltp after demo/content_bodies.sql and
-- demo/fdw_link.sql: writes the bodies of demo.mail into the content tier THROUGH THE
-- LINK, the way the application does it: as pm_app, one transaction per tenant with its
-- context set, pm.put_content → pm_content.put_body on the content tier, whose RLS sees
-- the tenant pm_fdw propagates.  Each answer must be the key OLTP already holds.
--   psql -d pm_oltp -v phase=early -f demo/fdw_load.sql   the mail sent before dictionaries
--   psql -d pm_oltp -v phase=rest  -f demo/fdw_load.sql   everything else
\set ON_ERROR_STOP on
SELECT format($f$
BEGIN;
SET LOCAL ROLE pm_app;
SET LOCAL app.current_tenant_id = %L;
UPDATE demo.mail
   SET stored_key = pm.put_content(tenant_id, content_text, content_html, headers)
 WHERE early = %L;
COMMIT;$f$, t.id, :'phase' = 'early')
FROM pm_oltp.tenants t ORDER BY t.id
\gexec

SET demo.phase = :'phase';
DO $$
DECLARE bad bigint;
BEGIN
    SELECT count(*) INTO bad FROM demo.mail
     WHERE early = (current_setting('demo.phase') = 'early') AND stored_key IS DISTINCT FROM oltp_key;
    IF bad > 0 THEN
        RAISE EXCEPTION '% bodies got another key through the link than the one pm_oltp.emails holds', bad;
    END IF;
END $$;
