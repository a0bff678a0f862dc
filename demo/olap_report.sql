-- Main job, OLAP report for one tenant (:tid), read from database pm_olap as pm_app with
-- the tenant's context: the campaign dashboard over the last 90 days and each mailbox's
-- health, both computed with pm.engagement / pm.health_score over the day rows.
BEGIN;
SET LOCAL ROLE pm_app;
SELECT pm.set_context(:'tid') \g /dev/null
\pset format aligned
\pset footer off
SELECT coalesce(c.campaign_id::text, '(outside campaigns)') AS campaign,
       (e).sent, round(100 * (e).delivery_rate::numeric, 1) AS "delivered %",
       round(100 * (e).open_rate::numeric, 1) AS "open %", round(100 * (e).reply_rate::numeric, 1) AS "reply %",
       round(100 * (e).bounce_rate::numeric, 1) AS "bounce %", max_status AS status
FROM (SELECT campaign_id,
             pm.engagement(sent, delivered, opened_tracked, clicked_tracked, replied, bounced,
                           unsubscribed, spam_complaints) AS e,
             max(status) AS max_status
      FROM pm_olap.campaign_analytics
      WHERE day > (now() AT TIME ZONE 'UTC')::date - 90
      GROUP BY campaign_id) c
ORDER BY (e).sent DESC;
SELECT m.mailbox_id AS mailbox, sum(m.sent) AS sent, sum(m.bounced) AS bounced,
       sum(m.spam_complaints) AS complaints, sum(m.replied) AS replied,
       pm.health_score(sum(m.sent), sum(m.delivered), sum(m.bounced), sum(m.spam_complaints),
                       sum(m.replied), max(pm_olap.warmup_progress(m.warmup_status, m.current_volume, NULL))) AS health
FROM pm_olap.mailbox_analytics m
WHERE m.day > (now() AT TIME ZONE 'UTC')::date - 90 AND m.mailbox_id IS NOT NULL
GROUP BY m.mailbox_id ORDER BY health, mailbox;
COMMIT;
