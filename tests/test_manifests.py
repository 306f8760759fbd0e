"""Generated Kubernetes objects pass kubernetes-validate --strict, as artifact and per instance."""

from __future__ import annotations

import pytest
import yaml
from compiler_support import EXAMPLE_FILES, EXAMPLES, compile_example

from blockc.compiler.validate import check_manifests
from blockc.names import LABEL_OWNER, LABEL_STUDIO, LABEL_TEMPLATE
from blockc.run.instance import instance_manifests

IDS = [p.stem for p in EXAMPLE_FILES]


def objects(artifact):
    return list(yaml.safe_load_all(artifact.files["manifests.yaml"][0]))


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=IDS)
def test_artifact_manifests_are_strictly_valid(example, installed_registry):
    artifact = compile_example(example, installed_registry)
    assert check_manifests(list(artifact.manifests)) == []
    kinds = [o["kind"] for o in objects(artifact)]
    assert kinds[:2] == ["Deployment", "Service"]


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=IDS)
def test_instance_manifests_are_strictly_valid(example, installed_registry):
    artifact = compile_example(example, installed_registry)
    out = instance_manifests(
        objects(artifact),
        artifact.studio,
        studio="alice-lab",
        owner="alice",
        image=artifact.image_ref,
        namespace="studios",
        host_ports={a["id"]: 20000 + n for n, a in enumerate(artifact.studio["apps"])},
        podman=True,
    )
    assert check_manifests(out) == []
    labels = {
        LABEL_STUDIO: "alice-lab",
        LABEL_OWNER: "alice",
        LABEL_TEMPLATE: artifact.studio["name"],
    }
    for obj in out:
        assert labels.items() <= obj["metadata"]["labels"].items()
        assert obj["metadata"]["namespace"] == "studios"
    dep = out[0]
    pod = dep["spec"]["template"]
    assert labels.items() <= pod["metadata"]["labels"].items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert dep["spec"]["replicas"] == 1
    container = pod["spec"]["containers"][0]
    assert container["image"] == artifact.image_ref
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "readinessProbe" in container
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BLOCKC_STUDIO"] == "alice-lab" and env["BLOCKC_OWNER"] == "alice"
    for app in artifact.studio["apps"]:
        key = app["id"].upper().replace("-", "_")
        assert env[f"BLOCKC_PORT_{key}"] == str(app["port"])
        # published directly on the host (no gateway): strip apps are served at /
        want = "/" if app["path"] == "strip" else f"/studios/alice-lab/{app['id']}/"
        assert env[f"BLOCKC_BASE_PATH_{key}"] == want


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=IDS)
def test_behind_a_gateway_every_app_has_its_prefix(example, installed_registry):
    artifact = compile_example(example, installed_registry)
    out = instance_manifests(
        objects(artifact), artifact.studio, studio="bob-lab", owner="bob", image=artifact.image_ref
    )
    env = {
        e["name"]: e["value"] for e in out[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    for app in artifact.studio["apps"]:
        key = app["id"].upper().replace("-", "_")
        assert env[f"BLOCKC_BASE_PATH_{key}"] == f"/studios/bob-lab/{app['id']}/"


def published(objs) -> list[tuple[str, int, int | None, str | None]]:
    pod = objs[0]["spec"]["template"]["spec"]
    return [
        (c["name"], p["containerPort"], p.get("hostPort"), p.get("hostIP"))
        for c in pod["containers"] + pod.get("initContainers", [])
        for p in c.get("ports", [])
    ]


def with_sidecar(objs):
    """A second container with a port of its own (as a kubernetes block's patch adds one)."""
    pod = objs[0]["spec"]["template"]["spec"]
    pod["containers"].append(
        {"name": "side", "image": "x", "ports": [{"containerPort": 9999, "protocol": "TCP"}]}
    )
    pod["initContainers"] = [{"name": "init", "image": "x", "ports": [{"containerPort": 9998}]}]
    return objs


def test_podman_publishes_only_what_blockc_publishes(installed_registry):
    """podman's kube play publishes a containerPort without hostPort on every address of the
    host: on podman, only the app ports blockc assigns (on 127.0.0.1) are left."""
    artifact = compile_example(EXAMPLES / "minimal.yaml", installed_registry)
    out = instance_manifests(
        with_sidecar(objects(artifact)),
        artifact.studio,
        studio="s",
        owner="o",
        image="i",
        host_ports={"web": 20001},
        podman=True,
    )
    assert published(out) == [("studio", 8000, 20001, "127.0.0.1")]
    # behind the front door: the gate's port alone, and its secret
    out = instance_manifests(
        with_sidecar(objects(artifact)),
        artifact.studio,
        studio="s",
        owner="o",
        image="i",
        gate=(20002, "s3cret"),
        podman=True,
    )
    assert published(out) == [("studio", 7750, 20002, "127.0.0.1")]
    env = {
        e["name"]: e["value"] for e in out[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["BLOCKC_GATE_SECRET"] == "s3cret"
    assert env["BLOCKC_BASE_PATH_WEB"] == "/studios/s/web/"  # (the front door strips it)
    # on Kubernetes the ports stay what they are (a Service names them)
    out = instance_manifests(
        with_sidecar(objects(artifact)), artifact.studio, studio="s", owner="o", image="i"
    )
    assert ("side", 9999, None, None) in published(out)


def test_cli_manifests_are_kubectl_applicable(cli):
    proc = cli("manifests", EXAMPLES / "data-science.yaml", "--studio", "bob-ds", "--owner", "bob")
    assert proc.returncode == 0, proc.stderr
    objs = list(yaml.safe_load_all(proc.stdout))
    assert check_manifests(objs) == []
    assert {o["metadata"]["name"] for o in objs} == {"studio-bob-ds"}
    assert all(o["metadata"]["labels"][LABEL_OWNER] == "bob" for o in objs)


@pytest.mark.parametrize(
    "args", [("--studio", "Bad_Name", "--owner", "bob"), ("--studio", "ok", "--owner", "bob smith")]
)
def test_cli_manifests_refuses_bad_names(cli, args):
    proc = cli("manifests", EXAMPLES / "minimal.yaml", *args)
    assert proc.returncode == 1


def test_cli_validate_strict(cli):
    proc = cli("validate", "--strict", EXAMPLES / "data-science.yaml", EXAMPLES / "minimal.yaml")
    assert proc.returncode == 0, proc.stderr


def test_strict_check_catches_an_invalid_object():
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": "not-a-number"}], "bogus": True},
    }
    assert check_manifests([bad])


def test_no_apps_gives_a_headless_service(compile_t):
    from blockc.testing import template

    r = compile_t(template({"type": "system-packages", "with": {"apt": ["git"]}}), strict=True)
    assert r.ok, r.messages
    svc = objects(r.artifact)[1]
    assert svc["spec"]["clusterIP"] == "None" and "ports" not in svc["spec"]


def test_strict_check_names_object_and_field():
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": "not-a-number"}]},
    }
    (d,) = check_manifests([bad])
    assert d.message.startswith("manifests.yaml: Service/x: spec.ports.0.port: ")


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=IDS)
def test_on_kubernetes_only_the_front_door_reaches_a_studio(example, installed_registry):
    artifact = compile_example(example, installed_registry)
    out = instance_manifests(
        objects(artifact), artifact.studio, studio="s1", owner="o", image="i", namespace="ns"
    )
    assert check_manifests(out) == []
    (policy,) = [o for o in out if o["kind"] == "NetworkPolicy"]
    pod_labels = out[0]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["metadata"]["labels"][LABEL_OWNER] == "o"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"blockc.dev/role": "front-door"}}}]
    assert sorted(p["port"] for p in rule["ports"]) == sorted(
        a["port"] for a in artifact.studio["apps"]
    )
    # podman has no NetworkPolicy (its studios are apart by their own network stacks)
    podman = instance_manifests(
        objects(artifact), artifact.studio, studio="s1", owner="o", image="i", podman=True
    )
    assert "NetworkPolicy" not in [o["kind"] for o in podman]


def test_serve_manifests_run_the_front_door_with_least_privilege(cli):
    proc = cli("serve", "--manifests", "--image", "reg.example/blockc:1", "--namespace", "studios")
    assert proc.returncode == 0, proc.stderr
    objs = list(yaml.safe_load_all(proc.stdout))
    assert check_manifests(objs) == []
    kinds = [o["kind"] for o in objs]
    assert kinds == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
    ]
    assert all(o["metadata"]["namespace"] == "studios" for o in objs)
    dep = objs[4]
    pod = dep["spec"]["template"]
    # its pods are the ones each studio's NetworkPolicy admits
    assert pod["metadata"]["labels"]["blockc.dev/role"] == "front-door"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["image"] == "reg.example/blockc:1"
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    role = objs[1]
    assert {r["resources"][0] for r in role["rules"]} >= {"deployments", "networkpolicies"}
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in role["rules"])
    # no image, no registry: asked for, not guessed
    none = cli("serve", "--manifests")
    assert none.returncode == 1 and "--image" in none.stderr
