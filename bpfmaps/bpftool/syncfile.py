"""``bpfmaps batch file FILE --sync``: a bpftool batch file as the desired state of the
maps it updates.

The file is read and checked completely first, with the same parser and messages as
``batch file`` (bpftool's syntax, file:line:column errors).  Its commands are then
applied to an *empty model* of each map they name: ``update`` sets a key (``noexist``
/ ``exist`` must hold in that model), ``delete`` removes one (it must be there).  The
result is each map's desired state, and every map is synced to it with
:meth:`bpfmaps.Map.sync`: only new and changed entries are written and keys the file
does not produce are deleted (array slots: zeroed).  Nothing is applied when the
file has an error, or uses a command that does not describe a state (lookup, dump,
push, pop, ...), or a map type sync cannot compare (map-in-map, prog arrays,
queues).  See docs/sync.md ("From the command line").

Output: one line per map (``map id N 'name': added A, changed C, removed R, unchanged
U``), or with ``-j`` a JSON list of objects with those counts; ``--dry-run`` prints
the counts without writing.  Exit status 0, 255 for a bad file, or ``(256 - errno) &
0xff`` when a sync failed (its report says exactly what was applied).
"""

from __future__ import annotations

import json as _json
import os
import sys
from typing import Any, Optional, TextIO

from ..backend import default_backend
from ..errors import BatchError, BpfmapsError, ParseError
from ..maps import Map
from ..types import FD_VALUE_TYPES, KEYLESS_TYPES, PERCPU_TYPES, UpdateFlags
from .grammar import Delete, Update, parse_command
from .lexer import Lexer

__all__ = ["run_sync_file"]


class _Reject(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Maps:
    """Resolver for the grammar: opens each handle once (raw codecs)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.by_handle: dict[Any, Any] = {}
        self.by_id: dict[int, Any] = {}

    def __call__(self, handle: Any) -> Any:
        m = self.by_handle.get(handle)
        if m is None:
            m = self._open(handle)
            prev = self.by_id.get(m.id)
            if prev is not None:  # two handles of one map: one model
                m.close()
                m = prev
            self.by_id[m.id] = m
            self.by_handle[handle] = m
        return m.info

    def _open(self, handle: Any) -> Any:
        be = self.backend
        try:
            if handle.kind == "id":
                return Map.from_id(int(handle.value), backend=be)
            if handle.kind == "pinned":
                return Map.from_pin(os.fsdecode(handle.value.encode("latin-1")), backend=be)
            if handle.kind == "name":
                return Map.from_name(handle.value, backend=be)
        except BpfmapsError as e:
            raise ParseError(f"cannot open map {handle}: {e}") from None
        raise ParseError(f"unsupported map handle {handle}")

    def close(self) -> None:
        for m in self.by_id.values():
            m.close()
        self.by_id.clear()
        self.by_handle.clear()


def _desired(data: bytes, file: str, maps: _Maps, compat: bool) -> dict[int, dict[bytes, bytes]]:
    be = maps.backend or default_backend()
    ncpus = be.possible_cpus()
    states: dict[int, dict[bytes, bytes]] = {}
    for lexed in Lexer(data, file):
        cmd = parse_command(lexed, maps, file=file, possible_cpus=ncpus, compat=compat)
        where = f"{file}:{cmd.line}"
        if isinstance(cmd, Update) and cmd.verb == "update" or isinstance(cmd, Delete):
            m = maps.by_handle[cmd.handle]
        else:
            raise _Reject(
                f"{where}: --sync takes only 'map update' and 'map delete' commands "
                f"(they describe the desired state); got 'map {cmd.verb or type(cmd).__name__.lower()}'"
            )
        t = m.type
        if t in FD_VALUE_TYPES or t in KEYLESS_TYPES:
            raise _Reject(
                f"{where}: --sync cannot compare {m.info.describe()} "
                "(map-in-map, prog-array and keyless maps are not synced)"
            )
        st = states.setdefault(m.id, {})
        key = bytes(cmd.key or b"")
        if isinstance(cmd, Delete):
            if key not in st:
                raise _Reject(
                    f"{where}: delete of a key the file has not set: in the desired state "
                    f"of {m.info.describe()} it does not exist"
                )
            del st[key]
            continue
        flags = int(cmd.flags or 0)
        if flags & UpdateFlags.NOEXIST and key in st:
            raise _Reject(f"{where}: noexist update of a key the file already set")
        if flags & UpdateFlags.EXIST and key not in st:
            raise _Reject(f"{where}: exist update of a key the file has not set")
        value = bytes(cmd.value) if cmd.value is not None else b""
        if t in PERCPU_TYPES and len(value) != m.value_buf_size:  # pragma: no cover
            raise _Reject(f"{where}: per-CPU value of {len(value)} bytes")
        st[key] = value
    return states


def run_sync_file(
    path: str,
    *,
    json: bool = False,
    pretty: bool = False,
    dry_run: bool = False,
    compat: bool = False,
    backend: Any = None,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """Run ``path`` (``-`` = stdin) as the desired state of the maps it updates; see
    the module docstring.  Returns the exit status.  Cost: the parse, then per map one
    LOOKUP_BATCH read and the delta's batch writes (:meth:`Map.sync`)."""
    out = out or sys.stdout
    err = err or sys.stderr

    def fail(msg: str, status: int = 255) -> int:
        if json:
            out.write(_json.dumps({"error": msg}) + "\n")
        else:
            err.write(f"Error: {msg}\n")
        return status

    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        return fail(f"reading batch file failed: {e.strerror}")
    file = "-" if path == "-" else path
    maps = _Maps(backend)
    try:
        try:
            states = _desired(data, file, maps, compat)
        except ParseError as e:
            return fail(f"{e}; nothing was applied (--sync checks the whole file first)")
        except _Reject as e:
            return fail(f"{e.message}; nothing was applied")
        report: list[dict[str, Any]] = []
        for map_id, state in states.items():
            m = maps.by_id[map_id]
            try:
                r = m.sync(state, dry_run=dry_run)
            except BatchError as e:
                done = ", ".join(
                    f"map id {x['id']}: {x['added']} added, {x['changed']} changed, "
                    f"{x['removed']} removed" for x in report
                )  # fmt: skip
                res = getattr(e, "result", None)
                msg = f"sync of map {m.info.describe()} failed: {e}"
                if done:
                    msg += f"; maps synced before it: {done}"
                if res is not None:
                    msg += f"; applied to this map: {res}"
                cause = e.__cause__
                errno = getattr(cause, "errno", None) or 1
                return fail(msg, (256 - errno) & 0xFF)
            report.append(
                {"id": m.id, "name": m.name, "added": r.added, "changed": r.changed,
                 "removed": r.removed, "unchanged": r.unchanged}
            )  # fmt: skip
        if json:
            out.write(_json.dumps(report, indent=4 if pretty else None) + "\n")
        else:
            verb = "would be" if dry_run else ""
            for x in report:
                counts = (
                    f"added {x['added']}, changed {x['changed']}, removed {x['removed']}, "
                    f"unchanged {x['unchanged']}"
                )
                out.write(
                    f"map id {x['id']} '{x['name']}': {counts}{' (dry run)' if verb else ''}\n"
                )
        return 0
    finally:
        maps.close()
