#!/usr/bin/env bash
# pm_content 0.1 -> 0.2 on its own cluster: objects stored under 0.1 (plain rows,
# zstd frames, frames of a trained dictionary, attachments) read back bit for bit
# after ALTER EXTENSION pm_content UPDATE, and a fresh install ends where the upgrade
# does.  0.2 no longer writes content_hash into the row (the key holds the digest)
# and indexes the digest's first 8 bytes (pm_content.digest_id); last_accessed_at stays
# NULL until a refresh.
# Run by tests/run (PM_ROOT, PM_TEST_LIB set) or by hand as root.
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"

pm_cluster_start content >/dev/null
pm_psql content -d postgres -c "CREATE DATABASE old_db" -c "CREATE DATABASE fresh_db" >/dev/null
old() { pm_psql content -d old_db -At "$@"; }
fresh() { pm_psql content -d fresh_db -At "$@"; }

T=22222222-0000-4000-8000-000000000001
U=22222222-0000-4000-8000-000000000002

old -c "CREATE EXTENSION pm_core" -c "CREATE EXTENSION pm_content VERSION '0.1'" \
    -c "SELECT pm.ensure_roles()" >/dev/null
check "0.1 installed" "$(old -c "SELECT extversion FROM pg_extension WHERE extname = 'pm_content'")" "0.1"

# Under 0.1: a tiny plain body, bodies before and after a dictionary, the same body in
# two tenants, an attachment.  (0.1's put_body wrote content_hash into every row; this
# build does not, so the rows get it as 0.1 wrote it.)
old >/dev/null <<SQL
CREATE TABLE public.before_upgrade AS
SELECT g, pm_content.put_body('$T', 'Hi reader ' || g || ', the quarterly report is attached. ' || repeat('Figures and notes. ', 20),
                              '<p>Hi reader ' || g || '</p>' || repeat('<p>Figures and notes.</p>', 20),
                              jsonb_build_object('Subject', 'Report ' || g, 'To', 'r' || g || '@example.com')) AS key
FROM generate_series(1, 60) g;
SELECT pm_content.train_dictionary('$T', force => true);
INSERT INTO public.before_upgrade
SELECT g, pm_content.put_body('$T', 'Hi reader ' || g || ', the quarterly report is attached. ' || repeat('Figures and notes. ', 20),
                              '<p>Hi reader ' || g || '</p>' || repeat('<p>Figures and notes.</p>', 20),
                              jsonb_build_object('Subject', 'Report ' || g, 'To', 'r' || g || '@example.com'))
FROM generate_series(61, 80) g;
INSERT INTO public.before_upgrade VALUES (0, pm_content.put_body('$T', 'x', NULL)),
                                         (-1, pm_content.put_body('$U', 'x', NULL));
SELECT pm_content.put_attachment(key, 'report.txt', 'text/plain', convert_to(repeat('row;', 500), 'UTF8'))
FROM public.before_upgrade WHERE g = 70;
UPDATE pm_content.content_objects SET content_hash = right(storage_key::text, 64);
CREATE TABLE public.read_before AS
SELECT storage_key, md5(coalesce(content_text, '<null>') || '|' || coalesce(content_html, '<null>') || '|'
                        || coalesce(headers::text, '<null>')) AS digest, raw_size_bytes, expires_at
FROM pm_content.get_many((SELECT array_agg(key) FROM public.before_upgrade));
SQL
check "0.1: 82 objects, plain, zstd and dictionary frames among them" \
    "$(old -c "SELECT count(*) || ':' || string_agg(DISTINCT split_part(compression_algorithm, ':', 1), ',' ORDER BY split_part(compression_algorithm, ':', 1)) FROM pm_content.content_objects")" \
    "82:none,zstd,zstd-dict"

old -c "ALTER EXTENSION pm_content UPDATE" >/dev/null
check "ALTER EXTENSION pm_content UPDATE reaches 0.2" \
    "$(old -c "SELECT extversion FROM pg_extension WHERE extname = 'pm_content'")" "0.2"
check "every object reads back as before, bit for bit" \
    "$(old -c "SELECT count(*) FROM public.read_before b
               JOIN pm_content.get_many((SELECT array_agg(key) FROM public.before_upgrade)) g USING (storage_key)
               WHERE md5(coalesce(g.content_text, '<null>') || '|' || coalesce(g.content_html, '<null>') || '|'
                         || coalesce(g.headers::text, '<null>')) = b.digest
                 AND g.raw_size_bytes = b.raw_size_bytes")" "82"
check "the attachment reads back" \
    "$(old -c "SELECT convert_from(content, 'UTF8') = repeat('row;', 500) FROM pm_content.get_attachment(
               (SELECT id FROM pm_content.attachments a JOIN public.before_upgrade b ON b.key = a.parent_storage_key WHERE b.g = 70))")" "t"

# After the upgrade: a repeated put finds the old row, a new put leaves content_hash to the key.
old >/dev/null <<SQL
SELECT pm_content.put_body('$T', 'Hi reader 5, the quarterly report is attached. ' || repeat('Figures and notes. ', 20),
                           '<p>Hi reader 5</p>' || repeat('<p>Figures and notes.</p>', 20),
                           jsonb_build_object('Subject', 'Report 5', 'To', 'r5@example.com'));
INSERT INTO public.before_upgrade VALUES (1000, pm_content.put_body('$T', 'after the upgrade', NULL));
SQL
check "a repeated put after the upgrade stores no second copy" \
    "$(old -c "SELECT count(*) FROM pm_content.content_objects")" "83"
check "old rows keep their content_hash, a new row leaves it to its key" \
    "$(old -c "SELECT count(*) FILTER (WHERE content_hash = right(storage_key::text, 64)) || '/' || count(*) FILTER (WHERE content_hash IS NULL) FROM pm_content.content_objects")" \
    "82/1"
check "decoded_objects shows the key's digest as content_hash for old and new rows" \
    "$(old -c "SELECT count(*) FROM pm_content.decoded_objects WHERE content_hash = split_part(storage_key, '.', 4)")" "83"
digest=$(old -c "SELECT right(key, 64) FROM public.before_upgrade WHERE g = 0")
by_digest="FROM pm_content.content_objects WHERE pm_content.digest_id(right(storage_key::text, 64)) = pm_content.digest_id('$digest') AND right(storage_key::text, 64) = '$digest'"
check "the same content across tenants, by digest: both tenants' rows" \
    "$(old -c "SELECT count(DISTINCT tenant_id) $by_digest")" "2"
check "that lookup uses the digest index" \
    "$(old -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF) SELECT 1 $by_digest" | grep -c content_objects_content_hash_idx)" "1"
check "digest_id: the first 16 hex digits, signed; NULL for anything else" \
    "$(old -c "SELECT pm_content.digest_id('0000000000000001ff') || ',' || pm_content.digest_id(repeat('f', 16)) || ',' || pm_content.digest_id('8000000000000000') || ',' || (pm_content.digest_id('00000000000000') IS NULL) || ',' || (pm_content.digest_id('000000000000000G') IS NULL) || ',' || (pm_content.digest_id('ABCDEF0000000000') IS NULL)")" \
    "1,-1,-9223372036854775808,true,true,true"
check "a new row's last_accessed_at is NULL, decoded_objects shows created_at" \
    "$(old -c "SELECT o.last_accessed_at IS NULL AND d.last_accessed_at = o.created_at FROM pm_content.content_objects o JOIN pm_content.decoded_objects d USING (storage_key) JOIN public.before_upgrade b ON b.key = o.storage_key WHERE b.g = 1000")" "t"
check "pm.rls_audit() is empty after the upgrade" "$(old -c "SELECT count(*) FROM pm.rls_audit()")" "0"

# A fresh install (0.1 + the upgrade chain) ends with the same schema.
fresh -c "CREATE EXTENSION pm_content CASCADE" >/dev/null
schema_of() {
    "$@" -c "SELECT string_agg(x, E'\n' ORDER BY x) FROM (
                 SELECT indexdef AS x FROM pg_indexes WHERE schemaname = 'pm_content'
                 UNION ALL SELECT 'view ' || pg_get_viewdef('pm_content.decoded_objects'::regclass)
                 UNION ALL SELECT format('column %s.%s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull)
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 WHERE c.relnamespace = 'pm_content'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped) s"
}
check "a fresh install is at 0.2" "$(fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'pm_content'")" "0.2"
check "a fresh install and the upgraded database have the same indexes, columns and view" \
    "$(schema_of fresh | md5sum)" "$(schema_of old | md5sum)"
check "a fresh install's put leaves content_hash to the key" \
    "$(fresh -c "SELECT pm_content.put_body('$T', 'fresh', NULL) IS NOT NULL" -c "SELECT count(*) FROM pm_content.content_objects WHERE content_hash IS NULL" | tail -1)" "1"

checks_done
