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

from ..errors import BlockcError, Diagnostic
from ..value import Value

MAX_BYTES = 1024 * 1024
_PLAIN_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:str",
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


class _Refused(Exception):
    def __init__(self, message, mark):
        super().__init__(message)
        self.message, self.mark = message, mark


def _err(file: str, message: str, mark=None, line=None, col=None) -> BlockcError:
    if mark is not None:
        line, col = mark.line + 1, mark.column + 1
    return BlockcError([Diagnostic(message, file=file, line=line, col=col)])


_MAX_NUMBER = 100  # characters of an int or float: no template needs more
_NOTHING = object()  # no document at all
_SKIP = object()  # the value of a refused key: read, not kept


class _Frame:
    """An open sequence or mapping while events are read: ``into`` is None when its content
    is skipped (under a refused tag or key: read, never kept nor checked)."""

    __slots__ = ("into", "path", "key")

    def __init__(self, into, path):
        self.into, self.path, self.key = into, path, None


def _compose(loader, file: str):
    """One pass over the parser's events: the data, every node's position, every key's
    position, and the problems found (all of them, not the first). Anchors and aliases stop
    it at once: nothing is ever expanded."""
    positions: dict = {}
    key_positions: dict = {}
    errors: list[Diagnostic] = []
    resolve, constructors = loader.resolve, loader.yaml_constructors
    get = loader.get_event
    get()  # StreamStartEvent
    event = get()
    if isinstance(event, yaml.StreamEndEvent):
        return _NOTHING, positions, key_positions, errors
    first = event.start_mark  # DocumentStartEvent
    root = _NOTHING
    stack: list[_Frame] = []
    while True:
        event = get()
        cls = event.__class__
        if cls is yaml.SequenceEndEvent or cls is yaml.MappingEndEvent:
            stack.pop()
        elif cls is yaml.AliasEvent:
            raise _Refused("YAML aliases are not allowed in templates", event.start_mark)
        else:  # a node starts: a scalar, a sequence or a mapping
            if event.anchor is not None:
                raise _Refused("YAML anchors are not allowed in templates", event.start_mark)
            scalar = cls is yaml.ScalarEvent
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolve(
                    ScalarNode
                    if scalar
                    else SequenceNode
                    if cls is yaml.SequenceStartEvent
                    else MappingNode,
                    event.value if scalar else None,
                    event.implicit,
                )
            mark = event.start_mark
            top = stack[-1] if stack else None
            if top is not None and top.into is None:  # inside a skipped node
                if not scalar:
                    stack.append(_Frame(None, None))
                continue
            if top is not None and top.key is None and top.into.__class__ is dict:  # a key
                if not scalar or tag not in _PLAIN_TAGS:
                    errors.append(
                        Diagnostic(
                            "mapping keys must be plain strings",
                            file=file,
                            line=mark.line + 1,
                            col=mark.column + 1,
                        )
                    )
                    top.key = _SKIP
                    if not scalar:
                        stack.append(_Frame(None, None))
                    continue
                key, kpos = event.value, (mark.line + 1, mark.column + 1)
                kpath = top.path + (key,)
                if key in top.into:
                    errors.append(
                        Diagnostic(
                            f"duplicate key '{key}' (first at line {key_positions[kpath][0]})",
                            file=file,
                            line=kpos[0],
                            col=kpos[1],
                            path=kpath,
                        )
                    )
                    top.key = _SKIP
                else:
                    key_positions[kpath] = kpos
                    top.key = key
                continue
            if top is not None and top.key is _SKIP:  # the value of a refused key
                top.key = None
                if not scalar:
                    stack.append(_Frame(None, None))
                continue
            if top is None:
                path = ()
            elif top.into.__class__ is dict:
                path = top.path + (top.key,)
            else:
                path = top.path + (len(top.into),)
            positions[path] = (mark.line + 1, mark.column + 1)
            if tag not in _ALLOWED_TAGS:
                errors.append(
                    Diagnostic(
                        f"unsupported YAML tag {tag!r}",
                        file=file,
                        line=mark.line + 1,
                        col=mark.column + 1,
                    )
                )
                value = None
                if not scalar:
                    stack.append(_Frame(None, None))
            elif scalar:
                value = event.value  # a _STR_TAGS scalar is kept as written
                if tag in _PLAIN_TAGS:
                    kind = tag.rsplit(":", 1)[-1]
                    try:
                        if kind in ("int", "float") and len(value) > _MAX_NUMBER:
                            raise ValueError("too long")  # (a 1 MiB `1:0:0:...` takes seconds)
                        value = constructors[tag](
                            loader, ScalarNode(tag, value, mark, event.end_mark, event.style)
                        )
                    except (ValueError, KeyError, IndexError, TypeError):  # `!!int x`, `!!bool`
                        shown = value if len(value) <= 40 else value[:40] + "..."
                        how = f" (it is tagged !!{kind})" if event.tag not in (None, "!") else ""
                        errors.append(
                            Diagnostic(
                                f"{shown!r} is not a valid {kind}{how}",
                                file=file,
                                line=mark.line + 1,
                                col=mark.column + 1,
                                path=path,
                            )
                        )
                        value = None
            else:
                value = {} if cls is yaml.MappingStartEvent else []
                stack.append(_Frame(value, path))
            if top is None:
                root = value
            elif top.into.__class__ is dict:
                top.into[top.key] = value
                top.key = None
            else:
                top.into.append(value)
        if not stack:
            break
    get()  # DocumentEndEvent
    event = get()
    if not isinstance(event, yaml.StreamEndEvent):
        raise yaml.composer.ComposerError(
            "expected a single document in the stream",
            first,
            "but found another document",
            event.start_mark,
        )
    return root, positions, key_positions, errors


def _where_offset(text: str, offset: int) -> tuple[int, int]:
    """Line and column (1-based) of a reader error's offset: libyaml counts bytes of UTF-8,
    PyYAML's own reader characters."""
    if _CLoader is yaml.SafeLoader:
        prefix = text[:offset]
    else:
        prefix = text.encode("utf-8", "surrogateescape")[:offset].decode("utf-8", "replace")
    return prefix.count("\n") + 1, len(prefix) - (prefix.rfind("\n") + 1) + 1


def load_text(text: str, file: str = "<template>") -> Document:
    if not text.strip():
        raise _err(file, "the template is empty", line=1, col=1)
    if "\x00" in text:
        raise _err(file, "the template is a binary file (it contains NUL bytes)", line=1, col=1)
    loader = None
    try:
        loader = _CLoader(text)
        data, positions, key_positions, errors = _compose(loader, file)
    except _Refused as exc:
        raise _err(file, exc.message, exc.mark) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise _err(file, f"invalid YAML: {msg}", mark) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: locate it
        line, col = _where_offset(text, exc.position)
        raise _err(
            file,
            f"invalid YAML: {exc.reason} (character #x{exc.character:04x})"
            if isinstance(exc.character, int)
            else f"invalid YAML: {exc.reason}",
            line=line,
            col=col,
        ) from None
    except yaml.YAMLError as exc:
        raise _err(file, f"invalid YAML: {exc}") from None
    except UnicodeError:  # a str that is no text (lone surrogates): only via load_text
        raise _err(file, "the template is not valid UTF-8") from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is _NOTHING:
        raise _err(file, "the template is empty", line=1, col=1)
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
        raise _err(
            file,
            f"the template is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            line=line,
            col=col,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return load_text(text, file)
