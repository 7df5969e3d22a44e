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
    /* speculative mode (bpfm_papply_open's spec != 0), else -1 / NULL: */
    int map_fd;      /* the target map (the caller's fd: never closed here) */
    int undo_fd;     /* ARRAY, value_size = value_size: each element's old value */
    int present_fd;  /* ARRAY of u32: 1 when the element's key was present before */
    char *undo;
    char *present;
    size_t undo_len, present_len;
};

/* the most slots (threads) of bpfm_papply_spec */
#define BPFM_SPEC_SLOTS 8

/* What a speculative apply could not take back (bpfm_papply_spec): normally all 0. */
struct bpfm_spec_undo {
    uint32_t failed;   /* elements whose undo the map refused (they stay applied) */
    int32_t err;       /* -errno of the first such refusal */
    uint32_t *idx;     /* the caller's room for cap * slots indices: those elements */
};

/* bpfm_papply_open's mode bits */
#define BPFM_PAPPLY_SPEC 1     /* the variant of bpfm_papply_spec */
#define BPFM_PAPPLY_PREFETCH 2 /* look up keys ahead of their updates (hash maps) */
/* store each value through the pointer of an (inlined) lookup instead of calling
 * bpf_map_update_elem: only for a plain BPF_MAP_TYPE_ARRAY (not per-CPU, no BTF
 * special fields in the value), BPF_ANY or BPF_EXIST, value_size <= BPFM_STORE_MAX
 * (the caller decides; the open refuses the rest with -EINVAL) */
#define BPFM_PAPPLY_STORE 4
#define BPFM_STORE_MAX 256
/* STORE steps over groups of BPFM_STORE_GROUP elements (one lookup of each staging
 * array a group, one bpf_loop callback a group) when value_size <= BPFM_STORE_GROUP_MAX
 * (the unrolled copies fit the program) and cap is a multiple of the group */
#define BPFM_STORE_GROUP_SHIFT 2
#define BPFM_STORE_GROUP (1 << BPFM_STORE_GROUP_SHIFT)
#define BPFM_STORE_GROUP_MAX 64

/* Build the program for map `map_fd` (key_size, value_size bytes; elem_flags: BPF_ANY,
 * BPF_NOEXIST or BPF_EXIST as in BPF_MAP_UPDATE_ELEM) with room for `cap` elements a
 * run in each of `slots` slots (one per thread running parts at once).  `mode`:
 * BPFM_PAPPLY_SPEC, the speculative variant of bpfm_papply_spec, which also records,
 * before each update, whether the key was present and its old value (two more
 * arrays); BPFM_PAPPLY_PREFETCH: every 8 elements the program first looks up the
 * next 8 keys (results unused: a lookup changes nothing in a hash map), so that
 * their cache misses overlap instead of each update waiting for its own.  0, or
 * -errno of the first step that failed (everything it made is closed again; -EPERM
 * without CAP_BPF, -EINVAL where the kernel lacks a feature or the verifier refuses
 * the map, e.g. BPF_F_RDONLY_PROG). */
int bpfm_papply_open(struct bpfm_papply *p, int map_fd, uint32_t key_size,
                     uint32_t value_size, uint32_t cap, uint32_t slots, uint64_t elem_flags,
                     uint32_t mode);

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

/* Speculative parallel apply (a program opened with spec != 0 and slots >= 2) of
 * elements start .. start+count-1, with the serial result.  In rounds of up to
 * cap * slots elements: each element goes to slot hash(key) % slots (so every key's
 * updates stay in one thread, in order), the slots run at once (one thread each, the
 * caller's thread being slot 0), and each records before every update whether the key
 * was present and its old value.  A round whose slots all complete is applied as the
 * serial order would have applied it (different keys, each key's updates in order;
 * only the order inside a hash bucket may differ).  When a slot stops early (an
 * element the map refused, whatever the reason, or a run that failed), f = the
 * smallest index not applied by its slot: every element after f that another slot
 * applied is undone (old value written back with BPF_ANY, or the inserted key
 * deleted; newest first), so the map holds exactly the serial prefix start .. f-1.
 * Returns 0 (all applied), -EPROTO (*applied = f - start: apply the rest serially, it
 * decides element f's fate), -EINTR (a stop signal, seen between rounds: *applied is
 * the prefix done) or -errno before anything was applied.  Each slot of a round is run by
 * whichever thread takes it first (the caller's thread takes every slot not yet taken): a
 * thread the scheduler runs late, or one that could not be started, only costs speed.
 * `undo`: what could not be undone (only possible when another writer changes the
 * map meanwhile); its idx (or NULL) receives their indices.  Call it without the GIL. */
int bpfm_papply_spec(struct bpfm_papply *p, const char *keys, const char *values,
                     uint32_t value_stride, uint32_t start, uint32_t count, uint32_t *applied,
                     struct bpfm_spec_undo *undo);
