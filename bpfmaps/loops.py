"""Loops over bpf(2) element commands: the layer between the Backend and the engine.

The :class:`~bpfmaps.backend.Backend` protocol is bpf(2) commands only.  What bpfmaps
builds from them (one element command per packed element, a GET_NEXT_KEY walk, a
parallel UPDATE_BATCH) has one interface, :class:`Loops` (``bpfmaps._loopbase``: the
public methods, their arguments and costs, written once), and two implementations:

* in C for the :class:`~bpfmaps.kernel.KernelBackend` (``kernel.KernelLoops``: one C call
  per loop, the GIL released, no Python per element);
* as :class:`GenericLoops`, plain Python over ANY backend's element commands (the
  fake kernel, or a test double).  It is the reference: ``tests/core/test_loops.py``
  runs both on the kernel and compares results and map contents.

Use :func:`of` to get the loops for a backend.  (Grouping batch-file ops into runs
is :func:`bpfmaps.bpftool.scan.find_runs`, with the scanner that writes the op records;
the records themselves are executed here by :meth:`Loops.exec_ops`.)  Conventions shared
by every loop:

* ``keys``/``values`` are packed buffers (bytes-like, or buffers from
  :meth:`Backend.alloc`); ``keys=None`` means NULL keys (queue/stack maps);
  ``value_stride`` is the size of one value slot (per-CPU: ``ncpus * round_up8``).
* ``errs=None``: stop at the first failure and return ``(rc, applied)``;
  ``errs=[]``: attempt every element, ``errs`` receives one rc per element, and the
  result is ``(number_failed, count)``.

Kernel floor: that of the element commands used (4.4; 4.20 for LOOKUP_AND_DELETE on
queues/stacks, 5.14 on hash maps); ``update_batch_parts`` needs UPDATE_BATCH (5.6).
"""

from __future__ import annotations

from errno import ENOENT

from ._loopbase import DELETE_ELEM, LOOKUP_ELEM, UPDATE_ELEM, Loops
from .types import OP, OP_FORMAT, OP_SIZE

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional
    from weakref import WeakKeyDictionary

    from ._loopbase import Errs
    from .backend import Backend
else:  # typing is not loaded at run time: Buffer is an alias for the type checkers only
    Any = object

__all__ = [
    "OP",
    "OP_DELETE",
    "OP_FORMAT",
    "OP_NO_KEY",
    "OP_SIZE",
    "OP_UPDATE",
    "GenericLoops",
    "Loops",
    "of",
]

Buffer = Any

#: the op records of :meth:`Loops.exec_ops` are ``struct bpfm_op`` of
#: bpfmaps/_native/ops.h, viewed as :data:`bpfmaps.types.OP` (OP_FORMAT, OP_SIZE: its
#: format and size; tests/bpftool/test_bpftool_scan.py checks them against the header)
OP_UPDATE, OP_DELETE = 1, 2
#: key_off of an op without a key (a NULL key)
OP_NO_KEY = 0xFFFFFFFF


#: the GenericLoops of each backend without loops of its own (made by of(): weakref
#: is loaded only then, the kernel backend has its C loops)
_generic: dict[str, WeakKeyDictionary[Any, GenericLoops]] = {}


def of(be: Backend) -> Loops:
    """The loops for ``be``: its own (``be.loops``: the kernel backend's C loops) when
    it has them, else :class:`GenericLoops` over its element commands (one per backend,
    cached).  Cost: an attribute lookup (plus a dict lookup for generic loops)."""
    own: Loops | None = getattr(be, "loops", None)
    if own is not None:
        return own
    cache = _generic.get("by_backend")
    if cache is None:
        from weakref import WeakKeyDictionary

        # setdefault: two threads' first calls make one cache
        cache = _generic.setdefault("by_backend", WeakKeyDictionary())
    try:
        return cache[be]
    except (KeyError, TypeError):
        pass
    lp = GenericLoops(be)
    try:
        cache[be] = lp
    except TypeError:  # pragma: no cover - a backend that cannot be weakly referenced
        pass
    return lp


class GenericLoops(Loops):
    """The loops in Python over any backend's bpf(2) element commands (the reference
    for the kernel backend's C loops).  Cost: one element command per element plus
    one small copy; no other allocation per element."""

    def __init__(self, backend: Backend) -> None:
        self.be = backend

    def __repr__(self) -> str:
        return f"<GenericLoops over {self.be!r}>"

    @staticmethod
    def _loop(count: int, errs: Optional[list[int]], one: Callable[[int], int]) -> tuple[int, int]:
        if errs is None:
            for i in range(count):
                rc = one(i)
                if rc:
                    return rc, i
            return 0, count
        errs[:] = [0] * count
        failures = 0
        for i in range(count):
            rc = errs[i] = one(i)
            failures += rc != 0
        return failures, count

    def _key(self, keys: Buffer | None, key_size: int, i: int) -> Any:
        """Key ``i`` of the packed ``keys`` as bytes, or the backend's NULL."""
        if keys is None:
            return self.be.NULL
        return self.be.tobytes(keys, key_size, i * key_size)

    def _elems(
        self,
        cmd: int,
        fd: int,
        keys: Buffer | None,
        key_size: int,
        values: Buffer,
        value_stride: int,
        count: int,
        flags: int,
        errs: Errs,
    ) -> tuple[int, int]:
        be = self.be
        key = self._key
        if cmd == UPDATE_ELEM:
            update = be.map_update_elem

            def upd(i: int) -> int:
                v = be.tobytes(values, value_stride, i * value_stride)
                return update(fd, key(keys, key_size, i), v, flags)

            return self._loop(count, errs, upd)
        if cmd == DELETE_ELEM:
            delete = be.map_delete_elem
            return self._loop(count, errs, lambda i: delete(fd, key(keys, key_size, i)))
        command = be.map_lookup_elem if cmd == LOOKUP_ELEM else be.map_lookup_and_delete_elem
        vbuf = be.alloc(value_stride)

        def out(i: int) -> int:
            rc = command(fd, key(keys, key_size, i), vbuf, flags)
            if rc == 0:
                at = i * value_stride
                values[at : at + value_stride] = be.tobytes(vbuf, value_stride)
            return rc

        return self._loop(count, errs, out)

    def keys_distinct(self, keys: Buffer, key_size: int, count: int) -> bool:
        """True when the ``count`` packed keys are pairwise distinct.  Cost: O(count)
        hashing, no command."""
        t = self.be.tobytes(keys, key_size * count)
        return len({t[i * key_size : (i + 1) * key_size] for i in range(count)}) == count

    def keys_ascending(self, keys: Buffer, key_size: int, count: int) -> bool:
        """:meth:`Loops.keys_ascending` in Python."""
        if not key_size:
            return count < 2
        t = self.be.tobytes(keys, key_size * count)
        return all(
            t[(i - 1) * key_size : i * key_size] < t[i * key_size : (i + 1) * key_size]
            for i in range(1, count)
        )

    def _batch_parts(
        self,
        fd: int,
        keys: Buffer,
        values: Buffer,
        key_size: int,
        value_stride: int,
        elem_flags: int,
        chunk: int,
    ) -> Callable[[int, int], tuple[int, int]]:
        be = self.be
        stop = [False]

        def part(start: int, count: int) -> tuple[int, int]:
            done, rc = 0, 0
            while done < count and not stop[0]:
                c = min(chunk, count - done) if chunk else count - done
                off = start + done
                rc, cnt = be.map_update_batch(
                    fd,
                    be.tobytes(keys, c * key_size, off * key_size),
                    be.tobytes(values, c * value_stride, off * value_stride),
                    c,
                    elem_flags,
                )
                if rc < 0:
                    done += cnt if cnt < c else 0
                    stop[0] = True
                    break
                done += c
            return rc, done

        return part

    def _dump(
        self,
        fd: int,
        start: Buffer | None,
        cursor: Buffer,
        keys_out: Buffer,
        key_size: int,
        values_out: Buffer,
        value_stride: int,
        count: int,
        delete: bool,
    ) -> tuple[int, int, int]:
        """:meth:`Loops.dump_elems` over the backend's GET_NEXT_KEY and lookups (one
        backend call per step, one copy per element)."""
        be = self.be
        ks, vbs = key_size, value_stride
        n = steps = 0
        kbuf = be.alloc(ks)
        vbuf = be.alloc(vbs)
        prev = None if delete or start is None else be.tobytes(start, ks)
        rc = 0
        collected: list[bytes] = []
        while len(collected) < count if delete else n < count:
            rc = be.map_get_next_key(fd, be.NULL if prev is None else prev, kbuf)
            if rc < 0:
                break
            steps += 1
            k = be.tobytes(kbuf, ks)
            prev = k
            if delete:
                collected.append(k)
                continue
            cursor[0:ks] = k
            r = be.map_lookup_elem(fd, k, vbuf, 0)
            if r == -ENOENT:
                continue
            if r < 0:
                rc = r
                break
            keys_out[n * ks : (n + 1) * ks] = k
            values_out[n * vbs : (n + 1) * vbs] = be.tobytes(vbuf, vbs)
            n += 1
        if delete:
            end = rc
            for k in collected:
                r = be.map_lookup_and_delete_elem(fd, k, vbuf, 0)
                if r == -ENOENT:
                    continue
                if r < 0:
                    return r, n, steps
                keys_out[n * ks : (n + 1) * ks] = k
                values_out[n * vbs : (n + 1) * vbs] = be.tobytes(vbuf, vbs)
                n += 1
            return end, n, steps
        return rc, n, steps

    def _exec(
        self,
        ops: Buffer,
        count: int,
        fds: list[int],
        key_sizes: list[int],
        value_sizes: list[int],
        keys: Buffer,
        values: Buffer,
    ) -> tuple[int, int]:
        """:meth:`Loops.exec_ops` in Python (the reference of the kernel's C loop,
        ``bpfm_exec_print`` with no printing; tests/core/test_loops.py compares them); copies the key and
        value arenas once."""
        be = self.be
        update, delete, null = be.map_update_elem, be.map_delete_elem, be.NULL
        mv = memoryview(ops).cast("B")[: count * OP_SIZE]
        kb = bytes(keys)
        vb = bytes(values)
        for i, (kind, flags, m, _line, ko, vo, _pos) in enumerate(OP.iter_unpack(mv)):
            key = null if ko == OP_NO_KEY else kb[ko : ko + key_sizes[m]]
            if kind == OP_UPDATE:
                rc = update(fds[m], key, vb[vo : vo + value_sizes[m]], flags)
            elif kind == OP_DELETE:
                rc = delete(fds[m], key)
            else:
                return 1, i
            if rc < 0:
                return rc, i
        return 0, count
