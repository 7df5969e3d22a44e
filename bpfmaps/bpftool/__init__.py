"""bpftool compatibility: batch-file lexer, byte syntax, ``map`` command grammar,
plan, scanner, runner.

Everything here imports without the compiled extension; only the scanner driver
(:mod:`bpfmaps.bpftool.scan`) and the kernel backend use it, when present.
See docs/bpftool-syntax.md.

The names below are loaded on first use (PEP 562): importing a submodule (the CLI's
runner) does not load the reference lexer and grammar, which the scanner path never
needs (start-up, tests/bpftool/test_small_file_imports.py).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .bytes import format_bytes, format_entry, parse_bytes
    from .grammar import parse_command
    from .handle import Handle
    from .lexer import Lexer, lex

__all__ = ["Handle", "Lexer", "format_bytes", "format_entry", "lex", "parse_bytes", "parse_command"]

#: public name -> the submodule that defines it
_WHERE = {
    "format_bytes": "bytes",
    "format_entry": "bytes",
    "parse_bytes": "bytes",
    "Handle": "handle",
    "parse_command": "grammar",
    "Lexer": "lexer",
    "lex": "lexer",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if where == "bytes":
        from . import bytes as b

        value = getattr(b, name)
    elif where == "handle":
        from .handle import Handle

        value = Handle
    elif where == "grammar":
        from . import grammar as g

        value = getattr(g, name)
    else:
        from . import lexer as lx

        value = getattr(lx, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
