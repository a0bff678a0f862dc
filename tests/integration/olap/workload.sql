-- One round of the workload (:round, seeded): new sends spread over the last 10 days, and
-- late events on messages sent days ago — duplicates, out of order, bounces after opens,
-- one-off sends without a campaign, a mailbox state change and an enrollment change.
SELECT setseed((:seed / 1000.0 + :round / 100.0) / 2);
INSERT INTO pm_oltp.emails (tenant_id, campaign_id, step_id, lead_id, email_account_id, direction,
                            status, sent_at)
SELECT cl.tenant_id, cl.campaign_id, s.id, cl.lead_id, a.id, 'outbound', 'sent',
       now() - (random() * interval '10 days')
FROM pm_oltp.campaign_leads cl
JOIN LATERAL (SELECT id FROM pm_oltp.campaign_sequence_steps s WHERE s.campaign_id = cl.campaign_id
              ORDER BY random() LIMIT 1) s ON true
JOIN LATERAL (SELECT id FROM pm_oltp.email_accounts a WHERE a.tenant_id = cl.tenant_id
              ORDER BY random() LIMIT 1) a ON true
WHERE random() < 0.3;
INSERT INTO pm_oltp.emails (tenant_id, email_account_id, direction, status, sent_at)
SELECT a.tenant_id, a.id, 'outbound', 'sent', now() - (random() * interval '5 days')
FROM pm_oltp.email_accounts a WHERE random() < 0.5;
-- Events: each picked message gets 1–3 events in random order, some repeated.
SELECT count(*) FILTER (WHERE pm_oltp.record_email_event(e.id, ev, e.sent_at + random() * interval '3 days'))
FROM (SELECT id, sent_at FROM pm_oltp.emails WHERE direction = 'outbound' AND sent_at IS NOT NULL AND random() < 0.35) e
CROSS JOIN LATERAL (
    SELECT ev FROM unnest(ARRAY['delivered','opened','clicked','replied','hard_bounce','soft_bounce',
                                'unsubscribed','complained','opened','delivered']) ev
    ORDER BY random() LIMIT 1 + (random() * 2)::int) x;
-- Moves that change an email's key: a message re-attributed to another mailbox, one unsent.
UPDATE pm_oltp.emails e SET email_account_id = (SELECT a.id FROM pm_oltp.email_accounts a
                                                 WHERE a.tenant_id = e.tenant_id ORDER BY random() LIMIT 1)
WHERE e.id IN (SELECT id FROM pm_oltp.emails WHERE direction = 'outbound' ORDER BY random() LIMIT 3);
UPDATE pm_oltp.emails SET sent_at = NULL, status = 'queued'
WHERE id IN (SELECT id FROM pm_oltp.emails WHERE sent_at IS NOT NULL ORDER BY random() LIMIT 1);
DELETE FROM pm_oltp.emails WHERE id IN (SELECT id FROM pm_oltp.emails ORDER BY random() LIMIT 1);
UPDATE pm_oltp.email_accounts SET daily_count = (random() * 50)::int
WHERE id IN (SELECT id FROM pm_oltp.email_accounts ORDER BY random() LIMIT 2);
UPDATE pm_oltp.campaign_leads SET status = 'completed'
WHERE id IN (SELECT id FROM pm_oltp.campaign_leads WHERE status = 'active' ORDER BY random() LIMIT 2);
