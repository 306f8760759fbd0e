"""The JSON Schema of templates: the envelope (``template.schema.json``), and the combined schema
with every installed block type's options, so that an editor (the YAML language server) can
complete and check ``with:`` per ``type:`` (``blockc schema``).

blockc's own schemas (the envelope, every block type's options) are JSON Schema 2020-12: that
is what ``blockc validate`` checks with. ``blockc schema`` publishes them in either draft:

- ``07`` (the default): the draft editors understand best. The YAML language server (VS
  Code's Red Hat YAML extension, and the Neovim, Helix, Emacs and Zed clients of it) knew only
  draft-04 and draft-07 before its 1.20 (2025), and editors bundle a server for a long time:
  such a server reads any document by draft-07's rules, so a 2020-12 document works there
  only as far as it avoids the words whose meaning changed (a ``$ref`` with siblings,
  ``prefixItems`` and ``items``, ``dependentRequired``...), which a plugin's schema may use.
  The draft-07 translation says the same in words that old and new servers read alike
  (tests/test_editor.py runs the pinned server on both drafts); draft-07 is also the draft
  other editors' JSON Schema support has had the longest.
- ``2020-12``: the schemas as blockc checks them, for tools that read 2020-12.

The draft-07 document is a translation, not a relabelling: ``$defs`` become ``definitions``
(and every ``$ref`` path with them), ``prefixItems``/``items`` become ``items``/
``additionalItems``, ``dependentRequired``/``dependentSchemas`` become ``dependencies``, a
``$ref`` with sibling keywords moves into an ``allOf`` (draft-07 ignores a ``$ref``'s
siblings), ``$anchor`` becomes a ``$id`` fragment. What draft-07 cannot say
(``unevaluatedProperties``, ``$dynamicRef``, ``minContains``...) is left out with a warning.

Both drafts carry ``patternErrorMessage`` (the YAML language server's and VS Code's own
extension keyword) where a string schema names its kind (``x-kind``), so that the editor's
message names the kind as ``blockc validate`` does instead of quoting the regular expression.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from ..plugins import Registry

DRAFTS = {
    "07": "http://json-schema.org/draft-07/schema#",
    "2020-12": "https://json-schema.org/draft/2020-12/schema",
}
DEFAULT_DRAFT = "07"  # what editors understand best (see above)
SCHEMA_ID = "https://blockc.dev/schemas/blockc.schema.json"


@cache
def template_schema() -> dict:
    """The template envelope: every key but the blocks' options (each block type's own)."""
    return json.loads((Path(__file__).parent / "template.schema.json").read_text())


def combined_schema(
    registry: Registry, draft: str = "2020-12", warnings: list[str] | None = None
) -> dict:
    """The template with every installed block type's options: ``with:`` is checked by the
    schema of the block's ``type:`` (an ``if``/``then`` per type), in ``draft`` (``2020-12``
    or ``07``). What draft-07 cannot say is reported in ``warnings``."""
    schema = copy.deepcopy(template_schema())
    schema["$id"] = SCHEMA_ID
    block = schema["properties"]["spec"]["properties"]["blocks"]["items"]
    block["properties"]["type"]["enum"] = sorted(registry.types)
    defs = schema.setdefault("$defs", {})
    rules = []
    for name in sorted(registry.types):
        entry = registry.types[name]
        key = f"block-{name}"
        defs[key] = _embedded(entry.type.schema, f"/$defs/{key}")
        if entry.type.description:
            defs[key].setdefault("description", entry.type.description)
        rules.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"with": {"$ref": f"#/$defs/{key}"}}},
            }
        )
    block["allOf"] = rules
    needs = _requirements(registry)
    if needs:
        schema["properties"]["spec"]["allOf"] = needs
    return _published(schema, draft, warnings)


def _requirements(registry: Registry) -> list[dict]:
    """What ``blockc validate`` says of capabilities, as far as a schema can say it: a
    template with a block whose type requires one (``r`` for ``rstudio``) needs a block of a
    type that may provide it, or the base image's ``spec.image.provides`` listing it. (The
    block of that type may still provide it only with some options: validate knows.)"""
    from .plan import BLOCKC_PROVIDES  # the Python environment is blockc's own

    requiring: dict[str, list[str]] = {}
    providing: dict[str, list[str]] = {}
    for name in sorted(registry.types):
        block_type = registry.types[name].type
        for cap in block_type.requires:
            requiring.setdefault(cap, []).append(name)
        for cap in block_type.provides:
            providing.setdefault(cap, []).append(name)

    def of_type(names: list[str]) -> dict:
        return {"properties": {"type": {"enum": names}}, "required": ["type"]}

    rules = []
    for cap in sorted(set(requiring) - set(BLOCKC_PROVIDES)):
        could = providing.get(cap, [])
        where = f"a block of type {', '.join(could)}" if could else "no installed block type"
        message = (
            f"a block of type {', '.join(requiring[cap])} needs {cap}, which nothing in this "
            f"template provides: {where} can provide it; or, if the base image has it, list it "
            f"in spec.image.provides"
        )
        # (errorMessage: the YAML language server's words for a failed check of that schema)
        provides = {"contains": {"const": cap}, "errorMessage": message}
        ways: list[dict] = [
            {
                "properties": {
                    "image": {
                        "properties": {"provides": provides},
                        "required": ["provides"],
                        "errorMessage": message,
                    }
                }
            }
        ]
        if could:
            ways.append(
                {
                    "properties": {"blocks": {"contains": of_type(could), "errorMessage": message}},
                }
            )
        rules.append(
            {
                "if": {
                    "properties": {"blocks": {"contains": of_type(requiring[cap])}},
                    "required": ["blocks"],
                },
                "then": ways[0] if len(ways) == 1 else {"anyOf": ways},
            }
        )
    return rules


def block_schema(
    schema: Mapping, draft: str = "2020-12", warnings: list[str] | None = None
) -> dict:
    """One block type's options schema as a document of its own, in ``draft``."""
    return _published(_embedded(schema, ""), draft, warnings)


def schema_text(schema: Mapping) -> str:
    """The text ``blockc schema`` prints: sorted keys, so that the same schemas always give the
    same bytes (``blockc schema --check`` compares them)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"  # ASCII: any locale prints it


def _published(schema: dict, draft: str, warnings: list[str] | None) -> dict:
    if draft not in DRAFTS:
        raise ValueError(f"unknown JSON Schema draft {draft!r} (one of {', '.join(DRAFTS)})")
    schema = _with_editor_messages(schema)
    if draft == "07":
        schema = to_draft_07(schema, warnings)
    schema["$schema"] = DRAFTS[draft]
    return schema


def _embedded(schema: Mapping, at: str) -> dict:
    """A copy of a block type's options schema to place at JSON pointer ``at`` of another
    document: its own ``$schema``/``$id`` go (blockc judges it as 2020-12 whatever it says),
    and its local references (``#/$defs/x``, ``#``) point where it now is."""
    out = copy.deepcopy(dict(schema))
    out.pop("$schema", None)
    out.pop("$id", None)

    def rebase(node: dict, _where: str) -> dict:
        ref = node.get("$ref")
        if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
            node["$ref"] = "#" + at + ref[1:]
        return node

    return _map_schemas(out, rebase)


def _with_editor_messages(schema: dict) -> dict:
    def message(node: dict, _where: str) -> dict:
        kind = node.get("x-kind")
        if isinstance(kind, str) and "pattern" in node:
            node.setdefault("patternErrorMessage", f"Not a valid {kind}.")
        return node

    return _map_schemas(schema, message)


# --- walking schemas ---------------------------------------------------------------------------

# keywords whose value is a schema, a list of schemas, or a mapping of names to schemas (both
# drafts); anything else (``enum``, ``const``, ``default``, ``examples``...) is data
_ONE = {
    "additionalItems",
    "additionalProperties",
    "contains",
    "contentSchema",
    "else",
    "if",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
}
_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_NAMED = {"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"}


def _map_schemas(schema: Any, fn, where: str = "#") -> Any:
    """``schema`` with ``fn(node, where)`` applied to every (sub)schema that is a mapping,
    innermost first; ``where`` is the node's JSON pointer (for messages)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        at = f"{where}/{_escape(key)}"
        if key in _ONE or (key == "items" and not isinstance(value, list)):
            value = _map_schemas(value, fn, at)
        elif (key in _LIST or key == "items") and isinstance(value, list):
            value = [_map_schemas(v, fn, f"{at}/{i}") for i, v in enumerate(value)]
        elif key in _NAMED and isinstance(value, dict):
            value = {n: _map_schemas(v, fn, f"{at}/{_escape(n)}") for n, v in value.items()}
        elif key == "dependencies" and isinstance(value, dict):  # draft-07: schema or names
            value = {
                n: v if isinstance(v, list) else _map_schemas(v, fn, f"{at}/{_escape(n)}")
                for n, v in value.items()
            }
        out[key] = value
    return fn(out, where)


def _escape(name: str) -> str:
    return quote(name.replace("~", "~0").replace("/", "~1"), safe="$~!&'()*+,;=:@")


def _unescape(segment: str) -> str:
    return unquote(segment).replace("~1", "/").replace("~0", "~")


# --- 2020-12 to draft-07 -----------------------------------------------------------------------

# 2020-12 (and 2019-09) keywords that draft-07 has no words for; an editor would ignore them, so
# they are left out, with a warning when they assert something
_NO_DRAFT_07 = {
    "$dynamicRef": True,
    "$recursiveRef": True,
    "unevaluatedItems": True,
    "unevaluatedProperties": True,
    "minContains": True,
    "maxContains": True,
    "contentSchema": False,  # annotations only
    "$dynamicAnchor": False,
    "$recursiveAnchor": False,
    "$vocabulary": False,
    "deprecated": False,
}


def to_draft_07(schema: dict, warnings: list[str] | None = None) -> dict:
    """``schema`` (2020-12) as a draft-07 schema that says the same wherever draft-07 can
    (see the module's docstring); each keyword it cannot say is named in ``warnings``."""
    root = schema
    notes = warnings if warnings is not None else []

    def translate(node: dict, where: str) -> dict:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _NO_DRAFT_07:
                if _NO_DRAFT_07[key]:
                    notes.append(
                        f"{where}: draft-07 has no {key}: left out (editors will not check it; "
                        f"--draft 2020-12 keeps it)"
                    )
            elif key == "$defs":
                out.setdefault("definitions", {})
                for name, sub in value.items():
                    if name in out["definitions"]:
                        notes.append(f"{where}: both $defs and definitions define {name!r}")
                    out["definitions"][name] = sub
            elif key == "definitions":
                out["definitions"] = {**value, **out.get("definitions", {})}
            elif key == "prefixItems":
                out["items"] = value
                if "items" in node:
                    out["additionalItems"] = node["items"]
            elif key == "items" and "prefixItems" in node:
                pass  # additionalItems, above
            elif key in ("dependentRequired", "dependentSchemas", "dependencies"):
                deps = out.setdefault("dependencies", {})
                for name, sub in value.items():
                    if name in deps:  # both: one schema with both conditions
                        deps[name] = {"allOf": [_dependency(deps[name]), _dependency(sub)]}
                    else:
                        deps[name] = sub
            elif key == "$anchor":
                if "$id" in node:
                    notes.append(f"{where}: $anchor beside $id: left out")
                else:
                    out["$id"] = f"#{value}"
            elif key == "$ref" and isinstance(value, str):
                out[key] = _ref_07(root, value)
            else:
                out[key] = value
        if "$ref" in out and len(out) > 1:  # draft-07 ignores a $ref's siblings: keep them
            ref = {"$ref": out.pop("$ref")}
            out["allOf"] = [*out.get("allOf", []), ref]  # appended: other pointers still hold
        return out

    return _map_schemas(schema, translate)


def _dependency(value: Any) -> Any:
    """A draft-07 ``dependencies`` value as a schema (a list of names is a ``required``)."""
    return {"required": value} if isinstance(value, list) else value


def _ref_07(root: Any, ref: str) -> str:
    """A ``$ref`` into the 2020-12 document ``root`` as the same place in its draft-07
    translation (``#/$defs/a/prefixItems/0`` -> ``#/definitions/a/items/0``)."""
    if not ref.startswith("#/"):
        return ref  # the root, an anchor or another document: the same in both
    segments = [_unescape(s) for s in ref[2:].split("/")]
    out: list[str] = []
    node = root
    i = 0
    while i < len(segments):
        seg = segments[i]
        if not isinstance(node, dict):
            break
        nxt = segments[i + 1] if i + 1 < len(segments) else None
        if seg in _NAMED and nxt is not None:
            renamed = {"$defs": "definitions", "dependentSchemas": "dependencies"}.get(seg, seg)
            out += [renamed, nxt]
            node = (node.get(seg) or {}).get(nxt)
            i += 2
        elif (seg in _LIST or (seg == "items" and isinstance(node.get(seg), list))) and (
            nxt is not None and nxt.isdigit()
        ):
            out += ["items" if seg == "prefixItems" else seg, nxt]
            items = node.get(seg) or []
            node = items[int(nxt)] if int(nxt) < len(items) else None
            i += 2
        elif seg == "items" and "prefixItems" in node:
            out.append("additionalItems")
            node = node.get(seg)
            i += 1
        elif seg in _ONE or seg == "items":
            out.append(seg)
            node = node.get(seg)
            i += 1
        else:
            break  # into data (a `default`, say): the rest is the same
    out += segments[i:]
    return "#/" + "/".join(_escape(s) for s in out)
