"""Helpers for testing block plugins (and blockc itself) without installing anything.

A typical plugin test::

    from blockc import testing
    from my_plugin import MY_BLOCK

    def test_my_block(tmp_path):
        reg = testing.register_block_type(MY_BLOCK)          # core blocks + MY_BLOCK
        result = testing.compile_template(
            testing.template({"type": "my-block", "with": {"greeting": "hi"}}),
            tmp_path, registry=reg)
        assert result.ok, result.messages
        assert "hi" in result.text("Containerfile")

Every registry built here is fresh (a new plugin manager, no entry-point scan), so tests never
see whatever else is installed and never leak into each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from . import __version__, blocks, hookimpl
from .compiler import try_compile
from .compiler.model import Artifact
from .compiler.validate import check_manifests
from .errors import BlockcError, Diagnostic
from .plugins import CORE, GROUP, PluginInfo, Registry, broken_diagnostics, clash_message, load
from .types import BlockType
from .value import Value

DEFAULT_BASE = "docker.io/library/python:3.12-slim-bookworm"

__all__ = [
    "fake_distribution",
    "block_type_plugin",
    "make_registry",
    "register_block_type",
    "template",
    "write_template",
    "compile_template",
    "Result",
    "DEFAULT_BASE",
]


def fake_distribution(
    name: str = "test-plugin",
    *,
    dist: str | None = None,
    version: str = "0.0.0",
    value: str | None = None,
) -> PluginInfo:
    """A :class:`PluginInfo` as if the plugin came from an installed distribution."""
    return PluginInfo(
        name=name, value=value or f"{name}:plugin", dist=dist or f"blockc-{name}", version=version
    )


class _BlockTypes:
    """A plugin object whose ``blockc_block_types`` returns fixed block types."""

    def __init__(self, block_types):
        self._types = list(block_types)

    @hookimpl
    def blockc_block_types(self):
        return list(self._types)


def block_type_plugin(*block_types: BlockType) -> object:
    """A plugin object providing ``block_types`` (for :func:`make_registry`)."""
    return _BlockTypes(block_types)


def make_registry(*plugins: Any, core: bool = True, strict: bool = True) -> Registry:
    """A fresh registry with only the given plugins (and the core block types if ``core``).

    Each plugin is a plugin object or module (named after its class/module, with a fake
    distribution) or a ``(plugin, PluginInfo)`` pair. With ``strict`` (the default) a plugin
    that fails to load raises :class:`BlockcError` naming it; otherwise it is left in
    ``registry.broken``.
    """
    extra: list[tuple[object, PluginInfo]] = []
    if core:
        extra.append((blocks, PluginInfo(CORE, "blockc.blocks", "blockc", __version__)))
    for n, plugin in enumerate(plugins):
        if isinstance(plugin, tuple):
            extra.append(plugin)
            continue
        extra.append((plugin, _info(plugin, n)))
    reg = load(extra=extra, entry_points=False)
    if strict and (reg.broken or reg.clashes):
        clashes = [Diagnostic(*clash_message(n, e)) for n, e in reg.clashes.items()]
        raise BlockcError(broken_diagnostics(reg) + clashes)
    return reg


def _info(plugin: Any, n: int) -> PluginInfo:
    """A plugin module as the distribution that installs it names it (its entry point, its
    distribution and version); anything else as a fake distribution."""
    module = getattr(plugin, "__name__", None)
    if module is None:
        return fake_distribution(f"test-plugin-{n}")
    import importlib.metadata

    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == GROUP and ep.value.partition(":")[0] == module:
                return PluginInfo(ep.name, ep.value, dist.metadata["Name"], dist.version)
    return fake_distribution(module.rsplit(".", 1)[-1])


def register_block_type(
    *block_types: BlockType, core: bool = True, info: PluginInfo | None = None
) -> Registry:
    """A fresh registry with the core block types and ``block_types``, in one call."""
    plugin = block_type_plugin(*block_types)
    return make_registry((plugin, info or fake_distribution()), core=core)


def template(
    *blocks: Mapping[str, Any],
    name: str = "test",
    base: str = DEFAULT_BASE,
    image: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict:
    """A template as data: ``template({"type": "app", "with": {...}}, env={"A": "1"})``;
    ``image`` adds to ``spec.image`` (``{"provides": ["r"]}``)."""
    return {
        "apiVersion": "blockc/v1",
        "kind": "StudioTemplate",
        "metadata": {"name": name},
        "spec": {
            "image": {"base": base, **(image or {})},
            **spec,
            "blocks": [dict(b) for b in blocks],
        },
    }


def write_template(
    directory: str | Path,
    content: str | bytes | Mapping[str, Any],
    *,
    files: Mapping[str, str | bytes] | None = None,
    filename: str = "template.yaml",
) -> Path:
    """Write a template (YAML text, raw bytes, or data) and any side files into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for rel, data in (files or {}).items():
        p = directory / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    path = directory / filename
    if isinstance(content, Mapping):
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        path.write_text(
            yaml.dump(dict(content), Dumper=dumper, sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
    else:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


class Result(Value):
    """What compiling a template gave: the artifact, or the diagnostics (never both)."""

    path: Path
    artifact: Artifact | None = None
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return self.artifact is not None

    @property
    def messages(self) -> list[str]:
        """Each diagnostic as the CLI prints it (``file:line:col: error: ...``)."""
        return [d.format() for d in self.diagnostics]

    def text(self, name: str) -> str:
        """A file of the artifact (``Containerfile``, ``context/...``) as text."""
        if self.artifact is None:
            raise AssertionError("compile failed:\n" + "\n".join(self.messages))
        return self.artifact.files[name][0].decode()


def compile_template(
    content: str | bytes | Mapping[str, Any],
    directory: str | Path,
    *,
    registry: Registry | None = None,
    files: Mapping[str, str | bytes] | None = None,
    filename: str = "template.yaml",
    base_image: str | None = None,
    strict: bool = False,
) -> Result:
    """Write ``content`` into ``directory`` and compile it; diagnostics instead of raising.

    ``registry`` defaults to a fresh core-only one. ``strict`` also checks the manifests
    against the Kubernetes OpenAPI schemas, as ``blockc validate --strict`` does.
    """
    path = write_template(directory, content, files=files, filename=filename)
    artifact, diags = try_compile(path, registry=registry or make_registry(), base_image=base_image)
    if artifact is not None and strict:
        diags = check_manifests(list(artifact.manifests))
    if diags:
        return Result(path, None, tuple(diags))
    return Result(path, artifact)
