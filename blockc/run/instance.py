"""One studio's objects: the artifact's manifests made into one studio's (its name, owner,
labels, image and run-time env vars, SPEC §6)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..names import (
    CONTAINER,
    FRONT_DOOR_LABELS,
    GATE_PORT,
    LABEL_INSTALLATION,
    LABEL_OWNER,
    LABEL_STUDIO,
    LABEL_TEMPLATE,
    object_name,
)
from ..types import env_id
from .gate import SECRET_ENV as GATE_SECRET_ENV


def base_path(studio: str, app_id: str) -> str:
    return f"/studios/{studio}/{app_id}/"


def instance_manifests(
    manifests: list[dict],
    studio_json: Mapping[str, Any],
    *,
    studio: str,
    owner: str,
    image: str,
    host_ports: dict[str, int] | None = None,
    gate: tuple[int, str] | None = None,
    podman: bool = False,
    namespace: str | None = None,
    installation: str | None = None,
) -> list[dict]:
    """The artifact's manifests made into one studio's: names, labels, env, image.

    ``host_ports`` (app id -> port) publishes app ports on 127.0.0.1 (podman runtime). Users
    then reach each app directly, with no gateway in front: a ``strip`` app is served at ``/``
    there, so its ``BLOCKC_BASE_PATH_<ID>`` is ``/`` (behind a gateway it is the app's prefix,
    which the gateway strips).

    ``gate`` (host port, secret) publishes the studio's gate instead, on 127.0.0.1, and gives
    the studio its secret (podman runtime behind the front door, ``blockc/run/gate.py``).

    On Kubernetes (not ``podman``) a NetworkPolicy goes with them: the studio's pod takes
    connections from the front door's pods only (``blockc serve --manifests``), on its apps'
    ports; not from other studios, nor from anything else in the cluster.

    ``podman``: for podman's ``kube play``, which publishes every ``containerPort`` that has no
    ``hostPort`` on every address of the host, at its own number. There only what blockc
    publishes is left: the app ports of ``host_ports``, or the gate; every other port entry,
    of any container, is dropped (they say nothing to podman but "publish me").

    ``installation`` (the id of a blockc installation, which runs these objects) is put in
    their names and on them as a label: one podman, or one namespace, may hold studios of one
    name from several installations, and each acts only on its own.
    """
    out = copy.deepcopy(manifests)
    name = object_name(studio, installation) if installation else f"studio-{studio}"
    labels = {LABEL_STUDIO: studio, LABEL_OWNER: owner, LABEL_TEMPLATE: studio_json["name"]}
    selector = {LABEL_STUDIO: studio}
    if installation:
        labels[LABEL_INSTALLATION] = installation
        selector[LABEL_INSTALLATION] = installation
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
            spec["selector"]["matchLabels"] = dict(selector)
            spec["template"]["metadata"].setdefault("labels", {}).update(labels)
            container = next(
                c for c in spec["template"]["spec"]["containers"] if c["name"] == CONTAINER
            )
            container["image"] = image
            container["env"] = env + container.get("env", [])
            if podman:
                _publish(spec["template"]["spec"], container, studio_json, host_ports, gate)
        elif obj["kind"] == "Service":
            obj["spec"]["selector"] = dict(selector)
    if not podman:
        out.append(_network_policy(name, labels, selector, studio_json, namespace))
    return out


def _network_policy(
    name: str,
    labels: dict[str, str],
    selector: dict[str, str],
    studio_json: Mapping[str, Any],
    namespace: str | None,
) -> dict:
    ports = [{"port": a["port"], "protocol": "TCP"} for a in studio_json["apps"]]
    ingress = [{"from": [{"podSelector": {"matchLabels": dict(FRONT_DOOR_LABELS)}}]}]
    if ports:
        ingress[0]["ports"] = ports
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": {
            "podSelector": {"matchLabels": dict(selector)},
            "policyTypes": ["Ingress"],
            "ingress": ingress if ports else [],
        },
    }


def _publish(
    pod: dict,
    main: dict,
    studio_json: Mapping[str, Any],
    host_ports: dict[str, int] | None,
    gate: tuple[int, str] | None,
) -> None:
    by_port = {a["port"]: a["id"] for a in studio_json["apps"]}
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        kept = []
        for port in container.get("ports", []) if container is main and not gate else []:
            app_id = by_port.get(port.get("containerPort"))
            if host_ports and app_id in host_ports:
                kept.append({**port, "hostPort": host_ports[app_id], "hostIP": "127.0.0.1"})
        if container is main and gate is not None:
            kept = [
                {
                    "name": "blockc-gate",
                    "containerPort": GATE_PORT,
                    "hostPort": gate[0],
                    "hostIP": "127.0.0.1",
                    "protocol": "TCP",
                }
            ]
            container.setdefault("env", []).append({"name": GATE_SECRET_ENV, "value": gate[1]})
        if kept:
            container["ports"] = kept
        else:
            container.pop("ports", None)
