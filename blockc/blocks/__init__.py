"""The core block types. They are a plugin like any other, registered through blockc's own
entry point ``blockc = core``."""

from __future__ import annotations

from .. import hookimpl


@hookimpl
def blockc_block_types():
    from . import app, dockerfile, file_sync, files, kubernetes, packages

    return [
        packages.SYSTEM_PACKAGES,
        packages.PYTHON_PACKAGES,
        dockerfile.DOCKERFILE,
        files.FILES,
        app.APP,
        app.PORT,
        file_sync.FILE_SYNC,
        kubernetes.KUBERNETES,
    ]
