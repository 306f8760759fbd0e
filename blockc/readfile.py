"""Reading a file a user named: a regular file only (a FIFO would block, /dev/zero never
ends), and at most a limit plus one byte, so that "too large" can be told."""

from __future__ import annotations

import os
import stat


class NotRegular(OSError):
    """The path is no regular file (a FIFO, a device, a socket, a directory)."""


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file ``path``; :class:`NotRegular` for
    anything else (checked on the opened file: no race with a swap)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise NotRegular(21 if stat.S_ISDIR(mode) else 22, kind, str(path))
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
