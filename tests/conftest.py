"""Shared fixtures: a fresh core-only registry, in-process compile, and the CLI as a process."""

from __future__ import annotations

import os

import pytest
from compiler_support import run_cli

from blockc import testing


def pytest_configure(config):
    """Tests never touch the user's blockc home (state, caches): one fresh home per run."""
    import tempfile

    config._blockc_home_old = os.environ.get("BLOCKC_HOME")
    config._blockc_home = tempfile.TemporaryDirectory(prefix="blockc-test-home-")
    os.environ["BLOCKC_HOME"] = config._blockc_home.name
    # commands run in their own process: no resident blockc per test home left behind
    # (tests/test_resident.py turns it on where it is the subject)
    config._blockc_resident_old = os.environ.get("BLOCKC_RESIDENT")
    os.environ["BLOCKC_RESIDENT"] = "0"


def pytest_unconfigure(config):
    old = getattr(config, "_blockc_home_old", None)
    if old is None:
        os.environ.pop("BLOCKC_HOME", None)
    else:
        os.environ["BLOCKC_HOME"] = old
    resident = getattr(config, "_blockc_resident_old", None)
    if resident is None:
        os.environ.pop("BLOCKC_RESIDENT", None)
    else:
        os.environ["BLOCKC_RESIDENT"] = resident
    home = getattr(config, "_blockc_home", None)
    if home is not None:
        home.cleanup()


@pytest.fixture(scope="session")
def core_registry():
    return testing.make_registry()


@pytest.fixture
def compile_t(tmp_path, core_registry):
    """compile_t(content, files=None, registry=None, ...) -> testing.Result, in tmp_path."""

    def run(content, *, files=None, registry=None, **kw):
        return testing.compile_template(
            content, tmp_path, files=files, registry=registry or core_registry, **kw
        )

    return run


@pytest.fixture
def cli(tmp_path):
    home = tmp_path / "blockc-home"

    def run(*args, **kw):
        return run_cli(*args, home=home, **kw)

    return run


@pytest.fixture(scope="session")
def installed_registry():
    """Every installed plugin, as the CLI loads them (entry points, BLOCKC_PLUGINS applies)."""
    from blockc.plugins import load

    return load()


@pytest.fixture
def local(tmp_path):
    """A sync zone whose agent is a local process (the transport is the only thing swapped):
    (host zone dir, studio zone dir, sync(mode, **kw), (zone, workspace, baseline)). The
    zone excludes ``*.log``."""
    import sys

    from blockc.sync import Baseline, LocalTransport, format_report, sync_zone
    from blockc.types import Zone

    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    studio = tmp_path / "studio" / "zone"
    zone = Zone("data", "data", str(studio), exclude=("*.log",))
    b = Baseline(tmp_path / "state.db")

    def sync(mode="both", **kw):
        r = sync_zone(
            LocalTransport(),
            studio="s",
            zone=zone,
            workspace=ws,
            mode=mode,
            baseline=b,
            python=sys.executable,
            **kw,
        )
        print(format_report(r, verbose=True))
        return r

    return ws / "data", studio, sync, (zone, ws, b)
