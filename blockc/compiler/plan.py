"""Plan: order the contributions, find the conflicts, merge the manifest patches.

Steps are placed by phase; within a phase the template's order holds, adjusted for block types'
declared ``after`` needs (a cycle is an error naming the blocks). Conflicts (SPEC §3) are errors
naming both blocks: one app id or port twice, one zone name or path twice, an env var or a
manifest field set to two values, a context file written twice.
"""

from __future__ import annotations

import copy
import posixpath
from collections import defaultdict

from ..errors import Diagnostic
from ..types import App, ContextFile, Copy, Phase, Run, Step, Zone, env_id
from .manifests import base_manifests
from .model import BlockSpec, Plan, PlannedStep, Resolved, Template

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
    order = _order_blocks(resolved, diags)

    def conflict(block: BlockSpec, message: str, *sub) -> None:
        path = block.path + tuple(sub)
        line, col = doc.where(path)
        diags.append(
            Diagnostic(message, file=doc.file, line=line, col=col, path=path, **block.who())
        )

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
            elif app.port in by_port:
                other = by_port[app.port]
                conflict(
                    block,
                    f"port {app.port} is already used by block '{other.id}' "
                    f"({other.type}); give one of them another `port:`",
                    "with",
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

    # env: the template's, then the blocks'; one value per name
    env: dict[str, tuple[str, str]] = {k: (v, "template") for k, v in template.env.items()}
    for block in order:
        for name, value in contributions[block.id].env.items():
            if name.startswith("BLOCKC_"):
                conflict(block, f"env var {name}: the BLOCKC_ prefix is reserved")
            elif name in env and env[name][0] != value:
                conflict(
                    block,
                    f"env var {name} is set to {value!r} here and to "
                    f"{env[name][0]!r} by {env[name][1]!r}",
                )
            else:
                env.setdefault(name, (value, block.id))
    for app, block in apps:
        env[f"BLOCKC_PORT_{env_id(app.id)}"] = (str(app.port), block.id)

    # manifests: blockc's objects, then each block's patches merged into them
    manifests, owners = base_manifests(template, [a for a, _ in apps], env)
    for block in order:
        for patch in contributions[block.id].patches:
            prefix, target = _TARGETS[patch.target]
            clashes: list[tuple[str, str, object, object]] = []
            _merge(target(manifests), dict(patch.patch), owners, prefix, block.id, clashes)
            for field, first, old, new in clashes:
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
            Copy("blockc/apt-install.sh", "/opt/blockc/bin/apt-install", 0o755),
            Run([setup]),
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


def _order_blocks(resolved: Resolved, diags: list[Diagnostic]) -> list[BlockSpec]:
    """Template order, moved only as far as ``after`` needs demand (a stable topological sort)."""
    blocks = [b for b, _ in resolved.contributions]
    by_type = defaultdict(list)
    for b in blocks:
        by_type[b.type].append(b)
    needs = {
        b.id: {d.id for t in b.entry.type.after for d in by_type[t] if d.id != b.id} for b in blocks
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


def _owner(owners: dict[str, str], path: str) -> str:
    """Who set ``path``: its own entry, else that of the nearest ancestor that has one."""
    while path not in owners:
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return BLOCKC
        path = path[:cut]
    return owners[path]


def _merge(base: dict, patch: dict, owners: dict, path: str, who: str, clashes: list) -> None:
    """Merge ``patch`` into ``base``: mappings key by key, lists item by item (by ``name`` where
    every item has one); a scalar set to another value is a clash. ``owners`` records who set
    each field."""
    for key, value in patch.items():
        field = f"{path}.{key}"
        if key not in base:
            owners[field] = who
            if isinstance(value, list):  # item by item, so each named item has its owner
                base[key] = []
                _merge_list(base[key], value, owners, field, who, clashes)
            else:
                base[key] = copy.deepcopy(value)
        elif isinstance(base[key], dict) and isinstance(value, dict):
            _merge(base[key], value, owners, field, who, clashes)
        elif isinstance(base[key], list) and isinstance(value, list):
            _merge_list(base[key], value, owners, field, who, clashes)
        elif base[key] != value:
            clashes.append((field, _owner(owners, field), base[key], value))


def _merge_list(base: list, items: list, owners: dict, path: str, who: str, clashes: list) -> None:
    named = all(isinstance(i, dict) and "name" in i for i in base + items)
    for item in items:
        if named:
            match = next((b for b in base if b["name"] == item["name"]), None)
            if match is None:
                base.append(copy.deepcopy(item))
                owners[f"{path}[{item['name']}]"] = who
            else:
                _merge(match, item, owners, f"{path}[{item['name']}]", who, clashes)
        elif item not in base:
            base.append(copy.deepcopy(item))
            owners[f"{path}[{len(base) - 1}]"] = who
