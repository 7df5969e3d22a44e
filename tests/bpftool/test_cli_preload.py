"""The command's preload of the runner's modules (``bpfmaps._preload``, run by ``bpfmaps.cli``): it loads
exactly the modules an ordinary import of the runner path loads, in an order that needs
no other bpfmaps module through the import system, and leaves each module as importlib
would (attributes, spec, loader); stale bytecode falls back to the ordinary imports.

Each case runs in a fresh interpreter on a copy of the package with its bytecode
compiled (the test environment may not write bytecode), so the repository tree is not
touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bpfmaps.cli import _BUNDLE, _RUNNER_PATH

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the child: a spy on the PathFinder records what reaches the import system's finders;
# then either the preload (argv[1] == "preload") or the ordinary imports of the same
# modules; reports the new bpfmaps modules and, for each, what importlib sets
_CHILD = r"""
import json, sys


from importlib.machinery import PathFinder


class Spy:
    seen = []
    orig = PathFinder.find_spec

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        cls.seen.append(name)
        return cls.orig(name, path, target)


before = set(sys.modules)
import bpfmaps.cli as cli

PathFinder.find_spec = Spy.find_spec
if len(sys.argv) > 2 and sys.argv[2] == "finder":  # a user finder first: asked for each
    class First:
        asked = []

        @classmethod
        def find_spec(cls, name, path=None, target=None):
            cls.asked.append(name)
            return None

    sys.meta_path.insert(0, First)
if len(sys.argv) > 2 and sys.argv[2] == "audit":
    audited = []
    sys.addaudithook(lambda ev, args: ev == "import" and audited.append(args[0]))
if len(sys.argv) > 2 and sys.argv[2] == "readonly":
    import _frozen_importlib_external as ext

    def refuse(path, data, mode=0o666):
        raise PermissionError(13, "read-only", path)

    ext._write_atomic = refuse
if len(sys.argv) > 2 and sys.argv[2] == "loads":  # what the preload unmarshals
    import marshal

    decoded = []
    orig_loads = marshal.loads

    def counting(data):
        out = orig_loads(data)
        if type(out) is tuple and out and all(type(c) is type(counting.__code__) for c in out):
            decoded.append(len(out))
        return out

    marshal.loads = counting
if sys.argv[1] == "preload":
    cli._preload(cli._RUNNER_PATH)
elif sys.argv[1] == "command":  # main as the command runs it
    cli._preload_on = True
    assert cli.main(["batch", "file", "/dev/null"]) == 0
elif sys.argv[1] == "prefix":  # the same, the command abbreviated: the two steps
    cli._preload_on = True
    assert cli.main(["ba", "file", "/dev/null"]) == 0
elif sys.argv[1] == "import":
    for short in cli._RUNNER_PATH:
        __import__("bpfmaps." + short)
else:
    assert cli.main(["batch", "file", "/dev/null"]) == 0
PathFinder.find_spec = Spy.orig
new = sorted(m for m in set(sys.modules) - before if m.startswith("bpfmaps"))


def describe(m):
    spec = m.__spec__
    parent, _, child = m.__name__.rpartition(".")
    return {
        "attrs": [k for k in vars(m) if k.startswith("__")][:9],
        "dir": sorted(vars(m)),
        "file": m.__file__, "cached": m.__cached__, "package": m.__package__,
        "path": getattr(m, "__path__", None), "loader": type(m.__loader__).__name__,
        "loader_is_spec's": m.__loader__ is spec.loader,
        "loader_name_path": [m.__loader__.name, m.__loader__.path],
        "spec": [spec.name, spec.origin, spec.cached, spec.parent, spec.has_location,
                 spec.submodule_search_locations, getattr(spec, "_initializing", None)],
        "in_parent": getattr(sys.modules[parent], child, None) is m,
        "co_filenames": sorted(
            {v.__code__.co_filename for v in vars(m).values() if hasattr(v, "__code__")}
        ),
    }


mods = {n: describe(sys.modules[n]) for n in new if n.count(".") and "_ffi" not in n}
extra = {}
if len(sys.argv) > 2 and sys.argv[2] == "finder":
    extra["asked"] = [n for n in First.asked if n.startswith("bpfmaps")]
if len(sys.argv) > 2 and sys.argv[2] == "loads":
    extra["decoded"] = decoded
if len(sys.argv) > 2 and sys.argv[2] == "audit":
    extra["audited"] = [n for n in audited if n.startswith("bpfmaps")]
print(json.dumps({"new": new, "seen": Spy.seen, "mods": mods, **extra}))
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of the package with its bytecode compiled (timestamp-checked pycs)."""
    root = tmp_path_factory.mktemp("preload")
    shutil.copytree(
        os.path.join(ROOT, "bpfmaps"),
        root / "bpfmaps",
        ignore=shutil.ignore_patterns("__pycache__", "*.o", "*.c", "*.h"),
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(root / "bpfmaps")], check=True, env=env
    )
    return root


def _child(tree, how: str, write: bool = False, extra: str = "", flags=()) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    if write:  # bytecode (and the bundle) written
        del env["PYTHONDONTWRITEBYTECODE"]
    p = subprocess.run(
        [sys.executable, *flags, "-c", _CHILD, how, extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tree),
        check=False,
    )
    assert p.returncode == 0, p.stderr
    report: dict = json.loads(p.stdout.splitlines()[-1])
    return report


def test_preload_is_the_runner_path(tree):
    """The list is what ``main`` loads for a runner command without it (no module more,
    none less), and the preload loads all of it without the import system: its order
    has every module's bpfmaps imports before it (only the compiled extension, which it
    does not load itself, goes through the finders)."""
    ordinary = _child(tree, "main")
    pre = _child(tree, "command")
    assert pre["new"] == ordinary["new"]
    listed = {"bpfmaps." + m for m in _RUNNER_PATH}
    outside = {"bpfmaps", "bpfmaps.cli", "bpfmaps._preload", "bpfmaps._ffi", "bpfmaps._ffi.lib"}
    assert set(ordinary["new"]) - outside == listed
    ours = [n for n in pre["seen"] if n.startswith("bpfmaps")]
    assert ours == ["bpfmaps._ffi"], ours


def test_runner_words_pick_themselves():
    """``main`` preloads the whole runner path for these words before it looks the
    command up: each must be the command TOP_COMMANDS picks for it."""
    from bpfmaps.bpftool.handle import TOP_COMMANDS
    from bpfmaps.cli import _RUNNER_WORDS

    for word in _RUNNER_WORDS:
        assert next(t for t in TOP_COMMANDS if t.startswith(word)) == word


def test_abbreviated_command_takes_the_bundle_after_the_tables(tree, tmp_path):
    """An abbreviated command (``ba``): the command tables from their pycs, then the
    rest from the bundle (not a pyc of them read), which it does not rewrite."""
    t = tmp_path / "t"
    shutil.copytree(tree, t)
    packed = t / "bpfmaps" / "__pycache__" / f"{_BUNDLE}.{sys.implementation.cache_tag}.marshal"
    _child(t, "command", write=True)
    before = packed.read_bytes()
    cache = t / "bpfmaps" / "__pycache__"
    engine_pyc = cache / f"engine.{sys.implementation.cache_tag}.pyc"
    good = engine_pyc.read_bytes()
    engine_pyc.write_bytes(good[:40])  # truncated: only the bundle serves
    run = _child(t, "prefix", write=True, extra="loads")
    engine_pyc.write_bytes(good)
    assert _ours(run) == ["bpfmaps._ffi"]
    assert run["decoded"] == [len(_RUNNER_PATH)]
    assert run["new"] == _child(t, "main")["new"]
    assert run["mods"] == _child(t, "import")["mods"]
    assert packed.read_bytes() == before


def test_preload_leaves_the_modules_as_importlib_does(tree):
    pre = _child(tree, "preload")
    imp = _child(tree, "import")
    assert pre["new"] == imp["new"]
    assert pre["mods"].keys() == imp["mods"].keys() and len(pre["mods"]) >= 20
    for name, want in imp["mods"].items():
        assert pre["mods"][name] == want, name
    engine = imp["mods"]["bpfmaps.engine"]
    assert engine["loader"] == "SourceFileLoader" and engine["spec"][4] is True
    assert imp["mods"]["bpfmaps.bpftool"]["path"] == [str(tree / "bpfmaps" / "bpftool")]


def test_stale_bytecode_falls_back_to_the_imports(tree, tmp_path):
    """A source newer than its bytecode (edited after compiling): the preload stops
    there and the ordinary imports load that module (from the source) and the rest."""
    stale = tmp_path / "t"
    shutil.copytree(tree, stale)
    src = stale / "bpfmaps" / "chunks.py"
    st = os.stat(src)
    os.utime(src, (st.st_atime, st.st_mtime + 10))
    pre = _child(stale, "preload")  # stops at chunks: what comes before it is loaded
    assert "bpfmaps.bpftool._safety" in pre["new"] and "bpfmaps.chunks" not in pre["new"]
    assert not [n for n in pre["seen"] if n.startswith("bpfmaps")]
    run = _child(stale, "command")
    assert run["new"] == _child(stale, "main")["new"]
    seen = [n for n in run["seen"] if n.startswith("bpfmaps")]
    assert "bpfmaps.chunks" in seen and "bpfmaps.kernel" in seen, seen
    assert not {"bpfmaps.errors", "bpfmaps.bpftool._safety"} & set(seen), seen


def _ours(report: dict) -> list[str]:
    return [n for n in report["seen"] if n.startswith("bpfmaps")]


def test_bundle_written_used_and_checked(tree, tmp_path):
    """A preload from the pycs writes the bundle (when bytecode is written); the next
    run loads the modules from it (it does not read a pyc: a broken one is not seen),
    as importlib leaves them; an edited source makes it stale: that run preloads from
    the pycs and imports from the edited module on, without writing the bundle; the
    following one, every pyc fresh again, writes it anew."""
    t = tmp_path / "t"
    shutil.copytree(tree, t)
    cache = t / "bpfmaps" / "__pycache__"
    packed = cache / f"{_BUNDLE}.{sys.implementation.cache_tag}.marshal"
    assert not packed.exists()
    assert _ours(_child(t, "command")) == ["bpfmaps._ffi"]
    assert not packed.exists()  # bytecode not written: no bundle
    _child(t, "command", write=True)
    assert packed.exists()
    engine_pyc = cache / f"engine.{sys.implementation.cache_tag}.pyc"
    good = engine_pyc.read_bytes()
    engine_pyc.write_bytes(good[:40])  # truncated: a preload from the pycs stops there
    run = _child(t, "command")
    assert _ours(run) == ["bpfmaps._ffi"]
    engine_pyc.write_bytes(good)
    assert run["mods"] == _child(t, "import")["mods"]
    before = packed.read_bytes()
    src = t / "bpfmaps" / "chunks.py"
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))
    stale = _child(t, "command", write=True)
    assert "bpfmaps.chunks" in _ours(stale) and "bpfmaps.errors" not in _ours(stale)
    assert packed.read_bytes() == before  # not written by a run that imported
    _child(t, "command", write=True)  # the pycs fresh: from them, then the bundle
    assert packed.read_bytes() != before
    assert _ours(_child(t, "command")) == ["bpfmaps._ffi"]


def test_stale_bundle_code_is_not_unmarshalled(tree, tmp_path):
    """The bundle's header (each source's mtime and size) is checked before its code
    part is unmarshalled: a fresh bundle decodes its codes once, a stale one never
    (it costs a read and a stat a module, then the pycs serve)."""
    t = tmp_path / "t"
    shutil.copytree(tree, t)
    _child(t, "command", write=True)
    fresh = _child(t, "command", extra="loads")
    assert fresh["decoded"] == [len(_RUNNER_PATH)]
    assert _ours(fresh) == ["bpfmaps._ffi"]
    src = t / "bpfmaps" / (_RUNNER_PATH[-1].replace(".", "/") + ".py")
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))
    stale = _child(t, "command", extra="loads")
    assert stale["decoded"] == []
    assert stale["mods"] == _child(t, "import")["mods"]


@pytest.mark.parametrize(
    "flags,env",
    [(("-v",), {}), (("-X", "importtime"), {}), ((), {"PYTHONPROFILEIMPORTTIME": "1"})],
)
def test_verbose_and_importtime_see_the_imports(tree, flags, env, monkeypatch):
    """``-v`` and ``-X importtime`` (or its variable) report every import: the preload
    steps aside and the import system loads the modules."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    run = _child(tree, "command", flags=flags)
    assert {"bpfmaps.kernel", "bpfmaps.engine", "bpfmaps.errors"} <= set(_ours(run))
    assert run["new"] == _child(tree, "main")["new"]


def test_user_finder_and_audit_hooks_are_honoured(tree):
    """A finder before the PathFinder is asked for every module, as the import system
    asks it; an audit hook sees an ``import`` event for every module."""
    asked = _child(tree, "command", extra="finder")
    listed = ["bpfmaps." + m for m in _RUNNER_PATH]
    assert set(listed) <= set(asked["asked"]), asked["asked"]
    assert _ours(asked) == ["bpfmaps._ffi"]  # it found none: the preload went on
    pre = _child(tree, "command", extra="audit")
    plain = _child(tree, "main", extra="audit")
    assert set(listed) <= set(pre["audited"])
    assert sorted(pre["audited"]) == sorted(plain["audited"])


def _files(t) -> set[str]:
    return {os.path.join(d, f) for d, _, fs in os.walk(t) for f in fs}


def test_no_bytecode_written_preloads_from_the_pycs(tree, tmp_path):
    t = tmp_path / "t"
    shutil.copytree(tree, t)
    before = _files(t)
    run = _child(t, "command")
    assert _ours(run) == ["bpfmaps._ffi"]
    assert _files(t) == before


def _split(data: bytes) -> tuple:
    """(magic, head, code part) of a bundle: the header's length (4 bytes,
    little-endian), the marshalled header (magic, head), then the marshalled codes."""
    import marshal

    end = 4 + int.from_bytes(data[:4], "little")
    magic, head = marshal.loads(data[4:end])
    return magic, head, data[end:]


def _join(magic, head, blob: bytes) -> bytes:
    import marshal

    top = marshal.dumps((magic, head))
    return len(top).to_bytes(4, "little") + top + blob


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage\x00\xff", b"truncated", b"int", b"shape", b"notcode", b"fewer", b"badblob",
     b"oldformat", b"longhead", b"magic"],
)  # fmt: skip
def test_bad_bundle_falls_back_with_the_same_result(tree, tmp_path, content):
    """A truncated, corrupt or foreign bundle (or one of the older layout, a single
    marshalled (magic, head, codes)): the modules come from the pycs (the same modules,
    as importlib leaves them), and a run writing bytecode rewrites it."""
    import marshal

    t = tmp_path / "t"
    shutil.copytree(tree, t)
    packed = t / "bpfmaps" / "__pycache__" / f"{_BUNDLE}.{sys.implementation.cache_tag}.marshal"
    _child(t, "command", write=True)
    good = packed.read_bytes()
    magic, head, blob = _split(good)
    codes = marshal.loads(blob)
    bad = {
        b"truncated": good[: len(good) // 2],
        b"int": marshal.dumps(5),
        b"shape": _join(magic, tuple(e[:2] for e in head), blob),
        b"notcode": _join(magic, head, marshal.dumps(tuple("print(1)" for _ in codes))),
        b"fewer": _join(magic, head, marshal.dumps(codes[:-1])),
        b"badblob": _join(magic, head, blob[: len(blob) // 2]),
        b"oldformat": marshal.dumps((magic, head, blob)),
        b"longhead": (len(good) + 1).to_bytes(4, "little") + good[4:],
        b"magic": _join(b"\0\0\r\n", head, blob),
    }.get(content, content)
    packed.write_bytes(bad)
    run = _child(t, "command")
    assert _ours(run) == ["bpfmaps._ffi"]
    assert run["new"] == _child(t, "main")["new"]
    assert run["mods"] == _child(t, "import")["mods"]
    assert packed.read_bytes() == bad  # not written without bytecode
    _child(t, "command", write=True)
    assert _split(packed.read_bytes())[1][0][0] == _RUNNER_PATH[0]


def test_read_only_and_concurrent_first_runs(tree, tmp_path):
    """A bundle that cannot be written (a read-only install) leaves the preload from
    the pycs; two first runs at once both run as usual and leave a valid bundle."""
    t = tmp_path / "t"
    shutil.copytree(tree, t)
    packed = t / "bpfmaps" / "__pycache__" / f"{_BUNDLE}.{sys.implementation.cache_tag}.marshal"
    ro = _child(t, "command", write=True, extra="readonly")
    assert _ours(ro) == ["bpfmaps._ffi"] and not packed.exists()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(t)
    for _ in range(3):
        if packed.exists():
            packed.unlink()
        ps = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, "command", ""],
                env=env,
                cwd=str(t),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outs = [p.communicate() for p in ps]
        assert [p.returncode for p in ps] == [0, 0], outs
        reports = [json.loads(o.decode().splitlines()[-1]) for o, _ in outs]
        assert reports[0]["new"] == reports[1]["new"]
        assert packed.exists()
        assert _ours(_child(t, "command")) == ["bpfmaps._ffi"]  # from the bundle
    assert not [f for f in _files(t) if ".marshal." in f]  # no temporary left


def test_installed_bundle_is_the_shipped_file(tree, tmp_path):
    """An installed package ships an empty ``bpfmaps/_runner_path.marshal`` (in the
    wheel's RECORD, so uninstalling removes it): the bundle is written there, not in
    ``__pycache__``."""
    t = tmp_path / "t"
    shutil.copytree(tree, t)
    shipped = t / "bpfmaps" / f"{_BUNDLE}.marshal"
    shipped.write_bytes(b"")
    _child(t, "command", write=True)
    assert shipped.stat().st_size > 1000
    assert not [f for f in _files(t) if f.endswith(".marshal") and "__pycache__" in f]
    run = _child(t, "command")
    assert _ours(run) == ["bpfmaps._ffi"] and run["mods"] == _child(t, "import")["mods"]
