"""Every error of the render stage names file:line:col, blockc's own lines included (issue
13): a value the schema should have refused, forced past it, is located at its field."""

from __future__ import annotations

import pytest

from blockc import testing
from blockc.compiler import load, plan, render, resolve, validate
from blockc.types import BlockType, Contributions, Copy, Phase, Run, Step


def stages(path, registry, **image_changes):
    doc, _ = load.load_file(path)
    template, diags = validate.validate(doc, registry)
    assert not diags
    if image_changes:
        template = template.replace(image=template.image.replace(**image_changes))
    resolved, _ = resolve.resolve(template)
    planned, _ = plan.plan(resolved)
    return render.render(planned)


@pytest.mark.parametrize("field", ["workdir", "base", "user"])
def test_blockcs_own_lines_are_located_at_their_field(tmp_path, field):
    reg = testing.make_registry()
    path = testing.write_template(
        tmp_path, testing.template({"type": "port", "with": {"port": 8000}})
    )
    artifact, diags = stages(path, reg, **{field: "x\x1b[2J"})
    assert artifact is None and diags
    for d in diags:
        assert d.line and d.col and "control character" in d.message
        assert d.path[-1] == {"user": "name"}.get(field, field)


@pytest.mark.parametrize(
    "instruction,message",
    [
        (Run([("echo", "a\x1b[31m")]), "control character"),
        (Copy("blocks/p/nothing", "/x"), "which no block wrote"),
    ],
)
def test_a_blocks_render_problem_is_located_at_the_block(tmp_path, instruction, message):
    bt = BlockType(
        "p", {"type": "object"}, lambda c: Contributions(steps=[Step(Phase.APP, [instruction])])
    )
    r = testing.compile_block(bt, None, tmp_path)
    (d,) = r.diagnostics
    assert message in d.message and (d.line, d.col) == r.where("type: p") and d.block_id == "p"
