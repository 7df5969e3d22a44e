"""Issue 11 part 5, the audit's cases against the real bpftool: what bpftool's getopt
and ``do_help`` do with no command, ``help``, an unknown command and ``-h`` (plain and
JSON), and ``-f``/``--bpffs``, which lists each map's pinned paths in ``map show``.

Known differences, on purpose, that these tests do not compare: bpftool writes the
``null`` of ``-jh`` without a newline (it returns before closing its JSON writer);
``-xj`` makes bpftool name its own program (``unrecognized option 'bpftool'``) where
bpfmaps names the word.  (Abbreviations that also abbreviate one of bpfmaps' own
options, ``--d``, ``--bpf``, ``--no``, mean bpftool's: test_cli_options.)"""

from __future__ import annotations

import json
import subprocess

import pytest
from _cli import run_main  # cli.main in process: (status, stdout, stderr)

from bpfmaps.cli import parse_options


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["-d"],
        ["-j"],
        ["-p"],
        ["help"],
        ["he"],
        ["help", "foo"],
        ["-j", "help"],
        ["-p", "help"],
        ["foo"],
        ["-j", "foo"],
        ["--json", "--pretty", "foo"],
        ["-h"],
        ["--help"],
        ["-h", "-j"],  # -h prints at once: the -j after it is never read
        ["-hx"],  # ... nor a bad letter after it
        ["--help", "--frob"],
        ["-jh"],
        ["-j", "--help"],
    ],
)
def test_usage_like_bpftool(bpftool_bin, argv):
    """Same exit status, same stdout (a trailing newline aside), same first stderr
    line (the usage names the program) as bpftool."""
    # bpftool's usage names its argv[0]
    b = subprocess.run(["bpftool", *argv], executable=bpftool_bin, capture_output=True, text=True)
    status, out, err = run_main(argv)
    assert status == b.returncode, (argv, b.stderr)
    assert out.rstrip("\n") == b.stdout.rstrip("\n"), argv
    assert err.replace("bpfmaps", "bpftool").splitlines()[:1] == b.stderr.splitlines()[:1]
    if b.stderr.startswith("Usage: "):
        assert err.startswith("Usage: bpfmaps [OPTIONS] OBJECT")


def test_help_ends_option_parsing():
    opts, words = parse_options(["-jh", "-x", "map"])
    assert (opts.json, opts.help, words) == (True, True, [])
    opts, words = parse_options(["map", "--help", "--frob"])
    assert (opts.help, words) == (True, ["map"])


@pytest.mark.parametrize("argv", [["-f"], ["--bpffs"], ["--bpff"], ["-fn"]])
def test_bpffs_option_is_parsed(argv):
    assert parse_options([*argv, "map"])[0].bpffs
    assert not parse_options(["-n", "map"])[0].bpffs


def _pinned_map(kernel_backend, bpffs, name: str) -> tuple[int, str]:
    fd = kernel_backend.map_create(1, 4, 4, 4, 0, name.encode())
    assert fd >= 0
    path = f"{bpffs}/{name}"
    assert kernel_backend.obj_pin(fd, path) == 0
    return fd, path


@pytest.mark.parametrize(
    "opts",
    [["-f"], ["--bpffs"], ["-jf"], ["-f", "-jp"], ["-f", "--json"], []],
)
def test_show_lists_pins_like_bpftool(bpftool_bin, kernel_backend, bpffs, opts):
    """``-f`` adds bpftool's ``pinned PATH`` lines (``"pinned": [...]`` in JSON) to
    ``map show``; without it there are none.  Byte for byte against bpftool, for a
    map pinned twice."""
    fd, path = _pinned_map(kernel_backend, bpffs, "audit_pins")
    try:
        second = f"{bpffs}/audit_pins2"
        assert kernel_backend.obj_pin(fd, second) == 0
        argv = [*opts, "map", "show", "pinned", path]
        b = subprocess.run([bpftool_bin, *argv], capture_output=True, text=True)
        assert b.returncode == 0, b.stderr
        status, out, err = run_main(argv)
        assert (status, out, err) == (0, b.stdout, b.stderr)
        assert ("pinned" in out) == bool(opts)
        if any(o in ("-jf", "-jp", "--json") for o in opts):
            assert json.loads(out)["pinned"] == sorted([path, second])
    finally:
        kernel_backend.close(fd)


def test_show_lists_pins_in_a_batch_file(kernel_backend, bpffs, tmp_path):
    """``-f`` reaches ``map show`` inside a batch file too."""
    fd, path = _pinned_map(kernel_backend, bpffs, "audit_pins_batch")
    try:
        f = tmp_path / "show.txt"
        f.write_text(f"map show pinned {path}\n")
        status, out, _ = run_main(["-f", "batch", "file", str(f)])
        assert status == 0 and f"\tpinned {path}\n" in out
        status, out, _ = run_main(["batch", "file", str(f)])
        assert status == 0 and "pinned" not in out
    finally:
        kernel_backend.close(fd)
