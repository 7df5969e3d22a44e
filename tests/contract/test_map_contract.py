"""Map-level contract: the same user code gives the same results and raises the same
exception classes on the fake kernel and on the real one (``backend`` fixture)."""

from __future__ import annotations

import struct
import uuid

import pytest

from bpfmaps import Map, errors
from bpfmaps.codecs import U32, U64
from bpfmaps.types import MapType


@pytest.fixture
def pin_dir(request, backend):
    """A bpffs directory: a real mount for the kernel, a virtual one for the fake."""
    if backend.name == "kernel":
        return request.getfixturevalue("bpffs")
    return backend.mount_bpffs(f"/sys/fs/bpf/test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def maps(backend):
    made = []

    def create(*a, **kw):
        m = Map.create(*a, backend=backend, **kw)
        made.append(m)
        return m

    yield create
    for m in made:
        m.close()


def test_hash_mapping_and_errors(maps):
    m = maps("hash", 4, 8, 3, key=U32, value=U64)
    m[1] = 10
    m.update(2, 20, flags=1)
    with pytest.raises(errors.KeyExistsError):
        m.update(2, 21, flags=1)
    with pytest.raises(errors.KeyNotFoundError) as ei:
        m.update(9, 1, flags=2)
    assert isinstance(ei.value, KeyError)
    m[3] = 30
    with pytest.raises(errors.MapFullError):
        m[4] = 40
    assert sorted(m.items()) == [(1, 10), (2, 20), (3, 30)]
    assert len(m) == 3 and 2 in m and 4 not in m
    with pytest.raises(KeyError):
        m[4]
    del m[2]
    with pytest.raises(errors.KeyNotFoundError):
        del m[2]
    assert m.pop(3) == 30 and m.get(3) is None
    m.freeze()
    with pytest.raises(errors.PermissionDeniedError) as ei:
        m[5] = 1
    assert isinstance(ei.value, PermissionError)
    assert m[1] == 10


def test_array_rules(maps):
    m = maps("array", 4, 4, 4, key=U32, value=U32)
    assert [m[i] for i in range(4)] == [0, 0, 0, 0]
    with pytest.raises(errors.KeyExistsError):
        m.update(1, 5, flags=1)
    with pytest.raises(errors.MapFullError):
        m[4] = 1
    with pytest.raises(errors.InvalidArgumentError):
        del m[0]
    with pytest.raises(KeyError):
        m[7]
    m[2] = 9
    assert list(m.items()) == [(0, 0), (1, 0), (2, 9), (3, 0)]


def test_percpu_values(backend, maps):
    m = maps("percpu_hash", 4, 4, 4, key=U32, value=U32)
    ncpu = backend.possible_cpus()
    m[1] = list(range(ncpu))
    assert m[1] == list(range(ncpu))
    a = maps("percpu_array", 4, 8, 2, key=U32, value=U64)
    assert a[0] == [0] * ncpu


def test_lru_never_exceeds_max_and_keeps_new_key(maps):
    m = maps("lru_hash", 4, 4, 8, key=U32, value=U32)
    for i in range(40):
        m[i] = i
        assert i in m
        assert len(m) <= 8
    assert all(m[k] == k for k in m)


def test_lpm_longest_prefix(maps):
    m = maps("lpm_trie", 8, 4, 8, flags=1)

    def key(plen, *b):
        return struct.pack("I", plen) + bytes(b)

    m[key(8, 10, 0, 0, 0)] = b"AAAA"
    m[key(24, 10, 1, 2, 0)] = b"CCCC"
    assert m[key(32, 10, 1, 2, 3)] == b"CCCC"
    assert m[key(32, 10, 9, 9, 9)] == b"AAAA"
    with pytest.raises(KeyError):
        m[key(32, 11, 1, 2, 3)]
    with pytest.raises(errors.InvalidArgumentError):
        m[key(33, 10, 0, 0, 0)] = b"XXXX"
    assert list(m.keys()) == [key(24, 10, 1, 2, 0), key(8, 10, 0, 0, 0)]


def test_queue_and_stack(maps):
    q = maps("queue", 0, 4, 2, value=U32)
    s = maps("stack", 0, 4, 2, value=U32)
    for x in (q, s):
        x.push(1)
        x.push(2)
        with pytest.raises(errors.MapFullError):
            x.push(3)
        x.push(3, flags=2)  # EXIST: overwrite the oldest
    assert [q.pop(), q.pop()] == [2, 3]
    assert [s.pop(), s.pop()] == [3, 2]
    with pytest.raises(KeyError):
        q.pop()
    with pytest.raises(KeyError):
        s.peek()


def test_map_in_map_and_prog_array(backend, maps):
    inner = maps("hash", 4, 4, 4)
    outer = maps("array_of_maps", 4, 4, 2, inner_map=inner, key=U32)
    outer[0] = inner
    assert outer[0] == inner.info.id
    bad = maps("hash", 4, 8, 4)
    with pytest.raises(errors.InvalidArgumentError):
        outer[1] = bad
    from bpfmaps.progs import Program

    with Program.load_trivial(backend=backend) as p:
        pa = maps("prog_array", 4, 4, 2, key=U32)
        pa[0] = p
        assert pa[0] == p.info.id


def test_open_by_id_name_pin(backend, maps, pin_dir):
    name = "c" + uuid.uuid4().hex[:12]
    m = maps("hash", 4, 4, 4, name=name, key=U32, value=U32)
    m[1] = 2
    with Map.from_id(m.info.id, backend=backend, key=U32, value=U32) as m2:
        assert m2[1] == 2
    with Map.from_name(name, backend=backend) as m3:
        assert m3.info.id == m.info.id
    with pytest.raises(errors.MapNotFoundError):
        Map.from_name("z" + uuid.uuid4().hex[:12], backend=backend)
    path = f"{pin_dir}/m"
    m.pin(path)
    with pytest.raises(errors.PinExistsError):
        m.pin(path)
    with Map.from_pin(path, backend=backend, readonly=True, key=U32, value=U32) as ro:
        assert ro[1] == 2
        with pytest.raises(errors.PermissionDeniedError):
            ro[1] = 3
    with pytest.raises(errors.PinNotFoundError):
        Map.from_pin(f"{pin_dir}/missing", backend=backend)
    with pytest.raises(errors.NotBpffsError):
        m.pin("/tmp/bpfmaps-not-bpffs-" + uuid.uuid4().hex[:8])


def test_create_errors(maps):
    with pytest.raises(errors.InvalidArgumentError):
        maps("array", 8, 4, 4)
    with pytest.raises(errors.InvalidArgumentError):
        maps("hash", 4, 4, 0)
    with pytest.raises(errors.NotSupportedError):
        maps("lru_hash", 4, 4, 4, flags=1)


def test_bulk_full_map_reports_applied(backend, maps):
    m = maps("hash", 4, 4, 3, key=U32, value=U32)
    if not hasattr(m, "update_many"):
        pytest.skip("bulk API not available")
    with pytest.raises(errors.BatchError) as ei:
        m.update_many([(i, i) for i in range(5)])
    assert ei.value.applied == 3 and ei.value.index == 3
    assert isinstance(ei.value.__cause__, errors.MapFullError)
    assert sorted(m.items()) == [(0, 0), (1, 1), (2, 2)]


@pytest.mark.parametrize("t", ["hash", "lru_hash", "percpu_hash", "array", "lpm_trie"])
def test_iteration_is_bounded_and_complete(maps, t):
    ks = 8 if t == "lpm_trie" else 4
    m = maps(t, ks, 8, 6, flags=1 if t == "lpm_trie" else 0)
    keys = [
        struct.pack("I", 32) + bytes([i, 0, 0, 1]) if t == "lpm_trie" else struct.pack("I", i)
        for i in range(5)
    ]
    for i, k in enumerate(keys):
        m[k] = [bytes([i] * 8)] * m._h.ncpus if t.startswith("percpu") else bytes([i] * 8)
    got = set(m.keys())
    if t == "array":
        assert got == {struct.pack("I", i) for i in range(6)}
    else:
        assert got == set(keys)
    assert MapType.parse(t) == m.info.type
