"""The ``blockc`` command's side of a resident blockc (see the package): hand the command over,
wait for its exit status, forward signals; or say that no resident process took it.

The hand-over: this process sends the request, the resident process forks and answers
"run PID", this process acknowledges, and only then does the fork get its go-ahead. Whatever
goes wrong before the acknowledgement, the command did not run there, and may run here."""

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
ANSWER = 10.0  # s: a resident process that has not answered by then is left (and replaced)
ACK = b"\0"  # (never a signal's number)
# signals whose default action dumps core: the fork's core, not this process's
_CORE = {
    signal.SIGQUIT,
    signal.SIGILL,
    signal.SIGABRT,
    signal.SIGFPE,
    signal.SIGSEGV,
    signal.SIGBUS,
    signal.SIGSYS,
    signal.SIGTRAP,
    signal.SIGXCPU,
    signal.SIGXFSZ,
}


class NotTaken(Exception):
    """No resident process took the command (``spawn``: start one for the next command)."""

    def __init__(self, why: str, spawn: bool):
        super().__init__(why)
        self.spawn = spawn


def _terminal_job() -> str:
    """Where this process stands on the terminal of its stdin: "none" (stdin is no terminal),
    "foreground" (its foreground job), "background", or "unknown" (not the terminal its
    session controls, or its session is gone)."""
    if not os.isatty(0):
        return "none"
    try:
        return "foreground" if os.tcgetpgrp(0) == os.getpgrp() else "background"
    except OSError:
        return "unknown"


def _foreground() -> bool:
    """Whether this process may use its terminal: stdin is none, or this is the foreground
    job of the terminal it controls (a fork, outside the terminal's session, would escape the
    shell's job control)."""
    return _terminal_job() in ("none", "foreground")


def _background() -> bool:
    """Whether this process is positively a background job of its terminal."""
    return _terminal_job() == "background"


def run(argv: list[str]) -> int:
    """Run ``blockc ARGV`` in the resident process: its exit status (a signal that ended it
    ends this process too). Raises :class:`NotTaken` before anything ran."""
    key = startup_key(os.environ, sys.path[1:])  # ([0]: the script's directory)
    path = socket_path(key)
    if path is None:
        raise NotTaken("no home for its socket (or a path too long for one)", spawn=False)
    run_dir = os.path.dirname(path)
    if not os.path.lexists(run_dir):
        raise NotTaken("no resident blockc yet", spawn=True)
    if not run_dir_ok(run_dir):
        raise NotTaken(f"{run_dir} is not this user's alone", spawn=False)
    if not _foreground():
        raise NotTaken("a background job with a terminal runs alone", spawn=False)
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError as exc:
            raise NotTaken(f"cannot hand over stream {fd}: {exc}", spawn=False) from None
    umask = os.umask(0o22)
    os.umask(umask)
    ignored = [int(s) for s in FORWARDED if signal.getsignal(s) == signal.SIG_IGN]
    # (signals wait until the command runs there, or runs here)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    request = marshal.dumps(  # (plain data, between two processes of one user and Python)
        {
            "argv": argv,
            "env": dict(os.environ),
            "umask": umask,
            "ignored": ignored,
            "mask": [int(s) for s in mask],
            "startup": key,
        }
    )
    saved = _terminal_modes()
    handed = False
    here = -1
    sock = None
    try:
        try:
            here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise NotTaken(f"cannot hand over the working directory: {exc}", spawn=False) from None
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(ANSWER)
            sock.connect(path)
        except OSError:
            raise NotTaken("no resident blockc answers", spawn=True) from None
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        peer, uid, _ = struct.unpack("3i", creds)
        if uid != os.getuid() or peer <= 0:
            raise NotTaken("the socket is another user's (or out of sight)", spawn=False)
        data = struct.pack("!I", len(request)) + request
        fds = struct.pack("4i", 0, 1, 2, here)
        answers = sock.makefile("rb")
        try:
            sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            if sent < len(data):
                sock.sendall(data[sent:])
        except OSError:  # (refused and closed before all of it was read: its answer follows)
            pass
        try:
            first = answers.readline().decode("utf-8", "replace").rstrip("\n")
            word, _, rest = first.partition(" ")
            if word == "run":
                sock.sendall(ACK)  # (the go-ahead: from here on, it runs there)
        except OSError:  # (a time-out among them: that resident is left to be replaced)
            word, rest = "", ""
        if word != "run" or not rest.isdigit():  # ("refused WHY", or nothing)
            raise NotTaken(rest or "the resident blockc did not answer", spawn=True)
        sock.settimeout(None)
        code = _wait(sock, answers, int(rest), ignored, mask, saved)
        handed = True
        return code
    finally:
        if here >= 0:
            os.close(here)
        if not handed:
            if sock is not None:
                sock.close()
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _terminal_modes():
    if not os.isatty(0):
        return None
    import termios

    try:
        return termios.tcgetattr(0)
    except termios.error:
        return None


def _wait(sock: socket.socket, answers, fork: int, ignored: list[int], mask, saved) -> int:
    def send(*signums: int) -> None:
        try:
            sock.send(bytes(signums))
        except OSError:
            pass

    def forward(signum, frame):
        if signum == signal.SIGTSTP:
            stop()
        elif signum == signal.SIGCONT and _background():
            return  # (`bg`: the fork stays stopped until `fg`; it would read the terminal)
        elif signum in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            send(signum, signal.SIGCONT)  # (a stopped fork woken to it, as a shell's kill does)
        else:
            send(signum)

    def stop() -> None:
        """Ctrl-Z: the fork stops, then this process as SIGTSTP stops it; if the kernel
        does not stop it (a job of no shell's: an orphaned process group), neither goes."""
        send(signal.SIGSTOP)
        old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCONT])
        stopped = False
        try:
            signal.signal(signal.SIGTSTP, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTSTP)  # (delivered before kill returns)
            stopped = signal.SIGCONT in signal.sigpending()  # (what woke it)
        finally:
            signal.signal(signal.SIGTSTP, forward)
            if not stopped:
                send(signal.SIGCONT)
            signal.pthread_sigmask(signal.SIG_SETMASK, old)  # (fg: its SIGCONT forwarded)

    # (SIGCONT always: an ignored one still wakes this process, and the fork must follow)
    taken = [s for s in FORWARDED if s not in ignored or s == signal.SIGCONT]
    before = {s: signal.signal(s, forward) for s in taken}
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    try:  # "exit N", "signal N", or "refused WHY" (no go-ahead came in time: it did not run)
        word, _, number = answers.readline().decode("utf-8", "replace").partition(" ")
    except OSError:  # (the resident process went, with signals it had not read)
        word, number = "", ""
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        if saved is not None and _foreground():
            import termios

            try:
                if termios.tcgetattr(0) != saved:
                    termios.tcsetattr(0, termios.TCSADRAIN, saved)
            except termios.error:
                pass
        for s, handler in before.items():
            signal.signal(s, handler)
        for _ in FORWARDED:  # (signals come for a command that has ended: dropped)
            late = set(signal.sigpending()) & (set(FORWARDED) - set(mask))
            if not late or signal.sigtimedwait(late, 0) is None:
                break
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    if word == "refused":
        raise NotTaken(number.strip(), spawn=False)
    if word == "signal" and number.strip().isdigit():  # ended by a signal: this process too
        signum = int(number)
        _die_of(signum)
        return 128 + signum
    if word != "exit":  # the resident process went first: the fork must not go on alone
        for signum in (signal.SIGHUP, signal.SIGCONT):
            try:
                os.killpg(fork, signum)
            except OSError:
                pass
        sys.stderr.write("error: the resident blockc ended before the command did\n")
        return 1
    return int(number)


def _die_of(signum: int) -> None:
    """End as the fork ended: by ``signum`` (the shell reports it; a core is the fork's)."""
    if signum in _CORE:
        import resource

        try:
            resource.setrlimit(
                resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1])
            )
        except (OSError, ValueError):
            pass
    try:
        signal.signal(signum, signal.SIG_DFL)
    except (OSError, ValueError):  # (SIGKILL's cannot be set: it needs not be)
        pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    try:
        os.kill(os.getpid(), signum)
    except OSError:
        pass


def spawn() -> None:
    """Start a resident process for the next command (in the background, in a session of its
    own, with none of this process's streams; in its working directory, which the resident
    process's module path may name relatively)."""
    import subprocess

    path = socket_path(startup_key(os.environ, sys.path[1:]))
    if path is None:
        return
    run = os.path.dirname(path)
    try:
        os.makedirs(run, mode=0o700, exist_ok=True)
        if not run_dir_ok(run):
            return
        subprocess.Popen(  # (-P: no directory of its own first on its module path)
            [sys.executable, "-P", "-m", "blockc.resident.zygote", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        pass  # (only the next command's speed depends on it)
