/* swiglu.c — SwiGLU activation silu(gate) * up (fast and reference). */
#include <math.h>

#include "sa/kernels.h"

void sa_swiglu_fwd(const sa_kernels *k, float *out, const float *gate, const float *up,
                   int64_t n) {
    if (k->reference) {
        for (int64_t i = 0; i < n; i++) {
            double g = gate[i];
            out[i] = (float)(g / (1.0 + exp(-g)) * up[i]);
        }
        return;
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (n > 65536)
#endif
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void sa_swiglu_rows_fwd(const sa_kernels *k, float *out, const float *gu, int64_t M, int64_t F) {
    if (k->reference) {
        for (int64_t m = 0; m < M; m++) sa_swiglu_fwd(k, out + m * F, gu + m * 2 * F, gu + m * 2 * F + F, F);
        return;
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (M * F > 65536)
#endif
    for (int64_t m = 0; m < M; m++) {
        const float *g = gu + m * 2 * F, *u = g + F;
        float *o = out + m * F;
        for (int64_t i = 0; i < F; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

/* ---- backward: with s = sigmoid(g), silu(g) = g s and
 * silu'(g) = s (1 + g (1 - s)); dgate = dout up silu'(g), dup = dout silu(g) ---- */

void sa_swiglu_bwd(const sa_kernels *k, float *dgate, float *dup, const float *dout,
                   const float *gate, const float *up, int64_t n) {
    if (k->reference) {
        for (int64_t i = 0; i < n; i++) {
            double g = gate[i], s = 1.0 / (1.0 + exp(-g));
            dgate[i] = (float)(dout[i] * up[i] * s * (1.0 + g * (1.0 - s)));
            dup[i] = (float)(dout[i] * g * s);
        }
        return;
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (n > 65536)
#endif
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i], s = 1.0f / (1.0f + expf(-g)), d = dout[i];
        dgate[i] = d * up[i] * s * (1.0f + g * (1.0f - s));
        dup[i] = d * g * s;
    }
}
