#!/usr/bin/env bash
# integration_smoke.sh - runs tests/smoke.sh (the deployment smoke test) against a fresh lossd.
#
#   LOSSD=build/lossd bash tests/integration_smoke.sh
set -u

LOSSD=${LOSSD:-build/lossd}
LOG=$(mktemp "${TMPDIR:-/tmp}/lossd-smoke-server.XXXXXX")
SPID=

cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    rm -f "$LOG"
}
trap cleanup EXIT

"$LOSSD" --listen 127.0.0.1:0 2>"$LOG" &
SPID=$!
PORT=
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG" | head -n 1)
    [ -n "$PORT" ] && break
    kill -0 "$SPID" 2>/dev/null || { echo "FAIL: lossd exited at start-up"; cat "$LOG"; exit 1; }
    sleep 0.05
done
[ -n "$PORT" ] || { echo "FAIL: no 'listening on' line within 5 s"; exit 1; }
bash tests/smoke.sh "http://127.0.0.1:$PORT"
