"""The front door (SPEC §9), without containers: ``blockc serve`` as a process, studios
recorded as running behind real gates (the in-studio gate's own code, as a process) in front
of a real app (tests/serve_backend.py), reached over HTTP and WebSocket as browsers and
scripts reach them."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from urllib.parse import quote

import jsonschema
import pytest
import websocket
from compiler_support import ROOT
from serve_support import PASSWORDS, Site, free_port

from blockc.serve.openapi import document


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("serve") / "home")
    site.users()
    site.start()
    app = site.backend()
    site.app_port = app
    site.studio("alice-s", "alice", app)
    site.studio("bob-s", "bob", app)
    site.studio("stopped-s", "alice", app, state="STOPPED")
    site.studio("down-s", "alice", free_port())  # (nothing listens at its app's port)
    site.tokens = {u: site.token(u) for u in PASSWORDS}
    yield site
    site.close()


def echo(site, path, **kw):
    answer = site.request("GET", path, **kw)
    assert answer.status == 200, answer
    return answer.json()


def seen_headers(got) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in got["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


# --- the gateway ---------------------------------------------------------------------------


def test_an_owner_reaches_their_apps_strip_and_preserve(site):
    token = site.tokens["alice"]
    got = echo(site, "/studios/alice-s/web/a/echo?x=1%2F2", token=token)
    assert got["path"] == "/a/echo?x=1%2F2"  # (strip: the app is served at /)
    got = echo(site, "/studios/alice-s/pre/a/echo?x=1", token=token)
    assert got["path"] == "/studios/alice-s/pre/a/echo?x=1"  # (preserve)
    seen = seen_headers(got)
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [f"127.0.0.1:{site.port}"]
    assert seen["x-forwarded-prefix"] == ["/studios/alice-s/pre"]
    assert seen["host"] == [f"127.0.0.1:{site.port}"]  # (apps build their URLs from it)
    # a browser's session works the same
    cookie, _ = site.login("alice")
    assert echo(site, "/studios/alice-s/web/echo", cookie=cookie)["path"] == "/echo"


def test_the_app_sees_none_of_blockcs_credentials(site):
    cookie, csrf = site.login("alice")
    got = echo(
        site,
        "/studios/alice-s/web/echo",
        headers={
            "Cookie": f"theirs=1; blockc_session={cookie}; also=2",
            "X-CSRF-Token": csrf,
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-User": "root",
            "Connection": "keep-alive, X-Drop-Me",
            "X-Drop-Me": "hop",
        },
    )
    seen = seen_headers(got)
    assert "blockc_session" not in " ".join(seen["cookie"]) and "theirs=1" in seen["cookie"][0]
    assert "also=2" in seen["cookie"][0]
    assert "x-forwarded-user" not in seen
    assert seen["x-csrf-token"] == [csrf]  # (an app's own, say: worthless to blockc cookieless)
    assert "x-drop-me" not in seen
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-host"] == [f"127.0.0.1:{site.apps_port}"]  # (the apps' origin)
    got = echo(site, "/studios/alice-s/web/echo", token=site.tokens["alice"])
    assert "authorization" not in seen_headers(got)
    # an app's own credentials go through
    got = echo(
        site,
        "/studios/alice-s/web/echo",
        headers={"Authorization": "token jupyter-own"},
        cookie=cookie,
    )
    assert seen_headers(got)["authorization"] == ["token jupyter-own"]


def test_who_gets_what_status(site):
    path = "/studios/alice-s/web/echo"
    # no credentials: a browser page goes to the login page, anything else gets 401
    page = site.request("GET", path, headers={"Accept": "text/html"})
    assert page.status == 302
    # (on the apps' origin: signing in is the front door's, on its own)
    login = f"http://127.0.0.1:{site.port}/login?next=" + quote(path, safe="")
    assert page.header("Location") == login
    # a browser sent to an app on the front door's own port goes to the apps' one
    there = site.request("GET", path, port=site.port, headers={"Accept": "text/html"})
    assert there.status == 307
    assert there.header("Location") == f"http://127.0.0.1:{site.apps_port}{path}"
    api = site.request("GET", path)
    assert api.status == 401 and api.header("WWW-Authenticate")
    xhr = site.request("GET", path, headers={"Accept": "text/html", "Sec-Fetch-Mode": "cors"})
    assert xhr.status == 401
    # another user, an admin (the site does not let admins in), a studio that is not there:
    # the same 403, which tells nothing of whose the studio is
    bob = site.request("GET", path, token=site.tokens["bob"])
    root = site.request("GET", path, token=site.tokens["root"])
    none = site.request("GET", "/studios/nobody-s/web/echo", token=site.tokens["bob"])
    assert bob.status == root.status == none.status == 403
    assert bob.json()["error"].replace("alice-s", "X") == none.json()["error"].replace(
        "nobody-s", "X"
    )
    assert "alice" not in bob.body.decode().replace("alice-s", "")
    # a bad token is no fallback to anything else
    assert site.request("GET", path, token="blockc_000000000000_" + "x" * 43).status == 401
    # not running: 503 with its state; running but its app down: 502 with a hint
    stopped = site.request("GET", "/studios/stopped-s/web/", token=site.tokens["alice"])
    assert stopped.status == 503 and stopped.json()["state"] == "STOPPED"
    down = site.request("GET", "/studios/down-s/web/", token=site.tokens["alice"])
    assert down.status == 502 and "blockc logs down-s" in down.json()["hint"]
    unknown = site.request("GET", "/studios/alice-s/nope/", token=site.tokens["alice"])
    assert unknown.status == 404
    bare = site.request("GET", "/studios/alice-s/web?a=1", token=site.tokens["alice"])
    assert bare.status == 307 and bare.header("Location") == "/studios/alice-s/web/?a=1"


def test_revoked_and_expired_credentials(site):
    token = site.token("alice")
    path = "/studios/alice-s/web/echo"
    assert site.request("GET", path, token=token).status == 200
    site.blockc("tokens", "revoke", token.split("_")[1])
    assert site.request("GET", path, token=token).status == 401
    cookie, _ = site.login("alice")
    assert site.request("GET", path, cookie=cookie).status == 200
    with sqlite3.connect(site.home / "state.db") as db:
        db.execute("UPDATE sessions SET expires_at = ? WHERE user = 'alice'", (time.time() - 1,))
    assert site.request("GET", path, cookie=cookie).status == 401
    assert site.request("GET", "/api/v1/me", cookie=cookie).status == 401


def test_redirects_and_cookies_stay_under_the_apps_prefix(site):
    token = site.tokens["alice"]

    def location(app, to):
        answer = site.request("GET", f"/studios/alice-s/{app}/redirect?to={quote(to)}", token=token)
        assert answer.status == 302, answer
        return answer.header("Location")

    assert location("web", "/login?x=1") == "/studios/alice-s/web/login?x=1"
    assert location("web", f"http://127.0.0.1:{site.port}/a") == "/studios/alice-s/web/a"
    assert location("web", "relative/x") == "relative/x"
    assert location("web", "https://example.com/x") == "https://example.com/x"
    assert location("pre", "/studios/alice-s/pre/tree") == "/studios/alice-s/pre/tree"

    sets = [
        "=blockc_session=evil",
        "a=1; Path=/",
        "b=2; Domain=127.0.0.1; HttpOnly",
        "blockc_session=evil; Path=/",
        "c=3; Path=/studios/alice-s/web/sub",
        "d=4; Path=/api",
    ]
    query = "&".join("set=" + quote(s) for s in sets)
    got = site.request("GET", f"/studios/alice-s/web/cookie?{query}", token=token).all("Set-Cookie")
    assert [c.split(";")[0] for c in got] == ["a=1", "b=2", "c=3", "d=4"]
    assert "Path=/studios/alice-s/web/" in got[0]
    assert "Domain" not in got[1] and "HttpOnly" in got[1]
    assert "Path=/studios/alice-s/web/sub" in got[2]
    assert "Path=/studios/alice-s/web/api" in got[3]  # (a strip app's / is its prefix)
    got = site.request("GET", f"/studios/alice-s/pre/cookie?{query}", token=token).all("Set-Cookie")
    assert "Path=/studios/alice-s/pre/" in got[3]  # (a preserve app's own paths only)


def test_websockets_through_the_gateway(site):
    url = f"ws://127.0.0.1:{site.port}/studios/alice-s/web/ws"
    auth = [f"Authorization: Bearer {site.tokens['alice']}"]
    sock = websocket.create_connection(url, header=auth, subprotocols=["chat.v1"], timeout=10)
    try:
        sock.send("hello")
        assert sock.recv() == "hello"
        sock.send("?")
        assert sock.recv() == "protocol:chat.v1"
        sock.send_binary(b"\x00\x01" * 70000)
        assert sock.recv() == b"\x00\x01" * 70000
    finally:
        sock.close()
    # an app's page (on the apps' origin) may open one; a page of another site may not (the
    # browser sends the session cookie along: that would be cross-site WebSocket hijacking)
    cookie, _ = site.login("alice")
    apps = f"http://127.0.0.1:{site.apps_port}"
    url = url.replace(f":{site.port}/", f":{site.apps_port}/")  # (browsers: the apps' port)
    own = websocket.create_connection(
        url, cookie=f"blockc_session={cookie}", origin=apps, timeout=10
    )
    own.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as front:
        websocket.create_connection(
            url, cookie=f"blockc_session={cookie}", origin=f"http://127.0.0.1:{site.port}"
        )
    assert front.value.status_code == 403  # (not even from the front door's own pages)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            url, cookie=f"blockc_session={cookie}", origin="http://evil.example", timeout=10
        )
    assert refused.value.status_code == 403
    with pytest.raises(websocket.WebSocketBadStatusException) as nonsense:
        websocket.create_connection(
            url, cookie=f"blockc_session={cookie}", origin="http://[", timeout=10
        )
    assert nonsense.value.status_code == 403  # (an Origin that is no URL: no site's)
    # a WebSocket open when its token is revoked is closed
    token = site.token("alice")
    sock = websocket.create_connection(url, header=[f"Authorization: Bearer {token}"], timeout=15)
    sock.send("still here")
    assert sock.recv() == "still here"
    site.blockc("tokens", "revoke", token.split("_")[1])
    started = time.monotonic()
    with pytest.raises((websocket.WebSocketConnectionClosedException, OSError)):
        while time.monotonic() - started < 12:
            sock.send("x")
            sock.recv()
            time.sleep(0.2)
    assert time.monotonic() - started < 12  # (seen within the front door's 5 s round)
    sock.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as other:
        websocket.create_connection(
            url, header=[f"Authorization: Bearer {site.tokens['bob']}"], timeout=10
        )
    assert other.value.status_code == 403


def test_a_websocket_is_carried_as_it_comes(site):
    """Bytes both ways as the two ends send them: what the app says unasked right after its
    101, a message larger than any buffer, the app's own close code; an app that refuses
    is a 502; every socket's two connections end with it."""
    url = f"ws://127.0.0.1:{site.port}/studios/alice-s/web/ws"
    auth = [f"Authorization: Bearer {site.tokens['alice']}"]
    fds = len(os.listdir(f"/proc/{site.proc.pid}/fd"))
    sock = websocket.create_connection(url + "?greet=first", header=auth, timeout=20)
    try:
        assert sock.recv() == "first"
        big = os.urandom(24 << 20)
        sock.send_binary(big)
        assert sock.recv() == big
    finally:
        sock.close()
    closed = websocket.WebSocket()
    closed.connect(url, header=auth, timeout=10)
    closed.send("bye")
    frame = closed.recv_frame()
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 4001 and frame.data[2:] == b"bye"
    closed.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url.replace("/ws", "/nows"), header=auth, timeout=10)
    assert refused.value.status_code == 502
    assert b"refused the WebSocket (403)" in refused.value.resp_body
    # an app that says 101 without an upgrade is refused; a Location that is no URL is
    # passed on as it is (the gateway does not fail on it)
    raw = url.replace("/ws", "/raw101")
    with pytest.raises(websocket.WebSocketBadStatusException) as broken:
        websocket.create_connection(raw + "?kind=noupgrade", header=auth, timeout=10)
    assert broken.value.status_code == 502
    assert b"101 without an upgrade" in broken.value.resp_body
    import socket

    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as flood:
        flood.sendall(
            b"GET /studios/alice-s/web/raw101?kind=badlocation HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + auth[0].encode()
            + b"\r\n\r\n"
        )
        got = b""
        while chunk := flood.recv(1 << 20):  # (until the app closes, 2 s after its flood)
            got += chunk
    head, _, rest = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101") and b"\r\nLocation: http://[" in head, head
    assert len(rest) == 64 * (4 + 65535)  # (all of it, after the head)
    # a WebSocket asked for without Connection: Upgrade is a 400, not an upgrade
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    conn.request(
        "GET",
        "/studios/alice-s/web/ws",
        headers={
            **dict(h.split(": ", 1) for h in auth),
            "Upgrade": "websocket",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert conn.getresponse().status == 400
    conn.close()
    # many opened and left by their clients (closed, or just dropped): none is kept
    for i in range(150):
        many = websocket.create_connection(url, header=auth, timeout=10)
        many.send("x")
        assert many.recv() == "x"
        many.close() if i % 2 else many.sock.close()
    deadline = time.monotonic() + 10
    while len(os.listdir(f"/proc/{site.proc.pid}/fd")) > fds + 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(os.listdir(f"/proc/{site.proc.pid}/fd")) <= fds + 4


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def test_bodies_stream_both_ways_in_bounded_memory(site):
    import http.client

    mib = 512
    before = rss_mib(site.proc.pid)
    with open(f"/proc/{site.proc.pid}/clear_refs", "w") as f:
        f.write("5")  # (the peak, VmHWM, from now on)
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=120)
    conn.putrequest("POST", "/studios/alice-s/web/sink")
    conn.putheader("Authorization", f"Bearer {site.tokens['alice']}")
    conn.putheader("Content-Length", str(mib << 20))
    conn.endheaders()
    block = b"\x7f" * (1 << 20)
    for _ in range(mib):
        conn.send(block)
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read()) == {"bytes": mib << 20}
    peak = rss_mib(site.proc.pid, "VmHWM")
    assert peak - before < 50, f"the gateway grew by {peak - before:.0f} MiB for {mib} MiB"
    conn.request(
        "GET",
        f"/studios/alice-s/web/big?mib={mib}",
        headers={"Authorization": f"Bearer {site.tokens['alice']}"},
    )
    resp = conn.getresponse()
    total = 0
    while chunk := resp.read(1 << 20):
        total += len(chunk)
    assert total == mib << 20
    assert rss_mib(site.proc.pid, "VmHWM") - before < 50
    conn.close()


# --- sign-in -------------------------------------------------------------------------------


def test_login_sets_a_safe_session_cookie(site):
    answer = site.request(
        "POST",
        "/login",
        body="user=alice&password=alice-password&next=/studios/alice-s/web/",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 303 and answer.header("Location") == "/studios/alice-s/web/"
    cookie = answer.header("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # (plain HTTP here; see the trusted proxy's test)
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"):
        answer = site.request(
            "POST",
            "/login",
            body={"user": "bob", "password": "bob-password", "next": evil},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    page = site.request("GET", "/login?next=//evil.example")
    assert (
        page.status == 200
        and "evil"
        not in page.body.decode().split("form")[1].split('name="next" value="')[1].split('"')[0]
    )
    wrong = site.request("POST", "/login", body={"user": "alice", "password": "nope-nope"})
    assert wrong.status == 401 and wrong.header("Set-Cookie") is None


def test_logout_needs_the_csrf_token_and_ends_the_session(site):
    cookie, csrf = site.login("bob")
    assert site.request("POST", "/logout", cookie=cookie).status == 403
    assert site.request("GET", "/api/v1/me", cookie=cookie).status == 200
    out = site.request("POST", "/logout", cookie=cookie, csrf=csrf)
    assert out.status == 303
    assert site.request("GET", "/api/v1/me", cookie=cookie).status == 401


def test_failed_logins_are_rate_limited(tmp_path):
    site = Site(tmp_path / "home")
    try:
        site.users()
        site.start()

        def login(user, password):
            return site.request("POST", "/login", body={"user": user, "password": password})

        for _ in range(10):
            assert login("bob", "wrong!!!").status == 401
        limited = login("bob", PASSWORDS["bob"])  # (even the right password, now)
        assert limited.status == 429 and int(limited.header("Retry-After")) > 0
        assert login("alice", PASSWORDS["alice"]).status == 200  # (another user: not yet)
        for i in range(20):  # 30 failures from one address: every user is refused from it
            assert login(f"nobody{i}", "wrong!!!").status == 401
        assert login("alice", PASSWORDS["alice"]).status == 429
    finally:
        site.close()


# --- the API -------------------------------------------------------------------------------


def schema_of(name: str) -> dict:
    doc = document()
    return {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}


def valid(body, name: str):
    jsonschema.validate(body, schema_of(name))
    return body


def test_openapi_document_is_served_and_valid(site):
    answer = site.request("GET", "/api/v1/openapi.json")
    assert answer.status == 200
    doc = answer.json()
    assert doc["openapi"].startswith("3.1") and "/api/v1/studios" in doc["paths"]
    jsonschema.Draft202012Validator.check_schema(schema_of("Studio"))


def test_api_studios_are_the_users_own(site):
    alice = valid(
        site.request("GET", "/api/v1/studios", token=site.tokens["alice"]).json(), "StudioList"
    )
    assert sorted(s["name"] for s in alice["studios"]) == ["alice-s", "down-s", "stopped-s"]
    web = next(a for a in alice["studios"][0]["apps"] if a["id"] == "web")
    assert web["url"] == "/studios/alice-s/web/"
    root = site.request("GET", "/api/v1/studios", token=site.tokens["root"]).json()
    assert {"alice-s", "bob-s"} <= {s["name"] for s in root["studios"]}
    mine = site.request("GET", "/api/v1/studios/alice-s", token=site.tokens["alice"])
    assert valid(mine.json(), "Studio")["owner"] == "alice"
    theirs = site.request("GET", "/api/v1/studios/bob-s", token=site.tokens["alice"])
    none = site.request("GET", "/api/v1/studios/none-s", token=site.tokens["alice"])
    assert theirs.status == none.status == 404
    assert "bob" not in theirs.body.decode().replace("bob-s", "")
    for verb, path in (
        ("POST", "/api/v1/studios/bob-s/stop"),
        ("DELETE", "/api/v1/studios/bob-s"),
        ("GET", "/api/v1/studios/bob-s/logs"),
        ("POST", "/api/v1/studios/bob-s/sync"),
    ):
        assert site.request(verb, path, token=site.tokens["alice"]).status == 404, path


ROUTES = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/studios"),
    ("POST", "/api/v1/studios"),
    ("GET", "/api/v1/studios/{name}"),
    ("DELETE", "/api/v1/studios/{name}"),
    ("POST", "/api/v1/studios/{name}/start"),
    ("POST", "/api/v1/studios/{name}/stop"),
    ("POST", "/api/v1/studios/{name}/sync"),
    ("GET", "/api/v1/studios/{name}/logs"),
    ("GET", "/api/v1/tasks/{id}"),
    ("GET", "/api/v1/tasks/{id}/events"),
    ("GET", "/api/v1/templates"),
    ("PUT", "/api/v1/templates/{template}"),
    ("DELETE", "/api/v1/templates/{template}"),
    ("POST", "/api/v1/templates/{template}/build"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{id}"),
    ("GET", "/api/v1/users"),
]


def test_every_api_route_refuses_the_wrong_credentials(site):
    documented = {(m.upper(), p) for p, ops in document()["paths"].items() for m in ops}
    assert documented - set(ROUTES) == {("GET", "/api/v1/openapi.json")}
    assert set(ROUTES) <= documented
    revoked = site.token("alice")
    site.blockc("tokens", "revoke", revoked.split("_")[1])
    expired, expired_csrf = site.login("alice")
    with sqlite3.connect(site.home / "state.db") as db:
        db.execute(
            "UPDATE sessions SET expires_at = ? WHERE digest = ?",
            (time.time() - 1, hashlib.sha256(expired.encode()).hexdigest()),
        )
    cookie, csrf = site.login("alice")
    for method, template in ROUTES:
        path = template.format(name="alice-s", id="0123456789ab", template="t")
        assert site.request(method, path).status == 401, (method, path)
        assert site.request(method, path, token=revoked).status == 401, (method, path)
        answer = site.request(method, path, cookie=expired, csrf=expired_csrf)
        assert answer.status == 401, (method, path)
        if method != "GET":  # a change with the cookie and no CSRF token: refused, unchanged
            assert site.request(method, path, cookie=cookie).status == 403, (method, path)
            assert site.request(method, path, cookie=cookie, csrf="x" * 43).status == 403
    assert site.request("GET", "/api/v1/me", cookie=cookie).status == 200
    # a second session cookie beside it (an app's script may add one): no one's
    other, _ = site.login("bob")
    both = {"Cookie": f"blockc_session={cookie}; blockc_session={other}"}
    assert site.request("GET", "/api/v1/me", headers=both).status == 401
    # the sign-in page says why, and what to do (the user would be locked out otherwise)
    assert b"two blockc sessions" in site.request("GET", "/login", headers=both).body
    assert b"two blockc sessions" not in site.request("GET", "/login").body
    # on the front door's port an app answers only blockc's own token: another Authorization
    # (a proxy's Basic credentials, say) is a browser's, sent to the apps' port
    basic = site.request(
        "GET",
        "/studios/alice-s/web/echo",
        port=site.port,
        headers={"Authorization": "Basic YWxpY2U6eA==", "Cookie": f"blockc_session={cookie}"},
    )
    assert basic.status == 307
    mine = site.request("GET", "/api/v1/studios/alice-s", token=site.tokens["alice"]).json()
    assert mine["state"] == "RUNNING" and not mine["task"]


def test_only_admins_build_templates(site):
    path = "/api/v1/templates/nothing-here/build"
    assert site.request("POST", path, token=site.tokens["alice"], body={}).status == 403
    assert site.request("POST", path, token=site.tokens["root"], body={}).status == 404
    bad = site.request("POST", path, token=site.tokens["root"], body={"no_cache": "yes"})
    assert bad.status in (400, 404)


def test_tokens_through_the_api(site):
    cookie, csrf = site.login("bob")
    made = site.request("POST", "/api/v1/tokens", cookie=cookie, csrf=csrf, body={"note": "ci"})
    assert made.status == 201, made
    token = valid(made.json(), "NewToken")["token"]
    me = site.request("GET", "/api/v1/me", token=token).json()
    assert valid(me, "Me") == {
        "name": "bob",
        "admin": False,
        "groups": [],
        "via": "token",
        "csrf": None,
    }
    listed = valid(site.request("GET", "/api/v1/tokens", token=token).json(), "TokenList")
    assert made.json()["id"] in [t["id"] for t in listed["tokens"]]
    assert all(t["user"] == "bob" for t in listed["tokens"])
    # bob cannot revoke alice's tokens, and learns nothing of them
    alice_id = site.tokens["alice"].split("_")[1]
    assert site.request("DELETE", f"/api/v1/tokens/{alice_id}", token=token).status == 404
    gone = site.request("DELETE", f"/api/v1/tokens/{made.json()['id']}", token=token)
    assert gone.status == 204
    assert site.request("GET", "/api/v1/me", token=token).status == 401
    bad = site.request(
        "POST", "/api/v1/tokens", token=site.tokens["bob"], body={"expires_days": -1}
    )
    assert bad.status == 400 and "error" in bad.json()
    junk = site.request(
        "POST",
        "/api/v1/tokens",
        token=site.tokens["bob"],
        body="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert junk.status == 400


def test_templates_are_the_admins_and_open_to_groups(site, tmp_path):
    template = ROOT / "examples" / "minimal.yaml"
    body = {"path": str(template), "groups": ["ml"]}
    assert (
        site.request("PUT", "/api/v1/templates/t", token=site.tokens["alice"], body=body).status
        == 403
    )
    put = site.request("PUT", "/api/v1/templates/t", token=site.tokens["root"], body=body)
    assert put.status == 200, put
    bad = site.request(
        "PUT",
        "/api/v1/templates/u",
        token=site.tokens["root"],
        body={"path": str(tmp_path / "none.yaml")},
    )
    assert bad.status == 400 and "none.yaml" in bad.body.decode()
    alice = site.request("GET", "/api/v1/templates", token=site.tokens["alice"]).json()
    assert valid(alice, "TemplateList")["templates"] == [{"name": "t", "groups": ["ml"]}]
    assert site.request("GET", "/api/v1/templates", token=site.tokens["bob"]).json() == {
        "templates": []
    }
    # bob may not start a studio from it (not in ml); no such template either way
    made = site.request(
        "POST", "/api/v1/studios", token=site.tokens["bob"], body={"name": "b2", "template": "t"}
    )
    assert made.status == 404
    taken = site.request(
        "POST",
        "/api/v1/studios",
        token=site.tokens["alice"],
        body={"name": "bob-s", "template": "t"},
    )
    assert taken.status == 409 and "bob" not in taken.body.decode().replace("bob-s", "")
    assert site.request("DELETE", "/api/v1/templates/t", token=site.tokens["root"]).status == 204


def test_an_operation_runs_as_a_task_with_events(site):
    started = site.request("POST", "/api/v1/studios/stopped-s/sync", token=site.tokens["alice"])
    assert started.status == 202, started
    task = valid(started.json(), "Task")
    assert started.header("Location") == f"/api/v1/tasks/{task['id']}"
    events = site.request("GET", f"/api/v1/tasks/{task['id']}/events", token=site.tokens["alice"])
    assert events.status == 200 and events.header("Content-Type").startswith("text/event-stream")
    text = events.body.decode()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert blocks[-1].splitlines()[1] == "event: end"
    end = json.loads(blocks[-1].splitlines()[2].removeprefix("data: "))
    assert end == {"returncode": 0, "state": "succeeded"}
    lines = [json.loads(b.splitlines()[2][6:])["text"] for b in blocks[:-1]]
    assert lines == ["studio 'stopped-s' has no sync zones"]  # (what `blockc sync` says)
    done = site.request("GET", f"/api/v1/tasks/{task['id']}", token=site.tokens["alice"]).json()
    assert valid(done, "Task")["state"] == "succeeded" and done["lines"] == lines
    # from where a client left off: only what followed
    again = site.request(
        "GET",
        f"/api/v1/tasks/{task['id']}/events",
        token=site.tokens["alice"],
        headers={"Last-Event-ID": blocks[-2].splitlines()[0][4:]},
    )
    assert [b for b in again.body.decode().split("\n\n") if b.strip()] == blocks[-1:]
    # another user's task is no task of theirs
    assert (
        site.request("GET", f"/api/v1/tasks/{task['id']}", token=site.tokens["bob"]).status == 404
    )


# --- the site ------------------------------------------------------------------------------


def test_one_front_door_per_home_and_none_beside_open_studios(site, tmp_path):
    second = site.blockc("serve", "--listen", f"127.0.0.1:{free_port()}", check=False)
    assert second.returncode == 1 and "another blockc serve runs" in second.stderr
    other = Site(tmp_path / "home")
    try:
        other.users()
        other.studio("open-s", "alice", site.app_port, gated=False)
        refused = other.blockc("serve", "--listen", f"127.0.0.1:{free_port()}", check=False)
        assert refused.returncode == 1 and "open-s" in refused.stderr
        assert "blockc stop open-s" in refused.stderr
    finally:
        other.close()


def test_a_restart_keeps_sessions_and_studios(tmp_path):
    site = Site(tmp_path / "home")
    try:
        site.users()
        site.start()
        site.studio("s1", "alice", site.backend())
        cookie, _ = site.login("alice")
        assert site.request("GET", "/studios/s1/web/echo", cookie=cookie).status == 200
        site.stop()
        site.start()
        assert site.request("GET", "/studios/s1/web/echo", cookie=cookie).status == 200
    finally:
        site.close()


def test_trusted_header_only_from_the_trusted_proxy(tmp_path):
    trusted = Site(
        tmp_path / "a", {"authenticator": "trusted-header", "trusted_proxies": "127.0.0.1"}
    )
    distrusted = Site(
        tmp_path / "b", {"authenticator": "trusted-header", "trusted_proxies": "10.9.9.9/32"}
    )
    try:
        for s in (trusted, distrusted):
            s.start()
        me = trusted.request("GET", "/api/v1/me", headers={"X-Forwarded-User": "carol"})
        assert me.status == 200 and me.json()["name"] == "carol" and me.json()["via"] == "header"
        csrf = me.json()["csrf"]
        made = trusted.request(
            "POST", "/api/v1/tokens", headers={"X-Forwarded-User": "carol"}, body={}
        )
        assert made.status == 403  # (a header is ambient, like a cookie: changes need CSRF)
        made = trusted.request(
            "POST", "/api/v1/tokens", headers={"X-Forwarded-User": "carol"}, csrf=csrf, body={}
        )
        assert made.status == 201
        assert (
            distrusted.request("GET", "/api/v1/me", headers={"X-Forwarded-User": "carol"}).status
            == 401
        )
        assert (
            trusted.request("GET", "/api/v1/me", headers={"X-Forwarded-User": "Bad Name!"}).status
            == 401
        )
        https = trusted.request("GET", "/login", headers={"X-Forwarded-Proto": "https"})
        assert https.status == 401  # (no password form on an SSO site)
        # the app behind never sees the header
        trusted.studio("carol-s", "carol", trusted.backend())
        got = echo(trusted, "/studios/carol-s/web/echo", headers={"X-Forwarded-User": "carol"})
        assert "x-forwarded-user" not in seen_headers(got)
    finally:
        trusted.close()
        distrusted.close()


def test_secure_cookie_behind_a_tls_proxy(tmp_path):
    site = Site(tmp_path / "home", {"trusted_proxies": "127.0.0.1"})
    try:
        site.users()
        site.start()
        answer = site.request(
            "POST",
            "/login",
            body={"user": "alice", "password": PASSWORDS["alice"]},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert "Secure" in answer.header("Set-Cookie")
    finally:
        site.close()


def test_a_bad_authenticator_setting_is_named(tmp_path):
    site = Site(tmp_path / "home", {"authenticator": "ldap"})
    out = site.blockc("serve", "--listen", f"127.0.0.1:{free_port()}", check=False)
    assert out.returncode == 1 and "no authenticator named 'ldap'" in out.stderr
    assert "local" in out.stderr and "trusted-header" in out.stderr
    site = Site(tmp_path / "home", {"authenticator": "trusted-header"})
    out = site.blockc("serve", "--listen", f"127.0.0.1:{free_port()}", check=False)
    assert out.returncode == 1 and "trusted_proxies" in out.stderr
    site = Site(tmp_path / "home", {"apps_port": "eighty"})
    out = site.blockc("serve", "--listen", f"127.0.0.1:{free_port()}", check=False)
    assert out.returncode == 1 and "setting apps_port: a port, or off" in out.stderr
    assert "Traceback" not in out.stderr


PLUGIN = """
from blockc import hookimpl
from blockc.serve.auth import Authenticator


class Shared(Authenticator):
    name = "shared-password"
    password_form = True
    adds_users = False

    def check_password(self, user, password):
        return user if password == "open sesame" else None


@hookimpl
def blockc_authenticators():
    return [Shared]
"""


def test_hook_blockc_authenticators(tmp_path):
    """An authenticator from an installed plugin (an entry point of a distribution)."""
    lib = tmp_path / "lib"
    (lib / "shared_auth").mkdir(parents=True)
    (lib / "shared_auth" / "__init__.py").write_text(PLUGIN)
    info = lib / "shared_auth-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shared-auth\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[blockc]\nshared = shared_auth\n")
    site = Site(tmp_path / "home", {"authenticator": "shared-password"})
    site.env["PYTHONPATH"] = str(lib)
    try:
        site.users()
        site.start()
        assert (
            site.request(
                "POST", "/login", body={"user": "bob", "password": PASSWORDS["bob"]}
            ).status
            == 401
        )
        answer = site.request("POST", "/login", body={"user": "bob", "password": "open sesame"})
        assert answer.status == 200 and answer.json()["name"] == "bob"
    finally:
        site.close()


# --- the CLI through the front door --------------------------------------------------------


def test_the_cli_through_a_front_door(site):
    url = f"http://127.0.0.1:{site.port}"

    def cli(*args, token=site.tokens["alice"], server=url):
        env = {"BLOCKC_SERVER": server} if server else {}
        if token:
            env["BLOCKC_TOKEN"] = token
        return site.blockc(*args, check=False, env=env)

    out = cli("status")
    assert out.returncode == 0, out.stderr
    assert "alice-s: RUNNING  owner alice" in out.stdout and "bob-s" not in out.stdout
    assert f"{url}/studios/alice-s/web/" in out.stdout
    listed = json.loads(cli("status", "alice-s", "--format", "json").stdout)
    assert listed[0]["apps"][0]["url"] == f"{url}/studios/alice-s/web/"
    # --server on the command line does what BLOCKC_SERVER does
    out = cli("status", "stopped-s", "--server", url, server=None)
    assert out.returncode == 0 and "stopped-s: STOPPED" in out.stdout
    synced = cli("sync", "stopped-s")
    assert synced.returncode == 0 and "has no sync zones" in synced.stdout
    theirs = cli("stop", "bob-s")
    assert theirs.returncode == 1 and "you have no studio named 'bob-s'" in theirs.stderr
    nothing = cli("start", "no-such-template", "--studio", "new-one")
    assert nothing.returncode == 1 and "no template named 'no-such-template'" in nothing.stderr
    assert cli("start", "t", "--studio", "x", "--owner", "bob").returncode == 2
    logs = cli("logs", "alice-s")
    assert logs.returncode == 1 and "Traceback" not in logs.stderr  # (no container: said so)
    # without a token, with a bad one, with no front door there
    none = cli("status", token=None)
    assert none.returncode == 1 and "BLOCKC_TOKEN is not set" in none.stderr
    bad = cli("status", token="blockc_000000000000_" + "x" * 43)
    assert bad.returncode == 1 and "not valid" in bad.stderr
    gone = cli("status", server=f"http://127.0.0.1:{free_port()}")
    assert gone.returncode == 1 and "cannot reach the front door" in gone.stderr


def test_http_edges_through_the_gateway(site):
    """What an app may do over HTTP/1.1 that the gateway passes on as it is: bodies of no
    stated length both ways, a connection it closes, answers without a body, HEAD, an answer
    before the request's body is read, and Expect: 100-continue."""
    import http.client

    auth = {"Authorization": f"Bearer {site.tokens['alice']}"}
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=60)

    def call(method, path, body=None, headers=None, chunked=False):
        conn.request(
            method, path, body=body, headers={**auth, **(headers or {})}, encode_chunked=chunked
        )
        resp = conn.getresponse()
        return resp, resp.read()

    # an upload of no stated length goes on chunked; an answer of none comes back whole
    resp, data = call(
        "POST", "/studios/alice-s/web/sink", body=iter([b"a" * 70000] * 30), chunked=True
    )
    assert resp.status == 200 and json.loads(data) == {"bytes": 70000 * 30}
    resp, data = call("GET", "/studios/alice-s/web/chunked?mib=3")
    assert resp.status == 200 and data == b"\1" * (3 << 20)
    # the connection to the app is kept for the next request; when the app closes it, the
    # next request goes on a new one
    peers = set()
    for _ in range(3):
        peers.add(tuple(json.loads(call("GET", "/studios/alice-s/web/echo")[1])["peer"]))
    assert len(peers) == 1, peers
    for _ in range(3):
        resp, data = call("GET", "/studios/alice-s/web/close")
        assert resp.status == 200 and data == b"bye"
    # no body: 204, 304; HEAD says the length of what GET would send, and sends nothing
    for code in (204, 304):
        resp, data = call("GET", f"/studios/alice-s/web/status?code={code}")
        assert resp.status == code and data == b""
    resp, data = call("HEAD", "/studios/alice-s/web/big?mib=2")
    assert resp.status == 200 and data == b"" and resp.getheader("Content-Length") == str(2 << 20)
    # the app answers before it reads the body: the answer comes back
    resp, data = call("POST", "/studios/alice-s/web/early", body=b"x" * (64 << 10))
    assert resp.status == 413 and data == b"too big"
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=60)
    resp, data = call(
        "POST", "/studios/alice-s/web/sink", body=b"y" * 1000, headers={"Expect": "100-continue"}
    )
    assert resp.status == 200 and json.loads(data) == {"bytes": 1000}
    # and the connection is still good for more
    assert call("GET", "/studios/alice-s/web/echo")[0].status == 200
    conn.close()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_what_a_browser_or_an_app_breaks_off_leaves_nothing_behind(site):
    """An answer the browser stops reading, an upload it breaks off, an answer that ends where
    the app's connection does: the next request gets its own answer whole, and no connection
    to the app is left open for nothing."""
    import socket

    auth = f"Authorization: Bearer {site.tokens['alice']}\r\n".encode()

    def raw(request: bytes, read: int = 1 << 16) -> bytes:
        with socket.create_connection(("127.0.0.1", site.port), timeout=30) as s:
            s.sendall(request)
            return s.recv(read) if read else b""

    # a download the browser leaves after its first bytes: nothing of it reaches the next
    first = raw(b"GET /studios/alice-s/web/slow?n=5 HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
    assert first.startswith(b"HTTP/1.1 200")
    time.sleep(1.5)  # (the app sends the rest meanwhile)
    for _ in range(3):
        got = echo(site, "/studios/alice-s/web/echo", token=site.tokens["alice"])
        assert got["path"] == "/echo"
    # a body that ends where the app's connection does comes whole, and ends
    answer = site.request("GET", "/studios/alice-s/web/eof", token=site.tokens["alice"])
    assert answer.status == 200 and answer.body == b"hello-until-eof"
    # uploads broken off: no connection to the app is kept for them
    before = open_fds(site.proc.pid)
    for _ in range(20):
        raw(
            b"POST /studios/alice-s/web/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            + auth
            + b"\r\n"
            + b"x" * 10,
            read=0,  # (and gone)
        )
    time.sleep(1)
    assert open_fds(site.proc.pid) - before < 5


def test_an_apps_page_may_not_use_the_api_as_its_viewer(site):
    """Every app is served from the front door's own origin: a page of one could read the
    viewer's CSRF token and act as them. The API refuses what a browser sends from an app's
    page (its Referer), from another site, or without saying where from."""
    cookie, csrf = site.login("alice")
    me = f"http://127.0.0.1:{site.port}"
    ok = site.request("GET", "/api/v1/me", cookie=cookie, headers={"Referer": me + "/"})
    assert ok.status == 200
    for headers in (
        {"Referer": me + "/studios/alice-s/web/", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin"},  # (the app's page hid its address)
        {"Sec-Fetch-Site": "cross-site", "Referer": "https://evil.example/"},
        {"Origin": "https://evil.example"},
        {"Referer": "http://[", "Sec-Fetch-Site": "same-origin"},  # (no URL: the worst case)
        # an app's page on the apps' origin, from a browser that sends no Sec-Fetch-* (plain
        # HTTP to an address it does not trust, an older one): its Referer says where from
        {"Referer": f"http://127.0.0.1:{site.apps_port}/studios/alice-s/web/"},
        {"Origin": "http://["},
    ):
        assert site.request("GET", "/api/v1/me", cookie=cookie, headers=headers).status == 403
        made = site.request(
            "POST", "/api/v1/tokens", cookie=cookie, csrf=csrf, headers=headers, body={}
        )
        assert made.status == 403, headers
    # a token is no browser's ambient credential: scripts go on working
    assert (
        site.request(
            "GET",
            "/api/v1/me",
            token=site.tokens["alice"],
            headers={"Sec-Fetch-Site": "same-origin"},
        ).status
        == 200
    )
    # and signing a browser in from another site is refused (login CSRF)
    cross = site.request(
        "POST",
        "/login",
        body={"user": "alice", "password": PASSWORDS["alice"]},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status == 403 and cross.header("Set-Cookie") is None


def test_sign_in_bodies_are_bounded(site):
    big = site.request("POST", "/login", body={"user": "u" * (1 << 20), "password": "x"})
    assert big.status == 413
    nameless = site.request("POST", "/login", body={"user": "Not A Name!", "password": "secret12"})
    assert nameless.status == 401


def test_an_app_that_lets_its_origin_frame_it_lets_the_front_door_frame_it():
    from multidict import CIMultiDict

    from blockc.serve.gateway import framed_by

    front = "http://127.0.0.1:8750"
    jupyter = CIMultiDict({"Content-Security-Policy": "frame-ancestors 'self'; report-uri /r"})
    framed_by(jupyter, front)
    assert jupyter["Content-Security-Policy"] == f"frame-ancestors 'self' {front}; report-uri /r"
    never = CIMultiDict({"Content-Security-Policy": "frame-ancestors 'none'"})
    framed_by(never, front)
    assert never["Content-Security-Policy"] == "frame-ancestors 'none'"
    sameorigin = CIMultiDict({"X-Frame-Options": "SAMEORIGIN"})
    framed_by(sameorigin, front)
    assert "X-Frame-Options" not in sameorigin
    assert sameorigin["Content-Security-Policy"] == f"frame-ancestors 'self' {front}"
    deny = CIMultiDict({"X-Frame-Options": "DENY"})
    framed_by(deny, front)
    assert deny["X-Frame-Options"] == "DENY" and "Content-Security-Policy" not in deny
