-- Main job, content tier, step 1 (runs in the pm_oltp database after demo/sample.sql):
-- writes one CSV line per email with the body the content tier must hold, to stdout,
-- for demo/content_load.sql in the pm_content database:
--
--   psql -d pm_oltp -At -f demo/content_bodies.sql | psql -d pm_content -f demo/content_load.sql
--
-- Outbound bodies are rendered again exactly as demo/sample.sql sent them (same template,
-- names, company, headers), so pm.body_storage_key gives back the emails.content_storage_key
-- already stored: the content database receives the body for the key OLTP holds.
-- Inbound replies had no body yet: they get one here, and their content_storage_key.
-- (Until pm_fdw links the tiers, psql carries the bodies between the two databases.)
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
-- Columns: email id, tenant id, tenant name, template (the dictionary hint), content_text,
-- content_html, headers, the key OLTP holds, attachment kind.
COPY (
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
    JOIN reply r ON r.id = e.id
    ORDER BY 1
) TO STDOUT WITH (FORMAT csv);

COMMIT;
