"""bpfmaps.loops: the kernel backend's C loops against the generic Python loops, both
on the real kernel (same results, same errs, same map contents afterwards)."""

from __future__ import annotations

import errno

import pytest
from _kmaps import contents

from bpfmaps import loops
from bpfmaps.kernel import KernelLoops
from bpfmaps.loops import GenericLoops
from bpfmaps.types import MapFlags, MapType, round_up8

pytestmark = pytest.mark.kernel

N = 40


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
        log.append(("contents", sorted(contents(be, fd, ks, vsz).items())))
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


def _ops(records):
    import struct

    return b"".join(struct.pack(loops.OP_FORMAT, *r) for r in records)


def test_exec_ops_c_vs_generic(kernel_backend):
    """The bpftool executor's op stream: the C loop (bpfm_exec_print, maps NULL) and the generic one
    give the same (rc, index) at a failure, before a foreign op, at the end, and leave
    the same contents in two maps (one hash, one queue with NULL keys)."""
    be = kernel_backend
    U, D, NK = loops.OP_UPDATE, loops.OP_DELETE, loops.OP_NO_KEY
    keys = b"".join(i.to_bytes(4, "little") for i in range(8))
    values = b"".join(bytes([i]) * 8 for i in range(8))
    streams = [
        # (kind, flags, map, line, key_off, value_off, pos)
        [(U, 0, 0, 1, 0, 0, 0), (U, 1, 0, 2, 4, 8, 0), (D, 0, 0, 3, 0, 0, 0),
         (U, 0, 1, 4, NK, 16, 0), (U, 0, 1, 5, NK, 24, 0)],
        [(U, 0, 0, 1, 8, 0, 0), (U, 1, 0, 2, 8, 8, 0), (U, 0, 0, 3, 12, 8, 0)],  # EEXIST at 1
        [(U, 0, 0, 1, 16, 0, 0), (3, 0, 0, 2, 16, 0, 0), (D, 0, 0, 3, 16, 0, 0)],  # lookup at 1
        [(D, 0, 0, 1, 28, 0, 0)],  # ENOENT at 0
        [(U, 0, 1, 1, NK, 0, 0), (U, 0, 1, 2, NK, 8, 0), (U, 0, 1, 3, NK, 16, 0)],  # E2BIG
    ]  # fmt: skip
    results = []
    for lp in (loops.of(be), GenericLoops(be)):
        h = be.map_create(int(MapType.HASH), 4, 8, 16, int(MapFlags.ZERO_SEED), b"ops_h")
        q = be.map_create(int(MapType.QUEUE), 0, 8, 3, 0, b"ops_q")
        assert h >= 0 and q >= 0
        try:
            got = []
            for recs in streams:
                got.append(lp.exec_ops(_ops(recs), len(recs), [h, q], [4, 0], [8, 8], keys, values))
            qv = be.alloc(8)
            pops = []
            while be.map_lookup_and_delete_elem(q, be.NULL, qv, 0) == 0:
                pops.append(be.tobytes(qv, 8))
            results.append((got, sorted(contents(be, h, 4, 8).items()), pops))
        finally:
            be.close(h)
            be.close(q)
    assert results[0] == results[1]
    got = results[0][0]
    assert got[0] == (0, 5)
    assert got[1] == (-errno.EEXIST, 1)
    assert got[2] == (1, 1)
    assert got[3] == (-errno.ENOENT, 0)
    assert got[4] == (-errno.E2BIG, 1)


def test_exec_ops_generic_on_the_fake():
    """The fake has no exec_ops of its own: the generic loop runs over its element
    commands (so the fake's fault injection at map_update_elem reaches op streams)."""
    import bpfmaps.backend as backend
    from bpfmaps.testing import FakeKernel

    fk = FakeKernel()
    assert not hasattr(fk, "exec_ops") and not hasattr(backend.Backend, "exec_ops")
    fd = fk.map_create(int(MapType.HASH), 4, 8, 4)
    recs = [(loops.OP_UPDATE, 0, 0, 1, 0, 0, 0), (loops.OP_UPDATE, 0, 0, 2, 4, 8, 0)]
    fk.inject(errno.EIO, "map_update_elem", when=lambda c: c.key == (1).to_bytes(4, "little"))
    keys = (0).to_bytes(4, "little") + (1).to_bytes(4, "little")
    assert loops.of(fk).exec_ops(_ops(recs), 2, [fd], [4], [8], keys, bytes(16)) == (-errno.EIO, 1)
    fk.close(fd)


def test_keys_distinct_c_vs_generic(kernel_backend):
    """The C check (sorted fast path, then hash parts) agrees with the Python set on
    key sets with and without duplicates, in every order, for odd key sizes and
    sizes past one part (1024 keys)."""
    import random

    rnd = random.Random(11)
    c, g = loops.of(kernel_backend), GenericLoops(kernel_backend)
    seen = set()
    for _ in range(150):
        n = rnd.choice([0, 1, 2, 3, 17, 1000, 3000, 20000])
        ks = rnd.choice([1, 3, 4, 8, 9, 16, 33])
        space = rnd.choice([4, 1000, 1 << 40])
        keys = [rnd.randrange(min(space, 256**ks)).to_bytes(ks, "little") for _ in range(n)]
        if rnd.random() < 0.6:
            keys = list(dict.fromkeys(keys))  # distinct...
            if rnd.random() < 0.3:
                keys.sort()
            if len(keys) > 1 and rnd.random() < 0.5:  # ...but one duplicate
                i, j = rnd.sample(range(len(keys)), 2)
                keys[j] = keys[i]
        kb, m = b"".join(keys), len(keys)
        want = g.keys_distinct(kb, ks, m)
        assert c.keys_distinct(kb, ks, m) == want, (n, ks, space)
        seen.add((want, m > 1024))
    assert seen == {(True, True), (True, False), (False, True), (False, False)}
