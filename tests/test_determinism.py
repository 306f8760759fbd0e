"""Same inputs, same bytes: in one process, across processes and hash seeds, across paths."""

from __future__ import annotations

import filecmp
import json
import shutil

import pytest
import yaml
from compiler_support import EXAMPLES

import blockc
from blockc import emit, testing
from blockc.compiler.emit import diff, differences
from blockc.compiler.render import content_hash
from blockc.testing import template

CORE_EXAMPLES = ["minimal", "data-science", "docs-preview"]


def tree(root):
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", CORE_EXAMPLES)
def test_compiling_twice_is_byte_identical(name, core_registry):
    one = blockc.compile(EXAMPLES / f"{name}.yaml", registry=core_registry)
    two = blockc.compile(EXAMPLES / f"{name}.yaml", registry=testing.make_registry())
    assert one.files == two.files and one.hash == two.hash


def test_across_processes_and_hash_seeds(cli, tmp_path):
    example = EXAMPLES / "data-science.yaml"
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out-{seed}"
        proc = cli("compile", example, "-o", out, env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        outs.append((out, proc.stdout.strip()))
    (a, hash_a), (b, hash_b) = outs
    assert hash_a == hash_b and len(hash_a) == 64
    assert tree(a) == tree(b)
    assert json.loads((a / "studio.json").read_text())["hash"] == hash_a


def test_independent_of_where_the_template_lives(tmp_path, core_registry):
    hashes = set()
    for where in ("one", "two/deeper"):
        target = tmp_path / where
        shutil.copytree(EXAMPLES, target)
        hashes.add(blockc.compile(target / "data-science.yaml", registry=core_registry).hash)
    assert len(hashes) == 1


def test_hash_covers_every_file_and_mode(core_registry):
    art = blockc.compile(EXAMPLES / "data-science.yaml", registry=core_registry)
    files = {k: v for k, v in art.files.items() if k not in ("studio.json", "manifests.yaml")}
    studio = json.loads(art.files["studio.json"][0])
    assert studio.pop("hash") == art.hash
    manifests = list(yaml.safe_load_all(art.files["manifests.yaml"][0]))
    assert content_hash(files, manifests, studio) == art.hash
    content, mode = files["Containerfile"]
    for changed in (
        {**files, "Containerfile": (content, 0o600)},
        {**files, "Containerfile": (content + b"\n", mode)},
    ):
        assert content_hash(changed, manifests, studio) != art.hash
    manifests[0]["spec"]["replicas"] = 2
    assert content_hash(files, manifests, studio) != art.hash


def test_hash_follows_the_inputs(compile_t, tmp_path):
    base = template({"type": "port", "with": {"port": 8000}})
    first = compile_t(base).artifact.hash
    assert compile_t(base).artifact.hash == first
    changed = template({"type": "port", "with": {"port": 8001}})
    assert compile_t(changed).artifact.hash != first
    assert compile_t(base, base_image="docker.io/library/python:3.13").artifact.hash != first


def test_template_formatting_does_not_matter(compile_t, tmp_path):
    a = compile_t(
        "apiVersion: blockc/v1\nkind: StudioTemplate\nmetadata: {name: t}\n"
        "spec: {image: {base: 'python:3.12'}, blocks: [{type: port, with: {port: 8000}}]}\n"
    )
    b = compile_t(
        '# a comment\nkind: StudioTemplate\napiVersion: "blockc/v1"\n'
        "spec:\n  blocks:\n    - with:\n        port: 8000\n      type: port\n"
        "  image:\n    base: python:3.12\nmetadata:\n  name: t\n"
    )
    assert a.artifact.hash == b.artifact.hash


def test_compile_check(cli, tmp_path):
    example = EXAMPLES / "docs-preview.yaml"
    out = tmp_path / "out"
    assert cli("compile", example, "--check", "-o", out).returncode == 1  # nothing there yet
    written = cli("compile", example, "-o", out)
    assert written.returncode == 0
    check = cli("compile", example, "--check", "-o", out)
    assert check.returncode == 0 and check.stdout == written.stdout
    (out / "Containerfile").write_text("FROM evil\n")
    proc = cli("compile", example, "--check", "-o", out)
    assert proc.returncode == 1 and "changed: Containerfile" in proc.stderr
    assert (out / "Containerfile").read_text() == "FROM evil\n"  # --check writes nothing
    # the diff, from what is there to what a compile writes
    assert proc.stdout.startswith("--- a/Containerfile\n+++ b/Containerfile\n@@ ")
    assert "\n-FROM evil\n" in proc.stdout and "\n+FROM " in proc.stdout
    assert f"blockc compile {example} -o {out}" in proc.stderr


def test_diff(tmp_path, core_registry):
    art = blockc.compile(EXAMPLES / "docs-preview.yaml", registry=core_registry)
    out = emit(art, tmp_path / "out")
    assert diff(art, out) == ""
    (out / "context" / "stray.txt").write_text("x\n")
    (out / "context" / "blockc" / "launch.py").chmod(0o755)
    (out / "manifests.yaml").unlink()
    text = diff(art, out)
    assert "mode of context/blockc/launch.py: 0755 -> 0644\n" in text
    assert "--- /dev/null\n+++ b/manifests.yaml\n" in text
    assert "--- a/context/stray.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n" in text


def test_differences(tmp_path, core_registry):
    """What ``compile --check`` reports: changed content or mode, missing and extra files."""
    art = blockc.compile(EXAMPLES / "docs-preview.yaml", registry=core_registry)
    out = emit(art, tmp_path / "out")
    assert differences(art, out) == []
    (out / "context" / "stray.txt").write_text("x")
    (out / "context" / "blockc" / "launch.py").chmod(0o755)
    (out / "manifests.yaml").unlink()
    assert differences(art, out) == [
        "changed: context/blockc/launch.py",
        "missing: manifests.yaml",
        "extra: context/stray.txt",
    ]


def test_emit_replaces_the_whole_artifact(tmp_path, core_registry):
    out = tmp_path / "out"
    emit(blockc.compile(EXAMPLES / "data-science.yaml", registry=core_registry), out)
    assert (out / "context/blocks/dashboards/0-dashboard.py").exists()
    art = blockc.compile(EXAMPLES / "minimal.yaml", registry=core_registry)
    emit(art, out)
    assert tree(out) == {k: v for k, v in art.files.items()}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary left behind


def test_emit_leaves_an_up_to_date_artifact_untouched_and_repairs_a_changed_one(
    tmp_path, core_registry
):
    art = blockc.compile(EXAMPLES / "docs-preview.yaml", registry=core_registry)
    out = emit(art, tmp_path / "out")
    before = {p: p.stat().st_ino for p in out.rglob("*")}
    emit(art, out)
    assert {p: p.stat().st_ino for p in out.rglob("*")} == before  # nothing rewritten
    (out / "context" / "stray.txt").write_text("x")
    (out / "Containerfile").write_text("FROM evil\n")
    emit(art, out)
    assert tree(out) == dict(art.files)


def test_emit_refuses_a_foreign_directory(tmp_path, core_registry):
    (tmp_path / "precious.txt").write_text("keep me")
    art = blockc.compile(EXAMPLES / "minimal.yaml", registry=core_registry)
    with pytest.raises(blockc.BlockcError):
        emit(art, tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_emit_that_cannot_write_says_where_and_leaves_nothing(tmp_path, core_registry):
    from blockc.compiler.emit import emit as emit_stage

    art = blockc.compile(EXAMPLES / "minimal.yaml", registry=core_registry)
    (tmp_path / "file").write_text("a file, not a directory")
    written, (d,) = emit_stage(art, tmp_path / "file" / "out")
    assert written is None
    assert d.message.startswith(f"cannot write the artifact to {tmp_path / 'file' / 'out'}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_emitted_tree_matches_the_artifact(tmp_path, core_registry):
    art = blockc.compile(EXAMPLES / "docs-preview.yaml", registry=core_registry)
    out = emit(art, tmp_path / "a")
    emit(art, tmp_path / "b")
    assert tree(out) == dict(art.files)
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only


def test_check_never_shows_what_a_link_points_to(cli, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("TOKEN=hunter2\n")
    example = EXAMPLES / "docs-preview.yaml"
    out = tmp_path / "out"
    assert cli("compile", example, "-o", out).returncode == 0
    (out / "leak").symlink_to(secret)
    (out / "Containerfile").unlink()
    (out / "Containerfile").symlink_to(secret)
    proc = cli("compile", example, "--check", "-o", out)
    assert proc.returncode == 1 and "hunter2" not in proc.stdout + proc.stderr
    assert "extra: leak" in proc.stderr and "changed: Containerfile" in proc.stderr
    assert "Containerfile is not a regular file" in proc.stdout
    (out / "Containerfile").unlink()  # a linked directory of secrets: not read either
    (out / "Containerfile").write_text("FROM x\n")
    shutil.move(out / "context" / "blockc", tmp_path / "real-blockc")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "apps.json").write_text("TOKEN=hunter2\n")
    (out / "context" / "blockc").symlink_to(secrets)
    proc = cli("compile", example, "--check", "-o", out)
    assert proc.returncode == 1 and "hunter2" not in proc.stdout + proc.stderr
    assert "context/blockc/apps.json is not a regular file" in proc.stdout
    schema = tmp_path / "blockc.schema.json"
    schema.symlink_to(secret)
    proc = cli("schema", "--check", schema)
    assert proc.returncode == 1 and "hunter2" not in proc.stdout + proc.stderr
    assert "is a symbolic link" in proc.stderr
