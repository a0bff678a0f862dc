-- Personalised campaign mail for tests/bench/content_storage.sh: every template of the
-- npm package foundation-emails (ZURB Foundation for Emails, MIT) sent to :recipients
-- recipients each, with the recipient's name, company, city, tracking links,
-- unsubscribe token and pixel filled in, a text part derived from the html, and the
-- headers a sender writes.
--   psql -v recipients=2000 -v css=on|off -v tpl_file=... -f content_load_personalised.sql
-- (Server-side COPY: the files must be readable by the server.)
-- css=on embeds the package's stylesheet (dist/foundation-emails.min.css) in <head>, as
-- mail must carry its CSS (a <link> to a stylesheet does not work in mail clients);
-- css=off keeps the templates exactly as shipped.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE TEMP TABLE tpl (name text, b64 text);
COPY tpl FROM :'tpl_file';

CREATE TEMP TABLE template AS
SELECT name, CASE WHEN :'css' = 'on'
                  THEN regexp_replace(html, '<link rel="stylesheet"[^>]*>',
                                      '<style type="text/css">' || (SELECT convert_from(decode(b64, 'base64'), 'UTF8')
                                                                    FROM tpl WHERE name = '__css__') || '</style>')
                  ELSE html END AS html
FROM (SELECT name, convert_from(decode(b64, 'base64'), 'UTF8') AS html FROM tpl WHERE name <> '__css__') x;

-- Recipients: deterministic names, companies and tokens.
CREATE TEMP TABLE recipient AS
SELECT g,
       (ARRAY['Ava','Lucas','Mia','Noah','Emma','Liam','Sofia','Ethan','Chloe','Zoe','Oliver','Grace',
              'Henry','Isla','Jack','Amelia','Leo','Ivy','Mason','Nora'])[1 + g % 20] AS first,
       (ARRAY['Smith','Johnson','Garcia','Miller','Davis','Lopez','Wilson','Clark','Young','King',
              'Wright','Scott','Green','Baker','Adams','Nelson'])[1 + (g / 20) % 16] AS last,
       (ARRAY['Northwind','Globex','Initech','Umbrella','Hooli','Vandelay','Stark','Wayne','Tyrell',
              'Cyberdyne','Acme','Soylent','Wonka','Gringotts','Oscorp'])[1 + (g * 7) % 15] || ' ' ||
       (ARRAY['Inc','LLC','GmbH','Ltd','Group','Labs'])[1 + g % 6] AS company,
       (ARRAY['Berlin','Austin','Lisbon','Toronto','Osaka','Leeds','Denver','Lyon','Porto','Oslo'])[1 + g % 10] AS city
FROM generate_series(1, :recipients) g;

CREATE TEMP TABLE rendered AS
SELECT row_number() OVER (ORDER BY tp.name, r.g)::int AS n, tp.name AS template, r.*,
       md5(tp.name || ':' || r.g) AS tok,
       lower(r.first || '.' || r.last || r.g) || '@' || lower(split_part(r.company, ' ', 1)) || '.example' AS email,
       tp.html
FROM template tp CROSS JOIN recipient r;

UPDATE rendered SET html =
    replace(
      replace(
        regexp_replace(
          regexp_replace(
            regexp_replace(html, '(Susan Calvin|Elijah Baily|Han Fastolfe)', first || ' ' || last, 'g'),
            'href="(#|undefined)"', format('href="https://go.penguin-news.example/c/%s/%s"', template, tok), 'g'),
          '<body>',
          format('<body><span class="preheader" style="display:none">Hi %s, a note for %s</span>'
                 '<p class="greeting">Hi %s, we put together a few ideas for the %s team in %s.</p>',
                 first, company, first, company, city)),
        '</body>',
        format('<p class="footer">You receive this email because %s subscribed on behalf of %s. '
               '<a href="https://go.penguin-news.example/u/%s">Unsubscribe</a></p>'
               '<img src="https://t.penguin-news.example/o/%s.gif" width="1" height="1" alt=""></body>',
               email, company, tok, tok)),
      '</html>', '</html>');

INSERT INTO bench.mail (n, tenant, template, t, h, hd, train)
SELECT n, md5('bench-sender')::uuid, template,
       -- The text part as senders generate it: the html without head, styles and tags.
       btrim(regexp_replace(regexp_replace(regexp_replace(html, '<(head|style)[^>]*>.*?</(head|style)>', '', 'g'),
                                           '<[^>]+>', ' ', 'g'), '\s+', ' ', 'g')),
       html,
       jsonb_build_object('From', 'Penguin News <news@penguin-news.example>',
                          'To', format('%s %s <%s>', first, last, email),
                          'Subject', format('%s, ideas for %s', first, company),
                          'Message-ID', format('<%s@penguin-news.example>', tok),
                          'List-Unsubscribe', format('<https://go.penguin-news.example/u/%s>', tok),
                          'Date', to_char(timestamptz '2026-11-02 09:00:00+00' + g * interval '1 second',
                                          'Dy, DD Mon YYYY HH24:MI:SS +0000')),
       -- The first tenth of each template's recipients go out before any dictionary exists.
       g <= greatest(1, :recipients / 10)
FROM rendered;
UPDATE bench.mail SET key = pm.body_storage_key(tenant, t, h, hd);
