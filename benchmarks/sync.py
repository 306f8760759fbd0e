#!/usr/bin/env python3
"""File-sync benchmark: blockc sync vs ``rsync -a`` over ``podman exec -i`` vs a plain tar pipe.

    .venv/bin/python benchmarks/sync.py [--runs 5] [--files 10000]

A tree of 10,000 files (~200 MB, mixed sizes, random content) is pushed into a fresh studio
zone; then 1% of the files change in the studio and each tool pulls; then 1% change on the
host and each tool pushes; then nothing changes and each tool syncs. Every tool runs as its
own process against its own copy of the zone, over the same ``podman exec -i`` transport;
blockc runs as a user runs it, the ``blockc sync NAME [--push|--pull]`` command, against a
studio recorded in a scratch ``BLOCKC_HOME`` whose main container is the benchmark's
container. The full pushes run in a different order each run; in the other scenarios
blockc and rsync take turns going first; every timed run starts after a ``sync`` and once
the podman processes of the run before it have ended (no tool pays for the previous one's
writeback or exec cleanup). Prints medians, ratios against the goals (full push <= 1.2x the
tar pipe; 1% delta <= 1.0x rsync; also the median of each run's own ratio) and the peak RSS
of the blockc process (from GNU time when installed).

Needs root, podman and buildah; builds ``localhost/blockc-bench/sync-rsync:1`` (the base
image plus rsync from Debian) once.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "benchmarks"))
from _common import compile_bytecode, quiet_and_cached  # noqa: E402

BASE = os.environ.get("BLOCKC_TEST_BASE_IMAGE", "localhost/blockc-base/debian-python:bookworm")
IMAGE = "localhost/blockc-bench/sync-rsync:1"
UID = "1000"

STUDIO = f"syncbench{os.getpid()}"
# GNU time reports the peak RSS of the command alone (a parent's ru_maxrss would count the
# benchmark process itself, whose memory the child inherits at fork)
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def blockc_cli() -> list[str]:
    exe = Path(sys.executable).parent / "blockc"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "blockc"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def podman(*args, **kw):
    return sh(["podman", *args], **kw)


def ensure_image():
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode == 0:
        return
    if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
        sh([str(HERE / "scripts" / "make-base-image.sh"), BASE])
    with tempfile.TemporaryDirectory() as d:
        Path(d, "Containerfile").write_text(
            f"FROM {BASE}\nRUN apt-get update && apt-get install -y --no-install-recommends rsync "
            "&& rm -rf /var/lib/apt/lists/*\n"
        )
        sh(
            ["buildah", "bud", "--isolation", "chroot", "--pull=never", "-t", IMAGE, d],
            stdout=subprocess.DEVNULL,
        )


def make_tree(root: Path, nfiles: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    names = []
    for i in range(nfiles):
        d = f"d{i % 10}/e{(i // 10) % 10}"
        r = rnd.random()
        if r < 0.90:
            size = rnd.randint(512, 8 << 10)
        elif r < 0.99:
            size = rnd.randint(32 << 10, 256 << 10)
        else:
            size = rnd.randint(64 << 10, 1 << 20)
        rel = f"{d}/f{i:05d}.bin"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size))
        names.append(rel)
    return names


def wait_for_no_podman(*marks: str, timeout=5.0):
    """Wait (at most ``timeout`` s) until no podman process whose command line holds one of
    ``marks`` (the container's name or id: an exec's client, its cleanup) runs."""
    end = time.monotonic() + timeout
    while True:
        busy = False
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().decode("utf-8", "replace").split("\0")
            except OSError:
                continue
            if os.path.basename(argv[0]) == "podman" and any(m in a for a in argv for m in marks):
                busy = True
                break
        if not busy:
            return
        if time.monotonic() > end:
            print(
                f"warning: podman still busy with {marks[0]} after {timeout:.0f} s; measuring anyway",
                file=sys.stderr,
            )
            return
        time.sleep(0.05)


def timed(cmd, **kw):
    """(seconds, peak RSS in MB) of one command."""
    rss_file = None
    if GNU_TIME:
        fd, rss_file = tempfile.mkstemp(prefix="blockc-bench-rss-")
        os.close(fd)
        cmd = [GNU_TIME, "-f", "%M", "-o", rss_file, *cmd]
    t = time.monotonic()
    proc = subprocess.Popen(cmd, **kw)
    _, status, ru = os.wait4(proc.pid, 0)
    dt = time.monotonic() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = ru.ru_maxrss / 1024
    if rss_file:
        rss = int(Path(rss_file).read_text().split()[-1]) / 1024 if proc.returncode == 0 else 0
        os.unlink(rss_file)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {cmd}")
    return dt, rss


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="blockc-bench-"))
        self.src = self.tmp / "src"
        # the name `blockc sync` derives for the studio's main container (podman runtime)
        self.container = f"studio-{STUDIO}-pod-0-studio"
        self.results: dict[str, list[float]] = {}
        self.rss: list[float] = []

    def cexec(self, *cmd, user=UID, input=None):
        return podman(
            "exec", "-i", "-u", user, self.container, *cmd, input=input, stdout=subprocess.DEVNULL
        )

    def setup(self):
        ensure_image()
        print(f"generating {self.args.files} files ...", flush=True)
        self.names = make_tree(self.src, self.args.files)
        total = sum(p.stat().st_size for p in self.src.rglob("*") if p.is_file())
        print(f"tree: {self.args.files} files, {total / 1e6:.0f} MB", flush=True)
        podman(
            "run",
            "-d",
            "--name",
            self.container,
            "--user",
            f"{UID}:{UID}",
            IMAGE,
            "sleep",
            "infinity",
            stdout=subprocess.DEVNULL,
        )
        self.container_id = subprocess.run(
            ["podman", "inspect", "-f", "{{.Id}}", self.container],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        self.cexec("sh", "-c", f"mkdir -p /zones && chown {UID}:{UID} /zones", user="0")

    def cleanup(self):
        subprocess.run(
            ["podman", "rm", "-f", "-t", "0", self.container],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ tools
    def studio_home(self, home: Path, ws: Path, cpath: str) -> dict:
        """A BLOCKC_HOME holding one running studio whose zone ``data`` is ws/data <-> cpath."""
        env = dict(os.environ, BLOCKC_HOME=str(home))
        code = (
            "import json, os, sys\n"
            "from blockc.run import state\n"
            "name, ws, cpath, image = sys.argv[1:5]\n"
            "s = state.Studio(name=name, owner='bench', template='bench', template_path='-',\n"
            "                 artifact_hash='0' * 64, image=image, runtime='podman', state='RUNNING',\n"
            "                 workspace=ws)\n"
            "from pathlib import Path\nPath(s.artifact_dir).mkdir(parents=True)\n"
            "(Path(s.artifact_dir) / 'studio.json').write_text(json.dumps({\n"
            "    'image': {'uid': 1000, 'gid': 1000},\n"
            "    'zones': [{'name': 'data', 'host': 'data', 'container': cpath, 'direction': 'both',\n"
            "               'exclude': []}]}))\n"
            "state.save(s)\n"
        )
        sh([sys.executable, "-c", code, STUDIO, str(ws), cpath, IMAGE], env=env)
        return env

    def blockc(self, env: dict, mode: str, expect: str | None = None):
        """``blockc sync`` (both ways, or --push/--pull); exit 1 means conflicts or unsynced
        paths, which fails the benchmark. ``expect``: a text its summary must hold."""
        out = self.tmp / "blockc.out"
        argv = [*blockc_cli(), "sync", STUDIO] + ([f"--{mode}"] if mode != "both" else [])
        with open(out, "w") as f:
            dt, rss = timed(argv, env=env, stdout=f, stderr=subprocess.STDOUT)
        text = out.read_text()
        if expect is not None and expect not in text:
            raise SystemExit(f"blockc sync did not {expect!r}: {text}")
        self.rss.append(rss)
        return dt

    def rsync_push(self, local: Path, cpath: str):
        return timed(
            [
                "rsync",
                "-a",
                "--delete",
                "--blocking-io",
                "-e",
                f"podman exec -i -u {UID}",
                f"{local}/",
                f"{self.container}:{cpath}/",
            ]
        )[0]

    def rsync_pull(self, local: Path, cpath: str):
        return timed(
            [
                "rsync",
                "-a",
                "--delete",
                "--blocking-io",
                "-e",
                f"podman exec -i -u {UID}",
                f"{self.container}:{cpath}/",
                f"{local}/",
            ]
        )[0]

    def tar_push(self, local: Path, cpath: str):
        return timed(
            [
                "sh",
                "-c",
                f"tar -C '{local}' -cf - . | podman exec -i -u {UID} {self.container} "
                f"sh -c 'mkdir -p {cpath} && tar -C {cpath} -xf -'",
            ]
        )[0]

    def tar_pull(self, local: Path, cpath: str):
        return timed(
            [
                "sh",
                "-c",
                f"podman exec -i -u {UID} {self.container} tar -C {cpath} -cf - . "
                f"| tar -C '{local}' -xf -",
            ]
        )[0]

    def add(self, key, value):
        self.results.setdefault(key, []).append(value)

    # --------------------------------------------------------------- mutations
    def change_in_container(self, cpath: str, picks: list[str], seed: int):
        code = (
            "import os,sys,random\nr=random.Random(%d)\nfor rel in sys.stdin.read().split('\\n'):\n"  # noqa: UP031
            "  p=os.path.join(%r, rel); n=os.path.getsize(p)\n"
            "  open(p,'wb').write(os.urandom(n + r.randint(1, 100)))\n"
        ) % (seed, cpath)
        self.cexec("python3", "-c", code, input="\n".join(picks).encode())

    def change_on_host(self, root: Path, picks: list[str], seed: int):
        r = random.Random(seed)
        for rel in picks:
            p = root / rel
            p.write_bytes(os.urandom(p.stat().st_size + r.randint(1, 100)))

    def picks(self, seed):
        return random.Random(seed).sample(self.names, max(1, len(self.names) // 100))

    # --------------------------------------------------------------------- run
    def both(self, i, first, second):
        """The two tools of a scenario, each run in the other order (neither always goes
        first), each with no writeback pending (the set-up copies 200 MB trees)."""
        for key, fn in (first, second) if i % 2 == 0 else (second, first):
            self.add(key, self.settled(fn))

    def settled(self, fn, source: Path | None = None):
        """Run fn with no dirty pages pending, ``source`` (the tree the tool reads) in the
        page cache (_common.quiet_and_cached) and no podman process left from the tool before
        (the cleanup `podman exec` leaves running after its client ends): a tool never pays
        for the 200 MB the tool before it wrote, nor for its exec's end."""
        quiet_and_cached(source)
        wait_for_no_podman(self.container, self.container_id)
        return fn()

    def run(self):
        runs = self.args.runs
        for i in range(runs):
            print(f"run {i + 1}/{runs}", flush=True)
            # full push: each tool into a fresh zone
            ws = self.tmp / f"ws{i}"
            (ws).mkdir()
            shutil.copytree(self.src, ws / "data")  # blockc's own host tree (mtimes kept)
            env = self.studio_home(self.tmp / f"home{i}", ws, f"/zones/blockc{i}")
            n = len(self.names) + len(
                {rel.rsplit("/", k)[0] for rel in self.names for k in range(1, rel.count("/") + 1)}
            )
            pushes = [
                (
                    "full push: tar pipe",
                    lambda: self.tar_push(self.src, f"/zones/tar{i}"),
                    self.src,
                ),
                (
                    "full push: rsync",
                    lambda: self.rsync_push(self.src, f"/zones/rsync{i}"),
                    self.src,
                ),
                (
                    "full push: blockc",
                    lambda: self.blockc(env, "push", expect=f"push {n} added"),
                    ws / "data",
                ),
            ]
            # the first push after the set-up and the cleanup of the run before takes up to 3x as
            # long here, whichever tool makes it (seen with tar alone): an untimed one takes it
            self.settled(lambda: self.tar_push(self.src, f"/zones/warm{i}"))
            for key, fn, source in pushes[i % 3 :] + pushes[: i % 3]:  # each in another order
                self.add(key, self.settled(fn, source))
            if self.args.full_push_only:
                self.clean_run(i, ws)
                continue
            rs_local = self.tmp / f"rs{i}"
            shutil.copytree(self.src, rs_local)  # rsync's own host tree
            bl = ws / "data"
            self.blockc(env, "both", expect="up to date")  # settles; nothing should move

            # 1% changed in the studio, pulled
            picks = self.picks(100 + i)
            self.change_in_container(f"/zones/rsync{i}", picks, i)
            self.change_in_container(f"/zones/blockc{i}", picks, i)
            self.both(
                i,
                ("1% pull: rsync", lambda: self.rsync_pull(rs_local, f"/zones/rsync{i}")),
                (
                    "1% pull: blockc",
                    lambda: self.blockc(env, "pull", expect=f"pull {len(picks)} modified"),
                ),
            )

            # 1% changed on the host, pushed
            picks = self.picks(200 + i)
            self.change_on_host(rs_local, picks, i)
            self.change_on_host(bl, picks, i)
            self.both(
                i,
                ("1% push: rsync", lambda: self.rsync_push(rs_local, f"/zones/rsync{i}")),
                (
                    "1% push: blockc",
                    lambda: self.blockc(env, "push", expect=f"push {len(picks)} modified"),
                ),
            )

            # nothing changed
            self.both(
                i,
                ("no change: rsync", lambda: self.rsync_push(rs_local, f"/zones/rsync{i}")),
                ("no change: blockc", lambda: self.blockc(env, "both", expect="up to date")),
            )
            self.clean_run(i, ws, rs_local)

    def clean_run(self, i: int, *local: Path):
        """Remove the zones of run ``i`` in the studio, and its local trees."""
        zones = [f"/zones/{tool}{i}" for tool in ("tar", "rsync", "blockc", "warm")]
        self.cexec("rm", "-rf", *zones)
        for tree in local:
            shutil.rmtree(tree)

    def print(self):
        med = {k: statistics.median(v) for k, v in self.results.items()}
        print()
        print(f"{'scenario':28} {'median s':>9}   runs")
        for k, v in self.results.items():
            print(f"{k:28} {med[k]:9.3f}   {' '.join(f'{x:.3f}' for x in v)}")
        print()

        def ratio(a, b, goal):
            r = med[a] / med[b]
            # the same run's pair ran back to back: less of the machine's load in their ratio
            pairs = [x / y for x, y in zip(self.results[a], self.results[b], strict=True)]
            print(
                f"{a} / {b}: {r:.2f}x (goal <= {goal}x) {'OK' if r <= goal else 'MISSED'}; "
                f"per run: median {statistics.median(pairs):.2f}x, faster in {sum(p < 1 for p in pairs)}"
                f"/{len(pairs)}"
            )

        ratio("full push: blockc", "full push: tar pipe", 1.2)
        if "1% pull: blockc" in med:
            ratio("1% pull: blockc", "1% pull: rsync", 1.0)
            ratio("1% push: blockc", "1% push: rsync", 1.0)
            ratio("no change: blockc", "no change: rsync", 1.0)
        print(
            f"blockc peak RSS: max {max(self.rss):.0f} MB over {len(self.rss)} runs "
            f"(median {statistics.median(self.rss):.0f} MB)"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--runs",
        type=int,
        default=5,
        help="5 at least: full-push times here swing by 3x from run to run",
    )
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument(
        "--full-push-only",
        action="store_true",
        help="only the full pushes (to study them: the other scenarios take longer)",
    )
    args = ap.parse_args()
    # buildah's build steps run elsewhere: the containers.conf is named by its absolute path
    conf = os.environ.get("CONTAINERS_CONF", str(HERE / "etc" / "containers.conf"))
    os.environ["CONTAINERS_CONF"] = os.path.abspath(conf)
    compile_bytecode()
    b = Bench(args)
    try:
        b.setup()
        b.run()
        b.print()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
