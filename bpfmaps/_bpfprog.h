/* The pieces both in-kernel programs are built from (_papply.c: the apply of a run;
 * _pexec.c: the exec program): bpf(2), instruction encoding, the array lookups they
 * use, the BTF bpf_loop needs, the mmapped staging arrays, the load.  Static, included
 * by both; not part of the cffi cdef. */
#ifndef BPFM_BPFPROG_H
#define BPFM_BPFPROG_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#define PTR(p) ((uint64_t)(uintptr_t)(p))

static int sys_bpf(int cmd, union bpf_attr *attr)
{
    long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
    return r < 0 ? -errno : (int)r;
}

/* the ctx the programs read and write (BPF_PROG_TEST_RUN copies it back) */
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
#define ST_W(d, o, k) INSN(BPF_ST | BPF_W | BPF_MEM, d, 0, o, k)
#define ST_DW(d, o, k) INSN(BPF_ST | BPF_DW | BPF_MEM, d, 0, o, k)
#define JEQ_K(d, k) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, 0, k)
#define JNE_K(d, k) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, 0, k)
#define JGT_K(d, k) INSN(BPF_JMP | BPF_JGT | BPF_K, d, 0, 0, k)
#define JA() INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define MAX_INSNS 1024 /* (the exec program with lookups: ~700 for 4 maps of 256-byte values) */

struct prog {
    struct bpf_insn insn[MAX_INSNS];
    int n;
    int full; /* an emit found no room: load_prog refuses it */
};

static int emit(struct prog *p, struct bpf_insn x)
{
    if (p->n == MAX_INSNS) { /* the builds stay far below: refuse, never overflow */
        p->full = 1;
        return p->n - 1;
    }
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

/* size bytes from [src + src_off] to [dst] in the widest loads and stores that fit (8,
 * then 4, 2, 1 bytes: every offset stays aligned), through r1; both programs' value
 * copies (an unrolled copy: 2 insns a word) */
static void emit_copy_regs(struct prog *p, uint32_t size, int dst, int src, uint32_t src_off)
{
    static const int sz[4] = {BPF_DW, BPF_W, BPF_H, BPF_B};
    static const uint32_t len[4] = {8, 4, 2, 1};
    uint32_t off = 0;
    int w;

    for (w = 0; w < 4; w++)
        for (; size - off >= len[w]; off += len[w]) {
            emit(p, INSN(BPF_LDX | sz[w] | BPF_MEM, 1, src, (int16_t)(src_off + off), 0));
            emit(p, INSN(BPF_STX | sz[w] | BPF_MEM, dst, 1, (int16_t)off, 0));
        }
}

/* r0 = lookup(array fd, &index) with the u32 index at fp-4, then "if r0 == 0 goto
 * miss": returns that jump, for the caller to land */
static int emit_lookup(struct prog *p, int fd)
{
    emit(p, MOV_X(2, 10));
    emit(p, ADD_K(2, -4));
    emit_ld_map(p, 1, fd);
    emit(p, CALL(BPF_FUNC_map_lookup_elem));
    return emit(p, JEQ_K(0, 0));
}

/* main(ctx) of both programs: state = {done 0, err 0, base ctx->base, n ctx->n} at
 * fp-16; bpf_loop(ctx->n, step, &state, 0) (with `shift`, a step per 2^shift
 * elements: bpf_loop((ctx->n + 2^shift - 1) >> shift, ...)); ctx->done, ctx->err =
 * state's; return 0.  Starts the build (p emptied); returns the index of step's
 * ld_imm64, which land_step patches once step is placed. */
static int emit_main_groups(struct prog *p, int shift)
{
    int ld_cb;

    p->n = 0;
    p->full = 0;
    emit(p, MOV_X(6, 1));                                 /* r6 = ctx */
    emit(p, ST_DW(10, -16, 0));                           /* state = 0 */
    emit(p, ST_DW(10, -8, 0));
    emit(p, LDX_W(1, 6, offsetof(struct run_ctx, base)));
    emit(p, STX_W(10, 1, -8));                            /* state.base = ctx->base */
    emit(p, LDX_W(1, 6, offsetof(struct run_ctx, n)));    /* r1 = ctx->n */
    emit(p, STX_W(10, 1, -4));                            /* state.n = ctx->n */
    if (shift) {
        emit(p, ADD_K(1, (1 << shift) - 1));
        emit(p, INSN(BPF_ALU64 | BPF_RSH | BPF_K, 1, 0, 0, shift));
    }
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
    return ld_cb;
}

static int emit_main(struct prog *p)
{
    return emit_main_groups(p, 0);
}

/* place step here: patch main's ld_imm64 `ld_cb`; returns step's index */
static int land_step(struct prog *p, int ld_cb)
{
    p->insn[ld_cb].imm = p->n - ld_cb - 1;
    return p->n;
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

/* Load program `pr` (main at 0, its bpf_loop callback at `cb`) as a sleepable
 * BPF_PROG_TYPE_SYSCALL program named `name`, with the BTF bpf_loop needs: its fd or
 * -errno (-E2BIG: the build ran out of room). */
static int load_prog(const struct prog *pr, int cb, const char *name)
{
    union bpf_attr attr;
    uint32_t finfo[4] = {0, 3, (uint32_t)cb, 4};
    int btf_fd, rc;

    if (pr->full)
        return -E2BIG;
    btf_fd = load_btf();
    if (btf_fd < 0)
        return btf_fd;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_SYSCALL;
    attr.prog_flags = BPF_F_SLEEPABLE;
    attr.insns = PTR(pr->insn);
    attr.insn_cnt = (uint32_t)pr->n;
    attr.license = PTR("GPL");
    attr.prog_btf_fd = (uint32_t)btf_fd;
    attr.func_info = PTR(finfo);
    attr.func_info_cnt = 2;
    attr.func_info_rec_size = 8;
    strncpy(attr.prog_name, name, BPF_OBJ_NAME_LEN - 1);
    rc = sys_bpf(BPF_PROG_LOAD, &attr);
    close(btf_fd); /* the program holds its BTF */
    return rc;
}

#endif
