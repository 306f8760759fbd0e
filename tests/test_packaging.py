"""What a regular (not editable) install of blockc holds: every file the package reads."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_data_file_of_the_package_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["blockc"]
    package = ROOT / "blockc"
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    for pattern in patterns:
        assert any(package.glob(pattern)), f"package-data {pattern!r} matches no file"
    data = {p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert data <= shipped, f"not installed: {sorted(map(str, data - shipped))}"
    # a directory of files without an __init__.py is no package: its .py files are data
    for directory in {p.parent for p in package.rglob("*.py")}:
        if not (directory / "__init__.py").exists():
            assert set(directory.glob("*.py")) <= shipped, directory
