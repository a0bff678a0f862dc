-- pm_notify 0.2 -> 0.3: a pg_dump of the notifications database restores whole
-- (docs/operations.md, "Backup and restore"): the partitions of notifications and system
-- events are plain tables of the database, dumped with their rows, and the system events' id
-- sequence is dumped.  Needs pm_core 0.6.

\echo Use "ALTER EXTENSION pm_notify UPDATE TO '0.3'" to load this file. \quit

DO $$
BEGIN
    IF to_regprocedure('pm.partitions_leave_extension(name)') IS NULL THEN
        RAISE EXCEPTION 'pm_notify 0.3 needs pm_core 0.6 or later'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER EXTENSION pm_core UPDATE; then update pm_notify.';
    END IF;
END
$$;

SELECT pm.partitions_leave_extension('pm_notify');
SELECT pg_catalog.pg_extension_config_dump('pm_notify.admin_system_events_id_seq', '');

-- The channel CHECK, written so that its text as pg_dump prints it parses back to the same
-- expression.  A restored partition is made from that text and must match the parent that
-- CREATE EXTENSION made to be attached; the IN list over varchar printed as an array coercion
-- that parses to another tree ("different definition for check constraint").
ALTER TABLE pm_notify.notifications DROP CONSTRAINT notifications_channel_check;
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                WHERE inhparent = 'pm_notify.notifications'::regclass LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS notifications_channel_check', part);
    END LOOP;
END
$$;
ALTER TABLE pm_notify.notifications ADD CONSTRAINT notifications_channel_check
    CHECK (channel::text = ANY ('{in_app,email,push}'::text[]));
