"""The sync decision for one path: a pure function of three views of it, no I/O.

``base`` is the baseline: both sides as they were right after the path last synced (None: it
never did). ``host`` and ``studio`` are the path now on each side (None: absent there). Each
side's *change* since the baseline is one of:

==========  ================================================================================
same        as the baseline says (type, size, mtime and mode)
touched     another mtime or mode bits, the same content (a touch is not a change)
added       absent from the baseline, present now
modified    another type, size, content, or mode bits on a directory
deleted     in the baseline, absent now
==========  ================================================================================

and the decision follows the table of docs/sync.md (``tests/test_sync_decide.py`` walks every
row of it):

====================  ===================  ===============================  ===================
host \\ studio        unchanged            added / modified                 deleted
====================  ===================  ===============================  ===================
unchanged             nothing              pull                             delete on the host
added / modified      push                 same content: nothing;           conflict: the host
                                           else conflict                    version is pushed
deleted               delete in studio     conflict: the studio version     nothing
                                           is pulled
====================  ===================  ===============================  ===================

A push or pull happens only where the sync mode and the zone's direction allow it
(``may_push``, ``may_pull``); otherwise the change stays pending. A version that would
otherwise be lost is kept on the host whenever the zone's direction lets studio versions come
out (``may_keep``: the zone is ``both`` or ``out``), whatever the mode of this sync.

Where a content hash decides and is not known yet, :func:`decide` answers :class:`NeedHash`;
the caller computes it (reading the host file, asking the studio's agent) and asks again. A file
that cannot be read has no hash: where that hash would tell whether a side changed, the path is
not decided (the caller reports it); where it would only compare the two sides' new versions,
the caller gives UNREADABLE, and the versions count as different (a conflict, nothing lost).
"""

from __future__ import annotations

from typing import NamedTuple

from .baseline import Entry

MODE_BITS = 0o777  # the permissions compared and kept; setuid, setgid and sticky never are


class Seen(NamedTuple):
    """One side's view of a path now."""

    type: str  # "f" file, "d" directory
    size: int  # 0 for a directory
    mtime: int  # ns
    mode: int  # permission bits
    hash: str | None = None  # sha256 of a file's content, where known


# --- what a side did since the baseline ------------------------------------------------------

SAME, TOUCHED = "same", "touched"
ADDED, MODIFIED, DELETED = "added", "modified", "deleted"
CHANGED = (ADDED, MODIFIED, DELETED)
NEEDS_HASH = "needs-hash"  # only the content hash can tell touched from modified
UNREADABLE = ""  # the hash of a file that could not be read: equal to no other


def change(base: Entry | None, now: Seen | None, side: str) -> str:
    """What ``side`` (``host`` or ``studio``) did to the path since the baseline: a change
    above, ``same`` (also: absent from both), or NEEDS_HASH."""
    if base is None:
        return SAME if now is None else ADDED
    if now is None:
        return DELETED
    if now.type != base.type:
        return MODIFIED
    if side == "host":
        size, mtime, mode = base.h_size, base.h_mtime, base.h_mode
    else:
        size, mtime, mode = base.c_size, base.c_mtime, base.c_mode
    # a side whose stat the baseline does not know (-1) is compared by content, and its mode
    # bits with those the baseline has
    known_mode = mode if mode >= 0 else base.c_mode if base.c_mode >= 0 else base.h_mode
    mode_changed = (now.mode & MODE_BITS) != (known_mode & MODE_BITS)
    if now.type == "d":
        return MODIFIED if mode_changed else SAME
    if now.size == size and now.mtime == mtime and now.mode == mode:
        return SAME
    if now.size != (base.c_size if base.c_size >= 0 else base.h_size):
        return MODIFIED
    if now.hash is None:
        return NEEDS_HASH
    if now.hash != base.sha256:
        return MODIFIED
    return MODIFIED if mode_changed else TOUCHED


# --- decisions -------------------------------------------------------------------------------


class Nothing(NamedTuple):
    """In sync: nothing to do."""


class Record(NamedTuple):
    """Both sides agree, the baseline does not yet: record them (nothing moves)."""

    entry: Entry


class Forget(NamedTuple):
    """Deleted on both sides: the baseline forgets the path."""


class Push(NamedTuple):
    """The host's version goes to the studio (a deletion, a directory or a file)."""

    kind: str  # added | modified | deleted


class Pull(NamedTuple):
    """The studio's version comes to the host."""

    kind: str


class Pending(NamedTuple):
    """A change this sync may not move (its mode or the zone's direction): reported."""

    direction: str  # push | pull
    kind: str


class Conflict(NamedTuple):
    """Changed on both sides (or changed on one, deleted on the other): neither side is
    overwritten. ``then`` restores the surviving version on the other side (a Push or a
    Pull, or None); ``keep_copy``: the studio's version is kept beside the host's (under a
    conflict name); ``forget``: the baseline forgets the path."""

    reason: str
    then: Push | Pull | None = None
    keep_copy: bool = False
    forget: bool = False


class NeedHash(NamedTuple):
    """Ask again once this side's content hash is known."""

    side: str  # host | studio


Decision = Nothing | Record | Forget | Push | Pull | Pending | Conflict | NeedHash
NOTHING, FORGET = Nothing(), Forget()
_WHAT = {"f": "a file", "d": "a directory"}


def decide(
    base: Entry | None,
    host: Seen | None,
    studio: Seen | None,
    *,
    may_push: bool,
    may_pull: bool,
    may_keep: bool,
) -> Decision:
    """What to do with one path (see the module's table)."""
    on_host = change(base, host, "host")
    if on_host == NEEDS_HASH:
        return NeedHash("host")
    in_studio = change(base, studio, "studio")
    if in_studio == NEEDS_HASH:
        return NeedHash("studio")
    host_changed, studio_changed = on_host in CHANGED, in_studio in CHANGED
    if not host_changed and not studio_changed:
        if TOUCHED in (on_host, in_studio) and base is not None:
            return Record(entry(base.type, base.sha256, host, studio))
        return NOTHING
    if not studio_changed:
        return Push(on_host) if may_push else Pending("push", on_host)
    if not host_changed:
        return Pull(in_studio) if may_pull else Pending("pull", in_studio)
    # changed on both sides
    if on_host == DELETED and in_studio == DELETED:
        return FORGET
    if in_studio == DELETED:
        return Conflict(
            "changed on the host, deleted in the studio: the host version is kept",
            then=Push(ADDED) if may_push else None,
            forget=True,
        )
    if on_host == DELETED:
        return Conflict(
            "deleted on the host, changed in the studio: the studio version is kept",
            then=Pull(ADDED) if may_keep else None,
            forget=True,
        )
    assert host is not None and studio is not None  # added or modified on both sides
    if host.type == studio.type == "d":
        return Record(entry("d", None, host, studio))
    if host.type == studio.type == "f":
        if studio.hash is None:  # to tell "same content", and to name a kept copy
            return NeedHash("studio")
        if host.size == studio.size:
            if host.hash is None:
                return NeedHash("host")
            if host.hash == studio.hash != UNREADABLE:
                return Record(entry("f", studio.hash, host, studio))
        if may_keep and studio.hash != UNREADABLE:  # (an unreadable copy cannot be kept)
            return Conflict(
                "changed on both sides: the host version is kept in place", keep_copy=True
            )
    return Conflict(
        f"changed on both sides (host: {_WHAT[host.type]}, studio: "
        f"{_WHAT[studio.type]}); nothing was changed"
    )


def entry(type: str, sha256: str | None, host: Seen | None, studio: Seen | None) -> Entry:
    """The baseline entry of a path both sides now hold as ``host`` and ``studio`` (a side
    not known: -1, compared by content next time)."""
    h = (host.size, host.mtime, host.mode) if host else (-1, -1, -1)
    c = (studio.size, studio.mtime, studio.mode) if studio else (-1, -1, -1)
    return Entry(type, sha256, *h, *c)
