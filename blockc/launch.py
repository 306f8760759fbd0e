"""The ``blockc`` command (its console script's entry point): an ``exec``, ``sync``,
``status`` or ``logs`` is handed to the resident blockc when one runs (blockc/resident), and
runs here otherwise (starting one for the next command); every other command runs here."""

from __future__ import annotations

import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    mode = os.environ.get("BLOCKC_RESIDENT", "1")
    if mode != "0":
        from .resident import eligible

        if eligible(argv):
            from .resident import client

            try:
                sys.exit(client.run(argv))
            except client.NotTaken as exc:
                if mode == "require":
                    sys.stderr.write(f"error: BLOCKC_RESIDENT=require: {exc}\n")
                    sys.exit(1)
                if exc.spawn:
                    try:
                        return _here(argv)
                    finally:
                        client.spawn()
            except KeyboardInterrupt:  # (before the command ran anywhere)
                sys.stderr.write("interrupted\n")
                sys.exit(130)
    _here(argv)


def _here(argv: list[str]) -> None:
    from .cli import main as blockc

    blockc(argv)
