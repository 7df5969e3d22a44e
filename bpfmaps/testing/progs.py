"""Programs in the fake kernel: a trivial PROG_LOAD (no verifier), ids, info, and
PROG_TEST_RUN through a Python model of the program (:meth:`ProgCommands.load_prog`).
Programs matter to maps as the values of prog arrays."""

from __future__ import annotations

import errno
import hashlib
from typing import Any, Callable, Optional

from ..errors import ENOTSUPP
from ..types import ProgInfo
from .fdtable import FdTable, obj_name
from .maps import FakeProg

__all__ = ["BPF_MAXINSNS", "MAX_PROG_TYPE", "ProgCommands"]

E2BIG, EBADF, EINVAL, ENOENT, ENOSPC = (
    errno.E2BIG,
    errno.EBADF,
    errno.EINVAL,
    errno.ENOENT,
    errno.ENOSPC,
)
BPF_MAXINSNS = 4096
#: prog types this fake accepts (BPF_PROG_TYPE_SOCKET_FILTER .. BPF_PROG_TYPE_NETFILTER)
MAX_PROG_TYPE = 32


class ProgCommands(FdTable):
    """PROG_LOAD, PROG_GET_FD_BY_ID/NEXT_ID, PROG info and PROG_TEST_RUN."""

    def load_prog(
        self,
        prog_type: int = 1,
        name: str = "",
        run: Optional[Callable[[bytes], Any]] = None,
    ) -> int:
        """Load a trivial program (``r0 = 0; exit``) and return its fd.

        ``run``: what :meth:`prog_test_run` (``Program.test_run``) executes instead
        of BPF instructions: ``run(data)`` returns the return value, or a
        ``(retval, data_out)`` pair.  It may read and write fake maps, as the
        modelled program would.  Without it test runs fail with ENOTSUPP."""
        insns = b"\xb7" + bytes(7) + b"\x95" + bytes(7)
        fd = self.prog_load(prog_type, insns, b"GPL", name.encode())
        if fd >= 0:
            obj = self._fds[fd].obj
            assert isinstance(obj, FakeProg)
            obj.run = run
        return fd

    def prog_load(self, prog_type: int, insns: bytes, license: bytes, name: bytes = b"") -> int:
        """Accept any non-empty instruction stream (no verifier): a program fd, or
        -EINVAL (empty/ragged stream, unknown type, bad name), -E2BIG (too long)."""
        rc = self._fault("prog_load")
        if rc:
            return rc
        if len(insns) % 8 or not insns:
            return -EINVAL
        if len(insns) // 8 > BPF_MAXINSNS:
            return -E2BIG
        if not 0 <= int(prog_type) <= MAX_PROG_TYPE:
            return -EINVAL
        rc, sname = obj_name(name)
        if rc:
            return rc
        p = FakeProg(next(self._prog_ids), int(prog_type), sname)
        # a stand-in for the kernel's tag (a hash of the instructions; not the same bytes)
        p.tag = hashlib.sha1(bytes(insns)).digest()[:8]
        self._progs[p.id] = p
        return self._install(p)

    def prog_get_fd_by_id(self, prog_id: int) -> int:
        """``BPF_PROG_GET_FD_BY_ID``: a new fd, -ENOENT, or -EINVAL for a bad id."""
        rc = self._fault("prog_get_fd_by_id")
        if rc:
            return rc
        if not 0 <= prog_id < 2**32:
            return -EINVAL
        p = self._progs.get(prog_id)
        if p is None:
            return -ENOENT
        return self._install(p)

    def prog_get_next_id(self, start_id: int) -> tuple[int, int]:
        """``BPF_PROG_GET_NEXT_ID``: (0, next id) or (-ENOENT, 0).  Cost: O(programs)."""
        rc = self._fault("prog_get_next_id")
        if rc:
            return rc, 0
        nxt = [i for i in self._progs if i > start_id]
        return (0, min(nxt)) if nxt else (-ENOENT, 0)

    def prog_info(self, fd: int) -> tuple[int, Optional[ProgInfo]]:
        """``BPF_OBJ_GET_INFO_BY_FD`` of a program: (0, info), -EBADFD, -EINVAL (no program)."""
        rc, f = self._file(fd)
        if rc or f is None:
            return -errno.EBADFD, None
        p = f.obj
        if not isinstance(p, FakeProg):
            return -EINVAL, None
        return 0, ProgInfo(id=p.id, type=p.type, name=p.name, tag=p.tag)

    def prog_test_run(
        self,
        fd: int,
        data: bytes,
        data_out_size: int,
        ctx: Optional[bytes] = None,
        ctx_out_size: int = 0,
        repeat: int = 1,
        flags: int = 0,
        cpu: int = 0,
    ) -> tuple[int, int, bytes, bytes, int]:
        """BPF_PROG_TEST_RUN through the program's ``run`` model (see :meth:`load_prog`):
        (rc, retval, data_out, ctx_out, duration_ns).  Cost: ``repeat`` model calls."""
        rc = self._fault("prog_test_run", fd=fd)
        if rc:
            return rc, 0, b"", b"", 0
        rc, f = self._file(fd)
        if rc or f is None or not isinstance(f.obj, FakeProg):
            return (-EBADF if rc else -EINVAL), 0, b"", b"", 0
        run = f.obj.run
        if run is None:
            return -ENOTSUPP, 0, b"", b"", 0  # no model to run
        out: Any = None
        for _ in range(max(1, repeat)):
            out = run(bytes(data))
        retval, dout = out if isinstance(out, tuple) else (out, bytes(data))
        if len(dout) > data_out_size:
            return -ENOSPC, int(retval), bytes(dout[:data_out_size]), b"", 0
        return 0, int(retval) & 0xFFFFFFFF, bytes(dout), bytes(ctx or b""), 0
