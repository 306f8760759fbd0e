"""One agent process in the studio: started over a :class:`Transport`, spoken to in messages.

Kept apart from the engine, with few imports, so that a caller can start the agent (an exec
takes a while to start) before it imports and reads everything else.
"""

from __future__ import annotations

import threading

from . import agent as wire
from .agent import ProtocolError

_AGENT_SOURCE: str | None = None


def agent_source() -> str:
    global _AGENT_SOURCE
    if _AGENT_SOURCE is None:
        with open(wire.__file__, encoding="utf-8") as f:
            _AGENT_SOURCE = f.read()
    return _AGENT_SOURCE


def _sync_error(*args, **kwargs):
    from .report import SyncError

    return SyncError(*args, **kwargs)


class Session:
    """One agent process in the studio."""

    def __init__(self, transport, python: str, source: str | None = None):
        self.transport = transport
        try:
            # -I -S: no user site, no PYTHON* variables, no site-packages: stdlib only, fast
            self.proc = transport.popen([python, "-I", "-S", "-c", source or agent_source()])
        except OSError as exc:
            raise _sync_error(f"cannot reach the studio ({transport.describe()}): {exc}")
        self.inp = self.proc.stdout
        self.out = self.proc.stdin

    def _lost(self, why: str):
        try:
            self.out.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
        err = self.transport.stderr(self.proc)
        detail = f": {err}" if err else ""
        return _sync_error(f"lost the sync agent in {self.transport.describe()} ({why}){detail}",
                           hint="is the studio running, with python3 in its image?")

    def send(self, msg: dict) -> None:
        try:
            wire.send(self.out, msg)
        except (BrokenPipeError, OSError) as exc:
            raise self._lost(f"write failed: {exc}")

    def reply(self) -> dict:
        try:
            msg = wire.recv(self.inp)
        except EOFError:
            raise self._lost("it exited")
        except (ProtocolError, ValueError) as exc:
            raise self._lost(f"bad reply: {exc}")
        if not isinstance(msg, dict):
            raise self._lost("bad reply")
        if not msg.get("ok"):
            raise _sync_error(f"studio side: {msg.get('error', 'failed')}")
        return msg

    def call(self, msg: dict) -> dict:
        self.send(msg)
        return self.reply()

    def close(self, done: bool = False) -> None:
        """End the agent. ``done``: every request was answered, so the agent is idle and
        ends at ``bye`` or end of input: nothing to wait for."""
        ended = False
        try:
            wire.send(self.out, {"op": "bye"})
            if not done:
                ended = wire.recv(self.inp).get("ok", False)
        except Exception:
            done = False
        try:
            self.out.close()
        except Exception:
            pass
        if ended or done:
            # the agent is done; the exec client's teardown (~0.1 s) need not hold us up
            threading.Thread(target=self._reap, daemon=True).start()
            return
        self._reap()

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def start_agent(transport, python: str = "python3") -> Session:
    """Start the agent for one zone sync now (an exec takes a while to start: a caller that
    has other work to do first overlaps the two). Hand it to ``sync_zone(agent=...)``, or
    ``close()`` it if it goes unused."""
    return Session(transport, python)
