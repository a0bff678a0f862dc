-- pm_notify 0.1 -> 0.2: high and critical system events are mirrored to external logging
-- through pm_core's event outbox (system_event when one opens or escalates to high/critical,
-- system_event_resolved when such an event is resolved), in the transaction that writes the
-- event.  Needs pm_core 0.5.  Reference: docs/notify.md, docs/outbox.md.

\echo Use "ALTER EXTENSION pm_notify UPDATE TO '0.2'" to load this file. \quit

DO $$
BEGIN
    IF to_regprocedure('pm.log_event(text, jsonb, text, text, uuid, text)') IS NULL THEN
        RAISE EXCEPTION 'pm_notify 0.2 needs pm_core 0.5 or later'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER EXTENSION pm_core UPDATE; then update pm_notify.';
    END IF;
END
$$;

CREATE FUNCTION pm_notify.mirror_system_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    serious constant text[] := ARRAY['high', 'critical'];
    event   text;
BEGIN
    IF NOT NEW.severity = ANY (serious) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        event := 'system_event';
    ELSIF NEW.is_resolved AND NOT OLD.is_resolved THEN
        event := 'system_event_resolved';
    ELSIF NOT OLD.severity = ANY (serious) THEN
        event := 'system_event';  -- escalated
    ELSE
        RETURN NULL;              -- a repeat: occurrences, not news
    END IF;
    PERFORM pm.log_event(event,
                         jsonb_build_object('id', NEW.id, 'event_type', NEW.event_type,
                                            'severity', NEW.severity,
                                            'description', left(NEW.description, 500),
                                            'tenant_id', NEW.tenant_id, 'dedup_key', NEW.dedup_key,
                                            'occurrences', NEW.occurrences, 'details', NEW.details),
                         CASE WHEN event = 'system_event_resolved' THEN 'info'
                              WHEN NEW.severity = 'critical' THEN 'critical' ELSE 'error' END,
                         NULL, NEW.tenant_id);
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION pm_notify.mirror_system_event() IS
  'Logs high/critical system events (opened, escalated, resolved) to the event outbox';

CREATE TRIGGER admin_system_events_outbox
    AFTER INSERT OR UPDATE OF severity, is_resolved ON pm_notify.admin_system_events
    FOR EACH ROW EXECUTE FUNCTION pm_notify.mirror_system_event();
