"""bpftool compatibility: batch-file lexer, byte syntax, ``map`` command grammar,
plan, scanner, runner.

Everything here imports without the compiled extension; only the scanner driver
(:mod:`bpfmaps.bpftool.scan`) and the kernel backend use it, when present.
See docs/bpftool-syntax.md.
"""

from .bytes import format_bytes, format_entry, parse_bytes
from .grammar import Handle, parse_command
from .lexer import Lexer, lex

__all__ = ["Handle", "Lexer", "format_bytes", "format_entry", "lex", "parse_bytes", "parse_command"]
