"""The imports test_layers cannot see: ``__import__``/``importlib.import_module`` of a
name built at run time (the package root's PEP 562 ``__getattr__``).  Each module
that imports that way is listed here with the table its names come from; every
bpfmaps module such a table names must be in test_layers.LAZY with its reason, as
an ``ast``-visible lazy import would be.  A new dynamic import elsewhere fails until
it is listed (issue 11: "the layer test lists every lazy import with its reason")."""

from __future__ import annotations

import ast

from test_layers import LAZY, MODULES

import bpfmaps


def _lazy_root_targets() -> set[str]:
    return {spec[0] for spec in bpfmaps._LAZY.values()}


#: modules that import by a run-time name -> (the importer's LAZY key, its targets)
DYNAMIC = {"__init__": _lazy_root_targets}


def _dynamic_calls(path: str) -> list[int]:
    """Lines of calls to ``__import__`` or ``importlib.import_module`` (or
    ``import_module``) in the file at ``path``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    lines = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            fn = n.func
            name = (
                fn.id
                if isinstance(fn, ast.Name)
                else fn.attr
                if isinstance(fn, ast.Attribute)
                else ""
            )
            if name in ("__import__", "import_module"):
                lines.append(n.lineno)
    return lines


def test_dynamic_importers_are_listed():
    found = {mod: _dynamic_calls(path) for mod, path in sorted(MODULES.items())}
    unlisted = sorted(f"{m} (lines {ls})" for m, ls in found.items() if ls and m not in DYNAMIC)
    assert not unlisted, f"list these dynamic importers in DYNAMIC with their targets: {unlisted}"
    stale = sorted(m for m in DYNAMIC if not found.get(m))
    assert not stale, f"no dynamic import left in {stale}: drop them from DYNAMIC"


def test_dynamic_imports_are_in_lazy():
    missing = []
    for mod, targets in DYNAMIC.items():
        for t in sorted(targets()):
            assert t in MODULES, f"{mod} names {t!r}, which is not a bpfmaps module"
            if (mod, t) not in LAZY:
                missing.append((mod, t))
    assert not missing, (
        f"add these dynamic lazy imports to test_layers.LAZY with a reason: {missing}"
    )
