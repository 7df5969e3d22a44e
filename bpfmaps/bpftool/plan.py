"""The plan of a batch file: the IR between parsing and execution.

A plan is a sequence of items in file order: :class:`OpBlock` (element commands:
update/push/enqueue, delete, lookup/peek, getnext, pop/dequeue, as 32-byte op
records with their keys and values in two arenas) and other
:class:`~bpfmaps.bpftool.grammar.Command` objects (create, pin, show, dump, ...).
Both parsers build the same plan: the C scanner (:mod:`.scan`) writes whole
blocks, the Python reference appends one command at a time through
:class:`BlockBuilder`.  :func:`flatten` is the canonical per-command view the
equivalence tests compare.

The record layout is defined once, in ``bpfmaps/_native/ops.h``; :data:`OP` is its
Python view (checked against the header by ``test_record_layout_matches_header`` in
``tests/bpftool/test_bpftool_scan.py``).
Keys and values live in separate arenas, so a run of updates to one map (consecutive
records, same map, same flag) is already the contiguous keys and values buffers
``BPF_MAP_UPDATE_BATCH`` takes.

Pure Python; imports without the compiled extension.
"""

from __future__ import annotations

import sys

from ..types import FD_VALUE_INTS, OP, PERCPU_INTS, round_up8

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Callable, Optional

__all__ = [
    "OP",
    "NO_KEY",
    "UPDATE",
    "DELETE",
    "LOOKUP",
    "GETNEXT",
    "POP",
    "RUN_MIN",
    "MapTable",
    "OpBlock",
    "BlockBuilder",
    "find_runs_py",
    "has_kind",
    "flatten",
]

#: (OP: struct bpfm_op of _native/ops.h, kind, flags, map, line, key_off, value_off,
#: pos; its one Python view is bpfmaps.types.OP)
#: key_off of ops without a key (BPFM_NO_KEY in ops.h)
NO_KEY = 0xFFFFFFFF
#: op kinds (BPFM_OP_* in ops.h)
UPDATE, DELETE, LOOKUP, GETNEXT, POP = 1, 2, 3, 4, 5
#: consecutive updates (same map, same flag) or deletes (same map) from which the
#: executor hands the run to the batch engine; shorter ones go op by op in C
RUN_MIN = 16

_VERBS = {LOOKUP: ("lookup", "peek"), POP: ("pop", "dequeue")}


class MapTable:
    """The maps of one file, in order of first use: op records name them by index.

    ``refs[i]`` is the resolved map (the resolver's object: ``type``, ``key_size``,
    ``value_size``; the runner's MapRef) or None when the handle did not resolve
    (then no op names it: the reference reports the error); ``handles[i]`` its
    :class:`~bpfmaps.bpftool.grammar.Handle`; ``key_sizes[i]``/``value_sizes[i]``
    the key and value buffer sizes (per-CPU values replicated to ``ncpus`` slots of
    ``round_up(value_size, 8)``); ``caps[i]`` the bit set of op kinds an ordinary
    line may give for it (see :func:`caps_of`)."""

    def __init__(self, ncpus: int) -> None:
        self.ncpus = ncpus
        self.refs: list[Any] = []
        self.handles: list[Any] = []
        self.key_sizes: list[int] = []
        self.value_sizes: list[int] = []
        self.caps: list[int] = []
        self.index: dict[Any, int] = {}

    def add(self, handle: Any, ref: Any) -> int:
        """The index of ``handle`` (added with ``ref`` if new).  Cost: a dict lookup."""
        i = self.index.get(handle)
        if i is not None:
            return i
        i = self.index[handle] = len(self.refs)
        self.refs.append(ref)
        self.handles.append(handle)
        ks, vs, caps = (
            (0, 0, 0) if ref is None else (ref.key_size, self.value_buf(ref), caps_of(ref))
        )
        self.key_sizes.append(ks)
        self.value_sizes.append(vs)
        self.caps.append(caps)
        return i

    def value_buf(self, ref: Any) -> int:
        """Bytes of one value in the kernel buffer for ``ref``."""
        if ref.type in PERCPU_INTS:
            return round_up8(ref.value_size) * self.ncpus
        size: int = ref.value_size
        return size

    def slot(self, ref: Any) -> tuple[int, int]:
        """(bytes per value copy, copies) for ``ref``."""
        if ref.type in PERCPU_INTS:
            return round_up8(ref.value_size), self.ncpus
        return ref.value_size, 1


def caps_of(ref: Any) -> int:
    """The op kinds an ordinary line may give for this map, as bits ``1 << kind``:
    updates need a byte value (no fd-valued maps, value_size > 0), deletes a key;
    lookups, getnext and pop take any map.  Cost: O(1)."""
    caps = (1 << LOOKUP) | (1 << GETNEXT) | (1 << POP)
    if ref.type not in FD_VALUE_INTS and ref.value_size > 0:
        caps |= 1 << UPDATE
    if ref.key_size > 0:
        caps |= 1 << DELETE
    return caps


class OpBlock:
    """Consecutive element commands: ``count`` records of :data:`OP` in ``ops``, keys
    in ``keys``, values in ``values`` (any bytes-like objects: cffi buffers from the
    scanner, bytearrays from the reference).  Op i is command ``first_index + i`` of
    the file.  ``words`` maps op indexes the reference parsed to their words (the
    others are cut from the file at their line span when printed).

    A *run block* (the scanner's run mode, see ``bpfm_scan`` in ``_native/scan.h``)
    is one run: updates to one map with one flag, or deletes on one map.  ``run``
    holds two records, its first op's and its last op's; ``ops`` is built on first
    use by ``expand()`` (the scanner's records of the same lines), so the executor,
    which applies the run whole and reads only those two, never builds it.  Else
    ``run`` is None."""

    __slots__ = (
        "table",
        "_ops",
        "keys",
        "values",
        "count",
        "first_index",
        "words",
        "taken",
        "run",
        "_expand",
    )
    table: MapTable
    keys: Any
    values: Any
    count: int
    first_index: int
    taken: int
    run: Optional[bytes]

    def __init__(
        self,
        table: MapTable,
        ops: Any,
        keys: Any,
        values: Any,
        count: int,
        first_index: int,
        run: Optional[bytes] = None,
        expand: Optional[Callable[[], Any]] = None,
    ) -> None:
        self.table = table
        self._ops = ops
        self.keys = keys
        self.values = values
        self.count = count
        self.first_index = first_index
        self.words: dict[int, list[str]] | None = None
        #: ops the C scanner took (the rest: the reference); for the coverage test
        self.taken = count
        self.run = run
        self._expand = expand

    @property
    def ops(self) -> Any:
        """The ``count`` records (a run block builds them here, once: a scan of its
        lines, O(their bytes))."""
        ops = self._ops
        if ops is None:
            expand = self._expand
            if expand is None:  # pragma: no cover - a run block always has expand
                raise ValueError("an op block without records")
            ops = self._ops = expand()
            self._expand = None
        return ops

    def op(self, i: int) -> tuple[int, int, int, int, int, int, int]:
        """(kind, flags, map, line, key_off, value_off, pos) of op i.  Cost: O(1)
        (a run block's first and last op; its other ops build :attr:`ops` once)."""
        run = self.run
        if run is not None and self._ops is None:
            if i == 0:
                return OP.unpack_from(run, 0)
            if i == self.count - 1 and i > 0:
                return OP.unpack_from(run, OP.size)
        return OP.unpack_from(self.ops, i * OP.size)

    def line(self, i: int) -> int:
        """The physical line of op i."""
        line: int = self.op(i)[3]
        return line

    def key(self, i: int) -> bytes | None:
        """The key of op i (None for ops without one)."""
        _, _, m, _, ko, _, _ = self.op(i)
        if ko == NO_KEY:
            return None
        return bytes(self.keys[ko : ko + self.table.key_sizes[m]])

    def element(self, i: int) -> tuple[Any, ...]:
        """The :func:`flatten` tuple of op i."""
        kind, flags, m, line, ko, vo, _ = self.op(i)
        t = self.table
        h = t.handles[m]
        key = self.key(i)
        if kind == UPDATE:
            return ("update", h, line, key, bytes(self.values[vo : vo + t.value_sizes[m]]), flags)
        if kind == DELETE:
            return ("delete", h, line, key)
        if kind == LOOKUP:
            return ("lookup", _VERBS[LOOKUP][flags], h, line, key)
        if kind == GETNEXT:
            return ("getnext", h, line, key)
        return ("pop", _VERBS[POP][flags], h, line)

    def __repr__(self) -> str:
        return f"OpBlock(count={self.count}, first_index={self.first_index})"


class BlockBuilder:
    """Appends commands the Python reference parsed into an :class:`OpBlock` (the
    same records the scanner writes).  Cost: one record pack and two bytearray
    appends per command."""

    __slots__ = ("table", "ops", "keys", "values", "count", "first_index", "words")
    table: MapTable
    ops: bytearray
    keys: bytearray
    values: bytearray
    count: int
    first_index: int

    def __init__(self, table: MapTable, first_index: int) -> None:
        self.table = table
        self.ops = bytearray()
        self.keys = bytearray()
        self.values = bytearray()
        self.count = 0
        self.first_index = first_index
        self.words: dict[int, list[str]] = {}

    def append(
        self,
        kind: int,
        m: int,
        flags: int,
        line: int,
        key: Optional[bytes],
        value: Optional[bytes],
        words: list[str],
    ) -> None:
        """Add op ``kind`` on map index ``m`` (key/value: kernel buffers or None)."""
        ko = len(self.keys) if key is not None else NO_KEY
        self.ops += OP.pack(kind, flags, m, line, ko, len(self.values), 0)
        if key:
            self.keys += key
        if value:
            self.values += value
        self.words[self.count] = words
        self.count += 1

    def block(self) -> OpBlock:
        b = OpBlock(self.table, self.ops, self.keys, self.values, self.count, self.first_index)
        b.words = self.words
        b.taken = 0
        return b


def has_kind(block: OpBlock, kind: int) -> bool:
    """Some op of ``block`` is of ``kind`` (UPDATE, ..., POP).  Cost: one strided copy of
    the records' kind fields (their low bytes: every kind is below 256), no loop in
    Python."""
    if block.run is not None:  # one run: updates or deletes
        return bool(block.count) and kind == block.op(0)[0]
    at = 0 if sys.byteorder == "little" else 3  # (kind: the record's first uint32)
    kinds = memoryview(block.ops).cast("B")[at : block.count * OP.size : OP.size]
    return kinds.tobytes().find(kind.to_bytes(1, "little")) >= 0


def find_runs_py(block: OpBlock, run_min: int = RUN_MIN) -> list[tuple[int, int]]:
    """``[(start, end), ...]``: the maximal runs of at least ``run_min`` consecutive
    updates to one map with one flag, or deletes on one map, in order.  The Python
    reference of :func:`bpfmaps.bpftool.scan.find_runs` (which uses the C twin when the
    extension is built; tests compare both).  Cost: O(count)."""
    if block.run is not None:  # one run (no records needed)
        return [(0, block.count)] if block.count >= run_min and block.count else []
    out = []
    start = 0
    prev = None
    n = block.count
    for i, (kind, flags, m, *_rest) in enumerate(
        OP.iter_unpack(memoryview(block.ops)[: n * OP.size])
    ):
        cur = (kind, flags, m) if kind in (UPDATE, DELETE) else None
        if cur is None or cur != prev:
            if prev is not None and i - start >= run_min:
                out.append((start, i))
            start = i
        prev = cur
    if prev is not None and n - start >= run_min:
        out.append((start, n))
    return out


def flatten(items: Iterable[Any]) -> list[Any]:
    """The per-command view of a plan (for tests and comparisons): op records become
    ``("update", handle, line, key, value, flags)``, ``("delete", handle, line, key)``,
    ``("lookup", verb, handle, line, key)``, ``("getnext", handle, line, key)``,
    ``("pop", verb, handle, line)``; other commands stay as they are.  Cost: O(plan)."""
    out: list[Any] = []
    for it in items:
        if isinstance(it, OpBlock):
            out.extend(it.element(i) for i in range(it.count))
        else:
            out.append(it)
    return out
