"""End to end: Streamlit apps from the image and from a sync zone start; their health and
stream (WebSocket) endpoints answer through the URLs `blockc status` reports."""

from __future__ import annotations

import urllib.request

import pytest

pytestmark = pytest.mark.containers

APP = "import streamlit as st\nst.title('e2e')\n"
TEMPLATE = """\
apiVersion: blockc/v1
kind: StudioTemplate
metadata: {name: e2e-streamlit}
spec:
  image: {base: localhost/blockc-base/debian-python:bookworm}
  blocks:
    - type: streamlit
      id: from-image
      with: {app: apps/image.py, src: image.py}
    - type: streamlit
      id: from-zone
      with: {app: /home/studio/work/synced.py, port: 8502}
    - type: file-sync
      with:
        zones: [{name: work, host: work, container: /home/studio/work}]
"""


def test_health_and_stream(studio, tmp_path):
    import websocket

    (tmp_path / "image.py").write_text(APP)
    template = tmp_path / "st.yaml"
    template.write_text(TEMPLATE)
    workspace = tmp_path / "ws"
    (workspace / "work").mkdir(parents=True)
    (workspace / "work" / "synced.py").write_text(APP)
    apps = studio(template, "e2e-st", workspace)["apps_by_id"]
    for app_id in ("from-image", "from-zone"):
        url = apps[app_id]["url"]
        assert apps[app_id]["healthy"] is True
        with urllib.request.urlopen(url + "_stcore/health", timeout=10) as resp:
            assert resp.status == 200 and resp.read() == b"ok"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert b"<title>" in resp.read()
        ws = websocket.create_connection(
            "ws" + url[4:] + "_stcore/stream", timeout=10, subprotocols=["streamlit"]
        )
        assert ws.getstatus() == 101
        ws.close()
