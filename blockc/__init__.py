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

__all__ = ["__version__", "hookimpl", "compile", "validate", "emit", "BlockcError"]


def compile(path, **kwargs):
    """Compile a template file into an in-memory artifact (see :func:`blockc.compiler.compile`)."""
    from .compiler import compile as compile_

    return compile_(path, **kwargs)


def validate(path, **kwargs):
    """Everything short of writing files (see :func:`blockc.compiler.validate`)."""
    from .compiler import validate as validate_

    return validate_(path, **kwargs)


def emit(artifact, outdir):
    """Write an artifact to a directory (see :func:`blockc.compiler.emit.emit`)."""
    from .compiler.emit import emit as emit_

    return emit_(artifact, outdir)


def __getattr__(name):
    if name == "hookimpl":  # pluggy is imported only when plugins are (not for --help)
        import pluggy

        global hookimpl
        hookimpl = pluggy.HookimplMarker("blockc")
        return hookimpl
    if name == "BlockcError":
        from .errors import BlockcError

        return BlockcError
    raise AttributeError(name)
