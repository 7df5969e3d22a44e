/* bpfmaps C helpers for ring buffers and perf buffers (bpfmaps/ringbuf.py).
 * This header is also fed to cffi's cdef (plain prototypes only). */

/* Consume records of a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) mapped in this process:
 * `consumer` = the consumer page (read-write), `producer` = the producer page, `data`
 * = the data area (mapped twice in a row, so a record that wraps is contiguous),
 * mask = size - 1.  Copies each submitted record's payload into `out` at 8-byte
 * aligned offsets (offs[i], lens[i]), skips discarded ones (counted in *discarded),
 * stops at a busy (reserved, not yet submitted) record (*busy = 1), when max_records
 * are copied or `out` is full, and publishes the new consumer position after the
 * copies (release order).  Returns the number of records copied. */
int bpfm_ringbuf_consume(void *consumer, const void *producer, const char *data,
                         uint64_t mask, char *out, uint64_t out_cap, uint32_t *offs,
                         uint32_t *lens, uint32_t max_records, uint64_t *discarded, int *busy);

/* 1 when records (or discarded ones) are waiting: consumer_pos != producer_pos. */
int bpfm_ringbuf_pending(const void *consumer, const void *producer);
/* producer_pos - consumer_pos: an upper bound of the payload bytes waiting. */
uint64_t bpfm_ringbuf_avail(const void *consumer, const void *producer);

/* perf_event_open of a PERF_COUNT_SW_BPF_OUTPUT event on `cpu` (pid -1) with
 * PERF_SAMPLE_RAW and a wakeup every `wakeup_events` samples: the fd, or -errno. */
int bpfm_perf_open_bpf_output(int cpu, uint32_t wakeup_events);
/* ioctl PERF_EVENT_IOC_ENABLE / DISABLE: 0 or -errno. */
int bpfm_perf_enable(int fd, int enable);

/* Consume records of one perf ring (the mmap of a perf event: metadata page + data
 * pages of data_size bytes, a power of two).  PERF_RECORD_SAMPLE payloads (the raw
 * data) are copied into `out` (offs/lens as above, a sample that wraps is joined);
 * PERF_RECORD_LOST counts are added to *lost; other records are skipped.  Stops when
 * the ring is empty, max_records are copied or `out` is full; publishes data_tail.
 * Returns the number of samples copied. */
int bpfm_perf_consume(void *base, uint64_t data_size, char *out, uint64_t out_cap,
                      uint64_t *offs, uint32_t *lens, uint32_t max_records, uint64_t *lost);
