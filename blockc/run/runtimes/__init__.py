"""Runtimes run studios: one pod, one main container per studio.

A runtime subclasses :class:`Runtime`; :func:`get_runtime` is the explicit registry.
"""

from __future__ import annotations

from ...errors import BlockcError
from ..settings import Settings


class Runtime:
    """What a runtime does (a plain base class, not a typing.Protocol: typing costs ~3 ms
    to import, and ``blockc sync`` needs a runtime before it starts its agent)."""

    name: str

    def deploy(self, studio: str, manifests: list[dict]) -> None:
        """Create (or replace) the studio's pod from its instance manifests."""
        raise NotImplementedError

    def remove(self, studio: str) -> None:
        """Remove the studio's pod and everything it created; no error when absent."""
        raise NotImplementedError

    def state(self, studio: str) -> str:
        """``running``, ``stopped`` (exists, not running) or ``missing``."""
        raise NotImplementedError

    def exec_argv(
        self,
        studio: str,
        argv: list[str],
        *,
        user: str,
        workdir: str | None = None,
        interactive: bool = False,
        tty: bool = False,
    ) -> list[str]:
        """The command line that runs ``argv`` in the main container."""
        raise NotImplementedError

    def logs_argv(self, studio: str) -> list[str]:
        """The command line that prints the main container's own output."""
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
