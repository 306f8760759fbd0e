#!/usr/bin/env python3
"""The front door's gateway against configurable-http-proxy (JupyterHub's proxy), side by side.

    .venv/bin/python benchmarks/gateway.py [--rounds 3] [--seconds 10] [--part http,ws,idle,upload]

Both proxies stand in front of the same backends on 127.0.0.1: nginx (Debian, one worker)
serving a 1 KiB page, and a WebSocket echo and byte sink (``_backends.py echo``, aiohttp on
uvloop). The gateway is ``blockc serve`` on a scratch home with one user, one studio
recorded as running with its two apps at those backends, and every request authenticated
with the user's API token (the whole check: token, studio, owner, state). CHP 5 (npm) routes
the same paths, unauthenticated, with its defaults (X-Forwarded headers on).

- http: ``wrk -t2 -c50`` for ``--seconds``, per round, each proxy in turn (the order rotates);
  requests/s and p99 latency, medians over rounds. Also the gateway with its auth check
  taken out (``_backends.py gateway-no-auth``: every request is the user's), for the cost of
  the check.
- ws: 50 WebSockets doing 64-byte echo round trips for ``--seconds``: messages/s.
- idle: 1,000 WebSockets opened and held: the proxy's resident memory growth.
- upload: one 2 GiB POST streamed to the sink: the gateway's peak memory growth.

Goals (issue 15): http requests/s >= 1.0x CHP's and p99 <= 1.0x; ws messages/s >= 1.0x;
idle memory <= CHP's; auth-off minus auth-on <= 10%; upload growth < 50 MB.

Needs wrk, nginx and npm (``make bench-gateway`` installs them); CHP is installed under
``$BLOCKC_BENCH_PEERS``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import PEER_DIR, compile_bytecode  # noqa: E402

CHP_VERSION = "5.3.0"
BACKENDS = [sys.executable, str(HERE / "_backends.py")]
STUDIO = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} ended at start (exit {proc.returncode})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port}")


def chp_bin() -> Path:
    exe = PEER_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
    version = PEER_DIR / "node_modules" / "configurable-http-proxy" / "package.json"
    if not exe.exists() or json.loads(version.read_text())["version"] != CHP_VERSION:
        PEER_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-fund",
                "--no-audit",
                "--prefix",
                str(PEER_DIR),
                f"configurable-http-proxy@{CHP_VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return exe


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} for {pid}")


def tree_rss_kib(pid: int) -> int:
    """The process's resident memory with its children's (CHP is one node process; so is the
    gateway: the sum guards against either forking workers)."""
    total = rss_kib(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += tree_rss_kib(int(child))
    return total


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def wrk(url: str, seconds: float, headers: dict[str, str]) -> tuple[float, float]:
    argv = ["wrk", "-t2", "-c50", f"-d{seconds:.0f}s", "--latency", url]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad or "Socket errors" in out and "timeout" in out:
        raise SystemExit(f"wrk saw errors through {url}:\n{out}")
    return rps, float(m.group(1)) * _UNITS[m.group(2)]  # type: ignore[union-attr]


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.env = dict(
            os.environ,
            BLOCKC_HOME=str(self.home),
            BLOCKC_RESIDENT="0",
            BLOCKC_APPS_PORT=str(free_port()),  # (the next port after its own may be taken)
        )
        self.procs: list[subprocess.Popen] = []

    def spawn(self, argv, port: int, what: str, **kw) -> subprocess.Popen:
        log = open(self.tmp / f"{what}.log", "wb")
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=kw.pop("env", self.env), **kw
        )
        self.procs.append(proc)
        wait_port(port, proc, what)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def blockc(self, *args, env=None) -> str:
        return subprocess.run(
            [sys.executable, "-m", "blockc", *args],
            env=env or self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def setup(self) -> None:
        www = self.tmp / "www"
        self.tmp.chmod(0o755)  # (nginx's workers run as www-data)
        page = (b"<p>" + b"blockc " * 145 + b"</p>\n")[:1024]
        for d in (www, www / "studios" / STUDIO / "web"):
            d.mkdir(parents=True, exist_ok=True)
            (d / "index.html").write_bytes(page)
        self.nginx_port, self.echo_port = free_port(), free_port()
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            f"worker_processes 1; daemon off; pid {self.tmp}/nginx.pid;\n"
            f"error_log {self.tmp}/nginx.err;\n"
            "events { worker_connections 8192; }\n"
            "http { access_log off; keepalive_requests 1000000;\n"
            f"  server {{ listen 127.0.0.1:{self.nginx_port}; root {www}; }} }}\n"
        )
        self.spawn(
            ["nginx", "-c", str(conf), "-e", str(self.tmp / "nginx.err")], self.nginx_port, "nginx"
        )
        self.spawn([*BACKENDS, "echo", str(self.echo_port)], self.echo_port, "echo")

        # the gateway's home, and the one of the gateway without auth (one front door per home)
        self.home2 = self.tmp / "home2"
        env2 = dict(self.env, BLOCKC_HOME=str(self.home2), BLOCKC_APPS_PORT=str(free_port()))
        self.blockc("users", "add", "alice", "--no-password")
        self.blockc("users", "add", "alice", "--no-password", env=env2)
        self.token = self.blockc("tokens", "create", "--user", "alice", "--expires", "1").split()[0]

        self.gw_port, self.noauth_port = free_port(), free_port()
        self.start_gateway()
        self.noauth = self.spawn(
            [
                *BACKENDS,
                "gateway-no-auth",
                str(self.home2),
                f"127.0.0.1:{self.noauth_port}",
                "alice",
            ],
            self.noauth_port,
            "gateway-no-auth",
            env=env2,
        )
        for home in (self.home, self.home2):  # the studio, recorded as running at the backends
            self.record_studio(home)

        self.chp_port, self.chp_api = free_port(), free_port()
        self.start_chp()

    def start_gateway(self) -> None:
        self.gateway = self.spawn(
            [sys.executable, "-m", "blockc", "serve", "--listen", f"127.0.0.1:{self.gw_port}"],
            self.gw_port,
            "gateway",
        )

    def start_chp(self) -> None:
        self.chp = self.spawn(
            [
                str(chp_bin()),
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.chp_port),
                "--api-ip",
                "127.0.0.1",
                "--api-port",
                str(self.chp_api),
                "--default-target",
                f"http://127.0.0.1:{self.nginx_port}",
                "--log-level",
                "error",
            ],
            self.chp_port,
            "chp",
            env=dict(os.environ, CONFIGPROXY_AUTH_TOKEN="bench"),
        )
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(
                f"http://127.0.0.1:{self.chp_api}/api/routes/studios/{STUDIO}/ws",
                data=json.dumps({"target": f"http://127.0.0.1:{self.echo_port}"}).encode(),
                headers={"Authorization": "token bench"},
                method="POST",
            )
        ).close()

    def restart(self, who: str) -> subprocess.Popen:
        """A fresh process of the proxy (memory measured from its start, not from what an
        earlier round left in its allocator)."""
        proc = self.chp if who == "chp" else self.gateway
        proc.terminate()
        proc.wait(30)
        self.procs.remove(proc)
        if who == "chp":
            self.start_chp()
            return self.chp
        # (a front door does not start beside a running studio without a gate: the record
        # says stopped for that instant)
        self.record_studio(self.home, "STOPPED")
        self.start_gateway()
        self.record_studio(self.home, "RUNNING")
        return self.gateway

    def record_studio(self, home: Path, state_now: str = "RUNNING") -> None:
        os.environ["BLOCKC_HOME"] = str(home)  # (blockc reads it at every call)
        from blockc.run import state

        apps = [
            {
                "id": "web",
                "type": "app",
                "port": 80,
                "path": "strip",
                "health": None,
                "websocket": False,
                "label": "web",
            },
            {
                "id": "ws",
                "type": "app",
                "port": 81,
                "path": "strip",
                "health": None,
                "websocket": True,
                "label": "ws",
            },
        ]
        digest = "0" * 64
        artifact = Path(state.artifact_dir(STUDIO, digest))
        artifact.mkdir(parents=True, exist_ok=True)
        (artifact / "studio.json").write_text(json.dumps({"name": STUDIO, "apps": apps}))
        state.save(
            state.Studio(
                name=STUDIO,
                owner="alice",
                template=STUDIO,
                template_path="/dev/null",
                artifact_hash=digest,
                image="none",
                runtime="podman",
                state=state_now,
                ports={"web": self.nginx_port, "ws": self.echo_port},
            )
        )

    def url(self, who: str, app: str, scheme: str = "http") -> str:
        port = {"chp": self.chp_port, "gateway": self.gw_port, "no-auth": self.noauth_port}[who]
        return f"{scheme}://127.0.0.1:{port}/studios/{STUDIO}/{app}/"

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if who == "gateway" else {}


def ratio_line(title: str, ours: float, theirs: float, unit: str, goal: str) -> None:
    print(
        f"  {title:<44} gateway {ours:10.1f} {unit:<6} chp {theirs:10.1f} {unit:<6} "
        f"{ours / theirs:5.2f}x  {goal}",
        flush=True,
    )


def part_http(b: Bench, rounds: int, seconds: float) -> None:
    print("http: wrk -t2 -c50, a 1 KiB page", flush=True)
    who = ["chp", "gateway", "no-auth"]
    for w in who:  # warm up (connections, the JIT of node, caches)
        wrk(b.url(w, "web"), 2, b.headers(w))
    rps: dict[str, list[float]] = {w: [] for w in who}
    p99: dict[str, list[float]] = {w: [] for w in who}
    for r in range(rounds):
        for w in who[r % 3 :] + who[: r % 3]:
            got = wrk(b.url(w, "web"), seconds, b.headers(w))
            rps[w].append(got[0])
            p99[w].append(got[1])
            print(
                f"    round {r + 1} {w:<8} {got[0]:9.0f} req/s  p99 {got[1] * 1000:6.2f} ms",
                flush=True,
            )
    med = {w: statistics.median(rps[w]) for w in who}
    lat = {w: statistics.median(p99[w]) * 1000 for w in who}
    ratio_line(
        "requests/s (authenticated vs CHP)", med["gateway"], med["chp"], "req/s", "goal >= 1.0x"
    )
    ratio_line("p99 latency", lat["gateway"], lat["chp"], "ms", "goal <= 1.0x")
    cost = 1 - med["gateway"] / med["no-auth"]
    print(
        f"  {'auth check cost (vs the gateway without it)':<44} {med['no-auth']:10.1f} req/s "
        f"without, {cost * 100:5.1f}%  goal <= 10%",
        flush=True,
    )


def part_ws(b: Bench, rounds: int, seconds: float) -> None:
    print("ws: 50 WebSockets, 64-byte echo round trips", flush=True)
    got: dict[str, list[float]] = {"chp": [], "gateway": []}
    cpu: dict[str, list[float]] = {"chp": [], "gateway": []}  # the proxy's, per message
    for r in range(rounds):
        for w in ["chp", "gateway"] if r % 2 == 0 else ["gateway", "chp"]:
            hdr = [f"{k}={v}" for k, v in b.headers(w).items()]
            pid = (b.chp if w == "chp" else b.gateway).pid
            before = cpu_seconds(pid)
            out = subprocess.run(
                [*BACKENDS, "ws-load", b.url(w, "ws", "ws") + "ws", str(seconds), "50", *hdr],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            got[w].append(float(out.split()[-1]))
            cpu[w].append((cpu_seconds(pid) - before) / (got[w][-1] * seconds) * 1e6)
            print(
                f"    round {r + 1} {w:<8} {got[w][-1]:9.0f} msg/s "
                f"({cpu[w][-1]:.1f} us of the proxy's CPU per message)",
                flush=True,
            )
    ratio_line(
        "messages/s",
        statistics.median(got["gateway"]),
        statistics.median(got["chp"]),
        "msg/s",
        "goal >= 1.0x",
    )
    ratio_line(
        "CPU per message",
        statistics.median(cpu["gateway"]),
        statistics.median(cpu["chp"]),
        "us",
        "(less is better)",
    )


def part_idle(b: Bench, rounds: int, count: int = 1000) -> None:
    print(f"idle: {count} WebSockets held open (resident memory growth, per round)", flush=True)
    grew: dict[str, list[float]] = {"chp": [], "gateway": []}
    for r in range(rounds):
        for w in ("chp", "gateway")[:: 1 if r % 2 == 0 else -1]:
            proc = b.restart(w)
            time.sleep(1)
            # (one connection first: what any first connection loads is no WebSocket's cost)
            subprocess.run(
                [
                    *BACKENDS,
                    "ws-load",
                    b.url(w, "ws", "ws") + "ws",
                    "0.5",
                    "1",
                    *[f"{k}={v}" for k, v in b.headers(w).items()],
                ],
                check=True,
                capture_output=True,
            )
            before = tree_rss_kib(proc.pid)
            hdr = [f"{k}={v}" for k, v in b.headers(w).items()]
            holder = subprocess.Popen(
                [*BACKENDS, "ws-idle", b.url(w, "ws", "ws") + "ws", str(count), *hdr],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout and holder.stdin
            if holder.stdout.readline().strip() != "open":
                raise SystemExit(f"could not open {count} WebSockets through {w}")
            time.sleep(3)  # (settled: node's collector, the allocators)
            grew[w].append((tree_rss_kib(proc.pid) - before) / 1024)
            holder.stdin.write("\n")
            holder.stdin.close()
            holder.wait(60)
            time.sleep(2)
            print(f"    round {r + 1} {w:<8} {grew[w][-1]:6.1f} MiB", flush=True)
    ratio_line(
        "memory growth",
        statistics.median(grew["gateway"]),
        statistics.median(grew["chp"]),
        "MiB",
        "goal <= 1.0x",
    )


def part_upload(b: Bench, mib: int = 2048) -> None:
    print(f"upload: one {mib} MiB POST, streamed", flush=True)
    for w, proc in (("chp", b.chp), ("gateway", b.gateway)):
        before = rss_kib(proc.pid)
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # (resets the peak, VmHWM)
        hdr = [f"{k}={v}" for k, v in b.headers(w).items()]
        out = subprocess.run(
            [*BACKENDS, "upload", b.url(w, "ws") + "sink", str(mib), *hdr],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        peak = rss_kib(proc.pid, "VmHWM")
        print(
            f"  {w:<8} {float(out):6.1f} s ({mib / float(out):6.0f} MiB/s), peak memory growth "
            f"{(peak - before) / 1024:6.1f} MiB{'  goal < 50 MB' if w == 'gateway' else ''}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--part", default="http,ws,idle,upload")
    args = p.parse_args()
    compile_bytecode()
    parts = args.part.split(",")
    with tempfile.TemporaryDirectory(prefix="blockc-gwbench-") as tmp:
        b = Bench(Path(tmp))
        try:
            b.setup()
            print(
                f"gateway vs configurable-http-proxy {CHP_VERSION} "
                f"({os.cpu_count()} CPUs, all on this machine)",
                flush=True,
            )
            if "http" in parts:
                part_http(b, args.rounds, args.seconds)
            if "ws" in parts:
                part_ws(b, args.rounds, args.seconds)
            if "idle" in parts:
                part_idle(b, args.rounds)
            if "upload" in parts:
                part_upload(b)
        finally:
            b.close()


if __name__ == "__main__":
    main()
