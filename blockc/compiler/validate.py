"""Validate: the template's envelope and every block's options against their JSON Schemas, all
problems at once, each located at file:line:col and naming its block.

Each schema gets two validators:

- a yes/no check, the schema compiled to Python by fastjsonschema (its generated code is kept
  in blockc's cache: compiling the schemas of one template costs ~20 ms at each command start);
- when that says no (or the schema uses keywords that differ between its draft-07 and 2020-12),
  jsonschema's Draft 2020-12 validator, which names every error. A template is invalid only if
  jsonschema finds an error, so the fast check never rejects what the reference accepts.

``--strict`` also checks the generated manifests against the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

import functools
import json
import marshal
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import fastjsonschema

from .. import cache
from ..errors import Diagnostic, did_you_mean
from ..names import image_reference_problem
from ..plugins import Registry, clash_message
from ..types import StudioImage
from .load import Document
from .model import BlockSpec, Template
from .schema import template_schema

DEFAULT_USER = {"name": "studio", "uid": 1000, "gid": 1000}
KUBERNETES_VERSION = "1.34.0"  # the OpenAPI schemas `--strict` checks manifests against


def validate(
    doc: Document, registry: Registry, *, base_image: str | None = None
) -> tuple[Template | None, list[Diagnostic]]:
    """The checked template and the problems found. The template holds the blocks without
    problems, and defaults where the envelope has them, so that the later stages report their
    problems in the same run (a template with problems is never compiled)."""
    data = doc.data
    if not isinstance(data, dict):
        message = "a template is a mapping with apiVersion, kind, metadata and spec"
        return None, [Diagnostic(message, file=doc.file, line=1, col=1)]
    diags = locate(doc, (), schema_errors(data, template_schema()))
    if base_image is not None and schema_errors(base_image, _base_image_schema()):
        diags.append(
            Diagnostic(
                f"--base-image: {base_image!r} is not a valid base image reference",
                file=doc.file,
                path=("spec", "image", "base"),
            )
        )
    spec: dict[str, Any] = data["spec"] if isinstance(data.get("spec"), dict) else {}
    raw_blocks: list[Any] = spec["blocks"] if isinstance(spec.get("blocks"), list) else []
    blocks: list[BlockSpec] = []
    seen: dict[str, int] = {}
    broken = sorted(info.name for info, _ in registry.broken)
    for index, raw in enumerate(raw_blocks):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            continue  # reported by the template schema
        btype, bid = raw["type"], raw.get("id", raw["type"])
        path = ("spec", "blocks", index)
        entry = registry.get(btype)
        if entry is None:
            if btype in registry.clashes:
                message, hint = clash_message(btype, registry.clashes[btype])
            else:
                message = f"unknown block type '{btype}'"
                if broken:
                    message += f" (plugins that failed to load: {', '.join(broken)})"
                hint = did_you_mean(btype, registry.types) or "see `blockc plugins`"
            line, col = doc.where(path + ("type",))
            diags.append(
                Diagnostic(
                    message,
                    file=doc.file,
                    line=line,
                    col=col,
                    block_id=bid,
                    block_type=btype,
                    hint=hint,
                    path=path + ("type",),
                )
            )
            continue
        if not isinstance(bid, str):
            continue  # reported by the template schema
        if bid in seen:
            line, col = doc.where(path + ("id",) if "id" in raw else path)
            first = doc.where(("spec", "blocks", seen[bid]))[0]
            diags.append(
                Diagnostic(
                    f"duplicate block id '{bid}' (first used by the block at line {first}); give "
                    f"one of them another `id:`",
                    file=doc.file,
                    line=line,
                    col=col,
                    block_id=bid,
                    block_type=btype,
                    path=path,
                )
            )
            continue
        seen[bid] = index
        options = raw.get("with", {})
        if not isinstance(options, dict):
            continue  # reported by the template schema
        block = BlockSpec(index, bid, btype, options, entry)
        try:
            problems = schema_errors(options, entry.type.schema)
        except Exception as exc:  # the plugin's own schema is broken: name it, no traceback
            line, col = doc.where(path)
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            diags.append(
                Diagnostic(
                    f"the block type's options schema is invalid: {type(exc).__name__}: "
                    f"{first_line}",
                    file=doc.file,
                    line=line,
                    col=col,
                    path=path,
                    **block.who(),
                )
            )
            continue
        diags += locate(doc, path + ("with",), problems, **block.who())
        blocks.append(block)
    failed = {_block_index(d.path) for d in diags}
    # The envelope's own problems are reported; the later stages go on with defaults in their
    # place, so that one run reports the blocks' problems and conflicts too.
    # (a missing key is reported at its parent, whose other keys stand)
    bad = {
        d.path[:4]
        for d in diags
        if _block_index(d.path) is None and d.path and not d.message.startswith("missing")
    }

    def ok(*path: str | int) -> bool:
        return not any(p[: len(path)] == path or path[: len(p)] == p for p in bad)

    meta: dict[str, Any] = data["metadata"] if isinstance(data.get("metadata"), dict) else {}
    image: dict[str, Any] = spec["image"] if isinstance(spec.get("image"), dict) else {}
    user: dict[str, Any] = dict(DEFAULT_USER)
    if ok("spec", "image", "user"):
        user.update(image.get("user", {}))
    studio_image = StudioImage(
        base=base_image
        or (image["base"] if ok("spec", "image", "base") and "base" in image else "invalid"),
        user=user["name"],
        uid=user["uid"],
        gid=user["gid"],
        workdir=image.get("workdir", "")
        if ok("spec", "image", "workdir") and "workdir" in image
        else f"/home/{user['name']}/workspace",
        provides=[
            cap
            for i, cap in enumerate(image.get("provides", ()))
            if ok("spec", "image", "provides", i) and isinstance(cap, str)
        ]
        if isinstance(image.get("provides"), list)
        else (),
    )
    template = Template(
        doc=doc,
        name=meta["name"] if ok("metadata", "name") and "name" in meta else "template",
        description=meta.get("description", "") if ok("metadata", "description") else "",
        labels=meta.get("labels", {}) if ok("metadata", "labels") else {},
        image=studio_image,
        env={k: v for k, v in spec["env"].items() if ok("spec", "env", k)}
        if isinstance(spec.get("env"), dict)
        else {},
        blocks=tuple(b for b in blocks if b.index not in failed),
        registry=registry,
    )
    return template, diags


def _block_index(path: tuple) -> int | None:
    """The index of the block a document path lies in, if any."""
    if len(path) >= 3 and path[:2] == ("spec", "blocks") and isinstance(path[2], int):
        return path[2]
    return None


def _base_image_schema() -> dict:
    return template_schema()["properties"]["spec"]["properties"]["image"]["properties"]["base"]


# --- schema checks ---------------------------------------------------------------------------


class SchemaError(NamedTuple):
    message: str
    path: tuple  # relative to the checked value
    at_key: bool  # the error is about the key at ``path``, not its value
    hint: str | None


def schema_errors(instance: Any, schema: Mapping) -> list[SchemaError]:
    """Every error of ``instance`` against ``schema`` (none: it is valid)."""
    fast = _fast_check(schema)
    if fast is not None:
        try:
            fast(instance)
            return []
        except fastjsonschema.JsonSchemaException:
            pass  # jsonschema says which errors, and whether there really are any
    errors = []
    for err in _reference_validator(schema).iter_errors(instance):
        if err.validator == "propertyNames":  # report the offending key, not the whole mapping
            for sub in err.context or ():
                path = tuple(err.absolute_path) + (sub.instance,)
                errors.append(
                    SchemaError(f"'{sub.instance}' is not an allowed key here", path, True, None)
                )
            continue
        errors.extend(_describe(err))
    errors = list(dict.fromkeys(errors))  # jsonschema reports each missing key once per key
    errors.sort(key=lambda e: tuple(str(p) for p in e.path))
    return errors


def locate(doc: Document, prefix: tuple, errors: list[SchemaError], **who) -> list[Diagnostic]:
    """Schema errors of the value at ``prefix`` in ``doc``, as located diagnostics."""
    diags = []
    for message, rel, at_key, hint in errors:
        path = tuple(prefix) + tuple(rel)
        line, col = doc.where(path, key=at_key)
        if hint is QUOTE:
            written = doc.written.get(path)
            hint = f"quote it: {json.dumps(written)}" if written else None
        diags.append(
            Diagnostic(message, file=doc.file, line=line, col=col, hint=hint, path=path, **who)
        )
    return diags


# keywords that mean the same in draft-07 (fastjsonschema) and 2020-12
# fmt: off
_FAST_KEYWORDS = {
    "$schema", "$id", "title", "description", "default", "examples", "type", "enum", "const",
    "properties", "additionalProperties", "required", "propertyNames", "maxProperties",
    "minProperties", "patternProperties", "items", "minItems", "maxItems", "uniqueItems",
    "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "not", "anyOf", "oneOf", "allOf", "x-kind", "x-message",
}
# fmt: on
_fast: dict[int, tuple[Mapping, Callable | None]] = {}  # id(schema) -> (schema, check)
_reference: dict[int, tuple[Mapping, Any]] = {}


def _fast_check(schema: Mapping) -> Callable | None:
    """fastjsonschema's check of ``schema`` (None where it cannot judge it as 2020-12 does)."""
    hit = _fast.get(id(schema))
    if hit is None:
        check = None
        if _same_in_both_drafts(schema):
            try:
                check = _compiled(schema)
            except Exception:  # a schema fastjsonschema cannot compile: the reference judges
                check = None
        hit = _fast[id(schema)] = (schema, check)  # the schema is kept: its id stays its own
    return hit[1]


def _same_in_both_drafts(schema: Any) -> bool:
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping) or not set(schema) <= _FAST_KEYWORDS:
        return False
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            if not all(_same_in_both_drafts(v) for v in value.values()):
                return False
        elif key in ("additionalProperties", "items", "not", "propertyNames"):
            if not _same_in_both_drafts(value):
                return False
        elif key in ("anyOf", "oneOf", "allOf"):
            if not all(_same_in_both_drafts(v) for v in value):
                return False
    return True


def _compiled(schema: Mapping) -> Callable:
    """fastjsonschema's code for ``schema``: generated once, then loaded from the cache."""
    body = json.dumps(
        {k: v for k, v in schema.items() if k not in ("$schema", "$id")}, sort_keys=True
    )
    entry = cache.key("schema", body, fastjsonschema.VERSION)
    data = cache.get("schemas", entry)
    code = marshal.loads(data) if data else None
    if code is None:
        # use_default=False: options are what the admin wrote (docs/plugins.md); filled-in
        # defaults would also change the template's own data
        source = fastjsonschema.compile_to_code(json.loads(body), use_default=False)
        code = compile(source, f"<schema {entry[:12]}>", "exec")
        cache.put("schemas", entry, marshal.dumps(code))
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["validate"]


def _reference_validator(schema: Mapping):
    hit = _reference.get(id(schema))
    if hit is None:
        # imported here, on the way to an error message: a valid template never needs it
        # (tests/test_imports.py holds `blockc compile` to that)
        hit = _reference[id(schema)] = (schema, _ecma_validator()(schema))
    return hit[1]


@functools.cache
def _ecma_validator():
    """Draft 2020-12 as JSON Schema says `pattern` works: an ECMA-262 regular expression,
    whose `$` is the end of the text. Python's `$` also matches before a final newline, so
    `"web\\n"` would pass `^[a-z]+$` (and split a Containerfile line, a supervisor section, a
    label); fastjsonschema already reads `$` as the end."""
    import jsonschema
    from jsonschema import Draft202012Validator

    def pattern(validator, patrn, instance, schema):
        if validator.is_type(instance, "string") and not _ecma(patrn).search(instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {patrn!r}")

    return jsonschema.validators.extend(Draft202012Validator, {"pattern": pattern})


@functools.cache
def _ecma(pattern: str) -> re.Pattern:
    """``pattern`` with each `$` (outside a character class, unescaped) as `\\Z`."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return re.compile("".join(out))


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    for cls, name in (
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (list, "list"),
        (dict, "mapping"),
    ):
        if isinstance(value, cls):
            return name
    return "null"


_USERINFO = re.compile(r"(://)[^/@\s\"]*@")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    text = _USERINFO.sub(r"\1***@", text)  # a password in a URL stays out of CI logs
    return text if len(text) <= 60 else text[:57] + "..."


QUOTE = "quote it"  # a hint filled in with the text as written (`locate`)

# what exactly is wrong with a value of an ``x-kind`` whose pattern says only yes or no
_EXPLAIN: dict[str, Callable[[str], str]] = {"image reference": image_reference_problem}


def _describe(err) -> Iterator[SchemaError]:
    """One jsonschema error in the user's words."""
    path = tuple(err.absolute_path)
    v, inst, sch = err.validator, err.instance, err.schema
    if "x-message" in sch and v not in ("type", "additionalProperties", "required"):
        yield SchemaError(sch["x-message"], path, False, None)  # the schema's own words
    elif v == "additionalProperties" and isinstance(inst, dict):
        known = set(sch.get("properties", {}))
        for key in inst:
            if key not in known:
                yield SchemaError(
                    f"unknown key '{key}'", path + (key,), True, did_you_mean(key, known)
                )
    elif v == "required":
        for key in err.validator_value:
            if key not in inst:
                yield SchemaError(f"missing required key '{key}'", path, False, None)
    elif v == "type":
        want = (
            [err.validator_value] if isinstance(err.validator_value, str) else err.validator_value
        )
        names = " or ".join(_TYPE_NAMES.get(w, w) for w in want)
        # YAML read `4.10`, `yes` or `1e3` as no string: the text as written, quoted, is one
        hint = QUOTE if "string" in want and not isinstance(inst, list | dict) else None
        yield SchemaError(f"expected {names}, got {_kind(inst)} {_show(inst)}", path, False, hint)
    elif v in ("enum", "const"):
        choices = err.validator_value if v == "enum" else [err.validator_value]
        hint = did_you_mean(inst, [str(c) for c in choices]) if isinstance(inst, str) else None
        yield SchemaError(
            f"{_show(inst)} is not one of {', '.join(_show(c) for c in choices)}", path, False, hint
        )
    elif v in ("pattern", "maxLength") and sch.get("x-kind") in _EXPLAIN:
        why = _EXPLAIN[sch["x-kind"]](inst)
        yield SchemaError(f"{_show(inst)} is not a valid {sch['x-kind']}: {why}", path, False, None)
    elif v == "not" and not isinstance(inst, str) and set(err.validator_value) <= {"pattern"}:
        return  # a pattern says nothing of a non-string: its type error is the one to read
    elif v == "pattern" or (v == "not" and isinstance(inst, str)):
        what = sch.get("x-kind") or sch.get("description")
        message = (
            f"{_show(inst)} is not a valid {what}" if what else f"{_show(inst)} is not allowed here"
        )
        yield SchemaError(message, path, False, None)
    elif v == "maxItems" and isinstance(inst, list):
        n = err.validator_value
        yield SchemaError(f"has {len(inst)} items; at most {n} are allowed", path, False, None)
    elif v == "maxProperties" and isinstance(inst, dict):
        n = err.validator_value
        yield SchemaError(f"has {len(inst)} keys; at most {n} are allowed", path, False, None)
    elif v == "maxLength" and isinstance(inst, str):
        n = err.validator_value
        yield SchemaError(
            f"is {len(inst)} characters long; at most {n} are allowed", path, False, None
        )
    elif v == "minItems" and isinstance(inst, list):
        n = err.validator_value
        yield SchemaError(f"needs at least {n} item{'s' if n != 1 else ''}", path, False, None)
    elif v == "propertyNames":
        yield SchemaError(f"'{inst}' is not an allowed key here", path + (inst,), True, None)
    else:  # jsonschema's words, with the value cut short (it may be a whole list)
        message = err.message
        if len(message) > 300:
            message = f"{_show(inst)} is not allowed here ({v}: {_show(err.validator_value)})"
        yield SchemaError(message, path, False, None)


# --- strict: the manifests against the Kubernetes schemas -------------------------------------


def check_manifests(objects: list[dict], where: str = "manifests.yaml") -> list[Diagnostic]:
    """Problems of Kubernetes objects against the Kubernetes OpenAPI schemas
    (kubernetes-validate, offline)."""
    import kubernetes_validate  # only for --strict (it loads the OpenAPI schemas)
    from kubernetes_validate.utils import InvalidSchemaError, SchemaNotFoundError, ValidationError

    diags = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except ValidationError as exc:
            err = getattr(exc, "caused_by", exc)  # older releases wrapped the jsonschema error
            path = ".".join(str(p) for p in err.path)
            diags.append(Diagnostic(f"{where}: {name}: {path}: {err.message}"))
        except (SchemaNotFoundError, InvalidSchemaError) as exc:
            diags.append(Diagnostic(f"{where}: {name}: cannot validate: {exc}"))
    return diags
