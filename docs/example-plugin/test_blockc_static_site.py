"""Tests for blockc-static-site, using blockc.testing (no install, no containers)."""

import shlex

import blockc_static_site

from blockc import testing


def compile_site(tmp_path, **options):
    registry = testing.make_registry(blockc_static_site)  # core blocks + this plugin
    return testing.compile_template(
        testing.template({"type": "static-site", "id": "notes", "with": options}),
        tmp_path,
        registry=registry,
        strict=True,
    )  # strict: manifests checked too


def test_serves_the_folder(tmp_path):
    result = compile_site(tmp_path, root="/home/studio/notes", title="Team <notes>")
    assert result.ok, result.messages
    (app,) = result.artifact.studio["apps"]
    assert (app["id"], app["port"], app["path"]) == ("notes", 8300, "strip")
    assert "&lt;notes&gt;" in result.text("context/blocks/notes/index.html")
    runs = [
        shlex.split(line[4:])
        for line in result.text("Containerfile").splitlines()
        if line.startswith("RUN mkdir")
    ]
    assert runs == [["mkdir", "-p", "--", "/home/studio/notes"]]
    (zone,) = result.artifact.studio["zones"]
    assert zone["container"] == "/home/studio/notes"


def test_bad_options_are_located(tmp_path):
    result = compile_site(tmp_path, root="/opt/blockc/x", titel="Notes")
    assert not result.ok
    (unknown,) = result.diagnostics  # schema errors come first; contribute() is not run
    assert unknown.message == "unknown key 'titel'" and unknown.hint == "did you mean 'title'?"
    result = compile_site(tmp_path, root="/opt/blockc/x")
    assert [d.message for d in result.diagnostics] == ["root may not be inside /opt/blockc"]
    assert result.diagnostics[0].line is not None


def test_registered_like_an_installed_plugin(tmp_path):
    info = testing.fake_distribution("static-site", dist="blockc-static-site", version="0.1.0")
    registry = testing.make_registry((blockc_static_site, info))
    assert registry.types["static-site"].plugin.dist == "blockc-static-site"
