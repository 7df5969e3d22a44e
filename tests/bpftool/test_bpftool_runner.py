"""The batch runner and CLI on the real kernel and on the fake kernel (same
expectations: contents, exit codes, failure reports), and differential tests
against bpftool (kernel only)."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import bulk, cli, parallel
from bpfmaps.bpftool.runner import Runner
from bpfmaps.loops import GenericLoops
from bpfmaps.testing import FakeKernel, fake_kernel
from bpfmaps.types import MapFlags, MapType

kernel = pytest.mark.kernel


class KMap:
    """A real map for a test (closed by the fixture)."""

    def __init__(self, kb, mtype, ks, vs, n, name=b"t", flags=0):
        self.kb = kb
        self.fd = kb.map_create(int(mtype), ks, vs, n, flags, name)
        assert self.fd >= 0, os.strerror(-self.fd)
        rc, self.info = kb.map_info(self.fd)
        self.id = self.info.id
        self.ks, self.vs = ks, vs

    def contents(self) -> dict:
        out, prev = {}, None
        kbuf, vbuf = self.kb.alloc(self.ks), self.kb.alloc(self.vs * 8 + 64)
        while (
            self.kb.map_get_next_key(self.fd, prev if prev is not None else self.kb.NULL, kbuf) == 0
        ):
            key = self.kb.tobytes(kbuf, self.ks)
            assert self.kb.map_lookup_elem(self.fd, key, vbuf, 0) == 0
            out[key] = self.kb.tobytes(vbuf, self.vs)
            prev = key
        return out

    def put(self, k: bytes, v: bytes):
        assert self.kb.map_update_elem(self.fd, k, v, 0) == 0

    def close(self):
        if self.fd >= 0:
            self.kb.close(self.fd)
            self.fd = -1


@pytest.fixture
def maps(backend):
    """Maps on the parametrized backend (fake and kernel); ``run`` uses the same one."""
    made = []

    def make(mtype=MapType.HASH, ks=4, vs=4, n=64, name=b"t"):
        m = KMap(backend, mtype, ks, vs, n, name)
        made.append(m)
        return m

    _backend.append(backend)
    yield make
    _backend.pop()
    for m in made:
        m.close()


_backend: list = []


def run(data: bytes, **kw):
    out, err = io.StringIO(), io.StringIO()
    if _backend and "backend" not in kw:
        kw["backend"] = _backend[-1]
    r = Runner(stdout=out, stderr=err, **kw)
    status = r.run_data(data, "batch.txt")
    return status, out.getvalue(), err.getvalue(), r


def b4(i: int) -> bytes:
    return i.to_bytes(4, "little")


def bytes_words(b: bytes) -> str:
    return " ".join(str(x) for x in b)


def test_updates_are_applied(maps):
    m = maps()
    lines = [
        f"map update id {m.id} key {bytes_words(b4(i))} value {bytes_words(b4(i * 3))}"
        for i in range(20)
    ]
    status, out, err, r = run(("\n".join(lines) + "\n").encode())
    assert (status, out, err) == (0, "processed 20 commands\n", "")
    assert m.contents() == {b4(i): b4(i * 3) for i in range(20)}


def test_syntax_error_applies_nothing(maps):
    m = maps()
    lines = [f"map update id {m.id} key {bytes_words(b4(i))} value 1 0 0 0" for i in range(10)]
    lines.insert(7, f"map update id {m.id} key 1 2 3 value 1 0 0 0")
    status, out, err, r = run(("\n".join(lines) + "\n").encode())
    assert status == 255 and out == ""
    assert (
        "batch.txt:8:" in err
        and "error parsing byte: value" in err
        and "nothing was applied" in err
    )
    assert m.contents() == {}
    # compat: incremental like bpftool, the 7 lines before it are applied
    status, out, err, r = run(("\n".join(lines) + "\n").encode(), compat=True)
    assert status == 255 and len(m.contents()) == 7 and r.processed == 7


def test_kernel_failure_stops_with_exact_report(maps):
    m = maps(n=4)
    lines = [f"map update id {m.id} key {bytes_words(b4(i))} value 1 0 0 0" for i in range(6)]
    lines.insert(2, "# a comment line")
    status, out, err, r = run(("\n".join(lines) + "\n").encode())
    assert status == (256 - 7) & 0xFF  # E2BIG: the map is full at the 5th update
    assert "batch.txt:6: update failed: Argument list too long" in err
    assert "4 command(s) before it were applied" in err
    assert r.failed_line == 6 and r.processed == 4
    assert set(m.contents()) == {b4(i) for i in range(4)}


def test_noexist_lookup_delete_and_outputs(maps):
    m = maps()
    m.put(b4(1), b4(10))
    data = (
        f"map update id {m.id} key 2 0 0 0 value 20 0 0 0 noexist\n"
        f"map lookup id {m.id} key 2 0 0 0\n"
        f"map getnext id {m.id}\n"
        f"map delete id {m.id} key 1 0 0 0\n"
        f"map update id {m.id} key 2 0 0 0 value 21 0 0 0 noexist\n"
    ).encode()
    status, out, err, r = run(data)
    assert status == (256 - 17) & 0xFF  # EEXIST
    assert out.startswith("key: 02 00 00 00  value: 14 00 00 00\n")
    assert "batch.txt:5: update failed: File exists" in err
    assert m.contents() == {b4(2): b4(20)}


def test_json_output(maps):
    m = maps()
    data = f"map update id {m.id} key 1 0 0 0 value 2 0 0 0\nmap lookup id {m.id} key 1 0 0 0\n".encode()
    status, out, err, r = run(data, json=True)
    assert status == 0
    doc = json.loads(out)
    assert doc[0] == {
        "command": [
            "map",
            "update",
            "id",
            str(m.id),
            "key",
            "1",
            "0",
            "0",
            "0",
            "value",
            "2",
            "0",
            "0",
            "0",
        ],
        "output": None,
    }
    assert doc[1]["output"] == {
        "key": ["0x01", "0x00", "0x00", "0x00"],
        "value": ["0x02", "0x00", "0x00", "0x00"],
    }


def test_dry_run_checks_without_writing(maps):
    m = maps()
    data = f"map update id {m.id} key 1 0 0 0 value 2 0 0 0\n".encode()
    status, out, err, r = run(data, dry_run=True)
    assert status == 0 and "1 commands parsed" in out and m.contents() == {}
    status, out, err, r = run(
        data + b"map update id 4294967295 key 1 0 0 0 value 1 0 0 0\n", dry_run=True
    )
    assert status == 255 and "get map by id (4294967295)" in err


def test_percpu_and_queue(maps, backend):
    pc = maps(MapType.PERCPU_HASH, 4, 4)
    q = maps(MapType.QUEUE, 0, 4)
    data = (
        f"map update id {pc.id} key 1 0 0 0 value 7 0 0 0\n"
        f"map push id {q.id} value 1 0 0 0\n"
        f"map push id {q.id} value 2 0 0 0\n"
        f"map pop id {q.id}\n"
    ).encode()
    status, out, err, r = run(data)
    assert status == 0, err
    assert out == "value: 01 00 00 00\nprocessed 4 commands\n"
    ncpus = backend.possible_cpus()
    buf = backend.alloc(8 * ncpus)
    assert backend.map_lookup_elem(pc.fd, b4(1), buf, 0) == 0
    raw = backend.tobytes(buf, 8 * ncpus)
    assert all(raw[i * 8 : i * 8 + 4] == b4(7) for i in range(ncpus))


@kernel
def test_create_and_pin_in_file(bpffs, kernel_backend):
    path = f"{bpffs}/m1"
    data = (
        f"map create {path} type hash key 4 value 4 entries 8 name created\n"
        f"map update pinned {path} key 1 0 0 0 value 5 0 0 0\n"
        f"map update pinned {path} key 2 0 0 0 value 6 0 0 0\n"
        f"map pin pinned {path} {bpffs}/m2\n"
        f"map lookup pinned {bpffs}/m2 key 2 0 0 0\n"
    ).encode()
    status, out, err, r = run(data)
    assert status == 0, err
    assert out == "key: 02 00 00 00  value: 06 00 00 00\nprocessed 5 commands\n"
    fd = kernel_backend.obj_get(f"{bpffs}/m2", 0)
    assert fd >= 0
    try:
        buf = kernel_backend.alloc(4)
        assert kernel_backend.map_lookup_elem(fd, b4(1), buf, 0) == 0
        assert kernel_backend.tobytes(buf, 4) == b4(5)
    finally:
        kernel_backend.close(fd)


def user_file(id1: int, id2: int, n: int = 512) -> bytes:
    """The StackOverflow user's format: decimal bytes mixed with 00, trailing spaces."""
    lines = []
    for i in range(n):
        k = i.to_bytes(2, "big")
        key = f"0 0 00 00 00 00 {k[0]} {k[1]}"
        lines.append(f"map update id {id1} key {key} value 10 0 0 1 10 89 0 4 " + "00 " * 24)
    lines.append(f"map update id {id2} key 10 89 0 4 00 00 00 00 value 0 0 00 00 00 00 00 00")
    return ("\n".join(lines) + "\n").encode()


def expected_user_value() -> bytes:
    return bytes([10, 0, 0, 1, 10, 89, 0, 4]) + bytes(24)


def test_user_scenario(maps):
    a = maps(MapType.HASH, 8, 32, 1024, b"a")
    b = maps(MapType.HASH, 8, 8, 16, b"b")
    status, out, err, r = run(user_file(a.id, b.id))
    assert (status, out, err) == (0, "processed 513 commands\n", "")
    ca = a.contents()
    assert len(ca) == 512 and set(ca.values()) == {expected_user_value()}
    assert bytes([0, 0, 0, 0, 0, 0, 1, 255]) in ca
    assert b.contents() == {bytes([10, 89, 0, 4, 0, 0, 0, 0]): bytes(8)}


@kernel
def test_cli_batch_and_single_commands(kernel_backend, tmp_path):
    m = KMap(kernel_backend, MapType.HASH, 4, 4, 64)
    try:
        _cli_subprocess(m, tmp_path)
    finally:
        m.close()


def _cli_subprocess(m, tmp_path):
    f = tmp_path / "b.txt"
    f.write_text(f"map update id {m.id} key 3 0 0 0 value 4 0 0 0\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    r = subprocess.run(
        [sys.executable, "-m", "bpfmaps", "batch", "file", str(f)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (r.returncode, r.stdout) == (0, "processed 1 commands\n"), r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bpfmaps",
            "-j",
            "map",
            "lookup",
            "id",
            str(m.id),
            "key",
            "3",
            "0",
            "0",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0 and json.loads(r.stdout)["value"] == ["0x04", "0x00", "0x00", "0x00"]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bpfmaps",
            "map",
            "lookup",
            "id",
            str(m.id),
            "key",
            "9",
            "0",
            "0",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 254 and "Not found" in r.stdout


# -- differential tests against the real bpftool -------------------------------------


def _bpftool(bpftool_bin, path):
    return subprocess.run([bpftool_bin, "batch", "file", str(path)], capture_output=True, text=True)


def _random_cmd(rng: random.Random, mid: int, mtype) -> str:
    key = (
        " ".join(str(rng.randrange(3)) for _ in range(4))
        if mtype == MapType.HASH
        else f"{rng.randrange(5)} 0 0 0"
    )
    vb = [rng.randrange(256) for _ in range(4)]
    val = " ".join(str(x) for x in vb)
    op = rng.choice(["update"] * 6 + ["updnx", "updex", "delete", "lookup", "getnext"])
    if op == "update":
        return f"map update id {mid} key {key} value {val}"
    if op == "updnx":
        return f"map update id {mid} key {key} value {val} noexist"
    if op == "updex":
        return f"map update id {mid} key {key} value hex {' '.join(f'{x:02x}' for x in vb)} exist"
    if op == "delete":
        return f"map delete id {mid} key {key}"
    if op == "lookup":
        return f"map lookup id {mid} key {key}"
    return f"map getnext id {mid} key {key}"


@kernel
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32), st.sampled_from([MapType.HASH, MapType.ARRAY]), st.integers(1, 40))
def test_differential_random_batches(bpftool_bin, kernel_backend, tmp_path_factory, seed, mtype, n):
    rng = random.Random(seed)
    # BPF_F_ZERO_SEED: both hash maps iterate in the same order (getnext output/status)
    flags = int(MapFlags.ZERO_SEED) if mtype == MapType.HASH else 0
    ma = KMap(kernel_backend, mtype, 4, 4, 6, flags=flags)
    mb = KMap(kernel_backend, mtype, 4, 4, 6, flags=flags)
    try:
        cmds = [_random_cmd(rng, 0, mtype) for _ in range(n)]
        d = tmp_path_factory.mktemp("diff")
        fa, fb = d / "a.txt", d / "b.txt"
        fa.write_text("".join(c.replace("id 0 ", f"id {ma.id} ") + "\n" for c in cmds))
        fb.write_text("".join(c.replace("id 0 ", f"id {mb.id} ") + "\n" for c in cmds))
        ref = _bpftool(bpftool_bin, fa)
        status, out, err, r = run(fb.read_bytes(), backend=kernel_backend)
        assert status == ref.returncode, (ref.stderr, err)
        assert ma.contents() == mb.contents()
        if status == 0:
            assert out == ref.stdout
    finally:
        ma.close()
        mb.close()


_junk = st.sampled_from(
    [
        "256",
        "-1",
        "08",
        "0x1ff",
        "''",
        "h",
        "hex",
        "value",
        "key",
        "x",
        "any",
        "'1'0",
        "18446744073709551616",
    ]
)


@kernel
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.integers(0, 2**32),
    st.lists(st.tuples(st.integers(0, 12), _junk), max_size=2),
    st.integers(2, 12),
)
def test_differential_compat_quirks(bpftool_bin, kernel_backend, tmp_path_factory, seed, edits, n):
    """--bpftool-compat matches bpftool on inputs with quirky tokens (same contents,
    same success/failure), except the stale-errno failure after an ERANGE byte."""
    rng = random.Random(seed)
    ma = KMap(kernel_backend, MapType.HASH, 4, 4, 64)
    mb = KMap(kernel_backend, MapType.HASH, 4, 4, 64)
    try:
        lines = [
            f"map update id 0 key {rng.randrange(4)} 0 0 0 value {rng.randrange(9)} 0 0 0"
            for _ in range(n)
        ]
        for idx, tok in edits:
            words = lines[idx % n].split()
            words[min(len(words) - 1, 5 + idx % 8)] = tok
            lines[idx % n] = " ".join(words)
        d = tmp_path_factory.mktemp("compat")
        fa, fb = d / "a.txt", d / "b.txt"
        fa.write_text("".join(c.replace("id 0 ", f"id {ma.id} ", 1) + "\n" for c in lines))
        fb.write_text("".join(c.replace("id 0 ", f"id {mb.id} ", 1) + "\n" for c in lines))
        ref = _bpftool(bpftool_bin, fa)
        status, out, err, r = run(fb.read_bytes(), compat=True, backend=kernel_backend)
        stale = "Numerical result out of range" in ref.stderr
        if stale:
            assert status == 0  # bpfmaps never reproduces the stale-errno false failure
        else:
            assert status == ref.returncode, (ref.stderr, err)
        assert ma.contents() == mb.contents()
    finally:
        ma.close()
        mb.close()


# -- long runs: the bulk engine (parallel where provably identical) ------------------


def _run_lines(mid: int, idx, ks: int = 4) -> bytes:
    return "".join(
        f"map update id {mid} key {bytes_words(i.to_bytes(ks, 'little'))} value {bytes_words(b4(i * 3))}\n"
        for i in idx
    ).encode()


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setattr(parallel, "_threads", lambda: 2)
    monkeypatch.setattr(parallel, "_running_tasks", lambda: 1)  # whatever else runs now


def test_long_run_parallel_same_contents(maps, two_threads):
    n = bulk.PARALLEL_MIN + 500
    a, b = maps(n=n), maps(n=n + 10)
    b.put(b4(10**6), b4(1))  # not empty: serial apply
    for m in (a, b):
        status, out, err, r = run(_run_lines(m.id, range(n)))
        assert (status, out, err) == (0, f"processed {n} commands\n", "")
    assert a.contents() == {b4(i): b4(i * 3) for i in range(n)}
    assert b.contents() == {**a.contents(), b4(10**6): b4(1)}


def test_long_run_failure_report(backend, two_threads):
    n = bulk.PARALLEL_MIN + 500
    m = KMap(backend, MapType.HASH, 4, 4, n - 7)
    try:
        data = b"# header\n" + _run_lines(m.id, range(n))
        status, out, err, r = run(data, backend=backend)
        assert status == (256 - 7) & 0xFF  # E2BIG at the (n-7)th update, line n-5
        assert f"batch.txt:{n - 5}: update failed: Argument list too long" in err
        assert f"{n - 7} command(s) before it were applied; it and the commands" in err
        assert r.processed == n - 7 and len(m.contents()) == n - 7
    finally:
        m.close()


class _ReversedLoops(GenericLoops):
    def update_batch_parts(self, fd, keys, values, ks, vs, parts, elem_flags=0, chunk=8192):
        out = super().update_batch_parts(fd, keys, values, ks, vs, parts[::-1], elem_flags, chunk)
        return out[::-1]


class _ReversedFake(FakeKernel):
    # parts last-first: a legal schedule of the kernel backend's threads

    @property
    def loops(self):
        return _ReversedLoops(self)


def test_parallel_failure_report_names_what_was_applied(two_threads):
    fk = _ReversedFake()
    n = bulk.PARALLEL_MIN + 500
    half = n // 2
    m = KMap(fk, MapType.HASH, 4, 4, n)
    try:
        # another writer fills the map meanwhile: the 100th update fails
        fk.inject(7, "map_update_batch", when=lambda ctx: ctx.key == b4(99))
        status, out, err, r = run(_run_lines(m.id, range(n)), backend=fk)
        assert status == (256 - 7) & 0xFF
        assert "batch.txt:100: update failed: Argument list too long" in err
        assert (
            f"99 command(s) before it were applied; it was not; {n - half} command(s) after "
            f"it were applied anyway by the parallel apply (lines {half + 1}-{n})" in err
        )
        assert r.processed == 99 + n - half
        assert set(m.contents()) == {b4(i) for i in [*range(99), *range(half, n)]}
    finally:
        m.close()


def test_cli_in_process_on_fake_kernel(tmp_path, capsys):
    with fake_kernel(check_leaks=True) as fk:
        m = KMap(fk, MapType.HASH, 4, 4, 3)
        try:
            f = tmp_path / "b.txt"
            f.write_bytes(_run_lines(m.id, range(2)))
            assert cli.main(["batch", "file", str(f)]) == 0
            assert capsys.readouterr().out == "processed 2 commands\n"
            assert cli.main(["map", "lookup", "id", str(m.id), "key", "1", "0", "0", "0"]) == 0
            assert capsys.readouterr().out == "key: 01 00 00 00  value: 03 00 00 00\n"
            assert (
                cli.main(["-j", "map", "lookup", "id", str(m.id), "key", "9", "0", "0", "0"]) == 254
            )
            capsys.readouterr()
            f.write_bytes(_run_lines(m.id, range(2, 6)))
            assert cli.main(["batch", "file", str(f)]) == (256 - 7) & 0xFF
            err = capsys.readouterr().err
            assert f"{f}:2: update failed: Argument list too long" in err
            assert "1 command(s) before it were applied" in err
            assert set(m.contents()) == {b4(0), b4(1), b4(2)}
        finally:
            m.close()


# -- runs of deletes / mixed commands ---------------------------------------------------


# "id" handles go through the C op stream; "name" handles through the Python parse
# path, whose short runs use the per-element C loop and long ones the batch engine.
HANDLES = ["id", "name"]


def _handle(m, how: str) -> str:
    return f"id {m.id}" if how == "id" else "name runfail"


@pytest.mark.parametrize("how", HANDLES)
@pytest.mark.parametrize("n", [3, 40])  # short run (per element) and engine run
def test_delete_run_failure_report(maps, n, how):
    m = maps(n=64, name=b"runfail")
    for i in range(n):
        m.put(b4(i), b4(i))
    missing = n // 2
    h = _handle(m, how)
    lines = [f"map delete {h} key {bytes_words(b4(i))}" for i in range(n) if i != missing]
    lines.insert(missing, f"map delete {h} key {bytes_words(b4(1000))}")
    status, out, err, r = run(("\n".join(lines) + "\n").encode())
    assert status == 254  # ENOENT, like bpftool
    assert f"batch.txt:{missing + 1}: delete failed: No such file or directory" in err
    assert f"{missing} command(s) before it were applied" in err
    assert r.processed == missing
    assert set(m.contents()) == {b4(i) for i in range(missing, n)}


@pytest.mark.parametrize("how", HANDLES)
@pytest.mark.parametrize("n", [3, 40])
def test_noexist_run_failure_report(maps, n, how):
    m = maps(n=64, name=b"runfail")
    m.put(b4(n // 2), b4(0))
    h = _handle(m, how)
    lines = [f"map update {h} key {bytes_words(b4(i))} value 1 0 0 0 noexist" for i in range(n)]
    status, out, err, r = run(("\n".join(lines) + "\n").encode())
    assert status == 239  # EEXIST
    assert f"batch.txt:{n // 2 + 1}: update failed: File exists" in err
    assert r.processed == n // 2
    assert m.contents()[b4(n // 2)] == b4(0) and len(m.contents()) == n // 2 + 1


def test_delete_run_on_array_fails_like_bpftool(maps):
    m = maps(MapType.ARRAY, n=64)
    lines = [f"map delete id {m.id} key {i} 0 0 0" for i in range(30)]
    status, out, err, r = run(("\n".join(lines) + "\n").encode())
    assert status == 234  # EINVAL: arrays cannot delete
    assert "batch.txt:1: delete failed: Invalid argument" in err and r.processed == 0


def _block_cmds(rng: random.Random, mtype, n: int) -> list[str]:
    """Blocks of one command kind (runs), like generated files: updates, noexist/exist
    updates, deletes, the odd lookup/getnext, some `key hex` lines."""
    cmds: list[str] = []
    while len(cmds) < n:
        op = rng.choice(["update", "updnx", "updex", "delete", "delete", "lookup", "getnext"])
        for _ in range(rng.choice([1, 2, 5, 20, 40]) if op not in ("lookup", "getnext") else 1):
            k = rng.randrange(24 if mtype == MapType.HASH else 8)
            key = f"hex {k:02x} 00 00 00" if rng.randrange(4) == 0 else f"{k} 0 0 0"
            val = " ".join(str(rng.randrange(256)) for _ in range(4))
            cmds.append(
                {
                    "update": f"map update id 0 key {key} value {val}",
                    "updnx": f"map update id 0 key {key} value {val} noexist",
                    "updex": f"map update id 0 key {key} value {val} exist",
                    "delete": f"map delete id 0 key {key}",
                    "lookup": f"map lookup id 0 key {key}",
                    "getnext": f"map getnext id 0 key {key}",
                }[op]
            )
    return cmds[:n]


@kernel
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.integers(0, 2**32),
    st.sampled_from([MapType.HASH, MapType.ARRAY]),
    st.integers(1, 200),
    st.booleans(),
)
def test_differential_runs_of_deletes_and_mixed(
    bpftool_bin, kernel_backend, tmp_path_factory, seed, mtype, n, compat
):
    """Files made of runs (deletes, noexist/exist updates, upserts, lookups) give the
    same contents, exit status and output as bpftool, in both modes."""
    rng = random.Random(seed)
    flags = int(MapFlags.ZERO_SEED) if mtype == MapType.HASH else 0
    ma = KMap(kernel_backend, mtype, 4, 4, 16, flags=flags)
    mb = KMap(kernel_backend, mtype, 4, 4, 16, flags=flags)
    try:
        for i in range(rng.randrange(12)):  # some keys present at the start
            k, v = b4(rng.randrange(24 if mtype == MapType.HASH else 8)), b4(i)
            ma.put(k, v)
            mb.put(k, v)
        cmds = _block_cmds(rng, mtype, n)
        d = tmp_path_factory.mktemp("runs")
        fa, fb = d / "a.txt", d / "b.txt"
        fa.write_text("".join(c.replace("id 0 ", f"id {ma.id} ") + "\n" for c in cmds))
        fb.write_text("".join(c.replace("id 0 ", f"id {mb.id} ") + "\n" for c in cmds))
        ref = _bpftool(bpftool_bin, fa)
        status, out, err, r = run(fb.read_bytes(), backend=kernel_backend, compat=compat)
        assert status == ref.returncode, (ref.stderr, err)
        assert ma.contents() == mb.contents()
        if status == 0:
            assert out == ref.stdout
        else:
            # same failing command: bpftool's "processed" count is not printed on
            # failure, so compare the stdout of the commands before it
            assert out == ref.stdout
    finally:
        ma.close()
        mb.close()


# -- op streams: mixed update/delete lines on several maps ------------------------------


def _mixed_stream(m1, m2, bad: str) -> tuple[list[str], int]:
    """Interleaved noexist updates / key-hex upserts / deletes on two maps, with one
    failing line (index returned) in the middle."""
    lines = []
    for i in range(12):
        lines.append(f"map update id {m1.id} key {bytes_words(b4(i))} value 1 0 0 {i} noexist")
        lines.append(f"map update id {m2.id} key hex {b4(i).hex(' ')} value hex 0a 00 00 {i:02x}")
        if i % 3 == 2:
            lines.append(f"map delete id {m1.id} key {bytes_words(b4(i - 1))}")
    at = 17
    if bad == "noexist":  # key 3 of m1 is already there
        lines.insert(at, f"map update id {m1.id} key {bytes_words(b4(3))} value 9 9 9 9 noexist")
    elif bad == "delete":  # key 1 of m1 was deleted on line 9
        lines.insert(at, f"map delete id {m1.id} key {bytes_words(b4(1))}")
    else:  # exist on a key m2 does not have yet
        lines.insert(at, f"map update id {m2.id} key {bytes_words(b4(50))} value 1 1 1 1 exist")
    return lines, at


@pytest.mark.parametrize("bad", ["noexist", "delete", "exist"])
def test_mixed_op_stream_failure_report(maps, bad):
    m1, m2 = maps(n=64), maps(n=64)
    lines, at = _mixed_stream(m1, m2, bad)
    data = ("\n".join(lines) + "\n").encode()
    from bpfmaps.bpftool import parse, scan

    if scan.available():  # the C scanner takes the whole file
        from bpfmaps.bpftool.runner import MapResolver

        res = MapResolver(_backend[-1])
        try:
            items = list(parse.parse_batch(data, res))
        finally:
            res.close()
        assert [type(it).__name__ for it in items] == ["OpBlock"]
        assert items[0].taken == items[0].count
    want = {
        "noexist": ("update failed: File exists", 239),
        "delete": ("delete failed: No such file or directory", 254),
        "exist": ("update failed: No such file or directory", 254),
    }[bad]
    for compat in (False, True):
        for m in (m1, m2):
            for k in m.contents():
                assert m.kb.map_delete_elem(m.fd, k) == 0
        status, out, err, r = run(data, compat=compat)
        assert status == want[1]
        assert f"batch.txt:{at + 1}: {want[0]}\n" in err
        assert f"  command: {lines[at]}\n" in err
        assert f"{at} command(s) before it were applied; it and the commands after it" in err
        assert r.processed == at and r.failed_line == at + 1
        # exactly the lines before it were applied, in order
        e1, e2 = {}, {}
        for line in lines[:at]:
            w = line.split()
            tgt = e1 if int(w[3]) == m1.id else e2
            hexed = w[5] == "hex"
            kw = w[6:10] if hexed else w[5:9]
            key = bytes(int(x, 16 if hexed else 10) for x in kw)
            if w[1] == "delete":
                del tgt[key]
            else:
                vw = w[12:16] if hexed else w[10:14]
                tgt[key] = bytes(int(x, 16 if hexed else 10) for x in vw)
        assert m1.contents() == e1 and m2.contents() == e2


def test_mixed_op_stream_json(maps):
    m1, m2 = maps(), maps()
    lines, at = _mixed_stream(m1, m2, "delete")
    status, out, err, r = run(("\n".join(lines[:at]) + "\n").encode(), json=True)
    assert status == 0 and err == ""
    got = json.loads(out)
    assert len(got) == at and all(x["output"] is None for x in got)
    assert got[3]["command"] == lines[3].split()


@kernel
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32), st.integers(1, 120), st.booleans())
def test_differential_interleaved_maps(
    bpftool_bin, kernel_backend, tmp_path_factory, seed, n, compat
):
    """Short blocks of updates (any/noexist/exist), deletes and the odd lookup on two
    maps (a hash map and an array), interleaved: the C op stream's territory.  Same
    contents, exit status and output as bpftool."""
    rng = random.Random(seed)
    types = (MapType.HASH, MapType.ARRAY)
    flags = (int(MapFlags.ZERO_SEED), 0)
    twins = [
        [KMap(kernel_backend, t, 4, 4, 16, flags=f) for t, f in zip(types, flags)] for _ in range(2)
    ]
    try:
        for i in range(rng.randrange(8)):
            k, v = b4(rng.randrange(8)), b4(i)
            for pair in twins:
                pair[0].put(k, v)
        per_map = [_block_cmds(rng, t, n) for t in types]
        cmds = []
        pos = [0, 0]
        while pos[0] < n or pos[1] < n:
            j = rng.randrange(2) if pos[0] < n and pos[1] < n else int(pos[0] >= n)
            take = rng.choice([1, 2, 3, 5])
            for c in per_map[j][pos[j] : pos[j] + take]:
                cmds.append((j, c))
            pos[j] += take
        d = tmp_path_factory.mktemp("interleaved")
        files = []
        for pair, name in zip(twins, ("a.txt", "b.txt")):
            f = d / name
            f.write_text("".join(c.replace("id 0 ", f"id {pair[j].id} ") + "\n" for j, c in cmds))
            files.append(f)
        ref = _bpftool(bpftool_bin, files[0])
        status, out, err, r = run(files[1].read_bytes(), backend=kernel_backend, compat=compat)
        assert status == ref.returncode, (ref.stderr, err)
        assert out == ref.stdout
        for a, b in zip(*twins):
            assert a.contents() == b.contents()
    finally:
        for pair in twins:
            for m in pair:
                m.close()


@pytest.mark.parametrize("pretty", [False, True])
@pytest.mark.parametrize("fast", [False, True])
def test_json_batch_layout_is_json_dumps(maps, pretty, fast):
    """The -j/-p batch output (words cut from the line spans of scanned lines, kept
    words of the reference's) is byte for byte what bpftool writes (compact: as
    json.dumps; -p: bpftool's json_writer layout), on both parse paths, including a
    failure at the end."""
    import json

    m = maps(n=64)
    lines = [f"map update id {m.id} key {i} 0 0 0 value {i} 1 1 1" for i in range(40)]
    lines += [
        f"map lookup id {m.id} key 3 0 0 0  # comment",
        f"map update id {m.id} key '4' 0 0 0 value 9 9 9 9",
        f"map getnext id {m.id}",
        f"map delete id {m.id} key 5 0 0 0",
        f"map update id {m.id} key 1 0 0 0 value 1 1 1 1 noexist",
    ]
    status, out, err, r = run(
        ("\n".join(lines) + "\n").encode(), json=True, pretty=pretty, fast=fast
    )
    assert status == 239 and err == ""
    items = json.loads(out)
    assert len(items) == 45
    assert items[0] == {"command": lines[0].split(), "output": None}
    assert items[40]["command"] == ["map", "lookup", "id", str(m.id), "key", "3", "0", "0", "0"]
    assert items[40]["output"] == {
        "key": ["0x03", "0x00", "0x00", "0x00"],
        "value": ["0x03", "0x01", "0x01", "0x01"],
    }
    assert items[41] == {"command": lines[41].replace("'", "").split(), "output": None}
    assert items[44] == {
        "command": lines[44].split(),
        "output": {"error": "update failed: File exists"},
    }
    if pretty:  # bpftool's json_writer layout (byte strings stay on one line)
        from bpfmaps.bpftool.output import render_json

        assert out == render_json(items, pretty=True) + "\n"
        assert '"value": ["0x03","0x01","0x01","0x01"\n' in out
    else:
        assert out == json.dumps(items, separators=(",", ":")) + "\n"


@pytest.mark.parametrize("bad", [None, "parse", "kernel"])
def test_two_pass_bounded_memory_mode(maps, monkeypatch, tmp_path, bad):
    """Files over CHUNKED_MIN are checked whole in a first pass, then parsed again and
    applied block by block: same results and reports as the one-pass mode."""
    from bpfmaps.bpftool import runner as runner_mod

    m = maps(n=4096)
    lines = [
        f"map update id {m.id} key {i % 256} {i // 256} 0 0 value 1 2 3 4" for i in range(3000)
    ]
    lines.insert(1500, "map show")  # a command between blocks
    if bad == "parse":
        lines.append(f"map update id {m.id} key 1 2 3 value 1 2 3 4")
    elif bad == "kernel":
        lines.append(f"map update id {m.id} key 1 0 0 0 value 1 2 3 4 noexist")
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    results = []
    for chunked in (False, True):
        for k in m.contents():
            assert m.kb.map_delete_elem(m.fd, k) == 0
        monkeypatch.setattr(runner_mod, "CHUNKED_MIN", 1 if chunked else 1 << 40)
        monkeypatch.setattr(runner_mod, "CHUNKED_BLOCK", 512)
        out, err = io.StringIO(), io.StringIO()
        r = Runner(_backend[-1], stdout=out, stderr=err)
        status = r.run_file(str(path))
        show = [x for x in out.getvalue().splitlines() if "processed" in x]
        results.append((status, show, err.getvalue(), m.contents()))
    assert results[0] == results[1]
    status, _, err, contents = results[1]
    if bad is None:
        assert status == 0 and len(contents) == 3000
    elif bad == "parse":
        assert status == 255 and "nothing was applied" in err and contents == {}
    else:
        assert status == 239 and "3001 command(s) before it were applied" in err


@pytest.mark.parametrize("ks,vs", [(4, 4), (1, 3), (8, 16), (8, 17), (17, 4), (3, 40), (16, 8)])
def test_lookup_output_fast_equals_python(maps, ks, vs):
    """Lookups and getnext printed by the C exec loop (kernel, scanned lines) are byte
    for byte what the Python path prints (bytes.format_entry), including a missing key."""
    m = maps(ks=ks, vs=vs, n=64)
    lines = []
    for i in range(20):
        key = " ".join(str((i * 7 + j) % 256) for j in range(ks))
        val = " ".join(str((i * 13 + j) % 256) for j in range(vs))
        lines.append(f"map update id {m.id} key {key} value {val}")
        lines.append(f"map lookup id {m.id} key {key}")
        lines.append(f"map getnext id {m.id} key {key}" if i % 3 else f"map getnext id {m.id}")
    missing = " ".join("255" for _ in range(ks))
    lines.append(f"map lookup id {m.id} key {missing}")
    data = ("\n".join(lines) + "\n").encode()
    results = []
    for fast in (True, False):
        for k in m.contents():
            assert m.kb.map_delete_elem(m.fd, k) == 0
        results.append(run(data, fast=fast)[:3])
    assert results[0] == results[1]
    # stops at a getnext past the last key or at the missing key (both ENOENT)
    assert results[0][0] == 254 and results[0][1].count("key:") >= 2


def test_resolver_errors_carry_bpftool_fields():
    """The resolver's ParseErrors say, as fields set by the constructor, where bpftool
    fails silently (a ``name`` that matches nothing) and the hint for EPERM."""
    import errno

    from bpfmaps.bpftool._safety import PRIV_HINT
    from bpfmaps.bpftool.parsed import Handle
    from bpfmaps.bpftool.resolve import MapResolver
    from bpfmaps.errors import ParseError

    plain = ParseError("x")
    assert plain.bpftool_silent is False and plain.bpftool_hint is None
    with fake_kernel() as fk:
        res = MapResolver(fk)
        with pytest.raises(ParseError) as ei:
            res.resolve_all(Handle("name", "no_such_map"))
        assert ei.value.bpftool_silent is True and ei.value.bpftool_hint is None

    class NoPerm:
        def map_get_fd_by_id(self, map_id: int, flags: int) -> int:
            return -errno.EPERM

    with pytest.raises(ParseError) as ei:
        MapResolver(NoPerm())(Handle("id", 7))  # type: ignore[arg-type]
    assert ei.value.bpftool_hint == PRIV_HINT and ei.value.bpftool_silent is False
