"""blockc's cache is keyed on all that determines an entry: an edited source file (in an
editable install too) gives fresh output, never a stale one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import blockc
from blockc import cache
from blockc.testing import template, write_template


def _copy_of_blockc(tmp_path: Path) -> Path:
    """blockc's package copied, as an editable install's source tree would be edited."""
    src = tmp_path / "src"
    shutil.copytree(
        Path(blockc.__file__).parent, src / "blockc", ignore=shutil.ignore_patterns("__pycache__")
    )
    return src


def _compile(src: Path, home: Path, template_path: Path, out: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(src), "BLOCKC_HOME": str(home)}
    env.pop("BLOCKC_NO_CACHE", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "blockc",
            "--no-plugins",
            "compile",
            str(template_path),
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=src,
    )
    assert proc.returncode == 0, proc.stderr
    return (out / "Containerfile").read_text()


def test_an_edited_quoting_function_gives_fresh_output(tmp_path):
    src = _copy_of_blockc(tmp_path)
    home = tmp_path / "home"
    t = write_template(
        tmp_path / "t",
        template(
            {"type": "system-packages", "with": {"apt": ["git"]}},
            {"type": "python-packages", "with": {"packages": ["numpy>=1.26"]}},
        ),
    )
    before = _compile(src, home, t, tmp_path / "out1")
    assert "'numpy>=1.26'" in before
    entries = set((home / "cache").rglob("*"))
    assert entries  # the caches were written: the plugin discovery, the compiled schemas
    assert _compile(src, home, t, tmp_path / "out2") == before  # ... and read

    quoting = src / "blockc" / "compiler" / "containerfile.py"
    text = quoting.read_text()
    assert "    return shlex.quote(value)\n" in text
    quoting.write_text(
        text.replace("    return shlex.quote(value)\n", "    return '\"' + value + '\"'\n")
    )
    after = _compile(src, home, t, tmp_path / "out3")
    assert '"numpy>=1.26"' in after and "'numpy>=1.26'" not in after
    assert set((home / "cache").rglob("*")) > entries  # new keys: the old entries go unused


def test_the_code_identity_follows_every_file_of_the_package(tmp_path, monkeypatch):
    src = _copy_of_blockc(tmp_path)
    monkeypatch.setattr(cache, "PACKAGE", str(src / "blockc"))
    cache.code_identity.cache_clear()
    try:
        first = cache.code_identity()
        cache.code_identity.cache_clear()
        assert cache.code_identity() == first
        schema = src / "blockc" / "compiler" / "template.schema.json"  # data files count too
        schema.write_text(schema.read_text() + " ")
        cache.code_identity.cache_clear()
        assert cache.code_identity() != first
    finally:
        cache.code_identity.cache_clear()


def test_no_cache_reads_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path))
    monkeypatch.setenv("BLOCKC_NO_CACHE", "1")
    cache.put("kind", "key", b"data")
    assert not (tmp_path / "cache").exists()
    monkeypatch.delenv("BLOCKC_NO_CACHE")
    cache.put("kind", "key", b"data")
    assert cache.get("kind", "key") == b"data"
    monkeypatch.setenv("BLOCKC_NO_CACHE", "1")
    assert cache.get("kind", "key") is None


def test_the_cache_keeps_a_bounded_number_of_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path))
    monkeypatch.delenv("BLOCKC_NO_CACHE", raising=False)
    monkeypatch.setattr(cache, "MAX_ENTRIES", 8)
    for n in range(20):
        cache.put("kind", f"key{n:02}", b"data")
        os.utime(tmp_path / "cache" / "kind" / f"key{n:02}", ns=(n * 10**9, n * 10**9))
    kept = sorted(p.name for p in (tmp_path / "cache" / "kind").iterdir())
    assert len(kept) <= 8 and "key19" in kept and "key00" not in kept
    assert cache.get("kind", "key19") == b"data"
