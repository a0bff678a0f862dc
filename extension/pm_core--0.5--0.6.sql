-- pm_core 0.5 -> 0.6: a pg_dump of a tier database restores whole (docs/operations.md,
-- "Backup and restore").
--   * Partitions are never members of the extension whose script made their set: pg_dump
--     leaves an extension's members out, rows included, and retention could not drop them.
--     The library keeps new ones out; pm.partitions_leave_extension() releases those that
--     older scripts made, here the outbox's.
--   * While a dump is restored (session_replication_role = replica) an extension's script
--     registers no set and makes no partition: the dump carries both.  The registry of
--     partition sets is therefore dumped whole.
--   * The outbox's sinks, their secrets, its dead letters and its id sequence are dumped.

\echo Use "ALTER EXTENSION pm_core UPDATE TO '0.6'" to load this file. \quit

-- Rows arriving under session_replication_role = replica were written elsewhere (a restore,
-- a replication apply): an extension's scripts and triggers leave them as they are.
CREATE FUNCTION pm.restoring() RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT pg_catalog.current_setting('session_replication_role') = 'replica' $$;
COMMENT ON FUNCTION pm.restoring() IS
  'True under session_replication_role = replica: rows come from a dump or a publisher and are kept as they are';

-- Releases the partitions of extension `ext`'s partitioned tables from the extension (called
-- by its update script); returns how many.
CREATE FUNCTION pm.partitions_leave_extension(ext name) RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part regclass;
    n int := 0;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass
        FROM pg_inherits i
        JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.inhrelid
                        AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
        JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = ext
        ORDER BY 1
    LOOP
        EXECUTE format('ALTER EXTENSION %I DROP TABLE %s', ext, part);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION pm.partitions_leave_extension(name) IS
  'Makes the partitions an extension''s script created plain tables of the database (dumped with their rows)';
REVOKE ALL ON FUNCTION pm.partitions_leave_extension(name) FROM PUBLIC;

SELECT pm.partitions_leave_extension('pm_core');

-- Every set's registry row is dumped now, the sets of extension tables included.
SELECT pg_catalog.pg_extension_config_dump('pm.partition_sets', '');
SELECT pg_catalog.pg_extension_config_dump('pm.outbox_sinks', '');
SELECT pg_catalog.pg_extension_config_dump('pm.outbox_sink_secrets', '');
SELECT pg_catalog.pg_extension_config_dump('pm.outbox_dead', '');
SELECT pg_catalog.pg_extension_config_dump('pm.outbox_id_seq', '');

-- The registrations of partitions are dumped with them (the library registers new ones so).
UPDATE pm.tenant_tables t SET from_extension_script = false
FROM pg_catalog.pg_class c
WHERE c.oid = t.tbl AND c.relispartition AND t.from_extension_script;

