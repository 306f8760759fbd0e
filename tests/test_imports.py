"""Import budgets: what each hot command may load. These are the speed rules that would
otherwise be comments with a number in them.

- ``blockc sync`` races rsync, and an agent's exec takes ~0.2 s to start: the first agent
  starts before the engine, blockc.types, typing, pathlib and tomllib are imported, and the
  whole sync never loads the compiler, the plugins or the libraries only they need.
- ``blockc compile`` and ``blockc validate`` of a valid template, with warm caches, scan no
  entry points (importlib.metadata: the plugin discovery cache) and load no jsonschema (only
  an error message needs it).
- ``blockc --help`` loads no plugin and none of the heavy libraries.
- ``blockc status`` (the lifecycle commands) loads no compiler.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap

from compiler_support import EXAMPLES

# libraries only the compiler, the plugins or the builder need
COMPILER = {
    "blockc.compiler",
    "blockc.plugins",
    "pluggy",
    "yaml",
    "jinja2",
    "jsonschema",
    "fastjsonschema",
    "importlib.metadata",
}

PROBE = """
import atexit, json, subprocess, sys
out, argv = sys.argv[1], sys.argv[2:]
seen = {}
popen = subprocess.Popen.__init__
def spawn(self, *args, **kwargs):  # the modules loaded when the first process starts
    seen.setdefault("spawn", sorted(sys.modules))
    return popen(self, *args, **kwargs)
subprocess.Popen.__init__ = spawn
atexit.register(lambda: open(out, "w").write(json.dumps({**seen, "exit": sorted(sys.modules)})))
%s
from blockc.cli import main
main(argv)
"""


@functools.cache
def at_startup() -> frozenset[str]:
    """The modules the interpreter has loaded before any code runs: the site's own (an
    editable install's import hook loads pathlib, for one), which no budget here is about."""
    code = "import json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return frozenset(json.loads(out.stdout))


def loaded(tmp_path, *argv, home, setup="", code=0) -> dict[str, set[str]]:
    """The modules ``blockc ARGV`` had loaded when it started its first process, and at exit
    (but those of the interpreter's start)."""
    out = tmp_path / "modules.json"
    env = {**os.environ, "BLOCKC_HOME": str(home)}
    env.pop("BLOCKC_NO_CACHE", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE % setup, str(out), *map(str, argv)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    return {k: set(v) - at_startup() for k, v in json.loads(out.read_text()).items()}


def test_blockc_sync(tmp_path):
    """A whole sync (its agent a local process: the transport is the only thing swapped)."""
    home, ws, zone = tmp_path / "home", tmp_path / "ws", tmp_path / "zone"
    (ws / "w").mkdir(parents=True)
    (ws / "w" / "a.txt").write_text("hello")
    zone.mkdir()
    record = f"""
        import json, os, sys
        os.environ["BLOCKC_HOME"] = {str(home)!r}
        from blockc.run import state
        s = state.Studio(name="s1", owner="o", template="t", template_path="-",
                         artifact_hash="0" * 64, image="i", runtime="podman", state="RUNNING",
                         workspace={str(ws)!r})
        os.makedirs(s.artifact_dir)
        with open(os.path.join(s.artifact_dir, "studio.json"), "w") as f:
            json.dump({{"image": {{"uid": os.getuid(), "gid": os.getgid()}},
                       "zones": [{{"name": "w", "host": "w", "container": {str(zone)!r},
                                  "direction": "both", "exclude": []}}]}}, f)
        state.save(s)
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(record)], check=True)
    local = (
        "from blockc.run.runtimes.podman import PodmanRuntime\n"
        "from blockc.sync.transport import LocalTransport\n"
        "PodmanRuntime.transport = lambda self, studio, user: LocalTransport()\n"
    )
    seen = loaded(tmp_path, "sync", "s1", home=home, setup=local)
    assert (zone / "a.txt").read_text() == "hello"  # it did sync
    early = {"blockc.sync.engine", "blockc.types", "typing", "pathlib", "tomllib", "sh"}
    assert not seen["spawn"] & (early | COMPILER), seen["spawn"] & (early | COMPILER)
    assert not seen["exit"] & (COMPILER | {"sh"}), seen["exit"] & COMPILER


def test_warm_compile_and_validate(tmp_path):
    home = tmp_path / "home"
    template = EXAMPLES / "data-science.yaml"
    loaded(tmp_path, "compile", template, "-o", tmp_path / "out", home=home)  # warms the caches
    for argv in (("compile", template, "-o", tmp_path / "out"), ("validate", template)):
        seen = loaded(tmp_path, *argv, home=home)["exit"]
        assert "blockc.compiler" in seen  # it did compile
        assert not seen & {"importlib.metadata", "jsonschema"}, argv


def test_an_invalid_template_is_explained_by_jsonschema(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "minimal.yaml").read_text().replace("kind:", "kinds:"))
    assert "jsonschema" in loaded(tmp_path, "validate", bad, home=tmp_path / "h", code=1)["exit"]


def test_help(tmp_path):
    seen = loaded(tmp_path, "--help", home=tmp_path / "home")["exit"]
    assert not seen & (COMPILER | {"sh", "blockc.sync.engine", "rich"}), seen & COMPILER


def test_status(tmp_path):
    seen = loaded(tmp_path, "status", home=tmp_path / "home")["exit"]
    assert "blockc.run.lifecycle" in seen
    assert not seen & COMPILER, seen & COMPILER
