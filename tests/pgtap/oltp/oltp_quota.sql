-- pm_oltp.check_quota(): live usage of the current tenant against its active plan.
\ir ../include/common.psql

BEGIN;
SELECT plan(17);

-- Runs stmt as `who` with `tenant`'s context; first value, or 'error:SQLSTATE: message'.
CREATE FUNCTION pg_temp.run_as(who text, tenant uuid, stmt text) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
    result text;
BEGIN
    BEGIN
        PERFORM pm.set_context(tenant);
        PERFORM set_config('role', who, true);
        EXECUTE stmt INTO result;
        PERFORM set_config('role', 'none', true);
        PERFORM pm.set_context(NULL);
    EXCEPTION WHEN OTHERS THEN
        result := 'error:' || SQLSTATE || ': ' || SQLERRM;
    END;
    RETURN result;
END
$f$;

-- check_quota() rows in output order as "resource=used/quota/allowed" (quota '-' for NULL).
CREATE FUNCTION pg_temp.quota(tenant uuid, resource text DEFAULT NULL, who text DEFAULT 'pm_app')
RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.run_as(who, tenant, format(
        $q$SELECT string_agg(format('%%s=%%s/%%s/%%s', resource, used, coalesce(quota::text, '-'),
                                    allowed::text), ' ' ORDER BY n)
           FROM pm_oltp.check_quota(%L) WITH ORDINALITY AS q(resource, used, quota, allowed, n)$q$,
        resource))
$$;

INSERT INTO pm_oltp.plans (id, name, slug, max_domains, max_email_accounts, max_campaigns_per_month,
                           max_emails_per_month, max_contacts, max_warmups, max_users)
VALUES (pg_temp.uid('c', 1), 'Small', 'test-small', 2, 3, 2, 3, 4, 1, 2),
       (pg_temp.uid('c', 2), 'Unlimited', 'test-unlimited', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO pm_oltp.users (id, email) VALUES
    (pg_temp.uid('a', 101), 'one@a.test'), (pg_temp.uid('a', 102), 'two@a.test'),
    (pg_temp.uid('b', 101), 'one@b.test');
INSERT INTO pm_oltp.tenants (id, name) VALUES (pg_temp.uid('a', 1), 'A'), (pg_temp.uid('b', 1), 'B');
INSERT INTO pm_oltp.subscriptions (id, tenant_id, plan_id, current_period_start, current_period_end)
VALUES (pg_temp.uid('a', 1201), pg_temp.uid('a', 1), pg_temp.uid('c', 1),
        now() - interval '10 days', now() + interval '20 days'),
       (pg_temp.uid('b', 1201), pg_temp.uid('b', 1), pg_temp.uid('c', 1),
        now() - interval '10 days', now() + interval '20 days');

-- Tenant A: what is counted and what is not.
INSERT INTO pm_oltp.tenant_users (tenant_id, user_id, deleted) VALUES
    (pg_temp.uid('a', 1), pg_temp.uid('a', 101), NULL),
    (pg_temp.uid('a', 1), pg_temp.uid('a', 102), now());            -- removed member
INSERT INTO pm_oltp.domains (id, tenant_id, domain) VALUES (pg_temp.uid('a', 301), pg_temp.uid('a', 1), 'a.test');
INSERT INTO pm_oltp.email_accounts (tenant_id, domain_id, email, warmup_status) VALUES
    (pg_temp.uid('a', 1), pg_temp.uid('a', 301), 'x@a.test', 'warming'),
    (pg_temp.uid('a', 1), pg_temp.uid('a', 301), 'y@a.test', 'warmed');
INSERT INTO pm_oltp.campaigns (id, tenant_id, name, created) VALUES
    (pg_temp.uid('a', 801), pg_temp.uid('a', 1), 'this period', now()),
    (pg_temp.uid('a', 802), pg_temp.uid('a', 1), 'before the period', now() - interval '15 days');
INSERT INTO pm_oltp.leads (tenant_id, email)
SELECT pg_temp.uid('a', 1), format('lead%s@x.test', i) FROM generate_series(1, 3) i;
INSERT INTO pm_oltp.emails (tenant_id, direction, sent_at) VALUES
    (pg_temp.uid('a', 1), 'outbound', now() - interval '1 day'),
    (pg_temp.uid('a', 1), 'outbound', now() - interval '2 days'),
    (pg_temp.uid('a', 1), 'outbound', now() - interval '20 days'),  -- before the period
    (pg_temp.uid('a', 1), 'inbound', now()),                        -- replies do not count
    (pg_temp.uid('a', 1), 'outbound', NULL);                        -- queued, not sent

-- Tenant B: more of everything, none of which may show up in A's numbers.
INSERT INTO pm_oltp.tenant_users (tenant_id, user_id) VALUES (pg_temp.uid('b', 1), pg_temp.uid('b', 101));
INSERT INTO pm_oltp.domains (tenant_id, domain)
SELECT pg_temp.uid('b', 1), format('d%s.b.test', i) FROM generate_series(1, 5) i;
INSERT INTO pm_oltp.leads (tenant_id, email)
SELECT pg_temp.uid('b', 1), format('lead%s@x.test', i) FROM generate_series(1, 7) i;
INSERT INTO pm_oltp.emails (tenant_id, direction, sent_at)
SELECT pg_temp.uid('b', 1), 'outbound', now() FROM generate_series(1, 4);

------------------------------------------------------------------------------

SELECT is(pg_temp.quota(pg_temp.uid('a', 1)),
          'domains=1/2/true email_accounts=2/3/true campaigns_per_month=1/2/true '
          'emails_per_month=2/3/true contacts=3/4/true warmups=1/1/false users=1/2/true',
          'NULL resource: one row per resource, live counts of the tenant in its billing period');
SELECT is(pg_temp.quota(pg_temp.uid('b', 1)),
          'domains=5/2/false email_accounts=0/3/true campaigns_per_month=0/2/true '
          'emails_per_month=4/3/false contacts=7/4/false warmups=0/1/true users=1/2/true',
          'another tenant gets its own numbers');
SELECT is(pg_temp.quota(pg_temp.uid('a', 1), 'contacts'), 'contacts=3/4/true', 'a single resource');
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
                         $$SELECT used FROM pm_oltp.check_quota(resource => 'domains')$$),
          '1', 'check_quota accepts named notation (resource => ...)');
SELECT is(pg_temp.quota(pg_temp.uid('a', 1), 'domains', 'pm_service'), 'domains=1/2/true',
          'a BYPASSRLS caller with a context still gets only its tenant''s numbers');

-- Counts move with the data.
SELECT is(pg_temp.run_as('pm_app', pg_temp.uid('a', 1),
          $$WITH d AS (INSERT INTO pm_oltp.domains (tenant_id, domain)
                       VALUES (pm.current_tenant_id(), 'second.a.test') RETURNING 1)
            SELECT count(*) FROM d$$), '1', 'pm_app adds a domain');
SELECT is(pg_temp.quota(pg_temp.uid('a', 1), 'domains'), 'domains=2/2/false',
          'at the limit: used = quota, no longer allowed');
INSERT INTO pm_oltp.emails (tenant_id, direction, sent_at) VALUES (pg_temp.uid('a', 1), 'outbound', now());
INSERT INTO pm_oltp.leads (tenant_id, email) VALUES (pg_temp.uid('a', 1), 'new@x.test');
UPDATE pm_oltp.tenant_users SET deleted = NULL WHERE user_id = pg_temp.uid('a', 102);
SELECT is(pg_temp.quota(pg_temp.uid('a', 1)),
          'domains=2/2/false email_accounts=2/3/true campaigns_per_month=1/2/true '
          'emails_per_month=3/3/false contacts=4/4/false warmups=1/1/false users=2/2/false',
          'a sent email, a lead and a restored member are counted');

-- Without a usable period the calendar month (UTC) is the window.  A's dated rows
-- are replaced by rows on both sides of the month boundary, whatever today is.
CREATE TEMP TABLE month_start AS
SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS ts;
DELETE FROM pm_oltp.campaigns WHERE tenant_id = pg_temp.uid('a', 1);
DELETE FROM pm_oltp.emails WHERE tenant_id = pg_temp.uid('a', 1);
INSERT INTO pm_oltp.campaigns (tenant_id, name, created)
SELECT pg_temp.uid('a', 1), c.name, c.created
FROM month_start m, LATERAL (VALUES ('now', now()), ('month start', m.ts),
                                    ('last month', m.ts - interval '1 second')) c(name, created);
INSERT INTO pm_oltp.emails (tenant_id, direction, sent_at)
SELECT pg_temp.uid('a', 1), 'outbound', e.sent_at
FROM month_start m, LATERAL (VALUES (now()), (m.ts), (m.ts - interval '1 second')) e(sent_at);
UPDATE pm_oltp.subscriptions SET current_period_start = NULL, current_period_end = NULL
WHERE id = pg_temp.uid('a', 1201);
SELECT is(pg_temp.quota(pg_temp.uid('a', 1), 'campaigns_per_month') || ' ' ||
          pg_temp.quota(pg_temp.uid('a', 1), 'emails_per_month'),
          'campaigns_per_month=2/2/false emails_per_month=2/3/true',
          'no billing period: campaigns and emails of the current calendar month (UTC) are counted');
UPDATE pm_oltp.subscriptions SET current_period_start = now() - interval '60 days',
                                 current_period_end = now() - interval '30 days'
WHERE id = pg_temp.uid('a', 1201);
SELECT is(pg_temp.quota(pg_temp.uid('a', 1), 'campaigns_per_month') || ' ' ||
          pg_temp.quota(pg_temp.uid('a', 1), 'emails_per_month'),
          'campaigns_per_month=2/2/false emails_per_month=2/3/true',
          'a stale billing period (not containing now) falls back to the calendar month');
SET LOCAL timezone = 'Pacific/Kiritimati';
SELECT is(pg_temp.quota(pg_temp.uid('a', 1), 'campaigns_per_month') || ' ' ||
          pg_temp.quota(pg_temp.uid('a', 1), 'emails_per_month'),
          'campaigns_per_month=2/2/false emails_per_month=2/3/true',
          'the calendar month does not depend on the session time zone');
RESET timezone;

-- Plans with NULL limits are unlimited.
UPDATE pm_oltp.subscriptions SET plan_id = pg_temp.uid('c', 2) WHERE id = pg_temp.uid('a', 1201);
SELECT is(pg_temp.quota(pg_temp.uid('a', 1)),
          'domains=2/-/true email_accounts=2/-/true campaigns_per_month=2/-/true '
          'emails_per_month=2/-/true contacts=4/-/true warmups=1/-/true users=2/-/true',
          'NULL limits: quota NULL and always allowed');

-- Only an active subscription grants anything.
UPDATE pm_oltp.subscriptions SET status = 'past_due' WHERE id = pg_temp.uid('a', 1201);
SELECT is(pg_temp.quota(pg_temp.uid('a', 1)),
          'domains=2/0/false email_accounts=2/0/false campaigns_per_month=2/0/false '
          'emails_per_month=2/0/false contacts=4/0/false warmups=1/0/false users=2/0/false',
          'no active subscription: quota 0, nothing allowed, usage still reported');
SELECT is(pg_temp.quota(pg_temp.uid('b', 1), 'warmups'), 'warmups=0/1/true',
          'the other tenant''s subscription is unaffected');

SELECT is(pg_temp.quota(pg_temp.uid('a', 1), 'mailboxes'),
          'error:22023: unknown quota resource "mailboxes"; expected one of: domains, email_accounts, '
          'campaigns_per_month, emails_per_month, contacts, warmups, users',
          'an unknown resource is rejected with 22023 listing the valid ones');
SELECT is(left(pg_temp.quota(NULL), 11), 'error:42501', 'no tenant context: 42501');
SELECT is(left(pg_temp.quota(NULL, 'domains', 'pm_service'), 11), 'error:42501',
          'no tenant context: 42501 even for pm_service');

SELECT * FROM finish();
ROLLBACK;
