"""Sign-in and sign-out (``/login``, ``/logout``); the other pages are :mod:`.ui`'s.

``POST /login`` takes a form (a browser: a 303 to ``next`` with the session cookie) or JSON
(a script: the user and the session's CSRF token). Failed sign-ins are rate-limited per
client address and per user name before any password is checked.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from urllib.parse import parse_qsl

from aiohttp import web

from . import accounts
from .auth import CSRF_HEADER, SESSION_COOKIE, Auth, RateLimit, more_than_one
from .origins import cross_site, from_a_studio
from .routes import Handler
from .store import Store
from .ui import STATIC_URL

MAX_FORM = 16 * 1024


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 or c == "\x7f" for c in value)
    ):
        return "/"
    return value


def page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        content_type="text/html",
        charset="utf-8",
        text=f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · blockc</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="{STATIC_URL["blockc.css"]}"></head>
<body><header class="top"><a class="brand" href="/">blockc</a></header>
<main id="main" class="narrow">{body}</main></body></html>
""",
        headers={
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        },
    )


class Pages:
    def __init__(self, store: Store, auth: Auth, limit: RateLimit, *, secure) -> None:
        self.store = store
        self.auth = auth
        self.limit = limit
        self.secure = secure  # request -> whether the browser reached us over TLS

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/login", self.login_page),
            ("POST", "/login", self.login),
            ("POST", "/logout", self.logout),
        ]

    def _form(self, next_path: str, message: str = "") -> str:
        note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
        return f"""<h1>Sign in to blockc</h1>{note}
<form method="post" action="/login" class="card">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<label>User <input name="user" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password"
 autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>"""

    async def login_page(self, request: web.BaseRequest) -> web.Response:
        self.store.refresh()
        next_path = safe_next(request.query.get("next"))
        who = self.auth.identify(request.headers, request.cookies, request.remote)
        if who is not None:
            raise web.HTTPSeeOther(next_path)
        if not self.auth.authenticator.password_form:
            return page(
                "Sign in",
                "<h1>Sign in</h1><p>This site signs you in through its single sign-on: "
                "open it through the address your organisation gave you.</p>",
                status=401,
            )
        note = ""
        if more_than_one(request.headers, SESSION_COOKIE):
            # (an app's script added a session cookie beside the user's: refused, so the user
            # lands here. Which paths they are on, the request does not say: the user is told)
            note = (
                "Your browser holds two blockc sessions for this site (an app may have added "
                "one): none is taken. Delete this site's cookies in your browser, then sign in."
            )
        return page("Sign in", self._form(next_path, note))

    async def login(self, request: web.BaseRequest) -> web.Response:
        self.store.refresh()
        as_json = request.content_type == "application/json"
        if cross_site(request) or from_a_studio(request):  # (login CSRF: signing a browser
            # in as someone else, from another site or an app's page)
            return web.json_response({"error": "a sign-in from another site"}, status=403)
        raw = await request.content.read(MAX_FORM + 1)  # (whatever the length says, or none)
        if len(raw) > MAX_FORM:
            return web.json_response({"error": "the sign-in is too large"}, status=413)
        try:
            if as_json:
                data = json.loads(raw)
                if not isinstance(data, dict):
                    raise ValueError
            else:
                data = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "send user and password"}, status=400)
        user, password = data.get("user"), data.get("password")
        next_path = safe_next(data.get("next") if isinstance(data.get("next"), str) else None)
        if not isinstance(user, str) or not isinstance(password, str) or not user or not password:
            return self._refused(as_json, next_path, "send user and password", 400)
        if not self.auth.authenticator.password_form:
            return self._refused(as_json, next_path, "this site has no passwords", 400)
        user = user.strip().lower()
        if not accounts.NAME.fullmatch(user):  # (no user has such a name: nothing to check)
            self.limit.failed(f"ip:{request.remote}")
            return self._refused(as_json, next_path, "wrong user or password", 401)
        keys = (f"ip:{request.remote}", f"user:{user}")
        wait = self.limit.retry_after(*keys)
        if wait:
            response = self._refused(
                as_json, next_path, f"too many failed sign-ins; try again in {wait:.0f} s", 429
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        name = await asyncio.get_running_loop().run_in_executor(
            None, self.auth.authenticator.check_password, user, password[:4096]
        )
        found = self.store.user(name) if name else None
        if found is None:
            self.limit.failed(*keys)
            return self._refused(as_json, next_path, "wrong user or password", 401)
        cookie, session = self.store.new_session(found.name)
        if as_json:
            answer = web.json_response({"name": found.name, "csrf": session.csrf})
        else:
            answer = web.Response(status=303, headers={"Location": next_path})
        answer.set_cookie(
            SESSION_COOKIE,
            cookie,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.secure(request),
            max_age=int(session.expires_at - time.time()),
        )
        return answer

    def _refused(self, as_json: bool, next_path: str, message: str, status: int) -> web.Response:
        if as_json:
            return web.json_response({"error": message}, status=status)
        return page("Sign in", self._form(next_path, message), status=status)

    async def logout(self, request: web.BaseRequest) -> web.Response:
        self.store.refresh()
        who = self.auth.identify(request.headers, request.cookies, request.remote)
        if who is not None and who.via == "session":
            given: object = request.headers.get(CSRF_HEADER)
            if given is None and request.content_type == "application/x-www-form-urlencoded":
                given = (await request.post()).get("csrf")
            if not isinstance(given, str) or not _equal(given, who.csrf):
                return web.json_response({"error": "missing or wrong CSRF token"}, status=403)
            self.store.end_session(request.cookies[SESSION_COOKIE])
        response = web.Response(status=303, headers={"Location": "/login"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response


def _equal(a: str, b: str) -> bool:
    import hmac

    return bool(b) and hmac.compare_digest(a.encode(), b.encode())
