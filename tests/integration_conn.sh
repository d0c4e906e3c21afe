#!/usr/bin/env bash
# integration_conn.sh - connections: limits and idle shedding, the lingering close, RFC 9112 strictness, log lines of odd requests.
#
#   LOSSD=./build/lossd bash tests/integration_conn.sh
#
# Loopback only (every client shares 127.0.0.1, as behind one proxy);
# every loop is bounded in time and count. Prints one "ok" line per check
# and stops at the first failure with a FAIL line.
set -u

PY=/usr/bin/python3
# shellcheck source=tests/lib.sh
. tests/lib.sh conn

# stop NAME: SIGTERM the last server started, and wait (10 s at most).
stop() {
    kill -TERM "$SPID" 2>/dev/null
    for _ in $(seq 1 200); do
        kill -0 "$SPID" 2>/dev/null || return 0
        sleep 0.05
    done
    fail "$1: still running 10 s after SIGTERM"
}

# logged FILE TEXT: whether FILE gets a line with TEXT within 4 s.
logged() {
    for _ in $(seq 1 80); do
        grep -qaF -- "$2" "$1" && return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------- limits
# Idle sockets from one address far over --max-connections: the oldest idle
# ones are shed, so /healthz and a small scoring request from the same
# address answer within 1 s, while they sit there and while an attacker
# keeps reconnecting.
check_idle_flood() {
    start_server flood --max-connections 200 --http-threads 2
    "$PY" - "$PORT" <<'EOF' || fail "idle connections locked out honest requests"
import http.client, resource, socket, sys, threading, time
port = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
n_idle = min(5000, hard - 200)
body = b'{"input":[[1,1,1],[1,1,1],[1,1,1]],"target":[1,2,1]}'

def honest(what):
    t0 = time.time()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    if what == "healthz":
        c.request("GET", "/healthz")
    else:
        c.request("POST", "/v1/multi_margin_loss", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    took = time.time() - t0
    assert r.status == 200, (what, r.status, data)
    assert took < 1.0, (what, took)
    return took

def open_idle(n, deadline):
    socks = []
    for _ in range(n):
        if time.time() > deadline:
            break
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    return socks

t0 = time.time()
idle = open_idle(n_idle, t0 + 20)
print("     %d idle sockets opened in %.1f s" % (len(idle), time.time() - t0))
assert len(idle) >= min(n_idle, 2000), len(idle)
time.sleep(0.5)
worst = max(honest(w) for w in ("healthz", "score", "healthz", "score"))
print("     with them open: worst answer %.3f s" % worst)

stop = threading.Event()
def attacker():                         # reconnects in a loop, never sends
    while not stop.is_set():
        for s in open_idle(200, time.time() + 1):
            s.close()
t = threading.Thread(target=attacker)
t.start()
try:
    worst = 0
    end = time.time() + 4
    while time.time() < end:
        worst = max(worst, honest("healthz"), honest("score"))
    print("     under a reconnecting attacker: worst answer %.3f s" % worst)
finally:
    stop.set()
    t.join()
    for s in idle:
        s.close()
EOF
    stop flood
    grep -q 'max-connections 200, per ip 0' "$TMP/flood.log" ||
        fail "start-up line does not show the connection limits"
    ok "thousands of idle sockets and a reconnecting attacker from one address: /healthz and scoring answer within 1 s"
}

# A body that falls behind --min-body-rate over 5 s is cut.
check_slow_body() {
    start_server slow --min-body-rate 1000 --timeout 60
    "$PY" - "$PORT" <<'EOF' || fail "a slow body was not cut"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: 100000\r\n\r\n" + b"[" * 10)
t0 = time.time()
try:
    while time.time() - t0 < 12:
        s.sendall(b"1")                 # 10 bytes a second, under 1000
        time.sleep(0.1)
    sys.exit("still open after 12 s")
except (BrokenPipeError, ConnectionResetError):
    took = time.time() - t0
    assert 4 <= took < 8, took
EOF
    stop slow
    ok "a body slower than --min-body-rate is cut after its 5-second window"
}

# ---------------------------------------------------------------- lingering close
# A client that sends its whole big body before reading (no Expect) gets
# the refusal queued before the body was read, not a reset: 413 from its
# Content-Length, 415 from its Content-Type, 503 with Retry-After during a
# drain.
check_lingering_close() {
    start_server linger --max-body 1000 --drain-timeout 10
    "$PY" - "$PORT" <<'EOF' || fail "refusal before the body reached the client as a reset"
import json, sys
from rawhttp import read_all
port = int(sys.argv[1])
def send_all_then_read(head, size):
    out = read_all("127.0.0.1", port, head + b"\r\n" + b"x" * size, timeout=15)
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, json.loads(body)
size = 4 << 20
h = b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % size
status, head, body = send_all_then_read(h + b"Content-Type: application/json\r\n", size)
assert status == 413 and body["error"]["type"] == "PayloadTooLarge", (status, body)
status, head, body = send_all_then_read(
    b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n"
    b"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n", 0)
assert status == 400, status            # both framings: refused, read back fine
status, head, body = send_all_then_read(
    b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: text/plain\r\n", size)
assert status == 415, (status, body)
EOF
    # 503 during a drain: a slow upload keeps the server draining, a
    # keep-alive connection opened before SIGTERM sends a big body after.
    "$PY" - "$PORT" "$SPID" <<'EOF' || fail "503 during the drain reached the client as a reset"
import json, os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
slow = socket.create_connection(("127.0.0.1", port), timeout=15)
slow.sendall(b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 900\r\n\r\n" + b"[" * 10)
late = socket.create_connection(("127.0.0.1", port), timeout=15)
late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
assert b" 200 " in late.recv(4096)
time.sleep(0.2)
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
size = 4 << 20
late.sendall(b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n" % size + b"x" * size)
out = b""
while True:
    d = late.recv(65536)
    if not d:
        break
    out += d
head, _, body = out.partition(b"\r\n\r\n")
assert b" 503 " in head.split(b"\r\n")[0], head
assert b"\r\nRetry-After: 1\r\n" in head + b"\r\n", head
assert json.loads(body)["error"]["type"] == "Overloaded", body
slow.sendall(b"]" * 10)                 # let the drain end
slow.close()
EOF
    stop linger
    ok "413, 415 and a 503 with Retry-After sent before a big body reach a client that sends it all first"
}

# ---------------------------------------------------------------- strictness
check_strictness() {
    start_server strict
    "$PY" - "$PORT" <<'EOF' || fail "RFC 9112 strictness"
import json, sys
from rawhttp import exchange
port = int(sys.argv[1])
get = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
post = (b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n")
chunk = b"0\r\n\r\n"
for req, want, text in [
    (post + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk, 400,
     "more than one Transfer-Encoding"),
    (b"GET /healthz HTTP/1.1\r\nHost : x\r\nConnection: close\r\n\r\n", 400,
     "whitespace between a header field name and its colon"),
    (get + b"X-A: a\0b\r\n\r\n", 400, "NUL byte"),
    (get + b"X-A: a\0b\r\nX-B: c\r\n\r\n", 400, "NUL byte"),
    (get + b"\0junk\r\n\r\n", 400, "NUL byte"),
    (get + b"X-A: a\rb\r\n\r\n", 400, "bare CR"),
    (get + b"X-A: a\x1bb\r\n\r\n", 400, "control character"),
    (get + b"X-A: a\r\n  b\r\n\r\n", 400, "obsolete line folding"),
    (get + b"X-A: a\r\n\tb\r\nX-B: c\r\n\r\n", 400, "obsolete line folding"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX(A): b\r\nConnection: close\r\n\r\n", 400,
     "must be a token"),
    (get + b"X-Ok: caf\xc3\xa9\t \r\nX-Empty:\r\n\r\n", 200, None),
    (b"GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n", 200, None),
]:
    status, body = exchange("127.0.0.1", port, req)
    assert status == want, (req, status, body)
    e = json.loads(body)
    if text is not None:
        assert text in e["error"]["message"], (req, e)
EOF
    stop strict
    ok "a second Transfer-Encoding, whitespace before a colon, NUL, bare CR, controls, obs-fold: 400 with a JSON body"
}

# ---------------------------------------------------------------- logs
# Errors libmicrohttpd answers itself are logged and counted; a response
# never delivered is logged with status 0 and not counted as 200; its
# messages, quoting a request target with control and non-UTF-8 bytes,
# stay valid JSON lines.
check_logs() {
    start_server jlog --log-format json
    "$PY" - "$PORT" <<'EOF' || fail "requests for libmicrohttpd's own errors and a vanishing client"
import socket, struct, sys, time
from rawhttp import read_all
port = int(sys.argv[1])
def raw(data):
    return read_all("127.0.0.1", port, data)
assert b" 414 " in raw(b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")[:20]
assert b" 431 " in raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40000 + b"\r\n\r\n")[:20]
assert b" 505 " in raw(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")[:20]
# A big answer to a client that never reads it and resets: undelivered.
n = 1000000                             # some 10 MB of answer, never read
body = (b'{"input":[' + b",".join([b"[0.1234567,0.7654321]"] * n) + b'],"target":[' +
        b",".join([b"0"] * n) + b'],"reduction":"none"}')
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(30)
s.connect(("127.0.0.1", port))
s.sendall(b"POST http://a%0d%0a%1b[31m%ff/v1/multi_margin_loss HTTP/1.1\r\nHost: x\r\n"
          b"Content-Type: application/json\r\nX-Request-Id: vanish-1\r\n"
          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
time.sleep(1.5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
EOF
    logged "$TMP/jlog.log" '"request_id":"vanish-1"' || fail "no log line for the vanished client"
    logged "$TMP/jlog.log" '"status":505' || fail "505 from libmicrohttpd not logged"
    "$PY" - "$URL" "$TMP/jlog.log" <<'EOF' || fail "JSON log lines"
import json, sys, urllib.request
lines = open(sys.argv[2], "rb").read().split(b"\n")[:-1]
seen, events = {}, []
for raw in lines:
    e = json.loads(raw.decode("utf-8"))          # valid UTF-8 and JSON, every line
    assert all(b >= 0x20 for b in raw), raw
    if "event" in e:
        events.append(e["event"])
    else:
        seen.setdefault(e["status"], []).append(e)
v = [e for e in seen.get(0, []) if e["request_id"] == "vanish-1"]
assert v and v[0]["method"] == "POST" and v[0]["path"] == "/v1/multi_margin_loss", seen.get(0)
for st in (414, 431, 505):
    assert st in seen, (st, sorted(seen))
mhd = [m for m in events if m.startswith("libmicrohttpd:")]
assert mhd, events
quoted = [m for m in mhd if "a\r\n\x1b[31m" in m]
for m in quoted:                                  # the target, escaped
    assert "\\xff" in m, m
print("     %d libmicrohttpd messages, %d quoting the target" % (len(mhd), len(quoted)))
metrics = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=10).read().decode()
for want in ('route="score",status="0"} 1', 'route="unknown",status="414"} 1',
             'route="unknown",status="431"} 1', 'route="unknown",status="505"} 1'):
    assert want in metrics, want
assert 'route="score",status="200"' not in metrics, metrics
EOF
    stop jlog
    ok "libmicrohttpd's 414/431/505 logged and counted, an undelivered answer is status 0, JSON log lines stay valid"
}

check_idle_flood
check_slow_body
check_lingering_close
check_strictness
check_logs
# Sanitizer builds (make SANITIZER=...) report into the server logs.
if grep -l -E 'runtime error:|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer' \
    "$TMP"/*.log >"$TMP/san.out" 2>/dev/null; then
    fail "sanitizer reports in $(tr '\n' ' ' <"$TMP/san.out")"
fi
ok "no sanitizer reports in the server logs"
