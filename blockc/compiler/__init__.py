"""The compiler: a template file into an artifact, in stages. Each stage is a function of the
value before it and returns its value and its diagnostics:

    load.load_file       the YAML, with the position of every node
    validate.validate    the envelope and every block's options (JSON Schema)
    resolve.resolve      each block's plugin turns its options into contributions
    plan.plan            order, conflicts, merged Kubernetes manifests
    render.render        the artifact's files (containerfile.py), hash and provenance
    emit.emit            the artifact written to a directory (or compared with one)

A block that fails one stage is left out of the next, so one run reports every problem.
``explain.py`` and ``schema.py`` serve ``blockc explain`` and ``blockc schema``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import BlockcError, Diagnostic
from ..plugins import Registry, broken_diagnostics
from ..plugins import load as load_plugins
from ..readfile import read_regular
from . import load, plan, render, resolve, validate
from .model import Artifact


def try_compile(
    path: str | Path, *, registry: Registry | None = None, base_image: str | None = None
) -> tuple[Artifact | None, list[Diagnostic]]:
    """The artifact of the template at ``path``, or None and every problem found (sorted by
    their place in the template)."""
    artifact, diags = _compile(path, registry or load_plugins(), base_image)
    return artifact, sorted(diags, key=_position)


def _position(d: Diagnostic) -> tuple[int, int]:
    return (d.line if d.line is not None else 1 << 30, d.col or 0)


def _compile(
    path: str | Path, registry: Registry, base_image: str | None
) -> tuple[Artifact | None, list[Diagnostic]]:
    doc, diags = load.load_file(path)
    if doc is None:
        return None, diags
    template, found = validate.validate(doc, registry, base_image=base_image)
    diags += found
    if registry.broken and any(d.message.startswith("unknown block type") for d in diags):
        diags += broken_diagnostics(registry)  # perhaps the plugin that provides it
    if template is None:
        return None, diags
    resolved, found = resolve.resolve(template)
    diags += found
    planned, found = plan.plan(resolved)
    diags += found
    if diags:
        return None, diags
    return render.render(planned)


def compile(
    path: str | Path, *, registry: Registry | None = None, base_image: str | None = None
) -> Artifact:
    """The artifact of the template at ``path`` (in memory); raises :class:`BlockcError` with
    every problem found."""
    artifact, diags = try_compile(path, registry=registry, base_image=base_image)
    if artifact is None:
        raise BlockcError(diags)
    return artifact


def find_templates(paths: list[str]) -> tuple[list[str], list[str], list[Diagnostic]]:
    """The templates to check for ``blockc validate PATH...``: each file given, and under each
    directory given every ``*.yaml``/``*.yml`` file (hidden directories left out) that says it is
    a template (``apiVersion: blockc/...`` or ``kind: StudioTemplate`` in its text). Returns
    (templates, the other YAML files found under the directories, the directories that could
    not be read)."""
    templates: list[str] = []
    others: list[str] = []
    unreadable: list[Diagnostic] = []

    def cannot_read(exc: OSError) -> None:
        unreadable.append(
            Diagnostic(f"cannot read this directory: {exc.strerror}", file=str(exc.filename))
        )

    for given in paths:
        if not os.path.isdir(given):
            templates.append(given)
            continue
        for root, dirs, names in os.walk(given, onerror=cannot_read):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.endswith((".yaml", ".yml")):
                    path = os.path.join(root, name)
                    (templates if _says_template(path) else others).append(path)
    return templates, others, unreadable


# (a flow mapping's keys may be quoted: {"apiVersion": "blockc/v1", ...})
_SAYS_TEMPLATE = re.compile(
    rb"""apiVersion['"]?\s*:\s*['"]?blockc/|kind['"]?\s*:\s*['"]?StudioTemplate\b"""
)


def _says_template(path: str) -> bool:
    """Whether a YAML file's text says it is a template (a cheap look, not a parse: a compiled
    manifests.yaml names blockc too, but in no apiVersion)."""
    try:
        text = read_regular(path, load.MAX_BYTES)
    except OSError:
        return True  # unreadable, or no regular file: reported as a problem of its own
    return _SAYS_TEMPLATE.search(text) is not None


def check(path: str | Path, *, registry: Registry | None = None, strict: bool = False) -> Artifact:
    """Everything short of writing files; ``strict`` also checks the manifests against the
    Kubernetes OpenAPI schemas. Raises :class:`BlockcError` with every problem found."""
    artifact = compile(path, registry=registry)
    if strict:
        diags = validate.check_manifests(list(artifact.manifests))
        if diags:
            raise BlockcError(diags)
    return artifact
