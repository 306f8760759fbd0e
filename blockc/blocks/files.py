"""files: template files (relative to the template) copied into the image."""

from __future__ import annotations

import os
from pathlib import Path

from ..types import BlockContext, BlockType, ContextFile, Contributions, Copy, Phase, Step
from .options import ABS_PATH, MODE, REL_PATH, options

MAX_FILE = 50 * 1024 * 1024
FILE_ITEM = options({"src": REL_PATH, "dest": ABS_PATH, "mode": MODE}, required=("src", "dest"))


def file_contributions(ctx: BlockContext, items, *path):
    """Read each ``{src, dest, mode}`` from the template's directory (confined to it) into the
    block's context directory; return (context files, COPY instructions)."""
    root = Path(ctx.template_dir or ".").resolve()
    files, copies = [], []
    for i, item in enumerate(items):
        src = item["src"]
        where = (*path, i, "src")
        full = (root / src).resolve()
        if not full.is_relative_to(root):
            ctx.error(f"{src!r} resolves outside the template's directory", *where)
            continue
        if not full.is_file():
            ctx.error(
                f"{src!r}: no such file next to the template "
                f"({'a directory' if full.is_dir() else 'missing'})",
                *where,
            )
            continue
        if full.stat().st_size > MAX_FILE:
            ctx.error(f"{src!r} is larger than 50 MiB; put it in the image another way", *where)
            continue
        mode = int(item["mode"], 8) if "mode" in item else (full.stat().st_mode & 0o755) | 0o644
        name = f"{i}-{os.path.basename(src)}"
        ctx_path = ctx.context_path(name)
        files.append(ContextFile(ctx_path, full.read_bytes(), mode))
        copies.append(Copy(ctx_path, item["dest"], mode, user="studio"))
    return files, copies


def _contribute(ctx: BlockContext) -> Contributions:
    files, copies = file_contributions(ctx, ctx.options["files"], "files")
    steps = [Step(Phase.FILES, copies)] if copies else []
    return Contributions(steps=steps, files=files)


FILES = BlockType(
    name="files",
    description="Files next to the template copied into the image, owned by the studio user.",
    schema=options(
        {"files": {"type": "array", "minItems": 1, "items": FILE_ITEM}}, required=("files",)
    ),
    contribute=_contribute,
)
