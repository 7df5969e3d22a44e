"""One in-kernel update program per run of chunks (``engine._RunProgs``): a ``m.batch()``
flush or a list ``update_many`` is cut into chunks of ``chunk_size`` elements; when the
group of consecutive update chunks into one map (same kind and flags) reaches the
program's threshold in all, ONE program is built and applies every chunk of the group,
and it is closed before ``run`` returns (also when it raises).  The reports and the map
contents are the syscall path's (hypothesis, real kernel)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfmaps import BatchError, Map, UpdateFlags, _kloops, _kprog
from bpfmaps import batch as transaction
from bpfmaps.types import MapFlags

pytestmark = pytest.mark.kernel

_MAPS = [("hash", 0), ("hash", MapFlags.NO_PREALLOC), ("array", 0)]


class _Spy:
    """Counts program builds, part runs and closes, and the most programs open at once."""

    def __init__(self, mp: pytest.MonkeyPatch, fail_at: int = 0) -> None:
        self.opened = self.parts = self.closed = self.open_now = self.most_open = 0
        self.fail_at = fail_at
        real_open, real_part, real_close = (
            _kprog.open_for,
            _kprog.ProgApply.part,
            _kprog.ProgApply.close,
        )
        spy = self

        def open_for(*a, **kw):
            p = real_open(*a, **kw)
            if p is not None:
                spy.opened += 1
                spy.open_now += 1
                spy.most_open = max(spy.most_open, spy.open_now)
            return p

        def part(self, *a, **kw):
            spy.parts += 1
            if spy.parts == spy.fail_at:
                raise KeyboardInterrupt
            return real_part(self, *a, **kw)

        def close(self):
            if self._p.prog_fd >= 0:  # the first close of this program
                spy.closed += 1
                spy.open_now -= 1
            real_close(self)

        mp.setattr(_kprog, "open_for", open_for)
        mp.setattr(_kprog.ProgApply, "part", part)
        mp.setattr(_kprog.ProgApply, "close", close)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _key(k: int) -> bytes:
    return k.to_bytes(4, "little")


def test_a_flush_builds_one_program_for_all_its_chunks(kernel_backend, monkeypatch):
    n = 5 * 8192 + 17  # 6 chunks of the default size, the group well over PROG_MIN_ANY
    for mtype, mflags in _MAPS:
        spy = _Spy(monkeypatch)
        with Map.create(mtype, 4, 32, n, flags=mflags, backend=kernel_backend) as m:
            before = _fds()
            with m.batch() as b:
                for k in range(n):
                    b[_key(k)] = bytes([k & 0xFF]) * 32
            assert b.result.applied == n and not b.result.fallback
            assert (spy.opened, spy.parts, spy.closed) == (1, 6, 1), mtype
            assert _fds() == before  # the program's fds are gone with the run
            raw = m.raw
            assert len(raw) == n
            for k in (0, 8191, 8192, n - 1):
                assert raw[_key(k)] == bytes([k & 0xFF]) * 32
        monkeypatch.undo()


def test_update_many_lists_and_flags_groups(kernel_backend, monkeypatch):
    """Lists go through the same run; NOEXIST chunks are their own group (their own
    threshold: PROG_MIN_FLAGS) and a group below the threshold builds nothing."""
    spy = _Spy(monkeypatch)
    with Map.create("hash", 4, 32, 40000, backend=kernel_backend) as m:
        keys = [_key(k) for k in range(30000)]
        m.update_many(keys, [b"\x01" * 32] * 30000)
        assert (spy.opened, spy.parts, spy.closed) == (1, 4, 1)
        with m.batch() as b:
            for k in range(30000, 36000):
                b.update(_key(k), b"\x02" * 32, UpdateFlags.NOEXIST)
            for k in range(100):  # a short upsert group after it: no program
                b[_key(k)] = b"\x03" * 32
        assert (spy.opened, spy.closed) == (2, 2)
        assert len(m.raw) == 36000 and m.raw[_key(0)] == b"\x03" * 32
        assert m.raw[_key(35999)] == b"\x02" * 32


def test_groups_of_a_transaction_have_at_most_one_program_open(kernel_backend, monkeypatch):
    spy = _Spy(monkeypatch)
    with (
        Map.create("hash", 4, 8, 70000, backend=kernel_backend) as a,
        Map.create("array", 4, 8, 70000, backend=kernel_backend) as c,
    ):
        with transaction() as tx:
            for k in range(20000):
                tx[a][_key(k)] = b"a" * 8
            for k in range(20000):
                tx[c][_key(k)] = b"c" * 8
            for k in range(20000, 40000):
                tx[a][_key(k)] = b"A" * 8
        assert (spy.opened, spy.closed, spy.most_open) == (3, 3, 1)
        assert len(a.raw) == 40000 and a.raw[_key(39999)] == b"A" * 8
        assert c.raw[_key(19999)] == b"c" * 8


def test_the_program_is_closed_when_the_run_raises(kernel_backend, monkeypatch):
    """A failing element (E2BIG: the hash map is full) and an exception inside a part
    (KeyboardInterrupt) both end run() with the program closed and no fd left."""
    spy = _Spy(monkeypatch)
    with Map.create("hash", 4, 8, 20000, backend=kernel_backend) as m:
        before = _fds()
        with pytest.raises(BatchError) as ei:
            m.update_many([_key(k) for k in range(30000)], [b"x" * 8] * 30000)
        assert ei.value.applied == 20000 and ei.value.index == 20000
        assert (spy.opened, spy.closed) == (1, 1) and _fds() == before
    monkeypatch.undo()
    spy = _Spy(monkeypatch, fail_at=2)
    with Map.create("hash", 4, 8, 40000, backend=kernel_backend) as m:
        before = _fds()
        with pytest.raises(KeyboardInterrupt):
            m.update_many([_key(k) for k in range(30000)], [b"x" * 8] * 30000)
        assert (spy.opened, spy.closed) == (1, 1) and _fds() == before
        assert len(m.raw) == 8192  # the first chunk, applied before the interrupt


_op = st.tuples(
    st.sampled_from(["set", "set", "set", "del", "upd"]),
    st.integers(0, 13),  # key (max_entries 10: E2BIG and full maps happen)
    st.integers(0, 255),
    st.sampled_from([UpdateFlags.ANY, UpdateFlags.NOEXIST, UpdateFlags.EXIST]),
)


def _outcome(m: Map, ops: list, on_error: str, chunk: int, pre: list) -> tuple:
    raw = m.raw
    for k in pre:
        raw[_key(k)] = bytes([k]) * 16
    try:
        with m.batch(on_error=on_error, chunk_size=chunk) as b:
            for op, k, v, flags in ops:
                if op == "set":
                    b[_key(k)] = bytes([v]) * 16
                elif op == "del":
                    del b[_key(k)]
                else:
                    b.update(_key(k), bytes([v]) * 16, flags)
        out: tuple = ("ok", b.result.applied, b.result.total)
    except BatchError as e:
        out = (
            "BatchError",
            e.applied,
            e.index,
            e.total,
            e.rolled_back,
            [(i, bytes(k), type(x).__name__) for i, k, x in e.errors],
            [t[0] for t in e.not_attempted],
            e.rollback_errors,
            getattr(e.__cause__, "errno", None),
        )
    return out, {bytes(k): bytes(v) for k, v in raw.items()}


@pytest.mark.parametrize("mtype, mflags", _MAPS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(_op, max_size=30),
    on_error=st.sampled_from(["stop", "continue", "rollback"]),
    chunk=st.integers(1, 6),
    pre=st.lists(st.integers(0, 9), max_size=4, unique=True),
)
def test_same_reports_and_contents_as_the_syscall(
    kernel_backend, monkeypatch, mtype, mflags, ops, on_error, chunk, pre
):
    """Thresholds at 1 (every group through one program, chunk after chunk) against
    thresholds out of reach (UPDATE_BATCH / UPDATE_ELEM): the same outcome."""
    got = []
    for least in (1, 1 << 40):
        with monkeypatch.context() as mp:
            mp.setattr(_kloops, "PROG_MIN_ANY", least)
            mp.setattr(_kloops, "PROG_MIN_FLAGS", least)
            spy = _Spy(mp)
            with Map.create(mtype, 4, 16, 10, flags=mflags, backend=kernel_backend) as m:
                got.append(_outcome(m, ops, on_error, chunk, pre))
            assert spy.opened == spy.closed
            if least > 1:
                assert spy.opened == 0
            elif ops and ops[0][0] != "del":  # the first group is applied: by a program
                assert spy.opened >= 1
    assert got[0] == got[1]
