"""Differential tests: bpfmaps' BTF-formatted CLI output vs the real bpftool, byte for byte.

The maps come from tests/btf/progs/btf_maps.bpf.c (compiled with clang, loaded with
``bpftool prog load ... pinmaps``: real BTF with structs, unions, bitfields, enums,
nested and char arrays, typedefs, per-CPU, LPM keys, floats, map-in-map, .data/.bss).
They are filled with random bytes, shaped so that char arrays are sometimes printable
strings (with quotes and backslashes), chars printable, bools 0/1 and enums named
values -- every branch of bpftool's btf_dumper.  Then plain, -j and -p output of every
command that prints keys/values must equal bpftool's.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import struct
import subprocess
import sys

import pytest

from bpfmaps import Map
from bpfmaps import btf as B
from bpfmaps.btf import Kind
from bpfmaps.cli import main
from bpfmaps.types import MapType

pytestmark = [pytest.mark.kernel, pytest.mark.bpftool]

SRC = os.path.join(os.path.dirname(__file__), "progs", "btf_maps.bpf.c")
PRINTABLE = bytes(range(0x20, 0x7F))
TRICKY = b"\"\\'ab c"

# every map of the fixture with BTF formatting (bt_floats has its own test)
BTF_MAPS = ["bt_values", "bt_bitmap", "bt_percpu", "bt_pcarray", "bt_lpm", "bt_strs", "o_data"]
PLAIN_MAPS = ["bt_queue", "bt_outer", "bt_houter", "bt_inner1"]


def _charlike(btf, tid) -> bool:
    t = btf.strip_cv(tid)
    return t.kind == Kind.INT and t.size == 1 and (t.is_char or t.name == "char")


def craft(btf, tid, buf: bytearray, off: int, rnd: random.Random, depth=0) -> None:
    """Shape random bytes at ``off`` so every dumper branch is hit."""
    if depth > 20:
        return
    t = btf.resolve(tid)
    k = t.kind
    if k == Kind.INT:
        if t.is_bool and rnd.random() < 0.7:
            buf[off] = rnd.randrange(2)
        elif t.size == 1 and (t.is_char or t.name == "char") and rnd.random() < 0.6:
            buf[off] = rnd.choice(PRINTABLE + TRICKY)
    elif k in (Kind.ENUM, Kind.ENUM64) and t.values and rnd.random() < 0.6:
        v = rnd.choice(t.values).value & ((1 << (8 * t.size)) - 1)
        buf[off : off + t.size] = v.to_bytes(t.size, "little")
    elif k == Kind.ARRAY:
        esz = btf.size_of(t.type_id)
        if _charlike(btf, t.type_id) and t.nelems and rnd.random() < 0.7:
            n = rnd.randrange(t.nelems)
            s = bytes(rnd.choice(PRINTABLE + TRICKY * 3) for _ in range(n))
            buf[off : off + n + 1] = s + b"\0"
        else:
            for i in range(t.nelems):
                craft(btf, t.type_id, buf, off + i * esz, rnd, depth + 1)
    elif k in (Kind.STRUCT, Kind.UNION):
        for m in t.members:
            if not m.bitfield_size and m.bit_offset % 8 == 0:
                craft(btf, m.type_id, buf, off + m.bit_offset // 8, rnd, depth + 1)
    elif k == Kind.DATASEC:
        for v in t.vars:
            craft(btf, v.type_id, buf, off + v.offset, rnd, depth + 1)
    elif k == Kind.VAR:
        craft(btf, t.type_id, buf, off, rnd, depth + 1)


def fill(path: str, rnd: random.Random, n: int = 6) -> list[bytes]:
    """Random entries into the map pinned at ``path``; returns the keys written."""
    with Map.from_pin(path) as m:
        info = m.info
        btf = B.load(m) if info.btf_id else None
        keys = []
        for i in range(min(n, info.max_entries)):
            if info.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):  # arrays: key i
                k = bytearray(i.to_bytes(4, "little"))
            else:
                k = bytearray(os.urandom(info.key_size))
                if btf is not None and info.btf_key_type_id:
                    craft(btf, info.btf_key_type_id, k, 0, rnd)
            if info.type == MapType.LPM_TRIE:  # prefixlen <= 32
                k[0:4] = rnd.randrange(33).to_bytes(4, "little")
            v = bytearray(os.urandom(m.value_buf_size))
            if btf is not None and info.btf_value_type_id:
                step = (info.value_size + 7) & ~7 if m.ncpus > 1 else info.value_size
                for c in range(m.ncpus):
                    craft(btf, info.btf_value_type_id, v, c * step, rnd)
            rc = m.backend.map_update_elem(m._fd(), bytes(k), bytes(v), 0)
            assert rc == 0, (path, rc)
            keys.append(bytes(k))
        return keys


def raw_keys(path: str) -> list[bytes]:
    with Map.from_pin(path) as m:
        be, fd, ks = m.backend, m._fd(), m.key_size
        kb = be.alloc(max(ks, 1))
        out: list[bytes] = []
        prev = be.NULL
        while be.map_get_next_key(fd, prev, kb) == 0 and len(out) < 1000:
            prev = be.tobytes(kb, ks)
            out.append(prev)
        return out


def fill_fd_maps(pins: dict) -> None:
    with Map.from_pin(pins["bt_inner2"]) as inner, Map.from_pin(pins["bt_houter"]) as h:
        h.backend.map_update_elem(h._fd(), struct.pack("<I", 7), struct.pack("<I", inner._fd()), 0)
    with Map.from_pin(pins["bt_queue"]) as q:
        for i in range(3):
            q.backend.map_update_elem(q._fd(), q.backend.NULL, bytes([i, 1, 2, 3]), 0)


def ours(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


def theirs(bpftool: str, args: list[str]) -> tuple[int, str, str]:
    r = subprocess.run([bpftool, *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def same(bpftool: str, args: list[str]) -> None:
    a = theirs(bpftool, args)
    b = ours(args)
    assert b[0] == a[0], (args, a, b)
    assert b[1] == a[1], f"stdout differs for {args}"
    assert b[2] == a[2], f"stderr differs for {args}"


@pytest.fixture(scope="module")
def pins(bpf_objects):
    p = bpf_objects.load(SRC)
    rnd = random.Random(12)
    for name in BTF_MAPS + ["bt_floats"]:
        fill(p[name], rnd)
    fill_fd_maps(p)
    return p


MODES = [[], ["-j"], ["-p"]]


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
@pytest.mark.parametrize("name", BTF_MAPS)
def test_dump_show(pins, bpftool_bin, name, mode):
    same(bpftool_bin, [*mode, "map", "dump", "pinned", pins[name]])
    same(bpftool_bin, [*mode, "map", "show", "pinned", pins[name]])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
@pytest.mark.parametrize("name", PLAIN_MAPS)
def test_dump_maps_without_btf(pins, bpftool_bin, name, mode):
    """Queue and map-in-map maps carry no BTF (libbpf 1.1): hex output, as bpftool."""
    same(bpftool_bin, [*mode, "map", "dump", "pinned", pins[name]])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
@pytest.mark.parametrize("name", BTF_MAPS)
def test_lookup(pins, bpftool_bin, name, mode):
    keys = raw_keys(pins[name])[:3]
    assert keys
    with Map.from_pin(pins[name]) as m:
        missing = b"\xee" * m.key_size
    for k in [*keys, missing]:
        hexkey = ["key", "hex", *[f"{b:02x}" for b in k]]
        same(bpftool_bin, [*mode, "map", "lookup", "pinned", pins[name], *hexkey])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
@pytest.mark.parametrize("name", BTF_MAPS)
def test_getnext(pins, bpftool_bin, name, mode):
    """getnext prints keys in hex even with BTF (bpftool 7.1)."""
    for k in raw_keys(pins[name])[:2]:
        hexkey = ["key", "hex", *[f"{b:02x}" for b in k]]
        same(bpftool_bin, [*mode, "map", "getnext", "pinned", pins[name], *hexkey])
    same(bpftool_bin, [*mode, "map", "getnext", "pinned", pins[name]])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
def test_queue_peek_pop(pins, bpftool_bin, mode):
    q = pins["bt_queue"]
    with Map.from_pin(q) as m:
        while (
            m.backend.map_lookup_and_delete_elem(m._fd(), m.backend.NULL, m.backend.alloc(4), 0)
            == 0
        ):
            pass
        for _ in range(2):
            m.backend.map_update_elem(m._fd(), m.backend.NULL, b"\x01\x02\x03\x04", 0)
    same(bpftool_bin, [*mode, "map", "peek", "pinned", q])
    same(bpftool_bin, [*mode, "map", "pop", "pinned", q])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
def test_dump_several_maps_by_name(bpf_objects, pins, bpftool_bin, mode):
    """A ``name`` handle matching two maps with BTF: bpftool's multi-map layout."""
    second = bpf_objects.load(SRC, key="copy")
    fill(second["bt_values"], random.Random(5), n=2)
    with Map.from_pin(pins["bt_values"]) as a, Map.from_pin(second["bt_values"]) as b:
        assert a.name == b.name
        name = a.name
    same(bpftool_bin, [*mode, "map", "dump", "name", name])


@pytest.mark.parametrize("seed", range(3))
def test_random_contents(bpf_objects, bpftool_bin, seed):
    """More random fills of the struct-heavy map, each compared in all modes."""
    p = bpf_objects.load(SRC, key=f"seed{seed}")
    rnd = random.Random(100 + seed)
    for name in ("bt_values", "bt_bitmap", "bt_strs", "bt_lpm"):
        fill(p[name], rnd, n=8)
        for mode in MODES:
            same(bpftool_bin, [*mode, "map", "dump", "pinned", p[name]])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
@pytest.mark.parametrize("what", [[], ["key"], ["value"], ["kv"], ["all"]])
def test_btf_dump_map(pins, bpftool_bin, mode, what):
    same(bpftool_bin, [*mode, "btf", "dump", "map", "pinned", pins["bt_values"], *what])
    same(bpftool_bin, [*mode, "btf", "dump", "map", "pinned", pins["bt_percpu"], *what])


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
def test_btf_dump_id_and_file(bpf_objects, pins, bpftool_bin, mode, tmp_path):
    with Map.from_pin(pins["bt_values"]) as m:
        bid = m.info.btf_id
    same(bpftool_bin, [*mode, "btf", "dump", "id", str(bid)])
    same(bpftool_bin, [*mode, "btf", "dump", "id", str(bid), "format", "raw"])
    obj = bpf_objects.compile(SRC, "_ffff", str(tmp_path))
    same(bpftool_bin, [*mode, "btf", "dump", "file", obj])


def test_float_is_valid_json(pins, bpftool_bin):
    """bpftool 7.1 prints ``(unsupported-kind`` for FLOAT (invalid JSON, and stops the
    struct); bpfmaps prints the value and the members after it."""
    p = pins["bt_floats"]
    with Map.from_pin(p) as m:
        be = m.backend
        kb, vb = be.alloc(4), be.alloc(m.value_buf_size)
        raw = {}
        prev = be.NULL
        while be.map_get_next_key(m._fd(), prev, kb) == 0:
            k = be.tobytes(kb, 4)
            be.map_lookup_elem(m._fd(), k, vb, 0)
            raw[struct.unpack("<I", k)[0]] = be.tobytes(vb, m.value_buf_size)
            prev = k
    rc, out, _ = theirs(bpftool_bin, ["-j", "map", "dump", "pinned", p])
    assert "(unsupported-kind" in out
    rc, out, _ = ours(["-j", "map", "dump", "pinned", p])
    assert rc == 0
    doc = json.loads(out)
    assert len(doc) == len(raw) > 0
    for el in doc:
        k = el["formatted"]["key"]
        f, d, after = struct.unpack("<fxxxxdi4x", raw[k])
        val = el["formatted"]["value"]
        for got, want in ((val["f"], f), (val["d"], d)):
            if want != want:
                assert got == "nan"
            elif want in (float("inf"), float("-inf")):
                assert got == ("inf" if want > 0 else "-inf")
            else:
                assert got == want
        assert val["after"] == after


def test_vmlinux_json_identical(bpftool_bin):
    """``bpfmaps -j btf dump file /sys/kernel/btf/vmlinux`` == bpftool's (every type,
    every member), compared parsed and as bytes."""
    rc_a, a, _ = theirs(bpftool_bin, ["-j", "btf", "dump", "file", B.VMLINUX_PATH])
    rc_b, b, _ = ours(["-j", "btf", "dump", "file", B.VMLINUX_PATH])
    assert rc_a == rc_b == 0
    assert b == a
    ja = json.loads(a)
    assert len(ja["types"]) == len(B.vmlinux()) - 1 > 10000


def test_vmlinux_plain_identical(bpftool_bin):
    rc_a, a, _ = theirs(bpftool_bin, ["btf", "dump", "file", B.VMLINUX_PATH])
    rc_b, b, _ = ours(["btf", "dump", "file", B.VMLINUX_PATH])
    assert rc_a == rc_b == 0
    assert b == a


def _spy_dump_map(monkeypatch) -> list:
    """Every cprint.dump_map call of the runner: (args, result)."""
    from bpfmaps.bpftool import cprint

    calls: list = []
    real = cprint.dump_map

    def spy(*args):
        r = real(*args)
        calls.append((args, r))
        return r

    monkeypatch.setattr(cprint, "dump_map", spy)
    return calls


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
@pytest.mark.parametrize("name", BTF_MAPS)
def test_btf_dumps_are_walked_in_c(pins, bpftool_bin, monkeypatch, name, mode):
    """A map with BTF dumps through its compiled program, in one C walk that takes
    every key, and prints bpftool's bytes."""
    calls = _spy_dump_map(monkeypatch)
    same(bpftool_bin, [*mode, "map", "dump", "pinned", pins[name]])
    assert len(calls) == 1, calls
    args, (done, err, count, _steps, _last) = calls[0]
    assert args[8] is not None  # the program (cprint.FormatRun)
    assert (done, err, count) == (True, 0, len(raw_keys(pins[name])))


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
def test_several_btf_maps_are_walked_in_c(bpf_objects, pins, bpftool_bin, monkeypatch, mode):
    """``map dump name X`` of several maps (a header object each): one C walk a map."""
    calls = _spy_dump_map(monkeypatch)
    test_dump_several_maps_by_name(bpf_objects, pins, bpftool_bin, mode)
    assert len(calls) >= 2 and all(a[8] is not None for a, _ in calls)


def test_a_float_map_dumps_through_the_python_dumper(pins, bpftool_bin, monkeypatch):
    """FLOAT is our deliberate difference (bpftool stops there): its program declines
    and the Python dumper prints the values."""
    calls = _spy_dump_map(monkeypatch)
    rc, out, _ = ours(["-j", "map", "dump", "pinned", pins["bt_floats"]])
    assert rc == 0 and calls == []
    assert json.loads(out)[0]["formatted"]["value"] is not None


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
@pytest.mark.parametrize("name", ["bt_values", "bt_percpu"])
def test_a_stop_signal_hands_the_btf_walk_to_python(
    bpf_objects, bpftool_bin, monkeypatch, name, mode
):
    """A stop signal after the C walk's first chunk: it returns before its next
    syscall and the Python walk goes on from its last key, with bpftool's bytes."""
    from bpfmaps.bpftool import cprint
    from bpfmaps.kernel import stop_set

    p = bpf_objects.load(SRC, key="stop")
    if not raw_keys(p[name]):
        fill(p[name], random.Random(3), n=64)
    real = cprint.dump_map
    seen: list = []

    def interrupted(*a):
        emit = a[6]

        def emit_then_stop(chunk):  # as if SIGINT came after the first chunk
            emit(chunk)
            stop_set(2)

        try:
            r = real(*a[:6], emit_then_stop, *a[7:])
        finally:
            stop_set(0)
        seen.append(r)
        return r

    monkeypatch.setattr(cprint, "DUMP_BUF", 256)  # a few entries a chunk
    monkeypatch.setattr(cprint, "dump_map", interrupted)
    same(bpftool_bin, [*mode, "map", "dump", "pinned", p[name]])
    assert seen and seen[0][0] is False and 0 < seen[0][2] < len(raw_keys(p[name]))


def _lookup_file(tmp_path, pins, names) -> str:
    """A batch file of lookups of the first keys of each map, then a key not there."""
    lines = []
    for name in names:
        for k in raw_keys(pins[name])[:3]:
            lines.append(f"map lookup pinned {pins[name]} key hex {k.hex(' ')}")
    last = pins[names[0]]
    with Map.from_pin(last) as m:
        lines.append(f"map lookup pinned {last} key hex {('ee ' * m.key_size).strip()}")
    path = tmp_path / "lookups.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
def test_batch_lookups_of_btf_maps(pins, bpftool_bin, tmp_path, monkeypatch, mode):
    """A batch file's lookups on maps with BTF print bpftool's bytes (stdout, exit
    status); the C loop runs them and they print by the maps' programs (plain: in
    the loop; -j: the JSON writer's C items, or with -p its Python items): only the
    failed lookup at the end reaches the Python handler.  The float map's program
    declines: its lookups are the handler's."""
    from bpfmaps.bpftool.commands import Commands

    names = [n for n in BTF_MAPS if n != "o_data"]
    path = _lookup_file(tmp_path, pins, names)
    reached: list = []
    real = Commands._do_lookup

    def spy(self, c):
        reached.append(c.map.info.name)
        return real(self, c)

    monkeypatch.setattr(Commands, "_do_lookup", spy)
    a, b = theirs(bpftool_bin, [*mode, "batch", "file", path]), ours([*mode, "batch", "file", path])
    assert (b[0], b[1]) == (a[0], a[1])
    with Map.from_pin(pins[names[0]]) as first:
        assert reached == [first.name]  # (per-CPU maps' too, in -j: "values" in C)
    reached.clear()
    floats = _lookup_file(tmp_path, pins, ["bt_floats"])
    assert ours([*mode, "batch", "file", floats])[0] != 0
    assert len(reached) == len(raw_keys(pins["bt_floats"])[:3]) + 1


def _update_lookup_file(tmp_path, pins, names, lookups: bool) -> str:
    """A batch file of updates of the first keys of each map (crafted values), each
    followed by a lookup of that key when ``lookups``, then (with lookups) a key not
    there."""
    rnd = random.Random(5)
    btfs: dict = {}
    lines = []
    for name in names:
        with Map.from_pin(pins[name]) as m:
            info = m.info
            btf = btfs.setdefault(name, B.load(m))
            for k in raw_keys(pins[name])[:3]:
                v = bytearray(os.urandom(info.value_size))
                craft(btf, info.btf_value_type_id, v, 0, rnd)
                lines.append(
                    f"map update pinned {pins[name]} key hex {k.hex(' ')} value hex {v.hex(' ')}"
                )
                if lookups:
                    lines.append(f"map lookup pinned {pins[name]} key hex {k.hex(' ')}")
    if lookups:
        with Map.from_pin(pins[names[0]]) as m:
            lines.append(
                f"map lookup pinned {pins[names[0]]} key hex {('ee ' * m.key_size).strip()}"
            )
    path = tmp_path / ("updates-lookups.txt" if lookups else "updates.txt")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


_UPDATABLE = ["bt_values", "bt_bitmap", "bt_strs", "bt_lpm"]  # (no per-CPU map: values)


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
def test_updates_then_lookups_of_btf_maps(pins, bpftool_bin, tmp_path, monkeypatch, mode):
    """Updates and lookups interleaved on maps with BTF: bpftool's bytes; each map's
    BTF program is compiled once, at its first lookup (the updates before it run in C
    without it), and every lookup but the failed last one prints in C."""
    from bpfmaps.bpftool.commands import Commands
    from bpfmaps.bpftool.execute import BlockExecutor

    path = _update_lookup_file(tmp_path, pins, _UPDATABLE, lookups=True)
    compiled: list = []
    real_run = BlockExecutor._fmt_run
    monkeypatch.setattr(
        BlockExecutor, "_fmt_run", lambda self, m: compiled.append(m.info.name) or real_run(self, m)
    )
    reached: list = []
    real = Commands._do_lookup
    monkeypatch.setattr(Commands, "_do_lookup", lambda self, c: reached.append(c) or real(self, c))
    a, b = theirs(bpftool_bin, [*mode, "batch", "file", path]), ours([*mode, "batch", "file", path])
    assert (b[0], b[1]) == (a[0], a[1])
    names = []
    for n in _UPDATABLE:
        with Map.from_pin(pins[n]) as m:
            names.append(m.name)
    assert compiled == names
    assert len(reached) == 1  # the key that is not there


def test_updates_of_btf_maps_load_no_btf(pins, tmp_path):
    """A batch file of updates only, on maps with BTF, prints nothing formatted, so
    it reads no BTF: no bpfmaps.btf module is imported (a fresh interpreter: about
    10 ms of start-up, typing and enum among them)."""
    path = _update_lookup_file(tmp_path, pins, _UPDATABLE, lookups=False)
    code = (
        "import sys\n"
        "from bpfmaps.cli import main\n"
        f"rc = main(['batch', 'file', {path!r}])\n"
        "print(rc, sorted(m for m in sys.modules if m.startswith('bpfmaps.btf')))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
        env={**os.environ, "PYTHONPATH": root},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    with open(path) as f:
        n = len(f.read().splitlines())
    assert r.stdout.splitlines() == [f"processed {n} commands", "0 []"], r.stdout


def _exec_file(tmp_path, pin: str, n: int) -> str:
    """``n`` updates of keys 0..n-1 (crafted values), each followed by a lookup of its
    key: a block long enough for the in-kernel exec program (EXEC_MIN)."""
    rnd = random.Random(9)
    with Map.from_pin(pin) as m:
        info, btf = m.info, B.load(m)
    lines = []
    for i in range(n):
        k = i.to_bytes(4, "little").hex(" ")
        v = bytearray(os.urandom(info.value_size))
        craft(btf, info.btf_value_type_id, v, 0, rnd)
        lines.append(f"map update pinned {pin} key hex {k} value hex {v.hex(' ')}")
        lines.append(f"map lookup pinned {pin} key hex {k}")
    path = tmp_path / "exec.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class _ExecSpy:
    """The ``lookups`` each exec program was asked for, and the programs built."""

    def __init__(self, monkeypatch) -> None:
        from bpfmaps import _kexec, _kloops

        self.asked: list = []
        self.progs: list = []
        real_open, real_for = _kloops.KernelLoops.open_exec_prog, _kexec.open_for

        def open_exec_prog(lp, fds, infos, ops, count, outside=0, lookups=None):
            self.asked.append(None if lookups is None else list(lookups))
            return real_open(lp, fds, infos, ops, count, outside, lookups)

        def open_for(*a, **kw):
            p = real_for(*a, **kw)
            if p is not None:
                self.progs.append(p)
            return p

        monkeypatch.setattr(_kloops.KernelLoops, "open_exec_prog", open_exec_prog)
        monkeypatch.setattr(_kexec, "open_for", open_for)


@pytest.mark.parametrize("mode", MODES, ids=["plain", "j", "p"])
def test_btf_lookups_run_in_the_exec_program(bpf_objects, bpftool_bin, tmp_path, monkeypatch, mode):
    """Updates and lookups on a map with BTF and no special fields, long enough for
    the in-kernel exec program: the program looks the keys up (values copied whole:
    what the syscall returns for such a value), C prints them by the map's BTF
    program, and the output is bpftool's."""
    from bpfmaps._kloops import EXEC_MIN

    pin = bpf_objects.load(SRC)["bt_many"]
    with Map.from_pin(pin) as m:
        assert not B.load(m).has_special_fields(m.info.btf_value_type_id)
    n = EXEC_MIN
    path = _exec_file(tmp_path, pin, n)
    spy = _ExecSpy(monkeypatch)
    a, b = theirs(bpftool_bin, [*mode, "batch", "file", path]), ours([*mode, "batch", "file", path])
    assert b == a
    assert spy.asked == [[True]]
    assert len(spy.progs) == 1 and spy.progs[0].looked == n  # every lookup by the program


def test_lookups_of_a_value_with_a_spin_lock_keep_the_syscall(
    bpf_objects, bpftool_bin, tmp_path, monkeypatch
):
    """A value with a bpf_spin_lock: the syscall zeroes the lock in the copy it
    returns, so the exec program is not asked to look its keys up, and the output is
    bpftool's."""
    from bpfmaps._kloops import EXEC_MIN

    pin = bpf_objects.load(SRC)["bt_locked"]
    with Map.from_pin(pin) as m:
        assert B.load(m).has_special_fields(m.info.btf_value_type_id)
    path = _exec_file(tmp_path, pin, EXEC_MIN)
    spy = _ExecSpy(monkeypatch)
    a, b = theirs(bpftool_bin, ["batch", "file", path]), ours(["batch", "file", path])
    assert b == a and '"lock": {' in b[1]
    assert spy.asked == [[False]]
    assert all(p.looked == 0 for p in spy.progs)


def test_an_update_only_block_asks_no_btf_lookups(bpf_objects, tmp_path, monkeypatch):
    """A long block of updates on a map with BTF (flags alternating, so no run: the
    exec loop's), with no lookup to print: the exec program takes the updates, and the
    map's BTF is not read for it."""
    from bpfmaps._kloops import EXEC_MIN
    from bpfmaps.bpftool.state import Reports

    pin = bpf_objects.load(SRC)["bt_many"]
    path = _exec_file(tmp_path, pin, EXEC_MIN)
    with open(path) as f:
        ups = [x.rstrip("\n") for x in f if x.startswith("map update")]
    with open(path, "w") as f:
        f.write("".join(f"{x}\n{x} exist\n" for x in ups))
    read: list = []
    real = Reports._btf_of
    monkeypatch.setattr(
        Reports, "_btf_of", lambda self, info: read.append(info) or real(self, info)
    )
    spy = _ExecSpy(monkeypatch)
    assert ours(["batch", "file", path]) == (0, f"processed {2 * len(ups)} commands\n", "")
    assert read == [] and spy.asked == [[False]]
    assert len(spy.progs) == 1 and spy.progs[0].applied == 2 * len(ups)
