"""The command's start-up: the bpfmaps modules a ``batch file`` / ``map`` run needs,
loaded from their compiled code without the import system's finder and loader steps
(:func:`preload`), from one bundle of their code when it is fresh.  Only
:func:`bpfmaps.cli.command` (the command's own process) uses it; ``cli.main`` called as
a function imports as usual.  Pure Python (sys, and CPython's frozen importlib
modules it finds in ``sys.modules``); see docs/performance.md for what it saves.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BUNDLE", "RUNNER_PATH", "preload"]

#: the modules the runner needs (every ``batch file`` / ``map`` run of the command), in
#: an order where each one's own imports of bpfmaps modules come before it (its
#: dependencies first): ``main`` preloads them all for a runner command typed in full,
#: else the first two for the command tables, then the rest for the runner.
#: tests/bpftool/test_cli_preload.py checks the order and that the list is what ``main``
#: loads without it
RUNNER_PATH = (
    "bpftool", "bpftool.handle", "_errbase", "errors", "bpftool._safety", "chunks",
    "_loopbase", "_record", "types", "loops", "_cpus", "parallel", "engine", "bpftool.plan",
    "bpftool.scan", "bpftool.cprint", "bpftool.state", "bpftool.execute", "bpftool.parse",
    "bpftool.resolve", "bpftool.runner", "_cbuf", "_kloops", "kernel",
)  # fmt: skip
#: the file (``bpfmaps/_runner_path.marshal`` shipped empty in an installed package,
#: else in the package's ``__pycache__`` with ``.{cache_tag}`` before the suffix) that
#: holds the code of ``RUNNER_PATH`` (see :func:`preload`)
BUNDLE = "_runner_path"
#: the qualified name of the stock FileFinder path hook (``sys.path_hooks[-1]``)
_HOOK = "FileFinder.path_hook.<locals>.path_hook_for_FileFinder"


def preload(names: tuple[str, ...], bundle: str | None = None) -> None:
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
    todo = [n for n in names if "bpfmaps." + n not in mods]
    if not todo:
        return
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
    code_type = type(preload.__code__)

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

    packed = ""
    if bundle:
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
        # the header's length (4 bytes, little-endian), the header (magic, ((short,
        # mtime_ns, size), ...)) and the codes, each marshalled: the header is checked
        # against every source before the codes (~300 KB) are unmarshalled, so a stale
        # bundle costs one read and a stat a module; both parts are unmarshalled from
        # views of the one buffer read (a copy of the code part would fault in ~80
        # fresh pages, about 0.1 ms)
        head: Any = ()
        raw: Any = b""
        blob: Any = b""
        if f is not None:
            with f:
                try:
                    raw = memoryview(f.read())
                    end = 4 + int.from_bytes(raw[:4], "little")
                    tag_, head = loads(raw[4:end])
                    blob = raw[end:]
                    if (
                        tag_ != magic
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
        blob = raw = b""  # the file's buffer (~300 KB) is not needed past here
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
            dumps = ext.marshal.dumps
            top = dumps((magic, tuple(r[:3] for r in record)))
            body = dumps(tuple(r[3] for r in record))
            ext._write_atomic(packed, len(top).to_bytes(4, "little") + top + body)
        except OSError:
            pass  # a read-only install, or another process writing it: the pycs serve
