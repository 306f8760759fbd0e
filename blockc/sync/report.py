"""What a sync did (or would do): :class:`SyncReport`, progress events, and the text summary."""

from __future__ import annotations

from ..errors import BlockcError
from ..terminal import printable
from ..value import Value


class Change(Value):
    path: str
    kind: str  # added | modified | deleted
    type: str = "f"  # "f" file, "d" directory
    size: int = 0


class Conflict(Value):
    """A path changed on both sides (or changed on one, deleted on the other).

    ``copy``: where the studio's version was kept on the host (zone-relative), if it was.
    """

    path: str
    reason: str
    copy: str | None = None


class Problem(Value):
    """A path not synced: a symlink or special file (refused), an I/O error, or a path
    that changed while the sync ran (it is picked up by the next sync)."""

    path: str
    side: str  # host | studio
    reason: str
    refused: bool = False  # refused by policy (symlink, special file), not an error


class SyncProgress(Value):
    """Handed to the ``progress`` callback: phase is ``scan``, ``push`` or ``pull``."""

    zone: str
    phase: str
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    path: str = ""


class SyncReport:
    """What a sync of one zone did (or, in a dry run, would do)."""

    def __init__(self, studio: str, zone: str, mode: str, direction: str, *, dry_run: bool = False):
        self.studio = studio
        self.zone = zone
        self.mode = mode  # both | push | pull
        self.direction = direction  # the zone's: both | in | out
        self.dry_run = dry_run
        self.pushed: list[Change] = []  # host -> studio (done, or to do if dry_run)
        self.pulled: list[Change] = []  # studio -> host
        self.conflicts: list[Conflict] = []
        self.problems: list[Problem] = []
        self.pending_push: list[Change] = []  # changed, not moved (mode or direction)
        self.pending_pull: list[Change] = []
        self.bytes_pushed = 0
        self.bytes_pulled = 0
        self.host_entries = 0
        self.studio_entries = 0
        self.studio_reset = False  # the studio zone was new, emptied-and-recreated or replaced
        self.studio_missing = False  # the studio zone directory does not exist
        self.seconds = 0.0

    def __repr__(self) -> str:
        return (
            f"SyncReport({self.studio}/{self.zone} {self.mode}: {len(self.pushed)} pushed, "
            f"{len(self.pulled)} pulled, {len(self.conflicts)} conflicts, "
            f"{len(self.problems)} problems)"
        )

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.refused]

    @property
    def ok(self) -> bool:
        """No conflict and no error (refused symlinks are reported, not failures)."""
        return not self.conflicts and not self.errors

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def unsynced_in_studio(self) -> bool:
        """Studio-side data the host lacks: what ``rm`` would lose (ask a dry run).

        Studio-side deletions lose nothing; changes in an ``in`` zone are never pulled by
        design, so they do not count either.
        """
        pulled = self.pulled if self.dry_run else []
        return bool(self.conflicts) or any(c.kind != "deleted" for c in pulled)

    @property
    def moved(self) -> int:
        return len(self.pushed) + len(self.pulled)


def shown(text: object) -> str:
    """``text`` as it may reach a terminal: ``blockc.terminal.printable`` (every character
    that is not printable as a Python escape: C0 and C1 controls such as ESC and CSI, DEL,
    line breaks, format characters such as bidi overrides, the surrogate escapes of
    non-UTF-8 bytes), backslashes doubled first, so that a name shown cannot be mistaken for
    another. Printable text without a backslash is unchanged.

    The one place where the sync makes studio text (file names, the agent's messages, its
    stderr) safe to print: everything of the sync that prints such text goes through it."""
    text = str(text)
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    return printable(text)


def quoted(path: str) -> str:
    """A file name in a message: :func:`shown`, between quotes."""
    return f"'{shown(path)}'"


class SyncError(BlockcError):
    """The sync of a zone could not run (studio unreachable, bad zone, protocol failure)."""


class MassDeletionRefused(SyncError):
    """A sync would delete most of a zone on one side; nothing was changed."""


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _counts(changes: list[Change]) -> str:
    parts = []
    for kind in ("added", "modified", "deleted"):
        n = sum(1 for c in changes if c.kind == kind)
        if n:
            parts.append(f"{n} {kind}")
    return ", ".join(parts)


def format_report(report: SyncReport, *, verbose: bool = False, limit: int = 20) -> str:
    """A short human summary: one line per zone, then conflicts and problems (file names and
    reasons through :func:`shown`)."""
    r = report
    head = f"zone {r.zone}"
    verb = "would " if r.dry_run else ""
    bits = []
    if r.pushed:
        bits.append(
            f"{verb}push {_counts(r.pushed)} ({_size(r.bytes_pushed)})"
            if not r.dry_run
            else f"{verb}push {_counts(r.pushed)}"
        )
    if r.pulled:
        bits.append(
            f"{verb}pull {_counts(r.pulled)} ({_size(r.bytes_pulled)})"
            if not r.dry_run
            else f"{verb}pull {_counts(r.pulled)}"
        )
    if r.conflicts:
        bits.append(f"{len(r.conflicts)} conflict{'s' if len(r.conflicts) != 1 else ''}")
    if r.errors:
        bits.append(f"{len(r.errors)} not synced")
    if not bits:
        bits.append("up to date")
    lines = [f"{head}: " + "; ".join(bits) + f" [{r.seconds:.1f}s]"]
    if r.studio_reset:
        lines.append("  the studio side is new or was reset: nothing was deleted on either side")
    if r.studio_missing:
        lines.append("  the studio directory does not exist: nothing to pull, nothing deleted")
    if r.pending_push:
        lines.append(
            f"  not pushed ({r.mode} sync / zone direction {r.direction}): "
            f"{_counts(r.pending_push)}"
        )
    if r.pending_pull:
        lines.append(
            f"  not pulled ({r.mode} sync / zone direction {r.direction}): "
            f"{_counts(r.pending_pull)}"
        )
    for c in r.conflicts[:limit]:
        kept = f"; the studio's version is kept as {quoted(c.copy)}" if c.copy else ""
        lines.append(f"  conflict: {quoted(c.path)}: {shown(c.reason)}{kept}")
    if len(r.conflicts) > limit:
        lines.append(f"  ... and {len(r.conflicts) - limit} more conflicts")
    probs = r.problems if verbose else r.problems[:limit]
    for p in probs:
        lines.append(
            f"  {'refused' if p.refused else 'not synced'} ({p.side}): "
            f"{quoted(p.path)}: {shown(p.reason)}"
        )
    if len(r.problems) > len(probs):
        lines.append(f"  ... and {len(r.problems) - len(probs)} more")
    if verbose:
        lines += [f"  {verb}push {change.kind}: {quoted(change.path)}" for change in r.pushed]
        lines += [f"  {verb}pull {change.kind}: {quoted(change.path)}" for change in r.pulled]
    return "\n".join(lines)
