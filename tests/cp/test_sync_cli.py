"""``bpfmaps batch file FILE --sync`` on the real kernel: the file as desired state."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bpfmaps import Map
from bpfmaps.codecs import U32

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "bpfmaps", *args], capture_output=True, text=True, cwd=ROOT,
        input=stdin, timeout=120,
    )  # fmt: skip


def kv(i: int, v: int) -> str:
    k = " ".join(str(b) for b in i.to_bytes(4, "little"))
    val = " ".join(str(b) for b in v.to_bytes(4, "little"))
    return f"key {k} value {val}"


@pytest.mark.kernel
def test_batch_file_sync(tmp_path):
    with (
        Map.create("hash", 4, 4, 64, key=U32, value=U32) as m,
        Map.create("array", 4, 4, 4, key=U32, value=U32) as a,
    ):
        m.update({1: 1, 2: 2, 3: 3})
        a[3] = 7
        f = tmp_path / "state.batch"
        f.write_text(
            f"map update id {m.id} {kv(2, 2)}\n"
            f"map update id {m.id} {kv(3, 30)}\n"
            f"map update id {m.id} {kv(4, 4)}\n"
            f"map update id {m.id} {kv(9, 9)} noexist\n"
            f"map delete id {m.id} key 9 0 0 0\n"
            f"map update id {a.id} {kv(1, 5)}\n"
        )
        r = run("--dry-run", "batch", "file", str(f), "--sync")
        assert r.returncode == 0, r.stderr
        assert dict(m.items()) == {1: 1, 2: 2, 3: 3}  # dry run: nothing written
        r = run("batch", "file", str(f), "--sync")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == [
            f"map id {m.id} '': added 1, changed 1, removed 1, unchanged 1",
            f"map id {a.id} '': added 0, changed 1, removed 1, unchanged 0",
        ]
        assert dict(m.items()) == {2: 2, 3: 30, 4: 4}
        assert [v for _, v in a.items()] == [0, 5, 0, 0]
        r = run("-j", "batch", "file", str(f), "--sync")
        assert json.loads(r.stdout)[0] == {
            "id": m.id, "name": "", "added": 0, "changed": 0, "removed": 0, "unchanged": 3,
        }  # fmt: skip


@pytest.mark.kernel
def test_batch_file_sync_checks_everything_first(tmp_path):
    with Map.create("hash", 4, 4, 64, key=U32, value=U32) as m:
        m.update({1: 1})
        f = tmp_path / "bad.batch"
        f.write_text(f"map update id {m.id} {kv(2, 2)}\nmap update id {m.id} key 1 2\n")
        r = run("batch", "file", str(f), "--sync")
        assert r.returncode == 255 and f"{f}:2" in r.stderr and "nothing was applied" in r.stderr
        f.write_text(f"map update id {m.id} {kv(2, 2)}\nmap lookup id {m.id} key 1 0 0 0\n")
        r = run("batch", "file", str(f), "--sync")
        assert r.returncode == 255 and "only 'map update' and 'map delete'" in r.stderr
        f.write_text(f"map delete id {m.id} key 1 0 0 0\n")
        r = run("batch", "file", str(f), "--sync")
        assert r.returncode == 255 and "has not set" in r.stderr
        assert dict(m.items()) == {1: 1}


@pytest.mark.kernel
def test_batch_file_sync_failure_report(tmp_path):
    with Map.create("hash", 4, 4, 2, key=U32, value=U32) as m:
        m.update({1: 1, 2: 2})
        m.freeze()
        f = tmp_path / "s.batch"
        f.write_text(f"map update id {m.id} {kv(1, 5)}\n")
        r = run("batch", "file", str(f), "--sync")
        assert r.returncode == (256 - 1) & 0xFF  # EPERM: frozen
        assert "sync of map id" in r.stderr and "applied to this map" in r.stderr
        assert dict(m.items()) == {1: 1, 2: 2}
