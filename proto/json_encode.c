/* json_encode.c - JSON responses and errors (docs/wire.md) with shortest round-trip numbers. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "json.h"

#define FMT_MAX 32      /* json_fmt_shortest() output, NUL included */

/* Does the decimal text read back as v in dtype? It must through every
 * reader a client may use: the nearest double then rounded to dtype (what
 * lossd, numpy and torch do) and, for float32, strtof's direct rounding. */
static bool round_trips(const char *text, double v, int dtype)
{
    double back = strtod(text, NULL);

    switch (dtype) {
    case MML_F16:
        return mml_double_to_half(back) == mml_double_to_half(v);
    case MML_F32:
        return (float)back == (float)v && strtof(text, NULL) == (float)v;
    default:
        return back == v;
    }
}

/* A decimal d[0].d[1]...d[k-1] x 10^exp, digits as ASCII. */
typedef struct decimal {
    char d[24];
    int k, exp;
} decimal;

/* The first k digits of the max-precision expansion full, plus one unit
 * in the last place when up (carrying, 9.99 -> 10.0). */
static void cut(const decimal *full, int k, bool up, decimal *out)
{
    int i = k - 1;

    memcpy(out->d, full->d, (size_t)k);
    out->k = k;
    out->exp = full->exp;
    for (; up && i >= 0; i--) {
        if (out->d[i] != '9') {
            out->d[i]++;
            return;
        }
        out->d[i] = '0';
    }
    if (up) {                           /* all nines: 10^(exp + 1) */
        out->d[0] = '1';
        out->exp++;
    }
}

static bool decimal_round_trips(const decimal *x, bool neg, double v, int dtype)
{
    char text[FMT_MAX + 8], *p = text;

    if (neg)
        *p++ = '-';
    *p++ = x->d[0];
    *p++ = '.';
    memcpy(p, x->d + 1, (size_t)x->k - 1);
    p += x->k - 1;
    snprintf(p, 8, "e%d", x->exp);
    return round_trips(text, v, dtype);
}

/* Some k-digit decimal reads back as v: then one of the two k-digit
 * neighbours of v does (the values that read back as v form an interval
 * around it), and the longest expansion (17, 9 or 5 digits) gives both,
 * a carry included. Tries the nearer one first so the result is the
 * correctly rounded one when both work. */
static bool fits(const decimal *full, int k, bool neg, double v, int dtype, decimal *out)
{
    bool up = k < full->k && full->d[k] >= '5';

    cut(full, k, up, out);
    if (decimal_round_trips(out, neg, v, dtype))
        return true;
    cut(full, k, !up, out);
    return decimal_round_trips(out, neg, v, dtype);
}

/* Plain notation like JavaScript's Number#toString: fixed for exponents
 * -7 < exp < 21, exponential otherwise ("1e-7", "1.5e+300" -> "1.5e300"). */
static int render(const decimal *x, bool neg, char *buf)
{
    int k = x->k, n = x->exp + 1, len = 0;

    while (k > 1 && x->d[k - 1] == '0')
        k--;
    if (neg)
        buf[len++] = '-';
    if (n >= k && n <= 21) {
        memcpy(buf + len, x->d, (size_t)k), len += k;
        for (; n > k; n--)
            buf[len++] = '0';
    } else if (n > 0 && n <= 21) {
        memcpy(buf + len, x->d, (size_t)n), len += n;
        buf[len++] = '.';
        memcpy(buf + len, x->d + n, (size_t)(k - n)), len += k - n;
    } else if (n > -6 && n <= 0) {
        buf[len++] = '0', buf[len++] = '.';
        for (; n < 0; n++)
            buf[len++] = '0';
        memcpy(buf + len, x->d, (size_t)k), len += k;
    } else {
        buf[len++] = x->d[0];
        if (k > 1)
            buf[len++] = '.';
        memcpy(buf + len, x->d + 1, (size_t)(k - 1)), len += k - 1;
        len += snprintf(buf + len, 8, "e%d", x->exp);
    }
    buf[len] = '\0';
    return len;
}

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* a * 10^s and a / 10^s for |s| <= 22: one correctly rounded operation. */
static double scale10(double a, int s)
{
    return s >= 0 ? a * pow10_exact[s] : a / pow10_exact[-s];
}

/* Does the decimal D x 10^-s read back as a (float32 or float16)? D and
 * 10^s are exact doubles, so the quotient is what strtod returns. For
 * float32 a strtof reader rounds the decimal directly: it can only differ
 * when that double is a float midpoint, reported as -1 (undecided). */
static int fast_reads_back(uint64_t D, int s, double a, int dtype)
{
    double back = scale10((double)D, -s);
    uint64_t bits;

    if (dtype == MML_F16)
        return mml_double_to_half(back) == mml_double_to_half(a);
    memcpy(&bits, &back, sizeof bits);
    if ((bits & ((1ull << 29) - 1)) == 1ull << 28)
        return -1;
    return (float)back == (float)a;
}

/* k digits for a, 10^(e) <= a < 10^(e+1): the integer neighbours of
 * a * 10^(k-1-e), nearer first (an inexact product may be one unit off
 * near an integer; the value that matters is then still among the two).
 * 1 with *D, 0 when neither reads back, -1 undecided. */
static int fast_fits(double a, int e, int k, int dtype, uint64_t *D)
{
    int s = k - 1 - e;
    double p = scale10(a, s);
    uint64_t lo = (uint64_t)p, first = p - (double)lo >= 0.5 ? lo + 1 : lo;
    uint64_t second = first == lo ? lo + 1 : lo;
    int r = fast_reads_back(first, s, a, dtype);

    if (r != 0) {
        *D = first;
        return r;
    }
    *D = second;
    return fast_reads_back(second, s, a, dtype);
}

/* Shortest digits of a float32 or float16 magnitude a without text:
 * 0 with *out, or -1 to take the general path (decimal exponent outside
 * the exact powers of ten, a near a power of ten, undecided midpoints). */
static int shortest_small(double a, int dtype, decimal *out)
{
    int lo = 1, hi = dtype == MML_F16 ? 5 : 9, e = (int)floor(log10(a)), s, n;
    double p;
    uint64_t D = 0, best = 0;

    if (e < -13 || e > 13)
        return -1;
    p = scale10(a, 8 - e);                      /* 9 digits: [1e8, 1e9) */
    e += p >= 1e9 ? 1 : p < 1e8 ? -1 : 0;
    p = scale10(a, 8 - e);
    if (p < 1e8 + 1 || p > 1e9 - 10)
        return -1;
    while (lo < hi) {
        int mid = (lo + hi) / 2, r = fast_fits(a, e, mid, dtype, &D);
        if (r < 0)
            return -1;
        if (r)
            hi = mid, best = D;
        else
            lo = mid + 1;
    }
    if (best == 0 && fast_fits(a, e, hi, dtype, &best) != 1)
        return -1;
    s = hi - 1 - e;
    for (n = 0; best > 0; best /= 10)             /* digits, last first */
        out->d[n++] = (char)('0' + best % 10);
    for (int i = 0; i < n / 2; i++) {
        char t = out->d[i];
        out->d[i] = out->d[n - 1 - i], out->d[n - 1 - i] = t;
    }
    out->k = n;
    out->exp = n - 1 - s;
    return 0;
}

/* The fewest significant digits that read back as v, found by binary
 * search: fitting in k digits implies fitting in k + 1 (append a zero).
 * The longest form (17, 9, 5 digits) always fits. */
int json_fmt_shortest(double v, int dtype, char *buf)
{
    int lo = 1, hi = dtype == MML_F16 ? 5 : dtype == MML_F32 ? 9 : 17;
    char text[40];
    decimal full, best;
    bool neg = signbit(v);

    if (isnan(v))
        return (int)strlen(strcpy(buf, "NaN"));
    if (isinf(v))
        return (int)strlen(strcpy(buf, neg ? "-Infinity" : "Infinity"));
    if (v == 0)
        return (int)strlen(strcpy(buf, neg ? "-0" : "0"));
    if (dtype != MML_F64 && shortest_small(fabs(v), dtype, &best) == 0)
        return render(&best, neg, buf);
    snprintf(text, sizeof text, "%.*e", hi - 1, fabs(v));    /* d.ddde+XX */
    full.d[0] = text[0];
    memcpy(full.d + 1, text + 2, (size_t)hi - 1);
    full.k = hi;
    full.exp = atoi(text + hi + 2);
    cut(&full, hi, false, &best);
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        decimal x;
        if (fits(&full, mid, neg, v, dtype, &x))
            hi = mid, best = x;
        else
            lo = mid + 1;
    }
    return render(&best, neg, buf);
}

/* One output element as JSON text: a number, or "NaN" etc. quoted. */
static int element_json(const mml_request *req, const void *out, uint64_t i, char *buf)
{
    double v = mml_load(req->dtype, out, i);

    if (isfinite(v))
        return json_fmt_shortest(v, req->dtype, buf);
    buf[0] = '"';
    int len = json_fmt_shortest(v, req->dtype, buf + 1) + 1;
    buf[len++] = '"';
    buf[len] = '\0';
    return len;
}

/* "[v0,v1,...]" for reduction none: built as text and attached raw, so a
 * long output costs no cJSON node per element. The buffer starts at a
 * typical 12 bytes per element and doubles when an element might not
 * fit. NULL when out of memory. */
static char *vector_json(const mml_request *req, const void *out, uint64_t count)
{
    size_t cap = 64 + (size_t)count * 12, len = 0;
    char *text = malloc(cap), *grown;

    if (text == NULL)
        return NULL;
    text[len++] = '[';
    for (uint64_t i = 0; i < count; i++) {
        if (cap - len < FMT_MAX + 4) {
            if ((grown = realloc(text, cap * 2)) == NULL) {
                free(text);
                return NULL;
            }
            text = grown, cap *= 2;
        }
        if (i > 0)
            text[len++] = ',';
        len += (size_t)element_json(req, out, i, text + len);
    }
    text[len++] = ']';
    text[len] = '\0';
    return text;
}

/* Print root unformatted and free it. NULL when out of memory. */
static char *print_and_free(cJSON *root, size_t *len)
{
    char *body = root ? cJSON_PrintUnformatted(root) : NULL;

    cJSON_Delete(root);
    if (body && len)
        *len = strlen(body);
    return body;
}

/* The body is cJSON's print buffer, from its default allocator (nobody
 * installs cJSON hooks): the caller frees it with free(). */
char *json_encode_result(const mml_request *req, const void *out, size_t *len)
{
    uint64_t count = mml_out_count(req);
    char scalar[FMT_MAX + 2], *loss = scalar;
    cJSON *root = NULL, *shape;

    if (req->reduction == MML_NONE) {
        if ((loss = vector_json(req, out, count)) == NULL)
            goto failed;
    } else {
        element_json(req, out, 0, scalar);
    }
    if ((root = cJSON_CreateObject()) == NULL ||
        cJSON_AddRawToObject(root, "loss", loss) == NULL ||
        (shape = cJSON_AddArrayToObject(root, "shape")) == NULL ||
        (req->reduction == MML_NONE &&
         !cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)count))) ||
        cJSON_AddStringToObject(root, "dtype", mml_dtype_name(req->dtype)) == NULL ||
        cJSON_AddStringToObject(root, "reduction", mml_reduction_name(req->reduction)) == NULL)
        goto failed;
    if (loss != scalar)
        free(loss);
    return print_and_free(root, len);
failed:
    cJSON_Delete(root);
    if (loss != scalar)
        free(loss);
    return NULL;
}

char *json_encode_error(const char *type, const char *message,
                        const char *field, size_t *len)
{
    cJSON *root = cJSON_CreateObject(), *error;

    if (root == NULL ||
        (error = cJSON_AddObjectToObject(root, "error")) == NULL ||
        cJSON_AddStringToObject(error, "type", type ? type : "InternalError") == NULL ||
        cJSON_AddStringToObject(error, "message", message ? message : "") == NULL ||
        (field && *field && cJSON_AddStringToObject(error, "field", field) == NULL)) {
        cJSON_Delete(root);
        return NULL;
    }
    return print_and_free(root, len);
}
