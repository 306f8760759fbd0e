"""What runs the front door in a Kubernetes cluster: ``blockc serve --manifests``.

One replica (one front door per site: its state is one SQLite database, on a volume of its
own), as a non-root user with no privileges, under a ServiceAccount bound to the Role of
:mod:`blockc.run.runtimes.kubernetes.rbac` (what the kubernetes runtime does, in the site's
namespace, and nothing else). Its pods carry :data:`blockc.names.FRONT_DOOR_LABELS`, the one
label a studio's NetworkPolicy admits. Inside the cluster the front door reaches each studio
at its Service; it builds no image (there is no builder in its pod): studio images come from
the site's registry, pushed there by ``blockc build --push`` (a CI job, say).
"""

from __future__ import annotations

from .. import __version__
from ..names import FRONT_DOOR_LABELS
from ..run.runtimes.kubernetes.rbac import rbac_manifests

NAME = "blockc-serve"
PORT = 8750
HOME = "/var/lib/blockc"
UID = 10001


def front_door_manifests(
    namespace: str, image: str, *, registry: str | None = None, storage: str = "1Gi"
) -> list[dict]:
    labels = {"app.kubernetes.io/name": NAME, **FRONT_DOOR_LABELS}
    meta = {"name": NAME, "namespace": namespace, "labels": dict(labels)}
    env = [
        {"name": "BLOCKC_HOME", "value": HOME},
        {"name": "BLOCKC_RUNTIME", "value": "kubernetes"},
        {"name": "BLOCKC_NAMESPACE", "value": namespace},
        {"name": "HOME", "value": HOME},
    ]
    if registry:
        env.append({"name": "BLOCKC_REGISTRY", "value": registry})
    rbac = rbac_manifests(namespace, NAME)
    for obj in rbac:
        obj["metadata"]["labels"] = dict(labels)
    return [
        *rbac,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {**meta, "name": f"{NAME}-state"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": storage}},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": dict(meta),
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},  # (never two on one database)
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "serviceAccountName": NAME,
                        "automountServiceAccountToken": True,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": UID,
                            "runAsGroup": UID,
                            "fsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "serve",
                                "image": image,
                                "command": ["blockc", "serve", "--listen", f"0.0.0.0:{PORT}"],
                                "env": env,
                                "ports": [
                                    {"name": "http", "containerPort": PORT},
                                    # (the apps' own origin: blockc/serve/origins.py)
                                    {"name": "apps", "containerPort": PORT + 1},
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/api/v1/openapi.json", "port": "http"},
                                    "periodSeconds": 5,
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [
                                    {"name": "state", "mountPath": HOME},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "state",
                                "persistentVolumeClaim": {"claimName": f"{NAME}-state"},
                            },
                            {"name": "tmp", "emptyDir": {}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": dict(meta),
            "spec": {
                "selector": dict(labels),
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http"},
                    {"name": "apps", "port": PORT + 1, "targetPort": "apps"},
                ],
            },
        },
    ]


def default_image(registry: str | None) -> str | None:
    """The front door's image in the site's registry, tagged with this blockc's version."""
    return f"{registry.rstrip('/')}/blockc:{__version__}" if registry else None
