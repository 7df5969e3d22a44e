/* bpfmaps fast path for bpftool batch files: consume a run of "simple" lines.
 *
 * A simple line is (words separated by spaces/tabs/CRs, optional '#' comment):
 *   map update (id N | pinned PATH) [key [hex] B1..Bk] value [hex] V1..Vm [any|noexist|exist]
 * with exact keywords and plain byte tokens whose value is 0..255 (decimal without
 * leading zero, 0-leading octal, 0x hex; 1-2 hex digits after "hex").  Blank and
 * comment-only lines inside a run are skipped.  Anything else (quotes, backslashes,
 * NUL bytes, abbreviations, other tokens, long lines) ends the run; the Python parser
 * handles that line, so this code never produces error messages.
 *
 * This header is also the cffi cdef: plain prototypes and structs only.
 */

struct bpfm_fp_shape {
    uint32_t handle_kind;   /* 1 = id, 2 = pinned */
    uint32_t map_id;        /* for id handles */
    uint64_t path_off;      /* for pinned handles: offset/length of PATH in the buffer */
    uint32_t path_len;
    uint32_t key_size;      /* number of key byte words (0: no key clause) */
    uint32_t value_size;    /* number of value byte words */
    uint32_t flags;         /* 0 any (default), 1 noexist, 2 exist */
};

/* Scan buf[start:len) from physical line `line`.
 * probe != 0: parse only the first simple command (after blank/comment lines) and
 *   fill *shape; nothing is written to keys/values/lines.
 * probe == 0: *shape is fixed; consume consecutive simple commands with that shape,
 *   at most max_count, writing key i at keys + i*key_size, the value at
 *   values + i*value_stride (copied ncopies times at slot_stride, padding zeroed) and
 *   its physical line number at lines[i].
 * Returns the number of commands parsed; *end / *end_line receive the offset and
 * line number of the first line not consumed (in probe mode, the line after the
 * probed command; blank/comment lines are consumed).  `len` may be a line boundary
 * inside a larger buffer: the scan then treats it as the end of the file. */
int bpfm_fp_scan(const char *buf, uint64_t len, uint64_t start, uint32_t line, int probe,
                 struct bpfm_fp_shape *shape, uint32_t max_count, char *keys, char *values,
                 uint32_t value_stride, uint32_t slot_stride, uint32_t ncopies,
                 uint32_t *lines, uint64_t *end, uint32_t *end_line);

/* lines[i] += delta for i < n (renumbering a segment scanned from line 0). */
void bpfm_fp_shift_lines(uint32_t *lines, uint32_t n, uint32_t delta);

/* ---- op streams: consecutive simple update/delete lines, any maps, any flags ----
 *
 * A map table entry describes one resolved handle (resolved once per file in
 * Python).  ok == 0 marks a handle the op stream must not take (the Python parser
 * handles its lines).  Simple lines:
 *   map update (id N | pinned PATH) key K1..Kk value V1..Vm [any|noexist|exist]
 *   map delete (id N | pinned PATH) key K1..Kk
 * with k == key_size, m == value_size of the entry (byte words as above). */
struct bpfm_fp_map {
    uint32_t handle_kind;   /* 1 = id, 2 = pinned */
    uint32_t map_id;
    uint64_t path_off;      /* PATH at buf[path_off : path_off + path_len] */
    uint32_t path_len;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t slot;          /* value slot (round_up8 for per-CPU maps) */
    uint32_t ncopies;       /* value copies (possible CPUs for per-CPU maps, else 1) */
    uint32_t ok;
};

/* One operation: kind 1 = update (flags 0/1/2), 2 = delete.  The key is at
 * data + key_off (key_size bytes of map `map`), the value at data + value_off
 * (slot * ncopies bytes).  32 bytes, no padding. */
struct bpfm_op {
    uint32_t kind;
    uint32_t flags;
    uint32_t map;
    uint32_t line;
    uint64_t key_off;
    uint64_t value_off;
};

/* Scan simple update/delete lines from buf[start:len) (physical line `line`),
 * appending ops at ops[*nops] (at most max_ops in all) and their bytes at
 * data + *data_used (at most data_cap in all).  Blank/comment lines are consumed.
 * Stops at the first line that is not simple; *status says why:
 *   0  a line that is not simple, a handle with ok == 0, or the end of the buffer;
 *   1  a handle not in the table: *unknown gets it (handle_kind, map_id, path_off,
 *      path_len); resolve it, add it to the table and call again from *end;
 *   2  ops or data full;
 *   3  a run of at least streak_min consecutive updates to one map with one flag
 *      starts at *end: it was not taken (the packed-run path takes it).
 * *end / *end_line: offset and line number of the first line not consumed.
 * Returns the number of ops added by this call. */
int bpfm_fp_ops(const char *buf, uint64_t len, uint64_t start, uint32_t line,
                const struct bpfm_fp_map *maps, uint32_t nmaps, struct bpfm_op *ops,
                uint32_t *nops, uint32_t max_ops, char *data, uint64_t *data_used,
                uint64_t data_cap, uint32_t streak_min, struct bpfm_fp_shape *unknown,
                uint64_t *end, uint32_t *end_line, int *status);
