/* Ring buffer and perf buffer consumers; see _ring.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/perf_event.h>

#include "_ring.h"

#define RB_BUSY (1U << 31)
#define RB_DISCARD (1U << 30)
#define RB_HDR 8

static inline uint64_t load_acq64(const void *p)
{
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}

static inline uint32_t load_acq32(const void *p)
{
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

static inline void store_rel64(void *p, uint64_t v)
{
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
}

int bpfm_ringbuf_consume(void *consumer, const void *producer, const char *data,
                         uint64_t mask, char *out, uint64_t out_cap, uint32_t *offs,
                         uint32_t *lens, uint32_t max_records, uint64_t *discarded, int *busy)
{
    uint64_t cons = load_acq64(consumer);
    uint64_t prod = load_acq64(producer);
    uint64_t used = 0;
    uint32_t n = 0;
    *busy = 0;
    while (cons < prod && n < max_records) {
        const char *rec = data + (cons & mask);
        uint32_t hdr = load_acq32(rec);
        if (hdr & RB_BUSY) {
            *busy = 1;
            break;
        }
        uint32_t len = hdr & ~(RB_BUSY | RB_DISCARD);
        uint64_t step = (len + RB_HDR + 7) & ~7ULL;
        if (!(hdr & RB_DISCARD)) {
            uint64_t room = (len + 7) & ~7ULL;
            if (used + room > out_cap)
                break;
            memcpy(out + used, rec + RB_HDR, len);
            offs[n] = (uint32_t)used;
            lens[n] = len;
            used += room;
            n++;
        } else {
            (*discarded)++;
        }
        cons += step;
        if (cons >= prod)
            prod = load_acq64(producer);
    }
    store_rel64(consumer, cons);
    return (int)n;
}

int bpfm_ringbuf_pending(const void *consumer, const void *producer)
{
    return load_acq64(consumer) != load_acq64(producer);
}

uint64_t bpfm_ringbuf_avail(const void *consumer, const void *producer)
{
    return load_acq64(producer) - load_acq64(consumer);
}

int bpfm_perf_open_bpf_output(int cpu, uint32_t wakeup_events)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    attr.wakeup_events = wakeup_events ? wakeup_events : 1;
    long fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : (int)fd;
}

int bpfm_perf_enable(int fd, int enable)
{
    int r = ioctl(fd, enable ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
    return r < 0 ? -errno : 0;
}

/* copy n bytes starting at ring position pos (wrapping) */
static inline void ring_copy(char *dst, const char *ring, uint64_t size, uint64_t pos, uint64_t n)
{
    uint64_t off = pos & (size - 1);
    uint64_t first = size - off < n ? size - off : n;
    memcpy(dst, ring + off, first);
    if (first < n)
        memcpy(dst + first, ring, n - first);
}

int bpfm_perf_consume(void *base, uint64_t data_size, char *out, uint64_t out_cap,
                      uint64_t *offs, uint32_t *lens, uint32_t max_records, uint64_t *lost)
{
    struct perf_event_mmap_page *meta = base;
    uint64_t data_offset = meta->data_offset ? meta->data_offset : (uint64_t)getpagesize();
    const char *ring = (const char *)base + data_offset;
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = meta->data_tail;
    uint64_t used = 0;
    uint32_t n = 0;
    while (tail < head && n < max_records) {
        struct perf_event_header h;
        ring_copy((char *)&h, ring, data_size, tail, sizeof(h));
        if (h.size < sizeof(h))
            break; /* corrupt: stop rather than loop */
        if (h.type == PERF_RECORD_SAMPLE) {
            uint32_t sz;
            ring_copy((char *)&sz, ring, data_size, tail + sizeof(h), 4);
            uint64_t room = (sz + 7) & ~7ULL;
            if (used + room > out_cap)
                break;
            ring_copy(out + used, ring, data_size, tail + sizeof(h) + 4, sz);
            offs[n] = used;
            lens[n] = sz;
            used += room;
            n++;
        } else if (h.type == PERF_RECORD_LOST) {
            uint64_t cnt;
            ring_copy((char *)&cnt, ring, data_size, tail + sizeof(h) + 8, 8);
            *lost += cnt;
        }
        tail += h.size;
    }
    __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
    return (int)n;
}
