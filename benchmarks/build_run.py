"""Build and run speed and cost, for the demo template (and, with --apps, each app block).

    .venv/bin/python benchmarks/build_run.py [--runs N] [--apps] [--skip-cold]

Prints medians of N runs:
- cold build (`blockc build --no-cache`) next to plain `buildah bud --no-cache` of a
  hand-written equivalent Containerfile (benchmarks/handwritten/demo.Containerfile): ratio;
- an unchanged `blockc build` (goal <= 0.5 s), and the Dev Containers CLI's unchanged rebuild
  with podman of four local features, side by side (ratio, goal <= 0.2);
- a rebuild after changing one option of the template's last block: steps re-run / total;
- `blockc start` to all apps healthy on a built image, next to the slowest app's own startup
  (the app alone in a plain `podman run`): the difference (goal <= 1 s);
- the image size;
- with --apps: per app block (jupyterlab, streamlit, vscode): build time, image size, start to
  healthy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (
    BIN,
    ROOT,
    compile_bytecode,
    devcontainer_cli,
    devcontainer_workspace,
    median_time,
    report,
)  # noqa: E402

DEMO = ROOT / "examples" / "demo.yaml"
HANDWRITTEN = ROOT / "benchmarks" / "handwritten" / "demo.Containerfile"
BLOCKC = str(BIN / "blockc")
CA = "/etc/ssl/certs/ca-certificates.crt"


def sh(*argv, check=True, capture=True, env=None):
    return subprocess.run(
        [str(a) for a in argv],
        check=check,
        text=True,
        env=env,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if capture else subprocess.DEVNULL,
    )


def blockc(*argv, **kw):
    return sh(BLOCKC, *argv, **kw)


def image_size(ref: str) -> int:
    return int(sh("podman", "image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, redirect_ok=False, timeout=300) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 300:
                    return time.perf_counter() - t0
        except urllib.error.HTTPError as e:
            if redirect_ok and 300 <= e.code < 400:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def own_startup(ref: str, app: dict, workspace: Path) -> float:
    """The app alone in a plain container (its launcher, no supervisor, no blockc), with the
    workspace files copied in before it starts (as a sync would)."""
    port = free_port()
    base = f"/studios/bench/{app['id']}/" if app["path"] == "preserve" else "/"
    env_id = app["id"].upper().replace("-", "_")
    name = f"bench-own-{app['id']}"
    sh("podman", "rm", "-f", "-t", "0", name, check=False)
    sh(
        "podman",
        "create",
        "--name",
        name,
        "-p",
        f"127.0.0.1:{port}:{app['port']}",
        "-e",
        f"BLOCKC_BASE_PATH_{env_id}={base}",
        ref,
        "/opt/blockc/venv/bin/python",
        "/opt/blockc/launch.py",
        "run",
        app["id"],
    )
    sh("podman", "cp", f"{workspace}/.", f"{name}:/home/studio/workspace/")
    t0 = time.perf_counter()
    sh("podman", "start", name)
    health = app["health"].replace("{base}", base)
    wait_http(f"http://127.0.0.1:{port}{health}", app.get("health_redirect_ok", False))
    elapsed = time.perf_counter() - t0
    sh("podman", "rm", "-f", "-t", "0", name, check=False)
    return elapsed


def start_to_healthy(template: Path, studio: str, workspace: Path) -> float:
    blockc("rm", "--force", studio, check=False)
    t0 = time.perf_counter()
    blockc("start", template, "--studio", studio, "--workspace", workspace)
    elapsed = time.perf_counter() - t0
    blockc("rm", "--force", studio, check=False)
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--apps", action="store_true", help="also each app block on its own")
    ap.add_argument("--skip-cold", action="store_true", help="skip the cold-build comparison")
    args = ap.parse_args()
    compile_bytecode()
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "etc" / "containers.conf"))
    home = Path(tempfile.mkdtemp(prefix="blockc-bench-"))
    os.environ["BLOCKC_HOME"] = str(home)
    workspace = home / "ws"
    shutil.copytree(ROOT / "examples" / "demo-workspace", workspace)
    print(f"build & run benchmark, template {DEMO.relative_to(ROOT)}: medians of {args.runs} runs")

    ref = blockc("build", DEMO).stdout.strip().splitlines()[-1]
    art = home / "art"
    blockc("compile", DEMO, "-o", art)

    if not args.skip_cold:
        hand_tag = "localhost/bench/handwritten:demo"

        def ours():
            blockc("build", "--no-cache", DEMO)

        def hand():
            sh(
                "buildah",
                "bud",
                "--no-cache",
                "--layers",
                "--isolation=chroot",
                "--pull=never",
                "-v",
                f"{CA}:{CA}:ro",
                "-f",
                HANDWRITTEN,
                "-t",
                hand_tag,
                art,
            )

        # alternating, each run in the other order: the network (PyPI) and the machine drift
        # over minutes, and neither build should get the better minutes
        times: dict = {ours: [], hand: []}
        for i in range(args.runs):
            for fn in (ours, hand) if i % 2 == 0 else (hand, ours):
                times[fn].append(median_time(fn, 1, warmup=0)[0])
        cold, hand_t = statistics.median(times[ours]), statistics.median(times[hand])
        report("cold build: blockc build --no-cache", cold, unit="s")
        report("cold build: buildah bud of the hand-written Containerfile", hand_t, unit="s")
        report("ratio blockc / hand-written", cold / hand_t, unit="x", goal="(goal <= 1.05)")
        report("image size, hand-written (MB)", image_size(hand_tag) / 1e6, unit="MB")

    unchanged, _ = median_time(lambda: blockc("build", DEMO), max(args.runs, 5))
    report("unchanged blockc build", unchanged, unit="s", goal="(goal <= 0.5 s)")
    report("image size, blockc (MB)", image_size(ref) / 1e6, unit="MB")

    # one option of the last block (file-sync: the zone's container path) changed
    changed = home / "changed.yaml"
    fresh = os.urandom(3).hex()  # a path no earlier run has built
    changed.write_text(
        DEMO.read_text().replace(
            "container: /home/studio/workspace}", f"container: /home/studio/w{fresh}}}"
        )
    )
    t0 = time.perf_counter()
    out = blockc("build", changed).stdout
    rebuild = time.perf_counter() - t0
    summary = re.search(r"^(\d+) of (\d+) steps ran", out, re.M)
    print(
        f"  rebuild after changing the last block's zone path: {summary.group(1)} of "
        f"{summary.group(2)} steps re-ran (its config step and the launch steps after it), "
        f"{rebuild:.1f} s"
    )

    studio_json = json.loads((art / "studio.json").read_text())
    apps = [a for a in studio_json["apps"] if a.get("health")]
    # both functions time only the start itself (not their set-up and clean-up around it);
    # the runs alternate, so that both see the same machine
    own_runs: dict[str, list[float]] = {a["id"]: [] for a in apps}
    start_runs = []
    for _ in range(args.runs):
        for a in apps:
            own_runs[a["id"]].append(own_startup(ref, a, workspace))
        start_runs.append(start_to_healthy(DEMO, "bench", workspace))
    own = {app_id: statistics.median(runs) for app_id, runs in own_runs.items()}
    start = statistics.median(start_runs)
    slowest = max(own, key=own.get)
    for app_id, t in sorted(own.items()):
        report(f"app {app_id} alone: run to healthy", t, unit="s")
    report("blockc start to all apps healthy (built image)", start, unit="s")
    report(
        f"difference to the slowest app ({slowest})",
        start - own[slowest],
        unit="s",
        goal="(goal <= 1 s)",
    )

    cli = devcontainer_cli()
    if cli:
        ws = devcontainer_workspace(
            {n: f"echo {n} > /tmp/{n}" for n in ("python", "jupyter", "streamlit", "sync")}
        )
        peer_cmd = [
            cli,
            "build",
            "--docker-path",
            "podman",
            "--workspace-folder",
            ws,
            "--image-name",
            "localhost/bench/devcontainer:peer",
        ]
        sh(*peer_cmd)
        peer, _ = median_time(lambda: sh(*peer_cmd), max(args.runs, 5))
        report("peer: devcontainer build (unchanged, podman, 4 local features)", peer, unit="s")
        report(
            "ratio unchanged blockc build / peer", unchanged / peer, unit="x", goal="(goal <= 0.2)"
        )

    if args.apps:
        print("app blocks, each alone on the base image:")
        for app_type, extra in (
            ("jupyterlab", 'version: "4.*"'),
            ("streamlit", 'version: "1.*", app: app.py, src: app.py'),
            ("vscode", 'version: "4.139.1"'),
        ):
            d = home / f"app-{app_type}"
            d.mkdir()
            (d / "app.py").write_text("import streamlit as st\nst.write('hello')\n")
            t = d / f"{app_type}.yaml"
            t.write_text(f"""apiVersion: blockc/v1
kind: StudioTemplate
metadata: {{name: bench-{app_type}}}
spec:
  image: {{base: localhost/blockc-base/debian-python:bookworm}}
  blocks:
    - type: {app_type}
      id: app
      with: {{{extra}}}
""")
            t0 = time.perf_counter()
            r = blockc("build", "--no-cache", t).stdout.strip().splitlines()[-1]
            built = time.perf_counter() - t0
            up = start_to_healthy(t, f"bench-{app_type}", workspace)
            report(f"{app_type}: cold build", built, unit="s")
            report(f"{app_type}: image size (MB)", image_size(r) / 1e6, unit="MB")
            report(f"{app_type}: start to healthy", up, unit="s")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
