#!/usr/bin/env bash
# json_memory.sh - peak memory of lossd while it scores a 48 MB JSON request.
#
#   BUILD=build bash bench/json_memory.sh       (make bench runs it)
#
# Builds a 4096 x 1000 float32 request document (numbers printed with 9
# significant digits, about 48 MB), starts a fresh lossd, POSTs it once,
# and reads the server's VmHWM from /proc. Target: peak <= 1.5 x the tensor
# bytes + 32 MB. Runs twice: "dtype" before "input" (converted as decoded)
# and after it (kept as float64 until the end of the body).
set -u

BUILD=${BUILD:-build}
LOSSD=${LOSSD:-$BUILD/lossd}
# shellcheck source=tests/lib.sh
. tests/lib.sh jsonmem

die() {
    echo "json_memory: $*" >&2
    exit 1
}

[ -x "$LOSSD" ] || die "no $LOSSD (run make)"

/usr/bin/python3 - "$TMP" <<'PY' || die "cannot write the request"
import random, sys
random.seed(11)
n, c = 4096, 1000
rows = ",".join("[" + ",".join("%.9g" % random.uniform(-3, 3) for _ in range(c)) + "]"
                for _ in range(n))
target = ",".join(str(random.randrange(c)) for _ in range(n))
with open(sys.argv[1] + "/first.json", "w") as f:
    f.write('{"dtype":"float32","input":[%s],"target":[%s]}' % (rows, target))
with open(sys.argv[1] + "/last.json", "w") as f:
    f.write('{"input":[%s],"target":[%s],"dtype":"float32"}' % (rows, target))
PY

TENSOR=$((4096 * 1000 * 4 + 4096 * 8))
for order in first last; do
    start_server "mem-$order" --threads 2
    code=$(curl -s -o "$TMP/out" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @"$TMP/$order.json" "http://127.0.0.1:$PORT/v1/multi_margin_loss")
    [ "$code" = 200 ] || die "lossd answered $code: $(head -c 300 "$TMP/out")"
    hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SPID/status")
    kill "$SPID"
    wait "$SPID" 2>/dev/null
    /usr/bin/python3 - "$order" "$hwm" "$TENSOR" "$(stat -c %s "$TMP/$order.json")" <<'PY'
import sys
order, hwm_kb, tensor, body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
hwm, limit = hwm_kb * 1024, 1.5 * tensor + 32 * 2**20
print(f"json_memory: dtype {order:5s}: body {body / 1e6:.1f} MB, tensors {tensor / 2**20:.1f} MiB, "
      f"server peak {hwm / 2**20:.1f} MiB, target <= 1.5 x tensors + 32 MiB = {limit / 2**20:.1f} MiB: "
      f"{'ok' if hwm <= limit else 'OVER'}")
PY
done
