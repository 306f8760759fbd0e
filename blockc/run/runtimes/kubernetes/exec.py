"""Commands in a pod through the API's exec stream: a WebSocket speaking
``v5.channel.k8s.io`` (each message is a channel byte, then data: 0 stdin, 1 stdout, 2 stderr,
3 the command's status, 4 terminal size, 255 close a channel). v5 is what lets stdin end
without ending the stream (``kubectl exec -i`` needs the same); a cluster older than 1.30
answers ``v4.channel.k8s.io``, where stdin ends only with the stream.

:class:`ExecProcess` is the stream as a process: ``stdin``/``stdout`` are OS pipes (what the
sync engine and ``blockc exec`` read and write like a local command's), pumped to and from
the WebSocket by two threads; or it is attached to given file descriptors (a terminal).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import socket
import struct
import termios
import threading

from ....sync.agent import big_pipes
from ....sync.transport import Transport, _scratch_file

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
IO = 1 << 20
FRAME = 1 << 16  # the largest message sent (a lock is held for each)


def exec_query(argv: list[str], container: str, *, stdin: bool, tty: bool) -> list:
    query = [("command", a) for a in argv]
    query += [("container", container), ("stdout", "true"), ("stderr", "false" if tty else "true")]
    if stdin:
        query.append(("stdin", "true"))
    if tty:
        query.append(("tty", "true"))
    return query


class Channels:
    """A WebSocket of the API's channel protocols, safe for one reading and one writing
    thread: one TLS operation at a time (OpenSSL's SSL object is not safe for a read and a
    write at once: they lost ~0.5% of exec streams, the status never came). Neither waits
    while holding the lock: the reader polls for data first, the writer sends no more than
    the socket's buffer has room for (a send that blocked with the lock held would keep the
    reader from draining what the remote writes, and a remote blocked on its output reads no
    more input: a deadlock)."""

    def __init__(self, ws):
        self.ws = ws
        self._io = threading.Lock()

    def recv(self):
        """(opcode, data) of the next message."""
        sock = getattr(self.ws, "sock", None)
        if sock is not None:
            with self._io:
                pending = getattr(sock, "pending", None)  # (TLS: data already decrypted)
                ready = bool(pending and pending())
            if not ready:
                _wait(sock, select.POLLIN)
        with self._io:
            return self.ws.recv_data()

    def send(self, data: bytes) -> None:
        """Send ``data`` (its first byte the channel) in messages the socket has room for."""
        sock = getattr(self.ws, "sock", None)
        channel, payload = data[:1], memoryview(data)[1:]
        while True:
            size = FRAME - 1
            if sock is not None:
                while (room := _room(sock)) < 4096:
                    _wait(sock, select.POLLOUT, timeout_ms=50)
                size = min(size, room - 256)  # (frame and TLS record headers)
            with self._io:
                self.ws.send_binary(channel + bytes(payload[:size]))
            payload = payload[size:]
            if not payload:
                return

    def close(self) -> None:
        """Say goodbye (unless a send is stuck: then just shut the socket down)."""
        if self._io.acquire(timeout=1):
            try:
                sock = getattr(self.ws, "sock", None)
                if sock is not None:
                    sock.settimeout(1)
                self.ws.close(timeout=1)
            except Exception:
                pass
            finally:
                self._io.release()
        self.kill()

    def kill(self) -> None:
        """Shut the socket down (the other thread may be using it: it ends, and the socket
        is closed with the WebSocket). The plain socket's shutdown: an SSL socket's own drops
        its TLS state, and a read still under way would take ciphertext for data."""
        sock = getattr(self.ws, "sock", None)
        try:
            if sock is not None:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except (OSError, TypeError):
            pass


def _wait(sock, event: int, timeout_ms: int | None = None) -> None:
    """Until ``sock`` is ready for ``event`` (poll: any descriptor number)."""
    poller = select.poll()
    poller.register(sock, event)
    poller.poll(timeout_ms)


def _room(sock) -> int:
    """Bytes the socket's send buffer takes now without blocking: half its size (the kernel
    counts its bookkeeping in it) less what waits in it (TIOCOUTQ)."""
    size = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2
    try:
        queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
    except OSError:
        return FRAME
    return int(size - queued)


class ExecProcess:
    """A command running in a container of a pod, through an exec WebSocket.

    ``stdin_fd``/``stdout_fd``/``stderr_fd``: descriptors to attach (the caller's terminal);
    by default stdin and stdout are new pipes (``self.stdin``, ``self.stdout``) and stderr is
    kept for :meth:`stderr_text`."""

    def __init__(
        self,
        ws,
        *,
        stdin: bool = True,
        stdin_fd: int | None = None,
        stdout_fd: int | None = None,
        stderr_fd: int | None = None,
    ):
        self.ws = Channels(ws)
        self.v5 = protocol(ws) == V5
        self.returncode: int | None = None
        self.failure = ""  # the API's message when the command could not run
        self._done = threading.Event()
        self.stdin = self.stdout = None
        self._own: list[int] = []  # descriptors this object closes
        if stdout_fd is None:
            self.stdout, stdout_fd = self._pipe(ours="w")
        self._out = stdout_fd
        self._err_file = None
        if stderr_fd is None:
            self._err_file = _scratch_file()
            stderr_fd = self._err_file.fileno()
        self._err = stderr_fd
        self._src = None
        if stdin:
            if stdin_fd is None:
                self.stdin, stdin_fd = self._pipe(ours="r")
            self._src = stdin_fd
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if self._src is not None:
            threading.Thread(target=self._write, daemon=True).start()

    def _pipe(self, ours: str):
        """A pipe: its other end as a file for the caller, this end's descriptor."""
        r, w = os.pipe()
        big_pipes(w)
        mine, theirs = (w, r) if ours == "w" else (r, w)
        self._own.append(mine)
        return open(theirs, "rb" if ours == "w" else "wb", buffering=IO), mine

    # --- the pumps ----------------------------------------------------------------------

    def _read(self) -> None:
        from websocket import ABNF, WebSocketException

        try:
            while True:
                opcode, data = self.ws.recv()
                if opcode == ABNF.OPCODE_CLOSE:
                    break
                if opcode == ABNF.OPCODE_TEXT and isinstance(data, str):
                    data = data.encode()
                if not data:
                    continue
                channel, payload = data[0], memoryview(data)[1:]
                if channel == STDOUT:
                    error = _write_all(self._out, payload)
                    if error is not None:
                        # the reader went away (`blockc exec ... | head -1`): end the command
                        # as a closed pipe ends a local one; another failure is said
                        self.returncode = 141 if error == errno.EPIPE else 1
                        self.failure = "" if error == errno.EPIPE else os.strerror(error)
                        self.ws.kill()
                        break
                elif channel == STDERR:
                    _write_all(self._err, payload)  # (stderr that cannot be written: dropped)
                elif channel == ERROR and payload:
                    self._status(bytes(payload))
        except (WebSocketException, OSError, ValueError):
            pass
        finally:
            if self.returncode is None:
                self.returncode = 0 if self.failure == "" and self._status_seen else 255
                if not self._status_seen and not self.failure:
                    self.failure = "the exec stream ended without the command's status"
            for fd in self._own:
                if fd == self._out:
                    _close(fd)
            self._done.set()
            self.ws.close()

    _status_seen = False

    def _status(self, raw: bytes) -> None:
        self._status_seen = True
        try:
            status = json.loads(raw)
        except ValueError:
            self.failure = raw.decode("utf-8", "replace")
            self.returncode = 126
            return
        if status.get("status") == "Success":
            self.returncode = 0
            return
        for cause in (status.get("details") or {}).get("causes") or ():
            if cause.get("reason") == "ExitCode":
                try:
                    self.returncode = int(cause.get("message"))
                    return
                except (TypeError, ValueError):
                    pass
        # the command did not run (not found, not executable, container gone)
        self.failure = str(status.get("message") or raw.decode("utf-8", "replace"))
        self.returncode = 127 if "not found" in self.failure else 126

    def _write(self) -> None:
        src = self._src
        assert src is not None
        try:
            while not self._done.is_set():
                try:
                    data = os.read(src, IO)
                except BlockingIOError:  # (a non-blocking stdin: wait for data)
                    select.select([src], [], [])
                    continue
                except OSError:  # an unreadable stdin ends as an empty one does
                    break
                if not data:
                    break
                self.ws.send(b"\0" + data)
            if self.v5:
                self.ws.send(bytes((CLOSE, STDIN)))
        except Exception:  # (a stream that cannot take stdin: its end unsaid, so end it)
            if not self._done.is_set():
                self.kill()
        finally:
            if src in self._own:
                _close(src)

    # --- a process ----------------------------------------------------------------------

    def resize(self, columns: int, lines: int) -> None:
        try:
            msg = json.dumps({"Width": columns, "Height": lines}).encode()
            self.ws.send(bytes((RESIZE,)) + msg)
        except Exception:
            pass

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            import subprocess

            raise subprocess.TimeoutExpired("exec", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode if self._done.is_set() else None

    def kill(self) -> None:
        """End the stream (Kubernetes then ends the command: its stdin and stdout close)."""
        self.ws.kill()

    def stderr_text(self) -> str:
        text = ""
        if self._err_file is not None:
            self._err_file.seek(0)
            text = self._err_file.read()[-4000:].decode("utf-8", "replace").strip()
        return "\n".join(t for t in (text, self.failure) if t)


def protocol(ws) -> str:
    """The subprotocol the server chose (asked for in a header: websocket-client records it
    only among the response's headers)."""
    return str(ws.getsubprotocol() or (ws.getheaders() or {}).get("sec-websocket-protocol", ""))


def _write_all(fd: int, data) -> int | None:
    """Write all of ``data``; the errno of a failure (EPIPE: the reader went away)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BlockingIOError:  # (a non-blocking descriptor: wait for room, then go on)
        select.select([], [fd], [])
        return _write_all(fd, view)
    except OSError as exc:
        return exc.errno or errno.EIO
    return None


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class KubeTransport(Transport):
    """The sync's way into a studio pod: the agent runs through the exec stream (as the
    container's user: the studio user, the pod's ``runAsUser``)."""

    def __init__(self, open_exec, pod: str):
        self._open = open_exec  # argv -> ExecProcess
        self.pod = pod

    def popen(self, argv: list[str]):
        return self._open(argv)

    def stderr(self, proc) -> str:
        return proc.stderr_text()

    def describe(self) -> str:
        return f"Kubernetes pod {self.pod}"
