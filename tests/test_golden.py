"""Golden files: tests/golden/<example>/ holds the compiled artifact of examples/<example>.yaml.

Refresh after an intended change, then review the diff:

    BLOCKC_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/test_golden.py    # or: make golden
    git diff tests/golden
"""

from __future__ import annotations

import os
import shutil

import pytest
from compiler_support import EXAMPLE_FILES, ROOT, compile_example

from blockc import emit

GOLDEN = ROOT / "tests" / "golden"
UPDATE = bool(os.environ.get("BLOCKC_UPDATE_GOLDEN"))
# blockc's own files, copied verbatim into every artifact: checked against their source here,
# not kept once per example in the golden directories
STATIC = {
    f"context/blockc/{name}": ROOT / "blockc" / "compiler" / "in_studio" / name
    for name in ("launch.py", "studio-setup.sh", "apt-install.sh")
}


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_golden(example, installed_registry):
    artifact = compile_example(example, installed_registry)
    golden = GOLDEN / example.stem
    if UPDATE:
        if golden.exists():
            shutil.rmtree(golden)
        emit(artifact, golden)
        for rel in STATIC:
            (golden / rel).unlink()
        return
    assert golden.is_dir(), (
        f"no golden files for {example.name}: run "
        f"BLOCKC_UPDATE_GOLDEN=1 pytest tests/test_golden.py"
    )
    for rel, source in STATIC.items():
        assert artifact.files[rel][0] == source.read_bytes(), f"{rel} is not {source} verbatim"
    on_disk = {p.relative_to(golden).as_posix() for p in golden.rglob("*") if p.is_file()}
    assert on_disk == set(artifact.files) - set(STATIC), (
        "files added or removed: refresh the golden files"
    )
    for rel, (content, _mode) in sorted(artifact.files.items()):
        if rel in STATIC:
            continue
        expected = (golden / rel).read_bytes()
        try:  # as text when it is text: pytest then shows a readable diff
            assert content.decode() == expected.decode(), f"{example.stem}/{rel} changed"
        except UnicodeDecodeError:
            assert content == expected, f"{example.stem}/{rel} changed"


def test_no_stale_golden_dirs():
    stems = {p.stem for p in EXAMPLE_FILES}
    stale = (
        sorted(p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name not in stems)
        if GOLDEN.is_dir()
        else []
    )
    assert not stale, f"golden files without an example: {stale}"


def test_at_least_three_examples():
    assert len(EXAMPLE_FILES) >= 3
