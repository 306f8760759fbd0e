"""Plan: order contributions, detect conflicts, merge manifest patches.

Steps are placed by phase; within a phase the template's order holds, adjusted for block
types' declared ``after`` needs (a cycle is an error naming the blocks). Conflicts (SPEC §3)
are errors naming both blocks.
"""

from __future__ import annotations

import copy
from collections import defaultdict

from .. import __version__
from ..errors import BlockcError, Diagnostic
from ..types import ContextFile, Copy, Phase, Run, Step, env_id
from .manifests import base_manifests
from .model import BlockSpec, Plan, PlannedStep, Resolved

SUPERVISOR = "supervisor==4.3.0"
_TARGETS = ("deployment", "pod", "container", "service")


def _blockc_steps(template) -> list[PlannedStep]:
    img = template.image
    base = Step(
        Phase.BASE,
        [
            Copy("blockc/studio-setup.sh", "/opt/blockc/bin/studio-setup.sh", 0o755),
            Copy("blockc/apt-install.sh", "/opt/blockc/bin/apt-install", 0o755),
            Run(
                [
                    (
                        "/opt/blockc/bin/studio-setup.sh",
                        img.user,
                        str(img.uid),
                        str(img.gid),
                        img.workdir,
                        SUPERVISOR,
                    )
                ]
            ),
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
    return [PlannedStep(base, "blockc"), PlannedStep(launch, "blockc")]


def _order_blocks(resolved: Resolved, diags: list[Diagnostic]) -> list[BlockSpec]:
    """Template order, moved only as far as ``after`` needs demand (stable topological sort)."""
    blocks = [b for b, _ in resolved.contributions]
    by_type = defaultdict(list)
    for b in blocks:
        by_type[b.type].append(b)
    deps = {
        b.id: {d.id for t in b.entry.type.after for d in by_type.get(t, ()) if d.id != b.id}
        for b in blocks
    }
    ordered, placed = [], set()
    while len(ordered) < len(blocks):
        ready = next((b for b in blocks if b.id not in placed and deps[b.id] <= placed), None)
        if ready is None:
            stuck = [b for b in blocks if b.id not in placed]
            doc = resolved.template.doc
            names = ", ".join(
                f"'{b.id}' ({b.type}) after {sorted(deps[b.id] - placed)}" for b in stuck
            )
            first = stuck[0]
            line, col = doc.where(first.path)
            diags.append(
                Diagnostic(
                    f"ordering cycle between blocks: {names}",
                    file=doc.file,
                    line=line,
                    col=col,
                    path=first.path,
                    **first.who(),
                )
            )
            return blocks
        ordered.append(ready)
        placed.add(ready.id)
    return ordered


def _owner(owners, path: str) -> str:
    """Who set ``path``: its own entry, else that of the nearest ancestor that has one."""
    while path not in owners:
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return "blockc"
        path = path[:cut]
    return owners[path]


def _merge(base, patch, owners, path, who, conflicts):
    for key, value in patch.items():
        p = f"{path}.{key}"
        if key not in base:
            owners[p] = who
            if isinstance(value, list):  # item by item, so each named item has its owner
                base[key] = []
                _merge_list(base[key], value, owners, p, who, conflicts)
            else:
                base[key] = copy.deepcopy(value)
        elif isinstance(base[key], dict) and isinstance(value, dict):
            _merge(base[key], value, owners, p, who, conflicts)
        elif isinstance(base[key], list) and isinstance(value, list):
            _merge_list(base[key], value, owners, p, who, conflicts)
        elif base[key] != value:
            conflicts.append((p, _owner(owners, p), who, base[key], value))


def _merge_list(base, items, owners, path, who, conflicts):
    named = all(isinstance(i, dict) and "name" in i for i in base + items)
    for item in items:
        if named:
            match = next((b for b in base if b["name"] == item["name"]), None)
            if match is None:
                base.append(copy.deepcopy(item))
                owners[f"{path}[{item['name']}]"] = who
            else:
                _merge(match, item, owners, f"{path}[{item['name']}]", who, conflicts)
        elif item not in base:
            base.append(copy.deepcopy(item))
            owners[f"{path}[{len(base) - 1}]"] = who


def plan(resolved: Resolved) -> Plan:
    template = resolved.template
    doc = template.doc
    diags: list[Diagnostic] = []
    contrib = dict((b.id, c) for b, c in resolved.contributions)
    order = _order_blocks(resolved, diags)

    def at(block: BlockSpec, message: str, *sub):
        path = block.path + tuple(sub)
        line, col = doc.where(path)
        diags.append(
            Diagnostic(message, file=doc.file, line=line, col=col, path=path, **block.who())
        )

    # steps: blockc's base first, launch last, blocks by phase then planned order
    blockc_steps = _blockc_steps(template)
    steps = [blockc_steps[0]]
    for phase in sorted(set(Phase) - {Phase.BASE, Phase.LAUNCH}):
        for block in order:
            steps += [PlannedStep(s, block.id) for s in contrib[block.id].steps if s.phase == phase]
    for block in order:
        for s in contrib[block.id].steps:
            if s.phase in (Phase.BASE, Phase.LAUNCH):
                at(block, f"phase {s.phase.name.lower()} is reserved for blockc")
    steps.append(blockc_steps[1])

    # context files: one owner per path
    files: dict[str, tuple[ContextFile, str]] = {}
    for block in order:
        for f in contrib[block.id].files:
            if not f.path.startswith(f"blocks/{block.id}/"):
                at(
                    block,
                    f"context file {f.path!r} is outside the block's own directory "
                    f"blocks/{block.id}/",
                )
            elif f.path in files:
                at(block, f"context file {f.path!r} written twice")
            else:
                files[f.path] = (f, block.id)

    # apps: unique ids and ports
    apps, ports, app_ids = [], {}, {}
    for block in order:
        for app in contrib[block.id].apps:
            if app.id in app_ids:
                at(block, f"app id '{app.id}' is also used by block '{app_ids[app.id].id}'")
                continue
            if app.port in ports:
                other = ports[app.port]
                at(
                    block,
                    f"port {app.port} is already used by block '{other.id}' "
                    f"({other.type}); give one of them another `port:`",
                    "with",
                )
                continue
            app_ids[app.id], ports[app.port] = block, block
            apps.append((app, block))

    # zones: unique names, no overlapping container paths
    zones = []
    for block in order:
        for zone in contrib[block.id].zones:
            for other, oblock in zones:
                if other.name == zone.name:
                    at(
                        block,
                        f"zone name '{zone.name}' is also used by block '{oblock.id}'",
                        "with",
                    )
                elif _overlap(other.container, zone.container):
                    at(
                        block,
                        f"zone '{zone.name}' container path {zone.container} clashes with "
                        f"zone '{other.name}' ({other.container}) of block '{oblock.id}'",
                        "with",
                    )
                elif _overlap(other.host, zone.host):
                    at(
                        block,
                        f"zone '{zone.name}' host path {zone.host} clashes with zone "
                        f"'{other.name}' ({other.host}) of block '{oblock.id}'",
                        "with",
                    )
            zones.append((zone, block))

    # env: the template's, then blocks'; one value per name
    env: dict[str, tuple[str, str]] = {k: (v, "template") for k, v in template.env.items()}
    for block in order:
        for k, v in contrib[block.id].env.items():
            if k.startswith("BLOCKC_"):
                at(block, f"env var {k}: the BLOCKC_ prefix is reserved")
            elif k in env and env[k][0] != v:
                at(block, f"env var {k} is set to {v!r} here and to {env[k][0]!r} by {env[k][1]!r}")
            else:
                env.setdefault(k, (v, block.id))
    for app, block in apps:
        env[f"BLOCKC_PORT_{env_id(app.id)}"] = (str(app.port), block.id)

    # manifests: blockc's base objects, then each block's patches merged by key
    manifests, owners = base_manifests(template, [a for a, _ in apps], env)
    targets = {
        "deployment": manifests[0],
        "pod": manifests[0]["spec"]["template"]["spec"],
        "container": manifests[0]["spec"]["template"]["spec"]["containers"][0],
        "service": manifests[1],
    }
    prefixes = {
        "deployment": "Deployment",
        "pod": "Deployment.spec.template.spec",
        "container": "Deployment.spec.template.spec.containers[studio]",
        "service": "Service",
    }
    for block in order:
        for patch in contrib[block.id].patches:
            conflicts = []
            _merge(
                targets[patch.target],
                dict(patch.patch),
                owners,
                prefixes[patch.target],
                block.id,
                conflicts,
            )
            for field, first, second, old, new in conflicts:
                at(
                    block,
                    f"manifest field {field} is set to {new!r} here and to {old!r} by '{first}'",
                )
    if diags:
        raise BlockcError(diags)
    return Plan(
        template=template,
        steps=tuple(steps),
        files=tuple(files.values()),
        apps=tuple(apps),
        zones=tuple(zones),
        env=env,
        manifests=tuple(manifests),
        manifest_owners=owners,
    )


def _overlap(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


__all__ = ["plan", "__version__"]
