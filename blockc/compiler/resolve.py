"""Resolve: each block's type turns the block's options into contributions (plugin code runs
here, and only here). A plugin that raises, returns something else than ``Contributions`` or
reports bad options with ``ctx.error`` is named and located; the other blocks go on."""

from __future__ import annotations

from ..errors import Diagnostic
from ..types import BlockContext, Contributions
from .model import Resolved, Template


def resolve(template: Template) -> tuple[Resolved, list[Diagnostic]]:
    doc = template.doc
    diags: list[Diagnostic] = []
    resolved = []
    for block in template.blocks:
        ctx = BlockContext(
            id=block.id,
            type=block.type,
            options=block.options,
            image=template.image,
            template_name=template.name,
            template_dir=doc.dir,
            template_env=template.env,
        )
        try:
            contributions = block.entry.type.contribute(ctx)
            if not isinstance(contributions, Contributions):
                raise TypeError(
                    f"contribute() returned {type(contributions).__name__}, not Contributions"
                )
        except Exception as exc:  # a plugin that raises is named, never a traceback
            line, col = doc.where(block.path)
            diags.append(
                Diagnostic(
                    f"the block type's plugin failed: {type(exc).__name__}: {exc}",
                    file=doc.file,
                    line=line,
                    col=col,
                    path=block.path,
                    **block.who(),
                )
            )
            continue
        for message, option_path in ctx.errors:
            path = block.path + ("with",) + option_path
            line, col = doc.where(path)
            diags.append(
                Diagnostic(message, file=doc.file, line=line, col=col, path=path, **block.who())
            )
        if not ctx.errors:
            resolved.append((block, contributions))
    return Resolved(template, tuple(resolved)), diags
