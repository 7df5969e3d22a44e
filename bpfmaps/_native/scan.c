/* See scan.h.  Written for bpfmaps from the bpftool batch-file rules in
 * docs/bpftool-syntax.md; no bpftool code.
 *
 * One pass per line: words are read and checked as they are split, byte words
 * converted on the fly, straight into the arenas.  Any surprise declines. */
#define _GNU_SOURCE /* mremap */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "btffmt.h"
#include "decimal.h"
#include "scan.h"
#include "../_shim.h"
#include "../_pexec.h"

/* the C loops' stop flag (bpfmaps/_stop.c): set by SIGINT/SIGTERM during a run */
extern volatile sig_atomic_t bpfm_stop_sig;

#define SCAN_MAX_LINE 4000

/* character classes: 0 word character, 1 separator (space, tab, CR), 2 not ordinary
 * (control characters, quotes, backslash, DEL and bytes >= 0x80), 3 '#' (the rest of
 * the line is a comment), 4 '\n' (the end of the line) */
static const unsigned char cls[256] = {
    [0 ... 255] = 2,
    [0x21 ... 0x7e] = 0,
    [' '] = 1, ['\t'] = 1, ['\r'] = 1,
    ['"'] = 2, ['\''] = 2, ['\\'] = 2,
    ['#'] = 3, ['\n'] = 4,
};

static const signed char hexd[256] = {
    [0 ... 255] = -1,
    ['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3, ['4'] = 4,
    ['5'] = 5, ['6'] = 6, ['7'] = 7, ['8'] = 8, ['9'] = 9,
    ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
    ['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14, ['F'] = 15,
};

/* A line is read from p to its '\n' in one pass (words stop at it; no separate
 * search for the end of the line); e is the end of the scanned data. */
struct cur {
    const unsigned char *p, *e;
};

/* Next word: its length, 0 at the end of the line (then c->p is at the line's '\n',
 * or at e for a last line without one; after a '#' it moves there), -1 at a
 * character that is not ordinary (before any '#'). */
static inline int next_word(struct cur *c, const unsigned char **w)
{
    const unsigned char *p = c->p, *e = c->e;

    while (p < e && cls[*p] == 1)
        p++;
    *w = p;
    while (p < e && cls[*p] == 0)
        p++;
    c->p = p;
    if (p < e) {
        unsigned char k = cls[*p];
        if (k == 2)
            return -1;
        if (k == 3) { /* a comment: the line ends at its '\n' */
            const unsigned char *nl = memchr(p, '\n', (size_t)(e - p));

            c->p = nl ? nl : e;
        }
    }
    return (int)(p - *w);
}

#define IS(w, n, s) ((n) == (int)sizeof(s) - 1 && memcmp((w), (s), sizeof(s) - 1) == 0)

/* A plain byte word (0..255): decimal without leading zero, 0-leading octal, 0x hex;
 * in hex mode 1-2 hex digits (optionally 0x-prefixed).  -1 otherwise. */
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

/* The common words of a plain (not hex) DATA clause, taken in one pass: from p (the
 * start of a word) while each word is decimal 1..255 without leading zero or 0-leading
 * octal of at most 4 characters with a value <= 255 (so exactly what byte_word
 * accepts), ended by a separator or the end of the line (its '\n' or e).  Stores the bytes at
 * out[*count..size) and returns where the next word (or the end) starts; it stops
 * at the start of the first word it is not sure of (0x words, long words, a '#', a
 * character that is not ordinary), which the general loop then reads.  ends (or NULL):
 * where each byte's word ends, as offsets from base. */
static inline __attribute__((always_inline)) const unsigned char *
fast_dec(const unsigned char *p, const unsigned char *e, unsigned char *out, uint32_t size,
         uint32_t *count, uint32_t *ends, const unsigned char *base)
{
    uint32_t k = *count;

    while (k < size) {
        const unsigned char *q = p + 1;
        unsigned v = (unsigned)p[0] - '0', d, kq;

        if (e - p >= 6) {
            /* p[0..5] are in the line: no bounds checks inside the word */
            if (v - 1 < 9) {
                if ((d = (unsigned)*q - '0') <= 9) {
                    v = v * 10 + d;
                    q++;
                    if ((d = (unsigned)*q - '0') <= 9) {
                        v = v * 10 + d;
                        q++;
                    }
                }
            } else if (v == 0) {
                if ((d = (unsigned)*q - '0') <= 7) {
                    v = d;
                    q++;
                    if ((d = (unsigned)*q - '0') <= 7) {
                        v = v * 8 + d;
                        q++;
                        if ((d = (unsigned)*q - '0') <= 7) {
                            v = v * 8 + d;
                            q++;
                        }
                    }
                }
            } else {
                break;
            }
            /* q <= p + 4: *q and q[1] are in the data */
            kq = cls[*q];
            if (v > 255 || (kq != 1 && kq != 4))
                break; /* longer, 0x, other characters, '#': the general loop decides */
            if (ends)
                ends[k] = (uint32_t)(q - base);
            out[k++] = (unsigned char)v;
            if (kq == 4) { /* the end of the line */
                p = q;
                break;
            }
            if (*q == ' ' && cls[q[1]] == 0) { /* the usual: one space, then a word */
                p = q + 1;
                continue;
            }
            q++;
            while (q < e && cls[*q] == 1)
                q++;
        } else {
            if (v >= 1 && v <= 9) {
                if (q < e && (d = (unsigned)*q - '0') <= 9) {
                    v = v * 10 + d;
                    q++;
                    if (q < e && (d = (unsigned)*q - '0') <= 9) {
                        v = v * 10 + d;
                        q++;
                    }
                }
            } else if (v == 0) {
                while (q < e && q - p < 4 && (d = (unsigned)*q - '0') <= 7) {
                    v = v * 8 + d;
                    q++;
                }
            } else {
                break;
            }
            if (v > 255 || (q < e && cls[*q] != 1 && cls[*q] != 4))
                break;
            if (ends)
                ends[k] = (uint32_t)(q - base);
            out[k++] = (unsigned char)v;
            while (q < e && cls[*q] == 1)
                q++;
        }
        p = q;
        if (p >= e || cls[*p] != 0)
            break;
    }
    *count = k;
    return p;
}

/* fast_dec for hex mode: words of 1 or 2 hex digits (what byte_word takes in hex mode,
 * but for 0x-prefixed ones, which the general loop reads). */
static inline const unsigned char *fast_hex(const unsigned char *p, const unsigned char *e,
                                            unsigned char *out, uint32_t size,
                                            uint32_t *count)
{
    uint32_t k = *count;

    while (k < size && e - p >= 4) {
        int h0 = hexd[p[0]], h1 = hexd[p[1]];
        unsigned len = 1 + (h1 >= 0);
        unsigned term = cls[p[len]];

        if (h0 < 0 || ((term != 1) & (term != 4)))
            break;
        out[k++] = (unsigned char)(h1 >= 0 ? h0 * 16 + h1 : h0);
        if (term == 4) {
            p += len;
            break;
        }
        if (p[len] == ' ' && cls[p[len + 1]] == 0) {
            p += len + 1;
            continue;
        }
        p += len + 1;
        while (p < e && cls[*p] == 1)
            p++;
        if (p >= e || cls[*p] != 0)
            break;
    }
    *count = k;
    return p;
}

/* DATA := [hex] B1..Bsize, exactly size bytes into out; then *w and *n hold the next
 * word (n == 0: end of line).  0, or -1 (decline).  from > 0: the first from bytes of
 * a plain DATA clause are already in out and c->p is after their words (see
 * key_prefix).  ends (or NULL): where each byte's word ends, as offsets from base. */
static inline __attribute__((always_inline)) int
data_words_from(struct cur *c, unsigned char *out, uint32_t size, uint32_t from, uint32_t *ends,
                const unsigned char *base, const unsigned char **w, int *n)
{
    uint32_t count = from;
    int hex = 0, b;
    const unsigned char *p = c->p;

    while (p < c->e && cls[*p] == 1)
        p++;
    if (size > count && p < c->e && (unsigned)*p - '0' <= 9) {
        /* not "hex": the same words the loop below would read, faster; it resumes
         * at the first word the fast path left (or reads the word after the data) */
        p = c->p = fast_dec(p, c->e, out, size, &count, ends, base);
        if (count == size && c->e - p > 5 && !memcmp(p, "value", 5) && cls[p[5]] == 1) {
            *w = p; /* the usual next word (what next_word reads there) */
            *n = 5;
            c->p = p + 5;
        } else {
            *n = next_word(c, w);
        }
    } else {
        *n = next_word(c, w);
        if (!from && IS(*w, *n, "hex")) {
            hex = 1;
            p = c->p;
            while (p < c->e && cls[*p] == 1)
                p++;
            if (size && p < c->e && cls[*p] == 0)
                c->p = fast_hex(p, c->e, out, size, &count);
            *n = next_word(c, w);
        }
    }
    while (count < size) {
        if (*n <= 0)
            return -1;
        b = byte_word(*w, *n, hex);
        if (b < 0)
            return -1;
        if (ends)
            ends[count] = (uint32_t)(*w + *n - base);
        out[count++] = (unsigned char)b;
        *n = next_word(c, w);
    }
    /* one more byte word would be an error in the reference ("expected key or
     * value"): it is not a keyword, so the callers decline it */
    return 0;
}

/* data_words_from without a known prefix or ends: values, keys after a new head */
static int data_words(struct cur *c, unsigned char *out, uint32_t size, const unsigned char **w,
                      int *n)
{
    return data_words_from(c, out, size, 0, NULL, NULL, w, n);
}

/* data_words_from for keys after a repeated head (see key_prefix) */
static int key_words(struct cur *c, unsigned char *out, uint32_t size, uint32_t from,
                     uint32_t *ends, const unsigned char *base, const unsigned char **w, int *n)
{
    return data_words_from(c, out, size, from, ends, base, w, n);
}

/* MAP := id N | pinned WORD | name WORD into h; 0 or -1. */
static inline int parse_handle(struct cur *c, const unsigned char *buf, struct bpfm_scan_map *h)
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
        memset(h, 0, sizeof(*h));
        h->handle_kind = 1;
        h->map_id = (uint32_t)v;
        h->text_off = 0;
        h->text_len = 0;
        return 0;
    }
    if (IS(w, n, "pinned"))
        h->handle_kind = 2;
    else if (IS(w, n, "name"))
        h->handle_kind = 3;
    else
        return -1;
    n = next_word(c, &w);
    if (n <= 0 || (h->handle_kind == 3 && n > 15))
        return -1;
    h->map_id = 0;
    h->text_off = (uint64_t)(w - buf);
    h->text_len = (uint32_t)n;
    return 0;
}

static inline int find_map(const unsigned char *buf, const struct bpfm_scan_map *maps,
                           uint32_t nmaps, const struct bpfm_scan_map *h, uint32_t *hint)
{
    uint32_t i, k;

    for (k = 0; k < nmaps; k++) {
        const struct bpfm_scan_map *m;

        i = *hint + k;
        if (i >= nmaps)
            i -= nmaps;
        m = &maps[i];
        if (m->handle_kind != h->handle_kind)
            continue;
        if (h->handle_kind == 1 ? m->map_id == h->map_id
                                : (m->text_len == h->text_len &&
                                   memcmp(buf + m->text_off, buf + h->text_off, h->text_len) == 0)) {
            *hint = i;
            return (int)i;
        }
    }
    return -1;
}

/* The optional update flag, then the end of the line.  0 or -1. */
static inline int tail_flag(struct cur *c, const unsigned char *w, int n, uint32_t *flags)
{
    *flags = 0;
    if (n == 0)
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

enum { L_OP = 0, L_BLANK = 1, L_DECLINE = -1, L_UNKNOWN = -2, L_FULL = -3, L_RUN_END = -4 };

/* The text of a recent update's value clause (from the word "value" to the end of
 * its line, its '\n' included) and where its parsed value went: files repeat values, and the same
 * bytes parse to the same value and flag, so a repeated tail is copied, not parsed. */
struct tail {
    const struct bpfm_scan_map *map;
    const unsigned char *text;
    uint64_t len;
    uint64_t value_off;
    uint32_t flags;
};

/* the recent tails and heads a line is compared with (files alternate a few of them:
 * verbs, maps, flags), the most recently matched first; new ones replace the oldest */
#define NTAILS 8
#define NHEADS 8

struct tails {
    struct tail t[NTAILS];
    uint32_t mru, next;
};

/* keys of at most this many bytes are remembered after their head (see key_prefix) */
#define KEY_WORDS_MAX 64

/* The head of the last line with a key clause ("map VERB MAP key " up to its first
 * data word): files repeat it, and the same bytes give the same verb, map and
 * checks, so a line that starts with them goes straight to its key.  key: the last
 * plain (not hex) key taken after this head on a line that repeated it (NULL: none;
 * alternating heads remember nothing): its text from its first word, ends[i] where
 * its word i ends (an offset from key; ends[size - 1]: the end of the text), its
 * bytes at keys[koff]. */
struct head {
    const struct bpfm_scan_map *map;
    const unsigned char *text;
    uint64_t len;    /* at least 16 bytes; UINT64_MAX: no head */
    uint32_t kind;
    uint32_t flags;
    const unsigned char *key;
    uint64_t koff;
    uint32_t ends[KEY_WORDS_MAX];
};

struct heads {
    struct head h[NHEADS];
    uint32_t mru, next;
};

static inline uint64_t load8(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

/* a[0:n) == b[0:n) for n >= 8 (8 bytes at a time, the last 8 overlapping) */
static inline int same_bytes(const unsigned char *a, const unsigned char *b, uint64_t n)
{
    uint64_t i;

    for (i = 0; i + 8 < n; i += 8)
        if (load8(a + i) != load8(b + i))
            return 0;
    return load8(a + n - 8) == load8(b + n - 8);
}

/* The remembered head the line at p starts with (then followed by a word character),
 * or NULL. */
static inline struct head *find_head(struct heads *hs, const unsigned char *p,
                                     const unsigned char *e)
{
    uint64_t room = (uint64_t)(e - p);
    uint32_t i = hs->mru, k;

    for (k = 0; k < NHEADS; k++, i = (i + 1) & (NHEADS - 1)) {
        struct head *x = &hs->h[i];

        if (room > x->len && cls[p[x->len]] == 0 && same_bytes(p, x->text, x->len)) {
            hs->mru = i;
            return x;
        }
    }
    return NULL;
}

/* The remembered tail of map m the value clause at w repeats, or NULL. */
static inline const struct tail *find_tail(struct tails *ts, const struct bpfm_scan_map *m,
                                           const unsigned char *w, const unsigned char *e)
{
    uint32_t i = ts->mru, k;
    const struct tail *x = &ts->t[i];

    /* the last one matched: usually again */
    if (x->map == m && (uint64_t)(e - w) >= x->len && w[x->len - 1] == '\n' &&
        !memcmp(x->text, w, x->len))
        return x;
    for (k = 1, i = (i + 1) & (NTAILS - 1); k < NTAILS; k++, i = (i + 1) & (NTAILS - 1)) {
        x = &ts->t[i];
        if (x->map == m && (uint64_t)(e - w) >= x->len && w[x->len - 1] == '\n' &&
            !memcmp(x->text, w, x->len)) {
            ts->mru = i;
            return x;
        }
    }
    return NULL;
}

/* The leading words a key at t (the data to e) shares with hd->key: those ended by
 * a separator within the prefix the two texts have in common are the same text and
 * so the same byte words (a plain DATA clause: a word's byte depends on its text
 * only); fewer than size (the last word is always read).  Copies their bytes to out
 * (their ends in hd->ends are the new key's too); returns their number, *resume:
 * where the next word may start.  Files of increasing or nearby keys share most of
 * each key's words. */
static inline uint32_t key_prefix(const struct head *hd, const unsigned char *t,
                                  const unsigned char *e, const char *keys, uint32_t size,
                                  unsigned char *out, const unsigned char **resume)
{
    const unsigned char *o = hd->key;
    uint64_t lim = hd->ends[size - 1], l = 0;
    uint32_t nw;

    if ((uint64_t)(e - t) < lim)
        lim = (uint64_t)(e - t);
    while (l + 8 <= lim) {
        uint64_t a, b;

        memcpy(&a, o + l, 8);
        memcpy(&b, t + l, 8);
        if (a != b) {
            l += (uint64_t)__builtin_ctzll(a ^ b) >> 3;
            goto found;
        }
        l += 8;
    }
    if (l < lim) {
        if ((uint64_t)(e - t) - l >= 8) { /* o + l + 8 is before t + l: both in the data */
            uint64_t d = load8(o + l) ^ load8(t + l), k;

            k = d ? (uint64_t)__builtin_ctzll(d) >> 3 : 8;
            l += k < lim - l ? k : lim - l;
        } else {
            while (l < lim && o[l] == t[l])
                l++;
        }
    }
found:
    nw = size - 1; /* usually only the last words differ: count down */
    while (nw && hd->ends[nw - 1] >= l)
        nw--;
    *resume = nw ? t + hd->ends[nw - 1] + 1 : t;
    if (nw <= 8 && size >= 8) /* out has room for 8 (bytes after nw are parsed next) */
        memcpy(out, keys + hd->koff, 8);
    else
        memcpy(out, keys + hd->koff, nw);
    return nw;
}

/* 1 when the line at p (e: the end of the data) is too long for the scanner: the
 * reference reads lines of SCAN_MAX_LINE bytes and more (fgets chunks). */
static int long_line(const unsigned char *p, const unsigned char *e)
{
    uint64_t room = (uint64_t)(e - p);

    return room >= SCAN_MAX_LINE && !memchr(p, '\n', SCAN_MAX_LINE);
}

/* The line at p (e: the end of the data) into s->ops[s->nops] and the arenas; *le is
 * where it ends (its '\n', or e) for L_OP and L_BLANK. */
static int scan_line(struct bpfm_scan *s, const unsigned char *p, const unsigned char *e,
                     uint32_t *hint, struct tails *ts, struct heads *hs,
                     const unsigned char **le)
{
    const unsigned char *buf = (const unsigned char *)s->buf;
    struct cur c = {p, e};
    const unsigned char *w, *tw;
    const struct bpfm_scan_map *m;
    struct bpfm_scan_map h;
    struct bpfm_op *op;
    unsigned char *kout, *vout;
    uint32_t kind, flags = 0, ci, kfrom = 0, *ke = NULL;
    uint64_t vneed;
    int n, mi, withkey;
    const unsigned char *kstart = NULL;
    const struct tail *last;
    struct head *hd = find_head(hs, p, e);

    if (hd) {
        m = hd->map;
        kind = hd->kind;
        flags = hd->flags;
        if (s->nops >= s->max_ops)
            return L_FULL;
        vneed = kind == BPFM_OP_UPDATE ? (uint64_t)m->slot * m->ncopies : 0;
        if (s->keys_used + m->key_size > s->keys_cap || s->values_used + vneed > s->values_cap)
            return L_FULL;
        kout = (unsigned char *)s->keys + s->keys_used;
        vout = (unsigned char *)s->values + s->values_used;
        c.p = kstart = p + hd->len;
        if (m->key_size <= KEY_WORDS_MAX) {
            if (hd->key)
                kfrom = key_prefix(hd, kstart, e, s->keys, m->key_size, kout, &c.p);
            hd->key = NULL; /* hd->ends are this key's from here on */
            ke = hd->ends;
        }
        goto key_data;
    }
    n = next_word(&c, &w);
    if (n == 0) {
        *le = c.p;
        return c.p - p < SCAN_MAX_LINE ? L_BLANK : L_DECLINE;
    }
    if (!IS(w, n, "map"))
        return L_DECLINE;
    n = next_word(&c, &w);
    switch (n) {
    case 3:
        if (memcmp(w, "pop", 3))
            return L_DECLINE;
        kind = BPFM_OP_POP;
        break;
    case 4:
        if (!memcmp(w, "push", 4))
            kind = BPFM_OP_UPDATE;
        else if (!memcmp(w, "peek", 4)) {
            kind = BPFM_OP_LOOKUP;
            flags = 1;
        } else
            return L_DECLINE;
        break;
    case 6:
        if (!memcmp(w, "update", 6))
            kind = BPFM_OP_UPDATE;
        else if (!memcmp(w, "delete", 6))
            kind = BPFM_OP_DELETE;
        else if (!memcmp(w, "lookup", 6))
            kind = BPFM_OP_LOOKUP;
        else
            return L_DECLINE;
        break;
    case 7:
        if (!memcmp(w, "enqueue", 7))
            kind = BPFM_OP_UPDATE;
        else if (!memcmp(w, "getnext", 7))
            kind = BPFM_OP_GETNEXT;
        else if (!memcmp(w, "dequeue", 7)) {
            kind = BPFM_OP_POP;
            flags = 1;
        } else
            return L_DECLINE;
        break;
    default:
        return L_DECLINE;
    }
    if (parse_handle(&c, buf, &h) < 0)
        return L_DECLINE;
    mi = find_map(buf, s->maps, s->nmaps, &h, hint);
    if (mi < 0) {
        if (long_line(p, e))
            return L_DECLINE;
        if (s->run && s->nops)
            return L_RUN_END; /* not the run's map: the next scan resolves it */
        s->unknown = h;
        return L_UNKNOWN;
    }
    m = &s->maps[mi];
    if (!(m->caps & (1u << kind)))
        return L_DECLINE;
    if (s->nops >= s->max_ops)
        return L_FULL;
    vneed = kind == BPFM_OP_UPDATE ? (uint64_t)m->slot * m->ncopies : 0;
    if (s->keys_used + m->key_size > s->keys_cap || s->values_used + vneed > s->values_cap)
        return L_FULL;
    kout = (unsigned char *)s->keys + s->keys_used;
    vout = (unsigned char *)s->values + s->values_used;
    n = next_word(&c, &w);
    withkey = 0;
    if (IS(w, n, "key")) {
        const unsigned char *q = c.p;

        if (!m->key_size || kind == BPFM_OP_POP)
            return L_DECLINE;
        while (q < c.e && cls[*q] == 1)
            q++;
        if (q < c.e && cls[*q] == 0) { /* remember the head up to the first data word */
            hs->mru = hs->next;
            hs->next = (hs->next + 1) & (NHEADS - 1);
            hd = &hs->h[hs->mru];
            hd->map = m;
            hd->text = p;
            hd->len = (uint64_t)(q - p);
            hd->kind = kind;
            hd->flags = flags;
            hd->key = NULL; /* a key is remembered from the head's second line on */
        }
    key_data:
        if (ke ? key_words(&c, kout, m->key_size, kfrom, ke, kstart, &w, &n) < 0
               : data_words(&c, kout, m->key_size, &w, &n) < 0)
            return L_DECLINE;
        withkey = 1;
    } else if (m->key_size && kind != BPFM_OP_GETNEXT && kind != BPFM_OP_POP) {
        return L_DECLINE;
    }
    switch (kind) {
    case BPFM_OP_UPDATE:
        if (!IS(w, n, "value"))
            return L_DECLINE;
        if ((last = find_tail(ts, m, w, e)) != NULL) {
            /* the same tail, '\n' included: the line ends there */
            memcpy(vout, s->values + last->value_off, vneed);
            flags = last->flags;
            c.p = w + last->len - 1;
            break;
        }
        tw = w;
        if (data_words(&c, vout, m->value_size, &w, &n) < 0)
            return L_DECLINE;
        if (tail_flag(&c, w, n, &flags) < 0)
            return L_DECLINE;
        if (m->slot > m->value_size)
            memset(vout + m->value_size, 0, m->slot - m->value_size);
        for (ci = 1; ci < m->ncopies; ci++)
            memcpy(vout + (uint64_t)ci * m->slot, vout, m->slot);
        if (c.p < e) { /* at the line's '\n' */
            struct tail *t = &ts->t[ts->next];

            ts->mru = ts->next;
            ts->next = (ts->next + 1) & (NTAILS - 1);
            t->map = m;
            t->text = tw;
            t->len = (uint64_t)(c.p + 1 - tw);
            t->value_off = s->values_used;
            t->flags = flags;
        }
        break;
    case BPFM_OP_GETNEXT:
        flags = (uint32_t)withkey;
        /* fall through */
    default:
        if (n != 0)
            return L_DECLINE;
    }
    if (c.p - p >= SCAN_MAX_LINE)
        return L_DECLINE;
    if (s->run) {
        /* run mode (scan.h): the first op's record stays in ops[0], the last's goes
         * to ops[1]; an op of another run ends the scan before its line */
        const struct bpfm_op *r = &s->ops[0];

        if ((kind != BPFM_OP_UPDATE && kind != BPFM_OP_DELETE) ||
            (s->nops && (kind != r->kind || flags != r->flags || m->index != r->map)))
            return L_RUN_END;
        op = &s->ops[s->nops ? 1 : 0];
    } else {
        op = &s->ops[s->nops];
    }
    *le = c.p;
    op->kind = kind;
    op->flags = flags;
    op->map = m->index;
    op->line = s->line;
    op->key_off = withkey ? (uint32_t)s->keys_used : BPFM_NO_KEY;
    op->value_off = (uint32_t)s->values_used;
    op->pos = (uint64_t)(p - buf);
    s->nops++;
    if (withkey) {
        if (ke && (unsigned)*kstart - '0' <= 9) { /* a plain key after a known head */
            hd->key = kstart;
            hd->koff = s->keys_used;
        }
        s->keys_used += m->key_size;
    }
    s->values_used += vneed;
    return L_OP;
}

int bpfm_scan(struct bpfm_scan *s)
{
    const unsigned char *buf = (const unsigned char *)s->buf;
    uint64_t pos = s->pos, len = s->len;
    uint32_t first = s->nops, hint = 0;
    int status = BPFM_SCAN_END;
    struct tails ts;
    struct heads hs;
    const unsigned char *end = buf + len;
    int k;

    ts.mru = ts.next = hs.mru = hs.next = 0;
    for (k = 0; k < NTAILS; k++)
        ts.t[k].map = NULL;
    for (k = 0; k < NHEADS; k++)
        hs.h[k].len = UINT64_MAX;
    while (pos < len) {
        const unsigned char *le;
        int r;

        s->pos = pos;
        r = scan_line(s, buf + pos, end, &hint, &ts, &hs, &le);
        if (r < 0) {
            status = r == L_UNKNOWN   ? BPFM_SCAN_UNKNOWN
                     : r == L_FULL    ? BPFM_SCAN_FULL
                     : r == L_RUN_END ? BPFM_SCAN_RUN_END
                                      : BPFM_SCAN_DECLINE;
            break;
        }
        pos = le < end ? (uint64_t)(le - buf) + 1 : len;
        s->line++;
    }
    s->pos = pos;
    s->status = status;
    return (int)(s->nops - first);
}

/* ---------------------------------------------------------------- arenas and jobs */

static uint64_t page_size(void)
{
    static uint64_t page;

    if (!page) {
        long v = sysconf(_SC_PAGESIZE);

        page = v > 0 ? (uint64_t)v : 4096;
    }
    return page;
}

static inline uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* An anonymous mapping of at least size bytes (page-aligned); NULL if none. */
static char *map_anon(uint64_t len)
{
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    return p == MAP_FAILED ? NULL : (char *)p;
}

/* the first page of an arena's mapping: what to unmap */
struct arena_hdr {
    uint64_t len;
};

char *bpfm_arena_new(uint64_t size)
{
    uint64_t page = page_size();
    /* one page for the header, one page of room at the end (bpfm_scan_finish moves
     * whole pages to the end of the used bytes) */
    uint64_t len = page + round_up(size + 1, page) + page;
    char *base = map_anon(len);

    if (!base)
        return NULL;
    ((struct arena_hdr *)base)->len = len;
    return base + page;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int bpfm_arena_populate(char *p, uint64_t len)
{
    uint64_t page = page_size();
    uint64_t room = ((struct arena_hdr *)(p - page))->len - 2 * page;

    if (len > room)
        len = room;
    len &= ~(page - 1);
    if (!len)
        return 0;
    return madvise(p, (size_t)len, MADV_POPULATE_WRITE) ? -errno : 0;
}

void bpfm_arena_free(char *p)
{
    char *base;

    if (!p)
        return;
    base = p - page_size();
    munmap(base, (size_t)((struct arena_hdr *)base)->len);
}

/* A segment scanned in its own thread, into its own mappings. */
struct bpfm_scan_job {
    struct bpfm_scan s;
    struct bpfm_scan_map *maps;          /* the table, copied at the start */
    char *mem[3];                        /* ops, keys, values mappings */
    uint64_t mem_len[3];
    uint64_t start;                      /* where the segment starts */
    pthread_t thread;
};

static void *job_main(void *arg)
{
    struct bpfm_scan_job *j = arg;

    bpfm_scan(&j->s);
    return NULL;
}

static void job_free(struct bpfm_scan_job *j)
{
    int i;

    for (i = 0; i < 3; i++)
        if (j->mem[i] && j->mem_len[i])
            munmap(j->mem[i], (size_t)j->mem_len[i]);
    free(j->maps);
    free(j);
}

struct bpfm_scan_job *bpfm_scan_start(const struct bpfm_scan *s)
{
    struct bpfm_scan_job *j = calloc(1, sizeof(*j));
    uint64_t page = page_size(), need[3];
    sigset_t all, old;
    int i, rc;

    if (!j)
        return NULL;
    j->s = *s;
    j->start = s->pos;
    j->maps = malloc(((size_t)s->nmaps + 1) * sizeof(*j->maps));
    if (!j->maps)
        goto fail;
    memcpy(j->maps, s->maps, (size_t)s->nmaps * sizeof(*j->maps));
    j->s.maps = j->maps;
    /* room for the segment, and for one page more (see bpfm_scan_finish) */
    need[0] = (uint64_t)(s->run ? 2 : s->max_ops) * sizeof(struct bpfm_op);
    need[1] = s->keys_cap;
    need[2] = s->values_cap;
    for (i = 0; i < 3; i++) {
        j->mem_len[i] = round_up(need[i] + 1, page) + page;
        j->mem[i] = map_anon(j->mem_len[i]);
        if (!j->mem[i])
            goto fail;
    }
    j->s.ops = (struct bpfm_op *)j->mem[0];
    j->s.keys = j->mem[1];
    j->s.values = j->mem[2];
    j->s.nops = 0;
    j->s.keys_used = j->s.values_used = 0;
    /* signals go to the other threads (the interpreter's handlers run there) */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&j->thread, NULL, job_main, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        goto fail;
    return j;
fail:
    job_free(j);
    return NULL;
}

/* Append n bytes from src (a mapping of src_len bytes with a page of room after them)
 * at dst + used (dst: an arena with room for used + n bytes and a page more).  Whole
 * pages are moved (no copy, no new page faults): src's bytes are first shifted by the
 * offset of dst + used in its page, the bytes of that page before it copied in front.
 * *moved: the bytes of src that are no longer mapped there. */
static void append_pages(char *dst, uint64_t used, char *src, uint64_t n, uint64_t *moved)
{
    uint64_t page = page_size(), r = used & (page - 1), len;
    char *to = dst + used - r;

    *moved = 0;
    if (n < 16 * page) { /* small: a copy is cheaper than the page tables */
        memcpy(dst + used, src, (size_t)n);
        return;
    }
    memmove(src + r, src, (size_t)n);
    memcpy(src, to, (size_t)r);
    len = round_up(r + n, page);
    if (mremap(src, (size_t)len, (size_t)len, MREMAP_MAYMOVE | MREMAP_FIXED, to) == MAP_FAILED) {
        memcpy(dst + used, src + r, (size_t)n); /* pages not moved: copied */
        return;
    }
    *moved = len;
}

int bpfm_scan_finish(struct bpfm_scan_job *j, struct bpfm_scan *s, int merge)
{
    struct bpfm_scan *t = &j->s;
    struct bpfm_op *o;
    uint64_t moved;
    uint32_t i, recs;
    int i3;

    pthread_join(j->thread, NULL);
    merge = merge && s->status == BPFM_SCAN_END && s->pos == j->start && s->len == j->start &&
            s->nops + (uint64_t)t->nops <= s->max_ops &&
            s->keys_used + t->keys_used <= s->keys_cap &&
            s->values_used + t->values_used <= s->values_cap;
    /* run mode: the job's ops must continue the run of s */
    recs = s->run ? (t->nops < 2 ? t->nops : 2) : t->nops;
    if (merge && s->run && s->nops && t->nops)
        merge = t->ops[0].kind == s->ops[0].kind && t->ops[0].flags == s->ops[0].flags &&
                t->ops[0].map == s->ops[0].map;
    if (!merge) {
        job_free(j);
        return 0;
    }
    /* the segment's ops as the serial scan would have written them: lines counted on
     * from the end of s, offsets into the joined arenas */
    for (i = 0, o = t->ops; i < recs; i++, o++) {
        o->line += s->line;
        if (o->key_off != BPFM_NO_KEY)
            o->key_off += (uint32_t)s->keys_used;
        o->value_off += (uint32_t)s->values_used;
    }
    if (s->run) {
        /* the records of the joined run: its first and its last */
        if (!s->nops && t->nops)
            s->ops[0] = t->ops[0];
        if (s->nops + t->nops >= 2 && t->nops)
            s->ops[1] = t->ops[recs - 1];
    } else {
        append_pages((char *)s->ops, (uint64_t)s->nops * sizeof(*o), j->mem[0],
                     (uint64_t)t->nops * sizeof(*o), &moved);
        j->mem[0] += moved;
        j->mem_len[0] -= moved;
    }
    append_pages(s->keys, s->keys_used, j->mem[1], t->keys_used, &moved);
    j->mem[1] += moved;
    j->mem_len[1] -= moved;
    append_pages(s->values, s->values_used, j->mem[2], t->values_used, &moved);
    j->mem[2] += moved;
    j->mem_len[2] -= moved;
    s->nops += t->nops;
    s->keys_used += t->keys_used;
    s->values_used += t->values_used;
    s->pos = t->pos;
    s->len = t->len;
    s->line += t->line;
    s->status = t->status;
    s->unknown = t->unknown;
    for (i3 = 0; i3 < 3; i3++)
        if (!j->mem_len[i3])
            j->mem[i3] = NULL;
    job_free(j);
    return 1;
}

int bpfm_find_runs(const struct bpfm_op *ops, uint32_t n, uint32_t run_min, uint32_t *out,
                   uint32_t max_out)
{
    uint32_t i = 0, found = 0;

    while (i < n) {
        const struct bpfm_op *a = &ops[i];
        uint32_t start = i, map = a->map;
        uint64_t kf; /* kind and flags, adjacent in the record: one compare */

        i++;
        if (a->kind != BPFM_OP_UPDATE && a->kind != BPFM_OP_DELETE)
            continue;
        memcpy(&kf, (const char *)a, sizeof(kf));
        for (; i < n; i++) {
            uint64_t b;

            memcpy(&b, (const char *)&ops[i], sizeof(b));
            if (b != kf || ops[i].map != map)
                break;
        }
        if (i - start >= run_min) {
            if (found == max_out)
                return -1;
            out[2 * found] = start;
            out[2 * found + 1] = i;
            found++;
        }
    }
    return (int)found;
}

static inline char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

#define PUT(o, s) put((o), (s), sizeof(s) - 1)

/* The words of the scanned line at p (end: the end of the data) as JSON strings joined
 * by "," (the compact layout), written at o: its words stop at its '\n', a '#' or end.
 * Returns the end of the output (at most 3 bytes per byte of the line, plus 2, plus 16
 * bytes written beyond it).  Scanned lines are printable ASCII, separators and comments:
 * the bytes before the end are word characters (copied) and separators (cls 1: each
 * run of them between two words becomes "\",\""). */
static char *json_words_scalar(char *o, const unsigned char *p, const unsigned char *end,
                               int prev)
{
    for (; p < end; p++) {
        unsigned char c = *p, k = cls[c];

        if (k == 0) {
            *o++ = (char)c;
            prev = 0;
        } else if (k == 1) {
            if (!prev)
                o = PUT(o, "\",\"");
            prev = 1;
        } else {
            break; /* '\n' or '#' */
        }
    }
    return prev ? o - 3 : o; /* trailing separators: no word follows */
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* pshufb controls that write 8 line bytes with each separator among them (bit j of the
 * index: byte j is one; no two adjacent) as "\",\"" (source bytes 8 and 9: '"' and ',');
 * json_olen: the output length, 8 + 2 * popcount(index). */
static unsigned char json_shuf[256][16];
static unsigned char json_olen[256]; /* their output lengths */
static pthread_once_t json_once = PTHREAD_ONCE_INIT;
static int json_simd;

static void json_init(void)
{
    unsigned m, j, k, eax, ebx, ecx, edx;

    for (m = 0; m < 256; m++) {
        memset(json_shuf[m], 0x80, 16);
        if (m & (m >> 1))
            continue; /* adjacent separators: not used (the scalar loop) */
        for (j = 0, k = 0; j < 8; j++) {
            if (m & (1u << j)) {
                json_shuf[m][k++] = 8;
                json_shuf[m][k++] = 9;
                json_shuf[m][k++] = 8;
            } else {
                json_shuf[m][k++] = (unsigned char)j;
            }
        }
        json_olen[m] = (unsigned char)k;
    }
    /* cpuid here, on the first JSON line, rather than __builtin_cpu_supports: that
     * links libgcc's CPU model constructor, which runs cpuid at every dlopen of the
     * extension (a trap to the hypervisor in a VM: ~45 us of each process's start) */
    json_simd = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_SSSE3);
}

/* Bytes p[0:n) of a line (no '\n' or '#' among them) as json_words_scalar writes
 * them; *prev: the byte before them was a separator (in and out). */
static inline char *json_span(char *o, const unsigned char *p, int n, int *prev)
{
    int i;

    for (i = 0; i < n; i++) {
        if (cls[p[i]] == 0) {
            *o++ = (char)p[i];
            *prev = 0;
        } else {
            if (!*prev)
                o = PUT(o, "\",\"");
            *prev = 1;
        }
    }
    return o;
}

/* json_words_scalar 16 bytes at a time while 16 line bytes are left before end (then
 * 8): bytes without the line's end and without a run of separators go through one
 * shuffle per 8 (json_shuf); the others, and the last bytes, byte by byte. */
__attribute__((target("ssse3"))) static char *json_words_simd(char *o, const unsigned char *p,
                                                              const unsigned char *end)
{
    const __m128i nl = _mm_set1_epi8('\n'), hash = _mm_set1_epi8('#');
    const __m128i x21 = _mm_set1_epi8(0x21);
    const __m128i qc = _mm_set_epi8(0, 0, 0, 0, 0, 0, ',', '"', 0, 0, 0, 0, 0, 0, ',', '"');
    int prev = 0;

    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        unsigned m;

        if (_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, hash))))
            break; /* the line ends in these 16 bytes */
        /* the 16 bytes are the line's (printable ASCII or separators): signed < 0x21 */
        m = (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, x21));
        if ((m & (m >> 1)) || (prev && (m & 1))) {
            o = json_span(o, p, 16, &prev);
        } else {
            _mm_storeu_si128((__m128i *)o,
                             _mm_shuffle_epi8(_mm_unpacklo_epi64(v, qc),
                                              _mm_loadu_si128((const __m128i *)json_shuf[m & 255])));
            o += json_olen[m & 255];
            _mm_storeu_si128((__m128i *)o,
                             _mm_shuffle_epi8(_mm_unpackhi_epi64(v, qc),
                                              _mm_loadu_si128((const __m128i *)json_shuf[m >> 8])));
            o += json_olen[m >> 8];
            prev = (int)(m >> 15);
        }
        p += 16;
    }
    while (end - p >= 8) {
        __m128i v = _mm_loadl_epi64((const __m128i *)p);
        unsigned m;

        if (_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, hash))) &
            0xff)
            break;
        m = (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, x21)) & 0xff;
        if ((m & (m >> 1)) || (prev && (m & 1))) {
            o = json_span(o, p, 8, &prev);
        } else {
            _mm_storeu_si128((__m128i *)o,
                             _mm_shuffle_epi8(_mm_unpacklo_epi64(v, qc),
                                              _mm_loadu_si128((const __m128i *)json_shuf[m])));
            o += json_olen[m];
            prev = (int)(m >> 7);
        }
        p += 8;
    }
    return json_words_scalar(o, p, end, prev);
}
#endif

/* bpftool's compact JSON item of the scanned line at p (see bpfm_json_nulls) at o. */
static char *json_line_words(char *o, const unsigned char *p, const unsigned char *end);

static char *json_item(char *o, const unsigned char *p, const unsigned char *end)
{
    o = PUT(o, "{\"command\":[");
    o = json_line_words(o, p, end);
    return PUT(o, "],\"output\":null}");
}

/* the most bytes one compact item of a scanned line (shorter than SCAN_MAX_LINE) takes,
 * and the bytes json_item may write beyond it */
#define JSON_ITEM_MAX (3 * SCAN_MAX_LINE + 64)

int bpfm_json_nulls(const char *cbuf, uint64_t len, const struct bpfm_op *ops, uint32_t n,
                    int pretty, char *out, uint64_t cap, uint64_t *used)
{
    const unsigned char *buf = (const unsigned char *)cbuf;
    uint64_t u = 0;
    uint32_t i;

#if defined(__x86_64__) && defined(__GNUC__)
    pthread_once(&json_once, json_init);
#endif
    if (!pretty) {
        /* one pass over each line's bytes, no search for its end first */
        for (i = 0; i < n; i++) {
            char *o = out + u;

            if (u + JSON_ITEM_MAX + 16 > cap) { /* near the end of out: measure the line */
                const unsigned char *l = buf + ops[i].pos;
                const unsigned char *nl = memchr(l, '\n', len - ops[i].pos);

                if (u + (uint64_t)((nl ? nl : buf + len) - l) * 3 + 128 > cap)
                    break;
            }
            if (i)
                *o++ = ',';
            o = json_item(o, buf + ops[i].pos, buf + len);
            u = (uint64_t)(o - out);
        }
        *used = u;
        return (int)i;
    }
    for (i = 0; i < n; i++) {
        const unsigned char *p = buf + ops[i].pos, *e, *h, *w;
        const unsigned char *nl = memchr(p, '\n', len - ops[i].pos);
        char *o;
        int first = 1;

        e = nl ? nl : buf + len;
        h = memchr(p, '#', (size_t)(e - p));
        if (h)
            e = h;
        if (u + (uint64_t)(e - p) * 9 + 128 > cap)
            break;
        o = out + u;
        if (i)
            o = PUT(o, ",\n");
        o = PUT(o, "    {\n        \"command\": [");
        while (p < e) {
            while (p < e && cls[*p] == 1)
                p++;
            if (p == e)
                break;
            w = p;
            while (p < e && cls[*p] != 1)
                p++;
            if (!first)
                *o++ = ',';
            o = PUT(o, "\n            ");
            *o++ = '"';
            o = put(o, (const char *)w, (size_t)(p - w));
            *o++ = '"';
            first = 0;
        }
        o = first ? PUT(o, "],\n        \"output\": null\n    }")
                  : PUT(o, "\n        ],\n        \"output\": null\n    }");
        u = (uint64_t)(o - out);
    }
    *used = u;
    return (int)i;
}

static const char hexc_j[] = "0123456789abcdef";

/* "0x%02x" strings of d[0:n) as bpftool's print_hex_data_json writes them, at o */
static char *json_hex(char *o, const unsigned char *d, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        *o++ = '0';
        *o++ = 'x';
        *o++ = hexc_j[d[i] >> 4];
        *o++ = hexc_j[d[i] & 15];
        *o++ = '"';
    }
    return o;
}


/* n spaces at o */
static inline char *indent(char *o, int n)
{
    memset(o, ' ', (size_t)n);
    return o + n;
}

/* the scanned line's words at o as json_item writes them between its brackets
 * (nothing for a line without words) */
static char *json_line_words(char *o, const unsigned char *p, const unsigned char *end)
{
    while (p < end && cls[*p] == 1)
        p++;
    if (p < end && cls[*p] == 0) {
        *o++ = '"';
#if defined(__x86_64__) && defined(__GNUC__)
        if (json_simd)
            o = json_words_simd(o, p, end);
        else
#endif
            o = json_words_scalar(o, p, end, 0);
        *o++ = '"';
    }
    return o;
}

/* a pretty hex array member's value ("[" items "\n" <in> "]", or "[]") at o */
static char *json_hex_pretty(char *o, const unsigned char *d, uint32_t n, int in)
{
    if (!n)
        return PUT(o, "[]");
    *o++ = '[';
    o = json_hex(o, d, n);
    *o++ = '\n';
    o = indent(o, in);
    *o++ = ']';
    return o;
}

/* a per-CPU value's {"cpu": c, "value": [...]} objects at o, one slot of round_up(vs, 8)
 * bytes a CPU, separated by ","; pretty: the -jp layout of an item's output (the
 * objects at depth 4, their members at 5) */
static char *json_cpus(char *o, const unsigned char *val, uint32_t vs, uint32_t ncpus,
                       int pretty)
{
    uint32_t c, step = (vs + 7) & ~7u;

    for (c = 0; c < ncpus; c++) {
        const unsigned char *d = val + (size_t)c * step;

        if (c)
            *o++ = ',';
        o = pretty ? PUT(o, "{\n                    \"cpu\": ") : PUT(o, "{\"cpu\":");
        o = bpfm_put_u64(o, c);
        if (pretty) {
            o = PUT(o, ",\n                    \"value\": ");
            o = json_hex_pretty(o, d, vs, 20);
            o = PUT(o, "\n                }");
        } else {
            o = PUT(o, ",\"value\":[");
            o = json_hex(o, d, vs);
            o = PUT(o, "]}");
        }
    }
    return o;
}

/* one compact item's output at o: a lookup's {"key":..,"value":..[,"formatted":..]};
 * ncpus > 0: a per-CPU map's "values":[{"cpu":i,"value":..},...], one slot of
 * round_up(vs, 8) bytes a CPU */
static char *item_output_compact(char *o, const unsigned char *key, uint32_t ks,
                                 const unsigned char *val, uint32_t vs, uint32_t ncpus,
                                 struct bpfm_fmt_prog *fmt)
{
    o = PUT(o, "{\"key\":[");
    o = json_hex(o, key, ks);
    if (ncpus) {
        o = PUT(o, "],\"values\":[");
        o = json_cpus(o, val, vs, ncpus, 0);
    } else {
        o = PUT(o, "],\"value\":[");
        o = json_hex(o, val, vs);
    }
    *o++ = ']';
    if (fmt) { /* a map with BTF: its "formatted" object (compact) */
        o = PUT(o, ",\"formatted\":");
        fmt->sep = 0;
        o += bpfm_fmt_run(fmt, (const char *)key, (const char *)val, o);
    }
    *o++ = '}';
    return o;
}

/* the same in bpftool's -jp layout, as the output member of a batch item */
static char *item_output_pretty(char *o, const unsigned char *key, uint32_t ks,
                                const unsigned char *val, uint32_t vs, uint32_t ncpus,
                                struct bpfm_fmt_prog *fmt)
{
    o = PUT(o, "{\n            \"key\": ");
    o = json_hex_pretty(o, key, ks, 12);
    if (ncpus) {
        o = PUT(o, ",\n            \"values\": [");
        o = json_cpus(o, val, vs, ncpus, 1);
        o = PUT(o, "\n            ]");
    } else {
        o = PUT(o, ",\n            \"value\": ");
        o = json_hex_pretty(o, val, vs, 12);
    }
    if (fmt) { /* a map with BTF: its "formatted" object at depth 3 */
        o = PUT(o, ",\n            \"formatted\": ");
        fmt->sep = 0;
        o += bpfm_fmt_run(fmt, (const char *)key, (const char *)val, o);
    }
    return PUT(o, "\n        }");
}

/* a getnext's output at o: {"key":null|[..],"next_key":[..]} (pretty: -jp, members at 12) */
static char *item_getnext(char *o, const unsigned char *key, const unsigned char *next,
                          uint32_t ks, int pretty)
{
    o = pretty ? PUT(o, "{\n            \"key\": ") : PUT(o, "{\"key\":");
    if (!key) {
        o = PUT(o, "null");
    } else if (pretty) {
        o = json_hex_pretty(o, key, ks, 12);
    } else {
        *o++ = '[';
        o = json_hex(o, key, ks);
        *o++ = ']';
    }
    if (pretty) {
        o = PUT(o, ",\n            \"next_key\": ");
        o = json_hex_pretty(o, next, ks, 12);
        return PUT(o, "\n        }");
    }
    o = PUT(o, ",\"next_key\":[");
    o = json_hex(o, next, ks);
    return PUT(o, "]}");
}

int bpfm_json_items(const char *cbuf, uint64_t len, const struct bpfm_op *ops, uint32_t n,
                    int pretty, const char *keys, const uint32_t *key_size,
                    const uint32_t *value_size, const uint32_t *ncpus,
                    struct bpfm_fmt_prog **fmts, const char *vals, uint64_t *vals_used,
                    char *out, uint64_t cap, uint64_t *used)
{
    const unsigned char *buf = (const unsigned char *)cbuf;
    uint64_t u = 0, v = vals_used ? *vals_used : 0;
    uint32_t i;

#if defined(__x86_64__) && defined(__GNUC__)
    pthread_once(&json_once, json_init);
#endif
    for (i = 0; i < n; i++) {
        const struct bpfm_op *op = ops + i;
        const unsigned char *l = buf + op->pos;
        const unsigned char *nl = memchr(l, '\n', len - op->pos);
        int look = vals && (op->kind == BPFM_OP_LOOKUP || op->kind == BPFM_OP_POP);
        int next = vals && op->kind == BPFM_OP_GETNEXT;
        struct bpfm_fmt_prog *fmt = look && fmts ? fmts[op->map] : (struct bpfm_fmt_prog *)0;
        uint64_t need = (uint64_t)((nl ? nl : buf + len) - l) * 3 + 160;
        char *o = out + u, *w;

        if (next)
            need += 14 * (uint64_t)key_size[op->map] + 96;
        if (look) {
            uint64_t nc = ncpus && ncpus[op->map] ? ncpus[op->map] : 1;

            need += 7 * ((uint64_t)key_size[op->map] + nc * value_size[op->map]) + 96 + 80 * nc;
        }
        if (fmt)
            need += fmt->need + 32;
        if (u + need > cap)
            break;
        if (i)
            *o++ = ',';
        o = pretty ? PUT(o, "{\n        \"command\": [") : PUT(o, "{\"command\":[");
        w = o;
        o = json_line_words(o, l, buf + len);
        if (pretty && o != w) {
            *o++ = '\n';
            o = indent(o, 8);
        }
        o = pretty ? PUT(o, "],\n        \"output\": ") : PUT(o, "],\"output\":");
        if (next) {
            const unsigned char *k = op->key_off == BPFM_NO_KEY
                                         ? (const unsigned char *)0 /* "key": null */
                                         : (const unsigned char *)keys + op->key_off;

            o = item_getnext(o, k, (const unsigned char *)vals + v, key_size[op->map], pretty);
            v += key_size[op->map];
        } else if (!look) {
            o = PUT(o, "null");
        } else {
            const unsigned char *k = op->key_off == BPFM_NO_KEY
                                         ? (const unsigned char *)"" /* a pop: "key": [] */
                                         : (const unsigned char *)keys + op->key_off;
            const unsigned char *d = (const unsigned char *)vals + v;
            uint32_t ks = key_size[op->map], vs = value_size[op->map];
            uint32_t nc = ncpus ? ncpus[op->map] : 0;

            o = pretty ? item_output_pretty(o, k, ks, d, vs, nc, fmt)
                       : item_output_compact(o, k, ks, d, vs, nc, fmt);
            v += nc ? (uint64_t)nc * ((vs + 7) & ~7u) : vs; /* (a per-CPU value's slots) */
        }
        o = pretty ? PUT(o, "\n    }") : PUT(o, "}");
        u = (uint64_t)(o - out);
    }
    *used = u;
    if (vals_used)
        *vals_used = v;
    return (int)i;
}

/* the most ops one batch call of bpfm_exec_print takes */
#define BPFM_GROUP_MAX 1024
/* the kernel's ENOTSUPP (no batch op for the map type), not in userspace errno.h */
#define ENOTSUPP_ 524

static const char hexc[] = "0123456789abcdef";

/* bytes.format_bytes: rows of 16 "%02x" bytes separated by one space, two spaces
 * after the 8th; rows separated by a newline. */
static char *fmt_bytes(char *o, const unsigned char *d, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (i) {
            if (i % 16 == 0)
                *o++ = '\n';
            else if (i % 16 == 8) {
                *o++ = ' ';
                *o++ = ' ';
            } else
                *o++ = ' ';
        }
        *o++ = hexc[d[i] >> 4];
        *o++ = hexc[d[i] & 15];
    }
    return o;
}

/* bytes.format_entry for a map that is not per-CPU. */
static char *fmt_entry(char *o, const unsigned char *key, uint32_t ks, const unsigned char *val,
                       uint32_t vs)
{
    int brk = ks > 16 || vs > 16;
    int single = ks + vs <= 24 && !brk;

    if (ks) {
        o = PUT(o, "key:");
        *o++ = brk ? '\n' : ' ';
        o = fmt_bytes(o, key, ks);
        o = single ? PUT(o, "  ") : PUT(o, "\n");
    }
    if (vs) {
        o = PUT(o, "value:");
        *o++ = brk ? '\n' : ' ';
        o = fmt_bytes(o, val, vs);
    }
    *o++ = '\n';
    return o;
}

/* bytes.format_entry for a per-CPU map: key, then one "value (CPU NN):" line (or row
 * block) a CPU, the value of CPU c at val + c * round_up(vs, 8). */
static char *fmt_entry_percpu(char *o, const unsigned char *key, uint32_t ks,
                              const unsigned char *val, uint32_t vs, uint32_t ncpus)
{
    uint32_t step = (vs + 7) & ~7u, c;

    if (ks) {
        o = PUT(o, "key:\n");
        o = fmt_bytes(o, key, ks);
        *o++ = '\n';
    }
    if (vs)
        for (c = 0; c < ncpus; c++) {
            char num[12];
            int n = 0;
            uint32_t x = c;

            do {
                num[n++] = (char)('0' + x % 10);
                x /= 10;
            } while (x);
            if (n < 2)
                num[n++] = '0'; /* "%02d" */
            o = PUT(o, "value (CPU ");
            while (n)
                *o++ = num[--n];
            *o++ = ')';
            *o++ = ':';
            *o++ = vs > 16 ? '\n' : ' ';
            o = fmt_bytes(o, val + (size_t)c * step, vs);
            *o++ = '\n';
        }
    return o;
}

/* The ops from o (at most left) that can go with o as one batch call on its map:
 * same kind and map, BPF_ANY updates or deletes, keys (and values) contiguous. */
static uint32_t group_len(const struct bpfm_op *o, uint32_t left, const struct bpfm_print_map *m)
{
    uint32_t n = 1;

    if (left > BPFM_GROUP_MAX)
        left = BPFM_GROUP_MAX;
    if (o->key_off == BPFM_NO_KEY || !m->key_size)
        return 1;
    if (o->kind == BPFM_OP_UPDATE) {
        if (!(m->batch & BPFM_GROUP_UPDATE) || o->flags != 0)
            return 1;
        while (n < left && o[n].kind == BPFM_OP_UPDATE && o[n].map == o->map &&
               o[n].flags == 0 && o[n].key_off == o->key_off + n * m->key_size &&
               o[n].value_off == o->value_off + n * m->value_buf)
            n++;
    } else if (o->kind == BPFM_OP_DELETE) {
        if (!(m->batch & BPFM_GROUP_DELETE))
            return 1;
        while (n < left && o[n].kind == BPFM_OP_DELETE && o[n].map == o->map &&
               o[n].key_off == o->key_off + n * m->key_size)
            n++;
    }
    return n;
}

/* a lookup's entry (key, its value v) appended at out + u as m shows it; the new u */
static uint64_t print_lookup(char *out, uint64_t u, const struct bpfm_print_map *m,
                             const char *key, const char *v)
{
    if (m->plain == 2) { /* JSON: the value as it is (a per-CPU map's: every slot) */
        uint32_t n = m->ncpus ? m->value_buf : m->value_size;

        memcpy(out + u, v, n);
        return u + n;
    }
    if (m->fmt) { /* BTF: the pretty object and a newline (print_key_value) */
        m->fmt->sep = 0;
        u += bpfm_fmt_run(m->fmt, key, v, out + u);
        out[u++] = '\n';
        return u;
    }
    if (m->ncpus)
        return (uint64_t)(fmt_entry_percpu(out + u, (const unsigned char *)key, m->key_size,
                                           (const unsigned char *)v, m->value_size, m->ncpus) -
                          out);
    return (uint64_t)(fmt_entry(out + u, (const unsigned char *)key, m->key_size,
                                (const unsigned char *)v, m->value_size) -
                      out);
}

/* maps == NULL: every map as this one (nothing printed, nothing grouped; never written,
 * since only a nonzero batch is ever cleared) */
static struct bpfm_print_map no_print;

int bpfm_exec_print(const struct bpfm_op *ops, uint32_t count, const int *fds, const char *keys,
                    const char *values, struct bpfm_print_map *maps, char *vbuf, char *out,
                    uint64_t out_cap, uint64_t *out_used, uint32_t *done)
{
    const struct bpfm_op *o = ops;
    uint64_t u = *out_used;
    uint32_t i;
    uint32_t single = 0; /* ops left to run one by one (after a failed batch call) */
    struct bpfm_pexec *px = bpfm_pexec_current(); /* the thread's exec program, if any */
    int rc;

    for (i = 0; i < count; i++, o++) {
        const char *key = o->key_off == BPFM_NO_KEY ? NULL : keys + o->key_off;
        struct bpfm_print_map *m = maps ? &maps[o->map] : &no_print;

        if (bpfm_stop_sig) { /* a stop signal: -EINTR before the next syscall */
            *done = i;
            *out_used = u;
            return -EINTR;
        }

        if (px && !single &&
            (o->kind == BPFM_OP_UPDATE || o->kind == BPFM_OP_DELETE ||
             o->kind == BPFM_OP_LOOKUP)) {
            /* a segment of updates/deletes (and lookups on its maps with look, printed
             * here) on the program's maps: one program run (_pexec.h); it stops at
             * the first op refused, with that op's errno */
            uint32_t n = bpfm_pexec_segment(px, o, count - i, fds, maps, maps ? out_cap - u : 0);

            if (n) {
                uint32_t applied, j;

                rc = bpfm_pexec_run(px, o, n, keys, values, &applied);
                for (j = 0; j < applied; j++) /* the lookups' entries, in op order */
                    if (o[j].kind == BPFM_OP_LOOKUP)
                        u = print_lookup(out, u, &maps[o[j].map], keys + o[j].key_off,
                                         bpfm_pexec_value(px, j));
                if (rc == 0) {
                    i += n - 1;
                    o += n - 1;
                    continue;
                }
                if (rc != -EPROTO) {
                    *done = i + applied;
                    *out_used = u;
                    /* a lookup that found nothing: the caller runs it again and
                     * reports it (as the syscall's failure below) */
                    return o[applied].kind == BPFM_OP_LOOKUP ? 1 : rc;
                }
                /* the program failed as a whole (now unused): the rest by syscall */
                i += applied;
                o += applied;
                key = o->key_off == BPFM_NO_KEY ? NULL : keys + o->key_off;
                m = maps ? &maps[o->map] : &no_print;
                if (bpfm_stop_sig) {
                    *done = i;
                    *out_used = u;
                    return -EINTR;
                }
            }
        }

        if (single)
            single--;
        else if ((o->kind == BPFM_OP_UPDATE || o->kind == BPFM_OP_DELETE) && m->batch) {
            uint32_t n = group_len(o, count - i, m);

            if (n > 1) {
                uint32_t cnt = n;

                rc = o->kind == BPFM_OP_UPDATE
                         ? bpfm_map_update_batch(fds[o->map], key, values + o->value_off, &cnt,
                                                 0, 0)
                         : bpfm_map_delete_batch(fds[o->map], key, &cnt, 0, 0);
                if (rc == 0 && cnt == n) {
                    i += n - 1;
                    o += n - 1;
                    continue;
                }
                if (rc == 0 || cnt >= n) {
                    /* refused as a whole (no batch support, bad fd...): one by one;
                     * only a kernel without the batch command refuses it for good */
                    if (rc == -EINVAL || rc == -ENOTSUPP_ || rc == -EOPNOTSUPP)
                        m->batch = 0;
                    cnt = 0;
                }
                /* ops [i, i + cnt) are applied; the rest of the group goes one by one,
                 * so a failure is reported at its op with the single command's errno */
                i += cnt;
                o += cnt;
                single = n - cnt - 1; /* cnt < n: this op is the first of them */
                key = o->key_off == BPFM_NO_KEY ? NULL : keys + o->key_off;
                if (bpfm_stop_sig) {
                    *done = i;
                    *out_used = u;
                    return -EINTR;
                }
            }
        }

        if (o->kind == BPFM_OP_UPDATE)
            rc = bpfm_map_update_elem(fds[o->map], key, values + o->value_off, o->flags);
        else if (o->kind == BPFM_OP_DELETE)
            rc = bpfm_map_delete_elem(fds[o->map], key);
        else if ((o->kind == BPFM_OP_LOOKUP || o->kind == BPFM_OP_GETNEXT ||
                  o->kind == BPFM_OP_POP) &&
                 m->plain &&
                 u + 6 * ((uint64_t)m->key_size + m->value_buf) + 64 + 24 * (uint64_t)m->ncpus +
                         (m->fmt ? m->fmt->need + 1 : 0) >
                     out_cap)
            rc = u ? 2 : 1; /* out is full: the caller prints it and calls again */
        else if (o->kind == BPFM_OP_LOOKUP && m->plain) {
            rc = bpfm_map_lookup_elem(fds[o->map], key, vbuf, 0);
            if (rc < 0)
                rc = 1; /* the caller runs it again and reports it */
            else
                u = print_lookup(out, u, m, key, vbuf);
        } else if (o->kind == BPFM_OP_POP && m->plain && !m->key_size) {
            /* a queue's or stack's pop: its value printed as a keyless lookup's */
            rc = bpfm_map_lookup_and_delete_elem(fds[o->map], NULL, vbuf, 0);
            if (rc < 0)
                rc = 1; /* nothing was taken: the caller runs it again and reports it */
            else
                u = print_lookup(out, u, m, NULL, vbuf);
        } else if (o->kind == BPFM_OP_GETNEXT && m->plain && m->key_size) {
            /* the next key goes to vbuf (at least key_size bytes) */
            rc = bpfm_map_get_next_key(fds[o->map], key, vbuf);
            if (rc < 0) {
                rc = 1; /* the caller runs it again and reports it */
            } else if (m->plain == 2) {
                /* JSON: the next key as it is (bpfm_json_items writes the item) */
                memcpy(out + u, vbuf, m->key_size);
                u += m->key_size;
            } else {
                char *t = out + u;

                if (key) {
                    t = PUT(t, "key:\n");
                    t = fmt_bytes(t, (const unsigned char *)key, m->key_size);
                    t = PUT(t, "\nnext key:\n");
                } else {
                    t = PUT(t, "key: None\nnext key:\n");
                }
                t = fmt_bytes(t, (const unsigned char *)vbuf, m->key_size);
                *t++ = '\n';
                u = (uint64_t)(t - out);
            }
        } else
            rc = 1;
        if (rc != 0) {
            *done = i;
            *out_used = u;
            return rc;
        }
    }
    *done = count;
    *out_used = u;
    return 0;
}

/* bpftool's "values" member of a per-CPU entry (print_entry_json): one object
 * {"cpu": c, "value": [...]} a CPU, the value of CPU c at val + c * round_up(vs, 8);
 * in < 0: compact, else pretty with the entry's members indented in spaces. */
static char *json_percpu_values(char *o, const unsigned char *val, uint32_t vs,
                                uint32_t ncpus, int in)
{
    uint32_t step = (vs + 7) & ~7u, c;

    o = in < 0 ? PUT(o, "\"values\":[") : PUT(o, "\"values\": [");
    for (c = 0; c < ncpus; c++) {
        if (c)
            *o++ = ',';
        if (in < 0) {
            o = PUT(o, "{\"cpu\":");
            o = bpfm_put_u64(o, c);
            o = PUT(o, ",\"value\":[");
            o = json_hex(o, val + (size_t)c * step, vs);
            o = PUT(o, "]}");
            continue;
        }
        o = PUT(o, "{\n");
        o = indent(o, in + 8);
        o = PUT(o, "\"cpu\": ");
        o = bpfm_put_u64(o, c);
        o = PUT(o, ",\n");
        o = indent(o, in + 8);
        o = PUT(o, "\"value\": [");
        o = json_hex(o, val + (size_t)c * step, vs);
        *o++ = '\n';
        o = indent(o, in + 8);
        o = PUT(o, "]\n");
        o = indent(o, in + 4);
        *o++ = '}';
    }
    if (in >= 0) {
        *o++ = '\n';
        o = indent(o, in);
    }
    *o++ = ']';
    return o;
}

/* the next entry of a batched dump into *key, *val: 0, -ENOENT at the end, 3 when the
 * batch call failed (the caller walks on without it) */
static int batch_next(int fd, uint32_t key_size, struct bpfm_dump_batch *b, char **key,
                      char **val)
{
    while (b->i == b->n) {
        uint32_t cnt = b->cap;
        int rc;

        if (b->ended)
            return -ENOENT;
        if (bpfm_stop_sig)
            return -EINTR;
        b->calls++;
        rc = bpfm_map_lookup_batch(fd, b->started ? b->in_tok : NULL, b->out_tok, b->keys,
                                   b->vals, &cnt, 0, 0);
        if (rc < 0 && rc != -ENOENT)
            return 3;
        if (rc == -ENOENT)
            b->ended = 1;
        b->started = 1;
        memcpy(b->in_tok, b->out_tok, b->tok_size);
        b->n = cnt;
        b->i = 0;
    }
    *key = b->keys + (size_t)b->i * key_size;
    *val = b->vals + (size_t)b->i * b->vstride;
    b->i++;
    return 0;
}

int bpfm_dump_print(int fd, uint32_t key_size, uint32_t value_size, uint32_t ncpus, int json,
                    struct bpfm_fmt_prog *prog, struct bpfm_dump_batch *batch, char *prev,
                    int *have_prev, char *kbuf, char *vbuf, uint32_t steps, char *out, uint64_t cap, uint64_t *used, uint32_t *count, int *lookup_err)
{
    uint64_t u = *used;
    uint64_t nv = ncpus ? ncpus : 1;
    uint64_t need = (json ? 7 : 4) * ((uint64_t)key_size + nv * value_size) + 64 +
                    16 * (uint64_t)json + (ncpus ? nv * (48 + 12 * (uint64_t)json) : 0);
    uint32_t k;
    int rc;

    if (prog)
        need = prog->need;

    for (k = 0; k < steps; k++) {
        if (u + need > cap) {
            *used = u;
            return 2;
        }
        if (bpfm_stop_sig) {
            *used = u;
            return -EINTR;
        }
        if (batch) {
            rc = batch_next(fd, key_size, batch, &kbuf, &vbuf);
            if (rc) {
                *used = u;
                return rc;
            }
        } else {
            rc = bpfm_map_get_next_key(fd, *have_prev ? prev : NULL, kbuf);
            if (rc < 0) {
                *used = u;
                return rc;
            }
            rc = bpfm_map_lookup_elem(fd, kbuf, vbuf, 0);
            if (rc < 0) {
                *lookup_err = rc;
                *used = u;
                return 1;
            }
        }
        if (prog) {
            u += bpfm_fmt_run(prog, kbuf, vbuf, out + u);
        } else if (json == 1) {
            char *o = out + u;

            if (u)
                *o++ = ',';
            o = PUT(o, "{\"key\":[");
            o = json_hex(o, (const unsigned char *)kbuf, key_size);
            if (ncpus) {
                o = PUT(o, "],");
                o = json_percpu_values(o, (const unsigned char *)vbuf, value_size, ncpus, -1);
            } else {
                o = PUT(o, "],\"value\":[");
                o = json_hex(o, (const unsigned char *)vbuf, value_size);
                *o++ = ']';
            }
            *o++ = '}';
            u = (uint64_t)(o - out);
        } else if (json) { /* pretty: {\n<in>"key": [..\n<in>],\n<in>"value": [..\n<in>]\n<out>} */
            char *o = out + u;
            int in = 4 * json, outd = 4 * (json - 1);

            if (u)
                *o++ = ',';
            *o++ = '{';
            *o++ = '\n';
            memset(o, ' ', in), o += in;
            o = PUT(o, "\"key\": [");
            o = json_hex(o, (const unsigned char *)kbuf, key_size);
            *o++ = '\n';
            memset(o, ' ', in), o += in;
            o = PUT(o, "],\n");
            memset(o, ' ', in), o += in;
            if (ncpus) {
                o = json_percpu_values(o, (const unsigned char *)vbuf, value_size, ncpus, in);
                *o++ = '\n';
            } else {
                o = PUT(o, "\"value\": [");
                o = json_hex(o, (const unsigned char *)vbuf, value_size);
                *o++ = '\n';
                memset(o, ' ', in), o += in;
                o = PUT(o, "]\n");
            }
            memset(o, ' ', outd), o += outd;
            *o++ = '}';
            u = (uint64_t)(o - out);
        } else if (ncpus) {
            u = (uint64_t)(fmt_entry_percpu(out + u, (const unsigned char *)kbuf, key_size,
                                            (const unsigned char *)vbuf, value_size, ncpus) -
                           out);
        } else {
            u = (uint64_t)(fmt_entry(out + u, (const unsigned char *)kbuf, key_size,
                                     (const unsigned char *)vbuf, value_size) -
                           out);
        }
        memcpy(prev, kbuf, key_size);
        *have_prev = 1;
        ++*count;
    }
    *used = u;
    return 0;
}
