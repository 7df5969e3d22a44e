"""Maps created with BTF, on the fake kernel and the real one (``backend`` fixture):
the same user code gives the same results; plus kernel-vs-fake errno contracts."""

from __future__ import annotations

import ctypes
import dataclasses
import errno

import pytest

from bpfmaps import BPFError, Map, UpdateFlags
from bpfmaps import codecs as C
from bpfmaps.btf import parse
from bpfmaps.btf.fromcodec import bpf_spin_lock, btf_for_map
from bpfmaps.btf.writer import BTFWriter


class Backend_(ctypes.Structure):
    _fields_ = [("ip", ctypes.c_uint32), ("port", ctypes.c_uint16), ("weight", ctypes.c_uint8)]


class Locked(ctypes.Structure):
    _fields_ = [("lock", bpf_spin_lock), ("hits", ctypes.c_uint64), ("last", ctypes.c_uint32)]


class Bits(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint32, 3), ("b", ctypes.c_int32, 5)]


@pytest.fixture
def made(backend):
    out = []

    def create(*a, **kw):
        m = Map.create(*a, backend=backend, **kw)
        out.append(m)
        return m

    yield create
    for m in out:
        m.close()


def test_create_with_btf_and_read_it_back(made, backend):
    m = made("hash", 4, ctypes.sizeof(Backend_), 8, "btfty_be", key=C.U32, value=Backend_, btf=True)
    info = m.info
    assert info.btf_id > 0 and info.btf_key_type_id > 0 and info.btf_value_type_id > 0
    m[1] = Backend_(ip=0x0A000001, port=80, weight=3)
    t = m.typed(btf=True)
    v = t[1]
    assert type(v).__name__ == "Backend_" and (v.ip, v.port, v.weight) == (0x0A000001, 80, 3)
    v.port = 8080
    t[2] = v
    assert m[2].port == 8080 and dataclasses.asdict(t[2])["port"] == 8080
    # the BTF object: id, info (the blob we loaded), parse back
    fd = backend.btf_get_fd_by_id(info.btf_id)
    assert fd >= 0
    try:
        rc, binfo = backend.btf_info(fd)
        assert rc == 0 and binfo.id == info.btf_id
        btf = parse(binfo.data)
        assert btf[info.btf_value_type_id].name == "Backend_"
    finally:
        backend.close(fd)
    rc, nxt = backend.btf_get_next_id(info.btf_id - 1)
    assert rc == 0 and nxt == info.btf_id


def test_spin_lock_map_and_bpf_f_lock(made):
    m = made("hash", 4, ctypes.sizeof(Locked), 4, "btfty_lk", key=C.U32, value=Locked, btf=True)
    v = Locked(hits=5, last=9)
    v.lock.val = 123  # the kernel never copies the lock in from user space
    m.update(1, v, flags=UpdateFlags.LOCK)
    got = m.lookup(1, flags=UpdateFlags.LOCK)
    assert (got.hits, got.last, got.lock.val) == (5, 9, 0)
    m[2] = v
    assert m[2].lock.val == 0
    a = made("array", 4, ctypes.sizeof(Locked), 2, "btfty_la", key=C.U32, value=Locked, btf=True)
    a.update(0, v, flags=UpdateFlags.LOCK)
    assert a.lookup(0, flags=UpdateFlags.LOCK).hits == 5
    # without BTF the same flag is refused
    plain = made("hash", 4, ctypes.sizeof(Locked), 4, key=C.U32, value=Locked)
    with pytest.raises(BPFError) as ei:
        plain.update(1, v, flags=UpdateFlags.LOCK)
    assert ei.value.errno == errno.EINVAL


def test_create_errors(made):
    from bpfmaps import CodecError

    with pytest.raises(CodecError, match="value codec is 8 bytes but value_size is 4"):
        made("hash", 4, 4, 2, key=C.U32, value=C.U64, btf=True)
    with pytest.raises(CodecError, match="needs names="):
        made("hash", 4, 8, 2, key=C.U32, value=C.Struct("=II"), btf=True)
    # a spin lock is only allowed in hash/array maps
    with pytest.raises(BPFError) as ei:
        made("lru_hash", 4, ctypes.sizeof(Locked), 2, key=C.U32, value=Locked, btf=True)
    assert ei.value.errno == errno.EOPNOTSUPP


def test_struct_codec_and_bitfields(made):
    sc = C.Struct("=IHxx", names=("ip", "port"))
    m = made("array", 4, 8, 2, "btfty_sc", key=C.U32, value=sc, btf=True)
    m[0] = (1, 2)
    assert m.typed(btf=True)[0].port == 2
    b = made("array", 4, 4, 2, "btfty_bits", key=C.U32, value=Bits, btf=True)
    x = Bits()
    x.a, x.b = 5, -3
    b[1] = x
    v = b.typed(btf=True)[1]
    assert (v.a, v.b) == (5, -3)


# ---------------------------------------------------------------------- contract
def _blob_cases():
    """(label, blob, key id, value id, map type, key size, value size)."""
    cases = []
    good, kid, vid = btf_for_map(C.U32, Backend_, 4, 8)
    cases.append(("ok hash", good, kid, vid, 1, 4, 8))
    cases.append(("ok array", good, kid, vid, 2, 4, 8))
    cases.append(("value size mismatch", good, kid, vid, 1, 4, 12))
    cases.append(("key size mismatch", good, kid, vid, 1, 8, 8))
    cases.append(("array key not int", good, vid, vid, 2, 8, 8))
    cases.append(("value id out of range", good, kid, 99, 1, 4, 8))
    cases.append(("no value id", good, kid, 0, 1, 4, 8))
    cases.append(("queue with key type", good, kid, vid, 22, 0, 8))
    cases.append(("queue value only", good, 0, vid, 22, 0, 8))
    cases.append(("hash value only", good, 0, vid, 1, 4, 8))
    cases.append(("percpu hash", good, kid, vid, 5, 4, 8))
    cases.append(("lpm key not struct", good, kid, vid, 11, 4, 8))
    lk, lkid, lvid = btf_for_map(C.U32, Locked, 4, ctypes.sizeof(Locked))
    cases.append(("spin lock hash", lk, lkid, lvid, 1, 4, ctypes.sizeof(Locked)))
    cases.append(("spin lock percpu", lk, lkid, lvid, 5, 4, ctypes.sizeof(Locked)))
    cases.append(("spin lock lru", lk, lkid, lvid, 9, 4, ctypes.sizeof(Locked)))
    return cases


def _bad_blobs():
    out = []
    w = BTFWriter()
    u = w.add_int("unsigned int", 4)
    w.add_struct("s", 4, [("bad-name", u, 0)])
    out.append(("member name", w.encode()))
    w = BTFWriter()
    u = w.add_int("unsigned int", 4)
    w.add_struct("s", 4, [("a", u, 16)])
    out.append(("member past the end", w.encode()))
    w = BTFWriter()
    u = w.add_int("unsigned int", 4)
    w.add_array(u, 4, w.add_float("float", 4))
    out.append(("array index float", w.encode()))
    w = BTFWriter()
    u = w.add_int("unsigned int", 4)
    lk = w.add_struct("bpf_spin_lock", 4, [("val", u, 0)])
    w.add_struct("v", 8, [("l", lk, 0), ("a", u, 32, 3), ("b", u, 35, 5)])
    out.append(("spin lock with bitfields", w.encode()))
    good = btf_for_map(C.U32, Backend_, 4, 8)[0]
    out.append(("bad magic", b"\x00\x00" + good[2:]))
    out.append(("truncated", good[:30]))
    return out


@pytest.mark.kernel
def test_contract_btf_load_and_create(kernel_backend):
    from bpfmaps.testing import FakeKernel

    fake = FakeKernel(possible_cpus=kernel_backend.possible_cpus())
    results = {}
    for be in (kernel_backend, fake):
        out = []
        for label, blob in _bad_blobs():
            fd, _log = be.btf_load(blob, log_size=4096)
            out.append((label, fd if fd < 0 else "fd"))
            if fd >= 0:
                be.close(fd)
        for label, blob, kid, vid, mt, ks, vs in _blob_cases():
            bfd, log = be.btf_load(blob, log_size=4096)
            assert bfd >= 0, (be.name, label, log)
            fd = be.map_create(mt, ks, vs, 4, 0, b"", -1, 0, 0, bfd, kid, vid)
            if fd >= 0:
                rc, info = be.map_info(fd)
                out.append((label, "fd", info.btf_key_type_id, info.btf_value_type_id))
                be.close(fd)
            else:
                out.append((label, fd))
            be.close(bfd)
        results[be.name] = out
    assert results["fake"] == results["kernel"], results


@pytest.mark.kernel
def test_contract_btf_object_lifetime(kernel_backend):
    """The map keeps its BTF alive after the BTF fd is closed; the id goes with both."""
    from bpfmaps.testing import FakeKernel

    fake = FakeKernel()
    for be in (kernel_backend, fake):
        blob, kid, vid = btf_for_map(C.U32, Backend_, 4, 8)
        bfd, _ = be.btf_load(blob)
        fd = be.map_create(1, 4, 8, 4, 0, b"", -1, 0, 0, bfd, kid, vid)
        assert fd >= 0
        rc, info = be.map_info(fd)
        be.close(bfd)
        again = be.btf_get_fd_by_id(info.btf_id)
        assert again >= 0, be.name
        be.close(again)
        be.close(fd)
        if be.name == "fake":
            assert be.btf_get_fd_by_id(info.btf_id) == -errno.ENOENT


def test_percpu_and_keyless_maps_with_btf(made, backend):
    m = made("percpu_array", 4, ctypes.sizeof(Backend_), 2, "btfty_pc", key=C.U32, value=Backend_,
             btf=True)  # fmt: skip
    t = m.typed(btf=True)
    t[1] = [t.value_codec.inner.cls(ip=i, port=i + 1, weight=0) for i in range(m.ncpus)]
    assert [v.port for v in t[1]] == [i + 1 for i in range(m.ncpus)]
    # queue: no key type; the outcome (fd or errno) is the same on both backends (contract)
    try:
        q = made("queue", 0, 4, 4, "btfty_q", value=C.U32, btf=True)
    except BPFError as e:
        assert e.errno in (errno.EINVAL, 524)
    else:
        q.push(5)
        assert q.typed(btf=True).pop() == 5


@pytest.mark.kernel
def test_bpftool_dump_shows_member_names(kernel_backend, bpftool_bin):
    import json
    import subprocess

    with Map.create("hash", 4, ctypes.sizeof(Backend_), 4, "btfty_dump", key=C.U32,
                    value=Backend_, btf=True) as m:  # fmt: skip
        m[3] = Backend_(ip=7, port=80, weight=2)
        r = subprocess.run(
            [bpftool_bin, "-j", "map", "dump", "id", str(m.id)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        (elem,) = json.loads(r.stdout)
        assert elem["formatted"] == {"key": 3, "value": {"ip": 7, "port": 80, "weight": 2}}


def test_record_classes_are_codecs(made):
    """A generated record class works as key=/value= (and describes BTF for create)."""
    m = made("hash", 4, ctypes.sizeof(Backend_), 4, "btfty_rc", key=C.U32, value=Backend_,
             btf=True)  # fmt: skip
    cls = m.typed(btf=True).value_codec.cls
    again = made("hash", 4, ctypes.sizeof(Backend_), 4, "btfty_rc2", key=C.U32, value=cls,
                 btf=True)  # fmt: skip
    again[1] = cls(ip=1, port=2, weight=3)
    got = again[1]
    assert type(got) is cls and got == cls(ip=1, port=2, weight=3)
    assert again.typed(btf=True)[1].port == 2
