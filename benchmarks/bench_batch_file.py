"""bpftool batch files: ``python -m bpfmaps batch file F`` versus ``bpftool batch file F``.

Generates a file of N lines in the StackOverflow user's format
(``map update id ID key 0 0 00 00 ... value 10 0 0 1 10 89 0 4 00 ... 00 ``, distinct
keys) against a fresh hash map (key 8, value 32, max_entries N) for every run, and
times whole-process wall time of both tools, interleaved, median of REPEATS.
Anchors measured in the same run: ``python -c pass`` (interpreter start-up) and the
kernel work alone (one BPF_MAP_UPDATE_BATCH of the same N elements, in-process).
Then peak RSS of ``python -m bpfmaps batch file`` on a 1,000,000-line file.

The package's bytecode is compiled first (``compileall``), as ``pip install`` does:
this sandbox sets PYTHONDONTWRITEBYTECODE=1, so without it every run would compile
the package from source (about 20 ms).  ``--no-compile`` measures that case.

Second shape (same run): MIXED_N (default 100,000) mixed lines, see :func:`mixed_lines`,
timed for bpftool, bpfmaps and ``bpfmaps --bpftool-compat``.  ``--mixed-only`` skips
the first shape's results and the RSS check (the first shape is still timed).

    sudo python benchmarks/bench_batch_file.py [N] [REPEATS] [MIXED_N] [--no-compile] [--mixed-only]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bpfmaps.backend import kernel_backend  # noqa: E402

PLACEHOLDER = b"id 4294967295 "


def _lines(start: int, stop: int, mid: int | str) -> str:
    zeros = "00 " * 24
    out = []
    for i in range(start, stop):
        k = i.to_bytes(8, "big")
        key = " ".join(str(b) if b else ("0" if j < 2 else "00") for j, b in enumerate(k))
        out.append(f"map update id {mid} key {key} value 10 0 0 1 10 89 0 4 {zeros}\n")
    return "".join(out)


def mixed_lines(n: int, mid: int | str) -> str:
    """The second shape: N mixed lines in blocks of 10 (short runs): 5 ``noexist``
    updates of new keys (decimal bytes), 2 upserts of those keys written with
    ``key hex``/``value hex``, 3 deletes of keys of the block; every 1000th line is a
    lookup of a key that exists (its output goes to /dev/null)."""
    zeros = "00 " * 24
    out = []
    for i in range(n):
        b, j = divmod(i, 10)
        if i % 1000 == 999:
            k = (5 * b + 4).to_bytes(8, "big")
            out.append(f"map lookup id {mid} key {' '.join(str(x) for x in k)}\n")
        elif j < 5:
            k = (5 * b + j).to_bytes(8, "big")
            out.append(
                f"map update id {mid} key {' '.join(str(x) for x in k)} "
                f"value 10 0 0 1 10 89 0 {j} {zeros}noexist\n"
            )
        elif j < 7:
            k = (5 * b + j - 5).to_bytes(8, "big")
            out.append(
                f"map update id {mid} key hex {k.hex(' ')} value hex 0a 00 00 02 0a 59 00 {j:02x} "
                f"{zeros}\n"
            )
        else:
            k = (5 * b + j - 7).to_bytes(8, "big")
            out.append(f"map delete id {mid} key {' '.join(str(x) for x in k)}\n")
    return "".join(out)


def time_mixed(kb, env, n: int, repeats: int, path: str) -> None:
    """bpftool vs bpfmaps (safe and --bpftool-compat) on the mixed file, interleaved."""
    tmpl = mixed_lines(n, "4294967295").encode()
    times: dict[str, list[float]] = {"bpftool": [], "bpfmaps": [], "bpfmaps --bpftool-compat": []}
    for _ in range(repeats):
        for tool in times:
            fd = kb.map_create(1, 8, 32, n, 0, b"bench_mixed")
            if fd < 0:
                raise SystemExit(f"map create: {os.strerror(-fd)} (run as root)")
            try:
                mid = kb.map_info(fd)[1].id
                with open(path, "wb") as f:
                    f.write(tmpl.replace(PLACEHOLDER, b"id %d " % mid))
                if tool == "bpftool":
                    cmd = ["bpftool", "batch", "file", path]
                else:
                    cmd = [sys.executable, "-m", "bpfmaps", "batch", "file", path]
                    if tool.endswith("compat"):
                        cmd.insert(3, "--bpftool-compat")
                times[tool].append(run_child(cmd, env)[0])
            finally:
                kb.close(fd)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"mixed file: {n} lines, {len(tmpl) / 1e6:.1f} MB (blocks of 5 noexist, 2 key-hex "
        f"upserts, 3 deletes; a lookup every 1000 lines); median of {repeats} runs"
    )
    for k, v in med.items():
        print(f"  {k:26s} {v * 1000:8.1f} ms  ({v / n * 1e6:.2f} us/line)")
    for k in ("bpfmaps", "bpfmaps --bpftool-compat"):
        print(f"  speed-up {k} vs bpftool: {med['bpftool'] / med[k]:.1f}x")


def template(n: int) -> bytes:
    return _lines(0, n, "4294967295").encode()


def write_file(path: str, n: int, mid: int) -> None:
    """Write the N-line file in chunks (the parent never holds it all: a forked
    child's peak RSS would otherwise include the parent's)."""
    with open(path, "w") as f:
        for a in range(0, n, 50_000):
            f.write(_lines(a, min(n, a + 50_000), mid))


def peak_rss_kib(cmd: list[str], env) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) measured by /usr/bin/time when available."""
    if os.path.exists("/usr/bin/time"):
        t0 = time.perf_counter()
        r = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, env=env, cwd=ROOT
        )
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"{cmd} failed: {r.stderr}")
        return wall, int(r.stderr.strip().splitlines()[-1])
    wall, _, rss = run_child(cmd, env)
    return wall, rss


def run_child(cmd: list[str], env=None) -> tuple[float, int, int]:
    """(wall seconds, exit status, peak RSS in KiB) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode()
    p.stderr.close()
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {err}")
    return wall, p.returncode, ru.ru_maxrss


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 200_000
    repeats = int(args[1]) if len(args) > 1 else 5
    mixed_n = int(args[2]) if len(args) > 2 else 100_000
    if "--no-compile" not in sys.argv:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "bpfmaps")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    kb = kernel_backend()
    env = dict(os.environ, PYTHONPATH=ROOT)
    tmpl = template(n)
    path = os.path.join(tempfile.mkdtemp(prefix="bpfmaps-bench-"), "batch.txt")
    times: dict[str, list[float]] = {
        "bpftool": [],
        "bpfmaps": [],
        "python -c pass": [],
        "kernel batch": [],
    }
    keys = b"".join(i.to_bytes(8, "big") for i in range(n))
    values = (bytes([10, 0, 0, 1, 10, 89, 0, 4]) + bytes(24)) * n
    for _ in range(repeats):
        for tool in ("bpftool", "bpfmaps"):
            fd = kb.map_create(1, 8, 32, n, 0, b"bench_file")
            if fd < 0:
                raise SystemExit(f"map create: {os.strerror(-fd)} (run as root)")
            try:
                mid = kb.map_info(fd)[1].id
                with open(path, "wb") as f:
                    f.write(tmpl.replace(PLACEHOLDER, b"id %d " % mid))
                cmd = (
                    ["bpftool", "batch", "file", path]
                    if tool == "bpftool"
                    else [sys.executable, "-m", "bpfmaps", "batch", "file", path]
                )
                times[tool].append(run_child(cmd, env)[0])
            finally:
                kb.close(fd)
        times["python -c pass"].append(run_child([sys.executable, "-c", "pass"], env)[0])
        fd = kb.map_create(1, 8, 32, n, 0, b"bench_anchor")
        try:
            t0 = time.perf_counter()
            rc, done = kb.map_update_batch(fd, keys, values, n, 0, 0)
            times["kernel batch"].append(time.perf_counter() - t0)
            assert rc == 0 and done == n
        finally:
            kb.close(fd)
    med = {k: statistics.median(v) for k, v in times.items()}
    size = len(tmpl)
    if "--mixed-only" in sys.argv:
        time_mixed(kb, env, mixed_n, repeats, path)
        return 0
    print(
        f"file: {n} lines, {size / 1e6:.1f} MB; median of {repeats} runs (wall time, whole process)"
    )
    for k, v in med.items():
        print(f"  {k:16s} {v * 1000:8.1f} ms")
    print(f"  speed-up bpfmaps vs bpftool: {med['bpftool'] / med['bpfmaps']:.1f}x (target >= 8x)")
    print(
        f"  bpfmaps minus floor (start-up + kernel batch): {(med['bpfmaps'] - med['python -c pass'] - med['kernel batch']) * 1000:.1f} ms"
    )

    time_mixed(kb, env, mixed_n, repeats, path)

    # peak RSS on a 1,000,000-line file
    del tmpl, keys, values
    big = 1_000_000
    fd = kb.map_create(1, 8, 32, big, 0, b"bench_rss")
    try:
        mid = kb.map_info(fd)[1].id
        write_file(path, big, mid)
        fsize = os.path.getsize(path)
        wall, rss_kib = peak_rss_kib([sys.executable, "-m", "bpfmaps", "batch", "file", path], env)
    finally:
        kb.close(fd)
        os.unlink(path)
    limit = 2 * fsize + 50 * 2**20
    print(
        f"1M lines ({fsize / 2**20:.0f} MiB file): {wall * 1000:.0f} ms, peak RSS {rss_kib / 1024:.0f} MiB "
        f"(target <= 2 x file + 50 MiB = {limit / 2**20:.0f} MiB): {'OK' if rss_kib * 1024 <= limit else 'OVER'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
