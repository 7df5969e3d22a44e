"""Runner reports on maps that refuse every write (issue 9, items 1 and 2), real kernel:
the parallel apply used to count a whole part as applied when UPDATE_BATCH failed
before writing ("4096 command(s) before it were applied" on an empty frozen map),
and an over-counted last part crashed the runner with IndexError."""

from __future__ import annotations

import io

import pytest

from bpfmaps import parallel
from bpfmaps.bpftool.runner import Runner

pytestmark = pytest.mark.kernel


def _file(map_id: int, n: int) -> bytes:
    return b"".join(
        f"map update id {map_id} key hex {' '.join(f'{c:02x}' for c in i.to_bytes(4, 'little'))}"
        f" value hex 00 00 00 01\n".encode()
        for i in range(n)
    )


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("how", ["frozen", "readonly"])
def test_unwritable_map_report_says_nothing_applied(kernel_backend, monkeypatch, threads, how):
    monkeypatch.setattr(parallel, "_threads", lambda: threads)
    monkeypatch.setattr(parallel, "_running_tasks", lambda: 1)  # whatever else runs now
    kb = kernel_backend
    fd = kb.map_create(1, 4, 4, 8192, 0, b"frz")
    assert fd >= 0
    try:
        map_id = kb.map_info(fd)[1].id
        if how == "frozen":
            assert kb.map_freeze(fd) == 0
        else:  # the runner opens by id; make every fd it gets read-only
            real = kb.map_get_fd_by_id
            monkeypatch.setattr(kb, "map_get_fd_by_id", lambda i, f=0: real(i, 1 << 3))
        err = io.StringIO()
        r = Runner(kb, stdout=io.StringIO(), stderr=err, progress=False)
        status = r.run_data(_file(map_id, 8192), "f")
        assert status == 255  # EPERM
        msg = err.getvalue()
        assert "Error: f:1: update failed: Operation not permitted" in msg
        assert "0 command(s) before it were applied; it and the commands after it were not" in msg
        assert r.processed == 0
        buf = kb.alloc(4)
        assert kb.map_get_next_key(fd, kb.NULL, buf) == -2  # still empty
    finally:
        kb.close(fd)
