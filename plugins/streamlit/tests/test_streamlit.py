"""Compile-level tests of the `streamlit` block: every option, every bad value, located."""

from __future__ import annotations

import json

import pytest
from blockc_streamlit import STREAMLIT

from blockc import testing

APP = "import streamlit as st\nst.write('hi')\n"


@pytest.fixture(scope="module")
def registry():
    return testing.register_block_type(STREAMLIT)


def test_app_from_a_sync_zone(tmp_path, registry):
    """Without `src` the file is expected at run time (relative to the workdir)."""
    r = testing.compile_block(STREAMLIT, "app: apps/main.py", tmp_path, registry=registry, id="st")
    assert r.ok, r.messages
    assert "'streamlit==1.*'" in r.text("Containerfile")
    a = r.app()
    path = "/home/studio/workspace/apps/main.py"
    assert a["requires"] == [path]
    assert a["command"][:3] == ["/opt/studio/venv/bin/streamlit", "run", path]
    assert {
        "--server.port=8501",
        "--server.address=0.0.0.0",
        "--server.headless=true",
        "--server.baseUrlPath=${BLOCKC_BASE_PATH_ST}",
    } <= set(a["command"])
    assert a["workdir"] == "/home/studio/workspace/apps"
    assert a["path"] == "preserve" and a["health"] == "{base}_stcore/health"
    assert r.artifact.studio["apps"][0]["websocket"] is True
    assert "context/blocks/st" not in r.text("Containerfile")


def test_app_absolute(tmp_path, registry):
    r = testing.compile_block(
        STREAMLIT, "app: /srv/dash/app.py", tmp_path, registry=registry, id="st"
    )
    assert r.ok, r.messages
    assert r.app()["requires"] == ["/srv/dash/app.py"]


def test_app_from_the_template(tmp_path, registry):
    r = testing.compile_block(
        STREAMLIT,
        "app: dash/app.py\nsrc: src/app.py",
        tmp_path,
        registry=registry,
        id="st",
        files={"src/app.py": APP},
    )
    assert r.ok, r.messages
    assert r.text("context/blocks/st/app.py") == APP
    assert (
        'COPY --chown=1000:1000 --chmod=0644 ["context/blocks/st/app.py", '
        '"/home/studio/workspace/dash/app.py"]'
    ) in r.text("Containerfile")


def test_missing_app_option(tmp_path, registry):
    r = testing.compile_block(STREAMLIT, 'version: "1.40.*"', tmp_path, registry=registry, id="st")
    (d,) = r.diagnostics
    assert "missing required key 'app'" in d.message
    assert (d.line, d.col) == r.where("version")  # the `with:` mapping of the block
    assert d.block_id == "st" and d.block_type == "streamlit"


def test_missing_app_file(tmp_path, registry):
    r = testing.compile_block(
        STREAMLIT, "app: app.py\nsrc: nowhere/app.py", tmp_path, registry=registry, id="st"
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where("nowhere/app.py")
    assert "app file 'nowhere/app.py': not found next to the template" in d.message


def test_src_is_a_directory(tmp_path, registry):
    (tmp_path / "adir").mkdir()
    r = testing.compile_block(
        STREAMLIT, "app: app.py\nsrc: adir", tmp_path, registry=registry, id="st"
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where("adir")


@pytest.mark.parametrize(
    "bad", ["app.txt", "../escape.py", "dir/../../x.py", "$HOME/app.py", "a\\b.py", "app.py/"]
)
def test_bad_app_path(tmp_path, registry, bad):
    r = testing.compile_block(
        STREAMLIT, f"app: {json.dumps(bad)}", tmp_path, registry=registry, id="st"
    )
    assert r.diagnostics
    for d in r.diagnostics:
        assert (d.line, d.col) == r.where(json.dumps(bad))
        assert "not a valid path of a .py file" in d.message


@pytest.mark.parametrize("bad", ["../app.py", "/etc/passwd"])
def test_bad_src(tmp_path, registry, bad):
    r = testing.compile_block(
        STREAMLIT, f"app: a.py\nsrc: {bad}", tmp_path, registry=registry, id="st"
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where(bad)


@pytest.mark.parametrize(
    "version,req",
    [
        ("1.40.1", "streamlit==1.40.1"),
        ("==1.40.1", "streamlit==1.40.1"),
        ("1.*", "'streamlit==1.*'"),
        (">=1.38,<2", "'streamlit>=1.38,<2'"),
    ],
)
def test_version(tmp_path, registry, version, req):
    r = testing.compile_block(
        STREAMLIT, f'app: a.py\nversion: "{version}"', tmp_path, registry=registry, id="st"
    )
    assert r.ok, r.messages
    assert f"-- {req}\n" in r.text("Containerfile")


@pytest.mark.parametrize("bad", ["1.x", "latest", "1.40; curl x|sh", "1..40"])
def test_bad_version(tmp_path, registry, bad):
    r = testing.compile_block(
        STREAMLIT, f"app: a.py\nversion: {json.dumps(bad)}", tmp_path, registry=registry, id="st"
    )
    assert r.diagnostics
    for d in r.diagnostics:
        assert (d.line, d.col) == r.where(json.dumps(bad))


def test_index_port_label(tmp_path, registry):
    r = testing.compile_block(
        STREAMLIT,
        "app: a.py\nindex_url: https://mirror.example/simple\nport: 8600\nlabel: Dashboard",
        tmp_path,
        registry=registry,
        id="st",
    )
    assert r.ok, r.messages
    assert "--index-url https://mirror.example/simple" in r.text("Containerfile")
    assert "--server.port=8600" in r.app()["command"]
    assert r.artifact.studio["apps"][0]["label"] == "Dashboard"


@pytest.mark.parametrize(
    "options,needle",
    [("index_url: not-a-url", "not-a-url"), ("port: 1023", "1023"), ("apps: x.py", "apps:")],
)
def test_bad_options(tmp_path, registry, options, needle):
    r = testing.compile_block(
        STREAMLIT, "app: a.py\n" + options, tmp_path, registry=registry, id="st"
    )
    assert r.diagnostics
    assert (r.diagnostics[0].line, r.diagnostics[0].col) == r.where(needle)


def test_files_after_packages_in_any_order(tmp_path, registry):
    """The app's packages (python-packages) install before Streamlit whatever the order, and
    the app file lands after every install (an edit to it rebuilds one layer)."""
    pkgs = "- type: python-packages\n  with: {packages: [pandas]}"
    r = testing.compile_block(
        STREAMLIT,
        "app: a.py\nsrc: a.py",
        tmp_path,
        registry=registry,
        id="st",
        files={"a.py": APP},
        after=pkgs,
    )
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert cf.index("-- pandas") < cf.index("'streamlit==1.*'") < cf.index("context/blocks/st/a.py")
