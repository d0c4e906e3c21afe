/* hlist.c - HTTP list headers: elements and q-values. */
#include "hlist.h"

#include <string.h>
#include <strings.h>

int hlist_next(const char **s, const char **tok, size_t *tok_len, const char **params,
               size_t *params_len)
{
    const char *p = *s;
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    if (*p == '\0')
        return 0;
    const char *end = p;
    while (*end != '\0' && *end != ',')
        end++;
    *s = end;
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *tend = semi != NULL ? semi : end;
    while (tend > p && (tend[-1] == ' ' || tend[-1] == '\t'))
        tend--;
    *tok = p;
    *tok_len = (size_t)(tend - p);
    *params = semi != NULL ? semi + 1 : end;
    *params_len = (size_t)(end - *params);
    return 1;
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

int hlist_q(const char *params, size_t len)
{
    const char *p = params, *end = params + len;
    while (p < end) {
        p = skip_blanks(p, end);
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            p += 2;
            if (p == end || (*p != '0' && *p != '1'))
                return 0;
            int q = (*p++ - '0') * 1000;
            if (p < end && *p == '.')
                for (int scale = 100; ++p < end && *p >= '0' && *p <= '9' && scale > 0;
                     scale /= 10)
                    q += (*p - '0') * scale;
            p = skip_blanks(p, end);
            if ((p < end && *p != ';') || q > 1000)
                return 0;
            return q;
        }
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (semi == NULL)
            break;
        p = semi + 1;
    }
    return 1000;
}

/* How well range (a media range of len bytes) matches type: 3 the type
 * itself, 2 its major type with a wildcard subtype, 1 the full wildcard,
 * 0 not at all. */
static int range_match(const char *range, size_t len, const char *type)
{
    size_t tlen = strlen(type), major = strcspn(type, "/");
    if (len == tlen && strncasecmp(range, type, tlen) == 0)
        return 3;
    if (len == major + 2 && strncasecmp(range, type, major + 1) == 0 && range[major + 1] == '*')
        return 2;
    return len == 3 && strncmp(range, "*/*", 3) == 0;
}

int hlist_accepts(const char *accept, const char *type, const char *other)
{
    int q_type = 0, q_other = 0, best_other = 0;
    const char *range, *params;
    size_t len, plen;
    while (accept != NULL && hlist_next(&accept, &range, &len, &params, &plen)) {
        if (range_match(range, len, type) == 3)
            q_type = hlist_q(params, plen);
        int m = range_match(range, len, other);
        if (m > best_other) {                       /* the most specific range decides */
            best_other = m;
            q_other = hlist_q(params, plen);
        }
    }
    return q_type > 0 && q_type >= q_other;
}
