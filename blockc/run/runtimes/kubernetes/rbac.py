"""What blockc may do in its namespace, and nothing more: ``blockc manifests --rbac``.

Each rule is one call the runtime makes (see :mod:`blockc.run.runtimes.kubernetes`); the
integration tests run blockc with a token of this ServiceAccount, not as cluster admin.
"""

from __future__ import annotations

NAME = "blockc"

RULES = [
    # server-side apply (a PATCH; the API server also asks for create when the object is new)
    # of the studio's Deployment and Service, read first for their labels; deleted by stop
    # and rm; Deployments listed by `status` (one list for all studios)
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "list", "create", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create", "patch", "delete"]},
    # the studio's NetworkPolicy (only the front door's pods reach it), as its Service
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["networkpolicies"],
        "verbs": ["get", "create", "patch", "delete"],
    },
    # the studio's pod: found by its labels, watched until it runs and is ready; read by its
    # name (the one deploy made) before each exec and sync
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    # the main container's log when it crashes
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    # exec (exec, sync, logs) and port-forward (forward): WebSocket upgrades, authorized as
    # get; clusters with AuthorizePodWebsocketUpgradeCreatePermission also ask for create
    {"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"], "verbs": ["get", "create"]},
]


def rbac_manifests(namespace: str, name: str = NAME) -> list[dict]:
    meta = {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": "blockc"}}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": dict(meta),
            "rules": RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": dict(meta),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]
