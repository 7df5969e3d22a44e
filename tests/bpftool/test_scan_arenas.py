"""The scanner's arenas (bpfm_arena_new/free/populate): their own mappings, each
unmapped whole by its free; a big scan faults in the bytes it expects to write at
once (one MADV_POPULATE_WRITE an arena instead of a page fault a page)."""

from __future__ import annotations

import pytest

from bpfmaps.bpftool import scan

ffi, lib = scan.extension() or (None, None)
pytestmark = pytest.mark.skipif(lib is None, reason="the C scanner is not built")

PAGE = 4096


def _mapping(addr: int) -> tuple[int, int, int]:
    """(start, end, resident KiB) of the mapping of this process holding ``addr``."""
    found = None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                a, b = (int(x, 16) for x in head.split("-"))
                found = (a, b) if a <= addr < b else None
            elif found and head == "Rss:":
                return found[0], found[1], int(line.split()[1])
    raise AssertionError(f"{addr:#x} is not mapped")


def _mapped(addr: int) -> bool:
    try:
        _mapping(addr)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("size", [100_000, 6 << 20])
def test_arena_is_its_own_mapping_freed_whole(size):
    p = lib.bpfm_arena_new(size)
    assert p != ffi.NULL
    addr = int(ffi.cast("uintptr_t", p))
    try:
        start, end, _ = _mapping(addr)
        assert start == addr - PAGE  # the header page, then the bytes
        assert end - addr >= size + 1 + PAGE  # the bytes and a page of room after them
        ffi.buffer(p, size)[size - 1 : size] = b"\x01"  # writable to the last byte
    finally:
        lib.bpfm_arena_free(p)
    assert not _mapped(addr) and not _mapped(addr - PAGE)


def test_populate_faults_the_bytes_in_and_keeps_to_the_arena():
    size = 8 << 20
    p = lib.bpfm_arena_new(size)
    addr = int(ffi.cast("uintptr_t", p))
    try:
        before = _mapping(addr)[2]
        assert lib.bpfm_arena_populate(p, 3 << 20) == 0
        after = _mapping(addr)[2]
        assert 3 << 10 <= after - before <= (3 << 10) + 8  # 3 MiB more resident, in KiB
        assert bytes(ffi.buffer(p, 16)) == bytes(16)  # still zero: nothing written
        # more than the arena holds: cut to it (no fault beyond, no error)
        assert lib.bpfm_arena_populate(p, 1 << 40) == 0
        assert _mapping(addr)[2] - before <= (size >> 10) + 8
        assert lib.bpfm_arena_populate(p, 100) == 0  # under a page: nothing to do
    finally:
        lib.bpfm_arena_free(p)


def test_big_scans_take_arenas_and_populate_what_they_expect(monkeypatch):
    """A scan whose buffers reach ARENA_MIN bytes writes into arenas and first faults
    in the bytes of about the ops it will write (POPULATE of the probe's estimate:
    never more than it writes for a uniform file); a small one uses the allocator."""
    from bpfmaps.bpftool.handle import Handle
    from bpfmaps.bpftool.parse import parse_batch
    from bpfmaps.types import MapInfo, MapType

    made: list[int] = []
    populated: list[int] = []
    real_arena, real_pop = scan.Scanner._arena, scan.Scanner._populate
    monkeypatch.setattr(
        scan.Scanner, "_arena", lambda self, n: made.append(n) or real_arena(self, n)
    )
    monkeypatch.setattr(
        scan.Scanner,
        "_populate",
        lambda self, bufs, n, run=False: populated.append(n) or real_pop(self, bufs, n, run),
    )
    monkeypatch.setattr(scan, "_free_cpus", lambda: 1)
    info = MapInfo.make(MapType.HASH, id=7, key_size=8, value_size=3, max_entries=1)
    small = b"map update id 7 key 1 0 0 0 0 0 0 0 value 1 2 3\n" * 100
    assert len(list(parse_batch(small, {Handle("id", 7): info}.__getitem__))) == 1
    assert made == [] and populated == []
    n = 60_000
    big = b"".join(
        b"map update id 7 key %d %d 0 0 0 0 0 0 value 1 2 3\n" % (i % 256, i // 256 % 256)
        for i in range(n)
    )
    items = list(parse_batch(big, {Handle("id", 7): info}.__getitem__))
    assert sum(b.count for b in items) == n
    assert made and max(made) >= scan.ARENA_MIN // 2
    assert len(populated) == 1
    assert 0.8 * n <= populated[0] <= n  # about the ops written, never more (uniform lines)
