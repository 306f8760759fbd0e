"""Plan: order the contributions, find the conflicts, merge the manifest patches.

Requirements first: a block type's ``requires`` need a block (or the base image) that
provides them. Steps are placed by phase; within a phase the template's order holds, adjusted
for block types' declared ``after`` needs and for requirements (providers first; a cycle is an
error naming the blocks). Conflicts (SPEC §3) are errors naming both blocks: one app id or port
twice, one zone name or path twice, an env var or a manifest field set to two values by two
plugins, a context file written twice.

What an admin wrote wins over what a plugin sets (SPEC §3): ``spec.env`` over a block's env
var, a block's manifest patch carrying an option (the ``kubernetes`` block's) over another
block's, unless the plugin's value is :class:`~blockc.types.Fixed`: then a different admin
value is a conflict, located at the admin's field. Each such win is an :class:`Override`.
"""

from __future__ import annotations

import copy
import posixpath
from collections import defaultdict

from ..errors import Diagnostic
from ..kit import APT_INSTALL
from ..names import GATE_PORT
from ..types import App, ContextFile, Copy, Fixed, ManifestPatch, Phase, Run, Step, Zone, env_id
from .load import Document
from .manifests import base_manifests
from .model import BlockSpec, Override, Plan, PlannedStep, Resolved, Template

SUPERVISOR = "supervisor==4.3.0"
BLOCKC = "blockc"  # the owner of what blockc itself adds

# where a ManifestPatch lands, and how its fields are named in the provenance
_TARGETS = {
    "deployment": ("Deployment", lambda objs: objs[0]),
    "pod": ("Deployment.spec.template.spec", lambda objs: objs[0]["spec"]["template"]["spec"]),
    "container": (
        "Deployment.spec.template.spec.containers[studio]",
        lambda objs: objs[0]["spec"]["template"]["spec"]["containers"][0],
    ),
    "service": ("Service", lambda objs: objs[1]),
}


def plan(resolved: Resolved) -> tuple[Plan, list[Diagnostic]]:
    template = resolved.template
    doc = template.doc
    diags: list[Diagnostic] = []
    contributions = {b.id: c for b, c in resolved.contributions}
    overrides = list(resolved.overrides)

    def conflict(block: BlockSpec, message: str, *sub, hint: str | None = None) -> None:
        path = block.path + tuple(sub)
        line, col = doc.where(path)
        diags.append(
            Diagnostic(
                message, file=doc.file, line=line, col=col, path=path, hint=hint, **block.who()
            )
        )

    providers = _providers(resolved, conflict)
    _check_requirements(resolved, providers, conflict)
    order = _order_blocks(resolved, providers, diags)

    # steps: blockc's base first, then the blocks' by phase and planned order, blockc's launch last
    base, launch = _blockc_steps(template)
    steps = [base]
    for phase in sorted(set(Phase) - {Phase.BASE, Phase.LAUNCH}):
        for block in order:
            steps += [
                PlannedStep(s, block.id) for s in contributions[block.id].steps if s.phase == phase
            ]
    for block in order:
        for s in contributions[block.id].steps:
            if s.phase in (Phase.BASE, Phase.LAUNCH):
                conflict(block, f"phase {s.phase.name.lower()} is reserved for blockc")
    steps.append(launch)

    # context files: in the block's own directory, one writer per path
    files: dict[str, tuple[ContextFile, str]] = {}
    for block in order:
        for f in contributions[block.id].files:
            if not f.path.startswith(f"blocks/{block.id}/"):
                conflict(
                    block,
                    f"context file {f.path!r} is outside the block's own directory "
                    f"blocks/{block.id}/",
                )
            elif f.path in files:
                conflict(block, f"context file {f.path!r} written twice")
            else:
                files[f.path] = (f, block.id)

    # apps: one id and one port each
    apps: list[tuple[App, BlockSpec]] = []
    by_id: dict[str, BlockSpec] = {}
    by_port: dict[int, BlockSpec] = {}
    for block in order:
        for app in contributions[block.id].apps:
            if app.id in by_id:
                conflict(block, f"app id '{app.id}' is also used by block '{by_id[app.id].id}'")
            elif app.port == GATE_PORT:
                conflict(
                    block,
                    f"port {app.port} is blockc's own (the studio's gate, behind blockc serve); "
                    f"give the app another `port:`",
                    *(("with", "port") if "port" in block.options else ("with",)),
                )
            elif app.port in by_port:
                other = by_port[app.port]
                conflict(
                    block,
                    f"port {app.port} is already used by block '{other.id}' "
                    f"({other.type}); give one of them another `port:`",
                    *(("with", "port") if "port" in block.options else ("with",)),
                )
            else:
                by_id[app.id] = by_port[app.port] = block
                apps.append((app, block))

    # zones: one name each, no path within another's, on either side
    zones: list[tuple[Zone, BlockSpec]] = []
    for block in order:
        for zone in contributions[block.id].zones:
            for earlier, earlier_block in zones:
                where = f"zone '{earlier.name}' of block '{earlier_block.id}'"
                if earlier.name == zone.name:
                    conflict(
                        block,
                        f"zone name '{zone.name}' is also used by block '{earlier_block.id}'",
                        "with",
                    )
                elif paths_overlap(earlier.container, zone.container):
                    conflict(
                        block,
                        f"zone '{zone.name}' container path {zone.container} clashes "
                        f"with {where} ({earlier.container})",
                        "with",
                    )
                elif paths_overlap(earlier.host, zone.host):
                    conflict(
                        block,
                        f"zone '{zone.name}' host path {zone.host} clashes with "
                        f"{where} ({earlier.host})",
                        "with",
                    )
            zones.append((zone, block))

    # env: the template's (the admin's) wins over the blocks'; blocks agree or conflict
    env: dict[str, tuple[str, str]] = {k: (v, "template") for k, v in template.env.items()}
    fixed: set[str] = set()
    for block in order:
        for name, given in contributions[block.id].env.items():
            value = given.value if isinstance(given, Fixed) else given
            if name.startswith("BLOCKC_"):
                conflict(block, f"env var {name}: the BLOCKC_ prefix is reserved")
            elif name not in env or env[name][0] == value:
                env.setdefault(name, (value, block.id))
            elif env[name][1] == "template" and not isinstance(given, Fixed):
                overrides.append(Override(f"env {name}", env[name][0], value, block.id, "spec.env"))
            elif env[name][1] == "template":
                line, col = doc.where(("spec", "env", name))
                diags.append(
                    Diagnostic(
                        f"env var {name}: block '{block.id}' ({block.type}) needs it to be "
                        f"{value!r}, not {env[name][0]!r}",
                        file=doc.file,
                        line=line,
                        col=col,
                        path=("spec", "env", name),
                        hint=f"remove {name} from spec.env",
                    )
                )
            else:
                conflict(
                    block,
                    f"env var {name} is set to {value!r} here and to "
                    f"{env[name][0]!r} by {env[name][1]!r}",
                    hint=None
                    if name in fixed or isinstance(given, Fixed)
                    else f"choose one: set {name} in spec.env",
                )
            if isinstance(given, Fixed):
                fixed.add(name)
    for app, block in apps:
        env[f"BLOCKC_PORT_{env_id(app.id)}"] = (str(app.port), block.id)

    # manifests: blockc's objects, the admin's patches (carrying an option), the plugins'
    manifests, owners = base_manifests(template, [a for a, _ in apps], env)
    admin: dict[str, tuple[BlockSpec, tuple]] = {}  # field -> (block, option path)
    patches = [(b, p) for b in order for p in contributions[b.id].patches]
    patches.sort(key=lambda bp: not _by_admin(bp[0], bp[1], doc))  # stable: the admin's first
    for block, patch in patches:
        prefix, target = _TARGETS[patch.target]
        clashes: list[tuple[str, str, object, object, bool]] = []
        set_here: list[str] = []
        _merge(target(manifests), dict(patch.patch), owners, prefix, block.id, clashes, set_here)
        by_admin = _by_admin(block, patch, doc)
        if by_admin:
            admin.update(dict.fromkeys(set_here, (block, ("with", *(patch.option or ())))))
        for field, first, old, new, needed in clashes:
            by = None if by_admin else _nearest(admin, field)  # the admin's patch, if any
            if by is not None and not needed:
                overrides.append(Override(field, old, new, block.id, by[0].id))
            elif by is not None:
                conflict(
                    by[0],
                    f"manifest field {field} is set to {old!r} here; block '{block.id}' "
                    f"({block.type}) needs {new!r}",
                    *by[1],
                )
            else:
                conflict(
                    block,
                    f"manifest field {field} is set to {new!r} here and to {old!r} by '{first}'",
                )
    return Plan(
        template=template,
        steps=tuple(steps),
        files=tuple(files.values()),
        apps=tuple(apps),
        zones=tuple(zones),
        env=env,
        manifests=tuple(manifests),
        manifest_owners=owners,
        overrides=tuple(overrides),
    ), diags


def paths_overlap(a: str, b: str) -> bool:
    """Whether one path lies within the other (two absolute paths, or two relative ones, where
    ``.`` holds every relative path)."""
    a, b = posixpath.normpath(a), posixpath.normpath(b)
    if "." in (a, b) or "/" in (a, b):
        return True
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def waits_for_sync(app: App, zone_paths: list[str]) -> bool:
    """Whether the app waits, under ``blockc start``, until the zones are pushed in: unless it
    names what it reads while starting and no zone overlaps any of that."""
    if app.reads_at_start is None:
        return True
    return any(paths_overlap(z, p) for z in zone_paths for p in app.reads_at_start)


def _blockc_steps(template: Template) -> tuple[PlannedStep, PlannedStep]:
    """blockc's own steps: the studio user and the Python environments first, the launcher and
    its configuration last (they change with every app)."""
    img = template.image
    setup = (
        "/opt/blockc/bin/studio-setup.sh",
        img.user,
        str(img.uid),
        str(img.gid),
        img.workdir,
        SUPERVISOR,
    )
    base = Step(
        Phase.BASE,
        [
            Copy("blockc/studio-setup.sh", "/opt/blockc/bin/studio-setup.sh", 0o755),
            Copy("blockc/apt-install.sh", APT_INSTALL, 0o755),
            Run([setup], user="root"),
        ],
    )
    launch = Step(
        Phase.LAUNCH,
        [
            Copy("blockc/launch.py", "/opt/blockc/launch.py", 0o644),
            Copy("blockc/supervisord.conf", "/etc/blockc/supervisord.conf", 0o644),
            Copy("blockc/apps.json", "/etc/blockc/apps.json", 0o644),
        ],
    )
    return PlannedStep(base, BLOCKC), PlannedStep(launch, BLOCKC)


BLOCKC_PROVIDES = ("python",)  # the studio's Python environment is blockc's own


def _providers(resolved: Resolved, conflict) -> dict[str, list[BlockSpec]]:
    """For each capability, the blocks that provide it (what a block's contributions say it
    provides, among what its type declares)."""
    providers: dict[str, list[BlockSpec]] = defaultdict(list)
    for block, contributions in resolved.contributions:
        declared = block.entry.type.provides
        given = declared if contributions.provides is None else contributions.provides
        for cap in given:
            if cap in declared:
                providers[cap].append(block)
            else:
                conflict(block, f"the plugin says this block provides {cap}, which its block "
                                f"type does not declare (BlockType.provides)")  # fmt: skip
    return providers


def _check_requirements(resolved: Resolved, providers: dict, conflict) -> None:
    """A located error for each capability a block requires that nothing provides (unless a
    block that failed an earlier stage could have: its own error is reported)."""
    template = resolved.template
    have = set(BLOCKC_PROVIDES) | set(template.image.provides) | set(providers)
    spec = template.doc.data.get("spec") if isinstance(template.doc.data, dict) else None
    written = spec.get("blocks") if isinstance(spec, dict) else None
    done = {b.id for b, _ in resolved.contributions}
    failed_types = set()
    for raw in written if isinstance(written, list) else []:
        kind = raw.get("type") if isinstance(raw, dict) else None
        bid = raw.get("id", kind) if isinstance(raw, dict) else None
        if isinstance(kind, str) and not (isinstance(bid, str) and bid in done):
            failed_types.add(kind)
    for block, _ in resolved.contributions:
        for cap in block.entry.type.requires:
            if cap in have:
                continue
            could = sorted(
                name
                for name, entry in template.registry.types.items()
                if cap in entry.type.provides
            )
            if failed_types & set(could):
                continue
            where = f"a block of type {', '.join(could)}" if could else "no installed block type"
            conflict(
                block,
                f"needs {cap}, which nothing in this template provides",
                "type",
                hint=f"{where} can provide it; or, if the base image has it, "
                f"list it in spec.image.provides",
            )


def _order_blocks(
    resolved: Resolved, providers: dict[str, list[BlockSpec]], diags: list[Diagnostic]
) -> list[BlockSpec]:
    """Template order, moved only as far as ``after`` needs and requirements (providers first)
    demand: a stable topological sort."""
    blocks = [b for b, _ in resolved.contributions]
    by_type = defaultdict(list)
    for b in blocks:
        by_type[b.type].append(b)
    needs = {
        b.id: {d.id for t in b.entry.type.after for d in by_type[t] if d.id != b.id}
        | {p.id for cap in b.entry.type.requires for p in providers.get(cap, ()) if p.id != b.id}
        for b in blocks
    }
    ordered: list[BlockSpec] = []
    placed: set[str] = set()
    while len(ordered) < len(blocks):
        ready = next((b for b in blocks if b.id not in placed and needs[b.id] <= placed), None)
        if ready is None:
            stuck = [b for b in blocks if b.id not in placed]
            names = ", ".join(
                f"'{b.id}' ({b.type}) after {sorted(needs[b.id] - placed)}" for b in stuck
            )
            doc = resolved.template.doc
            line, col = doc.where(stuck[0].path)
            diags.append(
                Diagnostic(
                    f"ordering cycle between blocks: {names}",
                    file=doc.file,
                    line=line,
                    col=col,
                    path=stuck[0].path,
                    **stuck[0].who(),
                )
            )
            return blocks
        ordered.append(ready)
        placed.add(ready.id)
    return ordered


def _nearest(entries: dict, field: str, default=None):
    """The entry of manifest ``field``, else that of its nearest ancestor that has one."""
    while field not in entries:
        cut = max(field.rfind("."), field.rfind("["))
        if cut <= 0:
            return default
        field = field[:cut]
    return entries[field]


def _owner(owners: dict[str, str], path: str) -> str:
    """Who set ``path`` (blockc, unless a block set it or an ancestor)."""
    return _nearest(owners, path, BLOCKC)


def _by_admin(block: BlockSpec, patch: ManifestPatch, doc: Document) -> bool:
    """Whether a patch carries an option the admin wrote (one that has a place in the
    template's file)."""
    return patch.option is not None and (*block.path, "with", *patch.option) in doc.positions


def _plain(value: object) -> object:
    """``value`` with every :class:`Fixed` unwrapped."""
    if isinstance(value, Fixed):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _merge(
    base: dict,
    patch: dict,
    owners: dict,
    path: str,
    who: str,
    clashes: list,
    set_here: list,
    fixed: bool = False,
) -> None:
    """Merge ``patch`` into ``base``: mappings key by key, lists item by item (by ``name`` where
    every item has one); a scalar set to another value is a clash (``fixed``: the patch needs
    it as it is). ``owners`` records who set each field, ``set_here`` the fields set now."""
    for key, value in patch.items():
        field = f"{path}.{key}"
        needed = fixed or isinstance(value, Fixed)
        value = value.value if isinstance(value, Fixed) else value
        if key not in base:
            owners[field] = who
            set_here.append(field)
            if isinstance(value, list):  # item by item, so each named item has its owner
                base[key] = []
                _merge_list(base[key], value, owners, field, who, clashes, set_here, needed)
            else:
                base[key] = _plain(copy.deepcopy(value))
        elif isinstance(base[key], dict) and isinstance(value, dict):
            _merge(base[key], value, owners, field, who, clashes, set_here, needed)
        elif isinstance(base[key], list) and isinstance(value, list):
            _merge_list(base[key], value, owners, field, who, clashes, set_here, needed)
        elif base[key] != _plain(value):
            clashes.append((field, _owner(owners, field), base[key], _plain(value), needed))


def _merge_list(
    base: list,
    items: list,
    owners: dict,
    path: str,
    who: str,
    clashes: list,
    set_here: list,
    fixed: bool,
) -> None:
    flagged = [(i.value, True) if isinstance(i, Fixed) else (i, fixed) for i in items]
    named = all(isinstance(i, dict) and "name" in i for i in base + [i for i, _ in flagged])
    for item, needed in flagged:
        if named:
            match = next((b for b in base if b["name"] == item["name"]), None)
            if match is None:
                base.append(_plain(copy.deepcopy(item)))
                owners[f"{path}[{item['name']}]"] = who
                set_here.append(f"{path}[{item['name']}]")
            else:
                field = f"{path}[{item['name']}]"
                _merge(match, item, owners, field, who, clashes, set_here, needed)
        elif _plain(item) not in base:
            base.append(_plain(copy.deepcopy(item)))
            owners[f"{path}[{len(base) - 1}]"] = who
            set_here.append(f"{path}[{len(base) - 1}]")
