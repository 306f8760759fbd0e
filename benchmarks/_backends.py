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


async def ws_load(url: str, seconds: float, conns: int, headers: dict) -> None:
    count = 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            nonlocal count
            async with session.ws_connect(url, headers=headers) as sock:
                while time.monotonic() < deadline:
                    await sock.send_str("x" * 64)
                    msg = await sock.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise RuntimeError(f"not an echo: {msg}")
                    count += 1

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(conns)))
        print(count / (time.monotonic() - started), flush=True)


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
