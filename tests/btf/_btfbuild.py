"""A tiny independent BTF encoder for the tests (written from include/uapi/linux/btf.h).

``B = Builder(); i = B.int("int", 4, signed=True); s = B.struct("s", 8, [("a", i, 0)])``
then ``B.blob()`` (or ``B.blob(base=other_builder)`` for split BTF).  Ids are returned
in order, starting after the base's.
"""

from __future__ import annotations

import struct


class Builder:
    def __init__(self, base: Builder | None = None, endian: str = "<") -> None:
        self.base = base
        self.e = endian
        self.recs: list[bytes] = []
        self.strs = bytearray(b"" if base is not None else b"\0")
        self._soff: dict[str, int] = {}
        self.first_id = base.next_id if base is not None else 1

    @property
    def next_id(self) -> int:
        return self.first_id + len(self.recs)

    @property
    def str_total(self) -> int:
        return (self.base.str_total if self.base is not None else 0) + len(self.strs)

    def s(self, name: str) -> int:
        if not name:
            if self.base is not None:
                return 0
            return 0
        if name in self._soff:
            return self._soff[name]
        off = (self.base.str_total if self.base is not None else 0) + len(self.strs)
        self.strs += name.encode() + b"\0"
        self._soff[name] = off
        return off

    def _rec(self, name: str, kind: int, vlen: int, kflag: int, size_or_type: int, extra=b""):
        info = (kflag << 31) | (kind << 24) | vlen
        self.recs.append(struct.pack(self.e + "III", self.s(name), info, size_or_type) + extra)
        return self.next_id - 1

    def int(self, name, size, signed=False, char=False, bool_=False, bits=None, offset=0):
        enc = (1 if signed else 0) | (2 if char else 0) | (4 if bool_ else 0)
        bits = size * 8 if bits is None else bits
        return self._rec(
            name, 1, 0, 0, size, struct.pack(self.e + "I", enc << 24 | offset << 16 | bits)
        )

    def ptr(self, t):
        return self._rec("", 2, 0, 0, t)

    def array(self, elem, index, n):
        return self._rec("", 3, 0, 0, 0, struct.pack(self.e + "III", elem, index, n))

    def struct(self, name, size, members, kflag=0, union=False):
        extra = b""
        for m in members:
            mname, mt, boff = m[0], m[1], m[2]
            bsz = m[3] if len(m) > 3 else 0
            off = (bsz << 24 | boff) if kflag else boff
            extra += struct.pack(self.e + "III", self.s(mname), mt, off)
        return self._rec(name, 5 if union else 4, len(members), kflag, size, extra)

    def enum(self, name, size, values, signed=False):
        extra = b"".join(
            struct.pack(self.e + ("Ii" if signed else "II"), self.s(n), v) for n, v in values
        )
        return self._rec(name, 6, len(values), 1 if signed else 0, size, extra)

    def enum64(self, name, size, values, signed=False):
        extra = b""
        for n, v in values:
            v &= (1 << 64) - 1
            extra += struct.pack(self.e + "III", self.s(n), v & 0xFFFFFFFF, v >> 32)
        return self._rec(name, 19, len(values), 1 if signed else 0, size, extra)

    def fwd(self, name, union=False):
        return self._rec(name, 7, 0, 1 if union else 0, 0)

    def typedef(self, name, t):
        return self._rec(name, 8, 0, 0, t)

    def volatile(self, t):
        return self._rec("", 9, 0, 0, t)

    def const(self, t):
        return self._rec("", 10, 0, 0, t)

    def restrict(self, t):
        return self._rec("", 11, 0, 0, t)

    def func(self, name, proto, linkage=1):
        return self._rec(name, 12, linkage, 0, proto)

    def func_proto(self, ret, params):
        extra = b"".join(struct.pack(self.e + "II", self.s(n), t) for n, t in params)
        return self._rec("", 13, len(params), 0, ret, extra)

    def var(self, name, t, linkage=1):
        return self._rec(name, 14, 0, 0, t, struct.pack(self.e + "I", linkage))

    def datasec(self, name, size, vars):
        extra = b"".join(struct.pack(self.e + "III", t, o, sz) for t, o, sz in vars)
        return self._rec(name, 15, len(vars), 0, size, extra)

    def float(self, name, size):
        return self._rec(name, 16, 0, 0, size)

    def decl_tag(self, name, t, idx=-1):
        return self._rec(name, 17, 0, 0, t, struct.pack(self.e + "i", idx))

    def type_tag(self, name, t):
        return self._rec(name, 18, 0, 0, t)

    def raw(self, name, kind, vlen, kflag, st, extra=b""):
        return self._rec(name, kind, vlen, kflag, st, extra)

    def blob(self) -> bytes:
        types = b"".join(self.recs)
        hdr = struct.pack(
            self.e + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(self.strs)
        )
        return hdr + types + bytes(self.strs)


def every_kind() -> tuple[Builder, dict[str, int]]:
    """A builder with one of every kind (and the ids by role)."""
    b = Builder()
    ids: dict[str, int] = {}
    ids["int"] = b.int("int", 4, signed=True)
    ids["uchar"] = b.int("unsigned char", 1, char=False)
    ids["char"] = b.int("char", 1, signed=True, char=True)
    ids["bool"] = b.int("_Bool", 1, bool_=True)
    ids["u64"] = b.int("long long unsigned int", 8)
    ids["ptr"] = b.ptr(0)
    ids["arr"] = b.array(ids["char"], ids["int"], 16)
    nid = b.next_id
    ids["node"] = b.struct("node", 16, [("next", nid + 1, 0), ("val", ids["int"], 64)])
    ids["node_ptr"] = b.ptr(nid)
    ids["bits"] = b.struct(
        "bits",
        4,
        [("a", ids["int"], 0, 3), ("b", ids["int"], 3, 5), ("c", ids["int"], 8, 24)],
        kflag=1,
    )
    ids["u"] = b.struct("u", 8, [("i", ids["int"], 0), ("l", ids["u64"], 0)], union=True)
    ids["enum"] = b.enum("color", 4, [("RED", 0), ("NEG", -1)], signed=True)
    ids["uenum"] = b.enum("flags", 4, [("BIG", 0xFFFFFFFF)])
    ids["enum64"] = b.enum64("e64", 8, [("HUGE", 1 << 63), ("ONE", 1)])
    ids["senum64"] = b.enum64("se64", 8, [("MIN", -(1 << 63))], signed=True)
    ids["fwd"] = b.fwd("opaque")
    ids["ufwd"] = b.fwd("uopaque", union=True)
    ids["typedef"] = b.typedef("u32_t", ids["int"])
    ids["volatile"] = b.volatile(ids["typedef"])
    ids["const"] = b.const(ids["volatile"])
    ids["restrict"] = b.restrict(ids["ptr"])
    ids["proto"] = b.func_proto(ids["int"], [("x", ids["int"]), ("", 0)])
    ids["func"] = b.func("f", ids["proto"], linkage=1)
    ids["var"] = b.var("v", ids["int"], linkage=1)
    ids["datasec"] = b.datasec(".data", 4, [(ids["var"], 0, 4)])
    ids["float"] = b.float("double", 8)
    ids["decl_tag"] = b.decl_tag("tag1", ids["node"], 1)
    ids["type_tag"] = b.type_tag("user", ids["int"])
    return b, ids
