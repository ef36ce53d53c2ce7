/* matmul.c — y = x W^T (+ b): OpenBLAS sgemm for batches, a threaded
 * GEMV for a single row (batch-1 decode is bandwidth-bound and sgemm is
 * slow at M = 1), and a naive reference. */
#include <string.h>

#include "sa/kernels.h"
#include "simd.h"

#ifdef SA_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* Up to this many rows use gemm_small_rows instead of sgemm. */
#ifndef SA_SMALL_M
#define SA_SMALL_M 16
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

/* rows [n0, n1) of a single-row product, compiled per instruction set */
SA_CLONES static void gemv_rows(float *out, const float *x, const float *w, const float *bias, int64_t n0,
                                int64_t n1, int64_t K) {
    for (int64_t n = n0; n < n1; n++) out[n] = sa_dot(x, w + n * K, K) + (bias ? bias[n] : 0.0f);
}

/* rows [n0, n1) of a product with a few input rows: each weight row is
 * read from memory once and used for all M inputs while it sits in L1 —
 * the bandwidth-bound shape of a batched decode step, where sgemm's packing
 * costs more than it saves */
SA_CLONES static void gemm_small_rows(float *out, const float *x, const float *w, const float *bias, int64_t M,
                                      int64_t N, int64_t n0, int64_t n1, int64_t K) {
    for (int64_t n = n0; n < n1; n++) {
        const float *wr = w + n * K;
        float b = bias ? bias[n] : 0.0f;
        for (int64_t m = 0; m < M; m++) out[m * N + n] = sa_dot(x + m * K, wr, K) + b;
    }
}

static void gemv(const sa_kernels *k, float *out, const float *x, const float *w,
                 const float *bias, int64_t N, int64_t K) {
    (void)k;
    int nt = N * K > 32768 ? k->n_threads : 1;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int t = 0; t < nt; t++) gemv_rows(out, x, w, bias, N * t / nt, N * (t + 1) / nt, K);
}

void sa_matmul_fwd(const sa_kernels *k, float *out, const float *x, const float *w,
                   const float *bias, int64_t M, int64_t N, int64_t K) {
    if (k->reference) {
        matmul_ref(out, x, w, bias, M, N, K);
        return;
    }
    bool gemm = k->path == SA_MATMUL_GEMM;
    if (M == 1 && !gemm) {
        gemv(k, out, x, w, bias, N, K);
        return;
    }
    if (k->path == SA_MATMUL_ROWWISE || (M <= SA_SMALL_M && !gemm)) { /* the same sa_dot per row as gemv */
        int nt = k->n_threads;
        (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (int t = 0; t < nt; t++) gemm_small_rows(out, x, w, bias, M, N, N * t / nt, N * (t + 1) / nt, K);
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
            out[m * N + n] = sa_dot(x + m * K, w + n * K, K) + (bias ? bias[n] : 0.0f);
#endif
}

/* ---- backward ---------------------------------------------------------------- */

static void matmul_bwd_ref(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, int64_t M, int64_t N, int64_t K) {
    if (dx)
        for (int64_t m = 0; m < M; m++)
            for (int64_t kk = 0; kk < K; kk++) {
                double acc = 0;
                for (int64_t n = 0; n < N; n++) acc += (double)dout[m * N + n] * w[n * K + kk];
                dx[m * K + kk] = (float)acc;
            }
    for (int64_t n = 0; n < N; n++) {
        for (int64_t kk = 0; dw && kk < K; kk++) {
            double acc = 0;
            for (int64_t m = 0; m < M; m++) acc += (double)dout[m * N + n] * x[m * K + kk];
            dw[n * K + kk] += (float)acc;
        }
        if (db) {
            double acc = 0;
            for (int64_t m = 0; m < M; m++) acc += dout[m * N + n];
            db[n] += (float)acc;
        }
    }
}

#ifndef SA_HAVE_OPENBLAS
/* dx row m = sum_n dout[m,n] w[n,:] */
SA_CLONES static void bwd_dx_rows(float *dx, const float *dout, const float *w, int64_t m0, int64_t m1,
                                  int64_t N, int64_t K) {
    for (int64_t m = m0; m < m1; m++) {
        float *d = dx + m * K;
        memset(d, 0, (size_t)K * sizeof(float));
        for (int64_t n = 0; n < N; n++) sa_axpy(d, dout[m * N + n], w + n * K, K);
    }
}

/* dw row n += sum_m dout[m,n] x[m,:] */
SA_CLONES static void bwd_dw_rows(float *dw, const float *dout, const float *x, int64_t n0, int64_t n1,
                                  int64_t M, int64_t N, int64_t K) {
    for (int64_t n = n0; n < n1; n++)
        for (int64_t m = 0; m < M; m++) sa_axpy(dw + n * K, dout[m * N + n], x + m * K, K);
}
#endif

void sa_matmul_bwd(const sa_kernels *k, float *dx, float *dw, float *db, const float *dout,
                   const float *x, const float *w, int64_t M, int64_t N, int64_t K) {
    if (k->reference) {
        matmul_bwd_ref(dx, dw, db, dout, x, w, M, N, K);
        return;
    }
    if (db) { /* column sums in row order: deterministic and cheap next to the GEMMs */
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) db[n] += dout[m * N + n];
    }
#ifdef SA_HAVE_OPENBLAS
    openblas_set_num_threads(k->n_threads);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)K, (int)N, 1.0f, dout, (int)N, w,
                    (int)K, 0.0f, dx, (int)K);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K, (int)M, 1.0f, dout, (int)N, x,
                    (int)K, 1.0f, dw, (int)K);
#else
    /* split rows of each output across threads: no two threads write one row */
    int nt = M * N * K > 32768 ? k->n_threads : 1;
    (void)nt;
    if (dx) {
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (int t = 0; t < nt; t++) bwd_dx_rows(dx, dout, w, M * t / nt, M * (t + 1) / nt, N, K);
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int t = 0; t < nt && dw; t++) bwd_dw_rows(dw, dout, x, N * t / nt, N * (t + 1) / nt, M, N, K);
#endif
}
