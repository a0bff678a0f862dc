-- pm_queue 0.2 -> 0.3: unsuccessful attempts reach external logging through pm_core's
-- event outbox: job_retry, job_failed (dead letter) and lease_expired, logged in the
-- transaction that records the attempt, so an attempt rolled back is never reported.
-- Needs pm_core 0.5 (ALTER EXTENSION pm_core UPDATE first).  Reference: docs/outbox.md.

\echo Use "ALTER EXTENSION pm_queue UPDATE TO '0.3'" to load this file. \quit

DO $$
BEGIN
    IF to_regprocedure('pm.log_event(text, jsonb, text, text, uuid, text)') IS NULL THEN
        RAISE EXCEPTION 'pm_queue 0.3 needs pm_core 0.5 or later'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER EXTENSION pm_core UPDATE; then update pm_queue.';
    END IF;
END
$$;

CREATE FUNCTION pm_queue.log_attempt_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tenant uuid;
    props  jsonb;
BEGIN
    -- Platform jobs carry the nil tenant; their events belong to no tenant.
    SELECT nullif(j.tenant_id, '00000000-0000-0000-0000-000000000000') INTO tenant
      FROM pm_queue.jobs j WHERE j.id = NEW.job_id;
    props := jsonb_build_object('job_id', NEW.job_id, 'queue', NEW.queue_name,
                                'attempt', NEW.attempt_number, 'worker_id', NEW.worker_id,
                                'error', left(NEW.log_message, 500), 'tenant_id', tenant);
    IF NEW.log_message = 'lease expired' THEN
        PERFORM pm.log_event('lease_expired', props || jsonb_build_object('outcome', NEW.status),
                             'warn', NULL, tenant);
    ELSIF NEW.status = 'retry' THEN
        PERFORM pm.log_event('job_retry', props, 'warn', NULL, tenant);
    END IF;
    IF NEW.status = 'failed' THEN
        PERFORM pm.log_event('job_failed', props, 'error', NULL, tenant);
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION pm_queue.log_attempt_event() IS
  'Logs job_retry / job_failed / lease_expired to the event outbox for each unsuccessful attempt';

CREATE TRIGGER job_logs_outbox AFTER INSERT ON pm_queue.job_logs
    FOR EACH ROW WHEN (NEW.status IN ('retry', 'failed'))
    EXECUTE FUNCTION pm_queue.log_attempt_event();
