"""Issue 13's probes against a real studio (podman, user 1000): a studio that tries to fill the
host's disk through sync (point 3), that names files with terminal escape sequences (point
7), and a zone emptied on one side (point 11). Unit tests of the same: tests/test_sync_hostile.py.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from compiler_support import studio_row
from sync_helpers import Env, contents, host_tree

from blockc.sync import (
    MassDeletionRefused,
    PodmanTransport,
    SyncError,
)
from blockc.sync.session import Session, agent_source

pytestmark = pytest.mark.containers
GiB = 1 << 30


@pytest.fixture
def env(studio, tmp_path, request):
    e = Env(studio, tmp_path, request.node.name.replace("[", "-").replace("]", ""))
    yield e
    studio.sh(f"rm -rf {e.cpath}")  # (the studio's big files go with it)
    for big in e.host.glob("*.img"):  # nor do the host's stay in pytest's kept tmp dirs
        big.unlink()


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def _all_holes(path: Path) -> bool:
    """Whether the file holds no data at all (SEEK_DATA finds none): it reads as zeros."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 0, os.SEEK_DATA)
    except OSError as exc:
        return exc.errno == errno.ENXIO
    finally:
        os.close(fd)
    return False


def test_a_3g_sparse_file_from_the_studio_stays_sparse_on_the_host(env):
    """The audit's probe: `truncate -s 3G` in the studio (no space used there) became a dense
    3 GiB file on the host. Now it is a 3 GiB file of holes."""
    env.studio.sh(
        f"mkdir -p {env.cpath} && truncate -s 3G {env.cpath}/disk.img && "
        f"printf 'data at 1G' | dd of={env.cpath}/data.img bs=1 seek=1073741824 conv=notrunc "
        "status=none && echo small > " + f"{env.cpath}/small.txt"
    )
    free = shutil.disk_usage(env.host).free
    t0 = time.monotonic()
    r = env.sync("pull")
    took = time.monotonic() - t0
    assert r.ok and sorted(c.path for c in r.pulled) == ["data.img", "disk.img", "small.txt"]
    disk, data = env.host / "disk.img", env.host / "data.img"
    assert disk.stat().st_size == 3 * GiB and _all_holes(disk)
    assert data.stat().st_size == GiB + 10
    with open(data, "rb") as f:
        f.seek(GiB)
        assert f.read() == b"data at 1G"
    print(
        f"pulled 3 GiB + 1 GiB sparse in {took:.1f}s; on the host: {_allocated(disk)} and "
        f"{_allocated(data)} bytes allocated; free space {free - shutil.disk_usage(env.host).free:+d}"
    )
    assert _allocated(disk) == 0 and _allocated(data) <= 64 << 10
    assert (env.host / "small.txt").read_text() == "small\n"


def test_a_file_over_the_default_limit_is_skipped_and_the_rest_syncs(env):
    """A 5 GiB file (sparse: nothing used in the studio) is over the default largest-file
    limit (4 GiB): reported, left in the studio, the host's own version kept; the rest of
    the zone syncs."""
    (env.host / "huge.img").write_text("the host's version")
    (env.host / "notes.txt").write_text("v1")
    assert env.sync().ok
    env.studio.sh(
        f"truncate -s 5G {env.cpath}/huge.img.new && mv {env.cpath}/huge.img.new "
        f"{env.cpath}/huge.img && echo v2 > {env.cpath}/notes.txt && "
        f"truncate -s 5G {env.cpath}/other.img"
    )
    r = env.sync("pull")
    assert [c.path for c in r.pulled] == ["notes.txt"]
    assert sorted(p.path for p in r.errors) == ["huge.img", "other.img"]
    assert all("largest-file limit" in p.reason for p in r.errors), r.errors
    assert r.exit_code == 1
    assert (env.host / "huge.img").read_text() == "the host's version"
    assert not (env.host / "other.img").exists()
    assert (env.host / "notes.txt").read_text() == "v2\n"
    # the next sync reports them again (the studio still holds what the host lacks)
    r = env.sync("pull")
    assert sorted(p.path for p in r.errors) == ["huge.img", "other.img"] and not r.pulled


def test_a_studio_that_streams_more_than_it_declared_writes_nothing(env):
    """A hostile agent: its scan says what the file holds, its stream brings 64 MiB more."""
    (env.host / "a.txt").write_text("v0")
    assert env.sync().ok
    env.studio.write(f"{env.cpath}/a.txt", b"v1")
    liar = (
        agent_source().replace('if __name__ == "__main__":\n    main()', "")
        + """
import io
def op_get(self, msg):
    out = ChunkWriter(self.out)
    for rel, _ in msg.get("files") or [[p, None] for p in msg.get("paths", [])]:
        data = b"x" * (64 << 20)
        tar_file(out, rel, len(data), io.BytesIO(data), 0o644, 0)
    tar_end(out); out.close()
    send(self.out, {"ok": True, "results": {}})
Agent.op_get = op_get
main()
"""
    )
    with pytest.raises(SyncError, match="declared 2"):
        env.sync("pull", agent=Session(env.transport, "python3", liar))
    assert (env.host / "a.txt").read_text() == "v0"
    assert not [p for p in os.listdir(env.host) if p.startswith(".blockc-tmp")]


@pytest.mark.parametrize(
    "how",
    ["rm -rf ZONE/*", "find ZONE -type f ! -name .blockc-sync-id -delete"],
    ids=["emptied", "files-deleted"],
)
def test_a_zone_of_three_files_emptied_in_the_studio_deletes_nothing(env, how):
    """The audit's probe: fewer files than the mass-deletion threshold (10), the zone emptied
    in the studio (all of it, or its files only): nothing is deleted on the host."""
    for name in ("a.txt", "b.txt", "d/c.txt"):
        (env.host / name).parent.mkdir(parents=True, exist_ok=True)
        (env.host / name).write_text(name)
    assert env.sync().ok
    before = contents(host_tree(env.host))
    env.studio.sh(how.replace("ZONE", env.cpath))
    for mode in ("pull", "both"):
        with pytest.raises(MassDeletionRefused, match="the studio side holds no file"):
            env.sync(mode)
        assert contents(host_tree(env.host)) == before
    # once the studio holds a file again, its deletions are ordinary ones
    env.studio.sh(f"rm -rf {env.cpath}/* && echo new > {env.cpath}/new.txt")
    r = env.sync("pull")
    assert r.ok and sorted(c.path for c in r.pulled if c.type == "f") == [
        "a.txt",
        "b.txt",
        "d/c.txt",
        "new.txt",
    ]


ESC_NAME = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\u202etxt.exe"


def test_names_and_messages_from_the_studio_are_printed_escaped(env, studio, tmp_path, monkeypatch):
    """`blockc sync` through the studio record (sync/studio.py), its summary to a stream: a
    conflict copy named with escape sequences, a path not synced, all escaped."""
    from blockc.run.progress import Progress
    from blockc.run.settings import Settings
    from blockc.sync import studio as syncing

    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))

    class Runtime:
        def transport(self, name, user):
            return PodmanTransport(studio.name, user=1000)

    monkeypatch.setattr(syncing, "get_runtime", lambda name, settings: Runtime())
    s = studio_row("esc", env.ws)
    Path(s.artifact_dir).mkdir(parents=True)
    zone = {"name": "data", "host": "data", "container": env.cpath, "direction": "both"}
    (Path(s.artifact_dir) / "studio.json").write_text(
        json.dumps({"image": {"uid": 1000, "gid": 1000}, "zones": [{**zone, "exclude": []}]})
    )
    (env.host / ESC_NAME).write_text("v0")
    syncing.sync_studio(s, Settings(), mode="both", progress=Progress(io.StringIO()))
    (env.host / ESC_NAME).write_text("host")
    env.studio.write(f"{env.cpath}/{ESC_NAME}", b"studio!")
    env.studio.sh(f"truncate -s 5G '{env.cpath}/big\x1b[2J.img'")
    out = io.StringIO()
    reports = syncing.sync_studio(s, Settings(), mode="both", progress=Progress(out))
    (r,) = reports
    assert len(r.conflicts) == 1 and "\x1b" in (r.conflicts[0].copy or "")
    text = out.getvalue()
    print(text)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert all(c.isprintable() or c == "\n" for c in text)
    assert "\\x1b]0;owned\\x07" in text and "big\\x1b[2J.img" in text
