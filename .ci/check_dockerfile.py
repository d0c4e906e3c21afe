#!/usr/bin/env python3
"""check_dockerfile.py - offline lint of lossd's Dockerfile against the deploy contract.

No Docker engine is needed: the Dockerfile is parsed here (line continuations,
comments, parser directives, stages) and checked for what the image must
guarantee. When apt-cache is available the runtime package names are looked
up, and when build/lossd exists its shared libraries (ldd) must all come from
the runtime packages or their dependencies (dpkg -S, apt-cache depends).

Usage: python3 .ci/check_dockerfile.py [--root DIR] [--dockerfile PATH]
Exit status 0 when every check passes, 1 otherwise; the last line is
"dockerfile: N passed, M failed". Python 3 standard library only.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

BASE_IMAGE = "debian:bookworm-slim"
BUILD_SCRIPT = ".ci/build.sh"
BINARY_SRC = "build/lossd"
BINARY_DST = "/usr/local/bin/lossd"
PORT = "8080"
NATIVE_FLAGS = re.compile(r"-m(arch|tune|cpu)=native")
BUILD_ONLY_PKGS = re.compile(r"^(gcc|g\+\+|clang|make|pkg-config|check|.*-dev)$")


class Instruction:
    def __init__(self, lineno, keyword, args):
        self.lineno = lineno
        self.keyword = keyword
        self.args = args

    def flags_and_rest(self):
        """Split leading --flag[=value] options from the rest of the arguments."""
        flags, rest = {}, self.args
        while True:
            m = re.match(r"\s*--([\w-]+)(?:=(\S*))?\s*", rest)
            if not m:
                return flags, rest.strip()
            flags[m.group(1)] = m.group(2) if m.group(2) is not None else ""
            rest = rest[m.end():]

    def exec_form(self):
        """The JSON array of an exec-form instruction, or None for shell form."""
        _, rest = self.flags_and_rest()
        if self.keyword == "HEALTHCHECK":
            m = re.search(r"\bCMD\s+(.*)$", rest, re.S)
            rest = m.group(1) if m else ""
        rest = rest.strip()
        if not rest.startswith("["):
            return None
        try:
            value = json.loads(rest)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None


class Stage:
    def __init__(self, index, image, name, lineno):
        self.index = index
        self.image = image
        self.name = name
        self.lineno = lineno
        self.instructions = []

    def label(self):
        return self.name or "#%d" % self.index

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text):
    """Return (instructions, stages). Follows the Dockerfile reference:
    parser directives at the top, '#' comment lines (also inside a
    continuation), and the escape character ending a line continues it."""
    lines = text.splitlines()
    escape = "\\"
    # Parser directives: "# key=value" lines before anything else.
    for line in lines:
        m = re.match(r"^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$", line)
        if not m:
            break
        if m.group(1).lower() == "escape":
            escape = m.group(2)

    instructions, buf, start = [], [], None
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if start is None:
            start = lineno
        body = line.rstrip()
        if body.endswith(escape):
            buf.append(body[: -len(escape)])
            continue
        buf.append(body)
        logical = " ".join(part.strip() for part in buf).strip()
        buf = []
        if logical:
            keyword, _, args = logical.partition(" ")
            instructions.append(Instruction(start, keyword.upper(), args.strip()))
        start = None
    if buf:
        logical = " ".join(part.strip() for part in buf).strip()
        keyword, _, args = logical.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))

    stages = []
    for ins in instructions:
        if ins.keyword == "FROM":
            _, rest = ins.flags_and_rest()
            words = rest.split()
            name = None
            if len(words) >= 3 and words[1].upper() == "AS":
                name = words[2]
            stages.append(Stage(len(stages), words[0] if words else "", name, ins.lineno))
        elif stages:
            stages[-1].instructions.append(ins)
    return instructions, stages


def strip_comments(text):
    """Drop shell/Makefile/Dockerfile comments: '#' at line start or after blank."""
    out = []
    for line in text.splitlines():
        out.append(re.split(r"(?:^|\s)#", line, maxsplit=1)[0])
    return "\n".join(out)


def apt_installs(stage):
    """Packages named by `apt-get install` in a stage's RUN instructions."""
    pkgs = []
    for ins in stage.all("RUN"):
        for m in re.finditer(r"apt-get\s+install\s+([^;&|]*)", ins.args):
            for word in m.group(1).split():
                if not word.startswith("-") and re.match(r"^[a-z0-9][a-z0-9.+-]*$", word):
                    pkgs.append(word)
    return pkgs


def builds_binary(command):
    """Whether a RUN command calls .ci/build.sh in a way that builds build/lossd:
    no make target (the default `all`), or all, or build/lossd itself."""
    for m in re.finditer(re.escape(BUILD_SCRIPT) + r"([^;&|\n]*)", command):
        targets = [w for w in m.group(1).split() if "=" not in w and not w.startswith("-")]
        if not targets or "all" in targets or BINARY_SRC in targets:
            return True
    return False


def run(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError:
        return 127, ""
    return p.returncode, p.stdout


def package_closure(pkgs):
    """The packages plus everything they (pre-)depend on, recursively."""
    code, out = run(["apt-cache", "depends", "--recurse", "--no-recommends",
                     "--no-suggests", "--no-conflicts", "--no-breaks",
                     "--no-replaces", "--no-enhances"] + pkgs)
    closure = set(pkgs)
    if code != 0:
        return closure
    for line in out.splitlines():
        m = re.match(r"^\s*(?:\|?(?:Pre)?Depends:\s*)?([a-z0-9][a-z0-9.+-]*)(?::\w+)?\s*$", line)
        if m:
            closure.add(m.group(1))
    return closure


def owning_package(path):
    """Debian package shipping a file, trying the usrmerge aliases too."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.append(p[4:])
        else:
            candidates.append("/usr" + p)
    for p in candidates:
        code, out = run(["dpkg", "-S", p])
        if code == 0 and out:
            return out.split(":", 1)[0].strip()
    return None


class Checker:
    def __init__(self, root, dockerfile):
        self.root = root
        self.dockerfile = dockerfile
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, name, fn):
        try:
            result = fn()
        except AssertionError as e:
            self.failed += 1
            print("FAIL %s: %s" % (name, e))
            return
        if result == "skip" or (isinstance(result, str) and result.startswith("skip")):
            self.skipped += 1
            print("skip %s%s" % (name, result[4:]))
            return
        self.passed += 1
        print("ok   %s%s" % (name, (" (%s)" % result) if isinstance(result, str) and result else ""))

    def read(self, rel):
        with open(os.path.join(self.root, rel), encoding="utf-8") as f:
            return f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--root", default=os.path.dirname(here), help="repository root")
    ap.add_argument("--dockerfile", help="Dockerfile path (default ROOT/Dockerfile)")
    opts = ap.parse_args()
    root = opts.root
    path = opts.dockerfile or os.path.join(root, "Dockerfile")
    c = Checker(root, path)

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print("FAIL read Dockerfile: %s" % e)
        print("dockerfile: 0 passed, 1 failed")
        return 1
    _, stages = parse_dockerfile(text)
    names = {s.name for s in stages if s.name}
    final = stages[-1] if stages else None

    def multi_stage_bookworm_slim():
        assert len(stages) >= 2, "need a build and a runtime stage, found %d FROM" % len(stages)
        for s in stages:
            assert s.image == BASE_IMAGE or s.image in names, \
                "line %d: stage %s is FROM %r, want %s" % (s.lineno, s.label(), s.image, BASE_IMAGE)
        return "%d stages: %s" % (len(stages), ", ".join(s.label() for s in stages))

    def binary_stage():
        """The stage the final one copies the binary from (by name or index)."""
        for ins in final.all("COPY"):
            flags, rest = ins.flags_and_rest()
            src = flags.get("from")
            if src is not None and BINARY_SRC in rest:
                for s in stages[:-1]:
                    if src == s.name or src == str(s.index):
                        return s, ins, rest
        return None, None, None

    def copies_binary_from_build():
        assert final is not None, "no stages"
        s, ins, rest = binary_stage()
        assert s is not None, "final stage has no COPY --from=<earlier stage> of %s" % BINARY_SRC
        words = rest.split()
        dest = words[-1] if words else ""
        assert dest in (BINARY_DST, os.path.dirname(BINARY_DST) + "/"), \
            "line %d: binary copied to %r, want %s" % (ins.lineno, dest, BINARY_DST)
        return "line %d, from stage %s" % (ins.lineno, s.label())

    def build_stage_runs_build_sh():
        s, _, _ = binary_stage()
        assert s is not None, "no build stage found (see the COPY --from check)"
        runs = [i for i in s.all("RUN") if builds_binary(i.args)]
        assert runs, "build stage %s never RUNs %s to build %s (with no target, " \
            "all or %s)" % (s.label(), BUILD_SCRIPT, BINARY_SRC, BINARY_SRC)
        assert os.access(os.path.join(root, BUILD_SCRIPT), os.X_OK), \
            "%s is missing or not executable" % BUILD_SCRIPT
        copied = [i for i in s.all("COPY") + s.all("ADD")
                  if not i.flags_and_rest()[0].get("from")]
        assert copied, "build stage %s copies no source" % s.label()
        return "line %d" % runs[-1].lineno

    def final_stage_is_runtime_only():
        bad = [p for p in apt_installs(final) if BUILD_ONLY_PKGS.match(p)]
        assert not bad, "runtime stage installs build packages: %s" % " ".join(bad)
        assert not any(BUILD_SCRIPT in i.args for i in final.all("RUN")), \
            "runtime stage runs %s" % BUILD_SCRIPT
        return "installs %s" % (" ".join(apt_installs(final)) or "nothing")

    def non_root_user():
        users = final.all("USER")
        assert users, "final stage has no USER (would run as root)"
        user = users[-1].args.split(":")[0].strip()
        assert user.isdigit(), \
            "line %d: USER %r is not numeric; Kubernetes runAsNonRoot needs a uid" % (
                users[-1].lineno, user)
        assert int(user) != 0, "line %d: USER is uid 0 (root)" % users[-1].lineno
        return "USER %s" % users[-1].args

    def healthcheck():
        hcs = final.all("HEALTHCHECK")
        assert hcs, "final stage has no HEALTHCHECK"
        hc = hcs[-1]
        assert hc.args.strip().upper() != "NONE", "HEALTHCHECK NONE"
        assert "/healthz" in hc.args, "line %d: HEALTHCHECK does not hit /healthz" % hc.lineno
        argv = hc.exec_form()
        assert argv, "line %d: HEALTHCHECK CMD is not a JSON array (exec form)" % hc.lineno
        assert argv[0] not in ("curl", "wget") or "curl" in apt_installs(final) \
            or "wget" in apt_installs(final), \
            "line %d: HEALTHCHECK uses %s, which the runtime stage does not install" % (
                hc.lineno, argv[0])
        return "line %d, %s" % (hc.lineno, argv[0])

    def exec_form_entrypoint():
        eps = final.all("ENTRYPOINT")
        assert eps, "final stage has no ENTRYPOINT"
        for ins in eps + final.all("CMD"):
            argv = ins.exec_form()
            assert argv is not None, \
                "line %d: %s is in shell form; use a JSON array so lossd is PID 1 " \
                "and gets SIGTERM" % (ins.lineno, ins.keyword)
        argv = eps[-1].exec_form()
        assert argv and argv[0] == BINARY_DST, \
            "line %d: ENTRYPOINT runs %r, want %s" % (eps[-1].lineno, argv, BINARY_DST)
        return json.dumps(argv)

    def expose():
        ports = []
        for ins in final.all("EXPOSE"):
            ports += [p.split("/")[0] for p in ins.args.split()]
        assert PORT in ports, "final stage does not EXPOSE %s (has %s)" % (PORT, ports or "none")
        return "EXPOSE %s" % " ".join(ports)

    def stopsignal_and_env():
        sig = final.all("STOPSIGNAL")
        if sig:
            assert sig[-1].args.strip() in ("SIGTERM", "15"), \
                "line %d: STOPSIGNAL %s, lossd drains on SIGTERM" % (sig[-1].lineno, sig[-1].args)
        env = " ".join(i.args for i in final.all("ENV"))
        m = re.search(r"LOSSD_LISTEN[= ]\"?([^\s\"]+)", env)
        assert m, "final stage sets no LOSSD_LISTEN default"
        assert m.group(1).rsplit(":", 1)[-1] == PORT, \
            "LOSSD_LISTEN=%s does not listen on the exposed port %s" % (m.group(1), PORT)
        return "LOSSD_LISTEN=%s" % m.group(1)

    def no_native_arch():
        offenders = []
        for rel in ("Dockerfile", BUILD_SCRIPT, "Makefile"):
            full = path if rel == "Dockerfile" else os.path.join(root, rel)
            try:
                with open(full, encoding="utf-8") as f:
                    body = strip_comments(f.read())
            except OSError:
                continue
            for n, line in enumerate(body.splitlines(), 1):
                if NATIVE_FLAGS.search(line):
                    offenders.append("%s:%d" % (rel, n))
        assert not offenders, "-march/-mtune/-mcpu=native in %s: the image must run on " \
            "any CPU of its architecture" % ", ".join(offenders)
        return ""

    def runtime_packages_exist():
        pkgs = apt_installs(final)
        assert pkgs, "runtime stage installs no packages"
        if not shutil.which("apt-cache"):
            return "skip: no apt-cache here"
        missing = []
        for p in pkgs:
            code, out = run(["apt-cache", "show", p])
            if code != 0 or not out.strip():
                missing.append(p)
        assert not missing, "apt-cache knows no package %s (run apt-get update?)" % " ".join(missing)
        return " ".join(pkgs)

    def binary_libraries_covered():
        binary = os.path.join(root, BINARY_SRC)
        if not os.path.exists(binary):
            return "skip: %s not built yet" % BINARY_SRC
        if not (shutil.which("ldd") and shutil.which("dpkg") and shutil.which("apt-cache")):
            return "skip: needs ldd, dpkg and apt-cache"
        code, out = run(["ldd", binary])
        assert code == 0, "ldd %s failed" % BINARY_SRC
        unresolved = [l.split()[0] for l in out.splitlines() if "not found" in l]
        assert not unresolved, "unresolved libraries here: %s" % " ".join(unresolved)
        covered = package_closure(apt_installs(final)) | {"libc6", "libgcc-s1"}
        uncovered = []
        for line in out.splitlines():
            m = re.search(r"(/\S+)\s+\(0x", line)
            if not m:
                continue
            pkg = owning_package(m.group(1))
            if pkg is None or pkg not in covered:
                uncovered.append("%s (%s)" % (m.group(1), pkg or "no package"))
        assert not uncovered, "libraries not provided by the runtime stage's packages: %s" % (
            ", ".join(uncovered))
        return "%d libraries, all from the runtime packages" % len(
            [l for l in out.splitlines() if "=>" in l or l.strip().startswith("/")])

    def dockerignore():
        try:
            body = c.read(".dockerignore")
        except OSError:
            raise AssertionError(".dockerignore is missing; build/ and .git would be sent")
        entries = {l.strip().rstrip("/") for l in body.splitlines()
                   if l.strip() and not l.startswith("#")}
        for need in (".git", "build"):
            assert need in entries, ".dockerignore does not exclude %s" % need
        for keep in ("Makefile", ".ci", BUILD_SCRIPT, "core", "proto", "server"):
            assert keep not in entries, ".dockerignore excludes %s, which the build needs" % keep
        return ""

    checks = [
        ("multi-stage FROM %s" % BASE_IMAGE, multi_stage_bookworm_slim),
        ("final stage COPY --from the build stage", copies_binary_from_build),
        ("build stage RUNs %s" % BUILD_SCRIPT, build_stage_runs_build_sh),
        ("runtime stage has no build tools", final_stage_is_runtime_only),
        ("non-root numeric USER", non_root_user),
        ("HEALTHCHECK on /healthz", healthcheck),
        ("ENTRYPOINT/CMD in exec form", exec_form_entrypoint),
        ("EXPOSE %s" % PORT, expose),
        ("STOPSIGNAL and LOSSD_LISTEN", stopsignal_and_env),
        ("no -march=native", no_native_arch),
        (".dockerignore", dockerignore),
        ("runtime packages exist", runtime_packages_exist),
        ("ldd %s covered by runtime packages" % BINARY_SRC, binary_libraries_covered),
    ]
    for name, fn in checks:
        if final is None and fn is not multi_stage_bookworm_slim and fn is not no_native_arch:
            c.check(name, lambda: (_ for _ in ()).throw(AssertionError("no FROM in Dockerfile")))
            continue
        c.check(name, fn)

    skipped = (", %d skipped" % c.skipped) if c.skipped else ""
    print("dockerfile: %d passed, %d failed%s" % (c.passed, c.failed, skipped))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
