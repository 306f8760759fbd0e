"""The sync engine: a three-way diff (host, baseline, studio) and a careful apply.

One :func:`sync_zone` call syncs one zone over one agent session (one ``exec``):

1. ``hello``: the studio zone's identity (its marker file). A missing or different identity
   means the studio side is new or was reset: the baseline is set aside, so nothing is ever
   deleted because the studio came back empty.
2. ``scan``: the host sends the baseline's studio-side stats; the agent answers with what
   differs (hashing only files whose size is unchanged but whose stat is not). Meanwhile the
   host walks its own side. Paths reported deleted were checked one by one.
3. Decide per path (``decide.py``, the table of docs/sync.md) and plan the operations;
   refuse mass deletions.
4. Apply: studio deletions, directories, files (a tar stream in), then host deletions,
   directories, files (a tar stream out). Every file is written whole before it takes its
   name (``agent.write_at``), checked against what was scanned. The baseline records only what was
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
from collections.abc import Callable, Iterator, Mapping
from typing import Literal, NamedTuple

from ..types import Zone as ZoneSpec
from . import agent as wire
from . import decide as rules
from .agent import MODE_MASK, Changed, ChunkReader, ChunkWriter, PathRefused, ProtocolError, Zone
from .baseline import Baseline, Entry
from .decide import Seen
from .excludes import Excludes
from .limits import ENTRY_COST, Limits, host_room, size_text
from .report import (
    Change,
    Conflict,
    MassDeletionRefused,
    Problem,
    SyncError,
    SyncProgress,
    SyncReport,
    quoted,
    shown,
)
from .session import Session, start_agent
from .transport import Transport

Mode = Literal["both", "push", "pull"]
Progress = Callable[[SyncProgress], None]

MASS_DELETE_MIN = 10  # more than this many files ...
MASS_DELETE_SHARE = 0.5  # ... and more than this share of the zone's files: refused
MASS_NAMED = 20  # files a refused mass deletion names (the first, by name)
BATCH_FILES = 2000  # files per put/get request (the baseline is recorded after each)
BATCH_BYTES = 256 << 20
RECORD_EVERY = 2.0  # seconds between baseline commits while pulling
_HEX64 = re.compile(r"[0-9a-f]{64}")
# what a studio may say of an entry (anything else is a protocol error: never an overflow in
# os.utime or the baseline): a size and an mtime (ns) fit an int64, a mode an st_mode
INT64 = 1 << 63
MODE_MAX = 0o177777
_RANGES = {  # by position in an agent's entry: [type, hash, size, mtime_ns, mode]
    2: (0, INT64 - 1),
    3: (-INT64, INT64 - 1),
    4: (0, MODE_MAX),
}


# --- what a sync will do: the operations of its plan ------------------------------------------


class Delete(NamedTuple):
    path: str
    expect: list | None  # what the path must still be (type, size, mtime) when deleted
    change: Change | None  # reported when done (None: it only makes room for another type)


class MakeDir(NamedTuple):
    path: str
    source: Seen  # the directory on the other side
    change: Change


class Put(NamedTuple):
    """A host file written into the studio."""

    path: str
    host: Seen
    expect: list | None  # what the studio's path must still be (None: absent)
    change: Change


class Get(NamedTuple):
    """A studio file written on the host, at ``dest`` (``path``, or a conflict copy's name)."""

    path: str
    dest: str
    studio: Seen
    expect: list | None  # what the host's path must still be (None: absent)
    change: Change | None
    conflict: Conflict | None  # the conflict this copy keeps the studio's version of


class Plan:
    """The operations of one sync, in the order they are applied."""

    def __init__(self) -> None:
        self.forget: list[str] = []  # paths the baseline drops
        self.record: list[tuple[str, Entry]] = []  # paths the baseline catches up on
        self.studio_deletes: list[Delete] = []
        self.studio_mkdirs: list[MakeDir] = []
        self.puts: list[Put] = []
        self.host_deletes: list[Delete] = []
        self.host_mkdirs: list[MakeDir] = []
        self.gets: list[Get] = []


def _change(rel: str, kind: str, now: Seen | None, base: Entry | None) -> Change:
    """The change a push or pull makes: the path as it is now on the side it comes from (or,
    for a deletion, as the baseline knew it)."""
    source = now if now is not None else base
    assert source is not None  # a path that is nowhere is no change
    return Change(rel, kind, source.type, now.size if now is not None else 0)


def _parents(rel: str) -> Iterator[str]:
    """The directories above ``rel``, outermost first: a, a/b for a/b/c."""
    at = rel.find("/")
    while at != -1:
        yield rel[:at]
        at = rel.find("/", at + 1)


def _deepest_first(op: Delete) -> int:
    return -op.path.count("/")


def _shallowest_first(op: MakeDir) -> int:
    return op.path.count("/")


def _expect(seen: Seen | None) -> list | None:
    return [seen.type, seen.size, seen.mtime] if seen is not None else None


def _seen_on_host(walked: tuple[int, int, int]) -> Seen:
    """From a host walk's (st_mode, size, mtime_ns) of a file or directory."""
    mode, size, mtime = walked
    if mode & wire.S_IFMT == wire.S_IFREG:
        return Seen("f", size, mtime, mode & 0o7777)
    return Seen("d", 0, mtime, mode & 0o7777)


def _agent_base(base: dict[str, Entry]) -> dict:
    """The baseline's studio side as the agent's scan takes it (see ``agent.base_entry``)."""
    return {p: wire.base_entry(e.type, e.c_size, e.c_mtime, e.c_mode) for p, e in base.items()}


class _HashingReader(wire.ExactReader):
    """Exactly ``size`` bytes of an fd (zero-padded if it shrank), hashed on the way (its
    holes too, as the zeros they read as)."""

    def __init__(self, fd, size, sparse=False):
        super().__init__(fd, size, sparse)
        self.h = wire.new_sha256()

    def read(self, n=-1):
        data = super().read(n)
        self.h.update(data)
        return data

    def span(self, limit):
        hole, n = super().span(limit)
        if hole:
            for at in range(0, n, wire.IO):
                self.h.update(wire.ZERO_IO if n - at >= wire.IO else bytes(n - at))
        return hole, n


def _batches(items: list, size_of: Callable) -> Iterator[list]:
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
    number = f"-{n}" if n > 1 else ""
    name = f"{stem}.conflict-{studio}-{stamp}{number}" + (f".{ext}" if ext else "")
    return f"{d}/{name}" if d else name


def _conflict_re(rel: str, studio: str) -> tuple[str, re.Pattern]:
    """The directory of ``rel``'s conflict copies, and a regex of their names."""
    d, _, base = conflict_name(rel, studio, 0).rpartition("/")
    head, _, tail = base.partition(f".conflict-{studio}-19700101-000000")
    rx = re.escape(f"{head}.conflict-{studio}-") + r"\d{8}-\d{6}(?:-\d+)?" + re.escape(tail)
    return d, re.compile(rx + r"\Z")


def zone_lock_name(studio: str, zone: str) -> str:
    """The lock file of one zone's syncs: '.' is in no studio or zone name (DNS labels), so
    no two (studio, zone) pairs share one, and a studio's are ``sync-<studio>.*.lock``."""
    return f"sync-{studio}.{zone}.lock"


@contextlib.contextmanager
def _zone_lock(baseline: Baseline, studio: str, zone: str):
    d = os.path.join(os.path.dirname(os.path.realpath(baseline.db_path)), "locks")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, zone_lock_name(studio, zone))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncError(f"another sync of studio {studio!r} zone {zone!r} is running") from None
        yield
    finally:
        os.close(fd)


def _under(rel: str, unobserved: set[str]) -> bool:
    """Whether ``rel`` is, or lies under, a path that was not observed ("": the zone root)."""
    if not unobserved:
        return False
    if "" in unobserved or rel in unobserved:
        return True
    while "/" in rel:
        rel = rel.rpartition("/")[0]
        if rel in unobserved:
            return True
    return False


class _Sync:
    def __init__(
        self,
        transport: Transport,
        studio: str,
        zone: ZoneSpec,
        workspace,
        mode: Mode,
        baseline: Baseline,
        allow_mass_delete: bool,
        progress: Progress | None,
        python: str,
        dry_run: bool,
        session: Session | None = None,
        done_file: str | None = None,
        limits: Limits | None = None,
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
        self.done_file = done_file
        self.limits = limits if limits is not None else Limits()
        self._budget = self.limits.max_total  # what this sync may still pull (None: no limit)
        self._entries = 0  # the entries this sync's plan writes on the host (max_entries)
        self._new_dirs: set[str] = set()  # directories the plan creates on the host (counted)
        self._refused: set[str] = set()  # directories over a limit: nothing under them either
        self._implied: dict[str, int] = {}  # path: directories its write creates in passing
        self._on_host: Mapping = {}  # the host walk's paths
        # what this sync may do: the mode asks, the zone's direction allows
        self.may_push = zone.direction in ("both", "in") and mode in ("both", "push")
        self.may_pull = zone.direction in ("both", "out") and mode in ("both", "pull")
        self.may_keep = zone.direction in ("both", "out")  # studio versions kept on the host
        self.report = SyncReport(studio, zone.name, mode, zone.direction, dry_run=dry_run)
        self.excludes = Excludes(zone.exclude)
        self.host: Zone | None = None
        self.host_root = ""
        self.host_missing = False
        self.given_session = session  # (or one is started when the sync runs)
        self.session: Session
        self.zone_id: str | None = None
        self._taken: set[str] = set()
        self._ups: list[tuple[str, Entry]] = []
        self._dels: list[str] = []
        self._last_flush = time.monotonic()

    # --------------------------------------------------------------- helpers
    @property
    def _host(self) -> Zone:
        """The host zone (open once a scan found it, or once a pull created it)."""
        assert self.host is not None
        return self.host

    def _progress(self, phase: str, **kw) -> None:
        if self.progress_cb:
            self.progress_cb(SyncProgress(self.spec.name, phase, **kw))

    def _problem(self, path: str, side: str, reason: str, refused: bool = False) -> None:
        self.report.problems.append(Problem(path, side, reason, refused))

    def _record(self, rel: str, entry: Entry) -> None:
        self._ups.append((rel, entry))
        self._maybe_flush()

    def _drop(self, rel: str) -> None:
        if any(p == rel for p, _ in self._ups):
            self._flush()
        self._dels.append(rel)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (
            len(self._ups) + len(self._dels) >= 1000
            or time.monotonic() - self._last_flush > RECORD_EVERY
        ):
            self._flush()

    def _flush(self) -> None:
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
        # first: the exec takes a while to start; the host side is read meanwhile
        self.session = self.given_session or Session(self.transport, self.python)
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
        report = self.report
        report.seconds = time.monotonic() - t0
        if not self.dry_run:
            clean = report.ok and not report.pending_pull and not report.pending_push
            summary = (
                f"{len(report.pushed)} pushed, {len(report.pulled)} pulled, "
                f"{len(report.conflicts)} conflicts"
            )
            self.baseline.finish(
                self.studio, self.spec.name, self.zone_id, self.mode, clean=clean, summary=summary
            )
        return report

    def _open_host(self) -> None:
        ws = self.workspace
        if not os.path.isdir(ws):
            raise SyncError(f"workspace {ws} is not a directory")
        try:  # "." is the workspace itself
            parts = [] if self.spec.host == "." else wire.check_rel(self.spec.host)
        except PathRefused as exc:
            raise SyncError(f"zone {self.spec.name}: host path {self.spec.host!r}: {exc}") from None
        self.host_root = os.path.join(ws, *parts)
        workspace = Zone(ws)
        try:
            workspace.dir_fd(parts, create=self.may_pull and not self.dry_run)
        except FileNotFoundError:
            self.host_missing = True
            return
        except PathRefused as exc:
            raise SyncError(f"zone {self.spec.name}: {self.host_root}: {exc}") from None
        finally:
            workspace.close()
        self.host = Zone(self.host_root)

    def _scan_host(self, base: dict[str, Entry]):
        """The host side now: ({path: (st_mode, size, mtime_ns)} of files and directories,
        unobserved paths, paths that differ from the baseline's host side, how many baseline
        paths were met)."""
        host: dict[str, tuple[int, int, int]] = {}
        unobserved: set[str] = set()
        changed: set[str] = set()
        if self.host is None:
            return host, unobserved, changed, 0

        def on_error(rel, exc):
            unobserved.add(rel.rstrip("/"))
            self._problem(rel.rstrip("/") or ".", "host", exc.strerror or str(exc))

        S_IFMT, S_IFREG, S_IFDIR = wire.S_IFMT, wire.S_IFREG, wire.S_IFDIR
        in_base = base.get
        met = 0
        prune = self.excludes.prune if self.excludes.spec is not None else None
        for rel, st in wire.walk(self.host_root, prune, on_error):  # once per entry: kept lean
            m = st.st_mode
            t = m & S_IFMT
            if t != S_IFREG and t != S_IFDIR:
                unobserved.add(rel)
                why = "symlink: not synced" if stat.S_ISLNK(m) else "special file: not synced"
                self._problem(rel, "host", why, refused=True)
                continue
            host[rel] = (m, st.st_size, st.st_mtime_ns)
            b = in_base(rel)
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
        return host, unobserved, changed, met

    def _host_hash(self, rel: str) -> str | None:
        """The content hash of a host file (None: it cannot be read)."""
        try:
            fd, _ = self._host.open_read(rel)
        except (OSError, PathRefused):
            return None
        try:
            return wire.hash_fd(fd)
        finally:
            os.close(fd)

    def _sync(self) -> None:
        rep = self.report
        s = self.session
        self._progress("scan")
        state = self.baseline.zone_state(self.studio, self.spec.name)
        base = {} if self.host_missing else self.baseline.load(self.studio, self.spec.name)
        expected = state.container_id if (state is not None and base) else None

        # hello, the scan request and the baseline go out from a thread (the exec may still
        # be starting) while this thread walks the host side
        def send_requests():
            try:
                wire.send(
                    s.out,
                    {
                        "op": "hello",
                        "root": self.spec.container,
                        "create": self.may_push and not self.dry_run,
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
            except Exception:  # the agent is gone: its missing reply says so, below
                pass

        sender = threading.Thread(target=send_requests, daemon=True)
        sender.start()
        host, h_unobserved, h_changed, h_met = self._scan_host(base)
        rep.host_entries = len(host)
        sender.join()
        hello = s.reply()
        if hello.get("protocol") != wire.PROTOCOL:
            raise SyncError(
                f"sync agent protocol mismatch ({shown(hello.get('protocol'))} != {wire.PROTOCOL})"
            )
        self.zone_id = hello.get("zone_id")
        if self.zone_id is not None and not (
            type(self.zone_id) is str and len(self.zone_id) <= 200
        ):
            raise s.lost("bad reply: zone id")
        exists = bool(hello.get("exists"))
        known = exists and self.zone_id is not None and expected == self.zone_id
        rep.studio_missing = not exists
        if not known:
            rep.studio_reset = bool(base)
            base = {}
            if not self.dry_run and self.zone_id is not None:
                self.baseline.reset_zone(self.studio, self.spec.name, self.zone_id)
        studio, c_deleted, c_unobserved = self._read_scan()
        if not known:
            h_changed, h_met = set(host), 0
        plan = self._decide(
            base, host, h_unobserved, h_changed, h_met, studio, c_deleted, c_unobserved
        )
        self._check_mass(plan, base, host, studio, c_deleted, c_unobserved)
        if self.dry_run:
            self._report_plan(plan)
        else:
            self._apply(plan)

    def _read_scan(self) -> tuple[dict[str, Seen], set[str], set[str]]:
        """The agent's scan: what differs from the baseline in the studio, the paths it found
        deleted, and those it could not observe."""
        s = self.session
        studio: dict[str, Seen] = {}
        deleted: set[str] = set()
        unobserved: set[str] = set()
        try:
            for item in ChunkReader(s.inp).lines():
                tag = item[0]
                if tag == "-":
                    deleted.add(self._rel(item[1]))
                elif tag == "!":
                    rel = str(item[1]).rstrip("/")
                    unobserved.add(rel)
                    self._problem(rel or ".", "studio", str(item[2]))
                else:
                    rel = self._rel(tag)
                    t, size, mtime, mode, h = item[1:6]
                    if (
                        t not in ("f", "d", "l", "o")
                        or type(size) is not int
                        or type(mtime) is not int
                        or type(mode) is not int
                        or not 0 <= size < INT64
                        or not -INT64 <= mtime < INT64
                        or not 0 <= mode <= MODE_MAX
                    ):
                        raise ProtocolError(f"bad entry for {rel!r}")
                    if h is not None and not (isinstance(h, str) and _HEX64.fullmatch(h)):
                        raise ProtocolError(f"bad hash for {rel!r}")
                    if t in ("l", "o"):
                        unobserved.add(rel)
                        why = "symlink: not synced" if t == "l" else "special file: not synced"
                        self._problem(rel, "studio", why, refused=True)
                    else:
                        studio[rel] = Seen(t, size, mtime, mode, h)
                if len(studio) > 5_000_000:
                    raise ProtocolError("too many entries")
        except (ProtocolError, ValueError, TypeError, IndexError) as exc:
            raise s.lost(f"bad scan: {exc}") from None
        entries = s.reply().get("entries") or 0
        if type(entries) is not int:
            raise s.lost("bad reply: entries")
        self.report.studio_entries = entries
        return studio, deleted, unobserved

    def _rel(self, rel) -> str:
        if not isinstance(rel, str):
            raise ProtocolError("bad path")
        try:
            wire.check_rel(rel)
        except PathRefused as exc:
            raise ProtocolError(str(exc)) from None
        return rel

    # ---------------------------------------------------------------- decide
    def _decide(
        self, base, host, h_unobserved, h_changed, h_met, studio, c_deleted, c_unobserved
    ) -> Plan:
        """The plan: a decision for every path that may need one (``rules.decide``), and the
        operations each decision takes, in the order of the paths.

        ``host``: {path: (st_mode, size, mtime_ns)}; ``h_changed``: the host paths that differ
        from the baseline; ``h_met``: how many baseline paths the host walk met; ``studio``:
        the studio paths that differ from the baseline."""
        plan = Plan()
        self._on_host = host
        if c_unobserved or h_unobserved or self.excludes.spec is not None:
            paths = set(base) | set(host) | set(studio) | c_deleted
        else:  # only what differs from the baseline on either side needs a decision
            paths = set(h_changed)
            if h_met < len(base):  # some baseline paths are gone from the host
                paths.update(rel for rel in base if rel not in host)
            paths.update(studio)
            paths.update(c_deleted)
        decided: list[tuple] = []  # (path, base, host, studio, decision)
        waiting: list[tuple] = []  # (path, base, host, studio): decided once the hashes are in
        for rel in sorted(paths):
            b = base.get(rel)
            walked = host.get(rel)
            ho = _seen_on_host(walked) if walked is not None else None
            observed = True
            if rel in studio:
                co = studio[rel]
            elif rel in c_deleted:
                co = None
            elif _under(rel, c_unobserved):
                co, observed = None, False
            elif b is not None:  # not reported: as the baseline says
                co = Seen(b.type, b.c_size if b.type == "f" else 0, b.c_mtime, b.c_mode)
            else:
                co = None
            is_dir = any(x is not None and x.type == "d" for x in (ho, co, b))
            if self.excludes(rel, is_dir):
                if b is not None:
                    plan.forget.append(rel)
                continue
            if not observed or (ho is None and _under(rel, h_unobserved)):
                continue  # not observed on one side: nothing is decided about it
            self._settle(rel, b, ho, co, decided, waiting)
        if waiting:
            asked = self.session.call({"op": "hash", "paths": [w[0] for w in waiting]})
            hashes = asked.get("hashes")
            if not isinstance(hashes, dict):
                raise self.session.lost("bad reply: no hashes")
            for rel, b, ho, co in waiting:
                h = hashes.get(rel)
                if h is not None and not (isinstance(h, str) and _HEX64.fullmatch(h)):
                    raise SyncError("studio side: bad hash")
                if h is None:
                    if rules.change(b, co, "studio") == rules.NEEDS_HASH:  # did it change?
                        self._problem(rel, "studio", "cannot read")
                        continue
                    h = rules.UNREADABLE  # to compare two new versions: they differ
                self._settle(rel, b, ho, co._replace(hash=h), decided, None)
            decided.sort(key=lambda d: d[0])
        for rel, b, ho, co, decision in decided:
            self._plan(plan, rel, b, ho, co, decision)
        return plan

    def _settle(
        self,
        rel: str,
        b: Entry | None,
        ho: Seen | None,
        co: Seen | None,
        decided: list,
        waiting: list | None,
    ) -> None:
        """Decide ``rel``. A host hash the decision needs is read now; a studio hash is asked
        of the agent together with the others (``waiting``: None once asked)."""
        while True:
            d = rules.decide(
                b, ho, co, may_push=self.may_push, may_pull=self.may_pull, may_keep=self.may_keep
            )
            if type(d) is not rules.NeedHash:
                if type(d) is not rules.Nothing:
                    decided.append((rel, b, ho, co, d))
                return
            if d.side == "host":
                assert ho is not None  # asked of a file that is there
                h = self._host_hash(rel)
                if h is None:
                    if rules.change(b, ho, "host") == rules.NEEDS_HASH:  # did it change?
                        self._problem(rel, "host", "cannot read")
                        return
                    h = rules.UNREADABLE  # to compare two new versions: they differ
                ho = ho._replace(hash=h)
            elif waiting is None:  # asked already, and the agent could not read it
                self._problem(rel, "studio", "cannot read")
                return
            else:
                waiting.append((rel, b, ho, co))
                return

    def _plan(
        self,
        plan: Plan,
        rel: str,
        b: Entry | None,
        ho: Seen | None,
        co: Seen | None,
        d: rules.Decision,
    ) -> None:
        """The operations a decision takes (a conflict is reported here)."""
        match d:
            case rules.Record(entry):
                plan.record.append((rel, entry))
            case rules.Forget():
                plan.forget.append(rel)
            case rules.Push(kind):
                self._plan_push(plan, rel, ho, co, _change(rel, kind, ho, b))
            case rules.Pull(kind):
                self._plan_pull(plan, rel, ho, co, _change(rel, kind, co, b))
            case rules.Pending("push", kind):
                self.report.pending_push.append(_change(rel, kind, ho, b))
            case rules.Pending(_, kind):
                self.report.pending_pull.append(_change(rel, kind, co, b))
            case rules.Conflict(reason, keep_copy=True):
                assert co is not None  # a copy of the studio's file
                self._keep_copy(plan, rel, co, reason)
            case rules.Conflict(reason, then, forget=forget):
                self.report.conflicts.append(Conflict(rel, reason))
                if forget:
                    plan.forget.append(rel)
                if isinstance(then, rules.Push):  # the host's version restored in the studio
                    self._plan_push(plan, rel, ho, None, _change(rel, "added", ho, b))
                elif isinstance(then, rules.Pull):  # the studio's restored on the host
                    self._plan_pull(plan, rel, None, co, _change(rel, "added", co, b))

    def _plan_push(
        self, plan: Plan, rel: str, ho: Seen | None, co: Seen | None, change: Change
    ) -> None:
        """The studio's path becomes the host's (``ho``; None: deleted)."""
        now = _expect(co)
        if ho is None:
            plan.studio_deletes.append(Delete(rel, now, change))
        elif ho.type == "d":
            if co is not None and co.type != "d":
                plan.studio_deletes.append(Delete(rel, now, None))
            plan.studio_mkdirs.append(MakeDir(rel, ho, change))
        else:
            if co is not None and co.type == "d":
                plan.studio_deletes.append(Delete(rel, now, None))
                now = None
            plan.puts.append(Put(rel, ho, now, change))

    def _plan_pull(
        self, plan: Plan, rel: str, ho: Seen | None, co: Seen | None, change: Change
    ) -> None:
        """The host's path becomes the studio's (``co``; None: deleted)."""
        now = _expect(ho)
        if co is None:
            plan.host_deletes.append(Delete(rel, now, change))
        elif co.type == "d":
            if (ho is None or ho.type != "d") and not self._may_pull(rel, 0, is_dir=True):
                return  # (nor is a file in its way deleted)
            if ho is not None and ho.type != "d":
                plan.host_deletes.append(Delete(rel, now, None))
            plan.host_mkdirs.append(MakeDir(rel, co, change))
        else:
            if not self._may_pull(rel, co.size):
                return  # (nor is a directory in its way deleted)
            if ho is not None and ho.type == "d":
                plan.host_deletes.append(Delete(rel, now, None))
                now = None
            plan.gets.append(Get(rel, rel, co, now, change, None))

    def _keep_copy(self, plan: Plan, rel: str, co: Seen, reason: str) -> None:
        """Changed on both sides: the host keeps its version in place, the studio's comes
        beside it under a conflict name, once (a copy an interrupted sync kept is reused)."""
        copy = self._existing_copy(rel, co)
        if copy is not None:
            self.report.conflicts.append(Conflict(rel, reason, copy))
            plan.record.append((rel, Entry("f", co.hash, -1, -1, -1, co.size, co.mtime, co.mode)))
            return
        if not self._may_pull(rel, co.size):
            self.report.conflicts.append(Conflict(rel, reason))  # the studio's version not kept
            return
        dest = self._free_name(rel)
        plan.gets.append(Get(rel, dest, co, None, None, Conflict(rel, reason, dest)))

    def _may_pull(self, rel: str, size: int, is_dir: bool = False) -> bool:
        """Whether the zone's limits let this sync write the studio's ``rel`` on the host, a
        new directory (``is_dir``) or a file (``size``: as the studio's scan declared it,
        which is all its stream may bring); if not, it is reported and nothing on the host is
        touched for it. Every entry counts one against max_entries, and the directories its
        write would create in passing (not on the host, not created by the plan) count too;
        a directory or an empty file counts ENTRY_COST bytes against max_total. A dry run
        writes nothing: what the host lacks is reported as it is."""
        if self.dry_run:
            return True
        limits = self.limits
        refused = self._under_refused(rel)
        if refused is not None:
            self._refuse(rel, is_dir, f"in {refused}, not synced (a limit)")
            return False
        if not is_dir and limits.max_file is not None and size > limits.max_file:
            self._problem(
                rel,
                "studio",
                f"{size_text(size)}, over the zone's largest-file limit "
                f"({size_text(limits.max_file)}: limits.max_file of the zone in the template, "
                "or the site setting sync_max_file)",
            )
            return False
        on_host, new_dirs = self._on_host, self._new_dirs
        implied = [p for p in _parents(rel) if p not in new_dirs and p not in on_host]
        entries = 1 + len(implied)
        cost = (size if size and not is_dir else ENTRY_COST) + ENTRY_COST * len(implied)
        if limits.max_entries is not None and self._entries + entries > limits.max_entries:
            later = "" if entries > limits.max_entries else "; it comes with a next sync"
            with_dirs = f" ({entries} with its directories)" if implied else ""
            self._refuse(
                rel,
                is_dir,
                f"over the entries one sync creates of the zone{with_dirs} "
                f"({limits.max_entries} per sync, directories and files){later}",
            )
            return False
        if self._budget is not None:
            if cost > self._budget:
                assert limits.max_total is not None
                later = "" if cost > limits.max_total else "; it comes with a next sync"
                counted = ""
                if cost != size:
                    counted = (
                        f" (each directory, each empty file counts {size_text(ENTRY_COST)}"
                        + (f"; {len(implied)} directories created with it" if implied else "")
                        + ")"
                    )
                self._refuse(
                    rel,
                    is_dir,
                    f"{size_text(cost)}{counted}, over what one sync pulls of the zone "
                    f"({size_text(limits.max_total)} per sync: limits.max_total of the zone, "
                    f"or the site setting sync_max_total){later}",
                )
                return False
            self._budget -= cost
        self._entries += entries
        new_dirs.update(implied)
        if implied:
            self._implied[rel] = len(implied)
        if is_dir:
            new_dirs.add(rel)
        return True

    def _under_refused(self, rel: str) -> str | None:
        """The directory above ``rel`` that was not created for a limit (None: none)."""
        if self._refused:
            for p in _parents(rel):
                if p in self._refused:
                    return p
        return None

    def _refuse(self, rel: str, is_dir: bool, reason: str) -> None:
        self._problem(rel, "studio", reason)
        if is_dir:
            self._refused.add(rel)

    def _existing_copy(self, rel: str, co: Seen) -> str | None:
        d, rx = _conflict_re(rel, self.studio)
        try:
            names = os.listdir(os.path.join(self.host_root, d) if d else self.host_root)
        except OSError:
            return None
        for name in names:
            if rx.match(name):
                candidate = f"{d}/{name}" if d else name
                st = self._host.lstat(candidate)
                if (
                    st is not None
                    and stat.S_ISREG(st.st_mode)
                    and st.st_size == co.size
                    and self._host_hash(candidate) == co.hash
                ):
                    return candidate
        return None

    def _free_name(self, rel: str) -> str:
        now = time.time()
        n = 1
        while True:
            candidate = conflict_name(rel, self.studio, now, n)
            if candidate not in self._taken and (
                self.host is None or self._host.lstat(candidate) is None
            ):
                self._taken.add(candidate)
                return candidate
            n += 1

    def _check_mass(
        self,
        plan: Plan,
        base: dict[str, Entry],
        host: dict[str, tuple[int, int, int]],
        studio: dict[str, Seen],
        c_deleted: set[str],
        c_unobserved: set[str],
    ) -> None:
        """Refuse (raise; in a dry run: report) deletions of files on one side that are most
        of the zone (more than MASS_DELETE_MIN files and MASS_DELETE_SHARE of them), or that
        come from a side which holds no file (SPEC §7: nothing is deleted on one side because
        the other side is empty), whatever their number, unless allow_mass_delete."""
        if self.allow_mass_delete:
            return
        total = sum(1 for e in base.values() if e.type == "f")
        for side, deletes, where, other in (
            ("studio", plan.studio_deletes, "in the studio", "host"),
            ("host", plan.host_deletes, "on the host", "studio"),
        ):
            files = [op.path for op in deletes if op.change is not None and op.change.type == "f"]
            n = len(files)
            if not n:
                continue
            if n > MASS_DELETE_MIN and n > MASS_DELETE_SHARE * total:
                why = ""
            elif not self._holds_files(other, base, host, studio, c_deleted, c_unobserved):
                why = f"the {other} side holds no file"
            else:
                continue
            if self.dry_run:
                self._problem(
                    ".",
                    side,
                    f"would delete {n} of {total} files {where}"
                    + (f": {why}" if why else "")
                    + " (refused without allow_mass_delete)",
                )
                continue
            named = "".join(f"\n    {quoted(path)}" for path in sorted(files)[:MASS_NAMED])
            if n > MASS_NAMED:
                named += f"\n    ... and {n - MASS_NAMED} more"
            raise MassDeletionRefused(
                f"zone {self.spec.name}: "
                + (f"{why}, and " if why else "")
                + f"this sync would delete {n} of the zone's {total} files {where}; "
                "nothing was changed (if that is really wanted, sync again allowing mass "
                f"deletion: --allow-mass-delete). It would delete:{named}",
            )

    def _holds_files(
        self,
        side: str,
        base: dict[str, Entry],
        host: dict[str, tuple[int, int, int]],
        studio: dict[str, Seen],
        c_deleted: set[str],
        c_unobserved: set[str],
    ) -> bool:
        """Whether ``side`` holds a file the sync sees (blockc's marker, excluded files,
        directories, symlinks and what could not be read do not count: a zone emptied but for
        its directories, or but for a ``.ipynb_checkpoints/``, is empty here)."""
        if side == "host":  # (the host walk holds every entry that is not excluded)
            return any(m & wire.S_IFMT == wire.S_IFREG for m, _, _ in host.values())
        excluded = self.excludes
        if any(co.type == "f" and not excluded(rel) for rel, co in studio.items()):
            return True
        return any(  # in the baseline and not reported by the scan: there, unchanged
            b.type == "f"
            and rel not in studio
            and rel not in c_deleted
            and not _under(rel, c_unobserved)
            and not excluded(rel)
            for rel, b in base.items()
        )

    def _report_plan(self, plan: Plan) -> None:
        """A dry run: what the plan would move, reported as if done."""
        rep = self.report
        rep.pushed += [
            op.change
            for op in plan.studio_deletes + plan.studio_mkdirs + plan.puts
            if op.change is not None
        ]
        rep.pulled += [
            op.change
            for op in plan.host_deletes + plan.host_mkdirs + plan.gets
            if op.change is not None
        ]
        rep.conflicts += [op.conflict for op in plan.gets if op.conflict is not None]

    # ------------------------------------------------------------------ apply
    def _apply(self, plan: Plan) -> None:
        rep = self.report
        for rel in plan.forget:
            self._drop(rel)
        for rel, entry in plan.record:
            self._record(rel, entry)
        s = self.session
        # studio side: deletions (deepest first), directories (shallowest first), files
        if plan.studio_deletes:
            deletes = sorted(plan.studio_deletes, key=_deepest_first)
            items = [[delete.path, delete.expect] for delete in deletes]
            answers = self._answers(s.call({"op": "delete", "items": items}))
            for delete in deletes:
                r = self._answer(answers, delete.path)
                if r[0] == "ok":
                    self._drop(delete.path)
                    if delete.change is not None:
                        rep.pushed.append(delete.change)
                else:
                    self._failed(delete.path, "studio", r)
        if plan.studio_mkdirs:
            mkdirs = sorted(plan.studio_mkdirs, key=_shallowest_first)
            modes = [[mkdir.path, mkdir.source.mode & MODE_MASK] for mkdir in mkdirs]
            answers = self._answers(s.call({"op": "mkdir", "items": modes}))
            for mkdir in mkdirs:
                r = self._answer(answers, mkdir.path, (3, 4))
                if r[0] == "ok":
                    ho, e = mkdir.source, r[1]
                    entry = Entry("d", None, ho.size, ho.mtime, ho.mode, 0, e[3], e[4])
                    self._record(mkdir.path, entry)
                    rep.pushed.append(mkdir.change)
                else:
                    self._failed(mkdir.path, "studio", r)
        if plan.puts:
            self._push_files(plan.puts)
        # host side: the same, in the same order
        for delete in sorted(plan.host_deletes, key=_deepest_first):
            try:
                self._host.delete(delete.path, delete.expect)
            except (OSError, PathRefused, Changed) as exc:
                self._failed(delete.path, "host", wire.err_result(exc))
                continue
            self._drop(delete.path)
            if delete.change is not None:
                rep.pulled.append(delete.change)
        if (plan.host_mkdirs or plan.gets) and self.host is None:
            try:
                self.host = Zone(self.host_root, create=True)
            except OSError as exc:
                raise SyncError(f"cannot create {self.host_root}: {exc.strerror}") from None
        room = self._room() if plan.host_mkdirs else None
        for mkdir in sorted(plan.host_mkdirs, key=_shallowest_first):
            refused = self._under_refused(mkdir.path)
            if refused is not None:
                self._refuse(mkdir.path, True, f"in {refused}, not synced (a limit)")
                continue
            if room is not None and mkdir.path in self._new_dirs:
                n = 1 + self._implied.pop(mkdir.path, 0)
                if not self._fits(room, mkdir.path, n * ENTRY_COST, n):
                    self._refused.add(mkdir.path)
                    continue
            try:
                st = self._host.mkdir(mkdir.path, mkdir.source.mode)
            except (OSError, PathRefused) as exc:
                self._failed(mkdir.path, "host", ["err", wire.reason(exc)])
                continue
            co = mkdir.source
            entry = Entry("d", None, 0, st.st_mtime_ns, st.st_mode & 0o7777, 0, co.mtime, co.mode)
            self._record(mkdir.path, entry)
            rep.pulled.append(mkdir.change)
        if plan.gets:
            self._pull_files(plan.gets)

    def _answers(self, reply: dict) -> dict:
        res = reply.get("results")
        if not isinstance(res, dict):
            raise self.session.lost("bad reply: no results")
        return res

    def _answer(self, res: dict, rel: str, ints: tuple[int, ...] = ()) -> list:
        """The agent's answer for ``rel``, checked (it is trusted for nothing): ``["ok", entry]``
        with ints at the positions ``ints`` of ``entry``, or ``["err", why, changed]``."""
        r = res.get(rel)
        if r is None:
            return ["err", "no answer", False]
        if type(r) is list and len(r) >= 2:
            if r[0] == "ok":
                e = r[1]
                if not ints or (
                    type(e) is list
                    and all(
                        i < len(e) and type(e[i]) is int and _RANGES[i][0] <= e[i] <= _RANGES[i][1]
                        for i in ints
                    )
                ):
                    return r
            elif r[0] == "err":
                return ["err", str(r[1]), len(r) > 2 and r[2] is True]
        raise self.session.lost(f"bad reply for {rel!r}")

    def _failed(self, rel: str, side: str, r: list) -> None:
        changed = len(r) > 2 and r[2]
        self._problem(rel, side, f"{r[1]} (will sync next time)" if changed else str(r[1]))

    def _ticker(self, phase: str, done: dict, nfiles: int, nbytes: int) -> Callable[[int], None]:
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

    def _push_files(self, puts: list[Put]) -> None:
        done = {"files": 0, "bytes": 0}
        total_bytes = sum(op.host.size for op in puts)
        for batch in _batches(puts, lambda op: op.host.size):
            self._put_batch(batch, done, len(puts), total_bytes)

    def _put_batch(self, batch: list[Put], done: dict, nfiles: int, nbytes: int) -> None:
        rep = self.report
        s = self.session
        s.send(
            {
                "op": "put",
                "files": {
                    op.path: [op.host.mode & MODE_MASK, op.host.mtime, op.expect] for op in batch
                },
            }
        )
        sent = {}
        tick = self._ticker("push", done, nfiles, nbytes)
        w = ChunkWriter(s.out)
        try:
            for op in batch:
                try:
                    fd, st = self._host.open_read(op.path)
                except (OSError, PathRefused) as exc:
                    self._problem(op.path, "host", wire.reason(exc))
                    continue
                try:
                    reader = _HashingReader(fd, st.st_size, st.st_blocks * 512 < st.st_size)
                    wire.tar_file(
                        w,
                        op.path,
                        st.st_size,
                        reader,
                        st.st_mode,
                        st.st_mtime_ns // 1_000_000_000,
                        tick,
                    )
                    sent[op.path] = reader.h.hexdigest()
                finally:
                    os.close(fd)
                done["files"] += 1
            wire.tar_end(w)
            w.close()
        except (BrokenPipeError, ConnectionError) as exc:
            raise s.lost(f"write failed: {exc}") from None
        res = self._answers(s.reply())
        for op in batch:
            if op.path not in sent:
                continue
            r = self._answer(res, op.path, (2, 3, 4))
            if r[0] == "ok":
                ho, e = op.host, r[1]
                self._record(
                    op.path, Entry("f", sent[op.path], ho.size, ho.mtime, ho.mode, e[2], e[3], e[4])
                )
                rep.pushed.append(op.change)
                rep.bytes_pushed += ho.size
            else:
                self._failed(op.path, "studio", r)
        self._progress(
            "push",
            files_done=done["files"],
            files_total=nfiles,
            bytes_done=done["bytes"],
            bytes_total=nbytes,
        )

    def _pull_files(self, gets: list[Get]) -> None:
        done = {"files": 0, "bytes": 0}
        total_bytes = sum(op.studio.size for op in gets)
        for batch in _batches(gets, lambda op: op.studio.size):
            batch = self._with_room(batch)
            if batch:
                self._get_batch(batch, done, len(gets), total_bytes)

    def _room(self) -> list | None:
        """[room, bytes a pull may still write, inodes it may still create (None: no limit)]
        on the host's file system, asked now (None: a file system that does not tell; the
        other limits still hold)."""
        try:
            r = host_room(self._host.root_fd, self.limits.min_free)
        except OSError:
            return None
        return [r, r.free - r.keep, None if r.inodes is None else r.inodes - r.inodes_keep]

    def _fits(self, room: list, rel: str, nbytes: int, inodes: int) -> bool:
        """Whether ``nbytes`` and ``inodes`` fit in ``room`` (taken from it); if not, ``rel``
        is reported."""
        r = room[0]
        if nbytes > room[1]:
            self._problem(
                rel,
                "host",
                f"{size_text(nbytes)}: not enough free space on the host "
                f"({size_text(max(r.free, 0))} free, {size_text(r.keep)} of it kept free: "
                "the site setting sync_min_free)",
            )
            return False
        if room[2] is not None and inodes > room[2]:
            self._problem(
                rel,
                "host",
                f"not enough free inodes on the host ({max(r.inodes, 0)} free, "
                f"{r.inodes_keep} of them kept free)",
            )
            return False
        room[1] -= nbytes
        if room[2] is not None:
            room[2] -= inodes
        return True

    def _with_room(self, batch: list[Get]) -> list[Get]:
        """The files of ``batch`` the host has room for: its file system is asked (once per
        batch) and every file counts at its declared size rounded up to whole blocks (sparse
        or not, replacing a file or not; an empty file ENTRY_COST), one inode, and the
        directories its write creates in passing; a file that would leave less free than the
        limits keep is reported and left (so is one in a directory that was not created)."""
        room = self._room()
        fits = []
        for op in batch:
            refused = self._under_refused(op.path)
            if refused is not None:
                self._problem(op.path, "studio", f"in {refused}, not synced (a limit)")
            elif room is None:
                fits.append(op)
                continue
            else:
                size, block = op.studio.size, room[0].block
                implied = self._implied.get(op.path, 0)
                nbytes = (-(-size // block) * block if size else ENTRY_COST) + implied * ENTRY_COST
                if self._fits(room, op.path, nbytes, 1 + implied):
                    self._implied.pop(op.path, None)
                    fits.append(op)
                    continue
            if op.conflict is not None:  # the studio's version not kept
                self.report.conflicts.append(Conflict(op.path, op.conflict.reason))
        return fits

    def _pulled(self, op: Get, size: int, st: os.stat_result, sha: str, done: dict) -> None:
        """Record a file written on the host from the studio's version (``size`` bytes)."""
        rep = self.report
        done["files"] += 1
        co = op.studio
        if op.conflict is not None:  # the studio's version kept beside the host's
            rep.conflicts.append(op.conflict)
            self._record(op.path, Entry("f", sha, -1, -1, -1, co.size, co.mtime, co.mode))
        else:
            host = (st.st_size, st.st_mtime_ns, st.st_mode & 0o7777)
            self._record(op.path, Entry("f", sha, *host, co.size, co.mtime, co.mode))
            assert op.change is not None  # only a conflict copy has none
            rep.pulled.append(op.change)
        rep.bytes_pulled += size

    def _get_batch(self, batch: list[Get], done: dict, nfiles: int, nbytes: int) -> None:
        s = self.session
        want = {op.path: op for op in batch}
        s.send({"op": "get", "files": [[op.path, op.studio.size] for op in batch]})
        got = set()
        tick = self._ticker("pull", done, nfiles, nbytes)
        reader = ChunkReader(s.inp)
        # small files go to writer threads when there are enough of them (as in the agent's put)
        pool = wire.Writers() if len(want) >= wire.PUT_THREADS_MIN else None
        written = []  # (name, size, what write_at returned or raised; None: the pool's), in order
        try:
            for m in wire.tar_members(reader):
                # trust nothing: only the regular files we asked for (tar_members refuses
                # every other type), each once, written through the confined Zone
                if m.name not in want or m.name in got:
                    raise ProtocolError(f"unexpected entry {m.name!r} in the studio's stream")
                got.add(m.name)
                op = want[m.name]
                if m.size != op.studio.size:  # what a pull writes is what the scan declared
                    raise ProtocolError(
                        f"the studio streamed {m.size} bytes of {m.name!r}, its scan "
                        f"declared {op.studio.size}"
                    )
                try:
                    if pool is not None and m.size <= wire.SMALL:
                        parts = wire.check_rel(op.dest)
                        data = wire.read_exact(m, m.size)
                        dfd = os.dup(
                            self._host.dir_fd(parts[:-1], create=True)
                        )  # the worker closes it
                        pool.submit(
                            m.name,
                            dfd,
                            parts[-1],
                            op.dest,
                            data,
                            m.mode & MODE_MASK,
                            op.studio.mtime,
                            op.expect,
                            True,
                        )
                        written.append((m.name, m.size, None))
                        tick(m.size)
                        continue
                    r = self._host.write(
                        op.dest,
                        m,
                        m.size,
                        m.mode & MODE_MASK,
                        op.studio.mtime,
                        op.expect,
                        progress=tick,
                    )
                except (OSError, PathRefused, Changed) as exc:
                    r = exc
                written.append((m.name, m.size, r))
            reader.drain()  # the end of the stream
        except (ProtocolError, EOFError) as exc:
            raise s.lost(str(exc)) from None
        finally:
            if pool is not None:
                pool.close()  # every write handed out is finished (or failed)
        for name, size, r in written:  # recorded in the stream's order, pooled or not
            if r is None:
                assert pool is not None
                r = pool.results[name]
            if isinstance(r, (OSError, PathRefused, Changed)):
                self._failed(want[name].dest, "host", wire.err_result(r))
            elif isinstance(r, BaseException):
                raise r
            else:
                st, sha = r
                self._pulled(want[name], size, st, sha, done)
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
    limits: Limits | None = None,
) -> SyncReport:
    """Sync one zone between ``workspace/zone.host`` and ``zone.container`` in the studio.

    ``mode``: ``both``, ``push`` (host -> studio) or ``pull`` (studio -> host), further
    limited by the zone's direction. Returns what moved; ``report.exit_code`` is 1 when there
    were conflicts or paths that could not be synced. Raises :class:`SyncError` (a
    BlockcError) when the sync cannot run, :class:`MassDeletionRefused` when it would delete
    most of a zone (nothing is changed then). ``agent``: one from :func:`start_agent`
    (default: started here); it is closed when the sync ends. ``done_file``: an absolute path
    in the studio created (empty) once the sync went through without errors, in the same exec.
    ``limits``: what a pull may write on the host (default: ``Limits()``, see ``limits.py``);
    a file over them is reported and skipped, the rest of the zone syncs.
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
                limits=limits,
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
    limits: Mapping[str, Limits] | None = None,
) -> list[SyncReport]:
    """Every zone in turn; the first zone that cannot sync raises (zones synced before it
    stay synced). The next zone's agent starts while a zone syncs.

    ``agent``: the first zone's, from :func:`start_agent` (default: started here); every agent
    is closed when the sync ends. ``done_file``: created by the last zone's agent once every
    zone synced without errors (see :func:`sync_zone`). ``on_report``: called with each
    zone's report as soon as the zone is done. ``limits``: per zone name (a zone not in it:
    the defaults)."""
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
                limits=limits.get(z.name) if limits is not None else None,
            )
            reports.append(report)
            if on_report is not None:
                on_report(report)
    finally:
        if nxt is not None:
            nxt.close()
    return reports
