-- Outage suite, OLAP and notifications databases: the reads a dashboard makes.
\set ON_ERROR_STOP on
CREATE FUNCTION outage.read(t uuid, u uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pm.set_context(t, u);
    IF to_regnamespace('pm_olap') IS NOT NULL THEN
        RETURN (SELECT count(*) FROM pm_olap.campaign_analytics)::text;
    END IF;
    RETURN pm_notify.unread_count()::text;
END $$;
