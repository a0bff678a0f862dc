-- pm_notify 0.2 -> 0.3: a dump of the notifications database holds every notification and
-- system event.  Their partitions become ordinary tables (pg_dump wrote neither them nor their
-- rows while they belonged to the extension), the defaults are dumped as the extension's
-- data, and the events' id sequence is dumped (a restored tier would reuse ids of events
-- open_events points at).  Needs pm_core 0.6.  Reference: docs/operations.md.

\echo Use "ALTER EXTENSION pm_notify UPDATE TO '0.3'" to load this file. \quit

DO $$
BEGIN
    IF to_regprocedure('pm.partition_dump_as_tables(regclass)') IS NULL THEN
        RAISE EXCEPTION 'pm_notify 0.3 needs pm_core 0.6 or later'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER EXTENSION pm_core UPDATE; then update pm_notify.';
    END IF;
END
$$;

SELECT pm.partition_dump_as_tables('pm_notify.notifications');
SELECT pm.partition_dump_as_tables('pm_notify.admin_system_events');
SELECT pg_catalog.pg_extension_config_dump('pm_notify.admin_system_events_id_seq', '');
