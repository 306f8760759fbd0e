"""app (a custom HTTP app launched under the supervisor) and port (a port with no launcher)."""

from __future__ import annotations

from ..kit import ENV_MAP, HTTP_PATH, LABEL, PATH_MODE, options
from ..kit import PORT as PORT_NUMBER
from ..types import App, BlockContext, BlockType, Contributions

ARG = {"type": "string", "maxLength": 32768}


def _app(ctx: BlockContext) -> Contributions:
    o = ctx.options
    return Contributions(
        apps=[
            App(
                id=ctx.id,
                port=o["port"],
                command=tuple(o["command"]),
                path=o.get("path", "strip"),
                health=o.get("health", "/"),
                websocket=o.get("websocket", False),
                label=o.get("label", ""),
                env=o.get("env", {}),
                workdir=ctx.image.workdir,
            )
        ]
    )


APP = BlockType(
    name="app",
    description="A custom HTTP app launched in the studio (argv, never a shell line).",
    schema=options(
        {
            "command": {
                "type": "array",
                "minItems": 1,
                "maxItems": 256,
                "items": ARG,
                "description": "argv; ${VAR} is replaced by the env var VAR at launch.",
            },
            "port": PORT_NUMBER,
            "path": PATH_MODE,
            "health": HTTP_PATH,
            "websocket": {"type": "boolean"},
            "env": ENV_MAP,
            "label": LABEL,
        },
        required=("command", "port"),
    ),
    contribute=_app,
)


def _port(ctx: BlockContext) -> Contributions:
    o = ctx.options
    return Contributions(
        apps=[
            App(
                id=ctx.id,
                port=o["port"],
                command=None,
                path=o.get("path", "strip"),
                health=o.get("health"),
                websocket=o.get("websocket", False),
                label=o.get("label", ""),
            )
        ]
    )


PORT = BlockType(
    name="port",
    description="An exposed port with no launcher (e.g. a dev server the user starts).",
    schema=options(
        {
            "port": PORT_NUMBER,
            "path": PATH_MODE,
            "health": HTTP_PATH,
            "websocket": {"type": "boolean"},
            "label": LABEL,
        },
        required=("port",),
    ),
    contribute=_port,
)
