/* See btffmt.h.  Written for bpfmaps from the rules bpfmaps/btf/dumper.py follows
 * (bpftool 7.1's btf_dumper.c and json_writer.c, read, not copied). */
#include <stdint.h>
#include <string.h>
#include "btffmt.h"
#include "decimal.h"

/* op codes (the low byte of code; bpfmaps/btf/fmtprog.py's OPS, checked by a test) */
enum {
    FMT_BEGIN = 1,  /* jsonw_start_object/array: a = '{' or '[' */
    FMT_END = 2,    /* jsonw_end_object/array: a = '}' or ']' */
    FMT_NAME = 3,   /* jsonw_name: the quoted name lits[a:a+b] */
    FMT_TOKEN = 4,  /* jsonw_printf of lits[a:a+b] */
    FMT_UINT = 5,   /* b bytes (1, 2, 4, 8) at a, unsigned decimal */
    FMT_SINT = 6,   /* the same, signed */
    FMT_BITS = 7,   /* b bits from bit c & 0xff of the (c >> 8) bytes at a, "0x%x" */
    FMT_CHAR = 8,   /* a CHAR-encoded int: "c" when printable, else 0x%x / "\u00%02x" */
    FMT_BOOL = 9,   /* true / false */
    FMT_ENUM = 10,  /* b bytes at a, sign-extended, looked up in the c rows that follow
                       (code: low 32 bits, a: high 32 bits, lits[b:b+c]: the quoted name);
                       the first equal row's name, else the signed decimal */
    FMT_PTR = 11,   /* 8 bytes at a: 0x%x or (nil); JSON: unsigned decimal */
    FMT_STRARR = 12, /* a char array of b bytes at a: a printable NUL-terminated string
                        prints quoted and the c ops that follow (its elements) are
                        skipped; else they run */
    FMT_HEXARR = 13, /* the b bytes at a as "0x%02x" strings, one token */
};

#define FMT_SRC_VALUE 0x100u
#define FMT_JSON 0x10000u

struct w {
    char *o;
    int depth, sep, pretty;
};

static const char hexl[] = "0123456789abcdef";

static inline void w_sep(struct w *w)
{
    if (w->sep)
        *w->o++ = ',';
}

static inline void w_eol(struct w *w)
{
    if (w->pretty) {
        *w->o++ = '\n';
        memset(w->o, ' ', (size_t)(4 * w->depth));
        w->o += 4 * w->depth;
    }
}

static inline void w_put(struct w *w, const char *s, uint32_t n)
{
    memcpy(w->o, s, n);
    w->o += n;
}

static uint64_t read_le(const unsigned char *p, uint32_t n)
{
    uint64_t v = 0;

    while (n--)
        v = (v << 8) | p[n];
    return v;
}

static char *put_s64(char *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        return bpfm_put_u64(o, (uint64_t)0 - (uint64_t)v);
    }
    return bpfm_put_u64(o, (uint64_t)v);
}

static char *put_hex128(char *o, unsigned __int128 v)
{
    char num[32];
    int n = 0;

    *o++ = '0';
    *o++ = 'x';
    do {
        num[n++] = hexl[(unsigned)(v & 15)];
        v >>= 4;
    } while (v);
    while (n)
        *o++ = num[--n];
    return o;
}

static int64_t sign_extend(uint64_t v, uint32_t bytes)
{
    if (bytes < 8 && (v >> (8 * bytes - 1)) & 1)
        v |= ~(uint64_t)0 << (8 * bytes);
    return (int64_t)v;
}

/* a printable NUL-terminated string in the n bytes at p (is_str_array's test) */
static int is_string(const unsigned char *p, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (!p[i])
            return 1;
        if (p[i] <= 0x1f || p[i] >= 0x7f)
            return 0;
    }
    return 0;
}

uint64_t bpfm_fmt_run(struct bpfm_fmt_prog *prog, const char *key, const char *val, char *out)
{
    struct w w = {out, prog->depth, prog->sep, prog->pretty};
    const struct bpfm_fmt_op *op = prog->ops, *end = prog->ops + prog->nops;
    const char *lits = prog->lits;

    while (op < end) {
        uint32_t code = op->code, k = code & 0xff;
        const unsigned char *d =
            (const unsigned char *)(code & FMT_SRC_VALUE ? val : key) + op->a;

        switch (k) {
        case FMT_BEGIN:
            w_sep(&w);
            *w.o++ = (char)op->a;
            w.depth++;
            w.sep = 0;
            break;
        case FMT_END:
            w.depth--;
            if (w.sep)
                w_eol(&w);
            *w.o++ = (char)op->a;
            w.sep = 1;
            break;
        case FMT_NAME:
            w_sep(&w);
            w_eol(&w);
            w.sep = 0;
            w_put(&w, lits + op->a, op->b);
            *w.o++ = ':';
            if (w.pretty)
                *w.o++ = ' ';
            break;
        case FMT_TOKEN:
            w_sep(&w);
            w.sep = 1;
            w_put(&w, lits + op->a, op->b);
            break;
        case FMT_UINT:
            w_sep(&w);
            w.sep = 1;
            w.o = bpfm_put_u64(w.o, read_le(d, op->b));
            break;
        case FMT_SINT:
            w_sep(&w);
            w.sep = 1;
            w.o = put_s64(w.o, sign_extend(read_le(d, op->b), op->b));
            break;
        case FMT_BITS: {
            uint32_t nbytes = op->c >> 8, bit = op->c & 0xff, bits = op->b, i;
            unsigned __int128 v = 0;

            for (i = nbytes; i--;)
                v = (v << 8) | d[i];
            v >>= bit;
            if (bits < 128)
                v &= ((unsigned __int128)1 << bits) - 1;
            w_sep(&w);
            w.sep = 1;
            if (code & FMT_JSON)
                *w.o++ = '"';
            w.o = put_hex128(w.o, v);
            if (code & FMT_JSON)
                *w.o++ = '"';
            break;
        }
        case FMT_CHAR: {
            unsigned c = d[0];

            w_sep(&w);
            w.sep = 1;
            if (c >= 0x20 && c <= 0x7e) {
                *w.o++ = '"';
                *w.o++ = (char)c;
                *w.o++ = '"';
            } else if (code & FMT_JSON) {
                w_put(&w, "\"\\u00", 5);
                *w.o++ = hexl[c >> 4];
                *w.o++ = hexl[c & 15];
                *w.o++ = '"';
            } else {
                w.o = put_hex128(w.o, c);
            }
            break;
        }
        case FMT_BOOL:
            w_sep(&w);
            w.sep = 1;
            if (d[0])
                w_put(&w, "true", 4);
            else
                w_put(&w, "false", 5);
            break;
        case FMT_ENUM: {
            uint64_t v = (uint64_t)sign_extend(read_le(d, op->b), op->b);
            const struct bpfm_fmt_op *row = op + 1, *rows_end = op + 1 + op->c;

            w_sep(&w);
            w.sep = 1;
            for (; row < rows_end; row++)
                if ((((uint64_t)row->a << 32) | row->code) == v)
                    break;
            if (row < rows_end)
                w_put(&w, lits + row->b, row->c);
            else
                w.o = put_s64(w.o, (int64_t)v);
            op = rows_end;
            continue;
        }
        case FMT_PTR: {
            uint64_t v = read_le(d, 8);

            w_sep(&w);
            w.sep = 1;
            if (code & FMT_JSON)
                w.o = bpfm_put_u64(w.o, v);
            else if (v)
                w.o = put_hex128(w.o, v);
            else
                w_put(&w, "(nil)", 5);
            break;
        }
        case FMT_STRARR:
            if (is_string(d, op->b)) {
                w_sep(&w);
                w.sep = 1;
                *w.o++ = '"';
                for (; *d; d++) {
                    if (*d == '"') {
                        *w.o++ = '\\';
                        *w.o++ = '"';
                    } else if (*d == '\\') { /* json_writer.c's jsonw_puts writes "\n" */
                        *w.o++ = '\\';
                        *w.o++ = 'n';
                    } else {
                        *w.o++ = (char)*d;
                    }
                }
                *w.o++ = '"';
                op += 1 + op->c;
                continue;
            }
            break;
        case FMT_HEXARR: {
            uint32_t i;

            if (!op->b)
                break;
            w_sep(&w);
            w.sep = 1;
            for (i = 0; i < op->b; i++) {
                if (i)
                    *w.o++ = ',';
                *w.o++ = '"';
                *w.o++ = '0';
                *w.o++ = 'x';
                *w.o++ = hexl[d[i] >> 4];
                *w.o++ = hexl[d[i] & 15];
                *w.o++ = '"';
            }
            break;
        }
        default:
            break;
        }
        op++;
    }
    prog->depth = w.depth;
    prog->sep = w.sep;
    return (uint64_t)(w.o - out);
}
