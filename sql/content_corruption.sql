-- pm_content: stored bytes that fail to decode give SQLSTATE XX001 naming the
-- key — never garbage, never a crash.  Includes a SQL-level fuzz pass that
-- damages a stored frame byte by byte (the C++ unit test fuzzes 100k more).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_content CASCADE;
RESET client_min_messages;

\i sql/include/try.psql

-- Bodies of one template for tenant f...1, and a dictionary trained from them.
CREATE TEMP TABLE src AS
SELECT g, format('Dear %s, your invoice %s is ready.', 'Customer ' || g, md5(g::text)) AS t,
       format('<div class="invoice"><h2>Invoice %s</h2><p>Dear Customer %s,</p><p>Amount due: %s EUR</p>'
              '<p><a href="https://pay.example.test/%s">Pay now</a></p></div>', md5(g::text), g, g * 3, md5('p' || g)) AS h,
       jsonb_build_object('To', 'c' || g || '@example.com') AS hd
FROM generate_series(1, 60) g;
SELECT count(pm_content.put_body('f0000000-0000-4000-8000-000000000001', t, h, hd)) FROM src WHERE g <= 40;
-- plain_victim: zstd without a dictionary; victim: zstd with one.
SELECT pm_content.put_body('f0000000-0000-4000-8000-000000000001', t, h, hd) AS plain_victim
FROM (SELECT repeat(t, 3) AS t, h, hd FROM src WHERE g = 51) x \gset
SELECT pm_content.train_dictionary('f0000000-0000-4000-8000-000000000001') IS NOT NULL AS trained;
SELECT pm_content.put_body('f0000000-0000-4000-8000-000000000001', t, h, hd) AS victim FROM src WHERE g = 50 \gset
SELECT storage_key = :'victim' AS is_victim, regexp_replace(compression_algorithm, '[0-9]+', 'N') AS codec
FROM pm_content.content_objects WHERE storage_key IN (:'victim', :'plain_victim') ORDER BY 1;

CREATE TEMP TABLE original AS
SELECT storage_key, packed, compression_algorithm, raw_size_bytes FROM pm_content.content_objects
WHERE storage_key IN (:'victim', :'plain_victim');

------------------------------------------------------------------------------
-- Specific damage, specific message
------------------------------------------------------------------------------
-- The checksum (last bytes of the frame).
UPDATE pm_content.content_objects
   SET packed = set_byte(packed, octet_length(packed) - 1, get_byte(packed, octet_length(packed) - 1) # 1)
 WHERE storage_key = :'victim';
SELECT pg_temp.try(format('SELECT * FROM pm_content.get(%L)', :'victim')) AS checksum_flip;
-- The same damage is reported through get_many and the view, naming the key.
SELECT pg_temp.try(format('SELECT * FROM pm_content.get_many(ARRAY[%L, %L])', :'plain_victim', :'victim'))
       AS via_get_many;
SELECT pg_temp.try(format('SELECT * FROM pm_content.decoded_objects WHERE storage_key = %L', :'victim'))
       AS via_view;

-- Cut short.
UPDATE pm_content.content_objects o SET packed = substr(x.packed, 1, octet_length(x.packed) - 6)
  FROM original x WHERE o.storage_key = x.storage_key AND x.storage_key = :'victim';
SELECT pg_temp.try(format('SELECT * FROM pm_content.get(%L)', :'victim')) AS truncated;

-- Unknown codec byte.
UPDATE pm_content.content_objects o SET packed = set_byte(x.packed, 0, ascii('Q'))
  FROM original x WHERE o.storage_key = x.storage_key AND x.storage_key = :'plain_victim';
SELECT pg_temp.try(format('SELECT * FROM pm_content.get(%L)', :'plain_victim')) AS unknown_codec;

-- A frame that is fine but not what the row says it is (row: zstd, frame: zstd-dict).
UPDATE pm_content.content_objects o SET packed = v.packed
  FROM original v WHERE o.storage_key = :'plain_victim' AND v.storage_key = :'victim';
SELECT regexp_replace(pg_temp.try(format('SELECT * FROM pm_content.get(%L)', :'plain_victim')),
                      'zstd-dict:[0-9]+', 'zstd-dict:N', 'g') AS frame_disagrees_with_row;

-- raw_size_bytes that disagrees with the frame.
UPDATE pm_content.content_objects o SET packed = x.packed, raw_size_bytes = x.raw_size_bytes - 1
  FROM original x WHERE o.storage_key = x.storage_key AND x.storage_key = :'plain_victim';
SELECT pg_temp.try(format('SELECT * FROM pm_content.get(%L)', :'plain_victim')) AS size_disagrees;

-- Restored, both read fine again.
UPDATE pm_content.content_objects o SET packed = x.packed, raw_size_bytes = x.raw_size_bytes
  FROM original x WHERE o.storage_key = x.storage_key;
SELECT count(*) AS restored_ok FROM pm_content.get_many(ARRAY[:'victim', :'plain_victim']) g
JOIN src s ON g.content_html = s.h AND s.g IN (50, 51);

------------------------------------------------------------------------------
-- SQL-level fuzz: every byte of the stored frame damaged three ways, and
-- truncations at every length.  Each outcome must be the exact original body
-- or XX001 naming the key.
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.fuzz(k text, want_text text, want_html text, want_headers jsonb)
RETURNS TABLE(outcome text, n bigint) LANGUAGE plpgsql AS $$
DECLARE
    orig bytea;
    mutated bytea;
    len int;
    r record;
    res text;
    results text[] := '{}';
BEGIN
    SELECT packed INTO orig FROM pm_content.content_objects WHERE storage_key = k;
    len := octet_length(orig);
    FOR i IN 0 .. len - 1 LOOP
        FOREACH mutated IN ARRAY ARRAY[set_byte(orig, i, get_byte(orig, i) # 1),
                                       set_byte(orig, i, get_byte(orig, i) # 255),
                                       set_byte(orig, i, 0),
                                       substr(orig, 1, i)] LOOP
            BEGIN
                UPDATE pm_content.content_objects SET packed = mutated WHERE storage_key = k;
                SELECT * INTO r FROM pm_content.get(k);
                res := CASE WHEN r.content_text IS NOT DISTINCT FROM want_text
                             AND r.content_html IS NOT DISTINCT FROM want_html
                             AND r.headers IS NOT DISTINCT FROM want_headers
                            THEN 'exact original' ELSE 'GARBAGE' END;
            EXCEPTION WHEN others THEN
                res := CASE WHEN SQLSTATE = 'XX001' AND strpos(SQLERRM, k) > 0
                            THEN 'XX001 naming the key' ELSE 'OTHER: ' || SQLSTATE || ' ' || SQLERRM END;
            END;
            results := results || res;
        END LOOP;
    END LOOP;
    UPDATE pm_content.content_objects SET packed = orig WHERE storage_key = k;
    RETURN QUERY SELECT x, count(*) FROM unnest(results) x GROUP BY x ORDER BY x;
END $$;

-- Mutations that still decode exactly are possible (e.g. a bit of padding that
-- zstd ignores); garbage and other errors are not.
SELECT outcome, n > 0 AS seen FROM pg_temp.fuzz(:'victim', (SELECT t FROM src WHERE g = 50),
                                                (SELECT h FROM src WHERE g = 50),
                                                (SELECT hd FROM src WHERE g = 50))
WHERE outcome <> 'exact original';
SELECT count(*) AS still_exact FROM pm_content.get(:'victim') g JOIN src s ON s.g = 50 AND g.content_html = s.h;

------------------------------------------------------------------------------
-- Attachment bytes
------------------------------------------------------------------------------
SELECT pm_content.put_attachment(:'victim', 'notes.txt', 'text/plain',
                                 convert_to(repeat('line of notes ', 500), 'UTF8')) AS att \gset
UPDATE pm_content.attachment_blobs SET content = set_byte(content, 10, get_byte(content, 10) # 16)
 WHERE storage_key = (SELECT blob_key FROM pm_content.attachments WHERE id = :'att');
SELECT pg_temp.try(format('SELECT * FROM pm_content.get_attachment(%L)', :'att')) AS blob_damaged;
UPDATE pm_content.attachment_blobs SET compression_algorithm = 'none'
 WHERE storage_key = (SELECT blob_key FROM pm_content.attachments WHERE id = :'att');
SELECT pg_temp.try(format('SELECT * FROM pm_content.get_attachment(%L)', :'att')) AS blob_mislabelled;

------------------------------------------------------------------------------
-- A missing dictionary (deleted behind the trigger's back) in a new session
-- (an empty dictionary cache): a clear error, the other objects unaffected.
------------------------------------------------------------------------------
SET session_replication_role = replica;
DELETE FROM pm_content.dictionaries WHERE tenant_id = 'f0000000-0000-4000-8000-000000000001';
RESET session_replication_role;
\c
\i sql/include/try.psql
SELECT regexp_replace(pg_temp.try(format('SELECT * FROM pm_content.get(%L)', :'victim')),
                      'dictionary [0-9]+', 'dictionary N', 'g') AS missing_dictionary;
SELECT count(*) AS objects_without_dictionary_still_readable
FROM pm_content.get(:'plain_victim');

-- Leave no damaged rows behind for the files that run after this one.
DELETE FROM pm_content.content_objects WHERE tenant_id = 'f0000000-0000-4000-8000-000000000001';
DELETE FROM pm_content.attachment_blobs WHERE tenant_id = 'f0000000-0000-4000-8000-000000000001';
