"""User-facing errors: every problem is a located Diagnostic, never a traceback."""

from __future__ import annotations

import os

from .terminal import printable
from .value import Value


class Diagnostic(Value):
    """One problem, located as precisely as we know."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    block_id: str | None = None
    block_type: str | None = None
    plugin: str | None = None
    hint: str | None = None
    path: tuple = ()  # path inside the template document
    detail: str | None = None  # a plugin's traceback: shown under BLOCKC_DEBUG=1

    def location(self) -> str:
        if self.file is None and self.line is None:
            return ""
        parts = [self.file or "<template>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def format(self) -> str:
        where = self.location()
        who = ""
        if self.block_id or self.block_type:
            who = f"block '{self.block_id}' ({self.block_type})"
            if self.plugin:
                who += f" [plugin {self.plugin}]"
            who += ": "
        elif self.plugin:
            who = f"plugin {self.plugin}: "
        text = f"{where + ': ' if where else ''}error: {who}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        # a name in it may come from anywhere: shown, not obeyed (blockc's own line breaks kept)
        text = "\n".join(printable(line) for line in text.split("\n"))
        if self.detail and debug():
            text += "\n" + "".join(f"    {line}\n" for line in self.detail.splitlines()).rstrip()
        return text

    def to_json(self) -> dict:
        data = self.as_dict()
        data["path"] = [str(p) for p in self.path]
        if not (self.detail and debug()):
            del data["detail"]
        return data


def debug() -> bool:
    """Whether BLOCKC_DEBUG asks for tracebacks."""
    return os.environ.get("BLOCKC_DEBUG", "") not in ("", "0")


class BlockcError(Exception):
    """A user-facing failure: the CLI prints the diagnostics and exits 1."""

    def __init__(self, diagnostics: list[Diagnostic] | str, *, hint: str | None = None):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics, hint=hint)]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


def did_you_mean(word: str, choices) -> str | None:
    import difflib

    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
