"""The JSON array of a batch file (``bpfmaps -j batch file``), in bpftool's layout.

bpftool writes ``[{"command": [words], "output": ...}, ..., {"error": ...}]``: one
object per command run, then the error, if any, as it goes.  The runner writes the
items in batches of at least :data:`JSON_FLUSH_OPS` commands and keeps, until then,
only what it needs: ``(index, output)`` for commands with output, ``(block, offset,
count)`` for applied op records (output null) and whole objects for errors; the words
of each command are cut from the file only when the array is written (op records keep
their line's offset; the reference's words are kept where it parsed the line).  Runs
of scanned ops are formatted in C when the extension is built, as they are written
(:func:`.cprint.json_write`: one reused buffer).
"""

from __future__ import annotations

from . import cprint, scan
from .bytes import _show
from .plan import GETNEXT, LOOKUP, NO_KEY, POP, OpBlock
from .state import RunState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["JsonBatch", "op_words", "JSON_FLUSH_OPS"]

#: the runner writes the array's items collected so far once they hold this many
#: commands (bounds the memory of ``-j`` runs: written blocks are released)
JSON_FLUSH_OPS = 1 << 16


class JsonBatch(RunState):
    """The JSON batch part of the runner: collects items, writes the array."""

    def _dumps(self, obj: Any) -> str:
        """``obj`` in bpftool's JSON layout (pretty with ``-p``)."""
        from ..json_writer import render_json  # start-up: -j only

        return render_json(obj, self.pretty)

    def _emit_json_batch(self) -> None:
        """Write what is left of the array and close it (at the end of the run).
        Cost: O(output not yet written)."""
        self._json_flush(final=True)

    def _json_stream(self) -> None:
        """Write the items collected so far when they hold at least
        :data:`JSON_FLUSH_OPS` commands, so that a run keeps a bounded part of the
        array (and of the plan: written blocks are released) instead of all of it.
        Cost: O(1) below the threshold, else O(output written)."""
        if self._json_pending >= JSON_FLUSH_OPS:
            self._json_flush(final=False)

    def _json_flush(self, final: bool) -> None:
        """Write the collected items (bpftool's array is written as it goes: the bytes
        are the same as one write of the whole array), then ``]`` when ``final``.
        The words of commands without kept words are lexed once, in file order, up to
        the last of them."""
        # bpftool: [{"command": [words], "output": ...}, ..., {"error": ...}]
        items = self._json_items
        self._json_items = []
        self._json_pending = 0
        out = self.out
        if not items:
            if final:
                out.write(("\n]\n" if self.pretty else "]\n") if self._json_started else "[]\n")
                self._json_started, self._json_lexer, self._json_lexed = False, None, 0
                out.flush()
            return
        words = self._index_words
        need = 0
        for it in items:
            if type(it) is tuple and len(it) == 2 and it[0] not in words:
                need = max(need, it[0] + 1)
        if need > self._json_lexed:  # commands whose words were not kept (reports)
            if self._json_lexer is None:
                from .lexer import Lexer  # the re-based lexer: only for lines the reference parsed

                self._json_lexer = Lexer(self._data, self._file)
            lexer = self._json_lexer
            while self._json_lexed < need:
                c = lexer.next_command()
                if c is None:
                    self._json_lexed = need
                    break
                self._json_lexed = c.index + 1
                words.setdefault(c.index, [_show(w) for w in c.words])
        # str, or ASCII byte chunks from C; each one item of the array
        parts: list[Any] = []
        add = parts.append
        pretty = self.pretty
        for it in items:
            if type(it) is not tuple:
                add(self._item(it))
            elif len(it) == 2:
                add(self._item({"command": _words(words.get(it[0], [])), "output": it[1]}))
            elif len(it) == 5:  # ops among which are lookups the exec loop ran
                parts.extend(self._looked_items(it[0], it[1], it[2], it[3], it[4]))
            else:  # runs of scanned ops formatted in C (as they are written)
                parts.extend(self._null_items(it[0], it[1], it[2]))
        for it in items:  # written: their words are not needed again
            if type(it) is tuple and len(it) == 2:
                words.pop(it[0], None)
        from ..json_writer import JsonWriter  # start-up: -j only

        binary = getattr(out, "buffer", None)
        sep = "," if self._json_started else "["
        self._json_started = True
        for p in parts:
            out.write(sep)
            sep = ","
            if type(p) is str:
                out.write(p)
            elif type(p) is JsonWriter:  # a big item (_item): its parts as they are
                p.write_to(out)
            elif len(p) == 5:  # (block, start, end, values, fmts): with lookups' outputs
                if binary is not None:
                    out.flush()
                emit = binary.write if binary is not None else _text_writer(out)
                cprint.json_write_items(self._data, p[0], p[1], p[2], p[3], emit, p[4], pretty)
            elif binary is not None:  # C output (ASCII): straight to the byte stream
                out.flush()
                cprint.json_write(self._data, p[0], p[1], p[2], binary.write, pretty)
            else:
                cprint.json_write(self._data, p[0], p[1], p[2], _text_writer(out), pretty)
        if final:
            out.write("\n]\n" if pretty else "]\n")
            self._json_started, self._json_lexer, self._json_lexed = False, None, 0
        out.flush()

    def _item(self, obj: Any) -> Any:
        """One item of the array as it appears between the array's separators: its
        text, or for a big one (a dump's C chunks) the writer holding its parts,
        written part by part (:meth:`JsonWriter.write_to`: no copy of the chunks)."""
        from ..json_writer import JsonWriter  # start-up: -j only

        w = JsonWriter(self.pretty, depth=1)  # (an element of the batch's array)
        w.value(obj)
        if sum(map(len, w.parts)) < _ITEM_BIG:
            return "".join(w.parts)
        return w

    def _null_items(self, blk: OpBlock, a: int, cnt: int) -> list[Any]:
        """``{"command": [...], "output": null}`` items of ops [a, a + cnt) (compact, or
        pretty with -p):
        runs of scanned ops as ``(block, start, end)``, formatted in C as they are
        written (:func:`.cprint.json_write`) when built, the others through the JSON
        writer."""
        out: list[Any] = []
        kept = blk.words or {}
        data = self._data
        i, end = a, a + cnt
        while i < end:
            j = end if not kept else i  # a block the scanner took whole: one C call
            while j < end and j not in kept:
                j += 1
            if j > i and scan.available():
                out.append((blk, i, j))  # formatted by cprint.json_write when written
                i = j
                continue
            out.append(self._item({"command": _words(op_words(blk, i, data)), "output": None}))
            i += 1
        return out

    def _looked_items(
        self, blk: OpBlock, a: int, cnt: int, vals: bytes, fmts: Optional[list[Any]] = None
    ) -> list[Any]:
        """The items of ops [a, a + cnt) among which are lookups the exec loop ran in
        JSON mode (``vals``: their values, in order; ``fmts``: the maps' BTF programs,
        cprint.FormatRun or None): one ``(block, start, end, values, fmts)`` part for C
        when the block's lines are all scanned (compact or pretty), else each
        item through the JSON writer, a lookup's output as the reference's
        (:func:`.output.element_json`, with a ``"formatted"`` member by its program)."""
        kept = blk.words or {}
        if not any(i in kept for i in range(a, a + cnt)):
            return [(blk, a, a + cnt, vals, fmts)]
        from .output import element_json, getnext_json  # start-up: -j only

        t, data = blk.table, self._data
        out: list[Any] = []
        at = 0
        for i in range(a, a + cnt):
            kind, _, m, _, ko, _, _ = blk.op(i)
            output: Any = None
            if kind in (LOOKUP, POP):  # (a pop: no key)
                ref = t.refs[m]
                key = bytes(memoryview(blk.keys)[ko : ko + ref.key_size]) if ko != NO_KEY else b""
                value = vals[at : at + t.value_sizes[m]]  # (a per-CPU value: every slot)
                run = fmts[m] if fmts is not None else None
                formatted = cprint.FormattedEntry(run, key, value) if run is not None else None
                output = element_json(ref.info, key, value, t.ncpus, formatted)
                at += t.value_sizes[m]
            elif kind == GETNEXT:  # (its next key among the values)
                ks = t.key_sizes[m]
                prev = bytes(memoryview(blk.keys)[ko : ko + ks]) if ko != NO_KEY else None
                output = getnext_json(prev, vals[at : at + ks])
                at += ks
            out.append(self._item({"command": _words(op_words(blk, i, data)), "output": output}))
        return out

    def _op_words(self, blk: OpBlock, i: int) -> list[str]:
        """The words of op i as bpftool's JSON shows them."""
        return op_words(blk, i, self._data)

    def _json_ok(self, index: int, output: Any) -> None:
        """Command ``index`` ran with JSON ``output`` (JSON mode only)."""
        if self.json:
            self._json_items.append((index, output))
            self._json_pending += 1
            self._json_stream()


#: items of at least this many characters are written part by part (_item)
_ITEM_BIG = 1 << 16


def _words(words: list[str]) -> Any:
    """A command's words as the JSON writer writes them: one token (json_writer's
    StringArray), the same text as the list."""
    from ..json_writer import StringArray  # start-up: -j only

    return StringArray(words)


def _text_writer(out: Any) -> Any:
    """``write(chunk)`` of ASCII bytes to the text stream ``out``."""

    def write(chunk: Any) -> None:
        out.write(bytes(chunk).decode("ascii"))

    return write


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
