/* httpcheck.c - pure checks and rewrites of HTTP request bytes. */
#include "httpcheck.h"

#include <string.h>
#include <strings.h>

void httpcheck_copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void httpcheck_safe_path(char *dst, size_t size, const char *src)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *src != '\0'; src++) {
        unsigned char c = (unsigned char)*src;
        int plain = c >= 0x20 && c < 0x7f;
        if (n + (plain ? 1 : 3) >= size)
            break;
        if (plain) {
            dst[n++] = (char)c;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
    }
    dst[n] = '\0';
}

const char *httpcheck_origin_path(const char *target)
{
    const char *rest = strncasecmp(target, "http://", 7) == 0    ? target + 7
                       : strncasecmp(target, "https://", 8) == 0 ? target + 8
                                                                 : NULL;
    if (rest == NULL)
        return target;
    rest += strcspn(rest, "/");
    return *rest != '\0' ? rest : "/";
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

size_t httpcheck_unescape(char *url)
{
    char *w = url;
    for (const char *p = url; *p != '\0';) {
        int hi = p[0] == '%' ? hex_digit(p[1]) : -1;
        int lo = hi >= 0 ? hex_digit(p[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return (size_t)(w - url);
}

int httpcheck_plain_header_list(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                         "!#$%&'*+-.^_`|~, ");
    return s[n] == '\0' && n <= 1024;
}

uint64_t httpcheck_content_length(const char *s, int *ok)
{
    uint64_t v = 0;
    *ok = s != NULL && *s != '\0';
    for (; *ok && *s; s++)
        *ok = *s >= '0' && *s <= '9' && !__builtin_mul_overflow(v, 10, &v) &&
              !__builtin_add_overflow(v, (uint64_t)(*s - '0'), &v);
    return v;
}

void httpcheck_count(header_count *h, const char *value)
{
    if (h->count++ == 0)
        h->first = value;
    else if (strcmp(value, h->first) != 0)
        h->differ = 1;
}

const char *httpcheck_framing_error(const char *te, const header_count *lengths)
{
    if (te != NULL && strcasecmp(te, "chunked") != 0)
        return "only Transfer-Encoding: chunked is supported";
    if (te != NULL && lengths->count > 0)
        return "Content-Length and Transfer-Encoding must not both be sent";
    if (lengths->differ)
        return "the request has Content-Length headers that differ";
    return NULL;
}

const char *httpcheck_host_error(const char *version, const header_count *hosts)
{
    if (hosts->count > 1)
        return "the request has more than one Host header";
    if (hosts->count == 0 && strcmp(version, "HTTP/1.0") != 0)
        return "an HTTP/1.1 request must have a Host header";
    return NULL;
}
