-- pm_olap 0.1 -> 0.2: a pg_dump of the OLAP database restores whole (docs/operations.md,
-- "Backup and restore").  Needs pm_core 0.6.
--   * The partitions of the fact tables and of the audit log are plain tables of the
--     database, dumped with their rows; the id sequences are dumped.
--   * Restored audit rows keep their seq and hashes: under session_replication_role = replica
--     (a restore) the chain trigger takes rows as they are, and audit_verify() checks them.
--   * The seed rows of the chain head and the rollup state are not made while a dump is
--     restored: the dump brings the real ones.

\echo Use "ALTER EXTENSION pm_olap UPDATE TO '0.2'" to load this file. \quit

DO $$
BEGIN
    IF to_regprocedure('pm.partitions_leave_extension(name)') IS NULL THEN
        RAISE EXCEPTION 'pm_olap 0.2 needs pm_core 0.6 or later'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER EXTENSION pm_core UPDATE; then update pm_olap.';
    END IF;
END
$$;

SELECT pm.partitions_leave_extension('pm_olap');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.campaign_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.sequence_step_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.mailbox_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.lead_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.warmup_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.billing_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.admin_audit_log_id_seq', '');

-- A fresh CREATE EXTENSION runs 0.1 first, which seeds both tables: while restoring, the
-- seeds go again before the dump's rows arrive.
DO $$
BEGIN
    IF pm.restoring() THEN
        ALTER TABLE pm_olap.audit_head DISABLE TRIGGER audit_head_no_truncate;
        DELETE FROM pm_olap.audit_head;
        ALTER TABLE pm_olap.audit_head ENABLE ALWAYS TRIGGER audit_head_no_truncate;
        DELETE FROM pm_olap.rollup_state;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION pm_olap.audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head record;
BEGIN
    -- A restored row was chained where it was written; audit_verify() checks it.
    IF pm.restoring() THEN
        RETURN NEW;
    END IF;
    UPDATE pm_olap.audit_head SET last_seq = last_seq + 1 WHERE one
    RETURNING last_seq, last_hash INTO head;
    NEW.seq := head.last_seq;
    NEW.prev_hash := head.last_hash;
    -- The partition key cannot change in a BEFORE trigger, so the time is checked instead:
    -- a row is written when it happens, never back- or forward-dated.
    IF NEW.creation_time IS NULL
       OR abs(extract(epoch FROM clock_timestamp() - NEW.creation_time)) > 300 THEN
        RAISE EXCEPTION 'audit creation_time % is not the time of insertion', NEW.creation_time
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write audit rows with pm_olap.audit(), which stamps them.';
    END IF;
    NEW.updated := clock_timestamp();
    NEW.row_hash := pm_olap.audit_row_hash(NEW);
    UPDATE pm_olap.audit_head SET last_hash = NEW.row_hash WHERE one;
    RETURN NEW;
END $$;
