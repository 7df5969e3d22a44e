"""Ownership of one file descriptor issued by a backend."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["OwnedFd"]


class OwnedFd:
    """Owns exactly one fd of ``backend``; closes it once.

    BPF fds are created O_CLOEXEC by the kernel (and dups use F_DUPFD_CLOEXEC), so
    they never leak into child processes.  ``close()`` is idempotent; an OwnedFd
    collected while still open closes its fd and emits a ResourceWarning.
    """

    __slots__ = ("fd", "backend", "what", "__weakref__")

    #: the fd, -1 once closed or detached
    fd: int
    #: the backend that issued the fd (and closes it)
    backend: Backend
    #: what the fd is, for the ResourceWarning (``"BPF map id 12 'm'"``)
    what: str

    def __init__(self, backend: Backend, fd: int, what: str = "bpf object") -> None:
        if fd < 0:
            raise ValueError(f"invalid fd {fd}")
        self.backend = backend
        self.fd = fd
        self.what = what

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            self.backend.close(fd)

    def detach(self) -> int:
        """Give up ownership and return the fd (the caller must close it)."""
        fd, self.fd = self.fd, -1
        return fd

    def __del__(self) -> None:
        if getattr(self, "fd", -1) >= 0:
            try:
                warnings.warn(
                    f"unclosed {self.what} (fd {self.fd}); use close() or a with-block",
                    ResourceWarning,
                    stacklevel=2,
                )
            finally:
                self.close()

    def __repr__(self) -> str:
        return f"<OwnedFd {self.fd if self.fd >= 0 else 'closed'} {self.what}>"
