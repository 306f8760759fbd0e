"""``blockc exec`` handed to the resident blockc (blockc/resident) on a real podman studio: its
streams, exit status, a terminal (with its size), Ctrl-C, Ctrl-Z, ignored signals and a
death by signal reach the command, or the command's process, as when it runs in its own
process; a background job with a terminal runs in its own process."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

BLOCKC = str(Path(sys.executable).parent / "blockc")
SLEEPER = """    - type: app
      id: web
      with:
        command: [python3, -m, http.server, "8000", --bind, 0.0.0.0]
        port: 8000
"""


def env(mode: str) -> dict[str, str]:
    return {**os.environ, "BLOCKC_RESIDENT": mode}


def blockc(*args, mode="require", input=None, timeout=120):
    return subprocess.run(
        [BLOCKC, *map(str, args)],
        env=env(mode),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (got := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return got


@pytest.fixture
def studio(tmp_path, template, studio_name):
    name = studio_name("res")
    t = template(tmp_path, "resident", SLEEPER)
    sock = Path(os.environ["BLOCKC_HOME"]) / "run" / "resident.sock"
    try:
        assert blockc("start", t, "--studio", name, mode="0", timeout=600).returncode == 0
        assert blockc("status", name, mode="1").returncode == 0  # (starts the resident blockc)
        until(lambda: blockc("status", name).returncode == 0, 30, "the resident blockc")
        yield name
    finally:
        blockc("rm", "--force", name, mode="0")
        sock.unlink(missing_ok=True)  # (the resident process leaves once its socket is gone)


def test_streams_and_exit_status(studio):
    out = blockc("exec", studio, "--", "sh", "-c", "cat; echo to-err >&2; exit 7", input="in\n")
    assert (out.returncode, out.stdout, out.stderr.strip()) == (7, "in\n", "to-err")
    assert blockc("exec", studio, "--", "id", "-u").stdout.strip() == "1000"
    missing = blockc("exec", studio, "--", "no-such-command")
    assert missing.returncode in (126, 127), missing


def _terminal(argv, *, job_control_shell: bool = False):
    """Run ``argv`` on a new terminal of 33 rows and 77 columns, as its foreground job (its
    controlling terminal); what the terminal showed, and the exit status."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
    p = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env("require"),
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    text = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # (the terminal's other side is closed: all is read)
                break
            if not chunk:
                break
            text += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    return text, p.wait(10)


def test_a_terminal_and_its_size_reach_the_command(studio):
    argv = [BLOCKC, "exec", studio, "--", "sh", "-c", "test -t 0 && echo TTY; stty size"]
    text, code = _terminal(argv)
    assert code == 0 and b"TTY" in text and b"33 77" in text, text


def test_a_background_job_with_a_terminal_runs_in_its_own_process(studio, tmp_path):
    """Outside its terminal's foreground, a command is never handed over (the fork would
    escape the shell's job control and read the terminal)."""
    out = tmp_path / "out"
    job = f"set -m; {BLOCKC} status {studio} </dev/tty >{out} 2>&1 & wait $!; echo rc=$?"
    text, code = _terminal(["sh", "-c", job])
    assert b"rc=1" in text, text
    assert "a background job with a terminal runs alone" in out.read_text()


def _as_a_shell_starts_it() -> None:
    """The signals a shell's foreground job has: whatever this test run inherited (a run
    started in the background has SIGINT and SIGQUIT ignored, and so would its command)."""
    for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP):
        signal.signal(s, signal.SIG_DFL)


def running(studio, *command, **where):
    """``blockc exec STUDIO -- COMMAND`` handed over, once its fork runs: (process, fork)."""
    where.setdefault("preexec_fn", _as_a_shell_starts_it)
    p = subprocess.Popen(
        [BLOCKC, "exec", studio, "--", *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env("require"),
        **where,
    )
    (fork,) = until(lambda: _forks_of(p.pid), 30, "the command to run")
    return p, fork


def test_ctrl_c_ends_the_command(studio):
    p, fork = running(studio, "sleep", "60")
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    code = p.wait(20)
    assert code == 130, (code, p.stderr.read())  # (the fork's KeyboardInterrupt, as blockc's)
    assert time.monotonic() - t < 15
    assert blockc("exec", studio, "--", "true").returncode == 0  # still served


def test_an_ignored_signal_stays_ignored(studio):
    """nohup's SIGHUP, a script's background job's SIGINT: not passed on."""
    p, fork = running(
        studio,
        "sh",
        "-c",
        "sleep 3; echo alive",
        preexec_fn=lambda: (_as_a_shell_starts_it(), signal.signal(signal.SIGINT, signal.SIG_IGN)),
    )
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and out == b"alive\n", err


def test_a_fork_killed_by_a_signal_kills_the_commands_process_so(studio):
    p, fork = running(studio, "sleep", "60")
    os.kill(fork, signal.SIGKILL)
    assert p.wait(20) == -signal.SIGKILL
    assert b"Traceback" not in p.stderr.read()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _forks_of(client: int) -> list[int]:
    """The forks running this client's command: the resident process's forks whose standard
    output is the client's (a pipe of this test's)."""
    try:
        mine = os.readlink(f"/proc/{client}/fd/1")
    except OSError:
        return []
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"blockc.resident.zygote" in cmd and os.readlink(f"/proc/{pid}/fd/1") == mine:
                out.append(int(pid))
        except OSError:
            continue
    return out


def _ctrl_z(studio, **where):
    """``blockc exec`` of a 4 s command, Ctrl-Z'd once it runs; (process, its fork)."""
    p, fork = running(studio, "sh", "-c", "sleep 4; echo done", **where)
    p.send_signal(signal.SIGTSTP)
    return p, fork


def _finish(p, fork) -> tuple[bytes, bytes]:
    try:
        return p.communicate(timeout=60)
    finally:  # (a fork left stopped would hold podman's locks: never leave one)
        for pid in (p.pid, fork):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGCONT)
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ctrl_z_stops_the_command_and_fg_goes_on(studio):
    p, fork = _ctrl_z(studio, process_group=0)  # (a shell's job: its own process group)
    try:
        until(lambda: (_state(p.pid), _state(fork)) == ("T", "T"), 10, "both to stop")
        p.send_signal(signal.SIGCONT)
    finally:
        out, err = _finish(p, fork)
    assert p.returncode == 0 and out == b"done\n", err


def test_ctrl_z_of_a_job_of_no_shell_stops_nothing(studio):
    """In an orphaned process group (no shell to continue it) the kernel does not stop the
    command's process: its fork is not left stopped either."""
    p, fork = _ctrl_z(studio, start_new_session=True)
    out, err = _finish(p, fork)
    assert p.returncode == 0 and out == b"done\n", err


def test_a_stopped_command_whose_process_is_killed_is_hung_up(studio):
    p, fork = running(studio, "sleep", "60", process_group=0)
    p.send_signal(signal.SIGTSTP)
    until(lambda: _state(fork) == "T", 10, "the fork to stop")
    p.kill()
    p.wait(10)
    until(lambda: not Path(f"/proc/{fork}").exists() or _state(fork) == "Z", 20, "the fork to end")
