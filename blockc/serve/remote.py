"""The CLI through a front door: ``blockc status|start|stop|sync|logs --server URL`` (or
``BLOCKC_SERVER``), with an API token in ``BLOCKC_TOKEN``, for users without a shell on the
host that runs the studios (SPEC §5, §9).

The same commands, acting through the API instead of the local state: ``start`` names one of
the site's templates (``GET /api/v1/templates``) instead of a file, the studio's owner is the
token's user, and its files live on the server (the front door's workspace for it). Long
operations print the server's progress lines as they come and exit with the operation's
status. Only the standard library: none of the server's dependencies is imported here.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

from ..errors import BlockcError

TIMEOUT = 30.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # (a redirect is an error: the Authorization header would follow it)


_OPENER = urllib.request.build_opener(_NoRedirect)


class Remote:
    def __init__(self, url: str, token: str | None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BlockcError(
                f"--server {url!r}: give the front door's URL, e.g. https://studios.example.org"
            )
        if not token:
            raise BlockcError(
                "BLOCKC_TOKEN is not set: acting through a front door takes an API token",
                hint="make one in the web page, or on the server's host: `blockc tokens create "
                "--user NAME`; then export BLOCKC_TOKEN=...",
            )
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.token = token

    def _request(self, method: str, path: str, body: dict | None = None, timeout=TIMEOUT):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            return _OPENER.open(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise BlockcError(
                    f"{self.base}: redirected to {exc.headers.get('Location')!r}: not followed "
                    f"(the token would go along)",
                    hint="give --server the front door's own URL (https, its final address)",
                ) from None
            try:
                detail = json.loads(exc.read(65536))
                message, hint = str(detail["error"]), detail.get("hint")
            except (ValueError, KeyError, TypeError):
                message, hint = f"{exc.code} {exc.reason}", None
            if exc.code == 401:
                hint = hint or "the token in BLOCKC_TOKEN is not valid (revoked or expired?)"
            raise BlockcError(f"{self.base}: {message}", hint=hint) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BlockcError(f"cannot reach the front door at {self.base}: {reason}") from None

    def call(self, method: str, path: str, body: dict | None = None):
        with self._request(method, path, body) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def follow(self, task: dict, echo) -> int:
        """Print the task's lines as they come; its exit status."""
        with self._request("GET", f"/api/v1/tasks/{task['id']}/events", timeout=None) as resp:
            kind, data = "", ""
            for raw in resp:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif not line and data:
                    event = json.loads(data)
                    if kind == "line":
                        echo(event["text"])
                    elif kind == "end":
                        return int(event["returncode"])
                    kind, data = "", ""
        raise BlockcError(f"{self.base}: the operation's events ended before it did")

    def url(self, path: str) -> str:
        return self.base + path


def remote(server: str | None) -> Remote | None:
    """The front door to act through (``--server``, else ``BLOCKC_SERVER``), if any."""
    server = server or os.environ.get("BLOCKC_SERVER")
    return Remote(server, os.environ.get("BLOCKC_TOKEN")) if server else None


def quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


# --- the commands ----------------------------------------------------------------------------


def status(r: Remote, name: str | None, fmt: str, echo) -> int:
    if name:
        studios = [r.call("GET", f"/api/v1/studios/{quoted(name)}")]
    else:
        studios = r.call("GET", "/api/v1/studios")["studios"]
    for s in studios:
        for app in s["apps"]:
            app["url"] = r.url(app["url"])
    if fmt == "json":
        echo(json.dumps(studios, indent=2))
        return 0
    if not studios:
        echo("no studios")
    for s in studios:
        echo(f"{s['name']}: {s['state']}  owner {s['owner']}  template {s['template']}")
        if s["message"]:
            echo(f"  ({s['message']})")
        for app in s["apps"] if s["state"] == "RUNNING" else ():
            echo(f"  {app['id']:<12} {app['url']:<48} ({app['label']})")
    return 0


def start(r: Remote, template: str, name: str, echo) -> int:
    try:
        r.call("GET", f"/api/v1/studios/{quoted(name)}")
        task = r.call("POST", f"/api/v1/studios/{quoted(name)}/start")
    except BlockcError as exc:
        if "you have no studio named" not in str(exc):
            raise
        task = r.call("POST", "/api/v1/studios", {"name": name, "template": template})
    code = r.follow(task, echo)
    if code == 0:
        status(r, name, "text", echo)
    return code


def act(r: Remote, name: str, action: str, echo, body: dict | None = None) -> int:
    task = r.call("POST", f"/api/v1/studios/{quoted(name)}/{action}", body)
    return r.follow(task, echo)


def logs(r: Remote, name: str, app: str | None, lines: int) -> str:
    query = urllib.parse.urlencode({"lines": lines, **({"app": app} if app else {})})
    return r.call("GET", f"/api/v1/studios/{quoted(name)}/logs?{query}")["log"]
