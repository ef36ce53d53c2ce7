/* matmul.c — y = x W^T (+ b): OpenBLAS sgemm for batches, a threaded
 * GEMV for a single row (batch-1 decode is bandwidth-bound and sgemm is
 * slow at M = 1), and a naive reference. */
#include <string.h>

#include "sa/kernels.h"

#ifdef SA_HAVE_OPENBLAS
#include <cblas.h>
#endif

static void matmul_ref(float *out, const float *x, const float *w, const float *bias,
                       int64_t M, int64_t N, int64_t K) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = bias ? bias[n] : 0.0;
            for (int64_t kk = 0; kk < K; kk++) acc += (double)x[m * K + kk] * w[n * K + kk];
            out[m * N + n] = (float)acc;
        }
}

static inline float dot(const float *a, const float *b, int64_t K) {
    /* 8 independent accumulators so the compiler vectorises without
     * reassociating a single sum */
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= K; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < K; i++) s += a[i] * b[i];
    return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void gemv(const sa_kernels *k, float *out, const float *x, const float *w,
                 const float *bias, int64_t N, int64_t K) {
    (void)k;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (N * K > 32768)
#endif
    for (int64_t n = 0; n < N; n++) out[n] = dot(x, w + n * K, K) + (bias ? bias[n] : 0.0f);
}

void sa_matmul_fwd(const sa_kernels *k, float *out, const float *x, const float *w,
                   const float *bias, int64_t M, int64_t N, int64_t K) {
    if (k->reference) {
        matmul_ref(out, x, w, bias, M, N, K);
        return;
    }
    if (M == 1) {
        gemv(k, out, x, w, bias, N, K);
        return;
    }
#ifdef SA_HAVE_OPENBLAS
    openblas_set_num_threads(k->n_threads);
    if (bias) {
        for (int64_t m = 0; m < M; m++) memcpy(out + m * N, bias, (size_t)N * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x, (int)K,
                w, (int)K, bias ? 1.0f : 0.0f, out, (int)N);
#else
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for collapse(2) num_threads(k->n_threads) schedule(static)
#endif
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++)
            out[m * N + n] = dot(x + m * K, w + n * K, K) + (bias ? bias[n] : 0.0f);
#endif
}
