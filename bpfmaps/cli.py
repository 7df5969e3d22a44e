"""``bpfmaps`` command line: bpftool-compatible ``batch file`` and ``map`` commands.

Usage::

    bpfmaps [OPTIONS] batch file FILE|- [--sync]
    bpfmaps [OPTIONS] map { show | list | dump | update | lookup | getnext | delete |
                            pin | create | freeze | push | pop | peek | enqueue |
                            dequeue | help } ...
    OPTIONS := { -j|--json [-p|--pretty] | -d|--debug | -V|--version |
                 --bpftool-compat | --dry-run | --no-progress }

Options are parsed like bpftool's getopt_long: anywhere before ``--``, combined
(``-jp``), abbreviated (``--js``; an abbreviation bpftool takes means bpftool's option,
``--d`` is ``--debug``, so bpfmaps' own are reached by longer ones: ``--dr``); ``-h`` prints the usage at once, as bpftool's does;
-f/--bpffs lists each map's pinned paths in ``map show``; bpftool's -n/--nomount,
-m/--mapcompat, -L/--use-loader, -l/--legacy and -B/--base-btf FILE are accepted.
No command, or ``help``, prints the usage (exit 0); an unknown command prints it
and exits 255; in JSON mode both print bpftool's ``null`` instead.

Same syntax, output and exit statuses as bpftool 7.1 (see docs/bpftool-syntax.md),
except that by default a batch file is checked completely before anything is
applied, and inputs that bpftool silently changes are rejected
(``--bpftool-compat`` restores bpftool's behaviour).
"""

from __future__ import annotations

import sys

from ._preload import BUNDLE as _BUNDLE
from ._preload import RUNNER_PATH as _RUNNER_PATH
from ._preload import preload as _preload

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn, Optional

__all__ = ["Options", "OptionError", "command", "main", "parse_options"]

USAGE = """Usage: bpfmaps [OPTIONS] OBJECT { COMMAND | help }
       bpfmaps batch file FILE [--sync]
       bpfmaps version

       OBJECT := { map }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} | {-V|--version} |
                    --bpftool-compat | --dry-run | --no-progress | --max-size BYTES }
"""

#: bpftool's options (getopt_long "VhpjfLmndB:l"); the ones that only matter to
#: bpftool's own objects (-m, -n, -L, -l, -B) are accepted and have no effect
_SHORT = {
    "V": "version", "h": "help", "p": "pretty", "j": "json", "f": "bpffs", "L": "use-loader",
    "m": "mapcompat", "n": "nomount", "d": "debug", "B": "base-btf", "l": "legacy",
}  # fmt: skip
_BPFTOOL_LONG = (
    "help", "version", "json", "pretty", "bpffs", "mapcompat", "nomount", "debug",
    "use-loader", "base-btf", "legacy",
)  # fmt: skip
#: bpfmaps' own long options: an abbreviation is matched against bpftool's first, so
#: every abbreviation bpftool takes means what it means to bpftool (``--d``: --debug)
_OWN_LONG = ("bpftool-compat", "dry-run", "no-progress", "max-size")
_LONG = _BPFTOOL_LONG + _OWN_LONG
_WITH_ARG = {"base-btf", "max-size"}
#: words that look like options but belong to a command (``batch file F --sync``)
_WORDS = {"--sync"}


class OptionError(ValueError):
    """A command-line word that is not a known option (``word``: as typed)."""

    def __init__(self, word: str) -> None:
        super().__init__(f"unrecognized option '{word}'")
        self.word = word


class Options:
    """What the command-line options asked for (see :func:`parse_options`)."""

    __slots__ = ("json", "pretty", "compat", "dry_run", "progress", "debug", "help", "version",
                 "bpffs", "base_btf", "max_size")  # fmt: skip
    json: bool
    pretty: bool
    compat: bool
    dry_run: bool
    debug: bool
    help: bool
    version: bool
    bpffs: bool

    def __init__(self) -> None:
        self.json = self.pretty = self.compat = self.dry_run = False
        self.debug = self.help = self.version = self.bpffs = False
        self.progress: Optional[bool] = None
        self.base_btf: Optional[str] = None
        self.max_size: Optional[str] = None

    def set(self, name: str, value: Optional[str] = None) -> None:
        if name == "json":
            self.json = True
        elif name == "pretty":
            self.json = self.pretty = True
        elif name == "bpftool-compat":
            self.compat = True
        elif name == "dry-run":
            self.dry_run = True
        elif name == "no-progress":
            self.progress = False
        elif name == "debug":
            self.debug = True
        elif name == "help":
            self.help = True
        elif name == "version":
            self.version = True
        elif name == "bpffs":
            self.bpffs = True  # map show lists each map's pins, as bpftool -f
        elif name == "base-btf":
            self.base_btf = value
        elif name == "max-size":
            self.max_size = value
        # mapcompat, nomount, use-loader, legacy: accepted, no effect here


def _long(word: str) -> tuple[str, Optional[str]]:
    body, eq, value = word[2:].partition("=")
    if body in _LONG:
        name = body
    else:
        found = [o for o in _BPFTOOL_LONG if o.startswith(body)] if body else []
        if not found and body:
            found = [o for o in _OWN_LONG if o.startswith(body)]
        if len(found) != 1:  # unknown or ambiguous, like getopt_long
            raise OptionError(word)
        name = found[0]
    if eq and name not in _WITH_ARG:
        raise OptionError(word)
    return name, (value if eq else None)


def parse_options(args: list[str], opts: Optional[Options] = None) -> tuple[Options, list[str]]:
    """Split ``args`` into options and the command words, like bpftool's getopt_long:
    options may appear anywhere before ``--`` (GNU permutation), short options
    combine (``-jp``), long options may be abbreviated to a unique prefix
    (``--js``), ``-B``/``--base-btf`` take an argument; ``-h``/``--help`` ends the
    parsing (bpftool prints its usage there, so what follows is never read).  Raises
    OptionError (with the word as typed: bpftool's ``unrecognized option 'WORD'``);
    ``opts`` keeps what was parsed before the error.  Cost: O(len(args))."""
    opts = opts if opts is not None else Options()
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            rest.extend(args[i:])
            break
        if not a.startswith("-") or a == "-" or a in _WORDS:
            rest.append(a)
            continue
        if a.startswith("--"):
            name, value = _long(a)
            if name in _WITH_ARG and value is None:
                if i >= len(args):
                    raise OptionError(a)
                value = args[i]
                i += 1
            opts.set(name, value)
            if name == "help":
                break
            continue
        for j, ch in enumerate(a[1:], 1):
            short = _SHORT.get(ch)
            if short is None:
                raise OptionError(a)
            if short in _WITH_ARG:
                value = a[j + 1 :]
                if not value:
                    if i >= len(args):
                        raise OptionError(a)
                    value = args[i]
                    i += 1
                opts.set(short, value)
                break
            opts.set(short)
            if short == "help":
                return opts, rest
    return opts, rest


#: set by :func:`command` (the command's own process); ``main`` called as a function
#: imports as usual
_preload_on = False
#: the runner's top-level commands as typed in full (each is the one TOP_COMMANDS picks
#: for it, tests/bpftool/test_cli_preload.py): ``main`` preloads the whole runner path
#: before it looks the command up
_RUNNER_WORDS = ("batch", "map", "version")


def _err(msg: str, json_mode: bool) -> int:
    if json_mode:
        from .bpftool.output import error_json, render_json

        sys.stdout.write(render_json(error_json(msg)) + "\n")
    else:
        sys.stderr.write(f"Error: {msg}\n")
    return 255


def _usage(json_mode: bool, status: int) -> int:
    """bpftool's ``do_help``: the usage on stderr, or ``null`` on stdout in JSON mode."""
    if json_mode:
        sys.stdout.write("null\n")
    else:
        sys.stderr.write(USAGE)
    return status


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``bpfmaps`` / ``python -m bpfmaps``; returns the exit status
    (0, 255, or ``(256 - errno) & 0xff`` when a kernel call failed).  Options are
    parsed like bpftool's (:func:`parse_options`); a bad option is reported like
    bpftool (``Error: unrecognized option 'WORD'`` and the usage, or a JSON error)."""
    opts = Options()
    try:
        opts, args = parse_options(list(sys.argv[1:] if argv is None else argv), opts)
    except OptionError as e:
        if opts.json:
            return _err(str(e), True)
        sys.stderr.write(f"Error: {e}\n{USAGE}")
        return 255
    json_mode = opts.json
    max_size: Optional[int] = None
    if opts.max_size is not None:
        from .bpftool._safety import parse_size

        try:
            max_size = parse_size(opts.max_size)
        except ValueError:
            sys.stderr.write(
                f"Error: --max-size needs a size in bytes (k/M/G suffixes), got {opts.max_size!r}\n"
            )
            return 255
    if opts.help:
        return _usage(json_mode, 0)
    if opts.version:
        args = ["version"]
    if not args:
        return _usage(json_mode, 0)  # bpftool runs its first command: help
    if _preload_on:
        if args[0] in _RUNNER_WORDS:  # the whole runner path from the bundle at once
            _preload(_RUNNER_PATH, _BUNDLE)
        else:  # (a prefix, or another command) the command tables first
            _preload(_RUNNER_PATH[:2])
    from .bpftool.handle import TOP_COMMANDS

    top = next((t for t in TOP_COMMANDS if t.startswith(args[0])), None)
    if top is None or top == "help":
        return _usage(json_mode, 255 if top is None else 0)

    if top == "btf" and len(args) > 1 and args[1] == "gen":
        # bpfmaps btf gen: Python source for BTF types (bpfmaps.btf.gen)
        from .btf.gen import cli_main

        return cli_main(args[2:], json_mode)

    if _preload_on:
        _preload(_RUNNER_PATH, _BUNDLE)  # the rest, after a prefix (else nothing is left)
    from .bpftool.runner import Runner

    def runner() -> Runner:
        r = Runner(
            compat=opts.compat,
            json=json_mode,
            pretty=opts.pretty,
            dry_run=opts.dry_run,
            progress=opts.progress,
            signals=True,
            max_size=max_size,
        )
        r.show_pinned = opts.bpffs
        return r

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
                rest[1],
                json=json_mode,
                pretty=opts.pretty,
                dry_run=opts.dry_run,
                compat=opts.compat,
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

        status = main_btf(args[1:], json_mode, opts.pretty)
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


def command() -> NoReturn:
    """Run ``bpfmaps`` as a process: the installed command (``scripts/bpfmaps``) and
    ``python -m bpfmaps``.  :func:`main` with the cyclic garbage collector off (the
    imports and a run allocate no reference cycles worth collecting in a short-lived
    process; the runner turns it off for a run anyway), then stdout and stderr flushed
    and the process left with ``os._exit(status)``, skipping the interpreter's
    teardown (a collection over every module and object: about a sixth of the
    instructions of a small batch file, docs/performance.md).  Nothing of ours needs
    the teardown: every fd is the kernel's to close, no atexit hook is registered.
    If a flush fails (a closed pipe, a closed stream), the ordinary ``sys.exit`` path
    runs instead and reports it as it always did.  Cost: that of :func:`main`."""
    import gc

    global _preload_on
    gc.disable()
    _preload_on = True
    status = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(status)
    import os

    os._exit(status)
