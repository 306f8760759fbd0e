"""One agent process in the studio: started over a :class:`Transport`, spoken to in messages.

Kept apart from the engine, with few imports, so that a caller can start the agent (an exec
takes a while to start) before it imports and reads everything else.
"""

from __future__ import annotations

import marshal
import threading
import zlib

from . import agent as wire
from .agent import ProtocolError

_AGENT_SOURCE: str | None = None
_PAYLOAD: bytes | None = None

# The agent's start in the studio: ``python3 -I -S -c BOOT``, then on its stdin a 12-byte header
# (the host's bytecode magic number, the lengths of CODE and SOURCE), CODE (the agent compiled
# here: marshal, zlib) and SOURCE (zlib). BOOT runs CODE when the studio's Python reads the same
# bytecode, else compiles SOURCE; then the agent reads its messages from the same stdin.
# - compiled: compiling the agent costs ~10 ms of every start in the studio;
# - on stdin, not in argv: podman exec takes ~0.2 ms longer per KB of command line (+28 ms for
#   128 KB, median of 40 paired runs here);
# - compressed (~45 KB): it fits the 64 KiB a pipe holds by default, so writing it never waits
#   for the agent to start.
# -I -S: no user site, no PYTHON* variables, no site-packages: stdlib only.
BOOT = (
    "import marshal,os,sys,zlib\n"
    "def r(n):\n"
    " b=b''\n"
    " while len(b)<n:\n"
    "  d=os.read(0,n-len(b))\n"
    "  if not d:sys.exit(3)\n"
    "  b+=d\n"
    " return b\n"
    "h=r(12);c=r(int.from_bytes(h[4:8],'big'));s=r(int.from_bytes(h[8:],'big'))\n"
    "k=getattr(sys.modules.get('_frozen_importlib_external'),'MAGIC_NUMBER',b'')\n"
    "exec(marshal.loads(zlib.decompress(c)) if c and h[:4]==k else "
    "compile(zlib.decompress(s),'blockc-sync-agent','exec'),{'__name__':'__main__'})\n"
)


def agent_source() -> str:
    global _AGENT_SOURCE
    if _AGENT_SOURCE is None:
        with open(wire.__file__, encoding="utf-8") as f:
            _AGENT_SOURCE = f.read()
    return _AGENT_SOURCE


def agent_argv(python: str) -> list[str]:
    """The command line that starts the agent; :func:`agent_payload` goes to its stdin."""
    return [python, "-I", "-S", "-c", BOOT]


def agent_payload(source: str | None = None) -> bytes:
    """What the agent's command reads first on its stdin: the agent module (compiled as the
    import system has it, and its source), or ``source``, another agent (tests), sent as
    source only."""
    global _PAYLOAD
    if source is None and _PAYLOAD is not None:
        return _PAYLOAD
    import importlib.abc  # (after the agent's exec has started: see Session)
    import importlib.util

    magic, code = b"\0\0\0\0", b""
    loader = wire.__spec__.loader if wire.__spec__ else None
    if source is None and isinstance(loader, importlib.abc.InspectLoader):
        compiled = loader.get_code(wire.__name__)  # the import system's, from its pyc
        if compiled is not None:
            magic = importlib.util.MAGIC_NUMBER
            code = zlib.compress(marshal.dumps(compiled), 1)
    src = zlib.compress((source or agent_source()).encode("utf-8"), 1)
    payload = magic + len(code).to_bytes(4, "big") + len(src).to_bytes(4, "big") + code + src
    if source is None:
        _PAYLOAD = payload
    return payload


def _sync_error(*args, **kwargs):
    from .report import SyncError

    return SyncError(*args, **kwargs)


def _shown(text) -> str:
    """Studio text made safe to print (``report.shown``: imported once there is an error)."""
    from .report import shown

    return shown(text)


class Session:
    """One agent process in the studio."""

    def __init__(self, transport, python: str, source: str | None = None):
        self.transport = transport
        try:
            self.proc = transport.popen(agent_argv(python))
        except OSError as exc:
            raise _sync_error(f"cannot reach the studio ({transport.describe()}): {exc}") from None
        assert self.proc.stdout is not None and self.proc.stdin is not None  # pipes, both
        self.inp = self.proc.stdout
        self.out = self.proc.stdin
        try:
            self.out.write(agent_payload(source))
            self.out.flush()
        except OSError:
            pass  # the exec failed: the first reply says so, with its stderr

    def lost(self, why: str):
        try:
            self.out.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
        err = self.transport.stderr(self.proc)  # the agent's too: the studio's text
        detail = f": {_shown(err)}" if err else ""
        return _sync_error(
            f"lost the sync agent in {self.transport.describe()} ({why}){detail}",
            hint="is the studio running, with python3 in its image?",
        )

    def send(self, msg: dict) -> None:
        try:
            wire.send(self.out, msg)
        except (BrokenPipeError, OSError) as exc:
            raise self.lost(f"write failed: {exc}") from None

    def reply(self) -> dict:
        try:
            msg = wire.recv(self.inp)
        except EOFError:
            raise self.lost("it exited") from None
        except (ProtocolError, ValueError) as exc:
            raise self.lost(f"bad reply: {exc}") from None
        if not isinstance(msg, dict):
            raise self.lost("bad reply")
        if not msg.get("ok"):
            raise _sync_error(f"studio side: {_shown(msg.get('error', 'failed'))}")
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
