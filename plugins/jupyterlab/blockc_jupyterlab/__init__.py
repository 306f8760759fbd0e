"""blockc block type ``jupyterlab``: JupyterLab, with the studio's Python environment as its
kernel, served under the app's URL prefix.

JupyterLab is pip-installed into the studio's Python environment (``/opt/studio/venv``), so
the kernel, the terminal and ``pip install`` in a notebook all see the same packages as every
other app of the studio.
"""

from __future__ import annotations

from blockc import hookimpl
from blockc.kit import (
    LABEL,
    PIP_VERSION,
    PORT,
    REQUIREMENT,
    URL,
    options,
    pinned,
    pip_install,
    python_bin,
    requirements,
)
from blockc.types import App, BlockContext, BlockType, Contributions, Phase, Run, Step

__version__ = "0.1.0"

SCHEMA = options(
    {
        "version": PIP_VERSION | {"default": "4.*", "description": "JupyterLab version (PEP 440)."},
        "extensions": {
            "type": "array",
            "maxItems": 256,
            "items": REQUIREMENT,
            "uniqueItems": True,
            "description": "Prebuilt JupyterLab extensions, as pip requirements.",
        },
        "index_url": URL
        | {
            "description": "pip index for JupyterLab and its extensions "
            "(default: the site's pip_index_url, else PyPI)."
        },
        "port": PORT | {"default": 8888},
        "label": LABEL,
    }
)


def contribute(ctx: BlockContext) -> Contributions:
    o = ctx.options
    lab = pinned(ctx, "jupyterlab", o.get("version", "4.*"), "version")
    extensions = requirements(ctx, o.get("extensions", []), "extensions")
    if lab is None:
        return Contributions()
    home = ctx.image.home
    install = pip_install(ctx, [lab, "ipykernel", *extensions], index_url=o.get("index_url"))
    # The kernel is the studio's environment, under the name Jupyter opens by default.
    kernel = Run(
        [
            (
                python_bin(ctx),
                "-m",
                "ipykernel",
                "install",
                "--sys-prefix",
                "--name",
                "python3",
                "--display-name",
                "Python 3 (studio)",
            )
        ],
        user="studio",
    )
    port = o.get("port", 8888)
    command = (
        python_bin(ctx, "jupyter-lab"),
        "--no-browser",
        "--ip=0.0.0.0",
        f"--port={port}",
        f"--ServerApp.base_url=${{BLOCKC_BASE_PATH_{ctx.env_id}}}",
        # no login of its own: the studio is reached through the runtime
        "--IdentityProvider.token=",
        "--PasswordIdentityProvider.hashed_password=",
        "--ServerApp.allow_remote_access=True",
        f"--ServerApp.root_dir={ctx.image.workdir}",
    )
    app = App(
        id=ctx.id,
        port=port,
        command=command,
        path="preserve",
        health="{base}api",
        websocket=True,
        label=o.get("label", "JupyterLab"),
        workdir=ctx.image.workdir,
        env={"SHELL": "/bin/bash"},
        # Jupyter's config and data paths: it starts while the workspace syncs in
        # unless a zone covers one of them
        reads_at_start=(
            f"{home}/.jupyter",
            f"{home}/.local/share/jupyter",
            f"{home}/.local/etc/jupyter",
            ctx.image.python,
            "/etc/jupyter",
            "/usr/local/etc/jupyter",
            "/usr/local/share/jupyter",
            "/usr/share/jupyter",
        ),
    )
    return Contributions(steps=[Step(Phase.APP, [install, kernel])], apps=[app])


JUPYTERLAB = BlockType(
    name="jupyterlab",
    description="JupyterLab; the studio's Python environment is its kernel.",
    schema=SCHEMA,
    contribute=contribute,
    requires=("python",),
)


@hookimpl
def blockc_block_types():
    return [JUPYTERLAB]
