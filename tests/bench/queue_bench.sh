#!/usr/bin/env bash
# pm_queue benchmark (not part of the test suite).  As root, after `make install` (or let it
# build: it runs `make install` unless --no-build):
#
#   tests/bench/queue_bench.sh            full run (~25 minutes)
#   tests/bench/queue_bench.sh --quick    one round of short runs, 10^4..10^5 history (~6 minutes)
#   options: --rounds N  --seconds S  --hold S  --no-build  --keep (keep the cluster files)
#            --protocols simple,prepared (pgbench -M; default both)  --variants a,b,..
#            --configs "1x1 4x1 16x1 1x100 4x100 16x100" (workers x batch)
#            --throughput-only (skip the history and snapshot parts)
#
# Side by side, in one cluster and one run, interleaved (the order of the variants rotates
# every round; the report is the median over rounds):
#
#   baseline   (shown as "delete") the canonical hand-written queue: one table with a (queue,
#              status, priority, run_at) index; enqueue = INSERT; claim = BEGIN; SELECT id ..
#              FOR UPDATE SKIP LOCKED LIMIT n; UPDATE .. SET status = 'running', lease; COMMIT;
#              complete = DELETE.  Same guarantees as pm_queue's lease (a claim commits at once,
#              a crashed worker's job comes back), no history kept, no tenant, no rate limits.
#   keeping    the same queue keeping its finished jobs: pm_queue's history columns (tenant,
#              started/completed/failed/cancelled_at, result, error, updated_at) and complete
#              = UPDATE .. SET status = 'completed', completed_at; an index on (queue,
#              completed_at) for pruning later (not run during the measurement).
#   pm_queue_nt  (only with --variants) pm_queue batch 1 without tenant_id: the job takes the
#              default pm.current_tenant_id() (none here: a platform job).
#   pm_queue   enqueue() / claim() / complete()  (batch 1)
#              enqueue_many() / claim(.., n) / complete_many()  (batch 100)
#   pm_queue+rl  the same with every job carrying rate_key 'mailbox:<id>' of 1000 mailboxes
#              (pm_oltp.email_accounts.daily_limit, generous: every claim consults and
#              consumes a budget, none is exhausted).
#
# Each pgbench transaction moves `batch` jobs through enqueue + claim + complete; jobs/s =
# tps * batch.  Workers = pgbench clients (separate connections).  Before every run the
# queue is reset to the same backlog of ready jobs.
#
# Then:
#   history   claim latency (p50/p99, measured server-side around claim() while 3 pgbench
#             workers keep the queue busy) with 10^4, 10^5, 10^6 completed jobs in the table;
#   snapshot  throughput of 4 workers, batch 1, while another session holds a REPEATABLE READ
#             snapshot open for --hold seconds (default 60; the issue's 10 minutes would make
#             the run far too long), against the same run without it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

rounds=3 seconds=5 hold=60 build=1 quick= extras=1
history_sizes=(10000 100000 1000000)
protocols=(simple prepared)
variants=(baseline keeping pm_queue pm_queue+rl)
configs=("1 1" "4 1" "16 1" "1 100" "4 100" "16 100")
while (($#)); do
    case $1 in
        --quick) quick=1 rounds=1 seconds=3 hold=15 history_sizes=(10000 100000) ;;
        --rounds) rounds=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --hold) hold=$2; shift ;;
        --no-build) build= ;;
        --protocols) IFS=, read -r -a protocols <<<"$2"; shift ;;
        --variants) IFS=, read -r -a variants <<<"$2"; shift ;;
        --configs) read -r -a cfgs <<<"$2"; configs=("${cfgs[@]//x/ }"); shift ;;
        --throughput-only) extras= ;;
        --keep) export PM_KEEP_CLUSTERS=1 ;;
        -h | --help) sed -n '2,45s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "queue_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p build/bench
log=build/bench/queue_bench-$(date -u +%Y%m%dT%H%M%SZ).log
exec > >(tee "$log") 2>&1

if [[ -n $build ]]; then
    make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null
fi

# A base directory of our own: other tools sweep stale /tmp/pm-clusters.* directories.
PM_CLUSTER_BASE=$(mktemp -d /tmp/pmq-bench.XXXXXX)
chmod 0755 "$PM_CLUSTER_BASE"

# JIT and parallel query off: either kicking in for one variant and not the other would
# measure the planner's thresholds.  Autovacuum stays on, as in production.
pm_cluster_start qbench postgres "shared_buffers = 1GB
jit = off
max_parallel_workers_per_gather = 0
max_connections = 100" >/dev/null 2>&1
pm_cluster_use qbench bench
work=$(pm_cluster_dir qbench)/work
mkdir -p "$work"
createdb bench

sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
val() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

echo "pm_queue benchmark: $rounds round(s) x ${seconds}s per run; PostgreSQL $(val -c 'SHOW server_version'), $(nproc) CPUs"
echo "log: $log"
started=$SECONDS

sql <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pm_oltp CASCADE;
CREATE EXTENSION pm_queue;
SELECT pm.ensure_roles() \g /dev/null

-- 1000 mailboxes of one tenant with a budget no run can exhaust.
INSERT INTO pm_oltp.tenants (id, name) VALUES ('b0000000-0000-0000-0000-000000000001', 'bench');
INSERT INTO pm_oltp.email_accounts (id, tenant_id, email, daily_limit)
SELECT md5('mailbox-' || g)::uuid, 'b0000000-0000-0000-0000-000000000001',
       'mb' || g || '@bench.example', 1000000000
  FROM generate_series(1, 1000) g;

INSERT INTO pm_queue.job_queues (name, timeout_seconds) VALUES ('bench', 60), ('bench_rl', 60);

CREATE TABLE public.baseline_jobs (
    id           bigserial PRIMARY KEY,
    queue        text NOT NULL,
    payload      jsonb NOT NULL,
    priority     int NOT NULL DEFAULT 100,
    status       text NOT NULL DEFAULT 'queued',
    run_at       timestamptz NOT NULL DEFAULT now(),
    attempts     int NOT NULL DEFAULT 0,
    locked_by    text,
    locked_until timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now());
CREATE INDEX baseline_jobs_claim_idx ON public.baseline_jobs (queue, status, priority, run_at);

-- The same queue keeping finished jobs, with pm_queue's history columns (LIKE copies the
-- primary key and the claim index).
CREATE TABLE public.keeping_jobs (
    LIKE public.baseline_jobs INCLUDING ALL,
    tenant_id    uuid,
    started_at   timestamptz,
    completed_at timestamptz,
    failed_at    timestamptz,
    cancelled_at timestamptz,
    result       jsonb,
    error        text,
    updated_at   timestamptz NOT NULL DEFAULT now());
CREATE INDEX keeping_jobs_prune_idx ON public.keeping_jobs (queue, completed_at) WHERE status = 'completed';

-- Puts a queue back to `n` ready jobs and nothing else.
CREATE FUNCTION public.bench_reset(variant text, n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE public.baseline_jobs, public.keeping_jobs, pm_queue.jobs, pm_queue.job_logs, pm_queue.rate_windows;
    IF variant = 'baseline' THEN
        INSERT INTO public.baseline_jobs (queue, payload)
        SELECT 'bench', jsonb_build_object('email_id', g) FROM generate_series(1, n) g;
    ELSIF variant = 'keeping' THEN
        INSERT INTO public.keeping_jobs (queue, tenant_id, payload)
        SELECT 'bench', 'b0000000-0000-0000-0000-000000000001', jsonb_build_object('email_id', g)
          FROM generate_series(1, n) g;
    ELSIF variant IN ('pm_queue', 'pm_queue_nt') THEN
        PERFORM pm_queue.enqueue_many('bench',
            ARRAY(SELECT jsonb_build_object('email_id', g) FROM generate_series(1, n) g),
            tenant_id => 'b0000000-0000-0000-0000-000000000001');
    ELSE
        PERFORM pm_queue.enqueue_many('bench_rl',
            ARRAY(SELECT jsonb_build_object('email_id', g) FROM generate_series(1, n) g),
            tenant_id => 'b0000000-0000-0000-0000-000000000001',
            rate_keys => ARRAY(SELECT 'mailbox:' || md5('mailbox-' || (1 + g % 1000))::uuid
                                 FROM generate_series(1, n) g));
    END IF;
END $$;
SQL

# --- pgbench scripts (one transaction = `batch` jobs through enqueue, claim, complete) -----
cat >"$work/baseline_1.sql" <<'SQL'
INSERT INTO baseline_jobs (queue, payload) VALUES ('bench', '{"email_id": 1}');
BEGIN;
SELECT coalesce(array_agg(id), '{}') AS ids FROM (SELECT id FROM baseline_jobs WHERE queue = 'bench' AND status = 'queued' AND run_at <= now() ORDER BY priority, run_at LIMIT 1 FOR UPDATE SKIP LOCKED) s \gset
UPDATE baseline_jobs SET status = 'running', locked_by = 'w' || :client_id, locked_until = now() + interval '60 s', attempts = attempts + 1 WHERE id = ANY (:ids::bigint[]) RETURNING id, payload;
COMMIT;
DELETE FROM baseline_jobs WHERE id = ANY (:ids::bigint[]);
SQL
cat >"$work/baseline_100.sql" <<'SQL'
INSERT INTO baseline_jobs (queue, payload) SELECT 'bench', jsonb_build_object('email_id', g) FROM generate_series(1, 100) g;
BEGIN;
SELECT coalesce(array_agg(id), '{}') AS ids FROM (SELECT id FROM baseline_jobs WHERE queue = 'bench' AND status = 'queued' AND run_at <= now() ORDER BY priority, run_at LIMIT 100 FOR UPDATE SKIP LOCKED) s \gset
UPDATE baseline_jobs SET status = 'running', locked_by = 'w' || :client_id, locked_until = now() + interval '60 s', attempts = attempts + 1 WHERE id = ANY (:ids::bigint[]) RETURNING id, payload;
COMMIT;
DELETE FROM baseline_jobs WHERE id = ANY (:ids::bigint[]);
SQL
for b in 1 100; do
    if ((b == 1)); then
        ins="INSERT INTO keeping_jobs (queue, tenant_id, payload) VALUES ('bench', 'b0000000-0000-0000-0000-000000000001', '{\"email_id\": 1}');"
    else
        ins="INSERT INTO keeping_jobs (queue, tenant_id, payload) SELECT 'bench', 'b0000000-0000-0000-0000-000000000001', jsonb_build_object('email_id', g) FROM generate_series(1, 100) g;"
    fi
    cat >"$work/keeping_$b.sql" <<SQL
$ins
BEGIN;
SELECT coalesce(array_agg(id), '{}') AS ids FROM (SELECT id FROM keeping_jobs WHERE queue = 'bench' AND status = 'queued' AND run_at <= now() ORDER BY priority, run_at LIMIT $b FOR UPDATE SKIP LOCKED) s \gset
UPDATE keeping_jobs SET status = 'running', locked_by = 'w' || :client_id, locked_until = now() + interval '60 s', attempts = attempts + 1, started_at = now(), updated_at = now() WHERE id = ANY (:ids::bigint[]) RETURNING id, payload;
COMMIT;
UPDATE keeping_jobs SET status = 'completed', completed_at = now(), updated_at = now(), locked_until = NULL WHERE id = ANY (:ids::bigint[]) AND status = 'running' AND locked_by = 'w' || :client_id;
SQL
done
cat >"$work/pm_queue_1.sql" <<'SQL'
SELECT pm_queue.enqueue('bench', '{"email_id": 1}', tenant_id => 'b0000000-0000-0000-0000-000000000001');
SELECT (SELECT id FROM pm_queue.claim('{bench}', 'w' || :client_id, 1)) AS id \gset
SELECT pm_queue.complete(:id, 'w' || :client_id);
SQL
sed "s/, tenant_id => '[^']*'//" "$work/pm_queue_1.sql" >"$work/pm_queue_nt_1.sql"
cat >"$work/pm_queue_100.sql" <<'SQL'
SELECT count(*) FROM pm_queue.enqueue_many('bench', ARRAY(SELECT jsonb_build_object('email_id', g) FROM generate_series(1, 100) g), tenant_id => 'b0000000-0000-0000-0000-000000000001');
SELECT coalesce(array_agg(id), '{}') AS ids FROM pm_queue.claim('{bench}', 'w' || :client_id, 100) \gset
SELECT count(*) FROM pm_queue.complete_many(:ids::uuid[], 'w' || :client_id);
SQL
cat >"$work/pm_queue_rl_1.sql" <<'SQL'
\set mb random(1, 1000)
SELECT pm_queue.enqueue('bench_rl', '{"email_id": 1}', tenant_id => 'b0000000-0000-0000-0000-000000000001', rate_key => 'mailbox:' || md5('mailbox-' || :mb)::uuid);
SELECT (SELECT id FROM pm_queue.claim('{bench_rl}', 'w' || :client_id, 1)) AS id \gset
SELECT pm_queue.complete(:id, 'w' || :client_id);
SQL
cat >"$work/pm_queue_rl_100.sql" <<'SQL'
SELECT count(*) FROM pm_queue.enqueue_many('bench_rl', ARRAY(SELECT jsonb_build_object('email_id', g) FROM generate_series(1, 100) g), tenant_id => 'b0000000-0000-0000-0000-000000000001', rate_keys => ARRAY(SELECT 'mailbox:' || md5('mailbox-' || (1 + floor(random() * 1000))::int)::uuid FROM generate_series(1, 100)));
SELECT coalesce(array_agg(id), '{}') AS ids FROM pm_queue.claim('{bench_rl}', 'w' || :client_id, 100) \gset
SELECT count(*) FROM pm_queue.complete_many(:ids::uuid[], 'w' || :client_id);
SQL

# The simple protocol substitutes variables as text: the ids become quoted literals there (the
# prepared protocol sends them as parameters).
mkdir -p "$work/simple"
for f in "$work"/*.sql; do
    sed -e "s/(:ids::/(':ids'::/g" -e "s/(:id,/(':id',/g" "$f" >"$work/simple/${f##*/}"
done

# Server CPU consumed by backends that have exited (postmaster's children times, in ticks):
# pgbench's connections end with the run, so the difference around a run is what the server
# spent on it (plus any autovacuum worker that finished meanwhile).  Unlike jobs/s it hardly
# depends on what else the machine is doing.
postmaster_pid=$(head -n 1 "$(pm_cluster_dir qbench)/data/postmaster.pid")
ticks=$(getconf CLK_TCK)
child_ticks() { awk '{ print $16 + $17 }' "/proc/$postmaster_pid/stat"; }

# "jobs/s cpu-us/job" of one pgbench run; the queue is reset to the same backlog first.
run() {   # variant workers batch seconds [protocol]
    local variant=$1 workers=$2 batch=$3 secs=$4 protocol=${5:-prepared} script out tps t0 t1
    script=$work/${variant/+/_}_$batch.sql
    [[ $protocol != simple ]] || script=$work/simple/${variant/+/_}_$batch.sql
    val -c "SELECT public.bench_reset('$variant', least(10000, greatest(2000, 20 * $workers * $batch)))" >/dev/null
    val -c "VACUUM ANALYZE public.baseline_jobs, public.keeping_jobs, pm_queue.jobs, pm_queue.rate_windows" >/dev/null
    sleep 0.2
    t0=$(child_ticks)
    out=$(pgbench -n -M "$protocol" -T "$secs" -c "$workers" -j "$(( workers < 4 ? workers : 4 ))" \
              -f "$script" 2>&1) || true
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
    sleep 0.2
    t1=$(child_ticks)
    [[ -n $tps ]] || { echo "pgbench failed for $variant w=$workers b=$batch -M $protocol:" >&2; grep -m 3 -i "error" <<<"$out" >&2; return 1; }
    awk -v t="$tps" -v b="$batch" -v s="$secs" -v c=$((t1 - t0)) -v hz="$ticks" \
        'BEGIN { printf "%.0f %.1f\n", t * b, c / hz * 1e6 / (t * b * s) }'
}

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
has_script() { [[ -f $work/${1/+/_}_$2.sql ]]; }

declare -A results=() cpu=()

echo
echo "== throughput: enqueue + claim + complete, jobs/s and server CPU-us per job (median of $rounds) =="
echo "   protocols: ${protocols[*]}; variants: ${variants[*]}"
for ((r = 1; r <= rounds; r++)); do
    for cfg in "${configs[@]}"; do
        read -r w b <<<"$cfg"
        for p in "${protocols[@]}"; do
            for ((k = 0; k < ${#variants[@]}; k++)); do
                v=${variants[$(((k + r + w) % ${#variants[@]}))]}
                has_script "$v" "$b" || continue
                read -r jobs us < <(run "$v" "$w" "$b" "$seconds" "$p")
                results["$v|$p|$w|$b"]+="$jobs "
                cpu["$v|$p|$w|$b"]+="$us "
            done
        done
    done
    echo "  round $r/$rounds done ($((SECONDS - started)) s)"
done

med() {   # results|cpu key -> median or empty
    local -n arr=$1
    [[ -n ${arr[$2]:-} ]] || { echo; return; }
    # shellcheck disable=SC2086
    median ${arr[$2]}
}
for p in "${protocols[@]}"; do
    echo
    echo "-- pgbench -M $p --"
    printf '%-7s %-5s |' workers batch
    for v in "${variants[@]}"; do printf ' %11s' "${v/baseline/delete}"; done
    printf ' | %8s %8s %7s |' "pmq/del" "pmq/keep" "rl/pmq"
    for v in "${variants[@]}"; do printf ' %9s' "cpu ${v/baseline/del}"; done
    printf '\n'
    for cfg in "${configs[@]}"; do
        read -r w b <<<"$cfg"
        printf '%-7s %-5s |' "$w" "$b"
        for v in "${variants[@]}"; do
            x=$(med results "$v|$p|$w|$b"); printf ' %11s' "${x:--}"
        done
        del=$(med results "baseline|$p|$w|$b"); keep=$(med results "keeping|$p|$w|$b")
        ours=$(med results "pm_queue|$p|$w|$b"); rl=$(med results "pm_queue+rl|$p|$w|$b")
        awk -v d="$del" -v k="$keep" -v o="$ours" -v r="$rl" 'BEGIN {
            printf " | %8s %8s %7s |", (d && o) ? sprintf("%.2fx", o / d) : "-",
                   (k && o) ? sprintf("%.2fx", o / k) : "-", (r && o) ? sprintf("%.0f%%", 100 * r / o) : "-" }'
        for v in "${variants[@]}"; do
            x=$(med cpu "$v|$p|$w|$b"); printf ' %9s' "${x:--}"
        done
        printf '\n'
    done
done
echo "pmq/del, pmq/keep: pm_queue jobs/s over the deleting / keeping queue's (targets: batch 1 >= 1.0x / 1.5x,"
echo "batch 100 >= 0.8x / 1.5x); rl/pmq: rate-limited over unlimited (target >= 80%); cpu: server CPU-us per job"
echo "raw jobs/s per round:"
for key in "${!results[@]}"; do printf '  %-30s %s\n' "$key" "${results[$key]}"; done | sort

if [[ -z $extras ]]; then
    echo
    echo "total $((SECONDS - started)) s; log: $log"
    exit 0
fi

# --- claim latency against history ----------------------------------------------------------
echo
echo "== claim latency vs finished jobs in pm_queue.jobs (server-side, 3 busy workers) =="
sql <<'SQL'
CREATE TABLE public.claim_latency (n_finished bigint, us double precision);
-- Times claim() alone, one job per call, between an enqueue and a complete of its own.
CREATE PROCEDURE public.measure_claims(n_finished bigint, samples int) LANGUAGE plpgsql AS $$
DECLARE
    t0  timestamptz;
    jid uuid;
    lat double precision[] := '{}';
BEGIN
    FOR i IN 1 .. samples LOOP
        PERFORM pm_queue.enqueue('bench', '{}', tenant_id => 'b0000000-0000-0000-0000-000000000001');
        COMMIT;
        t0 := clock_timestamp();
        SELECT id INTO jid FROM pm_queue.claim('{bench}', 'probe', 1);
        lat := lat || extract(epoch FROM clock_timestamp() - t0) * 1e6;
        COMMIT;
        IF jid IS NOT NULL THEN
            PERFORM pm_queue.complete(jid, 'probe');
        END IF;
        COMMIT;
    END LOOP;
    INSERT INTO public.claim_latency SELECT n_finished, unnest(lat);
END $$;
SQL
val -c "SELECT public.bench_reset('pm_queue', 2000)" >/dev/null
have=0
for n in "${history_sizes[@]}"; do
    add=$((n - have))
    # Finished jobs as a week of history would leave them: completed, spread over 7 days.
    val -c "INSERT INTO pm_queue.jobs (id, queue_name, tenant_id, status, priority, payload, attempt_count,
                                      locked_by, started_at, completed_at, run_at, created_at, updated_at)
            SELECT pm_queue.new_job_id(), 'bench', 'b0000000-0000-0000-0000-000000000001', 'completed', 100,
                   jsonb_build_object('email_id', g), 1, 'w1', t, t, t, t, t
              FROM generate_series(1, $add) g,
                   LATERAL (SELECT now() - interval '7 days' * random() AS t) x" >/dev/null
    have=$n
    val -c "VACUUM ANALYZE pm_queue.jobs" >/dev/null
    pgbench -n -M prepared -T "$((seconds + 4))" -c 3 -j 3 -f "$work/pm_queue_1.sql" >/dev/null 2>&1 &
    load=$!
    sleep 1
    sql -c "CALL public.measure_claims($n, $((quick ? 500 : 1500)))"
    wait "$load" || true
done
val <<'SQL'
SELECT format('  %8s finished: claim p50 %6s us  p99 %7s us  (%s samples)', n_finished,
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us)::numeric, 0),
              round(percentile_cont(0.99) WITHIN GROUP (ORDER BY us)::numeric, 0), count(*))
  FROM public.claim_latency GROUP BY n_finished ORDER BY n_finished;
SELECT format('  p99 ratio largest/smallest history: %sx (target: flat)',
              round((max(p99) / min(p99))::numeric, 2))
  FROM (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY us) AS p99
          FROM public.claim_latency GROUP BY n_finished) x;
SQL

# --- an open snapshot ---------------------------------------------------------------------
echo
echo "== throughput while another session holds a snapshot for ${hold}s (4 workers, batch 1) =="
snapshot_run() {   # variant held(0|1)
    local variant=$1 held=$2 holder= jobs
    if ((held)); then
        psql -X -q -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM pm_queue.job_queues" \
             -c "SELECT pg_sleep($hold + 5)" -c "COMMIT" >/dev/null 2>&1 &
        holder=$!
        sleep 1
    fi
    read -r jobs _ < <(run "$variant" 4 1 "$hold")
    if [[ -n $holder ]]; then
        val -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(%' AND pid <> pg_backend_pid()" >/dev/null
        wait "$holder" 2>/dev/null || true
    fi
    echo "$jobs"
}
for v in baseline pm_queue; do
    free=$(snapshot_run "$v" 0)
    held=$(snapshot_run "$v" 1)
    awk -v v="$v" -v f="$free" -v h="$held" 'BEGIN {
        printf "  %-9s no snapshot %7.0f jobs/s   snapshot held %7.0f jobs/s   drop %5.1f%%\n", v, f, h, 100 * (1 - h / f) }'
done
echo "target: pm_queue drop <= 10%"
echo
echo "total $((SECONDS - started)) s; log: $log"
