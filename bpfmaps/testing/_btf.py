"""BTF objects in the fake kernel: BTF_LOAD, BTF ids and info, maps created with BTF.

:class:`BTFCommands` adds to :class:`~bpfmaps.testing.FakeKernel` what the kernel's
``kernel/bpf/btf.c`` and ``map_check_btf`` do for user-space BTF, checked against a
real kernel by ``tests/contract/test_btf_contract.py``:

* ``btf_load(blob)``: the blob is parsed (:mod:`bpfmaps.btf`) and checked like the
  kernel's verifier does for what control planes send (header, type ids in range,
  one INT encoding bit, member names that are identifiers, members inside their
  struct, array index types that are ints); EINVAL with a log line otherwise.
* ``btf_get_fd_by_id`` / ``btf_get_next_id`` / ``btf_info`` (the raw blob back).
* ``map_create(..., btf_fd=, btf_key_type_id=, btf_value_type_id=)``: the sizes must
  match (EINVAL), array keys must be 32-bit ints, a key type is required except for
  bloom filters and single-entry DATASEC arrays (so queue/stack maps get EINVAL); a ``struct bpf_spin_lock`` in the value is allowed in hash and array
  maps only (EOPNOTSUPP elsewhere) and enables ``BPF_F_LOCK``.  The map holds a
  reference to its BTF and reports ``btf_id``/type ids in its info.

Pure Python; nothing compiled.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from typing import ClassVar, Optional

from ..btf.model import BTF, Array, BTFError, Int, Kind, Struct, Typedef
from ..btf.parse import parse
from ..types import BTFInfo, MapType
from .fdtable import FdTable
from .maps import FakeObject

__all__ = ["BTFCommands", "FakeBTF"]

EINVAL, EBADF, ENOENT, E2BIG, EPERM = (
    errno.EINVAL,
    errno.EBADF,
    errno.ENOENT,
    errno.E2BIG,
    errno.EPERM,
)
EOPNOTSUPP = errno.EOPNOTSUPP
#: BTF_MAX_SIZE in kernel/bpf/btf.c
BTF_MAX_SIZE = 16 * 1024 * 1024
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: types whose values may hold a bpf_spin_lock (of those the fake implements)
_SPIN_LOCK_TYPES = frozenset({MapType.HASH, MapType.ARRAY})
#: map types that reject a BTF key type id (keyless maps: map_check_no_btf / void key)
#: structs the kernel looks for in values (btf_parse_fields at BTF_LOAD and MAP_CREATE)
_SPECIAL_STRUCTS = frozenset({"bpf_spin_lock", "bpf_timer", "bpf_wq", "bpf_refcount"})
_KEYLESS = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER})


class FakeBTF(FakeObject):
    """The object behind a fake BTF fd (``struct btf``): the blob and its parse."""

    kind: ClassVar[str] = "btf"

    def __init__(self, btf_id: int, data: bytes, parsed: BTF) -> None:
        super().__init__(btf_id)
        self.data = data
        self.btf = parsed


def _check_blob(data: bytes) -> tuple[int, str, Optional[BTF]]:
    """(0, "", parsed) or (-EINVAL, log line, None): what the kernel's btf_parse checks."""
    if len(data) < 24:
        return -EINVAL, "btf_header not found", None
    if len(data) > BTF_MAX_SIZE:
        return -E2BIG, "btf too large", None
    try:
        btf = parse(data, source="BTF_LOAD")
    except BTFError as e:
        return -EINVAL, str(e), None
    for t in btf.own_types():
        k = t.kind
        if isinstance(t, Int):
            if bin(t.encoding).count("1") > 1 or t.encoding & ~7:
                return -EINVAL, f"[{t.id}] INT: Unsupported encoding", None
            if t.size not in (1, 2, 4, 8, 16) or t.offset + t.bits > t.size * 8 or not t.bits:
                return -EINVAL, f"[{t.id}] INT: Invalid int_data", None
            if not t.name:
                return -EINVAL, f"[{t.id}] INT: Invalid name", None
        elif isinstance(t, Struct):  # and Union
            if t.name and not _IDENT.match(t.name):
                return -EINVAL, f"[{t.id}] {k.name} {t.name}: Invalid name", None
            if _has_special(btf, t.id) and _unaligned_member(btf, t.id):
                # btf_find_struct_field walks nested structs of a struct holding a
                # bpf_spin_lock/bpf_timer/... and refuses bit offsets ("valid C code
                # cannot generate such BTF"); seen on 6.x kernels
                return -EINVAL, f"[{t.id}] {k.name}: special field with bitfields", None
            for m in t.members:
                if m.name and not _IDENT.match(m.name):
                    return -EINVAL, f"[{t.id}] {k.name}: Invalid member name", None
                try:
                    msize = btf.size_of(m.type_id)
                except BTFError:
                    return -EINVAL, f"[{t.id}] {k.name}: Invalid member", None
                bits = m.bitfield_size or msize * 8
                if m.bit_offset + bits > t.size * 8:
                    return -EINVAL, f"[{t.id}] {k.name}: Member exceeds struct_size", None
        elif isinstance(t, Array):
            it = btf.resolve(t.index_type_id) if t.index_type_id < len(btf) else None
            if it is None or it.kind != Kind.INT:
                return -EINVAL, f"[{t.id}] ARRAY: Invalid index", None
        elif isinstance(t, Typedef) and not (t.name and _IDENT.match(t.name)):
            return -EINVAL, f"[{t.id}] TYPEDEF: Invalid name", None
    return 0, "", btf


def _walk_structs(btf: BTF, type_id: int, depth: int = 0) -> Iterator[Struct]:
    """Every struct/union reachable by value from ``type_id`` (itself included)."""
    t = btf.resolve(type_id)
    while isinstance(t, Array):
        t = btf.resolve(t.type_id)
    if not isinstance(t, Struct) or depth > 32:
        return
    yield t
    for m in t.members:
        yield from _walk_structs(btf, m.type_id, depth + 1)


def _has_special(btf: BTF, type_id: int) -> bool:
    return any(s.name in _SPECIAL_STRUCTS for s in _walk_structs(btf, type_id) if s.id != type_id)


def _unaligned_member(btf: BTF, type_id: int) -> bool:
    return any(m.bit_offset % 8 for s in _walk_structs(btf, type_id) for m in s.members)


def _spin_lock_offsets(btf: BTF, type_id: int, base: int = 0, depth: int = 0) -> list[int]:
    """Byte offsets of every ``struct bpf_spin_lock`` in a type (nested structs included)."""
    t = btf.resolve(type_id)
    if t.kind == Kind.STRUCT and t.name == "bpf_spin_lock":
        return [base]
    if depth > 32 or not isinstance(t, Struct):
        return []
    out: list[int] = []
    for m in t.members:
        if not m.bitfield_size:
            out += _spin_lock_offsets(btf, m.type_id, base + m.bit_offset // 8, depth + 1)
    return out


class BTFCommands(FdTable):
    """BTF commands of the fake kernel, and the BTF checks of MAP_CREATE."""

    # -- commands ------------------------------------------------------------------
    def btf_load(self, data: bytes, log_size: int = 0, log_level: int = 1) -> tuple[int, str]:
        """``BPF_BTF_LOAD``: (a new BTF fd, "") or (-errno, the verifier's log line)."""
        rc = self._fault("btf_load")
        if rc:
            return rc, ""
        data = bytes(data)
        rc, log, parsed = _check_blob(data)
        if rc or parsed is None:
            return rc, (log + "\n") if log_size else ""
        obj = FakeBTF(next(self._btf_ids), data, parsed)
        self._btfs[obj.id] = obj
        return self._install(obj), ""

    def btf_get_fd_by_id(self, btf_id: int) -> int:
        """``BPF_BTF_GET_FD_BY_ID``: a new fd or -ENOENT."""
        rc = self._fault("btf_get_fd_by_id", btf_id=btf_id)
        if rc:
            return rc
        obj = self._btfs.get(int(btf_id))
        if obj is None:
            return -ENOENT
        return self._install(obj)

    def btf_get_next_id(self, start_id: int) -> tuple[int, int]:
        """``BPF_BTF_GET_NEXT_ID``: (0, next id) or (-ENOENT, 0).  Cost: O(n log n)."""
        ids = sorted(i for i in self._btfs if i > start_id)
        if not ids:
            return -ENOENT, 0
        return 0, ids[0]

    def btf_info(self, fd: int) -> tuple[int, Optional[BTFInfo]]:
        """``BPF_OBJ_GET_INFO_BY_FD`` of a BTF object: (0, info with the raw blob) or -errno."""
        f = self._fds.get(fd) if isinstance(fd, int) else None
        if f is None:
            return -EBADF, None
        obj = f.obj
        if not isinstance(obj, FakeBTF):
            return -EINVAL, None
        return 0, BTFInfo(id=obj.id, data=obj.data, name="", kernel_btf=False)

    # -- the hook used by map_create -----------------------------------------------
    def _btf_for_create(
        self,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        btf_fd: int,
        key_type_id: int,
        value_type_id: int,
    ) -> tuple[int, Optional[FakeBTF], int]:
        """``map_check_btf``: (0 or -errno, the BTF object to hold, spin lock offset or -1).

        Called by map_create before the map exists; btf_fd < 0 means no BTF."""
        if btf_fd is None or btf_fd < 0 or (not key_type_id and not value_type_id):
            # no BTF: a value type is what MAP_CREATE looks at (btf_value_type_id 0 -> none)
            return 0, None, -1
        f = self._fds.get(btf_fd)
        if f is None:
            return -EBADF, None, -1
        obj = f.obj
        if not isinstance(obj, FakeBTF):
            return -EINVAL, None, -1
        btf = obj.btf
        n = len(btf)
        if not value_type_id or value_type_id >= n or key_type_id >= n:
            return -EINVAL, None, -1
        try:
            if key_type_id and btf.size_of(key_type_id) != key_size:
                return -EINVAL, None, -1
            if btf.size_of(value_type_id) != value_size:
                return -EINVAL, None, -1
        except BTFError:
            return -EINVAL, None, -1
        mt = int(map_type)
        if key_type_id and mt in _KEYLESS:
            return -EINVAL, None, -1
        if not key_type_id:
            # map_check_btf: no key type only where the map type checks BTF itself
            # (bloom filters; single-entry arrays of a DATASEC, like .bss)
            datasec = btf.resolve(value_type_id).kind == Kind.DATASEC
            if not (
                mt == MapType.BLOOM_FILTER or (mt == MapType.ARRAY and max_entries == 1 and datasec)
            ):
                return -EINVAL, None, -1
        if mt in (MapType.ARRAY, MapType.PERCPU_ARRAY) and key_type_id:
            kt = btf.resolve(key_type_id)
            if not isinstance(kt, Int) or kt.bits != 32 or kt.offset:
                return -EINVAL, None, -1
        if mt == MapType.LPM_TRIE and key_type_id and btf.resolve(key_type_id).kind != Kind.STRUCT:
            return -EINVAL, None, -1
        locks = _spin_lock_offsets(btf, value_type_id)
        if len(locks) > 1:
            return -EINVAL, None, -1
        lock = locks[0] if locks else -1
        if lock >= 0:
            if lock % 4:
                return -EINVAL, None, -1
            if mt not in _SPIN_LOCK_TYPES:
                return -EOPNOTSUPP, None, -1
        return 0, obj, lock
