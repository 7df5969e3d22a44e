"""``bpfmaps`` command line: bpftool-compatible ``batch file`` and ``map`` commands.

Usage::

    bpfmaps [OPTIONS] batch file FILE|- [--sync]
    bpfmaps [OPTIONS] map { show | list | dump | update | lookup | getnext | delete |
                            pin | create | freeze | push | pop | peek | enqueue |
                            dequeue | help } ...
    OPTIONS := { -j|--json [-p|--pretty] | --bpftool-compat | --dry-run | --no-progress |
                 --max-size BYTES }

Same syntax, output and exit statuses as bpftool 7.1 (see docs/bpftool-syntax.md),
except that by default a batch file is checked completely before anything is
applied, and inputs that bpftool silently changes are rejected
(``--bpftool-compat`` restores bpftool's behaviour).
"""

from __future__ import annotations

import sys
from typing import Optional

__all__ = ["main"]

USAGE = """Usage: bpfmaps [OPTIONS] OBJECT { COMMAND | help }
       bpfmaps batch file FILE [--sync]
       bpfmaps version

       OBJECT := { map }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | --bpftool-compat | --dry-run |
                    --no-progress | --max-size BYTES }
"""

_TOP = ("help", "batch", "prog", "map", "link", "cgroup", "perf", "net", "feature", "btf",
        "gen", "struct_ops", "iter", "version")  # fmt: skip


def _err(msg: str, json_mode: bool) -> int:
    if json_mode:
        from .bpftool.output import error_json, render_json

        sys.stdout.write(render_json(error_json(msg)) + "\n")
    else:
        sys.stderr.write(f"Error: {msg}\n")
    return 255


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``bpfmaps`` / ``python -m bpfmaps``; returns the exit status
    (0, 255, ``(256 - errno) & 0xff`` when a kernel call failed, 130/143 when SIGINT/
    SIGTERM stopped a batch, 141 when stdout was closed).  Never a traceback: an
    unexpected exception is reported as an internal error (``BPFMAPS_DEBUG=1`` shows
    the traceback)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # a SIGINT outside a batch run (start-up, single commands)
        sys.stderr.write("Error: interrupted by SIGINT\n")
        return 130
    except Exception as e:
        import os

        from .bpftool._safety import clean, internal_error_message

        if os.environ.get("BPFMAPS_DEBUG"):
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"Error: {clean(internal_error_message(e))}\n")
        return 255


def _main(argv: Optional[list[str]]) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    json_mode = pretty = compat = dry_run = False
    progress: Optional[bool] = None
    max_size: Optional[int] = None
    while args and args[0].startswith("-") and len(args[0]) > 1:
        a = args.pop(0)
        if a in ("-j", "--json"):
            json_mode = True
        elif a in ("-p", "--pretty"):
            json_mode = pretty = True
        elif a == "--bpftool-compat":
            compat = True
        elif a == "--dry-run":
            dry_run = True
        elif a == "--no-progress":
            progress = False
        elif a == "--max-size" or a.startswith("--max-size="):
            from .bpftool._safety import parse_size

            val = a.partition("=")[2] if "=" in a else (args.pop(0) if args else "")
            try:
                max_size = parse_size(val)
            except ValueError:
                sys.stderr.write(
                    f"Error: --max-size needs a size in bytes (k/M/G suffixes), got {val!r}\n"
                )
                return 255
        elif a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        elif a in ("-V", "--version"):
            args = ["version"]
            break
        elif a == "--":
            break
        else:
            sys.stderr.write(f"Error: unknown option {a}\n{USAGE}")
            return 255
    if not args:
        sys.stderr.write(USAGE)
        return 255
    top = next((t for t in _TOP if t.startswith(args[0])), None)
    if top is None or top == "help":
        sys.stderr.write(USAGE)
        return 255 if top is None else 0

    if top == "btf" and len(args) > 1 and args[1] == "gen":
        # bpfmaps btf gen: Python source for BTF types (bpfmaps.btf.gen)
        from .btf.gen import cli_main

        return cli_main(args[2:], json_mode)

    from .bpftool.runner import Runner

    def runner() -> Runner:
        return Runner(
            compat=compat, json=json_mode, pretty=pretty, dry_run=dry_run, progress=progress,
            signals=True, max_size=max_size,
        )  # fmt: skip

    if top == "batch":
        rest = args[1:]
        if len(rest) < 2:
            return _err("too few parameters for batch", json_mode)
        if not "file".startswith(rest[0]):
            return _err(f"expected 'file', got: {rest[0]}", json_mode)
        if len(rest) == 3 and rest[2] == "--sync":
            # the file as the desired state of the maps it updates (bpfmaps.bpftool.syncfile)
            from .bpftool.syncfile import run_sync_file

            status = run_sync_file(
                rest[1], json=json_mode, pretty=pretty, dry_run=dry_run, compat=compat
            )
            sys.stdout.flush()
            return status
        if len(rest) > 2:
            return _err("too many parameters for batch", json_mode)
        r = runner()
        status = r.run_file(rest[1])
        sys.stdout.flush()
        return status
    if top == "btf":
        from .btf.cli import main_btf

        status = main_btf(args[1:], json_mode, pretty)
        sys.stdout.flush()
        return status
    if top in ("map", "version"):
        r = runner()
        status = r.run_words(args)
        sys.stdout.flush()
        return status
    return _err(
        f"'{top}' commands are not supported by bpfmaps (only 'map' and 'batch')", json_mode
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
