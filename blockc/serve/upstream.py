"""HTTP/1.1 from the gateway to the apps: pooled keep-alive connections, parsed by llhttp
(httptools), bodies streamed both ways with flow control.

Why not aiohttp's client: per request it costs the gateway as much as the rest of its work
together. A proxy built on it made 9.5k and 7.4k requests/s where one built on this made
13.6k and 20.4k (two rounds, same nginx, same wrk, side by side; benchmarks/gateway.py has
the whole gateway against configurable-http-proxy).

An answer to HEAD has no body, whatever its headers say, and llhttp cannot be told so: it is
taken as whole at its headers, and its connection is closed (never reused: an app that sent
a body anyway would have it read as the next answer). Upgrades (WebSocket) are not done here:
:mod:`.tunnel` does them.
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
        self.until_close = False  # (an answer of no stated length: its body ends at close)
        self.drained = False  # (its body read to the end: only then may it be reused)
        self.sender: asyncio.Future | None = None

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self.ignore_rest:
            return
        if self.head is None:  # (idle in the pool: an app says nothing unasked, but "408")
            self.failed = Broken("the app spoke on an idle connection")
            if self.transport is not None:
                self.transport.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # (an answer that switches protocols: not here)
            self._fail(Broken("the app switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(Broken(f"the app's answer is not HTTP/1.1 ({exc})"))

    def connection_lost(self, exc) -> None:
        self.transport = None
        if not self.complete and self.until_close and self.head is not None and self.head.done():
            self.complete = True  # (a body of no stated length ends where the connection does)
            self._wake()
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
        self.headers.append((name.decode("latin-1"), _text(value)))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # (100 Continue and the like: not the answer)
            self.headers = []
            return
        self.keep_alive = self.parser.should_keep_alive()  # (llhttp knows it here, not after)
        names = {name.lower() for name, _ in self.headers}
        self.until_close = (
            "content-length" not in names
            and "transfer-encoding" not in names
            and status not in (204, 304)
        )
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
                self.drained = True
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
        self.used = 0.0  # (time.time() a route last took it)

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

    def sweep(self) -> None:
        """Close the idle connections kept too long (an app closes its own after a while;
        until then each holds a descriptor)."""
        now = time.monotonic()
        kept = []
        for conn in self.idle:
            if conn.transport is not None and now - conn.idle_since < IDLE_KEPT:
                kept.append(conn)
            elif conn.transport is not None:
                conn.transport.close()
        self.idle = kept

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
        if conn.sender is not None and not conn.sender.done():
            conn.sender.cancel()  # (no more of the request's body is read for it)
        keep = (
            conn.complete
            and conn.drained
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
        conn.drained = False
        conn.until_close = False
        conn.sender = None
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    async def request(
        self,
        head: bytes,
        body: AsyncIterator[bytes] | None,
        chunked: bool,
        *,
        is_head: bool = False,
        idempotent: bool = True,
    ) -> Answer:
        """Send a request (``head``: its request line and headers, CRLF-terminated; ``body``:
        its bytes, sent chunked when ``chunked``) and return the answer once its headers are
        in. A connection reused from the pool that turns out closed is replaced once, for an
        ``idempotent`` request without a body (any other may have been acted on: never sent
        twice)."""
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
                sender = conn.sender = asyncio.ensure_future(_send(conn, body, chunked))
            try:
                if sender is None:
                    status = await conn.head
                else:
                    await asyncio.wait((conn.head, sender), return_when=asyncio.FIRST_COMPLETED)
                    if sender.done() and sender.exception() is not None:
                        conn.head.cancel()
                        raise sender.exception()  # type: ignore[misc]
                    status = await conn.head
            except BaseException as exc:
                # (the app's failure, the request body's, or the browser gone: the
                # connection is closed, never left to wait for the rest of a request)
                if sender is not None:
                    sender.cancel()
                if conn.transport is not None:
                    conn.transport.close()
                if (
                    isinstance(exc, Broken)
                    and not fresh
                    and body is None
                    and idempotent
                    and not conn.got_bytes
                ):
                    continue  # (the app had closed the idle connection: once more, anew)
                raise
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
    try:
        await _send_all(conn, body, chunked)
    except (Broken, asyncio.CancelledError):
        raise
    except Exception as exc:  # (the browser's upload broke off: so does this request)
        raise Broken(f"the request's body broke off ({type(exc).__name__})") from None


async def _send_all(conn: _Connection, body: AsyncIterator[bytes], chunked: bool) -> None:
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
    """The request line and headers, in the bytes they came in (aiohttp's server decoded
    them as UTF-8 with surrogate escapes: encoded back the same way, bytes for bytes)."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def _text(value: bytes) -> str:
    """A header value of an answer, as text aiohttp sends as the same bytes (UTF-8; other
    bytes, rare in headers, as Latin-1, which it sends re-encoded rather than fail on)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")
