"""Load: template YAML into plain data, with the position of every node kept.

Refused with a located error (never a crash): files over 1 MiB, non-UTF-8 or binary
content, empty documents, duplicate keys, anchors and aliases (no expansion bombs),
several documents, tags other than the plain JSON-like ones.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .errors import BlockcError, Diagnostic
from .value import Value

MAX_BYTES = 1024 * 1024
_PLAIN_TAGS = {
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float", "tag:yaml.org,2002:str",
}
_STR_TAGS = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}  # kept as written
_ALLOWED_TAGS = _PLAIN_TAGS | _STR_TAGS | {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class Document(Value):
    """A loaded template: its data, and ``positions[path] = (line, col)`` (1-based).

    ``path`` is a tuple of keys/indices. ``key_positions[path]`` is where the key itself stands.
    """

    file: str
    data: Any
    positions: dict
    key_positions: dict

    def where(self, path: tuple, *, key: bool = False) -> tuple[int | None, int | None]:
        path = tuple(path)
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (None, None))

    @cached_property
    def dir(self) -> str:
        return str(Path(self.file).resolve().parent)


# libyaml (C) when available: loading is the hot path of validating many templates
_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _refuse_anchors(text: str) -> None:
    """Anchors and aliases are refused before anything is composed (no expansion bombs)."""
    for event in yaml.parse(text, Loader=_CLoader):
        if isinstance(event, yaml.AliasEvent):
            raise _Refused("YAML aliases are not allowed in templates", event.start_mark)
        if getattr(event, "anchor", None):
            raise _Refused("YAML anchors are not allowed in templates", event.start_mark)


class _Refused(Exception):
    def __init__(self, message, mark):
        super().__init__(message)
        self.message, self.mark = message, mark


def _err(file: str, message: str, mark=None, line=None, col=None) -> BlockcError:
    if mark is not None:
        line, col = mark.line + 1, mark.column + 1
    return BlockcError([Diagnostic(message, file=file, line=line, col=col)])


def load_text(text: str, file: str = "<template>") -> Document:
    if not text.strip():
        raise _err(file, "the template is empty", line=1, col=1)
    if "\x00" in text:
        raise _err(file, "the template is a binary file (it contains NUL bytes)", line=1, col=1)
    loader = None
    try:
        _refuse_anchors(text)
        loader = _CLoader(text)
        root = loader.get_single_node()
    except _Refused as exc:
        raise _err(file, exc.message, exc.mark) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise _err(file, f"invalid YAML: {msg}", mark) from None
    except yaml.YAMLError as exc:
        raise _err(file, f"invalid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise _err(file, "the template is empty", line=1, col=1)
    positions: dict = {}
    key_positions: dict = {}
    errors: list[Diagnostic] = []
    constructor = yaml.SafeLoader("")

    def walk(node, path):
        positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if node.tag not in _ALLOWED_TAGS:
            errors.append(Diagnostic(f"unsupported YAML tag {node.tag!r}", file=file,
                                     line=positions[path][0], col=positions[path][1]))
            return None
        if isinstance(node, MappingNode):
            out = {}
            for knode, vnode in node.value:
                if not isinstance(knode, ScalarNode) or knode.tag not in _PLAIN_TAGS:
                    errors.append(Diagnostic("mapping keys must be plain strings", file=file,
                                             line=knode.start_mark.line + 1,
                                             col=knode.start_mark.column + 1))
                    continue
                key = knode.value
                kpos = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                if key in out:
                    first = key_positions[path + (key,)]
                    errors.append(Diagnostic(
                        f"duplicate key '{key}' (first at line {first[0]})", file=file,
                        line=kpos[0], col=kpos[1], path=path + (key,)))
                    continue
                key_positions[path + (key,)] = kpos
                out[key] = walk(vnode, path + (key,))
            return out
        if isinstance(node, SequenceNode):
            return [walk(child, path + (i,)) for i, child in enumerate(node.value)]
        if node.tag in _PLAIN_TAGS:
            return constructor.construct_object(node)
        return node.value  # a _STR_TAGS scalar, kept as written

    data = walk(root, ())
    if errors:
        raise BlockcError(errors)
    return Document(file, data, positions, key_positions)


def load_file(path: str | Path) -> Document:
    path = Path(path)
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _err(file, f"the template is {size} bytes; templates are limited to 1 MiB")
        raw = path.read_bytes()
    except IsADirectoryError:
        raise _err(file, "is a directory, not a template file") from None
    except FileNotFoundError:
        raise _err(file, "no such file") from None
    except OSError as exc:
        raise _err(file, f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise _err(file, "the template is larger than 1 MiB")
    if b"\x00" in raw:
        raise _err(file, "the template is a binary file (it contains NUL bytes)", line=1, col=1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _err(file, f"the template is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                   line=line, col=col) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return load_text(text, file)
