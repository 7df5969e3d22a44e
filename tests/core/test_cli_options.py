"""Command-line options parsed like bpftool's getopt_long (bpfmaps.cli.parse_options),
checked against the real bpftool where both accept the same words."""

from __future__ import annotations

import json
import subprocess

import pytest
from _cli import run_main

from bpfmaps.cli import OptionError, parse_options


@pytest.mark.parametrize(
    "argv, json_, pretty, rest",
    [
        (["-jp", "map", "show"], True, True, ["map", "show"]),
        (["-pj", "map"], True, True, ["map"]),
        (["--json", "--pretty", "map"], True, True, ["map"]),
        (["-p", "map"], True, True, ["map"]),  # -p implies -j, as in bpftool
        (["--js", "map"], True, False, ["map"]),  # unique prefix
        (["map", "show", "-j"], True, False, ["map", "show"]),  # permuted
        (["-j", "--", "map", "-p"], True, False, ["map", "-p"]),  # -- ends options
        (["-d", "-n", "-f", "-m", "-L", "-l", "map"], False, False, ["map"]),
        (["-B", "vmlinux", "-j", "map"], True, False, ["map"]),
        (["-Bvmlinux", "map"], False, False, ["map"]),
        (["--base-btf=x", "map"], False, False, ["map"]),
        (["batch", "file", "-"], False, False, ["batch", "file", "-"]),  # "-" is a word
    ],
)
def test_parse_like_getopt(argv, json_, pretty, rest):
    opts, words = parse_options(argv)
    assert (opts.json, opts.pretty, words) == (json_, pretty, rest)


def test_our_long_options_and_version():
    opts, words = parse_options(["--bpftool-compat", "--dry-run", "--no-progress", "-V"])
    assert (opts.compat, opts.dry_run, opts.progress, opts.version, words) == (
        True,
        True,
        False,
        True,
        [],
    )
    assert parse_options(["--bpft"])[0].compat  # unique prefix of --bpftool-compat
    # an abbreviation is bpftool's option when bpftool takes it, whatever ours it also
    # abbreviates: --bpf is --bpffs (not --bpftool-compat), --d --debug (not --dry-run),
    # --no --nomount (not --no-progress); ours are reached by the rest of their names
    assert parse_options(["--bpf"])[0].bpffs and not parse_options(["--bpf"])[0].compat
    assert parse_options(["--d"])[0].debug and not parse_options(["--d"])[0].dry_run
    assert parse_options(["--no"])[0].progress is None
    assert parse_options(["--dr"])[0].dry_run and parse_options(["--no-p"])[0].progress is False
    assert parse_options(["-B", "f"])[0].base_btf == "f"


@pytest.mark.parametrize("word", ["-x", "-jx", "--frob", "--json=1", "--b", "--d=1", "-1", "-B"])
def test_bad_options(word):
    with pytest.raises(OptionError) as ei:
        parse_options([word] if word == "-B" else [word, "map"])
    assert ei.value.word == word
    assert str(ei.value) == f"unrecognized option '{word}'"


def test_bad_option_reports():
    status, out, err = run_main(["--frob", "map"])
    assert status == 255 and out == ""
    assert err.startswith("Error: unrecognized option '--frob'\nUsage: bpfmaps ")
    status, out, err = run_main(["-jz", "map"])  # -j before the bad letter: a JSON error
    assert (status, out, err) == (255, '{"error":"unrecognized option \'-jz\'"}\n', "")


def test_version_is_bpftool_like():
    status, out, err = run_main(["-V"])
    lines = out.splitlines()
    assert status == 0 and err == "" and len(lines) == 3
    assert lines[0].startswith("bpfmaps v") and lines[2].startswith("features: ")
    status, out, _ = run_main(["--version", "-j"])
    d = json.loads(out)
    assert status == 0 and set(d) == {"version", "bpftool_compatible", "features"}
    status, out, _ = run_main(["-jp", "version"])
    assert out.startswith("{\n    ") and json.loads(out) == d


@pytest.mark.parametrize(
    "argv",
    [
        ["-jp", "map", "show", "id", "4000000000"],
        ["-pj", "map", "show", "id", "4000000000"],
        ["--json", "--pretty", "map", "show", "id", "4000000000"],
        ["map", "lookup", "id", "4000000000", "key", "0", "0", "0", "0", "-j"],
        ["-d", "-n", "-f", "map", "show", "id", "4000000000"],
        ["-j", "--", "map", "show", "id", "4000000000"],
        ["-jx", "map", "show", "id", "4000000000"],
        ["--frob", "map", "show", "id", "4000000000"],
        ["-j", "--frob", "map"],
        ["--d", "map", "show", "id", "4000000000"],  # --debug, as bpftool's getopt_long
        ["--bpf", "map", "show", "id", "4000000000"],  # --bpffs
        ["--no", "map", "show", "id", "4000000000"],  # --nomount
        ["--b", "map", "show", "id", "4000000000"],  # ambiguous: --bpffs, --base-btf
        ["map", "lookup", "id", "4000000000", "key", "-1", "0", "0", "0"],
    ],
)
def test_same_as_bpftool(bpftool_bin, argv):
    """The options are taken the same way as by bpftool: same exit status, same first
    stderr line; for option errors in JSON mode the same stdout.  (The JSON output of
    the map commands themselves is compared with bpftool by the CLI fidelity suites.)"""
    b = subprocess.run([bpftool_bin, *argv], capture_output=True, text=True)
    status, out, err = run_main(argv)
    assert status == b.returncode
    if "unrecognized option" in b.stdout:
        assert out == b.stdout
    if not b.stdout:
        assert err.splitlines()[:1] == b.stderr.splitlines()[:1]
