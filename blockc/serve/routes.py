"""Which handler answers a path: a list of ``(method, "/path/{param}")`` routes.

The front door runs on aiohttp's low-level server, not on its ``web.Application``: the
application's routing, middleware and request machinery cost 13-17% of the gateway's
requests/s (benchmarks/gateway.py, measured both ways), and the gateway takes every path
under ``/studios/`` without any of it. The few dozen routes of the pages and the API are
matched here; a path no route has is 404, a method no route of the path takes is 405, both
as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
PARAMS = "blockc.params"  # (the request key of the path's parameters)
_PARAM = re.compile(r"\{(\w+)\}")


def params(request: web.BaseRequest) -> dict[str, str]:
    return request[PARAMS]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
        self._index: dict[str, dict[str, Handler]] = {}  # paths without parameters

    def add(self, method: str, path: str, handler: Handler) -> None:
        if "{" not in path:
            self._index.setdefault(path, {})[method] = handler
            return
        pattern = re.compile(
            "".join(
                f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part)
                for i, part in enumerate(_PARAM.split(path))
            )
        )
        for existing, methods in self._routes:
            if existing.pattern == pattern.pattern:
                methods[method] = handler
                return
        self._routes.append((pattern, {method: handler}))

    def resolve(self, request: web.BaseRequest) -> Handler:
        path = request.path
        methods = self._index.get(path)
        found: dict[str, str] = {}
        if methods is None:
            for pattern, candidates in self._routes:
                m = pattern.fullmatch(path)
                if m:
                    methods, found = candidates, m.groupdict()
                    break
        if methods is None:
            return _answer(404, f"nothing at {path}")
        method = "GET" if request.method == "HEAD" else request.method
        handler = methods.get(method)
        if handler is None:
            allowed = ", ".join(sorted(methods))
            return _answer(405, f"{request.method} is not allowed here", Allow=allowed)
        request[PARAMS] = found
        return handler


def _answer(status: int, message: str, **headers: str) -> Handler:
    async def answer(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(
            status=status,
            text=json.dumps({"error": message}),
            content_type="application/json",
            headers=headers,
        )

    return answer
