"""Helpers for testing block plugins (and blockc itself) without installing anything.

A typical plugin test::

    from blockc import testing
    from my_plugin import MY_BLOCK

    def test_my_block(tmp_path):
        reg = testing.register_block_type(MY_BLOCK)          # core blocks + MY_BLOCK
        result = testing.compile_template(
            testing.template({"type": "my-block", "with": {"greeting": "hi"}}),
            tmp_path, registry=reg)
        assert result.ok, result.messages
        assert "hi" in result.text("Containerfile")

Every registry built here is fresh (a new plugin manager, no entry-point scan), so tests never
see whatever else is installed and never leak into each other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from . import __version__, blocks, hookimpl
from .compiler import try_compile
from .compiler.model import Artifact
from .compiler.validate import check_manifests
from .errors import BlockcError, Diagnostic
from .plugins import CORE, PluginInfo, Registry, broken_diagnostics, clash_message, discover, load
from .types import BlockType
from .value import Value

DEFAULT_BASE = "docker.io/library/python:3.12-slim-bookworm"

__all__ = [
    "fake_distribution",
    "block_type_plugin",
    "make_registry",
    "register_block_type",
    "template",
    "write_template",
    "compile_template",
    "block_template",
    "compile_block",
    "Result",
    "Studio",
    "run_studio",
    "start_block",
    "DEFAULT_BASE",
]


def fake_distribution(
    name: str = "test-plugin",
    *,
    dist: str | None = None,
    version: str = "0.0.0",
    value: str | None = None,
) -> PluginInfo:
    """A :class:`PluginInfo` as if the plugin came from an installed distribution."""
    return PluginInfo(
        name=name, value=value or f"{name}:plugin", dist=dist or f"blockc-{name}", version=version
    )


class _BlockTypes:
    """A plugin object whose ``blockc_block_types`` returns fixed block types."""

    def __init__(self, block_types):
        self._types = list(block_types)

    @hookimpl
    def blockc_block_types(self):
        return list(self._types)


def block_type_plugin(*block_types: BlockType) -> object:
    """A plugin object providing ``block_types`` (for :func:`make_registry`)."""
    return _BlockTypes(block_types)


def make_registry(*plugins: Any, core: bool = True, strict: bool = True) -> Registry:
    """A fresh registry with only the given plugins (and the core block types if ``core``).

    Each plugin is a plugin object or module (named after its class/module, with a fake
    distribution) or a ``(plugin, PluginInfo)`` pair. With ``strict`` (the default) a plugin
    that fails to load raises :class:`BlockcError` naming it; otherwise it is left in
    ``registry.broken``.
    """
    extra: list[tuple[object, PluginInfo]] = []
    if core:
        extra.append((blocks, PluginInfo(CORE, "blockc.blocks", "blockc", __version__)))
    for n, plugin in enumerate(plugins):
        if isinstance(plugin, tuple):
            extra.append(plugin)
            continue
        extra.append((plugin, _info(plugin, n)))
    reg = load(extra=extra, entry_points=False)
    if strict and (reg.broken or reg.clashes):
        clashes = []
        for name, infos in reg.clashes.items():
            message, hint = clash_message(name, infos)
            clashes.append(Diagnostic(message, hint=hint))
        raise BlockcError(broken_diagnostics(reg) + clashes)
    return reg


def _info(plugin: Any, n: int) -> PluginInfo:
    """A plugin module as the distribution that installs it names it (its entry point, its
    distribution and version); anything else as a fake distribution."""
    module = getattr(plugin, "__name__", None)
    if module is None:
        return fake_distribution(f"test-plugin-{n}")
    for info in discover():  # (what blockc finds installed: the same entry points)
        if info.value.partition(":")[0] == module:
            return info
    return fake_distribution(module.rsplit(".", 1)[-1])


def register_block_type(
    *block_types: BlockType, core: bool = True, info: PluginInfo | None = None
) -> Registry:
    """A fresh registry with the core block types and ``block_types``, in one call."""
    plugin = block_type_plugin(*block_types)
    return make_registry((plugin, info or fake_distribution()), core=core)


def template(
    *blocks: Mapping[str, Any],
    name: str = "test",
    base: str = DEFAULT_BASE,
    image: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict:
    """A template as data: ``template({"type": "app", "with": {...}}, env={"A": "1"})``;
    ``image`` adds to ``spec.image`` (``{"provides": ["r"]}``)."""
    return {
        "apiVersion": "blockc/v1",
        "kind": "StudioTemplate",
        "metadata": {"name": name},
        "spec": {
            "image": {"base": base, **(image or {})},
            **spec,
            "blocks": [dict(b) for b in blocks],
        },
    }


def write_template(
    directory: str | Path,
    content: str | bytes | Mapping[str, Any],
    *,
    files: Mapping[str, str | bytes] | None = None,
    filename: str = "template.yaml",
) -> Path:
    """Write a template (YAML text, raw bytes, or data) and any side files into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for rel, data in (files or {}).items():
        p = directory / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    path = directory / filename
    if isinstance(content, Mapping):
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        path.write_text(
            yaml.dump(dict(content), Dumper=dumper, sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
    else:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


class Result(Value):
    """What compiling a template gave: the artifact, or the diagnostics (never both)."""

    path: Path
    artifact: Artifact | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    source: str = ""  # the template's text as compiled

    @property
    def ok(self) -> bool:
        return self.artifact is not None

    @property
    def messages(self) -> list[str]:
        """Each diagnostic as the CLI prints it (``file:line:col: error: ...``)."""
        return [d.format() for d in self.diagnostics]

    def text(self, name: str) -> str:
        """A file of the artifact (``Containerfile``, ``context/...``) as text."""
        if self.artifact is None:
            raise AssertionError("compile failed:\n" + "\n".join(self.messages))
        return self.artifact.files[name][0].decode()

    def where(self, needle: str) -> tuple[int, int]:
        """(line, col), 1-based, of the first ``needle`` in the template's text (in its
        blocks if it is there, else anywhere): where a diagnostic about it should point
        (``assert (d.line, d.col) == r.where("4.x")``)."""
        text = self.source
        if needle not in text:
            raise AssertionError(f"{needle!r} is not in the template:\n{text}")
        blocks = text.find("\n  blocks:\n")  # the blocks first: the head names an image too
        at = text.find(needle, blocks) if blocks >= 0 else -1
        before = text[: at if at >= 0 else text.index(needle)]
        return before.count("\n") + 1, len(before) - before.rfind("\n")

    def app(self, app_id: str | None = None) -> dict[str, Any]:
        """An app as the launcher gets it (``apps.json``): ``app_id``'s, or the only one."""
        apps = json.loads(self.text("context/blockc/apps.json"))["apps"]
        if app_id is None:
            if len(apps) != 1:
                raise AssertionError(f"{len(apps)} apps, not one: {[a['id'] for a in apps]}")
            return apps[0]
        found = [a for a in apps if a["id"] == app_id]
        if not found:
            raise AssertionError(f"no app {app_id!r}: {[a['id'] for a in apps]}")
        return found[0]


def compile_template(
    content: str | bytes | Mapping[str, Any],
    directory: str | Path,
    *,
    registry: Registry | None = None,
    files: Mapping[str, str | bytes] | None = None,
    filename: str = "template.yaml",
    base_image: str | None = None,
    strict: bool = False,
) -> Result:
    """Write ``content`` into ``directory`` and compile it; diagnostics instead of raising.

    ``registry`` defaults to a fresh core-only one. ``strict`` also checks the manifests
    against the Kubernetes OpenAPI schemas, as ``blockc validate --strict`` does.
    """
    path = write_template(directory, content, files=files, filename=filename)
    source = path.read_bytes().decode("utf-8", "replace")
    artifact, diags = try_compile(path, registry=registry or make_registry(), base_image=base_image)
    if artifact is not None and strict:
        diags = check_manifests(list(artifact.manifests))
    if diags:
        return Result(path, None, tuple(diags), source)
    return Result(path, artifact, (), source)


def block_template(
    block_type: str,
    options: Mapping[str, Any] | str | None = None,
    *,
    id: str | None = None,
    before: str = "",
    after: str = "",
    image: Mapping[str, Any] | None = None,
    base: str = DEFAULT_BASE,
    name: str = "test",
) -> str:
    """The YAML text of a template with one block of ``block_type``. ``options`` is its
    ``with:`` as a mapping or as YAML lines (kept as written, for positions and YAML's own
    typing); ``before``/``after`` are more blocks as YAML list items (``"- type: files ..."``,
    indented as you like); ``image`` adds to ``spec.image`` (``{"provides": ["r"]}``)."""
    lines = [
        "apiVersion: blockc/v1",
        "kind: StudioTemplate",
        f"metadata: {{name: {json.dumps(name)}}}",
        "spec:",
        f"  image: {json.dumps({'base': base, **(image or {})})}",
        "  blocks:",
        *_items(before),
        f"    - type: {_scalar(block_type)}",
    ]
    if id is not None:
        lines.append(f"      id: {_scalar(id)}")
    if isinstance(options, Mapping):
        options = json.dumps(dict(options)) if options else ""
        lines += [f"      with: {options}"] if options else []
    elif options:
        lines.append("      with:")
        lines += [f"        {line}" for line in options.splitlines()]
    lines += _items(after)
    return "\n".join(lines) + "\n"


def _scalar(value: str) -> str:
    """A plain YAML scalar where a name is one (so positions point at the name), else JSON."""
    plain = re.fullmatch(r"[a-z][a-z0-9-]*", value) and value not in _YAML_WORDS
    return value if plain else json.dumps(value)


_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _items(blocks: str) -> list[str]:
    import textwrap

    text = textwrap.dedent(blocks).strip("\n")
    return [f"    {line}" for line in text.splitlines()] if text else []


_registries: dict[int, tuple[BlockType, Registry]] = {}


def _registry_of(block_type: BlockType) -> Registry:
    """The core block types and ``block_type``, made once per block type (a registry is never
    changed after it is made)."""
    hit = _registries.get(id(block_type))
    if hit is None or hit[0] is not block_type:
        hit = _registries[id(block_type)] = (block_type, register_block_type(block_type))
    return hit[1]


def compile_block(
    block_type: BlockType | str,
    options: Mapping[str, Any] | str | None,
    directory: str | Path,
    *,
    registry: Registry | None = None,
    files: Mapping[str, str | bytes] | None = None,
    **template: Any,
) -> Result:
    """Compile a template with one block: ``compile_block(MY_BLOCK, "version: 4.x",
    tmp_path)``. ``block_type`` is a :class:`BlockType` (with the core block types beside
    it) or a block type's name (then ``registry`` defaults to every installed plugin, as the
    command line has them). ``template`` takes :func:`block_template`'s keywords (``id``,
    ``before``, ``after``, ``image``...); ``files`` are written next to the template."""
    if isinstance(block_type, BlockType):
        registry = registry or _registry_of(block_type)
        name = block_type.name
    else:
        registry = registry or load()
        name = block_type
    text = block_template(name, options, **template)
    return compile_template(text, directory, registry=registry, files=files)


# --- studios: a block built and started for real (buildah and podman) -----------------------

LOCAL_BASE = "localhost/blockc-base/debian-python:bookworm"  # `make base-image` builds it


class Studio(Value, frozen=False):
    """A started studio (:func:`run_studio`): its ``blockc status`` record, each app's URL
    (``urls[app_id]``) and the commands to look inside it."""

    name: str
    home: Path
    status: dict[str, Any]
    env: dict[str, str]

    @property
    def apps(self) -> dict[str, dict[str, Any]]:
        return {a["id"]: a for a in self.status["apps"]}

    @property
    def urls(self) -> dict[str, str]:
        return {a["id"]: a["url"] for a in self.status["apps"]}

    def blockc(self, *args: Any, timeout: float = 300, check: bool = True):
        """``blockc ARGS`` against this studio's ``BLOCKC_HOME`` (a CompletedProcess)."""
        return _blockc(*args, env=self.env, timeout=timeout, check=check)

    def exec(self, *argv: str, timeout: float = 120):
        """``blockc exec NAME -- ARGV`` (a CompletedProcess; not checked)."""
        return self.blockc("exec", self.name, "--", *argv, timeout=timeout, check=False)

    def logs(self) -> str:
        proc = self.blockc("logs", self.name, check=False)
        return proc.stdout + proc.stderr


def _blockc(*args: Any, env: Mapping[str, str], timeout: float, check: bool = True):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "blockc", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        command = " ".join(map(str, args))
        raise AssertionError(
            f"blockc {command} exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )
    return proc


def _needs_containers(base: str, env: Mapping[str, str]) -> None:
    """Skip the test (fail it under CI) when buildah, podman or the base image is missing."""
    import os
    import shutil
    import subprocess

    import pytest

    missing = [t for t in ("buildah", "podman") if not shutil.which(t)]
    if (
        not missing
        and subprocess.run(
            ["podman", "image", "exists", base], env=dict(env), capture_output=True
        ).returncode
    ):
        missing.append(f"the base image {base}")
    if missing:
        why = f"{' and '.join(missing)} missing (see blockc's README: make base-image)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def run_studio(
    template: str | Path,
    *,
    home: str | Path,
    name: str | None = None,
    workspace: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
    base: str = LOCAL_BASE,
):
    """A context manager: ``blockc start`` of ``template`` (built first if needed, its files
    synced in, every app healthy) in ``home`` (a ``BLOCKC_HOME``), yielding a :class:`Studio`;
    removed on exit (``blockc rm --force``). Skips the test when buildah, podman or the base
    image is missing (fails it when ``CI`` is set)."""
    import contextlib
    import os
    import uuid

    @contextlib.contextmanager
    def run():
        full_env = {**os.environ, "BLOCKC_HOME": str(home), **(env or {})}
        _needs_containers(base, full_env)
        studio = name or f"t-{uuid.uuid4().hex[:8]}"
        ws = Path(workspace) if workspace else Path(home) / "workspaces" / studio
        ws.mkdir(parents=True, exist_ok=True)
        started = Studio(studio, Path(home), {}, full_env)
        try:
            proc = _blockc(
                "start", template, "--studio", studio, "--workspace", ws,
                "--timeout", int(timeout), env=full_env, timeout=timeout + 120, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise AssertionError(
                    f"blockc start exited {proc.returncode}:\n{proc.stdout}{proc.stderr}\n"
                    f"--- logs ---\n{started.logs()}"
                )
            out = started.blockc("status", studio, "--format", "json").stdout
            data = json.loads(out)
            started.status = data[0] if isinstance(data, list) else data
            yield started
        finally:
            _blockc("rm", "--force", studio, env=full_env, timeout=180, check=False)

    return run()


def start_block(
    block_type: str,
    options: Mapping[str, Any] | str | None,
    directory: str | Path,
    *,
    files: Mapping[str, str | bytes] | None = None,
    base: str = LOCAL_BASE,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
    **template: Any,
):
    """A context manager: a studio with one block of the installed block type
    ``block_type``, built and started for real, yielding a :class:`Studio` whose ``urls``
    answer (what ``devcontainer features test`` gives a feature's author)::

        def test_gradio_answers(tmp_path):
            with testing.start_block("gradio", {"app": "app.py"}, tmp_path,
                                     files={"app.py": APP}) as studio:
                assert urlopen(studio.urls["gradio"]).status == 200

    ``template`` takes :func:`block_template`'s keywords (``after=`` for more blocks)."""
    directory = Path(directory)
    text = block_template(block_type, options, base=base, **template)
    path = write_template(directory / "template", text, files=files)
    return run_studio(path, home=directory / "blockc-home", env=env, timeout=timeout, base=base)
