"""The CLI run in this process, for the core CLI tests."""

from __future__ import annotations

import contextlib
import io

from bpfmaps import cli


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """``bpfmaps ARGV`` through ``cli.main`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()
