-- One tenant's view of pm_oltp, as the application role sees it: no WHERE tenant_id anywhere,
-- row level security does the filtering.  psql -v tid=<tenant uuid> -At -f demo/tenant_report.sql
BEGIN;
SET LOCAL ROLE pm_app;
SELECT pm.set_context(:'tid') \g /dev/null

SELECT format('  sees: %s companies · %s domains · %s mailboxes (%s warmed) · %s leads · %s campaigns (%s steps) · %s enrollments · %s emails',
              (SELECT count(*) FROM pm_oltp.companies),
              (SELECT count(*) FROM pm_oltp.domains),
              (SELECT count(*) FROM pm_oltp.email_accounts),
              (SELECT count(*) FROM pm_oltp.email_accounts WHERE warmup_status = 'warmed'),
              (SELECT count(*) FROM pm_oltp.leads),
              (SELECT count(*) FROM pm_oltp.campaigns),
              (SELECT count(*) FROM pm_oltp.campaign_sequence_steps),
              (SELECT count(*) FROM pm_oltp.campaign_leads),
              (SELECT count(*) FROM pm_oltp.emails));

SELECT format('  plan: %s (%s)', p.name, s.status)
  FROM pm_oltp.subscriptions s JOIN pm_oltp.plans p ON p.id = s.plan_id
 ORDER BY s.created DESC LIMIT 1;

-- Rates of outbound mail: delivered/bounced over sent, engagement over delivered.
SELECT format('  events: %s sent · delivered %s%% · bounced %s%% · opened %s%% · clicked %s%% · replied %s%% · unsubscribed %s%%',
              sent,
              round(100.0 * delivered / nullif(sent, 0), 1),
              round(100.0 * bounced / nullif(sent, 0), 1),
              round(100.0 * opened / nullif(delivered, 0), 1),
              round(100.0 * clicked / nullif(delivered, 0), 1),
              round(100.0 * replied / nullif(delivered, 0), 1),
              round(100.0 * unsubscribed / nullif(delivered, 0), 1))
  FROM (SELECT count(sent_at) AS sent, count(delivered_at) AS delivered,
               count(bounced_at) AS bounced, count(opened_at) AS opened,
               count(clicked_at) AS clicked, count(replied_at) AS replied,
               count(unsubscribed_at) AS unsubscribed
          FROM pm_oltp.emails WHERE direction = 'outbound') e;

SELECT format('  leads by status: %s',
              string_agg(format('%s %s', status, n), ' · ' ORDER BY n DESC))
  FROM (SELECT status, count(*) AS n FROM pm_oltp.leads GROUP BY status) s;

-- Without an active subscription check_quota() allows nothing (quota 0): say so plainly.
SELECT CASE WHEN EXISTS (SELECT 1 FROM pm_oltp.subscriptions WHERE status = 'active')
       THEN format('  quota: %s',
                   string_agg(format('%s %s/%s%s', q.resource, q.used,
                                     coalesce(q.quota::text, '∞'),
                                     CASE WHEN q.allowed THEN ''
                                          WHEN q.used > q.quota THEN ' OVER'
                                          ELSE ' FULL' END), ' · '))
       ELSE format('  quota: no active subscription, check_quota allows nothing (used: %s)',
                   string_agg(format('%s %s', q.resource, q.used), ' · '))
       END
  FROM pm_oltp.check_quota(NULL) q;
COMMIT;
