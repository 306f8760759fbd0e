"""kubernetes: resources, scheduling and metadata patches for the studio's Deployment."""

from __future__ import annotations

from ..types import BlockContext, BlockType, Contributions, ManifestPatch
from .options import options

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
    "propertyNames": LABEL_KEY,
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
        "key": {"type": "string", "maxLength": 316},
        "operator": {"enum": ["Exists", "Equal"]},
        "value": {"type": "string", "maxLength": 63},
        "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
        "tolerationSeconds": {"type": "integer"},
    }
)


def _contribute(ctx: BlockContext) -> Contributions:
    o = ctx.options
    patches = []
    for key in o.get("labels", {}):
        if key.startswith("blockc.dev/"):
            ctx.error(f"label {key}: the blockc.dev/ prefix is reserved", "labels", key)
    if "resources" in o:
        patches.append(ManifestPatch("container", {"resources": o["resources"]}))
    pod = {}
    if "nodeSelector" in o:
        pod["nodeSelector"] = o["nodeSelector"]
    if "tolerations" in o:
        pod["tolerations"] = o["tolerations"]
    if "serviceAccountName" in o:
        pod["serviceAccountName"] = o["serviceAccountName"]
    if "imagePullSecrets" in o:
        pod["imagePullSecrets"] = [{"name": n} for n in o["imagePullSecrets"]]
    if pod:
        patches.append(ManifestPatch("pod", pod))
    meta = {}
    if "labels" in o:
        meta["labels"] = o["labels"]
    if "annotations" in o:
        meta["annotations"] = o["annotations"]
    if meta:
        patches.append(
            ManifestPatch(
                "deployment", {"metadata": meta, "spec": {"template": {"metadata": meta}}}
            )
        )
    return Contributions(patches=patches)


KUBERNETES = BlockType(
    name="kubernetes",
    description="Kubernetes settings for the studio's pod: resources, scheduling, metadata.",
    schema=options(
        {
            "resources": options({"requests": RESOURCE_LIST, "limits": RESOURCE_LIST}),
            "nodeSelector": LABELS,
            "tolerations": {"type": "array", "items": TOLERATION},
            "annotations": ANNOTATIONS,
            "labels": LABELS,
            "serviceAccountName": DNS_SUBDOMAIN,
            "imagePullSecrets": {"type": "array", "items": DNS_SUBDOMAIN},
        }
    ),
    contribute=_contribute,
)
