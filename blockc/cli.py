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
    from .emit import differences, emit

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
    objs = yaml.safe_load_all(artifact.files["manifests.yaml"][0])
    out = instance_manifests(list(objs), artifact.studio, studio=studio, owner=owner,
                             image=image or artifact.image_ref, namespace=namespace)
    click.echo(yaml.safe_dump_all(out, sort_keys=True), nl=False)


if __name__ == "__main__":
    main()
