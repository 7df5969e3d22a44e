/* Diff of two packed map states for Map.sync; see _sync.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_sync.h"

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t hash_key(const char *k, uint32_t ks)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ks;
    uint32_t i = 0;
    for (; i + 8 <= ks; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        h = mix(h ^ w);
    }
    if (i < ks) {
        uint64_t w = 0;
        memcpy(&w, k + i, ks - i);
        h = mix(h ^ w);
    }
    return h;
}

static int all_zero(const char *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Open addressing, linear probing; a slot holds (32-bit tag << 32) | (want index + 1),
 * so most probes never touch the keys.  Both passes are software-pipelined: the slot
 * of element i + 2*D is prefetched, the slot of i + D is probed and the key and value
 * it names prefetched, element i is decided.  (The tables are far larger than the
 * caches: without this, every element costs several dependent memory misses.) */
#define PF_D 8
#define PF_R 32 /* ring size, >= 2 * PF_D + 1, power of two */

static inline uint64_t probe_tag(const uint64_t *slots, uint64_t mask, uint64_t h)
{
    uint64_t s = h & mask;
    uint32_t tag = (uint32_t)(h >> 32);
    for (;;) {
        uint64_t e = slots[s];
        if (!e || (uint32_t)(e >> 32) == tag)
            return s;
        s = (s + 1) & mask;
    }
}

/* full lookup from slot s (tag matches or empty): the want index + 1, or 0 */
static inline uint32_t lookup_from(const uint64_t *slots, uint64_t mask, uint64_t s,
                                   uint64_t h, const char *k, const char *want_keys,
                                   uint32_t ks)
{
    uint32_t tag = (uint32_t)(h >> 32);
    for (;;) {
        uint64_t e = slots[s];
        if (!e)
            return 0;
        if ((uint32_t)(e >> 32) == tag) {
            uint32_t j = (uint32_t)e;
            if (memcmp(want_keys + (size_t)(j - 1) * ks, k, ks) == 0)
                return j;
        }
        s = (s + 1) & mask;
    }
}

struct bpfm_sync_index {
    uint64_t *slots;
    uint64_t mask;
    uint8_t *state;
    const char *want_keys;
    uint32_t n_want, ks;
};

void *bpfm_sync_index_build(const char *want_keys, uint32_t n_want, uint32_t key_size)
{
    const uint32_t ks = key_size;
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n_want)
        cap <<= 1;
    uint64_t mask = cap - 1;
    struct bpfm_sync_index *ix = calloc(1, sizeof(*ix));
    uint64_t *slots = calloc(cap, sizeof(uint64_t));
    /* per wanted entry: 0 = new, 1 = changed, 2 = same, 3 = superseded by a later dup */
    uint8_t *state = calloc(n_want ? n_want : 1, 1);
    if (!ix || !slots || !state) {
        free(ix);
        free(slots);
        free(state);
        return NULL;
    }
    ix->slots = slots;
    ix->mask = mask;
    ix->state = state;
    ix->want_keys = want_keys;
    ix->n_want = n_want;
    ix->ks = ks;
    uint64_t hr[PF_R];
    for (uint32_t i = 0; i < n_want + PF_D; i++) {
        if (i < n_want) {
            uint64_t h = hash_key(want_keys + (size_t)i * ks, ks);
            hr[i % PF_R] = h;
            __builtin_prefetch(&slots[h & mask], 1);
        }
        if (i < PF_D)
            continue;
        uint32_t x = i - PF_D;
        uint64_t h = hr[x % PF_R];
        const char *k = want_keys + (size_t)x * ks;
        uint64_t s = h & mask;
        uint32_t tag = (uint32_t)(h >> 32);
        for (;;) {
            uint64_t e = slots[s];
            if (!e) {
                slots[s] = ((uint64_t)tag << 32) | (x + 1);
                break;
            }
            uint32_t j = (uint32_t)e;
            if ((uint32_t)(e >> 32) == tag && memcmp(want_keys + (size_t)(j - 1) * ks, k, ks) == 0) {
                state[j - 1] = 3; /* the later one wins */
                slots[s] = ((uint64_t)tag << 32) | (x + 1);
                break;
            }
            s = (s + 1) & mask;
        }
    }
    return ix;
}

void bpfm_sync_index_free(void *index)
{
    struct bpfm_sync_index *ix = index;
    if (!ix)
        return;
    free(ix->slots);
    free(ix->state);
    free(ix);
}

int bpfm_sync_plan_probe(void *index, const char *cur_keys, const char *cur_vals,
                         uint32_t n_cur, const char *want_vals, uint32_t value_size,
                         int zero_is_absent, uint32_t *upd_idx, uint8_t *upd_added,
                         uint32_t *n_upd, uint32_t *del_idx, uint32_t *n_del, uint32_t *n_same)
{
    struct bpfm_sync_index *ix = index;
    const uint32_t ks = ix->ks, vs = value_size, n_want = ix->n_want;
    const char *want_keys = ix->want_keys;
    uint64_t *slots = ix->slots;
    uint64_t mask = ix->mask;
    uint8_t *state = ix->state;
    uint64_t hr[PF_R];
    /* probe with the current entries */
    uint64_t sr[PF_R];
    uint32_t nd = 0, same = 0;
    for (uint64_t i = 0; i < (uint64_t)n_cur + 2 * PF_D; i++) {
        if (i < n_cur) {
            uint64_t h = hash_key(cur_keys + (size_t)i * ks, ks);
            hr[i % PF_R] = h;
            __builtin_prefetch(&slots[h & mask], 0);
        }
        if (i >= PF_D && i - PF_D < n_cur) {
            uint64_t y = i - PF_D;
            uint64_t s = probe_tag(slots, mask, hr[y % PF_R]);
            sr[y % PF_R] = s;
            uint64_t e = slots[s];
            if (e) {
                uint32_t j = (uint32_t)e - 1;
                __builtin_prefetch(want_keys + (size_t)j * ks, 0);
                __builtin_prefetch(want_vals + (size_t)j * vs, 0);
            }
        }
        if (i < 2 * PF_D)
            continue;
        uint64_t c = i - 2 * PF_D;
        const char *k = cur_keys + (size_t)c * ks;
        const char *v = cur_vals + (size_t)c * vs;
        uint32_t found = lookup_from(slots, mask, sr[c % PF_R], hr[c % PF_R], k, want_keys, ks);
        if (found) {
            uint32_t w = found - 1;
            if (memcmp(want_vals + (size_t)w * vs, v, vs) == 0) {
                state[w] = 2;
                same++;
            } else {
                state[w] = 1;
            }
        } else if (!(zero_is_absent && all_zero(v, vs))) {
            del_idx[nd++] = (uint32_t)c;
        }
    }
    uint32_t nu = 0;
    for (uint32_t i = 0; i < n_want; i++) {
        if (state[i] < 2) {
            upd_idx[nu] = i;
            upd_added[nu] = state[i] == 0;
            nu++;
        }
    }
    *n_upd = nu;
    *n_del = nd;
    *n_same = same;
    return 0;
}

void bpfm_gather(const char *src, uint32_t size, const uint32_t *idx, uint32_t n, char *dst)
{
    for (uint32_t i = 0; i < n; i++)
        memcpy(dst + (size_t)i * size, src + (size_t)idx[i] * size, size);
}

int bpfm_sync_plan(const char *cur_keys, const char *cur_vals, uint32_t n_cur,
                   const char *want_keys, const char *want_vals, uint32_t n_want,
                   uint32_t key_size, uint32_t value_size, int zero_is_absent,
                   uint32_t *upd_idx, uint8_t *upd_added, uint32_t *n_upd, uint32_t *del_idx,
                   uint32_t *n_del, uint32_t *n_same)
{
    void *ix = bpfm_sync_index_build(want_keys, n_want, key_size);
    if (!ix)
        return -ENOMEM;
    int r = bpfm_sync_plan_probe(ix, cur_keys, cur_vals, n_cur, want_vals, value_size,
                                 zero_is_absent, upd_idx, upd_added, n_upd, del_idx, n_del,
                                 n_same);
    bpfm_sync_index_free(ix);
    return r;
}
