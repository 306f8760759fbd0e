"""Build: the artifact into an image with buildah (driven through ``sh``).

The image is tagged ``localhost/blockc/<template>:<first 12 hex of the hash>`` and the build is
skipped when that image exists. Site settings (CA bundle, pip index, npm registry, apt mirror)
reach build steps through a read-only mount at ``/run/blockc-site``, never through a layer.
buildah only tags an image once every step succeeded, so an interrupted build leaves no tag.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from collections import deque
from pathlib import Path

import sh

from ..compiler.containerfile import SITE_MOUNT
from ..compiler.emit import differences, emit
from ..compiler.model import Artifact
from ..errors import BlockcError, Diagnostic
from ..home import private_home
from . import state
from .containers import image_exists, tool
from .progress import Progress
from .settings import Settings

_STEP = re.compile(r"^STEP (\d+)/(\d+): (.*)$")


def _site_dir(settings: Settings) -> Path:
    """The directory mounted at SITE_MOUNT for one build. It lives in ``$BLOCKC_HOME/tmp``
    (mode 0700), not in /tmp: no other user reads the site's settings (an index URL may hold
    a token), and what a killed build left behind is removed by the next build."""
    base = Path(private_home(), "tmp")
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o700)
    for old in base.glob("site-*-*"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    d = Path(tempfile.mkdtemp(prefix=f"site-{os.getpid()}-", dir=base))
    if settings.pip_index_url:
        (d / "pip.conf").write_text(f"[global]\nindex-url = {settings.pip_index_url}\n")
    if settings.npm_registry:
        (d / "npmrc").write_text(f"registry={settings.npm_registry}\n")
    if settings.apt_mirror:
        (d / "apt-mirror").write_text(settings.apt_mirror + "\n")
    ca = settings.effective_ca_bundle()
    if ca:
        shutil.copyfile(ca, d / "ca.crt")
    for p in d.iterdir():
        p.chmod(0o644)
    d.chmod(0o755)
    return d


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """Make buildah die with blockc, so a killed blockc leaves no build running."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def build(
    artifact: Artifact,
    artifact_dir: Path,
    settings: Settings,
    *,
    no_cache: bool = False,
    progress: Progress | None = None,
) -> tuple[str, bool]:
    """Build (unless already built); return (image ref, built?)."""
    ref = artifact.image_ref
    progress = progress or Progress(quiet=True)
    if not no_cache and image_exists(ref, settings):
        return ref, False
    steps = artifact.steps()  # buildah's STEP n is steps[n - 1]
    site = _site_dir(settings)
    args = [
        "bud",
        "--layers",
        f"--isolation={settings.isolation}",
        f"--pull={settings.pull}",
        "-f",
        str(artifact_dir / "Containerfile"),
        "-t",
        ref,
        "--label",
        f"blockc.dev/template={artifact.name}",
        "--label",
        f"blockc.dev/hash={artifact.hash}",
        "-v",
        f"{site}:{SITE_MOUNT}:ro",
    ]
    ca = settings.effective_ca_bundle()
    if ca:
        args += ["-v", f"{Path(ca).resolve()}:/etc/ssl/certs/ca-certificates.crt:ro"]
    if no_cache:
        args.append("--no-cache")
    args.append(str(artifact_dir))
    tail: deque[str] = deque(maxlen=25)
    current = None
    cached: set[int] = set()
    try:
        # every exit code is "ok" to sh: the failure is reported below, with its step and block
        proc = tool("buildah", settings)(
            *args,
            _iter=True,
            _err_to_out=True,
            _ok_code=list(range(256)),
            _return_cmd=True,
            _preexec_fn=_die_with_parent,
        )
        for raw in proc:
            line = raw.rstrip("\n")
            m = _STEP.match(line)
            if m:
                n, total = int(m.group(1)), int(m.group(2))
                owner = steps[n - 1].owner if n - 1 < len(steps) else "blockc"
                current = (n, total, owner, m.group(3))
                tail.clear()
                text = f"step {n}/{total} [{owner}] {m.group(3)[:100]}"
                if progress.tty:
                    progress.update(text)
                else:
                    progress.line(text)
            elif line.startswith("--> Using cache") and current:
                cached.add(current[0])
            tail.append(line)
        proc.wait()
    finally:
        shutil.rmtree(site, ignore_errors=True)
    if proc.exit_code:
        if current:
            n, total, owner, what = current
            msg = f"build failed at step {n}/{total} (from block '{owner}'): {what[:200]}"
        else:
            msg = f"build failed before the first step (buildah exit {proc.exit_code})"
        last = "\n".join(f"    {ln}" for ln in tail)
        block = current[2] if current else None
        raise BlockcError(
            [
                Diagnostic(
                    f"{msg}\n  last lines of its log:\n{last}",
                    block_id=block,
                    block_type=_type_of(artifact, block),
                )
            ]
        )
    if current:
        # FROM and ARG never run anything; every other step either ran or came from the cache
        runnable = [
            n for n, line in enumerate(steps, 1) if not line.text.startswith(("FROM ", "ARG "))
        ]
        ran = [n for n in runnable if n not in cached]
        progress.line(
            f"{len(ran)} of {len(runnable)} steps ran, {len(runnable) - len(ran)} "
            f"from the layer cache"
        )
    return ref, True


def _type_of(artifact: Artifact, block_id: str | None) -> str | None:
    if block_id == "blockc":
        return "blockc"
    return next((b["type"] for b in artifact.studio["blocks"] if b["id"] == block_id), None)


def registry_ref(ref: str, settings: Settings) -> str:
    """Where ``ref`` (``localhost/blockc/<template>:<tag>``) is in the site's registry."""
    if not settings.registry:
        raise BlockcError(
            "--push needs the site setting 'registry' (config.toml or BLOCKC_REGISTRY)"
        )
    name, tag = ref.removeprefix("localhost/").rsplit(":", 1)
    return f"{settings.registry.rstrip('/')}/{name}:{tag}"


def _registry_tls(settings: Settings):
    """The TLS context for the site's registry: the host's trust store, and the site's CA
    bundle (``ca_bundle``) when it has one."""
    import ssl

    ctx = ssl.create_default_context()
    ca = settings.ca_bundle if settings.ca_bundle not in (None, "", "none") else None
    if ca:
        if not os.path.isfile(ca):
            raise BlockcError(f"setting ca_bundle: {ca} is not a file")
        try:
            ctx.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise BlockcError(f"setting ca_bundle: {ca}: {exc}") from None
    return ctx


def registry_has(ref: str, settings: Settings) -> bool:
    """Whether the site's registry has the image ``ref`` is pushed as (one HEAD request of
    its manifest, anonymously: a registry that wants credentials is pushed to, and buildah
    brings them)."""
    import urllib.error
    import urllib.request

    dest = registry_ref(ref, settings)
    host, _, rest = dest.partition("/")
    name, tag = rest.rsplit(":", 1)
    req = urllib.request.Request(f"https://{host}/v2/{name}/manifests/{tag}", method="HEAD")
    req.add_header(
        "Accept",
        "application/vnd.oci.image.manifest.v1+json,"
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    try:
        with urllib.request.urlopen(req, timeout=10, context=_registry_tls(settings)) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return False
    except (OSError, ValueError) as exc:
        raise BlockcError(f"cannot reach the registry {host}: {exc}") from None


def push(ref: str, settings: Settings) -> str:
    """Push the local image ``ref`` to the site's registry over TLS, trusting the site's CA
    (``ca_bundle``) besides the host's; return where it went."""
    dest = registry_ref(ref, settings)
    args = ["push", "--quiet"]
    cert_dir = None
    ca = settings.ca_bundle if settings.ca_bundle not in (None, "", "none") else None
    if ca:
        if not os.path.isfile(ca):
            raise BlockcError(f"setting ca_bundle: {ca} is not a file")
        cert_dir = tempfile.mkdtemp(prefix="blockc-certs-")
        shutil.copyfile(ca, os.path.join(cert_dir, "ca.crt"))
        args += ["--cert-dir", cert_dir]
    try:
        tool("buildah", settings)(*args, ref, f"docker://{dest}")
    except sh.ErrorReturnCode as exc:
        err = exc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BlockcError(f"push to {dest} failed: {' / '.join(err)}") from None
    finally:
        if cert_dir:
            shutil.rmtree(cert_dir, ignore_errors=True)
    return dest


def ensure_artifact(artifact: Artifact) -> Path:
    """Write the artifact where running studios find it (once per hash), return its
    directory."""
    private_home()
    d = Path(state.artifact_dir(artifact.name, artifact.hash))
    if not d.is_dir() or differences(artifact, d):
        written, diags = emit(artifact, d)
        if written is None:
            raise BlockcError(diags)
    return d
