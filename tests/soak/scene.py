"""scene.py - one scenario's fresh server, its figures and verdict, and the checks scenarios share.

A Scene starts its own lossd (so VmHWM is that scenario's peak), samples
/proc every second, warms the server up so that lazily made threads exist
before the baseline of fds and threads is taken, and at the end turns
figures and failures into one summary line.
"""
import json
import subprocess
import sys
import os
import time

from harness import MiB, Conn, HTTPError, Lossd, Sampler, spawn

HERE = os.path.dirname(os.path.abspath(__file__))


def mib(n):
    return "%.0f MiB" % (n / MiB)


class Scene:
    def __init__(self, ctx, name, *flags):
        self.ctx, self.name = ctx, name
        self.t0 = time.monotonic()
        self.cpu0 = time.process_time()
        self.child_cpu = 0.0
        self.figures, self.failures, self.details = [], [], []
        self.server = Lossd(ctx.lossd, *flags).start()
        self.port = self.server.port
        self.sampler = Sampler(self.server.pid, 1.0)
        self.sampler.start()
        self.base = None
        self.stopped = False        # the scenario stopped the server itself
        self.server_cpu = 0.0       # its CPU seconds, if it did

    def fig(self, text):
        self.figures.append(text)

    def fail(self, text):
        self.failures.append(text)

    def detail(self, text):
        self.details.append(text)

    def check(self, ok, text):
        """Records text as a failure when ok is false; returns ok."""
        if not ok:
            self.fail(text)
        return ok

    def warm_up(self):
        """A small, a pooled and a v2 request, then the baseline of fds and threads."""
        b = self.ctx.bodies
        conn = Conn(self.port, 30)
        for body in (b.small[0], b.frame[2], b.v2bin[0]):
            try:
                r = conn.request("POST", body.path, body=body.body, head=body.head)
                why = body.check(r)
            except HTTPError as e:
                why = str(e)
            if why:
                self.fail("warm-up %s: %s" % (body.name, why))
        conn.close()
        time.sleep(0.3)
        self.base = self.server.status()
        return self.base

    def tally_figures(self, tally, what, allow_503=False, why_503=""):
        """The tally's brief among the figures; a failure for anything a
        well-behaved client must not see."""
        what = what or "requests"
        self.fig("%s %s" % (what, tally.brief()))
        if allow_503 and tally.retry503:
            self.fig("(503s expected: %s)" % why_503)
        bad = tally.failures(allow_503)
        if bad:
            self.fail("%s: %s" % (what, tally.bad_text(allow_503)))
            for e in tally.examples:
                self.detail("%s: %s" % (what, e))

    def bound_peak(self, bound, what="RSS peak"):
        """VmHWM so far against bound (bytes)."""
        st = self.server.status()
        hwm = st["hwm"] if st else self.sampler.peak("hwm")
        self.fig("%s %s (bound %s)" % (what, mib(hwm), mib(bound)))
        self.check(hwm <= bound, "%s %s > %s" % (what, mib(hwm), mib(bound)))
        return hwm

    def recover(self, limit=48 * MiB, within=10.0):
        """Waits (idle) up to within seconds for VmRSS to go under limit."""
        t0 = time.monotonic()
        rss = None
        while True:
            st = self.server.status()
            if st is None:
                break
            rss = st["rss"]
            if rss < limit or time.monotonic() - t0 >= within:
                break
            time.sleep(0.25)
        took = time.monotonic() - t0
        if rss is not None and rss < limit:
            self.fig("idle RSS %s after %.1f s" % (mib(rss), took))
        else:
            self.fig("idle RSS %s after %.0f s" % (mib(rss or 0), took))
            self.fail("RSS not under %s within %.0f s of idling" % (mib(limit), within))

    def no_growth(self, within=5.0):
        """fds and threads back to the warm-up baseline within seconds."""
        t0 = time.monotonic()
        while True:
            st = self.server.status()
            if st is None:
                return
            settled = st["fds"] <= self.base["fds"] and st["threads"] <= self.base["threads"]
            if settled or time.monotonic() - t0 >= within:
                break
            time.sleep(0.25)
        self.fig("fds %d->%d (peak %d), threads %d->%d" % (
            self.base["fds"], st["fds"], self.sampler.peak("fds"), self.base["threads"],
            st["threads"]))
        self.check(st["fds"] <= self.base["fds"], "fds grew %d -> %d" % (self.base["fds"], st["fds"]))
        self.check(st["threads"] <= self.base["threads"],
                   "threads grew %d -> %d" % (self.base["threads"], st["threads"]))

    def hostile(self, seconds, *kinds):
        """Starts hostile.py against this server; returns (process, its ready report)."""
        p = spawn([sys.executable, os.path.join(HERE, "hostile.py"), str(self.port),
                   str(seconds)] + list(kinds),
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()      # hostile.py reports within 20 s, or dies
        try:
            return p, json.loads(line)
        except ValueError:
            self.stop_hostile(p)
            raise RuntimeError("hostile.py did not report ready: %r" % line)

    def stop_hostile(self, p):
        """Closes its stdin (it closes its sockets and reports); returns the report."""
        try:
            p.stdin.close()
        except OSError:
            pass
        p.stdin = None              # communicate() must not flush it
        try:
            out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        done = {}
        for line in out.splitlines():
            if line.startswith("{"):
                done = json.loads(line)
        self.child_cpu += done.get("cpu", 0.0)
        return done

    def end(self):
        """Stops the server; crash and exit checks; returns (passed, summary line, details)."""
        self.sampler.stop()
        server_cpu = self.server.cpu() if self.server.alive() else self.server_cpu
        if self.stopped:
            self.server.log.close()
        elif not self.server.alive():
            rc = self.server.proc.returncode
            self.fail("server died (%s)" % ("signal %d" % -rc if rc < 0 else "exit %d" % rc))
            self.detail("server log: " + self.server.log_tail())
        else:
            rc = self.server.stop()
            self.check(rc == 0, "exit status %s at SIGTERM after the scenario" % rc)
        if not self.failures:
            self.server.remove_log()
        elif self.ctx.keep_logs:
            self.detail("server log kept: " + self.server.log.name)
        else:
            self.detail("server log: " + self.server.log_tail(4))
            self.server.remove_log()
        self.fig("cpu client %.1f s server %.1f s, %.0f s" % (
            time.process_time() - self.cpu0 + self.child_cpu, server_cpu,
            time.monotonic() - self.t0))
        passed = not self.failures
        line = "%-16s %s  %s" % (self.name, "PASS" if passed else "FAIL", "; ".join(self.figures))
        if not passed:
            line += "  -- " + "; ".join(self.failures)
        return passed, line, self.details

    def abort(self, error):
        """The scenario itself broke (harness error): fail with the reason."""
        self.fail("harness error: %s" % error)
        return self.end()
