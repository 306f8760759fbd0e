"""JSON Schema fragments for block options. Each string fragment names its kind (``x-kind``),
which error messages quote (``"/x y" is not a valid absolute path``), and is as strict as
blockc's own checks wherever a pattern can say it, so that an editor flags what ``blockc
validate`` refuses.

Extend a fragment with ``|``: ``PORT | {"default": 8888}``.
"""

from __future__ import annotations

from typing import Any

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def _ci(word: str) -> str:
    """``word`` matched case-insensitively (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _any(*words: str) -> str:
    return "(?:" + "|".join(_ci(w) for w in words) + ")"


_SEP = "[._-]?"
# PEP 440 (packaging.version.VERSION_PATTERN, case-insensitive, without its flags), in parts:
# which parts a specifier clause takes depends on its operator (packaging.specifiers)
_RELEASE = rf"{_ci('v')}?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*"
_SUFFIXES = (
    rf"(?:{_SEP}{_any('alpha', 'a', 'beta', 'b', 'preview', 'pre', 'c', 'rc')}{_SEP}[0-9]*)?"
    rf"(?:-[0-9]+|{_SEP}{_any('post', 'rev', 'r')}{_SEP}[0-9]*)?"
    rf"(?:{_SEP}{_ci('dev')}{_SEP}[0-9]*)?"
)
_LOCAL = r"(?:\+[a-zA-Z0-9]+(?:[._-][a-zA-Z0-9]+)*)?"
# == and != take a release with .*, or a whole version; <, <=, >, >= and ~= a public version,
# ~= of two release components at least (the lookahead); a version alone, first only, is ==
_EQUAL = rf"{_RELEASE}(?:\.\*|{_SUFFIXES}{_LOCAL})"
_ORDER = rf"(?:<=|>=|<|>|~=(?=\s*{_ci('v')}?(?:[0-9]+!)?[0-9]+\.[0-9]))\s*{_RELEASE}{_SUFFIXES}"
_CLAUSE = rf"(?:(?:==|!=)\s*{_EQUAL}|{_ORDER})"
_SPECIFIERS = rf"\s*(?:(?:(?:==|!=)\s*)?{_EQUAL}|{_ORDER})\s*(?:,\s*{_CLAUSE}\s*)*"
_REQ_SPECIFIERS = rf"\s*{_CLAUSE}\s*(?:,\s*{_CLAUSE}\s*)*"
# PEP 508 environment markers: `python_version < "3.12" and sys_platform == 'linux'`
_MARKER_VALUE = (
    r"(?:python_version|python_full_version|os_name|sys_platform|platform_release"
    r"|platform_system|platform_version|platform_machine|platform_python_implementation"
    r"|implementation_name|implementation_version|extra|'[^']*'|\"[^\"]*\")"
)
_MARKER_ATOM = (
    rf"\(*\s*{_MARKER_VALUE}\s*(?:<=|>=|===|==|!=|~=|<|>|not\s+in|in)\s*{_MARKER_VALUE}\s*\)*"
)
_MARKERS = rf"{_MARKER_ATOM}(?:\s*(?:and|or)\s+{_MARKER_ATOM})*"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"

TEXT = {"type": "string", "maxLength": 4096, "pattern": NO_CONTROL, "x-kind": "single-line text"}
LABEL = {"type": "string", "maxLength": 80, "pattern": NO_CONTROL, "x-kind": "label"}
PORT = {
    "type": "integer",
    "minimum": 1024,
    "maximum": 65535,
    "description": "TCP port in the studio (1024-65535: the studio runs as non-root).",
}
PATH_MODE = {
    "enum": ["strip", "preserve"],
    "description": "strip: the app is served at /; preserve: it is served under its "
    "URL prefix BLOCKC_BASE_PATH_<ID>.",
}
ABS_PATH = {
    "type": "string",
    "maxLength": 4096,
    "pattern": r"^(/[^/\x00-\x1f\x7f\$\\]+)+/?$",
    "not": {"pattern": r"(^|/)\.\.?(/|$)"},
    "x-kind": "absolute path (no '..', '$' or '\\')",
}
REL_PATH = {
    "type": "string",
    "maxLength": 4096,
    "pattern": r"^[^/\x00-\x1f\x7f\$\\][^\x00-\x1f\x7f\$\\]*$",
    "not": {"pattern": r"(^|/)\.\.(/|$)"},
    "x-kind": "relative path without '..'",
}
HTTP_PATH = {
    "type": "string",
    "maxLength": 1024,
    "pattern": r"^(\{base\}|/)[^\s\x00-\x1f\x7f]*$",
    "x-kind": "URL path starting with / or {base}",
}
URL = {
    "type": "string",
    "maxLength": 2048,
    # no quote, backquote or backslash; written without escapes JavaScript (editors) refuses
    "pattern": r"^https?://[^\s\x00-\x1f\x7f'" + '"' + r"`\\]+$",
    "x-kind": "http(s) URL",
    # no user:password@: it would be in the Containerfile, and so in the image's history
    "allOf": [
        {
            "not": {"pattern": "^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@"},
            "x-kind": "URL here: credentials (user:password@) belong in the site settings "
            "(pip_index_url, npm_registry in config.toml), which builds read through a "
            "mount, never in a template (they would stay in the image's history)",
        }
    ],
}
ENV_MAP = {
    "type": "object",
    "maxProperties": 256,
    "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "not": {"pattern": "^BLOCKC_"}},
    "additionalProperties": {"type": "string", "maxLength": 32768},
}
MODE = {"type": "string", "pattern": r"^0?[0-7]{3}$", "x-kind": "octal file mode like 0644"}
PIP_VERSION = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": rf"^{_SPECIFIERS}$",
    "x-kind": 'PEP 440 version or specifier ("4.*", "4.2.1", "==4.2.1", ">=4,<5")',
}
REQUIREMENT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1000,
    # name, extras, then version clauses (in parentheses or not) or `@ URL`, then markers
    "pattern": rf"^\s*{_NAME}\s*(?:\[\s*(?:{_NAME}(?:\s*,\s*{_NAME})*)?\s*\])?\s*"
    # (parentheses not checked for balance: packaging says, in blockc validate)
    rf"(?:\(?{_REQ_SPECIFIERS}\)?|@\s*[^\s;]+\s*)?"
    rf"(?:;\s*{_MARKERS}\s*)?$",
    "x-kind": "PEP 508 requirement",
}
APT_PACKAGE = {
    "type": "string",
    "maxLength": 200,
    "pattern": r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$",
    "x-kind": "Debian package name (name or name=version)",
}
CAPABILITY = {
    "type": "string",
    "maxLength": 40,
    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "x-kind": "capability name (like python, r, node)",
}


def options(
    properties: dict[str, Any], required: tuple[str, ...] = (), description: str = ""
) -> dict[str, Any]:
    """An options schema that refuses unknown keys (with a "did you mean")."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema
