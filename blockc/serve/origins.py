"""Where a browser's request comes from, and the apps' own origin.

A page's scripts may do anything the page's origin may: read what its other pages show (the
CSRF token in every one), and send any request with any ``Referer`` of that origin. So the
apps are not served on the front door's origin: they are on its port ``apps_port`` (by
default the next one), an origin of their own, from which the browser's requests to the
front door are cross-origin (unreadable) and cross-site by ``Sec-Fetch-Site`` (refused with
a cookie by the API). On the front door's own port an app is served only to a client that
sends its token (``Authorization``: a script, the CLI); anything else (a browser, whatever
headers it sends or omits) is sent to the apps' port.

Ports are not a cookie boundary: the session cookie reaches the apps' port (that is how the
gateway knows who opens an app) and an app's script may add cookies the front door receives;
a request with two session cookies is refused (:mod:`.auth`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

# what an app may not say to the browser about the site: it is not the app's
DROPPED_FROM_APPS = frozenset({"service-worker-allowed", "clear-site-data"})


def cross_site(request: web.BaseRequest) -> bool:
    """Whether a browser sent the request from a page of another origin (``Sec-Fetch-Site``,
    else ``Origin``): another site, or the apps' port."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    # (no Sec-Fetch-*: an older browser, or a site it does not trust, plain HTTP not on
    # localhost: the Origin, else the Referer, says where from)
    said = request.headers.get("Origin") or request.headers.get("Referer")
    if said is None:
        return False
    try:
        return urlsplit(said).netloc.lower() != request.host.lower()
    except ValueError:  # (no URL: no page of this site sent it)
        return True


def from_a_studio(request: web.BaseRequest) -> bool:
    """Whether a browser sent the request from an app's page on the front door's own origin
    (``Referer`` under /studios/, or hidden by a browser that says it is one). Only a second
    line: a script of that origin may send another ``Referer``; the apps' own port is what
    keeps them apart (above)."""
    referer = request.headers.get("Referer")
    if referer is None:
        return request.headers.get("Sec-Fetch-Site") not in (None, "none")
    try:
        parts = urlsplit(referer)
    except ValueError:  # (no URL: taken as the worst case)
        return True
    return parts.netloc.lower() == request.host.lower() and parts.path.startswith("/studios/")


def with_port(request: web.BaseRequest, scheme: str, port: int) -> str:
    """This site's origin with another port: the host the browser used, its scheme."""
    host = request.host
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return f"{scheme}://{name}:{port}"


def an_app(request: web.BaseRequest) -> bool:
    """Whether the path is an app's (``/studios/<studio>/<app>…``), as the gateway reads it."""
    parts = request.raw_path.partition("?")[0].split("/")
    return len(parts) > 3 and parts[1] == "studios" and bool(parts[3])
