"""In-kernel exec of a batch file's update/delete/lookup segments (the kernel backend's,
``_pexec.c``).

The exec loop (``bpfm_exec_print``) issues one ``BPF_MAP_UPDATE_ELEM`` per
NOEXIST/EXIST line and one ``UPDATE_BATCH``/``DELETE_BATCH`` per short group; about a
quarter of a mixed file's time is the syscalls' own overhead (entry, ``copy_from_user``
and its usercopy checks, the key/value allocations, fd lookup).  A BPF program of type
``BPF_PROG_TYPE_SYSCALL``, run by ``BPF_PROG_TEST_RUN``, applies a SEGMENT of
consecutive update and delete ops (each with its own map among up to 4, its kind and
its flags) that the loop staged in three mmapped arrays (op codes, keys, values), in
order, stopping at the first op a map refuses, with that op's errno.  The loop sends
each such segment (at most :data:`CAP` ops) to one program run; getnext and pop, ops on
other maps and ops without a key end a segment and keep their path.  Lookups join the
segment on the maps the loop prints in C (``lookups``: plain output, values of at most
:data:`LOOKUP_MAX` bytes), as many as the loop's output buffer has room for: the program
looks the key up with ``bpf_map_lookup_elem`` and copies the value into the op's slot
of the values array; the loop prints them from there after the run.  A lookup that finds
nothing stops the run there as a refusal does (``-ENOENT``); the loop hands it back and
the runner runs it again, as it runs a failed lookup without the program.

When is the result the syscall's?  The per-op work is the same map function:
``bpf_map_update_elem`` (the helper) calls ``map->ops->map_update_elem`` with the op's
flags, as ``BPF_MAP_UPDATE_ELEM`` does through ``bpf_map_update_value`` for these map
types; ``bpf_map_delete_elem`` calls ``map->ops->map_delete_elem``, as
``BPF_MAP_DELETE_ELEM`` does.  So a refused op gets the errno the syscall gives
(``EEXIST``, ``ENOENT``, ``E2BIG`` for a full hash map or an array index out of range,
``EINVAL`` for an array delete), and the ops before it are applied, none after it.
What the syscalls check besides, and what is checked instead before the program is
built (:func:`bpfmaps._kprog.eligible`, per map): the fd's write permission, a frozen
map, ``BPF_F_RDONLY`` (not taken: the syscall reports its ``EPERM`` itself); map
types whose syscall path is not that function (only ``HASH`` and ``ARRAY`` are
taken; ``BPF_MAP_LOOKUP_ELEM`` on them is ``map_lookup_elem`` and a copy of the value,
which skips nothing for a value without special fields (the syscall zeroes a lock, a
timer, a kptr... in its copy; the program's copy would not): the loop lets lookups of a
map with BTF in only when its value type has none, ``BTF.has_special_fields``); flags: only 0/1/2 go to the program (``BPF_F_LOCK`` never).  Each op's fd must
be the fd the program was built with (else the op takes the syscall).  The map
pointers are constants, one pair of call sites per map: the program dispatches on the
op's map.  A map the verifier refuses or a kernel without the features (5.17) fails
:func:`open_for` and the syscalls are used.  A run that fails as a whole, or stops
without an op's error, marks the program broken: the loop applies the rest of that
segment, and all later ones, by syscall.  Outside the guarantee, as for any report:
another process freezing the map or changing its permissions during the run.  Visible
while it runs: one program (``bpfm_exec``) and three arrays (``bpfm_exec_o``,
``bpfm_exec_k``, ``bpfm_exec_v``), all closed when the run ends.
"""

from __future__ import annotations

from ._ffi import ffi, lib
from ._kprog import eligible

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Optional

    from .types import MapInfo

__all__ = ["CAP", "LOOKUP_MAX", "MAPS", "ExecProg", "count_ops", "open_for"]

#: ops per program run: stop signals are seen between runs
CAP = 8192
#: maps a program takes at most (the ops on others keep the syscall path)
MAPS = 4
#: the largest value a program looks up (its copy is unrolled; larger: the syscall)
LOOKUP_MAX = 256
#: bytes of the three arrays together at most (cap shrinks for big elements)
_ARRAY_BYTES = 1 << 20
_OP_STRIDE = 8


class ExecProg:
    """One built exec program (its fds and mapped arrays).  ``with prog:`` attaches it
    to the calling thread, so that thread's exec loop runs segments through it, and
    detaches and closes it at the end (also on an exception).  Use :func:`open_for`."""

    __slots__ = ("_p", "_prev", "tables")

    def __init__(self, p: Any, tables: list[int]) -> None:
        self._p = p
        self._prev: Any = ffi.NULL
        #: the plan's map indices the program takes
        self.tables = tables

    @property
    def runs(self) -> int:
        """Program runs so far.  No syscall."""
        return int(self._p.runs)

    @property
    def applied(self) -> int:
        """Ops applied by program runs so far.  No syscall."""
        return int(self._p.applied)

    @property
    def looked(self) -> int:
        """Lookups done by program runs so far (among :attr:`applied`).  No syscall."""
        return int(self._p.looked)

    @property
    def broken(self) -> bool:
        """True once a run failed as a whole (the loop then uses the syscalls)."""
        return bool(self._p.broken)

    def close(self) -> None:
        """Detach (if attached) and close the program and its arrays (idempotent).
        No map is touched."""
        lib.bpfm_pexec_close(self._p)

    def __enter__(self) -> ExecProg:
        self._prev = lib.bpfm_pexec_use(self._p)
        return self

    def __exit__(self, *exc: object) -> None:
        lib.bpfm_pexec_use(self._prev)
        self.close()


def count_ops(ops: Any, count: int, lookups: Optional[Sequence[bool]] = None) -> int:
    """The update/delete ops with a key among ``count`` packed op records (``ops``: a
    buffer of ``struct bpfm_op``), and the lookups on the plan maps ``m`` with
    ``lookups[m]``, that have such an op next to them (a single one between other ops
    keeps its syscall).  Cost: one C pass, no syscall."""
    if not count:
        return 0
    look = ffi.new("unsigned char[]", [bool(x) for x in lookups]) if lookups else ffi.NULL
    n_look = len(lookups) if lookups else 0
    return int(lib.bpfm_pexec_count(ffi.from_buffer("struct bpfm_op[]", ops), count, look, n_look))


def open_for(
    fds: Sequence[int],
    infos: Sequence[Optional[MapInfo]],
    lookups: Optional[Sequence[bool]] = None,
) -> Optional[ExecProg]:
    """The exec program for the maps of a plan's table (``fds[i]``, ``infos[i]``:
    map index i; None or a negative fd: not taken): the first :data:`MAPS` maps that
    are :func:`bpfmaps._kprog.eligible`, or None when none is or it cannot be built
    here (then the syscalls are used); with ``lookups[i]`` (the exec loop prints map
    i's lookups: plain output) it looks up map i's keys too, when its values are at
    most :data:`LOOKUP_MAX` bytes.  Cost: ~1.5-2 ms (three array maps, BTF and
    program loads).  Kernel floor 5.17, CAP_BPF."""
    sel: list[tuple[int, int, MapInfo]] = []
    for i, (fd, info) in enumerate(zip(fds, infos)):
        if len(sel) < MAPS and info is not None and fd >= 0 and eligible(fd, info, 0):
            sel.append((i, fd, info))
    if not sel:
        return None
    big = max(max(info.key_size, info.value_size) for _, _, info in sel)
    esize = (big + 7) & ~7
    cap = max(1, min(CAP, _ARRAY_BYTES // (2 * esize + _OP_STRIDE)))
    look = [bool(lookups and i < len(lookups) and lookups[i]) for i, _, _ in sel]
    p = ffi.new("struct bpfm_pexec *")
    args = (
        p,
        len(sel),
        ffi.new("uint32_t[]", [i for i, _, _ in sel]),
        ffi.new("int[]", [fd for _, fd, _ in sel]),
        ffi.new("uint32_t[]", [info.key_size for _, _, info in sel]),
        ffi.new("uint32_t[]", [info.value_size for _, _, info in sel]),
    )
    rc = lib.bpfm_pexec_open(*args, ffi.new("uint32_t[]", look), cap)
    if rc < 0 and any(look):
        # a map the program may write but not read (BPF_F_WRONLY_PROG): the verifier
        # refuses the lookups' copy; the updates and deletes can still go in it
        rc = lib.bpfm_pexec_open(*args, ffi.NULL, cap)
    if rc < 0:
        return None
    return ExecProg(p, [i for i, _, _ in sel])
