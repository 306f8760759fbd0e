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
from ...names import LABEL_INSTALLATION, LABEL_OWNER, LABEL_STUDIO, NotOurs, object_name
from ...sync.transport import Transport
from .. import state
from ..progress import Progress
from ..settings import Settings


class Runtime:
    """What a runtime does."""

    name: str

    def __init__(self, settings: Settings):
        self.settings = settings
        self._installation: str | None = None
        self._owners: dict[str, str] = {}

    # --- names --------------------------------------------------------------------------

    def installation(self) -> str:
        if self._installation is None:
            self._installation = state.installation_id()
        return self._installation

    def base(self, studio: str) -> str:
        """The name of the studio's objects (Deployment, Service)."""
        return object_name(studio, self.installation())

    def expected(self, studio: str) -> dict[str, str]:
        """The ownership labels the studio's objects carry: this installation, the studio,
        and its owner as this home's state has it."""
        if studio not in self._owners:
            self._owners[studio] = state.require(studio).owner
        return {
            LABEL_INSTALLATION: self.installation(),
            LABEL_STUDIO: studio,
            LABEL_OWNER: self._owners[studio],
        }

    # --- the runtime --------------------------------------------------------------------

    def location(self) -> str:
        """Where this runtime runs studios, when that is a setting (a studio is acted on
        where it was started only); "" when there is one place."""
        return ""

    def image_for(self, ref: str, progress: Progress) -> str:
        """The image reference the runtime runs ``ref`` (a local image) as."""
        return ref

    def publishes_ports(self) -> bool:
        """Whether apps are published on this host's 127.0.0.1 (podman), or reached through
        the runtime (Kubernetes: ``blockc forward``)."""
        return True

    def wait_healthy(self, studio, studio_json: dict, timeout: float, progress: Progress) -> None:
        """Wait until every app answers its health check (a runtime that does not publish
        ports: :meth:`publishes_ports`; the lifecycle checks published ones itself)."""
        raise NotImplementedError

    def failed_start(self, studio: str) -> None:
        """What a start that failed leaves: by default, what it made, for its logs."""

    def container_log(self, studio: str, lines: int) -> str | None:
        """The last lines its main container wrote, when it is not running and the runtime
        keeps them apart from the container's files (None: it does not)."""
        return None

    def ready(self, studio: str) -> bool | None:
        """Whether every app of the studio answers its health check, as the runtime knows it
        (None: it does not; the caller checks each app)."""
        return None

    def states(self, owners: dict[str, str]) -> dict[str, str]:
        """:meth:`state` of many studios (name -> owner); "" for one whose name another's
        object holds (the caller asks about it alone, and shows why)."""
        out = {}
        for name in owners:
            try:
                out[name] = self.state(name)
            except NotOurs:
                out[name] = ""
        return out

    def deploy(self, studio: str, manifests: list[dict], progress: Progress | None = None) -> str:
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
        from .kubernetes import KubernetesRuntime

        return KubernetesRuntime(settings)
    raise BlockcError(f"unknown runtime {name!r} (podman or kubernetes)")
