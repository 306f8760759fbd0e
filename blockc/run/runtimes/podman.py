"""The podman runtime: ``podman kube play`` of the studio's instance manifests.

Pod and container names follow podman's kube play convention for a Deployment named
``studio-<name>``: pod ``studio-<name>-pod-0``, main container ``studio-<name>-pod-0-studio``
(podman 4.3).

``blockc sync`` builds this runtime for its transport and, unless the sync fails, runs no
podman command through it: ``sh`` and ``yaml`` are imported where commands run, not at the
top (tests/test_imports.py).
"""

from __future__ import annotations

import subprocess

from ...errors import BlockcError
from ...names import CONTAINER
from ...sync.transport import PodmanTransport
from ..settings import Settings, container_env
from . import Runtime


class PodmanRuntime(Runtime):
    name = "podman"

    def __init__(self, settings: Settings):
        self.settings = settings

    @staticmethod
    def pod(studio: str) -> str:
        return f"studio-{studio}-pod-0"

    def container(self, studio: str) -> str:
        return f"{self.pod(studio)}-{CONTAINER}"

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

    def deploy(self, studio: str, manifests: list[dict]) -> None:
        import tempfile

        import yaml

        # podman runs the Deployment; the Service has no meaning on one host
        objs = [_literal_env(m) for m in manifests if m["kind"] == "Deployment"]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="blockc-") as f:
            yaml.safe_dump_all(objs, f, sort_keys=True)
            f.flush()
            for first_try in (True, False):
                try:
                    self._podman("kube", "play", f.name)
                    return
                except _Failed as exc:
                    self.remove(studio)
                    # a pod of this studio is there (a redeploy, or one left behind): it was
                    # removed just now, play again; trying first saves a podman call per start
                    if not (first_try and "already exists" in str(exc)):
                        raise BlockcError(
                            f"podman kube play failed for studio '{studio}': {exc}"
                        ) from None

    def remove(self, studio: str) -> None:
        try:
            self._podman("pod", "rm", "--force", "--time", "3", "--ignore", self.pod(studio))
        except _Failed as exc:
            raise BlockcError(
                f"podman could not remove the pod of studio '{studio}': {exc}"
            ) from None

    def state(self, studio: str) -> str:
        try:
            out = self._podman(
                "container", "inspect", "--format", "{{.State.Status}}", self.container(studio)
            )
        except _Failed:
            return "missing"
        return "running" if out.strip() == "running" else "stopped"

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
        cmd += [self.container(studio), *argv]
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
        return PodmanTransport(self.container(studio), user=user, env=self.env())


def _literal_env(deployment: dict) -> dict:
    """The Deployment with its env values as podman needs them: podman kube play expands no
    `$(VAR)` and keeps `$$`, where the manifests double each `$` for Kubernetes."""
    import copy

    deployment = copy.deepcopy(deployment)
    for c in deployment["spec"]["template"]["spec"].get("containers", ()):
        for e in c.get("env", ()):
            if isinstance(e.get("value"), str):  # (blockc.compiler.manifests.kube_literal)
                e["value"] = e["value"].replace("$$", "$")
    return deployment


class _Failed(Exception):
    """A podman command failed (its error output is the message)."""
