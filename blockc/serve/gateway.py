"""The gateway: ``/studios/<studio>/<app>/…`` to that app, for its owner only (SPEC §9).

Per request: who sends it (:mod:`.auth`), whether they own the studio, whether it runs, then
HTTP or WebSocket to the app, bodies streamed both ways (an upload of any size takes a
bounded amount of memory; a WebSocket is carried as bytes, :mod:`.tunnel`). What
crosses is cleaned on the way:

- to the app: no hop-by-hop header, none of blockc's own credentials (its session cookie,
  a ``Bearer blockc_…`` token, the trusted proxy's user header) and no ``X-Forwarded-*`` the
  client made up; ``X-Forwarded-Proto/Host/Prefix`` as the gateway sees them;
- from the app: a ``Location`` on the app's own host or path put back under the app's
  prefix (apps served at ``/`` that redirect to ``/…``: RStudio), and every cookie the app
  sets confined to its prefix (no ``Domain``, no ``Path`` outside it, none named like
  blockc's own): one studio's app cannot set cookies that another's, or blockc, would read.

A studio behind a gate (:mod:`blockc.run.gate`, every studio started while ``blockc serve``
runs) is reached at its one published port, with the secret it checks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from ..errors import BlockcError
from ..run.gate import APP_DOWN_HEADER, APP_PORT_HEADER, SECRET_HEADER
from ..value import Value
from .auth import Auth, Identity
from .origins import DROPPED_FROM_APPS
from .store import Store
from .tunnel import Tunnel, open_tunnel, switching
from .upstream import AppDown, Broken, Pool, request_head

log = logging.getLogger("blockc.serve")
PREFIX = "/studios/"
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Expect",  # (answered here: the app gets the body, with no wait)
    )
)
# made by the gateway alone: a client's own are dropped
OURS = frozenset(
    h.lower()
    for h in (
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Forwarded-Prefix",
        "X-Forwarded-Port",
        "Forwarded",
        SECRET_HEADER,
        APP_PORT_HEADER,
    )
)
APP_DOWN = APP_DOWN_HEADER.lower()
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
ROUTES_KEPT = 10_000  # decisions remembered (all dropped when the database changes)
SMALL_BODY = 256 * 1024  # an answer this small is read whole and sent in one write
CHUNK = 256 * 1024


class Route(Value):
    """Where a request goes, once its sender may go there: remembered for the same
    credentials, studio and app until the database changes or the credentials expire."""

    studio: str
    app: str
    prefix: str  # /studios/<studio>/<app>/
    strip: bool
    origin: str  # http://<upstream>
    upstream: str  # host:port of the app (or the gate in front of it)
    pool: Pool  # (its host and port are where WebSockets go too)
    extra: dict  # headers added to every request (X-Forwarded-Prefix, the gate's)
    expires_at: float
    token_id: str
    cacheable: bool


def app_down(route: Route) -> web.Response:
    return error(
        502,
        f"app {route.app!r} of studio {route.studio!r} is not answering",
        hint=f"it may be starting, or have crashed: `blockc logs {route.studio} --app {route.app}`",
    )


def said_down(status: int, headers) -> bool:
    """Whether the studio's gate answered that the app behind it does not answer."""
    return status == 502 and any(k.lower() == APP_DOWN for k, _ in headers)


def _length(headers: CIMultiDict[str]) -> int | None:
    value = headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


def is_blockc_token(value: str) -> bool:
    scheme, _, credentials = value.partition(" ")
    return scheme.lower() == "bearer" and credentials.strip().startswith("blockc_")


def error(status: int, text: str, **more) -> web.Response:
    return web.json_response({"error": text, **more}, status=status)


def wants_page(request: web.BaseRequest) -> bool:
    """A browser navigating to a page (sent to the login page when not signed in), not a
    script or API client (given 401)."""
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("Accept", "")
        and request.headers.get("Upgrade", "").lower() != "websocket"
        and request.headers.get("Sec-Fetch-Mode", "navigate") == "navigate"
    )


FRONT_DOOR = "blockc.front_door"  # (the request key of the front door's origin, on the apps' port)


def login_redirect(request: web.BaseRequest) -> web.Response:
    at = request.get(FRONT_DOOR, "")
    return web.Response(
        status=302, headers={"Location": f"{at}/login?next=" + quote(request.raw_path, safe="")}
    )


def unauthenticated(request: web.BaseRequest) -> web.Response:
    if wants_page(request):
        return login_redirect(request)
    return web.json_response(
        {"error": "authentication required"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="blockc"'},
    )


class Gateway:
    def __init__(
        self,
        store: Store,
        auth: Auth,
        *,
        admins_enter: bool,
        trusted_header: str,
        scheme,
        settings=None,
    ) -> None:
        self.store = store
        self.auth = auth
        self.scheme = scheme  # request -> the scheme the browser used ("http" or "https")
        self.admins_enter = admins_enter
        self._routes: dict[tuple, Route] = {}
        # open WebSockets: (request, route, tunnel)
        self._sockets: dict[int, tuple[web.BaseRequest, Route, Tunnel]] = {}
        self.settings = settings
        self._kubernetes: Any = None  # (the runtime, for studios on Kubernetes)
        self._k8s_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._services: dict[tuple, str] = {}
        self._generation = -1
        self.drop = HOP_BY_HOP | OURS | {trusted_header.lower()}
        self.activity: dict[str, float] = {}  # studio -> time.time() of its last request
        self._pools: dict[tuple, Pool] = {}
        self.stopping = False

    async def close(self) -> None:
        if self._k8s_thread is not None:
            self._k8s_thread.shutdown(wait=False)
        for pool in self._pools.values():
            pool.close()

    def end_websockets(self) -> None:
        """Cut every open WebSocket (the server stopping: their handlers end with them), and
        open no more."""
        self.stopping = True
        for _, _, tunnel in list(self._sockets.values()):
            tunnel.close(grace=0)

    def check(self) -> None:
        """Look at the database now (not waiting for a request) and act on a change."""
        self.store.reload()
        self._follow()

    def _follow(self) -> None:
        """Act on a change of the database the store has seen (once per change)."""
        if self._generation != self.store.generation:
            self.changed()

    def changed(self) -> None:
        """The database changed: decisions are made anew, and every open WebSocket whose
        sender may no longer reach its app (a token revoked, a session ended, a user removed,
        the studio stopped or given away) is closed."""
        self._routes.clear()
        self._generation = self.store.generation
        for key, (request, route, tunnel) in list(self._sockets.items()):
            if not self.still_allowed(request, route):
                del self._sockets[key]
                log.warning("closing a WebSocket to %s: no longer allowed", route.prefix)
                tunnel.close(grace=0)

    def still_allowed(self, request: web.BaseRequest, route: Route) -> bool:
        """Whether the sender of an open WebSocket may still reach its app."""
        identity = self.auth.identify(request.headers, request.cookies, request.remote)
        studio = self.store.studio(route.studio)
        return (
            identity is not None
            and studio is not None
            and self.allowed(identity, studio.owner)
            and studio.state == "RUNNING"
        )

    async def sweep(self, now: float) -> None:
        """Close idle connections kept too long, and the pools of studios no route uses any
        more (a restarted studio's gate has another secret: another pool)."""
        used = {id(r.pool) for r in self._routes.values()}
        for key, pool in list(self._pools.items()):
            pool.sweep()
            if id(pool) not in used and not pool.idle and now - pool.used > 600:
                del self._pools[key]

    def _pool(self, key: tuple, upstream: str) -> Pool:
        pool = self._pools.get(key)
        if pool is None:
            host, _, port = upstream.rpartition(":")
            pool = self._pools[key] = Pool(host, int(port))
        pool.used = time.time()
        return pool

    async def service_address(self, studio) -> str:
        """The cluster IP of a Kubernetes studio's Service (the front door in its cluster),
        asked of the API once per start of the studio (in a thread: the runtime blocks)."""
        key = (studio.name, studio.runtime_id, studio.updated_at)
        if key not in self._services:
            if self._kubernetes is None:
                from ..run.runtimes import get_runtime

                self._kubernetes = get_runtime("kubernetes", self.settings)
                self._k8s_thread = concurrent.futures.ThreadPoolExecutor(1, "blockc-kube")
            loop = asyncio.get_running_loop()
            self._services[key] = await loop.run_in_executor(
                self._k8s_thread, self._kubernetes.service_address, studio.name
            )
        return self._services[key]

    def allowed(self, identity: Identity, owner: str) -> bool:
        return identity.user.name == owner or (identity.user.admin and self.admins_enter)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        # /studios/<studio>/<app>[/<rest>]: the names are matched on the raw path, so an
        # encoded slash is never a separator
        raw = request.raw_path
        path, _, query = raw.partition("?")
        parts = path[len(PREFIX) :].split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            return error(404, "not found: a studio's app is at /studios/<studio>/<app>/")
        if len(parts) == 2:  # /studios/s/app: on to /studios/s/app/ (relative links work)
            location = f"{PREFIX}{parts[0]}/{parts[1]}/" + (f"?{query}" if query else "")
            return web.Response(status=307, headers={"Location": location})

        self.store.refresh()  # (once per request: what follows reads the cache)
        self._follow()
        headers = request.headers
        cache_key = (parts[0], parts[1], headers.get("Authorization"), headers.get("Cookie"))
        now = time.time()
        route = self._routes.get(cache_key)
        if route is None or now >= route.expires_at:
            found = await self._route(request, parts[0], parts[1])
            if isinstance(found, web.StreamResponse):
                return found
            route = found
            if route.cacheable:
                if len(self._routes) >= ROUTES_KEPT:
                    self._routes.clear()
                self._routes[cache_key] = route
        if route.token_id:
            self.store.token_used(route.token_id, now)
        self.activity[route.studio] = now

        # (as the client sent it, not decoded and encoded again: %2F stays %2F)
        url = URL(
            route.origin
            + ("/" + parts[2] if route.strip else path)
            + (f"?{query}" if query else ""),
            encoded=True,
        )
        del parts, path, query, cache_key  # (a WebSocket's frame lives as long as it does)
        if headers.get("Upgrade", "").lower() == "websocket" and request.method == "GET":
            return await self._websocket(request, url, self._request_headers(request, route), route)
        return await self._http(request, url, self._request_headers(request, route), route)

    async def _route(self, request: web.BaseRequest, studio_name: str, app_id: str):
        """Whether the request may reach the app, and how: a :class:`Route`, or the error."""
        identity = self.auth.identify(request.headers, request.cookies, request.remote)
        if identity is None:
            return unauthenticated(request)
        studio = self.store.studio(studio_name)
        if studio is None or not self.allowed(identity, studio.owner):
            # the same answer for a studio of another user and for none at all
            return error(403, f"you have no studio named {studio_name!r}")
        if studio.state != "RUNNING":
            return error(
                503,
                f"studio {studio_name!r} is not running ({studio.state.lower()})",
                state=studio.state,
                message=studio.message,
            )
        studio_json = self.store.studio_json(studio)
        app = next((a for a in (studio_json or {}).get("apps", ()) if a["id"] == app_id), None)
        if app is None:
            return error(404, f"studio {studio_name!r} has no app {app_id!r}")
        prefix = f"{PREFIX}{studio_name}/{app_id}/"
        extra = {"X-Forwarded-Prefix": prefix.rstrip("/")}
        if studio.gate_port:
            upstream = f"127.0.0.1:{studio.gate_port}"
            pool: tuple = ("gate", upstream, studio.gate_secret, app["port"])
            extra[SECRET_HEADER] = studio.gate_secret
            extra[APP_PORT_HEADER] = str(app["port"])
        elif app_id in studio.ports:
            upstream = f"127.0.0.1:{studio.ports[app_id]}"
            pool = ("app", upstream)
        elif studio.runtime == "kubernetes":  # its Service, from inside the cluster
            try:
                host = await self.service_address(studio)
            except BlockcError as exc:
                message = "; ".join(d.message for d in exc.diagnostics)
                return error(502, f"studio {studio_name!r} cannot be reached: {message}")
            upstream = f"{host}:{app['port']}"
            pool = ("service", upstream)
        else:
            return error(502, f"studio {studio_name!r}: app {app_id!r} has no address")
        return Route(
            studio=studio_name,
            app=app_id,
            prefix=prefix,
            strip=app.get("path") == "strip",
            origin=f"http://{upstream}",
            upstream=upstream,
            pool=self._pool(pool, upstream),
            extra=extra,
            expires_at=identity.expires_at,
            token_id=identity.token_id,
            cacheable=identity.via in ("token", "session"),
        )

    def _request_headers(self, request: web.BaseRequest, route: Route) -> CIMultiDict[str]:
        headers = CIMultiDict(request.headers)
        for name in self.drop:
            if name in headers:
                del headers[name]
        named = request.headers.get("Connection")
        if named:
            for name in named.split(","):
                headers.popall(name.strip(), None)
        if "Authorization" in headers:
            kept = [
                v for v in headers.popall("Authorization") if not is_blockc_token(v)
            ]  # (a blockc token is blockc's alone; an app's own credentials go through)
            for value in kept:
                headers.add("Authorization", value)
        if "Cookie" in headers:
            cookies = [_without_our_cookies(v) for v in headers.popall("Cookie")]
            for value in cookies:
                if value:
                    headers.add("Cookie", value)
        headers["X-Forwarded-Proto"] = self.scheme(request)
        headers["X-Forwarded-Host"] = request.host
        if request.remote:
            headers["X-Forwarded-For"] = request.remote
        headers.update(route.extra)
        return headers

    async def _http(
        self, request: web.BaseRequest, url: URL, headers: CIMultiDict[str], route: Route
    ) -> web.StreamResponse:
        if "Host" not in headers:
            headers["Host"] = request.host
        body = None
        chunked = False
        if request.body_exists:
            if request.headers.get("Expect", "").lower() == "100-continue":
                major, minor = request.version
                await request.writer.write(b"HTTP/%d.%d 100 Continue\r\n\r\n" % (major, minor))
            body = request.content.iter_any()
            if "Content-Length" not in headers:
                headers["Transfer-Encoding"] = "chunked"
                chunked = True
        target = url.raw_path_qs
        try:
            answer = await route.pool.request(
                request_head(request.method, target, list(headers.items())),
                body,
                chunked,
                is_head=request.method == "HEAD",
                idempotent=request.method in IDEMPOTENT,
            )
        except AppDown:
            return app_down(route)
        except Broken as exc:
            return error(502, f"app {route.app!r} of studio {route.studio!r}: {exc}")
        try:
            if said_down(answer.status, answer.headers):
                return app_down(route)
            out = self._answer_headers(request, answer.headers, route)
            length = _length(out)
            if "Content-Length" in out:
                del out["Content-Length"]
            if request.method == "HEAD":  # (its length, of a body not sent)
                response = web.StreamResponse(status=answer.status, headers=out)
                if length is not None:
                    response.content_length = length
                await response.prepare(request)
                await response.write_eof()
                return response
            if answer.status in (204, 304) or (100 <= answer.status < 200):
                await answer.read()
                return web.Response(status=answer.status, headers=out)
            if answer.complete or (length is not None and length <= SMALL_BODY):
                return web.Response(status=answer.status, headers=out, body=await answer.read())
            response = web.StreamResponse(status=answer.status, headers=out)
            if length is not None:
                response.content_length = length
            await response.prepare(request)
            try:
                async for chunk in answer.chunks():
                    await response.write(chunk)
            except Broken:
                # the answer has begun: no other can follow it; the browser sees the
                # connection end before the body does, as it would have from the app
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
            return response
        except Broken as exc:
            return error(502, f"app {route.app!r} of studio {route.studio!r}: {exc}")
        finally:
            answer.release()

    def _answer_headers(self, request: web.BaseRequest, headers, route: Route) -> CIMultiDict[str]:
        out = CIMultiDict(headers)
        for name in HOP_BY_HOP | DROPPED_FROM_APPS:
            if name in out:
                del out[name]
        if "Location" in out:
            out["Location"] = rewrite_location(
                out["Location"], route.prefix, route.strip, request.host, route.upstream
            )
        if "Set-Cookie" in out:
            for value in out.popall("Set-Cookie"):
                value = confine_cookie(value, route.prefix, route.strip)
                if value:
                    out.add("Set-Cookie", value)
        front = request.get(FRONT_DOOR)
        if front:  # (on the apps' own origin: the front door's pages frame the app)
            framed_by(out, front)
        return out

    async def _websocket(
        self, request: web.BaseRequest, url: URL, headers: CIMultiDict[str], route: Route
    ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and not same_origin(origin, request):
            return error(403, f"a WebSocket from {origin!r} is not accepted here (cross-site)")
        asked = request.headers.get("Connection", "").lower().replace(" ", "").split(",")
        if "upgrade" not in asked:  # (aiohttp would take what follows as another request)
            return error(400, "a WebSocket is asked for with Connection: Upgrade")
        if "Host" not in headers:
            headers["Host"] = request.host
        headers["Connection"] = "Upgrade"
        headers["Upgrade"] = "websocket"
        head = request_head("GET", url.raw_path_qs, list(headers.items()))
        del headers  # (held for the connection's life otherwise)
        activity, studio = self.activity, route.studio

        def used() -> None:
            activity[studio] = time.time()

        try:
            tunnel = await open_tunnel(route.pool.host, route.pool.port, head, used)
        except AppDown:
            return app_down(route)
        except Broken as exc:
            return error(502, f"app {route.app!r} of studio {route.studio!r}: {exc}")
        del head
        try:
            transport = request.transport
            if tunnel.status != 101 or transport is None or transport.is_closing():
                if said_down(tunnel.status, tunnel.headers):
                    return app_down(route)
                return error(502, f"the app refused the WebSocket ({tunnel.status})")
            if self.stopping:
                return error(503, "the front door is stopping")
            self.store.refresh()  # (a change while the app answered: still allowed?)
            self._follow()
            if not self.still_allowed(request, route):
                return error(403, "no longer allowed")
            out = self._answer_headers(request, tunnel.headers, route)
            out["Upgrade"] = "websocket"
            out["Connection"] = "Upgrade"
            answer = switching(list(out.items()))
            del out
            self._sockets[id(tunnel)] = (request, route, tunnel)
            await tunnel.join(transport, answer)
        finally:  # (the browser gone, the app refused, or this handler cancelled)
            self._sockets.pop(id(tunnel), None)
            tunnel.close()
            self.activity[route.studio] = time.time()
        return web.Response(status=101)  # (not sent: the connection is aiohttp's no more)


def framed_by(headers: CIMultiDict[str], front: str) -> None:
    """An app that lets its own origin frame it (``frame-ancestors 'self'``, JupyterLab's
    default; ``X-Frame-Options: SAMEORIGIN``) lets the front door's pages frame it too, as
    they did when apps shared their origin. One that allows no frame keeps it so."""
    policies = headers.popall("Content-Security-Policy", [])
    for policy in policies:
        directives = [d.strip() for d in policy.split(";")]
        for i, directive in enumerate(directives):
            words = [w.lower() for w in directive.split()]
            if words and words[0] == "frame-ancestors" and "'self'" in words:
                directives[i] = f"{directive} {front}"
        headers.add("Content-Security-Policy", "; ".join(d for d in directives if d))
    given = [v.strip().upper() for v in headers.getall("X-Frame-Options", [])]
    if given and all(v == "SAMEORIGIN" for v in given):  # (any other value: kept, as it is)
        del headers["X-Frame-Options"]
        if not any("frame-ancestors" in p.lower() for p in policies):
            headers.add("Content-Security-Policy", f"frame-ancestors 'self' {front}")


def same_origin(origin: str, request: web.BaseRequest) -> bool:
    """Whether a WebSocket's ``Origin`` is this site (what the browser was shown as its
    scheme and host), as JupyterLab and code-server check it too."""
    try:
        parts = urlsplit(origin)
    except ValueError:  # (``http://[``: no site's)
        return False
    return parts.netloc.lower() == request.host.lower() and parts.scheme in ("http", "https")


def _without_our_cookies(header: str) -> str:
    kept = [
        c for c in header.split(";") if not c.strip().lower().startswith("blockc_") and c.strip()
    ]
    return ";".join(kept).strip()


def rewrite_location(value: str, prefix: str, strip: bool, host: str, upstream: str) -> str:
    """A redirect of the app, as the browser must follow it: on the site's own host, under the
    app's prefix. A redirect elsewhere (another site) is left alone, and so is one that is
    no URL."""
    try:
        parts = urlsplit(value)
    except ValueError:  # (``http://[``: passed on as the app said it)
        return value
    if parts.netloc:
        port = upstream.rpartition(":")[2]
        ours = {host.lower(), upstream.lower(), f"localhost:{port}"}
        if parts.netloc.lower() not in ours or parts.scheme not in ("http", "https", ""):
            return value
        path = parts.path or "/"
    elif parts.path.startswith("/"):
        path = parts.path
    else:
        return value  # relative: the browser resolves it under the prefix already
    if strip and not path.startswith(prefix):
        path = prefix.rstrip("/") + path
    # (on the site's own host: a path, which the browser takes with the scheme it used)
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def confine_cookie(value: str, prefix: str, strip: bool) -> str:
    """A ``Set-Cookie`` of an app, kept to the app's prefix; "" drops it (named like
    blockc's own cookies)."""
    name_value, *attrs = value.split(";")
    name = name_value.partition("=")[0].strip()
    if not name or name.lower().startswith("blockc_"):
        return ""  # (a cookie of no name is sent back as its value: "=blockc_session=x")
    kept = [name_value]
    path = None
    for attr in attrs:
        key, _, val = attr.strip().partition("=")
        k = key.strip().lower()
        if k == "path":
            path = val.strip()
        elif k != "domain":
            kept.append(attr)
    if path is None or not path.startswith("/"):
        path = prefix
    elif path != prefix.rstrip("/") and not path.startswith(prefix):
        # an app served at / means its own root; an app that knows its prefix went outside it
        path = prefix + path.lstrip("/") if strip else prefix
    kept.append(f" Path={path}")
    return ";".join(kept)
