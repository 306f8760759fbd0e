"""The hooks a blockc plugin may implement. Bodies are docstrings only.

Plugins mark implementations with :data:`blockc.hookimpl`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from .types import BlockType

hookspec = pluggy.HookspecMarker("blockc")


@hookspec
def blockc_block_types() -> Sequence[BlockType]:
    """Return the block types this plugin provides.

    Called once when the plugin manager loads. Each :class:`blockc.types.BlockType` has a
    unique ``name`` (the ``type:`` in a template), the JSON Schema of its ``with:`` options and
    a ``contribute(ctx)`` function that turns one block's options into
    :class:`blockc.types.Contributions`.

    Example::

        from blockc import hookimpl
        from blockc.types import BlockType, Contributions, Phase, Run, Step

        def contribute(ctx):
            return Contributions(steps=[Step(Phase.APP, [Run([("echo", ctx.options["msg"])])])])

        @hookimpl
        def blockc_block_types():
            schema = {"type": "object", "properties": {"msg": {"type": "string"}}}
            return [BlockType("hello", schema,
                              contribute)]
    """
