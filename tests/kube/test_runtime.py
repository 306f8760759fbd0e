"""The kubernetes runtime on a real cluster (level 2: kubelet, containerd, real pods), with
blockc holding only the token of `blockc manifests --rbac`'s ServiceAccount, and studio
images pulled by the node from the site's TLS registry."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kube_site import BLOCKC, ROOT, WEB, Site, tcp_relay, token_kubeconfig, wait_for


@pytest.fixture
def site(cluster, namespace, tmp_path, kubectl):
    return Site(cluster, namespace, tmp_path, kubectl)


def test_start_exec_sync_logs_stop_rm(site):
    t = site.template(
        "kweb",
        WEB + "    - type: file-sync\n      with:\n        zones:\n"
        "          - {name: work, host: ., container: /home/studio/workspace}\n",
    )
    ws = site.tmp / "ws"
    ws.mkdir()
    (ws / "hello.txt").write_text("from the host\n")
    started = site.run("start", t, "--studio", "kw", "--owner", "alice", "--workspace", ws, check=0)
    assert f"{site.cluster.registry}/blockc/kweb:" in started.stderr  # pushed, or there already
    st = site.status("kw")
    assert st["state"] == "RUNNING" and st["runtime"] == "kubernetes"
    assert st["apps"][0]["healthy"] is True
    [pod] = site.pods("kw")
    assert pod["spec"]["containers"][0]["image"].startswith(site.cluster.registry + "/blockc/kweb:")
    labels = pod["metadata"]["labels"]
    assert labels["blockc.dev/owner"] == "alice" and labels["blockc.dev/studio"] == "kw"
    assert labels["blockc.dev/installation"] == site.installation()

    # exec: in the container, as the studio user, exit codes and stdin passed through
    assert site.run("exec", "kw", "--", "id", "-u", check=0).stdout.strip() == "1000"
    assert (
        site.run("exec", "kw", "--", "hostname", check=0).stdout.strip() == pod["metadata"]["name"]
    )
    assert site.run("exec", "kw", "--", "sh", "-c", "exit 7").returncode == 7
    assert site.run("exec", "kw", "--", "cat", input="piped in\n", check=0).stdout == "piped in\n"
    # exec never imports the official client (~0.6 s of CPU: kubernetes 37's pydantic models)
    env = {**os.environ, **site.env}
    env.pop("KUBECONFIG", None)
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "blockc", "exec", "kw", "--", "true"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert probe.returncode == 0, probe.stderr
    assert not [ln for ln in probe.stderr.splitlines() if ln.endswith("| kubernetes")]
    # with a terminal (as a user at a shell runs it): the command gets one, its exit code kept
    term = subprocess.run(
        ["script", "-eqc", f"{BLOCKC} exec kw -- sh -c 'tty; exit 5'", "/dev/null"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert term.returncode == 5 and "/dev/pts/" in term.stdout, term.stdout + term.stderr
    missing = site.run("exec", "kw", "--", "no-such-command")
    assert missing.returncode != 0 and "no-such-command" in missing.stderr

    # files went in at start, and come back out
    assert site.run("exec", "kw", "--", "cat", "hello.txt", check=0).stdout == "from the host\n"
    site.run("exec", "kw", "--", "sh", "-c", "echo made in the studio > out.txt", check=0)
    site.run("sync", "kw", "--pull", check=0)
    assert (ws / "out.txt").read_text() == "made in the studio\n"

    # forward: many connections at once, each its own stream to the pod
    fwd = subprocess.Popen(
        [BLOCKC, "forward", "kw"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = ""
        while "http://127.0.0.1:" not in line:
            line = fwd.stdout.readline()
            assert line, fwd.stderr.read()
        url = line.split()[1]
        import concurrent.futures
        import urllib.request

        def get(_):
            with urllib.request.urlopen(url + "hello.txt", timeout=20) as resp:
                return resp.status, resp.read()

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            got = list(pool.map(get, range(32)))
        assert got == [(200, b"from the host\n")] * 32
    finally:
        fwd.terminate()
        fwd.wait(timeout=10)
    logs = site.run("logs", "kw", "--app", "web", check=0).stdout
    assert "GET / HTTP/1.1" in logs  # the readiness probe's requests

    site.run("exec", "kw", "--", "sh", "-c", "echo at stop > last.txt", check=0)
    assert "stopped" in site.run("stop", "kw", check=0).stdout
    assert (ws / "last.txt").read_text() == "at stop\n"  # pulled before the pod went
    assert site.status("kw")["state"] == "STOPPED"
    assert site.pods("kw") == []
    assert site.run("exec", "kw", "--", "true", check=1).stderr

    site.run("start", t, "--studio", "kw", check=0)  # again: owner kept, files pushed in
    assert site.run("exec", "kw", "--", "cat", "last.txt", check=0).stdout == "at stop\n"
    site.run("rm", "kw", check=0)
    assert site.pods("kw") == []
    out = site.kubectl("-n", site.namespace, "get", "deploy,svc", "-o", "name").stdout
    assert "studio-kw-" not in out


def _jupyter_execute():
    """The JupyterLab plugin's end-to-end helper: a kernel over REST, code over WebSocket."""
    path = ROOT / "plugins" / "jupyterlab" / "tests" / "test_e2e_jupyterlab.py"
    spec = importlib.util.spec_from_file_location("jupyterlab_e2e", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.execute


def test_demo_studio_runs_a_cell_through_forward(site):
    ws = site.tmp / "demo-ws"
    shutil.copytree(ROOT / "examples" / "demo-workspace", ws)
    demo = ROOT / "examples" / "demo.yaml"
    site.run(
        "start", demo, "--studio", "demo", "--runtime", "kubernetes", "--workspace", ws, check=0
    )
    apps = {a["id"]: a for a in site.status("demo")["apps"]}
    assert apps["lab"]["healthy"] and apps["dash"]["healthy"]
    fwd = subprocess.Popen(
        [BLOCKC, "forward", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **site.env},
    )
    try:
        urls = {}
        while len(urls) < 2:
            line = fwd.stdout.readline()
            assert line, fwd.stderr.read()
            if "http://127.0.0.1:" in line:
                app_id, url = line.split()[:2]
                urls[app_id] = url
        assert urls["lab"].endswith("/studios/demo/lab/")
        replies = _jupyter_execute()(urls["lab"], "import pandas; print(6 * 7)")
        out = "".join(r["content"].get("text", "") for r in replies if r["msg_type"] == "stream")
        assert out.strip() == "42"
        import urllib.request

        with urllib.request.urlopen(urls["dash"] + "_stcore/health", timeout=10) as resp:
            assert resp.status == 200
    finally:
        fwd.terminate()
        fwd.wait(timeout=10)
    site.run("exec", "demo", "--", "sh", "-c", "echo 1,2 > made.csv", check=0)
    site.run("stop", "demo", check=0)
    assert (ws / "made.csv").read_text() == "1,2\n"
    site.run("rm", "demo", check=0)


def test_pod_stops_within_5_s_of_deletion(site):
    t = site.template("kstop", WEB)
    site.run("start", t, "--studio", "ks", check=0)
    [pod] = site.pods("ks")
    t0 = time.monotonic()
    site.kubectl("-n", site.namespace, "delete", "pod", pod["metadata"]["name"], "--wait=true")
    took = time.monotonic() - t0
    assert took < 5, f"the pod took {took:.1f} s to stop (its apps ignore SIGTERM?)"
    site.run("rm", "ks", "--force", check=0)


def test_status_of_many_studios_is_one_list(site):
    t = site.template("kmany", WEB)
    for name in ("m1", "m2"):
        site.run("start", t, "--studio", name, check=0)
    out = json.loads(site.run("status", "--format", "json", check=0).stdout)
    assert {s["name"]: s["state"] for s in out} == {"m1": "RUNNING", "m2": "RUNNING"}
    assert all(s["apps"][0]["healthy"] for s in out)
    site.kubectl(
        "-n", site.namespace, "delete", "deploy", "-l", "blockc.dev/studio=m2", "--wait=true"
    )
    out = {s["name"]: s for s in json.loads(site.run("status", "--format", "json", check=0).stdout)}
    assert out["m1"]["state"] == "RUNNING" and out["m2"]["state"] == "FAILED"
    for name in ("m1", "m2"):
        site.run("rm", name, "--force", check=0)


def test_an_object_of_someone_else_is_left_alone(site):
    t = site.template("kown", WEB)
    name = f"studio-own-{site.installation()}"
    site.kubectl("-n", site.namespace, "create", "deployment", name, "--image", "example.invalid/x")
    out = site.run("start", t, "--studio", "own", check=1)
    assert name in out.stderr and "not created by this blockc installation" in out.stderr
    got = json.loads(site.kubectl("-n", site.namespace, "get", "deploy", name, "-o", "json").stdout)
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "example.invalid/x"


def test_objects_relabelled_to_another_owner_are_refused_and_left(site):
    """A studio's pod, then its Deployment, made someone else's (the owner label changed
    behind blockc's back): exec, forward, stop and rm refuse, naming the object, and leave
    it; rm --force forgets the studio and still deletes nothing of the other owner's."""
    t = site.template("kmine", WEB)
    site.run("start", t, "--studio", "mine", "--owner", "alice", check=0)
    ns = site.namespace
    deploy = f"studio-mine-{site.installation()}"
    (pod,) = [p["metadata"]["name"] for p in site.pods("mine")]
    site.kubectl("-n", ns, "label", "pod", pod, "blockc.dev/owner=mallory", "--overwrite")
    for args in (("exec", "mine", "--", "true"), ("forward", "mine"), ("stop", "mine")):
        out = site.run(*args, check=1, timeout=60)
        assert f"pod '{pod}'" in out.stderr and "mallory" in out.stderr, out.stderr
    site.kubectl("-n", ns, "label", "deploy", deploy, "blockc.dev/owner=mallory", "--overwrite")
    for args in (("rm", "mine"),):
        out = site.run(*args, check=1, timeout=60)
        assert "mallory" in out.stderr and ("Deployment" in out.stderr or pod in out.stderr), (
            out.stderr
        )
    out = site.run("rm", "mine", "--force", check=0, timeout=60)
    assert "mallory" in out.stdout + out.stderr
    assert site.run("status", "mine", check=1).returncode == 1  # forgotten
    site.kubectl("-n", ns, "get", "deploy", deploy)  # (fails the test if it is gone)
    site.kubectl("-n", ns, "get", "pod", pod)
    site.kubectl("-n", ns, "delete", "deploy", deploy, "--wait=false")


def test_kubeconfigs_the_official_client_loads(site):
    """An exec plugin's credentials, and KUBECONFIG naming several files: loaded by the
    official client (blockc reads only one plain file itself), then used as blockc's own."""
    t = site.template("kcfg", WEB)
    site.run("start", t, "--studio", "kc", check=0)
    plain = json.loads(site.kubeconfig.read_text())
    token = plain["users"][0]["user"]["token"]

    plugin = site.tmp / "credential.sh"  # an exec plugin, as cloud CLIs ship them
    plugin.write_text(
        "#!/bin/sh\n"
        'echo \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", '
        f'"status": {{"token": "{token}"}}}}\'\n'
    )
    plugin.chmod(0o755)
    with_plugin = json.loads(json.dumps(plain))
    with_plugin["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(plugin),
            "interactiveMode": "Never",
        }
    }
    cfg = site.tmp / "plugin.kubeconfig"
    cfg.write_text(json.dumps(with_plugin))
    env = {**site.env, "BLOCKC_KUBECONFIG": str(cfg)}
    out = site.run("exec", "kc", "--", "id", "-u", env=env, check=0)
    assert out.stdout.strip() == "1000"

    # the same kubeconfig split in two files, named by KUBECONFIG (the site names none)
    a, b = site.tmp / "a.kubeconfig", site.tmp / "b.kubeconfig"
    a.write_text(json.dumps({k: v for k, v in plain.items() if "context" not in k}))
    b.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", **{
        k: plain[k] for k in ("contexts", "current-context")}}))  # fmt: skip
    both = {**site.env, "BLOCKC_KUBECONFIG": "", "KUBECONFIG": f"{b}{os.pathsep}{a}"}
    st = json.loads(site.run("status", "kc", "--format", "json", env=both, check=0).stdout)[0]
    assert st["state"] == "RUNNING"
    assert site.run("exec", "kc", "--", "true", env=both, check=0).returncode == 0
    site.run("rm", "kc", check=0)


def test_blockc_in_a_pod_uses_its_service_account(site, kubectl):
    """In-cluster configuration: blockc run in a pod of the cluster, with no kubeconfig, acts
    as the pod's ServiceAccount (blockc's, bound to the site's Role). This blockc and its
    Python come from the host (hostPath, read-only), its home too (the studio's state)."""
    t = site.template("kpod", WEB)
    site.run("start", t, "--studio", "kp", check=0)
    image = kubectl(
        "-n",
        site.namespace,
        "get",
        "deploy",
        "-l",
        "blockc.dev/studio=kp",
        "-o",
        "jsonpath={.items[0].spec.template.spec.containers[0].image}",
    ).stdout  # fmt: skip (a studio image: already on the node)
    python = Path(sys.executable)
    mounts = {"home": site.home, "code": ROOT, "python": Path(os.path.realpath(python)).parents[2]}
    script = f"{python} -m blockc status kp --format json && {python} -m blockc exec kp -- id -u"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "blockc-in-cluster"},
        "spec": {
            "serviceAccountName": "blockc",
            "automountServiceAccountToken": True,
            "restartPolicy": "Never",
            "securityContext": {"runAsUser": 0},  # (to read the host's Python under /root)
            "containers": [
                {
                    "name": "blockc",
                    "image": image,
                    "command": ["sh", "-c", script],
                    "env": [
                        {"name": "BLOCKC_HOME", "value": str(site.home)},
                        {"name": "BLOCKC_RUNTIME", "value": "kubernetes"},
                        {"name": "BLOCKC_NAMESPACE", "value": site.namespace},
                        {"name": "HOME", "value": "/nonexistent"},  # (no ~/.kube/config)
                        {"name": "BLOCKC_RESIDENT", "value": "0"},
                    ],
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

    def phase():
        return kubectl(
            "-n", site.namespace, "get", "pod", "blockc-in-cluster", "-o", "jsonpath={.status.phase}"
        ).stdout  # fmt: skip

    wait_for(lambda: phase() in ("Succeeded", "Failed"), 120, "the pod running blockc to end")
    log = kubectl("-n", site.namespace, "logs", "blockc-in-cluster").stdout
    assert phase() == "Succeeded", log
    status_json, _, uid = log.rpartition("]")
    assert json.loads(status_json + "]")[0]["state"] == "RUNNING", log
    assert uid.strip() == "1000", log
    site.run("rm", "kp", check=0)


# --- failures, each provoked and reported as one clear line, the studio stopped -------------


def _failed(site, name: str, out) -> str:
    assert out.returncode == 1, out.stdout + out.stderr
    st = site.status(name)
    assert st["state"] == "FAILED" and st["message"]
    wait_for(lambda: site.pods(name) == [], 30, "the failed studio's pod to go")
    return out.stderr


def test_unschedulable(site):
    t = site.template(
        "knosched",
        WEB + "    - type: kubernetes\n      with:\n        nodeSelector: {disk: none-such}\n",
    )
    err = _failed(site, "ns1", site.run("start", t, "--studio", "ns1"))
    assert "cannot be scheduled" in err and "node affinity/selector" in err


def test_image_pull_error_names_the_image_and_the_registrys_answer(site):
    # the registry, reached at 127.0.0.1 (a TCP relay; its certificate names that address
    # too), where the node does not trust the site's CA: blockc pushes, the node cannot pull
    host, port = site.cluster.registry.rsplit(":", 1)
    with tcp_relay((host, int(port))) as local:
        other = f"127.0.0.1:{local}"
        t = site.template("kpull", WEB)
        out = site.run("start", t, "--studio", "pl", env={**site.env, "BLOCKC_REGISTRY": other})
        err = _failed(site, "pl", out)
    assert f"cannot pull the image {other}/blockc/kpull:" in err
    # the node's attempt, in containerd's words: to 127.0.0.1 it speaks plain HTTP, and the
    # registry answers 400
    assert "400 Bad Request" in err or "x509" in err


def test_crash_loop_shows_the_containers_last_lines(site):
    t = site.template(
        "kcrash",
        WEB + "    - type: dockerfile\n      with:\n        as_root: true\n"
        "        instructions: RUN rm -r /opt/blockc/venv/lib/python3*/site-packages/supervisor\n",
    )
    err = _failed(site, "cr", site.run("start", t, "--studio", "cr", studio_tb=True))
    assert "keeps crashing" in err and "No module named 'supervisor'" in err


def test_readiness_not_reached_names_the_app_its_url_and_log(site):
    t = site.template(
        "knoready",
        "    - type: app\n      id: mute\n      with:\n"
        "        command: [sh, -c, 'echo mute starts; sleep infinity']\n"
        "        port: 9000\n        health: /ping\n",
    )
    err = _failed(site, "nr", site.run("start", t, "--studio", "nr", "--timeout", "15"))
    assert "app 'mute' did not become healthy" in err
    assert "http://127.0.0.1:9000/ping" in err and "mute starts" in err


def test_forbidden_names_the_verb_and_resource(site, kubectl):
    kubectl("-n", site.namespace, "create", "serviceaccount", "nobody")
    cfg = site.tmp / "nobody.kubeconfig"
    cfg.write_text(token_kubeconfig(kubectl, site.namespace, "nobody"))
    t = site.template("kforbid", WEB)
    out = site.run("start", t, "--studio", "fb", env={**site.env, "BLOCKC_KUBECONFIG": str(cfg)})
    assert out.returncode == 1
    assert "forbids" in out.stderr and 'cannot get resource "deployments"' in out.stderr
    assert "blockc manifests --rbac" in out.stderr


def test_missing_namespace(site):
    t = site.template("knons", WEB)
    admin = {
        **site.env,
        "BLOCKC_NAMESPACE": "none-such",
        "BLOCKC_KUBECONFIG": site.cluster.kubeconfig,
    }
    out = site.run("start", t, "--studio", "mn", env=admin)
    assert out.returncode == 1
    assert "the namespace 'none-such' does not exist" in out.stderr
    # with the site's token, whose Role is in its own namespace only, it is forbidden there
    out = site.run("start", t, "--studio", "mn", env={**site.env, "BLOCKC_NAMESPACE": "none-such"})
    assert out.returncode == 1 and "none-such" in out.stderr and "forbids" in out.stderr


KUBE_OPTIONS = """\
    - type: kubernetes
      with:
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {memory: 1Gi}
        nodeSelector: {kubernetes.io/hostname: k8slab-node}
        tolerations: [{key: dedicated, operator: Equal, value: studios, effect: NoSchedule}]
        annotations: {example.com/cost-center: "42"}
        labels: {team: data}
        serviceAccountName: studio-runner
"""


def test_kubernetes_block_options_land_on_the_pod(site, kubectl):
    kubectl("-n", site.namespace, "create", "serviceaccount", "studio-runner")
    env = "  env: {SUBST: 'a$(HOME)b', DOUBLE: 'x$$y'}\n"  # (Kubernetes expands $(VAR))
    t = site.template("kopts", WEB + KUBE_OPTIONS, extra=env)
    explained = site.run("explain", t, check=0).stdout
    assert "nodeSelector" in explained and "studio-runner" in explained
    # kubectl-applicable as they are (the API server's own validation, nothing made)
    objs = site.run(
        "manifests", t, "--studio", "ko", "--owner", "bob", "--namespace", site.namespace, check=0
    ).stdout
    kubectl("apply", "--dry-run=server", "--server-side", "-f", "-", input=objs)

    site.run("start", t, "--studio", "ko", check=0)
    [pod] = site.pods("ko")
    spec = pod["spec"]
    main = spec["containers"][0]
    assert main["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "k8slab-node"}
    assert {
        "key": "dedicated",
        "operator": "Equal",
        "value": "studios",
        "effect": "NoSchedule",
    } in spec["tolerations"]
    assert pod["metadata"]["annotations"]["example.com/cost-center"] == "42"
    assert pod["metadata"]["labels"]["team"] == "data"
    assert spec["serviceAccountName"] == "studio-runner"
    assert spec["automountServiceAccountToken"] is False  # no ambient credentials in a studio
    assert main["securityContext"]["runAsNonRoot"] is True
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert site.run("exec", "ko", "--", "printenv", "SUBST", check=0).stdout == "a$(HOME)b\n"
    assert site.run("exec", "ko", "--", "printenv", "DOUBLE", check=0).stdout == "x$$y\n"
    site.run("rm", "ko", check=0)


def test_build_push_over_tls_with_the_site_ca(site):
    t = site.template("kpush", WEB)
    out = site.run("build", t, "--push", check=0)
    pushed = out.stderr.split("pushed: ", 1)[1].split()[0]
    assert pushed.startswith(f"{site.cluster.registry}/blockc/kpush:")
    # the registry serves it (checked over TLS with the site's CA, as blockc does)
    import ssl
    import urllib.request

    name, tag = pushed.split("/", 1)[1].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=site.cluster.registry_ca)
    req = urllib.request.Request(
        f"https://{site.cluster.registry}/v2/{name}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        assert resp.status == 200
    # without the site's CA the registry is not trusted: a clear error, nothing pushed
    bare = site.run("build", t, "--push", env={**site.env, "BLOCKC_CA_BUNDLE": "none"})
    assert bare.returncode == 1
    assert "push to" in bare.stderr and ("x509" in bare.stderr or "certificate" in bare.stderr)


def test_logs_of_a_container_that_will_not_run(site):
    """What `blockc status` points at when the container stopped: its own last words, from
    the API (no exec into a container that does not run)."""
    t = site.template("klogs", WEB)
    site.run("start", t, "--studio", "lg", check=0)
    patch = [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/command",
            "value": ["sh", "-c", "echo dying now; exit 3"],
        }
    ]
    deploy = f"deploy/studio-lg-{site.installation()}"
    site.kubectl("-n", site.namespace, "patch", deploy, "--type=json", "-p", json.dumps(patch))

    def crashing():
        return any(
            (c.get("restartCount") or 0) >= 1
            for p in site.pods("lg")
            for c in p["status"].get("containerStatuses") or ()
        )

    wait_for(crashing, 60, "the patched container to crash")
    out = site.run("logs", "lg", check=0).stdout
    assert "not running; its last run" in out and "dying now" in out
    site.run("rm", "lg", "--force", check=0)
