-- Main job, queue tier: what the queue did with today's sends (pm_oltp database, after
-- demo/queue_sends.sql and the workers).  psql -d pm_oltp -f demo/queue_report.sql
--   per mailbox   its daily_limit, the most jobs claimed for it in any one UTC day, and
--                 the jobs waiting for its next day; "over" must be 0 everywhere
\set ON_ERROR_STOP on
\pset footer off

SELECT queue_name, ready, scheduled, running, retry_scheduled, failed_24h,
       completed_5m, avg_run_time, p95_run_time, active_workers
  FROM pm_queue.stats WHERE queue_name = 'email-sending';

WITH per_day AS (
    SELECT split_part(j.rate_key, ':', 2)::uuid AS mailbox_id,
           date_trunc('day', j.started_at AT TIME ZONE 'UTC') AS day, count(*) AS claimed
      FROM pm_queue.jobs j
     WHERE j.queue_name = 'email-sending' AND j.started_at IS NOT NULL
     GROUP BY 1, 2
), waiting AS (
    SELECT split_part(j.rate_key, ':', 2)::uuid AS mailbox_id, count(*) AS deferred,
           min(j.run_at) AS next_run
      FROM pm_queue.jobs j
     WHERE j.queue_name = 'email-sending' AND j.status IN ('queued', 'retry_scheduled')
     GROUP BY 1
), mailbox AS (
    SELECT t.name AS tenant, a.email AS mailbox, a.daily_limit,
           coalesce(max(p.claimed), 0) AS busiest_day, coalesce(w.deferred, 0) AS deferred,
           w.next_run
      FROM pm_oltp.email_accounts a
      JOIN pm_oltp.tenants t ON t.id = a.tenant_id
      LEFT JOIN per_day p ON p.mailbox_id = a.id
      LEFT JOIN waiting w ON w.mailbox_id = a.id
     WHERE p.mailbox_id IS NOT NULL OR w.mailbox_id IS NOT NULL
     GROUP BY t.name, a.email, a.daily_limit, w.deferred, w.next_run
)
SELECT tenant, count(*) AS mailboxes, sum(daily_limit) AS daily_budget,
       sum(busiest_day) AS sent_today, sum(deferred) AS deferred_to_next_window,
       to_char(min(next_run) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') AS resumes_at,
       sum(greatest(busiest_day - daily_limit, 0)) AS over_limit
  FROM mailbox GROUP BY tenant ORDER BY tenant;

SELECT format('mailboxes over their daily_limit in any window: %s; jobs completed: %s, failed: %s; pm.rls_audit() problems: %s',
              (SELECT count(*) FROM (
                   SELECT 1 FROM pm_queue.jobs j
                     JOIN pm_oltp.email_accounts a ON 'mailbox:' || a.id = j.rate_key
                    WHERE j.queue_name = 'email-sending' AND j.started_at IS NOT NULL
                    GROUP BY a.id, a.daily_limit, date_trunc('day', j.started_at AT TIME ZONE 'UTC')
                   HAVING count(*) > a.daily_limit) x),
              (SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'email-sending' AND status = 'completed'),
              (SELECT count(*) FROM pm_queue.jobs WHERE queue_name = 'email-sending' AND status = 'failed'),
              (SELECT count(*) FROM pm.rls_audit())) AS summary \gset
\echo :summary
