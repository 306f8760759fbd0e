"""``blockc new-plugin NAME``: a new plugin distribution that works as it is made (its block
type compiles, its tests pass), to change into your own. The files are the templates in
``skeleton/`` with the names filled in."""

from __future__ import annotations

from pathlib import Path

from ..errors import BlockcError
from ..names import DNS_LABEL

SKELETON = Path(__file__).parent / "skeleton"


def files(name: str) -> dict[str, str]:
    """The new distribution's files (relative path -> text) for block type ``name``."""
    if not DNS_LABEL.fullmatch(name) or len(name) > 40:
        raise BlockcError(
            f"{name!r} is no block type name: lowercase letters, digits and '-' (a DNS-1123 "
            f"label of at most 40 characters), like 'gradio' or 'team-notes'"
        )
    module = "blockc_" + name.replace("-", "_")
    words = {"__NAME__": name, "__MODULE__": module, "__DIST__": f"blockc-{name}"}

    def fill(template: str) -> str:
        text = (SKELETON / template).read_text(encoding="utf-8")
        for word, value in words.items():
            text = text.replace(word, value)
        return text

    return {
        "pyproject.toml": fill("pyproject.toml.tmpl"),
        "README.md": fill("README.md.tmpl"),
        f"{module}/__init__.py": fill("module.py.tmpl"),
        f"{module}/py.typed": "",
        f"tests/test_{module.removeprefix('blockc_')}.py": fill("test.py.tmpl"),
    }


def create(name: str, directory: str | Path | None = None) -> Path:
    """Write the distribution into ``directory`` (default ``./blockc-NAME``), which must not
    exist or be empty; returns it."""
    made = files(name)
    target = Path(directory if directory is not None else f"blockc-{name}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BlockcError(f"{target}: exists and is not an empty directory; choose another")
    for rel, text in made.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target
