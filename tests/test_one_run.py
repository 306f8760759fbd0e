"""Every problem of a template that parses comes in one run, sorted by position: envelope,
option, requirement and conflict errors together; YAML's typing traps get a hint to quote the
value as written; image references say what is wrong with them; and a plugin's default port
yields to the ports an admin wrote."""

from __future__ import annotations

import pytest
from blockc_jupyterlab import JUPYTERLAB
from blockc_rstudio import RSTUDIO
from blockc_streamlit import STREAMLIT

from blockc import testing
from blockc.compiler.explain import explain
from blockc.types import BlockType, Contributions

TEMPLATE = """\
apiVersion: blockc/v1
kind: StudioTemplate
metadata:
  name: Bad_Name
spec:
  image:
    base: localhost/Base:1
    user: {uid: 0}
  env:
    N: 4
  blocks:
    - type: jupyterlab
      with: {port: 8888}
    - type: streamlit
      with: {app: app.py, port: 8888}
    - type: rstudio
      with: {version: "2024.12.0+467", sha256: "%s"}
    - type: python-packages
      with: {packages: [numpy], extra: 1}
""" % ("0" * 64)


@pytest.fixture(scope="module")
def registry():
    return testing.make_registry(
        testing.block_type_plugin(JUPYTERLAB, STREAMLIT, RSTUDIO), strict=True
    )


def test_every_error_in_one_run_sorted(tmp_path, registry):
    r = testing.compile_template(TEMPLATE, tmp_path, registry=registry)
    got = [(d.line, d.col, d.message) for d in r.diagnostics]
    assert [(line, col) for line, col, _ in got] == [
        r.where("Bad_Name"),
        r.where("localhost/Base:1"),
        r.where("0}"),
        r.where("4\n"),
        (r.where("port: 8888}\n    - type: rstudio")[0], r.where("8888}\n    - type: rs")[1]),
        r.where("rstudio"),
        r.where("extra"),
    ]
    messages = [m for _, _, m in got]
    assert "is not a valid Template name" in messages[0]
    assert messages[1] == (
        '"localhost/Base:1" is not a valid image reference: repository names are lowercase: '
        "'Base' (write 'base')"
    )
    assert "uid 0 is root" in messages[2]
    assert messages[3] == "expected a string, got integer 4"
    assert "port 8888 is already used by block 'jupyterlab'" in messages[4]
    assert "needs r, which nothing in this template provides" in messages[5]
    assert "unknown key 'extra'" in messages[6]
    assert r.diagnostics[3].hint == 'quote it: "4"'


@pytest.mark.parametrize(
    "written,hint",
    [("4.10", 'quote it: "4.10"'), ("yes", 'quote it: "yes"'), ("4", 'quote it: "4"')],
)
def test_yaml_typing_traps_get_the_text_as_written(tmp_path, registry, written, hint):
    r = testing.compile_block(JUPYTERLAB, f"version: {written}", tmp_path, registry=registry)
    (d,) = r.diagnostics
    assert d.message.startswith("expected a string, got ") and d.hint == hint


@pytest.mark.parametrize(
    "ref,why",
    [
        ("docker.io/Library/python", "repository names are lowercase: 'Library'"),
        ("Docker.io/library/python", "write the registry host in lowercase: 'docker.io'"),
        ("python:3.12 slim", "it contains ' '"),
        ("python:-bad", "the tag '-bad' may hold only"),
        ("python@sha256:abc", "the digest 'sha256:abc' is not sha256: and 64"),
        ("repo//python", "it has an empty path component"),
        ("py$thon", "'$' is not allowed in a repository name"),
        ("py..thon", "'py..thon': a path component starts and ends with a letter or digit"),
    ],
)
def test_image_reference_errors_say_what_is_wrong(tmp_path, ref, why):
    block = {"type": "port", "with": {"port": 8000}}
    r = testing.compile_template(testing.template(block, base=ref), tmp_path)
    (d,) = r.diagnostics
    assert d.message.startswith(f'"{ref}" is not a valid image reference: {why}'), d.message


def test_a_plugins_default_port_yields_to_a_written_one(tmp_path, registry):
    after = """
        - type: streamlit
          with: {app: app.py, port: 8888}
        - type: jupyterlab
          id: lab2
    """
    r = testing.compile_block(JUPYTERLAB, None, tmp_path, id="lab", after=after, registry=registry)
    assert r.ok, r.messages
    ports = {a["id"]: a["port"] for a in r.artifact.studio["apps"]}
    assert ports == {"lab": 8889, "streamlit": 8888, "lab2": 8890}
    overrides = r.artifact.studio["provenance"]["overrides"]
    assert overrides == [
        {"field": "port", "value": 8889, "replaced": 8888, "block": "lab", "by": "streamlit"},
        {"field": "port", "value": 8890, "replaced": 8888, "block": "lab2", "by": "streamlit"},
    ]
    assert "port: 8889, not the plugin's 8888 (8888 is taken by block 'streamlit')" in explain(
        r.artifact
    )
    # two written ports that clash stay a conflict, located at the second one
    r = testing.compile_block(
        JUPYTERLAB, {"port": 8888}, tmp_path, after=after, registry=registry, id="lab"
    )
    (d,) = r.diagnostics
    assert "port 8888 is already used by block 'lab'" in d.message and d.block_id == "streamlit"


def test_options_are_what_the_admin_wrote(tmp_path):
    seen = []

    def contribute(ctx):
        seen.append(dict(ctx.options))
        return Contributions()

    schema = {"type": "object", "properties": {"n": {"type": "integer", "default": 3}}}
    testing.compile_block(BlockType("d", schema, contribute), None, tmp_path)
    testing.compile_block(BlockType("d", schema, contribute), {"n": 4}, tmp_path)
    assert seen == [{}, {"n": 4}]  # no defaults filled in (docs/plugins.md)


def test_a_template_without_blocks(tmp_path):
    (d,) = testing.compile_template(testing.template(), tmp_path).diagnostics
    assert d.message == "needs at least 1 item" and d.path == ("spec", "blocks")


@pytest.mark.parametrize(
    "block", ["{type: jupyterlab, id: [lab]}", "{type: [x]}", "{type: streamlit, id: {a: 1}}"]
)
def test_odd_block_items_are_located_errors(tmp_path, registry, block):
    text = TEMPLATE.replace("    - type: jupyterlab\n      with: {port: 8888}", f"    - {block}")
    r = testing.compile_template(text, tmp_path, registry=registry)
    assert r.diagnostics and all(d.line for d in r.diagnostics), r.messages


def test_one_bad_entry_does_not_discard_its_neighbours(tmp_path, registry):
    after = """
        - type: rstudio
          with: {version: "2024.12.0+467", sha256: "%s"}
    """ % ("0" * 64)
    r = testing.compile_block(
        "app", {"command": ["x"], "port": 8000}, tmp_path, registry=registry,
        image={"provides": ["r", "R"]}, after=after,
    )  # fmt: skip
    (d,) = r.diagnostics  # the bad item, not a false "needs r" as well
    assert d.path == ("spec", "image", "provides", 1)
    env_type = BlockType("e", {"type": "object"}, lambda c: Contributions(env={"X": "plugin"}))
    text = testing.block_template("e", None, after="- type: e\n  id: e2").replace(
        "  blocks:", "  env: {X: admin, Y: 5}\n  blocks:"
    )
    r = testing.compile_template(text, tmp_path, registry=testing.register_block_type(env_type))
    (d,) = r.diagnostics  # Y's type, not a false conflict over X (which spec.env sets)
    assert d.path == ("spec", "env", "Y")


def test_a_non_string_path_gets_one_error(tmp_path):
    t = testing.template({"type": "port", "with": {"port": 8000}}, image={"workdir": 5})
    (d,) = testing.compile_template(t, tmp_path).diagnostics
    assert d.message == "expected a string, got integer 5" and d.hint == 'quote it: "5"'
