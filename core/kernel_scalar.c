/* kernel_scalar.c - portable row kernel and row subtree; the reference order every SIMD
 * path follows, and the lane masks they share. */
#include <string.h>

#include "kernel.h"

#define KEEP(k, l) ((k) == (l) ? 0 : ~0ull)
#define VALID(r, l) ((l) < (r) ? ~0ull : 0)
#define KEEP32(k, l) ((k) == (l) ? 0 : ~0u)
#define VALID32(r, l) ((l) < (r) ? ~0u : 0)
#define ROW16(F, k) { F(k, 0), F(k, 1), F(k, 2), F(k, 3), F(k, 4), F(k, 5), F(k, 6), F(k, 7), \
                      F(k, 8), F(k, 9), F(k, 10), F(k, 11), F(k, 12), F(k, 13), F(k, 14), F(k, 15) }
#define ROWS16(F) ROW16(F, 0), ROW16(F, 1), ROW16(F, 2), ROW16(F, 3), ROW16(F, 4), ROW16(F, 5), \
                  ROW16(F, 6), ROW16(F, 7), ROW16(F, 8), ROW16(F, 9), ROW16(F, 10),          \
                  ROW16(F, 11), ROW16(F, 12), ROW16(F, 13), ROW16(F, 14), ROW16(F, 15)

_Static_assert(MML__LANES == 16, "the mask tables below are written out for 16 lanes");
const uint64_t mml__lane_keep[MML__LANES][MML__LANES] = { ROWS16(KEEP) };
const uint64_t mml__lane_valid[MML__LANES + 1][MML__LANES] = { ROWS16(VALID), ROW16(VALID, 16) };
const uint32_t mml__lane_keep32[MML__LANES][MML__LANES] = { ROWS16(KEEP32) };
const uint32_t mml__lane_valid32[MML__LANES + 1][MML__LANES] = { ROWS16(VALID32),
                                                               ROW16(VALID32, 16) };

/* One float16 row: terms and 32 lanes in float32, see kernel.h. */
static double row_value_half(const mml_request *req, uint64_t r)
{
    const uint64_t c = req->c, y = (uint64_t)req->target[r];
    const char *x = (const char *)req->input + r * c * 2;            /* any alignment */
    const float w = req->weight ? (float)mml__get(MML_F16, req->weight, y) : 1.0f;
    const float mxy = (float)mml__row_margin(MML_F16, req->margin, x, y);
    double sum = 0.0;                                /* of the segments, see kernel.h */

    for (uint64_t j0 = 0; j0 < c; j0 += MML__F16_SEGMENT) {
        const uint64_t j1 = c - j0 > MML__F16_SEGMENT ? j0 + MML__F16_SEGMENT : c;
        float s[2 * MML__LANES] = { 0 };
        for (uint64_t j = j0; j < j1; j++) {        /* j0 % 32 == 0: lane (j - j0) % 32 */
            float z = mxy + (float)mml__get(MML_F16, x, j);             /* exact either way */
            float h = req->p == 2 ? z * z : z;
            if (req->weight)
                h = h * w;
            s[j % (2 * MML__LANES)] = s[j % (2 * MML__LANES)] + ((z > 0 && j != y) ? h : 0.0f);
        }
        sum += (double)mml__lanes_combine_f32(s);
    }
    return sum / (double)c;
}

/* One row of dtype float32 or float64: terms in float64, lane
 * j % MML__LANES, see kernel.h. Inlined once per dtype, so that the
 * element loop does not ask at every element which dtype it reads. */
static inline __attribute__((always_inline)) double row_value(const mml_request *req,
                                                              uint64_t r, int dtype)
{
    uint64_t c = req->c;
    uint64_t y = (uint64_t)req->target[r];
    const size_t base = r * c;
    double w = req->weight ? mml__get(dtype, req->weight, y) : 1.0;
    double mxy = (double)req->margin - mml__get(dtype, req->input, base + y);
    double s[MML__LANES] = { 0 }, e[MML__LANES] = { 0 };
    int compensated = dtype == MML_F64;

    for (uint64_t j = 0; j < c; j++) {
        double z = mxy + mml__get(dtype, req->input, base + j);
        double h = req->p == 2 ? z * z : z;
        if (req->weight)
            h = h * w;
        double term = (z > 0 && j != y) ? h : 0.0;
        int k = (int)(j % MML__LANES);
        if (compensated && j >= MML__LANES) {
            double t = s[k] + term;                      /* TwoSum */
            double bp = t - s[k];
            e[k] = e[k] + ((s[k] - (t - bp)) + (term - bp));
            s[k] = t;
        } else {
            s[k] = s[k] + term;                          /* a lane's first term: exact */
        }
    }
    return mml__lanes_combine(s, compensated ? e : NULL) / (double)c;
}

void mml__rows_scalar(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    for (uint64_t r = a; r < b; r++) {
        if (req->dtype == MML_F16)
            vals[r - a] = row_value_half(req, r);
        else if (req->dtype == MML_F32)
            vals[r - a] = row_value(req, r, MML_F32);
        else
            vals[r - a] = row_value(req, r, MML_F64);
    }
}

/* kernel.h's subtree: the same additions rows.c's partial_push() would
 * make, level by level. They are independent of each other, where pushing
 * leaf by leaf chains every row through the top of the stack (about 40
 * cycles a row). The vector subtrees finish their last levels with it. */
void mml__subtree_scalar(const double *leaf, double *hi, double *lo, uint64_t n)
{
    if (leaf && n == 1) {
        hi[0] = leaf[0];
        lo[0] = 0.0;
    }
    for (; n > 1; n /= 2, leaf = NULL)
        for (uint64_t k = 0; k < n / 2; k++) {
            const double *src = leaf ? leaf : hi;
            double h = src[2 * k], l = leaf ? 0.0 : lo[2 * k];
            mml__dd_add(&h, &l, src[2 * k + 1], leaf ? 0.0 : lo[2 * k + 1]);
            hi[k] = h;
            lo[k] = l;
        }
}
