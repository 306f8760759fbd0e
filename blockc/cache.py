"""The one cache of blockc: what a command computed that the next one can reuse, kept under
``$BLOCKC_HOME/cache/<kind>/``. Two kinds use it today, each measured to pay at every
command start: the plugin discovery (an entry-point scan, ``plugins.py``) and the compiled
option schemas (``compiler/validate.py``).

An entry is named by its key, and a key covers everything that determines the entry's content:
the caller's inputs (and the versions of the libraries the content comes from), blockc's own
code (every file of the package: an edited source file, in an editable install too, gives new
keys) and the Python that runs it. So an entry is never stale, only unused: past MAX_ENTRIES of
a kind, the oldest written are removed (one is computed again if it is still wanted).
``BLOCKC_NO_CACHE=1`` turns the cache off (nothing read, nothing written).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from functools import cache

from .home import home_dir, private_home

PACKAGE = os.path.dirname(os.path.abspath(__file__))
MAX_ENTRIES = 256  # of one kind (an edit of blockc gives new keys to every entry)


def enabled() -> bool:
    return not os.environ.get("BLOCKC_NO_CACHE")


@cache
def code_identity() -> str:
    """A digest of blockc's own code: the path, size and mtime of every file of the package,
    and the Python version (the bytecode and marshal formats)."""
    h = hashlib.sha256(sys.version.encode())
    for path in sorted(_files(PACKAGE)):
        st = os.stat(path)
        h.update(f"\0{os.path.relpath(path, PACKAGE)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _files(directory: str):
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            if entry.name != "__pycache__":
                yield from _files(entry.path)
        elif not entry.name.endswith((".pyc", ".pyo")):
            yield entry.path


def key(*parts: str) -> str:
    """The key of an entry whose content is determined by ``parts`` and blockc's code."""
    h = hashlib.sha256(code_identity().encode())
    for part in parts:
        h.update(b"\0" + part.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _path(kind: str, entry_key: str) -> str:
    return os.path.join(home_dir(), "cache", kind, entry_key)


def get(kind: str, entry_key: str) -> bytes | None:
    """The entry, or None (absent, unreadable, or the cache is off)."""
    if not enabled():
        return None
    try:
        with open(_path(kind, entry_key), "rb") as f:
            return f.read()
    except OSError:
        return None


def put(kind: str, entry_key: str, data: bytes) -> None:
    """Store an entry (written to a temp file, then renamed: a reader never sees half of it).
    A cache that cannot be written is no error: the next command computes it again."""
    if not enabled():
        return
    path = _path(kind, entry_key)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"  # one writer each
    try:
        private_home()
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        _prune(os.path.dirname(path))
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _prune(directory: str) -> None:
    """Past MAX_ENTRIES, remove the oldest written down to three quarters of it."""
    with os.scandir(directory) as it:
        entries = [e for e in it if e.is_file() and not e.name.endswith(".tmp")]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for e in entries[: len(entries) - MAX_ENTRIES * 3 // 4]:
        try:
            os.unlink(e.path)
        except OSError:
            pass  # (another process removed it)
