-- Main job, content tier (runs in the pm_content database, which has CREATE EXTENSION
-- pm_content CASCADE and pm.ensure_roles()).  The bodies themselves arrive through the
-- pm_fdw link from OLTP (demo/fdw_load.sql); this script is the content side's own work:
--
--   psql -d pm_content -v step=train -f demo/content_load.sql
--       the nightly pg_cron job: a dictionary per tenant, trained from the mail stored so
--       far (the first sixth of each tenant's mail, sent before any dictionary existed)
--   psql -d pm_oltp -At -c "COPY (SELECT ... FROM demo.mail) TO STDOUT (FORMAT csv)" |
--   psql -d pm_content -v step=finish -f demo/content_load.sql
--       after the rest went through the link: the early objects move onto the dictionaries,
--       attachments are stored (the messages' metadata arrives on stdin: no bodies), and
--       demo.put_stats is left for demo/content_report.sql.  Fails if a key OLTP holds
--       cannot be served.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

\if :{?step}
\else
\set step finish
\endif
SELECT :'step' = 'train' AS training \gset
\if :training
SELECT count(pm_content.train_dictionary(tenant_id)) AS dictionaries
FROM (SELECT DISTINCT tenant_id FROM pm_content.content_objects) x \gset
\echo 'content: trained' :dictionaries 'tenant dictionaries'
\quit
\endif

CREATE SCHEMA IF NOT EXISTS demo;
DROP TABLE IF EXISTS demo.mail, demo.put_stats;
CREATE TABLE demo.mail (
    email_id uuid PRIMARY KEY, tenant_id uuid NOT NULL, tenant_name text, template text,
    oltp_key text NOT NULL, attachment text
);
COMMENT ON TABLE demo.mail IS 'Which message has which key and attachments (demo/content_load.sql)';
-- Tenant-owned rows like any other: under isolation, so pm.rls_audit() stays empty.
CREATE INDEX ON demo.mail (tenant_id);
SELECT pm.enable_tenant_isolation('demo.mail') \g /dev/null
\copy demo.mail (email_id, tenant_id, tenant_name, template, oltp_key, attachment) FROM pstdin WITH (FORMAT csv)

-- Every key OLTP holds is served by the tier.
DO $$
DECLARE missing bigint;
BEGIN
    SELECT count(*) INTO missing FROM pm_content.missing_keys((SELECT array_agg(oltp_key) FROM demo.mail));
    IF missing > 0 THEN
        RAISE EXCEPTION '% keys that pm_oltp.emails holds have no body in the content tier', missing;
    END IF;
END $$;

-- The early objects move onto the dictionaries (pm_content.recompress, also nightly).
DO $$ BEGIN WHILE pm_content.recompress(NULL, 5000) > 0 LOOP END LOOP; END $$;

-- 4. Attachments: each tenant's case study PDF on every follow-up (one file, stored once
--    per tenant), and notes of their own on some replies.  A PDF is compressed already:
--    pseudo-random bytes behind a PDF header stand in for it.
CREATE TEMP TABLE case_study AS
SELECT tenant_id,
       convert_to('%PDF-1.7' || E'\n', 'UTF8') ||
       (SELECT string_agg(sha256(convert_to(t.tenant_id::text || g, 'UTF8')), '')
          FROM generate_series(1, 1500) g) AS bytes
FROM (SELECT DISTINCT tenant_id FROM demo.mail) t;

CREATE TABLE demo.put_stats AS
SELECT m.tenant_id,
       count(*) AS body_puts,
       count(DISTINCT m.oltp_key) AS distinct_bodies,
       count(*) FILTER (WHERE m.attachment IS NOT NULL) AS attachment_puts,
       count(pm_content.put_attachment(m.oltp_key, 'case-study.pdf', 'application/pdf', c.bytes))
           FILTER (WHERE m.attachment = 'case-study') AS case_studies,
       count(pm_content.put_attachment(m.oltp_key, 'meeting-notes.txt', 'text/plain',
                                       convert_to(format(E'Notes for %s\n%s\n', m.email_id,
                                                         repeat('- follow up on pricing and timeline' || E'\n', 12)),
                                                  'UTF8')))
           FILTER (WHERE m.attachment = 'notes') AS notes
FROM demo.mail m JOIN case_study c USING (tenant_id)
GROUP BY m.tenant_id;
CREATE INDEX ON demo.put_stats (tenant_id);
ALTER TABLE demo.put_stats ALTER COLUMN tenant_id SET NOT NULL;
SELECT pm.enable_tenant_isolation('demo.put_stats') \g /dev/null

ANALYZE;
SELECT format('content: %s bodies stored for %s emails, %s attachment puts, %s dictionaries',
              (SELECT count(*) FROM pm_content.content_objects), (SELECT count(*) FROM demo.mail),
              (SELECT sum(attachment_puts) FROM demo.put_stats),
              (SELECT count(*) FROM pm_content.dictionaries)) AS loaded \gset
\echo :loaded
