#!/usr/bin/env bash
# The event outbox over real HTTP: a cluster with the shipper worker (penguinmails preloaded,
# pm.outbox_databases = pm_ob) and local sink servers (tests/lib/http_sink.py) that record
# requests and answer 500, 429, 400, hang or reset on command.
#   1. exactly the committed events arrive, from concurrent sessions; rolled-back ones never;
#      each event_id once after dedup
#   2. the four formats, each validated against the receiver's documented JSON shape;
#      PostHog's key in the body, basic auth in a header, Loki labels without tenant ids
#   3. 500, 429, a reset and a hang (past the sink's timeout): retried with backoff, then
#      delivered; the committing sessions never wait for the sink
#   4. a 400 is a dead letter with the answer kept; an answer that repeats the request
#      (credentials included) is stored redacted; no secret in status or server log
#   5. sink down: bounded pending, drops counted past max_pending, the rest delivered after
#   6. the worker killed (SIGKILL) while posting: the server restarts, the batch is sent
#      again, nothing lost; a clean stop while the sink hangs does not wait for the timeout
#   7. producers: a tier link that goes down and comes back logs tier_down and tier_up
#   8. upgrade path: pm_core 0.4 -> 0.5 and pm_queue, pm_fdw to their new versions
set -euo pipefail

PM_ROOT=${PM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_TEST_LIB=${PM_TEST_LIB:-$PM_ROOT/tests/lib}
# shellcheck source=tests/lib/cluster.sh
. "$PM_TEST_LIB/cluster.sh"
# shellcheck source=tests/lib/checks.sh
. "$PM_TEST_LIB/checks.sh"
# shellcheck source=tests/lib/sink.sh
. "$PM_TEST_LIB/sink.sh"

SECRET_KEY='phc_Sekret-Key-4242'
SECRET_PW='Hunter2-Basic-Pw'
pm_cluster_start ob postgres "shared_preload_libraries = 'penguinmails'
pm.outbox_databases = 'pm_ob'
pm.outbox_naptime = 50
pm.outbox_retry_base = 100
pm.outbox_retry_max = 800" >/dev/null
pm_cluster_start tier postgres >/dev/null
OBDIR=$(pm_cluster_dir ob)
q() { pm_psql ob -d pm_ob -At "$@"; }

# --- sink servers -------------------------------------------------------------------------
declare -A SINK_PORT=()
start_sink() {  # name
    local name=$1 port
    port=$(pm_free_port)
    SINK_PORT[$name]=$port
    pm_sink_start "$port" "$PM_CLUSTER_BASE/sink-$name.log" "$PM_CLUSTER_BASE/sink-$name.pid" \
        "$PM_CLUSTER_BASE/sink-$name.out"
}
stop_sink() { kill "$(cat "$PM_CLUSTER_BASE/sink-$1.pid")" 2>/dev/null || true; wait "$(cat "$PM_CLUSTER_BASE/sink-$1.pid")" 2>/dev/null || true; }
mode() { curl -fs "http://127.0.0.1:${SINK_PORT[$1]}/_mode?answer=$2${3:+&times=$3}" >/dev/null; }
events() { python3 "$PM_TEST_LIB/http_sink.py" events "$PM_CLUSTER_BASE/sink-$1.log"; }
ids() { python3 "$PM_TEST_LIB/http_sink.py" ids "$PM_CLUSTER_BASE/sink-$1.log" | sort -u; }
for s in jsonl posthog loki otlp bounded; do start_sink $s; done
pm_on_exit "for p in $PM_CLUSTER_BASE/sink-*.pid; do kill \$(cat \$p) 2>/dev/null || true; done"

# Waits until `sql` returns `want` (at most `tries` × 0.2 s); prints the last answer.
wait_for() {
    local sql=$1 want=$2 tries=${3:-150} got=
    for _ in $(seq "$tries"); do
        got=$(q -c "$sql" 2>/dev/null || true)
        [[ $got == "$want" ]] && break
        sleep 0.2
    done
    printf '%s\n' "$got"
}
pending() { q -c "SELECT coalesce(sum(pending), 0) FROM pm.outbox_status() WHERE sink ${1:-IS NOT NULL}"; }

pm_psql ob -c "CREATE DATABASE pm_ob" >/dev/null
q >/dev/null <<SQL
CREATE EXTENSION pm_core;
SELECT pm.ensure_roles();
CREATE EXTENSION pm_queue;
CREATE EXTENSION pm_fdw;
-- The committed events, as their producers saw them (written in the same transaction).
CREATE TABLE committed (event_id uuid PRIMARY KEY, sink text);
GRANT INSERT ON committed TO pm_app;
INSERT INTO pm.outbox_sinks (name, kind, url, events, flush_interval)
VALUES ('jsonl', 'jsonl', 'http://127.0.0.1:${SINK_PORT[jsonl]}/ingest', '{load_*}', '50 ms');
SQL

# --- 1. exactly the committed events, once each -------------------------------------------
T=00000002-0000-4000-8000-00000000000a
producers=()
for w in 1 2 3; do
    # Each session: 100 committed transactions and 40 rolled back, interleaved.
    {
        for i in $(seq 100); do
            echo "BEGIN; SELECT pm.set_context('$T'); SET LOCAL ROLE pm_app;"
            echo "INSERT INTO committed SELECT pm.log_event('load_ok', jsonb_build_object('w', $w, 'i', $i)), 'jsonl'; COMMIT;"
            if ((i % 5 == 0)); then
                echo "BEGIN; SELECT pm.log_event('load_rolled_back', jsonb_build_object('w', $w)); ROLLBACK;"
                echo "BEGIN; SELECT pm.log_event('load_rolled_back'); SAVEPOINT a; SELECT pm.log_event('load_rolled_back'); ROLLBACK TO a; ROLLBACK;"
            fi
        done
    } | pm_psql ob -d pm_ob -q >/dev/null &
    producers+=($!)
done
wait "${producers[@]}"
check "300 events committed by 3 sessions" "$(q -c "SELECT count(*) FROM committed")" 300
check "the worker ships them all" "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'jsonl'" 0)" 0
check "the sink received exactly the 300 committed event_ids, none rolled back" \
    "$(events jsonl)" "300 300 load_ok"
check "... and they are the ids log_event returned" \
    "$(q -c "CREATE TEMP TABLE got (event_id uuid)" -c "COPY got FROM STDIN" -c \
        "SELECT count(*) FROM got JOIN committed USING (event_id)" <<<"$(ids jsonl)" | tail -1)" 300
check "status: idle, shipped_total 300, no failure" \
    "$(q -c "SELECT state || ' ' || shipped_total || ' ' || failures FROM pm.outbox_status() WHERE sink = 'jsonl'")" \
    "idle 300 0"
check "shipped rows leave the outbox" "$(q -c "SELECT count(*) FROM pm.outbox")" 0

# --- 2. the four formats --------------------------------------------------------------------
q >/dev/null <<SQL
INSERT INTO pm.outbox_sinks (name, kind, url, events, flush_interval) VALUES
    ('posthog', 'posthog', 'http://127.0.0.1:${SINK_PORT[posthog]}', '{fmt_*}', '0'),
    ('loki', 'loki', 'http://127.0.0.1:${SINK_PORT[loki]}/', '{fmt_*}', '0'),
    ('otlp', 'otlp', 'http://127.0.0.1:${SINK_PORT[otlp]}', '{fmt_*}', '0');
SELECT pm.set_sink_secret('posthog', api_key => '$SECRET_KEY');
SELECT pm.set_sink_secret('loki', username => 'tenant-42', password => '$SECRET_PW',
                          headers => '{"X-Scope-OrgID": "penguinmails"}');
SELECT pm.log_event('fmt_signup', jsonb_build_object('plan', 'pro', 'seats', 5, 'ratio', 0.5,
                    'trial', true, 'tags', jsonb_build_array('a', 'b'), 'nested', jsonb_build_object('k', 'v'),
                    'quote', 'say "hi"' || chr(10) || 'ünïcode'),
                    'info', NULL, '$T', 'user-7')
FROM generate_series(1, 5);
SELECT pm.log_event('fmt_crash', '{"code": 17}', 'critical', NULL, NULL);
SQL
check "the three format sinks drain" "$(wait_for "SELECT sum(pending) FROM pm.outbox_status() WHERE sink IN ('posthog','loki','otlp')" 0)" 0
for kind in posthog loki otlp; do
    check "$kind: 6 events arrive once each" "$(events $kind)" "6 6 fmt_crash,fmt_signup"
    check "$kind: every body has the receiver's documented shape" \
        "$(python3 "$PM_TEST_LIB/http_sink.py" check "$PM_CLUSTER_BASE/sink-$kind.log" $kind 2>&1 && echo valid)" valid
done
check "jsonl: every line has the documented fields" \
    "$(python3 "$PM_TEST_LIB/http_sink.py" check "$PM_CLUSTER_BASE/sink-jsonl.log" jsonl 2>&1 && echo valid)" valid
check "posthog: the project key travels in the body" \
    "$(python3 -c "import json,sys; print(json.loads(json.loads(open(sys.argv[1]).readline())['body'])['api_key'])" "$PM_CLUSTER_BASE/sink-posthog.log")" \
    "$SECRET_KEY"
check "posthog: distinct_id and tenant_id of the event" \
    "$(python3 -c "
import json,sys
b=json.loads(json.loads(open(sys.argv[1]).readline())['body'])['batch']
e=[x for x in b if x['event']=='fmt_signup'][0]
print(e['distinct_id'], e['properties']['tenant_id'], e['properties']['quote'])" "$PM_CLUSTER_BASE/sink-posthog.log")" \
    "user-7 $T say \"hi\"
ünïcode"
check "loki: basic auth and the extra header are sent" \
    "$(python3 -c "
import json,sys,base64
h=json.loads(open(sys.argv[1]).readline())['headers']
print(base64.b64decode(h['authorization'].split()[1]).decode().split(':')[0], h['x-scope-orgid'])" "$PM_CLUSTER_BASE/sink-loki.log")" \
    "tenant-42 penguinmails"
check "loki: labels are service, tier and level only (no tenant id), a stream per level" \
    "$(python3 -c "
import json,sys
for l in open(sys.argv[1]):
    for s in json.loads(json.loads(l)['body'])['streams']: print(','.join(sorted(s['stream'])) + '=' + s['stream']['level'])" "$PM_CLUSTER_BASE/sink-loki.log" | sort -u | tr '\n' ' ')" \
    "level,service,tier=critical level,service,tier=info "
check "otlp: critical is severityNumber 21, an int property is an intValue string" \
    "$(python3 -c "
import json,sys
for l in open(sys.argv[1]):
    for rl in json.loads(json.loads(l)['body'])['resourceLogs']:
        for r in rl['scopeLogs'][0]['logRecords']:
            a={x['key']:x['value'] for x in r['attributes']}
            if r['body']['stringValue']=='fmt_crash': print(r['severityNumber'], a['properties.code'])" "$PM_CLUSTER_BASE/sink-otlp.log")" \
    "21 {'intValue': '17'}"

# --- 3. 500, 429, reset, hang: backoff, then delivered --------------------------------------
q -c "UPDATE pm.outbox_sinks SET timeout = '1 second' WHERE name = 'jsonl'" >/dev/null
for answer in 500 429 reset hang; do
    mode jsonl $answer
    q -c "SELECT pm.log_event('load_$answer', '{}') FROM generate_series(1, 20)" >/dev/null
    got=$(wait_for "SELECT failures > 0 FROM pm.outbox_status() WHERE sink = 'jsonl'" t 100)
    check "$answer: the sink is marked failing and backs off" \
        "$got $(q -c "SELECT state || ' ' || (next_attempt IS NOT NULL) FROM pm.outbox_status() WHERE sink = 'jsonl'")" "t backoff true"
    if [[ $answer == hang ]]; then
        # While the worker waits on the hanging sink, logging transactions commit as usual.
        q -c "SELECT count(pm.log_event('load_hang', '{}')) FROM generate_series(1, 10)" >/dev/null
        for i in $(seq 20); do q -c "SELECT pm.log_event('load_hang')" >/dev/null; done
        check "20 logging transactions commit while the sink hangs" "$(q -c "SELECT count(*) FROM pm.outbox WHERE event = 'load_hang'")" 50
    fi
    mode jsonl ok
    check "$answer: then everything is delivered" "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'jsonl'" 0)" 0
done
check "the retried events arrived, each id once after dedup" \
    "$(events jsonl | awk '{print $2}')" $((300 + 20 * 4 + 30))
check "after the recovery: failures 0, no last_error" \
    "$(q -c "SELECT failures || ' ' || coalesce(last_error, 'none') FROM pm.outbox_status() WHERE sink = 'jsonl'")" "0 none"

# --- 4. dead letter and redaction ------------------------------------------------------------
mode posthog echo400 1
q -c "SELECT pm.log_event('fmt_bad', '{\"x\": 1}') FROM generate_series(1, 3)" >/dev/null
check "a 400 moves the batch to the dead letter" \
    "$(wait_for "SELECT count(*) || ' ' || min(status) FROM pm.outbox_dead WHERE sink = 'posthog'" "3 400")" "3 400"
check "the sink's answer is kept, its echo of the key redacted" \
    "$(q -c "SELECT response LIKE '%***%' AND response NOT LIKE '%$SECRET_KEY%' FROM pm.outbox_dead LIMIT 1")" t
q -c "SELECT pm.log_event('fmt_huge', '{\"n\": 1e400}'), pm.log_event('fmt_fine', '{\"n\": 1}')" >/dev/null
check "an event no JSON parser accepts (1e400) is a dead letter, unsent, with the reason" \
    "$(wait_for "SELECT count(*) || ' ' || min(status) || ' ' || bool_and(response LIKE 'not sent: %') FROM pm.outbox_dead WHERE event = 'fmt_huge' AND sink = 'otlp'" "1 0 true")" "1 0 true"
check "... and does not hold back the event after it" \
    "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'otlp'" 0) $(events otlp)" "0 10 10 fmt_bad,fmt_crash,fmt_fine,fmt_signup"
mode loki echo500
q -c "SELECT pm.log_event('fmt_echo', '{}')" >/dev/null
got=$(wait_for "SELECT last_error IS NOT NULL FROM pm.outbox_status() WHERE sink = 'loki'" t 50)
check "a 500 that echoes the request is recorded" "$got" t
BASIC=$(printf 'tenant-42:%s' "$SECRET_PW" | base64)
check "... with the credentials (and their basic-auth encoding) redacted in last_error" \
    "$(q -c "SELECT last_error ~ 'Basic \*\*\*' AND position('$SECRET_PW' IN last_error) = 0
                    AND position('$BASIC' IN last_error) = 0 FROM pm.outbox_status() WHERE sink = 'loki'")" t
mode loki ok
wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'loki'" 0 >/dev/null
check "no secret in any status row" \
    "$(q -c "SELECT count(*) FROM pm.outbox_status() s WHERE s::text ~ '$SECRET_KEY|$SECRET_PW|$BASIC'")" 0
check "no secret in the server log" \
    "$(grep -c -a -F -e "$SECRET_KEY" -e "$SECRET_PW" -e "$BASIC" "$OBDIR"/data/log/* "$OBDIR"/*.log 2>/dev/null | awk -F: '{s+=$NF} END {print s+0}')" 0

# --- 5. sink down: bounded, drops counted ----------------------------------------------------
q >/dev/null <<SQL
INSERT INTO pm.outbox_sinks (name, kind, url, events, max_pending, flush_interval)
VALUES ('bounded', 'jsonl', 'http://127.0.0.1:${SINK_PORT[bounded]}/in', '{down_*}', 200, '0');
UPDATE pm.outbox_sinks SET events = '{load_*,down_*}' WHERE name = 'jsonl';
SQL
stop_sink bounded
q -c "SELECT pm.log_event('down_event', jsonb_build_object('i', i)) FROM generate_series(1, 500) i" >/dev/null
check "while the sink is down, pending stays at max_pending" \
    "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'bounded'" 200)" 200
check "... and the 300 dropped are counted" \
    "$(q -c "SELECT dropped_total FROM pm.outbox_status() WHERE sink = 'bounded'")" 300
check "a sink with room lost nothing" "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'jsonl'" 0)" 0
start_sink_again() {
    python3 "$PM_TEST_LIB/http_sink.py" serve "${SINK_PORT[bounded]}" "$PM_CLUSTER_BASE/sink-bounded.log" \
        >>"$PM_CLUSTER_BASE/sink-bounded.out" 2>&1 &
    echo $! >"$PM_CLUSTER_BASE/sink-bounded.pid"
}
start_sink_again
check "back up: the 200 kept arrive (the newest: drop_oldest)" \
    "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'bounded'" 0) $(events bounded)" "0 200 200 down_event"
check "... they are events 301 to 500" \
    "$(python3 -c "
import json,sys
ii=[json.loads(l)['properties']['i'] for r in map(json.loads, open(sys.argv[1])) for l in r['body'].splitlines()]
print(min(ii), max(ii))" "$PM_CLUSTER_BASE/sink-bounded.log")" "301 500"

# --- 6. worker killed while posting; clean stop while the sink hangs -------------------------
q -c "UPDATE pm.outbox_sinks SET timeout = '60 seconds' WHERE name = 'jsonl'" >/dev/null
mode jsonl hang
q -c "INSERT INTO committed SELECT pm.log_event('load_kill', jsonb_build_object('i', i)), 'jsonl' FROM generate_series(1, 50) i" >/dev/null
sleep 1
worker=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pm outbox shipper'")
check_match "the shipper worker runs" "$worker" '^[0-9]+$'
kill -9 "$worker"
# The postmaster resets every backend after a crashed worker, then starts the worker again.
for _ in $(seq 100); do
    new=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pm outbox shipper'" 2>/dev/null || true)
    [[ -n $new && $new != "$worker" ]] && break
    sleep 0.2
done
check_match "the worker is back after the crash" "${new:-none} (was $worker)" '^[0-9]+ '
mode jsonl ok
check "the batch it was posting is sent again" "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'jsonl'" 0)" 0
check "every committed event arrived, none lost" \
    "$(q -c "CREATE TEMP TABLE got (event_id uuid)" -c "COPY got FROM STDIN" -c \
        "SELECT count(*) FROM committed c WHERE NOT EXISTS (SELECT 1 FROM got g WHERE g.event_id = c.event_id)" <<<"$(ids jsonl)" | tail -1)" 0

# pg_terminate_backend (as DROP DATABASE ... WITH (FORCE) does) is not a shutdown: the
# worker comes back by itself and ships what was logged meanwhile.
worker=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pm outbox shipper'")
q -c "SELECT pg_terminate_backend($worker)" >/dev/null
q -c "SELECT pm.log_event('after_terminate') FROM generate_series(1, 3)" >/dev/null
for _ in $(seq 100); do
    new=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pm outbox shipper'" 2>/dev/null || true)
    [[ -n $new && $new != "$worker" ]] && break
    sleep 0.2
done
check_match "a terminated worker is started again" "${new:-none} (was $worker)" '^[0-9]+ '
check "... and ships what was logged meanwhile" "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'jsonl'" 0)" 0

mode jsonl hang
q -c "SELECT pm.log_event('load_stop') FROM generate_series(1, 5)" >/dev/null
sleep 1
started=$(date +%s)
pm_pg_bin pg_ctl -D "$OBDIR/data" -m fast -t 50 stop >/dev/null
stopped=$(date +%s)
check "a clean stop does not wait for the hanging post (sink timeout 60 s)" "$(( stopped - started < 30 ))" 1
check "the worker said it stopped" "$(grep -a -c 'outbox shipper in database "pm_ob" stopped' "$OBDIR"/*.log "$OBDIR"/data/log/* 2>/dev/null | awk -F: '{s+=$NF} END {print (s > 0)}')" 1
mode jsonl ok
pm_pg_start "$OBDIR" "$(pm_cluster_port ob)" fixed >/dev/null
check "after the restart the interrupted batch is delivered" "$(wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'jsonl'" 0)" 0
check "load_stop arrived" "$(events jsonl | awk '{print $3}' | tr ',' '\n' | grep -c '^load_stop$')" 1

# --- 7. tier_down / tier_up from pm_fdw ------------------------------------------------------
TP=$(pm_cluster_port tier)
pm_psql tier -c "CREATE DATABASE remote" >/dev/null
pm_psql tier -d remote -c "CREATE TABLE things (id int); CREATE ROLE ob_link LOGIN PASSWORD 'link-pw'; GRANT SELECT ON things TO ob_link" >/dev/null
q >/dev/null <<SQL
INSERT INTO pm.outbox_sinks (name, kind, url, events, flush_interval)
VALUES ('tiers', 'jsonl', 'http://127.0.0.1:${SINK_PORT[jsonl]}/tiers', '{tier_*}', '0');
CREATE SERVER content_link FOREIGN DATA WRAPPER pm_fdw
    OPTIONS (host '127.0.0.1', port '$TP', dbname 'remote', tier 'content', retry_interval '200ms', retry_max '1s', connect_timeout '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER content_link OPTIONS (user 'ob_link', password 'link-pw');
CREATE FOREIGN TABLE remote_things (id int) SERVER content_link OPTIONS (table_name 'things');
SQL
check "the link works" "$(q -c "SELECT count(*) FROM remote_things")" 0
pm_pg_bin pg_ctl -D "$(pm_cluster_dir tier)/data" -m immediate stop >/dev/null
q -c "SELECT count(*) FROM remote_things" >/dev/null 2>&1 || true
check "tier_down is logged once the link fails" \
    "$(wait_for "SELECT count(*) FROM pm.tier_transitions WHERE state = 'down'" 1)" 1
pm_pg_start "$(pm_cluster_dir tier)" "$TP" fixed >/dev/null
for _ in $(seq 50); do q -c "SELECT count(*) FROM remote_things" >/dev/null 2>&1 && break; sleep 0.2; done
check "tier_up is logged once it answers again" \
    "$(wait_for "SELECT count(*) FROM pm.tier_transitions WHERE state = 'up'" 1)" 1
wait_for "SELECT pending FROM pm.outbox_status() WHERE sink = 'tiers'" 0 >/dev/null
check "the sink got tier_down then tier_up for the content tier" \
    "$(python3 -c "
import json,sys
for r in map(json.loads, open(sys.argv[1])):
    if r['path'] == '/tiers':
        for l in r['body'].splitlines():
            e=json.loads(l); print(e['event'] + ':' + e['properties']['tier'])" "$PM_CLUSTER_BASE/sink-jsonl.log" | tr '\n' ' ')" \
    "tier_down:content tier_up:content "

# --- 8. upgrade path -------------------------------------------------------------------------
pm_psql ob -c "CREATE DATABASE pm_up" >/dev/null
up() { pm_psql ob -d pm_up -At "$@"; }
up >/dev/null <<'SQL'
CREATE EXTENSION pm_core VERSION '0.4';
SELECT pm.ensure_roles();
CREATE EXTENSION pm_queue VERSION '0.2';
CREATE EXTENSION pm_fdw VERSION '0.2';
SQL
check "pm_queue 0.3 refuses to install before pm_core 0.5" \
    "$(up -c "ALTER EXTENSION pm_queue UPDATE TO '0.3'" 2>&1 | grep -c 'needs pm_core 0.5')" 1
up -c "ALTER EXTENSION pm_core UPDATE" -c "ALTER EXTENSION pm_queue UPDATE" -c "ALTER EXTENSION pm_fdw UPDATE" >/dev/null
check "upgraded to today's pm_core, pm_queue and pm_fdw" \
    "$(up -c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname LIKE 'pm_%'")" \
    "$(pm_default_versions ob pm_core pm_fdw pm_queue)"
check "after the upgrade pm.rls_audit() is empty and staff cannot read sink secrets" \
    "$(up -c "SELECT count(*) FROM pm.rls_audit()") $(up -c "SELECT has_table_privilege('pm_staff', 'pm.outbox_sink_secrets', 'SELECT')")" "0 f"

# The manual path (no worker in this database): one call, many batches, each event once.
start_sink manual
up >/dev/null <<SQL
INSERT INTO pm.outbox_sinks (name, kind, url, batch_max)
VALUES ('manual', 'jsonl', 'http://127.0.0.1:${SINK_PORT[manual]}/m', 7);
SELECT pm.log_event('manual_event', jsonb_build_object('i', i)) FROM generate_series(1, 50) i;
SQL
check "pm.ship_outbox() ships 50 events in batches of 7, in one call" "$(up -c "SELECT pm.ship_outbox('manual', 1000)")" 50
check "... each once: none re-sent within the call" "$(events manual) $(up -c "SELECT count(*) FROM pm.outbox")" "50 50 manual_event 0"
check "max_events stops the pass after the batch that reaches it" \
    "$(up -c "SELECT count(pm.log_event('manual_event')) FROM generate_series(1, 20)" >/dev/null; up -c "SELECT pm.ship_outbox('manual', 10)")" 14

checks_done
