/* bpfmaps C shim: one function per bpf(2) command.
 *
 * Every function returns its result (0, an fd, ...) or -errno captured right
 * after the syscall; no caller ever reads the global errno.  Batch functions write
 * `count` back even on failure.  This header is also fed to cffi's cdef, so it
 * holds only plain prototypes and structs (no macros, no includes).
 */

struct bpfm_map_info {
    uint32_t type;
    uint32_t id;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    char name[16];
    uint32_t ifindex;
    uint32_t btf_vmlinux_value_type_id;
    uint64_t netns_dev;
    uint64_t netns_ino;
    uint32_t btf_id;
    uint32_t btf_key_type_id;
    uint32_t btf_value_type_id;
    uint64_t map_extra;
    uint32_t btf_vmlinux_id; /* Linux 6.7+; 0 before (the old padding) */
};

struct bpfm_prog_info {
    uint32_t type;
    uint32_t id;
    char name[16];
    uint8_t tag[8];
};

int bpfm_map_get_fd_by_id(uint32_t id, uint32_t open_flags);
int bpfm_map_get_next_id(uint32_t start_id, uint32_t *next_id);
int bpfm_prog_get_fd_by_id(uint32_t id);
int bpfm_prog_get_next_id(uint32_t start_id, uint32_t *next_id);
int bpfm_obj_get(const char *path, uint32_t file_flags);
int bpfm_obj_pin(int fd, const char *path);
int bpfm_map_get_info(int fd, struct bpfm_map_info *out);
int bpfm_prog_get_info(int fd, struct bpfm_prog_info *out);
int bpfm_map_lookup_elem(int fd, const char *key, char *value, uint64_t flags);
int bpfm_map_update_elem(int fd, const char *key, const char *value, uint64_t flags);
int bpfm_map_delete_elem(int fd, const char *key);
int bpfm_map_get_next_key(int fd, const char *key, char *next_key);
int bpfm_map_lookup_and_delete_elem(int fd, const char *key, char *value, uint64_t flags);
int bpfm_map_freeze(int fd);

int bpfm_map_update_batch(int fd, const char *keys, const char *values, uint32_t *count,
                          uint64_t elem_flags, uint64_t flags);
int bpfm_map_delete_batch(int fd, const char *keys, uint32_t *count, uint64_t elem_flags,
                          uint64_t flags);
int bpfm_map_lookup_batch(int fd, const char *in_batch, char *out_batch, char *keys,
                          char *values, uint32_t *count, uint64_t elem_flags, uint64_t flags);
int bpfm_map_lookup_and_delete_batch(int fd, const char *in_batch, char *out_batch, char *keys,
                                     char *values, uint32_t *count, uint64_t elem_flags,
                                     uint64_t flags);

/* Per-element loops (the fallback for kernels/map types without batch commands, and
 * the path for NOEXIST/EXIST updates).  Element i uses keys + i*key_size and
 * values + i*value_stride.  With errs == NULL: stop at the first failure, *count =
 * number applied, return its -errno.  With errs != NULL: attempt every element,
 * errs[i] = 0 or -errno, return the number of failures.  A stop signal (_stop.h)
 * ends them before the next element: -EINTR (errs: -EINTR for every element left). */
int bpfm_update_elems(int fd, const char *keys, uint32_t key_size, const char *values,
                      uint32_t value_stride, uint32_t *count, uint64_t flags, int32_t *errs);
int bpfm_delete_elems(int fd, const char *keys, uint32_t key_size, uint32_t *count,
                      int32_t *errs);
int bpfm_lookup_elems(int fd, const char *keys, uint32_t key_size, char *values,
                      uint32_t value_stride, uint32_t *count, uint64_t flags, int32_t *errs);
int bpfm_lookup_and_delete_elems(int fd, const char *keys, uint32_t key_size, char *values,
                                 uint32_t value_stride, uint32_t *count, uint64_t flags,
                                 int32_t *errs);

/* Load a program from raw instructions (8 bytes each); used for prog arrays and tests. */
int bpfm_prog_load(uint32_t prog_type, const char *insns, uint32_t insn_cnt, const char *license,
                   const char *name, char *log_buf, uint32_t log_size);

/* BPF_PROG_TEST_RUN (kernel >= 4.12; ctx_in/ctx_out 5.2).  data_out/ctx_out may be NULL;
 * *data_size_out / *ctx_size_out give their capacity in and the kernel's size out (ENOSPC
 * when the output did not fit: the size is still written back).  *retval and *duration
 * (average ns per run) are written on success. */
int bpfm_prog_test_run(int prog_fd, const char *data_in, uint32_t data_size_in, char *data_out,
                       uint32_t *data_size_out, const char *ctx_in, uint32_t ctx_size_in,
                       char *ctx_out, uint32_t *ctx_size_out, uint32_t repeat, uint32_t flags,
                       uint32_t cpu, uint32_t *retval, uint32_t *duration);

/* BTF objects.  bpfm_btf_get_info fills *out (id, full blob size, kernel_btf, name)
 * and copies min(buf_size, size) bytes of the raw blob into buf (NULL: size only).
 * bpfm_btf_load returns a new BTF fd or -errno; with log_buf the verifier log is
 * written there (log_level 1 when 0 is given). */
struct bpfm_btf_info {
    uint32_t id;
    uint32_t btf_size;
    uint32_t kernel_btf;
    char name[64];
};

int bpfm_btf_get_fd_by_id(uint32_t id);
int bpfm_btf_get_next_id(uint32_t start_id, uint32_t *next_id);
int bpfm_btf_get_info(int fd, char *buf, uint32_t buf_size, struct bpfm_btf_info *out);
int bpfm_btf_load(const char *data, uint32_t size, char *log_buf, uint32_t log_size,
                  uint32_t log_level);

int bpfm_close(int fd);
int bpfm_dup(int fd);
int bpfm_fd_is_valid(int fd);

/* Walk a map with GET_NEXT_KEY from `start_key` (NULL: from the first key) and look
 * each key up (LOOKUP_ELEM with `lookup_flags`), filling up to *count elements into
 * keys (key_size apart) and values (value_stride apart): the per-element twin of
 * BPF_MAP_LOOKUP_BATCH.  Keys that vanish between the two calls are skipped.  The last
 * key visited is written to `cursor` (key_size bytes) for the next call.  *count gets
 * the number stored; *steps the number of GET_NEXT_KEY calls that returned a key.
 * Returns 0 when the chunk is full, -ENOENT (with a valid partial count) when the map
 * ended, another -errno on failure (count valid).
 * With `delete` != 0 it drains instead: it collects up to *count keys from the first
 * key on (start_key ignored), then LOOKUP_AND_DELETE_ELEMs each (the twin of
 * LOOKUP_AND_DELETE_BATCH). */
int bpfm_dump_elems(int fd, const char *start_key, char *cursor, char *keys, uint32_t key_size,
                    char *values, uint32_t value_stride, uint32_t *count, uint64_t lookup_flags,
                    int delete, uint32_t *steps);

/* 1 when the n keys (key_size bytes each, packed) are pairwise distinct, 0 when two
 * are equal, -ENOMEM.  Strictly increasing keys (memcmp order) are detected in one
 * pass; otherwise an open-addressing hash set of indices.  No syscall. */
int bpfm_keys_distinct(const char *keys, uint32_t key_size, uint32_t n);

/* 1 when the n keys are strictly increasing in memcmp order (so pairwise distinct), else
 * 0: one pass that ends at the first key not above the one before.  No syscall. */
int bpfm_keys_ascending(const char *keys, uint32_t key_size, uint32_t n);

/* UPDATE_BATCH of elements [start, start+count) in chunks of `chunk`, stopping before
 * a chunk when *stop != 0 and setting *stop = 1 on a failure.  *applied receives the
 * number applied (a prefix of the range); returns 0 or the failing -errno.  Used by
 * threads applying disjoint parts of one packed batch (the GIL is released).
 * A stop signal (_stop.h) ends it before the next chunk with -EINTR. */
int bpfm_update_batch_part(int fd, const char *keys, const char *values, uint32_t key_size,
                           uint32_t value_stride, uint32_t start, uint32_t count,
                           uint32_t chunk, uint64_t elem_flags, int *stop,
                           uint32_t *applied);

/* MAP_CREATE (the one map-creating call): name NULL or up to 15 bytes; inner_map_fd
 * > 0 for map-in-map types; BTF describing the key and value: btf_fd from BTF_LOAD
 * (< 0: none), the type ids in that BTF (0 = none).  A new fd or -errno. */
int bpfm_map_create_btf(uint32_t map_type, uint32_t key_size, uint32_t value_size,
                        uint32_t max_entries, uint32_t map_flags, const char *name,
                        int inner_map_fd, uint32_t numa_node, uint64_t map_extra, int btf_fd,
                        uint32_t btf_key_type_id, uint32_t btf_value_type_id);
