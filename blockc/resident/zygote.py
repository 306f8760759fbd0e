"""The resident process (see the package): ``python -m blockc.resident.zygote SOCKET``.

It imports what the eligible commands use, listens on SOCKET (made under a temporary name,
then renamed into place: the newest one started wins, an older one sees its socket gone and
leaves), and for each connection of a process of its own user, started as it was (the
package's startup key), forks. The fork waits for a go-ahead, sent only once the command's
process has been told "run PID"; it then takes the command's descriptors, environment,
working directory, umask and ignored signals and runs ``blockc`` with its argv. This process
reports the fork's exit status ("exit N", "signal N") and passes it the signals the command's
process gets; if that process goes, the fork is hung up.
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
RECEIVE = 1.0  # s: a request (or its acknowledged "run") not received by then is dropped
HANG_UP = 5.0  # s: a fork whose command's process went is killed if still there by then
ACK = b"\0"
CHECK_EVERY = 1.0  # s: idle time, the socket still ours
STREAMS = 4  # stdin, stdout, stderr, the working directory (O_PATH)


class Request:
    def __init__(self, message: dict, fds: list[int]):
        self.argv = [str(a) for a in message["argv"]]
        self.env = {str(k): str(v) for k, v in message["env"].items()}
        self.umask = int(message["umask"]) & 0o777
        self.ignored = [int(s) for s in message["ignored"]]
        self.mask = [int(s) for s in message["mask"]]
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


def _file_state(path: str) -> tuple[int, int, int, int]:
    """A file's inode, size, modification and change times (ns)."""
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def code_stamp() -> dict[str, tuple[int, int, int, int]]:
    """Each loaded module's file, with its :func:`_file_state`."""
    out = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            try:
                out[path] = _file_state(path)
            except OSError:
                continue
    return out


def changed(stamp: dict[str, tuple[int, int, int, int]], since: int = 0) -> bool:
    """Whether a file of ``stamp`` changed, or changed after ``since`` (ns; the time the
    process started: a file changed while it was being imported)."""
    for path, seen in stamp.items():
        try:
            now = _file_state(path)
        except OSError:
            return True
        if now != seen or now[3] > since > 0:
            return True
    return False


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """The request: its length, then marshalled data; the descriptors with the first bytes.
    All of it within RECEIVE seconds."""
    deadline = time.monotonic() + RECEIVE

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request came too slowly")
        return remaining

    fds: list[int] = []
    conn.settimeout(left())
    head, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(STREAMS * struct.calcsize("i")))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(struct.unpack(f"{len(data) // 4}i", data[: len(data) - len(data) % 4]))
    try:
        while len(head) < 4:
            conn.settimeout(left())
            more = conn.recv(4 - len(head))
            if not more:
                raise ValueError("no request")
            head += more
        (size,) = struct.unpack("!I", head)
        if size > MAX_REQUEST:
            raise ValueError("request too large")
        body = b""
        while len(body) < size:
            conn.settimeout(left())
            more = conn.recv(min(1 << 16, size - len(body)))
            if not more:
                raise ValueError("request cut short")
            body += more
        if len(fds) != STREAMS:
            raise ValueError("not the command's streams and directory")
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


def _say(conn: socket.socket, line: str) -> bool:
    """One line to the command's process: "run PID", "refused WHY", "exit N", "signal N"."""
    try:
        conn.sendall(line.encode() + b"\n")
        return True
    except OSError:
        return False


def _gone(conn: socket.socket) -> bool:
    """Whether the command's process has closed its end (it sends nothing until "run")."""
    timeout = conn.gettimeout()
    conn.settimeout(0)  # (a look, not a wait)
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        conn.settimeout(timeout)


class _Fork:
    """A command running in a fork: its pid (the leader of its process group), the command's
    process's connection (None once that process is gone) and a pidfd that says its end."""

    def __init__(self, pid: int, conn: socket.socket, pidfd: int):
        self.pid = pid
        self.conn: socket.socket | None = conn
        self.pidfd = pidfd
        self.hung_up = 0.0  # (when its command's process went)

    def signal(self, signum: int) -> None:
        try:  # (its group: it leads it, and is not reaped yet, so the group is still its)
            os.killpg(self.pid, signum)
        except (OSError, ValueError):
            pass


def serve(path: str, started: int, mine: list) -> Request | None:
    """Take commands until idle, replaced or stale; returns (a Request) only in a fork."""
    try:
        idle = float(os.environ.get("BLOCKC_RESIDENT_IDLE", "600"))
    except ValueError:
        idle = 600.0
    stamp = code_stamp()
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
                    got = _take(conn, mine, stamp, started)
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
                try:
                    _, status = os.waitpid(fork.pid, 0)
                except ChildProcessError:  # (reaped already: no status to tell)
                    status = 255 << 8
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
                if not data:  # (as a terminal's hang-up would; a stopped fork woken to it)
                    sel.unregister(fork.conn)
                    fork.conn.close()
                    fork.conn = None
                    fork.signal(signal.SIGHUP)
                    fork.signal(signal.SIGCONT)
                    fork.hung_up = time.monotonic()
                for signum in data:
                    fork.signal(signum)
        for fork in forks.values():  # (one that ignores the hang-up: its command is gone)
            if fork.hung_up and time.monotonic() - fork.hung_up > HANG_UP:
                fork.signal(signal.SIGKILL)
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


def _take(
    conn: socket.socket, mine: list, stamp: dict, started: int
) -> Request | _Fork | str | None:
    """Take one command: None (refused, or its process gone), "stale" (refused: the code
    changed), the fork running it, or (in the fork) its Request."""
    if _peer_uid(conn) != os.getuid():
        conn.close()
        return None
    message, fds = _receive(conn)
    forked = False
    try:
        refusal = None
        try:
            request = Request(message, fds)
        except Exception:
            refusal = "refused: not a request"
        if refusal is None and message.get("startup") != mine:
            refusal = "refused: started with other interpreter settings"
        if refusal is None and changed(stamp, started):
            refusal = "refused: blockc's code changed since it started"
        if refusal is not None or _gone(conn):
            if refusal is not None:
                _say(conn, refusal)
            conn.close()
            return "stale" if refusal and "code changed" in refusal else None
        go_r, go_w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(go_r)
            os.close(go_w)
            raise
        if pid == 0:
            forked = True
            try:
                os.close(go_w)
                conn.close()
                os.setpgid(0, 0)
                if os.read(go_r, 1) != b"g":  # (no go-ahead: the command's process said no)
                    os._exit(0)
                os.close(go_r)
            except BaseException:
                os._exit(1)
            return request
        os.close(go_r)
        try:
            return _release(pid, conn, go_w)
        finally:
            os.close(go_w)
    finally:
        if not forked:
            for fd in fds:
                os.close(fd)


def _release(pid: int, conn: socket.socket, go_w: int) -> _Fork | None:
    """Tell the command's process "run PID", wait for its acknowledgement, then let the fork
    go; else the fork ends unheard."""
    pidfd = -1
    try:
        try:
            os.setpgid(pid, pid)  # (also here: no signal may find the group not made yet)
        except OSError:
            pass
        pidfd = os.pidfd_open(pid)
        conn.settimeout(RECEIVE)
        if not _say(conn, f"run {pid}") or conn.recv(1) != ACK:
            raise ConnectionError("the command's process did not take it")
        os.write(go_w, b"g")
    except OSError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if pidfd >= 0:
            os.close(pidfd)
        _say(conn, "refused no go-ahead in time")  # (to one that acknowledged too late)
        conn.close()
        return None
    conn.settimeout(None)
    return _Fork(pid, conn, pidfd)


def become(request: Request) -> None:
    """This fork takes over the command's process: its streams, working directory,
    environment, umask, ignored and blocked signals and argv, and the signal dispositions and
    standard streams of a new interpreter."""
    for target, fd in enumerate(request.fds[:3]):
        os.dup2(fd, target)
    os.fchdir(request.fds[3])
    for fd in set(request.fds) - {0, 1, 2}:
        os.close(fd)
    os.environ.clear()
    os.environ.update(request.env)
    time.tzset()
    os.umask(request.umask)
    _default_signals()
    for ignored in request.ignored:  # (nohup's, a background job's: ignored here too)
        signal.signal(ignored, signal.SIG_IGN)
    # (as the interpreter makes them: stdout line-buffered on a terminal, stderr always, both
    # written through with PYTHONUNBUFFERED; no newline translation)
    enc, errors = sys.stdout.encoding, sys.stdout.errors or "strict"
    unbuffered = bool(request.env.get("PYTHONUNBUFFERED"))
    sys.stdin = open(0, encoding=enc, errors=errors, newline="\n", closefd=False)
    sys.stdout = _text(1, enc, errors, line=os.isatty(1), unbuffered=unbuffered)
    sys.stderr = _text(2, enc, "backslashreplace", line=True, unbuffered=unbuffered)
    sys.argv = ["blockc", *request.argv]
    signal.pthread_sigmask(signal.SIG_SETMASK, request.mask)


def _text(fd: int, encoding: str, errors: str, *, line: bool, unbuffered: bool):
    import io

    raw = io.FileIO(fd, "w", closefd=False)
    buffered = raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        buffered,
        encoding=encoding,
        errors=errors,
        newline="\n",
        line_buffering=line,
        write_through=unbuffered,
    )


def _default_signals() -> None:
    """Every signal as a new interpreter has it: its default action, but SIGINT's
    KeyboardInterrupt and the SIGPIPE and SIGXFSZ that Python ignores."""
    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def run(request: Request) -> None:
    """Run the command in this fork, and end it as a fork of multiprocessing's ends: the
    streams flushed, the threads the command left waited for, and no teardown of the
    interpreter (~20 ms for the modules loaded here) nor of exit handlers that are the
    resident process's, not the command's (the commands here register none)."""
    import threading

    try:
        become(request)
        from blockc.cli import main as blockc

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
    except BaseException as exc:  # (a bug of ours, or a directory gone: said, never a traceback)
        try:
            os.write(2, f"error: {type(exc).__name__}: {exc}\n".encode(errors="replace"))
        except OSError:
            pass
        code = 1
    for thread in threading.enumerate():
        if not thread.daemon and thread is not threading.current_thread():
            thread.join()
    # (sys.__stdout__ and __stderr__ are the resident's, on the same descriptors now)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code & 0xFF)


def main() -> None:
    """Serve on the socket of ``argv[1]``: with the signals of a new interpreter, none
    blocked (not the dispositions of whichever command started it), its key as it started."""
    import gc
    import warnings

    started = time.time_ns()
    _default_signals()
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    mine = startup_key(os.environ, sys.path)  # (-P: no directory of its own on it)
    with warnings.catch_warnings():  # (said to nobody here; the command says its own)
        warnings.simplefilter("ignore")
        preload()
    gc.collect()
    gc.freeze()  # (the loaded modules: no fork walks them in a collection, ~7 ms)
    for stream in (sys.stdout, sys.stderr):  # (nothing of its own left for a fork to write)
        stream.flush()
    request = serve(sys.argv[1], started, mine)
    if request is not None:
        run(request)


if __name__ == "__main__":
    main()
