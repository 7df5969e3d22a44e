"""What single ``map`` commands print, in bpftool's plain and JSON layouts.

The runner reports each event of a command (an element read, a lookup miss, a
``show`` record, an error...) to one :class:`Output`; :class:`PlainOutput` and
:class:`JsonOutput` turn events into bytes exactly as bpftool 7.1 does:

* plain: ``print_entry_plain``/``show_map_close_plain`` text on stdout, ``Error: ...``
  on stderr (and a few messages bpftool prints on stdout, such as ``Error: empty
  map`` and ``Not found``);
* JSON: one document per command, written by
  :class:`~bpfmaps.json_writer.JsonWriter` (bpfmaps' one model of bpftool's
  streaming JSON writer, shared with the BTF dumper; ``-p`` adds its peculiar
  whitespace: only a member name starts a new line, so arrays of bytes stay on one
  line and a closing bracket gets a line of its own), then a newline, even when
  nothing else was written; errors are ``{"error":"..."}`` objects at the point they happen (inside
  an open ``dump``/``show`` array, like bpftool).

Element records are built by :func:`element_json` (``key``, ``value`` or per-CPU
``values``); BTF-formatted output plugs in through the ``formatted`` argument of the
element events: in JSON mode a value written under ``"formatted"`` (the runner passes
a :class:`bpfmaps.btf.dumper.Formatted`, which writes itself), in plain mode the
entry's whole text.  Pure Python, no compiled extension.
"""

from __future__ import annotations

import errno as _errno
import sys

from .. import types as _types
from ..errors import strerror
from ..types import FD_VALUE_INTS, MAP_TYPE, PERCPU_INTS, MapInfo, round_up8

TYPE_CHECKING = False
if TYPE_CHECKING:  # (a Protocol for checkers only: no typing work at start-up)
    from typing import Any, Optional, Protocol

    from ..json_writer import JsonWriter, Raw, render_json

    class TextOut(Protocol):
        """Where an Output writes: a text stream (``sys.stdout``, ``io.StringIO``, the
        runner's :class:`~bpfmaps.bpftool._safety.SafeOut`)."""

        def write(self, s: str, /) -> object: ...


__all__ = [
    # re-exported from bpfmaps.json_writer (the one writer), for the runner and the CLI
    "Raw",
    "JsonWriter",
    "render_json",
    "Output",
    "PlainOutput",
    "JsonOutput",
    "element_json",
    "getnext_json",
    "show_json",
    "show_plain",
    "map_type_str",
    "prog_type_str",
]


#: libbpf 1.1 (bpftool 7.1) map type names; newer types print as ``type N``
_LIBBPF_MAP_TYPE_MAX = int(MAP_TYPE.USER_RINGBUF)

#: libbpf 1.1 ``libbpf_bpf_prog_type_str`` names, by number
_PROG_TYPES = (
    "unspec", "socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp",
    "perf_event", "cgroup_skb", "cgroup_sock", "lwt_in", "lwt_out", "lwt_xmit", "sock_ops",
    "sk_skb", "cgroup_device", "sk_msg", "raw_tracepoint", "cgroup_sock_addr",
    "lwt_seg6local", "lirc_mode2", "sk_reuseport", "flow_dissector", "cgroup_sysctl",
    "raw_tracepoint_writable", "cgroup_sockopt", "tracing", "struct_ops", "ext", "lsm",
    "sk_lookup", "syscall",
)  # fmt: skip


def map_type_str(t: int) -> Optional[str]:
    """bpftool 7.1's name of map type number ``t``, or None where it prints ``type N``.
    Cost: O(1) (builds :class:`~bpfmaps.types.MapType` on first use)."""
    if 0 <= t <= _LIBBPF_MAP_TYPE_MAX:
        return _types.MapType(t).name.lower()
    return None


def prog_type_str(t: int) -> Optional[str]:
    """bpftool 7.1's name of program type ``t``, or None (printed as a number)."""
    return _PROG_TYPES[t] if 0 <= t < len(_PROG_TYPES) else None


# ----------------------------------------------------------------------------- JSON


def error_json(message: str) -> dict[str, Any]:
    """bpftool's ``p_err`` object: the message is written between quotes unescaped
    (``jsonw_vprintf_enquote``), exactly as bpftool does."""
    from ..json_writer import Raw  # start-up: JSON output only

    return {"error": Raw('"' + message + '"')}


#: ``"0x%02hhx"`` of each byte value, as print_hex_data_json writes it
_HEX_ITEMS = tuple(f'"0x{b:02x}"' for b in range(256))


class HexArray:
    """``print_hex_data_json`` of ``data``: an array of one ``"0x%02hhx"`` string per
    byte, written as one token (what a list of those strings writes: the items of
    an array of scalars stay on one line in pretty mode too), not an object a byte."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        """The array's items: one a byte."""
        return len(self.data)

    def write_json(self, w: Any) -> None:
        """Write the array into the JsonWriter ``w``.  O(len(data))."""
        w.begin("[")
        if self.data:
            w.token(",".join(map(_HEX_ITEMS.__getitem__, self.data)))
        w.end("]")


def hex_json(data: bytes) -> HexArray:
    """``print_hex_data_json``: one ``"0x%02hhx"`` string per byte (a JSON writable).
    Cost: O(len(data)) when written."""
    return HexArray(bytes(data))


def element_json(
    info: MapInfo, key: Optional[bytes], value: bytes, ncpus: int, formatted: Any = None
) -> dict[str, Any]:
    """``print_entry_json``: ``key`` (``[]`` for keyless maps), then ``value``, or
    per-CPU ``values`` (``[{"cpu": i, "value": [...]}, ...]``), then ``formatted``
    when given (BTF output: any value :class:`JsonWriter` accepts)."""
    ks, vs = info.key_size, info.value_size
    d: dict[str, Any] = {"key": hex_json((key or b"")[:ks])}
    if info.raw_type in PERCPU_INTS:
        step = round_up8(vs)
        d["values"] = [
            {"cpu": i, "value": hex_json(value[i * step : i * step + vs])} for i in range(ncpus)
        ]
    else:
        d["value"] = hex_json(value[:vs])
    if formatted is not None:
        d["formatted"] = formatted
    return d


def getnext_json(key: Optional[bytes], next_key: bytes) -> dict[str, Any]:
    """bpftool's ``map getnext`` JSON: ``{"key": [...] or null (no key given),
    "next_key": [...]}``."""
    return {"key": hex_json(key) if key is not None else None, "next_key": hex_json(next_key)}


def _header_json(info: MapInfo) -> dict[str, Any]:
    from ..json_writer import Raw  # start-up: JSON output only

    t = map_type_str(info.raw_type)
    d: dict[str, Any] = {"id": info.id, "type": t if t is not None else int(info.raw_type)}
    if info.name:
        d["name"] = info.name
    d["flags"] = Raw(str(_c_int(info.flags)))
    return d


def _c_int(u32: int) -> int:
    u32 &= 0xFFFFFFFF
    return u32 - (1 << 32) if u32 & 0x80000000 else u32


def _atoi(s: Optional[str]) -> int:
    if not s:
        return 0
    s = s.strip()
    n = 0
    sign = 1
    i = 0
    if i < len(s) and s[i] in "+-":
        sign = -1 if s[i] == "-" else 1
        i += 1
    while i < len(s) and s[i].isdigit():
        n = n * 10 + int(s[i])
        i += 1
    return sign * n


def show_json(
    info: MapInfo, fdinfo: dict[str, str], pinned: Optional[list[str]] = None
) -> dict[str, Any]:
    """``show_map_close_json``: one ``map show`` record.  ``fdinfo`` holds the fd's
    /proc/self/fdinfo fields (``memlock``, ``frozen``, ``owner_prog_type``,
    ``owner_jited``); ``pinned`` is the list of pin paths when pins are listed."""
    d = _header_json(info)
    d["bytes_key"] = info.key_size
    d["bytes_value"] = info.value_size
    d["max_entries"] = info.max_entries
    if "memlock" in fdinfo:
        d["bytes_memlock"] = _atoi(fdinfo["memlock"])
    if info.raw_type == MAP_TYPE.PROG_ARRAY:
        opt = fdinfo.get("owner_prog_type")
        if opt is not None:
            n = _atoi(opt) & 0xFFFFFFFF
            name = prog_type_str(n)
            d["owner_prog_type"] = name if name is not None else n
        oj = fdinfo.get("owner_jited")
        if oj is not None:
            d["owner_jited"] = bool(_atoi(oj))
    d["frozen"] = _atoi(fdinfo.get("frozen"))
    if info.btf_id:
        d["btf_id"] = info.btf_id
    if pinned is not None:
        d["pinned"] = list(pinned)
    return d


def _header_plain(info: MapInfo) -> str:
    t = map_type_str(info.raw_type)
    s = f"{info.id}: " + (f"{t}  " if t is not None else f"type {int(info.raw_type)}  ")
    if info.name:
        s += f"name {info.name}  "
    return s + f"flags 0x{info.flags:x}\n"


def show_plain(info: MapInfo, fdinfo: dict[str, str], pinned: Optional[list[str]] = None) -> str:
    """``show_map_close_plain``: one ``map show`` record, newline included."""
    s = _header_plain(info)
    s += f"\tkey {info.key_size}B  value {info.value_size}B  max_entries {info.max_entries}"
    if "memlock" in fdinfo:
        s += f"  memlock {fdinfo['memlock']}B"
    if info.raw_type == MAP_TYPE.PROG_ARRAY:
        opt = fdinfo.get("owner_prog_type")
        oj = fdinfo.get("owner_jited")
        if opt is not None or oj is not None:
            s += "\n\t"
        if opt is not None:
            n = _atoi(opt) & 0xFFFFFFFF
            name = prog_type_str(n)
            s += (
                f"owner_prog_type {name}  "
                if name is not None
                else f"owner_prog_type {_c_int(n)}  "
            )
        if oj is not None:
            s += "owner jited" if _atoi(oj) else "owner not jited"
    for p in pinned or ():
        s += f"\n\tpinned {p}"
    frozen = _atoi(fdinfo.get("frozen"))
    if info.btf_id or frozen:
        s += "\n\t"
    if info.btf_id:
        s += f"btf_id {info.btf_id}"
    if frozen:
        s += "  frozen" if info.btf_id else "frozen"
    return s + "\n"


# ----------------------------------------------------------------------------- outputs


class Output:
    """The events of one command.  Subclasses write bpftool's bytes; the runner never
    formats output itself."""

    def element(
        self, info: MapInfo, key: Optional[bytes], value: bytes, formatted: Any = None
    ) -> None:
        """A lookup hit, a pop/peek/dequeue result."""
        raise NotImplementedError

    def lookup_miss(self, info: MapInfo, key: Optional[bytes]) -> None:
        raise NotImplementedError

    def empty_map(self) -> None:
        """pop/peek/dequeue on an empty queue/stack."""
        raise NotImplementedError

    def getnext(self, info: MapInfo, key: Optional[bytes], next_key: bytes) -> None:
        raise NotImplementedError

    def done(self) -> None:
        """A command that prints nothing in plain mode succeeded (update, delete,
        push, pin, freeze, create): JSON ``null``."""

    def begin_list(self) -> None:
        """A JSON root array opens (``map show`` of all maps or several maps, a dump
        of several maps); plain mode writes nothing."""

    def end_list(self) -> None:
        pass

    def show(
        self, info: MapInfo, fdinfo: dict[str, str], pinned: Optional[list[str]] = None
    ) -> None:
        raise NotImplementedError

    def dump_begin(self, info: MapInfo, header: bool, first: bool) -> None:
        raise NotImplementedError

    def dump_element(self, info: MapInfo, key: bytes, value: bytes, formatted: Any = None) -> None:
        raise NotImplementedError

    def dump_entry_error(self, info: MapInfo, key: bytes, err: int) -> None:
        raise NotImplementedError

    def dump_end(self, info: MapInfo, header: bool, count: int) -> None:
        raise NotImplementedError

    def dump_elements(self, chunk: str) -> None:
        """Elements of a dump as C formatted them (``bpfm_dump_print``): plain text, or
        compact JSON elements separated by ``,``."""
        raise NotImplementedError

    def error(self, message: str) -> None:
        """bpftool's ``p_err``."""
        raise NotImplementedError

    def diagnostic(self, message: str) -> None:
        """Something bpftool does not print (it fails silently there, or this is a
        hint on top of its message): stderr only, in both modes."""
        raise NotImplementedError

    def text(self, s: str) -> None:
        """Free text on stdout in plain mode (help, version); ignored in JSON mode."""

    def value(self, obj: Any) -> None:
        """A JSON value (version); ignored in plain mode."""

    def finish(self) -> None:
        """End of the command: JSON mode writes its document and a newline."""


class PlainOutput(Output):
    """bpftool's plain text: entries on ``out``, ``Error: ...`` on ``err``."""

    out: TextOut
    err: TextOut
    ncpus: int

    def __init__(self, out: TextOut, err: TextOut, ncpus: int) -> None:
        self.out, self.err, self.ncpus = out, err, ncpus

    def element(
        self, info: MapInfo, key: Optional[bytes], value: bytes, formatted: Any = None
    ) -> None:
        if formatted is not None:  # the BTF layout of the entry, text ready
            self.out.write(formatted)
            return
        from .bytes import format_entry  # start-up: a plain batch file prints nothing

        self.out.write(
            format_entry(
                key,
                value,
                info.key_size,
                info.value_size,
                percpu=info.raw_type in PERCPU_INTS,
                ncpus=self.ncpus,
            )
        )

    def lookup_miss(self, info: MapInfo, key: Optional[bytes]) -> None:
        from .bytes import format_bytes  # start-up: a plain batch file prints nothing

        self.out.write("key:\n" + format_bytes((key or b"")[: info.key_size]) + "\n\nNot found\n")

    def empty_map(self) -> None:
        self.out.write("Error: empty map\n")

    def getnext(self, info: MapInfo, key: Optional[bytes], next_key: bytes) -> None:
        from .bytes import format_bytes  # start-up: a plain batch file prints nothing

        if key is not None:
            self.out.write("key:\n" + format_bytes(key) + "\n")
        else:
            self.out.write("key: None\n")
        self.out.write("next key:\n" + format_bytes(next_key) + "\n")

    def show(
        self, info: MapInfo, fdinfo: dict[str, str], pinned: Optional[list[str]] = None
    ) -> None:
        self.out.write(show_plain(info, fdinfo, pinned))

    def dump_begin(self, info: MapInfo, header: bool, first: bool) -> None:
        # (bpftool's blank line between two maps' dumps is the caller's, as in do_dump)
        if header:
            self.out.write(_header_plain(info))

    def dump_element(self, info: MapInfo, key: bytes, value: bytes, formatted: Any = None) -> None:
        self.element(info, key, value, formatted)

    def dump_entry_error(self, info: MapInfo, key: bytes, err: int) -> None:
        if info.raw_type in FD_VALUE_INTS and (err == _errno.ENOENT):
            return
        from .bytes import format_bytes  # start-up: a plain batch file prints nothing

        msg = "<no entry>" if err == _errno.ENOENT else strerror(err)
        brk = info.key_size > 16 or len(msg) > 16
        single = info.key_size + len(msg) <= 24 and not brk
        sep = "\n" if brk else " "
        self.out.write(
            f"key:{sep}{format_bytes(key[: info.key_size])}"
            + ("  " if single else "\n")
            + f"value:{sep}{msg}\n"
        )

    def dump_end(self, info: MapInfo, header: bool, count: int) -> None:
        self.out.write(f"Found {count} element{'s' if count != 1 else ''}\n")

    def dump_elements(self, chunk: str) -> None:
        self.out.write(chunk)

    def error(self, message: str) -> None:
        self.err.write(f"Error: {message}\n")

    def diagnostic(self, message: str) -> None:
        self.err.write(f"Error: {message}\n")

    def text(self, s: str) -> None:
        self.out.write(s)


class JsonOutput(Output):
    """Collects the command's JSON values; :meth:`finish` writes them.  ``values``
    holds the top-level values (normally one); errors raised inside an open list
    land in that list, like bpftool's."""

    out: TextOut
    err: TextOut
    ncpus: int
    pretty: bool

    def __init__(self, out: TextOut, err: TextOut, ncpus: int, pretty: bool = False) -> None:
        self.out, self.err, self.ncpus, self.pretty = out, err, ncpus, pretty
        self.values: list[Any] = []
        #: the depth of the document's top level in the JSON written (2: a batch
        #: item's output), for text formatted elsewhere (the C dump's pretty elements)
        self.nest = 0
        self._stack: list[list[Any]] = []

    def _put(self, v: Any) -> None:
        (self._stack[-1] if self._stack else self.values).append(v)

    def element(
        self, info: MapInfo, key: Optional[bytes], value: bytes, formatted: Any = None
    ) -> None:
        self._put(element_json(info, key, value, self.ncpus, formatted))

    def lookup_miss(self, info: MapInfo, key: Optional[bytes]) -> None:
        self._put(None)

    def empty_map(self) -> None:
        self._put(None)

    def getnext(self, info: MapInfo, key: Optional[bytes], next_key: bytes) -> None:
        self._put(getnext_json(key, next_key))

    def done(self) -> None:
        self._put(None)

    def begin_list(self) -> None:
        lst: list[Any] = []
        self._put(lst)
        self._stack.append(lst)

    def end_list(self) -> None:
        self._stack.pop()

    def show(
        self, info: MapInfo, fdinfo: dict[str, str], pinned: Optional[list[str]] = None
    ) -> None:
        self._put(show_json(info, fdinfo, pinned))

    def dump_begin(self, info: MapInfo, header: bool, first: bool) -> None:
        elems: list[Any] = []
        if header:
            h = _header_json(info)
            h["elements"] = elems
            self._put(h)
        else:
            self._put(elems)
        self._stack.append(elems)

    def dump_element(self, info: MapInfo, key: bytes, value: bytes, formatted: Any = None) -> None:
        self.element(info, key, value, formatted)

    def dump_entry_error(self, info: MapInfo, key: bytes, err: int) -> None:
        if info.raw_type in FD_VALUE_INTS and (err == _errno.ENOENT):
            return
        self._put({"key": hex_json(key[: info.key_size]), "value": {"error": strerror(err)}})

    def dump_end(self, info: MapInfo, header: bool, count: int) -> None:
        self._stack.pop()

    def dump_elements(self, chunk: str) -> None:
        from ..json_writer import Raw  # start-up: JSON output only

        self._put(Raw(chunk))  # (the list's "," separates it from its neighbours)

    def error(self, message: str) -> None:
        self._put(error_json(message))

    def diagnostic(self, message: str) -> None:
        self.err.write(f"Error: {message}\n")

    def value(self, obj: Any) -> None:
        self._put(obj)

    def close_lists(self) -> None:
        self._stack.clear()

    def finish(self) -> None:
        self._stack.clear()
        from ..json_writer import JsonWriter  # start-up: JSON output only

        w = JsonWriter(self.pretty)
        for v in self.values:
            w.value(v)
        w.parts.append("\n")
        w.write_to(self.out)


def make_output(
    json: bool, pretty: bool, out: TextOut | None, err: TextOut | None, ncpus: int
) -> Output:
    """The Output for a runner's options."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if json:
        return JsonOutput(out, err, ncpus, pretty)
    return PlainOutput(out, err, ncpus)


def __getattr__(name: str) -> Any:
    """``Raw``, ``JsonWriter`` and ``render_json``, re-exported from
    :mod:`bpfmaps.json_writer` on first use (PEP 562): plain output never loads it."""
    if name in ("Raw", "JsonWriter", "render_json"):
        from ..json_writer import JsonWriter, Raw, render_json  # start-up: JSON output only

        value: Any = {"Raw": Raw, "JsonWriter": JsonWriter, "render_json": render_json}[name]
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
