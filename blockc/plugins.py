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
import re
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
    """The block types of the selected plugins, the names several plugins provide, and the
    plugins that failed to load (with why, and the traceback where there is one)."""

    def __init__(self, pm: pluggy.PluginManager, installed: str = ""):
        self.pm = pm
        self.broken: list[tuple[PluginInfo, str]] = []
        self.tracebacks: dict[str, str] = {}  # plugin name -> the traceback of its failure
        self.plugins: list[PluginInfo] = []
        self._installed = installed
        self._providers: dict[str, list[BlockTypeEntry]] = {}  # block type -> who provides it

    def get(self, name: str) -> BlockTypeEntry | None:
        """The block type ``name`` (None when no plugin or several provide it)."""
        entries = self._providers.get(name, ())
        return entries[0] if len(entries) == 1 else None

    @property
    def types(self) -> dict[str, BlockTypeEntry]:
        """Every block type one plugin provides, by name."""
        return {n: e[0] for n, e in sorted(self._providers.items()) if len(e) == 1}

    @property
    def clashes(self) -> dict[str, list[PluginInfo]]:
        """The block types several plugins provide, with those plugins."""
        return {
            name: [e.plugin for e in entries]
            for name, entries in sorted(self._providers.items())
            if len(entries) > 1
        }

    def fail(self, info: PluginInfo, why: str, exc: BaseException | None = None) -> None:
        self.broken.append((info, why))
        if exc is not None:
            import traceback

            self.tracebacks[info.name] = "".join(traceback.format_exception(exc))

    def add(self, info: PluginInfo, obj: object | None = None) -> None:
        """Load a plugin (``obj``, or what its entry point names) and take its block types;
        a plugin that fails is recorded in :attr:`broken`."""
        types = self._load(info, obj)
        if types is None:
            return
        self.plugins.append(info)
        for bt in types:
            entries = self._providers.setdefault(bt.name, [])
            entries.append(BlockTypeEntry(bt, info))
            entries.sort(key=lambda e: (e.plugin.name != CORE, e.plugin.name))  # stable order

    def _load(self, info: PluginInfo, obj: object | None) -> list[BlockType] | None:
        """Import and register one plugin and call its hook; None after recording why not."""
        if obj is None:
            try:
                obj = _import(info.value)
            except (Exception, SystemExit) as exc:  # a plugin that fails to import: named
                self.fail(info, f"import failed: {type(exc).__name__}: {exc}", exc)
                return None
        try:
            self.pm.register(obj, name=info.name)
        except Exception as exc:
            self.fail(info, f"registration failed: {type(exc).__name__}: {exc}", exc)
            return None
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:  # an unknown hook: named like the rest
            self.pm.unregister(obj)
            self.fail(info, f"implements an unknown hook: {exc}")
            return None
        types: list[BlockType] = []
        for impl in self.pm.hook.blockc_block_types.get_hookimpls():
            if impl.plugin is obj:
                found = _block_types(self, info, impl.function, self._installed)
                if found is None:
                    self.pm.unregister(obj)
                    return None
                types += found
        return types


def clash_message(name: str, infos: list[PluginInfo]) -> tuple[str, str]:
    """The error for a template using block type ``name``, which several plugins provide, and
    the hint saying how to choose."""
    who = " and ".join(f"'{i.name}' ({i.dist} {i.version})" for i in infos)
    other = next((i.name for i in infos if i.name != CORE), infos[-1].name)
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
        try:
            return [PluginInfo(**p) for p in json.loads(data)]
        except (ValueError, TypeError):  # a damaged entry: discover again (and rewrite it)
            pass
    import importlib.metadata  # here: a cached discovery needs it not (tests/test_imports.py)

    found: set[PluginInfo] = set()
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():  # in sys.path order
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
        if name in seen:  # an older copy further down sys.path is shadowed, as Python has it
            continue
        seen.add(name)
        for ep in dist.entry_points:
            if ep.group == GROUP:  # every distribution's: two of one name are an error
                found.add(PluginInfo(ep.name, ep.value, dist.metadata["Name"], dist.version))
    plugins = sorted(found, key=lambda p: (p.name, p.dist, p.version, p.value))
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
    """The registry of the selected plugins (``spec``: see :func:`selected`), each imported
    and asked for its block types (a plugin left out is never imported).

    ``extra`` adds plugin objects directly (tests, embedding); ``entry_points=False`` skips
    discovery so that only ``extra`` is loaded (see :mod:`blockc.testing`). A plugin that
    fails to import, implements an unknown hook, or whose hook raises or returns garbage, is
    recorded in ``registry.broken`` with its name and distribution; the others still load.
    """
    installed = _installed()
    reg = Registry(make_plugin_manager(), installed)
    if entry_points:
        found = discover(installed)
        for info in selected(found, spec):
            why = _impostor(info, found)
            if why:
                reg.broken.append((info, why))
            else:
                reg.add(info)
    for obj, info in extra:
        reg.add(info, obj)
    return reg


def _impostor(info: PluginInfo, plugins: list[PluginInfo]) -> str | None:
    """Why a plugin is not loaded at all: its name is blockc's own (``core``), or another
    distribution's entry point has the same name (neither takes the other's place)."""
    if info.name == CORE and info.dist != "blockc":
        return "its entry point is named 'core', which is blockc's own: rename it"
    others = [
        p
        for p in plugins
        if p.name == info.name and p != info and p.name != CORE  # (see above)
    ]
    if others:
        names = ", ".join(f"{p.dist} {p.version}" for p in others)
        return (
            f"another distribution has an entry point named '{info.name}' too ({names}); "
            f"neither loads: uninstall one"
        )
    return None


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
    except (Exception, SystemExit) as exc:  # (sys.exit() in a hook ends no command)
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
