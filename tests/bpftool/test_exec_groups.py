"""The batch-file C loop's batch calls (``bpfm_exec_print``: consecutive upserts or
deletes on one hash/array map as one UPDATE_BATCH / DELETE_BATCH) against the same
loop running every op as its own syscall, on the kernel: same output, exit status,
failure report (line, errno) and final map contents, including failures in the
middle of a group (map full, array index out of range, a missing key)."""

from __future__ import annotations

import io
import os

import pytest

from bpfmaps.bpftool import cprint
from bpfmaps.bpftool.runner import Runner
from bpfmaps.types import MapType

pytestmark = pytest.mark.kernel


def _k(i: int, ks: int) -> str:
    return " ".join(str(b) for b in i.to_bytes(ks, "little"))


class _Maps:
    def __init__(self, kb) -> None:
        self.kb = kb
        self.fds: list[int] = []

    def make(self, mtype: MapType, ks: int, vs: int, n: int, flags: int = 0) -> int:
        fd = self.kb.map_create(int(mtype), ks, vs, n, flags, b"grp")
        assert fd >= 0, os.strerror(-fd)
        self.fds.append(fd)
        return self.kb.map_info(fd)[1].id

    def contents(self, mid: int) -> dict:
        fd = next(f for f in self.fds if self.kb.map_info(f)[1].id == mid)
        info = self.kb.map_info(fd)[1]
        out, prev = {}, None
        kbuf, vbuf = self.kb.alloc(info.key_size), self.kb.alloc(info.value_size * 8 + 64)
        while self.kb.map_get_next_key(fd, prev if prev is not None else self.kb.NULL, kbuf) == 0:
            key = self.kb.tobytes(kbuf, info.key_size)
            if self.kb.map_lookup_elem(fd, key, vbuf, 0) == 0:
                out[key] = self.kb.tobytes(vbuf, info.value_size)
            prev = key
            if info.type == MapType.ARRAY and len(out) >= info.max_entries:
                break
        return out

    def close(self) -> None:
        for fd in self.fds:
            self.kb.close(fd)


def _run(kb, make_file, grouped: bool, monkeypatch):
    """(status, stdout, stderr, contents of every map) of one run."""
    if not grouped:
        monkeypatch.setattr(cprint, "_BATCH_UPDATE", frozenset())
        monkeypatch.setattr(cprint, "_BATCH_DELETE", frozenset())
    maps = _Maps(kb)
    try:
        text, mids = make_file(maps)
        out, err = io.StringIO(), io.StringIO()
        r = Runner(kb, stdout=out, stderr=err)
        status = r.run_data(text.encode(), "f")
        text_out, text_err = out.getvalue(), err.getvalue()
        for k, m in enumerate(mids):
            text_out = text_out.replace(f"id {m} ", f"id M{k} ")
            text_err = text_err.replace(f"id {m} ", f"id M{k} ")
        got = (status, text_out, text_err)
        return got, [maps.contents(m) for m in mids], r.processed
    finally:
        maps.close()
        monkeypatch.undo()


def _hash_mixed(maps):
    a = maps.make(MapType.HASH, 4, 4, 64)
    lines = []
    for b in range(6):
        lines += [f"map update id {a} key {_k(5 * b + j, 4)} value {_k(b, 4)}\n" for j in range(5)]
        lines += [f"map delete id {a} key {_k(5 * b + j, 4)}\n" for j in range(3)]
        lines.append(f"map lookup id {a} key {_k(5 * b + 4, 4)}\n")
        lines.append(f"map lookup id {a} key {_k(5 * b + 3, 4)}\n")
    return "".join(lines), [a]


def _hash_full(maps):  # the 5th upsert of a group finds the map full (E2BIG)
    a = maps.make(MapType.HASH, 4, 4, 4)
    lines = [f"map update id {a} key {_k(i, 4)} value 1 0 0 0\n" for i in range(7)]
    return "".join(lines), [a]


def _array_range(maps):  # the 3rd upsert of a group is out of range (E2BIG)
    a = maps.make(MapType.ARRAY, 4, 8, 4)
    lines = [f"map update id {a} key {_k(i, 4)} value {_k(i, 8)}\n" for i in (0, 1, 9, 2, 3)]
    return "".join(lines), [a]


def _delete_missing(maps):  # the 3rd delete of a group finds no key (ENOENT)
    a = maps.make(MapType.HASH, 4, 4, 16)
    lines = [f"map update id {a} key {_k(i, 4)} value 2 0 0 0\n" for i in range(6)]
    lines += [f"map delete id {a} key {_k(i, 4)}\n" for i in (0, 1, 7, 2, 3)]
    return "".join(lines), [a]


def _percpu(maps):
    a = maps.make(MapType.PERCPU_HASH, 4, 8, 16)
    lines = [f"map update id {a} key {_k(i, 4)} value {_k(i, 8)}\n" for i in range(5)]
    lines += [f"map delete id {a} key {_k(i, 4)}\n" for i in range(3)]
    return "".join(lines), [a]


def _two_maps(maps):  # groups break at a map change and at other flags
    a = maps.make(MapType.HASH, 4, 4, 16)
    b = maps.make(MapType.LRU_HASH, 4, 4, 16)
    lines = []
    for i in range(12):
        m = a if (i // 3) % 2 == 0 else b
        flag = " noexist" if i % 5 == 4 else ""
        lines.append(f"map update id {m} key {_k(i % 7, 4)} value {_k(i, 4)}{flag}\n")
    return "".join(lines), [a, b]


@pytest.mark.parametrize(
    "make_file", [_hash_mixed, _hash_full, _array_range, _delete_missing, _percpu, _two_maps]
)
def test_grouped_is_the_single_op_loop(kernel_backend, monkeypatch, make_file):
    grouped = _run(kernel_backend, make_file, True, monkeypatch)
    single = _run(kernel_backend, make_file, False, monkeypatch)
    assert grouped == single


def test_group_failure_report(kernel_backend, monkeypatch):
    """The failing op of a group is reported at its own line with its errno, the ops
    before it are applied and none after it."""
    (status, out, err), (contents,), processed = _run(
        kernel_backend, _delete_missing, True, monkeypatch
    )
    assert status != 0
    assert processed == 8  # 6 upserts + the deletes of keys 0 and 1
    assert "f:9: delete failed" in err and "No such file or directory" in err, err
    assert sorted(contents) == [i.to_bytes(4, "little") for i in (2, 3, 4, 5)]
