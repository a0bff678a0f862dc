-- pm_content: every storage path gives back exactly what was put (spec/content.md,
-- issue 3 "Tests"): plain ('none'), zstd without a dictionary, zstd with a
-- dictionary, across a retrain and a recompress; NULL parts, empty strings,
-- non-ASCII, 10 MB html, binary attachments; idempotent puts.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_content CASCADE;
RESET client_min_messages;

-- Fixture: bodies that must survive, with their expected key computed by
-- pm.body_storage_key (the OLTP side computes keys the same way).
CREATE TEMP TABLE rt (
    label text PRIMARY KEY, tenant uuid, t text, h text, hd jsonb, key text
);
INSERT INTO rt (label, tenant, t, h, hd) VALUES
  ('text only',      'c0000000-0000-4000-8000-000000000001', 'plain text', NULL, NULL),
  ('html only',      'c0000000-0000-4000-8000-000000000001', NULL, '<p>html</p>', NULL),
  ('empty strings',  'c0000000-0000-4000-8000-000000000001', '', '', '{}'),
  ('empty text',     'c0000000-0000-4000-8000-000000000001', '', NULL, NULL),
  ('non-ascii',      'c0000000-0000-4000-8000-000000000001',
                     'héllo ✉ 日本語 🐧 — ÄÖÜ', '<p>héllo ✉ 日本語 🐧</p>',
                     '{"Subject": "Grüße ✉", "To": "zoë@example.com", "X-List": ["a", "ü"]}'),
  ('control chars',  'c0000000-0000-4000-8000-000000000001', E'tab\there\r\nnew\u0001line', NULL, '{"n": 1.50, "z": null}'),
  ('templated 1',    'c0000000-0000-4000-8000-000000000001',
                     repeat('Hello Ava, welcome to Acme. ', 40), repeat('<p>Hello <b>Ava</b>, welcome to Acme.</p>', 40),
                     '{"From": "news@acme.test", "To": "ava@example.com"}'),
  ('other tenant',   'c0000000-0000-4000-8000-000000000002', 'plain text', NULL, NULL);
UPDATE rt SET key = pm.body_storage_key(tenant, t, h, hd);

-- put_body returns exactly pm.body_storage_key's key.
SELECT label, pm_content.put_body(tenant, t, h, hd) = key AS key_matches FROM rt ORDER BY label;

-- Same tenant + same text in another tenant: two keys, two rows.
SELECT count(DISTINCT key) AS distinct_keys, count(*) AS puts FROM rt;
SELECT count(*) AS rows_stored FROM pm_content.content_objects WHERE tenant_id::text LIKE 'c0000000-%';

-- Idempotent: putting everything again stores nothing new and returns the same keys.
SELECT bool_and(pm_content.put_body(tenant, t, h, hd) = key) AS same_keys FROM rt;
SELECT count(*) AS rows_stored FROM pm_content.content_objects WHERE tenant_id::text LIKE 'c0000000-%';

-- compression_algorithm tells the truth: 'none' rows keep the plain columns and
-- no frame; zstd rows keep a frame whose first byte is 'Z' and NULL plain columns.
SELECT r.label, o.compression_algorithm,
       CASE WHEN o.compression_algorithm = 'none'
            THEN o.packed IS NULL AND o.compressed_size_bytes = o.raw_size_bytes
            ELSE get_byte(o.packed, 0) = ascii('Z') AND o.content_text IS NULL
                 AND o.content_html IS NULL AND o.headers IS NULL
                 AND o.compressed_size_bytes = octet_length(o.packed) END AS truthful,
       o.raw_size_bytes = coalesce(octet_length(r.t), 0) + coalesce(octet_length(r.h), 0)
                          + coalesce(octet_length(r.hd::text), 0) AS raw_size_right,
       -- 0.2: the row leaves content_hash to the key; the view shows the digest.
       o.content_hash IS NULL
       AND (SELECT d.content_hash FROM pm_content.decoded_objects d WHERE d.storage_key = o.storage_key)
           = split_part(r.key, '.', 4) AS hash_is_digest
FROM rt r JOIN pm_content.content_objects o ON o.storage_key = r.key
ORDER BY r.label;

-- Bit-exact through get(), get_many() and the view: NULL stays NULL, '' stays ''.
SELECT r.label,
       g.content_text IS NOT DISTINCT FROM r.t AS text_ok,
       g.content_html IS NOT DISTINCT FROM r.h AS html_ok,
       g.headers IS NOT DISTINCT FROM r.hd AS headers_ok,
       g.tenant_id = r.tenant AS tenant_ok
FROM rt r CROSS JOIN LATERAL pm_content.get(r.key) g
ORDER BY r.label;
SELECT count(*) AS rows_back,
       count(*) FILTER (WHERE g.content_text IS NOT DISTINCT FROM r.t
                          AND g.content_html IS NOT DISTINCT FROM r.h
                          AND g.headers IS NOT DISTINCT FROM r.hd) AS exact
FROM pm_content.get_many((SELECT array_agg(key) FROM rt) || ARRAY[NULL, (SELECT min(key) FROM rt)]) g
JOIN rt r ON r.key = g.storage_key;
SELECT count(*) FILTER (WHERE d.content_text IS NOT DISTINCT FROM r.t
                          AND d.content_html IS NOT DISTINCT FROM r.h
                          AND d.headers IS NOT DISTINCT FROM r.hd) AS view_exact
FROM rt r JOIN pm_content.decoded_objects d ON d.storage_key = r.key;

-- Unknown (well-formed) keys: zero rows, no error.
SELECT count(*) AS unknown FROM pm_content.get(
    'pmk1.body.c0000000000040008000000000000001.' || repeat('0', 64));
SELECT count(*) AS unknown_many FROM pm_content.get_many(ARRAY[
    'pmk1.body.c0000000000040008000000000000001.' || repeat('0', 64),
    'pmk1.att.c0000000000040008000000000000001.' || repeat('1', 64)]);

------------------------------------------------------------------------------
-- 10 MB of html: compressed, and back byte for byte
------------------------------------------------------------------------------
CREATE TEMP TABLE big AS
SELECT string_agg(format('<tr><td>row %s</td><td>%s</td></tr>', g, md5(g::text)), '') AS h
FROM generate_series(1, 190000) g;
SELECT octet_length(h) > 10 * 1000 * 1000 AS over_10mb FROM big;
SELECT pm_content.put_body('c0000000-0000-4000-8000-000000000001', 'see html', h) AS big_key
FROM big \gset
SELECT compression_algorithm, compressed_size_bytes < raw_size_bytes / 2 AS compressed
FROM pm_content.content_objects WHERE storage_key = :'big_key';
SELECT md5(g.content_html) = md5(b.h) AS big_exact, g.content_text
FROM pm_content.get(:'big_key') g, big b;

------------------------------------------------------------------------------
-- Dictionaries: train, put, retrain, recompress — every object stays exact
------------------------------------------------------------------------------
-- 300 personalised bodies from one template (tenant 3), put before any dictionary.
CREATE TEMP TABLE camp AS
SELECT g, format('Hi %s,%sthanks for trying Acme at %s. Your code: %s.%sThe Acme team',
                 (ARRAY['Ava','Liam','Mia','Noah','Zoë','Émile'])[1 + g % 6], E'\n\n',
                 'Company ' || (g % 37), md5(g::text), E'\n\n') AS t,
       format('<html><head><style>p{font:14px Helvetica}a.btn{background:#2199e8}</style></head>'
              '<body><h1>Hi %s</h1><p>Thanks for trying Acme at Company %s.</p>'
              '<p>Your code: <b>%s</b></p><a class="btn" href="https://go.acme.test/c/1?r=%s">Start</a>'
              '<p><a href="https://go.acme.test/u/%s">Unsubscribe</a></p></body></html>',
              (ARRAY['Ava','Liam','Mia','Noah','Zoë','Émile'])[1 + g % 6], g % 37, md5(g::text),
              g * 7919, md5('u' || g)) AS h,
       jsonb_build_object('To', format('lead%s@example.com', g), 'Subject', 'Welcome to Acme') AS hd,
       NULL::text AS key
FROM generate_series(1, 300) g;
UPDATE camp SET key = pm.body_storage_key('c0000000-0000-4000-8000-000000000003', t, h, hd);

SELECT count(*) FILTER (WHERE pm_content.put_body('c0000000-0000-4000-8000-000000000003', t, h, hd) = key)
       AS put_before_dictionary
FROM camp WHERE g <= 100;

-- No dictionary yet: plain zstd.
SELECT compression_algorithm, count(*) FROM pm_content.content_objects
WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003' GROUP BY 1;

SELECT pm_content.train_dictionary('c0000000-0000-4000-8000-000000000003') AS dict1 \gset
SELECT id = :dict1 AS is_dict1, version, method, sample_count, template_hint
FROM pm_content.dictionaries WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003';

SELECT count(*) FILTER (WHERE pm_content.put_body('c0000000-0000-4000-8000-000000000003', t, h, hd) = key)
       AS put_with_dictionary
FROM camp WHERE g BETWEEN 101 AND 200;
SELECT compression_algorithm = 'zstd-dict:' || :dict1 AS uses_dict1, count(*),
       bool_and(get_byte(packed, 0) = ascii('D')) AS frames_say_dict
FROM pm_content.content_objects
WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003' AND compression_algorithm <> 'zstd'
GROUP BY 1;

-- Small templated bodies are where the dictionary pays: well under a fifth of plain zstd.
SELECT (SELECT avg(compressed_size_bytes) FROM pm_content.content_objects
         WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003'
           AND compression_algorithm = 'zstd-dict:' || :dict1)
     < (SELECT avg(compressed_size_bytes) FROM pm_content.content_objects
         WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003'
           AND compression_algorithm = 'zstd') / 3 AS dictionary_pays;

-- Retrain (forced: the new version may not be 2% better) and put the rest.
SELECT pm_content.train_dictionary('c0000000-0000-4000-8000-000000000003', force => true) AS dict2 \gset
SELECT :dict2 > :dict1 AS newer, (SELECT version FROM pm_content.dictionaries WHERE id = :dict2) AS version;
SELECT count(*) FILTER (WHERE pm_content.put_body('c0000000-0000-4000-8000-000000000003', t, h, hd) = key)
       AS put_after_retrain
FROM camp WHERE g > 200;
SELECT CASE compression_algorithm WHEN 'zstd' THEN 'zstd'
                                  WHEN 'zstd-dict:' || :dict1 THEN 'dict v1'
                                  WHEN 'zstd-dict:' || :dict2 THEN 'dict v2' END AS codec, count(*)
FROM pm_content.content_objects WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003'
GROUP BY 1 ORDER BY 1;

-- Objects of all three generations read back exactly.
SELECT count(*) AS read_back,
       count(*) FILTER (WHERE g.content_text = c.t AND g.content_html = c.h AND g.headers = c.hd) AS exact
FROM pm_content.get_many((SELECT array_agg(key) FROM camp)) g JOIN camp c ON c.key = g.storage_key;

-- Recompress moves everything to the newest dictionary; still exact.
SELECT pm_content.recompress('c0000000-0000-4000-8000-000000000003', 150) AS first_batch;
SELECT pm_content.recompress('c0000000-0000-4000-8000-000000000003') AS second_batch;
SELECT pm_content.recompress('c0000000-0000-4000-8000-000000000003') AS nothing_left;
SELECT compression_algorithm = 'zstd-dict:' || :dict2 AS all_v2, count(*)
FROM pm_content.content_objects WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003' GROUP BY 1;
SELECT count(*) FILTER (WHERE g.content_text = c.t AND g.content_html = c.h AND g.headers = c.hd) AS exact_after_recompress
FROM pm_content.get_many((SELECT array_agg(key) FROM camp)) g JOIN camp c ON c.key = g.storage_key;

-- Without force, a retrain that would not compress the recent bodies 2% better
-- keeps the current dictionary (a nightly job does not pile up versions).
SET client_min_messages = warning;
SELECT pm_content.train_dictionary('c0000000-0000-4000-8000-000000000003') AS dict3 \gset
SELECT pm_content.train_dictionary('c0000000-0000-4000-8000-000000000003') = :dict3 AS kept_current;
RESET client_min_messages;
SELECT count(*) AS versions FROM pm_content.dictionaries
WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003';

SET regress.try_mask = '[0-9]+';
SET regress.try_mask_as = 'N';
\i sql/include/try.psql
SELECT pg_temp.try(format($$UPDATE pm_content.dictionaries SET bytes = '\x00' WHERE id = %s$$, :dict2)) AS update_dict;
SELECT pg_temp.try(format($$DELETE FROM pm_content.dictionaries WHERE id = %s$$, :dict2)) AS delete_dict;
SELECT count(*) AS dict2_kept FROM pm_content.dictionaries WHERE id = :dict2;

-- Per-template dictionaries: a hint trains its own, new objects with that hint use it,
-- objects with another hint fall back to the tenant's newest.
SELECT count(pm_content.put_body('c0000000-0000-4000-8000-000000000003', t || ' (promo)', h || '<!-- promo -->', hd,
                                 template_hint => 'promo'))
FROM camp WHERE g <= 50;
SELECT pm_content.train_dictionary('c0000000-0000-4000-8000-000000000003', 'promo') AS dict_promo \gset
SELECT template_hint, version FROM pm_content.dictionaries WHERE id = :dict_promo;
SELECT pm_content.put_body('c0000000-0000-4000-8000-000000000003', t || ' (promo)', h || '<!-- promo 2 -->', hd,
                           template_hint => 'promo') AS promo_key
FROM camp WHERE g = 299 \gset
SELECT pm_content.put_body('c0000000-0000-4000-8000-000000000003', t || ' (other)', h, hd,
                           template_hint => 'other') AS other_key
FROM camp WHERE g = 299 \gset
SELECT storage_key = :'promo_key' AS promo, compression_algorithm = 'zstd-dict:' || :dict_promo AS uses_promo_dict,
       compression_algorithm = (SELECT 'zstd-dict:' || max(id) FROM pm_content.dictionaries
                                 WHERE tenant_id = 'c0000000-0000-4000-8000-000000000003'
                                   AND template_hint IS NULL) AS uses_tenant_newest
FROM pm_content.content_objects WHERE storage_key IN (:'promo_key', :'other_key') ORDER BY 1;
SELECT count(*) AS hinted_exact FROM pm_content.get_many(ARRAY[:'promo_key', :'other_key']) g
WHERE g.content_html LIKE '%Unsubscribe%';

------------------------------------------------------------------------------
-- Attachments: binary bytes exact, stored once per tenant
------------------------------------------------------------------------------
CREATE TEMP TABLE bin AS
SELECT 'all bytes' AS label, (SELECT string_agg(set_byte('\x00'::bytea, 0, b), '') FROM generate_series(0, 255) b) AS b
UNION ALL
SELECT 'random 1.3 MB', (SELECT string_agg(sha256(int4send(g)), '') FROM generate_series(1, 40000) g)
UNION ALL
SELECT 'compressible', convert_to(repeat('BEGIN:VCALENDAR VERSION:2.0 ', 5000), 'UTF8')
UNION ALL
SELECT 'empty', '\x'::bytea;

SELECT (SELECT key FROM rt WHERE label = 'templated 1') AS parent \gset
CREATE TEMP TABLE att AS
SELECT label, pm_content.put_attachment(:'parent', label || '.bin', 'application/octet-stream', b) AS id
FROM bin;
SELECT b.label, s.compression_algorithm, s.size_bytes = octet_length(b.b) AS size_ok
FROM bin b JOIN pm_content.attachment_blobs s
  ON s.storage_key = pm.storage_key('c0000000-0000-4000-8000-000000000001', 'att', b.b)
ORDER BY 1;
SELECT a.label, g.content = b.b AS exact, g.parent_storage_key = :'parent' AS parent_ok,
       g.filename, g.size_bytes = octet_length(b.b) AS size_ok
FROM att a JOIN bin b USING (label) CROSS JOIN LATERAL pm_content.get_attachment(a.id) g
ORDER BY 1;
SELECT filename, size_bytes, storage_disposition FROM pm_content.attachments(:'parent') ORDER BY filename;

-- Same bytes, other bodies of the tenant: one blob.  Same file on the same body: same id.
SELECT count(pm_content.put_attachment(key, 'again.bin', 'application/octet-stream',
                                       (SELECT b FROM bin WHERE label = 'random 1.3 MB')))
FROM rt WHERE tenant = 'c0000000-0000-4000-8000-000000000001';
SELECT count(*) AS blobs, (SELECT count(*) FROM pm_content.attachments WHERE tenant_id::text LIKE 'c0000000-%') AS attachment_rows
FROM pm_content.attachment_blobs WHERE tenant_id::text LIKE 'c0000000-%';
SELECT pm_content.put_attachment(:'parent', 'all bytes.bin', 'application/octet-stream',
                                 (SELECT b FROM bin WHERE label = 'all bytes'))
       = (SELECT id FROM att WHERE label = 'all bytes') AS same_id;
SELECT pm_content.put_attachment(:'parent', 'inline.png', 'image/png',
                                 (SELECT b FROM bin WHERE label = 'all bytes'), 'inline') IS NOT NULL AS inline_ok;
SELECT count(*) AS blobs_still FROM pm_content.attachment_blobs WHERE tenant_id::text LIKE 'c0000000-%';
SELECT count(*) FILTER (WHERE content = (SELECT b FROM bin WHERE label = 'random 1.3 MB')) AS view_exact
FROM pm_content.decoded_attachments WHERE filename = 'again.bin';

-- Another tenant with the same bytes gets its own copy (dedup is per tenant).
SELECT pm_content.put_attachment((SELECT key FROM rt WHERE label = 'other tenant'), 'x.bin',
                                 'application/octet-stream', (SELECT b FROM bin WHERE label = 'all bytes'))
       IS NOT NULL AS other_tenant_put;
SELECT tenant_id, count(*) FROM pm_content.attachment_blobs WHERE tenant_id::text LIKE 'c0000000-%' GROUP BY 1 ORDER BY 1;

-- usage(): logical = what callers put, stored = after dedup and compression.
SELECT u.tenant_id, u.objects, u.attachments,
       u.logical_bytes = (SELECT sum(raw_size_bytes) FROM pm_content.content_objects o WHERE o.tenant_id = u.tenant_id)
                       + coalesce((SELECT sum(size_bytes) FROM pm_content.attachments a WHERE a.tenant_id = u.tenant_id), 0)
           AS logical_ok,
       u.stored_bytes < u.logical_bytes AS stored_smaller
FROM pm_content.usage() u WHERE u.tenant_id::text LIKE 'c0000000-%' ORDER BY 1;
SELECT count(*) AS one_tenant FROM pm_content.usage('c0000000-0000-4000-8000-000000000003');
