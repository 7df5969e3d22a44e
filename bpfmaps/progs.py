"""A minimal BPF program handle: fill prog arrays, read ids, and test-run programs.

bpfmaps manages maps; loading real programs is libbpf's (or bpftool's) job.
``Program`` opens an existing program by id, pin or fd (loaded by anyone), runs it
on a packet with :meth:`Program.test_run` (BPF_PROG_TEST_RUN), and
:meth:`Program.load_trivial` loads a two-instruction program (``r0 = 0; exit``)
for tests and examples.  See docs/program-test-runs.md.
"""

from __future__ import annotations

import enum
import errno as _errno
from typing import Any, NamedTuple, Optional

from ._fd import OwnedFd
from .backend import Backend, default_backend
from .errors import ENOTSUPP, error_from_errno
from .types import ProgInfo

__all__ = ["Program", "ProgType", "TestRunResult", "XdpAction"]


class ProgType:
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6


class XdpAction(enum.IntEnum):
    """XDP verdicts (``enum xdp_action``): what an XDP program's return value means."""

    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4


class TestRunResult(NamedTuple):
    """What one BPF_PROG_TEST_RUN returned.

    ``retval``: the program's return value (for XDP an :class:`XdpAction` when it
    names one); ``data``: the packet after the run (programs may rewrite or resize
    it); ``duration_ns``: the kernel's average time per run over ``repeat`` runs
    (0 on the fake); ``ctx``: the context after the run (b"" unless ``ctx`` given)."""

    retval: int
    data: bytes
    duration_ns: int
    ctx: bytes = b""


setattr(TestRunResult, "__test__", False)  # noqa: B010 - not a pytest test class (no NamedTuple field)


# r0 = 0 (BPF_ALU64 | BPF_MOV | BPF_K); exit (BPF_JMP | BPF_EXIT)
_TRIVIAL = bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])


class Program:
    """Owns one program fd.  ``close()`` is idempotent; usable as a context manager."""

    def __init__(self, backend: Backend, fd: int) -> None:
        rc, info = backend.prog_info(fd)
        if rc < 0:
            backend.close(fd)
            raise error_from_errno(-rc, "prog_info")
        assert info is not None  # rc 0 always carries the info
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
    def from_pin(cls, path: str, *, backend: Optional[Backend] = None) -> Program:
        """Open a program pinned on bpffs (BPF_OBJ_GET), e.g. by ``bpftool prog load``.

        One syscall plus one OBJ_GET_INFO_BY_FD.  Raises PinNotFoundError-style
        BPFError (ENOENT) for a missing pin, InvalidArgumentError when the pin holds a
        map or another object, PermissionDeniedError without CAP_BPF.  Kernel 4.4."""
        be = backend or default_backend()
        fd = be.obj_get(str(path), 0)
        if fd < 0:
            raise error_from_errno(
                -fd,
                "obj_get",
                map=f"program pin {path!r}",
                hint="no pin at this path" if fd == -_errno.ENOENT else None,
            )
        rc, info = be.prog_info(fd)
        if rc < 0:
            be.close(fd)
            raise error_from_errno(
                -rc,
                "open_pinned",
                map=f"pin {path!r}",
                hint="the pinned object is not a BPF program" if rc == -_errno.EINVAL else None,
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

    def test_run(
        self,
        data: bytes = b"",
        repeat: int = 1,
        ctx: Optional[bytes] = None,
        *,
        data_out_size: Optional[int] = None,
        flags: int = 0,
        cpu: int = 0,
    ) -> TestRunResult:
        """Run the program in the kernel on ``data`` (a packet for XDP/tc/socket
        filters) ``repeat`` times (BPF_PROG_TEST_RUN) and return its return value,
        the output packet and the average duration.

        The program really runs: it reads and writes its maps as it would on a live
        packet, so a control plane's tests can check that the entries they write
        drive the verdict.  ``ctx``: the context struct (e.g. ``struct xdp_md``
        with an ingress ifindex), kernel >= 5.2 for XDP contexts.  Output larger
        than ``data_out_size`` (default ``len(data) + 256``) is retried once with
        the size the kernel reports.  Cost: one syscall (the kernel loops
        ``repeat`` times).  Raises InvalidArgumentError for data the program type
        refuses (e.g. XDP needs at least an Ethernet header), BPFError with
        ENOTSUPP (524) for program types without test runs.  Kernel floor 4.12."""
        fd = self.fileno()
        data = bytes(data)
        if ctx is not None:
            ctx = bytes(ctx)
        if repeat < 0 or repeat >= 2**32:
            raise ValueError(f"repeat must be in 0..2**32-1, not {repeat}")
        size = data_out_size if data_out_size is not None else len(data) + 256
        ctx_size = len(ctx) if ctx else 0
        be = self._owned.backend
        for _attempt in range(2):
            rc, retval, out, cout, dur = be.prog_test_run(
                fd, data, size, ctx, ctx_size, repeat, flags, cpu
            )
            if rc == -_errno.ENOSPC and _attempt == 0 and data_out_size is None:
                size = max(size * 2, len(out) + 4096)
                continue
            break
        if rc < 0:
            raise error_from_errno(
                -rc,
                "prog_test_run",
                map=f"program id {self.info.id} ({self.info.name!r})",
                hint=(
                    "this program type has no test runs on this kernel (or the fake "
                    "program has no run model: FakeKernel.load_prog(run=...))"
                    if rc == -ENOTSUPP
                    else "the kernel refused this input for the program type "
                    "(XDP and tc need at least a 14-byte Ethernet header)"
                    if rc == -_errno.EINVAL
                    else None
                ),
            )
        if self.info.type == ProgType.XDP:
            try:
                retval = XdpAction(retval)
            except ValueError:
                pass
        return TestRunResult(retval, out, dur, cout)

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
