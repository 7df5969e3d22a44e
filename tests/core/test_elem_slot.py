"""``m[k] = v`` and ``del m[k]`` through MapCore's C base (``bpfmaps._pack.ElemBase``):
exact raw bytes go to the backend's update command without a Python frame, everything
else to the Python path (``MapCore._set_slow`` / ``_del``), and the outcome (contents,
exception type and message) is the Python path's on the kernel and the fake."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import Map, codecs
from bpfmaps.codecs import ElemBase


def _obj(kind: str, b: bytes):
    return {
        "bytes": b,
        "bytearray": bytearray(b),
        "memoryview": memoryview(b),
        "short": b[:-1],
        "long": b + b"\0",
        "str": b.hex(),
        "int": 7,
    }[kind]


_kinds = st.sampled_from(["bytes"] * 6 + ["bytearray", "memoryview", "short", "long", "str", "int"])
_op = st.tuples(
    st.sampled_from(["set", "set", "set", "del"]),
    st.integers(0, 9),  # max_entries 6: full maps happen
    st.integers(0, 255),
    _kinds,
    _kinds,
)


def _outcome(m: Map, ops: list, slow: bool) -> tuple:
    out = []
    for op, k, v, kk, vk in ops:
        key = _obj(kk, k.to_bytes(4, "little"))
        val = _obj(vk, bytes([v]) * 8)
        try:
            if op == "del":
                m._del(key) if slow else m.__delitem__(key)
            elif slow:
                m._set_slow(key, val)
            else:
                m[key] = val
            out.append("ok")
        except Exception as e:  # noqa: BLE001 - the outcome compared is the exception
            out.append((type(e).__name__, re.sub(r"map id \d+", "map id N", str(e))))
    return tuple(out), sorted((bytes(a), bytes(b)) for a, b in m.raw.items())


@pytest.mark.parametrize("mtype", ["hash", "array"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(_op, max_size=20))
def test_c_slot_matches_the_python_path(backend, mtype, ops):
    got = []
    for slow in (False, True):
        with Map.create(mtype, 4, 8, 6, backend=backend) as m:
            got.append(_outcome(m, ops, slow))
    assert got[0] == got[1]


def _python_calls(fn) -> list[str]:
    names: list[str] = []

    def prof(frame, event, arg):
        if event == "call":
            names.append(frame.f_code.co_name)

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return names


def test_raw_bytes_take_the_c_slot_and_the_rest_the_python_path(backend):
    with Map.create("hash", 4, 8, 4, backend=backend) as m:
        assert type(m).__setitem__ is ElemBase.__setitem__  # no Python override in the MRO
        k, v = b"\1\0\0\0", b"\2" * 8
        calls = _python_calls(lambda: m.__setitem__(k, v))
        assert "_set_slow" not in calls and m[k] == v
        assert "_set_slow" in _python_calls(lambda: m.__setitem__(bytearray(k), v))
        assert "_del" in _python_calls(lambda: m.__delitem__(k))
        assert k not in m
    with Map.create("hash", 4, 8, 4, key=codecs.U32, value=codecs.U64, backend=backend) as m:
        # a codec map never takes the raw path, even for bytes of the right size
        assert "_set_slow" in _python_calls(lambda: m.__setitem__(1, 2))
        assert m[1] == 2


def test_errors_of_the_c_slot(backend):
    with Map.create("hash", 4, 8, 1, backend=backend) as m:
        m[b"\0\0\0\0"] = b"\0" * 8
        with pytest.raises(Exception) as full:
            m[b"\1\0\0\0"] = b"\0" * 8
        assert type(full.value).__name__ == "MapFullError" and "map full" in str(full.value)
        assert "_set_failed" in _python_calls(lambda: _swallow(m, b"\1\0\0\0"))
        m.close()
        with pytest.raises(Exception) as closed:
            m[b"\0\0\0\0"] = b"\0" * 8
        assert type(closed.value).__name__ == "MapClosedError"


def _swallow(m: Map, key: bytes) -> None:
    try:
        m[key] = b"\0" * 8
    except Exception:  # noqa: BLE001 - only the calls made are looked at
        pass
