-- pm_oltp 0.2 -> 0.3: the dirty-key triggers in C++ (they run on every send and every email
-- event); high-risk changes made in OLTP (subscriptions and plans, tenant roles,
-- tenant configuration, staff roles and permissions) reach the OLAP audit log through pm_queue.
-- The job is enqueued in the writing transaction, so a change and its audit record commit or
-- roll back together; pm_oltp.deliver_audit() moves jobs to pm_olap.audit() over the OLAP link
-- and leaves them to the queue's backoff while OLAP is down.  Reference: docs/olap.md.
-- A fresh CREATE EXTENSION pm_oltp runs 0.1, 0.2 and then this script.

\echo Use "ALTER EXTENSION pm_oltp UPDATE TO '0.3'" to load this file. \quit

------------------------------------------------------------------------------
-- Dirty keys, written in C++ (src/oltp/olap_capture.cpp)
------------------------------------------------------------------------------

-- Same keys as 0.2's PL/pgSQL, inserted without a planned statement and once per
-- transaction per key.  Not SECURITY DEFINER: the trigger writes the key table directly,
-- whoever the writer is (EXECUTE stays revoked from PUBLIC, so no one attaches it elsewhere).
CREATE OR REPLACE FUNCTION pm_oltp.olap_capture_email() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_oltp_olap_capture_email' LANGUAGE C;
CREATE OR REPLACE FUNCTION pm_oltp.olap_capture_state() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_oltp_olap_capture_state' LANGUAGE C;
COMMENT ON FUNCTION pm_oltp.olap_capture_state() IS
  'Dirty key of a mailbox (m), enrollment (l), campaign (c) or billing input (b); the trigger '
  'arguments after the kind name the columns whose UPDATE also changes billing';

-- One trigger without WHEN clauses: the executor parses a trigger's WHEN clause again for
-- every statement (every record_email_event call), which cost more than the capture
-- itself; the function compares the counter inputs instead.
DROP TRIGGER olap_capture_insert ON pm_oltp.emails;
DROP TRIGGER olap_capture_update ON pm_oltp.emails;
DROP TRIGGER olap_capture_delete ON pm_oltp.emails;
CREATE TRIGGER olap_capture AFTER INSERT OR UPDATE OR DELETE ON pm_oltp.emails
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_email();

-- The mailbox trigger names its billing columns instead of the function knowing the table.
DROP TRIGGER olap_capture ON pm_oltp.email_accounts;
CREATE TRIGGER olap_capture AFTER INSERT OR DELETE OR UPDATE OF status, warmup_status, daily_count,
    daily_limit, tenant_id ON pm_oltp.email_accounts
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('m', 'warmup_status', 'tenant_id');

-- Every key query selects an xid range, compared as the bigint the link passes: an index on
-- exactly that expression makes them index ranges (after an OLAP outage the table holds hours
-- of keys; 0.2's seq scans and sort per batch would make catching up quadratic).  The
-- (tenant_id, xid) index stays: the billing recompute probes it per tenant, and tenant
-- isolation wants an index leading with tenant_id (pm.rls_audit).  The batch cut orders by
-- the same expression so the index also gives the order.
CREATE INDEX olap_dirty_keys_xid_idx ON pm_oltp.olap_dirty_keys (((xid::text)::bigint));

-- The next batch after watermark `from_xid`: every key of finished transactions in
-- [from_xid, to_xid), at most about max_keys (whole transactions: at least one).
-- to_xid never passes this snapshot's xmin, so later batches miss nothing.
CREATE OR REPLACE FUNCTION pm_oltp.olap_batch(from_xid bigint, max_keys int,
                                   OUT to_xid bigint, OUT keys bigint, OUT pending bigint,
                                   OUT oldest timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    horizon constant bigint := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    cut bigint;
BEGIN
    IF max_keys IS NULL OR max_keys < 1 THEN
        RAISE EXCEPTION 'max_keys must be a positive number of keys, got %', max_keys
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT k.xid::text::bigint INTO cut
    FROM pm_oltp.olap_dirty_keys k
    WHERE k.xid::text::bigint >= from_xid AND k.xid::text::bigint < horizon
    ORDER BY k.xid::text::bigint OFFSET max_keys LIMIT 1;
    IF cut IS NULL THEN
        to_xid := horizon;
    ELSIF cut = from_xid THEN
        -- One transaction holds more than max_keys keys: take all of it.
        SELECT min(k.xid::text::bigint) INTO to_xid FROM pm_oltp.olap_dirty_keys k
        WHERE k.xid::text::bigint > from_xid AND k.xid::text::bigint < horizon;
        to_xid := coalesce(to_xid, horizon);
    ELSE
        to_xid := cut;
    END IF;
    -- oldest: when the oldest change this batch leaves behind was made (the rollup lag).
    SELECT count(*) FILTER (WHERE k.xid::text::bigint < to_xid),
           count(*) FILTER (WHERE k.xid::text::bigint >= to_xid),
           min(k.changed_at) FILTER (WHERE k.xid::text::bigint >= to_xid)
    INTO keys, pending, oldest
    FROM pm_oltp.olap_dirty_keys k WHERE k.xid::text::bigint >= from_xid;
END $$;

------------------------------------------------------------------------------
-- Audit records for the OLAP tier, through pm_queue
------------------------------------------------------------------------------

-- TG_ARGV: resource_type, retention category, and for UPDATE the columns that matter (none
-- named: every column but "updated").  The record carries only the columns that changed.
-- pm_queue is optional for pm_oltp: without it nothing is recorded (docs/olap.md says so).
CREATE FUNCTION pm_oltp.audit_change() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    before jsonb;
    after jsonb;
    watched text[] := TG_ARGV[2:];
    old_values jsonb;
    new_values jsonb;
    changed text[];
    subject jsonb;
BEGIN
    IF to_regnamespace('pm_queue') IS NULL THEN
        RETURN NULL;
    END IF;
    before := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    after := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    IF TG_OP = 'UPDATE' THEN
        SELECT jsonb_object_agg(o.key, o.value), jsonb_object_agg(o.key, after -> o.key),
               array_agg(o.key ORDER BY o.key)
          INTO old_values, new_values, changed
          FROM jsonb_each(before) o
         WHERE o.key <> 'updated' AND o.value IS DISTINCT FROM after -> o.key
           AND (cardinality(watched) = 0 OR o.key = ANY (watched));
        IF changed IS NULL THEN
            RETURN NULL;
        END IF;
    ELSE
        old_values := before - 'updated' - 'created';
        new_values := after - 'updated' - 'created';
    END IF;
    subject := coalesce(after, before);
    PERFORM pm_queue.enqueue('olap-audit', jsonb_build_object(
        'admin_user_id', pm.current_user_id(),
        'action', TG_ARGV[0] || '.' || CASE TG_OP WHEN 'INSERT' THEN 'created'
                                                  WHEN 'DELETE' THEN 'deleted'
                                                  ELSE 'updated' END,
        'resource_type', TG_ARGV[0],
        'resource_id', coalesce(subject ->> 'id', subject ->> 'user_id', subject ->> 'tenant_id',
                                subject ->> 'role_id'),
        'tenant_id', subject ->> 'tenant_id',
        'old_values', old_values,
        'new_values', new_values,
        'ip_address', nullif(current_setting('app.client_ip', true), ''),
        'user_agent', nullif(current_setting('app.user_agent', true), ''),
        'notes', CASE WHEN changed IS NOT NULL THEN 'changed: ' || array_to_string(changed, ', ') END,
        'metadata', jsonb_build_object('occurred_at', now(), 'source', 'pm_oltp',
                                       'table', TG_TABLE_NAME, 'db_user', session_user::text,
                                       'xid', pg_current_xact_id()::text),
        'data_classification', 'confidential',
        'retention_category', TG_ARGV[1]),
        tenant_id => (subject ->> 'tenant_id')::uuid);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION pm_oltp.audit_change() IS
  'Enqueues a high-risk change for the OLAP audit log (queue olap-audit), in the writing transaction';

CREATE TRIGGER audit_change AFTER INSERT OR DELETE OR UPDATE ON pm_oltp.subscriptions
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.audit_change('subscription', 'financial');
-- Membership, roles and soft deletion; a changed contact email is not a privilege change.
CREATE TRIGGER audit_change AFTER INSERT OR DELETE OR UPDATE OF roles, deleted ON pm_oltp.tenant_users
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.audit_change('tenant_user', 'security', 'roles', 'deleted');
CREATE TRIGGER audit_change AFTER INSERT OR DELETE OR UPDATE ON pm_oltp.tenant_config
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.audit_change('tenant_config', 'standard');
-- A staff login bumps last_login_at: only the role and the activation are audited.
CREATE TRIGGER audit_change AFTER INSERT OR DELETE OR UPDATE OF role_id, is_active ON pm_oltp.staff_members
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.audit_change('staff_member', 'security', 'role_id', 'is_active');
CREATE TRIGGER audit_change AFTER INSERT OR DELETE OR UPDATE ON pm_oltp.staff_role_permissions
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.audit_change('staff_role_permission', 'security');

-- One delivery run: claims olap-audit jobs one at a time and appends each with
-- pm_olap.audit(..., source_key => job id) through the OLAP link, in this transaction's remote
-- transaction.  A redelivered job (a run whose local commit failed after the remote one)
-- returns the row already made: nothing is counted twice.  The first unreachable-tier error
-- ends the run (the job is retried with the queue's backoff, the rest wait for the next run);
-- a record OLAP refuses as invalid goes to the dead letter without retries.
CREATE FUNCTION pm_oltp.deliver_audit(max_jobs int DEFAULT 100)
RETURNS TABLE(delivered int, failed int, pending bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    worker constant text := 'pm_oltp.deliver_audit/' || pg_backend_pid();
    job record;
    p jsonb;
    audit_id bigint;
    message text;
    state text;
    permanent boolean;
BEGIN
    IF max_jobs IS NULL OR max_jobs < 1 THEN
        RAISE EXCEPTION 'pm_oltp.deliver_audit: max_jobs must be at least 1, got %',
            coalesce(max_jobs::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regnamespace('pm_queue') IS NULL OR to_regproc('pm.tier_call') IS NULL THEN
        RAISE EXCEPTION 'pm_oltp.deliver_audit needs pm_queue and pm_fdw 0.2 in database %',
            current_database() USING ERRCODE = 'feature_not_supported',
            HINT = 'CREATE EXTENSION pm_queue; CREATE EXTENSION pm_fdw; then pm.link_tier(''olap'', ...).';
    END IF;
    delivered := 0;
    failed := 0;
    WHILE delivered + failed < max_jobs LOOP
        SELECT * INTO job FROM pm_queue.claim(ARRAY['olap-audit'], worker, 1);
        EXIT WHEN NOT FOUND;
        p := job.payload;
        BEGIN
            SELECT r.id INTO audit_id
              FROM pm.tier_call('olap', 'audit', ARRAY[
                       p ->> 'admin_user_id', p ->> 'action', p ->> 'resource_type',
                       p ->> 'resource_id', p ->> 'tenant_id', p ->> 'old_values',
                       p ->> 'new_values', p ->> 'ip_address', p ->> 'user_agent', p ->> 'notes',
                       p ->> 'metadata', p ->> 'data_classification', p ->> 'retention_category',
                       'pm_oltp:' || job.id::text]) AS r(id bigint);
            PERFORM pm_queue.complete(job.id, worker, jsonb_build_object('audit_id', audit_id));
            delivered := delivered + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
            -- Class 22 / 23: OLAP rejected the record itself, retrying cannot help.  Not
            -- 23505: a concurrent delivery of this job holds its source key, and the retry
            -- returns the row it made.
            permanent := left(state, 2) IN ('22', '23') AND state <> '23505';
            PERFORM pm_queue.fail(job.id, worker, format('%s: %s', state, message),
                                  retryable => NOT permanent);
            failed := failed + 1;
            EXIT WHEN NOT permanent;
        END;
    END LOOP;
    SELECT count(*) INTO pending FROM pm_queue.jobs j
     WHERE j.queue_name = 'olap-audit' AND j.status IN ('queued', 'retry_scheduled', 'running');
    RETURN NEXT;
END $$;
COMMENT ON FUNCTION pm_oltp.deliver_audit(int) IS
  'Delivers queued audit records to pm_olap.audit() over the OLAP link (idempotent by job id)';
REVOKE ALL ON FUNCTION pm_oltp.deliver_audit(int), pm_oltp.audit_change() FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pm_service') THEN
        GRANT EXECUTE ON FUNCTION pm_oltp.deliver_audit(int) TO pm_service;
    END IF;
END $$;
