"""The resident process (see the package): ``python -m blockc.resident.zygote SOCKET``.

It imports what the eligible commands use, listens on SOCKET (made under a temporary name,
then renamed into place: the newest one started wins, an older one sees its socket gone and
leaves), and for each connection of a process of its own user forks: the fork takes the
command's descriptors, environment, directory and umask and runs ``blockc`` with its argv;
this process reports the fork's exit status and passes it the signals the command gets.
"""

from __future__ import annotations

import marshal
import os
import selectors
import signal
import socket
import struct
import sys
import time

from . import startup_key

PRELOAD = (
    "blockc.cli",
    "blockc.run.lifecycle",
    "blockc.run.progress",
    "blockc.run.settings",
    "blockc.run.runtimes.podman",
    "blockc.run.runtimes.kubernetes",
    "blockc.run.runtimes.kubernetes.forward",
    "blockc.sync.studio",
    "blockc.sync.engine",
    "blockc.sync.session",
    "blockc.readfile",
    "websocket",
    "yaml",
    "sh",
    "encodings.idna",  # (a host name's encoding: http.client, socket; loads unicodedata)
)
MAX_REQUEST = 4 << 20
CHECK_EVERY = 1.0  # s: idle time, the socket still ours


class Request:
    def __init__(self, message: dict, fds: list[int]):
        self.argv = [str(a) for a in message["argv"]]
        self.env = {str(k): str(v) for k, v in message["env"].items()}
        self.cwd = str(message["cwd"])
        self.umask = int(message["umask"]) & 0o777
        self.fds = fds


def preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # (one that fails here fails in the command too, where it is said)
            pass
    from blockc.cli import parser

    parser()  # (~9 ms of every command: argparse's objects, and gettext's look-ups for them)


def code_stamp() -> dict[str, tuple[int, int]]:
    """Each loaded module's file with its modification time and size."""
    out = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            try:
                st = os.stat(path)
            except OSError:
                continue
            out[path] = (st.st_mtime_ns, st.st_size)
    return out


def changed(stamp: dict[str, tuple[int, int]]) -> bool:
    for path, seen in stamp.items():
        try:
            st = os.stat(path)
        except OSError:
            return True
        if (st.st_mtime_ns, st.st_size) != seen:
            return True
    return False


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """The request: its length, then JSON; the descriptors with the first bytes."""
    conn.settimeout(5)
    fds: list[int] = []
    head, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(3 * struct.calcsize("i")))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(struct.unpack(f"{len(data) // 4}i", data[: len(data) - len(data) % 4]))
    try:
        while len(head) < 4:
            more = conn.recv(4 - len(head))
            if not more:
                raise ValueError("no request")
            head += more
        (size,) = struct.unpack("!I", head)
        if size > MAX_REQUEST:
            raise ValueError("request too large")
        body = b""
        while len(body) < size:
            more = conn.recv(min(1 << 16, size - len(body)))
            if not more:
                raise ValueError("request cut short")
            body += more
        if len(fds) != 3:
            raise ValueError("not the command's three streams")
        message = marshal.loads(body)
        if not isinstance(message, dict):
            raise ValueError("not a request")
        return message, fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _say(conn: socket.socket, line: str) -> None:
    """One line to the command's process: "run", "refused WHY", "exit N", "signal N"."""
    try:
        conn.sendall(line.encode() + b"\n")
    except OSError:
        pass


class _Fork:
    """A command running in a fork: its pid (the leader of its process group), the command's
    process's connection (None once that process is gone) and a pidfd that says its end."""

    def __init__(self, pid: int, conn: socket.socket):
        self.pid = pid
        self.conn: socket.socket | None = conn
        self.pidfd = os.pidfd_open(pid)

    def signal(self, signum: int) -> None:
        try:  # (its group: it leads it, and is not reaped yet, so the group is still its)
            os.killpg(self.pid, signum)
        except (OSError, ValueError):
            pass


def serve(path: str) -> Request | None:
    """Take commands until idle, replaced or stale; returns (a Request) only in a fork."""
    idle = float(os.environ.get("BLOCKC_RESIDENT_IDLE", "600"))
    stamp = code_stamp()
    mine = startup_key(os.environ, sys.executable)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temp = f"{path}.{os.getpid()}"
    old = os.umask(0o177)
    try:
        listener.bind(temp)
    finally:
        os.umask(old)
    listener.listen(64)
    os.rename(temp, path)
    ours = os.stat(path).st_ino
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    forks: dict[int, _Fork] = {}  # pidfd -> fork
    last = time.monotonic()
    listening = True

    def stop_listening() -> None:
        nonlocal listening
        if listening:
            listening = False
            sel.unregister(listener)
            listener.close()
            try:
                if os.stat(path).st_ino == ours:
                    os.unlink(path)
            except OSError:
                pass

    while listening or forks:
        for key, _ in sel.select(CHECK_EVERY):
            fork = key.data
            if fork is None:  # a command's process connects
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                try:
                    got = _take(conn, mine, stamp)
                except Exception:  # (a request that cannot be read: that client's failure)
                    conn.close()
                    continue
                if got == "stale":
                    stop_listening()
                elif isinstance(got, Request):  # this is the fork: only the command is left
                    sel.close()
                    for other in forks.values():
                        os.close(other.pidfd)
                        if other.conn is not None:
                            other.conn.close()
                    if listening:
                        listener.close()
                    return got
                elif isinstance(got, _Fork):
                    forks[got.pidfd] = got
                    sel.register(got.pidfd, selectors.EVENT_READ, got)
                    sel.register(conn, selectors.EVENT_READ, got)
            elif key.fd == fork.pidfd:  # the fork ended: its status to the command's process
                del forks[fork.pidfd]
                sel.unregister(fork.pidfd)
                os.close(fork.pidfd)
                _, status = os.waitpid(fork.pid, 0)
                if fork.conn is not None:
                    sel.unregister(fork.conn)
                    if os.WIFSIGNALED(status):
                        _say(fork.conn, f"signal {os.WTERMSIG(status)}")
                    else:
                        _say(fork.conn, f"exit {os.waitstatus_to_exitcode(status)}")
                    fork.conn.close()
                    fork.conn = None
            elif fork.conn is not None:  # signals to pass on, or the command's process gone
                try:
                    data = fork.conn.recv(64)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(fork.conn)
                    fork.conn.close()
                    fork.conn = None
                    fork.signal(signal.SIGHUP)  # (as a terminal's hang-up would)
                for signum in data:
                    fork.signal(signum)
        if forks:
            last = time.monotonic()  # (idle: since the last command ended)
        if listening:
            try:
                replaced = os.stat(path).st_ino != ours
            except OSError:
                replaced = True
            if replaced or (not forks and time.monotonic() - last > idle):
                stop_listening()
    return None


def _take(conn: socket.socket, mine: list, stamp: dict) -> Request | _Fork | str | None:
    """Take one command: None (refused), "stale" (refused: the code changed), the fork
    running it, or (in the fork) its Request."""
    if _peer_uid(conn) != os.getuid():
        conn.close()
        return None
    message, fds = _receive(conn)
    refusal = None
    try:
        request = Request(message, fds)
    except (KeyError, TypeError, ValueError, AttributeError):
        refusal = "refused: not a request"
    if refusal is None and message.get("startup") != mine:
        refusal = "refused: started with other interpreter settings"
    if refusal is None and changed(stamp):
        refusal = "refused: blockc's code changed since it started"
    if refusal is not None:
        for fd in fds:
            os.close(fd)
        _say(conn, refusal)
        conn.close()
        return "stale" if "code changed" in refusal else None
    pid = os.fork()
    if pid == 0:
        conn.close()
        os.setpgid(0, 0)
        return request
    try:
        os.setpgid(pid, pid)  # (also here: no signal may find the group not made yet)
    except OSError:
        pass
    for fd in fds:
        os.close(fd)
    conn.settimeout(None)
    fork = _Fork(pid, conn)
    _say(conn, "run")
    return fork


def become(request: Request) -> None:
    """This fork takes over the command's process: its streams, environment, directory,
    umask and argv, and the signal dispositions of a new interpreter."""
    for target, fd in enumerate(request.fds):
        os.dup2(fd, target)
    for fd in set(request.fds) - {0, 1, 2}:
        os.close(fd)
    os.environ.clear()
    os.environ.update(request.env)
    os.chdir(request.cwd)
    os.umask(request.umask)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD, signal.SIGWINCH):
        signal.signal(s, signal.SIG_DFL)
    enc, errors = sys.stdout.encoding, sys.stdout.errors
    # (as the interpreter makes them: stdout line-buffered on a terminal, stderr always)
    sys.stdin = open(0, encoding=enc, errors=errors, closefd=False)
    line = 1 if os.isatty(1) else -1
    sys.stdout = open(1, "w", line, encoding=enc, errors=errors, closefd=False)
    sys.stderr = open(2, "w", 1, encoding=enc, errors="backslashreplace", closefd=False)
    sys.argv = ["blockc", *request.argv]


def run(request: Request) -> None:
    """Run the command in this fork, and end it as a fork of multiprocessing's ends: the
    streams flushed, the threads the command left waited for, and no teardown of the
    interpreter (~20 ms for the modules loaded here) nor of exit handlers that are the
    resident process's, not the command's (the commands here register none)."""
    import threading

    become(request)
    from blockc.cli import main as blockc

    try:
        blockc(request.argv)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    for thread in threading.enumerate():
        if not thread.daemon and thread is not threading.current_thread():
            thread.join()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code & 0xFF)


def main() -> None:
    path = sys.argv[1]
    preload()
    request = serve(path)
    if request is not None:
        run(request)


if __name__ == "__main__":
    main()
