"""``blockc forward``: every app of a studio on 127.0.0.1, through the API's port-forward.

Each local port listens on 127.0.0.1 (the app's own port when it is free); each connection
made to it gets a port-forward WebSocket of its own to the app's port in the studio's pod, and
bytes go both ways as they come (HTTP and WebSocket alike: it is a TCP tunnel). Channels of
the stream (``v4.channel.k8s.io``): 0 the data of the port, 1 its errors; the first message on
each is the port number.
"""

from __future__ import annotations

import selectors
import socket
import sys
import threading
from collections.abc import Callable

from .exec import V4, Channels

DATA, ERROR = 0, 1


class Forward:
    """Listening sockets for some ports of a pod; :meth:`serve` forwards until stopped."""

    def __init__(
        self,
        open_stream: Callable[[int], object],
        ports: dict[str, int],
        *,
        host: str = "127.0.0.1",
        log: Callable[[str], None] | None = None,
    ):
        self._open = open_stream  # container port -> a connected port-forward WebSocket
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.listeners: dict[str, tuple[socket.socket, int]] = {}
        self._stop = threading.Event()
        for app_id, port in ports.items():
            self.listeners[app_id] = (_listen(host, port), port)

    def local_port(self, app_id: str) -> int:
        return int(self.listeners[app_id][0].getsockname()[1])

    def serve(self) -> None:
        sel = selectors.DefaultSelector()
        for app_id, (sock, port) in self.listeners.items():
            sel.register(sock, selectors.EVENT_READ, (app_id, port))
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.5):
                    try:
                        conn, _addr = key.fileobj.accept()  # type: ignore[union-attr]
                    except OSError:
                        continue
                    app_id, port = key.data
                    threading.Thread(
                        target=self._tunnel, args=(conn, app_id, port), daemon=True
                    ).start()
        finally:
            sel.close()
            for sock, _ in self.listeners.values():
                sock.close()

    def stop(self) -> None:
        self._stop.set()

    def _tunnel(self, conn: socket.socket, app_id: str, port: int) -> None:
        try:
            ws = Channels(self._open(port))
        except Exception as exc:
            self.log(f"forward {app_id}: {exc}")
            conn.close()
            return
        back = threading.Thread(target=self._from_pod, args=(ws, conn, app_id), daemon=True)
        back.start()
        try:
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    break
                ws.send(bytes((DATA,)) + data)
        except Exception:
            pass
        finally:
            ws.close()
            back.join(timeout=2)
            conn.close()

    def _from_pod(self, ws: Channels, conn: socket.socket, app_id: str) -> None:
        from websocket import ABNF

        first = {DATA: True, ERROR: True}
        try:
            while True:
                opcode, data = ws.recv()
                if opcode == ABNF.OPCODE_CLOSE or not data:
                    break
                channel, payload = data[0], data[1:]
                if first.get(channel):  # (the port number, once per channel)
                    first[channel] = False
                    continue
                if channel == DATA:
                    conn.sendall(payload)
                elif channel == ERROR and payload:
                    self.log(f"forward {app_id}: {payload.decode('utf-8', 'replace')}")
                    break
        except Exception:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _listen(host: str, preferred: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in (preferred, 0):
        sock = socket.socket(family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock
    raise OSError(f"cannot listen on {host}")


def open_port_stream(rt, studio: str) -> Callable[[int], object]:
    """A function opening a port-forward WebSocket to a port of the studio's pod (found again
    when the pod was replaced)."""
    from urllib.parse import quote

    from .rest import ApiError

    def open_stream(port: int):
        for fresh in (False, True):  # (the pod was replaced: find it again, once)
            pod = rt._pod(studio, fresh=fresh)
            path = f"/api/v1/namespaces/{quote(rt.namespace)}/pods/{quote(pod)}/portforward"
            try:
                return rt.rest.websocket(path, [("ports", str(port))], [V4])
            except ApiError as exc:
                if fresh:
                    raise rt.cluster.error(exc, f"port-forward to the pod {pod}") from None
        raise AssertionError("unreachable")

    return open_stream
