"""The JSON Schema of templates: the envelope (``template.schema.json``), and the combined schema
with every installed block type's options, so that an editor (the YAML language server) can
complete and check ``with:`` per ``type:`` (``blockc schema``)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from ..plugins import Registry


@cache
def template_schema() -> dict:
    """The template envelope: every key but the blocks' options (each block type's own)."""
    return json.loads((Path(__file__).parent / "template.schema.json").read_text())


def combined_schema(registry: Registry) -> dict:
    schema = copy.deepcopy(template_schema())
    schema["$id"] = "https://blockc.dev/schemas/blockc.schema.json"
    block = schema["properties"]["spec"]["properties"]["blocks"]["items"]
    block["properties"]["type"]["enum"] = list(registry.types)
    defs = schema.setdefault("$defs", {})
    rules = []
    for name, entry in registry.types.items():
        key = f"block-{name}"
        defs[key] = copy.deepcopy(dict(entry.type.schema))
        if entry.type.description:
            defs[key].setdefault("description", entry.type.description)
        rules.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"with": {"$ref": f"#/$defs/{key}"}}},
            }
        )
    block["allOf"] = rules
    return schema
