"""Where blockc keeps its files: ``$BLOCKC_HOME`` (default ``~/.local/share/blockc``), which
holds the site settings (``config.toml``), the studio state (``state.db``), the artifacts of
running studios and the caches."""

from __future__ import annotations

import os

from .errors import BlockcError


def home_dir() -> str:
    home = os.environ.get("BLOCKC_HOME")
    if home:
        return home
    user_home = os.path.expanduser("~")
    if user_home == "~":
        raise BlockcError(
            "cannot tell the home directory (no $HOME, no passwd entry): set BLOCKC_HOME"
        )
    return os.path.join(user_home, ".local/share/blockc")
