"""BTF codecs on maps a real loader created: clang-compiled progs/typed_maps.bpf.c,
loaded with ``bpftool prog load ... pinmaps``, filled with random bytes, decoded with
``btf=True`` and compared with the ctypes model in _model.py (independent of bpfmaps)."""

from __future__ import annotations

import dataclasses
import enum
import os
import random

import pytest

from bpfmaps import CodecError, Map

from . import _model as M
from ._prog import compile_prog, load_prog

pytestmark = pytest.mark.kernel


@pytest.fixture
def pins(bpffs):
    return load_prog("typed_maps", bpffs)


def _rand(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def test_backends_decode_matches_model_and_round_trips(pins):
    rng = random.Random(12)
    with Map.from_pin(os.path.join(pins, "backends"), btf=True) as m:
        assert m.key_codec.c_name == "struct flow_key"
        assert m.value_codec.c_name == "struct backend"
        raw = m.raw
        written = {}
        for _ in range(40):
            # keys with _Bool bytes 0/1, so encode(decode(k)) == k identifies them
            k = M.canonical(M.flow_key, _rand(rng, m.key_size))
            v = _rand(rng, m.value_size)
            raw[k] = v
            written[k] = v
        # some values that name enum members, so both enum branches run
        k0 = next(iter(written))
        v0 = bytearray(written[k0])
        v0[60:64] = (2).to_bytes(4, "little")  # color = BLUE
        raw[k0] = written[k0] = bytes(v0)
        seen = 0
        for key, value in m.items():
            kb = m.key_codec.encode(key)
            assert M.normalize(key) == M.expected(M.flow_key, kb)
            assert M.normalize(value) == M.expected(M.backend, written[kb])
            seen += 1
        assert seen == len(written)
        got = m[m.key_codec.decode(k0)]
        assert (
            got.color
            is m.value_codec.compiler.enum_class(m.value_codec.layout.members[5].type).BLUE
        )
        # round trip: canonical bytes (no padding, bools 0/1) survive decode + encode
        for k, v in written.items():
            canon = M.canonical(M.backend, v)
            raw[k] = canon
            m[m.key_codec.decode(k)] = m[m.key_codec.decode(k)]
            assert raw[k] == canon
            assert m.value_codec.encode(m.value_codec.decode(v)) == canon


def test_value_rules_on_real_btf(pins):
    with Map.from_pin(os.path.join(pins, "backends"), btf=True) as m:
        rec_cls = m.value_codec.cls
        assert rec_cls.__name__ == "backend"
        v = m.value_codec.decode(bytes(m.value_size))
        assert dataclasses.is_dataclass(v)
        assert type(v.name) is bytes and len(v.name) == 16  # char[16] -> full-length bytes
        assert type(v.mac) is bytes and len(v.mac) == 6  # __u8[6]
        assert v.weights == [0, 0, 0] and v.grid == [[0, 0, 0], [0, 0, 0]]
        assert v.addr.up is False and type(v.stats.avg) is float
        assert isinstance(v.color, enum.IntEnum) and v.color.name == "RED"
        assert type(v.counters) is list and len(v.counters) == 20
        # anonymous union member and the anonymous struct inside it
        assert type(v._anon0).__name__ == "backend_anon0"
        assert v._anon0._anon0.lo == 0 and v._anon0.raw == 0
        assert type(v.stats).__name__ == "backend_stats"
        # the same C type in key and value is one class
        k = m.key_codec.decode(bytes(m.key_size))
        assert type(k.src) is type(v.addr)
        # mutable, ==, asdict, and an update through the record
        v.addr.port = 8080
        v.delta = -16
        v.tint = 2
        v._anon0.raw = 1 << 40
        key = m.key_codec.decode(bytes(range(16)))
        m[key] = v
        back = m[key]
        # (a union's other members are not recomputed in Python: v still has hi == 0)
        assert back == dataclasses.replace(v, _anon0=back._anon0)
        assert back._anon0.raw == v._anon0.raw and back.delta == -16 and back.tint.name == "BLUE"
        assert back._anon0._anon0.hi == 1 << 8
        d = dataclasses.asdict(back)
        assert d["addr"]["port"] == 8080
        m[key] = d  # asdict() output encodes back (union members agree)
        assert m[key] == back
        # a union in a dict: one member, or members that agree
        d["_anon0"] = {"raw": 7}
        m[key] = d
        assert m[key]._anon0.raw == 7


def test_codec_errors_name_the_path_before_any_syscall(pins):
    with Map.from_pin(os.path.join(pins, "backends"), btf=True) as m:
        key = m.key_codec.decode(bytes(16))
        good = dataclasses.asdict(m.value_codec.decode(bytes(m.value_size)))
        cases = {
            "value.addr.port": dict(good, addr=dict(good["addr"], port=70000)),
            "value.addr": dict(good, addr={"ip": 1}),
            "value.name": dict(good, name=b"short"),
            "value.weights": dict(good, weights=[1, 2]),
            "value.weights[1]": dict(good, weights=[1, "x", 3]),
            "value.delta": dict(good, delta=16),
            "value.kind": dict(good, kind=8),
            "value.addr.up": dict(good, addr=dict(good["addr"], up=2)),
            "value._anon0": dict(good, _anon0={"raw": 1, "_anon0": {"lo": 1, "hi": 2}}),
            "value.stats.ratio": dict(good, stats={"ratio": "1", "avg": 0.0}),
            "value": {**good, "bogus": 1},
        }
        for path, bad in cases.items():
            with pytest.raises(CodecError) as ei:
                m[key] = bad
            msg = str(ei.value)
            assert msg.startswith(path + ":"), (path, msg)
        assert key not in m  # nothing reached the kernel
        with pytest.raises(CodecError, match=r"^key\.src: "):
            m[{"src": 1, "dst": dataclasses.asdict(key.dst)}] = good


def test_percpu_enum_and_lpm_maps(pins):
    rng = random.Random(3)
    with Map.from_pin(os.path.join(pins, "percpu_addrs"), btf=True) as m:
        n = m.ncpus
        buf = _rand(rng, m.value_buf_size)
        m.raw[(1).to_bytes(4, "little")] = buf
        vals = m[1]
        assert type(vals) is list and len(vals) == n
        for cpu, v in enumerate(vals):
            assert M.normalize(v) == M.expected(M.addr, buf[cpu * 8 : cpu * 8 + 8])
        m[2] = vals
        assert m[2] == vals
    with Map.from_pin(os.path.join(pins, "colors"), btf=True) as c:
        E = c.value_codec.cls
        assert issubclass(E, enum.IntEnum) and E.NEG == 4294967291  # unsigned, as BTF says
        c[1] = E.BLUE
        c.raw[(2).to_bytes(4, "little")] = (77).to_bytes(4, "little")
        assert c[1] is E.BLUE and c[2] == 77 and type(c[2]) is int
        with pytest.raises(CodecError, match="^value: "):
            c[3] = -5
    with Map.from_pin(os.path.join(pins, "prefixes"), btf=True) as t:
        t[{"prefixlen": 24, "data": bytes([10, 1, 2, 0])}] = 5
        ((k, v),) = t.items()
        assert (k.prefixlen, k.data, v) == (24, bytes([10, 1, 2, 0]), 5)


def test_typed_view_and_open_paths(pins, kernel_backend):
    path = os.path.join(pins, "colors")
    with Map.from_pin(path) as plain:
        assert type(plain[bytes(4)]) is bytes
        t = plain.typed(btf=True)
        assert t[0].name == "RED"
        t2 = plain.typed(value="I", btf=True)  # an explicit codec wins for its side
        assert t2[0] == 0 and type(t2[0]) is int and t2.key_codec.c_name == "__u32"
        mid = plain.id
        with Map.from_id(mid, btf=True) as byid:
            assert byid[0].name == "RED"
        with Map.from_fd(plain.fileno(), btf=True) as byfd:
            assert byfd[0].name == "RED"
        with Map.from_name("colors", btf=True) as byname:
            assert byname[0].name == "RED"


def test_map_without_btf_names_the_map(kernel_backend):
    from bpfmaps.btf.typed import NoBTFError

    with Map.create("hash", 4, 4, 2, "btfty_nobtf") as m:
        with pytest.raises(NoBTFError) as ei:
            m.typed(btf=True)
        assert "btfty_nobtf" in str(ei.value) and ei.value.map == m.info.describe()
        with pytest.raises(CodecError, match="btfty_nobtf"):
            Map.from_id(m.id, btf=True)


def test_object_btf_without_kernel():
    """The same codecs from the ELF's .BTF (no kernel): random bytes vs the model."""
    from bpfmaps.btf import Kind, load_file
    from bpfmaps.btf.typed import btf_codecs

    btf = load_file(compile_prog("typed_maps"))
    kid = btf.find("flow_key", Kind.STRUCT).id
    vid = btf.find("backend", Kind.STRUCT).id
    kc, vc = btf_codecs(btf, kid, vid)
    rng = random.Random(5)
    for _ in range(200):
        data = _rand(rng, vc.size)
        assert M.normalize(vc.decode(data)) == M.expected(M.backend, data)
        assert vc.encode(vc.decode(data)) == M.canonical(M.backend, data)


def test_loader_maps_without_btf_give_the_clear_error(pins):
    from bpfmaps.btf.typed import NoBTFError

    # libbpf creates map-in-map maps, and maps defined with key_size instead of a key
    # type, without BTF at all
    for name in ("outer", "sized_key"):
        with pytest.raises(NoBTFError, match=f"'{name}' has no BTF") as ei:
            Map.from_pin(os.path.join(pins, name), btf=True)
        assert ei.value.map.endswith(f"'{name}'") and ei.value.side == "map"


def test_global_data_maps_decode_their_variables(pins):
    """libbpf's .bss/.data maps: a DATASEC value (one member per variable), no key type."""
    names = os.listdir(pins)
    bss = next(n for n in names if n.endswith("_bss"))
    data = next(n for n in names if n.endswith("_data"))
    with Map.from_pin(os.path.join(pins, bss), btf=True) as m:
        assert m.info.btf_key_type_id == 0 and m.key_codec.c_name == "__u32"
        v = m[0]
        assert type(v).__name__ == "_bss" and v.packets_seen == 0
        assert type(v.last_addr).__name__ == "addr"
        v.packets_seen = 41
        v.last_addr.port = 9
        m[0] = v
        assert m[0].packets_seen == 41 and m[0].last_addr.port == 9
    with Map.from_pin(os.path.join(pins, data), btf=True) as m:
        v = m[0]
        assert v.verbose == 3 and v.banner == b"hello\0\0\0"
