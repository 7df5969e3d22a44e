/* C anchor for benchmarks/bench_batch.py: the same work over raw bpf(2) syscalls.
 *
 *   anchor_batch TYPE N KEY_SIZE VALUE_SIZE REPEATS CHUNK
 *
 * TYPE is a BPF map type number (1 hash, 2 array, 5 percpu_hash, ...).  For every
 * repeat a fresh map with max_entries = N is created, then timed:
 *   update_batch  one BPF_MAP_UPDATE_BATCH of all N elements (keys 0..N-1)
 *   lookup_batch  BPF_MAP_LOOKUP_BATCH loop over the whole map, CHUNK per call
 *   update_elem   N BPF_MAP_UPDATE_ELEM calls in a loop (fresh map)
 * with a 0.3 s pause before each timed step (the Python side does the same).
 * Keys are native u64 (key size 8) or u32 (key size 4) counters; values are a
 * pattern.  Prints "<name> <median seconds>" per line; exit status 1 on error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>

/* pause after closing/creating a big map: freeing it runs in the background */
#define SETTLE_US 300000

static long sys_bpf(int cmd, union bpf_attr *a) { return syscall(__NR_bpf, cmd, a, sizeof(*a)); }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int possible_cpus(void)
{
    FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
    int lo = 0, hi = 0, n = 1;
    if (f) {
        if (fscanf(f, "%d-%d", &lo, &hi) == 2)
            n = hi + 1;
        else
            n = lo + 1;
        fclose(f);
    }
    return n;
}

static int create(int type, uint32_t ks, uint32_t vs, uint32_t n)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_type = type;
    a.key_size = ks;
    a.value_size = vs;
    a.max_entries = n;
    int fd = sys_bpf(BPF_MAP_CREATE, &a);
    if (fd < 0) {
        perror("BPF_MAP_CREATE");
        exit(1);
    }
    return fd;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(double), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s TYPE N KEY_SIZE VALUE_SIZE REPEATS CHUNK\n", argv[0]);
        return 2;
    }
    int type = atoi(argv[1]);
    uint32_t n = strtoul(argv[2], 0, 0), ks = atoi(argv[3]), vs = atoi(argv[4]);
    int reps = atoi(argv[5]);
    uint32_t chunk = strtoul(argv[6], 0, 0);
    int percpu = type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
                 type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    size_t vbs = percpu ? (size_t)possible_cpus() * ((vs + 7) / 8 * 8) : vs;
    char *keys = calloc(n, ks), *vals = malloc((size_t)n * vbs);
    char *okeys = malloc((size_t)(chunk + 1) * ks), *ovals = malloc((size_t)(chunk + 1) * vbs);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t k = i;
        memcpy(keys + (size_t)i * ks, &k, ks < 8 ? ks : 8);
        memset(vals + (size_t)i * vbs, (int)(i & 0xff), vbs);
    }
    double *t_ub = calloc(reps, sizeof(double)), *t_lb = calloc(reps, sizeof(double)),
           *t_ue = calloc(reps, sizeof(double));
    union bpf_attr a;
    for (int r = 0; r < reps; r++) {
        int fd = create(type, ks, vs, n);
        usleep(SETTLE_US);
        /* UPDATE_BATCH */
        memset(&a, 0, sizeof(a));
        a.batch.map_fd = fd;
        a.batch.keys = (uint64_t)(uintptr_t)keys;
        a.batch.values = (uint64_t)(uintptr_t)vals;
        a.batch.count = n;
        double t0 = now();
        if (sys_bpf(BPF_MAP_UPDATE_BATCH, &a) < 0 || a.batch.count != n) {
            perror("BPF_MAP_UPDATE_BATCH");
            return 1;
        }
        t_ub[r] = now() - t0;
        /* LOOKUP_BATCH loop */
        uint64_t in = 0, out = 0;
        size_t total = 0;
        int first = 1;
        t0 = now();
        for (;;) {
            memset(&a, 0, sizeof(a));
            a.batch.map_fd = fd;
            a.batch.in_batch = first ? 0 : (uint64_t)(uintptr_t)&in;
            a.batch.out_batch = (uint64_t)(uintptr_t)&out;
            a.batch.keys = (uint64_t)(uintptr_t)okeys;
            a.batch.values = (uint64_t)(uintptr_t)ovals;
            a.batch.count = chunk;
            long rc = sys_bpf(BPF_MAP_LOOKUP_BATCH, &a);
            int err = rc < 0 ? errno : 0;
            total += a.batch.count;
            if (err == ENOENT)
                break;
            if (err) {
                perror("BPF_MAP_LOOKUP_BATCH");
                return 1;
            }
            in = out;
            first = 0;
        }
        t_lb[r] = now() - t0;
        if (total != n) {
            fprintf(stderr, "lookup_batch read %zu of %u\n", total, n);
            return 1;
        }
        close(fd);
        usleep(SETTLE_US); /* let the kernel free the old map before timing again */
        /* per-element UPDATE loop on a fresh map */
        fd = create(type, ks, vs, n);
        memset(&a, 0, sizeof(a));
        a.map_fd = fd;
        t0 = now();
        for (uint32_t i = 0; i < n; i++) {
            a.key = (uint64_t)(uintptr_t)(keys + (size_t)i * ks);
            a.value = (uint64_t)(uintptr_t)(vals + (size_t)i * vbs);
            if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) {
                perror("BPF_MAP_UPDATE_ELEM");
                return 1;
            }
        }
        t_ue[r] = now() - t0;
        close(fd);
        usleep(SETTLE_US);
    }
    printf("update_batch %.6f\n", median(t_ub, reps));
    printf("lookup_batch %.6f\n", median(t_lb, reps));
    printf("update_elem %.6f\n", median(t_ue, reps));
    return 0;
}
