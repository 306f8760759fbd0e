"""The OpenAPI document of ``/api/v1/`` (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from .. import __version__


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


ERRORS = {
    "401": _error("no credentials, or credentials no longer valid"),
    "403": _error("not yours (or not an admin's), or the CSRF token is missing"),
}
NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 40}
STUDIO_PARAM = {"name": "name", "in": "path", "required": True, "schema": NAME}


def _op(summary: str, responses: dict, *, body: dict | None = None, params=(), tag="") -> dict:
    op: dict = {"summary": summary, "responses": {**responses, **ERRORS}}
    if tag:
        op["tags"] = [tag]
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
        op["responses"].setdefault("400", _error("the body is not what the schema says"))
        op["responses"].setdefault("415", _error("the body is not JSON"))
    return op


def _task_accepted() -> dict:
    return {
        "202": _json(_ref("Task"), "the operation runs; follow it at /api/v1/tasks/{id}/events"),
        "404": _error("no such studio of yours"),
        "409": _error("an operation on this studio runs already"),
    }


def document() -> dict:
    studio_ops = {
        "/api/v1/studios/{name}/start": ("start the studio (build if needed, sync in)", None),
        "/api/v1/studios/{name}/stop": ("sync the studio's files out, then stop it", None),
        "/api/v1/studios/{name}/sync": (
            "sync the studio's files (both ways by default)",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "direction": {"enum": ["both", "pull", "push"]},
                    # (what the CLI's --allow-mass-delete lets through)
                    "allow_mass_delete": {"type": "boolean"},
                },
            },
        ),
    }
    paths: dict = {
        "/api/v1/openapi.json": {
            "get": {
                "summary": "this document",
                "security": [],
                "responses": {"200": {"description": "the OpenAPI document"}},
            }
        },
        "/api/v1/me": {"get": _op("who you are", {"200": _json(_ref("Me"), "you")}, tag="users")},
        "/api/v1/studios": {
            "get": _op(
                "your studios (an admin's: every studio)",
                {"200": _json(_ref("StudioList"), "studios")},
                tag="studios",
            ),
            "post": _op(
                "make a studio from a template and start it",
                {
                    **_task_accepted(),
                    "400": _error("a bad name or template"),
                    "404": _error("no such template open to you"),
                    "409": _error("the name is taken"),
                },
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "template"],
                    "properties": {"name": NAME, "template": {"type": "string"}},
                },
                tag="studios",
            ),
        },
        "/api/v1/studios/{name}": {
            "get": _op(
                "one studio",
                {"200": _json(_ref("Studio"), "the studio"), "404": _error("no such studio")},
                params=[STUDIO_PARAM],
                tag="studios",
            ),
            "delete": _op(
                "remove the studio (refused when it has unsynced changes, unless force)",
                {**_task_accepted(), "400": _error("force is not true or false")},
                params=[
                    STUDIO_PARAM,
                    {"name": "force", "in": "query", "schema": {"type": "boolean"}},
                ],
                tag="studios",
            ),
        },
        "/api/v1/studios/{name}/logs": {
            "get": _op(
                "the last lines of the studio's log (or one app's)",
                {
                    "200": _json(_ref("Logs"), "log lines"),
                    "400": _error("lines is not a number from 1 to 10000"),
                    "404": _error("no such studio, or no such app of it"),
                    "409": _error("no logs to be had (not running, say)"),
                },
                params=[
                    STUDIO_PARAM,
                    {"name": "app", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "lines",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
                    },
                ],
                tag="studios",
            )
        },
        "/api/v1/tasks/{id}": {
            "get": _op(
                "an operation",
                {"200": _json(_ref("Task"), "the task"), "404": _error("no such task")},
                params=[
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                tag="tasks",
            )
        },
        "/api/v1/tasks/{id}/events": {
            "get": _op(
                "an operation's progress as server-sent events (`line`, then `end`)",
                {
                    "200": {
                        "description": "events: `line` ({text}) as the operation prints, then "
                        "one `end` ({state, returncode}); each has an id, sent back as "
                        "Last-Event-ID to resume after it",
                        "content": {
                            "text/event-stream": {
                                "schema": {
                                    "type": "object",
                                    "required": ["id", "event", "data"],
                                    "properties": {
                                        "id": {"type": "string", "pattern": "^[0-9]+$"},
                                        "event": {"enum": ["line", "end"]},
                                        "data": {
                                            "type": "string",
                                            "contentMediaType": "application/json",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "404": _error("no such task"),
                },
                params=[
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                tag="tasks",
            )
        },
        "/api/v1/templates": {
            "get": _op(
                "the templates open to you",
                {"200": _json(_ref("TemplateList"), "templates")},
                tag="templates",
            )
        },
        "/api/v1/templates/{template}": {
            "put": _op(
                "(admins) register a template file of this host, open to some groups or all",
                {
                    "200": _json(_ref("Template"), "the template"),
                    "400": _error("not a valid template"),
                },
                params=[{"name": "template", "in": "path", "required": True, "schema": NAME}],
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["path"],
                    "properties": {
                        "path": {"type": "string"},
                        "groups": {"type": "array", "items": {"type": "string"}},
                    },
                },
                tag="templates",
            ),
            "delete": _op(
                "(admins) forget a template (its studios keep running)",
                {"204": {"description": "forgotten"}, "404": _error("no such template")},
                params=[{"name": "template", "in": "path", "required": True, "schema": NAME}],
                tag="templates",
            ),
        },
        "/api/v1/templates/{template}/build": {
            "post": _op(
                "(admins) build the template's image now (from scratch with no_cache)",
                {
                    **_task_accepted(),
                    "403": _error("only admins build"),
                    "404": _error("no such template"),
                    "409": _error("a build of this template runs already"),
                },
                params=[{"name": "template", "in": "path", "required": True, "schema": NAME}],
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"no_cache": {"type": "boolean"}},
                },
                tag="templates",
            ),
        },
        "/api/v1/tokens": {
            "get": _op("your API tokens", {"200": _json(_ref("TokenList"), "tokens")}, tag="users"),
            "post": _op(
                "a new API token (shown once)",
                {"201": _json(_ref("NewToken"), "the token"), "400": _error("bad lifetime")},
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "expires_days": {
                            "type": ["number", "null"],
                            "exclusiveMinimum": 0,
                            "maximum": 36500,
                        },
                        "note": {"type": "string", "maxLength": 200},
                    },
                },
                tag="users",
            ),
        },
        "/api/v1/tokens/{id}": {
            "delete": _op(
                "revoke one of your tokens",
                {"204": {"description": "revoked"}, "404": _error("no such token of yours")},
                params=[
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                tag="users",
            )
        },
        "/api/v1/users": {
            "get": _op(
                "(admins) every user", {"200": _json(_ref("UserList"), "users")}, tag="users"
            )
        },
    }
    for path, (summary, body) in studio_ops.items():
        paths[path] = {
            "post": _op(
                summary,
                _task_accepted(),
                params=[STUDIO_PARAM],
                tag="studios",
                **({"body": body} if body else {}),
            )
        }
    string, number = {"type": "string"}, {"type": "number"}
    nullable_string = {"type": ["string", "null"]}
    schemas = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": string, "hint": string, "state": string, "message": string},
        },
        "Me": {
            "type": "object",
            "required": ["name", "admin", "groups", "via"],
            "properties": {
                "name": string,
                "admin": {"type": "boolean"},
                "groups": {"type": "array", "items": string},
                "via": {"enum": ["token", "session", "header"]},
                "csrf": nullable_string,
            },
        },
        "App": {
            "type": "object",
            "required": ["id", "type", "label", "url"],
            "properties": {"id": string, "type": string, "label": string, "url": string},
        },
        "Studio": {
            "type": "object",
            "required": ["name", "owner", "template", "state", "message", "runtime", "apps"],
            "properties": {
                "name": string,
                "owner": string,
                "template": string,
                "state": {"enum": ["STOPPED", "STARTING", "RUNNING", "STOPPING", "FAILED"]},
                "message": string,
                "runtime": string,
                "apps": {"type": "array", "items": _ref("App")},
                "task": nullable_string,
                "updated_at": number,
                "last_activity": number,
            },
        },
        "StudioList": {
            "type": "object",
            "required": ["studios"],
            "properties": {"studios": {"type": "array", "items": _ref("Studio")}},
        },
        "Logs": {"type": "object", "required": ["log"], "properties": {"log": string}},
        "Task": {
            "type": "object",
            "required": ["id", "action", "studio", "user", "state"],
            "properties": {
                "id": string,
                "action": string,
                "studio": string,
                "user": string,
                "state": {"enum": ["running", "succeeded", "failed"]},
                "returncode": {"type": ["integer", "null"]},
                "started_at": number,
                "ended_at": {"type": ["number", "null"]},
                "lines": {"type": "array", "items": string},
            },
        },
        "Template": {
            "type": "object",
            "required": ["name", "groups"],
            "properties": {
                "name": string,
                "path": string,
                "groups": {"type": "array", "items": string},
            },
        },
        "TemplateList": {
            "type": "object",
            "required": ["templates"],
            "properties": {"templates": {"type": "array", "items": _ref("Template")}},
        },
        "Token": {
            "type": "object",
            "required": ["id", "user", "created_at"],
            "properties": {
                "id": string,
                "user": string,
                "created_at": number,
                "expires_at": {"type": ["number", "null"]},
                "last_used": {"type": ["number", "null"]},
                "note": string,
            },
        },
        "NewToken": {
            "allOf": [
                _ref("Token"),
                {"type": "object", "required": ["token"], "properties": {"token": string}},
            ]
        },
        "TokenList": {
            "type": "object",
            "required": ["tokens"],
            "properties": {"tokens": {"type": "array", "items": _ref("Token")}},
        },
        "User": {
            "type": "object",
            "required": ["name", "admin", "groups"],
            "properties": {
                "name": string,
                "admin": {"type": "boolean"},
                "groups": {"type": "array", "items": string},
                "has_password": {"type": "boolean"},
            },
        },
        "UserList": {
            "type": "object",
            "required": ["users"],
            "properties": {"users": {"type": "array", "items": _ref("User")}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "blockc front door",
            "version": __version__,
            "description": "Studios, their operations, templates and tokens (SPEC §9). "
            "Authenticate with `Authorization: Bearer <token>` or the session cookie from "
            "/login; a change made with the cookie needs the header X-CSRF-Token "
            "(GET /api/v1/me gives it).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "blockc_session"},
            },
        },
        "security": [{"token": []}, {"session": []}],
    }
