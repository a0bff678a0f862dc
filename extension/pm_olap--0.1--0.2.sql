-- pm_olap 0.1 -> 0.2: a dump of the OLAP database holds the analytics and the whole audit log.
-- Before, pg_dump wrote none of their rows (their partitions belonged to the extension) but
-- did write rollup_state, so a restored tier believed itself caught up with empty tables,
-- and the audit chain's head pointed past an empty log.  Now the partitions are ordinary
-- tables, the defaults and the id sequences are dumped with the extension's data.  A new
-- install makes only the defaults (pm_core 0.6), so audit() runs the log's maintenance
-- itself before the first record: its rows could not be moved out of the default later.
-- The audit log's partitions get their TRUNCATE guard from the partition manager, which
-- copies the parent's statement triggers to every partition it makes (pm_core 0.6), instead
-- of from an event trigger: that one also fired for the partitions a restore creates, and
-- the dump's own copy of the guard then failed with "already exists".  Needs pm_core 0.6.  Reference: docs/operations.md.

\echo Use "ALTER EXTENSION pm_olap UPDATE TO '0.2'" to load this file. \quit

DO $$
BEGIN
    IF to_regprocedure('pm.partition_dump_as_tables(regclass)') IS NULL THEN
        RAISE EXCEPTION 'pm_olap 0.2 needs pm_core 0.6 or later'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER EXTENSION pm_core UPDATE; then update pm_olap.';
    END IF;
END
$$;

DROP EVENT TRIGGER pm_olap_audit_partitions;
DROP FUNCTION pm_olap.audit_guard_new_partitions();
-- Partitions made before the update have the guard already; this checks it.
SELECT pm_olap.audit_guard_partitions();

-- audit() makes the log's partitions before the first record when maintenance never ran.
CREATE OR REPLACE FUNCTION pm_olap.audit(admin_user_id uuid, action text, resource_type text,
                              resource_id text, tenant_id uuid, old_values jsonb DEFAULT NULL,
                              new_values jsonb DEFAULT NULL, ip_address text DEFAULT NULL,
                              user_agent text DEFAULT NULL, notes text DEFAULT NULL,
                              metadata jsonb DEFAULT NULL,
                              data_classification text DEFAULT 'confidential',
                              retention_category text DEFAULT 'standard',
                              source_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    classifications constant text[] := ARRAY['public', 'internal', 'confidential', 'restricted'];
    made_seq bigint;
    new_id bigint;
BEGIN
    IF action IS NULL OR btrim(action) = '' OR resource_type IS NULL OR btrim(resource_type) = '' THEN
        RAISE EXCEPTION 'pm_olap.audit: % must be given', CASE WHEN action IS NULL OR btrim(action) = ''
                                                             THEN 'action' ELSE 'resource_type' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF length(action) > 100 OR length(resource_type) > 100 THEN
        RAISE EXCEPTION 'pm_olap.audit: action and resource_type are at most 100 characters'
            USING ERRCODE = 'string_data_right_truncation';
    END IF;
    IF data_classification IS NULL OR NOT data_classification = ANY (classifications) THEN
        RAISE EXCEPTION 'unknown data_classification "%"; expected one of: %',
            data_classification, array_to_string(classifications, ', ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pm_olap.audit_retention_categories c
                   WHERE c.category = audit.retention_category) THEN
        RAISE EXCEPTION 'unknown retention_category "%"; expected one of: %', retention_category,
            (SELECT string_agg(c.category, ', ' ORDER BY c.category) FROM pm_olap.audit_retention_categories c)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF source_key IS NOT NULL THEN
        SELECT s.seq INTO made_seq FROM pm_olap.audit_sources s WHERE s.source_key = audit.source_key;
        IF FOUND THEN
            RETURN (SELECT l.id FROM pm_olap.admin_audit_log l WHERE l.seq = made_seq);
        END IF;
    END IF;
    -- A new install has the log's default partition only, until the first maintenance run;
    -- rows of an append-only log could never be moved out of the default afterwards.
    IF (SELECT s.last_run IS NULL FROM pm.partition_sets s
        WHERE s.parent = 'pm_olap.admin_audit_log'::pg_catalog.regclass) THEN
        PERFORM pm.run_maintenance('pm_olap.admin_audit_log');
    END IF;
    INSERT INTO pm_olap.admin_audit_log
        (seq, creation_time, admin_user_id, action, resource_type, resource_id, tenant_id,
         old_values, new_values, ip_address, user_agent, notes, metadata, data_classification,
         retention_category, prev_hash, row_hash)
    VALUES (0, clock_timestamp(), admin_user_id, action, resource_type, resource_id,
            coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'), old_values, new_values,
            ip_address, user_agent, notes, metadata, data_classification, retention_category,
            '\x', '\x')
    RETURNING id, seq INTO new_id, made_seq;
    IF source_key IS NOT NULL THEN
        -- A concurrent delivery of the same source waits on this key and then fails:
        -- its transaction (and its row) roll back, the chain stays gapless.
        INSERT INTO pm_olap.audit_sources VALUES (source_key, made_seq);
    END IF;
    RETURN new_id;
END $$;

SELECT pm.partition_dump_as_tables(t)
FROM unnest(ARRAY['pm_olap.campaign_analytics', 'pm_olap.sequence_step_analytics',
                  'pm_olap.mailbox_analytics', 'pm_olap.lead_analytics',
                  'pm_olap.warmup_analytics', 'pm_olap.billing_analytics',
                  'pm_olap.admin_audit_log']::regclass[]) AS t;
-- One call per statement: each rewrites the extension's catalog row.
SELECT pg_catalog.pg_extension_config_dump('pm_olap.campaign_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.sequence_step_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.mailbox_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.lead_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.warmup_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.billing_analytics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.admin_audit_log_id_seq', '');
