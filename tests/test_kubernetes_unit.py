"""The kubernetes runtime's parts that need no cluster: the kubeconfig reader, the pod
status read as one clear line, the exec stream's status, the RBAC it prints, and the errors a
site without a registry or cluster gets."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys

import pytest
import yaml
from compiler_support import studio_row

from blockc.errors import BlockcError
from blockc.run.runtimes.kubernetes import pods
from blockc.run.runtimes.kubernetes.api import Cluster
from blockc.run.runtimes.kubernetes.exec import ExecProcess
from blockc.run.runtimes.kubernetes.rbac import rbac_manifests
from blockc.run.runtimes.kubernetes.rest import ApiError, _from_kubeconfig
from blockc.run.settings import Settings


def kubeconfig(tmp_path, user: dict, cluster: dict | None = None):
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://10.0.0.9:6443"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_kubeconfig_with_a_token_is_read_here(tmp_path):
    ep = _from_kubeconfig(kubeconfig(tmp_path, {"token": "abc"}))
    assert ep is not None and ep.server == "https://10.0.0.9:6443" and ep.token == "abc"
    assert ep.hostname == "10.0.0.9"


def test_kubeconfig_token_file_relative_to_the_kubeconfig(tmp_path):
    (tmp_path / "tok").write_text("from-file\n")
    ep = _from_kubeconfig(kubeconfig(tmp_path, {"tokenFile": "tok"}))
    assert ep is not None and ep.token == "from-file"


def test_tls_server_name_is_what_the_certificate_is_checked_against(tmp_path):
    cluster = {"server": "https://10.0.0.9:6443", "tls-server-name": "api.example"}
    ep = _from_kubeconfig(kubeconfig(tmp_path, {"token": "t"}, cluster))
    assert ep is not None and ep.hostname == "api.example"


@pytest.mark.parametrize(
    "user",
    [
        {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}},
        {"auth-provider": {"name": "oidc"}},
    ],
)
def test_other_credentials_are_left_to_the_official_client(tmp_path, user):
    assert _from_kubeconfig(kubeconfig(tmp_path, user)) is None


@pytest.mark.parametrize(
    ("user", "cluster", "what"),
    [
        ({"username": "a", "password": "b"}, None, "password, username"),
        ({"token": "t", "as": "admin"}, None, "as is not supported"),
        ({"token": "t"}, {"server": "https://x", "proxy-url": "http://p:3128"}, "proxy-url"),
    ],
)
def test_what_the_official_client_would_half_honour_is_refused(tmp_path, user, cluster, what):
    with pytest.raises(BlockcError, match=what):
        _from_kubeconfig(kubeconfig(tmp_path, user, cluster))


def test_insecure_skip_tls_verify_only_when_true(tmp_path):
    cluster = {"server": "https://10.0.0.9:6443", "insecure-skip-tls-verify": "false"}
    ep = _from_kubeconfig(kubeconfig(tmp_path, {"token": "t"}, cluster))
    assert ep is not None and ep.context.verify_mode == ssl.CERT_REQUIRED


def test_an_empty_certificate_authority_file_is_an_error_not_the_default_store(tmp_path):
    (tmp_path / "ca.crt").write_text("")
    cluster = {"server": "https://x", "certificate-authority": "ca.crt"}
    with pytest.raises(BlockcError, match="certificate authority is empty"):
        _from_kubeconfig(kubeconfig(tmp_path, {"token": "t"}, cluster))


def test_a_certificate_authority_that_is_not_one_is_a_clear_error(tmp_path):
    bad = base64.b64encode(b"garbage").decode()
    cluster = {"server": "https://x", "certificate-authority-data": bad}
    with pytest.raises(BlockcError, match="certificate authority"):
        _from_kubeconfig(kubeconfig(tmp_path, {"token": "t"}, cluster))


def test_a_bad_client_certificate_is_a_clear_error(tmp_path):
    bad = base64.b64encode(b"not a certificate").decode()
    path = kubeconfig(tmp_path, {"client-certificate-data": bad, "client-key-data": bad})
    with pytest.raises(BlockcError, match="client certificate or key"):
        _from_kubeconfig(path)


def test_a_missing_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(BlockcError, match="cannot read the kubeconfig"):
        Cluster(Settings(kubeconfig=str(tmp_path / "none")))


def pod(phase="Pending", conditions=(), state=None, last=None, restarts=0, deleting=False):
    meta = {"name": "p"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"phase": phase, "conditions": list(conditions)}
    if state is not None:
        status["containerStatuses"] = [
            {"name": "studio", "state": state, "lastState": last or {}, "restartCount": restarts}
        ]
    return {"metadata": meta, "status": status}


def no_log():
    raise AssertionError("the log is read for crashes only")


def test_unschedulable_gives_the_schedulers_reason():
    p = pod(
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
            }
        ]
    )
    assert pods.problem(p, "r/i:1", no_log) == (
        "the pod cannot be scheduled: 0/3 nodes are available: 3 Insufficient memory."
    )


def test_image_pull_errors_name_the_image_registry_and_answer():
    waiting = {"reason": "ErrImagePull", "message": "failed to pull: 401 Unauthorized"}
    why = pods.problem(pod(state={"waiting": waiting}), "reg.example:5000/blockc/t:1", no_log)
    assert why.startswith("the node cannot pull the image reg.example:5000/blockc/t:1 from ")
    assert "reg.example:5000" in why and "401 Unauthorized" in why


def test_a_crash_loop_shows_the_log_tail():
    state = {"waiting": {"reason": "CrashLoopBackOff"}}
    last = {"terminated": {"exitCode": 3}}
    why = pods.problem(pod(state=state, last=last, restarts=4), "i", lambda: "a\nboom")
    assert "keeps crashing (exit code 3, restarted 4 time(s))" in why and why.endswith("    boom")


def test_a_container_that_crashed_once_and_runs_again_is_no_problem():
    last = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
    ready = pod("Running", [{"type": "Ready", "status": "True"}], {"running": {}}, last, 1)
    assert pods.problem(ready, "i", no_log) == "" and pods.is_ready(ready)


def test_a_pod_still_starting_is_no_problem():
    assert pods.problem(pod(state={"waiting": {"reason": "ContainerCreating"}}), "i", no_log) == ""
    running = pod("Running", state={"running": {}})
    assert pods.is_running(running) and not pods.is_ready(running)
    assert not pods.is_running(pod("Running", state={"running": {}}, deleting=True))
    ready = pod("Running", [{"type": "Ready", "status": "True"}], state={"running": {}})
    assert pods.is_ready(ready)


def test_quota_or_admission_refusals_are_read_from_the_deployment():
    dep = {
        "status": {
            "conditions": [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "message": 'pods "x" is forbidden: exceeded quota',
                }
            ]
        }
    }
    assert "exceeded quota" in pods.deployment_problem(dep)


class FakeWs:
    """What the exec stream's reader sees: frames, then the close."""

    def __init__(self, frames):
        self.frames = list(frames)

    def getsubprotocol(self):
        return "v5.channel.k8s.io"

    def getheaders(self):
        return {}

    def recv_data(self):
        from websocket import ABNF

        if self.frames:
            return ABNF.OPCODE_BINARY, self.frames.pop(0)
        return ABNF.OPCODE_CLOSE, b""

    def close(self, timeout=None):
        pass


def status(obj) -> bytes:
    return b"\x03" + json.dumps(obj).encode()


def test_exec_exit_code_and_output_come_from_their_channels():
    nonzero = {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "7"}]},
    }
    proc = ExecProcess(FakeWs([b"\x01out", b"\x02err", status(nonzero)]), stdin=False)
    assert proc.stdout.read() == b"out" and proc.wait(5) == 7
    assert proc.stderr_text() == "err"
    ok = ExecProcess(FakeWs([status({"status": "Success"})]), stdin=False)
    assert ok.wait(5) == 0


def test_exec_whose_reader_left_ends_the_command():
    """`blockc exec NAME -- yes | head -1`: the stream ends (exit 141, as a closed pipe
    ends a local command) instead of reading on for ever."""
    import os

    r, w = os.pipe()
    os.close(r)
    endless = FakeWs([b"\x01y\n"] * 100000)
    proc = ExecProcess(endless, stdin=False, stdout_fd=w)
    assert proc.wait(5) == 141
    assert len(endless.frames) > 90000  # it stopped at once
    os.close(w)


def test_exec_of_a_missing_command_says_so():
    failed = {"status": "Failure", "message": 'exec: "nope": executable file not found in $PATH'}
    proc = ExecProcess(FakeWs([status(failed)]), stdin=False)
    assert proc.wait(5) == 127 and "executable file not found" in proc.stderr_text()


def test_an_exec_stream_that_ends_without_a_status_is_a_failure():
    proc = ExecProcess(FakeWs([b"\x01partial"]), stdin=False)
    assert proc.wait(5) == 255 and "without the command's status" in proc.stderr_text()


def test_rbac_is_namespaced_and_names_only_what_blockc_calls():
    sa, role, binding = rbac_manifests("studios")
    assert [o["kind"] for o in (sa, role, binding)] == ["ServiceAccount", "Role", "RoleBinding"]
    assert all(o["metadata"]["namespace"] == "studios" for o in (sa, role, binding))
    granted = {(r["resources"][0], v) for r in role["rules"] for v in r["verbs"]}
    assert ("pods", "get") in granted and ("deployments", "patch") in granted
    assert not any(v in ("*", "escalate", "bind", "impersonate") for _, v in granted)
    assert not {r for r in role["rules"] if "secrets" in r["resources"]}


def run(*args, home):
    return subprocess.run(
        [sys.executable, "-m", "blockc", *args],
        capture_output=True,
        text=True,
        env={"BLOCKC_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def test_manifests_rbac_cli(tmp_path):
    out = run("manifests", "--rbac", "--namespace", "team-a", home=tmp_path)
    assert out.returncode == 0, out.stderr
    docs = list(yaml.safe_load_all(out.stdout))
    assert docs[2]["subjects"][0] == {
        "kind": "ServiceAccount",
        "name": "blockc",
        "namespace": "team-a",
    }
    bad = run("manifests", "--rbac", "x.yaml", home=tmp_path)
    assert bad.returncode == 2 and "--rbac takes no template" in bad.stderr
    none = run("manifests", home=tmp_path)
    assert none.returncode == 2 and "required" in none.stderr


def test_kubernetes_needs_a_registry():
    from blockc.run.progress import Progress
    from blockc.run.runtimes.kubernetes import KubernetesRuntime

    with pytest.raises(BlockcError, match="needs the site setting 'registry'"):
        KubernetesRuntime(Settings(runtime="kubernetes")).image_for(
            "localhost/blockc/t:1", Progress()
        )


def test_api_errors_read_as_a_user_would(tmp_path):
    c = Cluster(Settings(kubeconfig=kubeconfig(tmp_path, {"token": "t"}), namespace="ns1"))
    forbidden = ApiError(
        403, json.dumps({"message": 'User "x" cannot patch resource "deployments"'})
    )
    err = c.error(forbidden, "apply")
    assert "forbids" in str(err) and "cannot patch resource" in str(err)
    missing = ApiError(404, json.dumps({"message": 'namespaces "ns1" not found'}))
    assert "the namespace 'ns1' does not exist" in str(c.error(missing, "apply"))
    assert "cannot reach the Kubernetes API at https://10.0.0.9:6443" in str(
        c.error(ApiError(None, "", "connection refused"), "list")
    )


def test_a_studios_location_names_its_api_server_as_one_url(tmp_path):
    from blockc.run.runtimes.kubernetes import KubernetesRuntime

    path = kubeconfig(tmp_path, {"token": "t"}, {"server": "https://API.Example/"})
    rt = KubernetesRuntime(Settings(kubeconfig=path, namespace="team"))
    assert rt.location() == "https://api.example:443 namespace team"


def test_a_cluster_with_its_own_ca_is_named_by_it_from_any_address(tmp_path):
    """In the cluster (its Service's address) and outside (the node's), one cluster."""
    import ssl

    from blockc.run.runtimes.kubernetes import KubernetesRuntime

    pem = ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(_self_signed(tmp_path)))
    where = []
    for i, (server, ca) in enumerate(
        [("https://127.0.0.1:16443", pem), ("https://10.96.0.1", pem.replace("\n", "\r\n"))]
    ):
        (tmp_path / f"ca{i}.crt").write_text(ca)
        cluster = {"server": server, "certificate-authority": str(tmp_path / f"ca{i}.crt")}
        path = kubeconfig(tmp_path, {"token": "t"}, cluster)
        rt = KubernetesRuntime(Settings(kubeconfig=path, namespace="team"))
        where.append(rt.location())
        row = studio_row("s", runtime="kubernetes", location=where[0])
        assert not rt.elsewhere(row)  # (the first's studio is the second's)
        assert rt.elsewhere(row.replace(location=where[0].replace("team", "other")))
        assert not rt.elsewhere(row.replace(location=rt._url()))  # (as an older blockc had it)
    assert where[0] == where[1] and where[0].startswith("cluster ca-sha256:")
    assert where[0].endswith(" namespace team")


def _self_signed(tmp_path) -> str:
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=lab-ca"],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt.read_text()


def test_a_state_db_of_a_newer_blockc_is_read(tmp_path, monkeypatch):
    """A column a later version adds does not break this one's reading of the row."""
    import contextlib

    from blockc.run import state

    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))
    studio = studio_row(
        "s", runtime="kubernetes", state="STOPPED", location="https://x:443 namespace n"
    )
    state.save(studio)
    with contextlib.closing(state.connect()) as conn:
        conn.execute("ALTER TABLE studios ADD COLUMN from_the_future TEXT")
    got = state.require("s")
    assert got.location == "https://x:443 namespace n" and got.runtime == "kubernetes"
