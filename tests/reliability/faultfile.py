"""A batch file that exercises every execution shape of the runner, its model, and a
checker of the runner's failure report against the map contents.

Shapes (in file order): a parallel packed run (distinct keys into an empty hash
map), a short delete run, a serial packed run (repeated keys), op streams (mixed
updates/deletes on two maps), single commands (lookup, getnext), a short NOEXIST/
EXIST run, another packed run into a non-empty map.
"""

from __future__ import annotations

import re
from typing import Any, Optional

ROW = tuple  # (line, op, map index, key, value)


def _hx(x: int, n: int) -> str:
    return " ".join(f"{c:02x}" for c in x.to_bytes(n, "little"))


def k4(i: int) -> bytes:
    return i.to_bytes(4, "little")


def v8(i: int) -> bytes:
    return i.to_bytes(8, "little")


class FaultFile:
    """Lines for maps ``ids`` = (id of A, id of B); ``rows`` the model, one per line."""

    def __init__(self, ids: tuple[int, int], scale: int = 1) -> None:
        self.rows: list[ROW] = []
        self.lines: list[str] = []
        n1, n3, n_ops, n6 = 5000 * scale, 3000 * scale, 2000 * scale, 4000 * scale
        for i in range(n1):
            self._upd(ids, 0, i, i * 3)
        self._del(ids, 1, 7)
        for i in range(n3):
            self._upd(ids, 1, i % (n3 * 5 // 6), i)
        for i in range(n_ops):
            m = 0 if i % 2 else 1
            if i % 3:
                self._upd(ids, m, 1_000_000 + i, i)
            else:
                self._del(ids, m, i)
        self._add(f"map lookup id {ids[0]} key hex {_hx(1, 4)}", ("read", 0, k4(1), None))
        self._add(f"map getnext id {ids[0]} key hex {_hx(1, 4)}", ("read", 0, k4(1), None))
        self._add(
            f"map update id {ids[0]} key hex {_hx(1, 4)} value hex {_hx(5, 8)} exist",
            ("update", 0, k4(1), v8(5)),
        )
        self._del(ids, 0, 2)
        for i in range(n6):
            self._upd(ids, 0, 2_000_000 + i, i)

    def _add(self, text: str, row: tuple) -> None:
        self.lines.append(text)
        self.rows.append((len(self.lines),) + row)

    def _upd(self, ids, m: int, k: int, v: int) -> None:
        self._add(
            f"map update id {ids[m]} key hex {_hx(k, 4)} value hex {_hx(v, 8)}",
            ("update", m, k4(k), v8(v)),
        )

    def _del(self, ids, m: int, k: int) -> None:
        self._add(f"map delete id {ids[m]} key hex {_hx(k, 4)}", ("delete", m, k4(k), None))

    @property
    def data(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()

    @staticmethod
    def initial() -> tuple[dict, dict]:
        """Contents before the run: B holds key 7 (deleted by the second shape)."""
        return {}, {k4(7): v8(7)}

    def model(self, rows) -> tuple[dict, dict]:
        st = self.initial()
        for _line, op, m, k, v in rows:
            if op == "update":
                st[m][k] = v
            elif op == "delete":
                del st[m][k]
        return st


_BEFORE = re.compile(r"  (\d+) command\(s\) before it were applied; (.*)")
_RANGE = re.compile(r"lines? (\d+)(?:-(\d+))?")


def check_report(ff: FaultFile, status: int, err: str, contents: tuple[dict, dict]) -> str:
    """Assert that the runner's stderr ``err`` (and exit ``status``) is true of
    ``contents`` (A, B).  Returns which kind of report it was."""
    rows = ff.rows
    if status == 0:
        assert err == "", err
        assert contents == ff.model(rows), "success reported but the map differs"
        return "success"
    assert "Traceback" not in err, err
    assert err.startswith("Error: "), err
    if "nothing was applied" in err:
        assert contents == ff.initial()
        return "nothing"
    m = _BEFORE.search(err)
    assert m, f"no count in the report: {err!r}"
    n, tail = int(m.group(1)), m.group(2)
    first_line = int(re.match(r"Error: [^:]*:(\d+):", err).group(1))
    assert rows[n][0] == first_line, (n, first_line)  # the n applied are the lines before it
    if tail.startswith("it and the commands after it were not"):
        assert contents == ff.model(rows[:n])
        return "exact"
    if tail.startswith("it was not;"):
        also: list[tuple[int, int]] = []
        for a, b in _RANGE.findall(tail.split("(", 1)[1]):
            also.append((int(a), int(b or a)))
        extra = [r for r in rows[n + 1 :] if any(a <= r[0] <= b for a, b in also)]
        k = int(re.search(r"; (\d+) command\(s\) after it were applied", tail).group(1))
        assert len(extra) == k
        assert contents == ff.model(rows[:n] + extra)
        return "parallel"
    mm = re.match(
        r"it (?:and the (\d+) command\(s\) after it up to line (\d+) )?may or may not", tail
    )
    assert mm, f"unknown report: {err!r}"
    last = int(mm.group(2) or first_line)
    unsure = [r for r in rows[n:] if r[0] <= last]
    _check_unsure(ff.model(rows[:n]), unsure, contents)
    return "unsure"


def _check_unsure(base: tuple[dict, dict], unsure: list, contents: tuple[dict, dict]) -> None:
    """Every element equals the base model, or a value one of the ``unsure`` commands
    could have left there."""
    for m in (0, 1):
        could: dict[bytes, set[Optional[bytes]]] = {}
        for _line, op, mi, k, v in unsure:
            if mi == m and op in ("update", "delete"):
                could.setdefault(k, set()).add(v)
        got, want = contents[m], base[m]
        for k in set(got) | set(want):
            g: Any = got.get(k)
            if g == want.get(k):
                continue
            assert k in could and g in could[k], (m, k, g, want.get(k))
