"""Parsing the kernel's BTF: ``bpfmaps.btf.parse`` on /sys/kernel/btf/vmlinux.

    python benchmarks/bench_btf_parse.py [--repeats 7] [--file /sys/kernel/btf/vmlinux]

Reports the median wall time of (a) ``parse`` (headers, names, every check incl. the
loop check: what ``bpfmaps.btf.load`` costs), (b) the same without the loop check,
(c) materializing every member/param/enum value list afterwards (lazy in the model),
and for comparison (d) ``bpftool btf dump file F format raw > /dev/null`` when bpftool
is installed (it also prints every type, so it is an upper bound, not a twin).
Goal: (a) well under one second for about 125k types.  No root needed for (a)-(c).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bpfmaps import btf  # noqa: E402


def _median(run, repeats: int) -> float:
    """Median wall time with the GC enabled, as a user calls it (parse pauses it itself)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--file", default=btf.VMLINUX_PATH)
    args = ap.parse_args()
    with open(args.file, "rb") as f:
        data = f.read()
    t = btf.parse(data)
    print(f"{args.file}: {len(data)} bytes, {len(t) - 1} types")
    full = _median(lambda: btf.parse(data), args.repeats)
    noloop = _median(lambda: btf.parse(data, check_loops=False), args.repeats)

    def materialize() -> None:
        btf.parse(data).materialize()

    mat = _median(materialize, args.repeats) - full
    print(f"parse (all checks)        {full * 1e3:8.1f} ms")
    print(f"parse (no loop check)     {noloop * 1e3:8.1f} ms")
    print(f"+ materialize all lists   {mat * 1e3:8.1f} ms")
    bt = shutil.which("bpftool")
    if bt:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run(
                [bt, "btf", "dump", "file", args.file, "format", "raw"],
                stdout=subprocess.DEVNULL,
                check=True,
            )
            times.append(time.perf_counter() - t0)
        times.sort()
        print(f"bpftool btf dump (raw)    {times[len(times) // 2] * 1e3:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
