/* bpfmaps C helpers for Map.sync (bpfmaps/sync.py): the diff of two packed states.
 * No syscalls.  This header is also fed to cffi's cdef (plain prototypes only). */

/* Compare the current contents (n_cur packed keys/values) with the wanted state
 * (n_want packed keys/values; a key given twice: the last one wins) by bytes.
 * Outputs (caller-allocated, n_want and n_cur entries):
 *   upd_idx[0..*n_upd)  indices into want of the entries to write, in want order;
 *   upd_added[i]        1 when upd_idx[i] is a new key, 0 when its value changed;
 *   del_idx[0..*n_del)  indices into cur of the keys not wanted;
 *   *n_same             wanted entries already present with the same value.
 * With zero_is_absent (arrays: every index exists), a current entry whose value is all
 * zero bytes and that is not wanted is neither deleted nor counted.
 * Returns 0, or -ENOMEM. */
int bpfm_sync_plan(const char *cur_keys, const char *cur_vals, uint32_t n_cur,
                   const char *want_keys, const char *want_vals, uint32_t n_want,
                   uint32_t key_size, uint32_t value_size, int zero_is_absent,
                   uint32_t *upd_idx, uint8_t *upd_added, uint32_t *n_upd, uint32_t *del_idx,
                   uint32_t *n_del, uint32_t *n_same);

/* The same in two steps, so the index of the wanted keys can be built (in another
 * thread: no GIL, no syscall) while the current contents are read.  build: NULL on
 * ENOMEM; the index refers to want_keys (keep it alive) and is freed by _free. */
void *bpfm_sync_index_build(const char *want_keys, uint32_t n_want, uint32_t key_size);
int bpfm_sync_plan_probe(void *index, const char *cur_keys, const char *cur_vals,
                         uint32_t n_cur, const char *want_vals, uint32_t value_size,
                         int zero_is_absent, uint32_t *upd_idx, uint8_t *upd_added,
                         uint32_t *n_upd, uint32_t *del_idx, uint32_t *n_del, uint32_t *n_same);
void bpfm_sync_index_free(void *index);

/* dst[i] = src[idx[i]] for i < n, elements of `size` bytes. */
void bpfm_gather(const char *src, uint32_t size, const uint32_t *idx, uint32_t n, char *dst);
