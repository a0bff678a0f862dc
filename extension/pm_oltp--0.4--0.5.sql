-- pm_oltp 0.4 -> 0.5: the email_* taxonomy in pm_core's event outbox, opt-in.  When a sink
-- lists them (events = '{email_*}' or some of email_sent, email_delivered, email_opened,
-- email_clicked, email_bounced, email_replied), each first time an email reaches a state,
-- as record_email_event() (or any write) records it, is logged in that transaction.
-- Without such a sink the trigger's WHEN clause (a cached lookup) skips it.  Needs pm_core
-- 0.5.  Reference: docs/outbox.md.

\echo Use "ALTER EXTENSION pm_oltp UPDATE TO '0.5'" to load this file. \quit

DO $$
BEGIN
    IF to_regprocedure('pm.log_event(text, jsonb, text, text, uuid, text)') IS NULL THEN
        RAISE EXCEPTION 'pm_oltp 0.5 needs pm_core 0.5 or later'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER EXTENSION pm_core UPDATE; then update pm_oltp.';
    END IF;
END
$$;

-- Inlined into the triggers' WHEN clause (no SET clause, on purpose): six cached lookups.
CREATE FUNCTION pm_oltp.outbox_wants_email_events() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pm.outbox_wants('email_sent') OR pm.outbox_wants('email_delivered')
        OR pm.outbox_wants('email_opened') OR pm.outbox_wants('email_clicked')
        OR pm.outbox_wants('email_bounced') OR pm.outbox_wants('email_replied')
$$;

CREATE FUNCTION pm_oltp.log_email_events() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    props jsonb;
    name  text;
BEGIN
    IF NEW.direction IS DISTINCT FROM 'outbound' THEN
        RETURN NULL;
    END IF;
    props := jsonb_build_object('email_id', NEW.id, 'tenant_id', NEW.tenant_id,
                                'campaign_id', NEW.campaign_id, 'step_id', NEW.step_id,
                                'lead_id', NEW.lead_id, 'email_account_id', NEW.email_account_id);
    -- OLD is NULL in an INSERT: every state the new row already has is reached now.
    FOR name IN
        SELECT s.event
          FROM (VALUES ('email_sent', NEW.sent_at, OLD.sent_at),
                       ('email_delivered', NEW.delivered_at, OLD.delivered_at),
                       ('email_opened', NEW.opened_at, OLD.opened_at),
                       ('email_clicked', NEW.clicked_at, OLD.clicked_at),
                       ('email_bounced', NEW.bounced_at, OLD.bounced_at),
                       ('email_replied', NEW.replied_at, OLD.replied_at)) s(event, reached, before)
         WHERE s.reached IS NOT NULL AND s.before IS NULL AND pm.outbox_wants(s.event)
    LOOP
        PERFORM pm.log_event(name,
                             CASE name WHEN 'email_bounced'
                                  THEN props || jsonb_build_object('bounce_type', NEW.bounce_type)
                                  ELSE props END,
                             CASE name WHEN 'email_bounced' THEN 'warn' ELSE 'info' END,
                             NULL, NEW.tenant_id, NEW.lead_id::text);
    END LOOP;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION pm_oltp.log_email_events() IS
  'Logs email_sent / delivered / opened / clicked / bounced / replied the first time an email reaches each';

CREATE TRIGGER emails_outbox_insert AFTER INSERT ON pm_oltp.emails
    FOR EACH ROW WHEN (pm_oltp.outbox_wants_email_events())
    EXECUTE FUNCTION pm_oltp.log_email_events();
CREATE TRIGGER emails_outbox_update
    AFTER UPDATE OF sent_at, delivered_at, opened_at, clicked_at, bounced_at, replied_at
    ON pm_oltp.emails
    FOR EACH ROW WHEN (pm_oltp.outbox_wants_email_events())
    EXECUTE FUNCTION pm_oltp.log_email_events();
