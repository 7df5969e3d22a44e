"""bpftool batch files: ``bpfmaps batch file F`` versus ``bpftool batch file F``.

One file shape per goal (see SHAPES and :func:`make_file`), each against fresh hash
maps (key 8, value 32) for every run; whole-process wall time of each tool,
interleaved round by round, median of REPEATS; the ratio is bpftool / bpfmaps of
the same run.  bpfmaps is timed twice: as ``python -m bpfmaps`` and as the installed
``bpfmaps`` command (the one next to ``sys.executable``, when there is one: what users
run; it skips runpy's imports, about 2 ms).  Shapes (N lines unless said otherwise):

* ``populated``: upserts in the StackOverflow user's format (``map update id ID key
  0 0 00 00 ... value 10 0 0 1 10 89 0 4 00 ... 00``) into a map that already holds
  those keys (re-applying a generated file);
* ``random``: the same lines into an empty map, keys in random order;
* ``increasing``: the same lines into an empty map, increasing keys;
* ``lookup``: N/2 lines alternating ``map update`` and ``map lookup`` of that key
  (lookup output to /dev/null);
* ``mixed``: N/2 mixed lines on two maps (blocks of noexist updates, exist updates,
  key-hex upserts, deletes, a getnext every 100 lines);
* ``json``: ``-j batch file`` of N/2 upserts against ``bpftool -j batch file``;
* ``json-lookup``: ``-j batch file`` of the ``lookup`` file against ``bpftool -j``
  (no goal in the engine issue: bpfmaps is to be faster than bpftool on every file);
* ``dump``, ``json-dump``: a one-line file, ``map dump`` of a map holding N/2 entries
  (plain, and ``-j``); not in the default set (``--shapes=dump,json-dump``): no goal of
  the issue either, and not ordinary lines for the scanner;
* ``percpu-lookup``, ``percpu-json-lookup``: the ``lookup`` file on a per-CPU hash map,
  plain and ``-j`` (on request too);
* ``percpu-dump``, ``percpu-json-dump``: ``dump`` and ``json-dump`` of a per-CPU hash
  map (on request too);
* ``btf-dump``, ``btf-json-dump``, ``btf-lookup``, ``btf-json-lookup``: ``dump``,
  ``json-dump``, ``lookup`` and ``json-lookup`` on hash maps with BTF (key ``unsigned long
  long``, value ``struct val { unsigned int a, b; unsigned long long c[3]; }``): both
  tools print the entries formatted from the BTF (on request too);
* ``jp``, ``jp-lookup``, ``btf-jp-lookup``: the ``json``, ``json-lookup`` and
  ``btf-json-lookup`` files with ``-jp`` (bpftool's pretty JSON) on both tools (on request);
* ``user``: a 513-line file like the user's (512 + 1 updates, two maps): ``python -m
  bpfmaps`` and the installed ``bpfmaps`` command (the one next to ``sys.executable``,
  when there is one: ``pip install .`` of this tree), each against a bare ``python -c
  pass`` of the same interpreter, the three interleaved, ``USER_ROUNDS`` times a round
  (its runs are short); its ratios are medians of the ratios of runs side by side.
  The command imports the package from this tree too (PYTHONPATH); only its script is
  the installed one.  The goal (<= 1.5x) is the command's, the README's way in;
  ``python -m`` pays ``runpy`` before any bpfmaps code (its floor:
  benchmarks/bench_startup_floor.py);
* ``queue``, ``json-queue``: N/2 lines on a queue (value 32 bytes): blocks of 100 pushes,
  then 100 pops (plain and ``-j``; on request);
* ``btf-user``: the ``user`` file on the BTF shapes' maps (a loader's maps carry BTF;
  updates print nothing, so no BTF is read), timed as ``user`` (on request).

Then peak RSS (``/usr/bin/time -v``) of ``python -m bpfmaps batch file`` on 1M- and
(with ``--10m``) 10M-line files.

The package's bytecode is compiled first (``compileall``), as ``pip install`` does, and one
untimed run of the command writes the bundle of its modules' code, as a user's first run does.

    sudo python benchmarks/bench_batch_file.py [N] [REPEATS] [--shapes=a,b] [--rss] [--10m]

(``--help`` lists them; the temporary directory of the files is removed at the end.)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bpfmaps.backend import kernel_backend  # noqa: E402

SHAPES = ("populated", "random", "increasing", "lookup", "mixed", "json", "json-lookup", "user")
#: shapes measured on request only (no goal of the engine issue): dumps (one command,
#: not scanner lines) and the lookup file on a per-CPU hash map
EXTRA_SHAPES = (
    "dump",
    "json-dump",
    "percpu-lookup",
    "percpu-json-lookup",
    "percpu-dump",
    "percpu-json-dump",
    "btf-dump",
    "btf-json-dump",
    "btf-lookup",
    "btf-json-lookup",
    "jp",
    "jp-lookup",
    "btf-jp-lookup",
    "btf-user",
    "queue",
    "json-queue",
)
#: the shapes on a queue (keyless: pushes and pops)
QUEUE_SHAPES = ("queue", "json-queue")
#: the small-file shapes, timed against a bare ``python -c pass`` (see ``user``)
USER_SHAPES = ("user", "btf-user")
#: the shapes whose file is one ``map dump`` of a map holding N/2 entries
DUMP_SHAPES = ("dump", "json-dump", "percpu-dump", "percpu-json-dump", "btf-dump", "btf-json-dump")
#: the shapes on per-CPU hash maps, and the ones run with -j
PERCPU_SHAPES = ("percpu-lookup", "percpu-json-lookup", "percpu-dump", "percpu-json-dump")
JSON_SHAPES = (
    "json",
    "json-lookup",
    "json-dump",
    "percpu-json-dump",
    "percpu-json-lookup",
    "json-queue",
    "btf-json-dump",
    "btf-json-lookup",
)
#: the shapes run with -jp (bpftool's pretty JSON), a subset of JSON_SHAPES
PRETTY_SHAPES = ("jp", "jp-lookup", "btf-jp-lookup")
JSON_SHAPES += PRETTY_SHAPES
#: the shapes on hash maps with BTF (key ``unsigned long long``, value ``struct val { __u32
#: a, b; __u64 c[3]; }``, as a loader's map has it): bpftool prints their entries formatted
BTF_SHAPES = (
    "btf-dump", "btf-json-dump", "btf-lookup", "btf-json-lookup", "btf-jp-lookup", "btf-user",
)  # fmt: skip
_ZEROS = "00 " * 24


def _key_words(i: int) -> str:
    k = i.to_bytes(8, "big")
    return " ".join(str(b) if b else ("0" if j < 2 else "00") for j, b in enumerate(k))


def _update(mid, i: int, tail: str = "") -> str:
    return f"map update id {mid} key {_key_words(i)} value 10 0 0 1 10 89 0 4 {_ZEROS}{tail}\n"


def make_file(shape: str, n: int, mid, mid2) -> str:
    """The file of ``shape`` with ``n`` lines (see the module doc) for maps ``mid``
    (and ``mid2``)."""
    if shape in ("populated", "increasing"):
        return "".join(_update(mid, i) for i in range(n))
    if shape == "random":
        order = list(range(n))
        random.Random(1).shuffle(order)
        return "".join(_update(mid, i) for i in order)
    if shape in DUMP_SHAPES:
        return f"map dump id {mid}\n"
    if shape in ("lookup", "json-lookup", "percpu-lookup", "percpu-json-lookup", "btf-lookup",
                 "btf-json-lookup", "jp-lookup", "btf-jp-lookup"):  # fmt: skip
        return "".join(
            _update(mid, i // 2)
            if i % 2 == 0
            else f"map lookup id {mid} key {_key_words(i // 2)}\n"
            for i in range(n)
        )
    if shape == "mixed":
        out = []
        for i in range(n):
            b, j = divmod(i, 10)
            m = mid if b % 2 == 0 else mid2
            if i % 100 == 99:
                out.append(f"map getnext id {m} key {_key_words(5 * b)}\n")
            elif j < 4:
                out.append(_update(m, 5 * b + j, "noexist"))
            elif j < 6:
                k = (5 * b + j - 4).to_bytes(8, "big")
                out.append(
                    f"map update id {m} key hex {k.hex(' ')} value hex 0a 00 00 02 0a 59 00 "
                    f"{j:02x} {_ZEROS}\n"
                )
            elif j < 7:
                out.append(_update(m, 5 * b + 2, "exist"))
            else:
                out.append(f"map delete id {m} key {_key_words(5 * b + j - 7)}\n")
        return "".join(out)
    if shape in QUEUE_SHAPES:  # blocks of 100 pushes, then 100 pops
        return "".join(
            f"map push id {mid} value {_key_words(i)} {_ZEROS}\n"
            if (i // 100) % 2 == 0
            else f"map pop id {mid}\n"
            for i in range(n)
        )
    if shape in ("json", "jp"):
        return "".join(_update(mid, i) for i in range(n))
    if shape in USER_SHAPES:
        return "".join(_update(mid, i) for i in range(512)) + _update(mid2, 0)
    raise ValueError(shape)


def btf_fd(kb) -> tuple[int, int, int]:
    """(BTF fd, key type id, value type id) of the BTF shapes' maps: key ``unsigned
    long long``, value ``struct val { unsigned int a, b; unsigned long long c[3]; }``."""
    from bpfmaps.btf.writer import BTFWriter

    w = BTFWriter()
    u32 = w.add_int("unsigned int", 4)
    u64 = w.add_int("unsigned long long", 8)
    arr = w.add_array(u64, 3, u32)
    val = w.add_struct("val", 32, [("a", u32, 0), ("b", u32, 32), ("c", arr, 64)])
    fd, log = kb.btf_load(w.encode(), 1 << 16)
    if fd < 0:
        raise SystemExit(f"BTF_LOAD: {os.strerror(-fd)}: {log}")
    return fd, u64, val


def _size(shape: str, n: int) -> int:
    return n if shape in ("populated", "random", "increasing") else n // 2


def run_child(cmd: list[str], env=None, stdout=subprocess.DEVNULL) -> float:
    """Wall seconds of one child process (fails on a non-zero exit)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed ({p.returncode}): {p.stderr.decode()[:2000]}")
    return wall


#: the installed command of this interpreter's environment (``user`` shape)
COMMAND = os.path.join(os.path.dirname(sys.executable), "bpfmaps")


def _tools(shape: str) -> tuple[str, ...]:
    if shape not in USER_SHAPES:
        return (
            ("bpftool", "bpfmaps", "command")
            if os.access(COMMAND, os.X_OK)
            else ("bpftool", "bpfmaps")
        )
    if os.access(COMMAND, os.X_OK):
        return ("python -c pass", "bpfmaps", "command")
    return ("python -c pass", "bpfmaps")


#: rounds of the ``user`` shape within each round of the others: its runs take ~20 ms,
#: so it gets more of them, and its ratios are those of runs side by side (see below)
USER_ROUNDS = 5


def time_shapes(kb, env, n: int, repeats: int, shapes, path: str) -> dict:
    py = [sys.executable, "-m", "bpfmaps"]
    results = {}
    btf = btf_fd(kb) if any(s in BTF_SHAPES for s in shapes) else None
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for shape in shapes:
            size = _size(shape, n)
            for tool in _tools(shape) * (USER_ROUNDS if shape in USER_SHAPES else 1):
                mtype = 5 if shape in PERCPU_SHAPES else 1  # (PERCPU_HASH, HASH)
                if shape in QUEUE_SHAPES:
                    mtype = 22  # QUEUE (no key)
                ids = {}
                if shape in BTF_SHAPES:
                    assert btf is not None
                    ids = dict(btf_fd=btf[0], btf_key_type_id=btf[1], btf_value_type_id=btf[2])
                fds = [
                    kb.map_create(
                        mtype, 0 if mtype == 22 else 8, 32, max(size, 1024), 0, b"bench_file", **ids
                    )
                    for _ in range(2)
                ]
                if min(fds) < 0:
                    raise SystemExit(f"map create: {os.strerror(-min(fds))} (run as root)")
                try:
                    mids = [kb.map_info(fd)[1].id for fd in fds]
                    with open(path, "w") as f:
                        f.write(make_file(shape, size, *mids))
                    if shape == "populated" or shape in DUMP_SHAPES:
                        keys = b"".join(i.to_bytes(8, "big") for i in range(size))
                        per = 32 * (kb.possible_cpus() if mtype == 5 else 1)
                        vals = bytes(per * size)
                        if shape in BTF_SHAPES:  # values with every field set
                            vals = b"".join(
                                (i * 2654435761 & 0xFFFFFFFF).to_bytes(4, "little") * 2
                                + (i * 0x9E3779B97F4A7C15 & (1 << 64) - 1).to_bytes(8, "little") * 3
                                for i in range(size)
                            )
                        rc, _ = kb.map_update_batch(fds[0], keys, vals, size, 0, 0)
                        assert rc == 0
                    j = (
                        ["-jp"]
                        if shape in PRETTY_SHAPES
                        else ["-j"]
                        if shape in JSON_SHAPES
                        else []
                    )
                    if tool == "bpftool":
                        cmd = ["bpftool", *j, "batch", "file", path]
                    elif tool == "python -c pass":
                        cmd = [sys.executable, "-c", "pass"]
                    elif tool == "command":
                        cmd = [COMMAND, *j, "batch", "file", path]
                    else:
                        cmd = [*py, *j, "batch", "file", path]
                    times.setdefault((shape, tool), []).append(run_child(cmd, env))
                finally:
                    for fd in fds:
                        kb.close(fd)
    if btf is not None:
        kb.close(btf[0])
    for shape in shapes:
        tools = _tools(shape)
        a, b = (statistics.median(times[(shape, t)]) for t in tools[:2])
        results[shape] = (a, b)
        if shape in USER_SHAPES:
            # each ratio is the median of the ratios of runs side by side (the same
            # sub-round), which a drift of the machine's speed over the rounds leaves alone
            bare = times[(shape, "python -c pass")]
            line = f"  {shape:15s} 513 lines  python -c pass {a * 1000:7.1f} ms  "
            line += f"python -m bpfmaps {b * 1000:7.1f} ms ({_paired(times[(shape, tools[1])], bare):.2f}x)"
            if len(tools) > 2:
                cs = times[(shape, "command")]
                c = statistics.median(cs)
                line += f"  {COMMAND} {c * 1000:7.1f} ms ({_paired(cs, bare):.2f}x)"
            else:
                line += f"  (no installed command at {COMMAND})"
            # the goal is the installed command's (the README's way in); python -m pays
            # runpy first (benchmarks/bench_startup_floor.py, docs/performance.md)
            print(line + "  (goal: the command <= 1.5x python -c pass)")
            continue
        line = (
            f"  {shape:11s} {_size(shape, n):7d} {'entries' if shape in DUMP_SHAPES else 'lines'}  "
            f"bpftool {a * 1000:7.1f} ms  "
            f"python -m bpfmaps {b * 1000:7.1f} ms ({a / b:.1f}x)"
        )
        if len(tools) > 2:
            c = statistics.median(times[(shape, "command")])
            results[shape] = (a, b, c)
            line += f"  bpfmaps command {c * 1000:7.1f} ms ({a / c:.1f}x)"
        print(line + "  (bpftool / bpfmaps)")
    return results


def _paired(runs: list[float], bare: list[float]) -> float:
    """The median of ``runs[i] / bare[i]``: runs of the same sub-round, side by side."""
    return statistics.median(r / b for r, b in zip(runs, bare))


def write_big(path: str, n: int, mid: int) -> None:
    """Write the N-line file in chunks (the parent never holds it all)."""
    with open(path, "w") as f:
        for a in range(0, n, 50_000):
            f.write("".join(_update(mid, i) for i in range(a, min(n, a + 50_000))))


def peak_rss(kb, env, n: int, path: str) -> None:
    fd = kb.map_create(1, 8, 32, n, 0, b"bench_rss")
    try:
        mid = kb.map_info(fd)[1].id
        write_big(path, n, mid)
        fsize = os.path.getsize(path)
        t0 = time.perf_counter()
        r = subprocess.run(
            ["/usr/bin/time", "-v", sys.executable, "-m", "bpfmaps", "batch", "file", path],
            capture_output=True, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"batch file failed: {r.stderr[-2000:]}")
        rss = next(int(x.split(":")[1]) for x in r.stderr.splitlines() if "Maximum resident" in x)
    finally:
        kb.close(fd)
        os.unlink(path)
    print(
        f"  {n} lines ({fsize / 2**20:.0f} MiB file): {wall:.2f} s, peak RSS {rss / 1024:.0f} MiB "
        f"(target < 256 MiB): {'OK' if rss < 256 * 1024 else 'OVER'}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module's docstring); ``--help`` prints it and exits."""
    p = argparse.ArgumentParser(
        description="bpfmaps batch file versus bpftool batch file: wall-time ratios per "
        "file shape, then peak RSS (run as root: it creates BPF maps)",
    )
    p.add_argument("n", nargs="?", type=int, default=200_000, metavar="N", help="lines a file")
    p.add_argument(
        "repeats", nargs="?", type=int, default=5, metavar="REPEATS", help="interleaved rounds"
    )
    p.add_argument(
        "--shapes",
        default=",".join(SHAPES),
        help=f"comma-separated shapes out of {','.join(SHAPES + EXTRA_SHAPES)} (empty: "
        f"none; default {','.join(SHAPES)})",
    )
    p.add_argument("--rss", action="store_true", help="peak RSS of a 1M-line file")
    p.add_argument("--10m", dest="ten_m", action="store_true", help="and of a 10M-line file")
    args = p.parse_args(argv)
    args.shapes = tuple(s for s in args.shapes.split(",") if s)
    unknown = [s for s in args.shapes if s not in SHAPES + EXTRA_SHAPES]
    if unknown:
        p.error(f"unknown shapes: {','.join(unknown)} (known: {','.join(SHAPES + EXTRA_SHAPES)})")
    if args.n < 1 or args.repeats < 1:
        p.error("N and REPEATS must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n, repeats, shapes = args.n, args.repeats, args.shapes
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "bpfmaps")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # one untimed run of the command writes its module bundle, as a user's first run
    # after an install does (even when this shell sets PYTHONDONTWRITEBYTECODE, which
    # would leave a stale or missing bundle and time the fallback instead)
    first = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-c", "from bpfmaps.cli import command; command()", "batch", "file",
         os.devnull],
        check=True, stdout=subprocess.DEVNULL, env=dict(first, PYTHONPATH=ROOT), cwd=ROOT,
    )  # fmt: skip
    kb = kernel_backend()
    env = dict(os.environ, PYTHONPATH=ROOT)
    with tempfile.TemporaryDirectory(prefix="bpfmaps-bench-") as tmp:
        path = os.path.join(tmp, "batch.txt")
        print(f"N = {n}; median of {repeats} interleaved rounds (wall time, whole process)")
        if shapes:
            time_shapes(kb, env, n, repeats, shapes, path)
        if args.rss or args.ten_m:
            peak_rss(kb, env, 1_000_000, path)
        if args.ten_m:
            peak_rss(kb, env, 10_000_000, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
