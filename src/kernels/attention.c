/* attention.c — causal scaled dot-product attention over a KV cache with
 * grouped-query heads (fast and reference). */
#include <math.h>
#include <string.h>

#include "sa/kernels.h"
#include "simd.h"

#ifdef SA_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef SA_HAVE_OPENMP
#include <omp.h>
#endif

/* returns the row's log-sum-exp of the scaled scores (for the _lse variants) */
static double attend_ref(float *o, float *p, const float *q, const float *kc, const float *vc,
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
    return mx + log(sum);
}

/* Softmax of one causal score row in place: scale, keep [0, n_ctx), zero
 * the rest up to S. Returns the log-sum-exp of the scaled scores. */
static inline __attribute__((always_inline)) float softmax_causal_row(float *p, int64_t n_ctx, int64_t S, float scale) {
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
    return mx + logf(sum);
}

SA_CLONES static float attend(float *o, float *p, const float *q, const float *kc, const float *vc, int64_t n_ctx,
                             int64_t kv_stride, int64_t hd) {
    for (int64_t s = 0; s < n_ctx; s++) p[s] = sa_dot(q, kc + s * kv_stride, hd);
    float lse = softmax_causal_row(p, n_ctx, n_ctx, 1.0f / sqrtf((float)hd));
    memset(o, 0, (size_t)hd * sizeof(float));
    for (int64_t s = 0; s < n_ctx; s++) sa_axpy(o, p[s], vc + s * kv_stride, hd);
    return lse;
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
SA_CLONES static float softmax_row_clone(float *p, int64_t n_ctx, int64_t S, float scale) {
    return softmax_causal_row(p, n_ctx, S, scale);
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

/* ---- backward ----------------------------------------------------------------
 * Per query row x = (t, h) over its keys j <= pos0 + t, with p the saved
 * probabilities and g = dout[x]:
 *   dp_j = <g, v_j>,  ds_j = p_j (dp_j - sum_i p_i dp_i),
 *   dq = scale sum_j ds_j k_j,  dk_j += scale ds_j q,  dv_j += p_j g.
 * ds goes to scratch; dq is per row, dk/dv are summed per (kv head, key)
 * so no two threads add into one row. */

static void attention_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *att,
                              const float *q, const float *kc, const float *vc, int64_t T, int64_t pos0,
                              int64_t att_stride, int64_t n_heads, int64_t n_kv_heads, int64_t hd,
                              float *scratch) {
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd;
    double scale = 1.0 / sqrt((double)hd);
    for (int64_t x = 0; x < T * n_heads; x++) {
        int64_t t = x / n_heads, h = x % n_heads, n_ctx = pos0 + t + 1;
        const float *p = att + x * att_stride, *g = dout + x * hd, *qr = q + x * hd;
        const float *kr = kc + (h / group) * hd, *vr = vc + (h / group) * hd;
        float *ds = scratch + x * att_stride;
        double c = 0;
        for (int64_t j = 0; j < n_ctx; j++) {
            double d = 0;
            for (int64_t i = 0; i < hd; i++) d += (double)g[i] * vr[j * kv_stride + i];
            ds[j] = (float)d;
            c += p[j] * (double)ds[j]; /* the stored value, so one key gives exactly 0 */
        }
        for (int64_t j = 0; j < n_ctx; j++) ds[j] = (float)(p[j] * (ds[j] - c));
        for (int64_t i = 0; i < hd; i++) {
            double acc = 0;
            for (int64_t j = 0; j < n_ctx; j++) acc += (double)ds[j] * kr[j * kv_stride + i];
            dq[x * hd + i] = (float)(acc * scale);
        }
        for (int64_t j = 0; j < n_ctx; j++) {
            float *dkr = dk + j * kv_stride + (h / group) * hd, *dvr = dv + j * kv_stride + (h / group) * hd;
            for (int64_t i = 0; i < hd; i++) {
                dkr[i] += (float)(scale * ds[j] * qr[i]);
                dvr[i] += p[j] * g[i];
            }
        }
    }
}

/* ds and dq of one query row */
SA_CLONES static void attn_bwd_row(float *dq, float *ds, const float *p, const float *g, const float *kr,
                                   const float *vr, int64_t n_ctx, int64_t kv_stride, int64_t hd, float scale) {
    float c = 0;
    for (int64_t j = 0; j < n_ctx; j++) {
        ds[j] = sa_dot(g, vr + j * kv_stride, hd);
        c += p[j] * ds[j];
    }
    memset(dq, 0, (size_t)hd * sizeof(float));
    for (int64_t j = 0; j < n_ctx; j++) {
        ds[j] = p[j] * (ds[j] - c);
        sa_axpy(dq, scale * ds[j], kr + j * kv_stride, hd);
    }
}

/* dk and dv of key j of one kv head: sums over the rows that see it */
SA_CLONES static void attn_bwd_key(float *dkr, float *dvr, const float *ds, const float *att, const float *q,
                                   const float *dout, int64_t j, int64_t t0, int64_t T, int64_t h0,
                                   int64_t group, int64_t n_heads, int64_t att_stride, int64_t hd, float scale) {
    for (int64_t t = t0; t < T; t++)
        for (int64_t h = h0; h < h0 + group; h++) {
            int64_t x = t * n_heads + h;
            sa_axpy(dkr, scale * ds[x * att_stride + j], q + x * hd, hd);
            sa_axpy(dvr, att[x * att_stride + j], dout + x * hd, hd);
        }
}

#ifdef SA_HAVE_OPENBLAS
SA_CLONES static void ds_row_clone(float *ds, const float *p, int64_t S) {
    float c = 0;
    for (int64_t j = 0; j < S; j++) c += p[j] * ds[j];
    for (int64_t j = 0; j < S; j++) ds[j] = p[j] * (ds[j] - c);
}

/* Long sequences: per head, dP = dO V^T, dQ = scale dS K, dK += scale dS^T Q
 * and dV += P^T dO as four sgemm calls; the zero probabilities past the
 * causal limit make the masked entries of dS zero. Heads run in order, so
 * the heads of a group add into dk/dv one after another. */
static void attention_bwd_gemm(const sa_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                               const float *att, const float *q, const float *kc, const float *vc, int64_t T,
                               int64_t pos0, int64_t att_stride, int64_t n_heads, int64_t n_kv_heads,
                               int64_t hd, float *scratch) {
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd, S = pos0 + T;
    int ld = (int)(n_heads * hd), lda = (int)(n_heads * att_stride), ldk = (int)kv_stride;
    float scale = 1.0f / sqrtf((float)hd);
    openblas_set_num_threads(k->n_threads);
    for (int64_t h = 0; h < n_heads; h++) {
        int64_t off = (h / group) * hd;
        const float *gh = dout + h * hd, *qh = q + h * hd, *ph = att + h * att_stride;
        float *sh = scratch + h * att_stride, *dqh = dq + h * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)S, (int)hd, 1.0f, gh, ld, vc + off, ldk,
                    0.0f, sh, lda);
        int nt = k->n_threads;
        (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (int64_t t = 0; t < T; t++) ds_row_clone(sh + t * lda, ph + t * lda, S);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)S, scale, sh, lda, kc + off,
                    ldk, 0.0f, dqh, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)S, (int)hd, (int)T, scale, sh, lda, qh, ld, 1.0f,
                    dk + off, ldk);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)S, (int)hd, (int)T, 1.0f, ph, lda, gh, ld, 1.0f,
                    dv + off, ldk);
    }
}
#endif

void sa_attention_bwd(const sa_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                      const float *att, const float *q, const float *kc, const float *vc, int64_t T,
                      int64_t pos0, int64_t att_stride, int64_t n_heads, int64_t n_kv_heads,
                      int64_t hd, float *scratch) {
    if (T <= 0) return;
    if (k->reference) {
        attention_bwd_ref(dq, dk, dv, dout, att, q, kc, vc, T, pos0, att_stride, n_heads, n_kv_heads, hd, scratch);
        return;
    }
#ifdef SA_HAVE_OPENBLAS
    if (T >= ATTN_GEMM_MIN_T) {
        attention_bwd_gemm(k, dq, dk, dv, dout, att, q, kc, vc, T, pos0, att_stride, n_heads, n_kv_heads, hd,
                           scratch);
        return;
    }
#endif
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd, S = pos0 + T;
    float scale = 1.0f / sqrtf((float)hd);
    int nt = T * n_heads < 2 ? 1 : k->n_threads;
    (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
#endif
    for (int64_t x = 0; x < T * n_heads; x++) {
        int64_t t = x / n_heads, h = x % n_heads, off = (h / group) * hd;
        attn_bwd_row(dq + x * hd, scratch + x * att_stride, att + x * att_stride, dout + x * hd, kc + off, vc + off,
                     pos0 + t + 1, kv_stride, hd, scale);
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
#endif
    for (int64_t y = 0; y < n_kv_heads * S; y++) {
        int64_t g = y / S, j = y % S, t0 = j > pos0 ? j - pos0 : 0;
        attn_bwd_key(dk + j * kv_stride + g * hd, dv + j * kv_stride + g * hd, scratch, att, q, dout, j, t0, T,
                     g * group, group, n_heads, att_stride, hd, scale);
    }
}

/* ---- training variant: save the log-sum-exp, recompute probabilities ------
 * sa_attention_fwd keeps [rows, n_heads, S] probabilities for the backward
 * pass — for training that is L * rows * H * T floats, the biggest
 * activation. The _lse pair keeps one float per (row, head) instead:
 * lse = log sum_j exp(scale q.k_j), from which the backward rebuilds
 * p_j = exp(scale q.k_j - lse) exactly where it needs it, one sequence at a
 * time in a caller scratch. The extra cost is one Q K^T product per head. */

#ifdef SA_HAVE_OPENBLAS
/* Query rows per block on the GEMM paths of the _lse pair: block [t0, t1)
 * needs keys [0, pos0 + t1) only, so the products skip the masked upper
 * triangle (T = 256 in blocks of 64 does 10/16 of the full work) while the
 * sgemm calls stay large enough to run near peak. */
#define ATTN_LSE_BLOCK 64

/* One head of one long sequence, single-threaded: per query block,
 * scores = Q K^T into p [T, S], softmax rows (saving lse), out = P V.
 *
 * Threads split (sequence, head) items, each running its own sgemm calls
 * (OpenBLAS runs single-threaded inside a parallel region): one parallel
 * region per call instead of three per head and block. Thousands of short
 * regions cost little on a quiet machine but stall on a shared one, where a
 * descheduled thread holds up every barrier. */
static void attend_head_gemm_lse(float *out, float *lse, const float *q, const sa_attn_seq *sq, int64_t h,
                                 int64_t n_heads, int64_t n_kv_heads, int64_t hd, float *p) {
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd, T = sq->T, S = sq->pos0 + sq->T;
    int ld = (int)(n_heads * hd);
    float scale = 1.0f / sqrtf((float)hd);
    const float *kh = sq->kc + (h / group) * hd, *vh = sq->vc + (h / group) * hd;
    for (int64_t t0 = 0; t0 < T; t0 += ATTN_LSE_BLOCK) {
        int64_t t1 = t0 + ATTN_LSE_BLOCK < T ? t0 + ATTN_LSE_BLOCK : T, Sb = sq->pos0 + t1;
        const float *qb = q + ((sq->row0 + t0) * n_heads + h) * hd;
        float *ob = out + ((sq->row0 + t0) * n_heads + h) * hd, *pb = p + t0 * S;
        float *lb = lse + (sq->row0 + t0) * n_heads + h;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(t1 - t0), (int)Sb, (int)hd, 1.0f, qb, ld, kh,
                    (int)kv_stride, 0.0f, pb, (int)S);
        for (int64_t t = 0; t < t1 - t0; t++)
            lb[t * n_heads] = softmax_row_clone(pb + t * S, sq->pos0 + t0 + t + 1, Sb, scale);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(t1 - t0), (int)hd, (int)Sb, 1.0f, pb, (int)S, vh,
                    (int)kv_stride, 0.0f, ob, ld);
    }
}
#endif

void sa_attention_fwd_lse(const sa_kernels *k, float *out, float *lse, const float *q, const sa_attn_seq *seqs,
                          int64_t n_seqs, int64_t n_heads, int64_t n_kv_heads, int64_t hd, float *scratch) {
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd;
    bool ref = k->reference;
#ifdef SA_HAVE_OPENBLAS
    /* long sequences: all (sequence, head) items in one parallel region; a
     * thread's [T, S] probabilities sit at scratch + tid * Tmax * Smax, so
     * at most n_heads threads fit the documented scratch */
    if (!ref) {
        int64_t n_long = 0, tmax = 0, smax = 0;
        for (int64_t i = 0; i < n_seqs; i++)
            if (seqs[i].T >= ATTN_GEMM_MIN_T) {
                n_long++;
                tmax = seqs[i].T > tmax ? seqs[i].T : tmax;
                smax = seqs[i].pos0 + seqs[i].T > smax ? seqs[i].pos0 + seqs[i].T : smax;
            }
        if (n_long > 0) {
            int64_t items = n_seqs * n_heads;
            int nt = k->n_threads < n_heads ? k->n_threads : (int)n_heads;
            (void)nt;
            openblas_set_num_threads(k->n_threads); /* used when nt == 1 (no parallel region) */
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
#endif
            for (int64_t x = 0; x < items; x++) {
                const sa_attn_seq *sq = &seqs[x / n_heads];
                if (sq->T < ATTN_GEMM_MIN_T) continue;
                int tid = 0;
#ifdef SA_HAVE_OPENMP
                tid = omp_get_thread_num();
#endif
                attend_head_gemm_lse(out, lse, q, sq, x % n_heads, n_heads, n_kv_heads, hd,
                                     scratch + (int64_t)tid * tmax * smax);
            }
        }
    }
#endif
    for (int64_t i = 0; i < n_seqs; i++) {
        const sa_attn_seq *sq = &seqs[i];
        if (sq->T <= 0) continue;
#ifdef SA_HAVE_OPENBLAS
        if (!ref && sq->T >= ATTN_GEMM_MIN_T) continue; /* done above */
#endif
        int64_t n = sq->T * n_heads, S = sq->pos0 + sq->T;
        int nt = ref || n < 2 ? 1 : k->n_threads;
        (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
#endif
        for (int64_t x = 0; x < n; x++) {
            int64_t t = x / n_heads, h = x % n_heads, r = sq->row0 * n_heads + x;
            const float *kr = sq->kc + (h / group) * hd, *vr = sq->vc + (h / group) * hd;
            float *p = scratch + x * S;
            if (ref) lse[r] = (float)attend_ref(out + r * hd, p, q + r * hd, kr, vr, sq->pos0 + t + 1, kv_stride, hd);
            else lse[r] = attend(out + r * hd, p, q + r * hd, kr, vr, sq->pos0 + t + 1, kv_stride, hd);
        }
    }
}

/* p[j] = exp(scale s[j] - lse) for j < n_ctx, 0 up to S (s already in p) */
SA_CLONES static void probs_from_scores(float *p, int64_t n_ctx, int64_t S, float scale, float lse) {
    for (int64_t j = 0; j < n_ctx; j++) p[j] = expf(p[j] * scale - lse);
    if (S > n_ctx) memset(p + n_ctx, 0, (size_t)(S - n_ctx) * sizeof(float));
}

/* one row's probabilities from q, its keys and lse */
SA_CLONES static void probs_row(float *p, const float *qr, const float *kr, int64_t n_ctx, int64_t S,
                                int64_t kv_stride, int64_t hd, float scale, float lse) {
    for (int64_t j = 0; j < n_ctx; j++) p[j] = sa_dot(qr, kr + j * kv_stride, hd);
    probs_from_scores(p, n_ctx, S, scale, lse);
}

#ifdef SA_HAVE_OPENBLAS
/* attention_bwd_gemm with P rebuilt, for the heads of kv head g, single-
 * threaded, per query block (keys [0, pos0 + t1) only, as in the forward).
 * The heads of one group add into the same dk/dv rows, so a group is one
 * work item; scratch is P [T, S] and dS [T, S] of the current head. */
static void attn_bwd_group_gemm_lse(float *dq, float *dk, float *dv, const float *dout, const float *lse,
                                    const float *q, const float *kc, const float *vc, int64_t T, int64_t pos0,
                                    int64_t g, int64_t n_heads, int64_t n_kv_heads, int64_t hd, float *scratch) {
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd, S = pos0 + T, off = g * hd;
    int ld = (int)(n_heads * hd), ldp = (int)S, ldk = (int)kv_stride;
    float scale = 1.0f / sqrtf((float)hd), *ph = scratch, *sh = scratch + T * S;
    for (int64_t h = g * group; h < (g + 1) * group; h++)
        for (int64_t t0 = 0; t0 < T; t0 += ATTN_LSE_BLOCK) {
            int64_t t1 = t0 + ATTN_LSE_BLOCK < T ? t0 + ATTN_LSE_BLOCK : T, Sb = pos0 + t1;
            int M = (int)(t1 - t0);
            const float *gb = dout + (t0 * n_heads + h) * hd, *qb = q + (t0 * n_heads + h) * hd;
            const float *lb = lse + t0 * n_heads + h;
            float *pb = ph + t0 * S, *sb = sh + t0 * S, *dqb = dq + (t0 * n_heads + h) * hd;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, (int)Sb, (int)hd, 1.0f, qb, ld, kc + off, ldk, 0.0f,
                        pb, ldp);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, (int)Sb, (int)hd, 1.0f, gb, ld, vc + off, ldk, 0.0f,
                        sb, ldp);
            for (int64_t t = 0; t < M; t++) {
                probs_from_scores(pb + t * S, pos0 + t0 + t + 1, Sb, scale, lb[t * n_heads]);
                ds_row_clone(sb + t * S, pb + t * S, Sb);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, (int)hd, (int)Sb, scale, sb, ldp, kc + off, ldk,
                        0.0f, dqb, ld);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Sb, (int)hd, M, scale, sb, ldp, qb, ld, 1.0f,
                        dk + off, ldk);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Sb, (int)hd, M, 1.0f, pb, ldp, gb, ld, 1.0f,
                        dv + off, ldk);
        }
}

/* Groups split across threads (one parallel region, scratch 2 T S per
 * thread); with fewer groups than threads (MQA) the groups run in turn on
 * threaded sgemm instead. */
static void attention_bwd_gemm_lse(const sa_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                                   const float *lse, const float *q, const float *kc, const float *vc, int64_t T,
                                   int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t hd, float *scratch) {
    int64_t S = pos0 + T;
    openblas_set_num_threads(k->n_threads);
    int nt = k->n_threads < n_kv_heads ? k->n_threads : (int)n_kv_heads;
    if (nt < 2) {
        for (int64_t g = 0; g < n_kv_heads; g++)
            attn_bwd_group_gemm_lse(dq, dk, dv, dout, lse, q, kc, vc, T, pos0, g, n_heads, n_kv_heads, hd, scratch);
        return;
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
#endif
    for (int64_t g = 0; g < n_kv_heads; g++) {
        int tid = 0;
#ifdef SA_HAVE_OPENMP
        tid = omp_get_thread_num();
#endif
        attn_bwd_group_gemm_lse(dq, dk, dv, dout, lse, q, kc, vc, T, pos0, g, n_heads, n_kv_heads, hd,
                                scratch + (int64_t)tid * 2 * T * S);
    }
}
#endif

void sa_attention_bwd_lse(const sa_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                          const float *lse, const float *q, const float *kc, const float *vc, int64_t T,
                          int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t hd, float *scratch) {
    if (T <= 0) return;
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd, S = pos0 + T, n = T * n_heads;
    float *p = scratch, *ds = scratch + n * S;
    if (k->reference) {
        /* rebuild P as [T, n_heads, S] in double, then the saved-P reference */
        double scale = 1.0 / sqrt((double)hd);
        for (int64_t x = 0; x < n; x++) {
            int64_t t = x / n_heads, h = x % n_heads, n_ctx = pos0 + t + 1;
            const float *kr = kc + (h / group) * hd;
            for (int64_t j = 0; j < S; j++) {
                double d = 0;
                for (int64_t i = 0; j < n_ctx && i < hd; i++) d += (double)q[x * hd + i] * kr[j * kv_stride + i];
                p[x * S + j] = j < n_ctx ? (float)exp(d * scale - (double)lse[x]) : 0.0f;
            }
        }
        attention_bwd_ref(dq, dk, dv, dout, p, q, kc, vc, T, pos0, S, n_heads, n_kv_heads, hd, ds);
        return;
    }
#ifdef SA_HAVE_OPENBLAS
    if (T >= ATTN_GEMM_MIN_T) {
        attention_bwd_gemm_lse(k, dq, dk, dv, dout, lse, q, kc, vc, T, pos0, n_heads, n_kv_heads, hd, scratch);
        return;
    }
#endif
    float scale = 1.0f / sqrtf((float)hd);
    int nt = n < 2 ? 1 : k->n_threads;
    (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
#endif
    for (int64_t x = 0; x < n; x++) {
        int64_t t = x / n_heads, h = x % n_heads, off = (h / group) * hd;
        probs_row(p + x * S, q + x * hd, kc + off, pos0 + t + 1, S, kv_stride, hd, scale, lse[x]);
        attn_bwd_row(dq + x * hd, ds + x * S, p + x * S, dout + x * hd, kc + off, vc + off, pos0 + t + 1, kv_stride,
                     hd, scale);
    }
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
#endif
    for (int64_t y = 0; y < n_kv_heads * S; y++) {
        int64_t g = y / S, j = y % S, t0 = j > pos0 ? j - pos0 : 0;
        attn_bwd_key(dk + j * kv_stride + g * hd, dv + j * kv_stride + g * hd, ds, p, q, dout, j, t0, T, g * group,
                     group, n_heads, S, hd, scale);
    }
}
