#!/usr/bin/env bash
# `make demo`: the front door (`blockc serve`) and, behind it, the example studio "demo" on
# podman; prints the one URL to open and how to sign in. Run by `make demo` after the venv and
# the base image are in place. A second run rebuilds nothing and finds both running.
set -euo pipefail
cd "$(dirname "$0")/.."
BLOCKC=.venv/bin/blockc
TEMPLATE=${DEMO_TEMPLATE:-examples/demo.yaml}
WORKSPACE=${DEMO_WORKSPACE:-.demo/workspace}
HOME_DIR=${BLOCKC_HOME:-$HOME/.local/share/blockc}
LISTEN=${DEMO_LISTEN:-127.0.0.1:8750}
URL="http://$LISTEN"
# the demo's user of the front door: the name you are logged in as (a blockc user name is
# lowercase letters, digits, '.', '_' and '-')
DEMO_USER=$(printf '%s' "${USER:-demo}" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9._-' '-')
mkdir -p .demo && chmod 700 .demo

# podman needs this machine's settings (etc/containers.conf) in later shells too: record them
# in the site config once, unless the user has a config of their own.
if [ ! -f "$HOME_DIR/config.toml" ]; then
  mkdir -p "$HOME_DIR"
  printf 'containers_conf = "%s"\n' "$PWD/etc/containers.conf" > "$HOME_DIR/config.toml"
  echo "wrote $HOME_DIR/config.toml (containers_conf = etc/containers.conf)"
else
  # one written by a checkout since removed names a file that is gone: this one's instead
  old=$(sed -n 's/^containers_conf = "\(.*\)"$/\1/p' "$HOME_DIR/config.toml")
  if [ -n "$old" ] && [ ! -f "$old" ]; then
    sed -i "s|^containers_conf = \".*\"$|containers_conf = \"$PWD/etc/containers.conf\"|" "$HOME_DIR/config.toml"
    echo "$HOME_DIR/config.toml: containers_conf named $old, which is gone: now etc/containers.conf"
  fi
fi
if [ ! -d "$WORKSPACE" ]; then
  mkdir -p "$WORKSPACE"
  cp -R examples/demo-workspace/. "$WORKSPACE/"
  echo "seeded the demo workspace $WORKSPACE from examples/demo-workspace/"
fi

echo "== validate"
$BLOCKC validate "$TEMPLATE"
echo "== compile (artifact in .demo/artifact)"
$BLOCKC compile "$TEMPLATE" -o .demo/artifact

echo "== the front door's user '$DEMO_USER' (an admin) and the template 'demo'"
if ! $BLOCKC users list --format json | grep -q "\"name\": \"$DEMO_USER\""; then
  .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))' > .demo/password
  chmod 600 .demo/password
  $BLOCKC users add "$DEMO_USER" --admin < .demo/password
fi
$BLOCKC templates add demo "$TEMPLATE"

# whether the front door answers (no curl on a fresh Debian: Python's)
up() {
  .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "$URL/api/v1/openapi.json" 2>/dev/null
}

echo "== the front door, $URL (log: .demo/serve.log)"
if ! up; then
  start_serve() {
    nohup $BLOCKC serve --listen "$LISTEN" > .demo/serve.log 2>&1 &
    echo $! > .demo/serve.pid
    for _ in $(seq 50); do
      up && return 0
      kill -0 "$(cat .demo/serve.pid)" 2>/dev/null || return 1
      sleep 0.1
    done
    return 1
  }
  if ! start_serve; then
    if grep -q "publish their apps on 127.0.0.1 without the front door" .demo/serve.log; then
      # a demo studio from before the front door: stopped (its files synced out) and started
      # again behind it
      echo "the studio 'demo' runs without the front door: stopping it (files synced out)"
      $BLOCKC stop demo
      start_serve || { cat .demo/serve.log; exit 1; }
    else
      cat .demo/serve.log
      exit 1
    fi
  fi
fi

echo "== build and start the studio 'demo' behind it (the first build downloads packages: a few minutes)"
$BLOCKC start "$TEMPLATE" --studio demo --owner "$DEMO_USER" --workspace "$WORKSPACE"
echo
echo "Open $URL/login and sign in as '$DEMO_USER'"
if [ -f .demo/password ]; then
  echo "  password: $(cat .demo/password)   (kept in .demo/password)"
else
  echo "  with your password (set another: .venv/bin/blockc users passwd $DEMO_USER)"
fi
echo "Your studio 'demo' is listed there: open it, then its JupyterLab tab (each app is also"
echo "at $URL/studios/demo/<app>/)."
echo
echo "Try:  .venv/bin/blockc status demo | .venv/bin/blockc logs demo | .venv/bin/blockc exec demo -- python -V"
echo "      .venv/bin/blockc sync demo | .venv/bin/blockc stop demo | .venv/bin/blockc rm demo"
echo "      stop the front door: kill \$(cat .demo/serve.pid)"
