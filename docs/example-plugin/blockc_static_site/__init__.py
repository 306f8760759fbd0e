"""The blockc block type `static-site`: a folder of files served over HTTP from the studio.

    - type: static-site
      with: {root: /home/studio/site, port: 8300, label: "Team notes"}

A starting point made by `blockc new-plugin`: replace what `contribute` returns with your own
app. Everything here comes from `blockc.kit` (option fragments, installs, paths) and
`blockc.types` (the values blockc turns into the image, the launcher and the manifests).
"""

from __future__ import annotations

from blockc import hookimpl
from blockc.kit import ABS_PATH, LABEL, PORT, REQUIREMENT, options, pip_install, python_bin
from blockc.kit import requirements as valid_requirements
from blockc.types import App, BlockContext, BlockType, Contributions, Phase, Run, Step, Zone

__version__ = "0.1.0"

SCHEMA = options(  # "additionalProperties": false: a typo is an error with a "did you mean"
    {
        "root": ABS_PATH | {"description": "The folder served, in the studio user's home."},
        "port": PORT | {"default": 8300},
        "label": LABEL,
        "packages": {
            "type": "array",
            "items": REQUIREMENT,
            "description": "pip packages for the studio's Python (PEP 508).",
        },
    }
)


def contribute(ctx: BlockContext) -> Contributions:
    o = ctx.options
    root = o.get("root", f"{ctx.image.home}/site")
    port = o.get("port", 8300)
    if not root.startswith(ctx.image.home + "/"):
        # a located error (at with.root), reported with every other problem of the template
        ctx.error(f"root must be in the studio user's home ({ctx.image.home}/...)", "root")
    steps = [Step(Phase.CONFIG, [Run([("mkdir", "-p", "--", root)])])]  # as the studio user
    packages = valid_requirements(ctx, o.get("packages", []), "packages")
    if packages:
        steps.append(Step(Phase.RUNTIME, [pip_install(ctx, packages)]))
    app = App(
        id=ctx.id,
        port=port,
        # argv words, never a shell line: blockc quotes each one (root is one inert word)
        command=(python_bin(ctx), "-m", "http.server", str(port), "-b", "0.0.0.0", "-d", root),
        path="strip",
        health="/",
        label=o.get("label", "static-site"),
    )
    zone = Zone(name=ctx.id, host=ctx.id, container=root)  # <workspace>/<id> <-> root
    return Contributions(steps=steps, apps=[app], zones=[zone])


BLOCK = BlockType(
    name="static-site",
    schema=SCHEMA,
    contribute=contribute,
    description="A folder of files served over HTTP from the studio (made by blockc new-plugin).",
    requires=("python",),  # the studio's Python (blockc's own): it runs http.server
)


@hookimpl
def blockc_block_types() -> list[BlockType]:
    return [BLOCK]
