"""Backends and load for benchmarks/gateway.py, run as processes of their own.

_backends.py echo PORT                    WebSocket echo at /ws, a byte sink at /sink
_backends.py ws-load URL SECONDS CONNS [HEADER=VALUE...]
                                          messages/s over CONNS WebSockets (echo round trips)
_backends.py ws-idle URL COUNT [HEADER=VALUE...]
                                          open COUNT WebSockets, print "open", wait for stdin
_backends.py upload URL MIB [HEADER=VALUE...]
                                          stream MIB MiB in one POST, print seconds
_backends.py gateway-no-auth HOME LISTEN USER
                                          blockc serve with every request taken as USER's
"""

from __future__ import annotations

import asyncio
import sys
import time
from urllib.parse import urlsplit

import aiohttp
import uvloop
from aiohttp import web


def _headers(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def echo(port: int) -> None:
    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse(max_msg_size=0)
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await sock.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await sock.send_bytes(msg.data)
        return sock

    async def sink(request: web.Request) -> web.Response:
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response({"bytes": size})

    app = web.Application()
    app.add_routes([web.get("/{tail:.*}ws", ws), web.post("/{tail:.*}sink", sink)])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


MESSAGE = b"x" * 64
# a client's text frame of MESSAGE (FIN, text; masked, as a client's must be: with a zero
# mask, which leaves it as it is), and the server's echo of it (unmasked)
FRAME = b"\x81" + bytes([0x80 | len(MESSAGE)]) + b"\0\0\0\0" + MESSAGE
ECHO = b"\x81" + bytes([len(MESSAGE)]) + MESSAGE


class _Pinger(asyncio.Protocol):
    """One WebSocket sending MESSAGE and waiting for its echo, again and again. Bytes, not a
    WebSocket library: what the load costs is kept small next to what the proxy does."""

    def __init__(self, head: bytes, deadline: float) -> None:
        self.head, self.deadline = head, deadline
        self.buffer = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.count = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.head)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(RuntimeError(self.buffer[:200].decode()))
                return
            self.buffer = self.buffer[end + 4 :]
            self.upgraded.set_result(None)
            self.transport.write(FRAME)
        while len(self.buffer) >= len(ECHO):
            if not self.buffer.startswith(ECHO):
                raise RuntimeError(f"not an echo: {self.buffer[:80]!r}")
            self.buffer = self.buffer[len(ECHO) :]
            self.count += 1
            if time.monotonic() < self.deadline:
                self.transport.write(FRAME)
            elif not self.buffer:
                self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(RuntimeError("closed before the upgrade"))


async def ws_load(url: str, seconds: float, conns: int, headers: dict) -> None:
    parts = urlsplit(url)
    lines = [
        f"GET {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    deadline = started + seconds
    made = await asyncio.gather(
        *(
            loop.create_connection(lambda: _Pinger(head, deadline), parts.hostname, parts.port)
            for _ in range(conns)
        )
    )
    pingers = [p for _, p in made]
    await asyncio.gather(*(p.upgraded for p in pingers))
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    print(sum(p.count for p in pingers) / (time.monotonic() - started), flush=True)
    for p in pingers:
        p.transport.close()


async def ws_idle(url: str, count: int, headers: dict) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        socks = []
        for i in range(0, count, 50):
            socks += await asyncio.gather(
                *(session.ws_connect(url, headers=headers) for _ in range(min(50, count - i)))
            )
        print("open", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for sock in socks:
            await sock.close()


async def upload(url: str, mib: int, headers: dict) -> None:
    block = b"\0" * (1 << 20)

    async def body():
        for _ in range(mib):
            yield block

    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body(), headers=headers) as resp:
            got = await resp.json()
    if resp.status != 200 or got["bytes"] != mib << 20:
        raise SystemExit(f"upload failed: {resp.status} {got}")
    print(time.monotonic() - started, flush=True)


def gateway_no_auth(home: str, listen: str, user: str) -> None:
    """The front door with the auth check taken out: every request is USER's (the benchmark's
    "auth turned off" side; the server is otherwise the one `blockc serve` runs)."""
    import os

    os.environ["BLOCKC_HOME"] = home
    from blockc.plugins import load
    from blockc.run.settings import load_settings
    from blockc.serve import auth, server
    from blockc.serve.accounts import get_user

    who = auth.Identity(get_user(user), "token")
    auth.Auth.identify = lambda self, headers, cookies, peer: who  # type: ignore[method-assign]
    server.serve(load_settings(), load(spec="none"), listen)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "echo":
        uvloop.install()
        echo(int(args[0]))
    elif cmd == "ws-load":
        uvloop.run(ws_load(args[0], float(args[1]), int(args[2]), _headers(args[3:])))
    elif cmd == "ws-idle":
        uvloop.run(ws_idle(args[0], int(args[1]), _headers(args[2:])))
    elif cmd == "upload":
        uvloop.run(upload(args[0], int(args[1]), _headers(args[2:])))
    elif cmd == "gateway-no-auth":
        gateway_no_auth(*args)
    else:
        raise SystemExit(__doc__)
