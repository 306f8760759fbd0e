"""Compile-level tests of the `streamlit` block: every option, every bad value, located."""

from __future__ import annotations

import json

import pytest
from blockc_streamlit import STREAMLIT

from blockc import testing

HEAD = """\
apiVersion: blockc/v1
kind: StudioTemplate
metadata: {name: t}
spec:
  image: {base: localhost/base}
  blocks:
"""
APP = "import streamlit as st\nst.write('hi')\n"


@pytest.fixture(scope="module")
def registry():
    return testing.register_block_type(STREAMLIT)


def compile_st(tmp_path, registry, options, *, blocks="", files=None):
    text = (
        HEAD
        + "    - type: streamlit\n      id: st\n      with:\n"
        + "".join(f"        {line}\n" for line in options.splitlines())
        + blocks
    )
    return text, testing.compile_template(text, tmp_path, registry=registry, files=files)


def where(text, needle):
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def app(result):
    return json.loads(result.text("context/blockc/apps.json"))["apps"][0]


def test_app_from_a_sync_zone(tmp_path, registry):
    """Without `src` the file is expected at run time (relative to the workdir)."""
    _, r = compile_st(tmp_path, registry, "app: apps/main.py")
    assert r.ok, r.messages
    assert "'streamlit==1.*'" in r.text("Containerfile")
    a = app(r)
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
    _, r = compile_st(tmp_path, registry, "app: /srv/dash/app.py")
    assert r.ok, r.messages
    assert app(r)["requires"] == ["/srv/dash/app.py"]


def test_app_from_the_template(tmp_path, registry):
    _, r = compile_st(
        tmp_path, registry, "app: dash/app.py\nsrc: src/app.py", files={"src/app.py": APP}
    )
    assert r.ok, r.messages
    assert r.text("context/blocks/st/app.py") == APP
    assert (
        'COPY --chown=1000:1000 --chmod=0644 ["context/blocks/st/app.py", '
        '"/home/studio/workspace/dash/app.py"]'
    ) in r.text("Containerfile")


def test_missing_app_option(tmp_path, registry):
    text, r = compile_st(tmp_path, registry, 'version: "1.40.*"')
    (d,) = r.diagnostics
    assert "missing required key 'app'" in d.message
    assert (d.line, d.col) == where(text, "version")  # the `with:` mapping of the block
    assert d.block_id == "st" and d.block_type == "streamlit"


def test_missing_app_file(tmp_path, registry):
    text, r = compile_st(tmp_path, registry, "app: app.py\nsrc: nowhere/app.py")
    (d,) = r.diagnostics
    assert (d.line, d.col) == where(text, "nowhere/app.py")
    assert "app file 'nowhere/app.py': not found next to the template" in d.message


def test_src_is_a_directory(tmp_path, registry):
    (tmp_path / "adir").mkdir()
    text, r = compile_st(tmp_path, registry, "app: app.py\nsrc: adir")
    (d,) = r.diagnostics
    assert (d.line, d.col) == where(text, "adir")


@pytest.mark.parametrize(
    "bad", ["app.txt", "../escape.py", "dir/../../x.py", "$HOME/app.py", "a\\b.py", "app.py/"]
)
def test_bad_app_path(tmp_path, registry, bad):
    text, r = compile_st(tmp_path, registry, f"app: {json.dumps(bad)}")
    assert r.diagnostics
    for d in r.diagnostics:
        assert (d.line, d.col) == where(text, json.dumps(bad))
        assert "not a valid path of a .py file" in d.message


@pytest.mark.parametrize("bad", ["../app.py", "/etc/passwd"])
def test_bad_src(tmp_path, registry, bad):
    text, r = compile_st(tmp_path, registry, f"app: a.py\nsrc: {bad}")
    (d,) = r.diagnostics
    assert (d.line, d.col) == where(text, bad)


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
    _, r = compile_st(tmp_path, registry, f'app: a.py\nversion: "{version}"')
    assert r.ok, r.messages
    assert f"-- {req}\n" in r.text("Containerfile")


@pytest.mark.parametrize("bad", ["1.x", "latest", "1.40; curl x|sh", "1..40"])
def test_bad_version(tmp_path, registry, bad):
    text, r = compile_st(tmp_path, registry, f"app: a.py\nversion: {json.dumps(bad)}")
    assert r.diagnostics
    for d in r.diagnostics:
        assert (d.line, d.col) == where(text, json.dumps(bad))


def test_index_port_label(tmp_path, registry):
    _, r = compile_st(
        tmp_path,
        registry,
        "app: a.py\nindex_url: https://mirror.example/simple\nport: 8600\nlabel: Dashboard",
    )
    assert r.ok, r.messages
    assert "--index-url https://mirror.example/simple" in r.text("Containerfile")
    assert "--server.port=8600" in app(r)["command"]
    assert r.artifact.studio["apps"][0]["label"] == "Dashboard"


@pytest.mark.parametrize(
    "options,needle",
    [("index_url: not-a-url", "not-a-url"), ("port: 1023", "1023"), ("apps: x.py", "apps:")],
)
def test_bad_options(tmp_path, registry, options, needle):
    text, r = compile_st(tmp_path, registry, "app: a.py\n" + options)
    assert r.diagnostics
    assert (r.diagnostics[0].line, r.diagnostics[0].col) == where(text, needle)


def test_files_after_packages_in_any_order(tmp_path, registry):
    """The app's packages (python-packages) install before Streamlit whatever the order, and
    the app file lands after every install (an edit to it rebuilds one layer)."""
    pkgs = "    - type: python-packages\n      with: {packages: [pandas]}\n"
    _, r = compile_st(tmp_path, registry, "app: a.py\nsrc: a.py", blocks=pkgs, files={"a.py": APP})
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert cf.index("-- pandas") < cf.index("'streamlit==1.*'") < cf.index("context/blocks/st/a.py")
