"""End-to-end fixtures shared by the app plugins' tests (``@pytest.mark.containers``), on
:func:`blockc.testing.run_studio`, the helper any plugin's tests can use.

``studio(template, prefix, workspace=...)`` runs ``blockc start`` (build if needed, deploy with
podman, sync in, wait until every app is healthy) and returns ``blockc status --format json``
for the studio, with ``apps_by_id``; every studio started is removed after the test. Tests then
talk to each app through the URL that status reports, as a user would.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import pytest

from blockc import testing

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict:
    conf = ROOT / "etc" / "containers.conf"
    return {"CONTAINERS_CONF": str(conf)} if conf.exists() else {}


@pytest.fixture(scope="session")
def blockc_home(tmp_path_factory):
    """One BLOCKC_HOME for the session's studios (their images are shared via podman)."""
    return tmp_path_factory.mktemp("blockc-home")


@pytest.fixture
def studio(blockc_home, tmp_path):
    """studio(template, prefix, workspace=None) -> the studio's `blockc status` record."""
    with contextlib.ExitStack() as stack:

        def start(template, prefix: str, workspace: Path | None = None) -> dict:
            run = testing.run_studio(
                template,
                home=blockc_home,
                name=f"{prefix}-{uuid.uuid4().hex[:6]}",
                workspace=workspace or tmp_path / "workspace",
                env=_env(),
                timeout=600,
            )
            started = stack.enter_context(run)
            return {**started.status, "apps_by_id": started.apps, "studio": started}

        yield start


@pytest.fixture
def studio_exec(blockc_home):
    """studio_exec(name, *argv) -> CompletedProcess of `blockc exec NAME -- ARGV`."""
    import os

    env = {**os.environ, "BLOCKC_HOME": str(blockc_home), **_env()}

    def run(name, *argv):
        return testing.Studio(name, blockc_home, {}, env).exec(*argv)

    return run
