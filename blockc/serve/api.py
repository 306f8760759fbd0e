"""The JSON API under ``/api/v1/`` (its document: :mod:`.openapi`).

Everything a user does here, they could do with the CLI on the host, on their own studios
only: a studio of another user is "not found", the same answer as for no studio at all.
Admins see and act on every studio (opening their apps is the gateway's business), and
manage the templates users may start studios from.
"""

from __future__ import annotations

import asyncio
import json
import os

from aiohttp import web

from ..errors import BlockcError
from ..home import private_home
from ..names import DNS_LABEL
from ..run.instance import base_path
from . import accounts
from .auth import Identity
from .openapi import document
from .routes import Handler, params
from .store import Store, Template
from .tasks import Task, Tasks, output

IDENTITY = "blockc.identity"  # (the request key of its Identity)
BUILD_KEY = "template:"  # a build's task is kept under this and its template's name


def problem(status: int, message: str, hint: str | None = None, **more) -> web.HTTPException:
    """An error answer, raised: JSON ``{"error": message, "hint": ..., ...}`` with the
    status."""
    if hint:
        more["hint"] = hint
    exc = web.HTTPException(
        text=json.dumps({"error": message, **more}), content_type="application/json"
    )
    exc.set_status(status)
    return exc


class Api:
    def __init__(self, store: Store, tasks: Tasks, last_activity) -> None:
        self.store = store
        self.tasks = tasks
        self.last_activity = last_activity  # studio -> when it was last used
        self._document = json.dumps(document())

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/api/v1/openapi.json", self.openapi),
            ("GET", "/api/v1/me", self.me),
            ("GET", "/api/v1/studios", self.list_studios),
            ("POST", "/api/v1/studios", self.create_studio),
            ("GET", "/api/v1/studios/{name}", self.get_studio),
            ("DELETE", "/api/v1/studios/{name}", self.remove_studio),
            ("POST", "/api/v1/studios/{name}/start", self.start_studio),
            ("POST", "/api/v1/studios/{name}/stop", self.stop_studio),
            ("POST", "/api/v1/studios/{name}/sync", self.sync_studio),
            ("GET", "/api/v1/studios/{name}/logs", self.logs),
            ("GET", "/api/v1/tasks/{id}", self.get_task),
            ("GET", "/api/v1/tasks/{id}/events", self.task_events),
            ("GET", "/api/v1/templates", self.list_templates),
            ("PUT", "/api/v1/templates/{template}", self.put_template),
            ("DELETE", "/api/v1/templates/{template}", self.remove_template),
            ("POST", "/api/v1/templates/{template}/build", self.build_template),
            ("GET", "/api/v1/tokens", self.list_tokens),
            ("POST", "/api/v1/tokens", self.create_token),
            ("DELETE", "/api/v1/tokens/{id}", self.revoke_token),
            ("GET", "/api/v1/users", self.list_users),
        ]

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def who(request: web.BaseRequest) -> Identity:
        return request[IDENTITY]

    def admin(self, request: web.BaseRequest) -> Identity:
        identity = self.who(request)
        if not identity.user.admin:
            raise problem(403, "only admins may do this")
        return identity

    def studio(self, request: web.BaseRequest, name: str | None = None):
        """The studio named in the path, if the user may act on it (404 otherwise)."""
        name = params(request)["name"] if name is None else name
        user = self.who(request).user
        studio = self.store.studio(name) if DNS_LABEL.fullmatch(name) else None
        if studio is None or not (user.admin or studio.owner == user.name):
            raise problem(404, f"you have no studio named {name!r}")
        return studio

    @staticmethod
    async def body(
        request: web.BaseRequest,
        allowed: set[str],
        required: frozenset[str] | set[str] = frozenset(),
    ):
        if not request.body_exists:
            data: object = {}
        else:
            if request.content_type != "application/json":
                raise problem(415, "send a JSON body (Content-Type: application/json)")
            try:
                data = json.loads(await request.read() or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise problem(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise problem(400, "the body must be a JSON object")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise problem(400, f"unknown field(s): {', '.join(unknown)}")
        missing = sorted(required - set(data))
        if missing:
            raise problem(400, f"missing field(s): {', '.join(missing)}")
        return data

    def studio_json(self, studio) -> dict:
        spec = self.store.studio_json(studio) or {"apps": []}
        task = self.tasks.running_for(studio.name)
        return {
            "name": studio.name,
            "owner": studio.owner,
            "template": studio.template,
            "state": studio.state,
            "message": studio.message,
            "runtime": studio.runtime,
            "apps": [
                {
                    "id": a["id"],
                    "type": a["type"],
                    "label": a.get("label") or a["id"],
                    "url": base_path(studio.name, a["id"]),
                }
                for a in spec["apps"]
            ],
            "task": task.id if task else None,
            "updated_at": studio.updated_at,
            "last_activity": self.last_activity(studio),
        }

    def run(
        self,
        request: web.BaseRequest,
        action: str,
        studio: str,
        argv: list[str],
        template: str = "",
        creates: bool = False,
    ) -> web.Response:
        busy = self.tasks.running_for(studio)
        if busy is not None:
            what = (
                f"template {studio.removeprefix(BUILD_KEY)!r}"
                if studio.startswith(BUILD_KEY)
                else f"studio {studio!r}"
            )
            raise problem(409, f"{what} is busy: {busy.action} runs (task {busy.id})")
        user = self.who(request).user.name
        task = self.tasks.start(action, studio, user, argv, template, creates)
        return web.json_response(
            task.json(), status=202, headers={"Location": f"/api/v1/tasks/{task.id}"}
        )

    # --- handlers -------------------------------------------------------------------------

    async def not_found(self, request: web.BaseRequest) -> web.Response:
        raise problem(404, f"no API at {request.path} (see /api/v1/openapi.json)")

    async def openapi(self, request: web.BaseRequest) -> web.Response:
        return web.Response(text=self._document, content_type="application/json")

    async def me(self, request: web.BaseRequest) -> web.Response:
        identity = self.who(request)
        return web.json_response(
            {
                "name": identity.user.name,
                "admin": identity.user.admin,
                "groups": list(identity.user.groups),
                "via": identity.via,
                "csrf": identity.csrf or None,
            }
        )

    async def list_studios(self, request: web.BaseRequest) -> web.Response:
        user = self.who(request).user
        return web.json_response(
            {
                "studios": [
                    self.studio_json(s)
                    for s in self.store.studios()
                    if user.admin or s.owner == user.name
                ]
            }
        )

    async def get_studio(self, request: web.BaseRequest) -> web.Response:
        return web.json_response(self.studio_json(self.studio(request)))

    async def create_studio(self, request: web.BaseRequest) -> web.Response:
        data = await self.body(request, {"name", "template"}, frozenset({"name", "template"}))
        name, template_name = data["name"], data["template"]
        if not isinstance(name, str) or not DNS_LABEL.fullmatch(name) or len(name) > 40:
            raise problem(400, "a studio's name is a DNS-1123 label of at most 40 characters")
        user = self.who(request).user
        template = self.store.template(template_name) if isinstance(template_name, str) else None
        if template is None or not template.open_to(user):
            raise problem(404, f"no template named {template_name!r} is open to you")
        existing = self.store.studio(name)
        if existing is not None:
            if existing.owner != user.name:
                raise problem(409, f"the name {name!r} is taken; pick another")
            raise problem(409, f"you have a studio named {name!r} already; start it")
        workspace = os.path.join(private_home(), "workspaces", user.name, name)
        os.makedirs(workspace, mode=0o700, exist_ok=True)
        argv = ["start", template.path, "--studio", name, "--owner", user.name]
        argv += ["--workspace", workspace]
        return self.run(request, "start", name, argv, template.name, creates=True)

    async def start_studio(self, request: web.BaseRequest) -> web.Response:
        studio = self.studio(request)
        argv = ["start", studio.template_path, "--studio", studio.name, "--owner", studio.owner]
        return self.run(request, "start", studio.name, argv, studio.template)

    async def stop_studio(self, request: web.BaseRequest) -> web.Response:
        studio = self.studio(request)
        return self.run(request, "stop", studio.name, ["stop", studio.name])

    async def sync_studio(self, request: web.BaseRequest) -> web.Response:
        studio = self.studio(request)
        data = await self.body(request, {"direction", "allow_mass_delete"})
        direction = data.get("direction", "both")
        if direction not in ("both", "pull", "push"):
            raise problem(400, "direction is both, pull or push")
        mass = data.get("allow_mass_delete", False)
        if not isinstance(mass, bool):
            raise problem(400, "allow_mass_delete is true or false")
        argv = ["sync", studio.name] + ([] if direction == "both" else [f"--{direction}"])
        argv += ["--allow-mass-delete"] if mass else []
        return self.run(request, "sync", studio.name, argv)

    async def remove_studio(self, request: web.BaseRequest) -> web.Response:
        studio = self.studio(request)
        force = request.query.get("force", "false").lower()
        if force not in ("true", "false", "1", "0"):
            raise problem(400, "force is true or false")
        argv = ["rm", studio.name] + (["--force"] if force in ("true", "1") else [])
        return self.run(request, "rm", studio.name, argv)

    async def logs(self, request: web.BaseRequest) -> web.Response:
        studio = self.studio(request)
        app = request.query.get("app")
        try:
            lines = int(request.query.get("lines", "200"))
        except ValueError:
            raise problem(400, "lines is a number") from None
        if not 1 <= lines <= 10000:
            raise problem(400, "lines is between 1 and 10000")
        if app is not None and app not in {
            a["id"] for a in (self.store.studio_json(studio) or {}).get("apps", ())
        }:
            raise problem(404, f"studio {studio.name!r} has no app {app!r}")
        argv = ["logs", studio.name, "--lines", str(lines)] + (["--app", app] if app else [])
        code, out, err = await output(*argv)
        if code:
            text = err.decode("utf-8", "replace").strip().removeprefix("error: ")
            raise problem(409, text or f"blockc logs failed ({code})")
        return web.json_response({"log": out.decode("utf-8", "replace")})

    def task(self, request: web.BaseRequest) -> Task:
        task = self.tasks.get(params(request)["id"])
        user = self.who(request).user
        studio = self.store.studio(task.studio) if task is not None else None
        if task is None or not (
            user.admin
            or task.user == user.name
            # (one on your studio, by an admin or the idle timeout: yours to follow too)
            or (
                studio is not None
                and studio.owner == user.name
                and task.started_at >= studio.created_at  # (not an earlier namesake's)
            )
        ):
            raise problem(404, "no such task of yours")
        return task

    async def get_task(self, request: web.BaseRequest) -> web.Response:
        return web.json_response(self.task(request).json())

    async def task_events(self, request: web.BaseRequest) -> web.StreamResponse:
        task = self.task(request)
        try:
            after = int(request.headers.get("Last-Event-ID", "0"))
        except ValueError:
            after = 0
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        async for event in task.follow(after):
            data = json.dumps(event.data)
            await response.write(f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode())
        await response.write_eof()
        return response

    async def list_templates(self, request: web.BaseRequest) -> web.Response:
        user = self.who(request).user
        shown = [t.json() for t in self.store.templates() if t.open_to(user)]
        if not user.admin:
            for t in shown:
                del t["path"]  # (a path on the server is the admins' business)
        return web.json_response({"templates": shown})

    async def put_template(self, request: web.BaseRequest) -> web.Response:
        self.admin(request)
        name = params(request)["template"]
        if not DNS_LABEL.fullmatch(name) or len(name) > 40:
            raise problem(400, "a template's name is a DNS-1123 label of at most 40 characters")
        data = await self.body(request, {"path", "groups"}, frozenset({"path"}))
        path, groups = data["path"], data.get("groups", [])
        if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
            raise problem(400, "path is the absolute path of a template file on this host")
        if not isinstance(groups, list):
            raise problem(400, "groups is a list of group names")
        try:
            groups = [accounts.check_name("group", g) for g in groups]
        except BlockcError as exc:
            raise problem(400, *_said(exc)) from None
        problems = await asyncio.get_running_loop().run_in_executor(None, _validate, path)
        if problems:
            raise problem(400, f"{path} is not a valid template", hint=problems)
        template = Template(name, path, tuple(sorted(set(groups))))
        self.store.put_template(template)
        return web.json_response(template.json())

    async def remove_template(self, request: web.BaseRequest) -> web.Response:
        self.admin(request)
        if not self.store.remove_template(params(request)["template"]):
            raise problem(404, "no such template")
        return web.Response(status=204)

    async def build_template(self, request: web.BaseRequest) -> web.Response:
        self.admin(request)
        template = self.store.template(params(request)["template"])
        if template is None:
            raise problem(404, "no such template")
        data = await self.body(request, {"no_cache"})
        no_cache = data.get("no_cache", False)
        if not isinstance(no_cache, bool):
            raise problem(400, "no_cache is true or false")
        argv = ["build", template.path] + (["--no-cache"] if no_cache else [])
        # (one build of a template at a time, as one operation of a studio)
        return self.run(request, "build", BUILD_KEY + template.name, argv, template.name)

    async def list_tokens(self, request: web.BaseRequest) -> web.Response:
        user = self.who(request).user
        return web.json_response({"tokens": [t.json() for t in accounts.tokens(user.name)]})

    async def create_token(self, request: web.BaseRequest) -> web.Response:
        user = self.who(request).user
        data = await self.body(request, {"expires_days", "note"})
        days = data.get("expires_days", 90.0)
        note = data.get("note", "")
        if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float))):
            raise problem(400, "expires_days is a number of days, or null (never)")
        if not isinstance(note, str):
            raise problem(400, "note is text")
        try:
            token, raw = accounts.create_token(user.name, days=days, note=note)
        except BlockcError as exc:
            raise problem(400, *_said(exc)) from None
        return web.json_response({**token.json(), "token": raw}, status=201)

    async def revoke_token(self, request: web.BaseRequest) -> web.Response:
        user = self.who(request).user
        token_id = params(request)["id"]
        mine = {t.id for t in accounts.tokens(None if user.admin else user.name)}
        if token_id not in mine:
            raise problem(404, "no such token of yours")
        accounts.revoke_token(token_id)
        return web.Response(status=204)

    async def list_users(self, request: web.BaseRequest) -> web.Response:
        self.admin(request)
        return web.json_response(
            {
                "users": [
                    {
                        "name": u.name,
                        "admin": u.admin,
                        "groups": list(u.groups),
                        "has_password": u.has_password,
                    }
                    for u in accounts.users()
                ]
            }
        )


def _said(exc: BlockcError) -> tuple[str, str | None]:
    """What a BlockcError says, as an answer's error and hint (not the CLI's "error: " lines)."""
    message = "; ".join(d.message for d in exc.diagnostics)
    hints = [d.hint for d in exc.diagnostics if d.hint]
    return message, "; ".join(hints) or None


def _validate(path: str) -> str:
    """What is wrong with the template at ``path`` ("" when nothing)."""
    from ..compiler import try_compile

    try:
        artifact, diagnostics = try_compile(path)
    except BlockcError as exc:
        diagnostics = exc.diagnostics
    except (OSError, ValueError) as exc:  # (a path the system refuses outright)
        return f"{path}: cannot be read ({exc})"
    return "\n".join(d.format() for d in diagnostics)
