"""One agent process in the studio: started over a :class:`Transport`, spoken to in messages.

Kept apart from the engine, with few imports, so that a caller can start the agent (an exec
takes a while to start) before it imports and reads everything else.
"""

from __future__ import annotations

import threading

from . import agent as wire
from .agent import ProtocolError

_AGENT_SOURCE: str | None = None

# The agent's start in the studio: ``python3 -I -S -c BOOT MAGIC CODE SOURCE``. CODE is the
# agent compiled here (marshal, base64); BOOT runs it when the studio's Python reads the same
# bytecode (its magic number is MAGIC), else compiles SOURCE. Compiling costs ~10 ms of every
# agent's start. -I -S: no user site, no PYTHON* variables, no site-packages: stdlib only.
BOOT = (
    "import binascii,marshal,sys\n"
    "m,c,s=sys.argv[1:4]\n"
    "k=getattr(sys.modules.get('_frozen_importlib_external'),'MAGIC_NUMBER',b'').hex()\n"
    "exec(marshal.loads(binascii.a2b_base64(c)) if c and m==k else compile(s,'blockc-sync-agent','exec'),"
    "{'__name__':'__main__'})\n"
)
MAX_ARG = 120_000  # one argv string may hold 128 KiB (Linux MAX_ARG_STRLEN)


def agent_source() -> str:
    global _AGENT_SOURCE
    if _AGENT_SOURCE is None:
        with open(wire.__file__, encoding="utf-8") as f:
            _AGENT_SOURCE = f.read()
    return _AGENT_SOURCE


def compiled_agent() -> tuple[str, str]:
    """(magic number, base64 marshal) of the agent module's code, as the import system has it
    (its pyc, when that matches the source); ("", "") when there is none to send."""
    try:
        import binascii
        import marshal
        from importlib.util import MAGIC_NUMBER

        code = binascii.b2a_base64(marshal.dumps(wire.__loader__.get_code(wire.__name__)),
                                   newline=False).decode("ascii")
    except Exception:  # a loader without code (or none): the studio compiles the source
        return "", ""
    return (MAGIC_NUMBER.hex(), code) if len(code) <= MAX_ARG else ("", "")


def agent_argv(python: str, source: str | None = None) -> list[str]:
    """The command line that starts the agent (``source``: another agent, for tests: always
    compiled in the studio)."""
    magic, code = compiled_agent() if source is None else ("", "")
    return [python, "-I", "-S", "-c", BOOT, magic, code, source or agent_source()]


def _sync_error(*args, **kwargs):
    from .report import SyncError

    return SyncError(*args, **kwargs)


class Session:
    """One agent process in the studio."""

    def __init__(self, transport, python: str, source: str | None = None):
        self.transport = transport
        try:
            self.proc = transport.popen(agent_argv(python, source))
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
