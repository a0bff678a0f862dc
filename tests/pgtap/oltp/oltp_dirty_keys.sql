-- pm_oltp's dirty-key triggers (C++ since 0.3): which writes leave which key, the UTC send
-- day, re-attribution, rows of rolled-back savepoints, one row per key per transaction,
-- writers under RLS, and clear errors when the trigger is misattached.
\ir ../include/common.psql

BEGIN;
SELECT plan(23);

SET LOCAL TimeZone = 'Asia/Tokyo';  -- the send day is UTC's, whatever the session says

INSERT INTO pm_oltp.tenants (id, name) VALUES (pg_temp.uid('a', 1), 'A'), (pg_temp.uid('b', 1), 'B');
INSERT INTO pm_oltp.email_accounts (id, tenant_id, email) VALUES
    (pg_temp.uid('a', 11), pg_temp.uid('a', 1), 'box@a.test'),
    (pg_temp.uid('b', 11), pg_temp.uid('b', 1), 'box@b.test');
INSERT INTO pm_oltp.campaigns (id, tenant_id, name) VALUES
    (pg_temp.uid('a', 21), pg_temp.uid('a', 1), 'A1'), (pg_temp.uid('a', 22), pg_temp.uid('a', 1), 'A2');
INSERT INTO pm_oltp.campaign_sequence_steps (id, tenant_id, campaign_id, step_order) VALUES
    (pg_temp.uid('a', 31), pg_temp.uid('a', 1), pg_temp.uid('a', 21), 0);
INSERT INTO pm_oltp.leads (id, tenant_id, email) VALUES (pg_temp.uid('a', 41), pg_temp.uid('a', 1), 'l@x.test');
-- Queued (unsent) messages of tenant A; one inbound.
INSERT INTO pm_oltp.emails (id, tenant_id, campaign_id, step_id, email_account_id, lead_id, direction, status)
SELECT pg_temp.uid('a', 100 + n), pg_temp.uid('a', 1), pg_temp.uid('a', 21), pg_temp.uid('a', 31),
       pg_temp.uid('a', 11), pg_temp.uid('a', 41), CASE WHEN n = 9 THEN 'inbound' ELSE 'outbound' END, 'queued'
FROM generate_series(1, 9) n;

-- Key rows of kind k (whole table: everything here is one transaction's).
CREATE FUNCTION pg_temp.keys(want_kind "char", want_campaign uuid DEFAULT NULL,
                             want_day date DEFAULT NULL, want_tenant uuid DEFAULT pg_temp.uid('a', 1))
RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pm_oltp.olap_dirty_keys d
    WHERE d.kind = want_kind AND d.tenant_id = want_tenant
      AND (want_campaign IS NULL OR d.campaign_id = want_campaign)
      AND (want_day IS NULL OR d.day = want_day)
$$;
-- Forgets which keys this transaction wrote (any subtransaction abort does), so a key
-- written again would show as a second row.
CREATE FUNCTION pg_temp.forget() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        RAISE EXCEPTION 'forget';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
END $$;

SELECT is(pg_temp.keys('e'), 0::bigint, 'inserting unsent messages leaves no email key');
SELECT pg_temp.forget();
CREATE TEMP TABLE billing_before AS SELECT pg_temp.keys('b') AS n;

UPDATE pm_oltp.emails SET sent_at = '2024-05-01 23:30:00+00', status = 'sent' WHERE id = pg_temp.uid('a', 101);
SELECT is(pg_temp.keys('e', pg_temp.uid('a', 21), '2024-05-01'), 1::bigint,
          'a send leaves the key of its UTC day (23:30 UTC is May 2 in Tokyo)');
SELECT is((SELECT (step_id, mailbox_id, lead_id)::text FROM pm_oltp.olap_dirty_keys WHERE kind = 'e'),
          (pg_temp.uid('a', 31), pg_temp.uid('a', 11), pg_temp.uid('a', 41))::text,
          'the key names the step, mailbox and lead of the message');
SELECT is(pg_temp.keys('b'), (SELECT n + 1 FROM billing_before), 'a send changes billing (emails_sent): one billing key');
SELECT is((SELECT bool_and(xid = pg_current_xact_id()) FROM pm_oltp.olap_dirty_keys WHERE tenant_id = pg_temp.uid('a', 1)), true,
          'keys carry the writing transaction''s xid');

SELECT pm_oltp.record_email_event(pg_temp.uid('a', 101), 'opened', '2024-05-03 08:00+00');
SELECT pm_oltp.record_email_event(pg_temp.uid('a', 101), 'clicked', '2024-05-03 08:01+00');
SELECT is(pg_temp.keys('e'), 1::bigint,
          'late events in the same transaction: the key is written once, still for the send day');

SELECT pg_temp.forget();
UPDATE pm_oltp.emails SET subject = 'Re: hello', content_storage_key = NULL WHERE id = pg_temp.uid('a', 101);
SELECT is(pg_temp.keys('e'), 1::bigint, 'an update of no counter input writes no key');
UPDATE pm_oltp.emails SET opened_at = opened_at WHERE id = pg_temp.uid('a', 101);
SELECT is(pg_temp.keys('e'), 1::bigint, 'an update that changes nothing writes no key');
SELECT pm_oltp.record_email_event(pg_temp.uid('a', 101), 'replied', '2024-05-04 09:00+00');
SELECT is(pg_temp.keys('e'), 2::bigint,
          'after a rolled-back subtransaction the same key is written again (nothing trusted from it)');

SAVEPOINT s1;
UPDATE pm_oltp.emails SET sent_at = '2024-05-02 10:00+00' WHERE id = pg_temp.uid('a', 102);
SELECT is(pg_temp.keys('e', NULL, '2024-05-02'), 1::bigint, 'inside a savepoint: the key is there');
ROLLBACK TO SAVEPOINT s1;
SELECT is(pg_temp.keys('e', NULL, '2024-05-02'), 0::bigint, 'rolled back to the savepoint: gone with the change');
UPDATE pm_oltp.emails SET sent_at = '2024-05-02 10:00+00' WHERE id = pg_temp.uid('a', 102);
SELECT is(pg_temp.keys('e', NULL, '2024-05-02'), 1::bigint,
          'the same change made again after the rollback writes its key again');

UPDATE pm_oltp.emails SET campaign_id = pg_temp.uid('a', 22), step_id = NULL WHERE id = pg_temp.uid('a', 102);
SELECT is(pg_temp.keys('e', pg_temp.uid('a', 22), '2024-05-02'), 1::bigint,
          're-attributed to another campaign: the new attribution''s key');
SELECT is(pg_temp.keys('e', pg_temp.uid('a', 21), '2024-05-02'), 1::bigint,
          '... and the old one''s key (it loses the message)');

UPDATE pm_oltp.emails SET sent_at = '1999-12-31 23:59:59+00', status = 'sent' WHERE id = pg_temp.uid('a', 103);
SELECT is(pg_temp.keys('e', NULL, '1999-12-31'), 1::bigint, 'a send before 2000 belongs to its own day');
UPDATE pm_oltp.emails SET sent_at = '2024-05-05 12:00+00' WHERE id = pg_temp.uid('a', 109);
SELECT is(pg_temp.keys('e', NULL, '2024-05-05'), 0::bigint, 'an inbound message counts nowhere: no key');

SELECT pg_temp.forget();
DELETE FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 103);
SELECT is(pg_temp.keys('e', NULL, '1999-12-31'), 2::bigint, 'deleting a sent message writes its key');

-- A tenant writing under RLS: it has no right on the key table, the trigger writes anyway.
UPDATE pm_oltp.emails SET sent_at = '2024-05-06 12:00+00', status = 'sent' WHERE id = pg_temp.uid('a', 104);
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
              $$SELECT pm_oltp.record_email_event('$$ || pg_temp.uid('a', 104) || $$', 'opened', '2024-05-06 13:00+00')$$,
              'value'), 'true', 'pm_app records an event under its tenant''s context');
SELECT is(pg_temp.keys('e', NULL, '2024-05-06'), 1::bigint, '... and its key is written');

-- Mailboxes: every change is a mailbox key, only warmup_status / tenant moves billing.
SELECT pg_temp.forget();
UPDATE pm_oltp.email_accounts SET daily_count = daily_count + 1 WHERE id = pg_temp.uid('b', 11);
SELECT is((pg_temp.keys('m', NULL, NULL, pg_temp.uid('b', 1)), pg_temp.keys('b', NULL, NULL, pg_temp.uid('b', 1)))::text,
          '(2,1)', 'a send bumping daily_count: a mailbox key of today, no billing key (the insert made one each)');
UPDATE pm_oltp.email_accounts SET warmup_status = 'warming' WHERE id = pg_temp.uid('b', 11);
SELECT is(pg_temp.keys('b', NULL, NULL, pg_temp.uid('b', 1)), 2::bigint, 'starting warmup changes billing');

-- Misattached triggers fail clearly.
CREATE TEMP TABLE attached (tenant_id uuid, id uuid);
CREATE TRIGGER bad_kind AFTER INSERT ON attached FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('x');
SELECT throws_ok($$INSERT INTO attached VALUES (gen_random_uuid(), gen_random_uuid())$$, '22023',
                 'pm_oltp.olap_capture_state(): unknown kind "x"', 'an unknown kind is refused');
DROP TRIGGER bad_kind ON attached;
CREATE TRIGGER no_column AFTER INSERT ON attached FOR EACH ROW EXECUTE FUNCTION pm_oltp.olap_capture_state('l');
SELECT throws_ok($$INSERT INTO attached VALUES (gen_random_uuid(), gen_random_uuid())$$, '42703',
                 'pm_oltp.olap_capture_state(): table attached has no column "campaign_id"',
                 'a table without the kind''s columns is refused, naming the column');

SELECT * FROM finish();
ROLLBACK;
