/* rmsnorm.c — RMSNorm forward (fast and reference). */
#include <math.h>

#include "sa/kernels.h"

static void rmsnorm_row_ref(float *out, float *rstd, const float *x, const float *w, int64_t D,
                            float eps) {
    double ss = 0;
    for (int64_t i = 0; i < D; i++) ss += (double)x[i] * x[i];
    double r = 1.0 / sqrt(ss / (double)D + eps);
    for (int64_t i = 0; i < D; i++) out[i] = (float)(x[i] * r * w[i]);
    if (rstd) *rstd = (float)r;
}

static void rmsnorm_row(float *out, float *rstd, const float *x, const float *w, int64_t D,
                        float eps) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= D; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j] * x[i + j];
    float ss = 0;
    for (; i < D; i++) ss += x[i] * x[i];
    for (int j = 0; j < 8; j++) ss += acc[j];
    float r = 1.0f / sqrtf(ss / (float)D + eps);
    for (i = 0; i < D; i++) out[i] = x[i] * r * w[i];
    if (rstd) *rstd = r;
}

void sa_rmsnorm_fwd(const sa_kernels *k, float *out, float *rstd, const float *x,
                    const float *w, int64_t M, int64_t D, float eps) {
    if (k->reference) {
        for (int64_t m = 0; m < M; m++)
            rmsnorm_row_ref(out + m * D, rstd ? rstd + m : NULL, x + m * D, w, D, eps);
        return;
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (M * D > 65536)
#endif
    for (int64_t m = 0; m < M; m++)
        rmsnorm_row(out + m * D, rstd ? rstd + m : NULL, x + m * D, w, D, eps);
}
