"""What a block plugin needs besides the values of :mod:`blockc.types`: option-schema
fragments, pinned installs, the paths of a studio's image, and files next to the template.
blockc's core blocks and the four app blocks use exactly these (docs/plugins.md, "Helpers").

Everything here returns values or reports located errors through ``ctx.error``; nothing
writes shell text: each word of a command is quoted by blockc.
"""

from __future__ import annotations

from .installs import (
    NPM_CACHE,
    SYSTEM_PATH,
    apt_install,
    node_env,
    node_install,
    npm_install,
    pinned,
    pip_install,
    requirement_problem,
    requirements,
    version_problem,
)
from .options import (
    ABS_PATH,
    APT_PACKAGE,
    CAPABILITY,
    ENV_MAP,
    HTTP_PATH,
    LABEL,
    MODE,
    NO_CONTROL,
    PATH_MODE,
    PIP_VERSION,
    PORT,
    REL_PATH,
    REQUIREMENT,
    TEXT,
    URL,
    options,
)
from .paths import (
    APPS,
    APT_INSTALL,
    BLOCKC_PYTHON,
    BLOCKC_VENV,
    CA_BUNDLE,
    app_dir,
    python_bin,
    template_file,
)

__all__ = [
    # option-schema fragments
    "ABS_PATH",
    "APT_PACKAGE",
    "CAPABILITY",
    "ENV_MAP",
    "HTTP_PATH",
    "LABEL",
    "MODE",
    "NO_CONTROL",
    "PATH_MODE",
    "PIP_VERSION",
    "PORT",
    "REL_PATH",
    "REQUIREMENT",
    "TEXT",
    "URL",
    "options",
    # installs
    "NPM_CACHE",
    "SYSTEM_PATH",
    "apt_install",
    "node_env",
    "node_install",
    "npm_install",
    "pinned",
    "pip_install",
    "requirement_problem",
    "requirements",
    "version_problem",
    # paths and files
    "APPS",
    "APT_INSTALL",
    "BLOCKC_PYTHON",
    "BLOCKC_VENV",
    "CA_BUNDLE",
    "app_dir",
    "python_bin",
    "template_file",
]
