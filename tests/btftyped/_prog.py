"""Compile tests/btftyped/progs/*.bpf.c with clang; load them with bpftool (pinmaps):
the helpers of tests/cp/bpfobj.py on this directory's programs.

Failures raise with the tool's output: a broken toolchain fails the test, never skips.
"""

from __future__ import annotations

import os

from cp import bpfobj  # tests/cp (pytest puts tests/ on the path: no tests/__init__.py)

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "progs")


def compile_prog(name: str) -> str:
    """Path of progs/<name>.bpf.c compiled with ``clang -g -O2 -target bpf`` (cached)."""
    return bpfobj.compile_prog(name, PROGS)


def load_prog(name: str, bpffs: str) -> str:
    """``bpftool prog load OBJ DIR/prog pinmaps DIR``; returns DIR."""
    return bpfobj.load_prog(name, bpffs, progs=PROGS)
