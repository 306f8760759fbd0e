"""End to end: RStudio Server from a local .deb, as the studio user.

RStudio Server is in no package index reachable from CI: this runs where
BLOCKC_TEST_RSTUDIO_DEB points at an rstudio-server .deb (served to the build over HTTP on
127.0.0.1, checked by sha256 and version like any other source).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

DEB = os.environ.get("BLOCKC_TEST_RSTUDIO_DEB")
pytestmark = [
    pytest.mark.containers,
    pytest.mark.rstudio,
    pytest.mark.skipif(not DEB, reason="BLOCKC_TEST_RSTUDIO_DEB is not set"),
]


@pytest.fixture
def deb_url():
    deb = Path(DEB).resolve()

    class One(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(deb.parent), **kw)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), One)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/{deb.name}"
    server.shutdown()


def test_rstudio(studio, tmp_path, deb_url):
    deb = Path(DEB)
    version = subprocess.run(
        ["dpkg-deb", "--field", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    sha = hashlib.sha256(deb.read_bytes()).hexdigest()
    template = tmp_path / "rstudio.yaml"
    template.write_text(f"""\
apiVersion: blockc/v1
kind: StudioTemplate
metadata: {{name: e2e-rstudio}}
spec:
  image: {{base: localhost/blockc-base/debian-python:bookworm}}
  blocks:
    - type: rstudio
      id: rs
      with: {{version: "{version}", sha256: "{sha}", deb_url: "{deb_url}"}}
    - type: system-packages
      with: {{apt: [r-base-core]}}
""")
    rs = studio(template, "e2e-rs")["apps_by_id"]["rs"]
    assert rs["healthy"] is True

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    try:
        status = urllib.request.build_opener(NoRedirect).open(rs["url"], timeout=30).status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status in (200, 302)
