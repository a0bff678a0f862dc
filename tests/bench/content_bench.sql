-- Shared pieces of tests/bench/content_storage.sh, loaded into each benchmark database
-- (one per data set) after CREATE EXTENSION pm_content.
--
-- bench.mail / bench.att hold a data set; bench.plain_<c> / bench.plain_<c>_att are "a plain
-- table with the same columns" as content_objects / attachments (same keys, same
-- indexes), with TOAST compression <c> = lz4 or pglz on the body and content columns.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE SCHEMA bench;

CREATE TABLE bench.mail (
    n        int PRIMARY KEY,
    tenant   uuid NOT NULL,
    template text,            -- template hint passed to put_body (personalised mail)
    t        text,
    h        text,
    hd       jsonb,
    train    boolean NOT NULL, -- put before the dictionaries are trained
    key      text,             -- pm.body_storage_key of the body
    plain_key text             -- the plain tables' key: the body key, or one per message
);
-- Inputs as a client sends them, uncompressed: otherwise every variant would spend
-- most of its time decompressing the staging table, hiding what is measured.
ALTER TABLE bench.mail ALTER COLUMN t SET STORAGE EXTERNAL, ALTER COLUMN h SET STORAGE EXTERNAL,
                       ALTER COLUMN hd SET STORAGE EXTERNAL;
CREATE TABLE bench.att (n int NOT NULL, filename text, mime text, content bytea);
ALTER TABLE bench.att ALTER COLUMN content SET STORAGE EXTERNAL;
-- STORAGE EXTERNAL does not undo compression a value already has: a loader that stages
-- through a table of its own (COPY into a TEMP table, default pglz) hands over pglz
-- datums, which INSERT ... SELECT copies into the plain tables as they are.  The "lz4"
-- table would then keep (and read back) pglz.  run_set calls this after every load (the
-- concatenations make fresh, uncompressed values).
CREATE FUNCTION bench.uncompress_inputs() RETURNS bigint LANGUAGE sql AS $$
    WITH m AS (
        UPDATE bench.mail SET t = t || '', h = h || '', hd = (hd::text)::jsonb
        WHERE pg_column_compression(t) IS NOT NULL OR pg_column_compression(h) IS NOT NULL
           OR pg_column_compression(hd) IS NOT NULL
        RETURNING 1),
    a AS (
        UPDATE bench.att SET content = content || ''::bytea
        WHERE pg_column_compression(content) IS NOT NULL
        RETURNING 1)
    SELECT (SELECT count(*) FROM m) + (SELECT count(*) FROM a)
$$;
CREATE TABLE bench.batches (b int PRIMARY KEY, keys text[]);
CREATE TABLE bench.result (
    what text, variant text, round int, seconds float8, rows bigint, bytes bigint
);

CREATE FUNCTION bench.create_plain(c text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($f$
        CREATE TABLE bench.plain_%1$s (
            storage_key           varchar(500) PRIMARY KEY,
            tenant_id             uuid NOT NULL,
            content_text          text COMPRESSION %1$s,
            content_html          text COMPRESSION %1$s,
            headers               jsonb COMPRESSION %1$s,
            raw_size_bytes        int,
            created_at            timestamptz DEFAULT now(),
            expires_at            timestamptz,
            last_accessed_at      timestamptz,
            content_hash          varchar(64),
            compression_algorithm varchar(20),
            compressed_size_bytes int);
        CREATE INDEX ON bench.plain_%1$s (tenant_id);
        CREATE INDEX ON bench.plain_%1$s (expires_at) WHERE expires_at IS NOT NULL;
        CREATE INDEX ON bench.plain_%1$s (content_hash) WHERE content_hash IS NOT NULL;
        CREATE TABLE bench.plain_%1$s_att (
            id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            parent_storage_key  varchar(500) NOT NULL
                                REFERENCES bench.plain_%1$s (storage_key) ON DELETE CASCADE,
            filename            varchar(255) NOT NULL,
            mime_type           varchar(100) NOT NULL,
            size_bytes          int NOT NULL,
            content             bytea COMPRESSION %1$s,
            storage_disposition varchar(20) NOT NULL DEFAULT 'attachment',
            created_at          timestamptz NOT NULL DEFAULT now(),
            tenant_id           uuid NOT NULL);
        CREATE INDEX ON bench.plain_%1$s_att (parent_storage_key);
        CREATE INDEX ON bench.plain_%1$s_att (tenant_id);
    $f$, c);
END $$;
SELECT bench.create_plain('lz4'), bench.create_plain('pglz');

-- Runs a statement and records how long it took.
CREATE FUNCTION bench.timed(what text, variant text, round int, stmt text) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    n bigint;
    secs float8;
BEGIN
    -- A SELECT count(put...) reports how many puts it made; an INSERT its row count.
    IF stmt ~* '^\s*SELECT count\(' THEN
        EXECUTE stmt INTO n;
    ELSE
        EXECUTE stmt;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    secs := extract(epoch FROM clock_timestamp() - t0);
    INSERT INTO bench.result VALUES (what, variant, round, secs, n, NULL);
    RETURN secs;
END $$;

-- The tier: bodies of one part (train or not), then their attachments.
CREATE FUNCTION bench.put_tier(part boolean) RETURNS text LANGUAGE sql AS $$
    SELECT format($f$SELECT count(pm_content.put_body(tenant, t, h, hd, NULL, template))
                     FROM (SELECT * FROM bench.mail WHERE train = %L ORDER BY n) m$f$, part)
$$;
CREATE FUNCTION bench.put_tier_att(part boolean) RETURNS text LANGUAGE sql AS $$
    SELECT format($f$SELECT count(pm_content.put_attachment(m.key, a.filename, a.mime, a.content))
                     FROM bench.att a JOIN bench.mail m USING (n) WHERE m.train = %L$f$, part)
$$;

-- The plain table: the same rows, keys computed the same way (plain_key when the data
-- set wants one row per message), one INSERT.
CREATE FUNCTION bench.put_plain(c text, part boolean) RETURNS text LANGUAGE sql AS $$
    SELECT format($f$
        INSERT INTO bench.plain_%1$s (storage_key, tenant_id, content_text, content_html, headers,
                                      raw_size_bytes, content_hash, compression_algorithm)
        SELECT k, tenant, t, h, hd,
               coalesce(octet_length(t), 0) + coalesce(octet_length(h), 0) + coalesce(octet_length(hd::text), 0),
               split_part(k, '.', 4), 'toast-%1$s'
        FROM (SELECT m.*, coalesce(m.plain_key, pm.body_storage_key(tenant, t, h, hd)) AS k
              FROM bench.mail m WHERE train = %2$L ORDER BY n) x
        ON CONFLICT (storage_key) DO NOTHING$f$, c, part)
$$;
CREATE FUNCTION bench.put_plain_att(c text, part boolean) RETURNS text LANGUAGE sql AS $$
    SELECT format($f$
        INSERT INTO bench.plain_%1$s_att (parent_storage_key, filename, mime_type, size_bytes, content, tenant_id)
        SELECT coalesce(m.plain_key, m.key), a.filename, a.mime, octet_length(a.content), a.content, m.tenant
        FROM bench.att a JOIN bench.mail m USING (n) WHERE m.train = %2$L$f$, c, part)
$$;

CREATE FUNCTION bench.truncate_all() RETURNS void LANGUAGE sql AS $$
    TRUNCATE pm_content.attachments, pm_content.attachment_blobs, pm_content.content_objects,
             pm_content.dictionaries;
    TRUNCATE bench.plain_lz4_att, bench.plain_lz4, bench.plain_pglz_att, bench.plain_pglz;
$$;

-- Dictionaries for every (tenant, template) of the training part (the nightly job).
CREATE FUNCTION bench.train() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int := 0;
    r record;
BEGIN
    FOR r IN SELECT DISTINCT tenant, template FROM bench.mail WHERE train LOOP
        IF pm_content.train_dictionary(r.tenant, r.template, force => true) IS NOT NULL THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

-- Every object stored before its dictionary existed moved onto it.
CREATE FUNCTION bench.recompress() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int := 0;
    k int;
BEGIN
    LOOP
        k := pm_content.recompress(NULL, 5000);
        EXIT WHEN k = 0;
        n := n + k;
    END LOOP;
    RETURN n;
END $$;

-- On-disk bytes of everything each variant stores (tables, TOAST, indexes).
CREATE FUNCTION bench.sizes() RETURNS TABLE(variant text, bytes bigint) LANGUAGE sql AS $$
    SELECT 'pm_content', sum(pg_total_relation_size(t))::bigint
      FROM unnest(ARRAY['pm_content.content_objects', 'pm_content.attachments',
                        'pm_content.attachment_blobs', 'pm_content.dictionaries']::regclass[]) t
    UNION ALL
    SELECT 'plain lz4', pg_total_relation_size('bench.plain_lz4') + pg_total_relation_size('bench.plain_lz4_att')
    UNION ALL
    SELECT 'plain pglz', pg_total_relation_size('bench.plain_pglz') + pg_total_relation_size('bench.plain_pglz_att')
$$;

-- Every relation a variant stores into, each fork: the tier's whole schema (tables,
-- their TOAST tables and TOAST indexes, every index, sequences), or a plain table's
-- tables with theirs.  For the growth while a part is put (bench.snap).
CREATE FUNCTION bench.relations(variant text) RETURNS TABLE(relation text, bytes bigint)
LANGUAGE sql AS $$
    WITH tables AS (
        SELECT c.oid FROM pg_class c
        WHERE CASE WHEN variant = 'pm_content'
                   THEN c.relnamespace = 'pm_content'::regnamespace AND c.relkind IN ('r', 'm', 'S')
                   ELSE c.oid IN (to_regclass('bench.' || replace(variant, ' ', '_')),
                                  to_regclass('bench.' || replace(variant, ' ', '_') || '_att')) END
    ), rel AS (
        SELECT t.oid, c.relname::text AS name FROM tables t JOIN pg_class c ON c.oid = t.oid
        UNION ALL
        SELECT i.indexrelid, ic.relname::text FROM tables t JOIN pg_index i ON i.indrelid = t.oid
        JOIN pg_class ic ON ic.oid = i.indexrelid
        UNION ALL
        SELECT c.reltoastrelid, 'TOAST of ' || c.relname FROM tables t JOIN pg_class c ON c.oid = t.oid
        WHERE c.reltoastrelid <> 0
        UNION ALL
        SELECT i.indexrelid, 'TOAST index of ' || c.relname FROM tables t JOIN pg_class c ON c.oid = t.oid
        JOIN pg_index i ON i.indrelid = c.reltoastrelid
    )
    SELECT name, pg_relation_size(oid, 'main') + pg_relation_size(oid, 'fsm')
                 + pg_relation_size(oid, 'vm') + pg_relation_size(oid, 'init')
    FROM rel
$$;

CREATE TABLE bench.snap (
    what text, variant text, round int, relation text, bytes bigint, objects bigint
);
CREATE FUNCTION bench.snapshot(what text, variant text, round int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    objects bigint;
BEGIN
    IF variant = 'pm_content' THEN
        SELECT count(*) INTO objects FROM pm_content.content_objects;
    ELSE
        EXECUTE format('SELECT count(*) FROM bench.%I', replace(variant, ' ', '_')) INTO objects;
    END IF;
    INSERT INTO bench.snap SELECT what, variant, round, r.relation, r.bytes, objects
    FROM bench.relations(variant) r;
END $$;

-- What the second part added, per relation and in all, per object it added.
CREATE VIEW bench.growth AS
SELECT a.variant, a.round, a.relation, a.bytes - coalesce(b.bytes, 0) AS bytes,
       a.objects - bo.objects AS objects
FROM bench.snap a
JOIN (SELECT DISTINCT variant, round, objects FROM bench.snap WHERE what = 'before') bo
  ON bo.variant = a.variant AND bo.round = a.round
LEFT JOIN bench.snap b ON b.what = 'before' AND b.variant = a.variant AND b.round = a.round
                      AND b.relation = a.relation
WHERE a.what = 'after';
