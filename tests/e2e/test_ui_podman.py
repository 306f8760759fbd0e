"""The pages with a real studio (issue 16), in a real browser: sign in, create a studio from
the demo template, watch it reach running, run a cell in JupyterLab through the page, change
a file on both sides and see the conflict on the Sync tab, stop the studio; another user sees
none of it."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serve_support import PASSWORDS, Site  # noqa: E402
from ui_support import DESKTOP, launch, shot, sign_in  # noqa: E402

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = int(
    os.environ.get("BLOCKC_TEST_BUILD_TIMEOUT_MS", 1800_000)
)  # the first build (pip)


def test_a_studio_from_the_page(tmp_path, studio_name):
    site = Site(tmp_path / "home")
    name = studio_name("ui")
    try:
        site.users()
        site.start()
        base = f"http://127.0.0.1:{site.port}"
        root = site.token("root")
        put = site.request(
            "PUT",
            "/api/v1/templates/demo",
            token=root,
            body={"path": str(ROOT / "examples" / "demo.yaml")},
        )
        assert put.status == 200, put
        # the workspace the server gives the studio, seeded as `make demo` seeds its own
        workspace = site.home / "workspaces" / "alice" / name
        shutil.copytree(ROOT / "examples" / "demo-workspace", workspace)
        (workspace / "notes.txt").write_text("first\n")
        with playwright.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport=DESKTOP)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, base, "alice", PASSWORDS["alice"], "/new")
            page.get_by_role("radio", name=re.compile(r"^demo\b")).check()
            page.get_by_label("Name").fill(name)
            page.get_by_role("button", name="Create and start").click()
            page.wait_for_url(f"{base}/s/{name}")
            # progress as it goes, then running
            progress = page.locator(".studio-progress [data-progress]")
            expect(progress).to_be_visible()
            expect(progress.locator(".step")).not_to_be_empty()
            shot(page, "studio-starting")
            state = page.locator(".studio-head [data-state]")
            try:
                expect(state).to_have_text("running", timeout=BUILD_TIMEOUT)
            finally:
                page.screenshot(path=str(tmp_path / "running.png"))
            # JupyterLab, in its tab, through the gateway: a notebook, a cell run in it
            page.get_by_role("navigation", name="Studio").get_by_role(
                "link", name="JupyterLab"
            ).click()
            page.wait_for_url(f"{base}/studios/{name}/?app=lab")
            lab = page.frame_locator("iframe.app")
            lab.locator('.jp-LauncherCard[data-category="Notebook"]').first.click(timeout=120_000)
            # (the kernel up first: keys typed before the notebook is ready go nowhere)
            expect(
                lab.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
            ).to_have_count(1, timeout=120_000)
            cell = lab.locator(".jp-Notebook .jp-Cell .cm-content").first
            cell.click()
            code = "open('/home/studio/workspace/notes.txt', 'w').write('studio\\n'); print(6 * 7)"
            cell.type(code)
            expect(cell).to_have_text(code)
            # (JupyterLab may take a run asked for while it still sets the notebook up as
            # done, sending nothing: seen here, with no request on the kernel's WebSocket.
            # Asked again until it runs; the cell does the same each time)
            output = lab.locator(".jp-OutputArea-output").first
            for _ in range(8):
                cell.press("Shift+Enter")
                try:
                    expect(output).to_have_text("42", timeout=15_000)
                    break
                except AssertionError:
                    cell.click()
            page.screenshot(path=str(tmp_path / "jupyterlab.png"))
            expect(output).to_have_text("42")
            shot(page, "studio-jupyterlab")
            # the same file changed on the host: a conflict, with both versions named
            (workspace / "notes.txt").write_text("host\n")
            page.get_by_role("link", name="Sync").click()
            page.get_by_role("button", name="Both").click()
            conflicts = page.get_by_role("group", name="Conflicts")
            expect(conflicts).to_contain_text("notes.txt", timeout=120_000)
            copy = conflicts.locator("code").nth(2).inner_text()
            assert re.fullmatch(rf"notes\.conflict-{name}-\d{{8}}-\d{{6}}\.txt", copy), copy
            assert (workspace / "notes.txt").read_text() == "host\n"
            assert (workspace / copy).read_text() == "studio\n"
            shot(page, "studio-sync")
            # stopped from the page
            page.locator(".studio-head").get_by_role("button", name="Stop").click()
            expect(state).to_have_text("stopped", timeout=300_000)
            assert errors == [], errors
            # another user: none of it
            other = browser.new_page(viewport=DESKTOP)
            sign_in(other, base, "bob", PASSWORDS["bob"])
            expect(other.locator(".empty")).to_contain_text("You have no studio yet")
            assert name not in other.content()
            other.goto(f"{base}/s/{name}")
            expect(other.get_by_role("heading", name="No such studio")).to_be_visible()
            browser.close()
    finally:
        site.close()


def test_a_build_error_shows_its_step_and_output(tmp_path, studio_name, template):
    site = Site(tmp_path / "home")
    name = studio_name("uibad")
    path = template(
        tmp_path,
        "breaks",
        """    - type: dockerfile
      id: oops
      with:
        instructions: |
          RUN echo about to fail && exit 3
""",
    )
    try:
        site.users()
        site.start()
        base = f"http://127.0.0.1:{site.port}"
        put = site.request(
            "PUT", "/api/v1/templates/breaks", token=site.token("root"), body={"path": str(path)}
        )
        assert put.status == 200, put
        with playwright.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport=DESKTOP)
            sign_in(page, base, "alice", PASSWORDS["alice"], "/new")
            page.get_by_label("Name").fill(name)
            page.get_by_role("button", name="Create and start").click()
            page.wait_for_url(f"{base}/s/{name}")
            why = page.locator(".warning")
            expect(why).to_contain_text("could not be made", timeout=300_000)
            expect(why).to_contain_text("build failed at step")
            expect(why).to_contain_text("(from block 'oops')")
            expect(page.locator("pre.log")).to_contain_text("about to fail")
            shot(page, "studio-build-failed")
            page.goto(base + "/")  # (listed, failed, with why)
            row = page.locator(f'li[data-studio="{name}"]')
            expect(row.locator("[data-state]")).to_have_text("failed")
            expect(row.locator("[data-message]")).to_contain_text("build failed at step")
            # an admin builds it from the templates page: the live log, then why it failed
            admin = browser.new_page(viewport=DESKTOP)
            sign_in(admin, base, "root", PASSWORDS["root"], "/admin/templates?name=breaks")
            admin.get_by_role("button", name="Build", exact=True).click()
            log = admin.locator('[data-progress="build:breaks"] pre')
            expect(log).to_contain_text("step 1/", timeout=300_000)
            last = admin.locator("details.report summary").first
            expect(last).to_contain_text("failed: ", timeout=300_000)
            expect(last).to_contain_text("from block 'oops'")
            shot(admin, "admin-template-build")
            browser.close()
    finally:
        site.close()


DELETABLE = """    - type: app
      id: web
      with:
        command: [python3, -m, http.server, "8000", --bind, 0.0.0.0]
        port: 8000
    - type: file-sync
      with:
        zones:
          - {name: work, host: work, container: /home/studio/work}
"""


def test_delete_says_what_would_be_lost_first(tmp_path, studio_name, template):
    site = Site(tmp_path / "home")
    name = studio_name("uidel")
    path = template(tmp_path, "deletable", DELETABLE)
    try:
        site.users()
        site.start()
        base = f"http://127.0.0.1:{site.port}"
        put = site.request(
            "PUT", "/api/v1/templates/deletable", token=site.token("root"), body={"path": str(path)}
        )
        assert put.status == 200, put
        alice = site.token("alice")
        made = site.request(
            "POST", "/api/v1/studios", token=alice, body={"name": name, "template": "deletable"}
        )
        assert made.status == 202, made
        deadline = time.monotonic() + 600
        while (
            site.request("GET", f"/api/v1/tasks/{made.json()['id']}", token=alice).json()["state"]
            == "running"
            and time.monotonic() < deadline
        ):
            time.sleep(1)
        # every file of the zone deleted in the studio: a sync refuses to delete them all on
        # the host until asked to, naming them
        work = site.home / "workspaces" / "alice" / name / "work"
        work.mkdir(exist_ok=True)
        for f in ("a.txt", "b.txt"):
            (work / f).write_text(f)
        site.blockc("sync", name, "--push")
        site.blockc("exec", name, "--", "sh", "-c", "rm /home/studio/work/*.txt")
        with playwright.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport=DESKTOP)
            sign_in(page, base, "alice", PASSWORDS["alice"], f"/s/{name}?tab=sync")
            page.get_by_role("button", name="Both").click()
            warning = page.locator(".report .warning").first
            expect(warning).to_contain_text("would delete 2 of the zone's 2 files", timeout=120_000)
            expect(warning.locator("li")).to_have_text(["'a.txt'", "'b.txt'"])
            assert sorted(os.listdir(work)) == ["a.txt", "b.txt"]  # (nothing deleted yet)
            shot(page, "studio-sync-mass-delete")
            page.once("dialog", lambda d: d.accept())
            warning.get_by_role("button", name="Sync again, deleting them").click()
            deadline = time.monotonic() + 120
            while os.listdir(work) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert os.listdir(work) == []
            # written in the studio, never synced out: what a delete would lose
            site.blockc(
                "exec", name, "--", "sh", "-c", "echo only-here > /home/studio/work/draft.txt"
            )
            page.goto(base + "/")
            row = page.locator(f'li[data-studio="{name}"]')
            expect(row.locator("[data-state]")).to_have_text("running")
            row.get_by_role("button", name="Delete").click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text(f"Delete studio {name}?")
            dialog.get_by_role("button", name="Delete").click()
            # refused by `blockc rm`: the dialog again, with what would be lost
            expect(dialog.locator("[data-lost]")).to_contain_text("draft.txt", timeout=120_000)
            shot(page, "studio-delete")
            assert site.request("GET", f"/api/v1/studios/{name}", token=alice).status == 200
            dialog.get_by_role("button", name="Delete anyway, losing them").click()
            expect(row).to_have_count(0, timeout=120_000)
            assert site.request("GET", f"/api/v1/studios/{name}", token=alice).status == 404
            browser.close()
    finally:
        site.close()
