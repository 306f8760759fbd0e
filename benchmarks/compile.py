"""Compiler speed: medians of repeated runs, and the ratio to the Dev Containers CLI.

    .venv/bin/python benchmarks/compile.py [--runs N]

blockc is measured as a user installs it: a fresh venv with a regular (not editable)
``pip install`` of blockc and the four app plugins, .pyc files written by pip as usual.
Figures, each against its goal:

- in-process compile of each example (plugins loaded once): <= 5 ms for six blocks;
- ``blockc compile`` of the six-block template as a whole process, caches warm, side by side
  with ``devcontainer features resolve-dependencies`` on four local features (runs
  alternating): <= 1.0x the peer; also with ``BLOCKC_NO_CACHE=1`` (for information);
- ``blockc validate`` of 1,000 templates in one process: <= 1.5 s;
- ``blockc --help``: <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    ROOT,
    devcontainer_cli,
    devcontainer_workspace,
    median_time,
    report,
    run,
)

SIX = ROOT / "benchmarks" / "templates" / "six-blocks.yaml"
IN_PROCESS = """
import statistics, sys, time
import blockc
from blockc.plugins import load
registry = load()
for path in sys.argv[2:]:
    blockc.compile(path, registry=registry)
    times = []
    for _ in range(int(sys.argv[1])):
        t = time.perf_counter()
        blockc.compile(path, registry=registry)
        times.append(time.perf_counter() - t)
    print(path, statistics.median(times))
"""


def install(where: Path) -> Path:
    """A venv with blockc and the plugins installed from this tree, as a user installs them."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    plugins = sorted(str(p.parent) for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    subprocess.run([str(where / "bin" / "pip"), "install", "--quiet",
                    "--disable-pip-version-check", str(ROOT), *plugins],
                   check=True, env=env)  # fmt: skip
    return where / "bin"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="blockc-bench-compile-"))
    print("installing blockc and the plugins into a fresh venv (regular pip install)...")
    bin_dir = install(work / "venv")
    env = {**os.environ, "BLOCKC_HOME": str(work / "home")}
    env.pop("BLOCKC_NO_CACHE", None)
    blockc = str(bin_dir / "blockc")
    print(f"blockc compiler benchmark: medians of {args.runs} runs (2-core machine, noisy)")

    print("in-process compile (blockc.compile, plugins loaded once):")
    examples = sorted((ROOT / "examples").glob("*.yaml")) + [SIX]
    out = subprocess.run([str(bin_dir / "python"), "-c", IN_PROCESS, str(args.runs * 4),
                          *map(str, examples)], env=env, check=True, capture_output=True,
                         text=True, cwd=work).stdout  # fmt: skip
    for line in out.splitlines():
        path, seconds = line.rsplit(" ", 1)
        name = Path(path).relative_to(ROOT)
        blocks = Path(path).read_text().count("- type:")
        goal = "(goal <= 5 ms for 6 blocks)" if Path(path) == SIX else ""
        report(f"{name} ({blocks} blocks)", float(seconds), goal=goal)

    print("whole process:")
    compile_cmd = [blockc, "compile", str(SIX), "-o", str(work / "out")]
    cli = devcontainer_cli()
    peer_cmd = None
    if cli is not None:
        ws = devcontainer_workspace({n: f"echo {n}" for n in ("python", "node", "apt", "shell")})
        peer_cmd = [str(cli), "features", "resolve-dependencies", "--workspace-folder", str(ws)]
    # blockc and the peer alternate, run by run, so that both see the same machine (it is
    # shared, and its speed drifts over minutes)
    for _ in range(2):
        run(compile_cmd, env=env)
        if peer_cmd:
            run(peer_cmd, stderr=subprocess.DEVNULL)
    warm_runs, peer_runs = [], []
    for _ in range(args.runs):
        warm_runs.append(median_time(lambda: run(compile_cmd, env=env), 1, warmup=0)[0])
        if peer_cmd:
            peer_runs.append(
                median_time(lambda: run(peer_cmd, stderr=subprocess.DEVNULL), 1, warmup=0)[0]
            )
    warm = statistics.median(warm_runs)
    report("blockc compile six-blocks.yaml (warm caches)", warm)
    cold_env = {**env, "BLOCKC_NO_CACHE": "1"}
    cold, _ = median_time(lambda: run(compile_cmd, env=cold_env), args.runs)
    report("blockc compile six-blocks.yaml (BLOCKC_NO_CACHE=1)", cold)
    helptime, _ = median_time(lambda: run([blockc, "--help"], env=env), args.runs, warmup=2)
    report("blockc --help", helptime, goal="(goal <= 100 ms)")

    many = work / "many"
    many.mkdir()
    text = SIX.read_text()
    shutil.copy(SIX.parent / "motd.txt", many / "motd.txt")
    for i in range(1000):
        (many / f"t{i:04d}.yaml").write_text(
            text.replace("name: six-blocks", f"name: team-{i}").replace("8000", str(9000 + i))
        )
    val, _ = median_time(lambda: run([blockc, "validate", str(many)], env=env), 3)
    report("blockc validate of 1,000 templates (one process)", val, unit="s",
           goal="(goal <= 1.5 s)")  # fmt: skip

    if not peer_runs:
        print("peer: npm not found, Dev Containers CLI skipped")
    else:
        peer = statistics.median(peer_runs)
        print("peer, side by side (runs alternating with blockc's):")
        report("devcontainer features resolve-dependencies (4 local features)", peer)
        report("ratio blockc compile (warm) / peer", warm / peer, unit="x", goal="(goal <= 1.0)")
        report("ratio blockc compile (cold caches) / peer", cold / peer, unit="x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
