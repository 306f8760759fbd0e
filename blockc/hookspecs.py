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


@hookspec
def blockc_authenticators() -> Sequence[type]:
    """Return the authenticators this plugin provides to ``blockc serve`` (SPEC §9).

    Each is a subclass of :class:`blockc.serve.auth.Authenticator` with a unique ``name``
    (what the site setting ``authenticator`` selects). It is made once per server with the
    site's settings, and tells who a user is: from a name and password at ``/login``
    (``check_password``), or from the request itself (``request_user``: a header an SSO proxy
    sets, a client certificate...). Either returns a user name; the server makes the user at
    their first sign-in when the authenticator says so (``adds_users``).

    Example::

        import os

        from blockc import hookimpl
        from blockc.serve.auth import Authenticator

        class Shared(Authenticator):
            name = "shared-password"
            password_form = True

            def check_password(self, user, password):
                return user if password == os.environ.get("SHARED_PASSWORD") else None

        @hookimpl
        def blockc_authenticators():
            return [Shared]
    """
