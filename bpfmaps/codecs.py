"""Codecs turn Python objects into the exact bytes a map's key or value holds.

A codec has a ``size`` (bytes) and ``encode``/``decode`` methods.  Sizes are
checked against the map once, when a typed view is made; ``encode`` checks each
value (a short buffer would make the kernel read past our allocation) and raises
:class:`~bpfmaps.errors.CodecError` before any syscall.

Built in:

* :class:`Raw` (the default): ``bytes``-like of exactly ``size`` bytes.
* Integers: ``U8 U16 U32 U64 I8 I16 I32 I64`` (native byte order) and
  ``U16BE U32BE U64BE I16BE I32BE I64BE`` (big-endian / network order), or
  :class:`Int` for any size/order/sign.
* :class:`Struct`: a :mod:`struct` format string (tuples, or named tuples with
  ``names=``).
* :class:`CType`: a :mod:`ctypes` Structure/Union/array type.
* :class:`PerCPU`: a list with one value per possible CPU (used automatically for
  per-CPU maps); :class:`AllCPUs` writes one value to every CPU.
* :class:`FuncCodec`: your own ``encode``/``decode`` functions.

This module needs no compiled extension.
"""

from __future__ import annotations

import ctypes
import operator
import struct
import sys
from collections import namedtuple
from collections.abc import Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Generic,
    Literal,
    Protocol,
    SupportsIndex,
    TypeVar,
    Union,
    overload,
    runtime_checkable,
)

from .errors import CodecError
from .types import round_up8

#: the ``bpfmaps._pack`` this source needs (``BPFM_PACK_ABI`` in bpfmaps/_pack.c)
PACK_ABI = 6
_REBUILD = (
    "run `python build_ffi.py` in the checkout (it builds bpfmaps._ffi and bpfmaps._pack), "
    "or reinstall bpfmaps"
)
try:
    from ._pack import ABI as _BUILT_ABI
    from ._pack import ElemBase as ElemBase  # re-exported for _core (MapCore's C base)
    from ._pack import chunk_items as chunk_items  # re-exported for bulk
    from ._pack import pack as pack  # re-exported for bulk
    from ._pack import pairs as pairs  # re-exported for bulk
except ImportError as e:  # required: no silent slower path
    raise ImportError(
        f"bpfmaps._pack (bpfmaps/_pack.c) is missing or older than ABI {PACK_ABI}: {_REBUILD}"
    ) from e
if _BUILT_ABI != PACK_ABI:
    raise ImportError(
        f"bpfmaps._pack is stale (ABI {_BUILT_ABI}, this source needs {PACK_ABI}): {_REBUILD}"
    )

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "Codec",
    "encode_many",
    "Raw",
    "Int",
    "U8",
    "U16",
    "U32",
    "U64",
    "I8",
    "I16",
    "I32",
    "I64",
    "U16BE",
    "U32BE",
    "U64BE",
    "I16BE",
    "I32BE",
    "I64BE",
    "Struct",
    "CType",
    "PerCPU",
    "AllCPUs",
    "FuncCodec",
    "ObjectId",
    "as_codec",
]

_BYTESLIKE = (bytes, bytearray, memoryview)

#: the Python type a codec decodes to (and encodes from)
T = TypeVar("T")
#: a ctypes type's instances
CT = TypeVar("CT")


@runtime_checkable
class Codec(Protocol[T]):
    """The codec protocol: ``size`` bytes, ``encode(obj) -> bytes``, ``decode(bytes) -> obj``.

    Generic in the Python type ``T`` it decodes to: ``U32`` is a ``Codec[int]``,
    ``Struct("<IH")`` a ``Codec[tuple[Any, ...]]``, ``CType(MyStruct)`` a
    ``Codec[MyStruct]``; a :class:`~bpfmaps.maps.Map` made with a key codec of
    ``Codec[K]`` and a value codec of ``Codec[V]`` is a ``Map[K, V]``.
    """

    size: int

    def encode(self, obj: T) -> bytes: ...

    def decode(self, data: bytes) -> T: ...


def _as_bytes(obj: Any, size: int, what: str) -> bytes:
    if type(obj) is bytes:
        b = obj
    elif isinstance(obj, _BYTESLIKE):
        b = bytes(obj)
    else:
        try:
            b = bytes(memoryview(obj))
        except TypeError:
            raise CodecError(
                f"{what} must be a bytes-like object of {size} bytes, got {type(obj).__name__}"
            ) from None
    if len(b) != size:
        raise CodecError(f"{what} must be exactly {size} bytes, got {len(b)}")
    return b


class Raw:
    """Bytes of exactly ``size``; decodes to ``bytes``.  Cost: a length check."""

    __slots__ = ("size", "what")

    def __init__(self, size: int, what: str = "value") -> None:
        self.size: int = size
        self.what: str = what

    def encode(self, obj: Buffer) -> bytes:
        if type(obj) is bytes and len(obj) == self.size:
            return obj
        return _as_bytes(obj, self.size, self.what)

    def decode(self, data: bytes) -> bytes:
        return bytes(data)

    def __repr__(self) -> str:
        return f"Raw({self.size})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raw) and other.size == self.size

    def __hash__(self) -> int:
        return hash(("Raw", self.size))


class Int:
    """An integer of ``size`` bytes (1, 2, 4, 8 or any other width).

    ``byteorder`` is ``"native"`` (default, how BPF programs store host integers),
    ``"little"`` or ``"big"`` (network order).  Out-of-range values raise CodecError.
    """

    _FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}

    def __init__(self, size: int, *, signed: bool = False, byteorder: str = "native") -> None:
        if byteorder not in ("native", "little", "big"):
            raise ValueError("byteorder must be 'native', 'little' or 'big'")
        self.size: int = size
        self.signed: bool = signed
        self.byteorder: str = sys.byteorder if byteorder == "native" else byteorder
        self._order: Literal["little", "big"] = "little" if self.byteorder == "little" else "big"
        self._label = byteorder
        fmt = self._FMT.get(size)
        if fmt is not None:
            prefix = "<" if self.byteorder == "little" else ">"
            self._st: struct.Struct | None = struct.Struct(
                prefix + (fmt.lower() if signed else fmt)
            )
            self._pack = self._st.pack
            self._unpack = self._st.unpack
        else:
            self._st = None
        bits = size * 8
        self.min: int = -(1 << (bits - 1)) if signed else 0
        self.max: int = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def encode(self, obj: SupportsIndex) -> bytes:
        try:
            if self._st is not None:
                return self._pack(obj)
            # operator.index, not int(): "5" or 1.7 must not be accepted (struct refuses too)
            return operator.index(obj).to_bytes(self.size, self._order, signed=self.signed)
        except (struct.error, OverflowError, TypeError, ValueError):
            pass
        if isinstance(obj, bool) or not isinstance(obj, int):
            try:
                obj = obj.__index__()
            except (AttributeError, TypeError):
                raise CodecError(f"{self!r} needs an int, got {type(obj).__name__}") from None
            return self.encode(obj)
        raise CodecError(f"{obj} out of range for {self!r} [{self.min}, {self.max}]")

    def decode(self, data: bytes) -> int:
        if self._st is not None:
            return self._unpack(data)[0]  # type: ignore[no-any-return]
        return int.from_bytes(data, self._order, signed=self.signed)

    def __repr__(self) -> str:
        name = ("I" if self.signed else "U") + str(self.size * 8)
        return name + ("BE" if self._label == "big" else "LE" if self._label == "little" else "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Int) and (other.size, other.signed, other.byteorder) == (
            self.size,
            self.signed,
            self.byteorder,
        )

    def __hash__(self) -> int:
        return hash(("Int", self.size, self.signed, self.byteorder))


U8: Int
U16: Int
U32: Int
U64: Int
I8: Int
I16: Int
I32: Int
I64: Int
U16BE: Int
U32BE: Int
U64BE: Int
I16BE: Int
I32BE: Int
I64BE: Int
U8, U16, U32, U64 = (Int(n) for n in (1, 2, 4, 8))
I8, I16, I32, I64 = (Int(n, signed=True) for n in (1, 2, 4, 8))
U16BE, U32BE, U64BE = (Int(n, byteorder="big") for n in (2, 4, 8))
I16BE, I32BE, I64BE = (Int(n, signed=True, byteorder="big") for n in (2, 4, 8))


class Struct(Generic[T]):
    """A :mod:`struct` format (e.g. ``"<IHH"``); encodes a tuple, decodes to a tuple.

    With ``names=("ip", "port")`` decoding returns a namedtuple and encoding also
    accepts a mapping.  A format with one field encodes/decodes a scalar when
    ``scalar=True``.  Note: without a byte-order prefix, :mod:`struct` uses native
    alignment; BPF structs usually want ``"="``/``"<"`` plus explicit padding ``x``.
    """

    @overload
    def __init__(
        self: Struct[tuple[Any, ...]],
        fmt: str,
        names: None = None,
        *,
        scalar: Literal[False] = False,
    ) -> None: ...

    @overload  # named fields (a namedtuple) or a scalar: not a plain tuple
    def __init__(
        self: Struct[Any], fmt: str, names: Sequence[str] | None = None, *, scalar: bool = False
    ) -> None: ...

    def __init__(
        self, fmt: str, names: Sequence[str] | None = None, *, scalar: bool = False
    ) -> None:
        self._st = struct.Struct(fmt)
        self.fmt: str = fmt
        self.size: int = self._st.size
        self.scalar: bool = scalar
        self._tuple = namedtuple("Record", names) if names else None
        self.names: tuple[str, ...] | None = tuple(names) if names else None

    def encode(self, obj: Union[T, Mapping[str, Any]]) -> bytes:
        o: Any = obj
        try:
            if self.scalar:
                return self._st.pack(o)
            if self.names and isinstance(o, dict):
                o = tuple(o[n] for n in self.names)
            return self._st.pack(*o)
        except (struct.error, TypeError, KeyError) as e:
            raise CodecError(
                f"cannot encode {obj!r} with struct format {self.fmt!r}: {e}"
            ) from None

    def decode(self, data: bytes) -> T:
        t = self._st.unpack(data)
        if self.scalar:
            return t[0]  # type: ignore[no-any-return]
        return self._tuple(*t) if self._tuple else t  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Struct({self.fmt!r})"


class CType(Generic[CT]):
    """A :mod:`ctypes` type (Structure, Union, array or scalar); decodes to an instance."""

    def __init__(self, ctype: type[CT]) -> None:
        self.ctype: type[CT] = ctype
        self.size: int = ctypes.sizeof(ctype)  # type: ignore[arg-type]

    def encode(self, obj: Union[CT, Buffer]) -> bytes:
        if isinstance(obj, self.ctype):
            return bytes(memoryview(obj).cast("B")) if self.size else b""  # type: ignore[arg-type]
        if isinstance(obj, _BYTESLIKE):
            return _as_bytes(obj, self.size, self.ctype.__name__)
        raise CodecError(f"expected {self.ctype.__name__}, got {type(obj).__name__}")

    def decode(self, data: bytes) -> CT:
        return self.ctype.from_buffer_copy(data)  # type: ignore[attr-defined,no-any-return]

    def __repr__(self) -> str:
        return f"CType({self.ctype.__name__})"


class FuncCodec(Generic[T]):
    """A codec from two functions: ``FuncCodec(16, encode=..., decode=...)``."""

    def __init__(
        self, size: int, encode: Callable[[T], bytes], decode: Callable[[bytes], T]
    ) -> None:
        self.size: int = size
        self._enc = encode
        self._dec = decode

    def encode(self, obj: T) -> bytes:
        try:
            b = self._enc(obj)
        except CodecError:
            raise
        except Exception as e:
            raise CodecError(f"encoder failed for {obj!r}: {e}") from e
        return _as_bytes(b, self.size, "encoded value")

    def decode(self, data: bytes) -> T:
        return self._dec(data)


class AllCPUs(Generic[T]):
    """Wrap a value to write it to every possible CPU of a per-CPU map."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value: T = value

    def __repr__(self) -> str:
        return f"AllCPUs({self.value!r})"


class PerCPU(Generic[T]):
    """Per-CPU values: a list with one decoded value per possible CPU.

    The kernel buffer is ``ncpus * round_up(inner.size, 8)`` bytes; each CPU's slot
    holds ``inner.size`` bytes followed by zero padding.  Encoding takes a sequence of
    exactly ``ncpus`` values or :class:`AllCPUs`.
    """

    def __init__(self, inner: Codec[T], ncpus: int) -> None:
        self.inner: Codec[T] = inner
        self.ncpus: int = ncpus
        self.stride: int = round_up8(inner.size)
        self.size: int = self.stride * ncpus
        self._pad = b"\0" * (self.stride - inner.size)

    def encode(self, obj: Union[Sequence[T], AllCPUs[T]]) -> bytes:
        if isinstance(obj, AllCPUs):
            return (self.inner.encode(obj.value) + self._pad) * self.ncpus
        if isinstance(obj, _BYTESLIKE) or not isinstance(obj, Sequence):
            raise CodecError(
                f"per-CPU value must be a list of {self.ncpus} values (one per possible CPU) "
                f"or AllCPUs(value), got {type(obj).__name__}"
            )
        if len(obj) != self.ncpus:
            raise CodecError(
                f"per-CPU value needs {self.ncpus} entries (possible CPUs), got {len(obj)}"
            )
        enc, pad = self.inner.encode, self._pad
        return b"".join(enc(v) + pad for v in obj)

    def decode(self, data: bytes) -> list[T]:
        """One decoded value per possible CPU."""
        dec, n, st = self.inner.decode, self.inner.size, self.stride
        return [dec(data[i * st : i * st + n]) for i in range(self.ncpus)]

    def __repr__(self) -> str:
        return f"PerCPU({self.inner!r}, ncpus={self.ncpus})"


class ObjectId:
    """Values of map-in-map and prog-array maps: write a map/program (or its fd),
    read back the kernel object id (an int).  4 bytes, native order."""

    size = 4
    _st = struct.Struct("=I")

    def encode(self, obj: Any) -> bytes:
        fileno = getattr(obj, "fileno", None)
        fd = fileno() if fileno is not None else obj
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise CodecError(
                f"map-in-map/prog-array values are Map/Program objects or fds, got {type(obj).__name__}"
            )
        if not 0 <= fd < 2**31:
            raise CodecError(f"invalid file descriptor {fd}")
        return self._st.pack(fd)

    def decode(self, data: bytes) -> int:
        return self._st.unpack(data)[0]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "ObjectId()"


class _Checked:
    """A user codec whose ``encode`` output is checked (bytes-like, exactly ``size``
    bytes) on every call: the kernel reads exactly key_size/value_size bytes from the
    pointer, so a short result would be an out-of-bounds read."""

    __slots__ = ("codec", "size", "what", "decode")

    def __init__(self, codec: Any, what: str) -> None:
        self.codec = codec
        self.size = codec.size
        self.what = what
        self.decode = codec.decode

    def encode(self, obj: Any) -> bytes:
        return _as_bytes(self.codec.encode(obj), self.size, f"{self.what} from {self.codec!r}")

    def __repr__(self) -> str:
        return repr(self.codec)


#: codecs whose encode always returns exactly ``size`` bytes (exact types, not subclasses)
_TRUSTED = frozenset({Raw, Int, Struct, CType, FuncCodec, PerCPU, ObjectId, _Checked})


def as_codec(spec: Any, size: int, what: str) -> Any:
    """Turn ``spec`` into a codec and check it is ``size`` bytes.

    ``spec`` may be None (raw bytes), a codec, a :mod:`struct` format string, or a
    ctypes type.  Raises CodecError when the sizes differ.  A user codec (any object
    with ``size``/``encode``/``decode`` that is not one of ours) is wrapped so that
    each encoded result is checked to be exactly ``size`` bytes.
    """
    if spec is None or spec is bytes:
        return Raw(size, what)
    if isinstance(spec, str):
        codec: Any = Struct(
            spec, scalar=len(struct.Struct(spec).unpack(bytes(struct.calcsize(spec)))) == 1
        )
    elif isinstance(spec, type) and issubclass(
        spec, ctypes._SimpleCData.__mro__[1]
    ):  # any ctypes type
        codec = CType(spec)
    elif hasattr(spec, "encode") and hasattr(spec, "decode") and hasattr(spec, "size"):
        # ``exact_size = True``: a codec class of ours outside this module (BTF codecs)
        trusted = type(spec) in _TRUSTED or getattr(type(spec), "exact_size", False) is True
        codec = spec if trusted else _Checked(spec, what)
    else:
        raise CodecError(f"cannot use {spec!r} as a {what} codec")
    if codec.size != size:
        raise CodecError(
            f"{what} codec {codec!r} is {codec.size} bytes but the map's {what} is {size} bytes"
        )
    return codec


# ----------------------------------------------------------------------------- packing
def encode_many(seq: Any, codec: Any, size: int, what: str = "value", base: int = 0) -> bytes:
    """Pack a sequence of user objects into ``size``-byte slots.

    Cost: raw codecs with a list or tuple of ``bytes``: one C pass that checks each
    element's type and size and copies it (:func:`bpfmaps._pack.pack`, a few ns per
    element); other buffer objects: one ``b"".join`` plus a length check (about 40 ns per
    element); other codecs: one ``encode`` call per element.  Raises CodecError naming
    ``what`` and the index (``base + i``) of the first bad element.
    """
    n = len(seq)
    try:
        if type(codec) is Raw:
            if type(seq) is list or type(seq) is tuple:
                packed = pack(seq, size)
                if packed is not None:
                    return packed
            buf = b"".join(seq)
            # every element's len() is size and the bytes add up: each is exactly size
            if len(buf) == n * size and list(map(len, seq)).count(size) == n:
                return buf
        else:
            buf = b"".join(map(codec.encode, seq))
            if len(buf) == n * size:
                return buf
    except Exception:
        pass
    enc = codec.encode
    parts = []
    for i, x in enumerate(seq):
        try:
            b = enc(x)
        except CodecError as e:
            raise CodecError(
                f"{what} #{base + i} ({_short_repr(x)}): {e}; nothing was applied"
            ) from e
        except Exception as e:
            raise CodecError(
                f"{what} #{base + i} ({_short_repr(x)}): {e}; nothing was applied"
            ) from e
        if len(b) != size:
            raise CodecError(
                f"{what} #{base + i} encodes to {len(b)} bytes, the map needs {size}; nothing was applied"
            )
        parts.append(b)
    return b"".join(parts)


def _short_repr(x: Any) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."
