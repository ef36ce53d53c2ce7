/* softmax.c — row-wise softmax (fast and reference). */
#include <math.h>

#include "sa/kernels.h"

static void softmax_row(float *out, const float *x, int64_t N, bool ref) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < N; i++) mx = x[i] > mx ? x[i] : mx;
    if (ref) {
        double s = 0;
        for (int64_t i = 0; i < N; i++) s += exp((double)x[i] - mx);
        for (int64_t i = 0; i < N; i++) out[i] = (float)(exp((double)x[i] - mx) / s);
        return;
    }
    float s = 0;
    for (int64_t i = 0; i < N; i++) {
        out[i] = expf(x[i] - mx);
        s += out[i];
    }
    float inv = 1.0f / s;
    for (int64_t i = 0; i < N; i++) out[i] *= inv;
}

void sa_softmax_fwd(const sa_kernels *k, float *out, const float *x, int64_t M, int64_t N) {
    if (k->reference) {
        for (int64_t m = 0; m < M; m++) softmax_row(out + m * N, x + m * N, N, true);
        return;
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (M * N > 65536)
#endif
    for (int64_t m = 0; m < M; m++) softmax_row(out + m * N, x + m * N, N, false);
}

/* ---- backward: dx = y * (dout - <dout, y>) per row; the dot is taken
 * before any write, so dx may alias dout ---- */

static void softmax_bwd_row(float *dx, const float *dy, const float *y, int64_t N, bool ref) {
    if (ref) {
        double dot = 0;
        for (int64_t i = 0; i < N; i++) dot += (double)dy[i] * y[i];
        for (int64_t i = 0; i < N; i++) dx[i] = (float)(y[i] * (dy[i] - dot));
        return;
    }
    float dot = 0;
    for (int64_t i = 0; i < N; i++) dot += dy[i] * y[i];
    for (int64_t i = 0; i < N; i++) dx[i] = y[i] * (dy[i] - dot);
}

void sa_softmax_bwd(const sa_kernels *k, float *dx, const float *dout, const float *y, int64_t M,
                    int64_t N) {
    if (k->reference) {
        for (int64_t m = 0; m < M; m++) softmax_bwd_row(dx + m * N, dout + m * N, y + m * N, N, true);
        return;
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (M * N > 65536)
#endif
    for (int64_t m = 0; m < M; m++) softmax_bwd_row(dx + m * N, dout + m * N, y + m * N, N, false);
}
