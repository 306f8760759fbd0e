"""blockc block type ``rstudio``: RStudio Server (open source) as the studio user.

RStudio Server is in no package index, so the block installs a ``.deb`` from ``deb_url``
(by default Posit's download for ``version``) after checking its ``sha256`` and its version.
R itself comes from the base image or a ``system-packages`` block (``r-base``); the build stops
with a clear message when R is missing.

Run: ``rserver`` without daemonizing or a login, as the studio user, with its state in
``/opt/blockc/apps/<id>/``. It serves at ``/`` behind a prefix-stripping proxy and is told the
public prefix with ``--www-root-path`` (for its cookies and redirects). It has no health
endpoint: ``GET /`` answering 2xx or a 3xx redirect to its sign-in hop counts as healthy.
"""

from __future__ import annotations

from pathlib import Path

from blockc import hookimpl
from blockc.kit import APT_INSTALL, BLOCKC_PYTHON, LABEL, PORT, URL, app_dir, options
from blockc.types import (
    App,
    BlockContext,
    BlockType,
    ContextFile,
    Contributions,
    Copy,
    Phase,
    Run,
    Step,
)

__version__ = "0.1.0"

DEB_URL = "https://download2.rstudio.org/server/jammy/amd64/rstudio-server-{version}-amd64.deb"
RSERVER = "/usr/lib/rstudio-server/bin/rserver"
LOGGING = b"[*]\nlog-level=warn\nlogger-type=stderr\n"

SCHEMA = options(
    {
        "version": {
            "type": "string",
            "maxLength": 40,
            "pattern": r"^[0-9]{1,4}\.[0-9]{1,2}\.[0-9]{1,5}([+-][0-9]{1,6})?$",
            "x-kind": "RStudio Server version (like 2024.12.0+467)",
            "description": "The version the .deb must contain.",
        },
        "deb_url": URL
        | {
            "description": "Where to download the rstudio-server .deb (default: "
            "Posit's Ubuntu jammy amd64 build of `version`)."
        },
        "sha256": {
            "type": "string",
            "pattern": r"^[0-9a-fA-F]{64}$",
            "x-kind": "sha256 (64 hex digits)",
            "description": "sha256 of the .deb, checked before it is installed.",
        },
        "port": PORT | {"default": 8787},
        "label": LABEL,
    },
    required=("version", "sha256"),
)


def contribute(ctx: BlockContext) -> Contributions:
    o = ctx.options
    img = ctx.image
    version = o["version"]
    url = o.get("deb_url") or DEB_URL.format(version=version.replace("+", "-"))
    home = app_dir(ctx)
    deb = f"/tmp/blockc-{ctx.id}-rstudio-server.deb"

    fetch = ContextFile(
        ctx.context_path("fetch_deb.py"), (Path(__file__).parent / "fetch_deb.py").read_bytes()
    )
    install = Step(
        Phase.APP,
        [
            Copy(fetch.path, f"{home}/fetch_deb.py", 0o644),
            Run(  # one layer: the .deb is gone before it ends
                [
                    (BLOCKC_PYTHON, f"{home}/fetch_deb.py", url, o["sha256"].lower(), version, deb),
                    (APT_INSTALL, deb),
                    ("rm", "-f", deb),
                ],
                user="root",
            ),
        ],
    )
    database = ContextFile(
        ctx.context_path("database.conf"), f"provider=sqlite\ndirectory={home}/db\n"
    )
    logging = ContextFile(ctx.context_path("logging.conf"), LOGGING)
    configure = Step(
        Phase.CONFIG,
        [
            Copy(database.path, f"{home}/database.conf", 0o644),
            Copy(logging.path, "/etc/rstudio/logging.conf", 0o644),
            Run(
                [
                    ("mkdir", "-p", f"{home}/db", f"{home}/run"),
                    ("chown", f"{img.uid}:{img.gid}", f"{home}/db", f"{home}/run"),
                    ("chmod", "0700", f"{home}/db", f"{home}/run"),
                ],
                user="root",
            ),
        ],
    )

    port = o.get("port", 8787)
    command = [
        RSERVER,
        "--server-daemonize=0",
        "--www-address=0.0.0.0",
        f"--www-port={port}",
        "--auth-none=1",
        f"--server-user={img.user}",
        f"--www-root-path=${{BLOCKC_BASE_PATH_{ctx.env_id}}}",
        f"--server-data-dir={home}/run",
        f"--server-pid-file={home}/run/rserver.pid",
        f"--database-config-file={home}/database.conf",
        f"--secure-cookie-key-file={home}/run/secure-cookie-key",
        "--www-verify-user-agent=0",
        "--www-frame-origin=same",
    ]
    if img.uid < 1000:
        command.append(f"--auth-minimum-user-id={img.uid}")
    app = App(
        id=ctx.id,
        port=port,
        command=tuple(command),
        path="strip",
        health="/",
        health_redirect_ok=True,
        websocket=True,
        label=o.get("label", "RStudio"),
        workdir=img.workdir,
        env={"USER": img.user, "HOME": img.home},
    )
    return Contributions(steps=[install, configure], files=[fetch, database, logging], apps=[app])


RSTUDIO = BlockType(
    name="rstudio",
    description="RStudio Server (open source) from a .deb checked by sha256; R from the "
    "base image or system-packages.",
    schema=SCHEMA,
    contribute=contribute,
    requires=("r",),
)


@hookimpl
def blockc_block_types():
    return [RSTUDIO]
