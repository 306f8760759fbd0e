"""Helpers shared by the e2e sync tests (a module, so tests can import it)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def host_tree(root: Path) -> dict:
    out = {}
    if not root.exists():
        return out
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath, name)
            rel = os.path.relpath(p, root)
            st = p.lstat()
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ["d", st.st_mode & 0o7777, None]
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ["l", 0, os.readlink(p)]
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for b in iter(lambda: f.read(1 << 20), b""):
                        h.update(b)
                out[rel] = ["f", st.st_mode & 0o7777, h.hexdigest()]
            else:
                out[rel] = ["o", st.st_mode & 0o7777, None]
    return out


def contents(tree: dict) -> dict:
    """Type and content only (modes of directories differ by umask: compared separately)."""
    return {k: (v[0], v[2]) for k, v in tree.items()}
