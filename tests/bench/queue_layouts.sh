#!/usr/bin/env bash
# Table layouts for a history-keeping job queue, in plain SQL (not part of the test suite;
# needs no PenguinMails extension).  As root:
#
#   tests/bench/queue_layouts.sh            3 rounds x 5 s, batch 100, 1 worker
#   options: --rounds N  --seconds S  --keep (keep the cluster files)
#
# What the storage layout alone costs per job at batch 100, where round trips no longer
# matter: the same three steps (insert 100 jobs; lock + lease 100; finish 100), each its own
# transaction, with pgbench's per-statement latencies, side by side in one cluster:
#
#   baseline  the canonical queue of queue_bench.sh: (queue, status, priority, run_at) index,
#             lock with SKIP LOCKED + UPDATE to running, DELETE on completion (no history);
#   status    history kept, every index partial on status (pm_queue 0.1 before the HOT
#             layout): no update is HOT;
#   hot       history kept, indexes by finishing timestamp, fillfactor 50 (pm_queue's
#             layout): the claim is a HOT update, the completion is not;
#   split     live jobs in one table (deleted on completion), finished ones inserted into a
#             history table: the "move on completion" design.
#
# Prints jobs/s, server CPU-us per job and ms per 100 jobs for each step; the ratios against
# the baseline say how far a layout could take pm_queue at batch 100 before any C++.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

rounds=3 seconds=5
while (($#)); do
    case $1 in
        --rounds) rounds=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --keep) export PM_KEEP_CLUSTERS=1 ;;
        -h | --help) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "queue_layouts: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p build/bench
log=build/bench/queue_layouts-$(date -u +%Y%m%dT%H%M%SZ).log
exec > >(tee "$log") 2>&1

PM_CLUSTER_BASE=$(mktemp -d /tmp/pmq-layouts.XXXXXX)
chmod 0755 "$PM_CLUSTER_BASE"
pm_cluster_start layouts postgres "shared_buffers = 1GB
jit = off
max_parallel_workers_per_gather = 0" >/dev/null 2>&1
pm_cluster_use layouts layouts
createdb layouts
work=$(pm_cluster_dir layouts)/work
mkdir -p "$work"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE baseline (id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL,
    priority int NOT NULL DEFAULT 100, status text NOT NULL DEFAULT 'queued',
    run_at timestamptz NOT NULL DEFAULT now(), attempts int NOT NULL DEFAULT 0, locked_by text,
    locked_until timestamptz, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON baseline (queue, status, priority, run_at);

CREATE TABLE status (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), queue_name text NOT NULL, tenant_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'queued', priority int NOT NULL DEFAULT 100, payload jsonb NOT NULL,
    idempotency_key text, rate_key text, attempt_count int NOT NULL DEFAULT 0,
    max_attempts int NOT NULL DEFAULT 3, run_at timestamptz NOT NULL DEFAULT now(), locked_by text,
    locked_until timestamptz, started_at timestamptz, completed_at timestamptz, failed_at timestamptz,
    cancelled_at timestamptz, last_error_message text, result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE hot (LIKE status INCLUDING ALL) WITH (fillfactor = 50);
CREATE TABLE split_live (LIKE status INCLUDING ALL) WITH (fillfactor = 50);
CREATE TABLE split_history (LIKE status INCLUDING ALL);

CREATE INDEX ON status (queue_name, priority, run_at) WHERE status IN ('queued', 'retry_scheduled');
CREATE INDEX ON status (queue_name, locked_until) WHERE status = 'running';
CREATE INDEX ON status (queue_name, status, updated_at) WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX ON status (tenant_id, queue_name, status);
CREATE UNIQUE INDEX ON status (queue_name, tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE INDEX ON hot (queue_name, priority, run_at)
    WHERE completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL;
CREATE INDEX ON hot (queue_name, completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX ON hot (queue_name, failed_at) WHERE failed_at IS NOT NULL;
CREATE INDEX ON hot (queue_name, cancelled_at) WHERE cancelled_at IS NOT NULL;
CREATE INDEX ON hot (tenant_id, queue_name, completed_at);
CREATE UNIQUE INDEX ON hot (queue_name, tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE INDEX ON split_live (queue_name, priority, run_at);
CREATE INDEX ON split_live (tenant_id, queue_name);
CREATE UNIQUE INDEX ON split_live (queue_name, tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX ON split_history (queue_name, completed_at);
CREATE INDEX ON split_history (tenant_id, queue_name, completed_at);

CREATE FUNCTION reset(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE baseline, status, hot, split_live, split_history;
    INSERT INTO baseline (queue, payload) SELECT 'bench', jsonb_build_object('email_id', g) FROM generate_series(1, n) g;
    INSERT INTO status (queue_name, tenant_id, payload)
    SELECT 'bench', 'b0000000-0000-0000-0000-000000000001', jsonb_build_object('email_id', g) FROM generate_series(1, n) g;
    INSERT INTO hot SELECT * FROM status;
    INSERT INTO split_live SELECT * FROM status;
END $$;
SQL

enqueue() {   # table
    echo "INSERT INTO $1 (queue_name, tenant_id, payload) SELECT 'bench', 'b0000000-0000-0000-0000-000000000001', jsonb_build_object('email_id', g) FROM generate_series(1, 100) g;"
}
claim() {   # table extra-predicate
    echo "WITH c AS (SELECT id FROM $1 WHERE queue_name = 'bench' $2 AND status IN ('queued', 'retry_scheduled') AND run_at <= now() ORDER BY priority, run_at LIMIT 100 FOR UPDATE SKIP LOCKED), u AS (UPDATE $1 j SET status = 'running', locked_by = 'w' || :client_id, locked_until = now() + interval '60 s', attempt_count = j.attempt_count + 1, started_at = now(), updated_at = now() WHERE j.id = ANY (ARRAY(SELECT id FROM c)) RETURNING j.id) SELECT coalesce(array_agg(id), '{}') AS ids FROM u \\gset"
}
cat >"$work/baseline.sql" <<'SQL'
INSERT INTO baseline (queue, payload) SELECT 'bench', jsonb_build_object('email_id', g) FROM generate_series(1, 100) g;
BEGIN;
SELECT coalesce(array_agg(id), '{}') AS ids FROM (SELECT id FROM baseline WHERE queue = 'bench' AND status = 'queued' AND run_at <= now() ORDER BY priority, run_at LIMIT 100 FOR UPDATE SKIP LOCKED) s \gset
UPDATE baseline SET status = 'running', locked_by = 'w' || :client_id, locked_until = now() + interval '60 s', attempts = attempts + 1 WHERE id = ANY (:ids::bigint[]);
COMMIT;
DELETE FROM baseline WHERE id = ANY (:ids::bigint[]);
SQL
{
    enqueue status
    claim status ""
    echo "UPDATE status SET status = 'completed', completed_at = now(), updated_at = now(), locked_until = NULL WHERE id = ANY (:ids::uuid[]) AND locked_by = 'w' || :client_id;"
} >"$work/status.sql"
{
    enqueue hot
    claim hot "AND completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL"
    echo "UPDATE hot SET status = 'completed', completed_at = now(), updated_at = now(), locked_until = NULL WHERE id = ANY (:ids::uuid[]) AND locked_by = 'w' || :client_id;"
} >"$work/hot.sql"
{
    enqueue split_live
    claim split_live ""
    echo "WITH d AS (DELETE FROM split_live WHERE id = ANY (:ids::uuid[]) AND locked_by = 'w' || :client_id RETURNING *) INSERT INTO split_history SELECT id, queue_name, tenant_id, 'completed', priority, payload, idempotency_key, rate_key, attempt_count, max_attempts, run_at, locked_by, NULL, started_at, now(), NULL, NULL, NULL, NULL, created_at, now() FROM d;"
} >"$work/split.sql"

postmaster_pid=$(head -n 1 "$(pm_cluster_dir layouts)/data/postmaster.pid")
ticks=$(getconf CLK_TCK)
child_ticks() { awk '{ print $16 + $17 }' "/proc/$postmaster_pid/stat"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A jobs=() cpu=() ms=()
variants=(baseline status hot split)
echo "queue layouts: $rounds round(s) x ${seconds}s, batch 100, 1 worker; PostgreSQL $(psql -X -At -c 'SHOW server_version'), $(nproc) CPUs"
for ((r = 1; r <= rounds; r++)); do
    for ((k = 0; k < ${#variants[@]}; k++)); do
        v=${variants[$(((k + r) % ${#variants[@]}))]}
        psql -X -q -c "SELECT reset(10000)" -c "VACUUM ANALYZE" >/dev/null
        t0=$(child_ticks)
        out=$(pgbench -n -M prepared -r -T "$seconds" -c 1 -f "$work/$v.sql" 2>&1)
        sleep 0.2
        t1=$(child_ticks)
        tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
        [[ -n $tps ]] || { echo "pgbench failed for $v: $out" >&2; exit 1; }
        jobs[$v]+="$(awk -v t="$tps" 'BEGIN { printf "%.0f", t * 100 }') "
        cpu[$v]+="$(awk -v t="$tps" -v c=$((t1 - t0)) -v hz="$ticks" -v s="$seconds" 'BEGIN { printf "%.1f", c / hz * 1e6 / (t * 100 * s) }') "
        # Sum of the statement latencies (ms per 100 jobs): the server work, round trips aside.
        ms[$v]+="$(awk '/statement latencies/ { on = 1; next } on && $1 ~ /^[0-9.]+$/ { s += $1 } END { printf "%.2f", s }' <<<"$out") "
    done
done

printf '\n%-9s | %8s %6s | %12s %6s | %14s\n' layout jobs/s ratio cpu-us/job ratio "ms/100 jobs"
base_jobs=$(median ${jobs[baseline]}) base_cpu=$(median ${cpu[baseline]})
for v in "${variants[@]}"; do
    # shellcheck disable=SC2086
    j=$(median ${jobs[$v]}) c=$(median ${cpu[$v]}) m=$(median ${ms[$v]})
    awk -v v="$v" -v j="$j" -v c="$c" -v m="$m" -v bj="$base_jobs" -v bc="$base_cpu" 'BEGIN {
        printf "%-9s | %8.0f %5.2fx | %12.1f %5.2fx | %14.2f\n", v, j, j / bj, c, bc / c, m }'
done
echo "ratio: jobs/s over the baseline's, and the baseline's CPU per job over the layout's (> 1: cheaper)"
echo "log: $log"
