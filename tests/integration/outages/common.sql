-- Outage suite, every tier database: outage.timed(statement) runs one call of the workload
-- and reports it on one line, so a loop can log what happened without psql's error output:
--   ok <ms> <result>            or            err <sqlstate> <ms> <message>
-- The time is measured in the server, so "fails in milliseconds" excludes psql's start.
CREATE SCHEMA outage;
CREATE FUNCTION outage.timed(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    r text;
BEGIN
    EXECUTE stmt INTO r;
    RETURN format('ok %s %s', round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1), r);
EXCEPTION WHEN OTHERS THEN
    RETURN format('err %s %s %s', SQLSTATE,
                  round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1),
                  replace(SQLERRM, E'\n', ' '));
END $$;
