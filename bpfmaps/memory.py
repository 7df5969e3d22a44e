"""Memory-mapped arrays: the values of a BPF_F_MMAPABLE array as one writable buffer.

``m.memory()`` maps the array's value area into the process (mmap of the map fd) and
returns a memoryview over it: reading or writing an element is a plain memory access,
no syscall, visible to BPF programs at once (they see the same pages).  See
docs/mmap-arrays.md for the rules:

* Layout: element ``i`` starts at ``i * stride`` with ``stride = round_up(value_size,
  8)`` (:func:`stride`); the view is ``max_entries * stride`` bytes.
* No atomicity: a value wider than the CPU's word can be read half-written by a BPF
  program (or by you) while the other side writes it; use BPF atomics / your own
  protocol (e.g. a sequence counter) when that matters.
* Frozen maps give a read-only view; freezing a map while a writable view exists
  fails (EBUSY, the kernel's rule).  A handle opened read-only (``readonly=True``)
  cannot be mapped at all (the kernel answers EINVAL).
* Lifetime: the views belong to the Map.  ``Map.close()`` refuses (BufferError,
  nothing closed) while a view or an object made from one (a numpy array) is alive:
  release them first (``del arr; mv.release()``).  A Map collected with views alive
  closes its fd; the pages stay valid until the last view is gone (a mapping keeps the
  kernel map alive), so no view can ever dangle.

Kernel floor 5.5 (BPF_F_MMAPABLE); read-only mappings of frozen maps 5.5.
"""

from __future__ import annotations

import errno as _errno
import mmap as _mmap
import weakref
from typing import TYPE_CHECKING, Any

from .errors import InvalidArgumentError, error_from_errno
from .types import MapFlags, MapType, round_up8

if TYPE_CHECKING:
    from ._core import MapCore as Map  # any view of a map (a Map is one)

__all__ = ["map_memory", "stride"]

_PAGE = _mmap.PAGESIZE
#: open mappings per map handle (a handle has fixed slots)
_maps: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def stride(m: Map) -> int:
    """Bytes from one element to the next in :meth:`Map.memory`: round_up(value_size, 8)."""
    return round_up8(m.value_size)


def map_memory(m: Map) -> memoryview:
    """The view behind :meth:`Map.memory` (see the module docstring).  One mmap(2) on
    the first call (later calls return a new view of the same mapping); raises
    InvalidArgumentError for maps that are not BPF_F_MMAPABLE arrays."""
    if m.type != MapType.ARRAY or not (m.flags & MapFlags.MMAPABLE):
        raise InvalidArgumentError(
            _errno.EINVAL,
            "memory",
            map=m._h.desc,
            hint="memory() needs an array created with flags=MapFlags.MMAPABLE "
            "(Map.create('array', 4, value_size, n, flags=MapFlags.MMAPABLE))",
        )
    h = m._h
    fd = m.fileno()
    ent = _maps.get(h)
    if ent is None:
        size = stride(m) * m.max_entries
        be = m.backend
        fake = getattr(be, "map_mmap", None)
        if fake is not None:
            # the fake's own pages (shared by every fd of that map): never unmapped here
            rc, mm, readonly = fake(fd, size)
            if rc < 0:
                raise error_from_errno(-rc, "mmap", map=h.desc)
            ent = (mm, False, readonly)
        else:
            length = max(_PAGE, (size + _PAGE - 1) // _PAGE * _PAGE)
            readonly = False
            try:
                mm = _mmap.mmap(fd, length, _mmap.MAP_SHARED, _mmap.PROT_READ | _mmap.PROT_WRITE)
            except PermissionError:
                # frozen map: the kernel allows a read-only mapping
                readonly = True
                try:
                    mm = _mmap.mmap(fd, length, _mmap.MAP_SHARED, _mmap.PROT_READ)
                except OSError as e:
                    raise error_from_errno(e.errno or _errno.EPERM, "mmap", map=h.desc) from e
            except OSError as e:
                raise error_from_errno(e.errno or _errno.EINVAL, "mmap", map=h.desc) from e
            ent = (mm, True, readonly)
        _maps[h] = ent
        h.unmap = release  # the handle unmaps before its fd closes
    mm, _owned, readonly = ent
    view = memoryview(mm)[: stride(m) * m.max_entries]
    return view.toreadonly() if readonly and not view.readonly else view


def release(handle: Any, collecting: bool = False) -> None:
    """Unmap before the handle's fd closes; BufferError while views are exported
    (unless the handle is being collected: then the mapping lives on with its views)."""
    ent = _maps.get(handle)
    if ent is None:
        return
    mm, owned, _ro = ent
    try:
        if owned:
            mm.close()
        else:
            mm.resize(len(mm))  # BufferError while views are exported; else a no-op
    except BufferError:
        if collecting:
            _maps.pop(handle, None)
            handle.unmap = None
            return
        raise BufferError(
            f"map {handle.desc} still has memory() views (or arrays made from them): "
            "release them (del the arrays, view.release()) before close(); nothing was closed"
        ) from None
    _maps.pop(handle, None)
    handle.unmap = None


def has_mapping(handle: Any) -> bool:
    return handle in _maps
