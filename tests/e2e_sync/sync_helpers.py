"""Helpers shared by the e2e sync tests (a module, so tests can import it)."""

from __future__ import annotations

import inspect
from pathlib import Path

from blockc.sync import Baseline, PodmanTransport, format_report, sync_zone
from blockc.types import Zone


def walk_tree(root, skip=()):
    """{relative path: [type, mode, sha256 or link target]} of the tree at ``root``.

    Self-contained: the tests also run its source in the studio (``TREE_CODE``)."""
    import hashlib
    import os
    import stat

    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if rel in skip:
                continue
            st = os.lstat(p)
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


# run in the studio as `python3 -c TREE_CODE ROOT [SKIP...]`
TREE_CODE = inspect.getsource(walk_tree) + (
    "import json, sys\njson.dump(walk_tree(sys.argv[1], sys.argv[2:]), sys.stdout, "
    "ensure_ascii=True)\n"
)


def host_tree(root: Path) -> dict:
    return walk_tree(root)


def contents(tree: dict) -> dict:
    """Type and content only (modes of directories differ by umask: compared separately)."""
    return {k: (v[0], v[2]) for k, v in tree.items()}


class Env:
    """One zone of one studio: host dir ws/data <-> /zones/<test>."""

    def __init__(self, studio, tmp_path: Path, name: str, **zone_kw):
        self.studio = studio
        self.tmp = tmp_path
        self.ws = tmp_path / "ws"
        self.host = self.ws / "data"
        self.host.mkdir(parents=True)
        self.cpath = f"/zones/{name}"
        self.zone = Zone("data", "data", self.cpath, **zone_kw)
        self.db = tmp_path / "state.db"
        self.baseline = Baseline(self.db)
        self.transport = PodmanTransport(studio.name, user=1000)

    def sync(self, mode="both", **kw):
        r = sync_zone(
            self.transport,
            studio="t",
            zone=self.zone,
            workspace=self.ws,
            mode=mode,
            baseline=self.baseline,
            **kw,
        )
        print(format_report(r, verbose=True))
        return r

    def ctree(self):
        return self.studio.tree(self.cpath)

    def htree(self):
        return host_tree(self.host)

    def assert_same(self):
        assert contents(self.htree()) == contents(self.ctree())
