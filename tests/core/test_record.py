"""bpfmaps._record.NamedTuple behaves like typing.NamedTuple for the records bpfmaps writes
(MapInfo, ProgInfo, BTFInfo, the bpftool plan's), without importing typing."""

from __future__ import annotations

import copy
import inspect
import pickle
import typing

import pytest

from bpfmaps._record import NamedTuple
from bpfmaps.types import BTFInfo, MapInfo, ProgInfo


class Rec(NamedTuple):
    """A record."""

    a: int
    b: str = "x"
    c: bytes = b""

    @property
    def twice(self) -> int:
        return 2 * self.a

    def describe(self) -> str:
        return f"{self.a}/{self.b}"


class Ref(typing.NamedTuple):
    """A record."""

    a: int
    b: str = "x"
    c: bytes = b""


def test_same_behaviour_as_typing_namedtuple():
    for args, kw in [((1,), {}), ((1, "y"), {}), ((), {"a": 2, "c": b"z"}), ((3, "q", b"r"), {})]:
        r, ref = Rec(*args, **kw), Ref(*args, **kw)
        assert tuple(r) == tuple(ref) and r == ref and hash(r) == hash(ref)
        assert repr(r) == repr(ref).replace("Ref(", "Rec(")
        assert r._asdict() == ref._asdict()
        assert r._replace(b="new") == ref._replace(b="new")
        assert (r.a, r.b, r.c) == (ref.a, ref.b, ref.c)
    assert Rec._fields == Ref._fields and Rec._field_defaults == Ref._field_defaults
    assert Rec.__match_args__ == Ref.__match_args__
    sig, ref_sig = inspect.signature(Rec), inspect.signature(Ref)
    assert [(p.name, p.default) for p in sig.parameters.values()] == [
        (p.name, p.default) for p in ref_sig.parameters.values()
    ]
    # the field types, for the API docs' signatures (strings: postponed annotations)
    assert Rec.__new__.__annotations__ == {"a": "int", "b": "str", "c": "bytes"}
    assert Rec._make([1, "b", b"c"]) == (1, "b", b"c")
    assert Rec.__doc__ == "A record." and Rec.__name__ == "Rec"
    assert issubclass(Rec, tuple) and not hasattr(Rec(1), "__dict__")


def test_methods_properties_and_copies():
    r = Rec(4, "k")
    assert r.twice == 8 and r.describe() == "4/k"
    assert pickle.loads(pickle.dumps(r)) == r and copy.copy(r) == r and copy.deepcopy(r) == r
    with pytest.raises(AttributeError):
        r.a = 5  # type: ignore[misc]


def test_errors():
    with pytest.raises(TypeError):
        Rec()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Rec(1, "b", b"c", 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Rec(1, d=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Expected 3 arguments, got 2"):
        Rec._make([1, 2])
    with pytest.raises(TypeError, match="unexpected field names"):
        Rec(1)._replace(d=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="without a default follows"):
        type(NamedTuple)(
            "Bad", (NamedTuple,), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}
        )
    with pytest.raises(ValueError, match="field names"):
        type(NamedTuple)("Bad", (NamedTuple,), {"__annotations__": {"_a": "int"}})


def test_call_errors_word_for_word():
    """A wrong call raises what the compiled ``__new__`` of typing.NamedTuple raises
    (the records' ``__new__`` binds the arguments itself), and binds like it."""
    pairs = []
    for ours in (True, False):  # the same classes, both named Rec
        base: typing.Any = NamedTuple if ours else typing.NamedTuple

        class Rec3(base):
            a: int
            b: str = "x"
            c: bytes = b""

        class Rec1(base):
            a: int

        for c in (Rec3, Rec1):
            c.__name__ = c.__qualname__ = "Rec"
            c.__new__.__qualname__ = "Rec.__new__"
        pairs.append((Rec3, Rec1))
    calls = [((), {}), ((1,), {}), ((1, 2, 3, 4), {}), ((1,), {"a": 2}), ((1, 2), {"d": 1}),
             ((), {"b": "y"}), ((1,), {"c": b"y"}), ((), {"a": 1, "b": "q", "c": b"r"}),
             ((1, "b"), {"b": "c"})]  # fmt: skip
    for cls, ref in zip(*pairs):
        for args, kw in calls:
            try:
                want = repr(ref(*args, **kw))
            except TypeError as e:
                want = str(e)
            try:
                got = repr(cls(*args, **kw))
            except TypeError as e:
                got = str(e)
            assert got == want, (args, kw)


def test_bpfmaps_records():
    info = MapInfo(id=1, type=2, key_size=4, value_size=8, max_entries=16)
    assert info.max_entries == 16 and info.name == "" and info.btf_vmlinux_id == 0
    assert "btf_vmlinux_id" in MapInfo._fields and len(MapInfo._fields) == 16
    assert ProgInfo(1, 2)._fields == ("id", "type", "name", "tag")
    assert BTFInfo(1, b"d").kernel_btf is False
