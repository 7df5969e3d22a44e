// XDP producer of 64-byte records {seq, cpu, pad} for ring buffer and perf buffer
// tests.  cfg[0] = mode: 0 bpf_ringbuf_output, 1 reserve + submit, 2 reserve then
// discard odd sequence numbers (submit even ones), 3 bpf_perf_event_output on the
// current CPU; cfg[1] = records per run (1..64); cfg[2] = the next sequence number.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct rec {
    __u64 seq;
    __u32 cpu;
    __u32 mode;
    __u8 pad[48];
};

/* puts struct rec into the object's BTF (user space builds its codec from it) */
const struct rec *rec_type __attribute__((unused));

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16384);
} rb SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} cfg SEC(".maps");

static __always_inline __u64 *slot(__u32 i)
{
    return bpf_map_lookup_elem(&cfg, &i);
}

SEC("xdp")
int produce(struct xdp_md *ctx)
{
    __u64 *mode = slot(0), *count = slot(1), *seq = slot(2);
    if (!mode || !count || !seq)
        return XDP_ABORTED;
    __u64 n = *count;
    for (int i = 0; i < 64; i++) {
        if (i >= n)
            break;
        struct rec r = {};
        r.seq = __sync_fetch_and_add(seq, 1);
        r.cpu = bpf_get_smp_processor_id();
        r.mode = *mode;
        if (*mode == 0) {
            bpf_ringbuf_output(&rb, &r, sizeof(r), 0);
        } else if (*mode == 1 || *mode == 2) {
            struct rec *p = bpf_ringbuf_reserve(&rb, sizeof(*p), 0);
            if (!p)
                continue;
            __builtin_memcpy(p, &r, sizeof(r));
            if (*mode == 2 && (r.seq & 1))
                bpf_ringbuf_discard(p, 0);
            else
                bpf_ringbuf_submit(p, 0);
        } else {
            bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &r, sizeof(r));
        }
    }
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
