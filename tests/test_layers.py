"""Import layers of bpfmaps are one-way (docs/REDESIGN §2), checked with ``ast``.

Each module has a rank (``RANK``); a module may import, at import time, only modules
of a LOWER rank, plus the extra restrictions in ``ONLY`` (what a module may import at
all).  Imports inside ``if TYPE_CHECKING:`` are not edges.  An import inside a
function (a lazy import) of a bpfmaps module is an edge too and must also be listed
in ``LAZY`` with its reason.  Today's known violations are listed in ``KNOWN`` with
the step of the redesign that removes them: the list may only shrink (a listed edge
that no longer exists fails too, so the list stays exact).

A new module must be given a rank here: the test names it.
"""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bpfmaps")

# fmt: off
#: lower rank = lower layer.  Equal ranks may not import each other.
RANK: dict[str, float] = {
    # L0: pure (errors does not import types); _record: NamedTuple without typing
    "_record": -1, "_objinfo": -0.9, "_errbase": -0.5, "_errkinds": -0.2, "errors": 0, "json_writer": 0.5, "_version": 0.5, "types": 1, "_typing": 1.2,
    "_backend_protocol": 1.3,  # the Backend Protocol classes (typing at run time)
    # L1: the syscall layer: the compiled module, its one wrapper, the protocol, loops
    "_host": 1.1,  # /sys and /proc facts, pure Python
    "_cpus": 1.1,  # usable and free CPUs (affinity, /proc/loadavg), pure Python
    "_ffi": 2, "_pack": 2, "_cbuf": 2.1, "_kring": 2.2, "_loopbase": 2.25, "_kprog": 2.28, "_kexec": 2.29, "_kloops": 2.3, "kernel": 2.5, "backend": 3, "loops": 4,
    # L2: the raw batch engine: its data, rollback and streaming reads, then the executor
    "chunks": 4.5, "rollback": 4.6, "dump": 4.7, "parallel": 4.8, "engine": 5,
    # BTF: the pure parser and type model; the loader opens objects through a backend
    "btf.writer": 1.4, "btf.kinds": 1.45, "btf.model": 1.5, "btf.parse": 1.6, "btf.layout": 1.7,
    "btf.dumper": 1.8, "btf.fmtprog": 1.82, "btf.rawdump": 1.85,
    # the BTF codecs: shared rules, decoders, encoders, classes (pure), then typed
    "btf._shapes": 1.72, "btf._decode": 1.73, "btf._encode": 1.74, "btf._classes": 1.75,
    "btf.loader": 5.5, "btf": 5.6, "btf.typed": 5.7, "btf.fromcodec": 6.5,
    # L3: typed API
    # the Map in one module per concern: the why of a failure (pure), the handle and
    # opening, the view (MapCore: what bulk/batching/sync/replace/memory work on), then the
    # mixins over those and the Map itself
    "_hints": 1.3, "codecs": 6, "_fd": 6, "_handle": 6.6, "_core": 6.7, "memory": 6.8,
    "bulk": 7, "batching": 8, "sync": 8, "replace": 8,
    "_objects": 8.5, "_percpu": 8.5, "_bulkops": 8.6, "maps": 9, "progs": 9,
    # L4: bpftool: pure parsing first, then execution
    "bpftool.bytes": 10, "bpftool.handle": 10.4, "bpftool.parsed": 10.5, "bpftool.lexer": 11, "bpftool.grammar": 12,
    # the safety net is a leaf (os and _signal; the C stop flag lazily) under the scanner,
    # whose two-thread scan holds the stop signals with it (HoldStopSignals)
    "bpftool._safety": 13.5,
    "bpftool.plan": 13, "bpftool.scan": 14, "bpftool.cprint": 14.2, "bpftool.parse": 15,
    # execution: rendering is a leaf (types/bytes only); then the
    # runner's layers, each stacked on the one below (bpftool/state.py)
    "bpftool.output": 15.5, "bpftool.resolve": 16,
    "bpftool.state": 16.5, "bpftool.jsonbatch": 16.6, "bpftool.reporting": 16.7,
    "bpftool.failures": 16.8,
    "bpftool.commands": 17, "bpftool.execute": 18, "bpftool.runner": 20, "bpftool": 21,
    # BTF on top of maps and the bpftool byte formatting: generated code, output, CLI
    "btf.gen": 9.5, "btf.output": 10.5, "btf.cli": 10.6, "ringbuf": 9.5,
    "bpftool.syncfile": 20.5,
    # L5: entry points and the package's lazy re-exports
    "_preload": 29,  # the command's start-up: the runner path from compiled code (sys only)
    "cli": 30, "__main__": 31, "__init__": 32,
    # testing: over L0/L1 only (see ONLY)
    "testing._jhash": 40, "testing.faults": 40, "testing.maps": 41, "testing.fdtable": 42,
    "testing.elements": 42.2, "testing.batch": 42.4, "testing.progs": 42.2, "testing._btf": 42.2,
    "testing.inject": 42, "testing.fake": 43, "testing": 44, "testing.pytest_plugin": 45,
}
# fmt: on

_PARSING = {"errors", "types", "_ffi", "_record"}
#: modules that may import only these (besides their own package's lower modules)
ONLY: dict[str, set[str]] = {
    **{
        f"bpftool.{m}": _PARSING
        for m in (
            "bytes",
            "handle",
            "parsed",
            "lexer",
            "grammar",
            "plan",
            "parse",
        )
    },
    "bpftool.scan": _PARSING | {"_cpus"},  # free CPUs for its two-thread scan
    "bpftool.cprint": _PARSING,  # the compiled module through the scanner's driver
    **{m: {"errors", "types", "backend"} for m in ("testing._jhash", "testing.faults")},
    "testing.maps": {"errors", "types"},
    **{
        f"testing.{m}": {"errors", "types"}
        for m in ("fdtable", "elements", "batch", "progs", "fake")
    },
    "testing._btf": {"errors", "types", "btf.model", "btf.parse"},
    "testing": {"errors", "types", "backend", "maps"},
    "testing.pytest_plugin": {"errors", "types", "backend"},
}
#: the only importers of the compiled module (REDESIGN: kernel backend and scanner driver)
FFI_USERS = {"kernel", "_cbuf", "_kring", "_kprog", "_kexec", "_kloops", "bpftool.scan", "loops"}

#: lazy imports of bpfmaps modules that are allowed, with the reason
LAZY: dict[tuple[str, str], str] = {
    ("backend", "kernel"): "start-up: the fake and the parser run without the extension",
    ("backend", "_backend_protocol"): "start-up: the Protocol classes need typing at run time "
    "(about 10 ms); calling a backend never needs them (module __getattr__)",
    ("types", "_objinfo"): "start-up: ProgInfo/BTFInfo built on first use (module __getattr__); "
    "a batch file of map commands reads neither",
    ("backend", "_objinfo"): "start-up: the re-exported ProgInfo/BTFInfo (module __getattr__)",
    ("kernel", "_objinfo"): "start-up: ProgInfo/BTFInfo only in prog_info/btf_info",
    ("kernel", "_host"): "start-up: the /proc readers (pins, fdinfo, bpffs) on first use; "
    "possible_cpus, which every batch file asks, is bpfmaps.types'",
    ("kernel", "_kring"): "start-up: the ring readers (mmap) only for ringbuf_open/perf_open",
    ("_kloops", "_kprog"): "start-up: the in-kernel apply only for runs of thousands of updates",
    (
        "_kloops",
        "_kexec",
    ): "start-up: the in-kernel exec program only for blocks of thousands of ops",
    ("loops", "kernel"): "optional extension: C loops only for the kernel backend",
    ("bpftool.scan", "_ffi"): "optional extension: the C scanner (files parse without it)",
    ("bpftool.scan", "_cpus"): "start-up: free CPUs are asked only of files big enough for the "
    "two-thread scan",
    ("cli", "bpftool.runner"): "start-up: `bpfmaps -h` does not import the runner",
    ("cli", "bpftool.handle"): "start-up: `bpfmaps -h` does not import the command tables",
    ("cli", "bpftool._safety"): "start-up: only with --max-size",
    ("cli", "bpftool.output"): "start-up: only to report a bad option in JSON mode",
    ("cli", "bpftool.syncfile"): "start-up: only for `batch file F --sync` (imports maps)",
    ("cli", "btf.cli"): "start-up: only for `btf` commands",
    ("cli", "btf.gen"): "start-up: only for `btf gen`",
    ("bpftool._safety", "kernel"): "optional extension: the C stop flag, kernel backend only",
    ("bpftool.parse", "bpftool.scan"): "optional extension: the C scanner",
    ("bpftool.parse", "bpftool.grammar"): "the reference parser only where the scanner declines",
    ("bpftool.parse", "bpftool.lexer"): "the reference parser only where the scanner declines",
    ("bpftool.runner", "bpftool.grammar"): "start-up: the reference grammar only for argv "
    "commands (`bpfmaps map ...`); batch files reach it through parse",
    ("bpftool.jsonbatch", "bpftool.lexer"): "start-up: the re-based lexer only to cut the words "
    "of commands the scanner did not take, in -j mode",
    (
        "bpftool.commands",
        "btf.output",
    ): "only for maps with BTF: the plain batch path skips the BTF modules",
    (
        "bpftool.commands",
        "btf.dumper",
    ): "only for maps with BTF: the plain batch path skips the BTF modules",
    (
        "bpftool.commands",
        "btf.fmtprog",
    ): "only for maps with BTF: their output programs are compiled on first use",
    ("bpftool.state", "btf.output"): "only for maps with BTF: the plain batch path skips "
    "the BTF modules (a lookup on such a map loads them, not the command handlers)",
    ("bpftool.state", "btf.fmtprog"): "only for maps with BTF: their output programs are "
    "compiled on first use",
    ("btf.kinds", "types"): "start-up: the Kind enum is built on first use (types._enum), "
    "so the BTF output path loads no enum",
    ("engine", "rollback"): 'start-up: snapshots and restores only for on_error="rollback", '
    "not_attempted only for a failure",
    ("engine", "dump"): "start-up: the streaming-read names (module __getattr__) only for "
    "whole-map reads",
    ("bpftool.runner", "bpftool.commands"): "start-up: the map command handlers join the "
    "runner's class on first use (runner._cold_layers); a plain batch file never needs them",
    ("bpftool.runner", "bpftool.jsonbatch"): "start-up: the JSON batch layer joins the runner's "
    "class on first use (runner._cold_layers); only -j and the commands need it",
    ("bpftool.output", "bpftool.bytes"): "start-up: the byte formatting only when a lookup, "
    "getnext or dump prints in Python (a plain batch file prints nothing)",
    ("bpftool.handle", "bpftool.bytes"): "start-up: a handle's text only in messages",
    ("bpftool.state", "kernel"): "start-up: the default backend without bpfmaps.backend while "
    "nothing imported it (no use_backend can be active then: RunState's _default_backend)",
    ("bpftool.state", "bpftool.output"): "start-up: the runner's output layer made on first use "
    "(RunState.o); a batch file of updates and deletes prints nothing through it",
    ("bpftool.execute", "bpftool.output"): "start-up: the JSON capture of a command's output, "
    "only for commands and queries that print in Python",
    ("bpftool.execute", "bpftool.parsed"): "start-up: the command records only for a lookup, "
    "getnext or pop the exec loop hands back (a plain batch file has none)",
    ("bpftool.resolve", "bpftool.parsed"): "start-up: map create/pin records only in declare(), "
    "called by the reference grammar's path (which has loaded them)",
    ("bpftool.resolve", "bpftool.bytes"): "start-up: the words as typed only in failure messages",
    ("bpftool.execute", "bpftool.bytes"): "start-up: the words as typed only for -j output",
    ("bpftool.commands", "_version"): "start-up: the version string only for `version`",
    ("bpftool.output", "json_writer"): "start-up: JSON output only (-j); the re-exported "
    "names through module __getattr__",
    ("bpftool.jsonbatch", "json_writer"): "start-up: the JSON batch array only with -j",
    ("bpftool.jsonbatch", "bpftool.output"): "start-up: lookups' JSON outputs built in Python "
    "only with -jp or on lines the reference parsed (compact ones are formatted in C)",
    ("errors", "_errkinds"): "start-up: the errno-specific and API-misuse exception classes "
    "(module __getattr__), built only when raised or named",
    ("bpftool.commands", "errors"): "start-up: NotBpffsError (bpfmaps._errkinds, through "
    "errors' module __getattr__) only for a pin off a bpffs",
    ("btf.loader", "backend"): "default_backend() only when no backend is given",
    ("testing", "maps"): "fake_map() returns a Map; the fake itself never needs it",
    ("_core", "btf.typed"): "start-up: BTF codecs (btf=True, record classes) import the BTF "
    "parser and compiler, about as much again as maps itself",
    (
        "_handle",
        "btf.fromcodec",
    ): "start-up: create(btf=True) only; the BTF writer is not needed otherwise",
    ("_bulkops", "sync"): "start-up: Map.sync (the desired-state diff) is rarely used; its import "
    "costs about a quarter of maps' own",
}
for _m in (
    "codecs", "backend", "batching", "errors", "maps", "progs", "ringbuf", "sync", "types",
    "_version",
):  # fmt: skip
    LAZY[("__init__", _m)] = "lazy public names (module __getattr__): start-up"
for _m in ("bytes", "handle", "grammar", "lexer"):
    LAZY[("bpftool", f"bpftool.{_m}")] = (
        "lazy public names (module __getattr__): start-up, the scanner path needs no lexer"
    )

#: today's violations (edge -> the redesign step that removes it); may only shrink
KNOWN: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, str]:
    mods = {}
    for root, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(root, f), ROOT)[:-3].replace(os.sep, ".")
            if rel.endswith(".__init__"):
                rel = rel[: -len(".__init__")]
            mods[rel] = os.path.join(root, f)
    return mods


MODULES = _modules()


#: packages whose modules all share the package's rank
GROUPS = {"testing.maps"}


def _group(mod: str) -> str:
    """The RANK key of a module: itself, or its package if listed in GROUPS
    (testing.maps.hashtab -> testing.maps)."""
    if mod in RANK:
        return mod
    parent = mod.rsplit(".", 1)[0] if "." in mod else mod
    return parent if parent in GROUPS else mod


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def edges(mod: str, path: str) -> list[tuple[str, bool, int]]:
    """(imported bpfmaps module, lazy?, line) for every runtime import in ``mod``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    pkg = mod.split(".")[:-1] if not path.endswith("__init__.py") else mod.split(".")
    if mod == "__init__":
        pkg = []
    out: list[tuple[str, bool, int]] = []

    def target(name: str) -> str | None:
        return name if (name in MODULES or name == "_ffi") else None

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for c in child.orelse:
                    visit_one(c, lazy)
                continue
            visit_one(child, lazy)

    def visit_one(child: ast.AST, lazy: bool) -> None:
        if isinstance(child, ast.ImportFrom):
            if child.level:
                base = pkg[: len(pkg) - (child.level - 1)] if child.level > 1 else pkg
                parts = base + (child.module.split(".") if child.module else [])
            elif child.module and child.module.split(".")[0] == "bpfmaps":
                parts = child.module.split(".")[1:]
            else:
                return
            m = ".".join(parts)
            for a in child.names:
                sub = f"{m}.{a.name}" if m else a.name
                t = target(sub) or target(m or "__init__")
                if t and t != mod:
                    out.append((t, lazy, child.lineno))
        elif isinstance(child, ast.Import):
            for a in child.names:
                if a.name.split(".")[0] == "bpfmaps":
                    t = target(".".join(a.name.split(".")[1:]) or "__init__")
                    if t and t != mod:
                        out.append((t, lazy, child.lineno))
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            visit(child, True)
        else:
            visit(child, lazy)

    visit(tree, False)
    return out


def _violations() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for mod, path in sorted(MODULES.items()):
        src = _group(mod)
        for tgt, lazy, line in edges(mod, path):
            dst = _group(tgt)
            if dst == src or (dst.startswith(src + ".") and src in ("bpftool", "testing")):
                continue  # within one module group / a package importing its own modules
            why = []
            if src not in RANK or dst not in RANK:
                continue  # reported by test_every_module_has_a_rank
            if RANK[dst] >= RANK[src] and not (src == "__init__" or src == "bpftool"):
                why.append(f"upward edge (rank {RANK[src]} -> {RANK[dst]})")
            only = ONLY.get(src)
            if (
                only is not None
                and dst not in only
                and _group(dst).split(".")[0] != src.split(".")[0]
            ):
                why.append(f"{src} may only import {sorted(only)}")
            if dst == "_ffi" and src not in FFI_USERS:
                why.append("only the kernel backend and the scanner import the compiled module")
            if lazy and (src, dst) not in LAZY:
                why.append("lazy import not in LAZY")
            if why:
                found.setdefault((src, dst), []).append(f"{path}:{line}: {'; '.join(why)}")
    return found


def test_every_module_has_a_rank():
    missing = sorted(m for m in MODULES if _group(m) not in RANK)
    assert not missing, f"give these modules a rank in tests/test_layers.py RANK: {missing}"


#: compiled extension modules (no .py file), which RANK and the lists may name too
EXTENSIONS = {"_ffi", "_pack"}


def test_lists_name_existing_modules():
    """RANK, ONLY, FFI_USERS and LAZY name only modules that exist (a deleted or renamed
    module leaves no stale entry that would hide a new one of that name)."""
    named = set(RANK) | set(ONLY) | FFI_USERS | {m for edge in LAZY for m in edge}
    named |= {m for allowed in ONLY.values() for m in allowed}
    stale = sorted(m for m in named if m not in MODULES and m not in EXTENSIONS)
    assert not stale, f"remove these modules (gone) from tests/test_layers.py: {stale}"


def test_no_new_layer_violations():
    found = _violations()
    new = {k: v for k, v in found.items() if k not in KNOWN}
    assert not new, "new import-layer violations:\n" + "\n".join(
        line for v in new.values() for line in v
    )


def test_known_violations_still_exist():
    """KNOWN only shrinks: remove an entry when its edge is gone."""
    gone = sorted(k for k in KNOWN if k not in _violations())
    assert not gone, f"remove these fixed edges from KNOWN in tests/test_layers.py: {gone}"


@pytest.mark.parametrize("edge", sorted(LAZY))
def test_lazy_allowlist_has_reasons(edge):
    assert LAZY[edge].strip()


def test_errno_values_are_named():
    """No ``524``/``-22``-style literals: errnos come from ``errno`` or ``errors.ENOTSUPP``."""
    import errno

    bad = []
    for mod, path in sorted(MODULES.items()):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        subscripts = {
            id(m) for n in ast.walk(tree) if isinstance(n, ast.Subscript) for m in ast.walk(n.slice)
        }
        for n in ast.walk(tree):
            if (
                isinstance(n, ast.Constant)
                and n.value == 524
                and type(n.value) is int
                and mod not in ("errors", "_errbase")  # (_errbase defines it, errors exports it)
            ):
                bad.append(f"{path}:{n.lineno}: 524 (use errors.ENOTSUPP)")
            if (
                isinstance(n, ast.UnaryOp)
                and isinstance(n.op, ast.USub)
                and isinstance(n.operand, ast.Constant)
                and type(n.operand.value) is int
                and n.operand.value >= 2
                and n.operand.value in errno.errorcode
                and id(n) not in subscripts
            ):
                bad.append(f"{path}:{n.lineno}: -{n.operand.value} (use -errno.NAME)")
    assert not bad, "\n".join(bad)
