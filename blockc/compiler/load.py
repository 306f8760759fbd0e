"""Load: a template file into plain data, with the position of every node kept.

Refused with a located error, never a crash: files over 1 MiB, text that is not UTF-8 (or is
binary), empty documents, several documents, duplicate keys, anchors and aliases (nothing is
ever expanded), tags other than the plain JSON-like ones, numbers of over 100 characters and
nesting deeper than 64 levels.

The file is parsed and composed by libyaml (PyYAML's C binding, where installed); the node tree
is then walked once to build the data, the positions and every problem found.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Diagnostic
from ..readfile import NotRegular, read_regular
from ..value import Value

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64  # no template nests this deep; a bound keeps the walk's recursion small
MAX_NUMBER = 100  # characters of an int or float (a 1 MiB `1:0:0:...` takes seconds to read)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "str")}
_AS_WRITTEN = {_TAG + "timestamp", _TAG + "binary"}  # scalars kept as the text written


class Document(Value):
    """A loaded template: its data, and ``positions[path] = (line, col)`` (1-based).

    ``path`` is a tuple of keys and indices; ``key_positions[path]`` is where the key itself
    stands; ``written[path]`` is the text of a scalar that YAML read as no string (``4.10``,
    ``yes``, ``null``), for hints to quote it.
    """

    file: str
    data: Any
    positions: dict
    key_positions: dict
    written: dict

    def where(self, path: tuple, *, key: bool = False) -> tuple[int | None, int | None]:
        """The position of ``path``, or of the nearest enclosing node that has one."""
        path = tuple(path)
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (None, None))

    @cached_property
    def dir(self) -> str:
        return str(Path(self.file).resolve().parent)


def load_file(path: str | Path) -> tuple[Document | None, list[Diagnostic]]:
    """The template at ``path``, or None and why not."""
    file = str(path)
    try:
        raw = read_regular(path, MAX_BYTES)
    except IsADirectoryError:
        return None, [Diagnostic("is a directory, not a template file", file=file)]
    except NotRegular as exc:
        what = "a directory" if exc.errno == 21 else "not a regular file (a FIFO, a device...)"
        return None, [Diagnostic(f"is {what}, not a template file", file=file)]
    except FileNotFoundError:
        return None, [Diagnostic("no such file", file=file)]
    except OSError as exc:
        return None, [Diagnostic(f"cannot read: {exc.strerror}", file=file)]
    if len(raw) > MAX_BYTES:
        return None, [
            Diagnostic(
                "the template is larger than 1 MiB; templates are limited to 1 MiB", file=file
            )
        ]
    if b"\x00" in raw:
        return None, [_at(file, 1, 1, "the template is a binary file (it contains NUL bytes)")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            _at(file, line, col, f"the template is not valid UTF-8 (byte 0x{raw[exc.start]:02x})")
        ]
    return load_text(text.removeprefix("\ufeff"), file)


def load_text(text: str, file: str = "<template>") -> tuple[Document | None, list[Diagnostic]]:
    """The template in ``text``, or None and why not."""
    if "\x00" in text:
        return None, [_at(file, 1, 1, "the template is a binary file (it contains NUL bytes)")]
    try:
        refused = _anchor_or_alias(text)
        if refused is not None:
            return None, [_located(file, *refused)]
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if (exc.problem or "").startswith("found undefined alias"):
            return None, [_located(file, "YAML aliases are not allowed in templates", mark)]
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        return None, [_located(file, f"invalid YAML: {message}", mark)]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line, col = _where_offset(text, exc.position)
        reason = exc.reason
        if isinstance(exc.character, int):
            reason += f" (character #x{exc.character:04x})"
        return None, [_at(file, line, col, f"invalid YAML: {reason}")]
    except UnicodeError:  # a str that is no text (lone surrogates)
        return None, [Diagnostic("the template is not valid UTF-8", file=file)]
    except RecursionError:  # PyYAML's own composer (without libyaml) recurses per level
        return None, [_at(file, 1, 1, f"the template is nested more than {MAX_DEPTH} levels deep")]
    if root is None:
        return None, [_at(file, 1, 1, "the template is empty")]
    walk = _Walk(file)
    data = walk.node(root, (), 0)
    if walk.problems:
        return None, walk.problems
    return Document(file, data, walk.positions, walk.key_positions, walk.written), []


def _anchor_or_alias(text: str) -> tuple[str, Any] | None:
    """The first anchor or alias in ``text`` (message, mark), if any: composing keeps an alias
    as a second reference to its node, which is no expansion bomb, but templates have no use
    for either. Without a '&' there is no anchor (an alias without one fails to compose), and
    nothing to parse twice."""
    if "&" not in text:
        return None
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            return "YAML aliases are not allowed in templates", event.start_mark
        if getattr(event, "anchor", None) is not None:
            return "YAML anchors are not allowed in templates", event.start_mark
    return None


class _Walk:
    """One walk of the composed node tree: the data, every node's and key's position, and
    every problem found (all of them, not the first)."""

    def __init__(self, file: str):
        self.file = file
        self.positions: dict[tuple, tuple[int, int]] = {}
        self.key_positions: dict[tuple, tuple[int, int]] = {}
        self.written: dict[tuple, str] = {}
        self.problems: list[Diagnostic] = []
        self.constructor = _Loader("")  # for the plain scalars' constructors

    def problem(self, message: str, node: Node, path: tuple | None = None) -> None:
        mark = node.start_mark
        self.problems.append(
            Diagnostic(
                message, file=self.file, line=mark.line + 1, col=mark.column + 1, path=path or ()
            )
        )

    def node(self, node: Node, path: tuple, depth: int) -> Any:
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if depth > MAX_DEPTH:
            self.problem(f"nested more than {MAX_DEPTH} levels deep", node, path)
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, SequenceNode) and node.tag == _TAG + "seq":
            return [self.node(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode) and node.tag == _TAG + "map":
            return self.mapping(node, path, depth)
        self.problem(f"unsupported YAML tag {node.tag!r}", node, path)
        return None

    def mapping(self, node: MappingNode, path: tuple, depth: int) -> dict:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                self.problem("mapping keys must be plain strings", key_node)
                continue
            key = key_node.value
            key_path = path + (key,)
            if key in out:
                first = self.key_positions[key_path][0]
                self.problem(f"duplicate key '{key}' (first at line {first})", key_node, key_path)
                continue
            self.key_positions[key_path] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[key] = self.node(value_node, key_path, depth + 1)
        return out

    def scalar(self, node: ScalarNode, path: tuple) -> Any:
        tag = node.tag
        if tag in _AS_WRITTEN:
            return node.value
        if tag not in _PLAIN_TAGS:
            self.problem(f"unsupported YAML tag {tag!r}", node, path)
            return None
        kind = tag.removeprefix(_TAG)
        if kind != "str":
            self.written[path] = node.value
        try:
            if kind in ("int", "float") and len(node.value) > MAX_NUMBER:
                raise ValueError("too long")
            return self.constructor.yaml_constructors[tag](self.constructor, node)
        except (ValueError, KeyError, IndexError, TypeError):  # `!!int x`, `!!bool maybe`
            shown = node.value if len(node.value) <= 40 else node.value[:40] + "..."
            implicit = self.constructor.resolve(ScalarNode, node.value, (True, False))
            how = f" (it is tagged !!{kind})" if implicit != tag else ""
            self.problem(f"{shown!r} is not a valid {kind}{how}", node, path)
            return None


def _at(file: str, line: int, col: int, message: str) -> Diagnostic:
    return Diagnostic(message, file=file, line=line, col=col)


def _located(file: str, message: str, mark) -> Diagnostic:
    if mark is None:
        return Diagnostic(message, file=file)
    return _at(file, mark.line + 1, mark.column + 1, message)


def _where_offset(text: str, offset: int) -> tuple[int, int]:
    """Line and column (1-based) of a reader error's offset: libyaml counts bytes of UTF-8,
    PyYAML's own reader characters."""
    if _Loader is yaml.SafeLoader:
        prefix = text[:offset]
    else:
        prefix = text.encode("utf-8", "surrogateescape")[:offset].decode("utf-8", "replace")
    return prefix.count("\n") + 1, len(prefix) - (prefix.rfind("\n") + 1) + 1
