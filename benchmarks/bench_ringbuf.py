"""Ring buffer consumer throughput: 64-byte records, bpfmaps.RingBuffer against a C
consumer on libbpf's ring_buffer__consume (benchmarks/anchor_ringbuf.c), same run.

    python benchmarks/bench_ringbuf.py [--records 400000] [--rounds 7]

A small XDP program (compiled here with clang, loaded with bpftool on a private bpffs)
writes 64 records of 64 bytes per run with bpf_ringbuf_output into a 32 MiB ring;
Program.test_run fills the ring with ``--records`` records (not timed).  Then one
consumer drains the whole ring (timed).  Each round (interleaved order, medians)
refills and drains once per consumer:

* ``libbpf C``: ring_buffer__consume, the callback copies each record out (memcpy) and
  counts it (timed inside the C program);
* ``consume_batches``: ``rb.consume_batches()`` until it returns nothing, the records
  as RecordBatch buffers (one 128 KiB arena per call, reused);
* ``consume``: ``rb.consume()``, a list with one bytes object per record;
* ``callback``: a RingBuffer with a Python callback that counts records.
After one warm-up round (not counted).  Goal: consume_batches >= half the libbpf rate.  Needs root, clang, bpftool, gcc and
libbpf-dev.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))

from bpfmaps import Map, Program, RingBuffer  # noqa: E402

PROG = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct rec { __u64 seq; __u8 pad[56]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 32 << 20); } rb SEC(".maps");
__u64 seq;
SEC("xdp")
int fill(struct xdp_md *ctx)
{
    for (int i = 0; i < 64; i++) {
        struct rec r = {};
        r.seq = __sync_fetch_and_add(&seq, 1);
        bpf_ringbuf_output(&rb, &r, sizeof(r), BPF_RB_NO_WAKEUP);
    }
    return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def build(work: str) -> tuple[str, str]:
    src, obj = os.path.join(work, "fill.bpf.c"), os.path.join(work, "fill.o")
    with open(src, "w") as f:
        f.write(PROG)
    trip = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True).stdout.strip()
    inc = f"-I/usr/include/{trip}"
    subprocess.run(["clang", "-g", "-O2", "-target", "bpf", inc, "-c", src, "-o", obj], check=True)
    anchor = os.path.join(work, "anchor_ringbuf")
    subprocess.run(
        ["gcc", "-O2", "-o", anchor, os.path.join(HERE, "anchor_ringbuf.c"), "-lbpf"], check=True
    )
    return obj, anchor


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=400_000)
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    runs = max(1, a.records // 64)
    n = runs * 64
    work = tempfile.mkdtemp(prefix="bpfmaps-bench-rb-")
    pins = os.path.join(work, "fs")
    os.mkdir(pins)
    subprocess.run(["mount", "-t", "bpf", "bpf", pins], check=True)
    try:
        obj, anchor = build(work)
        bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
        subprocess.run([bpftool, "prog", "load", obj, f"{pins}/prog", "pinmaps", pins], check=True)
        with Program.from_pin(f"{pins}/prog") as prog, Map.from_pin(f"{pins}/rb") as m:
            count = [0]

            def cb(rec: bytes) -> None:
                count[0] += 1

            rb_plain = RingBuffer(m)
            rb_cb = RingBuffer(m, cb)

            def fill() -> None:
                prog.test_run(bytes(64), repeat=runs)

            def py(name: str) -> float:
                fill()
                gc.collect()
                gc.disable()
                try:
                    t0 = time.perf_counter()
                    if name == "consume_batches":
                        got = 0
                        while True:  # one arena (128 KiB) of records per call
                            bs = rb_plain.consume_batches()
                            if not bs:
                                break
                            got += sum(len(b) for b in bs)
                    elif name == "consume":
                        got = len(rb_plain.consume())
                    else:
                        count[0] = 0
                        rb_cb.consume()
                        got = count[0]
                    dt = time.perf_counter() - t0
                finally:
                    gc.enable()
                assert got == n, (name, got, n)
                return dt

            def c() -> float:
                fill()
                out = subprocess.run([anchor, f"{pins}/rb"], check=True, capture_output=True,
                                     text=True).stdout.split()  # fmt: skip
                res = dict(zip(out[::2], out[1::2]))
                assert int(res["records"]) == n, res
                return float(res["seconds"])

            names = ["libbpf C", "consume_batches", "consume", "callback"]
            times: dict[str, list[float]] = {k: [] for k in names}
            for name in names:  # warm-up round, not counted (first faults, caches)
                c() if name == "libbpf C" else py(name)
            for r in range(a.rounds):
                for name in names[r % 4 :] + names[: r % 4]:
                    times[name].append(c() if name == "libbpf C" else py(name))
                    if a.verbose:
                        print(f"    round {r} {name}: {times[name][-1] * 1e3:.2f} ms")
            rb_plain.close()
            rb_cb.close()
        med = {k: statistics.median(v) for k, v in times.items()}
        base = n / med["libbpf C"]
        print(f"{n} records of 64 bytes per drain, rounds={a.rounds} (medians)")
        for k, v in med.items():
            rate = n / v
            print(f"  {k:16s} {rate / 1e6:8.2f} M records/s   {rate / base:5.2f}x libbpf")
        ok = n / med["consume_batches"] >= 0.5 * base
        print(f"goal consume_batches >= 0.5x libbpf: {'met' if ok else 'NOT met'}")
        return 0
    finally:
        subprocess.run(["umount", pins], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
