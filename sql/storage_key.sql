-- pm_core §3: storage keys (format, SHA-256, canonical body encoding, parser errors, shards).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_core;
RESET client_min_messages;

\i sql/include/try.psql

------------------------------------------------------------------------------
-- pm.storage_key: the layout, and SHA-256 identical to the built-in sha256()
------------------------------------------------------------------------------
-- sha256('abc') is the FIPS 180-2 vector ba7816bf...15ad.
SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc');

-- Every kind, empty/binary/1 MB contents and 1000 distinct contents: key = documented
-- layout over sha256(); count of mismatches must be 0.
WITH t(tenant) AS (VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid),
                          ('00000000-0000-0000-0000-000000000000'::uuid),
                          ('ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)),
     k(kind) AS (VALUES ('body'), ('att'), ('raw'), ('arc')),
     c(content) AS (VALUES (''::bytea), ('\x00'::bytea), ('\x00ff0a0d'::bytea),
                           (convert_to('héllo ✉', 'UTF8')),
                           (decode(repeat('00ff', 524288), 'hex'))
                    UNION ALL
                    SELECT convert_to(md5(g::text) || repeat('x', g % 97), 'UTF8')
                    FROM generate_series(1, 1000) g)
SELECT count(*) AS checked,
       count(*) FILTER (WHERE pm.storage_key(tenant, kind, content) IS DISTINCT FROM
                              'pmk1.' || kind || '.' || replace(tenant::text, '-', '') || '.' ||
                              encode(sha256(content), 'hex')) AS mismatches
FROM t, k, c;

-- Deterministic; tenant, kind and content each change the key.
SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'raw', 'mime')
     = pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'raw', 'mime') AS same_input_same_key,
       pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'raw', 'mime')
    <> pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'raw', 'mime') AS tenant_matters,
       pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'raw', 'mime')
    <> pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'arc', 'mime') AS kind_matters,
       pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'raw', 'mime')
    <> pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'raw', 'mimE') AS content_matters;

-- Kinds are exact: 22023 naming the kind and listing the valid ones.
SELECT pg_temp.try($$SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'blob', 'x')$$);
SELECT pg_temp.try($$SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'BODY', 'x')$$);
SELECT pg_temp.try($$SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '', 'x')$$);
SELECT pg_temp.try($$SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', E'att\n', 'x')$$);
-- A NULL argument is an error, never a NULL or made-up key.
SELECT pg_temp.try($$SELECT pm.storage_key(NULL, 'att', 'x')$$);
SELECT pg_temp.try($$SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, 'x')$$);
SELECT pg_temp.try($$SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', NULL)$$);

------------------------------------------------------------------------------
-- pm.body_storage_key: canonical, length-prefixed encoding of text, html, headers
------------------------------------------------------------------------------
-- The documented encoding, rebuilt in SQL: "pm.storage_key.body.v1" 0x00, then per part a
-- presence byte, an 8-byte big-endian length and the bytes (headers as jsonb text).
CREATE FUNCTION pg_temp.frame(part bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN part IS NULL THEN '\x000000000000000000'::bytea
                ELSE '\x01'::bytea || int8send(length(part)) || part END
$$;
CREATE FUNCTION pg_temp.expected_body_key(tenant uuid, txt text, html text, headers jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'pmk1.body.' || replace(tenant::text, '-', '') || '.' ||
           encode(sha256(convert_to('pm.storage_key.body.v1', 'UTF8') || '\x00'::bytea ||
                         pg_temp.frame(convert_to(txt, 'UTF8')) ||
                         pg_temp.frame(convert_to(html, 'UTF8')) ||
                         pg_temp.frame(convert_to(headers::text, 'UTF8'))), 'hex')
$$;

-- Pinned: computed outside PostgreSQL (Python hashlib over the documented bytes).
SELECT pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'Hello', '<p>Hello</p>',
                           '{"Subject": "Hi", "From": "a@example.com"}')
     = 'pmk1.body.a0eebc999c0b4ef8bb6d6bb9bd380a11.'
       'edd5be6d03bb6a835bc2c6303bc47cedc62157e4dcf149e63bff1d09cb8b321c' AS pinned_body_key;

-- The SQL rebuild agrees for NULL/empty/non-ASCII parts of every combination.
WITH p(v) AS (VALUES (NULL), (''), ('a'), ('ab'), ('héllo ✉'), (repeat('z', 70000))),
     h(headers) AS (VALUES (NULL::jsonb), ('{}'), ('null'), ('""'), ('[]'),
                           ('{"To": ["a@x.io", "b@x.io"], "X-Id": 12.50, "n": null}'))
SELECT count(*) AS checked,
       count(*) FILTER (WHERE pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                                                  a.v, b.v, headers)
                        IS DISTINCT FROM pg_temp.expected_body_key(
                            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', a.v, b.v, headers))
           AS mismatches
FROM p a, p b, h;

-- NULL is not '' in any position; an empty body is still a key.
WITH k(label, key) AS (VALUES
    ('all NULL',      pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, NULL, NULL)),
    ('text empty',    pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '', NULL, NULL)),
    ('html empty',    pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, '', NULL)),
    ('headers {}',    pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, NULL, '{}')),
    ('headers null',  pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, NULL, 'null')),
    ('all empty',     pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '', '', '""')))
SELECT count(*) AS keys, count(DISTINCT key) AS distinct_keys,
       bool_and(pm.storage_key_is_valid(key)) AS all_valid
FROM k;

-- Part boundaries are unambiguous: moving bytes between parts changes the key.
SELECT pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'ab', 'c', NULL)
    <> pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a', 'bc', NULL) AS ab_c_vs_a_bc,
       pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x', NULL, NULL)
    <> pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, 'x', NULL) AS text_vs_html,
       pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'abc', '', NULL)
    <> pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '', 'abc', NULL) AS abc_empty_vs_empty_abc;

-- Equal jsonb gives an equal key: key order, whitespace and duplicate keys (last wins)
-- are normalised by jsonb itself.
SELECT pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'h', '{"b":1,"a":2}')
     = pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'h', '{"a":2,"b":1}') AS key_order,
       pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'h', '{ "a" :  2 , "b":1 }')
     = pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'h', '{"a":2,"b":1}') AS whitespace,
       pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'h', '{"a":1,"a":2}')
     = pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'h', '{"a":2}') AS duplicate_keys,
       pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'h', '{"a":"\u00e9"}')
     = pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'h', '{"a":"é"}') AS unicode_escape;
-- jsonb keeps a number's written scale (1.0 prints as 1.0), and the key hashes what a
-- reader gets back, so 1.0 and 1 are different content although jsonb '=' calls them equal.
SELECT '{"n":1.0}'::jsonb = '{"n":1}'::jsonb AS jsonb_equal,
       pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, NULL, '{"n":1.0}')
     = pm.body_storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL, NULL, '{"n":1}') AS same_key;

-- A key always carries its tenant: NULL tenant is an error (22004), not a NULL key.
SELECT pg_temp.try($$SELECT pm.body_storage_key(NULL, 'text', 'html', '{}')$$);
SELECT pm.body_storage_key(NULL, NULL, NULL, NULL);

------------------------------------------------------------------------------
-- pm.storage_key_parse / pm.storage_key_is_valid
------------------------------------------------------------------------------
SELECT * FROM pm.storage_key_parse(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc'));

-- Parse inverts the layout for 1000 generated keys of every kind.
WITH k AS (SELECT (ARRAY['body', 'att', 'raw', 'arc'])[1 + g % 4] AS kind,
                  md5(g::text)::uuid AS tenant, convert_to(g::text, 'UTF8') AS content
           FROM generate_series(1, 1000) g)
SELECT count(*) AS parsed,
       count(*) FILTER (WHERE p.version = 1 AND p.kind = k.kind AND p.tenant_id = k.tenant
                        AND p.digest = encode(sha256(k.content), 'hex')) AS matching
FROM k, pm.storage_key_parse(pm.storage_key(k.tenant, k.kind, k.content)) p;

SELECT pm.storage_key_is_valid(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'raw', 'x')) AS valid,
       pm.storage_key_is_valid(NULL) AS null_is_not_valid;
-- STRICT: a NULL key parses to no row.
SELECT count(*) AS rows_for_null FROM pm.storage_key_parse(NULL);

-- What a client sees: the message names the bad part, DETAIL shows the key.
SELECT * FROM pm.storage_key_parse('pmk1.body.abc.def');
\set VERBOSITY sqlstate
SELECT * FROM pm.storage_key_parse('pmk1.body.abc.def');
\set VERBOSITY default

-- Every malformed class: 22023 from parse (and from shard), false from is_valid.
CREATE TEMP TABLE bad_keys(label text, key text);
INSERT INTO bad_keys VALUES
    ('empty',             ''),
    ('trailing newline',  pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc') || E'\n'),
    ('leading space',     ' ' || pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc')),
    ('tab inside',        E'pmk1.att.\ta0eebc999c0b4ef8bb6d6bb9bd380a11'),
    ('control byte',      E'pmk1.\x01'),
    ('non-ASCII',         'pmk1.bödy.a0eebc999c0b4ef8bb6d6bb9bd380a11'),
    ('uppercase prefix',  'PMK1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
    ('other prefix',      's3://bucket/object'),
    ('version 2',         'pmk2.att.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
    ('prefix only',       'pmk1'),
    ('kind only',         'pmk1.att'),
    ('no digest',         'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11'),
    ('unknown kind',      'pmk1.blob.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
    ('uppercase kind',    'pmk1.ATT.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
    ('tenant with dashes','pmk1.att.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
    ('tenant too short',  'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a1.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
    ('tenant uppercase',  'pmk1.att.A0EEBC999C0B4EF8BB6D6BB9BD380A11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
    ('tenant not hex',    'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a1z.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
    ('digest too short',  'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf'),
    ('digest uppercase',  'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11.BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD'),
    ('digest not hex',    'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag'),
    ('trailing bytes',    'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adXYZ'),
    ('extra part',        'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.gz'),
    ('trailing dot',      'pmk1.att.a0eebc999c0b4ef8bb6d6bb9bd380a11.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.'),
    ('10 kB of junk',     repeat('pmk1-', 2000));
\x on
SELECT label, pm.storage_key_is_valid(key) AS valid,
       pg_temp.try(format('SELECT pm.storage_key_parse(%L)', key)) AS parse
FROM bad_keys ORDER BY label COLLATE "C";
\x off
SELECT count(*) AS bad_keys,
       count(*) FILTER (WHERE NOT pm.storage_key_is_valid(key)) AS invalid,
       count(*) FILTER (WHERE pg_temp.try(format('SELECT pm.storage_key_parse(%L)', key))
                              LIKE '22023: invalid storage key: %') AS parse_22023,
       count(*) FILTER (WHERE pg_temp.try(format('SELECT pm.storage_key_shard(%L, 4)', key))
                              LIKE '22023: invalid storage key: %') AS shard_22023
FROM bad_keys;

------------------------------------------------------------------------------
-- pm.storage_key_shard: jump consistent hash over the first 8 digest bytes
------------------------------------------------------------------------------
-- Same value the C++ unit test pins for the first 8 bytes of sha256('abc') (0xba7816bf8f01cfea).
SELECT pm.storage_key_shard(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc'), 1000);
-- The tenant and kind do not move a digest: placement follows content only.
SELECT count(DISTINCT pm.storage_key_shard(pm.storage_key(md5(g::text)::uuid,
                                                           (ARRAY['body', 'att', 'raw', 'arc'])[1 + g % 4],
                                                           'abc'), 1000)) AS shards_for_abc
FROM generate_series(1, 100) g;

SELECT pg_temp.try($$SELECT pm.storage_key_shard(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc'), 0)$$);
SELECT pg_temp.try($$SELECT pm.storage_key_shard(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc'), -5)$$);
SELECT pg_temp.try($$SELECT pm.storage_key_shard(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc'), 65537)$$);
SELECT pm.storage_key_shard(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc'), 65536) AS max_shards_ok,
       pm.storage_key_shard(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc'), 1) AS one_shard,
       pm.storage_key_shard(NULL, 4) IS NULL AS null_key,
       pm.storage_key_shard(pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', 'abc'), NULL) IS NULL AS null_shards;

CREATE TEMP TABLE shard_keys AS
SELECT pm.storage_key('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'att', int4send(g)) AS key
FROM generate_series(1, 10000) g;

-- 10000 keys over 8 shards: every shard used, none off by more than ~4 standard deviations
-- (expected 1250, sd 33).  The counts themselves are pinned: placement must never drift.
SELECT pm.storage_key_shard(key, 8) AS shard, count(*) AS keys,
       count(*) BETWEEN 1120 AND 1380 AS roughly_even
FROM shard_keys GROUP BY 1 ORDER BY 1;

-- Always within 0..shards-1 and stable across calls.
SELECT n AS shards, min(s) AS min_shard, max(s) AS max_shard, count(DISTINCT s) AS used
FROM (SELECT n, pm.storage_key_shard(key, n) AS s
      FROM shard_keys, (VALUES (1), (2), (3), (10), (100), (65536)) v(n)) x
GROUP BY n ORDER BY n;
SELECT count(*) FILTER (WHERE pm.storage_key_shard(key, 37) <> pm.storage_key_shard(key, 37))
       AS unstable
FROM shard_keys;

-- Growing 8 -> 9 shards moves only keys into the new shard 8, about 1/9 of them (1111).
SELECT count(*) FILTER (WHERE pm.storage_key_shard(key, 8) <> pm.storage_key_shard(key, 9))
           AS moved,
       count(*) FILTER (WHERE pm.storage_key_shard(key, 8) <> pm.storage_key_shard(key, 9)
                        AND pm.storage_key_shard(key, 9) <> 8) AS moved_between_old_shards
FROM shard_keys;
