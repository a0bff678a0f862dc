-- A realistic PenguinMails sample for the embedded demo (run-demo.sh), loaded into a fresh
-- database that has `CREATE EXTENSION pm_oltp CASCADE` and `SELECT pm.ensure_roles()`.
--
-- Loaded as the superuser (the platform's own provisioning path), so RLS does not filter it.
-- Six tenants on different plans, ~10,000 leads, campaigns sent in three waves; every
-- delivery/open/click/reply/bounce/unsubscribe goes through pm_oltp.record_email_event,
-- so lead and enrollment statuses are the consequences the function applies, and later
-- waves skip leads that replied, bounced or opted out, as a real sequencer would.
--
-- Ids of tenants are stable across runs (md5 of a slug) so docs can quote them.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.2024) \g /dev/null

BEGIN;

------------------------------------------------------------------------------
-- Plans (global price list)
------------------------------------------------------------------------------
INSERT INTO pm_oltp.plans (name, slug, description, max_users, max_domains,
                           max_campaigns_per_month, api_rate_limit, max_email_accounts,
                           max_emails_per_month, max_warmups, max_contacts, max_storage_gb,
                           api_access, priority_support, advanced_analytics, white_label,
                           price_monthly, price_yearly, stripe_product_id)
VALUES
  ('Starter', 'starter', 'Founders testing outbound', 2, 2, 5, 60, 6, 5000, 2, 1000, 5,
   false, false, false, false, 49, 490, 'prod_demo_starter'),
  ('Growth', 'growth', 'Small sales teams', 5, 5, 20, 300, 15, 25000, 8, 5000, 20,
   true, false, true, false, 149, 1490, 'prod_demo_growth'),
  ('Scale', 'scale', 'Outbound at volume', 15, 15, 100, 1000, 50, 100000, 30, 25000, 100,
   true, true, true, false, 399, 3990, 'prod_demo_scale'),
  ('Agency', 'agency', 'Agencies running many client workspaces', 50, 50, NULL, 5000, 200,
   500000, 100, NULL, 500, true, true, true, true, 999, 9990, 'prod_demo_agency');

------------------------------------------------------------------------------
-- Tenants, their people, subscriptions and payments
------------------------------------------------------------------------------
CREATE TEMP TABLE demo_tenant AS
SELECT md5('penguinmails-demo:' || slug)::uuid AS id, *
FROM (VALUES
  (1, 'northwind', 'Northwind Outreach',   'scale',   3000, 'active',   '{Ava,Lucas,Mia}'::text[]),
  (2, 'acme',      'Acme Growth Labs',     'growth',  2400, 'active',   '{Noah,Emma}'::text[]),
  (3, 'bluefin',   'Bluefin Analytics',    'growth',  1800, 'active',   '{Liam,Sofia}'::text[]),
  (4, 'cobalt',    'Cobalt Ventures',      'starter', 1200, 'active',   '{Ethan,Chloe}'::text[]),
  (5, 'driftwood', 'Driftwood Studio',     'starter',  900, 'past_due', '{Zoe}'::text[]),
  (6, 'evergreen', 'Evergreen Talent',     'agency',   700, 'active',   '{Oliver,Grace,Henry}'::text[])
) AS v(ord, slug, name, plan_slug, n_leads, sub_status, people);

INSERT INTO pm_oltp.tenants (id, name, created)
SELECT id, name, now() - interval '200 days' + ord * interval '9 days' FROM demo_tenant;

CREATE TEMP TABLE demo_user AS
SELECT gen_random_uuid() AS id, t.id AS tenant_id, t.slug, p.given, p.n,
       (ARRAY['Walker','Nguyen','Okafor','Larsen','Moreau','Tanaka','Rossi','Kowalski'])
           [1 + (t.ord * 3 + p.n::int) % 8] AS family
FROM demo_tenant t, unnest(t.people) WITH ORDINALITY AS p(given, n);

INSERT INTO pm_oltp.users (id, name, given_name, family_name, email, email_verified, created)
SELECT id, given || ' ' || family, given, family,
       lower(given || '@' || slug || '.example.com'), now() - interval '150 days',
       now() - interval '180 days'
FROM demo_user;

INSERT INTO pm_oltp.tenant_users (tenant_id, user_id, roles, email)
SELECT u.tenant_id, u.id,
       CASE WHEN u.n = 1 THEN '{owner,admin}'::text[] ELSE '{member}'::text[] END,
       lower(u.given || '@' || u.slug || '.example.com')
FROM demo_user u;

-- The current billing period began 18 days ago, so part of the sending history below
-- counts against this month's emails_per_month quota.
INSERT INTO pm_oltp.subscriptions (tenant_id, plan_id, status, current_period_start,
                                   current_period_end, billing_contact_user_id,
                                   stripe_subscription_id, created)
SELECT t.id, p.id, t.sub_status,
       date_trunc('day', now()) - interval '18 days',
       date_trunc('day', now()) - interval '18 days' + interval '1 month',
       (SELECT u.id FROM demo_user u WHERE u.tenant_id = t.id AND u.n = 1),
       'sub_demo_' || t.slug, now() - interval '190 days'
FROM demo_tenant t JOIN pm_oltp.plans p ON p.slug = t.plan_slug;

INSERT INTO pm_oltp.payments (tenant_id, subscription_id, initiated_by_user_id, amount, status,
                              processed, description, stripe_payment_intent_id,
                              billing_period_start, billing_period_end, created)
SELECT s.tenant_id, s.id, s.billing_contact_user_id, p.price_monthly,
       CASE WHEN t.sub_status = 'past_due' AND m = 0 THEN 'failed' ELSE 'succeeded' END,
       s.current_period_start - m * interval '1 month',
       format('%s plan, monthly', p.name),
       format('pi_demo_%s_%s', t.slug, m),
       s.current_period_start - m * interval '1 month',
       s.current_period_end - m * interval '1 month',
       s.current_period_start - m * interval '1 month'
FROM pm_oltp.subscriptions s
JOIN demo_tenant t ON t.id = s.tenant_id
JOIN pm_oltp.plans p ON p.id = s.plan_id
CROSS JOIN generate_series(0, 2) AS m;

INSERT INTO pm_oltp.tenant_config (tenant_id, stripe_customer_id, billing_email, billing_address,
                                   theme_primary_color, ui_timezone)
SELECT id, 'cus_demo_' || slug, 'billing@' || slug || '.example.com',
       jsonb_build_object('line1', ord * 100 || ' Market Street', 'city', 'San Francisco',
                          'country', 'US'),
       '#1F6FEB', 'America/Los_Angeles'
FROM demo_tenant;

------------------------------------------------------------------------------
-- Companies (workspaces), sending domains with DNS records, mailboxes
------------------------------------------------------------------------------
CREATE TEMP TABLE demo_company AS
SELECT gen_random_uuid() AS id, t.id AS tenant_id, t.slug AS tenant_slug, c.*
FROM (VALUES
  ('northwind', 'Northwind Outreach',     'northwind',    'B2B SaaS',        '51-200',  '{northwind-outreach.com,trynorthwind.com}'::text[], 3),
  ('northwind', 'Northwind EU',           'northwind-eu', 'B2B SaaS',        '11-50',   '{northwind-eu.com}'::text[], 3),
  ('acme',      'Acme Growth Labs',       'acme',         'Marketing',       '11-50',   '{acmegrowth.io,getacmegrowth.com}'::text[], 3),
  ('acme',      'Acme Recruiting',        'acme-talent',  'Recruiting',      '1-10',    '{acme-talent.io}'::text[], 3),
  ('bluefin',   'Bluefin Analytics',      'bluefin',      'Data & AI',       '51-200',  '{bluefin-analytics.com,meetbluefin.com}'::text[], 3),
  ('cobalt',    'Cobalt Ventures',        'cobalt',       'Venture Capital', '1-10',    '{cobaltvc.com}'::text[], 3),
  ('cobalt',    'Cobalt Portfolio Ops',   'cobalt-ops',   'Venture Capital', '1-10',    '{cobalt-ops.com}'::text[], 2),
  ('driftwood', 'Driftwood Studio',       'driftwood',    'Design Agency',   '11-50',   '{driftwood.studio}'::text[], 3),
  ('evergreen', 'Evergreen Talent',       'evergreen',    'Staffing',        '201-500', '{evergreentalent.co,evergreen-hire.com}'::text[], 4),
  ('evergreen', 'Evergreen Care Staffing','evergreen-care','Healthcare',     '51-200',  '{evergreen-care.co}'::text[], 3),
  ('evergreen', 'Evergreen Tech Search',  'evergreen-tech','IT Services',    '51-200',  '{evergreen-tech.co}'::text[], 3)
) AS c(slug, name, workspace_name, industry, company_size, domains, mailboxes_per_domain)
JOIN demo_tenant t ON t.slug = c.slug;

INSERT INTO pm_oltp.companies (id, tenant_id, name, workspace_name, industry, company_size,
                               onboarding_started_at, onboarding_completed_at, created)
SELECT id, tenant_id, name, workspace_name, industry, company_size,
       now() - interval '170 days', now() - interval '165 days', now() - interval '170 days'
FROM demo_company;

INSERT INTO pm_oltp.tenant_policies (tenant_id, default_company_id, default_daily_limit,
                                     require_mfa)
SELECT t.id, (SELECT c.id FROM demo_company c WHERE c.tenant_id = t.id ORDER BY c.name LIMIT 1),
       50, t.plan_slug IN ('scale', 'agency')
FROM demo_tenant t;

CREATE TEMP TABLE demo_domain AS
SELECT gen_random_uuid() AS id, c.tenant_id, c.id AS company_id, d.domain, d.n,
       c.mailboxes_per_domain,
       -- One secondary domain still waits for its DKIM record to propagate.
       (d.domain = 'getacmegrowth.com') AS dkim_pending
FROM demo_company c, unnest(c.domains) WITH ORDINALITY AS d(domain, n);

INSERT INTO pm_oltp.domains (id, tenant_id, company_id, domain, verification_status, dns_records,
                             is_primary, verified, mailu_domain, dns_ttl_observed,
                             dns_last_verified_at, dns_verification_attempts, created)
SELECT d.id, d.tenant_id, d.company_id, d.domain,
       CASE WHEN d.dkim_pending THEN 'pending' ELSE 'verified' END,
       jsonb_build_object('records', jsonb_build_array(
           jsonb_build_object('record_type', 'MX', 'name', d.domain, 'ttl', 3600,
                              'value', '10 mx1.penguinmails.example', 'verification_status', 'verified'),
           jsonb_build_object('record_type', 'SPF', 'name', d.domain, 'ttl', 3600,
                              'value', 'v=spf1 include:_spf.penguinmails.example -all',
                              'verification_status', 'verified'),
           jsonb_build_object('record_type', 'DKIM', 'name', 'pm1._domainkey.' || d.domain, 'ttl', 3600,
                              'value', 'v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'
                                       || left(md5(d.domain), 24),
                              'verification_status', CASE WHEN d.dkim_pending THEN 'pending' ELSE 'verified' END),
           jsonb_build_object('record_type', 'DMARC', 'name', '_dmarc.' || d.domain, 'ttl', 3600,
                              'value', 'v=DMARC1; p=quarantine; rua=mailto:dmarc@' || d.domain,
                              'verification_status', 'verified'))),
       d.n = 1,
       CASE WHEN NOT d.dkim_pending THEN now() - interval '160 days' END,
       d.domain, 3600, now() - interval '1 day',
       CASE WHEN d.dkim_pending THEN 4 ELSE 1 END,
       now() - interval '168 days'
FROM demo_domain d;

CREATE TEMP TABLE demo_mailbox AS
SELECT gen_random_uuid() AS id, d.tenant_id, d.id AS domain_id,
       (ARRAY['alex','jordan','sam','taylor','morgan','casey'])[m] || '@' || d.domain AS email,
       -- The first mailboxes of a domain are warmed, the newest one is still warming;
       -- nothing warms on a domain whose DNS is not verified yet.
       CASE WHEN d.dkim_pending THEN 'unwarmed'
            WHEN m <= 2 THEN 'warmed'
            ELSE 'warming' END AS warmup_status
FROM demo_domain d, generate_series(1, d.mailboxes_per_domain) AS m;

INSERT INTO pm_oltp.email_accounts (id, tenant_id, domain_id, email, vault_key_path,
                                    imap_settings, smtp_settings, last_warmed, daily_limit,
                                    warmup_status, created)
SELECT id, tenant_id, domain_id, email, 'secret/mailboxes/' || email,
       jsonb_build_object('host', 'imap.penguinmails.example', 'port', 993, 'tls', true),
       jsonb_build_object('host', 'smtp.penguinmails.example', 'port', 587, 'starttls', true),
       CASE WHEN warmup_status <> 'unwarmed' THEN now() - interval '6 hours' END,
       CASE warmup_status WHEN 'warmed' THEN 80 WHEN 'warming' THEN 25 ELSE 5 END,
       warmup_status, now() - interval '160 days'
FROM demo_mailbox;

------------------------------------------------------------------------------
-- Leads: ~10,000 people at real-sounding companies
------------------------------------------------------------------------------
CREATE TEMP TABLE demo_lead_company AS
SELECT row_number() OVER () AS n, name, domain
FROM (VALUES
  ('Helix Biotech','helixbio.com'), ('Quartz Logistics','quartzlogistics.com'),
  ('Summit Health','summithealth.org'), ('Brightline Energy','brightline-energy.com'),
  ('Orbital Freight','orbitalfreight.io'), ('Juniper Foods','juniperfoods.com'),
  ('Lumen Security','lumensec.io'), ('Redwood Capital','redwoodcap.com'),
  ('Atlas Robotics','atlasrobotics.ai'), ('Marigold Retail','marigoldretail.com'),
  ('Pinnacle Insurance','pinnacle-ins.com'), ('Copperleaf Software','copperleaf.dev'),
  ('Silverline Travel','silverlinetravel.com'), ('Harbor Fintech','harborfin.io'),
  ('Granite Construction Group','granitecg.com'), ('Nimbus Cloud','nimbuscloud.net'),
  ('Velvet Hospitality','velvethotels.com'), ('Ironclad Legal','ironclad-legal.com'),
  ('Beacon Education','beacon-edu.org'), ('Tidewater Marine','tidewatermarine.com'),
  ('Sequoia Media','sequoiamedia.co'), ('Cascade Manufacturing','cascademfg.com'),
  ('Polaris Telecom','polaristel.com'), ('Meridian Pharma','meridianpharma.com'),
  ('Foxglove Cosmetics','foxglove.beauty'), ('Keystone Realty','keystonerealty.com'),
  ('Aurora Gaming','auroragames.gg'), ('Evergrove Farms','evergrovefarms.com'),
  ('Stratus Aerospace','stratusaero.com'), ('Bluebird Payments','bluebirdpay.com'),
  ('Crescent Clinics','crescentclinics.com'), ('Wildflower Apparel','wildflowerapparel.com'),
  ('Sterling Consulting','sterlingconsult.com'), ('Vertex Semiconductors','vertexsemi.com'),
  ('Oakridge Hardware','oakridgehw.com'), ('Cobblestone Coffee','cobblestone.coffee'),
  ('Northstar Analytics','northstar-analytics.com'), ('Prairie Wind Power','prairiewind.energy'),
  ('Monarch Mobility','monarchmobility.com'), ('Saffron Labs','saffronlabs.io')
) AS v(name, domain);

INSERT INTO pm_oltp.leads (tenant_id, email, name, company, status, created)
SELECT tenant_id,
       lower(first || '.' || last || CASE WHEN dup > 1 THEN dup::text ELSE '' END) || '@' || domain,
       first || ' ' || last, company,
       CASE WHEN random() < 0.006 THEN 'do_not_contact' ELSE 'active' END,
       now() - interval '120 days' + random() * interval '80 days'
FROM (
    SELECT p.*, row_number() OVER (PARTITION BY tenant_id, first, last, domain ORDER BY g) AS dup
    FROM (
        SELECT t.id AS tenant_id, g,
               (ARRAY['James','Mary','Robert','Patricia','John','Jennifer','Michael','Linda',
                      'David','Elizabeth','William','Barbara','Richard','Susan','Joseph','Jessica',
                      'Thomas','Sarah','Charles','Karen','Daniel','Lisa','Matthew','Nancy',
                      'Anthony','Sandra','Mark','Ashley','Steven','Kimberly','Andrew','Emily',
                      'Paul','Michelle','Joshua','Amanda','Kevin','Melissa','Brian','Stephanie',
                      'Priya','Arjun','Wei','Mei','Hiroshi','Yuki','Carlos','Lucia','Ahmed',
                      'Fatima','Olga','Ivan','Ingrid','Lars','Amara','Kwame','Sean','Aoife',
                      'Mateo','Valentina'])[1 + floor(random() * 60)::int] AS first,
               (ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis',
                      'Rodriguez','Martinez','Hernandez','Lopez','Gonzalez','Wilson','Anderson',
                      'Thomas','Taylor','Moore','Jackson','Martin','Lee','Perez','Thompson',
                      'White','Harris','Sanchez','Clark','Ramirez','Lewis','Robinson','Walker',
                      'Young','Allen','King','Wright','Scott','Torres','Nguyen','Hill','Flores',
                      'Patel','Shah','Chen','Wang','Sato','Suzuki','Silva','Costa','Hassan',
                      'Ali','Petrov','Ivanova','Johansson','Nielsen','Mensah','Boateng',
                      'Murphy','Kelly','Fernandez','Romero'])[1 + floor(random() * 60)::int] AS last,
               lc.name AS company, lc.domain
        FROM demo_tenant t
        CROSS JOIN generate_series(1, t.n_leads) AS g
        JOIN demo_lead_company lc ON lc.n = 1 + (g * 7 + t.ord * 11) % 40
    ) p
) q;

------------------------------------------------------------------------------
-- Templates, campaigns and their sequences
------------------------------------------------------------------------------
INSERT INTO pm_oltp.templates (tenant_id, name, subject, content, is_started, created)
SELECT t.id, v.name, v.subject, v.content, true, now() - interval '100 days'
FROM demo_tenant t
CROSS JOIN (VALUES
  ('Intro — pain point', 'Quick question about {{company}}',
   E'Hi {{first_name}},\n\nTeams like {{company}} usually lose hours every week to manual outreach. '
   'We help them get that time back.\n\nWorth a 15-minute chat next week?\n\n{{sender_name}}'),
  ('Follow-up — case study', 'Re: Quick question about {{company}}',
   E'Hi {{first_name}},\n\nFollowing up with a short case study: a team your size booked 3x more '
   'meetings in a quarter.\n\nShall I send it over?\n\n{{sender_name}}'),
  ('Break-up', 'Should I close your file?',
   E'Hi {{first_name}},\n\nI have not heard back, so I will assume the timing is off. '
   'If that changes, just reply to this email.\n\n{{sender_name}}'),
  ('Event invite', 'Join us at the {{city}} roundtable',
   E'Hi {{first_name}},\n\nWe are hosting a small roundtable for leaders at companies like '
   '{{company}}. Would you like a seat?\n\n{{sender_name}}')
) AS v(name, subject, content);

CREATE TEMP TABLE demo_campaign AS
SELECT gen_random_uuid() AS id, c.tenant_id, c.id AS company_id, c.name AS company_name, v.*,
       row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.name, v.k) AS n
FROM demo_company c
CROSS JOIN (VALUES
  (1, 'Q3 outbound — VP Sales',        'completed', 45),
  (2, 'Product launch — Ops leaders',  'sending',   32),
  (3, 'Webinar follow-up (draft)',     'draft',     NULL)
) AS v(k, name, status, started_days_ago)
-- Small workspaces run one campaign plus a draft.
WHERE v.k <> 2 OR c.company_size NOT IN ('1-10');

INSERT INTO pm_oltp.campaigns (id, tenant_id, company_id, name, description, status, scheduled,
                               completed, created)
SELECT id, tenant_id, company_id, name || ' · ' || company_name,
       'Sequence of three emails with waits in between',
       status,
       CASE WHEN started_days_ago IS NOT NULL THEN now() - started_days_ago * interval '1 day' END,
       CASE WHEN status = 'completed' THEN now() - interval '10 days' END,
       -- The running campaign was created this month: it counts in campaigns_per_month.
       CASE WHEN status = 'sending' THEN now() - interval '16 days'
            ELSE now() - coalesce(started_days_ago + 3, 5) * interval '1 day' END
FROM demo_campaign;

-- Steps 1, 3, 5 send (intro, follow-up, break-up) from one mailbox of the campaign's company;
-- 2 and 4 wait.  A warmed mailbox is picked so real sends come from reputable senders.
INSERT INTO pm_oltp.campaign_sequence_steps (tenant_id, campaign_id, step_order, step_type,
                                             email_account_id, template_id, from_name_override,
                                             wait_duration_hours, created)
SELECT c.tenant_id, c.id, s.step_order, s.step_type,
       CASE WHEN s.step_type = 'email' THEN
           (SELECT a.id FROM pm_oltp.email_accounts a JOIN pm_oltp.domains d ON d.id = a.domain_id
             WHERE d.company_id = c.company_id AND a.warmup_status = 'warmed'
             ORDER BY a.email OFFSET (c.n - 1) % 2 LIMIT 1) END,
       CASE WHEN s.step_type = 'email' THEN
           (SELECT tp.id FROM pm_oltp.templates tp
             WHERE tp.tenant_id = c.tenant_id AND tp.name = s.template) END,
       CASE WHEN s.step_type = 'email' THEN c.company_name END,
       s.wait_hours, now() - interval '50 days'
FROM demo_campaign c
CROSS JOIN (VALUES
  (1, 'email', 'Intro — pain point', NULL),
  (2, 'wait', NULL, 72),
  (3, 'email', 'Follow-up — case study', NULL),
  (4, 'wait', NULL, 96),
  (5, 'email', 'Break-up', NULL)
) AS s(step_order, step_type, template, wait_hours);

-- Enrollments: about two leads in three join one of their tenant's live campaigns.
WITH live AS (
    SELECT c.id, c.tenant_id, c.scheduled,
           row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.name) - 1 AS k,
           count(*) OVER (PARTITION BY c.tenant_id) AS n_live
    FROM pm_oltp.campaigns c WHERE c.status <> 'draft'
), lead AS (
    SELECT l.id, l.tenant_id,
           row_number() OVER (PARTITION BY l.tenant_id ORDER BY l.created, l.id) AS rn
    FROM pm_oltp.leads l WHERE l.status = 'active'
)
INSERT INTO pm_oltp.campaign_leads (tenant_id, campaign_id, lead_id, status, current_step,
                                    next_run_at, created)
SELECT l.tenant_id, c.id, l.id, 'active', 0, c.scheduled, c.scheduled - interval '1 day'
FROM lead l JOIN live c ON c.tenant_id = l.tenant_id AND c.k = l.rn % c.n_live
WHERE random() < 0.67;

------------------------------------------------------------------------------
-- Sending, in three waves.  Each wave sends one email step to every enrollment that is
-- still active, then replays the provider's webhooks through record_email_event.
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.send_wave(wave int) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    step_no constant int := 2 * wave - 1;         -- sequence steps 1, 3, 5
    events bigint;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS wave_email (id uuid PRIMARY KEY) ON COMMIT DROP;
    TRUNCATE wave_email;

    WITH due AS (
        SELECT cl.id AS enrollment_id, cl.tenant_id, cl.campaign_id, cl.lead_id, l.email AS recipient,
               split_part(l.name, ' ', 1) AS first_name, l.company,
               s.id AS step_id, s.email_account_id, a.email AS sender,
               tp.subject, tp.content, s.from_name_override,
               -- Intro sends spread over ten days from the campaign start; follow-ups keep
               -- the sequence's waits.
               c.scheduled + (interval '10 days' * random()) * (CASE WHEN wave = 1 THEN 1 ELSE 0 END)
                 + coalesce(cl.last_sent - c.scheduled, interval '0')
                 + (CASE wave WHEN 1 THEN interval '0' WHEN 2 THEN interval '72 hours'
                              ELSE interval '96 hours' END)
                 + random() * interval '2 hours' AS sent_at
        FROM pm_oltp.campaign_leads cl
        JOIN pm_oltp.campaigns c ON c.id = cl.campaign_id
        JOIN pm_oltp.leads l ON l.id = cl.lead_id
        JOIN pm_oltp.campaign_sequence_steps s ON s.campaign_id = cl.campaign_id AND s.step_order = step_no
        JOIN pm_oltp.email_accounts a ON a.id = s.email_account_id
        JOIN pm_oltp.templates tp ON tp.id = s.template_id
        WHERE cl.status = 'active' AND l.status = 'active'
    ), rendered AS (
        SELECT d.*,
               replace(replace(d.subject, '{{company}}', d.company), '{{first_name}}', d.first_name)
                   AS subject_text,
               replace(replace(replace(d.content, '{{first_name}}', d.first_name),
                               '{{company}}', d.company), '{{sender_name}}', d.from_name_override)
                   AS body_text
        FROM due d
    ), inserted AS (
        INSERT INTO pm_oltp.emails (tenant_id, campaign_id, step_id, lead_id, email_account_id,
                                    direction, recipient, subject, message_id, status,
                                    content_storage_key, scheduled_at, sent_at, created)
        SELECT r.tenant_id, r.campaign_id, r.step_id, r.lead_id, r.email_account_id,
               'outbound', r.recipient, r.subject_text,
               format('<%s@%s>', gen_random_uuid(), split_part(r.sender, '@', 2)),
               'sent',
               -- The body itself lives in the content tier; OLTP keeps its key.
               pm.body_storage_key(r.tenant_id, r.body_text,
                                   '<p>' || replace(r.body_text, E'\n', '<br>') || '</p>',
                                   jsonb_build_object('From', r.sender, 'To', r.recipient,
                                                      'Subject', r.subject_text)),
               r.sent_at - interval '5 minutes', r.sent_at, r.sent_at - interval '5 minutes'
        FROM rendered r
        RETURNING id, tenant_id, campaign_id, lead_id, sent_at
    ), progressed AS (
        UPDATE pm_oltp.campaign_leads cl
        SET current_step = step_no, last_sent = i.sent_at,
            next_run_at = CASE WHEN wave < 3 THEN i.sent_at + interval '72 hours' END,
            status = CASE WHEN wave = 3 THEN 'completed' ELSE cl.status END
        FROM inserted i
        WHERE cl.campaign_id = i.campaign_id AND cl.lead_id = i.lead_id
        RETURNING cl.id
    )
    INSERT INTO wave_email SELECT id FROM inserted;

    -- What the provider reports back.  Engagement fades along the sequence.
    WITH outcome AS (
        SELECT e.id, e.sent_at, random() AS u_bounce, random() AS u_open, random() AS u_click,
               random() AS u_reply, random() AS u_unsub, random() AS u_kind
        FROM pm_oltp.emails e JOIN wave_email w ON w.id = e.id
    ), ev AS (
        SELECT id, 'hard_bounce' AS event, sent_at + interval '40 seconds' AS at
          FROM outcome WHERE u_bounce < 0.018
        UNION ALL
        SELECT id, 'soft_bounce', sent_at + interval '3 minutes'
          FROM outcome WHERE u_bounce >= 0.018 AND u_bounce < 0.03
        UNION ALL
        SELECT id, 'delivered', sent_at + interval '8 seconds'
          FROM outcome WHERE u_bounce >= 0.03
        UNION ALL
        SELECT id, 'opened', sent_at + interval '20 minutes' + u_open * interval '30 hours'
          FROM outcome WHERE u_bounce >= 0.03 AND u_open < 0.48 - 0.08 * wave
        UNION ALL
        SELECT id, 'clicked', sent_at + interval '35 minutes' + u_open * interval '30 hours'
          FROM outcome WHERE u_bounce >= 0.03 AND u_open < 0.48 - 0.08 * wave AND u_click < 0.2
        UNION ALL
        SELECT id, 'replied', sent_at + interval '1 hour' + u_reply * interval '40 hours'
          FROM outcome WHERE u_bounce >= 0.03 AND u_open < 0.48 - 0.08 * wave
                         AND u_reply < 0.16 - 0.03 * wave
        UNION ALL
        SELECT id, CASE WHEN u_kind < 0.1 THEN 'complained' ELSE 'unsubscribed' END,
               sent_at + interval '50 minutes' + u_unsub * interval '20 hours'
          FROM outcome WHERE u_bounce >= 0.03 AND u_open < 0.48 - 0.08 * wave
                         AND u_reply >= 0.16 - 0.03 * wave AND u_unsub < 0.03
    )
    SELECT count(pm_oltp.record_email_event(ev.id, ev.event, ev.at)) INTO events
    FROM (SELECT * FROM ev ORDER BY at) ev;

    -- Webhooks arrive twice in real life; replaying a slice must change nothing.
    PERFORM pm_oltp.record_email_event(e.id, 'delivered', e.delivered_at)
    FROM pm_oltp.emails e JOIN wave_email w ON w.id = e.id
    WHERE e.delivered_at IS NOT NULL AND random() < 0.05;

    RETURN events;
END
$fn$;

SELECT pg_temp.send_wave(1) \g /dev/null
SELECT pg_temp.send_wave(2) \g /dev/null
SELECT pg_temp.send_wave(3) \g /dev/null

-- Replies arrive as inbound messages threaded to the outbound one.
INSERT INTO pm_oltp.emails (tenant_id, campaign_id, step_id, lead_id, email_account_id, direction,
                            recipient, subject, message_id, status, sent_at, delivered_at, created)
SELECT e.tenant_id, e.campaign_id, e.step_id, e.lead_id, e.email_account_id, 'inbound',
       a.email, 'Re: ' || e.subject,
       format('<reply.%s@%s>', left(md5(e.id::text), 16), split_part(e.recipient, '@', 2)),
       'delivered', e.replied_at, e.replied_at, e.replied_at
FROM pm_oltp.emails e JOIN pm_oltp.email_accounts a ON a.id = e.email_account_id
WHERE e.direction = 'outbound' AND e.replied_at IS NOT NULL;

-- What the sequencer and the warm-up job would have recorded.
UPDATE pm_oltp.campaign_sequence_steps s
SET executed_count = x.n, last_executed = x.last
FROM (SELECT step_id, count(*) AS n, max(sent_at) AS last
        FROM pm_oltp.emails WHERE direction = 'outbound' GROUP BY step_id) x
WHERE s.id = x.step_id;

UPDATE pm_oltp.email_accounts a
SET daily_count = least(a.daily_limit, (abs(hashtext(a.email)) % 40))
WHERE a.warmup_status <> 'unwarmed';

COMMIT;

ANALYZE;

SELECT format('sample: %s tenants, %s companies, %s domains, %s mailboxes, %s leads, %s campaigns, %s enrollments, %s emails (%s inbound replies)',
              (SELECT count(*) FROM pm_oltp.tenants), (SELECT count(*) FROM pm_oltp.companies),
              (SELECT count(*) FROM pm_oltp.domains), (SELECT count(*) FROM pm_oltp.email_accounts),
              (SELECT count(*) FROM pm_oltp.leads), (SELECT count(*) FROM pm_oltp.campaigns),
              (SELECT count(*) FROM pm_oltp.campaign_leads),
              (SELECT count(*) FROM pm_oltp.emails),
              (SELECT count(*) FROM pm_oltp.emails WHERE direction = 'inbound')) AS loaded \gset
\echo :loaded
