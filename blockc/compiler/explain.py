"""Explain: the artifact with each Containerfile line, app, zone, env var, manifest field and
context file attributed to the block that produced it (``blockc explain``)."""

from __future__ import annotations

import json

from .model import Artifact, Override


def explain(artifact: Artifact, fmt: str = "text") -> str:
    studio = artifact.studio
    provenance = studio["provenance"]
    if fmt == "json":
        return json.dumps(
            {
                "hash": artifact.hash,
                "provenance": provenance,
                "apps": studio["apps"],
                "zones": studio["zones"],
                "root": [
                    n for n, line in enumerate(artifact.containerfile, 1) if line.user == "root"
                ],
            },
            indent=2,
        )
    owners = [line.owner for line in artifact.containerfile] + [
        *provenance["manifests"].values(),
        *provenance["context"].values(),
    ]
    width = max(len(o) for o in owners)
    out = [f"# artifact {artifact.hash} (image {artifact.image_ref})", "", "## Containerfile"]
    out += ['(each line\'s block; "root": a command that runs as root)']
    out += [
        f"{line.owner:>{width}} {'root' if line.user == 'root' else '    '} | {line.text}"
        for line in artifact.containerfile
    ]
    out += ["", "## Apps"]
    out += [
        f"{a['block']:>{width}} | {a['id']}: port {a['port']}, path {a['path']}, "
        f"health {a['health']}, websocket {a['websocket']}"
        for a in studio["apps"]
    ] or ["  (none)"]
    out += ["", "## Sync zones"]
    out += [
        f"{z['block']:>{width}} | {z['name']}: {z['host']} <-> {z['container']} ({z['direction']})"
        for z in studio["zones"]
    ] or ["  (none)"]
    out += ["", "## Env"]
    out += [f"{provenance['env'][k]:>{width}} | {k}={v}" for k, v in studio["env"].items()] or [
        "  (none)"
    ]
    out += ["", "## Manifest fields"]
    out += [
        f"{owner:>{width}} | {field}"
        + ("" if owner == "blockc" else f" = {_field_value(artifact.manifests, field)}")
        for field, owner in provenance["manifests"].items()
    ]
    out += ["", "## Build context"]
    out += [f"{owner:>{width}} | {path}" for path, owner in provenance["context"].items()]
    out += ["", "## Overrides (a plugin's values replaced: by the template's, or by a free port)"]
    out += [
        f"{o['block']:>{width}} | {Override(**o).describe()}"
        for o in provenance.get("overrides", ())
    ] or ["  (none)"]
    return "\n".join(out)


def _field_value(manifests, field: str) -> str:
    """The value of a manifest field named as provenance names it (``Deployment.spec.x``,
    ``containers[studio]``: the list item of that name), as compact JSON."""
    import re

    kind, _, path = field.partition(".")
    node = next((m for m in manifests if m["kind"] == kind), None)
    for key, name in re.findall(r"([^.\[\]]+)(?:\[([^\]]+)\])?", path):
        if not isinstance(node, dict):
            return "?"
        node = node.get(key)
        if name:
            node = next(
                (i for i in node or () if isinstance(i, dict) and i.get("name") == name), None
            )
    text = json.dumps(node, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."
