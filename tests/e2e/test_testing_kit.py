"""blockc.testing's container-level helper, as a plugin author uses it: one block built and
started for real, its app reached at the URL it returns; the studio is gone afterwards."""

from __future__ import annotations

import urllib.request

from podman_objects import studio_objects

from blockc import testing


def test_start_block_serves_the_app_and_cleans_up(tmp_path):
    command = ["/opt/studio/venv/bin/python", "-m", "http.server", "8000", "-d", "/srv/site"]
    files = {"index.html": "<h1>hello from a block</h1>"}
    after = """
    - type: files
      with: {files: [{src: index.html, dest: /srv/site/index.html}]}
    """
    with testing.start_block(
        "app", {"command": command, "port": 8000}, tmp_path, id="web", files=files, after=after
    ) as studio:
        assert set(studio.urls) == {"web"}
        with urllib.request.urlopen(studio.urls["web"], timeout=10) as resp:
            assert resp.status == 200 and b"hello from a block" in resp.read()
        assert studio.apps["web"]["healthy"] is True
        assert studio.exec("id", "-u").stdout.strip() == "1000"  # the studio user, not root
        assert len(studio_objects("pod", studio.name)) == 1
    # removed on exit: its home knows it no more, and podman has no pod of that name
    gone = studio.blockc("status", studio.name, check=False)
    assert gone.returncode == 1 and "no studio" in gone.stderr.lower(), gone.stderr
    assert studio_objects("pod", studio.name) == []
