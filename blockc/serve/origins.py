"""Where a browser's request comes from: another site, or an app's page on this one.

Every app is served from the front door's own origin (under ``/studios/``): a page of an
app could read what a page of the site shows its viewer and act as them. So what a browser
sends with its ambient credentials (the session cookie, a trusted proxy's header) from an
app's page, or from another site, is refused where it matters (the API, the pages' reads).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web


def cross_site(request: web.BaseRequest) -> bool:
    """Whether a browser sent the request from a page of another site (``Sec-Fetch-Site``,
    else ``Origin``)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    try:
        return urlsplit(origin).netloc.lower() != request.host.lower()
    except ValueError:  # (no URL: no page of this site sent it)
        return True


def from_a_studio(request: web.BaseRequest) -> bool:
    """Whether a browser sent the request from an app's page (``Referer`` under /studios/ of
    this site, or hidden by a browser that says it is one)."""
    referer = request.headers.get("Referer")
    if referer is None:
        return request.headers.get("Sec-Fetch-Site") not in (None, "none")
    try:
        parts = urlsplit(referer)
    except ValueError:  # (no URL: taken as the worst case)
        return True
    return parts.netloc.lower() == request.host.lower() and parts.path.startswith("/studios/")
