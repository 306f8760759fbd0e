"""An app for the front door's tests to reach through the gateway (a process of its own).

    python serve_backend.py PORT

Whatever the path's prefix, its last part says what it does:

    …/echo       JSON: the method, raw path, headers and body size it got
    …/redirect   302 to ?to=
    …/cookie     sets the cookies named in ?set= (name=value;attributes, one per query item)
    …/ws         a WebSocket echo (its text, and "protocol:<p>" for "?")
    …/sink       reads the body, answers its size
    …/big        streams ?mib= MiB of zeros
"""

from __future__ import annotations

import sys

from aiohttp import web


async def handle(request: web.Request) -> web.StreamResponse:
    last = request.path.rstrip("/").rsplit("/", 1)[-1]
    if last == "ws" and request.headers.get("Upgrade", "").lower() == "websocket":
        sock = web.WebSocketResponse(protocols=("chat.v1", "other.v2"), max_msg_size=0)
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == web.WSMsgType.TEXT:
                await sock.send_str(f"protocol:{sock.ws_protocol}" if msg.data == "?" else msg.data)
            elif msg.type == web.WSMsgType.BINARY:
                await sock.send_bytes(msg.data)
        return sock
    if last == "redirect":
        return web.Response(status=302, headers={"Location": request.query["to"]})
    if last == "cookie":
        response = web.Response(text="cookies")
        for item in request.query.getall("set", []):
            response.headers.add("Set-Cookie", item)
        return response
    if last == "sink":
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response({"bytes": size})
    if last == "big":
        response = web.StreamResponse()
        response.content_length = int(request.query["mib"]) << 20
        await response.prepare(request)
        block = b"\0" * (1 << 20)
        for _ in range(int(request.query["mib"])):
            await response.write(block)
        await response.write_eof()
        return response
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": len(body),
        }
    )


if __name__ == "__main__":
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
