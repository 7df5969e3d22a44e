"""Fault injection inside the fake kernel: :meth:`FaultInjector.inject` makes chosen
commands fail with an errno, as a kernel would (``FakeKernel.inject``).

For faults around ANY backend (the real kernel included), see
:mod:`bpfmaps.testing.inject`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

if TYPE_CHECKING:  # pragma: no cover
    from .maps import FakeMap

__all__ = ["Fault", "FaultContext", "FaultInjector"]


@dataclass(frozen=True)
class FaultContext:
    """What a fault predicate sees: the Backend method and its element.

    ``op`` is the Backend method name (``"map_update_elem"``, ``"map_update_batch"``,
    ``"map_create"``, ...); ``index`` is the element index inside a batch command
    (0 for single-element commands); ``key``/``value`` are raw bytes or None.
    """

    op: str
    fd: Optional[int] = None
    map_id: Optional[int] = None
    map_type: Optional[int] = None
    key: Optional[bytes] = None
    value: Optional[bytes] = None
    flags: int = 0
    index: int = 0
    btf_id: Optional[int] = None


@dataclass
class Fault:
    """One injected fault: see :meth:`FaultInjector.inject`."""

    errno: int
    ops: Optional[frozenset[str]]
    remaining: Optional[int]
    when: Optional[Callable[[FaultContext], bool]]
    hits: int = 0

    def matches(self, ctx: FaultContext) -> bool:
        """Does this fault fire for ``ctx`` (ops, remaining count, predicate)?  Cost:
        the predicate's."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.ops is not None and ctx.op not in self.ops:
            return False
        return self.when is None or bool(self.when(ctx))


class FaultInjector:
    """Planned faults and per-operation call counters of a fake kernel."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        #: operation name -> number of calls that reached a map (for tests)
        self.calls: dict[str, int] = {}

    def inject(
        self,
        err: int,
        ops: Union[str, Iterable[str], None] = None,
        count: Optional[int] = 1,
        when: Optional[Callable[[FaultContext], bool]] = None,
    ) -> Fault:
        """Make the next ``count`` matching operations fail with ``-err``.

        ``ops``: Backend method names (``"map_update_elem"``, ``"map_lookup_batch"``,
        ``"map_create"``, ``"obj_get"``, ...); None matches every operation.
        ``count=None`` fails every match until :meth:`clear_faults`.
        ``when(ctx: FaultContext) -> bool`` narrows the match (e.g. on ``ctx.key``).
        Batch commands check each element (``ctx.index``): a fault at element i stops the
        batch there, with ``count = i`` written back, exactly like a kernel error at i.
        The per-element loops of :mod:`bpfmaps.loops` (``update_elems``, ``exec_ops``,
        ...) issue ``map_*_elem`` operations here, as the C loops issue syscalls.
        Returns the :class:`Fault` (``hits`` counts matches).  Cost: O(1).
        """
        names = (ops,) if isinstance(ops, str) else ops
        fault = Fault(abs(err), frozenset(names) if names is not None else None, count, when)
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Forget every planned fault.  Cost: O(1)."""
        self._faults.clear()

    def _fault(self, op: str, **kw: Any) -> int:
        """Count a call of ``op`` and return ``-errno`` of the first matching fault, else 0."""
        self.calls[op] = self.calls.get(op, 0) + 1
        if not self._faults:
            return 0
        ctx = FaultContext(op, **kw)
        for f in self._faults:
            if f.matches(ctx):
                f.hits += 1
                if f.remaining is not None:
                    f.remaining -= 1
                return -f.errno
        return 0

    def _efault(
        self,
        op: str,
        fd: int,
        m: Optional[FakeMap],
        key: Optional[bytes] = None,
        value: Optional[bytes] = None,
        flags: int = 0,
        index: int = 0,
    ) -> int:
        """:meth:`_fault` for element ``index`` of a map command (calls count once per command)."""
        if not self._faults:
            if index == 0:
                self.calls[op] = self.calls.get(op, 0) + 1
            return 0
        return self._fault(
            op,
            fd=fd,
            map_id=m.id if m else None,
            map_type=m.type if m else None,
            key=key,
            value=value,
            flags=flags,
            index=index,
        )
