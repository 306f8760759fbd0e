"""Fixtures for end-to-end sync tests against a real podman container (user 1000:1000)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from sync_helpers import TREE_CODE

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("BLOCKC_TEST_BASE_IMAGE", "localhost/blockc-base/debian-python:bookworm")


class Studio:
    def __init__(self, name: str):
        self.name = name

    def exec(self, *cmd, user="1000", input=None, check=True) -> str:
        r = subprocess.run(
            ["podman", "exec", "-i", "-u", user, self.name, *cmd],
            input=input,
            capture_output=True,
            check=False,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} failed: {r.stderr.decode()}")
        return r.stdout.decode()

    def py(self, code: str, *args, user="1000") -> str:
        return self.exec("python3", "-c", code, *args, user=user)

    def sh(self, script: str, user="1000") -> str:
        return self.exec("sh", "-c", script, user=user)

    def tree(self, path: str) -> dict:
        return json.loads(self.py(TREE_CODE, path, ".blockc-sync-id"))

    def write(self, path: str, data: bytes, mode: int | None = None):
        code = (
            "import os,sys\np=sys.argv[1]\nos.makedirs(os.path.dirname(p), exist_ok=True)\n"
            "open(p,'wb').write(sys.stdin.buffer.read())\n"
        )
        if mode is not None:
            code += f"os.chmod(p, {mode})\n"
        self.exec("python3", "-c", code, path, input=data)


def _podman_ok() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed"
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "etc" / "containers.conf"))
    if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
        script = ROOT / "scripts" / "make-base-image.sh"
        if os.geteuid() != 0 or not script.exists():
            return f"base image {BASE} is missing"
        if subprocess.run([str(script), BASE]).returncode != 0:
            return f"could not create {BASE}"
    return None


@contextlib.contextmanager
def _container():
    """A container of the base image as the studio user, with /zones it may write, removed
    afterwards whatever happened."""
    why = _podman_ok()
    if why:
        pytest.skip(why)
    name = f"blockc-synctest-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "--user", "1000:1000", BASE, "sleep", "infinity"],
        check=True,
        capture_output=True,
    )
    s = Studio(name)
    try:
        s.sh("mkdir -p /zones && chown 1000:1000 /zones", user="0")
        yield s
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)


@pytest.fixture(scope="session")
def studio():
    with _container() as s:
        yield s


@pytest.fixture
def fresh_studio():
    """A second container, for 'a fresh studio replaced the old one'."""
    with _container() as s:
        yield s
