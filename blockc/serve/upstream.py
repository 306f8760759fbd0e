"""HTTP/1.1 from the gateway to the apps: pooled keep-alive connections, parsed by llhttp
(httptools), bodies streamed both ways with flow control.

Why not aiohttp's client, which the gateway uses for WebSockets: per request it costs the
gateway as much as the rest of its work together. A proxy built on it made 9.5k and 7.4k
requests/s where one built on this made 13.6k and 20.4k (two rounds, same nginx, same wrk,
side by side; benchmarks/gateway.py has the whole gateway against configurable-http-proxy).

An answer to HEAD has no body, whatever its headers say, and llhttp cannot be told so: it is
taken as whole at its headers, and its connection is closed (never reused: an app that sent
a body anyway would have it read as the next answer). Upgrades (WebSocket) are not done here:
the gateway uses aiohttp's client for them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator

import httptools

CONNECT_TIMEOUT = 10.0
IDLE_KEPT = 50.0  # seconds an idle connection is reused (apps close theirs after 60-75 s)
IDLE_MAX = 256  # idle connections kept per app
HIGH_WATER = 1 << 20  # bytes of an answer's body held before reading from the app pauses


class AppDown(Exception):
    """No connection to the app (nothing listens, or it refused)."""


class Broken(Exception):
    """The app's connection ended or sent garbage before its answer was whole."""


class _Connection(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.head: asyncio.Future | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: deque[bytes] = deque()
        self.queued = 0
        self.complete = False
        self.failed: BaseException | None = None
        self.readable: asyncio.Future | None = None  # woken when a chunk or the end comes
        self.writable: asyncio.Future | None = None  # set while the transport is paused
        self.idle_since = 0.0
        self.got_bytes = False
        self.reusable = True  # (not when the app answered before the request was all sent)
        self.keep_alive = False  # (what the answer's headers say)
        self.head_request = False
        self.ignore_rest = False

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self.ignore_rest:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # (an answer that switches protocols: not here)
            self._fail(Broken("the app switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(Broken(f"the app's answer is not HTTP/1.1 ({exc})"))

    def connection_lost(self, exc) -> None:
        self.transport = None
        if not self.complete:
            self._fail(Broken("the app closed the connection before its answer was whole"))
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    # --- httptools ------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # (100 Continue and the like: not the answer)
            self.headers = []
            return
        self.keep_alive = self.parser.should_keep_alive()  # (llhttp knows it here, not after)
        if self.head_request:  # (no body, and the connection is not used again)
            self.ignore_rest = True
            self.complete = True
            self.reusable = False
        if self.head is not None and not self.head.done():
            self.head.set_result(status)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.queued += len(body)
        if self.queued > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.head is not None and not self.head.done():
            return  # (the end of an interim answer)
        self.complete = True
        self._wake()

    # --- the request's side ---------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = exc
        if self.head is not None and not self.head.done():
            self.head.set_exception(exc)
        self._wake()
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self.readable is not None and not self.readable.done():
            self.readable.set_result(None)

    async def drain(self) -> None:
        if self.writable is not None:
            await self.writable
        if self.transport is None:
            raise Broken("the app closed the connection while the request was sent")

    async def body(self) -> AsyncIterator[bytes]:
        """The answer's body, as it comes."""
        while True:
            while self.chunks:
                chunk = self.chunks.popleft()
                self.queued -= len(chunk)
                if self.queued <= HIGH_WATER // 2 and self.transport is not None:
                    self.transport.resume_reading()
                yield chunk
            if self.complete:
                return
            if self.failed is not None:
                raise self.failed
            self.readable = asyncio.get_running_loop().create_future()
            await self.readable


class Answer:
    """An app's answer: its status and headers, then its body (:meth:`read` or :meth:`chunks`);
    :meth:`release` gives the connection back (or closes it, when it cannot be reused)."""

    def __init__(self, conn: _Connection, status: int) -> None:
        self._conn = conn
        self.status = status
        self.headers = conn.headers

    @property
    def complete(self) -> bool:
        return self._conn.complete

    def chunks(self) -> AsyncIterator[bytes]:
        return self._conn.body()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self._conn.body()])

    def release(self) -> None:
        self._conn.pool.release(self._conn)


class Pool:
    """Keep-alive connections to one app (one host and port, one gate and app)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self), self.host, self.port),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError) as exc:
            raise AppDown(str(exc)) from None
        return conn

    def close(self) -> None:
        """Close the idle connections (those in use end with their answers)."""
        while self.idle:
            conn = self.idle.pop()
            if conn.transport is not None:
                conn.transport.close()

    def _reused(self) -> _Connection | None:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.transport is not None and now - conn.idle_since < IDLE_KEPT:
                return conn
            if conn.transport is not None:
                conn.transport.close()
        return None

    def release(self, conn: _Connection) -> None:
        keep = (
            conn.complete
            and conn.reusable
            and conn.failed is None
            and conn.transport is not None
            and conn.keep_alive
            and len(self.idle) < IDLE_MAX
        )
        if not keep:
            if conn.transport is not None:
                conn.transport.close()
            return
        conn.head = None
        conn.headers = []
        conn.complete = False
        conn.got_bytes = False
        conn.keep_alive = False
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    async def request(
        self, head: bytes, body: AsyncIterator[bytes] | None, chunked: bool, *, is_head=False
    ) -> Answer:
        """Send a request (``head``: its request line and headers, CRLF-terminated; ``body``:
        its bytes, sent chunked when ``chunked``) and return the answer once its headers are
        in. A connection reused from the pool that turns out closed is replaced once, when the
        request has no body (one with a body may have been read in part: never sent twice)."""
        for attempt in (0, 1):
            conn = self._reused() if attempt == 0 else None
            fresh = conn is None
            if conn is None:
                conn = await self._connect()
            loop = asyncio.get_running_loop()
            conn.head = loop.create_future()
            conn.head_request = is_head
            assert conn.transport is not None
            conn.transport.write(head)
            sender = None
            if body is not None:
                sender = asyncio.ensure_future(_send(conn, body, chunked))
            try:
                if sender is None:
                    status = await conn.head
                else:
                    await asyncio.wait((conn.head, sender), return_when=asyncio.FIRST_COMPLETED)
                    if sender.done() and sender.exception() is not None:
                        conn.head.cancel()
                        raise sender.exception()  # type: ignore[misc]
                    status = await conn.head
            except Broken:
                if sender is not None:
                    sender.cancel()
                if conn.transport is not None:
                    conn.transport.close()
                if fresh or body is not None or conn.got_bytes:
                    raise
                continue  # (the app had closed the idle connection: once more, on a new one)
            if sender is not None and not sender.done():
                # the app answered before the whole body was sent: the rest goes on being
                # sent (the app may read it still); a connection left so is not reused
                conn.reusable = False
                sender.add_done_callback(_retrieved)
            return Answer(conn, status)
        raise AssertionError("unreachable")


def _retrieved(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # (seen: an upload the app stopped reading is no error of ours)


async def _send(conn: _Connection, body: AsyncIterator[bytes], chunked: bool) -> None:
    async for chunk in body:
        if not chunk:
            continue
        transport = conn.transport
        if transport is None:
            raise Broken("the app closed the connection while the request was sent")
        if chunked:
            transport.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        else:
            transport.write(chunk)
        await conn.drain()
    if chunked and conn.transport is not None:
        conn.transport.write(b"0\r\n\r\n")


def request_head(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
