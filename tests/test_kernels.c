/* test_kernels.c — every fast kernel against its naive reference at many
 * shapes, plus properties that check the reference itself (softmax sums to
 * one, RoPE preserves norms and depends only on relative position, attention
 * is causal, GQA equals explicitly repeated kv heads). */
#include <math.h>
#include <stdint.h>

#include "sa/alloc.h"
#include "sa/kernels.h"
#include "sa_test.h"

/* tiny deterministic generator so this test does not depend on sa_rng */
static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xFFFFFF) / 16777216.0f * 2.0f - 1.0f;
}
static float *rand_buf(uint64_t *s, int64_t n) {
    float *p = sa_malloc_array((size_t)n, sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = frand(s);
    return p;
}
/* Largest absolute difference relative to the largest reference magnitude:
 * element-wise relative error is meaningless where sums cancel to ~0. */
static double max_rel_err(const float *a, const float *b, int64_t n) {
    double m = 0, scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m) m = d;
        if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    }
    return m / scale;
}

static void test_matmul(sa_test *t) {
    sa_kernels fast, ref;
    sa_kernels_init(&fast, 2);
    sa_kernels_init(&ref, 1);
    ref.reference = true;
    uint64_t s = 1;
    int64_t shapes[][3] = {{1, 1, 1}, {1, 7, 13}, {1, 288, 768}, {2, 3, 5},
                           {17, 33, 65}, {64, 96, 288}, {5, 1, 300}, {128, 64, 64}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int64_t M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
        float *x = rand_buf(&s, M * K), *w = rand_buf(&s, N * K), *b = rand_buf(&s, N);
        float *y1 = rand_buf(&s, M * N), *y2 = rand_buf(&s, M * N);
        for (int bias = 0; bias < 2; bias++) {
            sa_matmul_fwd(&fast, y1, x, w, bias ? b : NULL, M, N, K);
            sa_matmul_fwd(&ref, y2, x, w, bias ? b : NULL, M, N, K);
            /* fp32 sums of K products of values in [-1,1] carry ~sqrt(K) ulp of
             * error relative to the output scale: 2e-5 is far above that (K <= 768)
             * and far below any indexing or transposition bug */
            double e = max_rel_err(y1, y2, M * N);
            SA_CHECKF(t, e < 2e-5, "matmul %lldx%lldx%lld bias=%d: rel err %g", (long long)M,
                      (long long)N, (long long)K, bias, e);
        }
        free(x); free(w); free(b); free(y1); free(y2);
    }
    /* a hand-computed case: [1 2; 3 4] x [[1 0];[1 1];[0 2]]^T */
    float x[4] = {1, 2, 3, 4}, w[6] = {1, 0, 1, 1, 0, 2}, y[6], e[6] = {1, 3, 4, 3, 7, 8};
    sa_matmul_fwd(&fast, y, x, w, NULL, 2, 3, 2);
    for (int i = 0; i < 6; i++) SA_CHECK(t, y[i] == e[i]);
}

static void test_rmsnorm_softmax_swiglu(sa_test *t) {
    sa_kernels fast, ref;
    sa_kernels_init(&fast, 2);
    sa_kernels_init(&ref, 1);
    ref.reference = true;
    uint64_t s = 2;
    int64_t shapes[][2] = {{1, 1}, {1, 64}, {3, 7}, {16, 288}, {512, 576}, {2, 49152}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int64_t M = shapes[i][0], D = shapes[i][1];
        float *x = rand_buf(&s, M * D), *w = rand_buf(&s, D), *u = rand_buf(&s, M * D);
        float *a = rand_buf(&s, M * D), *b = rand_buf(&s, M * D);
        float *ra = rand_buf(&s, M), *rb = rand_buf(&s, M);
        sa_rmsnorm_fwd(&fast, a, ra, x, w, M, D, 1e-5f);
        sa_rmsnorm_fwd(&ref, b, rb, x, w, M, D, 1e-5f);
        SA_CHECKF(t, max_rel_err(a, b, M * D) < 1e-5, "rmsnorm %lldx%lld", (long long)M, (long long)D);
        SA_CHECK(t, max_rel_err(ra, rb, M) < 1e-5);
        sa_softmax_fwd(&fast, a, x, M, D);
        sa_softmax_fwd(&ref, b, x, M, D);
        SA_CHECKF(t, max_rel_err(a, b, M * D) < 1e-5, "softmax %lldx%lld", (long long)M, (long long)D);
        for (int64_t m = 0; m < M; m++) {
            double sum = 0;
            for (int64_t j = 0; j < D; j++) sum += a[m * D + j];
            SA_CHECKF(t, fabs(sum - 1.0) < 1e-4, "softmax row %lld sums to %g", (long long)m, sum);
        }
        sa_swiglu_fwd(&fast, a, x, u, M * D);
        sa_swiglu_fwd(&ref, b, x, u, M * D);
        SA_CHECK(t, max_rel_err(a, b, M * D) < 1e-5);
        /* the fused-rows form equals the plain one on [gate | up] rows */
        if (D % 2 == 0) {
            sa_swiglu_rows_fwd(&fast, a, x, M, D / 2);
            for (int64_t m = 0; m < M; m++)
                sa_swiglu_fwd(&ref, b + m * (D / 2), x + m * D, x + m * D + D / 2, D / 2);
            SA_CHECK(t, max_rel_err(a, b, M * (D / 2)) < 1e-5);
        }
        free(x); free(w); free(u); free(a); free(b); free(ra); free(rb);
    }
    /* RMSNorm of (3, 4) with unit weight: rms = sqrt(12.5) */
    float x[2] = {3, 4}, w[2] = {1, 1}, y[2], r;
    sa_rmsnorm_fwd(&fast, y, &r, x, w, 1, 2, 0.0f);
    SA_CHECK(t, fabsf(y[0] - 3.0f / sqrtf(12.5f)) < 1e-6f && fabsf(r - 1.0f / sqrtf(12.5f)) < 1e-6f);
    /* softmax is shift-invariant and safe for large logits */
    float big[3] = {1000, 1001, 1002}, p[3];
    sa_softmax_fwd(&fast, p, big, 1, 3);
    SA_CHECK(t, isfinite(p[0]) && fabsf(p[2] - 0.66524096f) < 1e-6f);
}

static void test_embedding(sa_test *t) {
    sa_kernels k;
    sa_kernels_init(&k, 1);
    float table[6] = {0, 1, 10, 11, 20, 21}, out[4];
    int32_t ids[2] = {2, 0};
    sa_err e = {0};
    SA_CHECK_OK(t, sa_embedding_fwd(&k, out, table, ids, 2, 2, 3, &e), &e);
    SA_CHECK(t, out[0] == 20 && out[1] == 21 && out[2] == 0 && out[3] == 1);
    int32_t bad[2] = {1, 3};
    SA_CHECK_EQ_INT(t, sa_embedding_fwd(&k, out, table, bad, 2, 2, 3, &e), SA_ERR_RANGE);
    SA_CHECK(t, strstr(e.msg, "token 3 at position 1") != NULL);
}

static void test_rope(sa_test *t) {
    sa_kernels k;
    sa_kernels_init(&k, 2);
    sa_err e = {0};
    for (int layout = 0; layout < 2; layout++) {
        sa_rope_table tab;
        SA_REQUIRE_OK(t, sa_rope_table_init(&tab, 8, 64, 10000.0f, NULL, (sa_rope_layout)layout, &e), &e);
        uint64_t s = 3;
        float *q = rand_buf(&s, 8), *kk = rand_buf(&s, 8);
        /* direct computation of the angle for pair i at position p */
        float x[8];
        memcpy(x, q, sizeof x);
        int32_t pos = 5;
        sa_rope_fwd(&k, x, &tab, &pos, 1, 1);
        for (int i = 0; i < 4; i++) {
            double ang = 5.0 * pow(10000.0, -2.0 * i / 8.0);
            int a = layout == SA_ROPE_LAYOUT_NORM ? 2 * i : i, b = layout == SA_ROPE_LAYOUT_NORM ? 2 * i + 1 : i + 4;
            double ea = q[a] * cos(ang) - q[b] * sin(ang), eb = q[a] * sin(ang) + q[b] * cos(ang);
            SA_CHECKF(t, fabs(x[a] - ea) < 1e-5 && fabs(x[b] - eb) < 1e-5, "layout %d pair %d", layout, i);
        }
        /* <rope(q,m), rope(k,n)> depends only on m - n */
        double d[2];
        int32_t pm[2][2] = {{7, 3}, {30, 26}};
        for (int c = 0; c < 2; c++) {
            float a[8], b[8];
            memcpy(a, q, sizeof a);
            memcpy(b, kk, sizeof b);
            sa_rope_fwd(&k, a, &tab, &pm[c][0], 1, 1);
            sa_rope_fwd(&k, b, &tab, &pm[c][1], 1, 1);
            d[c] = 0;
            for (int i = 0; i < 8; i++) d[c] += (double)a[i] * b[i];
        }
        SA_CHECKF(t, fabs(d[0] - d[1]) < 1e-5, "relative-position property: %g vs %g", d[0], d[1]);
        free(q); free(kk);
        sa_rope_table_free(&tab);
    }
    /* linear scaling by 4 at position 8 equals no scaling at position 2 */
    sa_rope_table a, b;
    sa_rope_scaling lin = {.type = SA_ROPE_SCALING_LINEAR, .factor = 4.0f};
    SA_REQUIRE_OK(t, sa_rope_table_init(&a, 16, 16, 500000.0f, &lin, SA_ROPE_LAYOUT_NEOX, &e), &e);
    SA_REQUIRE_OK(t, sa_rope_table_init(&b, 16, 16, 500000.0f, NULL, SA_ROPE_LAYOUT_NEOX, &e), &e);
    for (int i = 0; i < 8; i++) SA_CHECK(t, fabsf(a.cos[8 * 8 + i] - b.cos[2 * 8 + i]) < 1e-6f);
    sa_rope_table_free(&a);
    sa_rope_table_free(&b);
    /* llama3 scaling keeps high frequencies and divides the lowest by factor */
    sa_rope_scaling l3 = {.type = SA_ROPE_SCALING_LLAMA3, .factor = 8, .low_freq_factor = 1,
                          .high_freq_factor = 4, .original_max_pos = 8192};
    SA_REQUIRE_OK(t, sa_rope_table_init(&a, 128, 2, 500000.0f, &l3, SA_ROPE_LAYOUT_NEOX, &e), &e);
    SA_REQUIRE_OK(t, sa_rope_table_init(&b, 128, 2, 500000.0f, NULL, SA_ROPE_LAYOUT_NEOX, &e), &e);
    /* at position 1 the angle is the inverse frequency itself (sin ~ angle for small angles) */
    SA_CHECK(t, fabsf(a.sin[64 + 0] - b.sin[64 + 0]) < 1e-7f);
    SA_CHECK(t, fabsf(a.sin[64 + 63] * 8.0f - b.sin[64 + 63]) < 1e-9f + 1e-4f * b.sin[64 + 63]);
    sa_rope_table_free(&a);
    sa_rope_table_free(&b);
    SA_CHECK_EQ_INT(t, sa_rope_table_init(&a, 7, 4, 10000.0f, NULL, 0, &e), SA_ERR_INVALID_ARG);
}

static void test_attention(sa_test *t) {
    sa_kernels fast, ref;
    sa_kernels_init(&fast, 2);
    sa_kernels_init(&ref, 1);
    ref.reference = true;
    uint64_t s = 4;
    /* T, pos0, extra S, heads, kv heads, hd */
    /* T >= 32 takes the GEMM path when built with OpenBLAS */
    int64_t cases[][6] = {{1, 0, 0, 1, 1, 4}, {1, 9, 3, 4, 2, 8}, {5, 0, 0, 6, 6, 16},
                          {7, 3, 2, 9, 3, 64}, {16, 16, 0, 8, 1, 8}, {40, 0, 0, 4, 2, 16},
                          {33, 20, 5, 9, 3, 64}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t T = cases[c][0], pos0 = cases[c][1], S = pos0 + T + cases[c][2];
        int64_t H = cases[c][3], KVH = cases[c][4], hd = cases[c][5];
        float *q = rand_buf(&s, T * H * hd), *kc = rand_buf(&s, S * KVH * hd), *vc = rand_buf(&s, S * KVH * hd);
        float *o1 = rand_buf(&s, T * H * hd), *o2 = rand_buf(&s, T * H * hd);
        float *a1 = rand_buf(&s, T * H * S), *a2 = rand_buf(&s, T * H * S);
        sa_attn_seq sq = {0, T, pos0, kc, vc};
        sa_attention_fwd(&fast, o1, a1, q, &sq, 1, S, H, KVH, hd);
        sa_attention_fwd(&ref, o2, a2, q, &sq, 1, S, H, KVH, hd);
        SA_CHECKF(t, max_rel_err(o1, o2, T * H * hd) < 1e-4, "attention case %zu out", c);
        for (int64_t x = 0; x < T * H; x++)
            SA_CHECKF(t, max_rel_err(a1 + x * S, a2 + x * S, pos0 + T) < 1e-4, "attention case %zu probs", c);
        /* causality: probabilities past pos0+t are exactly zero */
        for (int64_t tt = 0; tt < T; tt++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t j = pos0 + tt + 1; j < pos0 + T; j++) SA_CHECK(t, a1[(tt * H + h) * S + j] == 0.0f);
        /* GQA equals repeating each kv head for its group of query heads */
        int64_t g = H / KVH;
        float *kr = sa_malloc_array((size_t)(S * H * hd), sizeof(float)), *vr = sa_malloc_array((size_t)(S * H * hd), sizeof(float));
        for (int64_t j = 0; j < S; j++)
            for (int64_t h = 0; h < H; h++) {
                memcpy(kr + (j * H + h) * hd, kc + (j * KVH + h / g) * hd, (size_t)hd * sizeof(float));
                memcpy(vr + (j * H + h) * hd, vc + (j * KVH + h / g) * hd, (size_t)hd * sizeof(float));
            }
        sa_attn_seq sr = {0, T, pos0, kr, vr};
        sa_attention_fwd(&ref, o2, a2, q, &sr, 1, S, H, H, hd);
        SA_CHECKF(t, max_rel_err(o1, o2, T * H * hd) < 1e-4, "attention case %zu GQA", c);
        free(kr); free(vr);
        free(q); free(kc); free(vc); free(o1); free(o2); free(a1); free(a2);
    }
    /* several sequences in one call equal one call each (decode batches) */
    {
        int64_t H = 4, KVH = 2, hd = 16, stride = 40;
        /* a decode row, a prefill run (GEMM path) and another decode row */
        int64_t Ts[3] = {1, 35, 1}, p0[3] = {7, 0, 30};
        float *kcs[3], *vcs[3];
        sa_attn_seq seqs[3];
        int64_t rows = 0;
        for (int i = 0; i < 3; i++) {
            kcs[i] = rand_buf(&s, (p0[i] + Ts[i]) * KVH * hd);
            vcs[i] = rand_buf(&s, (p0[i] + Ts[i]) * KVH * hd);
            seqs[i] = (sa_attn_seq){rows, Ts[i], p0[i], kcs[i], vcs[i]};
            rows += Ts[i];
        }
        float *q = rand_buf(&s, rows * H * hd), *o1 = rand_buf(&s, rows * H * hd), *o2 = rand_buf(&s, rows * H * hd);
        float *a1 = rand_buf(&s, rows * H * stride), *a2 = rand_buf(&s, rows * H * stride);
        sa_attention_fwd(&fast, o1, a1, q, seqs, 3, stride, H, KVH, hd);
        for (int i = 0; i < 3; i++) {
            sa_attn_seq one = seqs[i];
            one.row0 = 0;
            sa_attention_fwd(&ref, o2 + seqs[i].row0 * H * hd, a2, q + seqs[i].row0 * H * hd, &one, 1, stride, H, KVH, hd);
        }
        SA_CHECKF(t, max_rel_err(o1, o2, rows * H * hd) < 1e-4, "multi-sequence attention");
        for (int i = 0; i < 3; i++) {
            free(kcs[i]);
            free(vcs[i]);
        }
        free(q); free(o1); free(o2); free(a1); free(a2);
    }
    /* a single key: output is exactly its value */
    float q[2] = {0.3f, -1}, k1[2] = {2, 2}, v1[2] = {5, -7}, o[2], a[1];
    sa_attn_seq one = {0, 1, 0, k1, v1};
    sa_attention_fwd(&fast, o, a, q, &one, 1, 1, 1, 1, 2);
    SA_CHECK(t, o[0] == 5 && o[1] == -7 && a[0] == 1);
}

static const sa_test_def tests[] = {
    {"matmul", test_matmul},
    {"rmsnorm_softmax_swiglu", test_rmsnorm_softmax_swiglu},
    {"embedding", test_embedding},
    {"rope", test_rope},
    {"attention", test_attention},
};
SA_TEST_MAIN(tests)
