/* bpfmaps C shim over bpf(2).  See _shim.h for the contract:
 * results or -errno read immediately after the syscall, never later. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "_native/ops.h"
#include "_shim.h"

/* set by the stop handler of _stop.c: the loops below return -EINTR before their
 * next syscall once it is non-zero */
#include <signal.h>
extern volatile sig_atomic_t bpfm_stop_sig;
#define STOPPED() (bpfm_stop_sig != 0)

#define PTR(p) ((uint64_t)(uintptr_t)(p))

static inline int sys_bpf(int cmd, union bpf_attr *attr, unsigned int size)
{
    long r = syscall(__NR_bpf, cmd, attr, size);
    return r < 0 ? -errno : (int)r;
}

static inline void copy_name(char dst[BPF_OBJ_NAME_LEN], const char *name)
{
    if (name)
        strncpy(dst, name, BPF_OBJ_NAME_LEN - 1);
}

int bpfm_map_get_fd_by_id(uint32_t id, uint32_t open_flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_id = id;
    attr.open_flags = open_flags;
    return sys_bpf(BPF_MAP_GET_FD_BY_ID, &attr, sizeof(attr));
}

static int get_next_id(int cmd, uint32_t start_id, uint32_t *next_id)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.start_id = start_id;
    int r = sys_bpf(cmd, &attr, sizeof(attr));
    if (r == 0)
        *next_id = attr.next_id;
    return r;
}

int bpfm_map_get_next_id(uint32_t start_id, uint32_t *next_id)
{
    return get_next_id(BPF_MAP_GET_NEXT_ID, start_id, next_id);
}

int bpfm_prog_get_next_id(uint32_t start_id, uint32_t *next_id)
{
    return get_next_id(BPF_PROG_GET_NEXT_ID, start_id, next_id);
}

int bpfm_prog_get_fd_by_id(uint32_t id)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    return sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr, sizeof(attr));
}

int bpfm_obj_get(const char *path, uint32_t file_flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.pathname = PTR(path);
    attr.file_flags = file_flags;
    return sys_bpf(BPF_OBJ_GET, &attr, sizeof(attr));
}

int bpfm_obj_pin(int fd, const char *path)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.pathname = PTR(path);
    attr.bpf_fd = (uint32_t)fd;
    return sys_bpf(BPF_OBJ_PIN, &attr, sizeof(attr));
}

static int obj_info(int fd, void *info, uint32_t len)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.info.bpf_fd = (uint32_t)fd;
    attr.info.info_len = len;
    attr.info.info = PTR(info);
    return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr));
}

/* OBJ_GET_INFO_BY_FD succeeds on any BPF object and fills a bpf_prog_info (or link,
 * btf) layout for non-maps, which would read back as a map with absurd sizes.  A BPF
 * object's file is always one anon inode per kind ("anon_inode:bpf-map" from
 * bpf_map_new_fd, "anon_inode:bpf-prog", "anon_inode:btf"), so check that.
 * Returns 1 for that kind, 0 for something else, -1 when /proc cannot tell. */
static int fd_is_anon(int fd, const char *want)
{
    char path[48], target[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return -1;
    target[n] = 0;
    return strcmp(target, want) == 0;
}

int bpfm_map_get_info(int fd, struct bpfm_map_info *out)
{
    struct bpf_map_info info;
    memset(&info, 0, sizeof(info));
    int r = obj_info(fd, &info, sizeof(info));
    if (r == 0 && fd_is_anon(fd, "anon_inode:bpf-map") == 0)
        return -EINVAL; /* what the kernel answers for "not a map" elsewhere */
    if (r < 0)
        return r;
    out->type = info.type;
    out->id = info.id;
    out->key_size = info.key_size;
    out->value_size = info.value_size;
    out->max_entries = info.max_entries;
    out->map_flags = info.map_flags;
    memcpy(out->name, info.name, sizeof(out->name));
    out->name[sizeof(out->name) - 1] = 0;
    out->ifindex = info.ifindex;
    out->btf_vmlinux_value_type_id = info.btf_vmlinux_value_type_id;
    out->netns_dev = info.netns_dev;
    out->netns_ino = info.netns_ino;
    out->btf_id = info.btf_id;
    out->btf_key_type_id = info.btf_key_type_id;
    out->btf_value_type_id = info.btf_value_type_id;
    out->map_extra = info.map_extra;
    /* btf_vmlinux_id sits in what older uapi headers call the alignment pad just
     * before map_extra; read it by offset so this builds against those headers */
    memcpy(&out->btf_vmlinux_id,
           (const char *)&info + offsetof(struct bpf_map_info, map_extra) - sizeof(uint32_t),
           sizeof(uint32_t));
    return 0;
}

int bpfm_prog_get_info(int fd, struct bpfm_prog_info *out)
{
    struct bpf_prog_info info;
    memset(&info, 0, sizeof(info));
    int r = obj_info(fd, &info, sizeof(info));
    if (r == 0 && fd_is_anon(fd, "anon_inode:bpf-prog") == 0)
        return -EINVAL; /* a map, link or BTF object: not a program */
    if (r < 0)
        return r;
    out->type = info.type;
    out->id = info.id;
    memcpy(out->name, info.name, sizeof(out->name));
    out->name[sizeof(out->name) - 1] = 0;
    memcpy(out->tag, info.tag, sizeof(out->tag));
    return 0;
}

static inline int elem_cmd(int cmd, int fd, const void *key, void *value, uint64_t flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = (uint32_t)fd;
    attr.key = PTR(key);
    attr.value = PTR(value);
    attr.flags = flags;
    return sys_bpf(cmd, &attr, sizeof(attr));
}

int bpfm_map_lookup_elem(int fd, const char *key, char *value, uint64_t flags)
{
    return elem_cmd(BPF_MAP_LOOKUP_ELEM, fd, key, value, flags);
}

int bpfm_map_update_elem(int fd, const char *key, const char *value, uint64_t flags)
{
    return elem_cmd(BPF_MAP_UPDATE_ELEM, fd, key, (void *)value, flags);
}

int bpfm_map_delete_elem(int fd, const char *key)
{
    return elem_cmd(BPF_MAP_DELETE_ELEM, fd, key, NULL, 0);
}

int bpfm_map_get_next_key(int fd, const char *key, char *next_key)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = (uint32_t)fd;
    attr.key = PTR(key);
    attr.next_key = PTR(next_key);
    return sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr, sizeof(attr));
}

int bpfm_map_lookup_and_delete_elem(int fd, const char *key, char *value, uint64_t flags)
{
    return elem_cmd(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, key, value, flags);
}

int bpfm_map_freeze(int fd)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = (uint32_t)fd;
    return sys_bpf(BPF_MAP_FREEZE, &attr, sizeof(attr));
}

static int batch_cmd(int cmd, int fd, const void *in_batch, void *out_batch, const void *keys,
                     const void *values, uint32_t *count, uint64_t elem_flags, uint64_t flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.batch.map_fd = (uint32_t)fd;
    attr.batch.in_batch = PTR(in_batch);
    attr.batch.out_batch = PTR(out_batch);
    attr.batch.keys = PTR(keys);
    attr.batch.values = PTR(values);
    attr.batch.count = *count;
    attr.batch.elem_flags = elem_flags;
    attr.batch.flags = flags;
    int r = sys_bpf(cmd, &attr, sizeof(attr));
    /* The kernel writes count back on success and on most failures; keep it either way. */
    *count = attr.batch.count;
    return r;
}

int bpfm_map_update_batch(int fd, const char *keys, const char *values, uint32_t *count,
                          uint64_t elem_flags, uint64_t flags)
{
    return batch_cmd(BPF_MAP_UPDATE_BATCH, fd, NULL, NULL, keys, values, count, elem_flags,
                     flags);
}

int bpfm_map_delete_batch(int fd, const char *keys, uint32_t *count, uint64_t elem_flags,
                          uint64_t flags)
{
    return batch_cmd(BPF_MAP_DELETE_BATCH, fd, NULL, NULL, keys, NULL, count, elem_flags, flags);
}

int bpfm_map_lookup_batch(int fd, const char *in_batch, char *out_batch, char *keys,
                          char *values, uint32_t *count, uint64_t elem_flags, uint64_t flags)
{
    return batch_cmd(BPF_MAP_LOOKUP_BATCH, fd, in_batch, out_batch, keys, values, count,
                     elem_flags, flags);
}

int bpfm_map_lookup_and_delete_batch(int fd, const char *in_batch, char *out_batch, char *keys,
                                     char *values, uint32_t *count, uint64_t elem_flags,
                                     uint64_t flags)
{
    return batch_cmd(BPF_MAP_LOOKUP_AND_DELETE_BATCH, fd, in_batch, out_batch, keys, values,
                     count, elem_flags, flags);
}

/* Per-element loops.  One bpf_attr is reused; only key/value pointers change. */
static int elems_loop(int cmd, int fd, const char *keys, uint32_t key_size, const char *values,
                      uint32_t value_stride, uint32_t *count, uint64_t flags, int32_t *errs)
{
    union bpf_attr attr;
    uint32_t n = *count, i;
    int failures = 0;
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = (uint32_t)fd;
    attr.flags = flags;
    for (i = 0; i < n; i++) {
        if (STOPPED()) {
            if (!errs) {
                *count = i;
                return -EINTR;
            }
            failures += (int)(n - i);
            for (; i < n; i++)
                errs[i] = -EINTR;
            *count = n;
            return failures;
        }
        attr.key = keys ? PTR(keys + (size_t)i * key_size) : 0;
        attr.value = values ? PTR(values + (size_t)i * value_stride) : 0;
        long r = syscall(__NR_bpf, cmd, &attr, sizeof(attr));
        int rc = r < 0 ? -errno : 0;
        if (errs) {
            errs[i] = rc;
            failures += rc != 0;
        } else if (rc) {
            *count = i;
            return rc;
        }
    }
    *count = n;
    return errs ? failures : 0;
}

int bpfm_update_elems(int fd, const char *keys, uint32_t key_size, const char *values,
                      uint32_t value_stride, uint32_t *count, uint64_t flags, int32_t *errs)
{
    return elems_loop(BPF_MAP_UPDATE_ELEM, fd, keys, key_size, values, value_stride, count, flags,
                      errs);
}

int bpfm_delete_elems(int fd, const char *keys, uint32_t key_size, uint32_t *count, int32_t *errs)
{
    return elems_loop(BPF_MAP_DELETE_ELEM, fd, keys, key_size, NULL, 0, count, 0, errs);
}

int bpfm_lookup_elems(int fd, const char *keys, uint32_t key_size, char *values,
                      uint32_t value_stride, uint32_t *count, uint64_t flags, int32_t *errs)
{
    return elems_loop(BPF_MAP_LOOKUP_ELEM, fd, keys, key_size, values, value_stride, count, flags,
                      errs);
}

int bpfm_lookup_and_delete_elems(int fd, const char *keys, uint32_t key_size, char *values,
                                 uint32_t value_stride, uint32_t *count, uint64_t flags,
                                 int32_t *errs)
{
    return elems_loop(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, keys, key_size, values, value_stride,
                      count, flags, errs);
}

int bpfm_prog_test_run(int prog_fd, const char *data_in, uint32_t data_size_in, char *data_out,
                       uint32_t *data_size_out, const char *ctx_in, uint32_t ctx_size_in,
                       char *ctx_out, uint32_t *ctx_size_out, uint32_t repeat, uint32_t flags,
                       uint32_t cpu, uint32_t *retval, uint32_t *duration)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.test.prog_fd = (uint32_t)prog_fd;
    attr.test.data_in = PTR(data_in);
    attr.test.data_size_in = data_size_in;
    attr.test.data_out = PTR(data_out);
    attr.test.data_size_out = data_out ? *data_size_out : 0;
    attr.test.ctx_in = PTR(ctx_in);
    attr.test.ctx_size_in = ctx_size_in;
    attr.test.ctx_out = PTR(ctx_out);
    attr.test.ctx_size_out = ctx_out ? *ctx_size_out : 0;
    attr.test.repeat = repeat;
    attr.test.flags = flags;
    attr.test.cpu = cpu;
    int r = sys_bpf(BPF_PROG_TEST_RUN, &attr, sizeof(attr));
    *data_size_out = attr.test.data_size_out;
    *ctx_size_out = attr.test.ctx_size_out;
    *retval = attr.test.retval;
    *duration = attr.test.duration;
    return r;
}

int bpfm_prog_load(uint32_t prog_type, const char *insns, uint32_t insn_cnt, const char *license,
                   const char *name, char *log_buf, uint32_t log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = prog_type;
    attr.insns = PTR(insns);
    attr.insn_cnt = insn_cnt;
    attr.license = PTR(license);
    if (log_buf && log_size) {
        attr.log_buf = PTR(log_buf);
        attr.log_size = log_size;
        attr.log_level = 1;
    }
    copy_name(attr.prog_name, name);
    return sys_bpf(BPF_PROG_LOAD, &attr, sizeof(attr));
}

/* ---- BTF objects (kernel >= 5.4 for GET_FD_BY_ID/GET_NEXT_ID/info on BTF fds) ---- */

int bpfm_btf_get_fd_by_id(uint32_t id)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.btf_id = id;
    return sys_bpf(BPF_BTF_GET_FD_BY_ID, &attr, sizeof(attr));
}

int bpfm_btf_get_next_id(uint32_t start_id, uint32_t *next_id)
{
    return get_next_id(BPF_BTF_GET_NEXT_ID, start_id, next_id);
}

int bpfm_btf_get_info(int fd, char *buf, uint32_t buf_size, struct bpfm_btf_info *out)
{
    struct bpf_btf_info info;
    char name[sizeof(out->name)];
    memset(&info, 0, sizeof(info));
    memset(name, 0, sizeof(name));
    info.btf = PTR(buf);
    info.btf_size = buf ? buf_size : 0;
    info.name = PTR(name);
    info.name_len = sizeof(name);
    int r = obj_info(fd, &info, sizeof(info));
    if (r == 0 && fd_is_anon(fd, "anon_inode:btf") == 0)
        return -EINVAL;
    if (r < 0)
        return r;
    out->id = info.id;
    out->btf_size = info.btf_size;
    out->kernel_btf = info.kernel_btf;
    memcpy(out->name, name, sizeof(out->name));
    out->name[sizeof(out->name) - 1] = 0;
    return 0;
}

int bpfm_btf_load(const char *data, uint32_t size, char *log_buf, uint32_t log_size,
                  uint32_t log_level)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.btf = PTR(data);
    attr.btf_size = size;
    if (log_buf && log_size) {
        attr.btf_log_buf = PTR(log_buf);
        attr.btf_log_size = log_size;
        attr.btf_log_level = log_level ? log_level : 1;
        log_buf[0] = 0;
    }
    return sys_bpf(BPF_BTF_LOAD, &attr, sizeof(attr));
}

int bpfm_close(int fd)
{
    return close(fd) < 0 ? -errno : 0;
}

int bpfm_dup(int fd)
{
    int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return r < 0 ? -errno : r;
}

int bpfm_fd_is_valid(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

int bpfm_dump_elems(int fd, const char *start_key, char *cursor, char *keys, uint32_t key_size,
                    char *values, uint32_t value_stride, uint32_t *count, uint64_t lookup_flags,
                    int delete, uint32_t *steps)
{
    uint32_t max = *count, n = 0, nsteps = 0;
    const char *prev = delete ? NULL : start_key;
    int r = 0;
    *count = 0;
    *steps = 0;
    if (delete) {
        /* collect keys first: deleting the cursor would restart GET_NEXT_KEY */
        uint32_t nk = 0;
        while (nk < max) {
            char *k = keys + (size_t)nk * key_size;
            r = bpfm_map_get_next_key(fd, prev, k);
            if (r < 0)
                break;
            nsteps++;
            prev = k;
            nk++;
        }
        int end = r;
        for (uint32_t i = 0; i < nk; i++) {
            char *k = keys + (size_t)i * key_size;
            char *v = values + (size_t)n * value_stride;
            int rc = bpfm_map_lookup_and_delete_elem(fd, k, v, lookup_flags);
            if (rc == -ENOENT)
                continue; /* removed by someone else meanwhile */
            if (rc < 0) {
                *count = n;
                *steps = nsteps;
                return rc;
            }
            if (n != i)
                memmove(keys + (size_t)n * key_size, k, key_size);
            n++;
        }
        *count = n;
        *steps = nsteps;
        return end == 0 ? 0 : end;
    }
    while (n < max) {
        char *k = keys + (size_t)n * key_size;
        r = bpfm_map_get_next_key(fd, prev, k);
        if (r < 0)
            break;
        nsteps++;
        memcpy(cursor, k, key_size);
        prev = cursor;
        int rc = bpfm_map_lookup_elem(fd, k, values + (size_t)n * value_stride, lookup_flags);
        if (rc == -ENOENT)
            continue; /* deleted between GET_NEXT_KEY and LOOKUP: skip it */
        if (rc < 0) {
            r = rc;
            break;
        }
        n++;
    }
    *count = n;
    *steps = nsteps;
    return r;
}

/* ---- helpers for the parallel batch apply (bpfmaps.bulk) ---------------------- */
#include <stdlib.h>

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t key_hash(const unsigned char *k, uint32_t size)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ size, w;

    while (size >= 8) {
        memcpy(&w, k, 8);
        h = mix64(h ^ w);
        k += 8;
        size -= 8;
    }
    if (size) {
        w = 0;
        memcpy(&w, k, size);
        h = mix64(h ^ w ^ ((uint64_t)size << 56));
    }
    return h;
}

/* Pairwise distinct?  Strictly increasing keys are seen in one pass.  Otherwise the
 * 64-bit hashes are partitioned by their top bits into parts of about 1024 keys
 * (two streaming passes), and each part is checked in a small open-addressing table
 * that stays in the L1/L2 cache: keys are compared only when their hashes are equal.
 * (One table over all keys costs a cache miss or two per key: ~10x slower at 200k.) */
int bpfm_keys_ascending(const char *keys, uint32_t key_size, uint32_t n)
{
    uint32_t i;

    if (!key_size)
        return n < 2;
    for (i = 1; i < n; i++)
        if (memcmp(keys + (size_t)(i - 1) * key_size, keys + (size_t)i * key_size, key_size) >= 0)
            return 0;
    return 1;
}

int bpfm_keys_distinct(const char *keys, uint32_t key_size, uint32_t n)
{
    const unsigned char *k = (const unsigned char *)keys;
    uint32_t i, bits = 0, nparts, maxpart = 0, cap = 16, mask, p;
    uint64_t *hs = NULL, *ph;
    uint32_t *start = NULL, *ix = NULL, *table = NULL;
    int result = 1;

    if (n < 2 || key_size == 0)
        return n < 2 ? 1 : 0;
    for (i = 1; i < n; i++)
        if (memcmp(k + (size_t)(i - 1) * key_size, k + (size_t)i * key_size, key_size) >= 0)
            break;
    if (i == n)
        return 1; /* strictly increasing */
    while (bits < 16 && ((uint64_t)n >> bits) > 1024)
        bits++;
    nparts = 1u << bits;
    hs = malloc((size_t)n * sizeof(uint64_t));
    ph = malloc((size_t)n * sizeof(uint64_t));
    ix = malloc((size_t)n * sizeof(uint32_t));
    start = calloc((size_t)nparts + 1, sizeof(uint32_t));
    if (!hs || !ph || !ix || !start) {
        result = -ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        uint64_t h = key_hash(k + (size_t)i * key_size, key_size);
        hs[i] = h;
        start[bits ? (uint32_t)(h >> (64 - bits)) + 1 : 1]++;
    }
    for (p = 0; p < nparts; p++) {
        if (start[p + 1] > maxpart)
            maxpart = start[p + 1];
        start[p + 1] += start[p];
    }
    /* scatter (hash, index) into their parts; start[p] ends as part p's end */
    {
        uint32_t *fill = malloc((size_t)nparts * sizeof(uint32_t));
        if (!fill) {
            result = -ENOMEM;
            goto out;
        }
        memcpy(fill, start, (size_t)nparts * sizeof(uint32_t));
        for (i = 0; i < n; i++) {
            uint32_t q = bits ? (uint32_t)(hs[i] >> (64 - bits)) : 0, at = fill[q]++;
            ph[at] = hs[i];
            ix[at] = i;
        }
        free(fill);
    }
    while (cap < 2 * (uint64_t)maxpart)
        cap <<= 1;
    mask = cap - 1;
    table = malloc((size_t)cap * sizeof(uint32_t));
    if (!table) {
        result = -ENOMEM;
        goto out;
    }
    for (p = 0; p < nparts && result == 1; p++) {
        uint32_t a = start[p], b = start[p + 1], j;

        if (b - a < 2)
            continue;
        memset(table, 0xff, (size_t)cap * sizeof(uint32_t));
        for (j = a; j < b; j++) {
            uint64_t h = ph[j];
            uint32_t slot = (uint32_t)h & mask;

            while (table[slot] != 0xffffffffu) {
                uint32_t o = table[slot];
                if (ph[o] == h && memcmp(k + (size_t)ix[o] * key_size,
                                         k + (size_t)ix[j] * key_size, key_size) == 0) {
                    result = 0;
                    break;
                }
                slot = (slot + 1) & mask;
            }
            if (result != 1)
                break;
            table[slot] = j;
        }
    }
out:
    free(table);
    free(start);
    free(ix);
    free(ph);
    free(hs);
    return result;
}

int bpfm_update_batch_part(int fd, const char *keys, const char *values, uint32_t key_size,
                           uint32_t value_stride, uint32_t start, uint32_t count,
                           uint32_t chunk, uint64_t elem_flags, int *stop,
                           uint32_t *applied)
{
    uint32_t done = 0;
    int rc = 0;

    if (chunk == 0)
        chunk = count ? count : 1;
    while (done < count) {
        uint32_t c = count - done < chunk ? count - done : chunk;
        uint32_t cnt = c;
        uint64_t off = (uint64_t)start + done;

        if (__atomic_load_n(stop, __ATOMIC_RELAXED))
            break;
        if (STOPPED()) {
            rc = -EINTR; /* a stop signal: report the prefix done */
            __atomic_store_n(stop, 1, __ATOMIC_RELAXED);
            break;
        }
        rc = bpfm_map_update_batch(fd, keys + off * key_size, values + off * value_stride, &cnt,
                                   elem_flags, 0);
        if (rc < 0) {
            /* The kernel's rule (generic_map_update_batch): a failure inside the
             * element loop writes back cp < c, the number applied before it; a
             * failure before the loop (EPERM on a frozen map or read-only fd,
             * EINVAL flags, ENOMEM) leaves count untouched, i.e. == c.  So a
             * failing call never applied all c: count >= c means none. */
            if (cnt >= c)
                cnt = 0;
            done += cnt;
            __atomic_store_n(stop, 1, __ATOMIC_RELAXED);
            break;
        }
        done += c;
    }
    *applied = done;
    return rc;
}

/* MAP_CREATE with BTF for the key and value (btf_fd >= 0; type id 0 = none). */
int bpfm_map_create_btf(uint32_t map_type, uint32_t key_size, uint32_t value_size,
                        uint32_t max_entries, uint32_t map_flags, const char *name,
                        int inner_map_fd, uint32_t numa_node, uint64_t map_extra, int btf_fd,
                        uint32_t btf_key_type_id, uint32_t btf_value_type_id)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = map_type;
    attr.key_size = key_size;
    attr.value_size = value_size;
    attr.max_entries = max_entries;
    attr.map_flags = map_flags;
    attr.inner_map_fd = inner_map_fd > 0 ? (uint32_t)inner_map_fd : 0;
    attr.numa_node = numa_node;
    attr.map_extra = map_extra;
    attr.btf_fd = btf_fd >= 0 ? (uint32_t)btf_fd : 0;
    attr.btf_key_type_id = btf_key_type_id;
    attr.btf_value_type_id = btf_value_type_id;
    copy_name(attr.map_name, name);
    return sys_bpf(BPF_MAP_CREATE, &attr, sizeof(attr));
}
