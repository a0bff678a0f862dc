#!/usr/bin/env bash
# RLS overhead benchmark (not part of the test suite).  As root, after `make install`
# (or let it build: it runs `make install` unless --no-build):
#
#   tests/bench/rls_overhead.sh            1M leads + 1M emails over 100 tenants, 7 rounds x 3 s
#   tests/bench/rls_overhead.sh --quick    100k + 100k, 3 rounds x 2 s (about a minute)
#   options: --rounds N  --seconds S  --clients C  --no-build  --keep (keep the cluster files)
#
# Same data, same pages, same three queries, three ways to restrict them to one tenant:
#   (a) the shipped policy      tenant_id = pm.rls_tenant_id()                   as a pm_app member
#   (b) the source design's     tenant_id = current_setting('app.current_tenant_id')::uuid
#   (c) RLS bypassed            explicit WHERE tenant_id = $1, BYPASSRLS login role
# (a) and (b) swap the policy expression with ALTER POLICY between runs.  The tenant is set per
# connection (PGOPTIONS) so setting it is not inside the measured transactions.  Variants are
# interleaved in every round (rotating order), each round on another random tenant; the report
# is the median TPS and time(x)/time(c).  Target from spec/core.md: (a)/(c) <= 1.10.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

tenants=100 per_tenant=10000 rounds=7 seconds=3 clients=1 build=1
while (($#)); do
    case $1 in
        --quick) per_tenant=1000 rounds=3 seconds=2 ;;
        --rounds) rounds=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --clients) clients=$2; shift ;;
        --no-build) build= ;;
        --keep) export PM_KEEP_CLUSTERS=1 ;;
        -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "rls_overhead: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p build/bench
log=build/bench/rls_overhead-$(date -u +%Y%m%dT%H%M%SZ).log
exec > >(tee "$log") 2>&1

if [[ -n $build ]]; then
    make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null
fi

# Client and server share one CPU (the last) when there are several: a point lookup is a
# ping-pong between pgbench and its backend, and on different CPUs its speed depends on
# wake-up latencies that vary far more between runs than the policies do.
if [[ -z ${PM_CLUSTER_CPUS+x} ]] && (($(nproc) > 1)); then
    export PM_CLUSTER_CPUS=$(($(nproc) - 1))
fi

# JIT and parallel query off: either kicking in for one variant and not another would
# measure the planner's thresholds, not the policies.
pm_cluster_start bench postgres "shared_buffers = 1GB
jit = off
max_parallel_workers_per_gather = 0"
pm_cluster_use bench bench
work=$(pm_cluster_dir bench)/work
mkdir -p "$work"
createdb bench

total_rows=$((tenants * per_tenant))
echo "RLS overhead: $total_rows leads + $total_rows emails over $tenants tenants;" \
    "$rounds rounds x ${seconds}s per run, $clients client(s), pgbench -M prepared"
echo "PostgreSQL $(psql -X -Atc 'SHOW server_version'), $(nproc) CPUs" \
    "(client and server on CPU ${PM_CLUSTER_CPUS:-any}); log: $log"

sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

start=$SECONDS
# Interleaved insert order (all tenants' rows arrive mixed, as in production), so a
# tenant's rows are spread over the table and the index has to do the work.
sql -v tenants="$tenants" -v per_tenant="$per_tenant" <<'SQL'
CREATE EXTENSION pm_oltp CASCADE;
SELECT pm.ensure_roles() \g /dev/null
CREATE ROLE bench_app LOGIN IN ROLE pm_app;
CREATE ROLE bench_bypass LOGIN BYPASSRLS IN ROLE pm_staff;

INSERT INTO pm_oltp.tenants (id, name)
SELECT md5('bench-tenant-' || g)::uuid, 'bench tenant ' || g FROM generate_series(1, :tenants) g;

CREATE TEMP TABLE t AS
SELECT row_number() OVER (ORDER BY id) AS n, id FROM pm_oltp.tenants;

INSERT INTO pm_oltp.leads (tenant_id, email, name, company, created)
SELECT t.id, 'lead' || g || '@example.com', 'Lead ' || g, 'Company ' || (g % 997),
       timestamptz '2026-01-01 00:00+00' + g * interval '1 minute'
FROM generate_series(1, :per_tenant) g CROSS JOIN t
ORDER BY g, t.n;

INSERT INTO pm_oltp.emails (tenant_id, direction, recipient, subject, status, sent_at, delivered_at)
SELECT tenant_id, 'outbound', recipient, 'Hello', 'delivered', at, at + interval '5 seconds'
FROM (SELECT t.id AS tenant_id, 'lead' || g || '@example.com' AS recipient,
             timestamptz '2026-01-01 00:00+00' + random() * interval '90 days' AS at
        FROM generate_series(1, :per_tenant) g CROSS JOIN t
       ORDER BY g, t.n) s;
SQL
sql -c 'VACUUM (ANALYZE) pm_oltp.tenants, pm_oltp.leads, pm_oltp.emails'
echo "loaded and vacuumed in $((SECONDS - start)) s"

mapfile -t tenant_ids < <(psql -X -Atc 'SELECT id FROM pm_oltp.tenants ORDER BY id')

# --- the three queries, written once for RLS (no tenant filter) and once explicit ---------
declare -A q_label=([count]="tenant-wide count (leads)" [point]="point lookup by email (leads)"
         [range]="7-day range count (emails.sent_at)")
queries=(count point range)
cat >"$work/count.rls.sql" <<'EOF'
SELECT count(*) FROM pm_oltp.leads;
EOF
cat >"$work/count.explicit.sql" <<'EOF'
SELECT count(*) FROM pm_oltp.leads WHERE tenant_id = :tid;
EOF
cat >"$work/point.rls.sql" <<EOF
\\set n random(1, $per_tenant)
SELECT id, name, status FROM pm_oltp.leads WHERE email = 'lead' || :n::int || '@example.com';
EOF
cat >"$work/point.explicit.sql" <<EOF
\\set n random(1, $per_tenant)
SELECT id, name, status FROM pm_oltp.leads
 WHERE tenant_id = :tid AND email = 'lead' || :n::int || '@example.com';
EOF
cat >"$work/range.rls.sql" <<'EOF'
\set d random(0, 82)
SELECT count(*) FROM pm_oltp.emails
 WHERE sent_at >= timestamptz '2026-01-01 00:00+00' + :d::int * interval '1 day'
   AND sent_at <  timestamptz '2026-01-01 00:00+00' + (:d::int + 7) * interval '1 day';
EOF
cat >"$work/range.explicit.sql" <<'EOF'
\set d random(0, 82)
SELECT count(*) FROM pm_oltp.emails
 WHERE tenant_id = :tid
   AND sent_at >= timestamptz '2026-01-01 00:00+00' + :d::int * interval '1 day'
   AND sent_at <  timestamptz '2026-01-01 00:00+00' + (:d::int + 7) * interval '1 day';
EOF

declare -A v_label=([a]="(a) pm.rls_tenant_id()" [b]="(b) current_setting()::uuid"
                    [c]="(c) no RLS, WHERE tenant_id")

set_policy() {   # a | b
    local expr
    case $1 in
        a) expr='tenant_id = pm.rls_tenant_id()' ;;
        b) expr="tenant_id = current_setting('app.current_tenant_id')::uuid" ;;
        *) return 0 ;;
    esac
    sql -c "ALTER POLICY tenant_isolation ON pm_oltp.leads USING ($expr) WITH CHECK ($expr)" \
        -c "ALTER POLICY tenant_isolation ON pm_oltp.emails USING ($expr) WITH CHECK ($expr)"
}

role_of() { if [[ $1 == c ]]; then echo bench_bypass; else echo bench_app; fi; }
script_of() { if [[ $1 == c ]]; then echo "$work/$2.explicit.sql"; else echo "$work/$2.rls.sql"; fi; }

# Prints the TPS of one pgbench run.
bench_run() {   # variant query tenant seconds
    local out
    out=$(PGOPTIONS="-c app.current_tenant_id=$3" \
        ${PM_CLUSTER_CPUS:+taskset -c "$PM_CLUSTER_CPUS"} pgbench -n -M prepared -T "$4" \
        -c "$clients" -j "$clients" -U "$(role_of "$1")" -D tid="$3" \
        -f "$(script_of "$1" "$2")" 2>&1) || { echo "$out" >&2; return 1; }
    awk '/^tps = / { print $3; exit }' <<<"$out"
}

# --- plans, once per variant ------------------------------------------------------------
explain_all() {
    local tid=$1 v q
    echo
    echo "=== plans (EXPLAIN, tenant ${tid:0:8}) ==="
    for v in a b c; do
        set_policy "$v"
        for q in "${queries[@]}"; do
            echo "--- ${v_label[$v]} · ${q_label[$q]}"
            # Substitute the pgbench variables with sample values for a plain EXPLAIN.
            sed -e '/^\\set/d' -e "s/:tid/'$tid'::uuid/" -e 's/:n::int/42/' -e 's/:d::int/30/g' \
                "$(script_of "$v" "$q")" |
                sed '1s/^/EXPLAIN (COSTS OFF) /' |
                PGOPTIONS="-c app.current_tenant_id=$tid" psql -X -q -At -U "$(role_of "$v")" |
                sed 's/^/    /'
        done
    done
}

# --- measurement ---------------------------------------------------------------------------
echo
echo "warming up caches..."
for v in a b c; do
    set_policy "$v"
    for q in "${queries[@]}"; do bench_run "$v" "$q" "${tenant_ids[0]}" 1 >/dev/null; done
done

# Each query's three variants run back to back (rotating which goes first), so a drift of
# the machine's speed hits all three alike; the ratios are taken within a round.
orders=("a b c" "b c a" "c a b")
for ((r = 1; r <= rounds; r++)); do
    tid=${tenant_ids[RANDOM % ${#tenant_ids[@]}]}
    line="round $r (tenant ${tid:0:8}):"
    for q in "${queries[@]}"; do
        for v in ${orders[$(((r - 1) % 3))]}; do
            set_policy "$v"
            tps=$(bench_run "$v" "$q" "$tid" "$seconds")
            printf '%s\n' "$tps" >>"$work/tps.$v.$q"
            line+=" $q/$v=$(printf '%.0f' "$tps")"
        done
        for v in a b c; do
            awk -v c="$(tail -n 1 "$work/tps.c.$q")" -v x="$(tail -n 1 "$work/tps.$v.$q")" \
                'BEGIN { printf "%.4f\n", c / x }' >>"$work/ratio.$v.$q"
        done
    done
    echo "$line"
done

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "=== RLS overhead, median of $rounds rounds ==="
echo "time/(c) = median over rounds of TPS(c)/TPS(x) measured side by side; target (a)/(c) <= 1.10"
printf '%-36s %-30s %12s %10s %9s\n' query variant "median TPS" "ms/txn" "time/(c)"
worst=0
for q in "${queries[@]}"; do
    for v in a b c; do
        tps=$(median "$work/tps.$v.$q")
        ratio=$(median "$work/ratio.$v.$q")
        printf '%-36s %-30s %12.1f %10.4f %9.3f\n' "${q_label[$q]}" "${v_label[$v]}" "$tps" \
            "$(awk -v x="$tps" -v n="$clients" 'BEGIN { printf "%.4f", 1000 * n / x }')" "$ratio"
        [[ $v == a ]] && worst=$(awk -v w="$worst" -v r="$ratio" 'BEGIN { print (r > w) ? r : w }')
    done
done
echo
verdict=$(awk -v w="$worst" 'BEGIN { print (w <= 1.10) ? "meets" : "MISSES" }')
printf 'worst (a)/(c) = %.3f: %s the 1.10 target\n' "$worst" "$verdict"

explain_all "${tenant_ids[0]}"
set_policy a
