"""Whole batch files -> a plan (:mod:`.plan`): the C scanner first, the Python
reference for ONE command wherever the scanner declines.

:func:`parse_batch` walks the file once.  The scanner (:mod:`.scan`, when the
extension is built) takes every ordinary line into op blocks; at a line it
declines, the reference (:mod:`.lexer` + :mod:`.grammar`, imported only then) parses
one command and appends it to the same plan: element commands as op records (the
same records the scanner writes), everything else as a Command.  The scanner never
reports an error: every error comes from the reference, with its file:line:column
and bpftool's wording.  Both give the same plan, which hypothesis tests check
through :func:`~bpfmaps.bpftool.plan.flatten`.
"""

from __future__ import annotations

from ..errors import ParseError
from .plan import DELETE, GETNEXT, LOOKUP, POP, UPDATE, BlockBuilder, MapTable, OpBlock

TYPE_CHECKING = False
if TYPE_CHECKING:  # (type aliases for checkers only: no typing work at start-up)
    import mmap
    from collections.abc import Iterator
    from typing import Any, Callable, Optional, Union

    from .grammar import Command, Handle

    #: a batch file's contents: bytes, or the runner's read-only mmap of the file
    FileData = Union[bytes, bytearray, mmap.mmap]
    #: what :meth:`BlockBuilder.append` takes: kind, map index, flags, line, key, value, words
    _OpItem = tuple[int, int, int, int, Optional[bytes], Optional[bytes], list[str]]

__all__ = ["parse_batch"]


def _resolver_soft(resolver: Callable[[Handle], Any]) -> Callable[[Handle], Any]:
    """``resolver`` that returns None where it raises (for the scanner)."""

    def resolve(handle: Handle) -> Any:
        try:
            return resolver(handle)
        except Exception:  # the reference reports it at that line
            return None

    return resolve


def parse_batch(
    data: FileData,
    resolver: Any,
    *,
    file: str = "-",
    possible_cpus: int = 1,
    compat: bool = False,
    fast: bool = True,
    block_max: int | None = None,
    runs: bool = True,
) -> Iterator[OpBlock | Command]:
    """Parse a batch file into :class:`~bpfmaps.bpftool.plan.OpBlock` and
    :class:`~bpfmaps.bpftool.grammar.Command` items, in file order.

    A generator: incremental (compat) callers execute each item before the next
    line is parsed; checked callers ``list()`` it.  The items before a bad line are
    yielded before its ParseError is raised.  ``resolver(handle)`` resolves map
    handles (each once per file); if it has ``declare(cmd)`` it is told about ``map
    create``/``map pin`` so later ``pinned FILE`` handles resolve to them.  ``fast``
    enables the C scanner when built; ``block_max`` bounds the ops of one scanned block
    (default :data:`.scan.BLOCK_MAX`); ``runs``: long runs may come as run blocks
    (records built only when read: :class:`~bpfmaps.bpftool.plan.OpBlock`).  Raises ParseError (LexError).  Cost:
    O(len(data)); Python work per block for scanned lines, about 10 us per line the
    reference parses.
    """
    from . import scan

    table = MapTable(possible_cpus)
    scanner = (
        scan.Scanner(data, table, _resolver_soft(resolver), block_max, runs)
        if fast and data and scan.available()
        else None
    )
    ref = None  # the reference, created at the first declined line
    pos, line, index = 0, 1, 0
    builder: BlockBuilder | None = None
    size = len(data)
    try:
        mid_line = False
        while pos < size:
            if scanner is not None and not mid_line:
                block, status, pos, line = scanner.scan(pos, line, index)
                if block is not None:
                    if builder is not None:
                        yield builder.block()
                        builder = None
                    index += block.count
                    yield block
                if status == scan.END:
                    break
                if status == scan.FULL:
                    continue
            if ref is None:
                ref = _Reference(data, resolver, file, possible_cpus, compat, table)
            item, pos, line = ref.one(pos, line, index)
            if item is None:
                break
            mid_line = ref.lexer.line_start != pos  # after an fgets chunk of a long line
            index += 1
            if isinstance(item, tuple):
                if builder is None:
                    builder = BlockBuilder(table, index - 1)
                builder.append(*item)
            else:
                if builder is not None:
                    yield builder.block()
                    builder = None
                yield item
    except ParseError:
        if builder is not None:
            yield builder.block()
        raise
    if builder is not None:
        yield builder.block()


class _Reference:
    """The Python reference positioned by the driver: one command at a time."""

    def __init__(
        self,
        data: Any,
        resolver: Callable[[Handle], Any],
        file: str,
        ncpus: int,
        compat: bool,
        table: MapTable,
    ) -> None:
        from . import grammar
        from .lexer import Lexer

        self.g = grammar
        self.lexer = Lexer(data, file)
        self.resolver = resolver
        self.declare = getattr(resolver, "declare", None)
        self.file, self.ncpus, self.compat = file, ncpus, compat
        self.table = table

    def one(self, pos: int, line: int, index: int) -> tuple[Command | _OpItem | None, int, int]:
        """(item, pos, line) for the next command at ``pos``; item is None at the end,
        an op tuple for :meth:`BlockBuilder.append`, or a Command."""
        lx = self.lexer
        if lx.pos != pos or lx.line != line:
            lx.seek(pos, line, index)
        lx.count = index
        cmd = lx.next_command()
        if cmd is None:
            return None, lx.pos, lx.line
        g = self.g
        c = g.parse_command(
            cmd, self.resolver, file=self.file, possible_cpus=self.ncpus, compat=self.compat
        )
        tc = type(c)
        op: Optional[tuple[int, int, Optional[bytes], Optional[bytes]]] = None
        if type(c) is g.Update:
            if c.value_handle is None and c.value is not None:
                op = (UPDATE, c.flags, c.key, c.value)
        elif type(c) is g.Delete:
            if c.map.key_size:
                op = (DELETE, 0, c.key, None)
        elif type(c) is g.Lookup:
            op = (LOOKUP, 1 if c.verb == "peek" else 0, c.key, None)
        elif type(c) is g.GetNext:
            op = (GETNEXT, 0 if c.key is None else 1, c.key, None)
        elif type(c) is g.Pop:
            op = (POP, 1 if c.verb == "dequeue" else 0, None, None)
        elif self.declare is not None and tc in (g.Create, g.Pin):
            self.declare(c)
        if op is None:
            return c, lx.pos, lx.line
        t = self.table
        m = t.index.get(c.handle)
        if m is None:
            m = t.add(c.handle, c.map)
        elif t.refs[m] is not c.map:  # a handle that first failed to resolve
            return c, lx.pos, lx.line
        kind, flags, key, value = op
        assert c.line is not None and c.words is not None  # set by the grammar
        return (kind, m, flags, c.line, key, value, c.words), lx.pos, lx.line
