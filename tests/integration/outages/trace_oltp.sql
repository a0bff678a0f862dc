-- Outage suite, OLTP: a trace of what the OLAP rollup consumed, read only when OLAP and a
-- recompute disagree after an outage.  Which transaction wrote each email, and when each
-- dirty key was acknowledged (deleted) and by which transaction.
\set ON_ERROR_STOP on
CREATE TABLE outage.email_writes (email_id uuid, tenant_id uuid, xid bigint, at timestamptz);
CREATE TABLE outage.acked_keys (xid bigint, kind "char", tenant_id uuid, acked_by bigint,
                                at timestamptz);

CREATE FUNCTION outage.trace_email() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO outage.email_writes
    SELECT n.id, n.tenant_id, pg_current_xact_id()::text::bigint, clock_timestamp() FROM new_rows n;
    RETURN NULL;
END $$;
CREATE TRIGGER outage_trace AFTER INSERT ON pm_oltp.emails
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION outage.trace_email();

CREATE FUNCTION outage.trace_ack() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO outage.acked_keys
    SELECT o.xid::text::bigint, o.kind, o.tenant_id, pg_current_xact_id()::text::bigint, clock_timestamp()
    FROM old_rows o;
    RETURN NULL;
END $$;
CREATE TRIGGER outage_trace AFTER DELETE ON pm_oltp.olap_dirty_keys
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION outage.trace_ack();

-- The last emails of each tenant with the transaction that wrote them and what became of
-- that transaction's dirty keys.
CREATE FUNCTION outage.trace(per_tenant int) RETURNS TABLE(line text) LANGUAGE sql AS $$
    SELECT format('email %s tenant %s xid %s at %s; keys acked %s by %s',
                  w.email_id, left(w.tenant_id::text, 8), w.xid, w.at::time,
                  (SELECT string_agg(DISTINCT a.at::time::text, ',') FROM outage.acked_keys a WHERE a.xid = w.xid),
                  (SELECT string_agg(DISTINCT a.acked_by::text, ',') FROM outage.acked_keys a WHERE a.xid = w.xid))
    FROM (SELECT w.*, row_number() OVER (PARTITION BY w.tenant_id ORDER BY w.at DESC) AS r
          FROM outage.email_writes w) w
    WHERE w.r <= per_tenant ORDER BY w.tenant_id, w.at
$$;
