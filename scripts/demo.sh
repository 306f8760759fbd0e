#!/usr/bin/env bash
# `make demo`: compile, build and start the example studio "demo" on podman, then print its URLs.
# Run by `make demo` after the venv and the base image are in place. A second run rebuilds
# nothing and finds the studio already running.
set -euo pipefail
cd "$(dirname "$0")/.."
BLOCKC=.venv/bin/blockc
TEMPLATE=${DEMO_TEMPLATE:-examples/demo.yaml}
WORKSPACE=${DEMO_WORKSPACE:-.demo/workspace}
HOME_DIR=${BLOCKC_HOME:-$HOME/.local/share/blockc}

# podman needs this machine's settings (etc/containers.conf) in later shells too: record them
# in the site config once, unless the user has a config of their own.
if [ ! -f "$HOME_DIR/config.toml" ]; then
  mkdir -p "$HOME_DIR"
  printf 'containers_conf = "%s"\n' "$PWD/etc/containers.conf" > "$HOME_DIR/config.toml"
  echo "wrote $HOME_DIR/config.toml (containers_conf = etc/containers.conf)"
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
echo "== build and start the studio 'demo' (the first build downloads packages: a few minutes)"
$BLOCKC start "$TEMPLATE" --studio demo --owner "${USER:-demo}" --workspace "$WORKSPACE"
echo
echo "Try:  .venv/bin/blockc status demo | .venv/bin/blockc logs demo | .venv/bin/blockc exec demo -- python -V"
echo "      .venv/bin/blockc sync demo | .venv/bin/blockc stop demo | .venv/bin/blockc rm demo"
