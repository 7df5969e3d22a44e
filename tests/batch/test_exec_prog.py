"""The in-kernel exec program (``bpfmaps._kexec``, ``_pexec.c``): segments of update and
delete ops of the exec loop (``bpfm_exec_print``) applied by one BPF program run each.
Its reports (rc, failing op index, applied count) and the final map contents are the
syscall path's (hypothesis, real kernel), over HASH (preallocated and NO_PREALLOC) and
ARRAY maps, with every refusal: EEXIST, ENOENT, E2BIG (a full hash map, an array index
out of range), EINVAL (array delete); two maps of different key/value sizes."""

from __future__ import annotations

import errno
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import Map, _kexec
from bpfmaps._kloops import KernelLoops
from bpfmaps.loops import OP_DELETE, OP_FORMAT, OP_UPDATE
from bpfmaps.types import MapFlags

pytestmark = pytest.mark.kernel

_OP = struct.Struct(OP_FORMAT)
_NO_KEY = 0xFFFFFFFF
_LOOKUP = 3

#: (type, flags, key size, value size, max entries) of the two maps of a case
_SHAPES = [
    (("hash", 0, 8, 32, 6), ("hash", 0, 4, 8, 4)),
    (("hash", MapFlags.NO_PREALLOC, 8, 16, 5), ("array", 0, 4, 40, 4)),
    (("array", 0, 4, 12, 6), ("hash", MapFlags.NO_PREALLOC, 16, 4, 3)),
]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _key(shape: tuple, k: int) -> bytes:
    return k.to_bytes(shape[2], "little")


def _plan(shapes, ops):
    """The packed records, keys and values of ``ops``: (kind, flags, map, key, value)."""
    recs, keys, values = [], bytearray(), bytearray()
    for line, (kind, flags, m, k, v) in enumerate(ops):
        vs = shapes[m][3]
        ko = len(keys)
        keys += _key(shapes[m], k)
        vo = len(values)
        if kind == OP_UPDATE:
            values += bytes([v]) * vs
        recs.append(_OP.pack(kind, flags, m, line + 1, ko, vo, 0))
    return b"".join(recs), bytes(keys) or b"\0", bytes(values) or b"\0"


def _contents(m: Map) -> dict:
    return {bytes(k): bytes(v) for k, v in m.items()}


def _run(kb, shapes, ops, prog: bool):
    """(rc, done, contents of each map, exec program runs) of ``ops`` on new maps."""
    maps = [Map.create(t, ks, vs, n, flags=f, backend=kb) for t, f, ks, vs, n in shapes]
    try:
        fds = [m.fileno() for m in maps]
        rec, keys, values = _plan(shapes, ops)
        lp = KernelLoops()
        ksz, vsz = [s[2] for s in shapes], [s[3] for s in shapes]
        runs = 0
        if prog:
            p = _kexec.open_for(fds, [m.info for m in maps])
            assert p is not None
            with p:
                rc, done = lp.exec_ops(rec, len(ops), fds, ksz, vsz, keys, values)
                runs = p.runs
        else:
            rc, done = lp.exec_ops(rec, len(ops), fds, ksz, vsz, keys, values)
        return rc, done, [_contents(m) for m in maps], runs
    finally:
        for m in maps:
            m.close()


_op = st.tuples(
    st.sampled_from([(OP_UPDATE, 0), (OP_UPDATE, 1), (OP_UPDATE, 2), (OP_DELETE, 0)]),
    st.integers(0, 1),
    st.integers(0, 7),  # beyond max_entries: full hash maps, array index out of range
    st.integers(0, 255),
).map(lambda t: (t[0][0], t[0][1], t[1], t[2], t[3]))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(shape=st.sampled_from(_SHAPES), ops=st.lists(_op, max_size=40))
def test_program_path_equals_syscall_path(kernel_backend, shape, ops):
    want = _run(kernel_backend, shape, ops, prog=False)
    got = _run(kernel_backend, shape, ops, prog=True)
    assert got[:3] == want[:3]
    if len(ops) >= 2:
        assert got[3] >= 1  # the program did run (a single op keeps its syscall)


@pytest.mark.parametrize(
    "shape, ops, err",
    [
        ((("hash", 0, 4, 8, 4),), [(OP_UPDATE, 0, 0, 1, 1), (OP_UPDATE, 1, 0, 1, 2)], errno.EEXIST),
        ((("hash", 0, 4, 8, 4),), [(OP_UPDATE, 0, 0, 5, 1), (OP_UPDATE, 2, 0, 1, 1)], errno.ENOENT),
        ((("hash", 0, 4, 8, 4),), [(OP_UPDATE, 0, 0, 5, 1), (OP_DELETE, 0, 0, 1, 0)], errno.ENOENT),
        ((("hash", 0, 4, 8, 2),), [(OP_UPDATE, 0, 0, k, 1) for k in range(3)], errno.E2BIG),
        ((("array", 0, 4, 8, 2),), [(OP_UPDATE, 0, 0, 1, 1), (OP_UPDATE, 0, 0, 2, 1)], errno.E2BIG),
        (
            (("array", 0, 4, 8, 2),),
            [(OP_UPDATE, 0, 0, 1, 1), (OP_DELETE, 0, 0, 1, 0)],
            errno.EINVAL,
        ),
        (
            (("array", 0, 4, 8, 2),),
            [(OP_UPDATE, 0, 0, 0, 1), (OP_UPDATE, 1, 0, 1, 1)],
            errno.EEXIST,
        ),
    ],
)
def test_each_refusal_stops_at_its_op_with_its_errno(kernel_backend, shape, ops, err):
    rc, done, contents, runs = _run(kernel_backend, shape, ops, prog=True)
    assert (rc, done) == (-err, len(ops) - 1)
    assert runs == 1
    assert _run(kernel_backend, shape, ops, prog=False)[:3] == (rc, done, contents)


def test_a_lookup_ends_a_segment_and_the_rest_runs_again(kernel_backend):
    shape = (("hash", 0, 4, 8, 16),)
    ops = [(OP_UPDATE, 0, 0, k, k) for k in range(5)]
    rec, keys, values = _plan(shape, ops)
    # op 2 as a lookup: the loop hands it back (rc 1) after one run of ops 0..1
    recs = [rec[i * 32 : (i + 1) * 32] for i in range(5)]
    kind, flags, m, line, ko, vo, pos = _OP.unpack(recs[2])
    recs[2] = _OP.pack(_LOOKUP, 0, m, line, ko, vo, pos)
    with Map.create("hash", 4, 8, 16, backend=kernel_backend) as mp:
        p = _kexec.open_for([mp.fileno()], [mp.info])
        assert p is not None
        with p:
            lp = KernelLoops()
            assert lp.exec_ops(b"".join(recs), 5, [mp.fileno()], [4], [8], keys, values) == (1, 2)
            assert (p.runs, p.applied) == (1, 2)
            assert lp.exec_ops(b"".join(recs[3:]), 2, [mp.fileno()], [4], [8], keys, values) == (
                0,
                2,
            )
            assert (p.runs, p.applied) == (2, 4)
        assert sorted(_contents(mp)) == [_key(shape[0], k) for k in (0, 1, 3, 4)]


def test_ops_on_a_map_not_taken_keep_the_syscall(kernel_backend):
    # a per-CPU hash is not eligible: the program takes only map 0
    with (
        Map.create("hash", 4, 8, 16, backend=kernel_backend) as a,
        Map.create("percpu_hash", 4, 8, 16, backend=kernel_backend) as b,
    ):
        p = _kexec.open_for([a.fileno(), b.fileno()], [a.info, b.info])
        assert p is not None and p.tables == [0]
        p.close()
        assert _kexec.open_for([b.fileno()], [b.info]) is None


def test_a_single_op_keeps_its_syscall(kernel_backend):
    shape = (("hash", 0, 4, 8, 4),)
    rc, done, contents, runs = _run(kernel_backend, shape, [(OP_UPDATE, 0, 0, 1, 7)], prog=True)
    assert (rc, done, runs) == (0, 1, 0) and contents == [{_key(shape[0], 1): bytes([7]) * 8}]


def test_no_fd_left_after_a_run_an_error_or_an_interrupt(kernel_backend):
    shape = (("hash", 0, 4, 8, 2),)
    with Map.create("hash", 4, 8, 2, backend=kernel_backend) as mp:
        before = _fds()
        ops = [(OP_UPDATE, 0, 0, k, 1) for k in range(3)]
        rec, keys, values = _plan(shape, ops)
        p = _kexec.open_for([mp.fileno()], [mp.info])
        assert p is not None and _fds() == before + 4  # the program and three arrays
        with p:
            assert KernelLoops().exec_ops(rec, 3, [mp.fileno()], [4], [8], keys, values) == (
                -errno.E2BIG,
                2,
            )
        assert _fds() == before
        with pytest.raises(KeyboardInterrupt):
            with _kexec.open_for([mp.fileno()], [mp.info]):
                raise KeyboardInterrupt
        assert _fds() == before
        from bpfmaps._ffi import lib

        assert lib.bpfm_pexec_current() == _kexec.ffi.NULL  # nothing left attached
