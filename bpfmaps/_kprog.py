"""In-kernel apply of long runs of updates (the kernel backend's, ``_papply.c``).

``BPF_MAP_UPDATE_BATCH`` pays, for each element, two ``copy_from_user`` with their
hardened-usercopy checks around the map's own update function; about a third of its
time for a preallocated hash map.  A BPF program of type ``BPF_PROG_TYPE_SYSCALL``
calling ``bpf_map_update_elem`` on elements user space wrote into two mmapped arrays
runs the SAME update function per element, in order, stopping at the first element
the map refuses, with the same errno: 0.6-0.65x the wall time (200k replacements of
key 8 / value 32 into a preallocated hash map: ~65 ms against ~105 ms).

When is the result the syscall's?  The per-element work is ``map->ops->
map_update_elem`` in both (``bpf_map_update_value`` sends these map types straight
to it).  What the syscall adds, and what :func:`eligible` checks instead, before the
first element:

* the write permission of the fd and of the map (``map_get_sys_perms``: the fd's
  access mode, a ``BPF_F_RDONLY`` map, a frozen map) -> not taken, the syscall
  reports its ``EPERM`` itself;
* map types whose syscall path is not that function (per-CPU values, fd maps, queues,
  cgroup storage...) -> not taken: only ``HASH`` and ``ARRAY`` are;
* ``elem_flags``: only ``BPF_ANY``, ``BPF_NOEXIST``, ``BPF_EXIST`` (the program takes
  them as ``bpf_map_update_elem``'s flags; ``BPF_F_LOCK`` is not taken).

A map the verifier refuses (``BPF_F_RDONLY_PROG``, a value type it does not allow)
or a kernel without the features (5.17: ``bpf_loop``, sleepable syscall programs)
or without CAP_BPF fails :func:`open` and the caller uses the syscall.  Outside the
guarantee, as for any report: another process freezing the map or changing its
permissions while the run is applied.  Visible while it runs: one program
(``bpfm_apply``) and two arrays (``bpfm_apply_k``, ``bpfm_apply_v``).

For a hash map the program first looks up the next 8 keys every 8 elements (a lookup
changes nothing in a hash map): their cache misses overlap, and the updates find
bucket and element in the cache (200k replacements into a populated map: about 0.75x
the time).

The speculative variant (``spec=True``, :func:`spec_eligible`, :meth:`ProgApply.speculate`)
also writes, before each update, whether the key was present and its old value into
two more arrays (``bpfm_apply_u``, ``bpfm_apply_p``), so that what it applied can be
taken back exactly: it lets several threads apply one run with the serial result (see
``bpfm_papply_spec`` in ``_papply.h``).
"""

from __future__ import annotations

import errno as _errno

from ._cbuf import ptr
from ._ffi import ffi, lib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from .types import MapInfo

__all__ = [
    "CAP",
    "SPEC_SLOTS",
    "STORE_MAX",
    "ProgApply",
    "eligible",
    "open_for",
    "spec_eligible",
    "store_eligible",
]

# (the run lengths worth building it for: bpfmaps._kloops.PROG_MIN_ANY / PROG_MIN_FLAGS)
#: elements per program run: stop signals are seen between runs (~3 ms apart)
CAP = 8192
#: bytes of both arrays together at most (cap shrinks for big elements)
_ARRAY_BYTES = 1 << 20

_HASH, _ARRAY = 1, 2
_BPF_F_NO_PREALLOC = 1 << 0
_BPF_F_RDONLY = 1 << 3
_BPF_F_ZERO_SEED = 1 << 6
#: the most threads of a speculative apply (``BPFM_SPEC_SLOTS`` of _papply.h)
SPEC_SLOTS = 8
#: bpfm_papply_open's mode bits (``BPFM_PAPPLY_SPEC``, ``BPFM_PAPPLY_PREFETCH``): the
#: speculative variant; look keys up ahead of their updates (hash maps only: an
#: array's lookup is an address computation that touches nothing)
_MODE_SPEC, _MODE_PREFETCH = 1, 2
#: ``BPFM_PAPPLY_STORE``: store each value through an (inlined) array lookup instead of
#: calling bpf_map_update_elem (:func:`store_eligible`), values of at most
#: ``BPFM_STORE_MAX`` bytes
_MODE_STORE, STORE_MAX = 4, 256
_O_ACCMODE = 3
_O_RDONLY = 0
#: errno of open() that say "not on this kernel / not with these privileges": every
#: later run of the process skips the program (map-specific refusals are not cached)
_UNAVAILABLE: set[int] = set()


def _fd_state(fd: int) -> tuple[int, int]:
    """(open flags, frozen) of map fd ``fd`` from /proc/self/fdinfo; (-1, 1) when it
    cannot be read.  Cost: one small file read."""
    import os

    try:
        f = os.open(f"/proc/self/fdinfo/{fd}", os.O_RDONLY)
    except OSError:
        return -1, 1
    try:
        text = os.read(f, 4096).decode("ascii", "replace")
    finally:
        os.close(f)
    flags, frozen = -1, 1
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "flags":
            flags = int(value.strip(), 8)
        elif name == "frozen":
            frozen = int(value.strip())
    return flags, frozen


def eligible(fd: int, info: MapInfo, flags: int) -> bool:
    """True when a run of updates with ``flags`` into map ``fd`` (``info``) may be
    applied by the program with the syscall's result (see the module doc).  Cost: one
    read of the fd's fdinfo."""
    if (
        _UNAVAILABLE
        or info.raw_type not in (_HASH, _ARRAY)
        or flags not in (0, 1, 2)
        or info.flags & _BPF_F_RDONLY
        or not info.key_size
        or not info.value_size
    ):
        return False
    oflags, frozen = _fd_state(fd)
    return oflags >= 0 and (oflags & _O_ACCMODE) != _O_RDONLY and not frozen


def store_eligible(info: MapInfo, flags: int, spec: bool = False) -> bool:
    """True when the program may store values straight into the map's elements (the
    pointer of an array lookup, which the verifier inlines) instead of calling
    bpf_map_update_elem, with the same result: what ``array_map_update_elem`` does
    for a plain ``BPF_MAP_TYPE_ARRAY`` (not per-CPU) is an index check (``E2BIG``
    past the end) and a copy of ``value_size`` bytes (``copy_map_value``), which
    skips nothing and frees nothing when the value has no special fields (spin lock,
    timer, kptr, graph roots...: they come only from a BTF value type, so the map
    must have none).  ``BPF_ANY`` and ``BPF_EXIST`` only (every element of an array
    exists; ``BPF_NOEXIST`` keeps the update call and its ``EEXIST``), values of at
    most :data:`STORE_MAX` bytes (the copy is unrolled), not the speculative
    variant.  Write access is :func:`eligible`'s; a ``BPF_F_RDONLY_PROG`` map fails
    the load as the update call does.  No syscall; kernel floor 5.17 (the program's)."""
    return (
        info.raw_type == _ARRAY
        and flags in (0, 2)
        and not spec
        and not info.btf_value_type_id
        and not info.btf_vmlinux_value_type_id
        and info.key_size == 4
        and 0 < info.value_size <= STORE_MAX
    )


class ProgApply:
    """One built program for one map and flag (its fds and mapped arrays), closed by
    :meth:`close` or the ``with`` block.  Use :func:`open_for`.  ``store``: the
    program stores values itself (:func:`store_eligible`)."""

    __slots__ = ("_p", "store")

    def __init__(self, p: Any, store: bool = False) -> None:
        self._p = p
        self.store = store

    def part(
        self,
        keys: Any,
        values: Any,
        value_stride: int,
        start: int,
        count: int,
        stop: Any,
        slot: int = 0,
    ) -> tuple[int, int]:
        """Apply elements ``start..start+count-1`` in order through ``slot`` (one
        thread a slot at a time): ``(rc, applied)``, rc 0 or the -errno of element
        ``start + applied`` (-EINTR: a stop signal; -EPROTO: stopped without an
        element error).  ``stop`` (an ``int *`` shared by parts run at once): set by
        the part that fails, and a part that sees it set stops before its next
        program run.  Cost: ~0.3 us an element, one BPF_PROG_TEST_RUN per
        :data:`CAP` elements; GIL released."""
        applied = ffi.new("uint32_t *")
        rc = lib.bpfm_papply_part(
            self._p, slot, ptr(keys), ptr(values), value_stride, start, count, stop, applied
        )
        return rc, int(applied[0])

    def speculate(
        self, keys: Any, values: Any, value_stride: int, start: int, count: int
    ) -> tuple[int, int, list[int]]:
        """The speculative parallel apply of elements ``start..start+count-1`` (a
        program opened with ``spec=True``; ``_papply.h``'s ``bpfm_papply_spec``):
        ``(rc, applied, not_undone)``.  ``applied`` elements from ``start`` are
        applied, exactly the serial prefix; rc 0 (all), ``-EPROTO`` (a slot stopped
        early and the rest of its round was undone: apply the rest serially, which
        decides element ``start + applied``), ``-EINTR`` (a stop signal between
        rounds) or another -errno before anything was applied.
        ``not_undone``: indices after the prefix whose undo the map refused (only
        when another writer changes the map meanwhile): they stay applied.  Cost:
        ~0.13 us an element on a populated hash map with two threads (about 0.6x
        the serial program); GIL released."""
        applied = ffi.new("uint32_t *")
        undo = ffi.new("struct bpfm_spec_undo *")
        room = ffi.new("uint32_t[]", self._p.cap * self._p.slots)
        undo.idx = room
        rc = lib.bpfm_papply_spec(
            self._p, ptr(keys), ptr(values), value_stride, start, count, applied, undo
        )
        return rc, int(applied[0]), ffi.unpack(room, int(undo.failed))

    def close(self) -> None:
        """Close the program and its arrays (idempotent).  No map is touched."""
        lib.bpfm_papply_close(self._p)

    def __enter__(self) -> ProgApply:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spec_eligible(info: MapInfo, slots: int) -> bool:
    """True when the speculative parallel apply (:meth:`ProgApply.speculate`) gives
    the serial result for map ``info`` with ``slots`` threads: a HASH map (every
    update it applies can be taken back exactly: the old value written again, or
    the inserted key deleted; no eviction, unlike LRU maps), preallocated (a
    NO_PREALLOC map's full check counts approximately, per CPU) and without
    ZERO_SEED (there the order inside a bucket is deterministic and observable).
    Arrays gain nothing from it (measured: 2x slower than the serial program).  No
    syscall."""
    return (
        info.raw_type == _HASH
        and not info.flags & (_BPF_F_NO_PREALLOC | _BPF_F_ZERO_SEED)
        and 2 <= slots <= SPEC_SLOTS
    )


def open_for(
    fd: int, info: MapInfo, flags: int, cap: int = 0, slots: int = 1, spec: bool = False
) -> Optional[ProgApply]:
    """The program for runs of updates with ``flags`` into map ``fd``, or None when
    not :func:`eligible` or it cannot be built here (then use the syscall).  Cost:
    ~1.5-2 ms (two array maps, BTF and program loads; four with ``spec``).  ``cap``:
    elements a program run (default :data:`CAP`, fewer for big elements); ``slots``:
    parts that may run at once (threads); ``spec``: the variant that also records
    what each update replaced, for :meth:`ProgApply.speculate` (None unless
    :func:`spec_eligible`).  Kernel floor 5.17, CAP_BPF."""
    if not eligible(fd, info, flags) or (spec and not spec_eligible(info, slots)):
        return None
    ks, vs = _round8(info.key_size), _round8(info.value_size)
    # spec: keys, values, old values, present flags, twice the budget, per slot
    most = 2 * _ARRAY_BYTES // ((ks + 2 * vs + 8) * slots) if spec else _ARRAY_BYTES // (ks + vs)
    cap = max(1, min(cap or CAP, most))
    p = ffi.new("struct bpfm_papply *")
    mode = (_MODE_SPEC if spec else 0) | (_MODE_PREFETCH if info.raw_type == _HASH else 0)
    store = store_eligible(info, flags, spec)
    rc = lib.bpfm_papply_open(
        p, fd, info.key_size, info.value_size, cap, slots, flags, mode | _MODE_STORE * store
    )
    if rc < 0 and store:  # (the verifier refused the stores: the update call instead)
        store = False
        rc = lib.bpfm_papply_open(p, fd, info.key_size, info.value_size, cap, slots, flags, mode)
    if rc < 0:
        if -rc in (_errno.EPERM, _errno.ENOSYS) or (-rc == _errno.EINVAL and not _works()):
            _UNAVAILABLE.add(-rc)
        return None
    return ProgApply(p, store)


def _round8(n: int) -> int:
    return (n + 7) & ~7


def _works() -> bool:
    """Whether the program builds at all here (for a small hash map of our own): tells
    a kernel without the features from a map the verifier refused.  Cost: ~2 ms, once
    a process, only after a refusal."""
    import os

    mfd = lib.bpfm_map_create_btf(_HASH, 8, 8, 1, 0, b"bpfm_probe", -1, 0, 0, -1, 0, 0)
    if mfd < 0:
        return False
    try:
        p = ffi.new("struct bpfm_papply *")
        rc = lib.bpfm_papply_open(p, mfd, 8, 8, 1, 1, 0, 0)
        if rc == 0:
            lib.bpfm_papply_close(p)
        return rc == 0
    finally:
        os.close(mfd)
