"""The pages (issue 16) in a real browser, without containers: ``blockc serve`` with studios
recorded as running behind real gates in front of a real app (tests/serve_support.py).
tests/e2e/test_ui_podman.py does the same with real studios (JupyterLab, sync, stop)."""

from __future__ import annotations

import re

import pytest
from compiler_support import ROOT
from serve_support import PASSWORDS, Site
from ui_support import DESKTOP, PHONE, launch, low_contrast, shot, sign_in

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("ui") / "home")
    site.users()
    site.start()
    app = site.backend()
    site.studio("alice-s", "alice", app)
    site.studio("alice-t", "alice", app, state="STOPPED")
    site.studio("bob-s", "bob", app)
    site.base = f"http://127.0.0.1:{site.port}"
    site.tokens_alice = site.token("alice")
    demo = ROOT / "examples" / "demo.yaml"
    root = site.token("root")
    broken = site.home.parent / "broken.yaml"
    broken.write_text(demo.read_text())
    for name, path in (("demo", demo), ("broken", broken)):
        put = site.request("PUT", f"/api/v1/templates/{name}", token=root, body={"path": str(path)})
        assert put.status == 200, put
    # (valid when added, edited since: what the templates page shows)
    broken.write_text(demo.read_text().replace('version: "4.*"', 'verison: "4.*"'))
    yield site
    site.close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP, locale="de-DE", timezone_id="Europe/Berlin")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    assert page.errors == [], page.errors  # (no script failed on any page)
    context.close()


def set_state(site, name: str, state: str) -> None:
    """A studio's state changed as another process (`blockc stop` say) changes it."""
    site.python(f"from blockc.run import state as s; s.set_state(s.require({name!r}), {state!r})")


def test_my_studios_shows_yours_only_and_follows_their_state(site, page):
    sign_in(page, site.base, "alice", PASSWORDS["alice"])
    expect(page.get_by_role("heading", name="My studios")).to_be_visible()
    studios = page.locator("li.studio")
    expect(studios).to_have_count(2)
    running = page.locator('li[data-studio="alice-s"]')
    expect(running.locator("[data-state]")).to_have_text("running")
    expect(running.get_by_role("button", name="Stop")).to_be_enabled()
    expect(running.get_by_role("button", name="Start")).to_be_disabled()
    stopped = page.locator('li[data-studio="alice-t"]')
    expect(stopped.get_by_role("link", name="WEB")).to_have_attribute("aria-disabled", "true")
    assert "bob-s" not in page.content()
    shot(page, "studios")
    # changed elsewhere: the page follows, no reload
    page.evaluate("window.notReloaded = true")
    set_state(site, "alice-t", "STARTING")
    expect(stopped.locator("[data-state]")).to_have_text("starting", timeout=5000)
    expect(stopped.get_by_role("button", name="Start")).to_be_disabled()
    set_state(site, "alice-t", "RUNNING")
    expect(stopped.locator("[data-state]")).to_have_text("running", timeout=5000)
    expect(stopped.get_by_role("link", name="WEB")).to_have_attribute("aria-disabled", "false")
    assert page.evaluate("window.notReloaded") is True
    set_state(site, "alice-t", "STOPPED")
    expect(stopped.locator("[data-state]")).to_have_text("stopped", timeout=5000)


def test_a_studio_page_has_a_tab_per_app_and_its_details(site, page):
    sign_in(page, site.base, "alice", PASSWORDS["alice"], "/s/alice-s")
    tabs = page.get_by_role("navigation", name="Studio").get_by_role("link")
    expect(tabs).to_have_text(["WEB", "PRE", "Logs", "Sync", "Details"])
    expect(tabs.last).to_have_attribute("aria-current", "page")
    # the app, through the gateway, on an origin of its own, framed by a page under /studios/
    tabs.first.click()
    page.wait_for_url(f"{site.base}/studios/alice-s/?app=web")
    frame = page.frame_locator("iframe.app")
    expect(frame.locator("body")).to_contain_text('"X-Forwarded-Prefix", "/studios/alice-s/web"')
    apps = f"http://127.0.0.1:{site.apps_port}"
    app = next(f for f in page.frames if f.url.startswith(f"{apps}/studios/alice-s/web/"))
    shot(page, "studio-app")
    # the app can neither script the page it is framed in nor read the front door's; what
    # it sends there with the viewer's cookie is cross-site, and refused
    assert page.locator('meta[name="csrf"]').count() == 0
    assert (
        app.evaluate("(() => { try { return parent.document.title } catch (e) { return 0 } })()")
        == 0
    )
    for path in ("/api/v1/me", "/", "/tokens", "/events"):
        read = f"fetch('{site.base}{path}', {{credentials: 'include'}}).then(r => r.status, e => 0)"
        assert app.evaluate(read) == 0, path
    tokens = len(site.request("GET", "/api/v1/tokens", token=site.tokens_alice).json()["tokens"])
    app.evaluate(
        f"fetch('{site.base}/api/v1/tokens', {{method: 'POST', credentials: 'include', "
        "mode: 'no-cors', body: '{}'}).then(r => 0, e => 0)"
    )
    assert (
        len(site.request("GET", "/api/v1/tokens", token=site.tokens_alice).json()["tokens"])
        == tokens
    )
    # a browser sent to an app on the front door's own origin is sent to the apps' one
    page.goto(f"{site.base}/studios/alice-s/web/echo")
    assert page.url == f"{apps}/studios/alice-s/web/echo"
    page.goto(f"{site.base}/studios/alice-s/?app=web")
    page.get_by_role("link", name="PRE").click()
    expect(page.frame_locator("iframe.app").locator("body")).to_contain_text(
        '"path": "/studios/alice-s/pre/"'
    )
    page.get_by_role("link", name="Details").click()
    details = page.locator("dl.details")
    expect(details).to_contain_text(f"http://127.0.0.1:{site.apps_port}/studios/alice-s/web/")
    expect(details).to_contain_text("podman")
    # times in the reader's locale (de-DE here: day.month.year)
    assert re.search(r"\d{1,2}\.\d{1,2}\.\d{4}", details.locator("time").first.inner_text())
    shot(page, "studio-details")
    page.get_by_role("link", name="Logs").click()
    expect(page.locator("[data-log]")).not_to_have_text("Loading…", timeout=15000)
    page.get_by_role("link", name="Sync").click()
    expect(page.locator("section.panel")).to_contain_text("no sync zones")


def test_another_user_sees_none_of_it(site, page):
    sign_in(page, site.base, "bob", PASSWORDS["bob"])
    expect(page.locator("li.studio")).to_have_count(1)
    assert "alice" not in page.locator("main").inner_text()
    page.goto(f"{site.base}/s/alice-s")
    expect(page.get_by_role("heading", name="No such studio")).to_be_visible()
    page.goto(f"{site.base}/s/no-such")
    expect(page.get_by_role("heading", name="No such studio")).to_be_visible()
    page.goto(f"{site.base}/admin/studios")
    expect(page.get_by_role("heading", name="Not for you")).to_be_visible()


def test_a_new_studio_is_asked_for_by_template_and_name(site, page):
    sign_in(page, site.base, "alice", PASSWORDS["alice"], "/new")
    expect(page.get_by_role("radio")).to_have_count(2)
    page.get_by_role("radio", name=re.compile(r"^demo\b")).check()
    expect(page.locator("form#new-studio")).to_contain_text("JupyterLab and a Streamlit dashboard")
    shot(page, "new-studio")
    name = page.get_by_label("Name")
    name.fill("Not A Name")
    page.get_by_role("button", name="Create and start").click()
    assert page.evaluate("document.querySelector('#studio-name').validity.valid") is False
    name.fill("bob-s")  # (taken by another user: said, and nothing of theirs shown)
    page.get_by_role("button", name="Create and start").click()
    expect(page.locator("[data-error]")).to_contain_text("the name 'bob-s' is taken")


def test_tokens_are_shown_once_and_revoked(site, page):
    sign_in(page, site.base, "alice", PASSWORDS["alice"], "/tokens")
    page.get_by_label("Note").fill("from the page")
    page.get_by_role("button", name="Create a token").click()
    token = page.locator("[data-token]")
    expect(token).to_have_text(re.compile(r"^blockc_"))
    raw = token.inner_text()
    shot(page, "tokens")
    assert site.request("GET", "/api/v1/me", token=raw).json()["name"] == "alice"
    page.reload()
    assert raw not in page.content()
    row = page.get_by_role("row", name=re.compile("from the page"))
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row", name=re.compile("from the page"))).to_have_count(0)
    assert site.request("GET", "/api/v1/me", token=raw).status == 401


def test_admin_pages(site, page):
    sign_in(page, site.base, "root", PASSWORDS["root"], "/admin/studios")
    expect(page.locator("li.studio")).to_have_count(3)
    page.get_by_label("Owner").select_option("bob")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("li.studio")).to_have_count(1)
    expect(page.locator("li.studio")).to_contain_text("bob-s")
    shot(page, "admin-studios")
    page.goto(f"{site.base}/admin/templates?name=broken")
    expect(page.locator("figure.offending")).to_be_visible()
    assert low_contrast(page) == []
    shot(page, "admin-templates")
    found = page.locator("figure.offending")  # (file:line:col, and the line itself)
    expect(found).to_have_count(1)
    expect(found.locator("figcaption")).to_contain_text("broken.yaml:20:9")
    expect(found.locator("figcaption")).to_contain_text("unknown key 'verison'")
    expect(found.locator("pre")).to_contain_text('20         verison: "4.*"')
    page.goto(f"{site.base}/admin/templates?name=demo")
    expect(page.locator("p.ok")).to_have_text("Valid.")
    expect(page.locator("section.card")).to_contain_text("jupyterlab")
    page.goto(f"{site.base}/admin/users")
    expect(page.get_by_role("table", name="Users")).to_contain_text("alice")
    shot(page, "admin-users")


# what reaches past the phone's width (a table scrolls in its box: what is in it may)
WIDE = """[...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 1 && !e.closest(".scroll"))
  .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


def test_keyboard_and_a_phone(site, browser):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    sign_in(page, site.base, "alice", PASSWORDS["alice"])
    page.keyboard.press("Tab")  # (the first stop: past the navigation, to the content)
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for path in ("/", "/s/alice-s?tab=details", "/s/alice-s?tab=sync", "/new", "/tokens"):
        page.goto(site.base + path)
        width = page.evaluate("document.scrollingElement.scrollWidth")
        wide = page.evaluate(WIDE)
        assert width <= PHONE["width"], f"{path}: {width} px wide on a phone: {wide}"
        assert low_contrast(page) == [], path
    page.goto(site.base + "/")
    shot(page, "studios-phone")
    context.close()


def test_the_first_load_is_small(site, browser):
    """The issue's budget: the first page load is at most 300 KB transferred."""
    context = browser.new_context(viewport=DESKTOP)  # (nothing cached)
    cookie, _ = site.login("alice")
    context.add_cookies([{"name": "blockc_session", "value": cookie, "url": site.base}])
    page = context.new_page()
    sizes = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))
    page.goto(site.base + "/")
    page.wait_for_load_state("networkidle")
    assert sum(sizes) <= 300_000, sizes
    assert len(sizes) == 3  # (the page, its stylesheet, its script)
    context.close()


def test_the_page_refuses_what_the_api_refuses(site, page):
    """A page's actions are the API's with the session's CSRF token: without it, refused."""
    cookie, _ = site.login("alice")
    refused = site.request("POST", "/api/v1/studios/alice-s/stop", cookie=cookie)
    assert refused.status == 403
    sign_in(page, site.base, "alice", PASSWORDS["alice"])
    csrf = page.locator('meta[name="csrf"]').get_attribute("content")
    assert csrf and csrf != "None"
    # the session's token, from the page, is what the API takes
    me = page.evaluate(
        "fetch('/api/v1/me', {headers: {'X-CSRF-Token': document.querySelector"
        "('meta[name=csrf]').content}}).then(r => r.json())"
    )
    assert me["csrf"] == csrf
