"""Kubernetes objects: the artifact's instance-independent Deployment and Service, and the
instance manifests of one studio (name, owner, labels, env, image)."""

from __future__ import annotations

import copy

from ..names import CONTAINER, LABEL_OWNER, LABEL_STUDIO, LABEL_TEMPLATE
from ..types import App, env_id


def port_name(app: App) -> str:
    """An IANA service name (at most 15 characters) for the app's port."""
    return f"p{app.port}"


def base_manifests(template, apps: list[App], env: dict) -> tuple[list[dict], dict]:
    img = template.image
    labels = {**template.labels, LABEL_TEMPLATE: template.name}
    selector = {LABEL_TEMPLATE: template.name}
    container = {
        "name": CONTAINER,
        "image": f"localhost/blockc/{template.name}",
        "imagePullPolicy": "IfNotPresent",
        "workingDir": img.workdir,
        "env": [{"name": k, "value": v} for k, (v, _) in sorted(env.items())],
        "ports": [{"name": port_name(a), "containerPort": a.port, "protocol": "TCP"} for a in apps],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": img.uid,
            "runAsGroup": img.gid,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "readinessProbe": {
            "exec": {"command": ["/opt/blockc/venv/bin/python", "/opt/blockc/launch.py", "health"]},
            "periodSeconds": 5,
            "timeoutSeconds": 4,
            "failureThreshold": 3,
        },
    }
    deployment = {
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
    service = {
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


def base_path(studio: str, app_id: str) -> str:
    return f"/studios/{studio}/{app_id}/"


def instance_manifests(
    manifests: list[dict],
    studio_json: dict,
    *,
    studio: str,
    owner: str,
    image: str,
    host_ports: dict[str, int] | None = None,
    namespace: str | None = None,
) -> list[dict]:
    """The artifact's manifests made into one studio's: names, labels, env, image.

    ``host_ports`` (app id -> port) publishes app ports on 127.0.0.1 (podman runtime). Users
    then reach each app directly, with no gateway in front: a ``strip`` app is served at ``/``
    there, so its ``BLOCKC_BASE_PATH_<ID>`` is ``/`` (behind a gateway it is the app's prefix,
    which the gateway strips).
    """
    out = copy.deepcopy(manifests)
    name = f"studio-{studio}"
    labels = {LABEL_STUDIO: studio, LABEL_OWNER: owner, LABEL_TEMPLATE: studio_json["name"]}
    env = [{"name": "BLOCKC_STUDIO", "value": studio}, {"name": "BLOCKC_OWNER", "value": owner}]
    env += [
        {
            "name": f"BLOCKC_BASE_PATH_{env_id(a['id'])}",
            "value": "/" if host_ports and a["path"] == "strip" else base_path(studio, a["id"]),
        }
        for a in studio_json["apps"]
    ]
    for obj in out:
        obj["metadata"]["name"] = name
        obj["metadata"].setdefault("labels", {}).update(labels)
        if namespace:
            obj["metadata"]["namespace"] = namespace
        if obj["kind"] == "Deployment":
            spec = obj["spec"]
            spec["selector"]["matchLabels"] = {LABEL_STUDIO: studio}
            spec["template"]["metadata"].setdefault("labels", {}).update(labels)
            container = next(
                c for c in spec["template"]["spec"]["containers"] if c["name"] == CONTAINER
            )
            container["image"] = image
            container["env"] = env + container.get("env", [])
            by_port = {a["port"]: a["id"] for a in studio_json["apps"]}
            for port in container.get("ports", []):
                app_id = by_port.get(port["containerPort"])
                if host_ports and app_id in host_ports:
                    port["hostPort"] = host_ports[app_id]
                    port["hostIP"] = "127.0.0.1"
        elif obj["kind"] == "Service":
            obj["spec"]["selector"] = {LABEL_STUDIO: studio}
    return out
