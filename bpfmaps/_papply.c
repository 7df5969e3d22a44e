/* In-kernel apply of a run of updates; see _papply.h for the contract.
 *
 * The program (52 instructions without the options below), with r6..r9 callee-saved:
 *
 *   main(ctx):  n = ctx->n; state = {done 0, err 0, base ctx->base, n} on the stack;
 *               bpf_loop(n, step, &state, 0); ctx->done = state.done;
 *               ctx->err = state.err; return 0
 *   step(i, state):  j = state.base + i;
 *               k = lookup(keys_array, &j); v = lookup(values_array, &j);
 *               if (!k || !v) { state.err = -EFAULT; return 1 }
 *               e = bpf_map_update_elem(map, k, v, FLAGS);
 *               if (e) { state.err = e; return 1 }   (stop at the first failure)
 *               state.done++; return 0
 *
 * Options (bpfm_papply_open's mode): PREFETCH adds, at the head of step, every 8th
 * element: "look up keys j .. j+7 (while below n), results unused"; SPEC adds, before
 * the update: "p = lookup(map, k); present[j] = p != 0; if (p) undo[j] = *p" (the copy
 * through bpf_map_update_elem on the undo array).  STORE (plain arrays, BPF_ANY or
 * BPF_EXIST) replaces the update call by what array_map_update_elem does there:
 * "p = lookup(map, k) (inlined by the verifier); if (!p) { state.err = -E2BIG;
 * return 1 }; copy value_size bytes from v to p".
 *
 * bpf_loop's callback must be a static function with BTF func_info, so a minimal
 * BTF (int, int(void), two FUNCs) is loaded with it.  The ctx of a syscall program
 * is copied in from and back to user memory by BPF_PROG_TEST_RUN. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "_bpfprog.h"
#include "_papply.h"

extern volatile sig_atomic_t bpfm_stop_sig;

/* returns the instruction index of the callback */
/* keys looked up ahead of their updates (BPFM_PAPPLY_PREFETCH): measured 4 and 8 alike
 * (200k replacements into a populated hash map: about 0.75x the time without) */
#define PREFETCH 8

/* the value copy of BPFM_PAPPLY_STORE: value_size bytes from r8 + src_off to r0 */
static void emit_copy_at(struct prog *p, uint32_t size, uint32_t src_off)
{
    emit_copy_regs(p, size, 0, 8, src_off);
}

static void emit_copy(struct prog *p, uint32_t size)
{
    emit_copy_at(p, size, 0);
}

/* STORE for a plain array, 2^shift elements a step (BPFM_STORE_GROUP): the staging
 * arrays hold groups of 2^shift elements per array element (the same bytes: element
 * e at e * stride), so a step looks each group up once instead of its elements one by
 * one and bpf_loop calls it once per group:
 *
 *   step(i, state):  g = state.base / G + i; k = lookup(keys, &g); v = lookup(values, &g)
 *                    (if !k || !v: state.err = -EFAULT; return 1)
 *                    for t < G:  if (i * G + t >= state.n) return 0   (t > 0: the tail)
 *                                p = lookup(map, k + t * kstride)  (inlined)
 *                                if (!p) { state.err = -E2BIG; return 1 }
 *                                copy value_size bytes from v + t * vstride to p;
 *                                state.done++
 *                    return 0
 *
 * state.base (slot * cap) is a multiple of G: the caller takes this only when cap is. */
static int build_store_groups(struct prog *p, int map_fd, int keys_fd, int values_fd,
                              uint32_t value_size, uint32_t kstride, uint32_t vstride, int shift)
{
    int ends[BPFM_STORE_GROUP], big[BPFM_STORE_GROUP], ne = 0, nb = 0, t, ld_cb, cb, j_k, j_v,
        j_e;
    int g = 1 << shift;

    ld_cb = emit_main_groups(p, shift);
    cb = land_step(p, ld_cb);
    emit(p, MOV_X(6, 2));                                 /* r6 = state */
    emit(p, MOV_X(9, 1));                                 /* r9 = i */
    emit(p, LDX_W(2, 6, 8));                              /* w2 = state.base */
    emit(p, INSN(BPF_ALU | BPF_RSH | BPF_K, 2, 0, 0, shift));
    emit(p, INSN(BPF_ALU | BPF_ADD | BPF_X, 1, 2, 0, 0)); /* w1 = base / G + i */
    emit(p, STX_W(10, 1, -4));                            /* the group's index */
    j_k = emit_lookup(p, keys_fd);
    emit(p, MOV_X(7, 0));                                 /* r7 = the group's keys */
    j_v = emit_lookup(p, values_fd);
    emit(p, MOV_X(8, 0));                                 /* r8 = its values */
    emit(p, INSN(BPF_ALU64 | BPF_LSH | BPF_K, 9, 0, 0, shift)); /* r9 = i * G */
    for (t = 0; t < g; t++) {
        if (t) {
            emit(p, MOV_X(1, 9));
            emit(p, ADD_K(1, t));
            emit(p, LDX_W(2, 6, 12));                     /* state.n */
            ends[ne++] = emit(p, INSN(BPF_JMP | BPF_JGE | BPF_X, 1, 2, 0, 0));
        }
        emit(p, MOV_X(2, 7));
        if (t)
            emit(p, ADD_K(2, (int32_t)(t * kstride)));    /* r2 = element t's key */
        emit_ld_map(p, 1, map_fd);
        emit(p, CALL(BPF_FUNC_map_lookup_elem));          /* inlined for arrays */
        big[nb++] = emit(p, JEQ_K(0, 0));
        emit_copy_at(p, value_size, t * vstride);
        emit(p, LDX_W(1, 6, 0));
        emit(p, ADD_K(1, 1));
        emit(p, STX_W(6, 1, 0));                          /* state.done++ */
    }
    for (t = 0; t < ne; t++)
        land(p, ends[t]);
    emit(p, MOV_K(0, 0));
    emit(p, EXIT());
    land(p, j_k);
    land(p, j_v);
    emit(p, MOV_K(0, -EFAULT));
    j_e = emit(p, JA());
    for (t = 0; t < nb; t++)
        land(p, big[t]);
    emit(p, MOV_K(0, -E2BIG));
    land(p, j_e);
    emit(p, STX_W(6, 0, 4));                              /* state.err = r0 */
    emit(p, MOV_K(0, 1));
    emit(p, EXIT());
    return cb;
}

static int build(struct prog *p, int map_fd, int keys_fd, int values_fd, int32_t flags,
                 int undo_fd, int present_fd, int prefetch, uint32_t store)
{
    int ld_cb, cb, j_k, j_v, j_p = -1, j_u = -1, j_abs, j_upd, j_e, fail, err;

    ld_cb = emit_main(p);
    cb = land_step(p, ld_cb);
    emit(p, MOV_X(6, 2));
    if (prefetch > 1) {
        /* every `prefetch` elements: look up the next `prefetch` keys first, with no
         * lock in between, so that their cache misses overlap; the updates that
         * follow find bucket and element in the cache */
        int skips[2 * PREFETCH + 1], ns = 0, t;

        emit(p, MOV_X(7, 1));                             /* r7 = i */
        emit(p, MOV_X(2, 1));
        emit(p, INSN(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, prefetch - 1));
        skips[ns++] = emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0, 0));
        for (t = 0; t < prefetch; t++) {
            emit(p, MOV_X(2, 7));
            emit(p, ADD_K(2, t));
            emit(p, LDX_W(3, 6, 12));                     /* state.n */
            skips[ns++] = emit(p, INSN(BPF_JMP | BPF_JGE | BPF_X, 2, 3, 0, 0));
            emit(p, LDX_W(3, 6, 8));
            emit(p, INSN(BPF_ALU | BPF_ADD | BPF_X, 2, 3, 0, 0));
            emit(p, STX_W(10, 2, -8));
            emit(p, MOV_X(2, 10));
            emit(p, ADD_K(2, -8));
            emit_ld_map(p, 1, keys_fd);
            emit(p, CALL(BPF_FUNC_map_lookup_elem));
            skips[ns++] = emit(p, INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0));
            emit(p, MOV_X(2, 0));
            emit_ld_map(p, 1, map_fd);
            emit(p, CALL(BPF_FUNC_map_lookup_elem));
        }
        for (t = 0; t < ns; t++)
            p->insn[skips[t]].off = p->n - skips[t] - 1;
        emit(p, MOV_X(1, 7));                             /* r1 = i again */
    }
    emit(p, LDX_W(2, 6, 8));
    emit(p, INSN(BPF_ALU | BPF_ADD | BPF_X, 1, 2, 0, 0));  /* w1 = base + i */
    emit(p, STX_W(10, 1, -4));                            /* u32 index on the stack */
    j_k = emit_lookup(p, keys_fd);
    emit(p, MOV_X(7, 0));                                 /* r7 = key */
    j_v = emit_lookup(p, values_fd);
    emit(p, MOV_X(8, 0));                                 /* r8 = value */
    if (undo_fd >= 0) {
        /* speculative: record whether the key is present, and its old value */
        j_p = emit_lookup(p, present_fd);
        emit(p, MOV_X(9, 0));                             /* r9 = &present[j] */
        emit(p, MOV_X(2, 7));
        emit_ld_map(p, 1, map_fd);
        emit(p, CALL(BPF_FUNC_map_lookup_elem));          /* r0 = old value or NULL */
        j_abs = emit(p, INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0));
        emit(p, ST_W(9, 0, 1));                           /* present[j] = 1 */
        emit(p, MOV_X(3, 0));                             /* undo[j] = *old */
        emit(p, MOV_X(2, 10));
        emit(p, ADD_K(2, -4));
        emit_ld_map(p, 1, undo_fd);
        emit(p, MOV_K(4, 0));
        emit(p, CALL(BPF_FUNC_map_update_elem));
        j_u = emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, 0));
        j_upd = emit(p, JA());
        p->insn[j_abs].off = p->n - j_abs - 1;
        emit(p, ST_W(9, 0, 0));                           /* present[j] = 0 */
        p->insn[j_upd].off = p->n - j_upd - 1;
    }
    if (store) {
        /* a plain array (the caller's check): what array_map_update_elem does for
         * BPF_ANY / BPF_EXIST, an index past the end -E2BIG, else copy_map_value
         * (value_size bytes; no special fields) */
        int j_in;

        emit(p, MOV_X(2, 7));                             /* r2 = key */
        emit_ld_map(p, 1, map_fd);
        emit(p, CALL(BPF_FUNC_map_lookup_elem));          /* inlined for arrays */
        j_in = emit(p, JNE_K(0, 0));
        emit(p, MOV_K(0, -E2BIG));
        j_e = emit(p, JA());
        land(p, j_in);
        emit_copy(p, store);
    } else {
        emit(p, MOV_X(3, 8));                             /* r3 = value */
        emit(p, MOV_X(2, 7));                             /* r2 = key */
        emit_ld_map(p, 1, map_fd);
        emit(p, MOV_K(4, flags));
        emit(p, CALL(BPF_FUNC_map_update_elem));
        j_e = emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, 0));
    }
    emit(p, LDX_W(1, 6, 0));
    emit(p, ADD_K(1, 1));
    emit(p, STX_W(6, 1, 0));                              /* state.done++ */
    emit(p, MOV_K(0, 0));
    emit(p, EXIT());
    fail = p->n;
    p->insn[j_k].off = fail - j_k - 1;
    p->insn[j_v].off = fail - j_v - 1;
    if (j_p >= 0)
        p->insn[j_p].off = fail - j_p - 1;
    if (j_u >= 0)
        p->insn[j_u].off = fail - j_u - 1;
    emit(p, MOV_K(0, -EFAULT));
    err = p->n;
    p->insn[j_e].off = err - j_e - 1;
    emit(p, STX_W(6, 0, 4));                              /* state.err = r0 */
    emit(p, MOV_K(0, 1));
    emit(p, EXIT());
    return cb;
}

void bpfm_papply_close(struct bpfm_papply *p)
{
    if (p->keys)
        munmap(p->keys, p->keys_len);
    if (p->values)
        munmap(p->values, p->values_len);
    if (p->undo)
        munmap(p->undo, p->undo_len);
    if (p->present)
        munmap(p->present, p->present_len);
    p->keys = p->values = p->undo = p->present = NULL;
    if (p->prog_fd >= 0)
        close(p->prog_fd);
    if (p->keys_fd >= 0)
        close(p->keys_fd);
    if (p->values_fd >= 0)
        close(p->values_fd);
    if (p->undo_fd >= 0)
        close(p->undo_fd);
    if (p->present_fd >= 0)
        close(p->present_fd);
    p->prog_fd = p->keys_fd = p->values_fd = p->undo_fd = p->present_fd = -1;
}

int bpfm_papply_open(struct bpfm_papply *p, int map_fd, uint32_t key_size,
                     uint32_t value_size, uint32_t cap, uint32_t slots, uint64_t elem_flags,
                     uint32_t mode)
{
    struct prog prog;
    int cb, rc, shift = 0;

    memset(p, 0, sizeof(*p));
    p->prog_fd = p->keys_fd = p->values_fd = p->undo_fd = p->present_fd = -1;
    p->map_fd = map_fd;
    if (!key_size || !value_size || !cap || !slots || elem_flags > BPF_EXIST ||
        (mode & ~(uint32_t)(BPFM_PAPPLY_SPEC | BPFM_PAPPLY_PREFETCH | BPFM_PAPPLY_STORE)) ||
        ((mode & BPFM_PAPPLY_STORE) &&
         ((mode & BPFM_PAPPLY_SPEC) || elem_flags == BPF_NOEXIST || key_size != 4 ||
          value_size > BPFM_STORE_MAX)) ||
        (uint64_t)cap * slots > UINT32_MAX / 2)
        return -EINVAL;
    p->cap = cap;
    p->slots = slots;
    p->key_size = key_size;
    p->value_size = value_size;
    p->kstride = (key_size + 7) & ~7u;
    p->vstride = (value_size + 7) & ~7u;
    p->keys_len = page_round((size_t)p->kstride * cap * slots);
    p->values_len = page_round((size_t)p->vstride * cap * slots);
    /* STORE: groups of BPFM_STORE_GROUP elements a step where the unrolled copies fit */
    if ((mode & BPFM_PAPPLY_STORE) && value_size <= BPFM_STORE_GROUP_MAX &&
        cap % BPFM_STORE_GROUP == 0)
        shift = BPFM_STORE_GROUP_SHIFT;
    rc = p->keys_fd = array_new(shift ? p->kstride << shift : key_size, (cap * slots) >> shift,
                                "bpfm_apply_k");
    if (rc < 0)
        goto fail;
    rc = p->values_fd = array_new(shift ? p->vstride << shift : value_size,
                                  (cap * slots) >> shift, "bpfm_apply_v");
    if (rc < 0)
        goto fail;
    if ((rc = map_array(p->keys_fd, p->keys_len, &p->keys)) < 0 ||
        (rc = map_array(p->values_fd, p->values_len, &p->values)) < 0)
        goto fail;
    if (mode & BPFM_PAPPLY_SPEC) {
        p->undo_len = p->values_len;
        p->present_len = page_round((size_t)8 * cap * slots);
        rc = p->undo_fd = array_new(value_size, cap * slots, "bpfm_apply_u");
        if (rc < 0)
            goto fail;
        rc = p->present_fd = array_new(4, cap * slots, "bpfm_apply_p");
        if (rc < 0)
            goto fail;
        if ((rc = map_array(p->undo_fd, p->undo_len, &p->undo)) < 0 ||
            (rc = map_array(p->present_fd, p->present_len, &p->present)) < 0)
            goto fail;
    }
    if (shift)
        cb = build_store_groups(&prog, map_fd, p->keys_fd, p->values_fd, value_size, p->kstride,
                                p->vstride, shift);
    else
        cb = build(&prog, map_fd, p->keys_fd, p->values_fd, (int32_t)elem_flags, p->undo_fd,
                   p->present_fd, mode & BPFM_PAPPLY_PREFETCH ? PREFETCH : 0,
                   mode & BPFM_PAPPLY_STORE ? value_size : 0);
    rc = p->prog_fd = load_prog(&prog, cb, "bpfm_apply");
    if (rc < 0)
        goto fail;
    return 0;
fail:
    bpfm_papply_close(p);
    return rc;
}

static void fill(char *dst, uint32_t dstride, const char *src, uint32_t sstride, uint32_t size,
                 uint32_t n)
{
    uint32_t i;

    if (dstride == sstride && size == sstride) {
        memcpy(dst, src, (size_t)n * size);
        return;
    }
    /* an array's u32 keys into 8-byte strides: a constant size is copied inline (a
     * memcpy call per element otherwise, ~1.5 ms of a 1M-element flush) */
    if (size == 4) {
        for (i = 0; i < n; i++)
            memcpy(dst + (size_t)i * dstride, src + (size_t)i * sstride, 4);
        return;
    }
    for (i = 0; i < n; i++)
        memcpy(dst + (size_t)i * dstride, src + (size_t)i * sstride, size);
}

int bpfm_papply_part(struct bpfm_papply *p, uint32_t slot, const char *keys,
                     const char *values, uint32_t value_stride, uint32_t start,
                     uint32_t count, int *stop, uint32_t *applied)
{
    uint32_t done = 0;
    int rc = 0;
    char *kdst, *vdst;

    if (slot >= p->slots) {
        *applied = 0;
        return -EINVAL;
    }
    kdst = p->keys + (size_t)slot * p->cap * p->kstride;
    vdst = p->values + (size_t)slot * p->cap * p->vstride;

    while (done < count) {
        uint32_t c = count - done < p->cap ? count - done : p->cap;
        uint64_t off = (uint64_t)start + done;
        struct run_ctx ctx = {c, 0, 0, slot * p->cap};
        union bpf_attr attr;

        if (__atomic_load_n(stop, __ATOMIC_RELAXED))
            break;
        if (bpfm_stop_sig) {
            rc = -EINTR; /* a stop signal: report the prefix done */
            __atomic_store_n(stop, 1, __ATOMIC_RELAXED);
            break;
        }
        fill(kdst, p->kstride, keys + off * p->key_size, p->key_size, p->key_size, c);
        fill(vdst, p->vstride, values + off * value_stride, value_stride, p->value_size, c);
        memset(&attr, 0, sizeof(attr));
        attr.test.prog_fd = (uint32_t)p->prog_fd;
        attr.test.ctx_in = PTR(&ctx);
        attr.test.ctx_size_in = sizeof(ctx);
        rc = sys_bpf(BPF_PROG_TEST_RUN, &attr);
        if (rc < 0) { /* the run itself failed: nothing of this chunk was applied */
            __atomic_store_n(stop, 1, __ATOMIC_RELAXED);
            break;
        }
        done += ctx.done > c ? c : ctx.done;
        if (!ctx.err && ctx.done != c)
            ctx.err = -EPROTO; /* the loop did not run to its end (bpf_loop refused n) */
        if (ctx.err) {
            rc = ctx.err;
            __atomic_store_n(stop, 1, __ATOMIC_RELAXED);
            break;
        }
        rc = 0;
    }
    *applied = done;
    return rc;
}

/* ------------------------------------------------------------------ speculative apply */

/* the slot of a key: a mix of its bytes, spread over `slots` (the same for every copy
 * of a key, so all of a key's updates go to one thread, in order) */
static uint32_t slot_of(const unsigned char *k, uint32_t ks, uint32_t slots)
{
    uint64_t h = 0x9E3779B97F4A7C15ull, w;
    uint32_t i = 0;

    for (; i + 8 <= ks; i += 8) {
        memcpy(&w, k + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    for (; i < ks; i++)
        h = (h ^ k[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return (uint32_t)(((h & 0xffffffffull) * slots) >> 32);
}

struct spec_run;

struct spec_slot {
    struct spec_run *run;
    uint32_t slot;
    uint32_t *idx;  /* the round's elements of this slot, by index (cap of them) */
    uint32_t n;     /* how many this round */
    uint32_t done;  /* applied of them, in order */
    int rc;         /* 0, the refused element's -errno, or the program run's */
};

struct spec_run {
    struct bpfm_papply *p;
    const char *keys, *values;
    uint32_t value_stride;
    uint32_t a, end; /* the round: elements a .. (round end) of a .. end-1 */
    uint32_t b;      /* the round's end (every slot finds the same) */
    uint32_t rcap;   /* elements a slot takes this round: doubles up to cap, so that an
                      * early refusal has little to undo */
    /* under lock: the round's number (workers wait for it to change), its slots done,
     * the end; claimed[t]: the round that slot t was last taken in (by any thread) */
    uint32_t gen, finished;
    int quit;
    uint32_t claimed[BPFM_SPEC_SLOTS];
    pthread_mutex_t lock;
    pthread_cond_t next, done;
    struct spec_slot slot[BPFM_SPEC_SLOTS];
};

/* One slot's part of the round [run->a, ...): find the round's end (the first element
 * whose slot is full), stage this slot's elements, run the program on them. */
static void spec_round(struct spec_slot *s)
{
    struct spec_run *r = s->run;
    struct bpfm_papply *p = r->p;
    uint32_t cnt[BPFM_SPEC_SLOTS] = {0};
    uint32_t i, t, n = 0, ks = p->key_size, vs = p->value_size;
    char *kdst = p->keys + (size_t)s->slot * p->cap * p->kstride;
    char *vdst = p->values + (size_t)s->slot * p->cap * p->vstride;
    struct run_ctx ctx;
    union bpf_attr attr;
    int rc;

    for (i = r->a; i < r->end; i++) {
        const char *k = r->keys + (size_t)i * ks;

        t = slot_of((const unsigned char *)k, ks, p->slots);
        if (cnt[t] == r->rcap)
            break;
        cnt[t]++;
        if (t == s->slot) {
            memcpy(kdst + (size_t)n * p->kstride, k, ks);
            memcpy(vdst + (size_t)n * p->vstride, r->values + (size_t)i * r->value_stride, vs);
            s->idx[n++] = i;
        }
    }
    if (s->slot == 0)
        r->b = i;
    s->n = n;
    s->done = 0;
    s->rc = 0;
    if (!n)
        return;
    ctx = (struct run_ctx){n, 0, 0, s->slot * p->cap};
    memset(&attr, 0, sizeof(attr));
    attr.test.prog_fd = (uint32_t)p->prog_fd;
    attr.test.ctx_in = PTR(&ctx);
    attr.test.ctx_size_in = sizeof(ctx);
    rc = sys_bpf(BPF_PROG_TEST_RUN, &attr);
    if (rc < 0) { /* the run itself failed: nothing of it was applied */
        s->rc = rc;
        return;
    }
    s->done = ctx.done > n ? n : ctx.done;
    s->rc = ctx.err ? ctx.err : (s->done != n ? -EPROTO : 0);
}

/* Take and run every slot of round `gen` that no thread has taken yet, starting at
 * slot `first`: a thread the scheduler runs late finds its slot done by another, so a
 * busy machine gets the serial speed rather than waits. */
static void spec_take(struct spec_run *r, uint32_t first, uint32_t gen)
{
    uint32_t k, t, n = r->p->slots;

    for (k = 0; k < n; k++) {
        uint32_t was = gen - 1;

        t = (first + k) % n;
        if (!__atomic_compare_exchange_n(&r->claimed[t], &was, gen, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_RELAXED))
            continue;
        spec_round(&r->slot[t]);
        pthread_mutex_lock(&r->lock);
        if (++r->finished == n)
            pthread_cond_signal(&r->done);
        pthread_mutex_unlock(&r->lock);
    }
}

static void *spec_worker(void *arg)
{
    struct spec_slot *s = arg;
    struct spec_run *r = s->run;
    uint32_t seen = 0;

    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (r->gen == seen && !r->quit)
            pthread_cond_wait(&r->next, &r->lock);
        if (r->quit)
            break;
        seen = r->gen;
        pthread_mutex_unlock(&r->lock);
        spec_take(r, s->slot, seen);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* write `old` back at `key` (BPF_ANY), or delete `key` when old is NULL */
static int elem_undo(int map_fd, const char *key, const char *old)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.map_fd = (uint32_t)map_fd;
    attr.key = PTR(key);
    if (!old)
        return sys_bpf(BPF_MAP_DELETE_ELEM, &attr);
    attr.value = PTR(old);
    attr.flags = BPF_ANY;
    return sys_bpf(BPF_MAP_UPDATE_ELEM, &attr);
}

/* Take back what the round applied after element f (newest first in each slot; the
 * slots' keys are disjoint, so their order does not matter). */
static void spec_undo(struct spec_run *r, uint32_t f, struct bpfm_spec_undo *u)
{
    struct bpfm_papply *p = r->p;
    uint32_t t, pos, at;

    for (t = 0; t < p->slots; t++) {
        struct spec_slot *s = &r->slot[t];

        for (pos = s->done; pos-- > 0 && s->idx[pos] > f;) {
            const char *k = p->keys + ((size_t)t * p->cap + pos) * p->kstride;
            int rc;

            at = t * p->cap + pos;
            rc = elem_undo(p->map_fd, k, *(const uint32_t *)(p->present + (size_t)at * 8)
                                             ? p->undo + (size_t)at * p->vstride
                                             : NULL);
            if (rc < 0) {
                if (!u->failed)
                    u->err = rc;
                if (u->idx)
                    u->idx[u->failed] = s->idx[pos];
                u->failed++;
            }
        }
    }
}

int bpfm_papply_spec(struct bpfm_papply *p, const char *keys, const char *values,
                     uint32_t value_stride, uint32_t start, uint32_t count, uint32_t *applied,
                     struct bpfm_spec_undo *undo)
{
    struct spec_run *r;
    pthread_t th[BPFM_SPEC_SLOTS];
    sigset_t all, old;
    uint32_t t, made = 0;
    int rc = 0;

    *applied = 0;
    undo->failed = 0;
    undo->err = 0;
    if (p->undo_fd < 0 || p->slots < 2 || p->slots > BPFM_SPEC_SLOTS)
        return -EINVAL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->p = p;
    r->keys = keys;
    r->values = values;
    r->value_stride = value_stride;
    r->a = start;
    r->end = start + count;
    r->rcap = p->cap < 512 ? p->cap : 512;
    for (t = 0; t < p->slots; t++) {
        r->slot[t].run = r;
        r->slot[t].slot = t;
        r->slot[t].idx = malloc((size_t)p->cap * sizeof(uint32_t));
        if (!r->slot[t].idx) {
            rc = -ENOMEM;
            goto out;
        }
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->next, NULL);
    pthread_cond_init(&r->done, NULL);
    /* signals go to the caller's thread (Python's handlers and bpfm_stop_sig) */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (t = 1; t < p->slots; t++) { /* fewer threads only cost speed: slots are taken */
        if (pthread_create(&th[made + 1], NULL, spec_worker, &r->slot[t]) != 0)
            break;
        made++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    while (r->a < r->end) {
        uint32_t f = UINT32_MAX, gen;

        if (bpfm_stop_sig) {
            rc = -EINTR; /* between rounds: the prefix before r->a is applied */
            break;
        }
        pthread_mutex_lock(&r->lock);
        r->finished = 0;
        gen = ++r->gen;
        pthread_cond_broadcast(&r->next);
        pthread_mutex_unlock(&r->lock);
        spec_take(r, 0, gen);
        pthread_mutex_lock(&r->lock);
        while (r->finished < p->slots)
            pthread_cond_wait(&r->done, &r->lock);
        pthread_mutex_unlock(&r->lock);
        for (t = 0; t < p->slots; t++) {
            struct spec_slot *s = &r->slot[t];

            if (s->rc && s->idx[s->done] < f)
                f = s->idx[s->done];
        }
        if (f != UINT32_MAX) {
            spec_undo(r, f, undo);
            r->a = f;
            rc = -EPROTO;
            break;
        }
        r->a = r->b;
        if (r->rcap < p->cap)
            r->rcap = r->rcap * 2 < p->cap ? r->rcap * 2 : p->cap;
    }
    pthread_mutex_lock(&r->lock);
    r->quit = 1;
    pthread_cond_broadcast(&r->next);
    pthread_mutex_unlock(&r->lock);
    for (t = 1; t <= made; t++)
        pthread_join(th[t], NULL);
    pthread_cond_destroy(&r->next);
    pthread_cond_destroy(&r->done);
    pthread_mutex_destroy(&r->lock);
out:
    *applied = r->a - start;
    for (t = 0; t < p->slots; t++)
        free(r->slot[t].idx);
    free(r);
    return rc;
}
