"""A hostile or emptied studio, without containers (issue 13, points 3, 7 and 11): the agent
runs as a local process through LocalTransport, and a hostile one is the agent's own source
with an operation replaced. The same probes against a real studio are in
tests/e2e_sync/test_sync_hostile_podman.py.

- 3: what a pull writes on the host is bounded (largest file, bytes per sync, the host's free
  space), never more than the agent declared, and sparse files stay sparse;
- 7: text from the studio (file names, the agent's messages, its stderr) reaches a terminal
  escaped;
- 11: a side that holds no file propagates no deletion without allow_mass_delete, whatever
  the count.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from compiler_support import studio_row

from blockc.sync import (
    LocalTransport,
    MassDeletionRefused,
    SyncError,
    format_report,
    pending_changes,
)
from blockc.sync import agent as wire


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != wire.MARKER
    }


def _agent(op: str, body: str):
    """The agent's source with ``op_<op>`` replaced by ``body`` (a hostile studio)."""
    from blockc.sync.session import agent_source

    return (
        agent_source().replace('if __name__ == "__main__":\n    main()', "")
        + f"\nimport io\n{body}\nAgent.op_{op} = op_{op}\nmain()\n"
    )


def _session(source: str):
    from blockc.sync.session import Session

    return Session(LocalTransport(), sys.executable, source)


# ------------------------------------------------------------ 11: an emptied side deletes nothing


def _empty(root: Path, keep_dirs: bool = False) -> None:
    """Empty a zone as a user would (rm -rf zone/*, or only its files), keeping the marker."""
    for p in root.iterdir():
        if p.name == wire.MARKER:
            continue
        if p.is_dir() and not p.is_symlink():
            if keep_dirs:
                for f in p.rglob("*"):
                    if f.is_file():
                        f.unlink()
            else:
                shutil.rmtree(p)
        else:
            p.unlink()


@pytest.mark.parametrize("how", ["emptied", "files-only", "excluded-left"])
def test_an_emptied_studio_zone_deletes_nothing_on_the_host_whatever_the_count(local, how):
    """Three files (well below the mass-deletion threshold of ten) and a zone emptied in the
    studio: no deletion reaches the host without allow_mass_delete. Emptied: nothing left but
    blockc's marker; or only the directories left; or only excluded files."""
    host, studio, sync, (zone, ws, b) = local
    (host / "a.txt").write_text("a")
    (host / "b.txt").write_text("b")
    (host / "d").mkdir()
    (host / "d" / "c.txt").write_text("c")
    assert sync().ok and len(_files(studio)) == 3
    before = _files(host)
    _empty(studio, keep_dirs=how == "files-only")
    if how == "excluded-left":
        (studio / "run.log").write_text("excluded: never synced")
    with pytest.raises(MassDeletionRefused, match="holds no file") as exc:
        sync("pull")
    assert "--allow-mass-delete" in str(exc.value)
    # (it names what it would delete: what the user confirms, at a shell or on the page)
    assert "It would delete:\n    'a.txt'\n    'b.txt'\n    'd/c.txt'" in str(exc.value)
    assert _files(host) == before
    with pytest.raises(MassDeletionRefused):
        sync("both")
    assert _files(host) == before
    p = pending_changes(
        LocalTransport(), studio="s", zone=zone, workspace=ws, baseline=b, python=sys.executable
    )
    assert any("would delete 3" in x.reason and x.side == "host" for x in p.problems), p.problems
    r = sync("pull", allow_mass_delete=True)
    assert r.ok and sorted(c.path for c in r.pulled if c.type == "f") == [
        "a.txt",
        "b.txt",
        "d/c.txt",
    ]
    assert _files(host) == {}


def test_an_emptied_host_zone_deletes_nothing_in_the_studio(local):
    """The same the other way: one file in the zone, deleted on the host, stays in the studio."""
    host, studio, sync, _ = local
    (host / "only.txt").write_text("the only file")
    assert sync().ok
    (host / "only.txt").unlink()
    with pytest.raises(MassDeletionRefused, match="the host side holds no file"):
        sync("push")
    assert (studio / "only.txt").read_text() == "the only file"
    r = sync("push", allow_mass_delete=True)
    assert [c.path for c in r.pushed] == ["only.txt"] and not (studio / "only.txt").exists()


def test_deletions_from_a_side_that_still_holds_files_go_through(local):
    """Below the threshold, with a file left on the side that deleted: synced as before."""
    host, studio, sync, _ = local
    for i in range(4):
        (host / f"f{i}.txt").write_text(str(i))
    assert sync().ok
    for i in range(3):
        (studio / f"f{i}.txt").unlink()
    r = sync("pull")
    assert r.ok and sorted(c.path for c in r.pulled) == ["f0.txt", "f1.txt", "f2.txt"]
    assert _files(host) == {"f3.txt": b"3"}
    # directories alone deleted from a side that holds no file: nothing with content is lost
    (host / "f3.txt").unlink()
    r = sync("push", allow_mass_delete=True)
    (host / "empty").mkdir()
    assert sync().ok
    (studio / "empty").rmdir()
    r = sync("pull")
    assert r.ok and [c.path for c in r.pulled] == ["empty"] and not (host / "empty").exists()


# ------------------------------------------------------------------ 7: escaped for a terminal

ESC_NAME = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\u202etxt.exe\x9b1m\r.txt"


def _terminal_safe(text: str) -> bool:
    """Nothing a terminal would act on: printable characters and line breaks only."""
    return all(c.isprintable() or c == "\n" for c in text)


def test_shown_escapes_every_unprintable_character_and_nothing_else():
    from blockc.sync.report import shown

    everything = "".join(map(chr, range(0x110000)))
    out = shown(everything)
    assert out.isprintable()
    # reversible: every backslash is doubled, so an escape is never ambiguous
    back = codecs.decode(out.encode("ascii", "backslashreplace"), "unicode_escape")
    assert back == everything
    assert shown("plain name.txt") == "plain name.txt"
    assert shown("ünï/文件 (1).txt") == "ünï/文件 (1).txt"
    assert shown("a\\b") == "a\\\\b" and shown("\x1b[2J") == "\\x1b[2J"
    assert shown(os.fsdecode(b"bad-\xff")) == "bad-\\udcff"


def test_a_conflict_copy_named_with_escape_sequences_is_reported_escaped(local):
    host, studio, sync, _ = local
    (host / ESC_NAME).write_text("v0")
    assert sync().ok
    (host / ESC_NAME).write_text("host!")
    (studio / ESC_NAME).write_text("studio")
    r = sync()
    (conflict,) = r.conflicts
    assert conflict.copy is not None and "\x1b" in conflict.copy  # the copy's real name
    assert (host / conflict.copy).read_text() == "studio"
    for verbose in (False, True):
        text = format_report(r, verbose=verbose)
        assert _terminal_safe(text), text
        assert "\\x1b]0;owned\\x07" in text and "\\u202e" in text and "\\x9b" in text


def test_the_agents_messages_reach_the_terminal_escaped(local):
    """An error message, a protocol number, a reason for a path and the agent's stderr: all
    studio text, all escaped wherever they are shown."""
    host, studio, sync, _ = local
    (host / "a.txt").write_text("a")
    evil = "\x1b]0;owned\x07\x1b[2J"
    hello_error = _agent(
        "hello", f"def op_hello(self, msg):\n    send(self.out, {{'ok': False, 'error': {evil!r}}})"
    )
    with pytest.raises(SyncError) as exc:
        sync(agent=_session(hello_error))
    assert _terminal_safe(str(exc.value)) and "\\x1b]0;owned" in str(exc.value)
    protocol = _agent(
        "hello",
        f"def op_hello(self, msg):\n    send(self.out, {{'ok': True, 'protocol': {evil!r}}})",
    )
    with pytest.raises(SyncError) as exc:
        sync(agent=_session(protocol))
    assert _terminal_safe(str(exc.value)), str(exc.value)
    stderr = _agent(
        "scan",
        f"def op_scan(self, msg):\n    sys.stderr.write({evil!r}); sys.stderr.flush(); os._exit(3)",
    )
    with pytest.raises(SyncError) as exc:
        sync(agent=_session(stderr))
    assert "\\x1b" in str(exc.value) and _terminal_safe(str(exc.value)), str(exc.value)
    put = _agent(
        "put",
        "def op_put(self, msg):\n    ChunkReader(self.inp).drain()\n"
        f"    send(self.out, {{'ok': True, 'results': {{p: ['err', {evil!r}] for p in msg['files']}}}})",
    )
    r = sync("push", agent=_session(put))
    assert [p.path for p in r.problems] == ["a.txt"] and "\x1b" in r.problems[0].reason
    assert _terminal_safe(format_report(r)) and "\\x1b]0;owned" in format_report(r)


def test_what_rm_would_lose_is_listed_escaped(recorded):
    from blockc.run.settings import Settings
    from blockc.sync import studio as syncing

    s, ws, zones = recorded([{"name": "w", "limits": None}])
    (zones["w"] / ESC_NAME).parent.mkdir(parents=True, exist_ok=True)
    (zones["w"] / ESC_NAME).write_text("only in the studio")
    lost = syncing.pending(s, Settings(), running=True)
    assert len(lost) == 1 and all(_terminal_safe(line) for line in lost), lost
    assert "\\x1b]0;owned" in lost[0]


# ------------------------------------------------------ 3: what a pull may write on the host


def test_a_file_over_the_zones_largest_file_limit_is_skipped_and_the_rest_syncs(local):
    from blockc.sync.limits import Limits

    host, studio, sync, _ = local
    (host / "big.bin").write_bytes(b"the host's version")
    assert sync().ok
    big = os.urandom(3000)
    (studio / "big.bin").write_bytes(big)
    (studio / "new-big.bin").write_bytes(big)
    (studio / "small.txt").write_text("small")
    r = sync("pull", limits=Limits(max_file=2048))
    assert [c.path for c in r.pulled] == ["small.txt"]
    assert sorted(p.path for p in r.errors) == ["big.bin", "new-big.bin"]
    assert all("largest-file limit" in p.reason for p in r.errors), r.errors
    assert r.exit_code == 1
    assert (host / "big.bin").read_bytes() == b"the host's version"  # nothing on the host lost
    assert not (host / "new-big.bin").exists()
    r = sync("pull", limits=Limits(max_file=3000))
    assert r.ok and sorted(c.path for c in r.pulled) == ["big.bin", "new-big.bin"]
    assert (host / "big.bin").read_bytes() == big


def test_a_pull_writes_at_most_the_zones_bytes_per_sync(local):
    from blockc.sync.limits import Limits

    host, studio, sync, _ = local
    studio.mkdir(parents=True)
    for i in range(5):
        (studio / f"f{i}.bin").write_bytes(bytes([i + 1]) * 1000)
    r = sync("pull", limits=Limits(max_total=2500))
    assert [c.path for c in r.pulled] == ["f0.bin", "f1.bin"] and r.bytes_pulled == 2000
    assert [p.path for p in r.errors] == ["f2.bin", "f3.bin", "f4.bin"]
    assert all("per sync" in p.reason for p in r.errors), r.errors
    r = sync("pull", limits=Limits(max_total=2500))
    assert [c.path for c in r.pulled] == ["f2.bin", "f3.bin"]
    r = sync("pull", limits=Limits(max_total=2500))
    assert r.ok and [c.path for c in r.pulled] == ["f4.bin"]
    assert _files(host) == _files(studio)


def test_a_pull_keeps_the_hosts_free_space(local, monkeypatch):
    """The host's free space is asked before writing: a file that would leave less than
    min_free is skipped (the conflict copy of a file changed on both sides too)."""
    from blockc.sync.limits import Limits

    host, studio, sync, _ = local
    (host / "both.txt").write_text("v0")
    assert sync().ok
    (host / "both.txt").write_text("host")
    (studio / "both.txt").write_bytes(b"s" * 2500)  # its conflict copy: more than there is room
    for i in range(3):
        (studio / f"f{i}.bin").write_bytes(b"x" * 1000)
    asked = []
    real = os.statvfs

    class Fake:  # 1 MiB to keep free, and room for two files of 1000 bytes above it
        f_frsize = 1
        f_bavail = (1 << 20) + 2200
        f_blocks = 1 << 40

    def statvfs(path):
        if not isinstance(path, int):
            return real(path)
        asked.append(path)
        return Fake()

    monkeypatch.setattr(os, "statvfs", statvfs)
    r = sync("pull", limits=Limits(min_free=1 << 20))
    assert asked, "the host's free space was never asked"
    got = sorted(c.path for c in r.pulled)
    skipped = sorted(p.path for p in r.errors)
    assert got == ["f0.bin", "f1.bin"] and skipped == ["both.txt", "f2.bin"]
    assert all("free" in p.reason for p in r.errors), r.errors
    assert (host / "both.txt").read_text() == "host"  # its copy was skipped: kept in place
    assert not [p for p in host.iterdir() if ".conflict-" in p.name]
    assert sum(len(b) for b in _files(host).values()) <= 2000 + len("host")


def test_a_pull_never_writes_more_than_the_agent_declared(local):
    """The scan said 2 bytes; the agent's stream says 1 MiB: the sync stops (a protocol
    error), and the host's file is as it was."""
    host, studio, sync, _ = local
    (host / "a.txt").write_text("v0")
    assert sync().ok
    (studio / "a.txt").write_text("v1")
    liar = _agent(
        "get",
        "def op_get(self, msg):\n"
        "    items = msg.get('files') or [[p, None] for p in msg.get('paths', [])]\n"
        "    out = ChunkWriter(self.out)\n"
        "    for rel, _ in items:\n"
        "        data = b'x' * (1 << 20)\n"
        "        tar_file(out, rel, len(data), io.BytesIO(data), 0o644, 0)\n"
        "    tar_end(out); out.close()\n"
        "    send(self.out, {'ok': True, 'results': {}})",
    )
    with pytest.raises(SyncError, match="declared"):
        sync("pull", agent=_session(liar))
    assert (host / "a.txt").read_text() == "v0"
    assert not [p for p in host.iterdir() if p.name.startswith(wire.TMP_PREFIX)]
    assert sync("pull").ok and (host / "a.txt").read_text() == "v1"


def test_a_file_that_grew_since_the_scan_is_left_for_the_next_sync(local, monkeypatch):
    """An honest agent sends a file only at the size it declared in its scan."""
    host, studio, sync, (zone, ws, b) = local
    (studio).mkdir(parents=True)
    (studio / "log.txt").write_text("line 1\n")
    grow = _agent(
        "get",
        "real_get = Agent.op_get\n"
        "def op_get(self, msg):\n"
        "    with open(os.path.join(self.root, 'log.txt'), 'a') as f:\n"
        "        f.write('line 2\\n')\n"
        "    real_get(self, msg)",
    )
    r = sync("pull", agent=_session(grow))
    assert [p.path for p in r.errors] == ["log.txt"] and "next time" in r.errors[0].reason
    assert not (host / "log.txt").exists()
    assert sync("pull").ok and (host / "log.txt").read_text() == "line 1\nline 2\n"


def _sparse(path: Path, size: int, data: dict[int, bytes]) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
        for at, chunk in data.items():
            f.seek(at)
            f.write(chunk)


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_sparse_files_stay_sparse(local, direction, tmp_path, monkeypatch):
    """64 MiB with 12 KiB of data in it (and a hole at its end), a file of zeros: the copy
    holds the same bytes in about as little space (blocks of 64 KiB of zeros become holes),
    and the holes cross as runs of zeros, not as data."""
    probe = tmp_path / "probe"
    _sparse(probe, 1 << 20, {})
    if _allocated(probe) != 0:
        pytest.skip("this file system keeps no holes")
    sent = {"data": 0, "zeros": 0}  # what the host's end of the stream saw
    if direction == "pull":
        real_next = wire.ChunkReader._next

        def _next(self):
            real_next(self)
            sent["zeros" if getattr(self, "zero", False) else "data"] += self.left

        monkeypatch.setattr(wire.ChunkReader, "_next", _next)
    else:
        real_write, real_zeros = wire.ChunkWriter.write, getattr(wire.ChunkWriter, "zeros", None)

        def write(self, data):
            sent["data"] += len(data)
            return real_write(self, data)

        monkeypatch.setattr(wire.ChunkWriter, "write", write)
        if real_zeros is not None:

            def zeros(self, n):
                sent["zeros"] += n
                return real_zeros(self, n)

            monkeypatch.setattr(wire.ChunkWriter, "zeros", zeros)
    host, studio, sync, _ = local
    src, dst = (studio, host) if direction == "pull" else (host, studio)
    src.mkdir(parents=True, exist_ok=True)
    _sparse(
        src / "sparse.img",
        64 << 20,
        {0: b"head", 10 << 20: os.urandom(4096), (40 << 20) + 5: b"x" * 4096},
    )
    _sparse(src / "zeros.bin", 5 << 20, {})
    (src / "dense.bin").write_bytes(os.urandom(3 << 20))
    r = sync(direction)
    assert r.ok
    for name in ("sparse.img", "zeros.bin", "dense.bin"):
        assert os.path.getsize(dst / name) == os.path.getsize(src / name)
        assert _digest(dst / name) == _digest(src / name), name
    print({n: (_allocated(src / n), _allocated(dst / n)) for n in ("sparse.img", "zeros.bin")})
    assert _allocated(dst / "sparse.img") <= 512 << 10  # about the 64 KiB around each write
    assert _allocated(dst / "zeros.bin") == 0
    assert _allocated(dst / "dense.bin") >= 3 << 20
    print(sent)
    assert sent["data"] < (3 << 20) + (256 << 10) and sent["zeros"] > 64 << 20


def test_write_at_makes_holes_of_zero_runs_only(tmp_path):
    """Zeros read in whole blocks become holes, a trailing hole too; data in between is
    written where it belongs."""
    pieces = [bytes(1 << 20), b"data" + bytes(100), bytes(1 << 20), bytes(7)]
    body = b"".join(pieces)

    class Src:
        def __init__(self):
            self.parts = list(pieces)

        def read(self, n):
            return self.parts.pop(0) if self.parts else b""

    probe = tmp_path / "probe"
    _sparse(probe, 1 << 20, {})
    if _allocated(probe) != 0:
        pytest.skip("this file system keeps no holes")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st, sha = wire.write_at(fd, "f", "f", Src(), len(body), 0o644, 0)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == body and st.st_size == len(body)
    assert sha == hashlib.sha256(body).hexdigest()
    assert _allocated(tmp_path / "f") <= 64 << 10  # the block of "data" alone


def test_runs_of_zeros_on_the_wire_cost_no_memory_and_are_checked():
    """A run of zeros is a 4-byte chunk head; whoever reads it gets at most IO bytes at a
    time, however long the run (a hostile studio sends 1 GiB runs for nothing)."""
    import struct

    buf = io.BytesIO()
    w = wire.ChunkWriter(buf)
    w.write(b"head")
    w.zeros(wire.MAX_ZERO_RUN + 5)
    w.write(b"tail")
    w.close()
    assert len(buf.getvalue()) < 64
    buf.seek(0)
    r = wire.ChunkReader(buf)
    sizes, total, seen = set(), 0, bytearray()
    for data in iter(r.read, b""):
        sizes.add(len(data))
        total += len(data)
        if data.strip(b"\0"):
            seen += data.strip(b"\0")
    assert max(sizes) <= wire.IO and total == 8 + wire.MAX_ZERO_RUN + 5 and seen == b"headtail"
    for bad in (wire.ZERO_RUN, wire.ZERO_RUN | (wire.MAX_ZERO_RUN + 1)):
        with pytest.raises(wire.ProtocolError):
            wire.ChunkReader(io.BytesIO(struct.pack(">I", bad))).read()


def test_write_at_keeps_every_byte_whatever_the_runs_of_zeros(tmp_path):
    """Random files of data and zeros in runs of any length, read in pieces of any size: the
    same bytes and hash come out, never more space than a dense copy."""
    import random

    rnd = random.Random(13)
    for k in range(60):
        runs = []
        for _ in range(rnd.randrange(1, 12)):
            n = rnd.choice([1, 7, 4096, 65535, 65536, 65537, 3 * 65536, 300_000])
            runs.append(bytes(n) if rnd.random() < 0.5 else rnd.randbytes(n))
        body = b"".join(runs)

        class Src:
            def __init__(self, body):
                self.body, self.pos = body, 0

            def read(self, n):
                n = min(n, rnd.choice([1, 512, 65536, 100_000, 1 << 20]))
                data = self.body[self.pos : self.pos + n]
                self.pos += len(data)
                return data

        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            st, sha = wire.write_at(fd, f"f{k}", f"f{k}", Src(body), len(body), 0o600, 0)
        finally:
            os.close(fd)
        assert (tmp_path / f"f{k}").read_bytes() == body, k
        assert st.st_size == len(body) and sha == hashlib.sha256(body).hexdigest()
        assert _allocated(tmp_path / f"f{k}") <= len(body) + (64 << 10)


# -------------------------------------------------- 3: limits from the site and the template


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """recorded(zones) -> (studio record, workspace, {zone name: its studio dir}): a studio in
    a scratch BLOCKC_HOME whose runtime reaches a local agent. ``zones``: dicts with a name
    and optionally ``limits`` (the key left out when None)."""
    from blockc.sync import studio as syncing

    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))

    class Runtime:
        def state(self, name):
            return "running"

        def transport(self, name, user):
            return LocalTransport()

    monkeypatch.setattr(syncing, "get_runtime", lambda name, settings: Runtime())

    def make(zones):
        ws = tmp_path / "ws"
        ws.mkdir(exist_ok=True)
        s = studio_row("hostile", ws)
        Path(s.artifact_dir).mkdir(parents=True, exist_ok=True)
        specs, dirs = [], {}
        for z in zones:
            dirs[z["name"]] = tmp_path / "studio" / z["name"]
            spec = {
                "name": z["name"],
                "host": z["name"],
                "container": str(dirs[z["name"]]),
                "direction": "both",
                "exclude": [],
            }
            if z.get("limits") is not None:
                spec["limits"] = z["limits"]
            specs.append(spec)
        (Path(s.artifact_dir) / "studio.json").write_text(
            json.dumps({"image": {"uid": os.getuid(), "gid": os.getgid()}, "zones": specs})
        )
        return s, ws, dirs

    return make


def test_limits_come_from_the_site_and_a_zone_of_the_template(recorded, monkeypatch):
    """The site's sync_max_file (here from BLOCKC_SYNC_MAX_FILE) for a zone that says nothing;
    a zone's own limits (studio.json, from the file-sync block) over it."""
    from blockc.run.progress import Progress
    from blockc.run.settings import load_settings
    from blockc.sync import studio as syncing

    monkeypatch.setenv("BLOCKC_SYNC_MAX_FILE", "1K")
    settings = load_settings()
    assert settings.sync_max_file == "1K"
    s, ws, dirs = recorded(
        [{"name": "site"}, {"name": "own", "limits": {"max_file": "2KiB", "max_total": 5000}}]
    )
    for name in dirs:
        dirs[name].mkdir(parents=True)
        (dirs[name] / "k1.5.bin").write_bytes(b"1" * 1536)
        (dirs[name] / "k0.5.bin").write_bytes(b"2" * 512)
    out = io.StringIO()
    reports = syncing.sync_studio(s, settings, mode="pull", progress=Progress(out))
    by = {r.zone: r for r in reports}
    assert [c.path for c in by["site"].pulled] == ["k0.5.bin"]
    assert [p.path for p in by["site"].errors] == ["k1.5.bin"]
    assert "sync_max_file" in by["site"].errors[0].reason
    assert by["own"].ok and sorted(c.path for c in by["own"].pulled) == ["k0.5.bin", "k1.5.bin"]
    assert "k1.5.bin" in out.getvalue() and "largest-file limit" in out.getvalue()


@pytest.mark.parametrize(
    "setting, value, error",
    [
        ("BLOCKC_SYNC_MAX_FILE", "lots", "setting sync_max_file: 'lots' is not a size"),
        ("BLOCKC_SYNC_MAX_TOTAL", "-1G", "setting sync_max_total"),
        ("BLOCKC_SYNC_MIN_FREE", "none", "setting sync_min_free"),
    ],
)
def test_a_bad_limit_setting_is_a_clear_error(recorded, monkeypatch, setting, value, error):
    from blockc.errors import BlockcError
    from blockc.run.progress import Progress
    from blockc.run.settings import load_settings
    from blockc.sync import studio as syncing

    monkeypatch.setenv(setting, value)
    s, ws, dirs = recorded([{"name": "w"}])
    with pytest.raises(BlockcError, match=error):
        syncing.sync_studio(s, load_settings(), mode="pull", progress=Progress(io.StringIO()))


@pytest.mark.parametrize(
    "text, size",
    [
        ("0", 0),
        ("1048576", 1 << 20),
        ("512M", 512 << 20),
        ("4G", 4 << 30),
        ("4 GiB", 4 << 30),
        ("4gb", 4 << 30),
        ("1.5T", 3 << 39),
        ("2k", 2048),
        ("7B", 7),
        ("none", None),
        (4096, 4096),
    ],
)
def test_sizes(text, size):
    from blockc.sync.limits import parse_size

    assert parse_size(text, "x") == size


@pytest.mark.parametrize("text", ["", "G", "4X", "-1", "1e9", "4G\n", "none\n", True, 1.5, -3])
def test_bad_sizes(text):
    from blockc.errors import BlockcError
    from blockc.sync.limits import parse_size

    with pytest.raises(BlockcError):
        parse_size(text, "x")


def test_the_file_sync_block_takes_zone_limits(tmp_path, core_registry):
    """The zone schema takes what the sync takes: sizes, bytes, none; nothing else."""
    from blockc.testing import compile_block

    def compiled(limits, where):
        zone = {"name": "w", "host": "w", "container": "/home/studio/w", "limits": limits}
        return compile_block(
            "file-sync", {"zones": [zone]}, tmp_path / where, registry=core_registry
        )

    for i, good in enumerate(
        [
            {"max_file": "4G"},
            {"max_total": 1 << 34, "max_file": "none"},
            {},
            {"max_file": "512 MiB"},
        ]
    ):
        r = compiled(good, f"good{i}")
        assert r.ok, r.messages
    for i, bad in enumerate(
        [{"max_file": "lots"}, {"max_file": -1}, {"maxfile": "1G"}, {"min_free": "1G"}, "1G"]
    ):
        r = compiled(bad, f"bad{i}")
        assert not r.ok and any("limits" in d.path for d in r.diagnostics), (bad, r.messages)


def test_a_templates_zone_limits_reach_studio_json(tmp_path, core_registry):
    from blockc.testing import compile_block

    zone = {"name": "w", "host": "w", "container": "/home/studio/w", "limits": {"max_file": "1G"}}
    r = compile_block("file-sync", {"zones": [zone]}, tmp_path, registry=core_registry)
    assert r.ok, r.messages
    (z,) = json.loads(r.text("studio.json"))["zones"]
    assert z["limits"] == {"max_file": "1G"}


# ------------------------------- 3: what a studio's scan declares is checked, and every entry counts


def _edited_scan(edit: str):
    """A hostile agent: its real scan, each entry ``item`` it reports replaced by the list of
    entries ``edit`` (an expression of ``item``) gives."""
    return _agent(
        "scan",
        "real_scan = Agent.op_scan\n"
        "def op_scan(self, msg):\n"
        "    real_write = ChunkWriter.write\n"
        "    def write(w, data):\n"
        "        for line in data.splitlines():\n"
        "            item = loads(line)\n"
        f"            for it in ({edit}):\n"
        "                real_write(w, dumps(it).encode('ascii') + b'\\n')\n"
        "        return len(data)\n"
        "    ChunkWriter.write = write\n"
        "    try:\n"
        "        real_scan(self, msg)\n"
        "    finally:\n"
        "        ChunkWriter.write = real_write",
    )


def _fake_statvfs(
    monkeypatch, bavail: int, favail: int = 1 << 40, files: int = 1 << 40, host: Path | None = None
):
    """The host's file system, as statvfs tells it: ``bavail`` bytes and ``favail`` inodes
    free, less what is in ``host`` now (an entry: ENTRY_COST bytes at least, and one inode)."""
    from blockc.sync.limits import ENTRY_COST

    real = os.statvfs

    def statvfs(path):
        if not isinstance(path, int):
            return real(path)
        there = list(host.rglob("*")) if host is not None else []
        used = sum(max(p.stat().st_size if p.is_file() else 0, ENTRY_COST) for p in there)

        class Fake:
            f_frsize = 1
            f_bavail = bavail - used
            f_blocks = 1 << 40
            f_files = files
            f_favail = favail - len(there)

        return Fake()

    monkeypatch.setattr(os, "statvfs", statvfs)


@pytest.mark.parametrize("limit", ["max_total", "min_free"])
def test_a_negative_size_in_the_scan_lifts_no_limit(local, monkeypatch, limit):
    """A decoy declared at -2**60 bytes first, then three real files of 1000 bytes: the scan
    is refused (a protocol error), nothing is written on the host."""
    from blockc.sync.limits import Limits

    host, studio, sync, _ = local
    studio.mkdir(parents=True)
    for i in range(3):
        (studio / f"f{i}.bin").write_bytes(b"x" * 1000)
    decoy = _edited_scan(
        "[['0decoy', 'f', -(1 << 60), 0, 0o644, None], item] if item[0] == 'f0.bin' else [item]"
    )
    if limit == "max_total":
        limits = Limits(max_total=1500)
    else:  # room for one file above min_free
        _fake_statvfs(monkeypatch, (1 << 20) + 1500)
        limits = Limits(min_free=1 << 20)
    with pytest.raises(SyncError, match="bad scan"):
        sync("pull", limits=limits, agent=_session(decoy))
    assert _files(host) == {}


@pytest.mark.parametrize(
    "at, value",
    [
        (2, -1),  # size
        (2, 1 << 63),
        (3, 10**30),  # mtime (ns)
        (3, -(1 << 63) - 1),
        (4, 2**70),  # mode
        (4, -1),
        (4, 0o200000),
    ],
)
def test_a_scan_value_out_of_range_is_a_protocol_error(local, at, value):
    """Out of range sizes, mtimes or modes: the zone's sync fails clearly (never an internal
    error), and nothing is written on the host."""
    host, studio, sync, _ = local
    (host / "a.txt").write_text("v0")
    assert sync().ok
    (studio / "a.txt").write_text("v1")
    (studio / "b.txt").write_text("new")
    bad = _edited_scan(
        f"[item[:{at}] + [{value!r}] + item[{at + 1}:]] if item[0] == 'a.txt' else [item]"
    )
    with pytest.raises(SyncError, match="bad scan"):
        sync("pull", agent=_session(bad))
    assert _files(host) == {"a.txt": b"v0"}
    assert not [p for p in host.iterdir() if p.name.startswith(wire.TMP_PREFIX)]


@pytest.mark.parametrize("at, value", [(2, 1 << 64), (3, 10**30), (4, 2**70), (4, -1)])
def test_a_put_answer_out_of_range_is_a_protocol_error(local, at, value):
    """The agent's answer to a put is recorded in the baseline: out of range, the sync fails
    clearly (not an overflow in the baseline)."""
    host, studio, sync, _ = local
    (host / "a.txt").write_text("a")
    entry = ["f", None, 1, 0, 0o644]
    entry[at] = value
    put = _agent(
        "put",
        "def op_put(self, msg):\n    ChunkReader(self.inp).drain()\n"
        f"    send(self.out, {{'ok': True, 'results': {{p: ['ok', {entry!r}] for p in msg['files']}}}})",
    )
    with pytest.raises(SyncError, match="bad reply"):
        sync("push", agent=_session(put))


def test_directories_and_empty_files_count_against_the_bytes_of_a_sync(local):
    """Every directory and every empty file counts (ENTRY_COST bytes) against max_total: with
    none to spend, none is created on the host; the rest comes with the next syncs."""
    from blockc.sync.limits import ENTRY_COST, Limits

    host, studio, sync, _ = local
    studio.mkdir(parents=True)
    for i in range(30):
        (studio / f"d{i:02}").mkdir()
    (studio / "empty").write_bytes(b"")
    r = sync("pull", limits=Limits(max_file=0, max_total=0))
    assert not r.pulled and len(r.errors) == 31
    assert all("per sync" in p.reason for p in r.errors), r.errors
    assert sorted(p.name for p in host.iterdir()) == []
    r = sync("pull", limits=Limits(max_total=10 * ENTRY_COST))
    assert [c.path for c in r.pulled] == [f"d{i:02}" for i in range(10)]
    assert len(r.errors) == 21 and len(list(host.iterdir())) == 10
    for _ in range(3):
        r = sync("pull", limits=Limits(max_total=10 * ENTRY_COST))
    assert r.ok and sorted(p.name for p in host.iterdir()) == sorted(
        p.name for p in studio.iterdir() if p.name != wire.MARKER
    )


def test_a_sync_creates_at_most_max_entries_on_the_host(local):
    """``max_entries``: the directories and files one sync creates; those beyond are
    reported and skipped (with what they hold), and come with the next sync."""
    from blockc.sync.limits import DEFAULT_MAX_ENTRIES, Limits

    assert Limits().max_entries == DEFAULT_MAX_ENTRIES
    host, studio, sync, _ = local
    studio.mkdir(parents=True)
    for i in range(25):
        (studio / f"d{i:02}").mkdir()
    (studio / "d24" / "f.txt").write_text("in the last directory")
    r = sync("pull", limits=Limits(max_entries=10))
    assert [c.path for c in r.pulled] == [f"d{i:02}" for i in range(10)]
    assert [p.path for p in r.errors] == [f"d{i:02}" for i in range(10, 25)] + ["d24/f.txt"]
    assert "entries" in r.errors[0].reason and "d24" in r.errors[-1].reason
    assert len(list(host.iterdir())) == 10
    assert sync("pull", limits=Limits(max_entries=10)).pulled
    r = sync("pull", limits=Limits(max_entries=10))
    assert r.ok and (host / "d24" / "f.txt").read_text() == "in the last directory"


def test_the_directories_a_file_would_create_count_as_entries(local):
    """A scan that declares a deep file and none of its directories: the directories its
    write would create count too."""
    from blockc.sync.limits import Limits

    host, studio, sync, _ = local
    (studio / "a" / "b" / "c" / "d").mkdir(parents=True)
    (studio / "a" / "b" / "c" / "d" / "f.txt").write_text("deep")
    no_dirs = _edited_scan("[] if item[1] == 'd' else [item]")
    r = sync("pull", limits=Limits(max_entries=4), agent=_session(no_dirs))
    assert [p.path for p in r.errors] == ["a/b/c/d/f.txt"] and not list(host.iterdir())
    r = sync("pull", limits=Limits(max_entries=5), agent=_session(no_dirs))
    assert r.ok and (host / "a" / "b" / "c" / "d" / "f.txt").read_text() == "deep"


def test_a_pull_keeps_the_hosts_free_inodes(local, monkeypatch):
    """The file system's free inodes are asked: a pull leaves a reserve of them."""
    from blockc.sync.limits import MIN_FREE_INODES, Limits

    host, studio, sync, _ = local
    studio.mkdir(parents=True)
    for i in range(10):
        (studio / f"d{i}").mkdir()
    for i in range(3):
        (studio / f"f{i}.txt").write_text("f")
    _fake_statvfs(monkeypatch, 1 << 40, favail=MIN_FREE_INODES + 8, host=host)
    r = sync("pull", limits=Limits(min_free=0))
    assert len(r.pulled) == 8 and len(r.errors) == 5
    assert all("inodes" in p.reason for p in r.errors), r.errors
    assert len(list(host.iterdir())) == 8


def test_directories_and_empty_files_count_against_the_hosts_free_space(local, monkeypatch):
    from blockc.sync.limits import ENTRY_COST, Limits

    host, studio, sync, _ = local
    studio.mkdir(parents=True)
    for i in range(10):
        (studio / f"d{i}").mkdir()
    (studio / "empty").write_bytes(b"")
    _fake_statvfs(monkeypatch, (1 << 20) + 4 * ENTRY_COST + 100, host=host)
    r = sync("pull", limits=Limits(min_free=1 << 20))
    assert len(r.pulled) == 4 and len(r.errors) == 7
    assert all("free space" in p.reason for p in r.errors), r.errors
    assert len(list(host.iterdir())) == 4


def test_max_entries_comes_from_a_site_setting_when_the_settings_have_one():
    from types import SimpleNamespace

    from blockc.errors import BlockcError
    from blockc.sync.limits import DEFAULT_MAX_ENTRIES, site_limits

    assert site_limits(SimpleNamespace()).max_entries == DEFAULT_MAX_ENTRIES
    assert site_limits(SimpleNamespace(sync_max_entries="500")).max_entries == 500
    assert site_limits(SimpleNamespace(sync_max_entries="none")).max_entries is None
    with pytest.raises(BlockcError, match="sync_max_entries"):
        site_limits(SimpleNamespace(sync_max_entries="5G"))
