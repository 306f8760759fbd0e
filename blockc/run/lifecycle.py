"""Studio lifecycle: start, status, logs, exec, stop, rm (SPEC §5, §6).

Every action that changes a studio holds its lock; the state row is written at each
transition so a crash leaves an honest state behind (STARTING/STOPPING/FAILED).
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
from pathlib import Path
from typing import Literal

from ..errors import BlockcError, Diagnostic, did_you_mean
from ..names import NotOurs, check_owner, check_studio
from ..value import Value
from . import gate, state
from .instance import base_path, instance_manifests
from .progress import Progress
from .runtimes import Runtime, get_runtime
from .settings import Settings

SYNC_GATE = "/tmp/blockc-sync-done"
KEPT_IN = ", kept in "  # (a studio's message after `stop --force`: what precedes the image)


class AppStatus(Value):
    id: str
    type: str
    label: str
    url: str | None
    healthy: bool | None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "label": self.label,
            "url": self.url,
            "healthy": self.healthy,
        }


def served_base(studio: str, app: dict) -> str:
    """The path an app answers under on this host: its prefix for ``preserve`` apps, ``/``
    for ``strip`` apps (reached directly, no gateway strips a prefix)."""
    return "/" if app["path"] == "strip" else base_path(studio, app["id"])


def app_url(studio: str, app: dict, port: int) -> str:
    return f"http://127.0.0.1:{port}{served_base(studio, app)}"


def health_url(studio: str, app: dict, port: int) -> str:
    """The URL of an app's health check (of an app that has one)."""
    return f"http://127.0.0.1:{port}{app['health'].replace('{base}', served_base(studio, app))}"


_opener = None


def endpoint(studio: state.Studio, app: dict) -> tuple[int, dict[str, str]]:
    """Where on 127.0.0.1 the app is reached from the host, and the headers that takes:
    its published port, or its studio's gate with the gate's secret (port 0: nowhere)."""
    if studio.gate_port:
        return studio.gate_port, {
            gate.SECRET_HEADER: studio.gate_secret,
            gate.APP_PORT_HEADER: str(app["port"]),
        }
    return studio.ports.get(app["id"], 0), {}


def check_health(
    url: str, redirect_ok: bool, timeout: float = 2.0, headers: dict[str, str] | None = None
) -> bool:
    import urllib.error  # (the podman runtime's apps only: exec and sync need none of it)
    import urllib.request

    global _opener
    if _opener is None:

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        _opener = urllib.request.build_opener(NoRedirect)
    try:
        with _opener.open(
            urllib.request.Request(url, headers=headers or {}), timeout=timeout
        ) as resp:
            return 200 <= resp.status < 300
    except urllib.error.HTTPError as exc:
        return redirect_ok and 300 <= exc.code < 400
    except (OSError, ValueError):
        return False


def _free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            # (as podman's port forwarder binds: a port whose last connections are in
            # TIME_WAIT is free for it, a listening one is not)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return s.getsockname()[1]
    raise BlockcError("no free port on 127.0.0.1")


def _runtime(studio: state.Studio, settings: Settings):
    return get_runtime(studio.runtime, settings)


def app_log_tail(
    studio: state.Studio,
    settings: Settings,
    app_id: str,
    lines: int = 20,
    rt: Runtime | None = None,
) -> str:
    log = f"/var/log/blockc/{app_id}.log"
    res = (rt or _runtime(studio, settings)).exec(
        studio.name, ["tail", "-n", str(lines), log], user="0", capture=True
    )
    return (res.stdout or res.stderr).rstrip()


def start(
    template: str,
    name: str,
    *,
    owner: str | None,
    workspace: str | None,
    runtime: str | None,
    base_image: str | None,
    settings: Settings,
    registry=None,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> state.Studio:
    # the compiler and the builder: only start needs them (status, logs, stop... do not)
    from ..compiler import compile
    from .build import build, ensure_artifact

    check_studio(name)
    progress = progress or Progress()
    with state.lock(name, create=True):
        existing = state.get(name)
        owner = owner or (existing.owner if existing else getpass.getuser())
        check_owner(owner)
        if existing and existing.owner != owner:
            raise BlockcError(
                f"studio '{name}' belongs to owner '{existing.owner}', not "
                f"'{owner}'; pick another --studio name"
            )
        runtime = runtime or (existing.runtime if existing else settings.runtime)
        if existing and existing.runtime != runtime:
            raise BlockcError(
                f"studio '{name}' runs on {existing.runtime}, not {runtime}; `blockc rm "
                f"{name}` first (after `blockc stop`, which syncs its files out) or pick "
                f"another name"
            )
        if workspace is None:
            workspace = existing.workspace if existing and existing.workspace else os.getcwd()
        workspace = str(Path(workspace).resolve())
        if os.path.exists(workspace) and not os.path.isdir(workspace):
            raise BlockcError(f"workspace {workspace} is not a directory")
        artifact = compile(template, registry=registry, base_image=base_image)
        if artifact.studio.get("zones") and not os.path.exists(workspace):
            try:  # (a new one: made, as the zones' files will be synced out into it)
                os.makedirs(workspace)
            except OSError as exc:
                raise BlockcError(
                    f"cannot make the workspace {workspace}: {exc.strerror}"
                ) from None
        if existing and existing.template != artifact.name:
            raise BlockcError(
                f"studio '{name}' runs template '{existing.template}', not "
                f"'{artifact.name}'; `blockc rm {name}` first or pick another name"
            )
        artifact_dir = ensure_artifact(artifact)
        progress.line(f"studio {name}: template {artifact.name} ({artifact.short_hash})")
        rt = get_runtime(runtime, settings)
        if not rt.publishes_ports() and _in_registry(artifact.image_ref, settings):
            # (built and pushed before, by a CI job say: nothing to build here; where blockc
            # has no builder, the front door in a cluster, this is how studios start)
            ref, built = artifact.image_ref, False
        else:
            ref, built = build(artifact, artifact_dir, settings, progress=progress)
            progress.line(f"image {ref} ({'built' if built else 'up to date'})")
        ref = rt.image_for(ref, progress)
        studio_json = dict(artifact.studio)
        if (
            existing
            and existing.state == "RUNNING"
            and existing.artifact_hash == artifact.hash
            and rt.state(name) == "running"
        ):
            studio = existing
            progress.line(f"studio {name} is already running")
            if rt.publishes_ports():
                _wait_healthy(studio, studio_json, settings, timeout, progress)
            else:
                rt.wait_healthy(studio, studio_json, timeout, progress)
            return studio
        if existing and rt.state(name) == "running" and studio_json.get("zones"):
            progress.line("template changed: syncing files out before redeploying")
            _sync(existing, settings, mode="pull", progress=progress)
        elif existing and _ended_unsynced(existing, rt):
            raise BlockcError(
                f"studio '{name}' stopped without syncing its files out (its container is not "
                f"running): starting it anew would discard what it wrote since its last sync",
                hint=f"`blockc stop --force {name}` keeps those files in an image, then start",
            )
        ports: dict[str, int] = {}
        gate_port, gate_secret = 0, ""
        if rt.publishes_ports() and gate.serving() is not None:  # behind the front door
            import secrets

            gate_port = _free_port(existing.gate_port if existing else None)
            gate_secret = secrets.token_urlsafe(32)
        for app in studio_json["apps"] if rt.publishes_ports() and not gate_port else ():
            prev = existing.ports.get(app["id"]) if existing else None
            port = _free_port(prev)
            while port in ports.values():
                port = _free_port()
            ports[app["id"]] = port
        studio = state.Studio(
            name=name,
            owner=owner,
            template=artifact.name,
            template_path=str(Path(template).resolve()),
            artifact_hash=artifact.hash,
            image=ref,
            runtime=runtime,
            state="STARTING",
            location=rt.location(),
            ports=ports,
            gate_port=gate_port,
            gate_secret=gate_secret,
            workspace=workspace,
            created_at=existing.created_at if existing else 0.0,
        )
        state.save(studio)
        try:
            objs = instance_manifests(
                list(artifact.manifests),
                studio_json,
                studio=name,
                owner=owner,
                image=ref,
                host_ports=ports or None,
                gate=(gate_port, gate_secret) if gate_port else None,
                podman=rt.publishes_ports(),
                namespace=None if rt.publishes_ports() else settings.namespace,
                installation=state.installation_id(),
            )
            if studio_json.get("zones"):
                _add_env(objs, "BLOCKC_WAIT_FOR_SYNC", SYNC_GATE)
            progress.update(f"starting studio {name}")
            studio.runtime_id = rt.deploy(name, objs, progress)  # returns once they run
            state.save(studio)  # exec and sync reach that container (its labels checked)
            if studio_json.get("zones"):
                try:  # the apps wait for SYNC_GATE: the push's last agent creates it
                    _sync(studio, settings, mode="push", progress=progress, done_file=SYNC_GATE)
                except BlockcError:
                    _check_running(studio, settings)  # a container that died says so first
                    raise
            if rt.publishes_ports():
                _wait_healthy(studio, studio_json, settings, timeout, progress)
            else:
                rt.wait_healthy(studio, studio_json, timeout, progress)
        except BaseException as exc:
            if isinstance(exc, NotOurs) and existing is None:
                state.delete(name)  # its objects' names are someone else's: no studio made
                raise
            msg = (
                "; ".join(d.message for d in exc.diagnostics)
                if isinstance(exc, BlockcError)
                else f"interrupted ({type(exc).__name__})"
            )
            state.set_state(studio, "FAILED", msg[:2000])
            rt.failed_start(name)
            raise
        state.set_state(studio, "RUNNING")
        return studio


def _in_registry(ref: str, settings: Settings) -> bool:
    from .build import registry_has

    if not settings.registry:
        return False
    try:
        return registry_has(ref, settings)
    except BlockcError:  # (image_for says what is wrong with the registry, after the build)
        return False


def _sync_studio():
    """blockc.sync.studio (imported when a sync or its zones are needed: not by exec)."""
    from ..sync import studio

    return studio


def _zones(studio: state.Studio) -> list:
    """The studio's sync zones (none when its artifact is gone)."""
    return studio.studio_json().get("zones", []) if os.path.isdir(studio.artifact_dir) else []


def _ended_unsynced(studio: state.Studio, rt) -> bool:
    """Whether the studio's container ended without a pull (a crash, a reboot; `stop` removes
    it after its pull): what it wrote since its last sync is only in there, whatever state
    `status` gave the studio since."""
    return bool(_zones(studio)) and rt.state(studio.name) == "stopped"


def _add_env(objs: list[dict], name: str, value: str) -> None:
    for obj in objs:
        if obj["kind"] == "Deployment":
            for c in obj["spec"]["template"]["spec"]["containers"]:
                c.setdefault("env", []).append({"name": name, "value": value})


def _check_running(studio: state.Studio, settings: Settings) -> None:
    if _runtime(studio, settings).state(studio.name) != "running":
        raise BlockcError(
            f"studio '{studio.name}': its container is not running (see "
            f"`blockc logs {studio.name}` and `blockc status {studio.name}`)"
        )


def _wait_healthy(studio, studio_json, settings, timeout, progress) -> None:
    apps = [a for a in studio_json["apps"] if a.get("health") is not None]
    pending = {a["id"]: a for a in apps}
    deadline = time.monotonic() + timeout
    rt = _runtime(studio, settings)
    next_state_check = time.monotonic() + 2.0
    while pending:
        for app_id, app in list(pending.items()):
            port, headers = endpoint(studio, app)
            url = health_url(studio.name, app, port)
            if check_health(url, app.get("health_redirect_ok", False), headers=headers):
                progress.line(f"app {app_id} is healthy ({progress.elapsed():.1f} s)")
                del pending[app_id]
        if not pending:
            break
        if time.monotonic() > next_state_check:  # a podman call (~0.1 s of CPU the starting
            next_state_check = time.monotonic() + 2.0  # apps want): every 2 s, not every poll
            if rt.state(studio.name) != "running":
                raise BlockcError(
                    f"studio '{studio.name}': its container stopped while apps "
                    f"were starting; `blockc logs {studio.name}` shows why"
                )
        if time.monotonic() > deadline:
            diags = []
            for app_id, app in pending.items():
                tail = app_log_tail(studio, settings, app_id, rt=rt)
                url = health_url(studio.name, app, endpoint(studio, app)[0])
                diags.append(
                    Diagnostic(
                        f"app '{app_id}' did not become healthy within {timeout:.0f} s "
                        f"(GET {url}); last lines of its log:\n"
                        + "\n".join(f"    {ln}" for ln in tail.splitlines()),
                        block_id=app["block"],
                        block_type=app["type"],
                    )
                )
            raise BlockcError(diags)
        progress.update(f"waiting for {', '.join(pending)} ({progress.elapsed():.0f} s)")
        time.sleep(0.1)


def urls(studio: state.Studio, studio_json: dict | None = None) -> list[AppStatus]:
    """Where each app is opened: its published port, or, behind the front door, the front
    door's URL for it (None while the front door does not run)."""
    studio_json = studio_json or studio.studio_json()
    front = gate.serving() if studio.gate_port else None
    out = []
    for app in studio_json["apps"]:
        port = studio.ports.get(app["id"])
        if studio.gate_port:
            url = None
            if front and isinstance(front.get("url"), str):
                url = front["url"].rstrip("/") + base_path(studio.name, app["id"])
        else:
            url = app_url(studio.name, app, port) if port else None
        out.append(AppStatus(app["id"], app["type"], app.get("label") or app["id"], url, None))
    return out


def status(
    studio: state.Studio, settings: Settings, *, rt: Runtime | None = None, actual: str = ""
) -> tuple[state.Studio, list[AppStatus]]:
    """The studio's state reconciled with its runtime, and each app's health (``actual``:
    the runtime's state of it, when the caller asked for many at once)."""
    rt = rt or _runtime(studio, settings)
    try:
        actual = actual or rt.state(studio.name)
    except NotOurs as exc:  # its name is taken by what blockc does not touch: shown, not fatal
        actual = "missing"
        why = "; ".join(d.message for d in exc.diagnostics)
        if studio.state in ("RUNNING", "STARTING"):
            studio = state.set_state(studio, "FAILED", why)
        else:
            studio = studio.replace(message=why)
    if studio.state in ("RUNNING", "STARTING") and actual != "running":
        if studio.state == "RUNNING":
            why = "its pod vanished" if actual == "missing" else "its container stopped"
            studio = state.set_state(studio, "FAILED", f"{why} outside blockc")
    studio_json = studio.studio_json()
    apps = []
    for a in urls(studio, studio_json):
        app = next(x for x in studio_json["apps"] if x["id"] == a.id)
        healthy = None
        if actual == "running" and not rt.publishes_ports():
            healthy = rt.ready(studio.name) if app.get("health") is not None else None
        elif actual == "running" and endpoint(studio, app)[0] and app.get("health") is not None:
            port, headers = endpoint(studio, app)
            healthy = check_health(
                health_url(studio.name, app, port),
                app.get("health_redirect_ok", False),
                timeout=1.0,
                headers=headers,
            )
        elif actual != "running":
            healthy = False
        apps.append(
            AppStatus(a.id, a.type, a.label, a.url if actual == "running" else None, healthy)
        )
    return studio, apps


def stop(
    name: str, settings: Settings, *, force: bool = False, progress: Progress | None = None
) -> str:
    """Pull every zone back out, then remove the studio's pod (its state is kept).

    A pull that leaves paths unsynced stops the stop: nothing is removed. With ``force``,
    every zone is pulled on its own (one that fails does not keep the others in), what is
    left unsynced is named, and the container's files are kept (:meth:`Runtime.keep`) before
    the pod goes; a container that is not running (nothing can be pulled from it) is kept
    the same way. Without ``force``, such a container is not removed either."""
    progress = progress or Progress()
    with state.lock(name):
        studio = state.require(name)
        rt = _runtime(studio, settings)
        actual = rt.state(name)
        if actual == "missing" and studio.state == "STOPPED":
            return "already stopped"
        zones = _sync_studio().zones(studio.studio_json()) if actual != "missing" else []
        pulled = [z for z in zones if z.direction != "in"]  # (what a pull would bring out)
        if pulled and actual == "stopped" and not force:
            raise BlockcError(
                f"studio '{name}': its container is not running, so its files cannot be "
                f"pulled; `blockc stop --force {name}` keeps them in an image you can copy "
                f"them out of, `blockc rm --force {name}` discards them"
            )
        state.set_state(studio, "STOPPING")
        kept = ""
        try:
            left: list[Unsynced] = []
            if zones and actual == "running":
                if force:
                    left = _pull_each_zone(studio, settings, rt, progress)
                else:
                    _sync(studio, settings, mode="pull", progress=progress, force_hint=True)
            elif pulled:
                left = [
                    Unsynced(z.name, "", z.container, "its container is not running")
                    for z in pulled
                ]
            if left:
                progress.line(f"keeping the files of studio {name} before removing its pod")
                kept = rt.keep(name)
            rt.remove(name)
        except BaseException as exc:
            msg = (
                "; ".join(d.message for d in exc.diagnostics)
                if isinstance(exc, BlockcError)
                else f"interrupted ({type(exc).__name__})"
            )
            state.set_state(studio, "FAILED", f"stop failed: {msg}"[:2000])
            raise
        studio.runtime_id = ""
        if not kept:
            state.set_state(studio, "STOPPED")
            return "stopped"
        state.set_state(studio, "STOPPED", f"stopped with files left unsynced{KEPT_IN}{kept}")
        import shlex

        from ..sync.report import shown

        def q(word: str) -> str:  # a shell word to copy (the path is the studio's: hostile)
            return shlex.quote(shown(word))

        return (
            f"stopped, with {len(left)} path(s) left unsynced (zone: path: why):\n"
            + "\n".join(f"    {u}" for u in left)
            + f"\n  the files of the studio are kept in the image\n    {kept}\n"
            f"  copy out what you need (as root: modes that kept the studio user out do not "
            f"keep podman out):\n"
            f"    podman create --name {q(name + '-rescue')} {q(kept)}\n"
            f"    podman cp {q(name + '-rescue:' + left[0].container_path)} ./recovered\n"
            f"    podman rm {q(name + '-rescue')}   # and `podman image rm {q(kept)}` once done"
        )


class Unsynced(Value):
    """What a stop left unsynced: a path of a zone (``path`` relative to it; "" for the
    whole zone), where it is in the container, and why."""

    zone: str
    path: str
    container_path: str
    reason: str

    def __str__(self) -> str:
        from ..sync.report import shown  # (the path and the reason are the studio's)

        path = shown(self.path) if self.path else "(the whole zone)"
        return f"{self.zone}: {path}: {shown(self.reason)} ({shown(self.container_path)})"


def _pull_each_zone(
    studio: state.Studio, settings: Settings, rt: Runtime, progress: Progress
) -> list[Unsynced]:
    """Pull every zone, each on its own (a zone that cannot sync does not keep the others
    in); what is left unsynced."""
    from ..sync.baseline import Baseline
    from ..sync.engine import sync_zones
    from ..sync.report import format_report

    studio_json = studio.studio_json()
    if not studio.workspace:
        raise BlockcError(f"studio '{studio.name}' has no workspace to sync with")
    transport = rt.transport(studio.name, studio_json["image"]["uid"])
    limits = _sync_studio().zone_limits(studio_json, settings)  # (as sync_studio has them)
    left = []
    with Baseline(state.db_path()) as baseline:
        for zone in _sync_studio().zones(studio_json):
            if zone.direction == "in":
                continue  # (never pulled)
            try:
                reports = sync_zones(
                    transport,
                    studio=studio.name,
                    zones=[zone],
                    workspace=studio.workspace,
                    mode="pull",
                    baseline=baseline,
                    limits=limits,
                )
            except Exception as exc:  # one zone's failure, whatever it is, keeps no other in
                why = (
                    "; ".join(d.message for d in exc.diagnostics)
                    if isinstance(exc, BlockcError)
                    else f"{type(exc).__name__}: {exc}"
                )
                progress.line(f"zone {zone.name}: not pulled: {why}")
                left.append(Unsynced(zone.name, "", zone.container, why))
                continue
            for report in reports:
                progress.line(format_report(report))
                left += [
                    Unsynced(zone.name, p.path, f"{zone.container.rstrip('/')}/{p.path}", p.reason)
                    for p in report.errors
                ]
    return left


def rm(
    name: str, settings: Settings, *, force: bool = False, progress: Progress | None = None
) -> None:
    progress = progress or Progress()
    with state.lock(name):
        studio = state.require(name)
        rt = _runtime(studio, settings)
        zones = _zones(studio)
        if not force and _ended_unsynced(studio, rt):
            raise BlockcError(
                f"studio '{name}' stopped without syncing its files out (its container is not "
                f"running): `rm` would lose what it wrote since its last sync",
                hint=f"`blockc stop --force {name}` keeps those files in an image; "
                f"`blockc rm --force {name}` discards them",
            )
        if not force and zones:
            pending = _sync_studio().pending(studio, settings, running=rt.state(name) == "running")
            if pending:
                raise BlockcError(
                    f"studio '{name}' has unsynced changes that `rm` would lose:\n"
                    + "\n".join(f"    {p}" for p in pending[:20])
                    + ("\n    ..." if len(pending) > 20 else "")
                    + f"\n  run `blockc sync {name}` (or `blockc stop {name}`) first, or "
                    f"`blockc rm --force {name}` to discard them"
                )
        try:
            rt.remove(name)
        except BlockcError as exc:
            if not force:
                raise
            # --force: the studio is forgotten even where its runtime does not answer (a
            # cluster gone, other settings) or holds another's object by its name (left
            # alone); what it may have left there is said
            why = "; ".join(d.message for d in exc.diagnostics)
            progress.line(f"warning: its objects may remain ({why}); the studio is forgotten")
        _sync_studio().forget(studio)
        state.delete(name)
        kept = studio.message.partition(KEPT_IN)[2]
        if kept:  # (its owner's to remove, once the files are out)
            progress.line(f"the image {kept} that `stop --force` made stays: `podman image rm`")


def logs(name: str, settings: Settings, app: str | None, lines: int) -> str:
    studio = state.require(name)
    rt = _runtime(studio, settings)
    actual = rt.state(name)
    if actual == "missing":
        raise BlockcError(f"studio '{name}' is not running (state {studio.state}); no logs")
    if actual != "running":  # (no app's log to read in it: what its container last said)
        said = rt.container_log(name, lines)
        if said is not None:
            return f"==> the studio's container (not running; its last run) <==\n{said}"
    studio_json = studio.studio_json()
    ids = [a["id"] for a in studio_json["apps"] if a.get("launched", True)]
    if app is not None and app not in ids:
        raise BlockcError(
            f"studio '{name}' has no app '{app}' (apps: {', '.join(ids) or 'none'})",
            hint=did_you_mean(app, ids),
        )
    out = []
    for app_id in [app] if app else ids + ["supervisord"]:
        out.append(f"==> {app_id} <==")
        out.append(app_log_tail(studio, settings, app_id, lines, rt=rt))
    return "\n".join(out)


def exec_(name: str, argv: list[str], settings: Settings) -> int:
    studio = state.require(name)
    rt = _runtime(studio, settings)
    if rt.state(name) != "running":
        raise BlockcError(f"studio '{name}' is not running (state {studio.state})")
    image = studio.studio_json()["image"]
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    return rt.exec(
        name,
        argv,
        user=f"{image['uid']}:{image['gid']}",
        workdir=image["workdir"],
        interactive=True,
        tty=tty,
    ).returncode


def forward(name: str, settings: Settings, *, address: str, echo) -> None:
    """Forward every app of a studio on Kubernetes to ``address`` until interrupted."""
    studio = state.require(name)
    rt = _runtime(studio, settings)
    if rt.publishes_ports():
        raise BlockcError(
            f"studio '{name}' runs on {studio.runtime}, whose apps are on 127.0.0.1 already "
            f"(`blockc status {name}` shows their URLs); forward is for Kubernetes"
        )
    if rt.state(name) != "running":
        raise BlockcError(f"studio '{name}' is not running (state {studio.state})")
    from .runtimes.kubernetes.forward import Forward, open_port_stream

    apps = studio.studio_json()["apps"]
    try:
        fwd = Forward(open_port_stream(rt, name), {a["id"]: a["port"] for a in apps}, host=address)
    except OSError as exc:
        raise BlockcError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    host = f"[{address}]" if ":" in address else address
    if address not in ("127.0.0.1", "::1", "localhost"):
        echo(
            f"warning: the apps have no authentication of their own: anyone who reaches "
            f"{address} reaches them",
            err=True,
        )
    echo(f"forwarding the apps of studio {name} (Ctrl-C to stop):")
    for app in apps:
        url = f"http://{host}:{fwd.local_port(app['id'])}{served_base(name, app)}"
        echo(f"  {app['id']:<12} {url}  ({app.get('label') or app['id']})")
    try:
        fwd.serve()
    except KeyboardInterrupt:
        pass


def _sync(
    studio: state.Studio,
    settings: Settings,
    *,
    mode: Literal["push", "pull"],
    progress: Progress,
    done_file: str | None = None,
    force_hint: bool = False,
) -> None:
    """Sync as part of start (push) or stop (pull). Paths that could not be synced stop the
    action, so a container is never removed while it holds files the host lacks; conflicts
    are not errors here (both versions are kept on the host and reported)."""
    reports = _sync_studio().sync_studio(
        studio, settings, mode=mode, progress=progress, done_file=done_file
    )
    from ..sync.report import shown  # (the path and the reason are the studio's)

    errors = [f"{r.zone}: {shown(p.path)}: {shown(p.reason)}" for r in reports for p in r.errors]
    if errors:
        raise BlockcError(
            f"studio '{studio.name}': {mode} left paths unsynced:\n"
            + "\n".join(f"    {e}" for e in errors[:20])
            + ("\n    ..." if len(errors) > 20 else "")
            + (
                f"\n  nothing was removed; fix them in the studio (`blockc exec "
                f"{studio.name} -- ...`) and stop again, or `blockc stop --force "
                f"{studio.name}` to stop anyway, keeping its files in an image"
                if force_hint
                else ""
            )
        )
