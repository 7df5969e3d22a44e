"""``bpfmaps btf gen``: the generated module imports, decodes like ``btf=True`` and
passes ``mypy --strict``."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import random
import struct
import subprocess
import sys

import pytest

from bpfmaps.btf import Kind, load_file
from bpfmaps.btf.gen import generate_for_btf
from bpfmaps.btf.typed import btf_codecs

from ._prog import compile_prog, load_prog

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _import(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _plain(v):
    if dataclasses.is_dataclass(v):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, float):  # NaN != NaN: compare the bits
        return struct.pack("=d", v)
    return v


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    obj = compile_prog("typed_maps")
    d = tmp_path_factory.mktemp("gen")
    path = d / "typed_maps_types.py"
    r = subprocess.run(
        [sys.executable, "-m", "bpfmaps", "btf", "gen", "file", obj, "out", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    return obj, str(path)


def test_generated_module_matches_runtime_codecs(generated):
    obj, path = generated
    with open(path) as f:
        text = f.read()
    assert text == generate_for_btf(load_file(obj), source=f"file {obj}")
    mod = _import(path, "typed_maps_types")
    assert dataclasses.is_dataclass(mod.backend) and mod.backends_value.cls is mod.backend
    assert mod.backends_key.cls is mod.flow_key and mod.colors_value.cls is mod.color
    assert issubclass(mod.color, int) and mod.color.BLUE == 2
    btf = load_file(obj)
    _kc, vc = btf_codecs(btf, 0, btf.find("backend", Kind.STRUCT).id)
    rng = random.Random(1)
    for _ in range(50):
        data = bytes(rng.getrandbits(8) for _ in range(vc.size))
        got = mod.backends_value.decode(data)
        assert type(got) is mod.backend
        assert _plain(got) == _plain(vc.decode(data))
        assert mod.backends_value.encode(got) == vc.encode(vc.decode(data))
    # the classes are usable on their own: zero defaults, keyword construction
    b = mod.backend(weights=[1, 2, 3])
    assert b.name == bytes(16) and b.addr == mod.addr() and b.weights == [1, 2, 3]
    assert mod.backends_value.decode(mod.backends_value.encode(b)) == b
    # layouts travel with the classes: a Map can be created from them with btf=True
    from bpfmaps.btf.fromcodec import layout_of

    assert layout_of(mod.backend) == vc.layout


def test_generated_module_passes_mypy_strict(generated, tmp_path):
    _obj, path = generated
    use = tmp_path / "use_types.py"
    use.write_text(
        "from typed_maps_types import backend, backends_value, color\n"
        "v: backend = backends_value.decode(bytes(backends_value.size))\n"
        "v.addr.port = 80\n"
        "port: int = v.addr.port\n"
        "name: bytes = v.name\n"
        "c: color = color.BLUE\n"
        "data: bytes = backends_value.encode(v)\n"
    )
    env = dict(os.environ, MYPYPATH=os.path.dirname(path) + os.pathsep + ROOT)
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", path, str(use)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_cli_errors(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "bpfmaps", "btf", "gen", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    r = run("file", str(tmp_path / "missing.o"))
    assert r.returncode == 255 and r.stderr.startswith("Error: ") and "missing.o" in r.stderr
    r = run("file", compile_prog("typed_maps"), "type", "no_such_type")
    assert r.returncode == 255 and "no_such_type" in r.stderr
    r = run("bogus", "x")
    assert r.returncode == 255 and "expected 'map', 'file' or 'id'" in r.stderr
    r = run("file", compile_prog("typed_maps"), "type", "addr")
    assert r.returncode == 0 and "class addr:" in r.stdout and "addr_codec" in r.stdout
    assert "class backend" not in r.stdout


@pytest.mark.kernel
def test_gen_from_a_pinned_map(bpffs, tmp_path):
    d = load_prog("typed_maps", bpffs)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bpfmaps",
            "btf",
            "gen",
            "map",
            "pinned",
            os.path.join(d, "backends"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    path = tmp_path / "backends_types.py"
    path.write_text(r.stdout)
    mod = _import(str(path), "backends_types")
    from bpfmaps import Map

    with Map.from_pin(
        os.path.join(d, "backends"), key=mod.backends_key, value=mod.backends_value
    ) as m:
        k = mod.flow_key(src=mod.addr(ip=1, port=2))
        m[k] = mod.backend(name=b"x".ljust(16, b"\0"))
        assert type(m[k]) is mod.backend and m[k].name[:1] == b"x"
