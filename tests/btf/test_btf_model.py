"""The BTF parser and type model on hand-built blobs (no kernel needed)."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from bpfmaps import btf as B
from bpfmaps.btf import BTFError, Kind

from ._btfbuild import Builder, every_kind


def test_import_without_extension():
    code = (
        "import sys; import bpfmaps.btf, bpfmaps.btf.parse, bpfmaps.btf.model;"
        "assert 'bpfmaps._ffi' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_kind_fields():
    b, ids = every_kind()
    t = B.parse(b.blob(), source="every")
    assert len(t) == b.next_id
    i = t[ids["int"]]
    assert (i.kind, i.name, i.size, i.bits, i.offset, i.signed) == (Kind.INT, "int", 4, 32, 0, True)
    c = t[ids["char"]]
    assert c.is_char and c.signed and not c.is_bool
    assert t[ids["bool"]].is_bool
    assert t[ids["ptr"]].kind == Kind.PTR and t[ids["ptr"]].type_id == 0
    assert t[ids["ptr"]].type.kind == Kind.UNKN
    a = t[ids["arr"]]
    assert (a.type_id, a.index_type_id, a.nelems) == (ids["char"], ids["int"], 16)
    n = t[ids["node"]]
    assert n.kind == Kind.STRUCT and n.size == 16 and not n.kind_flag
    assert [m.name for m in n.members] == ["next", "val"]
    assert n.members[1].bit_offset == 64
    assert t[n.members[0].type_id].type is n  # cycle through a pointer is plain ids
    bits = t[ids["bits"]]
    assert bits.kind_flag
    assert [(m.bit_offset, m.bitfield_size) for m in bits.members] == [(0, 3), (3, 5), (8, 24)]
    u = t[ids["u"]]
    assert u.kind == Kind.UNION and [m.bit_offset for m in u.members] == [0, 0]
    e = t[ids["enum"]]
    assert e.signed and e.values == (B.EnumValue("RED", 0), B.EnumValue("NEG", -1))
    assert t[ids["uenum"]].values[0].value == 0xFFFFFFFF and not t[ids["uenum"]].signed
    assert t[ids["enum64"]].kind == Kind.ENUM64
    assert t[ids["enum64"]].values[0].value == 1 << 63
    assert t[ids["senum64"]].values[0].value == -(1 << 63)
    assert not t[ids["fwd"]].is_union and t[ids["ufwd"]].is_union
    assert t[ids["typedef"]].name == "u32_t"
    assert t[ids["const"]].kind == Kind.CONST and t[ids["volatile"]].kind == Kind.VOLATILE
    assert t[ids["restrict"]].kind == Kind.RESTRICT
    p = t[ids["proto"]]
    assert p.type_id == ids["int"] and p.params == (B.Param("x", ids["int"]), B.Param("", 0))
    f = t[ids["func"]]
    assert (f.name, f.type_id, f.linkage) == ("f", ids["proto"], 1)
    v = t[ids["var"]]
    assert (v.name, v.type_id, v.linkage) == ("v", ids["int"], 1)
    ds = t[ids["datasec"]]
    assert ds.vars == (B.VarSecinfo(ids["var"], 0, 4),) and ds.size == 4
    assert t[ids["float"]].size == 8
    d = t[ids["decl_tag"]]
    assert (d.name, d.type_id, d.component_idx) == ("tag1", ids["node"], 1)
    assert t[ids["type_tag"]].name == "user"
    assert "STRUCT" in repr(n) and "next" in repr(n)


def test_resolution_helpers():
    b, ids = every_kind()
    t = B.parse(b.blob())
    assert t.resolve(ids["const"]).id == ids["int"]
    assert t.strip_cv(ids["const"]).id == ids["typedef"]
    assert t.resolve(ids["type_tag"]).id == ids["int"]
    assert t.size_of(ids["arr"]) == 16
    assert t.size_of(ids["const"]) == 4
    assert t.size_of(ids["ptr"]) == 8
    assert t.size_of(ids["var"]) == 4
    assert t.align_of(ids["node"]) == 8
    assert t.align_of(ids["arr"]) == 1
    assert t.align_of(ids["u"]) == 8
    with pytest.raises(BTFError):
        t.size_of(ids["func"])
    with pytest.raises(BTFError):
        t.size_of(0)
    with pytest.raises(BTFError):
        t.size_of(ids["fwd"])
    assert t.find("node").id == ids["node"]
    assert t.find("color", Kind.ENUM).id == ids["enum"]
    with pytest.raises(KeyError):
        t.find("nope")
    with pytest.raises(BTFError, match="out of range"):
        t[len(t)]
    assert t.name_of(ids["node"]) == "struct node" and t.name_of(0) == "void"


def test_packed_struct_alignment():
    b = Builder()
    i = b.int("int", 4, signed=True)
    c = b.int("char", 1, char=True)
    s = b.struct("p", 5, [("c", c, 0), ("i", i, 8)])
    t = B.parse(b.blob())
    assert t.align_of(s) == 1


def test_old_style_bitfield_member():
    b = Builder()
    bf = b.int("int", 4, signed=True, bits=3, offset=2)
    s = b.struct("s", 4, [("x", bf, 8)])
    t = B.parse(b.blob())
    m = t[s].members[0]
    assert m.bitfield_size == 0
    assert t.member_bitfield(m) == (10, 3)


def test_big_endian_blob():
    x = Builder(endian=">")
    i = x.int("int", 4, signed=True)
    s = x.struct("s", 4, [("a", i, 0)])
    e = x.enum64("e", 8, [("A", 5)])
    t = B.parse(x.blob())
    assert t.endian == ">" and t[s].members[0].name == "a" and t[e].values[0].value == 5


def test_split_btf():
    base = Builder()
    i = base.int("int", 4, signed=True)
    s = base.struct("base_s", 4, [("a", i, 0)])
    split = Builder(base=base)
    p = split.ptr(s)
    s2 = split.struct("mod_s", 12, [("p", p, 0), ("b", i, 64)])
    bt = B.parse(base.blob(), source="base")
    st = B.parse(split.blob(), bt, source="split")
    assert st.start_id == bt.__len__() == 3
    assert st[s2].name == "mod_s" and st[s2].members[1].name == "b"
    assert st[p].type.name == "base_s"
    assert [t.id for t in st.own_types()] == [p, s2]
    # without its base the ids are out of range
    with pytest.raises(BTFError):
        B.parse(split.blob())


def _hdr(blob: bytes, **kw) -> bytes:
    names = ["magic", "version", "flags", "hdr_len", "type_off", "type_len", "str_off", "str_len"]
    vals = dict(zip(names, struct.unpack_from("<HBBIIIII", blob)))
    vals.update(kw)
    return struct.pack("<HBBIIIII", *[vals[n] for n in names]) + blob[24:]


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b[:3], "truncated"),
        (lambda b: b"\x00\x00" + b[2:], "wrong magic"),
        (lambda b: _hdr(b, version=2), "version"),
        (lambda b: _hdr(b, hdr_len=9999), "header length"),
        (lambda b: _hdr(b, type_len=99999), "out of bounds"),
        (lambda b: _hdr(b, str_len=99999), "out of bounds"),
        (lambda b: _hdr(b, type_len=struct.unpack_from("<I", b, 12)[0] - 4), "truncated"),
        (lambda b: _hdr(b, type_len=struct.unpack_from("<I", b, 12)[0] - 2), "multiple of 4"),
        (lambda b: b[:-1] + b"x", "NUL"),
    ],
)
def test_bad_headers(mutate, match):
    b, _ = every_kind()
    with pytest.raises(BTFError, match=match):
        B.parse(mutate(b.blob()), source="t")


def test_bad_records():
    b = Builder()
    b.raw("", 25, 0, 0, 0)
    with pytest.raises(BTFError, match="unknown kind 25") as ei:
        B.parse(b.blob(), source="x")
    assert ei.value.type_id == 1 and ei.value.source == "x" and ei.value.offset == 24
    b = Builder()
    b.ptr(7)
    with pytest.raises(BTFError, match="type id 7, out of range") as ei:
        B.parse(b.blob())
    assert ei.value.type_id == 1
    b = Builder()
    i = b.int("int", 4)
    b.struct("s", 4, [("a", i + 5, 0)])
    with pytest.raises(BTFError, match="out of range"):
        B.parse(b.blob())
    b = Builder()
    b.raw("", 1, 0, 0, 4, struct.pack("<I", 40))  # INT with 40 bits in 4 bytes
    with pytest.raises(BTFError, match="INT size"):
        B.parse(b.blob())
    b = Builder()
    b.recs.append(struct.pack("<III", 9999, 1 << 24, 4) + struct.pack("<I", 32))
    with pytest.raises(BTFError, match="name offset 9999"):
        B.parse(b.blob())
    b = Builder()
    i = b.int("int", 4)
    b.recs.append(struct.pack("<III", 0, (4 << 24) | 1, 4) + struct.pack("<III", 9999, i, 0))
    with pytest.raises(BTFError, match="name offset 9999"):
        B.parse(b.blob())


@pytest.mark.parametrize("shape", ["typedef", "const", "array", "struct", "struct2", "var"])
def test_loops_are_errors(shape):
    b = Builder()
    i = b.int("int", 4)
    n = b.next_id
    if shape == "typedef":
        b.typedef("a", n + 1)
        b.typedef("b", n)
    elif shape == "const":
        b.const(n)
    elif shape == "array":
        b.array(n, i, 2)
    elif shape == "struct":
        b.struct("s", 8, [("self", n, 0)])
    elif shape == "struct2":
        b.struct("a", 8, [("b", n + 2, 0)])
        b.struct("c", 8, [("x", i, 0)])
        b.array(n, i, 1)
    elif shape == "var":
        b.var("v", n)
    with pytest.raises(BTFError, match="loop"):
        B.parse(b.blob())
    t = B.parse(b.blob(), check_loops=False)
    for x in t:
        for f in (t.size_of, t.align_of, t.resolve):
            try:
                f(x.id)
            except BTFError:
                pass


def test_pointer_cycles_are_fine():
    b = Builder()
    n = b.next_id
    b.struct("a", 8, [("b", n + 1, 0)])
    b.ptr(n + 2)
    b.struct("c", 8, [("a", n + 3, 0)])
    b.ptr(n)
    t = B.parse(b.blob())
    assert t.size_of(n) == 8 and t.align_of(n) == 8


def _elf64(sections: dict[str, bytes], big=False) -> bytes:
    e = ">" if big else "<"
    shstr = b"\0" + b"".join(n.encode() + b"\0" for n in [*sections, ".shstrtab"])
    body = b""
    offs = []
    base = 64
    for data in sections.values():
        offs.append(base + len(body))
        body += data
    shstr_off = base + len(body)
    body += shstr
    shoff = base + len(body)
    ident = b"\x7fELF" + bytes([2, 2 if big else 1, 1]) + bytes(9)
    hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", 1, 247, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 0, 0)
    nsec = len(sections) + 2
    hdr = hdr[:0x3A] + struct.pack(e + "HHH", 64, nsec, nsec - 1)
    shdrs = struct.pack(e + "IIQQQQIIQQ", *([0] * 10))
    name_off = 1
    for (n, data), off in zip(sections.items(), offs):
        shdrs += struct.pack(e + "IIQQQQIIQQ", name_off, 1, 0, 0, off, len(data), 0, 0, 1, 0)
        name_off += len(n) + 1
    shdrs += struct.pack(e + "IIQQQQIIQQ", name_off, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
    return hdr + body + shdrs


def test_elf_section(tmp_path):
    b, ids = every_kind()
    blob = b.blob()
    img = _elf64({".text": b"\x95" + bytes(7), ".BTF": blob, ".BTF.ext": b"xx"})
    assert B.elf_btf_section(img) == blob
    p = tmp_path / "x.o"
    p.write_bytes(img)
    t = B.load(str(p))
    assert t.find("node").id == ids["node"] and t.source == str(p)
    assert B.elf_btf_section(_elf64({".BTF": blob}, big=True)) == blob
    with pytest.raises(BTFError, match="no .BTF section"):
        B.elf_btf_section(_elf64({".text": b"x"}))
    with pytest.raises(BTFError, match="not an ELF"):
        B.elf_btf_section(b"hello")
    with pytest.raises(BTFError, match="ELF"):
        B.elf_btf_section(img[:70])


def test_load_dispatch(tmp_path):
    b, ids = every_kind()
    p = tmp_path / "raw.btf"
    p.write_bytes(b.blob())
    assert B.load(p).find("node").id == ids["node"]
    assert B.load(b.blob()).find("node").id == ids["node"]
    with pytest.raises(BTFError, match="cannot read"):
        B.load(str(tmp_path / "missing"))
    with pytest.raises(TypeError):
        B.load(3.5)


def test_kind_is_an_enum_built_on_first_use():
    """Importing and parsing build no enum (bpfmaps' own code reads the plain
    numbers, ``_kind`` and ``KIND``); the first read of ``Type.kind`` or of ``Kind``
    builds the IntEnum, and every type class's ``kind`` is then its member, one enum
    for bpfmaps.btf, its model and its kinds."""
    code = (
        "import sys\n"
        "from bpfmaps.btf import parse, kinds\n"
        "from bpfmaps.btf.dumper import dump_value\n"
        "b = parse(open('/sys/kernel/btf/vmlinux', 'rb').read())\n"
        "t = b.find('task_struct')\n"
        "assert t._kind == kinds.KIND.STRUCT == 4 and t.members and len(b) > 1000\n"
        "assert kinds.kind_name(t._kind) == 'STRUCT' and kinds.kind_name(99) == 'kind 99'\n"
        "from bpfmaps.json_writer import JsonWriter\n"
        "w = JsonWriter(pretty=True)\n"
        "assert dump_value(b, b.find('list_head').id, bytes(16), w, plain=True) == 0\n"
        "assert '\"next\"' in w.getvalue() and '\"prev\"' in w.getvalue(), w.getvalue()\n"
        "assert 'enum' not in sys.modules and 'typing' not in sys.modules, sorted(sys.modules)\n"
        "k = t.kind\n"
        "import enum, bpfmaps.btf as B\n"
        "assert isinstance(k, enum.IntEnum) and repr(k) == '<Kind.STRUCT: 4>', repr(k)\n"
        "assert B.Kind is B.model.Kind is kinds.Kind and type(k) is B.Kind\n"
        "assert [c.kind for c in (B.Void, B.Int, B.Union, B.Enum64)] == [\n"
        "    B.Kind.UNKN, B.Kind.INT, B.Kind.UNION, B.Kind.ENUM64]\n"
        "class Late(B.Struct):\n"
        "    _kind = kinds.KIND.UNION\n"
        "assert Late.kind is B.Kind.UNION\n"
    )
    _child_asserts(code)


def test_kind_before_first_read_in_a_fresh_interpreter():
    """``from bpfmaps.btf import Kind`` and ``import *`` give the enum too."""
    code = (
        "import enum\n"
        "from bpfmaps.btf import *\n"
        "from bpfmaps.btf.model import Kind as K2\n"
        "assert issubclass(Kind, enum.IntEnum) and Kind is K2 and Kind(19).name == 'ENUM64'\n"
        "assert Struct.kind is Kind.STRUCT and VOID.kind is Kind.UNKN\n"
    )
    _child_asserts(code)


def _child_asserts(code: str) -> None:
    """Run ``code`` (assert statements) in a fresh interpreter: it must get through."""
    r = subprocess.run(
        [sys.executable, "-c", code + "print('ok')\n"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr


def test_has_special_fields():
    """Special fields (spin locks, timers, kptrs: the kernel's btf_parse_fields) found
    in the type, its members and array elements, through typedefs and modifiers, not
    behind plain pointers; every ``bpf_*`` struct counts (conservative)."""
    b = Builder()
    u32 = b.int("unsigned int", 4)
    lock = b.struct("bpf_spin_lock", 4, [("val", u32, 0)])
    timer = b.struct("bpf_timer", 16, [("a", u32, 0)])
    plain = b.struct("plain", 8, [("a", u32, 0), ("b", u32, 32)])
    with_lock = b.struct("with_lock", 8, [("l", lock, 0), ("n", u32, 32)])
    locked_t = b.const(b.typedef("locked_t", with_lock))
    timers = b.array(timer, u32, 2)
    in_array = b.struct("in_array", 40, [("n", u32, 0), ("t", timers, 64)])
    nested = b.struct("nested", 8, [("x", locked_t, 0), ("y", u32, 0)], union=True)
    kptr = b.ptr(b.type_tag("kptr", plain))
    with_kptr = b.struct("with_kptr", 8, [("p", kptr, 0)])
    to_lock = b.struct("to_lock", 8, [("p", b.ptr(with_lock), 0)])
    t = B.parse(b.blob(), source="special")
    special = [with_lock, locked_t, in_array, nested, with_kptr, lock, timers]
    assert [t.has_special_fields(i) for i in special] == [True] * len(special)
    assert [t.has_special_fields(i) for i in (u32, plain, to_lock, 0)] == [False] * 4
    assert t.has_special_fields(10**6)  # (a type id out of range: not copied raw)
