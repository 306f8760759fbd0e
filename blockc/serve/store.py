"""The server's view of ``state.db``: one connection, kept open, and what every request reads
(its user, the studio it reaches) cached until the database changes.

The cache is dropped whenever ``PRAGMA data_version`` moves, which it does at every commit
made by any *other* connection (the CLI's ``blockc tokens revoke``, a ``blockc start`` child,
another server), and at every write made through this store. Each request calls
:meth:`Store.refresh` once, first: a revoked token or a stopped studio is seen at the very
next request, and an unchanged database costs one PRAGMA per request, not a query per table.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import secrets
import sqlite3
import time

from ..run import state
from ..value import Value
from . import accounts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    groups TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL
);
"""

SESSION_DAYS = 7.0
LAST_USED_EVERY = 60.0  # a token's last use is written at most this often (seconds)


class Session(Value):
    user: str
    csrf: str
    expires_at: float


class Template(Value):
    name: str
    path: str
    groups: tuple[str, ...] = ()

    def open_to(self, user: accounts.User) -> bool:
        return user.admin or not self.groups or bool(set(self.groups) & set(user.groups))

    def json(self) -> dict:
        return {"name": self.name, "path": self.path, "groups": list(self.groups)}


class ZoneSync(Value):
    zone: str
    at: float  # (time.time(); 0: never)
    mode: str
    clean: bool
    summary: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def connect() -> sqlite3.Connection:
    """A connection to ``state.db`` with the front door's tables made."""
    conn = state.connect()
    conn.executescript(accounts._SCHEMA + _SCHEMA)
    return conn


class Store:
    def __init__(self) -> None:
        self.conn = connect()
        self._version = -1
        self._cache: dict[tuple, object] = {}
        self.generation = 0  # one more at every change seen: what depends on the cache follows
        self._looked = False
        self._token_used: dict[str, float] = {}

    def close(self) -> None:
        self.conn.close()

    def refresh(self) -> None:
        """Drop the cache if the database changed: called by each request, first.

        Looked at once per turn of the event loop: the requests one turn handles arrived
        together, and a change committed while they are handled is seen by the next ones,
        as it would be if each had looked (the first of a turn looks before the others)."""
        if self._looked:
            return
        try:
            asyncio.get_running_loop().call_soon(self._turn_ended)
            self._looked = True
        except RuntimeError:  # (no loop: every call looks)
            pass
        self.reload()

    def reload(self) -> None:
        """Drop the cache if the database changed (now: after this request's own change
        through another connection)."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._version = version
            self._changed()

    def _turn_ended(self) -> None:
        self._looked = False

    def _changed(self) -> None:
        self._cache.clear()
        self.generation += 1

    # --- who ------------------------------------------------------------------------------

    def user(self, name: str) -> accounts.User | None:
        cache = self._cache
        key = ("user", name)
        if key not in cache:
            row = self.conn.execute(
                "SELECT name, admin, password, created_at FROM users WHERE name = ?", (name,)
            ).fetchone()
            cache[key] = accounts._user(self.conn, row) if row else None
        return cache[key]  # type: ignore[return-value]

    def token_user(self, raw: str) -> tuple[accounts.User, str, float] | None:
        """The user of a presented API token, the token's id and when it expires (None:
        malformed, unknown, expired, its user gone); its use recorded (:meth:`token_used`)."""
        m = accounts.TOKEN.fullmatch(raw)
        if not m:
            return None
        token_id, secret = m.groups()
        cache = self._cache
        key = ("token", token_id)
        row = cache.get(key)
        if row is None:  # (unknown ids are not remembered: anyone may send any number)
            row = self.conn.execute(
                "SELECT user, digest, expires_at FROM tokens WHERE id = ?", (token_id,)
            ).fetchone()
            if row is not None:
                cache[key] = row
        if row is None or not hmac.compare_digest(row[1], digest(secret)):  # type: ignore[index]
            return None
        now = time.time()
        expires = math.inf if row[2] is None else row[2]  # type: ignore[index]
        if now >= expires:
            return None
        user = self.user(row[0])  # type: ignore[index]
        if user is None:
            return None
        self.token_used(token_id, now)
        return user, token_id, expires

    def token_used(self, token_id: str, now: float) -> None:
        """Record a token's use (written at most once a minute)."""
        if now - self._token_used.get(token_id, 0.0) >= LAST_USED_EVERY:
            self._token_used[token_id] = now
            self.conn.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, token_id))

    def session(self, cookie: str) -> Session | None:
        if not cookie or len(cookie) > 100:
            return None
        cache = self._cache
        key = ("session", cookie)
        found = cache.get(key)
        if found is None:  # (unknown cookies are not remembered: anyone may send any number)
            row = self.conn.execute(
                "SELECT user, csrf, expires_at FROM sessions WHERE digest = ?", (digest(cookie),)
            ).fetchone()
            if row is None:
                return None
            found = cache[key] = Session(*row)
        if not isinstance(found, Session) or time.time() >= found.expires_at:
            return None
        return found

    def new_session(self, user: str, days: float = SESSION_DAYS) -> tuple[str, Session]:
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        session = Session(user, csrf, now + days * accounts.DAY)
        self.conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        self.conn.execute(
            "INSERT INTO sessions (digest, user, csrf, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (digest(cookie), user, csrf, now, session.expires_at),
        )
        self._changed()
        return cookie, session

    def end_session(self, cookie: str) -> None:
        self.conn.execute("DELETE FROM sessions WHERE digest = ?", (digest(cookie),))
        self._changed()

    # --- what -----------------------------------------------------------------------------

    def studio(self, name: str) -> state.Studio | None:
        cache = self._cache
        key = ("studio", name)
        if key not in cache:
            row = self.conn.execute("SELECT * FROM studios WHERE name = ?", (name,)).fetchone()
            cache[key] = state._row(row) if row else None
        return cache[key]  # type: ignore[return-value]

    def studios(self) -> list[state.Studio]:
        return [state._row(r) for r in self.conn.execute("SELECT * FROM studios ORDER BY name")]

    def studio_json(self, studio: state.Studio) -> dict | None:
        """The studio.json of the artifact it runs (None: gone)."""
        cache = self._cache
        key = ("studio.json", studio.artifact_dir)
        if key not in cache:
            try:
                cache[key] = studio.studio_json()
            except Exception:  # (a BlockcError: its artifact is gone)
                cache[key] = None
        return cache[key]  # type: ignore[return-value]

    def last_syncs(self) -> dict[str, list[ZoneSync]]:
        """Each studio's zones as they last synced (what ``blockc sync`` records)."""
        cache = self._cache
        if ("syncs",) not in cache:
            found: dict[str, list[ZoneSync]] = {}
            try:
                rows = self.conn.execute(
                    "SELECT studio, zone, last_sync, last_mode, clean, summary FROM sync_zone "
                    "ORDER BY studio, zone"
                ).fetchall()
            except sqlite3.OperationalError:  # (no sync yet on this home: no table)
                rows = []
            for r in rows:
                found.setdefault(r[0], []).append(
                    ZoneSync(r[1], r[2] or 0.0, r[3] or "", bool(r[4]), r[5] or "")
                )
            cache[("syncs",)] = found
        return cache[("syncs",)]  # type: ignore[return-value]

    def templates(self) -> list[Template]:
        return [
            Template(r[0], r[1], tuple(json.loads(r[2])))
            for r in self.conn.execute("SELECT name, path, groups FROM templates ORDER BY name")
        ]

    def template(self, name: str) -> Template | None:
        return next((t for t in self.templates() if t.name == name), None)

    def put_template(self, template: Template) -> None:
        self.conn.execute(
            "INSERT INTO templates (name, path, groups, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET path=excluded.path, groups=excluded.groups",
            (template.name, template.path, json.dumps(list(template.groups)), time.time()),
        )
        self._changed()

    def remove_template(self, name: str) -> bool:
        gone = self.conn.execute("DELETE FROM templates WHERE name = ?", (name,)).rowcount
        self._changed()
        return bool(gone)
