"""blockc-static-site: serve a folder of static files from the studio.

- type: static-site
  id: site
  with: {root: /home/studio/site, port: 8300, title: "Team notes"}
"""

from __future__ import annotations

import html

from blockc import hookimpl
from blockc.types import (
    App,
    BlockContext,
    BlockType,
    ContextFile,
    Contributions,
    Copy,
    ManifestPatch,
    Phase,
    Run,
    Step,
    Zone,
)

SCHEMA = {
    "type": "object",
    "additionalProperties": False,  # unknown options are errors, with a "did you mean"
    "properties": {
        "root": {
            "type": "string",
            "pattern": r"^(/[A-Za-z0-9._-]+)+$",
            "not": {"pattern": r"(^|/)\.\.?(/|$)"},
            "x-kind": "absolute path",
            "description": "Folder served (and synced).",
        },
        "port": {"type": "integer", "minimum": 1024, "maximum": 65535, "default": 8300},
        "title": {
            "type": "string",
            "maxLength": 80,
            "pattern": r"^[^\x00-\x1f\x7f]*$",
            "x-kind": "single-line title",
        },
        "sync": {
            "type": "boolean",
            "default": True,
            "description": "Sync the folder with <workspace>/site on the host.",
        },
    },
}


def contribute(ctx: BlockContext) -> Contributions:
    o = ctx.options
    root = o.get("root", f"{ctx.image.home}/site")
    port = o.get("port", 8300)
    title = o.get("title", "Studio site")
    if root.startswith("/opt/blockc"):
        ctx.error("root may not be inside /opt/blockc", "root")  # located at with.root
    page = ctx.context_path("index.html")  # blocks/<id>/index.html in the build context
    index = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>\n"
    return Contributions(
        steps=[
            Step(
                Phase.CONFIG,
                [
                    # argv tuples: blockc quotes every word, so root is one inert argument
                    Run([("mkdir", "-p", "--", root)], user="studio"),
                    Copy(page, f"{root}/index.html", mode=0o644, user="studio"),
                ],
            )
        ],
        files=[ContextFile(page, index.encode())],
        apps=[
            App(
                id=ctx.id,
                port=port,
                label=title,
                path="strip",
                health="/",
                command=(
                    "/opt/studio/venv/bin/python",
                    "-m",
                    "http.server",
                    str(port),
                    "--bind",
                    "0.0.0.0",
                    "--directory",
                    root,
                ),
            )
        ],
        zones=[Zone(name=ctx.id, host="site", container=root)] if o.get("sync", True) else [],
        patches=[
            ManifestPatch(
                "deployment",
                {
                    "spec": {
                        "template": {
                            "metadata": {"annotations": {"static-site.example.com/root": root}}
                        }
                    }
                },
            )
        ],
    )


STATIC_SITE = BlockType(
    "static-site",
    SCHEMA,
    contribute,
    description="Serve a folder of static files on a port.",
    after=("files",),
)


@hookimpl
def blockc_block_types():
    return [STATIC_SITE]
