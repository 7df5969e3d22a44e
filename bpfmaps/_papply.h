/* In-kernel apply of a run of updates (bpfmaps._papply.c): a tiny BPF program of type
 * BPF_PROG_TYPE_SYSCALL, run with BPF_PROG_TEST_RUN, calls the map's own update
 * function (bpf_map_update_elem) for each element of a chunk that user space wrote
 * into two mmapped BPF_F_MMAPABLE arrays (keys, values).  Same kernel function per
 * element as BPF_MAP_UPDATE_BATCH / BPF_MAP_UPDATE_ELEM, without their per-element
 * copy_from_user and usercopy checks: about 0.6x the wall time of UPDATE_BATCH for
 * a preallocated hash map.  Which maps may use it (the result must be the syscall's)
 * is decided by the caller (bpfmaps/_kprog.py); this file only builds and runs it.
 * Kernel floor: 5.17 (bpf_loop, sleepable syscall programs, mmapable arrays);
 * CAP_BPF.  Plain prototypes only (cffi cdef). */

struct bpfm_papply {
    int prog_fd;     /* the program, or -1 */
    int keys_fd;     /* BPF_MAP_TYPE_ARRAY, value_size = key_size, BPF_F_MMAPABLE */
    int values_fd;   /* BPF_MAP_TYPE_ARRAY, value_size = value_size, BPF_F_MMAPABLE */
    uint32_t cap;    /* elements per program run */
    uint32_t slots;  /* runs that may go at once (threads): the arrays hold cap * slots */
    uint32_t key_size, value_size;
    uint32_t kstride, vstride; /* the arrays' element strides (sizes rounded up to 8) */
    char *keys;      /* the mmapped arrays */
    char *values;
    size_t keys_len, values_len;
};

/* Build the program for map `map_fd` (key_size, value_size bytes; elem_flags: BPF_ANY,
 * BPF_NOEXIST or BPF_EXIST as in BPF_MAP_UPDATE_ELEM) with room for `cap` elements a
 * run in each of `slots` slots (one per thread running parts at once).  0, or -errno of the first step that failed (everything it made is closed
 * again; -EPERM without CAP_BPF, -EINVAL where the kernel lacks a feature or the
 * verifier refuses the map, e.g. BPF_F_RDONLY_PROG). */
int bpfm_papply_open(struct bpfm_papply *p, int map_fd, uint32_t key_size,
                     uint32_t value_size, uint32_t cap, uint32_t slots, uint64_t elem_flags);

/* Close everything bpfm_papply_open made (idempotent). */
void bpfm_papply_close(struct bpfm_papply *p);

/* Apply elements start .. start+count-1 of `keys` (key_size apart) and `values`
 * (value_stride apart) in order through slot `slot` (one thread a slot at a time),
 * `cap` a program run, stopping at the first element
 * the map refuses: *applied = elements applied (a prefix), returns 0 or that
 * element's -errno.  A stop signal (bpfm_stop_sig) ends it before the next run with
 * -EINTR; `*stop` set by another part ends it before the next run (returns 0) and is
 * set when this part fails, as in bpfm_update_batch_part.  -EPROTO: the program stopped
 * without an element's error (nothing refused the rest: apply it another way).  Releases nothing itself:
 * call it without the GIL. */
int bpfm_papply_part(struct bpfm_papply *p, uint32_t slot, const char *keys,
                     const char *values, uint32_t value_stride, uint32_t start,
                     uint32_t count, int *stop, uint32_t *applied);
