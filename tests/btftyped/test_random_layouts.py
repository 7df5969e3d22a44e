"""Random C layouts (hypothesis): ctypes lays them out, bpfmaps writes their BTF, parses it
back, compiles a codec, and decodes random bytes exactly as ctypes does."""

from __future__ import annotations

import ctypes
import itertools
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from bpfmaps.btf import parse
from bpfmaps.btf.fromcodec import btf_for_map
from bpfmaps.btf.typed import btf_codecs

SCALARS = [
    ctypes.c_uint8, ctypes.c_int8, ctypes.c_uint16, ctypes.c_int16, ctypes.c_uint32,
    ctypes.c_int32, ctypes.c_uint64, ctypes.c_int64, ctypes.c_bool, ctypes.c_float,
    ctypes.c_double,
]  # fmt: skip
BITFIELD_BASES = [ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_int32, ctypes.c_uint64]
_ids = itertools.count()


def _struct(members, union=False):
    base = ctypes.Union if union else ctypes.Structure
    return type(f"T{next(_ids)}", (base,), {"_fields_": members})


@st.composite
def ctypes_types(draw, depth=0):
    kind = draw(st.sampled_from(["scalar", "array", "bytes", "record", "bits"] if depth < 2
                                else ["scalar", "bytes", "bits"]))  # fmt: skip
    if kind == "scalar":
        return draw(st.sampled_from(SCALARS))
    if kind == "bytes":
        return ctypes.c_uint8 * draw(st.integers(1, 9))
    if kind == "array":
        return draw(ctypes_types(depth=depth + 1)) * draw(st.integers(1, 20))
    n = draw(st.integers(1, 5))
    members = []
    # one bitfield base type per struct: ctypes before 3.13 lays out mixed-type bitfield
    # runs unlike C compilers (it is the model here, so keep to what it gets right)
    b = draw(st.sampled_from(BITFIELD_BASES))
    for i in range(n):
        if kind == "bits" and draw(st.booleans()):
            members.append((f"m{i}", b, draw(st.integers(1, ctypes.sizeof(b) * 8))))
        else:
            members.append((f"m{i}", draw(ctypes_types(depth=depth + 1))))
    return _struct(members, union=kind == "record" and draw(st.booleans()))


def _ct_value(obj, t):
    """ctypes' reading of an instance, in the BTF codec's value shapes."""
    if isinstance(t, type) and issubclass(t, ctypes.Array):
        if t._type_ in (ctypes.c_uint8, ctypes.c_int8):  # 1-byte ints: bytes
            return bytes(obj)
        return [_ct_value(obj[i], t._type_) for i in range(t._length_)]
    if isinstance(t, type) and issubclass(t, (ctypes.Structure, ctypes.Union)):
        return {f[0]: _ct_value(getattr(obj, f[0]), f[1]) for f in t._fields_}
    v = obj.value if hasattr(obj, "value") else obj
    return struct.pack("=d", v) if isinstance(v, float) else v


def _ours(v):
    import dataclasses

    if dataclasses.is_dataclass(v):
        return {f.name: _ours(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, list):
        return [_ours(x) for x in v]
    return struct.pack("=d", v) if isinstance(v, float) else v


@settings(max_examples=120, deadline=None)
@given(ctypes_types(), st.randoms(use_true_random=False))
def test_random_layouts_decode_like_ctypes(t, rnd):
    size = ctypes.sizeof(t)
    blob, _kid, vid = btf_for_map(None, t, 0, size)
    _kc, vc = btf_codecs(parse(blob), 0, vid)
    assert vc.size == size
    data = bytes(rnd.getrandbits(8) for _ in range(size))
    obj = t.from_buffer_copy(data)
    assert _ours(vc.decode(data)) == _ct_value(obj, t)
    # encoding what was decoded, then decoding again, is stable
    once = vc.encode(vc.decode(data))
    assert vc.encode(vc.decode(once)) == once
