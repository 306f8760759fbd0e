"""``blockc serve``: the front door of a site (SPEC §9), one process on the home's state.

    /, /s/<studio>, /admin/… the web pages (:mod:`.ui`)
    /login, /logout          sign in and out (:mod:`.pages`)
    /api/v1/…                the JSON API (:mod:`.api`), described at /api/v1/openapi.json
    /studios/<studio>/<app>/ the gateway to each app, for its owner only (:mod:`.gateway`)

While it runs it holds ``$BLOCKC_HOME/run/serve.json`` (:mod:`blockc.run.gate`): podman
studios started meanwhile, by it or by the CLI on the same home, publish no app port, only
their gate, which takes the secret only the server and the studio know.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import secrets
import signal
import time

from aiohttp import web

from ..errors import BlockcError
from ..home import private_home
from ..run import gate
from ..run.settings import Settings
from .api import IDENTITY, Api, _said, problem
from .auth import CSRF_HEADER, Auth, RateLimit, is_in, make_authenticator, parse_networks
from .gateway import FRONT_DOOR, Gateway, is_blockc_token, unauthenticated
from .origins import an_app, cross_site, from_a_studio, with_port
from .pages import Pages
from .routes import Router
from .store import Store
from .tasks import Tasks
from .ui import UI

log = logging.getLogger("blockc.serve")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def server_key() -> bytes:
    """The server's own secret (CSRF tokens of users a trusted header names), kept in the
    home so that a restart keeps them valid."""
    path = os.path.join(private_home(), "serve.key")
    try:
        with open(path, "rb") as f:
            key = f.read(64)
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(key)
    os.replace(tmp, path)
    return key


def parse_duration(text: str | None, setting: str) -> float | None:
    """``2h``, ``30m``, ``90s``, ``3600`` (seconds); none/0/unset: None."""
    if text is None or text.strip().lower() in ("", "none", "0", "off"):
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not m:
        raise BlockcError(f"setting {setting}: {text!r} is no duration (e.g. 2h, 30m, 3600)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def open_studios(store: Store) -> list[str]:
    """Running podman studios whose apps are published without a gate (started while no
    front door ran): with them, something would bypass it."""
    return [
        s.name
        for s in store.studios()
        if s.runtime == "podman" and s.state in ("RUNNING", "STARTING") and s.ports
    ]


class Server:
    def __init__(self, settings: Settings, registry) -> None:
        self.settings = settings
        self.store = Store()
        self.tasks = Tasks()
        self.auth = Auth(self.store, make_authenticator(settings, registry), server_key())
        self.proxies = parse_networks(settings.trusted_proxies or "", "trusted_proxies")
        admins_enter = settings.admins_enter.strip().lower()
        if admins_enter not in ("true", "false"):
            raise BlockcError("setting admins_enter: true or false")
        self.idle_timeout = parse_duration(settings.idle_timeout, "idle_timeout")
        apps_port = (settings.apps_port or "").strip().lower()
        if apps_port not in ("", "off") and not (
            apps_port.isdigit() and 0 < int(apps_port) < 65536
        ):
            raise BlockcError("setting apps_port: a port, or off (apps on the front door's own)")
        # (None: on the front door's own port; 0: the next one, known when it listens)
        self.apps_port: int | None = None if apps_port == "off" else int(apps_port or 0)
        self.gateway = Gateway(
            self.store,
            self.auth,
            admins_enter=admins_enter == "true",
            trusted_header=settings.trusted_header,
            scheme=self.scheme,
            settings=settings,
        )
        self.api = Api(self.store, self.tasks, self.last_activity)
        self.pages = Pages(self.store, self.auth, RateLimit(), secure=self.secure)
        self.ui = UI(self.store, self.auth, self.tasks, self.apps_origin)
        self.started = time.time()
        self.maintain_every = 5.0

    def secure(self, request: web.BaseRequest) -> bool:
        """Whether the browser reached the site over TLS (a trusted proxy's word counts)."""
        if request.secure:
            return True
        return (
            is_in(request.remote, self.proxies)
            and request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        )

    def scheme(self, request: web.BaseRequest) -> str:
        """The scheme the browser used ("https" behind a trusted TLS proxy)."""
        return "https" if self.secure(request) else "http"

    def guarded(self, handler):
        """An API handler behind the API's checks: who sends the request (401 without), the
        CSRF token of a change made with a cookie or a trusted header (403 without), and
        errors as JSON (never a traceback). (A wrapper, not a middleware: an application
        with middlewares costs every request, the gateway's too.)"""

        async def checked(request: web.BaseRequest) -> web.StreamResponse:
            return await self._checked(request, handler)

        return checked

    async def _checked(self, request: web.BaseRequest, handler) -> web.StreamResponse:
        try:
            self.store.refresh()  # (once per request: what follows reads the cache)
            if request.path != "/api/v1/openapi.json":
                identity = self.auth.identify(request.headers, request.cookies, request.remote)
                if identity is None:
                    return unauthenticated(request)
                if identity.via != "token" and (cross_site(request) or from_a_studio(request)):
                    # the browser's ambient credentials, used by a page of another site, or
                    # by an app's page (same origin: it could read the CSRF token)
                    raise problem(
                        403,
                        "the API takes no request made with your cookie from this page",
                        hint="an app's pages (under /studios/) and other sites' may not act "
                        "as you; scripts use a token",
                    )
                if request.method not in SAFE_METHODS and identity.via != "token":
                    given = request.headers.get(CSRF_HEADER, "")
                    if not identity.csrf or not hmac.compare_digest(
                        given.encode(), identity.csrf.encode()
                    ):
                        raise problem(
                            403,
                            "missing or wrong CSRF token",
                            hint=f"send the header {CSRF_HEADER} (GET /api/v1/me gives it)",
                        )
                request[IDENTITY] = identity
            return await handler(request)
        except web.HTTPException as exc:
            if exc.content_type == "application/json":
                raise
            return web.json_response({"error": exc.reason}, status=exc.status)
        except BlockcError as exc:
            message, hint = _said(exc)
            return web.json_response(
                {"error": message, **({"hint": hint} if hint else {})}, status=400
            )
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return web.json_response(
                {"error": "internal error (the server's log says more)"}, status=500
            )

    def router(self) -> Router:
        router = Router()
        for method, path, handler in self.pages.routes() + self.ui.routes():
            router.add(method, path, handler)
        for method, path, handler in self.api.routes():
            router.add(method, path, self.guarded(handler))
        return router

    def handler(self):
        """The front door's one handler: the gateway for /studios/…, the router for the rest."""
        gateway, resolve = self.gateway.handle, self.router().resolve
        apps = self.ui.routes_under_studios()

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            if request.raw_path.startswith("/studios/"):
                if request.path.count("/") == 3 and request.path.endswith("/"):
                    return await apps(request)  # (/studios/<studio>/: the page of its apps)
                token = is_blockc_token(request.headers.get("Authorization", ""))
                if self.apps_port and not token and an_app(request):
                    # (not a client with its blockc token: a browser, whatever it sends or
                    # omits, a proxy's Basic credentials included. Apps are on their own
                    # origin, never on this one)
                    there = self.apps_origin(request) + request.raw_path
                    return web.Response(status=307, headers={"Location": there})
                return await gateway(request)
            return await resolve(request)(request)

        return handle

    def apps_origin(self, request: web.BaseRequest) -> str:
        """Where the browser reaches the apps ("": on this origin, apps_port off)."""
        if not self.apps_port:
            return ""
        if self.settings.apps_url:
            return self.settings.apps_url.rstrip("/")
        return with_port(request, self.scheme(request), self.apps_port)

    def apps_handler(self, main_port: int):
        """The apps' port: the gateway, and for anything else the front door's own."""
        gateway = self.gateway.handle

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            front = (self.settings.site_url or "").rstrip("/") or with_port(
                request, self.scheme(request), main_port
            )
            if an_app(request):
                request[FRONT_DOOR] = front  # (signing in is the front door's; it frames the apps)
                return await gateway(request)
            return web.Response(status=307, headers={"Location": front + request.raw_path})

        return handle

    async def close(self) -> None:
        await self.tasks.close()
        await self.gateway.close()
        self.store.close()

    async def maintain(self) -> None:
        """Every few seconds: WebSockets no longer allowed closed (a revocation seen without
        waiting for a request), idle connections to apps closed, unused pools dropped."""
        while True:
            await asyncio.sleep(self.maintain_every)
            try:
                self.gateway.check()  # (a revocation on a quiet site: seen within the period)
                await self.gateway.sweep(time.time())
            except Exception:
                log.exception("the gateway's sweep failed")

    def last_activity(self, studio) -> float:
        """When the studio was last used: a request or WebSocket message through the
        gateway, else its start (or this server's, whichever came last)."""
        return max(self.gateway.activity.get(studio.name, 0.0), studio.updated_at, self.started)

    async def reap_idle(self) -> None:
        """Stop (``blockc stop``: its files synced out first) every running studio nobody
        used for ``idle_timeout``; one whose stop failed is tried again a timeout later."""
        assert self.idle_timeout
        tried: dict[str, float] = {}
        while True:
            await asyncio.sleep(min(60.0, self.idle_timeout / 4))
            try:
                self._reap_once(tried)
            except Exception:  # (a pass that failed, the database busy say: the next one)
                log.exception("the idle studios' pass failed")

    def _reap_once(self, tried: dict[str, float]) -> None:
        assert self.idle_timeout
        now = time.time()
        self.store.reload()
        for studio in self.store.studios():
            if studio.state != "RUNNING" or self.tasks.running_for(studio.name):
                continue
            last = max(self.last_activity(studio), tried.get(studio.name, 0.0))
            if now - last >= self.idle_timeout:
                log.warning("studio %s idle for %.0f s: stopping it", studio.name, now - last)
                tried[studio.name] = now
                self.tasks.start("stop", studio.name, "(idle)", ["stop", studio.name])


def listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise BlockcError(f"--listen {text!r}: give HOST:PORT, e.g. 127.0.0.1:8750")
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(settings: Settings, registry, listen: str, *, echo=print) -> None:
    host, port = listen_address(listen)
    server = Server(settings, registry)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
    with gate.hold_serving(url):  # (first: a studio started from now on has a gate)
        bypass = open_studios(server.store)
        if bypass:
            raise BlockcError(
                f"studios {', '.join(bypass)} publish their apps on 127.0.0.1 without the front "
                f"door (started while it did not run): with them running, it could be bypassed",
                hint=f"stop them first (`blockc stop {' '.join(bypass)}`); started again while "
                f"blockc serve runs, they are reached through it only",
            )
        import uvloop  # (libuv's loop: ~5% more requests/s through the gateway)

        uvloop.run(_run(server, host, port, url, echo))


async def _listen(handler, host: str, port: int, runners: list) -> None:
    runner = web.ServerRunner(
        # (a browser gone cancels its request: nothing waits on the app for nobody)
        web.Server(handler, access_log=None, handler_cancellation=True),
        handle_signals=False,
    )
    await runner.setup()
    runners.append(runner)
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        for each in runners:
            await each.cleanup()
        raise BlockcError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def _run(server: Server, host: str, port: int, url: str, echo) -> None:
    runners: list[web.ServerRunner] = []
    await _listen(server.handler(), host, port, runners)
    if server.apps_port == 0:
        server.apps_port = port + 1 if port < 65535 else port - 1
    said = [f"blockc serve: {url}/ (sign in at {url}/login)"]
    if server.apps_port:
        try:
            await _listen(server.apps_handler(port), host, server.apps_port, runners)
        except BlockcError as exc:
            raise BlockcError(
                f"{exc.diagnostics[0].message} (the apps' own port)",
                hint="the site setting apps_port picks another (off: none, apps on this one)",
            ) from None
        apps = url.rsplit(":", 1)[0] + f":{server.apps_port}"
        said.append(f"  its studios' apps: {apps}/studios/<studio>/<app>/ (an origin of their own)")
    for line in said:  # (once it listens on both)
        echo(line)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    chores = [asyncio.ensure_future(server.maintain())]
    if server.idle_timeout:
        chores.append(asyncio.ensure_future(server.reap_idle()))
    try:
        await stop.wait()
    finally:
        for chore in chores:
            chore.cancel()
        server.gateway.end_websockets()  # (first: the runner would wait for each,
        server.ui.close()  # and for each page's /events)
        for runner in runners:
            await runner.cleanup()
        await server.close()
