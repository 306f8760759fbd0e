"""File sync without containers: the wire format, the confinement, the decisions (the agent
runs as a local process through LocalTransport). The podman end-to-end tests are in
tests/e2e_sync/."""

from __future__ import annotations

import io
import os
import sqlite3
import sys
import tarfile

import pytest

from blockc.sync import (Baseline, LocalTransport, MassDeletionRefused, conflict_name, format_report,
                         pending_changes, sync_zone)
from blockc.sync import agent as wire
from blockc.sync.engine import Excludes
from blockc.types import Zone


def test_tar_roundtrip_names_and_sizes():
    names = ["a", "with space", "ünï/文件", "new\nline", "x" * 300, "d/" + "y" * 150]
    buf = io.BytesIO()
    for i, n in enumerate(names):
        data = os.urandom(i * 700)
        wire.tar_file(buf, n, len(data), io.BytesIO(data), 0o4755, 1_700_000_000)
    wire.tar_end(buf)
    buf.seek(0)
    got = [(m.name, m.size, m.mode, m.read()) for m in wire.tar_members(buf)]
    assert [g[0] for g in got] == names
    assert all(g[2] == 0o755 for g in got)  # setuid never even written
    # stdlib tarfile reads what we write (it is plain GNU tar)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r:") as tf:
        assert tf.getnames() == names
    assert wire._parse_num(wire._num(1 << 40, 12)) == 1 << 40


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE,
                                  tarfile.FIFOTYPE, "pax"])
def test_tar_reader_refuses_everything_but_regular_files(kind):
    buf = io.BytesIO()
    fmt = tarfile.PAX_FORMAT if kind == "pax" else tarfile.GNU_FORMAT
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        ti = tarfile.TarInfo("x")
        if kind == "pax":
            ti.pax_headers = {"path": "../../etc/passwd"}
        else:
            ti.type = kind
            ti.linkname = "/etc/passwd"
        tf.addfile(ti, io.BytesIO(b""))
    buf.seek(0)
    with pytest.raises(wire.ProtocolError):
        list(wire.tar_members(buf))


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x", "a/../../x", "", ".", "a//b", "a/./b",
                                 ".blockc-sync-id", "d/.blockc-tmp.123", "a\0b"])
def test_paths_that_would_leave_the_zone_are_refused(rel):
    with pytest.raises(wire.PathRefused):
        wire.check_rel(rel)


def test_writes_never_follow_symlinks(tmp_path):
    zone = tmp_path / "zone"
    outside = tmp_path / "outside"
    zone.mkdir()
    outside.mkdir()
    os.symlink(outside, zone / "link")
    os.symlink(outside / "target", zone / "file-link")
    z = wire.Zone(str(zone))
    with pytest.raises(wire.PathRefused):
        z.write("link/x", io.BytesIO(b"x"), 1, 0o644, 0)
    with pytest.raises(wire.PathRefused):
        z.open_read("file-link")
    # writing over a link replaces the link itself (never its target) ...
    z.write("file-link", io.BytesIO(b"new"), 3, 0o644, 0)
    assert not (zone / "file-link").is_symlink() and (zone / "file-link").read_bytes() == b"new"
    assert os.listdir(outside) == []
    # ... and a failed write leaves no temp file behind
    with pytest.raises(wire.ProtocolError):
        z.write("short", io.BytesIO(b"ab"), 10, 0o644, 0)
    assert sorted(os.listdir(zone)) == ["file-link", "link"]


def test_conflict_names():
    t = 0
    assert conflict_name("notes.txt", "demo", t) == "notes.conflict-demo-19700101-000000.txt"
    assert conflict_name("d/a.tar.gz", "demo", t) == "d/a.tar.conflict-demo-19700101-000000.gz"
    assert conflict_name("Makefile", "demo", t) == "Makefile.conflict-demo-19700101-000000"
    assert conflict_name(".bashrc", "demo", t) == ".bashrc.conflict-demo-19700101-000000"
    assert conflict_name("x.txt", "demo", t, 2) == "x.conflict-demo-19700101-000000-2.txt"


def test_excludes_follow_gitignore():
    ex = Excludes(["*.log", "node_modules/", "/top.txt", "build"])
    assert ex("a.log") and ex("x/node_modules/y.js") and ex("top.txt") and not ex("d/top.txt")
    assert ex("build", True) and ex("build") and ex("src/build/x.o")
    assert not ex("src/a.py")
    assert ex.agent_patterns() is not None
    assert Excludes(["*.log", "!keep.log"]).agent_patterns() is None  # negations: host filters alone


def test_baseline_store(tmp_path):
    db = tmp_path / "state.db"
    b = Baseline(db)
    odd = os.fsdecode(b"bad-\xff-name")
    b.reset_zone("s", "z", "id1")
    b.apply("s", "z", [(odd, wire_entry()), ("ok", wire_entry())])
    assert set(b.load("s", "z")) == {odd, "ok"}
    b.apply("s", "z", [], ["ok"])
    assert set(b.load("s", "z")) == {odd}
    b.finish("s", "z", "id1", "pull", True, "x")
    assert b.zone_state("s", "z").clean
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    b.forget("s")
    assert b.load("s", "z") == {} and b.zone_state("s", "z") is None


def wire_entry():
    from blockc.sync import Entry

    return Entry("f", "0" * 64, 1, 2, 0o644, 1, 2, 0o644)


@pytest.fixture
def local(tmp_path):
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    studio = tmp_path / "studio" / "zone"
    zone = Zone("data", "data", str(studio))
    b = Baseline(tmp_path / "state.db")

    def sync(mode="both", **kw):
        r = sync_zone(LocalTransport(), studio="s", zone=zone, workspace=ws, mode=mode, baseline=b,
                      python=sys.executable, **kw)
        print(format_report(r))
        return r

    return ws / "data", studio, sync, (zone, ws, b)


def test_local_roundtrip_conflict_and_mass_delete(local):
    host, studio, sync, (zone, ws, b) = local
    for i in range(12):
        (host / f"f{i}").write_text(str(i))
    assert len(sync().pushed) == 12
    assert sync().moved == 0
    (host / "f0").write_text("host")
    (studio / "f0").write_text("studio!")
    r = sync()
    assert r.exit_code == 1 and r.conflicts[0].copy.startswith("f0.conflict-s-")
    assert (host / "f0").read_text() == "host"
    assert sync().exit_code == 0
    for p in studio.iterdir():
        if p.name.startswith("f"):
            p.unlink()
    with pytest.raises(MassDeletionRefused):
        sync()
    p = pending_changes(LocalTransport(), studio="s", zone=zone, workspace=ws, baseline=b,
                        python=sys.executable)
    assert not p.unsynced_in_studio and p.pulled
    assert len(list(host.iterdir())) == 13
    r = sync(allow_mass_delete=True)
    assert list(host.iterdir()) == []


def test_zone_host_dot_is_the_workspace_itself(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("a")
    studio = tmp_path / "studio"
    b = Baseline(tmp_path / "state.db")
    r = sync_zone(LocalTransport(), studio="s", zone=Zone("all", ".", str(studio)), workspace=ws,
                  baseline=b, python=sys.executable)
    assert [c.path for c in r.pushed] == ["a.txt"] and (studio / "a.txt").read_text() == "a"
