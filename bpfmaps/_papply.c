/* In-kernel apply of a run of updates; see _papply.h for the contract.
 *
 * The program (51 instructions), with r6..r7 callee-saved:
 *
 *   main(ctx):  n = ctx->n; state = {done 0, err 0, base ctx->base} on the stack;
 *               bpf_loop(n, step, &state, 0); ctx->done = state.done;
 *               ctx->err = state.err; return 0
 *   step(i, state):  j = state.base + i;
 *               k = lookup(keys_array, &j); v = lookup(values_array, &j);
 *               if (!k || !v) { state.err = -EFAULT; return 1 }
 *               e = bpf_map_update_elem(map, k, v, FLAGS);
 *               if (e) { state.err = e; return 1 }   (stop at the first failure)
 *               state.done++; return 0
 *
 * bpf_loop's callback must be a static function with BTF func_info, so a minimal
 * BTF (int, int(void), two FUNCs) is loaded with it.  The ctx of a syscall program
 * is copied in from and back to user memory by BPF_PROG_TEST_RUN. */
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

#include "_papply.h"

extern volatile sig_atomic_t bpfm_stop_sig;

#define PTR(p) ((uint64_t)(uintptr_t)(p))

static int sys_bpf(int cmd, union bpf_attr *attr)
{
    long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
    return r < 0 ? -errno : (int)r;
}

/* the ctx the program reads and writes (BPF_PROG_TEST_RUN copies it back) */
struct run_ctx {
    uint32_t n;
    int32_t err;
    uint32_t done;
    uint32_t base; /* index of the run's first element in the arrays (its slot) */
};

#define INSN(c, d, s, o, i) ((struct bpf_insn){(c), (d), (s), (o), (i)})
#define MOV_X(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_K(d, k) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, k)
#define ADD_K(d, k) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, k)
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_W | BPF_MEM, d, s, o, 0)
#define STX_W(d, s, o) INSN(BPF_STX | BPF_W | BPF_MEM, d, s, o, 0)
#define ST_DW(d, o, k) INSN(BPF_ST | BPF_DW | BPF_MEM, d, 0, o, k)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define MAX_INSNS 64

struct prog {
    struct bpf_insn insn[MAX_INSNS];
    int n;
};

static int emit(struct prog *p, struct bpf_insn x)
{
    p->insn[p->n] = x;
    return p->n++;
}

static void emit_ld_map(struct prog *p, int reg, int fd)
{
    emit(p, INSN(BPF_LD | BPF_DW | BPF_IMM, reg, BPF_PSEUDO_MAP_FD, 0, fd));
    emit(p, INSN(0, 0, 0, 0, 0));
}

/* r0 = lookup(array fd, &index) with the u32 index at fp-4; then "if r0 == 0 goto
 * fail": returns that jump's index, for the caller to patch once fail is placed */
static int emit_lookup(struct prog *p, int fd)
{
    emit(p, MOV_X(2, 10));
    emit(p, ADD_K(2, -4));
    emit_ld_map(p, 1, fd);
    emit(p, CALL(BPF_FUNC_map_lookup_elem));
    return emit(p, INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0));
}

/* returns the instruction index of the callback */
static int build(struct prog *p, int map_fd, int keys_fd, int values_fd, int32_t flags)
{
    int ld_cb, cb, j_k, j_v, j_e, fail, err;

    p->n = 0;
    /* main */
    emit(p, MOV_X(6, 1));                                 /* r6 = ctx */
    emit(p, ST_DW(10, -16, 0));                           /* state = 0 */
    emit(p, ST_DW(10, -8, 0));
    emit(p, LDX_W(1, 6, offsetof(struct run_ctx, base)));
    emit(p, STX_W(10, 1, -8));                            /* state.base = ctx->base */
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
    /* step(r1 = i, r2 = &state): state.done at +0, state.err at +4, state.base at +8 */
    cb = p->n;
    p->insn[ld_cb].imm = cb - ld_cb - 1;
    emit(p, MOV_X(6, 2));
    emit(p, LDX_W(2, 6, 8));
    emit(p, INSN(BPF_ALU | BPF_ADD | BPF_X, 1, 2, 0, 0));  /* w1 = base + i */
    emit(p, STX_W(10, 1, -4));                            /* u32 index on the stack */
    j_k = emit_lookup(p, keys_fd);
    emit(p, MOV_X(7, 0));                                 /* r7 = key */
    j_v = emit_lookup(p, values_fd);
    emit(p, MOV_X(3, 0));                                 /* r3 = value */
    emit(p, MOV_X(2, 7));                                 /* r2 = key */
    emit_ld_map(p, 1, map_fd);
    emit(p, MOV_K(4, flags));
    emit(p, CALL(BPF_FUNC_map_update_elem));
    j_e = emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, 0));
    emit(p, LDX_W(1, 6, 0));
    emit(p, ADD_K(1, 1));
    emit(p, STX_W(6, 1, 0));                              /* state.done++ */
    emit(p, MOV_K(0, 0));
    emit(p, EXIT());
    fail = p->n;
    p->insn[j_k].off = fail - j_k - 1;
    p->insn[j_v].off = fail - j_v - 1;
    emit(p, MOV_K(0, -EFAULT));
    err = p->n;
    p->insn[j_e].off = err - j_e - 1;
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

void bpfm_papply_close(struct bpfm_papply *p)
{
    if (p->keys)
        munmap(p->keys, p->keys_len);
    if (p->values)
        munmap(p->values, p->values_len);
    p->keys = p->values = NULL;
    if (p->prog_fd >= 0)
        close(p->prog_fd);
    if (p->keys_fd >= 0)
        close(p->keys_fd);
    if (p->values_fd >= 0)
        close(p->values_fd);
    p->prog_fd = p->keys_fd = p->values_fd = -1;
}

int bpfm_papply_open(struct bpfm_papply *p, int map_fd, uint32_t key_size,
                     uint32_t value_size, uint32_t cap, uint32_t slots, uint64_t elem_flags)
{
    struct prog prog;
    union bpf_attr attr;
    uint32_t finfo[4];
    int btf_fd, cb, rc;

    memset(p, 0, sizeof(*p));
    p->prog_fd = p->keys_fd = p->values_fd = -1;
    if (!key_size || !value_size || !cap || !slots || elem_flags > BPF_EXIST ||
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
    rc = p->keys_fd = array_new(key_size, cap * slots, "bpfm_apply_k");
    if (rc < 0)
        goto fail;
    rc = p->values_fd = array_new(value_size, cap * slots, "bpfm_apply_v");
    if (rc < 0)
        goto fail;
    if ((rc = map_array(p->keys_fd, p->keys_len, &p->keys)) < 0 ||
        (rc = map_array(p->values_fd, p->values_len, &p->values)) < 0)
        goto fail;
    rc = btf_fd = load_btf();
    if (rc < 0)
        goto fail;
    cb = build(&prog, map_fd, p->keys_fd, p->values_fd, (int32_t)elem_flags);
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
    strncpy(attr.prog_name, "bpfm_apply", BPF_OBJ_NAME_LEN - 1);
    rc = p->prog_fd = sys_bpf(BPF_PROG_LOAD, &attr);
    close(btf_fd); /* the program holds its BTF */
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
