"""Golden outputs of ``bpfmaps`` batch files: run the cases, record or compare.

Each case is a batch file ``tests/golden/cases/NAME.batch``.  Lines starting with
``#@`` are directives for this harness (bpftool reads them as comments, so they
count as lines in reports):

``#@ maps a=hash:4:4:64 b=array:4:8:16:0``
    maps created before the run: ``NAME=TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES[:FLAGS]``
    (TYPE is a :class:`bpfmaps.MapType` name in lower case; hash-table types always get
    ``BPF_F_ZERO_SEED`` so bucket order, hence dump order, is the same on the fake
    and on the kernel).
``#@ fill a 16``
    insert keys 0..15 (little-endian ``key_size`` bytes) with value = the key number
    (little-endian ``value_size`` bytes; per-CPU: the same on every CPU).
``#@ opts -j -p --bpftool-compat --dry-run``
    command-line options before ``batch file FILE``.
``#@ stdin``
    pass the file as ``batch file -`` on stdin.
``#@ argv map lookup id {a} key 1 0 0 0``
    run these argv words instead of ``batch file`` (the rest of the file is unused).

Placeholders, replaced before the run and put back in the outputs (so recorded
outputs do not depend on the run): ``{a}`` the id of map ``a``; ``{a.name}`` its name
(unique per process, 15 bytes at most); ``{fs}`` a private
bpffs mount (kernel: a temporary mount; fake: a virtual one); ``{dir}`` the directory
holding the file that is run.  Ids in outputs are replaced by whole-word match; to
make that unambiguous, maps are only created once the next map id is >= 1000
(throwaway maps are created and closed until it is), so no count, line number or
size in an output can equal an id.  Maps pinned under ``{fs}`` by the file
itself (``map create`` / ``map pin``) are recorded too, named ``pin:PATH``.

Ids vary in width between runs, so an error reported with a column (a caret under
the line) would move: the line it points into must name its map by
``name {a.name}`` (fixed width) instead; the recorder refuses the case otherwise.

Recorded per case and per backend: exit status, stdout and stderr (as lists of
lines, byte-exact) and the final contents of every map (sorted ``key value`` hex
pairs; queue/stack: values in pop order).  When the fake and the kernel agree,
one result is stored (``"any"``), else both (``"fake"``, ``"kernel"``).

Regenerate every expected file (needs root for the kernel side)::

    .venv/bin/python tests/golden/record.py            # all cases
    .venv/bin/python tests/golden/record.py NAME ...   # some cases

and check them without writing: ``record.py --check`` (the test does the same).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
EXPECTED = os.path.join(HERE, "expected")
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from bpfmaps.types import MapFlags, MapType, round_up8  # noqa: E402

#: per-CPU buffers of the fake: possible_cpus of the FakeKernel used here
FAKE_NCPUS = 2
#: ids of maps created for a case are at least this (see the module doc)
ID_FLOOR = 1000
FAKE_FS = "/golden-bpffs"
#: map names are g<TOKEN>_<name>: unique per process, so concurrent runs on one
#: machine never see two maps with the same name
_TOKEN = f"{os.getpid() % 100000:05d}"
_HTAB = {MapType.HASH, MapType.LRU_HASH, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH}
_PERCPU = {
    MapType.PERCPU_HASH,
    MapType.PERCPU_ARRAY,
    MapType.LRU_PERCPU_HASH,
}
_KEYLESS = {MapType.QUEUE, MapType.STACK}


class Case:
    """One parsed case file."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = os.path.join(CASES, name + ".batch")
        with open(self.path, "rb") as f:
            self.data = f.read()
        self.maps: list[tuple[str, MapType, int, int, int, int]] = []
        self.fill: list[tuple[str, int]] = []
        self.opts: list[str] = []
        self.stdin = False
        self.argv: Optional[list[str]] = None
        for raw in self.data.decode("latin-1").splitlines():
            if not raw.startswith("#@"):
                continue
            words = raw[2:].split()
            if not words:
                continue
            kw, rest = words[0], words[1:]
            if kw == "maps":
                for spec in rest:
                    mname, _, desc = spec.partition("=")
                    parts = desc.split(":")
                    mt = MapType[parts[0].upper()]
                    ks, vs, n = (int(x, 0) for x in parts[1:4])
                    flags = int(parts[4], 0) if len(parts) > 4 else 0
                    if mt in _HTAB:
                        flags |= MapFlags.ZERO_SEED
                    self.maps.append((mname, mt, ks, vs, n, flags))
            elif kw == "fill":
                self.fill.append((rest[0], int(rest[1])))
            elif kw == "opts":
                self.opts = rest
            elif kw == "stdin":
                self.stdin = True
            elif kw == "argv":
                self.argv = rest
            else:
                raise ValueError(f"{self.path}: unknown directive {kw!r}")

    @property
    def percpu(self) -> bool:
        return any(m[1] in _PERCPU for m in self.maps)


def case_names() -> list[str]:
    return sorted(f[: -len(".batch")] for f in os.listdir(CASES) if f.endswith(".batch"))


# -- backends -------------------------------------------------------------------------
class _Env:
    """A backend plus a bpffs directory for one case."""

    def __init__(self, kind: str, ncpus: int = FAKE_NCPUS) -> None:
        self.kind = kind
        self._mount: Optional[str] = None
        if kind == "fake":
            from bpfmaps.testing import FakeKernel

            self.backend: Any = FakeKernel(possible_cpus=ncpus, bpffs=(FAKE_FS,))
            self.fs = FAKE_FS
        else:
            from bpfmaps.backend import kernel_backend

            self.backend = kernel_backend()
            self.fs = tempfile.mkdtemp(prefix="bpfmaps-golden-fs-")
            r = subprocess.run(["mount", "-t", "bpf", "bpf", self.fs], capture_output=True)
            if r.returncode != 0:
                os.rmdir(self.fs)
                raise RuntimeError(f"cannot mount bpffs: {r.stderr.decode().strip()}")
            self._mount = self.fs

    def close(self) -> None:
        if self._mount is not None:
            subprocess.run(["umount", self._mount], check=True)
            os.rmdir(self._mount)
            self._mount = None

    def burn_ids(self) -> None:
        """Create and close throwaway maps until the next map id is >= ID_FLOOR."""
        b = self.backend
        while True:
            fd = b.map_create(int(MapType.ARRAY), 4, 4, 1, 0, b"golden_burn")
            if fd < 0:
                raise RuntimeError(f"map_create failed: {os.strerror(-fd)}")
            rc, info = b.map_info(fd)
            b.close(fd)
            if rc != 0 or info is None:
                raise RuntimeError("map_info failed")
            if info.id >= ID_FLOOR - 1:
                return


def _le(i: int, size: int) -> bytes:
    return (i % (1 << (8 * size))).to_bytes(size, "little") if size else b""


def _contents(b: Any, fd: int, mt: MapType, ks: int, vs: int) -> list[str]:
    ncpus = b.possible_cpus()
    vsize = round_up8(vs) * ncpus if mt in _PERCPU else vs
    vbuf = b.alloc(max(vsize, 1))
    out = []
    if mt in _KEYLESS:
        while b.map_lookup_and_delete_elem(fd, b.NULL, vbuf, 0) == 0:
            out.append(b.tobytes(vbuf, vsize).hex())
        return out
    kbuf = b.alloc(max(ks, 1))
    key = b.NULL
    rows = []
    for _ in range(1 << 20):
        if b.map_get_next_key(fd, key, kbuf) != 0:
            break
        key = b.tobytes(kbuf, ks)
        rc = b.map_lookup_elem(fd, key, vbuf, 0)
        rows.append(f"{key.hex()} {b.tobytes(vbuf, vsize).hex() if rc == 0 else f'rc={rc}'}")
    return sorted(rows)


def run_case(case: Case, kind: str, ncpus: int = FAKE_NCPUS) -> dict:
    """Run ``case`` on a fresh set of maps on ``kind`` ("fake" or "kernel")."""
    from bpfmaps import cli
    from bpfmaps.backend import use_backend

    env = _Env(kind, ncpus)
    b = env.backend
    fds: dict[str, int] = {}
    tmp = tempfile.mkdtemp(prefix="bpfmaps-golden-")
    try:
        env.burn_ids()
        subst: dict[str, str] = {}
        for name, mt, ks, vs, n, flags in case.maps:
            mname = f"g{_TOKEN}_{name}"
            fd = b.map_create(int(mt), ks, vs, n, flags, mname.encode())
            if fd < 0:
                raise RuntimeError(f"{case.name}: creating map {name}: {os.strerror(-fd)}")
            fds[name] = fd
            rc, info = b.map_info(fd)
            assert rc == 0 and info is not None
            subst[name] = str(info.id)
            subst[name + ".name"] = mname
        for name, count in case.fill:
            mt, ks, vs = next((m[1], m[2], m[3]) for m in case.maps if m[0] == name)
            reps = b.possible_cpus() if mt in _PERCPU else 1
            for i in range(count):
                val = (_le(i, vs) + bytes(round_up8(vs) - vs)) * reps if reps > 1 else _le(i, vs)
                rc = b.map_update_elem(fds[name], b.NULL if mt in _KEYLESS else _le(i, ks), val, 0)
                if rc != 0:
                    raise RuntimeError(f"{case.name}: fill {name}: {os.strerror(-rc)}")
        subst["fs"] = env.fs
        subst["dir"] = tmp

        def fill_in(text: str) -> str:
            return re.sub(r"\{([\w.:]+)\}", lambda m: subst.get(m.group(1), m.group(0)), text)

        data = fill_in(case.data.decode("latin-1")).encode("latin-1")
        path = os.path.join(tmp, case.name + ".batch")
        with open(path, "wb") as f:
            f.write(data)
        if case.argv is not None:
            argv = [fill_in(w) for w in case.opts + case.argv]
        else:
            argv = case.opts + ["batch", "file", "-" if case.stdin else path]
        out, err = io.StringIO(), io.StringIO()
        stdin = io.TextIOWrapper(io.BytesIO(data if case.stdin else b""), encoding="latin-1")
        old_stdin = sys.stdin
        sys.stdin = stdin
        try:
            with use_backend(b), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = cli.main(argv)
        finally:
            sys.stdin = old_stdin

        # memlock is the kernel's accounting, which differs between kernel builds: the
        # output must print each map's own fdinfo value, recorded as {NAME.memlock}
        memlock: dict[str, str] = {}
        for name in fds:
            rc, fdinfo = b.map_fdinfo(fds[name])
            if rc == 0 and fdinfo and "memlock" in fdinfo:
                memlock.setdefault(fdinfo["memlock"], name)
        final: dict[str, list[str]] = {}
        for name, mt, ks, vs, _, _ in case.maps:
            final[name] = _contents(b, fds[name], mt, ks, vs)
        pinned = _pinned_objects(env)
        for rel, fd in pinned:
            rc, info = b.map_info(fd)
            if rc == 0 and info is not None:
                subst["pin:" + rel] = str(info.id)
                final["pin:" + rel] = _contents(b, fd, info.type, info.key_size, info.value_size)
            else:
                final["pin:" + rel] = ["<not a map>"]
            b.close(fd)

        def put_back(text: str) -> str:
            # memlock first (its digits may equal an id), in memlock's two layouts only
            text = re.sub(
                r'(memlock |"bytes_memlock": ?)(\d+)',
                lambda m: (
                    m.group(1)
                    + (
                        "{" + memlock[m.group(2)] + ".memlock}"
                        if m.group(2) in memlock
                        else m.group(2)
                    )
                ),
                text,
            )
            # longest first: {dir} may contain {fs}'s text or vice versa
            for name, value in sorted(subst.items(), key=lambda kv: -len(kv[1])):
                if name in ("fs", "dir") or name.endswith(".name"):
                    text = text.replace(value, "{" + name + "}")
                else:
                    text = re.sub(rf"(?<![\w.]){re.escape(value)}(?![\w])", "{" + name + "}", text)
            return text

        result = {
            "status": status,
            "stdout": put_back(out.getvalue()).splitlines(keepends=True),
            "stderr": put_back(err.getvalue()).splitlines(keepends=True),
            "maps": final,
        }
        lines = case.data.decode("latin-1").splitlines()
        for text in result["stdout"] + result["stderr"]:
            for m in re.finditer(r"\.batch:(\d+):\d+", text):
                n = int(m.group(1))
                if n <= len(lines) and re.search(r"\{\w+\}", lines[n - 1]):
                    raise ValueError(
                        f"{case.name}: an error column is reported on line {n}, which "
                        "names a map by id; ids vary in width between runs: use "
                        "'name {x.name}' on that line (see the module doc)"
                    )
        return result
    finally:
        for fd in fds.values():
            b.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)
        env.close()


def _pinned_objects(env: _Env) -> list[tuple[str, int]]:
    """(relative path, fd) of every object pinned under the case's bpffs."""
    b = env.backend
    found = []
    if env.kind == "kernel":
        for root, _, files in os.walk(env.fs):
            for f in files:
                p = os.path.join(root, f)
                fd = b.obj_get(p, 0)
                if fd >= 0:
                    found.append((os.path.relpath(p, env.fs), fd))
    else:
        for p in sorted(b.pins()):
            fd = b.obj_get(p, 0)
            if fd >= 0:
                found.append((os.path.relpath(p, env.fs), fd))
    return sorted(found)


# -- expected files ---------------------------------------------------------------------
def expected_path(name: str) -> str:
    return os.path.join(EXPECTED, name + ".json")


def load_expected(name: str) -> dict:
    with open(expected_path(name), encoding="utf-8") as f:
        return json.load(f)


def expected_for(exp: dict, kind: str) -> dict:
    return exp["any"] if "any" in exp else exp[kind]


def record(name: str) -> dict:
    case = Case(name)
    fake = run_case(case, "fake")
    kern = run_case(case, "kernel")
    exp: dict[str, Any] = {"ncpus": FAKE_NCPUS}
    if fake == kern:
        exp["any"] = fake
    else:
        exp["fake"], exp["kernel"] = fake, kern
    os.makedirs(EXPECTED, exist_ok=True)
    with open(expected_path(name), "w", encoding="utf-8") as f:
        json.dump(exp, f, indent=1, sort_keys=True, ensure_ascii=True)
        f.write("\n")
    return exp


def main(argv: list[str]) -> int:
    check = "--check" in argv
    names = [a for a in argv if not a.startswith("-")] or case_names()
    bad = 0
    for name in names:
        if check:
            exp = load_expected(name)
            for kind in ("fake", "kernel"):
                got = run_case(Case(name), kind)
                if got != expected_for(exp, kind):
                    print(f"{name} [{kind}]: differs")
                    bad += 1
        else:
            exp = record(name)
            print(f"{name}: {'fake == kernel' if 'any' in exp else 'fake != kernel'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
