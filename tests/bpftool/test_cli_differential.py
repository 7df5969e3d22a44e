"""Single ``map`` commands through bpftool and through ``bpfmaps``: same stdout, same
stderr, same exit status, in plain, ``-j``, ``-p`` and ``-jp`` mode (issue 10).

Every case runs on twin maps (values naming objects, ``{A}``, name the same
object on both sides): the same set-up (bpftool commands) is applied to map
``a/NAME`` and to map ``b/NAME``, then the command under test runs through bpftool
on ``a/NAME`` and through bpfmaps (``bpfmaps.cli.main``, in process) on ``b/NAME``.
Read-only commands whose output names the map (``show``) run on the same map.

Comparison: exit status equal; stdout byte for byte (JSON documents are also parsed
and compared, for a readable diff); stderr equal once bpfmaps' ``Hint: ...`` lines
are removed (extra diagnostics bpftool does not print, documented in
docs/bpftool-syntax.md), except where bpftool fails silently: there bpfmaps writes
one ``Error: ...`` line on stderr and stdout stays identical, and usage texts (they
name the program and its commands) are only required on stderr when bpftool
prints one.

Maps loaded from a compiled program (``bpftool prog load ... pinmaps``) have BTF and
an owner program: their elements print BTF-formatted (plain layout, JSON
``"formatted"``), compared byte for byte like everything else.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

pytestmark = pytest.mark.kernel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODES = {"plain": [], "j": ["-j"], "p": ["-p"], "jp": ["-j", "-p"]}


def _bpftool() -> str:
    path = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.path.exists(path):
        pytest.fail("bpftool is not installed (.ci/setup-machine installs it)")
    return path


def _compile(src: str, out: str) -> None:
    clang = shutil.which("clang")
    if clang is None:
        pytest.fail("clang is not installed (.ci/setup-machine installs it)")
    trip = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True, check=True)
    cmd = [clang, "-g", "-O2", "-target", "bpf", f"-I/usr/include/{trip.stdout.strip()}"]
    r = subprocess.run([*cmd, "-c", src, "-o", out], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"clang failed on {src}:\n{r.stderr}")


#: name -> bpftool ``map create`` arguments (after the path)
PLAIN_MAPS = {
    "h": "type hash key 4 value 4 entries 2 name fid_h",
    "h20": "type hash key 20 value 8 entries 4 name fid_h20",
    "a": "type array key 4 value 4 entries 2 name fid_a",
    "a20": "type array key 4 value 20 entries 1 name fid_a20",
    "ph": "type percpu_hash key 4 value 4 entries 2 name fid_ph",
    "pa": "type percpu_array key 4 value 20 entries 1 name fid_pa",
    "q": "type queue key 0 value 4 entries 2 name fid_q",
    "s": "type stack key 0 value 4 entries 2 name fid_s",
    "pr": "type prog_array key 4 value 4 entries 2 name fid_pr",
    "pru": "type prog_array key 4 value 4 entries 2 name fid_pru",
    "in": "type array key 4 value 4 entries 2 name fid_in",
}


class Twins:
    def __init__(self, root: str, bpftool: str) -> None:
        self.root = root
        self.bpftool = bpftool
        obj = os.path.join(root, "..", os.path.basename(root) + "-fid_maps.o")
        _compile(os.path.join(HERE, "progs", "fid_maps.bpf.c"), obj)
        self.obj = obj
        for side in "ab":
            d = os.path.join(root, side)
            os.mkdir(d)
            for name, args in PLAIN_MAPS.items():
                self.tool(f"map create {d}/{name} {args}", check=True)
            inner = f"{d}/in"
            self.tool(
                f"map create {d}/aom type array_of_maps inner_map pinned {inner} "
                "key 4 value 4 entries 2 name fid_aom",
                check=True,
            )
            self.tool(
                f"map create {d}/hom type hash_of_maps inner_map pinned {inner} "
                "key 4 value 4 entries 2 name fid_hom",
                check=True,
            )
            pd = os.path.join(d, "p")
            os.mkdir(pd)
            self.tool(f"prog load {obj} {pd}/prog pinmaps {pd}", check=True)
        tag = json.loads(self.tool(f"-j prog show pinned {root}/a/p/prog").stdout)["tag"]
        self.tag = tag  # both twins' programs (and any other copy) have this tag
        # a program whose instructions, so tag, are this run's own: r0 = N; exit
        from bpfmaps.backend import kernel_backend

        kb = kernel_backend()
        imm = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        insns = b"\xb7\x00\x00\x00" + imm.to_bytes(4, "little") + b"\x95" + bytes(7)
        # a per-session name: concurrent test sessions on one machine must not share it
        self.uname = "fu" + os.urandom(5).hex()
        fd = kb.prog_load(6, insns, b"GPL", self.uname.encode())  # XDP, like the owner
        assert fd >= 0, os.strerror(-fd)
        try:
            assert kb.obj_pin(fd, os.path.join(root, "uniq")) == 0
        finally:
            kb.close(fd)
        uniq = json.loads(self.tool(f"-j prog show pinned {root}/uniq").stdout)
        self.utag, self.uid = uniq["tag"], str(uniq["id"])

    def tool(self, cmd: str, check: bool = False) -> subprocess.CompletedProcess:
        r = subprocess.run([self.bpftool, *cmd.split()], capture_output=True, text=True)
        if check and r.returncode != 0:
            pytest.fail(f"bpftool {cmd} failed: {r.stdout}{r.stderr}")
        return r

    def sub(self, text: str, side: str) -> str:
        text = text.replace("{A}", os.path.join(self.root, "a"))
        text = (
            text.replace("{TAG}", self.tag)
            .replace("{UTAG}", self.utag)
            .replace("{UID}", self.uid)
            .replace("{UNAME}", self.uname)
        )
        return text.replace("{D}", os.path.join(self.root, side))


@pytest.fixture(scope="module")
def twins():
    d = tempfile.mkdtemp(prefix="bpfmaps-cli-diff-")
    r = subprocess.run(["mount", "-t", "bpf", "bpf", d], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        pytest.fail(f"cannot mount a bpffs: {r.stderr}")
    try:
        yield Twins(d, _bpftool())
    finally:
        subprocess.run(["umount", "-l", d], check=False)
        shutil.rmtree(d, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(os.path.dirname(d), os.path.basename(d) + "-fid_maps.o"))


def run_bpfmaps(argv: list[str]) -> tuple[int, str, str]:
    from bpfmaps.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _strip_formatted(obj):
    if isinstance(obj, dict):
        return {k: _strip_formatted(v) for k, v in obj.items() if k != "formatted"}
    if isinstance(obj, list):
        return [_strip_formatted(v) for v in obj]
    return obj


def _loads(text: str, label: str):
    try:
        return json.loads(text)
    except ValueError:
        raise AssertionError(f"{label}: stdout is not JSON: {text!r}") from None


def _hintless(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if not line.startswith("Hint: "))


def compare(
    twins: Twins,
    mode: str,
    cmd: str,
    setup: tuple[str, ...] = (),
    same: bool = False,
    btf: bool = False,  # kept for the case table: BTF output is compared in full now
    silent: bool = False,
    usage: bool = False,
    expect: int | None = None,
) -> tuple[int, str, str]:
    """Set up both twins, run ``cmd`` through both tools, assert they agree; returns
    bpfmaps' (status, stdout, stderr)."""
    for s in setup:  # best effort (e.g. delete what may be gone), the same on both twins
        ra, rb = (twins.tool(twins.sub(s, side)) for side in "ab")
        assert ra.returncode == rb.returncode, f"set-up {s!r} differs: {ra.stderr} / {rb.stderr}"
    opts = MODES[mode]
    want = subprocess.run(
        [twins.bpftool, *opts, *twins.sub(cmd, "a").split()], capture_output=True, text=True
    )
    got = run_bpfmaps([*opts, *twins.sub(cmd, "a" if same else "b").split()])
    status, out, err = got
    if not same:  # paths in messages name the twin
        a, b = os.path.join(twins.root, "a"), os.path.join(twins.root, "b")
        out, err = out.replace(b, a), err.replace(b, a)
    label = f"bpfmaps {' '.join(opts)} {cmd}"
    if expect is not None:  # the case is what it says (bpftool agrees)
        assert want.returncode == expect, f"{label}: bpftool exit {want.returncode}: {want.stderr}"
    assert status == want.returncode, f"{label}: status {status} != bpftool {want.returncode}"
    if mode == "plain" or not want.stdout.strip():
        assert out == want.stdout, f"{label}: stdout"
    else:
        jw, jg = json.loads(want.stdout), _loads(out, label)
        assert _strip_formatted(jg) == _strip_formatted(jw), f"{label}: JSON"
        assert jg == jw, f"{label}: JSON (BTF formatted member)"
        assert out == want.stdout, f"{label}: JSON layout (byte for byte)"
    if usage and want.stderr:  # bpftool's usage text names bpftool; ours is ours
        assert err, f"{label}: usage on stderr"
    elif usage:  # JSON mode: bpftool prints null and nothing on stderr; we say why
        assert err == "" or (err.startswith("Error: ") and err.count("\n") == 1), label
    elif silent:
        assert want.stderr == ""
        assert err.startswith("Error: ") and err.count("\n") == 1, f"{label}: diagnostic {err!r}"
    else:
        assert _hintless(err) == want.stderr, f"{label}: stderr"
    return got


# ---------------------------------------------------------------- cases

FILL = (
    "map update pinned {D}/h key 1 0 0 0 value 1 2 3 4",
    "map update pinned {D}/a key 1 0 0 0 value 5 6 7 8",
    "map update pinned {D}/ph key 1 0 0 0 value 9 9 9 9",
    "map update pinned {D}/pa key 0 0 0 0 value " + " ".join(["7"] * 20),
    "map update pinned {D}/h20 key " + " ".join(["3"] * 20) + " value 1 2 3 4 5 6 7 8",
    "map update pinned {D}/a20 key 0 0 0 0 value " + " ".join(["6"] * 20),
)
EMPTY_H = ("map delete pinned {D}/h key 1 0 0 0", "map delete pinned {D}/h key 2 0 0 0")

CASES = [
    # name, setup, command, flags
    ("dump_hash", FILL, "map dump pinned {D}/h", {}),
    ("dump_hash20", FILL, "map dump pinned {D}/h20", {}),
    ("dump_array", FILL, "map dump pinned {D}/a", {}),
    ("dump_array20", FILL, "map dump pinned {D}/a20", {}),
    ("dump_percpu_hash", FILL, "map dump pinned {D}/ph", {}),
    ("dump_percpu_array", FILL, "map dump pinned {D}/pa", {}),
    ("lookup_hit", FILL, "map lookup pinned {D}/h key 1 0 0 0", {}),
    ("lookup_hit_percpu", FILL, "map lookup pinned {D}/ph key 1 0 0 0", {}),
    ("lookup_miss", FILL, "map lookup pinned {D}/h key 9 0 0 0", {}),
    ("lookup_array_out_of_range", (), "map lookup pinned {D}/a key 9 0 0 0", {}),
    ("getnext_first", FILL, "map getnext pinned {D}/h", {}),
    ("getnext_after", FILL, "map getnext pinned {D}/h key 9 0 0 0", {}),
    ("getnext_last", FILL, "map getnext pinned {D}/a key 1 0 0 0", {}),
    ("getnext_empty", EMPTY_H, "map getnext pinned {D}/h", {}),
    ("update_ok", (), "map update pinned {D}/h key 2 0 0 0 value 1 1 1 1", {}),
    (
        "update_noexist_exists",
        FILL,
        "map update pinned {D}/h key 1 0 0 0 value 0 0 0 0 noexist",
        {},
    ),
    (
        "update_exist_missing",
        EMPTY_H,
        "map update pinned {D}/h key 1 0 0 0 value 0 0 0 0 exist",
        {},
    ),
    (
        "update_full",
        (
            "map update pinned {D}/h key 1 0 0 0 value 0 0 0 0",
            "map update pinned {D}/h key 2 0 0 0 value 0 0 0 0",
        ),
        "map update pinned {D}/h key 3 0 0 0 value 0 0 0 0",
        {},
    ),
    ("update_array_noexist", (), "map update pinned {D}/a key 0 0 0 0 value 0 0 0 0 noexist", {}),
    ("update_array_out_of_range", (), "map update pinned {D}/a key 7 0 0 0 value 0 0 0 0", {}),
    ("delete_ok", FILL, "map delete pinned {D}/h key 1 0 0 0", {}),
    ("delete_missing", EMPTY_H, "map delete pinned {D}/h key 1 0 0 0", {}),
    ("delete_array", (), "map delete pinned {D}/a key 0 0 0 0", {}),
    ("push_ok", (), "map push pinned {D}/s value 1 2 3 4", {}),
    ("peek_stack", ("map push pinned {D}/s value 4 3 2 1",), "map peek pinned {D}/s", {}),
    ("pop_stack", (), "map pop pinned {D}/s", {}),
    ("enqueue_ok", (), "map enqueue pinned {D}/q value 1 2 3 4", {}),
    ("peek_queue", (), "map peek pinned {D}/q", {}),
    ("dequeue_ok", (), "map dequeue pinned {D}/q", {}),
    ("dump_queue_empty", (), "map dump pinned {D}/q", {}),
    ("pop_empty", (), "map pop pinned {D}/q", {}),
    ("dequeue_empty", (), "map dequeue pinned {D}/q", {}),
    ("peek_empty", (), "map peek pinned {D}/q", {}),
    (
        "push_full",
        ("map push pinned {D}/q value 1 1 1 1", "map push pinned {D}/q value 2 2 2 2"),
        "map push pinned {D}/q value 3 3 3 3",
        {},
    ),
    ("drain_queue_1", (), "map pop pinned {D}/q", {}),
    ("drain_queue_2", (), "map pop pinned {D}/q", {}),
    (
        "prog_array_by_pinned",
        (),
        "map update pinned {D}/pr key 0 0 0 0 value pinned {A}/p/prog",
        {"expect": 0},
    ),
    (
        "prog_array_by_tag",
        (),
        "map update pinned {D}/pru key 1 0 0 0 value tag {UTAG}",
        {"expect": 0},
    ),
    (
        "prog_array_by_name",
        (),
        "map update pinned {D}/pru key 0 0 0 0 value name {UNAME}",
        {"expect": 0},
    ),
    (
        "prog_array_by_id_warns",
        (),
        "map update pinned {D}/pru key 1 0 0 0 value id {UID}",
        {"expect": 0},
    ),
    (
        "prog_array_tag_several",
        (),
        "map update pinned {D}/pr key 1 0 0 0 value tag {TAG}",
        {"expect": 255},
    ),
    (
        "prog_array_name_several",
        (),
        "map update pinned {D}/pr key 1 0 0 0 value name fid_prog",
        {"expect": 255},
    ),
    (
        "prog_array_tag_unknown",
        (),
        "map update pinned {D}/pr key 1 0 0 0 value tag 0011223344556677",
        {"silent": True},
    ),
    ("prog_array_tag_bad", (), "map update pinned {D}/pr key 1 0 0 0 value tag zz", {}),
    (
        "prog_array_name_unknown",
        (),
        "map update pinned {D}/pr key 1 0 0 0 value name fid_nope",
        {"silent": True},
    ),
    ("prog_array_prog_not_map", (), "map update pinned {D}/pr key 1 0 0 0 value pinned {D}/h", {}),
    ("dump_prog_array", (), "map dump pinned {D}/pr", {}),
    (
        "lookup_prog_array_empty_slot",
        ("map delete pinned {D}/pr key 1 0 0 0",),
        "map lookup pinned {D}/pr key 1 0 0 0",
        {},
    ),
    ("map_in_map_update", (), "map update pinned {D}/aom key 0 0 0 0 value pinned {A}/in", {}),
    ("map_in_map_hash_update", (), "map update pinned {D}/hom key 5 0 0 0 value pinned {A}/in", {}),
    ("dump_array_of_maps", (), "map dump pinned {D}/aom", {}),
    ("dump_hash_of_maps", (), "map dump pinned {D}/hom", {}),
    ("map_in_map_wrong_inner", (), "map update pinned {D}/aom key 1 0 0 0 value pinned {D}/h", {}),
    ("pin_exists", (), "map pin pinned {D}/h {D}/a", {}),
    (
        "pin_ok",
        ("map create {D}/tmp type hash key 4 value 4 entries 1 name fid_tmp",),
        "map pin pinned {D}/tmp {D}/tmp2",
        {},
    ),
    (
        "freeze_ok",
        ("map create {D}/fz type hash key 4 value 4 entries 1 name fid_fz",),
        "map freeze pinned {D}/fz",
        {},
    ),
    ("update_frozen", (), "map update pinned {D}/fz key 1 0 0 0 value 1 1 1 1", {}),
    ("pinned_missing", (), "map dump pinned {D}/nothing_here", {}),
    ("pinned_dir", (), "map dump pinned {D}", {}),
    ("pinned_not_bpffs", (), "map dump pinned /proc/version", {}),
    ("id_missing", (), "map show id 4294967295", {}),
    ("name_missing", (), "map show name fid_nope", {"silent": True}),
    ("name_too_long", (), "map show name fid_this_is_too_long", {}),
    ("bad_handle", (), "map show idx 1", {}),
    ("key_too_short", (), "map lookup pinned {D}/h key 1 0", {}),
    ("key_missing", (), "map lookup pinned {D}/h", {}),
    ("value_unnecessary", (), "map lookup pinned {D}/h key 1 0 0 0 value 1", {}),
    ("unknown_verb", (), "map frobnicate", {"usage": True}),
    ("help", (), "map help", {"usage": True}),
    # maps from `bpftool prog load` (BTF, owner program)
    ("btf_update", (), "map update pinned {D}/p/pairs key 1 0 0 0 value 1 0 0 0 2 0 3 4", {}),
    ("btf_lookup", (), "map lookup pinned {D}/p/pairs key 1 0 0 0", {"btf": True}),
    ("btf_lookup_miss", (), "map lookup pinned {D}/p/pairs key 7 0 0 0", {"btf": True}),
    ("btf_dump", (), "map dump pinned {D}/p/pairs", {"btf": True}),
    ("btf_dump_percpu", (), "map dump pinned {D}/p/counts", {"btf": True}),
    ("btf_getnext", (), "map getnext pinned {D}/p/pairs", {}),
    (
        "owned_prog_array_update",
        (),
        "map update pinned {D}/p/jmp key 0 0 0 0 value pinned {A}/p/prog",
        {},
    ),
    ("owned_prog_array_dump", (), "map dump pinned {D}/p/jmp", {"btf": True}),
]

SHOW = [
    "map show pinned {D}/h",
    "map show pinned {D}/ph",
    "map show pinned {D}/q",
    "map show pinned {D}/pr",
    "map show pinned {D}/aom",
    "map show pinned {D}/hom",
    "map show pinned {D}/fz",
    "map show pinned {D}/p/jmp",
    "map show pinned {D}/p/pairs",
    "map show pinned {D}/p/counts",
    "map show pinned {D}/p/outer",
    "map list pinned {D}/a",
]


@pytest.mark.parametrize("mode", list(MODES))
def test_cli_matches_bpftool(twins, mode):
    """Every case, in order (later cases build on the state earlier ones leave)."""
    for name, setup, cmd, flags in CASES:
        try:
            compare(twins, mode, cmd, setup, **flags)
        except AssertionError as e:
            raise AssertionError(f"case {name}: {e}") from None


@pytest.mark.parametrize("mode", list(MODES))
def test_show_matches_bpftool(twins, mode):
    twins.tool(twins.sub("map create {D}/fz type hash key 4 value 4 entries 1 name fid_fz", "a"))
    twins.tool(twins.sub("map freeze pinned {D}/fz", "a"))
    for cmd in SHOW:
        compare(twins, mode, cmd, same=True)


def test_owned_prog_array_show_fields(twins):
    """The prog array used for tail calls by the loaded program: bpftool prints its
    owner program type and JIT state (and the BTF id)."""
    st, out, _ = compare(twins, "j", "map show pinned {D}/p/jmp", same=True)
    d = json.loads(out)
    assert d["owner_prog_type"] == "xdp" and d["owner_jited"] in (True, False)
    assert d["btf_id"] > 0
    st, out, _ = compare(twins, "plain", "map show pinned {D}/p/jmp", same=True)
    assert "\towner_prog_type xdp  owner " in out and "\n\tbtf_id " in out


def test_show_all_lists_our_maps(twins):
    """``map show`` of every map: the records of our maps are bpftool's (other maps
    come and go while the suite runs, so only ours are compared)."""
    single = {}
    for name in ("h", "q", "pr", "aom", "p/pairs", "p/jmp"):
        r = twins.tool(twins.sub(f"-j map show pinned {{D}}/{name}", "a"))
        d = json.loads(r.stdout)
        single[d["id"]] = d
    want = json.loads(twins.tool("-j map show").stdout)
    st, out, err = run_bpfmaps(["-j", "map", "show"])
    assert st == 0 and err == ""
    got = [d for d in json.loads(out) if d["id"] in single]
    assert got == [single[d["id"]] for d in got] and len(got) == len(single)
    # bpftool's listing reuses one bpf_map_info for every map, and since Linux 6.x the
    # kernel leaves the BTF fields of a map without BTF untouched: such a map then
    # shows the btf_id of the map listed before it.  bpfmaps prints the map's own.
    for d in want:
        if d["id"] in single:
            if "btf_id" not in single[d["id"]]:
                d.pop("btf_id", None)
            assert d == single[d["id"]]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("cmd", ["map show", "map list", "map show id 1", "map dump pinned {D}/h"])
def test_unprivileged_fails_like_bpftool(twins, mode, cmd, unprivileged):
    """Without capabilities bpftool fails (exit 255, its message); bpfmaps prints the
    same and adds a ``Hint:`` line naming CAP_BPF/CAP_SYS_ADMIN where it is a
    privilege problem."""
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        if f.read().strip() == "0":
            pytest.fail("needs kernel.unprivileged_bpf_disabled != 0")
    words = [*MODES[mode], *twins.sub(cmd, "a").split()]
    want = subprocess.run([*unprivileged, twins.bpftool, *words], capture_output=True, text=True)
    got = subprocess.run(
        [*unprivileged, sys.executable, "-m", "bpfmaps", *words],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    # a pin of root's: nobody gets EACCES; root without capabilities may open it
    assert want.returncode == 255 or ("pinned" in cmd and "--reuid=65534" not in unprivileged)
    assert got.returncode == want.returncode
    assert got.stdout == want.stdout
    assert _hintless(got.stderr) == want.stderr
    if "pinned" not in cmd:
        assert want.returncode == 255
        assert "Hint: bpf(2) needs CAP_BPF (or CAP_SYS_ADMIN)" in got.stderr


def test_pin_without_bpffs(tmp_path):
    """``map pin`` to a directory that is not a bpffs: bpftool would mount one there;
    bpfmaps refuses with the NotBpffsError wording (and exit 255)."""
    from bpfmaps import Map

    with Map.create("hash", 4, 4, 1) as m:
        for mode in ("plain", "j"):
            st, out, err = run_bpfmaps(
                [*MODES[mode], "map", "pin", "id", str(m.id), str(tmp_path / "x")]
            )
            assert st == 255
            text = err if mode == "plain" else json.loads(out)["error"]
            assert "is not on a bpf file system" in text
            assert "mount -t bpf bpf DIR" in text
            if mode == "j":
                assert err == ""


BATCHES = {
    "ok": [
        "map update pinned {D}/h key 1 0 0 0 value 1 2 3 4",
        "map lookup pinned {D}/h key 1 0 0 0",
        "map dump pinned {D}/ph",
        "map getnext pinned {D}/h",
    ],
    "lookup_miss_stops": [
        "map lookup pinned {D}/h key 9 0 0 0",
        "map update pinned {D}/h key 1 0 0 0 value 1 2 3 4",
    ],
    "queue_dump_stops": ["map push pinned {D}/q value 1 1 1 1", "map dump pinned {D}/q"],
    "delete_fails": ["map pop pinned {D}/q", "map delete pinned {D}/h key 7 7 0 0"],
}


@pytest.mark.parametrize("mode", ["j", "p", "jp"])
@pytest.mark.parametrize("batch", list(BATCHES))
def test_batch_json_matches_bpftool(twins, mode, batch, tmp_path):
    """``-j``/``-p batch file`` (with --bpftool-compat, bpftool's incremental run):
    the whole stdout document byte for byte, and the exit status."""
    files = {}
    for side in "ab":
        f = tmp_path / f"{side}.txt"
        f.write_text("".join(twins.sub(line, side) + "\n" for line in BATCHES[batch]))
        files[side] = str(f)
    want = subprocess.run(
        [twins.bpftool, *MODES[mode], "batch", "file", files["a"]], capture_output=True, text=True
    )
    st, out, err = run_bpfmaps(["--bpftool-compat", *MODES[mode], "batch", "file", files["b"]])
    out = out.replace(os.path.join(twins.root, "b"), os.path.join(twins.root, "a"))
    assert st == want.returncode
    assert json.loads(out) == json.loads(want.stdout)
    assert out == want.stdout
