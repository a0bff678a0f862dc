#!/usr/bin/env bash
# Outbox storage under steady shipping (not part of the test suite).  One cluster with the
# shipper worker and a local sink; each round logs --events events in one statement and waits
# until the worker shipped them all, then prints the size of every pm.outbox partition with
# its indexes, the dead rows and the last autovacuum.  A design that does not bloat levels
# off: after the first autovacuum the space of shipped rows is reused, so the size stops
# growing while the events keep flowing.  As root, after `make install`:
#
#   tests/bench/outbox_storage.sh                     16 rounds of 50,000 events
#   tests/bench/outbox_storage.sh --rounds 30 --events 100000
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

rounds=16 events=50000
while (($#)); do
    case $1 in
        --rounds) rounds=$2; shift ;;
        --events) events=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

pm_cluster_start store postgres "shared_preload_libraries = 'penguinmails'
pm.outbox_databases = 'pm_store'
pm.outbox_naptime = 50" >/dev/null
port=$(pm_free_port)
python3 tests/lib/http_sink.py serve "$port" /dev/null >/dev/null 2>&1 &
sink=$!
pm_on_exit "kill $sink 2>/dev/null || true"
q() { pm_psql store -d pm_store -At "$@"; }
pm_psql store -c "CREATE DATABASE pm_store" >/dev/null
q >/dev/null <<SQL
CREATE EXTENSION pm_core;
INSERT INTO pm.outbox_sinks (name, kind, url, batch_max, flush_interval)
VALUES ('steady', 'jsonl', 'http://127.0.0.1:$port/in', 5000, '100 ms');
SQL

echo "round  shipped_total  outbox+indexes  dead_rows  last_autovacuum"
for r in $(seq "$rounds"); do
    q -c "SELECT count(pm.log_event('steady_event', jsonb_build_object('i', i, 'campaign', 'c-' || (i % 50))))
          FROM generate_series(1, $events) i" >/dev/null
    for _ in $(seq 600); do
        [[ $(q -c "SELECT pending FROM pm.outbox_status()") == 0 ]] && break
        sleep 0.2
    done
    q -F ' ' -c "SELECT format('%5s  %13s  %14s  %9s  %s', $r, (SELECT shipped_total FROM pm.outbox_status()),
                        pg_size_pretty(sum(pg_total_relation_size(i.inhrelid))),
                        (SELECT sum(n_dead_tup) FROM pg_stat_user_tables WHERE relname LIKE 'outbox\_%'),
                        (SELECT coalesce(max(last_autovacuum)::time::text, '-') FROM pg_stat_user_tables
                          WHERE relname LIKE 'outbox\_%'))
                 FROM pg_inherits i WHERE i.inhparent = 'pm.outbox'::regclass"
done
