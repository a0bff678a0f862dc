-- pm_queue 0.1 -> 0.2: the olap-audit queue, which carries high-risk changes made in OLTP
-- to the OLAP audit log (pm_oltp 0.3 produces, pm_oltp.deliver_audit consumes).
-- A fresh CREATE EXTENSION pm_queue runs 0.1 and then this script.

\echo Use "ALTER EXTENSION pm_queue UPDATE TO '0.2'" to load this file. \quit

-- An audit record must outlive an OLAP outage: up to 1000 attempts, the backoff capped at
-- 5 minutes (days of outage before a record reaches the dead letter, where replay() finds it).
-- Completed deliveries are kept 30 days for the compliance trail's own audit.
INSERT INTO pm_queue.job_queues (name, default_priority, timeout_seconds, max_attempts,
                                 backoff_base_ms, backoff_max_ms, retain_completed,
                                 retain_failed)
VALUES ('olap-audit', 50, 60, 1000, 1000, 300000, '30 days', '365 days')
ON CONFLICT (name) DO NOTHING;

SELECT pg_catalog.pg_extension_config_dump('pm_queue.job_queues',
    $$WHERE name NOT IN ('email-sending', 'email-processing', 'analytics', 'warmup', 'bounce',
                         'webhook', 'notifications', 'maintenance', 'import-export',
                         'olap-audit')$$);
