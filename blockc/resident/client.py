"""The ``blockc`` command's side of a resident blockc (see the package): hand the command over,
wait for its exit status, forward signals; or say that no resident process took it."""

from __future__ import annotations

import marshal
import os
import signal
import socket
import struct
import sys

from . import socket_path, startup_key

# the signals a command's process gets that its fork must get instead (to its process group:
# what it runs too, as a terminal's Ctrl-C reaches a whole foreground job)
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGWINCH,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCONT,
    signal.SIGTSTP,  # (Ctrl-Z: the fork is stopped, then this process, as a job would be)
)


class NotTaken(Exception):
    """No resident process took the command (``spawn``: start one for the next command)."""

    def __init__(self, why: str, spawn: bool):
        super().__init__(why)
        self.spawn = spawn


def run(argv: list[str]) -> int:
    """Run ``blockc ARGV`` in the resident process: its exit status (a signal that ended it
    ends this process too). Raises :class:`NotTaken` before anything ran."""
    path = socket_path(os.environ)
    if path is None:
        raise NotTaken("no home for its socket (or a path too long for one)", spawn=False)
    try:
        cwd = os.getcwd()
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError as exc:  # (a closed stream or a removed directory: handed to nobody)
        raise NotTaken(f"cannot hand over the command: {exc}", spawn=False) from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise NotTaken("no resident blockc answers", spawn=True) from None
    umask = os.umask(0o22)
    os.umask(umask)
    request = marshal.dumps(  # (plain data, between two processes of one user and Python)
        {
            "argv": argv,
            "env": dict(os.environ),
            "cwd": cwd,
            "umask": umask,
            "startup": startup_key(os.environ, sys.executable),
        }
    )
    fds = struct.pack("3i", 0, 1, 2)
    answers = sock.makefile("rb")
    try:
        sock.sendmsg(
            [struct.pack("!I", len(request)), request],
            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)],
        )
        first = answers.readline().decode("utf-8", "replace").rstrip("\n")
    except OSError:
        first = ""
    if first != "run":  # ("refused WHY", or nothing)
        why = first.partition(" ")[2] or "the resident blockc did not answer"
        raise NotTaken(why, spawn=True)
    return _wait(sock, answers)


def _wait(sock: socket.socket, answers) -> int:
    saved = None
    if os.isatty(0):  # (the fork may leave a terminal raw if it is killed: set back here)
        import termios

        try:
            saved = termios.tcgetattr(0)
        except termios.error:
            saved = None

    def forward(signum, frame):
        try:
            sock.send(bytes((signal.SIGSTOP if signum == signal.SIGTSTP else signum,)))
        except OSError:
            pass
        if signum == signal.SIGTSTP:
            os.kill(os.getpid(), signal.SIGSTOP)

    for s in FORWARDED:
        signal.signal(s, forward)
    try:  # "exit N" or "signal N"
        word, _, number = answers.readline().decode("ascii", "replace").partition(" ")
    finally:
        for s in FORWARDED:
            signal.signal(s, signal.SIG_DFL if s != signal.SIGINT else signal.default_int_handler)
        if saved is not None:
            import termios

            try:
                termios.tcsetattr(0, termios.TCSADRAIN, saved)
            except termios.error:
                pass
    if word == "signal":  # ended by a signal: so is this process (as the shell expects)
        signum = int(number)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return 128 + signum
    if word != "exit":
        sys.stderr.write("error: the resident blockc ended before the command did\n")
        return 1
    return int(number)


def spawn() -> None:
    """Start a resident process for the next command (in the background, in a session of its
    own, with none of this process's streams)."""
    import subprocess

    path = socket_path(os.environ)
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        subprocess.Popen(
            [sys.executable, "-m", "blockc.resident.zygote", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd="/",
        )
    except OSError:
        pass  # (only the next command's speed depends on it)
