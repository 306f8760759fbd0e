"""Schema fragments shared by block types (and usable by plugins): each names its kind, which
error messages quote ("... is not a valid absolute path")."""

from __future__ import annotations

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

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
    "pattern": r"^https?://[^\s\x00-\x1f\x7f'\"`\\]+$",
    "x-kind": "http(s) URL",
}
ENV_MAP = {
    "type": "object",
    "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "not": {"pattern": "^BLOCKC_"}},
    "additionalProperties": {"type": "string", "maxLength": 32768},
}
MODE = {"type": "string", "pattern": r"^0?[0-7]{3}$", "x-kind": "octal file mode like 0644"}


def options(properties: dict, required: tuple = (), description: str = "") -> dict:
    """An options schema that refuses unknown keys."""
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema
