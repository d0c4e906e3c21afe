#!/usr/bin/env bash
# smoke.sh - curl-only smoke checks against any running lossd deployment.
#
#   tests/smoke.sh http://localhost:8080
#
# Checks liveness, readiness, the metrics endpoint, a JSON score with its
# known value, the same score as a binary frame and as a v2 infer, and a
# 400 with its error type. Prints one line per check and
# exits non-zero with a "FAIL:" line at the first failure.
# shellcheck disable=SC2015  # "A && B || fail" is fine: fail exits
set -u

URL=${1:-${LOSSD_URL:-}}
if [ -z "$URL" ]; then
    echo "usage: $0 URL   (e.g. $0 http://localhost:8080)" >&2
    exit 2
fi
URL=${URL%/}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lossd-smoke.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

# req NAME CURL-ARGS...: sets CODE and BODY.
req() {
    local name=$1
    shift
    CODE=$(curl -sS --max-time 10 -o "$TMP/body" -w '%{http_code}' "$@") ||
        fail "$name: cannot reach $URL"
    BODY=$(cat "$TMP/body")
}

req healthz "$URL/healthz"
[ "$CODE" = 200 ] && [ "$BODY" = '{"status":"ok"}' ] || fail "GET /healthz: $CODE $BODY"
echo "ok   GET /healthz"

req readyz "$URL/readyz"
[ "$CODE" = 200 ] || fail "GET /readyz: $CODE $BODY (draining?)"
echo "ok   GET /readyz"

req metrics "$URL/metrics"
[ "$CODE" = 200 ] || fail "GET /metrics: $CODE"
for m in lossd_requests_total lossd_request_duration_seconds_bucket lossd_build_info; do
    grep -q "^$m" "$TMP/body" || fail "GET /metrics: no $m series"
done
echo "ok   GET /metrics"

req score -X POST -H 'Content-Type: application/json' -H 'X-Request-Id: smoke-1' \
    --data-binary '{"input":[[1,1,1],[1,1,1],[1,1,1]],"target":[1,2,1],"weight":[1,1,1],"reduction":"mean","dtype":"float32"}' \
    "$URL/v1/multi_margin_loss"
[ "$CODE" = 200 ] || fail "POST /v1/multi_margin_loss: $CODE $BODY"
[ "$BODY" = '{"loss":0.6666667,"shape":[],"dtype":"float32","reduction":"mean"}' ] ||
    fail "POST /v1/multi_margin_loss: expected loss 0.6666667, got $BODY"
echo "ok   POST /v1/multi_margin_loss = 0.6666667"

req error -X POST -H 'Content-Type: application/json' \
    --data-binary '{"input":[[1,2]],"target":[0],"p":3}' "$URL/v1/multi_margin_loss"
[ "$CODE" = 400 ] || fail "p=3: expected 400, got $CODE $BODY"
case "$BODY" in
    *'"type":"ValueError"'*'"field":"p"'*) ;;
    *) fail "p=3: expected a ValueError on field p, got $BODY" ;;
esac
echo "ok   POST with p=3 is 400 ValueError"

# The same ones(3,3) request as a binary frame (docs/wire.md, "Binary
# frame"): header "MML1", version 1, float32, p 1, mean, weight flag,
# margin 1, N 3, C 3, then the float32 ones, the int64 targets and the
# float32 weight, little-endian.
one() { printf '\000\000\200\077'; }         # float32 1.0
{
    printf 'MML1\001\002\001\001\001\000\000\000\001\000\000\000'
    printf '\003\000\000\000\000\000\000\000\003\000\000\000\000\000\000\000'
    for _ in 1 2 3 4 5 6 7 8 9; do one; done
    printf '\001\000\000\000\000\000\000\000\002\000\000\000\000\000\000\000'
    printf '\001\000\000\000\000\000\000\000'
    one; one; one
} >"$TMP/frame.bin"
req frame -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @"$TMP/frame.bin" "$URL/v1/multi_margin_loss"
[ "$CODE" = 200 ] || fail "binary frame: $CODE $BODY"
[ "$BODY" = '{"loss":0.6666667,"shape":[],"dtype":"float32","reduction":"mean"}' ] ||
    fail "binary frame: expected loss 0.6666667, got $BODY"
echo "ok   POST /v1/multi_margin_loss binary frame = 0.6666667"

req v2 -X POST -H 'Content-Type: application/json' \
    --data-binary '{"id":"smoke","inputs":[{"name":"INPUT","datatype":"FP32","shape":[3,3],"data":[1,1,1,1,1,1,1,1,1]},{"name":"TARGET","datatype":"INT64","shape":[3],"data":[1,2,1]}],"parameters":{"reduction":"mean"}}' \
    "$URL/v2/models/multi_margin_loss/infer"
[ "$CODE" = 200 ] || fail "v2 infer: $CODE $BODY"
case "$BODY" in
    *'"id":"smoke"'*'"name":"LOSS","datatype":"FP32","shape":[],"data":[0.6666667]'*) ;;
    *) fail "v2 infer: expected LOSS [0.6666667], got $BODY" ;;
esac
echo "ok   POST /v2/models/multi_margin_loss/infer LOSS = 0.6666667"

echo "smoke: all checks passed against $URL"
