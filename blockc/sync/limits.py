"""What a pull may write on the host (issue 13): the studio is untrusted, its agent declares
the files and their sizes, and without limits a pull writes whatever it declares.

Per zone and per sync:

``max_file``   the largest file a pull writes on the host (its size as the studio's scan
               declares it, which is all its stream may bring: a sparse file counts whole);
``max_total``  the bytes one sync of the zone pulls in all (conflict copies included);
``min_free``   the free space the host's file system keeps: a file is pulled only if, once
               written, at least this much would be left (asked of the file system before
               the directories and before each batch of files, every file counted at its
               declared size rounded up to the file system's blocks); and its free inodes:
               the last MIN_FREE_INODES of them (or MIN_FREE_SHARE, if fewer) are kept;
``max_entries`` the directories and files one sync of the zone creates or writes on the host
               (those its writes would create in passing included).

Every entry counts: a directory, and an empty file, count ENTRY_COST bytes against
``max_total`` and ``min_free`` (a file otherwise counts its declared size).

An entry over a limit is reported (not synced: ``blockc stop`` refuses to remove a studio that
holds it) and skipped; the rest of the zone syncs, and nothing on the host is touched for it.
Pushes are not limited: the host's files are the host user's own.

Where they come from: the site settings ``sync_max_file``, ``sync_max_total`` and
``sync_min_free`` (``config.toml``, or ``BLOCKC_SYNC_MAX_FILE``, ...), and ``sync_max_entries``
when the settings have it (a number; default DEFAULT_MAX_ENTRIES), then a zone's own
``limits`` in the template's file-sync block (``max_file``, ``max_total``: the template knows
what its zones hold), which studio.json carries to the sync. ``min_free`` protects the host,
not a zone: only the site sets it.

Sizes: a number of bytes, or a number and a unit ``K``, ``M``, ``G``, ``T`` (powers of 1024;
``k``, ``KB``, ``KiB`` are the same), or ``none`` (no limit; not for ``min_free``: ``0``).
"""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

from ..errors import BlockcError

GiB = 1 << 30
# Defaults: above what a studio's ordinary work brings back (sources, notebooks, data sets and
# model checkpoints of a few GB; the e2e tests pull a 1 GiB file), far below what fills a disk:
# one sync of a hostile studio writes at most 16 GiB per zone, and never into the last 2 GiB.
DEFAULT_MAX_FILE = 4 * GiB
DEFAULT_MAX_TOTAL = 16 * GiB
DEFAULT_MIN_FREE = 2 * GiB  # ... or MIN_FREE_SHARE of a smaller file system (a 1 GiB tmpfs)
MIN_FREE_SHARE = 0.05
# Every directory and every empty file a pull creates counts this much against max_total and
# min_free (a block of metadata; a hostile studio's empty entries are not free).
ENTRY_COST = 4096
# The entries (directories and files) one sync of a zone writes on the host: a studio's
# ordinary work is far below it; a hostile one fills no file system's inodes with one sync.
# The default of the site setting sync_max_entries (when the settings have it).
DEFAULT_MAX_ENTRIES = 100_000
MIN_FREE_INODES = 100_000  # inodes a pull leaves free ... or MIN_FREE_SHARE of them if fewer

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgt])(?:i?b)?|b)?", re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
ZONE_KEYS = ("max_file", "max_total")  # what a template's zone may set


class Limits(NamedTuple):
    max_file: int | None = DEFAULT_MAX_FILE  # None: no limit
    max_total: int | None = DEFAULT_MAX_TOTAL
    min_free: int | None = None  # None: the smaller of 2 GiB and 5% of the file system
    max_entries: int | None = DEFAULT_MAX_ENTRIES  # None: no limit


def parse_size(value: Any, what: str, *, none_ok: bool = True) -> int | None:
    """Bytes from ``value`` (an int, or a string as the module says); BlockcError naming
    ``what`` otherwise."""
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if value >= 0:
            return value
    elif isinstance(value, str):
        if none_ok and value.lower() == "none":
            return None
        m = _SIZE.fullmatch(value)
        if m:
            number, unit = m.group(1), m.group(2)
            factor = _UNITS[unit.lower() if unit else None]
            return int(float(number) * factor) if "." in number else int(number) * factor
    expect = "a size like 512M, 4G or a number of bytes" + (", or none" if none_ok else "")
    raise BlockcError(f"{what}: {value!r} is not {expect}")


def parse_count(value: Any, what: str) -> int | None:
    """A number of entries from ``value`` (an int, digits, or ``none``: no limit)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        if value.lower() == "none":
            return None
        if value.strip().isdigit():
            return int(value)
    raise BlockcError(f"{what}: {value!r} is not a number of entries, or none")


def site_limits(settings) -> Limits:
    """The site's limits (``sync_max_file``, ``sync_max_total``, ``sync_min_free``, and
    ``sync_max_entries`` when the settings have it), each defaulting to the module's."""
    max_file, max_total, min_free, max_entries = Limits()
    v = getattr(settings, "sync_max_file", None)
    if v is not None:
        max_file = parse_size(v, "setting sync_max_file")
    v = getattr(settings, "sync_max_total", None)
    if v is not None:
        max_total = parse_size(v, "setting sync_max_total")
    v = getattr(settings, "sync_min_free", None)
    if v is not None:
        min_free = parse_size(v, "setting sync_min_free", none_ok=False)
    v = getattr(settings, "sync_max_entries", None)
    if v is not None:
        max_entries = parse_count(v, "setting sync_max_entries")
    return Limits(max_file, max_total, min_free, max_entries)


def zone_limits(site: Limits, zone: dict) -> Limits:
    """The limits of one zone of a studio.json: its ``limits`` (when present) over the site's."""
    given = zone.get("limits")
    if given is None:
        return site
    name = zone.get("name", "?")
    if not isinstance(given, dict):
        raise BlockcError(f"studio.json: zone {name!r}: limits must be a mapping")
    unknown = sorted(set(given) - set(ZONE_KEYS))
    if unknown:
        raise BlockcError(
            f"studio.json: zone {name!r}: unknown limit(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(ZONE_KEYS)})"
        )
    out = site._asdict()
    for key in ZONE_KEYS:
        if key in given:
            out[key] = parse_size(given[key], f"studio.json: zone {name!r}: limits.{key}")
    return Limits(**out)


class Room(NamedTuple):
    """What the host's file system has room for (``host_room``)."""

    free: int  # bytes an unprivileged process may still write
    keep: int  # ... of which a pull leaves this many free
    block: int  # its block size: a file takes whole blocks
    inodes: int | None  # inodes an unprivileged process may still create (None: no limit)
    inodes_keep: int  # ... of which a pull leaves this many free


def host_room(fd: int, min_free: int | None) -> Room:
    """The room on the file system of ``fd``: its free bytes, and how many of them a pull
    leaves free (``min_free``; None: the smaller of DEFAULT_MIN_FREE and MIN_FREE_SHARE of
    the file system); its free inodes and the reserve a pull leaves (MIN_FREE_INODES, or
    MIN_FREE_SHARE of them if fewer). A file system that reports no inodes (btrfs: 0) has no
    limit of them."""
    st = os.statvfs(fd)
    free = st.f_bavail * st.f_frsize
    if min_free is None:
        min_free = min(DEFAULT_MIN_FREE, int(st.f_blocks * st.f_frsize * MIN_FREE_SHARE))
    files = getattr(st, "f_files", 0)
    inodes = st.f_favail if files else None
    inodes_keep = min(MIN_FREE_INODES, int(files * MIN_FREE_SHARE))
    return Room(free, min_free, max(st.f_frsize, 1), inodes, inodes_keep)


def size_text(n: int) -> str:
    """``n`` bytes for a message, in the units the limits are given in (powers of 1024)."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"
