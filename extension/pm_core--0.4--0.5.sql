-- pm_core 0.4 -> 0.5: the event outbox.  pm.log_event() appends an event in the caller's
-- transaction, one row per sink that wants it; pm.ship_outbox() (or the background worker,
-- with penguinmails preloaded and pm.outbox_databases naming this database) posts them in
-- batches and removes a batch only after the sink's 2xx.  Reference: docs/outbox.md.

\echo Use "ALTER EXTENSION pm_core UPDATE TO '0.5'" to load this file. \quit

CREATE FUNCTION pm._outbox_check_sink() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_outbox_check_sink'
LANGUAGE C;
CREATE FUNCTION pm._outbox_sinks_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_outbox_sinks_changed'
LANGUAGE C;

CREATE TABLE pm.outbox_sinks (
    name           text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('posthog', 'loki', 'otlp', 'jsonl', 'http')),
    url            text NOT NULL,
    events         text[],                 -- names and 'prefix*' patterns; NULL = all but email_*
    batch_max      int NOT NULL DEFAULT 1000 CHECK (batch_max BETWEEN 1 AND 50000),
    flush_interval interval NOT NULL DEFAULT '1 second'
                   CHECK (flush_interval >= '0' AND flush_interval <= '1 hour'),
    max_pending    bigint NOT NULL DEFAULT 1000000 CHECK (max_pending >= 1),
    max_age        interval NOT NULL DEFAULT '7 days'
                   CHECK (max_age >= '1 minute' AND max_age <= '90 days'),
    overflow       text NOT NULL DEFAULT 'drop_oldest'
                   CHECK (overflow IN ('drop_oldest', 'drop_newest')),
    enabled        boolean NOT NULL DEFAULT true,   -- false: collected (within bounds), not shipped
    timeout        interval NOT NULL DEFAULT '10 seconds'
                   CHECK (timeout >= '10 milliseconds' AND timeout <= '5 minutes'),
    created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pm.outbox_sinks IS
  'Where events are shipped; INSERT (name, kind, url) is a working sink. Credentials: pm.set_sink_secret()';
CREATE TRIGGER outbox_sinks_check BEFORE INSERT OR UPDATE ON pm.outbox_sinks
    FOR EACH ROW EXECUTE FUNCTION pm._outbox_check_sink();
CREATE TRIGGER outbox_sinks_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pm.outbox_sinks
    FOR EACH STATEMENT EXECUTE FUNCTION pm._outbox_sinks_changed();

-- Credentials, readable only by superusers (the shipper runs as one).  Never part of a URL,
-- a status or an error: the shipper replaces them by *** in everything it stores.
CREATE TABLE pm.outbox_sink_secrets (
    sink       text PRIMARY KEY REFERENCES pm.outbox_sinks (name) ON DELETE CASCADE ON UPDATE CASCADE,
    api_key    text,     -- PostHog: the project key in the body; other kinds: Authorization: Bearer
    username   text,     -- basic auth (Loki, Grafana Cloud)
    password   text,
    headers    jsonb CHECK (headers IS NULL OR jsonb_typeof(headers) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON pm.outbox_sink_secrets FROM PUBLIC;
-- 'secret': pm.apply_grants() gives it to no role (staff and services read every other table).
ALTER TABLE pm.table_access DROP CONSTRAINT table_access_app_access_check,
    ADD CONSTRAINT table_access_app_access_check
        CHECK (app_access IN ('write', 'read', 'none', 'secret'));
SELECT pm.set_table_access('pm.outbox_sink_secrets', 'secret');

-- What the shipper knows about each sink; written only by the shipper.
CREATE TABLE pm.outbox_sink_state (
    sink          text PRIMARY KEY,
    failures      int NOT NULL DEFAULT 0,
    last_error    text,
    last_ok       timestamptz,
    next_attempt  timestamptz,
    shipped_total bigint NOT NULL DEFAULT 0,
    dropped_total bigint NOT NULL DEFAULT 0,
    dead_total    bigint NOT NULL DEFAULT 0
);
REVOKE ALL ON pm.outbox_sink_state FROM PUBLIC;

-- One row per (event, sink).  Rows leave by DELETE once shipped; daily partitions, which the
-- partition manager drops once they are past every sink's max_age, so the space of deleted
-- rows goes back to the system with the partition instead of waiting for vacuum.
CREATE TABLE pm.outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    sink        text NOT NULL,
    event_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    level       text NOT NULL,
    event       text NOT NULL,
    tenant_id   uuid,
    distinct_id text,
    properties  jsonb NOT NULL
) PARTITION BY RANGE (created_at);
CREATE INDEX outbox_sink_idx ON pm.outbox (sink, id);
COMMENT ON TABLE pm.outbox IS
  'Events not yet shipped, one row per sink; written by pm.log_event(), read and deleted by the shipper';
REVOKE ALL ON pm.outbox FROM PUBLIC;
SELECT pm.enable_staff_only('pm.outbox');
SELECT pm.partition_create_parent('pm.outbox', 'created_at', 'day', premake => 2,
                                  retention => '8 days');
-- A dump keeps the registry rows of the application's sets only: the set of a table an
-- extension owns (this one, pm_notify's, pm_olap's) is registered again by that extension's
-- script when the dump is restored, and a dumped copy of its row would collide with it.
SELECT pg_catalog.pg_extension_config_dump('pm.partition_sets',
    'WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d'
    ' WHERE d.classid = ''pg_catalog.pg_class''::pg_catalog.regclass'
    '   AND d.objid = parent::pg_catalog.oid AND d.deptype = ''e'')');

-- Batches a sink refused for good (4xx other than 408/425/429), with its answer.
CREATE TABLE pm.outbox_dead (
    sink        text NOT NULL,
    event_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    level       text NOT NULL,
    event       text NOT NULL,
    tenant_id   uuid,
    distinct_id text,
    properties  jsonb NOT NULL,
    status      int NOT NULL,
    response    text,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_dead_sink_idx ON pm.outbox_dead (sink, failed_at);
REVOKE ALL ON pm.outbox_dead FROM PUBLIC;
SELECT pm.enable_staff_only('pm.outbox_dead');

CREATE FUNCTION pm.log_event(event text, properties jsonb DEFAULT '{}', level text DEFAULT 'info',
                             sink text DEFAULT NULL, tenant_id uuid DEFAULT pm.current_tenant_id(),
                             distinct_id text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'pm_log_event'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pm.log_event(text, jsonb, text, text, uuid, text) IS
  'Appends an event to the outbox in this transaction (shipped only if it commits); returns its event_id';

-- Whether any sink would receive `event`: producers of costly events ask before building them.
CREATE FUNCTION pm.outbox_wants(event text) RETURNS boolean
AS 'MODULE_PATHNAME', 'pm_outbox_wants'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION pm.ship_outbox(sink text DEFAULT NULL, max_events int DEFAULT 10000)
RETURNS int
AS 'MODULE_PATHNAME', 'pm_ship_outbox'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pm.ship_outbox(text, int) IS
  'One synchronous shipping pass (all sinks or one); returns the events the sinks accepted';
REVOKE ALL ON FUNCTION pm.ship_outbox(text, int) FROM PUBLIC;

CREATE FUNCTION pm.outbox_status()
RETURNS TABLE(sink text, state text, pending bigint, oldest_pending timestamptz,
              shipped_total bigint, dropped_total bigint, failures int, last_error text,
              last_ok timestamptz, next_attempt timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.name,
           CASE WHEN NOT s.enabled THEN 'disabled'
                WHEN coalesce(st.failures, 0) > 0 THEN 'backoff'
                WHEN p.pending > 0 THEN 'shipping'
                ELSE 'idle' END,
           coalesce(p.pending, 0), p.oldest,
           coalesce(st.shipped_total, 0), coalesce(st.dropped_total, 0),
           coalesce(st.failures, 0), st.last_error, st.last_ok, st.next_attempt
    FROM pm.outbox_sinks s
    LEFT JOIN pm.outbox_sink_state st ON st.sink = s.name
    LEFT JOIN LATERAL (SELECT count(*) AS pending, min(o.created_at) AS oldest
                       FROM pm.outbox o WHERE o.sink = s.name) p ON true
    ORDER BY s.name
$$;
COMMENT ON FUNCTION pm.outbox_status() IS
  'Per sink: idle / shipping / backoff / disabled, pending events, totals, last error (credentials redacted)';
REVOKE ALL ON FUNCTION pm.outbox_status() FROM PUBLIC;

CREATE FUNCTION pm.set_sink_secret(sink text, api_key text DEFAULT NULL, username text DEFAULT NULL,
                                   password text DEFAULT NULL, headers jsonb DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO pm.outbox_sink_secrets AS s (sink, api_key, username, password, headers)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (sink) DO UPDATE
       SET api_key = EXCLUDED.api_key, username = EXCLUDED.username,
           password = EXCLUDED.password, headers = EXCLUDED.headers, updated_at = now()
$$;
COMMENT ON FUNCTION pm.set_sink_secret(text, text, text, text, jsonb) IS
  'Stores the credentials of a sink (replacing earlier ones); superusers only';
REVOKE ALL ON FUNCTION pm.set_sink_secret(text, text, text, text, jsonb) FROM PUBLIC;

-- Bounds of one sink, applied by the shipper (at most once a second while events wait) and by
-- outbox_maintain(): events older than max_age, and past max_pending the oldest
-- (drop_oldest) or the newest (drop_newest), are deleted and counted in dropped_total.
CREATE FUNCTION pm.outbox_enforce_bounds(sink text) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s       pm.outbox_sinks%ROWTYPE;
    edge    bigint;
    dropped bigint := 0;
    n       bigint;
BEGIN
    SELECT * INTO s FROM pm.outbox_sinks WHERE name = outbox_enforce_bounds.sink;
    IF NOT FOUND THEN
        DELETE FROM pm.outbox o WHERE o.sink = outbox_enforce_bounds.sink;
        RETURN 0;
    END IF;
    DELETE FROM pm.outbox o WHERE o.sink = s.name AND o.created_at < now() - s.max_age;
    GET DIAGNOSTICS dropped = ROW_COUNT;
    -- The max_pending-th row from the end that is kept; every row beyond it goes.
    IF s.overflow = 'drop_oldest' THEN
        SELECT o.id INTO edge FROM pm.outbox o WHERE o.sink = s.name
         ORDER BY o.id DESC OFFSET s.max_pending - 1 LIMIT 1;
        DELETE FROM pm.outbox o WHERE o.sink = s.name AND o.id < edge;
    ELSE
        SELECT o.id INTO edge FROM pm.outbox o WHERE o.sink = s.name
         ORDER BY o.id OFFSET s.max_pending - 1 LIMIT 1;
        DELETE FROM pm.outbox o WHERE o.sink = s.name AND o.id > edge;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;  -- 0 when edge is NULL (within bounds): id < NULL is never true
    dropped := dropped + n;
    IF dropped > 0 THEN
        INSERT INTO pm.outbox_sink_state AS st (sink, dropped_total) VALUES (s.name, dropped)
        ON CONFLICT ON CONSTRAINT outbox_sink_state_pkey
        DO UPDATE SET dropped_total = st.dropped_total + EXCLUDED.dropped_total;
        RAISE WARNING 'outbox sink "%": dropped % events past its bounds (max_pending %, max_age %)',
            s.name, dropped, s.max_pending, s.max_age;
    END IF;
    RETURN dropped;
END
$$;
REVOKE ALL ON FUNCTION pm.outbox_enforce_bounds(text) FROM PUBLIC;

-- Housekeeping (pg_cron every 10 minutes): bounds of every sink, rows of deleted sinks,
-- dead letters past 30 days, and the outbox partitions: retention = the longest max_age plus
-- a day, so a partition is dropped only once nothing in it can still be shipped.
CREATE FUNCTION pm.outbox_maintain() RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped bigint := 0;
    s       record;
BEGIN
    FOR s IN SELECT name FROM pm.outbox_sinks ORDER BY name LOOP
        dropped := dropped + pm.outbox_enforce_bounds(s.name);
    END LOOP;
    DELETE FROM pm.outbox o WHERE NOT EXISTS (SELECT 1 FROM pm.outbox_sinks k WHERE k.name = o.sink);
    DELETE FROM pm.outbox_sink_state st WHERE NOT EXISTS (SELECT 1 FROM pm.outbox_sinks k WHERE k.name = st.sink);
    DELETE FROM pm.outbox_dead d WHERE d.failed_at < now() - interval '30 days';
    UPDATE pm.partition_sets ps
       SET retention = (SELECT coalesce(max(k.max_age), interval '7 days') + interval '1 day'
                        FROM pm.outbox_sinks k)
     WHERE ps.parent = 'pm.outbox'::regclass
       AND ps.retention IS DISTINCT FROM (SELECT coalesce(max(k.max_age), interval '7 days') + interval '1 day'
                                          FROM pm.outbox_sinks k);
    PERFORM pm.run_maintenance('pm.outbox');
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION pm.outbox_maintain() IS
  'Applies every sink''s bounds, forgets deleted sinks, prunes dead letters, rotates the outbox partitions';
REVOKE ALL ON FUNCTION pm.outbox_maintain() FROM PUBLIC;

CREATE FUNCTION pm.outbox_cron_jobs() RETURNS TABLE(job_name text, schedule text, command text)
LANGUAGE sql IMMUTABLE
AS $$
    VALUES ('pm-outbox-maintain', '*/10 * * * *', 'SELECT pm.outbox_maintain()'),
           ('pm-outbox-ship', '* * * * *', 'SELECT pm.ship_outbox()')
$$;
COMMENT ON FUNCTION pm.outbox_cron_jobs() IS
  'The pg_cron jobs of the outbox: maintenance, and a shipping pass a minute for databases without the worker';

CREATE FUNCTION pm.outbox_schedule(with_shipping boolean DEFAULT false) RETURNS SETOF bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pm.cron_schedule(j.job_name, j.schedule, j.command,
                            'CREATE EXTENSION pg_cron in this database, or run pm.outbox_maintain() from elsewhere')
    FROM pm.outbox_cron_jobs() j
    WHERE with_shipping OR j.job_name <> 'pm-outbox-ship'
$$;
COMMENT ON FUNCTION pm.outbox_schedule(boolean) IS
  'Installs the outbox''s pg_cron jobs (the shipping job only when asked: the worker ships when preloaded)';
REVOKE ALL ON FUNCTION pm.outbox_schedule(boolean) FROM PUBLIC;

-- Roles made before this upgrade get the new tables' grants now (and none on the secrets).
SELECT pm.apply_grants();
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pm_staff') THEN
        GRANT EXECUTE ON FUNCTION pm.outbox_status() TO pm_staff;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pm_service') THEN
        GRANT EXECUTE ON FUNCTION pm.outbox_status() TO pm_service;
    END IF;
END
$$;
