"""Emit: write an artifact to a directory, or check a directory against it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import Diagnostic
from .model import Artifact


def differences(artifact: Artifact, outdir: str | Path) -> list[str]:
    """Paths that differ between ``outdir`` and the artifact (missing, changed or extra)."""
    outdir = Path(outdir)
    diffs = []
    for rel, (content, mode) in sorted(artifact.files.items()):
        p = outdir / rel
        if not _regular(p, outdir):
            diffs.append(f"missing: {rel}" if not os.path.lexists(p) else f"changed: {rel}")
        elif p.read_bytes() != content or (p.lstat().st_mode & 0o777) != mode:
            diffs.append(f"changed: {rel}")
    if outdir.is_dir() and not outdir.is_symlink():
        for p in sorted(outdir.rglob("*")):  # (rglob does not follow links to directories)
            rel = p.relative_to(outdir).as_posix()
            if (p.is_symlink() or not p.is_dir()) and rel not in artifact.files:
                diffs.append(f"extra: {rel}")
    return diffs


def _regular(path: Path, top: Path) -> bool:
    """A regular file reached through no link (from ``top`` down): only those are read, so
    that an artifact directory holding a link to a secret, or to a directory of secrets,
    never shows them in a diff."""
    import stat

    try:
        for parent in reversed(path.relative_to(top).parents[:-1]):
            if not stat.S_ISDIR((top / parent).lstat().st_mode):
                return False
        return stat.S_ISREG(path.lstat().st_mode) and not top.is_symlink()
    except OSError:
        return False


def diff(artifact: Artifact, outdir: str | Path) -> str:
    """A unified diff from ``outdir`` to the artifact, for the files that differ (text files;
    the others, and modes, named in one line each)."""
    import difflib

    outdir = Path(outdir)
    out: list[str] = []
    for line in differences(artifact, outdir):
        kind, _, rel = line.partition(": ")
        old_path = outdir / rel
        if kind != "missing" and not _regular(old_path, outdir):
            out.append(f"{rel} is not a regular file (a link, a directory...): not shown\n")
            continue
        old = old_path.read_bytes() if kind != "missing" else b""
        new, mode = artifact.files.get(rel, (b"", 0))
        if kind == "changed" and old == new:
            out.append(f"mode of {rel}: {old_path.lstat().st_mode & 0o777:04o} -> {mode:04o}\n")
            continue
        try:
            a, b = old.decode().splitlines(True), new.decode().splitlines(True)
        except UnicodeDecodeError:
            out.append(f"binary file {rel} differs\n")
            continue
        where = (f"a/{rel}" if kind != "missing" else "/dev/null", f"b/{rel}")
        if kind == "extra":
            where = (f"a/{rel}", "/dev/null")
        out += [x if x.endswith("\n") else x + "\n" for x in difflib.unified_diff(a, b, *where)]
    return "".join(out)


def emit(artifact: Artifact, outdir: str | Path) -> tuple[Path | None, list[Diagnostic]]:
    """Write the artifact: built beside ``outdir`` then swapped in, so a reader never sees a
    half-written artifact and files left from an older compile do not linger. An ``outdir``
    that already holds exactly this artifact is left untouched (nothing written). Returns the
    directory, or None and why not."""
    outdir = Path(outdir).resolve()
    if outdir.exists() and not outdir.is_dir():
        return None, [Diagnostic(f"{outdir} exists and is not a directory")]
    if outdir.is_dir() and any(outdir.iterdir()) and not (outdir / "studio.json").exists():
        message = f"{outdir} is not empty and holds no blockc artifact; refusing to replace it"
        return None, [Diagnostic(message)]
    if outdir.is_dir() and not differences(artifact, outdir):
        return outdir, []
    tmp = None
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
        for rel, (content, mode) in artifact.files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content)
            os.chmod(p, mode)
        os.chmod(tmp, 0o755)
        if outdir.exists():
            old = outdir.with_name(f".{outdir.name}.old.{os.getpid()}")
            os.rename(outdir, old)
            os.rename(tmp, outdir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, outdir)
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        where = f" ({exc.filename})" if exc.filename else ""
        return None, [Diagnostic(f"cannot write the artifact to {outdir}: {exc.strerror}{where}")]
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return outdir, []
