"""The import set of the small-file path (``bpfmaps batch file F`` of the user's
513-line file: 512 + 1 upserts on two maps, all taken by the C scanner): the modules
it loads are listed here, so a new eager import (the typed Map API, BTF, codecs, the
sync/ring-buffer machinery, the reference lexer and grammar, heavy stdlib modules)
fails this test instead of slowing every small file down silently (issue 11 goal: at
most 1.5x a bare ``python -c pass``; see docs/performance.md).  Run in a fresh
interpreter on the kernel, through :func:`bpfmaps.cli.main` and through the installed
command's script (``scripts/bpfmaps``), which must add nothing to it.

Every import statement the child runs is recorded (``builtins.__import__``): the
standard modules in FORBIDDEN_STDLIB must not be imported by the CLI layer (``bpfmaps.cli``,
``bpfmaps.bpftool.*``, the command's script); the lower layers have the same rule in
tests/core/test_import_cost.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "bpfmaps")

#: every bpfmaps module the small-file path may load (and, by being listed, has to)
ALLOWED = frozenset(
    {
        "bpfmaps",
        "bpfmaps._cbuf",
        "bpfmaps._errbase",
        "bpfmaps._ffi",
        "bpfmaps._ffi.lib",
        "bpfmaps._kloops",
        "bpfmaps._loopbase",
        "bpfmaps._record",
        "bpfmaps.bpftool",
        "bpfmaps.bpftool._safety",
        "bpfmaps.bpftool.execute",
        "bpfmaps.bpftool.handle",
        "bpfmaps.bpftool.parse",
        "bpfmaps.bpftool.plan",
        "bpfmaps.bpftool.resolve",
        "bpfmaps.bpftool.runner",
        "bpfmaps.bpftool.scan",
        "bpfmaps.bpftool.cprint",
        "bpfmaps.bpftool.state",
        "bpfmaps.chunks",
        "bpfmaps.cli",
        "bpfmaps._preload",
        "bpfmaps._cpus",
        "bpfmaps.parallel",
        "bpfmaps.engine",
        "bpfmaps.errors",
        "bpfmaps.kernel",
        "bpfmaps.loops",
        "bpfmaps.types",
    }
)

#: modules the path must never need, whoever imports them (named so the failure says
#: what came back): the typed API and its machinery, the reference parser (lexer and
#: grammar: the scanner took every line), heavy stdlib modules; enum: a plain
#: successful run builds none of bpfmaps.types' enums (MapType & co. and the *_TYPES
#: sets load enum on first use: the path reads the plain ints, MAP_TYPE, *_INTS,
#: MapInfo.raw_type); array and collections (array's import registers it with
#: collections.abc, which loads collections, itertools, operator, reprlib, keyword);
#: the version string (``version`` only), the JSON writer (``-j`` only), rollback
#: snapshots and streaming whole-map reads (failures and dumps only), contextvars
#: (``forced_fallback`` only), the errno-specific exception classes (bpfmaps._errkinds:
#: built when a failure raises one or code names one); the runner's cold layers (the
#: ``map`` command handlers, the failure reports and the JSON batch output: they join
#: the runner's class on first use, bpftool/runner.py _cold_layers); inspect (a
#: record's __signature__ only); mmap (files under 1 MiB are read); the byte syntax
#: (bpfmaps.bpftool.bytes: printing and messages only); the command records
#: (bpfmaps.bpftool.parsed: declined lines, queries and the command handlers only); the
#: output layer (bpfmaps.bpftool.output: made on first use, by what prints in Python);
#: bpftool.reporting (a re-export: the reports live in bpftool.state); the /proc readers
#: (bpfmaps._host: pins, fdinfo; possible_cpus is bpfmaps.types'); bpfmaps.backend (the
#: runner takes the process-wide kernel backend from bpfmaps.kernel while nothing has
#: imported it: bpftool/state.py _default_backend)
FORBIDDEN = (
    "bpfmaps.maps", "bpfmaps.bulk", "bpfmaps.batching", "bpfmaps.codecs", "bpfmaps.sync",
    "bpfmaps.ringbuf", "bpfmaps.progs", "bpfmaps.memory", "bpfmaps.replace",
    "bpfmaps.bpftool.syncfile", "bpfmaps.bpftool.lexer", "bpfmaps.bpftool.grammar",
    "bpfmaps.btf", "bpfmaps.testing",
    "json", "dataclasses", "inspect", "ast", "subprocess", "tempfile", "decimal",
    "datetime", "concurrent.futures", "asyncio", "logging", "argparse", "importlib.metadata",
    "enum", "array", "collections", "mmap", "bpfmaps.bpftool.bytes",
    "bpfmaps._version", "bpfmaps.json_writer", "bpfmaps.rollback", "bpfmaps.dump",
    "contextvars", "_contextvars", "bpfmaps._errkinds",
    "bpfmaps.bpftool.commands", "bpfmaps.bpftool.jsonbatch", "bpfmaps.bpftool.failures",
    "bpfmaps.bpftool.parsed", "bpfmaps.bpftool.output", "bpfmaps.bpftool.reporting",
    "bpfmaps._host", "bpfmaps.backend",
)  # fmt: skip

#: standard modules the CLI layer must not import on the path (each 0.3-10 ms of the
#: ~5 ms the path has after the interpreter; defer them to where they are needed:
#: signal.py only to name a stop signal, importlib.util only for `version`, ...)
FORBIDDEN_STDLIB = (
    "typing", "re", "enum", "collections", "functools", "contextlib", "threading",
    "importlib", "importlib.util", "warnings", "signal", "weakref", "operator", "dataclasses",
    "json", "textwrap", "string", "shlex", "locale",
)  # fmt: skip
#: importers that are the CLI layer (the script runs as __main__)
_LAYER = ("bpfmaps.cli", "bpfmaps._preload", "bpfmaps.__main__", "bpfmaps.bpftool", "__main__")

# the child: records every import statement executed (importing module, name) through
# builtins.__import__, runs the command, and reports (json is imported only after the
# records are taken)
_CHILD = r"""
import builtins, sys
before = set(sys.modules)
edges = set()
_import = builtins.__import__


def _recording(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0:
        edges.add(((globals or {}).get("__name__", "?"), name))
    return _import(name, globals, locals, fromlist, level)


builtins.__import__ = _recording
path, how = sys.argv[1], sys.argv[2]
sys.argv = ["bpfmaps", "batch", "file", path]
if how == "cli":
    from bpfmaps import cli

    status = cli.main()
else:
    import os

    def _exit(code):  # cli.command leaves with os._exit: report the status instead
        raise SystemExit(code)

    os._exit = _exit
    try:
        with open(how) as f:
            exec(compile(f.read(), how, "exec"), {"__name__": "__main__"})
        status = None
    except SystemExit as e:
        status = e.code
sys.stdout.flush()
builtins.__import__ = _import
new = sorted(set(sys.modules) - before)
import json

sys.stderr.write(
    "\n@@" + json.dumps({"status": status, "new": new, "edges": sorted(edges)}) + "\n"
)
"""


def _user_file(kernel_backend, path: str) -> list[int]:
    fds = [kernel_backend.map_create(1, 8, 32, 1024, 0, b"imp") for _ in range(2)]
    assert min(fds) >= 0
    mids = [kernel_backend.map_info(fd)[1].id for fd in fds]
    zeros = "00 " * 24
    with open(path, "w") as f:
        for i in range(513):
            mid = mids[0] if i < 512 else mids[1]
            k = " ".join(str(b) for b in i.to_bytes(8, "big"))
            f.write(f"map update id {mid} key {k} value 10 0 0 1 10 89 0 4 {zeros}\n")
    return fds


def _in_layer(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in _LAYER)


@pytest.mark.parametrize("how", ["cli", "script"])
def test_small_file_import_set(kernel_backend, tmp_path, how):
    path = str(tmp_path / "user.txt")
    fds = _user_file(kernel_backend, path)
    try:
        env = dict(os.environ, PYTHONPATH=ROOT)
        p = subprocess.run(
            [sys.executable, "-c", _CHILD, path, "cli" if how == "cli" else SCRIPT],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
    finally:
        for fd in fds:
            kernel_backend.close(fd)
    assert "\n@@" in p.stderr, p.stderr
    report = json.loads(p.stderr.rsplit("\n@@", 1)[1])
    assert report["status"] == 0 and p.stdout == "processed 513 commands\n", p.stderr
    new = set(report["new"])
    ours = {m for m in new if m == "bpfmaps" or m.startswith("bpfmaps.")}
    assert not ours - ALLOWED, f"new eager imports on the small-file path: {sorted(ours - ALLOWED)}"
    assert not ALLOWED - ours, f"no longer imported (drop from ALLOWED): {sorted(ALLOWED - ours)}"
    bad = sorted(m for m in new if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"the small-file path imports {bad}"
    heavy = sorted(
        f"{name} (by {by})"
        for by, name in report["edges"]
        if _in_layer(by) and any(name == f or name.startswith(f + ".") for f in FORBIDDEN_STDLIB)
    )
    assert not heavy, f"the CLI layer imports {heavy} on the small-file path"


def test_script_is_the_cli():
    """The installed command runs :func:`bpfmaps.cli.command` (main, then its status),
    with a ``#!python`` line for the installer to rewrite (not an entry-point wrapper,
    whose generated code imports re)."""
    with open(SCRIPT) as f:
        text = f.read()
    assert text.startswith("#!python\n")
    assert "from bpfmaps.cli import command\n" in text and "\ncommand()\n" in text
    assert os.access(SCRIPT, os.X_OK)


#: standard modules a batch file of lookups on a map with BTF must not load (the BTF
#: output path: bpfmaps.btf's parser and model, the dumper, the compiled programs):
#: typing and enum (Kind is built on first use, bpfmaps.btf.kinds), re, functools,
#: contextlib, array and collections (the parser's words are a memoryview)
FORBIDDEN_BTF_STDLIB = (
    "typing", "enum", "re", "functools", "contextlib", "array", "collections", "warnings",
)  # fmt: skip


def _btf_map(kernel_backend) -> tuple[int, int]:
    """(map fd, BTF fd) of a hash map with the BTF of the benchmark's BTF shapes (key
    ``unsigned long long``, value ``struct val { unsigned int a, b; unsigned long long
    c[3]; }``)."""
    import importlib.util

    path = os.path.join(ROOT, "benchmarks", "bench_batch_file.py")
    spec = importlib.util.spec_from_file_location("bench_batch_file", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bfd, key_id, value_id = bench.btf_fd(kernel_backend)
    fd = kernel_backend.map_create(
        1, 8, 32, 64, 0, b"imp_btf", btf_fd=bfd, btf_key_type_id=key_id, btf_value_type_id=value_id
    )
    assert fd >= 0
    return fd, bfd


@pytest.mark.parametrize("how", ["cli", "script"])
@pytest.mark.parametrize("json_mode", [False, True], ids=["plain", "j"])
def test_btf_lookup_file_loads_no_heavy_stdlib(kernel_backend, tmp_path, how, json_mode):
    """Updates then lookups on a map with BTF: the lookups print formatted from the
    BTF, and the path loads none of FORBIDDEN_BTF_STDLIB (about 10 ms of start-up)."""
    fd, bfd = _btf_map(kernel_backend)
    path = str(tmp_path / "btf.txt")
    try:
        mid = kernel_backend.map_info(fd)[1].id
        with open(path, "w") as f:
            for i in range(20):
                k = " ".join(str(b) for b in i.to_bytes(8, "little"))
                f.write(f"map update id {mid} key {k} value {' '.join(['7'] * 32)}\n")
                f.write(f"map lookup id {mid} key {k}\n")
        env = dict(os.environ, PYTHONPATH=ROOT)
        opts = ["-j"] if json_mode else []
        child = _CHILD.replace('["bpfmaps", "batch"', f'["bpfmaps", *{opts!r}, "batch"')
        assert child != _CHILD
        p = subprocess.run(
            [sys.executable, "-c", child, path, "cli" if how == "cli" else SCRIPT],
            capture_output=True, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
    finally:
        kernel_backend.close(fd)
        kernel_backend.close(bfd)
    report = json.loads(p.stderr.rsplit("\n@@", 1)[1])
    assert report["status"] == 0, p.stderr
    formatted = '"a": 117901063' if not json_mode else '"formatted":{"key":0,"value":{"a":117901063'
    assert formatted in p.stdout, p.stdout[:500]
    new = set(report["new"])
    assert "bpfmaps.btf.fmtprog" in new  # (the lookups printed by the compiled program)
    heavy = sorted(m for m in new if m in FORBIDDEN_BTF_STDLIB)
    assert not heavy, f"the BTF lookup path imports {heavy}"
