-- OLAP's rows in the recompute's format (rows of zeros are absent rows).
WITH per AS (
    SELECT 'campaign' AS t, tenant_id, campaign_id::text AS k, day, sent, delivered, opened_tracked, clicked_tracked, replied, bounced, unsubscribed, spam_complaints FROM pm_olap.campaign_analytics
    UNION ALL
    SELECT 'step', tenant_id, step_id::text, day, sent, delivered, opened_tracked, clicked_tracked, replied, bounced, unsubscribed, spam_complaints FROM pm_olap.sequence_step_analytics
    UNION ALL
    SELECT 'mailbox', tenant_id, mailbox_id::text, day, sent, delivered, opened_tracked, clicked_tracked, replied, bounced, unsubscribed, spam_complaints FROM pm_olap.mailbox_analytics
    UNION ALL
    SELECT 'lead', tenant_id, concat(lead_id, ':', campaign_id), day, sent, delivered, opened_tracked, clicked_tracked, replied, bounced, unsubscribed, spam_complaints FROM pm_olap.lead_analytics
    UNION ALL
    SELECT 'warmup', tenant_id, mailbox_id::text, day, sent, delivered, opened_tracked, clicked_tracked, replied, bounced, unsubscribed, spam_complaints FROM pm_olap.warmup_analytics
)
SELECT concat_ws('|', t, tenant_id, coalesce(k, ''), day,
                 concat_ws(',', sent, delivered, opened_tracked, clicked_tracked, replied, bounced, unsubscribed, spam_complaints))
FROM per WHERE sent + delivered + opened_tracked + clicked_tracked + replied + bounced + unsubscribed + spam_complaints > 0
ORDER BY 1;
