#!/usr/bin/env bash
# pm_queue next to pg-boss and graphile-worker, the Node queues PenguinMails' services would
# otherwise use (not part of the test suite).  As root, after `make install` (or let it build):
#
#   tests/bench/queue_node.sh                 3 rounds x 5 s, 1/4/16 workers, batch 1 and 100
#   options: --rounds N  --seconds S  --workers 1,4,16  --batches 1,100  --no-build  --keep
#
# Installs the Node packages itself from tests/bench/queue_node/package-lock.json (`npm ci`,
# needs the npm registry), starts one throwaway cluster and runs
# tests/bench/queue_node/bench.mjs against it: the same jobs through each queue's own API,
# side by side, the order rotating every round, medians and ratios printed (see bench.mjs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

rounds=3 seconds=5 workers=1,4,16 batches=1,100 build=1
while (($#)); do
    case $1 in
        --rounds) rounds=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --workers) workers=$2; shift ;;
        --batches) batches=$2; shift ;;
        --no-build) build= ;;
        --keep) export PM_KEEP_CLUSTERS=1 ;;
        -h | --help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "queue_node: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p build/bench
log=build/bench/queue_node-$(date -u +%Y%m%dT%H%M%SZ).log
exec > >(tee "$log") 2>&1

if [[ -n $build ]]; then
    make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null
fi
(cd tests/bench/queue_node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

PM_CLUSTER_BASE=$(mktemp -d /tmp/pmq-node.XXXXXX)
chmod 0755 "$PM_CLUSTER_BASE"
# As in queue_bench.sh: JIT and parallel query off, autovacuum on.
pm_cluster_start qnode postgres "shared_buffers = 1GB
jit = off
max_parallel_workers_per_gather = 0
max_connections = 200" >/dev/null 2>&1
pm_cluster_use qnode bench
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION pm_queue CASCADE' \
     -c 'SELECT pm.ensure_roles()' >/dev/null
postmaster_pid=$(head -n 1 "$(pm_cluster_dir qnode)/data/postmaster.pid")

echo "pm_queue vs pg-boss vs graphile-worker: $rounds round(s) x ${seconds}s; PostgreSQL $(psql -X -At -c 'SHOW server_version'), node $(node --version), $(nproc) CPUs"
echo "packages: $(cd tests/bench/queue_node && node -e "const l=require('./package-lock.json').packages; console.log(['pg-boss','graphile-worker','pg'].map(n=>n+' '+l['node_modules/'+n].version).join(', '))")"
echo "log: $log"
node tests/bench/queue_node/bench.mjs --conn="postgresql://postgres@127.0.0.1:$(pm_cluster_port qnode)/bench" \
     --rounds="$rounds" --seconds="$seconds" --workers="$workers" --batches="$batches" --postmaster="$postmaster_pid"
