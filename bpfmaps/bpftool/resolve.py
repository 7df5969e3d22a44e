"""Map handles of a batch file: each map opened once, with bpftool's messages.

:class:`MapResolver` turns ``id``/``pinned``/``name`` handles into :class:`MapRef`
records (the handle, the map's info, the fd the runner owns, the per-CPU value buffer
size); ``pinned`` paths declared by an earlier ``map create``/``map pin`` of the same
file resolve to that map.  Failures are :class:`~bpfmaps.errors.ParseError` worded
like bpftool (``get map by id (N): ...``, ``bpf obj get (PATH): ...``).  The resolver
owns every fd it opened and closes them in :meth:`MapResolver.close`.
"""

from __future__ import annotations

import errno as _errno
import os

from ..engine import FdTarget
from ..errors import ParseError, strerror
from ..types import PERCPU_INTS, MapInfo, round_up8
from ._safety import PRIV_HINT
from .handle import Command, Handle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from ..backend import Backend

__all__ = ["MapRef", "MapResolver", "Undeclared", "obj_get_message", "priv_hint", "fs_path"]


class MapRef:
    """One map used by a batch: its handle, info and the fd the runner opened.

    ``type``/``key_size``/``value_size`` are what the grammar needs; ``fd`` is -1
    for a map that a ``map create`` earlier in the file will create."""

    __slots__ = ("backend", "handle", "info", "fd", "path", "value_buf_size", "_target")
    backend: Backend
    handle: Handle
    info: MapInfo
    fd: int
    path: str | None
    value_buf_size: int

    def __init__(
        self, backend: Backend, handle: Handle, info: MapInfo, fd: int, path: str | None = None
    ) -> None:
        self.backend = backend
        self.handle = handle
        self.info = info
        self.fd = fd
        self.path = path
        self._target: Optional[FdTarget] = None
        percpu = info.raw_type in PERCPU_INTS
        ncpus = backend.possible_cpus() if percpu else 1
        self.value_buf_size = (
            round_up8(info.value_size) * ncpus if ncpus > 1 or percpu else info.value_size
        )

    @property
    def type(self) -> int:
        """The map type number (what the grammar and plan need), as the record keeps
        it (:attr:`~bpfmaps.types.MapInfo.raw_type`: no enum is built)."""
        return self.info.raw_type

    @property
    def key_size(self) -> int:
        return self.info.key_size

    @property
    def value_size(self) -> int:
        return self.info.value_size

    def describe(self) -> str:
        """``id N (name)`` once the map exists, else its handle."""
        if self.info.id:
            return self.info.describe()
        return str(self.handle)

    def ensure_fd(self) -> int:
        """The fd, opened now (OBJ_GET of ``path``) for a map a ``map create`` earlier
        in the file made; OSError when that fails.  Cost: at most one syscall."""
        if self.fd < 0 and self.path is not None:
            fd = self.backend.obj_get(self.path, 0)
            if fd < 0:
                raise OSError(-fd, f"bpf obj get ({self.path}): {strerror(-fd)}")
            self.fd = fd
        return self.fd

    def target(self) -> FdTarget:
        """The batch engine's view of this map (:class:`bpfmaps.engine.FdTarget`)."""
        t = self._target
        if t is None or t.fd != self.fd or t.info is not self.info:
            t = self._target = FdTarget(self.backend, self.fd, self.info, self.value_buf_size)
        return t

    def __repr__(self) -> str:
        return f"MapRef({self.handle}, fd={self.fd})"


def priv_hint(err: int) -> Optional[str]:
    """The hint added to a failure with errno ``err`` (EPERM: the capability), or None."""
    if err == _errno.EPERM:
        return PRIV_HINT
    return None


def _c_dirname(path: str) -> str:
    """glibc ``dirname(3)``."""
    p = path.rstrip("/")
    if not p:
        return "/" if path else "."
    i = p.rfind("/")
    if i < 0:
        return "."
    d = p[:i].rstrip("/")
    return d or "/"


def obj_get_message(backend: Backend, word: str, err: int) -> str:
    """bpftool's ``open_obj_pinned`` message for a failed OBJ_GET of ``word``.  On
    EACCES bpftool prints the directory (its ``dirname()`` rewrote the buffer), and
    says when that directory is not on a bpffs."""
    from .bytes import _show  # start-up: failures only

    shown = _show(word)
    if err == _errno.EACCES:
        d = _c_dirname(shown)
        text = (
            strerror(err)
            if backend.is_bpffs(fs_path(_c_dirname(word)))
            else "directory not in bpf file system (bpffs)"
        )
        return f"bpf obj get ({d}): {text}"
    return f"bpf obj get ({shown}): {strerror(err)}"


def fs_path(text: str) -> str:
    """A latin-1 word (file bytes) as a filesystem path str."""
    return os.fsdecode(text.encode("latin-1"))


class MapResolver:
    """Resolves MAP handles to :class:`MapRef` objects, opening each map once.

    Errors are ParseError with bpftool's wording (``get map by id (N): ...``,
    ``bpf obj get (PATH): ...``, ``several maps match this handle``); a name that
    matches nothing is an error here (bpftool fails silently).  ``close()`` closes
    every fd it opened."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.cache: dict[Any, MapRef] = {}
        self.multi: dict[Any, list[MapRef]] = {}
        self.declared: dict[str, MapRef] = {}
        self.refs: list[MapRef] = []

    def _ref(self, handle: Handle, fd: int, path: str | None = None) -> MapRef:
        try:
            rc, info = self.backend.map_info(fd)
        except BaseException:  # never leak the fd, whatever happens
            self.backend.close(fd)
            raise
        if rc < 0 or info is None:
            self.backend.close(fd)
            if path is not None and rc == -_errno.EINVAL:
                raise ParseError("incorrect object type: prog")
            raise ParseError(f"can't get map info: {strerror(-rc)}")
        ref = MapRef(self.backend, handle, info, fd)
        self.refs.append(ref)
        return ref

    def _by_name(self, name: str) -> list[MapRef]:
        b = self.backend
        out = []
        cur = 0
        want = name.encode("latin-1")
        while True:
            rc, nxt = b.map_get_next_id(cur)
            if rc < 0 or nxt <= cur:  # ids only grow: bounded
                break
            cur = nxt
            fd = b.map_get_fd_by_id(nxt, 0)
            if fd < 0:
                continue
            try:
                rc, info = b.map_info(fd)
            except BaseException:
                b.close(fd)
                raise
            if rc < 0 or info is None or info.name.encode("utf-8", "surrogateescape") != want:
                b.close(fd)
                continue
            ref = MapRef(b, Handle("name", name), info, fd)
            self.refs.append(ref)
            out.append(ref)
        return out

    def resolve_all(self, handle: Handle) -> list[MapRef]:
        """Every map ``handle`` matches (several for a ``name``), each opened once;
        ParseError when none does.  Cost: a walk over all map ids for a name."""
        if handle.kind != "name":
            return [self(handle)]
        if handle in self.multi:
            return self.multi[handle]
        refs = self._by_name(handle.value)
        if not refs:
            from .bytes import _show  # start-up: failures only

            raise ParseError(
                f"no map named '{_show(handle.value)}' (bpftool fails silently)",
                bpftool_silent=True,
            )
        self.multi[handle] = refs
        return refs

    def __call__(self, handle: Handle) -> MapRef:
        """The one map of ``handle`` (cached); ParseError with bpftool's message when it
        cannot be opened or a name matches several.  Cost: one or two syscalls."""
        ref = self.cache.get(handle)
        if ref is not None:
            return ref
        b = self.backend
        if handle.kind == "id":
            fd = b.map_get_fd_by_id(handle.value, 0)
            if fd < 0:
                raise ParseError(
                    f"get map by id ({handle.value}): {strerror(-fd)}",
                    bpftool_hint=priv_hint(-fd),
                )
            ref = self._ref(handle, fd)
        elif handle.kind == "pinned":
            path = fs_path(handle.value)
            if handle.value in self.declared:
                ref = self.declared[handle.value]
            else:
                fd = b.obj_get(path, 0)
                if fd < 0:
                    raise ParseError(obj_get_message(b, handle.value, -fd))
                ref = self._ref(handle, fd, path)
        else:
            refs = self.resolve_all(handle)
            if len(refs) > 1:
                raise ParseError("several maps match this handle")
            ref = refs[0]
        self.cache[handle] = ref
        return ref

    def declare(self, cmd: Command) -> None:
        """Remember maps created/pinned earlier in the file for later ``pinned`` handles."""
        from .parsed import Create, Pin  # (loaded with the grammar: the only caller)

        if isinstance(cmd, Create):
            info = MapInfo.make(
                cmd.type,
                id=0,
                key_size=cmd.key_size,
                value_size=cmd.value_size,
                max_entries=cmd.max_entries,
                flags=cmd.flags,
                name=cmd.name[:15],
            )
            ref = MapRef(self.backend, Handle("pinned", cmd.path), info, -1, fs_path(cmd.path))
            self.refs.append(ref)
            self.declared[cmd.path] = ref
        elif isinstance(cmd, Pin):
            self.declared[cmd.path] = cmd.map

    def close(self) -> None:
        """Close every fd this resolver opened (idempotent).  Cost: one close each."""
        for ref in self.refs:
            if ref.fd >= 0:
                self.backend.close(ref.fd)
                ref.fd = -1
        self.refs.clear()
        self.cache.clear()
        self.multi.clear()
        self.declared.clear()


class Undeclared:
    """A resolver without ``declare`` (the second pass must not declare again)."""

    resolve_all: Callable[[Handle], list[MapRef]]

    def __init__(self, resolver: MapResolver) -> None:
        self.resolver = resolver
        self.resolve_all = resolver.resolve_all

    def __call__(self, handle: Handle) -> MapRef:
        """The map of ``handle`` (see :meth:`MapResolver.__call__`)."""
        return self.resolver(handle)
