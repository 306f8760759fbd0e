"""End-to-end helpers shared by the app plugins' tests (``@pytest.mark.containers``).

``studio(template, name, workspace=...)`` runs ``blockc start`` (build if needed, deploy with
podman, sync in, wait until every app is healthy) and returns ``blockc status --format json``
for the studio; every studio started is removed (``blockc rm --force``) after the test.
Tests then talk to each app through the URL that status reports, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKC = Path(sys.executable).parent / "blockc"
BASE_IMAGE = "localhost/blockc-base/debian-python:bookworm"


def _env(home: Path) -> dict:
    env = {**os.environ, "BLOCKC_HOME": str(home)}
    conf = ROOT / "etc" / "containers.conf"
    if conf.exists():
        env.setdefault("CONTAINERS_CONF", str(conf))
    return env


def blockc(*args, home: Path, timeout: float = 1800, check: bool = True):
    proc = subprocess.run(
        [str(BLOCKC), *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"blockc {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="session")
def blockc_home(tmp_path_factory):
    """One BLOCKC_HOME for the session's studios (their images are shared via podman)."""
    for tool in ("buildah", "podman"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    env = _env(Path("/nonexistent"))
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE], env=env).returncode != 0:
        pytest.skip(f"base image {BASE_IMAGE} missing (scripts/make-base-image.sh)")
    return tmp_path_factory.mktemp("blockc-home")


@pytest.fixture
def studio(blockc_home, tmp_path):
    """studio(template, prefix, workspace=None) -> the studio's `blockc status` record."""
    started = []

    def start(template, prefix: str, workspace: Path | None = None) -> dict:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        workspace = workspace or tmp_path / "workspace"
        workspace.mkdir(parents=True, exist_ok=True)
        started.append(name)
        proc = blockc(
            "start",
            template,
            "--studio",
            name,
            "--workspace",
            workspace,
            "--timeout",
            600,
            home=blockc_home,
            check=False,
        )
        if proc.returncode != 0:
            logs = blockc("logs", name, home=blockc_home, check=False)
            raise AssertionError(
                f"blockc start failed ({proc.returncode}):\n{proc.stdout}\n"
                f"{proc.stderr}\n--- logs ---\n{logs.stdout}{logs.stderr}"
            )
        out = blockc("status", name, "--format", "json", home=blockc_home).stdout
        data = json.loads(out)
        record = data[0] if isinstance(data, list) else data
        record["apps_by_id"] = {a["id"]: a for a in record["apps"]}
        return record

    yield start
    for name in started:
        blockc("rm", "--force", name, home=blockc_home, check=False, timeout=120)


@pytest.fixture
def studio_exec(blockc_home):
    """studio_exec(name, *argv) -> CompletedProcess of `blockc exec NAME -- ARGV`."""

    def run(name, *argv):
        return blockc("exec", name, "--", *argv, home=blockc_home, check=False, timeout=120)

    return run
