"""The sync engine: a three-way diff (host, baseline, studio) and a careful apply.

One :func:`sync_zone` call syncs one zone over one agent session (one ``exec``):

1. ``hello``: the studio zone's identity (its marker file). A missing or different identity
   means the studio side is new or was reset: the baseline is set aside, so nothing is ever
   deleted because the studio came back empty.
2. ``scan``: the host sends the baseline's studio-side stats; the agent answers with what
   differs (hashing only files whose size is unchanged but whose stat is not). Meanwhile the
   host walks its own side. Paths reported deleted were checked one by one.
3. Decide per path (see docs/sync.md for the table); refuse mass deletions.
4. Apply: studio deletions, directories, files (a tar stream in), then host deletions,
   directories, files (a tar stream out). Every write is a temp file + rename, checked
   against what was scanned just before the rename. The baseline records only what was
   really applied, in short transactions, so an interrupted sync resumes cleanly: a change
   applied but not recorded is found identical on both sides next time (same hash) and
   simply recorded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from ..value import Value
from . import agent as wire
from .agent import MODE_MASK, Changed, ChunkReader, ChunkWriter, PathRefused, ProtocolError, Zone
from .baseline import Baseline, Entry
from .report import (
    Change,
    Conflict,
    MassDeletionRefused,
    Problem,
    SyncError,
    SyncProgress,
    SyncReport,
)
from .session import Session, agent_source, start_agent  # noqa: F401 (agent_source: re-exported)
from .transport import Transport

if TYPE_CHECKING:
    from ..types import Zone as ZoneSpec

Mode = Literal["both", "push", "pull"]
Progress = Callable[[SyncProgress], None]

MASS_DELETE_MIN = 10  # more than this many files ...
MASS_DELETE_SHARE = 0.5  # ... and more than this share of the zone's files: refused
BATCH_FILES = 2000  # files per put/get request (the baseline is recorded after each)
BATCH_BYTES = 256 << 20
RECORD_EVERY = 2.0  # seconds between baseline commits while pulling

CHANGED = ("added", "modified", "deleted")


class Obs:
    """One side's view of a path now."""

    __slots__ = ("type", "size", "mtime", "mode", "hash")

    def __init__(self, type, size, mtime, mode, hash=None):
        self.type, self.size, self.mtime, self.mode, self.hash = type, size, mtime, mode, hash

    @classmethod
    def of(cls, st):
        t = wire.ftype(st.st_mode)
        return cls(t, st.st_size if t == "f" else 0, st.st_mtime_ns, st.st_mode & 0o7777)

    @classmethod
    def of_scan(cls, seen):
        """From a host walk's (st_mode, size, mtime_ns) of a file or directory."""
        m, size, mtime = seen
        t = "f" if m & wire.S_IFMT == wire.S_IFREG else "d"
        return cls(t, size if t == "f" else 0, mtime, m & 0o7777)

    def expect(self):
        return [self.type, self.size, self.mtime]


# ------------------------------------------------------------------------ excludes


class Excludes:
    """gitignore patterns (pathspec's GitIgnoreSpec), applied to files and directories.

    A path is excluded if it, or any directory above it, matches (git does not look into
    an excluded directory), so both sides agree whatever they prune.
    """

    def __init__(self, patterns):
        self.patterns = [p for p in patterns if p.strip()]
        self.spec = None
        if self.patterns:
            import pathspec

            self.spec = pathspec.GitIgnoreSpec.from_lines(self.patterns)
        self._dirs: dict[str, bool] = {}

    def _dir(self, rel: str) -> bool:
        hit = self._dirs.get(rel)
        if hit is None:
            parent = rel.rpartition("/")[0]
            hit = (bool(parent) and self._dir(parent)) or self.spec.match_file(rel + "/")
            self._dirs[rel] = hit
        return hit

    def __call__(self, rel: str, is_dir: bool = False) -> bool:
        if self.spec is None:
            return False
        if is_dir:
            return self._dir(rel)
        parent = rel.rpartition("/")[0]
        return (bool(parent) and self._dir(parent)) or self.spec.match_file(rel)

    def prune(self, rel: str, is_dir: bool) -> bool:
        """For a walk that descends: parents were already checked."""
        if self.spec is None:
            return False
        if is_dir:
            hit = self.spec.match_file(rel + "/")
            self._dirs[rel] = hit
            return hit
        return self.spec.match_file(rel)

    def agent_patterns(self) -> list | None:
        """Regexes the agent may prune with: only without negations (then last-match-wins
        over plain regexes is exactly gitignore). The host filters again in any case."""
        if self.spec is None:
            return None
        pats = [p for p in self.spec.patterns if p.include is not None]
        if any(not p.include for p in pats):
            return None
        return [[p.regex.pattern, True] for p in pats]


# ---------------------------------------------------------------------------- core


class _Plan(Value, frozen=False):
    c_delete: list  # [rel, expect, Change]
    c_mkdir: list  # [rel, Obs(host), Change]
    c_put: list  # [rel, Obs(host), expect, Change]
    h_delete: list  # [rel, expect, Change]
    h_mkdir: list  # [rel, Obs(studio), Change, Conflict|None]
    h_get: list  # [rel, dest, Obs(studio), expect, Change|None, Conflict|None]
    records: list  # [rel, Entry]
    drops: list  # [rel]


def _bsize(b: Entry) -> int:
    return b.c_size if b.c_size >= 0 else b.h_size


def _bmode(b: Entry) -> int:
    return (b.c_mode if b.c_mode >= 0 else b.h_mode) & MODE_MASK


def _change(b: Entry | None, o: Obs | None, size: int, mtime: int, mode: int, get_hash) -> str:
    """none | same | touched | added | modified | deleted | need (a hash is missing)."""
    if b is None:
        return "none" if o is None else "added"
    if o is None:
        return "deleted"
    if o.type != b.type:
        return "modified"
    if o.type == "d":
        ref = mode if mode >= 0 else _bmode(b)
        return "same" if (o.mode & MODE_MASK) == (ref & MODE_MASK) else "modified"
    if o.size == size and o.mtime == mtime and o.mode == mode:
        return "same"
    if o.size != _bsize(b):
        return "modified"
    h = get_hash()
    if h is None:
        return "need"
    if h != b.sha256:
        return "modified"
    ref = mode if mode >= 0 else _bmode(b)
    return "touched" if (o.mode & MODE_MASK) == (ref & MODE_MASK) else "modified"


def _agent_base(base: dict) -> dict:
    """The baseline's studio side as the agent's scan takes it (see ``agent.base_entry``)."""
    F, D = wire.S_IFREG, wire.S_IFDIR
    return {
        p: ([D | e.c_mode] if e.type == "d" else [F | e.c_mode, e.c_size, e.c_mtime])
        if e.c_mode >= 0
        else wire.base_entry(e.type, e.c_size, e.c_mtime, e.c_mode)
        for p, e in base.items()
    }


class _HashingReader(wire._Exact):
    """Exactly ``size`` bytes of an fd (zero-padded if it shrank), hashed on the way."""

    def __init__(self, fd, size):
        super().__init__(fd, size)
        self.h = wire._sha256()

    def read(self, n=-1):
        data = super().read(n)
        self.h.update(data)
        return data


def _batches(items, size_of):
    """Items in batches of at most BATCH_FILES files or about BATCH_BYTES bytes, each batch one
    tar stream (so a huge tree never makes one huge request)."""
    batch, size = [], 0
    for it in items:
        batch.append(it)
        size += size_of(it)
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def conflict_name(rel: str, studio: str, when: float | None = None, n: int = 1) -> str:
    """``dir/name.conflict-STUDIO-YYYYmmdd-HHMMSS.ext`` (UTC) for ``dir/name.ext``
    (``...-HHMMSS-N.ext`` for the N-th one within a second)."""
    d, _, base = rel.rpartition("/")
    stem, dot, ext = base[1:].rpartition(".") if base.startswith(".") else base.rpartition(".")
    if base.startswith("."):
        stem, ext = ("." + stem, ext) if dot else (base, "")
    elif not dot:
        stem, ext = base, ""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(when))
    name = (
        f"{stem}.conflict-{studio}-{stamp}"
        + (f"-{n}" if n > 1 else "")
        + (f".{ext}" if ext else "")
    )
    return f"{d}/{name}" if d else name


def _conflict_re(rel: str, studio: str):
    c = conflict_name(rel, studio, 0)
    d, _, base = c.rpartition("/")
    head, _, tail = base.partition(f".conflict-{studio}-19700101-000000")
    rx = (
        re.escape(head)
        + re.escape(f".conflict-{studio}-")
        + r"\d{8}-\d{6}(?:-\d+)?"
        + re.escape(tail)
    )
    return d, re.compile(rx + r"\Z")


@contextlib.contextmanager
def _zone_lock(baseline: Baseline, studio: str, zone: str):
    d = os.path.join(os.path.dirname(os.path.realpath(baseline.db_path)), "locks")
    os.makedirs(d, exist_ok=True)
    fd = os.open(
        os.path.join(d, f"sync-{studio}-{zone}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
    )
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncError(f"another sync of studio {studio!r} zone {zone!r} is running")
        yield
    finally:
        os.close(fd)


class _Sync:
    def __init__(
        self,
        transport,
        studio,
        zone: ZoneSpec,
        workspace,
        mode,
        baseline: Baseline,
        allow_mass_delete,
        progress,
        python,
        dry_run,
        agent_src=None,
        session=None,
        done_file=None,
    ):
        if mode not in ("both", "push", "pull"):
            raise ValueError(f"mode must be both, push or pull: {mode!r}")
        self.transport = transport
        self.studio = studio
        self.spec = zone
        self.workspace = os.fspath(workspace)
        self.mode = mode
        self.baseline = baseline
        self.allow_mass_delete = allow_mass_delete
        self.progress_cb = progress
        self.python = python
        self.dry_run = dry_run
        self.agent_src = agent_src
        self.done_file = done_file
        self.P = zone.direction in ("both", "in") and mode in ("both", "push")
        self.L = zone.direction in ("both", "out") and mode in ("both", "pull")
        self.keep_copies = zone.direction in ("both", "out")
        self.report = SyncReport(studio, zone.name, mode, zone.direction, dry_run=dry_run)
        self.excludes = Excludes(zone.exclude)
        self.host: Zone | None = None
        self.session: Session | None = session
        self.zone_id = None
        self._taken: set = set()
        self._ups: list = []
        self._dels: list = []
        self._last_flush = time.monotonic()

    # --------------------------------------------------------------- helpers
    def _progress(self, phase, **kw):
        if self.progress_cb:
            self.progress_cb(SyncProgress(self.spec.name, phase, **kw))

    def _problem(self, path, side, reason, refused=False):
        self.report.problems.append(Problem(path, side, reason, refused))

    def _record(self, rel, entry):
        self._ups.append((rel, entry))
        self._maybe_flush()

    def _drop(self, rel):
        self._flush_ups_if(rel)
        self._dels.append(rel)
        self._maybe_flush()

    def _flush_ups_if(self, rel):
        if any(p == rel for p, _ in self._ups):
            self._flush()

    def _maybe_flush(self):
        if (
            len(self._ups) + len(self._dels) >= 1000
            or time.monotonic() - self._last_flush > RECORD_EVERY
        ):
            self._flush()

    def _flush(self):
        if self.dry_run:
            self._ups, self._dels = [], []
            return
        # deletions first: a path dropped then re-added (type change) ends up recorded
        if self._dels:
            self.baseline.apply(self.studio, self.spec.name, (), self._dels)
        if self._ups:
            self.baseline.apply(self.studio, self.spec.name, self._ups, ())
        self._ups, self._dels = [], []
        self._last_flush = time.monotonic()

    # -------------------------------------------------------------- run
    def run(self) -> SyncReport:
        t0 = time.monotonic()
        if self.session is None:
            # first: the exec takes a while to start; the host side is read meanwhile
            self.session = Session(self.transport, self.python, self.agent_src)
        ok = False
        try:
            self._open_host()
            self._sync()
            ok = True
        finally:
            try:
                self._flush()
                if ok and self.done_file and not self.report.errors:
                    self.session.call({"op": "touch", "path": self.done_file})
            finally:
                self.session.close(done=ok)
                if self.host is not None:
                    self.host.close()
        self.report.seconds = time.monotonic() - t0
        if not self.dry_run:
            self.baseline.finish(
                self.studio,
                self.spec.name,
                self.zone_id,
                self.mode,
                clean=self.report.ok
                and not self.report.pending_pull
                and not self.report.pending_push,
                summary=f"{len(self.report.pushed)} pushed, {len(self.report.pulled)} pulled, "
                f"{len(self.report.conflicts)} conflicts",
            )
        return self.report

    def _open_host(self):
        ws = self.workspace
        if not os.path.isdir(ws):
            raise SyncError(f"workspace {ws} is not a directory")
        try:
            # "." is the workspace itself
            parts = [] if self.spec.host == "." else wire.check_rel(self.spec.host)
        except PathRefused as exc:
            raise SyncError(f"zone {self.spec.name}: host path {self.spec.host!r}: {exc}")
        self.host_root = os.path.join(ws, *parts)
        wz = Zone(ws)
        try:
            try:
                wz.dir_fd(parts, create=self.L and not self.dry_run)
            except FileNotFoundError:
                self.host_missing = True
                return
            except PathRefused as exc:
                raise SyncError(f"zone {self.spec.name}: {self.host_root}: {exc}")
        finally:
            wz.close()
        self.host_missing = False
        self.host = Zone(self.host_root)

    def _scan_host(self, base):
        """The host side now: ({path: (st_mode, size, mtime_ns)} of files and directories,
        unobserved paths, paths that differ from the baseline's host side, how many baseline
        paths were met)."""
        host: dict = {}
        unobs: set[str] = set()
        changed: set[str] = set()
        if self.host is None:
            return host, unobs, changed, 0

        def on_error(rel, exc):
            unobs.add(rel.rstrip("/"))
            self._problem(rel.rstrip("/") or ".", "host", exc.strerror or str(exc))

        S_IFMT, S_IFREG, S_IFDIR = wire.S_IFMT, wire.S_IFREG, wire.S_IFDIR
        bget = base.get
        met = 0
        prune = self.excludes.prune if self.excludes.spec is not None else None
        for rel, st in wire.walk(self.host_root, prune, on_error):
            m = st.st_mode
            t = m & S_IFMT
            if t != S_IFREG and t != S_IFDIR:
                unobs.add(rel)
                self._problem(
                    rel,
                    "host",
                    "symlink: not synced" if stat.S_ISLNK(m) else "special file: not synced",
                    refused=True,
                )
                continue
            host[rel] = (m, st.st_size, st.st_mtime_ns)  # small: one per entry of the zone
            b = bget(rel)
            if b is None:
                changed.add(rel)
                continue
            met += 1
            if (
                (m & 0o7777) != b.h_mode
                or ("f" if t == S_IFREG else "d") != b.type
                or (t == S_IFREG and (st.st_size != b.h_size or st.st_mtime_ns != b.h_mtime))
            ):
                changed.add(rel)
        return host, unobs, changed, met

    def _host_hash(self, rel, o: Obs):
        if o.hash is None:
            try:
                fd, _ = self.host.open_read(rel)
            except (OSError, PathRefused):
                return None
            try:
                o.hash = wire.hash_fd(fd)
            finally:
                os.close(fd)
        return o.hash

    def _sync(self):
        rep = self.report
        s = self.session
        self._progress("scan")
        state = self.baseline.zone_state(self.studio, self.spec.name)
        base = {} if self.host_missing else self.baseline.load(self.studio, self.spec.name)
        expected = state.container_id if (state is not None and base) else None
        # hello, scan request and baseline go out from a thread (the exec may still be
        # starting) while this thread walks the host side
        sent_err: list = []

        def writer():
            try:
                wire.send(
                    s.out,
                    {
                        "op": "hello",
                        "root": self.spec.container,
                        "create": self.P and not self.dry_run,
                        "mark": not self.dry_run,
                    },
                )
                wire.send(
                    s.out,
                    {"op": "scan", "prune": self.excludes.agent_patterns(), "zone_id": expected},
                )
                w = ChunkWriter(s.out)
                w.write(wire.dumps(_agent_base(base)).encode("ascii"))
                w.close()
            except Exception as exc:  # reported below, when the reply is missing
                sent_err.append(exc)

        th = threading.Thread(target=writer, daemon=True)
        th.start()
        host, h_unobs, h_changed, h_met = self._scan_host(base)
        rep.host_entries = len(host)
        th.join()
        hello = s.reply()
        if hello.get("protocol") != wire.PROTOCOL:
            raise SyncError(
                f"sync agent protocol mismatch ({hello.get('protocol')} != {wire.PROTOCOL})"
            )
        self.zone_id = hello.get("zone_id")
        if self.zone_id is not None and not (
            type(self.zone_id) is str and len(self.zone_id) <= 200
        ):
            raise s._lost("bad reply: zone id")
        exists = bool(hello.get("exists"))
        known = exists and self.zone_id is not None and expected == self.zone_id
        rep.studio_missing = not exists
        if not known:
            rep.studio_reset = bool(base)
            base = {}
            if not self.dry_run and self.zone_id is not None:
                self.baseline.reset_zone(self.studio, self.spec.name, self.zone_id)
        cont: dict[str, Obs] = {}
        c_deleted: set[str] = set()
        c_unobs: set[str] = set()
        hexre = re.compile(r"[0-9a-f]{64}")
        try:
            for item in ChunkReader(s.inp).lines():
                tag = item[0]
                if tag == "-":
                    c_deleted.add(self._rel(item[1]))
                elif tag == "!":
                    rel = str(item[1]).rstrip("/")
                    c_unobs.add(rel)
                    self._problem(rel or ".", "studio", str(item[2]))
                else:
                    rel = self._rel(tag)
                    t, size, mtime, mode, h = item[1:6]
                    if (
                        t not in ("f", "d", "l", "o")
                        or type(size) is not int
                        or type(mtime) is not int
                        or type(mode) is not int
                    ):
                        raise ProtocolError(f"bad entry for {rel!r}")
                    if h is not None and not (isinstance(h, str) and hexre.fullmatch(h)):
                        raise ProtocolError(f"bad hash for {rel!r}")
                    cont[rel] = Obs(t, size, mtime, mode, h)
                if len(cont) > 5_000_000:
                    raise ProtocolError("too many entries")
        except (ProtocolError, ValueError, TypeError, IndexError) as exc:
            raise s._lost(f"bad scan: {exc}")
        done = s.reply()
        entries = done.get("entries") or 0
        if type(entries) is not int:
            raise s._lost("bad reply: entries")
        rep.studio_entries = entries
        for rel, o in list(cont.items()):
            if o.type in ("l", "o"):
                del cont[rel]
                c_unobs.add(rel)
                self._problem(
                    rel,
                    "studio",
                    "symlink: not synced" if o.type == "l" else "special file: not synced",
                    refused=True,
                )
        if not known:
            h_changed, h_met = set(host), 0
        self._decide(base, host, h_unobs, h_changed, h_met, cont, c_deleted, c_unobs)

    def _rel(self, rel):
        if not isinstance(rel, str):
            raise ProtocolError("bad path")
        try:
            wire.check_rel(rel)
        except PathRefused as exc:
            raise ProtocolError(str(exc))
        return rel

    # ---------------------------------------------------------------- decide
    def _decide(self, base, host, h_unobs, h_changed, h_met, cont, c_deleted, c_unobs):
        """host: {path: (st_mode, size, mtime_ns)}; h_changed: the host paths that differ from the baseline;
        h_met: how many baseline paths the host walk met."""
        rep = self.report
        ex = self.excludes

        def under(rel, unobs):
            if not unobs:
                return False
            if "" in unobs or rel in unobs:
                return True
            p = rel
            while "/" in p:
                p = p.rpartition("/")[0]
                if p in unobs:
                    return True
            return False

        def c_obs(rel, b):
            """(obs or None, observed?) on the studio side."""
            if rel in cont:
                return cont[rel], True
            if rel in c_deleted:
                return None, True
            if under(rel, c_unobs):
                return None, False
            if b is not None:  # not reported: unchanged since the baseline
                return Obs(b.type, b.c_size if b.type == "f" else 0, b.c_mtime, b.c_mode), True
            return None, True

        rows = []
        need = set()
        if c_unobs or h_unobs or ex.spec:
            paths = set(base) | set(host) | set(cont) | c_deleted
        else:  # only what differs from the baseline on either side needs a decision
            paths = set(h_changed)
            if h_met < len(base):  # some baseline paths are gone from the host
                paths.update(rel for rel in base if rel not in host)
            paths.update(cont)
            paths.update(c_deleted)
        for rel in sorted(paths):
            b = base.get(rel)
            ho = host.get(rel)
            if ho is not None:
                ho = Obs.of_scan(ho)
            co, c_seen = c_obs(rel, b)
            is_dir = any(o is not None and o.type == "d" for o in (ho, co)) or (
                b is not None and b.type == "d"
            )
            if ex(rel, is_dir):
                if b is not None:
                    self._drop(rel)
                continue
            if (ho is None and under(rel, h_unobs)) or not c_seen:
                continue  # not observed on one side: nothing is decided about it
            hs = _change(
                b,
                ho,
                *(b.h_size, b.h_mtime, b.h_mode) if b else (0, 0, 0),
                (lambda rel=rel, ho=ho: self._host_hash(rel, ho)),
            )
            if hs == "need":  # unreadable host file
                self._problem(rel, "host", "cannot read")
                continue
            cs = _change(
                b, co, *(b.c_size, b.c_mtime, b.c_mode) if b else (0, 0, 0), (lambda co=co: co.hash)
            )
            if cs == "need":
                need.add(rel)
            elif (
                hs in CHANGED
                and cs in CHANGED
                and co is not None
                and co.type == "f"
                and co.hash is None
            ):
                need.add(rel)
            rows.append([rel, b, ho, hs, co, cs])
        if need:
            hashes = self.session.call({"op": "hash", "paths": sorted(need)}).get("hashes") or {}
            if not isinstance(hashes, dict):
                raise self.session._lost("bad reply: no hashes")
            for row in rows:
                rel, b, ho, hs, co, cs = row
                if rel in need:
                    h = hashes.get(rel)
                    if h is not None and not (
                        isinstance(h, str) and re.fullmatch(r"[0-9a-f]{64}", h)
                    ):
                        raise SyncError("studio side: bad hash")
                    co.hash = h
                    if cs == "need":
                        row[5] = _change(b, co, b.c_size, b.c_mtime, b.c_mode, lambda: co.hash)
                        if row[5] == "need":
                            self._problem(rel, "studio", "cannot read")
                            row[5] = "skip"

        plan = _Plan([], [], [], [], [], [], [], [])
        for rel, b, ho, hs, co, cs in rows:
            if cs == "skip":
                continue
            self._decide_one(plan, rel, b, ho, hs, co, cs)
        self._check_mass(plan, base)
        if self.dry_run:
            for item in plan.c_delete + plan.c_mkdir + plan.c_put:
                rep.pushed.append(item[-1])
            for item in plan.h_delete:
                rep.pulled.append(item[-1])
            for item in plan.h_mkdir + plan.h_get:
                ch, cf = item[-2:]
                if ch is not None:
                    rep.pulled.append(ch)
                if cf is not None:
                    rep.conflicts.append(cf)
            return
        self._apply(plan)

    def _decide_one(self, plan, rel, b, ho, hs, co, cs):
        rep = self.report
        hchg, cchg = hs in CHANGED, cs in CHANGED
        if not hchg and not cchg:
            if "touched" in (hs, cs) and b is not None:
                plan.records.append([rel, self._entry(b.type, b.sha256, ho, co)])
            return
        if hchg and not cchg:
            ch = Change(rel, hs, (ho or b).type, ho.size if ho else 0)
            if self.P:
                self._plan_push(plan, rel, ho, co, ch)
            else:
                rep.pending_push.append(ch)
            return
        if cchg and not hchg:
            ch = Change(rel, cs, (co or b).type, co.size if co else 0)
            if self.L:
                self._plan_pull(plan, rel, ho, co, ch)
            else:
                rep.pending_pull.append(ch)
            return
        # changed on both sides
        if hs == "deleted" and cs == "deleted":
            plan.drops.append(rel)
            return
        if cs == "deleted":  # changed here, deleted there: the change is kept (restored there)
            cf = Conflict(
                rel, "changed on the host, deleted in the studio: the host version is kept"
            )
            rep.conflicts.append(cf)
            plan.drops.append(rel)
            if self.P:
                self._plan_push(plan, rel, ho, None, Change(rel, "added", ho.type, ho.size))
            return
        if hs == "deleted":
            cf = Conflict(
                rel, "deleted on the host, changed in the studio: the studio version is kept"
            )
            rep.conflicts.append(cf)
            plan.drops.append(rel)
            if self.keep_copies:
                self._plan_pull(plan, rel, None, co, Change(rel, "added", co.type, co.size))
            return
        # added or modified on both sides
        if ho.type == co.type == "d":
            plan.records.append([rel, self._entry("d", None, ho, co)])
            return
        if (
            ho.type == co.type == "f"
            and ho.size == co.size
            and co.hash is not None
            and self._host_hash(rel, ho) == co.hash
        ):
            plan.records.append([rel, self._entry("f", co.hash, ho, co)])  # same content: in sync
            return
        if ho.type == "f" and co.type == "f" and self.keep_copies and co.hash is not None:
            copy = self._existing_copy(rel, co)
            cf_reason = "changed on both sides: the host version is kept in place"
            if copy is not None:  # kept by an earlier, interrupted sync
                rep.conflicts.append(Conflict(rel, cf_reason, copy))
                plan.records.append(
                    [rel, Entry("f", co.hash, -1, -1, -1, co.size, co.mtime, co.mode)]
                )
                return
            dest = self._free_name(rel)
            cf = Conflict(rel, cf_reason, dest)
            plan.h_get.append([rel, dest, co, None, None, cf])
            return
        what = {"f": "a file", "d": "a directory"}
        self.report.conflicts.append(
            Conflict(
                rel,
                f"changed on both sides (host: {what.get(ho.type)}, studio: {what.get(co.type)}); "
                "nothing was changed",
            )
        )

    def _entry(self, t, sha, ho: Obs | None, co: Obs | None) -> Entry:
        h = (ho.size, ho.mtime, ho.mode) if ho else (-1, -1, -1)
        c = (co.size, co.mtime, co.mode) if co else (-1, -1, -1)
        return Entry(t, sha, *h, *c)

    def _plan_push(self, plan, rel, ho, co, ch):
        cur = co.expect() if co is not None else None
        if ho is None:  # deleted on the host
            plan.c_delete.append([rel, cur, ch])
        elif ho.type == "d":
            if co is not None and co.type != "d":
                plan.c_delete.append([rel, cur, None])
            plan.c_mkdir.append([rel, ho, ch])
        else:
            if co is not None and co.type == "d":
                plan.c_delete.append([rel, cur, None])
                cur = None
            plan.c_put.append([rel, ho, cur, ch])

    def _plan_pull(self, plan, rel, ho, co, ch, conflict=None):
        cur = ho.expect() if ho is not None else None
        if co is None:
            plan.h_delete.append([rel, cur, ch])
        elif co.type == "d":
            if ho is not None and ho.type != "d":
                plan.h_delete.append([rel, cur, None])
            plan.h_mkdir.append([rel, co, ch, conflict])
        else:
            if ho is not None and ho.type == "d":
                plan.h_delete.append([rel, cur, None])
                cur = None
            plan.h_get.append([rel, rel, co, cur, ch, conflict])

    def _existing_copy(self, rel, co):
        d, rx = _conflict_re(rel, self.studio)
        try:
            names = os.listdir(os.path.join(self.host_root, d) if d else self.host_root)
        except OSError:
            return None
        for name in names:
            if rx.match(name):
                cand = f"{d}/{name}" if d else name
                st = self.host.lstat(cand)
                if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == co.size:
                    o = Obs.of(st)
                    if self._host_hash(cand, o) == co.hash:
                        return cand
        return None

    def _free_name(self, rel):
        now = time.time()
        n = 1
        while True:
            cand = conflict_name(rel, self.studio, now, n)
            if cand not in self._taken and (self.host is None or self.host.lstat(cand) is None):
                self._taken.add(cand)
                return cand
            n += 1

    def _check_mass(self, plan, base):
        total = sum(1 for e in base.values() if e.type == "f")
        for side, items, where in (
            ("studio", plan.c_delete, "in the studio"),
            ("host", plan.h_delete, "on the host"),
        ):
            n = sum(1 for it in items if it[-1] is not None and it[-1].type == "f")
            if n > MASS_DELETE_MIN and n > MASS_DELETE_SHARE * total and not self.allow_mass_delete:
                if self.dry_run:
                    self._problem(
                        ".",
                        side,
                        f"would delete {n} of {total} files {where} (refused without "
                        "allow_mass_delete)",
                    )
                    continue
                raise MassDeletionRefused(
                    f"zone {self.spec.name}: this sync would delete {n} of the zone's {total} files "
                    f"{where}; nothing was changed",
                    hint="if that is really wanted, sync again allowing mass deletion "
                    "(--allow-mass-delete)",
                )

    # ------------------------------------------------------------------ apply
    def _apply(self, plan):
        rep = self.report
        for rel in plan.drops:
            self._drop(rel)
        for rel, entry in plan.records:
            self._record(rel, entry)
        s = self.session
        # studio side: deletions (deepest first), directories (shallowest first), files
        if plan.c_delete:
            items = sorted(plan.c_delete, key=lambda it: -it[0].count("/"))
            res = self._answers(
                s.call({"op": "delete", "items": [[rel, exp] for rel, exp, _ in items]})
            )
            for rel, exp, ch in items:
                r = self._answer(res, rel)
                if r[0] == "ok":
                    self._drop(rel)
                    if ch is not None:
                        rep.pushed.append(ch)
                else:
                    self._failed(rel, "studio", r)
        if plan.c_mkdir:
            items = sorted(plan.c_mkdir, key=lambda it: it[0].count("/"))
            res = self._answers(
                s.call(
                    {"op": "mkdir", "items": [[rel, ho.mode & MODE_MASK] for rel, ho, _ in items]}
                )
            )
            for rel, ho, ch in items:
                r = self._answer(res, rel, (3, 4))
                if r[0] == "ok":
                    e = r[1]
                    self._record(rel, Entry("d", None, ho.size, ho.mtime, ho.mode, 0, e[3], e[4]))
                    rep.pushed.append(ch)
                else:
                    self._failed(rel, "studio", r)
        if plan.c_put:
            self._push_files(plan.c_put)
        # host side
        for rel, exp, ch in sorted(plan.h_delete, key=lambda it: -it[0].count("/")):
            try:
                self.host.delete(rel, exp)
            except (OSError, PathRefused, Changed) as exc:
                self._failed(rel, "host", wire.err_result(exc))
                continue
            self._drop(rel)
            if ch is not None:
                rep.pulled.append(ch)
        if (plan.h_mkdir or plan.h_get) and self.host is None:
            try:
                self.host = Zone(self.host_root, create=True)
            except OSError as exc:
                raise SyncError(f"cannot create {self.host_root}: {exc.strerror}")
        for rel, co, ch, cf in sorted(plan.h_mkdir, key=lambda it: it[0].count("/")):
            try:
                st = self.host.mkdir(rel, co.mode)
            except (OSError, PathRefused) as exc:
                self._failed(rel, "host", ["err", wire._msg(exc)])
                continue
            self._record(
                rel, Entry("d", None, 0, st.st_mtime_ns, st.st_mode & 0o7777, 0, co.mtime, co.mode)
            )
            rep.pulled.append(ch)
        if plan.h_get:
            self._pull_files(plan.h_get)

    def _answers(self, reply) -> dict:
        res = reply.get("results")
        if not isinstance(res, dict):
            raise self.session._lost("bad reply: no results")
        return res

    def _answer(self, res, rel, ints=()):
        """The agent's answer for ``rel``, checked (it is trusted for nothing): ``["ok", entry]``
        with ints at the positions ``ints`` of ``entry``, or ``["err", why, changed]``."""
        r = res.get(rel)
        if r is None:
            return ["err", "no answer", False]
        if type(r) is list and len(r) >= 2:
            if r[0] == "ok":
                e = r[1]
                if not ints or (
                    type(e) is list and all(i < len(e) and type(e[i]) is int for i in ints)
                ):
                    return r
            elif r[0] == "err":
                return ["err", str(r[1]), len(r) > 2 and r[2] is True]
        raise self.session._lost(f"bad reply for {rel!r}")

    def _failed(self, rel, side, r):
        changed = len(r) > 2 and r[2]
        reason = f"{r[1]} (will sync next time)" if changed else str(r[1])
        self._problem(rel, side, reason)

    def _push_files(self, items):
        done = {"files": 0, "bytes": 0}
        total_bytes = sum(it[1].size for it in items)
        for batch in _batches(items, lambda it: it[1].size):
            self._put_batch(batch, done, len(items), total_bytes)

    def _ticker(self, phase, done, nfiles, nbytes):
        """A byte counter for one transfer that reports progress at most ten times a second."""
        last = [0.0]

        def tick(n):
            done["bytes"] += n
            now = time.monotonic()
            if now - last[0] > 0.1:
                last[0] = now
                self._progress(
                    phase,
                    files_done=done["files"],
                    files_total=nfiles,
                    bytes_done=done["bytes"],
                    bytes_total=nbytes,
                )

        return tick

    def _put_batch(self, batch, done, nfiles, nbytes):
        rep = self.report
        s = self.session
        s.send(
            {
                "op": "put",
                "files": {
                    rel: [ho.mode & MODE_MASK, ho.mtime, exp if exp is not None else None]
                    for rel, ho, exp, _ in batch
                },
            }
        )
        sent = {}
        tick = self._ticker("push", done, nfiles, nbytes)

        w = ChunkWriter(s.out)
        try:
            for rel, ho, exp, ch in batch:
                try:
                    fd, st = self.host.open_read(rel)
                except (OSError, PathRefused) as exc:
                    self._problem(rel, "host", wire._msg(exc))
                    continue
                try:
                    r = _HashingReader(fd, st.st_size)
                    wire.tar_file(
                        w, rel, st.st_size, r, st.st_mode, st.st_mtime_ns // 1_000_000_000, tick
                    )
                    sent[rel] = r.h.hexdigest()
                finally:
                    os.close(fd)
                done["files"] += 1
            wire.tar_end(w)
            w.close()
        except (BrokenPipeError, ConnectionError) as exc:
            raise s._lost(f"write failed: {exc}")
        res = self._answers(s.reply())
        for rel, ho, exp, ch in batch:
            if rel not in sent:
                continue
            r = self._answer(res, rel, (2, 3, 4))
            if r[0] == "ok":
                e = r[1]
                self._record(
                    rel, Entry("f", sent[rel], ho.size, ho.mtime, ho.mode, e[2], e[3], e[4])
                )
                rep.pushed.append(ch)
                rep.bytes_pushed += ho.size
            else:
                self._failed(rel, "studio", r)
        self._progress(
            "push",
            files_done=done["files"],
            files_total=nfiles,
            bytes_done=done["bytes"],
            bytes_total=nbytes,
        )

    def _pull_files(self, items):
        done = {"files": 0, "bytes": 0}
        total_bytes = sum(it[2].size for it in items)
        for batch in _batches(items, lambda it: it[2].size):
            self._get_batch(batch, done, len(items), total_bytes)

    def _pulled(self, item, size, st, sha, done):
        """Record a file written on the host from the studio's version (``size`` bytes)."""
        rep = self.report
        done["files"] += 1
        rel, dest, co, exp, ch, cf = item
        if cf is not None:  # the studio's version kept beside the host's
            rep.conflicts.append(cf)
            self._record(rel, Entry("f", sha, -1, -1, -1, co.size, co.mtime, co.mode))
        else:
            self._record(
                rel,
                Entry(
                    "f",
                    sha,
                    st.st_size,
                    st.st_mtime_ns,
                    st.st_mode & 0o7777,
                    co.size,
                    co.mtime,
                    co.mode,
                ),
            )
            rep.pulled.append(ch)
        rep.bytes_pulled += size

    def _get_batch(self, batch, done, nfiles, nbytes):
        s = self.session
        want = {it[0]: it for it in batch}
        s.send({"op": "get", "paths": list(want)})
        got = set()
        tick = self._ticker("pull", done, nfiles, nbytes)

        reader = ChunkReader(s.inp)
        # small files go to writer threads when there are enough of them (as in the agent's put)
        pool = wire._Writers() if len(want) >= wire.PUT_THREADS_MIN else None
        done_in = []  # (name, size, what write_at returned or raised; None: ask the pool), stream order
        try:
            for m in wire.tar_members(reader):
                # trust nothing: only the regular files we asked for (tar_members refuses
                # every other type), each once, written through the confined Zone
                if m.name not in want or m.name in got:
                    raise ProtocolError(f"unexpected entry {m.name!r} in the studio's stream")
                got.add(m.name)
                rel, dest, co, exp, ch, cf = want[m.name]
                try:
                    if pool is not None and m.size <= wire.SMALL:
                        parts = wire.check_rel(dest)
                        data = wire.read_exact(m, m.size)
                        dfd = os.dup(
                            self.host.dir_fd(parts[:-1], create=True)
                        )  # the worker closes it
                        pool.submit(
                            m.name,
                            dfd,
                            parts[-1],
                            dest,
                            data,
                            m.mode & MODE_MASK,
                            co.mtime,
                            exp,
                            True,
                        )
                        done_in.append((m.name, m.size, None))
                        tick(m.size)
                        continue
                    r = self.host.write(
                        dest, m, m.size, m.mode & MODE_MASK, co.mtime, exp, progress=tick
                    )
                except (OSError, PathRefused, Changed) as exc:
                    r = exc
                done_in.append((m.name, m.size, r))
            reader.drain()  # the end of the stream
        except (ProtocolError, EOFError) as exc:
            raise s._lost(str(exc))
        finally:
            if pool is not None:
                pool.close()  # every write handed out is finished (or failed)
        for name, size, r in done_in:  # recorded in the stream's order, pooled or not
            if r is None:
                r = pool.results[name]
            if isinstance(r, (OSError, PathRefused, Changed)):
                self._failed(want[name][1], "host", wire.err_result(r))
            elif isinstance(r, BaseException):
                raise r
            else:
                self._pulled(want[name], size, *r, done)
        res = self._answers(s.reply())
        for rel in want:
            if rel not in got:
                r = self._answer(res, rel)
                self._failed(rel, "studio", r if r[0] == "err" else ["err", "not sent"])
        self._progress(
            "pull",
            files_done=done["files"],
            files_total=nfiles,
            bytes_done=done["bytes"],
            bytes_total=nbytes,
        )


# --------------------------------------------------------------------------- API


def sync_zone(
    transport: Transport,
    *,
    studio: str,
    zone: ZoneSpec,
    workspace: str | os.PathLike,
    mode: Mode = "both",
    baseline: Baseline,
    allow_mass_delete: bool = False,
    progress: Progress | None = None,
    python: str = "python3",
    agent: Session | None = None,
    done_file: str | None = None,
) -> SyncReport:
    """Sync one zone between ``workspace/zone.host`` and ``zone.container`` in the studio.

    ``mode``: ``both``, ``push`` (host -> studio) or ``pull`` (studio -> host), further
    limited by the zone's direction. Returns what moved; ``report.exit_code`` is 1 when there
    were conflicts or paths that could not be synced. Raises :class:`SyncError` (a
    BlockcError) when the sync cannot run, :class:`MassDeletionRefused` when it would delete
    most of a zone (nothing is changed then). ``agent``: one from :func:`start_agent`
    (default: started here); it is closed when the sync ends. ``done_file``: an absolute path
    in the studio created (empty) once the sync went through without errors, in the same exec.
    """
    handed = False
    try:
        with _zone_lock(baseline, studio, zone.name):
            sync = _Sync(
                transport,
                studio,
                zone,
                workspace,
                mode,
                baseline,
                allow_mass_delete,
                progress,
                python,
                dry_run=False,
                session=agent,
                done_file=done_file,
            )
            handed = True  # run() closes it
            return sync.run()
    finally:
        if agent is not None and not handed:
            agent.close()


def pending_changes(
    transport: Transport,
    *,
    studio: str,
    zone: ZoneSpec,
    workspace: str | os.PathLike,
    baseline: Baseline,
    python: str = "python3",
    agent: Session | None = None,
) -> SyncReport:
    """What a two-way sync of the zone would do now, changing nothing on either side.

    ``report.unsynced_in_studio`` says whether removing the studio would lose data.
    """
    try:
        sync = _Sync(
            transport,
            studio,
            zone,
            workspace,
            "both",
            baseline,
            False,
            None,
            python,
            dry_run=True,
            session=agent,
        )
    except BaseException:
        if agent is not None:
            agent.close()
        raise
    return sync.run()


def sync_zones(
    transport: Transport,
    *,
    studio: str,
    zones,
    workspace,
    mode: Mode = "both",
    baseline: Baseline,
    allow_mass_delete: bool = False,
    progress: Progress | None = None,
    python: str = "python3",
    agent: Session | None = None,
    done_file: str | None = None,
    on_report: Callable[[SyncReport], None] | None = None,
) -> list[SyncReport]:
    """Every zone in turn; the first zone that cannot sync raises (zones synced before it
    stay synced). The next zone's agent starts while a zone syncs.

    ``agent``: the first zone's, from :func:`start_agent` (default: started here); every agent
    is closed when the sync ends. ``done_file``: created by the last zone's agent once every
    zone synced without errors (see :func:`sync_zone`). ``on_report``: called with each
    zone's report as soon as the zone is done."""
    zones = list(zones)
    reports: list[SyncReport] = []
    nxt = agent if agent is not None else (start_agent(transport, python) if zones else None)
    try:
        for i, z in enumerate(zones):
            last = i + 1 == len(zones)
            agent, nxt = nxt, (None if last else start_agent(transport, python))
            clean = not any(r.errors for r in reports)
            report = sync_zone(
                transport,
                studio=studio,
                zone=z,
                workspace=workspace,
                mode=mode,
                baseline=baseline,
                allow_mass_delete=allow_mass_delete,
                progress=progress,
                python=python,
                agent=agent,
                done_file=done_file if last and clean else None,
            )
            reports.append(report)
            if on_report is not None:
                on_report(report)
    finally:
        if nxt is not None:
            nxt.close()
    return reports
