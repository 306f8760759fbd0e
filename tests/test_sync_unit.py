"""File sync without containers: the wire format, the confinement, the decisions (the agent
runs as a local process through LocalTransport). The podman end-to-end tests are in
tests/e2e_sync/."""

from __future__ import annotations

import io
import os
import sqlite3
import sys
import tarfile
from pathlib import Path

import pytest
from compiler_support import studio_row

from blockc.sync import (
    Baseline,
    LocalTransport,
    MassDeletionRefused,
    conflict_name,
    pending_changes,
    sync_zone,
)
from blockc.sync import agent as wire
from blockc.sync.excludes import Excludes
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


@pytest.mark.parametrize(
    "kind",
    [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE, "pax"],
)
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


@pytest.mark.parametrize(
    "rel",
    [
        "/etc/passwd",
        "../x",
        "a/../../x",
        "",
        ".",
        "a//b",
        "a/./b",
        ".blockc-sync-id",
        "d/.blockc-tmp.123",
        "a\0b",
    ],
)
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
    assert (
        Excludes(["*.log", "!keep.log"]).agent_patterns() is None
    )  # negations: host filters alone


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


def test_a_conflict_whose_host_version_cannot_be_read_still_keeps_the_studios(local, monkeypatch):
    """Both sides rewrote a file to the same size, and the host's cannot be read (its hash
    would only tell whether the two new versions are the same): a conflict, the studio's
    version kept beside the host's, and `rm` would refuse (nothing is lost)."""
    from blockc.sync import engine

    host, studio, sync, (zone, ws, b) = local
    (host / "notes.txt").write_text("v0")
    sync()
    (host / "notes.txt").write_text("host")
    (studio / "notes.txt").write_text("stud")
    real = engine._Sync._host_hash
    monkeypatch.setattr(
        engine._Sync,
        "_host_hash",
        lambda self, rel: None if rel == "notes.txt" else real(self, rel),
    )
    p = pending_changes(
        LocalTransport(), studio="s", zone=zone, workspace=ws, baseline=b, python=sys.executable
    )
    assert p.unsynced_in_studio and [c.path for c in p.conflicts] == ["notes.txt"]
    r = sync()
    (conflict,) = r.conflicts
    assert (host / "notes.txt").read_text() == "host"
    assert (host / conflict.copy).read_text() == "stud"


def test_a_file_whose_change_only_its_hash_can_tell_is_left_when_unreadable(local, monkeypatch):
    from blockc.sync import engine

    host, studio, sync, _ = local
    (host / "a.txt").write_text("v0")
    sync()
    (host / "a.txt").write_text("v1")  # the same size, another mtime: touched or modified?
    monkeypatch.setattr(engine._Sync, "_host_hash", lambda self, rel: None)
    r = sync()
    assert [(p.path, p.side, p.reason) for p in r.problems] == [("a.txt", "host", "cannot read")]
    assert not r.pushed and (studio / "a.txt").read_text() == "v0"


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
    p = pending_changes(
        LocalTransport(), studio="s", zone=zone, workspace=ws, baseline=b, python=sys.executable
    )
    assert not p.unsynced_in_studio and p.pulled
    assert len(list(host.iterdir())) == 13
    r = sync(allow_mass_delete=True)
    assert list(host.iterdir()) == []


def test_pull_of_many_files_through_host_writer_threads(local, monkeypatch):
    """A pull of many files writes the small ones on the host from writer threads: contents,
    modes, mtimes, conflicts, report order and the baseline as when written one by one."""
    import hashlib

    pooled = []
    submit = wire.Writers.submit
    monkeypatch.setattr(
        wire.Writers, "submit", lambda self, key, *a: pooled.append(key) or submit(self, key, *a)
    )
    host, studio, sync, (zone, ws, b) = local
    n = wire.PUT_THREADS_MIN + 20
    for i in range(n):
        (host / f"d{i % 4}").mkdir(exist_ok=True)
        (host / f"d{i % 4}" / f"f{i:03}").write_bytes(b"v1 %d" % i)
    (host / "zz.bin").write_bytes(b"0")
    assert sync().exit_code == 0
    assert pooled == []  # pushed: the agent's writer threads are in the studio's process
    for i in range(n):  # changed in the studio (the first three on the host too: conflicts)
        p = studio / f"d{i % 4}" / f"f{i:03}"
        p.write_bytes(os.urandom(i * 41))
        p.chmod((0o644, 0o600, 0o755)[i % 3])
        os.utime(p, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i))
    for i in range(3):
        (host / f"d{i % 4}" / f"f{i:03}").write_bytes(b"host %d" % i)
    (studio / "zz.bin").write_bytes(os.urandom(wire.SMALL + 4096))  # streamed, not pooled
    r = sync("pull")
    assert r.exit_code == 1 and len(r.conflicts) == 3 and len(r.pulled) == n - 3 + 1
    assert len(pooled) == n and "zz.bin" not in pooled
    paths = [c.path for c in r.pulled]
    assert paths == sorted(paths) and paths[-1] == "zz.bin"  # the stream's order, pooled or not
    for i in range(n):
        h, c = host / f"d{i % 4}" / f"f{i:03}", studio / f"d{i % 4}" / f"f{i:03}"
        if i < 3:
            assert h.read_bytes() == b"host %d" % i
            copy = [p for p in h.parent.iterdir() if p.name.startswith(f"f{i:03}.conflict-")]
            assert [p.read_bytes() for p in copy] == [c.read_bytes()]
        else:
            assert h.read_bytes() == c.read_bytes()
            assert h.stat().st_mode & 0o777 == c.stat().st_mode & 0o777
            assert h.stat().st_mtime_ns == c.stat().st_mtime_ns
    assert (host / "zz.bin").read_bytes() == (studio / "zz.bin").read_bytes()
    e = b.load("s", "data")["d3/f003"]
    assert e.sha256 == hashlib.sha256((host / "d3" / "f003").read_bytes()).hexdigest()
    assert not [p for p in host.rglob("*") if p.name.startswith(wire.TMP_PREFIX)]
    r = sync()  # the conflicts' host versions go in; then all is settled
    assert sync().moved == 0


def test_zone_host_dot_is_the_workspace_itself(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("a")
    studio = tmp_path / "studio"
    b = Baseline(tmp_path / "state.db")
    r = sync_zone(
        LocalTransport(),
        studio="s",
        zone=Zone("all", ".", str(studio)),
        workspace=ws,
        baseline=b,
        python=sys.executable,
    )
    assert [c.path for c in r.pushed] == ["a.txt"] and (studio / "a.txt").read_text() == "a"


def _put(root, files, expect=None):
    """One put request (hello first) to an in-process agent; its results."""
    stream = io.BytesIO()
    w = wire.ChunkWriter(stream)
    for rel, (body, mode, mtime) in files.items():
        wire.tar_file(w, rel, len(body), io.BytesIO(body), mode, mtime // 10**9)
    wire.tar_end(w)
    w.close()
    inp = io.BytesIO()
    wire.send(inp, {"op": "hello", "root": str(root)})
    spec = {rel: [mode, mtime, (expect or {}).get(rel)] for rel, (_, mode, mtime) in files.items()}
    wire.send(inp, {"op": "put", "files": spec})
    inp.write(stream.getvalue())
    inp.seek(0)
    out = io.BytesIO()
    wire.Agent(io.BufferedReader(inp), out).serve()
    out.seek(0)
    assert wire.recv(out)["ok"]
    return wire.recv(out)["results"]


@pytest.mark.parametrize(
    "new_files, writes", [("unnamed", "slow"), ("temp-name", "slow"), ("unnamed", "quick")]
)
def test_put_many_files_through_writer_threads(tmp_path, monkeypatch, new_files, writes):
    """A put of many files writes the small ones from writer threads once the first ones were
    slow to write (one by one where they were quick), and new ones as unnamed files linked in
    when complete (O_TMPFILE) or with a temp name where that is not there: the same results
    as one by one, every check kept."""
    created = []
    if new_files == "temp-name":
        monkeypatch.setattr(wire, "_LINK_FD", "")  # no O_TMPFILE (or no /proc) here
    monkeypatch.setattr(wire, "SLOW_WRITE", 0.0 if writes == "slow" else 3600.0)
    pooled = []
    submit = wire.Writers.submit
    monkeypatch.setattr(
        wire.Writers, "submit", lambda self, key, *a: pooled.append(key) or submit(self, key, *a)
    )
    real_open = os.open

    def spy(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            created.append(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(wire.os, "open", spy)
    root = tmp_path / "zone"
    (root / "d").mkdir(parents=True)
    (root / "d" / "exists.txt").write_text("already here")  # appeared since the scan
    (root / "old.txt").write_text("old")  # expected as scanned
    (root / "moved.txt").write_text("changed meanwhile")  # no longer as scanned
    st_old = os.stat(root / "old.txt")
    files = {
        f"d/e{i % 3}/f{i:03}.bin": (
            os.urandom(i * 37),
            (0o644, 0o600, 0o755, 0o444)[i % 4],
            1_600_000_000_123_456_789 + i,
        )
        for i in range(wire.PUT_THREADS_MIN + 10)
    }
    files["big.bin"] = (os.urandom(wire.SMALL + 4096), 0o640, 1_600_000_000_000_000_000)  # streamed
    files["d/exists.txt"] = (b"new", 0o644, 1_600_000_000_000_000_000)
    files["old.txt"] = (b"new old", 0o644, 1_600_000_000_000_000_000)
    files["moved.txt"] = (b"new moved", 0o644, 1_600_000_000_000_000_000)
    res = _put(
        root,
        files,
        expect={"old.txt": ["f", st_old.st_size, st_old.st_mtime_ns], "moved.txt": ["f", 3, 1]},
    )
    assert set(res) == set(files)
    small = [rel for rel, (body, _, _) in files.items() if len(body) <= wire.SMALL]
    if writes == "slow":  # the first ones one by one, then every small one to the writers
        assert pooled == small[wire.PROBE_FILES :]
    else:
        assert pooled == []
    temp_named = [name for name in created if str(name).startswith(wire.TMP_PREFIX)]
    # a temp name: for the files that replace others, and for all where O_TMPFILE is not there
    assert len(temp_named) == (2 if new_files == "unnamed" else len(files))
    for rel in ("d/exists.txt", "moved.txt"):
        assert res[rel][0] == "err" and res[rel][2] is True, res[rel]  # Changed: "next time"
    assert (root / "d" / "exists.txt").read_text() == "already here"
    assert (root / "moved.txt").read_text() == "changed meanwhile"
    for rel, (body, mode, mtime) in files.items():
        if rel in ("d/exists.txt", "moved.txt"):
            continue
        assert res[rel][0] == "ok", (rel, res[rel])
        st = os.stat(root / rel)
        assert (root / rel).read_bytes() == body
        assert st.st_mode & 0o7777 == mode and st.st_mtime_ns == mtime
        assert res[rel][1] == [rel, "f", len(body), mtime, mode, None]
    leftovers = [p for p in root.rglob("*") if p.name.startswith(wire.TMP_PREFIX)]
    assert leftovers == []


def test_sync_of_a_stopped_studio_says_so(tmp_path, monkeypatch):
    """`blockc sync` does not ask the runtime first (that costs as much as the sync's own exec):
    the agent fails to start, and only then is the studio's state asked for."""
    import json

    from blockc.errors import BlockcError
    from blockc.run.progress import Progress
    from blockc.run.settings import Settings
    from blockc.sync import SyncError
    from blockc.sync import studio as syncing

    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))
    (tmp_path / "ws").mkdir()
    studio = studio_row("gone", tmp_path / "ws")
    Path(studio.artifact_dir).mkdir(parents=True)
    (Path(studio.artifact_dir) / "studio.json").write_text(
        json.dumps(
            {
                "image": {"uid": 1000, "gid": 1000},
                "zones": [
                    {
                        "name": "w",
                        "host": "w",
                        "container": "/zones/w",
                        "direction": "both",
                        "exclude": [],
                    }
                ],
            }
        )
    )

    class Refusing(LocalTransport):  # what `podman exec` does for a stopped container
        def _argv(self, argv):
            return ["sh", "-c", "echo 'Error: container state improper' >&2; exit 125"]

    asked = []

    class Runtime:
        def __init__(self, st):
            self.st = st

        def state(self, name):
            asked.append(name)
            return self.st

        def transport(self, name, user):
            return Refusing()

    for st, raised in (("stopped", "is not running"), ("running", "lost the sync agent")):
        monkeypatch.setattr(syncing, "get_runtime", lambda name, settings, st=st: Runtime(st))
        with pytest.raises(BlockcError, match=raised) as exc:
            syncing.sync_command(studio, Settings(), mode="both", progress=Progress(io.StringIO()))
        assert isinstance(exc.value, SyncError) == (st == "running")
    assert asked == ["gone", "gone"]


# ------------------------------------------------------------------ the agent's JSON and start


def _json_values(rnd, depth=0):
    pick = rnd.randrange(8 if depth < 3 else 5)
    if pick == 0:
        return rnd.choice([None, True, False])
    if pick == 1:
        return rnd.choice([0, -1, 1 << 63, -(1 << 70), rnd.randrange(-(10**6), 10**6)])
    if pick in (2, 3, 4):  # names as file names come: any code point, surrogate escapes too
        alphabet = 'aé\n"\\/\t\x00\x7f€😀\udcff '
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(6)))
    if pick in (5, 6):
        return [_json_values(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return {str(rnd.random()): _json_values(rnd, depth + 1) for _ in range(rnd.randrange(4))}


def test_agent_json_carries_any_file_name_as_ascii():
    """Messages are one ASCII line: any code point and surrogate escapes (non-UTF-8 names)
    travel escaped and come back the same."""
    import random

    rnd = random.Random(5)
    for _ in range(3000):
        v = _json_values(rnd)
        text = wire.dumps(v)
        assert text.isascii() and "\n" not in text
        assert wire.loads(text) == v == wire.loads(text.encode("ascii"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "[1,",
        "[1] x",
        "[1]\n",
        " [1]",
        "NaN",
        "[Infinity]",
        "{'a': 1}",
        "[1,]",
        '"\\x41"',
        "\xff",
        b"[\xff]",
        "01",
    ],
)
def test_agent_json_refuses_what_is_not_one_strict_value(text):
    with pytest.raises(ValueError):
        wire.loads(text)


def test_agent_json_refuses_deep_nesting_as_bad_json():
    with pytest.raises(ValueError):
        wire.loads("[" * 200_000 + "]" * 200_000)


def test_an_agent_compiled_in_the_studio_syncs_the_same(local):
    """The agent as source (what a studio whose Python reads other bytecode compiles)."""
    from blockc.sync.session import Session, agent_source

    host, studio, sync, _ = local
    (host / "a.txt").write_text("from the host")
    r = sync("push", agent=Session(LocalTransport(), sys.executable, agent_source()))
    assert [c.path for c in r.pushed] == ["a.txt"]
    (studio / "a.txt").write_text("from the studio")
    r = sync("pull", agent=Session(LocalTransport(), sys.executable, agent_source()))
    assert [c.path for c in r.pulled] == ["a.txt"] and (
        host / "a.txt"
    ).read_text() == "from the studio"


def _boot(magic, code, source, then=b""):
    """Run the agent's start command on a payload (magic, code, source: bytes); its output."""
    import subprocess
    import zlib

    from blockc.sync.session import agent_argv

    c = zlib.compress(code) if code else b""
    s = zlib.compress(source)
    payload = magic + len(c).to_bytes(4, "big") + len(s).to_bytes(4, "big") + c + s
    return subprocess.run(
        agent_argv(sys.executable), input=payload + then, capture_output=True, check=True
    ).stdout


def test_agent_start_runs_the_compiled_code_only_when_the_bytecode_matches():
    import marshal
    from importlib.util import MAGIC_NUMBER

    source = b"import sys; print('source', __name__, sys.stdin.read())"
    code = marshal.dumps(compile(source.replace(b"source", b"code"), "x", "exec"))
    # what follows the payload on stdin is the agent's: nothing of it is read before
    assert _boot(MAGIC_NUMBER, code, source, b"rest") == b"code __main__ rest\n"
    assert _boot(b"\x0d\x0d\x0a\x0d", code, source) == b"source __main__ \n"  # another Python
    assert _boot(MAGIC_NUMBER, b"", source) == b"source __main__ \n"  # nothing compiled


def test_agent_payload_carries_the_compiled_agent_and_fits_a_pipe():
    import marshal
    import zlib
    from importlib.util import MAGIC_NUMBER

    from blockc.sync.session import agent_payload, agent_source

    p = agent_payload()
    nc, ns = int.from_bytes(p[4:8], "big"), int.from_bytes(p[8:12], "big")
    assert p[:4] == MAGIC_NUMBER and len(p) == 12 + nc + ns
    code = marshal.loads(zlib.decompress(p[12 : 12 + nc]))
    assert "Agent" in code.co_names
    assert zlib.decompress(p[12 + nc :]).decode() == agent_source()
    # if this fails, the agent outgrew what a pipe holds by default (64 KiB): writing it waits
    # for the studio's Python to start (~0.2 s) before the host can go on
    assert len(p) < 60_000
    other = agent_payload("pass")  # another agent (tests): its source only
    assert other[4:8] == b"\0\0\0\0" and zlib.decompress(other[12:]) == b"pass"


@pytest.mark.parametrize(
    "op, answer",
    [
        ("put", '{"ok": True, "results": {"a.txt": ["ok", "x"]}}'),
        ("put", '{"ok": True, "results": {"a.txt": ["ok", ["a.txt", "f", "1", 2, 3]]}}'),
        ("put", '{"ok": True, "results": ["a.txt"]}'),
        ("put", '{"ok": True, "results": {"a.txt": 7}}'),
        ("mkdir", '{"ok": True, "results": {"d": ["ok", ["d", "d", 0, None, 493]]}}'),
        ("delete", '{"ok": True, "results": {"gone.txt": ["maybe"]}}'),
        ("hello", '{"ok": True, "protocol": PROTOCOL, "uid": 0, "exists": True, "zone_id": [1]}'),
    ],
)
def test_malformed_agent_answers_are_a_lost_agent_not_a_crash(local, op, answer):
    """The agent is trusted for nothing: an answer of the wrong shape ends the sync with a
    SyncError (exit 1, "bad reply"), never a TypeError or another internal error."""
    from blockc.sync import SyncError
    from blockc.sync.session import Session, agent_source

    host, studio, sync, _ = local
    (host / "gone.txt").write_text("x")
    assert sync().ok
    (host / "gone.txt").unlink()
    (host / "a.txt").write_text("new")
    (host / "d").mkdir()
    evil = (
        agent_source().replace('if __name__ == "__main__":\n    main()', "")
        + f"""
def op_{op}(self, msg):
    if "{op}" == "put":
        ChunkReader(self.inp).drain()
    send(self.out, {answer})
Agent.op_{op} = op_{op}
main()
"""
    )
    with pytest.raises(SyncError, match="bad reply"):
        sync("push", agent=Session(LocalTransport(), sys.executable, evil))
