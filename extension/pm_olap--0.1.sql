-- pm_olap 0.1: the analytics warehouse.  Reference: docs/olap.md.
--
-- Seven tables (six fact tables at day grain, partitioned by month, and the hash-chained
-- admin audit log), the incremental rollup that pulls recomputed keys from OLTP through the
-- pm_fdw link (pm.tier_call('oltp', ...)), rebuild / verify / freshness / billing_usage,
-- and the pg_cron schedule.  OLAP is derived from OLTP, never the reverse.

\echo Use "CREATE EXTENSION pm_olap" to load this file. \quit

------------------------------------------------------------------------------
-- Fact tables
------------------------------------------------------------------------------

CREATE TABLE pm_olap.campaign_analytics (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id         uuid NOT NULL,
    campaign_id       uuid,
    day               date NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    delivered         integer NOT NULL DEFAULT 0,
    opened_tracked    integer NOT NULL DEFAULT 0,
    clicked_tracked   integer NOT NULL DEFAULT 0,
    replied           integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    unsubscribed      integer NOT NULL DEFAULT 0,
    spam_complaints   integer NOT NULL DEFAULT 0,
    company_id        uuid,
    status            varchar(50),
    completed_leads   integer NOT NULL DEFAULT 0,
    billing_id        bigint,
    updated           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_analytics_key UNIQUE NULLS NOT DISTINCT (tenant_id, campaign_id, day)
) PARTITION BY RANGE (day);
COMMENT ON TABLE pm_olap.campaign_analytics IS 'Per campaign and UTC send day (campaign_id NULL: sends outside any campaign)';

CREATE TABLE pm_olap.sequence_step_analytics (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id         uuid NOT NULL,
    step_id           uuid,
    day               date NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    delivered         integer NOT NULL DEFAULT 0,
    opened_tracked    integer NOT NULL DEFAULT 0,
    clicked_tracked   integer NOT NULL DEFAULT 0,
    replied           integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    unsubscribed      integer NOT NULL DEFAULT 0,
    spam_complaints   integer NOT NULL DEFAULT 0,
    campaign_id       uuid,
    company_id        uuid,
    billing_id        bigint,
    updated           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sequence_step_analytics_key UNIQUE NULLS NOT DISTINCT (tenant_id, step_id, day)
) PARTITION BY RANGE (day);
COMMENT ON TABLE pm_olap.sequence_step_analytics IS 'Per sequence step and UTC send day';

CREATE TABLE pm_olap.mailbox_analytics (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id         uuid NOT NULL,
    mailbox_id        uuid,
    day               date NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    delivered         integer NOT NULL DEFAULT 0,
    opened_tracked    integer NOT NULL DEFAULT 0,
    clicked_tracked   integer NOT NULL DEFAULT 0,
    replied           integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    unsubscribed      integer NOT NULL DEFAULT 0,
    spam_complaints   integer NOT NULL DEFAULT 0,
    company_id        uuid,
    warmup_status     varchar(20),
    health_score      integer,
    current_volume    integer,
    campaign_status   varchar(50),
    billing_id        bigint,
    updated           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mailbox_analytics_key UNIQUE NULLS NOT DISTINCT (tenant_id, mailbox_id, day)
) PARTITION BY RANGE (day);
COMMENT ON TABLE pm_olap.mailbox_analytics IS 'Per sending mailbox and UTC send day; health_score from that day''s counters';

CREATE TABLE pm_olap.lead_analytics (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id         uuid NOT NULL,
    lead_id           uuid,
    campaign_id       uuid,
    day               date NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    delivered         integer NOT NULL DEFAULT 0,
    opened_tracked    integer NOT NULL DEFAULT 0,
    clicked_tracked   integer NOT NULL DEFAULT 0,
    replied           integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    unsubscribed      integer NOT NULL DEFAULT 0,
    spam_complaints   integer NOT NULL DEFAULT 0,
    status            varchar(20),
    billing_id        bigint,
    updated           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lead_analytics_key UNIQUE NULLS NOT DISTINCT (tenant_id, lead_id, campaign_id, day)
) PARTITION BY RANGE (day);
COMMENT ON TABLE pm_olap.lead_analytics IS 'Per lead, campaign and UTC send day';
-- pm_olap.unique_leads: one campaign's lead rows over a window, for any caller.
CREATE INDEX lead_analytics_campaign_idx ON pm_olap.lead_analytics (campaign_id, day);

CREATE TABLE pm_olap.warmup_analytics (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id         uuid NOT NULL,
    mailbox_id        uuid,
    day               date NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    delivered         integer NOT NULL DEFAULT 0,
    opened_tracked    integer NOT NULL DEFAULT 0,
    clicked_tracked   integer NOT NULL DEFAULT 0,
    replied           integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    unsubscribed      integer NOT NULL DEFAULT 0,
    spam_complaints   integer NOT NULL DEFAULT 0,
    company_id        uuid,
    health_score      integer,
    progress_percentage integer,
    billing_id        bigint,
    updated           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT warmup_analytics_key UNIQUE NULLS NOT DISTINCT (tenant_id, mailbox_id, day)
) PARTITION BY RANGE (day);
COMMENT ON TABLE pm_olap.warmup_analytics IS 'Per mailbox and UTC send day: its sends outside campaigns (warmup traffic)';

CREATE TABLE pm_olap.billing_analytics (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id       uuid NOT NULL,
    subscription_id uuid,
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    emails_sent     bigint NOT NULL DEFAULT 0,
    mailboxes_used  integer NOT NULL DEFAULT 0,
    domains_used    integer NOT NULL DEFAULT 0,
    campaigns_used  integer NOT NULL DEFAULT 0,
    leads_used      integer NOT NULL DEFAULT 0,
    warmups_active  integer NOT NULL DEFAULT 0,
    updated         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idx_billing_analytics_tenant_period UNIQUE (tenant_id, period_start, period_end)
) PARTITION BY RANGE (period_start);
COMMENT ON TABLE pm_olap.billing_analytics IS
  'Usage per tenant and billing period (the active subscription''s, else the UTC month)';

------------------------------------------------------------------------------
-- Compliance audit log
------------------------------------------------------------------------------

-- tenant_id is the platform tenant (all zeros) for actions that concern no tenant.
CREATE TABLE pm_olap.admin_audit_log (
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    seq                 bigint NOT NULL,
    creation_time       timestamptz NOT NULL,
    admin_user_id       uuid,
    action              varchar(100) NOT NULL,
    resource_type       varchar(100) NOT NULL,
    resource_id         text,
    tenant_id           uuid NOT NULL,
    old_values          jsonb,
    new_values          jsonb,
    ip_address          varchar(45),
    user_agent          text,
    notes               text,
    metadata            jsonb,
    data_classification varchar(20) NOT NULL,
    retention_category  varchar(20) NOT NULL,
    prev_hash           bytea NOT NULL,
    row_hash            bytea NOT NULL,
    updated             timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (creation_time);
CREATE INDEX admin_audit_log_tenant_idx ON pm_olap.admin_audit_log (tenant_id, creation_time);
CREATE INDEX admin_audit_log_seq_idx ON pm_olap.admin_audit_log (seq);
COMMENT ON TABLE pm_olap.admin_audit_log IS
  'High-risk staff actions; append-only, SHA-256 hash chain over seq (pm_olap.audit_verify)';

-- The chain's head: one row, locked by every insert until it commits, so the order of
-- seq is the order of commits and two inserts can never chain to the same predecessor.
CREATE TABLE pm_olap.audit_head (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq  bigint NOT NULL,
    last_hash bytea NOT NULL
);
INSERT INTO pm_olap.audit_head VALUES (true, 0, '\x'::bytea);

-- Where the chain continues after retention dropped its oldest partitions.
CREATE TABLE pm_olap.audit_anchors (
    seq        bigint PRIMARY KEY,
    row_hash   bytea NOT NULL,
    partition  text NOT NULL,
    dropped_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pm_olap.audit_retention_categories (
    category varchar(20) PRIMARY KEY,
    keep     interval   -- NULL: kept forever
);
INSERT INTO pm_olap.audit_retention_categories VALUES
    ('standard', '1 year'), ('security', '2 years'), ('financial', '7 years'), ('legal_hold', NULL);

-- Idempotent delivery (a queue job delivering twice): source key -> the row it made.
CREATE TABLE pm_olap.audit_sources (
    source_key text PRIMARY KEY,
    seq        bigint NOT NULL
);

CREATE FUNCTION pm_olap.audit_canonical(r pm_olap.admin_audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- jsonb text is canonical (key order, spacing); the time is rendered in UTC with
    -- microseconds whatever the session's TimeZone and DateStyle.
    SELECT convert_to(jsonb_build_array(
        r.seq, to_char(r.creation_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        r.admin_user_id, r.action, r.resource_type, r.resource_id, r.tenant_id,
        r.old_values, r.new_values, r.ip_address, r.user_agent, r.notes, r.metadata,
        r.data_classification, r.retention_category)::text, 'UTF8')
$$;

CREATE FUNCTION pm_olap.audit_row_hash(r pm_olap.admin_audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT sha256(r.prev_hash || pm_olap.audit_canonical(r)) $$;

-- Every insert is chained here, whoever makes it: seq and hashes are never the caller's.
CREATE FUNCTION pm_olap.audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head record;
BEGIN
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

CREATE FUNCTION pm_olap.audit_refuse() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'pm_olap.admin_audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit rows leave only when retention drops their whole partition.';
END $$;

CREATE TRIGGER audit_chain BEFORE INSERT ON pm_olap.admin_audit_log
    FOR EACH ROW EXECUTE FUNCTION pm_olap.audit_chain();
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON pm_olap.admin_audit_log
    FOR EACH ROW EXECUTE FUNCTION pm_olap.audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON pm_olap.admin_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION pm_olap.audit_refuse();
-- ALWAYS: also under session_replication_role = replica.
ALTER TABLE pm_olap.admin_audit_log ENABLE ALWAYS TRIGGER audit_chain;
ALTER TABLE pm_olap.admin_audit_log ENABLE ALWAYS TRIGGER audit_append_only;
ALTER TABLE pm_olap.admin_audit_log ENABLE ALWAYS TRIGGER audit_no_truncate;
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE OR DELETE ON pm_olap.audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION pm_olap.audit_refuse();
ALTER TABLE pm_olap.audit_head ENABLE ALWAYS TRIGGER audit_head_no_truncate;

-- TRUNCATE of one partition does not fire the parent's trigger: each partition gets its
-- own, whoever creates it (the partition manager included).
CREATE FUNCTION pm_olap.audit_guard_partitions() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass FROM pg_inherits i
        WHERE i.inhparent = 'pm_olap.admin_audit_log'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = i.inhrelid
                          AND t.tgname = 'audit_no_truncate')
    LOOP
        EXECUTE format('CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION pm_olap.audit_refuse()', part);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_no_truncate', part);
    END LOOP;
END $$;

CREATE FUNCTION pm_olap.audit_guard_new_partitions() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
               JOIN pg_inherits i ON i.inhrelid = c.objid
               WHERE i.inhparent = 'pm_olap.admin_audit_log'::regclass) THEN
        PERFORM pm_olap.audit_guard_partitions();
    END IF;
END $$;

CREATE FUNCTION pm_olap.audit(admin_user_id uuid, action text, resource_type text,
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
COMMENT ON FUNCTION pm_olap.audit(uuid, text, text, text, uuid, jsonb, jsonb, text, text, text,
                                  jsonb, text, text, text) IS
  'Appends one high-risk staff action to the hash-chained audit log; returns its id';

-- The first row in [from, to] whose chain breaks, and why; no row: intact.
CREATE FUNCTION pm_olap.audit_verify(from_time timestamptz DEFAULT '-infinity',
                                     to_time timestamptz DEFAULT 'infinity')
RETURNS TABLE(seq bigint, id bigint, creation_time timestamptz, problem text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r pm_olap.admin_audit_log;
    prev_seq bigint;
    prev_hash bytea;
    first boolean := true;
    head record;
    anchor record;
BEGIN
    SELECT * INTO head FROM pm_olap.audit_head;
    FOR r IN SELECT * FROM pm_olap.admin_audit_log l
             WHERE l.creation_time >= from_time AND l.creation_time <= to_time ORDER BY l.seq
    LOOP
        IF first THEN
            first := false;
            -- The predecessor: the row before, else the anchor retention left.
            SELECT l.seq, l.row_hash INTO prev_seq, prev_hash FROM pm_olap.admin_audit_log l
            WHERE l.seq < r.seq ORDER BY l.seq DESC LIMIT 1;
            IF prev_seq IS NULL THEN
                SELECT a.seq, a.row_hash INTO anchor FROM pm_olap.audit_anchors a
                ORDER BY a.seq DESC LIMIT 1;
                IF FOUND THEN
                    prev_seq := anchor.seq;
                    prev_hash := anchor.row_hash;
                ELSE
                    prev_seq := 0;
                    prev_hash := '\x';
                END IF;
            END IF;
        END IF;
        IF r.seq <> prev_seq + 1 THEN
            RETURN QUERY SELECT r.seq, r.id, r.creation_time,
                format('rows %s to %s are missing', prev_seq + 1, r.seq - 1);
            RETURN;
        END IF;
        IF r.prev_hash IS DISTINCT FROM prev_hash THEN
            RETURN QUERY SELECT r.seq, r.id, r.creation_time,
                'prev_hash does not match the previous row''s hash (row forged or chain rewritten)'::text;
            RETURN;
        END IF;
        IF r.row_hash IS DISTINCT FROM pm_olap.audit_row_hash(r) THEN
            RETURN QUERY SELECT r.seq, r.id, r.creation_time,
                'content does not match its hash (row altered)'::text;
            RETURN;
        END IF;
        prev_seq := r.seq;
        prev_hash := r.row_hash;
    END LOOP;
    -- The newest rows gone (a truncated or dropped latest partition)?
    IF to_time >= now() AND coalesce(prev_seq, 0) < head.last_seq
       AND NOT EXISTS (SELECT 1 FROM pm_olap.admin_audit_log l WHERE l.seq > coalesce(prev_seq, 0)) THEN
        IF NOT EXISTS (SELECT 1 FROM pm_olap.audit_anchors a WHERE a.seq = head.last_seq) THEN
            RETURN QUERY SELECT head.last_seq, NULL::bigint, NULL::timestamptz,
                format('rows %s to %s are missing (the chain head is at %s)',
                       coalesce(prev_seq, 0) + 1, head.last_seq, head.last_seq);
        END IF;
    END IF;
END $$;

-- Drops the oldest audit partitions every row of which retention allows to go, oldest
-- first and only while contiguous (the chain stays verifiable from the first row left).
CREATE FUNCTION pm_olap.audit_retention() RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part record;
    dropped int := 0;
    last record;
    keepable boolean;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass AS rel, c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'pm_olap.admin_audit_log'::regclass
          AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
        ORDER BY c.relname
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s p LEFT JOIN pm_olap.audit_retention_categories k '
                       'ON k.category = p.retention_category '
                       'WHERE k.category IS NULL OR k.keep IS NULL OR p.creation_time + k.keep >= now())',
                       part.rel) INTO keepable;
        EXIT WHEN keepable;
        EXECUTE format('SELECT seq, row_hash FROM %s ORDER BY seq DESC LIMIT 1', part.rel) INTO last;
        -- An empty partition: only drop it when an older one had rows (nothing to anchor).
        EXIT WHEN last.seq IS NULL
              AND NOT EXISTS (SELECT 1 FROM pm_olap.admin_audit_log l WHERE l.creation_time < now());
        EXIT WHEN last.seq IS NOT NULL AND last.seq = (SELECT h.last_seq FROM pm_olap.audit_head h);
        IF last.seq IS NOT NULL THEN
            INSERT INTO pm_olap.audit_anchors (seq, row_hash, partition)
            VALUES (last.seq, last.row_hash, part.relname);
        END IF;
        EXECUTE format('DROP TABLE %s', part.rel);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $$;

------------------------------------------------------------------------------
-- Rollup state
------------------------------------------------------------------------------

-- One row per source tier.  watermark: every OLTP transaction below it is in OLAP (the
-- rollup that moved it committed); the next rollup acknowledges it to OLTP.
CREATE TABLE pm_olap.rollup_state (
    source       text PRIMARY KEY,
    watermark    bigint NOT NULL DEFAULT 0,
    last_rollup  timestamptz,
    last_keys    bigint NOT NULL DEFAULT 0,
    pending_keys bigint NOT NULL DEFAULT 0,
    oldest_pending timestamptz,
    rows_from_link bigint NOT NULL DEFAULT 0
);
INSERT INTO pm_olap.rollup_state (source) VALUES ('oltp');

CREATE FUNCTION pm_olap.warmup_progress(warmup_status text, current_volume int, daily_limit int)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE warmup_status
        WHEN 'warmed' THEN 100
        WHEN 'warming' THEN CASE WHEN coalesce(daily_limit, 0) > 0
                                 THEN least(99, (100 * coalesce(current_volume, 0)) / daily_limit)
                                 ELSE 50 END
        ELSE 0 END
$$;
COMMENT ON FUNCTION pm_olap.warmup_progress(text, int, int) IS
  'Warmup ramp in percent: warmed 100, unwarmed 0, warming = today''s volume over the daily limit (at most 99)';

-- Applies recomputed rows of one grain from OLTP.  With zero_day, local rows of that day
-- (and tenant) that OLTP no longer has are set to zero (rebuild).  Returns (rows read,
-- rows changed).
CREATE FUNCTION pm_olap._apply_facts(grain text, from_xid bigint, to_xid bigint,
                                     day_from date, day_to date, tenant uuid,
                                     OUT rows_read int, OUT rows_changed int)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbl text;
    keys text;        -- key columns besides tenant_id and day
    key_values text;  -- their values from the source rows
    cols text;        -- state columns
    vals text;
    counters constant text := 'sent, delivered, opened_tracked, clicked_tracked, replied, bounced, '
                              'unsubscribed, spam_complaints';
    -- Mailbox-day health and warmup ramp from a source row (counters in the order above).
    progress constant text := 'pm_olap.warmup_progress(s.warmup_status, s.current_volume, s.daily_limit)';
    health constant text := 'pm.health_score(s.counters[1], s.counters[2], s.counters[6], '
                            's.counters[8], s.counters[5], ' || progress || ')';
    n int;
BEGIN
    SELECT f.table_name INTO tbl FROM pm_olap.fact_tables() f WHERE f.grain = _apply_facts.grain;
    IF to_regclass('pg_temp.olap_rows') IS NULL THEN
    CREATE TEMP TABLE olap_rows (
        tenant_id uuid, entity_id uuid, campaign_id uuid, day date, counters bigint[],
        company_id uuid, status text, completed_leads int, warmup_status text,
        current_volume int, daily_limit int) ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE olap_rows;
    INSERT INTO olap_rows
    SELECT * FROM pm.tier_call('oltp', 'olap_fact_rows',
                               ARRAY[grain, from_xid::text, to_xid::text, day_from::text,
                                     day_to::text, tenant::text])
        AS r(tenant_id uuid, entity_id uuid, campaign_id uuid, day date, counters bigint[],
             company_id uuid, status text, completed_leads int, warmup_status text,
             current_volume int, daily_limit int);
    GET DIAGNOSTICS rows_read = ROW_COUNT;

    CASE grain
        WHEN 'campaign' THEN
            keys := 'campaign_id'; key_values := 's.entity_id';
            cols := 'company_id, status, completed_leads';
            vals := 's.company_id, s.status, coalesce(s.completed_leads, 0)';
        WHEN 'step' THEN
            keys := 'step_id'; key_values := 's.entity_id';
            cols := 'campaign_id, company_id'; vals := 's.campaign_id, s.company_id';
        WHEN 'mailbox' THEN
            keys := 'mailbox_id'; key_values := 's.entity_id';
            cols := 'company_id, warmup_status, health_score, current_volume, campaign_status';
            vals := 's.company_id, s.warmup_status, ' || health || ', s.current_volume, s.status';
        WHEN 'lead' THEN
            keys := 'lead_id, campaign_id';
            key_values := 's.entity_id, s.campaign_id'; cols := 'status'; vals := 's.status';
        WHEN 'warmup' THEN
            keys := 'mailbox_id'; key_values := 's.entity_id';
            cols := 'company_id, health_score, progress_percentage';
            vals := 's.company_id, ' || health || ', ' || progress;
    END CASE;

    -- Only rows whose values change are written (a re-run is a no-op, not new versions).
    EXECUTE format(
        'INSERT INTO pm_olap.%1$I AS t (tenant_id, %2$s, day, %3$s, %4$s, billing_id, updated)
         SELECT s.tenant_id, %5$s, s.day,
                s.counters[1], s.counters[2], s.counters[3], s.counters[4], s.counters[5],
                s.counters[6], s.counters[7], s.counters[8], %6$s,
                (SELECT b.id FROM pm_olap.billing_analytics b WHERE b.tenant_id = s.tenant_id
                   AND b.period_start <= (s.day::timestamp AT TIME ZONE ''UTC'')
                   AND b.period_end > (s.day::timestamp AT TIME ZONE ''UTC'')
                 ORDER BY b.period_start DESC LIMIT 1),
                now()
         FROM olap_rows s
         ON CONFLICT (tenant_id, %2$s, day) DO UPDATE
         SET (%3$s, %4$s, billing_id, updated) =
             (EXCLUDED.sent, EXCLUDED.delivered, EXCLUDED.opened_tracked, EXCLUDED.clicked_tracked,
              EXCLUDED.replied, EXCLUDED.bounced, EXCLUDED.unsubscribed, EXCLUDED.spam_complaints,
              %7$s, EXCLUDED.billing_id, now())
         WHERE (t.sent, t.delivered, t.opened_tracked, t.clicked_tracked, t.replied, t.bounced,
                t.unsubscribed, t.spam_complaints, %8$s, t.billing_id)
               IS DISTINCT FROM
               (EXCLUDED.sent, EXCLUDED.delivered, EXCLUDED.opened_tracked, EXCLUDED.clicked_tracked,
                EXCLUDED.replied, EXCLUDED.bounced, EXCLUDED.unsubscribed, EXCLUDED.spam_complaints,
                %7$s, EXCLUDED.billing_id)',
        tbl, keys, counters, cols, key_values, vals,
        (SELECT string_agg('EXCLUDED.' || btrim(c), ', ') FROM unnest(string_to_array(cols, ',')) c),
        (SELECT string_agg('t.' || btrim(c), ', ') FROM unnest(string_to_array(cols, ',')) c));
    GET DIAGNOSTICS rows_changed = ROW_COUNT;

    IF from_xid IS NULL THEN
        EXECUTE format(
            'UPDATE pm_olap.%1$I t SET (%2$s, updated) = (0, 0, 0, 0, 0, 0, 0, 0, now())
             WHERE t.day >= $1 AND t.day < $2 AND ($3::uuid IS NULL OR t.tenant_id = $3)
               AND (t.sent, t.delivered, t.opened_tracked, t.clicked_tracked, t.replied, t.bounced,
                    t.unsubscribed, t.spam_complaints) <> (0, 0, 0, 0, 0, 0, 0, 0)
               AND NOT EXISTS (SELECT 1 FROM olap_rows s WHERE s.tenant_id = t.tenant_id
                               AND s.day = t.day AND (%3$s) IS NOT DISTINCT FROM (%4$s))',
            tbl, counters,
            (SELECT string_agg('t.' || btrim(c), ', ') FROM unnest(string_to_array(keys, ',')) c),
            key_values)
        USING day_from, day_to, tenant;
        GET DIAGNOSTICS n = ROW_COUNT;
        rows_changed := rows_changed + n;
    END IF;
END $$;

CREATE FUNCTION pm_olap._apply_billing(from_xid bigint, to_xid bigint, tenant uuid,
                                       OUT rows_read int, OUT rows_changed int)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_temp.olap_billing_rows') IS NULL THEN
    CREATE TEMP TABLE olap_billing_rows (
        tenant_id uuid, subscription_id uuid, period_start timestamptz, period_end timestamptz,
        emails_sent bigint, mailboxes_used bigint, domains_used bigint, campaigns_used bigint,
        leads_used bigint, warmups_active bigint) ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE olap_billing_rows;
    INSERT INTO olap_billing_rows
    SELECT * FROM pm.tier_call('oltp', 'olap_billing_rows',
                               ARRAY[from_xid::text, to_xid::text, tenant::text])
        AS r(tenant_id uuid, subscription_id uuid, period_start timestamptz, period_end timestamptz,
             emails_sent bigint, mailboxes_used bigint, domains_used bigint, campaigns_used bigint,
             leads_used bigint, warmups_active bigint);
    GET DIAGNOSTICS rows_read = ROW_COUNT;
    INSERT INTO pm_olap.billing_analytics AS t
        (tenant_id, subscription_id, period_start, period_end, emails_sent, mailboxes_used,
         domains_used, campaigns_used, leads_used, warmups_active, updated)
    SELECT s.tenant_id, s.subscription_id, s.period_start, s.period_end, s.emails_sent,
           s.mailboxes_used, s.domains_used, s.campaigns_used, s.leads_used, s.warmups_active, now()
    FROM olap_billing_rows s
    ON CONFLICT (tenant_id, period_start, period_end) DO UPDATE
    SET (subscription_id, emails_sent, mailboxes_used, domains_used, campaigns_used, leads_used,
         warmups_active, updated) =
        (EXCLUDED.subscription_id, EXCLUDED.emails_sent, EXCLUDED.mailboxes_used,
         EXCLUDED.domains_used, EXCLUDED.campaigns_used, EXCLUDED.leads_used,
         EXCLUDED.warmups_active, now())
    WHERE (t.subscription_id, t.emails_sent, t.mailboxes_used, t.domains_used, t.campaigns_used,
           t.leads_used, t.warmups_active)
          IS DISTINCT FROM
          (EXCLUDED.subscription_id, EXCLUDED.emails_sent, EXCLUDED.mailboxes_used,
           EXCLUDED.domains_used, EXCLUDED.campaigns_used, EXCLUDED.leads_used,
           EXCLUDED.warmups_active);
    GET DIAGNOSTICS rows_changed = ROW_COUNT;
END $$;

CREATE FUNCTION pm_olap.fact_tables() RETURNS TABLE(grain text, table_name text)
LANGUAGE sql IMMUTABLE
AS $$
    VALUES ('campaign', 'campaign_analytics'), ('step', 'sequence_step_analytics'),
           ('mailbox', 'mailbox_analytics'), ('lead', 'lead_analytics'),
           ('warmup', 'warmup_analytics')
$$;

------------------------------------------------------------------------------
-- Rollup, rebuild, verify, freshness
------------------------------------------------------------------------------

CREATE FUNCTION pm_olap.rollup(max_keys int DEFAULT 50000)
RETURNS TABLE(tier text, keys int, rows_upserted int, lag interval)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st pm_olap.rollup_state;
    b record;
    f record;
    moved bigint := 0;
BEGIN
    IF max_keys IS NULL OR max_keys < 1 THEN
        RAISE EXCEPTION 'max_keys must be a positive number of keys, got %', coalesce(max_keys::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One rollup at a time; a concurrent one waits and then continues from the new watermark.
    SELECT * INTO st FROM pm_olap.rollup_state s WHERE s.source = 'oltp' FOR UPDATE;
    -- What earlier rollups committed can be forgotten by OLTP now (never before: a rollup
    -- that dies leaves its keys pending).
    PERFORM * FROM pm.tier_call('oltp', 'olap_ack', ARRAY[st.watermark::text]) AS a(n bigint);
    SELECT * INTO b FROM pm.tier_call('oltp', 'olap_batch', ARRAY[st.watermark::text, max_keys::text])
        AS x(to_xid bigint, keys bigint, pending bigint, oldest timestamptz);

    FOR f IN SELECT * FROM pm_olap.fact_tables() UNION ALL SELECT 'billing', 'billing_analytics' LOOP
        tier := f.table_name;
        keys := 0;
        rows_upserted := 0;
        IF b.keys > 0 THEN
            IF f.grain = 'billing' THEN
                SELECT x.rows_read, x.rows_changed INTO keys, rows_upserted
                FROM pm_olap._apply_billing(st.watermark, b.to_xid, NULL) x;
            ELSE
                SELECT x.rows_read, x.rows_changed INTO keys, rows_upserted
                FROM pm_olap._apply_facts(f.grain, st.watermark, b.to_xid, NULL, NULL, NULL) x;
            END IF;
            moved := moved + keys;
        END IF;
        lag := coalesce(now() - b.oldest, interval '0');
        RETURN NEXT;
    END LOOP;

    UPDATE pm_olap.rollup_state s
    SET watermark = b.to_xid, last_rollup = now(), last_keys = b.keys, pending_keys = b.pending,
        oldest_pending = b.oldest, rows_from_link = s.rows_from_link + moved
    WHERE s.source = 'oltp';
END $$;
COMMENT ON FUNCTION pm_olap.rollup(int) IS
  'One incremental pass: recomputes on OLTP the keys changed since the last pass and upserts them';

CREATE FUNCTION pm_olap.check_day_range(day_from date, day_to date) RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF day_from IS NULL OR day_to IS NULL THEN
        RAISE EXCEPTION 'day_from and day_to must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF day_to < day_from THEN
        RAISE EXCEPTION 'day range % .. % is empty: day_to is before day_from', day_from, day_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF day_to - day_from > 3660 THEN
        RAISE EXCEPTION 'day range % .. % spans % days; at most 3660', day_from, day_to, day_to - day_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

-- Full recompute of [day_from, day_to] (both included), one day per remote call so what
-- crosses the link at once stays bounded; and the billing rows.
CREATE FUNCTION pm_olap.rebuild(day_from date, day_to date, tenant uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d date;
    f record;
    applied record;
    total bigint := 0;
BEGIN
    PERFORM pm_olap.check_day_range(day_from, day_to);
    PERFORM 1 FROM pm_olap.rollup_state s WHERE s.source = 'oltp' FOR UPDATE;
    d := day_from;
    WHILE d <= day_to LOOP
        FOR f IN SELECT * FROM pm_olap.fact_tables() LOOP
            applied := pm_olap._apply_facts(f.grain, NULL, NULL, d, d + 1, tenant);
            total := total + applied.rows_changed;
        END LOOP;
        d := d + 1;
    END LOOP;
    applied := pm_olap._apply_billing(NULL, NULL, tenant);
    RETURN total + applied.rows_changed;
END $$;
COMMENT ON FUNCTION pm_olap.rebuild(date, date, uuid) IS
  'Recomputes every fact row of the day range (and billing) from OLTP; returns rows changed';

CREATE FUNCTION pm_olap.verify(day_from date, day_to date)
RETURNS TABLE(table_name text, key text, olap bigint[], oltp bigint[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d date;
    f record;
    keycols text;
    zero constant bigint[] := '{0,0,0,0,0,0,0,0}';
BEGIN
    PERFORM pm_olap.check_day_range(day_from, day_to);
    IF to_regclass('pg_temp.olap_verify_rows') IS NULL THEN
    CREATE TEMP TABLE olap_verify_rows (
        tenant_id uuid, entity_id uuid, campaign_id uuid, day date, counters bigint[],
        company_id uuid, status text, completed_leads int, warmup_status text,
        current_volume int, daily_limit int) ON COMMIT DELETE ROWS;
    END IF;
    d := day_from;
    WHILE d <= day_to LOOP
        FOR f IN SELECT * FROM pm_olap.fact_tables() LOOP
            TRUNCATE olap_verify_rows;
            INSERT INTO olap_verify_rows
            SELECT * FROM pm.tier_call('oltp', 'olap_fact_rows',
                                       ARRAY[f.grain, NULL, NULL, d::text, (d + 1)::text, NULL])
                AS r(tenant_id uuid, entity_id uuid, campaign_id uuid, day date, counters bigint[],
                     company_id uuid, status text, completed_leads int, warmup_status text,
                     current_volume int, daily_limit int);
            keycols := CASE f.grain WHEN 'campaign' THEN 'campaign_id' WHEN 'step' THEN 'step_id'
                                    WHEN 'lead' THEN 'lead_id' ELSE 'mailbox_id' END;
            -- A missing row and a row of zeros are the same figures.
            RETURN QUERY EXECUTE format(
                'SELECT %1$L::text, concat_ws(''/'', coalesce(o.tenant_id, r.tenant_id),
                        coalesce(o.%2$I, r.entity_id), %3$s, coalesce(o.day, r.day))::text,
                        coalesce(o.c, $2), coalesce(r.counters, $2)
                 FROM (SELECT t.*, ARRAY[t.sent, t.delivered, t.opened_tracked, t.clicked_tracked,
                              t.replied, t.bounced, t.unsubscribed, t.spam_complaints]::bigint[] AS c
                       FROM pm_olap.%1$I t WHERE t.day = $1) o
                 FULL JOIN olap_verify_rows r
                   ON r.tenant_id = o.tenant_id AND r.day = o.day
                  AND r.entity_id IS NOT DISTINCT FROM o.%2$I %4$s
                 WHERE coalesce(o.c, $2) IS DISTINCT FROM coalesce(r.counters, $2)
                 ORDER BY 2',
                f.table_name, keycols,
                CASE WHEN f.grain = 'lead' THEN 'coalesce(o.campaign_id, r.campaign_id)' ELSE 'NULL' END,
                CASE WHEN f.grain = 'lead' THEN 'AND r.campaign_id IS NOT DISTINCT FROM o.campaign_id' ELSE '' END)
            USING d, zero;
        END LOOP;
        d := d + 1;
    END LOOP;

    -- Billing: the current period of every tenant.
    RETURN QUERY
    SELECT 'billing_analytics'::text, concat_ws('/', r.tenant_id, r.period_start, r.period_end),
           ARRAY[b.emails_sent, b.mailboxes_used, b.domains_used, b.campaigns_used, b.leads_used,
                 b.warmups_active]::bigint[],
           ARRAY[r.emails_sent, r.mailboxes_used, r.domains_used, r.campaigns_used, r.leads_used,
                 r.warmups_active]
    FROM pm.tier_call('oltp', 'olap_billing_rows', ARRAY[NULL, NULL, NULL]::text[])
        AS r(tenant_id uuid, subscription_id uuid, period_start timestamptz, period_end timestamptz,
             emails_sent bigint, mailboxes_used bigint, domains_used bigint, campaigns_used bigint,
             leads_used bigint, warmups_active bigint)
    LEFT JOIN pm_olap.billing_analytics b
      ON b.tenant_id = r.tenant_id AND b.period_start = r.period_start AND b.period_end = r.period_end
    WHERE ARRAY[b.emails_sent, b.mailboxes_used, b.domains_used, b.campaigns_used, b.leads_used,
                b.warmups_active]::bigint[]
          IS DISTINCT FROM
          ARRAY[r.emails_sent, r.mailboxes_used, r.domains_used, r.campaigns_used, r.leads_used,
                r.warmups_active];
END $$;
COMMENT ON FUNCTION pm_olap.verify(date, date) IS
  'Rows of the day range (both included) where OLAP differs from a fresh recompute on OLTP; empty = healthy';

CREATE FUNCTION pm_olap.freshness()
RETURNS TABLE(table_name text, last_rollup timestamptz, pending_keys bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.table_name, s.last_rollup, s.pending_keys
    FROM (SELECT table_name FROM pm_olap.fact_tables() UNION ALL SELECT 'billing_analytics') f
    CROSS JOIN pm_olap.rollup_state s WHERE s.source = 'oltp'
    ORDER BY 1
$$;
COMMENT ON FUNCTION pm_olap.freshness() IS
  'When each table was last rolled up and how many changed keys OLTP still holds for it';

-- Emails sent and resources used in a period.  When a billing row has exactly this
-- period its figures are exact; otherwise emails_sent sums the UTC days that start in
-- [period_start, period_end) and the resources are the latest billing row's.
CREATE FUNCTION pm_olap.billing_usage(tenant uuid, period_start timestamptz, period_end timestamptz)
RETURNS TABLE(tenant_id uuid, emails_sent bigint, mailboxes_used int, domains_used int,
              campaigns_used int, leads_used int, warmups_active int, exact boolean)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b pm_olap.billing_analytics;
BEGIN
    IF tenant IS NULL OR billing_usage.period_start IS NULL OR billing_usage.period_end IS NULL THEN
        RAISE EXCEPTION 'billing_usage: tenant, period_start and period_end must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF billing_usage.period_end <= billing_usage.period_start THEN
        RAISE EXCEPTION 'billing period % .. % is empty', billing_usage.period_start, billing_usage.period_end
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Under RLS another tenant's rows are invisible: say so rather than report zeros.
    IF row_security_active('pm_olap.billing_analytics')
       AND tenant IS DISTINCT FROM pm.current_tenant_id() THEN
        RAISE EXCEPTION 'billing_usage: tenant % is not the current tenant', tenant
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO b FROM pm_olap.billing_analytics x
    WHERE x.tenant_id = tenant AND x.period_start = billing_usage.period_start
      AND x.period_end = billing_usage.period_end;
    IF FOUND THEN
        RETURN QUERY SELECT b.tenant_id, b.emails_sent, b.mailboxes_used,
                            b.domains_used, b.campaigns_used, b.leads_used, b.warmups_active, true;
        RETURN;
    END IF;
    SELECT * INTO b FROM pm_olap.billing_analytics x WHERE x.tenant_id = tenant
    ORDER BY x.period_start DESC LIMIT 1;
    RETURN QUERY
    SELECT tenant,
           (SELECT coalesce(sum(m.sent), 0)::bigint FROM pm_olap.mailbox_analytics m
             WHERE m.tenant_id = tenant
               AND (m.day::timestamp AT TIME ZONE 'UTC') >= billing_usage.period_start
               AND (m.day::timestamp AT TIME ZONE 'UTC') < billing_usage.period_end),
           b.mailboxes_used, b.domains_used, b.campaigns_used, b.leads_used, b.warmups_active, false;
END $$;
COMMENT ON FUNCTION pm_olap.billing_usage(uuid, timestamptz, timestamptz) IS
  'Emails sent and resources used by a tenant in a billing period (exact for a stored period)';

-- Distinct leads of one campaign over the UTC days [day_from, day_to], exactly: a lead
-- counts once however many messages and days it had.  Under the caller's RLS.
CREATE FUNCTION pm_olap.unique_leads(campaign uuid, day_from date, day_to date)
RETURNS TABLE(contacted bigint, opened bigint, clicked bigint, replied bigint, bounced bigint)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF campaign IS NULL THEN
        RAISE EXCEPTION 'unique_leads: campaign must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pm_olap.check_day_range(day_from, day_to);
    RETURN QUERY
    SELECT count(DISTINCT l.lead_id) FILTER (WHERE l.sent > 0),
           count(DISTINCT l.lead_id) FILTER (WHERE l.opened_tracked > 0),
           count(DISTINCT l.lead_id) FILTER (WHERE l.clicked_tracked > 0),
           count(DISTINCT l.lead_id) FILTER (WHERE l.replied > 0),
           count(DISTINCT l.lead_id) FILTER (WHERE l.bounced > 0)
    FROM pm_olap.lead_analytics l
    WHERE l.campaign_id = campaign AND l.day BETWEEN day_from AND day_to AND l.lead_id IS NOT NULL;
END $$;
COMMENT ON FUNCTION pm_olap.unique_leads(uuid, date, date) IS
  'Exact distinct leads contacted / opened / clicked / replied / bounced of a campaign over UTC days';

-- Daily billing run: every tenant's current period, whatever changed.
CREATE FUNCTION pm_olap.billing_rollup() RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    applied record;
BEGIN
    applied := pm_olap._apply_billing(NULL, NULL, NULL);
    RETURN applied.rows_changed;
END $$;

-- Nightly: retention of the audit log, then the chain of what is left.
CREATE TABLE pm_olap.audit_checks (
    checked_at timestamptz PRIMARY KEY DEFAULT now(),
    dropped    int NOT NULL,
    broken_seq bigint,
    problem    text
);
CREATE FUNCTION pm_olap.audit_nightly() RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped int;
    broken record;
BEGIN
    dropped := pm_olap.audit_retention();
    SELECT * INTO broken FROM pm_olap.audit_verify() LIMIT 1;
    INSERT INTO pm_olap.audit_checks (dropped, broken_seq, problem)
    VALUES (dropped, broken.seq, broken.problem);
    IF broken.seq IS NOT NULL THEN
        RAISE WARNING 'audit chain broken at seq %: %', broken.seq, broken.problem;
        RETURN format('broken at seq %s: %s', broken.seq, broken.problem);
    END IF;
    RETURN format('intact; %s partitions dropped by retention', dropped);
END $$;

-- The jobs pm_olap.schedule() installs; also for a cron database elsewhere
-- (cron.schedule_in_database(job_name, schedule, command, 'pm_olap') there).
CREATE FUNCTION pm_olap.cron_jobs() RETURNS TABLE(job_name text, schedule text, command text)
LANGUAGE sql IMMUTABLE
AS $$
    VALUES ('pm-olap-rollup', '* * * * *', 'SELECT pm_olap.rollup()'),
           ('pm-olap-billing', '0 2 * * *', 'SELECT pm_olap.billing_rollup()'),
           ('pm-olap-weekly', '0 3 * * 0',
            'SELECT pm_olap.rebuild((now() AT TIME ZONE ''UTC'')::date - 7, (now() AT TIME ZONE ''UTC'')::date)'),
           ('pm-olap-partitions', '*/10 * * * *', 'CALL pm.run_maintenance_proc()'),
           ('pm-olap-audit-verify', '30 1 * * *', 'SELECT pm_olap.audit_nightly()')
$$;

CREATE FUNCTION pm_olap.schedule() RETURNS TABLE(job_name text, schedule text, command text, jobid bigint)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT j.job_name, j.schedule, j.command,
           pm.cron_schedule(j.job_name, j.schedule, j.command,
                            'Preload pg_cron and CREATE EXTENSION pg_cron here, or install the jobs of '
                            'pm_olap.cron_jobs() from the cron database with cron.schedule_in_database(..., '
                            || quote_literal(current_database()) || ').')
    FROM pm_olap.cron_jobs() j
$$;
COMMENT ON FUNCTION pm_olap.schedule() IS
  'Installs (or replaces) the pg_cron jobs of the OLAP tier';

------------------------------------------------------------------------------
-- Partitions, isolation, privileges
------------------------------------------------------------------------------

SELECT pm.partition_create_parent('pm_olap.campaign_analytics', 'day', 'month', 4);
SELECT pm.partition_create_parent('pm_olap.sequence_step_analytics', 'day', 'month', 4);
SELECT pm.partition_create_parent('pm_olap.mailbox_analytics', 'day', 'month', 4);
SELECT pm.partition_create_parent('pm_olap.lead_analytics', 'day', 'month', 4);
SELECT pm.partition_create_parent('pm_olap.warmup_analytics', 'day', 'month', 4);
SELECT pm.partition_create_parent('pm_olap.billing_analytics', 'period_start', 'month', 4);
SELECT pm.partition_create_parent('pm_olap.admin_audit_log', 'creation_time', 'month', 4);
SELECT pm_olap.audit_guard_partitions();
CREATE EVENT TRIGGER pm_olap_audit_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION pm_olap.audit_guard_new_partitions();

SELECT pm.enable_tenant_isolation(t)
FROM unnest(ARRAY['pm_olap.campaign_analytics', 'pm_olap.sequence_step_analytics',
                  'pm_olap.mailbox_analytics', 'pm_olap.lead_analytics',
                  'pm_olap.warmup_analytics', 'pm_olap.billing_analytics',
                  'pm_olap.admin_audit_log']::regclass[]) AS t;
SELECT pm.set_table_access(t, 'read')
FROM unnest(ARRAY['pm_olap.campaign_analytics', 'pm_olap.sequence_step_analytics',
                  'pm_olap.mailbox_analytics', 'pm_olap.lead_analytics',
                  'pm_olap.warmup_analytics', 'pm_olap.billing_analytics']::regclass[]) AS t;
SELECT pm.set_table_access(t, 'none')
FROM unnest(ARRAY['pm_olap.admin_audit_log', 'pm_olap.audit_head', 'pm_olap.audit_anchors',
                  'pm_olap.audit_sources', 'pm_olap.audit_retention_categories',
                  'pm_olap.rollup_state', 'pm_olap.audit_checks']::regclass[]) AS t;
-- One call per statement: each rewrites the extension's catalog row.
SELECT pg_catalog.pg_extension_config_dump('pm_olap.admin_audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.audit_head', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.audit_anchors', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.audit_sources', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.rollup_state', '');
SELECT pg_catalog.pg_extension_config_dump('pm_olap.audit_checks', '');
SELECT pm.apply_grants();

-- The login the OLTP database's pm_fdw link to this tier uses (pm_oltp.deliver_audit): it may
-- append audit records and nothing else (no table privilege, no analytics).
CREATE FUNCTION pm_olap.grant_audit_writer(login name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        RAISE EXCEPTION 'role "%" does not exist', login USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA pm_olap TO %I', login);
    EXECUTE format('GRANT EXECUTE ON FUNCTION pm_olap.audit(uuid, text, text, text, uuid, jsonb, '
                   'jsonb, text, text, text, jsonb, text, text, text) TO %I', login);
END $$;
COMMENT ON FUNCTION pm_olap.grant_audit_writer(name) IS
  'Lets a login (the OLTP link) append audit records through pm_olap.audit()';

-- The audit log is written by pm_olap.audit() only; pm_staff reads it (BYPASSRLS).
REVOKE ALL ON FUNCTION pm_olap.rollup(int), pm_olap.rebuild(date, date, uuid),
    pm_olap.verify(date, date), pm_olap.billing_rollup(), pm_olap.schedule(),
    pm_olap.audit_retention(), pm_olap.audit_nightly(),
    pm_olap.audit(uuid, text, text, text, uuid, jsonb, jsonb, text, text, text, jsonb, text, text, text),
    pm_olap.audit_verify(timestamptz, timestamptz),
    pm_olap._apply_facts(text, bigint, bigint, date, date, uuid),
    pm_olap._apply_billing(bigint, bigint, uuid), pm_olap.audit_guard_partitions(),
    pm_olap.grant_audit_writer(name)
FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pm_service') THEN
        GRANT EXECUTE ON FUNCTION pm_olap.rollup(int), pm_olap.rebuild(date, date, uuid),
            pm_olap.verify(date, date), pm_olap.billing_rollup(), pm_olap.audit_nightly(),
            pm_olap.audit(uuid, text, text, text, uuid, jsonb, jsonb, text, text, text, jsonb, text, text, text)
            TO pm_service;
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON pm_olap.admin_audit_log, pm_olap.audit_head,
            pm_olap.audit_anchors, pm_olap.audit_sources FROM pm_service;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pm_staff') THEN
        GRANT EXECUTE ON FUNCTION pm_olap.audit_verify(timestamptz, timestamptz),
            pm_olap.audit(uuid, text, text, text, uuid, jsonb, jsonb, text, text, text, jsonb, text, text, text)
            TO pm_staff;
    END IF;
END $$;
