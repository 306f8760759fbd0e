"""blockc: compile studio templates into container images and run them as studios.

The public Python API::

    import blockc
    artifact = blockc.compile("template.yaml")   # in memory; blockc.emit(artifact, "out/")
    blockc.validate("template.yaml")             # raises blockc.BlockcError with every problem

Plugin authors use :data:`hookimpl` and the types in :mod:`blockc.types`.

Every ``blockc`` command imports this package, and ``blockc sync`` races rsync: the compiler
and pluggy are imported on first use of these names, not here (tests/test_imports.py).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported for this alone

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "compile", "validate", "emit", "BlockcError"]

if TYPE_CHECKING:
    import pluggy

    from .compiler.model import Artifact
    from .errors import BlockcError

    hookimpl: pluggy.HookimplMarker


def compile(path, *, registry=None, base_image=None) -> Artifact:
    """The artifact of a template file, in memory (see :func:`blockc.compiler.compile`)."""
    from .compiler import compile as compile_

    return compile_(path, registry=registry, base_image=base_image)


def validate(path, *, registry=None, strict=False) -> Artifact:
    """Everything short of writing files (see :func:`blockc.compiler.check`)."""
    from .compiler import check

    return check(path, registry=registry, strict=strict)


def emit(artifact, outdir):
    """Write an artifact to a directory and return it (see :func:`blockc.compiler.emit.emit`);
    raises :class:`BlockcError` when it cannot."""
    from .compiler.emit import emit as emit_
    from .errors import BlockcError

    written, diags = emit_(artifact, outdir)
    if written is None:
        raise BlockcError(diags)
    return written


def __getattr__(name: str):
    if name == "hookimpl":
        import pluggy

        globals()["hookimpl"] = marker = pluggy.HookimplMarker("blockc")
        return marker
    if name == "BlockcError":
        from .errors import BlockcError

        return BlockcError
    raise AttributeError(name)
