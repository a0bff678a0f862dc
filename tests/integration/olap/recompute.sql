-- The test's own recompute from OLTP, written apart from pm_oltp.olap_fact_rows: counters
-- of every entity per UTC send day, as sorted text lines "table|tenant|key|day|counters".
-- Compared with the non-zero rows of OLAP.
WITH m AS (
    SELECT tenant_id, campaign_id, step_id, lead_id, email_account_id,
           (sent_at AT TIME ZONE 'UTC')::date AS day,
           1 AS s, (delivered_at IS NOT NULL)::int AS d, (opened_at IS NOT NULL)::int AS o,
           (clicked_at IS NOT NULL)::int AS c, (replied_at IS NOT NULL)::int AS r,
           (bounced_at IS NOT NULL)::int AS b, (unsubscribed_at IS NOT NULL)::int AS u,
           (complained_at IS NOT NULL)::int AS x
    FROM pm_oltp.emails WHERE direction = 'outbound' AND sent_at IS NOT NULL
), per AS (
    SELECT 'campaign' AS t, tenant_id, campaign_id::text AS k, day, sum(s) s, sum(d) d, sum(o) o, sum(c) c, sum(r) r, sum(b) b, sum(u) u, sum(x) x FROM m GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT 'step', tenant_id, step_id::text, day, sum(s), sum(d), sum(o), sum(c), sum(r), sum(b), sum(u), sum(x) FROM m GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT 'mailbox', tenant_id, email_account_id::text, day, sum(s), sum(d), sum(o), sum(c), sum(r), sum(b), sum(u), sum(x) FROM m GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT 'lead', tenant_id, concat(lead_id, ':', campaign_id), day, sum(s), sum(d), sum(o), sum(c), sum(r), sum(b), sum(u), sum(x) FROM m GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT 'warmup', tenant_id, email_account_id::text, day, sum(s), sum(d), sum(o), sum(c), sum(r), sum(b), sum(u), sum(x) FROM m WHERE campaign_id IS NULL GROUP BY 1, 2, 3, 4
)
SELECT concat_ws('|', t, tenant_id, coalesce(k, ''), day, concat_ws(',', s, d, o, c, r, b, u, x))
FROM per ORDER BY 1;
