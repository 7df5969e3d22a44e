/* Decimal numbers as printf's "%" PRIu64 writes them, shared by the C printers
 * (scan.c, btffmt.c).  Not a cdef header: static inline, included by sources only. */
#ifndef BPFM_DECIMAL_H
#define BPFM_DECIMAL_H
#include <stdint.h>

/* v in decimal at o (at most 20 bytes); the end of the output */
static inline char *bpfm_put_u64(char *o, uint64_t v)
{
    char num[20];
    int n = 0;

    do {
        num[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = num[--n];
    return o;
}
#endif
