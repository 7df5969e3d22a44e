"""Codecs: property tests (no kernel needed) and size checks against real maps."""

from __future__ import annotations

import ctypes
import struct
import sys

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bpfmaps import AllCPUs, CodecError, Map
from bpfmaps import codecs as C

INT_CODECS = [
    C.U8,
    C.U16,
    C.U32,
    C.U64,
    C.I8,
    C.I16,
    C.I32,
    C.I64,
    C.U16BE,
    C.U32BE,
    C.U64BE,
    C.I16BE,
    C.I32BE,
    C.I64BE,
]
# the generic Int, including odd widths and explicit little-endian
EXTRA_INTS = [
    C.Int(3),
    C.Int(3, signed=True, byteorder="big"),
    C.Int(16, byteorder="little"),
    C.Int(5, signed=True),
    C.Int(2, byteorder="little"),
]
ALL_INTS = INT_CODECS + EXTRA_INTS


def _bounds(c):
    bits = c.size * 8
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if c.signed else (0, (1 << bits) - 1)


# ---------------------------------------------------------------- Int
@pytest.mark.parametrize("codec", ALL_INTS, ids=repr)
def test_int_bounds_round_trip(codec):
    lo, hi = _bounds(codec)
    assert (codec.min, codec.max) == (lo, hi)
    for v in (lo, hi, 0 if lo <= 0 else lo):
        b = codec.encode(v)
        assert len(b) == codec.size
        assert codec.decode(b) == v
    for bad in (lo - 1, hi + 1):
        with pytest.raises(CodecError, match="out of range"):
            codec.encode(bad)


@pytest.mark.parametrize("codec", ALL_INTS, ids=repr)
@given(data=st.data())
def test_int_round_trip_and_byte_order(codec, data):
    lo, hi = _bounds(codec)
    v = data.draw(st.integers(lo, hi))
    b = codec.encode(v)
    assert len(b) == codec.size
    assert codec.decode(b) == v
    # the bytes are exactly int.to_bytes in the codec's byte order
    order = codec.byteorder
    assert order in ("little", "big")
    assert b == v.to_bytes(codec.size, order, signed=codec.signed)


@pytest.mark.parametrize("codec", ALL_INTS, ids=repr)
@given(data=st.data())
def test_int_out_of_range(codec, data):
    lo, hi = _bounds(codec)
    v = data.draw(st.one_of(st.integers(min_value=hi + 1), st.integers(max_value=lo - 1)))
    with pytest.raises(CodecError, match="out of range"):
        codec.encode(v)


@pytest.mark.parametrize("codec", ALL_INTS, ids=repr)
@pytest.mark.parametrize("bad", ["5", 1.5, 2.0, None, b"\x01", [1]])
def test_int_rejects_non_integers(codec, bad):
    with pytest.raises(CodecError):
        codec.encode(bad)


def test_native_order_is_host_order():
    assert C.U32.byteorder == sys.byteorder
    assert C.U32.encode(1) == struct.pack("=I", 1)
    assert C.U32BE.encode(1) == b"\0\0\0\1"


def test_int_accepts_index_types():
    class Idx:
        def __index__(self):
            return 7

    assert C.U16.encode(Idx()) == C.U16.encode(7)
    assert C.Int(3).encode(Idx()) == C.Int(3).encode(7)


# ---------------------------------------------------------------- Raw
@given(n=st.integers(0, 64), data=st.data())
def test_raw_round_trip_and_size(n, data):
    c = C.Raw(n)
    b = data.draw(st.binary(min_size=n, max_size=n))
    assert c.decode(c.encode(b)) == b
    assert c.encode(bytearray(b)) == b
    assert c.encode(memoryview(b)) == b
    wrong = data.draw(st.binary(max_size=80).filter(lambda x: len(x) != n))
    with pytest.raises(CodecError, match=f"exactly {n} bytes"):
        c.encode(wrong)


def test_raw_rejects_non_bytes():
    with pytest.raises(CodecError):
        C.Raw(4).encode(1234)
    with pytest.raises(CodecError):
        C.Raw(4).encode("abcd")


# ---------------------------------------------------------------- Struct
@given(
    a=st.integers(0, 2**32 - 1),
    b=st.integers(-(2**15), 2**15 - 1),
    c=st.binary(min_size=2, max_size=2),
)
def test_struct_round_trip(a, b, c):
    s = C.Struct("<Ih2s")
    assert s.size == 8
    enc = s.encode((a, b, c))
    assert enc == struct.pack("<Ih2s", a, b, c)
    assert s.decode(enc) == (a, b, c)
    named = C.Struct("<Ih2s", names=("a", "b", "c"))
    rec = named.decode(enc)
    assert (rec.a, rec.b, rec.c) == (a, b, c)
    assert named.encode({"a": a, "b": b, "c": c}) == enc
    assert named.encode(rec) == enc


def test_struct_errors():
    s = C.Struct("<IH")
    with pytest.raises(CodecError):
        s.encode((1,))
    with pytest.raises(CodecError):
        s.encode((1, 2**16))
    with pytest.raises(CodecError):
        s.encode(5)
    with pytest.raises(CodecError):
        C.Struct("<IH", names=("x", "y")).encode({"x": 1})


def test_struct_scalar_from_format_string():
    c = C.as_codec("<Q", 8, "value")
    assert c.encode(5) == struct.pack("<Q", 5)
    assert c.decode(c.encode(2**64 - 1)) == 2**64 - 1
    multi = C.as_codec("<II", 8, "value")
    assert multi.decode(multi.encode((1, 2))) == (1, 2)


# ---------------------------------------------------------------- CType
class Pair(ctypes.Structure):
    _fields_ = [("ip", ctypes.c_uint32), ("port", ctypes.c_uint16), ("proto", ctypes.c_uint8)]


@given(ip=st.integers(0, 2**32 - 1), port=st.integers(0, 2**16 - 1), proto=st.integers(0, 255))
def test_ctype_round_trip(ip, port, proto):
    c = C.CType(Pair)
    assert c.size == ctypes.sizeof(Pair) == 8
    enc = c.encode(Pair(ip, port, proto))
    assert enc == bytes(Pair(ip, port, proto))
    back = c.decode(enc)
    assert (back.ip, back.port, back.proto) == (ip, port, proto)
    assert c.encode(enc) == enc  # raw bytes of the right size pass


def test_ctype_errors_and_arrays():
    c = C.CType(Pair)
    with pytest.raises(CodecError):
        c.encode((1, 2, 3))
    with pytest.raises(CodecError):
        c.encode(b"short")
    arr = C.CType(ctypes.c_uint16 * 3)
    assert arr.encode((ctypes.c_uint16 * 3)(1, 2, 3)) == struct.pack("=3H", 1, 2, 3)
    assert list(arr.decode(struct.pack("=3H", 4, 5, 6))) == [4, 5, 6]
    assert C.as_codec(Pair, 8, "value").size == 8


# ---------------------------------------------------------------- PerCPU
@given(
    ncpus=st.integers(1, 8),
    inner=st.sampled_from([C.U8, C.U32, C.U64, C.Int(3), C.Struct("<IHB")]),
    data=st.data(),
)
def test_percpu_round_trip(ncpus, inner, data):
    p = C.PerCPU(inner, ncpus)
    stride = (inner.size + 7) // 8 * 8
    assert p.stride == stride and p.size == stride * ncpus
    if isinstance(inner, C.Struct):
        elem = st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1), st.integers(0, 255))
    else:
        elem = st.integers(inner.min, inner.max)
    vals = data.draw(st.lists(elem, min_size=ncpus, max_size=ncpus))
    enc = p.encode(vals)
    assert len(enc) == p.size
    for i, v in enumerate(vals):
        assert enc[i * stride : i * stride + inner.size] == inner.encode(v)
        assert enc[i * stride + inner.size : (i + 1) * stride] == bytes(stride - inner.size)
    assert p.decode(enc) == vals
    one = vals[0]
    assert p.decode(p.encode(AllCPUs(one))) == [one] * ncpus
    with pytest.raises(CodecError):
        p.encode(vals + [vals[0]])
    if ncpus > 1:
        with pytest.raises(CodecError):
            p.encode(vals[:-1])


def test_percpu_rejects_bytes_and_scalars():
    p = C.PerCPU(C.U32, 2)
    with pytest.raises(CodecError):
        p.encode(b"\0" * 16)
    with pytest.raises(CodecError):
        p.encode(5)
    with pytest.raises(CodecError):
        p.encode([1, 2**40])  # an inner value out of range


# ---------------------------------------------------------------- FuncCodec
@given(s=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=16))
def test_func_codec_round_trip(s):
    c = C.FuncCodec(
        16, encode=lambda x: x.encode().ljust(16, b"\0"), decode=lambda b: b.rstrip(b"\0").decode()
    )
    assert c.decode(c.encode(s)) == s.rstrip("\0")


def test_func_codec_checks_size_and_wraps_errors():
    c = C.FuncCodec(4, encode=lambda x: x, decode=bytes)
    with pytest.raises(CodecError, match="exactly 4 bytes"):
        c.encode(b"12345")

    def boom(x):
        raise RuntimeError("nope")

    with pytest.raises(CodecError, match="nope") as ei:
        C.FuncCodec(4, encode=boom, decode=bytes).encode(1)
    assert isinstance(ei.value.__cause__, RuntimeError)


def test_user_codec_protocol():
    class IPv4:
        size = 4

        def encode(self, s):
            return bytes(int(x) for x in s.split("."))

        def decode(self, b):
            return ".".join(str(x) for x in b)

    c = C.as_codec(IPv4(), 4, "key")
    assert isinstance(c, C.Codec)
    assert c.decode(c.encode("10.1.2.3")) == "10.1.2.3"
    assert c.size == 4
    # a user codec's output is size-checked on every encode
    with pytest.raises(CodecError, match="exactly 4 bytes"):
        c.encode("10.1.2")
    with pytest.raises(CodecError):
        c.encode("10.1.2.3.4")


class _ShortKey:
    """A buggy user codec: claims 4 bytes, returns 2 for some inputs."""

    size = 4

    def encode(self, k):
        if k > 0xFFFF:
            return (k & 0xFFFF).to_bytes(2, "little")
        return k.to_bytes(4, "little")

    def decode(self, b):
        return int.from_bytes(b, "little")


# ---------------------------------------------------------------- as_codec sizes
@given(size=st.integers(1, 32), codec=st.sampled_from(ALL_INTS))
def test_as_codec_size_mismatch(size, codec):
    assume(size != codec.size)
    with pytest.raises(CodecError, match="bytes but the map's key is"):
        C.as_codec(codec, size, "key")
    assert C.as_codec(codec, codec.size, "key") is codec


def test_as_codec_rejects_unknown_specs():
    with pytest.raises(CodecError):
        C.as_codec(42, 4, "key")
    assert C.as_codec(None, 4, "key") == C.Raw(4)
    assert C.as_codec(bytes, 4, "key") == C.Raw(4)


# ---------------------------------------------------------------- against real maps
@pytest.mark.kernel
def test_sizes_checked_once_at_open(mk):
    m = mk("hash", 4, 8, 4)
    for kw in ({"key": C.U64}, {"value": C.U32}, {"key": "<H"}, {"key": Pair}):
        with pytest.raises(CodecError):
            Map.from_id(m.id, **kw)
        with pytest.raises(CodecError):
            m.typed(**kw)
    t = m.typed(key="<I", value=Pair)
    t[7] = Pair(1, 2, 3)
    assert bytes(t[7]) == bytes(Pair(1, 2, 3))


@pytest.mark.kernel
def test_per_cpu_inner_size_checked_at_open(mk):
    m = mk("percpu_hash", 4, 4, 4)
    with pytest.raises(CodecError):
        m.typed(value=C.U64)
    assert m.typed(value=C.U32).value_codec.size == m.value_buf_size


@pytest.mark.kernel
def test_wrong_size_raw_bytes_fail_before_any_syscall(kernel_backend, monkeypatch):
    """The kernel reads exactly key_size/value_size bytes from our pointers, so a short
    buffer must never reach it: CodecError is raised before any bpf(2) call."""
    calls: list[str] = []
    for name in (
        "map_update_elem",
        "map_lookup_elem",
        "map_delete_elem",
        "map_lookup_and_delete_elem",
        "map_get_next_key",
    ):
        real = getattr(kernel_backend, name)

        def spy(*a, _real=real, _name=name):
            calls.append(_name)
            return _real(*a)

        monkeypatch.setattr(kernel_backend, name, spy)
    with Map.create("hash", 4, 8, 4) as m:
        ops = [
            lambda: m.__setitem__(b"\0" * 3, b"\0" * 8),
            lambda: m.__setitem__(b"\0" * 4, b"\0" * 7),
            lambda: m.__setitem__(b"\0" * 4, b"\0" * 9),
            lambda: m[b"\0" * 5],
            lambda: m.get(b"\0" * 3),
            lambda: m.__delitem__(b"\0" * 3),
            lambda: m.pop(b"\0" * 3),
            lambda: m.update(b"\0" * 4, b"\0", flags=1),
            lambda: m.setdefault(b"\0" * 2, b"\0" * 8),
            lambda: m.next_key(b"\0"),
            lambda: m.__setitem__(1234, b"\0" * 8),
        ]
        for op in ops:
            with pytest.raises(CodecError):
                op()
        assert calls == []
        m[b"\0" * 4] = b"\0" * 8  # the spies do see a good call
        assert calls == ["map_update_elem"]


@pytest.mark.kernel
def test_buggy_user_codec_never_reaches_the_kernel(kernel_backend, monkeypatch):
    calls: list[tuple] = []
    real = kernel_backend.map_update_elem

    def spy(*a):
        calls.append(a)
        return real(*a)

    monkeypatch.setattr(kernel_backend, "map_update_elem", spy)
    with Map.create("hash", 4, 4, 4, key=_ShortKey(), value=C.U32) as m:
        m[5] = 1
        assert len(calls) == 1 and calls[0][1] == (5).to_bytes(4, "little")
        with pytest.raises(CodecError):
            m[0x10000] = 1  # _ShortKey would hand the kernel 2 bytes
        with pytest.raises(CodecError):
            m.update(0x10000, 1, flags=1)
        assert len(calls) == 1
        assert dict(m.items()) == {5: 1}


@pytest.mark.kernel
def test_typed_kernel_round_trip(mk):
    m = mk("hash", 8, 16, 8, key=C.U64BE, value=C.Struct("<qQ", names=("a", "b")))
    m[2**63 + 5] = (-3, 2**64 - 1)
    assert m.raw[(2**63 + 5).to_bytes(8, "big")] == struct.pack("<qQ", -3, 2**64 - 1)
    rec = m[2**63 + 5]
    assert (rec.a, rec.b) == (-3, 2**64 - 1)
    assert list(m) == [2**63 + 5]
