/* In-kernel exec of a segment of update/delete ops; see _pexec.h for the contract.
 *
 * The program, with r6..r9 callee-saved (S maps, S <= 4):
 *
 *   main(ctx):  n = ctx->n; state = {done 0, err 0} on the stack;
 *               bpf_loop(n, step, &state, 0); ctx->done = state.done;
 *               ctx->err = state.err; return 0
 *   step(i, state):  c = ops[i].code; k = &keys[i]; v = &values[i]
 *               (lookups in the staging arrays; a miss: state.err = 1, stop);
 *               for s in 0..S-1:  (map_s a constant at each call site)
 *                   if c == 4s + 3:        e = bpf_map_delete_elem(map_s, k); goto out
 *                   if c - 4s <= 2:        e = bpf_map_update_elem(map_s, k, v, c - 4s); goto out
 *               state.err = 1; return 1     (no such code: not an op's error)
 *        out:   if (e) { state.err = e; return 1 }   (stop at the first failure)
 *               state.done++; return 0
 *
 * An op's code is 4 * (its map's slot) + (its flags 0..2 for an update, 3 for a delete).
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

#include "_native/ops.h"
#include "_pexec.h"

#define PTR(p) ((uint64_t)(uintptr_t)(p))
#define PEXEC_MAPS 4
#define OP_STRIDE 8 /* the ops array's element: a u32 code, padded */
#define PEXEC_SEG_MIN 2 /* shorter segments keep the syscall */

static int sys_bpf(int cmd, union bpf_attr *attr)
{
    long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
    return r < 0 ? -errno : (int)r;
}

struct run_ctx {
    uint32_t n;
    int32_t err;
    uint32_t done;
    uint32_t pad;
};

#define INSN(c, d, s, o, i) ((struct bpf_insn){(c), (d), (s), (o), (i)})
#define MOV_X(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_K(d, k) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, k)
#define ADD_K(d, k) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, k)
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_W | BPF_MEM, d, s, o, 0)
#define STX_W(d, s, o) INSN(BPF_STX | BPF_W | BPF_MEM, d, s, o, 0)
#define ST_DW(d, o, k) INSN(BPF_ST | BPF_DW | BPF_MEM, d, 0, o, k)
#define JEQ_K(d, k) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, 0, k)
#define JNE_K(d, k) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, 0, k)
#define JGT_K(d, k) INSN(BPF_JMP | BPF_JGT | BPF_K, d, 0, 0, k)
#define JA() INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define MAX_INSNS 192

struct prog {
    struct bpf_insn insn[MAX_INSNS];
    int n;
};

static int emit(struct prog *p, struct bpf_insn x)
{
    p->insn[p->n] = x;
    return p->n++;
}

/* point jump `j` at the next instruction to be emitted */
static void land(struct prog *p, int j)
{
    p->insn[j].off = (int16_t)(p->n - j - 1);
}

static void emit_ld_map(struct prog *p, int reg, int fd)
{
    emit(p, INSN(BPF_LD | BPF_DW | BPF_IMM, reg, BPF_PSEUDO_MAP_FD, 0, fd));
    emit(p, INSN(0, 0, 0, 0, 0));
}

/* r0 = lookup(array fd, &index) with the u32 index at fp-4, then "if r0 == 0 goto
 * miss": returns that jump */
static int emit_lookup(struct prog *p, int fd)
{
    emit(p, MOV_X(2, 10));
    emit(p, ADD_K(2, -4));
    emit_ld_map(p, 1, fd);
    emit(p, CALL(BPF_FUNC_map_lookup_elem));
    return emit(p, JEQ_K(0, 0));
}

/* returns the instruction index of the callback */
static int build(struct prog *p, const struct bpfm_pexec *x)
{
    int ld_cb, cb, miss[3], out[2 * PEXEC_MAPS], nout = 0, none, j_e, i;
    uint32_t s;

    p->n = 0;
    /* main */
    emit(p, MOV_X(6, 1));                                 /* r6 = ctx */
    emit(p, ST_DW(10, -16, 0));                           /* state = {0, 0} */
    emit(p, LDX_W(1, 6, offsetof(struct run_ctx, n)));    /* r1 = ctx->n */
    ld_cb = emit(p, INSN(BPF_LD | BPF_DW | BPF_IMM, 2, BPF_PSEUDO_FUNC, 0, 0));
    emit(p, INSN(0, 0, 0, 0, 0));
    emit(p, MOV_X(3, 10));
    emit(p, ADD_K(3, -16));                               /* r3 = &state */
    emit(p, MOV_K(4, 0));
    emit(p, CALL(BPF_FUNC_loop));
    emit(p, LDX_W(1, 10, -16));
    emit(p, STX_W(6, 1, offsetof(struct run_ctx, done)));
    emit(p, LDX_W(1, 10, -12));
    emit(p, STX_W(6, 1, offsetof(struct run_ctx, err)));
    emit(p, MOV_K(0, 0));
    emit(p, EXIT());
    /* step(r1 = i, r2 = &state): state.done at +0, state.err at +4 */
    cb = p->n;
    p->insn[ld_cb].imm = cb - ld_cb - 1;
    emit(p, MOV_X(6, 2));                                 /* r6 = state */
    emit(p, STX_W(10, 1, -4));                            /* u32 index on the stack */
    miss[0] = emit_lookup(p, x->ops_fd);
    emit(p, LDX_W(8, 0, 0));                              /* r8 = code */
    miss[1] = emit_lookup(p, x->keys_fd);
    emit(p, MOV_X(7, 0));                                 /* r7 = key */
    miss[2] = emit_lookup(p, x->values_fd);
    emit(p, MOV_X(9, 0));                                 /* r9 = value */
    for (s = 0; s < x->nmaps; s++) {
        int j_del, j_next;

        j_del = emit(p, JEQ_K(8, (int32_t)(4 * s + 3)));
        emit(p, MOV_X(4, 8));
        emit(p, ADD_K(4, -(int32_t)(4 * s)));             /* r4 = c - 4s (flags) */
        j_next = emit(p, JGT_K(4, 2));                    /* unsigned: c < 4s too */
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

/* the BTF bpf_loop needs: [1] int, [2] int(void), [3] FUNC main, [4] FUNC step */
static int load_btf(void)
{
    static const char strs[] = "\0int\0main\0step";
    static const uint32_t types[] = {
        1, 1u << 24, 4, (1u << 24) | 32, /* INT "int", signed, 32 bits */
        0, 13u << 24, 1,                 /* FUNC_PROTO returning [1], no args */
        5, 12u << 24, 2,                 /* FUNC "main" (static) of [2] */
        10, 12u << 24, 2,                /* FUNC "step" (static) of [2] */
    };
    struct {
        uint16_t magic;
        uint8_t version, flags;
        uint32_t hdr_len, type_off, type_len, str_off, str_len;
        uint32_t types[sizeof(types) / 4];
        char strs[sizeof(strs)];
    } __attribute__((packed)) blob;
    union bpf_attr attr;

    blob.magic = 0xeB9F;
    blob.version = 1;
    blob.flags = 0;
    blob.hdr_len = 24;
    blob.type_off = 0;
    blob.type_len = sizeof(types);
    blob.str_off = sizeof(types);
    blob.str_len = sizeof(strs);
    memcpy(blob.types, types, sizeof(types));
    memcpy(blob.strs, strs, sizeof(strs));
    memset(&attr, 0, sizeof(attr));
    attr.btf = PTR(&blob);
    attr.btf_size = sizeof(blob);
    return sys_bpf(BPF_BTF_LOAD, &attr);
}

static int array_new(uint32_t value_size, uint32_t n, const char *name)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = value_size;
    attr.max_entries = n;
    attr.map_flags = BPF_F_MMAPABLE;
    strncpy(attr.map_name, name, BPF_OBJ_NAME_LEN - 1);
    return sys_bpf(BPF_MAP_CREATE, &attr);
}

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

static int map_array(int fd, size_t len, char **out)
{
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

    if (m == MAP_FAILED)
        return -errno;
    *out = m;
    return 0;
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
                    uint32_t cap)
{
    struct prog prog;
    union bpf_attr attr;
    uint32_t finfo[4], i, big = 0;
    int btf_fd, cb, rc;

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
    rc = btf_fd = load_btf();
    if (rc < 0)
        goto fail;
    cb = build(&prog, p);
    finfo[0] = 0;
    finfo[1] = 3;
    finfo[2] = (uint32_t)cb;
    finfo[3] = 4;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_SYSCALL;
    attr.prog_flags = BPF_F_SLEEPABLE;
    attr.insns = PTR(prog.insn);
    attr.insn_cnt = (uint32_t)prog.n;
    attr.license = PTR("GPL");
    attr.prog_btf_fd = (uint32_t)btf_fd;
    attr.func_info = PTR(finfo);
    attr.func_info_cnt = 2;
    attr.func_info_rec_size = 8;
    strncpy(attr.prog_name, "bpfm_exec", BPF_OBJ_NAME_LEN - 1);
    rc = p->prog_fd = sys_bpf(BPF_PROG_LOAD, &attr);
    close(btf_fd); /* the program holds its BTF */
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
                            uint32_t left, const int *fds)
{
    uint32_t n = 0;

    if (p->broken || p->prog_fd < 0)
        return 0;
    if (left > p->cap)
        left = p->cap;
    while (n < left) {
        const struct bpfm_op *o = ops + n;

        if (o->key_off == BPFM_NO_KEY ||
            !((o->kind == BPFM_OP_UPDATE && o->flags <= BPF_EXIST) ||
              (o->kind == BPFM_OP_DELETE && o->flags == 0)) ||
            slot_of(p, o, fds) < 0)
            break;
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
    uint32_t j, s;
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
            *(uint32_t *)(p->ops + (size_t)j * OP_STRIDE) = 4 * s + 3;
        } else {
            *(uint32_t *)(p->ops + (size_t)j * OP_STRIDE) = 4 * s + o->flags;
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
    if (ctx.err < 0)
        return ctx.err;
    if (ctx.err > 0 || *applied != n) { /* not an op's error, or bpf_loop refused n */
        p->broken = 1;
        return -EPROTO;
    }
    return 0;
}

static inline int takes(const struct bpfm_op *o)
{
    return (o->kind == BPFM_OP_UPDATE || o->kind == BPFM_OP_DELETE) && o->key_off != BPFM_NO_KEY;
}

uint32_t bpfm_pexec_count(const struct bpfm_op *ops, uint32_t n)
{
    uint32_t i, c = 0;

    for (i = 0; i < n; i++)
        c += takes(ops + i) && ((i && takes(ops + i - 1)) || (i + 1 < n && takes(ops + i + 1)));
    return c;
}
