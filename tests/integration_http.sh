#!/usr/bin/env bash
# integration_http.sh - end-to-end HTTP tests of lossd with curl (python3 for the concurrent parts).
#
#   LOSSD=./build/lossd bash tests/integration_http.sh
#
# Starts its own servers on free loopback ports (--listen 127.0.0.1:0, the
# bound port is read from the start-up log line), talks only to 127.0.0.1,
# stops every server on exit, and bounds every step in time. Prints one
# "ok" line per check and stops at the first failure with a FAIL line.
# shellcheck disable=SC2015  # "A && B || fail" is fine: fail exits
set -u

GOLDEN=${GOLDEN:-tests/data/golden.jsonl}
CURL=(curl -sS --max-time 30)
# shellcheck source=tests/lib.sh
. tests/lib.sh it

# wait_exit PID SECONDS: sets EXIT_CODE, fails when the process outlives SECONDS.
wait_exit() {
    local pid=$1 limit=$2
    for _ in $(seq 1 $((limit * 20))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            EXIT_CODE=$?
            return 0
        fi
        sleep 0.05
    done
    fail "process $pid still running after ${limit}s"
}

# post BODY [CURL ARGS...]: POST a body to the scoring route with Content-Type
# $CT (application/json unless set; empty sends none); sets CODE, BODY, HDRS.
post() {
    local data=$1
    shift
    CODE=$("${CURL[@]}" -o "$TMP/body" -D "$TMP/hdrs" -w '%{http_code}' \
        -H "Content-Type: ${CT-application/json}" --data-binary "$data" "$@" \
        "$URL/v1/multi_margin_loss") || fail "curl POST failed"
    BODY=$(cat "$TMP/body")
    HDRS=$(cat "$TMP/hdrs")
}

# get PATH [CURL ARGS...]: sets CODE, BODY, HDRS.
get() {
    local path=$1
    shift
    CODE=$("${CURL[@]}" -o "$TMP/body" -D "$TMP/hdrs" -w '%{http_code}' "$@" "$URL$path") ||
        fail "curl GET $path failed"
    BODY=$(cat "$TMP/body")
    HDRS=$(cat "$TMP/hdrs")
}

header() { printf '%s\n' "$HDRS" | tr -d '\r' | sed -n "s/^$1: //Ip" | head -n 1; }

# logged FILE TEXT: whether FILE gets a line with TEXT within 2 s (a
# request's log line is written once its connection is done).
logged() {
    for _ in $(seq 1 40); do
        grep -qF -- "$2" "$1" && return 0
        sleep 0.05
    done
    return 1
}

# expect_error STATUS TYPE [FIELD]: the last response is that JSON error.
expect_error() {
    local what="$1 $2${3:+ field=$3}"
    [ "$CODE" = "$1" ] || fail "expected $what, got $CODE: $BODY"
    python3 - "$BODY" "$2" "${3:-}" <<'EOF' || fail "expected $what, got $CODE: $BODY"
import json, sys
e = json.loads(sys.argv[1])["error"]
assert e["type"] == sys.argv[2], e
assert sys.argv[3] == "" or e.get("field") == sys.argv[3], e
assert isinstance(e["message"], str) and e["message"], e
EOF
}

# ---------------------------------------------------------------- flags
check_bad_flags() {
    local args
    while IFS= read -r args; do
        # shellcheck disable=SC2086
        timeout 5 "$LOSSD" $args >"$TMP/out" 2>&1
        local rc=$?
        [ "$rc" = 2 ] || fail "lossd $args: exit $rc, expected 2"
        grep -q . "$TMP/out" || fail "lossd $args: no error message"
    done <<'EOF'
--threads 0
--http-threads 0
--threads abc
--threads 5000
--max-body -1
--max-body 12x
--max-memory -1
--max-memory 1e9
--queue-depth 0
--timeout 0
--drain-timeout nope
--listen nope
--listen 1.2.3.4.5:80
--listen 127.0.0.1:70000
--listen [::1:80
--log-format xml
--cors-origins dash.example.com
--bogus
--threads
EOF
    local rc
    LOSSD_THREADS=abc timeout 5 "$LOSSD" --listen 127.0.0.1:0 >/dev/null 2>&1
    rc=$?
    [ "$rc" = 2 ] || fail "LOSSD_THREADS=abc: exit $rc, expected 2"
    LOSSD_SIMD=bogus timeout 5 "$LOSSD" --listen 127.0.0.1:0 >"$TMP/out" 2>&1
    rc=$?
    [ "$rc" = 2 ] || fail "LOSSD_SIMD=bogus: exit $rc, expected 2"
    ok "bad flags, environment values and LOSSD_SIMD exit 2 with a message"

    timeout 5 "$LOSSD" --help >"$TMP/out" 2>&1 || fail "--help failed"
    local f
    for f in --listen LOSSD_LISTEN --threads LOSSD_THREADS --max-body LOSSD_MAX_BODY \
        --max-memory LOSSD_MAX_MEMORY \
        --queue-depth LOSSD_QUEUE_DEPTH --timeout LOSSD_TIMEOUT --drain-timeout \
        LOSSD_DRAIN_TIMEOUT --log-format LOSSD_LOG_FORMAT --cors-origins LOSSD_CORS_ORIGINS; do
        grep -q -- "$f" "$TMP/out" || fail "--help does not mention $f"
    done
    timeout 5 "$LOSSD" --version | grep -q '^lossd ' || fail "--version"
    ok "--help lists every flag and its environment twin; --version"
}

# ---------------------------------------------------------------- basics
check_probes() {
    get /healthz
    [ "$CODE" = 200 ] && [ "$BODY" = '{"status":"ok"}' ] || fail "/healthz: $CODE $BODY"
    [ "$(header Content-Type)" = application/json ] || fail "/healthz content type"
    get /readyz
    [ "$CODE" = 200 ] || fail "/readyz: $CODE $BODY"
    get /healthz -I
    [ "$CODE" = 200 ] || fail "HEAD /healthz: $CODE"
    get /v1/info
    [ "$CODE" = 200 ] || fail "/v1/info: $CODE"
    python3 - "$BODY" <<'EOF' || fail "/v1/info body: $BODY"
import json, sys
i = json.loads(sys.argv[1])
assert i["version"] and i["simd"] and i["threads"] == 2, i
assert i["limits"]["max_body"] > 0 and i["limits"]["queue_depth"] > 0, i
assert i["limits"]["max_connections"] > 0 and i["limits"]["min_body_rate"] == 8192, i
assert i["limits"]["max_connections_per_ip"] == 0, i
assert i["cors_origins"] == [], i
EOF
    ok "/healthz, /readyz, HEAD, /v1/info"
}

check_request_id() {
    get /healthz -H 'X-Request-Id: trace-abc.123'
    [ "$(header X-Request-Id)" = trace-abc.123 ] || fail "X-Request-Id not echoed: $HDRS"
    get /healthz
    local a
    a=$(header X-Request-Id)
    get /healthz
    [ -n "$a" ] && [ "$a" != "$(header X-Request-Id)" ] || fail "generated ids not unique: $a"
    get /healthz -H "X-Request-Id: $(printf 'x%.0s' $(seq 1 100))"
    [ "$(header X-Request-Id | wc -c)" -le 65 ] || fail "an over-long X-Request-Id was echoed"
    get /healthz -H 'X-Request-Id: has space'
    [ "$(header X-Request-Id)" != "has space" ] || fail "an X-Request-Id with a blank was echoed"
    post '{"input":[[1]],"target":[7]}' -H 'X-Request-Id: err-1'
    [ "$(header X-Request-Id)" = err-1 ] || fail "X-Request-Id missing on an error response"
    grep -q 'id=err-1' "$TMP/main.log" || fail "request id not in the access log"
    ok "X-Request-Id echoed when sane, generated and unique otherwise, on errors too"
}

check_hand_worked() {
    post '{"input":[[1,1,1],[1,1,1],[1,1,1]],"target":[1,2,1],"weight":[1,1,1],"reduction":"mean","dtype":"float32"}'
    [ "$CODE" = 200 ] || fail "hand-worked: $CODE $BODY"
    [ "$BODY" = '{"loss":0.6666667,"shape":[],"dtype":"float32","reduction":"mean"}' ] ||
        fail "hand-worked: got $BODY"
    [ "$(header Vary)" = "Accept, Accept-Encoding" ] ||
        fail "uncompressed answer without Vary: $HDRS"
    CT='application/json; charset=utf-8' \
        post '{"input":[[0.1,0.2,0.4,0.8],[0.3,0.9,0.1,0.2]],"target":[3,1],"reduction":"none"}'
    [ "$CODE" = 200 ] || fail "charset parameter: $CODE $BODY"
    CT='' post '{"input":[[1,1,1]],"target":[0]}'
    [ "$CODE" = 200 ] || fail "no Content-Type should be JSON: $CODE $BODY"
    post '{"input":[],"target":[],"reduction":"sum"}'
    [ "$CODE" = 200 ] || fail "empty batch: $CODE $BODY"
    ok "ones(3,3) target [1,2,1] mean float32 = 0.6666667; charset; no Content-Type; N=0"
}

check_golden() {
    python3 - "$URL" "$GOLDEN" <<'EOF' || fail "golden cases through HTTP"
import http.client, json, math, struct, sys
url, path = sys.argv[1], sys.argv[2]
host, port = url[len("http://"):].split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=30)
ulp_tol = {"float16": 1, "float32": 2, "float64": 4}
def num(v):
    return float(v) if isinstance(v, str) else v
def ulps(a, b, dtype):
    if math.isnan(a) or math.isnan(b):
        return 0 if math.isnan(a) and math.isnan(b) else 1 << 60
    if math.isinf(a) or math.isinf(b):
        return 0 if a == b else 1 << 60
    fmt, ifmt = {"float16": ("e", "h"), "float32": ("f", "i"), "float64": ("d", "q")}[dtype]
    def key(x):
        i = struct.unpack(ifmt, struct.pack(fmt, x))[0]
        return i if i >= 0 else -(i & ((1 << (8 * struct.calcsize(ifmt) - 1)) - 1))
    return abs(key(a) - key(b))
cases = [json.loads(l) for l in open(path)]
picked = [c for i, c in enumerate(cases) if i % 7 == 0 or "special" in c["name"] or "empty" in c["name"]]
for c in picked:
    n, ncol = c["shape"]
    rows = [c["input"][i * ncol:(i + 1) * ncol] for i in range(n)]
    req = {"input": rows, "target": c["target"], "p": c["p"], "margin": c["margin"],
           "reduction": c["reduction"], "dtype": c["dtype"], "weight": c["weight"]}
    conn.request("POST", "/v1/multi_margin_loss", json.dumps(req),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"{c['name']}: HTTP {r.status} {body[:200]!r}")
    got = json.loads(body)
    loss = got["loss"] if isinstance(got["loss"], list) else [got["loss"]]
    exact = [num(v) for v in c["exact"]]
    if len(loss) != len(exact) or got["dtype"] != c["dtype"]:
        sys.exit(f"{c['name']}: shape/dtype mismatch: {got}")
    for g, e in zip(loss, exact):
        d = ulps(num(g), e, c["dtype"])
        if d > ulp_tol[c["dtype"]]:
            sys.exit(f"{c['name']}: got {g}, exact {e} ({d} ulp)")
print(f"     {len(picked)} golden cases match within 1/2/4 ulp (f16/f32/f64)")
EOF
    ok "golden cases through HTTP"
}

check_validation_errors() {
    local T='"target":[0]' I='"input":[[1,2]]'
    post "{$I,$T,\"p\":1.0}";          expect_error 400 TypeError p
    post "{$I,$T,\"p\":\"1\"}";        expect_error 400 TypeError p
    post "{$I,$T,\"p\":true}";         expect_error 400 TypeError p
    post "{$I,$T,\"p\":3}";            expect_error 400 ValueError p
    post "{$I,$T,\"margin\":1.5}";     expect_error 400 TypeError margin
    post "{$I,$T,\"margin\":\"1\"}";   expect_error 400 TypeError margin
    post "{$I,$T,\"reduction\":1}";    expect_error 400 TypeError reduction
    post "{$I,$T,\"reduction\":\"avg\"}"; expect_error 400 ValueError reduction
    post "{$I,$T,\"dtype\":\"int32\"}";   expect_error 400 TypeError dtype
    post "{$I,\"target\":[0.5]}";       expect_error 400 TypeError target
    post "{\"input\":[1,2],$T}";        expect_error 400 ValueError input
    post "{$I,\"target\":[[0]]}";       expect_error 400 ValueError target
    post "{$I,$T,\"weight\":[[1,1]]}";  expect_error 400 ValueError weight
    post "{\"input\":[[1,2],[3,4]],$T}"; expect_error 400 ValueError
    post "{$I,$T,\"weight\":[1,1,1]}";  expect_error 400 ValueError weight
    post "{$I,\"target\":[5]}";         expect_error 400 ValueError target
    printf '%s' "$BODY" | grep -q 'target\[0\]' || fail "out-of-range target message lacks the index: $BODY"
    post "{\"input\":[[1,2],[3]],\"target\":[0,0]}"; expect_error 400 ValueError input
    post "{\"input\":[[1,\"x\"]],$T}";  expect_error 400 TypeError input
    post "{$I,$T,\"foo\":1}";           expect_error 400 ValueError
    post "{$I,$T,\"p\":1,\"p\":1}";     expect_error 400 ValueError
    post "{\"input\":[[]],$T}";         expect_error 400 ValueError
    post "{$I,$T,\"margin\":4294967296}"; expect_error 400 ValueError margin
    post '{"input": [[1,2'             ; expect_error 400 BadRequest
    post ''                            ; expect_error 400 BadRequest
    ok "validation errors: 400 with the right type and field"
}

check_http_errors() {
    get /nope
    expect_error 404 NotFound
    get /v1/multi_margin_loss
    expect_error 405 MethodNotAllowed
    [ "$(header Allow)" = POST ] || fail "405 Allow header: $(header Allow)"
    CODE=$("${CURL[@]}" -o "$TMP/body" -D "$TMP/hdrs" -w '%{http_code}' -X DELETE "$URL/healthz")
    BODY=$(cat "$TMP/body")
    HDRS=$(cat "$TMP/hdrs")
    expect_error 405 MethodNotAllowed
    [ "$(header Allow)" = "GET, HEAD" ] || fail "405 Allow header: $(header Allow)"
    CT=text/plain post '{}'
    expect_error 415 UnsupportedMediaType
    CT=application/x-www-form-urlencoded post '{}'
    expect_error 415 UnsupportedMediaType
    post '{}' -H 'Content-Encoding: br'
    expect_error 415 UnsupportedMediaType
    # A client that sends the whole body before it reads gets its 415 too:
    # a body of up to 1 MiB is read and dropped first (it got a broken pipe).
    python3 - "$URL" <<'EOF' || fail "415 for a client that sends the whole body first"
import http.client, json, sys
host, port = sys.argv[1][len("http://"):].split(":")
for headers in ({"Content-Type": "text/plain"}, {"Content-Encoding": "br"}):
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("POST", "/v1/multi_margin_loss", b"x" * (1 << 20), headers)
    r = c.getresponse()
    assert r.status == 415, (headers, r.status)
    assert json.loads(r.read())["error"]["type"] == "UnsupportedMediaType", headers
EOF
    for _ in $(seq 1 40); do   # the log lines of both, each written as its request ends
        [ "$(grep -c "POST /v1/multi_margin_loss 415 in=1048576 " "$TMP/main.log")" = 2 ] && break
        sleep 0.05
    done
    [ "$(grep -c "POST /v1/multi_margin_loss 415 in=1048576 " "$TMP/main.log")" = 2 ] ||
        fail "the 415s did not wait for their 1 MiB bodies"
    CT=text/plain post '{}' -H 'Expect: 100-continue'   # answered before the body
    expect_error 415 UnsupportedMediaType
    logged "$TMP/main.log" "POST /v1/multi_margin_loss 415 in=0 " ||
        fail "415 with Expect: 100-continue was not sent before the body"
    printf '%s' '{"input":[[1,1,1],[1,1,1],[1,1,1]],"target":[1,2,1]}' | gzip -c >"$TMP/req.gz"
    post @"$TMP/req.gz" -H 'Content-Encoding: gzip'
    [ "$CODE" = 200 ] && [ "$BODY" = '{"loss":0.6666667,"shape":[],"dtype":"float32","reduction":"mean"}' ] ||
        fail "gzip request body: $CODE $BODY"
    head -c 20 "$TMP/req.gz" >"$TMP/trunc.gz"
    post @"$TMP/trunc.gz" -H 'Content-Encoding: gzip'
    expect_error 400 BadRequest
    make_big 2000 4 none "$TMP/none.json"
    post @"$TMP/none.json" --compressed
    [ "$CODE" = 200 ] && [ "$(header Content-Encoding)" = gzip ] ||
        fail "gzip response: $CODE $(header Content-Encoding)"
    python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["loss"]) == 2000' \
        "$TMP/body" || fail "gzip response body"
    ok "404, 405 with Allow, 415 (type, encoding) after a body of up to 1 MiB; gzip request and response bodies"
}

check_metrics() {
    get /metrics
    [ "$CODE" = 200 ] || fail "/metrics: $CODE"
    case "$(header Content-Type)" in
        text/plain*version=0.0.4*) ;;
        *) fail "/metrics content type: $(header Content-Type)" ;;
    esac
    local m
    for m in 'lossd_requests_total{route="score",status="200"}' \
        'lossd_requests_total{route="score",status="400"}' \
        'lossd_requests_total{route="score",status="405"}' \
        'lossd_requests_total{route="healthz",status="405"}' \
        'lossd_request_duration_seconds_bucket' 'lossd_request_duration_seconds_count' \
        'lossd_queue_depth ' 'lossd_inflight_requests ' 'lossd_received_bytes_total ' \
        'lossd_scored_elements_total ' 'lossd_request_memory_bytes ' \
        'lossd_request_memory_limit_bytes ' 'lossd_build_info{version='; do
        grep -qF "$m" "$TMP/body" || fail "/metrics lacks $m"
    done
    if command -v promtool >/dev/null; then
        promtool check metrics <"$TMP/body" >"$TMP/promtool.out" 2>&1 ||
            fail "promtool check metrics: $(cat "$TMP/promtool.out")"
        ok "/metrics has every series and passes promtool check metrics"
    else
        ok "/metrics has every series (promtool not installed: format not checked)"
    fi
}

# A big request: N rows x C columns, about 5 bytes an element.
make_big() {
    python3 - "$1" "$2" "$3" >"$4" <<'EOF'
import sys
n, c, red = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
row = "[" + ",".join(str((j % 7) - 3) for j in range(c)) + "]"
sys.stdout.write('{"input":[' + ",".join([row] * n) + '],"target":[' +
                 ",".join(str(i % c) for i in range(n)) + '],"reduction":"' + red + '"}')
EOF
}

# Split into row blocks (3 pool threads) or not (1): the same bits
# (docs/wire.md, "Precision and determinism").
check_determinism() {
    make_big 100000 5 sum "$TMP/split_sum.json"
    make_big 60000 5 none "$TMP/split_none.json"
    local t f
    for t in 1 3; do
        start_server "split$t" --threads "$t"
        for f in split_sum split_none; do
            post @"$TMP/$f.json"
            [ "$CODE" = 200 ] || fail "$f with $t threads: $CODE $BODY"
            cp "$TMP/body" "$TMP/$f.$t.out"
        done
        kill -TERM "$SPID"
        wait_exit "$SPID" 10
    done
    for f in split_sum split_none; do
        cmp -s "$TMP/$f.1.out" "$TMP/$f.3.out" || fail "$f differs between 1 and 3 threads"
    done
    ok "a request split over 3 pool threads answers the same bytes as with 1"
}

# Several front-end loops share the listening socket: concurrent clients
# are all answered alike, each request logged once, and SIGTERM stops
# every loop.
check_fronts() {
    start_server fronts --http-threads 3 --threads 2
    python3 - "$URL" <<'EOF' || fail "concurrent requests over 3 front-end loops"
import http.client, json, sys, threading
host, port = sys.argv[1][len("http://"):].split(":")
body = json.dumps({"input": [[1, 2, 3], [4, 5, 6]], "target": [0, 2], "reduction": "sum"})
res = []
def client():
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    for _ in range(20):
        c.request("POST", "/v1/multi_margin_loss", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        res.append((r.status, r.read()))
ts = [threading.Thread(target=client) for _ in range(12)]
for t in ts: t.start()
for t in ts: t.join()
assert len(res) == 240 and {s for s, _ in res} == {200}, {s for s, _ in res}
assert len({b for _, b in res}) == 1, "answers differ"
c = http.client.HTTPConnection(host, int(port), timeout=30)
c.request("GET", "/v1/info")
info = json.loads(c.getresponse().read())
assert info["http_threads"] == 3, info
EOF
    kill -TERM "$SPID"
    wait_exit "$SPID" 10
    [ "$EXIT_CODE" = 0 ] || fail "lossd --http-threads 3 exited $EXIT_CODE after SIGTERM"
    [ "$(grep -c 'POST /v1/multi_margin_loss 200' "$TMP/fronts.log")" = 240 ] ||
        fail "expected 240 access-log lines for 240 requests"
    ok "--http-threads 3: 240 concurrent requests answered alike, one log line each, clean stop"
}

check_limits() {
    start_server small --max-body 1000 --threads 1 --timeout 1
    make_big 100 10 mean "$TMP/2k.json"
    post @"$TMP/2k.json" -H 'Expect: 100-continue'
    expect_error 413 PayloadTooLarge
    logged "$TMP/small.log" "POST /v1/multi_margin_loss 413 in=0 " ||
        fail "413 with Expect: 100-continue was not sent before the body"
    # Without Expect the client is sending the body and may read nothing
    # until it is done: up to 1 MiB over the limit is read first, then the
    # 413 comes (Python's http.client saw a broken pipe when it did not).
    python3 - "$PORT" <<'EOF' || fail "413 for a client that sends the whole body first"
import http.client, json, sys
for n in (1001, 1000 + (1 << 20)):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
    c.request("POST", "/v1/multi_margin_loss", b"x" * n, {"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 413, (n, r.status)
    assert json.loads(r.read())["error"]["type"] == "PayloadTooLarge"
EOF
    post @"$TMP/2k.json" -H 'Transfer-Encoding: chunked'
    expect_error 413 PayloadTooLarge
    head -c 1000000 /dev/zero | gzip -c >"$TMP/bomb.gz"
    post @"$TMP/bomb.gz" -H 'Content-Encoding: gzip'
    expect_error 413 PayloadTooLarge
    post '{"input":[[1,2]],"target":[0]}' -H 'Transfer-Encoding: chunked'
    [ "$CODE" = 200 ] || fail "small chunked body: $CODE $BODY"
    python3 - "$PORT" <<'EOF' || fail "a stalled request was not closed by --timeout 1"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
t0 = time.time()
while s.recv(4096):
    pass
assert time.time() - t0 < 5, time.time() - t0
EOF
    python3 - "$PORT" <<'EOF' || fail "a client trickling bytes kept its connection past --timeout 1"
import socket, sys, time
# One byte every 0.3 s never lets the idle timeout fire; the per-request
# deadline must close the connection anyway (headers, then a body).
for head in (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",
             b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(head)
    t0 = time.time()
    try:
        while time.time() - t0 < 8:
            s.sendall(b"a")
            time.sleep(0.3)
        sys.exit("still open after 8 s")
    except (BrokenPipeError, ConnectionResetError):
        assert time.time() - t0 < 4, time.time() - t0
EOF
    kill -TERM "$SPID"
    wait_exit "$SPID" 10
    ok "413 from Content-Length, a chunked body and a gzip bomb; stalled and trickling clients time out"
}

# A client that gives up in the middle of an upload is not left in flight
# (libmicrohttpd alone never saw the close when it came with the last
# bytes): a SIGTERM right after finds nothing to drain.
check_client_abort() {
    start_server abort --drain-timeout 10
    python3 - "$PORT" <<'EOF' || fail "aborted uploads"
import socket, sys
for n in (1000, 100000, 4000000):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 40000000\r\n\r\n" + b'{"input":[' + b"1," * (n // 2))
    s.close()
EOF
    sleep 2   # the sweep runs once a second
    kill -TERM "$SPID"
    wait_exit "$SPID" 5
    [ "$EXIT_CODE" = 0 ] || fail "exit $EXIT_CODE after aborted uploads"
    grep -q "draining 0 requests" "$TMP/abort.log" ||
        fail "aborted uploads still in flight: $(tail -n 3 "$TMP/abort.log")"
    ok "uploads the client gave up are closed within a second: SIGTERM drains nothing, exit 0"
}

# --max-memory bounds the tensors of the requests in progress: past it a
# request gets 503 Overloaded with Retry-After, or 413 when it alone could
# never fit, and the memory comes back.
check_memory_budget() {
    start_server budget --max-memory 1000000 --max-body 8000000
    make_big 20000 30 mean "$TMP/budget.json"
    post @"$TMP/budget.json"
    expect_error 413 PayloadTooLarge
    [ -z "$(header Retry-After)" ] || fail "413 from the memory budget says Retry-After"
    printf '%s' "$BODY" | grep -q -- 'whole memory budget of 1000000 bytes (--max-memory)' ||
        fail "413 does not name --max-memory: $BODY"
    # A frame holds its 800 kB of tensors from its header on: while its
    # body is still to come, a JSON request that alone would fit waits.
    python3 - "$PORT" "$URL" >"$TMP/budget.out" <<'EOF' || fail "503 while another request holds the budget: $(cat "$TMP/budget.out")"
import json, socket, struct, sys, urllib.error, urllib.request
n, c = 1000, 192
head = b"MML1" + struct.pack("<BBBBB3xiQQ", 1, 2, 1, 1, 0, 1, n, c)
held = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
held.sendall(b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
             % (32 + n * c * 4 + 8 * n) + head + bytes(4096))
body = json.dumps({"input": [[0.5] * 100] * 200, "target": [0] * 200}).encode()
req = urllib.request.Request(sys.argv[2] + "/v1/multi_margin_loss", body,
                             {"Content-Type": "application/json"})
for _ in range(50):                  # until the frame's header is in
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except urllib.error.HTTPError as e:
        assert e.code == 503 and e.headers["Retry-After"], (e.code, e.read())
        assert b"retry later" in e.read()
        break
else:
    raise SystemExit("no 503 while the frame held its tensors")
held.close()
EOF
    post '{"input":[[1,1,1],[1,1,1],[1,1,1]],"target":[1,2,1]}'
    [ "$CODE" = 200 ] || fail "a small request after the 503: $CODE $BODY"
    get /metrics
    printf '%s\n' "$BODY" | grep -q '^lossd_request_memory_bytes 0$' ||
        fail "memory still held: $(printf '%s\n' "$BODY" | grep '^lossd_request_memory')"
    printf '%s\n' "$BODY" | grep -q '^lossd_request_memory_limit_bytes 1000000$' ||
        fail "memory limit gauge: $(printf '%s\n' "$BODY" | grep '^lossd_request_memory')"
    kill -TERM "$SPID"
    wait_exit "$SPID" 10
    ok "--max-memory: 413 for a request over it alone, 503 with Retry-After while others hold it, memory given back, gauges"
}

check_overload() {
    start_server busy --queue-depth 1 --threads 1
    make_big 200000 8 none "$TMP/big_none.json"
    python3 - "$URL" "$TMP/big_none.json" <<'EOF' || fail "503 under a full queue"
import http.client, json, sys, threading
url, path = sys.argv[1], sys.argv[2]
host, port = url[len("http://"):].split(":")
body = open(path, "rb").read()
res = []
def one():
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    c.request("POST", "/v1/multi_margin_loss", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    res.append((r.status, r.getheader("Retry-After"), r.read()))
ts = [threading.Thread(target=one) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
codes = sorted(s for s, _, _ in res)
assert set(codes) <= {200, 503}, codes
assert 200 in codes and 503 in codes, codes
for s, ra, b in res:
    if s == 503:
        assert ra == "1", ra
        assert json.loads(b)["error"]["type"] == "Overloaded", b
print("     statuses:", codes)
EOF
    ok "503 Overloaded with Retry-After when the job queue is full"
    kill -TERM "$SPID"
    wait_exit "$SPID" 30
}

check_drain() {
    start_server drain --threads 1 --drain-timeout 20
    make_big 200000 8 mean "$TMP/big_mean.json"
    python3 - "$URL" "$TMP/big_mean.json" "$SPID" <<'EOF' || fail "graceful drain"
import http.client, json, os, signal, sys, threading, time
url, path, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = url[len("http://"):].split(":")
body = open(path, "rb").read()
probe = http.client.HTTPConnection(host, int(port), timeout=30)
scorer = http.client.HTTPConnection(host, int(port), timeout=30)
def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()
assert get(probe, "/readyz")[0] == 200
scorer.request("POST", "/v1/multi_margin_loss", b'{"input":[[1,2]],"target":[0]}',
               {"Content-Type": "application/json"})
r = scorer.getresponse(); r.read()
assert r.status == 200
res = []
def one():
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    c.request("POST", "/v1/multi_margin_loss", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    res.append((r.status, r.read()))
ts = [threading.Thread(target=one) for _ in range(4)]
for t in ts: t.start()
# One more request whose body is held back: it is in flight until we send
# the rest, so the drain cannot end before we have looked at it.
import socket
small = b'{"input":[[1,2,3]],"target":[0]}'
slow = socket.create_connection((host, int(port)), timeout=30)
slow.sendall(b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
             b"\r\nContent-Length: %d\r\n\r\n" % len(small) + small[:10])
deadline = time.time() + 20
while True:
    _, m = get(probe, "/metrics")
    inflight = [l for l in m.decode().splitlines() if l.startswith("lossd_inflight_requests ")]
    if int(inflight[0].split()[1]) >= 6:      # the 5 POSTs and this scrape
        break
    assert time.time() < deadline, "requests never in flight"
    time.sleep(0.01)
os.kill(pid, signal.SIGTERM)
# The signal reaches the loop between two turns: poll until it has.
while True:
    st, b = get(probe, "/readyz")
    if st == 503:
        break
    assert st == 200 and time.time() < deadline, (st, b)
    time.sleep(0.01)
# A body of 1 MiB: http.client sends all of it before it reads, so the
# 503 must wait for the body (it got a broken pipe when it did not).
scorer.request("POST", "/v1/multi_margin_loss", b"x" * (1 << 20),
               {"Content-Type": "application/json"})
r = scorer.getresponse(); b = r.read()
assert r.status == 503 and json.loads(b)["error"]["type"] == "Overloaded", (r.status, b)
assert r.getheader("Retry-After") == "1", r.getheaders()
# New connections are refused while the drain goes on (every front stops
# accepting within a loop turn), not queued in the backlog until exit. One
# that reaches the backlog just as the listening socket closes is reset
# instead: the next one is refused.
while True:
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        break
    except ConnectionResetError:
        pass
    assert time.time() < deadline, "new connections still accepted during the drain"
    time.sleep(0.01)
slow.sendall(small[10:])           # the server was draining all along: it answers it
reply = b""
while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
    chunk = slow.recv(65536)
    assert chunk, reply
    reply += chunk
assert reply.startswith(b"HTTP/1.1 200"), reply
for t in ts: t.join()
assert [s for s, _ in res] == [200] * 4, [(s, b[:100]) for s, b in res]
print("     readyz 503 during the drain, new connections refused, 5 in-flight requests "
      "answered 200")
EOF
    wait_exit "$SPID" 25
    [ "$EXIT_CODE" = 0 ] || fail "lossd exited $EXIT_CODE after the drain, expected 0"
    grep -q 'drained' "$TMP/drain.log" || fail "no drain message in the log"
    grep -q "POST /v1/multi_margin_loss 503 in=1048576 " "$TMP/drain.log" ||
        fail "the draining 503 did not wait for its 1 MiB body"
    ok "SIGTERM: readyz 503, new work 503, in-flight requests complete, exit 0"
}

# Ambiguous framing is refused before the body (RFC 9112 6.1, 6.3), an
# out-of-range Content-Length is a 413, and the path is echoed as ASCII.
check_framing() {
    python3 - "$URL" <<'EOF' || fail "framing checks"
import json, sys, urllib.parse
from rawhttp import exchange
u = urllib.parse.urlsplit(sys.argv[1])
def send(head, body=b""):
    status, data = exchange(u.hostname, u.port, head.replace(b"\n", b"\r\n") + body)
    return status, json.loads(data.decode("utf-8"))
body = b'{"input":[[1,1,1],[1,1,1],[1,1,1]],"target":[1,2,1]}'
post = b"POST /v1/multi_margin_loss HTTP/1.1\nHost: x\nContent-Type: application/json\nConnection: close\n"
chunk = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
for head, data, want, text in [
    (post + b"Transfer-Encoding: identity\nContent-Length: %d\n\n" % len(body), body, 400, "only Transfer-Encoding: chunked"),
    (post + b"Transfer-Encoding: gzip, chunked\n\n", chunk, 400, "only Transfer-Encoding: chunked"),
    (post + b"Transfer-Encoding: chunked\nContent-Length: 5\n\n", chunk, 400, "must not both be sent"),
    (post + b"Content-Length: %d\nContent-Length: 3\n\n" % len(body), body, 400, "differ"),
    (post + b"Content-Length: %d\nContent-Length: %d\n\n" % (len(body), len(body)), body, 200, None),
    (post + b"Transfer-Encoding: chunked\n\n", chunk, 200, None),
    (post + b"Content-Length: 18446744073709551614\n\n", b"{", 413, "exceeds the limit"),
    (b"GET /p7%ff%0aX HTTP/1.1\nHost: x\nConnection: close\n\n", b"", 404, "/p7%FF%0AX"),
    (b"GET /healthz HTTP/1.1\nConnection: close\n\n", b"", 400, "must have a Host header"),
    (b"GET /healthz HTTP/1.1\nHost: a\nHost: b\nConnection: close\n\n", b"", 400,
     "more than one Host"),
    (b"POST /v1/multi_margin_loss HTTP/1.0\nContent-Type: application/json\n"
     b"Content-Length: %d\n\n" % len(body), body, 200, None),
    (post.replace(b"POST /v1/", b"POST http://x:1/v1/") + b"Content-Length: %d\n\n" % len(body),
     body, 200, None),
    (b"GET /healthz%00x HTTP/1.1\nHost: x\nConnection: close\n\n", b"", 404, "GET /healthz%00x"),
]:
    status, resp = send(head, data)
    assert status == want, (head, status, resp)
    if text is not None:
        assert text in resp["error"]["message"], (head, resp)
    else:
        assert resp["loss"] == 0.6666667, resp
EOF
    ok "ambiguous framing and HTTP/1.1 without one Host are 400, Content-Length near 2^64 is 413, absolute-form targets, %00 and paths echo as ASCII"
}

# opt [CURL ARGS...]: OPTIONS on the scoring path; sets CODE, BODY, HDRS.
opt() {
    CODE=$("${CURL[@]}" -o "$TMP/body" -D "$TMP/hdrs" -w '%{http_code}' -X OPTIONS "$@" \
        "$URL/v1/multi_margin_loss") || fail "curl OPTIONS failed"
    BODY=$(cat "$TMP/body")
    HDRS=$(cat "$TMP/hdrs")
}

check_cors() {
    # Without --cors-origins (the main server): no CORS headers, OPTIONS is 405.
    post '{"input":[[1,2]],"target":[0]}' -H 'Origin: https://dash.example'
    [ "$CODE" = 200 ] && [ -z "$(header Access-Control-Allow-Origin)" ] ||
        fail "CORS header without --cors-origins: $HDRS"
    opt -H 'Origin: https://dash.example' -H 'Access-Control-Request-Method: POST'
    expect_error 405 MethodNotAllowed
    local url=$URL
    start_server cors --cors-origins 'https://dash.example, http://localhost:3000'
    opt -H 'Origin: http://localhost:3000' -H 'Access-Control-Request-Method: POST' \
        -H 'Access-Control-Request-Headers: content-type,x-request-id,x-amz-meta.trace'
    [ "$CODE" = 204 ] && [ -z "$BODY" ] || fail "preflight: $CODE $BODY"
    [ "$(header Access-Control-Allow-Origin)" = http://localhost:3000 ] &&
        [ "$(header Access-Control-Allow-Methods)" = POST ] &&
        [ "$(header Access-Control-Allow-Headers)" = content-type,x-request-id,x-amz-meta.trace ] &&
        [ "$(header Access-Control-Max-Age)" = 600 ] &&
        [ "$(header Allow)" = "POST, OPTIONS" ] && [ "$(header Vary)" = Origin ] ||
        fail "preflight headers: $HDRS"
    get /v1/info
    python3 -c 'import json,sys; o = json.loads(sys.argv[1])["cors_origins"]
assert o == ["https://dash.example", "http://localhost:3000"], o' "$BODY" ||
        fail "/v1/info cors_origins: $BODY"
    post '{"input":[[1,1,1],[1,1,1],[1,1,1]],"target":[1,2,1]}' -H 'Origin: https://dash.example'
    [ "$CODE" = 200 ] && [ "$(header Access-Control-Allow-Origin)" = https://dash.example ] &&
        [ "$(header Vary)" = "Accept, Accept-Encoding, Origin" ] ||
        fail "CORS answer: $CODE $HDRS"
    case "$(header Access-Control-Expose-Headers)" in
        *X-Request-Id*Retry-After*) ;;
        *) fail "Access-Control-Expose-Headers: $HDRS" ;;
    esac
    post '{"input":[[1,2]],"target":[7]}' -H 'Origin: https://dash.example'
    [ "$CODE" = 400 ] && [ "$(header Access-Control-Allow-Origin)" = https://dash.example ] ||
        fail "CORS on an error: $CODE $HDRS"
    post '{"input":[[1,2]],"target":[0]}' -H 'Origin: https://evil.example'
    [ "$CODE" = 200 ] && [ -z "$(header Access-Control-Allow-Origin)" ] ||
        fail "an unlisted origin was allowed: $HDRS"
    get /healthz -X OPTIONS -H 'Origin: https://dash.example' -H 'Access-Control-Request-Method: GET'
    [ "$CODE" = 204 ] && [ "$(header Access-Control-Allow-Methods)" = "GET, HEAD" ] ||
        fail "preflight on /healthz: $CODE $HDRS"
    get /nope -X OPTIONS -H 'Origin: https://dash.example'
    expect_error 404 NotFound
    get /v1/multi_margin_loss
    expect_error 405 MethodNotAllowed
    [ "$(header Allow)" = "POST, OPTIONS" ] || fail "405 Allow with CORS on: $HDRS"
    get /metrics
    grep -qF 'lossd_requests_total{route="score",status="204"} 1' "$TMP/body" ||
        fail "the preflight is not counted as a 204: $(grep status=.204 "$TMP/body")"
    kill -TERM "$SPID"
    wait_exit "$SPID" 10
    start_server cors_any --cors-origins '*'
    post '{"input":[[1,2]],"target":[0]}' -H 'Origin: https://anyone.example'
    [ "$CODE" = 200 ] && [ "$(header Access-Control-Allow-Origin)" = '*' ] &&
        [ "$(header Vary)" = "Accept, Accept-Encoding" ] || fail "--cors-origins '*': $HDRS"
    get /v1/info       # no Origin: the same answer for every origin, so a cache may keep it
    [ "$(header Access-Control-Allow-Origin)" = '*' ] && [ -z "$(header Vary)" ] ||
        fail "--cors-origins '*' without Origin: $HDRS"
    kill -TERM "$SPID"
    wait_exit "$SPID" 10
    URL=$url
    ok "--cors-origins: preflights 204, listed origins (or *) echoed, others not; none by default"
}

check_access_log() {
    local n
    n=$(grep -c 'POST /v1/multi_margin_loss' "$TMP/main.log")
    [ "$n" -ge 30 ] || fail "access log has only $n scoring lines"
    start_server jsonlog --log-format json
    get /healthz -H 'X-Request-Id: json-log-1'
    "${CURL[@]}" -o /dev/null --path-as-is "$URL/caf%c3%a9%ff" -H 'X-Request-Id: json-log-2'
    kill -TERM "$SPID"
    wait_exit "$SPID" 10
    grep 'json-log-1' "$TMP/jsonlog.log" | python3 -c '
import json, sys
e = json.loads(sys.stdin.readline())
assert e["method"] == "GET" and e["path"] == "/healthz" and e["status"] == 200, e
assert e["request_id"] == "json-log-1" and "duration_s" in e and "bytes_out" in e, e
' || fail "JSON access log line"
    grep 'json-log-2' "$TMP/jsonlog.log" | python3 -c '
import json, sys
e = json.loads(sys.stdin.buffer.readline().decode("utf-8"))
assert e["path"] == "/caf%C3%A9%FF" and e["status"] == 404, e
' || fail "JSON access log line with a non-ASCII path"
    ok "one access-log line per request, plain and JSON"
}

check_bad_flags
start_server main --threads 2
MAIN_PID=$SPID
check_probes
check_request_id
check_hand_worked
check_golden
check_validation_errors
check_http_errors
check_framing
check_metrics
check_cors
check_access_log
kill -TERM "$MAIN_PID"
wait_exit "$MAIN_PID" 10
[ "$EXIT_CODE" = 0 ] || fail "main server exit $EXIT_CODE"
check_determinism
check_fronts
check_limits
check_client_abort
check_memory_budget
check_overload
check_drain
# Sanitizer builds (make SANITIZER=...) report into the server logs.
if grep -l -E 'runtime error:|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer' \
    "$TMP"/*.log >"$TMP/san.out" 2>/dev/null; then
    fail "sanitizer reports in $(tr '\n' ' ' <"$TMP/san.out")"
fi
ok "no sanitizer reports in the server logs"
echo "integration_http: all checks passed"
