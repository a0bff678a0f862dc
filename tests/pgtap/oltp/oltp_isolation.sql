-- pm_oltp tenant isolation, table by table (spec/oltp.md "Tenant isolation", "Quality bar").
-- Two tenants A and B, each with a row in every tenant-owned table; every check is
-- run as the role under test through pg_temp.as_role(), so pgTAP's own state (temp
-- tables owned by the connecting superuser) is never touched by pm_app.
\ir ../include/common.psql

BEGIN;

-- The tenant-owned tables this file covers; the first test proves it is complete.
CREATE TEMP TABLE tenant_tables (tbl regclass PRIMARY KEY);
INSERT INTO tenant_tables
SELECT unnest(ARRAY[
    'pm_oltp.tenant_users', 'pm_oltp.companies', 'pm_oltp.domains', 'pm_oltp.email_accounts',
    'pm_oltp.domain_ip_assignments', 'pm_oltp.leads', 'pm_oltp.templates', 'pm_oltp.campaigns',
    'pm_oltp.campaign_sequence_steps', 'pm_oltp.campaign_leads', 'pm_oltp.emails',
    'pm_oltp.subscriptions', 'pm_oltp.subscription_addons', 'pm_oltp.payments',
    'pm_oltp.tenant_config', 'pm_oltp.tenant_policies', 'pm_oltp.user_preferences',
    'pm_oltp.quota_notices'
]::regclass[]);

CREATE TEMP TABLE global_tables (tbl regclass PRIMARY KEY, app_reads boolean NOT NULL);
INSERT INTO global_tables VALUES
    ('pm_oltp.users', true), ('pm_oltp.tenants', true), ('pm_oltp.plans', true),
    ('pm_oltp.feature_flags', true), ('pm_oltp.vps_instances', false),
    ('pm_oltp.smtp_ip_addresses', false), ('pm_oltp.system_config', false),
    ('pm_oltp.staff_roles', false), ('pm_oltp.permissions', false),
    ('pm_oltp.staff_role_permissions', false), ('pm_oltp.staff_members', false),
    ('pm_oltp.tier_incidents', false);

-- Composite FKs: every FK of pm_oltp that includes tenant_id plus other columns,
-- with the non-tenant columns on each side.
CREATE TEMP TABLE composite_fks AS
SELECT c.conname::text AS conname, c.conrelid::regclass AS child, c.confrelid::regclass AS parent,
       array_agg(quote_ident(ca.attname) ORDER BY k.ord) FILTER (WHERE ca.attname <> 'tenant_id')
           AS child_cols,
       array_agg(quote_ident(pa.attname) ORDER BY k.ord) FILTER (WHERE ca.attname <> 'tenant_id')
           AS parent_cols,
       bool_or(ca.attname = 'tenant_id' AND pa.attname = 'tenant_id') AS tenant_maps_to_tenant
FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_att, parent_att, ord)
JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_att
JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_att
WHERE c.contype = 'f' AND c.connamespace = 'pm_oltp'::regnamespace
GROUP BY c.oid, c.conname, c.conrelid, c.confrelid
HAVING bool_or(ca.attname = 'tenant_id') AND count(*) > 1;

SELECT plan((
      3                                           -- table lists, fixture sanity
    + 13 * (SELECT count(*) FROM tenant_tables)   -- per-table isolation matrix
    + 2 + (SELECT count(*) FROM composite_fks)    -- composite FKs
    + 3 * (SELECT count(*) FROM global_tables)    -- global tables
    + 10                                          -- users / tenants visibility
    + (SELECT count(*) FROM pg_class
       WHERE relnamespace = 'pm_oltp'::regnamespace AND relkind = 'r'
         AND relname <> 'olap_dirty_keys')                               -- touch triggers
    + 4                                           -- SET NULL (col), tenant deletion
)::int);

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------

-- Predictable ids: uid('a', 401) = aaaaaaaa-0000-4000-8000-000000000401.
-- Runs statements as `who` (no context) and always rolls them back; reports 'ok' or
-- 'error:SQLSTATE:constraint'.
CREATE FUNCTION pg_temp.try_as(who text, stmts text[]) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    s   text;
    con text;
BEGIN
    BEGIN
        PERFORM set_config('role', who, true);
        FOREACH s IN ARRAY stmts LOOP
            EXECUTE s;
        END LOOP;
        RAISE EXCEPTION USING ERRCODE = 'PMT01';
    EXCEPTION WHEN OTHERS THEN
        IF SQLSTATE = 'PMT01' THEN
            RETURN 'ok';
        END IF;
        GET STACKED DIAGNOSTICS con = CONSTRAINT_NAME;
        RETURN 'error:' || SQLSTATE || coalesce(':' || nullif(con, ''), '');
    END;
END
$f$;

-- A tenant's rows of a table as one canonical jsonb value (superuser view).
CREATE FUNCTION pg_temp.rows_of(target regclass, tenant uuid) RETURNS jsonb
LANGUAGE plpgsql AS $f$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), ''[]'') '
                   'FROM %s x WHERE tenant_id = $1', target)
    INTO r USING tenant;
    RETURN r;
END
$f$;

------------------------------------------------------------------------------
-- Fixtures: shared global rows, then a full graph per tenant
------------------------------------------------------------------------------

INSERT INTO pm_oltp.users (id, email, name) VALUES
    (pg_temp.uid('a', 101), 'owner@a.test', 'A owner'),
    (pg_temp.uid('a', 102), 'member@a.test', 'A member'),
    (pg_temp.uid('b', 101), 'owner@b.test', 'B owner'),
    (pg_temp.uid('b', 102), 'member@b.test', 'B member'),
    (pg_temp.uid('c', 101), 'consultant@c.test', 'member of A and B'),
    (pg_temp.uid('c', 102), 'staff@penguinmails.test', 'member of no tenant');
INSERT INTO pm_oltp.plans (id, name, slug, max_domains) VALUES
    (pg_temp.uid('c', 1), 'Test plan', 'test-plan', 10);
INSERT INTO pm_oltp.vps_instances (id, hostwinds_instance_id, status) VALUES
    (pg_temp.uid('c', 2), 'hw-test-1', 'active');
INSERT INTO pm_oltp.smtp_ip_addresses (id, vps_instance_id, ip_address) VALUES
    (pg_temp.uid('c', 3), pg_temp.uid('c', 2), '192.0.2.10');
INSERT INTO pm_oltp.staff_roles (id, name) VALUES (pg_temp.uid('c', 4), 'test support');
INSERT INTO pm_oltp.permissions (id, key) VALUES (pg_temp.uid('c', 5), 'tenants.read');
INSERT INTO pm_oltp.staff_role_permissions (role_id, permission_id) VALUES
    (pg_temp.uid('c', 4), pg_temp.uid('c', 5));
INSERT INTO pm_oltp.staff_members (id, user_id, role_id) VALUES
    (pg_temp.uid('c', 6), pg_temp.uid('c', 102), pg_temp.uid('c', 4));
INSERT INTO pm_oltp.system_config (key, value, updated_by) VALUES
    ('test.setting', 'true', pg_temp.uid('c', 6));
INSERT INTO pm_oltp.feature_flags (id, key, updated_by) VALUES
    (pg_temp.uid('c', 7), 'test_flag', pg_temp.uid('c', 6));
INSERT INTO pm_oltp.tier_incidents (server, tier) VALUES ('pm_tier_test', 'notify');

-- k leads / enrollments / emails, so A (k = 2) and B (k = 1) differ in size.
CREATE FUNCTION pg_temp.build_tenant(p text, k int) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
    t uuid := pg_temp.uid(p, 1);
BEGIN
    INSERT INTO pm_oltp.tenants (id, name) VALUES (t, 'Tenant ' || p);
    INSERT INTO pm_oltp.tenant_users (tenant_id, user_id, roles) VALUES
        (t, pg_temp.uid(p, 101), '{owner}'), (t, pg_temp.uid(p, 102), '{member}'),
        (t, pg_temp.uid('c', 101), '{member}');
    INSERT INTO pm_oltp.companies (id, tenant_id, name, workspace_name) VALUES
        (pg_temp.uid(p, 201), t, 'Company ' || p, 'workspace-' || p);
    INSERT INTO pm_oltp.domains (id, tenant_id, company_id, domain, dns_records) VALUES
        (pg_temp.uid(p, 301), t, pg_temp.uid(p, 201), p || '.example.com',
         '{"records": [{"record_type": "SPF", "name": "@", "value": "v=spf1 -all", "ttl": 300}]}');
    INSERT INTO pm_oltp.email_accounts (id, tenant_id, domain_id, email, daily_limit) VALUES
        (pg_temp.uid(p, 401), t, pg_temp.uid(p, 301), 'sales@' || p || '.example.com', 50);
    INSERT INTO pm_oltp.domain_ip_assignments (id, tenant_id, domain_id, smtp_ip_address_id, status)
    VALUES (pg_temp.uid(p, 501), t, pg_temp.uid(p, 301), pg_temp.uid('c', 3), 'active');
    INSERT INTO pm_oltp.leads (id, tenant_id, email, name)
    SELECT pg_temp.uid(p, 600 + i), t, format('lead%s@%s.test', i, p), 'Lead ' || i
    FROM generate_series(1, k) i;
    INSERT INTO pm_oltp.templates (id, tenant_id, name, subject, content) VALUES
        (pg_temp.uid(p, 701), t, 'Intro', 'Hello', 'Hi {{name}}');
    INSERT INTO pm_oltp.campaigns (id, tenant_id, company_id, name, status) VALUES
        (pg_temp.uid(p, 801), t, pg_temp.uid(p, 201), 'Launch', 'sending');
    INSERT INTO pm_oltp.campaign_sequence_steps
        (id, tenant_id, campaign_id, step_order, step_type, email_account_id, template_id)
    VALUES (pg_temp.uid(p, 901), t, pg_temp.uid(p, 801), 1, 'email', pg_temp.uid(p, 401),
            pg_temp.uid(p, 701));
    INSERT INTO pm_oltp.campaign_leads (id, tenant_id, campaign_id, lead_id, current_step)
    SELECT pg_temp.uid(p, 1000 + i), t, pg_temp.uid(p, 801), pg_temp.uid(p, 600 + i), 1
    FROM generate_series(1, k) i;
    INSERT INTO pm_oltp.emails (id, tenant_id, campaign_id, step_id, lead_id, email_account_id,
                                recipient, subject, message_id, status, content_storage_key,
                                sent_at)
    SELECT pg_temp.uid(p, 1100 + i), t, pg_temp.uid(p, 801), pg_temp.uid(p, 901),
           pg_temp.uid(p, 600 + i), pg_temp.uid(p, 401), format('lead%s@%s.test', i, p), 'Hello',
           format('<m%s@%s.example.com>', i, p), 'sent',
           pm.body_storage_key(t, 'body ' || i, NULL, '{}'), now() - interval '1 day'
    FROM generate_series(1, k) i;
    INSERT INTO pm_oltp.subscriptions (id, tenant_id, plan_id, status, current_period_start,
                                       current_period_end, billing_contact_user_id,
                                       stripe_subscription_id)
    VALUES (pg_temp.uid(p, 1201), t, pg_temp.uid('c', 1), 'active', now() - interval '10 days',
            now() + interval '20 days', pg_temp.uid(p, 101), 'sub_' || p);
    INSERT INTO pm_oltp.subscription_addons (id, tenant_id, subscription_id, addon_type, quantity)
    VALUES ('addon_' || p, t, pg_temp.uid(p, 1201), 'extra_domains', 2);
    INSERT INTO pm_oltp.payments (id, tenant_id, subscription_id, initiated_by_user_id, amount,
                                  status)
    VALUES (pg_temp.uid(p, 1301), t, pg_temp.uid(p, 1201), pg_temp.uid(p, 101), 49.00, 'succeeded');
    INSERT INTO pm_oltp.tenant_config (tenant_id, stripe_customer_id, billing_email) VALUES
        (t, 'cus_' || p, 'billing@' || p || '.test');
    INSERT INTO pm_oltp.tenant_policies (tenant_id, default_company_id) VALUES
        (t, pg_temp.uid(p, 201));
    INSERT INTO pm_oltp.user_preferences (id, tenant_id, user_id) VALUES
        (pg_temp.uid(p, 1401), t, pg_temp.uid(p, 101)), (pg_temp.uid(p, 1402), t, pg_temp.uid(p, 102));
    INSERT INTO pm_oltp.quota_notices (tenant_id, resource, period_start, threshold, used, quota)
    VALUES (t, 'domains', date_trunc('month', now()), 80, 8, 10);
END
$f$;

SELECT pg_temp.build_tenant('a', 2);
SELECT pg_temp.build_tenant('b', 1);

------------------------------------------------------------------------------
-- The lists are complete, the fixture covers them
------------------------------------------------------------------------------

SELECT set_eq(
    $$SELECT c.oid::regclass FROM pg_class c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
      WHERE c.relnamespace = 'pm_oltp'::regnamespace AND c.relkind IN ('r', 'p')
        AND c.relname <> 'olap_dirty_keys'$$,
    'SELECT tbl FROM tenant_tables',
    'the tested tenant-owned tables are exactly the pm_oltp tables with a tenant_id column');

SELECT set_eq(
    $$SELECT oid::regclass FROM pg_class
      WHERE relnamespace = 'pm_oltp'::regnamespace AND relkind IN ('r', 'p')
        AND relname <> 'olap_dirty_keys'$$,
    'SELECT tbl FROM tenant_tables UNION ALL SELECT tbl FROM global_tables',
    'every pm_oltp table is classified as tenant-owned or global');

CREATE FUNCTION pg_temp.tables_missing_rows() RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
    t regclass;
    n bigint;
BEGIN
    FOR t IN SELECT tbl FROM tenant_tables LOOP
        EXECUTE format('SELECT count(DISTINCT tenant_id) FROM %s WHERE tenant_id IN ($1, $2)', t)
        INTO n USING pg_temp.uid('a', 1), pg_temp.uid('b', 1);
        IF n < 2 THEN
            RETURN NEXT t::text;
        END IF;
    END LOOP;
END
$f$;
SELECT is_empty('SELECT * FROM pg_temp.tables_missing_rows()',
                'fixture: both tenants have rows in every tenant-owned table');

------------------------------------------------------------------------------
-- Per table: pm_app with tenant A's context against tenant B's rows
------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.isolation_matrix(target regclass) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
    a        constant uuid := pg_temp.uid('a', 1);
    b        constant uuid := pg_temp.uid('b', 1);
    ua       constant uuid := pg_temp.uid('a', 101);
    t        constant text := target::text;
    ucol     name;
    a_mine   bigint;  -- A's rows pm_app may see (per-user tables: only the acting user's)
    a_and_b  bigint;
    b_before jsonb;
    b_row    jsonb;
BEGIN
    SELECT tt.user_column INTO ucol FROM pm.tenant_tables tt WHERE tt.tbl = target;
    EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id = $1 %s', t,
                   CASE WHEN ucol IS NULL THEN '' ELSE format('AND %I = $2', ucol) END)
    INTO a_mine USING a, ua;
    EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id IN ($1, $2)', t) INTO a_and_b USING a, b;
    b_before := pg_temp.rows_of(target, b);
    b_row := b_before -> 0;

    RETURN NEXT is(pg_temp.as_role('pm_app', a,
                   format('SELECT count(*) FROM %s WHERE tenant_id = %L', t, b), 'value', 'error', ua),
                   '0', t || ': tenant B''s rows are invisible to tenant A');
    RETURN NEXT is(pg_temp.as_role('pm_app', a, format('SELECT count(*) FROM %s', t), 'value', 'error', ua),
                   a_mine::text, t || ': tenant A sees exactly its own rows (' || a_mine || ')');
    RETURN NEXT is(pg_temp.as_role('pm_app', a,
                   format('INSERT INTO %s SELECT * FROM jsonb_populate_record(NULL::%s, %L)',
                          t, t, b_row), 'rows', 'error', ua),
                   'error:42501', t || ': inserting a row of tenant B is refused');
    RETURN NEXT is(pg_temp.as_role('pm_app', a,
                   format('UPDATE %s SET created = ''1999-01-01'' WHERE tenant_id = %L', t, b), 'rows', 'error', ua),
                   'rows:0', t || ': UPDATE of tenant B''s rows affects none');
    RETURN NEXT is(pg_temp.as_role('pm_app', a,
                   format('DELETE FROM %s WHERE tenant_id = %L', t, b), 'rows', 'error', ua),
                   'rows:0', t || ': DELETE of tenant B''s rows affects none');
    RETURN NEXT is(pg_temp.as_role('pm_app', a,
                   format('UPDATE %s SET created = ''2001-01-01''', t), 'rows', 'error', ua),
                   'rows:' || a_mine, t || ': an unfiltered UPDATE reaches only tenant A''s rows');
    RETURN NEXT is(pg_temp.rows_of(target, b), b_before,
                   t || ': tenant B''s rows are intact after those writes');
    RETURN NEXT is(pg_temp.as_role('pm_app', a,
                   format('UPDATE %s SET tenant_id = %L WHERE tenant_id = %L', t, b, a), 'rows', 'error', ua),
                   'error:42501', t || ': moving a row of tenant A to tenant B is refused');
    RETURN NEXT is(pg_temp.as_role('pm_app', NULL, format('SELECT count(*) FROM %s', t), 'value', 'error', NULL),
                   'error:42501', t || ': no tenant context raises 42501');
    RETURN NEXT is(pg_temp.as_role('pm_app', NULL, format('SELECT count(*) FROM %s', t), 'value', 'deny', NULL),
                   '0', t || ': no tenant context with pm.missing_tenant_context = deny sees nothing');
    RETURN NEXT is(pg_temp.as_role('pm_staff', NULL,
                   format('SELECT count(*) FROM %s WHERE tenant_id IN (%L, %L)', t, a, b), 'value', 'error', NULL),
                   a_and_b::text, t || ': pm_staff without context sees both tenants');
    RETURN NEXT is(pg_temp.as_role('pm_service', NULL,
                   format('SELECT count(*) FROM %s WHERE tenant_id IN (%L, %L)', t, a, b), 'value', 'error', NULL),
                   a_and_b::text, t || ': pm_service without context sees both tenants');
    RETURN NEXT is(pg_temp.as_role('pm_staff', NULL, format('UPDATE %s SET created = created', t), 'rows', 'error', NULL),
                   'error:42501', t || ': pm_staff cannot write');
END
$f$;

SELECT pg_temp.isolation_matrix(tbl) FROM tenant_tables ORDER BY tbl::text;

------------------------------------------------------------------------------
-- Composite FKs: no row points into another tenant, whoever writes it
------------------------------------------------------------------------------

SELECT is_empty('SELECT conname FROM composite_fks WHERE NOT tenant_maps_to_tenant',
                'every composite FK maps tenant_id to the parent''s tenant_id');

SELECT is_empty(
    $$SELECT c.conname FROM pg_constraint c
      WHERE c.contype = 'f' AND c.connamespace = 'pm_oltp'::regnamespace
        AND EXISTS (SELECT 1 FROM pg_attribute pa
                    WHERE pa.attrelid = c.confrelid AND pa.attname = 'tenant_id')
        AND NOT EXISTS (SELECT 1 FROM pg_attribute ca
                        WHERE ca.attrelid = c.conrelid AND ca.attname = 'tenant_id'
                          AND ca.attnum = ANY (c.conkey))$$,
    'no FK points at a tenant-owned parent without carrying tenant_id');

-- As pm_service (BYPASSRLS): point one of A's child rows at a B parent that A does
-- not share.  B's own rows of the child table are removed first (rolled back with
-- the rest) so no unique constraint can fire before the FK does.
CREATE FUNCTION pg_temp.cross_tenant_fk(fk composite_fks) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    a constant uuid := pg_temp.uid('a', 1);
    b constant uuid := pg_temp.uid('b', 1);
    ccols text := array_to_string(fk.child_cols, ', ');
    pcols text := array_to_string(fk.parent_cols, ', ');
BEGIN
    RETURN pg_temp.try_as('pm_service', ARRAY[
        format('DELETE FROM %s WHERE tenant_id = %L', fk.child, b),
        format('UPDATE %s SET (%s) = (SELECT %s FROM %s p WHERE p.tenant_id = %L '
               '  AND (%s) NOT IN (SELECT %s FROM %s WHERE tenant_id = %L) LIMIT 1) '
               'WHERE ctid = (SELECT ctid FROM %s WHERE tenant_id = %L LIMIT 1)',
               fk.child, ccols, pcols, fk.parent, b, pcols, pcols, fk.parent, a,
               fk.child, a)]);
END
$f$;

SELECT is(pg_temp.cross_tenant_fk(f), 'error:23503:' || f.conname,
          format('%s: a row of tenant A cannot reference %s of tenant B (%s), even as pm_service',
                 f.child, f.parent, f.conname))
FROM composite_fks f ORDER BY f.conname;

------------------------------------------------------------------------------
-- Global tables: pm_app never writes them, reads only the public ones
------------------------------------------------------------------------------

SELECT is(ARRAY(SELECT p FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
                WHERE has_table_privilege('pm_app', g.tbl, p)),
          '{}'::text[], g.tbl || ': pm_app holds no write privilege')
FROM global_tables g ORDER BY g.tbl::text;

SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
                         format('UPDATE %s SET created = created', g.tbl), 'rows', 'error', pg_temp.uid('a', 101)),
          'error:42501', g.tbl || ': UPDATE as pm_app is refused')
FROM global_tables g ORDER BY g.tbl::text;

SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
                         format('SELECT count(*) >= 0 FROM %s', g.tbl), 'value', 'error', pg_temp.uid('a', 101)),
          CASE WHEN g.app_reads THEN 'true' ELSE 'error:42501' END,
          g.tbl || CASE WHEN g.app_reads THEN ': readable by pm_app'
                        ELSE ': platform-internal, not readable by pm_app' END)
FROM global_tables g ORDER BY g.tbl::text;

------------------------------------------------------------------------------
-- users and tenants: visible to pm_app only within its own tenant
------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.ids(VARIADIC ids uuid[]) RETURNS text LANGUAGE sql AS
$$ SELECT array_agg(x ORDER BY x)::text FROM unnest(ids) x $$;

SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
          'SELECT array_agg(id ORDER BY id)::text FROM pm_oltp.users', 'value', 'error', pg_temp.uid('a', 101)),
          pg_temp.ids(pg_temp.uid('a', 101), pg_temp.uid('a', 102), pg_temp.uid('c', 101)),
          'users: tenant A sees its members only (incl. the one shared with B)');
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('b', 1),
          'SELECT array_agg(id ORDER BY id)::text FROM pm_oltp.users', 'value', 'error', pg_temp.uid('b', 101)),
          pg_temp.ids(pg_temp.uid('b', 101), pg_temp.uid('b', 102), pg_temp.uid('c', 101)),
          'users: tenant B sees its members only');
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
          'SELECT array_agg(id ORDER BY id)::text FROM pm_oltp.users', 'value', 'error', pg_temp.uid('c', 102)),
          pg_temp.ids(pg_temp.uid('a', 101), pg_temp.uid('a', 102), pg_temp.uid('c', 101),
                      pg_temp.uid('c', 102)),
          'users: the acting user sees itself even when not a member');
SELECT is(pg_temp.as_role('pm_app', NULL,
          'SELECT array_agg(id ORDER BY id)::text FROM pm_oltp.users', 'value', 'deny', pg_temp.uid('c', 102)),
          pg_temp.ids(pg_temp.uid('c', 102)),
          'users: without a tenant (deny) only the acting user is visible');
SELECT is(pg_temp.as_role('pm_app', NULL, 'SELECT count(*) FROM pm_oltp.users', 'value', 'error', NULL),
          'error:42501', 'users: no context raises 42501');
SELECT is(pg_temp.as_role('pm_staff', NULL,
          'SELECT count(*) FROM pm_oltp.users WHERE email LIKE ''%.test''', 'value', 'error', NULL),
          '6', 'users: pm_staff sees every user');
SELECT is(pg_temp.as_role('pm_app', pg_temp.uid('a', 1),
          'SELECT array_agg(id ORDER BY id)::text FROM pm_oltp.tenants', 'value', 'error', NULL),
          pg_temp.ids(pg_temp.uid('a', 1)), 'tenants: tenant A sees only its own tenant row');
SELECT is(pg_temp.as_role('pm_app', NULL, 'SELECT count(*) FROM pm_oltp.tenants', 'value', 'error', NULL),
          'error:42501', 'tenants: no context raises 42501');
SELECT is(pg_temp.as_role('pm_app', NULL, 'SELECT count(*) FROM pm_oltp.tenants', 'value', 'deny', NULL),
          '0', 'tenants: no context with deny sees none');
SELECT is(pg_temp.as_role('pm_service', NULL,
          format('SELECT count(*) FROM pm_oltp.tenants WHERE id IN (%L, %L)',
                 pg_temp.uid('a', 1), pg_temp.uid('b', 1)), 'value', 'error', NULL),
          '2', 'tenants: pm_service sees every tenant');

------------------------------------------------------------------------------
-- Every table keeps "updated" current, even against an explicit value
------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.touch(target regclass) RETURNS timestamptz LANGUAGE plpgsql AS $f$
DECLARE
    r timestamptz;
BEGIN
    EXECUTE format('UPDATE %s SET updated = ''2000-01-01'' '
                   'WHERE ctid = (SELECT ctid FROM %s LIMIT 1) RETURNING updated', target, target)
    INTO r;
    RETURN r;
END
$f$;

SELECT is(pg_temp.touch(c.oid::regclass), now(),
          c.oid::regclass || ': an UPDATE sets updated to now()')
FROM pg_class c
WHERE c.relnamespace = 'pm_oltp'::regnamespace AND c.relkind = 'r'
  AND c.relname <> 'olap_dirty_keys'
ORDER BY c.relname;

------------------------------------------------------------------------------
-- Deletions keep tenant_id intact and stay inside the tenant
------------------------------------------------------------------------------

DELETE FROM pm_oltp.email_accounts WHERE id = pg_temp.uid('a', 401);
SELECT is((SELECT (tenant_id, email_account_id)::text FROM pm_oltp.campaign_sequence_steps
           WHERE id = pg_temp.uid('a', 901)),
          (pg_temp.uid('a', 1), NULL::uuid)::text,
          'deleting a mailbox nulls the step''s email_account_id and keeps its tenant_id');
SELECT is((SELECT count(*) FROM pm_oltp.emails
           WHERE tenant_id = pg_temp.uid('a', 1) AND email_account_id IS NULL),
          2::bigint, 'deleting a mailbox keeps its emails (sending history)');

CREATE TEMP TABLE a_counts AS
SELECT t.tbl, (xpath('/row/n/text()',
               query_to_xml(format('SELECT count(*) AS n FROM %s WHERE tenant_id = %L',
                                   t.tbl, pg_temp.uid('a', 1)), false, false, '')))[1]::text AS n
FROM tenant_tables t;

SELECT is(pg_temp.as_role('pm_service', NULL,
          format('DELETE FROM pm_oltp.tenants WHERE id = %L', pg_temp.uid('b', 1)), 'rows', 'error', NULL),
          'rows:1', 'pm_service can delete a tenant');
SELECT is_empty(
    $$SELECT t.tbl, a.n, (xpath('/row/n/text()',
              query_to_xml(format('SELECT count(*) AS n FROM %s WHERE tenant_id IN (%L, %L)',
                                  t.tbl, pg_temp.uid('a', 1), pg_temp.uid('b', 1)),
                           false, false, '')))[1]::text AS remaining
      FROM tenant_tables t JOIN a_counts a USING (tbl)
      WHERE (xpath('/row/n/text()',
              query_to_xml(format('SELECT count(*) AS n FROM %s WHERE tenant_id IN (%L, %L)',
                                  t.tbl, pg_temp.uid('a', 1), pg_temp.uid('b', 1)),
                           false, false, '')))[1]::text <> a.n$$,
    'deleting tenant B removes all its rows in every table and none of tenant A''s');

SELECT * FROM finish();
ROLLBACK;
