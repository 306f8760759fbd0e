"""The ``blockc`` command line (SPEC §5). Exit codes: 0 ok, 1 user-facing failure, 2 usage.

A command is a function registered with :func:`command`: its docstring is its help, the
``arg(...)`` items are its parser's arguments, and it is called with the parsed values as
keyword arguments (after ``obj``, the :class:`Ctx` of the global options).

Each command imports the part of blockc it drives when it runs (the compiler, the runner, the
sync), so that ``blockc --help`` loads no plugin and ``blockc sync`` no compiler
(tests/test_imports.py holds every command to its budget).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import sys

from . import __version__
from .errors import BlockcError, Diagnostic
from .terminal import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .plugins import Registry


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # closed (`blockc status >&-`): nowhere to write, not an error
        return
    stream.write(f"{text}\n" if nl else text)
    stream.flush()


def _fail(diagnostics: list[Diagnostic], fmt: str = "text") -> None:
    if fmt == "json":
        echo(json.dumps({"ok": False, "errors": [d.to_json() for d in diagnostics]}, indent=2))
    else:
        for d in diagnostics:
            echo(d.format(), err=True)
    sys.exit(1)


def arg(*names, **kwargs):
    """One argument of a command, as for ``ArgumentParser.add_argument``. A command's
    arguments may also be functions of its parser (for groups of arguments)."""
    return names, kwargs


_COMMANDS: list = []


def command(*arguments, name: str | None = None):
    def register(fn):
        _COMMANDS.append((name or fn.__name__.rstrip("_"), fn, arguments))
        return fn

    return register


FORMAT = arg(
    "--format",
    dest="fmt",
    choices=["text", "json"],
    default="text",
    help="Output format (json for CI; default: text).",
)
BASE_IMAGE = arg(
    "--base-image",
    metavar="REF",
    help="Replace spec.image.base (e.g. a site mirror of the base image).",
)
TEMPLATE = arg("template", metavar="TEMPLATE", help="The template file (YAML).")
SERVER = arg(
    "--server",
    metavar="URL",
    help="Act through this front door (default: $BLOCKC_SERVER), with the API token in "
    "$BLOCKC_TOKEN.",
)
NAME = arg("name", metavar="NAME", help="The studio.")


class Ctx:
    """The global options, and what commands build from them."""

    def __init__(self, plugins: str | None, config: str | None):
        self.plugins = plugins
        self.config = config
        self._registry: Registry | None = None

    @property
    def registry(self):
        if self._registry is None:
            from .plugins import load

            spec = self.plugins
            if spec is None and not os.environ.get("BLOCKC_PLUGINS"):
                spec = self.settings().plugins  # the site's choice (config.toml)
            self._registry = load(spec=spec)
        return self._registry

    def settings(self):
        from .run.settings import load_settings

        return load_settings(self.config)


@functools.cache  # (one per process; the resident blockc builds it before it forks)
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="blockc",
        allow_abbrev=False,
        description="Compile studio templates into images and run them as per-user studios.",
    )
    p.add_argument("--version", action="version", version=f"blockc {__version__}")
    p.add_argument(
        "--config", metavar="FILE", help="Site settings (default $BLOCKC_HOME/config.toml)."
    )
    p.add_argument(
        "--plugins",
        metavar="SPEC",
        help="Allow/deny plugins: 'a,b' only those, '-a' all but a, 'none' core "
        "only (default: $BLOCKC_PLUGINS).",
    )
    p.add_argument("--no-plugins", action="store_true", help="Load only the core block types.")
    sub = p.add_subparsers(dest="_command", metavar="COMMAND", title="commands", required=True)
    for name, fn, arguments in _COMMANDS:
        doc = (fn.__doc__ or "").strip()
        cp = sub.add_parser(
            name, help=doc.splitlines()[0] if doc else None, description=doc, allow_abbrev=False
        )
        cp.set_defaults(_fn=fn)
        for item in arguments:
            if callable(item):  # arguments that need more than add_argument
                item(cp)
            else:
                names, kwargs = item
                cp.add_argument(*names, **kwargs)
    return p


def main(argv: list[str] | None = None) -> None:
    """Run one command; exits with its exit code (SystemExit), never with a traceback but for
    a bug of ours under BLOCKC_DEBUG=1."""
    try:
        args = vars(parser().parse_args(_joined(sys.argv[1:] if argv is None else argv)))
        fn = args.pop("_fn")
        del args["_command"]
        plugins, config, no_plugins = (args.pop(k) for k in ("plugins", "config", "no_plugins"))
        obj = Ctx("none" if no_plugins else plugins, config)
        fmt = args.get("fmt", "text")
        try:
            fn(obj, **args)
        except BlockcError as exc:
            _fail(exc.diagnostics, fmt)
        except (KeyboardInterrupt, BrokenPipeError):
            raise
        except Exception as exc:  # a bug of ours: say so, briefly; BLOCKC_DEBUG=1 shows it
            if os.environ.get("BLOCKC_DEBUG"):
                raise
            _fail(
                [
                    Diagnostic(
                        f"internal error: {type(exc).__name__}: {exc} "
                        f"(set BLOCKC_DEBUG=1 for a traceback)"
                    )
                ],
                fmt,
            )
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:  # the reader left (`blockc plugins | head -1`): stop quietly
        # the interpreter flushes stdout once more on exit: let that go nowhere (the recipe of
        # the signal module's docs)
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):  # no stdout left at all
            pass
        sys.exit(1)


def _joined(argv: list[str]) -> list[str]:
    """``--plugins -x`` as ``--plugins=-x``: argparse takes a value starting with '-' for an
    option, and '-x' (leave plugin x out) is the switch's most common value."""
    out = list(argv)
    for i, word in enumerate(out[:-1]):
        if word == "--":
            break
        if word == "--plugins" and out[i + 1].startswith("-") and not out[i + 1].startswith("--"):
            out[i : i + 2] = [f"--plugins={out[i + 1]}"]
            break
    return out


# --- compiler commands ---------------------------------------------------------------------


@command(
    arg(
        "paths",
        metavar="PATH",
        nargs="+",
        help="Template files, or directories: every *.yaml/*.yml template under them.",
    ),
    arg(
        "--strict",
        action="store_true",
        help="Also check the manifests against the Kubernetes OpenAPI schemas.",
    ),
    FORMAT,
)
def validate(obj, paths, strict, fmt):
    """Check templates: every error, each at file:line:col."""
    from .compiler import check, find_templates

    templates, skipped, unreadable = find_templates(paths)
    results = [{"file": d.file, "valid": False, "errors": [d.to_json()]} for d in unreadable]
    if fmt == "text":
        for d in unreadable:
            echo(d.format(), err=True)
    for path in templates:
        try:
            artifact = check(path, registry=obj.registry, strict=strict)
            results.append({"file": path, "valid": True, "hash": artifact.hash, "errors": []})
        except BlockcError as exc:
            results.append(
                {"file": path, "valid": False, "errors": [d.to_json() for d in exc.diagnostics]}
            )
            if fmt == "text":
                for d in exc.diagnostics:
                    echo(d.format(), err=True)
    ok = bool(results) and all(r["valid"] for r in results)
    if fmt == "json":
        echo(json.dumps({"ok": ok, "results": results, "skipped": skipped}, indent=2))
    else:
        if skipped:
            echo(
                f"skipped {len(skipped)} YAML file(s) that are not templates (neither apiVersion "
                f"blockc/... nor kind StudioTemplate): {printable(', '.join(skipped))}",
                err=True,
            )
        valid = sum(1 for r in results if r["valid"])
        echo(f"{valid} of {len(results)} template(s) valid", err=not ok)
    sys.exit(0 if ok else 1)


@command(
    TEMPLATE,
    arg("-o", "--output", dest="outdir", metavar="DIR", required=True, help="Artifact directory."),
    arg("--check", action="store_true", help="Write nothing; exit 1 if DIR differs."),
    BASE_IMAGE,
    name="compile",
)
def compile_(obj, template, outdir, check, base_image):
    """Write the artifact of TEMPLATE to DIR and print its hash."""
    from .compiler import compile
    from .compiler.emit import diff, differences, emit

    artifact = compile(template, registry=obj.registry, base_image=base_image)
    if check:
        diffs = differences(artifact, outdir)
        if diffs:
            echo(f"{outdir} is not up to date with {template}:", err=True)
            for d in diffs:
                echo(f"  {d}", err=True)
            echo(f"(the diff from {outdir} to a new compile follows; refresh it with "
                 f"`blockc compile {template} -o {outdir}`)", err=True)  # fmt: skip
            echo(diff(artifact, outdir), nl=False)
            sys.exit(1)
    else:
        written, diags = emit(artifact, outdir)
        if written is None:
            raise BlockcError(diags)
    echo(artifact.hash)


@command(TEMPLATE, BASE_IMAGE, FORMAT)
def explain(obj, template, base_image, fmt):
    """Show the artifact with each line and field attributed to its block."""
    from .compiler import compile
    from .compiler.explain import explain as explain_artifact

    artifact = compile(template, registry=obj.registry, base_image=base_image)
    echo(explain_artifact(artifact, fmt))


@command(
    arg("--block", dest="block_type", metavar="TYPE", help="Only this block type's options."),
    arg(
        "--draft",
        choices=["07", "2020-12"],
        default="07",
        help="JSON Schema draft (default: 07, which editors understand best; 2020-12 is the "
        "draft blockc validates with).",
    ),
    arg(
        "--check",
        metavar="FILE",
        help="Write nothing; exit 1 with a diff if FILE is not what this command prints "
        "(for CI: a committed schema that is out of date).",
    ),
)
def schema(obj, block_type, draft, check):
    """JSON Schema of the template with every installed block type's options.

    Save it (`blockc schema > blockc.schema.json`) and point the YAML language server at it
    (`# yaml-language-server: $schema=blockc.schema.json`) for completion and checks of
    `with:` per `type:` in an editor. The default draft is 07, which editors understand best
    (the YAML language server of VS Code's YAML extension, Neovim, Helix... knew no later draft
    before its 1.20); blockc's own schemas are 2020-12, translated (--draft 2020-12 keeps
    them)."""
    import difflib

    from .compiler.schema import (
        DEFAULT_DRAFT,
        DRAFTS,
        block_schema,
        combined_schema,
        schema_text,
    )
    from .errors import did_you_mean

    registry = obj.registry
    warnings: list[str] = []
    if block_type:
        entry = registry.get(block_type)
        if entry is None and block_type in registry.clashes:
            from .plugins import clash_message

            message, hint = clash_message(block_type, registry.clashes[block_type])
            raise BlockcError(message, hint=hint)
        if entry is None:
            raise BlockcError(
                f"unknown block type '{block_type}'", hint=did_you_mean(block_type, registry.types)
            )
        text = schema_text(block_schema(entry.type.schema, draft, warnings))
    else:
        text = schema_text(combined_schema(registry, draft, warnings))
    command_line = " ".join(
        ["blockc schema"]
        + ([f"--block {block_type}"] if block_type else [])
        + ([f"--draft {draft}"] if draft != DEFAULT_DRAFT else [])
    )
    for warning in warnings:
        echo(f"warning: {warning}", err=True)
    if check is None:
        echo(text, nl=False)
        return
    if os.path.islink(check):  # a link to a secret would be shown in the diff
        raise BlockcError(f"{check}: is a symbolic link; --check compares a regular file")
    from .readfile import NotRegular, read_regular

    try:
        raw = read_regular(check, 64 * 1024 * 1024)
        # universal newlines: a CRLF checkout is equal
        old = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except NotRegular as exc:
        raise BlockcError(f"{check}: is {exc.strerror}, not a schema file") from None
    except FileNotFoundError:
        raise BlockcError(
            f"{check}: no such file", hint=f"write it with `{command_line} > {check}`"
        ) from None
    except IsADirectoryError:
        raise BlockcError(f"{check}: is a directory, not a schema file") from None
    except OSError as exc:
        raise BlockcError(f"{check}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BlockcError(f"{check}: not UTF-8 text, not a schema file") from None
    if old == text:
        echo(f"{check} is up to date", err=True)
        return
    try:
        written = json.loads(old).get("$schema")
    except (ValueError, AttributeError):
        written = None
    other = next((d for d, uri in DRAFTS.items() if uri == written and d != draft), None)
    echo(
        f"{check} is out of date: it differs from what `{command_line}` prints (below, as a "
        f"diff); regenerate it with `{command_line} > {check}`",
        err=True,
    )
    if other:
        echo(f"({check} is a draft {other} schema: check it with --draft {other})", err=True)
    diff = difflib.unified_diff(
        old.splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile=check,
        tofile=command_line,
    )
    for line in diff:
        echo(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n", nl=False)
    sys.exit(1)


@command(
    arg("name", metavar="NAME", help="The block type (and the plugin's name), like 'gradio'."),
    arg("directory", metavar="DIR", nargs="?", help="Where to write it (default: ./blockc-NAME)."),
    name="new-plugin",
)
def new_plugin(obj, name, directory):
    """Start a plugin distribution: pyproject, entry point, one block type and its tests,
    passing pytest as made (docs/plugins.md)."""
    from .kit.new_plugin import create
    from .plugins import CORE

    taken = obj.registry.get(name) or name in obj.registry.clashes
    if name == CORE or taken:
        who = "blockc's own" if name == CORE else "a block type already installed"
        raise BlockcError(f"'{name}' is {who}; a new plugin needs a name of its own")
    target = create(name, directory)
    echo(f"made {target}/ (block type '{name}'); next:")
    echo(f"  cd {target} && pip install --config-settings editable_mode=compat -e '.[test]'")
    echo("  pytest -m 'not containers'   # then: blockc plugins")


@command(FORMAT)
def plugins(obj, fmt):
    """Block types, their plugin, distribution, version and description; block types that
    several plugins provide; plugins that failed to load."""
    from .errors import debug
    from .plugins import clash_message

    registry = obj.registry
    rows = [
        {
            "type": name,
            "plugin": e.plugin.name,
            "distribution": e.plugin.dist,
            "version": e.plugin.version,
            "description": e.type.description,
        }
        for name, e in registry.types.items()
    ]
    clashes = [
        {
            "type": name,
            "plugins": [
                {"plugin": i.name, "distribution": i.dist, "version": i.version} for i in infos
            ],
            "error": " ".join(clash_message(name, infos)),
        }
        for name, infos in registry.clashes.items()
    ]
    broken = [
        {"plugin": i.name, "distribution": i.dist, "version": i.version, "error": why}
        for i, why in registry.broken
    ]
    if fmt == "json":
        echo(json.dumps({"block_types": rows, "clashes": clashes, "broken": broken}, indent=2))
    else:
        width = max([len(r["type"]) for r in rows] + [4])
        for r in rows:
            echo(
                f"{r['type']:<{width}}  {r['distribution']} {r['version']}  (plugin {r['plugin']})"
            )
            if r["description"]:
                echo(f"{'':<{width}}  {r['description']}")
        for name, infos in registry.clashes.items():
            message, hint = clash_message(name, infos)
            echo(f"error: {message} ({hint})", err=True)
        for info, why in registry.broken:
            echo(
                f"error: plugin {info.name} ({info.dist} {info.version}) failed to load: {why}",
                err=True,
            )
            if debug() and info.name in registry.tracebacks:
                echo(registry.tracebacks[info.name].rstrip(), err=True)
    sys.exit(1 if broken or clashes else 0)


@command(
    arg("template", metavar="TEMPLATE", nargs="?", help="The template file (YAML)."),
    arg("--studio", help="Studio name (DNS-1123 label)."),
    arg("--owner", help="The studio's owner."),
    arg("--image", metavar="REF", help="Image (default: the artifact's content tag)."),
    arg("--namespace", metavar="NS", help="Namespace to set on every object."),
    arg(
        "--rbac",
        action="store_true",
        help="Instead: the ServiceAccount, Role and RoleBinding the kubernetes runtime needs "
        "in the namespace (--namespace, default: the site's).",
    ),
    BASE_IMAGE,
)
def manifests(obj, template, studio, owner, image, namespace, rbac, base_image):
    """Instance manifests of one studio, ready for kubectl apply (or, with --rbac, what
    blockc may do in its namespace)."""
    import yaml

    from .names import DNS_LABEL, check_owner, check_studio, image_reference_problem

    if namespace is not None and not DNS_LABEL.fullmatch(namespace):
        raise BlockcError(f"--namespace {namespace!r} is not a namespace name (a DNS-1123 label)")
    if rbac:
        if template or studio or owner or image:
            _usage("manifests", "--rbac takes no template, --studio, --owner or --image")
        from .run.runtimes.kubernetes.rbac import rbac_manifests

        objs = rbac_manifests(namespace or obj.settings().namespace)
        echo(yaml.safe_dump_all(objs, sort_keys=False), nl=False)
        return
    if not template or not studio or not owner:
        _usage("manifests", "TEMPLATE, --studio and --owner are required (or --rbac)")
    from .compiler import compile
    from .run.instance import instance_manifests

    check_studio(studio)
    check_owner(owner)
    if image is not None and image_reference_problem(image):
        why = image_reference_problem(image)
        raise BlockcError(f"--image {printable(repr(image))} is not an image reference: {why}")
    artifact = compile(template, registry=obj.registry, base_image=base_image)
    out = instance_manifests(
        list(artifact.manifests),
        artifact.studio,
        studio=studio,
        owner=owner,
        image=image or artifact.image_ref,
        namespace=namespace,
    )
    echo(yaml.safe_dump_all(out, sort_keys=True), nl=False)


def _usage(cmd: str, message: str) -> None:
    echo(f"usage: blockc {cmd} ...\nblockc {cmd}: error: {message}", err=True)
    sys.exit(2)


# --- build and run -------------------------------------------------------------------------


@command(
    TEMPLATE,
    BASE_IMAGE,
    arg("--no-cache", action="store_true", help="Rebuild every step, even if the image exists."),
    arg("--push", action="store_true", help="Push the image to the site's registry."),
    arg(
        "--pull",
        choices=["always", "missing", "never", "newer"],
        help="Base image pull policy (default: the site's, else missing).",
    ),
)
def build(obj, template, base_image, no_cache, push, pull):
    """Build the image of TEMPLATE (skipped when its hash is built); print the image ref."""
    from .compiler import compile
    from .run.build import build as build_image
    from .run.build import ensure_artifact
    from .run.build import push as push_image
    from .run.progress import Progress

    settings = obj.settings()
    if pull:
        settings = settings.replace(pull=pull)
    artifact = compile(template, registry=obj.registry, base_image=base_image)
    with Progress() as progress:
        ref, built = build_image(
            artifact, ensure_artifact(artifact), settings, no_cache=no_cache, progress=progress
        )
        progress.line(f"{'built' if built else 'up to date'}: {ref} ({progress.elapsed():.1f} s)")
        if push:
            progress.line(f"pushed: {push_image(ref, settings)}")
    echo(ref)


def _remote(server):
    """The front door to act through (--server or $BLOCKC_SERVER), if any (SPEC §5)."""
    server = server or os.environ.get("BLOCKC_SERVER")
    if not server:
        return None
    from .serve import remote  # (only then: urllib's imports cost every local command)

    return remote.Remote(server, os.environ.get("BLOCKC_TOKEN"))


def _print_urls(apps, studio=None) -> None:
    for a in apps:
        health = {True: "healthy", False: "unhealthy", None: "-"}[a.healthy]
        echo(f"  {a.id:<12} {a.url or '-':<48} {health}  ({a.label})")
    if studio is not None and studio.runtime == "kubernetes" and apps:
        echo(f"  (reach the apps with `blockc forward {studio.name}`)")


@command(
    TEMPLATE,
    arg(
        "--studio", dest="name", metavar="NAME", required=True, help="Studio name (DNS-1123 label)."
    ),
    arg("--owner", help="The studio's owner (default: $USER)."),
    arg(
        "--workspace",
        metavar="DIR",
        help="Host directory that sync zones are relative to (default: current dir).",
    ),
    arg(
        "--runtime",
        choices=["podman", "kubernetes"],
        help="Where the studio runs (default: the site's runtime, podman).",
    ),
    arg(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="Seconds to wait for every app to be healthy (default: %(default)s).",
    ),
    BASE_IMAGE,
    SERVER,
)
def start(obj, template, name, owner, workspace, runtime, timeout, base_image, server):
    """Build if needed, deploy, sync in, wait until every app is healthy, print URLs. With
    --server, TEMPLATE is the name of one of the site's templates."""
    from .run import lifecycle
    from .run.progress import Progress

    r = _remote(server)
    if r is not None:
        given = [
            o
            for o, v in (
                ("--owner", owner),
                ("--workspace", workspace),
                ("--runtime", runtime),
                ("--base-image", base_image),
            )
            if v
        ]
        if given:
            _usage("start", f"{', '.join(given)}: not with --server (the front door decides)")
        from .serve import remote

        sys.exit(remote.start(r, template, name, echo))

    with Progress() as progress:
        studio = lifecycle.start(
            template,
            name,
            owner=owner,
            workspace=workspace,
            runtime=runtime,
            base_image=base_image,
            settings=obj.settings(),
            registry=obj.registry,
            timeout=timeout,
            progress=progress,
        )
        progress.line(f"studio {name} is running ({progress.elapsed():.1f} s)")
    # start has just seen every app with a health check answer: no second round of checks
    studio_json = studio.studio_json()
    checked = {a["id"] for a in studio_json["apps"] if a.get("health") is not None}
    apps = [
        a.replace(healthy=True) if a.id in checked else a
        for a in lifecycle.urls(studio, studio_json)
    ]
    echo(f"studio {studio.name} (owner {studio.owner}) is {studio.state}:")
    _print_urls(apps, studio)


@command(arg("name", metavar="NAME", nargs="?", help="One studio (default: all)."), FORMAT, SERVER)
def status(obj, name, fmt, server):
    """State of one studio (or all), with each app's URL and health."""
    r = _remote(server)
    if r is not None:
        from .serve import remote

        sys.exit(remote.status(r, name, fmt, echo))
    from .run import lifecycle, state
    from .run.runtimes import get_runtime

    settings = obj.settings()
    rows = [state.require(name)] if name else state.all_studios()
    runtimes = {r: get_runtime(r, settings) for r in {s.runtime for s in rows}}
    actual: dict[str, str] = {}
    down: dict[str, str] = {}  # runtime -> why it did not answer
    for r, rt in runtimes.items():  # one question per runtime, not one per studio
        mine = {s.name: s.owner for s in rows if s.runtime == r}
        if len(mine) > 1:
            try:
                actual.update(rt.states(mine))
            except BlockcError as exc:  # (not asked again per studio: it would not answer)
                down[r] = "; ".join(d.message for d in exc.diagnostics)
    out: list[tuple] = []
    unanswered = False
    for s in rows:
        if s.runtime in down:
            unanswered = True
            out.append((s.replace(message=f"its runtime did not answer: {down[s.runtime]}"), []))
            continue
        try:
            out.append(
                lifecycle.status(s, settings, rt=runtimes[s.runtime], actual=actual.get(s.name, ""))
            )
        except BlockcError as exc:
            if name:
                raise  # (the one studio asked about: its error is the answer)
            unanswered = True  # the others are still shown
            why = "; ".join(d.message for d in exc.diagnostics)
            out.append((s.replace(message=f"its runtime did not answer: {why}"), []))
    if fmt == "json":
        echo(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "state": s.state,
                        "owner": s.owner,
                        "template": s.template,
                        "image": s.image,
                        "runtime": s.runtime,
                        "message": s.message,
                        "workspace": s.workspace,
                        "apps": [a.to_json() for a in apps],
                    }
                    for s, apps in out
                ],
                indent=2,
            )
        )
        sys.exit(1 if unanswered else 0)
    if not out:
        echo("no studios")
    for s, apps in out:
        echo(f"{s.name}: {s.state}  owner {s.owner}  image {s.image}  runtime {s.runtime}")
        if s.message:
            echo(f"  ({s.message})")
        _print_urls(apps, s if s.state == "RUNNING" else None)
    if unanswered:
        sys.exit(1)


@command(
    NAME,
    arg("--app", metavar="ID", help="Only this app's log."),
    arg("-n", "--lines", type=int, default=100, help="Lines per log (default: %(default)s)."),
    arg(
        "--raw",
        action="store_true",
        help="As the apps wrote it, escape sequences included (default: shown escaped).",
    ),
    SERVER,
)
def logs(obj, name, app, lines, raw, server):
    """The studio's app logs (each app's own log from the supervisor). What a studio writes
    is shown with its control characters escaped (an app could otherwise retitle or clear
    your terminal); --raw passes it through, for a pager that knows colours."""
    r = _remote(server)
    if r is not None:
        from .serve import remote

        text = remote.logs(r, name, app, lines)
    else:
        from .run import lifecycle

        text = lifecycle.logs(name, obj.settings(), app, lines)
    echo(text if raw else printable(text, keep="\n\t"))


@command(
    NAME,
    arg(
        "argv",
        metavar="CMD",
        nargs=argparse.REMAINDER,
        help="The command and its arguments (after --).",
    ),
    name="exec",
)
def exec_(obj, name, argv):
    """Run a command in the studio's main container, as the studio user."""
    from .run import lifecycle

    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        echo("usage: blockc exec NAME -- CMD...\nblockc exec: error: no command given", err=True)
        sys.exit(2)
    sys.exit(lifecycle.exec_(name, argv, obj.settings()))


@command(
    NAME,
    arg(
        "--address",
        default="127.0.0.1",
        help="Where to listen (default: %(default)s; the apps have no auth of their own).",
    ),
)
def forward(obj, name, address):
    """(kubernetes) Forward every app of the studio to 127.0.0.1 through the API's
    port-forward, print the URLs, and keep forwarding until interrupted."""
    from .run import lifecycle

    lifecycle.forward(name, obj.settings(), address=address, echo=echo)


@command(
    NAME,
    arg(
        "--force",
        action="store_true",
        help="Stop even if some files cannot be pulled: name them, and keep the studio's "
        "files in an image to copy them out of.",
    ),
    SERVER,
)
def stop(obj, name, force, server):
    """Sync files back out, then stop the studio (its state is kept)."""
    from .run import lifecycle
    from .run.progress import Progress

    r = _remote(server)
    if r is not None:
        if force:
            _usage("stop", "--force: not with --server (an admin's decision, on the host)")
        from .serve import remote

        sys.exit(remote.act(r, name, "stop", echo))

    with Progress() as progress:
        result = lifecycle.stop(name, obj.settings(), force=force, progress=progress)
    echo(f"studio {name}: {result}")


@command(
    NAME, arg("--force", action="store_true", help="Remove even if unsynced changes would be lost.")
)
def rm(obj, name, force):
    """Remove the studio (refuses if unsynced changes would be lost, unless --force)."""
    from .run import lifecycle

    lifecycle.rm(name, obj.settings(), force=force)
    echo(f"studio {name}: removed")


def _one_direction(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--push", dest="direction", action="store_const", const="push", help="Only host -> studio."
    )
    group.add_argument(
        "--pull", dest="direction", action="store_const", const="pull", help="Only studio -> host."
    )


@command(
    NAME,
    _one_direction,
    arg(
        "--allow-mass-delete",
        action="store_true",
        help="Apply deletions even when they remove most of a zone.",
    ),
    SERVER,
)
def sync(obj, name, direction, allow_mass_delete, server):
    """Sync the studio's zones both ways (or one way)."""
    r = _remote(server)
    if r is not None:
        if allow_mass_delete:
            _usage("sync", "--allow-mass-delete: not with --server")
        from .serve import remote

        sys.exit(remote.act(r, name, "sync", echo, {"direction": direction or "both"}))
    from .run import state
    from .run.progress import Progress
    from .sync import studio as sync_studio

    settings = obj.settings()
    with Progress() as progress, state.lock(name):
        studio = state.require(name)
        code = sync_studio.sync_command(
            studio,
            settings,
            mode=direction or "both",
            progress=progress,
            allow_mass_delete=allow_mass_delete,
        )
    # The process ends now, every file and connection closed: the interpreter's last garbage
    # collection would walk every object for nothing. Frozen, they are left to the process's
    # end (~14 -> ~6 ms from here to the end of `blockc sync`, medians of 7; it races rsync).
    gc.freeze()
    sys.exit(code)


# --- the front door's users and tokens (SPEC §9) ------------------------------------------


def _actions(**actions):
    """Sub-commands (``blockc users add ...``): each ``name=(help, [arg(...)...])``."""

    def build(p: argparse.ArgumentParser) -> None:
        sub = p.add_subparsers(dest="action", metavar="ACTION", title="actions", required=True)
        for name, (text, arguments) in actions.items():
            ap = sub.add_parser(name, help=text, description=text, allow_abbrev=False)
            for names, kwargs in arguments:
                ap.add_argument(*names, **kwargs)

    return build


USER = arg("user", metavar="NAME", help="The user.")


def _read_password(confirm: bool) -> str:
    """A password from a prompt (a terminal: asked twice), else from stdin's one line."""
    import getpass

    from .serve.accounts import MAX_PASSWORD, check_new_password

    if sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        check_new_password(password)
        if confirm and getpass.getpass("Password (again): ") != password:
            raise BlockcError("the two passwords differ; nothing was changed")
        return password
    if sys.stderr is not None and sys.stderr.isatty():
        echo("(the password: one line from stdin)", err=True)
    # (a bounded read: one line of at most MAX_PASSWORD bytes is all there may be)
    text = sys.stdin.read(4 * MAX_PASSWORD + 8) if sys.stdin is not None else ""
    line, _, rest = text.partition("\n")
    if rest.strip("\r\n"):
        raise BlockcError("stdin holds more than one line: give the password alone on one line")
    return check_new_password(line.rstrip("\r"))


def _when(t: float | None, never: str = "never") -> str:
    import time

    return never if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


@command(
    _actions(
        add=(
            "Add a user; the password from a prompt or stdin's one line.",
            [
                USER,
                arg("--admin", action="store_true", help="Manages templates, sees all studios."),
                arg(
                    "--group",
                    dest="groups",
                    metavar="G",
                    action="append",
                    default=[],
                    help="A group of theirs (repeat for more).",
                ),
                arg(
                    "--no-password",
                    action="store_true",
                    help="No password: they sign in with a token or a trusted proxy's header.",
                ),
            ],
        ),
        list=("List the users.", [FORMAT]),
        rm=("Remove a user and their tokens (refused while they own studios).", [USER]),
        passwd=("Set a user's password (from a prompt or stdin's one line).", [USER]),
        set=(
            "Change whether a user is an admin, and their groups.",
            [
                USER,
                arg(
                    "--admin",
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help="Make them an admin (--no-admin: not one).",
                ),
                arg(
                    "--group",
                    dest="groups",
                    metavar="G",
                    action="append",
                    default=None,
                    help="Their groups from now on (repeat for more; replaces the old ones).",
                ),
                arg("--no-groups", action="store_true", help="Take every group away."),
            ],
        ),
    )
)
def users(
    obj, action, user=None, admin=False, groups=(), no_password=False, fmt="text", no_groups=False
):
    """The front door's users: add, list, rm, passwd, set."""
    from .serve import accounts

    if action == "set":
        if no_groups and groups:
            _usage("users set", "--group and --no-groups together")
        if admin is None and groups is None and not no_groups:
            _usage(
                "users set", "nothing to change: give --admin/--no-admin, --group or --no-groups"
            )
        made = accounts.update_user(
            user, admin=admin, groups=() if no_groups else None if groups is None else tuple(groups)
        )
        role = "admin" if made.admin else "not an admin"
        echo(f"user {made.name}: {role}, groups {', '.join(made.groups) or '(none)'}")
        return

    if action == "add":
        accounts.check_name("user", user)
        password = None if no_password else _read_password(confirm=True)
        made = accounts.add_user(user, password, admin=admin, groups=tuple(groups))
        extra = ", admin" if made.admin else ""
        extra += f", groups {', '.join(made.groups)}" if made.groups else ""
        echo(f"user {made.name}: added{extra}")
    elif action == "list":
        everyone = accounts.users()
        if fmt == "json":
            echo(
                json.dumps(
                    [
                        {
                            "name": u.name,
                            "admin": u.admin,
                            "groups": list(u.groups),
                            "password": u.has_password,
                            "created_at": u.created_at,
                        }
                        for u in everyone
                    ],
                    indent=2,
                )
            )
            return
        if not everyone:
            echo("no users (add one: `blockc users add NAME`)")
        for u in everyone:
            role = "admin" if u.admin else "user"
            groups_ = ",".join(u.groups) or "-"
            echo(
                f"{u.name:<20} {role:<6} groups {groups_:<20} "
                f"password {'yes' if u.has_password else 'no':<4} added {_when(u.created_at)}"
            )
    elif action == "rm":
        accounts.remove_user(user)
        echo(f"user {user}: removed (with their tokens)")
    elif action == "passwd":
        accounts.require_user(user)
        accounts.set_password(user, _read_password(confirm=True))
        echo(f"user {user}: password changed")


def _default_user() -> str:
    """The blockc user of the same name as the one running the command."""
    import getpass

    from .serve import accounts

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    if name and accounts.NAME.fullmatch(name) and accounts.get_user(name) is not None:
        return name
    raise BlockcError(f"no blockc user named {name!r} (you): name one with --user NAME")


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not (days >= 0 and days < 36500):
        raise argparse.ArgumentTypeError(f"days must be 0 (never expires) to 36499, not {text}")
    return days


@command(
    _actions(
        create=(
            "Make a token (printed once, alone on stdout; only its hash is kept).",
            [
                arg("--user", help="Whose token (default: the blockc user of your login name)."),
                arg(
                    "--expires",
                    metavar="DAYS",
                    type=_days,
                    default=90.0,
                    help="Valid for DAYS (default: %(default)s; 0: until revoked).",
                ),
                arg("--note", default="", help="What it is for (shown by list)."),
            ],
        ),
        list=("List tokens (never their secrets).", [arg("--user", help="Only theirs."), FORMAT]),
        revoke=("Revoke a token by its id.", [arg("token_id", metavar="ID", help="Its id.")]),
    )
)
def tokens(obj, action, user=None, expires=90.0, note="", token_id=None, fmt="text"):
    """API tokens of the front door's users: create, list, revoke."""
    from .serve import accounts

    if action == "create":
        user = user or _default_user()
        made, secret = accounts.create_token(user, days=expires or None, note=note)
        echo(secret)
        echo(
            f"token {made.id} of {made.user}, expires {_when(made.expires_at)} (shown once: "
            f"keep it now)",
            err=True,
        )
    elif action == "list":
        if user is not None:
            accounts.require_user(user)
        found = accounts.tokens(user)
        if fmt == "json":
            echo(
                json.dumps(
                    [{**t.json(), "expired": t.expired()} for t in found],
                    indent=2,
                )
            )
            return
        if not found:
            echo("no tokens")
        for t in found:
            expiry = "EXPIRED" if t.expired() else f"expires {_when(t.expires_at)}"
            echo(
                f"{t.id}  {t.user:<20} made {_when(t.created_at)}  {expiry:<24} "
                f"used {_when(t.last_used, 'never')}" + (f"  ({t.note})" if t.note else "")
            )
    elif action == "revoke":
        gone = accounts.revoke_token(token_id)
        echo(f"token {gone.id} of {gone.user}: revoked")


if __name__ == "__main__":
    main()


@command(
    _actions(
        add=(
            "Offer a template file of this host to the front door's users (all, or --group's).",
            [
                arg("template_name", metavar="NAME", help="Its name on the site."),
                arg("path", metavar="TEMPLATE", help="The template file."),
                arg(
                    "--group",
                    dest="groups",
                    metavar="G",
                    action="append",
                    default=[],
                    help="Only for this group's users (repeat for more; admins see all).",
                ),
            ],
        ),
        list=("The site's templates.", [FORMAT]),
        rm=(
            "Stop offering a template (its studios keep running).",
            [arg("template_name", metavar="NAME", help="Its name on the site.")],
        ),
    )
)
def templates(obj, action, template_name=None, path=None, groups=(), fmt="text"):
    """The templates the front door's users start studios from: add, list, rm."""
    from .names import DNS_LABEL
    from .serve import accounts
    from .serve.store import Store, Template

    store = Store()
    try:
        if action == "add":
            if not DNS_LABEL.fullmatch(template_name) or len(template_name) > 40:
                raise BlockcError(
                    f"template name {template_name!r} must be a DNS-1123 label of at most 40 "
                    f"characters"
                )
            for g in groups:
                accounts.check_name("group", g)
            from .compiler import compile as compile_template

            compile_template(path, registry=obj.registry)  # (every error, located)
            made = Template(template_name, os.path.abspath(path), tuple(sorted(set(groups))))
            store.put_template(made)
            echo(
                f"template {made.name}: {made.path}, for "
                f"{'groups ' + ', '.join(made.groups) if made.groups else 'every user'}"
            )
        elif action == "list":
            found = store.templates()
            if fmt == "json":
                echo(json.dumps([t.json() for t in found], indent=2))
                return
            if not found:
                echo("no templates (add one: `blockc templates add NAME TEMPLATE`)")
            for t in found:
                echo(f"{t.name:<20} {t.path}  groups {','.join(t.groups) or '(all users)'}")
        elif action == "rm":
            if not store.remove_template(template_name):
                raise BlockcError(f"no template named {template_name!r} on this site")
            echo(f"template {template_name}: removed (its studios keep running)")
    finally:
        store.close()


@command(
    arg(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:8750",
        help="Where to listen (default: %(default)s).",
    ),
    arg(
        "--manifests",
        action="store_true",
        help="Instead: print what runs the front door in a Kubernetes cluster (kubectl apply).",
    ),
    arg(
        "--image",
        metavar="REF",
        help="(--manifests) An image with blockc in it (default: REGISTRY/blockc:VERSION).",
    ),
    arg("--namespace", metavar="NS", help="(--manifests) Its namespace (default: the site's)."),
)
def serve(obj, listen, manifests, image, namespace):
    """Run the front door: the web pages, the API and the gateway to every studio's apps."""
    if manifests:
        import yaml

        from .names import DNS_LABEL, image_reference_problem
        from .serve.manifests import default_image, front_door_manifests

        settings = obj.settings()
        namespace = namespace or settings.namespace
        if not DNS_LABEL.fullmatch(namespace):
            raise BlockcError(f"--namespace {namespace!r} is not a namespace name")
        image = image or default_image(settings.registry)
        if not image:
            raise BlockcError(
                "serve --manifests: which image runs blockc? Give --image REF, or set the "
                "site's registry (its default is REGISTRY/blockc:VERSION)"
            )
        if image_reference_problem(image):
            why = image_reference_problem(image)
            raise BlockcError(f"--image {printable(repr(image))} is not an image reference: {why}")
        objs = front_door_manifests(namespace, image, registry=settings.registry)
        echo(yaml.safe_dump_all(objs, sort_keys=False), nl=False)
        return
    if image or namespace:
        _usage("serve", "--image and --namespace go with --manifests")
    from .serve.server import serve as run_server

    run_server(obj.settings(), obj.registry, listen, echo=echo)
