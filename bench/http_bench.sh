#!/usr/bin/env bash
# http_bench.sh - HTTP throughput of lossd against a bare libmicrohttpd server, with wrk.
#
#   BUILD=build bash bench/http_bench.sh        (make bench runs it)
#
# Starts $BUILD/lossd (as configured by default, one event loop per core),
# lossd with --http-threads 1 (one loop, like the baseline) and
# $BUILD/bench/bare_mhd (one loop) on free loopback ports and runs wrk
# (-t2 -c32, DURATION seconds, default 10) with a Lua script that POSTs the
# same N=32, C=10 float32 JSON request to each (bare_mhd drops the body and
# answers a fixed one). RUNS runs each (default 3), alternating, then
# prints the median requests/s, p50 and p99 latency and the ratios to bare
# (target >= 0.6 for the default). Extra lossd flags: LOSSD_FLAGS.
set -u

BUILD=${BUILD:-build}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
LOSSD=${LOSSD:-$BUILD/lossd}
BARE=${BARE:-$BUILD/bench/bare_mhd}
# shellcheck source=tests/lib.sh
. tests/lib.sh bench

die() {
    echo "http_bench: $*" >&2
    exit 1
}

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
[ -x "$LOSSD" ] || die "no $LOSSD (run make)"
[ -x "$BARE" ] || die "no $BARE (run make)"

# The request: N=32 rows of C=10 values, as a dashboard would send it.
python3 - >"$TMP/body.json" <<'EOF'
import json, random
random.seed(7)
n, c = 32, 10
print(json.dumps({"input": [[round(random.uniform(-2, 2), 4) for _ in range(c)] for _ in range(n)],
                  "target": [random.randrange(c) for _ in range(n)],
                  "p": 1, "margin": 1, "reduction": "mean", "dtype": "float32"},
                 separators=(",", ":")), end="")
EOF
cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$TMP/body.json", "rb")
wrk.body = f:read("*a")
f:close()
EOF

# shellcheck disable=SC2086
start_cmd lossd "$LOSSD" --listen 127.0.0.1:0 ${LOSSD_FLAGS:-}
LOSSD_PORT=$PORT
# shellcheck disable=SC2086
start_cmd lossd1 "$LOSSD" --listen 127.0.0.1:0 --http-threads 1 ${LOSSD_FLAGS:-}
LOSSD1_PORT=$PORT
start_cmd bare "$BARE" 0
BARE_PORT=$PORT

code=$(curl -s -o "$TMP/check" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$TMP/body.json" "http://127.0.0.1:$LOSSD_PORT/v1/multi_margin_loss")
[ "$code" = 200 ] || die "lossd answered $code to the bench request: $(cat "$TMP/check")"

# run NAME PORT I: one wrk run, results appended to $TMP/NAME.results as
# "rps p50_us p99_us".
run() {
    local name=$1 port=$2 i=$3
    local out="$TMP/$name.$i.wrk"
    wrk -t2 -c32 -d"${DURATION}s" --latency -s "$TMP/post.lua" \
        "http://127.0.0.1:$port/v1/multi_margin_loss" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
    grep -q 'Non-2xx' "$out" && die "$name answered non-2xx during the run: $(cat "$out")"
    python3 - "$out" >>"$TMP/$name.results" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def us(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = us(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = us(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
print(f"{rps:.0f} {p50:.0f} {p99:.0f}")
EOF
    echo "  run $i $name: $(tail -n 1 "$TMP/$name.results" | awk '{printf "%s req/s, p50 %s us, p99 %s us", $1, $2, $3}')"
}

echo "http_bench: wrk -t2 -c32 -d${DURATION}s, POST N=32 C=10 float32 JSON, $RUNS runs each"
for i in $(seq 1 "$RUNS"); do
    run lossd "$LOSSD_PORT" "$i"
    run lossd1 "$LOSSD1_PORT" "$i"
    run bare "$BARE_PORT" "$i"
done

python3 - "$TMP/lossd.results" "$TMP/lossd1.results" "$TMP/bare.results" "$(nproc)" <<'EOF'
import statistics, sys
def med(path):
    rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
    return [statistics.median(col) for col in zip(*rows)]
l, l1, b = med(sys.argv[1]), med(sys.argv[2]), med(sys.argv[3])
loops = min(int(sys.argv[4]), 8)
print(f"{'':24} {'req/s':>10} {'p50 us':>8} {'p99 us':>8}   (medians)")
print(f"{f'lossd ({loops} loops, default)':24} {l[0]:10.0f} {l[1]:8.0f} {l[2]:8.0f}")
print(f"{'lossd --http-threads 1':24} {l1[0]:10.0f} {l1[1]:8.0f} {l1[2]:8.0f}")
print(f"{'bare (1 loop)':24} {b[0]:10.0f} {b[1]:8.0f} {b[2]:8.0f}")
ratio = l[0] / b[0]
print(f"ratio lossd/bare = {ratio:.2f} (target >= 0.6){'' if ratio >= 0.6 else '  BELOW TARGET'}")
print(f"ratio lossd --http-threads 1/bare = {l1[0] / b[0]:.2f} (same threading as bare)")
EOF
