"""The ``blockc`` command (its console script's entry point): an ``exec``, ``sync``,
``status`` or ``logs`` is handed to the resident blockc when one runs (blockc/resident), and
runs here otherwise (starting one for the next command); every other command runs here."""

from __future__ import annotations

import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    mode = os.environ.get("BLOCKC_RESIDENT", "1")
    spawn = False
    if mode != "0":
        from .resident import eligible

        if eligible(argv):
            spawn = _handed(argv, required=mode == "require")
    try:
        from .cli import main as blockc

        blockc(argv)
    finally:
        if spawn:
            from .resident import client

            try:
                client.spawn()
            except KeyboardInterrupt:
                pass


def _handed(argv: list[str], *, required: bool) -> bool:
    """Run the command in the resident blockc and exit with its status; else return whether
    to start one once the command has run here."""
    from .resident import client

    try:
        code = client.run(argv)
    except client.NotTaken as exc:
        if required:
            sys.stderr.write(f"error: BLOCKC_RESIDENT=require: {exc}\n")
            sys.exit(1)
        return exc.spawn
    except KeyboardInterrupt:  # (before the command ran anywhere)
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code & 0xFF)  # (nothing of this process's own to tear down: ~2 ms)
