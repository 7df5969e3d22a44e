"""``map dump`` walked and formatted in C (``cprint.dump_map``, ``bpfm_dump_print``) for maps
that hold no fds, per-CPU maps among them (maps with BTF: tests/btf/test_btf_cli.py): stdout
is bpftool's byte for byte (plain, ``-j``, ``-jp``; one map, several maps of one name with
their headers, a big map whose entries fill the output buffer many times; read by
LOOKUP_BATCH, and on by GET_NEXT_KEY where a batch call is refused), and a stop signal in
the C walk hands the rest of it to the Python walk with the same output."""

from __future__ import annotations

import io
import os
import subprocess
import uuid

import pytest

from bpfmaps.bpftool.runner import Runner
from bpfmaps.kernel import KernelBackend, stop_set
from bpfmaps.types import PERCPU_INTS, possible_cpus

pytestmark = pytest.mark.kernel

KB = KernelBackend()
MODES = {"plain": [], "json": ["-j"], "pretty": ["-j", "-p"]}


def _ours(words, opts, fast=True):
    out, err = io.StringIO(), io.StringIO()
    r = Runner(stdout=out, stderr=err, json="-j" in opts, pretty="-p" in opts, fast=fast)
    rc = r.run_words(words)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def one_name():
    """(name, [fd of a hash map (key 8, value 32, 40 entries), fd of an array (key 4,
    value 8), fd of a per-CPU hash map (key 4, value 6, 3 entries)]): three maps of one
    fresh name, closed after the test."""
    name = "dc" + uuid.uuid4().hex[:10]
    fds = [
        KB.map_create(1, 8, 32, 64, 0, name.encode()),
        KB.map_create(2, 4, 8, 4, 0, name.encode()),
        KB.map_create(5, 4, 6, 8, 0, name.encode()),
    ]
    assert min(fds) >= 0
    _fill(fds[0], 40, 8, 32)
    _fill(fds[2], 3, 4, 6, percpu=True)
    yield name, fds
    for fd in fds:
        KB.close(fd)


def _fill(fd, n, ks, vs, percpu=False):
    keys = b"".join(i.to_bytes(ks, "little") for i in range(n))
    per = possible_cpus() * ((vs + 7) & ~7) if percpu else vs  # a per-CPU value's bytes
    rc, done = KB.map_update_batch(fd, keys, os.urandom(per * n), n, 0, 0)
    assert (rc, done) == (0, n)


@pytest.mark.parametrize("mode", list(MODES))
def test_two_maps_of_one_name_as_bpftool(bpftool_bin, mode, one_name):
    words = ["map", "dump", "name", one_name[0]]
    want = subprocess.run([bpftool_bin, *MODES[mode], *words], capture_output=True, text=True)
    assert want.returncode == 0, want.stderr
    assert _ours(words, MODES[mode]) == (0, want.stdout, "")


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(
    "shape",
    [
        (1, 8, 32, 30000),
        (2, 4, 4, 20000),
        (9, 16, 200, 8000),
        (5, 8, 12, 6000),
        (6, 4, 20, 3000),
        (10, 4, 3, 4000),
    ],
)
def test_a_big_map_as_bpftool(bpftool_bin, mode, shape):
    """Hash, array and LRU hash maps, and their per-CPU kinds (values of up to 16 bytes
    on the CPU's line, longer ones in rows below it; sizes not a multiple of 8);
    30000 entries of 8+32 bytes fill the 1 MiB output buffer several times (in JSON
    more)."""
    t, ks, vs, n = shape
    fd = KB.map_create(t, ks, vs, n, 0, b"dump_c")
    try:
        _fill(fd, n, ks, vs, percpu=t in PERCPU_INTS)
        mid = KB.map_info(fd)[1].id
        words = ["map", "dump", "id", str(mid)]
        want = subprocess.run([bpftool_bin, *MODES[mode], *words], capture_output=True, text=True)
        assert want.returncode == 0, want.stderr
        got = _ours(words, MODES[mode])
        assert got == (0, want.stdout, "")
        assert got == _ours(words, MODES[mode], fast=False)  # (the Python walk)
    finally:
        KB.close(fd)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("map_type", [1, 5])
def test_a_stop_signal_hands_the_walk_to_python(monkeypatch, mode, map_type):
    """The C walk returns -EINTR before its next syscall when a stop signal is pending;
    the Python walk then goes on from the last key: the output is the same (a hash map
    and a per-CPU one)."""
    from bpfmaps.bpftool import cprint

    fd = KB.map_create(map_type, 8, 32, 5000, 0, b"dump_c")
    try:
        _fill(fd, 5000, 8, 32, percpu=map_type in PERCPU_INTS)
        words = ["map", "dump", "id", str(KB.map_info(fd)[1].id)]
        want = _ours(words, MODES[mode])
        real = cprint.dump_map
        seen = []

        def interrupted(*a, **kw):
            emit = a[6]
            calls = []

            def emit_then_stop(chunk):  # after the first chunk: as if SIGINT came
                emit(chunk)
                calls.append(1)
                stop_set(2)

            try:
                r = real(*a[:6], emit_then_stop, *a[7:], **kw)
            finally:
                stop_set(0)
            seen.append(r)
            return r

        monkeypatch.setattr(cprint, "DUMP_BUF", 1 << 16)  # several chunks
        monkeypatch.setattr(cprint, "dump_map", interrupted)
        got = _ours(words, MODES[mode])
        assert seen and seen[0][0] is False and 0 < seen[0][2] < 5000  # stopped midway
        assert got == want
    finally:
        KB.close(fd)


@pytest.mark.parametrize("mode", list(MODES))
def test_dumps_in_a_batch_file_as_bpftool(bpftool_bin, tmp_path, mode, one_name):
    """A batch file's dumps (one map, then the two maps of one name): their elements
    sit two levels deeper in the JSON array (an item's output), as bpftool lays them."""
    name, fds = one_name
    mid = KB.map_info(fds[0])[1].id
    path = tmp_path / "f.txt"
    path.write_text(
        f"map dump id {mid}\nmap lookup id {mid} key hex 01 00 00 00 00 00 00 00\n"
        f"map dump name {name}\n"
    )
    want = subprocess.run(
        [bpftool_bin, *MODES[mode], "batch", "file", str(path)], capture_output=True, text=True
    )
    assert want.returncode == 0, want.stderr
    out, err = io.StringIO(), io.StringIO()
    r = Runner(stdout=out, stderr=err, json="-j" in MODES[mode], pretty="-p" in MODES[mode])
    assert (r.run_file(str(path)), out.getvalue()) == (0, want.stdout), err.getvalue()


@pytest.mark.parametrize("mode", list(MODES))
def test_a_per_cpu_dump_is_walked_in_c(monkeypatch, mode):
    """A per-CPU map's dump goes to the C walk with the possible CPUs, which takes every
    entry (the Python walk is left nothing): it is not a silent fall-back."""
    from bpfmaps.bpftool import cprint

    fd = KB.map_create(5, 4, 8, 600, 0, b"dump_pc")
    try:
        _fill(fd, 500, 4, 8, percpu=True)
        real, seen = cprint.dump_map, []

        def spy(*a, **kw):
            r = real(*a, **kw)
            seen.append((a[3], r[:3]))
            return r

        monkeypatch.setattr(cprint, "dump_map", spy)
        rc, out, err = _ours(["map", "dump", "id", str(KB.map_info(fd)[1].id)], MODES[mode])
        assert (rc, err) == (0, "")
        assert seen == [(possible_cpus(), (True, 0, 500))]
    finally:
        KB.close(fd)


BATCH_SHAPES = [(1, 8, 32, 9000), (2, 4, 8, 5000), (5, 8, 12, 3000), (6, 4, 20, 3000),
                (9, 16, 40, 3000), (10, 4, 3, 2000)]  # fmt: skip


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_dumps_read_the_map_by_lookup_batch(bpftool_bin, monkeypatch, mode, shape):
    """Hash, array, per-CPU and LRU maps dump through LOOKUP_BATCH (one call for
    DUMP_BATCH entries, here made small so that there are many calls) and print
    bpftool's bytes: the batches give the entries in GET_NEXT_KEY's order."""
    from bpfmaps.bpftool import cprint

    t, ks, vs, n = shape
    fd = KB.map_create(t, ks, vs, n, 0, b"dump_b")
    try:
        _fill(fd, n, ks, vs, percpu=t in PERCPU_INTS)
        words = ["map", "dump", "id", str(KB.map_info(fd)[1].id)]
        want = subprocess.run([bpftool_bin, *MODES[mode], *words], capture_output=True, text=True)
        monkeypatch.setattr(cprint, "DUMP_BATCH", 97)
        calls, refused = cprint.dump_batch_calls
        assert _ours(words, MODES[mode]) == (0, want.stdout, "")
        made = cprint.dump_batch_calls[0] - calls
        if cprint.dump_batch_calls[1] == refused:  # (a hash bucket fuller than 97: refused)
            assert made >= n // 97
        assert made >= 1
    finally:
        KB.close(fd)


@pytest.mark.parametrize("mode", list(MODES))
def test_a_refused_batch_walks_on_from_the_last_entry(bpftool_bin, monkeypatch, mode):
    """LOOKUP_BATCH of a hash map with room for one entry fails (ENOSPC) at the first
    bucket holding two (4000 keys in 4096 buckets have such buckets; where the first
    is depends on the map's hash seed): the dump goes on by GET_NEXT_KEY from the last
    entry printed (none when it was the first call), with bpftool's bytes."""
    from bpfmaps.bpftool import cprint

    fd = KB.map_create(1, 8, 16, 4000, 0, b"dump_r")
    try:
        _fill(fd, 4000, 8, 16)
        monkeypatch.setattr(cprint, "DUMP_BATCH", 1)
        words = ["map", "dump", "id", str(KB.map_info(fd)[1].id)]
        want = subprocess.run([bpftool_bin, *MODES[mode], *words], capture_output=True, text=True)
        calls, refused = cprint.dump_batch_calls
        assert _ours(words, MODES[mode]) == (0, want.stdout, "")
        assert cprint.dump_batch_calls[1] == refused + 1
        assert cprint.dump_batch_calls[0] > calls
    finally:
        KB.close(fd)


@pytest.mark.parametrize("mode", ["json", "pretty"])
def test_a_big_dump_in_a_batch_file_is_written_in_parts(bpftool_bin, tmp_path, monkeypatch, mode):
    """-j batch file: an item holding a big dump (its C chunks) is written part by part
    (no join, no copy of its text), with bpftool's bytes around and between the items."""
    from bpfmaps.bpftool.jsonbatch import _ITEM_BIG, JsonBatch
    from bpfmaps.json_writer import JsonWriter

    fd = KB.map_create(1, 8, 32, 8192, 0, b"dc_big")
    assert fd >= 0
    try:
        _fill(fd, 6000, 8, 32)
        mid = KB.map_info(fd)[1].id
        path = tmp_path / "f.txt"
        path.write_text(
            f"map lookup id {mid} key hex 01 00 00 00 00 00 00 00\nmap dump id {mid}\n" * 2
        )
        items: list = []
        real = JsonBatch._item
        monkeypatch.setattr(
            JsonBatch, "_item", lambda self, o: items.append(real(self, o)) or items[-1]
        )
        want = subprocess.run(
            [bpftool_bin, *MODES[mode], "batch", "file", str(path)], capture_output=True, text=True
        )
        assert want.returncode == 0, want.stderr
        out, err = io.StringIO(), io.StringIO()
        r = Runner(stdout=out, stderr=err, json=True, pretty="-p" in MODES[mode])
        assert (r.run_file(str(path)), out.getvalue()) == (0, want.stdout), err.getvalue()
    finally:
        KB.close(fd)
    big = [x for x in items if type(x) is JsonWriter]
    assert len(big) == 2 and all(sum(map(len, w.parts)) >= _ITEM_BIG for w in big)
