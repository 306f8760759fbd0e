"""Helpers shared by the benchmark scripts: medians of repeated runs, peers on this machine."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PEER_DIR = Path(os.environ.get("BLOCKC_BENCH_PEERS", "/var/tmp/blockc-bench-peers"))


def compile_bytecode() -> None:
    """Write blockc's and the plugins' .pyc files, as an installed package has them.

    The venv holds blockc in editable mode, and where PYTHONDONTWRITEBYTECODE is set (as on
    these machines) nothing would ever write them: every run would compile blockc's sources
    again (~40 ms), which no installed blockc pays. `make venv` does the same.
    """
    plugins = [str(p.parent) for p in sorted((ROOT / "plugins").glob("*/pyproject.toml"))]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "blockc"), *plugins],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def quiet_and_cached(source: Path | None = None) -> None:
    """No dirty pages pending (a tool never pays for the writeback of what the one before it
    wrote), and the tree ``source`` read just now (every tool finds the files it reads in the
    page cache: where DAMON pages out cold memory, as on these VMs, a tree copied a minute ago
    is read from disk again, and that is no tool's cost)."""
    os.sync()
    if source is not None:
        for root, _, names in os.walk(source):
            for name in names:
                with open(os.path.join(root, name), "rb") as f:
                    while f.read(1 << 20):
                        pass


def median_time(fn, runs: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def run(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kw)


def devcontainer_cli() -> Path | None:
    """The Dev Containers CLI (npm @devcontainers/cli), installed once under PEER_DIR."""
    exe = PEER_DIR / "node_modules" / ".bin" / "devcontainer"
    if not exe.exists():
        if not shutil.which("npm"):
            return None
        PEER_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--silent", "--prefix", str(PEER_DIR), "@devcontainers/cli"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return exe


def devcontainer_workspace(features: dict[str, str]) -> Path:
    """A workspace with local features (``./name``), each with an install.sh body."""
    import json

    ws = PEER_DIR / "ws-features"
    shutil.rmtree(ws, ignore_errors=True)
    dc = ws / ".devcontainer"
    dc.mkdir(parents=True)
    for name, script in features.items():
        (dc / name).mkdir()
        (dc / name / "devcontainer-feature.json").write_text(
            json.dumps(
                {
                    "id": name,
                    "version": "1.0.0",
                    "name": name,
                    "options": {"version": {"type": "string", "default": "latest"}},
                }
            )
        )
        (dc / name / "install.sh").write_text("#!/bin/sh\nset -e\n" + script + "\n")
        (dc / name / "install.sh").chmod(0o755)
    (dc / "devcontainer.json").write_text(
        json.dumps(
            {
                "image": "localhost/blockc-base/debian-python:bookworm",
                "features": {f"./{n}": {} for n in features},
            }
        )
    )
    return ws


def report(title: str, value: float, unit: str = "ms", goal: str = "") -> None:
    shown = f"{value * 1000:8.1f} ms" if unit == "ms" else f"{value:8.2f} {unit}"
    print(f"  {title:<58} {shown}  {goal}".rstrip(), flush=True)
