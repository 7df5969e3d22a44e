"""Map-create size limits: the fake refuses exactly what the kernel refuses (issue 9, item 8).

Each case is a pair (accepted, refused) on either side of one kernel limit, run on
both backends.  The exact upper edge for arrays (value_size INT_MAX) is checked on
the fake only: the kernel would allocate 2 GiB for it; the kernel checks a value
well above the old 4 MiB bound and the first refused size instead.
"""

from __future__ import annotations

import errno

import pytest

from bpfmaps import Map
from bpfmaps.errors import BPFError

KMALLOC_MAX = 1 << 22
INT_MAX = (1 << 31) - 1

# (type, key_size, value_size, flags, expected errno or 0)
CASES = [
    ("array", 4, KMALLOC_MAX + 1, 0, 0),  # vmalloc'ed: above kmalloc's limit is fine
    ("array", 4, 16 << 20, 0, 0),
    ("array", 4, INT_MAX + 1, 0, errno.E2BIG),
    ("hash", 4, KMALLOC_MAX - 48 - 4 - 1, 0, 0),  # key + value < KMALLOC_MAX - sizeof(htab_elem)
    ("hash", 4, KMALLOC_MAX - 48 - 4, 0, errno.E2BIG),
    ("lru_hash", 4, KMALLOC_MAX - 48 - 4 - 1, 0, 0),
    ("lru_hash", 4, KMALLOC_MAX - 48 - 4, 0, errno.E2BIG),
    ("percpu_array", 4, 32 << 10, 0, 0),
    ("percpu_array", 4, (32 << 10) + 1, 0, errno.E2BIG),
    ("percpu_hash", 4, 32 << 10, 0, 0),
    ("percpu_hash", 4, (32 << 10) + 1, 0, errno.E2BIG),
    ("queue", 0, KMALLOC_MAX, 0, 0),
    ("queue", 0, KMALLOC_MAX + 1, 0, errno.E2BIG),
    ("stack", 0, KMALLOC_MAX + 1, 0, errno.E2BIG),
    ("lpm_trie", 8, KMALLOC_MAX - 256 - 24, 1, 0),
    ("lpm_trie", 8, KMALLOC_MAX - 256 - 24 + 1, 1, errno.EINVAL),
    ("lpm_trie", 4 + 256, 4, 1, 0),
    ("lpm_trie", 4 + 257, 4, 1, errno.EINVAL),
]


def _create(backend, t, ks, vs, flags):
    try:
        m = Map.create(t, ks, vs, 1, flags=flags, backend=backend)
    except BPFError as e:
        return e.errno
    m.close()
    return 0


@pytest.mark.parametrize(("t", "ks", "vs", "flags", "want"), CASES, ids=lambda x: str(x))
def test_create_limit(backend, t, ks, vs, flags, want):
    assert _create(backend, t, ks, vs, flags) == want


def test_array_value_size_edge_on_fake():
    from bpfmaps.testing import FakeKernel

    fk = FakeKernel()
    assert _create(fk, "array", 4, INT_MAX, 0) == 0
    assert _create(fk, "array", 4, INT_MAX + 1, 0) == errno.E2BIG
