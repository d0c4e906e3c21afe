/* utf8.c - UTF-8 validation of a whole buffer, and untrusted text made printable. */
#include <string.h>

#include "utf8.h"

int64_t utf8_invalid_at(const char *buf, size_t n)
{
    const unsigned char *p = (const unsigned char *)buf;
    utf8_state s = { 0 };
    size_t i = 0;

    while (i < n) {
        if (s.need == 0 && n - i >= 8) {            /* eight ASCII bytes at once */
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        if (utf8_byte(&s, p[i]) < 0)
            return (int64_t)i;
        i++;
    }
    return s.need > 0 ? (int64_t)n : -1;
}

const char *text_printable(const char *s, size_t len, char *out, size_t size)
{
    size_t i, n = len < size - 4 ? len : size - 4;

    for (i = 0; i < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n < len)
        memcpy(out + n, "...", 3), n += 3;
    out[n] = '\0';
    return out;
}
