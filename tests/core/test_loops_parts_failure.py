"""``update_batch_parts`` when a part FAILS, the C loops (one thread a part) against the
plain-Python loops (one part after the other), both on the real kernel (issue 11
part 6: C loops vs plain-Python loops; tests/core/test_loops.py compares the
successful parallel apply).  The failing part's ``(rc, applied)`` is the same in both
(UPDATE_BATCH's count where the element loop stopped); a part that does not fail
applies a prefix of its range in whole calls (its own run, or stopped by the shared
flag before a later call: both are legal schedules of the threaded apply); the map
holds exactly what the reports say.  (UPDATE_BATCH takes no NOEXIST/EXIST: an array
index out of range is the per-element failure, at a place fixed in advance.)"""

from __future__ import annotations

import errno

import pytest
from _kmaps import contents

from bpfmaps import loops
from bpfmaps.kernel import KernelLoops
from bpfmaps.loops import GenericLoops
from bpfmaps.types import MapType

pytestmark = pytest.mark.kernel

KS, VS, CHUNK = 4, 8, 4


def _contents(be, fd):
    return {int.from_bytes(k, "little"): v for k, v in contents(be, fd, KS, VS).items()}


def _run(be, lp, parts, n, bad):
    """An array of ``n`` slots; upserts of keys 0..n-1 (value i + 1) by ``parts``, but
    element ``bad`` names slot n + 100 (out of range: the element loop fails there
    with -E2BIG): (reports, contents)."""
    fd = be.map_create(int(MapType.ARRAY), KS, VS, n, 0, b"parts")
    assert fd >= 0
    try:
        kb = b"".join((n + 100 if i == bad else i).to_bytes(KS, "little") for i in range(n))
        vb = b"".join((i + 1).to_bytes(VS, "little") for i in range(n))
        out = lp.update_batch_parts(fd, kb, vb, KS, VS, parts, 0, CHUNK)
        return out, _contents(be, fd)
    finally:
        be.close(fd)


def _model(parts, reports, n):
    want = {i: bytes(VS) for i in range(n)}
    for (start, _), (_, applied) in zip(parts, reports):
        for i in range(start, start + applied):
            want[i] = (i + 1).to_bytes(VS, "little")
    return want


@pytest.mark.parametrize(
    ("parts", "bad", "failing"),
    [
        ([(0, 30)], 22, 0),  # one part: the whole report is the same
        ([(0, 15), (15, 15)], 22, 1),  # the last part fails
        ([(0, 15), (15, 15)], 6, 0),  # the first part fails
        ([(0, 10), (10, 10), (20, 10)], 13, 1),  # a middle part, three threads
    ],
)
def test_failing_part_c_vs_generic(kernel_backend, parts, bad, failing):
    be = kernel_backend
    c_loops = loops.of(be)
    assert isinstance(c_loops, KernelLoops)
    n = sum(c for _, c in parts)
    c_out, c_got = _run(be, c_loops, parts, n, bad)
    g_out, g_got = _run(be, GenericLoops(be), parts, n, bad)
    for out, got in ((c_out, c_got), (g_out, g_got)):
        assert got == _model(parts, out, n)
        assert len(out) == len(parts)
        for i, ((start, count), (rc, applied)) in enumerate(zip(parts, out)):
            if i == failing:
                assert rc == -errno.E2BIG and applied == bad - start, out
            else:
                assert rc == 0 and (applied == count or applied % CHUNK == 0), out
                assert applied <= count
    assert c_out[failing] == g_out[failing]
    # the plain loops run the parts in order: those after the failing one do nothing
    assert all(applied == 0 for _, applied in g_out[failing + 1 :])
    assert all(applied == c for (_, c), (_, applied) in zip(parts[:failing], g_out))
    if len(parts) == 1:
        assert (c_out, c_got) == (g_out, g_got)
