"""system-packages (apt) and python-packages (pip into the studio's Python environment)."""

from __future__ import annotations

import re

from ..types import BlockContext, BlockType, Contributions, Phase, Run, Step
from .options import URL, options

APT_PACKAGE = {
    "type": "string",
    "maxLength": 200,
    "pattern": r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$",
    "x-kind": "Debian package name (name or name=version)",
}


def _system(ctx: BlockContext) -> Contributions:
    apt = ctx.options.get("apt", [])
    return Contributions(steps=[Step(Phase.SYSTEM, [Run([("/opt/blockc/bin/apt-install", *apt)])])])


SYSTEM_PACKAGES = BlockType(
    name="system-packages",
    description="Debian packages, installed in one cached apt layer.",
    schema=options(
        {"apt": {"type": "array", "minItems": 1, "items": APT_PACKAGE, "uniqueItems": True}},
        required=("apt",),
    ),
    contribute=_system,
)


_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_RELEASE = r"[0-9]+(?:\.[0-9]+)*"
_VERSION = _RELEASE + r"(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
_CLAUSE = (
    rf"(?:(?:==|!=)\s*{_RELEASE}\.\*|(?:==|!=|>=|<=|>|<)\s*{_VERSION}"
    rf"|~=\s*[0-9]+(?:\.[0-9]+)+)"
)
# The common shapes (name, extras, version clauses): a strict subset of PEP 508, so a match is
# always a valid requirement; anything else is judged by `packaging`.
_SIMPLE_REQUIREMENT = re.compile(
    rf"^{_NAME}\s*(?:\[\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\])?\s*"
    rf"(?:{_CLAUSE}(?:\s*,\s*{_CLAUSE})*)?$"
)


def requirement_problem(req: str) -> str | None:
    """Why ``req`` is not a valid PEP 508 requirement, or None."""
    if _SIMPLE_REQUIREMENT.match(req):
        return None
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(req)
    except InvalidRequirement as exc:
        return str(exc)
    return None


def requirement_errors(ctx: BlockContext, requirements, *path) -> list[str]:
    """Check PEP 508 requirements; report each bad one at its index. Returns the good ones."""
    good = []
    for i, req in enumerate(requirements):
        problem = requirement_problem(req)
        if problem:
            ctx.error(f"{req!r} is not a valid PEP 508 requirement: {problem}", *path, i)
            continue
        good.append(req)
    return good


def pinned(ctx: BlockContext, name: str, version: str, *path) -> str | None:
    """``name`` pinned to ``version``, a PEP 440 version (``4.2.1``), wildcard (``4.*``) or
    specifier (``==4.2.1``, ``>=4,<5``), as a requirement string; or None after reporting a
    located error at ``path``. For app blocks' ``version`` option."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    text = "".join(version.split())
    try:
        Version(text)
        return f"{name}=={text}"
    except InvalidVersion:
        pass
    for candidate in (text, f"=={text}"):  # "4.*" is "==4.*"
        if not text or "===" in candidate:  # arbitrary equality: not a pin blockc can check
            break
        try:
            SpecifierSet(candidate)
        except InvalidSpecifier:
            continue
        return f"{name}{candidate}"
    ctx.error(
        f"{version!r} is not a PEP 440 version or specifier "
        f'(e.g. "4.*", "4.2.1", "==4.2.1", ">=4,<5")',
        *path,
    )
    return None


def pip_install(ctx: BlockContext, requirements, *, index_url=None, extra_index_urls=()) -> Run:
    """The one way blocks pip-install into the studio's Python environment (as the studio
    user, so the user can add packages later)."""
    argv = [
        f"{ctx.image.python}/bin/pip",
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
    ]
    if index_url:
        argv += ["--index-url", index_url]
    for url in extra_index_urls:
        argv += ["--extra-index-url", url]
    return Run([tuple(argv) + ("--", *requirements)], user="studio")


PIP_VERSION = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": r"^[0-9A-Za-z<>=!~*.,+ ]+$",
    "x-kind": 'PEP 440 version or specifier ("4.*", "==4.2.1")',
}
REQUIREMENT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1000,
    "pattern": r"^[A-Za-z0-9]",
    "x-kind": "PEP 508 requirement",
}


def _python(ctx: BlockContext) -> Contributions:
    reqs = requirement_errors(ctx, ctx.options.get("packages", []), "packages")
    run = pip_install(
        ctx,
        reqs,
        index_url=ctx.options.get("index_url"),
        extra_index_urls=ctx.options.get("extra_index_urls", ()),
    )
    return Contributions(steps=[Step(Phase.RUNTIME, [run])])


PYTHON_PACKAGES = BlockType(
    name="python-packages",
    description="pip packages in the studio's Python environment (/opt/studio/venv).",
    schema=options(
        {
            "packages": {"type": "array", "minItems": 1, "items": REQUIREMENT},
            "index_url": URL,
            "extra_index_urls": {"type": "array", "items": URL},
        },
        required=("packages",),
    ),
    contribute=_python,
    after=("system-packages",),
)
