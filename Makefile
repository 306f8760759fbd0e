# blockc: `make demo` and `make test` set up everything they need on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_IMAGE := localhost/blockc-base/debian-python:bookworm
PLUGINS := $(wildcard plugins/*/pyproject.toml)
APT_PACKAGES := buildah podman runc debootstrap rsync
# podman/buildah settings that work on these machines (see etc/containers.conf)
export CONTAINERS_CONF ?= $(CURDIR)/etc/containers.conf

.PHONY: help system venv base-image editor-tools k8s-tools browser-tools screenshots demo test test-fast lint format golden bench bench-gateway bench-kubernetes clean

help:
	@echo "make demo       compile, build and start the example studio, print its URLs"
	@echo "make test       the whole test suite (containers included)"
	@echo "make test-fast  the tests that need no containers"
	@echo "make editor-tools  the YAML language server the editor tests drive (build/editor/)"
	@echo "make k8s-tools  the Kubernetes test cluster's packages and binaries (/var/cache/k8s-lab)"
	@echo "make browser-tools  Debian's chromium, which the page tests drive (Playwright)"
	@echo "make lint       ruff (lint and format check) and mypy"
	@echo "make format     ruff's formatting and safe fixes, applied"
	@echo "make golden     refresh the golden compiler outputs (review the diff!)"
	@echo "make bench      run the benchmarks"
	@echo "make bench-gateway  the front door's gateway against configurable-http-proxy"
	@echo "make bench-kubernetes  the Kubernetes runtime's benchmarks, on test clusters of their own"

system:
	@missing=""; for p in $(APT_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

$(BIN)/blockc: pyproject.toml $(PLUGINS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# compat editable installs (a path in a .pth file): no import hooks, so blockc starts fast;
	# pip writes the .pyc files of what it installs (PYTHONDONTWRITEBYTECODE=1 would stop it)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pip install --quiet --disable-pip-version-check \
	  --config-settings editable_mode=compat -e '.[test,lint]' $(addprefix -e ,$(dir $(PLUGINS)))
	touch $@

# .pyc files for the editable sources (PYTHONDONTWRITEBYTECODE=1 would otherwise leave
# blockc to compile its sources at every start, ~40 ms); only stale ones are rewritten
venv: $(BIN)/blockc
	@$(BIN)/python -m compileall -q blockc $(dir $(PLUGINS)) >/dev/null

base-image: system
	scripts/make-base-image.sh

# The YAML language server (what VS Code's YAML extension runs) that tests/test_editor.py
# drives over LSP against `blockc schema`. Pinned: 1.25.0 is the newest that runs on Node.js
# 20 (2.x needs Node.js >= 22.13). Installed once; skipped while that version is there.
YAML_LANGUAGE_SERVER := 1.25.0
EDITOR_DIR := build/editor
editor-tools:
	@have=$$(node -p 'require("$(abspath $(EDITOR_DIR))/node_modules/yaml-language-server/package.json").version' 2>/dev/null); \
	if [ "$$have" = "$(YAML_LANGUAGE_SERVER)" ] && [ -x $(EDITOR_DIR)/node_modules/.bin/yaml-language-server ]; then exit 0; fi; \
	if ! command -v npm >/dev/null; then \
	  echo "installing Node.js and npm (Debian packages) for the editor tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; \
	fi; \
	echo "installing yaml-language-server $(YAML_LANGUAGE_SERVER) into $(EDITOR_DIR)"; \
	mkdir -p $(EDITOR_DIR) && \
	npm install --prefix $(EDITOR_DIR) --save-exact --no-fund --no-audit --loglevel=error \
	  yaml-language-server@$(YAML_LANGUAGE_SERVER)

# The Kubernetes test cluster (scripts/k8s-lab/, used by tests/kube/): Debian packages, then
# kube-*, etcd, kwok and the pause image built from the Go module proxy into /var/cache/k8s-lab
# (K8S_LAB_CACHE). Cold build ~7-15 min; nothing to do < 1 s.
K8S_APT_PACKAGES := containerd containernetworking-plugins docker-registry openssl iptables curl gcc libc6-dev
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
k8s-tools: system
	@missing=""; for p in $(K8S_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@test -x "$(GO)" || { echo "Go not found (no go on PATH, no /usr/local/go/bin/go): install Go >= 1.24 or pass GO=/path/to/go" >&2; exit 1; }
	GO="$(GO)" scripts/k8s-lab/build.sh

# Debian's chromium, driven by Playwright for Python in tests/test_ui.py and
# tests/e2e/test_ui_podman.py (its own browser download cannot reach the internet here)
browser-tools:
	@dpkg -s chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian package) for the page tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# docs/ui.md's screenshots, made by the page tests as they run
screenshots: system venv base-image browser-tools
	BLOCKC_UI_SCREENSHOTS=docs/ui $(BIN)/pytest -q tests/test_ui.py tests/e2e/test_ui_podman.py

demo: system venv base-image
	scripts/demo.sh

test: system venv base-image editor-tools k8s-tools browser-tools
	$(BIN)/pytest -q

test-fast: venv
	$(BIN)/pytest -q -m "not containers and not editor and not kubernetes and not browser"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

golden: venv
	BLOCKC_UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_golden.py
	git diff --stat tests/golden

bench: system venv base-image bench-gateway
	$(BIN)/python benchmarks/compile.py
	$(BIN)/python benchmarks/build_run.py
	$(BIN)/python benchmarks/sync.py

# The front door's gateway against configurable-http-proxy (installed by the benchmark from
# npm): nginx and wrk from Debian, the same backends for both.
GATEWAY_BENCH_PACKAGES := wrk nginx-light nodejs npm
bench-gateway: venv
	@missing=""; for p in $(GATEWAY_BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(BIN)/python benchmarks/gateway.py

# The Kubernetes runtime against kubectl, tar and rsync: on a level-2 test cluster of its own
# (up, measured, always down), then the scale part on a level-1 cluster it brings up itself.
K8S_BENCH_STATE := /var/lib/k8s-lab-bench
bench-kubernetes: system venv base-image k8s-tools
	K8S_LAB_STATE=$(K8S_BENCH_STATE) scripts/k8s-lab/up.sh --real-node >/dev/null
	BLOCKC_TEST_KUBECONFIG=$(K8S_BENCH_STATE)/kubeconfig $(BIN)/python benchmarks/kubernetes.py \
	  --part start,exec,stream,sync; rc=$$?; \
	  K8S_LAB_STATE=$(K8S_BENCH_STATE) scripts/k8s-lab/down.sh --purge >/dev/null; exit $$rc
	$(BIN)/python benchmarks/kubernetes.py --part scale

clean:
	rm -rf $(VENV) build *.egg-info
