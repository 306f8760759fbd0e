"""docs/plugins.md: every hook documented with its exact signature and tested; the example
plugin in docs/example-plugin/ is shown verbatim and its own tests pass."""

from __future__ import annotations

import ast
import inspect
import os
import shutil
import subprocess
import sys
import tomllib

import pytest
from compiler_support import ROOT

from blockc import hookspecs
from blockc.kit import new_plugin

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
    assert hooks() == ["blockc_authenticators", "blockc_block_types"]


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


EXAMPLE_FILES = ["pyproject.toml", "blockc_static_site/__init__.py", "tests/test_static_site.py"]


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_plugin_is_shown_verbatim(name):
    assert (EXAMPLE / name).read_text() in DOC.read_text(), f"docs/plugins.md shows old {name}"


def test_example_plugin_is_what_new_plugin_makes():
    """docs/example-plugin/ is `blockc new-plugin static-site docs/example-plugin`, as made."""
    made = new_plugin.files("static-site")
    found = {
        p.relative_to(EXAMPLE).as_posix(): p.read_text()
        for p in EXAMPLE.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "__pycache__")) for part in p.relative_to(EXAMPLE).parts)
    }
    assert found == made, (
        "run: rm -r docs/example-plugin && blockc new-plugin static-site docs/example-plugin"
    )


def test_example_plugin_declares_its_entry_point():
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["blockc"] == {"static-site": "blockc_static_site"}


def install(site, source):
    """The plugin in ``source`` as an installed distribution in ``site`` (a dist-info with its
    entry point, as pip writes it, beside its package)."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    ((name, module),) = project["entry-points"]["blockc"].items()
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    (info / "entry_points.txt").write_text(f"[blockc]\n{name} = {module}\n")
    shutil.copytree(source / module, site / module)


def pytest_of(project, site, *args, env=None):
    """The project's own tests, run by pytest in a process of their own (the plugin installed
    in ``site``)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(site), **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_example_plugin_tests_pass(tmp_path):
    install(tmp_path / "site", EXAMPLE)
    proc = pytest_of(EXAMPLE, tmp_path / "site", "-m", "not containers")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed, 1 deselected" in proc.stdout


def test_new_plugin_passes_its_tests_as_made(cli, tmp_path):
    proc = cli("new-plugin", "team-notes", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "blockc-team-notes"
    assert "made blockc-team-notes/ (block type 'team-notes')" in proc.stdout
    install(tmp_path / "site", project)
    proc = pytest_of(project, tmp_path / "site", "-m", "not containers")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed, 1 deselected" in proc.stdout
    proc = cli("plugins", env={"PYTHONPATH": str(tmp_path / "site")})
    assert "team-notes       blockc-team-notes 0.1.0  (plugin team-notes)" in proc.stdout


@pytest.mark.containers
def test_new_plugin_passes_its_studio_test_as_made(cli, tmp_path):
    """Its container test too: the block built and started for real (blockc.testing)."""
    cli("new-plugin", "notes", tmp_path / "p")
    install(tmp_path / "site", tmp_path / "p")
    conf = ROOT / "etc" / "containers.conf"
    proc = pytest_of(tmp_path / "p", tmp_path / "site", env={"CONTAINERS_CONF": str(conf)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["Bad"], "'Bad' is no block type name"),
        (["x" * 41], "is no block type name"),
        (["ok", "."], "exists and is not an empty directory"),
    ],
)
def test_new_plugin_refuses(cli, tmp_path, args, message):
    (tmp_path / "something").write_text("x")
    proc = cli("new-plugin", *args, cwd=tmp_path)
    assert proc.returncode == 1 and message in proc.stderr
    assert {p.name for p in tmp_path.iterdir()} - {"blockc-home"} == {"something"}


def test_example_plugin_through_the_cli(cli, tmp_path):
    """Installed as a distribution (entry point and all), it works end to end."""
    from blockc import testing

    install(tmp_path / "site", EXAMPLE)
    env = {"PYTHONPATH": str(tmp_path / "site")}
    proc = cli("plugins", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "static-site      blockc-static-site 0.1.0  (plugin static-site)" in proc.stdout
    t = testing.write_template(
        tmp_path / "t", testing.template({"type": "static-site", "with": {"label": "Notes"}})
    )
    proc = cli("validate", "--strict", t, env=env)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ["core", "files", "jupyterlab"])
def test_new_plugin_refuses_a_name_taken(cli, tmp_path, name):
    proc = cli("new-plugin", name, cwd=tmp_path)
    assert proc.returncode == 1 and "a new plugin needs a name of its own" in proc.stderr
    assert not (tmp_path / f"blockc-{name}").exists()
