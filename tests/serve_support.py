"""A front door to test against: ``blockc serve`` as a process on a home of its own, its
users, and studios recorded as running behind real gates (the in-studio gate,
blockc/compiler/in_studio/launch.py, run here as a process) in front of a real app
(tests/serve_backend.py)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

from compiler_support import BLOCKC, ROOT

BACKEND = Path(__file__).resolve().parent / "serve_backend.py"
LAUNCH = ROOT / "blockc" / "compiler" / "in_studio" / "launch.py"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "root": "root-password"}


def an_app(path: str) -> bool:
    """``/studios/<studio>/<app>…`` (what the front door serves on the apps' port)."""
    parts = path.partition("?")[0].split("/")
    return len(parts) > 3 and parts[1] == "studios" and bool(parts[3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"{what} ended (exit {proc.returncode}): {out}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} does not listen on {port}")


class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.body[:300]!r}>"


class Site:
    """``blockc serve`` on ``home``, started with :meth:`start`."""

    def __init__(self, home: Path, settings: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "BLOCKC_HOME": str(home),
            "BLOCKC_RESIDENT": "0",
            **{f"BLOCKC_{k.upper()}": v for k, v in (settings or {}).items()},
        }
        self.env.setdefault("BLOCKC_APPS_PORT", str(free_port()))  # (its next may be taken)
        self.apps_port = (
            int(self.env["BLOCKC_APPS_PORT"]) if self.env["BLOCKC_APPS_PORT"].isdigit() else 0
        )
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.procs: list[subprocess.Popen] = []

    # --- processes ------------------------------------------------------------------------

    def blockc(self, *args, input=None, check=True, env=None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(BLOCKC), *args],
            env={**self.env, **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    def python(self, code: str) -> None:
        """Run Python code in a process of its own on this home (as the CLI would act)."""
        env = {**os.environ, "BLOCKC_HOME": str(self.home)}
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)

    def start(self) -> None:
        self.port = self.port or free_port()
        self.proc = subprocess.Popen(
            [str(BLOCKC), "serve", "--listen", f"127.0.0.1:{self.port}"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_port(self.port, self.proc, "blockc serve")
        if self.apps_port:
            wait_port(self.apps_port, self.proc, "blockc serve's apps port")

    def stop(self) -> str:
        assert self.proc is not None
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        self.proc = None
        return out

    def spawn(self, argv, port: int, what: str, env=None) -> subprocess.Popen:
        proc = subprocess.Popen(
            argv,
            env=env or self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.procs.append(proc)
        wait_port(port, proc, what)
        return proc

    def backend(self) -> int:
        port = free_port()
        self.spawn([sys.executable, str(BACKEND), str(port)], port, "the test app")
        return port

    def close(self) -> None:
        if self.proc is not None:
            print("blockc serve said:\n" + self.stop()[-20000:])  # (shown when a test failed)
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)

    # --- state ----------------------------------------------------------------------------

    def users(self) -> None:
        self.blockc("users", "add", "alice", "--group", "ml", input=PASSWORDS["alice"])
        self.blockc("users", "add", "bob", input=PASSWORDS["bob"])
        self.blockc("users", "add", "root", "--admin", input=PASSWORDS["root"])

    def token(self, user: str, days: str = "1") -> str:
        out = self.blockc("tokens", "create", "--user", user, "--expires", days).stdout
        return out.split()[0]

    def studio(
        self,
        name: str,
        owner: str,
        app_port: int,
        *,
        state: str = "RUNNING",
        gated: bool = True,
        apps=(("web", "strip"), ("pre", "preserve")),
    ) -> dict:
        """A studio recorded as its start leaves it: running behind its gate (a real one,
        this process's own) in front of ``app_port``; returns its gate's port and secret."""
        from blockc.run import state as state_module

        old = os.environ.get("BLOCKC_HOME")
        os.environ["BLOCKC_HOME"] = str(self.home)
        try:
            app_list = [
                {
                    "id": app_id,
                    "type": "app",
                    "port": app_port,
                    "path": path,
                    "health": None,
                    "websocket": True,
                    "label": app_id.upper(),
                }
                for app_id, path in apps
            ]
            digest = secrets.token_hex(32)
            artifact = Path(state_module.artifact_dir(name, digest))
            artifact.mkdir(parents=True)
            (artifact / "studio.json").write_text(json.dumps({"name": name, "apps": app_list}))
            gate = {"port": 0, "secret": ""}
            if gated:
                gate = {"port": free_port(), "secret": secrets.token_urlsafe(32)}
                apps_file = artifact / "apps.json"
                apps_file.write_text(json.dumps({"apps": app_list}))
                self.spawn(
                    [sys.executable, str(LAUNCH), "gate"],
                    gate["port"],
                    f"the gate of {name}",
                    env={
                        **os.environ,
                        "BLOCKC_APPS_FILE": str(apps_file),
                        "BLOCKC_GATE_PORT": str(gate["port"]),
                        "BLOCKC_GATE_HOST": "127.0.0.1",
                        "BLOCKC_GATE_SECRET": gate["secret"],
                    },
                )
            state_module.save(
                state_module.Studio(
                    name=name,
                    owner=owner,
                    template=name,
                    template_path="/nonexistent.yaml",
                    artifact_hash=digest,
                    image="none",
                    runtime="podman",
                    state=state,
                    ports={} if gated else {a: app_port for a, _ in apps},
                    gate_port=gate["port"],
                    gate_secret=gate["secret"],
                )
            )
            return gate
        finally:
            if old is None:
                os.environ.pop("BLOCKC_HOME", None)
            else:
                os.environ["BLOCKC_HOME"] = old

    # --- requests -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict | None = None,
        token: str | None = None,
        cookie: str | None = None,
        csrf: str | None = None,
        port: int | None = None,
    ) -> Answer:
        hdrs = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if cookie:
            hdrs["Cookie"] = f"blockc_session={cookie}"
        if csrf:
            hdrs["X-CSRF-Token"] = csrf
        if port is None and not token and self.apps_port and an_app(path):
            port = self.apps_port  # (an app, without a token: on its own origin, as browsers)
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Answer(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()

    def login(self, user: str, password: str | None = None) -> tuple[str, str]:
        """Sign in as a script does: (the session cookie, its CSRF token)."""
        answer = self.request(
            "POST", "/login", body={"user": user, "password": password or PASSWORDS[user]}
        )
        assert answer.status == 200, answer
        cookie = answer.header("Set-Cookie") or ""
        value = cookie.split(";")[0].split("=", 1)[1]
        return value, answer.json()["csrf"]
