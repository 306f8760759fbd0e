"""Issue 2, "Bad input": each case fails with located diagnostics, never a crash."""

from __future__ import annotations

import os
import re
import time
import tracemalloc

import pytest

from blockc import testing
from blockc.compiler import load
from blockc.errors import BlockcError
from blockc.testing import template

APP = {
    "type": "app",
    "id": "web",
    "with": {"command": ["python3", "-m", "http.server", "8000"], "port": 8000},
}
LOCATED = re.compile(r"^\S+\.yaml:\d+:\d+: error: ")


def only(result):
    assert not result.ok, "expected the template to be refused"
    return result.diagnostics


def assert_located(result):
    """Every diagnostic names file:line:col."""
    for d in only(result):
        assert d.file and d.line and d.col, d
        assert LOCATED.match(d.format()), d.format()


# --- load ----------------------------------------------------------------------------------


def test_broken_yaml(compile_t):
    r = compile_t("apiVersion: blockc/v1\nkind: [StudioTemplate\nspec: {}\n")
    assert_located(r)
    assert "invalid YAML" in r.diagnostics[0].message


def test_broken_yaml_bad_indentation(compile_t):
    r = compile_t("apiVersion: blockc/v1\n  kind: StudioTemplate\n kind: x\n")
    assert_located(r)


def test_duplicate_keys(compile_t):
    text = (
        "apiVersion: blockc/v1\nkind: StudioTemplate\nmetadata: {name: a}\n"
        "spec:\n  image: {base: docker.io/library/python:3.12}\n  blocks:\n"
        "    - type: port\n      with: {port: 8000, port: 8001}\n"
        "metadata: {name: b}\n"
    )
    r = compile_t(text)
    assert_located(r)
    msgs = [d.message for d in r.diagnostics]
    assert any("duplicate key 'port'" in m for m in msgs), msgs
    assert any("duplicate key 'metadata' (first at line 3)" in m for m in msgs), msgs
    assert {(d.line, d.col) for d in r.diagnostics} == {(8, 26), (9, 1)}


BOMB = """apiVersion: blockc/v1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_is_refused_fast_with_bounded_memory(tmp_path):
    path = testing.write_template(tmp_path, BOMB)
    tracemalloc.start()
    start = time.perf_counter()
    doc, diags = load.load_file(path)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.2, elapsed
    assert peak < 5 * 1024 * 1024, peak
    (d,) = diags
    assert doc is None
    assert "anchors are not allowed" in d.message and (d.line, d.col) == (2, 4)


def test_alias_alone_is_refused(compile_t):
    r = compile_t("apiVersion: blockc/v1\nkind: *x\n")
    assert_located(r)
    assert "alias" in r.diagnostics[0].message


def test_file_over_one_mib(compile_t):
    big = "apiVersion: blockc/v1\n" + "# padding padding padding padding\n" * 40000
    assert len(big) > 1024 * 1024
    (d,) = only(compile_t(big))
    assert "limited to 1 MiB" in d.message and d.file.endswith("template.yaml")


def test_exactly_one_mib_is_read(compile_t):
    text = "apiVersion: blockc/v1\n"
    text += "#" * (1024 * 1024 - len(text) - 1) + "\n"
    diags = only(compile_t(text))
    assert not any("1 MiB" in d.message for d in diags)  # loaded, then refused for its content


@pytest.mark.parametrize("content", ["", "   \n\n", "# just a comment\n", "---\n", "~\n"])
def test_empty_file(compile_t, content):
    (d,) = only(compile_t(content))
    assert "empty" in d.message or "is a mapping" in d.message
    assert d.line == 1 and d.col == 1


def test_binary_file(compile_t):
    (d,) = only(compile_t(bytes(range(256)) * 4))
    assert "binary" in d.message and (d.line, d.col) == (1, 1)


def test_not_utf8(compile_t):
    (d,) = only(compile_t(b"apiVersion: blockc/v1\nmetadata: {name: caf\xe9}\n"))
    assert "not valid UTF-8" in d.message and "0xe9" in d.message
    assert (d.line, d.col) == (2, 21)


def test_utf16_is_not_utf8(compile_t):
    (d,) = only(compile_t("apiVersion: blockc/v1\n".encode("utf-16")))
    assert "UTF-8" in d.message or "binary" in d.message


def test_not_a_mapping(compile_t):
    (d,) = only(compile_t("- just\n- a list\n"))
    assert "mapping" in d.message and d.line == 1


def test_several_documents(compile_t):
    r = compile_t("apiVersion: blockc/v1\n---\napiVersion: blockc/v1\n")
    assert_located(r)


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: !!python/object/apply:os.system ['echo pwned']\n",
        "apiVersion: !!python/name:os.system\n",
        "apiVersion: !custom {a: 1}\n",
        "apiVersion: !!set {a}\n",
    ],
)
def test_unsupported_tags_are_refused(compile_t, text):
    r = compile_t(text)
    assert_located(r)
    assert "unsupported YAML tag" in r.diagnostics[0].message, r.messages


@pytest.mark.parametrize(
    "text",
    ["  base: !!int x\n", "  base: !!float\n", "  base: !!bool maybe\n", "  base: !!float ''\n"],
)
def test_explicit_tags_with_values_they_cannot_hold(compile_t, text):
    r = compile_t("apiVersion: blockc/v1\nmetadata:\n" + text)
    (d,) = [d for d in r.diagnostics if "is not a valid" in d.message]
    assert (d.line, d.col) == (3, 9), r.messages


@pytest.mark.parametrize(
    "text, where", [("a: b\nc: \x01\n", (2, 4)), ("a: b\n\u00e9: x\nc: \x07", (3, 4))]
)
def test_characters_yaml_refuses_are_located(text, where):
    doc, (d,) = load.load_text(text, "t.yaml")
    assert doc is None
    assert "not allowed" in d.message and (d.line, d.col) == where


@pytest.mark.parametrize("libyaml", [True, False])
def test_deep_nesting_is_a_located_error(monkeypatch, libyaml):
    """libyaml stops at 1,000 levels, PyYAML's own composer recurses per level: either way one
    located error, never a RecursionError."""
    import yaml

    if not libyaml:
        monkeypatch.setattr(load, "_Loader", yaml.SafeLoader)
    for depth in (100, 900, 5000):
        text = "a: " + "[" * depth + "]" * depth + "\n"
        doc, (d,) = load.load_text(text, "t.yaml")
        assert doc is None and d.line and d.col, d
        assert "nested" in d.message or "nesting" in d.message, d.message


def test_absurd_numbers_are_refused_fast():
    for text in ("a: " + "9" * 5000 + "\n", "a: " + ":".join(["1"] * 150000) + "\n"):
        start = time.perf_counter()
        doc, (d,) = load.load_text(text, "t.yaml")
        assert time.perf_counter() - start < 0.5
        assert doc is None
        assert "is not a valid int" in d.message and "tagged" not in d.message
        assert len(d.message) < 100 and (d.line, d.col) == (1, 4)


def test_missing_file_and_directory(tmp_path):
    for path, text in ((tmp_path / "nope.yaml", "no such file"), (tmp_path, "directory")):
        doc, (d,) = load.load_file(path)
        assert doc is None and text in d.message


# --- validate ------------------------------------------------------------------------------


def test_unknown_block_type_with_did_you_mean(compile_t):
    r = compile_t(template({"type": "ap", "id": "web", "with": {}}))
    assert_located(r)
    (d,) = r.diagnostics
    assert d.message.startswith("unknown block type 'ap'")
    assert d.hint == "did you mean 'app'?"
    assert d.block_id == "web" and d.block_type == "ap"
    assert "block 'web' (ap)" in d.format()


def test_unknown_block_type_far_from_any(compile_t):
    (d,) = only(compile_t(template({"type": "xyzzy"})))
    assert "unknown block type 'xyzzy'" in d.message and "blockc plugins" in d.hint


def test_unknown_option_with_did_you_mean(compile_t):
    block = {"type": "app", "id": "web", "with": {"comand": ["x"], "command": ["x"], "port": 8000}}
    r = compile_t(template(block))
    assert_located(r)
    (d,) = r.diagnostics
    assert d.message == "unknown key 'comand'" and d.hint == "did you mean 'command'?"
    assert d.path == ("spec", "blocks", 0, "with", "comand")
    assert (d.block_id, d.block_type) == ("web", "app")
    assert "[plugin core (blockc" in d.format()


@pytest.mark.parametrize(
    "where,key,hint",
    [
        ("top", "apiVersoin", "apiVersion"),
        ("metadata", "lables", "labels"),
        ("spec", "blcoks", "blocks"),
        ("image", "bsae", "base"),
        ("block", "wiht", "with"),
    ],
)
def test_unknown_keys_anywhere(compile_t, where, key, hint):
    t = template(APP)
    target = {
        "top": t,
        "metadata": t["metadata"],
        "spec": t["spec"],
        "image": t["spec"]["image"],
        "block": t["spec"]["blocks"][0],
    }[where]
    target[key] = {}
    r = compile_t(t)
    assert_located(r)
    unknown = [d for d in r.diagnostics if d.message == f"unknown key '{key}'"]
    assert unknown and unknown[0].hint == f"did you mean '{hint}'?", r.messages


@pytest.mark.parametrize(
    "options,expect",
    [
        ({"command": "python3 -m http.server", "port": 8000}, "expected a list, got string"),
        ({"command": ["x"], "port": "8000"}, 'expected an integer, got string "8000"'),
        ({"command": ["x"], "port": 80}, "80 is less than the minimum of 1024"),
        ({"command": ["x"], "port": 8000, "websocket": "yes"}, "expected true or false"),
        ({"command": ["x"], "port": 8000, "path": "strp"}, '"strp" is not one of'),
        ({"command": ["x"], "port": 8000, "env": ["A=1"]}, "expected a mapping, got list"),
        ({"command": [1, 2], "port": 8000}, "expected a string, got integer 1"),
    ],
)
def test_wrong_types(compile_t, options, expect):
    r = compile_t(template({"type": "app", "id": "web", "with": options}))
    assert_located(r)
    assert any(expect in d.message for d in r.diagnostics), r.messages


def test_wrong_enum_gets_did_you_mean(compile_t):
    r = compile_t(
        template({"type": "app", "with": {"command": ["x"], "port": 8000, "path": "strp"}})
    )
    (d,) = r.diagnostics
    assert d.hint == "did you mean 'strip'?"


def test_wrong_types_in_envelope(compile_t):
    t = template(APP)
    t["spec"]["blocks"] = {"type": "app"}
    t["metadata"]["name"] = "Not_A_Label"
    r = compile_t(t)
    assert_located(r)
    assert len(r.diagnostics) == 2, r.messages


def test_no_blocks(compile_t):
    r = compile_t(template())
    assert_located(r)
    assert "should be non-empty" in r.diagnostics[0].message or "blocks" in r.messages[0]


def test_missing_required(compile_t):
    t = template(APP)
    del t["spec"]["image"]["base"]
    (d,) = only(compile_t(t))
    assert d.message == "missing required key 'base'" and d.path == ("spec", "image")


@pytest.mark.parametrize("user", [{"uid": 0}, {"gid": 0}, {"name": "root"}, {"uid": -1}])
def test_uid_0_and_root_refused(compile_t, user):
    t = template(APP)
    t["spec"]["image"]["user"] = user
    r = compile_t(t)
    assert_located(r)
    assert r.diagnostics[0].path[:3] == ("spec", "image", "user")


def test_two_apps_on_one_port(compile_t):
    r = compile_t(template(APP, {"type": "port", "id": "dev", "with": {"port": 8000}}))
    assert_located(r)
    (d,) = r.diagnostics
    assert "port 8000 is already used by block 'web' (app)" in d.message
    assert (d.block_id, d.block_type) == ("dev", "port")


def test_an_app_may_not_take_the_gates_port(compile_t):
    r = compile_t(template({"type": "port", "id": "dev", "with": {"port": 7750}}))
    assert_located(r)
    (d,) = r.diagnostics
    assert "port 7750 is blockc's own (the studio's gate" in d.message
    assert (d.block_id, d.path[-1]) == ("dev", "port")


def test_duplicate_block_ids(compile_t):
    r = compile_t(
        template({"type": "port", "with": {"port": 8000}}, {"type": "port", "with": {"port": 8001}})
    )
    assert_located(r)
    (d,) = r.diagnostics
    assert "duplicate block id 'port' (first used by the block at line 9)" in d.message
    assert d.path == ("spec", "blocks", 1) and d.line == 12


def test_block_id_not_a_label(compile_t):
    r = compile_t(template({"type": "port", "id": "My_Port", "with": {"port": 8000}}))
    assert_located(r)


def zones(*zs, **kw):
    return {"type": "file-sync", "id": kw.pop("id", "sync"), "with": {"zones": list(zs), **kw}}


def test_zone_container_path_clash(compile_t):
    r = compile_t(
        template(
            zones(
                {"name": "a", "host": "a", "container": "/home/studio/work"},
                {"name": "b", "host": "b", "container": "/home/studio/work/sub"},
            )
        )
    )
    assert_located(r)
    (d,) = r.diagnostics
    assert "clashes with zone 'a'" in d.message


def test_zone_clash_across_blocks_names_both(compile_t):
    r = compile_t(
        template(
            zones({"name": "a", "host": "a", "container": "/home/studio/work"}, id="one"),
            zones({"name": "b", "host": "b", "container": "/home/studio/work/"}, id="two"),
        )
    )
    (d,) = only(r)
    assert d.block_id == "two" and "of block 'one'" in d.message


def test_zone_host_clash_and_name_clash(compile_t):
    r = compile_t(
        template(
            zones(
                {"name": "a", "host": "data", "container": "/home/studio/a"},
                {"name": "b", "host": "data/raw", "container": "/home/studio/b"},
                {"name": "a", "host": "other", "container": "/home/studio/c"},
            )
        )
    )
    msgs = sorted(d.message for d in only(r))
    assert len(msgs) == 2 and "host path" in msgs[0] and "zone name 'a'" in msgs[1]


@pytest.mark.parametrize(
    "host", ["../outside", "a/../../b", "/etc", "/home/me/data", "..", "$HOME/x", "a\\..\\b"]
)
def test_zone_host_must_stay_in_workspace(compile_t, host):
    r = compile_t(template(zones({"name": "a", "host": host, "container": "/home/studio/a"})))
    assert_located(r)
    assert r.diagnostics[0].path[-1] == "host"


@pytest.mark.parametrize(
    "container",
    ["relative/path", "/home/studio/../../etc", "/etc", "/usr/local/x", "/", "/opt/blockc/bin"],
)
def test_zone_container_must_be_user_space(compile_t, container):
    r = compile_t(template(zones({"name": "a", "host": "a", "container": container})))
    assert_located(r)


@pytest.mark.parametrize("src", ["../secret.txt", "/etc/passwd", "a/../../x", "~/.ssh/id_rsa"])
def test_files_src_must_stay_next_to_template(compile_t, src):
    r = compile_t(
        template({"type": "files", "with": {"files": [{"src": src, "dest": "/home/studio/x"}]}})
    )
    assert_located(r)


def test_files_src_symlink_escape(compile_t, tmp_path):
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "link.txt").symlink_to(tmp_path / "outside.txt")
    r = testing.compile_template(
        template(
            {"type": "files", "with": {"files": [{"src": "link.txt", "dest": "/home/studio/x"}]}}
        ),
        tmp_path / "t",
        registry=testing.make_registry(),
    )
    assert_located(r)
    assert "outside the template's directory" in r.diagnostics[0].message


@pytest.mark.parametrize("dest", ["relative", "/home/studio/../../etc/x", "/a/$HOME", "/a\\b"])
def test_files_dest_must_be_absolute_and_plain(compile_t, dest):
    r = compile_t(
        template({"type": "files", "with": {"files": [{"src": "a.txt", "dest": dest}]}}),
        files={"a.txt": "x"},
    )
    assert_located(r)
    assert r.diagnostics[0].path[-1] == "dest"


def test_files_missing_src(compile_t):
    r = compile_t(
        template(
            {"type": "files", "with": {"files": [{"src": "nope.txt", "dest": "/home/studio/x"}]}}
        )
    )
    assert_located(r)
    assert "not found next to the template" in r.diagnostics[0].message


@pytest.mark.parametrize(
    "keyword",
    ["FROM", "USER", "CMD", "COPY", "ADD", "ENTRYPOINT", "SHELL", "HEALTHCHECK", "ONBUILD"],
)
def test_dockerfile_owned_instructions_refused(compile_t, keyword):
    text = f"RUN echo one\n{keyword.lower()} something\nENV A=1\n"
    r = compile_t(template({"type": "dockerfile", "id": "df", "with": {"instructions": text}}))
    assert_located(r)
    (d,) = r.diagnostics
    assert f"line 2: {keyword} is not allowed" in d.message
    assert (d.block_id, d.block_type) == ("df", "dockerfile")


def test_dockerfile_from_hidden_in_continuation_is_one_instruction(compile_t):
    # "FROM" after a continuation is an argument of RUN, not an instruction
    text = "RUN echo \\\n  FROM x\n"
    assert compile_t(template({"type": "dockerfile", "with": {"instructions": text}})).ok


def test_dockerfile_unknown_instruction_and_dangling_continuation(compile_t):
    text = "RUNN echo\nRUN echo \\\n"
    r = compile_t(template({"type": "dockerfile", "with": {"instructions": text}}))
    msgs = [d.message for d in only(r)]
    assert len(msgs) == 2
    assert "unknown instruction 'RUNN'" in msgs[0] and "line continuation" in msgs[1]


@pytest.mark.parametrize("apt", ["vim; rm -rf /", "Vim", "vim=1.0 && evil", "-oAPT::x=1", ""])
def test_bad_apt_names(compile_t, apt):
    r = compile_t(template({"type": "system-packages", "with": {"apt": [apt]}}))
    assert_located(r)


@pytest.mark.parametrize(
    "req",
    [
        "numpy; $(id)",
        "numpy &&",
        "-r requirements.txt",
        "--index-url=http://evil",
        "numpy>=1 extra junk",
    ],
)
def test_bad_python_requirements(compile_t, req):
    r = compile_t(template({"type": "python-packages", "with": {"packages": [req]}}))
    assert_located(r)


@pytest.mark.parametrize(
    "url",
    ["ftp://mirror/simple", "https://a b", "file:///etc", "https://x/'$(id)'", "https://x/`id`"],
)
def test_bad_index_urls(compile_t, url):
    r = compile_t(
        template({"type": "python-packages", "with": {"packages": ["numpy"], "index_url": url}})
    )
    assert_located(r)


def test_base_image_reference_checked(compile_t):
    r = compile_t(template(APP, base="python:3.12\nRUN curl evil | sh"))
    assert_located(r)


def test_base_image_option_is_checked_too(compile_t):
    """``--base-image`` replaces spec.image.base: it must not bypass its validation."""
    r = compile_t(template(APP), base_image="python:3.12\nRUN curl evil | sh")
    assert not r.ok
    assert "base image" in r.diagnostics[0].message
    assert compile_t(template(APP), base_image="registry.example.com:5000/py:3.12").ok


def test_env_var_names(compile_t):
    t = template(APP, env={"BAD-NAME": "x", "BLOCKC_STUDIO": "y"})
    r = compile_t(t)
    assert_located(r)
    assert len(r.diagnostics) == 2


def test_reserved_label_prefix(compile_t):
    r = compile_t(template({"type": "kubernetes", "with": {"labels": {"blockc.dev/owner": "x"}}}))
    assert_located(r)
    assert "reserved" in r.diagnostics[0].message


# --- all at once ---------------------------------------------------------------------------


def test_all_errors_reported_at_once(compile_t):
    t = template(
        {"type": "app", "id": "web", "with": {"command": ["x"], "port": "8000"}},
        {"type": "jupyterlba", "id": "lab"},
        {"type": "port", "id": "dev", "with": {"port": 9000, "lable": "Dev"}},
    )
    t["metadata"]["descripton"] = "typo"
    r = compile_t(t)
    assert_located(r)
    msgs = [d.message for d in r.diagnostics]
    assert len(msgs) == 4, msgs
    assert {d.block_id for d in r.diagnostics} == {None, "web", "lab", "dev"}


def test_errors_of_every_stage_reported_at_once(compile_t):
    """Schema errors, block errors (resolve) and conflicts (plan) come out of one run."""
    t = template(
        {"type": "app", "id": "web", "with": {"command": ["x"], "port": 8000, "lable": "x"}},
        {
            "type": "files",
            "id": "f",
            "with": {"files": [{"src": "missing.txt", "dest": "/home/studio/m"}]},
        },
        {"type": "port", "id": "a", "with": {"port": 9000}},
        {"type": "port", "id": "b", "with": {"port": 9000}},
    )
    r = compile_t(t)
    assert_located(r)
    by_block = {d.block_id: d.message for d in r.diagnostics}
    assert set(by_block) == {"web", "f", "b"}, r.messages
    assert "unknown key 'lable'" in by_block["web"]
    assert "not found next to the template" in by_block["f"]
    assert "port 9000 is already used by block 'a'" in by_block["b"]


# --- the CLI -------------------------------------------------------------------------------


def test_cli_validate_exit_codes_and_locations(cli, tmp_path):
    good = testing.write_template(tmp_path / "good", template(APP))
    bad = testing.write_template(
        tmp_path / "bad",
        template({"type": "ap", "id": "web"}, {"type": "port", "with": {"port": "x"}}),
    )
    ok = cli("validate", good)
    assert ok.returncode == 0 and "1 of 1 template(s) valid" in ok.stderr + ok.stdout
    fail = cli("validate", good, bad)
    assert fail.returncode == 1
    lines = [line for line in fail.stderr.splitlines() if "error:" in line]
    assert len(lines) == 2
    assert all(re.match(rf"^{re.escape(str(bad))}:\d+:\d+: error: block '", ln) for ln in lines)
    assert "did you mean 'app'?" in fail.stderr


def test_cli_validate_json(cli, tmp_path):
    import json

    bad = testing.write_template(tmp_path, template({"type": "port", "with": {"port": 1}}))
    proc = cli("validate", "--format", "json", bad)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    (err,) = data["results"][0]["errors"]
    assert err["line"] and err["col"] and err["block_type"] == "port"


def test_cli_validate_takes_directories(cli, tmp_path):
    """A repository of templates, checked in one run: every template under a directory, the
    other YAML files there named as skipped, files given by name always checked."""
    import json

    repo = tmp_path / "repo"
    good = testing.write_template(repo / "team-a", template(APP), filename="studio.yml")
    bad = testing.write_template(
        repo / "team-b" / "deep", template({"type": "port", "with": {"port": 1}})
    )
    broken = repo / "team-c" / "broken.yaml"  # it says it is a template, and does not load
    broken.parent.mkdir(parents=True)
    broken.write_text("apiVersion: blockc/v1\nkind: StudioTemplate\nmetadata: [\n")
    other = repo / "team-c" / "mkdocs.yml"  # no template
    other.write_text("site_name: docs\n")
    hidden = repo / ".git" / "x.yaml"  # never looked into
    hidden.parent.mkdir()
    hidden.write_text(template(APP)["kind"])
    (repo / "README.md").write_text("not YAML\n")
    compiled = repo / "team-a" / "build"  # an artifact committed beside its template
    compiled.mkdir()
    (compiled / "manifests.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nspec: {image: localhost/blockc/x}\n---\n"
        "apiVersion: v1\nkind: Service\n"
    )

    proc = cli("validate", "--format", "json", repo)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    results = {r["file"]: r["valid"] for r in data["results"]}
    assert results == {str(good): True, str(bad): False, str(broken): False}
    assert data["skipped"] == [str(compiled / "manifests.yaml"), str(other)]

    text = cli("validate", repo / "team-a", other)  # a file named is checked, template or not
    assert text.returncode == 1 and f"{other}:" in text.stderr
    assert "1 of 2 template(s) valid" in text.stderr
    assert cli("validate", repo / "team-a").returncode == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = cli("validate", empty)  # no template at all: no success to report
    assert nothing.returncode == 1 and "0 of 0 template(s) valid" in nothing.stderr


def test_validate_names_a_directory_it_cannot_read(tmp_path, monkeypatch):
    from blockc.compiler import find_templates

    (tmp_path / "locked").mkdir()
    real = os.scandir

    def scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    templates, skipped, (problem,) = find_templates([str(tmp_path)])
    assert (templates, skipped) == ([], [])
    assert problem.file == str(tmp_path / "locked") and "Permission denied" in problem.message


def test_cli_bad_files_exit_1_without_traceback(cli, tmp_path):
    contents = [
        b"",
        b"\x00\x01\x02binary",
        b"caf\xe9: 1\n",
        BOMB.encode(),
        b"a: [\n",
        b"- 1\n",
        b"x" * (1024 * 1024 + 1),
    ]
    paths = []
    for n, content in enumerate(contents):
        paths.append(tmp_path / f"t{n}.yaml")
        paths[-1].write_bytes(content)
    proc = cli("validate", *paths)  # one process, every file reported
    assert proc.returncode == 1
    for path in paths:
        assert f"{path}:" in proc.stderr
    assert "0 of 7 template(s) valid" in proc.stderr


def test_cli_usage_errors_exit_2(cli, tmp_path):
    assert cli("validate").returncode == 2
    assert cli("compile", tmp_path / "t.yaml").returncode == 2  # -o is required
    assert cli("no-such-command").returncode == 2
    assert cli().returncode == 2  # no command
    both = cli("sync", "demo", "--push", "--pull")  # one direction or the other
    assert both.returncode == 2 and "not allowed with argument --push" in both.stderr
    assert cli("exec", "demo", "--").returncode == 2  # no command to run
    assert cli("logs", "demo", "-n", "many").returncode == 2
    assert cli("start", tmp_path / "t.yaml", "--studio", "s", "--runtime", "moon").returncode == 2
    for argv in (("rm", "demo", "--f"), ("sync", "demo", "--allow"), ("--plug", "none", "status")):
        assert cli(*argv).returncode == 2, argv  # options by their whole name only


def test_cli_with_closed_or_departed_output(tmp_path):
    """`blockc status >&-`, `blockc plugins | head -1`: no traceback, no "internal error"."""
    import subprocess

    from compiler_support import BLOCKC

    env = {**os.environ, "BLOCKC_HOME": str(tmp_path / "home")}
    for cmd, code in (
        ("status >&-", 0),
        ("--version >&-", 0),
        ("status 2>&-", 0),
        ("plugins | head -c 1 >/dev/null", None),
    ):
        proc = subprocess.run(
            f"'{BLOCKC}' {cmd}; echo \"rc=${{PIPESTATUS[0]}}\" >&2",
            shell=True,
            executable="/bin/bash",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, cmd
        if code is not None:
            assert f"rc={code}" in proc.stderr, (cmd, proc.stderr)


def test_cli_unwritable_output_and_unreadable_config(cli, tmp_path):
    (tmp_path / "afile").write_text("")
    minimal = os.path.join(os.path.dirname(__file__), "..", "examples", "minimal.yaml")
    proc = cli("compile", minimal, "-o", tmp_path / "afile" / "out")
    assert proc.returncode == 1 and "cannot write the artifact" in proc.stderr
    proc = cli("--config", tmp_path, "status")
    assert proc.returncode == 1 and "cannot read the config file" in proc.stderr


def test_cli_parses_commands_as_spec_says():
    from blockc.cli import parser

    p = parser()
    for argv in (["exec", "demo", "--", "ls", "-la"], ["exec", "demo", "ls", "-la"]):
        assert vars(p.parse_args(argv))["argv"] == ["ls", "-la"]
    assert p.parse_args(["sync", "demo", "--pull"]).direction == "pull"
    assert p.parse_args(["sync", "demo"]).direction is None
    args = p.parse_args(["--no-plugins", "compile", "t.yaml", "-o", "out", "--base-image", "b"])
    assert (args.no_plugins, args.template, args.outdir, args.base_image) == (
        True,
        "t.yaml",
        "out",
        "b",
    )
    assert p.parse_args(["start", "t.yaml", "--studio", "s"]).timeout == 300.0
    assert p.parse_args(["status"]).name is None


def test_cli_takes_no_abbreviated_options():
    from blockc.cli import parser

    with pytest.raises(SystemExit):  # "--plugin" is not "--plugins"
        parser().parse_args(["--plugin", "sync", "compile"])
    with pytest.raises(SystemExit):  # "--f" is not "--force"
        parser().parse_args(["rm", "demo", "--f"])


def test_cli_help_and_version(cli):
    from blockc import __version__

    version = cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"blockc {__version__}"
    helped = cli("--help")
    assert helped.returncode == 0
    for name in (
        "validate",
        "compile",
        "explain",
        "schema",
        "plugins",
        "manifests",
        "build",
        "start",
        "status",
        "logs",
        "exec",
        "stop",
        "rm",
        "sync",
    ):
        assert f"\n    {name} " in helped.stdout, name


def test_cli_missing_file_exit_1(cli, tmp_path):
    proc = cli("compile", tmp_path / "nope.yaml", "-o", tmp_path / "out")
    assert proc.returncode == 1 and "no such file" in proc.stderr


def test_no_home_directory_is_a_clear_error(monkeypatch):
    """No $BLOCKC_HOME and no home directory to put it in: say so (not a path relative to the
    current directory, not a traceback)."""
    from blockc.home import home_dir

    monkeypatch.delenv("BLOCKC_HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda p: p)  # what it does without HOME or passwd
    with pytest.raises(BlockcError, match="set BLOCKC_HOME"):
        home_dir()
