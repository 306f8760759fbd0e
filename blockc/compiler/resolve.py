"""Resolve: each block's type turns the block's options into contributions (plugin code runs
here, and only here). A plugin that raises, returns something else than ``Contributions`` or
reports bad options with ``ctx.error`` is named and located; the other blocks go on.

Ports first: a block whose options schema has a ``port`` with a default, and no ``port``
written, gets the next free port when another block has its default (an admin's written port
wins over a plugin's default; two blocks of one type get two ports).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Diagnostic
from ..types import BlockContext, Contributions
from .load import Document
from .model import BlockSpec, Override, Resolved, Template


def resolve(template: Template) -> tuple[Resolved, list[Diagnostic]]:
    doc = template.doc
    diags: list[Diagnostic] = []
    resolved = []
    options, overrides = _ports(template.blocks, doc)
    for block in template.blocks:
        ctx = BlockContext(
            id=block.id,
            type=block.type,
            options=options[block.id],
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
        except (Exception, SystemExit) as exc:  # named, never the end of blockc (traceback: debug)
            import traceback

            line, col = doc.where(block.path)
            diags.append(
                Diagnostic(
                    f"the block type's plugin failed: {type(exc).__name__}: {exc}",
                    file=doc.file,
                    line=line,
                    col=col,
                    path=block.path,
                    detail="".join(traceback.format_exception(exc)),
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
    return Resolved(template, tuple(resolved), tuple(overrides)), diags


def _ports(
    blocks: tuple[BlockSpec, ...], doc: Document
) -> tuple[dict[str, Mapping[str, Any]], list[Override]]:
    """Each block's options, with a free ``port`` where its default is taken (a port the
    admin wrote is one that has a place in the file)."""

    def written(b: BlockSpec) -> bool:
        return (*b.path, "with", "port") in doc.key_positions

    holder: dict[int, str] = {}
    for b in blocks:
        port = b.options.get("port")
        if written(b) and isinstance(port, int) and not isinstance(port, bool):
            holder.setdefault(port, b.id)
    options: dict[str, Mapping[str, Any]] = {}
    overrides = []
    for b in blocks:
        options[b.id] = b.options
        default = _port_default(b.entry.type.schema)
        if default is None or written(b):
            continue
        port = default
        while port in holder and port < 65535:
            port += 1
        holder[port] = b.id
        if port != default:
            options[b.id] = {**b.options, "port": port}
            overrides.append(Override("port", port, default, b.id, holder[default]))
    return options, overrides


def _port_default(schema: Mapping[str, Any]) -> int | None:
    props = schema.get("properties")
    port = props.get("port") if isinstance(props, Mapping) else None
    default = port.get("default") if isinstance(port, Mapping) else None
    return default if isinstance(default, int) and not isinstance(default, bool) else None
