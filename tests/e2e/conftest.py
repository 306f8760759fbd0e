"""End-to-end fixtures: real buildah and podman, the local base image, unique studio names."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from podman_objects import remove_studio_objects

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/blockc-base/debian-python:bookworm"
os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "etc" / "containers.conf"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.containers)


@pytest.fixture(scope="session", autouse=True)
def _containers_ready():
    for tool in ("buildah", "podman"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: run `make test`, which installs it")
    if subprocess.run(["podman", "image", "exists", BASE]).returncode:
        pytest.fail(f"base image {BASE} is missing: run `make base-image`")


@pytest.fixture
def studio_name(request):
    """A studio name unique to this test; its pod is removed afterwards whatever happened."""
    names = []

    def make(prefix="t"):
        name = f"{prefix}-{secrets.token_hex(3)}"
        names.append(name)
        return name

    yield make
    for name in names:
        remove_studio_objects(name)


@pytest.fixture
def template():
    """template(dir, name, blocks_yaml, files={}) -> path of a template on the base image."""
    return write_template


def write_template(tmp_path: Path, name: str, blocks: str, files: dict | None = None) -> Path:
    for rel, content in (files or {}).items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""apiVersion: blockc/v1
kind: StudioTemplate
metadata: {{name: {name}}}
spec:
  image: {{base: {BASE}}}
  blocks:
{blocks}""")
    return path
