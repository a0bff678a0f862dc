-- pm_queue 0.4 -> 0.5: a dump keeps every queue's settings, the seeded queues' included (a
-- changed retry policy or timeout came back as the default).  While a dump is restored
-- (session_replication_role = replica), CREATE EXTENSION's seeds go again before the dump's
-- rows arrive.  Backup and restore: docs/operations.md.

\echo Use "ALTER EXTENSION pm_queue UPDATE TO '0.5'" to load this file. \quit

SELECT pg_catalog.pg_extension_config_dump('pm_queue.job_queues', '');

DO $$
BEGIN
    IF pg_catalog.current_setting('session_replication_role') = 'replica' THEN
        DELETE FROM pm_queue.job_queues;
    END IF;
END
$$;
