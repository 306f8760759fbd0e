"""Tests of the `static-site` block: compiled in a template (fast), then built and started in a
studio for real (`-m containers`)."""

from __future__ import annotations

import urllib.request

import pytest
from blockc import testing

from blockc_static_site import BLOCK


def test_defaults(tmp_path):
    r = testing.compile_block(BLOCK, None, tmp_path, id="site")
    assert r.ok, r.messages
    app = r.app("site")
    assert app["port"] == 8300 and app["command"][1:3] == ["-m", "http.server"]
    (zone,) = r.artifact.studio["zones"]
    assert (zone["host"], zone["container"]) == ("site", "/home/studio/site")


def test_packages_install_as_the_studio_user(tmp_path):
    r = testing.compile_block(BLOCK, {"packages": ["markdown==3.7"]}, tmp_path)
    assert r.ok, r.messages
    containerfile = r.text("Containerfile")
    pip = containerfile.index("pip install")
    users = [line for line in containerfile[:pip].splitlines() if line.startswith("USER ")]
    assert users[-1] == "USER 1000:1000"


def test_bad_options_are_located(tmp_path):
    r = testing.compile_block(BLOCK, "lable: Notes", tmp_path)
    (d,) = r.diagnostics
    assert d.message == "unknown key 'lable'" and d.hint == "did you mean 'label'?"
    assert (d.line, d.col) == r.where("lable")
    r = testing.compile_block(BLOCK, "root: /srv/site", tmp_path)  # contribute()'s own check
    (d,) = r.diagnostics
    assert "root must be in the studio user's home" in d.message
    assert (d.line, d.col) == r.where("/srv/site")


@pytest.mark.containers
def test_serves_its_folder_in_a_studio(tmp_path):
    with testing.start_block("static-site", {"port": 8300}, tmp_path, id="site") as studio:
        studio.exec("sh", "-c", "echo hello > /home/studio/site/hello.txt")
        with urllib.request.urlopen(studio.urls["site"] + "hello.txt", timeout=10) as answer:
            assert answer.read() == b"hello\n"
