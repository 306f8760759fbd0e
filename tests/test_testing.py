"""blockc.testing itself, and `blockc explain` on what it compiles."""

from __future__ import annotations

import json
import re

import pytest
from compiler_support import EXAMPLES

from blockc import testing
from blockc.errors import BlockcError
from blockc.types import BlockType, Contributions, Phase, Run, Step


def test_make_registry_is_fresh_and_core_only():
    one, two = testing.make_registry(), testing.make_registry()
    assert one.pm is not two.pm
    assert {e.plugin.name for e in one.types.values()} == {"core"}
    assert testing.make_registry(core=False).types == {}


def test_register_block_type_in_one_call(tmp_path):
    bt = BlockType("nothing", {"type": "object"}, lambda ctx: Contributions())
    info = testing.fake_distribution("nothing", version="9.9")
    reg = testing.register_block_type(bt, info=info)
    assert reg.types["nothing"].type is bt and reg.types["nothing"].plugin.version == "9.9"
    assert "app" in reg.types
    with pytest.raises(BlockcError) as exc:  # core already has 'app': named, not silent
        testing.register_block_type(
            BlockType("app", {"type": "object"}, lambda ctx: Contributions())
        )
    assert "block type 'app' is provided by several plugins: 'core'" in str(exc.value)


def test_fake_distribution_defaults():
    info = testing.fake_distribution("x")
    assert (info.name, info.dist, info.version) == ("x", "blockc-x", "0.0.0")


def test_result_of_a_failed_compile(tmp_path):
    r = testing.compile_template(testing.template({"type": "nope"}), tmp_path)
    assert not r.ok and r.artifact is None
    assert r.messages[0].startswith(f"{r.path}:")
    with pytest.raises(AssertionError, match="unknown block type"):
        r.text("Containerfile")


def test_write_template_text_bytes_data_and_side_files(tmp_path):
    p = testing.write_template(
        tmp_path, b"apiVersion: x\n", files={"sub/a.txt": "A", "b.bin": b"\x00"}
    )
    assert p.read_bytes() == b"apiVersion: x\n"
    assert (tmp_path / "sub/a.txt").read_text() == "A" and (
        tmp_path / "b.bin"
    ).read_bytes() == b"\x00"
    p = testing.write_template(tmp_path, testing.template({"type": "port"}), filename="t.yaml")
    assert p.name == "t.yaml" and "type: port" in p.read_text()


def test_strict_compile_checks_manifests(tmp_path):
    r = testing.compile_template(
        testing.template({"type": "port", "with": {"port": 8000}}), tmp_path, strict=True
    )
    assert r.ok, r.messages


def test_explain_attributes_every_line(cli):
    proc = cli("explain", EXAMPLES / "data-science.yaml")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"\n +scipy-stack {6}\| RUN /opt/studio/venv/bin/pip install", out)
    assert re.search(r"\n +dashboards {6}\| COPY", out)
    # what runs as root is marked: apt, and file-sync's mkdir/chown
    assert re.search(r"\n *system-packages root \| RUN /opt/blockc/bin/apt-install git", out)
    assert re.search(r"\n +file-sync root \| RUN mkdir", out)
    data = json.loads(cli("explain", "--format", "json", EXAMPLES / "data-science.yaml").stdout)
    blocks = {r["block"] for r in data["provenance"]["Containerfile"]}
    assert {"blockc", "scipy-stack", "system-packages", "dashboards", "file-sync"} <= blocks
    assert data["provenance"]["env"]["MPLBACKEND"] == "template"


def test_compile_block_where_and_app(tmp_path):
    r = testing.compile_block(
        "app", "port: 8000\ncommand: [serve]\nlabel: 4.10", tmp_path, id="web"
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where("4.10") and d.hint == 'quote it: "4.10"'
    r = testing.compile_block("app", {"port": 8000, "command": ["serve"]}, tmp_path, id="web")
    assert r.ok, r.messages
    assert r.app()["port"] == 8000 and r.app("web")["command"] == ["serve"]
    with pytest.raises(AssertionError, match="no app 'nope'"):
        r.app("nope")
    with pytest.raises(AssertionError, match="is not in the template"):
        r.where("no such text")


def test_compile_block_of_a_block_type_with_more_blocks(tmp_path):
    echo = BlockType(
        "echo",
        {"type": "object"},
        lambda ctx: Contributions(steps=[Step(Phase.APP, [Run([("echo", ctx.id)])])]),
        requires=("r",),
    )
    after = """
        - type: system-packages
          with: {apt: [r-base-core]}
    """
    r = testing.compile_block(echo, None, tmp_path, after=after)
    assert r.ok, r.messages
    assert "RUN echo echo" in r.text("Containerfile")
    r = testing.compile_block(echo, None, tmp_path)
    assert "needs r" in r.messages[0]
    r = testing.compile_block(echo, None, tmp_path, image={"provides": ["r"]})
    assert r.ok, r.messages


def test_a_clash_in_a_test_registry_is_named_with_its_hint():
    with pytest.raises(BlockcError) as exc:
        testing.register_block_type(BlockType("app", {"type": "object"}, lambda c: Contributions()))
    (d,) = exc.value.diagnostics
    assert d.file is None and d.hint.startswith("leave one out: --plugins=-test-plugin")
