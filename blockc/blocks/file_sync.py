"""file-sync: zones synced between the host workspace and the studio (SPEC §7)."""

from __future__ import annotations

import re

from ..kit import ABS_PATH, NO_CONTROL, REL_PATH, options
from ..types import BlockContext, BlockType, Contributions, Phase, Run, Step, Zone

EXCLUDE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1024,
    "pattern": NO_CONTROL,
    "x-kind": "gitignore pattern",
}
RESERVED = (
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib64",
    "/opt/blockc",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/log/blockc",
    "/opt/studio/venv",
)


_RESERVED_PATTERN = (
    "^(?:/+|(?:" + "|".join(re.escape(r) for r in RESERVED if r != "/") + ")(?:/.*)?)$"
)
CONTAINER = ABS_PATH | {
    "description": "Directory in the studio.",
    # (in allOf: ABS_PATH's own "not" stays)
    "allOf": [
        {
            "not": {"pattern": _RESERVED_PATTERN},
            "x-kind": "sync path: not a system directory (/etc, /usr, /opt/blockc, ...); "
            "zones go in the studio user's space",
        }
    ],
}
SIZE = {  # as blockc/sync/limits.py reads it
    "type": ["integer", "string"],
    "minimum": 0,
    "pattern": r"^(?:[0-9]+(?:\.[0-9]+)?\s*(?:[kKmMgGtT](?:i?[bB])?|[bB])?|[nN][oO][nN][eE])$",
    "x-kind": "size (bytes, or like 512M, 4G; none: no limit)",
}
LIMITS = options(
    {
        "max_file": SIZE
        | {"description": "The largest file a pull writes on the host (site default: 4G)."},
        "max_total": SIZE
        | {"description": "The bytes one sync of the zone pulls at most (site default: 16G)."},
    },
    description="What a pull of this zone may write on the host, over the site's settings "
    "sync_max_file and sync_max_total: a file over them is reported and left in the studio.",
)
ZONE = options(
    {
        "name": {
            "type": "string",
            "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "maxLength": 40,
            "x-kind": "zone name (a DNS-1123 label)",
        },
        "host": REL_PATH | {"description": "Host directory, relative to the studio's --workspace."},
        "container": CONTAINER,
        "direction": {"enum": ["both", "in", "out"]},
        "exclude": {"type": "array", "maxItems": 256, "items": EXCLUDE},
        "limits": LIMITS,
    },
    required=("name", "host", "container"),
)


def _contribute(ctx: BlockContext) -> Contributions:
    common = list(ctx.options.get("exclude", []))
    zones = []
    for z in ctx.options["zones"]:
        container = z["container"].rstrip("/")  # (the schema keeps system directories out)
        excludes = common + list(z.get("exclude", []))
        zones.append(
            Zone(
                z["name"],
                z["host"].rstrip("/"),
                container,
                z.get("direction", "both"),
                tuple(excludes),
                z.get("limits", {}),
            )
        )
    dirs = tuple(z.container for z in zones)
    steps = []
    if dirs:  # the zone directories exist in the image and belong to the studio user
        img = ctx.image
        steps = [
            Step(
                Phase.CONFIG,
                [
                    Run(
                        [
                            ("mkdir", "-p", "--", *dirs),
                            ("chown", f"{img.uid}:{img.gid}", "--", *dirs),
                        ],
                        user="root",
                    )
                ],
            )
        ]
    return Contributions(zones=zones, steps=steps)


FILE_SYNC = BlockType(
    name="file-sync",
    description="Sync zones: host directories (relative to the workspace) <-> studio paths.",
    schema=options(
        {
            # (zones are compared pairwise: a bound keeps that quick)
            "zones": {"type": "array", "minItems": 1, "maxItems": 64, "items": ZONE},
            "exclude": {
                "type": "array",
                "maxItems": 256,
                "items": EXCLUDE,
                "description": "gitignore-style patterns excluded in every zone.",
            },
        },
        required=("zones",),
    ),
    contribute=_contribute,
)
