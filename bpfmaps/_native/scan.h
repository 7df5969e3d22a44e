/* bpfmaps batch-file scanner: the ONE C implementation of bpftool's ordinary lines.
 *
 * It takes a line only when it is sure of the reference's result (lexer.py,
 * bytes.py, grammar.py), and otherwise stops *before* the line ("declines") so
 * the Python reference parses it and produces the command or the error message.
 * So it never reports an error.  An ordinary line is (words separated by spaces,
 * tabs or CRs; a '#' cuts the line; at most 4000 bytes; only printable ASCII, no
 * quote or backslash; blank and comment-only lines are consumed):
 *
 *   map update|push|enqueue MAP [key DATA] value DATA [any|noexist|exist]
 *   map delete MAP key DATA
 *   map lookup|peek MAP [key DATA]
 *   map getnext MAP [key DATA]
 *   map pop|dequeue MAP
 *   MAP  := id N | pinned PATH | name NAME     (N decimal without leading zero)
 *   DATA := [hex] B1 .. Bk   with k the map's size, plain byte words 0..255
 *
 * key, value and flag in this order; the key clause exactly when the map has a
 * key (for getnext: optional).  Exact keywords mean what bpftool's prefix matching
 * means: bpftool tries is_prefix(word, name) in table order, and no earlier table
 * entry starts with any of these words ("map": help/batch/prog come first;
 * "delete": dump/update/lookup/getnext; "push"/"pop": pin/peek; "peek": pin;
 * flags: key/value; "name": id; "pinned": id/name).  Whether a map may take a verb
 * at all (fd-valued maps, zero sizes, unresolvable handles) is decided in Python
 * and given as `caps`.
 *
 * This header is part of the cffi cdef: plain prototypes and structs only.
 */
#include "ops.h"
#include "btffmt.h"

/* One resolved handle (the file's map table, filled from Python). */
struct bpfm_scan_map {
    uint32_t handle_kind;   /* 1 id, 2 pinned, 3 name */
    uint32_t map_id;        /* id handles */
    uint64_t text_off;      /* pinned/name: the word at buf[text_off : text_off + text_len] */
    uint32_t text_len;
    uint32_t key_size;
    uint32_t value_size;    /* value bytes written in the file */
    uint32_t slot;          /* bytes per value copy (round_up8 for per-CPU maps) */
    uint32_t ncopies;       /* copies (possible CPUs for per-CPU maps, else 1) */
    uint32_t caps;          /* bit (1 << BPFM_OP_*) per verb the scanner may take */
    uint32_t index;         /* the plan's map number (written to op.map) */
};

/* The scanner's state: inputs, output arrays and the cursor (in/out). */
struct bpfm_scan {
    const char *buf;
    uint64_t len;                       /* scan buf[pos:len); len may be a line boundary */
    const struct bpfm_scan_map *maps;
    uint32_t nmaps;
    uint32_t max_ops;
    uint32_t run;                       /* run mode (see bpfm_scan): ops needs room for 2 */
    struct bpfm_op *ops;
    char *keys;
    char *values;
    uint64_t keys_cap;
    uint64_t values_cap;
    /* cursor */
    uint64_t pos;
    uint32_t line;
    uint32_t nops;
    uint64_t keys_used;
    uint64_t values_used;
    /* result */
    int status;                         /* BPFM_SCAN_* */
    struct bpfm_scan_map unknown;       /* status UNKNOWN: the handle (kind, id, text) */
};

enum {
    BPFM_SCAN_END = 0,       /* pos == len */
    BPFM_SCAN_DECLINE = 1,   /* the line at pos is for the Python reference */
    BPFM_SCAN_UNKNOWN = 2,   /* the line at pos names a handle not in the table */
    BPFM_SCAN_FULL = 3,      /* ops, keys or values full; the line at pos not taken */
    BPFM_SCAN_RUN_END = 4    /* run mode: the line at pos is not an op of the run */
};

/* Scan from s->pos (physical line s->line), appending ops at s->ops[s->nops] and
 * their bytes to the arenas, until the end, a declined line, an unknown handle or
 * full buffers (s->status).  Thread-safe (no shared state).  Returns ops added.
 *
 * Run mode (s->run != 0, for a scan that starts with nops == 0): the ops taken are
 * one run, updates to one map with one flag or deletes on one map (what
 * bpfm_find_runs calls a run), and only two records are written: ops[0] is the first
 * op's, ops[1] the last one's (once nops >= 2).  Everything else (nops, the keys and
 * values in the arenas, pos, line) is what the scan with run == 0 from the same
 * cursor gives, whose records that scan writes.  The first line whose op is not of
 * the run (another kind, map, handle or flag; a lookup, getnext or pop; a handle not
 * in the table once the run has begun) ends the scan before it: status
 * BPFM_SCAN_RUN_END.  It saves the 32 bytes a record of ops that are applied as one
 * run anyway. */
int bpfm_scan(struct bpfm_scan *s);

/* Memory for the ops and arenas of a block that a job may be appended to: size bytes,
 * page-aligned, not cleared (pages are zero until written); NULL when out of memory.
 * Free with bpfm_arena_free. */
char *bpfm_arena_new(uint64_t size);
void bpfm_arena_free(char *p);
/* Fault in the first len bytes of arena p at once (MADV_POPULATE_WRITE: one call
 * instead of a page fault a page; len is cut to the arena and to whole pages): 0 or
 * -errno (EINVAL before Linux 5.14: the pages then fault in as they are written). */
int bpfm_arena_populate(char *p, uint64_t len);

/* A parallel scan of a big file: the segment that follows the one this thread scans
 * is scanned at the same time by a job, in a thread of its own, into buffers of its
 * own, then appended.  bpfm_scan_start starts a job for the segment s describes (buf,
 * len, maps (copied), pos at a line start, line 0 (lines are counted from there),
 * max_ops, keys_cap, values_cap; the buffers are the job's); NULL when it cannot.  The
 * job stops where the serial scan would (a declined line, an unknown handle (it calls
 * nothing back), full buffers).  bpfm_scan_finish waits for the job, then, when merge is
 * set and s (whose buffers are bpfm_arena_new arenas) ended exactly where the job began
 * (status END, pos == len == the job's start) with room for the job's ops, appends
 * them as the serial scan would have written them (lines and arena offsets counted
 * on; whole pages are moved, not copied) and takes over the job's cursor and status:
 * returns 1.  Otherwise the job's work is dropped: 0.  Frees the job either way.  In
 * run mode (s->run, copied to the job) the job's ops are appended only when they
 * continue the run of s (or s has none): then ops[1] becomes the job's last. */
struct bpfm_scan_job;
struct bpfm_scan_job *bpfm_scan_start(const struct bpfm_scan *s);
int bpfm_scan_finish(struct bpfm_scan_job *job, struct bpfm_scan *s, int merge);

/* The runs among ops[0:n): maximal stretches of at least run_min consecutive updates
 * to one map with one flag, or deletes on one map, as (start, end) pairs into out
 * (at most max_out pairs).  Returns the number of runs, or -1 if out is too small. */
int bpfm_find_runs(const struct bpfm_op *ops, uint32_t n, uint32_t run_min, uint32_t *out,
                   uint32_t max_out);

/* bpftool's JSON items {"command": [words], "output": null} of the scanned ops[0:n)
 * (their lines are printable ASCII without quotes or backslashes: words are shown as
 * they are), separated by ",": compact (pretty == 0, json.dumps separators ",", ":")
 * or as json.dumps(indent=4) lays them out inside the top-level list (separated by
 * ",\n").  Writes at most cap bytes to out (*used); returns the ops written. */
int bpfm_json_nulls(const char *buf, uint64_t len, const struct bpfm_op *ops, uint32_t n,
                    int pretty, char *out, uint64_t cap, uint64_t *used);

/* bpftool's `map dump` loop of a map that has no BTF: from the key in prev
 * (*have_prev 0: the first key), GET_NEXT_KEY into kbuf then LOOKUP_ELEM into vbuf, the
 * entry appended to out[*used:cap] (json 0: bpftool's plain layout; 1: its compact
 * JSON element {"key":[...],"value":[...]}, separated by ","; json d >= 2: the element
 * as bpftool's pretty writer lays it out in a list at depth d - 1, members indented
 * 4 * d spaces; ncpus > 0: a per-CPU map of that many possible CPUs, vbuf holding
 * ncpus values of round_up(value_size, 8) bytes, printed as bpftool prints them:
 * "value (CPU NN):" lines, or "values":[{"cpu":N,"value":[...]},...]), prev = the key,
 * ++*count, at most `steps` keys.  Returns 0 after `steps` keys, 2 when the next entry
 * might not fit in out (print it and call again), 1 when the lookup of the key in
 * kbuf failed (*lookup_err = its -errno; the caller shows that entry and goes on from
 * it as prev), else GET_NEXT_KEY's -errno (-ENOENT: the end).  bpfm_stop_sig: -EINTR
 * before the next syscall.  prog (not NULL): each entry is printed by bpfm_fmt_run
 * instead (a map with BTF: btffmt.h), at most prog->need bytes an entry.  batch (not
 * NULL): the entries come from LOOKUP_BATCH calls, cap at a time, instead of a
 * GET_NEXT_KEY and a LOOKUP_ELEM each (the same entries in the same order: the kernel
 * walks the buckets, or the array, as GET_NEXT_KEY does); a batch call that fails
 * returns 3 before the next entry: the caller goes on without batch, from prev. */
struct bpfm_dump_batch {
    char *keys, *vals;       /* room for cap entries: key_size and vstride bytes each */
    uint32_t cap, vstride;
    uint32_t n, i;           /* entries the last LOOKUP_BATCH gave, the next to print */
    char *in_tok, *out_tok;  /* the batch position (tok_size bytes each) */
    uint32_t tok_size;
    int started, ended;      /* zero before the first call */
    uint32_t calls;          /* LOOKUP_BATCH calls made */
};

int bpfm_dump_print(int fd, uint32_t key_size, uint32_t value_size, uint32_t ncpus, int json,
                    struct bpfm_fmt_prog *prog, struct bpfm_dump_batch *batch, char *prev,
                    int *have_prev, char *kbuf, char *vbuf, uint32_t steps, char *out, uint64_t cap, uint64_t *used, uint32_t *count, int *lookup_err);

/* bpfm_json_nulls (compact) with the lookups' output: a LOOKUP op's item is
 * {"command": [words], "output": {"key": [...], "value": [...]}} (bpftool's
 * print_entry_json: "0x%02x" strings), its key at keys + key_off of key_size[op.map]
 * bytes, its value the next value_size[op.map] bytes of vals from *vals_used (which it
 * advances): the values bpfm_exec_print copied with plain 2; ncpus (may be NULL)
 * [op.map] > 0: a per-CPU map, its "values" [{"cpu": i, "value": [...]}, ...] from
 * ncpus slots of round_up(value_size, 8) bytes; a POP op's output is a keyless
 * lookup's ("key": []); a GETNEXT op's {"key": null or [...], "next_key": [...]}, the
 * next key the next key_size[op.map] bytes of vals; fmts (may be NULL) [op.map] not
 * NULL: a map with BTF, whose output
 * also has "formatted": the object its program prints (btffmt.h; set to depth 3 and
 * pretty for pretty items).  pretty: bpftool's -jp layout of the items (members
 * indented 8 spaces, "}" after 4); vals NULL: every op's output null (vals_used may be
 * NULL then).  Writes at most cap bytes to out (*used); returns the ops written. */
int bpfm_json_items(const char *buf, uint64_t len, const struct bpfm_op *ops, uint32_t n,
                    int pretty, const char *keys, const uint32_t *key_size,
                    const uint32_t *value_size, const uint32_t *ncpus,
                    struct bpfm_fmt_prog **fmts, const char *vals, uint64_t *vals_used,
                    char *out, uint64_t cap, uint64_t *used);

/* How bpfm_exec_print runs ops on one map: plain 1 formats lookups (and getnext) in
 * bpftool's plain layout, plain 2 (JSON mode) copies each lookup's value as it is to
 * out (value_size bytes, a per-CPU map's value_buf: every slot) and each getnext's
 * next key (key_size bytes), in op order: bpfm_json_items formats them; 0 hands them
 * to the caller; batch: BPFM_GROUP_UPDATE
 * lets consecutive BPF_ANY updates go as one UPDATE_BATCH, BPFM_GROUP_DELETE consecutive
 * deletes as one DELETE_BATCH (map types whose batch ops apply elements in order, as the
 * single commands would); value_buf: bytes of one value in the value arena. */
enum { BPFM_GROUP_UPDATE = 1, BPFM_GROUP_DELETE = 2 };

struct bpfm_print_map {
    uint32_t key_size;
    uint32_t value_size;
    uint32_t plain;
    uint32_t batch;
    uint32_t value_buf;
    uint32_t ncpus; /* a per-CPU map's value slots (plain 1: "value (CPU NN):" lines), else 0 */
    struct bpfm_fmt_prog *fmt; /* plain 1, a map with BTF: its entry's program (btffmt.h,
                                  pretty, depth 0), each lookup printed by it and "\n" */
};

/* The exec loop of op records (the ONE loop: the batch-file executor's, and with
 * maps == NULL that of bpfmaps.loops.Loops.exec_ops on the kernel): ops in order on
 * fds[op.map], UPDATE (UPDATE_ELEM with the op's flags) and DELETE with the key at
 * keys + key_off (none for BPFM_NO_KEY) and the value at values + value_off; lookups
 * and getnext too where maps[op.map].plain, and pops of keyless maps (queue, stack:
 * LOOKUP_AND_DELETE_ELEM, printed as a keyless lookup): the value (next
 * key) is read into vbuf (the largest value or key buffer) and appended to
 * out[*out_used:out_cap] in bpftool's plain layout (plain 2: the value as it is).
 * Consecutive updates (BPF_ANY) or deletes on one map whose maps[].batch allows it, with contiguous keys and values, go
 * to the kernel as one UPDATE_BATCH / DELETE_BATCH (the kernel applies them in order
 * and stops at the first failure); when such a call fails, the ops it did not apply
 * run one by one, so the failing op and its errno are the single command's.  A batch
 * call the kernel refuses as a whole (no batch support) clears maps[].batch.  Stops
 * at the first failing update/delete (*done = its index, returns -errno), before a
 * plain lookup or getnext whose entry does not fit in what is left of out (returns 2:
 * print out and call again from *done; 1 when out was empty), and before any op it
 * does not run itself (getnext, pop, lookups that fail or are not plain: returns 1);
 * 0 when all ran.  Lookups with an exec program attached (_pexec.h) run in it with
 * the updates and deletes around them and are printed (copied) from the values it
 * copied.  bpfm_stop_sig is checked before every syscall (-EINTR).  maps == NULL: no map formats or groups (vbuf and out unused,
 * out_cap 0): every lookup, getnext and pop returns 1, updates and deletes go one
 * element command each. */
int bpfm_exec_print(const struct bpfm_op *ops, uint32_t count, const int *fds, const char *keys,
                    const char *values, struct bpfm_print_map *maps, char *vbuf, char *out,
                    uint64_t out_cap, uint64_t *out_used, uint32_t *done);
