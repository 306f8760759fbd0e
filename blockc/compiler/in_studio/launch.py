"""blockc's in-studio launcher (copied into the image as /opt/blockc/launch.py).

  launch.py supervise CONF  run supervisord (the container's command) on CONF
  launch.py run APP_ID      exec the app's argv with its env (from /etc/blockc/apps.json)
  launch.py health          exit 0 when every app answers its health check

Values in apps.json are data: ``${NAME}`` in argv/env is replaced by the env var NAME
(``$$`` for a literal ``$``); nothing goes through a shell.
"""

import json
import os
import string
import sys
import time
import urllib.error
import urllib.request

APPS = "/etc/blockc/apps.json"


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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "supervise":
        supervise(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "run":
        run(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "health":
        health()
    else:
        sys.exit(__doc__)
