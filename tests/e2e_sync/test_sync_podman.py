"""File sync end to end on real podman (SPEC §7, issue 5): files really move through
``podman exec`` into a container running as user 1000."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sync_helpers import Env, contents

from blockc.sync import (
    Baseline,
    MassDeletionRefused,
    PodmanTransport,
    SyncError,
    format_report,
    pending_changes,
    sync_zone,
    sync_zones,
)
from blockc.sync.session import Session, agent_source
from blockc.types import Zone

pytestmark = pytest.mark.containers
RUNNER = Path(__file__).with_name("sync_runner.py")


@pytest.fixture
def env(studio, tmp_path, request):
    name = request.node.name.replace("[", "-").replace("]", "")
    return Env(studio, tmp_path, name)


def write(p: Path, data: bytes | str, mode: int | None = None):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(p, mode)


NASTY = [
    "with space.txt",
    "ünïcødé-文件.md",
    "new\nline.txt",
    "tab\tand 'quotes\".txt",
    "deep/er/still/file.bin",
    "-leading-dash",
    ".hidden",
    "x" * 200,
]


def test_push_change_pull_roundtrip(env):
    for i, n in enumerate(NASTY):
        write(env.host / n, f"content {i}\n")
    write(env.host / "empty", b"")
    write(env.host / "script.sh", "#!/bin/sh\necho hi\n", 0o755)
    write(env.host / "private", "secret", 0o600)
    (env.host / "empty-dir").mkdir()
    r = env.sync("push")
    assert r.ok and not r.conflicts and len(r.pulled) == 0
    c = env.ctree()
    env.assert_same()
    assert c["script.sh"][1] == 0o755 and c["private"][1] == 0o600 and c["empty-dir"][0] == "d"

    # nothing changed: nothing moves
    r = env.sync()
    assert r.ok and r.moved == 0

    # change in the studio, then pull
    s = env.studio
    s.write(f"{env.cpath}/with space.txt", b"changed in studio\n")
    s.write(f"{env.cpath}/new dir/fresh \u00e9.txt", b"new in studio\n", mode=0o640)
    s.exec("rm", f"{env.cpath}/-leading-dash")
    s.exec("chmod", "700", f"{env.cpath}/script.sh")
    r = env.sync("pull")
    assert r.ok, format_report(r)
    kinds = sorted((c.path, c.kind) for c in r.pulled)
    assert ("with space.txt", "modified") in kinds and ("-leading-dash", "deleted") in kinds
    assert ("new dir/fresh \u00e9.txt", "added") in kinds and ("script.sh", "modified") in kinds
    env.assert_same()
    h = env.htree()
    assert (env.host / "with space.txt").read_text() == "changed in studio\n"
    assert h["new dir/fresh \u00e9.txt"][1] == 0o640 and h["script.sh"][1] == 0o700
    assert not (env.host / "-leading-dash").exists()
    # a touch (mtime only) is not a change
    s.exec("touch", f"{env.cpath}/empty")
    os.utime(env.host / "private", None)
    r = env.sync()
    assert r.ok and r.moved == 0


def test_an_unreadable_studio_directory_deletes_nothing(env):
    """A directory the studio user cannot read is not observed: what is under it is neither
    deleted on the host nor reported deleted; the sync says so and fails."""
    for i in range(3):
        write(env.host / f"locked/f{i}.txt", f"{i}\n")
        write(env.host / f"open/f{i}.txt", f"{i}\n")
    assert env.sync().ok
    env.studio.exec("rm", f"{env.cpath}/open/f0.txt")
    env.studio.exec("chmod", "000", f"{env.cpath}/locked")
    try:
        r = env.sync("pull")
        assert not r.ok and [p.path for p in r.errors] == ["locked"], format_report(r)
        assert [c.path for c in r.pulled if c.kind == "deleted"] == ["open/f0.txt"]
        assert not [c for c in r.pulled if c.path.startswith("locked/")]
        assert sorted(os.listdir(env.host / "locked")) == ["f0.txt", "f1.txt", "f2.txt"]
    finally:
        env.studio.exec("chmod", "755", f"{env.cpath}/locked")
    assert env.sync().ok
    r = env.sync()
    assert r.ok and r.moved == 0, format_report(r)
    assert sorted(os.listdir(env.host / "locked")) == ["f0.txt", "f1.txt", "f2.txt"]


def test_both_sides_changed_is_a_conflict(env):
    write(env.host / "notes.txt", "v1\n")
    write(env.host / "gone-there.txt", "v1\n")
    write(env.host / "gone-here.txt", "v1\n")
    env.sync()
    write(env.host / "notes.txt", "host v2\n")
    env.studio.write(f"{env.cpath}/notes.txt", b"studio v2\n")
    write(env.host / "gone-there.txt", "host v2\n")  # changed here, deleted there
    env.studio.exec("rm", f"{env.cpath}/gone-there.txt")
    (env.host / "gone-here.txt").unlink()  # deleted here, changed there
    env.studio.write(f"{env.cpath}/gone-here.txt", b"studio v2\n")
    r = env.sync()
    assert r.exit_code == 1 and not r.ok
    byp = {c.path: c for c in r.conflicts}
    assert set(byp) == {"notes.txt", "gone-there.txt", "gone-here.txt"}
    copy = byp["notes.txt"].copy
    assert copy and copy.startswith("notes.conflict-t-") and copy.endswith(".txt")
    # neither side overwritten: host keeps its version, the studio's is kept beside it
    assert (env.host / "notes.txt").read_text() == "host v2\n"
    assert (env.host / copy).read_text() == "studio v2\n"
    assert env.studio.exec("cat", f"{env.cpath}/notes.txt") == "studio v2\n"
    # the changed versions survive the deletions on the other side
    assert (env.host / "gone-here.txt").read_text() == "studio v2\n"
    assert env.studio.exec("cat", f"{env.cpath}/gone-there.txt") == "host v2\n"
    assert "conflict" in format_report(r)

    # next sync: no new copy; the host version (and the copy) go to the studio; all kept
    r = env.sync()
    assert r.ok and not r.conflicts
    assert len([p for p in os.listdir(env.host) if ".conflict-" in p]) == 1
    env.assert_same()
    assert env.studio.exec("cat", f"{env.cpath}/{copy}") == "studio v2\n"
    r = env.sync()
    assert r.ok and r.moved == 0


def test_same_change_on_both_sides_is_no_conflict(env):
    write(env.host / "a.txt", "v1\n")
    env.sync()
    write(env.host / "a.txt", "same\n")
    env.studio.write(f"{env.cpath}/a.txt", b"same\n")
    write(env.host / "b.txt", "new both\n")
    env.studio.write(f"{env.cpath}/b.txt", b"new both\n")
    r = env.sync()
    assert r.ok and r.moved == 0 and not r.conflicts


def test_symlinks_in_the_studio_are_refused(env):
    write(env.host / "sub/a.txt", "a\n")
    env.sync()
    s = env.studio
    s.sh(
        f"cd {env.cpath} && ln -s /etc/passwd passwd && ln -s .. up && ln -s ../.. sub/up2 && "
        f"ln -s a.txt sub/rel-link && mkfifo fifo"
    )
    # a directory swapped for a link to outside the zone
    s.sh(
        f"cd {env.cpath} && mkdir -p /tmp/outside && echo x > /tmp/outside/y && ln -s /tmp/outside sub2"
    )
    r = env.sync()
    refused = {p.path for p in r.problems if p.refused}
    assert {"passwd", "up", "sub/up2", "sub/rel-link", "fifo", "sub2"} <= refused
    assert r.ok  # refused is reported, not a failure
    h = env.htree()
    assert set(h) == {"sub", "sub/a.txt"}
    assert not (env.tmp / "ws" / "passwd").exists()
    # a host-side symlink is not pushed either
    os.symlink("/etc/hostname", env.host / "hostlink")
    r = env.sync()
    assert {p.path for p in r.problems if p.side == "host" and p.refused} == {"hostlink"}
    assert "hostlink" not in env.ctree()


def test_crafted_stream_cannot_escape_the_zone(env, tmp_path):
    """The studio's user controls the container: a rogue agent answering 'get' with a tar of
    traversal paths, links, devices and setuid bits must not write outside the zone."""
    write(env.host / "ok.txt", "v1\n")
    env.sync()
    env.studio.write(f"{env.cpath}/ok.txt", b"v2 from studio\n")
    evil_members = {
        "traversal": "ti = tarfile.TarInfo('../../escaped'); data = b'pwned'",
        "absolute": f"ti = tarfile.TarInfo({str(tmp_path / 'abs-escaped')!r}); data = b'pwned'",
        "symlink": "ti = tarfile.TarInfo('ok.txt'); ti.type = tarfile.SYMTYPE; ti.linkname = '/etc/passwd'; data = b''",
        "hardlink": "ti = tarfile.TarInfo('ok.txt'); ti.type = tarfile.LNKTYPE; ti.linkname = '/etc/passwd'; data = b''",
        "device": "ti = tarfile.TarInfo('ok.txt'); ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3; data = b''",
        "unrequested": "ti = tarfile.TarInfo('other.txt'); data = b'x'",
    }
    for kind, member in evil_members.items():
        evil = (
            agent_source().replace('if __name__ == "__main__":\n    main()', "")
            + f"""
import io, tarfile
def op_get(self, msg):
    out = ChunkWriter(self.out)
    tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT)
    {member}
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))
    tf.close(); out.close()
    send(self.out, {{"ok": True, "results": {{}}}})
Agent.op_get = op_get
main()
"""
        )

        t = PodmanTransport(env.studio.name, user=1000)
        with pytest.raises(SyncError) as exc:
            sync_zone(
                t,
                studio="t",
                zone=env.zone,
                workspace=env.ws,
                mode="pull",
                baseline=env.baseline,
                agent=Session(t, "python3", evil),
            )
        # refused by the host's checks (not, say, an agent that failed on its own)
        assert (
            "refused (regular files only)"
            if kind in ("symlink", "hardlink", "device")
            else "unexpected entry"
        ) in str(exc.value), (kind, str(exc.value))
        assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
        assert not (tmp_path / "abs-escaped").exists()
        assert not (env.host / "ok.txt").is_symlink()
        assert (env.host / "ok.txt").read_text() == "v1\n", kind
        assert not [p for p in os.listdir(env.host) if p.startswith(".blockc-tmp")]

    # setuid/setgid/sticky bits are stripped on the way in
    env.studio.exec("chmod", "6755", f"{env.cpath}/ok.txt")
    r = env.sync("pull")
    assert r.ok
    assert (env.host / "ok.txt").stat().st_mode & 0o7777 == 0o755


def test_emptied_studio_zone_deletes_nothing_without_consent(env):
    for i in range(20):
        write(env.host / f"d/f{i}.txt", f"{i}\n")
    env.sync()
    # the user empties the zone (rm -rf zone/*): a mass deletion, refused
    env.studio.sh(f"rm -rf {env.cpath}/*")
    with pytest.raises(MassDeletionRefused) as exc:
        env.sync("pull")
    assert "--allow-mass-delete" in str(exc.value)
    assert len(list((env.host / "d").iterdir())) == 20
    p = pending_changes(
        env.transport, studio="t", zone=env.zone, workspace=env.ws, baseline=env.baseline
    )
    assert any("would delete" in x.reason for x in p.problems)
    # the zone directory itself replaced (a reset): not a deletion at all
    env.studio.sh(f"rm -rf {env.cpath} && mkdir {env.cpath}")
    r = env.sync("pull")
    assert r.studio_reset and r.ok and not r.pulled
    assert len(list((env.host / "d").iterdir())) == 20
    # a push brings everything back
    r = env.sync("push")
    assert len(r.pushed) == 21
    env.assert_same()
    # a small deletion (really observed) goes through; a large one with consent too
    env.studio.exec("rm", f"{env.cpath}/d/f0.txt")
    r = env.sync("pull")
    assert [c.kind for c in r.pulled] == ["deleted"] and not (env.host / "d/f0.txt").exists()
    env.studio.sh(f"rm -rf {env.cpath}/d")
    r = env.sync("pull", allow_mass_delete=True)
    assert not (env.host / "d").exists() and len(r.pulled) == 20


def test_fresh_studio_is_not_everything_deleted(env, fresh_studio, tmp_path):
    for i in range(15):
        write(env.host / f"f{i}", f"{i}")
    env.sync()
    # the studio is recreated from its image: the zone is back empty
    fresh = PodmanTransport(fresh_studio.name, user=1000)
    r = sync_zone(fresh, studio="t", zone=env.zone, workspace=env.ws, baseline=env.baseline)
    assert r.studio_reset and r.ok
    assert len([c for c in r.pushed if c.kind == "added"]) == 15 and not r.pulled
    assert len(list(env.host.iterdir())) == 15
    assert contents(fresh_studio.tree(env.cpath)) == contents(env.htree())


def test_excludes_both_ways(studio, tmp_path):
    env = Env(
        studio, tmp_path, "excludes", exclude=("*.log", "node_modules/", "build", "!keep.log")
    )
    write(env.host / "src/a.py", "a")
    write(env.host / "debug.log", "host log")
    write(env.host / "keep.log", "kept")
    write(env.host / "node_modules/x/index.js", "x")
    write(env.host / "build", "a file named build")
    env.sync()
    c = env.ctree()
    assert set(c) == {"src", "src/a.py", "keep.log"}
    studio.write(f"{env.cpath}/studio.log", b"studio log")
    studio.write(f"{env.cpath}/node_modules/y/index.js", b"y")
    studio.write(f"{env.cpath}/src/build/out.o", b"obj")
    studio.write(f"{env.cpath}/src/b.py", b"b")
    r = env.sync()
    assert [c.path for c in r.pulled] == ["src/b.py"]
    h = env.htree()
    assert "studio.log" not in h and "node_modules/y" not in h and "src/build" not in h
    # excluded files are never deleted on the other side
    (env.host / "debug.log").unlink()
    studio.exec("rm", f"{env.cpath}/studio.log")
    r = env.sync()
    assert r.moved == 0
    assert "node_modules/y/index.js" in env.ctree() and "node_modules/x/index.js" in env.htree()


@pytest.mark.parametrize("direction", ["in", "out"])
def test_direction_is_honoured(studio, tmp_path, direction):
    env = Env(studio, tmp_path, f"dir-{direction}", direction=direction)
    write(env.host / "host.txt", "h")
    studio.write(f"{env.cpath}/studio.txt", b"s")
    r = env.sync()
    if direction == "in":
        assert [c.path for c in r.pushed] == ["host.txt"] and not r.pulled
        assert not (env.host / "studio.txt").exists()
        assert [c.path for c in r.pending_pull] == ["studio.txt"]
    else:
        assert [c.path for c in r.pulled] == ["studio.txt"] and not r.pushed
        assert "host.txt" not in env.ctree()
        assert [c.path for c in r.pending_push] == ["host.txt"]


def test_file_replaced_by_directory_and_back(env):
    write(env.host / "x", "file")
    write(env.host / "y/inner", "in dir")
    env.sync()
    # host: file -> dir, dir -> file; pushed
    (env.host / "x").unlink()
    write(env.host / "x/inside", "now a dir")
    (env.host / "y/inner").unlink()
    (env.host / "y").rmdir()
    write(env.host / "y", "now a file")
    r = env.sync("push")
    assert r.ok, format_report(r)
    env.assert_same()
    # studio: back again; pulled
    env.studio.sh(
        f"cd {env.cpath} && rm -r x && echo file-again > x && rm y && mkdir y && echo d > y/inner"
    )
    r = env.sync("pull")
    assert r.ok, format_report(r)
    env.assert_same()
    assert (env.host / "x").read_text() == "file-again\n" and (env.host / "y/inner").is_file()
    r = env.sync()
    assert r.ok and r.moved == 0


def test_pending_changes_for_rm(env):
    write(env.host / "a", "a")
    env.sync()
    p = pending_changes(
        env.transport, studio="t", zone=env.zone, workspace=env.ws, baseline=env.baseline
    )
    assert not p.unsynced_in_studio
    env.studio.write(f"{env.cpath}/work.ipynb", b"{}")
    p = pending_changes(
        env.transport, studio="t", zone=env.zone, workspace=env.ws, baseline=env.baseline
    )
    assert p.unsynced_in_studio and [c.path for c in p.pulled] == ["work.ipynb"]
    assert "would pull" in format_report(p)
    assert not (env.host / "work.ipynb").exists()  # a dry run changes nothing
    env.sync("pull")
    p = pending_changes(
        env.transport, studio="t", zone=env.zone, workspace=env.ws, baseline=env.baseline
    )
    assert not p.unsynced_in_studio
    state = env.baseline.zone_state("t", "data")
    assert state.clean and state.last_mode == "pull"


def test_unreachable_studio_is_a_clear_error(tmp_path):
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    with pytest.raises(SyncError) as exc:
        sync_zone(
            PodmanTransport("no-such-container-xyz"),
            studio="t",
            zone=Zone("data", "data", "/z"),
            workspace=ws,
            baseline=Baseline(tmp_path / "s.db"),
        )
    assert "no-such-container-xyz" in str(exc.value)


def _run_sync(env, mode, kill_at=None):
    """Run a sync in a child process; with kill_at (a share of the bytes), SIGKILL it then."""
    zone = {
        "name": env.zone.name,
        "host": env.zone.host,
        "container": env.zone.container,
        "direction": env.zone.direction,
        "exclude": list(env.zone.exclude),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            str(RUNNER),
            str(env.db),
            str(env.ws),
            env.studio.name,
            json.dumps(zone),
            mode,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = {}
    killed = False
    for line in proc.stdout:
        msg = json.loads(line)
        if (
            kill_at is not None
            and "progress" in msg
            and msg["total"]
            and msg["progress"] >= kill_at * msg["total"]
        ):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        out.update(msg)
    proc.wait()
    if kill_at is not None:
        assert killed, "the sync ended before it could be killed"
    else:
        assert proc.returncode == 0
    return out


def _big_tree(n=40, size=5 << 20):
    block = os.urandom(1 << 20)
    return {f"part{i:02d}.bin": (block[i:] + block[:i]) * (size >> 20) for i in range(n)}


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_killed_mid_transfer_then_resynced(env, direction):
    """SIGKILL of the syncing process mid-stream: the next sync loses and duplicates nothing."""
    files = _big_tree()
    write(env.host / "small.txt", "small")
    env.sync()
    if direction == "push":
        for name, data in files.items():
            write(env.host / "big" / name, data)
    else:
        code = (  # noqa: UP031
            "import os\nb=os.urandom(1<<20)\nos.makedirs(%r, exist_ok=True)\nfor i in range(40):\n"
            " open(%r + '/part%%02d.bin' %% i, 'wb').write((b[i:]+b[:i])*5)\n"
        ) % (env.cpath + "/big", env.cpath + "/big")
        env.studio.py(code)
    _run_sync(env, direction, kill_at=0.4)
    time.sleep(0.5)  # the orphaned exec sees EOF and ends
    out = _run_sync(env, direction)
    rep = out["report"]
    assert rep["conflicts"] == 0 and not rep["problems"], rep
    assert 0 < rep["pushed" if direction == "push" else "pulled"] < 41
    env.assert_same()
    h, c = env.htree(), env.ctree()
    assert len([k for k in h if k.startswith("big/")]) == 40
    assert not [k for k in list(h) + list(c) if ".blockc-tmp" in k or ".conflict-" in k]
    r = env.sync()
    assert r.ok and r.moved == 0


def test_one_gigabyte_file_streams_with_flat_memory(env):
    block = os.urandom(1 << 20)
    with open(env.host / "huge.bin", "wb") as f:
        for i in range(1024):
            f.write(block[i % 997 :] + block[: i % 997])
    out = _run_sync(env, "push")
    assert out["report"]["bytes_pushed"] == 1 << 30
    push_rss = out["rss_mb"]
    env.studio.py(
        "import os\nf=open(%r,'r+b')\nf.seek(5<<20)\nf.write(b'studio edit')\n"
        % (env.cpath + "/huge.bin")
    )
    out = _run_sync(env, "pull")
    assert out["report"]["bytes_pulled"] == 1 << 30
    assert push_rss < 120 and out["rss_mb"] < 120, (push_rss, out["rss_mb"])
    env.assert_same()


def test_blockc_sync_command_then_a_stopped_studio(studio, tmp_path):
    """The `blockc sync` command end to end (it starts the agent before asking anything of the
    runtime): files move; once the studio's container is stopped, it says "not running".
    (``studio``: only for the podman set-up; this test runs its own container.)"""
    import uuid

    from blockc.names import LABEL_INSTALLATION, LABEL_OWNER, LABEL_STUDIO
    from blockc.run import state
    from blockc.run.runtimes.podman import PodmanRuntime
    from blockc.run.settings import Settings

    name = f"synccli{uuid.uuid4().hex[:8]}"
    base = os.environ.get("BLOCKC_TEST_BASE_IMAGE", "localhost/blockc-base/debian-python:bookworm")
    home = tmp_path / "home"
    env = dict(os.environ, BLOCKC_HOME=str(home))
    old_home = os.environ.get("BLOCKC_HOME")
    os.environ["BLOCKC_HOME"] = str(home)
    container = PodmanRuntime(Settings()).container(name)  # this home's name for it
    labels = {LABEL_INSTALLATION: state.installation_id(), LABEL_STUDIO: name, LABEL_OWNER: "o"}
    try:
        subprocess.run(
            ["podman", "run", "-d", "--name", container, "--user", "1000:1000"]
            + [f"--label={k}={v}" for k, v in labels.items()]
            + [base, "sleep", "infinity"],
            check=True,
            capture_output=True,
        )
        try:
            ws = tmp_path / "ws"
            write(ws / "data" / "a.txt", "hello")
            studio = state.Studio(
                name=name,
                owner="o",
                template="t",
                template_path="-",
                artifact_hash="0" * 64,
                image=base,
                runtime="podman",
                state="RUNNING",
                workspace=str(ws),
            )
            Path(studio.artifact_dir).mkdir(parents=True)
            (Path(studio.artifact_dir) / "studio.json").write_text(
                json.dumps(
                    {
                        "image": {"uid": 1000, "gid": 1000},
                        "zones": [
                            {
                                "name": "data",
                                "host": "data",
                                "container": "/tmp/zone",
                                "direction": "both",
                                "exclude": [],
                            }
                        ],
                    }
                )
            )
            state.save(studio)
        finally:
            if old_home is None:
                os.environ.pop("BLOCKC_HOME", None)
            else:
                os.environ["BLOCKC_HOME"] = old_home
        blockc = [sys.executable, "-m", "blockc", "sync", name]
        r = subprocess.run(blockc, env=env, capture_output=True, text=True)
        assert r.returncode == 0 and "push 1 added" in r.stderr, r.stderr
        out = subprocess.run(
            ["podman", "exec", container, "cat", "/tmp/zone/a.txt"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out == "hello"
        subprocess.run(["podman", "stop", "-t", "0", container], check=True, capture_output=True)
        r = subprocess.run(blockc, env=env, capture_output=True, text=True)
        assert r.returncode == 1 and f"studio '{name}' is not running" in r.stderr, r.stderr
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", container], capture_output=True)


def test_done_file_is_created_only_after_a_clean_push(env):
    """`blockc start` gates the apps on a file the push's agent creates when it is done."""
    s = env.studio
    write(env.host / "a.txt", "a")
    gate = "/tmp/gate-" + env.cpath.rsplit("/", 1)[1]
    r = env.sync("push", done_file=gate)
    assert r.ok and s.sh(f"test -e {gate} && echo yes || echo no").strip() == "yes"
    # a directory of the zone the studio user cannot write: the push leaves a path unsynced
    s.sh(f"mkdir -p {env.cpath}/locked && chmod 555 {env.cpath}/locked", user="0")
    write(env.host / "locked" / "b.txt", "b")
    r = env.sync("push", done_file=gate + "-2")
    assert r.errors and s.sh(f"test -e {gate}-2 && echo yes || echo no").strip() == "no"


def test_sync_zones_reports_each_zone_and_creates_the_done_file_only_when_all_are_clean(env):
    """Several zones (as `blockc start` pushes them): each report as soon as its zone is done;
    the done file only when no zone left a path unsynced, even if the last zone is clean."""
    s = env.studio
    first = Zone("first", "first", env.cpath + "-first")
    zones = [first, env.zone]
    write(env.ws / "first" / "x.txt", "x")
    write(env.host / "y.txt", "y")
    gate = "/tmp/gate-" + env.cpath.rsplit("/", 1)[1]
    seen = []
    reports = sync_zones(
        env.transport,
        studio="t",
        zones=zones,
        workspace=env.ws,
        mode="push",
        baseline=env.baseline,
        done_file=gate,
        on_report=seen.append,
    )
    assert [r.zone for r in seen] == ["first", "data"] and seen == reports
    assert all(r.ok for r in reports) and s.sh(f"test -e {gate} && echo yes").strip() == "yes"
    # the first zone leaves a path unsynced: no done file, though the last zone syncs
    s.sh(f"mkdir -p {first.container}/locked && chmod 555 {first.container}/locked", user="0")
    write(env.ws / "first" / "locked" / "b.txt", "b")
    write(env.host / "z.txt", "z")
    reports = sync_zones(
        env.transport,
        studio="t",
        zones=zones,
        workspace=env.ws,
        mode="push",
        baseline=env.baseline,
        done_file=gate + "-2",
    )
    assert reports[0].errors and reports[1].ok
    assert s.sh(f"test -e {gate}-2 && echo yes || echo no").strip() == "no"
