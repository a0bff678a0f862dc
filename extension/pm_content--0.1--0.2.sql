-- pm_content 0.1 -> 0.2: less stored per object.  On short campaign mail a frame is a
-- hundred-odd bytes, and what a row and its index entries carry besides it was most
-- of what the tier stored (docs/content.md, "What an object costs"):
--   * content_hash (64 hex digits, the key's digest) is no longer written into the
--     row: it is the key's last 64 characters, and decoded_objects shows it from the
--     key.  Rows written before keep theirs (the row trigger still checks any value);
--   * its index is a hash index of the key's digest: a 4-byte hash code per row
--     instead of a B-tree entry holding the 64 digits (~125 bytes an object with
--     B-tree page splits).  Look content up across tenants with
--     WHERE right(storage_key::text, 64) = '<digest>'.
-- The key itself stays the primary key: attachments reference it, and a put relies
-- on its uniqueness.  Reference: docs/content.md.

\echo Use "ALTER EXTENSION pm_content UPDATE TO '0.2'" to load this file. \quit

DROP INDEX pm_content.content_objects_content_hash_idx;
CREATE INDEX content_objects_content_hash_idx ON pm_content.content_objects
    USING hash ((right(storage_key::text, 64)));

CREATE OR REPLACE VIEW pm_content.decoded_objects WITH (security_invoker = true) AS
SELECT o.storage_key, o.tenant_id, u.content_text, u.content_html, u.headers,
       o.raw_size_bytes, o.created_at, o.expires_at, o.last_accessed_at,
       right(o.storage_key::text, 64)::varchar(64) AS content_hash,
       o.compression_algorithm, o.compressed_size_bytes
FROM pm_content.content_objects o
CROSS JOIN LATERAL pm_content.unpack(o.storage_key, o.compression_algorithm, o.packed,
                                     o.raw_size_bytes, o.content_text, o.content_html,
                                     o.headers) u;
COMMENT ON VIEW pm_content.decoded_objects IS
  'content_objects with the documented columns decoded (expired objects included); content_hash from the key';
