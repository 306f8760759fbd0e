"""The Kubernetes test cluster for tests/kube/: scripts/k8s-lab/up.sh --real-node, once per session.

Every test here is marked ``kubernetes`` (``make test-fast`` deselects them). The ``cluster``
fixture never skips: if the cluster cannot come up the tests fail, so CI cannot pass without
them. ``BLOCKC_TEST_KUBECONFIG`` (with ``BLOCKC_TEST_REGISTRY`` and ``BLOCKC_TEST_REGISTRY_CA``,
or a ``registry.env`` beside the kubeconfig) points the tests at a cluster that is already up
instead; it is then neither started nor stopped here.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from kube_site import read_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LAB = ROOT / "scripts" / "k8s-lab"
CACHE = Path(os.environ.get("K8S_LAB_CACHE", "/var/cache/k8s-lab"))
NEEDED = (
    "bin/kube-apiserver",
    "bin/kube-controller-manager",
    "bin/kube-scheduler",
    "bin/kubectl",
    "bin/kubelet",
    "bin/etcd",
    "bin/kwok",
    "bin/kwokctl",
    "images/pause.tar",
)
UP_TIMEOUT = 600
DOWN_TIMEOUT = 300
REFUSED = 3  # up.sh: refused before starting anything (do not run down.sh)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.kubernetes)


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path  # admin kubeconfig
    kubectl: Path
    registry: str  # "host:port", TLS, no auth
    registry_ca: Path  # the site CA the registry's certificate is signed by
    state: Path  # the cluster's state dir (up.sh's K8S_LAB_STATE)
    node: str  # the real node's name


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


def _existing_cluster(kubeconfig: Path) -> Cluster:
    if not kubeconfig.is_file():
        pytest.fail(f"BLOCKC_TEST_KUBECONFIG={kubeconfig}: no such file")
    registry = os.environ.get("BLOCKC_TEST_REGISTRY")
    registry_ca = os.environ.get("BLOCKC_TEST_REGISTRY_CA")
    env_file = kubeconfig.parent / "registry.env"
    if not (registry and registry_ca) and env_file.is_file():
        env = read_env(env_file)
        registry = registry or env.get("REGISTRY")
        registry_ca = registry_ca or env.get("REGISTRY_CA")
    if not (registry and registry_ca):
        pytest.fail(
            "BLOCKC_TEST_KUBECONFIG is set: set BLOCKC_TEST_REGISTRY (host:port) and "
            "BLOCKC_TEST_REGISTRY_CA (the registry's CA certificate) too"
        )
    if not Path(registry_ca).is_file():
        pytest.fail(f"BLOCKC_TEST_REGISTRY_CA={registry_ca}: no such file")
    kubectl = CACHE / "bin" / "kubectl"
    if not os.access(kubectl, os.X_OK):
        pytest.fail(f"{kubectl} is missing: run `make k8s-tools`")
    p = subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if p.returncode:
        pytest.fail(
            f"the cluster of BLOCKC_TEST_KUBECONFIG={kubeconfig} does not answer:\n{p.stderr}"
        )
    real = [
        n["metadata"]["name"]
        for n in json.loads(p.stdout)["items"]
        if "kwok.x-k8s.io/node" not in (n["metadata"].get("annotations") or {})
    ]
    if not real:
        pytest.fail(f"the cluster of BLOCKC_TEST_KUBECONFIG={kubeconfig} has no real node")
    return Cluster(kubeconfig, kubectl, registry, Path(registry_ca), kubeconfig.parent, real[0])


def _new_state_dir() -> Path:
    if os.environ.get("K8S_LAB_STATE"):
        return Path(os.environ["K8S_LAB_STATE"])
    return Path("/var/lib/k8s-lab-runs") / str(os.getpid())


def _down(state: Path, purge: bool) -> list[str]:
    """down.sh for ``state``; returns what it left behind (empty if nothing)."""
    env = {**os.environ, "K8S_LAB_CACHE": str(CACHE), "K8S_LAB_STATE": str(state)}
    args = [str(LAB / "down.sh")] + (["--purge"] if purge else [])
    problems = []
    try:
        p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=DOWN_TIMEOUT)
        if p.returncode:
            problems.append(f"down.sh exited {p.returncode}:\n{_tail(p.stdout + p.stderr)}")
    except subprocess.TimeoutExpired:
        problems.append(f"down.sh took longer than {DOWN_TIMEOUT}s")
    left = subprocess.run(["pgrep", "-a", "-f", str(state) + "/"], capture_output=True, text=True)
    if left.stdout.strip():
        problems.append(f"processes of {state} still running:\n{left.stdout}")
    if subprocess.run(["ip", "link", "show", "k8slab0"], capture_output=True).returncode == 0:
        problems.append("bridge k8slab0 still exists")
    return problems


@pytest.fixture(scope="session")
def cluster(request):
    """The test cluster (level 2: a real node, a TLS registry); see the module's docstring."""
    given = os.environ.get("BLOCKC_TEST_KUBECONFIG")
    if given:
        yield _existing_cluster(Path(given))
        return

    missing = [n for n in NEEDED if not (CACHE / n).exists()]
    if missing:
        pytest.fail(
            f"the Kubernetes test cluster's binaries are missing in {CACHE} "
            f"({', '.join(missing)}): run `make k8s-tools`"
        )
    if os.geteuid() != 0:
        pytest.fail("the Kubernetes test cluster needs root (containerd, kubelet, CNI)")

    state = _new_state_dir()
    env = {**os.environ, "K8S_LAB_CACHE": str(CACHE), "K8S_LAB_STATE": str(state)}
    up_ok = False
    run_down = True
    try:
        t0 = time.monotonic()
        try:
            p = subprocess.run(
                [str(LAB / "up.sh"), "--real-node"],
                env=env,
                capture_output=True,
                text=True,
                timeout=UP_TIMEOUT,
            )
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            pytest.fail(f"up.sh --real-node took longer than {UP_TIMEOUT}s:\n{_tail(out)}")
        if (state / "logs").is_dir():
            (state / "logs" / "up.out").write_text(p.stdout + p.stderr)
        if p.returncode == REFUSED:
            run_down = False  # nothing was started, and the state dir may be someone else's
        if p.returncode:
            pytest.fail(
                f"scripts/k8s-lab/up.sh --real-node (K8S_LAB_STATE={state}) exited "
                f"{p.returncode} (logs: {state}/logs):\n{_tail(p.stdout + p.stderr)}"
            )
        reg = read_env(state / "registry.env")
        c = Cluster(
            kubeconfig=state / "kubeconfig",
            kubectl=CACHE / "bin" / "kubectl",
            registry=reg["REGISTRY"],
            registry_ca=Path(reg["REGISTRY_CA"]),
            state=state,
            node="k8slab-node",
        )
        print(f"\n[kube] cluster up in {time.monotonic() - t0:.1f}s (state {state})")
        up_ok = True
        yield c
    finally:
        if run_down:
            # Keep the logs (state/logs) when something failed; otherwise remove it all.
            purge = up_ok and request.session.testsfailed == 0
            problems = _down(state, purge=purge)
            if problems:
                msg = "tearing the Kubernetes test cluster down:\n" + "\n".join(problems)
                if not up_ok:
                    # up.sh's failure is already being reported: do not hide it.
                    print(msg, file=sys.stderr)
                else:
                    pytest.fail(msg)


@pytest.fixture(scope="session")
def kubectl(cluster):
    """kubectl(*args, input=None, check=True) -> CompletedProcess (text), admin kubeconfig."""

    def run(*args, input=None, check=True, timeout=120):
        cmd = [str(cluster.kubectl), "--kubeconfig", str(cluster.kubeconfig), *map(str, args)]
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode:
            raise KubectlError(p.returncode, cmd, p.stdout, p.stderr)
        return p

    return run


@pytest.fixture
def namespace(kubectl):
    """A fresh namespace ``t-<random>`` (with its default ServiceAccount), deleted afterwards."""
    name = f"t-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    try:
        # Pods are refused until kube-controller-manager has made the default ServiceAccount.
        deadline = time.monotonic() + 30
        while kubectl("-n", name, "get", "serviceaccount", "default", check=False).returncode:
            if time.monotonic() > deadline:
                pytest.fail(f"namespace {name}: no default ServiceAccount after 30 s")
            time.sleep(0.2)
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
