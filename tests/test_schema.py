"""``blockc schema``: a valid 2020-12 JSON Schema of the template with every block's options."""

from __future__ import annotations

import json

import pytest
import yaml
from compiler_support import EXAMPLE_FILES, EXAMPLES
from jsonschema import Draft202012Validator

from blockc.compiler.schema import combined_schema
from blockc.compiler.validate import template_schema


@pytest.fixture(scope="module")
def cli_schema(tmp_path_factory):
    from compiler_support import run_cli

    proc = run_cli("schema", home=tmp_path_factory.mktemp("home"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cli_schema_is_valid_2020_12(cli_schema):
    assert cli_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(cli_schema)


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_cli_schema_validates_the_examples(cli_schema, example):
    data = yaml.safe_load(example.read_text())
    known = set(
        cli_schema["properties"]["spec"]["properties"]["blocks"]["items"]["properties"]["type"][
            "enum"
        ]
    )
    if any(b["type"] not in known for b in data["spec"]["blocks"]):
        pytest.skip("needs block types that are not installed")
    errors = list(Draft202012Validator(cli_schema).iter_errors(data))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(
    "block,path",
    [
        ({"type": "app", "with": {"command": ["x"], "port": "8000"}}, "port"),
        ({"type": "app", "with": {"command": ["x"], "port": 8000, "comand": []}}, "with"),
        ({"type": "port", "with": {"port": 8000, "path": "strp"}}, "path"),
        ({"type": "no-such-type"}, "type"),
    ],
)
def test_cli_schema_catches_bad_options_per_type(cli_schema, block, path):
    data = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    data["spec"]["blocks"].append(block)
    errors = list(Draft202012Validator(cli_schema).iter_errors(data))
    assert errors
    assert any(
        path in [str(p) for p in e.absolute_path]
        or path in e.message
        or any(path in [str(p) for p in c.absolute_path] for c in e.context or ())
        for e in errors
    ), [e.message for e in errors]


def test_combined_schema_has_every_block_type(core_registry):
    schema = combined_schema(core_registry)
    Draft202012Validator.check_schema(schema)
    assert set(schema["$defs"]) == {f"block-{n}" for n in core_registry.types}
    for name, entry in core_registry.types.items():
        assert schema["$defs"][f"block-{name}"]["properties"] == entry.type.schema["properties"]
        Draft202012Validator.check_schema(dict(entry.type.schema))


def test_template_schema_file_is_valid():
    Draft202012Validator.check_schema(template_schema())


def test_cli_schema_block(cli):
    proc = cli("schema", "--block", "file-sync")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["zones"] and schema["additionalProperties"] is False
    proc = cli("schema", "--block", "file-snyc")
    assert proc.returncode == 1 and "did you mean 'file-sync'?" in proc.stderr
