/* The op record: the ONE definition of one element command of a batch-file plan.
 *
 * Written by the scanner (_native/scan.c), read by the exec loop (scan.c
 * bpfm_exec_print) and, through bpfmaps.bpftool.plan.OP (a struct.Struct checked
 * against this layout by test_record_layout_matches_header in
 * tests/bpftool/test_bpftool_scan.py), by Python.
 *
 * kind/flags:
 *   BPFM_OP_UPDATE   flags = BPF_ANY 0 | BPF_NOEXIST 1 | BPF_EXIST 2 (update, push, enqueue)
 *   BPFM_OP_DELETE   flags = 0
 *   BPFM_OP_LOOKUP   flags = 0 lookup, 1 peek
 *   BPFM_OP_GETNEXT  flags = 0 no key (first key), 1 with key
 *   BPFM_OP_POP      flags = 0 pop, 1 dequeue
 * map: index into the plan's map table.  line: physical line (1-based).
 * key_off: offset of the key in the key arena (key_size bytes of that map), or
 * BPFM_NO_KEY for ops without a key (keyless maps, getnext without key, pop): the
 * kernel then gets a NULL key.  value_off: offset of the value in the
 * value arena (update only: the kernel buffer, per-CPU values replicated).
 * pos: file offset of the first byte of the command's line (its span ends at the
 * next newline), so output cuts the words from the file only when it prints them.
 * 32 bytes, no padding.  Arena offsets are 32-bit: a plan block holds < 4 GiB.
 *
 * This header is part of the cffi cdef (build_ffi.py feeds it first, once).
 */

#ifndef BPFM_OPS_H
#define BPFM_OPS_H

enum {
    BPFM_OP_UPDATE = 1,
    BPFM_OP_DELETE = 2,
    BPFM_OP_LOOKUP = 3,
    BPFM_OP_GETNEXT = 4,
    BPFM_OP_POP = 5
};

enum { BPFM_NO_KEY = 0xffffffff };

struct bpfm_op {
    uint32_t kind;
    uint32_t flags;
    uint32_t map;
    uint32_t line;
    uint32_t key_off;
    uint32_t value_off;
    uint64_t pos;
};

#endif
