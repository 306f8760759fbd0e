"""Validate: JSON Schema checks with located, readable errors.

Validators are built once per schema and cached for the life of the process.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator, Mapping

from .errors import Diagnostic, did_you_mean

_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}
_validators: dict[int, tuple[Any, Any]] = {}


@lru_cache(maxsize=1)
def template_schema() -> dict:
    return json.loads(resources.files("blockc").joinpath("schemas/template.schema.json").read_text())


def _validator(schema: Mapping):
    hit = _validators.get(id(schema))
    if hit is None:
        from jsonschema import Draft202012Validator

        hit = (schema, Draft202012Validator(schema))
        _validators[id(schema)] = hit
    return hit[1]


def check_schema(schema: Mapping) -> str | None:
    """A problem with a block type's own schema, or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


def _kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "null"


def _show(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(err) -> Iterator[tuple[str, tuple, bool, str | None]]:
    """(message, relative path, points-at-key, hint) for one jsonschema error."""
    path = tuple(err.absolute_path)
    v, inst, sch = err.validator, err.instance, err.schema
    if v == "additionalProperties" and isinstance(inst, dict):
        known = set(sch.get("properties", {}))
        for key in inst:
            if key not in known:
                yield (f"unknown key '{key}'", path + (key,), True, did_you_mean(key, known))
        return
    if v == "required":
        missing = [k for k in err.validator_value if k not in inst]
        for k in missing:
            yield (f"missing required key '{k}'", path, False, None)
        return
    if v == "type":
        want = err.validator_value
        want = [want] if isinstance(want, str) else want
        names = " or ".join(_TYPE_NAMES.get(w, w) for w in want)
        yield (f"expected {names}, got {_kind(inst)} {_show(inst)}", path, False, None)
        return
    if v in ("enum", "const"):
        choices = err.validator_value if v == "enum" else [err.validator_value]
        hint = did_you_mean(inst, [str(c) for c in choices]) if isinstance(inst, str) else None
        yield (f"{_show(inst)} is not one of {', '.join(_show(c) for c in choices)}",
               path, False, hint)
        return
    if v == "pattern" or (v == "not" and isinstance(inst, str)):
        what = sch.get("x-kind") or sch.get("description")
        msg = f"{_show(inst)} is not a valid {what}" if what else f"{_show(inst)} is not allowed here"
        yield (msg, path, False, None)
        return
    if v == "propertyNames":
        key = inst
        yield (f"'{key}' is not an allowed key here", path + (key,), True, None)
        return
    yield (err.message, path, False, None)


def schema_errors(instance, schema: Mapping) -> list[tuple[str, tuple, bool, str | None]]:
    """All errors of ``instance`` against ``schema``, as (message, path, at_key, hint)."""
    validator = _validator(schema)
    out = []
    for err in validator.iter_errors(instance):
        if err.validator == "propertyNames":
            # report the offending key, not the whole mapping
            for sub in err.context or ():
                out.append((f"'{sub.instance}' is not an allowed key here",
                            tuple(err.absolute_path) + (sub.instance,), True, None))
            continue
        out.extend(_describe(err))
    out.sort(key=lambda e: tuple(str(p) for p in e[1]))
    return out


def locate(doc, prefix: tuple, errors, **block) -> list[Diagnostic]:
    """Turn schema errors at ``prefix`` in ``doc`` into Diagnostics."""
    diags = []
    for message, rel, at_key, hint in errors:
        path = tuple(prefix) + tuple(rel)
        line, col = doc.where(path, key=at_key)
        diags.append(Diagnostic(message, file=doc.file, line=line, col=col, hint=hint,
                                path=path, **block))
    return diags
