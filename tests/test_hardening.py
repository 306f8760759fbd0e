"""Issue 13's probes that need no container: credentials in template URLs, special files read
as templates or settings, a private $BLOCKC_HOME, env values Kubernetes would expand."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

from blockc import testing

CREDENTIALS = "https://user:secret@pypi.example/simple"


@pytest.mark.parametrize(
    "block",
    [
        {"type": "python-packages", "with": {"packages": ["numpy"], "index_url": CREDENTIALS}},
        {"type": "python-packages",
         "with": {"packages": ["numpy"], "extra_index_urls": ["https://token@x.example/s"]}},
        {"type": "jupyterlab", "with": {"index_url": CREDENTIALS}},
        {"type": "vscode", "with": {"registry": "https://u:p@npm.example/"}},
        {"type": "rstudio", "with": {"version": "2024.12.0+467", "sha256": "0" * 64,
                                     "deb_url": "https://u:p@x.example/r.deb"}},
    ],
)  # fmt: skip
def test_credentials_in_a_template_url_are_refused(tmp_path, installed_registry, block):
    r = testing.compile_template(
        testing.template(block, image={"provides": ["r"]}), tmp_path, registry=installed_registry
    )
    (d,) = r.diagnostics
    assert d.line and "credentials (user:password@) belong in the site settings" in d.message
    assert "secret" not in "".join(r.messages) and "p@" not in d.message  # not echoed to logs
    assert "://***@" in d.message


def test_an_at_sign_in_a_url_path_is_no_credential(tmp_path):
    block = {"type": "python-packages",
             "with": {"packages": ["numpy"], "index_url": "https://x.example/@team/simple"}}  # fmt: skip
    assert testing.compile_template(testing.template(block), tmp_path).ok


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("args", [["validate", "{fifo}"], ["validate", "/dev/zero"],
                                  ["validate", "{dir}"], ["--config", "{fifo}", "plugins"],
                                  ["schema", "--check", "{fifo}"], ["explain", "{fifo}"]])  # fmt: skip
def test_special_files_are_refused_not_read(cli, tmp_path, fifo, args):
    """A FIFO would block for ever, /dev/zero would fill the memory: a clear error instead."""
    args = [a.format(fifo=fifo, dir=tmp_path) for a in args]
    proc = cli(*args)  # (run_cli times out after 60 s)
    assert proc.returncode == 1
    assert "not a regular file" in proc.stderr, proc.stderr


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_blockc_home_is_private(cli, tmp_path):
    home = tmp_path / "blockc-home"
    t = testing.write_template(
        tmp_path / "t", testing.template({"type": "port", "with": {"port": 8000}})
    )
    assert cli("validate", t).returncode == 0
    assert cli("status").returncode == 0
    assert mode(home) == 0o700
    assert mode(home / "state.db") == 0o600
    cached = [p for p in (home / "cache").rglob("*") if p.is_file()]
    assert cached and all(mode(p) == 0o600 for p in cached)
    assert all(mode(p) == 0o700 for p in (home / "cache").rglob("*") if p.is_dir())


def test_an_older_open_home_is_narrowed(cli, tmp_path):
    home = tmp_path / "blockc-home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    assert cli("status").returncode == 0
    assert mode(home) == 0o700


def test_env_values_are_literal_for_kubernetes(tmp_path):
    block = {"type": "port", "with": {"port": 8000}}
    r = testing.compile_template(
        testing.template(block, env={"A": "x$(HOME)y", "B": "p$$q"}), tmp_path
    )
    deployment = next(yaml.safe_load_all(r.text("manifests.yaml")))
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["A"] == "x$$(HOME)y" and env["B"] == "p$$$$q"  # Kubernetes reads $$ as $
    assert r.artifact.studio["env"]["A"] == "x$(HOME)y"  # the data itself is as written


def test_long_lists_are_bounded_and_reported_briefly(tmp_path):
    """6,000 zones took 21 s to check pairwise; lists have bounds, said in a short line."""
    zones = [
        {"name": f"z{i}", "host": f"h{i}", "container": f"/home/studio/c{i}"} for i in range(6000)
    ]
    r = testing.compile_template(
        testing.template({"type": "file-sync", "with": {"zones": zones}}), tmp_path
    )
    (d,) = r.diagnostics
    assert d.message == "has 6000 items; at most 64 are allowed" and d.line
    env = {f"V{i}": "x" for i in range(300)}
    r = testing.compile_template(
        testing.template({"type": "port", "with": {"port": 8000}}, env=env), tmp_path / "e"
    )
    assert [d.message for d in r.diagnostics] == ["has 300 keys; at most 256 are allowed"]


def test_names_with_control_characters_are_shown_not_obeyed(cli, tmp_path):
    """A file name or a template key with ESC or a bidi override reaches the terminal escaped."""
    odd = tmp_path / "x\x1b[2Jy.yaml"
    odd.write_text("kind: Other\n")
    data = testing.template({"type": "port", "with": {"port": 8000}})
    data["metadata"]["labels"] = {"a\u202eb": "x"}
    testing.write_template(tmp_path / "t", data)
    proc = cli("validate", tmp_path)
    out = proc.stdout + proc.stderr
    assert "\x1b" not in out and "\u202e" not in out
    assert "x\\x1b[2Jy.yaml" in out and "a\\u202eb" in out


def test_the_image_reference_check_is_the_schemas():
    from blockc.compiler.schema import template_schema
    from blockc.names import IMAGE_REFERENCE

    base = template_schema()["properties"]["spec"]["properties"]["image"]["properties"]["base"]
    assert base["pattern"] == f"^{IMAGE_REFERENCE.pattern}$"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--namespace", "a b"], "--namespace 'a b' is not a namespace name"),
        (["--namespace", "ns\n"], "is not a namespace name"),
        (["--image", "evil\nx"], "--image 'evil\\nx' is not an image reference: it contains"),
    ],
)
def test_manifests_options_are_checked(cli, tmp_path, args, message):
    t = testing.write_template(
        tmp_path / "t", testing.template({"type": "port", "with": {"port": 8000}})
    )
    proc = cli("manifests", t, "--studio", "s", "--owner", "o", *args)
    assert proc.returncode == 1 and message in proc.stderr
    ok = cli("manifests", t, "--studio", "s", "--owner", "o", "--image", "reg.example:5000/a/b:1")
    assert ok.returncode == 0 and "image: reg.example:5000/a/b:1" in ok.stdout


def test_a_multi_line_message_keeps_its_lines_and_escapes_the_rest():
    from blockc.errors import Diagnostic

    d = Diagnostic("pull left paths unsynced:\n    w: 'a\x1b[2Jb': too large\n  nothing removed")
    text = d.format()
    assert text.split("\n")[1:] == ["    w: 'a\\x1b[2Jb': too large", "  nothing removed"]
