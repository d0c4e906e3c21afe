#!/usr/bin/env python3
"""check_deploy.py - offline validation of deploy/: Kubernetes manifests, compose, Prometheus.

Checks what a cluster or Docker would only reveal at run time: probe paths
that lossd actually serves (routes read from server/*.c),
ports that line up from LOSSD_LISTEN to containerPort to probes to Service,
a grace period that covers preStop plus the drain timeout, the locked-down
security context, selectors that match, a kustomization listing every
manifest, and a compose file whose Prometheus scrapes lossd:8080/metrics.
When kubectl is installed, `kubectl kustomize` must render deploy/k8s.

Usage: python3 .ci/check_deploy.py [--root DIR]
Needs PyYAML (Debian: python3-yaml). Last line "deploy: N passed, M failed";
exit status 1 when any check fails.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("FAIL PyYAML is missing: apt-get install python3-yaml")
    print("deploy: 0 passed, 1 failed")
    sys.exit(1)

K8S_DIR = "deploy/k8s"
COMPOSE = "deploy/docker-compose.yml"
PROMETHEUS = "deploy/prometheus.yml"
DEFAULT_DRAIN = 20       # --drain-timeout default (README.md, "Configuration")
DEFAULT_GRACE = 30       # Kubernetes default terminationGracePeriodSeconds
DEFAULT_LISTEN = "0.0.0.0:8080"
# Used only when the server source cannot be read.
FALLBACK_ROUTES = {"/healthz", "/readyz", "/metrics", "/v1/info", "/v2",
                   "/v2/health/live", "/v2/health/ready"}
FALLBACK_ENV = {"LOSSD_LISTEN", "LOSSD_THREADS", "LOSSD_HTTP_THREADS", "LOSSD_MAX_BODY",
                "LOSSD_QUEUE_DEPTH", "LOSSD_TIMEOUT", "LOSSD_DRAIN_TIMEOUT", "LOSSD_LOG_FORMAT",
                "LOSSD_SIMD"}


class Failure(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Failure(msg)


def dig(obj, *keys, default=None):
    """obj[k1][k2]... or default when any level is missing or not a mapping/list."""
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and -len(obj) <= k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


def server_facts(root):
    """(routes, env names, where from). Routes are the string literals starting
    with '/' in server/*.c (lossd's routing table); env names are the LOSSD_*
    literals of server/ and core/ (core reads LOSSD_SIMD) and the ones README.md
    documents."""
    routes, env = set(), set()
    sources = sorted(glob.glob(os.path.join(root, "server", "*.[ch]")))
    for path in sources:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for line in text.splitlines():
            # A routing-table row that allows POST but not GET is no probe target.
            if re.search(r"POST", line) and not re.search(r"GET", line):
                continue
            routes |= set(re.findall(r'"(/[A-Za-z0-9_./-]*)"', line))
    for path in sources + sorted(glob.glob(os.path.join(root, "core", "*.[ch]"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for literal in re.findall(r'"((?:[^"\\\n]|\\.)*)"', text):
            env |= set(re.findall(r"\b(LOSSD_[A-Z0-9_]*[A-Z0-9])\b", literal))
    readme = os.path.join(root, "README.md")
    if os.path.isfile(readme):
        with open(readme, encoding="utf-8") as f:
            env |= set(re.findall(r"\b(LOSSD_[A-Z0-9_]*[A-Z0-9])\b", f.read()))
    if routes:
        return routes, env or FALLBACK_ENV, "server/*.c"
    return FALLBACK_ROUTES, FALLBACK_ENV, "built-in list"


def listen_port(value):
    m = re.search(r":(\d+)$", str(value))
    return int(m.group(1)) if m else None


def quantity(q):
    """Kubernetes quantity -> float (cores or bytes)."""
    s = str(q).strip()
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    m = re.match(r"^([0-9.]+)([a-zA-Z]*)$", s)
    if not m or (m.group(2) and m.group(2) not in units):
        raise Failure("unparsable quantity %r" % q)
    return float(m.group(1)) * units.get(m.group(2), 1)


def env_map(container):
    out = {}
    for e in container.get("env") or []:
        if isinstance(e, dict) and "name" in e:
            out[e["name"]] = e.get("value")
    return out


def prestop_seconds(container):
    """Seconds the preStop hook sleeps: exec `sleep N` or the native sleep action."""
    pre = dig(container, "lifecycle", "preStop") or {}
    if "sleep" in pre:
        return int(dig(pre, "sleep", "seconds", default=0))
    cmd = dig(pre, "exec", "command") or []
    words = " ".join(str(c) for c in cmd)
    m = re.search(r"(?:^|[/\s])sleep\s+(\d+)", words)
    return int(m.group(1)) if m else 0


class Checker:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def check(self, name, fn):
        try:
            note = fn()
        except Failure as e:
            self.failed += 1
            print("FAIL %s: %s" % (name, e))
            return
        if isinstance(note, str) and note.startswith("skip"):
            self.skipped += 1
            print("skip %s%s" % (name, note[4:]))
            return
        self.passed += 1
        print("ok   %s%s" % (name, " (%s)" % note if note else ""))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.dirname(here), help="repository root")
    opts = ap.parse_args()
    root = opts.root
    k8s_dir = os.path.join(root, K8S_DIR)
    c = Checker()

    # ---- load everything; later checks use what parsed ----
    docs = {}          # file name -> list of documents
    objs = {}          # kind -> first object of that kind

    def manifests_parse():
        files = sorted(glob.glob(os.path.join(k8s_dir, "*.yaml")) +
                       glob.glob(os.path.join(k8s_dir, "*.yml")))
        need(files, "no manifests in %s" % K8S_DIR)
        for path in files:
            name = os.path.basename(path)
            try:
                with open(path, encoding="utf-8") as f:
                    loaded = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                raise Failure("%s does not parse: %s" % (name, e))
            need(loaded, "%s is empty" % name)
            docs[name] = loaded
            for d in loaded:
                need(isinstance(d, dict), "%s: a document is not a mapping" % name)
                need(d.get("apiVersion") and d.get("kind"),
                     "%s: apiVersion and kind are required" % name)
                if d["kind"] != "Kustomization":
                    need(dig(d, "metadata", "name"), "%s: %s has no metadata.name" % (
                        name, d["kind"]))
                objs.setdefault(d["kind"], d)
        return "%d files: %s" % (len(files), ", ".join(sorted(docs)))

    def api_versions():
        want = {"Deployment": "apps/v1", "Service": "v1",
                "HorizontalPodAutoscaler": "autoscaling/v2",
                "PodDisruptionBudget": "policy/v1",
                "Kustomization": "kustomize.config.k8s.io/v1beta1"}
        for kind, version in want.items():
            need(kind in objs, "no %s in %s" % (kind, K8S_DIR))
            need(objs[kind]["apiVersion"] == version, "%s has apiVersion %s, want %s" % (
                kind, objs[kind]["apiVersion"], version))
        return ""

    c.check("manifests parse, apiVersion/kind/metadata.name", manifests_parse)
    c.check("expected kinds and API versions", api_versions)

    routes, env_names, origin = server_facts(root)
    print("info routes from %s: %s" % (origin, " ".join(sorted(routes))))

    dep = objs.get("Deployment") or {}
    pod = dig(dep, "spec", "template", "spec") or {}
    pod_labels = dig(dep, "spec", "template", "metadata", "labels") or {}
    containers = pod.get("containers") or []
    ctr = containers[0] if containers else {}
    env = env_map(ctr)
    ports = {p.get("name"): p.get("containerPort") for p in ctr.get("ports") or []}
    port_numbers = set(ports.values())

    def resolve_port(port):
        if isinstance(port, int):
            need(port in port_numbers, "port %d is not a containerPort %s" % (
                port, sorted(port_numbers)))
            return port
        need(port in ports, "named port %r is not declared by the container (%s)" % (
            port, sorted(k for k in ports if k)))
        return ports[port]

    def deployment_basics():
        need(dep, "no Deployment")
        need(len(containers) == 1, "want exactly one container, found %d" % len(containers))
        need(dig(dep, "spec", "replicas", default=1) >= 2,
             "replicas %s: want at least 2 for availability" % dig(dep, "spec", "replicas"))
        sel = dig(dep, "spec", "selector", "matchLabels") or {}
        need(sel, "Deployment has no selector.matchLabels")
        for k, v in sel.items():
            need(pod_labels.get(k) == v, "selector %s=%s is not on the pod template" % (k, v))
        need(ctr.get("image"), "container has no image")
        need(ports.get("http"), "container has no port named http")
        return "image %s, ports %s" % (ctr.get("image"), ports)

    def listen_matches_port():
        listen = env.get("LOSSD_LISTEN", DEFAULT_LISTEN)
        port = listen_port(listen)
        need(port is not None, "LOSSD_LISTEN=%r has no :PORT" % listen)
        need(port == ports.get("http"), "LOSSD_LISTEN port %d != containerPort http %s" % (
            port, ports.get("http")))
        return "LOSSD_LISTEN=%s" % listen

    def env_names_known():
        unknown = sorted(n for n in env if n.startswith("LOSSD_") and n not in env_names)
        need(not unknown, "unknown LOSSD_* variables (typo?): %s; known: %s" % (
            ", ".join(unknown), " ".join(sorted(env_names))))
        need(any(n.startswith("LOSSD_") for n in env), "no LOSSD_* env on the container")
        return "%d LOSSD_* set" % sum(n.startswith("LOSSD_") for n in env)

    def probes():
        notes = []
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = ctr.get(kind)
            need(probe, "container has no %s" % kind)
            get = probe.get("httpGet")
            need(get, "%s is not an httpGet probe" % kind)
            path = get.get("path", "/")
            need(path in routes, "%s path %s is not served by lossd (routes from %s: %s)" % (
                kind, path, origin, " ".join(sorted(routes))))
            port = resolve_port(get.get("port"))
            need(port == listen_port(env.get("LOSSD_LISTEN", DEFAULT_LISTEN)),
                 "%s port %s is not the LOSSD_LISTEN port" % (kind, port))
            notes.append("%s %s:%s" % (kind[:-5], path, port))
        need(dig(ctr, "livenessProbe", "httpGet", "path") == "/healthz",
             "livenessProbe must use /healthz (liveness), not %s" %
             dig(ctr, "livenessProbe", "httpGet", "path"))
        need(dig(ctr, "readinessProbe", "httpGet", "path") == "/readyz",
             "readinessProbe must use /readyz, which turns 503 while draining")
        return ", ".join(notes)

    def graceful_shutdown():
        grace = pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        pre = prestop_seconds(ctr)
        need(pre > 0, "no preStop sleep: the pod would get SIGTERM while still in endpoints")
        drain = int(env.get("LOSSD_DRAIN_TIMEOUT", DEFAULT_DRAIN))
        need(grace > pre + drain,
             "terminationGracePeriodSeconds %d <= preStop %d + LOSSD_DRAIN_TIMEOUT %d" % (
                 grace, pre, drain))
        cmd = dig(ctr, "lifecycle", "preStop", "exec", "command") or []
        if cmd:
            need(str(cmd[0]).startswith("/bin/") or str(cmd[0]).startswith("/usr/bin/")
                 or cmd[0] in ("sleep", "sh", "bash"),
                 "preStop runs %r, which the bookworm-slim image may not have" % cmd[0])
        return "%d > %d + %d" % (grace, pre, drain)

    def security_context():
        psc = pod.get("securityContext") or {}
        csc = ctr.get("securityContext") or {}

        def eff(key):
            return csc.get(key, psc.get(key))
        need(eff("runAsNonRoot") is True, "runAsNonRoot is not true")
        uid = eff("runAsUser")
        need(isinstance(uid, int) and uid != 0, "runAsUser %r must be a non-zero uid" % uid)
        need(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
        need(csc.get("allowPrivilegeEscalation") is False,
             "allowPrivilegeEscalation is not false")
        need(csc.get("privileged") in (None, False), "container is privileged")
        drop = [str(x).upper() for x in dig(csc, "capabilities", "drop", default=[]) or []]
        need("ALL" in drop, "capabilities.drop does not include ALL")
        need(not dig(csc, "capabilities", "add"), "capabilities.add is not empty")
        seccomp = dig(csc, "seccompProfile", "type") or dig(psc, "seccompProfile", "type")
        need(seccomp == "RuntimeDefault", "seccompProfile.type is %r, want RuntimeDefault"
             % seccomp)
        dockerfile = os.path.join(root, "Dockerfile")
        if os.path.isfile(dockerfile):
            with open(dockerfile, encoding="utf-8") as f:
                users = re.findall(r"^USER\s+(\d+)", f.read(), re.M)
            if users:
                need(int(users[-1]) == uid, "runAsUser %d differs from the Dockerfile's USER %s"
                     % (uid, users[-1]))
        return "uid %d" % uid

    def resources():
        res = ctr.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                need(dig(res, kind, r) is not None, "resources.%s.%s is missing" % (kind, r))
        for r in ("cpu", "memory"):
            need(quantity(res["requests"][r]) <= quantity(res["limits"][r]),
                 "%s request %s exceeds limit %s" % (r, res["requests"][r], res["limits"][r]))
        return "requests %s, limits %s" % (res["requests"], res["limits"])

    def scrape_annotations():
        ann = dig(dep, "spec", "template", "metadata", "annotations") or {}
        need(str(ann.get("prometheus.io/scrape")) == "true",
             "pod template lacks prometheus.io/scrape: \"true\"")
        port = ann.get("prometheus.io/port")
        need(port is not None and int(port) == ports.get("http"),
             "prometheus.io/port %r is not the http port %s" % (port, ports.get("http")))
        path = ann.get("prometheus.io/path", "/metrics")
        need(path in routes, "prometheus.io/path %s is not served" % path)
        return "%s:%s" % (path, port)

    def service():
        svc = objs.get("Service")
        need(svc, "no Service")
        sel = dig(svc, "spec", "selector") or {}
        need(sel, "Service has no selector")
        for k, v in sel.items():
            need(pod_labels.get(k) == v, "Service selector %s=%s is not on the pods" % (k, v))
        need(dig(svc, "spec", "type", default="ClusterIP") == "ClusterIP",
             "Service type %s, want ClusterIP" % dig(svc, "spec", "type"))
        sports = dig(svc, "spec", "ports") or []
        need(sports, "Service has no ports")
        for p in sports:
            target = resolve_port(p.get("targetPort", p.get("port")))
            need(target == ports.get("http"), "targetPort resolves to %s, not http" % target)
        need(any(p.get("port") == 80 for p in sports), "Service does not listen on port 80")
        return "80 -> %s" % sports[0].get("targetPort")

    def hpa():
        h = objs.get("HorizontalPodAutoscaler")
        need(h, "no HorizontalPodAutoscaler")
        ref = dig(h, "spec", "scaleTargetRef") or {}
        need(ref.get("kind") == "Deployment" and ref.get("name") == dig(dep, "metadata", "name"),
             "scaleTargetRef %s/%s is not the Deployment %s" % (
                 ref.get("kind"), ref.get("name"), dig(dep, "metadata", "name")))
        need(ref.get("apiVersion") == "apps/v1", "scaleTargetRef.apiVersion is not apps/v1")
        lo, hi = dig(h, "spec", "minReplicas", default=1), dig(h, "spec", "maxReplicas")
        need(isinstance(hi, int) and lo <= hi, "minReplicas %s > maxReplicas %s" % (lo, hi))
        cpu = [m for m in dig(h, "spec", "metrics", default=[]) or []
               if dig(m, "resource", "name") == "cpu"
               and dig(m, "resource", "target", "type") == "Utilization"]
        need(cpu, "no CPU Utilization metric")
        need(dig(ctr, "resources", "requests", "cpu") is not None,
             "CPU utilization needs resources.requests.cpu on the container")
        return "%d..%d at %s%% CPU" % (lo, hi,
                                      dig(cpu[0], "resource", "target", "averageUtilization"))

    def pdb():
        p = objs.get("PodDisruptionBudget")
        need(p, "no PodDisruptionBudget")
        sel = dig(p, "spec", "selector", "matchLabels") or {}
        need(sel, "PDB has no selector.matchLabels")
        for k, v in sel.items():
            need(pod_labels.get(k) == v, "PDB selector %s=%s is not on the pods" % (k, v))
        need(dig(p, "spec", "minAvailable") == 1, "want minAvailable: 1")
        floor = dig(objs.get("HorizontalPodAutoscaler"), "spec", "minReplicas", default=1)
        floor = min(floor, dig(dep, "spec", "replicas", default=1))
        need(floor > 1, "minAvailable 1 with at most 1 replica blocks every node drain")
        return "minAvailable 1 of >= %d" % floor

    def kustomization():
        name = next((n for n in docs if n in ("kustomization.yaml", "kustomization.yml")), None)
        need(name, "no kustomization.yaml")
        k = docs[name][0]
        listed = k.get("resources") or []
        for r in listed:
            need(os.path.isfile(os.path.join(k8s_dir, r)), "listed resource %s does not exist" % r)
        others = sorted(n for n in docs if n != name)
        missing = [n for n in others if n not in listed]
        need(not missing, "kustomization does not list %s" % ", ".join(missing))
        need(k.get("labels") or k.get("commonLabels"), "kustomization sets no common labels")
        return "%d resources" % len(listed)

    def kustomize_renders():
        kubectl = shutil.which("kubectl")
        if not kubectl:
            return "skip: kubectl not installed"
        p = subprocess.run([kubectl, "kustomize", k8s_dir], capture_output=True, text=True,
                           check=False)
        err = p.stderr.strip().splitlines()
        need(p.returncode == 0, "kubectl kustomize failed: %s" % (err[-1] if err else p.returncode))
        rendered = [d for d in yaml.safe_load_all(p.stdout) if d]
        kinds = sorted(d["kind"] for d in rendered)
        need(len(rendered) == len(docs) - 1, "rendered %d objects: %s" % (len(rendered), kinds))
        return ", ".join(kinds)

    k8s_checks = [
        ("Deployment selector, replicas, image, http port", deployment_basics),
        ("LOSSD_LISTEN port = containerPort", listen_matches_port),
        ("LOSSD_* names are known", env_names_known),
        ("probes on served GET routes and the http port", probes),
        ("grace period > preStop + drain", graceful_shutdown),
        ("securityContext", security_context),
        ("resources requests/limits", resources),
        ("Prometheus scrape annotations", scrape_annotations),
        ("Service selector and targetPort", service),
        ("HPA targets the Deployment on CPU", hpa),
        ("PDB selector and minAvailable", pdb),
        ("kustomization lists every manifest", kustomization),
        ("kubectl kustomize renders", kustomize_renders),
    ]
    parse_failed = c.failed
    for name, fn in k8s_checks:
        if parse_failed:
            c.check(name, lambda: "skip: manifests did not parse")
            continue
        c.check(name, fn)

    # ---- compose and Prometheus ----
    compose = {}

    def compose_parses():
        path = os.path.join(root, COMPOSE)
        try:
            with open(path, encoding="utf-8") as f:
                compose.update(yaml.safe_load(f) or {})
        except (OSError, yaml.YAMLError) as e:
            raise Failure("%s: %s" % (COMPOSE, e))
        svcs = compose.get("services") or {}
        need("lossd" in svcs and "prometheus" in svcs,
             "services lossd and prometheus required, have %s" % sorted(svcs))
        return ""

    def compose_lossd():
        s = dig(compose, "services", "lossd") or {}
        build = s.get("build")
        ctx = build if isinstance(build, str) else dig(build, "context")
        need(ctx, "lossd is not built from the Dockerfile")
        ctx_dir = os.path.normpath(os.path.join(root, "deploy", ctx))
        dockerfile = dig(build, "dockerfile", default="Dockerfile") \
            if isinstance(build, dict) else "Dockerfile"
        need(os.path.isfile(os.path.join(ctx_dir, dockerfile)),
             "build context %s has no %s" % (ctx, dockerfile))
        envs = s.get("environment") or {}
        if isinstance(envs, list):
            envs = dict(e.split("=", 1) if "=" in e else (e, None) for e in envs)
        unknown = sorted(n for n in envs if n.startswith("LOSSD_") and n not in env_names)
        need(not unknown, "unknown LOSSD_* variables: %s" % ", ".join(unknown))
        port = listen_port(envs.get("LOSSD_LISTEN", DEFAULT_LISTEN))
        published = [str(p) for p in s.get("ports") or []]
        need(any(p.split(":")[-1].split("/")[0] == str(port) for p in published),
             "container port %s is not published (%s)" % (port, published))
        hc = s.get("healthcheck") or {}
        test = hc.get("test")
        text = " ".join(test) if isinstance(test, list) else str(test or "")
        need("/healthz" in text, "lossd healthcheck does not hit /healthz")
        need(not re.search(r"(?<!\$)\$(?!\$)", text.replace("$$", "")),
             "healthcheck has an unescaped $ (compose would interpolate it; write $$)")
        if isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"):
            need(test[1:2] != ["curl"], "the image has no curl")
        grace = str(s.get("stop_grace_period", "10s"))
        m = re.match(r"^(\d+)s$", grace)
        drain = int(envs.get("LOSSD_DRAIN_TIMEOUT", DEFAULT_DRAIN))
        need(m and int(m.group(1)) > drain,
             "stop_grace_period %s does not exceed LOSSD_DRAIN_TIMEOUT %ds" % (grace, drain))
        return "context %s, port %s" % (ctx, port)

    def compose_prometheus():
        s = dig(compose, "services", "prometheus") or {}
        need(str(s.get("image", "")).startswith("prom/prometheus"),
             "prometheus image is %r, want prom/prometheus" % s.get("image"))
        mounts = [str(v) for v in s.get("volumes") or []]
        need(any(v.split(":")[0] in ("./prometheus.yml", "prometheus.yml")
                 and "/etc/prometheus/prometheus.yml" in v for v in mounts),
             "deploy/prometheus.yml is not mounted at /etc/prometheus/prometheus.yml")
        return ""

    def prometheus_scrapes_lossd():
        path = os.path.join(root, PROMETHEUS)
        try:
            with open(path, encoding="utf-8") as f:
                cfg = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as e:
            raise Failure("%s: %s" % (PROMETHEUS, e))
        default_interval = dig(cfg, "global", "scrape_interval", default="1m")
        for job in cfg.get("scrape_configs") or []:
            targets = [t for sc in job.get("static_configs") or [] for t in sc.get("targets", [])]
            if "lossd:8080" not in targets:
                continue
            mpath = job.get("metrics_path", "/metrics")
            need(mpath == "/metrics" and mpath in routes,
                 "job %s scrapes %s, want /metrics" % (job.get("job_name"), mpath))
            interval = job.get("scrape_interval", default_interval)
            need(interval == "5s", "job %s scrapes every %s, want 5s" % (
                job.get("job_name"), interval))
            return "job %s: lossd:8080%s every %s" % (job.get("job_name"), mpath, interval)
        raise Failure("no scrape job targets lossd:8080")

    def promtool_accepts():
        promtool = shutil.which("promtool")
        if not promtool:
            return "skip: promtool not installed (Debian package prometheus)"
        p = subprocess.run([promtool, "check", "config", os.path.join(root, PROMETHEUS)],
                           capture_output=True, text=True, check=False)
        out = (p.stdout + p.stderr).strip().splitlines()
        need(p.returncode == 0, "promtool check config: %s" % (out[-1] if out else p.returncode))
        return ""

    for name, fn in [("docker-compose.yml parses, has lossd and prometheus", compose_parses),
                     ("compose lossd: build, env, port, healthcheck", compose_lossd),
                     ("compose prometheus mounts prometheus.yml", compose_prometheus),
                     ("prometheus.yml scrapes lossd:8080/metrics", prometheus_scrapes_lossd),
                     ("promtool check config prometheus.yml", promtool_accepts)]:
        c.check(name, fn)

    skipped = (", %d skipped" % c.skipped) if c.skipped else ""
    print("deploy: %d passed, %d failed%s" % (c.passed, c.failed, skipped))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
