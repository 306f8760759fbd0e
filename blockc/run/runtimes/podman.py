"""The podman runtime: ``podman kube play`` of the studio's instance manifests, each studio
with a network stack of its own (slirp4netns).

Names: the studio's objects are named ``studio-<name>-<installation>``
(:func:`blockc.names.object_name`; the installation's id is made once per ``$BLOCKC_HOME``),
so that two homes on one podman never share a name. podman's kube play names the pod of that
Deployment ``<that>-pod-0`` and its main container ``<that>-pod-0-studio`` (podman 4.3); the
studio's network has the Deployment's name.

Ownership: every object carries the labels of :data:`blockc.names.OWNERSHIP` (installation,
studio, owner), and each action first checks them on the object it acts on; one that lacks
them is an error naming it, never removed. The id of the main container, once checked, is
what exec and sync address (the state keeps it from deploy on: ``blockc sync`` asks podman
nothing before its agent starts, and reaches that very container or none).

Isolation: apps listen on 0.0.0.0 without auth, so no studio may reach another's. Each studio
runs on slirp4netns: a user-mode network stack of its own, with no bridge shared with any
other container, so there is no address at which one studio could reach another. App ports
are published on the host's 127.0.0.1 only, which slirp4netns keeps out of reach of the studio
(its host loopback is not allowed). (netavark's ``isolate`` networks were tried first: with
netavark 1.4 the teardown of any isolated network's container deletes the FORWARD rule that
isolates all of them, so stopping one studio opened every other to the rest.)

``blockc sync`` builds this runtime for its transport and, unless the sync fails, runs no
podman command through it: ``sh`` and ``yaml`` are imported where commands run, not at the
top (tests/test_imports.py).
"""

from __future__ import annotations

import json
import subprocess

from ...errors import BlockcError
from ...names import (
    CONTAINER,
    LABEL_INSTALLATION,
    LABEL_OWNER,
    OWNERSHIP,
    check_ownership,
)
from ...sync.transport import PodmanTransport
from .. import state
from ..settings import Settings, container_env
from . import Runtime

# what `inspect --format` prints of each kind of object: its labels (JSON) and its id
_FORMATS = {
    "container": "{{json .Config.Labels}}\t{{.Id}}\t{{.State.Status}}",
    "pod": "{{json .Labels}}\t{{.Id}}",
    "network": "{{json .Labels}}\t{{.ID}}",
}
# a network stack of the studio's own, host loopback kept out (podman network mode syntax)
NETWORK = "slirp4netns:allow_host_loopback=false"
_MISSING = ("no such container", "no such pod", "network not found")
RESCUE_REPOSITORY = "localhost/blockc-rescue"


class PodmanRuntime(Runtime):
    name = "podman"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._checked: dict[str, str] = {}  # studio -> id of its main container, checked

    # --- names --------------------------------------------------------------------------

    def pod(self, studio: str) -> str:
        return f"{self.base(studio)}-pod-0"

    def container(self, studio: str) -> str:
        return f"{self.pod(studio)}-{CONTAINER}"

    def network(self, studio: str) -> str:
        return self.base(studio)

    # --- podman -------------------------------------------------------------------------

    def env(self) -> dict:
        return container_env(self.settings)

    def _podman(self, *args: str) -> str:
        """Run podman; its output, or :class:`_Failed` with its error output."""
        import sh

        from ..containers import tool

        try:
            return str(tool("podman", self.settings)(*args))
        except sh.ErrorReturnCode as exc:
            raise _Failed(exc.stderr.decode(errors="replace").strip()) from None

    def _inspect(self, kind: str, name: str) -> tuple[dict[str, str], list[str]] | None:
        """The labels of the object ``name`` of ``kind`` and the rest of :data:`_FORMATS`
        (its id first); None when there is none."""
        try:
            out = self._podman(kind, "inspect", "--format", _FORMATS[kind], name)
        except _Failed as exc:
            if any(m in str(exc) for m in _MISSING):
                return None
            raise BlockcError(f"podman could not inspect the {kind} '{name}': {exc}") from None
        labels, *rest = out.strip().split("\t")
        return json.loads(labels) or {}, rest

    def _main(self, studio: str, expected: dict[str, str] | None = None) -> list[str] | None:
        """The studio's main container, checked to be ours: [id, status]; None when it has
        none (and its pod, if there is one, is ours)."""
        expected = expected or self.expected(studio)
        name = self.container(studio)
        found = self._inspect("container", name)
        if found is None:
            self._checked.pop(studio, None)
            pod = self._inspect("pod", self.pod(studio))
            if pod is not None:  # a pod of our name without its container: whose?
                check_ownership("pod", self.pod(studio), pod[0], expected)
            return None
        labels, rest = found
        check_ownership("container", name, labels, expected)
        self._checked[studio] = rest[0]
        return rest

    def _checked_id(self, studio: str) -> str:
        if studio in self._checked:
            return self._checked[studio]
        main = self._main(studio)
        if main is None:
            raise BlockcError(f"studio '{studio}' has no container (it is not running)")
        return main[0]

    # --- the runtime --------------------------------------------------------------------

    def deploy(self, studio: str, manifests: list[dict], progress=None) -> str:
        # podman runs the Deployment; the Service has no meaning on one host
        objs = [_literal_env(m) for m in manifests if m["kind"] == "Deployment"]
        labels = objs[0]["metadata"]["labels"]
        expected = {k: labels.get(k, "") for k in OWNERSHIP}
        if expected[LABEL_INSTALLATION] != self.installation():
            raise BlockcError(
                f"studio '{studio}': its manifests were not made for this installation"
            )
        self._owners[studio] = expected[LABEL_OWNER]
        self._play(studio, objs, expected)
        main = self._main(studio, expected)
        if main is None:
            raise BlockcError(
                f"studio '{studio}': podman kube play made no container {self.container(studio)}"
            )
        return main[0]

    def _play(self, studio: str, objs: list[dict], expected: dict[str, str]) -> None:
        import tempfile

        import yaml

        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="blockc-") as f:
            yaml.safe_dump_all(objs, f, sort_keys=True)
            f.flush()
            for first_try in (True, False):
                try:
                    self._podman("kube", "play", "--network", NETWORK, f.name)
                    return
                except _Failed as exc:
                    # a pod of this name is there: ours (a redeploy, or one left behind) is
                    # removed and played again, another's is an error that names it; trying
                    # first saves a podman call per start
                    if first_try and "already exists" in str(exc):
                        self._remove_pod(studio, expected)
                        continue
                    try:  # what the failed play left of ours
                        self._remove_pod(studio, expected)
                    except BlockcError:
                        pass
                    raise BlockcError(
                        f"podman kube play failed for studio '{studio}': {exc}"
                    ) from None

    def _remove_pod(self, studio: str, expected: dict[str, str]) -> None:
        name = self.pod(studio)
        found = self._inspect("pod", name)
        if found is None:
            return
        check_ownership("pod", name, found[0], expected)
        try:
            self._podman("pod", "rm", "--force", "--time", "3", "--ignore", found[1][0])
        except _Failed as exc:
            raise BlockcError(
                f"podman could not remove the pod of studio '{studio}': {exc}"
            ) from None
        self._checked.pop(studio, None)

    def remove(self, studio: str) -> None:
        expected = self.expected(studio)
        self._remove_pod(studio, expected)
        name = self.network(studio)  # (made by blockc 0.1 for a while: removed if there)
        found = self._inspect("network", name)
        if found is None:
            return
        check_ownership("network", name, found[0], expected)
        try:
            self._podman("network", "rm", found[1][0])
        except _Failed as exc:
            raise BlockcError(
                f"podman could not remove the network of studio '{studio}' ({name}): {exc}"
            ) from None

    def state(self, studio: str) -> str:
        main = self._main(studio)
        if main is None:
            return "missing"
        return "running" if main[1] == "running" else "stopped"

    def keep(self, studio: str) -> str:
        """A commit of the main container (its writable layer: every file changed in the
        studio) to ``localhost/blockc-rescue/<its base name>:<UTC time>``, with the studio's
        labels; the image outlives the pod."""
        import time

        ident = self._checked_id(studio)
        when = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        image = f"{RESCUE_REPOSITORY}/{self.base(studio)}:{when}"
        changes = []
        for key, value in sorted(self.expected(studio).items()):
            changes += ["--change", f"LABEL {key}={value}"]
        try:
            self._podman("commit", "--quiet", *changes, ident, image)
        except _Failed as exc:
            raise BlockcError(
                f"podman could not keep the files of studio '{studio}' in an image: {exc}"
            ) from None
        return image

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
        cmd = ["podman", "exec", "--user", user]
        if interactive:
            cmd.append("--interactive")
        if tty:
            cmd.append("--tty")
        if workdir:
            cmd += ["--workdir", workdir]
        cmd += [self._checked_id(studio), *argv]
        try:
            return subprocess.run(
                cmd,
                env=self.env(),
                capture_output=capture,
                text=capture or None,
                errors="replace" if capture else None,
            )
        except FileNotFoundError:
            raise BlockcError(
                "podman is not installed (on Debian: apt-get install -y podman runc)"
            ) from None

    def transport(self, studio: str, user: int | str) -> PodmanTransport:
        """The sync's way in: ``podman exec`` of the container deploy checked (its id, from
        the state: no podman call before the agent starts), else of the one checked now."""
        ident = self._checked.get(studio)
        if ident is None:
            row = state.get(studio)
            ident = row.runtime_id if row is not None else ""
        if not ident:
            ident = self._checked_id(studio)
        return _PinnedTransport(self.container(studio), ident, user=user, env=self.env())


class _PinnedTransport(PodmanTransport):
    """``podman exec`` of one container, by its id: the container whose labels were checked,
    or none (an id is never reused; a name may be, by a container of someone else's)."""

    def __init__(self, name: str, ident: str, *, user: int | str, env: dict):
        super().__init__(ident, user=user, env=env)
        self.name = name

    def describe(self) -> str:
        return f"podman container {self.name} ({self.container[:12]})"


def _literal_env(deployment: dict) -> dict:
    """The Deployment with its env values as podman needs them: podman kube play expands no
    `$(VAR)` and keeps `$$`, where the manifests double each `$` for Kubernetes."""
    import copy

    deployment = copy.deepcopy(deployment)
    for c in deployment["spec"]["template"]["spec"].get("containers", ()):
        # blockc checks a studio's health itself here; newer podman turns a startupProbe into
        # a healthcheck timer of its own (one `podman healthcheck run` a second, for life)
        c.pop("startupProbe", None)
        for e in c.get("env", ()):
            if isinstance(e.get("value"), str):  # (blockc.compiler.manifests.kube_literal)
                e["value"] = e["value"].replace("$$", "$")
    return deployment


class _Failed(Exception):
    """A podman command failed (its error output is the message)."""
