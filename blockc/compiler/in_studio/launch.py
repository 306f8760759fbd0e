"""blockc's in-studio launcher (copied into the image as /opt/blockc/launch.py).

  launch.py supervise CONF  run supervisord (the container's command) on CONF
  launch.py run APP_ID      exec the app's argv with its env (from /etc/blockc/apps.json)
  launch.py health          exit 0 when every app answers its health check
  launch.py gate            the studio's gate (behind blockc serve; exits at once otherwise)

Values in apps.json are data: ``${NAME}`` in argv/env is replaced by the env var NAME
(``$$`` for a literal ``$``); nothing goes through a shell.
"""

import asyncio
import hmac
import json
import os
import string
import sys
import time
import urllib.error
import urllib.request

# (both may be set otherwise for a test of the launcher outside a studio)
APPS = os.environ.get("BLOCKC_APPS_FILE", "/etc/blockc/apps.json")
GATE_PORT = int(os.environ.get("BLOCKC_GATE_PORT", "7750"))  # (blockc/run/gate.py)
GATE_SECRET_ENV = "BLOCKC_GATE_SECRET"
GATE_SECRET_HEADER = b"x-blockc-gate"
GATE_APP_HEADER = b"x-blockc-app-port"
GATE_DOWN_HEADER = b"X-Blockc-App-Down"  # (blockc/run/gate.py)
GATE_HEAD_MAX = 64 * 1024


def _apps():
    with open(APPS, encoding="utf-8") as f:
        return {a["id"]: a for a in json.load(f)["apps"]}


def _expand(value, env):
    return string.Template(value).safe_substitute(env)


def _env_id(app_id):
    return app_id.upper().replace("-", "_")


def base_path(app, env=os.environ):
    return env.get("BLOCKC_BASE_PATH_" + _env_id(app["id"]), "/")


def _wait_for_sync(app_id, gate, timeout=900):
    """Under `blockc start`, apps wait until the files of the sync zones are pushed in."""
    if not gate or os.path.exists(gate):
        return
    print(f"blockc: app '{app_id}' waits for the studio's files to be synced in", flush=True)
    deadline = time.monotonic() + timeout
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.1)


def _wait_for_file(app_id, path):
    """A required file (e.g. a Streamlit script in a sync zone) may arrive later: wait for it,
    saying why in the app's log, instead of failing until the supervisor gives up."""
    if os.path.exists(path):
        return
    print(
        f"blockc: app '{app_id}' cannot start: required file {path} does not exist "
        f"(put it in the image or in a sync zone); waiting for it",
        flush=True,
    )
    while not os.path.exists(path):
        time.sleep(1)
    print(f"blockc: {path} appeared", flush=True)


def run(app_id):
    app = _apps().get(app_id)
    if app is None:
        sys.exit(f"blockc launcher: no app {app_id!r} in {APPS}")
    env = dict(os.environ)
    env.pop(GATE_SECRET_ENV, None)  # the gate's alone
    # outside a runtime that sets them (a plain `podman run`), apps are served at /
    env.setdefault("BLOCKC_BASE_PATH_" + _env_id(app_id), "/")
    env.setdefault("BLOCKC_PORT_" + _env_id(app_id), str(app["port"]))
    if app.get("wait_for_sync", True):
        _wait_for_sync(app_id, env.get("BLOCKC_WAIT_FOR_SYNC"))
    for key, value in app.get("env", {}).items():
        env[key] = _expand(value, env)
    for path in app.get("requires", []):
        _wait_for_file(app_id, _expand(path, env))
    argv = [_expand(a, env) for a in app["command"]]
    workdir = app.get("workdir") or env.get("HOME") or "/"
    try:
        os.chdir(_expand(workdir, env))
    except OSError as exc:
        print(f"blockc: app '{app_id}': cannot enter {workdir}: {exc}", flush=True)
    print(f"blockc: starting app '{app_id}': {json.dumps(argv)}", flush=True)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        sys.exit(f"blockc: app '{app_id}' cannot start {argv[0]!r}: {exc.strerror}")


def healthy(app, timeout=2.0):
    if app.get("health") is None:
        return True
    path = app["health"].replace("{base}", base_path(app))
    url = f"http://127.0.0.1:{app['port']}{path}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except urllib.error.HTTPError as exc:
        return app.get("health_redirect_ok", False) and 300 <= exc.code < 400
    except (OSError, ValueError):
        return False


def supervise(conf):
    """Run supervisord on ``conf``, without its idle second at start.

    supervisord (4.3.0, pinned by blockc) spawns its programs after the first poll of its main
    loop, and that poll waits up to 1 s for an event that, at start, never comes: every studio
    start would wait a second for nothing. Here the first poll does not wait.
    """
    from supervisor import poller, supervisord

    real = poller.Poller.poll
    first = [True]

    def poll(self, timeout):
        if first:
            first.clear()
            timeout = 0
        return real(self, timeout)

    poller.Poller.poll = poll
    supervisord.main(["-c", conf])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def health():
    urllib.request.install_opener(urllib.request.build_opener(_NoRedirect))
    bad = [a["id"] for a in _apps().values() if a.get("command") is not None and not healthy(a)]
    if bad:
        sys.exit("unhealthy: " + ", ".join(bad))


def gate():
    """Relay connections from the front door to the apps, and nothing else.

    The first request of a connection must carry the studio's secret (GATE_SECRET_HEADER)
    and the port of one of its apps (GATE_APP_HEADER), each once; both headers are taken out of
    that request and the connection is relayed, byte for byte, to that app on 127.0.0.1 (the
    front door sends them on its later requests too: the app sees them there). Anything else
    is answered 403 and closed. Only the front door opens connections to the gate, so what
    follows the first request on a connection is the front door's too.
    """
    secret = os.environ.pop(GATE_SECRET_ENV, "").encode()
    if not secret:
        print("blockc gate: no secret (the studio runs without a front door): not needed")
        return
    ports = {str(a["port"]).encode() for a in _apps().values()}

    async def refuse(writer, why):
        print("blockc gate: refused a connection: " + why, flush=True)
        body = b"only blockc's front door reaches this studio\n"
        writer.write(
            b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n"
            + b"content-length: %d\r\n\r\n" % len(body)
            + body
        )
        try:
            await writer.drain()
        finally:
            writer.close()

    async def relay(reader, writer):
        try:
            while True:
                data = await reader.read(262144)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, asyncio.IncompleteReadError):
            pass

    async def serve(reader, writer):
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
                await refuse(writer, "no request head")
                return
            lines = head.split(b"\r\n")
            kept, given, port = [lines[0]], [], []
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                lower = name.strip().lower()
                if lower == GATE_SECRET_HEADER:
                    given.append(value.strip())
                elif lower == GATE_APP_HEADER:
                    port.append(value.strip())
                else:
                    kept.append(line)
            if len(given) != 1 or not hmac.compare_digest(given[0], secret):
                await refuse(writer, "without the studio's secret")
                return
            if len(port) != 1 or port[0] not in ports:
                await refuse(writer, "for no app's port")
                return
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port[0]))
            except OSError:  # (the front door tells its users why)
                writer.write(
                    b"HTTP/1.1 502 Bad Gateway\r\n" + GATE_DOWN_HEADER + b": 1\r\n"
                    b"content-length: 0\r\nconnection: close\r\n\r\n"
                )
                await writer.drain()
                writer.close()
                return
            up_writer.write(b"\r\n".join(kept))
            await asyncio.gather(relay(reader, up_writer), relay(up_reader, writer))
            up_writer.close()
        except OSError:
            pass
        finally:
            writer.close()

    async def main():
        host = os.environ.get("BLOCKC_GATE_HOST", "0.0.0.0")
        server = await asyncio.start_server(serve, host, GATE_PORT, limit=GATE_HEAD_MAX)
        print("blockc gate: listening on port %d" % GATE_PORT, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "supervise":
        supervise(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "run":
        run(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "health":
        health()
    elif len(sys.argv) == 2 and sys.argv[1] == "gate":
        gate()
    else:
        sys.exit(__doc__)
