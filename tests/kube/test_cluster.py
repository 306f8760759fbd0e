"""The Kubernetes test cluster works end to end: push to its TLS registry, a pod pulls and runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/blockc-base/debian-python:bookworm"


def test_registry_push_pull_and_exec(cluster, namespace, kubectl, tmp_path):
    env = {**os.environ}
    env.setdefault("CONTAINERS_CONF", str(ROOT / "etc" / "containers.conf"))
    if subprocess.run(["podman", "image", "exists", BASE], env=env).returncode:
        pytest.fail(f"base image {BASE} is missing: run `make base-image`")

    # Push as a site would: TLS verified against the site CA (buildah reads DIR/ca.crt).
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(cluster.registry_ca, certs / "ca.crt")
    ref = f"{cluster.registry}/test/base:1"
    digest_file = tmp_path / "digest"
    t0 = time.monotonic()
    p = subprocess.run(
        ["buildah", "push", "--cert-dir", str(certs), "--digestfile", str(digest_file)]
        + [BASE, f"docker://{ref}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, f"buildah push failed:\n{p.stdout}\n{p.stderr}"
    digest = digest_file.read_text().strip()
    print(f"pushed {ref} ({digest}) in {time.monotonic() - t0:.1f}s")

    pod = f"""
apiVersion: v1
kind: Pod
metadata:
  name: pull-check
spec:
  nodeSelector: {{kubernetes.io/hostname: {cluster.node}}}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {ref}
    imagePullPolicy: Always
    command: [sleep, "3600"]
"""
    kubectl("-n", namespace, "apply", "-f", "-", input=pod)
    t0 = time.monotonic()
    wait = ("wait", "--for=condition=Ready", "pod/pull-check", "--timeout=120s")
    ready = kubectl("-n", namespace, *wait, check=False)
    if ready.returncode:
        described = kubectl("-n", namespace, "describe", "pod", "pull-check", check=False).stdout
        pytest.fail(f"pod not Ready:\n{ready.stderr}\n{described}")
    print(f"pod pulled and Ready in {time.monotonic() - t0:.1f}s")

    # The node pulled exactly what was pushed, from the registry.
    jsonpath = "jsonpath={.status.containerStatuses[0].imageID}"
    image_id = kubectl("-n", namespace, "get", "pod", "pull-check", "-o", jsonpath).stdout
    assert image_id == f"{cluster.registry}/test/base@{digest}"

    uid = kubectl("-n", namespace, "exec", "pull-check", "--", "id", "-u").stdout.strip()
    assert uid.isdigit(), uid
