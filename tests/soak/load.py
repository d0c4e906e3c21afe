"""load.py - well-behaved clients for the soak suite: closed-loop load, a paced latency probe, outcome tallies.

Tally sorts every answer a well-behaved client gets: right 200, wrong
answer, 503 with Retry-After (overload: a scenario says whether it is
expected), other 5xx, 4xx (every body sent is valid), or a transport error
(reset, close before the answer, timeout).  Every loop here stops at a
deadline and after a bounded count.
"""
import random
import threading
import time

from harness import Conn, HTTPError


class Tally:
    def __init__(self):
        self.ok = 0
        self.wrong = 0
        self.retry503 = 0       # 503 with Retry-After
        self.bad5xx = 0         # any other 5xx (503 without Retry-After included)
        self.client4xx = 0
        self.errors = 0         # transport
        self.latencies = []     # seconds, of every attempt (a failed one counts its time)
        self.examples = []      # first few reasons, for the report
        self.lock = threading.Lock()

    def note(self, reason):
        if len(self.examples) < 4:
            self.examples.append(reason)

    def add(self, body, resp=None, error=None, seconds=0.0):
        """Files one attempt: the response to body, or the transport error."""
        with self.lock:
            self.latencies.append(resp.seconds if resp is not None else seconds)
            if resp is None:
                self.errors += 1
                self.note("%s: %s" % (body.name, error))
                return
            st = resp.status
            if st == 200:
                why = body.check(resp)
                if why is None:
                    self.ok += 1
                else:
                    self.wrong += 1
                    self.note("%s: %s" % (body.name, why))
            elif st == 503 and resp.header("retry-after"):
                self.retry503 += 1
            elif st >= 500:
                self.bad5xx += 1
                self.note("%s: %d %s" % (body.name, st, resp.body[:100]))
            else:
                self.client4xx += 1
                self.note("%s: %d %s" % (body.name, st, resp.body[:100]))

    def merge(self, other):
        for k in ("ok", "wrong", "retry503", "bad5xx", "client4xx", "errors"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.latencies += other.latencies
        for e in other.examples:
            self.note(e)

    @property
    def total(self):
        return self.ok + self.wrong + self.retry503 + self.bad5xx + self.client4xx + self.errors

    def failures(self, allow_503=False):
        """Count of outcomes a well-behaved client must never see."""
        return (self.wrong + self.bad5xx + self.client4xx + self.errors +
                (0 if allow_503 else self.retry503))

    def bad_text(self, allow_503=False):
        """The outcomes a well-behaved client must not see, as "2 wrong, 1 reset"."""
        parts = [(self.wrong, "wrong answers"), (self.bad5xx, "5xx (not 503+Retry-After)"),
                 (self.client4xx, "4xx"), (self.errors, "transport errors"),
                 (0 if allow_503 else self.retry503, "unexpected 503+Retry-After")]
        return ", ".join("%d %s" % (n, what) for n, what in parts if n)

    def percentile(self, q):
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def brief(self):
        return ("%d: %d ok, %d 503+Retry-After, %d other 5xx, %d 4xx, %d transport errors, "
                "%d wrong" % (self.total, self.ok, self.retry503, self.bad5xx, self.client4xx,
                              self.errors, self.wrong))


def send(conn, body, tally, on_start=None):
    """One request on conn, filed in tally; returns the response or None."""
    t0 = time.monotonic()
    if on_start:
        on_start(t0)
    try:
        r = conn.request("POST", body.path, body=body.body, head=body.head)
    except HTTPError as e:
        tally.add(body, error=e, seconds=time.monotonic() - t0)
        return None
    tally.add(body, r)
    return r


class ClosedLoop:
    """threads clients, each on its own keep-alive connection, sending bodies
    chosen by weight back to back until seconds pass or max_each requests."""

    def __init__(self, port, choices, threads, seconds, max_each=100000, seed=1, timeout=60):
        self.port, self.choices, self.threads = port, choices, threads
        self.seconds, self.max_each, self.seed, self.timeout = seconds, max_each, seed, timeout
        self.tally = Tally()
        self.sent_bytes = 0
        self._workers = []

    def _client(self, i, deadline):
        rng = random.Random(self.seed * 1000 + i)
        bodies = [b for b, _ in self.choices]
        weights = [w for _, w in self.choices]
        mine, sent = Tally(), 0
        conn = Conn(self.port, self.timeout)
        for _ in range(self.max_each):
            if time.monotonic() >= deadline:
                break
            b = rng.choices(bodies, weights)[0]
            send(conn, b, mine)
            sent += len(b)
        conn.close()
        with self.tally.lock:
            self.sent_bytes += sent
        self.tally.merge(mine)

    def start(self):
        deadline = time.monotonic() + self.seconds
        self._workers = [threading.Thread(target=self._client, args=(i, deadline), daemon=True)
                         for i in range(self.threads)]
        for t in self._workers:
            t.start()
        return self

    def join(self):
        """Waits for every client; a request still running at the deadline finishes
        (bounded by the socket timeout)."""
        for t in self._workers:
            t.join(self.seconds + 2 * self.timeout)
        return self.tally


class Probe(threading.Thread):
    """A well-behaved client measuring latency: one small request every
    period seconds, a new connection every reconnect requests, timeout each."""

    def __init__(self, port, bodies, period=0.01, reconnect=10, timeout=5.0):
        super().__init__(daemon=True)
        self.port, self.bodies, self.period = port, bodies, period
        self.reconnect, self.timeout = reconnect, timeout
        self.tally = Tally()
        self._stop_event = threading.Event()

    def run(self):
        conn = Conn(self.port, self.timeout)
        nxt, i = time.monotonic(), 0
        while not self._stop_event.is_set() and i < 1000000:
            if i % self.reconnect == 0:
                conn.close()
            send(conn, self.bodies[i % len(self.bodies)], self.tally)
            i += 1
            nxt = max(nxt + self.period, time.monotonic())
            self._stop_event.wait(max(0.0, nxt - time.monotonic()))
        conn.close()

    def stop(self):
        self._stop_event.set()
        self.join(self.timeout + 5)
        return self.tally
