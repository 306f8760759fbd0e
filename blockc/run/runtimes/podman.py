"""The podman runtime: ``podman kube play`` of the studio's instance manifests.

Pod and container names follow podman's kube play convention for a Deployment named
``studio-<name>``: pod ``studio-<name>-pod-0``, main container ``studio-<name>-pod-0-studio``
(podman 4.3).
"""

from __future__ import annotations

import functools

from ...errors import BlockcError
from ...names import CONTAINER
from ..settings import Settings
from . import Runtime


class PodmanRuntime(Runtime):
    name = "podman"

    def __init__(self, settings: Settings):
        self.settings = settings

    @functools.cached_property
    def podman(self):
        from ..build import tool  # here: the sync path needs the runtime, not the builder

        return tool("podman", settings=self.settings)

    @staticmethod
    def pod(studio: str) -> str:
        return f"studio-{studio}-pod-0"

    def container(self, studio: str) -> str:
        return f"{self.pod(studio)}-{CONTAINER}"

    def deploy(self, studio: str, manifests: list[dict]) -> None:
        import tempfile

        import sh
        import yaml  # here: the sync path imports this module and never needs yaml

        # podman runs the Deployment; the Service has no meaning on one host
        objs = [m for m in manifests if m["kind"] == "Deployment"]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="blockc-") as f:
            yaml.safe_dump_all(objs, f, sort_keys=True)
            f.flush()
            for first_try in (True, False):
                try:
                    self.podman("kube", "play", f.name)
                    return
                except sh.ErrorReturnCode as exc:
                    err = exc.stderr.decode(errors="replace").strip()
                    self.remove(studio)
                    # a pod of this studio is there (a redeploy, or one left behind): it was
                    # removed just now, play again; trying first saves a podman call per start
                    if not (first_try and "already exists" in err):
                        raise BlockcError(
                            f"podman kube play failed for studio '{studio}': {err}"
                        ) from None

    def remove(self, studio: str) -> None:
        import sh

        try:
            self.podman("pod", "rm", "--force", "--time", "3", "--ignore", self.pod(studio))
        except sh.ErrorReturnCode as exc:
            err = exc.stderr.decode(errors="replace").strip()
            raise BlockcError(
                f"podman could not remove the pod of studio '{studio}': {err}"
            ) from None

    def state(self, studio: str) -> str:
        import sh

        try:
            out = self.podman(
                "container", "inspect", "--format", "{{.State.Status}}", self.container(studio)
            )
        except sh.ErrorReturnCode:
            return "missing"
        return "running" if str(out).strip() == "running" else "stopped"

    def exec_argv(self, studio, argv, *, user, workdir=None, interactive=False, tty=False):
        cmd = ["podman", "exec", "--user", user]
        if interactive:
            cmd.append("--interactive")
        if tty:
            cmd.append("--tty")
        if workdir:
            cmd += ["--workdir", workdir]
        return cmd + [self.container(studio), *argv]

    def logs_argv(self, studio):
        return ["podman", "logs", self.container(studio)]

    def env(self) -> dict:
        from ..settings import container_env

        return container_env(self.settings)
