"""A plugin author's type checker sees every field of blockc's values (py.typed ships, and
Value subclasses read as frozen dataclasses): mypy, run on a plugin outside the repo, catches
a typo'd keyword and a wrong type, and passes a correct plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import blockc

GOOD = """
from blockc import hookimpl
from blockc.kit import PORT, options, pip_install, python_bin
from blockc.types import App, BlockContext, BlockType, Contributions, Phase, Step


def contribute(ctx: BlockContext) -> Contributions:
    port: int = ctx.options.get("port", 7860)
    app = App(id=ctx.id, port=port, command=(python_bin(ctx), "app.py"), label="Gradio")
    step = Step(Phase.APP, [pip_install(ctx, ["gradio==5.0.0"])])
    return Contributions(steps=[step], apps=[app], env={"GRADIO_ANALYTICS_ENABLED": "0"})


GRADIO = BlockType(name="gradio", schema=options({"port": PORT}), contribute=contribute,
                   requires=("python",))


@hookimpl
def blockc_block_types() -> list[BlockType]:
    return [GRADIO]


def describe(t: BlockType) -> str:
    return t.description + ",".join(t.requires)
"""

BAD = """
from blockc.types import App, BlockType, Contributions, Run


def contribute(ctx) -> Contributions:
    return Contributions(apps=[App(id="x", port=80, comand=("a",))])


BT = BlockType(name="x", schema={}, contribute=contribute, descripton="d")
RUN = Run([("a",)], user="admin")
PORT: str = App(id="x", port=80).port
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    (tmp_path / "plugin.py").write_text(source)
    env = {**os.environ, "MYPYPATH": ""}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--no-incremental",
            "--strict",
            "plugin.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_py_typed_ships():
    assert (Path(blockc.__file__).parent / "py.typed").is_file()


def test_mypy_passes_a_correct_plugin(tmp_path):
    r = mypy(tmp_path, GOOD)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_catches_typos_and_wrong_types(tmp_path):
    r = mypy(tmp_path, BAD)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert 'Unexpected keyword argument "comand" for "App"' in out
    assert 'Unexpected keyword argument "descripton" for "BlockType"' in out
    assert 'Argument "user" to "Run" has incompatible type' in out
    assert 'Incompatible types in assignment (expression has type "int"' in out
