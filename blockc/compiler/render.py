"""Render: the plan into the artifact's files, in memory, with its content hash.

Layout lives in Jinja2 templates owned by blockc (``blockc/compiler/templates``); option values are
passed to them as data and quoted for their context by the filters below.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shlex
from functools import cache, lru_cache
from pathlib import Path

from .. import __version__
from ..errors import BlockcError, Diagnostic
from ..types import App, Copy, Raw, Run, Shell
from .model import Artifact, Plan

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEMPLATES = Path(__file__).parent / "templates"


class _Unsafe(ValueError):
    pass


def sh_word(value) -> str:
    """One shell word. Control characters (which would end a Containerfile line) are refused."""
    if isinstance(value, Shell):
        return str(value)
    value = str(value)
    if _CONTROL.search(value):
        raise _Unsafe(f"value {value!r} contains a control character")
    return shlex.quote(value)


def json_word(value) -> str:
    return json.dumps(value, ensure_ascii=True)


@lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("blockc.compiler", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["sh"] = sh_word
    env.filters["json"] = json_word
    env.filters["json_word"] = json_word
    return env


def render_template(template: str, *, save: bool = True, **context) -> str:
    """Render one of blockc's Jinja2 templates.

    Rendering is a pure function of the template's source and the context, so its result is
    cached on disk by a hash of both (``$BLOCKC_HOME/cache/render``): an unchanged artifact
    re-renders without loading Jinja2. ``BLOCKC_NO_CACHE=1`` turns the cache off; ``save=False``
    only reads it (validating many templates should not fill a cache).
    """
    import hashlib
    import os

    from ..home import blockc_home

    use_cache = not os.environ.get("BLOCKC_NO_CACHE")
    key = hashlib.sha256(
        _text(template) + b"\0" + repr(sorted(context.items())).encode()
    ).hexdigest()
    path = blockc_home() / "cache" / "render" / key[:2] / key
    if use_cache:
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            pass
    text = _env().get_template(template).render(**context)
    if use_cache and save:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{key}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
    return text


@cache
def _text(name: str) -> bytes:
    return (_TEMPLATES / name).read_bytes()


def _instructions(plan: Plan, errors: list) -> list[dict]:
    img = plan.template.image
    studio_user = f"{img.uid}:{img.gid}"
    known = {f.path for f, _ in plan.files} | {f"blockc/{n}" for n in _BLOCKC_FILES}
    current = "root"
    steps = []
    for planned in plan.steps:
        rendered = []
        for ins in planned.step.instructions:
            user = ins.user
            if isinstance(ins, Copy):
                user = "root"  # COPY runs as root; ownership is set with --chown
            line = None
            if user != current:
                line = "USER root" if user == "root" else f"USER {studio_user}"
                current = user
            if isinstance(ins, Run):
                bad = [
                    a
                    for c in ins.commands
                    for a in c
                    if not isinstance(a, Shell) and _CONTROL.search(a)
                ]
                if bad:  # found here, not mid-render, so the error names the block
                    errors.append(
                        (
                            planned.owner,
                            f"value {bad[0]!r} contains a control "
                            f"character; it cannot be placed in the "
                            f"Containerfile",
                        )
                    )
                    continue
                rendered.append({"kind": "run", "user_line": line, "commands": ins.commands})
            elif isinstance(ins, Copy):
                if _CONTROL.search(ins.src + ins.dest):
                    errors.append(
                        (
                            planned.owner,
                            f"COPY {ins.src!r} to {ins.dest!r}: a path with a control character",
                        )
                    )
                    continue
                if ins.src not in known:
                    errors.append(
                        (
                            planned.owner,
                            f"COPY of {ins.src!r}, which no block wrote into the build context",
                        )
                    )
                chown = studio_user if ins.user == "studio" else "0:0"
                rendered.append(
                    {
                        "kind": "copy",
                        "user_line": line,
                        "src": f"context/{ins.src}",
                        "dest": ins.dest,
                        "mode": ins.mode,
                        "chown": chown,
                    }
                )
            elif isinstance(ins, Raw):
                rendered.append({"kind": "raw", "user_line": line, "text": ins.text.rstrip("\n")})
        steps.append(
            {
                "owner": planned.owner,
                "phase": planned.step.phase.name.lower(),
                "instructions": rendered,
            }
        )
    return steps


_BLOCKC_FILES = ("studio-setup.sh", "apt-install.sh", "launch.py", "supervisord.conf", "apps.json")


def _owners(containerfile: str) -> tuple[str, ...]:
    """The owner (block id or "blockc") of each Containerfile line, from the step headers."""
    owners, owner = [], "blockc"
    for line in containerfile.splitlines():
        if line.startswith("# --- "):
            owner = line[6:].split(":", 1)[0]
        owners.append(owner)
    owners[-4:] = ["blockc"] * 4  # the closing ENV, USER, WORKDIR and CMD
    return tuple(owners)


def _ranges(owners: tuple[str, ...]) -> list[dict]:
    out = []
    for n, owner in enumerate(owners, start=1):
        if out and out[-1]["block"] == owner and out[-1]["lines"][1] == n - 1:
            out[-1]["lines"][1] = n
        else:
            out.append({"lines": [n, n], "block": owner})
    return out


def waits_for_sync(app: App, zone_paths: list[str]) -> bool:
    """Whether the app waits, under ``blockc start``, until the zones are pushed in: unless it
    names what it reads while starting and no zone overlaps any of that."""
    if app.reads_at_start is None:
        return True
    return any(_overlap(z, p) for z in zone_paths for p in app.reads_at_start)


def _overlap(a: str, b: str) -> bool:
    a, b = posixpath.normpath(a), posixpath.normpath(b)
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def content_hash(files: dict[str, tuple[bytes, int]], manifests, studio: dict) -> str:
    """sha256 over every file of the artifact but studio.json, and studio.json's content.

    The manifests and studio.json enter as canonical JSON of their data (manifests.yaml is a
    deterministic rendering of the same data), so hashing needs no YAML serialization.
    """
    h = hashlib.sha256()
    for path in sorted(files):
        content, mode = files[path]
        h.update(f"{path}\0{mode:o}\0{len(content)}\0".encode())
        h.update(content)
    for data in (list(manifests), studio):
        h.update(
            json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        )
    return h.hexdigest()


def manifests_yaml(manifests) -> bytes:
    import yaml

    return yaml.dump_all(
        list(manifests),
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
    ).encode()


def _canonical(data) -> bytes:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=2).encode() + b"\n"


def render(plan: Plan, *, save_cache: bool = True) -> Artifact:
    t = plan.template
    img = t.image
    errors: list[tuple[str, str]] = []
    try:
        steps = _instructions(plan, errors)
        containerfile = render_template(
            "Containerfile.j2",
            save=save_cache,
            name=t.name,
            version=__version__,
            base=img.base,
            steps=steps,
            uid=img.uid,
            gid=img.gid,
            workdir=img.workdir,
            python=img.python,
        )
    except _Unsafe as exc:
        errors.append(("blockc", f"{exc}; it cannot be placed in the Containerfile"))
        containerfile = ""
    if errors:
        by_id = {b.id: b for b in t.blocks}
        diags = []
        for owner, msg in errors:
            block = by_id.get(owner)
            if block is None:
                diags.append(Diagnostic(msg, file=t.doc.file))
                continue
            line, col = t.doc.where(block.path)
            diags.append(
                Diagnostic(msg, file=t.doc.file, line=line, col=col, path=block.path, **block.who())
            )
        raise BlockcError(diags)
    launched = [a for a, _ in plan.apps if a.command is not None]
    supervisord = render_template(
        "supervisord.conf.j2", save=save_cache, name=t.name, apps=[{"id": a.id} for a in launched]
    )
    zone_paths = [z.container for z, _ in plan.zones]
    apps_json = {
        "apps": [
            {
                "id": a.id,
                "port": a.port,
                "command": list(a.command) if a.command else None,
                "env": dict(sorted(a.env.items())),
                "health": a.health,
                "health_redirect_ok": a.health_redirect_ok,
                "path": a.path,
                "requires": list(a.requires),
                "workdir": a.workdir,
                "wait_for_sync": waits_for_sync(a, zone_paths),
            }
            for a, _ in plan.apps
        ]
    }

    files: dict[str, tuple[bytes, int]] = {
        "Containerfile": (containerfile.encode(), 0o644),
        "context/blockc/studio-setup.sh": (_text("studio-setup.sh"), 0o755),
        "context/blockc/apt-install.sh": (_text("apt-install.sh"), 0o755),
        "context/blockc/launch.py": (_text("launch.py"), 0o644),
        "context/blockc/supervisord.conf": (supervisord.encode(), 0o644),
        "context/blockc/apps.json": (_canonical(apps_json), 0o644),
    }
    context_owners = {f"context/blockc/{n}": "blockc" for n in _BLOCKC_FILES}
    for f, owner in plan.files:
        files[f"context/{f.path}"] = (f.content, f.mode)
        context_owners[f"context/{f.path}"] = owner

    owners = _owners(containerfile)
    used = {}
    for b in t.blocks:
        p = b.entry.plugin
        used[p.name] = {"distribution": p.dist, "version": p.version}
    studio = {
        "apiVersion": "blockc/v1",
        "name": t.name,
        "description": t.description,
        "labels": dict(t.labels),
        "image": {
            "base": img.base,
            "user": img.user,
            "uid": img.uid,
            "gid": img.gid,
            "workdir": img.workdir,
            "python": img.python,
        },
        "blocks": [{"id": b.id, "type": b.type, "plugin": b.entry.plugin.name} for b in t.blocks],
        "apps": [
            {
                "id": a.id,
                "type": b.type,
                "block": b.id,
                "port": a.port,
                "path": a.path,
                "health": a.health,
                "health_redirect_ok": a.health_redirect_ok,
                "websocket": a.websocket,
                "label": a.label or a.id,
                "launched": a.command is not None,
            }
            for a, b in plan.apps
        ],
        "zones": [
            {
                "name": z.name,
                "block": b.id,
                "host": z.host,
                "container": z.container,
                "direction": z.direction,
                "exclude": list(z.exclude),
            }
            for z, b in plan.zones
        ],
        "env": {k: v for k, (v, _) in sorted(plan.env.items())},
        "provenance": {
            "Containerfile": _ranges(owners),
            "manifests": dict(sorted(plan.manifest_owners.items())),
            "env": {k: o for k, (_, o) in sorted(plan.env.items())},
            "context": dict(sorted(context_owners.items())),
        },
        "plugins": dict(sorted(used.items())),
        "blockc": __version__,
    }
    digest = content_hash(files, plan.manifests, studio)
    studio = {"hash": digest, **studio}

    def serialize() -> dict[str, tuple[bytes, int]]:
        return {
            **files,
            "manifests.yaml": (manifests_yaml(plan.manifests), 0o644),
            "studio.json": (_canonical(studio), 0o644),
        }

    return Artifact(
        name=t.name,
        studio=studio,
        hash=digest,
        manifests=plan.manifests,
        containerfile_owners=owners,
        serialize=serialize,
    )
