// XDP: read the table in outer[0] (an array of 64 u64) and say whether it is
// consistent: every entry equal to entry 0 -> XDP_PASS, a mixed table (a
// half-updated view) -> XDP_DROP, no table -> XDP_ABORTED.  The generation seen
// is written to seen[0] so a test can tell which table a run read.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SLOTS 64

struct table {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SLOTS);
    __type(key, __u32);
    __type(value, __u64);
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 1);
    __type(key, __u32);
    __array(values, struct table);
} outer SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

SEC("xdp")
int outer_reader(struct xdp_md *ctx)
{
    __u32 zero = 0;
    void *t = bpf_map_lookup_elem(&outer, &zero);
    if (!t)
        return XDP_ABORTED;
    __u64 *first = bpf_map_lookup_elem(t, &zero);
    if (!first)
        return XDP_ABORTED;
    __u64 gen = *first;
    for (__u32 i = 1; i < SLOTS; i++) {
        __u32 k = i;
        __u64 *v = bpf_map_lookup_elem(t, &k);
        if (!v || *v != gen)
            return XDP_DROP;
    }
    __u64 *s = bpf_map_lookup_elem(&seen, &zero);
    if (s)
        *s = gen;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
