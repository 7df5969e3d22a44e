"""Compile tests/btftyped/progs/*.bpf.c with clang; load them with bpftool (pinmaps).

Failures raise with the tool's output: a broken toolchain fails the test, never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_cache: dict[str, str] = {}
_objdir = tempfile.mkdtemp(prefix="bpfmaps_btfty_obj_")


def compile_prog(name: str) -> str:
    """Path of progs/<name>.bpf.c compiled with ``clang -g -O2 -target bpf`` (cached)."""
    if name in _cache:
        return _cache[name]
    clang = shutil.which("clang")
    if clang is None:
        raise RuntimeError("clang is not installed (.ci/setup-machine installs it)")
    triplet = subprocess.run(
        ["gcc", "-dumpmachine"], capture_output=True, text=True, check=True
    ).stdout.strip()
    src = os.path.join(HERE, "progs", name + ".bpf.c")
    out = os.path.join(_objdir, name + ".o")
    r = subprocess.run(
        [clang, "-g", "-O2", "-target", "bpf", f"-I/usr/include/{triplet}", "-c", src, "-o", out],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"clang failed on {src}:\n{r.stderr}")
    _cache[name] = out
    return out


def load_prog(name: str, bpffs: str) -> str:
    """``bpftool prog load OBJ DIR/prog pinmaps DIR``; returns DIR (no dots in it: libbpf
    rewrites dots in pin paths)."""
    obj = compile_prog(name)
    d = os.path.join(bpffs, name)
    os.makedirs(d, exist_ok=True)
    tool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    r = subprocess.run(
        [tool, "prog", "load", obj, os.path.join(d, "prog"), "pinmaps", d],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"bpftool prog load {obj} failed:\n{r.stdout}{r.stderr}")
    return d
