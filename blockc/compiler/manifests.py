"""Kubernetes objects: the artifact's Deployment and Service, independent of any one studio
(``blockc.run.instance`` makes them one studio's)."""

from __future__ import annotations

from typing import Any

from ..names import CONTAINER, LABEL_TEMPLATE
from ..types import App

HEALTH = ["/opt/blockc/venv/bin/python", "/opt/blockc/launch.py", "health"]


def kube_literal(value: str) -> str:
    """An env value as Kubernetes passes it on unchanged: it expands `$(VAR)` and reads `$$` as
    `$`, so every `$` is doubled (podman's kube play expands nothing: the podman runtime
    halves them again)."""
    return value.replace("$", "$$")


def port_name(app: App) -> str:
    """An IANA service name (at most 15 characters) for the app's port."""
    return f"p{app.port}"


def base_manifests(template, apps: list[App], env: dict) -> tuple[list[dict], dict]:
    img = template.image
    labels = {**template.labels, LABEL_TEMPLATE: template.name}
    selector = {LABEL_TEMPLATE: template.name}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": f"localhost/blockc/{template.name}",
        "imagePullPolicy": "IfNotPresent",
        "workingDir": img.workdir,
        "env": [{"name": k, "value": kube_literal(v)} for k, (v, _) in sorted(env.items())],
        "ports": [{"name": port_name(a), "containerPort": a.port, "protocol": "TCP"} for a in apps],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": img.uid,
            "runAsGroup": img.gid,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        # every app answers its health check; while the studio starts, checked each second
        # (Ready ~2 s sooner than a 5 s period alone: measured 3.5 s against 5.5-7 s for an app
        # up after 2 s), allowed an hour (apps wait for the sync-in of a whole workspace)
        "startupProbe": {
            "exec": {"command": HEALTH},
            "periodSeconds": 1,
            "timeoutSeconds": 4,
            "failureThreshold": 3600,
        },
        "readinessProbe": {
            "exec": {"command": HEALTH},
            "periodSeconds": 5,
            "timeoutSeconds": 4,
            "failureThreshold": 3,
        },
    }
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": template.name, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": dict(selector)},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": {}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": img.uid,
                        "runAsGroup": img.gid,
                        "fsGroup": img.gid,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                },
            },
        },
    }
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": template.name, "labels": dict(labels)},
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [
                {
                    "name": port_name(a),
                    "port": a.port,
                    "targetPort": port_name(a),
                    "protocol": "TCP",
                }
                for a in apps
            ],
        },
    }
    if not apps:  # a headless Service: still names the studio, exposes nothing
        service["spec"]["clusterIP"] = "None"
        del service["spec"]["ports"]
    if not deployment["spec"]["template"]["metadata"]["annotations"]:
        del deployment["spec"]["template"]["metadata"]["annotations"]
    return [deployment, service], {"Deployment": "blockc", "Service": "blockc"}
