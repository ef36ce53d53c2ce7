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

/* ---- backward ----------------------------------------------------------------
 * y = x r w with r = (mean(x^2) + eps)^-1/2, so
 *   dw_i += sum_m dy_i x_i r,   dx_i = r w_i dy_i - x_i r^3 / D * sum_j dy_j w_j x_j.
 * dw is summed over all rows before dx overwrites anything, so dx may alias dout. */

static void rmsnorm_bwd_ref(float *dx, float *dw, const float *dout, const float *x, const float *rstd,
                            const float *w, int64_t M, int64_t D) {
    for (int64_t i = 0; dw && i < D; i++) {
        double acc = 0;
        for (int64_t m = 0; m < M; m++) acc += (double)dout[m * D + i] * x[m * D + i] * rstd[m];
        dw[i] += (float)acc;
    }
    for (int64_t m = 0; m < M; m++) {
        const float *dy = dout + m * D, *xr = x + m * D;
        double r = rstd[m], dot = 0;
        for (int64_t i = 0; i < D; i++) dot += (double)dy[i] * w[i] * xr[i];
        double c = r * r * r * dot / (double)D;
        for (int64_t i = 0; i < D; i++) dx[m * D + i] = (float)(r * w[i] * dy[i] - xr[i] * c);
    }
}

void sa_rmsnorm_bwd(const sa_kernels *k, float *dx, float *dw, const float *dout, const float *x,
                    const float *rstd, const float *w, int64_t M, int64_t D) {
    if (k->reference) {
        rmsnorm_bwd_ref(dx, dw, dout, x, rstd, w, M, D);
        return;
    }
    /* dw: each thread owns a range of columns, so rows add in a fixed order */
    int nt = M * D > 65536 ? k->n_threads : 1;
    (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (dw)
#endif
    for (int t = 0; t < (dw ? nt : 0); t++) { /* dw NULL: a frozen weight */
        int64_t i0 = D * t / nt, i1 = D * (t + 1) / nt;
        for (int64_t m = 0; m < M; m++) {
            const float *dy = dout + m * D, *xr = x + m * D;
            float r = rstd[m];
            for (int64_t i = i0; i < i1; i++) dw[i] += dy[i] * xr[i] * r;
        }
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (M * D > 65536)
#endif
    for (int64_t m = 0; m < M; m++) {
        const float *dy = dout + m * D, *xr = x + m * D;
        float *d = dx + m * D;
        float r = rstd[m], dot = 0;
        for (int64_t i = 0; i < D; i++) dot += dy[i] * w[i] * xr[i];
        float c = r * r * r * dot / (float)D;
        for (int64_t i = 0; i < D; i++) d[i] = r * w[i] * dy[i] - xr[i] * c;
    }
}
