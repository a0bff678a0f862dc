-- pm_oltp 0.1: the OLTP system of record (schema pm_oltp).
-- Contract: ../shared/spec/oltp.md; design notes and invented columns: docs/oltp.md.
--
-- Isolation rules every table below follows:
--   * a tenant-owned table has tenant_id uuid NOT NULL -> tenants ON DELETE CASCADE,
--     an index leading with tenant_id, and pm.enable_tenant_isolation();
--   * a parent that other tenant-owned rows point at has UNIQUE (tenant_id, id), and the
--     children reference it as (tenant_id, parent_id), so a row can never point into
--     another tenant's data, not even when written by a BYPASSRLS role;
--   * a nullable reference that must survive its parent's deletion uses
--     ON DELETE SET NULL (parent_id): nulling tenant_id too would violate NOT NULL.

\echo Use "CREATE EXTENSION pm_oltp" to load this file. \quit

------------------------------------------------------------------------------
-- Validation helpers used by CHECK constraints
------------------------------------------------------------------------------

-- Raises instead of returning false so the caller learns which element is wrong:
-- a bare CHECK failure would only name the constraint.
CREATE FUNCTION pm_oltp.validate_dns_records(doc jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $fn$
DECLARE
    record_types  constant text[] := ARRAY['SPF', 'DKIM', 'DMARC', 'MX', 'A', 'AAAA', 'CNAME'];
    record_states constant text[] := ARRAY['pending', 'verified', 'failed', 'error'];
    shape constant text :=
        'expected {"records": [{"record_type": "SPF|DKIM|DMARC|MX|A|AAAA|CNAME", '
        '"name": "...", "value": "...", "ttl": <integer >= 0>, '
        '"verification_status": "pending|verified|failed|error"}, ...]}';
    rec   jsonb;
    idx   bigint;
    path  text;
    fname text;
    field jsonb;
    ttl   numeric;
BEGIN
    IF doc IS NULL THEN
        RETURN true;
    END IF;
    IF jsonb_typeof(doc) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('dns_records must be a JSON object, got %s %s',
                             jsonb_typeof(doc), left(doc::text, 80)),
            HINT = shape;
    END IF;
    IF NOT doc ? 'records' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'dns_records.records is missing', HINT = shape;
    END IF;
    IF jsonb_typeof(doc -> 'records') <> 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('dns_records.records must be an array, got %s',
                             left((doc -> 'records')::text, 80)),
            HINT = shape;
    END IF;

    FOR rec, idx IN
        SELECT e.value, e.ordinality - 1
        FROM jsonb_array_elements(doc -> 'records') WITH ORDINALITY AS e
    LOOP
        path := format('dns_records.records[%s]', idx);
        IF jsonb_typeof(rec) <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('%s must be an object, got %s', path, left(rec::text, 80)),
                HINT = shape;
        END IF;

        field := rec -> 'record_type';
        IF field IS NULL OR jsonb_typeof(field) = 'null' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('%s.record_type is missing', path), HINT = shape;
        END IF;
        IF jsonb_typeof(field) <> 'string' OR NOT (field #>> '{}') = ANY (record_types) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('%s.record_type %s is not one of %s', path,
                                 left(field::text, 80), array_to_string(record_types, ', ')),
                HINT = shape;
        END IF;

        FOREACH fname IN ARRAY ARRAY['name', 'value'] LOOP
            field := rec -> fname;
            IF field IS NULL OR jsonb_typeof(field) = 'null' THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('%s.%s is missing', path, fname), HINT = shape;
            END IF;
            IF jsonb_typeof(field) <> 'string' OR (field #>> '{}') = '' THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('%s.%s must be a non-empty string, got %s', path, fname,
                                     left(field::text, 80)),
                    HINT = shape;
            END IF;
        END LOOP;

        field := rec -> 'ttl';
        IF field IS NOT NULL AND jsonb_typeof(field) <> 'null' THEN
            -- Nested, not OR'ed: SQL does not promise to short-circuit before the cast.
            ttl := CASE WHEN jsonb_typeof(field) = 'number' THEN (field #>> '{}')::numeric END;
            IF ttl IS NULL OR ttl <> trunc(ttl) OR ttl NOT BETWEEN 0 AND 2147483647 THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('%s.ttl %s is not an integer between 0 and 2147483647', path,
                                     left(field::text, 80)),
                    HINT = shape;
            END IF;
        END IF;

        field := rec -> 'verification_status';
        IF field IS NOT NULL AND jsonb_typeof(field) <> 'null' AND (
               jsonb_typeof(field) <> 'string'
               OR NOT (field #>> '{}') = ANY (record_states)) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('%s.verification_status %s is not one of %s', path,
                                 left(field::text, 80), array_to_string(record_states, ', ')),
                HINT = shape;
        END IF;
    END LOOP;
    RETURN true;
END
$fn$;

COMMENT ON FUNCTION pm_oltp.validate_dns_records(jsonb) IS
  'CHECK helper for domains.dns_records: true or SQLSTATE 22023 naming the offending path';

------------------------------------------------------------------------------
-- Tenancy and identity
------------------------------------------------------------------------------

CREATE TABLE pm_oltp.users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created        timestamptz NOT NULL DEFAULT now(),
    updated        timestamptz NOT NULL DEFAULT now(),
    deleted        timestamptz,
    name           text,
    family_name    text,
    given_name     text,
    email          text,
    picture        text,
    email_verified timestamptz
);
-- A soft-deleted account must not block re-registration with the same address.
CREATE UNIQUE INDEX users_email_lower_key ON pm_oltp.users (lower(email)) WHERE deleted IS NULL;
COMMENT ON TABLE pm_oltp.users IS 'Global user accounts; soft delete via deleted';

CREATE TABLE pm_oltp.tenants (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text,
    created    timestamptz NOT NULL DEFAULT now(),
    updated    timestamptz NOT NULL DEFAULT now(),
    deleted    timestamptz,
    compute_id uuid
);
COMMENT ON TABLE pm_oltp.tenants IS 'Global list of tenants; pm_app sees only its own row';

CREATE TABLE pm_oltp.tenant_users (
    tenant_id uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    user_id   uuid NOT NULL REFERENCES pm_oltp.users (id) ON DELETE CASCADE,
    created   timestamptz NOT NULL DEFAULT now(),
    updated   timestamptz NOT NULL DEFAULT now(),
    deleted   timestamptz,
    roles     text[] NOT NULL DEFAULT '{}',
    email     text,
    PRIMARY KEY (tenant_id, user_id)
);
-- "Which tenants does this user belong to" (login, tenant switcher).
CREATE INDEX tenant_users_user_id_idx ON pm_oltp.tenant_users (user_id);
COMMENT ON TABLE pm_oltp.tenant_users IS 'Membership of users in tenants';

CREATE TABLE pm_oltp.companies (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id               uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    name                    varchar(100) NOT NULL,
    workspace_name          varchar(255) UNIQUE,
    logo_url                text,
    status                  varchar(20) NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'inactive', 'suspended', 'archived')),
    industry                varchar(100),
    company_size            varchar(50),
    onboarding_started_at   timestamptz,
    onboarding_completed_at timestamptz,
    hide_onboarding         boolean NOT NULL DEFAULT false,
    created                 timestamptz NOT NULL DEFAULT now(),
    updated                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT companies_tenant_id_id_key UNIQUE (tenant_id, id)
);
COMMENT ON TABLE pm_oltp.companies IS 'Workspaces; many per tenant';

------------------------------------------------------------------------------
-- Sending infrastructure
------------------------------------------------------------------------------

CREATE TABLE pm_oltp.domains (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id                 uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    company_id                uuid,
    domain                    varchar(253) NOT NULL,
    verification_status       varchar(50) NOT NULL DEFAULT 'pending'
                              CHECK (verification_status IN ('pending', 'verified', 'failed', 'error')),
    dns_records               jsonb
                              CONSTRAINT domains_dns_records_shape
                              CHECK (pm_oltp.validate_dns_records(dns_records)),
    is_primary                boolean NOT NULL DEFAULT false,
    verified                  timestamptz,
    mailu_domain              text,
    dns_ttl_observed          int,
    dns_last_verified_at      timestamptz,
    dns_verification_error    text,
    dns_verification_attempts int NOT NULL DEFAULT 0 CHECK (dns_verification_attempts >= 0),
    created                   timestamptz NOT NULL DEFAULT now(),
    updated                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT domains_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT domains_company_fk FOREIGN KEY (tenant_id, company_id)
        REFERENCES pm_oltp.companies (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX domains_tenant_domain_lower_key ON pm_oltp.domains (tenant_id, lower(domain));
CREATE INDEX domains_company_idx ON pm_oltp.domains (tenant_id, company_id);
COMMENT ON TABLE pm_oltp.domains IS 'Sending domains; dns_records shape-checked';

CREATE TABLE pm_oltp.email_accounts (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    domain_id      uuid,
    email          varchar(255) NOT NULL,
    provider       varchar(50) NOT NULL DEFAULT 'mailu',
    vault_key_path varchar(500),
    imap_settings  jsonb,
    smtp_settings  jsonb,
    status         varchar(50) NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'paused', 'disabled', 'suspended', 'error')),
    last_warmed    timestamptz,
    daily_count    int NOT NULL DEFAULT 0 CHECK (daily_count >= 0),
    daily_limit    int CHECK (daily_limit >= 0),
    warmup_status  varchar(20) NOT NULL DEFAULT 'unwarmed'
                   CHECK (warmup_status IN ('unwarmed', 'warming', 'warmed')),
    created        timestamptz NOT NULL DEFAULT now(),
    updated        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT email_accounts_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT email_accounts_domain_fk FOREIGN KEY (tenant_id, domain_id)
        REFERENCES pm_oltp.domains (tenant_id, id) ON DELETE CASCADE
);
-- Global on purpose: one mailbox address is operated for exactly one tenant.
CREATE UNIQUE INDEX email_accounts_email_lower_key ON pm_oltp.email_accounts (lower(email));
CREATE INDEX email_accounts_domain_idx ON pm_oltp.email_accounts (tenant_id, domain_id);
COMMENT ON TABLE pm_oltp.email_accounts IS 'Sending mailboxes';

CREATE TABLE pm_oltp.vps_instances (
    id                           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hostwinds_instance_id        varchar(255) UNIQUE,
    ip_address                   varchar(45),
    region                       varchar(50),
    status                       varchar(50) NOT NULL DEFAULT 'provisioning'
                                 CHECK (status IN ('active', 'provisioning',
                                                   'scheduled_decommission', 'decommissioned')),
    monthly_cost                 numeric(10,2),
    approximate_cost             numeric(8,2),
    hostwinds_billing_day        int CHECK (hostwinds_billing_day BETWEEN 1 AND 31),
    current_billing_period_start timestamptz,
    current_billing_period_end   timestamptz,
    decommission_scheduled_for   timestamptz,
    created                      timestamptz NOT NULL DEFAULT now(),
    updated                      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pm_oltp.vps_instances IS 'Platform-internal: sending servers';

CREATE TABLE pm_oltp.smtp_ip_addresses (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vps_instance_id           uuid REFERENCES pm_oltp.vps_instances (id) ON DELETE CASCADE,
    ip_address                varchar(45) NOT NULL,
    status                    varchar(20) NOT NULL DEFAULT 'available'
                              CHECK (status IN ('available', 'assigned', 'warming', 'warmed',
                                                'degraded', 'burned', 'quarantined')),
    reputation_state          varchar(20) NOT NULL DEFAULT 'good'
                              CHECK (reputation_state IN ('good', 'fair', 'poor', 'critical')),
    approximate_cost          numeric(6,2),
    last_reputation_check     timestamptz,
    assigned_count            int NOT NULL DEFAULT 0 CHECK (assigned_count >= 0),
    provider_blacklist_status jsonb,
    created                   timestamptz NOT NULL DEFAULT now(),
    updated                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX smtp_ip_addresses_vps_idx ON pm_oltp.smtp_ip_addresses (vps_instance_id);
COMMENT ON TABLE pm_oltp.smtp_ip_addresses IS 'Platform-internal: sending IPs';

CREATE TABLE pm_oltp.domain_ip_assignments (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    domain_id          uuid NOT NULL,
    smtp_ip_address_id uuid NOT NULL
                       REFERENCES pm_oltp.smtp_ip_addresses (id) ON DELETE CASCADE,
    status             varchar(20) NOT NULL DEFAULT 'scheduled'
                       CHECK (status IN ('active', 'warming', 'scheduled', 'expired')),
    assigned           timestamptz NOT NULL DEFAULT now(),
    expires            timestamptz,
    warmup_state       varchar(20) NOT NULL DEFAULT 'unwarmed'
                       CHECK (warmup_state IN ('unwarmed', 'warming', 'warmed')),
    last_sent          timestamptz,
    created            timestamptz NOT NULL DEFAULT now(),
    updated            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT domain_ip_assignments_domain_fk FOREIGN KEY (tenant_id, domain_id)
        REFERENCES pm_oltp.domains (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX domain_ip_assignments_domain_idx ON pm_oltp.domain_ip_assignments (tenant_id, domain_id);
CREATE INDEX domain_ip_assignments_ip_idx ON pm_oltp.domain_ip_assignments (smtp_ip_address_id);
COMMENT ON TABLE pm_oltp.domain_ip_assignments IS 'Which sending IP serves which tenant domain';

------------------------------------------------------------------------------
-- Leads, templates, campaigns
------------------------------------------------------------------------------

CREATE TABLE pm_oltp.leads (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    email     varchar(255) NOT NULL,
    name      varchar(200),
    company   varchar(200),
    status    varchar(20) NOT NULL DEFAULT 'active'
              CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained', 'do_not_contact')),
    created   timestamptz NOT NULL DEFAULT now(),
    updated   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT leads_tenant_id_email_key UNIQUE (tenant_id, email),
    CONSTRAINT leads_tenant_id_id_key UNIQUE (tenant_id, id)
);
COMMENT ON TABLE pm_oltp.leads IS 'Contacts a tenant sends to';

CREATE TABLE pm_oltp.templates (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    name       varchar(100) NOT NULL,
    subject    varchar(255),
    content    text,
    is_started boolean NOT NULL DEFAULT false,
    created    timestamptz NOT NULL DEFAULT now(),
    updated    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT templates_tenant_id_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE pm_oltp.campaigns (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    company_id  uuid,
    name        varchar(200) NOT NULL,
    description text,
    status      varchar(50) NOT NULL DEFAULT 'draft'
                CHECK (status IN ('draft', 'scheduled', 'sending', 'completed', 'paused')),
    scheduled   timestamptz,
    completed   timestamptz,
    created     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaigns_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT campaigns_company_fk FOREIGN KEY (tenant_id, company_id)
        REFERENCES pm_oltp.companies (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX campaigns_company_idx ON pm_oltp.campaigns (tenant_id, company_id);
-- check_quota('campaigns_per_month') counts a tenant's campaigns by creation time.
CREATE INDEX campaigns_tenant_created_idx ON pm_oltp.campaigns (tenant_id, created);

CREATE TABLE pm_oltp.campaign_sequence_steps (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    campaign_id        uuid NOT NULL,
    step_order         int NOT NULL CHECK (step_order >= 0),
    step_type          varchar(20) NOT NULL DEFAULT 'email'
                       CHECK (step_type IN ('email', 'wait', 'condition')),
    email_account_id   uuid,
    template_id        uuid,
    subject_override   varchar(500),
    from_name_override varchar(100),
    wait_duration_hours int CHECK (wait_duration_hours >= 0),
    wait_until_date    timestamptz,
    condition_type     varchar(50),
    condition_value    varchar(100),
    send_condition     text,
    is_active          boolean NOT NULL DEFAULT true,
    executed_count     int NOT NULL DEFAULT 0 CHECK (executed_count >= 0),
    last_executed      timestamptz,
    created            timestamptz NOT NULL DEFAULT now(),
    updated            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_sequence_steps_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT campaign_sequence_steps_campaign_id_step_order_key UNIQUE (campaign_id, step_order),
    CONSTRAINT campaign_sequence_steps_campaign_fk FOREIGN KEY (tenant_id, campaign_id)
        REFERENCES pm_oltp.campaigns (tenant_id, id) ON DELETE CASCADE,
    -- Deleting a mailbox or template must not delete the sequence: the step is
    -- left without one and the app asks for a replacement.
    CONSTRAINT campaign_sequence_steps_email_account_fk FOREIGN KEY (tenant_id, email_account_id)
        REFERENCES pm_oltp.email_accounts (tenant_id, id) ON DELETE SET NULL (email_account_id),
    CONSTRAINT campaign_sequence_steps_template_fk FOREIGN KEY (tenant_id, template_id)
        REFERENCES pm_oltp.templates (tenant_id, id) ON DELETE SET NULL (template_id)
);
CREATE INDEX campaign_sequence_steps_email_account_idx
    ON pm_oltp.campaign_sequence_steps (tenant_id, email_account_id);
CREATE INDEX campaign_sequence_steps_template_idx
    ON pm_oltp.campaign_sequence_steps (tenant_id, template_id);

CREATE TABLE pm_oltp.campaign_leads (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL,
    lead_id     uuid NOT NULL,
    status      varchar(20) NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'paused', 'completed', 'replied', 'bounced',
                                  'unsubscribed')),
    current_step int CHECK (current_step >= 0),
    next_run_at timestamptz,
    last_sent   timestamptz,
    created     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_leads_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT campaign_leads_campaign_id_lead_id_key UNIQUE (campaign_id, lead_id),
    CONSTRAINT campaign_leads_campaign_fk FOREIGN KEY (tenant_id, campaign_id)
        REFERENCES pm_oltp.campaigns (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT campaign_leads_lead_fk FOREIGN KEY (tenant_id, lead_id)
        REFERENCES pm_oltp.leads (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX campaign_leads_lead_idx ON pm_oltp.campaign_leads (tenant_id, lead_id);
-- The sequencer (pm_service, all tenants) polls due enrollments.
CREATE INDEX campaign_leads_due_idx ON pm_oltp.campaign_leads (next_run_at) WHERE status = 'active';
COMMENT ON TABLE pm_oltp.campaign_leads IS 'Enrollment of a lead in a campaign';

CREATE TABLE pm_oltp.emails (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    campaign_id         uuid,
    step_id             uuid,
    lead_id             uuid,
    email_account_id    uuid,
    direction           varchar(10) NOT NULL DEFAULT 'outbound'
                        CHECK (direction IN ('outbound', 'inbound')),
    recipient           varchar(255),
    subject             varchar(500),
    message_id          text,
    status              varchar(20) NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sent', 'delivered', 'bounced', 'failed')),
    -- A key names its tenant: refusing another tenant's key here keeps one tenant
    -- from ever referencing (and later reading) another tenant's content.
    content_storage_key varchar(500)
                        CONSTRAINT emails_content_storage_key_tenant
                        CHECK (content_storage_key IS NULL
                               OR (pm.storage_key_is_valid(content_storage_key)
                                   AND split_part(content_storage_key, '.', 3)
                                       = replace(tenant_id::text, '-', ''))),
    scheduled_at        timestamptz,
    sent_at             timestamptz,
    delivered_at        timestamptz,
    opened_at           timestamptz,
    clicked_at          timestamptz,
    replied_at          timestamptz,
    bounced_at          timestamptz,
    bounce_type         varchar(10) CHECK (bounce_type IN ('hard', 'soft')),
    unsubscribed_at     timestamptz,
    complained_at       timestamptz,
    created             timestamptz NOT NULL DEFAULT now(),
    updated             timestamptz NOT NULL DEFAULT now(),
    -- Sending history outlives the campaign, step, lead or mailbox it came from:
    -- rollups already counted it and deliverability reports still need it.
    CONSTRAINT emails_campaign_fk FOREIGN KEY (tenant_id, campaign_id)
        REFERENCES pm_oltp.campaigns (tenant_id, id) ON DELETE SET NULL (campaign_id),
    CONSTRAINT emails_step_fk FOREIGN KEY (tenant_id, step_id)
        REFERENCES pm_oltp.campaign_sequence_steps (tenant_id, id) ON DELETE SET NULL (step_id),
    CONSTRAINT emails_lead_fk FOREIGN KEY (tenant_id, lead_id)
        REFERENCES pm_oltp.leads (tenant_id, id) ON DELETE SET NULL (lead_id),
    CONSTRAINT emails_email_account_fk FOREIGN KEY (tenant_id, email_account_id)
        REFERENCES pm_oltp.email_accounts (tenant_id, id) ON DELETE SET NULL (email_account_id)
);
CREATE INDEX emails_tenant_status_idx ON pm_oltp.emails (tenant_id, status);
-- Incremental OLAP rollups read rows changed since their last watermark.
CREATE INDEX emails_updated_idx ON pm_oltp.emails (updated);
CREATE INDEX emails_tenant_sent_at_idx ON pm_oltp.emails (tenant_id, sent_at);
CREATE INDEX emails_campaign_idx ON pm_oltp.emails (tenant_id, campaign_id);
CREATE INDEX emails_step_idx ON pm_oltp.emails (tenant_id, step_id);
CREATE INDEX emails_lead_idx ON pm_oltp.emails (tenant_id, lead_id);
CREATE INDEX emails_email_account_idx ON pm_oltp.emails (tenant_id, email_account_id);
-- Inbound replies are threaded to their outbound message by Message-ID.
CREATE INDEX emails_message_id_idx ON pm_oltp.emails (tenant_id, message_id);
COMMENT ON TABLE pm_oltp.emails IS
  'One row per message sent or received; the body lives in the content tier (content_storage_key)';

------------------------------------------------------------------------------
-- Billing
------------------------------------------------------------------------------

CREATE TABLE pm_oltp.plans (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                    varchar(100) NOT NULL,
    slug                    varchar(100) NOT NULL UNIQUE,
    description             text,
    -- Limits: NULL means unlimited.
    max_users               int CHECK (max_users >= 0),
    max_domains             int CHECK (max_domains >= 0),
    max_campaigns_per_month int CHECK (max_campaigns_per_month >= 0),
    api_rate_limit          int CHECK (api_rate_limit >= 0),
    max_email_accounts      int CHECK (max_email_accounts >= 0),
    max_emails_per_month    int CHECK (max_emails_per_month >= 0),
    max_warmups             int CHECK (max_warmups >= 0),
    max_contacts            int CHECK (max_contacts >= 0),
    max_storage_gb          int CHECK (max_storage_gb >= 0),
    api_access              boolean NOT NULL DEFAULT false,
    priority_support        boolean NOT NULL DEFAULT false,
    advanced_analytics      boolean NOT NULL DEFAULT false,
    white_label             boolean NOT NULL DEFAULT false,
    price_monthly           int CHECK (price_monthly >= 0),
    price_yearly            int CHECK (price_yearly >= 0),
    notes                   text,
    is_active               boolean NOT NULL DEFAULT true,
    stripe_product_id       varchar(255),
    created                 timestamptz NOT NULL DEFAULT now(),
    updated                 timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pm_oltp.plans IS 'Global price list; NULL limit = unlimited';

CREATE TABLE pm_oltp.subscriptions (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id               uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    plan_id                 uuid NOT NULL REFERENCES pm_oltp.plans (id),
    pending_plan_id         uuid REFERENCES pm_oltp.plans (id),
    status                  varchar(20) NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'past_due', 'canceled', 'unpaid')),
    current_period_start    timestamptz,
    current_period_end      timestamptz,
    cancel_at_period_end    boolean NOT NULL DEFAULT false,
    cancel_reason           text,
    cancel_date             timestamptz,
    billing_contact_user_id uuid,
    stripe_subscription_id  varchar(255) UNIQUE,
    created                 timestamptz NOT NULL DEFAULT now(),
    updated                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT subscriptions_period_order
        CHECK (current_period_end > current_period_start),
    -- The billing contact must be a member of the tenant, not any user of the platform.
    CONSTRAINT subscriptions_billing_contact_fk FOREIGN KEY (tenant_id, billing_contact_user_id)
        REFERENCES pm_oltp.tenant_users (tenant_id, user_id)
        ON DELETE SET NULL (billing_contact_user_id)
);
-- "The active subscription" must be unambiguous for check_quota().
CREATE UNIQUE INDEX subscriptions_one_active_per_tenant
    ON pm_oltp.subscriptions (tenant_id) WHERE status = 'active';
CREATE INDEX subscriptions_plan_idx ON pm_oltp.subscriptions (plan_id);

CREATE TABLE pm_oltp.subscription_addons (
    id              varchar(255) PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    subscription_id uuid NOT NULL,
    addon_type      varchar(50) NOT NULL,
    quantity        int NOT NULL DEFAULT 1 CHECK (quantity > 0),
    price_monthly   numeric(10,2) CHECK (price_monthly >= 0),
    stripe_price_id varchar(255),
    is_active       boolean NOT NULL DEFAULT true,
    created         timestamptz NOT NULL DEFAULT now(),
    updated         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscription_addons_subscription_fk FOREIGN KEY (tenant_id, subscription_id)
        REFERENCES pm_oltp.subscriptions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX subscription_addons_subscription_idx
    ON pm_oltp.subscription_addons (tenant_id, subscription_id);

CREATE TABLE pm_oltp.payments (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id                uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    subscription_id          uuid NOT NULL,
    -- Global reference on purpose: staff may initiate refunds without being members.
    initiated_by_user_id     uuid REFERENCES pm_oltp.users (id) ON DELETE SET NULL,
    amount                   numeric(10,2) NOT NULL CHECK (amount >= 0),
    currency                 varchar(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    status                   varchar(20) NOT NULL
                             CHECK (status IN ('succeeded', 'failed', 'refunded', 'pending')),
    processed                timestamptz,
    description              text,
    stripe_payment_intent_id varchar(255),
    billing_period_start     timestamptz,
    billing_period_end       timestamptz,
    created                  timestamptz NOT NULL DEFAULT now(),
    updated                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_billing_period_order CHECK (billing_period_end >= billing_period_start),
    CONSTRAINT payments_subscription_fk FOREIGN KEY (tenant_id, subscription_id)
        REFERENCES pm_oltp.subscriptions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX payments_subscription_created_idx ON pm_oltp.payments (subscription_id, created DESC);
CREATE INDEX payments_tenant_created_idx ON pm_oltp.payments (tenant_id, created DESC);
CREATE INDEX payments_initiated_by_idx ON pm_oltp.payments (initiated_by_user_id);

------------------------------------------------------------------------------
-- Configuration
------------------------------------------------------------------------------

CREATE TABLE pm_oltp.tenant_config (
    tenant_id                      uuid PRIMARY KEY REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    stripe_customer_id             varchar(255) UNIQUE,
    billing_email                  varchar(255),
    billing_address                jsonb CHECK (jsonb_typeof(billing_address) = 'object'),
    notify_on_campaign_completed   boolean NOT NULL DEFAULT true,
    notify_on_reply                boolean NOT NULL DEFAULT true,
    notify_on_bounce_threshold     boolean NOT NULL DEFAULT true,
    notify_on_domain_verification  boolean NOT NULL DEFAULT true,
    notify_on_warmup_complete      boolean NOT NULL DEFAULT false,
    notify_on_payment_failed       boolean NOT NULL DEFAULT true,
    notify_on_quota_threshold      boolean NOT NULL DEFAULT true,
    theme_mode                     varchar(10) NOT NULL DEFAULT 'system'
                                   CHECK (theme_mode IN ('light', 'dark', 'system')),
    theme_primary_color            varchar(7) CHECK (theme_primary_color ~ '^#[0-9A-Fa-f]{6}$'),
    theme_logo_url                 text,
    ui_language                    varchar(10) NOT NULL DEFAULT 'en',
    ui_timezone                    varchar(64) NOT NULL DEFAULT 'UTC',
    ui_date_format                 varchar(20) NOT NULL DEFAULT 'YYYY-MM-DD',
    ui_density                     varchar(12) NOT NULL DEFAULT 'comfortable'
                                   CHECK (ui_density IN ('compact', 'comfortable')),
    created                        timestamptz NOT NULL DEFAULT now(),
    updated                        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pm_oltp.tenant_config IS 'Per-tenant billing, notification and UI settings (1:1)';

CREATE TABLE pm_oltp.tenant_policies (
    tenant_id                  uuid PRIMARY KEY REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    password_min_length        int NOT NULL DEFAULT 12 CHECK (password_min_length BETWEEN 8 AND 128),
    password_require_uppercase boolean NOT NULL DEFAULT true,
    password_require_number    boolean NOT NULL DEFAULT true,
    password_require_symbol    boolean NOT NULL DEFAULT false,
    password_max_age_days      int CHECK (password_max_age_days > 0),
    require_mfa                boolean NOT NULL DEFAULT false,
    session_timeout_minutes    int NOT NULL DEFAULT 720 CHECK (session_timeout_minutes > 0),
    session_max_concurrent     int CHECK (session_max_concurrent > 0),
    allowed_email_domains      text[],
    default_company_id         uuid,
    default_daily_limit        int CHECK (default_daily_limit >= 0),
    default_sending_timezone   varchar(64) NOT NULL DEFAULT 'UTC',
    created                    timestamptz NOT NULL DEFAULT now(),
    updated                    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_policies_default_company_fk FOREIGN KEY (tenant_id, default_company_id)
        REFERENCES pm_oltp.companies (tenant_id, id) ON DELETE SET NULL (default_company_id)
);
CREATE INDEX tenant_policies_default_company_idx
    ON pm_oltp.tenant_policies (tenant_id, default_company_id);
COMMENT ON TABLE pm_oltp.tenant_policies IS 'Per-tenant password/session policy and company defaults (1:1)';

CREATE TABLE pm_oltp.user_preferences (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id            uuid NOT NULL REFERENCES pm_oltp.tenants (id) ON DELETE CASCADE,
    user_id              uuid NOT NULL UNIQUE,
    timezone             varchar(64) NOT NULL DEFAULT 'UTC',
    language             varchar(10) NOT NULL DEFAULT 'en',
    theme                varchar(10) NOT NULL DEFAULT 'system'
                         CHECK (theme IN ('light', 'dark', 'system')),
    email_notifications  boolean NOT NULL DEFAULT true,
    in_app_notifications boolean NOT NULL DEFAULT true,
    digest_frequency     varchar(10) NOT NULL DEFAULT 'daily'
                         CHECK (digest_frequency IN ('never', 'daily', 'weekly')),
    preferences          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(preferences) = 'object'),
    created              timestamptz NOT NULL DEFAULT now(),
    updated              timestamptz NOT NULL DEFAULT now(),
    -- Preferences belong to a member of the tenant; leaving the tenant removes them.
    CONSTRAINT user_preferences_member_fk FOREIGN KEY (tenant_id, user_id)
        REFERENCES pm_oltp.tenant_users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX user_preferences_tenant_user_idx ON pm_oltp.user_preferences (tenant_id, user_id);
COMMENT ON TABLE pm_oltp.user_preferences IS 'Per-user settings; visible only to that user';

------------------------------------------------------------------------------
-- Platform configuration and staff (global, platform-internal)
------------------------------------------------------------------------------

CREATE TABLE pm_oltp.staff_roles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        varchar(100) NOT NULL UNIQUE,
    description text,
    is_system   boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pm_oltp.permissions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key         varchar(150) NOT NULL UNIQUE CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
    description text,
    category    varchar(100),
    created     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pm_oltp.staff_role_permissions (
    role_id       uuid NOT NULL REFERENCES pm_oltp.staff_roles (id) ON DELETE CASCADE,
    permission_id uuid NOT NULL REFERENCES pm_oltp.permissions (id) ON DELETE CASCADE,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role_id, permission_id)
);
CREATE INDEX staff_role_permissions_permission_idx ON pm_oltp.staff_role_permissions (permission_id);

CREATE TABLE pm_oltp.staff_members (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL UNIQUE REFERENCES pm_oltp.users (id) ON DELETE CASCADE,
    role_id       uuid NOT NULL REFERENCES pm_oltp.staff_roles (id),
    is_active     boolean NOT NULL DEFAULT true,
    last_login_at timestamptz,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_members_role_idx ON pm_oltp.staff_members (role_id);

CREATE TABLE pm_oltp.system_config (
    key          varchar(255) PRIMARY KEY,
    value        jsonb NOT NULL,
    description  text,
    category     varchar(100),
    is_sensitive boolean NOT NULL DEFAULT false,
    updated_by   uuid REFERENCES pm_oltp.staff_members (id) ON DELETE SET NULL,
    created      timestamptz NOT NULL DEFAULT now(),
    updated      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pm_oltp.feature_flags (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key                varchar(255) NOT NULL UNIQUE,
    description        text,
    is_enabled         boolean NOT NULL DEFAULT false,
    rollout_percentage int NOT NULL DEFAULT 0 CHECK (rollout_percentage BETWEEN 0 AND 100),
    updated_by         uuid REFERENCES pm_oltp.staff_members (id) ON DELETE SET NULL,
    created            timestamptz NOT NULL DEFAULT now(),
    updated            timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------
-- Email events
------------------------------------------------------------------------------

-- Webhooks and bounce processors deliver events late, twice and out of order, so
-- every effect is a monotone merge: timestamps keep the earliest occurrence,
-- statuses only move up their ranking.  The final state is then the same
-- whatever order the events arrive in, and replaying an event is a no-op.
-- SECURITY INVOKER on purpose: pm_app runs it under its own RLS.
CREATE FUNCTION pm_oltp.record_email_event(email_id uuid, event text,
                                           at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    events constant text[] := ARRAY['sent', 'delivered', 'opened', 'clicked', 'replied',
                                    'hard_bounce', 'soft_bounce', 'unsubscribed',
                                    'complained', 'failed'];
    -- Later in the array = further along; a status never moves left.
    email_statuses constant text[] := ARRAY['queued', 'sent', 'delivered', 'bounced', 'failed'];
    lead_statuses  constant text[] := ARRAY['active', 'bounced', 'unsubscribed', 'complained',
                                            'do_not_contact'];
    e              pm_oltp.emails%ROWTYPE;
    n              pm_oltp.emails%ROWTYPE;
    target_status  text;
    lead_target    text;
    enroll_target  text;
    rows_changed   bigint;
    changed        boolean := false;
BEGIN
    IF email_id IS NULL OR event IS NULL OR at IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('record_email_event: %s must not be NULL',
                             CASE WHEN email_id IS NULL THEN 'email_id'
                                  WHEN event IS NULL THEN 'event' ELSE 'at' END);
    END IF;
    IF NOT event = ANY (events) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('unknown email event "%s"; expected one of: %s',
                             event, array_to_string(events, ', '));
    END IF;

    -- The row lock serialises concurrent events for one message; RLS hides other
    -- tenants' rows, so their ids are indistinguishable from unknown ones.
    SELECT * INTO e FROM pm_oltp.emails AS m WHERE m.id = email_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('email %s not found', email_id);
    END IF;

    n := e;
    CASE event
        WHEN 'sent' THEN
            n.sent_at := least(e.sent_at, at);
            target_status := 'sent';
        WHEN 'delivered' THEN
            n.delivered_at := least(e.delivered_at, at);
            target_status := 'delivered';
        WHEN 'opened' THEN
            n.opened_at := least(e.opened_at, at);
        WHEN 'clicked' THEN
            n.clicked_at := least(e.clicked_at, at);
        WHEN 'replied' THEN
            n.replied_at := least(e.replied_at, at);
            enroll_target := 'replied';
        WHEN 'hard_bounce' THEN
            n.bounced_at := least(e.bounced_at, at);
            n.bounce_type := 'hard';
            target_status := 'bounced';
            lead_target := 'bounced';
            enroll_target := 'bounced';
        WHEN 'soft_bounce' THEN
            n.bounced_at := least(e.bounced_at, at);
            n.bounce_type := coalesce(e.bounce_type, 'soft');
            target_status := 'bounced';
        WHEN 'unsubscribed' THEN
            n.unsubscribed_at := least(e.unsubscribed_at, at);
            lead_target := 'unsubscribed';
            enroll_target := 'unsubscribed';
        WHEN 'complained' THEN
            n.complained_at := least(e.complained_at, at);
            lead_target := 'complained';
            enroll_target := 'unsubscribed';
        WHEN 'failed' THEN
            target_status := 'failed';
    END CASE;
    IF target_status IS NOT NULL
       AND array_position(email_statuses, target_status)
           > array_position(email_statuses, e.status::text) THEN
        n.status := target_status;
    END IF;

    -- Only a real change is written: a no-op UPDATE would still bump "updated"
    -- and make incremental rollups re-read the row.
    IF (n.status, n.sent_at, n.delivered_at, n.opened_at, n.clicked_at, n.replied_at,
        n.bounced_at, n.bounce_type, n.unsubscribed_at, n.complained_at)
       IS DISTINCT FROM
       (e.status, e.sent_at, e.delivered_at, e.opened_at, e.clicked_at, e.replied_at,
        e.bounced_at, e.bounce_type, e.unsubscribed_at, e.complained_at) THEN
        UPDATE pm_oltp.emails AS m
        SET status = n.status, sent_at = n.sent_at, delivered_at = n.delivered_at,
            opened_at = n.opened_at, clicked_at = n.clicked_at, replied_at = n.replied_at,
            bounced_at = n.bounced_at, bounce_type = n.bounce_type,
            unsubscribed_at = n.unsubscribed_at, complained_at = n.complained_at
        WHERE m.id = e.id;
        changed := true;
    END IF;

    IF lead_target IS NOT NULL AND e.lead_id IS NOT NULL THEN
        UPDATE pm_oltp.leads AS l
        SET status = lead_target
        WHERE l.tenant_id = e.tenant_id AND l.id = e.lead_id
          AND array_position(lead_statuses, l.status::text)
              < array_position(lead_statuses, lead_target);
        GET DIAGNOSTICS rows_changed = ROW_COUNT;
        changed := changed OR rows_changed > 0;
    END IF;

    -- A reply ends this campaign's sequence only; a bounce or an opt-out concerns
    -- the address, so every enrollment of the lead stops.
    IF enroll_target IS NOT NULL AND e.lead_id IS NOT NULL
       AND (enroll_target <> 'replied' OR e.campaign_id IS NOT NULL) THEN
        UPDATE pm_oltp.campaign_leads AS cl
        SET status = enroll_target
        WHERE cl.tenant_id = e.tenant_id AND cl.lead_id = e.lead_id
          AND (enroll_target <> 'replied' OR cl.campaign_id = e.campaign_id)
          AND (CASE cl.status WHEN 'replied' THEN 1 WHEN 'bounced' THEN 2
                              WHEN 'unsubscribed' THEN 3 ELSE 0 END)
              < (CASE enroll_target WHEN 'replied' THEN 1 WHEN 'bounced' THEN 2
                                    WHEN 'unsubscribed' THEN 3 END);
        GET DIAGNOSTICS rows_changed = ROW_COUNT;
        changed := changed OR rows_changed > 0;
    END IF;

    RETURN changed;
END
$fn$;

COMMENT ON FUNCTION pm_oltp.record_email_event(uuid, text, timestamptz) IS
  'Records a delivery/engagement event idempotently and order-independently; true if anything changed';

------------------------------------------------------------------------------
-- Quotas
------------------------------------------------------------------------------

-- Implementation of check_quota(): plpgsql cannot name an input and an output
-- column alike, and the contract names both "resource".
CREATE FUNCTION pm_oltp.quota_usage(requested text)
RETURNS TABLE(resource text, used bigint, quota int, allowed boolean)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    resources constant text[] := ARRAY['domains', 'email_accounts', 'campaigns_per_month',
                                       'emails_per_month', 'contacts', 'warmups', 'users'];
    tenant       uuid;
    sub          record;
    has_sub      boolean;
    period_start timestamptz;
    period_end   timestamptz;
    r            text;
    n            bigint;
    q            int;
BEGIN
    tenant := pm.require_tenant();
    IF requested IS NOT NULL AND NOT requested = ANY (resources) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('unknown quota resource "%s"; expected one of: %s',
                             requested, array_to_string(resources, ', '));
    END IF;

    -- Tenant filters below are explicit, not left to RLS: a BYPASSRLS caller with a
    -- context must still get its tenant's numbers.
    SELECT s.current_period_start, s.current_period_end, p.max_domains, p.max_email_accounts,
           p.max_campaigns_per_month, p.max_emails_per_month, p.max_contacts, p.max_warmups,
           p.max_users
    INTO sub
    FROM pm_oltp.subscriptions s
    JOIN pm_oltp.plans p ON p.id = s.plan_id
    WHERE s.tenant_id = tenant AND s.status = 'active'
    ORDER BY s.created DESC
    LIMIT 1;
    has_sub := FOUND;

    -- A period that does not contain now() is stale (renewal not yet recorded):
    -- counting in it would let a tenant send without limit.
    IF has_sub AND sub.current_period_start IS NOT NULL AND sub.current_period_end IS NOT NULL
       AND now() >= sub.current_period_start AND now() < sub.current_period_end THEN
        period_start := sub.current_period_start;
        period_end := sub.current_period_end;
    ELSE
        period_start := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        period_end := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                      AT TIME ZONE 'UTC';
    END IF;

    FOREACH r IN ARRAY resources LOOP
        CONTINUE WHEN requested IS NOT NULL AND r <> requested;
        CASE r
            WHEN 'domains' THEN
                SELECT count(*) INTO n FROM pm_oltp.domains d WHERE d.tenant_id = tenant;
                q := sub.max_domains;
            WHEN 'email_accounts' THEN
                SELECT count(*) INTO n FROM pm_oltp.email_accounts a WHERE a.tenant_id = tenant;
                q := sub.max_email_accounts;
            WHEN 'campaigns_per_month' THEN
                SELECT count(*) INTO n FROM pm_oltp.campaigns c
                WHERE c.tenant_id = tenant AND c.created >= period_start AND c.created < period_end;
                q := sub.max_campaigns_per_month;
            WHEN 'emails_per_month' THEN
                SELECT count(*) INTO n FROM pm_oltp.emails m
                WHERE m.tenant_id = tenant AND m.direction = 'outbound'
                  AND m.sent_at >= period_start AND m.sent_at < period_end;
                q := sub.max_emails_per_month;
            WHEN 'contacts' THEN
                SELECT count(*) INTO n FROM pm_oltp.leads l WHERE l.tenant_id = tenant;
                q := sub.max_contacts;
            WHEN 'warmups' THEN
                SELECT count(*) INTO n FROM pm_oltp.email_accounts a
                WHERE a.tenant_id = tenant AND a.warmup_status = 'warming';
                q := sub.max_warmups;
            WHEN 'users' THEN
                SELECT count(*) INTO n FROM pm_oltp.tenant_users tu
                WHERE tu.tenant_id = tenant AND tu.deleted IS NULL;
                q := sub.max_users;
        END CASE;

        resource := r;
        used := n;
        IF NOT has_sub THEN
            -- No active subscription: nothing may be added.
            quota := 0;
            allowed := false;
        ELSE
            quota := q;
            allowed := q IS NULL OR n < q;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;

CREATE FUNCTION pm_oltp.check_quota(resource text)
RETURNS TABLE(resource text, used bigint, quota int, allowed boolean)
LANGUAGE sql STABLE SECURITY INVOKER
AS $fn$ SELECT * FROM pm_oltp.quota_usage($1) $fn$;

COMMENT ON FUNCTION pm_oltp.check_quota(text) IS
  'Usage vs the active plan for the current tenant; NULL resource = all; quota NULL = unlimited';

------------------------------------------------------------------------------
-- Tenant isolation, bookkeeping and privileges
------------------------------------------------------------------------------

SELECT pm.enable_tenant_isolation(t)
FROM unnest(ARRAY[
    'pm_oltp.tenant_users', 'pm_oltp.companies', 'pm_oltp.domains', 'pm_oltp.email_accounts',
    'pm_oltp.domain_ip_assignments', 'pm_oltp.leads', 'pm_oltp.templates', 'pm_oltp.campaigns',
    'pm_oltp.campaign_sequence_steps', 'pm_oltp.campaign_leads', 'pm_oltp.emails',
    'pm_oltp.subscriptions', 'pm_oltp.subscription_addons', 'pm_oltp.payments',
    'pm_oltp.tenant_config', 'pm_oltp.tenant_policies'
]::regclass[]) AS t;
SELECT pm.enable_user_isolation('pm_oltp.user_preferences');

-- A tenant row is "owned" by itself: the app reads its own tenant only.
SELECT pm.enable_tenant_isolation('pm_oltp.tenants', 'id');

-- users has no tenant_id: a user is visible to the app when it is the acting user
-- or a member of the current tenant.  Writes go through pm_service.
ALTER TABLE pm_oltp.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE pm_oltp.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_visible_to_tenant ON pm_oltp.users FOR SELECT TO PUBLIC
    USING (id = pm.current_user_id()
           OR EXISTS (SELECT 1 FROM pm_oltp.tenant_users tu
                      WHERE tu.tenant_id = pm.rls_tenant_id() AND tu.user_id = users.id));

SELECT pm.set_table_access(t, 'read')
FROM unnest(ARRAY['pm_oltp.users', 'pm_oltp.tenants', 'pm_oltp.plans',
                  'pm_oltp.feature_flags']::regclass[]) AS t;
SELECT pm.set_table_access(t, 'none')
FROM unnest(ARRAY['pm_oltp.vps_instances', 'pm_oltp.smtp_ip_addresses', 'pm_oltp.system_config',
                  'pm_oltp.staff_roles', 'pm_oltp.permissions', 'pm_oltp.staff_role_permissions',
                  'pm_oltp.staff_members']::regclass[]) AS t;

DO $do$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass FROM pg_catalog.pg_class c
        WHERE c.relnamespace = 'pm_oltp'::regnamespace AND c.relkind IN ('r', 'p')
        ORDER BY c.relname
    LOOP
        EXECUTE format('CREATE TRIGGER touch_updated BEFORE UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION pm.touch_updated()', t);
        -- Extension member tables are skipped by pg_dump unless registered: this
        -- is the system of record, its data must be in every dump.
        PERFORM pg_catalog.pg_extension_config_dump(t, '');
    END LOOP;
END
$do$;

SELECT pm.apply_grants();
