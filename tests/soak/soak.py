"""soak.py - lossd's soak and hostility suite: `make soak` (SOAK_SECONDS=600), `make soak SOAK_SECONDS=60` in CI.

    python3 tests/soak/soak.py [--lossd build/lossd] [--seconds S] [--only a,b] [--keep-logs]

Starts build/lossd once per scenario on 127.0.0.1 and prints one summary
line per scenario (name, PASS/FAIL, figures), indented details under a
failure, and a final "N passed, N failed".  Exit status 1 when any failed.
The scenarios and their bounds are in tests/soak/README.md.
"""
import argparse
import os
import signal
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ left in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bodies import BodySet          # noqa: E402
from harness import cleanup, raise_nofile    # noqa: E402
import scenarios                    # noqa: E402


class Ctx:
    def __init__(self, lossd, seconds, keep_logs):
        self.lossd, self.seconds, self.keep_logs = lossd, seconds, keep_logs
        self._bodies = None

    @property
    def bodies(self):
        if self._bodies is None:
            self._bodies = BodySet()
        return self._bodies


def main():
    ap = argparse.ArgumentParser(description="lossd soak and hostility suite")
    ap.add_argument("--lossd", default="build/lossd")
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("SOAK_SECONDS", "600")),
                    help="scale: about the whole run's length at 60 and above (default 600)")
    ap.add_argument("--only", default="", help="comma-separated: " +
                    ",".join(n for n, _ in scenarios.ALL))
    ap.add_argument("--keep-logs", action="store_true", help="keep the server log of a failure")
    args = ap.parse_args()
    if not os.access(args.lossd, os.X_OK):
        print("soak: no executable at %s (run make first)" % args.lossd)
        return 2
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - {n for n, _ in scenarios.ALL}
    if unknown:
        print("soak: unknown scenario(s): %s" % ",".join(sorted(unknown)))
        return 2
    raise_nofile(8192)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # runs the cleanup below
    ctx = Ctx(args.lossd, args.seconds, args.keep_logs)
    t0 = time.monotonic()
    print("soak: %s, scale %.0f s; building request bodies" % (args.lossd, args.seconds), flush=True)
    ctx.bodies
    passed = failed = 0
    for name, fn in scenarios.ALL:
        if only and name not in only:
            continue
        try:
            ok, line, details = fn(ctx)
        except Exception as e:          # a harness bug must not hide the other scenarios
            ok, line, details = False, "%-16s FAIL  harness error: %r" % (name, e), []
        finally:
            cleanup(remove_logs=not args.keep_logs)
        print(line, flush=True)
        for d in details:
            print("    " + d, flush=True)
        passed, failed = passed + ok, failed + (not ok)
    print("%d passed, %d failed (%.0f s)" % (passed, failed, time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        cleanup(remove_logs=False)   # each scenario has dealt with its logs
    sys.exit(rc)
