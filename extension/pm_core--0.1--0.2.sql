-- pm_core 0.1 -> 0.2: partition management (native RANGE partitions kept by pm.run_maintenance).
-- A fresh CREATE EXTENSION pm_core runs 0.1 and then this script.
-- Implementation: src/core/partition_*.cpp over src/core/pure/partition_bounds.cpp.

\echo Use "ALTER EXTENSION pm_core UPDATE TO '0.2'" to load this file. \quit

------------------------------------------------------------------------------
-- §4 Partition sets
------------------------------------------------------------------------------

-- One row per partitioned table the manager keeps.  Bounds are UTC (see docs/partitions.md).
CREATE TABLE pm.partition_sets (
    parent          regclass PRIMARY KEY,
    control         name NOT NULL,
    control_type    regtype NOT NULL,
    grain           text NOT NULL,          -- hour | day | week | month | year | integer step
    premake         integer NOT NULL CHECK (premake BETWEEN 0 AND 1000),
    retention       interval,
    retention_mode  text NOT NULL DEFAULT 'drop' CHECK (retention_mode IN ('drop', 'detach')),
    with_default    boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_run        timestamptz,
    last_result     text
);
COMMENT ON TABLE pm.partition_sets IS
  'Range partition sets kept by pm.run_maintenance(); written by pm.partition_create_parent()';
SELECT pg_catalog.pg_extension_config_dump('pm.partition_sets', '');

-- A dropped parent leaves the registry, as pm.forget_dropped_tables() does for the others.
CREATE FUNCTION pm.forget_dropped_partition_sets() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pm.partition_sets s USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND s.parent = d.objid;
END $$;

CREATE EVENT TRIGGER pm_forget_dropped_partition_sets ON sql_drop
    EXECUTE FUNCTION pm.forget_dropped_partition_sets();

-- Bounds are written and read back as UTC text, so the C++ pins the session settings that
-- shape that text; lock_timeout is set inside, per lock, and restored on return.
CREATE FUNCTION pm.partition_create_parent(parent regclass, control name, grain text,
                                           premake integer DEFAULT 4,
                                           retention interval DEFAULT NULL,
                                           retention_mode text DEFAULT 'drop',
                                           with_default boolean DEFAULT true,
                                           start timestamptz DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pm_partition_create_parent'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD';

COMMENT ON FUNCTION pm.partition_create_parent(regclass, name, text, integer, interval, text,
                                               boolean, timestamptz) IS
  'Registers an empty PARTITION BY RANGE table and creates its partitions from start to now + premake grains';

CREATE FUNCTION pm.run_maintenance(parent regclass DEFAULT NULL,
                                   lock_wait interval DEFAULT '50 ms',
                                   attempts integer DEFAULT 20)
RETURNS TABLE(parent regclass, created integer, dropped integer, detached integer,
              moved_from_default bigint, skipped text)
AS 'MODULE_PATHNAME', 'pm_run_maintenance'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD';

COMMENT ON FUNCTION pm.run_maintenance(regclass, interval, integer) IS
  'Premake, retention and default drain for one set or all; never waits in a lock queue longer than lock_wait';

-- The same work, one transaction per set: the locks of one set are released before the next
-- set is touched (pg_cron runs this).  A function cannot commit; a procedure can, but not one
-- with a SET clause, so every name inside is schema-qualified instead.
CREATE PROCEDURE pm.run_maintenance_proc(lock_wait interval DEFAULT '50 ms',
                                         attempts integer DEFAULT 20)
LANGUAGE plpgsql
AS $$
DECLARE
    set_parent pg_catalog.oid;
    skipped    text;
BEGIN
    FOR set_parent IN SELECT s.parent::pg_catalog.oid FROM pm.partition_sets s ORDER BY 1 LOOP
        SELECT m.skipped INTO skipped
        FROM pm.run_maintenance(set_parent::pg_catalog.regclass, lock_wait, attempts) m;
        COMMIT;
        -- Retention waits when the first transaction attached next to the default.
        IF skipped OPERATOR(pg_catalog.~~) '%retention deferred to the next run%' THEN
            PERFORM pm.run_maintenance(set_parent::pg_catalog.regclass, lock_wait, attempts);
            COMMIT;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION pm.partition_status()
RETURNS TABLE(parent regclass, grain text, partitions integer, newest_upper timestamptz,
              ahead integer, oldest_lower timestamptz, rows_in_default bigint,
              last_run timestamptz, last_result text)
AS 'MODULE_PATHNAME', 'pm_partition_status'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD';

COMMENT ON FUNCTION pm.partition_status() IS
  'One row per partition set: partitions, how far ahead, rows waiting in the default, last maintenance';

-- Unregisters a set; its partitions and rows stay as they are.
CREATE FUNCTION pm.partition_undo(parent regclass) RETURNS boolean
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pm.partition_sets s WHERE s.parent = partition_undo.parent;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not a registered partition set', parent
            USING ERRCODE = 'undefined_object',
                  HINT = 'pm.partition_status() lists the registered sets.';
    END IF;
    RETURN true;
END $$;

-- Installs (or replaces) the pg_cron job running pm.run_maintenance_proc() in this database.
CREATE FUNCTION pm.partition_schedule(schedule text DEFAULT '*/10 * * * *',
                                      job_name text DEFAULT 'pm-partitions')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'CREATE EXTENSION pg_cron in the database named by cron.database_name, '
                         'or call pm.run_maintenance() from another scheduler.';
    END IF;
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
        INTO job USING job_name, schedule, 'CALL pm.run_maintenance_proc()', current_database();
    RETURN job;
END $$;

COMMENT ON FUNCTION pm.partition_schedule(text, text) IS
  'Schedules CALL pm.run_maintenance_proc() with pg_cron (job pm-partitions, every 10 minutes)';

REVOKE ALL ON FUNCTION pm.partition_create_parent(regclass, name, text, integer, interval, text,
                                                  boolean, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION pm.run_maintenance(regclass, interval, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE pm.run_maintenance_proc(interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pm.partition_undo(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION pm.partition_schedule(text, text) FROM PUBLIC;
