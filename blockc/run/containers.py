"""podman and buildah, driven through ``sh``, with the site's environment (its
``containers.conf``)."""

from __future__ import annotations

import sh

from ..errors import BlockcError
from .settings import Settings, container_env


def tool(name: str, settings: Settings) -> sh.Command:
    """The command ``name`` (buildah, podman) with the site's environment, or a clear error."""
    try:
        cmd = sh.Command(name)
    except sh.CommandNotFound:
        raise BlockcError(
            f"{name} is not installed (on Debian: apt-get install -y buildah podman runc)"
        ) from None
    return cmd.bake(_env=container_env(settings))


def image_exists(ref: str, settings: Settings) -> bool:
    try:
        tool("podman", settings)("image", "exists", ref)
        return True
    except sh.ErrorReturnCode:
        return False
