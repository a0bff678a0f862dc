-- Main job, tier link, step 2 — in the OLTP database (pm_oltp), as a superuser: link it
-- to the content database through pm_fdw (embedded default: same cluster, separate
-- databases; separate clusters only change host/port).
--   psql -d pm_oltp -v content_host=127.0.0.1 -v content_port=55432 \
--        -v link_password=... -f demo/fdw_link.sql
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS pm_fdw;
SELECT pm.link_tier('content',
                    format('host=%s port=%s dbname=pm_content', :'content_host', :'content_port'),
                    'pm_content_link', :'link_password');
