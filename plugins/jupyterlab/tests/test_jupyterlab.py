"""Compile-level tests of the `jupyterlab` block: every option, every bad value, located."""

from __future__ import annotations

import json

import pytest
from blockc_jupyterlab import JUPYTERLAB

from blockc import testing


@pytest.fixture(scope="module")
def registry():
    return testing.register_block_type(JUPYTERLAB)


def test_defaults(tmp_path, registry):
    r = testing.compile_block(JUPYTERLAB, "", tmp_path, registry=registry, id="lab")
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert (
        "pip install --no-cache-dir --disable-pip-version-check -- 'jupyterlab==4.*' ipykernel"
        in cf
    )
    assert "/opt/studio/venv/bin/python -m ipykernel install --sys-prefix --name python3" in cf
    a = r.app()
    assert a["port"] == 8888 and a["path"] == "preserve" and a["health"] == "{base}api"
    cmd = a["command"]
    assert cmd[0] == "/opt/studio/venv/bin/jupyter-lab"
    assert {
        "--ip=0.0.0.0",
        "--port=8888",
        "--ServerApp.base_url=${BLOCKC_BASE_PATH_LAB}",
        "--IdentityProvider.token=",
        "--PasswordIdentityProvider.hashed_password=",
        "--ServerApp.root_dir=/home/studio/workspace",
    } <= set(cmd)
    # the studio's Python environment comes first on every app's PATH (set by the image)
    assert "ENV VIRTUAL_ENV=/opt/studio/venv PATH=/opt/studio/venv/bin:$PATH" in r.text(
        "Containerfile"
    )
    studio_app = r.artifact.studio["apps"][0]
    assert studio_app["websocket"] is True and studio_app["type"] == "jupyterlab"
    assert studio_app["label"] == "JupyterLab"


@pytest.mark.parametrize(
    "version,requirement",
    [
        ("4.2.1", "jupyterlab==4.2.1"),
        ("==4.2.1", "jupyterlab==4.2.1"),
        ("4.*", "'jupyterlab==4.*'"),
        (">=4.1, <5", "'jupyterlab>=4.1,<5'"),
        ("~=4.2", "'jupyterlab~=4.2'"),
    ],
)
def test_version(tmp_path, registry, version, requirement):
    r = testing.compile_block(
        JUPYTERLAB, f'version: "{version}"', tmp_path, registry=registry, id="lab"
    )
    assert r.ok, r.messages
    assert f"-- {requirement} ipykernel" in r.text("Containerfile")


@pytest.mark.parametrize(
    "version", ["4.x", "latest", "", "4.2.1; rm -rf /", "$(reboot)", "===4.2", "== "]
)
def test_bad_version(tmp_path, registry, version):
    r = testing.compile_block(
        JUPYTERLAB, f"version: {json.dumps(version)}", tmp_path, registry=registry, id="lab"
    )
    assert not r.ok and r.diagnostics
    for d in r.diagnostics:
        assert (d.line, d.col) == r.where(json.dumps(version))
        assert d.block_id == "lab" and d.block_type == "jupyterlab"
        assert d.file == str(r.path)
        assert "PEP 440" in d.message or "non-empty" in d.message, d.message


def test_extensions_and_index(tmp_path, registry):
    r = testing.compile_block(
        JUPYTERLAB,
        'extensions: ["jupyterlab-git==0.50.*", '
        '"jupyterlab-lsp>=5"]\n'
        "index_url: https://pypi.example.org/simple",
        tmp_path,
        registry=registry,
        id="lab",
    )
    assert r.ok, r.messages
    assert (
        "pip install --no-cache-dir --disable-pip-version-check --index-url "
        "https://pypi.example.org/simple -- 'jupyterlab==4.*' ipykernel "
        "'jupyterlab-git==0.50.*' 'jupyterlab-lsp>=5'"
    ) in r.text("Containerfile")


@pytest.mark.parametrize(
    "bad", ["jupyterlab-git; rm -rf /", "jupyterlab git", "-e git+x", "pkg==1.0 && reboot", "`id`"]
)
def test_bad_extension(tmp_path, registry, bad):
    r = testing.compile_block(
        JUPYTERLAB,
        f"extensions: [ok-pkg, {json.dumps(bad)}]",
        tmp_path,
        registry=registry,
        id="lab",
    )
    assert not r.ok
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where(json.dumps(bad))
    assert d.path[-2:] == ("extensions", 1)


@pytest.mark.parametrize(
    "options,needle,message",
    [
        ("index_url: ftp://mirror/simple", "ftp://", "http(s) URL"),
        ('index_url: "https://x.org/simple\'; id"', '"https://', "http(s) URL"),
        ("port: 80", "80", "minimum"),
        ("port: 70000", "70000", "maximum"),
        ("port: eighty", "eighty", "an integer"),
        ("extensions: jupyterlab-git", "jupyterlab-git", "a list"),
        ('label: "a\\nb"', '"a\\nb"', "label"),
    ],
)
def test_bad_options(tmp_path, registry, options, needle, message):
    r = testing.compile_block(JUPYTERLAB, options, tmp_path, registry=registry, id="lab")
    assert not r.ok
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where(needle)
    assert message in d.message, d.message


def test_unknown_option_did_you_mean(tmp_path, registry):
    r = testing.compile_block(JUPYTERLAB, "extension: [x]", tmp_path, registry=registry, id="lab")
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where("extension:")
    assert "unknown key 'extension'" in d.message and "extensions" in d.hint


def test_all_errors_at_once(tmp_path, registry):
    r = testing.compile_block(
        JUPYTERLAB, 'version: "4.x"\nextensions: ["a b"]', tmp_path, registry=registry, id="lab"
    )
    assert len(r.diagnostics) == 2
    assert [d.line for d in r.diagnostics] == sorted(d.line for d in r.diagnostics)


def test_port_and_id(tmp_path, registry):
    r = testing.compile_block(
        JUPYTERLAB, "port: 9999\nlabel: Notebooks", tmp_path, registry=registry, id="my-lab"
    )
    assert r.ok, r.messages
    a = r.app("my-lab")
    assert "--port=9999" in a["command"] and a["port"] == 9999
    assert "--ServerApp.base_url=${BLOCKC_BASE_PATH_MY_LAB}" in a["command"]
    assert r.artifact.studio["apps"][0]["label"] == "Notebooks"


def test_port_conflict_names_both_blocks(tmp_path, registry):
    other = "- type: app\n  id: web\n  with: {command: [x], port: 8888}"
    r = testing.compile_block(
        JUPYTERLAB, "port: 8888", tmp_path, registry=registry, id="lab", after=other
    )
    (d,) = r.diagnostics
    assert "port 8888 is already used by block 'lab'" in d.message and d.block_id == "web"


def test_the_default_port_yields_to_a_written_one(tmp_path, registry):
    other = "- type: app\n  id: web\n  with: {command: [x], port: 8888}"
    r = testing.compile_block(JUPYTERLAB, None, tmp_path, registry=registry, id="lab", after=other)
    assert r.ok, r.messages
    assert r.app("lab")["port"] == 8889 and "--port=8889" in r.app("lab")["command"]


@pytest.mark.parametrize("before", [True, False])
def test_any_order_with_python_packages(tmp_path, registry, before):
    """The studio's packages install before JupyterLab whatever the template's order."""
    pkgs = "- type: python-packages\n  with: {packages: [pandas]}"
    r = testing.compile_block(
        JUPYTERLAB,
        "",
        tmp_path,
        registry=registry,
        id="lab",
        before=pkgs if before else "",
        after="" if before else pkgs,
    )
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert cf.index("-- pandas") < cf.index("'jupyterlab==4.*'")
    assert cf.index("'jupyterlab==4.*'") < cf.index("ipykernel install")


def test_deterministic(tmp_path, registry):
    a = testing.compile_block(
        JUPYTERLAB, "extensions: [x]", tmp_path / "a", registry=registry, id="lab"
    )
    b = testing.compile_block(
        JUPYTERLAB, "extensions: [x]", tmp_path / "b", registry=registry, id="lab"
    )
    assert a.artifact.files == b.artifact.files


@pytest.mark.parametrize(
    "container, waits",
    [
        ("/home/studio/workspace", False),  # the usual zone: JupyterLab starts while it syncs in
        ("/srv/data", False),
        ("/home/studio", True),  # covers ~/.jupyter
        ("/home/studio/.jupyter/lab", True),
        ("/home/studio/.local/share/jupyter", True),
    ],
)
def test_starts_while_files_sync_in_unless_a_zone_covers_its_config(
    tmp_path, registry, container, waits
):
    sync = f"- type: file-sync\n  with:\n    zones: [{{name: w, host: ., container: {container}}}]"
    r = testing.compile_block(JUPYTERLAB, "", tmp_path, registry=registry, id="lab", after=sync)
    assert r.ok, r.messages
    assert r.app()["wait_for_sync"] is waits
