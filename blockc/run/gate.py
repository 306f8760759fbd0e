"""A studio's gate: with ``blockc serve`` running, nothing reaches an app but the front door.

A podman studio started while the front door runs (or by it) publishes no app port. It
publishes one port, on the host's 127.0.0.1, to its gate: a small relay in the studio
(``launch.py gate``) that reads the first request of each connection, accepts it only with the
studio's secret in :data:`SECRET_HEADER` and an app's port in :data:`APP_PORT_HEADER`, and then
relays the connection, unchanged, to that app. The secret is made at random for each start;
only the studio's state (``state.db``, private to blockc's home) and the studio itself hold
it. Another local user, or any client without it, gets 403 and nothing else; another studio
cannot reach the host's loopback at all (``docs/security.md``).

The front door says it runs by holding a lock on ``$BLOCKC_HOME/run/serve.json``, which names
its URL: ``blockc start`` of the same home then starts the studio behind its gate, and status
shows the app's URL on the front door.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os

from ..errors import BlockcError
from ..home import private_home
from ..names import GATE_PORT as PORT  # noqa: F401  (the gate's port in the studio)

SECRET_HEADER = "X-Blockc-Gate"
APP_PORT_HEADER = "X-Blockc-App-Port"
APP_DOWN_HEADER = "X-Blockc-App-Down"  # (on the gate's 502: nothing listens at the app's port)
SECRET_ENV = "BLOCKC_GATE_SECRET"


def _path() -> str:
    return os.path.join(private_home(), "run", "serve.json")


def serving() -> dict | None:
    """What the front door of this home wrote of itself (its ``url``), if it is running."""
    path = _path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with open(fd, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: it runs
            try:
                found = json.loads(f.read(65536))
                return found if isinstance(found, dict) else {}
            except ValueError:
                return {}
        return None  # a file left behind by one that ended


@contextlib.contextmanager
def hold_serving(url: str):
    """Say, for as long as the context lasts, that the front door runs at ``url``."""
    path = _path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    f = open(fd, "r+b")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                other = json.loads(f.read(65536)).get("url", "?")
            except (ValueError, AttributeError):
                other = "?"
            raise BlockcError(
                f"another blockc serve runs on this home ({other}); one front door per site"
            ) from None
        f.truncate(0)
        f.write(json.dumps({"url": url, "pid": os.getpid()}).encode())
        f.flush()
        yield
    finally:
        f.close()  # (releases the lock: the file stays, and says nothing without it)
