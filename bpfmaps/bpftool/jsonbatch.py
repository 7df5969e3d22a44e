"""The JSON array of a batch file (``bpfmaps -j batch file``), in bpftool's layout.

bpftool writes ``[{"command": [words], "output": ...}, ..., {"error": ...}]``: one
object per command run, then the error, if any.  The runner keeps only what it needs
while it runs: ``(index, output)`` for commands with output, ``(block, offset,
count)`` for applied op records (output null) and whole objects for errors; the words
of each command are cut from the file only when the array is written (op records keep
their line's offset; the reference's words are kept where it parsed the line).  Runs
of scanned ops are formatted in C when the extension is built (:func:`.scan.json_nulls`).
"""

from __future__ import annotations

from . import scan
from .bytes import _show
from .output import render_json
from .plan import OpBlock
from .state import RunState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["JsonBatch", "op_words"]


class JsonBatch(RunState):
    """The JSON batch part of the runner: collects items, writes the array."""

    def _dumps(self, obj: Any) -> str:
        """``obj`` in bpftool's JSON layout (pretty with ``-p``)."""
        return render_json(obj, self.pretty)

    def _emit_json_batch(self) -> None:
        """Write the whole array (at the end of the run).  Cost: O(output); the words of
        commands without kept words are lexed once, up to the last of them."""
        # bpftool: [{"command": [words], "output": ...}, ..., {"error": ...}]
        items = self._json_items
        if not items:
            self.out.write(self._dumps([]) + "\n")
            return
        words = self._index_words
        need = 0
        for it in items:
            if type(it) is tuple and len(it) == 2 and it[0] not in words:
                need = max(need, it[0] + 1)
        if need:  # commands whose words were not kept (argv, reports): lex up to them
            from .lexer import Lexer  # the re-based lexer: only for lines the reference parsed

            lexer = Lexer(self._data, self._file)
            for _ in range(need):
                c = lexer.next_command()
                if c is None:
                    break
                words.setdefault(c.index, [_show(w) for w in c.words])
        if self.pretty:  # the layout is the JSON writer's: one call over every item
            objs: list[Any] = []
            for it in items:
                if type(it) is not tuple:
                    objs.append(it)
                elif len(it) == 2:
                    objs.append({"command": words.get(it[0], []), "output": it[1]})
                else:
                    blk, a, cnt = it
                    objs.extend(
                        {"command": op_words(blk, i, self._data), "output": None}
                        for i in range(a, a + cnt)
                    )
            self.out.write(self._dumps(objs) + "\n")
            return
        # compact: items joined by ","; runs of scanned ops formatted in C
        parts: list[Any] = []  # str, or ASCII byte chunks from C
        add = parts.append
        for it in items:
            if type(it) is not tuple:
                add(self._dumps(it))
            elif len(it) == 2:
                add(self._dumps({"command": words.get(it[0], []), "output": it[1]}))
            else:
                parts.extend(self._null_items(it[0], it[1], it[2]))
        out = self.out
        binary = getattr(out, "buffer", None)
        out.write("[")
        for k, p in enumerate(parts):
            if k:
                out.write(",")
            if type(p) is str:
                out.write(p)
            elif binary is not None:  # C output (ASCII): straight to the byte stream
                out.flush()
                binary.write(p)
            else:
                out.write(bytes(p).decode("ascii"))
        out.write("]\n")
        out.flush()

    def _null_items(self, blk: OpBlock, a: int, cnt: int) -> list[Any]:
        """Compact ``{"command": [...], "output": null}`` items of ops [a, a + cnt):
        scanned ops in C (:func:`.scan.json_nulls`) when built, the others through
        the JSON writer."""
        out: list[Any] = []
        kept = blk.words or {}
        data = self._data
        i, end = a, a + cnt
        while i < end:
            j = end if not kept else i  # a block the scanner took whole: one C call
            while j < end and j not in kept:
                j += 1
            if j > i:
                fast = scan.json_nulls(data, blk, i, j, False)
                if fast is not None:
                    out.extend(fast)
                    i = j
                    continue
            out.append(self._dumps({"command": op_words(blk, i, data), "output": None}))
            i += 1
        return out

    def _op_words(self, blk: OpBlock, i: int) -> list[str]:
        """The words of op i as bpftool's JSON shows them."""
        return op_words(blk, i, self._data)

    def _json_ok(self, index: int, output: Any) -> None:
        """Command ``index`` ran with JSON ``output`` (JSON mode only)."""
        if self.json:
            self._json_items.append((index, output))


def op_words(blk: OpBlock, i: int, data: Any) -> list[str]:
    """The words of op i: kept by the reference, else cut from its line in the file
    (scanned lines are printable ASCII without quotes: split and shown as is)."""
    w = blk.words.get(i) if blk.words else None
    if w is not None:
        return [_show(x) for x in w]
    pos = blk.op(i)[6]
    end = data.find(b"\n", pos)
    text = bytes(data[pos : end if end >= 0 else len(data)])
    h = text.find(b"#")
    return (text[:h] if h >= 0 else text).decode("ascii").split()
