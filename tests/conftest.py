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


def pytest_unconfigure(config):
    old = getattr(config, "_blockc_home_old", None)
    if old is None:
        os.environ.pop("BLOCKC_HOME", None)
    else:
        os.environ["BLOCKC_HOME"] = old
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
