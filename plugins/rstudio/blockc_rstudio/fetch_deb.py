"""Download a .deb, verify its sha256 and version, and check that R is installed.

Runs at build time inside the image (copied there by the ``rstudio`` block):

    python fetch_deb.py URL SHA256 VERSION DEST

Exits non-zero with one clear line when anything is off; DEST exists only when it is good.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import urllib.request


def main(url, sha256, version, dest):
    if shutil.which("R") is None:
        sys.exit(
            "rstudio: R is not installed; add r-base to a system-packages block "
            "(or use a base image that has R)"
        )
    digest = hashlib.sha256()
    part = dest + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        sys.exit(f"rstudio: cannot download {url}: {exc}")
    if digest.hexdigest() != sha256:
        os.unlink(part)
        sys.exit(f"rstudio: sha256 mismatch for {url}: expected {sha256}, got {digest.hexdigest()}")
    found = subprocess.run(
        ["dpkg-deb", "--field", part, "Package", "Version"], capture_output=True, text=True
    ).stdout.split("\n")
    fields = dict(line.split(": ", 1) for line in found if ": " in line)
    if fields.get("Package") != "rstudio-server":
        os.unlink(part)
        sys.exit(
            f"rstudio: {url} is not an rstudio-server package (Package: {fields.get('Package')})"
        )
    if fields.get("Version", "").replace("-", "+") != version.replace("-", "+"):
        os.unlink(part)
        sys.exit(f"rstudio: {url} is version {fields.get('Version')}, not {version}")
    os.replace(part, dest)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
