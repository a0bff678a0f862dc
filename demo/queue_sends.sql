-- Main job, queue tier, step 1 (pm_oltp database, after demo/sample.sql, with pm_queue
-- installed next to pm_oltp): today's sends become email-sending jobs.
--
-- The leads no campaign has reached yet are enrolled in their tenant's running campaign,
-- each on one of the tenant's mailboxes in rotation (what sending tools call inbox
-- rotation), and due now.  The sequencer, running as pm_service across tenants, then turns
-- every due enrollment into an email-sending job in the same transaction that marks the
-- enrollment as queued: the job exists if and only if the enrollment moved (transactional
-- outbox).  Each job carries rate_key mailbox:<id>, so the queue holds every mailbox to its
-- email_accounts.daily_limit when workers claim; whatever is over budget waits for the next
-- day's window.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.57) \g /dev/null

BEGIN;
SET LOCAL ROLE pm_service;

-- The mailboxes that may send, numbered per tenant for the rotation.
CREATE TEMP VIEW sending_mailbox AS
SELECT a.tenant_id, a.id,
       row_number() OVER (PARTITION BY a.tenant_id ORDER BY a.email) - 1 AS k,
       count(*) OVER (PARTITION BY a.tenant_id) AS n
FROM pm_oltp.email_accounts a
WHERE a.status = 'active' AND a.warmup_status <> 'unwarmed';

WITH campaign AS (
    SELECT DISTINCT ON (c.tenant_id) c.tenant_id, c.id AS campaign_id
    FROM pm_oltp.campaigns c
    JOIN pm_oltp.campaign_sequence_steps s ON s.campaign_id = c.id AND s.step_order = 1
    WHERE c.status = 'sending'
    ORDER BY c.tenant_id, c.name
), fresh AS (
    SELECT l.tenant_id, l.id,
           row_number() OVER (PARTITION BY l.tenant_id ORDER BY l.created, l.id) AS rn
    FROM pm_oltp.leads l
    WHERE l.status = 'active'
      AND NOT EXISTS (SELECT 1 FROM pm_oltp.campaign_leads cl WHERE cl.lead_id = l.id)
)
INSERT INTO pm_oltp.campaign_leads (tenant_id, campaign_id, lead_id, status, current_step, next_run_at)
SELECT f.tenant_id, c.campaign_id, f.id, 'active', 0, now()
FROM fresh f
JOIN campaign c USING (tenant_id)
-- Only tenants with a mailbox that may send.
WHERE EXISTS (SELECT 1 FROM sending_mailbox m WHERE m.tenant_id = f.tenant_id);

-- The sequencer's pass: due enrollments → jobs, enrollment no longer due.
WITH due AS (
    UPDATE pm_oltp.campaign_leads cl
       SET next_run_at = NULL
     WHERE cl.status = 'active' AND cl.current_step = 0 AND cl.next_run_at <= now()
    RETURNING cl.id, cl.tenant_id, cl.campaign_id, cl.lead_id
), numbered AS (
    SELECT d.*, row_number() OVER (PARTITION BY d.tenant_id ORDER BY d.id) AS rn
    FROM due d
)
SELECT count(pm_queue.enqueue(
           'email-sending',
           jsonb_build_object('enrollment_id', n.id, 'campaign_id', n.campaign_id,
                              'lead_id', n.lead_id, 'step_id', s.id, 'email_account_id', m.id),
           idempotency_key => format('send:%s:step1', n.id),
           tenant_id => n.tenant_id,
           rate_key => 'mailbox:' || m.id)) AS enqueued
FROM numbered n
JOIN pm_oltp.campaign_sequence_steps s ON s.campaign_id = n.campaign_id AND s.step_order = 1
JOIN sending_mailbox m ON m.tenant_id = n.tenant_id AND m.k = n.rn % m.n \gset
COMMIT;
\echo 'queue: enqueued' :enqueued 'email-sending jobs for due sends'
