/* In-kernel exec of a segment of a batch file's update, delete and lookup ops
 * (bpfmaps._pexec.c): a BPF_PROG_TYPE_SYSCALL program, run with BPF_PROG_TEST_RUN,
 * applies the ops user space staged in three mmapped BPF_F_MMAPABLE arrays (op codes,
 * keys, values) in order, each through its own map's function (bpf_map_update_elem
 * with the op's flags, bpf_map_delete_elem, or bpf_map_lookup_elem with the value
 * copied into the op's values slot, on the maps opened with lookups), stopping at the
 * first op a map refuses with that op's errno (-ENOENT for a lookup that finds nothing).
 * Up to 4 maps a program; each map pointer is a constant at its own call sites (the
 * program dispatches on the op's map).  Which maps may use it (the result must be the
 * syscall's) is decided by the caller (bpfmaps/_kexec.py).  The exec loop
 * (bpfm_exec_print, _native/scan.c) runs the segments of the program the calling thread
 * attached with bpfm_pexec_use.  Kernel floor: 5.17; CAP_BPF.  Plain prototypes only
 * (cffi cdef). */

struct bpfm_pexec {
    int prog_fd;                /* the program, or -1 */
    int ops_fd, keys_fd, values_fd; /* the staging arrays, BPF_F_MMAPABLE, or -1 */
    uint32_t nmaps;             /* maps of the program (at most 4) */
    uint32_t table[4];          /* their indices in the plan's map table (bpfm_op.map) */
    int fds[4];                 /* their fds (an op's fd must be this one) */
    uint32_t key_size[4], value_size[4];
    uint32_t look[4];           /* 1: the program looks up this map's keys */
    uint32_t cap;               /* ops a program run */
    uint32_t esize;             /* the key/value arrays' element size (largest, rounded to 8) */
    uint32_t broken;            /* 1: a run failed as a whole; the exec loop stops using it */
    uint64_t runs;              /* program runs so far, ops applied by them, the lookups */
    uint64_t applied;           /* among those (for tests) */
    uint64_t looked;
    char *ops, *keys, *values;  /* the mmapped arrays */
    size_t ops_len, keys_len, values_len;
};

/* the largest value a program's lookup copies (its copy is unrolled: 2 insns a word) */
#define BPFM_PEXEC_LOOKUP_MAX 256

/* Build the program for the `nmaps` maps (fds[i], key_size[i], value_size[i] as the
 * plan's map table index table[i]; nmaps 1..4) with room for `cap` ops a run; look[i]
 * (NULL: none) nonzero: the program also looks up map i's keys (only where its
 * value_size is at most BPFM_PEXEC_LOOKUP_MAX: the caller prints them).  0, or
 * -errno of the first step that failed (everything it made is closed again; -EPERM
 * without CAP_BPF, -EINVAL where the kernel lacks a feature or the verifier refuses a
 * map). */
int bpfm_pexec_open(struct bpfm_pexec *p, uint32_t nmaps, const uint32_t *table,
                    const int *fds, const uint32_t *key_size, const uint32_t *value_size,
                    const uint32_t *look, uint32_t cap);

/* Close everything bpfm_pexec_open made (idempotent); detaches it if attached. */
void bpfm_pexec_close(struct bpfm_pexec *p);

/* Attach `p` (NULL: none) to the calling thread: its bpfm_exec_print calls run the
 * segments of update/delete ops on p's maps through it.  Returns the one attached before. */
struct bpfm_pexec *bpfm_pexec_use(struct bpfm_pexec *p);

/* The program attached to the calling thread, or NULL. */
struct bpfm_pexec *bpfm_pexec_current(void);

/* The length of the segment from ops[0] (at most `left`, at most cap): consecutive
 * updates (flags 0..2) and deletes with a key on p's maps with the fds in `fds`, and
 * lookups (flags 0) with a key on its maps with look that the exec loop prints
 * (maps[op.map].plain; maps NULL: none) while their printed entries fit in `out_left`
 * bytes (4 * (key_size + value_size) + 64 each, the exec loop's bound, and the bound
 * of the map's BTF program, maps[].fmt); 0 when ops[0] is not one, or the segment is
 * a single op (its syscall costs as much). */
uint32_t bpfm_pexec_segment(const struct bpfm_pexec *p, const struct bpfm_op *ops,
                            uint32_t left, const int *fds, const struct bpfm_print_map *maps,
                            uint64_t out_left);

/* The value op j of the last run looked up (valid for j < its *applied). */
const char *bpfm_pexec_value(const struct bpfm_pexec *p, uint32_t j);

/* Apply ops[0..n) (a segment, n <= cap) in one program run: 0 (all applied) or the
 * -errno of op *applied (the ops before it are applied, none after; each lookup among
 * them has its value at bpfm_pexec_value(p, j)).  -EPROTO: the run
 * failed as a whole or stopped without an op's error (*applied ops were applied; the
 * rest must go another way; p->broken is set). */
int bpfm_pexec_run(struct bpfm_pexec *p, const struct bpfm_op *ops, uint32_t n,
                   const char *keys, const char *values, uint32_t *applied);

/* The update and delete ops with a key among ops[0..n), and the lookups (flags 0) with
 * a key on the plan maps m with look[m] (look: NULL, or nlook flags by plan map index),
 * that have such an op next to them (what a program may take: a single op between
 * others keeps its syscall). */
uint32_t bpfm_pexec_count(const struct bpfm_op *ops, uint32_t n, const unsigned char *look,
                          uint32_t nlook);
