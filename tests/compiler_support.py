"""What the compiler's and the runner's tests share (imported by name: ``conftest`` is
ambiguous once several test directories have one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import blockc
from blockc.errors import BlockcError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
BLOCKC = Path(sys.executable).parent / "blockc"


def run_cli(*args, home: Path, env: dict | None = None, cwd=None, input=None):
    """Run ``blockc ARGS`` as a process; never a traceback, whatever the outcome."""
    full_env = {**os.environ, "BLOCKC_HOME": str(home), **(env or {})}
    full_env.pop("BLOCKC_DEBUG", None)
    proc = subprocess.run(
        [str(BLOCKC), *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        input=input,
        timeout=60,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def compile_example(path, registry):
    """Compile an example; skip when it needs block types that are not installed."""
    try:
        return blockc.compile(path, registry=registry)
    except BlockcError as exc:
        missing = [d for d in exc.diagnostics if d.message.startswith("unknown block type")]
        if missing and len(missing) == len([d for d in exc.diagnostics if d.file]):
            pytest.skip(
                f"{path.name} needs block types that are not installed: "
                + ", ".join(sorted({d.block_type for d in missing}))
            )
        raise


def studio_row(name: str, workspace=None, **fields):
    """A studio's state row as a started one has it (podman, RUNNING, owner ``o``; any field
    given instead), not saved: for tests that drive the runner's parts without a start."""
    from blockc.run import state

    row = {
        "owner": "o",
        "template": "t",
        "template_path": "-",
        "artifact_hash": "0" * 64,
        "image": "i",
        "runtime": "podman",
        "state": "RUNNING",
        "workspace": None if workspace is None else str(workspace),
        **fields,
    }
    return state.Studio(name=name, **row)
