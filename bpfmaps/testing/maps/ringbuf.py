"""Fake BPF_MAP_TYPE_RINGBUF: records a test writes (``FakeKernel.ringbuf_output`` /
``ringbuf_reserve``), read through the same reader interface as the kernel's mapped
ring (``ringbuf_open``), so :class:`bpfmaps.RingBuffer` runs unchanged.

Modelled: capacity (each record takes round_up(len + 8, 8) bytes of the ring; output
fails with EAGAIN when it does not fit), reserved-but-not-submitted records block the
records after them (busy), discarded records are skipped and counted, wake-ups (a
pipe that is readable while submitted records wait; BPF_RB_NO_WAKEUP skips it).
Not modelled: adaptive wake-up suppression (every submit wakes).
"""

from __future__ import annotations

import errno
import os
from collections import deque
from typing import Any, Optional

from .base import EINVAL, F_NUMA_NODE, FakeMap, MapEnv
from .limits import PAGE_SIZE

__all__ = ["FakeRing", "FakeRingBuf", "FakeRingRecord"]

EAGAIN = errno.EAGAIN
BUSY, SUBMITTED, DISCARDED = 0, 1, 2
RB_NO_WAKEUP, RB_FORCE_WAKEUP = 1, 2


def _room(n: int) -> int:
    return (n + 8 + 7) & ~7


class FakeRingRecord:
    """A reserved record (``FakeKernel.ringbuf_reserve``): fill ``data`` (a bytearray
    of the reserved size), then :meth:`submit` or :meth:`discard` it, once."""

    def __init__(self, ring: FakeRingBuf, size: int) -> None:
        self.ring = ring
        self.data: bytearray = bytearray(size)
        self.state: int = BUSY

    def submit(self, flags: int = 0) -> None:
        """``bpf_ringbuf_submit``: readers see the record.  RuntimeError if done twice."""
        self._finish(SUBMITTED, flags)

    def discard(self, flags: int = 0) -> None:
        """``bpf_ringbuf_discard``: readers skip the record.  RuntimeError if done twice."""
        self._finish(DISCARDED, flags)

    def _finish(self, state: int, flags: int) -> None:
        if self.state != BUSY:
            raise RuntimeError("record already submitted or discarded")
        self.state = state
        self.ring.notify(flags)


class FakeRingBuf(FakeMap):
    """ringbuf (``kernel/bpf/ringbuf.c``): no keys, no values, max_entries = bytes."""

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        self.records: deque[FakeRingRecord] = deque()
        self.used: int = 0
        self.readers: list[FakeRing] = []

    @classmethod
    def alloc_check(
        cls,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int,
        map_extra: int = 0,
    ) -> int:
        """``ringbuf_map_alloc``: no key/value, size a power-of-2 multiple of the page.
        Cost: O(1)."""
        if flags & ~F_NUMA_NODE or key_size or value_size:
            return -EINVAL
        page = PAGE_SIZE
        if max_entries < page or max_entries & (max_entries - 1) or max_entries % page:
            return -EINVAL
        return 0

    def count(self) -> int:
        return 0

    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        return -EINVAL, None  # ENOTSUPP on the kernel; bpfmaps never asks

    def reserve(self, size: int) -> Optional[FakeRingRecord]:
        """Room for a record of ``size`` bytes, or None when it does not fit.  Cost: O(1)."""
        if size <= 0 or _room(size) > self.max_entries - self.used:
            return None
        rec = FakeRingRecord(self, size)
        self.records.append(rec)
        self.used += _room(size)
        return rec

    def output(self, data: bytes, flags: int = 0) -> int:
        """Reserve, copy and submit: 0 or -EAGAIN.  Cost: O(len(data))."""
        rec = self.reserve(len(data))
        if rec is None:
            return -EAGAIN
        rec.data[:] = data
        rec.submit(flags)
        return 0

    def notify(self, flags: int) -> None:
        """Wake the readers (unless ``BPF_RB_NO_WAKEUP``)."""
        if flags & RB_NO_WAKEUP:
            return
        for r in self.readers:
            r.signal()

    def take(self, max_records: int) -> tuple[list[bytes], int, bool]:
        """Pop up to max_records submitted records from the front: (data, discarded, busy)."""
        out: list[bytes] = []
        disc = 0
        while self.records and len(out) < max_records:
            rec = self.records[0]
            if rec.state == BUSY:
                return out, disc, True
            self.records.popleft()
            self.used -= _room(len(rec.data))
            if rec.state == DISCARDED:
                disc += 1
            else:
                out.append(bytes(rec.data))
        return out, disc, False

    def pending(self) -> bool:
        """A finished record waits at the front."""
        return bool(self.records) and self.records[0].state != BUSY


class FakeRing:
    """The reader of one fake ring (what ``FakeKernel.ringbuf_open`` returns): the same
    methods as the kernel backend's mapped ring.  Owns a pipe (closed by :meth:`close`)."""

    def __init__(self, ring: FakeRingBuf) -> None:
        self.ring = ring
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self._signalled = False
        self.discarded: int = 0
        self.busy: bool = False
        ring.readers.append(self)
        if ring.pending():
            self.signal()

    def signal(self) -> None:
        """Make :meth:`fileno` readable (once until the records are read)."""
        if not self._signalled and self._w >= 0:
            os.write(self._w, b"\1")
            self._signalled = True

    def pending(self) -> bool:
        """Records wait to be read."""
        return self.ring.pending()

    def read(self, max_records: int) -> tuple[int, bytes, list[int], list[int]]:
        """Up to ``max_records`` records: (n, data padded to 8 each, offsets, lengths).
        Cost: O(bytes read)."""
        recs, disc, busy = self.ring.take(max_records)
        self.discarded += disc
        self.busy = busy
        if not self.ring.pending() and self._signalled:
            try:
                os.read(self._r, 64)
            except BlockingIOError:
                pass
            self._signalled = False
        if not recs:
            return 0, b"", [], []
        offs: list[int] = []
        lens: list[int] = []
        parts: list[bytes] = []
        pos = 0
        for r in recs:
            offs.append(pos)
            lens.append(len(r))
            pad = (-len(r)) % 8
            parts.append(r + bytes(pad))
            pos += len(r) + pad
        return len(recs), b"".join(parts), offs, lens

    def fileno(self) -> int:
        """The wake-up pipe's read end (for select/epoll)."""
        return self._r

    def close(self) -> None:
        """Close the pipe and detach from the ring; idempotent."""
        if self._r >= 0:
            os.close(self._r)
            os.close(self._w)
            self._r = self._w = -1
            if self in self.ring.readers:
                self.ring.readers.remove(self)
