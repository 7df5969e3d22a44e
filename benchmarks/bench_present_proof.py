"""What a proof that every key is already present would cost, against what a parallel
apply into a populated map would gain (docs/performance.md, "Populated map: no
parallel apply").

A hash map (key 8, value 32, N entries, max_entries N: full) holds every key of an
N-element batch.  Timed in-process, median of REPEATS, a fresh populated map each:

* ``apply serial``: the batch as UPDATE_BATCH calls of 8192 (what the engine does today);
* ``apply 2 parts``: the same in two threads (the parallel apply; the gain is the difference);
* ``lookup per key``: LOOKUP_ELEM of every key in the C loop, one and two threads (a proof
  by lookups);
* ``dump``: LOOKUP_BATCH of the whole map, one thread, and two threads each starting at
  half of the bucket range (a proof by dumping the map; the keys would then be checked
  against the dump in C, not timed here);
* ``UPDATE_BATCH + BPF_EXIST``: the rc of a batch with elem_flags BPF_EXIST (a speculative
  parallel apply that stops at absent keys needs it; kernels refuse it with EINVAL).

    sudo python benchmarks/bench_present_proof.py [N] [REPEATS]
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bpfmaps.backend import kernel_backend  # noqa: E402
from bpfmaps.loops import of  # noqa: E402

CHUNK = 8192


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    kb = kernel_backend()
    lp = of(kb)
    keys = b"".join(i.to_bytes(8, "big") for i in range(n))
    values = bytes(range(32)) * n
    out = bytearray(32 * n)
    nb = 1 << max(n - 1, 1).bit_length()  # the hash map's buckets: max_entries rounded up
    halves = [(0, n // 2), (n // 2, n - n // 2)]

    def fresh() -> int:
        fd = kb.map_create(1, 8, 32, n, 0, b"bench_proof")
        if fd < 0:
            raise SystemExit(f"map create: {os.strerror(-fd)} (run as root)")
        rc, _ = kb.map_update_batch(fd, keys, bytes(32 * n), n, 0, 0)
        assert rc == 0, rc
        return fd

    def lookups(fd: int, parts: list[tuple[int, int]]) -> None:
        def work(s: int, c: int) -> None:
            rc, _ = lp.lookup_elems(
                fd, memoryview(keys)[8 * s :], 8, memoryview(out)[32 * s :], 32, c
            )
            assert rc == 0, rc

        ts = [threading.Thread(target=work, args=p) for p in parts[1:]]
        for t in ts:
            t.start()
        work(*parts[0])
        for t in ts:
            t.join()

    def dump(fd: int, starts: list[int]) -> None:
        def work(i: int) -> None:
            stop = starts[i + 1] if i + 1 < len(starts) else nb
            kout, vout = bytearray(8 * CHUNK), bytearray(32 * CHUNK)
            cursor, nxt = starts[i].to_bytes(4, "little"), bytearray(4)
            first = True
            while True:
                rc, _ = kb.map_lookup_batch(
                    fd, None if first and starts[i] == 0 else cursor, nxt, kout, vout, CHUNK
                )
                first = False
                cursor = bytes(nxt)
                if rc < 0 or int.from_bytes(cursor, "little") >= stop:
                    break

        ts = [threading.Thread(target=work, args=(i,)) for i in range(1, len(starts))]
        for t in ts:
            t.start()
        work(0)
        for t in ts:
            t.join()

    cases = [
        ("apply serial", lambda fd: lp.update_batch_parts(fd, keys, values, 8, 32, [(0, n)])),
        ("apply 2 parts", lambda fd: lp.update_batch_parts(fd, keys, values, 8, 32, halves)),
        ("lookup per key, 1 thread", lambda fd: lookups(fd, [(0, n)])),
        ("lookup per key, 2 threads", lambda fd: lookups(fd, halves)),
        ("dump, 1 thread", lambda fd: dump(fd, [0])),
        ("dump, 2 threads", lambda fd: dump(fd, [0, nb // 2])),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, fn in cases:
            fd = fresh()
            try:
                t0 = time.perf_counter()
                fn(fd)
                times[name].append(time.perf_counter() - t0)
            finally:
                kb.close(fd)
    print(f"N = {n}, full populated hash map (key 8, value 32); median of {repeats}")
    for name, _ in cases:
        print(f"  {name:28s} {statistics.median(times[name]) * 1000:7.1f} ms")
    fd = fresh()
    try:
        rc, _ = kb.map_update_batch(fd, keys[:8], values[:32], 1, 2, 0)  # elem_flags BPF_EXIST
    finally:
        kb.close(fd)
    print(f"  UPDATE_BATCH + BPF_EXIST     rc {rc} ({os.strerror(-rc) if rc < 0 else 'accepted'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
