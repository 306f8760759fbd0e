"""A final newline is no part of any name (issue 13): Python's `$` matches before one, so
every pattern is a full match (ECMA-262's `$` in JSON Schemas). Each string of every example
template, and each key, gets a "\\n" appended: the template must be refused, but for the few
places where a newline is text (env values, admin-written Containerfile lines)."""

from __future__ import annotations

import copy

import pytest
import yaml
from compiler_support import EXAMPLES

from blockc import testing
from blockc.errors import BlockcError
from blockc.names import check_owner, check_studio

# where a newline is data, not part of a name
TEXT = {
    ("metadata", "description"),
    ("spec", "env", "*"),  # env values, here and an app's
    ("spec", "blocks", "*", "with", "env", "*"),
    ("spec", "blocks", "*", "with", "instructions"),  # the dockerfile block's own lines
    ("spec", "blocks", "*", "with", "command"),  # argv words: JSON data, never a shell line
    ("spec", "blocks", "*", "with", "settings"),  # VS Code's settings: JSON data
    ("spec", "blocks", "*", "with", "annotations", "*"),  # Kubernetes annotation values
    ("spec", "blocks", "*", "with", "version"),  # a PEP 440 specifier: white space is allowed
    ("spec", "blocks", "*", "with", "node"),
}
TEXT_KEYS = {("spec", "blocks", "*", "with", "settings", "*")}  # JSON keys: data


def leaves(data, path=()):
    """(path, kind) of every string value ("value") and every mapping key ("key")."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield path + (k,), "key"
            yield from leaves(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from leaves(v, path + (i,))
    elif isinstance(data, str):
        yield path, "value"


def is_text(path, kind) -> bool:
    return any(
        len(path) >= len(t) and all(a == "*" or a == b for a, b in zip(t, path, strict=False))
        for t in (TEXT if kind == "value" else TEXT_KEYS)
    )


def with_newline(data, path, kind):
    data = copy.deepcopy(data)
    parent = data
    for p in path[:-1]:
        parent = parent[p]
    if kind == "key":
        parent[path[-1] + "\n"] = parent.pop(path[-1])
    else:
        parent[path[-1]] += "\n"
    return data


CASES = [
    (example.name, path, kind)
    for example in sorted(EXAMPLES.glob("*.yaml"))
    for path, kind in leaves(yaml.safe_load(example.read_text()))
    if not is_text(path, kind) and path[:1] != ("apiVersion",)
]


@pytest.mark.parametrize(
    "example,path,kind", CASES, ids=[f"{e}:{'.'.join(map(str, p))}:{k}" for e, p, k in CASES]
)
def test_a_trailing_newline_is_refused(tmp_path, installed_registry, example, path, kind):
    data = yaml.safe_load((EXAMPLES / example).read_text())
    assert testing.compile_template(data, tmp_path / "ok", registry=installed_registry,
                                    files=_side_files(example)).ok  # fmt: skip
    bad = with_newline(data, path, kind)
    r = testing.compile_template(bad, tmp_path / "bad", registry=installed_registry,
                                 files=_side_files(example))  # fmt: skip
    assert not r.ok, f"{'.'.join(map(str, path))} ({kind}) took a trailing newline"
    assert all(d.line for d in r.diagnostics if d.file), r.messages


def _side_files(example):
    """The files next to an example that its blocks read."""
    return {
        p.relative_to(EXAMPLES).as_posix(): p.read_bytes()
        for p in EXAMPLES.rglob("*")
        if p.is_file() and p.parent != EXAMPLES
    }


@pytest.mark.parametrize("check", [check_studio, check_owner])
def test_names_on_the_command_line(check):
    assert check("s1") == "s1"
    with pytest.raises(BlockcError):
        check("s1\n")
