"""An editor on `blockc schema`: the YAML language server (what VS Code's YAML extension runs),
driven over LSP (JSON-RPC on its stdin and stdout) by the small client below, completes the
options of a block's `with:` for its `type:`, flags a bad value on its line (the line
`blockc validate` names) and says nothing about a valid template. Once per draft
`blockc schema --draft` prints.

`make editor-tools` installs the server (pinned) into build/editor/, and `make test` does it
first. Without it these tests are skipped, except in CI (env CI set), where they fail. They need
Node.js, so they are marked `editor` and left out of `make test-fast`.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from compiler_support import EXAMPLE_FILES, ROOT, run_cli

from blockc.compiler import try_compile

pytestmark = pytest.mark.editor

SERVER = ROOT / "build" / "editor" / "node_modules" / ".bin" / "yaml-language-server"
TIMEOUT = 30  # seconds for one answer of the server (it takes well under one here)

TEMPLATE = """\
# yaml-language-server: $schema=blockc.schema.json
apiVersion: blockc/v1
kind: StudioTemplate
metadata:
  name: editor-test
spec:
  image:
    base: docker.io/library/python:3.12-slim-bookworm
  blocks:
    - type: app
      with:
        command: [python3, -m, http.server, "8000"]
        port: 8000
    - type: jupyterlab
      id: lab
      with:
{lab}
    - type: file-sync
      with:
        zones: [{{name: work, host: ., container: /home/studio/workspace}}]
"""


class LanguageServer:
    """A language server process and just enough LSP to open documents, ask for completion
    and read the diagnostics it publishes."""

    def __init__(self, argv: list[str], root: Path, settings: dict):
        self.settings = settings
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=root,
        )
        self._messages: queue.Queue = queue.Queue()
        self._diagnostics: dict[str, list] = {}
        self._published = threading.Condition()
        self._next_id = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.info = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": {
                    "workspace": {"configuration": True, "didChangeConfiguration": {}},
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": False}},
                        "publishDiagnostics": {},
                    },
                },
            },
        )
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": settings})

    # -- the protocol ----------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        with self._lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            self.proc.stdin.flush()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = None
            while True:  # headers, up to an empty line
                line = stream.readline()
                if not line:
                    self._messages.put(None)
                    with self._published:
                        self._published.notify_all()
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            message = json.loads(stream.read(length or 0))
            method = message.get("method")
            if method and "id" in message:  # the server asks: answer at once
                self._send({"id": message["id"], "result": self._answer(method, message)})
            elif method == "textDocument/publishDiagnostics":
                with self._published:
                    params = message["params"]
                    self._diagnostics[params["uri"]] = params["diagnostics"]
                    self._published.notify_all()
            elif "id" in message:
                self._messages.put(message)

    def _answer(self, method: str, message: dict):
        if method == "workspace/configuration":
            return [self.settings.get(i.get("section")) for i in message["params"]["items"]]
        return None  # client/registerCapability, window/workDoneProgress/create

    def notify(self, method: str, params) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params):
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        self._send({"id": ident, "method": method, "params": params})
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                message = self._messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no answer to {method} in {TIMEOUT} s") from None
            if message is None:
                raise AssertionError(f"the server exited: {self.stderr()}")
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result")

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    # -- what an editor does -----------------------------------------------------------------

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.as_uri()
        item = {"uri": uri, "languageId": "yaml", "version": 1, "text": text}
        if text is None:
            item["text"] = path.read_text()
        self.notify("textDocument/didOpen", {"textDocument": item})
        return uri

    def diagnostics(self, uri: str) -> list[dict]:
        """The diagnostics the server publishes for ``uri`` after opening it."""
        deadline = time.monotonic() + TIMEOUT
        with self._published:
            while uri not in self._diagnostics:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no diagnostics for {uri}: {self.stderr()}")
                self._published.wait(left)
            return self._diagnostics[uri]

    def completion(self, uri: str, line: int, character: int) -> list[str]:
        result = self.request(
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        items = result["items"] if isinstance(result, dict) else result or []
        return sorted(i["label"] for i in items)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.request("shutdown", None)
                self.notify("exit", None)
                self.proc.wait(timeout=10)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> list[str]:
    """How to start the server; skipped (failed in CI) when it is not installed."""
    node = shutil.which("node")
    missing = None
    if not SERVER.exists():
        missing = f"yaml-language-server is not installed ({SERVER} is missing)"
    elif node is None:
        missing = "Node.js (node) is not on PATH"
    if missing:
        message = f"{missing}: `make editor-tools` installs it (`make test` does)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; in CI the editor tests must run")
        pytest.skip(message)
    return [str(SERVER), "--stdio"]


@pytest.fixture(scope="module", params=["07", "2020-12"], ids=["draft-07", "draft-2020-12"])
def workspace(request, tmp_path_factory) -> Path:
    """A directory with `blockc schema --draft D > blockc.schema.json`."""
    root = tmp_path_factory.mktemp(f"editor-{request.param}")
    proc = run_cli("schema", "--draft", request.param, home=root / "home")
    assert proc.returncode == 0, proc.stderr
    (root / "blockc.schema.json").write_text(proc.stdout)
    return root


@pytest.fixture(scope="module")
def editor(server, workspace):
    settings = {
        "yaml": {
            "validate": True,
            "completion": True,
            "hover": True,
            "format": {"enable": False},
            "schemaStore": {"enable": False},  # no network here; and no other schema wins
            # the examples through the settings (the other templates by their modeline)
            "schemas": {
                "./blockc.schema.json": [
                    str(ROOT / "examples" / "*.yaml"),
                    "by-settings-*.yaml",
                ]
            },
        }
    }
    started = time.monotonic()
    ls = LanguageServer(server, workspace, settings)
    ls.started_in = time.monotonic() - started
    yield ls
    ls.close()


def schema_of(workspace: Path) -> dict:
    return json.loads((workspace / "blockc.schema.json").read_text())


def block_types(schema: dict) -> list[str]:
    items = schema["properties"]["spec"]["properties"]["blocks"]["items"]
    return items["properties"]["type"]["enum"]


def block_keys(schema: dict, block_type: str) -> set[str]:
    defs = schema.get("$defs") or schema["definitions"]
    return set(defs[f"block-{block_type}"]["properties"])


def write(workspace: Path, name: str, lab: str) -> tuple[Path, str]:
    """A template file (a new one each time: the server keeps what it published per file)."""
    text = TEMPLATE.format(lab=lab)
    path = workspace / f"{len(list(workspace.glob('*.yaml')))}-{name}"
    path.write_text(text)
    return path, text


# --- the tests ---------------------------------------------------------------------------------


def test_the_server_is_the_pinned_one(editor):
    makefile = (ROOT / "Makefile").read_text()
    pinned = next(
        line.split(":=")[1].strip()
        for line in makefile.splitlines()
        if line.startswith("YAML_LANGUAGE_SERVER :=")
    )
    assert editor.info["serverInfo"] == {"name": "yaml-language-server", "version": pinned}


def test_completion_in_with_offers_that_block_types_options(editor, workspace):
    path, text = write(workspace, "complete.yaml", "        ")
    uri = editor.open(path, text)
    lines = text.splitlines()
    line = lines.index("    - type: jupyterlab") + 3  # the empty line under its `with:`
    assert lines[line - 1] == "      with:" and lines[line] == "        "
    labels = set(editor.completion(uri, line, 8))

    schema = schema_of(workspace)
    lab = block_keys(schema, "jupyterlab")
    assert {"version", "extensions", "port"} <= lab
    assert lab <= labels, f"missing: {sorted(lab - labels)}"
    others = set()
    for name in block_types(schema):
        if name != "jupyterlab":
            others |= block_keys(schema, name)
    others -= lab  # `label`, `port`... are options of other block types too
    assert {"command", "zones", "apt", "sha256"} <= others
    assert not labels & others, f"options of other block types offered: {labels & others}"


def test_completion_of_type_offers_the_block_types(editor, workspace):
    path, text = write(workspace, "types.yaml", '        version: "4.*"')
    uri = editor.open(path, text)
    line = text.splitlines().index("    - type: jupyterlab")
    labels = set(editor.completion(uri, line, len("    - type: ")))
    assert {"jupyterlab", "vscode", "streamlit", "rstudio", "app", "file-sync"} <= labels


@pytest.mark.parametrize(
    "option,value,says",
    [
        ("port", '"abc"', "integer"),
        ("port", "80", "minimum"),
        ("version", '"latest!"', "PEP 440"),
        ("extensions", '["not a requirement!"]', "PEP 508"),
        ("index_url", "ftp://mirror/simple", "http(s) URL"),
        ("prot", "8888", "not allowed"),
    ],
)
def test_a_wrong_value_is_flagged_on_its_line(
    editor, workspace, installed_registry, option, value, says
):
    path, text = write(workspace, "bad.yaml", f"        {option}: {value}")
    uri = editor.open(path, text)
    line = text.splitlines().index(f"        {option}: {value}")
    diagnostics = editor.diagnostics(uri)
    assert [d["range"]["start"]["line"] for d in diagnostics] == [line], diagnostics
    assert says.lower() in diagnostics[0]["message"].lower(), diagnostics
    # blockc validate refuses it too, on the same line (1-based there)
    artifact, problems = try_compile(path, registry=installed_registry)
    assert artifact is None and [d.line for d in problems] == [line + 1], problems


def test_a_valid_template_has_no_diagnostics(editor, workspace, installed_registry):
    path, text = write(
        workspace,
        "valid.yaml",
        '        version: "4.*"\n        extensions: [jupyterlab-git>=0.50]\n        port: 8890',
    )
    assert try_compile(path, registry=installed_registry)[1] == []
    assert editor.diagnostics(editor.open(path, text)) == []


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_the_examples_have_no_diagnostics(editor, workspace, example):
    """Through `yaml.schemas` (the examples have no modeline)."""
    known = set(block_types(schema_of(workspace)))
    if any(b["type"] not in known for b in yaml.safe_load(example.read_text())["spec"]["blocks"]):
        pytest.skip("needs block types that are not installed")
    assert editor.diagnostics(editor.open(example)) == []


def test_every_pattern_is_an_ecmascript_regex(server, workspace):
    """The server drops a pattern JavaScript cannot compile, without a word: each must compile
    as the server compiles it (with the `u` flag, else without)."""
    patterns: set[str] = set()

    def collect(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    patterns.add(value)
                elif key not in ("enum", "const", "default", "examples"):
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(schema_of(workspace))
    assert len(patterns) > 20
    script = (
        "const compiles = (p, flags) => { try { new RegExp(p, flags); return true } "
        "catch (e) { return false } };"
        "const bad = JSON.parse(require('fs').readFileSync(0, 'utf8'))"
        ".filter(p => !compiles(p, 'u') && !compiles(p, ''));"
        "process.stdout.write(JSON.stringify(bad))"
    )
    proc = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(sorted(patterns)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_settings_associate_the_schema(editor, workspace):
    """`yaml.schemas` in the editor's settings (what the examples rely on) applies the schema."""
    text = TEMPLATE.format(lab="        port: 80").replace("# yaml-language-server: ", "# ")
    path = workspace / "by-settings-bad.yaml"
    path.write_text(text)
    diagnostics = editor.diagnostics(editor.open(path, text))
    line = text.splitlines().index("        port: 80")
    assert [d["range"]["start"]["line"] for d in diagnostics] == [line], diagnostics


def test_what_a_block_needs_is_flagged(editor, workspace, installed_registry):
    """rstudio needs R: without a block or a base image that provides it, the editor says so,
    as blockc validate does."""
    if "rstudio" not in installed_registry.types:
        pytest.skip("rstudio is not installed")
    rstudio = (
        "    - type: rstudio\n      with: {version: 2024.12.0+467, sha256: " + "a" * 64 + "}\n"
    )
    text = TEMPLATE.split("    - type: app")[0] + rstudio
    path = workspace / "0-rstudio.yaml"
    path.write_text(text)
    diagnostics = editor.diagnostics(editor.open(path, text))
    assert len(diagnostics) == 1, diagnostics
    assert diagnostics[0]["message"].startswith(
        "a block of type rstudio needs r, which nothing in this template provides"
    )
    assert "spec.image.provides" in diagnostics[0]["message"]
    assert "needs r" in try_compile(path, registry=installed_registry)[1][0].message
    r_base = "    - type: system-packages\n      with: {apt: [r-base]}\n"
    fixed = text.replace("  blocks:\n", "  blocks:\n" + r_base)
    path = workspace / "1-rstudio.yaml"
    path.write_text(fixed)
    assert editor.diagnostics(editor.open(path, fixed)) == []
