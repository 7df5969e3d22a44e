"""Bloom filters: the same raw calls on the kernel and the fake, logs compared entry by
entry (creation checks, push/peek with every flag, the unsupported commands, batches,
freeze), and with ``BPF_F_ZERO_SEED`` the exact set of false positives (the fake uses
the kernel's bit-array size and hashes)."""

from __future__ import annotations

import pytest

from bpfmaps.testing import FakeKernel
from bpfmaps.types import MapFlags
from bpfmaps.types import MapType as T

from ._trace import Recorder, assert_same, ename, run_both

pytestmark = pytest.mark.kernel

ZS = int(MapFlags.ZERO_SEED)


@pytest.fixture
def fake():
    return FakeKernel(possible_cpus=2)


def _create(r: Recorder, ks, vs, n, flags=0, extra=0, label=None):
    fd = r._own(r.b.map_create(int(T.BLOOM_FILTER), ks, vs, n, flags, b"bf", -1, 0, extra))
    r.rec("create", label or (ks, vs, n, flags, extra), "fd" if fd >= 0 else ename(fd))
    return fd


def _peek(r: Recorder, fd, value, flags=0, key=None):
    buf = r.b.alloc(len(value))
    buf[0 : len(value)] = value
    rc = r.b.map_lookup_elem(fd, r.NULL if key is None else key, buf, flags)
    r.rec("peek", value, flags, ename(rc), r.b.tobytes(buf, len(value)))
    return rc


def scenario_create(r: Recorder):
    for ks, vs, n, flags, extra in [
        (0, 4, 100, 0, 0), (4, 4, 100, 0, 0), (0, 0, 100, 0, 0), (0, 4, 0, 0, 0),
        (0, 4, 100, 0, 15), (0, 4, 100, 0, 16), (0, 4, 100, 0, 1 << 8),
        (0, 4, 100, int(MapFlags.NO_PREALLOC), 0), (0, 4, 100, ZS, 5),
        (0, 4, 100, int(MapFlags.NUMA_NODE), 0), (0, 4, 100, int(MapFlags.RDONLY_PROG), 0),
        (0, 4, 100, int(MapFlags.RDONLY_PROG | MapFlags.WRONLY_PROG), 0),
        (0, 4, 100, int(MapFlags.MMAPABLE), 0), (0, 3, 100, 0, 0), (0, 1 << 22, 1, 0, 0),
        (0, (1 << 22) + 1, 1, 0, 0), (4, (1 << 22) + 1, 1, 0, 0), (0, 4, 1 << 30, 0, 15),
    ]:  # fmt: skip
        fd = _create(r, ks, vs, n, flags, extra)
        if fd >= 0:
            r.info(fd)
            r.close(fd)


def scenario_commands(r: Recorder):
    fd = _create(r, 0, 4, 8, ZS, 3)
    v = (7).to_bytes(4, "little")
    _peek(r, fd, v)
    for flags in (1, 2, 3, 4):
        r.update(fd, None, v, flags)
    r.update(fd, b"abcd", v)  # a key given to a keyless map
    r.update(fd, None, v)
    _peek(r, fd, v)
    _peek(r, fd, v, flags=4)
    _peek(r, fd, v, key=b"abcd")
    r.delete(fd, None)
    r.next_key(fd, None, 0)
    r.lookup_and_delete(fd, None, 4)
    r.lookup_and_delete(fd, None, 4, flags=4)
    r.rec("update_batch", r.b.map_update_batch(fd, b"", v * 2, 2, 0))
    r.rec("delete_batch", r.b.map_delete_batch(fd, b"", 2, 0))
    out = r.b.alloc(4)
    rc, n = r.b.map_lookup_batch(fd, r.NULL, out, r.b.alloc(8), r.b.alloc(8), 2, 0)
    r.rec("lookup_batch", ename(rc), n)
    ro = r.reopen(fd, int(MapFlags.RDONLY))
    r.update(ro, None, v)
    _peek(r, ro, v)
    r.freeze(fd)
    r.update(fd, None, v)
    _peek(r, fd, v)


def scenario_false_positives(r: Recorder, vs, n, extra):
    """Crowd a small filter, then probe many absent values: every peek result logged."""
    fd = _create(r, 0, vs, n, ZS, extra)
    for i in range(3 * n):
        r.update(fd, None, (i * 2654435761 % 2**32).to_bytes(4, "little").ljust(vs, b"\x5a")[:vs])
    hits = []
    for i in range(2000):
        val = (i * 40503 + 17).to_bytes(4, "little").ljust(vs, b"\xa5")[:vs]
        buf = r.b.alloc(vs)
        buf[0:vs] = val
        if r.b.map_lookup_elem(fd, r.NULL, buf, 0) == 0:
            hits.append(i)
    r.rec("hits", len(hits), hits)
    return hits


def test_bloom_create_same(kernel_backend, fake):
    klog, flog = run_both(kernel_backend, fake, scenario_create, pin=False)
    assert_same(klog, flog)


def test_bloom_commands_same(kernel_backend, fake):
    klog, flog = run_both(kernel_backend, fake, scenario_commands, pin=False)
    assert_same(klog, flog)


@pytest.mark.parametrize(
    "vs, n, extra", [(4, 4, 1), (3, 4, 1), (8, 16, 2), (12, 40, 0), (5, 100, 4), (16, 2000, 3)]
)
def test_bloom_false_positives_same(kernel_backend, fake, vs, n, extra):
    klog, flog = run_both(kernel_backend, fake, scenario_false_positives, vs, n, extra, pin=False)
    assert_same(klog, flog)
    hits = klog[-1][2]
    assert 0 < len(hits) < 2000  # the filter is crowded but not saturated: a real test
