"""Studio state in SQLite under ``$BLOCKC_HOME`` (SPEC §6).

One row per studio. Writers take a per-studio lock (``lock(name)``) for the whole of a
lifecycle action, so two CLI processes acting on one studio at once serialize instead of
corrupting state; SQLite (WAL, busy timeout) keeps every single write atomic. A lock file
exists only while its studio does (or while a start is making it).

The home's installation id (:func:`installation_id`) is in every name and on every object
its studios create: one podman may serve several homes, and none touches another's objects.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import BlockcError, did_you_mean
from ..home import home_dir, private_home
from ..names import INSTALLATION_ID, LABEL_INSTALLATION
from ..value import Value

STATES = ("STOPPED", "STARTING", "RUNNING", "STOPPING", "FAILED")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studios (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    template TEXT NOT NULL,
    template_path TEXT NOT NULL,
    artifact_hash TEXT NOT NULL,
    image TEXT NOT NULL,
    runtime TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('STOPPED','STARTING','RUNNING','STOPPING','FAILED')),
    ports TEXT NOT NULL DEFAULT '{}',
    workspace TEXT,
    message TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    runtime_id TEXT NOT NULL DEFAULT ''
);
"""
# columns added since the first release: added to an older state.db as it is opened
_ADDED = {
    "runtime_id": "TEXT NOT NULL DEFAULT ''",
    "location": "TEXT NOT NULL DEFAULT ''",
    "gate_port": "INTEGER NOT NULL DEFAULT 0",
    "gate_secret": "TEXT NOT NULL DEFAULT ''",
}


class Studio(Value, frozen=False):
    name: str
    owner: str
    template: str
    template_path: str
    artifact_hash: str
    image: str
    runtime: str
    state: str
    ports: Mapping[str, int] = MappingProxyType({})  # app id -> host port
    workspace: str | None = None
    message: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    # the runtime's id of the studio's main container (podman: its container id), set once
    # deploy has checked the container's labels; exec and sync address that very container
    runtime_id: str = ""
    # where the runtime runs it, when that is a setting (Kubernetes: the API server and the
    # namespace): the studio is acted on there only
    location: str = ""
    # its gate (blockc/run/gate.py), when it was started behind the front door: the host port
    # published to it and the secret it wants (and then no app port is published)
    gate_port: int = 0
    gate_secret: str = ""

    @property
    def artifact_dir(self) -> str:
        return artifact_dir(self.template, self.artifact_hash)

    def studio_json(self) -> dict:
        """The studio.json of the artifact the studio runs."""
        try:
            with open(os.path.join(self.artifact_dir, "studio.json"), encoding="utf-8") as f:
                return json.load(f)
        except OSError:
            raise BlockcError(
                f"studio '{self.name}': its artifact {self.artifact_dir} is "
                f"missing; run `blockc start` again"
            ) from None


def artifact_dir(template: str, content_hash: str) -> str:
    """Where the artifact a studio runs is kept (written by ``blockc start``). Paths in this
    module are strings: ``blockc sync`` reads the studio record before its agent starts, and
    pathlib is not imported for that (tests/test_imports.py)."""
    return os.path.join(home_dir(), "artifacts", f"{template}-{content_hash[:12]}")


def db_path() -> str:
    return os.path.join(home_dir(), "state.db")


def connect() -> sqlite3.Connection:
    path = db_path()
    private_home()
    if not os.path.exists(path):  # made private before sqlite writes a byte to it
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(_SCHEMA)
    have = {row[1] for row in conn.execute("PRAGMA table_info(studios)")}
    for column, decl in _ADDED.items():
        if column not in have:
            try:
                conn.execute(f"ALTER TABLE studios ADD COLUMN {column} {decl}")
            except sqlite3.OperationalError:  # another process added it just now
                pass
    conn.row_factory = sqlite3.Row
    return conn


def _row(row) -> Studio:
    # (the columns this version knows: a newer blockc may have added some)
    data = {k: v for k, v in dict(row).items() if k in Studio._fields}
    data["ports"] = json.loads(data["ports"])
    return Studio(**data)


def get(name: str) -> Studio | None:
    with contextlib.closing(connect()) as conn:
        row = conn.execute("SELECT * FROM studios WHERE name = ?", (name,)).fetchone()
    return _row(row) if row else None


def require(name: str) -> Studio:
    studio = get(name)
    if studio is None:
        names = [s.name for s in all_studios()]
        raise BlockcError(
            f"no studio named '{name}'", hint=did_you_mean(name, names) or "see `blockc status`"
        )
    return studio


def all_studios() -> list[Studio]:
    with contextlib.closing(connect()) as conn:
        return [_row(r) for r in conn.execute("SELECT * FROM studios ORDER BY name")]


def save(studio: Studio) -> Studio:
    if studio.state not in STATES:
        raise ValueError(studio.state)
    now = time.time()
    studio.updated_at = now
    studio.created_at = studio.created_at or now
    with contextlib.closing(connect()) as conn:
        conn.execute(
            "INSERT INTO studios (name, owner, template, template_path, artifact_hash, image, "
            "runtime, state, ports, workspace, message, created_at, updated_at, runtime_id, "
            "location, gate_port, gate_secret) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET "
            "owner=excluded.owner, template=excluded.template, "
            "template_path=excluded.template_path, artifact_hash=excluded.artifact_hash, "
            "image=excluded.image, runtime=excluded.runtime, state=excluded.state, "
            "ports=excluded.ports, workspace=excluded.workspace, message=excluded.message, "
            "updated_at=excluded.updated_at, runtime_id=excluded.runtime_id, "
            "location=excluded.location, gate_port=excluded.gate_port, "
            "gate_secret=excluded.gate_secret",
            (
                studio.name,
                studio.owner,
                studio.template,
                studio.template_path,
                studio.artifact_hash,
                studio.image,
                studio.runtime,
                studio.state,
                json.dumps(dict(studio.ports), sort_keys=True),
                studio.workspace,
                studio.message,
                studio.created_at,
                studio.updated_at,
                studio.runtime_id,
                studio.location,
                studio.gate_port,
                studio.gate_secret,
            ),
        )
    return studio


def set_state(studio: Studio, state: str, message: str = "") -> Studio:
    studio.state = state
    studio.message = message
    return save(studio)


def delete(name: str) -> None:
    """Forget the studio (with its lock held: its lock file goes too)."""
    with contextlib.closing(connect()) as conn:
        conn.execute("DELETE FROM studios WHERE name = ?", (name,))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_lock_path(name))
    import glob

    locks = os.path.join(glob.escape(home_dir()), "locks")
    for zone_lock in glob.glob(os.path.join(locks, f"sync-{glob.escape(name)}.*.lock")):
        with contextlib.suppress(FileNotFoundError):  # its zones' sync locks (no sync runs:
            os.unlink(zone_lock)  # the studio's lock is held)


def _lock_path(name: str) -> str:
    return os.path.join(home_dir(), "locks", f"{name}.lock")


@contextlib.contextmanager
def lock(name: str, *, create: bool = False, wait: bool = True):
    """Hold the studio's lock for a lifecycle action (start, stop, sync, rm).

    Only a studio that exists has a lock file: without ``create`` (which only ``start``
    passes) a name that is no studio is the error :func:`require` gives, and no file is
    made. A lock file goes when its studio does (:func:`delete`, or a start that made no
    studio), with the lock held; one who waited on the removed file takes the lock anew."""
    locks = os.path.join(private_home(), "locks")
    path = _lock_path(name)
    while True:
        if not create:
            require(name)
        os.makedirs(locks, mode=0o700, exist_ok=True)
        f = open(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600), "r+b")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.close()
            raise BlockcError(
                f"studio '{name}' is busy: another blockc process is acting on it"
            ) from None
        try:
            same = os.path.samestat(os.stat(path), os.fstat(f.fileno()))
        except FileNotFoundError:
            same = False
        if same and not create and get(name) is None:  # removed while we waited for it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            f.close()
            require(name)  # (raises: no studio of that name)
        if same:
            break
        f.close()  # its holder removed the file (and its studio, perhaps): once more
    try:
        yield
    finally:
        try:
            if create and get(name) is None:  # a start that made no studio
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        finally:
            f.close()  # (closing releases the lock)


def installation_id() -> str:
    """This installation's id (in ``$BLOCKC_HOME/installation``): made once, at random, the
    first time a studio needs it; the same for every studio of the home ever after."""
    path = os.path.join(private_home(), "installation")
    try:
        with open(path, encoding="ascii") as f:
            ident = f.read(64).strip()
    except FileNotFoundError:
        ident = _make_installation_id(path)
    except (OSError, ValueError) as exc:
        raise BlockcError(f"cannot read this installation's id ({path}): {exc}") from None
    if not INSTALLATION_ID.fullmatch(ident):
        raise BlockcError(
            f"{path} holds no installation id ({ident[:20]!r}, expected 8 characters of "
            f"a-z and 2-7): it names every object of this home's studios, so blockc does not "
            f"make another; put back the one it held (the label {LABEL_INSTALLATION} on this "
            f"home's pods shows it)"
        )
    return ident


def _make_installation_id(path: str) -> str:
    import base64
    import secrets

    ident = base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "w", encoding="ascii") as f:
            f.write(ident + "\n")
        try:
            os.link(tmp, path)  # the first of two processes making one wins; both read it
        except FileExistsError:
            with open(path, encoding="ascii") as f:
                ident = f.read(64).strip()
    finally:
        os.unlink(tmp)
    return ident
