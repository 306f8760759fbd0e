"""A blockc site on the test cluster: its own home, a namespace, the RBAC of
`blockc manifests --rbac` bound to a ServiceAccount whose token is all blockc gets (never the
cluster admin's), the cluster's registry and a CA bundle holding the site's CA."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCKC = str(Path(sys.executable).with_name("blockc"))
BASE = "localhost/blockc-base/debian-python:bookworm"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


# the one-app template of the runtime's tests and its benchmark
WEB = """\
    - type: app
      id: web
      with:
        command: [python3, -m, http.server, "8000"]
        port: 8000
        health: /
"""


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (the cluster's registry.env)."""
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


class Site:
    def __init__(self, cluster, namespace: str, tmp: Path, kubectl):
        self.cluster = cluster
        self.namespace = namespace
        self.kubectl = kubectl  # the admin's: set-up and checks only
        self.home = tmp / "home"
        self.tmp = tmp
        rbac = self.run("manifests", "--rbac", "--namespace", namespace, check=0, env=_no_site())
        kubectl("apply", "-f", "-", input=rbac.stdout)
        self.kubeconfig = tmp / "blockc.kubeconfig"
        self.kubeconfig.write_text(token_kubeconfig(kubectl, namespace, "blockc"))
        bundle = tmp / "site-ca.pem"  # the host's trust store and the site's CA, as a site has
        bundle.write_bytes(Path(HOST_CA).read_bytes() + Path(cluster.registry_ca).read_bytes())
        self.env = {
            "BLOCKC_HOME": str(self.home),
            "BLOCKC_RUNTIME": "kubernetes",
            "BLOCKC_KUBECONFIG": str(self.kubeconfig),
            "BLOCKC_NAMESPACE": namespace,
            "BLOCKC_REGISTRY": cluster.registry,
            "BLOCKC_CA_BUNDLE": str(bundle),
            "CONTAINERS_CONF": str(ROOT / "etc" / "containers.conf"),
        }

    def run(self, *args, check=None, timeout=900, env=None, input=None, cwd=None, studio_tb=False):
        """``blockc ARGS`` as this site; never a traceback of blockc's (``studio_tb``: the
        output quotes one of the studio's, so only the start of a line is looked at)."""
        full = {**os.environ, **(self.env if env is None else {})}
        full.pop("KUBECONFIG", None)  # (the caller's own, not this site's; ``env`` may set it)
        full.update(env or {})
        full.setdefault("BLOCKC_HOME", str(self.home))
        proc = subprocess.run(
            [BLOCKC, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full,
            input=input,
            cwd=cwd,
        )
        text = proc.stdout + proc.stderr
        if studio_tb:
            assert not any(ln.startswith("Traceback") for ln in text.splitlines()), text
        else:
            assert "Traceback" not in text, text
        if check is not None:
            assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def status(self, name: str) -> dict:
        return json.loads(
            self.run("status", name, "--format", "json", check=0, studio_tb=True).stdout
        )[0]

    def installation(self) -> str:
        """The home's installation id (made now if it has none yet)."""
        code = "from blockc.run.state import installation_id; print(installation_id())"
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "BLOCKC_HOME": str(self.home)},
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def pods(self, name: str) -> list[dict]:
        out = self.kubectl(
            "-n", self.namespace, "get", "pods", "-l", f"blockc.dev/studio={name}", "-o", "json"
        ).stdout
        return json.loads(out)["items"]

    def template(self, name: str, blocks: str, *, extra: str = "") -> Path:
        path = self.tmp / f"{name}.yaml"
        path.write_text(
            f"apiVersion: blockc/v1\nkind: StudioTemplate\nmetadata: {{name: {name}}}\n"
            f"spec:\n  image: {{base: {BASE}}}\n{extra}  blocks:\n{blocks}"
        )
        return path


def _no_site() -> dict:
    return {"BLOCKC_RUNTIME": "", "BLOCKC_KUBECONFIG": "", "BLOCKC_REGISTRY": ""}


def token_kubeconfig(kubectl, namespace: str, account: str) -> str:
    """A kubeconfig for the cluster's API server with a token of ``account`` (and nothing of
    the admin's credentials)."""
    raw = json.loads(kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    cluster = raw["clusters"][0]["cluster"]
    token = kubectl("-n", namespace, "create", "token", account, "--duration", "2h").stdout.strip()
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {"name": "lab", "context": {"cluster": "lab", "user": account, "namespace": namespace}}
        ],
        "current-context": "lab",
    }
    return json.dumps(cfg)


@contextlib.contextmanager
def tcp_relay(target: tuple[str, int]):
    """A TCP relay on 127.0.0.1 to ``target``; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pipe(a, b):
        try:
            while data := a.recv(1 << 16):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection(target)
            threading.Thread(target=pipe, args=(conn, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
