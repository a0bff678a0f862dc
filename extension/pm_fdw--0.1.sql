-- pm_fdw 0.1: the tier link.  Contract: ../shared/spec/fdw.md; reference: docs/fdw.md.
--
-- FOREIGN DATA WRAPPER pm_fdw (handler + validator in C++, fdw/), the functions that link
-- one tier database to another (pm.link_tier / pm.unlink_tier / pm.link_tier_shards), the
-- health view pm.tier_status() and the content-link helpers pm.resolve_content(_many) and
-- pm.put_content.  Objects live in schema pm (pm_core's).

\echo Use "CREATE EXTENSION pm_fdw" to load this file. \quit

CREATE FUNCTION pm.pm_fdw_handler() RETURNS fdw_handler
AS 'MODULE_PATHNAME', 'pm_fdw_handler' LANGUAGE C STRICT;

CREATE FUNCTION pm.pm_fdw_validator(text[], oid) RETURNS void
AS 'MODULE_PATHNAME', 'pm_fdw_validator' LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER pm_fdw HANDLER pm.pm_fdw_handler VALIDATOR pm.pm_fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER pm_fdw IS 'PenguinMails tier link (see docs/fdw.md)';

------------------------------------------------------------------------------
-- Health
------------------------------------------------------------------------------

CREATE FUNCTION pm._fdw_health(server oid, OUT state text, OUT failures int,
                               OUT last_error text, OUT last_ok timestamptz,
                               OUT retry_at timestamptz, OUT round_trip_ms float8)
AS 'MODULE_PATHNAME', 'pm_fdw_health' LANGUAGE C STRICT VOLATILE;

-- Readable by pm_app: names, states and scrubbed errors only (no option, no secret).
CREATE FUNCTION pm.tier_status()
RETURNS TABLE(tier text, server name, state text, failures int, last_error text,
              last_ok timestamptz, retry_at timestamptz, round_trip_ms float8)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT substr(o, 6) FROM unnest(s.srvoptions) o WHERE o LIKE 'tier=%'),
                    s.srvname::text),
           s.srvname, h.state, h.failures, h.last_error, h.last_ok, h.retry_at, h.round_trip_ms
    FROM pg_foreign_server s
    JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw AND w.fdwname = 'pm_fdw'
    CROSS JOIN LATERAL pm._fdw_health(s.oid) h
    ORDER BY 1, 2
$$;
COMMENT ON FUNCTION pm.tier_status() IS
  'Health of every pm_fdw server: up / down / probing, failures, last error, retry time';

------------------------------------------------------------------------------
-- Linking
------------------------------------------------------------------------------

CREATE FUNCTION pm._fdw_conninfo(conninfo text)
RETURNS TABLE(keyword text, value text)
AS 'MODULE_PATHNAME', 'pm_fdw_conninfo' LANGUAGE C STRICT;

-- Shards of a tier (content): resolve_content routes a key to
-- pm.storage_key_shard(key, count) of these.
CREATE TABLE pm.fdw_tier_shards (
    tier   text NOT NULL,
    shard  int  NOT NULL CHECK (shard >= 0),
    server name NOT NULL UNIQUE,
    PRIMARY KEY (tier, shard)
);
SELECT pg_catalog.pg_extension_config_dump('pm.fdw_tier_shards', '');

CREATE FUNCTION pm._fdw_remote_schema(tier text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT CASE tier WHEN 'content' THEN 'pm_content' WHEN 'olap' THEN 'pm_olap'
                     WHEN 'notify' THEN 'pm_notify' WHEN 'oltp' THEN 'pm_oltp'
                     WHEN 'queue' THEN 'pm_queue' END
$$;

-- Creates or updates one server, its PUBLIC user mapping and the link schema.
-- The password goes into the user mapping only; any error raised here is re-raised
-- with the password masked.
CREATE FUNCTION pm._fdw_link_server(tier text, srv text, conninfo text, user_name text,
                                    password text, link_schema text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    opt record;
    existing text[];
    wanted text[] := ARRAY['tier'];
    k text;
    msg text; det text; hnt text; st text;
    remote_schema text := pm._fdw_remote_schema(tier);
    grantee text;
BEGIN
    IF remote_schema IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('unknown tier %L', tier),
            HINT = 'Tiers are content, olap, notify, oltp and queue.';
    END IF;
    IF conninfo IS NULL OR btrim(conninfo) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'conninfo must name the remote tier database',
            HINT = 'For example ''host=127.0.0.1 port=5433 dbname=pm_content''.';
    END IF;
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_foreign_server WHERE srvname = srv) THEN
            EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER pm_fdw OPTIONS (tier %L)', srv, tier);
        END IF;
        SELECT array_agg(split_part(o, '=', 1)) INTO existing
        FROM pg_foreign_server s, unnest(s.srvoptions) o WHERE s.srvname = srv;
        FOR opt IN SELECT * FROM pm._fdw_conninfo(conninfo) LOOP
            IF opt.keyword = 'user' THEN
                user_name := coalesce(user_name, opt.value);
                CONTINUE;
            END IF;
            wanted := wanted || opt.keyword;
            EXECUTE format('ALTER SERVER %I OPTIONS (%s %I %L)', srv,
                           CASE WHEN opt.keyword = ANY (existing) THEN 'SET' ELSE 'ADD' END,
                           opt.keyword, opt.value);
        END LOOP;
        -- Connection options no longer in conninfo go (pm_fdw's own options stay).
        FOREACH k IN ARRAY coalesce(existing, '{}') LOOP
            IF NOT k = ANY (wanted) AND k NOT IN ('fetch_size', 'batch_size', 'on_unavailable',
                    'retry_interval', 'retry_max', 'updatable', 'propagate_tenant') THEN
                EXECUTE format('ALTER SERVER %I OPTIONS (DROP %I)', srv, k);
            END IF;
        END LOOP;
        EXECUTE format('ALTER SERVER %I OPTIONS (SET tier %L)', srv, tier);

        IF EXISTS (SELECT 1 FROM pg_user_mappings WHERE srvname = srv AND usename = 'public') THEN
            EXECUTE format('DROP USER MAPPING FOR PUBLIC SERVER %I', srv);
        END IF;
        EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (%s)', srv,
                       concat_ws(', ',
                                 CASE WHEN user_name IS NOT NULL THEN format('user %L', user_name) END,
                                 CASE WHEN password IS NOT NULL THEN format('password %L', password) END));

        IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = link_schema) THEN
            EXECUTE format('DROP SCHEMA %I CASCADE', link_schema);
        END IF;
        EXECUTE format('CREATE SCHEMA %I', link_schema);
        EXECUTE format('IMPORT FOREIGN SCHEMA %I FROM SERVER %I INTO %I', remote_schema, srv, link_schema);
        FOR grantee IN SELECT rolname FROM pg_roles WHERE rolname IN ('pm_app', 'pm_service', 'pm_staff') LOOP
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', link_schema, grantee);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I',
                           link_schema, grantee);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
        IF password IS NOT NULL AND password <> '' THEN
            msg := replace(msg, password, '********');
            det := replace(det, password, '********');
            hnt := replace(hnt, password, '********');
        END IF;
        msg := format('could not link tier %s: %s', tier, msg);
        IF coalesce(det, '') = '' AND coalesce(hnt, '') = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
        ELSIF coalesce(hnt, '') = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
        ELSE
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = coalesce(det, ''), HINT = hnt;
        END IF;
    END;
END $$;

-- log_min_error_statement = panic: a failing call must not copy its own text (with the
-- password argument) into the server log.  (log_statement = 'all' logs every statement
-- before it runs; pass the password from a client-side variable or keep that setting off.)
CREATE FUNCTION pm.link_tier(tier text, conninfo text, user_name text DEFAULT NULL,
                             password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET log_min_error_statement = panic
AS $$
BEGIN
    DELETE FROM pm.fdw_tier_shards s WHERE s.tier = link_tier.tier;
    PERFORM pm._fdw_link_server(tier, 'pm_tier_' || tier, conninfo, user_name, password,
                                'pm_' || tier || '_link');
END $$;
COMMENT ON FUNCTION pm.link_tier(text, text, text, text) IS
  'Creates/updates server pm_tier_<tier>, its user mapping and schema pm_<tier>_link (idempotent)';

-- A sharded tier (content): one server per shard, pm_tier_<tier>_<i>, schemas
-- pm_<tier>_link_<i>; keys route to shard pm.storage_key_shard(key, array_length(conninfos)).
CREATE FUNCTION pm.link_tier_shards(tier text, conninfos text[], user_name text DEFAULT NULL,
                                    password text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET log_min_error_statement = panic
AS $$
DECLARE
    i int;
BEGIN
    IF conninfos IS NULL OR cardinality(conninfos) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'conninfos must name at least one shard';
    END IF;
    PERFORM pm.unlink_tier(tier);
    FOR i IN 1 .. cardinality(conninfos) LOOP
        PERFORM pm._fdw_link_server(tier, format('pm_tier_%s_%s', tier, i - 1), conninfos[i],
                                    user_name, password, format('pm_%s_link_%s', tier, i - 1));
        INSERT INTO pm.fdw_tier_shards VALUES (tier, i - 1, format('pm_tier_%s_%s', tier, i - 1));
    END LOOP;
END $$;

CREATE FUNCTION pm.unlink_tier(tier text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    srv text;
BEGIN
    FOR srv IN
        SELECT s.srvname FROM pg_foreign_server s
        JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw AND w.fdwname = 'pm_fdw'
        WHERE s.srvname = 'pm_tier_' || tier OR s.srvname::text ~ ('^pm_tier_' || tier || '_[0-9]+$')
    LOOP
        EXECUTE format('DROP SERVER %I CASCADE', srv);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pm_' || tier || '_link') THEN
        EXECUTE format('DROP SCHEMA %I CASCADE', 'pm_' || tier || '_link');
    END IF;
    FOR srv IN SELECT nspname FROM pg_namespace WHERE nspname ~ ('^pm_' || tier || '_link_[0-9]+$') LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', srv);
    END LOOP;
    DELETE FROM pm.fdw_tier_shards s WHERE s.tier = unlink_tier.tier;
END $$;

------------------------------------------------------------------------------
-- Content through the link (OLTP database)
------------------------------------------------------------------------------

CREATE FUNCTION pm.resolve_content_many(storage_keys text[])
RETURNS TABLE(storage_key text, tenant_id uuid, content_text text, content_html text,
              headers jsonb, raw_size_bytes int, created_at timestamptz, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'pm_resolve_content_many'
LANGUAGE C VOLATILE STRICT ROWS 100;

CREATE FUNCTION pm.resolve_content(storage_key text)
RETURNS TABLE(storage_key text, tenant_id uuid, content_text text, content_html text,
              headers jsonb, raw_size_bytes int, created_at timestamptz, expires_at timestamptz)
LANGUAGE sql VOLATILE STRICT ROWS 1
AS $$ SELECT * FROM pm.resolve_content_many(ARRAY[storage_key]) $$;

CREATE FUNCTION pm._fdw_put_body(server name, tenant_id uuid, content_text text,
                                 content_html text, headers jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'pm_fdw_put_body' LANGUAGE C VOLATILE;

-- Stores a body in the content tier (on its shard) and returns its storage key.
CREATE FUNCTION pm.put_content(tenant_id uuid, content_text text, content_html text,
                               headers jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int;
    srv name;
BEGIN
    SELECT count(*) INTO n FROM pm.fdw_tier_shards WHERE tier = 'content';
    IF n = 0 THEN
        srv := 'pm_tier_content';
    ELSE
        SELECT server INTO srv FROM pm.fdw_tier_shards
        WHERE tier = 'content'
          AND shard = pm.storage_key_shard(pm.body_storage_key(tenant_id, content_text,
                                                               content_html, headers), n);
    END IF;
    RETURN pm._fdw_put_body(srv, tenant_id, content_text, content_html, headers);
END $$;

GRANT SELECT ON pm.fdw_tier_shards TO PUBLIC;
REVOKE ALL ON FUNCTION pm._fdw_link_server(text, text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pm.link_tier(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pm.link_tier_shards(text, text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pm.unlink_tier(text) FROM PUBLIC;
