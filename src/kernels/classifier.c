/* classifier.c — the output classifier fused with softmax cross-entropy,
 * forward and backward, over row chunks.
 *
 * Why: the unfused path materialises logits and dlogits for every row,
 * [R, V] floats (524 MB for 16 x 256 tokens at V = 32000), although each
 * row's logits are dead as soon as its dlogits have gone into dw and dx.
 * Here a chunk of rows at a time goes logits -> loss and dlogits (in place)
 * -> dw, dx, so only [chunk, V] floats live at once. Rows whose mask is 0
 * never get logits: with SFT loss masks (prompts masked) most rows are
 * skipped outright. Counted rows are gathered into dense chunks so that a
 * mask with many short spans still gives full-size sgemm calls.
 *
 * Numerics: each chunk's loss and gradient come from
 * sa_cross_entropy_fwd_bwd (the same per-row code, double log-sum-exp); it
 * divides by the chunk's count, so the chunk's dlogits are rescaled to
 * scale / n_total before the two backward products. */
#include <string.h>

#include "sa/kernels.h"

#ifdef SA_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef SA_HAVE_OPENMP
#include <omp.h>
#endif

/* Gather up to `chunk` counted rows starting at row *next: their indices go
 * to idx, *next moves past the last one taken. Returns how many. */
static int64_t next_chunk(int64_t *idx, int64_t *next, const uint8_t *mask, int64_t R, int64_t chunk) {
    int64_t n = 0, r = *next;
    for (; r < R && n < chunk; r++)
        if (!mask || mask[r]) idx[n++] = r;
    *next = r;
    return n;
}

/* floats before the logits: 3 per row (an int64 and an int32 index),
 * rounded up to 16 so the logits start 64-byte aligned in an aligned buffer */
static int64_t ce_header_floats(int64_t chunk) { return (3 * chunk + 15) / 16 * 16; }

int64_t sa_classifier_ce_scratch_floats(int64_t V, int64_t D, int64_t chunk) {
    return ce_header_floats(chunk) + chunk * (V + 2 * D);
}

#if defined(SA_HAVE_OPENBLAS) && defined(SA_HAVE_OPENMP)
/* The threaded path: one parallel region for the whole call. Each round
 * takes up to `chunk` counted rows; threads split its rows for the
 * row-local work (logits, cross-entropy, dx, single-threaded sgemm each),
 * then split the vocabulary for dw += dlogits^T x, so no two threads write
 * one dw row. Two barriers a round, instead of four thread fork/joins per
 * chunk with threaded sgemm — on a shared machine each fork/join can wait a
 * scheduler slice for a descheduled thread. Returns the summed row losses. */
static double ce_rounds_parallel(const sa_kernels *k, float *dx, float *dw, const float *x, const float *w,
                                 const int32_t *targets, const uint8_t *mask, int64_t R, int64_t V, int64_t D,
                                 float scale, int64_t count, float *scratch, int64_t chunk, int nt) {
    int64_t *idx = (int64_t *)(void *)scratch;
    int32_t *tg = (int32_t *)(void *)(idx + chunk);
    float *logits = scratch + ce_header_floats(chunk), *xg = logits + chunk * V, *dxg = xg + chunk * D;
    const bool want_grad = dx || dw;
    double parts[64] = {0}, loss = 0;
    int64_t next = 0, n = 0;
    bool dense = true;
    sa_kernels k1 = *k;
    k1.n_threads = 1;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        for (;;) {
#pragma omp single
            {
                n = next_chunk(idx, &next, mask, R, chunk);
                dense = n > 0 && idx[n - 1] - idx[0] == n - 1;
            } /* implicit barrier: every thread sees the round */
            if (n == 0) break;
            const int64_t lo = n * t / nt, hi = n * (t + 1) / nt, m = hi - lo;
            const float *xc = dense ? x + idx[0] * D : xg;
            if (m > 0) {
                if (!dense)
                    for (int64_t i = lo; i < hi; i++) memcpy(xg + i * D, x + idx[i] * D, (size_t)D * sizeof(float));
                for (int64_t i = lo; i < hi; i++) tg[i] = targets[idx[i]];
                float *lg = logits + lo * V, part = 0;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)V, (int)D, 1.0f, xc + lo * D, (int)D,
                            w, (int)D, 0.0f, lg, (int)V);
                sa_cross_entropy_fwd_bwd(&k1, &part, want_grad ? lg : NULL, lg, tg + lo, NULL, m, V, NULL, NULL);
                parts[t] += (double)part * (double)m;
                if (want_grad) {
                    /* as the serial path: rescale, here folded into sgemm alpha */
                    float rescale = (float)((double)scale * (double)m / (double)count);
                    if (dx) {
                        float *dxc = dense ? dx + idx[lo] * D : dxg + lo * D;
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)D, (int)V, rescale, lg,
                                    (int)V, w, (int)D, 0.0f, dxc, (int)D);
                        if (!dense)
                            for (int64_t i = lo; i < hi; i++)
                                memcpy(dx + idx[i] * D, dxg + i * D, (size_t)D * sizeof(float));
                    }
                    /* dw below mixes rows of several threads: give every row
                     * the same scale first */
                    if (dw && rescale != 1.0f)
                        for (int64_t i = 0; i < m * V; i++) lg[i] *= rescale;
                }
            }
#pragma omp barrier
            if (dw) {
                const int64_t v0 = V * t / nt, v1 = V * (t + 1) / nt;
                if (v1 > v0)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(v1 - v0), (int)D, (int)n, 1.0f,
                                logits + v0, (int)V, xc, (int)D, 1.0f, dw + v0 * D, (int)D);
            }
#pragma omp barrier
        }
    }
    for (int t = 0; t < nt; t++) loss += parts[t];
    return loss;
}
#endif

sa_status sa_classifier_ce_fwd_bwd(const sa_kernels *k, float *loss_out, float *dx, float *dw, const float *x,
                                   const float *w, const int32_t *targets, const uint8_t *mask, int64_t R,
                                   int64_t V, int64_t D, float scale, float *scratch, int64_t chunk,
                                   int64_t *n_counted, sa_err *err) {
    if (R < 0 || V <= 0 || D <= 0 || chunk <= 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "classifier_ce: bad sizes R=%lld V=%lld D=%lld chunk=%lld",
                          (long long)R, (long long)V, (long long)D, (long long)chunk);
    /* validate and count first: the mean is over every counted row of the
     * call, and nothing is written if a target is bad */
    int64_t count = 0;
    for (int64_t r = 0; r < R; r++) {
        if (mask && !mask[r]) continue;
        if (targets[r] < 0 || targets[r] >= V)
            return sa_err_set(err, SA_ERR_RANGE, "classifier_ce: target %lld of row %lld is outside [0, %lld)",
                              (long long)targets[r], (long long)r, (long long)V);
        count++;
    }
    if (n_counted) *n_counted = count;
    if (dx) memset(dx, 0, (size_t)(R * D) * sizeof(float)); /* rows not counted get 0 */
    if (count == 0) {
        if (loss_out) *loss_out = 0.0f;
        return SA_OK;
    }
#if defined(SA_HAVE_OPENBLAS) && defined(SA_HAVE_OPENMP)
    if (!k->reference && k->n_threads > 1) {
        int nt = k->n_threads < 64 ? k->n_threads : 64;
        double sum = ce_rounds_parallel(k, dx, dw, x, w, targets, mask, R, V, D, scale, count, scratch, chunk, nt);
        if (loss_out) *loss_out = (float)(sum / (double)count);
        return SA_OK;
    }
#endif
    bool want_grad = dx || dw;
    /* scratch layout (sa_classifier_ce_scratch_floats): row indices
     * [chunk] int64, targets [chunk] int32, then from a 64-byte boundary
     * logits/dlogits [chunk, V] and the gathered rows [chunk, D] (x_c on the
     * way in, dx_c on the way out) */
    int64_t *idx = (int64_t *)(void *)scratch;
    int32_t *tg = (int32_t *)(void *)(idx + chunk);
    float *logits = scratch + ce_header_floats(chunk), *xg = logits + chunk * V;
    double loss_sum = 0;
    int64_t next = 0;
    for (;;) {
        int64_t n = next_chunk(idx, &next, mask, R, chunk);
        if (n == 0) break;
        /* contiguous rows (no mask, or one long span) need no gather */
        bool dense = idx[n - 1] - idx[0] == n - 1;
        const float *xc = x + idx[0] * D;
        if (!dense) {
            for (int64_t i = 0; i < n; i++) memcpy(xg + i * D, x + idx[i] * D, (size_t)D * sizeof(float));
            xc = xg;
        }
        for (int64_t i = 0; i < n; i++) tg[i] = targets[idx[i]];
        sa_matmul_fwd(k, logits, xc, w, NULL, n, V, D);
        float chunk_loss = 0;
        sa_status s = sa_cross_entropy_fwd_bwd(k, &chunk_loss, want_grad ? logits : NULL, logits, tg, NULL, n, V,
                                               NULL, err);
        if (s) return s; /* cannot happen: targets were checked above */
        loss_sum += (double)chunk_loss * (double)n;
        if (!want_grad) continue;
        /* the chunk's dlogits are d(mean over n)/dlogits; make them
         * scale * d(mean over count)/dlogits */
        float rescale = (float)((double)scale * (double)n / (double)count);
        if (rescale != 1.0f)
            for (int64_t i = 0; i < n * V; i++) logits[i] *= rescale;
        /* dw first: the gathered x_c buffer is then free to receive dx_c */
        if (dw) sa_matmul_bwd(k, NULL, dw, NULL, logits, xc, w, n, V, D);
        if (dx) {
            float *dxc = dense ? dx + idx[0] * D : xg;
            sa_matmul_bwd(k, dxc, NULL, NULL, logits, xc, w, n, V, D); /* x is not read without dw */
            if (!dense)
                for (int64_t i = 0; i < n; i++) memcpy(dx + idx[i] * D, xg + i * D, (size_t)D * sizeof(float));
        }
    }
    if (loss_out) *loss_out = (float)(loss_sum / (double)count);
    return SA_OK;
}
