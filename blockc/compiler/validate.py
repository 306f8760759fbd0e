"""Validate: JSON Schema checks with located, readable errors.

Two validators per schema, both built once and cached:

- a fast yes/no check: the schema compiled to Python by fastjsonschema, whose code is cached
  on disk (``$BLOCKC_HOME/cache/schemas``), so a valid template costs no jsonschema import;
- when that says no (or the schema uses keywords it does not know), jsonschema's
  Draft 2020-12 validator, which reports every error with its path.

A template is invalid only if jsonschema finds an error, so the fast check can never reject
what the reference validator accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import Diagnostic, did_you_mean

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_validators: dict[int, tuple[Any, Any]] = {}


@lru_cache(maxsize=1)
def template_schema() -> dict:
    return json.loads((Path(__file__).parent / "template.schema.json").read_text())


# keywords that mean the same in draft-07 (fastjsonschema) and 2020-12
_FAST_KEYWORDS = {
    "$schema",
    "$id",
    "title",
    "description",
    "default",
    "examples",
    "type",
    "enum",
    "const",
    "properties",
    "additionalProperties",
    "required",
    "propertyNames",
    "maxProperties",
    "minProperties",
    "patternProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "not",
    "anyOf",
    "oneOf",
    "allOf",
    "x-kind",
    "x-message",
}
_SCHEMA_MAPS = {"properties", "patternProperties"}
_fast: dict[int, tuple[Any, Any]] = {}
_CODEGEN = 3  # bump when the generated code is post-processed differently


def _fast_ok(schema) -> bool:
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping) or not set(schema) <= _FAST_KEYWORDS:
        return False
    if "format" in schema:
        return False
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and not all(_fast_ok(v) for v in value.values()):
            return False
        if key in ("additionalProperties", "items", "not", "propertyNames") and not _fast_ok(value):
            return False
        if key in ("anyOf", "oneOf", "allOf") and not all(_fast_ok(v) for v in value):
            return False
    return True


def _fast_validator(schema: Mapping):
    """The cached fastjsonschema check, or None when the schema needs the reference validator."""
    hit = _fast.get(id(schema))
    if hit is not None:
        return hit[1]
    func = None
    if _fast_ok(schema):
        try:
            func = _load_fast(schema)
        except Exception:  # a schema fastjsonschema cannot compile: use the reference validator
            func = None
    _fast[id(schema)] = (schema, func)
    return func


class _Invalid(ValueError):
    def __init__(self, *args, **kwargs):
        super().__init__(*args)


class _LazyPattern:
    """A regex compiled on first use: a template uses a few of its schemas' many patterns,
    and compiling them all costs more than validating."""

    def __init__(self, pattern, flags=0):
        self._args = (pattern, flags)
        self._re = None

    def __getattr__(self, name):
        if self._re is None:
            import re

            self._re = re.compile(*self._args)
        return getattr(self._re, name)


def _load_fast(schema: Mapping):
    import hashlib
    import marshal
    import os
    import sys

    from ..home import blockc_home

    body = json.dumps(schema, sort_keys=True)
    key = hashlib.sha256(f"{_CODEGEN}\0{sys.version}\0{body}".encode()).hexdigest()[:32]
    path = blockc_home() / "cache" / "schemas" / f"{key}.marshal"
    code = None
    if not os.environ.get("BLOCKC_NO_CACHE"):
        try:
            code = marshal.loads(path.read_bytes())
        except (OSError, ValueError, EOFError):
            code = None
    if code is None:
        import fastjsonschema

        source = fastjsonschema.compile_to_code(
            {k: v for k, v in json.loads(body).items() if k not in ("$schema", "$id")}
        )
        source = (
            source.replace(
                "from fastjsonschema import JsonSchemaValueException, JsonSchemaValuesException",
                "JsonSchemaValueException = JsonSchemaValuesException = _Invalid",
            )
            .replace("from decimal import Decimal", "class Decimal: pass  # no Decimal is ever fed")
            .replace("re.compile(", "_LazyPattern(")
        )
        code = compile(source, f"<schema {key}>", "exec")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps(code))
            os.replace(tmp, path)
        except OSError:
            pass
    namespace = {"_Invalid": _Invalid, "_LazyPattern": _LazyPattern}
    exec(code, namespace)
    return namespace["validate"]


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
    if "x-message" in sch and v not in ("type", "additionalProperties", "required"):
        yield (sch["x-message"], path, False, None)  # the schema's own words for this value
        return
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
        yield (
            f"{_show(inst)} is not one of {', '.join(_show(c) for c in choices)}",
            path,
            False,
            hint,
        )
        return
    if v == "pattern" or (v == "not" and isinstance(inst, str)):
        what = sch.get("x-kind") or sch.get("description")
        msg = (
            f"{_show(inst)} is not a valid {what}" if what else f"{_show(inst)} is not allowed here"
        )
        yield (msg, path, False, None)
        return
    if v == "propertyNames":
        key = inst
        yield (f"'{key}' is not an allowed key here", path + (key,), True, None)
        return
    yield (err.message, path, False, None)


def schema_errors(instance, schema: Mapping) -> list[tuple[str, tuple, bool, str | None]]:
    """All errors of ``instance`` against ``schema``, as (message, path, at_key, hint)."""
    fast = _fast_validator(schema)
    if fast is not None:
        try:
            fast(instance)
            return []
        except _Invalid:
            pass
    validator = _validator(schema)
    out = []
    for err in validator.iter_errors(instance):
        if err.validator == "propertyNames":
            # report the offending key, not the whole mapping
            for sub in err.context or ():
                out.append(
                    (
                        f"'{sub.instance}' is not an allowed key here",
                        tuple(err.absolute_path) + (sub.instance,),
                        True,
                        None,
                    )
                )
            continue
        out.extend(_describe(err))
    out = list(dict.fromkeys(out))  # jsonschema reports each missing key once per key
    out.sort(key=lambda e: tuple(str(p) for p in e[1]))
    return out


def locate(doc, prefix: tuple, errors, **block) -> list[Diagnostic]:
    """Turn schema errors at ``prefix`` in ``doc`` into Diagnostics."""
    diags = []
    for message, rel, at_key, hint in errors:
        path = tuple(prefix) + tuple(rel)
        line, col = doc.where(path, key=at_key)
        diags.append(
            Diagnostic(message, file=doc.file, line=line, col=col, hint=hint, path=path, **block)
        )
    return diags
