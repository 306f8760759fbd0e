"""Issue 13, points 1, 2 and 10 on real podman: two blockc homes with one studio name never
touch each other's pods; a pod blockc did not make is never removed; studios cannot reach
each other's apps; ``stop --force`` ends a studio whose files cannot all be pulled and keeps
them recoverable."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

BLOCKC = str(Path(sys.executable).parent / "blockc")

APP = """    - type: app
      id: web
      with:
        command: [python3, -m, http.server, "8000", --bind, 0.0.0.0]
        port: 8000
"""
ZONE = """    - type: file-sync
      with:
        zones:
          - {name: data, host: data, container: /home/studio/workspace/data}
"""

# A request from inside a studio: prints the status, or the error and exits 1
PROBE = textwrap.dedent("""
    import sys, urllib.request
    try:
        print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
    except Exception as exc:
        print(type(exc).__name__, exc)
        sys.exit(1)
""")
# The studio's own address on its network (a UDP connect sends nothing)
MY_IP = textwrap.dedent("""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("192.0.2.1", 9))
    print(s.getsockname()[0])
""")
GATEWAY = "print(next('.'.join(str(int(l.split()[2][i:i+2], 16)) for i in (6, 4, 2, 0)) for l in open('/proc/net/route') if l.split()[1] == '00000000'))"


class Home:
    """``blockc`` against one ``BLOCKC_HOME``."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, *args, check=None, timeout=600):
        proc = subprocess.run(
            [BLOCKC, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "BLOCKC_HOME": str(self.path)},
        )
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        if check is not None:
            assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def status(self, name):
        return json.loads(self("status", name, "--format", "json", check=0).stdout)[0]

    def sh(self, name, script, check=0):
        return self("exec", name, "--", "sh", "-c", script, check=check)

    def py(self, name, code, *args, check=None):
        return self("exec", name, "--", "python3", "-c", code, *args, check=check)


def podman(*args, check=True):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


def pods_of(name):
    """The pods carrying the studio label ``name``: {pod name: labels}."""
    out = podman(
        "pod", "ps", "--filter", f"label=blockc.dev/studio={name}", "--format", "{{.Name}}"
    ).stdout.split()
    return {
        p: json.loads(podman("pod", "inspect", "--format", "{{json .Labels}}", p).stdout)
        for p in out
    }


def test_two_homes_one_studio_name(tmp_path, template, studio_name):
    """Point 1: the same studio name started from a second home leaves the first home's studio
    alone; exec, sync, logs and rm from each home reach only that home's studio."""
    t = template(tmp_path, "homes", APP + ZONE)
    name = studio_name("homes")
    a, b = Home(tmp_path / "home-a"), Home(tmp_path / "home-b")
    ws_a, ws_b = tmp_path / "ws-a", tmp_path / "ws-b"
    for ws in (ws_a, ws_b):
        (ws / "data").mkdir(parents=True)
    a("start", t, "--studio", name, "--owner", "alice", "--workspace", ws_a, check=0)
    a.sh(name, "echo not synced yet > data/alice.txt")

    b("start", t, "--studio", name, "--owner", "bob", "--workspace", ws_b, check=0)
    st = a.status(name)
    assert st["state"] == "RUNNING" and st["apps"][0]["healthy"], st
    assert a.sh(name, "cat data/alice.txt").stdout == "not synced yet\n"  # alice's studio lives
    assert "BLOCKC_OWNER=alice" in a("exec", name, "--", "env", check=0).stdout
    assert "BLOCKC_OWNER=bob" in b("exec", name, "--", "env", check=0).stdout
    pods = pods_of(name)
    assert len(pods) == 2 and {p["blockc.dev/owner"] for p in pods.values()} == {"alice", "bob"}
    assert len({p["blockc.dev/installation"] for p in pods.values()}) == 2
    for pod, labels in pods.items():
        assert len(pod) <= 63 and labels["blockc.dev/studio"] == name

    (ws_a / "data" / "pushed.txt").write_text("alice's")
    a("sync", name, "--push", check=0)
    assert a.sh(name, "cat data/pushed.txt").stdout == "alice's"
    assert b.sh(name, "test -e data/pushed.txt", check=1)  # not in bob's container
    url = a.status(name)["apps"][0]["url"] + "only-alice"
    try:
        urllib.request.urlopen(url, timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    assert "GET /only-alice" in a("logs", name, "--app", "web", check=0).stdout
    assert "GET /only-alice" not in b("logs", name, "--app", "web", check=0).stdout

    b("rm", "--force", name, check=0)
    assert a.status(name)["state"] == "RUNNING"
    assert a.sh(name, "cat data/alice.txt").stdout == "not synced yet\n"
    assert "stopped" in a("stop", name, check=0).stdout
    assert (ws_a / "data" / "alice.txt").read_text() == "not synced yet\n"  # pulled, not lost
    a("rm", name, check=0)
    assert pods_of(name) == {}


def test_a_pod_blockc_did_not_make_is_never_touched(tmp_path, template, studio_name):
    """Point 1: a pod of the studio's name without this installation's and owner's labels is an
    error that names it, never removed; one of ours left behind (state lost) is replaced."""
    t = template(tmp_path, "foreign", APP)
    name = studio_name("foreign")
    home = Home(tmp_path / "home")
    home("start", t, "--studio", name, "--owner", "alice", check=0)
    (pod,) = pods_of(name)
    home("stop", name, check=0)
    assert pods_of(name) == {}

    podman("pod", "create", "--name", pod, "--label", f"blockc.dev/studio={name}")
    try:
        for args in (("start", t, "--studio", name), ("exec", name, "--", "true")):
            res = home(*args, check=1)
            assert pod in res.stderr and "not created by this blockc" in res.stderr, res.stderr
        assert "not created by this blockc" in home.status(name)["message"]
        res = home("rm", "--force", name, check=0)  # forgotten; the pod left, and named
        assert pod in res.stdout + res.stderr and "forgotten" in res.stdout + res.stderr
        assert podman("pod", "exists", pod, check=False).returncode == 0  # still there
        assert home("status", name, check=1).returncode == 1  # (no such studio now)
    finally:
        podman("pod", "rm", "-f", pod, check=False)

    # our own pod left behind by a home whose state was lost: replaced for its owner only
    home("start", t, "--studio", name, "--owner", "alice", check=0)
    with sqlite3.connect(home.path / "state.db") as db:
        db.execute("DELETE FROM studios WHERE name = ?", (name,))
    res = home("start", t, "--studio", name, "--owner", "bob", check=1)
    base = pod.removesuffix("-pod-0")  # (its network's name: the first object start meets)
    assert base in res.stderr and "owner 'alice'" in res.stderr, res.stderr
    assert podman("pod", "exists", pod, check=False).returncode == 0
    home("start", t, "--studio", name, "--owner", "alice", check=0)
    assert home.status(name)["apps"][0]["healthy"]
    home("rm", "--force", name, check=0)


def test_studios_cannot_reach_each_other(tmp_path, template, studio_name):
    """Point 2: from inside studio A, studio B's app is unreachable: each studio has a network
    stack of its own (slirp4netns), so there is no address of B to reach, and the host's
    loopback, where B's port is published, is out of A's reach (at the gateway and at the
    host's own address). A's own app still answers, inside and through its published port.
    It holds after a third studio started and was removed: the teardown of a network must not
    open the others (it did with netavark's isolate networks)."""
    import socket

    t = template(tmp_path, "reach", APP)
    a_name, b_name, c_name = (studio_name(p) for p in ("reach-a", "reach-b", "reach-c"))
    home = Home(tmp_path / "home")
    home("start", t, "--studio", a_name, "--owner", "alice", check=0)
    home("start", t, "--studio", b_name, "--owner", "bob", check=0)
    home("start", t, "--studio", c_name, "--owner", "carol", check=0)
    home("rm", c_name, check=0)  # a network torn down while A and B run
    gateway = home.py(a_name, GATEWAY, check=0).stdout.strip()
    b_port = home.status(b_name)["apps"][0]["url"].split(":")[2].split("/")[0]
    a_port = home.status(a_name)["apps"][0]["url"].split(":")[2].split("/")[0]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("192.0.2.1", 9))  # (sends nothing)
    host_ip = probe.getsockname()[0]

    assert home.py(a_name, PROBE, "http://127.0.0.1:8000/", check=0).stdout.strip() == "200"
    for name, other_port in ((a_name, b_port), (b_name, a_port)):
        for url in (
            f"http://{gateway}:{other_port}/",  # the host's side of its network
            f"http://{host_ip}:{other_port}/",  # the host's own address (ports are on 127.0.0.1)
        ):
            res = home.py(name, PROBE, url)
            assert res.returncode == 1, f"studio {name} reached {url}: {res.stdout}"
    # B's address, as B sees it: from A, it is A's own stack that answers, never B's app
    # (each app serves its workdir: a file says whose it is)
    for name, who in ((a_name, "a"), (b_name, "b")):
        home.sh(name, f"echo {who} > whose.txt")
    ip_b = home.py(b_name, MY_IP, check=0).stdout.strip()
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())"
    res = home.py(a_name, fetch, f"http://{ip_b}:8000/whose.txt")
    assert res.stdout.strip() != "b", f"studio A reached studio B's app at {ip_b}"
    # no shared network: each studio has a network namespace (and stack) of its own
    ns = "import os; print(os.readlink('/proc/self/ns/net'))"
    assert home.py(a_name, ns, check=0).stdout != home.py(b_name, ns, check=0).stdout
    with urllib.request.urlopen(home.status(a_name)["apps"][0]["url"], timeout=5) as resp:
        assert resp.status == 200  # the host reaches A's published port
    home("rm", a_name, check=0)
    home("rm", b_name, check=0)


def test_stop_force_keeps_what_cannot_be_pulled(tmp_path, template, studio_name):
    """Point 10: a directory the studio user made unreadable stops `stop`; `stop --force`
    pulls everything else, names what it left, and keeps it in an image it can be copied
    out of. No lock file is made for a studio that does not exist."""
    t = template(tmp_path, "forced", APP + ZONE)
    name = studio_name("forced")
    home, ws = Home(tmp_path / "home"), tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    home("start", t, "--studio", name, "--workspace", ws, check=0)
    home.sh(
        name,
        "cd data && echo fine > ok.txt && mkdir locked && echo precious > locked/p.txt"
        " && chmod 000 locked",
    )
    res = home("stop", name, check=1)
    assert "locked" in res.stderr and "--force" in res.stderr, res.stderr
    assert home.status(name)["state"] == "FAILED" and pods_of(name)  # nothing removed

    res = home("stop", "--force", name, check=0)
    out = res.stdout + res.stderr
    assert "data: locked" in out, out  # the zone and the path left unsynced
    assert (ws / "data" / "ok.txt").read_text() == "fine\n"  # the rest was pulled
    assert not (ws / "data" / "locked" / "p.txt").exists()
    st = home.status(name)
    assert st["state"] == "STOPPED" and pods_of(name) == {}
    image = next(w for w in out.split() if w.startswith("localhost/blockc-rescue/"))
    assert image in st["message"]
    assert "podman cp" in out
    try:
        ctr = podman("create", image).stdout.strip()
        try:
            podman("cp", f"{ctr}:/home/studio/workspace/data/locked", str(tmp_path / "rescued"))
        finally:
            podman("rm", ctr, check=False)
        assert (tmp_path / "rescued" / "p.txt").read_text() == "precious\n"
    finally:
        podman("image", "rm", image, check=False)

    home("start", t, "--studio", name, "--workspace", ws, check=0)  # starts again afterwards
    home("rm", "--force", name, check=0)
    assert not list((home.path / "locks").glob(f"{name}.lock"))
