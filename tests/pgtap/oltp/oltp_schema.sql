-- pm_oltp schema contract: audit, keys, uniques, CHECKs, defaults, dns_records shape,
-- dump registration (spec/oltp.md).
\ir ../include/common.psql

BEGIN;
SELECT plan(49);

------------------------------------------------------------------------------
-- Isolation bookkeeping
------------------------------------------------------------------------------

SELECT is_empty('SELECT table_name::text, problem FROM pm.rls_audit()',
                'pm.rls_audit() reports no problem after CREATE EXTENSION pm_oltp');

SELECT is_empty(
    $$SELECT c.relname FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
      WHERE c.relnamespace = 'pm_oltp'::regnamespace AND c.relkind = 'r'
        -- OLAP's dirty keys outlive the rows they name (a deleted tenant's keys still
        -- zero its OLAP rows): bookkeeping, not tenant data with a lifetime of its own.
        AND c.relname <> 'olap_dirty_keys'
        AND NOT EXISTS (
            SELECT 1 FROM pg_constraint f
            WHERE f.conrelid = c.oid AND f.contype = 'f'
              AND f.confrelid = 'pm_oltp.tenants'::regclass
              AND f.conkey = ARRAY[a.attnum] AND f.confdeltype = 'c')$$,
    'every tenant-owned table has tenant_id -> tenants ON DELETE CASCADE');

SELECT is(
    (SELECT (tenant_column, user_column)::text FROM pm.tenant_tables
     WHERE tbl = 'pm_oltp.user_preferences'::regclass),
    '(tenant_id,user_id)', 'user_preferences is under per-user isolation');

-- Without registration pg_dump skips the data of extension member tables.
SELECT set_eq(
    $$SELECT unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'pm_oltp'$$,
    $$SELECT oid::regclass FROM pg_class
      WHERE relnamespace = 'pm_oltp'::regnamespace AND relkind = 'r'$$,
    'every pm_oltp table is registered with pg_extension_config_dump (its data is dumped)');

SELECT is_empty(
    $$SELECT c.relname FROM pg_class c
      WHERE c.relnamespace = 'pm_oltp'::regnamespace AND c.relkind = 'r'
        AND c.relname <> 'olap_dirty_keys'  -- append-only bookkeeping: xid and changed_at
        AND (SELECT count(*) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attname IN ('created', 'updated')
               AND a.atttypid = 'timestamptz'::regtype AND a.attnotnull
               AND pg_get_expr((SELECT d.adbin FROM pg_attrdef d
                                WHERE d.adrelid = c.oid AND d.adnum = a.attnum),
                               c.oid) = 'now()') <> 2$$,
    'every table has created and updated timestamptz NOT NULL DEFAULT now()');

------------------------------------------------------------------------------
-- Indexes the workload relies on
------------------------------------------------------------------------------

SELECT ok(EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'pm_oltp' AND tablename = 'emails'
                  AND indexdef LIKE '%USING btree (tenant_id, status)'),
          'emails has an index on (tenant_id, status)');
SELECT ok(EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'pm_oltp' AND tablename = 'emails'
                  AND indexdef LIKE '%USING btree (tenant_id, campaign_id, sent_at)')
          AND NOT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'pm_oltp' AND tablename = 'emails'
                          AND indexdef LIKE '%USING btree (updated)'),
          'emails: per-key OLAP recomputes use (tenant_id, campaign_id, sent_at); no (updated) index (0.2)');
SELECT ok(EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'pm_oltp' AND tablename = 'emails'
                  AND indexdef LIKE '%USING btree (tenant_id, sent_at)'),
          'emails has an index on (tenant_id, sent_at)');
SELECT ok(EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'pm_oltp' AND tablename = 'payments'
                  AND indexdef LIKE '%USING btree (subscription_id, created DESC)'),
          'payments has an index on (subscription_id, created DESC)');

------------------------------------------------------------------------------
-- Fixture
------------------------------------------------------------------------------

INSERT INTO pm_oltp.tenants (id, name) VALUES (pg_temp.uid('a', 1), 'A'), (pg_temp.uid('b', 1), 'B');
INSERT INTO pm_oltp.users (id, email) VALUES
    (pg_temp.uid('a', 101), 'Owner@A.test'), (pg_temp.uid('b', 101), 'owner@b.test');
INSERT INTO pm_oltp.tenant_users (tenant_id, user_id) VALUES
    (pg_temp.uid('a', 1), pg_temp.uid('a', 101)), (pg_temp.uid('b', 1), pg_temp.uid('b', 101));
INSERT INTO pm_oltp.plans (id, name, slug) VALUES (pg_temp.uid('c', 1), 'P', 'p');

------------------------------------------------------------------------------
-- Defaults
------------------------------------------------------------------------------

INSERT INTO pm_oltp.companies (id, tenant_id, name) VALUES (pg_temp.uid('a', 201), pg_temp.uid('a', 1), 'Co');
INSERT INTO pm_oltp.domains (id, tenant_id, domain) VALUES (pg_temp.uid('a', 301), pg_temp.uid('a', 1), 'a.example.com');
INSERT INTO pm_oltp.email_accounts (id, tenant_id, domain_id, email)
VALUES (pg_temp.uid('a', 401), pg_temp.uid('a', 1), pg_temp.uid('a', 301), 'Sales@a.example.com');
INSERT INTO pm_oltp.leads (id, tenant_id, email) VALUES (pg_temp.uid('a', 601), pg_temp.uid('a', 1), 'lead@x.test');
INSERT INTO pm_oltp.campaigns (id, tenant_id, name) VALUES (pg_temp.uid('a', 801), pg_temp.uid('a', 1), 'C');
INSERT INTO pm_oltp.campaign_sequence_steps (id, tenant_id, campaign_id, step_order)
VALUES (pg_temp.uid('a', 901), pg_temp.uid('a', 1), pg_temp.uid('a', 801), 1);
INSERT INTO pm_oltp.campaign_leads (id, tenant_id, campaign_id, lead_id)
VALUES (pg_temp.uid('a', 1001), pg_temp.uid('a', 1), pg_temp.uid('a', 801), pg_temp.uid('a', 601));
INSERT INTO pm_oltp.emails (id, tenant_id) VALUES (pg_temp.uid('a', 1101), pg_temp.uid('a', 1));
INSERT INTO pm_oltp.subscriptions (id, tenant_id, plan_id)
VALUES (pg_temp.uid('a', 1201), pg_temp.uid('a', 1), pg_temp.uid('c', 1));
INSERT INTO pm_oltp.payments (id, tenant_id, subscription_id, amount, status)
VALUES (pg_temp.uid('a', 1301), pg_temp.uid('a', 1), pg_temp.uid('a', 1201), 10, 'pending');

SELECT is((SELECT (status, hide_onboarding)::text FROM pm_oltp.companies WHERE id = pg_temp.uid('a', 201)),
          '(active,f)', 'companies defaults: status active, hide_onboarding false');
SELECT is((SELECT (verification_status, is_primary, dns_verification_attempts)::text
           FROM pm_oltp.domains WHERE id = pg_temp.uid('a', 301)),
          '(pending,f,0)', 'domains defaults: pending, not primary, 0 attempts');
SELECT is((SELECT (provider, status, daily_count, warmup_status)::text
           FROM pm_oltp.email_accounts WHERE id = pg_temp.uid('a', 401)),
          '(mailu,active,0,unwarmed)', 'email_accounts defaults: mailu, active, 0 sent, unwarmed');
SELECT is((SELECT status FROM pm_oltp.leads WHERE id = pg_temp.uid('a', 601))::text,
          'active', 'leads default status is active');
SELECT is((SELECT status FROM pm_oltp.campaigns WHERE id = pg_temp.uid('a', 801))::text,
          'draft', 'campaigns default status is draft');
SELECT is((SELECT (step_type, is_active, executed_count)::text
           FROM pm_oltp.campaign_sequence_steps WHERE id = pg_temp.uid('a', 901)),
          '(email,t,0)', 'campaign_sequence_steps defaults');
SELECT is((SELECT status FROM pm_oltp.campaign_leads WHERE id = pg_temp.uid('a', 1001))::text,
          'active', 'campaign_leads default status is active');
SELECT is((SELECT (direction, status)::text FROM pm_oltp.emails WHERE id = pg_temp.uid('a', 1101)),
          '(outbound,queued)', 'emails defaults: outbound, queued');
SELECT is((SELECT (status, cancel_at_period_end)::text FROM pm_oltp.subscriptions
           WHERE id = pg_temp.uid('a', 1201)),
          '(active,f)', 'subscriptions defaults: active, not cancelling');
SELECT is((SELECT currency FROM pm_oltp.payments WHERE id = pg_temp.uid('a', 1301))::text,
          'USD', 'payments default currency is USD');
SELECT is((SELECT (max_domains, api_access, white_label, is_active)::text FROM pm_oltp.plans
           WHERE id = pg_temp.uid('c', 1)),
          '(,f,f,t)', 'plans defaults: limits unlimited (NULL), features off, active');

------------------------------------------------------------------------------
-- Uniques
------------------------------------------------------------------------------

SELECT throws_ok($$INSERT INTO pm_oltp.users (email) VALUES ('OWNER@a.test')$$, '23505', NULL,
                 'users: e-mail is unique case-insensitively among live users');
UPDATE pm_oltp.users SET deleted = now() WHERE id = pg_temp.uid('a', 101);
SELECT lives_ok($$INSERT INTO pm_oltp.users (email) VALUES ('OWNER@a.test')$$,
                'users: a soft-deleted user''s e-mail can be registered again');
SELECT throws_ok(format($$INSERT INTO pm_oltp.domains (tenant_id, domain) VALUES (%L, 'A.Example.COM')$$,
                        pg_temp.uid('a', 1)), '23505', NULL,
                 'domains: unique per tenant, case-insensitively');
SELECT lives_ok(format($$INSERT INTO pm_oltp.domains (tenant_id, domain) VALUES (%L, 'a.example.com')$$,
                       pg_temp.uid('b', 1)),
                'domains: another tenant may register the same domain');
SELECT throws_ok(format($$INSERT INTO pm_oltp.email_accounts (tenant_id, email) VALUES (%L, 'sales@A.EXAMPLE.com')$$,
                        pg_temp.uid('b', 1)), '23505', NULL,
                 'email_accounts: an address is unique across all tenants, case-insensitively');
SELECT throws_ok(format($$INSERT INTO pm_oltp.leads (tenant_id, email) VALUES (%L, 'lead@x.test')$$,
                        pg_temp.uid('a', 1)), '23505', NULL, 'leads: (tenant_id, email) is unique');
SELECT lives_ok(format($$INSERT INTO pm_oltp.leads (tenant_id, email) VALUES (%L, 'lead@x.test')$$,
                       pg_temp.uid('b', 1)), 'leads: another tenant may hold the same lead');
SELECT throws_ok(format($$INSERT INTO pm_oltp.campaign_sequence_steps (tenant_id, campaign_id, step_order)
                          VALUES (%L, %L, 1)$$, pg_temp.uid('a', 1), pg_temp.uid('a', 801)),
                 '23505', NULL, 'campaign_sequence_steps: (campaign_id, step_order) is unique');
SELECT throws_ok(format($$INSERT INTO pm_oltp.campaign_leads (tenant_id, campaign_id, lead_id)
                          VALUES (%L, %L, %L)$$,
                        pg_temp.uid('a', 1), pg_temp.uid('a', 801), pg_temp.uid('a', 601)),
                 '23505', NULL, 'campaign_leads: a lead is enrolled once per campaign');
INSERT INTO pm_oltp.user_preferences (tenant_id, user_id) VALUES (pg_temp.uid('a', 1), pg_temp.uid('a', 101));
SELECT throws_ok(format($$INSERT INTO pm_oltp.user_preferences (tenant_id, user_id) VALUES (%L, %L)$$,
                        pg_temp.uid('a', 1), pg_temp.uid('a', 101)),
                 '23505', NULL, 'user_preferences: one row per user');
SELECT throws_ok(format($$INSERT INTO pm_oltp.subscriptions (tenant_id, plan_id) VALUES (%L, %L)$$,
                        pg_temp.uid('a', 1), pg_temp.uid('c', 1)),
                 '23505', NULL, 'subscriptions: at most one active subscription per tenant');
SELECT lives_ok(format($$INSERT INTO pm_oltp.subscriptions (tenant_id, plan_id, status) VALUES (%L, %L, 'canceled')$$,
                       pg_temp.uid('a', 1), pg_temp.uid('c', 1)),
                'subscriptions: past (canceled) subscriptions may accumulate');

------------------------------------------------------------------------------
-- CHECKs
------------------------------------------------------------------------------

SELECT throws_ok(format($$UPDATE pm_oltp.leads SET status = 'deleted' WHERE id = %L$$, pg_temp.uid('a', 601)),
                 '23514', NULL, 'leads.status is checked');
SELECT throws_ok(format($$UPDATE pm_oltp.email_accounts SET warmup_status = 'hot' WHERE id = %L$$,
                        pg_temp.uid('a', 401)),
                 '23514', NULL, 'email_accounts.warmup_status is checked');
SELECT throws_ok(format($$UPDATE pm_oltp.emails SET bounce_type = 'medium' WHERE id = %L$$,
                        pg_temp.uid('a', 1101)),
                 '23514', NULL, 'emails.bounce_type is checked');
SELECT throws_ok($$INSERT INTO pm_oltp.feature_flags (key, rollout_percentage) VALUES ('f', 101)$$,
                 '23514', NULL, 'feature_flags.rollout_percentage is within 0..100');
SELECT throws_ok(format($$UPDATE pm_oltp.emails SET content_storage_key = %L WHERE id = %L$$,
                        pm.body_storage_key(pg_temp.uid('b', 1), 'x', NULL, NULL), pg_temp.uid('a', 1101)),
                 '23514', NULL, 'emails.content_storage_key must name the row''s own tenant');
SELECT throws_ok(format($$UPDATE pm_oltp.emails SET content_storage_key = 'pmk1.body.nothex' WHERE id = %L$$,
                        pg_temp.uid('a', 1101)),
                 '23514', NULL, 'emails.content_storage_key must be a valid storage key');
SELECT lives_ok(format($$UPDATE pm_oltp.emails SET content_storage_key = %L WHERE id = %L$$,
                       pm.body_storage_key(pg_temp.uid('a', 1), 'x', NULL, NULL), pg_temp.uid('a', 1101)),
                'emails.content_storage_key accepts a key of its own tenant');
SELECT throws_ok(format($$UPDATE pm_oltp.subscriptions SET current_period_start = now(),
                          current_period_end = now() - interval '1 day' WHERE id = %L$$,
                        pg_temp.uid('a', 1201)),
                 '23514', NULL, 'subscriptions: a period ends after it starts');

------------------------------------------------------------------------------
-- dns_records shape
------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.set_dns(doc text) RETURNS void LANGUAGE sql AS
$$ UPDATE pm_oltp.domains SET dns_records = doc::jsonb WHERE id = pg_temp.uid('a', 301) $$;

SELECT lives_ok($$SELECT pg_temp.set_dns('{"records": [
      {"record_type": "SPF", "name": "@", "value": "v=spf1 include:mailu -all", "ttl": 300,
       "verification_status": "verified"},
      {"record_type": "DKIM", "name": "dkim._domainkey", "value": "v=DKIM1; p=MIG", "selector": "dkim"},
      {"record_type": "MX", "name": "@", "value": "mx.example.net", "ttl": null}],
    "checked_at": "2024-01-01T00:00:00Z"}')$$,
    'dns_records: a well-formed document (extra keys allowed) is accepted');
SELECT lives_ok($$SELECT pg_temp.set_dns(NULL)$$, 'dns_records: NULL is accepted');
SELECT throws_ok($$SELECT pg_temp.set_dns('{"records": [
      {"record_type": "SPF", "name": "@", "value": "v=spf1 -all"},
      {"record_type": "MX", "name": "@", "value": "mx"},
      {"record_type": "TXT", "name": "@", "value": "x"}]}')$$,
    '22023', 'dns_records.records[2].record_type "TXT" is not one of SPF, DKIM, DMARC, MX, A, AAAA, CNAME',
    'dns_records: a bad record_type is named with its path and value');
SELECT throws_ok($$SELECT pg_temp.set_dns('[]')$$, '22023',
                 'dns_records must be a JSON object, got array []',
                 'dns_records: the document must be an object');
SELECT throws_ok($$SELECT pg_temp.set_dns('{"records": {"record_type": "MX"}}')$$, '22023',
                 'dns_records.records must be an array, got {"record_type": "MX"}',
                 'dns_records: records must be an array');
SELECT throws_ok($$SELECT pg_temp.set_dns('{"records": [{"record_type": "A", "value": "192.0.2.1"}]}')$$,
                 '22023', 'dns_records.records[0].name is missing',
                 'dns_records: a record needs a name');
SELECT throws_ok($$SELECT pg_temp.set_dns('{"records": [{"record_type": "A", "name": "@", "value": "192.0.2.1", "ttl": -5}]}')$$,
                 '22023', 'dns_records.records[0].ttl -5 is not an integer between 0 and 2147483647',
                 'dns_records: ttl must be a non-negative integer');
SELECT throws_ok($$SELECT pg_temp.set_dns('{"records": [{"record_type": "A", "name": "@", "value": "192.0.2.1", "verification_status": "ok"}]}')$$,
                 '22023', 'dns_records.records[0].verification_status "ok" is not one of pending, verified, failed, error',
                 'dns_records: verification_status is checked');
SELECT throws_ok($$SELECT pg_temp.set_dns('{"records": ["SPF"]}')$$,
                 '22023', 'dns_records.records[0] must be an object, got "SPF"',
                 'dns_records: every record is an object');

SELECT * FROM finish();
ROLLBACK;
