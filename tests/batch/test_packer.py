"""bpfmaps._pack: the C packing behind ``m.batch()`` on raw maps and ``encode_many``.

A raw map's batch buffers exact ``bytes`` pairs in C (no Python frame per write); any
other pair moves the batch to the Python lists once.  Both paths must give the same
contents, counts and reports as each other, in program order.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import types

import pytest
from batch_helpers import k8, v32
from hypothesis import given, settings
from hypothesis import strategies as st

import bpfmaps
from bpfmaps import BatchError, CodecError, KeyNotFoundError, _pack, codecs
from bpfmaps._pack import BatchBase, Packer, pack, pairs
from bpfmaps.batching import MapBatch
from bpfmaps.codecs import Raw, encode_many


class _B(bytes):
    pass


def contents(m):
    raw = m.raw
    return {k: raw[k] for k in raw}


def test_pack_takes_only_exact_bytes_of_the_size():
    assert pack([b"ab", b"cd"], 2) == b"abcd"
    assert pack((b"ab",), 2) == b"ab"
    assert pack([], 5) == b""
    assert pack([b"ab", b"c"], 2) is None
    assert pack([b"ab", b"cde"], 2) is None
    assert pack([bytearray(b"ab")], 2) is None
    assert pack([_B(b"ab")], 2) is None
    assert pack([b"ab", 7], 2) is None
    with pytest.raises(TypeError):
        pack(iter([b"ab"]), 2)  # type: ignore[arg-type]
    seq = [b"ab", b"cd", b"e", b"fg"]
    assert pack(seq, 2, 0, 2) == b"abcd" and pack(seq, 2, 3) == b"fg"
    assert pack(seq, 2, 3, 99) == b"fg" and pack(seq, 2, 9, 12) == b""
    assert pack(seq, 2, 1, 3) is None
    with pytest.raises(ValueError):
        pack(seq, 2, -1, 2)


def test_update_many_lists_report_the_callers_keys(mk):
    """Raw keys packed in C (no copy kept): a failure still names the key, in the
    chunk after the first, and the keys not attempted."""
    m = mk("hash", 8, 32, 10)
    keys = [k8(i) for i in range(12)]
    with pytest.raises(BatchError) as ei:
        m.update_many(keys, [v32(i) for i in range(12)], chunk_size=4)
    e = ei.value
    assert (e.applied, e.index, e.key) == (10, 10, k8(10))
    assert [k for _, _, k in e.not_attempted] == [k8(11)]
    assert len(m) == 10


def test_encode_many_reports_what_pack_declines():
    raw = Raw(4)
    assert encode_many([b"abcd", bytearray(b"efgh")], raw, 4) == b"abcdefgh"
    with pytest.raises(
        CodecError, match=r"value #11 \(b.efg.\): value must be exactly 4 bytes, got 3"
    ):
        encode_many([b"abcd", b"efg"], raw, 4, "value", 10)


def test_packer_grows_takes_and_keeps_no_references():
    spilled: list[tuple[object, object]] = []
    p = Packer(8, 32, lambda k, v: spilled.append((k, v)))
    keys = [k8(i) for i in range(5000)]
    refs = sys.getrefcount(keys[7])
    for i, k in enumerate(keys):
        p.append(k, v32(i))
    assert len(p) == 5000 and not spilled
    after = sys.getrefcount(keys[7])
    assert after == refs  # copied, not referenced
    p.append(b"short", v32(0))
    p.append(k8(1), bytearray(32))
    assert [k for k, _ in spilled] == [b"short", k8(1)] and len(p) == 5000
    kb, vb, n = p.take()
    assert n == 5000 and bytes(kb) == b"".join(keys)
    assert bytes(vb) == b"".join(v32(i) for i in range(5000))
    assert len(p) == 0 and p.take() == (bytearray(), bytearray(), 0)
    p.append(k8(9), v32(9))
    assert p.take()[2] == 1


def test_packer_growth_across_blocks_keeps_every_byte():
    """The buffers grow by blocks (1024, 1024, 2048, 4096, then 8192 pairs, each full
    one faulted in at once with MADV_POPULATE_WRITE): across the blocks, take() joins
    exactly what was appended, in order."""
    n = 3 * 16384 + 4099  # several steps, a doubling inside a step, an odd tail
    p = Packer(4, 24, lambda k, v: None)
    for i in range(n):
        p.append(i.to_bytes(4, "little"), (i * 2654435761 % 2**64).to_bytes(8, "little") * 3)
    kb, vb, m = p.take()
    assert m == n and len(kb) == 4 * n and len(vb) == 24 * n
    assert bytes(kb) == b"".join(i.to_bytes(4, "little") for i in range(n))
    assert bytes(vb) == b"".join(
        (i * 2654435761 % 2**64).to_bytes(8, "little") * 3 for i in range(n)
    )


def test_raw_batch_writes_through_c_typed_batch_through_python(mk):
    """The coverage check of the fast path: ``b[k] = v`` and ``del b[k]`` on a MapBatch
    are BatchBase's C mapping slot (a Python __setitem__/__delitem__ on MapBatch would
    replace it: a speed bug), and a raw map's batch packs; codecs use the lists."""
    assert "__setitem__" not in vars(MapBatch) and "__delitem__" not in vars(MapBatch)
    assert MapBatch.__setitem__ is BatchBase.__setitem__
    assert isinstance(BatchBase.__setitem__, types.WrapperDescriptorType)
    raw = mk("hash", 8, 32, 10)
    typed = mk("hash", 8, 8, 10, key="Q", value="Q")
    with raw.batch() as b, typed.batch() as t:
        assert type(b) is MapBatch and b._packing
        assert type(t) is MapBatch and not t._packing
        b[k8(1)] = v32(1)
        t[1] = 2
        assert b._pk_n == 1 and t._keys == [1] and t._vals == [2]
    assert contents(raw) == {k8(1): v32(1)} and typed[1] == 2


@pytest.mark.parametrize("at", [0, 2, 5])
@pytest.mark.parametrize("odd", [bytearray, _B])
def test_spill_keeps_program_order_and_reports(mk, at, odd):
    """One pair that is not exact bytes, at position ``at``: the batch moves to the
    lists there; order, counts and the failure report are those of the lists."""
    m = mk("hash", 8, 32, 100)
    ops = [("set", 0), ("set", 1), ("del", 0), ("set", 2), ("set", 3), ("set", 4)]
    with pytest.raises(BatchError) as ei, m.batch() as b:
        for i, (op, n) in enumerate(ops):
            key = odd(k8(n)) if i == at else k8(n)
            if op == "set":
                b[key] = v32(n)
            else:
                del b[key]
        assert b._packing is False
        del b[k8(9)]
        assert len(b) == 7
    e = ei.value
    assert (e.applied, e.index, e.key, e.total) == (6, 6, k8(9), 7)
    assert isinstance(e.__cause__, KeyNotFoundError)
    assert contents(m) == {k8(n): v32(n) for n in (1, 2, 3, 4)}


def test_wrong_size_after_packed_items_applies_nothing(mk):
    m = mk("hash", 8, 32, 100)
    with (
        pytest.raises(
            CodecError, match=r"value #2 \(b.short.\): value must be exactly 32 bytes, got 5"
        ),
        m.batch() as b,
    ):
        b[k8(0)] = v32(0)
        b.update(k8(1), v32(1))
        b[k8(2)] = b"short"
        b[k8(3)] = v32(3)
    assert len(m) == 0


def test_packed_batch_flushes_discards_and_counts_across_flushes(mk):
    m = mk("hash", 8, 32, 100)
    with pytest.raises(BatchError) as ei, m.batch() as b:
        for i in range(3):
            b[k8(i)] = v32(i)
        assert len(b) == 3 and b.flush().applied == 3 and len(b) == 0
        b[k8(10)] = v32(10)
        assert b.discard() == 1 and len(b) == 0
        b[k8(4)] = v32(4)
        del b[k8(50)]
    assert (ei.value.index, ei.value.applied) == (4, 1)  # 3 flushed, 1 discarded
    assert b.result.applied == 4 and b.result.total == 5
    assert contents(m) == {k8(i): v32(i) for i in (0, 1, 2, 4)}


def test_pack_build_is_current():
    """bpfmaps._pack is built from this checkout's bpfmaps/_pack.c (a stale or foreign
    build fails here, naming the fix), with the ABI bpfmaps.codecs checks at import."""
    src = os.path.join(os.path.dirname(bpfmaps.__file__), "_pack.c")
    with open(src, "rb") as f:
        text = f.read()
    digest = hashlib.sha256(text).hexdigest()
    assert digest == _pack.SOURCE_SHA256, (
        f"{_pack.__file__} was not built from {src}: run `python build_ffi.py`"
    )
    abi = re.search(rb"#define BPFM_PACK_ABI (\d+)", text)
    assert abi is not None and int(abi.group(1)) == _pack.ABI == codecs.PACK_ABI


def test_missing_or_stale_pack_is_an_import_error_naming_the_fix(tmp_path):
    """No silent slower path: without a current bpfmaps._pack, importing bpfmaps.codecs
    fails with a message that says to run build_ffi.py."""
    pkg = os.path.dirname(bpfmaps.__file__)
    for body in ("raise ImportError('no')", "ABI = 1\npack = None"):
        (tmp_path / "sitecustomize.py").write_text(
            "import sys, types, importlib.abc, importlib.machinery\n"
            "class F(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'bpfmaps._pack':\n"
            "            return importlib.machinery.ModuleSpec(name, L())\n"
            "class L(importlib.abc.Loader):\n"
            "    def create_module(self, spec): return None\n"
            f"    def exec_module(self, mod): exec({body!r}, mod.__dict__)\n"
            "sys.meta_path.insert(0, F())\n"
        )
        env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.path.dirname(pkg)}")
        r = subprocess.run(
            [sys.executable, "-c", "import bpfmaps.codecs"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode != 0
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("ImportError: bpfmaps._pack") and "build_ffi.py" in last, last


@settings(max_examples=200, deadline=None)
@given(
    ks=st.integers(0, 9),
    vs=st.integers(0, 9),
    data=st.data(),
)
def test_pairs_matches_the_python_split(ks, vs, data):
    """pairs() (items() on raw maps) gives what splitting both buffers and zipping
    gives, kept pairs stay intact (the reused tuple is never one the caller holds),
    and too short buffers are a ValueError."""
    cnt = data.draw(st.integers(0, 40))
    kb = data.draw(st.binary(min_size=ks * cnt, max_size=ks * cnt + 3))
    vb = data.draw(st.binary(min_size=vs * cnt, max_size=vs * cnt + 3))
    want = [(kb[i * ks : (i + 1) * ks], vb[i * vs : (i + 1) * vs]) for i in range(cnt)]
    assert list(pairs(kb, vb, ks, vs, cnt)) == want  # every tuple kept
    seen = [(k, v) for k, v in pairs(kb, vb, ks, vs, cnt)]  # tuples dropped: reused
    assert seen == want
    it = pairs(kb, vb, ks, vs, cnt)
    held = next(it, None)
    rest = list(it)
    assert ([held] if cnt else []) + rest == want
    if ks and cnt:
        with pytest.raises(ValueError):
            pairs(kb[: ks * cnt - 1], vb, ks, vs, cnt)
    with pytest.raises(TypeError):
        pairs(bytearray(kb), vb, ks, vs, cnt)  # type: ignore[arg-type]


def test_items_of_a_raw_map_come_from_pairs(mk):
    m = mk("hash", 8, 32, 100)
    for i in range(50):
        m[k8(i)] = v32(i)
    got = list(m.items(batch_size=7))
    assert sorted(got) == sorted((k8(i), v32(i)) for i in range(50))
    assert all(type(k) is bytes and type(v) is bytes for k, v in got)
