"""The front door with real JupyterLab kernels (issue 15): through the gateway only, 50
WebSocket sessions open at once each run code on a kernel and get their own answer; the front
door restarted, a signed-in user's session cookie still works, the studio still runs (its
containers not restarted) and its kernels, with what they hold, still answer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from podman_objects import studio_pod  # noqa: E402
from serve_support import Site  # noqa: E402

BASE = "localhost/blockc-base/debian-python:bookworm"
TEMPLATE = f"""apiVersion: blockc/v1
kind: StudioTemplate
metadata: {{name: lab-gw}}
spec:
  image: {{base: {BASE}}}
  blocks:
    - type: jupyterlab
      id: lab
      with: {{version: "4.*"}}
"""
# 50 sessions, each its own WebSocket, all open at once, on 10 kernels (5 sessions each, as
# several browser tabs of one notebook have). One kernel per session worked too, but 50
# ipykernels starting at once on 2 CPUs (~1.7 GB) sometimes took longer than the 60 s
# JupyterLab gives a kernel to answer a new WebSocket, which it then closes: a test of the
# machine, not of the gateway. Odd sessions speak the subprotocol JupyterLab itself asks for
# (v1.kernel.websocket.jupyter.org, binary frames), even ones the legacy JSON protocol: both
# must cross the gateway.
SESSIONS = 50
KERNELS = 10
V1 = "v1.kernel.websocket.jupyter.org"
TIMEOUT = aiohttp.ClientTimeout(total=600)
BUILD_TIMEOUT = 1800  # building the JupyterLab image (pip install) the first time


# --- the front door's API ------------------------------------------------------------------


def run_task(site: Site, answer, token: str) -> None:
    """Wait for the task an API call started; fail with its output unless it succeeded."""
    assert answer.status == 202, answer
    task_id = answer.json()["id"]
    deadline = time.monotonic() + BUILD_TIMEOUT
    while time.monotonic() < deadline:
        task = site.request("GET", f"/api/v1/tasks/{task_id}", token=token).json()
        if task["state"] not in ("queued", "running"):
            break
        time.sleep(2)
    else:
        pytest.fail(f"task {task_id} did not end in {BUILD_TIMEOUT}s")
    events = site.request("GET", f"/api/v1/tasks/{task_id}/events", token=token)
    assert task["state"] == "succeeded", events.body.decode()[-5000:]


def containers(name: str) -> dict[str, tuple]:
    """The studio's containers: name -> (id, started at, restart count, running)."""
    pod = studio_pod(name)
    ids = [c["Id"] for c in pod["Containers"]]
    info = json.loads(
        subprocess.run(
            ["podman", "container", "inspect", *ids], capture_output=True, text=True, check=True
        ).stdout
    )
    return {
        c["Name"]: (c["Id"], c["State"]["StartedAt"], c["RestartCount"], c["State"]["Running"])
        for c in info
    }


# --- Jupyter, through the gateway -----------------------------------------------------------


class Lab:
    """JupyterLab at ``/studios/<studio>/lab/`` of the front door, as one user reaches it:
    with a blockc token or session cookie, and Jupyter's own _xsrf cookie, as a browser
    sends it."""

    def __init__(self, port: int, studio: str, *, token: str = "", session: str = "") -> None:
        self.origin = f"http://127.0.0.1:{port}"
        self.base = f"{self.origin}/studios/{studio}/lab/"
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.cookies = {"blockc_session": session} if session else {}
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Lab:
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=TIMEOUT,
            cookie_jar=aiohttp.DummyCookieJar(),  # (cookies sent as given, below)
        )
        async with self.http.get(self.base + "lab", headers=self.headers()) as page:
            assert page.status == 200, (page.status, await page.text())
            xsrf = page.cookies.get("_xsrf")
            assert xsrf is not None, page.headers
            assert xsrf["path"] == "/studios/" + self.base.split("/studios/")[1], xsrf
            self.cookies["_xsrf"] = xsrf.value
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.http is not None
        await self.http.close()

    def headers(self, **more: str) -> dict[str, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {**self.auth, **({"Cookie": cookie} if cookie else {}), **more}

    async def get(self, path: str):
        assert self.http is not None
        async with self.http.get(self.base + path, headers=self.headers()) as answer:
            assert answer.status == 200, (path, answer.status, await answer.text())
            return await answer.json()

    async def post(self, path: str, body: dict) -> dict:
        assert self.http is not None
        headers = self.headers(**{"X-XSRFToken": self.cookies["_xsrf"]})
        async with self.http.post(self.base + path, json=body, headers=headers) as answer:
            assert answer.status == 201, (path, answer.status, await answer.text())
            return await answer.json()

    async def channels(self, kernel_id: str, v1: bool) -> aiohttp.ClientWebSocketResponse:
        """A WebSocket to a kernel's channels, opened as JupyterLab in a browser opens it
        (the site's own Origin, the cookies, a session id of its own)."""
        assert self.http is not None
        ws = await self.http.ws_connect(
            f"{self.base}api/kernels/{kernel_id}/channels?session_id={uuid.uuid4()}",
            headers=self.headers(Origin=self.origin),
            protocols=(V1,) if v1 else (),
            max_msg_size=0,
        )
        assert ws.protocol == (V1 if v1 else None), ws.protocol
        return ws


def encode_v1(channel: str, parts: list[bytes]) -> bytes:
    """A message in the v1 kernel WebSocket protocol: the number of offsets, the offsets,
    the channel and the message's parts."""
    frames = [channel.encode(), *parts]
    offsets = [8 * (len(frames) + 2)]
    for frame in frames:
        offsets.append(offsets[-1] + len(frame))
    head = [len(offsets).to_bytes(8, "little")] + [o.to_bytes(8, "little") for o in offsets]
    return b"".join(head + frames)


def decode_v1(data: bytes) -> dict:
    count = int.from_bytes(data[:8], "little")
    offsets = [int.from_bytes(data[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    frames = [data[offsets[i] : offsets[i + 1]] for i in range(count - 1)]
    header, parent, metadata, content = (json.loads(f) for f in frames[1:5])
    return {
        "channel": frames[0].decode(),
        "header": header,
        "parent_header": parent,
        "metadata": metadata,
        "content": content,
    }


async def execute(ws: aiohttp.ClientWebSocketResponse, code: str) -> tuple[str, str]:
    """Run ``code`` on the kernel behind ``ws``: (what it printed, the reply's status), once
    both the reply (shell) and the kernel's going idle (iopub) are in."""
    msg_id = str(uuid.uuid4())
    header = {
        "msg_id": msg_id,
        "username": "alice",
        "session": str(uuid.uuid4()),
        "msg_type": "execute_request",
        "version": "5.3",
        "date": "",
    }
    content = {
        "code": code,
        "silent": False,
        "store_history": False,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    if ws.protocol == V1:
        parts = [json.dumps(p).encode() for p in (header, {}, {}, content)]
        await ws.send_bytes(encode_v1("shell", parts))
    else:
        await ws.send_str(
            json.dumps(
                {
                    "channel": "shell",
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": content,
                    "buffers": [],
                }
            )
        )
    printed, reply, idle = [], None, False
    async for frame in ws:
        if frame.type == aiohttp.WSMsgType.BINARY and ws.protocol == V1:
            msg = decode_v1(frame.data)
        elif frame.type == aiohttp.WSMsgType.TEXT and ws.protocol != V1:
            msg = json.loads(frame.data)
        else:
            raise AssertionError(f"unexpected frame {frame.type} {frame.data!r:.300}")
        if msg["parent_header"].get("msg_id") != msg_id:
            continue  # (another session's, on the same kernel, or Jupyter's own)
        kind = msg["header"]["msg_type"]
        if kind == "stream":
            printed.append(msg["content"]["text"])
        elif kind == "error":
            printed.append("\n".join(msg["content"]["traceback"]))
        elif kind == "execute_reply":
            reply = msg["content"]["status"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True  # (the last of its output on iopub: which may come after the reply)
        if reply is not None and idle:
            return "".join(printed), reply
    raise AssertionError(f"the WebSocket closed before the reply ({ws.close_code})")


# --- the scenario ---------------------------------------------------------------------------


async def fifty_sessions(lab: Lab) -> tuple[list[str], dict]:
    """Kernels started over REST; SESSIONS WebSockets opened to them, all open at once, each
    running its own code. Returns the kernel ids and the times taken."""
    times: dict[str, float] = {}
    t0 = time.monotonic()
    made = await asyncio.gather(
        *(
            lab.post(
                "api/sessions",
                {
                    "path": f"gw/s{k}.ipynb",
                    "name": f"s{k}.ipynb",
                    "type": "notebook",
                    "kernel": {"name": "python3"},
                },
            )
            for k in range(KERNELS)
        )
    )
    kernels = [m["kernel"]["id"] for m in made]
    assert len(set(kernels)) == KERNELS
    times["start kernels (REST)"] = time.monotonic() - t0

    t0 = time.monotonic()
    sockets = await asyncio.gather(
        *(lab.channels(kernels[n % KERNELS], v1=n % 2 == 1) for n in range(SESSIONS))
    )
    times[f"open {SESSIONS} WebSockets"] = time.monotonic() - t0
    try:
        t0 = time.monotonic()
        results = await asyncio.gather(
            *(execute(ws, f"v{n} = {n} * {n} + 1\nprint(v{n})") for n, ws in enumerate(sockets))
        )
        times[f"execute on {SESSIONS} (all open)"] = time.monotonic() - t0
        assert all(not ws.closed for ws in sockets)  # (all open at once, to the end)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    for n, (printed, status) in enumerate(results):
        assert (printed.strip(), status) == (str(n * n + 1), "ok"), (n, printed)
    return kernels, times


async def kernels_remember(lab: Lab, kernels: list[str]) -> float:
    """Each kernel, on a new WebSocket, still holds what its sessions left in it."""
    t0 = time.monotonic()
    listed = await lab.get("api/sessions")
    assert sorted(s["kernel"]["id"] for s in listed) == sorted(kernels)

    async def ask(k: int, kernel_id: str) -> None:
        mine = list(range(k, SESSIONS, KERNELS))
        ws = await lab.channels(kernel_id, v1=k % 2 == 0)
        try:
            printed, status = await execute(ws, f"print({', '.join(f'v{n}' for n in mine)})")
        finally:
            await ws.close()
        assert (printed.split(), status) == ([str(n * n + 1) for n in mine], "ok"), k

    await asyncio.gather(*(ask(k, kernel_id) for k, kernel_id in enumerate(kernels)))
    return time.monotonic() - t0


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path / "home")
    site.users()
    site.start()
    yield site
    site.close()


def test_fifty_kernel_sessions_through_the_gateway_and_a_restart(site, studio_name, tmp_path):
    timings: dict[str, float] = {}
    root, alice = site.token("root"), site.token("alice")
    template = tmp_path / "lab.yaml"
    template.write_text(TEMPLATE)
    put = site.request("PUT", "/api/v1/templates/lab-gw", token=root, body={"path": str(template)})
    assert put.status == 200, put

    name = studio_name("jgw")
    t0 = time.monotonic()
    made = site.request(
        "POST", "/api/v1/studios", token=alice, body={"name": name, "template": "lab-gw"}
    )
    run_task(site, made, alice)
    timings["start the studio"] = time.monotonic() - t0
    studio = site.request("GET", f"/api/v1/studios/{name}", token=alice).json()
    assert studio["state"] == "RUNNING", studio
    assert [a["url"] for a in studio["apps"]] == [f"/studios/{name}/lab/"]

    async def before() -> list[str]:
        async with Lab(site.port, name, token=alice) as lab:
            kernels, times = await fifty_sessions(lab)
        timings.update(times)
        return kernels

    kernels = asyncio.run(before())

    # signed in as a browser is, before the restart
    cookie, csrf = site.login("alice")
    assert site.request("GET", f"/studios/{name}/lab/api/status", cookie=cookie).status == 200
    running = containers(name)
    assert running and all(c[3] for c in running.values()), running

    t0 = time.monotonic()
    site.stop()
    site.start()  # (the same home and port)
    timings["restart blockc serve"] = time.monotonic() - t0

    me = site.request("GET", "/api/v1/me", cookie=cookie)
    assert me.status == 200 and me.json()["name"] == "alice", me
    studio = site.request("GET", f"/api/v1/studios/{name}", cookie=cookie).json()
    assert studio["state"] == "RUNNING", studio
    assert containers(name) == running  # the same containers, not started again

    async def after() -> float:
        async with Lab(site.apps_port, name, session=cookie) as lab:  # (a browser: apps port)
            return await kernels_remember(lab, kernels)

    timings[f"ask {KERNELS} kernels again (cookie)"] = asyncio.run(after())
    assert containers(name) == running

    # stopped and removed through the API, with the session and its CSRF token of before
    stop = site.request("POST", f"/api/v1/studios/{name}/stop", cookie=cookie, csrf=csrf)
    run_task(site, stop, alice)
    assert site.request("GET", f"/studios/{name}/lab/api", token=alice).status == 503
    run_task(site, site.request("DELETE", f"/api/v1/studios/{name}", token=alice), alice)
    assert site.request("GET", f"/api/v1/studios/{name}", token=alice).status == 404

    print("\n" + "\n".join(f"{what}: {secs:.1f}s" for what, secs in timings.items()))
