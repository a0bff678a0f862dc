#!/usr/bin/env bash
# Event outbox benchmark (not part of the test suite).  As root, with the library installed
# (this script never builds or installs; results also go to build/bench/outbox_bench-*.log):
#
#   tests/bench/outbox_bench.sh                          5 runs, 200k events, 10 s (~12 minutes)
#   tests/bench/outbox_bench.sh --runs 1 --events 20000 --seconds 3    quick check (~75 s)
#   options: --runs N (medians of N runs)  --events N (shipper runs)  --seconds S (pgbench runs)
#            --keep (keep the cluster files)
#
# One cluster (penguinmails preloaded, pm.outbox_databases = 'bench', pm.outbox_naptime =
# 50ms), one jsonl sink 's' pointing at a local tests/lib/http_sink.py (a fresh one per
# shipper run).
# Side by side, medians of --runs runs:
#
#   1. cost of logging: transactions BEGIN; <one event>; COMMIT; of three variants, mixed in
#      one pgbench run (each transaction picks one at random) so that all three meet the same
#      machine at the same moment (this machine is shared: its speed drifts by tens of percent
#      between runs); --seconds per run; clients 1 and 4 x -M simple and -M prepared as
#      bench_app (LOGIN, member of pm_app, tenant set: the way apps call it), and 1 client
#      -M prepared as postgres (superuser):
#        log_event   SELECT pm.log_event('bench_event', jsonb_build_object(..))
#        plain       INSERT of the same row (same values; event_id gen_random_uuid(), tenant
#                    pm.current_tenant_id()) into public.bench_plain: the outbox's columns,
#                    identity id, index (sink, id), NOT partitioned
#        plain_part  the same into public.bench_plain_part, partitioned by day as pm.outbox is
#                    (pm.partition_create_parent, premake 2, default partition)
#      The sink is disabled: rows accumulate, nothing ships; every table is truncated before
#      each run.  Per variant: its latency in the run, tps = clients / latency (what it would
#      do alone); cost = tps(plain) / tps(log_event) = latency(log_event) / latency(plain),
#      median of the per-run ratios (target <= 1.2).
#   2. shipper throughput: --events events made by INSERT .. SELECT pm.log_event(..) FROM
#      generate_series once per run (its rate is reported), copied back into the outbox before
#      each drain; sink batch_max 1000 and 5000, flush_interval 0; drained by
#        manual  SELECT pm.ship_outbox('s', 100000) repeated until it ships nothing, in a
#                session that holds the sink's advisory lock (the worker keeps out).  A probe
#                first checks that one call of several batches posts each event once; when
#                it does not, max_events = batch_max (one batch per call) is what is timed.
#        worker  the background worker, after UPDATE .. SET enabled = true; polled (in the
#                server, every 10 ms, on shipped_total: cheap) until all is shipped, then
#                pm.outbox_status() must say pending = 0.
#      events/s = events / drain time (target >= 50k/s), CPU us per event of the shipping
#      backend and of the sink; every run's sink must have every event_id (http_sink.py
#      events: unique = events).
#   3. commit latency while the sink hangs: the worker ships as events arrive (flush_interval
#      0, batch_max 1000, sink timeout 30 s); pgbench of the log_event transaction as bench_app,
#      4 clients, -M prepared, --seconds, with the sink answering, and with it in answer=hang
#      and the worker stuck in a post (checked: the sink saw the post and accepted nothing
#      during the run).  ratio = latency(hang) / latency(ok) (target ~1.0).  At the end the
#      sink must have every event logged in part 3 (the stuck batches included).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

command_line="tests/bench/outbox_bench.sh${*:+ $*}"
runs=5 events=200000 seconds=10
while (($#)); do
    case $1 in
        --runs) runs=$2; shift ;;
        --events) events=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --keep) export PM_KEEP_CLUSTERS=1 ;;
        -h | --help) sed -n '2,50s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "outbox_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in "$runs" "$events" "$seconds"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "outbox_bench: '$v' is not a positive integer" >&2; exit 2; }
done
((EUID == 0)) || { echo "outbox_bench: run as root (the cluster runs as the postgres OS user)" >&2; exit 2; }

PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
SINK_PY=$root/tests/lib/http_sink.py
T=00000000-0000-4000-8000-0000000000b1   # the tenant of every benchmark connection
LOCK_CLASS=1884114754                    # src/outbox/ship.cpp: advisory lock space of sinks

mkdir -p build/bench
log=build/bench/outbox_bench-$(date -u +%Y%m%dT%H%M%SZ).log
exec > >(tee "$log") 2>&1

# A base directory of our own: other tools sweep stale /tmp/pm-clusters.* directories.
PM_CLUSTER_BASE=$(mktemp -d /tmp/pmo-bench.XXXXXX)
chmod 0755 "$PM_CLUSTER_BASE"

# JIT and parallel query off: either kicking in for one variant and not the other would
# measure the planner's thresholds.  Autovacuum stays on, as in production.
pm_cluster_start obench postgres "shared_preload_libraries = 'penguinmails'
pm.outbox_databases = 'bench'
pm.outbox_naptime = 50
shared_buffers = 1GB
max_wal_size = 8GB
jit = off
max_parallel_workers_per_gather = 0" >/dev/null 2>&1
pm_cluster_use obench bench
work=$(pm_cluster_dir obench)/work
mkdir -p "$work"
started=$SECONDS

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "nan"; else print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
med() { printf '%s\n' "$@" | median; }
medl() { local -a a; read -ra a <<<"$1"; med "${a[@]}"; }   # median of a space-separated list
div() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "nan"; else printf "%.3f\n", a / b}'; }
fail() { echo "outbox_bench: $*" >&2; exit 1; }

# --- the local sink: one process at a time, started and stopped by this script ------------
sink_pid='' sink_port='' sink_log=''
stop_sink() {
    if [[ -n $sink_pid ]]; then
        kill "$sink_pid" 2>/dev/null || true
        wait "$sink_pid" 2>/dev/null || true
    fi
    sink_pid=
}
pm_on_exit stop_sink
start_sink() {   # log file; sets sink_pid, sink_port, sink_log and points sink 's' at it
    local i
    stop_sink
    sink_log=$1
    : >"$sink_log"
    for i in 1 2 3 4 5; do
        sink_port=$(pm_free_port)
        [[ $sink_port == 5499 || $sink_port == 18080 ]] && continue
        python3 "$SINK_PY" serve "$sink_port" "$sink_log" 3>&- 9>&- &
        sink_pid=$!
        for _ in $(seq 1 100); do
            curl -sf "http://127.0.0.1:$sink_port/_stats" >/dev/null 2>&1 && break 2
            kill -0 "$sink_pid" 2>/dev/null || break
            sleep 0.05
        done
        stop_sink
    done
    [[ -n $sink_pid ]] || fail "the local sink did not start"
    q -c "UPDATE pm.outbox_sinks SET url = 'http://127.0.0.1:$sink_port/ingest' WHERE name = 's'"
}
sink_mode() { curl -sf "http://127.0.0.1:$sink_port/_mode?answer=$1" >/dev/null; }
sink_stat() { curl -sf "http://127.0.0.1:$sink_port/_stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

echo "event outbox benchmark: $runs run(s); $events events per shipper run; ${seconds}s per pgbench run"
echo "PostgreSQL $(q -d postgres -c 'SHOW server_version'), $(nproc) CPUs; log: $log"

q -d postgres -c "CREATE DATABASE bench"
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pm_core;
SELECT pm.ensure_roles();
CREATE ROLE bench_app LOGIN IN ROLE pm_app;

-- The hand-written baselines: the outbox's columns, identity, index and (second copy) its
-- daily partitioning, no RLS, no function.
CREATE TABLE public.bench_plain (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    sink        text NOT NULL,
    event_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    level       text NOT NULL,
    event       text NOT NULL,
    tenant_id   uuid,
    distinct_id text,
    properties  jsonb NOT NULL);
CREATE INDEX bench_plain_sink_idx ON public.bench_plain (sink, id);
CREATE TABLE public.bench_plain_part (LIKE public.bench_plain INCLUDING DEFAULTS INCLUDING IDENTITY)
    PARTITION BY RANGE (created_at);
CREATE INDEX bench_plain_part_sink_idx ON public.bench_plain_part (sink, id);
SELECT pm.partition_create_parent('public.bench_plain_part', 'created_at', 'day', premake => 2,
                                  retention => '8 days');

INSERT INTO pm.outbox_sinks (name, kind, url, enabled, flush_interval, timeout)
VALUES ('s', 'jsonl', 'http://127.0.0.1:9/ingest', false, '0', '30 seconds');

-- Waits (polling every 10 ms, in one session: no psql start per poll) until sink s has
-- shipped target events in total; returns the clock when it had.
CREATE FUNCTION public.bench_wait_shipped(target bigint, timeout_s float8) RETURNS float8
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
    got bigint;
BEGIN
    LOOP
        SELECT st.shipped_total INTO got FROM pm.outbox_sink_state st WHERE st.sink = 's';
        EXIT WHEN coalesce(got, 0) >= target;
        IF clock_timestamp() - t0 > timeout_s * interval '1 second' THEN
            RAISE EXCEPTION 'sink s shipped % of % events in % s', coalesce(got, 0), target, timeout_s;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp());
END \$\$;
SQL
q -c "SELECT 'bench_plain_part partitions: ' || string_agg(relid::text, ', ' ORDER BY relid::text)
      FROM pg_partition_tree('public.bench_plain_part') WHERE isleaf"

# The worker was registered at start, before the database existed; it retries every 5 s.
for _ in $(seq 1 150); do
    [[ $(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pm outbox shipper'") == 1 ]] && break
    sleep 0.1
done
[[ $(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pm outbox shipper'") == 1 ]] ||
    fail "the outbox shipper worker did not start in database bench"

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
worker_pid() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pm outbox shipper'"; }
# The same for the calling backend, from SQL (superuser): "<tag> <ticks>".
SELF_TICKS="regexp_split_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ')"
shipped_total() { q -c "SELECT coalesce((SELECT shipped_total FROM pm.outbox_sink_state WHERE sink = 's'), 0)"; }
pending() { q -c "SELECT pending FROM pm.outbox_status() WHERE sink = 's'"; }

# --- 1. cost of logging -------------------------------------------------------------------
props="jsonb_build_object('campaign_id', :cid::int, 'n', :n::bigint)"
for v in log_event plain plain_part; do
    case $v in
        log_event) stmt="SELECT pm.log_event('bench_event', $props);" ;;
        plain | plain_part)
            table=public.bench_${v}
            stmt="INSERT INTO $table (sink, event_id, level, event, tenant_id, distinct_id, properties) VALUES ('s', gen_random_uuid(), 'info', 'bench_event', pm.current_tenant_id(), NULL, $props);" ;;
    esac
    cat >"$work/$v.sql" <<EOF
\\set cid random(1, 1000)
\\set n random(1, 1000000000)
BEGIN;
$stmt
COMMIT;
EOF
done
# The app role inserts into the baselines as it would into its own tables.
q -c "GRANT INSERT ON public.bench_plain, public.bench_plain_part TO pm_app"
variants=(log_event plain plain_part)

# "tps latency_ms transactions" of a pgbench run of one script
bench() {   # variant clients protocol seconds [user]
    local v=$1 c=$2 m=$3 s=$4 user=${5:-bench_app} out
    out=$(PGOPTIONS="-c app.current_tenant_id=$T" "$PGBENCH" -n -M "$m" -T "$s" -c "$c" -j "$c" \
              -U "$user" -f "$work/$v.sql" bench 2>&1) || { echo "$out" >&2; return 1; }
    awk '/^latency average = / {l = $4} /^tps = / {t = $3}
         /^number of transactions actually processed: / {n = $6}
         END {if (t == "" || n == 0) exit 1; printf "%s %s %s\n", t, l, n}' <<<"$out" ||
        { echo "$out" >&2; return 1; }
}
# One pgbench run of the three scripts at once (each transaction picks one at random, equal
# weights), so all three see the same machine at the same moment: on a shared machine the
# speed drifts by tens of percent between 10-second runs, which separate runs per variant
# would report as differences between the variants.  Prints, per script in the order of
# `variants`, "latency_ms transactions".
bench_mix() {   # clients protocol seconds user
    local c=$1 m=$2 s=$3 user=$4 out v args=()
    for v in "${variants[@]}"; do args+=(-f "$work/$v.sql"); done
    out=$(PGOPTIONS="-c app.current_tenant_id=$T" "$PGBENCH" -n -M "$m" -T "$s" -c "$c" -j "$c" \
              -U "$user" "${args[@]}" bench 2>&1) || { echo "$out" >&2; return 1; }
    awk '/^SQL script [0-9]+:/ {k++}
         k && / - [0-9]+ transactions / {n[k] = $2}
         k && / - latency average = / {l[k] = $5}
         END {if (k != 3) exit 1; for (i = 1; i <= k; i++) {if (l[i] == "" || n[i] == 0) exit 1; print l[i], n[i]}}' \
        <<<"$out" || { echo "$out" >&2; return 1; }
}
reset_tables() { q -c "TRUNCATE pm.outbox, public.bench_plain, public.bench_plain_part" -c "CHECKPOINT"; }

declare -A lat=()   # "variant clients protocol user" -> latency (ms) of the runs
t_part=$SECONDS
idle_wpid=$(worker_pid) idle_w0=$(cpu_ticks "$(worker_pid)")
echo
echo "1. log_event vs plain INSERT: clients 1,4 x -M simple,prepared (as bench_app), 1 -M prepared as postgres;"
echo "   ${seconds}s per pgbench run, the three variants mixed in each run; $runs run(s)"
bench_mix 1 prepared 1 bench_app >/dev/null   # warm-up: caches, kept plans, relcache
configs=("1 simple bench_app" "1 prepared bench_app" "4 simple bench_app" "4 prepared bench_app" "1 prepared postgres")
for ((r = 0; r < runs; r++)); do
    line="  run $((r + 1)):"
    for cfg in "${configs[@]}"; do
        read -r c m user <<<"$cfg"
        reset_tables
        mapfile -t res < <(bench_mix "$c" "$m" "$seconds" "$user")
        ((${#res[@]} == 3)) || fail "pgbench run of c$c $m as $user failed"
        line+=" c$c/$m/$user:"
        for ((i = 0; i < 3; i++)); do
            read -r l _ <<<"${res[$i]}"
            lat["${variants[$i]} $c $m $user"]+="$l "
            line+=" ${variants[$i]}=${l}ms"
        done
        line+=";"
    done
    echo "$line"
done
# Median over runs of the per-run ratio a/b of latencies.
ratio() {   # key_a key_b
    local -a a b out=()
    read -ra a <<<"${lat[$1]}"
    read -ra b <<<"${lat[$2]}"
    for ((i = 0; i < ${#a[@]} && i < ${#b[@]}; i++)); do out+=("$(div "${a[$i]}" "${b[$i]}")"); done
    med "${out[@]}"
}
# What the variant alone would do: clients / latency (a closed loop of c clients).
tps_of() { awk -v c="$2" -v l="$(medl "${lat[$1]}")" 'BEGIN {printf "%.0f", c * 1000 / l}'; }
idle_worker_cpu=$(awk -v t=$(($(cpu_ticks "$idle_wpid") - idle_w0)) -v us="$TICK_US" -v s=$((SECONDS - t_part)) \
    'BEGIN {printf "%.1f", t * us / (s * 10000)}')
echo "  ($((SECONDS - t_part)) s)"
reset_tables

# --- 2. shipper throughput ------------------------------------------------------------------
t_part=$SECONDS
# psql: SELECT pm.ship_outbox('s', max) until one ships nothing (a flat file; \if skips the rest).
write_ship_loop() {   # max
    local i
    {
        echo "\\set more true"
        for ((i = 0; i < events / $1 + 3; i++)); do
            printf '\\if :more\nSELECT pm.ship_outbox(%s, %s) > 0 AS more \\gset\n\\endif\n' "'s'" "$1"
        done
    } >"$work/ship_loop.sql"
}
preload_events() {   # n
    q -c "SELECT count(pm.log_event('bench_ship', jsonb_build_object('campaign_id', g % 1000, 'n', g)))
          FROM generate_series(1, $1) g" >/dev/null
}
# Runs psql input ($1) in a session holding sink s's advisory lock (the worker keeps out;
# ship_outbox() takes the same lock per transaction, which its own session always gets),
# with the sink enabled meanwhile.
locked_session() {
    q <<SQL
SELECT pg_advisory_lock($LOCK_CLASS, hashtext('s')) \\g /dev/null
UPDATE pm.outbox_sinks SET enabled = true WHERE name = 's';
$1
UPDATE pm.outbox_sinks SET enabled = false WHERE name = 's';
SELECT pg_advisory_unlock($LOCK_CLASS, hashtext('s')) \\g /dev/null
SQL
}

# Probe: one call of ship_outbox() for more than one batch must post each event once.
start_sink "$work/sink-probe.log"
q -c "UPDATE pm.outbox_sinks SET enabled = false, batch_max = 100, flush_interval = '0' WHERE name = 's'" \
  -c "TRUNCATE pm.outbox"
preload_events 500
probe_n=$(locked_session "SELECT pm.ship_outbox('s', 500);")
probe_pending=$(pending)
read -r probe_accepted probe_unique _ <<<"$(python3 "$SINK_PY" events "$sink_log")"
stop_sink
probe="one pm.ship_outbox('s', 500) over 500 events, batch_max 100: returned $probe_n, the sink got $probe_accepted events ($probe_unique distinct), $probe_pending left pending"
if ((probe_accepted == 500 && probe_unique == 500 && probe_pending == 0)); then
    manual_max=100000
    manual_label="ship_outbox('s', 100000) until it ships nothing"
else
    # One batch per call is what works: each call posts its batch once.
    manual_max=per-batch
    manual_label="ship_outbox('s', batch_max) until it ships nothing (max_events 100000 would re-post batches, see the probe)"
    probe="BUG: $probe"
fi

# Every shipper run starts from the same events: made by log_event() once per run (timed:
# the preload rate), kept in bench_stash, copied back into the outbox before each drain.
q -c "CREATE TABLE public.bench_stash (LIKE pm.outbox)"
declare -a preload=()
make_stash() {
    local t0 t1
    finish_check
    q -c "UPDATE pm.outbox_sinks SET enabled = false WHERE name = 's'" -c "TRUNCATE pm.outbox" -c "CHECKPOINT"
    t0=$(date +%s%N)
    preload_events "$events"
    t1=$(date +%s%N)
    preload+=("$((events * 1000000000 / (t1 - t0)))")
    q -c "TRUNCATE public.bench_stash" -c "INSERT INTO public.bench_stash SELECT * FROM pm.outbox" -c "TRUNCATE pm.outbox"
}
declare -A rate=() checks=() scpu=() kcpu=()   # events/s, sink check, shipper / sink CPU us per event
ship_rate=
ship_run() {   # path batch_max run; sets ship_rate (events/s)
    local path=$1 batch=$2 tag=$3 out base got p max sink0 sink_us wpid w0
    start_sink "$work/sink-$path-$batch-$tag.log"
    q -c "UPDATE pm.outbox_sinks SET enabled = false, batch_max = $batch, flush_interval = '0' WHERE name = 's'"
    q -c "TRUNCATE pm.outbox" \
      -c "INSERT INTO pm.outbox (sink, event_id, created_at, level, event, tenant_id, distinct_id, properties)
          SELECT sink, event_id, created_at, level, event, tenant_id, distinct_id, properties
          FROM public.bench_stash ORDER BY id" \
      -c "ANALYZE pm.outbox"
    # (ANALYZE as autovacuum would soon after such a burst: the planner knows the outbox is full.)
    finish_check
    q -c "CHECKPOINT"
    base=$(shipped_total)
    sink0=$(cpu_ticks "$sink_pid")
    if [[ $path == manual ]]; then
        max=$manual_max
        [[ $max == per-batch ]] && max=$batch
        write_ship_loop "$max"
        out=$(locked_session "SELECT 'T0 ' || extract(epoch FROM clock_timestamp()), 'C0 ' || (a[12]::bigint + a[13]::bigint) FROM (SELECT $SELF_TICKS AS a) x;
\\i $work/ship_loop.sql
SELECT 'T1 ' || extract(epoch FROM clock_timestamp()), 'C1 ' || (a[12]::bigint + a[13]::bigint) FROM (SELECT $SELF_TICKS AS a) x;")
        out=$(tr '|' '\n' <<<"$out")
    else
        wpid=$(worker_pid)
        w0=$(cpu_ticks "$wpid")
        out=$(q <<SQL
UPDATE pm.outbox_sinks SET enabled = true WHERE name = 's';
SELECT 'T0 ' || extract(epoch FROM clock_timestamp());
SELECT 'T1 ' || public.bench_wait_shipped($base + $events, 600);
UPDATE pm.outbox_sinks SET enabled = false WHERE name = 's';
SQL
        )
        out+=$'\n'"C0 $w0"$'\n'"C1 $(cpu_ticks "$wpid")"
    fi
    sink_us=$(( ($(cpu_ticks "$sink_pid") - sink0) * TICK_US ))
    got=$(($(shipped_total) - base))
    p=$(pending)
    ((p == 0)) || fail "$path, batch_max $batch: $p events still pending"
    ship_rate=$(awk -v e="$events" '/^T0 / {t0 = $2} /^T1 / {t1 = $2} END {printf "%.0f\n", e / (t1 - t0)}' <<<"$out")
    ship_cpu=$(awk -v e="$events" -v us="$TICK_US" '/^C0 / {c0 = $2} /^C1 / {c1 = $2} END {printf "%.1f\n", (c1 - c0) * us / e}' <<<"$out")
    sink_cpu=$(awk -v e="$events" -v us="$sink_us" 'BEGIN {printf "%.1f\n", us / e}')
    stop_sink
    # The sink's log is read (a few seconds for 200k events) while the next run loads its
    # outbox; finish_check waits for it before anything is timed again.
    check_key="$path $batch" check_got=$got check_log=$sink_log
    python3 "$SINK_PY" events "$sink_log" >"$work/check.out" &
    check_pid=$!
}
check_pid='' check_key='' check_got='' check_log=''
finish_check() {
    local accepted unique
    [[ -n $check_pid ]] || return 0
    wait "$check_pid" || fail "http_sink.py events $check_log failed"
    check_pid=''
    read -r accepted unique _ <"$work/check.out"
    ((unique == events)) || fail "$check_key: the sink got $unique distinct events of $events"
    ((check_got == events && accepted == events)) ||
        echo "  warning: $check_key: shipped_total grew by $check_got, the sink accepted $accepted, for $events events" >&2
    checks[$check_key]+="$accepted/$unique "
    rm -f "$check_log"
}
echo
echo "2. shipper throughput: $events events, batch_max 1000 and 5000, manual ship_outbox() and worker, $runs run(s)"
echo "  probe: $probe"
echo "  manual path: $manual_label"
paths=(manual worker)
for ((r = 0; r < runs; r++)); do
    make_stash
    line="  run $((r + 1)): preload ${preload[-1]} log_event/s;"
    for batch in 1000 5000; do
        for ((i = 0; i < 2; i++)); do
            path=${paths[$(((i + r) % 2))]}
            ship_run "$path" "$batch" "$r"
            rate["$path $batch"]+="$ship_rate "
            scpu["$path $batch"]+="$ship_cpu "
            kcpu["$path $batch"]+="$sink_cpu "
            line+=" $path/$batch=$ship_rate/s"
        done
    done
    echo "$line"
done
finish_check
echo "  ($((SECONDS - t_part)) s)"

# --- 3. commit latency while the sink hangs -------------------------------------------------
echo
t_part=$SECONDS
echo "3. log_event commits (bench_app, 4 clients, -M prepared, ${seconds}s) while the sink answers vs hangs, $runs run(s)"
start_sink "$work/sink-hang.log"
q -c "TRUNCATE pm.outbox" -c "DELETE FROM pm.outbox_sink_state" \
  -c "UPDATE pm.outbox_sinks SET enabled = true, batch_max = 1000, flush_interval = '0', timeout = '30 seconds' WHERE name = 's'"
wait_idle() {   # until the worker has shipped everything and is not backing off
    local i
    for i in $(seq 1 600); do
        [[ $(q -c "SELECT pending = 0 AND failures = 0 FROM pm.outbox_status() WHERE sink = 's'") == t ]] && return 0
        sleep 0.1
    done
    fail "the worker did not drain the outbox: $(q -c "SELECT * FROM pm.outbox_status()")"
}
declare -A h_tps=() h_lat=() h_note=() h_wcpu=() h_kcpu=()
logged=0
for ((r = 0; r < runs; r++)); do
    line="  run $((r + 1)):"
    if ((r % 2 == 0)); then modes=(ok hang); else modes=(hang ok); fi
    for mode in "${modes[@]}"; do
        wait_idle
        if [[ $mode == hang ]]; then
            sink_mode hang
            req0=$(sink_stat requests)
            q -c "SELECT pm.log_event('bench_probe')" >/dev/null
            logged=$((logged + 1))
            for _ in $(seq 1 200); do
                (($(sink_stat requests) > req0)) && break
                sleep 0.05
            done
            (($(sink_stat requests) > req0)) || fail "the worker did not post to the hanging sink"
            acc0=$(sink_stat accepted)
        fi
        wpid=$(worker_pid)
        w0=$(cpu_ticks "$wpid") k0=$(cpu_ticks "$sink_pid")
        read -r t l n <<<"$(bench log_event 4 prepared "$seconds")"
        # Share of one CPU the worker and the sink used meanwhile: what the run competed with.
        h_wcpu[$mode]+="$(( ($(cpu_ticks "$wpid") - w0) * TICK_US / (seconds * 10000) )) "
        h_kcpu[$mode]+="$(( ($(cpu_ticks "$sink_pid") - k0) * TICK_US / (seconds * 10000) )) "
        logged=$((logged + n))
        h_tps[$mode]+="$t "
        h_lat[$mode]+="$l "
        if [[ $mode == hang ]]; then
            acc1=$(sink_stat accepted)
            stuck=$(pending)
            ((acc1 == acc0)) || fail "the sink accepted $((acc1 - acc0)) posts while hanging: the worker was not stuck"
            h_note[hang]+="$stuck "
            sink_mode ok
        fi
        line+=" $mode=${t%.*}tps/${l}ms"
    done
    echo "$line"
done
wait_idle
echo "  ($((SECONDS - t_part)) s)"
read -r h_accepted h_unique _ <<<"$(python3 "$SINK_PY" events "$sink_log")"
((h_unique == logged)) || fail "the sink got $h_unique distinct events of the $logged logged in part 3"
stop_sink
q -c "UPDATE pm.outbox_sinks SET enabled = false WHERE name = 's'"

# --- summary ----------------------------------------------------------------------------------
echo
printf '=== event outbox, medians of %s run(s) (%s, %s s) ===\n' "$runs" "$(date -u +%Y-%m-%dT%H:%MZ)" "$((SECONDS - started))"
echo "command: $command_line"
echo
echo "1. one-event transactions BEGIN; event; COMMIT; (${seconds}s per run, the variants mixed in one pgbench run);"
echo "   tps = clients / latency of each variant; cost = tps(plain) / tps(log_event) = latency ratio, target <= 1.2"
printf '%-2s %-8s %-9s | %7s %8s %9s | %8s %8s | %8s %8s %9s\n' c protocol role plain plain_pt log_event \
    "cost" "cost_pt" "ms:plain" plain_pt log_event
for cfg in "${configs[@]}"; do
    read -r c m user <<<"$cfg"
    printf '%-2s %-8s %-9s | %7s %8s %9s | %8s %8s | %8.3f %8.3f %9.3f\n' "$c" "$m" "$user" \
        "$(tps_of "plain $c $m $user" "$c")" "$(tps_of "plain_part $c $m $user" "$c")" \
        "$(tps_of "log_event $c $m $user" "$c")" \
        "$(ratio "log_event $c $m $user" "plain $c $m $user")" \
        "$(ratio "log_event $c $m $user" "plain_part $c $m $user")" \
        "$(medl "${lat["plain $c $m $user"]}")" "$(medl "${lat["plain_part $c $m $user"]}")" \
        "$(medl "${lat["log_event $c $m $user"]}")"
done
echo "   log_event = SELECT pm.log_event(..); plain = INSERT of the same row into bench_plain (unpartitioned);"
echo "   plain_pt = into bench_plain_part (daily partitions + default, like pm.outbox); cost = vs plain, cost_pt = vs plain_pt."
echo "   role bench_app: a LOGIN member of pm_app with a tenant set (how apps call it); postgres: superuser."
echo "   (roles are compared by their cost against plain in the same run: the runs themselves are minutes apart)"
echo "   idle worker meanwhile (sink disabled, pm.outbox_naptime 50 ms): ${idle_worker_cpu}% of a CPU"
echo
echo "2. shipper throughput, $events events, events/s (target >= 50000); the sink's accepted/unique per run"
echo "   manual = $manual_label"
echo "   $probe"
printf '%-8s %9s %10s %14s %12s  %s\n' path batch_max events/s "shipper us/ev" "sink us/ev" "sink accepted/unique per run"
for batch in 1000 5000; do
    for path in manual worker; do
        printf '%-8s %9s %10.0f %14s %12s  %s\n' "$path" "$batch" "$(medl "${rate["$path $batch"]}")" \
            "$(medl "${scpu["$path $batch"]}")" "$(medl "${kcpu["$path $batch"]}")" "${checks["$path $batch"]}"
    done
done
echo "   us/ev: CPU time per event of the shipping backend (manual: the session's; worker: the worker's) and of the sink process"
echo "   pre-load: INSERT .. SELECT pm.log_event(..) FROM generate_series(1, $events): $(med "${preload[@]}") events/s"
echo
echo "3. log_event commits while the worker ships (sink ok) vs is stuck in a post (sink hangs): bench_app, 4 clients, -M prepared"
printf '%-5s %10s %16s %14s %12s\n' sink tps "latency avg ms" "worker %CPU" "sink %CPU"
for mode in ok hang; do
    printf '%-5s %10.0f %16.3f %14s %12s\n' "$mode" "$(medl "${h_tps[$mode]}")" "$(medl "${h_lat[$mode]}")" \
        "$(medl "${h_wcpu[$mode]}")" "$(medl "${h_kcpu[$mode]}")"
done
declare -a lr=() tr=()
read -ra lo <<<"${h_lat[ok]}"; read -ra lh <<<"${h_lat[hang]}"
read -ra to <<<"${h_tps[ok]}"; read -ra th <<<"${h_tps[hang]}"
for ((i = 0; i < ${#lo[@]}; i++)); do
    lr+=("$(div "${lh[$i]}" "${lo[$i]}")"); tr+=("$(div "${th[$i]}" "${to[$i]}")")
done
echo "latency(hang) / latency(ok): $(med "${lr[@]}")   tps(hang) / tps(ok): $(med "${tr[@]}")   (target ~1.0)"
echo "   pending at the end of each hang run (nothing shipped meanwhile): ${h_note[hang]}"
echo "   the sink received all $logged events of part 3 afterwards ($h_accepted accepted, $h_unique distinct)"
