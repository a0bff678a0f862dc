-- pm_content: bad input gets a specific SQLSTATE and a message naming the bad
-- value, and stores nothing (spec/content.md "Bad input ...").
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_content CASCADE;
RESET client_min_messages;

\i sql/include/try.psql

-- What is stored, to prove that failed calls stored nothing.
CREATE FUNCTION pg_temp.stored() RETURNS text LANGUAGE sql AS $$
    SELECT format('objects %s, attachments %s, blobs %s',
                  (SELECT count(*) FROM pm_content.content_objects
                    WHERE tenant_id = 'e0000000-0000-4000-8000-000000000001'),
                  (SELECT count(*) FROM pm_content.attachments
                    WHERE tenant_id = 'e0000000-0000-4000-8000-000000000001'),
                  (SELECT count(*) FROM pm_content.attachment_blobs
                    WHERE tenant_id = 'e0000000-0000-4000-8000-000000000001'))
$$;

SELECT pm_content.put_body('e0000000-0000-4000-8000-000000000001', 'parent', '<p>parent</p>') AS parent \gset
SELECT pg_temp.stored() AS before;

------------------------------------------------------------------------------
-- put_body
------------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT pm_content.put_body(NULL, 'x', 'y')$$) AS null_tenant;
SELECT pg_temp.try($$SELECT pm_content.put_body('e0000000-0000-4000-8000-000000000001', NULL, NULL)$$) AS both_null;
SELECT pg_temp.try($$SELECT pm_content.put_body('e0000000-0000-4000-8000-000000000001', NULL, NULL, '{"a":1}')$$)
       AS only_headers;
SELECT pg_temp.try($$SELECT pm_content.put_body('e0000000-0000-4000-8000-000000000001', 'x', NULL,
                                                 expires_at => '2000-01-01')$$) AS expired_already;
SELECT pg_temp.try(format('SELECT pm_content.put_body(%L, %L, NULL, template_hint => %L)',
                          'e0000000-0000-4000-8000-000000000001', 'x', repeat('h', 201))) AS long_hint;
SELECT pg_temp.try($$SELECT pm_content.put_body('e0000000-0000-4000-8000-000000000001', 'x', NULL,
                                                 template_hint => '')$$) AS empty_hint;

-- Oversize: the limit is a superuser setting, counted over text + html + headers.
SET pm_content.max_object_bytes = '4kB';
SHOW pm_content.max_object_bytes;
SELECT pg_temp.try(format('SELECT pm_content.put_body(%L, %L, %L)', 'e0000000-0000-4000-8000-000000000001',
                          repeat('t', 2048), repeat('h', 2049))) AS oversize;
SELECT pg_temp.try(format('SELECT pm_content.put_body(%L, %L, %L)', 'e0000000-0000-4000-8000-000000000001',
                          repeat('t', 2048), repeat('h', 2048))) AS exactly_at_limit;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, %L, %L, %L::bytea)', :'parent', 'big.bin',
                          'application/octet-stream', convert_to(repeat('b', 4097), 'UTF8'))) AS oversize_attachment;
RESET pm_content.max_object_bytes;
-- A typo in a pm_content.* setting is an error, not a silent placeholder.
SELECT pg_temp.try($$SET pm_content.max_object_byte = 10$$) AS typo;
-- Only a superuser may raise the limit.
SELECT pm.ensure_roles() \gset
SET ROLE pm_app;
SELECT pg_temp.try($$SET pm_content.max_object_bytes = '1GB'$$) AS app_raises_limit;
RESET ROLE;

SELECT pg_temp.stored() AS after_put_body_errors;
-- The one put at the limit succeeded; remove it again so later counts are simple.
DELETE FROM pm_content.content_objects
 WHERE tenant_id = 'e0000000-0000-4000-8000-000000000001' AND storage_key <> :'parent';

------------------------------------------------------------------------------
-- get / get_many / attachments / missing_keys: malformed keys
------------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT * FROM pm_content.get('pmk1.body.nothex')$$) AS get_malformed;
SELECT pg_temp.try($$SELECT * FROM pm_content.get('')$$) AS get_empty;
SELECT count(*) AS get_null FROM pm_content.get(NULL);
SELECT pg_temp.try(format('SELECT * FROM pm_content.get_many(ARRAY[%L, %L])', :'parent',
                          upper(:'parent'))) AS get_many_malformed;
SELECT pg_temp.try($$SELECT * FROM pm_content.get_many('{{a},{b}}')$$) AS get_many_2d;
SELECT count(*) AS get_many_empty FROM pm_content.get_many('{}');
SELECT pg_temp.try($$SELECT * FROM pm_content.attachments('pmk1.body.x')$$) AS attachments_malformed;
SELECT pg_temp.try(format('SELECT * FROM pm_content.missing_keys(ARRAY[%L, %L])', :'parent',
                          :'parent' || ' ')) AS missing_keys_malformed;

------------------------------------------------------------------------------
-- put_attachment
------------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT pm_content.put_attachment(NULL, 'a', 'text/plain', 'x')$$) AS null_parent;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, NULL, %L, %L)', :'parent', 'text/plain', 'x'))
       AS null_filename;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, %L, NULL, %L)', :'parent', 'a', 'x'))
       AS null_mime;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, %L, %L, NULL)', :'parent', 'a', 'text/plain'))
       AS null_content;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, %L, %L, %L, %L)', :'parent', 'a', 'text/plain',
                          'x', 'download')) AS bad_disposition;
SELECT pg_temp.try($$SELECT pm_content.put_attachment('pmk1.body.e00', 'a', 'text/plain', 'x')$$)
       AS malformed_parent;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, %L, %L, %L)',
                          replace(:'parent', 'pmk1.body.', 'pmk1.att.'), 'a', 'text/plain', 'x'))
       AS attachment_key_as_parent;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, %L, %L, %L)',
                          'pmk1.body.e0000000000040008000000000000001.' || repeat('a', 64), 'a', 'text/plain', 'x'))
       AS missing_parent;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, %L, %L, %L)', :'parent', repeat('f', 256),
                          'text/plain', 'x')) AS long_filename;
SELECT pg_temp.stored() AS after_attachment_errors;

------------------------------------------------------------------------------
-- Tenant context: a key or tenant of another tenant is refused up front
------------------------------------------------------------------------------
BEGIN;
SELECT pm.set_context('e0000000-0000-4000-8000-000000000002') \gset
SELECT pg_temp.try($$SELECT pm_content.put_body('e0000000-0000-4000-8000-000000000001', 'x', 'y')$$)
       AS put_for_other_tenant;
SELECT pg_temp.try(format('SELECT pm_content.put_attachment(%L, %L, %L, %L)', :'parent', 'a', 'text/plain', 'x'))
       AS attach_to_other_tenant;
-- Reads of another tenant's key return nothing, whoever asks.
SELECT count(*) AS get_other_tenant FROM pm_content.get(:'parent');
SELECT count(*) AS get_many_other_tenant FROM pm_content.get_many(ARRAY[:'parent']);
SELECT count(*) AS attachments_other_tenant FROM pm_content.attachments(:'parent');
SELECT * FROM pm_content.missing_keys(ARRAY[:'parent']) AS missing_for_other_tenant;
ROLLBACK;
SELECT pg_temp.stored() AS after_context_errors;

------------------------------------------------------------------------------
-- Lifecycle arguments
------------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT pm_content.expire(0)$$) AS expire_zero;
SELECT pg_temp.try($$SELECT pm_content.expire(NULL)$$) AS expire_null;
SELECT pg_temp.try($$SELECT * FROM pm_content.orphans(NULL)$$) AS orphans_null;
SELECT pg_temp.try($$SELECT pm_content.collect_orphans(NULL)$$) AS collect_null;
SELECT pg_temp.try($$SELECT pm_content.collect_orphans('{}', interval '5 minutes')$$) AS guard_too_short;
SELECT pg_temp.try($$SELECT pm_content.collect_orphans('{}', interval '1 day', 0)$$) AS collect_batch_zero;
SELECT pg_temp.try($$SELECT pm_content.train_dictionary(NULL)$$) AS train_null_tenant;
SELECT pg_temp.try($$SELECT pm_content.train_dictionary('e0000000-0000-4000-8000-000000000001', max_samples => 0)$$)
       AS train_no_samples;
SELECT pg_temp.try($$SELECT pm_content.train_dictionary('e0000000-0000-4000-8000-000000000001',
                                                         dictionary_bytes => 10)$$) AS train_tiny_dictionary;
SELECT pm_content.train_dictionary('e0000000-0000-4000-8000-00000000dead') AS nothing_to_train;
SELECT pg_temp.try($$SELECT pm_content.recompress(NULL, 0)$$) AS recompress_batch_zero;
SELECT pg_temp.stored() AS at_end;

------------------------------------------------------------------------------
-- Direct writes must keep the row consistent with its key and codec
------------------------------------------------------------------------------
SELECT pg_temp.try(format($$INSERT INTO pm_content.content_objects
    (storage_key, tenant_id, content_text, raw_size_bytes, content_hash, compression_algorithm)
    VALUES (%L, 'e0000000-0000-4000-8000-000000000002', 'x', 1, %L, 'none')$$,
    replace(:'parent', '567439', '000000'), right(replace(:'parent', '567439', '000000'), 64))) AS key_of_other_tenant;
SELECT pg_temp.try(format($$INSERT INTO pm_content.content_objects
    (storage_key, tenant_id, content_text, raw_size_bytes, content_hash, compression_algorithm)
    VALUES (%L, 'e0000000-0000-4000-8000-000000000001', 'x', 1, %L, 'none')$$,
    replace(:'parent', '567439', '000000'), repeat('0', 64))) AS hash_not_the_digest;
SELECT pg_temp.try(format($$INSERT INTO pm_content.content_objects
    (storage_key, tenant_id, content_text, raw_size_bytes, content_hash, compression_algorithm)
    VALUES (%L, 'e0000000-0000-4000-8000-000000000001', 'x', 1, %L, 'zstd')$$,
    replace(:'parent', '567439', '000000'), right(replace(:'parent', '567439', '000000'), 64))) AS plain_labelled_zstd;
SELECT pg_temp.try(format($$INSERT INTO pm_content.content_objects
    (storage_key, tenant_id, packed, raw_size_bytes, content_hash, compression_algorithm, dictionary_id)
    VALUES (%L, 'e0000000-0000-4000-8000-000000000001', '\x00', 1, %L, 'zstd-dict:7', 8)$$,
    replace(:'parent', '567439', '000000'), right(replace(:'parent', '567439', '000000'), 64))) AS wrong_dictionary_label;
SELECT pg_temp.stored() AS after_direct_writes;
