-- pm_fdw 0.2 -> 0.3: tier_down / tier_up events in pm_core's event outbox.  The transition is
-- seen by a query that fails (and rolls back whatever it logged), so it is not logged there:
-- every shipping pass (pm.ship_outbox() or the outbox worker) calls pm.log_tier_transitions(),
-- which compares pm.tier_status() with the last state it logged and logs each change in its
-- own committed transaction.  With penguinmails preloaded the health is shared by every
-- backend; without, each backend sees only its own failures.  Needs pm_core 0.5.

\echo Use "ALTER EXTENSION pm_fdw UPDATE TO '0.3'" to load this file. \quit

DO $$
BEGIN
    IF to_regprocedure('pm.log_event(text, jsonb, text, text, uuid, text)') IS NULL THEN
        RAISE EXCEPTION 'pm_fdw 0.3 needs pm_core 0.5 or later'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER EXTENSION pm_core UPDATE; then update pm_fdw.';
    END IF;
END
$$;

CREATE TABLE pm.tier_transitions (
    server     name PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('up', 'down')),
    changed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pm.tier_transitions IS 'The last tier state pm.log_tier_transitions() logged, per link';
REVOKE ALL ON pm.tier_transitions FROM PUBLIC;

CREATE FUNCTION pm.log_tier_transitions() RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r       record;
    changed boolean;
    n       int := 0;
BEGIN
    FOR r IN
        SELECT t.tier, t.server, CASE t.state WHEN 'up' THEN 'up' ELSE 'down' END AS state,
               t.failures, t.last_error, l.state AS logged
          FROM pm.tier_status() t
          LEFT JOIN pm.tier_transitions l ON l.server = t.server
         WHERE l.state IS DISTINCT FROM CASE t.state WHEN 'up' THEN 'up' ELSE 'down' END
    LOOP
        -- The upsert decides between two concurrent passes: only the one that changed the
        -- row logs.  A link first seen up is no transition.
        INSERT INTO pm.tier_transitions AS l (server, state) VALUES (r.server, r.state)
        ON CONFLICT (server) DO UPDATE SET state = EXCLUDED.state, changed_at = now()
            WHERE l.state <> EXCLUDED.state
        RETURNING true INTO changed;
        IF coalesce(changed, false) AND NOT (r.logged IS NULL AND r.state = 'up') THEN
            PERFORM pm.log_event(CASE r.state WHEN 'down' THEN 'tier_down' ELSE 'tier_up' END,
                                 jsonb_build_object('tier', r.tier, 'server', r.server,
                                                    'failures', r.failures,
                                                    'last_error', left(r.last_error, 300)),
                                 CASE r.state WHEN 'down' THEN 'error' ELSE 'info' END,
                                 NULL, NULL);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION pm.log_tier_transitions() IS
  'Logs tier_down / tier_up for each link whose pm.tier_status() changed since the last call; returns how many';
REVOKE ALL ON FUNCTION pm.log_tier_transitions() FROM PUBLIC;
