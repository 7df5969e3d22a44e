/* See _fastparse.h.  Written for bpfmaps from the bpftool batch-file rules in
 * docs/bpftool-syntax.md; no bpftool code.
 *
 * One pass per line: words are read and checked as they are split, byte words are
 * converted on the fly.  Any surprise returns "not simple" and the Python parser
 * takes over at that line. */
#include <stdint.h>
#include <string.h>
#include "_fastparse.h"

#define FP_MAX_LINE 4000
#define FP_MAX_BYTES 2048

/* character classes: 0 word char, 1 separator (space, tab, CR), 2 not simple */
static unsigned char cls[256];
static signed char hexd[256];
static int tables_ready;

static void init_tables(void)
{
    int c;

    for (c = 0; c < 256; c++) {
        cls[c] = 0;
        hexd[c] = -1;
    }
    cls[' '] = cls['\t'] = cls['\r'] = 1;
    cls['\''] = cls['"'] = cls['\\'] = cls[0] = cls['\n'] = 2;
    for (c = '0'; c <= '9'; c++)
        hexd[c] = (signed char)(c - '0');
    for (c = 'a'; c <= 'f'; c++)
        hexd[c] = (signed char)(c - 'a' + 10);
    for (c = 'A'; c <= 'F'; c++)
        hexd[c] = (signed char)(c - 'A' + 10);
    tables_ready = 1;
}

struct cur {
    const unsigned char *p, *e;
};

/* Next word: returns its length (0 at end of line), -1 if a special character. */
static inline int next_word(struct cur *c, const unsigned char **w)
{
    const unsigned char *p = c->p, *e = c->e;

    while (p < e && cls[*p] == 1)
        p++;
    *w = p;
    while (p < e) {
        unsigned char k = cls[*p];
        if (k == 1)
            break;
        if (k == 2)
            return -1;
        p++;
    }
    c->p = p;
    return (int)(p - *w);
}

/* A plain byte word; -1 if not simple. */
static inline int byte_word(const unsigned char *p, int n, int hex)
{
    int v, d, i;

    if (hex) {
        if (n >= 3 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
            p += 2;
            n -= 2;
        }
        if (n == 1)
            return hexd[p[0]];
        if (n == 2) {
            int a = hexd[p[0]], b = hexd[p[1]];
            return (a < 0 || b < 0) ? -1 : a * 16 + b;
        }
        return -1;
    }
    if (p[0] == '0') {
        if (n == 1)
            return 0;
        if (p[1] == 'x' || p[1] == 'X') {
            if (n == 3)
                return hexd[p[2]];
            if (n == 4) {
                int a = hexd[p[2]], b = hexd[p[3]];
                return (a < 0 || b < 0) ? -1 : a * 16 + b;
            }
            return -1;
        }
        if (n > 4)
            return -1;
        v = 0;
        for (i = 1; i < n; i++) {
            d = p[i] - '0';
            if (d < 0 || d > 7)
                return -1;
            v = v * 8 + d;
        }
        return v <= 255 ? v : -1;
    }
    if (n > 3)
        return -1;
    v = 0;
    for (i = 0; i < n; i++) {
        d = p[i] - '0';
        if (d < 0 || d > 9)
            return -1;
        v = v * 10 + d;
    }
    return v <= 255 ? v : -1;
}

#define IS(w, n, s) ((n) == (int)sizeof(s) - 1 && memcmp((w), (s), sizeof(s) - 1) == 0)

/* Parse a list of byte words into out (at most max).  Stops at the first word
 * that is not a byte, which is left in *w / *n.  Returns the count or -1. */
static inline int byte_list(struct cur *c, unsigned char *out, int max, int exact,
                            const unsigned char **w, int *n)
{
    int count = 0, hex = 0, b;

    *n = next_word(c, w);
    if (*n < 0)
        return -1;
    if (IS(*w, *n, "hex")) {
        hex = 1;
        *n = next_word(c, w);
        if (*n < 0)
            return -1;
    }
    while (*n > 0) {
        b = byte_word(*w, *n, hex);
        if (b < 0)
            break;
        if (count >= max)
            return -1;
        out[count++] = (unsigned char)b;
        *n = next_word(c, w);
        if (*n < 0)
            return -1;
    }
    if (exact >= 0 && count != exact)
        return -1;
    return count;
}

/* 1: blank line, 0: simple command parsed into s (and kout/vout), -1: not simple. */
/* The optional last word of an update line: any/noexist/exist (exact), then end of
 * line.  w/n is the word already read (n == 0: none); 0, or -1 (not simple).  *flags
 * is left unchanged when there is no flag word. */
static int parse_tail_flag(struct cur *c, const unsigned char *w, int n, uint32_t *flags)
{
    if (n <= 0)
        return 0;
    if (IS(w, n, "any"))
        *flags = 0;
    else if (IS(w, n, "noexist"))
        *flags = 1;
    else if (IS(w, n, "exist"))
        *flags = 2;
    else
        return -1;
    return next_word(c, &w) == 0 ? 0 : -1;
}

/* Parse a handle ("id N" / "pinned PATH") into s; 0 or -1 (not simple). */
static inline int parse_handle(struct cur *c, const unsigned char *buf, struct bpfm_fp_shape *s)
{
    const unsigned char *w;
    int n = next_word(c, &w);

    if (IS(w, n, "id")) {
        uint64_t v = 0;
        int i;

        n = next_word(c, &w);
        if (n < 1 || n > 10 || (w[0] == '0' && n > 1))
            return -1;
        for (i = 0; i < n; i++) {
            int d = w[i] - '0';
            if (d < 0 || d > 9)
                return -1;
            v = v * 10 + (uint64_t)d;
        }
        if (v > 0xffffffffULL)
            return -1;
        s->handle_kind = 1;
        s->map_id = (uint32_t)v;
        s->path_off = 0;
        s->path_len = 0;
        return 0;
    }
    if (IS(w, n, "pinned")) {
        n = next_word(c, &w);
        if (n <= 0)
            return -1;
        s->handle_kind = 2;
        s->map_id = 0;
        s->path_off = (uint64_t)(w - buf);
        s->path_len = (uint32_t)n;
        return 0;
    }
    return -1;
}

static int parse_line(const unsigned char *buf, const unsigned char *p, const unsigned char *e,
                      struct bpfm_fp_shape *s, const struct bpfm_fp_shape *want,
                      unsigned char *kout, unsigned char *vout)
{
    struct cur c = {p, e};
    const unsigned char *w;
    int n, k, m;

    n = next_word(&c, &w);
    if (n <= 0)
        return n == 0 ? 1 : -1;
    if (!IS(w, n, "map"))
        return -1;
    n = next_word(&c, &w);
    if (!IS(w, n, "update"))
        return -1;
    if (parse_handle(&c, buf, s) < 0)
        return -1;
    if (want && (want->handle_kind != s->handle_kind ||
                 (s->handle_kind == 1 ? want->map_id != s->map_id
                                      : (want->path_len != s->path_len ||
                                         memcmp(buf + want->path_off, buf + s->path_off,
                                                s->path_len)))))
        return -1;
    n = next_word(&c, &w);
    if (n <= 0)
        return -1;
    k = 0;
    if (IS(w, n, "key")) {
        k = byte_list(&c, kout, want ? (int)want->key_size : FP_MAX_BYTES,
                      want ? (int)want->key_size : -1, &w, &n);
        if (k <= 0)
            return -1;
    } else if (want && want->key_size) {
        return -1;
    }
    if (!IS(w, n, "value"))
        return -1;
    m = byte_list(&c, vout, want ? (int)want->value_size : FP_MAX_BYTES,
                  want ? (int)want->value_size : -1, &w, &n);
    if (m <= 0)
        return -1;
    s->key_size = (uint32_t)k;
    s->value_size = (uint32_t)m;
    s->flags = 0;
    if (parse_tail_flag(&c, w, n, &s->flags) < 0)
        return -1;
    if (want && want->flags != s->flags)
        return -1;
    return 0;
}

int bpfm_fp_scan(const char *cbuf, uint64_t len, uint64_t start, uint32_t line, int probe,
                 struct bpfm_fp_shape *shape, uint32_t max_count, char *keys, char *values,
                 uint32_t value_stride, uint32_t slot_stride, uint32_t ncopies,
                 uint32_t *lines, uint64_t *end, uint32_t *end_line)
{
    const unsigned char *buf = (const unsigned char *)cbuf;
    unsigned char kscratch[FP_MAX_BYTES], vscratch[FP_MAX_BYTES];
    uint64_t pos = start, done = start;
    uint32_t count = 0, done_line = line;

    if (!tables_ready)
        init_tables();
    while (pos < len && (probe ? count < 1 : count < max_count)) {
        const unsigned char *p = buf + pos;
        const unsigned char *nl = memchr(p, '\n', len - pos);
        const unsigned char *le = nl ? nl : buf + len;
        uint64_t next = nl ? (uint64_t)(nl - buf) + 1 : len;
        const unsigned char *hash;
        struct bpfm_fp_shape s;
        unsigned char *kout, *vout;
        int r;
        uint32_t ci;

        if (le - p > FP_MAX_LINE)
            break;
        hash = memchr(p, '#', le - p);
        if (hash)
            le = hash;
        if (probe) {
            kout = kscratch;
            vout = vscratch;
        } else {
            kout = (unsigned char *)keys + (uint64_t)count * shape->key_size;
            vout = (unsigned char *)values + (uint64_t)count * value_stride;
        }
        r = parse_line(buf, p, le, &s, probe ? NULL : shape, kout, vout);
        if (r < 0)
            break;
        pos = next;
        line++;
        if (r == 1) { /* blank or comment-only line: harmless to consume */
            if (!probe) {
                done = pos;
                done_line = line;
            }
            continue;
        }
        if (probe) {
            *shape = s;
        } else {
            if (value_stride > s.value_size)
                memset(vout + s.value_size, 0, value_stride - s.value_size);
            for (ci = 1; ci < ncopies; ci++)
                memcpy(vout + (uint64_t)ci * slot_stride, vout, s.value_size);
            lines[count] = line - 1;
        }
        count++;
        done = pos;
        done_line = line;
    }
    if (probe && count == 0) {
        done = pos;
        done_line = line;
    }
    *end = done;
    *end_line = done_line;
    return (int)count;
}

void bpfm_fp_shift_lines(uint32_t *lines, uint32_t n, uint32_t delta)
{
    uint32_t i;

    for (i = 0; i < n; i++)
        lines[i] += delta;
}

/* ---- op streams (see _fastparse.h) ---- */

static inline int find_map(const unsigned char *buf, const struct bpfm_fp_map *maps,
                           uint32_t nmaps, const struct bpfm_fp_shape *s, uint32_t *hint)
{
    uint32_t i, k;

    for (k = 0; k < nmaps; k++) {
        const struct bpfm_fp_map *m;

        i = (*hint + k) % nmaps;
        m = &maps[i];
        if (m->handle_kind != s->handle_kind)
            continue;
        if (s->handle_kind == 1 ? m->map_id == s->map_id
                                : (m->path_len == s->path_len &&
                                   memcmp(buf + m->path_off, buf + s->path_off, s->path_len) == 0)) {
            *hint = i;
            return (int)i;
        }
    }
    return -1;
}

/* 1 blank, 0 op parsed, -1 not simple, -2 unknown handle (*unknown set), -3 no room. */
static int parse_op_line(const unsigned char *buf, const unsigned char *p, const unsigned char *e,
                         const struct bpfm_fp_map *maps, uint32_t nmaps, uint32_t *hint,
                         struct bpfm_op *op, unsigned char *dst, uint64_t room,
                         struct bpfm_fp_shape *unknown)
{
    struct cur c = {p, e};
    const unsigned char *w;
    const struct bpfm_fp_map *m;
    struct bpfm_fp_shape s;
    int n, kind, mi;
    uint64_t need;
    uint32_t ci;

    n = next_word(&c, &w);
    if (n <= 0)
        return n == 0 ? 1 : -1;
    if (!IS(w, n, "map"))
        return -1;
    n = next_word(&c, &w);
    if (IS(w, n, "update"))
        kind = 1;
    else if (IS(w, n, "delete"))
        kind = 2;
    else
        return -1;
    if (parse_handle(&c, buf, &s) < 0)
        return -1;
    mi = find_map(buf, maps, nmaps, &s, hint);
    if (mi < 0) {
        *unknown = s;
        return -2;
    }
    m = &maps[mi];
    if (!m->ok || m->key_size == 0)
        return -1;
    need = m->key_size + (kind == 1 ? (uint64_t)m->slot * m->ncopies : 0);
    if (need > room)
        return -3;
    n = next_word(&c, &w);
    if (!IS(w, n, "key"))
        return -1;
    if (byte_list(&c, dst, (int)m->key_size, (int)m->key_size, &w, &n) < 0)
        return -1;
    op->kind = (uint32_t)kind;
    op->flags = 0;
    op->map = (uint32_t)mi;
    if (kind == 2)
        return n == 0 ? 0 : -1;
    if (!IS(w, n, "value"))
        return -1;
    dst += m->key_size;
    if (byte_list(&c, dst, (int)m->value_size, (int)m->value_size, &w, &n) < 0)
        return -1;
    if (parse_tail_flag(&c, w, n, &op->flags) < 0)
        return -1;
    if (m->slot > m->value_size)
        memset(dst + m->value_size, 0, m->slot - m->value_size);
    for (ci = 1; ci < m->ncopies; ci++)
        memcpy(dst + (uint64_t)ci * m->slot, dst, m->slot);
    return 0;
}

int bpfm_fp_ops(const char *cbuf, uint64_t len, uint64_t start, uint32_t line,
                const struct bpfm_fp_map *maps, uint32_t nmaps, struct bpfm_op *ops,
                uint32_t *nops, uint32_t max_ops, char *data, uint64_t *data_used,
                uint64_t data_cap, uint32_t streak_min, struct bpfm_fp_shape *unknown,
                uint64_t *end, uint32_t *end_line, int *status)
{
    const unsigned char *buf = (const unsigned char *)cbuf;
    uint64_t pos = start, used = *data_used;
    uint32_t count = *nops, first = *nops, hint = 0;
    /* the current streak of updates to one map with one flag */
    uint32_t streak = 0, s_count = 0, s_line = line;
    uint64_t s_pos = start, s_used = used;

    if (!tables_ready)
        init_tables();
    *status = 0;
    while (pos < len) {
        const unsigned char *p = buf + pos;
        const unsigned char *nl = memchr(p, '\n', len - pos);
        const unsigned char *le = nl ? nl : buf + len;
        uint64_t next = nl ? (uint64_t)(nl - buf) + 1 : len;
        const unsigned char *hash;
        struct bpfm_op *op;
        int r;

        if (le - p > FP_MAX_LINE)
            break;
        if (count >= max_ops) {
            *status = 2;
            break;
        }
        hash = memchr(p, '#', le - p);
        if (hash)
            le = hash;
        op = &ops[count];
        r = parse_op_line(buf, p, le, maps, nmaps, &hint, op, (unsigned char *)data + used,
                          data_cap - used, unknown);
        if (r == -2) {
            *status = 1;
            break;
        }
        if (r == -3) {
            *status = 2;
            break;
        }
        if (r < 0)
            break;
        if (r == 1) {
            pos = next;
            line++;
            continue;
        }
        op->line = line;
        op->key_off = used;
        op->value_off = used + maps[op->map].key_size;
        if (op->kind == 1 && streak && ops[count - 1].kind == 1 &&
            ops[count - 1].map == op->map && ops[count - 1].flags == op->flags) {
            streak++;
        } else if (op->kind == 1) {
            streak = 1;
            s_count = count;
            s_pos = pos;
            s_line = line;
            s_used = used;
        } else {
            streak = 0;
        }
        used += maps[op->map].key_size;
        if (op->kind == 1)
            used += (uint64_t)maps[op->map].slot * maps[op->map].ncopies;
        count++;
        pos = next;
        line++;
        if (streak_min && streak >= streak_min) {
            count = s_count;
            pos = s_pos;
            line = s_line;
            used = s_used;
            *status = 3;
            break;
        }
    }
    *nops = count;
    *data_used = used;
    *end = pos;
    *end_line = line;
    return (int)(count - first);
}
