# lib.sh - shared by tests/integration_*.sh and bench/*.sh: scratch directory, servers on free ports, ok/fail.
#
#   . tests/lib.sh NAME        (from the repository root)
#
# Sets LOSSD (default ./build/lossd) and TMP (removed on exit), kills every
# server it started on exit, and defines:
#   ok TEXT                    one "ok" line
#   fail TEXT                  a FAIL line, the tail of each server log, exit 1
#   start_cmd NAME CMD...      a server that prints "listening on 127.0.0.1:PORT"
#                              on stderr (lossd, bench/bare_mhd); sets PORT, URL
#                              and SPID, its stderr in $TMP/NAME.log
#   start_server NAME [FLAG...]  start_cmd NAME $LOSSD --listen 127.0.0.1:0 FLAG...
# and puts tests/ on PYTHONPATH, for tests/rawhttp.py.
# shellcheck shell=bash disable=SC2034  # PORT, URL, SPID are for the sourcing script

LOSSD=${LOSSD:-./build/lossd}
export PYTHONPATH="$PWD/tests${PYTHONPATH:+:$PYTHONPATH}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lossd-${1:-test}.XXXXXX")
PIDS=()

# Servers still running get SIGTERM (they drain and exit 0), then SIGKILL.
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 1 40); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.05
    done
    for p in "${PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*"
    for f in "$TMP"/*.log; do
        [ -f "$f" ] && { echo "--- last lines of $f"; tail -n 15 "$f"; }
    done
    exit 1
}

ok() { echo "ok   $*"; }

[ -x "$LOSSD" ] || fail "no executable at LOSSD=$LOSSD (run make first)"

start_cmd() {
    local name=$1
    shift
    "$@" 2>"$TMP/$name.log" >/dev/null &
    local pid=$!
    PIDS+=("$pid")
    SPID=$pid
    PORT=""
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$name.log" | head -n 1)
        [ -n "$PORT" ] && break
        kill -0 "$pid" 2>/dev/null || fail "$name: exited at start-up"
        sleep 0.05
    done
    [ -n "$PORT" ] || fail "$name: no 'listening on' line within 5 s"
    URL="http://127.0.0.1:$PORT"
}

start_server() {
    local name=$1
    shift
    start_cmd "$name" "$LOSSD" --listen 127.0.0.1:0 "$@"
}
