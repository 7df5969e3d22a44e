"""The shim's BTF commands and the loaders on the real kernel."""

from __future__ import annotations

import errno

import pytest

from bpfmaps import btf as B
from bpfmaps.btf import Kind
from bpfmaps.errors import BPFError

from ._btfbuild import Builder

pytestmark = pytest.mark.kernel


def _small() -> bytes:
    b = Builder()
    i = b.int("int", 4, signed=True)
    c = b.int("char", 1, char=True)
    a = b.array(c, i, 8)
    b.struct("pair", 12, [("x", i, 0), ("name", a, 32)])
    return b.blob()


def test_vmlinux_file_and_id_agree(kernel_backend):
    v = B.vmlinux()
    assert len(v) > 1000
    ts = v.find("task_struct", Kind.STRUCT)
    assert ts.size > 1000 and any(m.name == "pid" for m in ts.members)
    assert v.size_of(v.find("list_head").id) == 16
    # walk kernel BTF ids: the first kernel BTF named vmlinux is the same blob
    rc, nid = kernel_backend.btf_get_next_id(0)
    assert rc == 0 and nid > 0
    found = False
    start = 0
    while True:
        rc, nid = kernel_backend.btf_get_next_id(start)
        if rc < 0:
            assert rc == -errno.ENOENT
            break
        fd = kernel_backend.btf_get_fd_by_id(nid)
        if fd < 0:  # freed meanwhile
            start = nid
            continue
        r, info = kernel_backend.btf_info(fd)
        kernel_backend.close(fd)
        assert r == 0 and info.id == nid
        if info.kernel_btf and info.name == "vmlinux":
            assert info.data == _read(B.VMLINUX_PATH)
            t = B.load(nid)
            assert len(t) == len(v) and t.source.endswith("(vmlinux)")
            found = True
            break
        start = nid
    assert found


def test_btf_load_info_roundtrip(kernel_backend):
    blob = _small()
    fd, log = kernel_backend.btf_load(blob, log_size=4096)
    assert fd > 0, log
    try:
        rc, info = kernel_backend.btf_info(fd)
        assert rc == 0 and info.data == blob and not info.kernel_btf
        t = B.load(info.id, backend=kernel_backend)
        assert t.source == f"btf id {info.id}"
        p = t.find("pair")
        assert [m.name for m in p.members] == ["x", "name"]
        # the id is visible through GET_NEXT_ID
        rc, nid = kernel_backend.btf_get_next_id(info.id - 1)
        assert rc == 0 and nid == info.id
    finally:
        kernel_backend.close(fd)


def test_btf_load_rejects_with_log(kernel_backend):
    b = Builder()
    i = b.int("int", 4, signed=True)
    b.struct("bad", 2, [("x", i, 0)])  # member beyond the struct's size
    fd, log = kernel_backend.btf_load(b.blob(), log_size=65536)
    assert fd == -errno.EINVAL
    assert "Member exceeds struct_size" in log or log
    fd, log = kernel_backend.btf_load(b.blob())
    assert fd == -errno.EINVAL and log == ""


def test_errors(kernel_backend):
    with pytest.raises(BPFError) as ei:
        B.load(0x7FFFFFF0, backend=kernel_backend)
    assert ei.value.errno == errno.ENOENT
    mfd = kernel_backend.map_create(2, 4, 4, 1, 0, b"nobtf")
    try:
        rc, info = kernel_backend.btf_info(mfd)
        assert rc == -errno.EINVAL and info is None
    finally:
        kernel_backend.close(mfd)
    from bpfmaps import Map

    with Map.create("array", key_size=4, value_size=4, max_entries=1) as m:
        with pytest.raises(B.BTFError, match="has no BTF"):
            B.load(m)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
