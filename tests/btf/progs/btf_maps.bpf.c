// Maps with real BTF for the BTF tests (formatted output vs bpftool, typed decoding).
// Compiled by tests/conftest.py (bpf_objects fixture) with
//   clang -g -O2 -target bpf -I/usr/include/$(gcc -dumpmachine) -c btf_maps.bpf.c
// and loaded with `bpftool prog load btf_maps.bpf.o DIR/prog pinmaps DIR`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Map names get a per-session suffix (-DSFX=_1a2b) so concurrent test sessions and
// `name` handles never see each other's maps; the fixture strips it again.
#ifndef SFX
#define SFX _0
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define N(x) CAT(x, SFX)

typedef unsigned int u32_t;
typedef u32_t u32_alias_t;
typedef char name_t[16];

enum color { RED = 0, GREEN = 1, BLUE = 7, NEG = -3 };
enum ucolor { U_ZERO = 0, U_BIG = 0xfffffff0u };
enum tiny { T_A = 1, T_B = 2 } __attribute__((packed));
enum big64 { B64_SMALL = 5, B64_HUGE = 0x100000000ULL };

struct inner {
    unsigned short port;
    unsigned char proto;
    signed char delta;
};

struct bits {
    unsigned int a : 3;
    unsigned int b : 5;
    int c : 7;
    unsigned int d : 17;
    unsigned long long wide : 40;
    unsigned char flag : 1;
};

union either {
    unsigned int as_u32;
    unsigned char as_bytes[4];
    struct inner as_inner;
};

struct value {
    int i;
    unsigned int u;
    long long ll;
    unsigned long long ull;
    short s;
    unsigned short us;
    char c;
    signed char sc;
    unsigned char uc;
    _Bool b;
    enum color color;
    enum ucolor ucolor;
    enum tiny tiny;
    enum big64 big;
    u32_alias_t alias;
    const volatile unsigned int cv;
    name_t name;
    char text[8];
    unsigned char raw[6];
    int matrix[2][3];
    struct inner nested;
    struct inner pair[2];
    struct bits bits;
    union either either;
    struct {
        unsigned int anon_a;
        unsigned short anon_b;
    };
    union {
        unsigned int alt_u;
        int alt_i;
    };
    void *ptr;
    unsigned __int128 u128;
};

struct lpm_key {
    __u32 prefixlen;
    __u8 addr[4];
};

struct fvalue {
    float f;
    double d;
    int after;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct inner);
    __type(value, struct value);
} N(bt_values) SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, struct bits);
} N(bt_bitmap) SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 16);
    __type(key, enum color);
    __type(value, struct inner);
} N(bt_percpu) SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} N(bt_pcarray) SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 16);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct lpm_key);
    __type(value, name_t);
} N(bt_lpm) SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, struct fvalue);
} N(bt_floats) SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, union either);
    __type(value, char[5]);
} N(bt_strs) SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_QUEUE);
    __uint(max_entries, 8);
    __type(value, struct inner);
} N(bt_queue) SEC(".maps");

struct inner_map {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, struct inner);
} N(bt_inner1) SEC(".maps"), N(bt_inner2) SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 3);
    __type(key, __u32);
    __array(values, struct inner_map);
} N(bt_outer) SEC(".maps") = {
    .values = { &N(bt_inner1), &N(bt_inner2) },
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __uint(max_entries, 3);
    __type(key, __u32);
    __array(values, struct inner_map);
} N(bt_houter) SEC(".maps");

// long batch files: lookups through the in-kernel exec program (values copied whole),
// and a value with a special field, whose lookups keep the syscall (it zeroes the lock)
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8192);
    __type(key, __u32);
    __type(value, struct value);
} N(bt_many) SEC(".maps");

struct locked {
    struct bpf_spin_lock lock;
    __u32 n;
    __u64 total;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8192);
    __type(key, __u32);
    __type(value, struct locked);
} N(bt_locked) SEC(".maps");

int global_counter = 0;
char global_name[8] = "abc";

SEC("xdp")
int btf_prog(struct xdp_md *ctx)
{
    __u32 k = 0;
    struct bits *b = bpf_map_lookup_elem(&N(bt_bitmap), &k);
    if (b)
        global_counter += b->a;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
