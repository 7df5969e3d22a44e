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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn, Optional

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


#: the modules the runner needs (every ``batch file`` / ``map`` run of the command), in
#: an order where each one's own imports of bpfmaps modules come before it (its
#: dependencies first): ``main`` preloads the first two for the command tables, the rest
#: for the runner.  tests/bpftool/test_cli_preload.py checks the order and that the list
#: is what ``main`` loads without it
_RUNNER_PATH = (
    "bpftool", "bpftool.handle", "_errbase", "errors", "bpftool._safety", "chunks",
    "_loopbase", "loops", "_record", "types", "engine", "bpftool.plan", "bpftool.scan",
    "bpftool.state", "bpftool.execute", "bpftool.parse", "bpftool.resolve", "bpftool.runner",
    "_cbuf", "_kloops", "kernel",
)  # fmt: skip
#: the file (``bpfmaps/_runner_path.marshal`` shipped empty in an installed package,
#: else in the package's ``__pycache__`` with ``.{cache_tag}`` before the suffix) that
#: holds the code of ``_RUNNER_PATH[2:]`` in one marshal dump (see :func:`_preload`)
_BUNDLE = "_runner_path"
#: set by :func:`command` (the command's own process); ``main`` called as a function
#: imports as usual
_preload_on = False
#: the qualified name of the stock FileFinder path hook (``sys.path_hooks[-1]``)
_HOOK = "FileFinder.path_hook.<locals>.path_hook_for_FileFinder"


def _preload(names: tuple[str, ...], bundle: str | None = None) -> None:
    """Load the bpfmaps modules ``names`` (dotted, under ``bpfmaps``) from compiled
    code without the import system's finder and loader steps, leaving each as
    ``importlib``'s ``SourceFileLoader`` does (the same module attributes, spec and
    loader), in about 0.1M instructions a module instead of 0.3M (start-up of
    ``bpfmaps batch file``, docs/performance.md).  The code comes from the bundle
    ``{bundle}.marshal`` when it is there and every source's mtime (ns) and size match
    the ones it recorded (one read and one unmarshal for all: names and constants the
    modules share are made once; the recorded mtimes and sizes are a header checked
    before the code part is unmarshalled, so a stale bundle costs a read and a stat a
    module), else from each module's pyc, checked against its
    source's mtime and size as ``importlib`` checks it; after a preload from the pycs,
    the bundle is written (atomically, as pycs are; not when bytecode is not written,
    sys.dont_write_bytecode; a failed write, read-only or another process's at the same
    moment, is ignored).  Where: an installed package ships an empty
    ``bpfmaps/{bundle}.marshal`` (setup.py's build_py), so it is in the installation's
    RECORD and uninstalling removes it, as upgrading replaces it; a source tree
    without it uses ``__pycache__/{bundle}.{cache_tag}.marshal`` (ignored by git, one
    an interpreter).  A bundle that is truncated, corrupt or of another shape is
    ignored (the pycs serve).  A module already loaded is skipped (no bundle is
    written then); a pyc that is missing, stale, hash-based or unreadable stops the
    preload, and the ordinary imports load that module and the rest, as they always
    do.

    The import system's hooks are honoured rather than bypassed: every finder on
    ``sys.meta_path`` before the stock ``PathFinder`` (a user's, setuptools'
    distutils shim) is asked for each module as the import system would ask it, and
    a spec from one stops the preload there (the imports take over); the preload
    runs only when the package directories' path finders are the stock ``FileFinder``
    with the stock source loader (or, not cached yet, ``sys.path_hooks`` is the stock
    zipimporter + FileFinder hook); and each module raises the ``import`` audit event
    with importlib's arguments (``sys.audit`` with no hook installed is a cheap C
    call, so the event is raised rather than the preload skipped when a hook exists:
    a hook cannot be detected from Python, and it sees the same events either way;
    files are opened with ``io.open_code`` as importlib opens them, so an open-code
    hook sees them too).  Not under ``-v``, ``-X importtime`` (or
    PYTHONPROFILEIMPORTTIME), ``-O``, a ``pycache_prefix`` or without CPython's
    ``_frozen_importlib_external``, so those see the ordinary imports.  Cost: one stat
    a module, one read a module or in all, then the modules' code."""
    mods = sys.modules
    ext = mods.get("_frozen_importlib_external")
    boot = mods.get("_frozen_importlib")
    if (
        ext is None
        or boot is None
        or sys.flags.optimize
        or sys.flags.verbose
        or sys.pycache_prefix is not None
        or "importtime" in sys._xoptions
        or (not sys.flags.ignore_environment and mods["os"].environ.get("PYTHONPROFILEIMPORTTIME"))
    ):
        return
    root = mods["bpfmaps"].__path__[0]
    if not root.startswith("/"):
        return
    # the finders the import system would ask first: any on sys.meta_path before the
    # stock PathFinder is asked for every module, as importlib asks it (a spec from it:
    # the ordinary imports); the path finders of the package's directories must be the
    # stock FileFinder with the stock source loader
    before: list[Any] = []
    for finder in sys.meta_path:
        if finder is ext.PathFinder:
            break
        if finder is not boot.BuiltinImporter and finder is not boot.FrozenImporter:
            if not hasattr(finder, "find_spec"):
                return
            before.append(finder)
    else:
        return
    for d in (root, root + "/bpftool"):
        f = sys.path_importer_cache.get(d)
        if f is None:
            hooks = sys.path_hooks
            zi = getattr(mods.get("zipimport"), "zipimporter", None)
            if (
                not hooks
                or getattr(hooks[-1], "__qualname__", "") != _HOOK
                or any(h is not zi for h in hooks[:-1])
            ):
                return
        elif (
            type(f) is not ext.FileFinder
            or dict(getattr(f, "_loaders", ())).get(".py") is not ext.SourceFileLoader
        ):
            return
    audit = sys.audit
    tag = sys.implementation.cache_tag
    magic = ext.MAGIC_NUMBER
    stat, open_code, loads = ext._os.stat, ext._io.open_code, ext.marshal.loads
    fix = ext._imp._fix_co_filename
    loader_cls, spec_cls, new_module = ext.SourceFileLoader, boot.ModuleSpec, type(sys)
    code_type = type(_preload.__code__)

    def where(short: str) -> tuple[str, str]:
        """(source, pyc) paths of module ``short``, as importlib names them."""
        src = f"{root}/{short.replace('.', '/')}" + (
            "/__init__.py" if short == "bpftool" else ".py"
        )
        d, _, base = src.rpartition("/")
        return src, f"{d}/__pycache__/{base[:-3]}.{tag}.pyc"

    def run(short: str, src: str, cached: str, code: Any) -> bool:
        """Module ``short`` from ``code``; False (nothing done) when a finder before
        the PathFinder has a spec for it."""
        name = "bpfmaps." + short
        parent, _, child = name.rpartition(".")
        search = mods[parent].__path__
        for finder in before:
            if finder.find_spec(name, search, None) is not None:
                return False
        audit("import", name, None, sys.path, sys.meta_path, sys.path_hooks)
        pkg = short == "bpftool"  # the one package on the path
        fix(code, src)
        loader = loader_cls(name, src)
        spec = spec_cls(name, loader, origin=src, is_package=pkg)
        spec.has_location = True
        spec.cached = cached
        if pkg:
            spec.submodule_search_locations = [src.rpartition("/")[0]]
        m = new_module(name)  # the attributes in importlib's order (_init_module_attrs)
        m.__loader__ = loader
        m.__package__ = spec.parent
        m.__spec__ = spec
        if pkg:
            m.__path__ = spec.submodule_search_locations
        m.__file__ = src
        m.__dict__["__cached__"] = cached
        mods[name] = m
        spec._initializing = True
        try:
            exec(code, m.__dict__)
        except BaseException:
            mods.pop(name, None)
            raise
        finally:
            spec._initializing = False
        m = mods.pop(name)  # last in sys.modules, as importlib leaves it
        mods[name] = m
        setattr(mods[parent], child, m)
        return True

    todo = [n for n in names if "bpfmaps." + n not in mods]
    packed = ""
    if bundle and len(todo) == len(names):
        # an installed package has the (empty) file at the top (the wheel ships it, so
        # it is in RECORD and uninstalling removes it); a source tree has it in
        # __pycache__ (one for each interpreter, as the pycs)
        packed = f"{root}/{bundle}.marshal"
        try:
            f = open_code(packed)
        except FileNotFoundError:
            packed = f"{root}/__pycache__/{bundle}.{tag}.marshal"
            try:
                f = open_code(packed)
            except OSError:
                f = None
        except OSError:
            f = None
        # (magic, ((short, mtime_ns, size), ...), marshalled codes): the header is
        # checked against every source before the codes (~300 KB) are unmarshalled, so
        # a stale bundle costs one read and a stat a module
        head: Any = ()
        blob: Any = b""
        if f is not None:
            with f:
                try:
                    tag_, head, blob = loads(f.read())
                    if (
                        tag_ != magic
                        or type(blob) is not bytes
                        or type(head) is not tuple
                        or tuple(e[0] for e in head) != names
                        or any(
                            type(e) is not tuple
                            or len(e) != 3
                            or type(e[1]) is not int
                            or type(e[2]) is not int
                            for e in head
                        )
                    ):
                        head = ()
                except Exception:  # a truncated, corrupt or foreign file: the pycs
                    head = ()
        paths = []
        for short, mtime_ns, size in head:
            src, cached = where(short)
            try:
                st = stat(src)
            except OSError:
                break
            if st.st_mtime_ns != mtime_ns or st.st_size != size:
                break
            paths.append((src, cached))
        codes: Any = ()
        if head and len(paths) == len(head):
            try:
                codes = loads(blob)
            except Exception:  # a corrupt code part: the pycs
                codes = ()
            if (
                type(codes) is not tuple
                or len(codes) != len(head)
                or any(type(c) is not code_type for c in codes)
            ):
                codes = ()
        if codes:
            for (short, _t, _s), code, (src, cached) in zip(head, codes, paths):
                # (unless one before imported it)
                if "bpfmaps." + short not in mods and not run(short, src, cached, code):
                    return
            return
    record = []
    for short in todo:
        if "bpfmaps." + short in mods:  # imported by one before it: no bundle then
            continue
        src, cached = where(short)
        try:
            st = stat(src)
            with open_code(cached) as f:
                data = f.read()
        except OSError:
            return
        if (
            data[:8] != magic + b"\0\0\0\0"  # flags 0: a timestamp-checked pyc
            or int.from_bytes(data[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF
            or int.from_bytes(data[12:16], "little") != st.st_size & 0xFFFFFFFF
        ):
            return
        try:
            code = loads(memoryview(data)[16:])
        except (EOFError, ValueError, TypeError):  # a truncated or bad file
            return
        if type(code) is not code_type or not run(short, src, cached, code):
            return
        record.append((short, st.st_mtime_ns, st.st_size, code))
    if packed and len(record) == len(names) and not sys.dont_write_bytecode:
        try:
            head = tuple(r[:3] for r in record)
            blob = ext.marshal.dumps(tuple(r[3] for r in record))
            ext._write_atomic(packed, ext.marshal.dumps((magic, head, blob)))
        except OSError:
            pass  # a read-only install, or another process writing it: the pycs serve


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
        _preload(_RUNNER_PATH[2:], _BUNDLE)
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
