"""Start-up of the small file against what the interpreter costs without bpfmaps.

Whole-process wall time, interleaved round by round, medians, each as a ratio to a bare
``python -c pass`` of the same interpreter, for:

* ``script: os._exit``: a script file whose only statement is ``os._exit(0)`` (what the
  installed command costs before it imports anything: it leaves with ``os._exit``, so
  it skips the interpreter's teardown that ``python -c pass`` pays);
* ``-m pkg: os._exit``: ``python -m`` of an empty package whose ``__main__`` is
  ``os._exit(0)``: the floor of ``python -m bpfmaps`` (``runpy`` and the 15 modules it
  imports before any of the package's code runs);
* ``script: _ffi`` and ``-m pkg: _ffi``: the same two floors with one statement more
  before ``os._exit(0)``, ``import bpfmaps._ffi``: the cffi shim every kernel call goes
  through (``_cffi_backend`` and the compiled module, two ``dlopen`` and cffi's set-up),
  i.e. what any bpfmaps that talks to the kernel costs before its own Python code;
* ``command`` and ``-m bpfmaps``: ``bpfmaps batch file F`` of the user's 513-line file
  (benchmarks/bench_batch_file.py ``user`` shape: 512 + 1 updates on two fresh hash
  maps), through this tree's ``scripts/bpfmaps`` and through ``python -m bpfmaps``.

So the part of the ratio that is bpfmaps' own is ``command - script`` (the same for
``-m bpfmaps - -m pkg``); the summary prints it, each way in against its own floor, and what
is left for bpfmaps' Python code under the 1.5x goal once the floor with the shim is paid.  With ``--callgrind`` (valgrind installed), also the
instructions of one run of each (``Collected``, whole process: repeatable under load).
Run from an empty directory, PYTHONPATH this tree, bytecode compiled first.

    sudo python benchmarks/bench_startup_floor.py [ROUNDS] [--callgrind]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_batch_file import make_file  # noqa: E402

from bpfmaps.backend import kernel_backend  # noqa: E402

#: the floors' code: leave at once, or after loading the cffi shim (bpfmaps._ffi)
_EXIT = "import os\n\nos._exit(0)\n"
_EXIT_FFI = "import os\n\nimport bpfmaps._ffi\n\nos._exit(0)\n"
#: the small-file goal of issue 11 (ratio to a bare ``python -c pass``)
GOAL = 1.5


def _floor_files(tmp: str) -> tuple[str, str]:
    """(script path, package dir on the path) for the floors (the script that loads the
    shim is ``exit_ffi.py`` beside the first), bytecode compiled."""
    pkgs = os.path.join(tmp, "pkgs")
    for name, text in (("floorpkg", _EXIT), ("floorffi", _EXIT_FFI)):
        os.makedirs(os.path.join(pkgs, name))
        for module, code in (("__init__.py", ""), ("__main__.py", text)):
            with open(os.path.join(pkgs, name, module), "w") as f:
                f.write(code)
    for name, text in (("exit_script.py", _EXIT), ("exit_ffi.py", _EXIT_FFI)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", pkgs],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return os.path.join(tmp, "exit_script.py"), pkgs


def _callgrind(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    """Instructions (millions) of one run of ``cmd`` under callgrind."""
    out = os.path.join(cwd, "callgrind.out")
    p = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    os.unlink(out)
    for line in p.stderr.splitlines():
        if "Collected" in line:
            return int(line.split()[-1]) / 1e6
    raise SystemExit(f"no instruction count from callgrind: {p.stderr[-500:]}")


def _summary(r: dict[str, float]) -> None:
    """Each way in against its own floors, from the ratios ``r`` (to ``python -c pass``):
    bpfmaps' own part, the run against the floor, and the room the goal leaves."""
    print("each way in against its floors (x python -c pass)")
    for way, floor in (("command", "script"), ("-m bpfmaps", "-m pkg")):
        bare, ffi, full = r[f"{floor}: os._exit"], r[f"{floor}: _ffi"], r[way]
        print(
            f"  {way:11s} own part {full - bare:.2f}x (the shim {ffi - bare:.2f}x, the rest"
            f" {full - ffi:.2f}x); {full / bare:.2f}x its floor; under {GOAL}x the rest"
            f" may be {GOAL - ffi:.2f}x"
        )


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 31
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "bpfmaps")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tmp = tempfile.mkdtemp(prefix="bpfmaps-floor-")
    empty = os.path.join(tmp, "cwd")  # python -m puts the current directory on the path
    os.mkdir(empty)
    kb = kernel_backend()
    fds = [kb.map_create(1, 8, 32, 1024, 0, b"bench_floor") for _ in range(2)]
    if min(fds) < 0:
        raise SystemExit(f"map create: {os.strerror(-min(fds))} (run as root)")
    try:
        script, pkgs = _floor_files(tmp)
        path = os.path.join(tmp, "batch.txt")
        mids = []
        for fd in fds:
            rc, info = kb.map_info(fd)
            assert rc == 0 and info is not None, rc
            mids.append(info.id)
        with open(path, "w") as f:
            f.write(make_file("user", 513, *mids))
        env = dict(os.environ, PYTHONPATH=f"{ROOT}:{pkgs}")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        py = sys.executable
        cmds = {
            "python -c pass": [py, "-c", "pass"],
            "script: os._exit": [py, script],
            "-m pkg: os._exit": [py, "-m", "floorpkg"],
            "script: _ffi": [py, os.path.join(tmp, "exit_ffi.py")],
            "-m pkg: _ffi": [py, "-m", "floorffi"],
            "command": [py, os.path.join(ROOT, "scripts", "bpfmaps"), "batch", "file", path],
            "-m bpfmaps": [py, "-m", "bpfmaps", "batch", "file", path],
        }
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(rounds):
            for k, cmd in cmds.items():
                t0 = time.perf_counter()
                subprocess.run(
                    cmd, env=env, cwd=empty, check=True, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                times[k].append(time.perf_counter() - t0)
        base = statistics.median(times["python -c pass"])
        print(f"median of {rounds} interleaved rounds (wall time, whole process)")
        for k in cmds:
            m = statistics.median(times[k])
            print(f"  {k:18s} {m * 1000:7.2f} ms  {m / base:5.2f}x python -c pass")
        _summary({k: statistics.median(v) / base for k, v in times.items()})
        if "--callgrind" in sys.argv:
            if shutil.which("valgrind") is None:
                raise SystemExit("--callgrind: valgrind is not installed")
            counts = {k: _callgrind(cmd, env, empty) for k, cmd in cmds.items()}
            print("callgrind instructions (one run each)")
            for k, n in counts.items():
                print(f"  {k:18s} {n:7.2f}M  {n / counts['python -c pass']:5.2f}x python -c pass")
    finally:
        for fd in fds:
            kb.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
