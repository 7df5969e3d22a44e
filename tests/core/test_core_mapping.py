"""The Mapping API on every supported map type, against real kernel maps.

Hash-like maps are compared with a dict model after each step; array, per-CPU,
LPM trie, queue/stack, map-in-map and prog-array maps are checked against the kernel
semantics in DESIGN.md section 3.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bpfmaps import (
    AllCPUs,
    CodecError,
    InvalidArgumentError,
    IterationAbortedError,
    KeyExistsError,
    KeyNotFoundError,
    Map,
    MapFlags,
    MapFullError,
    Program,
    UpdateFlags,
)
from bpfmaps import codecs as C

pytestmark = pytest.mark.kernel

HASHLIKE = ["hash", "lru_hash"]


def _possible_cpus() -> int:
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    return max(int(part.split("-")[-1]) for part in text.split(",")) + 1


# ================================================================ hash-like
@pytest.fixture(params=HASHLIKE)
def hmap(request, mk):
    # max_entries well above what the tests insert, so LRU eviction never kicks in
    return mk(request.param, 4, 8, 64, key=C.U32, value=C.U64)


def test_hash_set_get_del_contains(hmap):
    assert 1 not in hmap
    with pytest.raises(KeyNotFoundError):
        hmap[1]
    hmap[1] = 100
    hmap[2] = 200
    assert 1 in hmap and 2 in hmap and 3 not in hmap
    assert hmap[1] == 100 and hmap[2] == 200
    hmap[1] = 101  # overwrite
    assert hmap[1] == 101
    del hmap[1]
    assert 1 not in hmap
    with pytest.raises(KeyNotFoundError):
        del hmap[1]
    assert dict(hmap.items()) == {2: 200}


def test_hash_get_and_pop(hmap):
    hmap[5] = 50
    assert hmap.get(5) == 50
    assert hmap.get(6) is None
    assert hmap.get(6, "dflt") == "dflt"
    assert hmap.pop(5) == 50
    assert 5 not in hmap
    assert hmap.pop(5, -1) == -1
    with pytest.raises(KeyNotFoundError):
        hmap.pop(5)
    with pytest.raises(TypeError):
        hmap.pop()


def test_hash_popitem_drains(hmap):
    model = {k: k * 3 for k in range(6)}
    for k, v in model.items():
        hmap[k] = v
    seen = {}
    while hmap:
        k, v = hmap.popitem()
        seen[k] = v
    assert seen == model
    with pytest.raises(KeyError):
        hmap.popitem()


def test_hash_setdefault(hmap):
    assert hmap.setdefault(9, 90) == 90
    assert hmap[9] == 90
    assert hmap.setdefault(9, 99) == 90  # existing value wins, not overwritten
    assert hmap[9] == 90


def test_hash_update_flags(hmap):
    hmap.update(1, 10, flags=UpdateFlags.NOEXIST)
    assert hmap[1] == 10
    with pytest.raises(KeyExistsError):
        hmap.update(1, 11, flags=UpdateFlags.NOEXIST)
    assert hmap[1] == 10
    hmap.update(1, 12, flags=UpdateFlags.EXIST)
    assert hmap[1] == 12
    with pytest.raises(KeyNotFoundError):
        hmap.update(2, 20, flags=UpdateFlags.EXIST)
    assert 2 not in hmap
    hmap.update(2, 21, flags=UpdateFlags.ANY)
    hmap.update(2, 22)  # ANY is the default
    assert hmap[2] == 22


def test_hash_keys_values_items_len_clear(hmap):
    model = {k: k << 40 for k in (3, 1, 4, 15, 9, 2, 6)}
    for k, v in model.items():
        hmap[k] = v
    assert sorted(hmap.keys()) == sorted(model)
    assert sorted(hmap) == sorted(model)
    assert sorted(hmap.values()) == sorted(model.values())
    assert dict(hmap.items()) == model
    assert len(hmap) == len(model)
    assert bool(hmap)
    hmap.clear()
    assert len(hmap) == 0
    assert not hmap
    assert list(hmap) == []


def test_hash_next_key(hmap):
    with pytest.raises(KeyNotFoundError):
        hmap.next_key()  # empty map
    keys = [10, 20, 30]
    for k in keys:
        hmap[k] = k
    walk = [hmap.next_key()]
    while True:
        try:
            walk.append(hmap.next_key(walk[-1]))
        except KeyNotFoundError:
            break
    assert sorted(walk) == keys
    assert walk == list(hmap)
    # a key that is not in the map restarts from the first key (kernel semantics)
    assert hmap.next_key(12345) == walk[0]


def test_full_hash_raises_map_full(mk):
    m = mk("hash", 4, 4, 4, key=C.U32, value=C.U32)
    for k in range(4):
        m[k] = k
    with pytest.raises(MapFullError) as ei:
        m[4] = 4
    assert "max_entries=4" in ei.value.hint
    assert 4 not in m
    m[3] = 33  # overwriting an existing key in a full map is fine
    assert m[3] == 33
    del m[0]
    m[4] = 4  # room again
    assert sorted(m) == [1, 2, 3, 4]


def test_lru_hash_evicts_instead_of_failing(mk):
    m = mk("lru_hash", 4, 4, 8, key=C.U32, value=C.U32)
    for k in range(40):
        m[k] = k
    assert 0 < len(m) <= 8
    assert m[39] == 39  # the latest insert is present
    assert all(m[k] == k for k in m)


# ------------------------------------------------------------- iteration bound
def test_iteration_is_bounded_under_churn(mk):
    """Deleting the key the iterator stands on makes GET_NEXT_KEY restart from the
    first key; with a fresh key inserted each time the walk would never end.  The
    iterator gives up after max_entries + 1 steps."""
    m = mk("hash", 4, 4, 8, key=C.U32, value=C.U32)
    for k in range(4):
        m[k] = k
    fresh = iter(range(1000, 2000))
    yielded = 0
    with pytest.raises(IterationAbortedError, match="max_entries"):
        for k in m:
            yielded += 1
            del m[k]
            m[next(fresh)] = 0
    assert yielded == m.max_entries + 1
    assert len(m) == 4


def test_iteration_sees_every_key_once_when_unchanged(mk):
    m = mk("hash", 4, 4, 16, key=C.U32, value=C.U32)
    for k in range(16):  # exactly full: the bound is not hit
        m[k] = k
    assert sorted(m) == list(range(16))


def test_iteration_tolerates_deleting_visited_keys(mk):
    m = mk("hash", 4, 4, 32, key=C.U32, value=C.U32)
    for k in range(10):
        m[k] = k
    seen = []
    for k in m:
        seen.append(k)
        del m[k]
    assert len(m) == 0
    assert set(seen) == set(range(10))


# ------------------------------------------------------------- model-based
class HashModel(RuleBasedStateMachine):
    """Random element operations on a real hash map, compared with a dict."""

    MAX = 6

    def __init__(self):
        super().__init__()
        # ZERO_SEED: the same keys land in the same buckets on every run, so popitem()
        # picks the same key when hypothesis replays a sequence (else: FlakyStrategy)
        self.m = Map.create(
            "hash", 2, 2, self.MAX, flags=MapFlags.ZERO_SEED, key=C.U16, value=C.U16
        )
        self.model: dict[int, int] = {}

    keys = st.integers(0, 9)
    vals = st.integers(0, 0xFFFF)

    @rule(k=keys, v=vals)
    def set(self, k, v):
        if k not in self.model and len(self.model) == self.MAX:
            with pytest.raises(MapFullError):
                self.m[k] = v
        else:
            self.m[k] = v
            self.model[k] = v

    @rule(
        k=keys,
        v=vals,
        flags=st.sampled_from([UpdateFlags.ANY, UpdateFlags.NOEXIST, UpdateFlags.EXIST]),
    )
    def update(self, k, v, flags):
        exists = k in self.model
        if flags == UpdateFlags.NOEXIST and exists:
            exc = KeyExistsError
        elif flags == UpdateFlags.EXIST and not exists:
            exc = KeyNotFoundError
        elif not exists and len(self.model) == self.MAX:
            exc = MapFullError
        else:
            exc = None
        if exc:
            with pytest.raises(exc):
                self.m.update(k, v, flags=flags)
        else:
            self.m.update(k, v, flags=flags)
            self.model[k] = v

    @rule(k=keys)
    def delete(self, k):
        if k in self.model:
            del self.m[k]
            del self.model[k]
        else:
            with pytest.raises(KeyNotFoundError):
                del self.m[k]

    @rule(k=keys)
    def pop(self, k):
        assert self.m.pop(k, None) == self.model.pop(k, None)

    @rule(k=keys, v=vals)
    def setdefault(self, k, v):
        if k not in self.model and len(self.model) == self.MAX:
            with pytest.raises(MapFullError):
                self.m.setdefault(k, v)
        else:
            assert self.m.setdefault(k, v) == self.model.setdefault(k, v)

    @precondition(lambda self: self.model)
    @rule()
    def popitem(self):
        k, v = self.m.popitem()
        assert self.model.pop(k) == v

    @rule(k=keys)
    def get(self, k):
        assert self.m.get(k) == self.model.get(k)
        assert (k in self.m) == (k in self.model)

    @invariant()
    def same_contents(self):
        assert dict(self.m.items()) == self.model
        assert len(self.m) == len(self.model)

    def teardown(self):
        self.m.close()


TestHashModel = HashModel.TestCase
TestHashModel.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestHashModel = pytest.mark.kernel(TestHashModel)


# ================================================================ arrays
@pytest.fixture
def amap(mk):
    return mk("array", 4, 8, 5, key=C.U32, value=C.U64)


def test_array_every_index_exists(amap):
    assert len(amap) == 5
    assert list(amap) == [0, 1, 2, 3, 4]
    assert dict(amap.items()) == dict.fromkeys(range(5), 0)
    assert all(i in amap for i in range(5))
    assert 5 not in amap
    with pytest.raises(KeyNotFoundError):
        amap[5]
    assert amap.get(5, "none") == "none"


def test_array_set_get_update_flags(amap):
    amap[2] = 7
    assert amap[2] == 7
    with pytest.raises(KeyExistsError) as ei:
        amap.update(3, 1, flags=UpdateFlags.NOEXIST)
    assert "every array index exists" in ei.value.hint
    amap.update(3, 9, flags=UpdateFlags.EXIST)
    assert amap[3] == 9
    # setdefault never inserts into an array: the index exists
    assert amap.setdefault(2, 1234) == 7


def test_array_out_of_range_is_map_full(amap):
    with pytest.raises(MapFullError) as ei:
        amap[5] = 1
    assert "array index out of range" in ei.value.hint
    assert "max_entries=5" in ei.value.hint


def test_array_delete_is_invalid(amap):
    amap[1] = 5
    for op in (lambda: amap.__delitem__(1), lambda: amap.pop(1), amap.popitem):
        with pytest.raises(InvalidArgumentError) as ei:
            op()
        assert isinstance(ei.value, ValueError)
        assert "cannot be deleted" in ei.value.hint
    assert amap[1] == 5


def test_array_clear_zeroes(amap):
    for i in range(5):
        amap[i] = i + 1
    amap.clear()
    assert len(amap) == 5
    assert list(amap.values()) == [0] * 5


def test_array_next_key(amap):
    assert amap.next_key() == 0
    assert amap.next_key(3) == 4
    with pytest.raises(KeyNotFoundError):
        amap.next_key(4)
    assert amap.next_key(99) == 0  # out of range restarts at index 0


# ================================================================ per-CPU
NCPU = _possible_cpus()


@pytest.mark.parametrize("mtype", ["percpu_hash", "percpu_array", "lru_percpu_hash"])
def test_percpu_values_are_lists(mk, mtype):
    m = mk(mtype, 4, 4, 8, key=C.U32, value=C.U32)
    assert m.is_percpu
    assert m.ncpus == NCPU
    vals = [100 + i for i in range(NCPU)]
    m[1] = vals
    assert m[1] == vals
    m[2] = AllCPUs(7)
    assert m[2] == [7] * NCPU
    assert dict(m.items())[1] == vals
    with pytest.raises(CodecError, match=f"needs {NCPU} entries"):
        m[3] = vals + [0]
    with pytest.raises(CodecError):
        m[3] = vals[:-1]
    with pytest.raises(CodecError):
        m[3] = 5  # a scalar is not a per-CPU value
    if mtype == "percpu_array":
        with pytest.raises(InvalidArgumentError):
            m.pop(1)
    else:
        assert m.pop(1) == vals
        assert 1 not in m


@pytest.mark.parametrize("value_size", [1, 4, 8, 12])
def test_percpu_buffer_stride(mk, value_size):
    """The kernel's per-CPU buffer has round_up(value_size, 8) bytes per possible CPU."""
    m = mk("percpu_array", 4, value_size, 2)
    stride = (value_size + 7) // 8 * 8
    assert m.value_buf_size == stride * NCPU
    per_cpu = [bytes([i + 1]) * value_size for i in range(NCPU)]
    m[b"\1\0\0\0"] = per_cpu
    raw = m.raw[b"\1\0\0\0"]
    assert len(raw) == stride * NCPU
    for i in range(NCPU):
        assert raw[i * stride : i * stride + value_size] == per_cpu[i]
        assert raw[i * stride + value_size : (i + 1) * stride] == bytes(stride - value_size)
    # raw writes of the packed buffer are read back per CPU
    packed = b"".join(
        bytes([0x40 + i]) * value_size + bytes(stride - value_size) for i in range(NCPU)
    )
    m.raw[b"\0\0\0\0"] = packed
    assert m[b"\0\0\0\0"] == [bytes([0x40 + i]) * value_size for i in range(NCPU)]
    with pytest.raises(CodecError):
        m.raw[b"\0\0\0\0"] = packed[:-1]


def test_percpu_hash_setdefault_with_allcpus(mk):
    m = mk("percpu_hash", 4, 8, 4, key=C.U32, value=C.U64)
    assert m.setdefault(1, AllCPUs(3)) == [3] * NCPU
    assert m.setdefault(1, AllCPUs(4)) == [3] * NCPU


# ================================================================ LPM trie
def test_lpm_trie_longest_prefix_match(mk):
    key = C.Struct("=I4B", scalar=False)
    m = mk("lpm_trie", 8, 4, 16, flags=MapFlags.NO_PREALLOC, key=key, value=C.U32)
    m[(8, 10, 0, 0, 0)] = 8
    m[(16, 10, 1, 0, 0)] = 16
    m[(24, 10, 1, 2, 0)] = 24
    assert m[(32, 10, 1, 2, 3)] == 24
    assert m[(32, 10, 1, 9, 9)] == 16
    assert m[(32, 10, 9, 9, 9)] == 8
    assert (32, 11, 0, 0, 0) not in m
    assert len(m) == 3
    assert sorted(k[0] for k in m) == [8, 16, 24]
    with pytest.raises(KeyExistsError):
        m.update((16, 10, 1, 0, 0), 0, flags=UpdateFlags.NOEXIST)
    assert m.pop((24, 10, 1, 2, 0)) == 24
    assert m[(32, 10, 1, 2, 3)] == 16
    with pytest.raises(KeyNotFoundError):
        del m[(24, 10, 1, 2, 0)]  # delete is exact, not longest-prefix
    m.clear()
    assert len(m) == 0


# ================================================================ queue / stack
@pytest.mark.parametrize("mtype, order", [("queue", "fifo"), ("stack", "lifo")])
def test_queue_stack_order(mk, mtype, order):
    q = mk(mtype, 0, 4, 4, value=C.U32)
    for v in (1, 2, 3):
        q.push(v)
    expect = [1, 2, 3] if order == "fifo" else [3, 2, 1]
    assert q.peek() == expect[0]
    assert q.peek() == expect[0]  # peek does not remove
    assert [q.pop() for _ in range(3)] == expect
    with pytest.raises(KeyNotFoundError) as ei:
        q.pop()
    assert "empty" in ei.value.hint
    with pytest.raises(KeyNotFoundError):
        q.peek()
    assert not q


@pytest.mark.parametrize("mtype", ["queue", "stack"])
def test_queue_stack_full(mk, mtype):
    q = mk(mtype, 0, 4, 2, value=C.U32)
    q.push(1)
    q.push(2)
    with pytest.raises(MapFullError):
        q.push(3)
    # EXIST overwrites the oldest element
    q.push(3, flags=UpdateFlags.EXIST)
    rest = [q.pop(), q.pop()]
    assert sorted(rest) == [2, 3]
    assert rest == ([2, 3] if mtype == "queue" else [3, 2])
    with pytest.raises(InvalidArgumentError):
        q.push(4, flags=UpdateFlags.NOEXIST)


def test_queue_has_no_keys(mk):
    q = mk("queue", 0, 4, 2, value=C.U32)
    q.push(5)
    for op in (
        lambda: q[0],
        lambda: q.__setitem__(0, 1),
        lambda: q.__delitem__(0),
        lambda: q.pop(0),
        q.popitem,
        lambda: len(q),
        lambda: list(q),
    ):
        with pytest.raises(TypeError):
            op()
    assert q.peek() == 5
    q.clear()
    assert not q


# ================================================================ map-in-map
@pytest.mark.parametrize("mtype", ["array_of_maps", "hash_of_maps"])
def test_map_in_map(mk, mtype):
    inner1 = mk("array", 4, 8, 2)
    inner2 = mk("array", 4, 8, 2)
    outer = mk(mtype, 4, 4, 4, inner_map=inner1, key=C.U32)
    outer[0] = inner1  # a Map
    outer[1] = inner2.fileno()  # or an fd
    assert outer[0] == inner1.id
    assert outer[1] == inner2.id
    assert dict(outer.items()) == {0: inner1.id, 1: inner2.id}
    assert len(outer) == 2
    assert 2 not in outer
    # the id opens the very map that was stored
    with Map.from_id(outer[1]) as back:
        back[b"\0\0\0\0"] = b"x" * 8
    assert inner2[b"\0\0\0\0"] == b"x" * 8
    assert outer.pop(1) == inner2.id
    assert 1 not in outer
    del outer[0]
    assert len(outer) == 0
    with pytest.raises(KeyNotFoundError):
        del outer[0]
    assert outer.setdefault(3, inner2) == inner2.id


def test_map_in_map_rejects_incompatible_inner(mk):
    inner = mk("array", 4, 8, 2)
    other = mk("array", 4, 16, 2)
    outer = mk("hash_of_maps", 4, 4, 4, inner_map=inner, key=C.U32)
    with pytest.raises(InvalidArgumentError):
        outer[0] = other
    assert 0 not in outer


def test_map_in_map_rejects_non_fd_values(mk):
    inner = mk("array", 4, 8, 2)
    outer = mk("array_of_maps", 4, 4, 4, inner_map=inner, key=C.U32)
    with pytest.raises(CodecError):
        outer[0] = "not a map"
    with pytest.raises(CodecError):
        outer[0] = -1


# ================================================================ prog array
def test_prog_array(mk):
    pa = mk("prog_array", 4, 4, 4, key=C.U32)
    with Program.load_trivial() as p1, Program.load_trivial() as p2:
        pa[0] = p1
        pa[2] = p2.fileno()
        assert pa[0] == p1.id
        assert pa[2] == p2.id
        assert p1.id != p2.id
        assert dict(pa.items()) == {0: p1.id, 2: p2.id}
        assert len(pa) == 2
        assert 1 not in pa
        assert pa.get(1) is None
        with Program.from_id(pa[2]) as again:
            assert again.id == p2.id
        del pa[0]
        assert 0 not in pa
        assert pa.pop(2) == p2.id
        assert len(pa) == 0
        with pytest.raises(MapFullError):
            pa[4] = p1
        # fd arrays accept only BPF_ANY
        with pytest.raises(InvalidArgumentError) as ei:
            pa.update(1, p1, flags=UpdateFlags.NOEXIST)
        assert "only flags=ANY" in ei.value.hint
        assert 1 not in pa
        # ... so setdefault is a lookup then a plain write there
        assert pa.setdefault(1, p1) == p1.id
        assert pa.setdefault(1, p2) == p1.id


def test_prog_array_raw_view_reads_ids(mk):
    pa = mk("prog_array", 4, 4, 2)
    with Program.load_trivial() as p:
        pa.raw[b"\1\0\0\0"] = struct.pack("=I", p.fileno())
        assert struct.unpack("=I", pa.raw[b"\1\0\0\0"])[0] == p.id
