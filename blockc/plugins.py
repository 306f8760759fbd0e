"""Plugin discovery and the plugin manager factory.

Block types come from the entry-point group ``blockc`` (core blocks are registered the same
way, by blockc's own distribution). No plugin takes a block type over from another: a name two
plugins provide is a clash, an error for every template that uses it until the site chooses
one (``--plugins=-x``, ``BLOCKC_PLUGINS=-x`` or ``plugins = "-x"`` in the site settings).
A plugin whose hook fails, or whose block types are invalid (their options schema included),
is recorded as broken, with its traceback for ``BLOCKC_DEBUG=1``.
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
from .types import BlockType, InvalidValue
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
    """Loaded block types, the names several plugins provide, and the plugins that failed to
    load (with why, and the traceback where there is one)."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.types: dict[str, BlockTypeEntry] = {}
        self.clashes: dict[str, list[BlockTypeEntry]] = {}
        self.broken: list[tuple[PluginInfo, str]] = []
        self.tracebacks: dict[str, str] = {}  # plugin name -> the traceback of its failure
        self.plugins: list[PluginInfo] = []

    def get(self, name: str) -> BlockTypeEntry | None:
        """The block type ``name`` (None when no plugin or several provide it)."""
        return self.types.get(name)

    def fail(self, info: PluginInfo, why: str, exc: BaseException | None = None) -> None:
        self.broken.append((info, why))
        if exc is not None:
            import traceback

            self.tracebacks[info.name] = "".join(traceback.format_exception(exc))


def clash_message(name: str, entries: list[BlockTypeEntry]) -> tuple[str, str]:
    """The error for a template using block type ``name``, which several plugins provide, and
    the hint saying how to choose."""
    who = " and ".join(f"'{e.plugin.name}' ({e.plugin.dist} {e.plugin.version})" for e in entries)
    other = next((e.plugin.name for e in entries if e.plugin.name != CORE), entries[-1].plugin.name)
    return (
        f"block type '{name}' is provided by several plugins: {who}; blockc uses none of them "
        f"until one is chosen",
        f'leave one out: --plugins=-{other}, BLOCKC_PLUGINS=-{other}, or plugins = "-{other}" '
        f"in the site settings",
    )


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with blockc's hookspecs (one per compile or test)."""
    pm = pluggy.PluginManager("blockc")
    pm.add_hookspecs(hookspecs)
    return pm


def discover(installed: str | None = None) -> list[PluginInfo]:
    """The entry points of the group ``blockc``, sorted by name. Scanning the installed
    distributions' metadata takes ~60 ms, at every command, so the result is cached, keyed on
    the installed distributions (``installed``, default :func:`_installed`)."""
    entry = cache.key("plugins", installed if installed is not None else _installed())
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
    installed = _installed()
    candidates: list[tuple[object, PluginInfo]] = []
    for info in selected(discover(installed), spec) if entry_points else ():
        try:
            candidates.append((_import(info.value), info))
        except Exception as exc:  # a plugin that fails to import is named, not fatal
            reg.fail(info, f"import failed: {type(exc).__name__}: {exc}", exc)
    candidates.extend(extra)
    for obj, info in candidates:
        try:
            pm.register(obj, name=info.name)
        except Exception as exc:
            reg.fail(info, f"registration failed: {type(exc).__name__}: {exc}", exc)
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
            reg.fail(info, f"implements an unknown hook: {exc}")
    impls = [
        (next(i for o, i in candidates if o is impl.plugin), impl)
        for impl in pm.hook.blockc_block_types.get_hookimpls()
    ]
    impls.sort(key=lambda pair: (pair[0].name != CORE, pair[0].name))  # in a stable order
    provided: dict[str, list[BlockTypeEntry]] = {}
    for info, impl in impls:
        types = _block_types(reg, info, impl.function, installed)
        for bt in types or ():
            provided.setdefault(bt.name, []).append(BlockTypeEntry(bt, info))
    for name, entries in sorted(provided.items()):
        if len(entries) == 1:
            reg.types[name] = entries[0]
        else:
            reg.clashes[name] = entries
    return reg


def _block_types(
    reg: Registry, info: PluginInfo, hook: Any, installed: str
) -> list[BlockType] | None:
    """What a plugin's ``blockc_block_types`` returns, checked; None (and the plugin recorded
    as broken, saying why) when the hook raises or returns anything but valid block types."""
    try:
        returned: Any = hook()
    except InvalidValue as exc:  # blockc's own check of a value the plugin made
        reg.fail(info, f"made an invalid value: {exc}", exc)
        return None
    except Exception as exc:
        reg.fail(info, f"blockc_block_types raised {type(exc).__name__}: {exc}", exc)
        return None
    if isinstance(returned, BlockType):
        returned = [returned]
    if not isinstance(returned, list | tuple):
        reg.fail(info, f"blockc_block_types returned {type(returned).__name__}, not a list")
        return None
    for bt in returned:
        if not isinstance(bt, BlockType):
            reg.fail(info, f"blockc_block_types returned {type(bt).__name__}, not a BlockType")
            return None
        problem = schema_problem(bt.schema, installed)
        if problem:
            reg.fail(info, f"block type '{bt.name}': its options schema is invalid: {problem}")
            return None
    names = [bt.name for bt in returned]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        reg.fail(info, f"blockc_block_types returned block type '{twice[0]}' twice")
        return None
    return list(returned)


def schema_problem(schema: Any, installed: str) -> str | None:
    """Why a block type's options schema is no valid JSON Schema (2020-12), or None. The
    answer is cached, keyed on the schema and the installed distributions (jsonschema's
    version among them): checking imports jsonschema, ~40 ms at every command otherwise."""
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError) as exc:
        return f"not JSON data: {exc}"
    entry = cache.key("schema-check", text, installed)
    known = cache.get("schema-checks", entry)
    if known is not None:
        return known.decode() or None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(json.loads(text))
        problem = ""
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        problem = f"{exc.message}" + (f" (at {where})" if where else "")
    cache.put("schema-checks", entry, problem.encode())
    return problem or None


def broken_diagnostics(reg: Registry) -> list[Diagnostic]:
    return [
        Diagnostic(
            why,
            plugin=f"{info.name} ({info.dist} {info.version})",
            detail=reg.tracebacks.get(info.name),
        )
        for info, why in reg.broken
    ]
