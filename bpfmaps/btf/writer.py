"""Encode raw BTF blobs (the format BTF_LOAD takes and ``/sys/kernel/btf/*`` holds).

:class:`BTFWriter` appends types one at a time and returns their type ids (1, 2, ...;
0 is ``void``); :meth:`BTFWriter.encode` returns the blob: a 24-byte header, the type
section, then the string section (which starts with the empty string).  Names are
deduplicated.  The layout is ``include/uapi/linux/btf.h``; the writer checks what it
can cheaply (sizes, bit counts, referenced ids) and raises :class:`ValueError` on
nonsense, so that a blob it returns is one the kernel's verifier accepts.

Pure Python, no extension needed.  Cost: O(number of types + total name length).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

__all__ = [
    "BTFWriter",
    "BTF_MAGIC",
    "KIND_INT",
    "KIND_PTR",
    "KIND_ARRAY",
    "KIND_STRUCT",
    "KIND_UNION",
    "KIND_ENUM",
    "KIND_FWD",
    "KIND_TYPEDEF",
    "KIND_VOLATILE",
    "KIND_CONST",
    "KIND_RESTRICT",
    "KIND_FUNC",
    "KIND_FUNC_PROTO",
    "KIND_VAR",
    "KIND_DATASEC",
    "KIND_FLOAT",
    "KIND_DECL_TAG",
    "KIND_TYPE_TAG",
    "KIND_ENUM64",
    "INT_SIGNED",
    "INT_CHAR",
    "INT_BOOL",
]

BTF_MAGIC = 0xEB9F
(
    KIND_INT,
    KIND_PTR,
    KIND_ARRAY,
    KIND_STRUCT,
    KIND_UNION,
    KIND_ENUM,
    KIND_FWD,
    KIND_TYPEDEF,
    KIND_VOLATILE,
    KIND_CONST,
    KIND_RESTRICT,
    KIND_FUNC,
    KIND_FUNC_PROTO,
    KIND_VAR,
    KIND_DATASEC,
    KIND_FLOAT,
    KIND_DECL_TAG,
    KIND_TYPE_TAG,
    KIND_ENUM64,
) = range(1, 20)
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4

_HDR = struct.Struct("=HBBIIIII")
_TYPE = struct.Struct("=III")
_U32 = struct.Struct("=I")
_MEMBER = struct.Struct("=III")
_ENUM = struct.Struct("=Ii")
_ENUM64 = struct.Struct("=III")


def _info(kind: int, vlen: int = 0, kind_flag: bool = False) -> int:
    if not 0 <= vlen <= 0xFFFF:
        raise ValueError(f"BTF types have at most 65535 members/values, got {vlen}")
    return (int(kind_flag) << 31) | (kind << 24) | vlen


class BTFWriter:
    """Build a raw BTF blob type by type.

    Every ``add_*`` method returns the new type id.  Members reference types by id;
    an id may refer to a type added later (needed for self-referencing pointers),
    :meth:`encode` checks that every referenced id exists.
    """

    def __init__(self) -> None:
        self._types: list[bytes] = []
        self._strings = bytearray(b"\0")
        self._str_off: dict[str, int] = {"": 0}
        self._refs: list[int] = []
        #: type id -> (kind, name, size or None) for callers that want to look back
        self.kinds: list[tuple[int, str, int | None]] = [(0, "void", 0)]

    # ------------------------------------------------------------------ plumbing
    def _name(self, name: str) -> int:
        off = self._str_off.get(name)
        if off is None:
            if "\0" in name:
                raise ValueError(f"BTF names cannot contain NUL: {name!r}")
            off = len(self._strings)
            self._strings += name.encode() + b"\0"
            self._str_off[name] = off
        return off

    def _add(self, kind: int, name: str, size: int | None, blob: bytes) -> int:
        self._types.append(blob)
        self.kinds.append((kind, name, size))
        return len(self._types)

    def _ref(self, type_id: int) -> int:
        if type_id < 0:
            raise ValueError(f"bad BTF type id {type_id}")
        self._refs.append(type_id)
        return type_id

    @property
    def count(self) -> int:
        """Number of types added (the largest type id)."""
        return len(self._types)

    # ------------------------------------------------------------------ kinds
    def add_int(
        self,
        name: str,
        size: int,
        *,
        signed: bool = False,
        char: bool = False,
        bool: bool = False,
        bits: int | None = None,
        offset: int = 0,
    ) -> int:
        """``BTF_KIND_INT`` (``unsigned int``, ``char``, ``_Bool`` ...): size 1, 2, 4, 8 or 16."""
        if size not in (1, 2, 4, 8, 16):
            raise ValueError(f"BTF ints are 1, 2, 4, 8 or 16 bytes, got {size}")
        nbits = size * 8 if bits is None else bits
        if not 0 < nbits <= 128 or offset + nbits > size * 8:
            raise ValueError(f"bad int bits {nbits} at offset {offset} for size {size}")
        if not name:
            raise ValueError("BTF ints need a name")
        if signed + char + bool > 1:
            # the kernel accepts one encoding bit at most (clang writes ``char`` as SIGNED)
            raise ValueError("a BTF int is at most one of signed, char, bool")
        enc = (INT_SIGNED if signed else 0) | (INT_CHAR if char else 0) | (INT_BOOL if bool else 0)
        data = _TYPE.pack(self._name(name), _info(KIND_INT), size) + _U32.pack(
            (enc << 24) | (offset << 16) | nbits
        )
        return self._add(KIND_INT, name, size, data)

    def add_float(self, name: str, size: int) -> int:
        """``BTF_KIND_FLOAT`` (``float``, ``double``, ``long double``): 2, 4, 8, 12 or 16 bytes."""
        if size not in (2, 4, 8, 12, 16):
            raise ValueError(f"BTF floats are 2, 4, 8, 12 or 16 bytes, got {size}")
        return self._add(
            KIND_FLOAT, name, size, _TYPE.pack(self._name(name), _info(KIND_FLOAT), size)
        )

    def _ref_kind(self, kind: int, name: str, type_id: int) -> int:
        return self._add(
            kind, name, None, _TYPE.pack(self._name(name), _info(kind), self._ref(type_id))
        )

    def add_ptr(self, type_id: int) -> int:
        """``BTF_KIND_PTR`` to ``type_id`` (0: ``void *``)."""
        return self._ref_kind(KIND_PTR, "", type_id)

    def add_typedef(self, name: str, type_id: int) -> int:
        if not name:
            raise ValueError("BTF typedefs need a name")
        return self._ref_kind(KIND_TYPEDEF, name, type_id)

    def add_const(self, type_id: int) -> int:
        return self._ref_kind(KIND_CONST, "", type_id)

    def add_volatile(self, type_id: int) -> int:
        return self._ref_kind(KIND_VOLATILE, "", type_id)

    def add_restrict(self, type_id: int) -> int:
        return self._ref_kind(KIND_RESTRICT, "", type_id)

    def add_type_tag(self, name: str, type_id: int) -> int:
        return self._ref_kind(KIND_TYPE_TAG, name, type_id)

    def add_array(self, elem_type: int, nelems: int, index_type: int) -> int:
        """``BTF_KIND_ARRAY`` of ``nelems`` ``elem_type``; ``index_type`` must be an int type
        (the kernel insists)."""
        if not 0 <= nelems < 2**32:
            raise ValueError(f"bad array length {nelems}")
        data = _TYPE.pack(0, _info(KIND_ARRAY), 0) + struct.pack(
            "=III", self._ref(elem_type), self._ref(index_type), nelems
        )
        return self._add(KIND_ARRAY, "", None, data)

    def add_struct(
        self,
        name: str,
        size: int,
        members: Sequence[tuple[str, int, int] | tuple[str, int, int, int]],
        *,
        union: bool = False,
    ) -> int:
        """``BTF_KIND_STRUCT``/``UNION`` of ``size`` bytes.  ``members`` are
        ``(name, type_id, bit_offset[, bitfield_size])``; with any bitfield the type is
        written with ``kind_flag`` set (bitfield size in the member's top 8 bits)."""
        kind = KIND_UNION if union else KIND_STRUCT
        bitfields = any(len(m) > 3 and m[3] for m in members)
        out = [_TYPE.pack(self._name(name), _info(kind, len(members), bitfields), size)]
        for m in members:
            mname, mtype, bit_off = m[0], m[1], m[2]
            bsz = m[3] if len(m) > 3 else 0
            if bitfields:
                if not 0 <= bsz <= 255 or not 0 <= bit_off < 2**24:
                    raise ValueError(f"bitfield {mname!r}: size {bsz} offset {bit_off} too large")
                off = (bsz << 24) | bit_off
            else:
                off = bit_off
            if not 0 <= off < 2**32:
                raise ValueError(f"member {mname!r}: bad offset {bit_off}")
            out.append(_MEMBER.pack(self._name(mname), self._ref(mtype), off))
        return self._add(kind, name, size, b"".join(out))

    def add_union(
        self,
        name: str,
        size: int,
        members: Sequence[tuple[str, int, int] | tuple[str, int, int, int]],
    ) -> int:
        """``BTF_KIND_UNION``: :meth:`add_struct` with ``union=True``."""
        return self.add_struct(name, size, members, union=True)

    def add_enum(
        self, name: str, size: int, values: Iterable[tuple[str, int]], *, signed: bool = False
    ) -> int:
        """``BTF_KIND_ENUM`` (values fit in 32 bits) or ``ENUM64``; ``signed`` sets kind_flag."""
        vals = list(values)
        if size not in (1, 2, 4, 8):
            raise ValueError(f"BTF enums are 1, 2, 4 or 8 bytes, got {size}")
        lo, hi = (-(2**31), 2**31 - 1) if signed else (0, 2**32 - 1)
        wide = size == 8 and any(not lo <= v <= hi for _n, v in vals)
        if wide:
            out = [_TYPE.pack(self._name(name), _info(KIND_ENUM64, len(vals), signed), size)]
            for n, v in vals:
                u = v & (2**64 - 1)
                out.append(_ENUM64.pack(self._name(n), u & 0xFFFFFFFF, u >> 32))
            return self._add(KIND_ENUM64, name, size, b"".join(out))
        out = [_TYPE.pack(self._name(name), _info(KIND_ENUM, len(vals), signed), size)]
        for n, v in vals:
            u = v & 0xFFFFFFFF
            out.append(_ENUM.pack(self._name(n), u - (1 << 32) if u >= 1 << 31 else u))
        return self._add(KIND_ENUM, name, size, b"".join(out))

    def add_fwd(self, name: str, *, union: bool = False) -> int:
        return self._add(
            KIND_FWD, name, None, _TYPE.pack(self._name(name), _info(KIND_FWD, 0, union), 0)
        )

    def add_func_proto(self, ret_type: int, params: Sequence[tuple[str, int]]) -> int:
        out = [_TYPE.pack(0, _info(KIND_FUNC_PROTO, len(params)), self._ref(ret_type))]
        out += [struct.pack("=II", self._name(n), self._ref(t)) for n, t in params]
        return self._add(KIND_FUNC_PROTO, "", None, b"".join(out))

    def add_func(self, name: str, proto_type: int, linkage: int = 1) -> int:
        return self._add(
            KIND_FUNC,
            name,
            None,
            _TYPE.pack(self._name(name), _info(KIND_FUNC, linkage), self._ref(proto_type)),
        )

    def add_var(self, name: str, type_id: int, linkage: int = 1) -> int:
        data = _TYPE.pack(self._name(name), _info(KIND_VAR), self._ref(type_id)) + _U32.pack(
            linkage
        )
        return self._add(KIND_VAR, name, None, data)

    def add_datasec(self, name: str, size: int, vars: Sequence[tuple[int, int, int]]) -> int:
        out = [_TYPE.pack(self._name(name), _info(KIND_DATASEC, len(vars)), size)]
        out += [struct.pack("=III", self._ref(t), off, sz) for t, off, sz in vars]
        return self._add(KIND_DATASEC, name, size, b"".join(out))

    def add_decl_tag(self, name: str, type_id: int, component_idx: int = -1) -> int:
        data = _TYPE.pack(self._name(name), _info(KIND_DECL_TAG), self._ref(type_id)) + struct.pack(
            "=i", component_idx
        )
        return self._add(KIND_DECL_TAG, name, None, data)

    # ------------------------------------------------------------------ output
    def encode(self) -> bytes:
        """The raw blob (native byte order, like the kernel's own BTF)."""
        n = len(self._types)
        bad = [t for t in self._refs if t > n]
        if bad:
            raise ValueError(f"BTF references type id {bad[0]} but only {n} types were added")
        types = b"".join(self._types)
        strings = bytes(self._strings)
        hdr = _HDR.pack(BTF_MAGIC, 1, 0, _HDR.size, 0, len(types), len(types), len(strings))
        return hdr + types + strings
