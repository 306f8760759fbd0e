"""Compile-level tests of the `rstudio` block, and of the .deb check it runs at build time."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import subprocess
import threading

import pytest
from blockc_rstudio import DEB_URL, RSTUDIO, fetch_deb

from blockc import testing

SHA = "0123456789abcdef" * 4
VERSION = "2024.12.0+467"
R = {"provides": ["r"]}  # the block needs R: a base image with it


@pytest.fixture(scope="module")
def registry():
    return testing.register_block_type(RSTUDIO)


def test_defaults(tmp_path, registry):
    r = testing.compile_block(
        RSTUDIO,
        f'version: "{VERSION}"\nsha256: "{SHA}"',
        tmp_path,
        registry=registry,
        id="rs",
        image=R,
    )
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    url = DEB_URL.format(version="2024.12.0-467")
    assert url.endswith("/rstudio-server-2024.12.0-467-amd64.deb")
    assert (
        f"RUN /opt/blockc/venv/bin/python /opt/blockc/apps/rs/fetch_deb.py {url} {SHA} "
        f"{VERSION} /tmp/blockc-rs-rstudio-server.deb \\\n"
        f" && /opt/blockc/bin/apt-install /tmp/blockc-rs-rstudio-server.deb"
    ) in cf
    assert r.text("context/blocks/rs/fetch_deb.py").startswith('"""Download a .deb')
    assert (
        r.text("context/blocks/rs/database.conf")
        == "provider=sqlite\ndirectory=/opt/blockc/apps/rs/db\n"
    )
    a = r.app()
    assert a["command"][0] == "/usr/lib/rstudio-server/bin/rserver"
    assert {
        "--server-daemonize=0",
        "--www-address=0.0.0.0",
        "--www-port=8787",
        "--auth-none=1",
        "--server-user=studio",
        "--www-root-path=${BLOCKC_BASE_PATH_RS}",
    } <= set(a["command"])
    assert a["env"] == {"HOME": "/home/studio", "USER": "studio"}
    assert a["path"] == "strip" and a["health"] == "/" and a["health_redirect_ok"] is True
    phases = [line.split("phase ")[1] for line in cf.splitlines() if line.startswith("# --- rs:")]
    assert phases == ["app", "config"]


def test_deb_url_port_label(tmp_path, registry):
    r = testing.compile_block(
        RSTUDIO,
        f'version: "2023.06.1-524"\nsha256: "{SHA.upper()}"\n'
        "deb_url: https://mirror.example/rstudio.deb\n"
        "port: 8790\nlabel: R",
        tmp_path,
        registry=registry,
        id="rs",
        image=R,
    )
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert f"fetch_deb.py https://mirror.example/rstudio.deb {SHA} 2023.06.1-524 " in cf
    assert "--www-port=8790" in r.app()["command"]


@pytest.mark.parametrize(
    "bad", [SHA[:-1], SHA + "0", "g" * 64, "sha256:" + SHA[:57], SHA[:60] + " ; x", ""]
)
def test_bad_sha256(tmp_path, registry, bad):
    r = testing.compile_block(
        RSTUDIO,
        f'version: "{VERSION}"\nsha256: "{bad}"',
        tmp_path,
        registry=registry,
        id="rs",
        image=R,
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where(f'"{bad}"')
    assert "is not a valid sha256 (64 hex digits)" in d.message
    assert d.block_id == "rs" and d.block_type == "rstudio"


@pytest.mark.parametrize("bad", ["latest", "2024.12", "2024.12.0+467; id", "v2024.12.0"])
def test_bad_version(tmp_path, registry, bad):
    r = testing.compile_block(
        RSTUDIO,
        f'version: "{bad}"\nsha256: "{SHA}"',
        tmp_path,
        registry=registry,
        id="rs",
        image=R,
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where(f'"{bad}"')
    assert "RStudio Server version" in d.message


def test_required(tmp_path, registry):
    r = testing.compile_block(RSTUDIO, "port: 8787", tmp_path, registry=registry, id="rs", image=R)
    assert sorted({d.message for d in r.diagnostics}) == [
        "missing required key 'sha256'",
        "missing required key 'version'",
    ]


@pytest.mark.parametrize(
    "options,needle",
    [("deb_url: file:///tmp/x.deb", "file://"), ("port: 99999", "99999"), ("debs: x", "debs:")],
)
def test_bad_options(tmp_path, registry, options, needle):
    r = testing.compile_block(
        RSTUDIO,
        f'version: "{VERSION}"\nsha256: "{SHA}"\n' + options,
        tmp_path,
        registry=registry,
        id="rs",
        image=R,
    )
    (d,) = r.diagnostics
    assert (d.line, d.col) == r.where(needle)


@pytest.mark.parametrize("first", [True, False])
def test_r_from_system_packages_in_any_order(tmp_path, registry, first):
    r_base = "- type: system-packages\n  with: {apt: [r-base]}"
    r = testing.compile_block(
        RSTUDIO,
        f'version: "{VERSION}"\nsha256: "{SHA}"',
        tmp_path,
        registry=registry,
        id="rs",
        image=R,
        before=r_base if first else "",
        after="" if first else r_base,
    )
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert cf.index("apt-install r-base") < cf.index("fetch_deb.py")


# --- the build-time check (fetch_deb.py), against a local HTTP server --------------------


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """A tiny fake rstudio-server .deb and a foreign one, served over HTTP."""
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb not installed")
    root = tmp_path_factory.mktemp("debs")
    for package, version in (("rstudio-server", VERSION), ("other", "1.0")):
        pkg = root / f"{package}-src"
        (pkg / "DEBIAN").mkdir(parents=True)
        (pkg / "DEBIAN" / "control").write_text(
            f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
            f"Maintainer: t <t@example.org>\nDescription: test\n"
        )
        subprocess.run(
            ["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(root / f"{package}.deb")],
            check=True,
            capture_output=True,
        )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def with_r(monkeypatch):
    monkeypatch.setattr(fetch_deb.shutil, "which", lambda name: f"/usr/bin/{name}")


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_good(debs, with_r, tmp_path):
    root, url = debs
    dest = tmp_path / "r.deb"
    fetch_deb.main(
        f"{url}/rstudio-server.deb", sha(root / "rstudio-server.deb"), VERSION, str(dest)
    )
    assert dest.read_bytes() == (root / "rstudio-server.deb").read_bytes()
    # the version may be written with '-' as in Posit's file names
    fetch_deb.main(
        f"{url}/rstudio-server.deb", sha(root / "rstudio-server.deb"), "2024.12.0-467", str(dest)
    )


@pytest.mark.parametrize(
    "case,message",
    [
        ("sha", "sha256 mismatch"),
        ("version", "is version 2024.12.0+467, not 2024.12.1+1"),
        ("package", "is not an rstudio-server package"),
        ("missing", "cannot download"),
    ],
)
def test_fetch_refuses(debs, with_r, tmp_path, case, message):
    root, url = debs
    good = sha(root / "rstudio-server.deb")
    args = {
        "sha": (f"{url}/rstudio-server.deb", "0" * 64, VERSION),
        "version": (f"{url}/rstudio-server.deb", good, "2024.12.1+1"),
        "package": (f"{url}/other.deb", sha(root / "other.deb"), "1.0"),
        "missing": (f"{url}/nope.deb", good, VERSION),
    }[case]
    dest = tmp_path / "r.deb"
    with pytest.raises(SystemExit) as exc:
        fetch_deb.main(*args, str(dest))
    assert message in str(exc.value)
    assert not dest.exists() and not (tmp_path / "r.deb.part").exists()


def test_fetch_needs_r(debs, monkeypatch, tmp_path):
    monkeypatch.setattr(fetch_deb.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit) as exc:
        fetch_deb.main("http://unused/x.deb", SHA, VERSION, str(tmp_path / "r.deb"))
    assert "add r-base to a system-packages block" in str(exc.value)


def test_needs_r(tmp_path, registry):
    options = {"version": VERSION, "sha256": SHA}
    r = testing.compile_block(RSTUDIO, options, tmp_path, registry=registry, id="rs")
    (d,) = r.diagnostics
    assert "needs r, which nothing in this template provides" in d.message
    assert "system-packages" in d.hint and "spec.image.provides" in d.hint
    assert (d.line, d.col) == r.where("rstudio")  # the block's type
    with_r = "- type: system-packages\n  with: {apt: [r-base-core]}"
    r = testing.compile_block(RSTUDIO, options, tmp_path, registry=registry, id="rs", after=with_r)
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert cf.index("apt-install r-base-core") < cf.index("rstudio-server.deb")
