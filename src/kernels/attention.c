/* attention.c — causal scaled dot-product attention over a KV cache with
 * grouped-query heads (fast and reference). */
#include <math.h>
#include <string.h>

#include "sa/kernels.h"
#include "simd.h"

#ifdef SA_HAVE_OPENBLAS
#include <cblas.h>
#endif

static void attend_ref(float *o, float *p, const float *q, const float *kc, const float *vc,
                       int64_t n_ctx, int64_t kv_stride, int64_t hd) {
    double scale = 1.0 / sqrt((double)hd), mx = -INFINITY;
    for (int64_t s = 0; s < n_ctx; s++) {
        double d = 0;
        for (int64_t i = 0; i < hd; i++) d += (double)q[i] * kc[s * kv_stride + i];
        p[s] = (float)(d * scale);
        if (p[s] > mx) mx = p[s];
    }
    double sum = 0;
    for (int64_t s = 0; s < n_ctx; s++) sum += exp((double)p[s] - mx);
    for (int64_t s = 0; s < n_ctx; s++) p[s] = (float)(exp((double)p[s] - mx) / sum);
    for (int64_t i = 0; i < hd; i++) {
        double acc = 0;
        for (int64_t s = 0; s < n_ctx; s++) acc += (double)p[s] * vc[s * kv_stride + i];
        o[i] = (float)acc;
    }
}

/* Softmax of one causal score row in place: scale, keep [0, n_ctx), zero
 * the rest up to S. */
static inline __attribute__((always_inline)) void softmax_causal_row(float *p, int64_t n_ctx, int64_t S, float scale) {
    float mx = -INFINITY;
    for (int64_t s = 0; s < n_ctx; s++) {
        p[s] *= scale;
        mx = p[s] > mx ? p[s] : mx;
    }
    float sum = 0;
    for (int64_t s = 0; s < n_ctx; s++) {
        p[s] = expf(p[s] - mx);
        sum += p[s];
    }
    float inv = 1.0f / sum;
    for (int64_t s = 0; s < n_ctx; s++) p[s] *= inv;
    if (S > n_ctx) memset(p + n_ctx, 0, (size_t)(S - n_ctx) * sizeof(float));
}

SA_CLONES static void attend(float *o, float *p, const float *q, const float *kc, const float *vc, int64_t n_ctx,
                             int64_t kv_stride, int64_t hd) {
    for (int64_t s = 0; s < n_ctx; s++) p[s] = sa_dot(q, kc + s * kv_stride, hd);
    softmax_causal_row(p, n_ctx, n_ctx, 1.0f / sqrtf((float)hd));
    memset(o, 0, (size_t)hd * sizeof(float));
    for (int64_t s = 0; s < n_ctx; s++) sa_axpy(o, p[s], vc + s * kv_stride, hd);
}

/* index of the sequence holding row r (seqs ordered by row0) */
static int64_t seq_of_row(const sa_attn_seq *seqs, int64_t n, int64_t r) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (seqs[mid].row0 <= r) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

#ifdef SA_HAVE_OPENBLAS
SA_CLONES static void softmax_row_clone(float *p, int64_t n_ctx, int64_t S, float scale) {
    softmax_causal_row(p, n_ctx, S, scale);
}

/* A long run of queries (prefill): per head, scores = Q K^T and out = P V
 * as two sgemm calls over strided views of q, the cache and att. */
static void attend_seq_gemm(const sa_kernels *k, float *out, float *att, const float *q, const sa_attn_seq *sq,
                            int64_t att_stride, int64_t n_heads, int64_t n_kv_heads, int64_t hd) {
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd, T = sq->T, S = sq->pos0 + sq->T;
    float scale = 1.0f / sqrtf((float)hd);
    openblas_set_num_threads(k->n_threads);
    for (int64_t h = 0; h < n_heads; h++) {
        const float *qh = q + (sq->row0 * n_heads + h) * hd;
        const float *kh = sq->kc + (h / group) * hd, *vh = sq->vc + (h / group) * hd;
        float *ph = att + (sq->row0 * n_heads + h) * att_stride;
        float *oh = out + (sq->row0 * n_heads + h) * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)S, (int)hd, 1.0f, qh, (int)(n_heads * hd),
                    kh, (int)kv_stride, 0.0f, ph, (int)(n_heads * att_stride));
        int nt = k->n_threads;
        (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (int64_t t = 0; t < T; t++)
            softmax_row_clone(ph + t * n_heads * att_stride, sq->pos0 + t + 1, S, scale);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)S, 1.0f, ph,
                    (int)(n_heads * att_stride), vh, (int)kv_stride, 0.0f, oh, (int)(n_heads * hd));
    }
}
#endif

/* Runs at least this long take the GEMM path (when built with OpenBLAS). */
#define ATTN_GEMM_MIN_T 32

void sa_attention_fwd(const sa_kernels *k, float *out, float *att, const float *q, const sa_attn_seq *seqs,
                      int64_t n_seqs, int64_t att_stride, int64_t n_heads, int64_t n_kv_heads, int64_t hd) {
    if (n_seqs <= 0) return;
#ifdef SA_HAVE_OPENBLAS
    /* long runs (prefill) go through sgemm; the rest share one parallel loop */
    if (!k->reference) {
        bool any_long = false, all_long = true;
        for (int64_t i = 0; i < n_seqs; i++) {
            bool l = seqs[i].T >= ATTN_GEMM_MIN_T;
            any_long |= l;
            all_long &= l;
            if (l) attend_seq_gemm(k, out, att, q, &seqs[i], att_stride, n_heads, n_kv_heads, hd);
        }
        if (all_long) return;
        if (any_long) { /* the short ones, one call each (rare: mixed prefill and decode) */
            for (int64_t i = 0; i < n_seqs; i++)
                if (seqs[i].T < ATTN_GEMM_MIN_T) {
                    sa_attn_seq one = seqs[i];
                    const float *qs = q + one.row0 * n_heads * hd;
                    float *os = out + one.row0 * n_heads * hd, *as = att + one.row0 * n_heads * att_stride;
                    one.row0 = 0;
                    sa_attention_fwd(k, os, as, qs, &one, 1, att_stride, n_heads, n_kv_heads, hd);
                }
            return;
        }
    }
#endif
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd;
    int64_t rows = seqs[n_seqs - 1].row0 + seqs[n_seqs - 1].T;
    bool ref = k->reference;
    int nt = ref || rows * n_heads < 2 ? 1 : k->n_threads;
    (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
#endif
    for (int64_t x = 0; x < rows * n_heads; x++) {
        int64_t r = x / n_heads, h = x % n_heads;
        const sa_attn_seq *sq = &seqs[seq_of_row(seqs, n_seqs, r)];
        int64_t t = r - sq->row0, n_ctx = sq->pos0 + t + 1, S = sq->pos0 + sq->T;
        float *p = att + x * att_stride;
        const float *kr = sq->kc + (h / group) * hd, *vr = sq->vc + (h / group) * hd;
        if (ref) attend_ref(out + x * hd, p, q + x * hd, kr, vr, n_ctx, kv_stride, hd);
        else attend(out + x * hd, p, q + x * hd, kr, vr, n_ctx, kv_stride, hd);
        if (S > n_ctx) memset(p + n_ctx, 0, (size_t)(S - n_ctx) * sizeof(float));
    }
}
