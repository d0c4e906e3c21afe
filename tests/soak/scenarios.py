"""scenarios.py - the soak and hostility scenarios; each returns (passed, summary line, details).

Every scenario starts its own lossd (scene.Scene), so figures never mix.
Durations scale with ctx.seconds (SOAK_SECONDS); the bounds do not.
Which 503s are expected is said where they are allowed: only a 503 with
Retry-After, and only where the scenario overloads the memory budget on
purpose.
"""
import random
import socket
import struct
import threading
import time

import bodies as B
from harness import MiB, Conn, HTTPError
from load import ClosedLoop, Probe, Tally, send
from scene import Scene, mib

BUDGET = 128 * MiB          # --max-memory of the memory scenarios
SLACK = 48 * MiB            # the bound: RSS peak <= --max-memory + 48 MiB
P99_LIMIT = 0.100
OVERLOAD = "budget held by concurrent large bodies"
FIXED = 50.0                # about the seconds the suite spends whatever the scale


def load_seconds(ctx, share, least):
    """A scenario's load time: its share of what the scale leaves over the fixed part."""
    return max(least, share * max(0.0, ctx.seconds - FIXED))


def mixed_load(ctx):
    """64 connections of every body kind; memory, fds and threads from /proc."""
    sc = Scene(ctx, "mixed-load", "--max-memory", BUDGET)
    sc.warm_up()
    secs = load_seconds(ctx, 0.45, 8.0)
    run = ClosedLoop(sc.port, ctx.bodies.mixed(), 64, secs, timeout=60).start()
    tally = run.join()
    sc.fig("64 conns %.0f s, %.0f MB/s in" % (secs, run.sent_bytes / secs / 1e6))
    sc.tally_figures(tally, "", allow_503=True, why_503=OVERLOAD)
    sc.fig("latency p50 %.2f s p99 %.2f s max %.2f s" % (
        tally.percentile(0.5), tally.percentile(0.99), tally.percentile(1.0)))
    sc.check(tally.ok > 0, "no request succeeded")
    sc.bound_peak(BUDGET + SLACK)
    sc.fig("RSS max sampled %s" % mib(sc.sampler.peak("rss")))
    sc.recover()
    sc.no_growth()
    return sc.end()


def _p99_phase(sc, bodies, seconds, label):
    probe = Probe(sc.port, bodies, period=0.01, reconnect=10, timeout=1.0)
    probe.start()
    time.sleep(seconds)
    tally = probe.stop()
    p50, p99 = tally.percentile(0.5), tally.percentile(0.99)
    sc.fig("%s p50 %.1f ms p99 %.1f ms (%d req)" % (label, p50 * 1e3, p99 * 1e3, tally.total))
    return tally, p99


def slowloris(ctx):
    """Header dribblers and slow bodies while a paced client measures p99."""
    sc = Scene(ctx, "slowloris")
    sc.warm_up()
    small = ctx.bodies.small[:4]
    base, base_p99 = _p99_phase(sc, small, 1.5, "baseline")
    n_head, n_body = 2000, 500
    secs = load_seconds(ctx, 0.2, 4.0)
    p, ready = sc.hostile(secs + 30, "headers:%d:1" % n_head, "body:%d:1" % n_body)
    sc.fig("attack %d slowloris + %d slow bodies (%d open)" % (n_head, n_body, ready["open"]))
    tally, p99 = _p99_phase(sc, small, secs, "under attack")
    done = sc.stop_hostile(p)
    k = done.get("kinds", {})
    closed = sum(v["closed_by_server"] for v in k.values())
    sc.fig("server closed %d attacker conns" % closed)
    sc.tally_figures(base, "baseline")
    sc.tally_figures(tally, "under attack")
    if base_p99 > P99_LIMIT:
        sc.detail("the baseline p99 is already over the limit: the machine is too busy to judge")
    sc.check(p99 <= P99_LIMIT, "p99 %.0f ms > %.0f ms" % (p99 * 1e3, P99_LIMIT * 1e3))
    sc.no_growth()
    return sc.end()


def _probe_once(port, body, timeout):
    """(status or error text, seconds) of one request on a new connection."""
    conn = Conn(port, timeout)
    t0 = time.monotonic()
    try:
        if body is None:
            r = conn.request("GET", "/healthz")
        else:
            r = conn.request("POST", body.path, body=body.body, head=body.head)
        out = r.status if (body is None or body.check(r) is None) else "wrong answer"
    except HTTPError as e:
        out = str(e).split(": ", 1)[-1]
    conn.close()
    return out, time.monotonic() - t0


def _probe_round(port, body, timeout):
    """GET /healthz and one small scoring request at once, each on a new connection."""
    got = {}
    ts = [threading.Thread(target=lambda w=w, b=b: got.__setitem__(w, _probe_once(port, b, timeout)))
          for w, b in (("healthz", None), ("score", body))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return got


def idle_connections(ctx):
    """5,000 idle connections from 127.0.0.1; /healthz and scoring answer within 1 s."""
    sc = Scene(ctx, "idle-5000")
    sc.warm_up()
    n_ka, n_idle = 1000, 4000
    hold = load_seconds(ctx, 0.05, 0.0)
    p, ready = sc.hostile(hold + 60, "idle:%d" % n_idle, "idle-ka:%d" % n_ka)
    time.sleep(1.0)
    st = sc.server.status() or {}
    failed = sum(k["connect_failed"] for k in ready["kinds"].values())
    sc.fig("%d idle conns (%d keep-alive): %d open, %d connects pending (accept queue full), "
           "%d refused; server fds %d" % (n_idle + n_ka, n_ka, ready["open"], ready["pending"],
                                         failed, st.get("fds", -1)))
    local = ready.get("local_failed")
    sc.check(not local, "the harness could not open its own sockets: %s" % local)
    rounds = max(3, int(hold / 5))
    worst, bad, n = 0.0, [], 0
    for _ in range(rounds):
        got = _probe_round(sc.port, ctx.bodies.small[1], 1.5)
        for what, (out, secs) in got.items():
            n += 1
            worst = max(worst, secs)
            if out != 200 or secs > 1.0:
                bad.append("%s: %s in %.2f s" % (what, out, secs))
        time.sleep(hold / rounds)
    sc.fig("%d probes, slowest %.3f s" % (n, worst))
    sc.check(not bad, "%d of %d probes not answered 200 within 1 s" % (len(bad), n))
    for b in bad[:3]:
        sc.detail(b)
    sc.stop_hostile(p)
    sc.no_growth()
    return sc.end()


class Staller:
    """One connection that sends head + prefix (with a send timeout) and then holds still."""

    def __init__(self, port, data):
        self.port, self.data, self.sent, self.sock = port, data, 0, None

    def run(self, seconds=6.0):
        deadline = time.monotonic() + seconds
        try:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
            view = memoryview(self.data)
            while self.sent < len(view) and time.monotonic() < deadline:
                try:
                    self.sent += self.sock.send(view[self.sent:self.sent + (1 << 20)])
                except socket.timeout:
                    pass        # the server is not reading now: try until the deadline
        except OSError:
            pass                # the server closed: it stalls here

    def close(self):
        if self.sock is not None:
            self.sock.close()


def _stall(port, datas):
    stallers = [Staller(port, d) for d in datas]
    ts = [threading.Thread(target=s.run, daemon=True) for s in stallers]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return stallers


def _stall_prefixes(ctx, light):
    """(kind, bytes) to send and then stall on: each declares a ~40 MB body."""
    big = ctx.bodies.big
    n40 = B.rows_for(40 * B.MB, big.c)
    cl40 = 40 * B.MB
    json_text = ctx.bodies.json48.body
    v2j = ctx.bodies.v2json[2].body if light else B.v2_json(big, 3000).body
    v2b_head = B.v2_binary_header(n40, big.c)
    v2b_len = len(v2b_head) + big.tensor_bytes(n40)
    frame_len = 32 + big.tensor_bytes(n40)
    hj = {"Content-Type": "application/json", "Content-Length": cl40}
    if light:
        cut = 1 << 20
        return [
            ("json", _head(B.V1, hj) + json_text[:cut]),
            ("frame", _head(B.V1, {"Content-Type": "application/octet-stream",
                                   "Content-Length": frame_len}) + B.frame_header(n40, big.c)),
            ("v2json", _head(B.V2, hj) + v2j[:cut]),
            ("v2bin", _head(B.V2, {"Content-Type": "application/octet-stream",
                                   "Inference-Header-Content-Length": len(v2b_head),
                                   "Content-Length": v2b_len}) + v2b_head + bytes(cut)),
        ]
    return [("json", _head(B.V1, hj) + json_text[:12 * MiB]),
            ("v2json", _head(B.V2, hj) + v2j[:32 * MiB])]


def _head(path, headers):
    lines = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1"]
    lines += ["%s: %s" % kv for kv in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _honest_round(sc, ctx, tally):
    b = ctx.bodies
    conn = Conn(sc.port, 15)
    for body in (b.frame[4], b.small[2], b.v2bin[2], b.v2json[0]) * 2:
        send(conn, body, tally)
    conn.close()


def stalled_senders(ctx):
    """Senders that stop mid-body, of each kind: memory held stays bounded, honest requests served."""
    sc = Scene(ctx, "stalled-senders", "--max-memory", BUDGET)
    sc.warm_up()
    hold = load_seconds(ctx, 0.05, 1.5)
    for light, per_kind in ((True, 12), (False, 10)):
        prefixes = _stall_prefixes(ctx, light)
        stallers = _stall(sc.port, [d for _, d in prefixes for _ in range(per_kind)])
        sent = sum(s.sent for s in stallers)
        tally, t0 = Tally(), time.monotonic()
        _honest_round(sc, ctx, tally)
        time.sleep(max(0.0, hold - (time.monotonic() - t0)))
        label = "light" if light else "heavy"
        sc.fig("%s: %d stalled (%s) sent %s" % (label, len(stallers),
                                                "+".join(k for k, _ in prefixes), mib(sent)))
        sc.bound_peak(BUDGET + SLACK, "%s RSS peak" % label)
        if light:
            sc.tally_figures(tally, "honest")
        else:
            sc.tally_figures(tally, "honest", allow_503=True,
                             why_503="stalled bodies' received bytes fill the budget")
        for s in stallers:
            s.close()
        time.sleep(0.5)
    sc.no_growth()
    return sc.end()


counts_lock = threading.Lock()


def _vanish_mid_body(port, bodies, deadline, rng, counts):
    """Sends part of a body, then closes (RST or FIN), until deadline; counts
    [cut, failed to connect or send]."""
    for _ in range(100000):
        if time.monotonic() >= deadline:
            return
        b = rng.choice(bodies)
        cut = int(len(b.body) * rng.uniform(0.1, 0.9))
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if rng.random() < 0.5:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(b.head)
            s.sendall(memoryview(b.body)[:cut])
            s.close()
            ok = 0
        except OSError:
            ok = 1
        with counts_lock:
            counts[ok] += 1


def _send_whole(port, body):
    """A connection with a tiny receive buffer that has sent body whole, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(body.head)
        s.sendall(body.body)
    except OSError:
        s.close()
        return None
    return s


def _vanish_mid_response(port, body, n, hold, seconds=30.0):
    """n connections send body whole and read nothing for hold seconds, then
    close; then n more close as soon as they have sent it (all within about
    seconds).  Returns how many sent it whole."""
    deadline = time.monotonic() + seconds
    held = []
    for _ in range(n):
        if time.monotonic() < deadline:
            held.append(_send_whole(port, body))
    held = [s for s in held if s is not None]
    time.sleep(hold)
    for s in held:
        s.close()
    quick = 0
    for _ in range(n):
        if time.monotonic() >= deadline:
            break
        s = _send_whole(port, body)
        if s is not None:
            quick += 1
            s.close()
    return len(held) + quick


def vanishing_clients(ctx):
    """Clients that close mid-body and mid-response; memory comes back, nothing leaks."""
    sc = Scene(ctx, "vanishing", "--max-memory", BUDGET)
    sc.warm_up()
    b = ctx.bodies
    probe = Probe(sc.port, [b.small[1], b.frame[2]], period=0.05, reconnect=5, timeout=15)
    probe.start()
    secs = load_seconds(ctx, 0.15, 3.0)
    counts = [0, 0]
    cutters = [b.frame[4], b.frame[5], b.v2bin[3], b.v2json[1], b.json4, b.gzip[1]]
    deadline = time.monotonic() + secs
    ts = [threading.Thread(target=_vanish_mid_body,
                           args=(sc.port, cutters, deadline, random.Random(i), counts),
                           daemon=True) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(secs + 30)
    n_resp = 16 if ctx.seconds < 300 else 40
    none = B.none_frame(1000000)
    unread = _vanish_mid_response(sc.port, none, n_resp, 3.0)
    tally = probe.stop()
    sc.fig("%d cut mid-body in %.0f s, %d left ~8 MB answers unread" % (counts[0], secs, unread))
    sc.tally_figures(tally, "honest", allow_503=True, why_503=OVERLOAD)
    sc.bound_peak(BUDGET + SLACK)
    sc.recover()
    sc.no_growth()
    return sc.end()


def sigterm_mid_load(ctx):
    """SIGTERM while large requests are in flight: every one is answered, exit 0."""
    drain = 20
    sc = Scene(ctx, "sigterm-drain", "--max-memory", 512 * MiB, "--drain-timeout", drain)
    sc.warm_up()
    b = ctx.bodies
    choices = [b.small[2], b.frame[2], b.frame[3], b.frame[4], b.v2bin[2], b.v2json[1], b.gzip[1]]
    records, lock = [], threading.Lock()
    inflight = [0]
    signalled = threading.Event()

    def client(i):
        rng, conn = random.Random(i), Conn(sc.port, 30)
        for _ in range(10000):
            after = signalled.is_set()
            body = rng.choice(choices)
            t0 = time.monotonic()
            with lock:
                inflight[0] += 1
            try:
                r, err = conn.request("POST", body.path, body=body.body, head=body.head), None
            except HTTPError as e:
                r, err = None, str(e)
            with lock:
                inflight[0] -= 1
                records.append((t0, time.monotonic(), body, r, err))
            if after:
                break
        conn.close()

    ts = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(16)]
    for t in ts:
        t.start()
    time.sleep(load_seconds(ctx, 0.05, 2.0))
    wait_until = time.monotonic() + 3
    while inflight[0] < 4 and time.monotonic() < wait_until:
        time.sleep(0.001)
    t_sig = time.monotonic()
    sc.server_cpu = sc.server.cpu()
    sc.server.terminate()
    signalled.set()
    rc = sc.server.wait(drain + 10)
    sc.stopped = rc is not None
    exit_s = time.monotonic() - t_sig
    for t in ts:
        t.join(40)
    # Requests begun more than 50 ms before the signal and not over by then must be
    # answered; one begun within 50 ms races the server's closing of idle keep-alive
    # connections, and may be refused like one begun after it.
    fly = [r for r in records if r[0] < t_sig - 0.05 and r[1] > t_sig]
    fly_ok = sum(1 for _, _, body, r, _ in fly if r is not None and body.check(r) is None)
    late = [r for r in records if r[0] >= t_sig - 0.05]
    late_refused = sum(1 for _, _, _, r, _ in late if r is None or r.status == 503)
    bad = [(body, r) for _, _, body, r, _ in records
           if r is not None and r.status != 503 and body.check(r) is not None]
    sc.fig("%d requests, %d in flight at SIGTERM, %d answered right; %d after it (%d refused "
           "or 503 draining)" % (len(records), len(fly), fly_ok, len(late), late_refused))
    sc.fig("exit %s in %.1f s" % (rc, exit_s))
    sc.check(rc == 0, "exit status %s after SIGTERM" % rc)
    sc.check(len(fly) > 0, "no request in flight at SIGTERM (harness timing)")
    sc.check(fly_ok == len(fly), "%d in-flight requests not answered" % (len(fly) - fly_ok))
    sc.check(not bad, "%d wrong answers or 4xx/5xx" % len(bad))
    for _, _, body, r, err in fly:
        if r is None or body.check(r) is not None:
            sc.detail("in flight %s: %s" % (body.name, err or body.check(r)))
            break
    return sc.end()


def json48(ctx):
    """Ten 48 MB JSON requests in a row: RSS peak <= 1.5 x tensor bytes + 32 MiB.
    Both key orders, each on a fresh server, as bench/json_memory.sh: "dtype"
    first (converted as decoded) and last (held as float64 until the end)."""
    results = []
    for body in (ctx.bodies.json48, ctx.bodies.json48_last):
        sc = Scene(ctx, "json-48MBx10", "--threads", 2)
        conn, tally = Conn(sc.port, 60), Tally()
        t0 = time.monotonic()
        for _ in range(10):
            send(conn, body, tally)
        per = (time.monotonic() - t0) / 10
        conn.close()
        bound = 1.5 * body.tensor_bytes + 32 * MiB
        order = "dtype first" if body is ctx.bodies.json48 else "dtype last"
        sc.fig("%s: body %.1f MB, tensors %.1f MiB, %.2f s each" % (
            order, len(body) / 1e6, body.tensor_bytes / MiB, per))
        sc.tally_figures(tally, "")
        sc.bound_peak(bound)
        results.append(sc.end())
    ok = all(r[0] for r in results)
    line = "%-16s %s  %s" % ("json-48MBx10", "PASS" if ok else "FAIL",
                             " || ".join(r[1].split(None, 2)[2] for r in results))
    return ok, line, [d for r in results for d in r[2]]


ALL = [("mixed", mixed_load), ("slowloris", slowloris), ("idle", idle_connections),
       ("stalled", stalled_senders), ("vanishing", vanishing_clients),
       ("sigterm", sigterm_mid_load), ("json48", json48)]
