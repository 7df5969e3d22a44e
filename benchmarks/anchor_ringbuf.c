/* C anchor for benchmarks/bench_ringbuf.py: drain a pinned BPF ring buffer with
 * libbpf's ring_buffer__consume; the callback copies each record out (what any
 * consumer that keeps the data must do) and counts it.
 *   anchor_ringbuf PIN   -> prints "records N" and "seconds S" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static char sink[1 << 16];
static unsigned long n_records, n_bytes;

static int on_record(void *ctx, void *data, size_t size)
{
    (void)ctx;
    if (size > 4096)
        size = 4096;
    memcpy(sink + (n_bytes & ((1 << 15) - 1)), data, size);
    n_bytes += size;
    n_records++;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PIN\n", argv[0]);
        return 2;
    }
    int fd = bpf_obj_get(argv[1]);
    if (fd < 0) {
        perror("bpf_obj_get");
        return 1;
    }
    struct ring_buffer *rb = ring_buffer__new(fd, on_record, NULL, NULL);
    if (!rb) {
        perror("ring_buffer__new");
        return 1;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = ring_buffer__consume(rb);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (r < 0) {
        fprintf(stderr, "ring_buffer__consume: %d\n", r);
        return 1;
    }
    printf("records %lu\n", n_records);
    printf("seconds %.9f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    ring_buffer__free(rb);
    return 0;
}
