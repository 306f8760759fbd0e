"""blockc.value.Value: frozen value classes without generated code."""

from __future__ import annotations

from functools import cached_property

import pytest

from blockc.value import FrozenError, Value


class Point(Value):
    x: int
    y: int = 0
    tags: tuple = ()

    def __post_init__(self):
        if self.x < 0:
            raise ValueError("x must be >= 0")
        self._set("tags", tuple(self.tags))


class Point3(Point):
    z: int = 0


def test_positional_keyword_and_defaults():
    assert Point(1).as_dict() == {"x": 1, "y": 0, "tags": ()}
    assert Point(1, 2, ["a"]).tags == ("a",)  # normalised by __post_init__
    assert Point(y=3, x=1) == Point(1, 3)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((), {}, "missing argument 'x'"),
        ((1, 2, 3, 4), {}, "takes 3 arguments"),
        ((1,), {"w": 2}, "unexpected argument 'w'"),
        ((1,), {"x": 2}, "multiple values for 'x'"),
    ],
)
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)


def test_post_init_checks_and_replace_checks_again():
    with pytest.raises(ValueError):
        Point(-1)
    p = Point(1, 2)
    assert p.replace(y=5) == Point(1, 5) and p == Point(1, 2)
    with pytest.raises(ValueError):
        p.replace(x=-2)


def test_frozen():
    p = Point(1)
    with pytest.raises(FrozenError):
        p.x = 2
    with pytest.raises(FrozenError):
        del p.y
    with pytest.raises(AttributeError):  # FrozenError is an AttributeError, as with dataclasses
        p.new = 1


def test_equality_hash_repr_and_inheritance():
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(1, 3)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert Point(1) != Point3(1)  # another class is never equal
    assert Point3(1, 2, (), 3).as_dict() == {"x": 1, "y": 2, "tags": (), "z": 3}
    assert repr(Point3(1)) == "Point3(x=1, y=0, tags=(), z=0)"
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_field_without_default_after_default_is_refused():
    with pytest.raises(TypeError, match="'b' without a default"):

        class Bad(Value):
            a: int = 0
            b: int


def test_cached_property_works():
    class Lazy(Value):
        n: int

        @cached_property
        def square(self):
            return self.n * self.n

    lazy = Lazy(4)
    assert lazy.square == 16 and lazy.square == 16
    assert lazy == Lazy(4)  # the cache is not a field


def test_mutable_record():
    class Record(Value, frozen=False):
        name: str
        tags: tuple = ()

    r = Record("a")
    r.name = "b"
    assert r == Record("b") and r != Record("b", ("x",))
    assert "name='b'" in repr(r)
    with pytest.raises(TypeError):
        hash(r)  # mutable: not hashable, like a non-frozen dataclass
    assert Record("c").replace(tags=("t",)).tags == ("t",)
