"""The Kubernetes runtime (SPEC §6): a studio is a Deployment (one pod, its main container
running every app), a Service and a NetworkPolicy (only the front door's pods reach it),
server-side applied (field manager ``blockc``) into the site's namespace; exec and sync go
through the API's exec stream, apps are reached through its port-forward (``blockc
forward``) or the front door. Every call is made by :mod:`.rest` (why: there); the official
client loads the configurations that module does not read itself.

Images: a studio's image is pushed to the site's ``registry`` (``build --push``; ``start``
pushes it when the registry lacks it), and the node pulls it from there.

Ownership: the studio's objects carry the labels of :data:`blockc.names.OWNERSHIP`; before
every action blockc reads them on the object it acts on, and one that lacks them (a
same-named object of someone else's) is an error naming it, never changed or removed. Each
deploy labels its pod template with a fresh ``blockc.dev/deploy`` value, so the pod of this
very deploy is told from the one it replaces.
"""

from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import quote, urlsplit

from ....errors import BlockcError
from ....names import (
    CONTAINER,
    LABEL_INSTALLATION,
    LABEL_OWNER,
    LABEL_STUDIO,
    NotOurs,
    check_ownership,
)
from ... import state
from ...progress import Progress
from ...settings import Settings
from .. import Runtime
from . import pods
from .api import Cluster, not_found
from .exec import V4, V5, ExecProcess, KubeTransport, exec_query
from .rest import ApiError

LABEL_DEPLOY = "blockc.dev/deploy"
# a studio's objects, applied in this order and deleted in it (a studio made by a blockc
# without NetworkPolicies has none: deleting one not there is nothing)
KINDS = ("Deployment", "Service", "NetworkPolicy")


class KubernetesRuntime(Runtime):
    name = "kubernetes"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._cluster: Cluster | None = None
        self._pods: dict[str, str] = {}  # studio -> name of its pod, checked
        self._rows: dict[str, state.Studio] = {}  # studio -> its state row, as read once
        self._ready: dict[str, bool] = {}  # studio -> its pod was Ready when last seen

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = Cluster(self.settings)
        return self._cluster

    @property
    def rest(self):
        return self.cluster.rest

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def publishes_ports(self) -> bool:
        return False

    def location(self) -> str:
        """The cluster and the namespace. The cluster is named by its certificate authority
        when it has one of its own (reached at another address, from inside the cluster say,
        it is the same), else by its API server's URL."""
        cluster = self.cluster.rest.endpoint.cluster_id()
        return f"cluster {cluster} namespace {self.namespace}" if cluster else self._url()

    def _url(self) -> str:
        """The API server (scheme, host and port as a URL names them) and the namespace."""
        url = urlsplit(self.cluster.host)
        port = url.port or (443 if url.scheme == "https" else 80)
        host = (url.hostname or "").lower()
        host = f"[{host}]" if ":" in host else host
        return f"{url.scheme}://{host}:{port}{url.path.rstrip('/')} namespace {self.namespace}"

    def elsewhere(self, row: state.Studio) -> bool:
        """Whether the studio has objects on another cluster or namespace than this one's
        (one stopped has none anywhere). A studio started at this API server's URL is here,
        however its cluster was named then."""
        here = (self.location(), self._url())
        return bool(row.location) and row.state != "STOPPED" and row.location not in here

    def expected(self, studio: str) -> dict[str, str]:
        """As :meth:`Runtime.expected`, once the studio is known to be here: started on this
        API server in this namespace (not on the cluster or namespace of some other
        settings, where blockc would find nothing and think it gone)."""
        if studio not in self._owners:
            row = state.require(studio)
            if self.elsewhere(row):
                raise BlockcError(
                    f"studio '{studio}' runs on {row.location}, not on the site's "
                    f"{self.location()} (at {self.cluster.host})",
                    hint="act on it with the settings it was started with (kubeconfig, "
                    "namespace), or `blockc rm --force` to forget it",
                )
            self._owners[studio] = row.owner  # (read once: _pod reads its pod's name too)
            self._rows[studio] = row
        return super().expected(studio)

    def _selector(self, studio: str | None = None) -> str:
        sel = f"{LABEL_INSTALLATION}={self.installation()}"
        return sel + (f",{LABEL_STUDIO}={studio}" if studio else "")

    def _path(self, kind: str, name: str = "") -> str:
        ns = quote(self.namespace)
        base = {
            "Deployment": f"/apis/apps/v1/namespaces/{ns}/deployments",
            "Service": f"/api/v1/namespaces/{ns}/services",
            "NetworkPolicy": f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
            "Pod": f"/api/v1/namespaces/{ns}/pods",
        }[kind]
        return f"{base}/{quote(name)}" if name else base

    # --- images -------------------------------------------------------------------------

    def image_for(self, ref: str, progress: Progress) -> str:
        """The image as the cluster's nodes pull it: pushed to the site's registry (when the
        registry does not have it yet)."""
        from ...build import push, registry_has, registry_ref

        if not self.settings.registry:
            raise BlockcError(
                "the kubernetes runtime needs the site setting 'registry' (where nodes pull "
                "studio images from; config.toml or BLOCKC_REGISTRY)"
            )
        if registry_has(ref, self.settings):
            dest = registry_ref(ref, self.settings)
            progress.line(f"image {dest} (in the registry)")
            return dest
        progress.update(f"pushing {ref} to {self.settings.registry}")
        dest = push(ref, self.settings)
        progress.line(f"pushed {dest}")
        return dest

    # --- objects ------------------------------------------------------------------------

    def _check(self, kind: str, obj: dict, expected: dict[str, str]) -> None:
        meta = obj["metadata"]
        check_ownership(kind, meta["name"], meta.get("labels"), expected)

    def _read(self, kind: str, name: str) -> dict | None:
        try:
            return self.rest.get(self._path(kind, name))
        except ApiError as exc:
            if not_found(exc):
                return None
            raise self.cluster.error(exc, f"read the {kind} {name}") from None

    def _list(self, kind: str, selector: str) -> dict:
        try:
            return self.rest.get(self._path(kind), labelSelector=selector)
        except ApiError as exc:
            raise self.cluster.error(exc, f"list the studios' {kind}s") from None

    def deploy(self, studio: str, manifests: list[dict], progress: Progress | None = None) -> str:
        progress = progress or Progress(quiet=True)
        objs = [m for m in manifests if m["kind"] in KINDS]
        dep = next(m for m in objs if m["kind"] == "Deployment")
        labels = dep["metadata"]["labels"]
        expected = {k: labels.get(k, "") for k in (LABEL_INSTALLATION, LABEL_STUDIO, LABEL_OWNER)}
        if expected[LABEL_INSTALLATION] != self.installation():
            raise BlockcError(
                f"studio '{studio}': its manifests were not made for this installation"
            )
        self._owners[studio] = expected[LABEL_OWNER]
        for obj in objs:  # (apply would take over another's object of that name: read first)
            found = self._read(obj["kind"], obj["metadata"]["name"])
            if found is not None:
                self._check(obj["kind"], found, expected)
        import secrets

        token = secrets.token_hex(6)
        dep["spec"]["template"]["metadata"]["labels"][LABEL_DEPLOY] = token
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        for obj in objs:
            obj["metadata"]["namespace"] = self.namespace
            name = obj["metadata"]["name"]
            try:
                self.rest.apply(self._path(obj["kind"], name), obj)
            except ApiError as exc:
                raise self.cluster.error(exc, f"apply the {obj['kind']} {name}") from None
        self._pods.pop(studio, None)
        self._rows.pop(studio, None)  # (its pod is another from now on)
        pod = self._wait_running(studio, token, image, dep["metadata"]["name"], progress)
        self._pods[studio] = pod
        return pod

    def _wait_running(
        self, studio: str, token: str, image: str, deployment: str, progress: Progress
    ) -> str:
        """Wait for the pod of deploy ``token`` to run its main container; its name. A pod
        that will not run (see :func:`pods.problem`) is an error saying why."""
        selector = f"{self._selector(studio)},{LABEL_DEPLOY}={token}"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            seen = False
            for pod in self._watch(selector, timeout=5):
                seen = True
                why = pods.problem(pod, image, lambda p=pod: self._log_tail(p))
                if why:
                    raise BlockcError(f"studio '{studio}': {why}")
                if pods.is_running(pod):
                    return str(pod["metadata"]["name"])
                phase = pod.get("status", {}).get("phase", "")
                progress.update(f"studio {studio}: pod {pod['metadata']['name']} {phase}")
            if not seen:  # no pod after 5 s: does the Deployment say why?
                found = self._read("Deployment", deployment)
                why = pods.deployment_problem(found) if found is not None else ""
                if why:
                    raise BlockcError(f"studio '{studio}': {why}")
        raise BlockcError(f"studio '{studio}': its pod did not start within 10 minutes")

    def _watch(self, selector: str, timeout: int):
        """The pods of ``selector`` now, then as they change, for ``timeout`` seconds."""
        listed = self._list("Pod", selector)
        yield from listed.get("items", ())
        version = listed.get("metadata", {}).get("resourceVersion", "")
        try:
            for event in self.rest.watch(
                self._path("Pod"), timeout, labelSelector=selector, resourceVersion=version
            ):
                if event["type"] in ("ADDED", "MODIFIED"):
                    yield event["object"]
        except ApiError as exc:
            if exc.status == 410:  # (resource version too old: the caller lists again)
                return
            raise self.cluster.error(exc, "watch the studio's pod") from None

    def _log_tail(self, pod: dict, lines: int = 20) -> str:
        """The last lines of the main container's log: of its current run when it has one,
        else of the run before (the kubelet keeps one of them, depending on timing)."""
        path = self._path("Pod", pod["metadata"]["name"]) + "/log"
        for previous in ("false", "true"):
            query = {"container": CONTAINER, "tailLines": str(lines), "previous": previous}
            try:
                text = self.rest.request("GET", path, query).decode("utf-8", "replace")
            except ApiError:
                continue
            if text.strip() and not text.startswith("unable to retrieve container logs"):
                return text
        return "(no log)"

    def container_log(self, studio: str, lines: int) -> str | None:
        expected = self.expected(studio)
        found = self._list("Pod", self._selector(studio)).get("items", ())
        for pod in found:
            self._check("pod", pod, expected)
        current = [p for p in found if not p["metadata"].get("deletionTimestamp")] or found
        if not current:
            return None
        newest = max(current, key=lambda p: p["metadata"].get("creationTimestamp") or "")
        return self._log_tail(newest, lines)

    def wait_healthy(self, studio, studio_json, timeout: float, progress: Progress) -> None:
        """Wait until the pod is Ready (its readiness probe: every app answers its health
        check). A pod that will not run, or apps that stay unhealthy past ``timeout``, is an
        error naming them, with their health URL and log tail."""
        from ....errors import Diagnostic
        from ...instance import base_path

        pod_name = self._pod(studio.name)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for pod in self._watch(self._selector(studio.name), timeout=max(1, min(5, int(left)))):
                if pod["metadata"]["name"] != pod_name:
                    continue
                why = pods.problem(pod, studio.image, lambda p=pod: self._log_tail(p))
                if why:
                    raise BlockcError(f"studio '{studio.name}': {why}")
                if pods.is_ready(pod):
                    for app in studio_json["apps"]:
                        if app.get("health") is not None:
                            progress.line(
                                f"app {app['id']} is healthy ({progress.elapsed():.1f} s)"
                            )
                    return
                if pods.ended(pod):
                    raise BlockcError(
                        f"studio '{studio.name}': its pod {pod_name} ended while apps were "
                        f"starting; `blockc logs {studio.name}` shows why"
                    )
                progress.update(f"waiting for the apps of {studio.name} to be ready")
        from ....compiler.manifests import HEALTH

        res = self.exec(studio.name, HEALTH, user="", capture=True)
        bad = set()
        for line in (res.stderr or "").splitlines():
            if line.startswith("unhealthy: "):
                bad = {x.strip() for x in line[len("unhealthy: ") :].split(",")}
        apps = [a for a in studio_json["apps"] if a.get("health") is not None]
        diags = []
        for app in [a for a in apps if a["id"] in bad] or apps:
            tail = self._app_log(studio.name, app["id"])
            path = app["health"].replace("{base}", base_path(studio.name, app["id"]))
            diags.append(
                Diagnostic(
                    f"app '{app['id']}' did not become healthy within {timeout:.0f} s "
                    f"(GET http://127.0.0.1:{app['port']}{path} in the pod); last lines of "
                    f"its log:\n" + "\n".join(f"    {ln}" for ln in tail.splitlines()),
                    block_id=app["block"],
                    block_type=app["type"],
                )
            )
        raise BlockcError(diags)

    def _app_log(self, studio: str, app_id: str, lines: int = 20) -> str:
        res = self.exec(
            studio,
            ["tail", "-n", str(lines), f"/var/log/blockc/{app_id}.log"],
            user="",
            capture=True,
        )
        return (res.stdout or res.stderr).rstrip()

    def failed_start(self, studio: str) -> None:
        """After a start that failed: the studio is stopped (nothing keeps retrying)."""
        try:
            self.remove(studio)
        except BlockcError:
            pass

    def remove(self, studio: str) -> None:
        """Delete the studio's Deployment, Service and NetworkPolicy: each only as it was when
        its labels were checked (a precondition on its uid and version; one changed meanwhile
        is read and checked again). An object that is not ours is left, the others still go,
        and the first such object is the error."""
        expected = self.expected(studio)
        name = self.base(studio)
        refused: list[BlockcError] = []
        for kind in KINDS:
            try:
                self._delete_checked(kind, name, expected)
            except NotOurs as exc:
                refused.append(exc)
        if refused:
            raise refused[0]
        self._pods.pop(studio, None)
        # stopped means stopped: its pod is gone (the apps had their signal) before we return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = [
                p
                for p in self._list("Pod", self._selector(studio)).get("items", ())
                if (p["metadata"].get("labels") or {}).get(LABEL_OWNER) == expected[LABEL_OWNER]
            ]
            if not left:
                return
            time.sleep(0.2)
        raise BlockcError(f"studio '{studio}': its pod was still there 60 s after deletion")

    def _delete_checked(self, kind: str, name: str, expected: dict[str, str]) -> None:
        for _ in range(5):
            found = self._read(kind, name)
            if found is None:
                return
            self._check(kind, found, expected)
            meta = found["metadata"]
            try:
                self.rest.delete(self._path(kind, name), meta["uid"], meta["resourceVersion"])
                return
            except ApiError as exc:
                if not_found(exc):
                    return
                if exc.status != 409:  # (409: changed since it was read: read it again)
                    raise self.cluster.error(exc, f"delete the {kind} {name}") from None
        raise BlockcError(
            f"the {kind} '{name}' kept changing while blockc removed it; it was not deleted "
            f"(run the command again)"
        )

    # --- state --------------------------------------------------------------------------

    def states(self, owners: dict[str, str]) -> dict[str, str]:
        """The state of many studios (name -> owner) in two API calls: one labelled list of
        this installation's Deployments, one of its pods. An object whose owner label is not
        the studio's owner is not the studio's (it is left alone, and counts as missing)."""

        def ours(obj: dict) -> str | None:
            labels = obj["metadata"].get("labels") or {}
            name = labels.get(LABEL_STUDIO)
            return name if name in owners and owners[name] == labels.get(LABEL_OWNER) else None

        selector = self._selector()
        have = {ours(d) for d in self._list("Deployment", selector).get("items", ())} - {None}
        out = {name: "stopped" if name in have else "missing" for name in owners}
        for row in state.all_studios():  # (those of another cluster or namespace: not here;
            if row.name in out and self.elsewhere(row):  # asked about alone, which says so)
                out[row.name] = ""
        for pod in self._list("Pod", selector).get("items", ()):
            name = ours(pod)
            if name is not None and name in have and pods.is_running(pod):
                out[name] = "running"
                self._pods[name] = str(pod["metadata"]["name"])
                self._ready[name] = pods.is_ready(pod)
        return out

    def state(self, studio: str) -> str:
        try:
            self._pod(studio, fresh=True)
            return "running"
        except _NoPod:
            pass
        found = self._read("Deployment", self.base(studio))
        if found is None:
            return "missing"
        self._check("Deployment", found, self.expected(studio))
        return "stopped"

    def service_address(self, studio: str) -> str:
        """The cluster IP of the studio's Service, its labels checked: where the front door,
        in the cluster, reaches the studio's apps (a cluster need not resolve Service names)."""
        found = self._read("Service", self.base(studio))
        if found is None:
            raise BlockcError(f"studio '{studio}': its Service is not there")
        self._check("Service", found, self.expected(studio))
        address = (found.get("spec") or {}).get("clusterIP")
        if not address or address == "None":
            raise BlockcError(f"studio '{studio}': its Service has no cluster IP")
        return str(address)

    def ready(self, studio: str) -> bool | None:
        if studio not in self._ready:
            self._pod(studio, fresh=True)
        return self._ready.get(studio)

    def _pod(self, studio: str, fresh: bool = False) -> str:
        """The name of the studio's running pod, its labels checked: the one deploy made
        (its name in the state: one request), else the one the labels find."""
        if studio in self._pods and not fresh:
            return self._pods[studio]
        expected = self.expected(studio)
        row = self._rows.get(studio) or state.get(studio)
        known = row.runtime_id if row is not None else ""
        if known:
            pod = None
            try:
                pod = self.rest.get(self._path("Pod", known))
            except ApiError as exc:
                if not not_found(exc):
                    raise self.cluster.error(exc, f"read the pod {known}") from None
            if pod is not None:
                self._check("pod", pod, expected)
                if pods.is_running(pod):
                    return self._found(studio, pod)
        for pod in self._list("Pod", self._selector(studio)).get("items", ()):
            if pods.is_running(pod):
                self._check("pod", pod, expected)
                return self._found(studio, pod)
        raise _NoPod(f"studio '{studio}' has no running pod (it is not running)")

    def _found(self, studio: str, pod: dict) -> str:
        self._pods[studio] = str(pod["metadata"]["name"])
        self._ready[studio] = pods.is_ready(pod)
        return self._pods[studio]

    def keep(self, studio: str) -> str:
        raise BlockcError(
            f"studio '{studio}': on Kubernetes a container's files cannot be kept in an image "
            f"(nothing was removed); sync what you can (`blockc sync --pull {studio}`), "
            f"or `blockc rm --force {studio}` to discard them"
        )

    # --- exec ---------------------------------------------------------------------------

    def open_exec(
        self,
        studio: str,
        argv: list[str],
        *,
        stdin: bool = True,
        tty: bool = False,
        fds: tuple[int | None, int | None, int | None] = (None, None, None),
    ) -> ExecProcess:
        pod = self._pod(studio)
        try:
            ws = self.rest.websocket(
                self._path("Pod", pod) + "/exec",
                exec_query(argv, CONTAINER, stdin=stdin, tty=tty),
                [V5, V4],
            )
        except ApiError as exc:
            raise self.cluster.error(exc, f"exec in the pod {pod}") from None
        return ExecProcess(ws, stdin=stdin, stdin_fd=fds[0], stdout_fd=fds[1], stderr_fd=fds[2])

    def exec(
        self,
        studio: str,
        argv: list[str],
        *,
        user: str,
        workdir: str | None = None,
        interactive: bool = False,
        tty: bool = False,
        capture: bool = False,
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` in the main container, as its user (the studio user: Kubernetes has
        no exec as another user; ``user`` is that of the pod's runAsUser). ``workdir``: the
        container's working directory is the studio's already."""
        if capture:
            proc = self.open_exec(studio, argv, stdin=False)
            assert proc.stdout is not None
            out = proc.stdout.read().decode("utf-8", "replace")
            code = proc.wait()
            return subprocess.CompletedProcess(argv, code, out, proc.stderr_text())
        fds = (
            sys.stdin.fileno() if interactive else None,
            sys.stdout.fileno(),
            sys.stderr.fileno(),
        )
        if tty:
            code, failure = _with_terminal(self, studio, argv, fds)
            if failure:  # (said once the terminal is itself again)
                print(f"blockc: {failure}", file=sys.stderr)
            return subprocess.CompletedProcess(argv, code)
        proc = self.open_exec(studio, argv, stdin=interactive, fds=fds)
        code = proc.wait()
        if proc.failure:
            print(f"blockc: {proc.failure}", file=sys.stderr)
        return subprocess.CompletedProcess(argv, code)

    def transport(self, studio: str, user: int | str) -> KubeTransport:
        pod = self._pod(studio)
        return KubeTransport(lambda argv: self.open_exec(studio, argv), pod)


class _NoPod(BlockcError):
    """The studio has no running pod."""


def _with_terminal(rt: KubernetesRuntime, studio: str, argv: list[str], fds) -> tuple[int, str]:
    """An exec with a terminal: this one in raw mode, its size sent along (and again each
    time the window changes)."""
    import os
    import signal
    import termios
    import threading
    import tty

    fd = fds[0]
    old = termios.tcgetattr(fd)
    before = signal.getsignal(signal.SIGWINCH)
    try:
        tty.setraw(fd)
        proc = rt.open_exec(studio, argv, stdin=True, tty=True, fds=fds)

        def resize():
            size = os.get_terminal_size(fds[1])
            proc.resize(size.columns, size.lines)

        resize()
        # (sent from a thread: the handler must not wait for the stream's lock, which the
        # main thread may hold when the signal comes)
        signal.signal(
            signal.SIGWINCH, lambda *_: threading.Thread(target=resize, daemon=True).start()
        )
        return proc.wait(), proc.failure
    finally:
        signal.signal(signal.SIGWINCH, before)
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
