"""Fault injection into the bpftool runner (issue 9): a backend wrapper fails,
raises, freezes the map or delivers a signal at chosen calls, on the real kernel;
after every injected fault the runner's report must be true of the map contents
(and it must never print a traceback)."""

from __future__ import annotations

import errno
import io

import pytest
from faultfile import FaultFile, check_report

from bpfmaps import parallel
from bpfmaps.bpftool.runner import Runner
from bpfmaps.testing.inject import FaultyBackend

pytestmark = pytest.mark.kernel


class Maps:
    def __init__(self, kb):
        self.kb = kb
        self.fds = [kb.map_create(1, 4, 8, 1 << 15, 0, n) for n in (b"fa", b"fb")]
        assert min(self.fds) >= 0
        self.ids = tuple(kb.map_info(fd)[1].id for fd in self.fds)
        for k, v in FaultFile.initial()[1].items():
            assert kb.map_update_elem(self.fds[1], k, v, 0) == 0

    def contents(self):
        out = []
        for fd in self.fds:
            d, prev = {}, None
            kbuf, vbuf = self.kb.alloc(4), self.kb.alloc(8)
            while self.kb.map_get_next_key(fd, self.kb.NULL if prev is None else prev, kbuf) == 0:
                k = self.kb.tobytes(kbuf, 4)
                assert self.kb.map_lookup_elem(fd, k, vbuf, 0) == 0
                d[k] = self.kb.tobytes(vbuf, 8)
                prev = k
            out.append(d)
        return tuple(out)

    def close(self):
        for fd in self.fds:
            self.kb.close(fd)


@pytest.fixture(autouse=True)
def two_threads(monkeypatch):
    monkeypatch.setattr(parallel, "_threads", lambda: 2)
    monkeypatch.setattr(parallel, "_running_tasks", lambda: 1)  # whatever else runs now


def run_once(kb, plan=()):
    maps = Maps(kb)
    try:
        ff = FaultFile(maps.ids)
        be = FaultyBackend(kb)
        for p in plan:
            be.at(*p)
        out, err = io.StringIO(), io.StringIO()
        status = Runner(be, stdout=out, stderr=err, progress=False).run_data(ff.data, "f")
        kind = check_report(ff, status, err.getvalue(), maps.contents())
        return be, status, kind, err.getvalue()
    finally:
        maps.close()


def test_clean_run_uses_every_shape(kernel_backend):
    be, status, kind, _ = run_once(kernel_backend)
    assert (status, kind) == (0, "success")
    # runs go to the batch engine, everything else to the one exec loop (exec_ops),
    # queries to the element commands
    for method in ("update_batch_parts", "map_update_batch", "exec_ops",
                   "map_lookup_elem", "map_get_next_key"):  # fmt: skip
        assert be.calls[method] >= 1, (method, be.calls)


_OPENS = ("map_get_fd_by_id", "prog_get_fd_by_id", "obj_get", "map_create", "dup")


def _plans(kb):
    be, *_ = run_once(kb)
    out = []
    for method, n in sorted(be.calls.items()):
        if method in ("close", "alloc", "tobytes", "possible_cpus", "keys_distinct", "dup"):
            continue
        for nth in sorted({1, (n + 1) // 2, n}):
            for action in ("fail", "raise", "raise_after", "freeze"):
                if action == "freeze" and method in ("map_get_next_id", "prog_get_next_id",
                                                     "map_get_fd_by_id", "obj_get"):  # fmt: skip
                    continue  # no map fd as first argument
                if action == "raise_after" and method in _OPENS:
                    continue  # the fd it opened is lost by the wrapper itself
                out.append((method, nth, action))
    return out


def test_every_injected_fault_gets_a_true_report(kernel_backend):
    kinds: dict[str, int] = {}
    plans = _plans(kernel_backend)
    assert len(plans) > 40
    for method, nth, action in plans:
        arg = errno.EIO if action == "fail" else None
        be, status, kind, err = run_once(kernel_backend, [(method, nth, action, arg)])
        assert be.fired, (method, nth, action)
        if action in ("raise", "raise_after") and status:
            # (a parser that retries another way after an exception may still succeed)
            assert status == 255 and "internal error (InjectedFault" in err, (method, action, err)
        kinds[kind] = kinds.get(kind, 0) + 1
    # each kind of report was produced (and checked) at least once
    assert {"exact", "unsure", "success"} <= set(kinds), kinds


def test_signal_at_every_call_gets_a_true_report(kernel_backend):
    """A real SIGINT/SIGTERM delivered to this process at chosen backend calls (the
    runner with signals=True, as the CLI runs it): exit 130/143, the report true of
    the maps, handlers restored afterwards."""
    import signal

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    kinds: dict[str, int] = {}
    seen = set()
    for method, nth, action in _plans(kernel_backend):
        if action != "fail" or (method, nth) in seen:
            continue
        seen.add((method, nth))
        sig = signal.SIGINT if len(seen) % 2 else signal.SIGTERM
        maps = Maps(kernel_backend)
        try:
            ff = FaultFile(maps.ids)
            be = FaultyBackend(kernel_backend).at(method, nth, "signal", sig)
            out, err = io.StringIO(), io.StringIO()
            r = Runner(be, stdout=out, stderr=err, progress=False, signals=True)
            status = r.run_data(ff.data, "f")
            kind = check_report(ff, status, err.getvalue(), maps.contents())
        finally:
            maps.close()
        assert be.fired
        if status:
            assert status == 128 + sig, (method, nth, err.getvalue())
            assert f"interrupted by {signal.Signals(sig).name}" in err.getvalue()
        kinds[kind] = kinds.get(kind, 0) + 1
    assert {"exact", "nothing"} <= set(kinds), kinds
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
