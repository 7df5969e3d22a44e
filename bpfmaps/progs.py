"""A minimal BPF program handle: enough to fill prog arrays and read their ids.

bpfmaps manages maps; loading real programs is libbpf's job.  ``Program`` opens an
existing program by id or fd, and :meth:`Program.load_trivial` loads a two-instruction
program (``r0 = 0; exit``) for tests and examples.
"""

from __future__ import annotations

import errno as _errno
from typing import Any, Optional

from ._fd import OwnedFd
from .backend import Backend, ProgInfo, default_backend
from .errors import error_from_errno

__all__ = ["Program", "ProgType"]


class ProgType:
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6


# r0 = 0 (BPF_ALU64 | BPF_MOV | BPF_K); exit (BPF_JMP | BPF_EXIT)
_TRIVIAL = bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])


class Program:
    """Owns one program fd.  ``close()`` is idempotent; usable as a context manager."""

    def __init__(self, backend: Backend, fd: int) -> None:
        rc, info = backend.prog_info(fd)
        if rc < 0:
            backend.close(fd)
            raise error_from_errno(-rc, "prog_info")
        self._owned = OwnedFd(backend, fd, f"BPF program id {info.id}")
        self.info: ProgInfo = info

    @classmethod
    def from_id(cls, prog_id: int, *, backend: Optional[Backend] = None) -> Program:
        be = backend or default_backend()
        fd = be.prog_get_fd_by_id(int(prog_id))
        if fd < 0:
            raise error_from_errno(
                -fd,
                "open_by_id",
                map=f"program id {prog_id}",
                hint="no program with this id" if fd == -_errno.ENOENT else None,
            )
        return cls(be, fd)

    @classmethod
    def from_fd(cls, fd: int, *, backend: Optional[Backend] = None) -> Program:
        be = backend or default_backend()
        dup = be.dup(int(fd))
        if dup < 0:
            raise error_from_errno(-dup, "dup")
        return cls(be, dup)

    @classmethod
    def load(
        cls,
        prog_type: int,
        insns: bytes,
        license: str = "GPL",
        name: str = "",
        *,
        backend: Optional[Backend] = None,
    ) -> Program:
        """BPF_PROG_LOAD from raw 8-byte instructions."""
        be = backend or default_backend()
        fd = be.prog_load(prog_type, bytes(insns), license.encode() + b"\0", name.encode())
        if fd < 0:
            raise error_from_errno(-fd, "prog_load", map=f"program {name!r}")
        return cls(be, fd)

    @classmethod
    def load_trivial(
        cls,
        prog_type: int = ProgType.SOCKET_FILTER,
        name: str = "bpfmaps_nop",
        *,
        backend: Optional[Backend] = None,
    ) -> Program:
        """Load ``r0 = 0; exit``: a valid program to put into prog arrays."""
        return cls.load(prog_type, _TRIVIAL, "GPL", name, backend=backend)

    @property
    def id(self) -> int:
        return self.info.id

    @property
    def closed(self) -> bool:
        return self._owned.closed

    def fileno(self) -> int:
        if self._owned.closed:
            raise ValueError("program is closed")
        return self._owned.fd

    def close(self) -> None:
        self._owned.close()

    def __enter__(self) -> Program:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Program id={self.info.id} name={self.info.name!r} type={self.info.type}>"
