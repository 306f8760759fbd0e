"""Studio state in SQLite under ``$BLOCKC_HOME`` (SPEC §6).

One row per studio. Writers take a per-studio lock (``lock(name)``) for the whole of a
lifecycle action, so two CLI processes acting on one studio at once serialize instead of
corrupting state; SQLite (WAL, busy timeout) keeps every single write atomic.
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
    updated_at REAL NOT NULL
);
"""


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
    conn.row_factory = sqlite3.Row
    return conn


def _row(row) -> Studio:
    data = dict(row)
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
            "runtime, state, ports, workspace, message, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
            "owner=excluded.owner, template=excluded.template, "
            "template_path=excluded.template_path, artifact_hash=excluded.artifact_hash, "
            "image=excluded.image, runtime=excluded.runtime, state=excluded.state, "
            "ports=excluded.ports, workspace=excluded.workspace, message=excluded.message, "
            "updated_at=excluded.updated_at",
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
            ),
        )
    return studio


def set_state(studio: Studio, state: str, message: str = "") -> Studio:
    studio.state = state
    studio.message = message
    return save(studio)


def delete(name: str) -> None:
    with contextlib.closing(connect()) as conn:
        conn.execute("DELETE FROM studios WHERE name = ?", (name,))


@contextlib.contextmanager
def lock(name: str, *, wait: bool = True):
    """Hold the studio's lock for a lifecycle action (start, stop, sync, rm)."""
    locks = os.path.join(private_home(), "locks")
    os.makedirs(locks, mode=0o700, exist_ok=True)
    path = os.path.join(locks, f"{name}.lock")
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise BlockcError(
                f"studio '{name}' is busy: another blockc process is acting on it"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
