/* In-kernel exec of a segment of update/delete/lookup ops; see _pexec.h for the contract.
 *
 * The program, with r6..r9 callee-saved (S maps, S <= 4):
 *
 *   main(ctx):  n = ctx->n; state = {done 0, err 0} on the stack;
 *               bpf_loop(n, step, &state, 0); ctx->done = state.done;
 *               ctx->err = state.err; return 0
 *   step(i, state):  c = ops[i].code; k = &keys[i]; v = &values[i]
 *               (lookups in the staging arrays; a miss: state.err = 1, stop);
 *               for s in 0..S-1:  (map_s a constant at each call site)
 *                   if c == 8s + 4 (map s looked up):
 *                       p = bpf_map_lookup_elem(map_s, k); if (!p) { e = -ENOENT; goto out }
 *                       copy value_size[s] bytes from p to v (unrolled); e = 0; goto out
 *                   if c == 8s + 3:        e = bpf_map_delete_elem(map_s, k); goto out
 *                   if c - 8s <= 2:        e = bpf_map_update_elem(map_s, k, v, c - 8s); goto out
 *               state.err = 1; return 1     (no such code: not an op's error)
 *        out:   if (e) { state.err = e; return 1 }   (stop at the first failure)
 *               state.done++; return 0
 *
 * An op's code is 8 * (its map's slot) + (its flags 0..2 for an update, 3 for a delete,
 * 4 for a lookup).  A lookup reads the element as BPF_MAP_LOOKUP_ELEM does for these
 * maps (map->ops->map_lookup_elem, then a copy of value_size bytes: HASH and ARRAY
 * values without special fields that copy_map_value would skip: maps without BTF, or
 * whose BTF value type has none, bpfmaps/bpftool/execute.py _copied_whole).
 * The BTF bpf_loop needs and the ctx are as in _papply.c (written again here: that
 * file is another owner's and builds one map's program). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "_bpfprog.h"
#include "_native/ops.h"
#include "_native/scan.h" /* struct bpfm_print_map (and btffmt.h's program) */
#include "_pexec.h"

#define PEXEC_MAPS 4
#define OP_STRIDE 8 /* the ops array's element: a u32 code, padded */
#define PEXEC_SEG_MIN 2 /* shorter segments keep the syscall */
#define CODE_DELETE 3
#define CODE_LOOKUP 4


/* returns the instruction index of the callback */
static int build(struct prog *p, const struct bpfm_pexec *x)
{
    int ld_cb, cb, miss[3], out[4 * PEXEC_MAPS], nout = 0, none, j_e, i;
    uint32_t s;

    ld_cb = emit_main(p);
    cb = land_step(p, ld_cb);
    emit(p, MOV_X(6, 2));                                 /* r6 = state */
    emit(p, STX_W(10, 1, -4));                            /* u32 index on the stack */
    miss[0] = emit_lookup(p, x->ops_fd);
    emit(p, LDX_W(8, 0, 0));                              /* r8 = code */
    miss[1] = emit_lookup(p, x->keys_fd);
    emit(p, MOV_X(7, 0));                                 /* r7 = key */
    miss[2] = emit_lookup(p, x->values_fd);
    emit(p, MOV_X(9, 0));                                 /* r9 = value */
    for (s = 0; s < x->nmaps; s++) {
        int j_del, j_next, j_look = -1;

        if (x->look[s])
            j_look = emit(p, JEQ_K(8, (int32_t)(8 * s + CODE_LOOKUP)));
        j_del = emit(p, JEQ_K(8, (int32_t)(8 * s + CODE_DELETE)));
        emit(p, MOV_X(4, 8));
        emit(p, ADD_K(4, -(int32_t)(8 * s)));             /* r4 = c - 8s (flags) */
        j_next = emit(p, JGT_K(4, 2));                    /* unsigned: c < 8s too */
        emit_ld_map(p, 1, x->fds[s]);
        emit(p, MOV_X(2, 7));
        emit(p, MOV_X(3, 9));
        emit(p, CALL(BPF_FUNC_map_update_elem));
        out[nout++] = emit(p, JA());
        land(p, j_del);
        emit_ld_map(p, 1, x->fds[s]);
        emit(p, MOV_X(2, 7));
        emit(p, CALL(BPF_FUNC_map_delete_elem));
        out[nout++] = emit(p, JA());
        if (j_look >= 0) {
            int j_hit;

            land(p, j_look);
            emit_ld_map(p, 1, x->fds[s]);
            emit(p, MOV_X(2, 7));
            emit(p, CALL(BPF_FUNC_map_lookup_elem));
            j_hit = emit(p, JNE_K(0, 0));
            emit(p, MOV_K(0, -ENOENT));                   /* nothing found */
            out[nout++] = emit(p, JA());
            land(p, j_hit);
            emit_copy_regs(p, x->value_size[s], 9, 0, 0); /* the value: r0 -> v (r9) */
            emit(p, MOV_K(0, 0));
            out[nout++] = emit(p, JA());
        }
        land(p, j_next);
    }
    none = emit(p, JA());                                 /* no such code */
    for (i = 0; i < nout; i++)
        land(p, out[i]);
    j_e = emit(p, JNE_K(0, 0));
    emit(p, LDX_W(1, 6, 0));
    emit(p, ADD_K(1, 1));
    emit(p, STX_W(6, 1, 0));                              /* state.done++ */
    emit(p, MOV_K(0, 0));
    emit(p, EXIT());
    for (i = 0; i < 3; i++)
        land(p, miss[i]);
    land(p, none);
    emit(p, MOV_K(0, 1));                                 /* not an op's error */
    land(p, j_e);
    emit(p, STX_W(6, 0, 4));                              /* state.err = r0 */
    emit(p, MOV_K(0, 1));
    emit(p, EXIT());
    return cb;
}

static __thread struct bpfm_pexec *attached;

struct bpfm_pexec *bpfm_pexec_use(struct bpfm_pexec *p)
{
    struct bpfm_pexec *old = attached;

    attached = p;
    return old;
}

struct bpfm_pexec *bpfm_pexec_current(void)
{
    return attached;
}

void bpfm_pexec_close(struct bpfm_pexec *p)
{
    if (attached == p)
        attached = NULL;
    if (p->ops)
        munmap(p->ops, p->ops_len);
    if (p->keys)
        munmap(p->keys, p->keys_len);
    if (p->values)
        munmap(p->values, p->values_len);
    p->ops = p->keys = p->values = NULL;
    if (p->prog_fd >= 0)
        close(p->prog_fd);
    if (p->ops_fd >= 0)
        close(p->ops_fd);
    if (p->keys_fd >= 0)
        close(p->keys_fd);
    if (p->values_fd >= 0)
        close(p->values_fd);
    p->prog_fd = p->ops_fd = p->keys_fd = p->values_fd = -1;
    p->nmaps = 0;
}

int bpfm_pexec_open(struct bpfm_pexec *p, uint32_t nmaps, const uint32_t *table,
                    const int *fds, const uint32_t *key_size, const uint32_t *value_size,
                    const uint32_t *look, uint32_t cap)
{
    struct prog prog;
    uint32_t i, big = 0;
    int cb, rc;

    memset(p, 0, sizeof(*p));
    p->prog_fd = p->ops_fd = p->keys_fd = p->values_fd = -1;
    if (!nmaps || nmaps > PEXEC_MAPS || !cap || cap > (1u << 20))
        return -EINVAL;
    for (i = 0; i < nmaps; i++) {
        if (!key_size[i] || !value_size[i] || key_size[i] > 4096 || value_size[i] > 65536 ||
            fds[i] < 0)
            return -EINVAL;
        p->table[i] = table[i];
        p->fds[i] = fds[i];
        p->key_size[i] = key_size[i];
        p->value_size[i] = value_size[i];
        p->look[i] = look && look[i] && value_size[i] <= BPFM_PEXEC_LOOKUP_MAX;
        if (key_size[i] > big)
            big = key_size[i];
        if (value_size[i] > big)
            big = value_size[i];
    }
    p->nmaps = nmaps;
    p->cap = cap;
    p->esize = (big + 7) & ~7u;
    p->ops_len = page_round((size_t)OP_STRIDE * cap);
    p->keys_len = p->values_len = page_round((size_t)p->esize * cap);
    rc = p->ops_fd = array_new(OP_STRIDE, cap, "bpfm_exec_o");
    if (rc < 0)
        goto fail;
    rc = p->keys_fd = array_new(p->esize, cap, "bpfm_exec_k");
    if (rc < 0)
        goto fail;
    rc = p->values_fd = array_new(p->esize, cap, "bpfm_exec_v");
    if (rc < 0)
        goto fail;
    if ((rc = map_array(p->ops_fd, p->ops_len, &p->ops)) < 0 ||
        (rc = map_array(p->keys_fd, p->keys_len, &p->keys)) < 0 ||
        (rc = map_array(p->values_fd, p->values_len, &p->values)) < 0)
        goto fail;
    cb = build(&prog, p);
    rc = p->prog_fd = load_prog(&prog, cb, "bpfm_exec");
    if (rc < 0)
        goto fail;
    return 0;
fail:
    bpfm_pexec_close(p);
    return rc;
}

static inline int slot_of(const struct bpfm_pexec *p, const struct bpfm_op *o, const int *fds)
{
    uint32_t s;

    for (s = 0; s < p->nmaps; s++)
        if (p->table[s] == o->map)
            return fds[o->map] == p->fds[s] ? (int)s : -1;
    return -1;
}

uint32_t bpfm_pexec_segment(const struct bpfm_pexec *p, const struct bpfm_op *ops,
                            uint32_t left, const int *fds, const struct bpfm_print_map *maps,
                            uint64_t out_left)
{
    uint32_t n = 0;
    int s;

    if (p->broken || p->prog_fd < 0)
        return 0;
    if (left > p->cap)
        left = p->cap;
    while (n < left) {
        const struct bpfm_op *o = ops + n;

        if (o->key_off == BPFM_NO_KEY || (s = slot_of(p, o, fds)) < 0)
            break;
        if (o->kind == BPFM_OP_LOOKUP && o->flags == 0 && p->look[s]) {
            /* its entry is printed after the run: it must fit with the ones before */
            const struct bpfm_print_map *m = maps ? &maps[o->map] : NULL;
            uint64_t need = 4 * ((uint64_t)p->key_size[s] + p->value_size[s]) + 64;

            if (!m || !m->plain) /* not printed here (a BTF program not made yet) */
                break;
            if (m->fmt)
                need += m->fmt->need + 1;

            if (need > out_left)
                break;
            out_left -= need;
        } else if (!((o->kind == BPFM_OP_UPDATE && o->flags <= BPF_EXIST) ||
                     (o->kind == BPFM_OP_DELETE && o->flags == 0))) {
            break;
        }
        n++;
    }
    /* one op alone costs a program run about what its syscall costs (the lookup shape
     * of bench_batch_file.py, an update between lookups, was 4% slower through it) */
    return n < PEXEC_SEG_MIN ? 0 : n;
}

int bpfm_pexec_run(struct bpfm_pexec *p, const struct bpfm_op *ops, uint32_t n,
                   const char *keys, const char *values, uint32_t *applied)
{
    struct run_ctx ctx = {n, 0, 0, 0};
    union bpf_attr attr;
    uint32_t j, s, looks = 0;
    int rc;

    *applied = 0;
    if (n > p->cap)
        return -EINVAL;
    for (j = 0; j < n; j++) {
        const struct bpfm_op *o = ops + j;
        char *kd = p->keys + (size_t)j * p->esize;

        for (s = 0; p->table[s] != o->map; s++)
            ;
        memcpy(kd, keys + o->key_off, p->key_size[s]);
        if (o->kind == BPFM_OP_DELETE) {
            *(uint32_t *)(p->ops + (size_t)j * OP_STRIDE) = 8 * s + CODE_DELETE;
        } else if (o->kind == BPFM_OP_LOOKUP) { /* (segment: a map with look) */
            *(uint32_t *)(p->ops + (size_t)j * OP_STRIDE) = 8 * s + CODE_LOOKUP;
            looks++;
        } else {
            *(uint32_t *)(p->ops + (size_t)j * OP_STRIDE) = 8 * s + o->flags;
            memcpy(p->values + (size_t)j * p->esize, values + o->value_off, p->value_size[s]);
        }
    }
    memset(&attr, 0, sizeof(attr));
    attr.test.prog_fd = (uint32_t)p->prog_fd;
    attr.test.ctx_in = PTR(&ctx);
    attr.test.ctx_size_in = sizeof(ctx);
    rc = sys_bpf(BPF_PROG_TEST_RUN, &attr);
    if (rc < 0) { /* the run itself failed: nothing was applied */
        p->broken = 1;
        return -EPROTO;
    }
    p->runs++;
    *applied = ctx.done > n ? n : ctx.done;
    p->applied += *applied;
    if (looks)
        for (j = 0; j < *applied; j++)
            p->looked += ops[j].kind == BPFM_OP_LOOKUP;
    if (ctx.err < 0)
        return ctx.err;
    if (ctx.err > 0 || *applied != n) { /* not an op's error, or bpf_loop refused n */
        p->broken = 1;
        return -EPROTO;
    }
    return 0;
}

const char *bpfm_pexec_value(const struct bpfm_pexec *p, uint32_t j)
{
    return p->values + (size_t)j * p->esize;
}

static inline int takes(const struct bpfm_op *o, const unsigned char *look, uint32_t nlook)
{
    if (o->key_off == BPFM_NO_KEY)
        return 0;
    if (o->kind == BPFM_OP_LOOKUP)
        return o->flags == 0 && look && o->map < nlook && look[o->map];
    return o->kind == BPFM_OP_UPDATE || o->kind == BPFM_OP_DELETE;
}

uint32_t bpfm_pexec_count(const struct bpfm_op *ops, uint32_t n, const unsigned char *look,
                          uint32_t nlook)
{
    uint32_t i, c = 0;

    for (i = 0; i < n; i++)
        c += takes(ops + i, look, nlook) && ((i && takes(ops + i - 1, look, nlook)) ||
                                             (i + 1 < n && takes(ops + i + 1, look, nlook)));
    return c;
}
