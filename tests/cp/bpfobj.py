"""Compile the small BPF C programs in progs/ with clang and load them with bpftool.

``compile_prog(name)`` -> path of the object (cached per process);
``load_prog(name, bpffs)`` -> pin directory holding ``prog`` and one pin per map
(``bpftool prog load OBJ DIR/prog pinmaps DIR``).  Failures raise with the tool's
output so a broken toolchain fails the test loudly (never skips).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "progs")
_cache: dict[str, str] = {}
_objdir = tempfile.mkdtemp(prefix="bpfmaps-cp-obj-")


def _triplet() -> str:
    r = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def compile_prog(name: str, progs: str = PROGS) -> str:
    """Path of ``progs/<name>.bpf.c`` compiled with ``clang -g -O2 -target bpf`` (cached)."""
    src = os.path.join(progs, name + ".bpf.c")
    if src in _cache:
        return _cache[src]
    clang = shutil.which("clang")
    if clang is None:
        raise RuntimeError("clang is not installed (.ci/setup-machine installs it)")
    out = os.path.join(_objdir, f"{len(_cache)}-{name}.o")
    cmd = [clang, "-g", "-O2", "-target", "bpf", f"-I/usr/include/{_triplet()}", "-c", src]
    r = subprocess.run([*cmd, "-o", out], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"clang failed on {src}:\n{r.stderr}")
    _cache[src] = out
    return out


def bpftool() -> str:
    path = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.path.exists(path):
        raise RuntimeError("bpftool is not installed")
    return path


def load_prog(name: str, bpffs: str, sub: str | None = None, progs: str = PROGS) -> str:
    """Load ``progs/<name>.bpf.c``; returns the directory with ``prog`` and the map pins
    (no dots in it: libbpf rewrites dots in pin paths)."""
    obj = compile_prog(name, progs)
    d = os.path.join(bpffs, sub or name)
    os.makedirs(d, exist_ok=True)
    r = subprocess.run(
        [bpftool(), "prog", "load", obj, os.path.join(d, "prog"), "pinmaps", d],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"bpftool prog load {obj} failed:\n{r.stdout}{r.stderr}")
    return d
