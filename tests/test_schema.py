"""``blockc schema``: the template with every block's options as a JSON Schema, draft-07 (the
default, for editors) or 2020-12; each as strict as ``blockc validate`` where a schema can say
it; ``--check FILE`` for CI. (tests/test_editor.py puts it in a real editor.)"""

from __future__ import annotations

import json

import pytest
import yaml
from compiler_support import EXAMPLE_FILES, EXAMPLES
from jsonschema import Draft7Validator, Draft202012Validator

from blockc import testing
from blockc.compiler.schema import (
    DEFAULT_DRAFT,
    DRAFTS,
    SCHEMA_ID,
    block_schema,
    combined_schema,
    schema_text,
    to_draft_07,
)
from blockc.compiler.validate import template_schema
from blockc.types import BlockType, Contributions

VALIDATORS = {"07": Draft7Validator, "2020-12": Draft202012Validator}

# keywords of 2020-12 (and 2019-09) that draft-07 lacks or reads otherwise
NOT_DRAFT_07 = {
    "$defs",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$vocabulary",
    "prefixItems",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedItems",
    "unevaluatedProperties",
    "minContains",
    "maxContains",
    "contentSchema",
    "deprecated",
}
SUBSCHEMA = {"additionalItems", "additionalProperties", "contains", "else", "if", "items", "not"}
SUBSCHEMA |= {"propertyNames", "then", "unevaluatedItems", "unevaluatedProperties"}
SUBSCHEMAS = {"allOf", "anyOf", "oneOf", "prefixItems"}
NAMED = {"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"}


def keywords(schema, found=None) -> set[str]:
    """Every keyword used anywhere in ``schema`` (property names and data left out)."""
    found = set() if found is None else found
    if not isinstance(schema, dict):
        return found
    for key, value in schema.items():
        found.add(key)
        if key in SUBSCHEMA or (key == "items" and isinstance(value, dict)):
            keywords(value, found)
        elif key in SUBSCHEMAS or (key == "items" and isinstance(value, list)):
            for v in value:
                keywords(v, found)
        elif key in NAMED or key == "dependencies":
            for v in value.values():
                keywords(v, found)
    return found


def refs(schema) -> list[str]:
    out = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref":
                out.append(value)
            elif key not in ("enum", "const", "default", "examples"):
                out += refs(value)
    elif isinstance(schema, list):
        for v in schema:
            out += refs(v)
    return out


def resolve(schema: dict, ref: str):
    node = schema
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@pytest.fixture(scope="module")
def cli_schemas(tmp_path_factory) -> dict[str, dict]:
    from compiler_support import run_cli

    home = tmp_path_factory.mktemp("home")
    out = {}
    for draft in DRAFTS:
        proc = run_cli("schema", "--draft", draft, home=home)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""  # no keyword lost in translation
        out[draft] = json.loads(proc.stdout)
    return out


@pytest.fixture(params=sorted(DRAFTS))
def draft(request) -> str:
    return request.param


def installed_types(schema: dict) -> set[str]:
    items = schema["properties"]["spec"]["properties"]["blocks"]["items"]
    return set(items["properties"]["type"]["enum"])


def test_the_default_is_draft_07(cli, cli_schemas):
    assert DEFAULT_DRAFT == "07"
    proc = cli("schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == cli_schemas["07"]


def test_draft_07_is_a_valid_draft_07_schema_with_draft_07_words_only(cli_schemas):
    schema = cli_schemas["07"]
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] == SCHEMA_ID
    Draft7Validator.check_schema(schema)
    assert not keywords(schema) & NOT_DRAFT_07
    assert "definitions" in schema
    for ref in refs(schema):
        assert ref.startswith("#/definitions/"), ref
        assert isinstance(resolve(schema, ref), dict), ref
    for key, sub in schema["definitions"].items():
        assert "$ref" not in sub or len(sub) == 1, key  # draft-07 ignores a $ref's siblings


def test_draft_2020_12_is_a_valid_2020_12_schema(cli_schemas):
    schema = cli_schemas["2020-12"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert "definitions" not in keywords(schema)
    for ref in refs(schema):
        assert ref.startswith("#/$defs/") and isinstance(resolve(schema, ref), dict), ref


def test_both_drafts_say_the_same(cli_schemas):
    """The draft-07 document is the 2020-12 one translated: with the words swapped back, equal."""
    text = json.dumps(cli_schemas["07"], sort_keys=True)
    text = text.replace('"definitions"', '"$defs"').replace("#/definitions/", "#/$defs/")
    text = text.replace(DRAFTS["07"], DRAFTS["2020-12"])
    assert json.loads(text) == cli_schemas["2020-12"]


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_the_examples_are_valid_in_both_drafts(cli_schemas, example, installed_registry):
    data = yaml.safe_load(example.read_text())
    if any(b["type"] not in installed_types(cli_schemas["07"]) for b in data["spec"]["blocks"]):
        pytest.skip("needs block types that are not installed")
    from blockc.compiler import try_compile

    assert try_compile(example, registry=installed_registry)[1] == []  # valid for validate
    for draft, schema in cli_schemas.items():
        errors = list(VALIDATORS[draft](schema).iter_errors(data))
        assert not errors, (draft, [e.message for e in errors])


R_DEB = {"version": "2024.12.0+467", "sha256": "a" * 64}

# one wrong value per kind of option (and of envelope field), and where the error is
# fmt: off
BAD = [
    # the envelope
    ({"metadata": {"name": "Data_Science"}}, None, "name"),
    ({"spec": {"image": {"base": "docker.io/Library/python"}}}, None, "base"),
    ({"spec": {"image": {"base": "x", "user": {"uid": 0}}}}, None, "uid"),
    ({"spec": {"env": {"BLOCKC_X": "1"}}}, None, "env"),
    (None, {"type": "app", "id": "Web", "with": {"command": ["x"], "port": 8000}}, "id"),
    (None, {"type": "no-such-type"}, "type"),
    (None, {"type": "port", "with": {"port": 8000}, "whith": {}}, "whith"),
    # core blocks: port, path mode, HTTP path, label, argv, env, boolean, unknown/missing key
    (None, {"type": "app", "with": {"command": ["x"], "port": "8000"}}, "port"),
    (None, {"type": "app", "with": {"command": ["x"], "port": 80}}, "port"),
    (None, {"type": "app", "with": {"command": ["x"], "port": 8000, "comand": []}}, "comand"),
    (None, {"type": "app", "with": {"port": 8000}}, "command"),
    (None, {"type": "app", "with": {"command": [], "port": 8000}}, "command"),
    (None, {"type": "app", "with": {"command": ["x"], "port": 8000, "env": {"A-B": "1"}}}, "env"),
    (None, {"type": "app", "with": {"command": ["x"], "port": 8000, "websocket": "yes"}}, "websocket"),
    (None, {"type": "port", "with": {"port": 8000, "path": "strp"}}, "path"),
    (None, {"type": "port", "with": {"port": 8000, "health": "healthz"}}, "health"),
    (None, {"type": "port", "with": {"port": 8000, "label": "a\tb"}}, "label"),
    # packages: Debian name, PEP 508 requirement, index URL
    (None, {"type": "system-packages", "with": {"apt": ["Git"]}}, "apt"),
    (None, {"type": "system-packages", "with": {"apt": ["git; rm -rf /"]}}, "apt"),
    (None, {"type": "python-packages", "with": {"packages": ["requests $(id)"]}}, "packages"),
    (None, {"type": "python-packages", "with": {"packages": ["x"], "index_url": "ftp://x"}}, "index_url"),
    # files and paths: relative, absolute, mode
    (None, {"type": "files", "with": {"files": [{"src": "../x", "dest": "/x"}]}}, "src"),
    (None, {"type": "files", "with": {"files": [{"src": "x", "dest": "x"}]}}, "dest"),
    (None, {"type": "files", "with": {"files": [{"src": "x", "dest": "/x", "mode": "755x"}]}}, "mode"),
    (None, {"type": "dockerfile", "with": {"instructions": "RUN x", "phase": "launch"}}, "phase"),
    (None, {"type": "file-sync", "with": {"zones": [{"name": "W", "host": ".", "container": "/w"}]}}, "name"),
    (None, {"type": "file-sync", "with": {"zones": [{"name": "w", "host": ".", "container": "/a/../b"}]}}, "container"),
    (None, {"type": "file-sync", "with": {"zones": [{"name": "w", "host": ".", "container": "/w", "direction": "up"}]}}, "direction"),
    # kubernetes: quantity, labels, DNS names, enums
    (None, {"type": "kubernetes", "with": {"resources": {"limits": {"cpu": "lots"}}}}, "cpu"),
    (None, {"type": "kubernetes", "with": {"labels": {"team": "a b"}}}, "team"),
    (None, {"type": "kubernetes", "with": {"serviceAccountName": "Bob"}}, "serviceAccountName"),
    (None, {"type": "kubernetes", "with": {"tolerations": [{"operator": "Maybe"}]}}, "operator"),
    # the app plugins: versions (PEP 440, npm, RStudio), extensions, .vsix, script, sha256
    (None, {"type": "jupyterlab", "with": {"version": "latest!"}}, "version"),
    (None, {"type": "jupyterlab", "with": {"extensions": ["not a requirement!"]}}, "extensions"),
    (None, {"type": "jupyterlab", "with": {"port": "abc"}}, "port"),
    (None, {"type": "vscode", "with": {"version": "latest"}}, "version"),
    (None, {"type": "vscode", "with": {"extensions": ["python"]}}, "extensions"),
    (None, {"type": "vscode", "with": {"vsix": ["ext.zip"]}}, "vsix"),
    (None, {"type": "vscode", "with": {"node": "24.x"}}, "node"),
    (None, {"type": "vscode", "with": {"gallery": "open-vsx.org"}}, "gallery"),
    (None, {"type": "streamlit", "with": {"app": "app.sh"}}, "app"),
    (None, {"type": "streamlit", "with": {"app": "app.py", "src": "/abs.py"}}, "src"),
    (None, {"type": "streamlit", "with": {"version": "1.*"}}, "app"),
    (None, {"type": "rstudio", "with": {**R_DEB, "version": "2024.12"}}, "version"),
    (None, {"type": "rstudio", "with": {**R_DEB, "sha256": "abc"}}, "sha256"),
    # what the template needs: rstudio needs R (a block that provides it, or the base image)
    (None, {"type": "rstudio", "with": R_DEB}, "provides"),
]
# fmt: on


def _with(data: dict, envelope: dict | None) -> dict:
    def merge(into: dict, extra: dict) -> None:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(data, envelope or {})
    return data


def _errors_at(errors, where: str) -> bool:
    def paths(e):
        yield e
        for c in e.context or ():
            yield from paths(c)

    return any(
        where in [str(p) for p in sub.absolute_path]
        or where in sub.message
        or where in json.dumps(sub.schema)
        for e in errors
        for sub in paths(e)
    )


@pytest.mark.parametrize("envelope,block,where", BAD, ids=[w for _, _, w in BAD])
def test_a_wrong_value_is_refused_by_both_drafts_and_by_validate(
    cli_schemas, installed_registry, tmp_path, envelope, block, where
):
    data = _with(yaml.safe_load((EXAMPLES / "minimal.yaml").read_text()), envelope)
    if block is not None:
        if block["type"] in installed_types(cli_schemas["07"]) | {"no-such-type"}:
            data["spec"]["blocks"].append(block)
        else:
            pytest.skip(f"block type {block['type']} is not installed")
    for draft, schema in cli_schemas.items():
        errors = list(VALIDATORS[draft](schema).iter_errors(data))
        assert errors, f"draft {draft} accepts it"
        assert _errors_at(errors, where), (draft, [e.message for e in errors])
    result = testing.compile_template(data, tmp_path, registry=installed_registry)
    assert not result.ok, "blockc validate accepts it: the case is wrong"


def test_what_rstudio_needs_can_come_from_a_block_or_the_base_image(cli_schemas):
    if "rstudio" not in installed_types(cli_schemas["07"]):
        pytest.skip("rstudio is not installed")
    rstudio = {"type": "rstudio", "with": R_DEB}
    with_block = testing.template({"type": "system-packages", "with": {"apt": ["r-base"]}}, rstudio)
    with_image = testing.template(rstudio, image={"provides": ["r"]})
    without = testing.template(rstudio, image={"provides": ["node"]})
    for draft, schema in cli_schemas.items():
        check = VALIDATORS[draft](schema)
        assert check.is_valid(with_block) and check.is_valid(with_image), draft
        assert not check.is_valid(without), draft


def test_the_output_is_deterministic(cli):
    first, second = cli("schema"), cli("schema")
    assert first.stdout == second.stdout and first.stdout.endswith("}\n")
    schema = json.loads(first.stdout)
    assert first.stdout == schema_text(schema)  # sorted keys
    enum = schema["properties"]["spec"]["properties"]["blocks"]["items"]["properties"]["type"]
    assert enum["enum"] == sorted(enum["enum"])


# --- --check -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--draft", "2020-12"], ["--block", "app"]])
def test_check_passes_on_fresh_output(cli, tmp_path, args):
    saved = tmp_path / "blockc.schema.json"
    saved.write_text(cli("schema", *args).stdout)
    proc = cli("schema", *args, "--check", saved)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and "up to date" in proc.stderr


def test_check_fails_with_a_diff_on_a_stale_file(cli, tmp_path):
    fresh = cli("schema").stdout
    schema = json.loads(fresh)
    del schema["definitions"]["block-port"]["properties"]["label"]  # as an older blockc said
    schema["definitions"]["block-port"]["properties"]["lable"] = {"type": "string"}
    saved = tmp_path / "blockc.schema.json"
    saved.write_text(schema_text(schema))
    proc = cli("schema", "--check", saved)
    assert proc.returncode == 1
    assert f"{saved} is out of date" in proc.stderr
    assert f"blockc schema > {saved}" in proc.stderr  # how to regenerate it
    diff = proc.stdout.splitlines()
    assert diff[0] == f"--- {saved}" and diff[1] == "+++ blockc schema"
    assert any(line.startswith("@@ ") for line in diff)
    assert any(line.startswith("-") and '"lable"' in line for line in diff)
    assert any(line.startswith("+") and '"label"' in line for line in diff)
    assert saved.read_text() == schema_text(schema)  # --check writes nothing


def test_check_names_the_draft_of_the_file(cli, tmp_path):
    saved = tmp_path / "blockc.schema.json"
    saved.write_text(cli("schema", "--draft", "2020-12").stdout)
    proc = cli("schema", "--check", saved)
    assert proc.returncode == 1
    assert "is a draft 2020-12 schema: check it with --draft 2020-12" in proc.stderr


def test_check_of_a_missing_file_is_a_clear_error(cli, tmp_path):
    missing = tmp_path / "nope.json"
    proc = cli("schema", "--check", missing)
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"{missing}: no such file" in proc.stderr
    assert f"blockc schema > {missing}" in proc.stderr
    proc = cli("schema", "--check", tmp_path)
    assert proc.returncode == 1 and "is a directory" in proc.stderr
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{}")
    proc = cli("schema", "--check", binary)
    assert proc.returncode == 1 and "not UTF-8" in proc.stderr


def test_cli_draft_is_checked(cli):
    proc = cli("schema", "--draft", "04")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


# --- the schemas, as functions ---------------------------------------------------------------


def test_combined_schema_has_every_block_type(core_registry, draft):
    schema = combined_schema(core_registry, draft)
    VALIDATORS[draft].check_schema(schema)
    defs = schema["definitions" if draft == "07" else "$defs"]
    assert set(defs) == {f"block-{n}" for n in core_registry.types}
    for name, entry in core_registry.types.items():
        published = defs[f"block-{name}"]["properties"]
        assert set(published) == set(entry.type.schema["properties"])
        # as given, plus the editor's messages
        assert without_messages(published) == entry.type.schema["properties"], name
        Draft202012Validator.check_schema(dict(entry.type.schema))


def without_messages(schema):
    if isinstance(schema, dict):
        return {k: without_messages(v) for k, v in schema.items() if k != "patternErrorMessage"}
    if isinstance(schema, list):
        return [without_messages(v) for v in schema]
    return schema


def test_a_pattern_with_a_kind_has_the_editors_message(core_registry):
    schema = combined_schema(core_registry, "07")
    mode = schema["definitions"]["block-files"]["properties"]["files"]["items"]["properties"]
    assert mode["mode"]["patternErrorMessage"] == "Not a valid octal file mode like 0644."


def test_template_schema_file_is_valid():
    Draft202012Validator.check_schema(template_schema())


def test_cli_schema_block(cli, draft):
    proc = cli("schema", "--block", "file-sync", "--draft", draft)
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema["$schema"] == DRAFTS[draft]
    VALIDATORS[draft].check_schema(schema)
    assert schema["required"] == ["zones"] and schema["additionalProperties"] is False
    proc = cli("schema", "--block", "file-snyc")
    assert proc.returncode == 1 and "did you mean 'file-sync'?" in proc.stderr


# --- 2020-12 words a plugin may use, in draft-07 -----------------------------------------------

PLUGIN_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.org/fancy.json",
    "type": "object",
    "additionalProperties": False,
    "$defs": {
        "name": {"type": "string", "pattern": "^[a-z]+$", "x-kind": "lowercase name"},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
    },
    "properties": {
        "owner": {"$ref": "#/$defs/name", "description": "who"},  # a $ref with a sibling
        "point": {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "integer"}],
            "items": False,
        },
        "pair": {"$ref": "#/$defs/pair"},
        "first": {"$ref": "#/$defs/pair/prefixItems/0"},
        "tree": {
            "type": "object",
            "properties": {"child": {"$ref": "#/properties/tree"}},
            "additionalProperties": False,
        },
        "user": {"type": "string"},
        "password": {"type": "string"},
        "token": {"type": "string"},
    },
    "dependentRequired": {"user": ["password"]},
    "dependentSchemas": {"token": {"not": {"required": ["password"]}}},
}
FANCY = BlockType(
    name="fancy",
    schema=PLUGIN_SCHEMA,
    contribute=lambda ctx: Contributions(),
    description="2020-12 words",
)
SAMPLES = [
    ({"owner": "bob"}, True),
    ({"owner": "Bob"}, False),
    ({"point": [1, 2]}, True),
    ({"point": [1, 2, 3]}, False),
    ({"point": ["1", 2]}, False),
    ({"pair": ["a", 1]}, True),
    ({"pair": [1, "a"]}, False),
    ({"first": "a"}, True),
    ({"first": 1}, False),
    ({"tree": {"child": {"child": {}}}}, True),
    ({"tree": {"child": {"kid": {}}}}, False),
    ({"user": "u", "password": "p"}, True),
    ({"user": "u"}, False),
    ({"token": "t"}, True),
    ({"token": "t", "password": "p"}, False),
]


@pytest.fixture(scope="module")
def fancy_schemas():
    registry = testing.register_block_type(FANCY)
    warnings: list[str] = []
    schemas = {d: combined_schema(registry, d, warnings) for d in DRAFTS}
    assert warnings == []
    return schemas


def test_2020_12_words_are_translated_to_draft_07(fancy_schemas):
    schema = fancy_schemas["07"]
    Draft7Validator.check_schema(schema)
    assert not keywords(schema) & NOT_DRAFT_07
    fancy = schema["definitions"]["block-fancy"]
    assert "$schema" not in fancy and "$id" not in fancy
    assert fancy["properties"]["owner"] == {
        "allOf": [{"$ref": "#/definitions/block-fancy/definitions/name"}],
        "description": "who",
    }
    assert fancy["properties"]["point"]["additionalItems"] is False
    assert fancy["properties"]["first"] == {
        "$ref": "#/definitions/block-fancy/definitions/pair/items/0"
    }
    assert fancy["properties"]["tree"]["properties"]["child"] == {
        "$ref": "#/definitions/block-fancy/properties/tree"
    }
    assert fancy["dependencies"] == {
        "user": ["password"],
        "token": {"not": {"required": ["password"]}},
    }
    name = fancy["definitions"]["name"]
    assert name["patternErrorMessage"] == "Not a valid lowercase name."


@pytest.mark.parametrize("options,valid", SAMPLES, ids=[json.dumps(o) for o, _ in SAMPLES])
def test_both_drafts_judge_a_plugins_options_alike(fancy_schemas, options, valid):
    data = testing.template({"type": "fancy", "with": options})
    assert Draft202012Validator(PLUGIN_SCHEMA).is_valid(options) is valid  # the case is right
    for draft, schema in fancy_schemas.items():
        assert VALIDATORS[draft](schema).is_valid(data) is valid, draft


def test_what_draft_07_cannot_say_is_left_out_with_a_warning():
    warnings: list[str] = []
    schema = to_draft_07(
        {
            "type": "object",
            "properties": {"a": {"type": "array", "contains": {"const": 1}, "minContains": 2}},
            "unevaluatedProperties": False,
            "deprecated": True,
        },
        warnings,
    )
    assert schema == {
        "type": "object",
        "properties": {"a": {"type": "array", "contains": {"const": 1}}},
    }
    assert warnings == [
        "#/properties/a: draft-07 has no minContains: left out (editors will not check it; "
        "--draft 2020-12 keeps it)",
        "#: draft-07 has no unevaluatedProperties: left out (editors will not check it; "
        "--draft 2020-12 keeps it)",
    ]


def test_block_schema_is_a_document_of_its_own(draft):
    schema = block_schema(PLUGIN_SCHEMA, draft)
    VALIDATORS[draft].check_schema(schema)
    assert schema["$schema"] == DRAFTS[draft]
    if draft == "07":
        assert schema["properties"]["pair"] == {"$ref": "#/definitions/pair"}
    assert VALIDATORS[draft](schema).is_valid({"pair": ["a", 1], "owner": "bob"})
    assert not VALIDATORS[draft](schema).is_valid({"pair": [1, "a"]})
