// SPDX-License-Identifier: GPL-2.0
/* Maps with every value shape the BTF codecs handle, for tests/btftyped. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

enum color { RED = 0, GREEN = 1, BLUE = 2, NEG = -5 };
typedef __u16 port_t;

struct addr {
	__u32 ip;
	port_t port;
	__u8 proto;
	_Bool up;
};

struct flow_key {
	struct addr src;
	struct addr dst;
};

struct backend {
	struct addr addr;
	char name[16];
	__u8 mac[6];
	__s16 weights[3];
	__u32 grid[2][3];
	enum color color;
	unsigned int kind : 3;
	int delta : 5;
	unsigned int flag : 1;
	enum color tint : 4;
	union {
		__u64 raw;
		struct {
			__u32 lo;
			__u32 hi;
		};
	};
	struct {
		float ratio;
		double avg;
	} stats;
	void *ptr;
	long long counters[20];
	__u64 big;
	__s8 tiny;
	signed char sc;
};

struct lpm_key {
	__u32 prefixlen;
	__u8 data[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct flow_key);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct addr);
} percpu_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, enum color);
} colors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u64);
} prefixes SEC(".maps");

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { &inner },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__uint(key_size, 4);
	__type(value, struct addr);
} sized_key SEC(".maps");

/* global data: libbpf makes .bss and .data maps whose value type is a DATASEC */
__u64 packets_seen = 0;
struct addr last_addr = {};
int verbose = 3;
char banner[8] = "hello";

SEC("xdp")
int typed_prog(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct addr *a = bpf_map_lookup_elem(&percpu_addrs, &k);
	enum color *c = bpf_map_lookup_elem(&colors, &k);
	struct flow_key fk = {};
	struct backend *b = bpf_map_lookup_elem(&backends, &fk);
	struct lpm_key lk = {};
	__u64 *p = bpf_map_lookup_elem(&prefixes, &lk);
	void *in = bpf_map_lookup_elem(&outer, &k);
	struct addr *sa = bpf_map_lookup_elem(&sized_key, &k);

	packets_seen++;
	last_addr.port = (port_t)verbose + banner[0];
	if (in)
		return XDP_ABORTED;
	if (sa)
		return XDP_TX;

	if (a && c && b && p)
		return XDP_PASS;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
