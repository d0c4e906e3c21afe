/* kernel_scalar.c - portable row kernel; the reference order every SIMD path follows. */
#include <string.h>

#include "kernel.h"

const uint64_t mml_lane_keep[MML_LANES][MML_LANES] = {
#define K(k) { (k) == 0 ? 0 : ~0ull, (k) == 1 ? 0 : ~0ull, (k) == 2 ? 0 : ~0ull, \
               (k) == 3 ? 0 : ~0ull, (k) == 4 ? 0 : ~0ull, (k) == 5 ? 0 : ~0ull, \
               (k) == 6 ? 0 : ~0ull, (k) == 7 ? 0 : ~0ull }
    K(0), K(1), K(2), K(3), K(4), K(5), K(6), K(7)
#undef K
};

const uint64_t mml_lane_valid[MML_LANES + 1][MML_LANES] = {
#define V(r) { 0 < (r) ? ~0ull : 0, 1 < (r) ? ~0ull : 0, 2 < (r) ? ~0ull : 0, \
               3 < (r) ? ~0ull : 0, 4 < (r) ? ~0ull : 0, 5 < (r) ? ~0ull : 0, \
               6 < (r) ? ~0ull : 0, 7 < (r) ? ~0ull : 0 }
    V(0), V(1), V(2), V(3), V(4), V(5), V(6), V(7), V(8)
#undef V
};

/* One row: terms in float64, lane j % 8, see kernel.h. */
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
        if (compensated) {
            double t = s[k] + term;                      /* TwoSum */
            double bp = t - s[k];
            e[k] = e[k] + ((s[k] - (t - bp)) + (term - bp));
            s[k] = t;
        } else {
            s[k] = s[k] + term;
        }
    }
    return mml_lanes_combine(s, compensated ? e : NULL) / (double)c;
}

void mml_rows_scalar(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    for (uint64_t r = a; r < b; r++)
        vals[r - a] = row_value(req, r);
}
