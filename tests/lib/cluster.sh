# shellcheck shell=bash
# Throwaway PostgreSQL 15 clusters for tests, run as root.  Source this file, then:
#
#   pm_cluster_start oltp [cron_db] [extra postgresql.conf lines]
#                                     # initdb + start on a free port; cron_db: pg_cron's database
#   pm_cluster_use oltp               # export PGHOST/PGPORT/PGUSER/PGDATABASE for that cluster
#   pm_cluster_port oltp              # print its port   (also: pm_cluster_host, pm_cluster_dir)
#   pm_cluster_stop oltp              # stop it early (e.g. outage tests); pm_cluster_restart too
#   pm_on_exit 'command'              # extra cleanup, run (last in, first out) on exit
#
# Every started cluster is registered; one trap stops them all (pg_ctl -m fast) and removes
# their files on exit, error or signal.  A script that installs its own EXIT trap must call
# pm_cleanup from it.  Lower-level pieces (pm_pg_bin, pm_free_port, pm_initdb_configured,
# pm_pg_start) are shared with run-demo.sh, which keeps its cluster.

PM_PG_BINDIR=${PM_PG_BINDIR:-/usr/lib/postgresql/15/bin}
PM_PG_OSUSER=${PM_PG_OSUSER:-postgres}

declare -gA PM_CLUSTER_PORTS=()   # name -> port
declare -ga PM_CLUSTER_NAMES=()   # start order
declare -ga PM_EXIT_HOOKS=()
PM_CLUSTER_BASE=${PM_CLUSTER_BASE:-}
# Where this process creates its cluster directory: inside the parent's when a harness user
# started us (see pm_cluster_start).
PM_CLUSTER_PARENT_ROOT=${PM_CLUSTER_ROOT:-/tmp}
PM_CLUSTER_TRAPS_SET=${PM_CLUSTER_TRAPS_SET:-}

pm_log() { printf '[cluster] %s\n' "$*" >&2; }

# Runs a PostgreSQL server binary as the postgres OS user; the server refuses to run as root.
pm_pg_bin() {
    local bin=$1
    shift
    runuser -u "$PM_PG_OSUSER" -- "$PM_PG_BINDIR/$bin" "$@"
}

# Something answering on 127.0.0.1:PORT means taken.  A port bound by a process that does
# not listen slips through; pm_pg_start retries on a bind failure for that (and for races
# with other test runs on this machine).
pm_port_is_free() {
    local port=$1
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# Ports come from below the kernel's ephemeral range: one there can be the local port of an
# outgoing connection at any moment (nothing listens, so the check above passes, then the
# bind fails).
pm_free_port() {
    local low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    ((low > 21000)) || low=61000 # an unusual range: take 20000..61000 as before
    local port=${1:-$((20000 + RANDOM % (low - 20000)))} tries=0
    while ! pm_port_is_free "$port"; do
        port=$((port + 1))
        ((port >= low)) && port=20000
        ((++tries < 2000)) || { pm_log "no free port found"; return 1; }
    done
    printf '%s\n' "$port"
}

# initdb DIR/data and write the configuration every PenguinMails cluster shares.
# Sockets go to DIR/sock (short path: Unix socket paths are limited to ~107 bytes).
pm_initdb_configured() {
    local dir=$1 cron_db=${2:-postgres} extra_conf=${3:-}
    local data=$dir/data
    mkdir -p "$dir/sock"
    chown "$PM_PG_OSUSER:" "$dir" "$dir/sock"
    chmod 0755 "$dir"
    pm_pg_bin initdb -D "$data" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    # Port and socket directory are passed at start (pg_ctl -o) so a restart can move ports.
    cat >>"$data/postgresql.conf" <<EOF

# --- PenguinMails cluster settings ---
listen_addresses = '127.0.0.1'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$cron_db'
cron.use_background_workers = on
max_worker_processes = 32
max_connections = 200
# Throwaway data: no need to survive an OS crash.  synchronous_commit stays on.
fsync = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %d %u '
EOF
    [[ -z "$extra_conf" ]] || printf '%s\n' "$extra_conf" >>"$data/postgresql.conf"
    # Superuser trusted everywhere; any other role on TCP must present its password, which
    # is what FDW / libpq tests by non-superusers need (first matching line wins).
    cat >"$data/pg_hba.conf" <<'EOF'
local all all                          trust
host  all postgres 127.0.0.1/32        trust
host  all all      127.0.0.1/32        scram-sha-256
EOF
    chown "$PM_PG_OSUSER:" "$data/pg_hba.conf"
}

# Starts the cluster in DIR on PORT and prints the port it ends up on.  After a bind failure
# it moves to the next free port, unless a third argument "fixed" says the port is part of
# the test (a restarted tier must come back where its clients expect it).
pm_pg_start() {
    local dir=$1 port=$2 mode=${3:-} attempt
    for attempt in 1 2 3 4 5; do
        # PM_CLUSTER_CPUS (a taskset CPU list) pins the server and every backend it forks:
        # benchmarks use it to keep client and backend on one CPU.
        # The server outlives this shell: it must not inherit the descriptors that hold the
        # machine-wide install lock (tests/run's fd 9, `flock FILE CMD`'s fd 3), or a cluster
        # left running would keep every later build and test waiting.
        if ${PM_CLUSTER_CPUS:+taskset -c "$PM_CLUSTER_CPUS"} \
                runuser -u "$PM_PG_OSUSER" -- "$PM_PG_BINDIR/pg_ctl" -D "$dir/data" \
                -l "$dir/server.log" -w -t 60 -o "-p $port -k $dir/sock" start \
                >/dev/null 2>&1 3>&- 9>&-; then
            printf '%s\n' "$port"
            return 0
        fi
        if [[ "$mode" != fixed ]] &&
            grep -qE 'could not (bind|create listen)|already in use' "$dir/server.log" 2>/dev/null; then
            port=$(pm_free_port $((port + 1 + RANDOM % 50))) || return 1
            continue
        fi
        break
    done
    pm_log "could not start the cluster in $dir (attempt $attempt); server log:"
    tail -n 30 "$dir/server.log" >&2 || true
    return 1
}

pm_pg_stop() {
    local dir=$1
    [[ -f "$dir/data/postmaster.pid" ]] || return 0
    pm_pg_bin pg_ctl -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
        pm_pg_bin pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}

pm_cleanup() {
    local i name
    for ((i = ${#PM_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
        eval "${PM_EXIT_HOOKS[$i]}" || true
    done
    PM_EXIT_HOOKS=()
    for name in "${PM_CLUSTER_NAMES[@]}"; do
        pm_pg_stop "$PM_CLUSTER_BASE/$name"
    done
    PM_CLUSTER_NAMES=()
    # Clusters of child scripts that died without cleaning up after themselves.
    if [[ -n "$PM_CLUSTER_BASE" && -d "$PM_CLUSTER_BASE" ]]; then
        local pidfile
        while IFS= read -r pidfile; do
            pm_pg_stop "${pidfile%/data/postmaster.pid}"
        done < <(find "$PM_CLUSTER_BASE" -mindepth 3 -maxdepth 4 -path '*/data/postmaster.pid')
    fi
    PM_CLUSTER_PORTS=()
    if [[ -n "$PM_CLUSTER_BASE" && -d "$PM_CLUSTER_BASE" && -z "${PM_KEEP_CLUSTERS:-}" ]]; then
        rm -rf "$PM_CLUSTER_BASE"
    elif [[ -n "$PM_CLUSTER_BASE" && -d "$PM_CLUSTER_BASE" ]]; then
        pm_log "PM_KEEP_CLUSTERS set: logs and data kept in $PM_CLUSTER_BASE"
    fi
    PM_CLUSTER_BASE=
    export PM_CLUSTER_ROOT=$PM_CLUSTER_PARENT_ROOT
}

pm_on_exit() { PM_EXIT_HOOKS+=("$1"); }

# Signals become an exit so the EXIT trap runs exactly once and the status says why.
pm_install_traps() {
    [[ -n "$PM_CLUSTER_TRAPS_SET" ]] && return 0
    PM_CLUSTER_TRAPS_SET=1
    trap 'pm_cleanup' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

pm_cluster_start() {
    local name=$1 cron_db=${2:-postgres} extra_conf=${3:-} dir port
    if [[ -n "${PM_CLUSTER_PORTS[$name]:-}" ]]; then
        pm_log "cluster '$name' already running on port ${PM_CLUSTER_PORTS[$name]}"
        return 1
    fi
    pm_install_traps
    if [[ -z "$PM_CLUSTER_BASE" ]]; then
        # Under /tmp, not under the repository: the repository may sit in /root, which the
        # postgres OS user cannot enter.  A child script that sources this harness nests its
        # clusters inside ours (PM_CLUSTER_ROOT), so if it is killed before its own trap
        # runs, our cleanup still finds and stops them.
        PM_CLUSTER_BASE=$(mktemp -d "$PM_CLUSTER_PARENT_ROOT/pm-clusters.XXXXXX")
        chmod 0755 "$PM_CLUSTER_BASE"
        export PM_CLUSTER_ROOT=$PM_CLUSTER_BASE
    fi
    dir=$PM_CLUSTER_BASE/$name
    # Registered before initdb so that a failure half-way still gets cleaned up.
    PM_CLUSTER_NAMES+=("$name")
    pm_initdb_configured "$dir" "$cron_db" "$extra_conf" || return 1
    port=$(pm_free_port) || return 1
    port=$(pm_pg_start "$dir" "$port") || return 1
    PM_CLUSTER_PORTS[$name]=$port
    pm_log "started '$name' on port $port (socket dir $dir/sock)"
}

pm_cluster_dir()  { printf '%s\n' "$PM_CLUSTER_BASE/$1"; }
pm_cluster_host() { printf '%s\n' "$PM_CLUSTER_BASE/$1/sock"; }
pm_cluster_port() {
    [[ -n "${PM_CLUSTER_PORTS[$1]:-}" ]] || { pm_log "no cluster named '$1'"; return 1; }
    printf '%s\n' "${PM_CLUSTER_PORTS[$1]}"
}

# libpq environment for psql, pg_prove, pgbench and make installcheck.
pm_cluster_use() {
    local port
    port=$(pm_cluster_port "$1") || return 1
    export PGHOST="$PM_CLUSTER_BASE/$1/sock" PGPORT="$port" PGUSER=postgres
    export PGDATABASE=${2:-postgres}
}

# Stops a cluster but keeps it registered (and its data): for outage tests.
pm_cluster_stop() {
    pm_pg_stop "$PM_CLUSTER_BASE/$1"
}

# (Re)starts a cluster on the port it had: clients configured with that port reconnect.
pm_cluster_restart() {
    local name=$1 port
    port=$(pm_cluster_port "$name") || return 1
    pm_pg_stop "$PM_CLUSTER_BASE/$name"
    pm_pg_start "$PM_CLUSTER_BASE/$name" "$port" fixed >/dev/null
}

# psql against a named cluster, stopping at the first error.
pm_psql() {
    local name=$1
    shift
    local port
    port=$(pm_cluster_port "$name") || return 1
    psql -X -q -v ON_ERROR_STOP=1 -h "$PM_CLUSTER_BASE/$name/sock" -p "$port" -U postgres "$@"
}

# "ext version, ..." of the versions the installed control files name, by extension name: what
# ALTER EXTENSION ... UPDATE reaches (tests of an upgrade path compare with it).
pm_default_versions() {   # cluster extension...
    local name=$1
    shift
    pm_psql "$name" -d postgres -At -v exts="$*" <<'SQL'
SELECT string_agg(name || ' ' || default_version, ', ' ORDER BY name)
FROM pg_available_extensions WHERE name = ANY (string_to_array(:'exts', ' '))
SQL
}
