/* test_kernels_train.c — the memory-saving training kernels against the
 * plain ones they replace:
 *   - sa_classifier_ce_fwd_bwd (chunked classifier + cross-entropy) against
 *     sa_matmul_fwd + sa_cross_entropy_fwd_bwd + sa_matmul_bwd, with masks
 *     that leave gaps inside chunks, chunk sizes from 1 to past R, a scale,
 *     loss-only and frozen-weight calls, all rows masked and a bad target;
 *   - sa_attention_fwd_lse / sa_attention_bwd_lse against sa_attention_fwd /
 *     sa_attention_bwd (T = 1 and short runs, T = 40 on the GEMM path,
 *     T = 70 and 150 over several causal query blocks, decode-style
 *     pos0 > 0, GQA, several sequences), and against central
 *     finite differences; fast and reference paths alike. */
#include <math.h>
#include <stdint.h>

#include "sa/alloc.h"
#include "sa/kernels.h"
#include "sa_test.h"

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xFFFFFF) / 16777216.0f * 2.0f - 1.0f;
}
static float *rand_buf(uint64_t *s, int64_t n, float amp) {
    float *p = sa_aligned_alloc((size_t)(n > 0 ? n : 1), sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = amp * frand(s);
    return p;
}
static float *copy_buf(const float *a, int64_t n) {
    float *p = sa_aligned_alloc((size_t)(n > 0 ? n : 1), sizeof(float));
    memcpy(p, a, (size_t)n * sizeof(float));
    return p;
}
/* Largest absolute difference relative to the largest reference magnitude
 * (element-wise relative error is meaningless where sums cancel), and to no
 * less than `floor` (a gradient that is exactly 0 in one path, like dq of a
 * single-key softmax, is ~1e-8 in the other). */
static double max_rel_err_floor(const float *a, const float *b, int64_t n, double floor) {
    double m = 0, scale = floor;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m) m = d;
        if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    }
    return m / scale;
}
static double max_rel_err(const float *a, const float *b, int64_t n) { return max_rel_err_floor(a, b, n, 1e-30); }

/* ---- classifier + cross-entropy ---------------------------------------------- */

/* The unfused path: logits for every row, cross-entropy, dlogits * scale,
 * matmul backward. dx, dw as in the fused kernel's contract. */
static void classifier_unfused(sa_test *t, const sa_kernels *k, float *loss, float *dx, float *dw, const float *x,
                               const float *w, const int32_t *tg, const uint8_t *mask, int64_t R, int64_t V,
                               int64_t D, float scale) {
    float *logits = sa_aligned_alloc((size_t)(R * V), sizeof(float));
    sa_err err = {0};
    sa_matmul_fwd(k, logits, x, w, NULL, R, V, D);
    SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(k, loss, logits, logits, tg, mask, R, V, NULL, &err), &err);
    for (int64_t i = 0; i < R * V; i++) logits[i] *= scale;
    sa_matmul_bwd(k, dx, dw, NULL, logits, x, w, R, V, D);
    free(logits);
}

/* One comparison: fused (given chunk) vs unfused on the same inputs, dw
 * starting from the same nonzero values (it accumulates). */
static void classifier_case(sa_test *t, bool reference, int threads, int64_t R, int64_t V, int64_t D, int64_t chunk,
                            int mask_kind, float scale, uint64_t seed) {
    sa_kernels k;
    sa_kernels_init(&k, threads);
    k.reference = reference;
    uint64_t s = seed;
    float *x = rand_buf(&s, R * D, 1.0f), *w = rand_buf(&s, V * D, 0.5f), *dw0 = rand_buf(&s, V * D, 0.1f);
    int32_t *tg = sa_malloc_array((size_t)R, sizeof(int32_t));
    uint8_t *mask = sa_malloc_array((size_t)R, 1);
    for (int64_t r = 0; r < R; r++) {
        tg[r] = (int32_t)((r * 7 + 3) % V);
        /* 1: spans with gaps (prompt/response), 2: every third row, 0: none */
        mask[r] = mask_kind == 1 ? (uint8_t)((r % 11) >= 4) : mask_kind == 2 ? (uint8_t)(r % 3 == 1) : 1;
    }
    const uint8_t *m = mask_kind ? mask : NULL;
    float *dx_a = rand_buf(&s, R * D, 9.0f), *dx_b = rand_buf(&s, R * D, 9.0f); /* garbage: OVERWRITE */
    float *dw_a = copy_buf(dw0, V * D), *dw_b = copy_buf(dw0, V * D);
    float *scr = sa_aligned_alloc((size_t)sa_classifier_ce_scratch_floats(V, D, chunk), sizeof(float));
    float la = 0, lb = 0, lc = -1;
    int64_t na = -1;
    sa_err err = {0};
    classifier_unfused(t, &k, &la, dx_a, dw_a, x, w, tg, m, R, V, D, scale);
    SA_CHECK_OK(t, sa_classifier_ce_fwd_bwd(&k, &lb, dx_b, dw_b, x, w, tg, m, R, V, D, scale, scr, chunk, &na, &err),
                &err);
    int64_t count = 0;
    for (int64_t r = 0; r < R; r++) count += !m || m[r];
    SA_CHECK_EQ_INT(t, na, count);
    /* float tolerance: both paths sum V exponentials and D-term products in
     * float (in different chunkings for the fast sgemm); 1e-5 is ~100 ulp */
    SA_CHECKF(t, fabs((double)la - lb) <= 1e-5 * fabs((double)la), "R=%lld chunk=%lld loss %.8g vs %.8g",
              (long long)R, (long long)chunk, la, lb);
    double ex = max_rel_err(dx_b, dx_a, R * D), ew = max_rel_err(dw_b, dw_a, V * D);
    SA_CHECKF(t, ex < 1e-5 && ew < 1e-5,
              "R=%lld V=%lld chunk=%lld mask %d ref %d threads %d: dx err %.3g, dw err %.3g", (long long)R,
              (long long)V, (long long)chunk, mask_kind, reference, threads, ex, ew);
    for (int64_t r = 0; r < R; r++)
        if (m && !m[r])
            for (int64_t i = 0; i < D; i++) SA_CHECK(t, dx_b[r * D + i] == 0.0f);
    /* loss only: same loss, nothing written */
    SA_CHECK_OK(t, sa_classifier_ce_fwd_bwd(&k, &lc, NULL, NULL, x, w, tg, m, R, V, D, scale, scr, chunk, NULL, &err),
                &err);
    SA_CHECKF(t, fabs((double)lc - lb) <= 1e-6 * fabs((double)lb), "loss-only %.8g vs %.8g", lc, lb);
    /* frozen classifier (LoRA): dx only, equal to the full call's dx */
    float *dx_c = rand_buf(&s, R * D, 9.0f);
    SA_CHECK_OK(t, sa_classifier_ce_fwd_bwd(&k, &lc, dx_c, NULL, x, w, tg, m, R, V, D, scale, scr, chunk, NULL, &err),
                &err);
    SA_CHECK(t, max_rel_err(dx_c, dx_b, R * D) < 1e-6);
    free(x), free(w), free(dw0), free(tg), free(mask), free(dx_a), free(dx_b), free(dx_c), free(dw_a), free(dw_b);
    free(scr);
}

static void test_classifier_vs_unfused(sa_test *t) {
    /* the serial reference, the serial fast path (1 thread) and the
     * threaded one (rows, then vocabulary split across threads) */
    static const struct { bool ref; int threads; } modes[] = {{true, 1}, {false, 1}, {false, 2}, {false, 3}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        for (int mk = 0; mk < 3; mk++) {
            bool r = modes[i].ref;
            int nt = modes[i].threads;
            classifier_case(t, r, nt, 37, 101, 24, 8, mk, 1.0f, 11 + mk);   /* small chunks, ragged last */
            classifier_case(t, r, nt, 37, 101, 24, 1, mk, 0.625f, 21 + mk); /* one row at a time */
            classifier_case(t, r, nt, 37, 101, 24, 64, mk, 2.0f, 31 + mk);  /* one chunk past R */
        }
    /* the sgemm sizes with a realistic vocabulary ratio */
    for (int mk = 0; mk < 3; mk++) {
        classifier_case(t, false, 2, 200, 1000, 48, 64, mk, 0.75f, 41 + mk);
        classifier_case(t, false, 1, 200, 1000, 48, 64, mk, 0.75f, 51 + mk);
    }
}

static void test_classifier_edges(sa_test *t) {
    sa_kernels k;
    sa_kernels_init(&k, 2);
    const int64_t R = 6, V = 10, D = 4, chunk = 4;
    uint64_t s = 5;
    float *x = rand_buf(&s, R * D, 1), *w = rand_buf(&s, V * D, 1), *dw = rand_buf(&s, V * D, 1);
    float *dw0 = copy_buf(dw, V * D), *dx = rand_buf(&s, R * D, 1), *dx0 = copy_buf(dx, R * D);
    float *scr = sa_aligned_alloc((size_t)sa_classifier_ce_scratch_floats(V, D, chunk), sizeof(float));
    int32_t tg[6] = {1, 2, 3, 4, 5, 6};
    uint8_t none[6] = {0};
    float loss = -1;
    int64_t n = -1;
    sa_err err = {0};
    /* every row masked: loss 0, dx zeros, dw untouched */
    SA_CHECK_OK(t, sa_classifier_ce_fwd_bwd(&k, &loss, dx, dw, x, w, tg, none, R, V, D, 1, scr, chunk, &n, &err),
                &err);
    SA_CHECK(t, loss == 0.0f);
    SA_CHECK_EQ_INT(t, n, 0);
    for (int64_t i = 0; i < R * D; i++) SA_CHECK(t, dx[i] == 0.0f);
    SA_CHECK(t, memcmp(dw, dw0, (size_t)(V * D) * sizeof(float)) == 0);
    /* a bad target in a counted row: SA_ERR_RANGE naming the row, nothing written */
    memcpy(dx, dx0, (size_t)(R * D) * sizeof(float));
    tg[4] = (int32_t)V;
    SA_CHECK_EQ_INT(t, sa_classifier_ce_fwd_bwd(&k, &loss, dx, dw, x, w, tg, NULL, R, V, D, 1, scr, chunk, NULL, &err),
                    SA_ERR_RANGE);
    SA_CHECK(t, strstr(sa_test_errmsg(&err), "row 4") != NULL);
    SA_CHECK(t, memcmp(dx, dx0, (size_t)(R * D) * sizeof(float)) == 0);
    SA_CHECK(t, memcmp(dw, dw0, (size_t)(V * D) * sizeof(float)) == 0);
    /* the same bad target in a masked row is ignored */
    uint8_t m[6] = {1, 1, 1, 1, 0, 1};
    SA_CHECK_OK(t, sa_classifier_ce_fwd_bwd(&k, &loss, dx, dw, x, w, tg, m, R, V, D, 1, scr, chunk, &n, &err), &err);
    SA_CHECK_EQ_INT(t, n, 5);
    SA_CHECK(t, isfinite(loss) && loss > 0);
    SA_CHECK_EQ_INT(t, sa_classifier_ce_fwd_bwd(&k, &loss, dx, dw, x, w, tg, m, R, V, D, 1, scr, 0, NULL, &err),
                    SA_ERR_INVALID_ARG);
    free(x), free(w), free(dw), free(dw0), free(dx), free(dx0), free(scr);
}

/* d loss / d x by central differences on the reference path */
static void test_classifier_fd(sa_test *t) {
    sa_kernels k;
    sa_kernels_init(&k, 1);
    k.reference = true;
    const int64_t R = 5, V = 13, D = 6, chunk = 2;
    uint64_t s = 77;
    float *x = rand_buf(&s, R * D, 1), *w = rand_buf(&s, V * D, 1), *dx = rand_buf(&s, R * D, 1);
    float *dw = sa_aligned_alloc((size_t)(V * D), sizeof(float));
    memset(dw, 0, (size_t)(V * D) * sizeof(float));
    float *scr = sa_aligned_alloc((size_t)sa_classifier_ce_scratch_floats(V, D, chunk), sizeof(float));
    int32_t tg[5] = {0, 12, 5, 5, 7};
    uint8_t m[5] = {1, 0, 1, 1, 1};
    float loss, lp, lm;
    const float scale = 1.5f;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_classifier_ce_fwd_bwd(&k, &loss, dx, dw, x, w, tg, m, R, V, D, scale, scr, chunk, NULL, &err),
                  &err);
    /* eps 1e-2 on O(1) inputs: truncation ~1e-4, float loss rounding
     * 6e-8 / 2e-2 ~ 3e-6; a wrong scale, row or sign gives O(0.1) */
    const float eps = 1e-2f;
    double worst = 0;
    for (int which = 0; which < 2; which++) {
        float *p = which ? w : x, *g = which ? dw : dx;
        int64_t n = which ? V * D : R * D;
        for (int64_t i = 0; i < n; i++) {
            float keep = p[i];
            p[i] = keep + eps;
            sa_classifier_ce_fwd_bwd(&k, &lp, NULL, NULL, x, w, tg, m, R, V, D, 1, scr, chunk, NULL, NULL);
            p[i] = keep - eps;
            sa_classifier_ce_fwd_bwd(&k, &lm, NULL, NULL, x, w, tg, m, R, V, D, 1, scr, chunk, NULL, NULL);
            p[i] = keep;
            double num = scale * ((double)lp - lm) / (2 * eps), d = fabs(num - g[i]);
            if (d > worst) worst = d;
        }
    }
    SA_CHECKF(t, worst < 1e-3, "finite-difference error %.3g", worst);
    free(x), free(w), free(dx), free(dw), free(scr);
}

/* ---- attention without saved probabilities ------------------------------------ */

typedef struct attn_case {
    int64_t B, T, pos0, H, KVH, hd;
} attn_case;

static const attn_case ATTN_CASES[] = {
    {1, 1, 0, 2, 1, 8},   /* one token: softmax over one key */
    {1, 5, 3, 4, 2, 8},   /* decode-style: rows start at position 3, GQA */
    {2, 7, 0, 3, 3, 16},  /* two short sequences, short path */
    {2, 40, 0, 4, 2, 16}, /* the GEMM path (T >= 32), GQA */
    {1, 40, 6, 6, 2, 8},  /* GEMM path with pos0 > 0 */
    {2, 70, 0, 2, 2, 16}, /* two causal query blocks of 64 */
    {1, 150, 5, 4, 2, 8}, /* three blocks, the last one short, pos0 > 0 */
};

static void attention_case(sa_test *t, const attn_case *c, bool reference) {
    sa_kernels k;
    sa_kernels_init(&k, 2);
    k.reference = reference;
    const int64_t B = c->B, T = c->T, H = c->H, KVH = c->KVH, hd = c->hd, S = c->pos0 + T, R = B * T;
    const int64_t qd = H * hd, kvd = KVH * hd;
    uint64_t s = (uint64_t)(T * 131 + H * 7 + c->pos0 + reference);
    /* amplitude 2: scores of a few units, so softmax is far from uniform */
    float *q = rand_buf(&s, R * qd, 2.0f), *kc = rand_buf(&s, B * S * kvd, 2.0f), *vc = rand_buf(&s, B * S * kvd, 1);
    float *g = rand_buf(&s, R * qd, 1);
    sa_attn_seq seqs[2];
    for (int64_t b = 0; b < B; b++) seqs[b] = (sa_attn_seq){b * T, T, c->pos0, kc + b * S * kvd, vc + b * S * kvd};
    float *out_a = rand_buf(&s, R * qd, 1), *out_b = rand_buf(&s, R * qd, 1), *att = rand_buf(&s, R * H * S, 1);
    float *lse = rand_buf(&s, R * H, 1), *scr = rand_buf(&s, 2 * H * T * S, 1);
    sa_attention_fwd(&k, out_a, att, q, seqs, B, S, H, KVH, hd);
    sa_attention_fwd_lse(&k, out_b, lse, q, seqs, B, H, KVH, hd, scr);
    double eo = max_rel_err(out_b, out_a, R * qd);
    SA_CHECKF(t, eo < 1e-5, "B=%lld T=%lld pos0=%lld ref=%d: out err %.3g", (long long)B, (long long)T,
              (long long)c->pos0, reference, eo);
    /* lse against a double recomputation */
    double el = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t h = 0; h < H; h++) {
            int64_t b = r / T, tt = r % T;
            const float *kr = kc + b * S * kvd + (h / (H / KVH)) * hd, *qr = q + (r * H + h) * hd;
            double mx = -INFINITY, sc[256], sum = 0;
            for (int64_t j = 0; j <= c->pos0 + tt; j++) {
                double d = 0;
                for (int64_t i = 0; i < hd; i++) d += (double)qr[i] * kr[j * kvd + i];
                sc[j] = d / sqrt((double)hd);
                mx = sc[j] > mx ? sc[j] : mx;
            }
            for (int64_t j = 0; j <= c->pos0 + tt; j++) sum += exp(sc[j] - mx);
            double e = fabs(lse[r * H + h] - (mx + log(sum)));
            if (e > el) el = e;
        }
    SA_CHECKF(t, el < 1e-5, "lse err %.3g", el);
    /* backward, per sequence, dk/dv accumulating onto the same start values */
    float *dq_a = rand_buf(&s, R * qd, 5), *dq_b = rand_buf(&s, R * qd, 5);
    float *dk_a = rand_buf(&s, B * S * kvd, 1), *dk_b = copy_buf(dk_a, B * S * kvd);
    float *dv_a = rand_buf(&s, B * S * kvd, 1), *dv_b = copy_buf(dv_a, B * S * kvd);
    for (int64_t b = 0; b < B; b++) {
        sa_attention_bwd(&k, dq_a + b * T * qd, dk_a + b * S * kvd, dv_a + b * S * kvd, g + b * T * qd,
                         att + b * T * H * S, q + b * T * qd, kc + b * S * kvd, vc + b * S * kvd, T, c->pos0, S, H, KVH,
                         hd, scr);
        sa_attention_bwd_lse(&k, dq_b + b * T * qd, dk_b + b * S * kvd, dv_b + b * S * kvd, g + b * T * qd,
                             lse + b * T * H, q + b * T * qd, kc + b * S * kvd, vc + b * S * kvd, T, c->pos0, H, KVH,
                             hd, scr);
    }
    /* floor 1e-2: the inputs are O(1), so real gradients are O(0.1..1) */
    double eq = max_rel_err_floor(dq_b, dq_a, R * qd, 1e-2), ek = max_rel_err(dk_b, dk_a, B * S * kvd),
           ev = max_rel_err(dv_b, dv_a, B * S * kvd);
    SA_CHECKF(t, eq < 1e-5 && ek < 1e-5 && ev < 1e-5, "B=%lld T=%lld pos0=%lld ref=%d: dq %.3g dk %.3g dv %.3g",
              (long long)B, (long long)T, (long long)c->pos0, reference, eq, ek, ev);
    free(q), free(kc), free(vc), free(g), free(out_a), free(out_b), free(att), free(lse), free(scr);
    free(dq_a), free(dq_b), free(dk_a), free(dk_b), free(dv_a), free(dv_b);
}

static void test_attention_lse_vs_saved(sa_test *t) {
    for (size_t i = 0; i < sizeof ATTN_CASES / sizeof ATTN_CASES[0]; i++) {
        attention_case(t, &ATTN_CASES[i], false);
        attention_case(t, &ATTN_CASES[i], true);
    }
}

/* L = sum(out * G): gradients of q, k, v by central differences */
static double attn_loss(const sa_kernels *k, const attn_case *c, const float *q, const float *kc, const float *vc,
                        const float *g, float *out, float *lse, float *scr) {
    sa_attn_seq sq = {0, c->T, c->pos0, kc, vc};
    sa_attention_fwd_lse(k, out, lse, q, &sq, 1, c->H, c->KVH, c->hd, scr);
    double L = 0;
    for (int64_t i = 0; i < c->T * c->H * c->hd; i++) L += (double)out[i] * g[i];
    return L;
}

static void test_attention_lse_fd(sa_test *t) {
    static const attn_case cases[] = {{1, 1, 0, 2, 1, 4}, {1, 6, 2, 4, 2, 4}, {1, 33, 0, 2, 1, 4}, {1, 70, 0, 2, 1, 4}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int fast = 0; fast < 2; fast++) {
            const attn_case *c = &cases[ci];
            sa_kernels k, kr;
            sa_kernels_init(&k, 2);
            sa_kernels_init(&kr, 1);
            k.reference = !fast;
            kr.reference = true; /* the numeric side always in double-accumulating reference */
            const int64_t T = c->T, H = c->H, KVH = c->KVH, hd = c->hd, S = c->pos0 + T;
            uint64_t s = 99 + ci;
            float *q = rand_buf(&s, T * H * hd, 1.5f), *kc = rand_buf(&s, S * KVH * hd, 1.5f);
            float *vc = rand_buf(&s, S * KVH * hd, 1), *g = rand_buf(&s, T * H * hd, 1);
            float *out = rand_buf(&s, T * H * hd, 1), *lse = rand_buf(&s, T * H, 1), *scr = rand_buf(&s, 2 * H * T * S, 1);
            float *dq = rand_buf(&s, T * H * hd, 1), *dk = rand_buf(&s, S * KVH * hd, 0), *dv = rand_buf(&s, S * KVH * hd, 0);
            memset(dk, 0, (size_t)(S * KVH * hd) * sizeof(float));
            memset(dv, 0, (size_t)(S * KVH * hd) * sizeof(float));
            attn_loss(&k, c, q, kc, vc, g, out, lse, scr);
            sa_attention_bwd_lse(&k, dq, dk, dv, g, lse, q, kc, vc, T, c->pos0, H, KVH, hd, scr);
            /* eps 1e-3: see test_kernels_bwd.c — O(1e-4) noise, bugs give O(1) */
            const float eps = 1e-3f;
            double worst = 0, gmax = 1e-30;
            for (int which = 0; which < 3; which++) {
                float *p = which == 0 ? q : which == 1 ? kc : vc, *an = which == 0 ? dq : which == 1 ? dk : dv;
                int64_t n = which == 0 ? T * H * hd : S * KVH * hd;
                for (int64_t i = 0; i < n; i++) {
                    float keep = p[i];
                    p[i] = keep + eps;
                    double lp = attn_loss(&kr, c, q, kc, vc, g, out, lse, scr);
                    p[i] = keep - eps;
                    double lm = attn_loss(&kr, c, q, kc, vc, g, out, lse, scr);
                    p[i] = keep;
                    double num = (lp - lm) / (2 * eps), d = fabs(num - an[i]);
                    if (d > worst) worst = d;
                    if (fabs(num) > gmax) gmax = fabs(num);
                }
            }
            SA_CHECKF(t, worst < 1e-2 * gmax, "case %zu fast %d: fd err %.3g of %.3g", ci, fast, worst, gmax);
            free(q), free(kc), free(vc), free(g), free(out), free(lse), free(scr), free(dq), free(dk), free(dv);
        }
}

static const sa_test_def tests[] = {
    {"classifier_vs_unfused", test_classifier_vs_unfused},
    {"classifier_edges", test_classifier_edges},
    {"classifier_fd", test_classifier_fd},
    {"attention_lse_vs_saved", test_attention_lse_vs_saved},
    {"attention_lse_fd", test_attention_lse_fd},
};
SA_TEST_MAIN(tests)
