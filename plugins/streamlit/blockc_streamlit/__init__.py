"""blockc block type ``streamlit``: one Streamlit app, served under the app's URL prefix.

Streamlit is pip-installed into the studio's Python environment, so the app imports whatever
the studio has (``python-packages`` blocks, ``pip install`` in a terminal). The app file comes
from the image (``src``: a file next to the template, copied to ``app``) or from a sync zone
(``app`` only). When it is missing at start, the launcher says so in the app's log and does
not start Streamlit.
"""

from __future__ import annotations

import posixpath

from blockc import hookimpl
from blockc.kit import (
    LABEL,
    PIP_VERSION,
    PORT,
    REL_PATH,
    URL,
    options,
    pinned,
    pip_install,
    python_bin,
    template_file,
)
from blockc.types import App, BlockContext, BlockType, Contributions, Copy, Phase, Step

__version__ = "0.1.0"

APP_PATH = {
    "type": "string",
    "maxLength": 4096,
    "pattern": r"^[^\x00-\x1f\x7f\$\\]+\.py$",
    "not": {"pattern": r"(^|/)\.\.(/|$)"},
    "x-kind": "path of a .py file (absolute, or relative to the workdir; no '..', '$')",
}

SCHEMA = options(
    {
        "version": PIP_VERSION | {"default": "1.*", "description": "Streamlit version (PEP 440)."},
        "app": APP_PATH
        | {
            "description": "The app script in the studio: absolute, or relative to "
            "the image's workdir (e.g. a file in a sync zone)."
        },
        "src": REL_PATH
        | {
            "description": "A file next to the template, copied to `app` in the "
            "image (optional: without it the file comes from a "
            "sync zone or another block)."
        },
        "index_url": URL
        | {
            "description": "pip index for Streamlit (default: the site's pip_index_url, else PyPI)."
        },
        "port": PORT | {"default": 8501},
        "label": LABEL,
    },
    required=("app",),
)

MAX_SRC = 10 * 1024 * 1024


def contribute(ctx: BlockContext) -> Contributions:
    o = ctx.options
    requirement = pinned(ctx, "streamlit", o.get("version", "1.*"), "version")
    app_path = posixpath.normpath(posixpath.join(ctx.image.workdir, o["app"]))
    steps, files = [], []
    if "src" in o:
        name = posixpath.basename(app_path)
        copied = template_file(ctx, o["src"], "src", max_bytes=MAX_SRC, name=name, what="app file")
        if copied:
            files.append(copied)
            steps.append(Step(Phase.FILES, [Copy(copied.path, app_path, 0o644, user="studio")]))
    if requirement is None:
        return Contributions()
    steps.insert(
        0, Step(Phase.APP, [pip_install(ctx, [requirement], index_url=o.get("index_url"))])
    )
    port = o.get("port", 8501)
    command = (
        python_bin(ctx, "streamlit"),
        "run",
        app_path,
        f"--server.port={port}",
        "--server.address=0.0.0.0",
        f"--server.baseUrlPath=${{BLOCKC_BASE_PATH_{ctx.env_id}}}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        # a browser address of its own: else, headless, it asks checkip.amazonaws.com for its
        # external address before it answers its health check; where a studio has no route
        # out (a pod on an air-gapped cluster) its name lookup alone held the start 20 s
        "--browser.serverAddress=localhost",
    )
    app = App(
        id=ctx.id,
        port=port,
        command=command,
        path="preserve",
        health="{base}_stcore/health",
        websocket=True,
        label=o.get("label", "Streamlit"),
        workdir=posixpath.dirname(app_path),
        requires=(app_path,),
    )
    return Contributions(steps=steps, files=files, apps=[app])


STREAMLIT = BlockType(
    name="streamlit",
    description="A Streamlit app (its script from the image or a sync zone).",
    schema=SCHEMA,
    contribute=contribute,
    requires=("python",),
)


@hookimpl
def blockc_block_types():
    return [STREAMLIT]
