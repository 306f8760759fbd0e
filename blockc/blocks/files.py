"""files: template files (relative to the template) copied into the image."""

from __future__ import annotations

from ..kit import ABS_PATH, MODE, REL_PATH, options, template_file
from ..types import BlockContext, BlockType, Contributions, Copy, Phase, Step

MAX_FILE = 50 * 1024 * 1024
FILE_ITEM = options({"src": REL_PATH, "dest": ABS_PATH, "mode": MODE}, required=("src", "dest"))


def file_contributions(ctx: BlockContext, items, *path):
    """Read each ``{src, dest, mode}`` from the template's directory (confined to it) into the
    block's context directory; return (context files, COPY instructions)."""
    files, copies = [], []
    for i, item in enumerate(items):
        src = item["src"]
        name = f"{i}-{src.rsplit('/', 1)[-1]}"
        found = template_file(ctx, src, *path, i, "src", max_bytes=MAX_FILE, name=name)
        if found is None:
            continue
        mode = int(item["mode"], 8) if "mode" in item else found.mode
        found = found.replace(mode=mode)
        files.append(found)
        copies.append(Copy(found.path, item["dest"], mode, user="studio"))
    return files, copies


def _contribute(ctx: BlockContext) -> Contributions:
    files, copies = file_contributions(ctx, ctx.options["files"], "files")
    steps = [Step(Phase.FILES, copies)] if copies else []
    return Contributions(steps=steps, files=files)


FILES = BlockType(
    name="files",
    description="Files next to the template copied into the image, owned by the studio user.",
    schema=options(
        {"files": {"type": "array", "minItems": 1, "maxItems": 256, "items": FILE_ITEM}},
        required=("files",),
    ),
    contribute=_contribute,
)
