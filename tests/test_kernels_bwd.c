/* test_kernels_bwd.c — every backward kernel checked three ways:
 *   1. against central finite differences of its forward on a scalar loss
 *      L = sum(out * R) with a fixed random R (small shapes, every element);
 *   2. fast path against the naive reference at several shapes (odd sizes,
 *      threaded sizes, the GEMM attention path, GQA);
 *   3. accumulate-vs-overwrite: calling twice doubles parameter gradients and
 *      leaves activation gradients as after one call.
 * Plus cross-entropy on a hand-computed case, masks and bad targets. */
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
    float *p = sa_malloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = frand(s);
    return p;
}
static float *zero_buf(int64_t n) { return sa_calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static float *copy_buf(const float *a, int64_t n) {
    float *p = sa_malloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
    memcpy(p, a, (size_t)n * sizeof(float));
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
static bool all_equal(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof(float)) == 0; }
static void fill(float *p, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) p[i] = v;
}

/* ---- finite differences ----------------------------------------------------
 * The forward runs in fp32 (reference kernels: double inside, one rounding
 * per output). With eps = 1e-3 the central difference has truncation error
 * O(eps^2) ~ 1e-6 and rounding noise ~ sqrt(n_out) * 6e-8 / 2e-3 <~ 1e-4 for
 * these shapes (measured worst: 4e-4, attention and cross-entropy); an
 * indexing, sign or factor-of-two bug gives O(1). So the analytic gradient
 * must match the numeric one within 1e-2 of the largest gradient magnitude,
 * on every element. */
#define FD_EPS 1e-3
#define FD_TOL 1e-2

typedef void (*fwd_fn)(void *ctx, float *out);

static double loss_at(fwd_fn f, void *ctx, float *out, const float *R, int64_t n_out) {
    f(ctx, out);
    double L = 0;
    for (int64_t i = 0; i < n_out; i++) L += (double)out[i] * R[i];
    return L;
}

/* analytic vs central differences of L with respect to every element of p */
static void check_grad(sa_test *t, const char *what, const float *analytic, float *p, int64_t n, fwd_fn f,
                       void *ctx, float *out, const float *R, int64_t n_out) {
    double worst = 0, scale = 1e-30;
    int64_t worst_i = 0;
    double worst_num = 0;
    for (int64_t i = 0; i < n; i++) {
        float save = p[i];
        float hp = (float)(save + FD_EPS), hm = (float)(save - FD_EPS);
        p[i] = hp;
        double Lp = loss_at(f, ctx, out, R, n_out);
        p[i] = hm;
        double Lm = loss_at(f, ctx, out, R, n_out);
        p[i] = save;
        double num = (Lp - Lm) / ((double)hp - (double)hm);
        double d = fabs(num - analytic[i]);
        if (d > worst) {
            worst = d;
            worst_i = i;
            worst_num = num;
        }
        if (fabs(num) > scale) scale = fabs(num);
    }
    SA_CHECKF(t, worst / scale < FD_TOL, "%s: element %lld analytic %g numeric %g (rel err %g)", what,
              (long long)worst_i, (double)analytic[worst_i], worst_num, worst / scale);
}

static sa_kernels ref_k(void) {
    sa_kernels k;
    sa_kernels_init(&k, 1);
    k.reference = true;
    return k;
}
static sa_kernels fast_k(void) {
    sa_kernels k;
    sa_kernels_init(&k, 2);
    return k;
}

/* ---- matmul --------------------------------------------------------------- */
typedef struct {
    sa_kernels k;
    float *x, *w, *b;
    int64_t M, N, K;
} mm_ctx;
static void mm_fwd(void *c, float *out) {
    mm_ctx *m = c;
    sa_matmul_fwd(&m->k, out, m->x, m->w, m->b, m->M, m->N, m->K);
}

static void test_matmul_fd(sa_test *t) {
    uint64_t s = 11;
    for (int fast = 0; fast < 2; fast++) {
        mm_ctx c = {ref_k(), NULL, NULL, NULL, 3, 4, 5};
        sa_kernels kb = fast ? fast_k() : ref_k();
        int64_t M = c.M, N = c.N, K = c.K;
        c.x = rand_buf(&s, M * K);
        c.w = rand_buf(&s, N * K);
        c.b = rand_buf(&s, N);
        float *R = rand_buf(&s, M * N), *out = zero_buf(M * N);
        float *dx = rand_buf(&s, M * K), *dw = zero_buf(N * K), *db = zero_buf(N);
        sa_matmul_bwd(&kb, dx, dw, db, R, c.x, c.w, M, N, K);
        check_grad(t, fast ? "matmul dx (fast)" : "matmul dx", dx, c.x, M * K, mm_fwd, &c, out, R, M * N);
        check_grad(t, fast ? "matmul dw (fast)" : "matmul dw", dw, c.w, N * K, mm_fwd, &c, out, R, M * N);
        check_grad(t, fast ? "matmul db (fast)" : "matmul db", db, c.b, N, mm_fwd, &c, out, R, M * N);
        free(c.x); free(c.w); free(c.b); free(R); free(out); free(dx); free(dw); free(db);
    }
}

static void test_matmul_fast_ref(sa_test *t) {
    sa_kernels fast = fast_k(), ref = ref_k();
    uint64_t s = 12;
    int64_t shapes[][3] = {{1, 1, 1}, {1, 7, 13}, {2, 3, 5}, {17, 33, 65}, {64, 96, 288}, {5, 1, 300}, {40, 64, 64}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int64_t M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
        float *x = rand_buf(&s, M * K), *w = rand_buf(&s, N * K), *g = rand_buf(&s, M * N);
        float *dw0 = rand_buf(&s, N * K), *db0 = rand_buf(&s, N);
        float *dx1 = rand_buf(&s, M * K), *dx2 = rand_buf(&s, M * K);
        float *dw1 = copy_buf(dw0, N * K), *dw2 = copy_buf(dw0, N * K), *db1 = copy_buf(db0, N), *db2 = copy_buf(db0, N);
        sa_matmul_bwd(&fast, dx1, dw1, db1, g, x, w, M, N, K);
        sa_matmul_bwd(&ref, dx2, dw2, db2, g, x, w, M, N, K);
        /* fp32 sums of up to 288 products of values in [-1,1]: 2e-5 of the
         * output scale is far above rounding, far below a wrong index */
        SA_CHECKF(t, max_rel_err(dx1, dx2, M * K) < 2e-5, "matmul bwd dx %lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
        SA_CHECKF(t, max_rel_err(dw1, dw2, N * K) < 2e-5, "matmul bwd dw %lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
        SA_CHECKF(t, max_rel_err(db1, db2, N) < 2e-5, "matmul bwd db %lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
        /* dx = NULL and db = NULL are skipped; dw is the same */
        memcpy(dw1, dw0, (size_t)(N * K) * sizeof(float));
        sa_matmul_bwd(&fast, NULL, dw1, NULL, g, x, w, M, N, K);
        SA_CHECK(t, max_rel_err(dw1, dw2, N * K) < 2e-5);
        free(x); free(w); free(g); free(dw0); free(db0); free(dx1); free(dx2); free(dw1); free(dw2); free(db1); free(db2);
    }
}

/* ---- rmsnorm -------------------------------------------------------------- */
typedef struct {
    sa_kernels k;
    float *x, *w, *rstd;
    int64_t M, D;
} rn_ctx;
static void rn_fwd(void *c, float *out) {
    rn_ctx *r = c;
    sa_rmsnorm_fwd(&r->k, out, r->rstd, r->x, r->w, r->M, r->D, 1e-5f);
}

static void test_rmsnorm_fd(sa_test *t) {
    uint64_t s = 21;
    for (int fast = 0; fast < 2; fast++) {
        rn_ctx c = {ref_k(), NULL, NULL, NULL, 3, 7};
        sa_kernels kb = fast ? fast_k() : ref_k();
        int64_t M = c.M, D = c.D;
        c.x = rand_buf(&s, M * D);
        c.w = rand_buf(&s, D);
        c.rstd = zero_buf(M);
        float *R = rand_buf(&s, M * D), *out = zero_buf(M * D), *rstd = zero_buf(M);
        float *dx = rand_buf(&s, M * D), *dw = zero_buf(D);
        sa_rmsnorm_fwd(&c.k, out, rstd, c.x, c.w, M, D, 1e-5f);
        sa_rmsnorm_bwd(&kb, dx, dw, R, c.x, rstd, c.w, M, D);
        check_grad(t, fast ? "rmsnorm dx (fast)" : "rmsnorm dx", dx, c.x, M * D, rn_fwd, &c, out, R, M * D);
        check_grad(t, fast ? "rmsnorm dw (fast)" : "rmsnorm dw", dw, c.w, D, rn_fwd, &c, out, R, M * D);
        free(c.x); free(c.w); free(c.rstd); free(R); free(out); free(rstd); free(dx); free(dw);
    }
}

static void test_rmsnorm_fast_ref(sa_test *t) {
    sa_kernels fast = fast_k(), ref = ref_k();
    uint64_t s = 22;
    int64_t shapes[][2] = {{1, 1}, {3, 7}, {16, 288}, {300, 301}, {2, 49152}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int64_t M = shapes[i][0], D = shapes[i][1];
        float *x = rand_buf(&s, M * D), *w = rand_buf(&s, D), *g = rand_buf(&s, M * D), *y = zero_buf(M * D);
        float *rstd = zero_buf(M), *dw0 = rand_buf(&s, D);
        float *dx1 = rand_buf(&s, M * D), *dx2 = rand_buf(&s, M * D), *dw1 = copy_buf(dw0, D), *dw2 = copy_buf(dw0, D);
        sa_rmsnorm_fwd(&ref, y, rstd, x, w, M, D, 1e-5f);
        sa_rmsnorm_bwd(&fast, dx1, dw1, g, x, rstd, w, M, D);
        sa_rmsnorm_bwd(&ref, dx2, dw2, g, x, rstd, w, M, D);
        SA_CHECKF(t, max_rel_err(dx1, dx2, M * D) < 1e-4, "rmsnorm bwd dx %lldx%lld: %g", (long long)M, (long long)D,
                  max_rel_err(dx1, dx2, M * D));
        SA_CHECKF(t, max_rel_err(dw1, dw2, D) < 1e-4, "rmsnorm bwd dw %lldx%lld", (long long)M, (long long)D);
        /* dx may alias dout */
        float *al = copy_buf(g, M * D), *dwa = copy_buf(dw0, D);
        sa_rmsnorm_bwd(&fast, al, dwa, al, x, rstd, w, M, D);
        SA_CHECK(t, all_equal(al, dx1, M * D) && all_equal(dwa, dw1, D));
        free(x); free(w); free(g); free(y); free(rstd); free(dw0); free(dx1); free(dx2); free(dw1); free(dw2); free(al); free(dwa);
    }
}

/* ---- rope ----------------------------------------------------------------- */
typedef struct {
    sa_kernels k;
    float *x;
    const sa_rope_table *tab;
    const int32_t *pos;
    int64_t T, H;
} rp_ctx;
static void rp_fwd(void *c, float *out) {
    rp_ctx *r = c;
    memcpy(out, r->x, (size_t)(r->T * r->H * r->tab->head_dim) * sizeof(float));
    sa_rope_fwd(&r->k, out, r->tab, r->pos, r->T, r->H);
}

static void test_rope_bwd(sa_test *t) {
    uint64_t s = 31;
    sa_err e = {0};
    for (int layout = 0; layout < 2; layout++) {
        sa_rope_table tab;
        SA_REQUIRE_OK(t, sa_rope_table_init(&tab, 8, 32, 10000.0f, NULL, (sa_rope_layout)layout, &e), &e);
        int32_t pos[3] = {0, 5, 17};
        rp_ctx c = {ref_k(), NULL, &tab, pos, 3, 2};
        int64_t n = 3 * 2 * 8;
        c.x = rand_buf(&s, n);
        float *R = rand_buf(&s, n), *out = zero_buf(n), *dx = copy_buf(R, n);
        sa_rope_bwd(&c.k, dx, &tab, pos, 3, 2);
        check_grad(t, layout ? "rope dx (neox)" : "rope dx (norm)", dx, c.x, n, rp_fwd, &c, out, R, n);
        /* backward undoes forward: the rotation is orthogonal */
        memcpy(out, c.x, (size_t)n * sizeof(float));
        sa_rope_fwd(&c.k, out, &tab, pos, 3, 2);
        sa_rope_bwd(&c.k, out, &tab, pos, 3, 2);
        SA_CHECK(t, max_rel_err(out, c.x, n) < 1e-6);
        free(c.x); free(R); free(out); free(dx);
        sa_rope_table_free(&tab);
    }
    /* fast (threaded at this size) vs reference */
    sa_rope_table tab;
    SA_REQUIRE_OK(t, sa_rope_table_init(&tab, 128, 64, 500000.0f, NULL, SA_ROPE_LAYOUT_NEOX, &e), &e);
    int64_t T = 64, H = 16, n = T * H * 128;
    int32_t pos[64];
    for (int i = 0; i < 64; i++) pos[i] = (i * 7) % 64;
    sa_kernels fast = fast_k(), ref = ref_k();
    float *a = rand_buf(&s, n), *b = copy_buf(a, n);
    sa_rope_bwd(&fast, a, &tab, pos, T, H);
    sa_rope_bwd(&ref, b, &tab, pos, T, H);
    SA_CHECK(t, all_equal(a, b, n));
    free(a); free(b);
    sa_rope_table_free(&tab);
}

/* ---- softmax -------------------------------------------------------------- */
typedef struct {
    sa_kernels k;
    float *x;
    int64_t M, N;
} sm_ctx;
static void sm_fwd(void *c, float *out) {
    sm_ctx *m = c;
    sa_softmax_fwd(&m->k, out, m->x, m->M, m->N);
}

static void test_softmax_bwd(sa_test *t) {
    uint64_t s = 41;
    for (int fast = 0; fast < 2; fast++) {
        sm_ctx c = {ref_k(), NULL, 3, 6};
        sa_kernels kb = fast ? fast_k() : ref_k();
        int64_t n = c.M * c.N;
        c.x = rand_buf(&s, n);
        for (int64_t i = 0; i < n; i++) c.x[i] *= 3;
        float *R = rand_buf(&s, n), *y = zero_buf(n), *dx = rand_buf(&s, n);
        sa_softmax_fwd(&c.k, y, c.x, c.M, c.N);
        sa_softmax_bwd(&kb, dx, R, y, c.M, c.N);
        check_grad(t, fast ? "softmax dx (fast)" : "softmax dx", dx, c.x, n, sm_fwd, &c, y, R, n);
        free(c.x); free(R); free(y); free(dx);
    }
    sa_kernels fast = fast_k(), ref = ref_k();
    int64_t shapes[][2] = {{1, 1}, {3, 7}, {16, 288}, {300, 301}, {2, 49152}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int64_t M = shapes[i][0], N = shapes[i][1];
        float *x = rand_buf(&s, M * N), *g = rand_buf(&s, M * N), *y = zero_buf(M * N);
        float *d1 = rand_buf(&s, M * N), *d2 = rand_buf(&s, M * N);
        sa_softmax_fwd(&ref, y, x, M, N);
        sa_softmax_bwd(&fast, d1, g, y, M, N);
        sa_softmax_bwd(&ref, d2, g, y, M, N);
        SA_CHECKF(t, max_rel_err(d1, d2, M * N) < 1e-4, "softmax bwd %lldx%lld", (long long)M, (long long)N);
        sa_softmax_bwd(&fast, g, g, y, M, N); /* dx may alias dout */
        SA_CHECK(t, all_equal(g, d1, M * N));
        free(x); free(g); free(y); free(d1); free(d2);
    }
}

/* ---- swiglu --------------------------------------------------------------- */
typedef struct {
    sa_kernels k;
    float *g, *u;
    int64_t n;
} sw_ctx;
static void sw_fwd(void *c, float *out) {
    sw_ctx *w = c;
    sa_swiglu_fwd(&w->k, out, w->g, w->u, w->n);
}

static void test_swiglu_bwd(sa_test *t) {
    uint64_t s = 51;
    for (int fast = 0; fast < 2; fast++) {
        sw_ctx c = {ref_k(), NULL, NULL, 17};
        sa_kernels kb = fast ? fast_k() : ref_k();
        c.g = rand_buf(&s, c.n);
        c.u = rand_buf(&s, c.n);
        for (int64_t i = 0; i < c.n; i++) c.g[i] *= 4; /* cover silu's bend and both tails */
        float *R = rand_buf(&s, c.n), *out = zero_buf(c.n), *dg = rand_buf(&s, c.n), *du = rand_buf(&s, c.n);
        sa_swiglu_bwd(&kb, dg, du, R, c.g, c.u, c.n);
        check_grad(t, fast ? "swiglu dgate (fast)" : "swiglu dgate", dg, c.g, c.n, sw_fwd, &c, out, R, c.n);
        check_grad(t, fast ? "swiglu dup (fast)" : "swiglu dup", du, c.u, c.n, sw_fwd, &c, out, R, c.n);
        free(c.g); free(c.u); free(R); free(out); free(dg); free(du);
    }
    sa_kernels fast = fast_k(), ref = ref_k();
    int64_t sizes[] = {1, 7, 1000, 100003};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t n = sizes[i];
        float *g = rand_buf(&s, n), *u = rand_buf(&s, n), *d = rand_buf(&s, n);
        float *g1 = zero_buf(n), *u1 = zero_buf(n), *g2 = zero_buf(n), *u2 = zero_buf(n);
        for (int64_t j = 0; j < n; j++) g[j] *= 8;
        sa_swiglu_bwd(&fast, g1, u1, d, g, u, n);
        sa_swiglu_bwd(&ref, g2, u2, d, g, u, n);
        SA_CHECKF(t, max_rel_err(g1, g2, n) < 1e-5 && max_rel_err(u1, u2, n) < 1e-5, "swiglu bwd n=%lld", (long long)n);
        free(g); free(u); free(d); free(g1); free(u1); free(g2); free(u2);
    }
}

/* ---- embedding ------------------------------------------------------------ */
typedef struct {
    sa_kernels k;
    float *table;
    const int32_t *ids;
    int64_t n, D, vocab;
} em_ctx;
static void em_fwd(void *c, float *out) {
    em_ctx *e = c;
    sa_embedding_fwd(&e->k, out, e->table, e->ids, e->n, e->D, e->vocab, NULL);
}

static void test_embedding_bwd(sa_test *t) {
    uint64_t s = 61;
    int32_t ids[5] = {1, 3, 1, 0, 1}; /* repeats sum; ids 2 and 4 get nothing */
    em_ctx c = {ref_k(), NULL, ids, 5, 3, 5};
    c.table = rand_buf(&s, 5 * 3);
    float *R = rand_buf(&s, 5 * 3), *out = zero_buf(5 * 3), *dt = zero_buf(5 * 3);
    sa_embedding_bwd(&c.k, dt, ids, R, 5, 3);
    check_grad(t, "embedding dtable", dt, c.table, 15, em_fwd, &c, out, R, 15);
    for (int j = 0; j < 3; j++) {
        SA_CHECK(t, dt[2 * 3 + j] == 0 && dt[4 * 3 + j] == 0);
        SA_CHECK(t, fabsf(dt[1 * 3 + j] - (R[0 * 3 + j] + R[2 * 3 + j] + R[4 * 3 + j])) < 1e-6f);
    }
    free(c.table); free(R); free(out); free(dt);
    /* fast (threaded at this size, many repeats) equals the serial reference exactly */
    sa_kernels fast = fast_k(), ref = ref_k();
    int64_t n = 400, D = 301, V = 37;
    int32_t *many = sa_malloc_array((size_t)n, sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) many[i] = (int32_t)((i * 13) % V);
    float *g = rand_buf(&s, n * D), *a = rand_buf(&s, V * D), *b = copy_buf(a, V * D);
    sa_embedding_bwd(&fast, a, many, g, n, D);
    sa_embedding_bwd(&ref, b, many, g, n, D);
    SA_CHECK(t, all_equal(a, b, V * D));
    free(many); free(g); free(a); free(b);
}

/* ---- attention ------------------------------------------------------------ */
typedef struct {
    sa_kernels k;
    float *q, *kc, *vc, *att;
    int64_t T, pos0, S, H, KVH, hd;
} at_ctx;
static void at_fwd(void *c, float *out) {
    at_ctx *a = c;
    sa_attn_seq sq = {0, a->T, a->pos0, a->kc, a->vc};
    sa_attention_fwd(&a->k, out, a->att, a->q, &sq, 1, a->S, a->H, a->KVH, a->hd);
}

static void test_attention_fd(sa_test *t) {
    uint64_t s = 71;
    /* T, pos0, extra cache rows past pos0+T, heads, kv heads, hd */
    int64_t cases[][6] = {{3, 2, 1, 4, 2, 8}, {4, 0, 0, 3, 1, 4}, {2, 1, 0, 2, 2, 6}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int fast = 0; fast < 2; fast++) {
            int64_t T = cases[ci][0], pos0 = cases[ci][1], Sc = pos0 + T + cases[ci][2];
            int64_t H = cases[ci][3], KVH = cases[ci][4], hd = cases[ci][5], S = pos0 + T;
            at_ctx c = {ref_k(), NULL, NULL, NULL, NULL, T, pos0, S, H, KVH, hd};
            sa_kernels kb = fast ? fast_k() : ref_k();
            int64_t nq = T * H * hd, nkv = Sc * KVH * hd;
            c.q = rand_buf(&s, nq);
            c.kc = rand_buf(&s, nkv);
            c.vc = rand_buf(&s, nkv);
            for (int64_t i = 0; i < nq; i++) c.q[i] *= 2; /* peakier probabilities */
            c.att = zero_buf(T * H * S);
            float *R = rand_buf(&s, nq), *out = zero_buf(nq), *scr = zero_buf(T * H * S);
            float *dq = rand_buf(&s, nq), *dk = zero_buf(nkv), *dv = zero_buf(nkv);
            at_fwd(&c, out);
            float *att = copy_buf(c.att, T * H * S);
            sa_attention_bwd(&kb, dq, dk, dv, R, att, c.q, c.kc, c.vc, T, pos0, S, H, KVH, hd, scr);
            char what[64];
            snprintf(what, sizeof what, "attention case %zu%s dq", ci, fast ? " (fast)" : "");
            check_grad(t, what, dq, c.q, nq, at_fwd, &c, out, R, nq);
            snprintf(what, sizeof what, "attention case %zu%s dk", ci, fast ? " (fast)" : "");
            check_grad(t, what, dk, c.kc, nkv, at_fwd, &c, out, R, nq);
            snprintf(what, sizeof what, "attention case %zu%s dv", ci, fast ? " (fast)" : "");
            check_grad(t, what, dv, c.vc, nkv, at_fwd, &c, out, R, nq);
            /* cache rows past pos0+T are untouched */
            for (int64_t i = S * KVH * hd; i < nkv; i++) SA_CHECK(t, dk[i] == 0 && dv[i] == 0);
            free(c.q); free(c.kc); free(c.vc); free(c.att); free(R); free(out); free(scr);
            free(dq); free(dk); free(dv); free(att);
        }
}

static void test_attention_fast_ref(sa_test *t) {
    sa_kernels fast = fast_k(), ref = ref_k();
    uint64_t s = 72;
    /* T, pos0, att_stride extra, heads, kv heads, hd; T >= 32 takes the GEMM
     * path when built with OpenBLAS */
    int64_t cases[][6] = {{1, 0, 0, 1, 1, 4}, {1, 9, 3, 4, 2, 8}, {5, 0, 0, 6, 6, 16}, {7, 3, 2, 9, 3, 64},
                          {16, 16, 0, 8, 1, 8}, {40, 0, 0, 4, 2, 16}, {33, 20, 5, 9, 3, 64}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int64_t T = cases[ci][0], pos0 = cases[ci][1], S = pos0 + T, stride = S + cases[ci][2];
        int64_t H = cases[ci][3], KVH = cases[ci][4], hd = cases[ci][5];
        int64_t nq = T * H * hd, nkv = S * KVH * hd, na = T * H * stride;
        float *q = rand_buf(&s, nq), *kc = rand_buf(&s, nkv), *vc = rand_buf(&s, nkv), *g = rand_buf(&s, nq);
        float *out = zero_buf(nq), *att = rand_buf(&s, na), *scr = rand_buf(&s, na);
        sa_attn_seq sq = {0, T, pos0, kc, vc};
        sa_attention_fwd(&ref, out, att, q, &sq, 1, stride, H, KVH, hd);
        float *dk0 = rand_buf(&s, nkv), *dv0 = rand_buf(&s, nkv);
        float *dq1 = rand_buf(&s, nq), *dk1 = copy_buf(dk0, nkv), *dv1 = copy_buf(dv0, nkv);
        float *dq2 = rand_buf(&s, nq), *dk2 = copy_buf(dk0, nkv), *dv2 = copy_buf(dv0, nkv);
        sa_attention_bwd(&fast, dq1, dk1, dv1, g, att, q, kc, vc, T, pos0, stride, H, KVH, hd, scr);
        sa_attention_bwd(&ref, dq2, dk2, dv2, g, att, q, kc, vc, T, pos0, stride, H, KVH, hd, scr);
        /* fp32 sums over <= 53 keys and 40 rows of hd <= 64 products: 1e-4 as in the forward test */
        SA_CHECKF(t, max_rel_err(dq1, dq2, nq) < 1e-4, "attention bwd case %zu dq: %g", ci, max_rel_err(dq1, dq2, nq));
        SA_CHECKF(t, max_rel_err(dk1, dk2, nkv) < 1e-4, "attention bwd case %zu dk: %g", ci, max_rel_err(dk1, dk2, nkv));
        SA_CHECKF(t, max_rel_err(dv1, dv2, nkv) < 1e-4, "attention bwd case %zu dv: %g", ci, max_rel_err(dv1, dv2, nkv));
        /* GQA: the kv-head gradient is the sum over its group of the
         * gradients with each kv head repeated per query head */
        if (KVH < H) {
            int64_t grp = H / KVH, nr = S * H * hd;
            float *kr = zero_buf(nr), *vr = zero_buf(nr), *dkr = zero_buf(nr), *dvr = zero_buf(nr), *dq3 = zero_buf(nq);
            for (int64_t j = 0; j < S; j++)
                for (int64_t h = 0; h < H; h++) {
                    memcpy(kr + (j * H + h) * hd, kc + (j * KVH + h / grp) * hd, (size_t)hd * sizeof(float));
                    memcpy(vr + (j * H + h) * hd, vc + (j * KVH + h / grp) * hd, (size_t)hd * sizeof(float));
                }
            sa_attention_bwd(&ref, dq3, dkr, dvr, g, att, q, kr, vr, T, pos0, stride, H, H, hd, scr);
            SA_CHECK(t, max_rel_err(dq3, dq2, nq) < 1e-5);
            float *dks = copy_buf(dk0, nkv), *dvs = copy_buf(dv0, nkv);
            for (int64_t j = 0; j < S; j++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t i = 0; i < hd; i++) {
                        dks[(j * KVH + h / grp) * hd + i] += dkr[(j * H + h) * hd + i];
                        dvs[(j * KVH + h / grp) * hd + i] += dvr[(j * H + h) * hd + i];
                    }
            SA_CHECKF(t, max_rel_err(dks, dk2, nkv) < 1e-5 && max_rel_err(dvs, dv2, nkv) < 1e-5, "GQA case %zu", ci);
            free(kr); free(vr); free(dkr); free(dvr); free(dq3); free(dks); free(dvs);
        }
        free(q); free(kc); free(vc); free(g); free(out); free(att); free(scr); free(dk0); free(dv0);
        free(dq1); free(dk1); free(dv1); free(dq2); free(dk2); free(dv2);
    }
}

/* ---- cross-entropy -------------------------------------------------------- */
typedef struct {
    sa_kernels k;
    float *logits;
    const int32_t *tg;
    const uint8_t *mask;
    int64_t M, V;
} ce_ctx;
static void ce_fwd(void *c, float *out) {
    ce_ctx *e = c;
    sa_cross_entropy_fwd_bwd(&e->k, out, NULL, e->logits, e->tg, e->mask, e->M, e->V, NULL, NULL);
}

static void test_cross_entropy_fd(sa_test *t) {
    uint64_t s = 81;
    int32_t tg[4] = {2, 99, 0, 6}; /* row 1 is masked, so its bad target is ignored */
    uint8_t mask[4] = {1, 0, 1, 1};
    for (int fast = 0; fast < 2; fast++) {
        ce_ctx c = {ref_k(), NULL, tg, mask, 4, 7};
        sa_kernels kb = fast ? fast_k() : ref_k();
        c.logits = rand_buf(&s, 28);
        for (int i = 0; i < 28; i++) c.logits[i] *= 3;
        float one = 1, loss = 0, d[28];
        fill(d, 28, 7.0f);
        int64_t cnt = -1;
        sa_err e = {0};
        SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(&kb, &loss, d, c.logits, tg, mask, 4, 7, &cnt, &e), &e);
        SA_CHECK_EQ_INT(t, cnt, 3);
        check_grad(t, fast ? "cross-entropy dlogits (fast)" : "cross-entropy dlogits", d, c.logits, 28, ce_fwd, &c,
                   &loss, &one, 1);
        for (int v = 0; v < 7; v++) SA_CHECK(t, d[7 + v] == 0.0f);
        free(c.logits);
    }
}

static void test_cross_entropy_cases(sa_test *t) {
    sa_kernels ks[2] = {fast_k(), ref_k()};
    for (int r = 0; r < 2; r++) {
        sa_kernels *k = &ks[r];
        /* row 0: uniform over 4 -> loss ln 4; row 1 masked; row 2: softmax
         * (1,2,3,4)/10 with target 3 -> loss -ln 0.4. Mean = ln(10)/2. */
        float lg[12] = {1, 1, 1, 1, 5, -5, 0, 3, 0, logf(2), logf(3), logf(4)}, d[12], loss;
        int32_t tg[3] = {2, 0, 3};
        uint8_t mask[3] = {1, 0, 1};
        int64_t cnt;
        sa_err e = {0};
        SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(k, &loss, d, lg, tg, mask, 3, 4, &cnt, &e), &e);
        SA_CHECK_EQ_INT(t, cnt, 2);
        SA_CHECKF(t, fabs(loss - log(10.0) / 2) < 1e-6, "loss %g, expected %g", (double)loss, log(10.0) / 2);
        float exp_d[12] = {0.125f, 0.125f, -0.375f, 0.125f, 0, 0, 0, 0, 0.05f, 0.1f, 0.15f, -0.3f};
        SA_CHECK(t, max_rel_err(d, exp_d, 12) < 1e-6);
        /* no mask: every row counts */
        SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(k, &loss, d, lg, tg, NULL, 3, 4, &cnt, &e), &e);
        SA_CHECK_EQ_INT(t, cnt, 3);
        double row1 = log(exp(5.0) + exp(-5.0) + 1 + exp(3.0)) - 5.0;
        SA_CHECK(t, fabs(loss - (log(4.0) - log(0.4) + row1) / 3) < 1e-6);
        /* loss only (dlogits NULL) and dlogits aliasing logits give the same */
        float loss2, al[12];
        memcpy(al, lg, sizeof al);
        SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(k, &loss2, NULL, lg, tg, NULL, 3, 4, NULL, &e), &e);
        SA_CHECK(t, loss2 == loss);
        SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(k, &loss2, al, al, tg, NULL, 3, 4, NULL, &e), &e);
        SA_CHECK(t, loss2 == loss && all_equal(al, d, 12));
        /* large logits stay finite */
        float big[3] = {1000, 1001, 1002}, db[3];
        int32_t t2 = 0;
        SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(k, &loss, db, big, &t2, NULL, 1, 3, NULL, &e), &e);
        SA_CHECK(t, fabs(loss - 2.40760596) < 1e-5 && isfinite(db[0]) && fabsf(db[2] - 0.66524096f) < 1e-6f);
        /* nothing counted: loss 0, zero gradient */
        uint8_t none[3] = {0, 0, 0};
        fill(d, 12, 9);
        SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(k, &loss, d, lg, tg, none, 3, 4, &cnt, &e), &e);
        SA_CHECK(t, loss == 0 && cnt == 0);
        for (int i = 0; i < 12; i++) SA_CHECK(t, d[i] == 0);
        /* a bad target on a counted row fails before anything is written */
        int32_t bad[3] = {2, 0, 4};
        fill(d, 12, 9);
        SA_CHECK_EQ_INT(t, sa_cross_entropy_fwd_bwd(k, &loss, d, lg, bad, mask, 3, 4, &cnt, &e), SA_ERR_RANGE);
        SA_CHECK(t, strstr(e.msg, "target 4 of row 2") != NULL);
        for (int i = 0; i < 12; i++) SA_CHECK(t, d[i] == 9);
        int32_t neg[3] = {-1, 0, 0};
        SA_CHECK_EQ_INT(t, sa_cross_entropy_fwd_bwd(k, &loss, d, lg, neg, NULL, 3, 4, &cnt, NULL), SA_ERR_RANGE);
    }
    /* fast (threaded at this size) vs reference with a random mask */
    uint64_t s = 82;
    int64_t M = 300, V = 301;
    float *lg = rand_buf(&s, M * V), *d1 = zero_buf(M * V), *d2 = zero_buf(M * V);
    for (int64_t i = 0; i < M * V; i++) lg[i] *= 10;
    int32_t *tg = sa_malloc_array((size_t)M, sizeof(int32_t));
    uint8_t *mask = sa_malloc_array((size_t)M, 1);
    for (int64_t m = 0; m < M; m++) {
        tg[m] = (int32_t)((m * 31) % V);
        mask[m] = frand(&s) > -0.5f;
    }
    float l1, l2;
    int64_t c1, c2;
    SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(&ks[0], &l1, d1, lg, tg, mask, M, V, &c1, NULL), NULL);
    SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(&ks[1], &l2, d2, lg, tg, mask, M, V, &c2, NULL), NULL);
    SA_CHECK(t, c1 == c2 && c1 > 0 && c1 < M);
    SA_CHECKF(t, fabs((double)l1 - l2) < 1e-5 * fabs((double)l2), "ce loss fast %g ref %g", (double)l1, (double)l2);
    SA_CHECK(t, max_rel_err(d1, d2, M * V) < 1e-5);
    free(lg); free(d1); free(d2); free(tg); free(mask);
}

/* ---- accumulate vs overwrite ----------------------------------------------
 * Each backward is called twice on the same inputs with activation
 * gradients prefilled with garbage: activation gradients must equal one
 * call's result (overwrite), parameter gradients twice it (accumulate). */
static bool doubled(const float *two, const float *one, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (fabsf(two[i] - 2 * one[i]) > 1e-6f * (1 + fabsf(one[i]))) return false;
    return true;
}

static void test_accumulate_overwrite(sa_test *t) {
    uint64_t s = 91;
    for (int r = 0; r < 2; r++) {
        sa_kernels k = r ? ref_k() : fast_k();
        {   /* matmul: M = 40 reaches sgemm (beta = 1 for dw) */
            int64_t M = 40, N = 9, K = 11;
            float *x = rand_buf(&s, M * K), *w = rand_buf(&s, N * K), *g = rand_buf(&s, M * N);
            float *dx1 = rand_buf(&s, M * K), *dx2 = rand_buf(&s, M * K);
            float *dw1 = zero_buf(N * K), *dw2 = zero_buf(N * K), *db1 = zero_buf(N), *db2 = zero_buf(N);
            sa_matmul_bwd(&k, dx1, dw1, db1, g, x, w, M, N, K);
            sa_matmul_bwd(&k, dx2, dw2, db2, g, x, w, M, N, K);
            sa_matmul_bwd(&k, dx2, dw2, db2, g, x, w, M, N, K);
            SA_CHECK(t, all_equal(dx1, dx2, M * K) && doubled(dw2, dw1, N * K) && doubled(db2, db1, N));
            free(x); free(w); free(g); free(dx1); free(dx2); free(dw1); free(dw2); free(db1); free(db2);
        }
        {   /* rmsnorm */
            int64_t M = 5, D = 13;
            float *x = rand_buf(&s, M * D), *w = rand_buf(&s, D), *g = rand_buf(&s, M * D), *y = zero_buf(M * D), *rs = zero_buf(M);
            float *dx1 = rand_buf(&s, M * D), *dx2 = rand_buf(&s, M * D), *dw1 = zero_buf(D), *dw2 = zero_buf(D);
            sa_rmsnorm_fwd(&k, y, rs, x, w, M, D, 1e-5f);
            sa_rmsnorm_bwd(&k, dx1, dw1, g, x, rs, w, M, D);
            sa_rmsnorm_bwd(&k, dx2, dw2, g, x, rs, w, M, D);
            sa_rmsnorm_bwd(&k, dx2, dw2, g, x, rs, w, M, D);
            SA_CHECK(t, all_equal(dx1, dx2, M * D) && doubled(dw2, dw1, D));
            free(x); free(w); free(g); free(y); free(rs); free(dx1); free(dx2); free(dw1); free(dw2);
        }
        {   /* softmax, swiglu: activation gradients only */
            int64_t n = 24;
            float *x = rand_buf(&s, n), *u = rand_buf(&s, n), *g = rand_buf(&s, n), *y = zero_buf(n);
            float *a1 = rand_buf(&s, n), *a2 = rand_buf(&s, n), *b1 = rand_buf(&s, n), *b2 = rand_buf(&s, n);
            sa_softmax_fwd(&k, y, x, 3, 8);
            sa_softmax_bwd(&k, a1, g, y, 3, 8);
            sa_softmax_bwd(&k, a2, g, y, 3, 8);
            sa_softmax_bwd(&k, a2, g, y, 3, 8);
            SA_CHECK(t, all_equal(a1, a2, n));
            sa_swiglu_bwd(&k, a1, b1, g, x, u, n);
            sa_swiglu_bwd(&k, a2, b2, g, x, u, n);
            sa_swiglu_bwd(&k, a2, b2, g, x, u, n);
            SA_CHECK(t, all_equal(a1, a2, n) && all_equal(b1, b2, n));
            free(x); free(u); free(g); free(y); free(a1); free(a2); free(b1); free(b2);
        }
        {   /* embedding: a parameter gradient */
            int32_t ids[4] = {2, 0, 2, 1};
            float *g = rand_buf(&s, 4 * 5), *t1 = zero_buf(3 * 5), *t2 = zero_buf(3 * 5);
            sa_embedding_bwd(&k, t1, ids, g, 4, 5);
            sa_embedding_bwd(&k, t2, ids, g, 4, 5);
            sa_embedding_bwd(&k, t2, ids, g, 4, 5);
            SA_CHECK(t, doubled(t2, t1, 15));
            free(g); free(t1); free(t2);
        }
        for (int64_t T = 3; T <= 35; T += 32) { /* attention: dq overwrites, dk/dv accumulate (35: GEMM path) */
            int64_t pos0 = 2, S = pos0 + T, H = 4, KVH = 2, hd = 8, nq = T * H * hd, nkv = S * KVH * hd;
            float *q = rand_buf(&s, nq), *kc = rand_buf(&s, nkv), *vc = rand_buf(&s, nkv), *g = rand_buf(&s, nq);
            float *o = zero_buf(nq), *att = zero_buf(T * H * S), *scr = zero_buf(T * H * S);
            float *dq1 = rand_buf(&s, nq), *dq2 = rand_buf(&s, nq);
            float *dk1 = zero_buf(nkv), *dk2 = zero_buf(nkv), *dv1 = zero_buf(nkv), *dv2 = zero_buf(nkv);
            sa_attn_seq sq = {0, T, pos0, kc, vc};
            sa_attention_fwd(&k, o, att, q, &sq, 1, S, H, KVH, hd);
            sa_attention_bwd(&k, dq1, dk1, dv1, g, att, q, kc, vc, T, pos0, S, H, KVH, hd, scr);
            sa_attention_bwd(&k, dq2, dk2, dv2, g, att, q, kc, vc, T, pos0, S, H, KVH, hd, scr);
            sa_attention_bwd(&k, dq2, dk2, dv2, g, att, q, kc, vc, T, pos0, S, H, KVH, hd, scr);
            SA_CHECKF(t, all_equal(dq1, dq2, nq) && doubled(dk2, dk1, nkv) && doubled(dv2, dv1, nkv),
                      "attention accumulate/overwrite T=%lld ref=%d", (long long)T, r);
            free(q); free(kc); free(vc); free(g); free(o); free(att); free(scr);
            free(dq1); free(dq2); free(dk1); free(dk2); free(dv1); free(dv2);
        }
        {   /* rope and cross-entropy overwrite */
            sa_rope_table tab;
            sa_err e = {0};
            SA_REQUIRE_OK(t, sa_rope_table_init(&tab, 4, 8, 10000.0f, NULL, SA_ROPE_LAYOUT_NORM, &e), &e);
            int32_t pos[2] = {3, 6};
            float *g = rand_buf(&s, 8), *a = copy_buf(g, 8), *b = copy_buf(g, 8);
            sa_rope_bwd(&k, a, &tab, pos, 2, 1);
            sa_rope_bwd(&k, b, &tab, pos, 2, 1);
            SA_CHECK(t, all_equal(a, b, 8)); /* in place: same input, same output */
            sa_rope_table_free(&tab);
            int32_t tg[2] = {1, 3};
            float l1, l2;
            SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(&k, &l1, a, g, tg, NULL, 2, 4, NULL, NULL), NULL);
            fill(b, 8, -3);
            SA_CHECK_OK(t, sa_cross_entropy_fwd_bwd(&k, &l2, b, g, tg, NULL, 2, 4, NULL, NULL), NULL);
            SA_CHECK(t, all_equal(a, b, 8) && l1 == l2);
            free(g); free(a); free(b);
        }
    }
}

static const sa_test_def tests[] = {
    {"matmul_fd", test_matmul_fd},
    {"matmul_fast_ref", test_matmul_fast_ref},
    {"rmsnorm_fd", test_rmsnorm_fd},
    {"rmsnorm_fast_ref", test_rmsnorm_fast_ref},
    {"rope_bwd", test_rope_bwd},
    {"softmax_bwd", test_softmax_bwd},
    {"swiglu_bwd", test_swiglu_bwd},
    {"embedding_bwd", test_embedding_bwd},
    {"attention_fd", test_attention_fd},
    {"attention_fast_ref", test_attention_fast_ref},
    {"cross_entropy_fd", test_cross_entropy_fd},
    {"cross_entropy_cases", test_cross_entropy_cases},
    {"accumulate_overwrite", test_accumulate_overwrite},
};
SA_TEST_MAIN(tests)
