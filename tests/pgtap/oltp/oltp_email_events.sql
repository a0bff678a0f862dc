-- pm_oltp.record_email_event(): idempotent, order-independent, monotone, with the
-- documented consequences on leads and enrollments; runs under the caller's RLS.
\ir ../include/common.psql

BEGIN;
SELECT plan(47);

-- Calls record_email_event as `who` (tenant A's context unless who is pm_service)
-- and returns its result, or 'error:SQLSTATE: message'.
CREATE FUNCTION pg_temp.ev(email uuid, event text, at timestamptz, who text DEFAULT 'pm_app',
                           tenant uuid DEFAULT pg_temp.uid('a', 1))
RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    result text;
BEGIN
    BEGIN
        PERFORM pm.set_context(tenant);
        PERFORM set_config('role', who, true);
        SELECT pm_oltp.record_email_event(email, event, at)::text INTO result;
        PERFORM set_config('role', 'none', true);
        PERFORM pm.set_context(NULL);
    EXCEPTION WHEN OTHERS THEN
        result := 'error:' || SQLSTATE || ': ' || SQLERRM;
    END;
    RETURN result;
END
$f$;

CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS
$$ SELECT '2024-05-01 10:00:00+00'::timestamptz + h * interval '1 hour' $$;

-- Email n of tenant p to its own lead n, enrolled in campaigns 1 and 2.
CREATE FUNCTION pg_temp.email(p text, n int, lead_status text DEFAULT 'active') RETURNS uuid
LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO pm_oltp.leads (id, tenant_id, email, status)
    VALUES (pg_temp.uid(p, 600 + n), pg_temp.uid(p, 1), format('lead%s@%s.test', n, p), lead_status);
    INSERT INTO pm_oltp.campaign_leads (id, tenant_id, campaign_id, lead_id) VALUES
        (pg_temp.uid(p, 1000 + n), pg_temp.uid(p, 1), pg_temp.uid(p, 801), pg_temp.uid(p, 600 + n)),
        (pg_temp.uid(p, 2000 + n), pg_temp.uid(p, 1), pg_temp.uid(p, 802), pg_temp.uid(p, 600 + n));
    INSERT INTO pm_oltp.emails (id, tenant_id, campaign_id, lead_id, recipient)
    VALUES (pg_temp.uid(p, 1100 + n), pg_temp.uid(p, 1), pg_temp.uid(p, 801), pg_temp.uid(p, 600 + n),
            format('lead%s@%s.test', n, p));
    RETURN pg_temp.uid(p, 1100 + n);
END
$f$;

-- (email status, lead status, enrollment in campaign 1, enrollment in campaign 2)
CREATE FUNCTION pg_temp.state(p text, n int) RETURNS text LANGUAGE sql AS $$
    SELECT format('%s/%s/%s/%s', e.status, l.status, c1.status, c2.status)
    FROM pm_oltp.emails e
    JOIN pm_oltp.leads l ON l.id = pg_temp.uid(p, 600 + n)
    JOIN pm_oltp.campaign_leads c1 ON c1.id = pg_temp.uid(p, 1000 + n)
    JOIN pm_oltp.campaign_leads c2 ON c2.id = pg_temp.uid(p, 2000 + n)
    WHERE e.id = pg_temp.uid(p, 1100 + n)
$$;

INSERT INTO pm_oltp.tenants (id, name) VALUES (pg_temp.uid('a', 1), 'A'), (pg_temp.uid('b', 1), 'B');
INSERT INTO pm_oltp.campaigns (id, tenant_id, name) VALUES
    (pg_temp.uid('a', 801), pg_temp.uid('a', 1), 'A1'), (pg_temp.uid('a', 802), pg_temp.uid('a', 1), 'A2'),
    (pg_temp.uid('b', 801), pg_temp.uid('b', 1), 'B1'), (pg_temp.uid('b', 802), pg_temp.uid('b', 1), 'B2');
DO $$
BEGIN
    PERFORM pg_temp.email('a', n) FROM generate_series(1, 9) n;
    PERFORM pg_temp.email('a', 10, 'do_not_contact');
    PERFORM pg_temp.email('b', 1);
END
$$;

------------------------------------------------------------------------------
-- Idempotency and first occurrence
------------------------------------------------------------------------------

SELECT is(pg_temp.ev(pg_temp.uid('a', 1101), 'sent', pg_temp.t(0)), 'true', 'sent on a queued email changes it');
SELECT is((SELECT (status, sent_at)::text FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1101)),
          ('sent', pg_temp.t(0))::text, 'sent sets status sent and sent_at');
CREATE TEMP TABLE before_replay AS
SELECT ctid::text AS row_ctid, to_jsonb(e) AS row FROM pm_oltp.emails e WHERE id = pg_temp.uid('a', 1101);
SELECT is(pg_temp.ev(pg_temp.uid('a', 1101), 'sent', pg_temp.t(0)), 'false', 'replaying the same event returns false');
SELECT is((SELECT ctid::text FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1101)),
          (SELECT row_ctid FROM before_replay), 'replaying writes no new row version');
SELECT is((SELECT to_jsonb(e) FROM pm_oltp.emails e WHERE id = pg_temp.uid('a', 1101)),
          (SELECT row FROM before_replay), 'replaying changes nothing');
SELECT is(pg_temp.ev(pg_temp.uid('a', 1101), 'sent', pg_temp.t(-1)), 'true', 'an earlier occurrence arriving late changes it');
SELECT is(pg_temp.ev(pg_temp.uid('a', 1101), 'sent', pg_temp.t(5)), 'false', 'a later occurrence changes nothing');
SELECT is((SELECT sent_at FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1101)), pg_temp.t(-1),
          'sent_at keeps the earliest occurrence');
SELECT is(ARRAY[pg_temp.ev(pg_temp.uid('a', 1101), 'opened', pg_temp.t(3)),
                pg_temp.ev(pg_temp.uid('a', 1101), 'opened', pg_temp.t(2)),
                pg_temp.ev(pg_temp.uid('a', 1101), 'opened', pg_temp.t(4)),
                pg_temp.ev(pg_temp.uid('a', 1101), 'clicked', pg_temp.t(4))],
          ARRAY['true', 'true', 'false', 'true'], 'opened/clicked: first occurrence wins, replays are no-ops');
SELECT is((SELECT (status, opened_at, clicked_at)::text FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1101)),
          ('sent', pg_temp.t(2), pg_temp.t(4))::text, 'engagement events set their timestamps, not the status');

------------------------------------------------------------------------------
-- Order independence and monotone status
------------------------------------------------------------------------------

CREATE TEMP TABLE sequence_events (ord int, event text, h int);
INSERT INTO sequence_events VALUES
    (1, 'sent', 0), (2, 'delivered', 1), (3, 'opened', 2), (4, 'hard_bounce', 3),
    (5, 'soft_bounce', 1), (6, 'clicked', 4), (7, 'delivered', 0);
DO $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT * FROM sequence_events ORDER BY ord LOOP
        PERFORM pg_temp.ev(pg_temp.uid('a', 1102), s.event, pg_temp.t(s.h));
    END LOOP;
    FOR s IN SELECT * FROM sequence_events ORDER BY ord DESC LOOP
        PERFORM pg_temp.ev(pg_temp.uid('a', 1103), s.event, pg_temp.t(s.h));
    END LOOP;
END
$$;
CREATE FUNCTION pg_temp.outcome(id uuid) RETURNS text LANGUAGE sql AS $$
    SELECT (status, sent_at, delivered_at, opened_at, clicked_at, bounced_at, bounce_type)::text
    FROM pm_oltp.emails WHERE emails.id = outcome.id $$;
SELECT is(pg_temp.outcome(pg_temp.uid('a', 1102)), pg_temp.outcome(pg_temp.uid('a', 1103)),
          'the same events in opposite orders give the same email state');
SELECT is(pg_temp.outcome(pg_temp.uid('a', 1102)),
          ('bounced', pg_temp.t(0), pg_temp.t(0), pg_temp.t(2), pg_temp.t(4), pg_temp.t(1), 'hard')::text,
          'final state: bounced, earliest timestamps, hard bounce wins over soft');
SELECT is(pg_temp.state('a', 2), pg_temp.state('a', 3), 'lead and enrollments end the same in both orders');

SELECT is(pg_temp.ev(pg_temp.uid('a', 1102), 'delivered', pg_temp.t(-5)), 'true', 'an earlier delivery is still recorded on a bounced email');
SELECT is((SELECT (status, delivered_at)::text FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1102)),
          ('bounced', pg_temp.t(-5))::text, 'delivered does not undo bounced');
SELECT is(ARRAY[pg_temp.ev(pg_temp.uid('a', 1104), 'delivered', pg_temp.t(1)),
                pg_temp.ev(pg_temp.uid('a', 1104), 'sent', pg_temp.t(0))],
          ARRAY['true', 'true'], 'sent after delivered still records sent_at');
SELECT is((SELECT status FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1104))::text, 'delivered',
          'sent after delivered does not move the status back');
SELECT is(ARRAY[pg_temp.ev(pg_temp.uid('a', 1104), 'soft_bounce', pg_temp.t(2)),
                pg_temp.ev(pg_temp.uid('a', 1104), 'failed', pg_temp.t(3)),
                pg_temp.ev(pg_temp.uid('a', 1104), 'delivered', pg_temp.t(4)),
                pg_temp.ev(pg_temp.uid('a', 1104), 'failed', pg_temp.t(5))],
          ARRAY['true', 'true', 'false', 'false'], 'failed is final: later delivered/failed change nothing');
SELECT is((SELECT (status, bounce_type)::text FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1104)),
          '(failed,soft)', 'soft bounce then failed: status failed, bounce_type soft');

------------------------------------------------------------------------------
-- Consequences
------------------------------------------------------------------------------

SELECT is(pg_temp.ev(pg_temp.uid('a', 1105), 'replied', pg_temp.t(1)), 'true', 'replied changes the email');
SELECT is(pg_temp.state('a', 5), 'queued/active/replied/active',
          'replied: this campaign''s enrollment becomes replied; the lead and other campaigns are untouched');
SELECT is((SELECT replied_at FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1105)), pg_temp.t(1),
          'replied sets replied_at');

SELECT is(pg_temp.ev(pg_temp.uid('a', 1106), 'hard_bounce', pg_temp.t(1)), 'true', 'hard_bounce changes the email');
SELECT is(pg_temp.state('a', 6), 'bounced/bounced/bounced/bounced',
          'hard_bounce: email, lead and every enrollment of the lead are bounced');
SELECT is(pg_temp.ev(pg_temp.uid('a', 1106), 'soft_bounce', pg_temp.t(2)), 'false',
          'a soft bounce after a hard one changes nothing');
SELECT is((SELECT bounce_type FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1106))::text, 'hard',
          'bounce_type stays hard');

SELECT is(pg_temp.ev(pg_temp.uid('a', 1107), 'soft_bounce', pg_temp.t(1)), 'true', 'soft_bounce changes the email');
SELECT is((SELECT bounce_type || '/' || pg_temp.state('a', 7) FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1107)),
          'soft/bounced/active/active/active', 'soft_bounce: bounce_type soft, lead and enrollments untouched');
SELECT is(pg_temp.ev(pg_temp.uid('a', 1107), 'hard_bounce', pg_temp.t(2)), 'true', 'a hard bounce after a soft one changes it');
SELECT is((SELECT (bounce_type, bounced_at)::text || pg_temp.state('a', 7) FROM pm_oltp.emails
           WHERE id = pg_temp.uid('a', 1107)),
          ('hard', pg_temp.t(1))::text || 'bounced/bounced/bounced/bounced',
          'hard after soft: bounce_type hard, bounced_at kept, lead and enrollments bounced');

SELECT is(pg_temp.ev(pg_temp.uid('a', 1108), 'unsubscribed', pg_temp.t(1)), 'true', 'unsubscribed changes the email');
SELECT is(pg_temp.state('a', 8), 'queued/unsubscribed/unsubscribed/unsubscribed',
          'unsubscribed: lead and every enrollment unsubscribed');
SELECT is(pg_temp.ev(pg_temp.uid('a', 1108), 'replied', pg_temp.t(2)), 'true', 'a reply after unsubscribing is recorded');
SELECT is(pg_temp.state('a', 8), 'queued/unsubscribed/unsubscribed/unsubscribed',
          'a reply does not downgrade an unsubscribed enrollment');

SELECT is(pg_temp.ev(pg_temp.uid('a', 1109), 'complained', pg_temp.t(1)), 'true', 'complained changes the email');
SELECT is(pg_temp.state('a', 9), 'queued/complained/unsubscribed/unsubscribed',
          'complained: lead complained, enrollments unsubscribed');
SELECT is(ARRAY[pg_temp.ev(pg_temp.uid('a', 1109), 'unsubscribed', pg_temp.t(2)),
                pg_temp.ev(pg_temp.uid('a', 1109), 'hard_bounce', pg_temp.t(3))],
          ARRAY['true', 'true'], 'unsubscribe and bounce after a complaint are recorded on the email');
SELECT is(pg_temp.state('a', 9), 'bounced/complained/unsubscribed/unsubscribed',
          'the lead stays complained and enrollments stay unsubscribed (never downgraded)');

SELECT is(ARRAY[pg_temp.ev(pg_temp.uid('a', 1110), 'hard_bounce', pg_temp.t(1)),
                pg_temp.ev(pg_temp.uid('a', 1110), 'unsubscribed', pg_temp.t(2)),
                pg_temp.ev(pg_temp.uid('a', 1110), 'complained', pg_temp.t(3))],
          ARRAY['true', 'true', 'true'], 'events on a do_not_contact lead are recorded on the email');
SELECT is((SELECT status FROM pm_oltp.leads WHERE id = pg_temp.uid('a', 610))::text, 'do_not_contact',
          'a do_not_contact lead stays do_not_contact');

------------------------------------------------------------------------------
-- Errors and rights
------------------------------------------------------------------------------

SELECT is(pg_temp.ev(pg_temp.uid('b', 1101), 'opened', pg_temp.t(1)),
          'error:P0002: email ' || pg_temp.uid('b', 1101) || ' not found',
          'another tenant''s email is not found (P0002)');
SELECT is((SELECT opened_at FROM pm_oltp.emails WHERE id = pg_temp.uid('b', 1101)), NULL::timestamptz,
          'another tenant''s email is untouched');
SELECT is(pg_temp.ev(pg_temp.uid('f', 1), 'opened', pg_temp.t(1)),
          'error:P0002: email ' || pg_temp.uid('f', 1) || ' not found', 'an unknown email id is not found (P0002)');
SELECT is(pg_temp.ev(pg_temp.uid('a', 1101), 'bounced', pg_temp.t(1)),
          'error:22023: unknown email event "bounced"; expected one of: sent, delivered, opened, '
          'clicked, replied, hard_bounce, soft_bounce, unsubscribed, complained, failed',
          'an unknown event is rejected with 22023 listing the valid ones');
SELECT is(ARRAY[left(pg_temp.ev(pg_temp.uid('a', 1101), NULL, pg_temp.t(1)), 11),
                left(pg_temp.ev(pg_temp.uid('a', 1101), 'opened', NULL), 11),
                left(pg_temp.ev(NULL, 'opened', pg_temp.t(1)), 11)],
          ARRAY['error:22004', 'error:22004', 'error:22004'], 'NULL event, at or email_id is rejected with 22004');
SELECT is(left(pg_temp.ev(pg_temp.uid('a', 1101), 'opened', pg_temp.t(1), 'pm_app', NULL), 11),
          'error:42501', 'without tenant context pm_app gets 42501');
SELECT is(pg_temp.ev(pg_temp.uid('b', 1101), 'hard_bounce', pg_temp.t(1), 'pm_service', NULL), 'true',
          'pm_service (bounce processor) records events of any tenant without context');

SELECT * FROM finish();
ROLLBACK;
