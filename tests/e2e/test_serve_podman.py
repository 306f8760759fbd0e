"""The front door with real podman studios (issue 15): a studio started through the API runs
behind its gate, reached by its owner through the gateway only; nothing of it is published
but the gate, which answers nobody without the studio's secret (not another local user, not
a client of the host's loopback); inside the studio there is no credential to the front door,
nor a way to it."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from podman_objects import studio_pod  # noqa: E402
from serve_support import Site  # noqa: E402

BASE = "localhost/blockc-base/debian-python:bookworm"
TEMPLATE = """apiVersion: blockc/v1
kind: StudioTemplate
metadata: {{name: {name}}}
spec:
  image: {{base: {base}}}
  blocks:
    - type: app
      id: web
      with:
        command: [python3, -m, http.server, "8000", --bind, 0.0.0.0]
        port: 8000
        health: /
    - type: file-sync
      with:
        zones:
          - {{name: work, host: work, container: /home/studio/work}}
"""
PROBE = textwrap.dedent("""
    import sys, urllib.request
    req = urllib.request.Request(sys.argv[1], headers=dict(h.split(": ", 1) for h in sys.argv[2:]))
    try:
        print(urllib.request.urlopen(req, timeout=5).status)
    except urllib.error.HTTPError as exc:
        print(exc.code)
    except Exception as exc:
        print(type(exc).__name__)
""")


@pytest.fixture
def site(tmp_path, studio_name):
    site = Site(tmp_path / "home")
    site.users()
    site.start()
    site.tokens = {u: site.token(u) for u in ("alice", "bob", "root")}
    site.name = studio_name("gw")
    template = tmp_path / "gated.yaml"
    template.write_text(TEMPLATE.format(name="gated", base=BASE))
    put = site.request(
        "PUT", "/api/v1/templates/gated", token=site.tokens["root"], body={"path": str(template)}
    )
    assert put.status == 200, put
    yield site
    site.close()


def follow(site, task_id: str, token: str) -> list[str]:
    events = site.request("GET", f"/api/v1/tasks/{task_id}/events", token=token)
    blocks = [b for b in events.body.decode().split("\n\n") if b.strip()]
    end = json.loads(blocks[-1].splitlines()[2][6:])
    lines = [json.loads(b.splitlines()[2][6:])["text"] for b in blocks[:-1]]
    assert end["state"] == "succeeded", "\n".join(lines)
    return lines


def published(name: str) -> list[dict]:
    """The ports the studio's pod publishes on the host (all of them, any container)."""
    info = studio_pod(name)
    bindings = info.get("InfraConfig", {}).get("PortBindings") or {}
    return [{"container": k, **b} for k, v in bindings.items() for b in v]


def test_a_studio_through_the_front_door_is_reached_through_it_only(site):
    name, alice = site.name, site.tokens["alice"]
    made = site.request(
        "POST", "/api/v1/studios", token=alice, body={"name": name, "template": "gated"}
    )
    assert made.status == 202, made
    follow(site, made.json()["id"], alice)
    studio = site.request("GET", f"/api/v1/studios/{name}", token=alice).json()
    assert studio["state"] == "RUNNING" and studio["apps"][0]["url"] == f"/studios/{name}/web/"

    # its owner, through the gateway
    page = site.request("GET", f"/studios/{name}/web/", token=alice)
    assert page.status == 200 and b"Directory listing" in page.body
    assert site.request("GET", f"/studios/{name}/web/", token=site.tokens["bob"]).status == 403

    # what the host sees of it: one port, the gate's, on 127.0.0.1 only
    ports = published(name)
    assert [(p["container"], p["HostIp"]) for p in ports] == [("7750/tcp", "127.0.0.1")]
    gate = int(ports[0]["HostPort"])
    conn = http.client.HTTPConnection("127.0.0.1", gate, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().status == 403
    conn = http.client.HTTPConnection("127.0.0.1", gate, timeout=10)
    conn.request("GET", "/", headers={"X-Blockc-Gate": "guess", "X-Blockc-App-Port": "8000"})
    assert conn.getresponse().status == 403

    # another local user, without credentials: the gate and the front door refuse them
    as_nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
        PROBE,
    ]
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [*as_nobody, f"http://127.0.0.1:{gate}/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout.strip() == "403", out
    out = subprocess.run(
        [*as_nobody, f"http://127.0.0.1:{site.port}/studios/{name}/web/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout.strip() == "401", out

    # inside the studio: no blockc credentials, and neither the front door nor the host's
    # loopback within reach
    env_inside = site.blockc("exec", name, "--", "env").stdout
    assert not re.search(r"blockc_[0-9a-f]{12}_", env_inside)  # (no API token)
    assert "BLOCKC_TOKEN" not in env_inside and "BLOCKC_SERVER" not in env_inside
    for host in ("10.0.2.2", "127.0.0.1"):
        inside = site.blockc(
            "exec",
            name,
            "--",
            "python3",
            "-c",
            PROBE,
            f"http://{host}:{site.port}/api/v1/me",
            check=False,
        )
        assert inside.stdout.strip() in (
            "URLError",
            "ConnectionRefusedError",
            "TimeoutError",
            "timeout",
        ), inside.stdout

    # stopped through the API: the gateway says so
    stopped = site.request("POST", f"/api/v1/studios/{name}/stop", token=alice)
    assert stopped.status == 202
    follow(site, stopped.json()["id"], alice)
    answer = site.request("GET", f"/studios/{name}/web/", token=alice)
    assert answer.status == 503 and answer.json()["state"] == "STOPPED"


def test_the_cli_starts_a_studio_behind_the_gate_while_the_front_door_runs(
    site, template, tmp_path
):
    """`blockc start` on the same home, with the front door running: the same gate, and the
    URL status prints is the front door's."""
    name = site.name
    path = template(
        tmp_path,
        "cligated",
        """    - type: app
      id: web
      with:
        command: [python3, -m, http.server, "8000", --bind, 0.0.0.0]
        port: 8000
""",
    )
    started = site.blockc(
        "start",
        str(path),
        "--studio",
        name,
        "--owner",
        "alice",
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert f"http://127.0.0.1:{site.port}/studios/{name}/web/" in started.stdout
    assert [p["container"] for p in published(name)] == ["7750/tcp"]
    status = json.loads(site.blockc("status", name, "--format", "json").stdout)[0]
    assert status["apps"][0]["healthy"] is True
    assert site.request("GET", f"/studios/{name}/web/", token=site.tokens["alice"]).status == 200
    site.blockc("stop", name)


def test_an_idle_studio_is_stopped_with_its_files_synced_out(tmp_path, studio_name, template):
    site = Site(tmp_path / "home", {"idle_timeout": "4s"})
    try:
        site.users()
        site.start()
        name = studio_name("idle")
        path = template(
            tmp_path,
            "idlegated",
            """    - type: app
      id: web
      with:
        command: [python3, -m, http.server, "8000", --bind, 0.0.0.0]
        port: 8000
    - type: file-sync
      with:
        zones:
          - {name: work, host: work, container: /home/studio/work}
""",
        )
        workspace = tmp_path / "ws"  # (not there yet: start makes it)
        site.blockc(
            "start", str(path), "--studio", name, "--owner", "alice", "--workspace", str(workspace)
        )
        site.blockc("exec", name, "--", "sh", "-c", "echo written-inside > /home/studio/work/note")
        token = site.token("alice")
        # used: kept running past the timeout
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            assert site.request("GET", f"/studios/{name}/web/", token=token).status == 200
            time.sleep(1)
        studio = site.request("GET", f"/api/v1/studios/{name}", token=token).json()
        assert studio["state"] == "RUNNING"
        assert time.time() - studio["last_activity"] < 3
        # left alone: stopped, its files synced out first
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            studio = site.request("GET", f"/api/v1/studios/{name}", token=token).json()
            if studio["state"] == "STOPPED":
                break
            time.sleep(1)
        logs = "\n".join(p.read_text() for p in sorted((site.home / "tasks").glob("*.log")))
        assert studio["state"] == "STOPPED", f"{studio}\n{logs}"
        assert (workspace / "work" / "note").read_text() == "written-inside\n"
        assert site.request("GET", f"/studios/{name}/web/", token=token).status == 503
    finally:
        site.close()
