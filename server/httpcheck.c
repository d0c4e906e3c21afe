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

const char *httpcheck_framing_error(const header_count *codings, const header_count *lengths)
{
    const char *te = codings->first;
    if (codings->count > 1)
        return "the request has more than one Transfer-Encoding header";
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

/* RFC 9110 5.6.2: tchar. */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int httpcheck_field_name_ok(const char *name, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return 0;
    return 1;
}

const char *httpcheck_field_error(const char *name, size_t name_len, const char *value,
                                  size_t value_len)
{
    if (name_len > 0 && (name[name_len - 1] == ' ' || name[name_len - 1] == '\t'))
        return "whitespace between a header field name and its colon is not allowed";
    if (!httpcheck_field_name_ok(name, name_len))
        return "a header field name must be a token";
    if (memchr(value, '\r', value_len) != NULL)
        return "a header field value contains a bare CR";
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "a header field value contains a control character";
    }
    return NULL;
}

void httpcheck_section_start(httpcheck_section *s, const char *block, size_t len,
                             const char *line_end)
{
    s->block = block;
    s->end = block + len;
    s->at = line_end;
    s->layout = block != NULL && line_end >= block && line_end < s->end;
}

static int inside(const httpcheck_section *s, const char *p)
{
    return p >= s->block && p <= s->end;
}

/* Why the bytes from s->at on are not what a line end and the next line
 * should be: a line end followed by a blank (obs-fold; libmicrohttpd
 * moves the folded field elsewhere), or else a NUL where no line could
 * end. */
static const char *gap_error(const httpcheck_section *s)
{
    for (const char *p = s->at; p != NULL && p + 2 < s->end; p++)
        if (p[0] == '\0' && p[1] == '\0' && (p[2] == ' ' || p[2] == '\t'))
            return "obsolete line folding (a header line starting with whitespace) is not allowed";
    return "a header line contains a NUL byte";
}

/* 1 when [from, to) is n NUL bytes, lo <= n <= hi. */
static int nuls(const char *from, const char *to, size_t lo, size_t hi)
{
    if (to < from || (size_t)(to - from) < lo || (size_t)(to - from) > hi)
        return 0;
    for (; from < to; from++)
        if (*from != '\0')
            return 0;
    return 1;
}

const char *httpcheck_section_field(httpcheck_section *s, const char *name, size_t name_len,
                                    const char *value, size_t value_len)
{
    const char *bad = httpcheck_field_error(name, name_len, value, value_len);
    if (bad != NULL || !s->layout)
        return bad;
    /* The line end before name, then "name\0" (the colon), blanks, value. */
    if (!inside(s, name) || !inside(s, value) || !nuls(s->at, name, 1, 2))
        return gap_error(s);
    const char *colon = name + name_len;
    if (colon >= value || *colon != '\0' || value + value_len > s->end)
        return gap_error(s);
    for (const char *p = colon + 1; p < value; p++)
        if (*p != ' ' && *p != '\t')
            return gap_error(s);
    s->at = value + value_len;
    return NULL;
}

const char *httpcheck_section_end(const httpcheck_section *s)
{
    if (!s->layout || nuls(s->at, s->end, 2, 4))
        return NULL;
    return gap_error(s);
}
