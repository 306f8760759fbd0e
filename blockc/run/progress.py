"""Progress for long work (build, start, sync): a live line on a terminal, plain lines
otherwise (CI logs, pipes)."""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typing is not imported on `blockc sync`'s way to its agent)
    from typing import Any


class Progress:
    def __init__(self, stream=None, *, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self._live: Any = None  # rich's Status, on a terminal
        self._t0 = time.monotonic()

    def __enter__(self):
        if self.tty and not self.quiet:
            from rich.console import Console

            self._console = Console(file=self.stream)
            self._live = self._console.status("")
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def update(self, text: str) -> None:
        """A transient status (only shown on a terminal)."""
        if self._live is not None:
            from rich.text import Text

            # plain text (a "[block]" is not markup), one line however long
            self._live.update(Text(text, no_wrap=True, overflow="ellipsis"))

    def line(self, text: str) -> None:
        """A line that stays (both on terminals and in logs)."""
        if self.quiet:
            return
        if self._live is not None:
            self._console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self._t0
