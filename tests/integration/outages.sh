#!/usr/bin/env bash
# The outage model, tier by tier, on one cluster per tier as in production: OLTP (pm_oltp,
# pm_queue, pm_fdw linked to content and notifications), content, OLAP (linked to OLTP),
# notifications, a queue on a cluster of its own, and a local external-logging sink that
# every tier database ships its outbox to.  A steady workload runs throughout: sends (the
# email row, its body's content write as a job, an event for external logging, a delivery
# event for OLAP), the content writer, body reads through the link, metadata reads,
# campaign completions and notification delivery, rollups, dashboard reads on OLAP and
# notifications, and producers and a worker on the separate queue.
#
# For every tier, twice — stopped (pg_ctl stop -m immediate; the sink: killed) and hung
# (every process of it SIGSTOPped, so connections open and never answer) — the tier goes
# away for a few seconds while the workload keeps running, then comes back.  Checked:
#   * every call that must keep working (ARCHITECTURE's outage table) succeeded throughout;
#   * calls into the dead tier through pm_fdw failed with 08006 naming the tier, and every
#     one after the first within milliseconds;
#   * after it is back, reconvergence exactly: OLAP verify() empty, every notification job
#     delivered once, every committed event at the sink, every OLTP content key resolvable,
#     no job lost or completed twice (OLTP's queue and the separate one).
# The table at the end: tier, mode, what kept working, time to reconverge, lost, duplicated.
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"
# shellcheck source=tests/lib/sink.sh
. "$PM_TEST_LIB/sink.sh"

here=$PM_ROOT/tests/integration/outages
OUTAGE_S=${PM_OUTAGE_SECONDS:-4}
PW='outage-link-Pw-5'
T1=aaaaaaaa-0000-4000-8000-000000000001
T2=bbbbbbbb-0000-4000-8000-000000000002
U1=aaaaaaaa-0000-4000-8000-0000000000a1

conf() {   # database whose outbox this cluster ships
    printf '%s\n' "shared_preload_libraries = 'penguinmails'" "pm.outbox_databases = '$1'" \
        "pm.outbox_naptime = 100" "pm.outbox_retry_base = 100" "pm.outbox_retry_max = 1000"
}
pm_cluster_start oltp postgres "$(conf pm_oltp)" >/dev/null
pm_cluster_start content postgres "$(conf pm_content)" >/dev/null
pm_cluster_start olap postgres "$(conf pm_olap)" >/dev/null
pm_cluster_start notify postgres "$(conf pm_notify)" >/dev/null
pm_cluster_start queue postgres "$(conf pm_queue)" >/dev/null

# --- the external-logging sink ---------------------------------------------------------------
SINK_PORT=$(pm_free_port)
SINK_LOG=$PM_CLUSTER_BASE/sink.log
start_sink() { pm_sink_start "$SINK_PORT" "$SINK_LOG" "$PM_CLUSTER_BASE/sink.pid" "$PM_CLUSTER_BASE/sink.out"; }
start_sink
pm_on_exit "kill -CONT \$(cat $PM_CLUSTER_BASE/sink.pid) 2>/dev/null; kill \$(cat $PM_CLUSTER_BASE/sink.pid) 2>/dev/null || true"

# --- the tiers -----------------------------------------------------------------------------
sql() { local c=$1 d=$2; shift 2; pm_psql "$c" -d "$d" -At "$@"; }
setup_db() {   # cluster database extension-sql...
    local c=$1 d=$2
    shift 2
    pm_psql "$c" -c "CREATE DATABASE $d" >/dev/null
    sql "$c" "$d" -c "SET client_min_messages = warning" "$@" -f "$here/common.sql" >/dev/null
    sql "$c" "$d" -c "INSERT INTO pm.outbox_sinks (name, kind, url, flush_interval, timeout)
                      VALUES ('logs', 'jsonl', 'http://127.0.0.1:$SINK_PORT/', '100 ms', '1 second')" >/dev/null
}
setup_db content pm_content -c "CREATE EXTENSION pm_content CASCADE" -c "SELECT pm.ensure_roles()" \
    -c "CREATE ROLE content_link LOGIN PASSWORD '$PW' IN ROLE pm_app"
setup_db notify pm_notify -c "CREATE EXTENSION pm_core" -c "SELECT pm.ensure_roles()" \
    -c "CREATE EXTENSION pm_notify" -c "CREATE ROLE oltp_notify LOGIN PASSWORD '$PW'" \
    -c "SELECT pm_notify.grant_producer('oltp_notify')"
sql notify pm_notify -f "$here/readers.sql" >/dev/null
setup_db queue pm_queue -c "CREATE EXTENSION pm_queue CASCADE"
sql queue pm_queue -f "$here/queue.sql" >/dev/null
setup_db oltp pm_oltp -c "CREATE EXTENSION pm_oltp CASCADE" -c "SELECT pm.ensure_roles()" \
    -c "CREATE EXTENSION pm_queue" -c "CREATE EXTENSION pm_fdw" \
    -c "CREATE ROLE olap_link LOGIN PASSWORD '$PW' IN ROLE pm_app" \
    -c "SELECT pm_oltp.grant_olap_link('olap_link')"
# A dead tier must cost milliseconds after the first call: short timeouts and retries.
# A probe of a hung tier costs its caller connect_timeout; retry_interval 2s lets at most one
# probe into a 4-second outage.
link_opts="connect_timeout '1', response_timeout '1s', retry_interval '2s', retry_max '4s'"
sql oltp pm_oltp >/dev/null <<SQL
SELECT pm.link_tier('content', 'host=127.0.0.1 port=$(pm_cluster_port content) dbname=pm_content', 'content_link', '$PW');
SELECT pm.link_tier('notify', 'host=127.0.0.1 port=$(pm_cluster_port notify) dbname=pm_notify', 'oltp_notify', '$PW');
ALTER SERVER pm_tier_content OPTIONS (ADD connect_timeout '1', ADD response_timeout '1s', ADD retry_interval '2s', ADD retry_max '4s');
ALTER SERVER pm_tier_notify OPTIONS (ADD connect_timeout '1', ADD response_timeout '1s', ADD retry_interval '2s', ADD retry_max '4s');
INSERT INTO pm_oltp.tenants (id, name) VALUES ('$T1', 'Acme'), ('$T2', 'Globex');
INSERT INTO pm_oltp.campaigns (tenant_id, name, status)
SELECT t, 'Wave ' || lpad(g::text, 4, '0'), 'sending'
FROM unnest(ARRAY['$T1', '$T2']::uuid[]) t, generate_series(1, 300) g;
SQL
sql oltp pm_oltp -f "$here/oltp.sql" -f "$here/trace_oltp.sql" >/dev/null
setup_db olap pm_olap -c "CREATE EXTENSION pm_core" -c "SELECT pm.ensure_roles()" \
    -c "CREATE EXTENSION pm_olap CASCADE"
sql olap pm_olap -f "$here/readers.sql" -f "$here/trace_olap.sql" >/dev/null
sql olap pm_olap >/dev/null <<SQL
SELECT pm.link_tier('oltp', 'host=127.0.0.1 port=$(pm_cluster_port oltp) dbname=pm_oltp', 'olap_link', '$PW');
ALTER SERVER pm_tier_oltp OPTIONS (ADD connect_timeout '1', ADD response_timeout '1s', ADD retry_interval '2s', ADD retry_max '4s');
SQL
echo "# $link_opts on every link"

# --- the workload --------------------------------------------------------------------------
# Each loop makes one call per iteration and logs "<start ms> <end ms> <loop> <answer>";
# psql that cannot connect logs "conn". Client-side logs survive any tier's outage.
LOOPLOG=$PM_CLUSTER_BASE/loops.log
STOPFILE=$PM_CLUSTER_BASE/stop-loops
: >"$LOOPLOG"
now_ms() { date +%s%3N; }
loop() {   # name cluster database statement
    local name=$1 c=$2 d=$3 stmt=$4 t0 out port
    port=$(pm_cluster_port "$c")
    while [[ ! -e $STOPFILE ]]; do
        t0=$(now_ms)
        # A hung tier accepts the connection and never answers: psql gives up after 2 s.
        out=$(PGCONNECT_TIMEOUT=2 timeout 15 psql -X -q -At -v ON_ERROR_STOP=1 -h "$PM_CLUSTER_BASE/$c/sock" \
                  -p "$port" -U postgres -d "$d" -c "SELECT outage.timed(\$q\$$stmt\$q\$)" 2>&1) ||
            out="conn ${out:0:160}"
        printf '%s %s %s %s\n' "$t0" "$(now_ms)" "$name" "${out//$'\n'/ }" >>"$LOOPLOG"
        sleep 0.1
    done
}
declare -A LOOP_SQL=(
    [send]="oltp pm_oltp SELECT outage.send_one('$T1')"
    [send2]="oltp pm_oltp SELECT outage.send_one('$T2')"
    [content_write]="oltp pm_oltp SELECT outage.content_pass(20)"
    [content_read]="oltp pm_oltp SELECT outage.read_bodies('$T1')"
    [oltp_read]="oltp pm_oltp SELECT outage.read_metadata('$T1')"
    [campaign_done]="oltp pm_oltp SELECT outage.complete_campaign()"
    [deliver]="oltp pm_oltp SELECT outage.deliver()"
    [notify_read]="notify pm_notify SELECT outage.read('$T1', '$U1')"
    [rollup]="olap pm_olap SELECT sum(keys)::text FROM pm_olap.rollup(2000)"
    [olap_read]="olap pm_olap SELECT outage.read('$T1', NULL)"
    [queue_enqueue]="queue pm_queue SELECT outage.enqueue_one()"
    [queue_work]="queue pm_queue SELECT outage.work(20)"
)
LOOP_PIDS=()
start_loops() {
    rm -f "$STOPFILE"
    local name c d stmt
    # One long-lived session (psql reading statements as they come): it keeps its connection
    # to the content tier, so a hung tier meets a statement on an open connection.  Each
    # statement is its own transaction; one whose remote commit fails only prints an error.
    session_feed | psql -X -q -At -h "$PM_CLUSTER_BASE/oltp/sock" -p "$(pm_cluster_port oltp)" \
        -U postgres -d pm_oltp >"$PM_CLUSTER_BASE/session.out" 2>&1 &
    LOOP_PIDS+=($!)
    for name in "${!LOOP_SQL[@]}"; do
        read -r c d stmt <<<"${LOOP_SQL[$name]}"
        loop "$name" "$c" "$d" "$stmt" &
        LOOP_PIDS+=($!)
    done
}
session_feed() {
    echo "SELECT pm.set_context('$T1', NULL, false);"
    while [[ ! -e $STOPFILE ]]; do
        echo "SELECT s || ' ' || s || ' session ' || outage.timed(\$q\$SELECT outage.read_bodies('$T1')\$q\$)
              FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS s) x;"
        sleep 0.1
    done
}
stop_loops() {
    touch "$STOPFILE"
    local p
    for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    LOOP_PIDS=()
}
pm_on_exit "touch $STOPFILE"

# --- taking a tier away --------------------------------------------------------------------
cluster_pids() { # the postmaster and every process it forked
    local pm
    pm=$(head -n 1 "$(pm_cluster_dir "$1")/data/postmaster.pid")
    echo "$pm" $(pgrep -P "$pm" || true)
}
down() {   # tier mode
    local tier=$1 mode=$2
    if [[ $tier == logging ]]; then
        if [[ $mode == stop ]]; then kill "$(cat "$PM_CLUSTER_BASE/sink.pid")"; else kill -STOP "$(cat "$PM_CLUSTER_BASE/sink.pid")"; fi
        return
    fi
    if [[ $mode == stop ]]; then
        pm_pg_bin pg_ctl -D "$(pm_cluster_dir "$tier")/data" -m immediate -w stop >/dev/null
    else
        HUNG_PIDS=$(cluster_pids "$tier")
        kill -STOP $HUNG_PIDS
    fi
}
up() {   # tier mode
    local tier=$1 mode=$2
    if [[ $tier == logging ]]; then
        if [[ $mode == stop ]]; then start_sink; else kill -CONT "$(cat "$PM_CLUSTER_BASE/sink.pid")"; fi
        return
    fi
    if [[ $mode == stop ]]; then
        pm_pg_start "$(pm_cluster_dir "$tier")" "$(pm_cluster_port "$tier")" fixed >/dev/null
    else
        kill -CONT $HUNG_PIDS
    fi
}

# --- reconvergence -------------------------------------------------------------------------
o() { sql oltp pm_oltp "$@"; }
# Drives the deferred work to the end (the loops are stopped): content writes, notification
# delivery, rollups, the outboxes.  Prints the seconds it took, or "never" after 90 s.
drain() {
    local start=$SECONDS left
    while ((SECONDS - start < 90)); do
        # A worker that lost its session mid-job (its tier hung) left a lease: reap it.
        o -c "SELECT pm_queue.reap_expired()" -c "SELECT outage.content_pass(1000)" -c "SELECT outage.deliver()" >/dev/null 2>&1 || true
        sql queue pm_queue -c "SELECT pm_queue.reap_expired()" -c "SELECT outage.work(1000)" >/dev/null 2>&1 || true
        # rollup_state.pending_keys is what the last rollup that succeeded left behind: it
        # says nothing while the link still fails fast after the tier came back (the retry
        # interval), so only a rollup that succeeded in this pass may declare it drained.
        local rolled=" rollup down"
        sql olap pm_olap -c "SELECT pm_olap.rollup()" >/dev/null 2>&1 && rolled=
        left=$(o -c "SELECT outage.pending()" 2>/dev/null || echo "oltp down")
        left+="$rolled $(sql olap pm_olap -c "SELECT 'rollup ' || pending_keys FROM pm_olap.rollup_state" 2>/dev/null || echo "olap down")"
        left+=" $(sql queue pm_queue -c "SELECT 'queue ' || count(*) FROM pm_queue.jobs WHERE status <> 'completed'" 2>/dev/null || echo "queue down")"
        local c
        for c in content:pm_content notify:pm_notify olap:pm_olap queue:pm_queue; do
            left+=" $(sql "${c%%:*}" "${c#*:}" -c "SELECT '${c%%:*}-outbox ' || coalesce(sum(pending), 0) FROM pm.outbox_status()" 2>/dev/null || echo "${c%%:*} down")"
        done
        if [[ ! $left =~ [1-9] && ! $left =~ down ]] && all_probes_shipped; then
            echo $((SECONDS - start))
            return 0
        fi
        sleep 0.3
    done
    echo "never ($left)"
}
sink_ids() { python3 "$PM_TEST_LIB/http_sink.py" ids "$SINK_LOG"; }
tier_events() {   # event tier: how many such events the sink accepted
    python3 - "$SINK_LOG" "$1" "$2" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not 200 <= r.get("status", 200) < 300:
        continue
    for l in r["body"].splitlines():
        e = json.loads(l)
        if e.get("event") == sys.argv[2] and e.get("properties", {}).get("tier") == sys.argv[3]:
            n += 1
print(n)
PY
}
all_probes_shipped() {
    [[ $(o -c "SELECT count(*) FROM outage.probes" ) == \
       $(comm -12 <(o -c "SELECT event_id FROM outage.probes" | sort -u) <(sink_ids | sort -u) | wc -l) ]]
}

# What must hold after every outage, exactly.  Prints "lost duplicated" for the table.
reconverged() {   # label
    local label=$1 lost dup v
    v=$(sql olap pm_olap -c "SELECT count(*) FROM pm_olap.verify(current_date - 1, current_date + 1)")
    check "$label: OLAP verify() is empty" "$v" 0
    if [[ $v != 0 ]]; then
        sql olap pm_olap -c "SELECT * FROM pm_olap.verify(current_date - 1, current_date + 1) LIMIT 5" -c "SELECT * FROM pm_olap.rollup_state" | sed 's/^/# verify: /'
        # What the rollup consumed: the last emails' transactions and their keys' fate, the
        # last watermarks, and whether one more rollup closes the gap (late commit) or not.
        o -c "SELECT * FROM outage.trace(4)" -c "SELECT 'keys left ' || count(*) || ' ' || coalesce(min(xid::text), '') FROM pm_oltp.olap_dirty_keys" | sed 's/^/# trace: /'
        sql olap pm_olap -c "SELECT 'watermark', * FROM outage.watermarks ORDER BY at DESC LIMIT 8" | sed 's/^/# trace: /'
        sql olap pm_olap -c "SELECT 'after one more rollup: ' || (SELECT sum(keys) FROM pm_olap.rollup()) || ' keys, verify ' || (SELECT count(*) FROM pm_olap.verify(current_date - 1, current_date + 1))" | sed 's/^/# trace: /'
        date -u +'# trace: now %T.%N' ; awk '$3 ~ /^send/' "$LOOPLOG" | tail -n 4 | sed 's/^/# trace: /'
    fi
    local jobs notes
    # The queue also carries system events (tier health) to the notifications tier.
    jobs=$(o -c "SELECT count(*) FILTER (WHERE status = 'completed') || ' ' || count(*) FILTER (WHERE status <> 'completed')
                 FROM pm_queue.jobs WHERE queue_name = 'notifications' AND payload->>'kind' = 'notification'")
    notes=$(sql notify pm_notify -c "SELECT count(*) || ' ' || count(DISTINCT dedup_key) FROM pm_notify.notifications WHERE dedup_key LIKE 'pm_oltp:%'")
    check "$label: every notification job delivered once (jobs done/open = notifications/distinct)" \
        "${jobs% *}/${jobs#* } ${notes}" "${jobs% *}/0 ${jobs% *} ${jobs% *}"
    local probes shipped
    probes=$(o -c "SELECT count(*) FROM outage.probes")
    shipped=$(comm -12 <(o -c "SELECT event_id FROM outage.probes" | sort -u) <(sink_ids | sort -u) | wc -l)
    check "$label: every committed event reached external logging" "$shipped" "$probes"
    local keys resolved
    keys=$(o -c "SELECT count(DISTINCT content_storage_key) FROM pm_oltp.emails WHERE content_storage_key IS NOT NULL")
    resolved=$(o -c "SELECT outage.resolvable()")
    check "$label: every OLTP content key resolves on the content tier" "$resolved" "$keys"
    local cw
    cw=$(o -c "SELECT count(*) FILTER (WHERE j.status <> 'completed') || ' ' ||
                      (SELECT count(*) - count(DISTINCT job_id) FROM outage.content_done) || ' ' ||
                      count(*) FILTER (WHERE j.status = 'completed' AND NOT EXISTS (SELECT 1 FROM outage.content_done d WHERE d.job_id = j.id))
               FROM pm_queue.jobs j WHERE queue_name = 'content-write'")
    check "$label: content writes: none open, none completed twice, none completed unrecorded" "$cw" "0 0 0"
    local qj
    qj=$(sql queue pm_queue -c "SELECT (SELECT count(*) FROM outage.enqueued e WHERE NOT EXISTS (SELECT 1 FROM outage.done d WHERE d.job_id = e.job_id)) || ' ' ||
                                       (SELECT count(*) - count(DISTINCT job_id) FROM outage.done) || ' ' ||
                                       (SELECT count(*) FROM pm_queue.jobs WHERE status <> 'completed')")
    check "$label: separate queue: no enqueued job lost, none run twice, none open" "$qj" "0 0 0"
    lost=$(( probes - shipped + $(cut -d' ' -f1 <<<"$qj") + keys - ${resolved:-0} ))
    dup=$(( $(cut -d' ' -f2 <<<"$qj") + $(cut -d' ' -f2 <<<"$cw") + $(sink_ids | sort | uniq -d | wc -l) ))
    echo "$lost $dup" >"$PM_CLUSTER_BASE/last-counts"
}

# --- what must keep working, per tier (ARCHITECTURE.md "Outage behaviour") -------------------
# must: loops with no failure allowed while the tier is down.  linked: loops that call the
# dead tier through pm_fdw: 08006 naming it, fast after the first.  Loops on the dead tier
# itself (and callers of OLTP when OLTP is down) may fail any way.
declare -A MUST=(
    [oltp]="notify_read olap_read queue_enqueue queue_work"
    [content]="send send2 oltp_read campaign_done deliver notify_read olap_read rollup queue_enqueue queue_work"
    [olap]="send send2 content_write content_read session oltp_read campaign_done deliver notify_read queue_enqueue queue_work"
    [queue]="send send2 content_write content_read session oltp_read campaign_done deliver notify_read olap_read rollup"
    [notify]="send send2 content_write content_read session oltp_read campaign_done olap_read rollup queue_enqueue queue_work"
    [logging]="send send2 content_write content_read session oltp_read campaign_done deliver notify_read olap_read rollup queue_enqueue queue_work"
)
declare -A LINKED=([oltp]="rollup:oltp" [content]="content_read:content session:content" [notify]="" [olap]="" [queue]="" [logging]="")
# Loops that reach the dead tier through pm_fdw but handle the failure themselves (the job is
# retried): each call after the first must still be fast.
declare -A FAST=([oltp]="" [content]="content_write" [notify]="deliver" [olap]="" [queue]="" [logging]="")
# Who logs the tier's tier_down to external logging (the caller that saw it go).
declare -A DOWN_SEEN_BY=([oltp]=olap [content]=oltp [notify]=oltp)

# The long-lived session's calls, as loop lines (its end time is not kept: start twice).
merge_session_log() {
    grep -E '^[0-9]+ [0-9]+ session ' "$PM_CLUSTER_BASE/session.out" >>"$LOOPLOG" || true
}

# What a call of each loop costs on this machine with every tier up: the median server-side
# time of its calls during the warm-up (loop -> ms).
declare -A WARM_MS=()
measure_warm() {
    local name
    for name in "${!LOOP_SQL[@]}" session; do
        WARM_MS[$name]=$(awk -v n="$name" '$3 == n && $4 == "ok" { print $5 }' "$LOOPLOG" | sort -g |
                         awk '{ v[NR] = $1 } END { print (NR == 0) ? 0 : v[int((NR + 1) / 2)] }')
    done
}
fast_limit() {   # loop base-ms: base, or twice the loop's warm-up median when that is larger
    awk -v w="${WARM_MS[$1]:-0}" -v b="$2" 'BEGIN { l = 2 * w; if (l < b) l = b; printf "%d", l }'
}
# "<calls> <slow>": how many calls the log lines hold, and how many of those after the first
# took longer than limit ms (ok lines carry the time in field 5, err lines in field 6; a call
# that never finished, psql killed after 15 s, counts as slow).
calls_and_slow() {   # lines limit
    awk -v l="$2" 'NF { n++; ms = ($4 == "ok") ? $5 : ($4 == "err") ? $6 : 1e9; if (n > 1 && ms > l) s++ }
                   END { print n + 0, s + 0 }' <<<"$1"
}

# Checks the loop log of the window [from, to) for one outage; prints the "kept working"
# summary for the table.
judge() {   # tier mode from to
    local tier=$1 mode=$2 from=$3 to=$4 name calls bad limit n label="$1 $2"
    local kept=0 kept_calls=0
    for name in ${MUST[$tier]}; do
        calls=$(awk -v f="$from" -v t="$to" -v n="$name" '$3 == n && $1 >= f && $1 < t' "$LOOPLOG" | wc -l)
        bad=$(awk -v f="$from" -v t="$to" -v n="$name" '$3 == n && $1 >= f && $1 < t && $4 != "ok"' "$LOOPLOG")
        check "$label: $name kept working ($calls calls)" "${bad:-none failed}" "none failed"
        ((calls > 0)) || check "$label: $name made calls" 0 ">0"
        kept=$((kept + 1)) kept_calls=$((kept_calls + calls))
    done
    local pair tiername fails slow
    for pair in ${LINKED[$tier]}; do
        name=${pair%%:*} tiername=${pair#*:}
        fails=$(awk -v f="$from" -v t="$to" -v n="$name" '$3 == n && $1 >= f && $1 < t && $4 == "err"' "$LOOPLOG")
        check_match "$label: $name into the dead tier failed with 08006 naming it" \
            "$(head -n 1 <<<"$fails" | cut -d' ' -f5,7-)" "^08006 .*tier \"$tiername\""
        check "$label: ... every failure 08006 naming the tier" \
            "$(awk -v t="$tiername" '$5 != "08006" || index($0, "tier \"" t "\"") == 0' <<<"$fails" | wc -l)" 0
        # After the first failure, every call fails within milliseconds (server-side time).
        # One probe may pay connect_timeout (a hung tier); every other call fails at once.
        # "Milliseconds" is 50 ms, or on a machine where this very call took longer than 25 ms
        # while the tier was up, twice that: a call of a new session pays its catalog and
        # plan caches first, which a loaded machine makes slow; a timeout costs 1000 ms.
        limit=$(fast_limit "$name" 50)
        read -r n slow < <(calls_and_slow "$fails" "$limit")
        check_match "$label: ... after the first, within $limit ms ($((n - 1)) calls; slow: $slow, one probe allowed)" \
            "$n $slow" '^([2-9]|[1-9][0-9]+) [01]$'
        check "$label: ... and no call slower than connect/response timeout + 0.5 s" \
            "$(awk '$6 > 1500' <<<"$fails" | wc -l)" 0
        echo "$(head -n 1 <<<"$fails" | cut -d' ' -f6)" >"$PM_CLUSTER_BASE/first-ms"
    done
    for name in ${FAST[$tier]}; do
        calls=$(awk -v f="$from" -v t="$to" -v n="$name" '$3 == n && $1 >= f && $1 < t' "$LOOPLOG")
        # A pass handles a batch of jobs; without the shared health each of its jobs
        # (content_write) or each pass (deliver) would pay the 1 s connect timeout of a hung
        # tier.  So no pass after the first may take that long, but one probe; on a machine
        # where a pass with the tier up took longer than 500 ms, no pass may take twice that.
        # A second pass must have started within the outage: one pass paying a timeout per
        # job would fill it alone.
        limit=$(fast_limit "$name" 1000)
        read -r n slow < <(calls_and_slow "$calls" "$limit")
        check_match "$label: $name, which retries what failed, stayed fast after its first call ($((n - 1)) passes; over $limit ms: $slow, one probe allowed)" \
            "$n $slow" '^([2-9]|[1-9][0-9]+) [01]$'
    done
    echo "$kept loops, $kept_calls calls ok" >"$PM_CLUSTER_BASE/kept"
}

# --- the run -------------------------------------------------------------------------------
start_loops
# Until every loop has made calls (a loaded machine starts thirteen of them slowly).
for _ in $(seq 120); do
    (($(awk '{ print $3 }' "$LOOPLOG" | sort -u | wc -l) >= ${#LOOP_SQL[@]})) && break
    sleep 0.5
done
sleep 1
stop_loops
merge_session_log
measure_warm
echo "# warm-up medians (ms): $(for n in "${!WARM_MS[@]}"; do printf '%s=%s ' "$n" "${WARM_MS[$n]}"; done)"
check "workload warm-up: sends committed" "$(o -c "SELECT count(*) > 0 FROM outage.probes")" t
warm_errors=$(awk '$4 != "ok"' "$LOOPLOG" | head -n 5)
check "workload warm-up: no call failed" "${warm_errors:-none}" none
d=$(drain)
check_match "workload warm-up reconverges" "$d" '^[0-9]+$'
reconverged "baseline"

declare -a ROWS=()
# PM_OUTAGE_TIERS / PM_OUTAGE_MODES run a part of it (a developer chasing one row).
for tier in ${PM_OUTAGE_TIERS:-content notify olap queue oltp logging}; do
    for mode in ${PM_OUTAGE_MODES:-stop hang}; do
        rm -f "$PM_CLUSTER_BASE/first-ms"
        start_loops
        sleep 1.5
        from=$(now_ms)
        down "$tier" "$mode"
        sleep "$OUTAGE_S"
        to=$(now_ms)
        up "$tier" "$mode"
        back=$(now_ms)
        sleep 1
        stop_loops
        merge_session_log
        judge "$tier" "$mode" "$from" "$to"
        kept=$(cat "$PM_CLUSTER_BASE/kept")
        secs=$(drain)
        check_match "$tier $mode: reconverged" "$secs" '^[0-9]+$'
        if [[ -n ${DOWN_SEEN_BY[$tier]:-} ]]; then
            check_match "$tier $mode: external logging got tier_down for $tier (from ${DOWN_SEEN_BY[$tier]})" \
                "$(tier_events tier_down "$tier")" '^[1-9]'
        fi
        reconverged "$tier $mode"
        read -r lost dup <"$PM_CLUSTER_BASE/last-counts"
        first=$(cat "$PM_CLUSTER_BASE/first-ms" 2>/dev/null || echo -)
        took=never
        [[ $secs =~ ^[0-9]+$ ]] && took=$(awk -v a="$back" -v b="$(now_ms)" 'BEGIN { printf "%.1f s", (b - a) / 1000 }')
        ROWS+=("$(printf '%-8s %-5s %-38s %14s %10s %5s %5s' "$tier" "$mode" "$kept" "$first" "$took" "$lost" "$dup")")
    done
done

echo
printf '%-8s %-5s %-38s %14s %10s %5s %5s\n' tier mode "kept working (calls that must succeed)" \
    "1st fail ms" reconverge lost dup
printf '%s\n' "${ROWS[@]}"
checks_done
