-- Campaign mail from real short messages for tests/bench/content_storage.sh: the
-- templates of content_campaign_mail.py (real plain-text and short HTML mail of the
-- SpamAssassin public corpus) sent by one tenant to :recipients recipients each, with
-- the recipient's greeting, tracked links, unsubscribe token and pixel filled in and
-- the headers a sender writes.  No template hint: the tenant's one dictionary must
-- cover every template.
--   psql -v recipients=500 -v templates_csv=... -f content_load_campaign.sql
-- (Server-side COPY: the file must be readable by the server.)
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE TEMP TABLE template (name text, kind text, t text, h text);
COPY template FROM :'templates_csv' WITH (FORMAT csv, NULL '\N');

CREATE TEMP TABLE recipient AS
SELECT g,
       (ARRAY['Ava','Lucas','Mia','Noah','Emma','Liam','Sofia','Ethan','Chloe','Zoe','Oliver','Grace',
              'Henry','Isla','Jack','Amelia','Leo','Ivy','Mason','Nora'])[1 + g % 20] AS first,
       (ARRAY['Smith','Johnson','Garcia','Miller','Davis','Lopez','Wilson','Clark','Young','King',
              'Wright','Scott','Green','Baker','Adams','Nelson'])[1 + (g / 20) % 16] AS last,
       (ARRAY['Northwind','Globex','Initech','Umbrella','Hooli','Vandelay','Stark','Wayne','Tyrell',
              'Cyberdyne','Acme','Soylent','Wonka','Gringotts','Oscorp'])[1 + (g * 7) % 15] || ' ' ||
       (ARRAY['Inc','LLC','GmbH','Ltd','Group','Labs'])[1 + g % 6] AS company
FROM generate_series(1, :recipients) g;

CREATE TEMP TABLE rendered AS
SELECT row_number() OVER (ORDER BY tp.name, r.g)::int AS n, tp.name AS template, tp.kind, r.*,
       md5(tp.name || ':' || r.g) AS tok,
       lower(r.first || '.' || r.last || r.g) || '@' || lower(split_part(r.company, ' ', 1)) || '.example' AS email,
       tp.t, tp.h
FROM template tp CROSS JOIN recipient r;

-- Links go through the sender's click tracker with the recipient's token.
UPDATE rendered SET
    t = format(E'Hi %s,\n\n', first)
        || regexp_replace(coalesce(t, btrim(regexp_replace(regexp_replace(regexp_replace(h,
                 '<(head|style)[^>]*>.*?</(head|style)>', '', 'gi'), '<[^>]+>', ' ', 'g'), '\s+', ' ', 'g'))),
                          '(https?://[^\s<>"]+)', format('https://go.campaign.example/c/%s?u=\1', tok), 'g')
        || format(E'\n\n--\nYou receive this email because %s subscribed on behalf of %s.\n'
                  'Unsubscribe: https://go.campaign.example/u/%s\n', email, company, tok),
    h = CASE WHEN h IS NULL THEN NULL ELSE
        regexp_replace(
          regexp_replace(
            regexp_replace(h, 'href="?(https?://[^"\s>]+)"?',
                           format('href="https://go.campaign.example/c/%s?u=\1"', tok), 'gi'),
            '(<body[^>]*>)', format('\1<p>Hi %s,</p>', first), 'i'),
          '(</body>)',
          format('<p>You receive this email because %s subscribed on behalf of %s. '
                 '<a href="https://go.campaign.example/u/%s">Unsubscribe</a></p>'
                 '<img src="https://t.campaign.example/o/%s.gif" width="1" height="1" alt="">\1',
                 email, company, tok, tok), 'i') END;

INSERT INTO bench.mail (n, tenant, template, t, h, hd, train)
SELECT n, md5('bench-campaign-sender')::uuid, NULL, t, h,
       jsonb_build_object('From', 'Campaign Team <team@campaign.example>',
                          'To', format('%s %s <%s>', first, last, email),
                          'Subject', format('%s, a note for %s', first, company),
                          'Message-ID', format('<%s@campaign.example>', tok),
                          'List-Unsubscribe', format('<https://go.campaign.example/u/%s>', tok),
                          'Date', to_char(timestamptz '2026-11-02 09:00:00+00' + g * interval '1 second',
                                          'Dy, DD Mon YYYY HH24:MI:SS +0000')),
       -- The first tenth of each template's recipients: the part the dictionary is trained on.
       g <= greatest(1, :recipients / 10)
FROM rendered;
UPDATE bench.mail SET key = pm.body_storage_key(tenant, t, h, hd);
