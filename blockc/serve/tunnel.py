"""A WebSocket through the gateway, as bytes: the browser's upgrade request goes to the app
(with the headers the gateway gives every request), the app's ``101`` comes back (with its
headers as for any answer), and from then on what either side sends is written to the other
as it comes. Frames are never parsed, so the gateway holds no message and no state per
socket but two protocol objects (what configurable-http-proxy does too); permessage-deflate,
when both ends agree on it, is theirs.

The browser's connection is taken from aiohttp once the app has said yes
(``transport.set_protocol``, asyncio's own way to hand a connection on); aiohttp's protocol
is told when it ends, so its handler ends with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools

from .upstream import CONNECT_TIMEOUT, AppDown, Broken

HANDSHAKE_TIMEOUT = 60.0  # seconds an app may take to answer an upgrade
MAX_HEAD = 64 * 1024  # bytes of an app's answer head
KEPT_BEFORE_JOIN = 64 * 1024  # bytes the app sends after its 101 held before reading pauses
CLOSE_GRACE = 10.0  # seconds a closed side has to take what was written to it, then cut


def _close(end: _End | None, grace: float = CLOSE_GRACE) -> None:
    """Close one side once what was written to it is sent; cut it after ``grace`` seconds
    if its reader does not take it (a peer that stops reading holds nothing for ever)."""
    if end is None or end.transport is None:
        return
    transport = end.transport
    if grace <= 0:
        transport.abort()
        return
    transport.close()
    asyncio.get_running_loop().call_later(grace, _cut, end)


def _cut(end: _End) -> None:
    if end.transport is not None:  # (still not gone)
        end.transport.abort()


class _End(asyncio.Protocol):
    """One side of a tunnel: what it receives is written to the other side. Either side's
    end (its EOF, as nginx takes it too: a WebSocket is not half-closed) closes the other
    once what was written to it is sent."""

    def __init__(self, on_data: Callable[[], None]) -> None:
        self.on_data = on_data
        self.transport: asyncio.Transport | None = None
        self.peer: _End | None = None
        self.lost: asyncio.Future | None = None
        self.handed_from: asyncio.BaseProtocol | None = None  # (aiohttp's, for the browser)

    def data_received(self, data: bytes) -> None:
        self.on_data()
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        _close(self.peer)
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        if self.handed_from is not None:
            handed, self.handed_from = self.handed_from, None
            handed.connection_lost(exc)

    # the write side's buffer full: stop reading from the other side until it drains
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class _App(_End):
    """The app's side: its answer's head parsed first, the bytes after it kept for later."""

    def __init__(self, on_data: Callable[[], None]) -> None:
        super().__init__(on_data)
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.head: asyncio.Future = asyncio.get_running_loop().create_future()
        self.headers: list[tuple[str, str]] = []
        self.read = 0
        self.status = 0
        self.rest = b""  # (sent by the app after its 101, before the tunnel was joined)

    def connection_made(self, transport) -> None:
        self.transport = transport

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def data_received(self, data: bytes) -> None:
        if self.parser is None:
            if self.peer is None:  # (not joined yet: kept, and no more read for a while)
                self.rest += data
                if len(self.rest) > KEPT_BEFORE_JOIN and self.transport is not None:
                    self.transport.pause_reading()
            else:
                super().data_received(data)
            return
        self.read += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.parser = None
            self.data_received(data[upgrade.args[0] :])  # (kept for the browser)
            self._headed()
            return
        except httptools.HttpParserError as exc:
            self._failed(Broken(f"its answer is not HTTP ({exc})"))
            return
        if self.read > MAX_HEAD and not self.head.done():
            self._failed(Broken(f"its answer's head is larger than {MAX_HEAD} bytes"))

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        status = self.parser.get_status_code()
        if self.parser.should_upgrade():
            self.status = status  # (the rest comes as HttpParserUpgrade)
        elif status == 101:
            self._failed(Broken("it answered 101 without an upgrade"))
        elif 100 <= status < 200:  # (100 Continue, 103 Early Hints: not the answer)
            self.headers = []
        else:
            self.status = status
            self._headed()  # (not an upgrade: its answer ends the tunnel before it began)

    def _headed(self) -> None:
        if not self.head.done():
            self.head.set_result(self.status)
        self.parser = None

    def _failed(self, exc: Exception) -> None:
        self.parser = None
        if not self.head.done():
            self.head.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(Broken("it closed the connection before answering"))
        super().connection_lost(exc)


class Tunnel:
    """An upgrade the app has answered: :attr:`status` and :attr:`headers`; when it is
    ``101``, :meth:`join` to the browser's connection."""

    def __init__(self, app: _App, status: int) -> None:
        self.app = app
        self.status = status
        self.headers = app.headers

    def join(self, transport: asyncio.Transport, head: bytes) -> asyncio.Future:
        """Write ``head`` (the ``101`` as the browser gets it) on the browser's connection,
        then carry bytes both ways. The future is done when the browser's side has ended
        (the app's side is closing by then)."""
        browser = _End(self.app.on_data)
        browser.handed_from = transport.get_protocol()
        transport.set_protocol(browser)
        browser.transport = transport
        browser.lost = asyncio.get_running_loop().create_future()
        browser.peer, self.app.peer = self.app, browser
        if self.app.transport is not None:  # (if what it sent early paused it; first: a
            self.app.transport.resume_reading()  # browser slow to read pauses it anew)
        transport.write(head)
        if self.app.rest:
            transport.write(self.app.rest)
            self.app.rest = b""
        if self.app.transport is None:  # (the app closed already)
            _close(browser)
        return browser.lost

    def close(self, grace: float = CLOSE_GRACE) -> None:
        """End both sides (``grace`` 0: at once, whatever is unsent)."""
        _close(self.app, grace)
        _close(self.app.peer, grace)


def switching(headers: list[tuple[str, str]]) -> bytes:
    """The head of a ``101`` with these headers, as the browser gets it."""
    lines = ["HTTP/1.1 101 Switching Protocols", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


async def open_tunnel(host: str, port: int, head: bytes, on_data: Callable[[], None]) -> Tunnel:
    """Send an upgrade request (``head``: its request line and headers) to the app and
    return its answer once its head is in. :class:`AppDown` when nothing answers there,
    :class:`Broken` when the app's answer is not one."""
    loop = asyncio.get_running_loop()
    try:
        _, app = await asyncio.wait_for(
            loop.create_connection(lambda: _App(on_data), host, port), CONNECT_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        raise AppDown(str(exc)) from None
    if app.transport is None:  # (it closed the connection at once)
        if app.head.done():
            app.head.exception()  # (said here: not left unread)
        raise Broken("it closed the connection before answering")
    app.transport.write(head)
    try:
        status = await asyncio.wait_for(asyncio.shield(app.head), HANDSHAKE_TIMEOUT)
    except BaseException as exc:
        app.head.cancel()  # (nobody waits for it any more: no exception left unread)
        _close(app, 0)
        if isinstance(exc, TimeoutError):
            raise Broken(f"it did not answer in {HANDSHAKE_TIMEOUT:.0f} s") from None
        raise
    if status != 101:
        _close(app, 0)  # (its body, if any, is not read)
    return Tunnel(app, status)
