-- pm_oltp 0.3 -> 0.4: notifications for the notifications tier (pm_notify), produced in OLTP
-- and delivered through pm_queue.  Producers (a campaign completed, a quota at 80% / 100%
-- once per period, a mailbox paused for bounces, a tier pm_fdw sees down) enqueue a job on
-- queue `notifications` in their own transaction; pm_oltp.deliver_notifications() moves jobs
-- in batches to pm_notify.deliver() over the notify link, with the job id as dedup key, and
-- leaves them to the queue's backoff while that tier is down.  Reference: docs/notify.md.
-- A fresh CREATE EXTENSION pm_oltp runs 0.1, the upgrade scripts and then this one.

\echo Use "ALTER EXTENSION pm_oltp UPDATE TO '0.4'" to load this file. \quit

------------------------------------------------------------------------------
-- Enqueueing
------------------------------------------------------------------------------

-- A notification outlives an outage of its tier: up to 1000 attempts (the queue caps the
-- backoff at 5 minutes: days of outage).  Without pm_queue nothing is produced and nothing
-- fails; returns the job id (NULL then).
CREATE FUNCTION pm_oltp.enqueue_notification(item jsonb, tenant_id uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regnamespace('pm_queue') IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN pm_queue.enqueue('notifications', item, max_attempts => 1000, tenant_id => tenant_id);
END $$;
COMMENT ON FUNCTION pm_oltp.enqueue_notification(jsonb, uuid) IS
  'Queues one item for pm_notify.deliver() (kind notification / system_event / resolve), in this transaction';

-- Whether the tenant wants this kind of notification (tenant_config.notify_on_*; no
-- configuration row: the column defaults, which are on).
CREATE FUNCTION pm_oltp.tenant_wants(tenant uuid, setting text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wanted boolean;
BEGIN
    EXECUTE format('SELECT c.%I FROM pm_oltp.tenant_config c WHERE c.tenant_id = $1', setting)
        INTO wanted USING tenant;
    RETURN coalesce(wanted, true);
END $$;

-- A tenant-wide notification, queued unless the tenant turned `setting` off; `extra` goes
-- along in the payload (ids the notification is about, expires_at).  Returns the job id.
CREATE FUNCTION pm_oltp.notify_tenant(tenant uuid, setting text, type text, title text,
                                      message text, extra jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pm_oltp.tenant_wants(tenant, setting) THEN
        RETURN NULL;
    END IF;
    RETURN pm_oltp.enqueue_notification(extra || jsonb_build_object(
        'kind', 'notification', 'tenant_id', tenant, 'user_id', NULL, 'type', type,
        'title', left(title, 500), 'message', message), tenant);
END $$;

------------------------------------------------------------------------------
-- Producers
------------------------------------------------------------------------------

-- Campaign completed: a tenant-wide notification with the campaign's totals.
CREATE FUNCTION pm_oltp.notify_campaign_completed() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    totals record;
BEGIN
    SELECT count(*) FILTER (WHERE e.sent_at IS NOT NULL) AS sent,
           count(*) FILTER (WHERE e.opened_at IS NOT NULL) AS opened,
           count(*) FILTER (WHERE e.replied_at IS NOT NULL) AS replied,
           count(*) FILTER (WHERE e.bounced_at IS NOT NULL) AS bounced
      INTO totals
      FROM pm_oltp.emails e
     WHERE e.tenant_id = NEW.tenant_id AND e.campaign_id = NEW.id AND e.direction = 'outbound';
    PERFORM pm_oltp.notify_tenant(NEW.tenant_id, 'notify_on_campaign_completed', 'campaign.completed',
        format('Campaign "%s" completed', NEW.name),
        format('%s emails sent: %s opened, %s replied, %s bounced.',
               totals.sent, totals.opened, totals.replied, totals.bounced),
        jsonb_build_object('campaign_id', NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER notify_completed AFTER UPDATE OF status ON pm_oltp.campaigns
    FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed')
    EXECUTE FUNCTION pm_oltp.notify_campaign_completed();

-- The billing period quotas count in: the active subscription's, while now() is inside it,
-- else the UTC calendar month (a stale period must not let a tenant send without limit).
CREATE FUNCTION pm_oltp.quota_period(tenant uuid, OUT period_start timestamptz,
                                     OUT period_end timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT s.current_period_start, s.current_period_end INTO period_start, period_end
    FROM pm_oltp.subscriptions s
    WHERE s.tenant_id = tenant AND s.status = 'active'
    ORDER BY s.created DESC LIMIT 1;
    IF period_start IS NULL OR period_end IS NULL OR now() < period_start OR now() >= period_end THEN
        period_start := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        period_end := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                      AT TIME ZONE 'UTC';
    END IF;
END $$;

-- 0.1's body, with the period from quota_period() (the threshold notices count in the same one).
CREATE OR REPLACE FUNCTION pm_oltp.quota_usage(requested text)
RETURNS TABLE(resource text, used bigint, quota int, allowed boolean)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    resources constant text[] := ARRAY['domains', 'email_accounts', 'campaigns_per_month',
                                       'emails_per_month', 'contacts', 'warmups', 'users'];
    tenant       uuid;
    sub          record;
    has_sub      boolean;
    period       record;
    r            text;
    n            bigint;
    q            int;
BEGIN
    tenant := pm.require_tenant();
    IF requested IS NOT NULL AND NOT requested = ANY (resources) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('unknown quota resource "%s"; expected one of: %s',
                             requested, array_to_string(resources, ', '));
    END IF;

    -- Tenant filters below are explicit, not left to RLS: a BYPASSRLS caller with a
    -- context must still get its tenant's numbers.
    SELECT p.max_domains, p.max_email_accounts, p.max_campaigns_per_month,
           p.max_emails_per_month, p.max_contacts, p.max_warmups, p.max_users
    INTO sub
    FROM pm_oltp.subscriptions s
    JOIN pm_oltp.plans p ON p.id = s.plan_id
    WHERE s.tenant_id = tenant AND s.status = 'active'
    ORDER BY s.created DESC
    LIMIT 1;
    has_sub := FOUND;
    period := pm_oltp.quota_period(tenant);

    FOREACH r IN ARRAY resources LOOP
        CONTINUE WHEN requested IS NOT NULL AND r <> requested;
        CASE r
            WHEN 'domains' THEN
                SELECT count(*) INTO n FROM pm_oltp.domains d WHERE d.tenant_id = tenant;
                q := sub.max_domains;
            WHEN 'email_accounts' THEN
                SELECT count(*) INTO n FROM pm_oltp.email_accounts a WHERE a.tenant_id = tenant;
                q := sub.max_email_accounts;
            WHEN 'campaigns_per_month' THEN
                SELECT count(*) INTO n FROM pm_oltp.campaigns c
                WHERE c.tenant_id = tenant AND c.created >= period.period_start
                  AND c.created < period.period_end;
                q := sub.max_campaigns_per_month;
            WHEN 'emails_per_month' THEN
                SELECT count(*) INTO n FROM pm_oltp.emails m
                WHERE m.tenant_id = tenant AND m.direction = 'outbound'
                  AND m.sent_at >= period.period_start AND m.sent_at < period.period_end;
                q := sub.max_emails_per_month;
            WHEN 'contacts' THEN
                SELECT count(*) INTO n FROM pm_oltp.leads l WHERE l.tenant_id = tenant;
                q := sub.max_contacts;
            WHEN 'warmups' THEN
                SELECT count(*) INTO n FROM pm_oltp.email_accounts a
                WHERE a.tenant_id = tenant AND a.warmup_status = 'warming';
                q := sub.max_warmups;
            WHEN 'users' THEN
                SELECT count(*) INTO n FROM pm_oltp.tenant_users tu
                WHERE tu.tenant_id = tenant AND tu.deleted IS NULL;
                q := sub.max_users;
        END CASE;

        resource := r;
        used := n;
        IF NOT has_sub THEN
            -- No active subscription: nothing may be added.
            quota := 0;
            allowed := false;
        ELSE
            quota := q;
            allowed := q IS NULL OR n < q;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;

-- Which thresholds of which quota have been announced in which period: each fires once.
CREATE TABLE pm_oltp.quota_notices (
    tenant_id    uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    resource     text NOT NULL,
    period_start timestamptz NOT NULL,
    threshold    int NOT NULL CHECK (threshold IN (80, 100)),
    used         bigint NOT NULL,
    quota        int NOT NULL,
    noticed_at   timestamptz NOT NULL DEFAULT now(),
    created      timestamptz NOT NULL DEFAULT now(),
    updated      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, resource, period_start, threshold)
);
CREATE TRIGGER touch_updated BEFORE UPDATE ON pm_oltp.quota_notices
    FOR EACH ROW EXECUTE FUNCTION pm.touch_updated();
COMMENT ON TABLE pm_oltp.quota_notices IS
  'Quota thresholds (80 / 100 %) already announced, per tenant, resource and billing period';

-- Quota at 80% / 100%: for every tenant with an active subscription (or only `tenant`),
-- each limited resource at or past a threshold not yet announced this period gets one
-- tenant-wide notification (past both at once: only the 100% one).  Run by pg_cron (see
-- pm_oltp.notification_cron_jobs); returns how many were queued.
CREATE FUNCTION pm_oltp.notify_quota_thresholds(tenant uuid DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t uuid;
    period record;
    u record;
    reached int;
    fresh boolean;
    queued int := 0;
    saved_tenant constant uuid := pm.current_tenant_id();
    saved_user constant uuid := pm.current_user_id();
BEGIN
    FOR t IN SELECT DISTINCT s.tenant_id FROM pm_oltp.subscriptions s
             WHERE s.status = 'active' AND (tenant IS NULL OR s.tenant_id = tenant)
             ORDER BY 1
    LOOP
        PERFORM pm.set_context(t, NULL);
        period := pm_oltp.quota_period(t);
        FOR u IN SELECT * FROM pm_oltp.quota_usage(NULL) q WHERE q.quota > 0 AND q.used * 100 >= q.quota * 80
        LOOP
            reached := CASE WHEN u.used >= u.quota THEN 100 ELSE 80 END;
            -- Both rows when 100 is reached, so a later check does not announce 80.
            WITH noticed AS (
                INSERT INTO pm_oltp.quota_notices AS n
                    (tenant_id, resource, period_start, threshold, used, quota)
                SELECT t, u.resource, period.period_start, th, u.used, u.quota
                FROM unnest(ARRAY[80, 100]) th WHERE th <= reached
                ON CONFLICT DO NOTHING
                RETURNING n.threshold)
            SELECT coalesce(bool_or(noticed.threshold = reached), false) INTO fresh FROM noticed;
            CONTINUE WHEN NOT fresh;
            CONTINUE WHEN pm_oltp.notify_tenant(t, 'notify_on_quota_threshold', 'quota.' || reached,
                format('%s%% of your %s quota used', reached, replace(u.resource, '_', ' ')),
                format('%s of %s %s used in the period that began %s.', u.used, u.quota,
                       replace(u.resource, '_', ' '),
                       to_char(period.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD')),
                jsonb_build_object('expires_at', period.period_end)) IS NULL;
            queued := queued + 1;
        END LOOP;
    END LOOP;
    PERFORM pm.set_context(saved_tenant, saved_user);
    RETURN queued;
END $$;
COMMENT ON FUNCTION pm_oltp.notify_quota_thresholds(uuid) IS
  'Queues a tenant-wide notification for each quota newly at 80% / 100% this period; returns how many';

-- Mailbox paused for bounces: active mailboxes whose bounce rate over `window` (at least
-- min_sent sends) is past `threshold` are paused; in the same transaction the tenant is told
-- (unless it turned notify_on_bounce_threshold off) and staff get a system event.  Returns the
-- mailboxes paused.
CREATE FUNCTION pm_oltp.pause_bouncing_mailboxes(threshold float8 DEFAULT 0.05,
                                                 min_sent int DEFAULT 20,
                                                 "window" interval DEFAULT '7 days')
RETURNS TABLE(tenant_id uuid, mailbox_id uuid, email text, sent bigint, bounced bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    m record;
BEGIN
    IF threshold IS NULL OR threshold <= 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'pm_oltp.pause_bouncing_mailboxes: threshold must be in (0, 1], got %',
            coalesce(threshold::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF min_sent IS NULL OR min_sent < 1 OR "window" IS NULL OR "window" <= interval '0' THEN
        RAISE EXCEPTION 'pm_oltp.pause_bouncing_mailboxes: min_sent must be at least 1 and window positive, got % and %',
            coalesce(min_sent::text, 'NULL'), coalesce("window"::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR m IN
        SELECT a.tenant_id, a.id, a.email::text AS email, s.sent, s.bounced
        FROM pm_oltp.email_accounts a
        CROSS JOIN LATERAL (
            SELECT count(*) AS sent, count(*) FILTER (WHERE e.bounced_at IS NOT NULL) AS bounced
            FROM pm_oltp.emails e
            WHERE e.tenant_id = a.tenant_id AND e.email_account_id = a.id
              AND e.direction = 'outbound' AND e.sent_at >= now() - "window") s
        WHERE a.status = 'active' AND s.sent >= min_sent AND s.bounced > s.sent * threshold
        ORDER BY a.tenant_id, a.id
        FOR UPDATE OF a
    LOOP
        UPDATE pm_oltp.email_accounts a SET status = 'paused' WHERE a.id = m.id;
        -- Staff watch deliverability across tenants: one open event per paused mailbox.
        PERFORM pm_oltp.enqueue_notification(jsonb_build_object(
            'kind', 'system_event', 'event_type', 'mailbox_paused', 'severity', 'medium',
            'description', format('Mailbox %s paused for bounces (%s of %s)', m.email, m.bounced, m.sent),
            'details', jsonb_build_object('mailbox_id', m.id, 'sent', m.sent, 'bounced', m.bounced,
                                          'threshold', threshold),
            'tenant_id', m.tenant_id, 'dedup_key', 'mailbox_paused:' || m.id), m.tenant_id);
        PERFORM pm_oltp.notify_tenant(m.tenant_id, 'notify_on_bounce_threshold', 'mailbox.paused',
            format('Mailbox %s paused: too many bounces', m.email),
            format('%s of its last %s emails bounced (%s%%, limit %s%%). Check the list and the '
                   'domain''s DNS, then resume the mailbox.', m.bounced, m.sent,
                   round(100.0 * m.bounced / m.sent, 1), round((100 * threshold)::numeric, 1)),
            jsonb_build_object('mailbox_id', m.id));
        tenant_id := m.tenant_id;
        mailbox_id := m.id;
        email := m.email;
        sent := m.sent;
        bounced := m.bounced;
        RETURN NEXT;
    END LOOP;
END $$;
COMMENT ON FUNCTION pm_oltp.pause_bouncing_mailboxes(float8, int, interval) IS
  'Pauses active mailboxes bouncing past threshold over window and notifies their tenants';

-- Tiers pm_fdw currently sees down, as far as notifications are concerned: one row per
-- incident, so a long outage is one system event, resolved when the tier answers again.
CREATE TABLE pm_oltp.tier_incidents (
    server     name PRIMARY KEY,
    tier       text NOT NULL,
    down_since timestamptz NOT NULL DEFAULT now(),
    down_job   uuid,  -- the queued tier_down event: its resolution waits until it is delivered
    created    timestamptz NOT NULL DEFAULT now(),
    updated    timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER touch_updated BEFORE UPDATE ON pm_oltp.tier_incidents
    FOR EACH ROW EXECUTE FUNCTION pm.touch_updated();
COMMENT ON TABLE pm_oltp.tier_incidents IS 'Links seen down by pm_fdw and announced as system events';

-- A tier seen down by pm_fdw: a `tier_down` system event (dedup key tier_down:<server>, high;
-- critical for the content tier, whose reads then fail) when a link turns down, its
-- resolution when it is up again.  Called by every delivery run; returns the changes queued.
CREATE FUNCTION pm_oltp.note_tier_health() RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    changes int := 0;
BEGIN
    IF to_regproc('pm.tier_status') IS NULL OR to_regnamespace('pm_queue') IS NULL THEN
        RETURN 0;
    END IF;
    FOR s IN SELECT t.tier, t.server, t.state, t.failures, t.last_error FROM pm.tier_status() t
    LOOP
        IF s.state = 'down' THEN
            INSERT INTO pm_oltp.tier_incidents (server, tier) VALUES (s.server, s.tier)
            ON CONFLICT DO NOTHING;
            CONTINUE WHEN NOT FOUND;
            UPDATE pm_oltp.tier_incidents i SET down_job = pm_oltp.enqueue_notification(jsonb_build_object(
                'kind', 'system_event', 'event_type', 'tier_down',
                'severity', CASE WHEN s.tier = 'content' THEN 'critical' ELSE 'high' END,
                'description', format('Tier %s (server %s) is unreachable from OLTP database %s',
                                      s.tier, s.server, current_database()),
                'details', jsonb_build_object('tier', s.tier, 'server', s.server,
                                              'failures', s.failures,
                                              'last_error', left(s.last_error, 500),
                                              'seen_from', current_database()),
                'dedup_key', 'tier_down:' || s.server), NULL)
            WHERE i.server = s.server;
            changes := changes + 1;
        ELSIF s.state = 'up' THEN
            -- Jobs run in run_at order, and the tier_down job may still be in its backoff: a
            -- resolution delivered before it would leave the event open for ever.
            DELETE FROM pm_oltp.tier_incidents i
             WHERE i.server = s.server
               AND NOT EXISTS (SELECT 1 FROM pm_queue.jobs j
                               WHERE j.id = i.down_job
                                 AND j.status IN ('queued', 'retry_scheduled', 'running'));
            CONTINUE WHEN NOT FOUND;
            PERFORM pm_oltp.enqueue_notification(jsonb_build_object(
                'kind', 'resolve', 'dedup_key', 'tier_down:' || s.server), NULL);
            changes := changes + 1;
        END IF;
    END LOOP;
    RETURN changes;
END $$;

------------------------------------------------------------------------------
-- Delivery
------------------------------------------------------------------------------

-- What pm_notify.deliver() gets for a job: the payload, its ref, and for notifications the
-- job id as dedup key (so a redelivered job finds the notification it made).
CREATE FUNCTION pm_oltp.notification_item(job_id uuid, payload jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $$
    SELECT payload || jsonb_build_object('ref', job_id::text)
           || CASE WHEN payload ->> 'kind' = 'notification'
                   THEN jsonb_build_object('dedup_key', 'pm_oltp:' || job_id::text)
                   ELSE '{}'::jsonb END
$$;

-- One delivery run: claims up to `batch` notification jobs at a time and hands each batch to
-- pm_notify.deliver() through the notify link (pm.tier_call), in this transaction's remote
-- transaction, then completes them.  The notify tier unreachable: the batch's jobs go into the
-- queue's backoff and the run stops.  A batch the tier refuses as invalid (22xxx / 23xxx) is
-- retried job by job: the bad job goes to the dead letter, the others are delivered.  Checks
-- pm_fdw's link health first (note_tier_health).
CREATE FUNCTION pm_oltp.deliver_notifications(max_jobs int DEFAULT 1000, batch int DEFAULT 100)
RETURNS TABLE(delivered int, failed int, pending bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    worker constant text := 'pm_oltp.deliver_notifications/' || pg_backend_pid();
    ids uuid[];
    items jsonb[];
    message text;
    state text;
    i int;
BEGIN
    IF max_jobs IS NULL OR max_jobs < 1 OR batch IS NULL OR batch < 1 OR batch > 1000 THEN
        RAISE EXCEPTION 'pm_oltp.deliver_notifications: max_jobs must be at least 1 and batch 1-1000, got % and %',
            coalesce(max_jobs::text, 'NULL'), coalesce(batch::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regnamespace('pm_queue') IS NULL OR to_regproc('pm.tier_call') IS NULL THEN
        RAISE EXCEPTION 'pm_oltp.deliver_notifications needs pm_queue and pm_fdw 0.2 in database %',
            current_database() USING ERRCODE = 'feature_not_supported',
            HINT = 'CREATE EXTENSION pm_queue; CREATE EXTENSION pm_fdw; then pm.link_tier(''notify'', ...).';
    END IF;
    PERFORM pm_oltp.note_tier_health();
    delivered := 0;
    failed := 0;
    <<batches>>
    WHILE delivered + failed < max_jobs LOOP
        SELECT array_agg(j.id ORDER BY j.id), array_agg(pm_oltp.notification_item(j.id, j.payload) ORDER BY j.id)
          INTO ids, items
          FROM pm_queue.claim(ARRAY['notifications'], worker, least(batch, max_jobs - delivered - failed)) j;
        EXIT WHEN ids IS NULL;
        BEGIN
            PERFORM pm_oltp.deliver_items(ids, items, worker);
            delivered := delivered + cardinality(ids);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
            IF NOT pm_oltp.is_refusal(state) THEN
                FOR i IN 1 .. cardinality(ids) LOOP
                    PERFORM pm_queue.fail(ids[i], worker, format('%s: %s', state, message));
                END LOOP;
                failed := failed + cardinality(ids);
                EXIT batches;
            END IF;
            -- One of them is invalid: find it, deliver the rest.
            FOR i IN 1 .. cardinality(ids) LOOP
                BEGIN
                    PERFORM pm_oltp.deliver_items(ARRAY[ids[i]], ARRAY[items[i]], worker);
                    delivered := delivered + 1;
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
                    PERFORM pm_queue.fail(ids[i], worker, format('%s: %s', state, message),
                                          retryable => NOT pm_oltp.is_refusal(state));
                    failed := failed + 1;
                END;
            END LOOP;
        END;
    END LOOP;
    SELECT count(*) INTO pending FROM pm_queue.jobs j
     WHERE j.queue_name = 'notifications' AND j.status IN ('queued', 'retry_scheduled', 'running');
    RETURN NEXT;
END $$;
COMMENT ON FUNCTION pm_oltp.deliver_notifications(int, int) IS
  'Delivers queued notifications and system events to pm_notify over the notify link, in batches (idempotent by job id)';

-- Class 22 / 23: the notifications tier refused the item itself; retrying cannot help.  Not
-- 23505: a concurrent delivery of the same job holds its dedup key, and the retry finds it.
CREATE FUNCTION pm_oltp.is_refusal(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE
AS $$ SELECT left(state, 2) IN ('22', '23') AND state <> '23505' $$;

CREATE FUNCTION pm_oltp.deliver_items(ids uuid[], items jsonb[], worker text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    done uuid[];
    results jsonb[];
BEGIN
    SELECT array_agg(r.ref::uuid), array_agg(jsonb_build_object('id', r.id))
      INTO done, results
      FROM pm.tier_call('notify', 'deliver', ARRAY[array_to_json(items)::text]) AS r(ref text, id text);
    PERFORM pm_queue.complete_many(done, worker, results);
END $$;

-- The delivery worker pg_cron starts every minute: delivery runs until `run_for` has passed,
-- each its own transaction, pausing `idle` while nothing is queued.  Notifications then reach
-- users within about `idle` of their commit.  No SET clause: a procedure with one cannot COMMIT.
CREATE PROCEDURE pm_oltp.notification_worker(run_for interval DEFAULT '55 seconds',
                                             idle interval DEFAULT '1 second')
LANGUAGE plpgsql
AS $$
DECLARE
    stop_at constant timestamptz := clock_timestamp() + run_for;
    r record;
BEGIN
    WHILE clock_timestamp() < stop_at LOOP
        SELECT * INTO r FROM pm_oltp.deliver_notifications(1000, 100);
        COMMIT;
        IF r.delivered + r.failed = 0 OR r.failed > 0 THEN
            PERFORM pg_catalog.pg_sleep(extract(epoch FROM idle));
        END IF;
    END LOOP;
END $$;

-- The OLTP side's pg_cron jobs for notifications: the delivery worker, the quota check and
-- the bounce check.
CREATE FUNCTION pm_oltp.notification_cron_jobs() RETURNS TABLE(job_name text, schedule text, command text)
LANGUAGE sql IMMUTABLE
AS $$
    VALUES ('pm-oltp-notification-worker', '* * * * *', 'CALL pm_oltp.notification_worker()'),
           ('pm-oltp-quota-notices', '*/5 * * * *', 'SELECT pm_oltp.notify_quota_thresholds()'),
           ('pm-oltp-bounce-pauses', '*/15 * * * *', 'SELECT count(*) FROM pm_oltp.pause_bouncing_mailboxes()')
$$;

CREATE FUNCTION pm_oltp.schedule_notifications()
RETURNS TABLE(job_name text, schedule text, command text, jobid bigint)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT j.job_name, j.schedule, j.command,
           pm.cron_schedule(j.job_name, j.schedule, j.command,
                            'Preload pg_cron and CREATE EXTENSION pg_cron here, or install the jobs of '
                            'pm_oltp.notification_cron_jobs() from the cron database with '
                            'cron.schedule_in_database(..., ' || quote_literal(current_database()) || ').')
    FROM pm_oltp.notification_cron_jobs() j
$$;

------------------------------------------------------------------------------
-- Isolation and privileges
------------------------------------------------------------------------------

SELECT pm.enable_tenant_isolation('pm_oltp.quota_notices');
SELECT pm.set_table_access('pm_oltp.tier_incidents', 'none');
SELECT pg_catalog.pg_extension_config_dump('pm_oltp.quota_notices', '');
SELECT pg_catalog.pg_extension_config_dump('pm_oltp.tier_incidents', '');
SELECT pm.apply_grants();

REVOKE ALL ON FUNCTION pm_oltp.enqueue_notification(jsonb, uuid), pm_oltp.tenant_wants(uuid, text),
    pm_oltp.notify_tenant(uuid, text, text, text, text, jsonb),
    pm_oltp.notify_campaign_completed(), pm_oltp.notify_quota_thresholds(uuid),
    pm_oltp.pause_bouncing_mailboxes(float8, int, interval), pm_oltp.note_tier_health(),
    pm_oltp.deliver_notifications(int, int), pm_oltp.deliver_items(uuid[], jsonb[], text),
    pm_oltp.schedule_notifications() FROM PUBLIC;
REVOKE ALL ON PROCEDURE pm_oltp.notification_worker(interval, interval) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pm_service') THEN
        GRANT EXECUTE ON FUNCTION pm_oltp.deliver_notifications(int, int),
            pm_oltp.deliver_items(uuid[], jsonb[], text), pm_oltp.notify_quota_thresholds(uuid),
            pm_oltp.pause_bouncing_mailboxes(float8, int, interval) TO pm_service;
        GRANT EXECUTE ON PROCEDURE pm_oltp.notification_worker(interval, interval) TO pm_service;
    END IF;
END $$;
