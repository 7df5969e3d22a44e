"""The in-kernel apply of long runs (bpfmaps._kprog) against the syscalls it replaces.

For each case a fresh map (key 8 B or 4 B for arrays, value 32 B, max_entries N) and N
updates, timed in-process with one C call each (the GIL released, no Python per
element), interleaved rounds, medians:

* ``syscall``: what the engine did before: UPDATE_BATCH calls of 8192 elements
  (``KernelLoops.update_batch_parts``, one part), or for NOEXIST one UPDATE_ELEM an
  element (``KernelLoops.update_elems``);
* ``program``: ``KernelLoops.update_prog`` (one part), building the program included;
* ``program x2``: two parts in two threads (what the engine's parallel apply of an
  empty hash map does now), building included.

Cases: ``hash replace`` (every key present: the populated batch file), ``hash insert``
(empty map), ``hash noexist`` (empty map, BPF_NOEXIST), ``array`` (overwrite indices).

    sudo python benchmarks/bench_kprog.py [--n 200000] [--rounds 7]
"""

from __future__ import annotations

import os
import statistics
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import arguments, timed  # noqa: E402

from bpfmaps.kernel import KernelBackend, KernelLoops  # noqa: E402


def _runner(lp, way, fd, info, keys, ks, values, n, flags, halves):  # type: ignore[no-untyped-def]
    """The call that applies the N updates ``way``."""
    if way == "syscall" and flags:
        return lambda: lp.update_elems(fd, keys, ks, values, 32, n, flags)
    if way == "syscall":
        return lambda: lp.update_batch_parts(fd, keys, values, ks, 32, [(0, n)])
    parts = halves if way == "program x2" else [(0, n)]
    return lambda: lp.update_prog(fd, info, keys, values, 32, parts, flags)


def main() -> int:
    args = arguments(__doc__, 200_000, 7).parse_args()
    n = args.n
    kb, lp = KernelBackend(), KernelLoops()
    hkeys = b"".join(i.to_bytes(8, "big") for i in range(n))
    akeys = b"".join(struct.pack("<I", i) for i in range(n))
    values = bytes(range(32)) * n
    halves = [(0, n // 2), (n // 2, n - n // 2)]

    def fresh(t: int, ks: int, keys: bytes, fill: bool) -> tuple[int, object]:
        fd = kb.map_create(t, ks, 32, n, 0, b"bench_kprog")
        if fd < 0:
            raise SystemExit(f"map create: {os.strerror(-fd)} (run as root)")
        if fill:
            assert kb.map_update_batch(fd, keys, bytes(32 * n), n, 0, 0)[0] == 0
        return fd, kb.map_info(fd)[1]

    cases = {
        "hash replace": (1, 8, hkeys, True, 0),
        "hash insert": (1, 8, hkeys, False, 0),
        "hash noexist": (1, 8, hkeys, False, 1),
        "array": (2, 4, akeys, False, 0),
    }
    ways = ("syscall", "program", "program x2")
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, (t, ks, keys, fill, flags) in cases.items():
            for way in ways:
                if way == "program x2" and (flags or t != 1):
                    continue
                fd, info = fresh(t, ks, keys, fill)
                try:
                    run = _runner(lp, way, fd, info, keys, ks, values, n, flags, halves)
                    times.setdefault((name, way), []).append(timed(run))
                finally:
                    kb.close(fd)
    print(f"n={n}, median of {args.rounds} interleaved rounds, in process")
    print(
        f"  {'case':<14} {'syscall ms':>11} {'program ms':>11} {'ratio':>6} {'x2 ms':>7} {'ratio':>6}"
    )
    for name in cases:
        s = statistics.median(times[(name, "syscall")])
        p = statistics.median(times[(name, "program")])
        line = f"  {name:<14} {s * 1e3:11.1f} {p * 1e3:11.1f} {p / s:6.2f}"
        if (name, "program x2") in times:
            p2 = statistics.median(times[(name, "program x2")])
            line += f" {p2 * 1e3:7.1f} {p2 / s:6.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
