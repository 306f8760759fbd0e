"""Fixtures for end-to-end sync tests against a real podman container (user 1000:1000)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("BLOCKC_TEST_BASE_IMAGE", "localhost/blockc-base/debian-python:bookworm")

LIST_CODE = r"""
import hashlib, json, os, stat, sys
root = sys.argv[1]
out = {}
for dirpath, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        if rel == ".blockc-sync-id":
            continue
        st = os.lstat(p)
        if stat.S_ISDIR(st.st_mode):
            out[rel] = ["d", st.st_mode & 0o7777, None]
        elif stat.S_ISLNK(st.st_mode):
            out[rel] = ["l", 0, os.readlink(p)]
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
            out[rel] = ["f", st.st_mode & 0o7777, h.hexdigest()]
        else:
            out[rel] = ["o", st.st_mode & 0o7777, None]
json.dump(out, sys.stdout, ensure_ascii=True)
"""


class Studio:
    def __init__(self, name: str):
        self.name = name

    def exec(self, *cmd, user="1000", input=None, check=True) -> str:
        r = subprocess.run(["podman", "exec", "-i", "-u", user, self.name, *cmd], input=input,
                           capture_output=True, check=False)
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} failed: {r.stderr.decode()}")
        return r.stdout.decode()

    def py(self, code: str, *args, user="1000") -> str:
        return self.exec("python3", "-c", code, *args, user=user)

    def sh(self, script: str, user="1000") -> str:
        return self.exec("sh", "-c", script, user=user)

    def tree(self, path: str) -> dict:
        return json.loads(self.py(LIST_CODE, path))

    def write(self, path: str, data: bytes, mode: int | None = None):
        code = ("import os,sys\np=sys.argv[1]\nos.makedirs(os.path.dirname(p), exist_ok=True)\n"
                "open(p,'wb').write(sys.stdin.buffer.read())\n")
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


@pytest.fixture(scope="session")
def studio():
    why = _podman_ok()
    if why:
        pytest.skip(why)
    name = f"blockc-synctest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["podman", "run", "-d", "--name", name, "--user", "1000:1000", BASE, "sleep", "infinity"],
                   check=True, capture_output=True)
    s = Studio(name)
    try:
        s.sh("mkdir -p /zones && chown 1000:1000 /zones", user="0")
        yield s
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)


@pytest.fixture
def fresh_studio():
    """A second container, for 'a fresh studio replaced the old one'."""
    why = _podman_ok()
    if why:
        pytest.skip(why)
    name = f"blockc-synctest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["podman", "run", "-d", "--name", name, "--user", "1000:1000", BASE, "sleep", "infinity"],
                   check=True, capture_output=True)
    s = Studio(name)
    try:
        s.sh("mkdir -p /zones && chown 1000:1000 /zones", user="0")
        yield s
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)
