"""hostile.py - many hostile connections from one process, one event loop: idle, slowloris, slow bodies.

    python3 hostile.py PORT SECONDS KIND:COUNT[:INTERVAL] ...

Run as a child of soak.py so that its work never competes for the GIL with
the well-behaved client that measures latency.  Kinds:

  idle      connect and send nothing
  idle-ka   send one GET /healthz, read the answer, then stay idle (keep-alive)
  headers   slowloris: a POST's request line, then header bytes one at a time
            every INTERVAL seconds, never ending the header block
  body      full headers of a 1 MB JSON POST, then body bytes one at a time
            every INTERVAL seconds

Connections the server closes are reopened (slowloris does), at most COUNT
reopenings per kind.  Once every first connect has succeeded or failed, or
after 3 s (a connect still pending then waits on the server's full accept
queue), it prints one JSON line {"ready": ...}; it stops at SECONDS,
or when stdin is closed, closes everything and prints {"done": ...} with its
figures, CPU seconds included.  All sockets go to 127.0.0.1.
"""
import errno
import json
import resource
import selectors
import socket
import sys
import time

HOST = "127.0.0.1"
TICK = 0.05
READY_WAIT = 3.0        # a connect still pending by then waits on a full accept queue
BODY = b'{"input":[' + b"1," * 600000 + b"1]}"

HEADS = {
    "headers": b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "body": (b"POST /v1/multi_margin_loss HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)),
    "idle-ka": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "idle": b"",
}
HEADER_STREAM = b"X-Slow-Header: 1\r\n" * 4096


class Kind:
    def __init__(self, spec):
        parts = spec.split(":")
        self.name, self.count = parts[0], int(parts[1])
        self.interval = float(parts[2]) if len(parts) > 2 else 1.0
        self.reopen_budget = self.count
        self.stats = {"opened": 0, "connect_failed": 0, "closed_by_server": 0,
                      "reopened": 0, "bytes_sent": 0}


class Conn:
    __slots__ = ("sock", "kind", "connected", "pos", "group")

    def __init__(self, sock, kind, group):
        self.sock, self.kind, self.group = sock, kind, group
        self.connected, self.pos = False, 0


class Attack:
    def __init__(self, port, kinds):
        self.port, self.kinds = port, kinds
        self.sel = selectors.DefaultSelector()
        self.conns = set()
        self.groups = max(1, int(round(max(k.interval for k in kinds) / TICK)))
        self.by_group = [set() for _ in range(self.groups)]
        self.local_failed = {}      # failures on this side: {reason: count}
        self.next_group = 0

    def open(self, kind):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:        # EMFILE: this machine's hard RLIMIT_NOFILE is too low
            self.local_failed[e.strerror] = self.local_failed.get(e.strerror, 0) + 1
            return
        s.setblocking(False)
        err = s.connect_ex((HOST, self.port))
        if err in (errno.EADDRNOTAVAIL, errno.EMFILE, errno.ENFILE):
            s.close()
            name = errno.errorcode[err]
            self.local_failed[name] = self.local_failed.get(name, 0) + 1
            return
        if err not in (0, errno.EINPROGRESS):
            s.close()
            kind.stats["connect_failed"] += 1
            return
        c = Conn(s, kind, self.next_group % self.groups)
        self.next_group += 1
        self.conns.add(c)
        self.by_group[c.group].add(c)
        self.sel.register(s, selectors.EVENT_WRITE, c)

    def drop(self, c, by_server):
        self.sel.unregister(c.sock)
        c.sock.close()
        self.conns.discard(c)
        self.by_group[c.group].discard(c)
        k = c.kind
        if not c.connected:
            k.stats["connect_failed"] += 1
        elif by_server:
            k.stats["closed_by_server"] += 1
        if by_server and c.connected and k.reopen_budget > 0:
            k.reopen_budget -= 1
            k.stats["reopened"] += 1
            self.open(k)

    def on_connected(self, c):
        c.connected = True
        c.kind.stats["opened"] += 1
        head = HEADS[c.kind.name]
        try:
            c.sock.sendall(head)    # small: fits the empty send buffer
        except OSError:
            self.drop(c, True)
            return
        c.kind.stats["bytes_sent"] += len(head)
        self.sel.modify(c.sock, selectors.EVENT_READ, c)

    def on_readable(self, c):
        try:
            data = c.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop(c, True)

    def dribble(self, group):
        """One byte on every connection of this group whose kind dribbles."""
        for c in list(self.by_group[group]):
            if not c.connected:
                continue
            stream = HEADER_STREAM if c.kind.name == "headers" else BODY
            if c.kind.name not in ("headers", "body") or c.pos >= len(stream):
                continue
            try:
                c.sock.send(stream[c.pos:c.pos + 1])
            except BlockingIOError:
                continue
            except OSError:
                self.drop(c, True)
                continue
            c.pos += 1
            c.kind.stats["bytes_sent"] += 1

    def poll(self, timeout, stdin_closed):
        for key, ev in self.sel.select(timeout):
            c = key.data
            if c is None:
                if not sys.stdin.buffer.raw.read(4096):
                    stdin_closed[0] = True
                continue
            if not c.connected:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self.drop(c, False)
                else:
                    self.on_connected(c)
            else:
                self.on_readable(c)

    def pending(self):
        return sum(1 for c in self.conns if not c.connected)

    def run(self, seconds):
        t0 = time.monotonic()
        deadline = t0 + seconds
        for k in self.kinds:
            for _ in range(k.count):
                self.open(k)
                if len(self.conns) % 256 == 0:
                    self.poll(0, [False])
        ready_by = min(deadline, time.monotonic() + READY_WAIT)
        while self.pending() and time.monotonic() < ready_by:
            self.poll(TICK, [False])
        self.report("ready", time.monotonic() - t0)
        try:
            self.sel.register(sys.stdin.fileno(), selectors.EVENT_READ, None)
        except (PermissionError, ValueError):
            pass                    # stdin is not a pipe: run until SECONDS
        stdin_closed, tick = [False], 0
        while time.monotonic() < deadline and not stdin_closed[0]:
            self.poll(TICK, stdin_closed)
            self.dribble(tick % self.groups)
            tick += 1
        open_at_end = sum(1 for c in self.conns if c.connected)
        for c in list(self.conns):
            c.sock.close()
        self.report("done", time.monotonic() - t0, open_at_end)

    def report(self, what, seconds, open_now=None):
        ru = resource.getrusage(resource.RUSAGE_SELF)
        out = {what: True, "seconds": round(seconds, 2), "cpu": round(ru.ru_utime + ru.ru_stime, 2),
               "open": open_now if open_now is not None else
               sum(1 for c in self.conns if c.connected),
               "pending": self.pending(), "local_failed": self.local_failed,
               "kinds": {k.name: k.stats for k in self.kinds}}
        print(json.dumps(out), flush=True)


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    kinds = [Kind(s) for s in sys.argv[3:]]
    want = sum(2 * k.count for k in kinds) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    Attack(port, kinds).run(seconds)


if __name__ == "__main__":
    main()
