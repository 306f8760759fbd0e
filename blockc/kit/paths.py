"""Where things are in a studio's image, and the files next to a template."""

from __future__ import annotations

import os
from pathlib import Path

from ..readfile import read_regular
from ..types import BlockContext, ContextFile

APPS = "/opt/blockc/apps"  # each app block's own directory: APPS/<block id>
BLOCKC_VENV = "/opt/blockc/venv"  # blockc's own Python (the launcher's): for build-time tools
BLOCKC_PYTHON = f"{BLOCKC_VENV}/bin/python"
APT_INSTALL = "/opt/blockc/bin/apt-install"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # where `blockc build` mounts the site's CA


def app_dir(ctx: BlockContext, *parts: str) -> str:
    """The block's own directory in the image (``/opt/blockc/apps/<id>``), or a path in it:
    where an app's program, configuration and state go. Owned by root: chown what the app
    writes at run time to the studio user."""
    return "/".join((APPS, ctx.id, *parts))


def python_bin(ctx: BlockContext, name: str = "python") -> str:
    """A program of the studio's Python environment (``/opt/studio/venv/bin/<name>``): the
    environment every app shares and the user installs into."""
    return f"{ctx.image.python}/bin/{name}"


def template_file(
    ctx: BlockContext,
    src: str,
    *path: str | int,
    max_bytes: int = 50 * 1024 * 1024,
    name: str | None = None,
    what: str = "file",
) -> ContextFile | None:
    """The file ``src`` next to the template (relative to the template's directory, which it
    may not leave, links included) as a build-context file under this block's context
    directory (``name``, default its base name), keeping its executable bits. Or None after a
    located error at ``path`` (the option's path under ``with:``): outside the directory,
    missing, a directory, or larger than ``max_bytes``."""
    root = Path(ctx.template_dir or ".").resolve()
    full = (root / src).resolve()
    if not full.is_relative_to(root):
        ctx.error(f"{src!r} resolves outside the template's directory", *path)
        return None
    try:
        content = read_regular(full, max_bytes)  # (a FIFO or a device is no file to copy)
    except FileNotFoundError:
        ctx.error(f"{what} {src!r}: not found next to the template", *path)
        return None
    except OSError as exc:
        found = "a directory" if full.is_dir() else exc.strerror or "unreadable"
        ctx.error(f"{what} {src!r}: {found} next to the template", *path)
        return None
    if len(content) > max_bytes:
        ctx.error(f"{what} {src!r} is larger than {_size(max_bytes)}", *path)
        return None
    mode = (full.stat().st_mode & 0o755) | 0o644
    return ContextFile(ctx.context_path(name or os.path.basename(src)), content, mode=mode)


def _size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"
