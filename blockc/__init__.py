"""blockc: compile studio templates into container images and run them as studios.

The public Python API::

    import blockc
    artifact = blockc.compile("template.yaml")   # in memory; blockc.emit(artifact, "out/")
    blockc.validate("template.yaml")             # raises blockc.BlockcError with every problem

Plugin authors use :data:`hookimpl` and the types in :mod:`blockc.types`.
Heavy modules are imported lazily so that ``import blockc`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

import pluggy as _pluggy

hookimpl = _pluggy.HookimplMarker("blockc")

__all__ = ["__version__", "hookimpl", "compile", "validate", "emit", "BlockcError"]


def __getattr__(name):
    if name in ("compile", "validate"):
        from . import compiler

        return getattr(compiler, name)
    if name == "emit":
        from .emit import emit

        return emit
    if name == "BlockcError":
        from .errors import BlockcError

        return BlockcError
    raise AttributeError(name)
