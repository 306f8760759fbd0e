"""The main job end to end on real buildah and podman: build, start, health, exec as non-root,
logs, stop, restart, rm, and the failure paths."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from podman_objects import studio_objects

BLOCKC = str(Path(sys.executable).parent / "blockc")

WEB = """    - type: app
      id: web
      with:
        command: [python3, -m, http.server, "8000", --bind, 0.0.0.0]
        port: 8000
        label: Files
    - type: app
      id: echo
      with:
        command: [python3, -c, "import http.server as h, os; h.HTTPServer(('0.0.0.0', 8001), type('H', (h.BaseHTTPRequestHandler,), {'do_GET': lambda s: (s.send_response(200), s.end_headers(), s.wfile.write(os.environ['BLOCKC_BASE_PATH_ECHO'].encode()))})).serve_forever()"]
        port: 8001
        path: preserve
        health: "{base}"
"""


def blockc(*args, timeout=600, check=None, env=None):
    proc = subprocess.run(
        [BLOCKC, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def status(name):
    return json.loads(blockc("status", name, "--format", "json", check=0).stdout)[0]


def get(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


def test_build_start_exec_logs_stop_restart_rm(tmp_path, template, studio_name):
    t = template(tmp_path, "webby", WEB)
    name = studio_name("life")
    first = blockc("build", t, check=0)
    ref = first.stdout.strip().splitlines()[-1]
    assert ref.startswith("localhost/blockc/webby:") and len(ref.split(":")[1]) == 12
    again = blockc("build", t, check=0)
    assert again.stdout.strip() == ref and "up to date" in again.stderr

    started = blockc("start", t, "--studio", name, "--owner", "alice", check=0)
    assert "RUNNING" in started.stdout
    st = status(name)
    assert st["state"] == "RUNNING" and st["owner"] == "alice" and st["image"] == ref
    apps = {a["id"]: a for a in st["apps"]}
    assert apps["web"]["healthy"] and apps["echo"]["healthy"]
    assert apps["web"]["url"].startswith("http://127.0.0.1:") and apps["web"]["url"].endswith("/")
    assert apps["echo"]["url"].endswith(f"/studios/{name}/echo/")
    assert get(apps["web"]["url"])[0] == 200
    assert get(apps["echo"]["url"])[1] == f"/studios/{name}/echo/"  # BLOCKC_BASE_PATH_ECHO

    ident = blockc("exec", name, "--", "id", "-u", check=0).stdout.strip()
    assert ident == "1000"  # the studio user, never root
    env = blockc("exec", name, "--", "env", check=0).stdout
    assert f"BLOCKC_STUDIO={name}" in env and "BLOCKC_OWNER=alice" in env
    assert "BLOCKC_PORT_WEB=8000" in env
    assert blockc("exec", name, "--", "sh", "-c", "exit 7").returncode == 7
    sudo = blockc("exec", name, "--", "sh", "-c", "cat /proc/self/status | grep NoNewPrivs")
    assert "1" in sudo.stdout

    logs = blockc("logs", name, "--app", "web", check=0).stdout
    assert "GET / HTTP/1.1" in logs
    bad = blockc("logs", name, "--app", "wbe", check=1)
    assert "did you mean 'web'" in bad.stderr

    # a crashed app is restarted by the supervisor
    blockc(
        "exec",
        name,
        "--",
        "sh",
        "-c",
        "kill -9 $(/opt/blockc/venv/bin/supervisorctl -c /etc/blockc/supervisord.conf pid web)",
        check=0,
    )
    time.sleep(0.5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not status(name)["apps"][0]["healthy"]:
        time.sleep(0.5)
    assert status(name)["apps"][0]["healthy"]

    # start of an unchanged template: no rebuild, nothing restarted
    again = blockc("start", t, "--studio", name, "--owner", "alice", check=0)
    assert "up to date" in again.stderr and "already running" in again.stderr

    assert "stopped" in blockc("stop", name, check=0).stdout
    assert status(name)["state"] == "STOPPED"
    assert "already stopped" in blockc("stop", name, check=0).stdout  # idempotent
    assert blockc("exec", name, "--", "true", check=1).stderr

    blockc("start", t, "--studio", name, check=0)  # restart: owner kept
    st = status(name)
    assert st["state"] == "RUNNING" and st["owner"] == "alice"
    blockc("rm", name, check=0)
    assert "no studio named" in blockc("status", name, check=1).stderr
    assert studio_objects("pod", name) == studio_objects("network", name) == []


def test_two_owners_side_by_side_and_concurrent_cli(tmp_path, template, studio_name):
    t = template(tmp_path, "shared", WEB)
    a, b = studio_name("alice"), studio_name("bob")
    procs = [
        subprocess.Popen(
            [BLOCKC, "start", t, "--studio", n, "--owner", o],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, o in ((a, "alice"), (b, "bob"), (a, "alice"))
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    sa, sb = status(a), status(b)
    assert sa["state"] == sb["state"] == "RUNNING"
    assert sa["apps"][0]["url"] != sb["apps"][0]["url"]
    assert {sa["owner"], sb["owner"]} == {"alice", "bob"}
    (pod,) = studio_objects("pod", a)
    assert pod.startswith(f"studio-{a}-") and pod.endswith("-pod-0")
    other = blockc("start", t, "--studio", a, "--owner", "mallory", check=1)
    assert "belongs to owner 'alice'" in other.stderr


def test_pod_vanished_out_of_band_and_taken_port(tmp_path, template, studio_name):
    t = template(tmp_path, "vanish", WEB)
    name = studio_name("gone")
    blockc("start", t, "--studio", name, check=0)
    port = int(status(name)["apps"][0]["url"].split(":")[2].split("/")[0])
    (pod,) = studio_objects("pod", name)
    subprocess.run(["podman", "pod", "rm", "-f", "-t", "0", pod], check=True, capture_output=True)
    st = status(name)
    assert st["state"] == "FAILED" and "vanished" in st["message"]
    # the studio's old port is now taken by someone else: a restart picks another one
    # (SO_REUSEADDR: the connections of the health checks through slirp4netns's port
    # forwarder leave the port in TIME_WAIT on the host for a minute)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        blockc("start", t, "--studio", name, check=0)
        new = status(name)
        assert new["state"] == "RUNNING"
        assert f":{port}/" not in new["apps"][0]["url"]


def test_start_replaces_a_pod_left_behind(tmp_path, template, studio_name):
    """A pod of this installation, studio and owner that blockc does not know (its state was
    lost) is replaced: start plays the studio first and removes the stray pod only when
    podman says it exists. (One that is not ours: tests/e2e/test_studio_isolation.py.)"""
    t = template(tmp_path, "stray", WEB)
    name = studio_name("stray")
    blockc("start", t, "--studio", name, "--owner", "alice", check=0)
    (pod,) = studio_objects("pod", name)
    home = Path(os.environ["BLOCKC_HOME"])
    with sqlite3.connect(home / "state.db") as db:
        db.execute("DELETE FROM studios WHERE name = ?", (name,))
    blockc("start", t, "--studio", name, "--owner", "alice", check=0)
    st = status(name)
    assert st["state"] == "RUNNING" and all(a["healthy"] for a in st["apps"])
    assert studio_objects("pod", name) == [pod]
    blockc("rm", "--force", name, check=0)


def test_failing_build_step_names_step_block_and_log(tmp_path, template, studio_name):
    t = template(
        tmp_path,
        "broken",
        """    - type: dockerfile
      id: oops
      with:
        instructions: |
          RUN echo "about to fail" && exit 3
""",
    )
    res = blockc("build", t, check=1)
    assert "build failed at step" in res.stderr
    assert "block 'oops'" in res.stderr and "about to fail" in res.stderr
    res = blockc("start", t, "--studio", studio_name("broken"), check=1)
    assert "block 'oops'" in res.stderr


def test_app_never_healthy_names_app_and_shows_log(tmp_path, template, studio_name):
    t = template(
        tmp_path,
        "sleepy",
        """    - type: app
      id: sleepy
      with:
        command: [sh, -c, "echo warming up forever; sleep 1000"]
        port: 9000
""",
    )
    name = studio_name("sleepy")
    res = blockc("start", t, "--studio", name, "--timeout", "6", check=1)
    assert "app 'sleepy' did not become healthy within 6 s" in res.stderr
    assert "warming up forever" in res.stderr
    st = status(name)
    assert st["state"] == "FAILED" and st["apps"][0]["healthy"] is False


def test_podman_missing(tmp_path, template):
    t = template(tmp_path, "nopod", WEB)
    env = {"PATH": str(Path(sys.executable).parent)}
    res = blockc("build", t, env=env, check=1)
    assert "is not installed (on Debian: apt-get install" in res.stderr
    res = blockc("start", t, "--studio", "nopod", env=env, check=1)
    assert "is not installed" in res.stderr


def test_interrupted_build_leaves_no_tag(tmp_path, template):
    token = os.urandom(4).hex()  # a template (and so an image tag) no earlier run has built
    t = template(
        tmp_path,
        "slow",
        f"""    - type: dockerfile
      id: slow
      with:
        instructions: |
          RUN echo {token} && sleep 20
""",
    )
    proc = subprocess.Popen(
        [BLOCKC, "build", t], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    seen = ""
    while time.monotonic() < deadline:  # wait until the slow step runs
        line = proc.stderr.readline()
        seen += line
        if "sleep 20" in line:
            break
    time.sleep(2)
    builders = [pid for pid in _descendants(proc.pid) if "buildah" in _cmdline(pid)]
    assert builders, "the build's buildah process was not found under blockc"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    site = Path(os.environ["BLOCKC_HOME"]) / "tmp"
    assert list(site.glob(f"site-{proc.pid}-*"))  # what the killed build left ...
    ref = json.loads(
        blockc("compile", t, "-o", tmp_path / "art", check=0)
        and (tmp_path / "art" / "studio.json").read_text()
    )["hash"][:12]
    image = f"localhost/blockc/slow:{ref}"
    time.sleep(1)
    assert subprocess.run(["podman", "image", "exists", image]).returncode == 1
    deadline = time.monotonic() + 30  # buildah dies with blockc (its parent-death signal)
    while any("buildah" in _cmdline(pid) for pid in builders) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in builders if "buildah" in _cmdline(pid)]
    done = blockc("build", t, check=0)
    assert done.stdout.strip() == image
    assert not list(site.glob("site-*"))  # ... the next build removed, and its own too
    assert oct(site.stat().st_mode & 0o777) == "0o700"


def _descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (its children, theirs, and so on)."""
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def _cmdline(pid: int) -> str:
    """The command line of ``pid`` ("" once it is gone; a zombie has none either)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_start_after_a_crash_keeps_what_the_studio_wrote(tmp_path, template, studio_name):
    """A studio whose container stopped without a pull (a crash, a reboot): `start` refuses to
    redeploy over it (that would discard what it wrote since its last sync) and says how to
    keep those files; `stop --force` keeps them in an image, then `start` works."""
    name = studio_name("crash")
    ws = tmp_path / "ws"
    (ws / "work").mkdir(parents=True)
    t = template(
        tmp_path,
        "crash",
        "    - type: app\n      id: web\n      with:\n        port: 8000\n"
        '        command: [python3, -c, "import sys, http.server as h; '
        "sys.stderr.write('\\\\x1b[2Jlogged\\\\n'); sys.stderr.flush(); "
        "h.HTTPServer(('0.0.0.0', 8000), h.SimpleHTTPRequestHandler).serve_forever()\"]\n"
        "    - type: file-sync\n"
        "      with: {zones: [{name: w, host: work, container: /home/studio/work}]}\n",
    )
    blockc("start", t, "--studio", name, "--workspace", ws, check=0)
    blockc("exec", name, "--", "sh", "-c", "echo precious > /home/studio/work/new.txt", check=0)
    logs = blockc("logs", name, check=0)  # the app wrote an ESC sequence: shown, not obeyed
    assert "\x1b" not in logs.stdout and "\\x1b[2Jlogged" in logs.stdout, logs.stdout
    assert "\x1b[2Jlogged" in blockc("logs", name, "--raw", check=0).stdout
    names = subprocess.run(
        ["podman", "ps", "--filter", f"label=blockc.dev/studio={name}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    (container,) = [n for n in names if n.endswith("-studio")]
    subprocess.run(["podman", "stop", "-t", "0", container], check=True, capture_output=True)
    blockc("status", name)  # (it marks the studio FAILED: the guard holds all the same)
    proc = blockc("start", t, "--studio", name, "--workspace", ws, check=1)
    assert "stopped without syncing its files out" in proc.stderr
    assert f"blockc stop --force {name}" in proc.stderr
    proc = blockc("rm", name, check=1)  # nor does a plain rm discard them
    assert "stopped without syncing its files out" in proc.stderr
    assert not (ws / "work" / "new.txt").exists()
    forced = blockc("stop", "--force", name, check=0)
    assert "localhost/blockc-rescue/" in forced.stdout + forced.stderr
    try:
        blockc("start", t, "--studio", name, "--workspace", ws, check=0)
        blockc("rm", "--force", name, check=0)
    finally:
        for image in studio_objects("image", name):
            subprocess.run(["podman", "image", "rm", "-f", image], capture_output=True)
