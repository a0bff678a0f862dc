-- OLAP integration test: tenants, mailboxes, leads, campaigns with steps and enrollments in
-- the OLTP database (random but seeded: :seed).
SELECT setseed(:seed / 1000.0);
INSERT INTO pm_oltp.plans (name, slug, max_emails_per_month) VALUES ('Growth', 'growth', 100000);
INSERT INTO pm_oltp.tenants (id, name)
SELECT ('0000000' || t || '-0000-4000-8000-00000000000' || t)::uuid, 'tenant ' || t
FROM generate_series(1, 3) t;
INSERT INTO pm_oltp.subscriptions (tenant_id, plan_id, current_period_start, current_period_end)
SELECT t.id, p.id, date_trunc('month', now()), date_trunc('month', now()) + interval '1 month'
FROM pm_oltp.tenants t, pm_oltp.plans p WHERE t.name <> 'tenant 3';
INSERT INTO pm_oltp.companies (tenant_id, name) SELECT id, name || ' inc' FROM pm_oltp.tenants;
INSERT INTO pm_oltp.domains (tenant_id, company_id, domain)
SELECT c.tenant_id, c.id, 'd' || row_number() OVER () || '.example' FROM pm_oltp.companies c;
INSERT INTO pm_oltp.email_accounts (tenant_id, domain_id, email, daily_limit, warmup_status)
SELECT d.tenant_id, d.id, 'box' || i || '@' || d.domain, 50, (ARRAY['unwarmed','warming','warmed'])[1 + i % 3]
FROM pm_oltp.domains d, generate_series(1, 3) i;
INSERT INTO pm_oltp.leads (tenant_id, email)
SELECT t.id, 'lead' || i || '@' || replace(t.name, ' ', '') || '.test'
FROM pm_oltp.tenants t, generate_series(1, 40) i;
INSERT INTO pm_oltp.campaigns (tenant_id, company_id, name, status)
SELECT c.tenant_id, c.id, 'campaign ' || i, 'sending' FROM pm_oltp.companies c, generate_series(1, 2) i;
INSERT INTO pm_oltp.campaign_sequence_steps (tenant_id, campaign_id, step_order)
SELECT c.tenant_id, c.id, s FROM pm_oltp.campaigns c, generate_series(0, 1) s;
INSERT INTO pm_oltp.campaign_leads (tenant_id, campaign_id, lead_id)
SELECT c.tenant_id, c.id, l.id FROM pm_oltp.campaigns c JOIN pm_oltp.leads l ON l.tenant_id = c.tenant_id
WHERE random() < 0.6;
