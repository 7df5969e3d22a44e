"""The ``map`` commands of the bpftool runner, one handler each (``_do_<command>``).

update (also of program arrays and map-in-map values), lookup/peek, getnext,
delete, pop/dequeue, dump (with BTF where bpftool formats with it), show/list,
create, pin, freeze, help and version.  A handler makes the command's bpf(2) calls
and reports what it prints to the runner's :class:`~bpfmaps.bpftool.output.Output`;
a failure is raised as :class:`~bpfmaps.errors.CommandFailed` with bpftool's message
(``shown`` when the output already said it, ``silent`` where bpftool prints nothing).
Each handler costs its command's syscalls (``dump``: two per element, or one LOOKUP_BATCH per
4096 elements of a hash or array map; ``show`` without a map: three per map on the
system).
"""

from __future__ import annotations

import errno as _errno
import os
import sys

from .. import loops
from ..errors import CommandFailed, strerror
from ..types import FD_VALUE_INTS, PERCPU_INTS, MapInfo
from . import cprint, scan
from .bytes import _show
from .failures import MAP_HELP, Failures
from .parsed import (
    Command,
    Create,
    Delete,
    Dump,
    Freeze,
    GetNext,
    Handle,
    Help,
    Lookup,
    Pin,
    Pop,
    Show,
    Update,
    Version,
)
from .resolve import MapRef, fs_path, obj_get_message, priv_hint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["Commands"]


class Commands(Failures):
    """The command handlers of the runner (see the module doc)."""

    def _exec(self, c: Command) -> None:
        """Run one parsed command through its handler."""
        getattr(self, "_do_" + type(c).__name__.lower())(c)

    def _do_update(self, c: Update) -> None:
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        value = c.value
        opened = -1
        if c.value_handle is not None:
            if c.value_map is not None:
                vfd = self._fd(c.value_map, c)
            else:
                vfd = opened = self._open_prog(c, c.value_handle)
                if c.value_handle.kind == "id" and not self.json:
                    # bpftool's p_info: stderr, plain mode only
                    self.err.write(
                        "Warning: updating program array via MAP_ID, make sure this map is kept open\n"
                        "         by some process or pinned otherwise update will be lost\n"
                    )
            value = vfd.to_bytes(4, sys.byteorder)
        try:
            rc = b.map_update_elem(
                fd, self._key(c.key), value if value is not None else b.NULL, c.flags
            )
        finally:
            if opened >= 0:
                b.close(opened)
        if rc < 0:
            raise self._fail(c, f"update failed: {strerror(-rc)}", -rc)
        self.o.done()

    def _open_prog(self, c: Update, h: Handle) -> int:
        """An fd of the one program ``h`` names (the value of a prog-array update);
        CommandFailed with bpftool's message otherwise.  Cost: one or two syscalls
        for id/pinned, three per program on the system for name/tag."""
        b = self.backend
        if h.kind == "id":
            fd = b.prog_get_fd_by_id(h.value)
            if fd < 0:
                raise self._fail(c, f"get by id ({h.value}): {strerror(-fd)}", None)
            return fd
        if h.kind == "pinned":
            fd = b.obj_get(fs_path(h.value), 0)
            if fd < 0:
                raise self._fail(c, obj_get_message(b, h.value, -fd), None)
            rc, _ = b.prog_info(fd)
            if rc < 0:
                b.close(fd)
                raise self._fail(c, "incorrect object type: map", None)
            return fd
        # name or tag: every program that matches (bpftool's prog_fd_by_nametag)
        found: list[int] = []
        cur = 0
        while True:
            rc, nxt = b.prog_get_next_id(cur)
            if rc < 0 or nxt <= cur:  # ids only grow: bounded
                if rc < 0 and rc != -_errno.ENOENT:
                    for fd in found:
                        b.close(fd)
                    raise self._fail(c, strerror(-rc), None)
                break
            cur = nxt
            fd = b.prog_get_fd_by_id(nxt)
            if fd < 0:
                if fd == -_errno.ENOENT:
                    continue  # unloaded meanwhile
                for f in found:
                    b.close(f)
                raise self._fail(c, f"can't get prog by id ({nxt}): {strerror(-fd)}", None)
            rc, info = b.prog_info(fd)
            if rc == 0 and info is not None:
                if h.kind == "tag":
                    ok = getattr(info, "tag", b"") == h.value
                else:
                    ok = info.name == _show(h.value)
                if ok:
                    found.append(fd)
                    continue
            b.close(fd)
        if len(found) != 1:
            for fd in found:
                b.close(fd)
            if found:
                raise self._fail(c, "several programs match this handle", None)
            what = f"tag {h.value.hex()}" if h.kind == "tag" else f"named '{_show(h.value)}'"
            failure = self._fail(c, f"no program {what}", None)
            failure.silent = True  # bpftool fails without a message
            raise failure
        return found[0]

    def _formatted(self, m: MapRef, key: Optional[bytes], value: bytes) -> Any:
        """The BTF form of an element, for maps bpftool formats with BTF: in JSON mode
        the ``"formatted"`` member (a :class:`~bpfmaps.btf.dumper.Formatted`, written
        by the JSON writer), in plain mode the whole entry text; None otherwise."""
        info = m.info
        btf = self._btf_of(info)
        if btf is None:
            return None
        run = self._entry_run(m, btf)
        if run is not None:  # the map's compiled program
            if self.json:
                return cprint.FormattedEntry(run, key or b"", value)
            run.sep = False
            return run.format(key or b"", value) + "\n"
        if self.json:
            from ..btf.dumper import Formatted

            return Formatted(btf, info, key, value, self._ncpus)
        from ..btf.dumper import format_entry_plain

        return format_entry_plain(btf, info, key, value, self._ncpus)

    def _do_lookup(self, c: Lookup) -> None:
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        buf = self._buf(m.value_buf_size)
        rc = b.map_lookup_elem(fd, self._key(c.key), buf, 0)
        if rc < 0:
            if rc == -_errno.ENOENT:
                self.o.lookup_miss(m.info, c.key)
                f = self._fail(
                    c, "lookup failed: No such file or directory (key not found)", _errno.ENOENT
                )
                f.shown = True
                raise f
            raise self._fail(c, f"lookup failed: {strerror(-rc)}", -rc)
        value = b.tobytes(buf, m.value_buf_size)
        self.o.element(m.info, c.key, value, self._formatted(m, c.key, value))

    def _do_getnext(self, c: GetNext) -> None:
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        buf = self._buf(m.key_size)
        rc = b.map_get_next_key(fd, self._key(c.key), buf)
        if rc < 0:
            raise self._fail(c, f"can't get next key: {strerror(-rc)}", -rc)
        self.o.getnext(m.info, c.key, b.tobytes(buf, m.key_size))

    def _do_delete(self, c: Delete) -> None:
        m: MapRef = c.map
        fd = self._fd(m, c)
        rc = self.backend.map_delete_elem(fd, c.key if c.key is not None else b"")
        if rc < 0:
            raise self._fail(c, f"delete failed: {strerror(-rc)}", -rc)
        self.o.done()

    def _do_pop(self, c: Pop) -> None:
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        kbuf = self._buf(m.key_size) if m.key_size else b.NULL
        vbuf = self._buf(m.value_buf_size)
        rc = b.map_lookup_and_delete_elem(fd, kbuf, vbuf, 0)
        if rc < 0:
            if rc == -_errno.ENOENT:
                self.o.empty_map()
                f = self._fail(c, f"{c.verb} failed: empty map", _errno.ENOENT)
                f.shown = True
                raise f
            raise self._fail(c, f"pop failed: {strerror(-rc)}", -rc)
        key = b.tobytes(kbuf, m.key_size) if m.key_size else None
        value = b.tobytes(vbuf, m.value_buf_size)
        self.o.element(m.info, key, value, self._formatted(m, key, value))

    def _do_dump(self, c: Dump) -> None:
        b = self.backend
        o = self.o
        multi = len(c.maps) > 1
        if not self.json and all(m.info.btf_id for m in c.maps):
            # bpftool's plain dump of maps with BTF: one BTF writer document
            from ..btf.output import BTFCache, dump_plain

            if self._btf is None:
                self._btf = BTFCache(b)
            maps = [(m.info, self._fd(m, c), m.value_buf_size) for m in c.maps]
            text, err = dump_plain(b, maps, self._btf, self._ncpus, walk=self._walk_plain_in_c)
            o.text(text)
            if err:  # bpftool stops with the errno as exit status and no message
                f = self._fail(c, f"can't get next key: {strerror(err)}", err)
                f.shown = True
                raise f
            return
        if multi:
            o.begin_list()
        try:
            for n, m in enumerate(c.maps):
                fd = self._fd(m, c)
                info = m.info
                kbuf = self._buf(info.key_size)
                vbuf = self._buf(m.value_buf_size)
                prev = b.NULL
                count = 0
                o.dump_begin(info, multi, n == 0)
                err = 0
                steps = info.max_entries + 2
                run = self._dump_in_c(m, multi)
                if run is not False:

                    def entry_error(key: bytes, e: int, info: MapInfo = info) -> None:
                        o.dump_entry_error(info, key, e)

                    ncpus = self._ncpus if info.raw_type in PERCPU_INTS else 0
                    how = self._json_depth(multi) if self.json else 0
                    done, err, count, steps, last = cprint.dump_map(
                        fd, info.key_size, info.value_size, ncpus, how, steps,
                        o.dump_elements, entry_error, run if run is not True else None,
                        info.raw_type in cprint.DUMP_BATCH_TYPES,
                    )  # fmt: skip
                    if last is not None:
                        prev = last
                    if done:
                        steps = 0  # (the walk ended, or took every step)
                for _ in range(steps):  # (a stop signal in C: on from its last key)
                    rc = b.map_get_next_key(fd, prev, kbuf)
                    if rc < 0:
                        if rc != -_errno.ENOENT:
                            err = -rc
                        break
                    key = b.tobytes(kbuf, info.key_size)
                    rc = b.map_lookup_elem(fd, key, vbuf, 0)
                    if rc < 0:
                        o.dump_entry_error(info, key, -rc)
                    else:
                        value = b.tobytes(vbuf, m.value_buf_size)
                        o.dump_element(info, key, value, self._formatted(m, key, value))
                        count += 1
                    prev = key
                o.dump_end(info, multi, count)
                if n != len(c.maps) - 1:
                    o.text("\n")
                if err:
                    # bpftool stops here with the errno as exit status and no message
                    f = self._fail(c, f"can't get next key: {strerror(err)}", err)
                    f.shown = True
                    raise f
        finally:
            if multi:
                o.end_list()

    def _c_walk(self, info: MapInfo) -> bool:
        """True when the dump walk of the map ``info`` can run in C (cprint.dump_map):
        the kernel backend (C loops), a map with keys that holds no fds."""
        return bool(
            self.fast
            and getattr(loops.of(self.backend), "native_ops", False)
            and scan.available()
            and info.key_size > 0
            and info.raw_type not in FD_VALUE_INTS
        )

    def _json_depth(self, multi: bool) -> int:
        """cprint.dump_map's ``json`` for this output: 1 compact; pretty, the depth of
        the elements' list + 1 (the document's top list, or a header object's
        "elements" in it; two more inside a batch item's output)."""
        if not self.pretty:
            return 1
        return getattr(self.o, "nest", 0) + (4 if multi else 2)

    def _dump_in_c(self, m: MapRef, multi: bool) -> Any:
        """How ``map dump`` of ``m`` walks and formats in C (cprint.dump_map), in the
        per-map loop: True (the hex layout: a map without value BTF), a FormatRun (a
        map with BTF in JSON mode: its compiled program), or False (in Python: no C
        loops, fd maps, a type the program declines, plain entries with BTF)."""
        if not self._c_walk(m.info):
            return False
        btf = self._btf_of(m.info)
        if btf is None:
            return True
        if not self.json:
            return False
        run = self._format_run(m.info, m.value_buf_size, btf, False, self._json_depth(multi) - 1)
        return run if run is not None else False

    def _format_run(self, info: MapInfo, vbs: int, btf: Any, plain: bool, depth: int) -> Any:
        """The compiled BTF program of the entries of the map ``info`` (values read into
        ``vbs`` bytes; cached): plain, the entry's object (``map dump`` without -j);
        else the whole -j element with its ``"formatted"`` member.  A cprint.FormatRun at ``depth``, or None where the
        program declines.  Cost: a compile per map and layout, O(the types)."""
        key = (info.id, info.btf_id, plain, vbs, self._ncpus)
        if key not in self._fmt_progs:
            from ..btf.fmtprog import compile_entry  # BTF maps only

            self._fmt_progs[key] = compile_entry(
                btf, info, vbs, self._ncpus, plain=plain, hex_members=not plain
            )
        program = self._fmt_progs[key]
        if program is None:
            return None
        return cprint.FormatRun(program, depth, plain or self.pretty, chunked=not plain)

    def _walk_plain_in_c(self, info: MapInfo, btf: Any, fd: int, vbs: int, w: Any,
                         steps: int, entry_error: Any) -> Any:  # fmt: skip
        """btf.output.dump_plain's walk in C for one map: its entries printed by the
        map's program into the writer ``w`` (its depth and pending ","), each failed
        lookup to ``entry_error(key, errno)``.  (done, err, last key, steps left) as
        cprint.dump_map gives them, or None (the walk stays in Python)."""
        if btf is None or not self._c_walk(info):
            return None
        run = self._format_run(info, vbs, btf, True, w.depth)
        if run is None:
            return None
        run.sep = bool(w.sep)
        ncpus = self._ncpus if info.raw_type in PERCPU_INTS else 0
        done, err, _count, steps, last = cprint.dump_map(
            fd, info.key_size, info.value_size, ncpus, 0, steps, w.parts.append, entry_error, run,
            info.raw_type in cprint.DUMP_BATCH_TYPES,
        )  # fmt: skip
        w.sep = "," if run.sep else ""
        return done, err, last, steps

    def _fdinfo(self, fd: int) -> dict[str, str]:
        rc, d = self.backend.map_fdinfo(fd)
        return d if rc == 0 and d is not None else {}

    def _pins_of(self, info: MapInfo) -> Optional[list[str]]:
        return self.backend.map_pin_paths(info.id) if self.show_pinned else None

    def _do_show(self, c: Show) -> None:
        b = self.backend
        o = self.o
        if c.maps is not None:
            multi = len(c.maps) > 1
            if multi:
                o.begin_list()
            for m in c.maps:
                o.show(m.info, self._fdinfo(self._fd(m, c)), self._pins_of(m.info))
            if multi:
                o.end_list()
            return
        o.begin_list()
        cur = 0
        failure = None
        while True:
            rc, nxt = b.map_get_next_id(cur)
            if rc < 0 or nxt <= cur:  # ids only grow: bounded
                if rc < 0 and rc != -_errno.ENOENT:
                    tail = " -- kernel too old?" if rc == -_errno.EINVAL else ""
                    failure = (f"can't get next map: {strerror(-rc)}{tail}", -rc)
                break
            cur = nxt
            fd = b.map_get_fd_by_id(nxt, 0)
            if fd < 0:
                if fd == -_errno.ENOENT:
                    continue
                failure = (f"can't get map by id ({nxt}): {strerror(-fd)}", -fd)
                break
            try:
                rc, info = b.map_info(fd)
                if rc < 0 or info is None:
                    failure = (f"can't get map info: {strerror(-rc)}", -rc)
                    break
                o.show(info, self._fdinfo(fd), self._pins_of(info))
            finally:
                b.close(fd)
        if failure is not None:
            o.error(failure[0])  # inside the JSON root array, like bpftool
        o.end_list()
        if failure is not None:
            f = self._fail(c, failure[0], None)  # bpftool exits 255 here
            f.shown = True
            f.hint = priv_hint(failure[1])
            raise f

    def _not_bpffs(self, c: Command, word: str, d: str) -> CommandFailed:
        from ..errors import NotBpffsError  # start-up: the class is built on first use

        e = NotBpffsError(
            _errno.EPERM,
            "pin",
            map=_show(word),
            hint="path is not on a bpf file system (mount -t bpf bpf DIR)",
        )
        return self._fail(
            c,
            f"can't pin the object ({_show(word)}): {d} is not on a bpf file system "
            f"(bpftool would try to mount one there; bpfmaps does not: {e.hint})",
            None,
        )

    def _do_create(self, c: Create) -> None:
        b = self.backend
        path = fs_path(c.path)
        inner_fd = -1
        if c.inner is not None:
            inner_fd = self._fd(c.inner, c)
        d = os.path.dirname(os.path.abspath(path)) or "."
        if not b.is_bpffs(d):
            raise self._not_bpffs(c, c.path, d)
        fd = b.map_create(
            c.type, c.key_size, c.value_size, c.max_entries, c.flags,
            c.name.encode("latin-1")[:15], inner_fd,
        )  # fmt: skip
        if fd < 0:
            f = self._fail(c, f"map create failed: {strerror(-fd)}", None)
            f.hint = priv_hint(-fd)
            raise f
        rc = b.obj_pin(fd, path)
        if rc < 0:
            b.close(fd)
            raise self._fail(c, f"can't pin the object ({_show(c.path)}): {strerror(-rc)}", -rc)
        # a later `pinned FILE` handle that was declared by this create uses this fd
        rc, info = b.map_info(fd)
        self._adopt_created(c, fd, info)
        self.o.done()

    def _adopt_created(self, c: Create, fd: int, info: Optional[MapInfo]) -> None:
        # parse_batch declared this path to the resolver: later `pinned FILE` handles
        # use that MapRef, which gets this fd (and the real info with the new id).
        ref = self._resolver.declared.get(c.path) if self._resolver is not None else None
        if ref is None or ref.fd >= 0:
            self.backend.close(fd)
            return
        ref.fd = fd
        if info is not None:
            ref.info = info

    def _do_pin(self, c: Pin) -> None:
        m: MapRef = c.map
        fd = self._fd(m, c)
        b = self.backend
        path = fs_path(c.path)
        d = os.path.dirname(os.path.abspath(path)) or "."
        if not b.is_bpffs(d):
            raise self._not_bpffs(c, c.path, d)
        rc = b.obj_pin(fd, path)
        if rc < 0:
            raise self._fail(c, f"can't pin the object ({_show(c.path)}): {strerror(-rc)}", -rc)
        self.o.done()

    def _do_freeze(self, c: Freeze) -> None:
        m: MapRef = c.map
        rc = self.backend.map_freeze(self._fd(m, c))
        if rc < 0:
            raise self._fail(c, f"failed to freeze map: {strerror(-rc)}", -rc)
        self.o.done()

    def _do_help(self, c: Help) -> None:
        if self.json:
            self.o.done()  # bpftool's do_help: null
        else:
            self.err.write(MAP_HELP)

    def _do_version(self, c: Version) -> None:
        # like bpftool -V: version, what it is built on, features
        import importlib.util  # start-up: only for `version`

        from .._version import __version__

        shim = importlib.util.find_spec("bpfmaps._ffi") is not None
        if self.json:
            self.o.value(
                {
                    "version": __version__,
                    "bpftool_compatible": "7.1",
                    "features": {"cffi_shim": shim},
                }
            )
        else:
            self.o.text(
                f"bpfmaps v{__version__}\nusing bpftool syntax v7.1\n"
                f"features: {'cffi_shim' if shim else 'no compiled extension (fake backend only)'}\n"
            )
