"""How the sync engine reaches a studio: a process in the studio with stdin/stdout pipes.

The engine needs exactly one thing from a runtime: start a command in the studio's main
container, as the studio user, and give back its stdin (binary, writable), stdout (binary,
readable), a way to wait for it and to kill it. ``podman exec -i`` gives that today;
a Kubernetes ``exec`` (a websocket with stdin/stdout channels) gives it tomorrow behind
the same :class:`Transport` protocol.
"""

from __future__ import annotations

import os
import subprocess

from .agent import big_pipes

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typing.Protocol itself is not imported on `blockc sync`'s way to its agent)
    from typing import IO, Protocol

    class Process(Protocol):
        """What a transport's ``popen`` returns: a running command whose ``stdin``/``stdout``
        are binary streams. A ``subprocess.Popen`` is one; a Kubernetes exec stream would wrap
        its channels in one."""

        stdin: IO[bytes] | None  # (both are there: started with pipes)
        stdout: IO[bytes] | None

        def wait(self, timeout: float | None = None) -> int: ...

        def kill(self) -> None: ...


class Transport:
    """Starts commands in a studio's main container."""

    def popen(self, argv: list[str]) -> Process:
        """Start ``argv`` in the container with piped stdin/stdout; its stderr is kept for
        :meth:`stderr`."""
        raise NotImplementedError

    def stderr(self, proc: Process) -> str:
        """What ``proc`` wrote on stderr (after it ended), for error messages."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human description (``podman container demo-studio``)."""
        raise NotImplementedError


def _scratch_file() -> IO[bytes]:
    """An anonymous read-write file: in memory (memfd) where Linux has it, else a temporary
    file (tempfile is not imported on `blockc sync`'s way to its agent)."""
    try:
        return open(os.memfd_create("blockc-stderr", os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):
        import tempfile

        return tempfile.TemporaryFile()


class _Popen(subprocess.Popen):
    """A local process with its stderr in a scratch file (no pipe to drain, no deadlock)."""

    stderr_file: IO[bytes]


class _Subprocess(Transport):
    """Shared base: run a local command line."""

    env: dict | None = None

    def _argv(self, argv: list[str]) -> list[str]:
        raise NotImplementedError

    def popen(self, argv: list[str]) -> _Popen:
        err = _scratch_file()
        proc = _Popen(
            self._argv(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            bufsize=1 << 20,
            env=self.env,
            start_new_session=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        big_pipes(proc.stdin.fileno(), proc.stdout.fileno())
        proc.stderr_file = err
        return proc

    def stderr(self, proc: Process) -> str:
        err = getattr(proc, "stderr_file", None)
        if err is None:
            return ""
        err.seek(0)
        return err.read()[-4000:].decode("utf-8", "replace").strip()


class PodmanTransport(_Subprocess):
    """``podman exec -i [-u USER] CONTAINER argv...``.

    ``env`` is the environment of the podman client (e.g. with ``CONTAINERS_CONF``);
    default: the current one.
    """

    def __init__(
        self,
        container: str,
        *,
        user: str | int | None = None,
        podman: str = "podman",
        env: dict | None = None,
    ):
        self.container = container
        self.user = None if user is None else str(user)
        self.podman = podman
        self.env = env

    def _argv(self, argv):
        cmd = [self.podman, "exec", "-i"]
        if self.user is not None:
            cmd += ["-u", self.user]
        return cmd + [self.container, *argv]

    def describe(self) -> str:
        return f"podman container {self.container}"


class LocalTransport(_Subprocess):
    """Runs the agent as a local process (tests, and a zone on this very machine)."""

    def __init__(self, env: dict | None = None):
        self.env = env

    def _argv(self, argv):
        return list(argv)

    def describe(self) -> str:
        return "local process"
