"""dockerfile: admin-authored Containerfile text, parsed and checked.

The text is the admin's by design; blockc checks its instructions (known ones only, no FROM,
no USER/CMD/ENTRYPOINT, which blockc owns) and copies ``files`` into the context itself.
"""

from __future__ import annotations

from ..kit import options
from ..types import BlockContext, BlockType, Contributions, Instruction, Phase, Raw, Step, User
from .files import FILE_ITEM, file_contributions

ALLOWED = {"RUN", "ENV", "ARG", "LABEL", "WORKDIR", "EXPOSE", "VOLUME", "STOPSIGNAL"}
OWNED = {
    "FROM": "a template has one base image (spec.image.base)",
    "USER": "use as_root: true/false; studios always end as the studio user",
    "CMD": "apps are launched by blockc's supervisor; use an app block",
    "ENTRYPOINT": "apps are launched by blockc's supervisor; use an app block",
    "HEALTHCHECK": "health is declared per app",
    "COPY": "list the file under `files:` (src, dest) and blockc copies it",
    "ADD": "list the file under `files:` (src, dest) and blockc copies it",
    "SHELL": "it would change the shell of every later step",
    "ONBUILD": "not supported",
    "MAINTAINER": "deprecated; use LABEL",
}
PHASES = {
    "system": Phase.SYSTEM,
    "runtime": Phase.RUNTIME,
    "app": Phase.APP,
    "config": Phase.CONFIG,
    "files": Phase.FILES,
}


def parse(text: str) -> list[tuple[int, str | None, str]]:
    """Logical instructions: (first physical line number, keyword, full text); keyword None:
    the text ends inside a continued line. Comment lines and blank lines are kept out; ``\\``
    continues a line."""
    out: list[tuple[int, str | None, str]] = []
    buf: list[str] = []
    start = 0
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#") or (not buf and not stripped):
            continue  # a comment (within a continued instruction too) or a blank line
        if not buf:
            start = n
        buf.append(line)
        if not stripped.endswith("\\"):
            full = "\n".join(buf)
            out.append((start, full.split(None, 1)[0].upper(), full))
            buf = []
    if buf:
        out.append((start, None, "\n".join(buf)))
    return out


def _contribute(ctx: BlockContext) -> Contributions:
    text = ctx.options["instructions"]
    kept = []
    for line, keyword, full in parse(text):
        if keyword is None:
            ctx.error(
                f"instructions line {line}: ends with a line continuation '\\'", "instructions"
            )
        elif keyword in OWNED:
            ctx.error(
                f"instructions line {line}: {keyword} is not allowed here ({OWNED[keyword]})",
                "instructions",
            )
        elif keyword not in ALLOWED:
            ctx.error(
                f"instructions line {line}: unknown instruction {keyword!r} "
                f"(allowed: {', '.join(sorted(ALLOWED))})",
                "instructions",
            )
        else:
            kept.append(full)
    phase = PHASES[ctx.options.get("phase", "config")]
    user: User = "root" if ctx.options.get("as_root", False) else "studio"
    files, copies = file_contributions(ctx, ctx.options.get("files", []), "files")
    instructions: list[Instruction] = list(copies)
    instructions += [Raw(instruction, user=user) for instruction in kept]
    if not instructions:
        return Contributions(files=files)
    return Contributions(steps=[Step(phase, instructions)], files=files)


DOCKERFILE = BlockType(
    name="dockerfile",
    description="Raw Containerfile instructions written by the admin (no FROM, USER, CMD, COPY).",
    schema=options(
        {
            "instructions": {
                "type": "string",
                "maxLength": 65536,
                "description": "Containerfile instructions (RUN, ENV, ARG, LABEL, WORKDIR...).",
            },
            "as_root": {"type": "boolean", "default": False},
            "files": {
                "type": "array",
                "maxItems": 256,
                "items": FILE_ITEM,
                "description": "Template files copied into the build context (and image).",
            },
            "phase": {
                "enum": sorted(PHASES),
                "default": "config",
                "description": "Where the instructions land in the Containerfile.",
            },
        },
        required=("instructions",),
    ),
    contribute=_contribute,
)
