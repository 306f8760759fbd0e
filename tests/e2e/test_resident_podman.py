"""``blockc exec`` handed to the resident blockc (blockc/resident) on a real podman studio: its
streams, exit status, a terminal (with its size) and Ctrl-C reach the command as when it runs
in its own process."""

from __future__ import annotations

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


@pytest.fixture
def studio(tmp_path, template, studio_name):
    name = studio_name("res")
    t = template(tmp_path, "resident", SLEEPER)
    assert blockc("start", t, "--studio", name, mode="0", timeout=600).returncode == 0
    sock = Path(os.environ["BLOCKC_HOME"]) / "run" / "resident.sock"
    assert blockc("status", name, mode="1").returncode == 0  # (starts the resident blockc)
    deadline = time.monotonic() + 30
    while blockc("status", name).returncode != 0:
        assert time.monotonic() < deadline, "no resident blockc after 30 s"
        time.sleep(0.1)
    yield name
    blockc("rm", "--force", name, mode="0")
    sock.unlink(missing_ok=True)  # (the resident process leaves once its socket is gone)


def test_streams_and_exit_status(studio):
    out = blockc("exec", studio, "--", "sh", "-c", "cat; echo to-err >&2; exit 7", input="in\n")
    assert (out.returncode, out.stdout, out.stderr.strip()) == (7, "in\n", "to-err")
    assert blockc("exec", studio, "--", "id", "-u").stdout.strip() == "1000"
    missing = blockc("exec", studio, "--", "no-such-command")
    assert missing.returncode in (126, 127), missing


def test_a_terminal_and_its_size_reach_the_command(studio):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
    p = subprocess.Popen(
        [BLOCKC, "exec", studio, "--", "sh", "-c", "test -t 0 && echo TTY; stty size"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env("require"),
        start_new_session=True,
    )
    os.close(slave)
    text = b""
    deadline = time.monotonic() + 60
    while p.poll() is None or select.select([master], [], [], 0)[0]:
        if time.monotonic() > deadline:
            p.kill()
            break
        if select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # (the terminal's other side is closed: all is read)
                break
            if not chunk:
                break
            text += chunk
    os.close(master)
    assert p.wait(10) == 0, text
    assert b"TTY" in text and b"33 77" in text, text


def test_ctrl_c_ends_the_command(studio):
    p = subprocess.Popen(
        [BLOCKC, "exec", studio, "--", "sleep", "60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env("require"),
    )
    time.sleep(2)
    assert p.poll() is None
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    code = p.wait(20)
    assert code in (130, -signal.SIGINT), (code, p.stderr.read())
    assert time.monotonic() - t < 15
    assert blockc("exec", studio, "--", "true").returncode == 0  # still served


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _forks_of(client: int) -> list[int]:
    """The forks running this client's command: the children of the resident process whose
    standard output is the client's (a pipe of this test's)."""
    mine = os.readlink(f"/proc/{client}/fd/1")
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"blockc.resident.zygote" in cmd and os.readlink(f"/proc/{pid}/fd/1") == mine:
                out.append(int(pid))
        except OSError:
            continue
    return out


def test_ctrl_z_stops_the_command_and_fg_goes_on(studio):
    p = subprocess.Popen(
        [BLOCKC, "exec", studio, "--", "sh", "-c", "sleep 4; echo done"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env("require"),
    )
    time.sleep(1.5)
    (fork,) = _forks_of(p.pid)
    p.send_signal(signal.SIGTSTP)
    deadline = time.monotonic() + 10
    while (_state(p.pid), _state(fork)) != ("T", "T"):
        assert time.monotonic() < deadline, (_state(p.pid), _state(fork))
        time.sleep(0.05)
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and out == b"done\n", err
