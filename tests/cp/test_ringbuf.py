"""RingBuffer / PerfBuffer: records produced by a clang-compiled BPF program (test_run)
on the kernel, and by FakeKernel.ringbuf_output/reserve on the fake."""

from __future__ import annotations

import asyncio
import os
import struct

import pytest

from bpfmaps import Map, Program
from bpfmaps.codecs import U32, U64, Struct
from bpfmaps.ringbuf import PerfBuffer, RecordBatch, RingBuffer
from bpfmaps.testing import FakeKernel

from .bpfobj import load_prog

REC = Struct("=QII48x", names=("seq", "cpu", "mode"))
PKT = bytes(64)


def seqs(recs):
    return [struct.unpack_from("=Q", r)[0] for r in recs]


@pytest.fixture
def producer(bpffs):
    d = load_prog("ring_producer", bpffs)
    with (
        Program.from_pin(os.path.join(d, "prog")) as prog,
        Map.from_pin(os.path.join(d, "rb")) as rb,
        Map.from_pin(os.path.join(d, "cfg"), key=U32, value=U64) as cfg,
        Map.from_pin(os.path.join(d, "events")) as events,
    ):
        yield prog, rb, cfg, events


@pytest.mark.kernel
def test_ringbuf_records_in_order_across_wraparound(producer):
    prog, rbm, cfg, _ = producer
    cfg[1] = 10
    with RingBuffer(rbm) as rb:
        assert rb.poll(0) == [] and rb.consume() == []
        prog.test_run(PKT)
        recs = rb.poll(1.0)
        assert seqs(recs) == list(range(10)) and all(len(r) == 64 for r in recs)
        # 72 bytes per record in a 16 KiB ring: records straddle the end of the data
        # area many times over 60 rounds (130 KiB through the ring)
        nxt = 10
        for _ in range(60):
            prog.test_run(PKT, repeat=3)
            got = seqs(rb.consume())
            assert got == list(range(nxt, nxt + 30))
            nxt += 30
        assert rb.discarded == 0 and not rb.busy


@pytest.mark.kernel
def test_ringbuf_reserve_submit_discard_and_codec(producer):
    prog, rbm, cfg, _ = producer
    cfg[1] = 8
    with RingBuffer(rbm, codec=REC) as rb:
        cfg[0] = 1  # reserve + submit
        prog.test_run(PKT)
        recs = rb.consume()
        assert [r.seq for r in recs] == list(range(8)) and {r.mode for r in recs} == {1}
        cfg[0] = 2  # odd sequence numbers discarded
        prog.test_run(PKT)
        recs = rb.consume()
        assert [r.seq for r in recs] == [8, 10, 12, 14] and rb.discarded == 4


@pytest.mark.kernel
def test_ringbuf_callbacks_batches_and_several_rings(producer):
    prog, rbm, cfg, _ = producer
    cfg[1] = 5
    got = []
    with Map.create("ringbuf", 0, 0, 4096) as other, RingBuffer(rbm, got.append) as rb:
        rb.add(other)
        prog.test_run(PKT)
        assert rb.poll(1.0) == []  # all went to the callback
        assert seqs(got) == list(range(5))
        prog.test_run(PKT, repeat=2)
        batches = rb.consume_batches()
        assert len(batches) == 1 and isinstance(batches[0], RecordBatch)
        b = batches[0]
        assert len(b) == 10 and seqs(b) == list(range(5, 15))
        assert bytes(b.packed(64)[64:72]) == struct.pack("=Q", 6)
        with pytest.raises(ValueError):
            b.packed(32)


@pytest.mark.kernel
def test_ringbuf_async_for(producer):
    prog, rbm, cfg, _ = producer
    cfg[1] = 4

    async def main():
        loop = asyncio.get_running_loop()
        out = []
        with RingBuffer(rbm) as rb:
            loop.call_later(0.05, prog.test_run, PKT)  # records arrive later
            async for rec in rb:
                out.append(rec)
                if len(out) == 4:
                    break
        return out

    assert seqs(asyncio.run(asyncio.wait_for(main(), 10))) == [0, 1, 2, 3]


@pytest.fixture
def one_cpu():
    """Pin this thread to one CPU for the test: BPF_PROG_TEST_RUN with a repeat
    count may reschedule between runs, and under load the task can then move to another
    CPU, whose perf buffer gets the rest of the records (and its LOST record only at that
    CPU's next output), which made the counts below depend on the machine's load."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.kernel
def test_perf_buffer_records_and_lost(producer, one_cpu):
    prog, _, cfg, events = producer
    cfg[0], cfg[1] = 3, 16
    with PerfBuffer(events, codec=REC) as pb:
        assert pb.cpus and pb.discarded == 0
        prog.test_run(PKT, repeat=4)
        recs = pb.poll(1.0)
        assert sorted(r.seq for r in recs) == list(range(64)) and pb.lost == 0
    # close() removed the CPUs' slots: deleting one again finds nothing
    assert events.backend.map_delete_elem(events.fileno(), b"\0\0\0\0") == -2
    # a 1-page buffer that nobody drains overflows: the kernel counts lost samples
    with PerfBuffer(events, pages=1) as pb:
        prog.test_run(PKT, repeat=200)  # 3200 records of 64 + 12 bytes > 4 KiB
        recs = pb.consume()
        assert 0 < len(recs) < 3200
        # the kernel writes its LOST record once there is room again: at the next output
        prog.test_run(PKT)
        recs += pb.consume()
        assert pb.lost > 0 and len(recs) + pb.lost == 3216


def test_type_errors(backend):
    with Map.create("hash", 4, 4, 4, backend=backend) as h:
        with pytest.raises(TypeError, match="ringbuf"):
            RingBuffer(h)
        with pytest.raises(TypeError, match="perf_event_array"):
            PerfBuffer(h)


# -- fake ---------------------------------------------------------------------------------
def test_fake_ring_buffer_interface():
    fk = FakeKernel()
    with Map.create("ringbuf", 0, 0, 4096, backend=fk) as m, RingBuffer(m, codec=REC) as rb:
        assert rb.poll(0) == []
        for i in range(3):
            assert fk.ringbuf_output(m, REC.encode((i, 0, 0))) == 0
        assert [r.seq for r in rb.poll(0.5)] == [0, 1, 2]
        # busy: a reserved record blocks the ones after it until it is submitted
        r1 = fk.ringbuf_reserve(m, 64)
        fk.ringbuf_output(m, REC.encode((9, 0, 0)))
        assert rb.consume() == [] and rb.busy
        r1.data[:] = REC.encode((8, 0, 0))
        r1.submit()
        assert [r.seq for r in rb.consume()] == [8, 9] and not rb.busy
        d = fk.ringbuf_reserve(m, 64)
        d.discard()
        assert rb.consume() == [] and rb.discarded == 1
        # capacity: 72 bytes per record in 4096
        n = 0
        while fk.ringbuf_output(m, bytes(64)) == 0:
            n += 1
        assert n == 4096 // 72 and fk.ringbuf_output(m, bytes(64)) == -11
        assert len(rb.consume()) == n


def test_fake_async_and_two_rings():
    fk = FakeKernel()

    async def main(rb, a, b):
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, fk.ringbuf_output, a, b"A" * 8)
        loop.call_later(0.04, fk.ringbuf_output, b, b"B" * 8)
        out = []
        async for rec in rb:
            out.append(rec)
            if len(out) == 2:
                return out

    with (
        Map.create("ringbuf", 0, 0, 4096, backend=fk) as a,
        Map.create("ringbuf", 0, 0, 4096, backend=fk) as b,
        RingBuffer(a) as rb,
    ):
        rb.add(b)
        assert asyncio.run(asyncio.wait_for(main(rb, a, b), 5)) == [b"A" * 8, b"B" * 8]
    with pytest.raises(ValueError):
        rb.consume()


@pytest.mark.kernel
def test_ringbuf_records_decoded_with_a_btf_codec(producer):
    # the compiled object's BTF (its .BTF section) describes struct rec; a ringbuf map
    # itself carries no BTF types
    from bpfmaps import btf
    from bpfmaps.btf import layout
    from bpfmaps.btf.typed import codec_for

    from .bpfobj import compile_prog

    prog, rbm, cfg, _ = producer
    types = btf.load(compile_prog("ring_producer"))
    rec = codec_for(layout.from_btf(types, types.find("rec").id))
    cfg[1] = 3
    with RingBuffer(rbm, codec=rec) as rb:
        prog.test_run(PKT)
        recs = rb.consume()
    assert [r.seq for r in recs] == [0, 1, 2]
    assert type(recs[0]).__name__ == "rec" and recs[0].pad == bytes(48)
