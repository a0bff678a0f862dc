#!/usr/bin/env bash
# README command A: set up and run the main job — the embedded default deployment.
# As root on Debian 12:
#
#   ./run-demo.sh            install deps, build + install the extensions, start (or reuse) the
#                            local cluster, (re)create database pm_oltp with a realistic sample,
#                            send today's mail through pm_queue, create database pm_content
#                            with a body for every email, create database pm_notify linked
#                            from OLTP and deliver the sample's notifications through the
#                            queue, create database pm_olap linked to OLTP and roll the
#                            analytics up, and print what each tenant sees through RLS, the
#                            queue's work, what the content tier stores, each tenant's
#                            notifications as its users see them, the open system events and
#                            each tenant's campaign dashboard from OLAP; a local event sink
#                            receives every tier's events through its outbox (shipper worker)
#   ./run-demo.sh --report   only print the per-tenant report again
#   ./run-demo.sh --stop     stop the demo cluster (data kept)
#   ./run-demo.sh --destroy  stop it and delete its data directory
#   ./run-demo.sh --outage TIER   (content, notify, olap or oltp) take one tier away on the
#                            running demo, show what keeps working and what fails fast, bring
#                            it back and show the platform converge again
#   --clusters (with any of the above): one cluster per tier instead of one cluster with a
#                            database per tier — the production shape, same SQL, same report
#
# PM_DEMO_DIR (default /var/lib/penguinmails-demo) holds the cluster (--clusters:
# PM_DEMO_DIR-clusters/<database>); PM_DEMO_PORT (default 55432) is the port tried first — a
# busy port moves a cluster to the next free one.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"
# shellcheck source=tests/lib/cluster.sh
. "$root/tests/lib/cluster.sh"

demo_dir=${PM_DEMO_DIR:-/var/lib/penguinmails-demo}
preferred_port=${PM_DEMO_PORT:-55432}
db=pm_oltp
content_db=pm_content
olap_db=pm_olap
notify_db=pm_notify
tier_dbs="$db,$content_db,$notify_db,$olap_db"
all_dbs=("$db" "$content_db" "$notify_db" "$olap_db")
clusters_dir=$demo_dir-clusters
shape=embedded   # --clusters: one cluster per tier

# Where each tier database lives: one cluster for all (embedded), or a cluster each.
dir_of() { if [[ $shape == clusters ]]; then echo "$clusters_dir/$1"; else echo "$demo_dir"; fi; }
port_of() { cat "$(dir_of "$1")/port"; }
cluster_dirs() {
    if [[ $shape == clusters ]]; then printf '%s\n' "${all_dbs[@]/#/$clusters_dir/}"; else echo "$demo_dir"; fi
}
# The databases a cluster holds (its outbox shippers) and pg_cron's database on it.
dbs_of_dir() { if [[ $shape == clusters ]]; then basename "$1"; else echo "$tier_dbs"; fi; }
cron_db_of_dir() { if [[ $shape == clusters ]]; then basename "$1"; else echo "$db"; fi; }
# Files of the run that are not a cluster's: the event sink.
state_dir() { if [[ $shape == clusters ]]; then echo "$clusters_dir"; else echo "$demo_dir"; fi; }
preload_of_dir() {
    printf '%s\n' "shared_preload_libraries = 'pg_cron,penguinmails'" \
        "pm.outbox_databases = '$(dbs_of_dir "$1")'"
}

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'run-demo: %s\n' "$*" >&2; exit 1; }

is_running() {   # [cluster dir]
    local dir=${1:-$(dir_of "$db")}
    [[ -f "$dir/data/postmaster.pid" ]] && pm_pg_bin pg_ctl -D "$dir/data" status >/dev/null 2>&1
}

demo_port() { port_of "$db"; }

cpsql() {   # cluster dir, psql arguments
    local dir=$1
    shift
    psql -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$(cat "$dir/port")" -U postgres "$@"
}
# psql on the cluster of the database named by -d (postgres: the cluster of $admin_db).
admin_db=$db
dpsql() {
    local d=$db prev='' a
    for a; do
        [[ $prev == -d ]] && d=$a
        prev=$a
    done
    [[ $d == postgres ]] && d=$admin_db
    cpsql "$(dir_of "$d")" "$@"
}

start_cluster() {   # cluster dir
    local dir=$1
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        say "Creating the cluster in $dir/data"
        rm -rf "$dir"
        mkdir -p "$dir"
        pm_initdb_configured "$dir" "$(cron_db_of_dir "$dir")" "$(preload_of_dir "$dir")"
    fi
    if is_running "$dir"; then
        say "Cluster $dir already running on port $(cat "$dir/port")"
        ensure_preloaded "$dir"
        reload_if_rebuilt "$dir"
        return 0
    fi
    local port=$preferred_port
    [[ -f "$dir/port" ]] && port=$(cat "$dir/port")
    port=$(pm_free_port "$port")
    port=$(pm_pg_start "$dir" "$port")
    printf '%s\n' "$port" >"$dir/port"
    library_sum >"$dir/library.sha256"
    say "Cluster $dir started on port $port"
}
start_clusters() {
    local dir
    while read -r dir; do start_cluster "$dir"; done < <(cluster_dirs)
}

# pm_fdw keeps each linked tier's health in shared memory when the library is preloaded
# (so one session's failed connect spares the others); clusters made by older versions of
# this script get the setting and a restart.
ensure_preloaded() {   # cluster dir
    local dir=$1 have shippers want
    want=$(dbs_of_dir "$dir")
    have=$(cpsql "$dir" -d postgres -At -c "SHOW shared_preload_libraries")
    shippers=$(cpsql "$dir" -d postgres -At -c "SHOW pm.outbox_databases" 2>/dev/null || true)
    [[ ",${have// /}," == *,penguinmails,* && $shippers == "$want" ]] && return 0
    say "Preloading penguinmails with the outbox shippers (restart)"
    cpsql "$dir" -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = pg_cron, penguinmails"
    cpsql "$dir" -d postgres -c "ALTER SYSTEM SET pm.outbox_databases = '$want'"
    restart_cluster "$dir"
}

# The library is preloaded, so every backend runs the copy the postmaster loaded at start:
# when the build installed a different one, restart (new functions would not be found).
library_sum() { sha256sum "$(pg_config --pkglibdir)/penguinmails.so" | cut -d' ' -f1; }
reload_if_rebuilt() {   # cluster dir
    [[ "$(cat "$1/library.sha256" 2>/dev/null)" == "$(library_sum)" ]] && return 0
    say "The extension library changed since the cluster started (restart)"
    restart_cluster "$1"
}

# On its port; remembers which library build the new postmaster loaded.
restart_cluster() {   # cluster dir
    pm_pg_stop "$1"
    pm_pg_start "$1" "$(cat "$1/port")" fixed >/dev/null
    library_sum >"$1/library.sha256"
}

stop_cluster() {
    local dir any=
    while read -r dir; do
        if is_running "$dir"; then
            pm_pg_stop "$dir"
            echo "demo cluster stopped (data kept in $dir)"
            any=1
        fi
    done < <(cluster_dirs)
    [[ -n $any ]] || echo "the demo is not running"
}

build() {
    say "Building and installing the extensions (log: build/demo-build.log)"
    mkdir -p build
    # `make install` replaces the module every local cluster loads: not under a running test suite.
    exec 9>/tmp/penguinmails-install.lock
    flock 9
    if ! { make -j"$(nproc)" && make install; } >build/demo-build.log 2>&1; then
        tail -n 40 build/demo-build.log >&2
        die "build failed"
    fi
    exec 9>&-
}

# recreate_db NAME EXTENSION...: an empty database with those extensions and the pm roles.
recreate_db() {
    local name=$1 ext
    shift
    admin_db=$name
    # FORCE: pg_cron's launcher stays connected to its database (cron.database_name).
    PGOPTIONS='-c client_min_messages=warning' dpsql -d postgres \
        -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
    for ext in "$@"; do
        PGOPTIONS='-c client_min_messages=warning' dpsql -d "$name" -c "CREATE EXTENSION $ext CASCADE"
    done
    dpsql -d "$name" -c "SELECT pm.ensure_roles()" >/dev/null
    # pg_cron's own database on its cluster: every tier database when each has a cluster.
    if [[ $name == "$(cron_db_of_dir "$(dir_of "$name")")" ]]; then
        PGOPTIONS='-c client_min_messages=warning' dpsql -d "$name" -c "CREATE EXTENSION IF NOT EXISTS pg_cron"
    fi
    add_event_sink "$name"
}

# External logging stand-in: a local sink (127.0.0.1 only) that keeps every request it gets
# in $demo_dir/events.log; each tier database ships to it through its outbox.
start_event_sink() {
    stop_event_sink
    say "Starting a local event sink on 127.0.0.1 (stands in for PostHog / Loki / an OTLP collector)"
    local port
    port=$(pm_free_port 55480)
    : >"$(state_dir)/events.log"
    setsid nohup python3 tests/lib/http_sink.py serve "$port" "$(state_dir)/events.log" \
        >"$(state_dir)/sink.out" 2>&1 </dev/null &
    echo $! >"$(state_dir)/sink.pid"
    echo "$port" >"$(state_dir)/sink.port"
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$port/_stats" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "the event sink did not start (see $(state_dir)/sink.out)"
}
stop_event_sink() {
    [[ -f "$(state_dir)/sink.pid" ]] && kill "$(cat "$(state_dir)/sink.pid")" 2>/dev/null || true
    rm -f "$(state_dir)/sink.pid"
}
# Every event of the tier, the opt-in email_* taxonomy included, as JSON lines.
add_event_sink() {
    dpsql -d "$1" -c "INSERT INTO pm.outbox_sinks (name, kind, url, events, flush_interval)
                      VALUES ('demo-jsonl', 'jsonl', 'http://127.0.0.1:$(cat "$(state_dir)/sink.port")/$1',
                              '{*,email_*}', '200 ms')" >/dev/null
}

outbox_report() {
    local d
    say "External logging: what each tier's outbox shipped to the local sink (worker, batches)"
    for d in ${tier_dbs//,/ }; do
        for _ in $(seq 50); do
            [[ $(dpsql -d "$d" -At -c "SELECT coalesce(sum(pending), 0) FROM pm.outbox_status()") == 0 ]] && break
            sleep 0.2
        done
    done
    printf '%-11s %-11s %-8s %8s %8s %8s %9s\n' tier sink state pending shipped dropped failures
    for d in ${tier_dbs//,/ }; do
        dpsql -d "$d" -At -F ' ' -c "SELECT format('%-11s %-11s %-8s %8s %8s %8s %9s', current_database(), sink, state,
                                               pending, shipped_total, dropped_total, failures)
                                       FROM pm.outbox_status()"
    done
    echo
    echo "received by the sink (per tier: events, distinct event_ids, kinds):"
    python3 - "$(state_dir)/events.log" <<'PY'
import collections, json, sys
per = collections.defaultdict(list)
for record in map(json.loads, open(sys.argv[1])):
    for line in record["body"].splitlines():
        e = json.loads(line)
        per[record["path"].strip("/")].append(e)
for tier, events in sorted(per.items()):
    kinds = collections.Counter(e["event"] for e in events)
    print(f"  {tier:<11} {len(events):5} {len({e['event_id'] for e in events}):5}  " +
          ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
PY
    echo "  (one JSON object per line, as a jsonl sink gets them: tail -n1 $(state_dir)/events.log)"
}

load_sample() {
    say "Recreating database $db and loading demo/sample.sql"
    recreate_db "$db" pm_oltp pm_queue pm_fdw
    local start=$SECONDS
    dpsql -d "$db" -f demo/sample.sql
    echo "sample loaded in $((SECONDS - start)) s"
}

# Today's sends go through the queue, installed in the OLTP database: the sequencer enqueues
# a job per due enrollment, four workers (separate connections) claim and send them, and each
# mailbox's daily_limit holds at claim time.
send_through_queue() {
    say "Queue: today's sends as email-sending jobs, four workers sending them"
    local start=$SECONDS w pids=()
    dpsql -d "$db" -f demo/queue_sends.sql
    for w in 1 2 3 4; do
        dpsql -d "$db" -v worker="demo-worker-$w" -f demo/queue_worker.sql >/dev/null &
        pids+=($!)
    done
    for w in "${pids[@]}"; do wait "$w" || die "a queue worker failed"; done
    echo "workers done in $((SECONDS - start)) s"
}

queue_report() {
    say "Queue: email-sending jobs, and every mailbox against its daily_limit"
    dpsql -d "$db" -f demo/queue_report.sql
}

# The content tier in a database of its own on the same cluster (the embedded default),
# linked from OLTP through pm_fdw.  OLTP already holds each email's content_storage_key;
# the bodies go through the link as the application writes them (pm_app, tenant context
# propagated to the content tier's RLS), and every answer must be the key OLTP holds.
load_content() {
    say "Recreating database $content_db and linking $db to it through pm_fdw"
    recreate_db "$content_db" pm_content
    local password start=$SECONDS
    # The link's login; only the user mapping in pm_oltp keeps it.
    password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    dpsql -d "$content_db" -v link_password="$password" -f demo/fdw_content_role.sql >/dev/null
    dpsql -d "$db" -v content_host=127.0.0.1 -v content_port="$(port_of "$content_db")" \
        -v link_password="$password" -f demo/fdw_link.sql >/dev/null

    say "Content: a body for every email, written through the link; dictionaries; attachments"
    dpsql -d "$db" -f demo/content_bodies.sql
    dpsql -d "$db" -v phase=early -f demo/fdw_load.sql >/dev/null
    dpsql -d "$content_db" -v step=train -f demo/content_load.sql
    dpsql -d "$db" -v phase=rest -f demo/fdw_load.sql >/dev/null
    dpsql -d "$db" -At -c "COPY (SELECT email_id, tenant_id, tenant_name, template, oltp_key, attachment
                                   FROM demo.mail ORDER BY email_id) TO STDOUT (FORMAT csv)" |
        dpsql -d "$content_db" -v step=finish -f demo/content_load.sql
    echo "content stored in $((SECONDS - start)) s"
}

link_report() {
    say "The link: one message per tenant with its body resolved through pm_fdw, and pm.tier_status()"
    dpsql -d "$db" -f demo/fdw_report.sql
}

# A link from OLTP to tier database $2 (tier name $1) as login $3, which $4 (a grant function
# of that tier) allows exactly what OLTP delivers there.  $5: the login's password.
link_from_oltp() {
    local tier=$1 target=$2 login=$3 grant=$4 password=$5
    PGOPTIONS='-c client_min_messages=warning' \
        dpsql -d "$target" -v pw="$password" -v login="$login" -v grant="$grant" >/dev/null <<'SQL'
DROP ROLE IF EXISTS :"login";
CREATE ROLE :"login" LOGIN PASSWORD :'pw';
SELECT format('SELECT %s(%L)', :'grant', :'login') \gexec
SQL
    dpsql -d "$db" -v pw="$password" -v port="$(port_of "$target")" -v target="$target" -v tier="$tier" \
        -v login="$login" >/dev/null <<'SQL'
SELECT pm.link_tier(:'tier', format('host=127.0.0.1 port=%s dbname=%s', :'port', :'target'), :'login', :'pw');
SQL
}

# Installs the pg_cron jobs that tier database $1 lists with its function $2 (job_name,
# schedule, command) from $db, pg_cron's database.
# With one cluster per tier, each cluster's pg_cron runs its own tier's jobs.
install_cron_jobs() {
    local target=$1 list=$2 name sched cmd cron_db=$db
    [[ $shape == clusters ]] && cron_db=$target
    PGOPTIONS='-c client_min_messages=warning' dpsql -d "$cron_db" -c "CREATE EXTENSION IF NOT EXISTS pg_cron"
    dpsql -d "$target" -At -F $'\t' -c "SELECT * FROM $list()" |
        while IFS=$'\t' read -r name sched cmd; do
            dpsql -d "$cron_db" -v n="$name" -v s="$sched" -v c="$cmd" -v d="$target" >/dev/null \
                <<<"SELECT cron.schedule_in_database(:'n', :'s', :'c', :'d')"
        done
}

# The notifications tier in database pm_notify, linked from OLTP through pm_fdw as a login
# that may only call pm_notify.deliver().  The producers enqueue in OLTP; one delivery run
# moves the jobs, and pg_cron keeps a delivery worker running every minute afterwards.
load_notify() {
    say "Recreating database $notify_db, linking $db to it, delivering the sample's notifications"
    recreate_db "$notify_db" pm_notify
    local password
    password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    link_from_oltp notify "$notify_db" pm_oltp_notify pm_notify.grant_producer "$password"
    dpsql -d "$db" -At -f demo/notify_actions.sql
    dpsql -d "$db" -At -c "SELECT format('delivered to %s: %s (failed %s, pending %s)', '$notify_db', delivered, failed, pending)
                           FROM pm_oltp.deliver_notifications(100000)"
    install_cron_jobs "$notify_db" pm_notify.cron_jobs
    dpsql -d "$db" >/dev/null -c "SELECT count(*) FROM pm_oltp.schedule_notifications()"
}

notify_report() {
    local tid tname owner oemail member memail
    say "Notifications per tenant as its users see them (database $notify_db, pm_app + user context)"
    while IFS=$'\t' read -r tid tname owner oemail member memail; do
        printf '\n%s\n' "$tname"
        dpsql -d "$notify_db" -At -v tid="$tid" -v owner="$owner" -v owner_email="$oemail" \
            -v member="$member" -v member_email="$memail" -f demo/notify_report.sql
    done < <(dpsql -d "$db" -At -F $'\t' -c "
        SELECT t.id, t.name, o.user_id, o.email, m.user_id, m.email
        FROM pm_oltp.tenants t
        CROSS JOIN LATERAL (SELECT user_id, email FROM pm_oltp.tenant_users
                            WHERE tenant_id = t.id AND 'owner' = ANY (roles) ORDER BY created LIMIT 1) o
        CROSS JOIN LATERAL (SELECT user_id, email FROM pm_oltp.tenant_users
                            WHERE tenant_id = t.id AND user_id <> o.user_id ORDER BY created LIMIT 1) m
        ORDER BY t.name")
    say "Open system events, as staff see them (pm_staff)"
    dpsql -d "$notify_db" -c "SET ROLE pm_staff" -c "SELECT id, severity, event_type, occurrences, description, last_seen_at::timestamptz(0) AS last_seen
                               FROM pm_notify.admin_system_events WHERE NOT is_resolved ORDER BY created_at DESC LIMIT 10" | sed '/^SET$/d'
    dpsql -d "$db" -At -c "SELECT format('notification jobs: %s completed, %s pending, %s failed; links: %s',
                               count(*) FILTER (WHERE status = 'completed'),
                               count(*) FILTER (WHERE status IN ('queued', 'retry_scheduled', 'running')),
                               count(*) FILTER (WHERE status = 'failed'),
                               (SELECT string_agg(tier || ' ' || state, ', ' ORDER BY tier) FROM pm.tier_status()))
                           FROM pm_queue.jobs WHERE queue_name = 'notifications'"
}

# The OLAP tier in database pm_olap, linked to OLTP through pm_fdw as an RLS-bound login
# that may run exactly the olap_* functions of pm_oltp.  The sample's changes are already
# dirty keys in OLTP: the first rollup pulls them, recomputed on the OLTP side.
load_olap() {
    say "Recreating database $olap_db, linking it to $db, rolling up through the link"
    recreate_db "$olap_db" pm_olap
    local password start=$SECONDS
    password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    dpsql -d "$db" -v pw="$password" >/dev/null <<'SQL'
DROP ROLE IF EXISTS pm_olap_link;
CREATE ROLE pm_olap_link LOGIN PASSWORD :'pw' IN ROLE pm_app;
SELECT pm_oltp.grant_olap_link('pm_olap_link');
SQL
    dpsql -d "$olap_db" -v pw="$password" -v port="$(port_of "$db")" >/dev/null <<'SQL'
SELECT pm.link_tier('oltp', format('host=127.0.0.1 port=%s dbname=pm_oltp', :'port'), 'pm_olap_link', :'pw');
SQL
    # The other direction: OLTP appends its high-risk changes (plans, roles, tenant config)
    # to the OLAP audit log through pm_queue and a link whose login may only call audit().
    link_from_oltp olap "$olap_db" pm_oltp_audit pm_olap.grant_audit_writer "$password"
    dpsql -d "$db" -f demo/audit_actions.sql >/dev/null
    dpsql -d "$db" -At -c "SELECT format('audit records delivered to OLAP: %s (pending %s)', delivered, pending)
                           FROM pm_oltp.deliver_audit(10000)"
    dpsql -d "$olap_db" -c "SELECT tier AS table, keys, rows_upserted, lag FROM pm_olap.rollup(1000000)"
    dpsql -d "$olap_db" -At -c "SELECT 'billing rows: ' || pm_olap.billing_rollup()" >/dev/null
    echo "rolled up in $((SECONDS - start)) s"
    # pg_cron lives in $db (cron.database_name): the OLAP jobs are installed from there.
    install_cron_jobs "$olap_db" pm_olap.cron_jobs
    dpsql -d "$db" >/dev/null -c "SELECT cron.schedule('pm-oltp-audit-delivery', '* * * * *',
                                                       'SELECT * FROM pm_oltp.deliver_audit()')"
}

olap_report() {
    local tenants tid tname
    say "OLAP: campaign dashboards and mailbox health per tenant (database $olap_db, as pm_app)"
    tenants=$(dpsql -d "$db" -At -F $'\t' -c "SELECT id, name FROM pm_oltp.tenants ORDER BY name")
    while IFS=$'\t' read -r tid tname; do
        printf '\n%s\n' "$tname"
        dpsql -d "$olap_db" -v tid="$tid" -f demo/olap_report.sql
    done <<<"$tenants"
    say "OLAP health: verify() of the last 90 days, freshness, the pg_cron schedule"
    dpsql -d "$olap_db" -At -c "SELECT format('verify(): %s rows differ from OLTP (0 = exact)', count(*))
                                FROM pm_olap.verify((now() AT TIME ZONE 'UTC')::date - 90, (now() AT TIME ZONE 'UTC')::date)"
    dpsql -d "$olap_db" -At -c "SELECT format('rollup lag: %s, pending keys: %s, last rollup: %s',
                                       coalesce(now() - oldest_pending, '0'), pending_keys, last_rollup)
                                FROM pm_olap.rollup_state"
    local cron_db
    for cron_db in $( [[ $shape == clusters ]] && echo "${all_dbs[@]}" || echo "$db"); do
        dpsql -d "$cron_db" -c "SELECT jobname, database, schedule, command FROM cron.job
                                WHERE jobname LIKE 'pm-%' ORDER BY jobname" 2>/dev/null || true
    done
    say "OLAP audit log (staff only): the latest records, delivered from OLTP through pm_queue"
    dpsql -d "$olap_db" -c "SELECT seq, action, coalesce(admin_user_id::text, '(system)') AS by_user, ip_address,
                                   left(old_values::text, 32) AS old_values, left(new_values::text, 60) AS new_values,
                                   retention_category AS retention
                            FROM pm_olap.admin_audit_log ORDER BY seq DESC LIMIT 5"
    dpsql -d "$olap_db" -At -c "SELECT format('audit_verify(): %s broken rows (0 = chain intact) over %s records',
                                       (SELECT count(*) FROM pm_olap.audit_verify()), count(*))
                                FROM pm_olap.admin_audit_log"
}

content_report() {
    say "Content tier: storage per tenant (database $content_db)"
    dpsql -d "$content_db" -f demo/content_report.sql
}

report() {
    local tenants tid tname other oname
    say "What each tenant sees through RLS (SET ROLE pm_app + pm.set_context)"
    dpsql -d "$db" -At -c "SELECT format('all tenants, as superuser (no RLS): %s tenants, %s companies, %s mailboxes, %s leads, %s campaigns, %s emails',
        (SELECT count(*) FROM pm_oltp.tenants), (SELECT count(*) FROM pm_oltp.companies),
        (SELECT count(*) FROM pm_oltp.email_accounts), (SELECT count(*) FROM pm_oltp.leads),
        (SELECT count(*) FROM pm_oltp.campaigns), (SELECT count(*) FROM pm_oltp.emails))"
    tenants=$(dpsql -d "$db" -At -F $'\t' -c "SELECT id, name FROM pm_oltp.tenants ORDER BY name")
    [[ -n "$tenants" ]] || die "no tenants in $db"
    while IFS=$'\t' read -r tid tname; do
        printf '\n%s  (%s)\n' "$tname" "$tid"
        dpsql -d "$db" -At -v tid="$tid" -f demo/tenant_report.sql
    done <<<"$tenants"

    # Isolation, shown rather than claimed: the first tenant reaches for the second one's rows.
    IFS=$'\t' read -r tid tname <<<"$(sed -n 1p <<<"$tenants")"
    IFS=$'\t' read -r other oname <<<"$(sed -n 2p <<<"$tenants")"
    say "Isolation checks (as pm_app, context: $tname)"
    # Errors are the expected outcome below; psql reports their SQLSTATE.
    dpsql -d "$db" -At -v ON_ERROR_STOP=0 -v tid="$tid" -v other="$other" -v oname="$oname" \
        2>/dev/null <<'SQL' || true
BEGIN;
SET LOCAL ROLE pm_app;
SELECT pm.set_context(:'tid') \g /dev/null
SELECT format('cross-tenant read:  SELECT count(*) FROM pm_oltp.leads WHERE tenant_id = <%s> -> %s rows',
              :'oname', count(*))
  FROM pm_oltp.leads WHERE tenant_id = :'other';
SAVEPOINT s;
INSERT INTO pm_oltp.leads (tenant_id, email) VALUES (:'other', 'intruder@example.com');
\echo 'cross-tenant write: INSERT INTO pm_oltp.leads (tenant_id = <':oname'>) -> ERROR' :LAST_ERROR_SQLSTATE '(' :LAST_ERROR_MESSAGE ')'
ROLLBACK TO SAVEPOINT s;
COMMIT;
SET ROLE pm_app;
SELECT count(*) FROM pm_oltp.leads;
\echo 'tenant-less query:  SELECT count(*) FROM pm_oltp.leads -> ERROR' :LAST_ERROR_SQLSTATE '(' :LAST_ERROR_MESSAGE ')'
SQL
}

# The one screen to look at: per tenant, each tier's answer, then every link's health.
summary() {
    local tid tname owner member olap notes content oltp u one
    say "Summary: every tier, per tenant (read as pm_app with the tenant's context)"
    as_tenant() {   # database tenant user query: the query's one value
        dpsql -d "$1" -At -c "BEGIN" -c "SET LOCAL ROLE pm_app" \
            -c "SELECT pm.set_context('$2'${3:+, '$3'})" -c "$4" -c "COMMIT" | grep . | tail -n 1
    }
    printf '%-20s | %-36s | %-9s | %-24s | %s\n' tenant "campaigns, 90 days (OLAP)" "unread" \
        "content (stored)" "queue: sends by status (OLTP)"
    while IFS=$'\t' read -r tid tname owner member; do
        olap=$(as_tenant "$olap_db" "$tid" "" "SELECT format('%s: %s sent, %s%% open, %s%% reply', count(DISTINCT campaign_id),
                              coalesce(sum(sent), 0), coalesce(round(100.0 * sum(opened_tracked) / nullif(sum(delivered), 0), 1), 0),
                              coalesce(round(100.0 * sum(replied) / nullif(sum(delivered), 0), 1), 0))
                FROM pm_olap.campaign_analytics WHERE day > current_date - 90")
        notes=
        for u in $owner $member; do
            one=$(as_tenant "$notify_db" "$tid" "$u" "SELECT pm_notify.unread_count()")
            notes+=${notes:+/}$one
        done
        content=$(as_tenant "$content_db" "$tid" "" "SELECT format('%s objects, %s', objects, pg_size_pretty(stored_bytes))
                                                     FROM pm_content.usage('$tid')")
        oltp=$(as_tenant "$db" "$tid" "" "SELECT coalesce(string_agg(status || ' ' || n, ', ' ORDER BY status), 'none')
                                           FROM (SELECT status, count(*) AS n FROM pm_queue.jobs
                                                  WHERE queue_name = 'email-sending' GROUP BY status) q")
        printf '%-20s | %-36s | %-9s | %-24s | %s\n' "$tname" "$olap" "${notes:--}" "${content:-none}" "$oltp"
    done < <(dpsql -d "$db" -At -F $'\t' -c "
        SELECT t.id, t.name,
               coalesce((SELECT user_id::text FROM pm_oltp.tenant_users WHERE tenant_id = t.id AND 'owner' = ANY (roles) ORDER BY created LIMIT 1), ''),
               coalesce((SELECT user_id::text FROM pm_oltp.tenant_users WHERE tenant_id = t.id AND NOT 'owner' = ANY (roles) ORDER BY created LIMIT 1), '')
        FROM pm_oltp.tenants t ORDER BY t.name")
    echo "(unread: the owner's / another user's unread notifications)"
    echo
    echo "links (pm.tier_status() in each linking database; deployment: $shape):"
    local d
    for d in "$db" "$olap_db"; do
        dpsql -d "$d" -At -c "SELECT format('  %-8s -> %-8s %-8s failures %s, round trip %s ms%s', current_database(), tier, state,
                                            failures, round(round_trip_ms::numeric, 1),
                                            CASE WHEN last_error IS NOT NULL THEN ', last error: ' || left(last_error, 60) ELSE '' END)
                                     FROM pm.tier_status() ORDER BY tier"
    done
}

# --outage TIER: the tier goes away on the running demo (its cluster stopped; embedded: its
# database closed to connections and its sessions ended), the platform keeps working around
# it, then it comes back and everything converges.
outage() {
    local tier=$1 tdb
    case $tier in
        content) tdb=$content_db ;; notify) tdb=$notify_db ;; olap) tdb=$olap_db ;; oltp) tdb=$db ;;
        *) die "--outage takes content, notify, olap or oltp, not '$tier'" ;;
    esac
    local tid
    tid=$(dpsql -d "$db" -At -c "SELECT id FROM pm_oltp.tenants ORDER BY name LIMIT 1")
    say "Outage: taking tier '$tier' ($tdb) away"
    if [[ $shape == clusters ]]; then
        pm_pg_bin pg_ctl -D "$(dir_of "$tdb")/data" -m immediate -w stop >/dev/null
        echo "cluster $(dir_of "$tdb") stopped (immediate)"
    else
        dpsql -d postgres -c "ALTER DATABASE $tdb ALLOW_CONNECTIONS false" \
            -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$tdb'" >/dev/null
        echo "database $tdb closed to connections, its sessions ended"
    fi
    say "What keeps working, and what fails fast (each call timed in its server)"
    local i
    try() {   # label database statement
        local out
        out=$(dpsql -d "$2" -At -v ON_ERROR_STOP=0 2>&1 <<SQL
\\set QUIET on
SELECT pm.set_context('$tid', NULL, false);
\\timing on
$3;
SQL
)
        printf '  %-44s %s\n' "$1" "$(grep -E 'ERROR|^Time|^[0-9a-z]' <<<"$out" | grep -v '^$' | tr '\n' ' ' | cut -c1-110)"
    }
    for i in 1 2 3; do
        [[ $tier == oltp ]] || try "OLTP write (a lead), call $i" "$db" \
            "INSERT INTO pm_oltp.leads (tenant_id, email) VALUES ('$tid', 'outage-' || gen_random_uuid() || '@example.com') RETURNING 'inserted'"
        [[ $tier == oltp ]] || try "content read through the link, call $i" "$db" \
            "SELECT count(*) || ' bodies' FROM pm.resolve_content_many(ARRAY(SELECT content_storage_key FROM pm_oltp.emails WHERE tenant_id = '$tid' AND content_storage_key IS NOT NULL LIMIT 3))"
        [[ $tier == olap ]] || try "OLAP rollup (pulls from OLTP), call $i" "$olap_db" "SELECT sum(keys) || ' keys' FROM pm_olap.rollup()"
    done
    # A notification produced while its tier is away waits in the queue, then arrives once.
    [[ $tier == oltp ]] || try "a notification produced (queued in OLTP)" "$db" \
        "SELECT 'job ' || pm_oltp.enqueue_notification(jsonb_build_object('kind', 'notification', 'tenant_id', '$tid',
                'user_id', NULL, 'type', 'outage.drill', 'title', 'Outage drill', 'message', 'Tier $tier was away'), '$tid')"
    [[ $tier == oltp ]] || try "notification delivery" "$db" "SELECT delivered || ' delivered, ' || failed || ' retried later' FROM pm_oltp.deliver_notifications()"
    [[ $tier == notify ]] || try "notifications read (their own tier)" "$notify_db" "SELECT count(*) || ' notifications' FROM pm_notify.notifications"
    [[ $tier == olap ]] || try "OLAP dashboard read (its own tier)" "$olap_db" "SELECT count(*) || ' analytics rows' FROM pm_olap.campaign_analytics"
    [[ $tier == oltp ]] || dpsql -d "$db" -At -c "SELECT format('  OLTP sees tier %s: %s, failures %s', tier, state, failures) FROM pm.tier_status()"

    say "Bringing '$tier' back"
    if [[ $shape == clusters ]]; then
        pm_pg_start "$(dir_of "$tdb")" "$(port_of "$tdb")" fixed >/dev/null
    else
        dpsql -d postgres -c "ALTER DATABASE $tdb ALLOW_CONNECTIONS true" >/dev/null
    fi
    local start=$SECONDS
    # The links probe again after their back-off; the deferred work then drains.
    local delivered=0 pending up ok
    for _ in $(seq 120); do
        ok=1
        dpsql -d "$db" -At -c "SELECT pm.set_context('$tid', NULL, false)" \
            -c "SELECT count(*) FROM pm.resolve_content_many(ARRAY(SELECT content_storage_key FROM pm_oltp.emails
                                                                    WHERE tenant_id = '$tid' AND content_storage_key IS NOT NULL LIMIT 1))" \
            >/dev/null 2>&1 || ok=
        dpsql -d "$olap_db" -At -c "SELECT pm_olap.rollup()" >/dev/null 2>&1 || ok=
        read -r n pending < <(dpsql -d "$db" -At -F ' ' -c "SELECT delivered, pending FROM pm_oltp.deliver_notifications(100000)" 2>/dev/null || echo "0 x")
        delivered=$((delivered + ${n:-0}))
        [[ $pending == 0 ]] || ok=
        up=$(dpsql -d "$db" -At -c "SELECT count(*) FILTER (WHERE state <> 'up') FROM pm.tier_status()" 2>/dev/null || echo x)
        [[ $up == 0 ]] || ok=
        [[ -n $ok ]] && break
        sleep 1
    done
    echo "notification delivery after the outage: $delivered delivered, ${pending:-?} pending"
    dpsql -d "$olap_db" -At -c "SELECT format('OLAP verify(): %s rows differ from OLTP (0 = exact)', count(*))
                                FROM pm_olap.verify((now() AT TIME ZONE 'UTC')::date - 90, (now() AT TIME ZONE 'UTC')::date)"
    dpsql -d "$db" -At -c "SELECT format('OLTP sees tier %s: %s', tier, state) FROM pm.tier_status()"
    echo "converged in $((SECONDS - start)) s"
    summary
}

usage_hint() {
    local port d flag=
    port=$(demo_port)
    [[ $shape == clusters ]] && flag=" --clusters"
    cat <<EOF

==> The demo keeps running
  connect:  psql -h $(dir_of "$db")/sock -p $port -U postgres $db
       or:  psql -h 127.0.0.1 -p $port -U postgres $db
EOF
    if [[ $shape == clusters ]]; then
        for d in "$content_db" "$notify_db" "$olap_db"; do
            printf '            psql -h 127.0.0.1 -p %s -U postgres %s\n' "$(port_of "$d")" "$d"
        done
    fi
    cat <<EOF
  as a tenant:  BEGIN; SET LOCAL ROLE pm_app; SELECT pm.set_context('<tenant uuid>'); ...; COMMIT;
  a tier down:  ./run-demo.sh$flag --outage content   (or notify, olap, oltp)
  stop:     ./run-demo.sh$flag --stop
  remove:   ./run-demo.sh$flag --destroy
  events:   $(state_dir)/events.log (the local sink; pm.outbox_status() in each tier database)
EOF
}

action=run outage_tier=
while (($#)); do
    case $1 in
        --clusters) shape=clusters ;;
        --report) action=report ;;
        --stop) action=stop ;;
        --destroy) action=destroy ;;
        --outage) action=outage outage_tier=${2:-}; shift ;;
        -h | --help) sed -n '2,24s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
((EUID == 0)) || die "run me as root (installs packages, runs the cluster as the postgres OS user)"

case $action in
    stop) stop_event_sink; stop_cluster; exit 0 ;;
    destroy)
        stop_event_sink; stop_cluster
        if [[ $shape == clusters ]]; then rm -rf "$clusters_dir"; echo "removed $clusters_dir"
        else rm -rf "$demo_dir"; echo "removed $demo_dir"; fi
        exit 0 ;;
    report)
        is_running || die "the demo is not running: run ./run-demo.sh$([[ $shape == clusters ]] && echo " --clusters")"
        report; queue_report; content_report; link_report; notify_report; olap_report; outbox_report
        summary; usage_hint; exit 0 ;;
    outage)
        is_running || die "the demo is not running: run ./run-demo.sh$([[ $shape == clusters ]] && echo " --clusters")"
        outage "$outage_tier"; exit 0 ;;
esac

say "Installing dependencies"
scripts/install-deps.sh
build
start_clusters
start_event_sink
load_sample
send_through_queue
load_content
load_notify
load_olap
report
queue_report
content_report
link_report
notify_report
olap_report
outbox_report
summary
usage_hint
