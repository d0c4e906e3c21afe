#!/usr/bin/env python3
"""request_path.py - lossd's request path with its n-th allocation failing, n = 1, 2, ...

    python3 tests/allocfail/request_path.py --lossd build-address-undefined/lossd-allocfail

Runs one lossd built with tests/allocfail (LOSSD_TEST_FAIL_ALLOC, see
lossd_arm.c). For each request below it first sends the request unarmed
(the reference answer), then for n = 1, 2, ... arms the n-th allocation to
fail (SIGUSR2 with the value n), sends the request on a new connection and
disarms, until a request no longer reaches its n-th allocation. Each
answer must be the reference's status, or a 503 with a JSON body and
Retry-After, or a connection closed before any byte of a response. At the
end the server must still answer /healthz, stop at SIGTERM with status 0,
and its stderr must hold no sanitizer report (leaks included, under ASan).

Only allocations of lossd's own code, zlib and cJSON fail: libmicrohttpd's
and libuv's are their shared libraries' own (see allocfail.h).
"""
import argparse
import ctypes
import gzip
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SCORE = "/v1/multi_margin_loss"
INFER = "/v2/models/multi_margin_loss/infer"


def frame(n, c):
    """An MML1 float32 frame, p 1, reduction none, margin 1, with a weight."""
    head = b"MML1" + bytes([1, 2, 1, 0, 1, 0, 0, 0]) + struct.pack("<iQQ", 1, n, c)
    x = struct.pack("<%df" % (n * c), *[(i % 7) * 0.25 for i in range(n * c)])
    t = struct.pack("<%dq" % n, *[i % c for i in range(n)])
    w = struct.pack("<%df" % c, *[1.0 + i for i in range(c)])
    return head + x + t + w


def v2_binary():
    head = json.dumps({
        "id": "r1",
        "inputs": [
            {"name": "INPUT", "shape": [2, 4], "datatype": "FP32",
             "parameters": {"binary_data_size": 32}},
            {"name": "TARGET", "shape": [2], "datatype": "INT64",
             "parameters": {"binary_data_size": 16}}],
        "outputs": [{"name": "LOSS", "parameters": {"binary_data": True}}]}).encode()
    data = struct.pack("<8f", 0.1, 0.2, 0.4, 0.8, 0.5, 0.1, 0.2, 0.3) + struct.pack("<2q", 3, 0)
    return head + data, len(head)


SMALL_JSON = b'{"input":[[0.1,0.2,0.4,0.8],[0.5,0.1,0.2,0.3]],"target":[3,0],"p":2}'
ROWS = 300
WIDE_JSON = json.dumps({"input": [[(i * 7 + j) % 5 / 4 for j in range(3)] for i in range(ROWS)],
                        "target": [i % 3 for i in range(ROWS)],
                        "reduction": "none"}).encode()
V2_JSON = json.dumps({"inputs": [
    {"name": "INPUT", "datatype": "FP64", "shape": [2, 3], "data": [[0.5, -1, 2], [1, 1e-3, 4]]},
    {"name": "TARGET", "datatype": "INT64", "shape": [2], "data": [0, 2]}],
    "parameters": {"reduction": "sum"}, "id": "x"}).encode()
V2_BIN, V2_BIN_HLEN = v2_binary()

# name, method, path, headers, body
REQUESTS = [
    ("healthz", "GET", "/healthz", {}, b""),
    ("info", "GET", "/v1/info", {}, b""),
    ("metrics", "GET", "/metrics", {}, b""),
    ("v2 server metadata", "GET", "/v2", {}, b""),
    ("score json", "POST", SCORE, {"Content-Type": "application/json"}, SMALL_JSON),
    ("score json invalid (400)", "POST", SCORE, {"Content-Type": "application/json"},
     b'{"input":[[1,2],[3]],"target":[0,1]}'),
    ("score json, gzip answer", "POST", SCORE,
     {"Content-Type": "application/json", "Accept-Encoding": "gzip"}, WIDE_JSON),
    ("score json gzip body", "POST", SCORE,
     {"Content-Type": "application/json", "Content-Encoding": "gzip"}, gzip.compress(SMALL_JSON)),
    ("score frame", "POST", SCORE, {"Content-Type": "application/octet-stream"}, frame(3, 4)),
    ("score frame, MMR1 answer", "POST", SCORE,
     {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"},
     frame(5, 2)),
    ("v2 infer json", "POST", INFER, {"Content-Type": "application/json"}, V2_JSON),
    ("v2 infer binary", "POST", INFER,
     {"Inference-Header-Content-Length": str(V2_BIN_HLEN)}, V2_BIN),
    ("v2 infer invalid (400)", "POST", INFER, {}, b'{"inputs":[{"name":'),
]


# Requests whose answer changes from one call to the next.
VARIABLE = {"metrics"}


class sigval(ctypes.Union):
    _fields_ = [("sival_int", ctypes.c_int), ("sival_ptr", ctypes.c_void_p)]


LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.sigqueue.argtypes = [ctypes.c_int, ctypes.c_int, sigval]


class Server:
    def __init__(self, lossd, tmp):
        self.log = os.path.join(tmp, "lossd.log")
        self.report = os.path.join(tmp, "report")
        env = dict(os.environ, LOSSD_TEST_FAIL_ALLOC="1", LOSSD_TEST_FAIL_ALLOC_REPORT=self.report,
                   ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                   UBSAN_OPTIONS="print_stacktrace=1")
        self.proc = subprocess.Popen(
            [lossd, "--listen", "127.0.0.1:0", "--threads", "1", "--http-threads", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.log, "wb"), env=env)
        self.port = None
        for _ in range(200):
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.stderr())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            sys.exit("request_path: lossd did not start:\n" + self.stderr()[-2000:])

    def stderr(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def reports(self):
        try:
            with open(self.report) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def signal(self, value):
        """SIGUSR2 with value (see lossd_arm.c); the line reporting the
        previous arming, once the handler has run."""
        before = len(self.reports())
        if LIBC.sigqueue(self.proc.pid, signal.SIGUSR2, sigval(sival_ptr=value)) != 0:
            sys.exit("request_path: sigqueue: errno %d" % ctypes.get_errno())
        for _ in range(1000):
            lines = self.reports()
            if len(lines) > before:
                return lines[before]
            time.sleep(0.002)
        sys.exit("request_path: lossd did not take SIGUSR2")


def exchange(port, method, path, headers, body):
    """(status, headers dict, body) or None when the connection closed
    before any byte; raises ValueError for a response cut short."""
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (method, path)
    for k, v in headers.items():
        head += "%s: %s\r\n" % (k, v)
    if method == "POST":
        head += "Content-Length: %d\r\n" % len(body)
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    out = b""
    try:
        s.sendall(head.encode() + b"\r\n" + body)
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except ConnectionResetError:
        pass
    finally:
        s.close()
    if not out:
        return None
    top, sep, rest = out.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("response cut short in its head: %r" % out[:200])
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if "content-length" in hdrs and len(rest) != int(hdrs["content-length"]):
        raise ValueError("body of %d bytes, Content-Length %s" % (len(rest), hdrs["content-length"]))
    return status, hdrs, rest


def content(answer):
    """An answer's body, decompressed when it came gzip-encoded."""
    status, hdrs, body = answer
    if hdrs.get("content-encoding") == "gzip":
        return gzip.decompress(body)
    return body


def judge(answer, ref, same_body):
    """None when the answer is acceptable, else what is wrong. same_body:
    an answer with the reference's status must have its body too."""
    if answer is None:
        return None
    status, hdrs, body = answer
    ref_status = ref[0]
    if status == ref_status and status != 503:
        if same_body and content(answer) != content(ref):
            return "status %d as without the failure, but the body differs: %r, not %r" % (
                status, content(answer)[:300], content(ref)[:300])
        return None
    if status != 503:
        return "status %d (reference %d): %r" % (status, ref_status, body[:200])
    if "retry-after" not in hdrs:
        return "503 without Retry-After"
    if not hdrs.get("content-type", "").startswith("application/json"):
        return "503 with Content-Type %r" % hdrs.get("content-type")
    try:
        json.loads(body)
    except ValueError:
        return "503 body is not JSON: %r" % body[:200]
    return None


def run_request(srv, req, max_n):
    """Fail each allocation of one request in turn: (allocations, tallies, problems)."""
    name, method, path, headers, body = req
    ref = exchange(srv.port, method, path, headers, body)
    if ref is None:
        return 0, {}, ["%s: no answer without a failure" % name]
    tally = {"closed": 0, "503": 0, "same": 0}
    problems = []
    n = 0
    while n < max_n:
        n += 1
        srv.signal(n)
        try:
            answer = exchange(srv.port, method, path, headers, body)
            bad = judge(answer, ref, name not in VARIABLE)
        except (ValueError, OSError) as e:
            answer, bad = None, "broken response: %s" % e
        time.sleep(0.02)                  # completion callbacks count too
        fired = srv.signal(0).endswith("fired 1")
        if bad:
            problems.append("%s: allocation %d failing: %s" % (name, n, bad))
        if not fired:
            break
        tally["closed" if answer is None else "503" if answer[0] == 503 and ref[0] != 503
              else "same"] += 1
        if srv.proc.poll() is not None:
            problems.append("%s: lossd exited (status %s) at allocation %d"
                            % (name, srv.proc.returncode, n))
            break
    else:
        problems.append("%s: still allocating after %d allocations (--max-n)" % (name, max_n))
    return n - 1, tally, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lossd", required=True)
    ap.add_argument("--only", help="run only the requests whose name contains this")
    ap.add_argument("--max-n", type=int, default=500)
    args = ap.parse_args()
    problems = []
    with tempfile.TemporaryDirectory(prefix="lossd-allocfail.") as tmp:
        srv = Server(args.lossd, tmp)
        print("allocation failure on the request path (lossd pid %d, port %d)"
              % (srv.proc.pid, srv.port))
        for req in REQUESTS:
            if args.only and args.only not in req[0]:
                continue
            if srv.proc.poll() is not None:
                break
            total, tally, found = run_request(srv, req, args.max_n)
            problems += found
            print("  %-26s %3d allocations failed in turn: %3d answered 503, %3d closed, "
                  "%3d as without the failure%s" % (req[0], total, tally.get("503", 0),
                                                    tally.get("closed", 0), tally.get("same", 0),
                                                    ": FAILED" if found else ""))
        if srv.proc.poll() is None:
            alive = exchange(srv.port, "GET", "/healthz", {}, b"")
            if alive is None or alive[0] != 200:
                problems.append("/healthz after the runs: %r" % (alive,))
            srv.proc.send_signal(signal.SIGTERM)
            try:
                srv.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                srv.proc.kill()
                srv.proc.wait()
                problems.append("lossd did not stop within 60 s of SIGTERM")
        if srv.proc.returncode != 0:
            problems.append("lossd exited with status %s" % srv.proc.returncode)
        err = srv.stderr()
        m = re.search(r"(==\d+==ERROR: \w+Sanitizer|runtime error:)", err)
        if m:
            problems.append("sanitizer report in lossd's stderr:\n" + err[m.start():][:6000])
    for p in problems:
        print("FAIL " + p)
    print("allocfail request path: %d problems" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
