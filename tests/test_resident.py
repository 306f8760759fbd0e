"""The resident blockc (blockc/resident): a command handed to it runs as in its own process
(argv, environment, directory, streams, exit status), only by its own user, and the resident
process leaves when idle, replaced, removed or stale. No containers: ``status`` and ``logs``
of studios in the state are the commands (tests/e2e/test_resident_podman.py runs exec)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from compiler_support import run_cli, studio_row


@pytest.fixture
def short(monkeypatch):
    """A directory with a short path (a Unix socket's path has at most 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="br-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def blockc(*args, home, mode, cwd=None, extra=None, input=None):
    """``blockc ARGS`` with ``BLOCKC_RESIDENT=mode`` (and ``extra`` in its environment)."""
    env = {"BLOCKC_RESIDENT": mode, **(extra or {})}
    return run_cli(*args, home=home, env=env, cwd=cwd, input=input)


def residents(sock: Path) -> list[int]:
    """The resident processes of this socket (this test's own: its path is in their argv)."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"blockc.resident.zygote" in argv and os.fsencode(sock) in argv:
                out.append(int(pid))
    return out


def wait_for(predicate, timeout=20.0, what=""):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sockets(home: Path) -> set[Path]:
    return set((home / "run").glob("resident-*.sock"))


def start(home: Path, **extra) -> Path:
    """Run a first command (in its own process), which starts the resident blockc; wait for
    it to answer; its socket."""
    before = sockets(home)
    first = blockc("status", home=home, mode="1", extra=extra)
    assert first.returncode == 0, first.stderr
    wait_for(
        lambda: blockc("status", home=home, mode="require", extra=extra).returncode == 0,
        what="the resident blockc to answer",
    )
    new = sockets(home) - before or sockets(home)
    assert len(new) == 1, new
    return new.pop()


@pytest.fixture
def resident(short):
    home = short / "home"
    sock = start(home)
    yield home, sock
    for pid in residents(sock):
        os.kill(pid, 15)


def test_a_command_runs_there_as_in_its_own_process(resident, short, monkeypatch):
    home, sock = resident
    (pid,) = residents(sock)
    monkeypatch.setenv("BLOCKC_HOME", str(home))
    from blockc.run import state

    state.save(studio_row("s1", owner="alice", state="STOPPED"))
    for argv in (("status", "--format", "json"), ("status", "nosuch"), ("logs", "s1")):
        there, here = (blockc(*argv, home=home, mode=m) for m in ("require", "0"))
        assert (there.returncode, there.stdout, there.stderr) == (
            here.returncode,
            here.stdout,
            here.stderr,
        )
    out = blockc("status", "--format", "json", home=home, mode="require")
    assert [(s["name"], s["owner"]) for s in json.loads(out.stdout)] == [("s1", "alice")]
    missing = blockc("status", "nosuch", home=home, mode="require")
    assert missing.returncode == 1 and missing.stdout == ""
    assert "no studio named 'nosuch'" in missing.stderr
    # its directory and environment: a relative BLOCKC_HOME is found from the command's
    # directory (the resident process runs in /), and this home has no studio
    (short / "elsewhere").mkdir()
    rel = blockc("status", home="elsewhere/h", mode="require", cwd=short)
    assert "BLOCKC_RESIDENT=require" in rel.stderr  # (its socket is that home's: none yet)
    rel = blockc("status", home="../home", mode="require", cwd=short / "elsewhere")
    assert "s1: STOPPED" in rel.stdout, rel.stdout + rel.stderr
    bad = blockc("status", home=home, mode="require", extra={"BLOCKC_RUNTIME": "nope"})
    assert bad.returncode == 1 and "nope" in bad.stderr  # its environment, not the resident's
    assert residents(sock) == [pid]  # one resident process served them all


# a command's process by hand (the system's Python: another user cannot run the venv's, under
# /root): the request with the three streams; what comes back, or "closed"
PROBE = """
import marshal, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = marshal.dumps({"argv": ["status"], "env": {"BLOCKC_HOME": sys.argv[2]}, "umask": 0o22,
                     "ignored": [], "mask": [], "startup": [sys.argv[3], []]})
here = os.open("/", os.O_PATH)
try:
    s.sendmsg([struct.pack("!I", len(req)), req],
              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("4i", 0, 1, 2, here))])
    print(s.makefile("rb").readline().decode().strip() or "closed")
except (BrokenPipeError, ConnectionResetError):  # (closed before, or with the request unread)
    print("closed")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run a process as another user")
def test_only_its_own_user_is_served(resident, short):
    home, sock = resident
    for path in (short, home, home / "run"):
        os.chmod(path, 0o755)
    os.chmod(sock, 0o777)  # (reachable, so that only the resident's own check is left)
    argv = ["/usr/bin/python3", "-c", PROBE, str(sock), str(home), "/usr/bin/python3"]
    as_nobody = subprocess.run(argv, user=65534, capture_output=True, text=True, timeout=30)
    assert as_nobody.stdout.strip() == "closed", as_nobody.stdout + as_nobody.stderr
    # the same request of its own user is answered (refused: another interpreter's settings)
    as_owner = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert as_owner.stdout.strip() == "refused: started with other interpreter settings"
    assert blockc("status", home=home, mode="require").returncode == 0  # still serving


def test_it_leaves_when_its_socket_is_removed_or_taken_over(resident, short):
    home, sock = resident
    (first,) = residents(sock)
    sock.unlink()
    wait_for(lambda: first not in residents(sock), what="the resident process to leave")
    second_sock = start(home)
    (second,) = residents(second_sock)
    newer = subprocess.Popen(  # a newer one takes the socket over: the older leaves
        [sys.executable, "-P", "-m", "blockc.resident.zygote", str(sock)],
        env={**os.environ, "BLOCKC_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: second not in residents(sock), what="the older one to leave")
        assert residents(sock) == [newer.pid]
        assert blockc("status", home=home, mode="require").returncode == 0
    finally:
        newer.kill()
        newer.wait()


def test_it_leaves_when_idle(short):
    home = short / "home"
    sock = start(home, BLOCKC_RESIDENT_IDLE="2")
    wait_for(lambda: residents(sock) == [] and not sock.exists(), what="an idle exit")


def test_other_interpreter_settings_have_a_resident_process_of_their_own(resident):
    home, sock = resident
    (pid,) = residents(sock)
    other = {"PYTHONIOENCODING": "latin-1"}
    out = blockc("status", home=home, mode="require", extra=other)
    assert out.returncode == 1 and "no resident blockc" in out.stderr
    theirs = start(home, **other)  # (runs in its own process; starts theirs)
    assert theirs != sock and residents(sock) == [pid] and len(residents(theirs)) == 1
    for settings in ({}, other):  # each served by its own
        assert blockc("status", home=home, mode="require", extra=settings).returncode == 0
    for p in residents(theirs):
        os.kill(p, 15)


def test_a_resident_whose_code_changed_hands_the_command_back_and_leaves(resident):
    """A loaded module's file touched (its change time moves; its content is the same): the
    command is refused there and runs in its own process, which starts a new resident one."""
    from blockc import resident as package

    home, sock = resident
    (old,) = residents(sock)
    source = Path(package.__file__)
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    refused = blockc("status", home=home, mode="require")
    assert refused.returncode == 1 and "code changed" in refused.stderr
    wait_for(lambda: old not in residents(sock), what="the stale resident process to leave")
    assert blockc("status", home=home, mode="1").returncode == 0  # here; starts a new one
    wait_for(lambda: blockc("status", home=home, mode="require").returncode == 0, what="it")
    assert old not in residents(sock) and len(residents(sock)) == 1


def test_changed_code_is_never_run(tmp_path, monkeypatch):
    """The resident process compares every loaded module's file with what it loaded."""
    from blockc.resident import zygote

    mod = tmp_path / "br_probe_mod.py"
    mod.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("br_probe_mod")
    try:
        stamp = zygote.code_stamp()
        assert str(mod) in stamp and not zygote.changed(stamp)
        mod.write_text("X = 22\n")  # (another size; the time may be the same tick)
        assert zygote.changed(stamp)
        mod.unlink()
        assert zygote.changed(stamp)
    finally:
        sys.modules.pop("br_probe_mod", None)


def test_turned_off_it_is_never_started(short):
    home = short / "home"
    assert blockc("status", home=home, mode="0").returncode == 0
    time.sleep(0.5)
    assert not (home / "run").exists()


def test_the_commands_own_process_stays_small(resident, tmp_path):
    """Handed over, a command's process loads no more of blockc than the hand-over."""
    home, _ = resident
    out = tmp_path / "modules.json"
    probe = (
        "import json, os, sys\n"
        "end = os._exit  # (a command handed over ends with it)\n"
        f"os._exit = lambda c: (open({str(out)!r}, 'w').write(json.dumps(sorted(sys.modules))), "
        "end(c))\n"
        "sys.argv = ['blockc', 'status']\n"
        "from blockc.launch import main\n"
        "main()\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "BLOCKC_HOME": str(home), "BLOCKC_RESIDENT": "require"},
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    loaded = set(json.loads(out.read_text()))
    assert not loaded & {"argparse", "blockc.cli", "blockc.run", "sqlite3", "ssl"}, loaded
