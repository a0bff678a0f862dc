-- pm_content 0.1 -> 0.2: less stored per object.  On short campaign mail a frame is a
-- hundred-odd bytes, and what a row and its index entries carry besides it was most
-- of what the tier stored (docs/content.md, "What an object costs"):
--   * content_hash (64 hex digits, the key's digest) is no longer written into the
--     row: it is the key's last 64 characters, and decoded_objects shows it from the
--     key.  Rows written before keep theirs (the row trigger still checks any value);
--   * its index holds the digest's first 8 bytes as a bigint (pm_content.digest_id)
--     instead of the 64 digits: ~30 bytes an object instead of ~125.  Look content
--     up across tenants with
--       WHERE pm_content.digest_id(right(storage_key::text, 64)) = pm_content.digest_id(:'digest')
--         AND right(storage_key::text, 64) = :'digest'
--   * last_accessed_at is NULL until the first refresh (it was set to created_at by
--     every put); decoded_objects shows created_at then.
-- The key itself stays the primary key: attachments reference it, and a put relies
-- on its uniqueness.  Reference: docs/content.md.

\echo Use "ALTER EXTENSION pm_content UPDATE TO '0.2'" to load this file. \quit

-- The first 16 hex digits of a digest as a bigint (NULL unless 16 lowercase hex
-- digits lead): digests are uniform, so 8 bytes tell rows apart as well as all 32
-- in an index, and the full digest is compared on the row.
CREATE FUNCTION pm_content.digest_id(digest text) RETURNS bigint
AS 'MODULE_PATHNAME', 'pm_content_digest_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

DROP INDEX pm_content.content_objects_content_hash_idx;
CREATE INDEX content_objects_content_hash_idx ON pm_content.content_objects
    (pm_content.digest_id(right(storage_key::text, 64)));

CREATE OR REPLACE VIEW pm_content.decoded_objects WITH (security_invoker = true) AS
SELECT o.storage_key, o.tenant_id, u.content_text, u.content_html, u.headers,
       o.raw_size_bytes, o.created_at, o.expires_at,
       coalesce(o.last_accessed_at, o.created_at) AS last_accessed_at,
       right(o.storage_key::text, 64)::varchar(64) AS content_hash,
       o.compression_algorithm, o.compressed_size_bytes
FROM pm_content.content_objects o
CROSS JOIN LATERAL pm_content.unpack(o.storage_key, o.compression_algorithm, o.packed,
                                     o.raw_size_bytes, o.content_text, o.content_html,
                                     o.headers) u;
COMMENT ON VIEW pm_content.decoded_objects IS
  'content_objects with the documented columns decoded (expired objects included); content_hash from the key';
