"""kubernetes: resources, scheduling and metadata patches for the studio's Deployment."""

from __future__ import annotations

from typing import Literal

from ..kit import options
from ..types import BlockContext, BlockType, Contributions, ManifestPatch

QUANTITY = {
    "type": ["string", "integer", "number"],
    "pattern": r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$",
    "x-kind": "Kubernetes quantity (e.g. 500m, 2Gi)",
}
RESOURCE_LIST = {
    "type": "object",
    "propertyNames": {"pattern": r"^([a-z0-9.-]+/)?[a-z0-9]([-a-z0-9._]*[a-z0-9])?$"},
    "additionalProperties": QUANTITY,
}
LABEL_KEY = {
    "maxLength": 316,
    "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
}
LABELS = {
    "type": "object",
    "propertyNames": LABEL_KEY
    | {
        "not": {"pattern": "^blockc\\.dev/"},
        "x-kind": "label key (the blockc.dev/ prefix is reserved)",
    },
    "additionalProperties": {
        "type": "string",
        "maxLength": 63,
        "pattern": r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$",
    },
}
ANNOTATIONS = {
    "type": "object",
    "propertyNames": LABEL_KEY,
    "additionalProperties": {"type": "string", "maxLength": 65536},
}
DNS_SUBDOMAIN = {
    "type": "string",
    "maxLength": 253,
    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    "x-kind": "DNS-1123 subdomain",
}
TOLERATION = options(
    {
        "key": {"type": "string", **LABEL_KEY, "x-kind": "taint key (a label key)"},
        "operator": {"enum": ["Exists", "Equal"]},
        "value": {
            "type": "string",
            "maxLength": 63,
            "pattern": r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$",
            "x-kind": "taint value (a label value)",
        },
        "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
        "tolerationSeconds": {"type": "integer"},
    }
)


def _contribute(ctx: BlockContext) -> Contributions:
    """One patch per option, each carrying its option: the admin's values, which win over what
    other blocks' plugins set (docs/plugins.md, "Admin overrides")."""
    o = ctx.options
    patches = []

    def patch(
        option: str, target: Literal["pod", "container", "deployment"], content: dict
    ) -> None:
        if option in o:
            patches.append(ManifestPatch(target, content, option=(option,)))

    patch("resources", "container", {"resources": o.get("resources")})
    for key in ("nodeSelector", "tolerations", "serviceAccountName"):
        patch(key, "pod", {key: o.get(key)})
    patch(
        "imagePullSecrets",
        "pod",
        {"imagePullSecrets": [{"name": n} for n in o.get("imagePullSecrets", ())]},
    )
    for key in ("labels", "annotations"):
        meta = {key: o.get(key)}
        patch(key, "deployment", {"metadata": meta, "spec": {"template": {"metadata": meta}}})
    return Contributions(patches=patches)


KUBERNETES = BlockType(
    name="kubernetes",
    description="Kubernetes settings for the studio's pod: resources, scheduling, metadata.",
    schema=options(
        {
            "resources": options({"requests": RESOURCE_LIST, "limits": RESOURCE_LIST}),
            "nodeSelector": LABELS,
            "tolerations": {"type": "array", "maxItems": 64, "items": TOLERATION},
            "annotations": ANNOTATIONS,
            "labels": LABELS,
            "serviceAccountName": DNS_SUBDOMAIN,
            "imagePullSecrets": {"type": "array", "maxItems": 16, "items": DNS_SUBDOMAIN},
        }
    ),
    contribute=_contribute,
)
