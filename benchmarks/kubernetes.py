#!/usr/bin/env python3
"""Kubernetes runtime benchmark: blockc against kubectl (and tar, rsync) on the test cluster.

    .venv/bin/python benchmarks/kubernetes.py [--part start,exec,stream,sync,scale] [--runs N]
        [--files 10000] [--kubeconfig ADMIN_KUBECONFIG]

Parts (default ``start,exec,sync``; the issue's speed goals, each printed with the medians,
every run's value, the ratio or difference and whether the goal is met: a missed goal is
reported, never a failure; a command that fails ends the benchmark):

start  the start of a one-app studio (``python3 -m http.server`` with health ``/``, image
       already on the node: a warm-up start built and pushed it), the whole ``blockc start``
       command against ``kubectl apply --server-side -f`` of the same manifests (``blockc
       manifests ... --image <the registry's ref>``, the same Deployment with its readiness
       probe) followed by ``kubectl wait --for=condition=Available``; each removed again
       (untimed) before the next. Goal: blockc at most 1 s more (median).
exec   ``blockc exec NAME -- true`` against ``kubectl exec POD -- true`` (30 calls of each
       per run, taking turns). Goal: at most 1.0x (median). Shown beside (no goal): kubectl
       exec -i, and blockc exec without the resident blockc.
stream 100 MB each way through one exec stream: blockc's (WebSocket v5 with
       websocket-client) against the official client's ``stream()`` and kubectl; what chose
       blockc's stream (no goal; not run by default).
sync   10,000 files / ~240 MB (mixed sizes as benchmarks/sync.py, scaled to ~24 KB a file;
       ``--files``). Full push into a fresh studio (a new studio per run, its zone empty at
       start; then the tree is copied into the workspace and ``blockc sync NAME --push``
       timed) against ``tar -C SRC -cf - . | kubectl exec -i POD -- tar -C DIR -xf -``
       (goal: at most 1.2x) and ``rsync -a`` over ``kubectl exec`` (no goal, shown); 1% of
       the files changed in the studio then pulled, and 1% changed on the host then pushed,
       ``blockc sync NAME --pull/--push`` against ``rsync -a --delete --blocking-io
       --rsh="kubectl exec -i POD --" env:DIR/ LOCAL/`` (the "host" of rsync's remote path
       is the command the rsh runs first: ``env rsync --server ...``; goals: at most 1.0x);
       nothing changed, both tools again (no goal, shown). Each result is checked: blockc's
       summary has the expected counts, and the SHA-256 of a sample of files (every changed
       one) is the same on both sides for every tool.
scale  (brings up its own level-1 cluster: ``scripts/k8s-lab/up.sh`` without --real-node in
       its own K8S_LAB_STATE, with ``K8S_LAB_REGISTRY=1`` (a TLS registry for blockc to push
       to; fake pods never pull) and ``K8S_LAB_AUDIT=1`` (the API server's audit log), 19
       more fake nodes (20 in all); always torn down with down.sh; needs the ports of the
       level-2 dev cluster, so that one must be down.) 200 studios of a template without
       sync zones (kwok runs an exec's command on the host itself: never sync there)
       started one after the other; ``blockc status`` and ``blockc status --format json``
       of all 200 (median of 5; goal: at most 1 s; the JSON must list 200 RUNNING); the API
       requests of each start and of one status, counted from the audit log (events of
       blockc's ServiceAccount, stage ResponseComplete, by verb and resource; goal for
       status: a few labelled lists, not one call per studio).

Every tool runs as a user runs it, as its own process: blockc as the CLI, against a site of
its own (a scratch ``BLOCKC_HOME``, a namespace made and deleted here, the RBAC of ``blockc
manifests --rbac`` bound to a ServiceAccount whose token is all blockc gets, the cluster's
registry and a CA bundle holding the site CA: as tests/kube/kube_site.py sets one up);
kubectl with that same token for exec and sync (the same identity and authorisation) and
the admin's kubeconfig for start (the site's Role has no watch on Deployments, which
``kubectl wait`` needs). blockc's exec, sync and status run in the resident blockc, its
default (blockc/resident: the command's process hands them to a warm process that forks for
each; ``BLOCKC_RESIDENT=require`` makes a timed command fail rather than run without it);
``BLOCKC_RESIDENT=0`` in the environment measures every blockc command in its own process, and
the exec part shows that way too, beside. Tools take turns going first (full pushes rotate); every timed run
starts after a ``sync``, once no ``runc exec`` (an exec's or a probe's) runs on the node,
with the tree the tool reads just read (in the page cache).

Needs root, podman and buildah (CONTAINERS_CONF: etc/containers.conf by default), rsync, the
level-2 test cluster up (``up.sh --real-node``; its admin kubeconfig: ``--kubeconfig``,
$BLOCKC_TEST_KUBECONFIG or /var/lib/k8s-lab-dev/kubeconfig, with registry.env beside it) and
kubectl of the cluster's build ($K8S_LAB_CACHE/bin/kubectl). Builds (once) the images of the
templates kbench-web and kbench-sync (the latter with rsync from Debian).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "benchmarks"))
sys.path.insert(0, str(HERE / "tests" / "kube"))
from _common import compile_bytecode, quiet_and_cached  # noqa: E402
from kube_site import HOST_CA, WEB, read_env, token_kubeconfig  # noqa: E402

CACHE = Path(os.environ.get("K8S_LAB_CACHE", "/var/cache/k8s-lab"))
KUBECTL = str(CACHE / "bin" / "kubectl")
LAB = HERE / "scripts" / "k8s-lab"
BASE = os.environ.get("BLOCKC_TEST_BASE_IMAGE", "localhost/blockc-base/debian-python:bookworm")
BLOCKC = str(Path(sys.executable).with_name("blockc"))
OWNER = "bench"
RESIDENT = os.environ.get("BLOCKC_RESIDENT") or "require"
HOME_DIR = "/home/studio"  # the studio user's home (the image's)
GOAL_FILE_BYTES = 24_000  # ~240 MB for 10,000 files
EXEC_CALLS = 30  # per run

SYNC_BLOCKS = (
    "    - type: system-packages\n      with: {apt: [rsync]}\n"
    + WEB
    + "    - type: file-sync\n      with:\n        zones:\n"
    + f"          - {{name: data, host: data, container: {HOME_DIR}/data}}\n"
)


def log(msg: str) -> None:
    print(msg, flush=True)


def run(argv, *, env=None, input=None, capture=True, timeout=1800) -> subprocess.CompletedProcess:
    """A command that must succeed (else the benchmark ends, showing its output)."""
    p = subprocess.run(
        [str(a) for a in argv],
        env=env,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=capture,
        text=True,
        timeout=timeout,
    )
    if p.returncode:
        out = (p.stdout or "") + (p.stderr or "") if capture else ""
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(map(str, argv))}\n{out}")
    return p


FAILURES: list[str] = []  # commands that failed where the benchmark goes on (see exec)


def timed(argv, *, env=None, expect: str | None = None, shell=False, go_on=False):
    """Seconds of one command (its output captured, not shown); it must succeed, and its
    output hold ``expect`` when given. ``go_on``: a failure is recorded in FAILURES (the
    benchmark then exits 1 once it has printed its figures) and None returned."""
    out = tempfile.TemporaryFile()
    t = time.perf_counter()
    p = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, shell=shell
    )
    dt = time.perf_counter() - t
    out.seek(0)
    text = out.read().decode("utf-8", "replace")
    out.close()
    if p.returncode:
        if go_on:
            FAILURES.append(f"exit {p.returncode}: {argv}: {text.strip()[-300:]}")
            return None
        raise SystemExit(f"command failed ({p.returncode}): {argv}\n{text}")
    if expect is not None and expect not in text:
        raise SystemExit(f"{argv}: output lacks {expect!r}:\n{text}")
    return dt


def runc_execs() -> bool:
    """Whether a ``runc exec`` runs on this host (an exec's or a readiness probe's)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"runc" and b"exec" in argv:
            return True
    return False


def settle(source: Path | None = None, timeout: float = 3.0) -> None:
    """No dirty pages pending, no ``runc exec`` running (at most ``timeout`` s), and the tree
    the next tool reads (``source``) in the page cache: no tool pays for the one before it
    (see benchmarks/sync.py)."""
    quiet_and_cached(source)
    end = time.monotonic() + timeout
    while runc_execs() and time.monotonic() < end:
        time.sleep(0.05)


# ---------------------------------------------------------------------------- the site


class Site:
    """A blockc site in namespace ``namespace`` of the cluster of ``admin`` (a kubeconfig):
    as tests/kube/kube_site.py makes one."""

    def __init__(self, admin: Path, registry: str, registry_ca: Path, namespace: str, tmp: Path):
        self.admin = admin
        self.namespace = namespace
        self.tmp = tmp
        self.home = tmp / "home"
        self.registry = registry
        self.kubectl("create", "namespace", namespace)
        self.made = True
        deadline = time.monotonic() + 60
        while self.kubectl("-n", namespace, "get", "sa", "default", check=False).returncode:
            if time.monotonic() > deadline:
                raise SystemExit(f"namespace {namespace}: no default ServiceAccount after 60 s")
            time.sleep(0.2)
        no_site = {
            **os.environ,
            "BLOCKC_RUNTIME": "",
            "BLOCKC_KUBECONFIG": "",
            "BLOCKC_REGISTRY": "",
        }
        rbac = run([BLOCKC, "manifests", "--rbac", "--namespace", namespace], env=no_site).stdout
        self.kubectl("apply", "-f", "-", input=rbac)
        self.kubeconfig = tmp / "blockc.kubeconfig"
        self.kubeconfig.write_text(token_kubeconfig(self.kubectl, namespace, "blockc"))
        bundle = tmp / "site-ca.pem"
        bundle.write_bytes(Path(HOST_CA).read_bytes() + Path(registry_ca).read_bytes())
        self.env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        self.env.update(
            BLOCKC_HOME=str(self.home),
            BLOCKC_RUNTIME="kubernetes",
            BLOCKC_KUBECONFIG=str(self.kubeconfig),
            BLOCKC_NAMESPACE=namespace,
            BLOCKC_REGISTRY=registry,
            BLOCKC_CA_BUNDLE=str(bundle),
            # timed blockc commands run in the resident blockc (its default), or fail: never
            # in-process unnoticed; BLOCKC_RESIDENT=0 in the environment measures without it
            BLOCKC_RESIDENT=RESIDENT,
            BLOCKC_RESIDENT_IDLE="3600",
        )
        self.user = f"system:serviceaccount:{namespace}:blockc"

    def resident(self) -> None:
        """Start the resident blockc (unless it is turned off), and wait for it to answer."""
        if RESIDENT == "0":
            return
        deadline = time.monotonic() + 30
        while True:
            p = subprocess.run(
                [BLOCKC, "status", "--format", "json"],
                env={**self.env, "BLOCKC_RESIDENT": "1"},
                capture_output=True,
            )
            q = subprocess.run(
                [BLOCKC, "status", "--format", "json"],
                env={**self.env, "BLOCKC_RESIDENT": "require"},
                capture_output=True,
                text=True,
            )
            if "BLOCKC_RESIDENT=require" not in q.stderr:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"no resident blockc after 30 s: {q.stderr}{p.stderr!r}")
            time.sleep(0.2)

    def kubectl(self, *args, input=None, check=True, token=False) -> subprocess.CompletedProcess:
        """kubectl as the admin (``token``: with blockc's token instead)."""
        cfg = self.kubeconfig if token else self.admin
        argv = [KUBECTL, "--kubeconfig", str(cfg), *map(str, args)]
        p = subprocess.run(
            argv,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and p.returncode:
            raise SystemExit(f"command failed ({p.returncode}): {' '.join(argv)}\n{p.stderr}")
        return p

    def kctl(self, *args) -> list[str]:
        """argv of kubectl with blockc's token (its context's namespace is the site's)."""
        return [KUBECTL, "--kubeconfig", str(self.kubeconfig), *map(str, args)]

    def blockc(self, *args, expect: str | None = None) -> str:
        out = run([BLOCKC, *args], env=self.env)
        text = out.stdout + out.stderr
        if expect is not None and expect not in text:
            raise SystemExit(f"blockc {' '.join(map(str, args))}: output lacks {expect!r}:\n{text}")
        return text

    def template(self, name: str, blocks: str) -> Path:
        path = self.tmp / f"{name}.yaml"
        path.write_text(
            f"apiVersion: blockc/v1\nkind: StudioTemplate\nmetadata: {{name: {name}}}\n"
            f"spec:\n  image: {{base: {BASE}}}\n  blocks:\n{blocks}"
        )
        return path

    def pod(self, studio: str) -> str:
        out = self.kubectl(
            "-n", self.namespace, "get", "pods", "-l", f"blockc.dev/studio={studio}", "-o", "json"
        ).stdout
        names = [
            p["metadata"]["name"]
            for p in json.loads(out)["items"]
            if not p["metadata"].get("deletionTimestamp")
        ]
        if len(names) != 1:
            raise SystemExit(f"studio {studio}: pods {names}, not one")
        return names[0]

    def image(self, studio: str) -> str:
        out = self.kubectl(
            "-n", self.namespace, "get", "deploy", "-l", f"blockc.dev/studio={studio}", "-o", "json"
        ).stdout
        [dep] = json.loads(out)["items"]
        return dep["spec"]["template"]["spec"]["containers"][0]["image"]

    def wait_no_pods(self, studio: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        sel = f"blockc.dev/studio={studio}"
        while self.kubectl("-n", self.namespace, "get", "pods", "-l", sel, "-o", "name").stdout:
            if time.monotonic() > deadline:
                raise SystemExit(f"the pods of {studio} still there after {timeout:.0f} s")
            time.sleep(0.2)

    def delete(self) -> None:
        if getattr(self, "made", False):
            self.kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)
            self.made = False


# ---------------------------------------------------------------------------- results


class Results:
    def __init__(self):
        self.times: dict[str, list[float]] = {}
        self.goals: list[tuple] = []  # (goal text, blockc key, peer key, kind, limit)
        self.notes: list[tuple[str, str, str, str, str]] = []  # extra summary rows

    def add(self, key: str, value: float) -> None:
        self.times.setdefault(key, []).append(value)

    def med(self, key: str) -> float:
        return statistics.median(self.times[key])

    def show(self, keys: list[str], unit: str = "s") -> None:
        print(f"\n{'':34} {'median':>9}   runs")
        for k in keys:
            v = self.times[k]
            scale, fmt = (1000, "{:.0f}") if unit == "ms" else (1, "{:.3f}")
            runs = " ".join(fmt.format(x * scale) for x in v)
            print(f"{k:34} {fmt.format(self.med(k) * scale):>7} {unit:2}   {runs}", flush=True)

    def ratio(self, goal: str, a: str, b: str, limit: float, per: str = "run") -> None:
        r = self.med(a) / self.med(b)
        line = f"{goal}: {r:.2f}x (goal <= {limit}x) {'MET' if r <= limit else 'MISSED'}"
        if len(self.times[a]) == len(self.times[b]):
            pairs = [x / y for x, y in zip(self.times[a], self.times[b], strict=True)]
            line += (
                f"; per {per}: median {statistics.median(pairs):.2f}x, blockc faster in "
                f"{sum(p < 1 for p in pairs)}/{len(pairs)}"
            )
        print(line, flush=True)
        self.goals.append((goal, a, b, "ratio", limit))

    def difference(self, goal: str, a: str, b: str, limit: float) -> None:
        d = self.med(a) - self.med(b)
        pairs = [x - y for x, y in zip(self.times[a], self.times[b], strict=True)]
        print(
            f"{goal}: {d:+.3f} s (goal <= +{limit} s) {'MET' if d <= limit else 'MISSED'}; "
            f"per run: median {statistics.median(pairs):+.3f} s",
            flush=True,
        )
        self.goals.append((goal, a, b, "diff", limit))

    def summary(self) -> None:
        print("\nSUMMARY")
        head = f"{'goal':52} {'blockc':>10} {'peer':>10} {'ratio/diff':>11}  met"
        print(head)
        print("-" * len(head))
        for goal, a, b, kind, limit in self.goals:
            ma, mb = self.med(a), self.med(b)
            if kind == "ratio":
                value, met = f"{ma / mb:.2f}x", ma / mb <= limit
            else:
                value, met = f"{ma - mb:+.3f} s", ma - mb <= limit
            print(f"{goal:52} {ma:9.3f}s {mb:9.3f}s {value:>11}  {'yes' if met else 'NO'}")
        for goal, a, b, value, met in self.notes:
            print(f"{goal:52} {a:>10} {b:>10} {value:>11}  {met}")
        sys.stdout.flush()


# ---------------------------------------------------------------------------- level 2


class Level2:
    def __init__(self, args, results: Results):
        self.args = args
        self.r = results
        self.tmp = Path(tempfile.mkdtemp(prefix="blockc-kbench-"))
        admin = Path(args.kubeconfig)
        if not admin.is_file():
            raise SystemExit(f"{admin}: no such kubeconfig (is the level-2 test cluster up?)")
        reg = (
            read_env(admin.parent / "registry.env")
            if (admin.parent / "registry.env").is_file()
            else {}
        )
        registry = os.environ.get("BLOCKC_TEST_REGISTRY") or reg.get("REGISTRY")
        ca = os.environ.get("BLOCKC_TEST_REGISTRY_CA") or reg.get("REGISTRY_CA")
        if not (registry and ca):
            raise SystemExit(f"no registry.env beside {admin} (nor BLOCKC_TEST_REGISTRY{{,_CA}})")
        self.site = Site(admin, registry, Path(ca), f"kbench-{secrets.token_hex(3)}", self.tmp)
        log(f"site: namespace {self.site.namespace}, registry {registry}, home {self.site.home}")
        self._web: Path | None = None

    def cleanup(self) -> None:
        self.site.delete()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def web(self) -> Path:
        """The one-app template, its image built and pushed, and on the node (a warm-up
        start, removed again)."""
        if self._web is None:
            t = self.site.template("kbench-web", WEB)
            t0 = time.monotonic()
            self.site.blockc("start", t, "--studio", "warm", "--owner", OWNER)
            self.web_image = self.site.image("warm")
            self.site.blockc("rm", "warm")
            log(
                f"warm-up start (build, push, pull) {time.monotonic() - t0:.1f} s: {self.web_image}"
            )
            self._web = t
        return self._web

    # ------------------------------------------------------------------------- start
    def start(self) -> None:
        runs = self.args.runs or 7
        log(f"\n== start: blockc start vs kubectl apply + wait Available ({runs} runs)")
        t = self.web()
        ns = self.site.namespace
        admin = [KUBECTL, "--kubeconfig", str(self.site.admin), "-n", ns]

        def manifests(name: str) -> Path:
            out = self.site.blockc(
                "manifests",
                t,
                "--studio",
                name,
                "--owner",
                OWNER,
                "--namespace",
                ns,
                "--image",
                self.web_image,
            )
            path = self.tmp / f"{name}.yaml"
            path.write_text(out)
            return path

        def deployment(path: Path) -> str:
            import yaml

            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "Deployment":
                    return doc["metadata"]["name"]
            raise SystemExit(f"{path}: no Deployment")

        def kubectl_start(name: str) -> float:
            path = manifests(name)
            dep = deployment(path)
            apply = [*admin, "apply", "--server-side", "-f", str(path)]
            wait = [
                *admin,
                "wait",
                "--for=condition=Available",
                f"deployment/{dep}",
                "--timeout=120s",
            ]
            settle()
            t0 = time.perf_counter()
            timed(apply)
            timed(wait)
            dt = time.perf_counter() - t0
            run([*admin, "delete", "-f", str(path), "--wait=true"])
            self.site.wait_no_pods(name)
            return dt

        def blockc_start(name: str) -> float:
            argv = [BLOCKC, "start", str(t), "--studio", name, "--owner", OWNER]
            settle()
            dt = timed(argv, env=self.site.env, expect=f"studio {name} is running")
            self.site.blockc("rm", name)
            return dt

        kubectl_start("kwarm")  # (kubectl's first run, as blockc's warm-up start)
        for i in range(runs):
            tools = [
                ("start: blockc start", lambda: blockc_start(f"b{i}")),
                ("start: kubectl apply + wait", lambda: kubectl_start(f"k{i}")),
            ]
            for key, fn in tools if i % 2 == 0 else tools[::-1]:
                self.r.add(key, fn())
            log(
                f"run {i + 1}/{runs}: blockc {self.r.times['start: blockc start'][-1]:.3f} s, "
                f"kubectl {self.r.times['start: kubectl apply + wait'][-1]:.3f} s"
            )
        self.r.show(["start: blockc start", "start: kubectl apply + wait"])
        self.r.difference(
            "start to apps healthy: blockc - kubectl <= 1 s",
            "start: blockc start",
            "start: kubectl apply + wait",
            1.0,
        )

    # -------------------------------------------------------------------------- exec
    def exec(self) -> None:
        runs = self.args.runs or 7
        log(f"\n== exec: blockc exec vs kubectl exec ({runs} runs x {EXEC_CALLS} calls)")
        t = self.web()
        self.site.blockc("start", t, "--studio", "x", "--owner", OWNER)
        pod = self.site.pod("x")
        env = self.site.env
        blockc = [BLOCKC, "exec", "x", "--", "true"]
        calls = {  # key: (argv, environment)
            "exec: blockc exec": (blockc, env),
            "exec: kubectl exec": (self.site.kctl("exec", pod, "--", "true"), env),
            # (blockc exec always attaches stdin: kubectl with it too, shown, no goal)
            "exec: kubectl exec -i": (self.site.kctl("exec", "-i", pod, "--", "true"), env),
            # (without the resident blockc: a process that imports blockc; shown, no goal)
            "exec: blockc, in-process": (blockc, {**env, "BLOCKC_RESIDENT": "0"}),
        }
        keys = list(calls)
        per_run: dict[str, list[float]] = {k: [] for k in calls}
        self.site.resident()
        for argv, e in calls.values():  # warm-up
            timed(argv, env=e)
        n = 0
        failed = 0
        for i in range(runs):
            settle()
            this: dict[str, list[float]] = {k: [] for k in calls}
            for _ in range(EXEC_CALLS):
                order = keys[n % len(keys) :] + keys[: n % len(keys)]  # (each goes first as often)
                n += 1
                step = {key: timed(*calls[key][:1], env=calls[key][1], go_on=True) for key in order}
                if None in step.values():  # (a failed call: recorded; its step not counted)
                    failed += 1
                    continue
                for key, dt in step.items():
                    this[key].append(dt)
            for key, v in this.items():
                self.r.times.setdefault(key, []).extend(v)
                per_run[key].append(statistics.median(v))
            log(
                f"run {i + 1}/{runs}: medians "
                + ", ".join(f"{k[6:]} {per_run[k][-1] * 1000:.0f} ms" for k in keys)
            )
        print(f"\n{'(medians of each run)':34} {'median':>9}   runs")
        for key, v in per_run.items():
            every = self.r.times[key]
            print(
                f"{key:34} {self.r.med(key) * 1000:7.0f} ms   "
                + " ".join(f"{x * 1000:.0f}" for x in v)
                + f"   ({len(every)} calls: min {min(every) * 1000:.0f}, "
                f"max {max(every) * 1000:.0f} ms)"
            )
        if failed:
            print(f"{failed} of {n} steps had a failed call (not counted; see the end)")
        self.r.ratio("exec NAME -- true: blockc / kubectl <= 1.0x", *keys[:2], 1.0, per="call")
        print(
            f"(blockc / kubectl exec -i: {self.r.med(keys[0]) / self.r.med(keys[2]):.2f}x; "
            f"blockc in-process / kubectl: {self.r.med(keys[3]) / self.r.med(keys[1]):.2f}x; "
            f"no goal)"
        )
        self.site.blockc("rm", "x")

    # ------------------------------------------------------------------------ stream
    def stream(self) -> None:
        """The exec stream itself, 100 MB each way into ``cat > /dev/null`` and out of
        ``head -c``: blockc's (WebSocket v5, websocket-client, two pumps) against the official
        client's ``kubernetes.stream.stream`` (its WSClient) and kubectl. What chose blockc's
        stream: no goal of the issue's, shown."""
        runs = self.args.runs or 3
        log(f"\n== stream: 100 MB through exec, each way ({runs} runs)")
        t = self.web()
        self.site.blockc("start", t, "--studio", "st", "--owner", OWNER)
        pod = self.site.pod("st")
        blob = self.tmp / "100m"
        blob.write_bytes(os.urandom(100 << 20))
        for _ in range(runs):
            settle()
            out = run(
                [sys.executable, "-P", "-c", STREAM_PROBE, "st", pod, self.site.namespace],
                env=self.site.env,
                timeout=1200,
            ).stdout
            for key, value in json.loads(out.splitlines()[-1]).items():
                if key.endswith("bytes short"):
                    log(f"{key}: {value:.0f} of {100 << 20} bytes never arrived")
                else:
                    self.r.add(f"stream: {key}", value)
            settle()
            self.r.add(
                "stream: push, kubectl exec -i",
                timed(
                    [
                        "sh",
                        "-c",
                        " ".join(
                            self.site.kctl("exec", "-i", pod, "--", "sh", "-c", "'cat > /dev/null'")
                        )
                        + f" < {blob}",
                    ],
                    env=self.site.env,
                    shell=False,
                ),
            )
            settle()
            self.r.add(
                "stream: pull, kubectl exec",
                timed(
                    [
                        "sh",
                        "-c",
                        " ".join(
                            self.site.kctl("exec", pod, "--", "head", "-c", "100M", "/dev/zero")
                        )
                        + " > /dev/null",
                    ],
                    env=self.site.env,
                    shell=False,
                ),
            )
        keys = sorted(k for k in self.r.times if k.startswith("stream: "))
        self.r.show(keys)
        self.site.blockc("rm", "st")

    # -------------------------------------------------------------------------- sync
    def sync(self) -> None:
        runs = self.args.runs or 3
        nfiles = self.args.files
        log(f"\n== sync: {nfiles} files, {runs} runs")
        t = self.site.template("kbench-sync", SYNC_BLOCKS)
        src = self.tmp / "src"
        names = make_tree(src, nfiles)
        total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
        ndirs = len({rel.rsplit("/", k)[0] for rel in names for k in range(1, rel.count("/") + 1)})
        log(f"tree: {nfiles} files in {ndirs} directories, {total / 1e6:.0f} MB")
        keys = {
            "full": ("full push: blockc", "full push: tar pipe", "full push: rsync"),
            "pull": ("1% pull: blockc", "1% pull: rsync"),
            "push": ("1% push: blockc", "1% push: rsync"),
            "none": ("no change: blockc", "no change: rsync"),
        }
        for i in range(runs):
            log(f"run {i + 1}/{runs}")
            name = f"s{i}"
            ws = self.tmp / f"ws{i}"
            (ws / "data").mkdir(parents=True)
            t0 = time.monotonic()
            self.site.blockc("start", t, "--studio", name, "--owner", OWNER, "--workspace", ws)
            log(f"  studio {name} started in {time.monotonic() - t0:.1f} s (untimed)")
            pod = self.site.pod(name)
            kx = self.site.kctl("exec", "-i", pod, "--")
            zone, tar_dir, rs_dir = f"{HOME_DIR}/data", f"{HOME_DIR}/tar{i}", f"{HOME_DIR}/rsync{i}"
            run([*kx, "mkdir", "-p", tar_dir, rs_dir])
            shutil.copytree(src, ws / "data", dirs_exist_ok=True)  # blockc's host tree
            rs_local = self.tmp / f"rs{i}"  # rsync's host tree, owned as in the studio (rsync
            shutil.copytree(src, rs_local)  # -a as root would chown every file at its first pull)
            run(["chown", "-R", "1000:1000", rs_local])
            rsh = f"--rsh={' '.join(kx)}"
            rsync = ["rsync", "-a", "--delete", "--blocking-io", rsh]
            sync = [BLOCKC, "sync", name]
            env = self.site.env

            # the first push after a set-up is slow whichever tool makes it (benchmarks/sync.py):
            # an untimed one takes it
            settle(src)
            timed(
                f"tar -C '{src}' -cf - . | {' '.join(kx)} sh -c 'mkdir -p {HOME_DIR}/warm && "
                f"tar -C {HOME_DIR}/warm -xf -'",
                shell=True,
            )
            run([*kx, "rm", "-rf", f"{HOME_DIR}/warm"])
            pushes = [
                (
                    keys["full"][1],
                    lambda: timed(
                        f"tar -C '{src}' -cf - . | {' '.join(kx)} tar -C {tar_dir} -xf -",
                        shell=True,
                    ),
                    src,
                ),
                (
                    keys["full"][2],
                    lambda: timed([*rsync, f"{rs_local}/", f"env:{rs_dir}/"]),
                    rs_local,
                ),
                (
                    keys["full"][0],
                    lambda: timed(
                        [*sync, "--push"], env=env, expect=f"push {nfiles + ndirs} added"
                    ),
                    ws / "data",
                ),
            ]
            self.site.resident()
            for key, fn, source in pushes[i % 3 :] + pushes[: i % 3]:
                settle(source)
                self.r.add(key, fn())
            sample = random.Random(i).sample(names, min(len(names), 50))
            self.verify(kx, sample, [(src, tar_dir), (rs_local, rs_dir), (ws / "data", zone)])
            for d in (zone, tar_dir, rs_dir):  # (blockc's zone holds its marker, .blockc-sync-id)
                count = f"find {d} -type f ! -name .blockc-sync-id | wc -l"
                files = int(run([*kx, "sh", "-c", count]).stdout)
                if files != nfiles:
                    raise SystemExit(f"after the full pushes: {files} files in {d}, not {nfiles}")
            run([*kx, "rm", "-rf", tar_dir])
            self.site.blockc("sync", name, expect="up to date")  # nothing should move

            def both(pair, fns):
                self.site.resident()
                order = list(zip(pair, fns, strict=True))
                for key, fn in order if i % 2 == 0 else order[::-1]:
                    settle()
                    self.r.add(key, fn())

            # 1% changed in the studio, pulled
            picks = random.Random(100 + i).sample(names, max(1, nfiles // 100))
            for root in (rs_dir, zone):
                change_in_studio(kx, root, picks, seed=i)
            both(
                keys["pull"],
                (
                    lambda: timed([*sync, "--pull"], env=env, expect=f"pull {len(picks)} modified"),
                    lambda: timed([*rsync, f"env:{rs_dir}/", f"{rs_local}/"]),
                ),
            )
            self.verify(kx, picks + sample, [(rs_local, rs_dir), (ws / "data", zone)])

            # 1% changed on the host, pushed
            picks = random.Random(200 + i).sample(names, max(1, nfiles // 100))
            for root in (rs_local, ws / "data"):
                change_on_host(root, picks, seed=i)
            both(
                keys["push"],
                (
                    lambda: timed([*sync, "--push"], env=env, expect=f"push {len(picks)} modified"),
                    lambda: timed([*rsync, f"{rs_local}/", f"env:{rs_dir}/"]),
                ),
            )
            self.verify(kx, picks + sample, [(rs_local, rs_dir), (ws / "data", zone)])

            # nothing changed
            both(
                keys["none"],
                (
                    lambda: timed(sync, env=env, expect="up to date"),
                    lambda: timed([*rsync, f"{rs_local}/", f"env:{rs_dir}/"]),
                ),
            )
            self.site.blockc("rm", "--force", name)
            shutil.rmtree(ws)
            shutil.rmtree(rs_local)
            log(
                "  "
                + ", ".join(
                    f"{k} {v[-1]:.2f} s"
                    for k, v in self.r.times.items()
                    if k.split(":")[0] in ("full push", "1% pull", "1% push", "no change")
                )
            )
        self.r.show([k for group in keys.values() for k in group])
        print()
        self.r.ratio("sync full push: blockc / tar pipe <= 1.2x", *keys["full"][:2], 1.2)
        print(
            f"(full push: blockc / rsync {self.r.med(keys['full'][0]) / self.r.med(keys['full'][2]):.2f}x, no goal)"
        )
        self.r.ratio("sync 1% pull: blockc / rsync <= 1.0x", *keys["pull"], 1.0)
        self.r.ratio("sync 1% push: blockc / rsync <= 1.0x", *keys["push"], 1.0)
        print(
            f"(no change: blockc / rsync {self.r.med(keys['none'][0]) / self.r.med(keys['none'][1]):.2f}x, no goal)"
        )

    def verify(self, kx: list[str], rels: list[str], pairs: list[tuple[Path, str]]) -> None:
        """The SHA-256 of each of ``rels`` is the same in each (host tree, studio dir)."""
        code = (
            "import hashlib,json,sys\nroot=sys.argv[1]\n"
            "print(json.dumps({r: hashlib.sha256(open(root+'/'+r,'rb').read()).hexdigest() "
            "for r in sys.stdin.read().split()}))"
        )
        rels = sorted(set(rels))
        for local, remote in pairs:
            got = json.loads(
                run([*kx, "python3", "-c", code, remote], input="\n".join(rels)).stdout
            )
            for rel in rels:
                want = hashlib.sha256((local / rel).read_bytes()).hexdigest()
                if got[rel] != want:
                    raise SystemExit(f"{rel}: differs between {local} and the studio's {remote}")


def make_tree(root: Path, nfiles: int, seed: int = 1) -> list[str]:
    """``nfiles`` random files in 100 directories, sizes mixed as benchmarks/sync.py makes them
    (90% small, 9% medium, 1% large), scaled to ~24 KB a file on average."""
    rnd = random.Random(seed)
    sizes = []
    for _ in range(nfiles):
        r = rnd.random()
        if r < 0.90:
            sizes.append(rnd.randint(512, 8 << 10))
        elif r < 0.99:
            sizes.append(rnd.randint(32 << 10, 256 << 10))
        else:
            sizes.append(rnd.randint(64 << 10, 1 << 20))
    scale = GOAL_FILE_BYTES * nfiles / sum(sizes)
    names = []
    for i, size in enumerate(sizes):
        rel = f"d{i % 10}/e{(i // 10) % 10}/f{i:05d}.bin"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(max(1, round(size * scale))))
        names.append(rel)
    return names


def change_in_studio(kx: list[str], root: str, picks: list[str], seed: int) -> None:
    code = (
        "import os,sys,random\nr=random.Random(%d)\nfor rel in sys.stdin.read().split('\\n'):\n"  # noqa: UP031
        "  p=os.path.join(%r, rel); n=os.path.getsize(p)\n"
        "  open(p,'wb').write(os.urandom(n + r.randint(1, 100)))\n"
    ) % (seed, root)
    run([*kx, "python3", "-c", code], input="\n".join(picks))


def change_on_host(root: Path, picks: list[str], seed: int) -> None:
    r = random.Random(seed)
    for rel in picks:
        p = root / rel
        p.write_bytes(os.urandom(p.stat().st_size + r.randint(1, 100)))  # (owner kept)


# ---------------------------------------------------------------------------- level 1


FAKE_NODE = """\
apiVersion: v1
kind: Node
metadata:
  name: {name}
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: {name}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {{cpu: "32", memory: 256Gi, pods: "110"}}
  capacity: {{cpu: "32", memory: 256Gi, pods: "110"}}
"""
SCALE_STUDIOS = 200
SCALE_NODES = 20


def scale(args, r: Results) -> None:
    n = args.studios
    state = Path(f"/var/lib/k8s-lab-runs/kbench-{os.getpid()}")  # (never another cluster's)
    log(f"\n== scale: level-1 cluster (state {state}), {SCALE_NODES} fake nodes, {n} studios")
    env = {
        **os.environ,
        "K8S_LAB_CACHE": str(CACHE),
        "K8S_LAB_STATE": str(state),
        "K8S_LAB_REGISTRY": "1",
        "K8S_LAB_AUDIT": "1",
    }
    env.pop("KUBECONFIG", None)
    t0 = time.monotonic()
    up = subprocess.run([str(LAB / "up.sh")], env=env, capture_output=True, text=True, timeout=900)
    if up.returncode == 3:  # refused before starting anything: nothing to tear down
        raise SystemExit(f"up.sh refused (is another k8s-lab cluster up?):\n{up.stderr}")
    tmp = Path(tempfile.mkdtemp(prefix="blockc-kbench-scale-"))
    ok = False
    site = None
    try:
        if up.returncode:
            raise SystemExit(f"up.sh failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        log(f"level-1 cluster up in {time.monotonic() - t0:.1f} s")
        admin = state / "kubeconfig"
        reg = read_env(state / "registry.env")
        kube = [KUBECTL, "--kubeconfig", str(admin)]
        nodes = "---\n".join(FAKE_NODE.format(name=f"kwok-node-{k}") for k in range(1, SCALE_NODES))
        run([*kube, "apply", "-f", "-"], input=nodes)
        run([*kube, "wait", "--for=condition=Ready", "node", "-l", "type=kwok", "--timeout=120s"])
        ready = run([*kube, "get", "nodes", "-l", "type=kwok", "-o", "name"]).stdout.split()
        log(f"{len(ready)} fake nodes Ready")
        site = Site(admin, reg["REGISTRY"], Path(reg["REGISTRY_CA"]), "kbench-scale", tmp)
        measure_scale(site, kube, state / "logs" / "audit.log", n, r)
        ok = True
    finally:
        if site is not None:
            site.delete()
        down = [str(LAB / "down.sh")] + (["--purge"] if ok else [])
        d = subprocess.run(down, env=env, capture_output=True, text=True, timeout=600)
        kept = "" if ok else f" (logs kept in {state / 'logs'})"
        log(f"down.sh{' --purge' if ok else ''}: exit {d.returncode}{kept}")
        if d.returncode:
            print(d.stdout + d.stderr, file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


def measure_scale(site: Site, kube: list[str], audit_log: Path, n: int, r: Results) -> None:
    """``n`` studios started one after the other, the status of all of them taken (5 times
    each way), and the API requests of each start and of one status counted in the audit
    log (when there is one)."""
    t = site.template("kbench-scale", WEB)  # no sync zone: never sync on level 1
    t0 = time.monotonic()
    site.blockc("start", t, "--studio", "warm", "--owner", OWNER)
    site.blockc("rm", "warm")
    log(f"warm-up start (build, push) {time.monotonic() - t0:.1f} s")

    windows = []  # (studio, wall-clock start, end)
    t_all = time.monotonic()
    for i in range(n):
        name = f"s{i:03d}"
        w0 = time.time()
        argv = [BLOCKC, "start", str(t), "--studio", name, "--owner", OWNER]
        dt = timed(argv, env=site.env, expect=f"studio {name} is running")
        r.add("scale: blockc start", dt)
        windows.append((name, w0, time.time()))
        if (i + 1) % 25 == 0:
            log(f"  {i + 1} started ({time.monotonic() - t_all:.0f} s)")
    total_start = time.monotonic() - t_all
    out = run([*kube, "-n", site.namespace, "get", "pods", "-o", "json"]).stdout
    pods = json.loads(out)["items"]
    on = {p["spec"].get("nodeName") for p in pods}
    log(f"{n} studios started in {total_start:.1f} s; {len(pods)} pods on {len(on)} nodes")

    site.resident()
    status = [BLOCKC, "status"]
    peer = [
        *kube,
        "-n",
        site.namespace,
        "get",
        "deployments,pods",
        "-l",
        f"blockc.dev/owner={OWNER}",
    ]
    keys = (
        "scale: blockc start",
        "scale: blockc status (all)",
        "scale: blockc status --format json",
        "scale: kubectl get deploy,pods",
    )
    for _ in range(5):
        settle()
        r.add(keys[1], timed(status, env=site.env))
        settle()
        r.add(keys[3], timed(peer))
        settle()
        w0, t0 = time.time(), time.perf_counter()
        got = subprocess.run(
            [*status, "--format", "json"],
            env=site.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        r.add(keys[2], time.perf_counter() - t0)
        status_window = (w0, time.time())
        if got.returncode:
            raise SystemExit(f"blockc status --format json failed:\n{got.stdout}{got.stderr}")
    listed = json.loads(got.stdout)
    states: dict[str, int] = {}
    for s in listed:
        states[s["state"]] = states.get(s["state"], 0) + 1
    log(f"blockc status lists {len(listed)} studios: {states}")
    if len(listed) != n or states.get("RUNNING", 0) != n:
        raise SystemExit(f"blockc status: {states}, not {n} RUNNING")
    r.show(list(keys))
    print(f"{n} starts: {total_start:.1f} s in all")
    for key in keys[1:3]:
        m = r.med(key)
        met = m <= 1
        print(f"{key} of {n} studios: {m:.3f} s (goal <= 1 s) {'MET' if met else 'MISSED'}")
        r.notes.append((f"{key[7:]} of {n} <= 1 s", f"{m:.3f}s", "-", "-", "yes" if met else "NO"))
    peer_med = f"{r.med(keys[3]):.3f}s"
    r.notes.append((f"(kubectl get deployments,pods of {n}: no goal)", peer_med, "-", "-", "-"))

    if not audit_log.is_file():
        print(f"(no audit log at {audit_log}: API requests not counted)")
        return
    time.sleep(2)  # (the events of the last requests written)
    events = audit_events(audit_log, site.user)
    if not events:
        print(f"(no request of {site.user} in the audit log {audit_log}: nothing counted)")
        return
    per_start = [[e for e in events if w0 <= e["t"] <= w1] for _, w0, w1 in windows]
    counts = [len(x) for x in per_start]
    print(
        f"\nAPI requests of blockc start (audit log: user {site.user}, stage ResponseComplete): "
        f"median {statistics.median(counts):.0f}, min {min(counts)}, max {max(counts)} "
        f"over {n} starts"
    )
    mid = len(windows) // 2
    show_requests(per_start[mid], f"blockc start of {windows[mid][0]}")
    st_events = [e for e in events if status_window[0] <= e["t"] <= status_window[1]]
    show_requests(st_events, f"blockc status --format json of {n} studios")
    print(f"user agents of blockc's requests: {sorted({e['agent'] for e in events})}")
    median_start = f"{statistics.median(counts):.0f}"
    r.notes.append(("API requests per blockc start (no goal)", median_start, "-", "-", "-"))
    few = len(st_events) < 10
    r.notes.append(
        (
            f"status of {n}: API requests (a few lists)",
            str(len(st_events)),
            "-",
            "-",
            "yes" if few else "NO",
        )
    )


def audit_events(path: Path, user: str) -> list[dict]:
    """The completed requests of ``user`` in an audit log: {t, verb, resource, agent, code}."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            if (
                e.get("stage") != "ResponseComplete"
                or (e.get("user") or {}).get("username") != user
            ):
                continue
            ref = e.get("objectRef") or {}
            resource = ref.get("resource", e.get("requestURI", "?"))
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            ts = e["requestReceivedTimestamp"].replace("Z", "+00:00")
            out.append(
                {
                    "t": datetime.datetime.fromisoformat(ts).timestamp(),
                    "verb": e.get("verb", "?"),
                    "resource": resource,
                    "agent": e.get("userAgent", ""),
                    "code": (e.get("responseStatus") or {}).get("code"),
                }
            )
    return out


def show_requests(events: list[dict], what: str) -> None:
    groups: dict[tuple[str, str], int] = {}
    for e in events:
        key = (e["verb"], e["resource"])
        groups[key] = groups.get(key, 0) + 1
    blockc_ua = sum(e["agent"].startswith("blockc") for e in events)
    print(f"{what}: {len(events)} requests ({blockc_ua} with User-Agent blockc)")
    for (verb, resource), k in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"    {k:4}  {verb:8} {resource}")


# ---------------------------------------------------------------------------- main


# run in a child (``python -P``: this file's name would shadow the official client)
STREAM_PROBE = r"""
import json, os, sys, time
from blockc.run.settings import load_settings
from blockc.run.runtimes import get_runtime
studio, pod, ns = sys.argv[1:4]
settings = load_settings()
rt = get_runtime("kubernetes", settings)
chunk, MB, out = os.urandom(1 << 20), 100, {}

def ours_push():
    p = rt.open_exec(studio, ["sh", "-c", "cat > /dev/null"])
    t = time.perf_counter()
    for _ in range(MB):
        p.stdin.write(chunk)
    p.stdin.close()
    assert p.wait() == 0
    return time.perf_counter() - t

def ours_pull():
    p = rt.open_exec(studio, ["head", "-c", f"{MB}M", "/dev/zero"], stdin=False)
    t, n = time.perf_counter(), 0
    while d := p.stdout.read(1 << 20):
        n += len(d)
    assert p.wait() == 0 and n == MB << 20, n
    return time.perf_counter() - t

from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(config_file=settings.kubeconfig)
v1 = client.CoreV1Api()

def theirs(command, stdin):
    return stream(v1.connect_get_namespaced_pod_exec, pod, ns, container="studio",
                  command=command, stdin=stdin, stdout=True, stderr=True, tty=False,
                  _preload_content=False, binary=True)

def official_push():
    ws = theirs(["sh", "-c", "cat > /dev/null"], True)
    t = time.perf_counter()
    for _ in range(MB):
        ws.write_stdin(chunk)
    ws.update(timeout=0)
    ws.close()  # (it has no way to end stdin but to end the stream: the command's end unseen)
    return time.perf_counter() - t

def official_pull():
    ws = theirs(["head", "-c", f"{MB}M", "/dev/zero"], False)
    t, n = time.perf_counter(), 0
    while ws.is_open():
        ws.update(timeout=1)
        n += len(ws.read_stdout() or b"") if ws.peek_stdout() else 0
    out["pull, official client: bytes short"] = (MB << 20) - n
    return time.perf_counter() - t

for key, fn in [("push, blockc", ours_push), ("pull, blockc", ours_pull),
                ("push, official client", official_push), ("pull, official client", official_pull)]:
    out[key] = fn()
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--part",
        default="start,exec,sync",
        help="start,exec,stream,sync,scale (default: start,exec,sync)",
    )
    ap.add_argument(
        "--runs", type=int, default=0, help="runs (default: 7 for start and exec, 3 for sync)"
    )
    ap.add_argument("--files", type=int, default=10000, help="files of the sync tree (~24 KB each)")
    ap.add_argument("--studios", type=int, default=SCALE_STUDIOS, help="studios of the scale part")
    ap.add_argument(
        "--kubeconfig",
        default=os.environ.get("BLOCKC_TEST_KUBECONFIG", "/var/lib/k8s-lab-dev/kubeconfig"),
        help="the level-2 cluster's admin kubeconfig (registry.env beside it)",
    )
    args = ap.parse_args()
    parts = [p.strip() for p in args.part.split(",") if p.strip()]
    unknown = set(parts) - {"start", "exec", "stream", "sync", "scale"}
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    conf = os.environ.get("CONTAINERS_CONF", str(HERE / "etc" / "containers.conf"))
    os.environ["CONTAINERS_CONF"] = os.path.abspath(conf)
    if not os.access(KUBECTL, os.X_OK):
        raise SystemExit(f"{KUBECTL} is missing: run `make k8s-tools`")
    compile_bytecode()
    results = Results()
    level2 = [p for p in parts if p != "scale"]
    if level2:
        bench = Level2(args, results)
        try:
            for part in level2:
                getattr(bench, part)()
        finally:
            bench.cleanup()
    if "scale" in parts:
        scale(args, results)
    results.summary()
    if FAILURES:
        print(f"\nFAILED: {len(FAILURES)} command(s) failed (the figures above leave them out):")
        for f in FAILURES:
            print(f"  {f}")
        sys.exit(1)


if __name__ == "__main__":
    main()
