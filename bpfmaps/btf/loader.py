"""Load BTF from where it lives: a map, a kernel BTF id, a raw file, an ELF object.

:func:`load` dispatches on its argument:

* a :class:`bpfmaps.Map` (or anything with ``.info.btf_id`` and ``.backend``) ->
  the map's BTF (:func:`load_map`);
* an ``int`` -> the kernel BTF object with that id (:func:`load_id`);
* a path (``str``/``os.PathLike``) -> a raw BTF file or the ``.BTF`` section of an
  ELF object, told apart by the magic (:func:`load_file`);
* ``bytes`` -> a raw blob or an ELF image.

Module BTF (``/sys/kernel/btf/<module>`` or a kernel BTF id whose ``kernel_btf`` name
is not ``vmlinux``) is split BTF: it is parsed over :func:`vmlinux` unless another
``base`` is given.  Kernel floor for ids: 5.4 (BTF_GET_FD_BY_ID, BTF info).
"""

from __future__ import annotations

import os

from ..errors import error_from_errno
from .model import BTF, BTFError
from .parse import elf_btf_section, parse

TYPE_CHECKING = False
if TYPE_CHECKING:  # (annotations only: importing the loaders loads no typing)
    from typing import Any, Optional, Union

__all__ = ["load", "load_file", "load_id", "load_map", "load_bytes", "vmlinux", "VMLINUX_PATH"]

VMLINUX_PATH = "/sys/kernel/btf/vmlinux"
_SYSFS = "/sys/kernel/btf/"


#: vmlinux BTF parsed, by (path, mtime): the last ``_VMLINUX_KEEP`` kept
_vmlinux_cache: dict[tuple[str, float], BTF] = {}
_VMLINUX_KEEP = 4


def _vmlinux(path: str, mtime: float) -> BTF:
    btf = _vmlinux_cache.get((path, mtime))
    if btf is None:
        btf = load_file(path, base=None)
        # (two threads at once may both parse it: each gets a whole BTF)
        while len(_vmlinux_cache) >= _VMLINUX_KEEP:
            _vmlinux_cache.pop(next(iter(_vmlinux_cache)), None)
        btf = _vmlinux_cache.setdefault((path, mtime), btf)
    return btf


def vmlinux(path: str = VMLINUX_PATH) -> BTF:
    """The running kernel's BTF, parsed once and cached (about 0.3 s the first time).

    Errors: BTFError when the file is missing or bad (kernel without CONFIG_DEBUG_INFO_BTF)."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise BTFError(f"cannot read kernel BTF: {exc.strerror}", source=path) from None
    return _vmlinux(path, mtime)


def load_bytes(data: bytes, base: Optional[BTF] = None, *, source: str = "<bytes>") -> BTF:
    """Parse raw BTF or an ELF image's ``.BTF`` section.  O(len(data)); BTFError."""
    data = bytes(data)
    if data[:4] == b"\x7fELF":
        data = elf_btf_section(data, source=source)
    return parse(data, base, source=source)


def load_file(path: Union[str, os.PathLike[str]], base: Optional[BTF] = None) -> BTF:
    """A raw BTF file or an ELF object's ``.BTF``; sysfs module BTF gets vmlinux as base.

    Cost: one read + O(size) parse.  Errors: BTFError (unreadable file, bad BTF)."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BTFError(f"cannot read: {exc.strerror}", source=p) from None
    if base is None and data[:4] != b"\x7fELF":
        real = os.path.realpath(p)
        if real.startswith(_SYSFS) and real != os.path.realpath(VMLINUX_PATH):
            base = vmlinux()
    return load_bytes(data, base, source=p)


def load_id(btf_id: int, *, backend: Any = None, base: Optional[BTF] = None) -> BTF:
    """The kernel BTF object ``btf_id`` (BTF_GET_FD_BY_ID + OBJ_GET_INFO_BY_FD).

    Cost: 3 syscalls + parse.  Errors: BPFError (no such id: errno ENOENT; EPERM
    without CAP_SYS_ADMIN), BTFError (bad blob).  Kernel >= 5.4."""
    if backend is None:
        from ..backend import default_backend

        backend = default_backend()
    fd = backend.btf_get_fd_by_id(int(btf_id))
    if fd < 0:
        raise error_from_errno(
            -fd,
            "btf_get_fd_by_id",
            detail=f"BTF id {btf_id}",
            hint="no BTF object with this id" if -fd == 2 else None,
        )
    try:
        rc, info = backend.btf_info(fd)
    finally:
        backend.close(fd)
    if rc < 0 or info is None:
        raise error_from_errno(-rc, "btf_info", detail=f"BTF id {btf_id}")
    if base is None and info.kernel_btf and info.name and info.name != "vmlinux":
        base = vmlinux()
    src = f"btf id {btf_id}" + (f" ({info.name})" if info.name else "")
    return parse(info.data, base, source=src)


def load_map(m: Any, base: Optional[BTF] = None) -> BTF:
    """The BTF of an open :class:`bpfmaps.Map` (``info.btf_id``).

    Errors: BTFError naming the map when it has no BTF; as :func:`load_id` otherwise."""
    info = m.info
    if not info.btf_id:
        raise BTFError(f"map {info.describe()} has no BTF (created without type information)")
    return load_id(info.btf_id, backend=m.backend, base=base)


def load(source: Any, *, base: Optional[BTF] = None, backend: Any = None) -> BTF:
    """BTF from a Map, a BTF id (int), a path (raw BTF or ELF) or bytes (see module doc).

    Cost/errors: those of :func:`load_map`, :func:`load_id`, :func:`load_file`."""
    if isinstance(source, BTF):
        return source
    if isinstance(source, bool):
        raise TypeError("load() wants a Map, a BTF id, a path or bytes, not bool")
    if isinstance(source, int):
        return load_id(source, backend=backend, base=base)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return load_bytes(bytes(source), base)
    if isinstance(source, (str, os.PathLike)):
        return load_file(source, base)
    if hasattr(source, "info") and hasattr(source, "backend"):
        return load_map(source, base)
    raise TypeError(f"load() wants a Map, a BTF id, a path or bytes, not {type(source).__name__}")
