-- Main job, content tier, step 1 (pm_oltp, after demo/sample.sql and the queue's sends):
-- the body every email carries, in table demo.mail of the OLTP database, for
-- demo/fdw_load.sql to write into the content tier through the pm_fdw link.
--
-- Outbound bodies are rendered again exactly as they were sent (same template, names,
-- company, headers), so pm.body_storage_key gives back the emails.content_storage_key
-- already stored: the content tier receives the body for the key OLTP holds.  Inbound
-- replies had no body yet: they get one here, and their content_storage_key.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.31) \g /dev/null

BEGIN;

-- What a reply says; chosen per email so a rerun writes the same replies.
CREATE TEMP TABLE reply_line (k int PRIMARY KEY, line text);
INSERT INTO reply_line VALUES
  (0, 'Thanks for reaching out. Could you send me a few times that work next week?'),
  (1, 'Not a priority for us this quarter, but please check back in January.'),
  (2, 'Interesting timing, we were just discussing this. Who else do you work with?'),
  (3, 'Please talk to our operations lead instead, I have copied her.'),
  (4, 'Can you share pricing for a team of twenty before we set up a call?');

CREATE TEMP TABLE reply AS
SELECT e.id, e.tenant_id,
       format(E'Hi %s,\n\n%s\n\nBest,\n%s\n\n> %s',
              split_part(coalesce(o.sender_name, a.email), ' ', 1),
              r.line, coalesce(l.name, l.email), o.subject) AS content_text,
       jsonb_build_object('From', l.email, 'To', a.email, 'Subject', e.subject,
                          'In-Reply-To', o.message_id, 'Message-ID', e.message_id) AS headers
FROM pm_oltp.emails e
JOIN pm_oltp.leads l ON l.id = e.lead_id
JOIN pm_oltp.email_accounts a ON a.id = e.email_account_id
JOIN LATERAL (SELECT x.subject, x.message_id, s.from_name_override AS sender_name
                FROM pm_oltp.emails x
                LEFT JOIN pm_oltp.campaign_sequence_steps s ON s.id = x.step_id
               WHERE x.direction = 'outbound' AND x.lead_id = e.lead_id
                 AND x.campaign_id IS NOT DISTINCT FROM e.campaign_id AND x.replied_at IS NOT NULL
               ORDER BY x.sent_at DESC LIMIT 1) o ON true
JOIN reply_line r ON r.k = abs(hashtext(e.id::text)) % 5
WHERE e.direction = 'inbound';

UPDATE pm_oltp.emails e
   SET content_storage_key = pm.body_storage_key(r.tenant_id, r.content_text, NULL, r.headers)
  FROM reply r WHERE r.id = e.id;

-- Every email with a key: outbound rendered as sent, inbound from the table above.
CREATE SCHEMA IF NOT EXISTS demo;
DROP TABLE IF EXISTS demo.mail;
CREATE TABLE demo.mail (
    email_id uuid PRIMARY KEY, tenant_id uuid NOT NULL, tenant_name text,
    template text,         -- the sequence step's template
    content_text text, content_html text, headers jsonb,
    oltp_key text NOT NULL, -- emails.content_storage_key
    attachment text,       -- what the message carries: case-study, notes or nothing
    early boolean,         -- sent before the content tier had dictionaries
    stored_key text        -- what the content tier answered through the link
);
COMMENT ON TABLE demo.mail IS 'The demo''s bodies, written to the content tier by demo/fdw_load.sql';
CREATE INDEX ON demo.mail (tenant_id);
INSERT INTO demo.mail (email_id, tenant_id, tenant_name, template, content_text, content_html,
                       headers, oltp_key, attachment)
    SELECT e.id, e.tenant_id, t.name, tp.name, b.body_text,
           '<p>' || replace(b.body_text, E'\n', '<br>') || '</p>',
           jsonb_build_object('From', a.email, 'To', e.recipient, 'Subject', e.subject),
           e.content_storage_key,
           -- The follow-up step carries the tenant's case study (the same file every time).
           CASE WHEN tp.name LIKE 'Follow-up%' THEN 'case-study' END
    FROM pm_oltp.emails e
    JOIN pm_oltp.tenants t ON t.id = e.tenant_id
    JOIN pm_oltp.campaign_sequence_steps s ON s.id = e.step_id
    JOIN pm_oltp.templates tp ON tp.id = s.template_id
    JOIN pm_oltp.leads l ON l.id = e.lead_id
    JOIN pm_oltp.email_accounts a ON a.id = e.email_account_id
    CROSS JOIN LATERAL (SELECT replace(replace(replace(tp.content, '{{first_name}}', split_part(l.name, ' ', 1)),
                                               '{{company}}', l.company), '{{sender_name}}', s.from_name_override)
                               AS body_text) b
    WHERE e.direction = 'outbound' AND e.content_storage_key IS NOT NULL
    UNION ALL
    SELECT e.id, e.tenant_id, t.name, NULL, r.content_text, NULL, r.headers, e.content_storage_key,
           -- One reply in ten comes with notes of its own.
           CASE WHEN abs(hashtext(e.id::text)) % 10 = 0 THEN 'notes' END
    FROM pm_oltp.emails e
    JOIN pm_oltp.tenants t ON t.id = e.tenant_id
    JOIN reply r ON r.id = e.id;

-- The first sixth of each tenant's mail went out before any dictionary existed.
UPDATE demo.mail m SET early = x.rn <= x.n / 6
  FROM (SELECT email_id, row_number() OVER (PARTITION BY tenant_id ORDER BY email_id) AS rn,
               count(*) OVER (PARTITION BY tenant_id) AS n FROM demo.mail) x
 WHERE x.email_id = m.email_id;

-- Tenant-owned rows like any other: under isolation, so pm.rls_audit() stays empty; the
-- application role writes the answers of the link into it.
SELECT pm.enable_tenant_isolation('demo.mail') \g /dev/null
GRANT USAGE ON SCHEMA demo TO pm_app;
GRANT SELECT, UPDATE (stored_key) ON demo.mail TO pm_app;
COMMIT;
