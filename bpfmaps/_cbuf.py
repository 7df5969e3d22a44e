"""Python buffers as C pointers for the shim's functions (the one place that decides
how a buffer crosses into C).  No syscall; ``ffi.from_buffer`` costs about 0.2 us."""

from __future__ import annotations

from ._ffi import ffi

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._ffi import CData  # the stub's name for a cdata
else:
    # at run time cffi's type: modules import CData from here, so that their annotations
    # resolve (API docs) without running a TYPE_CHECKING import of the stub-only name
    CData = ffi.CData

__all__ = ["CData", "ptr", "wptr"]

_NULL = ffi.NULL
_CDATA = ffi.CData
_from_buffer = ffi.from_buffer


def ptr(buf: Any) -> bytes | CData:
    """A ``const char *`` for ``buf``: None is NULL, bytes and cdata pass through, other
    buffer-protocol objects (bytearray, memoryview, array, numpy) are wrapped without a
    copy.  TypeError for an object without the buffer protocol."""
    if buf is None:
        return _NULL
    if isinstance(buf, (bytes, _CDATA)):
        return buf
    return _from_buffer("char[]", buf, require_writable=False)


def wptr(buf: Any) -> CData:
    """A ``char *`` the C side writes through: None is NULL, cdata passes through, other
    buffers must be writable (TypeError for bytes or a read-only buffer)."""
    if buf is None:
        return _NULL
    if isinstance(buf, _CDATA):
        return buf
    return _from_buffer("char[]", buf, require_writable=True)
