"""The scanner's arenas (bpfm_arena_new/free): their own mappings, big ones at a huge
page boundary with the huge-page hint, each unmapped whole by its free."""

from __future__ import annotations

import pytest

from bpfmaps.bpftool import scan

ffi, lib = scan._ext() or (None, None)
pytestmark = pytest.mark.skipif(lib is None, reason="the C scanner is not built")

HUGE = 2 << 20


def _mappings() -> dict[int, tuple[int, str]]:
    """start -> (end, VmFlags) of every mapping of this process (/proc/self/smaps)."""
    out: dict[int, tuple[int, str]] = {}
    start = end = 0
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                a, b = head.split("-")
                start, end = int(a, 16), int(b, 16)
            elif head == "VmFlags:":
                out[start] = (end, line.split(":", 1)[1])
    return out


def _covering(addr: int) -> tuple[int, int, str]:
    for start, (end, flags) in _mappings().items():
        if start <= addr < end:
            return start, end, flags
    raise AssertionError(f"{addr:#x} is not mapped")


@pytest.mark.parametrize("size", [4 << 20, (6 << 20) + 123, 40 << 20])
def test_big_arena_starts_at_a_huge_page_with_the_hint(size):
    p = lib.bpfm_arena_new(size)
    assert p != ffi.NULL
    addr = int(ffi.cast("uintptr_t", p))
    try:
        assert addr % HUGE == 0
        start, end, flags = _covering(addr)
        assert "hg" in flags.split()  # MADV_HUGEPAGE on the bytes
        assert end - addr >= size + 1  # the bytes and the room after them
        # the whole size is writable, to its last byte
        ffi.buffer(p, size)[size - 1 : size] = b"\x01"
        # the header page just before is mapped (the free reads it), nothing more is
        hs, he, _ = _covering(addr - 4096)
        assert hs == addr - 4096
    finally:
        lib.bpfm_arena_free(p)
    assert not any(s <= addr < e for s, (e, _) in _mappings().items())
    assert not any(s <= addr - 4096 < e for s, (e, _) in _mappings().items())


def test_small_arena_has_no_hint_and_is_freed_whole():
    p = lib.bpfm_arena_new(100_000)
    addr = int(ffi.cast("uintptr_t", p))
    try:
        start, end, flags = _covering(addr)
        assert "hg" not in flags.split()
        assert start == addr - 4096 and end - addr >= 100_001
    finally:
        lib.bpfm_arena_free(p)
    assert not any(s <= addr < e for s, (e, _) in _mappings().items())


def test_big_scans_take_arenas(monkeypatch):
    """A scan whose buffers reach ARENA_MIN bytes writes into arenas (so a 200k-line
    file's 14 MiB fault in as a few huge pages, not 3,500 small ones); a small one uses
    the allocator."""
    from bpfmaps.bpftool.handle import Handle
    from bpfmaps.bpftool.parse import parse_batch
    from bpfmaps.types import MapInfo, MapType

    made = []
    real = scan.Scanner._arena
    monkeypatch.setattr(scan.Scanner, "_arena", lambda self, n: made.append(n) or real(self, n))
    monkeypatch.setattr(scan, "_free_cpus", lambda: 1)
    info = MapInfo.make(MapType.HASH, id=7, key_size=8, value_size=3, max_entries=1)
    small = b"map update id 7 key 1 0 0 0 0 0 0 0 value 1 2 3\n" * 100
    assert len(list(parse_batch(small, {Handle("id", 7): info}.__getitem__))) == 1
    assert made == []
    big = b"".join(
        b"map update id 7 key %d %d 0 0 0 0 0 0 value 1 2 3\n" % (i % 256, i // 256)
        for i in range(60_000)
    )
    items = list(parse_batch(big, {Handle("id", 7): info}.__getitem__))
    assert sum(b.count for b in items) == 60_000
    assert made and max(made) >= scan.ARENA_MIN // 2
