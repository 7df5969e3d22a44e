"""Differential tests for map creation, fd-valued maps (map-in-map, prog arrays) and objects."""

from __future__ import annotations

import itertools
import struct

import pytest

from bpfmaps.testing import FakeKernel
from bpfmaps.types import MapType as T

from ._trace import assert_same, run_both

pytestmark = pytest.mark.kernel

FLAG_BITS = (
    0,
    1,
    2,
    4,
    1 << 3,
    1 << 4,
    3 << 3,
    1 << 5,
    1 << 6,
    1 << 7,
    1 << 8,
    3 << 7,
    1 << 10,
    1 << 11,
    1 << 12,
    1 << 13,
)
TYPES = (
    T.HASH,
    T.ARRAY,
    T.PERCPU_HASH,
    T.PERCPU_ARRAY,
    T.LRU_HASH,
    T.LRU_PERCPU_HASH,
    T.LPM_TRIE,
    T.QUEUE,
    T.STACK,
)
SIZES = (
    (0, 4),
    (4, 0),
    (4, 4),
    (5, 3),
    (8, 8),
    (3, 4),
    (260, 4),
    (261, 4),
    (0, 8),
    (4, 32768),
    (4, 32769),
    (600, 4),
)


@pytest.fixture
def fake(kernel_backend):
    return FakeKernel(possible_cpus=kernel_backend.possible_cpus())


def scenario_create_grid(r, t):
    for (ks, vs), flags, n in itertools.product(SIZES, FLAG_BITS, (0, 1, 5)):
        fd = r.create(t, ks, vs, n, flags, label=(int(t), ks, vs, n, flags))
        if fd >= 0:
            r.info(fd)
            r.close(fd)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name.lower())
def test_create_validation(kernel_backend, fake, t):
    """Every (sizes, flags, max_entries) combination: same fd/errno and the same MapInfo."""
    klog, flog = run_both(kernel_backend, fake, scenario_create_grid, t, pin=False)
    assert len(klog) >= len(SIZES) * len(FLAG_BITS) * 3
    assert_same(klog, flog)


def scenario_names(r):
    for name in (
        b"ok_name",
        b"with.dot",
        b"bad-dash",
        b"bad space",
        b"exactly15chars_",
        b"longer_than_15_chars",
        b"\xff",
    ):
        fd = r.create(T.HASH, 4, 4, 1, 0, name, label=name)
        if fd >= 0:
            r.info(fd)
            r.close(fd)
    # map_extra outside bloom filters, unknown map type, NUMA node on/off
    r.rec("extra", r.b.map_create(T.HASH, 4, 4, 1, 0, b"", -1, 0, 1) < 0)
    r.rec("unknown", r.b.map_create(200, 4, 4, 1))


def test_names_and_misc(kernel_backend, fake):
    klog, flog = run_both(kernel_backend, fake, scenario_names, pin=False)
    assert_same(klog, flog)


def u32(x):
    return struct.pack("I", x)


def scenario_map_in_map(r, outer_t):
    inner = r.create(T.HASH, 4, 4, 8, 0, b"inner")
    zero_seed = (1 << 6) if outer_t == T.HASH_OF_MAPS else 0  # known buckets: same order
    fd = r.create(outer_t, 4, 4, 4, zero_seed, b"outer", inner)
    r.info(fd)
    # incompatible templates / inner maps
    r.create(outer_t, 4, 8, 4, 0, b"", inner, label="value_size 8")
    r.create(outer_t, 4, 4, 4, 0, b"", fd, label="map-in-map inner")
    pa = r.create(T.PROG_ARRAY, 4, 4, 2)
    r.create(outer_t, 4, 4, 4, 0, b"", pa, label="prog_array inner")
    q = r.create(T.QUEUE, 0, 4, 2)
    qo = r.create(outer_t, 4, 4, 4, 0, b"", q, label="queue inner")
    r.close(qo)
    same = r.create(T.HASH, 4, 4, 16)  # other max_entries: fine for hash inners
    other_vs = r.create(T.HASH, 4, 8, 8)
    other_flags = r.create(T.HASH, 4, 4, 8, 1)
    arr = r.create(T.ARRAY, 4, 4, 8)
    prog = r.prog()
    names = ("inner", "same", "other_vs", "other_flags", "arr", "prog", "bad fd", "pa")
    for i, v in enumerate((inner, same, other_vs, other_flags, arr, prog, 9999, pa)):
        for flags in (0, 1, 2, 8):
            r.update(fd, u32(i % 6), u32(v), flags, label=names[i])
    ids = {r.map_id(x): name for x, name in ((inner, "inner"), (same, "same"))}
    for i in range(6):
        rc, out = r.lookup(fd, u32(i), 4, show=False)
        r.rec("id", ids.get(struct.unpack("I", out)[0]) if rc == 0 else None)
    r.keys(fd, 4)
    r.lookup_and_delete(fd, u32(0), 4, show=False)
    r.delete(fd, u32(1))
    r.delete(fd, u32(1))
    r.delete(fd, u32(9))
    kb = u32(2) + u32(3)
    r.update_batch(fd, kb, u32(inner) + u32(same), 2, label="inner, same")
    r.update_batch(fd, kb, u32(inner) + u32(other_vs), 2, label="inner, other_vs")
    r.lookup_batch(fd, None, 8, 4, 4, 4, show_values=False)
    r.delete_batch(fd, kb, 2)
    # the inner map outlives its fd while the outer map holds it
    r.update(fd, u32(0), u32(inner), label="inner")
    iid = r.map_id(inner)
    r.close(inner)
    h = r.b.map_get_fd_by_id(iid, 0)
    r.rec("inner alive", h >= 0)
    if h >= 0:
        r.b.close(h)


@pytest.mark.parametrize(
    "outer_t", (T.ARRAY_OF_MAPS, T.HASH_OF_MAPS), ids=("array_of_maps", "hash_of_maps")
)
def test_map_in_map(kernel_backend, fake, outer_t):
    klog, flog = run_both(kernel_backend, fake, scenario_map_in_map, outer_t, pin=False)
    assert_same(klog, flog)


def scenario_prog_array(r):
    pa = r.create(T.PROG_ARRAY, 4, 4, 4)
    p1, p2, p3 = r.prog(1), r.prog(3), r.prog(1)
    m = r.create(T.HASH, 4, 4, 4)
    pid = {}
    for p in (p1, p2, p3):
        rc, info = r.b.prog_info(p)
        pid[info.id] = p
    order = {p1: "p1", p2: "p2", p3: "p3"}
    for i, (v, name) in enumerate(((p1, "p1"), (p2, "p2"), (p3, "p3"), (m, "map"), (9999, "bad"))):
        for flags in (0, 1, 2):
            r.update(pa, u32(i), u32(v), flags, label=name)
    for i in range(5):
        rc, out = r.lookup(pa, u32(i), 4, show=False)
        r.rec("prog", order.get(pid.get(struct.unpack("I", out)[0])) if rc == 0 else None)
    r.keys(pa, 4)
    r.delete(pa, u32(0))
    r.delete(pa, u32(0))
    r.update(pa, u32(1), u32(p2), label="p2")  # the owner type stays after the slot is emptied
    r.lookup_and_delete(pa, u32(2), 4, show=False)
    r.update_batch(pa, u32(0), u32(p1), 1, label="p1")
    r.lookup_batch(pa, None, 4, 4, 4, 4, show_values=False)
    r.delete_batch(pa, u32(0), 1)
    r.freeze(pa)


def test_prog_array(kernel_backend, fake):
    klog, flog = run_both(kernel_backend, fake, scenario_prog_array, pin=False)
    assert_same(klog, flog)


def scenario_objects(r, bpffs):
    fd = r.create(T.HASH, 4, 4, 4, 0, b"obj")
    r.rec(
        "bad fd ops",
        r.b.map_update_elem(99999, u32(0), u32(0), 0),
        r.b.map_info(99999)[0],
        r.b.map_freeze(99999),
        r.b.close(99999),
        r.b.dup(99999),
    )
    d = r.b.dup(fd)
    r.rec("dup", d >= 0)
    r.update(d, u32(1), u32(2))
    r.b.close(d)
    r.lookup(fd, u32(1), 4)
    mid = r.map_id(fd)
    for of in (0, 1 << 3, 1 << 4, 3 << 3, 1 << 2):
        h = r.b.map_get_fd_by_id(mid, of)
        r.rec("by id", of, h >= 0 or h)
        if h >= 0:
            r.b.close(h)
    r.rec("missing id", r.b.map_get_fd_by_id(2**32 - 2, 0))
    rc, nxt = r.b.map_get_next_id(mid)
    r.rec("next id after newest", rc if nxt <= mid else "newer")
    path = bpffs + "/m"
    r.rec(
        "pin",
        r.b.obj_pin(fd, path),
        r.b.obj_pin(fd, path),
        r.b.obj_pin(fd, bpffs + "/nodir/m"),
        r.b.obj_pin(fd, "/tmp/not-bpffs-pin"),
    )
    for ff in (0, 1 << 3, 1 << 4, 3 << 3, 1):
        h = r.b.obj_get(path, ff)
        r.rec("obj_get", ff, h >= 0 or h)
        if h >= 0:
            r.rec("same map", r.map_id(h) == mid)
            r.b.close(h)
    r.rec("obj_get missing", r.b.obj_get(bpffs + "/nothing", 0))


def test_objects(kernel_backend, bpffs):
    fake = FakeKernel(possible_cpus=kernel_backend.possible_cpus(), bpffs=[bpffs])
    klog, flog = run_both(kernel_backend, fake, scenario_objects, bpffs, pin=False)
    assert_same(klog, flog)
    assert fake.pins() == {} or len(fake.pins()) == 1
