-- pm_content lifecycle: expire, orphans / collect_orphans (with the age guard),
-- missing_keys, attachment bytes kept while referenced, and the cheap
-- last_accessed_at refresh (no write per read).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pm_content CASCADE;
RESET client_min_messages;

CREATE TEMP TABLE k (name text PRIMARY KEY, key text);
CREATE FUNCTION pg_temp.put(name text, expires timestamptz DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    INSERT INTO k VALUES (name, pm_content.put_body('d0000000-0000-4000-8000-000000000001',
                                                    'body ' || name, '<p>body ' || name || '</p>',
                                                    NULL, expires))
    ON CONFLICT (name) DO UPDATE SET key = excluded.key
    RETURNING key
$$;
CREATE FUNCTION pg_temp.names(keys text[]) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(k.name, ',' ORDER BY k.name), '-') FROM k WHERE k.key = ANY (keys)
$$;
CREATE FUNCTION pg_temp.present() RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.names(array_agg(storage_key::text)) FROM pm_content.content_objects
$$;
-- Moves an object's clock back (what time would have done).
CREATE FUNCTION pg_temp.age(name text, by interval) RETURNS boolean LANGUAGE sql AS $$
    UPDATE pm_content.content_objects
       SET created_at = created_at - by, last_accessed_at = last_accessed_at - by
     WHERE storage_key = (SELECT key FROM k WHERE k.name = age.name)
    RETURNING true
$$;

------------------------------------------------------------------------------
-- expire: exactly the objects past expires_at, in batches
------------------------------------------------------------------------------
SELECT pg_temp.put(n, now() + interval '1 day') IS NOT NULL FROM unnest(ARRAY['e1', 'e2', 'e3', 'e4']) n;
SELECT pg_temp.put(n) IS NOT NULL FROM unnest(ARRAY['keep1', 'keep2']) n;

-- Attachments: 'shared' bytes on e1, e2 and keep1; 'own' bytes only on e3.
SELECT count(pm_content.put_attachment(key, 'shared.pdf', 'application/pdf',
                                       convert_to(repeat('%PDF shared ', 300), 'UTF8')))
FROM k WHERE name IN ('e1', 'e2', 'keep1');
SELECT pm_content.put_attachment(key, 'own.pdf', 'application/pdf',
                                 convert_to(repeat('%PDF own ', 300), 'UTF8')) IS NOT NULL
FROM k WHERE name = 'e3';
SELECT count(*) AS blobs, (SELECT count(*) FROM pm_content.attachments) AS attachments
FROM pm_content.attachment_blobs;
-- Time passes: e1..e3 reach their expiry.
UPDATE pm_content.content_objects SET expires_at = now() - interval '1 minute'
 WHERE storage_key IN (SELECT key FROM k WHERE name IN ('e1', 'e2', 'e3'));

-- Expired objects are gone for readers before the job runs.
SELECT count(*) AS get_expired FROM pm_content.get((SELECT key FROM k WHERE name = 'e1'));
SELECT count(*) AS get_many_sees FROM pm_content.get_many((SELECT array_agg(key) FROM k));
SELECT count(*) AS attachments_of_expired FROM pm_content.attachments((SELECT key FROM k WHERE name = 'e1'));

SELECT pm_content.expire(2) AS first_batch;
SELECT pm_content.expire(2) AS second_batch;
SELECT pm_content.expire(2) AS nothing_left;
SELECT pg_temp.present() AS present;
-- Attachment rows went with their bodies; the shared bytes stay for keep1, and
-- the unreferenced 'own' bytes wait for the hour-long guard.
SELECT a.filename, b.size_bytes FROM pm_content.attachments a
JOIN pm_content.attachment_blobs b ON b.storage_key = a.blob_key ORDER BY 1;
SELECT count(*) AS blobs FROM pm_content.attachment_blobs;
SELECT count(*) AS shared_still_readable
FROM k CROSS JOIN LATERAL pm_content.attachments(k.key) a
CROSS JOIN LATERAL pm_content.get_attachment(a.id) g
WHERE g.content = convert_to(repeat('%PDF shared ', 300), 'UTF8');
UPDATE pm_content.attachment_blobs SET last_referenced_at = now() - interval '2 hours';
SELECT pm_content.expire() AS objects_expired;
SELECT count(*) AS blobs_after_guard FROM pm_content.attachment_blobs;
-- Re-attaching bytes whose blob is old refreshes it (the guard against collection).
SELECT pm_content.put_attachment(key, 'shared-again.pdf', 'application/pdf',
                                 convert_to(repeat('%PDF shared ', 300), 'UTF8')) IS NOT NULL
FROM k WHERE name = 'keep2';
SELECT last_referenced_at > now() - interval '1 minute' AS refreshed FROM pm_content.attachment_blobs;

------------------------------------------------------------------------------
-- Expiry is the latest any put asked for; an expired row comes back when put again
------------------------------------------------------------------------------
SELECT pg_temp.put('x1', '2100-01-01') IS NOT NULL;
SELECT pg_temp.put('x1', '2100-03-01') IS NOT NULL;
SELECT pg_temp.put('x1', '2100-02-01') IS NOT NULL;
SELECT expires_at = '2100-03-01' AS latest_wins FROM pm_content.content_objects
 WHERE storage_key = (SELECT key FROM k WHERE name = 'x1');
SELECT pg_temp.put('x1') IS NOT NULL;
SELECT expires_at IS NULL AS never_wins FROM pm_content.content_objects
 WHERE storage_key = (SELECT key FROM k WHERE name = 'x1');
SELECT pg_temp.put('x2', now() + interval '1 day') IS NOT NULL;
UPDATE pm_content.content_objects SET expires_at = now() - interval '1 second'
 WHERE storage_key = (SELECT key FROM k WHERE name = 'x2');
SELECT count(*) AS x2_expired FROM pm_content.get((SELECT key FROM k WHERE name = 'x2'));
SELECT pg_temp.put('x2', now() + interval '1 day') IS NOT NULL;
SELECT count(*) AS x2_back FROM pm_content.get((SELECT key FROM k WHERE name = 'x2'));

------------------------------------------------------------------------------
-- missing_keys: absent or expired, once each, in input order
------------------------------------------------------------------------------
SELECT pg_temp.put('x3', now() + interval '1 day') IS NOT NULL;
UPDATE pm_content.content_objects SET expires_at = now() - interval '1 second'
 WHERE storage_key = (SELECT key FROM k WHERE name = 'x3');
SELECT m FROM pm_content.missing_keys(ARRAY[
    (SELECT key FROM k WHERE name = 'keep1'),
    (SELECT key FROM k WHERE name = 'e2'),
    NULL,
    'pmk1.body.d0000000000040008000000000000001.' || repeat('b', 64),
    (SELECT key FROM k WHERE name = 'x3'),
    (SELECT key FROM k WHERE name = 'e2')]) m;
SELECT pm_content.expire() AS x3_expired;

------------------------------------------------------------------------------
-- orphans / collect_orphans: unreferenced AND untouched for older_than
------------------------------------------------------------------------------
SELECT pg_temp.put(n) IS NOT NULL FROM unnest(ARRAY['o_ref', 'o_old1', 'o_old2', 'o_new', 'o_touched']) n;
SELECT count(pg_temp.age(n, interval '2 days')) AS aged FROM unnest(ARRAY['o_ref', 'o_old1', 'o_old2', 'o_touched']) n;
-- o_touched was read just now (last_accessed_at refreshed): not an orphan yet.
SELECT count(*) AS read_o_touched FROM pm_content.get((SELECT key FROM k WHERE name = 'o_touched'));
CREATE TEMP TABLE referenced AS
SELECT array_agg(key) AS keys FROM k WHERE name IN ('o_ref', 'keep1', 'keep2', 'x1', 'x2');
SELECT pg_temp.names(array_agg(o)) AS orphans_1_day
FROM pm_content.orphans((SELECT keys FROM referenced)) o;
SELECT pg_temp.names(array_agg(o)) AS orphans_3_days
FROM pm_content.orphans((SELECT keys FROM referenced), interval '3 days') o;
-- A re-put of an old orphan (an OLTP transaction about to reference it) refreshes it.
SELECT pg_temp.put('o_old2') IS NOT NULL;
SELECT pg_temp.names(array_agg(o)) AS orphans_after_reput
FROM pm_content.orphans((SELECT keys FROM referenced)) o;
SELECT pm_content.collect_orphans((SELECT keys FROM referenced), batch => 1) AS collected;
SELECT pm_content.collect_orphans((SELECT keys FROM referenced)) AS collected_again;
SELECT pg_temp.present() AS present;

------------------------------------------------------------------------------
-- last_accessed_at: refreshed by a read or a repeated put when stale, and then
-- not written again (the row version stays the same)
------------------------------------------------------------------------------
SELECT key AS kk FROM k WHERE name = 'keep1' \gset
UPDATE pm_content.content_objects SET last_accessed_at = now() - interval '1 day' WHERE storage_key = :'kk';
SELECT xmin AS stale_xmin FROM pm_content.content_objects WHERE storage_key = :'kk' \gset
-- A read-only transaction reads but does not write.
BEGIN READ ONLY;
SELECT count(*) AS read_only_get FROM pm_content.get(:'kk');
COMMIT;
SELECT xmin = :'stale_xmin' AS untouched_by_read_only FROM pm_content.content_objects WHERE storage_key = :'kk';
-- A role without UPDATE on the table (staff) reads without writing.
SET ROLE pm_staff;
SELECT count(*) AS staff_get FROM pm_content.get_many(ARRAY[:'kk']);
RESET ROLE;
SELECT xmin = :'stale_xmin' AS untouched_by_staff FROM pm_content.content_objects WHERE storage_key = :'kk';
SELECT count(*) FROM pm_content.get(:'kk');
SELECT last_accessed_at > now() - interval '1 minute' AS refreshed, xmin <> :'stale_xmin' AS written
FROM pm_content.content_objects WHERE storage_key = :'kk';
SELECT xmin AS fresh_xmin FROM pm_content.content_objects WHERE storage_key = :'kk' \gset
SELECT count(*) FROM pm_content.get(:'kk');
SELECT count(*) FROM pm_content.get_many(ARRAY[:'kk', :'kk']);
SELECT pm_content.put_body('d0000000-0000-4000-8000-000000000001', 'body keep1', '<p>body keep1</p>') = :'kk' AS same_key;
SELECT xmin = :'fresh_xmin' AS no_second_write FROM pm_content.content_objects WHERE storage_key = :'kk';

SELECT objects, attachments FROM pm_content.usage('d0000000-0000-4000-8000-000000000001');
