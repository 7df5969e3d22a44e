"""bpfmaps.loops: the kernel backend's C loops against the generic Python loops, both
on the real kernel (same results, same errs, same map contents afterwards)."""

from __future__ import annotations

import errno

import pytest

from bpfmaps import loops
from bpfmaps.kernel import KernelLoops
from bpfmaps.loops import GenericLoops
from bpfmaps.types import MapFlags, MapType, round_up8

pytestmark = pytest.mark.kernel

N = 40


def _contents(be, fd, ks, vsz):
    kbuf, vbuf = be.alloc(max(ks, 1)), be.alloc(vsz)
    key, out = be.NULL, {}
    while be.map_get_next_key(fd, key, kbuf) == 0:
        key = be.tobytes(kbuf, ks)
        if be.map_lookup_elem(fd, key, vbuf, 0) == 0:
            out[key] = be.tobytes(vbuf, vsz)
    return out


SPECS = [
    (MapType.HASH, 4, 8, 32, MapFlags.ZERO_SEED),
    (MapType.ARRAY, 4, 8, 32, 0),
    (MapType.PERCPU_HASH, 4, 4, 32, MapFlags.ZERO_SEED),
    (MapType.LPM_TRIE, 8, 4, 64, MapFlags.NO_PREALLOC),
]


def _vsz(be, t, vs):
    if t in (MapType.PERCPU_HASH, MapType.PERCPU_ARRAY):
        return round_up8(vs) * be.possible_cpus()
    return vs


def _scenario(be, lp, spec):
    """A fixed sequence of loop calls; returns everything observable."""
    t, ks, vs, n, flags = spec
    vsz = _vsz(be, t, vs)
    fd = be.map_create(int(t), ks, vs, n, int(flags), b"loops")
    assert fd >= 0
    try:
        log = []
        if t == MapType.LPM_TRIE:
            keys = [
                (32).to_bytes(4, "little") + bytes([10, 0, i // 256, i % 256]) for i in range(N)
            ]
        else:
            keys = [i.to_bytes(ks, "little") for i in range(N)]
        kb = b"".join(keys)
        vb = bytes((i * 7 + j) % 256 for i in range(N) for j in range(vsz))
        for fl in (1, 0, 2, 1):  # NOEXIST, ANY, EXIST, NOEXIST
            log.append(("upd", lp.update_elems(fd, kb, ks, vb, vsz, N, fl)))
            errs: list[int] = []
            log.append(("upd-errs", lp.update_elems(fd, kb, ks, vb, vsz, N, fl, errs), errs))
        out = be.alloc(N * vsz)
        errs = []
        log.append(("look", lp.lookup_elems(fd, kb, ks, out, vsz, N, 0, errs), errs))
        log.append(("out", be.tobytes(out, N * vsz)))
        log.append(("look-stop", lp.lookup_elems(fd, kb, ks, out, vsz, N, 0)))
        log.append(
            ("distinct", lp.keys_distinct(kb, ks, N), lp.keys_distinct(kb + kb[:ks], ks, N + 1))
        )
        # dump in chunks of 7
        cursor, ko, vo = be.alloc(ks), be.alloc(7 * ks), be.alloc(7 * vsz)
        start = None
        for _ in range(20):
            rc, cnt, steps = lp.dump_elems(fd, start, cursor, ko, ks, vo, vsz, 7, False)
            log.append(
                ("dump", rc, cnt, steps, be.tobytes(ko, cnt * ks), be.tobytes(vo, cnt * vsz))
            )
            if rc < 0 or cnt == 0:
                break
            start = cursor
        dk = kb[: 10 * ks]
        errs = []
        log.append(("del-errs", lp.delete_elems(fd, dk, ks, 10, errs), errs))
        log.append(("del-stop", lp.delete_elems(fd, kb, ks, N)))
        if t == MapType.HASH:
            errs = []
            out2 = be.alloc(N * vsz)
            log.append(("lad", lp.lookup_and_delete_elems(fd, kb, ks, out2, vsz, N, 0, errs), errs))
            log.append(("lad-out", be.tobytes(out2, N * vsz)))
            log.append(
                ("parts", lp.update_batch_parts(fd, kb, vb, ks, vsz, [(0, 15), (15, 15)], 0, 4))
            )
        log.append(("contents", sorted(_contents(be, fd, ks, vsz).items())))
        return log
    finally:
        be.close(fd)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s[0].name.lower())
def test_c_loops_equal_generic_loops(kernel_backend, spec):
    kb_ = kernel_backend
    assert isinstance(loops.of(kb_), KernelLoops)
    c = _scenario(kb_, loops.of(kb_), spec)
    g = _scenario(kb_, GenericLoops(kb_), spec)
    assert len(c) == len(g)
    for a, b in zip(c, g):
        assert a == b


def test_queue_pops_c_vs_generic(kernel_backend):
    be = kernel_backend
    res = []
    for lp in (loops.of(be), GenericLoops(be)):
        fd = be.map_create(int(MapType.QUEUE), 0, 4, 8, 0, b"q")
        try:
            vals = b"".join(i.to_bytes(4, "little") for i in range(10))
            r1 = lp.update_elems(fd, None, 0, vals, 4, 10)
            out = be.alloc(40)
            errs: list[int] = []
            r2 = lp.lookup_and_delete_elems(fd, None, 0, out, 4, 10, 0, errs)
            res.append((r1, r2, errs, be.tobytes(out, 32)))
        finally:
            be.close(fd)
    assert res[0] == res[1]
    assert res[0][0] == (-errno.E2BIG, 8)


def test_generic_loops_are_what_the_fake_uses():
    from bpfmaps.testing import FakeKernel

    fk = FakeKernel()
    assert isinstance(loops.of(fk), GenericLoops) and loops.of(fk) is loops.of(fk)
    assert not hasattr(fk, "update_elems")  # the Backend is bpf(2) commands only
