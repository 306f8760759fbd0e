"""The values block plugins return. All frozen, validated on construction.

A plugin registers :class:`BlockType` objects; the compiler (not pluggy's call order)
decides when each block's ``contribute`` runs and where its output lands.
Option values only ever travel inside these values as *data*: blockc's renderer quotes
them for the place they end up (Containerfile, shell, YAML, JSON).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum
from types import MappingProxyType
from typing import Any, Literal

from .names import DNS_LABEL
from .value import Value

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch only


class InvalidValue(ValueError):
    """A value a plugin made is invalid (raised by the constructors here): a bug in the plugin,
    reported naming it."""


class Phase(IntEnum):
    """Where a Containerfile step lands: slow, stable steps first, volatile ones last."""

    BASE = 0  # blockc's own: studio user, Python environments, supervisor
    SYSTEM = 10  # system packages
    RUNTIME = 20  # language runtimes and packages
    APP = 30  # app installs
    CONFIG = 40  # configuration
    FILES = 50  # template files
    LAUNCH = 60  # supervisor and launcher configuration


User = Literal["root", "studio"]


class Shell(str):
    """A shell token written by a plugin author (``|``, ``>``, ``&&``), emitted unquoted.

    Never wrap an option value in this: option values are quoted by the renderer.
    """

    def __repr__(self) -> str:
        return f"Shell({str.__repr__(self)})"


class Run(Value):
    """A ``RUN`` instruction: commands (argv tuples) joined with ``&&``, each argument quoted.

    It runs as the studio user unless ``user="root"`` asks for root (system packages, files
    outside the user's space); ``blockc explain`` marks every step that runs as root.
    """

    commands: Sequence[Sequence[str]]  # kept as a tuple of tuples
    user: User = "studio"

    def __post_init__(self):
        cmds = tuple(
            tuple(str(a) if not isinstance(a, Shell) else a for a in c) for c in self.commands
        )
        if not cmds or any(not c for c in cmds):
            raise InvalidValue("Run needs at least one non-empty command")
        self._set("commands", cmds)
        _check_user(self.user)


class Copy(Value):
    """A ``COPY`` of a build-context file (a :class:`ContextFile` path) to an absolute path."""

    src: str
    dest: str
    mode: int | None = None
    user: User = "root"  # owner of the copied file

    def __post_init__(self):
        _check_relative(self.src, "Copy.src")
        if not self.dest.startswith("/"):
            raise InvalidValue(f"Copy.dest must be absolute: {self.dest!r}")
        _check_user(self.user)


class Raw(Value):
    """One admin-authored Containerfile instruction (the ``dockerfile`` block only), already
    checked; continuation lines included."""

    text: str
    user: User = "studio"


Instruction = Run | Copy | Raw


class Step(Value):
    """A Containerfile fragment: instructions placed in one phase."""

    phase: Phase
    instructions: Sequence[Instruction]  # kept as a tuple

    def __post_init__(self):
        self._set("phase", Phase(self.phase))
        self._set("instructions", tuple(self.instructions))


class ContextFile(Value):
    """A file written into the artifact's ``context/`` (path relative to it)."""

    path: str
    content: bytes | str  # text is kept as UTF-8 bytes
    mode: int = 0o644

    def __post_init__(self):
        _check_relative(self.path, "ContextFile.path")
        if isinstance(self.content, str):
            self._set("content", self.content.encode())


class App(Value):
    """An HTTP app in the studio. ``command`` None means a bare port (nothing launched).

    ``health`` is a path; ``{base}`` in it stands for the app's URL prefix. With
    ``health_redirect_ok`` a 3xx answer also counts as healthy (apps without a health endpoint).
    ``requires`` lists files (``${VAR}`` allowed) that must exist before the app starts; when
    one is missing the launcher logs a clear message and the app is not started.
    ``reads_at_start`` lists the absolute paths (files or directories) the app reads while it
    starts. Under ``blockc start`` an app waits until the sync zones are pushed in; an app
    that names these paths starts at once (while files sync in) when no zone overlaps them.
    None (the default): unknown, the app always waits.
    """

    id: str
    port: int
    command: Sequence[str] | None = None  # kept as a tuple
    path: Literal["strip", "preserve"] = "strip"
    health: str | None = "/"
    websocket: bool = False
    label: str = ""
    env: Mapping[str, str] = MappingProxyType({})
    health_redirect_ok: bool = False
    workdir: str | None = None
    requires: Sequence[str] = ()
    reads_at_start: Sequence[str] | None = None

    def __post_init__(self):
        if not DNS_LABEL.fullmatch(self.id):
            raise InvalidValue(f"App.id must be a DNS-1123 label: {self.id!r}")
        if not 1 <= int(self.port) <= 65535:
            raise InvalidValue(f"App.port out of range: {self.port}")
        if self.path not in ("strip", "preserve"):
            raise InvalidValue(f"App.path must be strip or preserve: {self.path!r}")
        if self.command is not None:
            self._set("command", tuple(str(a) for a in self.command))
        for k in self.env:
            if not ENV_NAME.fullmatch(k):
                raise InvalidValue(f"bad env var name {k!r}")
        self._set("env", MappingProxyType(dict(self.env)))
        if isinstance(self.requires, str):
            raise InvalidValue("App.requires is a tuple of paths, not a string")
        self._set("requires", tuple(str(r) for r in self.requires))
        if self.reads_at_start is not None:
            if isinstance(self.reads_at_start, str):
                raise InvalidValue("App.reads_at_start is a tuple of paths, not a string")
            paths = tuple(str(p) for p in self.reads_at_start)
            for p in paths:
                if not p.startswith("/") or "$" in p:
                    raise InvalidValue(f"App.reads_at_start needs absolute paths: {p!r}")
            self._set("reads_at_start", paths)


class Zone(Value):
    """A sync zone: a host dir (relative to the workspace) <-> a container path."""

    name: str
    host: str
    container: str
    direction: Literal["both", "in", "out"] = "both"
    exclude: Sequence[str] = ()
    limits: Mapping[str, int | str] = MappingProxyType({})  # max_file, max_total (sizes)

    def __post_init__(self):
        if self.direction not in ("both", "in", "out"):
            raise InvalidValue(f"Zone.direction: {self.direction!r}")
        self._set("exclude", tuple(self.exclude))
        self._set("limits", MappingProxyType(dict(self.limits)))


class Fixed(Value):
    """A value the plugin needs as it is (in ``Contributions.env`` or a manifest patch): an
    admin's different value for it is a conflict instead of winning."""

    value: Any


class ManifestPatch(Value):
    """A patch merged into one generated Kubernetes object.

    target: ``deployment`` (the Deployment object), ``pod`` (its pod template spec),
    ``container`` (the main container), ``service``. Dicts merge recursively; lists of
    dicts merge by ``name`` (containers, env, ports, volumes, volumeMounts); a scalar
    set to two different values by two blocks is a conflict. A value wrapped in
    :class:`Fixed` is needed as it is.

    ``option``: the path (under ``with:``) of the option whose value, as the admin wrote it,
    this patch carries: the admin's values win over plugins' (not over a :class:`Fixed` one:
    that is a conflict, located at the option).
    """

    target: Literal["deployment", "pod", "container", "service"]
    patch: Mapping[str, Any]
    option: Sequence[str | int] | None = None

    def __post_init__(self):
        if self.target not in ("deployment", "pod", "container", "service"):
            raise InvalidValue(f"ManifestPatch.target: {self.target!r}")
        if self.option is not None:
            if isinstance(self.option, str):
                raise InvalidValue("ManifestPatch.option is a path: a tuple of keys")
            self._set("option", tuple(self.option))


class Contributions(Value):
    """Everything one block adds to the artifact.

    ``env`` values are strings, or :class:`Fixed` strings that an admin's ``spec.env`` may not
    change. ``provides``: the capabilities this block provides with its options, among its
    block type's ``provides`` (None: all of those).
    """

    steps: Sequence[Step] = ()
    files: Sequence[ContextFile] = ()
    apps: Sequence[App] = ()
    zones: Sequence[Zone] = ()
    patches: Sequence[ManifestPatch] = ()
    env: Mapping[str, str | Fixed] = MappingProxyType({})
    provides: Sequence[str] | None = None

    def __post_init__(self):
        for name in ("steps", "files", "apps", "zones", "patches"):
            self._set(name, tuple(getattr(self, name)))
        for k, v in self.env.items():
            if not ENV_NAME.fullmatch(k):
                raise InvalidValue(f"bad env var name {k!r}")
            if not isinstance(v.value if isinstance(v, Fixed) else v, str):
                raise InvalidValue(f"env var {k}: the value must be a string, not {v!r}")
        self._set("env", MappingProxyType(dict(self.env)))
        if self.provides is not None:
            self._set("provides", _capabilities(self.provides, "Contributions.provides"))


class StudioImage(Value):
    """Facts about the image every block can rely on."""

    base: str
    user: str
    uid: int
    gid: int
    workdir: str
    python: str = "/opt/studio/venv"  # the studio's Python environment (user-writable)
    home: str = ""
    provides: Sequence[str] = ()  # capabilities of the base image (spec.image.provides)

    def __post_init__(self):
        if not self.home:
            self._set("home", f"/home/{self.user}")
        self._set("provides", tuple(self.provides))


class BlockContext:
    """What a block's ``contribute`` gets: its id, options and the template's facts.

    Report bad options with :meth:`error` (located at the option's path) instead of raising;
    every error of every block is reported in one run.
    """

    def __init__(
        self,
        *,
        id: str,
        type: str,
        options: Mapping[str, Any],
        image: StudioImage,
        template_name: str,
        template_dir: str | None,
        template_env: Mapping[str, str],
    ):
        self.id = id
        self.type = type
        self.options = options
        self.image = image
        self.template_name = template_name
        self.template_dir = template_dir
        self.template_env = template_env
        self.errors: list[tuple[str, tuple]] = []

    def error(self, message: str, *path) -> None:
        """Record a problem with the option at ``path`` (keys/indices under ``with:``)."""
        self.errors.append((message, tuple(path)))

    @property
    def env_id(self) -> str:
        """The block id as used in env var names (``my-lab`` -> ``MY_LAB``)."""
        return env_id(self.id)

    def context_path(self, *parts: str) -> str:
        """A path in the build context reserved for this block."""
        return "/".join(("blocks", self.id) + parts)


def env_id(block_id: str) -> str:
    return block_id.upper().replace("-", "_")


class BlockType(Value):
    """A block type: a name, the JSON Schema of its options and what it contributes.

    ``after`` names block types that, when present, must be placed before this one within a
    phase (a cycle is an error). ``contribute`` is called once per block of this type.
    ``provides`` and ``requires`` name capabilities (``python``, ``r``, ``node``...): a
    template with a block that requires one needs a block (or a base image,
    ``spec.image.provides``) that provides it, and the providing blocks are placed first
    within each phase. A block type whose blocks provide a capability only with some options
    lists it here and narrows it in ``Contributions.provides``.
    """

    name: str
    schema: Mapping[str, Any]
    contribute: Callable[[BlockContext], Contributions]
    description: str = ""
    after: Sequence[str] = ()
    provides: Sequence[str] = ()
    requires: Sequence[str] = ()

    def __post_init__(self):
        if not DNS_LABEL.fullmatch(self.name):
            raise InvalidValue(f"block type name must be a DNS-1123 label: {self.name!r}")
        if not callable(self.contribute):
            raise InvalidValue(f"block type {self.name!r}: contribute must be callable")
        if not isinstance(self.schema, Mapping) or self.schema.get("type", "object") != "object":
            raise InvalidValue(f"block type {self.name!r}: schema must be a JSON Schema object")
        if isinstance(self.after, str):
            raise InvalidValue(f"block type {self.name!r}: after is a tuple of block type names")
        self._set("after", tuple(self.after))
        self._set("provides", _capabilities(self.provides, f"block type {self.name!r}: provides"))
        self._set("requires", _capabilities(self.requires, f"block type {self.name!r}: requires"))


def _capabilities(names: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(names, str):
        raise InvalidValue(f"{what} is a tuple of capability names, not a string")
    for name in names:
        if not isinstance(name, str) or not DNS_LABEL.fullmatch(name):
            raise InvalidValue(f"{what}: {name!r} is not a capability name (a DNS-1123 label)")
    return tuple(dict.fromkeys(names))


def _check_relative(path: str, what: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidValue(f"{what} must be a plain relative path: {path!r}")


def _check_user(user: str) -> None:
    if user not in ("root", "studio"):
        raise InvalidValue(f"user must be 'root' or 'studio': {user!r}")
