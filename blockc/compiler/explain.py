"""``blockc explain``: the artifact with each line and field attributed to its block."""

from __future__ import annotations

import json

from .model import Artifact


def explain(artifact: Artifact, fmt: str = "text") -> str:
    studio = artifact.studio
    prov = studio["provenance"]
    if fmt == "json":
        return json.dumps(
            {
                "hash": artifact.hash,
                "provenance": prov,
                "apps": studio["apps"],
                "zones": studio["zones"],
            },
            indent=2,
        )
    lines = artifact.files["Containerfile"][0].decode().splitlines()
    width = max(len(o) for o in artifact.containerfile_owners)
    out = [f"# artifact {artifact.hash} (image {artifact.image_ref})", "", "## Containerfile"]
    out += [
        f"{owner:>{width}} | {line}" for owner, line in zip(artifact.containerfile_owners, lines)
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
    out += [f"{prov['env'][k]:>{width}} | {k}={v}" for k, v in studio["env"].items()] or [
        "  (none)"
    ]
    out += ["", "## Manifest fields"]
    out += [f"{o:>{width}} | {p}" for p, o in prov["manifests"].items()]
    out += ["", "## Build context"]
    out += [f"{o:>{width}} | {p}" for p, o in prov["context"].items()]
    return "\n".join(out)
