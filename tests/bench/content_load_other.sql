-- The other two data sets of tests/bench/content_storage.sh.
--   psql -v set=newsletter -v messages=5000 -v tpl_file=... -f content_load_other.sql
--   psql -v set=mixed -v bodies_csv=... -v att_csv=... -f content_load_other.sql
\set ON_ERROR_STOP on
SET client_min_messages = warning;

\if :{?bodies_csv}
-- Real mixed mail (SpamAssassin public corpus, see content_mixed_mail.py): two mailboxes.
CREATE TEMP TABLE raw_mail (n int, tenant text, folder text, t text, h text, hd text);
COPY raw_mail FROM :'bodies_csv' WITH (FORMAT csv, NULL '\N');
INSERT INTO bench.mail (n, tenant, template, t, h, hd, train)
SELECT n, md5('bench-mailbox-' || tenant)::uuid, NULL, t, h, hd::jsonb,
       -- The oldest tenth of each mailbox is stored before its dictionary is trained.
       row_number() OVER (PARTITION BY tenant ORDER BY n) <= count(*) OVER (PARTITION BY tenant) / 10
FROM raw_mail;
COPY bench.att FROM :'att_csv' WITH (FORMAT csv);
UPDATE bench.mail SET key = pm.body_storage_key(tenant, t, h, hd);
\else
-- Newsletter: one issue (the package's newsletter template with its stylesheet),
-- identical for every subscriber, with the same two attachments each time: a 150 kB
-- brochure that does not compress (like a PDF or JPEG) and a 12 kB calendar file.
CREATE TEMP TABLE tpl (name text, b64 text);
COPY tpl FROM :'tpl_file';
INSERT INTO bench.mail (n, tenant, template, t, h, hd, train, plain_key)
SELECT g, md5('bench-newsletter')::uuid, NULL,
       'The Insider — issue 42. Read it online at https://news.penguin.example/42',
       regexp_replace(convert_from(decode((SELECT b64 FROM tpl WHERE name = 'newsletter'), 'base64'), 'UTF8'),
                      '<link rel="stylesheet"[^>]*>',
                      '<style type="text/css">' ||
                      convert_from(decode((SELECT b64 FROM tpl WHERE name = '__css__'), 'base64'), 'UTF8') ||
                      '</style>'),
       '{"From": "The Insider <insider@news.penguin.example>", "Subject": "The Insider #42"}',
       g <= greatest(1, :messages / 10),
       -- Without content addressing a table keeps one row per message.
       'pmk1.body.' || replace(md5('bench-newsletter')::uuid::text, '-', '') || '.' ||
       encode(sha256(int4send(g)), 'hex')
FROM generate_series(1, :messages) g;
UPDATE bench.mail SET key = pm.body_storage_key(tenant, t, h, hd);
INSERT INTO bench.att
SELECT m.n, x.filename, x.mime, x.content
FROM bench.mail m
CROSS JOIN (SELECT 'brochure.pdf', 'application/pdf',
                   (SELECT string_agg(sha256(int4send(g)), '') FROM generate_series(1, 4800) g)
            UNION ALL
            SELECT 'event.ics', 'text/calendar',
                   convert_to(string_agg(format('BEGIN:VEVENT%sUID:%s@penguin.example%sSUMMARY:Insider meetup %s%s'
                                                'DTSTART:20261201T%s0000Z%sEND:VEVENT%s',
                                                E'\r\n', g, E'\r\n', g, E'\r\n', lpad((g % 24)::text, 2, '0'),
                                                E'\r\n', E'\r\n'), ''), 'UTF8')
            FROM generate_series(1, 110) g) x(filename, mime, content);
\endif
