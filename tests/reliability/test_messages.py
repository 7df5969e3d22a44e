"""Messages (issue 9, item 7): quoted lines shortened, control characters escaped,
bpftool's wording for a pinned path outside bpffs, the privilege hint as non-root."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from bpfmaps.bpftool.runner import Runner
from bpfmaps.testing import FakeKernel


def run_fake(data: bytes, fk=None):
    err = io.StringIO()
    status = Runner(fk or FakeKernel(), stdout=io.StringIO(), stderr=err).run_data(data, "f")
    return status, err.getvalue()


def test_long_line_is_quoted_short():
    fk = FakeKernel()
    fd = fk.map_create(1, 4, 4, 8)
    mid = fk.map_info(fd)[1].id
    bad = "zz" * 30_000
    status, err = run_fake(f"map update id {mid} key 00 00 00 00 value {bad}\n".encode(), fk)
    assert status == 255
    assert len(err) < 1500, len(err)
    assert "..." in err and "nothing was applied" in err
    for line in err.splitlines():
        assert len(line) <= 1000


def test_caret_points_into_shortened_line():
    fk = FakeKernel()
    fd = fk.map_create(1, 4, 4, 8)
    mid = fk.map_info(fd)[1].id
    line = f"map update id {mid} key " + "00 " * 2000 + "value 00 00 00 00\n"
    status, err = run_fake(line.encode(), fk)
    assert status == 255
    lines = err.splitlines()
    quoted = next(x for x in lines if x.startswith("  1 | "))
    caret = next(x for x in lines if x.rstrip().endswith("^"))
    assert len(quoted) < 260 and quoted.endswith("...")
    assert caret.index("^") < len(quoted)


def test_control_characters_escaped():
    data = b"map update id 1 key \x1b[2J\x1b[31mRED\x07\x9b value 00\n"
    status, err = run_fake(data)
    assert status == 255
    assert not any(ord(ch) < 0x20 and ch != "\n" or 0x7F <= ord(ch) <= 0x9F for ch in err), repr(
        err
    )
    assert "\\x1b[2J" in err and "\\x07" in err


def test_control_characters_in_command_report():
    fk = FakeKernel()
    fd = fk.map_create(1, 4, 4, 1)
    mid = fk.map_info(fd)[1].id
    data = (
        f"map update id {mid} key 00 00 00 00 value 00 00 00 00\n"
        f"map update id {mid} key 01 00 00 00 value 00 00 00 00 # \x1b]0;pwned\x07\n"
    ).encode()
    status, err = run_fake(data, fk)
    assert status != 0 and "\x1b" not in err and "\\x1b]0;pwned\\x07" in err


@pytest.mark.kernel
def test_pinned_outside_bpffs_says_so(kernel_backend, tmp_path):
    err = io.StringIO()
    status = Runner(kernel_backend, stdout=io.StringIO(), stderr=err).run_words(
        ["map", "show", "pinned", "/etc/passwd"]
    )
    assert status == 255
    assert (
        err.getvalue()
        == "Error: bpf obj get (/etc): directory not in bpf file system (bpffs)\n"  # bpftool: dirname() in place
    )
    err = io.StringIO()
    data = b"map update pinned /etc/passwd key 00 00 00 00 value 00 00 00 00\n"
    Runner(kernel_backend, stdout=io.StringIO(), stderr=err).run_data(data, "f")
    assert "bpf obj get (/etc): directory not in bpf file system (bpffs)" in err.getvalue()
    # the library says the same with its exception class
    from bpfmaps import Map, NotBpffsError

    with pytest.raises(NotBpffsError):
        Map.from_pin("/etc/passwd")


@pytest.mark.kernel
@pytest.mark.parametrize("json_mode", [False, True])
def test_non_root_gets_the_capability_hint(kernel_backend, unprivileged, json_mode):
    """Without CAP_BPF/CAP_SYS_ADMIN every report, of a single command or of a batch
    file, plain or JSON, keeps its own words (bpftool's for single commands) and is
    followed by the same one stderr line ``Hint: <PRIV_HINT>``; stdout never holds it."""
    from bpfmaps.bpftool._safety import PRIV_HINT

    cmd = [*unprivileged, sys.executable, "-m", "bpfmaps", *(["-j"] if json_mode else [])]
    env = dict(os.environ, HOME="/tmp")
    line = "map update id 1 key 00 00 00 00 value 00 00 00 00"
    runs = {
        "map show": (["map", "show"], None, "can't get next map: Operation not permitted"),
        "single": (line.split(), None, "get map by id (1): Operation not permitted"),
        "batch": (["batch", "file", "-"], line + "\n", "get map by id (1): Operation not permitted"),
        "compat": (["--bpftool-compat", "batch", "file", "-"], line + "\n",
                   "get map by id (1): Operation not permitted"),
    }  # fmt: skip
    for what, (words, stdin, said) in runs.items():
        r = subprocess.run(cmd + words, input=stdin, capture_output=True, text=True, env=env,
                           timeout=60, cwd="/")  # fmt: skip
        assert r.returncode == 255, (what, r.stderr)
        assert r.stderr.endswith(f"\nHint: {PRIV_HINT}\n") or r.stderr == f"Hint: {PRIV_HINT}\n", (
            what,
            r.stderr,
        )
        assert r.stderr.count("Hint:") == 1 and "CAP_BPF" not in r.stdout, (what, r.stdout)
        report = r.stdout if json_mode else r.stderr
        assert said in report, (what, report)
        assert f"{said} (" not in report  # nothing inline after the system's words
