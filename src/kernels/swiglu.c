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
