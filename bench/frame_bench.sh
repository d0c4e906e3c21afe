#!/usr/bin/env bash
# frame_bench.sh - end-to-end MB/s of a 64 MB binary request (frame, v2 binary, gzip frame) against bare libmicrohttpd, and lossd's peak memory.
#
#   BUILD=build bash bench/frame_bench.sh        (make bench runs it)
#
# One float32 request of N=16384 rows x C=1024 (64 MiB of tensor bytes)
# is POSTed with curl over loopback as:
#   frame  MML1 frame (docs/wire.md, "Binary frame") to /v1/multi_margin_loss
#   v2     tritonclient-style binary tensors to /v2/models/.../infer
#   gzip   the frame with Content-Encoding: gzip (gzip -1)
#   bare   the frame's bytes to $BUILD/bench/bare_mhd, which drops them
# RUNS runs each (default 5), alternating, and prints the median seconds
# and MB/s (uncompressed bytes / wall time), with the ratio frame/bare
# (target >= 0.7). Then a fresh lossd scores one frame and its VmHWM is
# printed against the target 1.3 x tensor bytes + 32 MiB.
set -u

BUILD=${BUILD:-build}
RUNS=${RUNS:-5}
LOSSD=${LOSSD:-$BUILD/lossd}
BARE=${BARE:-$BUILD/bench/bare_mhd}
PY=${PY:-/usr/bin/python3}
N=${N:-16384}
C=${C:-1024}
# shellcheck source=tests/lib.sh
. tests/lib.sh fbench

die() {
    echo "frame_bench: $*" >&2
    exit 1
}

[ -x "$LOSSD" ] || die "no $LOSSD (run make)"
[ -x "$BARE" ] || die "no $BARE (run make)"

# The request bodies, and the v2 header length in $TMP/v2.hlen.
"$PY" - "$TMP" "$N" "$C" <<'EOF' || die "cannot build the request files"
import json, struct, sys
import numpy as np
tmp, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
x = rng.standard_normal((n, c), dtype=np.float32)
y = rng.integers(0, c, n, dtype=np.int64)
xb, yb = x.astype("<f4").tobytes(), y.astype("<i8").tobytes()
with open(f"{tmp}/frame.bin", "wb") as f:
    f.write(b"MML1" + struct.pack("<BBBBB3xiQQ", 1, 2, 1, 1, 0, 1, n, c))
    f.write(xb)
    f.write(yb)
hdr = json.dumps({"inputs": [
    {"name": "INPUT", "shape": [n, c], "datatype": "FP32", "parameters": {"binary_data_size": len(xb)}},
    {"name": "TARGET", "shape": [n], "datatype": "INT64", "parameters": {"binary_data_size": len(yb)}}],
    "parameters": {"binary_data_output": True}}, separators=(",", ":")).encode()
with open(f"{tmp}/v2.bin", "wb") as f:
    f.write(hdr)
    f.write(xb)
    f.write(yb)
open(f"{tmp}/v2.hlen", "w").write(str(len(hdr)))
open(f"{tmp}/tensor.bytes", "w").write(str(len(xb) + len(yb)))
EOF
gzip -1 -c "$TMP/frame.bin" >"$TMP/frame.gz"
HLEN=$(cat "$TMP/v2.hlen")
TENSOR=$(cat "$TMP/tensor.bytes")
FRAME_BYTES=$(stat -c %s "$TMP/frame.bin")
MAXB=$((FRAME_BYTES * 2))

# post URL OUT FILE [CURL ARGS...]: one request; appends "seconds" to OUT.
post() {
    local url=$1 out=$2 file=$3
    shift 3
    local res
    res=$(curl -sS --max-time 120 -o "$TMP/resp" -w '%{http_code} %{time_total}' \
        -H 'Expect:' --data-binary @"$file" "$@" "$url") || die "curl $url failed"
    [ "${res%% *}" = 200 ] || die "$url answered ${res%% *}: $(head -c 300 "$TMP/resp")"
    echo "${res#* }" >>"$out"
}

start_cmd lossd "$LOSSD" --listen 127.0.0.1:0 --max-body "$MAXB"
L="http://127.0.0.1:$PORT"
start_cmd bare "$BARE" 0
B="http://127.0.0.1:$PORT"

echo "frame_bench: float32 N=$N C=$C ($FRAME_BYTES byte frame, gzip -1 $(stat -c %s "$TMP/frame.gz") bytes), $RUNS runs each, curl over loopback"
OCT=(-H 'Content-Type: application/octet-stream')
post "$L/v1/multi_margin_loss" "$TMP/warm" "$TMP/frame.bin" "${OCT[@]}"
post "$B/" "$TMP/warm" "$TMP/frame.bin" "${OCT[@]}"
for i in $(seq 1 "$RUNS"); do
    post "$L/v1/multi_margin_loss" "$TMP/frame.t" "$TMP/frame.bin" "${OCT[@]}"
    post "$B/" "$TMP/bare.t" "$TMP/frame.bin" "${OCT[@]}"
    post "$L/v2/models/multi_margin_loss/infer" "$TMP/v2.t" "$TMP/v2.bin" \
        -H "Inference-Header-Content-Length: $HLEN" -H 'Content-Type:'
    post "$L/v1/multi_margin_loss" "$TMP/gzip.t" "$TMP/frame.gz" "${OCT[@]}" \
        -H 'Content-Encoding: gzip'
    echo "  run $i: frame $(tail -n1 "$TMP/frame.t") s, bare $(tail -n1 "$TMP/bare.t") s," \
        "v2 $(tail -n1 "$TMP/v2.t") s, gzip $(tail -n1 "$TMP/gzip.t") s"
done
kill "$SPID" 2>/dev/null

# Peak memory: a fresh server scores one frame.
start_cmd mem "$LOSSD" --listen 127.0.0.1:0 --max-body "$MAXB"
post "http://127.0.0.1:$PORT/v1/multi_margin_loss" "$TMP/mem.t" "$TMP/frame.bin" "${OCT[@]}"
HWM_KB=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SPID/status")

"$PY" - "$TMP" "$FRAME_BYTES" "$TENSOR" "$HWM_KB" <<'EOF'
import statistics, sys
tmp, size, tensor, hwm_kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def med(name):
    return statistics.median(float(l) for l in open(f"{tmp}/{name}.t") if l.strip())
t = {k: med(k) for k in ("frame", "bare", "v2", "gzip")}
print(f"{'':8} {'median s':>9} {'MB/s':>8}   (MB = 1e6 uncompressed bytes)")
for k in ("frame", "v2", "gzip", "bare"):
    print(f"{k:8} {t[k]:9.4f} {size / t[k] / 1e6:8.0f}")
ratio = t["bare"] / t["frame"]
print(f"ratio frame/bare = {ratio:.2f} (target >= 0.7){'' if ratio >= 0.7 else '  BELOW TARGET'}")
print(f"ratio v2/bare    = {t['bare'] / t['v2']:.2f}, gzip/bare = {t['bare'] / t['gzip']:.2f}")
hwm = hwm_kb * 1024
target = 1.3 * tensor + 32 * 2**20
print(f"peak memory (VmHWM) {hwm / 2**20:.1f} MiB for {tensor / 2**20:.1f} MiB of tensors; "
      f"target <= {target / 2**20:.1f} MiB{'' if hwm <= target else '  ABOVE TARGET'}")
EOF
