"""system-packages (apt) and python-packages (pip into the studio's Python environment)."""

from __future__ import annotations

from ..kit import APT_PACKAGE, REQUIREMENT, URL, apt_install, options, pip_install, requirements
from ..types import BlockContext, BlockType, Contributions, Phase, Step

# Debian packages that bring a language runtime the studio's other blocks may need
RUNTIMES = {
    "r-base": "r",
    "r-base-core": "r",
    "r-base-dev": "r",
    "nodejs": "node",
    "default-jdk": "java",
    "default-jdk-headless": "java",
    "default-jre": "java",
    "default-jre-headless": "java",
}


def _system(ctx: BlockContext) -> Contributions:
    apt = ctx.options.get("apt", [])
    names = {p.partition("=")[0].partition(":")[0] for p in apt}
    provides = sorted({cap for pkg, cap in RUNTIMES.items() if pkg in names})
    return Contributions(steps=[Step(Phase.SYSTEM, [apt_install(*apt)])], provides=provides)


SYSTEM_PACKAGES = BlockType(
    name="system-packages",
    description="Debian packages, installed in one cached apt layer.",
    schema=options(
        {
            "apt": {
                "type": "array",
                "minItems": 1,
                "maxItems": 512,
                "items": APT_PACKAGE,
                "uniqueItems": True,
            }
        },
        required=("apt",),
    ),
    contribute=_system,
    provides=tuple(sorted(set(RUNTIMES.values()))),
)


def _python(ctx: BlockContext) -> Contributions:
    reqs = requirements(ctx, ctx.options.get("packages", []), "packages")
    run = pip_install(
        ctx,
        reqs,
        index_url=ctx.options.get("index_url"),
        extra_index_urls=ctx.options.get("extra_index_urls", ()),
    )
    return Contributions(steps=[Step(Phase.RUNTIME, [run])])


PYTHON_PACKAGES = BlockType(
    name="python-packages",
    description="pip packages in the studio's Python environment (/opt/studio/venv).",
    schema=options(
        {
            "packages": {"type": "array", "minItems": 1, "maxItems": 512, "items": REQUIREMENT},
            "index_url": URL,
            "extra_index_urls": {"type": "array", "maxItems": 16, "items": URL},
        },
        required=("packages",),
    ),
    contribute=_python,
    after=("system-packages",),
    requires=("python",),
)
