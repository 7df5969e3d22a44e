"""Issue 10, library API: MapInfo/fdinfo fields, unpin and pins, numa_node, errors and
hints that are true for the map type, operation and handle, typed() codecs, per-CPU
aggregation helpers.  The ``backend`` tests run on the fake and the real kernel;
conditions only the kernel can produce (no privileges, ringbuf, bloom filter) run on
the kernel only."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pytest

from bpfmaps import Map, MapFlags
from bpfmaps.errors import (
    BPFError,
    InvalidArgumentError,
    KeyExistsError,
    KeyNotFoundError,
    NotBpffsError,
    NotSupportedError,
    PermissionDeniedError,
    PinNotFoundError,
)
from bpfmaps.types import MapInfo, UpdateFlags


@pytest.fixture
def pin_dir(backend, request):
    """A bpffs directory for this backend: the fake's virtual /sys/fs/bpf, or a private
    real bpffs mount for the kernel."""
    if backend.name == "fake":
        return "/sys/fs/bpf"
    return request.getfixturevalue("bpffs")


def make(backend, *a, **kw):
    return Map.create(*a, backend=backend, **kw)


# ---------------------------------------------------------------- MapInfo / fdinfo


def test_mapinfo_has_btf_vmlinux_id(backend):
    assert "btf_vmlinux_id" in MapInfo._fields
    with make(backend, "hash", 4, 4, 4) as m:
        assert m.info.btf_vmlinux_id == 0  # no struct_ops value type


def test_frozen_is_live_state(backend):
    with make(backend, "array", 4, 4, 2) as m, Map.from_id(m.id, backend=backend) as other:
        assert m.frozen is False and other.frozen is False
        m.freeze()
        assert m.frozen is True
        assert other.frozen is True  # frozen is the map's state, read at access time
        with pytest.raises(PermissionDeniedError) as ei:
            other[b"\0" * 4] = b"\1" * 4
        assert ei.value.hint == "the map is frozen (read-only for user space)"


def test_bytes_memlock(backend):
    with make(backend, "hash", 4, 8, 16) as small, make(backend, "hash", 4, 8, 4096) as big:
        assert small.bytes_memlock > 0
        assert big.bytes_memlock > small.bytes_memlock
        assert small.fdinfo()["map_id"] == str(small.id)
        if backend.name == "kernel":
            with open(f"/proc/self/fdinfo/{big.fileno()}") as f:
                lines = dict(line.split(":\t", 1) for line in f.read().splitlines())
            assert big.bytes_memlock == int(lines["memlock"])


# ---------------------------------------------------------------- pins


def test_unpin_and_pinned_paths(backend, pin_dir):
    p1, p2 = os.path.join(pin_dir, "fid_a"), os.path.join(pin_dir, "fid_b")
    with make(backend, "hash", 4, 4, 4, key="<I", value="<I") as m:
        assert m.is_pinned is False and m.pinned_paths() == []
        m.pin(p1)
        m.pin(p2)
        assert m.is_pinned is True
        assert m.pinned_paths() == [p1, p2]
        m.unpin(p1)
        assert m.pinned_paths() == [p2]
        with pytest.raises(PinNotFoundError) as ei:
            m.unpin(p1)
        assert ei.value.errno == errno.ENOENT and "nothing is pinned" in str(ei.value)
        m[1] = 2
        with Map.from_pin(p2, backend=backend, key="<I", value="<I") as again:
            assert again[1] == 2  # still alive through fds and the other pin
        m.unpin(p2)
        assert not m.is_pinned
        m[3] = 4  # the map lives while the fd does


def test_unpin_refuses_other_objects(backend, pin_dir):
    p = os.path.join(pin_dir, "fid_other")
    with make(backend, "hash", 4, 4, 4) as a, make(backend, "hash", 4, 4, 4) as b:
        b.pin(p)
        with pytest.raises(InvalidArgumentError) as ei:
            a.unpin(p)
        assert f"another map (id {b.id})" in ei.value.hint
        assert b.pinned_paths() == [p]  # nothing removed
        b.unpin(p)


def test_unpin_not_bpffs(backend, tmp_path):
    path = str(tmp_path / "x")
    with open(path, "w") as f:
        f.write("keep me")
    with make(backend, "hash", 4, 4, 4) as m:
        with pytest.raises(NotBpffsError) as ei:
            m.unpin(path)
        assert "not on a bpf file system" in str(ei.value)
    assert os.path.exists(path)


# ---------------------------------------------------------------- create


def test_numa_node_sets_the_flag(backend):
    with make(backend, "hash", 4, 4, 4, numa_node=0) as m:
        assert m.flags & MapFlags.NUMA_NODE
    with make(backend, "hash", 4, 4, 4) as m:
        assert not m.flags & MapFlags.NUMA_NODE


def test_numa_node_offline_is_refused(backend):
    with pytest.raises(InvalidArgumentError) as ei:
        make(backend, "hash", 4, 4, 4, numa_node=63)
    assert "NUMA node 63" in ei.value.hint
    with pytest.raises(ValueError):
        make(backend, "hash", 4, 4, 4, numa_node=-1)


def test_create_eperm_hint_fake():
    from bpfmaps.testing import FakeKernel

    fk = FakeKernel()
    fk.inject(errno.EPERM, "map_create")
    with pytest.raises(PermissionDeniedError) as ei:
        Map.create("hash", 4, 4, 4, backend=fk)
    assert ei.value.hint == "creating maps needs CAP_BPF (or CAP_SYS_ADMIN)"


@pytest.mark.kernel
def test_create_eperm_hint_unprivileged(unprivileged):
    """The real condition: a process without capabilities (unprivileged bpf disabled)."""
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        disabled = f.read().strip()
    if disabled == "0":
        pytest.fail("this test needs kernel.unprivileged_bpf_disabled != 0")
    code = textwrap.dedent(
        """
        from bpfmaps import Map
        from bpfmaps.errors import PermissionDeniedError
        try:
            Map.create("hash", 4, 4, 4)
        except PermissionDeniedError as e:
            print(e.hint)
        """
    )
    r = subprocess.run(
        [*unprivileged, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert r.stdout.strip() == "creating maps needs CAP_BPF (or CAP_SYS_ADMIN)", r.stderr


# ---------------------------------------------------------------- wrong-mode handles


def test_clear_read_only_is_permission_denied(backend):
    for t in ("hash", "array"):
        with (
            make(backend, t, 4, 4, 4) as m,
            Map.from_id(m.id, readonly=True, backend=backend) as ro,
        ):
            with pytest.raises(PermissionDeniedError) as ei:
                ro.clear()
            assert ei.value.hint == "the map was opened read-only"


def test_clear_write_only_hash_is_permission_denied(backend):
    with make(backend, "hash", 4, 4, 4) as m:
        m[b"aaaa"] = b"bbbb"
        with Map.from_id(m.id, writeonly=True, backend=backend) as wo:
            with pytest.raises(PermissionDeniedError) as ei:
                wo.clear()
            assert ei.value.hint == "the map was opened write-only"


def test_pop_read_only_and_items_write_only_hints(backend):
    with make(backend, "hash", 4, 4, 4) as m:
        m[b"aaaa"] = b"bbbb"
        with Map.from_id(m.id, readonly=True, backend=backend) as ro:
            with pytest.raises(PermissionDeniedError) as ei:
                ro.pop(b"aaaa")
            assert ei.value.hint == "the map was opened read-only"
        with Map.from_id(m.id, writeonly=True, backend=backend) as wo:
            with pytest.raises(PermissionDeniedError) as ei:
                list(wo.items())
            assert ei.value.hint == "the map was opened write-only"
            with pytest.raises(PermissionDeniedError) as ei:
                wo.pop(b"aaaa")
            assert ei.value.hint == "the map was opened write-only"
    with make(backend, "queue", 0, 4, 4) as q:
        q.push(b"1234")
        with Map.from_id(q.id, readonly=True, backend=backend) as ro:
            with pytest.raises(PermissionDeniedError) as ei:
                ro.pop()
            assert ei.value.hint == "the map was opened read-only"


# ---------------------------------------------------------------- hints true in context


def test_eexist_hints_by_type(backend):
    with make(backend, "hash", 4, 4, 4) as h:
        h[b"aaaa"] = b"bbbb"
        with pytest.raises(KeyExistsError) as ei:
            h.update(b"aaaa", b"cccc", flags=UpdateFlags.NOEXIST)
        assert ei.value.hint == "NOEXIST update of a key that already exists"
        assert "array" not in str(ei.value)
    with make(backend, "array", 4, 4, 4) as a:
        with pytest.raises(KeyExistsError) as ei:
            a.update(b"\0\0\0\0", b"cccc", flags=UpdateFlags.NOEXIST)
        assert ei.value.hint == "NOEXIST update on an array: every array index exists"


def test_next_key_hints(backend):
    with make(backend, "hash", 4, 4, 4) as h:
        with pytest.raises(KeyNotFoundError) as ei:
            h.next_key()
        assert ei.value.hint == "the map is empty"
        h[b"aaaa"] = b"bbbb"
        with pytest.raises(KeyNotFoundError) as ei:
            h.next_key(b"aaaa")
        assert ei.value.hint == "no key after this one (last key)"


def test_queue_hints(backend):
    with make(backend, "queue", 0, 4, 2) as q:
        with pytest.raises(TypeError) as ei:
            len(q)
        assert "cannot be iterated" not in str(ei.value)
        assert "count" in str(ei.value)
        with pytest.raises(KeyNotFoundError) as ei:
            q.pop()
        assert ei.value.hint == "the queue is empty"
    with make(backend, "stack", 0, 4, 2) as s:
        with pytest.raises(KeyNotFoundError) as ei:
            s.peek()
        assert ei.value.hint == "the stack is empty"


def test_frozen_vs_read_only_hints(backend):
    with make(backend, "hash", 4, 4, 4) as m:
        m.freeze()
        with pytest.raises(PermissionDeniedError) as ei:
            m[b"aaaa"] = b"bbbb"
        assert ei.value.hint == "the map is frozen (read-only for user space)"


@pytest.mark.kernel
def test_ringbuf_hints_never_suggest_pop():
    with Map.create("ringbuf", 0, 0, 4096) as r:
        for call in (r.pop, r.peek, lambda: r.push(b"")):
            with pytest.raises(NotSupportedError) as ei:
                call()
            assert "pop()" not in str(ei.value)
            assert "no element operations" in ei.value.hint
        for call in (lambda: len(r), lambda: list(r), r.popitem):
            with pytest.raises(TypeError) as ei:
                call()
            assert "pop()" not in str(ei.value)


@pytest.mark.kernel
def test_bloom_filter_hints():
    with Map.create("bloom_filter", 0, 4, 16) as b:
        with pytest.raises(KeyNotFoundError) as ei:
            b.peek()
        assert ei.value.hint == "the value is not in the bloom filter"
        with pytest.raises(BPFError) as ei:
            b.pop()
        assert "bloom filters support only adding values" in ei.value.hint


# ---------------------------------------------------------------- typed() codecs


def test_typed_keeps_the_codec_not_given(backend):
    with make(backend, "hash", 4, 8, 4, key="<I") as m:
        v = m.typed(value="<Q")
        v[7] = 9
        assert v.key_codec is m.key_codec
        assert v[7] == 9 and list(v) == [7]
        k = m.typed(key="<i")
        assert k.value_codec is m.value_codec
        assert m.typed(key=None)[b"\7\0\0\0"] == (9).to_bytes(8, sys.byteorder)


def test_typed_keeps_per_cpu_value_codec(backend):
    with make(backend, "percpu_array", 4, 8, 2, value="<Q") as m:
        v = m.typed(key="<I")
        assert v.value_codec is m.value_codec
        assert v[0] == [0] * m.ncpus


# ---------------------------------------------------------------- per-CPU helpers


def test_percpu_sum_max_min_average(backend):
    with make(backend, "percpu_hash", 4, 8, 8, key="<I", value="<Q") as m:
        n = m.ncpus
        vals = [(i + 1) * 10 for i in range(n)]
        m[1] = vals
        assert m.sum(1) == sum(vals)
        assert m.max(1) == max(vals)
        assert m.min(1) == min(vals)
        assert m.average(1) == sum(vals) / n
        assert m.raw.sum(b"\1\0\0\0") == sum(vals)  # raw 8-byte values: native integers
        with pytest.raises(KeyNotFoundError):
            m.sum(2)


def test_percpu_helpers_refuse_other_maps(backend):
    with make(backend, "hash", 4, 8, 8, key="<I", value="<Q") as m:
        m[1] = 5
        with pytest.raises(TypeError, match="per-CPU"):
            m.sum(1)
    with make(backend, "percpu_array", 4, 12, 2) as m:
        with pytest.raises(TypeError, match="numeric value codec"):
            m.sum(b"\0\0\0\0")


def test_zero(backend):
    with make(backend, "percpu_hash", 4, 8, 8, key="<I", value="<Q") as m:
        m[1] = [5] * m.ncpus
        m[2] = [6] * m.ncpus
        m.zero(1)
        assert m[1] == [0] * m.ncpus and m[2] == [6] * m.ncpus
        m.zero()
        assert sorted(m) == [1, 2]  # keys stay
        assert m.sum(2) == 0
        m.zero(3)  # creates the key with a zero value
        assert m[3] == [0] * m.ncpus
    with make(backend, "array", 4, 4, 3, key="<I", value="<I") as a:
        a[2] = 7
        a.zero()
        assert list(a.values()) == [0, 0, 0]
    with make(backend, "queue", 0, 4, 2) as q, pytest.raises(TypeError):
        q.zero()


def test_pin_off_bpffs_is_not_bpffs_error(backend, tmp_path):
    """No bpffs where the pin goes (e.g. /sys/fs/bpf not mounted: the directory may not
    exist either, and the kernel answers ENOENT): NotBpffsError with a clean text."""
    with make(backend, "hash", 4, 4, 4) as m:
        for path in (str(tmp_path / "x"), str(tmp_path / "no" / "dir" / "x")):
            with pytest.raises(NotBpffsError) as ei:
                m.pin(path)
            text = str(ei.value)
            assert "not-bpffs" not in text and "key does not exist" not in text
            assert "path is not on a bpf file system" in text


def test_pin_missing_directory_on_bpffs(backend, pin_dir):
    with make(backend, "hash", 4, 4, 4) as m:
        with pytest.raises(BPFError) as ei:
            m.pin(os.path.join(pin_dir, "no_such_dir", "x"))
        assert ei.value.errno == errno.ENOENT
        assert ei.value.hint == "the directory of the pin path does not exist"
