# tests/lib/sink.sh — the local external-logging sink (tests/lib/http_sink.py) for
# integration tests (sourced; needs PM_TEST_LIB).
#
#   pm_sink_start PORT LOG PIDFILE OUTFILE   serve on 127.0.0.1:PORT, record accepted POSTs
#                                            in LOG; returns once it answers

pm_sink_start() {
    local port=$1 log=$2 pidfile=$3 out=$4
    python3 "$PM_TEST_LIB/http_sink.py" serve "$port" "$log" >>"$out" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 150); do
        curl -fs "http://127.0.0.1:$port/_stats" >/dev/null 2>&1 && return 0
        kill -0 "$(cat "$pidfile")" 2>/dev/null || break
        sleep 0.1
    done
    echo "the sink on port $port did not start: $(tail -n 3 "$out" 2>/dev/null | tr '\n' ' ')" >&2
    return 1
}
