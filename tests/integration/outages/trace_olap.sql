-- Outage suite, OLAP: every watermark the rollup committed, with its transaction and time
-- (read with trace_oltp.sql's trace when OLAP and a recompute disagree).
\set ON_ERROR_STOP on
CREATE TABLE outage.watermarks (old_watermark bigint, new_watermark bigint, keys bigint,
                                xid bigint, at timestamptz);
CREATE FUNCTION outage.trace_watermark() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO outage.watermarks
    VALUES (OLD.watermark, NEW.watermark, NEW.last_keys, pg_current_xact_id()::text::bigint, clock_timestamp());
    RETURN NULL;
END $$;
CREATE TRIGGER outage_trace AFTER UPDATE ON pm_olap.rollup_state
    FOR EACH ROW EXECUTE FUNCTION outage.trace_watermark();
