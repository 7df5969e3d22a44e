"""Differential tests: identical raw Backend call sequences on the real kernel and the fake.

Each scenario drives one map type through every element command with every flag, a
full map, iteration, every batch command (counts, tokens, elem_flags, stop at the
first failure), the per-element loops, read-only/write-only handles and freezing.
The kernel's log and the fake's log must be identical, entry by entry.

Hash maps use BPF_F_ZERO_SEED so that the kernel's bucket of each key is known: then
even GET_NEXT_KEY order and batch-lookup chunking must be identical.  LRU maps run
pinned to one CPU, where the kernel's eviction is deterministic.
"""

from __future__ import annotations

import struct

import pytest

from bpfmaps.testing import FakeKernel
from bpfmaps.types import MapType as T
from bpfmaps.types import round_up8

from ._trace import assert_same, run_both

pytestmark = pytest.mark.kernel

ZERO_SEED = 1 << 6
NO_PREALLOC = 1
NO_COMMON_LRU = 2
FLAGS = (0, 1, 2, 3, 4, 8)

SPECS = {
    "hash": (T.HASH, 4, 8, 8, ZERO_SEED),
    "hash_noprealloc": (T.HASH, 4, 8, 8, NO_PREALLOC | ZERO_SEED),
    "hash_odd_sizes": (T.HASH, 5, 3, 6, ZERO_SEED),
    "hash_big_key": (T.HASH, 16, 4, 16, ZERO_SEED),
    "percpu_hash": (T.PERCPU_HASH, 4, 4, 8, ZERO_SEED),
    "percpu_hash_vs12": (T.PERCPU_HASH, 8, 12, 8, ZERO_SEED),
    "lru_hash": (T.LRU_HASH, 4, 8, 8, ZERO_SEED),
    "lru_hash_5": (T.LRU_HASH, 4, 8, 5, ZERO_SEED),
    "lru_hash_no_common": (T.LRU_HASH, 4, 8, 8, NO_COMMON_LRU | ZERO_SEED),
    "lru_percpu_hash": (T.LRU_PERCPU_HASH, 4, 4, 8, ZERO_SEED),
    "array": (T.ARRAY, 4, 8, 6, 0),
    "array_vs3": (T.ARRAY, 4, 3, 5, 0),
    "percpu_array": (T.PERCPU_ARRAY, 4, 4, 6, 0),
    "lpm": (T.LPM_TRIE, 8, 4, 6, NO_PREALLOC),
    "lpm_v6": (T.LPM_TRIE, 20, 8, 8, NO_PREALLOC),
    "queue": (T.QUEUE, 0, 4, 4, 0),
    "stack": (T.STACK, 0, 8, 3, 0),
}


def vbuf_size(b, t, vs):
    if t in (T.PERCPU_HASH, T.PERCPU_ARRAY, T.LRU_PERCPU_HASH):
        return round_up8(vs) * b.possible_cpus()
    return vs


def make_keys(t, ks, n):
    """n + 3 keys: for arrays the indices 0..n+2 (3 out of range); LPM: nested prefixes."""
    if ks == 0:
        return [None] * (n + 3)
    if t in (T.ARRAY, T.PERCPU_ARRAY):
        return [struct.pack("I", i) for i in range(n + 3)]
    if t == T.LPM_TRIE:
        dsz = ks - 4
        out = []
        for i in range(n + 3):
            plen = [8 * dsz, 8, 16, 0, 24, 12, 8 * dsz, 9, 17, 3, 31][i % 11] % (8 * dsz + 1)
            data = bytes(((10 + i * 3) if j == 0 else (i * 37 + j)) & 0xFF for j in range(dsz))
            out.append(struct.pack("I", plen) + data)
        return out
    return [bytes(((i * 73 + j * 11) ^ (i >> 1)) & 0xFF for j in range(ks)) for i in range(n + 3)]


def val(i, size):
    return bytes((i * 29 + j * 3 + 1) & 0xFF for j in range(size))


def token_size(t, ks):
    return (
        4
        if t in (T.HASH, T.PERCPU_HASH, T.LRU_HASH, T.LRU_PERCPU_HASH, T.HASH_OF_MAPS)
        else max(ks, 1)
    )


def scenario_elements(r, spec):
    t, ks, vs, n, mflags = spec
    vsz = vbuf_size(r.b, t, vs)
    fd = r.create(t, ks, vs, n, mflags, b"diff")
    r.info(fd)
    keys = make_keys(t, ks, n)
    ordered = True
    # updates with every flag, over more keys than fit
    for flags in FLAGS:
        for i, k in enumerate(keys):
            r.update(fd, k, val(i + flags, vsz), flags)
        if ks:
            r.keys(fd, ks, ordered=ordered)
    for flags in (0, 1, 4):
        for k in keys:
            r.lookup(fd, k, vsz, flags)
    if ks:
        r.next_key(fd, None, ks)
        for k in keys:
            r.next_key(fd, k, ks)
    # value buffers shorter than key_size are caller bugs; keyless maps get a key -> EINVAL
    if ks == 0:
        r.update(fd, b"\0\0\0\0", val(0, vsz), 0)
        r.lookup(fd, b"\0\0\0\0", vsz)
        r.next_key(fd, None, 4)
    for i, k in enumerate(keys):
        if i % 2 == 0:
            r.delete(fd, k)
    for flags in (0, 4, 1):
        for k in keys[:4]:
            r.lookup_and_delete(fd, k, vsz, flags)
    if ks:
        r.keys(fd, ks, ordered=ordered)
    for i, k in enumerate(keys):
        r.update(fd, k, val(100 + i, vsz), 0)
    if ks:
        r.keys(fd, ks, ordered=ordered)
    for k in keys:
        r.lookup(fd, k, vsz)
    # pop everything for keyless maps
    if ks == 0:
        for _ in range(n + 1):
            r.lookup_and_delete(fd, None, vsz)
        for i in range(n + 2):
            r.update(fd, None, val(i, vsz), 2)
        for _ in range(n + 1):
            r.lookup(fd, None, vsz)
            r.lookup_and_delete(fd, None, vsz)


def scenario_batches(r, spec):
    t, ks, vs, n, mflags = spec
    vsz = vbuf_size(r.b, t, vs)
    tsz = token_size(t, ks)
    fd = r.create(t, ks, vs, n, mflags, b"batch")
    keys = make_keys(t, ks, n)
    kbuf = b"".join(k or b"" for k in keys)
    vbuf = b"".join(val(i, vsz) for i in range(len(keys)))
    # elem_flags / flags / zero count
    for ef in (1, 2, 3, 4, 8):
        r.update_batch(fd, kbuf, vbuf, 3, ef)
    r.update_batch(fd, kbuf, vbuf, 0)
    r.update_batch(fd, kbuf, vbuf, 2, 0, 1)
    # more elements than fit: stops at the first failure with count = applied
    r.update_batch(fd, kbuf, vbuf, len(keys))
    if ks:
        r.keys(fd, ks)
    for k in keys:
        r.lookup(fd, k, vsz)
    # lookup batch: flags, counts, chunked walks with tokens
    r.lookup_batch(fd, None, 0, ks, vsz, tsz)
    r.lookup_batch(fd, None, 4, ks, vsz, tsz, elem_flags=1)
    r.lookup_batch(fd, None, 4, ks, vsz, tsz, elem_flags=4)
    r.lookup_batch(fd, None, 4, ks, vsz, tsz, flags=1)
    for chunk in (1, 2, 3, n + 5):
        token = None
        for _ in range(2 * n + 4):
            rc, cnt, token2, _k, _v = r.lookup_batch(fd, token, chunk, ks, vsz, tsz)
            if rc != 0:
                break
            token = token2
    if tsz == 4:
        r.lookup_batch(fd, struct.pack("I", 1 << 20), 4, ks, vsz, tsz)
    elif ks == 4:
        r.lookup_batch(fd, struct.pack("I", n + 7), 2, ks, vsz, tsz)
    # delete batch: missing key in the middle stops it
    if ks:
        present = r.keys(fd, ks)
        missing = [k for k in keys if k not in present]
        seq = present[:2] + missing[:1] + present[2:3]
        if seq:
            r.delete_batch(fd, b"".join(seq), len(seq))
            r.delete_batch(fd, b"".join(seq), len(seq), 1)
            r.delete_batch(fd, b"".join(seq), 0)
        if len(present) > 3:
            r.delete_batch(fd, present[3], 1, 0, 1)
        r.keys(fd, ks)
    # lookup_and_delete batch, chunked
    r.update_batch(fd, kbuf, vbuf, min(len(keys), n))
    for chunk in (1, 2, n + 5):
        token = None
        for _ in range(2 * n + 4):
            rc, cnt, token2, _k, _v = r.lookup_batch(fd, token, chunk, ks, vsz, tsz, delete=True)
            if rc != 0:
                break
            token = token2
        r.update_batch(fd, kbuf, vbuf, min(len(keys), n))
    if ks:
        r.keys(fd, ks)


def scenario_loops(r, spec):
    t, ks, vs, n, mflags = spec
    vsz = vbuf_size(r.b, t, vs)
    fd = r.create(t, ks, vs, n, mflags, b"loops")
    keys = make_keys(t, ks, n)
    cnt = len(keys)
    kbuf = None if ks == 0 else b"".join(keys)
    vbuf = b"".join(val(i, vsz) for i in range(cnt))
    for flags in (1, 0, 2, 1):
        r.elems("update_elems", fd, kbuf, ks, vbuf, vsz, cnt, flags)
        r.elems("update_elems", fd, kbuf, ks, vbuf, vsz, cnt, flags, errs=[])
    out = r.b.alloc(cnt * vsz)
    r.elems("lookup_elems", fd, kbuf, ks, out, vsz, cnt, 0)
    r.rec("out", r.b.tobytes(out, cnt * vsz))
    errs: list[int] = []
    r.elems("lookup_elems", fd, kbuf, ks, out, vsz, cnt, 0, errs=errs)
    if ks:
        r.elems("delete_elems", fd, kbuf, ks, 2)
        r.elems("delete_elems", fd, kbuf, ks, cnt, errs=[])
    r.elems("update_elems", fd, kbuf, ks, vbuf, vsz, cnt, 0, errs=[])
    out2 = r.b.alloc(cnt * vsz)
    r.elems("lookup_and_delete_elems", fd, kbuf, ks, out2, vsz, cnt, 0, errs=[])
    r.elems("lookup_and_delete_elems", fd, kbuf, ks, out2, vsz, cnt, 0)


def scenario_handles(r, spec):
    t, ks, vs, n, mflags = spec
    vsz = vbuf_size(r.b, t, vs)
    tsz = token_size(t, ks)
    keys = make_keys(t, ks, n)
    k0 = keys[0]
    fd = r.create(t, ks, vs, n, mflags)
    r.update(fd, k0, val(1, vsz))
    for of in (1 << 3, 1 << 4, 3 << 3, 1, 1 << 5):
        h = r.reopen(fd, of)
        if h < 0:
            continue
        r.lookup(fd if False else h, k0, vsz)
        r.update(h, k0, val(2, vsz))
        r.delete(h, k0)
        r.lookup_and_delete(h, k0, vsz)
        if ks:
            r.next_key(h, None, ks)
        r.update_batch(h, k0 or b"", val(3, vsz), 1)
        r.lookup_batch(h, None, 4, ks, vsz, tsz)
        r.lookup_batch(h, None, 4, ks, vsz, tsz, delete=True)
        r.freeze(h)
        r.close(h)
    # create-time RDONLY / WRONLY give a handle with that mode; the flags are not kept
    for cf in (1 << 3, 1 << 4):
        h = r.create(t, ks, vs, n, mflags | cf)
        if h >= 0:
            r.info(h)
            r.update(h, k0, val(4, vsz))
            r.lookup(h, k0, vsz)
            r.close(h)
    r.freeze(fd)
    r.freeze(fd)
    r.lookup(fd, k0, vsz)
    r.update(fd, k0, val(5, vsz))
    r.update(fd, k0, val(5, vsz), 4)
    r.delete(fd, k0)
    r.lookup_and_delete(fd, k0, vsz)
    r.update_batch(fd, k0 or b"", val(3, vsz), 1)
    r.delete_batch(fd, k0 or b"", 1)
    r.lookup_batch(fd, None, 4, ks, vsz, tsz)
    r.lookup_batch(fd, None, 4, ks, vsz, tsz, delete=True)


SCENARIOS = {
    "elements": scenario_elements,
    "batches": scenario_batches,
    "loops": scenario_loops,
    "handles": scenario_handles,
}


@pytest.fixture
def fake(kernel_backend):
    return FakeKernel(possible_cpus=kernel_backend.possible_cpus())


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("spec", list(SPECS))
def test_same_log(kernel_backend, fake, spec, scenario):
    klog, flog = run_both(kernel_backend, fake, SCENARIOS[scenario], SPECS[spec])
    assert len(klog) > 10
    assert_same(klog, flog)
    assert fake.open_fds() == set()
