-- Main job, content tier, step 2 (runs in the pm_content database, which has
-- CREATE EXTENSION pm_content CASCADE and pm.ensure_roles()); reads the CSV that
-- demo/content_bodies.sql writes, on stdin:
--
--   psql -d pm_oltp -At -f demo/content_bodies.sql | psql -d pm_content -f demo/content_load.sql
--
-- Stores every body and attachment the way a sender would over time: the first sixth
-- of each tenant's mail goes out before any dictionary exists, then a per-tenant (and
-- per-template) dictionary is trained from it (the nightly pg_cron job), the rest is
-- stored with it, and the early objects are recompressed.  Fails if a key differs
-- from the one OLTP holds.  Leaves demo.put_stats for demo/content_report.sql.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE SCHEMA IF NOT EXISTS demo;
DROP TABLE IF EXISTS demo.mail, demo.put_stats;
CREATE TABLE demo.mail (
    email_id uuid PRIMARY KEY, tenant_id uuid NOT NULL, tenant_name text, template text,
    content_text text, content_html text, headers jsonb, oltp_key text NOT NULL,
    attachment text, stored_key text, early boolean
);
COMMENT ON TABLE demo.mail IS 'The demo''s bodies as OLTP described them (demo/content_load.sql)';
-- Tenant-owned rows like any other: under isolation, so pm.rls_audit() stays empty.
CREATE INDEX ON demo.mail (tenant_id);
SELECT pm.enable_tenant_isolation('demo.mail') \g /dev/null
\copy demo.mail (email_id, tenant_id, tenant_name, template, content_text, content_html, headers, oltp_key, attachment) FROM pstdin WITH (FORMAT csv)

UPDATE demo.mail m SET early = x.rn <= x.n / 6
  FROM (SELECT email_id, row_number() OVER (PARTITION BY tenant_id ORDER BY email_id) AS rn,
               count(*) OVER (PARTITION BY tenant_id) AS n FROM demo.mail) x
 WHERE x.email_id = m.email_id;

-- 1. The early mail, before any dictionary.
UPDATE demo.mail SET stored_key = pm_content.put_body(tenant_id, content_text, content_html, headers,
                                                      NULL, template)
 WHERE early;

-- 2. The nightly job: a dictionary per tenant, and per template where there is mail for it.
SELECT count(pm_content.train_dictionary(tenant_id, template)) AS dictionaries
FROM (SELECT DISTINCT tenant_id, template FROM demo.mail WHERE early) x \gset
SELECT count(pm_content.train_dictionary(tenant_id)) AS tenant_dictionaries
FROM (SELECT DISTINCT tenant_id FROM demo.mail WHERE early) x \gset

-- 3. Everything else, with the dictionaries; then the early objects move onto them.
UPDATE demo.mail SET stored_key = pm_content.put_body(tenant_id, content_text, content_html, headers,
                                                      NULL, template)
 WHERE NOT early;
DO $$ BEGIN WHILE pm_content.recompress(NULL, 5000) > 0 LOOP END LOOP; END $$;

-- The content tier computed the very keys OLTP holds.
DO $$
DECLARE bad bigint;
BEGIN
    SELECT count(*) INTO bad FROM demo.mail WHERE stored_key IS DISTINCT FROM oltp_key;
    IF bad > 0 THEN
        RAISE EXCEPTION '% bodies got another key than the one pm_oltp.emails holds', bad;
    END IF;
END $$;

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
       count(DISTINCT m.stored_key) AS distinct_bodies,
       count(*) FILTER (WHERE m.attachment IS NOT NULL) AS attachment_puts,
       count(pm_content.put_attachment(m.stored_key, 'case-study.pdf', 'application/pdf', c.bytes))
           FILTER (WHERE m.attachment = 'case-study') AS case_studies,
       count(pm_content.put_attachment(m.stored_key, 'meeting-notes.txt', 'text/plain',
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
