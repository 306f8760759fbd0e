"""The web pages (issue 16): studios, templates and sync for people who would rather click.

    /                  My studios: state (live), apps, last sync, Start / Stop / Sync / Delete
    /new               a new studio from a template open to you
    /s/<studio>        a studio: its apps, Logs, Sync, Details
    /studios/<studio>/ its apps, a tab each, the app in the page (through the gateway)
    /tokens            your API tokens
    /admin/studios     every studio (admins), filtered by owner and state
    /admin/templates   the site's templates (admins): validation, what each block gives,
                       builds (live log, rebuild)
    /admin/users       users (admins)
    /events            server-sent events: each studio you may see, when it changes
    /static/…          the stylesheet and the one script (no build step)

Pages are rendered here (jinja2, autoescaped); actions are the API's, called by the page's
script with the session's CSRF token, so a page does nothing the API would not let its user
do. Every handler finds who asks first: no session, a redirect to the sign-in page.

Apps are on an origin of their own (:mod:`..origins`), so an app framed in a page cannot
script it. Where the site turns that off (``apps_port = "off"``) they are framed by a page
under ``/studios/`` with no CSRF token and no script, which links back to the studio's page
for everything else (what an app could do with it is no more than it can do alone).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path
from urllib.parse import quote

import jinja2
from aiohttp import web
from markupsafe import Markup

from ...errors import Diagnostic
from ...names import DNS_LABEL
from ...run.instance import base_path
from ..api import BUILD_KEY
from ..auth import Auth, Identity
from ..origins import from_a_studio
from ..routes import Handler, params
from ..store import Store
from ..tasks import Tasks, output

log = logging.getLogger("blockc.serve")
HERE = Path(__file__).parent
STATIC = {name: (HERE / "static" / name).read_bytes() for name in ("blockc.css", "blockc.js")}
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}
# each file's address carries its content's hash: cached for good, changed when it does
STATIC_URL = {
    name: f"/static/{name}?v={hashlib.sha256(data).hexdigest()[:12]}"
    for name, data in STATIC.items()
}
HEADERS = {
    # the pages' own script and style only; the apps' pages are framed from this origin
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}
EVENTS_POLL = 0.25  # seconds between looks at the database while a page listens
EVENTS_PING = 15.0  # a comment this often keeps proxies from closing a quiet stream
SYNCING = frozenset({"sync", "start", "stop"})  # the operations whose output is a sync report
MAKING_SHOWN = 3600.0  # seconds a studio whose making failed stays listed (with why)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["static"] = STATIC_URL
    env.globals["bare"] = False  # (True: a page under /studios/, see above)
    env.filters["when"] = _when
    return env


def _when(t: float | None) -> Markup:
    """A time, shown in the reader's locale by the page's script (UTC until then)."""
    if not t:
        return Markup("never")
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return Markup('<time datetime="{0}">{0}</time>').format(iso)


class UI:
    def __init__(self, store: Store, auth: Auth, tasks: Tasks, apps_origin=None) -> None:
        self.apps_origin = apps_origin or (lambda request: "")  # request -> origin ("": ours)
        self.store = store
        self.auth = auth
        self.tasks = tasks
        self.env = _env()
        self._described: dict[tuple, str] = {}
        self._changed = asyncio.Event()
        self._listeners = 0
        self._watching: asyncio.Task | None = None
        self.stopping = False
        tasks.on_change = self.changed

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", path, self._shown(handler))
            for path, handler in (
                ("/", self.studios),
                ("/new", self.new),
                ("/s/{name}", self.studio),
                ("/tokens", self.tokens),
                ("/admin/studios", self.all_studios),
                ("/admin/templates", self.templates),
                ("/admin/users", self.users),
                ("/events", self.events),
                ("/static/{file}", self.static),
            )
        ]

    def routes_under_studios(self) -> Handler:
        """The page of a studio's apps, at ``/studios/<studio>/`` (GET only)."""
        shown = self._shown(self.apps)

        async def apps(request: web.BaseRequest) -> web.StreamResponse:
            if request.method not in ("GET", "HEAD"):
                return web.json_response(
                    {"error": f"{request.method} is not allowed here"},
                    status=405,
                    headers={"Allow": "GET"},
                )
            return await shown(request)

        return apps

    @staticmethod
    def _shown(handler: Handler) -> Handler:
        """A page that fails is a page saying so (the traceback goes to the server's log)."""

        async def shown(request: web.BaseRequest) -> web.StreamResponse:
            if request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate" and (
                from_a_studio(request) and not request.path.startswith("/static/")
            ):  # (an app's page reading a page of yours, or your studios' events: refused)
                return web.Response(status=403, text="not from an app's page", headers=HEADERS)
            try:
                return await handler(request)
            except (web.HTTPException, asyncio.CancelledError, ConnectionResetError):
                raise
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                return web.Response(
                    status=500,
                    text="This page failed; the server's log says why.",
                    headers=HEADERS,
                )

        return shown

    # --- helpers --------------------------------------------------------------------------

    def who(self, request: web.BaseRequest, admin: bool = False) -> Identity:
        self.store.refresh()
        who = self.auth.identify(request.headers, request.cookies, request.remote)
        if who is None:
            raise web.HTTPFound("/login?next=" + quote(request.path_qs, safe=""))
        if admin and not who.user.admin:
            raise web.HTTPForbidden(
                text=self.env.get_template("error.html").render(
                    who=who, title="Not for you", message="This page is for the site's admins."
                ),
                content_type="text/html",
                headers=HEADERS,
            )
        return who

    def page(self, name: str, who: Identity, status: int = 200, **context) -> web.Response:
        text = self.env.get_template(name).render(who=who, **context)
        response = web.Response(
            status=status, text=text, content_type="text/html", charset="utf-8", headers=HEADERS
        )
        response.enable_compression()  # (if the browser takes it: 200 studios, 234 -> 12 KiB)
        return response

    def no_studio(self, who: Identity, name: str, bare: bool = False) -> web.Response:
        """The same page for another user's studio and for none."""
        return self.page(
            "error.html",
            who,
            status=404,
            title="No such studio",
            message=f"You have no studio named {name!r}.",
            bare=bare,
        )

    def visible(self, who: Identity, everyone: bool = False):
        return [
            s
            for s in self.store.studios()
            if s.owner == who.user.name or (everyone and who.user.admin)
        ]

    def making(self, who: Identity, everyone: bool = False) -> dict[str, dict]:
        """Studios asked for here (``POST /api/v1/studios``) and not made yet (their first
        start builds the image: no record until then), or whose making failed within the
        last hour: name -> row."""
        rows: dict[str, dict] = {}
        now = time.time()
        for task in self.tasks.tasks.values():
            if (
                not task.creates
                or task.state == "succeeded"  # (made, and maybe deleted since: not shown)
                or not (task.user == who.user.name or (everyone and who.user.admin))
                or (task.ended_at is not None and now - task.ended_at > MAKING_SHOWN)
                or self.store.studio(task.studio) is not None
            ):
                continue
            lines = task.lines()
            failed = task.state == "failed"
            rows[task.studio] = {
                "name": task.studio,
                "owner": task.user,
                "template": task.template,
                "state": "FAILED" if failed else "STARTING",
                "message": (failing(lines) if failed else "being made"),
                "apps": [],
                "task": {"id": task.id, "action": task.action},
                "sync": None,
                "zones": False,
                "updated_at": task.ended_at or task.started_at,
                "making": True,
            }
        return rows

    def row(self, studio) -> dict:
        """What a page shows of a studio (and the events send when it changes)."""
        spec = self.store.studio_json(studio) or {"apps": []}
        task = self.tasks.running_for(studio.name)
        syncs = self.store.last_syncs().get(studio.name, [])
        last = max(syncs, key=lambda z: z.at) if syncs else None
        return {
            "name": studio.name,
            "owner": studio.owner,
            "template": studio.template,
            "state": studio.state,
            "message": studio.message,
            "apps": [
                {
                    "id": a["id"],
                    "label": a.get("label") or a["id"],
                    "url": base_path(studio.name, a["id"]),
                    "view": app_view(studio.name, a["id"]),
                }
                for a in spec["apps"]
            ],
            "task": {"id": task.id, "action": task.action} if task else None,
            "sync": (
                {"at": last.at, "summary": last.summary, "clean": last.clean, "mode": last.mode}
                if last
                else None
            ),
            "zones": bool(spec.get("zones")),
            "updated_at": studio.updated_at,
            "making": False,
        }

    def description(self, path: str) -> str:
        """A template's ``metadata.description`` (read again when its file changes)."""
        try:
            st = os.stat(path)
        except OSError:
            return ""
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in self._described:
            import yaml

            try:
                with open(path, encoding="utf-8") as f:
                    doc = yaml.safe_load(f)
                meta = doc.get("metadata") if isinstance(doc, dict) else None
                text = meta.get("description") if isinstance(meta, dict) else None
                self._described[key] = text if isinstance(text, str) else ""
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                self._described[key] = ""
        return self._described[key]

    # --- pages ----------------------------------------------------------------------------

    async def studios(self, request: web.BaseRequest) -> web.Response:
        who = self.who(request)
        rows = [self.row(s) for s in self.visible(who)] + list(self.making(who).values())
        rows.sort(key=lambda r: r["name"])
        return self.page("studios.html", who, title="My studios", rows=rows, everyone=False)

    async def all_studios(self, request: web.BaseRequest) -> web.Response:
        who = self.who(request, admin=True)
        owner = request.query.get("owner", "")
        state = request.query.get("state", "")
        studios = self.visible(who, everyone=True)
        owners = sorted({s.owner for s in studios})
        rows = [self.row(s) for s in studios] + list(self.making(who, everyone=True).values())
        rows = sorted(
            (
                r
                for r in rows
                if (not owner or r["owner"] == owner) and (not state or r["state"] == state)
            ),
            key=lambda r: r["name"],
        )
        return self.page(
            "studios.html",
            who,
            title="All studios",
            rows=rows,
            everyone=True,
            owners=owners,
            owner=owner,
            state=state,
        )

    async def new(self, request: web.BaseRequest) -> web.Response:
        who = self.who(request)
        templates = [
            {"name": t.name, "description": self.description(t.path), "groups": t.groups}
            for t in self.store.templates()
            if t.open_to(who.user)
        ]
        chosen = request.query.get("template", "")
        return self.page("new.html", who, title="New studio", templates=templates, chosen=chosen)

    async def studio(self, request: web.BaseRequest) -> web.Response:
        who = self.who(request)
        name = params(request)["name"]
        studio = self.store.studio(name) if DNS_LABEL.fullmatch(name) else None
        if studio is None:
            made = self.making(who, everyone=True).get(name)
            if made is not None:  # (being made: its progress, or why it failed)
                task = self.tasks.get(made["task"]["id"])
                return self.page("making.html", who, title=name, s=made, task=task)
        if studio is None or not (studio.owner == who.user.name or who.user.admin):
            return self.no_studio(who, name)
        row = self.row(studio)
        tabs = [("logs", "Logs"), ("sync", "Sync"), ("details", "Details")]
        tab = request.query.get("tab", "details")
        if tab.startswith("app:"):  # (an app: shown by the page that frames them)
            raise web.HTTPFound(app_view(studio.name, tab[4:]))
        if tab not in {t for t, _ in tabs}:
            tab = "details"
        spec = self.store.studio_json(studio) or {}
        ended = sorted(self.ended(studio, SYNCING), key=lambda t: -t.started_at)[:5]
        reports = [report(t) for t in ended]
        return self.page(
            "studio.html",
            who,
            title=studio.name,
            s=row,
            studio=studio,
            tabs=tabs,
            tab=tab,
            image=spec.get("image", {}),
            zones=spec.get("zones", []),
            last_syncs=self.store.last_syncs().get(studio.name, []),
            reports=reports,
            resources=resources(studio),
            site=self.apps_origin(request) or f"{request.scheme}://{request.host}",
        )

    def ended(self, studio, actions: frozenset[str]) -> list:
        """The ended tasks of these actions on this studio (their output: its sync reports);
        none of an earlier studio of the same name (deleted since)."""
        return [
            t
            for t in self.tasks.tasks.values()
            if t.studio == studio.name
            and t.action in actions
            and t.ended_at is not None
            and t.ended_at >= studio.created_at
        ]

    async def tokens(self, request: web.BaseRequest) -> web.Response:
        who = self.who(request)
        from .. import accounts

        tokens = accounts.tokens(who.user.name)
        return self.page("tokens.html", who, title="Tokens", tokens=tokens, now=time.time())

    async def users(self, request: web.BaseRequest) -> web.Response:
        who = self.who(request, admin=True)
        from .. import accounts

        users = accounts.users()
        tokens = accounts.tokens()
        return self.page(
            "users.html", who, title="Users", users=users, tokens=tokens, now=time.time()
        )

    async def templates(self, request: web.BaseRequest) -> web.Response:
        who = self.who(request, admin=True)
        name = request.query.get("name")
        rows = [
            {
                "name": t.name,
                "path": t.path,
                "groups": t.groups,
                "description": self.description(t.path),
            }
            for t in self.store.templates()
        ]
        chosen = self.store.template(name) if name else None
        checked = explained = None
        builds = []
        if chosen is not None:
            (_, said, err), explained = await asyncio.gather(
                output("validate", "--format", "json", chosen.path, timeout=60),
                _blockc("explain", chosen.path),
            )
            checked = validation(chosen.path, said, err)
            builds = sorted(
                (t for t in self.tasks.tasks.values() if t.studio == BUILD_KEY + chosen.name),
                key=lambda t: -t.started_at,
            )
        return self.page(
            "templates.html",
            who,
            title="Templates",
            rows=rows,
            chosen=chosen,
            checked=checked,
            explained=explained,
            running=next((t for t in builds if t.state == "running"), None),
            builds=[report(t) for t in builds if t.state != "running"][:3],
        )

    async def static(self, request: web.BaseRequest) -> web.Response:
        name = params(request)["file"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        response = web.Response(
            body=STATIC[name],
            content_type=STATIC_TYPES[os.path.splitext(name)[1]],
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )
        response.enable_compression()
        return response

    async def apps(self, request: web.BaseRequest) -> web.Response:
        """``/studios/<studio>/``: the studio's apps, a tab each, the chosen one framed."""
        who = self.who(request)
        name = request.path.split("/")[2]
        studio = self.store.studio(name) if DNS_LABEL.fullmatch(name) else None
        if studio is None or not (studio.owner == who.user.name or who.user.admin):
            return self.no_studio(who, name, bare=True)
        row = self.row(studio)
        app = next((a for a in row["apps"] if a["id"] == request.query.get("app")), None)
        if app is None and row["apps"]:
            app = row["apps"][0]
        at = self.apps_origin(request)
        response = self.page("apps.html", who, title=name, s=row, app=app, bare=True, apps_at=at)
        if at:  # (the apps' own origin may be framed here)
            response.headers["Content-Security-Policy"] = HEADERS[
                "Content-Security-Policy"
            ].replace("frame-src 'self'", f"frame-src {at}")
        return response

    # --- live -----------------------------------------------------------------------------

    def changed(self) -> None:
        self._changed.set()

    def close(self) -> None:
        """End every page's /events (the server stopping)."""
        self.stopping = True
        self._changed.set()

    async def _watch(self) -> None:
        """While a page listens: look at the database every EVENTS_POLL seconds."""
        seen = self.store.generation
        while self._listeners:
            await asyncio.sleep(EVENTS_POLL)
            self.store.reload()
            if self.store.generation != seen:
                seen = self.store.generation
                self._changed.set()
        self._watching = None

    async def events(self, request: web.BaseRequest) -> web.StreamResponse:
        """``studio`` events (a studio's row, when it differs from the last one sent) and
        ``gone`` events (its name) for the studios the page shows."""
        who = self.who(request)
        everyone = request.query.get("all") == "1" and who.user.admin
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        self._listeners += 1
        if self._watching is None:
            self._watching = asyncio.ensure_future(self._watch())
        sent: dict[str, dict] = {}
        try:
            while not self.stopping:
                changed = self._changed
                self.store.refresh()
                if self.auth.identify(request.headers, request.cookies, request.remote) is None:
                    await response.write(b"event: signed-out\ndata: {}\n\n")
                    break
                now = {s.name: self.row(s) for s in self.visible(who, everyone)}
                now.update(self.making(who, everyone))
                out = []
                for name, row in now.items():
                    if sent.get(name) != row:
                        out.append(f"event: studio\ndata: {json.dumps(row)}\n\n")
                for name in sent.keys() - now.keys():
                    out.append(f"event: gone\ndata: {json.dumps(name)}\n\n")
                sent = now
                await response.write(("".join(out) or ": quiet\n\n").encode())
                try:
                    await asyncio.wait_for(changed.wait(), EVENTS_PING)
                except TimeoutError:
                    pass
                if changed.is_set() and changed is self._changed:  # (a new one, for the next
                    self._changed = asyncio.Event()  # change: the others woke on this one)
        finally:
            self._listeners -= 1
        return response


# a sync report's conflict line (blockc.sync.report: names quoted, as they print safely)
CONFLICT = re.compile(
    r"^\s*conflict: '(?P<path>.+?)': (?P<reason>.*?)"
    r"(?:; the studio's version is kept as '(?P<copy>.+)')?$"
)


def app_view(studio: str, app: str) -> str:
    return f"/studios/{studio}/?app={quote(app, safe='')}"


def failing(lines: list[str]) -> str:
    """The line that says why an operation failed (an error, a failed build step)."""
    said = [x for x in lines if x.startswith("error:") or "failed" in x]
    return (said or [x for x in lines if x.strip()] or ["it failed"])[-1].removeprefix("error: ")


def report(task) -> dict:
    """An ended sync (or start, or stop: they sync too) as the Sync tab shows it: its lines,
    its conflicts (both versions named), and whether it stopped short of a mass deletion."""
    lines = task.lines()
    conflicts = [m.groupdict() for m in map(CONFLICT.match, lines) if m]
    # (blockc's own error line: a file name in the report may say anything)
    said = [
        i
        for i, x in enumerate(lines)
        if x.startswith("error: ") and "would delete" in x and "--allow-mass-delete" in x
    ]
    mass = task.state == "failed" and bool(said)
    refusal, doomed = "", []  # (what it said, and the files it named)
    if mass:
        at = said[-1]
        refusal = lines[at].removeprefix("error: ").split(" It would delete:")[0]
        for x in lines[at + 1 :]:
            if not x.startswith("    "):
                break
            doomed.append(x.strip())
    return {
        "action": task.action,
        "started_at": task.started_at,
        "state": task.state,
        "lines": lines,
        "conflicts": conflicts,
        "mass": mass and task.action == "sync",
        "refusal": refusal,
        "doomed": doomed,
        "failing": failing(lines) if task.state == "failed" else "",
    }


def validation(path: str, said: bytes, err: bytes) -> dict:
    """What ``blockc validate --format json`` said of a template: whether it is valid, its
    diagnostics as the CLI prints them, and each located one with the line it names."""
    try:
        result = json.loads(said)
        errors = result["results"][0]["errors"]
        diagnostics = [Diagnostic(**{**e, "path": tuple(e["path"])}) for e in errors]
    except (ValueError, KeyError, IndexError, TypeError):  # (it failed some other way)
        return {"ok": False, "text": (said + err).decode("utf-8", "replace"), "found": []}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    found = []
    for d in diagnostics:
        if d.line is None:
            continue
        where = d.location()
        found.append(
            {
                "where": where,
                "line": d.line,
                "column": d.col or 1,
                "message": d.format().removeprefix(where + ": "),
                "source": lines[d.line - 1] if 0 < d.line <= len(lines) else "",
            }
        )
    return {
        "ok": bool(result.get("ok")),
        "text": "\n".join(d.format() for d in diagnostics),
        "found": found,
    }


def resources(studio) -> dict:
    """The main container's requests and limits, as its manifests say (none: {})."""
    import yaml

    try:
        with open(os.path.join(studio.artifact_dir, "manifests.yaml"), encoding="utf-8") as f:
            docs = list(yaml.safe_load_all(f))
    except (OSError, yaml.YAMLError):
        return {}
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") not in ("Deployment", "Pod"):
            continue
        spec = doc.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") if doc["kind"] == "Deployment" else spec
        for container in (pod or {}).get("containers") or []:
            if isinstance(container, dict) and container.get("resources"):
                return container["resources"]
    return {}


async def _blockc(*argv: str) -> dict:
    """A ``blockc`` command's exit code and what it said (validate, explain: read only)."""
    code, out, err = await output(*argv, timeout=60)
    return {"code": code, "text": (out + err).decode("utf-8", "replace")}
