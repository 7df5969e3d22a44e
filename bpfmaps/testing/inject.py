"""Fault injection around any Backend: fail, raise, freeze the map or deliver a
signal at chosen calls (for testing that reports stay true after every fault).

::

    be = FaultyBackend(kernel_backend())
    be.at("map_update_batch", 2, "freeze")      # freeze the map just before the 2nd call
    be.at("exec_ops", 1, "fail", errno.EIO)      # the 1st op stream fails, nothing applied
    be.at("update_elems", 3, "raise")            # an unexpected exception (a bug) instead
    be.at("map_update_elem", 5, "raise_after")   # the call happens, then an exception
    be.at("map_update_batch", 1, "signal", signal.SIGINT)  # signal, then the call

Counting is per method name, from 1, over every call made through the wrapper
(``be.calls``).  Actions:

* ``"fail"`` (arg = errno, default EIO): return that error without calling the
  backend, shaped like an early kernel failure of that command (nothing applied:
  batch commands return ``count`` unchanged, loops 0 done);
* ``"raise"`` (arg = exception, default ``RuntimeError("injected fault")``): raise
  before calling (nothing applied);
* ``"raise_after"``: call the backend, then raise (applied but not reported back);
* ``"freeze"``: BPF_MAP_FREEZE the call's map fd (its first argument) first, then
  call: later writes to that map fail with EPERM like a second process freezing it;
* ``"signal"`` (arg = signal number, default SIGINT): ``os.kill`` this process,
  then call.

The loops of :mod:`bpfmaps.loops` (``update_elems``, ``delete_elems``,
``lookup_elems``, ``lookup_and_delete_elems``, ``dump_elems``, ``keys_distinct``,
``update_batch_parts``, and ``exec_ops``, the bpftool executor's op stream) are
planned and counted by those names too: the wrapper's
``loops`` wraps the inner backend's loops (the kernel's C loops, or the generic
ones over the fake).  Everything else is passed through unchanged, so the wrapper
works with the kernel backend and the fake alike.
"""

from __future__ import annotations

import errno as _errno
import os
import signal as _signal
from collections import Counter
from typing import Any, Callable, NamedTuple, Optional

from ..loops import of as _loops_of

__all__ = ["FaultyBackend", "InjectedFault"]


class InjectedFault(RuntimeError):
    """The default exception of the ``raise`` actions."""


class _Plan(NamedTuple):
    method: str
    nth: int
    action: str
    arg: Any


def _count_arg(name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> int:
    pos = {"map_update_batch": 3, "map_delete_batch": 2, "update_elems": 5, "delete_elems": 3,
           "lookup_elems": 5, "lookup_and_delete_elems": 5, "exec_ops": 1}[name]  # fmt: skip
    return int(args[pos]) if len(args) > pos else int(kw.get("count", 0))


def _early_failure(name: str, err: int, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    """What ``name`` returns when the kernel refuses it before doing anything."""
    rc = -abs(err)
    if name in ("map_update_batch", "map_delete_batch"):
        return rc, _count_arg(name, args, kw)  # count left untouched
    if name in ("update_elems", "delete_elems", "lookup_elems", "lookup_and_delete_elems"):
        errs = kw.get("errs")
        if errs is None:
            pos = {"update_elems": 7, "delete_elems": 4}.get(name, 7)
            errs = args[pos] if len(args) > pos else None
        n = _count_arg(name, args, kw)
        if errs is not None:
            errs[:] = [rc] * n
            return n, n
        return rc, 0
    if name == "exec_ops":
        return rc, 0
    if name == "update_batch_parts":
        parts = args[5] if len(args) > 5 else kw["parts"]
        return [(rc, 0) for _ in parts]
    if name in ("map_lookup_batch", "map_lookup_and_delete_batch", "map_info", "prog_info"):
        return rc, (0 if name.endswith("batch") else None)
    if name == "dump_elems":
        return rc, 0, 0
    if name in ("map_get_next_id", "prog_get_next_id"):
        return rc, 0
    return rc


class FaultyBackend:
    """A Backend that forwards to ``inner`` and injects the planned faults."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self._plan: list[_Plan] = []
        #: (method, call number, action) of every fault that fired, in order
        self.fired: list[tuple[str, int, str]] = []
        self.name: str = inner.name
        self.NULL: Any = inner.NULL

    def __repr__(self) -> str:
        return f"<FaultyBackend over {self._inner!r}>"

    def at(self, method: str, nth: int, action: str, arg: Any = None) -> FaultyBackend:
        """Plan ``action`` at the ``nth`` call (from 1) of ``method``; chainable."""
        if action not in ("fail", "raise", "raise_after", "freeze", "signal"):
            raise ValueError(f"unknown fault action {action!r}")
        if not callable(getattr(self._inner, method, None)) and not callable(
            getattr(_loops_of(self._inner), method, None)
        ):
            raise AttributeError(f"{self._inner!r} has no method {method!r}")
        self._plan.append(_Plan(method, int(nth), action, arg))
        return self

    def clear(self) -> None:
        """Forget the plan and the counters."""
        self._plan.clear()
        self.calls.clear()
        self.fired.clear()

    @property
    def loops(self) -> Any:
        """The inner backend's loops, with the same plan and counters."""
        lp = self.__dict__.get("_loops")
        if lp is None:
            lp = self.__dict__["_loops"] = _FaultyLoops(self, _loops_of(self._inner))
        return lp

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        return self._wrap(name, attr)

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kw: Any) -> Any:
            self.calls[name] += 1
            n = self.calls[name]
            after: Optional[_Plan] = None
            for p in self._plan:
                if p.method != name or p.nth != n:
                    continue
                self.fired.append((name, n, p.action))
                if p.action == "fail":
                    return _early_failure(name, p.arg or _errno.EIO, args, kw)
                if p.action == "raise":
                    raise (
                        p.arg
                        if p.arg is not None
                        else InjectedFault(f"injected fault in {name} #{n}")
                    )
                if p.action == "raise_after":
                    after = p
                elif p.action == "freeze":
                    for fd in args[2] if name == "exec_ops" else (args[0],):
                        if fd >= 0:
                            self._inner.map_freeze(fd)
                elif p.action == "signal":
                    os.kill(os.getpid(), p.arg or _signal.SIGINT)
            out = fn(*args, **kw)
            if after is not None:
                raise (
                    after.arg
                    if after.arg is not None
                    else InjectedFault(f"injected fault after {name} #{n}")
                )
            return out

        return call


class _FaultyLoops:
    """The loops of a FaultyBackend's inner backend, through the wrapper's plan."""

    #: the batch-file runner must call exec_ops here (the plan sees it), never the
    #: inner backend's C loop directly (:attr:`bpfmaps.loops.Loops.native_ops`)
    native_ops = False

    def __init__(self, owner: FaultyBackend, inner: Any) -> None:
        self._owner = owner
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        return self._owner._wrap(name, attr)
