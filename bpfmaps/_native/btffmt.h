/* bpftool's BTF output of one map entry (btf_dumper.c through json_writer.c), run
 * from a program that bpfmaps/btf/fmtprog.py compiles from the map's BTF: the type
 * walk is done once, there; here only the bytes of each entry are read and printed.
 *
 * A program is a list of ops of four 32-bit words.  The writer state is bpftool's
 * json_writer: the nesting depth, a pending "," (sep) and pretty mode (a newline and
 * 4 spaces a level before a member name and before the closing bracket of a
 * non-empty container).  An op reads the key (flag BPFM_FMT_SRC_VALUE clear) or the
 * value (set) at byte offset a; the compiler only emits reads inside key_size and
 * the value buffer.  Literals (member names quoted with their ": " or ":", tokens,
 * enumerator names) are slices of lits. */
#ifndef BPFM_BTFFMT_H
#define BPFM_BTFFMT_H
#include <stdint.h>

struct bpfm_fmt_op {
    uint32_t code; /* BPFM_FMT_* | flags */
    uint32_t a, b, c;
};

struct bpfm_fmt_prog {
    const struct bpfm_fmt_op *ops;
    uint32_t nops;
    const char *lits;
    uint64_t need; /* the most bytes one run writes (at this depth) */
    int depth;     /* the writer's depth before the first op (updated by a run) */
    int sep;       /* a "," is pending (updated by a run) */
    int pretty;
};

/* Run prog over one entry (key: key_size bytes, val: the value buffer), writing at
 * out (room for prog->need bytes).  Returns the bytes written; prog->depth and
 * prog->sep are the writer's state after it.  O(ops + bytes written); no syscall. */
uint64_t bpfm_fmt_run(struct bpfm_fmt_prog *prog, const char *key, const char *val, char *out);
#endif
