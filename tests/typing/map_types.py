"""Static typing of the Map API, checked by mypy (tests/test_typing.py), never run.

A trailing comment "R" then the type is what mypy must reveal on that line; "E" then an
error code is an error mypy must report there (and no other line may have one).
"""

from __future__ import annotations

import ctypes
from typing import Any

from typing_extensions import reveal_type

from bpfmaps import Map, codecs


class Backend(ctypes.Structure):
    _fields_ = [("ip", ctypes.c_uint32), ("port", ctypes.c_uint16)]


def check() -> None:
    m = Map.create("hash", 4, 8, 16, key=codecs.U32, value=codecs.U64)
    reveal_type(m)  # R: bpfmaps.maps.Map[int, int]
    reveal_type(m[1])  # R: int
    m["str"] = 3.5  # E: index  # E: assignment
    m[1] = "x"  # E: assignment
    m.update(1, 2)
    m.update("k", 2)  # E: call-overload
    reveal_type(m.get(1))  # R: int | None
    reveal_type(m.get(1, "d"))  # R: int | str
    reveal_type(m.items())  # R: typing.Iterator[tuple[int, int]]
    reveal_type(list(m.keys()))  # R: list[int]
    reveal_type(m.values())  # R: typing.Iterator[int]
    reveal_type(m.pop(1))  # R: int
    reveal_type(m.popitem())  # R: tuple[int, int]
    reveal_type(m.update_many({1: 2}))  # R: bpfmaps.engine.BatchResult
    m.update_many({"a": 2})  # E: arg-type
    reveal_type(m.lookup_many([1, 2]))  # R: list[int]
    reveal_type(m.lookup_many([1, 2], default=None))  # R: list[int | None]
    reveal_type(m.delete_many([1]))  # R: bpfmaps.engine.BatchResult
    reveal_type(m.pop_all())  # R: list[tuple[int, int]]
    m.update_many([1], [2], chunk_sizes=3)  # E: call-arg
    with m.batch() as b:
        reveal_type(b)  # R: bpfmaps.batching.MapBatch[int, int]
        b[1] = 2
        b["x"] = 2  # E: index
    with m:
        reveal_type(m)  # R: bpfmaps.maps.Map[int, int]

    s = Map.from_id(1, key=codecs.U32BE, value=codecs.Struct("<4sHH"))
    reveal_type(s[1])  # R: tuple[Any, ...]
    s[1] = (b"\0\0\0\1", 80, 1)
    s[1] = 5  # E: assignment

    c = Map.from_pin("/sys/fs/bpf/x", key=codecs.U32, value=Backend)
    reveal_type(c[0])  # R: map_types.Backend
    c[0] = Backend(1, 2)
    c[0] = 7  # E: assignment
    n = Map.from_name("n", value=codecs.CType(Backend))
    reveal_type(n)  # R: bpfmaps.maps.Map[Any, map_types.Backend]

    r = Map.from_fd(3)
    reveal_type(r)  # R: bpfmaps.maps.Map[Any, Any]
    reveal_type(r.raw)  # R: bpfmaps.maps.Map[bytes, bytes]
    reveal_type(m.typed(value=codecs.I32))  # R: bpfmaps.maps.Map[int, int]
    reveal_type(m.typed(key=codecs.Struct("<I")))  # R: bpfmaps.maps.Map[tuple[Any, ...], int]
    pc = Map.create("percpu_array", 4, 8, 4, key=codecs.U32, value=codecs.PerCPU(codecs.U64, 2))
    reveal_type(pc[0])  # R: list[int]
    pc[0] = codecs.AllCPUs(0)
    f = codecs.FuncCodec(4, encode=lambda s: s.encode(), decode=lambda b: b.decode())
    reveal_type(f)  # R: bpfmaps.codecs.FuncCodec[str]
    x: Any = m
    del x
