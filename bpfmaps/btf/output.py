"""The bpftool runner's BTF output: which maps print formatted, and plain ``map dump``.

bpftool 7.1 rules (``map.c``), reproduced here so the runner only calls in:

* a map's key/value print with BTF when ``btf_value_type_id`` (or
  ``btf_vmlinux_value_type_id``, then with the kernel's BTF) is set -- :class:`BTFCache`;
* ``-j``: each element gets a ``"formatted"`` member (:class:`~bpfmaps.btf.dumper.Formatted`);
* plain ``lookup``/``pop``/``peek``/``dequeue``: the pretty BTF object and a newline
  (:func:`~bpfmaps.btf.dumper.format_entry_plain`);
* plain ``map dump`` when *every* dumped map has a ``btf_id``: one pretty JSON array of
  BTF objects, a header object per map when several are dumped, no ``Found N
  elements`` line; a map with a btf_id but no value type prints its elements in the
  hex layout inside that array, and lookup failures print bpftool's plain error
  lines there too (as bpftool does) -- :func:`dump_plain`.
"""

from __future__ import annotations

import errno as _errno

from ..bpftool.bytes import format_entry
from ..errors import strerror
from ..json_writer import JsonWriter
from ..types import MAP_TYPE, PERCPU_INTS
from .dumper import Formatted, dump_entry, format_entry_plain
from .loader import load_id, vmlinux
from .model import BTFError

TYPE_CHECKING = False
if TYPE_CHECKING:  # (annotations only: the output path loads no typing)
    from typing import Any, Callable, Optional

    from .model import BTF

#: the runner's one entry point into BTF output (``Formatted`` and ``format_entry_plain``
#: are the dumper's, re-exported so that bpftool.runner needs only this module)
__all__ = ["BTFCache", "Formatted", "dump_plain", "format_entry_plain", "wants_plain_btf"]

_FD_OF_MAPS = (
    MAP_TYPE.ARRAY_OF_MAPS,
    MAP_TYPE.HASH_OF_MAPS,
    MAP_TYPE.PROG_ARRAY,
)


class BTFCache:
    """Per-run cache of map BTF: ``get(info)`` -> BTF or None.  Loads each btf_id once
    (3 syscalls + parse); vmlinux once per process."""

    def __init__(self, backend: Any) -> None:
        """An empty cache loading through ``backend``.  O(1)."""
        self.backend: Any = backend
        self._by_id: dict[int, Optional[BTF]] = {}

    def get(self, info: Any) -> Optional[BTF]:
        """The BTF bpftool would format ``info``'s elements with, or None."""
        if info.btf_vmlinux_value_type_id:
            try:
                return vmlinux()
            except BTFError:
                return None
        if not info.btf_value_type_id or not info.btf_id:
            return None
        if getattr(self.backend, "btf_get_fd_by_id", None) is None:
            return None
        bid = info.btf_id
        if bid not in self._by_id:
            try:
                self._by_id[bid] = load_id(bid, backend=self.backend)
            except Exception:  # noqa: BLE001 - bpftool falls back to no formatting
                self._by_id[bid] = None
        return self._by_id[bid]


def wants_plain_btf(infos: list[Any]) -> bool:
    """bpftool's ``maps_have_btf``: plain dump goes through the BTF writer only when
    every map has a btf_id."""
    return bool(infos) and all(i.btf_id for i in infos)


def _hex(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def _entry_error(info: Any, key: bytes, err: int) -> str:
    # print_entry_error (plain): nothing for fd maps' ENOENT, else one text entry
    if info.raw_type in _FD_OF_MAPS and err == _errno.ENOENT:
        return ""
    if err == _errno.ENOENT:
        msg = "<no entry>"
    elif err == _errno.ENOSPC and info.raw_type == MAP_TYPE.REUSEPORT_SOCKARRAY:
        msg = "<cannot read>"
    else:
        msg = strerror(err)
    break_names = info.key_size > 16 or len(msg) > 16
    single = info.key_size + len(msg) <= 24 and not break_names
    sep = "\n" if break_names else " "
    return f"key:{sep}{_hex(key)}{'  ' if single else chr(10)}value:{sep}{msg}\n"


def _header(w: JsonWriter, info: Any) -> None:
    w.name("id")
    w.token(str(info.id))
    w.name("type")
    t = info.type  # a MapType member, or the number when the enum names none
    name = getattr(t, "name", None)
    if name is not None:
        w.string(name.lower())
    else:
        w.token(str(int(t)))
    if info.name:
        w.name("name")
        w.string(info.name)
    w.name("flags")
    f = info.flags & 0xFFFFFFFF
    w.token(str(f - (1 << 32) if f >= 1 << 31 else f))


def dump_plain(
    backend: Any,
    maps: list[tuple[Any, int, int]],
    cache: BTFCache,
    ncpus: int,
    walk: Optional[Callable[..., Any]] = None,
) -> tuple[str, int]:
    """Plain ``map dump`` of ``maps`` ([(info, fd, value_buf_size)]) through the BTF
    writer.  Returns (text, errno of a failed GET_NEXT_KEY or 0); stops at that map.
    ``walk(info, btf, fd, value_buf_size, w, steps, entry_error)``, when given, walks
    a map first (the runner's walk in C, printing into the writer ``w``): it returns
    (done, errno, last key, steps left), the loop here going on from that key when
    not done, or None (the map is walked here).

    Cost: one GET_NEXT_KEY + LOOKUP per element (the walk in C: one LOOKUP_BATCH per 4096
    elements of a hash or array map), O(bytes printed)."""
    w = JsonWriter(pretty=True)
    multi = len(maps) > 1
    if multi:
        w.begin("[")
    err = 0
    for info, fd, vbs in maps:
        btf = cache.get(info)
        if multi:
            w.begin("{")
            _header(w, info)
            w.name("elements")
        w.begin("[")
        kbuf = backend.alloc(max(info.key_size, 1))
        vbuf = backend.alloc(max(vbs, 1))
        prev = backend.NULL
        steps = info.max_entries + 2 if info.max_entries < 1 << 30 else 1 << 30
        walked = None
        if walk is not None:

            def entry_error(key: bytes, e: int, info: Any = info) -> None:
                w.parts.append(_entry_error(info, key, e))

            walked = walk(info, btf, fd, vbs, w, steps, entry_error)
        if walked is not None:
            done, err, last, steps = walked
            if last is not None:
                prev = last
            if done:
                steps = 0
        for _ in range(steps):
            rc = backend.map_get_next_key(fd, prev, kbuf)
            if rc < 0:
                if rc != -_errno.ENOENT:
                    err = -rc
                break
            key = backend.tobytes(kbuf, info.key_size)
            prev = key
            rc = backend.map_lookup_elem(fd, key, vbuf, 0)
            if rc < 0:
                w.parts.append(_entry_error(info, key, -rc))
                continue
            value = backend.tobytes(vbuf, vbs)
            if btf is not None:
                dump_entry(w, btf, info, key, value, ncpus, plain=True)
            else:
                w.parts.append(
                    format_entry(
                        key,
                        value,
                        info.key_size,
                        info.value_size,
                        percpu=info.raw_type in PERCPU_INTS,
                        ncpus=ncpus,
                    )
                )
        w.end("]")
        if multi:
            w.end("}")
        if err:
            break
    if multi:
        w.end("]")
    while w.depth > 0:  # an error stopped us inside the root array
        w.end("]")
    return w.getvalue() + "\n", err
