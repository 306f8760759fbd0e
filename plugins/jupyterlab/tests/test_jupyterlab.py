"""Compile-level tests of the `jupyterlab` block: every option, every bad value, located."""

from __future__ import annotations

import json

import pytest
from blockc_jupyterlab import JUPYTERLAB

from blockc import testing

HEAD = """\
apiVersion: blockc/v1
kind: StudioTemplate
metadata: {name: t}
spec:
  image: {base: localhost/base}
  blocks:
"""


@pytest.fixture(scope="module")
def registry():
    return testing.register_block_type(JUPYTERLAB)


def compile_lab(tmp_path, registry, options="", *, blocks="", block_id="lab"):
    """Compile a template with one jupyterlab block (``options`` are YAML lines under with:)."""
    text = HEAD + f"    - type: jupyterlab\n      id: {block_id}\n"
    if options:
        text += "      with:\n" + "".join(f"        {line}\n" for line in options.splitlines())
    text += blocks
    return text, testing.compile_template(text, tmp_path, registry=registry)


def where(text, needle):
    """(line, col), 1-based, of the first occurrence of ``needle`` in ``text``."""
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def app(result, app_id="lab"):
    apps = json.loads(result.text("context/blockc/apps.json"))["apps"]
    return next(a for a in apps if a["id"] == app_id)


def test_defaults(tmp_path, registry):
    _, r = compile_lab(tmp_path, registry)
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert (
        "pip install --no-cache-dir --disable-pip-version-check -- 'jupyterlab==4.*' ipykernel"
        in cf
    )
    assert "/opt/studio/venv/bin/python -m ipykernel install --sys-prefix --name python3" in cf
    a = app(r)
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
    _, r = compile_lab(tmp_path, registry, f'version: "{version}"')
    assert r.ok, r.messages
    assert f"-- {requirement} ipykernel" in r.text("Containerfile")


@pytest.mark.parametrize(
    "version", ["4.x", "latest", "", "4.2.1; rm -rf /", "$(reboot)", "===4.2", "== "]
)
def test_bad_version(tmp_path, registry, version):
    text, r = compile_lab(tmp_path, registry, f"version: {json.dumps(version)}")
    assert not r.ok and r.diagnostics
    for d in r.diagnostics:
        assert (d.line, d.col) == where(text, json.dumps(version))
        assert d.block_id == "lab" and d.block_type == "jupyterlab"
        assert d.file == str(r.path)
        assert "PEP 440" in d.message or "non-empty" in d.message, d.message


def test_extensions_and_index(tmp_path, registry):
    _, r = compile_lab(
        tmp_path,
        registry,
        'extensions: ["jupyterlab-git==0.50.*", '
        '"jupyterlab-lsp>=5"]\n'
        "index_url: https://pypi.example.org/simple",
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
    text, r = compile_lab(tmp_path, registry, f"extensions: [ok-pkg, {json.dumps(bad)}]")
    assert not r.ok
    (d,) = r.diagnostics
    assert (d.line, d.col) == where(text, json.dumps(bad))
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
    text, r = compile_lab(tmp_path, registry, options)
    assert not r.ok
    (d,) = r.diagnostics
    assert (d.line, d.col) == where(text, needle)
    assert message in d.message, d.message


def test_unknown_option_did_you_mean(tmp_path, registry):
    text, r = compile_lab(tmp_path, registry, "extension: [x]")
    (d,) = r.diagnostics
    assert (d.line, d.col) == where(text, "extension:")
    assert "unknown key 'extension'" in d.message and "extensions" in d.hint


def test_all_errors_at_once(tmp_path, registry):
    _, r = compile_lab(tmp_path, registry, 'version: "4.x"\nextensions: ["a b"]')
    assert len(r.diagnostics) == 2
    assert [d.line for d in r.diagnostics] == sorted(d.line for d in r.diagnostics)


def test_port_and_id(tmp_path, registry):
    _, r = compile_lab(tmp_path, registry, "port: 9999\nlabel: Notebooks", block_id="my-lab")
    assert r.ok, r.messages
    a = app(r, "my-lab")
    assert "--port=9999" in a["command"] and a["port"] == 9999
    assert "--ServerApp.base_url=${BLOCKC_BASE_PATH_MY_LAB}" in a["command"]
    assert r.artifact.studio["apps"][0]["label"] == "Notebooks"


def test_port_conflict_names_both_blocks(tmp_path, registry):
    other = "    - type: app\n      id: web\n      with: {command: [x], port: 8888}\n"
    _, r = compile_lab(tmp_path, registry, blocks=other)
    assert not r.ok
    assert any("port 8888" in d.message and "'lab'" in d.message for d in r.diagnostics)


@pytest.mark.parametrize("before", [True, False])
def test_any_order_with_python_packages(tmp_path, registry, before):
    """The studio's packages install before JupyterLab whatever the template's order."""
    pkgs = "    - type: python-packages\n      with: {packages: [pandas]}\n"
    if before:
        text = HEAD + pkgs + "    - type: jupyterlab\n      id: lab\n"
        r = testing.compile_template(text, tmp_path, registry=registry)
    else:
        _, r = compile_lab(tmp_path, registry, blocks=pkgs)
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert cf.index("-- pandas") < cf.index("'jupyterlab==4.*'")
    assert cf.index("'jupyterlab==4.*'") < cf.index("ipykernel install")


def test_deterministic(tmp_path, registry):
    _, a = compile_lab(tmp_path / "a", registry, "extensions: [x]")
    _, b = compile_lab(tmp_path / "b", registry, "extensions: [x]")
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
    blocks = (
        f"    - type: file-sync\n      with:\n"
        f"        zones: [{{name: w, host: ., container: {container}}}]\n"
    )
    _, r = compile_lab(tmp_path, registry, blocks=blocks)
    assert r.ok, r.messages
    assert app(r)["wait_for_sync"] is waits
