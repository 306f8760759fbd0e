"""Immutable value classes, declared like frozen dataclasses but created at no cost.

``@dataclass(frozen=True)`` generates and ``exec``s the source of ``__init__``, ``__eq__``,
``__hash__``, ``__repr__``, ``__setattr__`` and ``__delattr__`` for every class when its module
is imported: ~0.7 ms per class here, ~17 ms for blockc's two dozen value classes, paid by
every ``blockc`` command. :class:`Value` gives the same behaviour with generic methods:

    class Zone(Value):
        name: str
        direction: str = "both"

        def __post_init__(self):  # optional: check or normalise (use _set to normalise)
            ...

Fields are the class annotations in definition order (base classes first); a class attribute
of the same name is the default. Defaults are shared between instances, so they must be
immutable (``()``, ``None``, a ``MappingProxyType``). Construction takes positional or
keyword arguments; instances compare and hash by their fields, and print them.
``class Record(Value, frozen=False)`` declares a mutable record instead (fields may be
assigned; it compares by its fields and, like a non-frozen dataclass, is not hashable).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # type checkers read a Value subclass as a (frozen) dataclass
    from collections.abc import Callable
    from typing import Any, Self, dataclass_transform
else:

    def dataclass_transform(**kwargs):
        return lambda cls: cls


class FrozenError(AttributeError):
    """Raised on an attempt to change a field of a :class:`Value`."""


@dataclass_transform(frozen_default=True)
class Value:
    _fields: tuple[str, ...] = ()
    _field_set: frozenset[str] = frozenset()
    _post_init: Callable[[Any], None] | None = None
    _defaults: dict[str, object] = {}

    def __init_subclass__(cls, frozen: bool = True, **kwargs):
        super().__init_subclass__(**kwargs)
        if not frozen:
            setattr(cls, "__setattr__", object.__setattr__)  # noqa: B010 (methods of the class)
            setattr(cls, "__delattr__", object.__delattr__)  # noqa: B010
            setattr(cls, "__hash__", None)  # noqa: B010
        names = list(cls._fields)
        own = [
            n
            for n in cls.__dict__.get("__annotations__", {})
            if n not in names and not n.startswith("_")
        ]
        cls._fields = tuple(names + own)
        cls._field_set = frozenset(cls._fields)
        cls._post_init = getattr(cls, "__post_init__", None)
        defaults = dict(cls._defaults)
        for n in own:
            if n in cls.__dict__:
                defaults[n] = cls.__dict__[n]
        cls._defaults = defaults
        seen_default = False
        for n in cls._fields:
            if n in defaults:
                seen_default = True
            elif seen_default:
                raise TypeError(f"{cls.__name__}: field {n!r} without a default follows one with")

    def __init__(self, *args, **kwargs):
        cls = self.__class__
        fields = cls._fields
        d = self.__dict__
        if args:
            if len(args) > len(fields):
                raise TypeError(
                    f"{cls.__name__}() takes {len(fields)} arguments, {len(args)} given"
                )
            d.update(zip(fields, args, strict=False))  # the first len(args) fields
        if kwargs:
            for k in kwargs:
                if k in d:
                    raise TypeError(f"{cls.__name__}() got multiple values for {k!r}")
                if k not in cls._field_set:
                    raise TypeError(f"{cls.__name__}() got an unexpected argument {k!r}")
            d.update(kwargs)
        if len(d) < len(fields):
            for n in fields:
                if n not in d:
                    try:
                        d[n] = cls._defaults[n]
                    except KeyError:
                        raise TypeError(f"{cls.__name__}() missing argument {n!r}") from None
        if cls._post_init is not None:
            cls._post_init(self)

    def _set(self, name: str, value) -> None:
        """Normalise a field while constructing (from ``__post_init__`` only)."""
        self.__dict__[name] = value

    def __setattr__(self, name, value):
        raise FrozenError(f"cannot assign to field {name!r} of {type(self).__name__}")

    def __delattr__(self, name):
        raise FrozenError(f"cannot delete field {name!r} of {type(self).__name__}")

    def _values(self) -> tuple:
        d = self.__dict__
        return tuple(d[n] for n in self._fields)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        d = self.__dict__
        return f"{type(self).__name__}({', '.join(f'{n}={d[n]!r}' for n in self._fields)})"

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (checked again by ``__post_init__``)."""
        return type(self)(**{**{n: self.__dict__[n] for n in self._fields}, **changes})

    def as_dict(self) -> dict[str, object]:
        """The fields as a dict (values not copied)."""
        return {n: self.__dict__[n] for n in self._fields}
