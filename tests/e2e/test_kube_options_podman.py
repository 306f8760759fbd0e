"""A template with every option of the `kubernetes` block still runs on podman: `podman kube
play` takes its manifests (scheduling fields it has no use for are ignored, not errors)."""

from __future__ import annotations

from blockc import testing


def test_kubernetes_block_options_run_on_podman(tmp_path):
    data = testing.template(
        {"type": "port", "with": {"port": 8000}},
        {
            "type": "kubernetes",
            "with": {
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"memory": "1Gi"},
                },
                "nodeSelector": {"kubernetes.io/hostname": "k8slab-node"},
                "tolerations": [
                    {
                        "key": "dedicated",
                        "operator": "Equal",
                        "value": "studios",
                        "effect": "NoSchedule",
                    }
                ],
                "annotations": {"example.com/cost-center": "42"},
                "labels": {"team": "data"},
                "serviceAccountName": "studio-runner",
                "imagePullSecrets": ["regcred"],
            },
        },
        base=testing.LOCAL_BASE,
    )
    path = testing.write_template(tmp_path / "t", data)
    with testing.run_studio(path, home=tmp_path / "home") as studio:
        assert studio.exec("id", "-u").stdout.strip() == "1000"
