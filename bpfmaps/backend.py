"""The Backend protocol: a table of bpf(2) commands over raw bytes.

Everything above this layer (``Map``, batches, the bpftool runner) talks to a
Backend, never to the syscall directly.  Two implementations exist:

* :class:`bpfmaps.kernel.KernelBackend`: the real ``bpf(2)`` through the cffi shim
  (it and the bpftool C scanner are the only importers of the compiled extension);
* :class:`bpfmaps.testing.FakeKernel`: an in-memory kernel with the same
  semantics, errnos and counts, for tests without root.

Conventions (identical for both, so upper layers need no special cases):

* File descriptors are ints owned by the backend that issued them.  A fake
  backend's fds mean nothing to the real kernel and vice versa.
* Every method returns ``0``/a new fd/a count on success and ``-errno`` on
  failure, exactly like the C shim: the error is the call's own result, never a
  global.  Methods that also produce a value return a tuple whose first item is
  that rc.
* Input keys and values are ``bytes`` of exactly the map's key size / value
  buffer size.  ``backend.NULL`` stands for a NULL pointer (e.g. the key of a
  queue); the kernel backend's is ``ffi.NULL``, the fake's is ``None``.
  Upper layers check sizes *before* calling: the kernel reads exactly that many
  bytes from the pointer.
* Output buffers come from :meth:`Backend.alloc` (or any writable object that
  supports the buffer protocol) and are read back with :meth:`Backend.tobytes`.
* Batch inputs are any buffer-protocol objects (bytes, bytearray, memoryview,
  array, numpy arrays) holding ``count`` packed elements.

The protocol is bpf(2) commands only.  The loops bpfmaps builds from them
(per-element loops, GET_NEXT_KEY walks, parallel UPDATE_BATCH, the bpftool
executor's op stream) live in :mod:`bpfmaps.loops`: C for the kernel backend,
generic Python for any other.
"""

from __future__ import annotations

from .types import MapInfo  # re-exported (it lived here; ProgInfo, BTFInfo too: _lazy)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextvars import ContextVar

    from ._backend_protocol import Backend, PerfReader, RingReader
    from ._objinfo import BTFInfo, ProgInfo

__all__ = [
    "BTFInfo",
    "Backend",
    "MapInfo",
    "PerfReader",
    "ProgInfo",
    "RingReader",
    "default_backend",
    "kernel_backend",
    "use_backend",
]

#: the Protocol classes, loaded on first access (PEP 562): they need typing at run time
_PROTOCOLS = frozenset({"Backend", "PerfReader", "RingReader"})


def _lazy(name: str) -> object:
    if name in _PROTOCOLS:
        import bpfmaps._backend_protocol as _backend_protocol  # not `from . import`: no edge to the package root

        value = globals()[name] = getattr(_backend_protocol, name)
        return value
    if name in ("ProgInfo", "BTFInfo"):  # start-up: built on first use
        from ._objinfo import BTFInfo, ProgInfo

        value = globals()[name] = BTFInfo if name == "BTFInfo" else ProgInfo
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _PROTOCOLS | {"ProgInfo", "BTFInfo"})


if not TYPE_CHECKING:  # (hidden from type checkers: they see the names imported above)
    __getattr__ = _lazy


#: the context variable of use_backend, made by its first use (contextvars is not
#: loaded at start-up); a dict so that two threads' first uses make one variable
_context: dict[str, ContextVar[Backend | None]] = {}
_kernel: Backend | None = None


def kernel_backend() -> Backend:
    """The process-wide real-kernel backend (imports the compiled extension;
    :func:`bpfmaps.kernel.shared`).  Cost: O(1) after the first call."""
    global _kernel
    if _kernel is None:
        from .kernel import shared

        _kernel = shared()
    return _kernel


def default_backend() -> Backend:
    """The backend used when none is given: the active fake kernel, else the real one."""
    cv = _context.get("current")
    b = cv.get() if cv is not None else None
    return b if b is not None else kernel_backend()


class BackendContext:
    """What :func:`use_backend` returns: a context manager (``with``) whose block uses
    ``backend`` as the default; it may be entered more than once, not re-entered
    while active."""

    __slots__ = ("backend", "_token")

    def __init__(self, backend: Backend) -> None:
        self.backend: Backend = backend
        self._token: object = None

    def __enter__(self) -> Backend:
        cv = _context.get("current")
        if cv is None:
            from contextvars import ContextVar

            cv = _context.setdefault("current", ContextVar("bpfmaps_backend", default=None))
        self._token = cv.set(self.backend)
        return self.backend

    def __exit__(self, *exc: object) -> None:
        token, self._token = self._token, None
        _context["current"].reset(token)  # type: ignore[arg-type]


def use_backend(backend: Backend) -> BackendContext:
    """Make ``backend`` the default for ``Map.from_id``/``from_pin``/... in the block of
    a ``with`` statement (``with use_backend(fake) as be:``).  Cost: O(1)."""
    return BackendContext(backend)
