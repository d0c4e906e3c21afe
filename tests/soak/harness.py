"""harness.py - the soak suite's server control, /proc sampler and raw HTTP/1.1 client.

Server: Lossd(path, flags) starts build/lossd on 127.0.0.1 with a free port
(it prints "listening on 127.0.0.1:PORT"), keeps its stderr in a file, and
stops it with SIGTERM (then SIGKILL after a bounded wait).  Its open-file
limit is the one this harness started with, not the raised one the harness
gives itself: the server must raise its own.

Sampler: a thread reading VmRSS, VmHWM, Threads and the count of open fds
from /proc/<pid> at a fixed period; every figure is in bytes or a count.

Client: Conn speaks HTTP/1.1 over one socket, keep-alive, with a timeout on
every call, so that no exchange can hang the suite.
"""
import ctypes
import os
import re
import resource
import signal
import socket
import subprocess
import tempfile
import threading
import time

MiB = 1 << 20
HOST = "127.0.0.1"

# The open-file limit the harness was started with; the server gets it back.
NOFILE_AT_START = resource.getrlimit(resource.RLIMIT_NOFILE)


def raise_nofile(want):
    """Raises this process's soft RLIMIT_NOFILE to min(want, hard); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


PR_SET_PDEATHSIG = 1
_LIVE = set()               # processes started here and not yet reaped
_LOGS = set()               # server logs not yet removed


def child_setup(restore_nofile=False):
    """preexec_fn of every child: killed with the harness (SIGKILL included),
    and lossd gets the open-file limit the harness started with."""
    def setup():
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if restore_nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, NOFILE_AT_START)
    return setup


def spawn(args, restore_nofile=False, **kw):
    """subprocess.Popen that cleanup() will reap."""
    p = subprocess.Popen(args, preexec_fn=child_setup(restore_nofile), **kw)
    _LIVE.add(p)
    return p


def cleanup(remove_logs=True):
    """Kills and reaps every child still running (after a harness error), and
    removes the server logs left (unless told to keep them)."""
    for p in list(_LIVE):
        if p.poll() is None:
            p.kill()
        p.wait()
        _LIVE.discard(p)
    for name in list(_LOGS) if remove_logs else []:
        _remove(name)


def _remove(name):
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
    _LOGS.discard(name)


def proc_status(pid):
    """{'rss', 'hwm', 'threads', 'fds'} of pid, or None once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
        fds = len(os.listdir("/proc/%d/fd" % pid))
    except (FileNotFoundError, ProcessLookupError):
        return None
    field = dict(re.findall(r"^(\w+):\s+(\d+)", text, re.M))
    return {"rss": int(field.get("VmRSS", 0)) * 1024, "hwm": int(field.get("VmHWM", 0)) * 1024,
            "threads": int(field.get("Threads", 0)), "fds": fds}


def proc_cpu(pid):
    """User + system CPU seconds of pid (0.0 once it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


class Lossd:
    """One lossd process.  start() raises RuntimeError when it does not come up in 10 s."""

    def __init__(self, path, *flags):
        self.path = path
        self.flags = [str(f) for f in flags]
        self.proc = None
        self.port = None
        self.log = tempfile.NamedTemporaryFile(prefix="lossd-soak-", suffix=".log", delete=False)
        _LOGS.add(self.log.name)

    def start(self):
        self.proc = spawn([self.path, "--listen", HOST + ":0"] + self.flags, restore_nofile=True,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self._log_bytes())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("lossd did not start: " + self.log_tail())

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self):
        return proc_status(self.pid)

    def cpu(self):
        return proc_cpu(self.pid)

    def terminate(self):
        """Sends SIGTERM (the server drains); wait() collects it."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        """Exit status, or None if it is still running after timeout seconds."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        _LIVE.discard(self.proc)
        return rc

    def stop(self):
        """SIGTERM, up to 25 s to drain, then SIGKILL; returns the exit status."""
        if self.proc is None:
            return None
        self.terminate()
        rc = self.wait(25)
        if rc is None:
            self.proc.kill()
            rc = self.proc.wait()
            _LIVE.discard(self.proc)
        self.log.close()
        return rc

    def _log_bytes(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()

    def log_tail(self, lines=8):
        text = self._log_bytes().decode("utf-8", "replace").splitlines()
        return " | ".join(text[-lines:])

    def log_lines(self):
        return self._log_bytes().decode("utf-8", "replace").splitlines()

    def remove_log(self):
        self.log.close()
        _remove(self.log.name)


class Sampler(threading.Thread):
    """Samples a process's /proc figures every period seconds until stop()."""

    def __init__(self, pid, period=1.0):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples = []           # (monotonic time, status dict)
        self._stop_event = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        while not self._stop_event.is_set():
            s = proc_status(self.pid)
            if s is None:
                break
            with self.lock:
                self.samples.append((time.monotonic(), s))
            self._stop_event.wait(self.period)

    def stop(self):
        self._stop_event.set()
        self.join(5)

    def peak(self, key, since=0.0):
        with self.lock:
            vals = [s[key] for t, s in self.samples if t >= since]
        return max(vals) if vals else 0


class HTTPError(Exception):
    """The transport failed: reset, close before a whole response, timeout."""


class Response:
    def __init__(self, status, headers, body, seconds):
        self.status, self.headers, self.body, self.seconds = status, headers, body, seconds

    def header(self, name):
        return self.headers.get(name.lower())


def build_request(method, path, headers=None, body=b""):
    """The bytes of one HTTP/1.1 request; Content-Length is added for a body."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % HOST]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if body or method == "POST":
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Conn:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port.  Every method raises
    HTTPError on a transport failure; the connection is then closed and the next
    request opens a new one."""

    def __init__(self, port, timeout=60.0):
        self.port, self.timeout = port, timeout
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def connect(self):
        if self.sock is None:
            try:
                self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
            except OSError as e:
                raise HTTPError("connect: %s" % e) from None
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def request(self, method, path, headers=None, body=b"", head=None):
        """Sends one request (head: prebuilt request head, else built here) and reads the answer."""
        t0 = time.monotonic()
        try:
            s = self.connect()
            try:
                s.sendall(head if head is not None else build_request(method, path, headers, body))
                if body:
                    s.sendall(body)
            except OSError as e:
                r = self._early_answer(e)
            else:
                r = self.read_response(method == "HEAD")
        except (OSError, HTTPError) as e:
            self.close()
            raise HTTPError("%s %s: %s" % (method, path, e)) from None
        r.seconds = time.monotonic() - t0
        if (r.header("connection") or "").lower() == "close":
            self.close()
        return r

    def _early_answer(self, send_error):
        """An answer the server sent before the body was all sent (as curl
        reads it), or send_error again when there is none to read."""
        try:
            self.sock.settimeout(1.0)
            r = self.read_response()
        except (OSError, HTTPError):
            raise send_error from None
        self.close()
        return r

    def _fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise HTTPError("connection closed by the server")
        self.buf += d

    def _take_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        chunks, have = [self.buf], len(self.buf)
        while have < n:
            d = self.sock.recv(min(1 << 20, max(n - have, 65536)))
            if not d:
                raise HTTPError("connection closed mid-body")
            chunks.append(d)
            have += len(d)
        data = b"".join(chunks)
        self.buf = data[n:]
        return data[:n]

    def read_response(self, head_only=False):
        while True:
            status_line = self._take_line()
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise HTTPError("bad status line %r" % status_line[:80])
            status = int(parts[1])
            headers = {}
            while True:
                line = self._take_line()
                if not line:
                    break
                k, _, v = line.partition(b":")
                headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
            if status != 100:
                break
        if head_only or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked()
        else:
            body = self._until_close()
        return Response(status, headers, body, 0.0)

    def _chunked(self):
        out = []
        while True:
            size = int(self._take_line().split(b";")[0], 16)
            if size == 0:
                while self._take_line():
                    pass
                return b"".join(out)
            out.append(self._take(size))
            self._take(2)

    def _until_close(self):
        chunks = [self.buf]
        while True:
            d = self.sock.recv(1 << 20)
            if not d:
                break
            chunks.append(d)
        self.buf = b""
        self.close()
        return b"".join(chunks)
