"""Issue 11 part 5, the forms test_cli_options leaves out: bpftool's long spellings of
the accepted-and-ignored options (``--bpffs``, ``--debug``, ``--nomount``), ``-V``
combined with ``-j``/``-p`` in either order, and those options in front of a real
``batch file`` run."""

from __future__ import annotations

import json
import subprocess

import pytest
from _cli import run_main

from bpfmaps.cli import parse_options


@pytest.mark.parametrize(
    "argv, json_, pretty, version",
    [
        (["--bpffs", "--debug", "--nomount", "map"], False, False, False),
        (["-f", "--bpffs", "-n", "-d", "map"], False, False, False),
        (["-fnd", "-j", "map"], True, False, False),
        (["-jV"], True, False, True),
        (["-Vj"], True, False, True),
        (["-pV"], True, True, True),
        (["--version", "--pretty"], True, True, True),
        (["--bpff", "map"], False, False, False),  # unique prefix of --bpffs
    ],
)
def test_bpftool_options_accepted(argv, json_, pretty, version):
    opts, _ = parse_options(argv)
    assert (opts.json, opts.pretty, opts.version) == (json_, pretty, version)


@pytest.mark.parametrize("argv", [["-jV"], ["-Vj"], ["-pV"], ["--version", "--pretty"]])
def test_combined_version_is_json(argv):
    status, out, err = run_main(argv)
    assert status == 0 and err == ""
    d = json.loads(out)
    assert set(d) == {"version", "bpftool_compatible", "features"}
    assert out.startswith("{\n    ") == ("-pV" in argv or "--pretty" in argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["--bpffs", "--debug", "--nomount", "map", "show", "id", "4000000000"],
        ["-fnd", "map", "show", "id", "4000000000"],
        ["-f", "-j", "map", "show", "id", "4000000000"],
    ],
)
def test_long_forms_same_as_bpftool(bpftool_bin, argv):
    b = subprocess.run([bpftool_bin, *argv], capture_output=True, text=True)
    status, out, err = run_main(argv)
    assert status == b.returncode
    assert out == b.stdout
    assert err.splitlines()[:1] == b.stderr.splitlines()[:1]


@pytest.mark.parametrize("opts", [["-f", "-n", "-d"], ["--bpffs", "--nomount", "--debug"]])
def test_ignored_options_before_a_batch_file(tmp_path, opts):
    """The ignored options change nothing in a batch file run (same status and output
    as without them, on the same in-process fake kernel)."""
    from bpfmaps.testing import fake_kernel

    results = []
    with fake_kernel() as fk:
        fd = fk.map_create(1, 4, 4, 8, 0, b"opts")
        mid = fk.map_info(fd)[1].id
        f = tmp_path / "f.txt"
        f.write_text(
            f"map update id {mid} key 1 0 0 0 value 2 0 0 0\nmap lookup id {mid} key 1 0 0 0\n"
        )
        for extra in ([], opts):
            results.append(run_main([*extra, "batch", "file", str(f)]))
        fk.close(fd)
    assert results[0] == results[1]
    status, out, err = results[1]
    assert status == 0 and "processed 2 commands" in out and "value: 02 00 00 00" in out
