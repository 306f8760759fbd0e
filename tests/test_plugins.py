"""The plugin system: discovery, broken plugins named, allow/deny, hook validation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pluggy
import pytest
from compiler_support import BLOCKC

import blockc
from blockc import hookspecs, plugins, testing
from blockc.errors import BlockcError
from blockc.testing import template
from blockc.types import BlockType, Contributions, Phase, Run, Step

GOOD = """
from blockc import hookimpl
from blockc.types import BlockType, Contributions, Phase, Run, Step

def contribute(ctx):
    run = Run([("echo", ctx.options.get("msg", "hi"))])
    return Contributions(steps=[Step(Phase.CONFIG, [run])])

@hookimpl
def blockc_block_types():
    return [BlockType("greeting", {"type": "object", "additionalProperties": False,
                                   "properties": {"msg": {"type": "string"}}}, contribute)]
"""
RAISES_IN_HOOK = """
from blockc import hookimpl

@hookimpl
def blockc_block_types():
    raise RuntimeError("no block types today")
"""
RAISES_IN_CONTRIBUTE = """
from blockc import hookimpl
from blockc.types import BlockType

def contribute(ctx):
    raise KeyError("oops")

@hookimpl
def blockc_block_types():
    return [BlockType("fragile", {"type": "object"}, contribute)]
"""
UNKNOWN_HOOK = """
from blockc import hookimpl

@hookimpl
def blockc_block_typez():
    return []
"""
GARBAGE = """
from blockc import hookimpl

@hookimpl
def blockc_block_types():
    return [{"name": "not-a-block-type"}]
"""
CLASHES_WITH_CORE = """
from blockc import hookimpl
from blockc.types import BlockType, Contributions

@hookimpl
def blockc_block_types():
    return [BlockType("app", {"type": "object"}, lambda ctx: Contributions())]
"""


def install(site, name, source=None, *, entry_value=None, version="1.2.3"):
    """A fake installed distribution ``blockc-<name>`` with entry point ``<name>``."""
    module = f"fake_blockc_{name.replace('-', '_')}"
    if source is not None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"blockc_{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: blockc-{name}\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text(f"[blockc]\n{name} = {entry_value or module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("BLOCKC_NO_CACHE", "1")
    monkeypatch.delenv("BLOCKC_PLUGINS", raising=False)
    return site


@pytest.fixture
def broken_site(site):
    install(site, "good", GOOD)
    install(site, "missing", entry_value="no_such_module_anywhere")
    install(site, "raises", RAISES_IN_HOOK)
    install(site, "unknown-hook", UNKNOWN_HOOK)
    install(site, "garbage", GARBAGE)
    install(site, "clash", CLASHES_WITH_CORE)
    return site


def test_discover_finds_entry_points(site):
    install(site, "good", GOOD)
    found = {p.name: p for p in plugins.discover()}
    assert found["good"].dist == "blockc-good" and found["good"].version == "1.2.3"
    assert found["core"].dist == "blockc"


def test_broken_plugins_are_named_and_others_load(broken_site):
    reg = plugins.load()
    assert "greeting" in reg.types and "files" in reg.types
    # a second plugin providing a block type takes nothing over: the name is a clash
    assert "app" not in reg.types
    assert [i.name for i in reg.clashes["app"]] == ["core", "clash"]
    broken = {info.name: (info.dist, why) for info, why in reg.broken}
    assert set(broken) == {"missing", "raises", "unknown-hook", "garbage"}
    assert "import failed: ModuleNotFoundError" in broken["missing"][1]
    assert "RuntimeError: no block types today" in broken["raises"][1]
    assert "unknown hook 'blockc_block_typez'" in broken["unknown-hook"][1]
    assert "blockc_block_types returned dict, not a BlockType" in broken["garbage"][1]
    assert all(dist == f"blockc-{name}" for name, (dist, _) in broken.items())
    assert "RuntimeError: no block types today" in reg.tracebacks["raises"]
    assert "Traceback" in reg.tracebacks["raises"]


def test_cli_plugins_lists_the_others_and_names_the_broken(broken_site, cli):
    env = {"PYTHONPATH": str(broken_site)}
    proc = cli("plugins", env=env)
    assert proc.returncode == 1
    for block_type in ("dockerfile", "files", "greeting"):
        assert any(line.startswith(block_type + " ") for line in proc.stdout.splitlines())
    assert "greeting         blockc-good 1.2.3  (plugin good)" in proc.stdout
    assert "Files next to the template copied into the image" in proc.stdout  # descriptions
    for name in ("missing", "raises", "unknown-hook", "garbage"):
        assert f"plugin {name} (blockc-{name} 1.2.3) failed to load" in proc.stderr
    assert (
        "error: block type 'app' is provided by several plugins: 'core' (blockc 0.1.0) and "
        "'clash' (blockc-clash 1.2.3)" in proc.stderr
    )
    assert "--plugins=-clash" in proc.stderr
    assert "Traceback" not in proc.stderr
    debug = subprocess.run(  # (run_cli refuses any traceback)
        [BLOCKC, "plugins"],
        env={**os.environ, **env, "BLOCKC_DEBUG": "1", "BLOCKC_HOME": str(broken_site)},
        capture_output=True,
        text=True,
    )
    assert "Traceback (most recent call last)" in debug.stderr
    assert "RuntimeError: no block types today" in debug.stderr
    data = json.loads(cli("plugins", "--format", "json", env=env).stdout)
    assert {b["plugin"] for b in data["broken"]} == {"missing", "raises", "unknown-hook", "garbage"}
    assert [c["type"] for c in data["clashes"]] == ["app"]


def test_cli_plugins_deny_the_broken_ones(broken_site, cli):
    env = {
        "PYTHONPATH": str(broken_site),
        "BLOCKC_PLUGINS": "-missing,-raises,-unknown-hook,-garbage,-clash",
    }
    proc = cli("plugins", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "greeting" in proc.stdout
    proc = cli("--no-plugins", "plugins", env={"PYTHONPATH": str(broken_site)})
    assert proc.returncode == 0 and "greeting" not in proc.stdout and "app" in proc.stdout


def test_cli_broken_plugin_named_when_its_block_type_is_used(broken_site, cli, tmp_path):
    t = testing.write_template(
        tmp_path / "t", template({"type": "greeting"}, {"type": "broken-type"})
    )
    proc = cli("validate", t, env={"PYTHONPATH": str(broken_site)})
    assert proc.returncode == 1
    assert "unknown block type 'broken-type'" in proc.stderr
    assert "plugins that failed to load: " in proc.stderr
    assert "plugin missing (blockc-missing 1.2.3)" in proc.stderr


@pytest.mark.parametrize(
    "spec,expect",
    [
        ("", {"core", "a", "b"}),
        ("none", {"core"}),
        ("a", {"core", "a"}),
        ("-a", {"core", "b"}),
        ("a,b", {"core", "a", "b"}),
        (" -a , -b ", {"core"}),
    ],
)
def test_allow_deny(spec, expect):
    found = [testing.fake_distribution(n) for n in ("a", "b")]
    found.append(plugins.PluginInfo("core", "blockc.blocks", "blockc", "0"))
    assert {p.name for p in plugins.selected(found, spec)} == expect


def test_allow_deny_from_the_environment(site, monkeypatch):
    install(site, "good", GOOD)
    monkeypatch.setenv("BLOCKC_PLUGINS", "-good")
    assert "greeting" not in plugins.load().types
    monkeypatch.setenv("BLOCKC_PLUGINS", "good")
    assert "greeting" in plugins.load().types
    assert "greeting" not in plugins.load(spec="none").types


def test_discovery_cache_follows_sys_path(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BLOCKC_NO_CACHE", raising=False)
    before = {p.name for p in plugins.discover()}
    assert list((tmp_path / "home" / "cache" / "plugins").iterdir())
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    install(site, "late", GOOD)
    assert {p.name for p in plugins.discover()} == before | {"late"}


def test_discovery_cache_follows_entry_points_rewritten_in_place(site, tmp_path, monkeypatch):
    """An older editable install rewrites entry_points.txt in its .egg-info, in place."""
    import os

    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BLOCKC_NO_CACHE", raising=False)
    install(site, "first", GOOD)
    assert "first" in {p.name for p in plugins.discover()}
    info = next(site.glob("blockc_first-*.dist-info"))
    mtime = os.stat(info).st_mtime_ns
    (info / "entry_points.txt").write_text("[blockc]\nrenamed = fake_blockc_first\n")
    os.utime(info, ns=(mtime, mtime))  # the directory itself looks untouched
    names = {p.name for p in plugins.discover()}
    assert "renamed" in names and "first" not in names


def test_discovery_cache_keeps_several_sys_path_states(tmp_path, monkeypatch):
    """`blockc` and `python -m blockc` see different sys.paths: taking turns costs no scan."""
    import importlib.metadata

    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BLOCKC_NO_CACHE", raising=False)
    first = plugins.discover()
    monkeypatch.syspath_prepend(str(tmp_path))
    second = plugins.discover()
    assert second == first

    def no_scan():
        raise AssertionError("the entry points were scanned again")

    monkeypatch.setattr(importlib.metadata, "distributions", no_scan)
    assert plugins.discover() == second
    monkeypatch.syspath_prepend(str(tmp_path / "other"))  # a state not seen yet: a scan
    with pytest.raises(AssertionError, match="scanned again"):
        plugins.discover()


def test_contribute_raising_is_located_and_named(site, cli, tmp_path):
    install(site, "fragile", RAISES_IN_CONTRIBUTE)
    t = testing.write_template(tmp_path / "t", template({"type": "fragile", "id": "frag"}))
    proc = cli("compile", t, "-o", tmp_path / "out", env={"PYTHONPATH": str(site)})
    assert proc.returncode == 1
    (line,) = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert re.match(
        rf"{re.escape(str(t))}:\d+:\d+: error: block 'frag' \(fragile\) "
        rf"\[plugin fragile \(blockc-fragile 1\.2\.3\)\]: ",
        line,
    ), line
    assert "the block type's plugin failed: KeyError: 'oops'" in line
    assert not (tmp_path / "out").exists()


def test_contribute_returning_garbage(tmp_path):
    reg = testing.register_block_type(BlockType("lazy", {"type": "object"}, lambda ctx: None))
    r = testing.compile_template(template({"type": "lazy"}), tmp_path, registry=reg)
    (d,) = r.diagnostics
    assert "returned NoneType, not Contributions" in d.message
    assert d.plugin == "test-plugin (blockc-test-plugin 0.0.0)"


def test_block_errors_reported_with_ctx_error(tmp_path):
    def picky(ctx):
        for i, word in enumerate(ctx.options.get("words", [])):
            if word == "bad":
                ctx.error("this word is bad", "words", i)
        return Contributions()

    reg = testing.register_block_type(BlockType("picky", {"type": "object"}, picky))
    t = template({"type": "picky", "with": {"words": ["good", "bad", "bad"]}})
    r = testing.compile_template(t, tmp_path, registry=reg)
    lines = r.path.read_text().splitlines()
    bad_lines = [n for n, text in enumerate(lines, start=1) if text.strip() == "- bad"]
    assert [(d.path[-1], d.line) for d in r.diagnostics] == list(
        zip((1, 2), bad_lines, strict=True)
    )


# --- hooks and the plugin manager ------------------------------------------------------------


def test_check_pending_rejects_unknown_hooks():
    class Typo:
        @blockc.hookimpl
        def blockc_blocktypes(self):
            return []

    pm = plugins.make_plugin_manager()
    pm.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()
    reg = testing.make_registry((Typo(), testing.fake_distribution("typo")), strict=False)
    ((info, why),) = reg.broken
    assert info.name == "typo" and "unknown hook 'blockc_blocktypes'" in why
    assert "app" in reg.types  # the others still load
    with pytest.raises(BlockcError) as exc:
        testing.make_registry((Typo(), testing.fake_distribution("typo")))
    assert "plugin typo (blockc-typo 0.0.0)" in str(exc.value)


def test_hookimpl_with_wrong_arguments_is_refused():
    class Wrong:
        @blockc.hookimpl
        def blockc_block_types(self, surprise):
            return []

    reg = testing.make_registry((Wrong(), testing.fake_distribution("wrong")), strict=False)
    ((info, why),) = reg.broken
    assert "registration failed" in why and "surprise" in why


def test_plugin_managers_are_fresh():
    one, two = plugins.make_plugin_manager(), plugins.make_plugin_manager()
    assert one is not two and not one.get_plugins()
    one.register(testing.block_type_plugin())
    assert not two.get_plugins()


def test_hook_blockc_block_types():
    """The one hook: each plugin's block types are collected and tagged with their plugin."""
    first = BlockType("first", {"type": "object"}, lambda ctx: Contributions())
    second = BlockType("second", {"type": "object"}, lambda ctx: Contributions())
    info = testing.fake_distribution("pair", dist="blockc-pair", version="2.0")
    reg = testing.make_registry((testing.block_type_plugin(second, first), info), core=False)
    assert list(reg.types) == ["first", "second"]  # sorted: registration order never matters
    assert reg.types["first"].plugin == info
    hook = reg.pm.hook.blockc_block_types
    assert [impl.plugin_name for impl in hook.get_hookimpls()] == ["pair"]
    assert hookspecs.blockc_block_types.__doc__


def test_hook_blockc_block_types_in_a_module(tmp_path):
    """A plugin may be a module with a module-level hook function (as entry points load it)."""
    import types

    module = types.ModuleType("my_module_plugin")
    exec(textwrap.dedent(GOOD), module.__dict__)
    reg = testing.make_registry(module)
    assert reg.types["greeting"].plugin.name == "my_module_plugin"
    r = testing.compile_template(
        template({"type": "greeting", "with": {"msg": "hello"}}), tmp_path, registry=reg
    )
    assert "RUN echo hello" in r.text("Containerfile")


def test_block_type_values_are_validated():
    ok = {"type": "object"}
    with pytest.raises(ValueError):
        BlockType("Not_DNS", ok, lambda ctx: None)
    with pytest.raises(ValueError):
        BlockType("x", {"type": "array"}, lambda ctx: None)
    with pytest.raises(ValueError):
        BlockType("x", ok, "not callable")
    with pytest.raises(ValueError):
        Step(Phase.CONFIG, [Run([()])])


def test_invalid_option_schema_marks_its_plugin_failed(tmp_path):
    bad = BlockType(
        "bad-schema",
        {"type": "object", "properties": {"x": {"type": "strung"}}},
        lambda ctx: Contributions(),
    )
    good = BlockType("fine", {"type": "object"}, lambda ctx: Contributions())
    reg = testing.make_registry(
        (testing.block_type_plugin(bad), testing.fake_distribution("bad")),
        (testing.block_type_plugin(good), testing.fake_distribution("good")),
        strict=False,
    )
    assert "fine" in reg.types and "bad-schema" not in reg.types
    ((info, why),) = reg.broken
    assert info.name == "bad"
    assert "block type 'bad-schema': its options schema is invalid" in why
    assert "properties/x/type" in why
    r = testing.compile_template(template({"type": "bad-schema"}), tmp_path, registry=reg)
    assert "unknown block type 'bad-schema'" in r.messages[0]
    assert any("plugin bad (blockc-bad 0.0.0)" in m for m in r.messages)


def test_plugin_versions_recorded_in_the_artifact(tmp_path):
    info = testing.fake_distribution("greet", dist="blockc-greet", version="3.1")
    reg = testing.make_registry(
        (
            testing.block_type_plugin(
                BlockType("greet", {"type": "object"}, lambda ctx: Contributions())
            ),
            info,
        )
    )
    r = testing.compile_template(template({"type": "greet"}), tmp_path, registry=reg)
    assert r.artifact.studio["plugins"] == {
        "greet": {"distribution": "blockc-greet", "version": "3.1"}
    }


def test_a_clash_is_an_error_for_the_templates_that_use_it(broken_site, cli, tmp_path):
    t = testing.write_template(
        tmp_path / "t",
        template(
            {"type": "greeting"},
            {"type": "app", "with": {"port": 8000, "command": ["sleep", "9"]}},
        ),
    )
    env = {"PYTHONPATH": str(broken_site), "BLOCKC_PLUGINS": "-missing,-raises"}
    proc = cli("validate", t, env=env)
    assert proc.returncode == 1
    (line,) = [x for x in proc.stderr.splitlines() if "several plugins" in x]
    assert re.match(rf"{re.escape(str(t))}:10:11: error: ", line), line
    assert "block type 'app' is provided by several plugins: 'core' (blockc 0.1.0) and " in line
    assert "'clash' (blockc-clash 1.2.3)" in line and "--plugins=-clash" in line
    assert "BLOCKC_PLUGINS=-clash" in line and 'plugins = "-clash" in the site settings' in line
    # a template that does not use the clashed name is not affected
    other = testing.write_template(tmp_path / "o", template({"type": "greeting"}))
    assert cli("validate", other, env=env).returncode == 0
    # each way of choosing works: the switch (with a space, too), the env var, the site setting
    for args, extra in (
        (["--plugins", "-clash"], {}),
        (["--plugins=-clash"], {}),
        ([], {"BLOCKC_PLUGINS": "-clash"}),
    ):
        proc = cli(*args, "validate", t, env={"PYTHONPATH": str(broken_site), **extra})
        assert proc.returncode == 0, (args, proc.stderr)
    config = tmp_path / "config.toml"
    config.write_text('plugins = "-clash,-missing"\n')
    proc = cli("--config", config, "validate", t, env={"PYTHONPATH": str(broken_site)})
    assert proc.returncode == 0, proc.stderr


def test_a_plugins_traceback_under_blockc_debug(tmp_path, monkeypatch):
    def contribute(ctx):
        raise KeyError("oops")

    reg = testing.register_block_type(BlockType("boom", {"type": "object"}, contribute))
    r = testing.compile_template(template({"type": "boom"}), tmp_path, registry=reg)
    (d,) = r.diagnostics
    assert "the block type's plugin failed: KeyError: 'oops'" in d.message
    monkeypatch.delenv("BLOCKC_DEBUG", raising=False)
    assert "Traceback" not in d.format() and "detail" not in d.to_json()
    monkeypatch.setenv("BLOCKC_DEBUG", "1")
    assert "Traceback (most recent call last)" in d.format()
    assert 'raise KeyError("oops")' in d.format()
    assert "KeyError" in d.to_json()["detail"]


def test_make_registry_names_a_module_by_its_distribution():
    import blockc_streamlit

    reg = testing.make_registry(blockc_streamlit)
    info = reg.types["streamlit"].plugin
    assert (info.name, info.dist, info.version) == ("streamlit", "blockc-streamlit", "0.1.0")


def test_invalid_values_made_by_a_plugin_blame_the_plugin():
    def hook():
        return [BlockType("Bad Name", {"type": "object"}, lambda ctx: Contributions())]

    class Plugin:
        blockc_block_types = staticmethod(blockc.hookimpl(hook))

    reg = testing.make_registry((Plugin(), testing.fake_distribution("p")), strict=False)
    ((_, why),) = reg.broken
    assert why == "made an invalid value: block type name must be a DNS-1123 label: 'Bad Name'"


SLOW = """
import os, time
from blockc import hookimpl
from blockc.types import BlockType, Contributions

open(os.environ["MARKER"], "a").write("imported\\n")
time.sleep(float(os.environ.get("SLOW", "0")))

@hookimpl
def blockc_block_types():
    return [BlockType("slow-type", {"type": "object"}, lambda ctx: Contributions())]
"""


def test_a_plugin_left_out_is_never_imported(site, cli, tmp_path):
    install(site, "good", GOOD)
    install(site, "slow", SLOW)
    marker = tmp_path / "imported"
    env = {"PYTHONPATH": str(site), "MARKER": str(marker), "BLOCKC_NO_CACHE": ""}
    t = testing.write_template(tmp_path / "t", template({"type": "greeting"}))
    for args in (["--plugins", "-slow"], ["--plugins", "good"]):
        assert cli(*args, "validate", t, env=env).returncode == 0
        assert cli(*args, "plugins", env=env).returncode == 0
    assert not marker.exists()


def test_no_distribution_takes_an_entry_point_name_over(site, cli, tmp_path):
    """Two distributions with one entry-point name: neither loads; 'core' is blockc's own."""
    install(site, "good", GOOD)
    evil = site / "evil_core.py"
    evil.write_text(CLASHES_WITH_CORE)
    for dist, name in (("evil-core", "core"), ("evil-good", "good")):
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[blockc]\n{name} = evil_core\n")
    reg = plugins.load()
    assert reg.types["app"].plugin.dist == "blockc"  # core's own, not evil-core's
    assert "greeting" not in reg.types  # good and evil-good both named 'good': neither loads
    broken = {(i.name, i.dist): why for i, why in reg.broken}
    assert "named 'core', which is blockc's own" in broken[("core", "evil-core")]
    assert (
        "another distribution has an entry point named 'good' too (evil-good 1.0)"
        in (broken[("good", "blockc-good")])
    )
    assert "(blockc-good 1.2.3)" in broken[("good", "evil-good")]
    proc = cli("plugins", env={"PYTHONPATH": str(site)})
    assert proc.returncode == 1 and "plugin core (evil-core 1.0) failed to load" in proc.stderr


def test_plugins_switch_does_not_swallow_an_option(cli):
    proc = cli("--plugins", "--no-plugins", "plugins")
    assert proc.returncode == 2 and "expected one argument" in proc.stderr


def test_an_older_copy_of_a_distribution_is_shadowed_not_a_clash(site, tmp_path, monkeypatch):
    """An old copy further down sys.path (a stale .egg-info) is not a second distribution."""
    install(site, "good", GOOD, version="2.0")
    old = tmp_path / "old-site"
    old.mkdir()
    install(old, "good", GOOD, version="1.0")
    monkeypatch.syspath_prepend(str(site))  # site first, then the old copy
    monkeypatch.setattr("sys.path", [*sys.path, str(old)])
    reg = plugins.load()
    assert reg.types["greeting"].plugin.version == "2.0" and not reg.broken


def test_a_damaged_discovery_cache_is_discovered_again(site, cli, tmp_path):
    install(site, "good", GOOD)
    env = {"PYTHONPATH": str(site), "BLOCKC_NO_CACHE": ""}
    assert cli("plugins", env=env).returncode == 0
    for entry in (tmp_path / "blockc-home" / "cache").rglob("*"):
        if entry.is_file() and entry.parent.name == "plugins":
            entry.write_bytes(b"")
    proc = cli("plugins", env=env)
    assert proc.returncode == 0 and "greeting" in proc.stdout


def test_a_plugin_that_calls_sys_exit_ends_no_command(tmp_path, site, cli):
    """sys.exit(0) in a plugin would otherwise end `blockc validate` with success."""

    def contribute(ctx):
        raise SystemExit(0)

    reg = testing.register_block_type(BlockType("quits", {"type": "object"}, contribute))
    r = testing.compile_template(template({"type": "quits"}), tmp_path, registry=reg)
    assert not r.ok and "the block type's plugin failed: SystemExit: 0" in r.messages[0]
    install(site, "exits-at-import", "import sys\nsys.exit(0)\n")
    install(site, "exits-in-hook", textwrap.dedent('''
        import sys
        from blockc import hookimpl

        @hookimpl
        def blockc_block_types():
            sys.exit(0)
    '''))  # fmt: skip
    proc = cli("plugins", env={"PYTHONPATH": str(site)})
    assert proc.returncode == 1
    assert "plugin exits-at-import (blockc-exits-at-import 1.2.3) failed to load: import" in (
        proc.stderr
    )
    assert "blockc_block_types raised SystemExit: 0" in proc.stderr
