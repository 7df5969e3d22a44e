"""Ring buffers and perf buffers of the real kernel, mapped into this process and read
by the shim's C consumers (``_ring.c``).  :mod:`bpfmaps.ringbuf` drives them through
``KernelBackend.ringbuf_open``/``perf_open``; the fake's readers
(:mod:`bpfmaps.testing._ringbuf`) have the same interface (:class:`bpfmaps.backend.RingReader`).
"""

from __future__ import annotations

import mmap
import os
import struct

from ._ffi import ffi, lib
from .errors import error_from_errno

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Union

    #: what a reader's ``read(max_records)`` returns: (number of records, payloads,
    #: offsets into the payloads, lengths); (0, b"", [], []) when nothing was read
    RingRead = tuple[int, Union[bytes, bytearray, memoryview], Sequence[int], Sequence[int]]

__all__ = ["KernelPerfRing", "KernelRing"]

_EMPTY: RingRead = (0, b"", [], [])


class KernelRing:
    """One BPF_MAP_TYPE_RINGBUF mapped in this process (consumer page read-write,
    producer page + data area read-only, the data mapped twice by the kernel), read by
    the C consumer ``bpfm_ringbuf_consume``.  ``fileno()`` is the map fd (epoll-able:
    readable when records were submitted with a wake-up).  Kernel floor 5.8.

    Set-up: two mmaps of the map fd (OSError when they fail) and a 128 KiB arena; the
    map fd stays owned by its Map."""

    def __init__(self, fd: int, size: int, max_records: int = 65536) -> None:
        page = mmap.PAGESIZE
        self.fd: int = fd
        self.size: int = size
        self._cons = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            self._prod = mmap.mmap(
                fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page
            )
        except BaseException:
            self._cons.close()
            raise
        self._cp = ffi.from_buffer(self._cons)
        self._pp = ffi.from_buffer(self._prod)
        self._data = self._pp + page
        self._mask = size - 1
        self.max_records: int = max_records
        # where records are copied to: allocated (and its pages touched) once, refilled
        # from the start by reset(); 128 KiB, so the copies stay in the CPU's cache
        # (grown when one record is larger)
        self._alloc(1 << 17)
        self._disc = ffi.new("uint64_t *")
        self._busy = ffi.new("int *")

    @property
    def discarded(self) -> int:
        """Records the producer discarded (skipped by the reads so far)."""
        return int(self._disc[0])

    @property
    def busy(self) -> bool:
        """True when the last read stopped at a reserved, not yet submitted record."""
        return bool(self._busy[0])

    def pending(self) -> bool:
        """True when the producer position is ahead of ours (no syscall)."""
        return bool(lib.bpfm_ringbuf_pending(self._cp, self._pp))

    def reset(self) -> None:
        """Start filling the arena from the beginning again: the views returned by
        earlier reads are overwritten by the next ones."""
        self._pos = 0
        self._rec = 0

    def read(self, max_records: int) -> RingRead:
        """(n, payloads, offsets, lengths) of up to ``max_records`` records: the
        payloads copied straight from the ring into this reader's arena, offsets
        (relative to the payload view) and lengths into its uint32 arrays; views of
        them are returned, valid until :meth:`reset` (no copy, no Python object per
        record).  0 records when the ring is empty or the arena is full.  No syscall."""
        while True:
            m = min(max_records, self._arena_recs - self._rec)
            cap = min(lib.bpfm_ringbuf_avail(self._cp, self._pp), self._arena_size - self._pos)
            if cap <= 0 or m <= 0:
                return _EMPTY
            r = self._rec
            n = lib.bpfm_ringbuf_consume(
                self._cp, self._pp, self._data, self._mask, self._arena + self._pos, cap,
                self._offs + r, self._lens + r, m, self._disc, self._busy,
            )  # fmt: skip
            if n == 0 and not self._busy[0] and self.pending() and self._pos == 0:
                # the next record is larger than the arena: grow it
                self._alloc(self._arena_size * 2)
                continue
            break
        if n == 0:
            return _EMPTY
        end: int = self._offs[r + n - 1] + self._lens[r + n - 1]
        data = self._view[self._pos : self._pos + end]
        self._pos += (end + 7) & ~7
        self._rec += n
        return n, data, self._offv[r : r + n], self._lenv[r : r + n]

    def _alloc(self, size: int) -> None:
        self._arena_size = size
        self._arena_recs = size // 8  # a record takes at least 8 bytes of the ring
        self._arena = ffi.new("char[]", size)
        self._view = memoryview(ffi.buffer(self._arena))
        self._offs = ffi.new("uint32_t[]", self._arena_recs)
        self._lens = ffi.new("uint32_t[]", self._arena_recs)
        self._offv = memoryview(ffi.buffer(self._offs)).cast("I")
        self._lenv = memoryview(ffi.buffer(self._lens)).cast("I")
        self._pos = self._rec = 0

    def close(self) -> None:
        """Unmap the ring (the views returned by reads are released).  Idempotent."""
        self._cp = self._pp = self._data = ffi.NULL
        for v in (self._view, self._offv, self._lenv):
            v.release()
        for mm in (self._cons, self._prod):
            try:
                mm.close()
            except BufferError:  # pragma: no cover - only our cdata referenced them
                pass

    def fileno(self) -> int:
        """The map fd (for epoll)."""
        return self.fd


class KernelPerfRing:
    """The perf ring of one CPU of a BPF_MAP_TYPE_PERF_EVENT_ARRAY: a
    PERF_COUNT_SW_BPF_OUTPUT event opened on that CPU (the fd the map's slot holds),
    its mmap (1 + 2**k pages), read by the C consumer ``bpfm_perf_consume``.

    Set-up: perf_event_open, one mmap, one ioctl (BPFError/OSError when they fail;
    ValueError when ``pages`` is no power of two).  Owns the event fd (:meth:`close`).
    Kernel floor 4.4."""

    #: perf rings have no reserved-but-unsubmitted records nor discards (ring-buffer API)
    busy: bool = False
    discarded: int = 0

    def __init__(self, cpu: int, pages: int, max_records: int = 8192, wakeup: int = 1) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise ValueError(f"pages must be a power of two, not {pages}")
        fd = lib.bpfm_perf_open_bpf_output(cpu, wakeup)
        if fd < 0:
            raise error_from_errno(-fd, "perf_event_open", map=f"perf buffer of CPU {cpu}")
        self.fd: int = fd
        self.cpu: int = cpu
        page = mmap.PAGESIZE
        self.size: int = pages * page
        try:
            self._mm = mmap.mmap(
                fd, page + self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except BaseException:
            os.close(fd)
            raise
        self._base = ffi.from_buffer(self._mm)
        self.max_records: int = max_records
        self._cap = max(self.size, 4096)
        self._out = ffi.new("char[]", self._cap)
        self._offs = ffi.new("uint64_t[]", max_records)
        self._lens = ffi.new("uint32_t[]", max_records)
        self._lost = ffi.new("uint64_t *")
        rc = lib.bpfm_perf_enable(fd, 1)
        if rc < 0:
            self.close()
            raise error_from_errno(-rc, "perf_event_enable")

    @property
    def lost(self) -> int:
        """Samples the kernel dropped because this CPU's buffer was full."""
        return int(self._lost[0])

    def pending(self) -> bool:
        """True when the ring holds unread records (reads the mmap'd header)."""
        head, tail = struct.unpack_from("=QQ", self._mm, 1024)
        return bool(head != tail)

    def read(self, max_records: int) -> RingRead:
        """(n, payloads, offsets, lengths) of up to ``max_records`` samples, copied out
        (valid after the next read).  No syscall."""
        n = lib.bpfm_perf_consume(
            self._base, self.size, self._out, self._cap, self._offs, self._lens,
            min(max_records, self.max_records), self._lost,
        )  # fmt: skip
        if n == 0:
            return _EMPTY
        end: int = self._offs[n - 1] + self._lens[n - 1]
        offs = memoryview(ffi.buffer(self._offs, 8 * n)[:]).cast("Q")
        lens = memoryview(ffi.buffer(self._lens, 4 * n)[:]).cast("I")
        return n, bytearray(ffi.buffer(self._out, end)), offs, lens

    def close(self) -> None:
        """Unmap the ring and close the event fd.  Idempotent."""
        if self.fd < 0:
            return
        self._base = ffi.NULL
        try:
            self._mm.close()
        except BufferError:  # pragma: no cover
            pass
        os.close(self.fd)
        self.fd = -1

    def fileno(self) -> int:
        """The perf event fd (for epoll)."""
        return self.fd
