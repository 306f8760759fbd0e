"""The front door on Kubernetes (issue 15): every studio gets a NetworkPolicy that admits only
the front door's pods; `blockc serve`, run in a pod of the cluster as the site's
ServiceAccount, reaches a studio through its Service (the gateway) and answers its owner
only."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kube_site import ROOT, WEB, Site, wait_for


@pytest.fixture
def site(cluster, namespace, tmp_path, kubectl):
    return Site(cluster, namespace, tmp_path, kubectl)


def get(url: str, token: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_front_door_in_the_cluster_reaches_its_owners_studio(site, kubectl):
    for user in ("alice", "bob"):
        site.run("users", "add", user, "--no-password", check=0)
    tokens = {
        u: site.run("tokens", "create", "--user", u, check=0).stdout.split()[0]
        for u in ("alice", "bob")
    }
    t = site.template("kfd", WEB)
    site.run("start", t, "--studio", "kfd", "--owner", "alice", check=0)

    # the studio's NetworkPolicy: its pod, from the front door's pods only, on its app's port
    policies = json.loads(
        kubectl(
            "-n", site.namespace, "get", "networkpolicy", "-l", "blockc.dev/studio=kfd", "-o", "json"
        ).stdout
    )["items"]  # fmt: skip
    assert len(policies) == 1
    spec = policies[0]["spec"]
    assert spec["podSelector"]["matchLabels"]["blockc.dev/studio"] == "kfd"
    assert spec["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"blockc.dev/role": "front-door"}}}],
            "ports": [{"port": 8000, "protocol": "TCP"}],
        }
    ]

    # blockc serve in a pod, as the front door's manifests label it: this blockc and its Python
    # from the host (read-only), the site's home (its state) too
    image = kubectl(
        "-n",
        site.namespace,
        "get",
        "deploy",
        "-l",
        "blockc.dev/studio=kfd",
        "-o",
        "jsonpath={.items[0].spec.template.spec.containers[0].image}",
    ).stdout  # fmt: skip (a studio image: already on the node)
    python = Path(sys.executable)
    mounts = {"home": site.home, "code": ROOT, "python": Path(os.path.realpath(python)).parents[2]}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "blockc-serve", "labels": {"blockc.dev/role": "front-door"}},
        "spec": {
            "serviceAccountName": "blockc",
            "automountServiceAccountToken": True,
            "securityContext": {"runAsUser": 0},  # (to read the host's Python under /root)
            "containers": [
                {
                    "name": "serve",
                    "image": image,
                    "command": [str(python), "-m", "blockc", "serve", "--listen", "0.0.0.0:8750"],
                    "env": [
                        {"name": "BLOCKC_HOME", "value": str(site.home)},
                        {"name": "BLOCKC_RUNTIME", "value": "kubernetes"},
                        {"name": "BLOCKC_NAMESPACE", "value": site.namespace},
                        {"name": "HOME", "value": "/nonexistent"},
                        {"name": "BLOCKC_RESIDENT", "value": "0"},
                    ],
                    "readinessProbe": {"httpGet": {"path": "/api/v1/openapi.json", "port": 8750}},
                    "volumeMounts": [
                        {"name": n, "mountPath": str(p), "readOnly": n != "home"}
                        for n, p in mounts.items()
                    ],
                }
            ],
            "volumes": [
                {"name": n, "hostPath": {"path": str(p), "type": "Directory"}}
                for n, p in mounts.items()
            ],
        },
    }
    kubectl("-n", site.namespace, "apply", "-f", "-", input=json.dumps(pod))
    try:

        def address():
            out = kubectl(
                "-n", site.namespace, "get", "pod", "blockc-serve", "-o",
                "jsonpath={.status.podIP} {.status.containerStatuses[0].ready}",
            ).stdout.split()  # fmt: skip
            return out[0] if len(out) == 2 and out[1] == "true" else None

        ip = wait_for(address, 120, "the front door's pod to be ready")
        base = f"http://{ip}:8750/studios/kfd/web/"
        assert wait_for(lambda: get(base, tokens["alice"]) == 200, 30, "the app through it")
        assert get(base) == 401
        assert get(base, tokens["bob"]) == 403
    finally:
        log = kubectl("-n", site.namespace, "logs", "blockc-serve").stdout
        kubectl("-n", site.namespace, "delete", "pod", "blockc-serve", "--grace-period=1")
        print(log)
    site.run("rm", "kfd", check=0)
    assert (
        json.loads(kubectl("-n", site.namespace, "get", "networkpolicy", "-o", "json").stdout)[
            "items"
        ]
        == []
    )
