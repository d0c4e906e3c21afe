/* utf8.h - UTF-8 validation as RFC 3629 defines it: no overlong forms, no
 * UTF-16 surrogates, nothing above U+10FFFF. JSON text must be UTF-8
 * (RFC 8259), and strings from a request may be echoed into a response. */
#ifndef LOSSD_UTF8_H
#define LOSSD_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Between two bytes: how many continuation bytes are still due, and the
 * range the next one must fall in (narrower after E0, ED, F0 and F4).
 * { 0 } starts a text. */
typedef struct utf8_state {
    uint8_t need, lo, hi;
} utf8_state;

/* Feed one byte (for text that arrives in pieces): 0 while the text can
 * still be valid, -1 at the first byte that makes it invalid. */
static inline int utf8_byte(utf8_state *s, unsigned char c)
{
    if (s->need > 0) {
        if (c < s->lo || c > s->hi)
            return -1;
        s->need--;
        s->lo = 0x80, s->hi = 0xbf;
        return 0;
    }
    if (c < 0x80)
        return 0;
    s->lo = 0x80, s->hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        s->need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        s->need = 2;
        if (c == 0xe0)
            s->lo = 0xa0;            /* below: overlong */
        else if (c == 0xed)
            s->hi = 0x9f;            /* above: a surrogate */
    } else if (c >= 0xf0 && c <= 0xf4) {
        s->need = 3;
        if (c == 0xf0)
            s->lo = 0x90;            /* below: overlong */
        else if (c == 0xf4)
            s->hi = 0x8f;            /* above: past U+10FFFF */
    } else {
        return -1;                   /* 80-C1 (continuation, overlong lead), F5-FF */
    }
    return 0;
}

/* The offset of the first byte that makes buf[0, n) invalid UTF-8 (n when
 * it ends inside a sequence), or -1 when it is valid. */
int64_t utf8_invalid_at(const char *buf, size_t n);

/* Untrusted text made fit for a message: bytes outside printable ASCII
 * become '?', and text longer than size - 4 bytes is cut and ends in "...".
 * Writes a NUL-terminated string into out (size >= 5) and returns out. */
const char *text_printable(const char *s, size_t len, char *out, size_t size);

#endif
