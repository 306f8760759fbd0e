"""Where blockc keeps its files: ``$BLOCKC_HOME`` (default ``~/.local/share/blockc``), which
holds the site settings (``config.toml``), the studio state (``state.db``), the artifacts of
running studios and the caches. It is private (0700): the state names workspaces, ports and
every synced file, and the caches hold code blockc loads."""

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


def private_home() -> str:
    """``$BLOCKC_HOME``, made if need be, mode 0700 (an older, wider one of ours is narrowed:
    nothing below it is reachable by other users then, whatever the files' own modes)."""
    home = home_dir()
    os.makedirs(home, mode=0o700, exist_ok=True)
    st = os.stat(home)
    if st.st_uid == os.getuid() and st.st_mode & 0o077:
        os.chmod(home, 0o700)
    return home
