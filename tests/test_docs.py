"""docs/plugins.md: every hook documented with its exact signature and tested; the example
plugin in docs/example-plugin/ is shown verbatim and its own tests pass."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import tomllib

import pytest
from compiler_support import ROOT

from blockc import hookspecs

DOC = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "docs" / "example-plugin"


def hooks():
    return [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("blockc_") and hasattr(fn, "blockc_spec")
    ]


def signature(name: str) -> str:
    """The hook's signature as written in hookspecs.py: ``name(args) -> Return``."""
    node = next(
        n
        for n in ast.parse(inspect.getsource(hookspecs)).body
        if isinstance(n, ast.FunctionDef) and n.name == name
    )
    text = f"{name}({ast.unparse(node.args)})"
    if node.returns is not None:
        text += f" -> {ast.unparse(node.returns)}"
    return text


def test_there_are_hooks():
    assert hooks() == ["blockc_block_types"]


@pytest.mark.parametrize("hook", hooks())
def test_plugin_hooks_are_documented(hook):
    doc = DOC.read_text()
    assert f"### `{signature(hook)}`" in doc, f"document {signature(hook)} in {DOC}"


@pytest.mark.parametrize("hook", hooks())
def test_plugin_hooks_have_tests(hook):
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    assert f"def test_hook_{hook}(" in tests, f"write tests/test_*.py::test_hook_{hook}"


def test_hookspecs_have_docstrings_with_an_example():
    for hook in hooks():
        doc = getattr(hookspecs, hook).__doc__
        assert doc and "Example::" in doc, hook


@pytest.mark.parametrize(
    "name", ["pyproject.toml", "blockc_static_site.py", "test_blockc_static_site.py"]
)
def test_example_plugin_is_shown_verbatim(name):
    assert (EXAMPLE / name).read_text() in DOC.read_text(), f"docs/plugins.md shows old {name}"


def test_example_plugin_declares_its_entry_point():
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["blockc"] == {"static-site": "blockc_static_site"}


@pytest.fixture
def example_plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    for name in ("blockc_static_site", "test_blockc_static_site"):
        sys.modules.pop(name, None)
    yield importlib.import_module("test_blockc_static_site")
    for name in ("blockc_static_site", "test_blockc_static_site"):
        sys.modules.pop(name, None)


def test_example_plugin_tests_pass(example_plugin, tmp_path):
    tests = [
        (n, f) for n, f in vars(example_plugin).items() if n.startswith("test_") and callable(f)
    ]
    assert len(tests) >= 3
    for n, (_, test) in enumerate(tests):
        test(tmp_path / str(n))


def test_example_plugin_through_the_cli(cli, tmp_path):
    """Installed as a distribution (entry point and all), it works end to end."""
    from blockc import testing

    site = tmp_path / "site"
    info = site / "blockc_static_site-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: blockc-static-site\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[blockc]\nstatic-site = blockc_static_site\n")
    (site / "blockc_static_site.py").write_text((EXAMPLE / "blockc_static_site.py").read_text())
    env = {"PYTHONPATH": str(site)}
    proc = cli("plugins", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "static-site      blockc-static-site 0.1.0  (plugin static-site)" in proc.stdout
    t = testing.write_template(
        tmp_path / "t", testing.template({"type": "static-site", "with": {"title": "Notes"}})
    )
    proc = cli("validate", "--strict", t, env=env)
    assert proc.returncode == 0, proc.stderr
