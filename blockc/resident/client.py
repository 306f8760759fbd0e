"""The ``blockc`` command's side of a resident blockc (see the package): hand the command over,
wait for its exit status, forward signals; or say that no resident process took it.

The resident process forks before it answers "run", but the fork waits for its go-ahead,
which comes only once "run" is sent: without "run" the command did not run, and may run in
this process instead."""

from __future__ import annotations

import marshal
import os
import signal
import socket
import struct
import sys

from . import run_dir_ok, socket_path, startup_key

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
ANSWER = 10.0  # s: a resident process that has not answered by then is killed


class NotTaken(Exception):
    """No resident process took the command (``spawn``: start one for the next command)."""

    def __init__(self, why: str, spawn: bool):
        super().__init__(why)
        self.spawn = spawn


def _foreground() -> bool:
    """Whether this process may use its terminal (stdin is none, or this is its foreground
    job): a fork outside the terminal's session would escape the shell's job control."""
    if not os.isatty(0):
        return True
    try:
        return os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def run(argv: list[str]) -> int:
    """Run ``blockc ARGV`` in the resident process: its exit status (a signal that ended it
    ends this process too). Raises :class:`NotTaken` before anything ran."""
    path = socket_path(os.environ)
    if path is None:
        raise NotTaken("no home for its socket (or a path too long for one)", spawn=False)
    if not os.path.lexists(os.path.dirname(path)):
        raise NotTaken("no resident blockc yet", spawn=True)
    if not run_dir_ok(os.path.dirname(path)):
        raise NotTaken(f"{os.path.dirname(path)} is not this user's alone", spawn=False)
    if not _foreground():
        raise NotTaken("a background job with a terminal runs alone", spawn=False)
    try:
        here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise NotTaken(f"cannot hand over the working directory: {exc}", spawn=False) from None
    ignored = [int(s) for s in FORWARDED if signal.getsignal(s) == signal.SIG_IGN]
    # (signals wait until the command runs there, or runs here)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    handed = False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        for fd in (0, 1, 2):
            try:
                os.fstat(fd)
            except OSError as exc:
                raise NotTaken(f"cannot hand over stream {fd}: {exc}", spawn=False) from None
        try:
            sock.connect(path)
        except OSError:
            raise NotTaken("no resident blockc answers", spawn=True) from None
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        peer, uid, _ = struct.unpack("3i", creds)
        if uid != os.getuid():
            raise NotTaken("the socket is another user's", spawn=False)
        umask = os.umask(0o22)
        os.umask(umask)
        request = marshal.dumps(  # (plain data, between two processes of one user and Python)
            {
                "argv": argv,
                "env": dict(os.environ),
                "umask": umask,
                "ignored": ignored,
                "startup": startup_key(os.environ),
            }
        )
        fds = struct.pack("4i", 0, 1, 2, here)
        answers = sock.makefile("rb")
        sock.settimeout(ANSWER)
        try:
            sock.sendmsg(
                [struct.pack("!I", len(request)), request],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)],
            )
            first = answers.readline().decode("utf-8", "replace").rstrip("\n")
        except TimeoutError:  # (wedged: it goes, and with it any fork waiting for a go-ahead)
            os.kill(peer, signal.SIGKILL)
            raise NotTaken("the resident blockc did not answer", spawn=True) from None
        except OSError:
            first = ""
        word, _, rest = first.partition(" ")
        if word != "run":  # ("refused WHY", or nothing)
            raise NotTaken(rest or "the resident blockc did not answer", spawn=True)
        sock.settimeout(None)
        handed = True
        return _wait(sock, answers, int(rest) if rest.isdigit() else 0, ignored, mask)
    finally:
        os.close(here)
        if not handed:
            sock.close()
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _wait(sock: socket.socket, answers, fork: int, ignored: list[int], mask) -> int:
    saved = None
    if os.isatty(0):  # (the fork may leave a terminal raw if it is killed: set back here)
        import termios

        try:
            saved = termios.tcgetattr(0)
        except termios.error:
            saved = None

    def forward(signum, frame):
        if signum == signal.SIGCONT and not _foreground():
            return  # (`bg`: the fork stays stopped until `fg`; it would read the terminal)
        try:
            sock.send(bytes((signal.SIGSTOP if signum == signal.SIGTSTP else signum,)))
        except OSError:
            pass
        if signum == signal.SIGTSTP:
            os.kill(os.getpid(), signal.SIGSTOP)

    before = {s: signal.signal(s, forward) for s in FORWARDED if s not in ignored}
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    try:  # "exit N" or "signal N"
        word, _, number = answers.readline().decode("ascii", "replace").partition(" ")
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        if saved is not None and _foreground():
            import termios

            try:
                if termios.tcgetattr(0) != saved:
                    termios.tcsetattr(0, termios.TCSADRAIN, saved)
            except termios.error:
                pass
    if word == "signal":  # ended by a signal: so is this process (as the shell expects)
        signum = int(number)
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):  # (SIGKILL's cannot be set: it needs not be)
            pass
        os.kill(os.getpid(), signum)
        return 128 + signum
    if word != "exit":  # the resident process went first: the fork must not go on alone
        for signum in (signal.SIGHUP, signal.SIGCONT) if fork > 0 else ():
            try:
                os.killpg(fork, signum)
            except OSError:
                pass
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
    run = os.path.dirname(path)
    try:
        os.makedirs(run, mode=0o700, exist_ok=True)
        if not run_dir_ok(run):
            return
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
