"""The pipeline: load -> validate -> resolve -> plan -> render -> emit.

Each stage is a function of the value before it. All errors of a stage are collected and
raised together as one :class:`BlockcError`.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BlockcError, Diagnostic, did_you_mean
from ..plugins import Registry, broken_diagnostics
from ..types import BlockContext, Contributions, StudioImage
from . import load as loader
from .model import Artifact, BlockSpec, Plan, Resolved, Template
from .validate import locate, schema_errors, template_schema

DEFAULT_USER = {"name": "studio", "uid": 1000, "gid": 1000}


def validate_template(
    doc: loader.Document, registry: Registry, *, base_image: str | None = None
) -> Template:
    """Stage 2: the template envelope and every block's options, all errors at once."""
    template, diags = _validate(doc, registry, base_image)
    if diags:
        raise BlockcError(diags)
    return template


def _in_block(path: tuple) -> int | None:
    """The index of the block a document path lies in, if any."""
    if len(path) >= 3 and path[:2] == ("spec", "blocks") and isinstance(path[2], int):
        return path[2]
    return None


def _validate(
    doc: loader.Document, registry: Registry, base_image: str | None
) -> tuple[Template | None, list[Diagnostic]]:
    """The template and its problems. With problems only inside some blocks, the template
    holds the other blocks, so that later stages can still report theirs in the same run."""
    data = doc.data
    if not isinstance(data, dict):
        return None, [
            Diagnostic(
                "a template is a mapping with apiVersion, kind, metadata and spec",
                file=doc.file,
                line=1,
                col=1,
            )
        ]
    diags = locate(doc, (), schema_errors(data, template_schema()))
    if base_image is not None:
        base_schema = template_schema()["properties"]["spec"]["properties"]["image"]["properties"][
            "base"
        ]
        if schema_errors(base_image, base_schema):
            diags.append(
                Diagnostic(
                    f"--base-image: {base_image!r} is not a valid base image reference",
                    file=doc.file,
                )
            )
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    raw_blocks = spec.get("blocks") if isinstance(spec.get("blocks"), list) else []
    blocks: list[BlockSpec] = []
    seen: dict[str, int] = {}
    broken = {info.name for info, _ in registry.broken}
    for i, raw in enumerate(raw_blocks):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            continue  # already reported by the template schema
        btype = raw["type"]
        bid = raw.get("id", btype)
        path = ("spec", "blocks", i)
        entry = registry.get(btype)
        if entry is None:
            line, col = doc.where(path + ("type",))
            hint = did_you_mean(btype, registry.types)
            msg = f"unknown block type '{btype}'"
            if broken:
                msg += f" (plugins that failed to load: {', '.join(sorted(broken))})"
            diags.append(
                Diagnostic(
                    msg,
                    file=doc.file,
                    line=line,
                    col=col,
                    block_id=bid,
                    block_type=btype,
                    hint=hint or "see `blockc plugins`",
                    path=path + ("type",),
                )
            )
            continue
        if not isinstance(bid, str):
            continue
        if bid in seen:
            line, col = doc.where(path + ("id",) if "id" in raw else path)
            first = doc.where(("spec", "blocks", seen[bid]))[0]
            diags.append(
                Diagnostic(
                    f"duplicate block id '{bid}' (first used by the block at "
                    f"line {first}); give one of them another `id:`",
                    file=doc.file,
                    line=line,
                    col=col,
                    block_id=bid,
                    block_type=btype,
                    path=path,
                )
            )
            continue
        seen[bid] = i
        options = raw.get("with", {})
        if not isinstance(options, dict):
            continue
        block = BlockSpec(i, bid, btype, options, entry)
        try:
            problems = schema_errors(options, entry.type.schema)
        except Exception as exc:  # the plugin's own schema is broken: name it, no traceback
            line, col = doc.where(path)
            diags.append(
                Diagnostic(
                    f"the block type's options schema is invalid: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                    file=doc.file,
                    line=line,
                    col=col,
                    path=path,
                    **block.who(),
                )
            )
            continue
        diags += locate(doc, path + ("with",), problems, **block.who())
        blocks.append(block)
    if any(_in_block(d.path) is None for d in diags):
        return None, diags  # the envelope itself is wrong: nothing more to check
    bad = {_in_block(d.path) for d in diags}
    blocks = [b for b in blocks if b.index not in bad]
    meta, image = data["metadata"], spec["image"]
    user = {**DEFAULT_USER, **image.get("user", {})}
    studio_image = StudioImage(
        base=base_image or image["base"],
        user=user["name"],
        uid=user["uid"],
        gid=user["gid"],
        workdir=image.get("workdir", f"/home/{user['name']}/workspace"),
    )
    return Template(
        doc=doc,
        name=meta["name"],
        description=meta.get("description", ""),
        labels=meta.get("labels", {}),
        image=studio_image,
        env=spec.get("env", {}),
        blocks=tuple(blocks),
        registry=registry,
    ), diags


def resolve(template: Template) -> Resolved:
    """Stage 3: each block type turns its block's options into contributions."""
    resolved, diags = _resolve(template)
    if diags:
        raise BlockcError(diags)
    return resolved


def _resolve(template: Template) -> tuple[Resolved, list[Diagnostic]]:
    doc = template.doc
    diags: list[Diagnostic] = []
    out = []
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
            contrib = block.entry.type.contribute(ctx)
            if not isinstance(contrib, Contributions):
                raise TypeError(
                    f"contribute() returned {type(contrib).__name__}, not Contributions"
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
        for message, opt_path in ctx.errors:
            path = block.path + ("with",) + opt_path
            line, col = doc.where(path)
            diags.append(
                Diagnostic(message, file=doc.file, line=line, col=col, path=path, **block.who())
            )
        if not ctx.errors:
            out.append((block, contrib))
    return Resolved(template, tuple(out)), diags


def load_registry(plugins: str | None = None) -> Registry:
    from ..plugins import load

    return load(spec=plugins)


def plan_template(
    path: str | Path, *, registry: Registry | None = None, base_image: str | None = None
) -> Plan:
    from .plan import plan

    registry = registry or load_registry()
    doc = loader.load_file(path)
    template, diags = _validate(doc, registry, base_image)
    if registry.broken and any("unknown block type" in d.message for d in diags):
        diags.extend(broken_diagnostics(registry))
    if template is None:
        raise BlockcError(diags)
    # blocks that passed one stage go on to the next, so one run reports every problem
    resolved, more = _resolve(template)
    diags += more
    try:
        planned = plan(resolved)
    except BlockcError as exc:
        diags += exc.diagnostics
    if diags:
        raise BlockcError(diags)
    return planned


def compile(
    path: str | Path,
    *,
    registry: Registry | None = None,
    base_image: str | None = None,
    save_cache: bool = True,
) -> Artifact:
    """Compile a template file into an in-memory :class:`Artifact` (nothing is written but
    blockc's own render cache)."""
    from .render import render

    return render(
        plan_template(path, registry=registry, base_image=base_image), save_cache=save_cache
    )


def validate(
    path: str | Path, *, registry: Registry | None = None, strict: bool = False
) -> Artifact:
    """Everything short of writing files; ``strict`` also checks the manifests against the
    Kubernetes OpenAPI schemas. Raises :class:`BlockcError` with every problem found."""
    artifact = compile(path, registry=registry, save_cache=False)
    if strict:
        from .kube_validate import check_manifests

        check_manifests(artifact)
    return artifact
