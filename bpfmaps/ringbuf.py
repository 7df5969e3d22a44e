"""Consumers for BPF ring buffers and perf buffers: poll, consume, iterate, callbacks,
``async for`` on an asyncio loop, codec decoding.

:class:`RingBuffer` reads BPF_MAP_TYPE_RINGBUF maps (kernel >= 5.8): the consumer page
is mapped read-write and the producer page and data area read-only (the kernel maps the
data twice in a row, so a record that wraps around the end is contiguous); a C loop
copies the submitted records out in order, skips discarded ones, stops at a busy one
(reserved, not submitted yet: the records after it wait), then publishes the consumer
position.  Wake-ups come through one epoll fd over every ring added, so several ring
buffers share one poller; asyncio watches that same fd (``loop.add_reader``), no thread.

:class:`PerfBuffer` reads BPF_MAP_TYPE_PERF_EVENT_ARRAY maps with the same interface:
one PERF_COUNT_SW_BPF_OUTPUT event per CPU (perf_event_open + mmap, its fd stored in
the map's slot for that CPU), samples copied out by a C loop, lost-sample records
counted in :attr:`PerfBuffer.lost`.

Records are ``bytes``, or what ``codec.decode`` makes of them.  Without a callback,
:meth:`consume`/:meth:`poll` return the records; with one, they call it per record and
return the records of the rings that have none.  :meth:`consume_batches` returns
:class:`RecordBatch` objects (one buffer per read, no Python object per record): the
fast path.  See docs/ring-buffers.md.
"""

from __future__ import annotations

import errno as _errno
import select
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, cast

from .errors import error_from_errno
from .types import MapType

if TYPE_CHECKING:
    from .backend import PerfReader, RingReader
    from .maps import Map

__all__ = ["PerfBuffer", "RecordBatch", "RingBuffer"]

Callback = Callable[[Any], Any]


class RecordBatch:
    """The records of one read from one ring: payloads packed in ``data`` (each record
    at an 8-byte aligned ``offsets[i]``, ``lengths[i]`` bytes; on the kernel ``data``
    is a view valid until the next read, see :meth:`RingBuffer.consume_batches`).  Indexing and iteration give
    ``bytes``; :meth:`packed` a zero-copy view when every record has one size that is
    a multiple of 8 (e.g. for ``numpy.frombuffer``)."""

    __slots__ = ("data", "offsets", "lengths", "source")

    #: the payloads, packed (a view of the reader's arena on the kernel)
    data: bytes | bytearray | memoryview
    #: offset of each record in ``data``
    offsets: Sequence[int]
    #: length of each record
    lengths: Sequence[int]
    #: the ring it came from (its repr names it; ``source.decode`` is its codec's decode)
    source: _Source

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        offsets: Sequence[int],
        lengths: Sequence[int],
        source: _Source,
    ) -> None:
        self.data = data
        self.offsets = offsets
        self.lengths = lengths
        self.source = source

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> bytes:
        o = self.offsets[i]
        return bytes(self.data[o : o + self.lengths[i]])

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.records())

    def records(self) -> list[bytes]:
        """Every record as bytes (one copy of the buffer, then one slice each)."""
        d = bytes(self.data)
        return [d[o : o + n] for o, n in zip(self.offsets, self.lengths)]

    def packed(self, size: int) -> memoryview:
        """The payloads as one buffer of ``len(self) * size`` bytes; ValueError unless
        every record is ``size`` bytes and ``size`` is a multiple of 8."""
        if size % 8 or any(n != size for n in self.lengths):
            raise ValueError(f"records are not all {size} bytes (a multiple of 8)")
        return memoryview(self.data)[: len(self) * size]

    def __repr__(self) -> str:
        return f"<RecordBatch {len(self)} records from {self.source!r}>"


class _Source:
    """One ring being consumed: its reader, callback, decoder and display name."""

    __slots__ = ("reader", "callback", "decode", "name", "owner")

    reader: RingReader
    callback: Optional[Callback]
    decode: Optional[Callable[[bytes], Any]]
    name: str

    def __init__(
        self, reader: RingReader, callback: Optional[Callback], codec: Any, name: str
    ) -> None:
        self.reader = reader
        self.callback = callback
        self.decode = codec.decode if codec is not None else None
        self.name = name

    def __repr__(self) -> str:
        return self.name


class _Poller:
    """What RingBuffer and PerfBuffer share: sources, one epoll fd, the read loops."""

    #: records per C call
    batch = 8192

    def __init__(self) -> None:
        self._sources: list[_Source] = []
        self._ep: Optional[select.epoll] = select.epoll()
        self._closers: list[Callable[[], None]] = []

    # -- set-up --------------------------------------------------------------------
    def _add_source(self, src: _Source) -> None:
        assert self._ep is not None
        self._ep.register(src.reader.fileno(), select.EPOLLIN)
        self._sources.append(src)

    def fileno(self) -> int:
        """The epoll fd: readable when some ring has records (for your own loop)."""
        if self._ep is None:
            raise ValueError("closed")
        return self._ep.fileno()

    @property
    def closed(self) -> bool:
        return self._ep is None

    def close(self) -> None:
        """Unmap every ring and close the epoll fd (idempotent).  The maps stay open."""
        if self._ep is None:
            return
        for src in self._sources:
            src.reader.close()
        for c in self._closers:
            c()
        self._sources = []
        self._ep.close()
        self._ep = None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------
    @property
    def discarded(self) -> int:
        """Discarded records skipped so far (ring buffers; 0 for perf buffers)."""
        return sum(s.reader.discarded for s in self._sources)

    @property
    def busy(self) -> bool:
        """True when the last read of some ring stopped at a reserved, unsubmitted record."""
        return any(s.reader.busy for s in self._sources)

    def _check(self) -> None:
        if self._ep is None:
            raise ValueError(f"{type(self).__name__} is closed")

    def consume_batches(self, max_records: Optional[int] = None) -> list[RecordBatch]:
        """The records available now, without waiting, as RecordBatch objects (one or
        more per ring, in ring order).  Callbacks are not called.  Cost: one C call per
        ``batch`` records (a memcpy each), no Python object per record.

        On the kernel a batch's ``data`` is a view of the ring reader's arena (128 KiB,
        reused so the copies stay in cache): valid until the next ``consume*``/``poll``
        call on this object; copy what you keep (``bytes(b.data)``, ``b.records()``).
        A call returns at most one arena of records per ring: call again until it
        returns an empty list to drain more."""
        self._check()
        out = []
        left = max_records if max_records is not None else -1
        for src in self._sources:
            r = src.reader
            reset = getattr(r, "reset", None)
            if reset is not None:
                reset()
            while left:
                n, data, offs, lens = r.read(self.batch if left < 0 else min(left, self.batch))
                if not n:
                    break
                out.append(RecordBatch(data, offs, lens, src))
                if left > 0:
                    left -= n
        return out

    def consume(self, max_records: Optional[int] = None) -> list[Any]:
        """Every record available now, without waiting: rings with a callback get it
        called per record (decoded); the records of the others are returned (decoded),
        in ring order.  Cost: see :meth:`consume_batches`, plus one ``bytes`` (and one
        decode) per record."""
        out: list[Any] = []
        left = max_records
        # more than one arena may be waiting: read until the rings are empty (bounded,
        # against producers that outrun us forever: 2**16 arenas, 8 GiB of records)
        for _round in range(1 << 16):
            batches = self.consume_batches(left)
            if not batches:
                break
            for b in batches:
                src = b.source
                recs: Any = b.records()
                if left is not None:
                    left -= len(recs)
                if src.decode is not None:
                    recs = list(map(src.decode, recs))
                if src.callback is not None:
                    cb = src.callback
                    for rec in recs:
                        cb(rec)
                else:
                    out.extend(recs)
            if left is not None and left <= 0:
                break
        return out

    def _pending(self) -> bool:
        return any(s.reader.pending() for s in self._sources)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until some ring has records (epoll_wait), at most ``timeout`` seconds
        (None: forever).  True when records are waiting."""
        self._check()
        assert self._ep is not None
        if self._pending():
            return True
        events = self._ep.poll(-1 if timeout is None else timeout)
        return bool(events) or self._pending()

    def poll(self, timeout: Optional[float] = None) -> list[Any]:
        """Wait up to ``timeout`` seconds for records (None: until some arrive; 0: do
        not wait), then :meth:`consume`.  An empty list on timeout."""
        if self.wait(timeout):
            return self.consume()
        return []

    def __iter__(self) -> Iterator[Any]:
        """Records forever (``poll(None)`` in a loop; records of rings with callbacks
        go to the callbacks).  Stop with break, or close() from a callback."""
        while self._ep is not None:
            yield from self.poll(None)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._agen()

    async def _agen(self) -> AsyncIterator[Any]:
        """``async for rec in rb``: waits on the running loop with ``add_reader`` on the
        epoll fd (no thread), then consumes."""
        import asyncio

        loop = asyncio.get_running_loop()
        while self._ep is not None:
            recs = self.consume()
            if recs:
                for r in recs:
                    yield r
                continue
            if self._pending():
                continue  # records for callbacks only, or a busy record: read again
            fut = loop.create_future()
            fd = self.fileno()

            def ready(f: Any = fut) -> None:
                if not f.done():
                    f.set_result(None)

            loop.add_reader(fd, ready)
            try:
                await fut
            finally:
                loop.remove_reader(fd)
            # drain the epoll readiness so the next wait blocks again
            assert self._ep is not None
            self._ep.poll(0)


class RingBuffer(_Poller):
    """A consumer of one or more BPF_MAP_TYPE_RINGBUF maps (kernel >= 5.8).

    ``RingBuffer(m, callback=None, codec=None)``; :meth:`add` more rings (each with
    its own callback and codec) to poll them together.  The Map must stay open while
    the RingBuffer is used; close the RingBuffer first (or use ``with``).
    """

    def __init__(
        self, map: Optional[Map] = None, callback: Optional[Callback] = None, *, codec: Any = None
    ) -> None:
        super().__init__()
        if map is not None:
            try:
                self.add(map, callback, codec=codec)
            except BaseException:
                self.close()
                raise

    def add(
        self, map: Map, callback: Optional[Callback] = None, *, codec: Any = None
    ) -> RingBuffer:
        """Also consume ``map`` (a ringbuf Map).  Maps its pages (two mmaps) and
        registers its fd with the epoll fd.  TypeError for other map types."""
        self._check()
        if map.type != MapType.RINGBUF:
            raise TypeError(f"RingBuffer needs a ringbuf map, not {map!r}")
        reader = map.backend.ringbuf_open(map.fileno(), map.max_entries)
        try:
            self._add_source(_Source(reader, callback, codec, f"ringbuf {map.info.describe()}"))
        except BaseException:
            reader.close()
            raise
        return self

    def __repr__(self) -> str:
        state = "closed" if self._ep is None else f"{len(self._sources)} ring(s)"
        return f"<RingBuffer {state}>"


class PerfBuffer(_Poller):
    """A consumer of a BPF_MAP_TYPE_PERF_EVENT_ARRAY map: per-CPU perf buffers with
    the RingBuffer interface.

    Opens one BPF-output perf event per possible CPU (CPUs that cannot be opened,
    e.g. offline, are skipped), maps ``pages`` data pages for each (a power of two),
    and stores each event's fd in the map's slot for its CPU (removed again by
    :meth:`close`).  BPF programs write with ``bpf_perf_event_output(ctx, &map,
    BPF_F_CURRENT_CPU, data, size)``.  Records lost because a buffer was full are
    counted in :attr:`lost`.  Cost: per CPU one perf_event_open, one mmap, one ioctl,
    one UPDATE_ELEM at set-up.  Kernel floor 4.4 (BPF output events).
    """

    def __init__(
        self,
        map: Map,
        callback: Optional[Callback] = None,
        *,
        codec: Any = None,
        pages: int = 8,
        wakeup_events: int = 1,
    ) -> None:
        super().__init__()
        if map.type != MapType.PERF_EVENT_ARRAY:
            self.close()
            raise TypeError(f"PerfBuffer needs a perf_event_array map, not {map!r}")
        be = map.backend
        opener = getattr(be, "perf_open", None)
        if opener is None:
            self.close()
            raise NotImplementedError(f"the {be.name} backend has no perf buffers")
        self._map = map
        self.cpus: list[int] = []
        try:
            ncpus = min(be.possible_cpus(), map.max_entries)
            for cpu in range(ncpus):
                try:
                    ring = opener(cpu, pages, wakeup_events)
                except OSError as e:
                    if e.errno in (_errno.ENODEV, _errno.ENOENT, _errno.EINVAL):
                        continue  # offline or absent CPU
                    raise
                src = _Source(ring, callback, codec, f"perf buffer of CPU {cpu}")
                size = getattr(codec, "size", None)
                if codec is not None and isinstance(size, int):
                    # raw samples are padded (u32 size + data to a multiple of 8):
                    # decode the codec's own size
                    dec = codec.decode
                    src.decode = lambda b, dec=dec, size=size: dec(b[:size])
                self._add_source(src)
                key = cpu.to_bytes(4, "little")
                rc = be.map_update_elem(map.fileno(), key, ring.fd.to_bytes(4, "little"), 0)
                if rc < 0:
                    raise error_from_errno(-rc, "update", map=map.info.describe(), key=cpu)
                self.cpus.append(cpu)
            self._closers.append(self._unregister)
        except BaseException:
            self._unregister()
            self.close()
            raise

    def _unregister(self) -> None:
        m = self._map
        if m.closed:
            return
        for cpu in self.cpus:
            m.backend.map_delete_elem(m.fileno(), cpu.to_bytes(4, "little"))
        self.cpus = []

    @property
    def lost(self) -> int:
        """Samples the kernel dropped because a CPU's buffer was full."""
        return sum(cast("PerfReader", s.reader).lost for s in self._sources)

    def __repr__(self) -> str:
        state = "closed" if self._ep is None else f"{len(self._sources)} CPU(s)"
        return f"<PerfBuffer {state}>"
