"""Maps whose values are fds: hash_of_maps, array_of_maps (``kernel/bpf/map_in_map.c``,
``hashtab.c``, ``arraymap.c``) and prog_array.  A value is written as a fd and read as
the id of the object it names; each slot holds a reference to that object, taken and
dropped through the :class:`~.base.FdRefs` of the map's environment."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from ...types import MapType
from .arraymap import ArrayMap
from .base import (
    BPF_ANY,
    E2BIG,
    EINVAL,
    ENOENT,
    F_INNER_MAP,
    F_RDONLY_PROG,
    F_WRONLY_PROG,
    FakeMap,
    FakeObject,
    FakeProg,
    FdRefs,
    MapEnv,
    read_fd_value,
)
from .hashtab import HashMap

__all__ = ["ArrayOfMaps", "FdArrayMap", "FdValues", "HashOfMaps", "MapMeta", "ProgArray"]


class MapMeta:
    """The inner-map template of a map-in-map (``bpf_map_meta_alloc``/``map_meta_equal``)."""

    def __init__(self, inner: FakeMap) -> None:
        self.type: int = inner.type
        self.key_size: int = inner.key_size
        self.value_size: int = inner.value_size
        self.max_entries: int = inner.max_entries
        self.flags: int = inner.flags

    def compatible(self, m: FakeMap) -> bool:
        """``map_meta_equal``: may ``m`` be stored in the outer map?  Cost: O(1)."""
        if m.inner_meta is not None:
            return False
        same = (
            m.type == self.type
            and m.key_size == self.key_size
            and m.value_size == self.value_size
            and m.flags == self.flags
        )
        if not same:
            return False
        if self.type in (MapType.ARRAY, MapType.PERCPU_ARRAY) and not self.flags & F_INNER_MAP:
            return m.max_entries == self.max_entries
        return True


class FdValues(FakeMap):
    """What every map of fds shares (mixed in before the hash or array class): u32
    values (``fd_htab_map_alloc_check`` / ``fd_array_map_alloc_check``: EINVAL for any
    other size, before the family's own checks) and the fd table of the environment
    (``refs_table``), through which slots take and drop references."""

    fd_values: ClassVar[bool] = True

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        if env.refs is None:
            raise ValueError("a map whose values are fds needs MapEnv.refs")
        self.refs_table: FdRefs = env.refs

    @classmethod
    def alloc_check(
        cls,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int,
        map_extra: int = 0,
    ) -> int:
        """4-byte values, then the family's checks.  Cost: O(1)."""
        if value_size != 4:
            return -EINVAL
        return super().alloc_check(map_type, key_size, value_size, max_entries, flags, map_extra)


def _map_get_ptr(outer: FakeMap, refs: FdRefs, value: bytes) -> tuple[int, Optional[FakeMap]]:
    """``bpf_map_fd_get_ptr``: the inner map named by the fd in ``value``, if
    compatible with the outer map's template (takes a reference)."""
    rc, obj = refs.resolve(value)
    if rc:
        return rc, None
    if not isinstance(obj, FakeMap):
        return -EINVAL, None
    meta = outer.inner_meta
    if meta is None or not meta.compatible(obj):
        return -EINVAL, None
    obj.refs += 1
    return 0, obj


class HashOfMaps(FdValues, HashMap):
    """hash_of_maps: values are inner-map fds on write, inner-map ids on read (in place).
    ``alloc_check`` is ``fd_htab_map_alloc_check``: 4-byte values, then the hash checks."""

    needs_inner_map: ClassVar[bool] = True
    has_lookup_and_delete: ClassVar[bool] = False
    in_place_update: ClassVar[bool] = True

    def _read_value(self, stored: Any) -> bytes:
        return read_fd_value(stored)

    def _drop(self, stored: Any) -> None:
        self.refs_table.put(stored)

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        assert key is not None
        # bpf_fd_htab_map_update_elem resolves the fd before any flag check
        rc, obj = _map_get_ptr(self, self.refs_table, value)
        if rc or obj is None:
            return rc
        old = self.data.get(key)
        rc = self._store(key, obj, flags)
        if rc:
            self.refs_table.put(obj)
        elif old is not None:
            self.refs_table.put(old)
        return rc


class FdArrayMap(FdValues, ArrayMap):
    """prog_array and array_of_maps: slots hold objects; write a fd, read an id."""

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        #: index -> the object the slot holds (the array's ``data`` stays unused)
        self.slots: dict[int, FakeObject] = {}

    @classmethod
    def alloc_check(
        cls,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        flags: int,
        map_extra: int = 0,
    ) -> int:
        """``fd_array_map_alloc_check``: no program access flags, 4-byte values
        (:class:`FdValues`), then the array checks.  Cost: O(1)."""
        if flags & (F_RDONLY_PROG | F_WRONLY_PROG):
            return -EINVAL
        return super().alloc_check(map_type, key_size, value_size, max_entries, flags, map_extra)

    def _get_ptr(self, value: bytes) -> tuple[int, Optional[FakeObject]]:
        raise NotImplementedError

    def count(self) -> int:
        return len(self.slots)

    def lookup(self, key: Optional[bytes]) -> tuple[int, Optional[bytes]]:
        assert key is not None
        i = self.index(key)
        if i >= self.max_entries or i not in self.slots:
            return -ENOENT, None
        return 0, read_fd_value(self.slots[i])

    def update(self, key: Optional[bytes], value: bytes, flags: int) -> int:
        assert key is not None
        if flags != BPF_ANY:
            return -EINVAL
        i = self.index(key)
        if i >= self.max_entries:
            return -E2BIG
        rc, obj = self._get_ptr(value)
        if rc or obj is None:
            return rc
        old = self.slots.get(i)
        self.slots[i] = obj
        if old is not None:
            self.refs_table.put(old)
        return 0

    def delete(self, key: Optional[bytes]) -> int:
        assert key is not None
        i = self.index(key)
        if i >= self.max_entries:
            return -E2BIG
        if i not in self.slots:
            return -ENOENT
        self.refs_table.put(self.slots.pop(i))
        return 0

    def release(self) -> None:
        for v in self.slots.values():
            self.refs_table.put(v)
        self.slots.clear()


class ProgArray(FdArrayMap):
    """prog_array: slots hold programs of one type (the first stored fixes it); no
    batch commands."""

    lookup_batch_kind: ClassVar[Optional[str]] = None
    has_update_batch: ClassVar[bool] = False

    def __init__(self, env: MapEnv, *a: Any, **kw: Any) -> None:
        super().__init__(env, *a, **kw)
        self.owner_prog_type: Optional[int] = None

    def _get_ptr(self, value: bytes) -> tuple[int, Optional[FakeObject]]:
        """``prog_fd_array_get_ptr``: the program named by the fd, of the array's
        program type (takes a reference)."""
        rc, p = self.refs_table.resolve(value)
        if rc:
            return rc, None
        if not isinstance(p, FakeProg):
            return -EINVAL, None
        if self.owner_prog_type is None:
            self.owner_prog_type = p.type
        elif self.owner_prog_type != p.type:
            return -EINVAL, None
        p.refs += 1
        return 0, p


class ArrayOfMaps(FdArrayMap):
    """array_of_maps: slots hold inner maps compatible with the template."""

    needs_inner_map: ClassVar[bool] = True

    def _get_ptr(self, value: bytes) -> tuple[int, Optional[FakeObject]]:
        return _map_get_ptr(self, self.refs_table, value)
