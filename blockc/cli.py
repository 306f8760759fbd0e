"""The ``blockc`` command line (SPEC §5). Exit codes: 0 ok, 1 user-facing failure, 2 usage.

Only click is imported at start; every command imports what it needs when it runs, so
``blockc --help`` stays fast and a broken plugin cannot break it.
"""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from . import __version__


def _fail(diagnostics, fmt: str = "text") -> None:
    if fmt == "json":
        click.echo(json.dumps({"ok": False, "errors": [d.to_json() for d in diagnostics]},
                              indent=2))
    else:
        for d in diagnostics:
            click.echo(d.format(), err=True)
    sys.exit(1)


def command(fn):
    """Run a command body: BlockcError -> located messages and exit 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .errors import BlockcError, Diagnostic

        fmt = kwargs.get("fmt", "text")
        try:
            return fn(*args, **kwargs)
        except BlockcError as exc:
            _fail(exc.diagnostics, fmt)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug of ours: say so, briefly; BLOCKC_DEBUG=1 shows it
            if os.environ.get("BLOCKC_DEBUG"):
                raise
            _fail([Diagnostic(f"internal error: {type(exc).__name__}: {exc} "
                              f"(set BLOCKC_DEBUG=1 for a traceback)")], fmt)

    return wrapper


FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="Output format (json for CI).")
BASE_IMAGE = click.option("--base-image", metavar="REF",
                          help="Replace spec.image.base (e.g. a site mirror of the base image).")
TEMPLATE = click.argument("template", type=click.Path(dir_okay=False))


class Ctx:
    def __init__(self, plugins: str | None, config: str | None):
        self.plugins = plugins
        self.config = config
        self._registry = None

    @property
    def registry(self):
        if self._registry is None:
            from .compiler import load_registry

            self._registry = load_registry(self.plugins)
        return self._registry

    def settings(self):
        from .settings import load_settings

        return load_settings(self.config)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="blockc")
@click.option("--config", metavar="FILE", help="Site settings (default $BLOCKC_HOME/config.toml).")
@click.option("--plugins", metavar="SPEC", envvar="BLOCKC_PLUGINS",
              help="Allow/deny plugins: 'a,b' only those, '-a' all but a, 'none' core only.")
@click.option("--no-plugins", is_flag=True, help="Load only the core block types.")
@click.pass_context
def main(ctx, config, plugins, no_plugins):
    """Compile studio templates into images and run them as per-user studios."""
    ctx.obj = Ctx("none" if no_plugins else plugins, config)


# --- compiler commands ---------------------------------------------------------------------

@main.command()
@click.argument("templates", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True,
              help="Also check the manifests against the Kubernetes OpenAPI schemas.")
@FORMAT
@click.pass_obj
@command
def validate(obj, templates, strict, fmt):
    """Check templates: every error, each at file:line:col."""
    from .compiler import validate as validate_one
    from .errors import BlockcError

    results, ok = [], True
    for path in templates:
        try:
            artifact = validate_one(path, registry=obj.registry, strict=strict)
            results.append({"file": path, "valid": True, "hash": artifact.hash, "errors": []})
        except BlockcError as exc:
            ok = False
            results.append({"file": path, "valid": False,
                            "errors": [d.to_json() for d in exc.diagnostics]})
            if fmt == "text":
                for d in exc.diagnostics:
                    click.echo(d.format(), err=True)
    if fmt == "json":
        click.echo(json.dumps({"ok": ok, "results": results}, indent=2))
    else:
        valid = sum(r["valid"] for r in results)
        click.echo(f"{valid} of {len(results)} template(s) valid", err=not ok)
    sys.exit(0 if ok else 1)


@main.command("compile")
@TEMPLATE
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Artifact directory.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if OUTPUT differs.")
@BASE_IMAGE
@click.pass_obj
@command
def compile_(obj, template, outdir, check, base_image):
    """Write the artifact of TEMPLATE to OUTPUT and print its hash."""
    from .compiler import compile
    from .emitter import differences, emit

    artifact = compile(template, registry=obj.registry, base_image=base_image)
    if check:
        diffs = differences(artifact, outdir)
        if diffs:
            click.echo(f"{outdir} is not up to date with {template}:", err=True)
            for d in diffs:
                click.echo(f"  {d}", err=True)
            sys.exit(1)
        click.echo(artifact.hash)
        return
    emit(artifact, outdir)
    click.echo(artifact.hash)


@main.command()
@TEMPLATE
@BASE_IMAGE
@FORMAT
@click.pass_obj
@command
def explain(obj, template, base_image, fmt):
    """Show the artifact with each line and field attributed to its block."""
    from .compiler import compile
    from .explain import explain as explain_artifact

    artifact = compile(template, registry=obj.registry, base_image=base_image)
    click.echo(explain_artifact(artifact, fmt))


@main.command()
@click.option("--block", "block_type", metavar="TYPE", help="Only this block type's options.")
@click.pass_obj
@command
def schema(obj, block_type):
    """JSON Schema of the template with every installed block type's options."""
    from .schema import combined_schema
    from .errors import BlockcError, did_you_mean

    reg = obj.registry
    if block_type:
        entry = reg.get(block_type)
        if entry is None:
            raise BlockcError(f"unknown block type '{block_type}'",
                              hint=did_you_mean(block_type, reg.types))
        click.echo(json.dumps(dict(entry.type.schema), indent=2, sort_keys=True))
    else:
        click.echo(json.dumps(combined_schema(reg), indent=2, sort_keys=True))


@main.command()
@FORMAT
@click.pass_obj
@command
def plugins(obj, fmt):
    """Block types, their plugin, distribution and version (and plugins that failed)."""
    reg = obj.registry
    rows = [{"type": name, "plugin": e.plugin.name, "distribution": e.plugin.dist,
             "version": e.plugin.version, "description": e.type.description}
            for name, e in reg.types.items()]
    broken = [{"plugin": i.name, "distribution": i.dist, "version": i.version, "error": why}
              for i, why in reg.broken]
    if fmt == "json":
        click.echo(json.dumps({"block_types": rows, "broken": broken}, indent=2))
    else:
        width = max([len(r["type"]) for r in rows] + [4])
        for r in rows:
            click.echo(f"{r['type']:<{width}}  {r['distribution']} {r['version']}"
                       f"  (plugin {r['plugin']})")
        for b in broken:
            click.echo(f"error: plugin {b['plugin']} ({b['distribution']} {b['version']}) "
                       f"failed to load: {b['error']}", err=True)
    sys.exit(1 if broken else 0)


@main.command()
@TEMPLATE
@click.option("--studio", required=True, help="Studio name (DNS-1123 label).")
@click.option("--owner", required=True, help="The studio's owner.")
@click.option("--image", metavar="REF", help="Image (default: the artifact's content tag).")
@click.option("--namespace", metavar="NS", help="Namespace to set on every object.")
@BASE_IMAGE
@click.pass_obj
@command
def manifests(obj, template, studio, owner, image, namespace, base_image):
    """Instance manifests of one studio, ready for kubectl apply."""
    import yaml

    from .compiler import compile
    from .manifests import instance_manifests
    from .names import check_owner, check_studio

    check_studio(studio)
    check_owner(owner)
    artifact = compile(template, registry=obj.registry, base_image=base_image)
    out = instance_manifests(list(artifact.manifests), artifact.studio, studio=studio, owner=owner,
                             image=image or artifact.image_ref, namespace=namespace)
    click.echo(yaml.safe_dump_all(out, sort_keys=True), nl=False)


# --- build and run -------------------------------------------------------------------------

@main.command()
@TEMPLATE
@BASE_IMAGE
@click.option("--no-cache", is_flag=True, help="Rebuild every step, even if the image exists.")
@click.option("--push", is_flag=True, help="Push the image to the site's registry.")
@click.option("--pull", type=click.Choice(["always", "missing", "never", "newer"]),
              help="Base image pull policy (default: the site's, else missing).")
@click.pass_obj
@command
def build(obj, template, base_image, no_cache, push, pull):
    """Build the image of TEMPLATE (skipped when its hash is built); print the image ref."""
    from .build import build as build_image, ensure_artifact, push as push_image
    from .compiler import compile
    from .progress import Progress

    settings = obj.settings()
    if pull:
        settings = settings.replace(pull=pull)
    artifact = compile(template, registry=obj.registry, base_image=base_image)
    with Progress() as progress:
        ref, built = build_image(artifact, ensure_artifact(artifact), settings,
                                 no_cache=no_cache, progress=progress)
        progress.line(f"{'built' if built else 'up to date'}: {ref} "
                      f"({progress.elapsed():.1f} s)")
        if push:
            progress.line(f"pushed: {push_image(ref, settings)}")
    click.echo(ref)


def _print_urls(studio, apps) -> None:
    for a in apps:
        health = {True: "healthy", False: "unhealthy", None: "-"}[a.healthy]
        click.echo(f"  {a.id:<12} {a.url or '-':<48} {health}  ({a.label})")


@main.command()
@TEMPLATE
@click.option("--studio", "name", required=True, help="Studio name (DNS-1123 label).")
@click.option("--owner", help="The studio's owner (default: $USER).")
@click.option("--workspace", type=click.Path(file_okay=False),
              help="Host directory that sync zones are relative to (default: current dir).")
@click.option("--runtime", type=click.Choice(["podman", "kubernetes"]),
              help="Where the studio runs (default: the site's runtime, podman).")
@click.option("--timeout", default=300.0, show_default=True,
              help="Seconds to wait for every app to be healthy.")
@BASE_IMAGE
@click.pass_obj
@command
def start(obj, template, name, owner, workspace, runtime, timeout, base_image):
    """Build if needed, deploy, sync in, wait until every app is healthy, print URLs."""
    from . import studios
    from .progress import Progress

    with Progress() as progress:
        studio = studios.start(template, name, owner=owner, workspace=workspace, runtime=runtime,
                               base_image=base_image, settings=obj.settings(),
                               registry=obj.registry, timeout=timeout, progress=progress)
        progress.line(f"studio {name} is running ({progress.elapsed():.1f} s)")
    # start has just seen every app with a health check answer: no second round of checks
    studio_json = studio.studio_json()
    checked = {a["id"] for a in studio_json["apps"] if a.get("health") is not None}
    apps = [a.replace(healthy=True) if a.id in checked else a
            for a in studios.urls(studio, studio_json)]
    click.echo(f"studio {studio.name} (owner {studio.owner}) is {studio.state}:")
    _print_urls(studio, apps)


@main.command()
@click.argument("name", required=False)
@FORMAT
@click.pass_obj
@command
def status(obj, name, fmt):
    """State of one studio (or all), with each app's URL and health."""
    from . import state, studios

    settings = obj.settings()
    rows = [state.require(name)] if name else state.all_studios()
    out = []
    for s in rows:
        s, apps = studios.status(s, settings)
        out.append((s, apps))
    if fmt == "json":
        click.echo(json.dumps([{
            "name": s.name, "state": s.state, "owner": s.owner, "template": s.template,
            "image": s.image, "runtime": s.runtime, "message": s.message,
            "workspace": s.workspace, "apps": [a.to_json() for a in apps]} for s, apps in out],
            indent=2))
        return
    if not out:
        click.echo("no studios")
    for s, apps in out:
        click.echo(f"{s.name}: {s.state}  owner {s.owner}  image {s.image}  runtime {s.runtime}")
        if s.message:
            click.echo(f"  ({s.message})")
        _print_urls(s, apps)


@main.command()
@click.argument("name")
@click.option("--app", "app", metavar="ID", help="Only this app's log.")
@click.option("-n", "--lines", default=100, show_default=True, help="Lines per log.")
@click.pass_obj
@command
def logs(obj, name, app, lines):
    """The studio's app logs (each app's own log from the supervisor)."""
    from . import studios

    click.echo(studios.logs(name, obj.settings(), app, lines))


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
@command
def exec_(obj, name, argv):
    """Run a command in the studio's main container, as the studio user."""
    from . import studios

    sys.exit(studios.exec_(name, list(argv), obj.settings()))


@main.command()
@click.argument("name")
@click.pass_obj
@command
def stop(obj, name):
    """Sync files back out, then stop the studio (its state is kept)."""
    from . import studios
    from .progress import Progress

    with Progress() as progress:
        result = studios.stop(name, obj.settings(), progress=progress)
    click.echo(f"studio {name}: {result}")


@main.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Remove even if unsynced changes would be lost.")
@click.pass_obj
@command
def rm(obj, name, force):
    """Remove the studio (refuses if unsynced changes would be lost, unless --force)."""
    from . import studios

    studios.rm(name, obj.settings(), force=force)
    click.echo(f"studio {name}: removed")


@main.command()
@click.argument("name")
@click.option("--push", "direction", flag_value="push", help="Only host -> studio.")
@click.option("--pull", "direction", flag_value="pull", help="Only studio -> host.")
@click.option("--allow-mass-delete", is_flag=True,
              help="Apply deletions even when they remove most of a zone.")
@click.pass_obj
@command
def sync(obj, name, direction, allow_mass_delete):
    """Sync the studio's zones both ways (or one way)."""
    from . import state, syncing
    from .progress import Progress

    settings = obj.settings()
    with Progress() as progress, state.lock(name):
        studio = state.require(name)
        code = syncing.sync_command(studio, settings, mode=direction or "both",
                                    progress=progress, allow_mass_delete=allow_mass_delete)
    sys.exit(code)


if __name__ == "__main__":
    main()
