"""Every error class, provoked by the real kernel condition, plus the errno table."""

from __future__ import annotations

import errno
import os
import pickle

import pytest

import bpfmaps
from bpfmaps import (
    ENOTSUPP,
    BPFError,
    BpfmapsError,
    InvalidArgumentError,
    KeyExistsError,
    KeyNotFoundError,
    Map,
    MapFullError,
    NoSpaceError,
    NotBpffsError,
    NotSupportedError,
    PermissionDeniedError,
    PinExistsError,
    PinNotFoundError,
    UpdateFlags,
)
from bpfmaps import codecs as C
from bpfmaps import errors as E


def _check(e: BPFError, cls, err, op, m: Map | None):
    assert type(e) is cls
    assert isinstance(e, BpfmapsError) and isinstance(e, OSError)
    assert e.errno == err
    assert e.strerror == E.strerror(err)
    assert e.op == op
    if m is not None:
        assert e.map == m.info.describe()
        assert str(m.id) in str(e)
    assert e.hint
    assert e.hint in str(e)
    assert errno.errorcode[err] in str(e)


@pytest.mark.kernel
def test_missing_key(mk, uname):
    m = mk("hash", 4, 4, 4, name=uname("err"), key=C.U32, value=C.U32)
    with pytest.raises(KeyError) as ei:
        m[42]
    e = ei.value
    _check(e, KeyNotFoundError, errno.ENOENT, "lookup", m)
    assert e.key == 42
    assert e.hint == "key does not exist"
    with pytest.raises(KeyNotFoundError) as ei:
        del m[42]
    assert ei.value.op == "delete"


@pytest.mark.kernel
def test_noexist_on_existing(mk):
    m = mk("hash", 4, 4, 4, key=C.U32, value=C.U32)
    m[1] = 1
    with pytest.raises(KeyExistsError) as ei:
        m.update(1, 2, flags=UpdateFlags.NOEXIST)
    _check(ei.value, KeyExistsError, errno.EEXIST, "update", m)
    assert "NOEXIST" in ei.value.hint


@pytest.mark.kernel
def test_full_hash(mk):
    m = mk("hash", 4, 4, 2, key=C.U32, value=C.U32)
    m[1] = m[2] = 0
    with pytest.raises(MapFullError) as ei:
        m[3] = 0
    _check(ei.value, MapFullError, errno.E2BIG, "update", m)
    assert ei.value.hint == "map full (max_entries=2)"


@pytest.mark.kernel
def test_array_index_out_of_range(mk):
    m = mk("array", 4, 4, 3, key=C.U32, value=C.U32)
    with pytest.raises(MapFullError) as ei:
        m[3] = 0
    _check(ei.value, MapFullError, errno.E2BIG, "update", m)
    assert ei.value.hint == "array index out of range (max_entries=3)"


@pytest.mark.kernel
def test_delete_on_array(mk):
    m = mk("array", 4, 4, 3, key=C.U32, value=C.U32)
    with pytest.raises(ValueError) as ei:
        del m[0]
    _check(ei.value, InvalidArgumentError, errno.EINVAL, "delete", m)
    assert "cannot be deleted" in ei.value.hint


@pytest.mark.kernel
def test_lock_flag_without_spin_lock(mk):
    m = mk("hash", 4, 4, 2, key=C.U32, value=C.U32)
    with pytest.raises(InvalidArgumentError):
        m.update(1, 1, flags=UpdateFlags.LOCK)
    with pytest.raises(InvalidArgumentError):
        m.lookup(1, flags=UpdateFlags.LOCK)
    assert 1 not in m


@pytest.mark.kernel
def test_frozen_map(mk):
    m = mk("hash", 4, 4, 2, key=C.U32, value=C.U32)
    m[1] = 1
    m.freeze()
    for op, name in ((lambda: m.__setitem__(1, 2), "update"), (lambda: m.__delitem__(1), "delete")):
        with pytest.raises(PermissionError) as ei:
            op()
        _check(ei.value, PermissionDeniedError, errno.EPERM, name, m)
        assert "frozen" in ei.value.hint
    assert m[1] == 1


@pytest.mark.kernel
def test_read_only_handle(mk):
    m = mk("hash", 4, 4, 2, key=C.U32, value=C.U32)
    with Map.from_id(m.id, readonly=True, key=C.U32, value=C.U32) as ro:
        with pytest.raises(PermissionError) as ei:
            ro[1] = 1
        _check(ei.value, PermissionDeniedError, errno.EPERM, "update", ro)
        assert ei.value.hint == "the map was opened read-only"


@pytest.mark.kernel
def test_not_bpffs(mk, tmp_path):
    m = mk("hash", 4, 4, 2)
    with pytest.raises(NotBpffsError) as ei:
        m.pin(str(tmp_path / "x"))
    e = ei.value
    assert isinstance(e, ValueError) and isinstance(e, BPFError)
    assert e.errno == errno.EPERM
    assert e.op == "pin"
    assert str(tmp_path) in e.map
    assert "mount -t bpf" in e.hint


@pytest.mark.kernel
def test_pin_errors(mk, bpffs):
    m = mk("hash", 4, 4, 2)
    p = os.path.join(bpffs, "p")
    m.pin(p)
    with pytest.raises(PinExistsError) as ei:
        m.pin(p)
    assert ei.value.errno == errno.EEXIST
    with pytest.raises(PinNotFoundError) as ei:
        Map.from_pin(p + "nope")
    assert ei.value.errno == errno.ENOENT and ei.value.op == "open_pin"


@pytest.mark.kernel
def test_enotsupp_from_the_kernel(mk, kernel_backend):
    """LOOKUP_AND_DELETE_ELEM on a plain array: the kernel's internal ENOTSUPP (524)."""
    m = mk("array", 4, 4, 2)
    buf = kernel_backend.alloc(4)
    rc = kernel_backend.map_lookup_and_delete_elem(m.fileno(), b"\0\0\0\0", buf, 0)
    assert rc == -ENOTSUPP
    e = E.error_from_errno(-rc, "lookup_and_delete")
    assert type(e) is NotSupportedError
    assert "not supported" in e.strerror.lower()
    assert "ENOTSUPP" in str(e)


# ---------------------------------------------------------------- pure checks
def test_strerror_524():
    assert ENOTSUPP == 524
    assert "not supported" in E.strerror(524).lower()
    assert "Unknown" not in E.strerror(524)
    assert E.strerror(errno.ENOENT) == os.strerror(errno.ENOENT)


@pytest.mark.parametrize(
    "err, op, cls, builtin",
    [
        (errno.ENOENT, "lookup", KeyNotFoundError, KeyError),
        (errno.ENOENT, "next_key", KeyNotFoundError, KeyError),
        (errno.ENOENT, "pop", KeyNotFoundError, KeyError),
        (errno.ENOENT, "open_by_id", E.MapNotFoundError, LookupError),
        (errno.ENOENT, "open_pin", PinNotFoundError, FileNotFoundError),
        (errno.EEXIST, "update", KeyExistsError, OSError),
        (errno.EEXIST, "pin", PinExistsError, FileExistsError),
        (errno.E2BIG, "update", MapFullError, OSError),
        (errno.ENOSPC, "lookup_batch", NoSpaceError, OSError),
        (errno.EPERM, "update", PermissionDeniedError, PermissionError),
        (errno.EACCES, "lookup", PermissionDeniedError, PermissionError),
        (errno.EINVAL, "delete", InvalidArgumentError, ValueError),
        (ENOTSUPP, "update_batch", NotSupportedError, OSError),
        (errno.EOPNOTSUPP, "update_batch", NotSupportedError, OSError),
        (errno.ENOMEM, "create", BPFError, OSError),
    ],
)
def test_errno_table(err, op, cls, builtin):
    e = E.error_from_errno(err, op, map="id 1 'x'")
    assert type(e) is cls
    assert isinstance(e, builtin)
    assert e.errno == err and e.op == op and e.map == "id 1 'x'"
    assert e.hint
    # negative errnos (as the shim returns them) are accepted too
    assert type(E.error_from_errno(-err, op)) is cls


@pytest.mark.parametrize("err", [errno.EPERM, errno.EACCES, errno.EINVAL])
def test_not_bpffs_detail(err):
    for op in ("pin", "open_pin"):
        e = E.error_from_errno(err, op, detail="not-bpffs")
        assert type(e) is NotBpffsError
        assert e.detail is None


def test_enoent_on_non_element_op_is_plain():
    e = E.error_from_errno(errno.ENOENT, "freeze")
    assert type(e) is BPFError
    assert not isinstance(e, KeyError)


def test_errors_pickle():
    e = E.error_from_errno(errno.E2BIG, "update", map="id 3 'm'", key=b"\1\2", max_entries=9)
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is MapFullError
    assert (e2.errno, e2.op, e2.map, e2.hint, e2.key) == (e.errno, e.op, e.map, e.hint, e.key)
    assert "max_entries=9" in e2.hint
    assert str(e2) == str(e)


def test_all_public_error_classes_exported():
    for name in E.__all__:
        obj = getattr(E, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert getattr(bpfmaps, name) is obj
            assert issubclass(obj, BpfmapsError)


def test_exception_fields_are_formal():
    """BatchError, ParseError and CommandFailed carry their documented fields."""
    e = E.BatchError("x", applied=1, index=2)
    assert (e.total, e.also_applied, e.rollback_errors, e.results) == (None, [], [], None)
    e = E.BatchError("x", applied=1, index=2, total=5, also_applied=[(3, 4)], results=[1])
    assert (e.total, e.also_applied, e.results) == (5, [(3, 4)], [1])
    p = E.ParseError("m")
    assert (p.word_index, p.usage) == (None, False)
    from bpfmaps.bpftool.bytes import parse_bytes

    with pytest.raises(E.ParseError) as ei:
        parse_bytes(["1", "2", "zz"], 4)
    assert ei.value.word_index == 2
    with pytest.raises(E.ParseError) as ei:
        parse_bytes(["1", "2"], 4)
    assert ei.value.word_index == 2
    c = E.CommandFailed("update failed: File exists", errno=errno.EEXIST, line=3, index=2)
    assert isinstance(c, BpfmapsError) and c.status == (256 - errno.EEXIST) & 0xFF
    assert bpfmaps.CommandFailed is E.CommandFailed
    from bpfmaps.bpftool.runner import CommandFailed

    assert CommandFailed is E.CommandFailed


def test_bulk_failure_counts_total(backend):
    from bpfmaps import bulk

    with Map.create("hash", 4, 4, 2, backend=backend) as m:
        keys = [i.to_bytes(4, "little") for i in range(4)]
        with pytest.raises(E.BatchError) as ei:
            bulk.update_many(m, keys, keys)
        assert ei.value.total == 4 and ei.value.applied == 2
        assert ei.value.also_applied == [] and ei.value.rollback_errors == []


def test_split_classes_are_public_names_of_errors():
    """The classes that live in bpfmaps._errbase and bpfmaps._errkinds (the latter built
    on first use, for start-up) are still bpfmaps.errors' own: every name of __all__
    resolves and is in dir(), classes have errors as their module (reprs, tracebacks,
    pickles and the API docs name bpfmaps.errors) and are the same objects through the
    package root; a pickle round trip rebuilds the same class."""
    for name in E.__all__:
        obj = getattr(E, name)
        assert name in dir(E)
        if isinstance(obj, type):
            assert obj.__module__ == "bpfmaps.errors", name
            assert getattr(bpfmaps, name) is obj
    e = E.error_from_errno(errno.ENOENT, "lookup", key=b"\x01")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is E.KeyNotFoundError and str(back) == str(e)
    a = pickle.loads(pickle.dumps(E.AmbiguousMapError("m", [3, 4])))
    assert type(a) is E.AmbiguousMapError and a.ids == [3, 4]
    with pytest.raises(AttributeError, match="NoSuchError"):
        E.NoSuchError  # noqa: B018
