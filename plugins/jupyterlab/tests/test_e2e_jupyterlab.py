"""End to end: a studio with JupyterLab starts, and a kernel executes code over WebSocket,
through the URL `blockc status` reports."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.request
import uuid

import pytest

pytestmark = pytest.mark.containers

TEMPLATE = """\
apiVersion: blockc/v1
kind: StudioTemplate
metadata: {name: e2e-jupyterlab}
spec:
  image: {base: localhost/blockc-base/debian-python:bookworm}
  blocks:
    - type: jupyterlab
      id: lab
      with: {version: "4.*"}
    # after JupyterLab in the template, installed before it (phase runtime); the kernel sees it
    - type: python-packages
      with: {packages: ["six>=1.16"]}
"""


def execute(base_url: str, code: str) -> list[dict]:
    """Start a kernel over REST (with the XSRF cookie, like a browser), run ``code`` over the
    kernel WebSocket and return the replies to it until execute_reply."""
    import websocket

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base_url + "lab", timeout=30).read()  # sets the _xsrf cookie
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    req = urllib.request.Request(
        base_url + "api/kernels",
        method="POST",
        data=json.dumps({"name": "python3"}).encode(),
        headers={"Content-Type": "application/json", "X-XSRFToken": xsrf},
    )
    kernel = json.load(opener.open(req, timeout=30))
    ws = websocket.create_connection(
        "ws" + base_url[4:] + f"api/kernels/{kernel['id']}/channels?session_id={uuid.uuid4()}",
        timeout=60,
        cookie="; ".join(f"{c.name}={c.value}" for c in jar),
    )
    msg_id = str(uuid.uuid4())
    ws.send(
        json.dumps(
            {
                "channel": "shell",
                "buffers": [],
                "parent_header": {},
                "metadata": {},
                "header": {
                    "msg_id": msg_id,
                    "username": "e2e",
                    "session": str(uuid.uuid4()),
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
            }
        )
    )
    replies = []
    try:
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                replies.append(msg)
                if msg["msg_type"] == "execute_reply":
                    return replies
    finally:
        ws.close()


def test_kernel_runs_code_over_websocket(studio, tmp_path):
    template = tmp_path / "lab.yaml"
    template.write_text(TEMPLATE)
    lab = studio(template, "e2e-lab")["apps_by_id"]["lab"]
    assert lab["healthy"] is True
    url = lab["url"]
    assert url.endswith("/lab/")
    with urllib.request.urlopen(url + "api", timeout=10) as resp:
        assert "version" in json.load(resp)

    replies = execute(url, "import sys, six; print(6 * 7, sys.executable)")
    out = "".join(m["content"].get("text", "") for m in replies if m["msg_type"] == "stream")
    assert out.strip() == "42 /opt/studio/venv/bin/python"  # the studio's environment
    assert replies[-1]["content"]["status"] == "ok"
