-- pm_oltp 0.4 producers of notifications: what each one enqueues on queue `notifications`
-- (campaign completed, quota thresholds once per period, mailboxes paused for bounces), the
-- tenant's opt-outs, the item pm_notify.deliver() gets, and who may run what.  Delivery
-- through a real link and outages: tests/integration/notify_delivery.sh.
\ir ../include/common.psql
BEGIN;
SELECT plan(36);

SELECT pm.ensure_roles();
SELECT pg_temp.uid('a', 1) AS ta, pg_temp.uid('b', 1) AS tb \gset
INSERT INTO pm_oltp.tenants (id, name) VALUES (:'ta', 'A'), (:'tb', 'B');
INSERT INTO pm_oltp.campaigns (id, tenant_id, name, status) VALUES
    (pg_temp.uid('a', 801), :'ta', 'Spring launch', 'sending'),
    (pg_temp.uid('b', 801), :'tb', 'B launch', 'sending'),
    (pg_temp.uid('a', 802), :'ta', 'Before the queue', 'sending');

-- ------------------------------------------------------------------ without pm_queue
SELECT lives_ok($$UPDATE pm_oltp.campaigns SET status = 'completed' WHERE name = 'Before the queue'$$,
                'without pm_queue a completed campaign produces nothing and fails nothing');
SELECT throws_ok('SELECT * FROM pm_oltp.deliver_notifications()', '0A000', NULL,
                 'deliver_notifications() without pm_queue / pm_fdw says what is missing');

SET LOCAL client_min_messages = warning;
CREATE EXTENSION pm_queue;
RESET client_min_messages;
SELECT pm.ensure_roles();

CREATE FUNCTION pg_temp.queued(kind text) RETURNS SETOF jsonb LANGUAGE sql AS $$
    SELECT payload FROM pm_queue.jobs WHERE queue_name = 'notifications' AND payload ->> 'kind' = kind
    ORDER BY created_at, payload ->> 'title'
$$;

-- ------------------------------------------------------------------ campaign completed
UPDATE pm_oltp.campaigns SET status = 'completed' WHERE id = pg_temp.uid('a', 801);
SELECT is((SELECT count(*) FROM pg_temp.queued('notification')), 1::bigint,
          'a completed campaign enqueues one notification job in the same transaction');
SELECT is((SELECT p ->> 'type' || '|' || (p ->> 'tenant_id') || '|' || coalesce(p ->> 'user_id', 'everyone') || '|' || (p ->> 'title')
           FROM pg_temp.queued('notification') p),
          'campaign.completed|' || :'ta' || '|everyone|Campaign "Spring launch" completed',
          'tenant-wide, of the campaign''s tenant, naming the campaign');
SELECT is((SELECT tenant_id FROM pm_queue.jobs WHERE queue_name = 'notifications'), :'ta'::uuid,
          'the job belongs to the tenant');
SELECT is((SELECT max_attempts FROM pm_queue.jobs WHERE queue_name = 'notifications'), 1000,
          'a notification job survives a long outage of its tier (1000 attempts)');
UPDATE pm_oltp.campaigns SET status = 'completed', description = 'again' WHERE id = pg_temp.uid('a', 801);
SELECT is((SELECT count(*) FROM pg_temp.queued('notification')), 1::bigint,
          'an update of an already completed campaign enqueues nothing');
INSERT INTO pm_oltp.tenant_config (tenant_id, notify_on_campaign_completed) VALUES (:'tb', false);
UPDATE pm_oltp.campaigns SET status = 'completed' WHERE id = pg_temp.uid('b', 801);
SELECT is((SELECT count(*) FROM pg_temp.queued('notification')), 1::bigint,
          'a tenant that turned notify_on_campaign_completed off gets none');
SELECT is(pg_temp.as_role('pm_app', :'ta', $$UPDATE pm_oltp.campaigns SET status = 'sending'$$), 'rows:2',
          'the app reopens its campaigns');
SELECT is(pg_temp.as_role('pm_app', :'ta', $$UPDATE pm_oltp.campaigns SET status = 'completed'$$), 'rows:2',
          'and completes them as pm_app');
SELECT is((SELECT count(*) FROM pg_temp.queued('notification')), 3::bigint,
          'the producer runs for pm_app too (security definer: the app holds no queue privilege)');
DELETE FROM pm_queue.jobs;

-- ------------------------------------------------------------------ quota thresholds
INSERT INTO pm_oltp.plans (id, name, slug, max_email_accounts, max_domains) VALUES
    (pg_temp.uid('c', 1), 'Small', 'small', 5, 100);
INSERT INTO pm_oltp.subscriptions (tenant_id, plan_id, status, current_period_start, current_period_end)
VALUES (:'ta', pg_temp.uid('c', 1), 'active', now() - interval '3 days', now() + interval '27 days'),
       (:'tb', pg_temp.uid('c', 1), 'active', NULL, NULL);
INSERT INTO pm_oltp.email_accounts (tenant_id, email)
SELECT :'ta', format('m%s@a.test', g) FROM generate_series(1, 3) g;
SELECT is(pm_oltp.notify_quota_thresholds(), 0, '3 of 5 mailboxes (60%): no notice');
INSERT INTO pm_oltp.email_accounts (tenant_id, email) VALUES (:'ta', 'm4@a.test');
SELECT is(pm_oltp.notify_quota_thresholds(), 1, '4 of 5 (80%): one notice');
SELECT is(pm_oltp.notify_quota_thresholds(), 0, 'checked again: the 80% notice is not repeated');
SELECT is((SELECT p ->> 'type' || '|' || (p ->> 'title') FROM pg_temp.queued('notification') p),
          'quota.80|80% of your email accounts quota used', 'the 80% notification');
SELECT is((SELECT (p ->> 'expires_at')::timestamptz FROM pg_temp.queued('notification') p),
          (SELECT current_period_end FROM pm_oltp.subscriptions WHERE tenant_id = :'ta'),
          'it expires with the billing period');
INSERT INTO pm_oltp.email_accounts (tenant_id, email) VALUES (:'ta', 'm5@a.test');
SELECT is(pm_oltp.notify_quota_thresholds(:'ta'), 1, '5 of 5 (100%): one more notice');
SELECT is(pm_oltp.notify_quota_thresholds(), 0, 'and only once');
SELECT is(array_agg(threshold ORDER BY threshold), ARRAY[80, 100], 'both thresholds are recorded for this period')
FROM pm_oltp.quota_notices WHERE tenant_id = :'ta';
-- Tenant B (calendar month) jumps straight past 100%: only the 100% notice.
INSERT INTO pm_oltp.email_accounts (tenant_id, email)
SELECT :'tb', format('m%s@b.test', g) FROM generate_series(1, 6) g;
SELECT is(pm_oltp.notify_quota_thresholds(:'tb'), 1, 'past both thresholds at once: one notice');
SELECT is((SELECT string_agg(p ->> 'type', ',') FROM pg_temp.queued('notification') p WHERE p ->> 'tenant_id' = :'tb'),
          'quota.100', 'the 100% one, not also the 80% one');
-- A new billing period: the thresholds fire again.
UPDATE pm_oltp.subscriptions SET current_period_start = now() - interval '1 hour',
                                 current_period_end = now() + interval '30 days' WHERE tenant_id = :'ta';
SELECT is(pm_oltp.notify_quota_thresholds(:'ta'), 1, 'a new period announces 100% again (once per period)');
SELECT is(pm.current_tenant_id(), NULL, 'the check leaves the session''s tenant context as it was');
DELETE FROM pm_queue.jobs;

-- ------------------------------------------------------------------ mailboxes paused for bounces
INSERT INTO pm_oltp.emails (tenant_id, email_account_id, status, sent_at, bounced_at)
SELECT a.tenant_id, a.id, 'sent', now() - interval '1 hour', CASE WHEN g <= b THEN now() END
FROM (VALUES ('m1@a.test', 5), ('m2@a.test', 1), ('m3@a.test', 5)) v(email, b)
JOIN pm_oltp.email_accounts a ON a.email = v.email
CROSS JOIN generate_series(1, CASE WHEN v.email = 'm3@a.test' THEN 10 ELSE 40 END) g;
SELECT is(ARRAY(SELECT email FROM pm_oltp.pause_bouncing_mailboxes(0.05, 20)), ARRAY['m1@a.test'],
          'only the mailbox past 5% with enough sends is paused (2.5% and 10 sends are not)');
SELECT is((SELECT status FROM pm_oltp.email_accounts WHERE email = 'm1@a.test'), 'paused', 'it is paused');
SELECT is((SELECT p ->> 'type' || '|' || (p ->> 'title') FROM pg_temp.queued('notification') p),
          'mailbox.paused|Mailbox m1@a.test paused: too many bounces', 'and its tenant is told, in the same transaction');
SELECT is((SELECT p ->> 'event_type' || '|' || (p ->> 'tenant_id') || '|' || (p ->> 'dedup_key') FROM pg_temp.queued('system_event') p),
          'mailbox_paused|' || :'ta' || '|mailbox_paused:' || (SELECT id FROM pm_oltp.email_accounts WHERE email = 'm1@a.test'),
          'staff get one system event for the paused mailbox');
SELECT is((SELECT count(*) FROM pm_oltp.pause_bouncing_mailboxes(0.05, 20)), 0::bigint, 'a paused mailbox is not paused again');
SELECT throws_ok('SELECT * FROM pm_oltp.pause_bouncing_mailboxes(1.5)', '22023', NULL, 'a threshold above 1 is refused');

-- ------------------------------------------------------------------ the delivered item, privileges
SELECT is(pm_oltp.notification_item(pg_temp.uid('d', 1), '{"kind": "notification", "title": "t"}') ->> 'dedup_key',
          'pm_oltp:' || pg_temp.uid('d', 1), 'a notification is delivered with the job id as its dedup key');
SELECT is(pm_oltp.notification_item(pg_temp.uid('d', 1), '{"kind": "system_event", "dedup_key": "tier_down:x"}') ->> 'dedup_key',
          'tier_down:x', 'a system event keeps its incident key (repeats collapse into one open event)');
SELECT is(pg_temp.as_role('pm_app', :'ta', 'SELECT ' || call), 'error:42501', call || ': refused to pm_app')
FROM unnest(ARRAY['pm_oltp.deliver_notifications()', 'pm_oltp.notify_quota_thresholds()',
                  'pm_oltp.pause_bouncing_mailboxes()', 'pm_oltp.note_tier_health()',
                  'pm_oltp.enqueue_notification(''{}'', NULL)']) call;

SELECT * FROM finish();
ROLLBACK;
