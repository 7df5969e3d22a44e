// Maps for the CLI differential tests (bpftool vs bpfmaps): a prog array used for
// tail calls (so the kernel records its owner program type and JIT state), a hash,
// a per-CPU array and an array of maps, all with BTF.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pair {
    __u32 a;
    __u16 b;
    __u8 c[2];
};

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u32);
} jmp SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, struct pair);
} pairs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

struct inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, struct inner);
} outer SEC(".maps");

SEC("xdp")
int fid_prog(struct xdp_md *ctx)
{
    __u32 k = 0;
    struct pair *p = bpf_map_lookup_elem(&pairs, &k);
    __u64 *c = bpf_map_lookup_elem(&counts, &k);
    void *in = bpf_map_lookup_elem(&outer, &k);
    if (c)
        *c += 1;
    if (p && in)
        return XDP_DROP;
    bpf_tail_call(ctx, &jmp, 0);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
