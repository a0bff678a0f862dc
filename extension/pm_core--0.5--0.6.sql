-- pm_core 0.5 -> 0.6: every tier database survives pg_dump / pg_restore whole, on any day.
--
-- * The partitions of a set an extension owns (the outbox here; pm_notify's and pm_olap's
--   sets in their own updates) are ordinary tables, not members of the extension: pg_dump
--   then writes them with their rows.  Before, it wrote neither (member tables are not
--   dumped, and a partitioned table's own data is empty), so a restore lost every row in
--   them; and the partitions the restore's CREATE EXTENSION made for its own day collided
--   with any the dump carried.  The default partition stays a member, its rows dumped as the
--   extension's data; pm.partition_create_parent() inside an extension script now makes only
--   the default (the first maintenance run makes the range partitions).
-- * The outbox's configuration and contents are dumped: sinks, their secrets, the events not
--   shipped yet (at least once: a restored tier ships what was pending when the dump was
--   taken), the dead letters and the id sequence.  Sink health (pm.outbox_sink_state)
--   starts afresh.  Reference: docs/operations.md.

\echo Use "ALTER EXTENSION pm_core UPDATE TO '0.6'" to load this file. \quit

-- For the update scripts of the extensions that own partition sets: the set's range
-- partitions leave the calling extension (the one being created or updated), its default
-- is dumped with the extension's data.
CREATE FUNCTION pm.partition_dump_as_tables(parent regclass) RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ext      name;
    part     regclass;
    def      regclass;
    released int := 0;
BEGIN
    SELECT e.extname INTO ext
    FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
    WHERE d.classid = 'pg_class'::regclass AND d.objid = parent
      AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e';
    IF ext IS NULL THEN
        RAISE EXCEPTION 'table % does not belong to an extension', parent
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The partitions of an application''s set are ordinary tables already.';
    END IF;
    FOR part, def IN
        SELECT i.inhrelid::regclass,
               CASE WHEN pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' THEN i.inhrelid::regclass END
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
          AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = i.inhrelid AND d.deptype = 'e')
        ORDER BY 1
    LOOP
        IF def IS NOT NULL THEN
            PERFORM pg_catalog.pg_extension_config_dump(def, '');
        ELSE
            EXECUTE format('ALTER EXTENSION %I DROP TABLE %s', ext, part);
            released := released + 1;
        END IF;
    END LOOP;
    RETURN released;
END
$$;
COMMENT ON FUNCTION pm.partition_dump_as_tables(regclass) IS
  'In an extension''s update script: its set''s range partitions leave the extension (pg_dump writes them), the default is dumped as its data';
REVOKE ALL ON FUNCTION pm.partition_dump_as_tables(regclass) FROM PUBLIC;

SELECT pm.partition_dump_as_tables('pm.outbox');
-- One call per statement: each rewrites the extension's catalog row.
SELECT pg_catalog.pg_extension_config_dump('pm.outbox_sinks', '');
SELECT pg_catalog.pg_extension_config_dump('pm.outbox_sink_secrets', '');
SELECT pg_catalog.pg_extension_config_dump('pm.outbox_dead', '');
SELECT pg_catalog.pg_extension_config_dump('pm.outbox_id_seq', '');
