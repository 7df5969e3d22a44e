"""Issue 11 audit, properties no other test asserted:

* the op kinds of both Python views of ``struct bpfm_op`` (``bpftool.plan`` and
  ``loops``) are the header's ``BPFM_OP_*`` (test_record_layout_matches_header checks
  the sizes and offsets, and compares UPDATE/DELETE/LOOKUP with literals only);
* ``-j batch file`` of lines the scanner takes never runs the reference lexer: the
  words it prints are cut from the file (the issue's 0.2x was JSON mode re-lexing the
  whole file in Python); a line the scanner declines does reach it (the spy works)."""

from __future__ import annotations

import io
import json

import pytest

from bpfmaps import loops
from bpfmaps.bpftool import lexer, plan, scan
from bpfmaps.bpftool.runner import Runner
from bpfmaps.types import MapType

pytestmark = pytest.mark.skipif(not scan.available(), reason="extension not built")


def test_op_kinds_match_the_header():
    from bpfmaps._ffi import lib

    header = (lib.BPFM_OP_UPDATE, lib.BPFM_OP_DELETE, lib.BPFM_OP_LOOKUP, lib.BPFM_OP_GETNEXT,
              lib.BPFM_OP_POP)  # fmt: skip
    assert header == (plan.UPDATE, plan.DELETE, plan.LOOKUP, plan.GETNEXT, plan.POP)
    assert header[:2] == (loops.OP_UPDATE, loops.OP_DELETE)
    assert len(set(header)) == 5


def _k(i: int) -> str:
    return " ".join(str(b) for b in i.to_bytes(4, "little"))


@pytest.mark.parametrize("pretty", [False, True])
def test_json_batch_of_scanned_lines_never_lexes(backend, monkeypatch, pretty):
    fd = backend.map_create(int(MapType.HASH), 4, 4, 64, 0, b"audit_json")
    assert fd >= 0
    q = backend.map_create(int(MapType.QUEUE), 0, 4, 8, 0, b"audit_q")
    assert q >= 0
    try:
        mid, qid = backend.map_info(fd)[1].id, backend.map_info(q)[1].id
        lines = [f"map update id {mid} key {_k(i)} value {_k(i * 3)}" for i in range(40)]
        # getnext without a key (the first key): with key 5 it fails whenever 5 happens to
        # be the last key of the hash map's (seeded) order, about one run in 40
        lines += [f"map lookup id {mid} key {_k(5)}", f"map getnext id {mid}",
                  f"map delete id {mid} key {_k(7)}", f"map update id {mid} key hex 08 00 00 00 "
                  "value hex 01 02 03 04 exist", f"map push id {qid} value 1 2 3 4",
                  f"map peek id {qid}", f"map pop id {qid}"]  # fmt: skip
        data = ("\n".join(lines) + "\n").encode()
        made = []
        real = lexer.Lexer

        class Spy(real):  # type: ignore[misc,valid-type]
            def __init__(self, *a, **kw):
                made.append(a)
                super().__init__(*a, **kw)

        monkeypatch.setattr(lexer, "Lexer", Spy)
        out = io.StringIO()
        r = Runner(backend, stdout=out, stderr=io.StringIO(), progress=False, json=True,
                   pretty=pretty)  # fmt: skip
        assert r.run_data(data, "audit.txt") == 0
        assert made == []  # no command of the file went through the reference lexer
        items = json.loads(out.getvalue())
        assert [it["command"] for it in items] == [ln.split() for ln in lines]
        assert items[40]["output"] == {"key": ["0x05", "0x00", "0x00", "0x00"],
                                       "value": ["0x0f", "0x00", "0x00", "0x00"]}  # fmt: skip
        # the control: a line the scanner declines (a quoted word) goes to the reference
        r = Runner(backend, stdout=io.StringIO(), stderr=io.StringIO(), progress=False, json=True)
        assert r.run_data(data + f'map lookup id {mid} key "1" 0 0 0\n'.encode(), "b.txt") == 0
        assert made
    finally:
        backend.close(fd)
        backend.close(q)
