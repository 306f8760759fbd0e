"""Runtimes run studios: one pod, one main container per studio.

A runtime subclasses :class:`Runtime`; :func:`get_runtime` is the explicit registry.

A runtime acts only on objects this installation made for the studio and its owner: before
every action it checks their labels (``blockc.names.check_ownership``: this installation's
id, the studio, the owner recorded in this home's state), and an object of the studio's name
without them is an error that names it, never removed.
"""

from __future__ import annotations

import subprocess

from ...errors import BlockcError
from ...sync.transport import Transport
from ..settings import Settings


class Runtime:
    """What a runtime does."""

    name: str

    def deploy(self, studio: str, manifests: list[dict]) -> str:
        """Create (or replace) the studio's pod from its instance manifests (made with this
        installation's id); return the runtime's id of its main container (the state keeps
        it: :attr:`blockc.run.state.Studio.runtime_id`)."""
        raise NotImplementedError

    def remove(self, studio: str) -> None:
        """Remove the studio's pod and everything it created; no error when absent."""
        raise NotImplementedError

    def state(self, studio: str) -> str:
        """``running``, ``stopped`` (exists, not running) or ``missing``."""
        raise NotImplementedError

    def keep(self, studio: str) -> str:
        """Keep the files of the studio's main container (what a user changed in it) where
        they outlive :meth:`remove`; return where (podman: an image to copy them out of)."""
        raise NotImplementedError

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
        """Run ``argv`` in the main container (attached to this process's stdin, stdout and
        stderr; or with its output captured as text)."""
        raise NotImplementedError

    def transport(self, studio: str, user: int | str) -> Transport:
        """How the sync reaches the studio's main container, as ``user``."""
        raise NotImplementedError


def get_runtime(name: str, settings: Settings) -> Runtime:
    if name == "podman":
        from .podman import PodmanRuntime

        return PodmanRuntime(settings)
    if name == "kubernetes":
        raise BlockcError(
            "the kubernetes runtime is not available in this version of blockc; "
            "use `blockc manifests` with kubectl, or --runtime podman"
        )
    raise BlockcError(f"unknown runtime {name!r} (podman or kubernetes)")
