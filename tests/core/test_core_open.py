"""Opening paths, info, pin, freeze, close, context manager, repr and fd ownership,
against real kernel maps."""

from __future__ import annotations

import errno
import gc
import os
import warnings

import pytest

from bpfmaps import (
    AmbiguousMapError,
    CodecError,
    InvalidArgumentError,
    Map,
    MapClosedError,
    MapFlags,
    MapInfo,
    MapNotFoundError,
    MapType,
    NotBpffsError,
    PermissionDeniedError,
    PinExistsError,
    PinNotFoundError,
    Program,
    map_ids,
)
from bpfmaps import codecs as C

pytestmark = pytest.mark.kernel


def _fds() -> set[int]:
    return {int(x) for x in os.listdir("/proc/self/fd")}


def _is_open(fd: int) -> bool:
    # (not "fd in _fds()": listing /proc/self/fd opens a directory fd that takes the
    # lowest free number, i.e. the one just closed)
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _fd_target(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


# ---------------------------------------------------------------- create / info
def test_create_reports_info(mk, uname):
    name = uname("inf")
    m = mk("hash", 4, 12, 33, name=name, flags=MapFlags.NO_PREALLOC)
    info = m.info
    assert isinstance(info, MapInfo)
    assert info.type is MapType.HASH
    assert (info.key_size, info.value_size, info.max_entries) == (4, 12, 33)
    assert info.flags == int(MapFlags.NO_PREALLOC)
    assert info.name == name
    assert info.id > 0 and info.id in set(map_ids())
    # the convenience properties mirror info
    assert (m.id, m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags) == (
        info.id,
        name,
        MapType.HASH,
        4,
        12,
        33,
        int(MapFlags.NO_PREALLOC),
    )
    # btf ids are zero for maps created without BTF
    assert (info.btf_id, info.btf_key_type_id, info.btf_value_type_id) == (0, 0, 0)
    assert m.refresh_info() == info


def test_info_fields_are_the_kernel_structs_by_name(mk, uname):
    # the kernel backend builds MapInfo positionally: every field must be the struct
    # field of its name (map_flags is `flags`; the name is decoded), checked on a struct
    # whose fields all differ, and on a real map's
    from bpfmaps._ffi import ffi, lib
    from bpfmaps.kernel import KernelBackend, _map_info_record

    def by_name(raw):
        return {
            f: getattr(raw, {"flags": "map_flags"}.get(f, f))
            for f in MapInfo._fields
            if f != "name"
        }

    raw = ffi.new("struct bpfm_map_info *")
    numeric = [f for f in MapInfo._fields if f != "name"]
    for i, f in enumerate(numeric):
        setattr(raw, {"flags": "map_flags"}.get(f, f), 1000 + i)
    raw.name = b"distinct"
    rec = _map_info_record(raw)
    got = rec._asdict()
    assert {f: got[f] for f in numeric} == by_name(raw)
    assert (rec.raw_type, rec.name) == (1000 + numeric.index("type"), "distinct")

    m = mk("hash", 4, 12, 33, name=uname("ord"), flags=MapFlags.NO_PREALLOC)
    assert lib.bpfm_map_get_info(m.fileno(), raw) == 0
    rc, info = KernelBackend().map_info(m.fileno())
    assert rc == 0 and info is not None
    got = info._asdict()
    assert {f: got[f] for f in numeric} == by_name(raw) and info.name == m.name


def test_create_accepts_type_name_number_and_enum(mk):
    a = mk("lru_hash", 4, 4, 8)
    b = mk(MapType.LRU_HASH, 4, 4, 8)
    c = mk(int(MapType.LRU_HASH), 4, 4, 8)
    assert a.type is b.type is c.type is MapType.LRU_HASH
    assert len({a.id, b.id, c.id}) == 3


@pytest.mark.parametrize("name", ["a" * 15, "x.y_Z9", ""])
def test_create_valid_names(mk, name):
    assert mk("array", 4, 4, 1, name=name).name == name


@pytest.mark.parametrize("name", ["a" * 16, "bad-name", "sp ace", "ünï"])
def test_create_invalid_names_raise_before_the_kernel(kernel_backend, name):
    before = _fds()
    with pytest.raises(ValueError, match="invalid map name"):
        Map.create("array", 4, 4, 1, name=name)
    assert _fds() == before


def test_create_rejected_sizes_is_invalid_argument(kernel_backend):
    # a hash map with a zero-size key is rejected by the kernel with EINVAL
    with pytest.raises(InvalidArgumentError) as ei:
        Map.create("hash", 0, 4, 1, name="bad")
    e = ei.value
    assert e.errno == errno.EINVAL
    assert e.op == "create"
    assert "bad" in e.map
    assert e.hint


def test_map_in_map_requires_inner_map(kernel_backend):
    with pytest.raises(ValueError, match="inner_map"):
        Map.create("hash_of_maps", 4, 4, 4)


def test_create_with_inner_map_fd_or_map(mk):
    inner = mk("array", 4, 8, 2)
    a = mk("array_of_maps", 4, 4, 3, inner_map=inner)
    b = mk("hash_of_maps", 4, 4, 3, inner_map=inner.fileno())
    assert a.type is MapType.ARRAY_OF_MAPS and b.type is MapType.HASH_OF_MAPS
    a[b"\0\0\0\0"] = inner
    assert a[b"\0\0\0\0"] == inner.id


# ---------------------------------------------------------------- from_id
def test_from_id_opens_the_same_map(mk):
    m = mk("hash", 4, 4, 8, key=C.U32, value=C.U32)
    m[7] = 70
    with Map.from_id(m.id, key=C.U32, value=C.U32) as m2:
        assert m2.id == m.id
        assert m2.fileno() != m.fileno()
        assert m2[7] == 70
        m2[8] = 80
    assert m[8] == 80


def test_from_id_missing(kernel_backend):
    # ids are allocated increasingly; one above the largest existing id is free
    free_id = max(map_ids(), default=0) + 1000
    with pytest.raises(MapNotFoundError) as ei:
        Map.from_id(free_id)
    assert isinstance(ei.value, LookupError)
    assert ei.value.errno == errno.ENOENT
    assert str(free_id) in ei.value.map


def test_readonly_and_writeonly_exclusive(mk):
    m = mk("array", 4, 4, 1)
    with pytest.raises(ValueError):
        Map.from_id(m.id, readonly=True, writeonly=True)


# ---------------------------------------------------------------- from_pin / pin
def test_pin_and_from_pin(mk, bpffs):
    m = mk("hash", 4, 8, 4, key=C.U32, value=C.U64)
    path = os.path.join(bpffs, "m1")
    m.pin(path)
    assert os.path.exists(path)
    m[1] = 11
    with Map.from_pin(path, key=C.U32, value=C.U64) as p:
        assert p.id == m.id
        assert p[1] == 11
        p[2] = 22
    assert m[2] == 22


def test_pin_twice_is_pin_exists(mk, bpffs):
    m = mk("array", 4, 4, 1)
    path = os.path.join(bpffs, "dup")
    m.pin(path)
    with pytest.raises(PinExistsError) as ei:
        m.pin(path)
    assert isinstance(ei.value, FileExistsError)
    assert ei.value.errno == errno.EEXIST
    assert ei.value.op == "pin"
    assert path in ei.value.map


def test_pin_outside_bpffs_is_not_bpffs(mk, tmp_path):
    m = mk("array", 4, 4, 1)
    path = str(tmp_path / "pinned")
    with pytest.raises(NotBpffsError) as ei:
        m.pin(path)
    e = ei.value
    assert isinstance(e, ValueError)
    assert e.errno in (errno.EPERM, errno.EINVAL)
    assert e.op == "pin"
    assert "bpf" in e.hint
    assert not os.path.exists(path)


def test_from_pin_missing(bpffs):
    with pytest.raises(PinNotFoundError) as ei:
        Map.from_pin(os.path.join(bpffs, "nothing"))
    assert isinstance(ei.value, FileNotFoundError)
    assert ei.value.errno == errno.ENOENT


def test_from_pin_on_regular_file_outside_bpffs(kernel_backend, tmp_path):
    # the kernel answers EACCES for a path that is not a bpffs inode
    f = tmp_path / "plain"
    f.write_bytes(b"")
    with pytest.raises(NotBpffsError) as ei:
        Map.from_pin(str(f))
    assert ei.value.op == "open_pin"
    assert "bpf file system" in ei.value.hint


def test_from_pin_of_a_program_is_rejected(kernel_backend, bpffs):
    path = os.path.join(bpffs, "prog")
    with Program.load_trivial() as p:
        assert kernel_backend.obj_pin(p.fileno(), path) == 0
    before = _fds()
    with pytest.raises(InvalidArgumentError) as ei:
        Map.from_pin(path)
    assert "not a BPF map" in ei.value.hint
    assert _fds() == before


def test_from_pin_readonly_handle(mk, bpffs):
    m = mk("hash", 4, 4, 4, key=C.U32, value=C.U32)
    m[1] = 1
    path = os.path.join(bpffs, "ro")
    m.pin(path)
    with Map.from_pin(path, readonly=True, key=C.U32, value=C.U32) as ro:
        assert ro[1] == 1
        with pytest.raises(PermissionDeniedError) as ei:
            ro[2] = 2
        assert "read-only" in ei.value.hint
    assert 2 not in m


# ---------------------------------------------------------------- from_name
def test_from_name_exact_match(mk, uname):
    name = uname("nm")
    m = mk("array", 4, 4, 2, name=name)
    # a map whose name merely starts with ours must not match
    mk("array", 4, 4, 2, name=name + "x")
    with Map.from_name(name) as n:
        assert n.id == m.id
        assert n.name == name


def test_from_name_ambiguous_lists_ids(mk, uname):
    name = uname("amb")
    a = mk("array", 4, 4, 1, name=name)
    b = mk("hash", 4, 4, 1, name=name)
    before = _fds()
    with pytest.raises(AmbiguousMapError) as ei:
        Map.from_name(name)
    assert isinstance(ei.value, LookupError)
    assert sorted(ei.value.ids) == sorted([a.id, b.id])
    assert str(a.id) in str(ei.value) and str(b.id) in str(ei.value)
    assert _fds() == before


def test_from_name_none(kernel_backend, uname):
    name = uname("none")
    with pytest.raises(MapNotFoundError) as ei:
        Map.from_name(name)
    assert ei.value.errno == errno.ENOENT
    assert name in str(ei.value)


def test_from_name_too_long(kernel_backend):
    with pytest.raises(ValueError, match="15"):
        Map.from_name("x" * 16)


def test_from_name_readonly(mk, uname):
    name = uname("nro")
    mk("array", 4, 4, 1, name=name)
    with Map.from_name(name, readonly=True) as ro, pytest.raises(PermissionDeniedError):
        ro[b"\0\0\0\0"] = b"\1\0\0\0"


# ---------------------------------------------------------------- from_fd
def test_from_fd_duplicates(mk):
    m = mk("hash", 4, 4, 4)
    m[b"aaaa"] = b"bbbb"
    with Map.from_fd(m.fileno()) as d:
        assert d.fileno() != m.fileno()
        assert d.id == m.id
        assert d[b"aaaa"] == b"bbbb"
    # closing the duplicate leaves the original fd open and usable
    assert _fd_target(m.fileno()) == "anon_inode:bpf-map"
    assert m[b"aaaa"] == b"bbbb"


def test_from_fd_of_non_map_fd(kernel_backend):
    r, w = os.pipe()
    try:
        before = _fds()
        with pytest.raises(InvalidArgumentError):
            Map.from_fd(r)
        assert _fds() == before
    finally:
        os.close(r)
        os.close(w)


def test_from_fd_of_program_fd(kernel_backend):
    with Program.load_trivial() as p:
        with pytest.raises(InvalidArgumentError):
            Map.from_fd(p.fileno())
        assert _fd_target(p.fileno()) == "anon_inode:bpf-prog"


def test_from_fd_bad_fd(kernel_backend):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as ei:
        Map.from_fd(r)
    assert ei.value.errno == errno.EBADF


# ---------------------------------------------------------------- readonly / writeonly
def test_readonly_handle_reads_but_cannot_write(mk):
    m = mk("hash", 4, 4, 4, key=C.U32, value=C.U32)
    m[1] = 10
    with Map.from_id(m.id, readonly=True, key=C.U32, value=C.U32) as ro:
        assert ro[1] == 10
        assert list(ro) == [1]
        for op in (lambda: ro.__setitem__(2, 20), lambda: ro.__delitem__(1)):
            with pytest.raises(PermissionDeniedError) as ei:
                op()
            assert isinstance(ei.value, PermissionError)
            assert ei.value.errno == errno.EPERM
            assert ei.value.hint == "the map was opened read-only"
    assert dict(m.items()) == {1: 10}


def test_writeonly_handle_writes_but_cannot_read(mk):
    m = mk("hash", 4, 4, 4, key=C.U32, value=C.U32)
    with Map.from_id(m.id, writeonly=True, key=C.U32, value=C.U32) as wo:
        wo[3] = 30
        for op in (lambda: wo[3], lambda: 3 in wo, lambda: list(wo), lambda: wo.get(3)):
            with pytest.raises(PermissionDeniedError) as ei:
                op()
            assert ei.value.errno == errno.EPERM
            assert "write-only" in ei.value.hint
    assert m[3] == 30


# ---------------------------------------------------------------- freeze
def test_freeze_blocks_user_space_writes(mk):
    m = mk("array", 4, 4, 2, key=C.U32, value=C.U32)
    m[0] = 5
    m.freeze()
    with pytest.raises(PermissionDeniedError) as ei:
        m[1] = 6
    e = ei.value
    assert e.errno == errno.EPERM and e.op == "update"
    assert "frozen" in e.hint
    assert m[0] == 5 and m[1] == 0
    # other handles see the frozen state too
    with Map.from_id(m.id, key=C.U32, value=C.U32) as other, pytest.raises(PermissionError):
        other[0] = 1


# ---------------------------------------------------------------- lifecycle
def test_close_is_idempotent_and_closes_the_fd(kernel_backend):
    m = Map.create("array", 4, 4, 1)
    fd = m.fileno()
    assert _fd_target(fd) == "anon_inode:bpf-map"
    m.close()
    assert m.closed
    assert not _is_open(fd)
    m.close()
    assert m.closed
    with pytest.raises(MapClosedError):
        m.fileno()
    with pytest.raises(MapClosedError):
        m[b"\0\0\0\0"]
    with pytest.raises(MapClosedError):
        m[b"\0\0\0\0"] = b"\0\0\0\0"


def test_context_manager_closes(kernel_backend):
    with Map.create("array", 4, 4, 1) as m:
        fd = m.fileno()
        assert not m.closed
    assert m.closed
    assert not _is_open(fd)


def test_context_manager_closes_on_exception(kernel_backend):
    with pytest.raises(RuntimeError), Map.create("array", 4, 4, 1) as m:
        raise RuntimeError("boom")
    assert m.closed


def test_views_share_the_fd(mk):
    m = mk("array", 4, 4, 2)
    t = m.typed(key=C.U32, value=C.U32)
    t[1] = 9
    assert m.raw[b"\1\0\0\0"] == b"\x09\0\0\0"
    assert t.fileno() == m.fileno() == m.raw.fileno()


def test_repr(mk, uname):
    name = uname("rep")
    m = mk("lru_hash", 4, 8, 16, name=name)
    r = repr(m)
    for part in (f"id={m.id}", repr(name), "LRU_HASH", "key_size=4", "value_size=8"):
        assert part in r
    assert f"fd={m.fileno()}" in r
    m.close()
    assert "closed" in repr(m)


def test_unclosed_map_warns_and_closes(kernel_backend):
    m = Map.create("array", 4, 4, 1)
    fd = m.fileno()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        del m
        gc.collect()
    msgs = [str(x.message) for x in w if issubclass(x.category, ResourceWarning)]
    assert len(msgs) == 1 and "unclosed BPF map" in msgs[0]
    assert not _is_open(fd)


def test_closed_map_does_not_warn(kernel_backend):
    m = Map.create("array", 4, 4, 1)
    m.close()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        del m
        gc.collect()
    assert not [x for x in w if issubclass(x.category, ResourceWarning)]


def test_codec_size_mismatch_at_open_closes_fd_once(mk):
    """A typed open that fails its size check must close the new fd exactly once:
    a second close later (from the handle's finalizer) could hit an unrelated fd
    that reused the number."""
    m = mk("hash", 4, 4, 4)
    before = _fds()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with pytest.raises(CodecError, match="8 bytes but the map's key is 4"):
            Map.from_id(m.id, key=C.U64)
        assert _fds() == before
        r, wr = os.pipe()  # likely reuses the number of the fd just closed
        try:
            gc.collect()
            os.fstat(r)
            os.fstat(wr)
        finally:
            os.close(r)
            os.close(wr)
    assert not [x for x in w if issubclass(x.category, ResourceWarning)]


def test_open_and_close_many_leaves_no_fds(mk, uname, bpffs):
    name = uname("many")
    m = mk("hash", 4, 4, 4, name=name)
    m.pin(os.path.join(bpffs, "many"))
    before = _fds()
    for _ in range(20):
        Map.from_id(m.id).close()
        Map.from_fd(m.fileno()).close()
        Map.from_pin(os.path.join(bpffs, "many")).close()
        Map.from_name(name).close()
    assert _fds() == before
