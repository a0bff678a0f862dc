-- pm_oltp 0.1 -> 0.2: dirty-key capture for the OLAP tier, and the functions the OLAP
-- database calls through its pm_fdw link to recompute exactly the keys that changed.
-- A fresh CREATE EXTENSION pm_oltp runs 0.1 and then this script.  Reference: docs/olap.md.

\echo Use "ALTER EXTENSION pm_oltp UPDATE TO '0.2'" to load this file. \quit

------------------------------------------------------------------------------
-- Dirty keys
------------------------------------------------------------------------------

-- One row per changed email attribution (or mailbox / enrollment / campaign / billing
-- change) per statement row.  xid is the writing transaction's: a consumer that reads
-- keys below its snapshot's xmin reads only finished transactions, so a watermark on
-- xid never skips a key that commits late.
--   kind 'e' email counters   (campaign, step, mailbox, lead of the email; day = send day)
--        'm' mailbox state    (mailbox; day = the change's UTC day)
--        'l' enrollment state (campaign, lead; day = the change's UTC day)
--        'c' campaign state   (campaign; day = the change's UTC day)
--        'b' billing usage    (tenant only)
CREATE TABLE pm_oltp.olap_dirty_keys (
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    kind        "char" NOT NULL CHECK (kind IN ('e', 'm', 'l', 'c', 'b')),
    tenant_id   uuid NOT NULL,
    day         date,
    campaign_id uuid,
    step_id     uuid,
    mailbox_id  uuid,
    lead_id     uuid
);
CREATE INDEX olap_dirty_keys_tenant_xid_idx ON pm_oltp.olap_dirty_keys (tenant_id, xid);
COMMENT ON TABLE pm_oltp.olap_dirty_keys IS
  'Keys changed since the OLAP tier last acknowledged; written by triggers, pruned by pm_oltp.olap_ack()';

-- The UTC day an outbound email is attributed to, or NULL when it counts nowhere.
CREATE FUNCTION pm_oltp.olap_send_day(direction text, sent_at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN direction = 'outbound' THEN (sent_at AT TIME ZONE 'UTC')::date END $$;

-- SECURITY DEFINER: the writer (pm_app under RLS) needs no right on the key table.
CREATE FUNCTION pm_oltp.olap_capture_email() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_day date;
    new_day date;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_day := pm_oltp.olap_send_day(OLD.direction, OLD.sent_at);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_day := pm_oltp.olap_send_day(NEW.direction, NEW.sent_at);
    END IF;
    IF old_day IS NOT NULL
       AND (new_day IS NULL
            OR (OLD.tenant_id, OLD.campaign_id, OLD.step_id, OLD.email_account_id, OLD.lead_id, old_day)
               IS DISTINCT FROM
               (NEW.tenant_id, NEW.campaign_id, NEW.step_id, NEW.email_account_id, NEW.lead_id, new_day)) THEN
        INSERT INTO pm_oltp.olap_dirty_keys (kind, tenant_id, day, campaign_id, step_id, mailbox_id, lead_id)
        VALUES ('e', OLD.tenant_id, old_day, OLD.campaign_id, OLD.step_id, OLD.email_account_id, OLD.lead_id);
    END IF;
    IF new_day IS NOT NULL THEN
        INSERT INTO pm_oltp.olap_dirty_keys (kind, tenant_id, day, campaign_id, step_id, mailbox_id, lead_id)
        VALUES ('e', NEW.tenant_id, new_day, NEW.campaign_id, NEW.step_id, NEW.email_account_id, NEW.lead_id);
    END IF;
    -- A send (or an unsend) moves the billing figure emails_sent.
    IF old_day IS DISTINCT FROM new_day OR (TG_OP = 'UPDATE' AND OLD.sent_at IS DISTINCT FROM NEW.sent_at) THEN
        INSERT INTO pm_oltp.olap_dirty_keys (kind, tenant_id)
        VALUES ('b', coalesce(NEW.tenant_id, OLD.tenant_id));
    END IF;
    RETURN NULL;
END $$;

-- The WHEN clauses keep the trigger function out of writes that change no counter:
-- it only runs when a column the counters read changed.
CREATE TRIGGER olap_capture_insert AFTER INSERT ON pm_oltp.emails
    FOR EACH ROW WHEN (NEW.sent_at IS NOT NULL AND NEW.direction = 'outbound')
    EXECUTE FUNCTION pm_oltp.olap_capture_email();
CREATE TRIGGER olap_capture_delete AFTER DELETE ON pm_oltp.emails
    FOR EACH ROW WHEN (OLD.sent_at IS NOT NULL AND OLD.direction = 'outbound')
    EXECUTE FUNCTION pm_oltp.olap_capture_email();
CREATE TRIGGER olap_capture_update AFTER UPDATE ON pm_oltp.emails
    FOR EACH ROW WHEN (
        (OLD.sent_at IS NOT NULL AND OLD.direction = 'outbound'
         OR NEW.sent_at IS NOT NULL AND NEW.direction = 'outbound')
        AND (OLD.sent_at, OLD.delivered_at, OLD.opened_at, OLD.clicked_at, OLD.replied_at,
             OLD.bounced_at, OLD.unsubscribed_at, OLD.complained_at, OLD.direction,
             OLD.tenant_id, OLD.campaign_id, OLD.step_id, OLD.email_account_id, OLD.lead_id)
            IS DISTINCT FROM
            (NEW.sent_at, NEW.delivered_at, NEW.opened_at, NEW.clicked_at, NEW.replied_at,
             NEW.bounced_at, NEW.unsubscribed_at, NEW.complained_at, NEW.direction,
             NEW.tenant_id, NEW.campaign_id, NEW.step_id, NEW.email_account_id, NEW.lead_id))
    EXECUTE FUNCTION pm_oltp.olap_capture_email();

-- State changes of mailboxes, enrollments, campaigns and billing inputs: the key of the
-- entity for the UTC day of the change (TG_ARGV[0] is the kind).
CREATE FUNCTION pm_oltp.olap_capture_state() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    today constant date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
    r := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    CASE TG_ARGV[0]
        WHEN 'm' THEN
            INSERT INTO pm_oltp.olap_dirty_keys (kind, tenant_id, day, mailbox_id)
            VALUES ('m', r.tenant_id, today, r.id);
        WHEN 'l' THEN
            INSERT INTO pm_oltp.olap_dirty_keys (kind, tenant_id, day, campaign_id, lead_id)
            VALUES ('l', r.tenant_id, today, r.campaign_id, r.lead_id);
        WHEN 'c' THEN
            INSERT INTO pm_oltp.olap_dirty_keys (kind, tenant_id, day, campaign_id)
            VALUES ('c', r.tenant_id, today, r.id);
        ELSE
            NULL;
    END CASE;
    -- Billing counts rows (inserts, deletes) and warming mailboxes; a send bumping
    -- daily_count must not make the rollup recount the tenant's period.
    IF TG_ARGV[0] = 'b' OR TG_OP <> 'UPDATE' THEN
        INSERT INTO pm_oltp.olap_dirty_keys (kind, tenant_id) VALUES ('b', r.tenant_id);
    ELSIF TG_TABLE_NAME = 'email_accounts' THEN
        IF (OLD.warmup_status, OLD.tenant_id) IS DISTINCT FROM (NEW.warmup_status, NEW.tenant_id) THEN
            INSERT INTO pm_oltp.olap_dirty_keys (kind, tenant_id) VALUES ('b', NEW.tenant_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER olap_capture AFTER INSERT OR DELETE OR UPDATE OF status, warmup_status, daily_count,
    daily_limit, tenant_id ON pm_oltp.email_accounts
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('m');
CREATE TRIGGER olap_capture AFTER INSERT OR DELETE OR UPDATE OF status ON pm_oltp.campaign_leads
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('l');
CREATE TRIGGER olap_capture AFTER INSERT OR DELETE OR UPDATE OF status ON pm_oltp.campaigns
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('c');
CREATE TRIGGER olap_capture AFTER INSERT OR DELETE OR UPDATE ON pm_oltp.subscriptions
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('b');
CREATE TRIGGER olap_capture AFTER INSERT OR DELETE ON pm_oltp.domains
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('b');
CREATE TRIGGER olap_capture AFTER INSERT OR DELETE ON pm_oltp.leads
    FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('b');

-- Per-key recomputes read one entity's emails of one day: the entity indexes gain the
-- send time (they still serve the foreign keys by their prefix).  The "updated" index was
-- for watermark rollups, which dirty keys replace; without it, events that move no
-- indexed column (opens, clicks, replies) are HOT updates.
DROP INDEX pm_oltp.emails_updated_idx;
DROP INDEX pm_oltp.emails_campaign_idx;
DROP INDEX pm_oltp.emails_step_idx;
DROP INDEX pm_oltp.emails_lead_idx;
DROP INDEX pm_oltp.emails_email_account_idx;
CREATE INDEX emails_campaign_idx ON pm_oltp.emails (tenant_id, campaign_id, sent_at);
CREATE INDEX emails_step_idx ON pm_oltp.emails (tenant_id, step_id, sent_at);
CREATE INDEX emails_lead_idx ON pm_oltp.emails (tenant_id, lead_id, sent_at);
CREATE INDEX emails_email_account_idx ON pm_oltp.emails (tenant_id, email_account_id, sent_at);

------------------------------------------------------------------------------
-- What the OLAP tier calls through its link (pm.tier_call('oltp', ...))
------------------------------------------------------------------------------

-- The next batch after watermark `from_xid`: every key of finished transactions in
-- [from_xid, to_xid), at most about max_keys (whole transactions: at least one).
-- to_xid never passes this snapshot's xmin, so later batches miss nothing.
CREATE FUNCTION pm_oltp.olap_batch(from_xid bigint, max_keys int,
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
    ORDER BY k.xid OFFSET max_keys LIMIT 1;
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

-- Forgets keys below a watermark the OLAP tier has committed.
CREATE FUNCTION pm_oltp.olap_ack(below_xid bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM pm_oltp.olap_dirty_keys k WHERE k.xid::text::bigint < below_xid;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Fact rows of one grain, recomputed from emails.  Keys come either from the dirty
-- keys in [from_xid, to_xid) or, with from_xid NULL, from every email sent in
-- [day_from, day_to) (of one tenant when `tenant` is given).  A key whose emails are
-- gone comes back with zero counters, so the OLAP row is corrected rather than left.
-- grain: campaign | step | mailbox | lead | warmup (the mailbox's non-campaign sends).
CREATE FUNCTION pm_oltp.olap_fact_rows(grain text, from_xid bigint, to_xid bigint,
                                       day_from date DEFAULT NULL, day_to date DEFAULT NULL,
                                       tenant uuid DEFAULT NULL)
RETURNS TABLE(tenant_id uuid, entity_id uuid, campaign_id uuid, day date, counters bigint[],
              company_id uuid, status text, completed_leads int, warmup_status text,
              current_volume int, daily_limit int)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entity text;      -- the emails column naming the entity
    also text;        -- the second key column (lead grain: the campaign)
    only_rows text := 'true';
    key_kinds text;
    key_entity text;
    key_also text;
    keys_sql text;
    attrs text;
BEGIN
    CASE grain
        WHEN 'campaign' THEN entity := 'campaign_id'; key_entity := 'campaign_id'; key_kinds := 'e,c,l';
        WHEN 'step'     THEN entity := 'step_id';     key_entity := 'step_id';     key_kinds := 'e';
        WHEN 'mailbox'  THEN entity := 'email_account_id'; key_entity := 'mailbox_id'; key_kinds := 'e,m';
        WHEN 'warmup'   THEN entity := 'email_account_id'; key_entity := 'mailbox_id'; key_kinds := 'e,m';
                             only_rows := 'm.campaign_id IS NULL';
        WHEN 'lead'     THEN entity := 'lead_id'; also := 'campaign_id';
                             key_entity := 'lead_id'; key_also := 'campaign_id'; key_kinds := 'e,l';
        ELSE
            RAISE EXCEPTION 'unknown grain "%"; expected one of: campaign, step, mailbox, lead, warmup', grain
                USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    IF from_xid IS NULL AND (day_from IS NULL OR day_to IS NULL) THEN
        RAISE EXCEPTION 'olap_fact_rows needs an xid range or a day range'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF from_xid IS NOT NULL THEN
        -- Keys of kind 'e' carry every entity; the state kinds only theirs.
        keys_sql := format(
            'SELECT DISTINCT k.tenant_id, k.%I AS entity, %s AS also, k.day
               FROM pm_oltp.olap_dirty_keys k
              WHERE k.xid::text::bigint >= $1 AND k.xid::text::bigint < $2
                AND k.kind = ANY (string_to_array(%L, '','')::"char"[])
                AND k.day IS NOT NULL
                AND (k.kind = ''e'' OR k.%I IS NOT NULL)
                AND %s
                AND ($5::uuid IS NULL OR k.tenant_id = $5)',
            key_entity, CASE WHEN key_also IS NULL THEN 'NULL::uuid' ELSE 'k.' || quote_ident(key_also) END,
            key_kinds, key_entity,
            -- warmup rows count non-campaign sends only: a campaign send dirties none
            CASE WHEN grain = 'warmup' THEN '(k.kind <> ''e'' OR k.campaign_id IS NULL)' ELSE 'true' END);
    ELSE
        keys_sql := format(
            'SELECT DISTINCT m.tenant_id, m.%I AS entity, %s AS also,
                    (m.sent_at AT TIME ZONE ''UTC'')::date AS day
               FROM pm_oltp.emails m
              WHERE m.direction = ''outbound''
                AND m.sent_at >= ($3::timestamp AT TIME ZONE ''UTC'')
                AND m.sent_at < ($4::timestamp AT TIME ZONE ''UTC'')
                AND ($5::uuid IS NULL OR m.tenant_id = $5) AND %s',
            entity, CASE WHEN also IS NULL THEN 'NULL::uuid' ELSE 'm.' || quote_ident(also) END,
            only_rows);
    END IF;

    attrs := CASE grain
        WHEN 'campaign' THEN
            'c.company_id, c.status::text, (SELECT count(*)::int FROM pm_oltp.campaign_leads cl
                 WHERE cl.tenant_id = k.tenant_id AND cl.campaign_id = k.entity AND cl.status = ''completed''),
             NULL::text, NULL::int, NULL::int
             FROM keys k LEFT JOIN pm_oltp.campaigns c ON c.tenant_id = k.tenant_id AND c.id = k.entity'
        WHEN 'step' THEN
            'c.company_id, NULL::text, NULL::int, NULL::text, NULL::int, NULL::int
             FROM keys k LEFT JOIN pm_oltp.campaign_sequence_steps s ON s.tenant_id = k.tenant_id AND s.id = k.entity
             LEFT JOIN pm_oltp.campaigns c ON c.tenant_id = s.tenant_id AND c.id = s.campaign_id'
        WHEN 'lead' THEN
            'NULL::uuid, coalesce(cl.status::text, l.status::text), NULL::int, NULL::text, NULL::int, NULL::int
             FROM keys k LEFT JOIN pm_oltp.leads l ON l.tenant_id = k.tenant_id AND l.id = k.entity
             LEFT JOIN pm_oltp.campaign_leads cl ON cl.tenant_id = k.tenant_id AND cl.lead_id = k.entity
                                                AND cl.campaign_id = k.also'
        ELSE
            'd.company_id, a.status::text, NULL::int, a.warmup_status::text, a.daily_count, a.daily_limit
             FROM keys k LEFT JOIN pm_oltp.email_accounts a ON a.tenant_id = k.tenant_id AND a.id = k.entity
             LEFT JOIN pm_oltp.domains d ON d.tenant_id = a.tenant_id AND d.id = a.domain_id'
    END;

    -- The counters of one key: its emails sent that UTC day (entity NULL = emails
    -- without one, e.g. one-off sends or a deleted campaign).
    RETURN QUERY EXECUTE format(
        'WITH keys AS (%s)
         SELECT k.tenant_id, k.entity, %s, k.day,
                ARRAY[coalesce(n.sent, 0), coalesce(n.delivered, 0), coalesce(n.opened, 0),
                      coalesce(n.clicked, 0), coalesce(n.replied, 0), coalesce(n.bounced, 0),
                      coalesce(n.unsubscribed, 0), coalesce(n.complaints, 0)],
                %s
         LEFT JOIN LATERAL (
             SELECT count(*) AS sent, count(m.delivered_at) AS delivered,
                    count(m.opened_at) AS opened, count(m.clicked_at) AS clicked,
                    count(m.replied_at) AS replied, count(m.bounced_at) AS bounced,
                    count(m.unsubscribed_at) AS unsubscribed, count(m.complained_at) AS complaints
             FROM pm_oltp.emails m
             WHERE m.tenant_id = k.tenant_id
               AND (m.%I = k.entity OR (k.entity IS NULL AND m.%I IS NULL))
               AND %s
               AND m.sent_at >= (k.day::timestamp AT TIME ZONE ''UTC'')
               AND m.sent_at < ((k.day + 1)::timestamp AT TIME ZONE ''UTC'')
               AND m.direction = ''outbound'' AND %s) n ON true',
        keys_sql,
        CASE WHEN also IS NULL THEN
                 CASE grain WHEN 'step' THEN 's.campaign_id' ELSE 'NULL::uuid' END
             ELSE 'k.also' END,
        attrs, entity, entity,
        CASE WHEN also IS NULL THEN 'true'
             ELSE format('(m.%I = k.also OR (k.also IS NULL AND m.%I IS NULL))', also, also) END,
        only_rows)
    USING from_xid, to_xid, day_from, day_to, tenant;
END $$;

-- Billing usage of tenants: of those with billing keys in [from_xid, to_xid), or of every
-- tenant (`tenant` only) with from_xid NULL.  The period is the active subscription's, else
-- the UTC calendar month (as check_quota counts).
CREATE FUNCTION pm_oltp.olap_billing_rows(from_xid bigint, to_xid bigint, tenant uuid DEFAULT NULL)
RETURNS TABLE(tenant_id uuid, subscription_id uuid, period_start timestamptz, period_end timestamptz,
              emails_sent bigint, mailboxes_used bigint, domains_used bigint, campaigns_used bigint,
              leads_used bigint, warmups_active bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH tenants AS (
        SELECT t.id FROM pm_oltp.tenants t
        WHERE (olap_billing_rows.tenant IS NULL OR t.id = olap_billing_rows.tenant)
          AND (from_xid IS NULL
               OR EXISTS (SELECT 1 FROM pm_oltp.olap_dirty_keys k
                          WHERE k.tenant_id = t.id AND k.kind = 'b'
                            AND k.xid::text::bigint >= from_xid AND k.xid::text::bigint < to_xid))
    ), periods AS (
        SELECT t.id AS tenant_id, s.id AS subscription_id,
               CASE WHEN s.id IS NOT NULL AND now() >= s.current_period_start AND now() < s.current_period_end
                    THEN s.current_period_start
                    ELSE date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' END AS period_start,
               CASE WHEN s.id IS NOT NULL AND now() >= s.current_period_start AND now() < s.current_period_end
                    THEN s.current_period_end
                    ELSE (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC' END
                    AS period_end
        FROM tenants t
        LEFT JOIN pm_oltp.subscriptions s ON s.tenant_id = t.id AND s.status = 'active'
    )
    SELECT p.tenant_id, p.subscription_id, p.period_start, p.period_end,
           (SELECT count(*) FROM pm_oltp.emails m WHERE m.tenant_id = p.tenant_id AND m.direction = 'outbound'
               AND m.sent_at >= p.period_start AND m.sent_at < p.period_end),
           (SELECT count(*) FROM pm_oltp.email_accounts a WHERE a.tenant_id = p.tenant_id),
           (SELECT count(*) FROM pm_oltp.domains d WHERE d.tenant_id = p.tenant_id),
           (SELECT count(*) FROM pm_oltp.campaigns c WHERE c.tenant_id = p.tenant_id
               AND c.created >= p.period_start AND c.created < p.period_end),
           (SELECT count(*) FROM pm_oltp.leads l WHERE l.tenant_id = p.tenant_id),
           (SELECT count(*) FROM pm_oltp.email_accounts a WHERE a.tenant_id = p.tenant_id
               AND a.warmup_status = 'warming')
    FROM periods p
$$;

-- The login the OLAP database links with is an RLS-bound pm_app member; it may run
-- exactly these functions (they read every tenant as their owner).
CREATE FUNCTION pm_oltp.grant_olap_link(login name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION pm_oltp.olap_batch(bigint, int), '
                   'pm_oltp.olap_ack(bigint), '
                   'pm_oltp.olap_fact_rows(text, bigint, bigint, date, date, uuid), '
                   'pm_oltp.olap_billing_rows(bigint, bigint, uuid) TO %I', login);
END $$;

REVOKE ALL ON FUNCTION pm_oltp.olap_batch(bigint, int), pm_oltp.olap_ack(bigint),
    pm_oltp.olap_fact_rows(text, bigint, bigint, date, date, uuid),
    pm_oltp.olap_billing_rows(bigint, bigint, uuid), pm_oltp.grant_olap_link(name),
    pm_oltp.olap_capture_email(), pm_oltp.olap_capture_state() FROM PUBLIC;

SELECT pm.enable_tenant_isolation('pm_oltp.olap_dirty_keys');
SELECT pm.set_table_access('pm_oltp.olap_dirty_keys', 'none');
SELECT pg_catalog.pg_extension_config_dump('pm_oltp.olap_dirty_keys', '');
SELECT pm.apply_grants();
