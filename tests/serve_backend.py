"""An app for the front door's tests to reach through the gateway (a process of its own).

    python serve_backend.py PORT

Whatever the path's prefix, its last part says what it does:

    …/echo       JSON: the method, raw path, headers and body size it got, and from where
    …/redirect   302 to ?to=
    …/cookie     sets the cookies named in ?set= (name=value;attributes, one per query item)
    …/ws         a WebSocket echo (its text, "protocol:<p>" for "?"; "bye" closes it with
                 4001); with ?greet= it says that first, unasked
    …/nows       refuses the WebSocket (403)
    …/raw101     a 101 as a broken app sends it: ?kind=noupgrade (no Upgrade header), or
                 badlocation (a Location that is no URL, then a flood of bytes)
    …/sink       reads the body, answers its size
    …/big        streams ?mib= MiB of zeros (with a Content-Length)
    …/chunked    streams ?mib= MiB of zeros (chunked: no length said)
    …/close      answers, then closes the connection
    …/status     answers ?code= with no body
    …/early      answers 413 at once, reading none of the body
    …/slow       streams ?n= chunks of "piece-N", 0.2 s apart
    …/eof        answers with no length and closes the connection to end the body
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


async def handle(request: web.Request) -> web.StreamResponse:
    last = request.path.rstrip("/").rsplit("/", 1)[-1]
    if last == "ws" and request.headers.get("Upgrade", "").lower() == "websocket":
        sock = web.WebSocketResponse(protocols=("chat.v1", "other.v2"), max_msg_size=0)
        await sock.prepare(request)
        if "greet" in request.query:
            await sock.send_str(request.query["greet"])
        async for msg in sock:
            if msg.type == web.WSMsgType.TEXT and msg.data == "bye":
                await sock.close(code=4001, message=b"bye")
            elif msg.type == web.WSMsgType.TEXT:
                await sock.send_str(f"protocol:{sock.ws_protocol}" if msg.data == "?" else msg.data)
            elif msg.type == web.WSMsgType.BINARY:
                await sock.send_bytes(msg.data)
        return sock
    if last == "raw101":
        if request.query["kind"] == "noupgrade":
            request.transport.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        else:
            request.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nLocation: http://[\r\n\r\n"
            )
            for _ in range(64):
                request.transport.write(b"\x82\x7e\xff\xff" + b"\0" * 65535)
                await asyncio.sleep(0)
        await asyncio.sleep(2)
        request.transport.close()
        raise asyncio.CancelledError
    if last == "nows":
        return web.Response(status=403, text="no WebSocket here")
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
    if last == "chunked":
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(int(request.query["mib"])):
            await response.write(b"\1" * (1 << 20))
        await response.write_eof()
        return response
    if last == "close":
        response = web.Response(text="bye", headers={"Connection": "close"})
        response.force_close()
        return response
    if last == "status":
        return web.Response(status=int(request.query["code"]))
    if last == "slow":
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(int(request.query["n"])):
            await response.write(f"piece-{i}".encode())
            await asyncio.sleep(0.2)
        await response.write_eof()
        return response
    if last == "eof":  # (what an HTTP/1.0-minded app does; aiohttp itself would not)
        request.transport.write(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n"
            b"hello-until-eof"
        )
        request.transport.close()
        raise asyncio.CancelledError
    if last == "early":
        response = web.Response(status=413, text="too big")
        response.force_close()
        return response
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
            "peer": list(request.transport.get_extra_info("peername") or ()),
        }
    )


if __name__ == "__main__":
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
