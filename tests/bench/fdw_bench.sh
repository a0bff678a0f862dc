#!/usr/bin/env bash
# pm_fdw vs postgres_fdw, side by side in one run, same remote data (not a test).  As root:
#
#   tests/bench/fdw_bench.sh [--rows N] [--rounds R] [--no-build]
#
# A remote cluster holds a content-like table (N rows, default 1,000,000: storage_key text
# PK, tenant_id uuid, ~300-byte body); a local cluster has it twice as foreign tables, through
# pm_fdw and through postgres_fdw (same role, same password auth over 127.0.0.1).  Medians of
# R rounds (default 5) of:
#   scan     every body of the table fetched                         → rows/s
#   any      1000 random keys: WHERE storage_key = ANY(ARRAY(SELECT …)) → ms
#   join     the same 1000 keys joined from a local table → ms (postgres_fdw: nested loop
#            forced and use_remote_estimate, its only plan that does not read the whole
#            remote table; pm_fdw: its batched join, which those settings do not affect)
#   any/join (warm conn): the same, the remote connection already open in the session
#   single   one key per transaction (pgbench, 5 s)                   → ms per lookup
#   down     a lookup against the stopped remote, after the first failure → ms
# and prints pm_fdw/postgres_fdw ratios (targets in ../shared/spec/fdw.md).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/tests/lib/cluster.sh"

rows=1000000 rounds=5 build=1
while (($#)); do
    case $1 in
        --rows) rows=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --no-build) build= ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -z $build ]] || (cd "$root" && make -j2 PM_WERROR=1 >/dev/null && make install >/dev/null)

PRE="shared_preload_libraries = 'pg_cron,penguinmails'"
pm_cluster_start remote postgres "$PRE" >/dev/null
pm_cluster_start local postgres "$PRE" >/dev/null
RP=$(pm_cluster_port remote)
r() { pm_psql remote -At "$@"; }
l() { pm_psql local -At "$@"; }

echo "loading $rows rows on the remote…" >&2
r >/dev/null <<SQL
CREATE ROLE bench LOGIN PASSWORD 'bench-pw';
CREATE TABLE public.objects (storage_key text PRIMARY KEY, tenant_id uuid NOT NULL, body text);
INSERT INTO public.objects
SELECT 'pmk1.body.' || md5(g::text) || md5((g * 7)::text), md5((g % 100)::text)::uuid,
       repeat('Hi there, following up on our last note. ', 7) || g
FROM generate_series(1, $rows) g;
ANALYZE public.objects;
GRANT SELECT ON public.objects TO bench;
SQL
l >/dev/null <<SQL
CREATE EXTENSION pm_core; CREATE EXTENSION pm_fdw; CREATE EXTENSION postgres_fdw;
CREATE SERVER s_pm FOREIGN DATA WRAPPER pm_fdw OPTIONS (host '127.0.0.1', port '$RP', dbname 'postgres', propagate_tenant 'false');
CREATE SERVER s_pg FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '$RP', dbname 'postgres');
CREATE USER MAPPING FOR PUBLIC SERVER s_pm OPTIONS (user 'bench', password 'bench-pw');
CREATE USER MAPPING FOR PUBLIC SERVER s_pg OPTIONS (user 'bench', password 'bench-pw');
CREATE FOREIGN TABLE f_pm (storage_key text, tenant_id uuid, body text) SERVER s_pm OPTIONS (schema_name 'public', table_name 'objects');
CREATE FOREIGN TABLE f_pg (storage_key text, tenant_id uuid, body text) SERVER s_pg OPTIONS (schema_name 'public', table_name 'objects');
-- Both planners get the remote size (neither FDW gathers statistics by itself here).
UPDATE pg_class SET reltuples = $rows WHERE relname IN ('f_pm', 'f_pg');
CREATE TABLE keys AS SELECT 'pmk1.body.' || md5(g::text) || md5((g * 7)::text) AS k
FROM (SELECT (random() * ($rows - 1))::int + 1 AS g FROM generate_series(1, 1000)) s;
ANALYZE keys;
CREATE FUNCTION ms(sql text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp(); n bigint;
BEGIN EXECUTE sql INTO n; RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END \$\$;
CREATE FUNCTION ms_err(sql text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp(); n bigint;
BEGIN EXECUTE sql INTO n; RETURN -1;
EXCEPTION WHEN OTHERS THEN RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END \$\$;
SQL
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
measure() {   # table-suffix, sql template with %T, [extra settings], [warm]
    # Each round is a new session, so by default the time includes opening the remote
    # connection (password auth, session setup: ~2/3 of a 1000-key fetch on localhost).
    # "warm" first sends a one-key lookup through the same link in that session, so only
    # the fetch itself is timed — what an application with pooled sessions sees.
    local i out=() warm="SELECT 1"
    [[ -z ${4:-} ]] || warm="SELECT count(*) FROM f_$1 WHERE storage_key = 'warm-up'"
    for ((i = 0; i < rounds; i++)); do
        out+=("$(l -c "${3:-SELECT 1}" -c "$warm" -c "SELECT ms(\$q\$${2//%T/f_$1}\$q\$)" | tail -n 1)")
    done
    printf '%s\n' "${out[@]}" | median
}
declare -A res
# Every query fetches the bodies (OFFSET 0 keeps postgres_fdw from pushing the aggregate
# down, which would compare a remote count with a transfer).
SCAN='SELECT sum(length(body)) FROM (SELECT body FROM %T OFFSET 0) s'
ANY='SELECT sum(length(body)) FROM (SELECT body FROM %T WHERE storage_key = ANY(ARRAY(SELECT k FROM keys)) OFFSET 0) s'
JOIN='SELECT sum(length(body)) FROM (SELECT f.body FROM keys JOIN %T f ON f.storage_key = keys.k OFFSET 0) s'
NL='SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off'
for w in pm pg; do
    l -c "SELECT ms(\$q\$${SCAN//%T/f_$w}\$q\$)" >/dev/null   # warm the remote cache
    res[scan_$w]=$(measure "$w" "$SCAN")
    res[any_$w]=$(measure "$w" "$ANY")
    res[anywarm_$w]=$(measure "$w" "$ANY" "" warm)
    # postgres_fdw plans a parameterised nested loop only with remote estimates; without
    # them its join is a nested loop over a full remote scan (forced) or a hash join over
    # one (free) — seconds.  Give it its best: remote estimates, nested loop forced.
    [[ $w != pg ]] || l -c "ALTER FOREIGN TABLE f_pg OPTIONS (ADD use_remote_estimate 'true')" >/dev/null
    res[join_$w]=$(measure "$w" "$JOIN" "$NL")
    res[joinwarm_$w]=$(measure "$w" "$JOIN" "$NL" warm)
    [[ $w != pg ]] || l -c "ALTER FOREIGN TABLE f_pg OPTIONS (DROP use_remote_estimate)" >/dev/null
    key=$(l -c "SELECT k FROM keys LIMIT 1")
    printf "SELECT body FROM f_%s WHERE storage_key = '%s';\n" "$w" "$key" >"$(pm_cluster_dir local)/single_$w.sql"
    tps=$(pgbench -n -T 5 -c 1 -h "$(pm_cluster_host local)" -p "$(pm_cluster_port local)" -U postgres \
          -f "$(pm_cluster_dir local)/single_$w.sql" postgres 2>/dev/null | awk '/^tps/ { print $3 }')
    res[single_$w]=$(awk -v t="$tps" 'BEGIN { printf "%.3f", 1000 / t }')
done
pm_cluster_stop remote
for w in pm pg; do
    l -c "SELECT ms_err('SELECT count(*) FROM f_$w WHERE storage_key = ''x''')" >/dev/null   # first failure
    out=()
    for ((i = 0; i < rounds; i++)); do
        out+=("$(l -c "SELECT ms_err('SELECT count(*) FROM f_$w WHERE storage_key = ''x''')")")
    done
    res[down_$w]=$(printf '%s\n' "${out[@]}" | median)
done

printf '\npm_fdw vs postgres_fdw — %s remote rows, median of %s rounds\n' "$rows" "$rounds"
printf '%-34s %14s %14s %10s  %s\n' measure pm_fdw postgres_fdw ratio target
rate() { awk -v n="$rows" -v ms="$1" 'BEGIN { printf "%.0f", n / (ms / 1000) }'; }
sp=$(rate "${res[scan_pm]}"); sg=$(rate "${res[scan_pg]}")
printf '%-34s %14s %14s %10s  %s\n' "full scan (rows/s)" "$sp" "$sg" "$(awk -v a="$sp" -v b="$sg" 'BEGIN { printf "%.2fx", a / b }')" ">= 1x"
for m in any join anywarm joinwarm; do
    printf '%-34s %14s %14s %10s  %s\n' "1000 keys via ${m/warm/ (warm conn)} (ms)" "${res[${m}_pm]}" "${res[${m}_pg]}" \
        "$(awk -v a="${res[${m}_pm]}" -v b="${res[${m}_pg]}" 'BEGIN { printf "%.2fx faster", b / a }')" ">= 2x faster"
done
printf '%-34s %14s %14s %10s  %s\n' "single-key lookup (ms/txn)" "${res[single_pm]}" "${res[single_pg]}" \
    "$(awk -v a="${res[single_pm]}" -v b="${res[single_pg]}" 'BEGIN { printf "%.2fx faster", b / a }')" ">= 1x"
printf '%-34s %14s %14s %10s  %s\n' "stopped remote, later call (ms)" "${res[down_pm]}" "${res[down_pg]}" "-" "pm_fdw < 10 ms"
