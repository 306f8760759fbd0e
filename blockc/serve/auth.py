"""Who sends a request to the front door (SPEC §9).

A request is authenticated by, in this order:

1. ``Authorization: Bearer blockc_…``, an API token (``blockc tokens create``); a bearer
   token that is not valid fails the request, whatever else it carries;
2. the session cookie ``blockc_session`` that ``/login`` sets (HttpOnly, SameSite=Lax,
   Secure behind TLS); a change made with it needs the session's CSRF token too;
3. the site's authenticator, when it tells who a user is from the request itself (the
   trusted-header authenticator: a header set by an SSO proxy, honoured only from the proxy
   addresses the site lists).

Authenticators are plugins (the ``blockc_authenticators`` hook, like block types); the site
setting ``authenticator`` picks one. Built in: ``local`` (blockc's own users and passwords)
and ``trusted-header``.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import ipaddress
import math
import time
from collections.abc import Mapping
from typing import ClassVar

from ..errors import BlockcError
from ..run.settings import Settings
from ..value import Value
from . import accounts
from .store import Store

SESSION_COOKIE = "blockc_session"
CSRF_HEADER = "X-CSRF-Token"


class Identity(Value):
    user: accounts.User
    via: str  # "token", "session" or "header"
    csrf: str = ""  # the CSRF token its changes need (none for a token)
    expires_at: float = math.inf  # when the credentials end
    token_id: str = ""


class Authenticator:
    """Base of an authenticator (see :func:`blockc.hookspecs.blockc_authenticators`)."""

    name: ClassVar[str] = ""
    password_form: ClassVar[bool] = False  # /login asks for a name and a password
    adds_users: ClassVar[bool] = False  # a name it vouches for becomes a user at first sight

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check_password(self, user: str, password: str) -> str | None:
        """The user's name if ``password`` is theirs (runs in a worker thread: may block)."""
        return None

    def request_user(self, headers: Mapping[str, str], peer: str | None) -> str | None:
        """The user's name if the request itself says who sent it (runs on every request:
        must not block)."""
        return None


class LocalAuthenticator(Authenticator):
    """blockc's own users (``blockc users add``), by password."""

    name = "local"
    password_form = True

    def check_password(self, user: str, password: str) -> str | None:
        found = accounts.check_password(user, password)
        return found.name if found else None


class TrustedHeaderAuthenticator(Authenticator):
    """A site behind an SSO proxy: the proxy signs users in and names them in a header
    (setting ``trusted_header``, default ``X-Forwarded-User``). The header is honoured only on
    connections from the addresses in ``trusted_proxies`` (comma-separated addresses or
    networks): from anywhere else it is ignored, or anyone could name themselves anyone."""

    name = "trusted-header"
    adds_users = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.header = settings.trusted_header
        self.proxies = parse_networks(settings.trusted_proxies or "", "trusted_proxies")
        if not self.proxies:
            raise BlockcError(
                "authenticator trusted-header: setting trusted_proxies names no address",
                hint="the addresses of the SSO proxy in front of blockc serve, e.g. "
                'trusted_proxies = "10.0.0.5, 10.1.0.0/16"',
            )

    def request_user(self, headers: Mapping[str, str], peer: str | None) -> str | None:
        if not is_in(peer, self.proxies):
            return None
        given = (
            headers.getall(self.header, [])
            if hasattr(headers, "getall")
            else [headers.get(self.header, "")]
        )
        if len(given) != 1:  # (none, or several: which would the proxy have meant?)
            return None
        name = given[0].strip().lower()
        return name if accounts.NAME.fullmatch(name) else None


BUILT_IN: tuple[type[Authenticator], ...] = (LocalAuthenticator, TrustedHeaderAuthenticator)


def parse_networks(text: str, setting: str) -> tuple:
    nets = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise BlockcError(f"setting {setting}: {item!r} is no address or network") from None
    return tuple(nets)


def is_in(peer: str | None, networks: tuple) -> bool:
    """Whether the address ``peer`` is in one of ``networks``."""
    if not peer or not networks:
        return False
    address = _address(peer)
    return address is not None and any(address in net for net in networks)


@functools.lru_cache(maxsize=4096)
def _address(peer: str):
    try:
        address = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address


def authenticators(registry) -> tuple[dict[str, type[Authenticator]], list[str]]:
    """Every authenticator by name: the built-in ones and those of the plugins in
    ``registry``; and what went wrong with plugins that offered bad ones (named)."""
    found: dict[str, type[Authenticator]] = {a.name: a for a in BUILT_IN}
    problems: list[str] = []
    for impl in registry.pm.hook.blockc_authenticators.get_hookimpls():
        who = impl.plugin_name
        try:
            offered = list(impl.function())
        except Exception as exc:
            problems.append(
                f"plugin {who}: blockc_authenticators raised {type(exc).__name__}: {exc}"
            )
            continue
        for cls in offered:
            if not (isinstance(cls, type) and issubclass(cls, Authenticator) and cls.name):
                problems.append(
                    f"plugin {who}: {cls!r} is not an Authenticator subclass with a name"
                )
            elif cls.name in found:
                problems.append(f"plugin {who}: authenticator {cls.name!r} exists already")
            else:
                found[cls.name] = cls
    return found, problems


def make_authenticator(settings: Settings, registry) -> Authenticator:
    found, _ = authenticators(registry)
    cls = found.get(settings.authenticator)
    if cls is None:
        raise BlockcError(
            f"setting authenticator: no authenticator named {settings.authenticator!r}",
            hint=f"installed: {', '.join(sorted(found))}",
        )
    try:
        return cls(settings)
    except BlockcError:
        raise
    except Exception as exc:
        raise BlockcError(
            f"authenticator {cls.name!r} failed to start: {type(exc).__name__}: {exc}"
        ) from None


def more_than_one(headers: Mapping[str, str], name: str) -> bool:
    getall = getattr(headers, "getall", None)
    values = getall("Cookie", []) if getall else [headers.get("Cookie", "")]
    named = [p for v in values for p in v.split(";") if p.strip().startswith(name + "=")]
    return len(named) > 1


class Auth:
    """Who sends a request (see the module's docstring)."""

    def __init__(self, store: Store, authenticator: Authenticator, key: bytes) -> None:
        self.store = store
        self.authenticator = authenticator
        self._key = key  # the server's: the CSRF token of a user a trusted header names

    def header_csrf(self, user: str) -> str:
        return hmac.new(self._key, b"header\0" + user.encode(), hashlib.sha256).hexdigest()

    def identify(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], peer: str | None
    ) -> Identity | None:
        given = headers.get("Authorization")
        if given and given[:7].lower() == "bearer ":
            raw = given[7:].strip()
            if raw.startswith("blockc_"):  # (another bearer token is an app's business)
                found = self.store.token_user(raw)
                if found is None:
                    return None
                return Identity(found[0], "token", expires_at=found[2], token_id=found[1])
        cookie = cookies.get(SESSION_COOKIE)
        if cookie and more_than_one(headers, SESSION_COOKIE):
            # (an app's script may add cookies the site receives, ports being no cookie
            # boundary: one session of its choosing, sent beside the viewer's, is no one's)
            cookie = None
        if cookie:
            session = self.store.session(cookie)
            if session is not None:
                owner = self.store.user(session.user)
                if owner is not None:
                    return Identity(owner, "session", session.csrf, session.expires_at)
        try:
            name = self.authenticator.request_user(headers, peer)
        except Exception:
            return None
        if name:
            user = self.store.user(name)
            if user is None and self.authenticator.adds_users:
                try:
                    accounts.add_user(name, None)
                except BlockcError:  # (made by a request just before this one)
                    pass
                self.store.reload()  # (made through another connection)
                user = self.store.user(name)
            if user is not None:
                return Identity(user, "header", self.header_csrf(user.name))
        return None


class RateLimit:
    """Failed sign-ins allowed per ``window`` seconds: ``per_user`` for one user name, and
    ``per_address`` from one client address (more: many users may share one, behind a NAT).
    Either exhausted refuses the attempt before any password is checked."""

    def __init__(self, per_user: int = 10, per_address: int = 30, window: float = 300.0) -> None:
        self.limits = {"user": per_user, "ip": per_address}
        self.window = window
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        q = self._failures.setdefault(key, collections.deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> float:
        """Seconds until an attempt for ``keys`` ("user:NAME", "ip:ADDRESS") is allowed."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            q = self._failures.get(key)  # (asking adds nothing)
            while q and q[0] <= now - self.window:
                q.popleft()
            if q and len(q) >= self.limits[key.split(":", 1)[0]]:
                wait = max(wait, q[0] + self.window - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= 10_000:  # (a flood of names: the stale ones go first)
            for key in [k for k in self._failures if not self._recent(k, now)]:
                del self._failures[key]
        for key in keys:
            self._recent(key, now).append(now)
