"""End to end: a studio with VS Code (code-server) starts; /healthz answers and the editor page
loads through the URL `blockc status` reports; a .vsix extension and the settings are in place.

The image build takes minutes (code-server is built with its native modules) and ~2 GB.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
import zipfile

import pytest

pytestmark = pytest.mark.containers

TEMPLATE = """\
apiVersion: blockc/v1
kind: StudioTemplate
metadata: {name: e2e-vscode}
spec:
  image: {base: localhost/blockc-base/debian-python:bookworm}
  blocks:
    - type: python-packages
      with: {packages: [six]}
    - type: vscode
      id: code
      with:
        vsix: [hello.vsix]
        settings: {editor.fontSize: 15}
"""


def write_vsix(path):
    """A minimal extension package (Open VSX is not reachable from CI)."""
    package = {
        "name": "hello",
        "publisher": "blockc-test",
        "version": "0.0.1",
        "engines": {"vscode": "^1.50.0"},
        "contributes": {},
    }
    manifest = (
        '<?xml version="1.0" encoding="utf-8"?><PackageManifest Version="2.0.0" '
        'xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011"><Metadata>'
        '<Identity Language="en-US" Id="hello" Version="0.0.1" Publisher="blockc-test"/>'
        '<DisplayName>hello</DisplayName><Description xml:space="preserve">t</Description>'
        '</Metadata><Installation><InstallationTarget Id="Microsoft.VisualStudio.Code"/>'
        '</Installation><Dependencies/><Assets><Asset Type="Microsoft.VisualStudio.Code.Manifest"'
        ' Path="extension/package.json" Addressable="true"/></Assets></PackageManifest>'
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("extension.vsixmanifest", manifest)
        z.writestr("extension/package.json", json.dumps(package))


def test_code_server(studio, studio_exec, tmp_path):
    write_vsix(tmp_path / "hello.vsix")
    template = tmp_path / "vscode.yaml"
    template.write_text(TEMPLATE)
    record = studio(template, "e2e-vs")
    code = record["apps_by_id"]["code"]
    assert code["healthy"] is True
    url = code["url"]  # strip mode: the app's own root
    with urllib.request.urlopen(url + "healthz", timeout=10) as resp:
        assert json.load(resp)["status"] in ("alive", "expired")
    with urllib.request.urlopen(url, timeout=30) as resp:
        page = resp.read().decode()
        assert resp.status == 200 and "workbench" in page
    # the page's own script loads too (relative URL, as code-server writes them)
    src = re.search(r'<script[^>]+src="([^"]+workbench[^"]*\.js)"', page)
    assert src, page[:2000]
    with urllib.request.urlopen(urllib.parse.urljoin(resp.url, src.group(1)), timeout=30) as js:
        assert js.status == 200 and len(js.read()) > 100_000

    name = record["name"]
    listed = studio_exec(name, "ls", "/opt/blockc/apps/code/extensions")
    assert "blockc-test.hello-0.0.1" in listed.stdout, listed.stdout + listed.stderr
    settings = studio_exec(name, "cat", "/opt/blockc/apps/code/data/User/settings.json")
    assert (
        json.loads(settings.stdout)["python.defaultInterpreterPath"]
        == "/opt/studio/venv/bin/python"
    )
