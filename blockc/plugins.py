"""Plugin discovery and the plugin manager factory.

Block types come from the entry-point group ``blockc`` (core blocks are registered the same
way, by blockc's own distribution).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import pluggy

from . import cache, hookspecs
from .errors import Diagnostic
from .types import BlockType
from .value import Value

GROUP = "blockc"
CORE = "core"


class PluginInfo(Value):
    name: str  # entry-point name
    value: str  # module[:attr]
    dist: str
    version: str


class BlockTypeEntry(Value):
    type: BlockType
    plugin: PluginInfo


class Registry:
    """Loaded block types, and the plugins that failed to load."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.types: dict[str, BlockTypeEntry] = {}
        self.broken: list[tuple[PluginInfo, str]] = []
        self.plugins: list[PluginInfo] = []

    def get(self, name: str) -> BlockTypeEntry | None:
        return self.types.get(name)


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with blockc's hookspecs (one per compile or test)."""
    pm = pluggy.PluginManager("blockc")
    pm.add_hookspecs(hookspecs)
    return pm


def discover() -> list[PluginInfo]:
    """The entry points of the group ``blockc``, sorted by name. Scanning the installed
    distributions' metadata takes ~60 ms, at every command, so the result is cached, keyed on
    the installed distributions (see :func:`_installed`)."""
    entry = cache.key("plugins", _installed())
    data = cache.get("plugins", entry)
    if data is not None:
        return [PluginInfo(**p) for p in json.loads(data)]
    import importlib.metadata  # here: a cached discovery needs it not (tests/test_imports.py)

    found: dict[str, PluginInfo] = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == GROUP and ep.name not in found:
                found[ep.name] = PluginInfo(ep.name, ep.value, dist.metadata["Name"], dist.version)
    plugins = sorted(found.values(), key=lambda p: p.name)
    cache.put("plugins", entry, json.dumps([p.as_dict() for p in plugins]).encode())
    return plugins


def _installed() -> str:
    """What the entry points depend on: the distributions' metadata directories on
    ``sys.path`` (one installed or removed adds or drops a name), each with its mtime (a
    reinstall writes it anew) and that of its entry_points.txt (an older editable install
    rewrites it in place)."""
    parts = []
    for entry in sys.path:
        parts.append(entry)
        try:
            with os.scandir(entry or ".") as it:
                metadata = sorted(
                    e.path for e in it if e.name.endswith((".dist-info", ".egg-info"))
                )
        except OSError:  # missing, or a file (a zip archive)
            continue
        for path in metadata:
            parts.append(
                f"{path}\0{_mtime(path)}\0{_mtime(os.path.join(path, 'entry_points.txt'))}"
            )
    return "\n".join(parts)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def selected(plugins: list[PluginInfo], spec: str | None) -> list[PluginInfo]:
    """Apply the allow/deny switch ``BLOCKC_PLUGINS``: ``a,b`` allows only those (core is
    always kept), ``-a,-b`` denies those; ``none`` keeps only core."""
    if spec is None:
        spec = os.environ.get("BLOCKC_PLUGINS", "")
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        return plugins
    if items == ["none"]:
        return [p for p in plugins if p.name == CORE]
    deny = {s[1:] for s in items if s.startswith("-")}
    allow = {s for s in items if not s.startswith("-")}
    return [
        p
        for p in plugins
        if p.name not in deny and (not allow or p.name in allow or p.name == CORE)
    ]


def _import(value: str):
    module, _, attr = value.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def load(
    *,
    spec: str | None = None,
    extra: Sequence[tuple[object, PluginInfo]] = (),
    entry_points: bool = True,
) -> Registry:
    """Build a registry: load every selected plugin, collect its block types.

    ``extra`` adds plugin objects directly (tests, embedding); ``entry_points=False`` skips
    discovery so that only ``extra`` is loaded (see :mod:`blockc.testing`).
    A plugin that fails to import, implements an unknown hook, or whose hook raises or
    returns garbage, is recorded in ``registry.broken`` with its name and distribution; the
    others still load.
    """
    pm = make_plugin_manager()
    reg = Registry(pm)
    candidates: list[tuple[object, PluginInfo]] = []
    for info in selected(discover(), spec) if entry_points else ():
        try:
            candidates.append((_import(info.value), info))
        except Exception as exc:  # a plugin that fails to import is named, not fatal
            reg.broken.append((info, f"import failed: {type(exc).__name__}: {exc}"))
    candidates.extend(extra)
    for obj, info in candidates:
        try:
            pm.register(obj, name=info.name)
        except Exception as exc:
            reg.broken.append((info, f"registration failed: {type(exc).__name__}: {exc}"))
            continue
        reg.plugins.append(info)
    while True:  # an unknown hook is named like any other broken plugin; the rest still load
        try:
            pm.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            info = next(i for o, i in candidates if o is exc.plugin)
            pm.unregister(exc.plugin)
            reg.plugins.remove(info)
            reg.broken.append((info, f"implements an unknown hook: {exc}"))
    impls = [
        (next(i for o, i in candidates if o is impl.plugin), impl)
        for impl in pm.hook.blockc_block_types.get_hookimpls()
    ]
    # core first, then by plugin name: which plugin keeps a contested block type name never
    # depends on registration order (pluggy calls the last registered first)
    impls.sort(key=lambda pair: (pair[0].name != CORE, pair[0].name))
    for info, impl in impls:
        try:
            returned: Any = impl.function()
            types = list(returned or ())
            for bt in types:
                if not isinstance(bt, BlockType):
                    raise TypeError(f"expected BlockType, got {type(bt).__name__}")
        except Exception as exc:
            reg.broken.append((info, f"blockc_block_types raised {type(exc).__name__}: {exc}"))
            continue
        for bt in types:
            if bt.name in reg.types:
                other = reg.types[bt.name].plugin
                reg.broken.append(
                    (
                        info,
                        f"block type '{bt.name}' is already provided by plugin "
                        f"'{other.name}' ({other.dist})",
                    )
                )
                continue
            reg.types[bt.name] = BlockTypeEntry(bt, info)
    reg.types = dict(sorted(reg.types.items()))
    return reg


def broken_diagnostics(reg: Registry) -> list[Diagnostic]:
    return [
        Diagnostic(f"{why}", plugin=f"{info.name} ({info.dist} {info.version})")
        for info, why in reg.broken
    ]
