-- pm_notify 0.1: the notification centre and curated system events.  Reference: docs/notify.md.
--
-- notifications (per user, or tenant-wide with the read state per user), admin_system_events
-- (staff-only incidents; a repeated incident bumps one open event), both partitioned by month
-- with pm.partition_*; the user API works under the caller's RLS context; producers in other
-- tiers deliver through pm_notify.deliver() over a pm_fdw link, idempotent by dedup key.
-- Independent of OLAP: it keeps answering when OLAP is down.

\echo Use "CREATE EXTENSION pm_notify" to load this file. \quit

------------------------------------------------------------------------------
-- Limits and settings
------------------------------------------------------------------------------

-- What one notification or event may carry.  Bounded so one producer bug cannot fill the
-- tier (and so the link and the NOTIFY path never carry large values).
CREATE FUNCTION pm_notify.limits(OUT title_chars int, OUT message_chars int,
                                 OUT description_chars int, OUT details_bytes int,
                                 OUT dedup_key_chars int, OUT page_max int, OUT batch_max int)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 500, 10000, 2000, 16384, 200, 1000, 1000 $$;

-- An interval setting (ALTER DATABASE ... SET pm_notify.retain_notifications = '30 days'),
-- with its default when unset.  A value that is not an interval is an error naming it.
CREATE FUNCTION pm_notify.setting_interval(setting text, fallback interval) RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    raw text := nullif(current_setting(setting, true), '');
    value interval;
BEGIN
    IF raw IS NULL THEN
        RETURN fallback;
    END IF;
    BEGIN
        value := raw::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
        value := NULL;
    END;
    IF value IS NULL OR value <= interval '0' THEN
        RAISE EXCEPTION 'setting % = "%" is not a positive interval', setting, raw
            USING ERRCODE = 'invalid_parameter_value', HINT = format('For example: %s', fallback);
    END IF;
    RETURN value;
END $$;

------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------

-- The primary key carries the partition key (PostgreSQL requires it of a partitioned
-- table); ids are gen_random_uuid(), so id alone is unique in practice, and every lookup by
-- id also names the tenant and the user.  created_at is clock_timestamp() when notify()
-- writes it (one microsecond apart within a batch), so notifications of one transaction still
-- page in a stable order.
CREATE TABLE pm_notify.notifications (
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id    uuid,
    tenant_id  uuid NOT NULL,
    type       varchar(100) NOT NULL CHECK (type <> ''),
    title      text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
    message    text NOT NULL CHECK (char_length(message) <= 10000),
    channel    varchar(20) NOT NULL DEFAULT 'in_app' CHECK (channel IN ('in_app', 'email', 'push')),
    is_read    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz,
    expires_at timestamptz,
    deleted_at timestamptz,
    dedup_key  text CHECK (char_length(dedup_key) <= 200),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE pm_notify.notifications IS
  'Notification centre: user_id NULL = every user of the tenant (read state per user in notification_receipts)';

-- Every read names (tenant, user): tenant first, so the isolation policy is an index condition
-- (pm.rls_audit); user second, NULL for tenant-wide rows.  The unread index carries what the
-- unread count and list read (id for the per-user receipts, expires_at), so they are
-- index-only scans that skip read and deleted rows entirely.
CREATE INDEX notifications_user_idx ON pm_notify.notifications (tenant_id, user_id, created_at DESC);
CREATE INDEX notifications_unread_idx ON pm_notify.notifications
    (tenant_id, user_id, created_at DESC) INCLUDE (id, expires_at)
    WHERE NOT is_read AND deleted_at IS NULL;
-- Tenant-wide rows are few: an index of their own keeps the tenant-wide branch of every read
-- an index scan in created_at order, however the planner rates user_id IS NULL in a table
-- where most rows have a user.
CREATE INDEX notifications_tenant_wide_idx ON pm_notify.notifications
    (tenant_id, created_at DESC) INCLUDE (id, expires_at, is_read)
    WHERE user_id IS NULL AND deleted_at IS NULL;
-- Retention: cleanup() finds expired rows and rows past the retention by these.
CREATE INDEX notifications_expires_idx ON pm_notify.notifications (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX notifications_created_idx ON pm_notify.notifications (created_at);

-- Read and dismissed state of tenant-wide notifications, per user: one user reading an
-- announcement leaves it unread for the others.
CREATE TABLE pm_notify.notification_receipts (
    tenant_id       uuid NOT NULL,
    user_id         uuid NOT NULL,
    notification_id uuid NOT NULL,
    created_at      timestamptz NOT NULL,  -- the notification's, for retention
    read_at         timestamptz,
    dismissed_at    timestamptz,
    PRIMARY KEY (tenant_id, user_id, notification_id)
);
CREATE INDEX notification_receipts_notification_idx
    ON pm_notify.notification_receipts (notification_id);

-- Dedup keys, unique per tenant.  A table of their own: a unique index on the partitioned
-- table would have to include created_at, and a producer retried a second later would then
-- make a second notification.
CREATE TABLE pm_notify.notification_keys (
    tenant_id       uuid NOT NULL,
    dedup_key       text NOT NULL,
    notification_id uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, dedup_key)
);
CREATE INDEX notification_keys_created_idx ON pm_notify.notification_keys (created_at);

CREATE TABLE pm_notify.admin_system_events (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    event_type   text NOT NULL CHECK (event_type <> '' AND char_length(event_type) <= 100),
    severity     text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    description  text NOT NULL CHECK (char_length(description) <= 2000),
    details      jsonb CHECK (jsonb_typeof(details) = 'object' AND octet_length(details::text) <= 16384),
    tenant_id    uuid,
    user_id      uuid,
    is_resolved  boolean NOT NULL DEFAULT false,
    resolved_at  timestamptz,
    resolved_by  uuid,
    dedup_key    text CHECK (char_length(dedup_key) <= 200),
    occurrences  integer NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE pm_notify.admin_system_events IS
  'Curated incidents for the staff dashboard (tenant_id NULL = system-wide); repeats of an open incident bump occurrences';
CREATE INDEX admin_system_events_created_idx ON pm_notify.admin_system_events (created_at DESC);
CREATE INDEX admin_system_events_tenant_idx ON pm_notify.admin_system_events (tenant_id, created_at DESC);
CREATE INDEX admin_system_events_severity_idx ON pm_notify.admin_system_events (severity, created_at DESC);
CREATE INDEX admin_system_events_open_idx ON pm_notify.admin_system_events (created_at DESC)
    WHERE NOT is_resolved;

-- The open incident of each (tenant or system-wide, dedup key): the row 50 workers that
-- see the same tier down all bump.  Deleted when the event is resolved, so the next incident
-- opens a new event.
CREATE TABLE pm_notify.open_events (
    tenant_scope uuid NOT NULL,  -- the event's tenant, or the nil uuid for system-wide
    dedup_key    text NOT NULL,
    event_id     bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_scope, dedup_key)
);
CREATE UNIQUE INDEX open_events_event_idx ON pm_notify.open_events (event_id);

------------------------------------------------------------------------------
-- Validation and context
------------------------------------------------------------------------------

CREATE FUNCTION pm_notify.check_text(fn text, param text, value text, max_chars int,
                                     allow_empty boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '%: % must not be NULL', fn, param USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF value = '' AND NOT allow_empty THEN
        RAISE EXCEPTION '%: % must not be empty', fn, param USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(value) > max_chars THEN
        RAISE EXCEPTION '%: % is % characters long, at most % are allowed',
            fn, param, char_length(value), max_chars USING ERRCODE = 'string_data_right_truncation';
    END IF;
END $$;

CREATE FUNCTION pm_notify.check_page(fn text, max int) RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF max IS NULL OR max < 1 OR max > (pm_notify.limits()).page_max THEN
        RAISE EXCEPTION '%: max must be between 1 and %, got %', fn, (pm_notify.limits()).page_max,
            coalesce(max::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

-- The acting user of the API functions: the context's tenant and user (pm.set_context).
-- Both are required: the notification centre is always some user's.
CREATE FUNCTION pm_notify.caller(OUT tenant uuid, OUT usr uuid)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    tenant := pm.require_tenant();
    usr := pm.current_user_id();
    IF usr IS NULL THEN
        RAISE EXCEPTION 'no user context' USING ERRCODE = 'insufficient_privilege',
            HINT = 'Call pm.set_context(tenant_id, user_id) first: notifications belong to a user.';
    END IF;
END $$;

-- LISTEN on this channel to hear of a tenant's new notifications.  Payloads carry ids only:
-- any role may LISTEN to any channel, so titles and messages never travel there.
CREATE FUNCTION pm_notify.channel(tenant_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT 'pm_notify_' || replace(tenant_id::text, '-', '') $$;
COMMENT ON FUNCTION pm_notify.channel(uuid) IS
  'The LISTEN channel of a tenant: payload {"id": ..., "user_id": ...} per new notification';

------------------------------------------------------------------------------
-- Writing notifications
------------------------------------------------------------------------------

-- One notification to make: notify()'s arguments.
CREATE TYPE pm_notify.new_notification AS (
    tenant_id  uuid,
    user_id    uuid,
    type       text,
    title      text,
    message    text,
    channel    text,
    expires_at timestamptz,
    dedup_key  text
);

CREATE FUNCTION pm_notify.check_notification(n pm_notify.new_notification) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn constant text := 'pm_notify.notify';
BEGIN
    IF n.tenant_id IS NULL THEN
        RAISE EXCEPTION '%: tenant_id must not be NULL', fn USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pm_notify.check_text(fn, 'type', n.type, 100);
    PERFORM pm_notify.check_text(fn, 'title', n.title, (pm_notify.limits()).title_chars);
    PERFORM pm_notify.check_text(fn, 'message', n.message, (pm_notify.limits()).message_chars, true);
    IF n.channel IS NULL OR n.channel NOT IN ('in_app', 'email', 'push') THEN
        RAISE EXCEPTION '%: unknown channel "%"; expected one of in_app, email, push',
            fn, coalesce(n.channel, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n.expires_at IS NOT NULL AND n.expires_at <= clock_timestamp() THEN
        RAISE EXCEPTION '%: expires_at % is not in the future', fn, n.expires_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n.dedup_key IS NOT NULL THEN
        PERFORM pm_notify.check_text(fn, 'dedup_key', n.dedup_key, (pm_notify.limits()).dedup_key_chars);
    END IF;
END $$;

-- Makes a batch of notifications in a few set-based statements (a statement on a partitioned
-- table pays for routing and opening its indexes once, not once per row).  Rows of a batch get
-- created_at one microsecond apart, in batch order, so recent()'s keyset pages (by created_at)
-- never split a tie.  Returns the id of
-- each input row by its position: a dedup key already taken (earlier, or by an earlier row of
-- the batch) gives the existing id and makes nothing.  A concurrent producer with the same key
-- waits for the first one's commit and then finds its key (READ COMMITTED takes a new
-- snapshot for the next statement).  Security invoker: the caller's RLS applies.
CREATE FUNCTION pm_notify.notify_rows(batch pm_notify.new_notification[])
RETURNS TABLE(ord int, id uuid)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    made_at constant timestamptz := clock_timestamp();
    ids uuid[];
    made boolean[];
    found_id uuid;
    missing text;
BEGIN
    PERFORM pm_notify.check_notification(b) FROM unnest(batch) b;
    -- input is referenced twice, so it is computed once: each row keeps one new id.
    WITH input AS (
        SELECT u.o::int AS o, gen_random_uuid() AS new_id, u.tenant_id, u.user_id, u.type,
               u.title, u.message, u.channel, u.expires_at, u.dedup_key
        FROM unnest(batch) WITH ORDINALITY AS u(tenant_id, user_id, type, title, message, channel,
                                                expires_at, dedup_key, o)
    ), claimed AS (
        INSERT INTO pm_notify.notification_keys AS k (tenant_id, dedup_key, notification_id, created_at)
        SELECT DISTINCT ON (i.tenant_id, i.dedup_key) i.tenant_id, i.dedup_key, i.new_id, made_at
        FROM input i WHERE i.dedup_key IS NOT NULL
        ORDER BY i.tenant_id, i.dedup_key, i.o
        ON CONFLICT ON CONSTRAINT notification_keys_pkey DO NOTHING
        RETURNING k.tenant_id, k.dedup_key, k.notification_id
    ), inserted AS (
        INSERT INTO pm_notify.notifications AS n
            (id, user_id, tenant_id, type, title, message, channel, created_at, expires_at, dedup_key)
        SELECT i.new_id, i.user_id, i.tenant_id, i.type, i.title, i.message, i.channel,
               made_at + (i.o - 1) * interval '1 microsecond', i.expires_at, i.dedup_key
        FROM input i
        WHERE i.dedup_key IS NULL OR i.new_id IN (SELECT c.notification_id FROM claimed c)
        ORDER BY i.o
        RETURNING n.id
    )
    SELECT array_agg(coalesce(x.own, x.batch_twin, x.earlier) ORDER BY x.o),
           array_agg(x.own IS NOT NULL ORDER BY x.o)
      INTO ids, made
      FROM (SELECT i.o, m.id AS own,
                   (SELECT c.notification_id FROM claimed c
                    WHERE c.tenant_id = i.tenant_id AND c.dedup_key = i.dedup_key) AS batch_twin,
                   (SELECT k.notification_id FROM pm_notify.notification_keys k
                    WHERE k.tenant_id = i.tenant_id AND k.dedup_key = i.dedup_key) AS earlier
            FROM input i LEFT JOIN inserted m ON m.id = i.new_id) x;

    PERFORM pg_notify(pm_notify.channel(b.tenant_id),
                      json_build_object('id', ids[b.o], 'user_id', b.user_id)::text)
    FROM unnest(batch) WITH ORDINALITY AS b(tenant_id, user_id, type, title, message, channel,
                                            expires_at, dedup_key, o)
    WHERE made[b.o];

    -- A key another transaction committed after this statement's snapshot was taken (we waited
    -- for it in ON CONFLICT): this statement's snapshot sees it.
    FOR i IN 1 .. cardinality(ids) LOOP
        CONTINUE WHEN ids[i] IS NOT NULL;
        SELECT k.notification_id INTO found_id FROM pm_notify.notification_keys k
        WHERE k.tenant_id = (batch[i]).tenant_id AND k.dedup_key = (batch[i]).dedup_key;
        ids[i] := found_id;
        IF found_id IS NULL THEN
            -- Not visible: a REPEATABLE READ snapshot older than the other producer's commit.
            missing := (batch[i]).dedup_key;
            RAISE EXCEPTION 'pm_notify.notify: dedup key "%" was taken by a concurrent transaction',
                missing USING ERRCODE = 'serialization_failure';
        END IF;
    END LOOP;
    RETURN QUERY SELECT s.i, ids[s.i] FROM generate_subscripts(ids, 1) AS s(i) ORDER BY 1;
END $$;

-- Security invoker: an application (pm_app) writes only within its context (its tenant; its
-- user or tenant-wide); producers delivering for every tenant run as pm_service or through
-- pm_notify.deliver().
CREATE FUNCTION pm_notify.notify(tenant_id uuid, user_id uuid, type text, title text,
                                 message text, channel text DEFAULT 'in_app',
                                 expires_at timestamptz DEFAULT NULL,
                                 dedup_key text DEFAULT NULL)
RETURNS uuid
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.id FROM pm_notify.notify_rows(ARRAY[ROW(tenant_id, user_id, type, title, message,
                                                      channel, expires_at, dedup_key)::pm_notify.new_notification]) r
$$;
COMMENT ON FUNCTION pm_notify.notify(uuid, uuid, text, text, text, text, timestamptz, text) IS
  'Creates a notification (user_id NULL: every user of the tenant); idempotent on dedup_key per tenant';

------------------------------------------------------------------------------
-- Reading, as the context user
------------------------------------------------------------------------------

-- What unread() and unread_count() read: the caller's own unread rows and the tenant-wide
-- rows this user has neither read nor dismissed.  A security-invoker view, so the caller's
-- RLS applies on top of the explicit filters (and EXPLAIN of it shows their plan).
CREATE VIEW pm_notify.my_unread WITH (security_invoker = true) AS
    SELECT n.id, n.user_id, n.tenant_id, n.created_at
    FROM pm_notify.notifications n
    WHERE n.tenant_id = pm.require_tenant() AND n.user_id = pm.current_user_id()
      AND NOT n.is_read AND n.deleted_at IS NULL
      AND (n.expires_at IS NULL OR n.expires_at > now())
    UNION ALL
    SELECT n.id, n.user_id, n.tenant_id, n.created_at
    FROM pm_notify.notifications n
    WHERE n.tenant_id = pm.require_tenant() AND n.user_id IS NULL
      AND NOT n.is_read AND n.deleted_at IS NULL
      AND (n.expires_at IS NULL OR n.expires_at > now())
      AND NOT EXISTS (SELECT 1 FROM pm_notify.notification_receipts r
                      WHERE r.tenant_id = n.tenant_id AND r.user_id = pm.current_user_id()
                        AND r.notification_id = n.id);
COMMENT ON VIEW pm_notify.my_unread IS
  'The context user''s unread notifications (own and tenant-wide), ids only';

CREATE FUNCTION pm_notify.unread_count() RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int;
BEGIN
    PERFORM pm_notify.caller();
    SELECT count(*) INTO n FROM pm_notify.my_unread;
    RETURN n;
END $$;
COMMENT ON FUNCTION pm_notify.unread_count() IS
  'How many notifications the context user has not read (own and tenant-wide), expired and deleted excluded';

-- The row shape of unread() and recent(): is_read / read_at are the caller's, also for
-- tenant-wide rows.
CREATE TYPE pm_notify.item AS (
    id         uuid,
    user_id    uuid,
    tenant_id  uuid,
    type       text,
    title      text,
    message    text,
    channel    text,
    is_read    boolean,
    created_at timestamptz,
    read_at    timestamptz,
    expires_at timestamptz
);

CREATE FUNCTION pm_notify.unread(max int DEFAULT 50) RETURNS SETOF pm_notify.item
LANGUAGE plpgsql STABLE ROWS 50
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me record := pm_notify.caller();
BEGIN
    PERFORM pm_notify.check_page('pm_notify.unread', max);
    -- Each branch walks its index newest first and stops at max: no sort of all unread rows.
    RETURN QUERY
    SELECT x.id, x.user_id, x.tenant_id, x.type::text, x.title, x.message, x.channel::text,
           false, x.created_at, NULL::timestamptz, x.expires_at
    FROM ((SELECT n.* FROM pm_notify.notifications n
           WHERE n.tenant_id = me.tenant AND n.user_id = me.usr
             AND NOT n.is_read AND n.deleted_at IS NULL
             AND (n.expires_at IS NULL OR n.expires_at > now())
           ORDER BY n.created_at DESC LIMIT max)
          UNION ALL
          (SELECT n.* FROM pm_notify.notifications n
           WHERE n.tenant_id = me.tenant AND n.user_id IS NULL
             AND NOT n.is_read AND n.deleted_at IS NULL
             AND (n.expires_at IS NULL OR n.expires_at > now())
             AND NOT EXISTS (SELECT 1 FROM pm_notify.notification_receipts r
                             WHERE r.tenant_id = n.tenant_id AND r.user_id = me.usr
                               AND r.notification_id = n.id)
           ORDER BY n.created_at DESC LIMIT max)) x
    ORDER BY x.created_at DESC, x.id
    LIMIT max;
END $$;
COMMENT ON FUNCTION pm_notify.unread(int) IS
  'The context user''s unread notifications, newest first (at most max, 1-1000)';

-- Keyset pages: pass the last row's created_at as `before` for the next page.
CREATE FUNCTION pm_notify.recent(max int DEFAULT 50, before timestamptz DEFAULT NULL)
RETURNS SETOF pm_notify.item
LANGUAGE plpgsql STABLE ROWS 50
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me record := pm_notify.caller();
    upto constant timestamptz := coalesce(before, 'infinity');
BEGIN
    PERFORM pm_notify.check_page('pm_notify.recent', max);
    RETURN QUERY
    SELECT x.id, x.user_id, x.tenant_id, x.type::text, x.title, x.message, x.channel::text,
           x.is_read, x.created_at, x.read_at, x.expires_at
    FROM ((SELECT n.id, n.user_id, n.tenant_id, n.type, n.title, n.message, n.channel, n.is_read,
                  n.created_at, n.read_at, n.expires_at
           FROM pm_notify.notifications n
           WHERE n.tenant_id = me.tenant AND n.user_id = me.usr AND n.created_at < upto
             AND n.deleted_at IS NULL AND (n.expires_at IS NULL OR n.expires_at > now())
           ORDER BY n.created_at DESC LIMIT max)
          UNION ALL
          (SELECT n.id, n.user_id, n.tenant_id, n.type, n.title, n.message, n.channel,
                  r.read_at IS NOT NULL, n.created_at, r.read_at, n.expires_at
           FROM pm_notify.notifications n
           LEFT JOIN pm_notify.notification_receipts r
             ON r.tenant_id = n.tenant_id AND r.user_id = me.usr AND r.notification_id = n.id
           WHERE n.tenant_id = me.tenant AND n.user_id IS NULL AND n.created_at < upto
             AND n.deleted_at IS NULL AND (n.expires_at IS NULL OR n.expires_at > now())
             AND r.dismissed_at IS NULL
           ORDER BY n.created_at DESC LIMIT max)) x
    ORDER BY x.created_at DESC, x.id
    LIMIT max;
END $$;
COMMENT ON FUNCTION pm_notify.recent(int, timestamptz) IS
  'The context user''s notifications (read or not) created before `before`, newest first: keyset pages';

------------------------------------------------------------------------------
-- Read state, as the context user
------------------------------------------------------------------------------

-- One body for mark_read, mark_all_read and dismiss.  ids NULL: every unread item (mark all).
-- Own rows change in place; tenant-wide rows get the caller's receipt.  Only the caller's
-- items change: the filters name the context user, and RLS holds the tenant.
CREATE FUNCTION pm_notify.set_state(fn text, ids uuid[], dismiss boolean) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me record := pm_notify.caller();
    at constant timestamptz := now();
    own int;
    shared int;
BEGIN
    IF ids IS NULL AND dismiss THEN
        RAISE EXCEPTION '%: ids must not be NULL', fn USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF cardinality(ids) > (pm_notify.limits()).batch_max THEN
        RAISE EXCEPTION '%: % ids given, at most % per call', fn, cardinality(ids),
            (pm_notify.limits()).batch_max USING ERRCODE = 'program_limit_exceeded';
    END IF;
    IF dismiss THEN
        UPDATE pm_notify.notifications n SET deleted_at = at
        WHERE n.tenant_id = me.tenant AND n.user_id = me.usr AND n.id = ANY (ids)
          AND n.deleted_at IS NULL;
    ELSE
        UPDATE pm_notify.notifications n SET is_read = true, read_at = at
        WHERE n.tenant_id = me.tenant AND n.user_id = me.usr
          AND (ids IS NULL OR n.id = ANY (ids))
          AND NOT n.is_read AND n.deleted_at IS NULL
          AND (n.expires_at IS NULL OR n.expires_at > at);
    END IF;
    GET DIAGNOSTICS own = ROW_COUNT;

    INSERT INTO pm_notify.notification_receipts AS r
        (tenant_id, user_id, notification_id, created_at, read_at, dismissed_at)
    SELECT n.tenant_id, me.usr, n.id, n.created_at,
           CASE WHEN dismiss THEN NULL ELSE at END, CASE WHEN dismiss THEN at END
    FROM pm_notify.notifications n
    WHERE n.tenant_id = me.tenant AND n.user_id IS NULL
      AND (ids IS NULL OR n.id = ANY (ids))
      AND NOT n.is_read AND n.deleted_at IS NULL
      AND (dismiss OR n.expires_at IS NULL OR n.expires_at > at)
    ON CONFLICT ON CONSTRAINT notification_receipts_pkey DO UPDATE
        SET read_at = coalesce(r.read_at, EXCLUDED.read_at),
            dismissed_at = coalesce(r.dismissed_at, EXCLUDED.dismissed_at)
        WHERE (NOT dismiss AND r.read_at IS NULL AND r.dismissed_at IS NULL)
           OR (dismiss AND r.dismissed_at IS NULL);
    GET DIAGNOSTICS shared = ROW_COUNT;
    RETURN own + shared;
END $$;

CREATE FUNCTION pm_notify.mark_read(ids uuid[]) RETURNS int
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF ids IS NULL THEN
        RAISE EXCEPTION 'pm_notify.mark_read: ids must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'pm_notify.mark_all_read() marks everything.';
    END IF;
    RETURN pm_notify.set_state('pm_notify.mark_read', ids, false);
END $$;
COMMENT ON FUNCTION pm_notify.mark_read(uuid[]) IS
  'Marks the context user''s notifications among ids read; returns how many changed';

CREATE FUNCTION pm_notify.mark_all_read() RETURNS int
LANGUAGE sql VOLATILE
AS $$ SELECT pm_notify.set_state('pm_notify.mark_all_read', NULL, false) $$;
COMMENT ON FUNCTION pm_notify.mark_all_read() IS
  'Marks every unread notification of the context user read; returns how many changed';

CREATE FUNCTION pm_notify.dismiss(ids uuid[]) RETURNS int
LANGUAGE sql VOLATILE
AS $$ SELECT pm_notify.set_state('pm_notify.dismiss', ids, true) $$;
COMMENT ON FUNCTION pm_notify.dismiss(uuid[]) IS
  'Soft-deletes the context user''s notifications among ids (tenant-wide ones for this user only)';

------------------------------------------------------------------------------
-- System events
------------------------------------------------------------------------------

CREATE FUNCTION pm_notify.severity_rank(severity text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT array_position(ARRAY['low', 'medium', 'high', 'critical'], severity) $$;

-- Written by pm_service (and pm_notify.deliver); staff read them.  With a dedup key, a
-- repeat of an open incident (same tenant or system-wide, same key) bumps occurrences and
-- last_seen_at of that one event, raises its severity to the highest seen and keeps the
-- latest details; it returns the event's id.
CREATE FUNCTION pm_notify.system_event(event_type text, severity text, description text,
                                       details jsonb DEFAULT NULL, tenant_id uuid DEFAULT NULL,
                                       user_id uuid DEFAULT NULL, dedup_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    fn constant text := 'pm_notify.system_event';
    scope constant uuid := coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid);
    made_at constant timestamptz := now();
    event bigint;
    event_made timestamptz;
BEGIN
    PERFORM pm_notify.check_text(fn, 'event_type', event_type, 100);
    IF severity IS NULL OR pm_notify.severity_rank(severity) IS NULL THEN
        RAISE EXCEPTION '%: unknown severity "%"; expected one of low, medium, high, critical',
            fn, coalesce(severity, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pm_notify.check_text(fn, 'description', description,
                                 (pm_notify.limits()).description_chars);
    IF details IS NOT NULL AND jsonb_typeof(details) <> 'object' THEN
        RAISE EXCEPTION '%: details must be a JSON object, got a JSON %', fn, jsonb_typeof(details)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(details::text) > (pm_notify.limits()).details_bytes THEN
        RAISE EXCEPTION '%: details are % bytes of JSON, at most % are allowed', fn,
            octet_length(details::text), (pm_notify.limits()).details_bytes
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Keep ids and counts in details; raw logs go to external logging.';
    END IF;

    IF dedup_key IS NOT NULL THEN
        PERFORM pm_notify.check_text(fn, 'dedup_key', dedup_key, (pm_notify.limits()).dedup_key_chars);
        event := nextval(pg_get_serial_sequence('pm_notify.admin_system_events', 'id'));
        INSERT INTO pm_notify.open_events AS o (tenant_scope, dedup_key, event_id, created_at)
        VALUES (scope, dedup_key, event, made_at)
        ON CONFLICT ON CONSTRAINT open_events_pkey DO NOTHING;
        IF NOT FOUND THEN
            SELECT o.event_id, o.created_at INTO event, event_made FROM pm_notify.open_events o
            WHERE o.tenant_scope = scope AND o.dedup_key = system_event.dedup_key;
            IF NOT FOUND THEN
                RAISE EXCEPTION '%: open event "%" was taken by a concurrent transaction', fn, dedup_key
                    USING ERRCODE = 'serialization_failure';
            END IF;
            UPDATE pm_notify.admin_system_events e
               SET occurrences = e.occurrences + 1, last_seen_at = clock_timestamp(),
                   severity = CASE WHEN pm_notify.severity_rank(severity) > pm_notify.severity_rank(e.severity)
                                   THEN severity ELSE e.severity END,
                   details = coalesce(details, e.details)
             WHERE e.id = event AND e.created_at = event_made;
            RETURN event;
        END IF;
        INSERT INTO pm_notify.admin_system_events
            (id, created_at, event_type, severity, description, details, tenant_id, user_id,
             dedup_key, last_seen_at) OVERRIDING SYSTEM VALUE
        VALUES (event, made_at, event_type, severity, description, details, tenant_id, user_id,
                dedup_key, made_at);
        RETURN event;
    END IF;
    INSERT INTO pm_notify.admin_system_events
        (created_at, event_type, severity, description, details, tenant_id, user_id, last_seen_at)
    VALUES (made_at, event_type, severity, description, details, tenant_id, user_id, made_at)
    RETURNING id INTO event;
    RETURN event;
END $$;
COMMENT ON FUNCTION pm_notify.system_event(text, text, text, jsonb, uuid, uuid, text) IS
  'Records a system event, or bumps the open one with the same dedup key; returns its id';

-- Closes an event; its dedup key is free again, so the next incident opens a new event.
-- Returns false when the event was already resolved.
CREATE FUNCTION pm_notify.resolve(id bigint, resolved_by uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    was_open boolean;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'pm_notify.resolve: id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT NOT e.is_resolved INTO was_open FROM pm_notify.admin_system_events e WHERE e.id = id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pm_notify.resolve: no system event with id %', id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT was_open THEN
        RETURN false;
    END IF;
    UPDATE pm_notify.admin_system_events e
       SET is_resolved = true, resolved_at = now(), resolved_by = resolve.resolved_by
     WHERE e.id = id;
    DELETE FROM pm_notify.open_events o WHERE o.event_id = id;
    RETURN true;
END $$;
COMMENT ON FUNCTION pm_notify.resolve(bigint, uuid) IS
  'Resolves a system event (staff or service); false when it was resolved already';

-- What a producer that saw the incident end knows: its key, not the event id.
CREATE FUNCTION pm_notify.resolve_key(dedup_key text, tenant_id uuid DEFAULT NULL,
                                      resolved_by uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    event bigint;
BEGIN
    PERFORM pm_notify.check_text('pm_notify.resolve_key', 'dedup_key', dedup_key,
                                 (pm_notify.limits()).dedup_key_chars);
    SELECT o.event_id INTO event FROM pm_notify.open_events o
    WHERE o.tenant_scope = coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)
      AND o.dedup_key = dedup_key;
    IF FOUND THEN
        PERFORM pm_notify.resolve(event, resolved_by);
    END IF;
    RETURN event;
END $$;
COMMENT ON FUNCTION pm_notify.resolve_key(text, uuid, uuid) IS
  'Resolves the open event with this dedup key (NULL tenant: system-wide); returns its id or NULL';

-- A tenant's own events, for its admin pages: the only way a tenant reads admin_system_events.
CREATE FUNCTION pm_notify.tenant_events(max int DEFAULT 50, include_resolved boolean DEFAULT false)
RETURNS TABLE(id bigint, created_at timestamptz, event_type text, severity text,
              description text, occurrences int, last_seen_at timestamptz, is_resolved boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    tenant constant uuid := pm.require_tenant();
BEGIN
    PERFORM pm_notify.check_page('pm_notify.tenant_events', max);
    RETURN QUERY
    SELECT e.id, e.created_at, e.event_type, e.severity, e.description, e.occurrences,
           e.last_seen_at, e.is_resolved
    FROM pm_notify.admin_system_events e
    WHERE e.tenant_id = tenant AND (include_resolved OR NOT e.is_resolved)
    ORDER BY e.created_at DESC LIMIT max;
END $$;
COMMENT ON FUNCTION pm_notify.tenant_events(int, boolean) IS
  'The context tenant''s own system events (details and system-wide events stay staff-only)';

------------------------------------------------------------------------------
-- Delivery from other tiers
------------------------------------------------------------------------------

-- The entry point of a pm_fdw link (pm.tier_call('notify', 'deliver', ARRAY[items])): a JSON
-- array of items {"kind": "notification", "ref": ..., <notify() arguments>} /
-- {"kind": "system_event", "ref": ..., <system_event() arguments>} /
-- {"kind": "resolve", "ref": ..., "dedup_key", "tenant_id"}.  A notification's dedup_key is
-- its producer's (pm_oltp uses the job id), so a batch delivered twice makes nothing twice.
-- Returns one row per item: its ref and the id made (or found).  Security definer: the link's
-- login gets EXECUTE on this function only (pm_notify.grant_producer).
CREATE FUNCTION pm_notify.deliver(items jsonb)
RETURNS TABLE(ref text, id text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    item jsonb;
    made int := 0;
    kind text;
    notes pm_notify.new_notification[];
    note_ids text[];
BEGIN
    IF items IS NULL OR jsonb_typeof(items) <> 'array' THEN
        RAISE EXCEPTION 'pm_notify.deliver: items must be a JSON array, got %',
            coalesce(jsonb_typeof(items), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(items) > (pm_notify.limits()).batch_max THEN
        RAISE EXCEPTION 'pm_notify.deliver: % items, at most % per call', jsonb_array_length(items),
            (pm_notify.limits()).batch_max USING ERRCODE = 'program_limit_exceeded';
    END IF;
    -- Notifications, the bulk of every batch, in one set-based call; events and resolutions
    -- (rare) one by one.  Rows come back in the order of the items.
    SELECT array_agg(ROW((e.item ->> 'tenant_id')::uuid, (e.item ->> 'user_id')::uuid,
                         e.item ->> 'type', e.item ->> 'title', e.item ->> 'message',
                         coalesce(e.item ->> 'channel', 'in_app'), (e.item ->> 'expires_at')::timestamptz,
                         e.item ->> 'dedup_key')::pm_notify.new_notification ORDER BY e.o)
      INTO notes
      FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, o)
     WHERE e.item ->> 'kind' = 'notification';
    IF notes IS NOT NULL THEN
        SELECT array_agg(r.id::text ORDER BY r.ord) INTO note_ids FROM pm_notify.notify_rows(notes) r;
    END IF;
    FOR item IN SELECT e.item FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, o) ORDER BY e.o LOOP
        kind := item ->> 'kind';
        ref := item ->> 'ref';
        CASE kind
            WHEN 'notification' THEN
                -- notify_rows() answered in item order: the next of its ids is this item's.
                made := made + 1;
                id := note_ids[made];
            WHEN 'system_event' THEN
                id := pm_notify.system_event(item ->> 'event_type', item ->> 'severity',
                                             item ->> 'description', item -> 'details',
                                             (item ->> 'tenant_id')::uuid, (item ->> 'user_id')::uuid,
                                             item ->> 'dedup_key');
            WHEN 'resolve' THEN
                id := pm_notify.resolve_key(item ->> 'dedup_key', (item ->> 'tenant_id')::uuid);
            ELSE
                RAISE EXCEPTION 'pm_notify.deliver: unknown item kind "%"; expected notification, '
                    'system_event or resolve', coalesce(kind, 'NULL')
                    USING ERRCODE = 'invalid_parameter_value';
        END CASE;
        RETURN NEXT;
    END LOOP;
END $$;
COMMENT ON FUNCTION pm_notify.deliver(jsonb) IS
  'Producer entry point of a pm_fdw link: a batch of notifications / system events / resolutions, idempotent by dedup key';

-- The login another tier's pm_fdw link uses: it may deliver and nothing else (no table
-- privilege, reads nothing).
CREATE FUNCTION pm_notify.grant_producer(login name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        RAISE EXCEPTION 'role "%" does not exist', login USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA pm_notify TO %I', login);
    EXECUTE format('GRANT EXECUTE ON FUNCTION pm_notify.deliver(jsonb) TO %I', login);
END $$;

------------------------------------------------------------------------------
-- Retention
------------------------------------------------------------------------------

-- Deletes at most `batch` rows: notifications past expires_at or older than
-- pm_notify.retain_notifications (default 90 days) with their receipts and dedup keys, then
-- resolved events older than pm_notify.retain_events (default 365 days).  Row locks only, in
-- short statements; call it until it returns less than batch (pm_notify.cleanup_all does).
CREATE FUNCTION pm_notify.cleanup(batch int DEFAULT 10000) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_at constant timestamptz := now();
    notes_before constant timestamptz :=
        now_at - pm_notify.setting_interval('pm_notify.retain_notifications', '90 days');
    events_before constant timestamptz :=
        now_at - pm_notify.setting_interval('pm_notify.retain_events', '365 days');
    notes int;
    events int := 0;
BEGIN
    IF batch IS NULL OR batch < 1 OR batch > 1000000 THEN
        RAISE EXCEPTION 'pm_notify.cleanup: batch must be between 1 and 1000000, got %',
            coalesce(batch::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH doomed AS (
        (SELECT n.id, n.created_at FROM pm_notify.notifications n
         WHERE n.created_at < notes_before LIMIT batch)
        UNION
        (SELECT n.id, n.created_at FROM pm_notify.notifications n
         WHERE n.expires_at <= now_at LIMIT batch)
        LIMIT batch
    ), gone AS (
        DELETE FROM pm_notify.notifications n USING doomed d
        WHERE n.id = d.id AND n.created_at = d.created_at
        RETURNING n.id, n.tenant_id, n.user_id, n.dedup_key
    ), receipts AS (
        DELETE FROM pm_notify.notification_receipts r USING gone g
        WHERE g.user_id IS NULL AND r.notification_id = g.id
    ), keys AS (
        DELETE FROM pm_notify.notification_keys k USING gone g
        WHERE k.tenant_id = g.tenant_id AND k.dedup_key = g.dedup_key
    )
    SELECT count(*) INTO notes FROM gone;

    IF notes < batch THEN
        WITH doomed AS (
            SELECT e.id, e.created_at FROM pm_notify.admin_system_events e
            WHERE e.created_at < events_before AND e.is_resolved
            LIMIT batch - notes
        ), gone AS (
            DELETE FROM pm_notify.admin_system_events e USING doomed d
            WHERE e.id = d.id AND e.created_at = d.created_at
            RETURNING e.id
        )
        SELECT count(*) INTO events FROM gone;
    END IF;
    RETURN notes + events;
END $$;
COMMENT ON FUNCTION pm_notify.cleanup(int) IS
  'Retention: deletes at most batch expired / old notifications and old resolved events; returns how many';

-- What pg_cron runs: cleanup() in batches, each its own transaction.  Whole months past
-- retention are the partition manager's to drop (pm.run_maintenance): this keeps their
-- partition sets' retention equal to the settings (at least one partition), so a partition
-- is dropped only once every row in it is past retention.  No SET clause: a procedure with
-- one cannot COMMIT.
CREATE PROCEDURE pm_notify.cleanup_all(batch int DEFAULT 10000)
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    UPDATE pm.partition_sets s
       SET retention = greatest(interval '1 month', CASE s.parent
               WHEN 'pm_notify.notifications'::pg_catalog.regclass
               THEN pm_notify.setting_interval('pm_notify.retain_notifications', '90 days')
               ELSE pm_notify.setting_interval('pm_notify.retain_events', '365 days') END)
     WHERE s.parent IN ('pm_notify.notifications'::pg_catalog.regclass,
                        'pm_notify.admin_system_events'::pg_catalog.regclass)
       AND s.retention IS DISTINCT FROM greatest(interval '1 month', CASE s.parent
               WHEN 'pm_notify.notifications'::pg_catalog.regclass
               THEN pm_notify.setting_interval('pm_notify.retain_notifications', '90 days')
               ELSE pm_notify.setting_interval('pm_notify.retain_events', '365 days') END);
    COMMIT;
    LOOP
        n := pm_notify.cleanup(batch);
        COMMIT;
        EXIT WHEN n < batch;
    END LOOP;
END $$;
COMMENT ON PROCEDURE pm_notify.cleanup_all(int) IS
  'cleanup() until done, one transaction per batch; keeps the partition sets'' retention equal to the settings';

CREATE FUNCTION pm_notify.cron_jobs() RETURNS TABLE(job_name text, schedule text, command text)
LANGUAGE sql IMMUTABLE
AS $$
    VALUES ('pm-notify-cleanup', '17 * * * *', 'CALL pm_notify.cleanup_all()'),
           -- The months ahead, and the retention of whole months past the settings.
           ('pm-notify-partitions', '*/10 * * * *', 'CALL pm.run_maintenance_proc()')
$$;

CREATE FUNCTION pm_notify.schedule() RETURNS TABLE(job_name text, schedule text, command text, jobid bigint)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT j.job_name, j.schedule, j.command,
           pm.cron_schedule(j.job_name, j.schedule, j.command,
                            'Preload pg_cron and CREATE EXTENSION pg_cron here, or run '
                            'CALL pm_notify.cleanup_all() from another scheduler.')
    FROM pm_notify.cron_jobs() j
$$;
COMMENT ON FUNCTION pm_notify.schedule() IS
  'Installs (or replaces) the pg_cron jobs of the notifications tier (hourly cleanup, partition maintenance)';

------------------------------------------------------------------------------
-- Partitions, isolation, privileges
------------------------------------------------------------------------------

-- Applications change only the read state of their own rows: no UPDATE of tenant-wide rows
-- (their state is per user, in receipts) and no hard DELETE (dismiss() soft-deletes).
-- Restrictive policies narrow the isolation policy; pm_service and pm_staff bypass RLS.
CREATE POLICY personal_updates ON pm_notify.notifications AS RESTRICTIVE FOR UPDATE TO PUBLIC
    USING (user_id IS NOT NULL) WITH CHECK (user_id IS NOT NULL);
CREATE POLICY no_app_deletes ON pm_notify.notifications AS RESTRICTIVE FOR DELETE TO PUBLIC
    USING (false);
CREATE POLICY keys_are_final ON pm_notify.notification_keys AS RESTRICTIVE FOR UPDATE TO PUBLIC
    USING (false);
CREATE POLICY keys_stay ON pm_notify.notification_keys AS RESTRICTIVE FOR DELETE TO PUBLIC
    USING (false);

-- Retention of whole months (the defaults of the settings; cleanup_all() keeps them equal).
SELECT pm.partition_create_parent('pm_notify.notifications', 'created_at', 'month', 2,
                                  retention => '90 days');
SELECT pm.partition_create_parent('pm_notify.admin_system_events', 'created_at', 'month', 2,
                                  retention => '365 days');

SELECT pm.enable_user_isolation('pm_notify.notifications');
SELECT pm.enable_user_isolation('pm_notify.notification_receipts');
SELECT pm.enable_tenant_isolation('pm_notify.notification_keys');
SELECT pm.enable_staff_only('pm_notify.admin_system_events');
SELECT pm.enable_staff_only('pm_notify.open_events', 'tenant_scope');
SELECT pm.set_table_access('pm_notify.my_unread', 'read');

-- One call per statement: each rewrites the extension's catalog row.
SELECT pg_catalog.pg_extension_config_dump('pm_notify.notifications', '');
SELECT pg_catalog.pg_extension_config_dump('pm_notify.notification_receipts', '');
SELECT pg_catalog.pg_extension_config_dump('pm_notify.notification_keys', '');
SELECT pg_catalog.pg_extension_config_dump('pm_notify.admin_system_events', '');
SELECT pg_catalog.pg_extension_config_dump('pm_notify.open_events', '');
SELECT pm.apply_grants();

-- Producer, maintenance and staff functions: not for applications.
REVOKE ALL ON FUNCTION pm_notify.deliver(jsonb), pm_notify.grant_producer(name),
    pm_notify.resolve(bigint, uuid), pm_notify.resolve_key(text, uuid, uuid),
    pm_notify.system_event(text, text, text, jsonb, uuid, uuid, text),
    pm_notify.cleanup(int), pm_notify.schedule() FROM PUBLIC;
REVOKE ALL ON PROCEDURE pm_notify.cleanup_all(int) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pm_service') THEN
        GRANT EXECUTE ON FUNCTION pm_notify.system_event(text, text, text, jsonb, uuid, uuid, text),
            pm_notify.resolve(bigint, uuid), pm_notify.resolve_key(text, uuid, uuid),
            pm_notify.cleanup(int) TO pm_service;
        GRANT EXECUTE ON PROCEDURE pm_notify.cleanup_all(int) TO pm_service;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pm_staff') THEN
        GRANT EXECUTE ON FUNCTION pm_notify.resolve(bigint, uuid) TO pm_staff;
    END IF;
END $$;
