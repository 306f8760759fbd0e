"""Sync baselines in SQLite: what both sides held after the last sync, per studio and zone.

Tables (created if absent, in the caller's database, e.g. ``$BLOCKC_HOME/state.db``):

``sync_zone``      one row per (studio, zone): the studio zone's identity (the id in its
                   marker file; a different or missing id means the studio zone was reset),
                   when and how it last synced, and whether that sync ended clean.
``sync_baseline``  one row per (studio, zone, path): type, content hash, and each side's
                   (size, mtime_ns, mode) as seen right after the path was last synced.

Every write is a short transaction (WAL, busy timeout): rows are written only for changes
really applied, so a sync killed at any point leaves a baseline that is true, only older.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from typing import NamedTuple

from ..value import Value

SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_zone (
    studio TEXT NOT NULL,
    zone TEXT NOT NULL,
    container_id TEXT,
    last_sync REAL,
    last_mode TEXT,
    clean INTEGER NOT NULL DEFAULT 0,
    summary TEXT,
    PRIMARY KEY (studio, zone)
);
CREATE TABLE IF NOT EXISTS sync_baseline (
    studio TEXT NOT NULL,
    zone TEXT NOT NULL,
    path BLOB NOT NULL,
    type TEXT NOT NULL,
    sha256 TEXT,
    h_size INTEGER, h_mtime INTEGER, h_mode INTEGER,
    c_size INTEGER, c_mtime INTEGER, c_mode INTEGER,
    PRIMARY KEY (studio, zone, path)
) WITHOUT ROWID;
"""


class Entry(NamedTuple):
    """One synced path. ``h_*``/``c_*``: the host's / the container's stat after the sync
    (-1 when unknown: that side is then compared by content hash)."""

    type: str  # "f" or "d"
    sha256: str | None
    h_size: int
    h_mtime: int
    h_mode: int
    c_size: int
    c_mtime: int
    c_mode: int


class ZoneState(Value):
    studio: str
    zone: str
    container_id: str | None
    last_sync: float | None
    last_mode: str | None
    clean: bool
    summary: str | None


def _key(path: str) -> bytes:
    return os.fsencode(path)


class Baseline:
    """The sync state store. ``db_path`` is shared with the rest of blockc's state."""

    def __init__(self, db_path: str | os.PathLike):
        self.db_path = os.fspath(db_path)
        parent = os.path.dirname(os.path.abspath(self.db_path))
        os.makedirs(parent, exist_ok=True)
        self._db = sqlite3.connect(
            self.db_path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._tx():
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    class _Tx:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, typ, *rest):
            self.db.execute("ROLLBACK" if typ else "COMMIT")

    def _tx(self):
        return self._Tx(self._db)

    # ---------------------------------------------------------------- reading
    def load(self, studio: str, zone: str) -> dict[str, Entry]:
        rows = self._db.execute(
            "SELECT path, type, sha256, h_size, h_mtime, h_mode, c_size, c_mtime, c_mode "
            "FROM sync_baseline WHERE studio = ? AND zone = ?",
            (studio, zone),
        )
        make = Entry._make
        dec = os.fsdecode
        return {dec(r[0]): make(r[1:]) for r in rows}

    def zone_state(self, studio: str, zone: str) -> ZoneState | None:
        rows = self._zone_states("studio = ? AND zone = ?", (studio, zone))
        return rows[0] if rows else None

    def zones(self, studio: str) -> list[ZoneState]:
        return self._zone_states("studio = ?", (studio,))

    def _zone_states(self, where: str, args: tuple) -> list[ZoneState]:
        rows = self._db.execute(
            "SELECT studio, zone, container_id, last_sync, last_mode, clean, summary "
            f"FROM sync_zone WHERE {where} ORDER BY zone",
            args,
        )
        return [
            ZoneState(
                studio=r[0],
                zone=r[1],
                container_id=r[2],
                last_sync=r[3],
                last_mode=r[4],
                clean=bool(r[5]),
                summary=r[6],
            )
            for r in rows
        ]

    # ---------------------------------------------------------------- writing
    def reset_zone(self, studio: str, zone: str, container_id: str | None) -> None:
        """Forget a zone's baseline (the studio side was reset) and record its new identity."""
        with self._tx() as db:
            db.execute("DELETE FROM sync_baseline WHERE studio = ? AND zone = ?", (studio, zone))
            db.execute(
                "INSERT INTO sync_zone (studio, zone, container_id, clean) VALUES (?, ?, ?, 0) "
                "ON CONFLICT (studio, zone) DO UPDATE SET container_id = excluded.container_id, "
                "clean = 0",
                (studio, zone, container_id),
            )

    def apply(
        self,
        studio: str,
        zone: str,
        upserts: Iterable[tuple[str, Entry]],
        deletes: Iterable[str] = (),
    ) -> None:
        """Record synced paths (one short transaction)."""
        ups = [
            (
                studio,
                zone,
                _key(p),
                e.type,
                e.sha256,
                e.h_size,
                e.h_mtime,
                e.h_mode,
                e.c_size,
                e.c_mtime,
                e.c_mode,
            )
            for p, e in upserts
        ]
        dels = [(studio, zone, _key(p)) for p in deletes]
        if not ups and not dels:
            return
        with self._tx() as db:
            if dels:
                db.executemany(
                    "DELETE FROM sync_baseline WHERE studio = ? AND zone = ? AND path = ?", dels
                )
            if ups:
                db.executemany(
                    "INSERT OR REPLACE INTO sync_baseline VALUES (?,?,?,?,?,?,?,?,?,?,?)", ups
                )

    def finish(
        self,
        studio: str,
        zone: str,
        container_id: str | None,
        mode: str,
        clean: bool,
        summary: str = "",
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO sync_zone (studio, zone, container_id, last_sync, last_mode, clean, "
                "summary) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (studio, zone) DO UPDATE SET "
                "container_id = excluded.container_id, last_sync = excluded.last_sync, "
                "last_mode = excluded.last_mode, clean = excluded.clean, "
                "summary = excluded.summary",
                (studio, zone, container_id, time.time(), mode, int(clean), summary),
            )

    def forget(self, studio: str, zone: str | None = None) -> None:
        """Drop a studio's sync state (``blockc rm``), or one zone's."""
        with self._tx() as db:
            if zone is None:
                db.execute("DELETE FROM sync_baseline WHERE studio = ?", (studio,))
                db.execute("DELETE FROM sync_zone WHERE studio = ?", (studio,))
            else:
                db.execute(
                    "DELETE FROM sync_baseline WHERE studio = ? AND zone = ?", (studio, zone)
                )
                db.execute("DELETE FROM sync_zone WHERE studio = ? AND zone = ?", (studio, zone))
