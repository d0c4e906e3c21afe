/* json_num.h - internal to the JSON lexer (json_lex.c) and the fast paths
 * that read numbers beside it (json_decode.c's rows): RFC 8259 number
 * tokens scanned once and read as the nearest double, with Clinger's exact
 * fast path for the common short decimals. Every JSON number in lossd is
 * read by these functions. */
#ifndef LOSSD_JSON_NUM_H
#define LOSSD_JSON_NUM_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NUM_MAX     512          /* longest accepted number token */
#define NUM_WINDOW  (NUM_MAX + 1)
#define SIG_DIGITS  19           /* decimal digits that always fit a uint64_t */

enum { NUM_OK, NUM_MORE, NUM_BAD };

/* A scanned number token: the text and what the fast path needs. */
typedef struct numtok {
    const char *s;
    size_t len;
    uint64_t m;          /* first SIG_DIGITS significant digits */
    int exp10;           /* value = m * 10^(exp10 + exp) when !trunc */
    int exp;             /* explicit exponent, saturated */
    bool neg, exp_neg, is_int, trunc;
} numtok;

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

static inline bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* A byte a number token may hold: digits, signs, '.', 'e', 'E'. */
static inline bool num_char(int c)
{
    return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Eight ASCII digits at s as their value, or -1 if any byte is no digit.
 * SWAR: check every byte is 0x30..0x39, then fold digit pairs, quads,
 * and the two halves with three multiplications. */
__attribute__((always_inline)) static inline int64_t eight_digits(const char *s)
{
    uint64_t v;

    memcpy(&v, s, 8);
    if ((v & 0xf0f0f0f0f0f0f0f0ull) != 0x3030303030303030ull ||
        ((v + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) != 0x3030303030303030ull)
        return -1;
    v -= 0x3030303030303030ull;
    v = v * 10 + (v >> 8);                       /* 2-digit values in bytes 0, 2, 4, 6 */
    v = ((v & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
         ((v >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >> 32;
    return (int64_t)v;
}
#else
static inline int64_t eight_digits(const char *s)
{
    (void)s;
    return -1;
}
#endif

/* Read the digit run at s[i..n) into t (fraction digits when frac) and
 * return the index after it. Up to SIG_DIGITS significant digits are
 * kept in t->m; later ones only set t->trunc (strtod reads the text). */
__attribute__((always_inline)) static inline size_t num_digits(const char *s, size_t i, size_t n, numtok *t, bool frac)
{
    int64_t eight;

    while (n - i >= 8 && t->m < 10000000000ull && (eight = eight_digits(s + i)) >= 0) {
        t->m = t->m * 100000000u + (uint64_t)eight;   /* still below 10^18 */
        t->exp10 -= frac ? 8 : 0;
        i += 8;
    }
    for (; i < n && is_digit(s[i]); i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (t->m < 1000000000000000000ull) {         /* fewer than SIG_DIGITS */
            t->m = t->m * 10 + digit;
            t->exp10 -= frac;
        } else {
            t->trunc |= digit != 0;           /* dropped zeros are exact */
            t->exp10 += !frac;
        }
    }
    return i;
}

/* Scan an RFC 8259 number at s[0..n). NUM_OK: t->len is the token length
 * (s[t->len], if any, cannot continue it). NUM_BAD: *stop is the offset
 * of the offending byte. NUM_MORE: s[0..n) is a valid prefix; with final
 * the end of s ends the token instead. */
static inline int num_scan(const char *s, size_t n, bool final, numtok *t, size_t *stop)
{
    size_t i = 0;

    memset(t, 0, sizeof *t);
    t->s = s;
    t->is_int = true;
    if (i < n && s[i] == '-')
        t->neg = true, i++;
    if (i == n)
        goto more;
    if (s[i] == '0')
        i++;
    else if (is_digit(s[i]))
        i = num_digits(s, i, n, t, false);
    else
        goto bad;
    if (i < n && s[i] == '.') {
        t->is_int = false;
        if (++i == n)
            goto more;
        if (!is_digit(s[i]))
            goto bad;
        i = num_digits(s, i, n, t, true);
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        t->is_int = false;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            t->exp_neg = s[i++] == '-';
        if (i == n)
            goto more;
        if (!is_digit(s[i]))
            goto bad;
        for (; i < n && is_digit(s[i]); i++)
            t->exp = t->exp < 100000 ? t->exp * 10 + (s[i] - '0') : t->exp;
    }
    if (i == n && !final)
        return NUM_MORE;
    t->len = i;
    return NUM_OK;
more:
    if (!final)
        return NUM_MORE;
bad:
    *stop = i;
    return NUM_BAD;
}

/* The double nearest to the token. Clinger's fast path when the digits
 * and the power of ten are both exact doubles (one correctly rounded
 * operation), otherwise strtod on a bounded copy. */
__attribute__((always_inline)) static inline double num_value(const numtok *t)
{
    int e = t->exp10 + (t->exp_neg ? -t->exp : t->exp);
    char buf[NUM_WINDOW + 1];

    if (!t->trunc && t->m <= (1ull << 53) && e >= -22 && e <= 22) {
        double v = (double)t->m;
        v = e < 0 ? v / pow10_exact[-e] : v * pow10_exact[e];
        return t->neg ? -v : v;
    }
    assert(t->len <= NUM_WINDOW);
    memcpy(buf, t->s, t->len);
    buf[t->len] = '\0';
    return strtod(buf, NULL);
}

/* Integer value of an integer token: 0, or -1 when outside int64. */
static inline int num_int(const numtok *t, int64_t *out)
{
    assert(t->is_int);
    if (t->trunc || t->exp10 != 0 ||
        t->m > (t->neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return -1;
    *out = t->neg ? (int64_t)(0 - t->m) : (int64_t)t->m;
    return 0;
}

/* ---- fast readers: the same values as num_scan() + num_value() ---------- */

/* The common number shape, [-]int[.frac] with at most SIG_DIGITS digits
 * and a terminating byte before end, read without the general scanner:
 * 0 with *v and the length, or -1 to take the general path (which would
 * give the same double: both round correctly). p < end must be a '-' or a
 * digit. */
__attribute__((always_inline))
static inline int num_plain(const char *p, const char *end, double *v, size_t *len)
{
    const char *s = p + (*p == '-'), *int_start = s, *frac_start;
    uint64_t m = 0;
    int64_t eight;
    int frac = 0;

    if (s < end && *s == '0')
        s++;
    else
        for (; s < end && is_digit(*s) && s - int_start < SIG_DIGITS; s++)
            m = m * 10 + (uint64_t)(*s - '0');
    if (s == int_start)
        return -1;
    if (s < end && *s == '.') {
        frac_start = ++s;
        for (; end - s >= 8 && m < 10000000000ull && (eight = eight_digits(s)) >= 0; s += 8)
            m = m * 100000000u + (uint64_t)eight;
        for (; s < end && is_digit(*s) && m < 1000000000000000000ull; s++)
            m = m * 10 + (uint64_t)(*s - '0');
        frac = (int)(s - frac_start);
        if (frac == 0 || frac > 22)
            return -1;
    }
    if (s == end || num_char((unsigned char)*s) || m > (1ull << 53))
        return -1;
    *v = frac ? (double)m / pow10_exact[frac] : (double)m;
    *v = *p == '-' ? -*v : *v;
    *len = (size_t)(s - p);
    return 0;
}

/* A plain non-negative integer of at most 18 digits at p (no sign,
 * fraction or exponent) followed by a byte before end that cannot continue
 * it: its length, with its value in *v; 0 for anything else (left to
 * num_scan() and num_int(), which read the same value). */
__attribute__((always_inline))
static inline size_t num_uint(const char *p, const char *end, uint64_t *v)
{
    const char *s = p;
    uint64_t m = 0;

    if (s < end && *s == '0')
        s++;
    else
        for (; s < end && is_digit(*s) && s - p < 18; s++)
            m = m * 10 + (uint64_t)(*s - '0');
    if (s == p || s == end || num_char((unsigned char)*s))
        return 0;
    *v = m;
    return (size_t)(s - p);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The value of the first k (1..8) bytes of w, all digits: they are moved
 * to the top of the word (zeros before them) and folded as eight_digits()
 * does. Borrows of w - 0x30... run upwards, so they never reach them. */
__attribute__((always_inline)) static inline uint64_t swar_value(uint64_t w, int k)
{
    uint64_t v = (w - 0x3030303030303030ull) << (8 * (8 - k));
    v = v * 10 + (v >> 8);
    return ((v & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
            ((v >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >> 32;
}

/* Bit 7 of each byte of w set when that byte is no ASCII digit, exact up
 * to and including the first byte >= 0xfa (which carries in w + 0x06...;
 * the bytes after it are no concern: such a token is rejected anyway). */
__attribute__((always_inline)) static inline uint64_t swar_nondigits(uint64_t w)
{
    uint64_t x = ((w & 0xf0f0f0f0f0f0f0f0ull) ^ 0x3030303030303030ull) |
                 (((w + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) ^ 0x3030303030303030ull);
    return (((x & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | x) & 0x8080808080808080ull;
}

/* The token [s, s + n), known to end at a separator, as [-]d+[.d+] of at
 * most 8 bytes after the sign: 0 with *v, or -1 to leave it to the longer
 * paths. One word: the dot (if any) is squeezed out and the digits folded
 * at once. At most 8 digits, so m < 2^53 and Clinger's one division rounds
 * correctly, as in num_plain(). 9 bytes at s must be readable. */
__attribute__((always_inline)) static inline int num_short(const char *s, size_t n, double *v)
{
    const bool neg = *s == '-';
    uint64_t w, m, nd;
    int k, f = 0;

    s += neg, n -= neg;
    if (n - 1 >= 8)                         /* n == 0 wraps too */
        return -1;
    memcpy(&w, s, 8);
    nd = swar_nondigits(w) & (n == 8 ? ~0ull : (1ull << (8 * n)) - 1);
    k = (int)n;
    if (nd != 0) {                          /* the dot, and nothing else */
        k = __builtin_ctzll(nd) / 8;
        f = (int)n - k - 1;
        if ((nd & (nd - 1)) != 0 || s[k] != '.' || k == 0 || f == 0)
            return -1;
        uint64_t low = (1ull << (8 * k)) - 1;
        w = (w & low) | ((w >> 8) & ~low);
    }
    if (k > 1 && *s == '0')
        return -1;
    m = swar_value(w, k + f);
    *v = f ? (double)m / pow10_exact[f] : (double)m;
    *v = neg ? -*v : *v;
    return 0;
}
#else
static inline int num_short(const char *s, size_t n, double *v)
{
    (void)s, (void)n, (void)v;
    return -1;
}
#endif

#endif
