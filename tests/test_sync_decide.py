"""The sync decision table (docs/sync.md, blockc/sync/decide.py), row by row, as a pure
function: no agent, no files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blockc.sync.baseline import Entry
from blockc.sync.decide import (
    FORGET,
    NOTHING,
    UNREADABLE,
    Conflict,
    NeedHash,
    Pending,
    Pull,
    Push,
    Record,
    Seen,
    change,
    decide,
    entry,
)

OLD, NEW, OTHER = "0" * 64, "1" * 64, "2" * 64
# a file as both sides held it after the last sync: 5 bytes, content OLD
BASE = Entry("f", OLD, 5, 100, 0o644, 5, 200, 0o644)
DIR_BASE = Entry("d", None, 0, 100, 0o755, 0, 200, 0o755)

# each side's possible states of that file now
HOST = {
    "unchanged": Seen("f", 5, 100, 0o644),
    "touched": Seen("f", 5, 150, 0o644, OLD),  # another mtime, the same content
    "modified": Seen("f", 7, 150, 0o644),  # another size
    "rewritten": Seen("f", 5, 150, 0o644, NEW),  # the same size, other content
    "deleted": None,
}
STUDIO = {
    "unchanged": Seen("f", 5, 200, 0o644),
    "touched": Seen("f", 5, 250, 0o644, OLD),
    "modified": Seen("f", 7, 250, 0o644, NEW),
    "rewritten": Seen("f", 5, 250, 0o644, NEW),
    "deleted": None,
}
ALL = {"may_push": True, "may_pull": True, "may_keep": True}
KEEP_HOST = "changed on both sides: the host version is kept in place"
HOST_KEPT = "changed on the host, deleted in the studio: the host version is kept"
STUDIO_KEPT = "deleted on the host, changed in the studio: the studio version is kept"

# host \ studio: every row and column of the table in docs/sync.md
TABLE = [
    ("unchanged", "unchanged", NOTHING),
    ("unchanged", "modified", Pull("modified")),
    ("unchanged", "rewritten", Pull("modified")),
    ("unchanged", "deleted", Pull("deleted")),
    ("modified", "unchanged", Push("modified")),
    ("rewritten", "unchanged", Push("modified")),
    ("deleted", "unchanged", Push("deleted")),
    ("modified", "modified", Record(entry("f", NEW, HOST["modified"], STUDIO["modified"]))),
    ("rewritten", "modified", Conflict(KEEP_HOST, keep_copy=True)),
    ("modified", "rewritten", Conflict(KEEP_HOST, keep_copy=True)),
    ("modified", "deleted", Conflict(HOST_KEPT, then=Push("added"), forget=True)),
    ("deleted", "modified", Conflict(STUDIO_KEPT, then=Pull("added"), forget=True)),
    ("deleted", "deleted", FORGET),
    # a touch is no change: the baseline catches up, nothing moves
    ("touched", "unchanged", Record(entry("f", OLD, HOST["touched"], STUDIO["unchanged"]))),
    ("unchanged", "touched", Record(entry("f", OLD, HOST["unchanged"], STUDIO["touched"]))),
    ("touched", "modified", Pull("modified")),
    ("deleted", "touched", Push("deleted")),
]


@pytest.mark.parametrize("host, studio, expected", TABLE, ids=[f"{h}-{s}" for h, s, _ in TABLE])
def test_the_decision_table(host, studio, expected):
    host_now = HOST[host]
    if host == "modified" and studio == "modified":  # both now hold the same new content
        host_now = host_now._replace(hash=NEW)
    assert decide(BASE, host_now, STUDIO[studio], **ALL) == expected


def test_the_table_covers_every_row_of_the_docs():
    """Every cell of docs/sync.md's table is a row above."""
    doc = (Path(__file__).parent.parent / "docs" / "sync.md").read_text()
    rows = re.findall(r"^\| (unchanged|added / modified|deleted)\s+\|", doc, re.M)
    assert rows == ["unchanged", "added / modified", "deleted"]
    names = {
        "unchanged": {"unchanged"},
        "added / modified": {"modified", "rewritten"},
        "deleted": {"deleted"},
    }
    covered = {(h, s) for h, s, _ in TABLE}
    for row in rows:
        for column in rows:
            assert covered & {(h, s) for h in names[row] for s in names[column]}, (row, column)


@pytest.mark.parametrize(
    "host, studio, expected",
    [
        (Seen("f", 3, 1, 0o644), None, Push("added")),
        (None, Seen("f", 3, 1, 0o644), Pull("added")),
        (
            Seen("d", 0, 1, 0o755),
            Seen("d", 0, 2, 0o700),
            Record(entry("d", None, Seen("d", 0, 1, 0o755), Seen("d", 0, 2, 0o700))),
        ),
        (
            Seen("f", 3, 1, 0o644, NEW),
            Seen("f", 3, 2, 0o644, NEW),
            Record(entry("f", NEW, Seen("f", 3, 1, 0o644, NEW), Seen("f", 3, 2, 0o644, NEW))),
        ),
        (
            Seen("f", 3, 1, 0o644, NEW),
            Seen("f", 3, 2, 0o644, OTHER),
            Conflict(KEEP_HOST, keep_copy=True),
        ),
        (
            Seen("f", 3, 1, 0o644),
            Seen("f", 4, 2, 0o644, OTHER),
            Conflict(KEEP_HOST, keep_copy=True),
        ),
        (
            Seen("f", 3, 1, 0o644),
            Seen("d", 0, 2, 0o755),
            Conflict(
                "changed on both sides (host: a file, studio: a directory); nothing was changed"
            ),
        ),
        (None, None, NOTHING),
    ],
    ids=[
        "host-only",
        "studio-only",
        "two-dirs",
        "same-content",
        "other-content",
        "other-sizes",
        "file-and-dir",
        "neither",
    ],
)
def test_paths_new_on_both_sides(host, studio, expected):
    assert decide(None, host, studio, **ALL) == expected


@pytest.mark.parametrize(
    "flags, host, studio, expected",
    [
        ({"may_push": False}, "modified", "unchanged", Pending("push", "modified")),
        ({"may_push": False}, "deleted", "unchanged", Pending("push", "deleted")),
        ({"may_pull": False}, "unchanged", "modified", Pending("pull", "modified")),
        ({"may_pull": False}, "unchanged", "deleted", Pending("pull", "deleted")),
        # a version that would be lost is kept while the zone lets studio files out at all
        (
            {"may_pull": False},
            "deleted",
            "modified",
            Conflict(STUDIO_KEPT, then=Pull("added"), forget=True),
        ),
        ({"may_pull": False}, "rewritten", "modified", Conflict(KEEP_HOST, keep_copy=True)),
        (
            {"may_pull": False, "may_keep": False},
            "deleted",
            "modified",
            Conflict(STUDIO_KEPT, forget=True),
        ),
        (
            {"may_pull": False, "may_keep": False},
            "rewritten",
            "modified",
            Conflict("changed on both sides (host: a file, studio: a file); nothing was changed"),
        ),
        ({"may_push": False}, "modified", "deleted", Conflict(HOST_KEPT, forget=True)),
    ],
)
def test_what_the_mode_and_the_zone_direction_allow(flags, host, studio, expected):
    assert decide(BASE, HOST[host], STUDIO[studio], **{**ALL, **flags}) == expected


def test_a_hash_is_asked_for_only_where_it_decides():
    same_size = Seen("f", 5, 150, 0o644)  # stat changed, size not: the content must tell
    assert decide(BASE, same_size, STUDIO["unchanged"], **ALL) == NeedHash("host")
    assert decide(BASE, HOST["unchanged"], Seen("f", 5, 250, 0o644), **ALL) == NeedHash("studio")
    # both changed: the studio's hash (to compare, and to name a kept copy), then the host's
    # only where the sizes say they may be equal
    assert decide(BASE, HOST["modified"], Seen("f", 9, 250, 0o644), **ALL) == NeedHash("studio")
    assert decide(BASE, Seen("f", 7, 150, 0o644), STUDIO["modified"], **ALL) == NeedHash("host")
    assert decide(BASE, Seen("f", 8, 150, 0o644), STUDIO["modified"], **ALL) == Conflict(
        KEEP_HOST, keep_copy=True
    )


def test_modes_are_changes_and_special_bits_are_not_kept():
    chmod = Seen("f", 5, 150, 0o755, OLD)  # same content, other permissions
    assert change(BASE, chmod, "host") == "modified"
    assert change(BASE, Seen("f", 5, 150, 0o4644, OLD), "host") == "touched"  # setuid: ignored
    assert decide(DIR_BASE, Seen("d", 0, 999, 0o755), Seen("d", 0, 200, 0o755), **ALL) == NOTHING
    assert decide(DIR_BASE, Seen("d", 0, 100, 0o700), Seen("d", 0, 200, 0o755), **ALL) == Push(
        "modified"
    )
    assert decide(DIR_BASE, Seen("f", 1, 1, 0o644), Seen("d", 0, 200, 0o755), **ALL) == Push(
        "modified"
    )


def test_a_side_the_baseline_does_not_know_is_compared_by_content():
    """After a conflict copy, the baseline knows the studio's stat only (-1 on the host)."""
    base = Entry("f", OLD, -1, -1, -1, 5, 200, 0o644)
    assert change(base, Seen("f", 5, 100, 0o644), "host") == "needs-hash"
    assert change(base, Seen("f", 5, 100, 0o644, OLD), "host") == "touched"
    assert change(base, Seen("f", 5, 100, 0o644, NEW), "host") == "modified"
    assert change(base, Seen("f", 5, 100, 0o600, OLD), "host") == "modified"


def test_a_version_that_cannot_be_read_differs_from_any_other():
    """Both sides rewrote the file to the same size and one cannot be read: the two versions
    count as different (a conflict, nothing lost), never as the same content."""
    host = Seen("f", 5, 150, 0o644, UNREADABLE)
    studio = Seen("f", 5, 250, 0o644, NEW)
    assert decide(BASE, host, studio, **ALL) == Conflict(KEEP_HOST, keep_copy=True)
    both = Seen("f", 5, 250, 0o644, UNREADABLE)
    nothing_kept = Conflict(
        "changed on both sides (host: a file, studio: a file); nothing was changed"
    )
    assert decide(BASE, host, both, **ALL) == nothing_kept  # an unreadable copy is not kept
    assert decide(BASE, Seen("f", 5, 150, 0o644, NEW), both, **ALL) == nothing_kept
