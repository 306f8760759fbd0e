"""What a sync did (or would do): :class:`SyncReport`, progress events, and the text summary."""

from __future__ import annotations

from typing import Literal

from ..errors import BlockcError
from ..value import Value

Kind = Literal["added", "modified", "deleted"]


class Change(Value):
    path: str
    kind: Kind
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
    side: Literal["host", "studio"]
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


class SyncReport(Value, frozen=False):
    studio: str
    zone: str
    mode: str  # both | push | pull
    direction: str  # the zone's: both | in | out
    dry_run: bool = False
    pushed: list[Change] | None = None  # host -> studio (done, or to do if dry_run)
    pulled: list[Change] | None = None  # studio -> host
    conflicts: list[Conflict] | None = None
    problems: list[Problem] | None = None
    pending_push: list[Change] | None = None  # changed, not moved (mode/direction)
    pending_pull: list[Change] | None = None
    bytes_pushed: int = 0
    bytes_pulled: int = 0
    host_entries: int = 0
    studio_entries: int = 0
    studio_reset: bool = False  # the studio zone was new, emptied-and-recreated or replaced
    studio_missing: bool = False  # the studio zone directory does not exist
    seconds: float = 0.0

    def __post_init__(self):  # each list its own ([] when None is given)
        for name in ("pushed", "pulled", "conflicts", "problems", "pending_push", "pending_pull"):
            if getattr(self, name) is None:
                setattr(self, name, [])

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


class SyncError(BlockcError):
    """The sync of a zone could not run (studio unreachable, bad zone, protocol failure)."""


class MassDeletionRefused(SyncError):
    """A sync would delete most of a zone on one side; nothing was changed."""


def _size(n: int) -> str:
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
    """A short human summary: one line per zone, then conflicts and problems."""
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
            f"  not pushed ({r.mode} sync / zone direction {r.direction}): {_counts(r.pending_push)}"
        )
    if r.pending_pull:
        lines.append(
            f"  not pulled ({r.mode} sync / zone direction {r.direction}): {_counts(r.pending_pull)}"
        )
    for c in r.conflicts[:limit]:
        kept = f"; the studio's version is kept as {c.copy}" if c.copy else ""
        lines.append(f"  conflict: {c.path!r}: {c.reason}{kept}")
    if len(r.conflicts) > limit:
        lines.append(f"  ... and {len(r.conflicts) - limit} more conflicts")
    probs = r.problems if verbose else r.problems[:limit]
    for p in probs:
        lines.append(
            f"  {'refused' if p.refused else 'not synced'} ({p.side}): {p.path!r}: {p.reason}"
        )
    if len(r.problems) > len(probs):
        lines.append(f"  ... and {len(r.problems) - len(probs)} more")
    if verbose:
        for c in r.pushed:
            lines.append(f"  {verb}push {c.kind}: {c.path!r}")
        for c in r.pulled:
            lines.append(f"  {verb}pull {c.kind}: {c.path!r}")
    return "\n".join(lines)
