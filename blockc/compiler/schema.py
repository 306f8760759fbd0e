"""The combined JSON Schema: the template schema with each block type's options, so an
editor (the YAML language server) can complete and check ``with:`` per ``type:``."""

from __future__ import annotations

import copy

from .validate import template_schema


def combined_schema(registry) -> dict:
    schema = copy.deepcopy(template_schema())
    schema["$id"] = "https://blockc.dev/schemas/blockc.schema.json"
    block = schema["properties"]["spec"]["properties"]["blocks"]["items"]
    names = list(registry.types)
    block["properties"]["type"]["enum"] = names
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
