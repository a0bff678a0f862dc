-- Outage suite, OLTP database (pm_oltp + pm_queue + pm_fdw, linked to content and
-- notifications): the workload's calls, as the platform's services would make them.
\set ON_ERROR_STOP on
-- Retries outlast the outages (the defaults give up after 3 attempts within seconds).
-- A lease of a worker that died with its session runs out within seconds.
INSERT INTO pm_queue.job_queues (name, max_attempts, backoff_base_ms, backoff_max_ms, timeout_seconds)
VALUES ('content-write', 1000, 100, 1000, 3);
UPDATE pm_queue.job_queues SET max_attempts = 1000, backoff_base_ms = 100, backoff_max_ms = 1000
 WHERE name = 'notifications';

CREATE TABLE outage.probes (n bigint PRIMARY KEY, event_id uuid NOT NULL);
-- One row per completion of a content-write job: twice would be a job run twice.
CREATE TABLE outage.content_done (job_id uuid NOT NULL, email_id uuid NOT NULL);
CREATE SEQUENCE outage.n;

-- A body is a function of its number: the job carries the number, never the body.
CREATE FUNCTION outage.body_text(n bigint) RETURNS text IMMUTABLE LANGUAGE sql
AS $$ SELECT format(E'Hi lead %s,\n\nquick question about your outage drills.\n\n-- Ava', n) $$;
CREATE FUNCTION outage.body_html(n bigint) RETURNS text IMMUTABLE LANGUAGE sql
AS $$ SELECT format('<p>Hi lead %s,</p><p>quick question about your outage drills.</p>', n) $$;

-- One send: the email row with its body's key, the content write as a job, an event for
-- external logging, and a delivery event on an earlier email (OLAP's input).
CREATE FUNCTION outage.send_one(t uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint := nextval('outage.n');
    c uuid;
    e uuid;
    earlier uuid;
BEGIN
    PERFORM pm.set_context(t);
    SELECT id INTO c FROM pm_oltp.campaigns WHERE tenant_id = t ORDER BY name LIMIT 1;
    INSERT INTO pm_oltp.emails (tenant_id, campaign_id, direction, recipient, subject, status,
                                content_storage_key, sent_at)
    VALUES (t, c, 'outbound', 'lead' || n || '@example.com', 'Hello ' || n, 'sent',
            pm.body_storage_key(t, outage.body_text(n), outage.body_html(n), NULL), clock_timestamp())
    RETURNING id INTO e;
    PERFORM pm_queue.enqueue('content-write', jsonb_build_object('email_id', e, 'n', n), tenant_id => t);
    INSERT INTO outage.probes VALUES (n, pm.log_event('outage_probe', jsonb_build_object('n', n)));
    SELECT id INTO earlier FROM pm_oltp.emails
     WHERE tenant_id = t AND status = 'sent' AND id <> e ORDER BY sent_at LIMIT 1;
    IF earlier IS NOT NULL THEN
        PERFORM pm_oltp.record_email_event(earlier, 'delivered');
    END IF;
    RETURN n::text;
END $$;

-- The content writer: puts each job's body through the link, checks the key the content
-- tier answers is the one OLTP stored, completes.  A failure (the tier down) is retried.
CREATE FUNCTION outage.content_pass(max_jobs int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    j record;
    em record;
    n bigint;
    done int := 0;
    failed int := 0;
BEGIN
    FOR j IN SELECT * FROM pm_queue.claim(ARRAY['content-write'], 'outage-content', max_jobs) LOOP
        SELECT * INTO em FROM pm_oltp.emails WHERE id = (j.payload->>'email_id')::uuid;
        n := (j.payload->>'n')::bigint;
        BEGIN
            PERFORM pm.set_context(em.tenant_id);
            IF pm.put_content(em.tenant_id, outage.body_text(n), outage.body_html(n))
               IS DISTINCT FROM em.content_storage_key THEN
                RAISE EXCEPTION 'content tier answered another key for email %', em.id;
            END IF;
            INSERT INTO outage.content_done VALUES (j.id, em.id);
            PERFORM pm_queue.complete(j.id, 'outage-content');
            done := done + 1;
        EXCEPTION WHEN OTHERS THEN
            PERFORM pm_queue.fail(j.id, 'outage-content', SQLSTATE || ': ' || SQLERRM);
            failed := failed + 1;
        END;
    END LOOP;
    RETURN done || '/' || failed;
END $$;

-- A read of earlier bodies through the link (the dashboard's message view).
CREATE FUNCTION outage.read_bodies(t uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pm.set_context(t);
    RETURN (SELECT count(*) FROM pm.resolve_content_many(ARRAY(
                SELECT content_storage_key FROM outage.content_done d
                  JOIN pm_oltp.emails e ON e.id = d.email_id
                 WHERE e.tenant_id = t ORDER BY d.email_id LIMIT 5)))::text;
END $$;

-- OLTP metadata read and write that need no other tier.
CREATE FUNCTION outage.read_metadata(t uuid) RETURNS text LANGUAGE sql AS $$
    SELECT count(*)::text FROM pm_oltp.emails WHERE tenant_id = t AND sent_at > now() - interval '1 hour'
$$;

-- A campaign completes: its notification is a job in the same transaction.
CREATE FUNCTION outage.complete_campaign() RETURNS text LANGUAGE sql AS $$
    UPDATE pm_oltp.campaigns SET status = 'completed'
     WHERE id = (SELECT id FROM pm_oltp.campaigns WHERE status = 'sending' AND name LIKE 'Wave %'
                  ORDER BY name LIMIT 1)
    RETURNING name
$$;

CREATE FUNCTION outage.deliver() RETURNS text LANGUAGE sql AS $$
    SELECT delivered || '/' || failed || '/' || pending FROM pm_oltp.deliver_notifications(200, 50)
$$;

-- What is still owed to the other tiers.
CREATE FUNCTION outage.pending() RETURNS text LANGUAGE sql AS $$
    SELECT format('content %s notify %s outbox %s',
        (SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'content-write' AND status <> 'completed'),
        (SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'notifications' AND status <> 'completed'),
        (SELECT coalesce(sum(pending), 0) FROM pm.outbox_status()))
$$;

-- How many of OLTP's content keys the content tier resolves, tenant by tenant (the link
-- carries each tenant's context, so each tenant resolves only its own keys).
CREATE FUNCTION outage.resolvable() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t uuid;
    total bigint := 0;
BEGIN
    FOR t IN SELECT id FROM pm_oltp.tenants LOOP
        PERFORM pm.set_context(t);
        total := total + (SELECT count(*) FROM pm.resolve_content_many(ARRAY(
            SELECT DISTINCT content_storage_key FROM pm_oltp.emails
             WHERE tenant_id = t AND content_storage_key IS NOT NULL)));
    END LOOP;
    RETURN total;
END $$;

