"""Text that reaches a terminal: what a studio, a template or a file name brings in is shown,
never obeyed (an ESC sequence would move the cursor or rewrite the screen, a bidi override
would reorder what a reviewer reads)."""

from __future__ import annotations


def printable(text: object, keep: str = "") -> str:
    """``text`` with each character that is not printable (C0 and C1 controls, DEL, line
    breaks, format characters such as bidi overrides) as a Python escape (``\\x1b``,
    ``\\u202e``), but those in ``keep`` (``"\\n\\t"`` for a log). Printable text is
    unchanged."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c in keep else c.encode("unicode_escape").decode() for c in text
    )
