"""Compiler speed: medians of repeated runs, and the ratio to the Dev Containers CLI.

    .venv/bin/python benchmarks/compile.py [--runs N]

Figures: in-process compile of each example; `blockc compile` as a whole process (warm caches,
and cold with BLOCKC_NO_CACHE=1); validating 1,000 templates in one process; `blockc --help`;
the peer `devcontainer features resolve-dependencies` on four local features, side by side.
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
from _common import (
    BIN,
    ROOT,
    compile_bytecode,
    devcontainer_cli,
    devcontainer_workspace,
    median_time,
    report,
    run,
)  # noqa: E402

SIX = ROOT / "benchmarks" / "templates" / "six-blocks.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    compile_bytecode()
    home = tempfile.mkdtemp(prefix="blockc-bench-home-")
    os.environ["BLOCKC_HOME"] = home
    env = dict(os.environ)
    blockc = str(BIN / "blockc")
    out = Path(home) / "out"
    print(f"blockc compiler benchmark: medians of {args.runs} runs (2-core machine, noisy)")

    import blockc as api
    from blockc.compiler import load_registry
    from blockc.errors import BlockcError

    reg = load_registry()
    print("in-process compile (blockc.compile, plugins loaded once):")
    examples = sorted((ROOT / "examples").glob("*.yaml")) + [SIX]
    for ex in examples:
        try:
            api.compile(ex, registry=reg)
        except BlockcError as exc:
            print(f"  {ex.name}: skipped ({exc.diagnostics[0].message})")
            continue
        med, _ = median_time(lambda: api.compile(ex, registry=reg), args.runs * 4)
        blocks = ex.read_text().count("- type:")
        report(
            f"{ex.relative_to(ROOT)} ({blocks} blocks)",
            med,
            goal="(goal <= 5 ms for 6 blocks)" if ex == SIX else "",
        )

    print("whole process:")
    compile_cmd = [blockc, "compile", str(SIX), "-o", str(out)]
    cli = devcontainer_cli()
    peer_cmd = None
    if cli is not None:
        ws = devcontainer_workspace({n: f"echo {n}" for n in ("python", "node", "apt", "shell")})
        peer_cmd = [str(cli), "features", "resolve-dependencies", "--workspace-folder", str(ws)]
    # blockc and the peer alternate, run by run, so that both see the same machine (it is
    # shared, and its speed drifts over minutes)
    warm_runs, peer_runs = [], []
    for _ in range(2):
        run(compile_cmd, env=env)
        if peer_cmd:
            run(peer_cmd, stderr=subprocess.DEVNULL)
    for _ in range(args.runs):
        warm_runs.append(median_time(lambda: run(compile_cmd, env=env), 1, warmup=0)[0])
        if peer_cmd:
            peer_runs.append(
                median_time(lambda: run(peer_cmd, stderr=subprocess.DEVNULL), 1, warmup=0)[0]
            )
    warm = statistics.median(warm_runs)
    report("blockc compile six-blocks.yaml (warm caches)", warm, goal="(goal <= 150 ms)")
    cold_env = {**env, "BLOCKC_NO_CACHE": "1"}
    cold, _ = median_time(lambda: run(compile_cmd, env=cold_env), args.runs)
    report("blockc compile six-blocks.yaml (BLOCKC_NO_CACHE=1)", cold)
    helptime, _ = median_time(lambda: run([blockc, "--help"], env=env), args.runs, warmup=2)
    report("blockc --help", helptime, goal="(goal <= 100 ms)")

    many = Path(home) / "many"
    many.mkdir()
    text = SIX.read_text()
    shutil.copy(SIX.parent / "motd.txt", many / "motd.txt")
    for i in range(1000):
        (many / f"t{i:04d}.yaml").write_text(
            text.replace("name: six-blocks", f"name: team-{i}").replace("8000", str(9000 + i))
        )
    files = sorted(str(p) for p in many.glob("t*.yaml"))
    val, _ = median_time(lambda: run([blockc, "validate", *files], env=env), 3)
    report("blockc validate of 1,000 templates (one process)", val, unit="s", goal="(goal <= 3 s)")

    if not peer_runs:
        print("peer: npm not found, Dev Containers CLI skipped")
        return
    peer = statistics.median(peer_runs)
    print("peer, side by side (runs alternating with blockc's):")
    report("devcontainer features resolve-dependencies (4 local features)", peer)
    report("ratio blockc compile (warm) / peer", warm / peer, unit="x", goal="(goal <= 0.5)")
    report("ratio blockc compile (cold caches) / peer", cold / peer, unit="x")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
