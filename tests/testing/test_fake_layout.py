"""The fake kernel's structure: small modules, map classes that stand alone (no
back-reference to the kernel, their own alloc checks), fault contexts for every op."""

from __future__ import annotations

import errno
import os
import random

import pytest

import bpfmaps.testing as testing
from bpfmaps.errors import ENOTSUPP
from bpfmaps.testing import FakeKernel
from bpfmaps.testing.maps import MAP_CLASSES, HashMap, LruHashMap, MapEnv, QueueStack
from bpfmaps.types import MapFlags, MapType

ROOT = os.path.dirname(testing.__file__)


def test_every_fake_module_is_small():
    sizes = {}
    for d, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    sizes[os.path.relpath(os.path.join(d, f), ROOT)] = sum(1 for _ in fh)
    assert len(sizes) >= 15, sizes
    big = {f: n for f, n in sizes.items() if n >= 600}
    assert not big, big


def test_a_map_class_stands_alone():
    """A map works from its MapEnv alone: no kernel object, no fd table."""
    env = MapEnv(4, random.Random(1))
    m = HashMap(env, int(MapType.HASH), 4, 8, 2, int(MapFlags.ZERO_SEED), "alone")
    assert not hasattr(m, "fk")
    k1, k2, k3 = (i.to_bytes(4, "little") for i in (1, 2, 3))
    assert m.update(k1, b"a" * 8, 0) == 0 and m.update(k2, b"b" * 8, 1) == 0
    assert m.update(k3, b"c" * 8, 0) == -errno.E2BIG
    assert m.lookup(k1) == (0, b"a" * 8) and m.next_key(None)[0] == 0
    pc = HashMap(env, int(MapType.PERCPU_HASH), 4, 3, 2, 0, "pc")
    assert pc.value_buf_size == 4 * 8
    q = QueueStack(env, int(MapType.STACK), 0, 4, 2, 0, "s")
    assert q.update(None, b"1111", 0) == 0 and q.update(None, b"2222", 0) == 0
    assert q.lookup_and_delete(None) == (0, b"2222")


def test_alloc_checks_belong_to_the_classes():
    """Each class rejects what its kernel alloc check rejects; MAP_CREATE gives the same."""
    fk = FakeKernel()
    cases = [
        (MapType.HASH, 0, 8, 4, 0, -errno.EINVAL),  # no key
        (MapType.HASH_OF_MAPS, 4, 8, 4, 0, -errno.EINVAL),  # values are fds
        (MapType.LRU_HASH, 4, 8, 4, MapFlags.NO_PREALLOC, -ENOTSUPP),
        (MapType.ARRAY, 8, 8, 4, 0, -errno.EINVAL),  # key must be a u32
        (MapType.PERCPU_ARRAY, 4, 8, 4, MapFlags.MMAPABLE, -errno.EINVAL),
        (MapType.LPM_TRIE, 8, 4, 4, 0, -errno.EINVAL),  # needs NO_PREALLOC
        (MapType.QUEUE, 4, 4, 4, 0, -errno.EINVAL),  # keyless
        (MapType.RINGBUF, 0, 0, 4096 + 1, 0, -errno.EINVAL),  # a page multiple
        (MapType.RINGBUF, 0, 0, 8192, 0, 0),
    ]
    for t, ks, vs, n, fl, want in cases:
        cls = MAP_CLASSES[t]
        assert cls.alloc_check(int(t), ks, vs, n, int(fl)) == want, (t, want)
        fd = fk.map_create(int(t), ks, vs, n, int(fl))
        assert (fd if fd < 0 else 0) == want, (t, fd)
        if fd >= 0:
            fk.close(fd)
    assert LruHashMap.effective_max_entries(5, int(MapFlags.NO_COMMON_LRU), 4) == 8
    assert fk.open_fds() == set()


def test_map_create_refuses_types_without_a_class():
    fk = FakeKernel()
    assert MapType.PERF_EVENT_ARRAY not in MAP_CLASSES
    assert fk.map_create(int(MapType.PERF_EVENT_ARRAY), 4, 4, 16) == -errno.EINVAL


@pytest.mark.parametrize(
    "op, call",
    [
        ("btf_get_fd_by_id", lambda fk: fk.btf_get_fd_by_id(1)),
        ("map_get_fd_by_id", lambda fk: fk.map_get_fd_by_id(1)),
        ("prog_load", lambda fk: fk.load_prog()),
        ("obj_get", lambda fk: fk.obj_get("/sys/fs/bpf/x")),
    ],
)
def test_faults_on_object_commands(op, call):
    """inject() works on every command that takes a fault (btf_get_fd_by_id used to
    build a FaultContext it had no field for)."""
    fk = FakeKernel()
    seen = []
    fk.inject(errno.EIO, op, when=lambda c: seen.append(c) or True)
    assert call(fk) == -errno.EIO
    assert seen and seen[0].op == op
