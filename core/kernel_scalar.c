/* kernel_scalar.c - portable row kernel; the reference order every SIMD path follows. */
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

_Static_assert(MML_LANES == 16, "the mask tables below are written out for 16 lanes");
const uint64_t mml_lane_keep[MML_LANES][MML_LANES] = { ROWS16(KEEP) };
const uint64_t mml_lane_valid[MML_LANES + 1][MML_LANES] = { ROWS16(VALID), ROW16(VALID, 16) };
const uint32_t mml_lane_keep32[MML_LANES][MML_LANES] = { ROWS16(KEEP32) };
const uint32_t mml_lane_valid32[MML_LANES + 1][MML_LANES] = { ROWS16(VALID32),
                                                               ROW16(VALID32, 16) };

/* One float16 row: terms and 32 lanes in float32, see kernel.h. */
static double row_value_half(const mml_request *req, uint64_t r)
{
    const uint64_t c = req->c, y = (uint64_t)req->target[r];
    const char *x = (const char *)req->input + r * c * 2;            /* any alignment */
    const float w = req->weight ? (float)mml_get(MML_F16, req->weight, y) : 1.0f;
    const float mxy = (float)mml_row_margin(MML_F16, req->margin, x, y);
    double sum = 0.0;                                /* of the segments, see kernel.h */

    for (uint64_t j0 = 0; j0 < c; j0 += MML_F16_SEGMENT) {
        const uint64_t j1 = c - j0 > MML_F16_SEGMENT ? j0 + MML_F16_SEGMENT : c;
        float s[2 * MML_LANES] = { 0 };
        for (uint64_t j = j0; j < j1; j++) {        /* j0 % 32 == 0: lane (j - j0) % 32 */
            float z = mxy + (float)mml_get(MML_F16, x, j);             /* exact either way */
            float h = req->p == 2 ? z * z : z;
            if (req->weight)
                h = h * w;
            s[j % (2 * MML_LANES)] = s[j % (2 * MML_LANES)] + ((z > 0 && j != y) ? h : 0.0f);
        }
        sum += (double)mml_lanes_combine_f32(s);
    }
    return sum / (double)c;
}

/* One row: terms in float64, lane j % MML_LANES, see kernel.h. */
static double row_value(const mml_request *req, uint64_t r)
{
    uint64_t c = req->c;
    uint64_t y = (uint64_t)req->target[r];
    const size_t base = r * c;
    double w = req->weight ? mml_load(req->dtype, req->weight, y) : 1.0;
    double mxy = (double)req->margin - mml_load(req->dtype, req->input, base + y);
    double s[MML_LANES] = { 0 }, e[MML_LANES] = { 0 };
    int compensated = req->dtype == MML_F64;

    for (uint64_t j = 0; j < c; j++) {
        double z = mxy + mml_load(req->dtype, req->input, base + j);
        double h = req->p == 2 ? z * z : z;
        if (req->weight)
            h = h * w;
        double term = (z > 0 && j != y) ? h : 0.0;
        int k = (int)(j % MML_LANES);
        if (compensated && j >= MML_LANES) {
            double t = s[k] + term;                      /* TwoSum */
            double bp = t - s[k];
            e[k] = e[k] + ((s[k] - (t - bp)) + (term - bp));
            s[k] = t;
        } else {
            s[k] = s[k] + term;                          /* a lane's first term: exact */
        }
    }
    return mml_lanes_combine(s, compensated ? e : NULL) / (double)c;
}

void mml_rows_scalar(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    for (uint64_t r = a; r < b; r++)
        vals[r - a] = req->dtype == MML_F16 ? row_value_half(req, r) : row_value(req, r);
}
