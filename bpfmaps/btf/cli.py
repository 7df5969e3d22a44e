"""``bpfmaps btf dump {id N | file PATH | map MAP [key|value|kv|all]} [format {raw|c}]``.

Output identical to bpftool 7.1's ``btf dump ... format raw`` in plain, ``-j`` and
``-p`` (see :func:`bpfmaps.btf.rawdump.dump_types_raw`); ``format c`` is not
implemented and says so.  MAP is ``id N``, ``pinned PATH`` or ``name NAME`` (one
map).  Errors print bpftool's messages (``Error: ...`` on stderr, or
``{"error":"..."}`` with ``-j``) and exit 255.
"""

from __future__ import annotations

import sys
from typing import IO, Optional

from ..backend import Backend, default_backend
from ..errors import BPFError, strerror
from ..json_writer import JsonWriter, quote
from ..types import MapInfo
from . import loader
from .model import BTF, BTFError
from .rawdump import dump_types_json, dump_types_raw

__all__ = ["main_btf"]

USAGE = """Usage: bpfmaps btf dump BTF_SRC [format FORMAT]
       bpfmaps btf help

       BTF_SRC := { id BTF_ID | map MAP [{key | value | kv | all}] | file FILE }
       FORMAT  := { raw }
       MAP     := { id MAP_ID | pinned FILE | name MAP_NAME }
"""


def _prefix(word: str, full: str) -> bool:
    return bool(word) and full.startswith(word)


class _Fail(Exception):
    pass


def main_btf(
    args: list[str],
    json_mode: bool = False,
    pretty: bool = False,
    out: Optional[IO[str]] = None,
    err: Optional[IO[str]] = None,
) -> int:
    """Run ``btf ARGS``; returns the exit status (0 or 255).  Cost: one parse of the
    BTF (vmlinux about 0.3 s) plus O(types) output."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr

    def fail(msg: str) -> int:
        if json_mode:
            w = JsonWriter(pretty)
            w.begin("{")
            w.name("error")
            w.token('"' + msg + '"')
            w.end("}")
            out.write(w.getvalue() + "\n")
        else:
            err.write(f"Error: {msg}\n")
        return 255

    if not args or _prefix(args[0], "help"):
        (out if args else err).write(USAGE)
        return 0 if args else 255
    if not _prefix(args[0], "dump"):
        return fail(f"unknown or unsupported btf command '{args[0]}' (only 'dump')")
    argv = args[1:]
    if len(argv) < 2:
        err.write(USAGE)
        return 255
    try:
        btf, roots, argv = _source(argv)
        if btf.base is not None and btf.source.startswith("btf id") and not json_mode:
            # module BTF by id: bpftool's p_info about the implicit vmlinux base
            err.write(
                "Warning: valid base BTF was not specified with -B option, falling back"
                " to standard base BTF (/sys/kernel/btf/vmlinux)\n"
            )
    except _Fail as e:
        return fail(str(e))
    except BTFError as e:
        return fail(str(e))
    dump_c = False
    while argv:
        if _prefix(argv[0], "format"):
            if len(argv) < 2:
                return fail("expecting value for 'format' option\n")
            if argv[1] == "c":
                dump_c = True
            elif argv[1] != "raw":
                return fail(f"unrecognized format specifier: '{argv[1]}', possible values: raw, c")
            argv = argv[2:]
        else:
            return fail(f"unrecognized option: '{argv[0]}'")
    if dump_c:
        if json_mode:
            return fail("JSON output for C-syntax dump is not supported")
        return fail("format c is not implemented by bpfmaps (use bpftool btf dump ... format c)")
    if json_mode:
        out.write(dump_types_json(btf, roots, pretty) + "\n")
    else:
        out.write(dump_types_raw(btf, None, roots))
    return 0


def _source(argv: list[str]) -> tuple[BTF, Optional[list[int]], list[str]]:
    src, argv = argv[0], argv[1:]
    if _prefix(src, "map"):
        if len(argv) < 2:
            raise _Fail("too few parameters for map")
        info, argv = _map_info(argv)
        roots: Optional[list[int]]
        if argv and _prefix(argv[0], "key"):
            roots = [info.btf_key_type_id]
            argv = argv[1:]
        elif argv and _prefix(argv[0], "value"):
            roots = [info.btf_value_type_id]
            argv = argv[1:]
        elif argv and _prefix(argv[0], "all"):
            roots = None
            argv = argv[1:]
        elif argv and _prefix(argv[0], "kv"):
            roots = [info.btf_key_type_id, info.btf_value_type_id]
            argv = argv[1:]
        else:
            roots = [info.btf_key_type_id, info.btf_value_type_id]
        return _by_id(info.btf_id), roots, argv
    if _prefix(src, "id"):
        try:
            bid = int(argv[0], 0)
        except ValueError:
            raise _Fail(f"can't parse {argv[0]} as ID") from None
        return _by_id(bid), None, argv[1:]
    if _prefix(src, "file"):
        path = argv[0]
        try:
            btf = loader.load_file(path)
        except BTFError as e:
            raise _Fail(f"failed to load BTF from {path}: {e.reason}") from None
        return btf, None, argv[1:]
    raise _Fail(f"unrecognized BTF source specifier: '{src}'")


def _by_id(bid: int) -> BTF:
    try:
        return loader.load_id(bid)
    except BPFError as e:
        raise _Fail(f"get btf by id ({bid}): {strerror(e.errno or 0)}") from None


def _map_info(argv: list[str]) -> tuple[MapInfo, list[str]]:
    be = default_backend()
    how, what, rest = argv[0], argv[1], argv[2:]
    if _prefix(how, "id"):
        try:
            mid = int(what, 0)
        except ValueError:
            raise _Fail(f"can't parse {what} as ID") from None
        fd = be.map_get_fd_by_id(mid, 0)
        if fd < 0:
            raise _Fail(f"get map by id ({mid}): {strerror(-fd)}")
    elif _prefix(how, "pinned"):
        fd = be.obj_get(what, 0)
        if fd < 0:
            raise _Fail(f"bpf obj get ({what}): {strerror(-fd)}")
    elif _prefix(how, "name"):
        fd = _by_name(be, what)
    else:
        raise _Fail(f"expected 'id', 'name' or 'pinned', got: '{how}'?")
    try:
        rc, info = be.map_info(fd)
    finally:
        be.close(fd)
    if rc < 0 or info is None:
        raise _Fail(f"can't get map info: {strerror(-rc)}")
    if not info.btf_id:
        raise _Fail("get btf by id (0): No such file or directory")
    return info, rest


def _by_name(be: Backend, name: str) -> int:
    found = []
    cur = 0
    while True:
        rc, nxt = be.map_get_next_id(cur)
        if rc < 0 or nxt <= cur:
            break
        cur = nxt
        fd = be.map_get_fd_by_id(nxt, 0)
        if fd < 0:
            continue
        rc, info = be.map_info(fd)
        if rc == 0 and info is not None and info.name == name[:15]:
            found.append(fd)
        else:
            be.close(fd)
    if not found:
        raise _Fail(f"no map named '{name}'")
    if len(found) > 1:
        for fd in found:
            be.close(fd)
        raise _Fail(f"several maps match this handle: name {quote(name)[1:-1]}")
    return found[0]
