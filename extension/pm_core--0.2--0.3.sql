-- pm_core 0.2 -> 0.3: engagement aggregate and mailbox/domain health score, usable in every
-- tier (the OLAP rollups and dashboards use them).  A fresh CREATE EXTENSION pm_core runs
-- 0.1, 0.1 -> 0.2 and this script.  Implementation: src/core/engagement.cpp over
-- src/core/pure/engagement.cpp; formulas in docs/olap.md.

\echo Use "ALTER EXTENSION pm_core UPDATE TO '0.3'" to load this file. \quit

-- What pm.engagement returns: the eight totals and the seven rates (NULL when the
-- denominator is 0: delivery and bounce over sent, the others over delivered).
CREATE TYPE pm.engagement_totals AS (
    sent              bigint,
    delivered         bigint,
    opened            bigint,
    clicked           bigint,
    replied           bigint,
    bounced           bigint,
    unsubscribed      bigint,
    complaints        bigint,
    delivery_rate     float8,
    bounce_rate       float8,
    open_rate         float8,
    click_rate        float8,
    reply_rate        float8,
    unsubscribe_rate  float8,
    complaint_rate    float8
);

CREATE FUNCTION pm._engagement_step(internal, bigint, bigint, bigint, bigint, bigint, bigint,
                                    bigint, bigint)
RETURNS internal AS 'MODULE_PATHNAME', 'pm_engagement_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION pm._engagement_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'pm_engagement_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION pm._engagement_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'pm_engagement_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION pm._engagement_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'pm_engagement_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION pm._engagement_final(internal)
RETURNS pm.engagement_totals AS 'MODULE_PATHNAME', 'pm_engagement_final' LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE pm.engagement(sent bigint, delivered bigint, opened bigint, clicked bigint,
                               replied bigint, bounced bigint, unsubscribed bigint,
                               complaints bigint) (
    SFUNC = pm._engagement_step,
    STYPE = internal,
    FINALFUNC = pm._engagement_final,
    COMBINEFUNC = pm._engagement_combine,
    SERIALFUNC = pm._engagement_serialize,
    DESERIALFUNC = pm._engagement_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE pm.engagement(bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint) IS
  'Totals and rates over counter rows (NULL counters count as 0; rates NULL on a zero denominator)';

CREATE FUNCTION pm.health_score(sent bigint, delivered bigint, bounced bigint,
                                complaints bigint, replied bigint,
                                warmup_progress float8 DEFAULT 0)
RETURNS integer
AS 'MODULE_PATHNAME', 'pm_health_score' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pm.health_score(bigint, bigint, bigint, bigint, bigint, float8) IS
  'Mailbox/domain health 0-100: 80 - bounce penalty (>2%) - complaint penalty (>0.1%) + reply and warmup credit';

------------------------------------------------------------------------------
-- pg_cron jobs of the tiers
------------------------------------------------------------------------------

-- What every tier's schedule function does: a job of this database, replaced by name (so
-- re-running is idempotent), or 0A000 naming the database when pg_cron is not here, with
-- `hint` saying how else to run the jobs.
CREATE FUNCTION pm.cron_schedule(job_name text, schedule text, command text, hint text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'feature_not_supported', HINT = hint;
    END IF;
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
        INTO job USING job_name, schedule, command, current_database();
    RETURN job;
END $$;
COMMENT ON FUNCTION pm.cron_schedule(text, text, text, text) IS
  'Installs or replaces a pg_cron job of this database (0A000 with the hint when pg_cron is absent)';
REVOKE ALL ON FUNCTION pm.cron_schedule(text, text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION pm.partition_schedule(schedule text DEFAULT '*/10 * * * *',
                                                 job_name text DEFAULT 'pm-partitions')
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pm.cron_schedule(job_name, schedule, 'CALL pm.run_maintenance_proc()',
                            'CREATE EXTENSION pg_cron in the database named by cron.database_name, '
                            'or call pm.run_maintenance() from another scheduler.')
$$;
