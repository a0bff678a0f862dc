-- Main job, content tier: storage per tenant, in the pm_content database after
-- demo/content_load.sql.  psql -d pm_content -f demo/content_report.sql
--   logical   what the senders put (pm_content.usage()): text + html + headers of the
--             bodies, and every attachment as attached
--   stored    what the tier keeps after dedup and compression, dictionaries included
--   ratio     logical / stored, for bodies, attachments and everything
--   dedup     puts that found their bytes already stored (repeated bodies, and
--             attachments whose file the tenant had stored before)
\set ON_ERROR_STOP on
\pset footer off

WITH u AS (SELECT * FROM pm_content.usage()),
     s AS (SELECT tenant_id, sum(body_puts) AS body_puts, sum(distinct_bodies) AS distinct_bodies,
                  sum(attachment_puts) AS attachment_puts
           FROM demo.put_stats GROUP BY 1),
     o AS (SELECT tenant_id, sum(raw_size_bytes) AS logical, sum(compressed_size_bytes) AS stored
           FROM pm_content.content_objects GROUP BY 1),
     a AS (SELECT tenant_id, sum(size_bytes) AS logical FROM pm_content.attachments GROUP BY 1),
     b AS (SELECT tenant_id, count(*) AS blobs, sum(stored_size_bytes) AS stored
           FROM pm_content.attachment_blobs GROUP BY 1),
     d AS (SELECT tenant_id, sum(pg_column_size(bytes)) AS stored FROM pm_content.dictionaries GROUP BY 1),
     n AS (SELECT DISTINCT tenant_id, tenant_name FROM demo.mail)
SELECT n.tenant_name AS tenant,
       s.body_puts AS emails,
       format('%s -> %s (%sx)', pg_size_pretty(o.logical), pg_size_pretty(o.stored),
              round(o.logical::numeric / nullif(o.stored, 0), 1)) AS bodies,
       format('%s -> %s (%sx)', pg_size_pretty(coalesce(a.logical, 0)), pg_size_pretty(coalesce(b.stored, 0)),
              round(coalesce(a.logical, 0)::numeric / nullif(b.stored, 0), 1)) AS attachments,
       pg_size_pretty(coalesce(d.stored, 0)) AS dictionaries,
       pg_size_pretty(u.logical_bytes) AS logical,
       pg_size_pretty(u.stored_bytes) AS stored,
       round(u.logical_bytes::numeric / nullif(u.stored_bytes, 0), 1) || 'x' AS ratio,
       (s.body_puts - s.distinct_bodies) + (s.attachment_puts - coalesce(b.blobs, 0)) AS dedup_hits
FROM u
JOIN n USING (tenant_id)
JOIN s USING (tenant_id)
JOIN o USING (tenant_id)
LEFT JOIN a USING (tenant_id)
LEFT JOIN b USING (tenant_id)
LEFT JOIN d USING (tenant_id)
ORDER BY n.tenant_name;

SELECT format('all tenants: %s logical, %s stored (%sx); the tier''s tables take %s on disk (rows, keys, indexes, TOAST)',
              pg_size_pretty(sum(logical_bytes)), pg_size_pretty(sum(stored_bytes)),
              round(sum(logical_bytes)::numeric / nullif(sum(stored_bytes), 0), 1),
              pg_size_pretty((SELECT sum(pg_total_relation_size(t))
                                FROM unnest(ARRAY['pm_content.content_objects', 'pm_content.attachments',
                                                  'pm_content.attachment_blobs',
                                                  'pm_content.dictionaries']::regclass[]) t)::bigint))
       AS total
FROM pm_content.usage() \gset
\echo :total
SELECT format('dictionaries: %s (%s); objects by codec: %s; broken references: %s; pm.rls_audit() problems: %s',
              (SELECT count(*) FROM pm_content.dictionaries),
              (SELECT string_agg(format('%s %s', method, n), ', ' ORDER BY method)
                 FROM (SELECT method, count(*) AS n FROM pm_content.dictionaries GROUP BY 1) x),
              (SELECT string_agg(format('%s %s', c, n), ', ' ORDER BY c)
                 FROM (SELECT split_part(compression_algorithm, ':', 1) AS c, count(*) AS n
                         FROM pm_content.content_objects GROUP BY 1) x),
              (SELECT count(*) FROM pm_content.missing_keys((SELECT array_agg(oltp_key) FROM demo.mail))),
              (SELECT count(*) FROM pm.rls_audit()))
       AS dicts \gset
\echo :dicts
