/* test_llama2c.c — llama2.c checkpoints (v0/v1/v2) and tokenizer.bin: the
 * real stories260K files, a v0 export round trip, and hand-made corrupt
 * images (each asserting the status and a piece of the message). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/llama2c.h"
#include "sa/mmap.h"
#include "sa_test.h"

/* ---- helpers -------------------------------------------------------------- */

typedef struct img {
    uint8_t *p;
    size_t n, cap;
} img;

static void img_put(img *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort(); /* test harness only */
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void img_i32(img *b, int32_t v) { img_put(b, &v, 4); }
static void img_f32s(img *b, size_t n, float base) {
    for (size_t i = 0; i < n; i++) {
        float f = base + (float)i * 0.001f;
        img_put(b, &f, 4);
    }
}

/* A small valid v0 image: dim 8, hidden 12, 2 layers, 2 heads, 1 kv head,
 * vocab 10, seq_len 4; `separate` adds a classifier (negative vocab). */
static img make_v0(int32_t dim, int32_t hidden, int32_t L, int32_t heads, int32_t kv,
                   int32_t vocab, int32_t seq, bool separate) {
    img b = {0};
    int32_t h[7] = {dim, hidden, L, heads, kv, separate ? -vocab : vocab, seq};
    img_put(&b, h, sizeof(h));
    size_t kvd = (size_t)dim / heads * kv, hs = (size_t)dim / heads;
    img_f32s(&b, (size_t)vocab * dim, 1.0f);
    img_f32s(&b, (size_t)L * dim, 2.0f);
    img_f32s(&b, (size_t)L * dim * dim, 3.0f);
    img_f32s(&b, (size_t)L * kvd * dim, 4.0f);
    img_f32s(&b, (size_t)L * kvd * dim, 5.0f);
    img_f32s(&b, (size_t)L * dim * dim, 6.0f);
    img_f32s(&b, (size_t)L * dim, 7.0f);
    img_f32s(&b, (size_t)L * hidden * dim, 8.0f);
    img_f32s(&b, (size_t)L * dim * hidden, 9.0f);
    img_f32s(&b, (size_t)L * hidden * dim, 10.0f);
    img_f32s(&b, (size_t)dim, 11.0f);
    img_f32s(&b, (size_t)seq * hs / 2, 12.0f);
    img_f32s(&b, (size_t)seq * hs / 2, 13.0f);
    if (separate) img_f32s(&b, (size_t)vocab * dim, 14.0f);
    return b;
}

static img small_v0(void) { return make_v0(8, 12, 2, 2, 1, 10, 4, false); }

static bool has(const char *msg, const char *sub) { return strstr(msg, sub) != NULL; }

#define EXPECT_FAIL(t, data, size, code, sub)                                              \
    do {                                                                                   \
        sa_llama2c *m_ = NULL;                                                             \
        sa_err e_ = {0};                                                                   \
        sa_status s_ = sa_llama2c_open_memory(&m_, (data), (size), "bad.bin", &e_);        \
        SA_CHECKF(t, s_ == (code) && has(e_.msg, (sub)) && !m_,                            \
                  "expected status %d with '%s', got %d: %s", (int)(code), (sub), (int)s_, \
                  e_.msg);                                                                 \
        sa_llama2c_close(m_);                                                              \
    } while (0)

/* ---- the real checkpoint --------------------------------------------------- */

static void test_stories260k_v0(sa_test *t) {
    const char *path = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!path) return;
    sa_llama2c *m;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_llama2c_open(&m, path, &err), &err);
    const sa_llama2c_config *c = sa_llama2c_config_get(m);
    SA_CHECK_EQ_INT(t, c->version, 0);
    SA_CHECK_EQ_INT(t, c->dim, 64);
    SA_CHECK_EQ_INT(t, c->hidden_dim, 172);
    SA_CHECK_EQ_INT(t, c->n_layers, 5);
    SA_CHECK_EQ_INT(t, c->n_heads, 8);
    SA_CHECK_EQ_INT(t, c->n_kv_heads, 4);
    SA_CHECK_EQ_INT(t, c->vocab_size, 512);
    SA_CHECK_EQ_INT(t, c->seq_len, 512);
    SA_CHECK(t, c->shared_classifier);
    /* embeddings, 5 x 9 layer tensors, final norm, two freq_cis tables */
    SA_CHECK_EQ_INT(t, sa_llama2c_n_tensors(m), 1 + 45 + 1 + 2);
    SA_CHECK(t, sa_llama2c_find(m, "output.weight") == NULL);
    SA_CHECK_STR(t, sa_llama2c_tensor_at(m, 0)->name, "tok_embeddings.weight");
    SA_CHECK_STR(t, sa_llama2c_tensor_at(m, 1)->name, "layers.0.attention_norm.weight");
    SA_CHECK_STR(t, sa_llama2c_tensor_at(m, 6)->name, "layers.0.attention.wq.weight");
    SA_CHECK(t, sa_llama2c_tensor_at(m, 49) == NULL);
    struct {
        const char *name;
        int nd;
        int64_t d0, d1;
    } want[] = {
        {"tok_embeddings.weight", 2, 512, 64},
        {"layers.0.attention_norm.weight", 1, 64, 0},
        {"layers.4.attention.wq.weight", 2, 64, 64},
        {"layers.2.attention.wk.weight", 2, 32, 64},
        {"layers.3.attention.wv.weight", 2, 32, 64},
        {"layers.1.attention.wo.weight", 2, 64, 64},
        {"layers.4.ffn_norm.weight", 1, 64, 0},
        {"layers.0.feed_forward.w1.weight", 2, 172, 64},
        {"layers.0.feed_forward.w2.weight", 2, 64, 172},
        {"layers.4.feed_forward.w3.weight", 2, 172, 64},
        {"norm.weight", 1, 64, 0},
        {"freq_cis_real", 2, 512, 4},
        {"freq_cis_imag", 2, 512, 4},
    };
    size_t total = 28;
    for (int64_t i = 0; i < sa_llama2c_n_tensors(m); i++) {
        const sa_st_tensor *x = sa_llama2c_tensor_at(m, i);
        SA_CHECK(t, x->dtype == SA_DTYPE_F32);
        total += x->nbytes;
    }
    SA_CHECK_EQ_INT(t, total, 1056540);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const sa_st_tensor *x = sa_llama2c_find(m, want[i].name);
        SA_CHECKF(t, x != NULL, "missing %s", want[i].name);
        if (!x) continue;
        SA_CHECK_EQ_INT(t, x->n_dims, want[i].nd);
        SA_CHECK_EQ_INT(t, x->shape[0], want[i].d0);
        if (want[i].nd > 1) SA_CHECK_EQ_INT(t, x->shape[1], want[i].d1);
        SA_CHECK_EQ_INT(t, x->nbytes, 4 * want[i].d0 * (want[i].nd > 1 ? want[i].d1 : 1));
    }
    const sa_st_tensor *emb = sa_llama2c_find(m, "tok_embeddings.weight");
    SA_REQUIRE(t, emb != NULL);
    const float *e = emb->data;
    /* first value read independently with Python struct: -0.29474878 */
    SA_CHECKF(t, fabsf(e[0] - -0.29474878f) < 1e-7f, "emb[0] = %g", e[0]);
    bool finite = true;
    double sumsq = 0;
    for (int64_t i = 0; i < 512 * 64; i++) {
        if (!isfinite(e[i])) finite = false;
        sumsq += (double)e[i] * e[i];
    }
    SA_CHECK(t, finite);
    SA_CHECK(t, sumsq > 1.0 && sumsq < 1e6);
    /* freq_cis_real row 0 is cos(0) = 1 */
    const float *fr = sa_llama2c_find(m, "freq_cis_real")->data;
    SA_CHECK(t, fr[0] == 1.0f && fr[3] == 1.0f);
    sa_llama2c_close(m);
}

/* The Q8_0 export of the same model: dequantised weights must match the fp32
 * file within half a quantisation step, and the fp32 norms exactly. */
static void test_stories260k_q8(sa_test *t) {
    const char *p0 = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!p0) return;
    char path0[1024];
    snprintf(path0, sizeof(path0), "%s", p0);
    const char *p2 = sa_test_data(t, "models/llama2c-stories260K/stories260K-q8.bin");
    if (!p2) return;
    sa_llama2c *m0, *m2;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_llama2c_open(&m0, path0, &err), &err);
    if (sa_llama2c_open(&m2, p2, &err) != SA_OK) {
        sa_test_fail(t, __FILE__, __LINE__, "open q8: %s", err.msg);
        sa_llama2c_close(m0);
        return;
    }
    const sa_llama2c_config *c = sa_llama2c_config_get(m2);
    SA_CHECK_EQ_INT(t, c->version, 2);
    SA_CHECK_EQ_INT(t, c->group_size, 8);
    SA_CHECK_EQ_INT(t, c->dim, 64);
    SA_CHECK_EQ_INT(t, c->n_kv_heads, 4);
    SA_CHECK(t, c->shared_classifier);
    /* 11 norms + 36 quantised matrices, each with a scales tensor */
    SA_CHECK_EQ_INT(t, sa_llama2c_n_tensors(m2), 11 + 2 * 36);
    SA_CHECK_STR(t, sa_llama2c_tensor_at(m2, 0)->name, "layers.0.attention_norm.weight");
    SA_CHECK_STR(t, sa_llama2c_tensor_at(m2, 11)->name, "tok_embeddings.weight");
    SA_CHECK_STR(t, sa_llama2c_tensor_at(m2, 12)->name, "tok_embeddings.weight.scales");
    int checked = 0;
    float *a = malloc(512 * 172 * sizeof(float)), *b = malloc(512 * 172 * sizeof(float));
    SA_REQUIRE(t, a && b);
    for (int64_t i = 0; i < sa_llama2c_n_tensors(m2); i++) {
        const sa_st_tensor *q = sa_llama2c_tensor_at(m2, i);
        if (strstr(q->name, ".scales")) continue;
        const sa_st_tensor *f = sa_llama2c_find(m0, q->name);
        SA_CHECKF(t, f != NULL, "%s missing in v0", q->name);
        if (!f) continue;
        int64_t n = (int64_t)f->nbytes / 4;
        SA_CHECK_EQ_INT(t, sa_st_tensor_numel(q), n);
        SA_CHECK_EQ_INT(t, q->n_dims, f->n_dims);
        SA_CHECK_EQ_INT(t, q->shape[0], f->shape[0]);
        SA_CHECK_OK(t, sa_llama2c_tensor_to_f32(m2, q, a, &err), &err);
        SA_CHECK_OK(t, sa_llama2c_tensor_to_f32(m0, f, b, &err), &err);
        const sa_st_tensor *sc = sa_llama2c_q8_scales(m2, q);
        if (q->dtype == SA_DTYPE_F32) {
            SA_CHECK(t, sc == NULL);
            SA_CHECKF(t, memcmp(a, b, (size_t)n * 4) == 0, "%s: fp32 norm differs", q->name);
        } else {
            SA_CHECK(t, q->dtype == SA_DTYPE_I8 && sc != NULL);
            if (!sc) continue;
            SA_CHECK_EQ_INT(t, sc->shape[0], n / 8);
            const float *s = sc->data;
            int bad = 0;
            for (int64_t k = 0; k < n; k++)
                if (fabsf(a[k] - b[k]) > 0.5f * s[k / 8] * 1.001f + 1e-7f) bad++;
            SA_CHECKF(t, bad == 0, "%s: %d values off by more than half a step", q->name, bad);
        }
        checked++;
    }
    SA_CHECK_EQ_INT(t, checked, 11 + 36);
    free(a);
    free(b);
    sa_llama2c_close(m0);
    sa_llama2c_close(m2);
}

/* write_v0 of the stories260K families reproduces the file byte for byte;
 * with computed RoPE tables the weights still match exactly and the tables
 * within float rounding. */
static void test_write_v0_roundtrip(sa_test *t) {
    const char *path = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!path) return;
    sa_mmap orig;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_mmap_open(&orig, path, &err), &err);
    sa_llama2c *m;
    if (sa_llama2c_open(&m, path, &err) != SA_OK) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", err.msg);
        sa_mmap_close(&orig);
        return;
    }
    const char *first[SA_LLAMA2C_V0_ARRAYS] = {
        "tok_embeddings.weight",           "layers.0.attention_norm.weight",
        "layers.0.attention.wq.weight",    "layers.0.attention.wk.weight",
        "layers.0.attention.wv.weight",    "layers.0.attention.wo.weight",
        "layers.0.ffn_norm.weight",        "layers.0.feed_forward.w1.weight",
        "layers.0.feed_forward.w2.weight", "layers.0.feed_forward.w3.weight",
        "norm.weight",                     "freq_cis_real",
        "freq_cis_imag",                   NULL,
    };
    const float *arr[SA_LLAMA2C_V0_ARRAYS] = {0};
    for (int f = 0; f < SA_LLAMA2C_V0_ARRAYS; f++)
        if (first[f]) arr[f] = sa_llama2c_find(m, first[f])->data;
    const char *out = sa_test_tmpfile(t, "rt.bin");
    char outp[1024];
    snprintf(outp, sizeof(outp), "%s", out);
    SA_CHECK_OK(t, sa_llama2c_write_v0(outp, sa_llama2c_config_get(m), arr, &err), &err);
    sa_mmap w;
    if (sa_mmap_open(&w, outp, &err) == SA_OK) {
        SA_CHECK_EQ_INT(t, w.size, orig.size);
        SA_CHECK(t, w.size == orig.size && memcmp(w.data, orig.data, w.size) == 0);
        sa_mmap_close(&w);
    } else {
        sa_test_fail(t, __FILE__, __LINE__, "%s", err.msg);
    }
    /* computed RoPE tables */
    arr[11] = arr[12] = NULL;
    SA_CHECK_OK(t, sa_llama2c_write_v0(outp, sa_llama2c_config_get(m), arr, &err), &err);
    if (sa_mmap_open(&w, outp, &err) == SA_OK) {
        SA_REQUIRE(t, w.size == orig.size);
        /* shared classifier: the two tables (512 x 4 floats each) end the file */
        size_t freq_bytes = 2 * 512 * 4 * 4, freq_off = orig.size - freq_bytes;
        SA_CHECK(t, !memcmp(w.data, orig.data, freq_off));
        const float *x = (const float *)(w.data + freq_off);
        const float *y = (const float *)(orig.data + freq_off);
        float maxd = 0;
        for (size_t i = 0; i < freq_bytes / 4; i++) maxd = fmaxf(maxd, fabsf(x[i] - y[i]));
        /* angles up to 511 rad in fp32: a few ulps of the angle */
        SA_CHECKF(t, maxd < 1e-4f, "freq_cis max diff %g", maxd);
        sa_mmap_close(&w);
    }
    /* a bad config is refused */
    sa_llama2c_config bad = *sa_llama2c_config_get(m);
    bad.n_heads = 7;
    SA_CHECK(t, sa_llama2c_write_v0(outp, &bad, arr, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, has(err.msg, "does not divide"));
    sa_llama2c_close(m);
    sa_mmap_close(&orig);
}

/* ---- synthetic images ------------------------------------------------------ */

static void test_small_v0_and_separate_classifier(sa_test *t) {
    img b = make_v0(8, 12, 2, 2, 1, 10, 4, true);
    sa_llama2c *m;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_llama2c_open_memory(&m, b.p, b.n, "sep.bin", &err), &err);
    const sa_llama2c_config *c = sa_llama2c_config_get(m);
    SA_CHECK(t, !c->shared_classifier);
    SA_CHECK_EQ_INT(t, c->vocab_size, 10);
    const sa_st_tensor *o = sa_llama2c_find(m, "output.weight");
    SA_REQUIRE(t, o != NULL);
    SA_CHECK_EQ_INT(t, o->shape[0], 10);
    SA_CHECK_EQ_INT(t, o->shape[1], 8);
    SA_CHECK(t, (const uint8_t *)o->data + o->nbytes == b.p + b.n);
    float f;
    memcpy(&f, o->data, 4);
    SA_CHECK(t, f == 14.0f);
    sa_llama2c_close(m);
    free(b.p);
}

/* Build a v1 image holding the same tensors as a v0 one, in v1 order. */
static void test_v1_matches_v0(sa_test *t) {
    img b0 = small_v0();
    sa_llama2c *m0;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_llama2c_open_memory(&m0, b0.p, b0.n, "v0", &err), &err);
    img b1 = {0};
    img_i32(&b1, (int32_t)0x616b3432);
    img_i32(&b1, 1);
    int32_t h[7] = {8, 12, 2, 2, 1, 10, 4};
    img_put(&b1, h, sizeof(h));
    uint8_t shared = 1;
    img_put(&b1, &shared, 1);
    uint8_t zero[256] = {0};
    img_put(&b1, zero, 256 - b1.n);
    const char *fam[] = {"attention_norm", "ffn_norm"};
    char name[96];
    for (int f = 0; f < 2; f++)
        for (int l = 0; l < 2; l++) {
            snprintf(name, sizeof(name), "layers.%d.%s.weight", l, fam[f]);
            const sa_st_tensor *x = sa_llama2c_find(m0, name);
            img_put(&b1, x->data, x->nbytes);
        }
    const sa_st_tensor *x = sa_llama2c_find(m0, "norm.weight");
    img_put(&b1, x->data, x->nbytes);
    x = sa_llama2c_find(m0, "tok_embeddings.weight");
    img_put(&b1, x->data, x->nbytes);
    const char *mats[] = {"attention.wq", "attention.wk", "attention.wv", "attention.wo",
                          "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"};
    for (int f = 0; f < 7; f++)
        for (int l = 0; l < 2; l++) {
            snprintf(name, sizeof(name), "layers.%d.%s.weight", l, mats[f]);
            x = sa_llama2c_find(m0, name);
            img_put(&b1, x->data, x->nbytes);
        }
    sa_llama2c *m1;
    if (sa_llama2c_open_memory(&m1, b1.p, b1.n, "v1", &err) != SA_OK) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", err.msg);
    } else {
        SA_CHECK_EQ_INT(t, sa_llama2c_config_get(m1)->version, 1);
        SA_CHECK_EQ_INT(t, sa_llama2c_n_tensors(m1), sa_llama2c_n_tensors(m0) - 2);
        for (int64_t i = 0; i < sa_llama2c_n_tensors(m1); i++) {
            const sa_st_tensor *a = sa_llama2c_tensor_at(m1, i);
            const sa_st_tensor *c0 = sa_llama2c_find(m0, a->name);
            SA_CHECKF(t, c0 && c0->nbytes == a->nbytes &&
                             memcmp(c0->data, a->data, a->nbytes) == 0,
                      "%s differs", a->name);
        }
        sa_llama2c_close(m1);
    }
    /* corrupt v1 headers */
    b1.p[36] = 7;
    EXPECT_FAIL(t, b1.p, b1.n, SA_ERR_FORMAT, "shared_classifier flag is 7");
    b1.p[36] = 1;
    EXPECT_FAIL(t, b1.p, 100, SA_ERR_FORMAT, "shorter than the 256-byte version 1 header");
    /* every prefix is rejected cleanly */
    int ok_prefixes = 0;
    for (size_t n = 0; n < b1.n; n++) {
        sa_llama2c *mm = NULL;
        if (sa_llama2c_open_memory(&mm, b1.p, n, "p", NULL) == SA_OK) ok_prefixes++;
        sa_llama2c_close(mm);
    }
    SA_CHECK_EQ_INT(t, ok_prefixes, 0);
    /* v2 header on the same bytes: group size checks, then the size check */
    uint8_t *b2 = malloc(b1.n);
    SA_REQUIRE(t, b2 != NULL);
    memcpy(b2, b1.p, b1.n);
    int32_t two = 2, gs = 3;
    memcpy(b2 + 4, &two, 4);
    memcpy(b2 + 37, &gs, 4);
    EXPECT_FAIL(t, b2, b1.n, SA_ERR_FORMAT, "group_size 3 must be positive and divide dim 8");
    gs = 4;
    memcpy(b2 + 37, &gs, 4);
    EXPECT_FAIL(t, b2, b1.n, SA_ERR_FORMAT, "bytes extra");
    free(b2);
    sa_llama2c_close(m0);
    free(b0.p);
    free(b1.p);
}

static void set_i32(uint8_t *p, size_t off, int32_t v) { memcpy(p + off, &v, 4); }

static void test_corrupt_v0(sa_test *t) {
    img b = small_v0();
    sa_llama2c *m;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_llama2c_open_memory(&m, b.p, b.n, "ok", &err), &err);
    sa_llama2c_close(m);
    uint8_t *c = malloc(b.n + 16);
    SA_REQUIRE(t, c != NULL);
#define RESET() memcpy(c, b.p, b.n)
    RESET();
    EXPECT_FAIL(t, c, b.n - 4, SA_ERR_FORMAT, "4 bytes missing");
    memset(c + b.n, 0, 16);
    EXPECT_FAIL(t, c, b.n + 3, SA_ERR_FORMAT, "3 bytes extra at the end");
    EXPECT_FAIL(t, c, 10, SA_ERR_FORMAT, "shorter than the 28-byte header");
    set_i32(c, 0, 0);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "dim is 0");
    RESET();
    set_i32(c, 8, -3);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "n_layers is -3");
    RESET();
    set_i32(c, 4, 0);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "hidden_dim is 0");
    RESET();
    set_i32(c, 12, 3);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "n_heads 3 does not divide dim 8");
    RESET();
    set_i32(c, 12, 4);
    set_i32(c, 16, 3);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "n_kv_heads 3 does not divide n_heads 4");
    RESET();
    set_i32(c, 16, 4);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "n_kv_heads 4 exceeds the limit 2");
    RESET();
    set_i32(c, 20, 2000000000);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "vocab_size 2000000000 exceeds the limit");
    RESET();
    set_i32(c, 20, INT32_MIN);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "vocab_size is -2147483648");
    RESET();
    set_i32(c, 24, 0);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "seq_len is 0");
    RESET();
    set_i32(c, 0, 6); /* head size 3 */
    set_i32(c, 12, 2);
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "head size 3 is odd");
    RESET();
    set_i32(c, 0, 0x616b3432);
    set_i32(c, 4, 3);
    EXPECT_FAIL(t, c, b.n, SA_ERR_UNSUPPORTED, "unsupported llama2.c version 3");
    RESET();
    set_i32(c, 0, 0x616b3432);
    set_i32(c, 4, -1);
    EXPECT_FAIL(t, c, b.n, SA_ERR_UNSUPPORTED, "unsupported llama2.c version -1");
    RESET();
    set_i32(c, 20, -10); /* claims a separate classifier that is not there */
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "320 bytes missing");
    RESET();
    set_i32(c, 8, 1000); /* 1000 layers of a tiny model */
    EXPECT_FAIL(t, c, b.n, SA_ERR_FORMAT, "bytes missing");
    /* every prefix of the valid image is rejected cleanly */
    int ok_prefixes = 0;
    for (size_t n = 0; n < b.n; n++) {
        sa_llama2c *mm = NULL;
        sa_err e = {0};
        sa_status s = sa_llama2c_open_memory(&mm, b.p, n, "p", &e);
        if (s == SA_OK) ok_prefixes++;
        else SA_CHECKF(t, s == SA_ERR_FORMAT && e.msg[0], "prefix %zu: %d %s", n, (int)s, e.msg);
        sa_llama2c_close(mm);
    }
    SA_CHECK_EQ_INT(t, ok_prefixes, 0);
#undef RESET
    free(c);
    free(b.p);
}

static void test_q8_prefixes(sa_test *t) {
    const char *path = sa_test_data(t, "models/llama2c-stories260K/stories260K-q8.bin");
    if (!path) return;
    sa_mmap f;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_mmap_open(&f, path, &err), &err);
    int ok = 0, bad_status = 0;
    for (size_t n = 0; n < f.size; n += (n < 600 ? 1 : 997)) {
        sa_llama2c *m = NULL;
        sa_status s = sa_llama2c_open_memory(&m, f.data, n, "q8", &err);
        if (s == SA_OK) ok++;
        else if (s != SA_ERR_FORMAT) bad_status++;
        sa_llama2c_close(m);
    }
    SA_CHECK_EQ_INT(t, ok, 0);
    SA_CHECK_EQ_INT(t, bad_status, 0);
    sa_mmap_close(&f);
}

/* ---- tokenizer.bin ------------------------------------------------------------ */

static void test_vocab_tok512(sa_test *t) {
    const char *path = sa_test_data(t, "models/llama2c-stories260K/tok512.bin");
    if (!path) return;
    sa_llama2c_vocab v;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_llama2c_vocab_read(&v, path, 0, &err), &err);
    SA_CHECK_EQ_INT(t, v.n, 512);
    SA_CHECK_EQ_INT(t, v.max_token_length, 7);
    /* pieces as read with Python struct from the file */
    SA_CHECK_STR(t, v.pieces[0], "<unk>");
    SA_CHECK_STR(t, v.pieces[1], "\n<s>\n");
    SA_CHECK_STR(t, v.pieces[2], "\n</s>\n");
    SA_CHECK_STR(t, v.pieces[3], "<0x00>");
    SA_CHECK_STR(t, v.pieces[258], "<0xFF>");
    SA_CHECK_STR(t, v.pieces[259], " t");
    SA_CHECK_STR(t, v.pieces[260], "he");
    SA_CHECK_STR(t, v.pieces[511], "\xe2\x80\x8a");
    SA_CHECK_EQ_INT(t, v.lens[511], 3);
    SA_CHECK(t, v.scores[260] == -1.0f && v.scores[511] == -252.0f);
    sa_llama2c_vocab_free(&v);
    SA_CHECK_OK(t, sa_llama2c_vocab_read(&v, path, 512, &err), &err);
    SA_CHECK_EQ_INT(t, v.n, 512);
    sa_llama2c_vocab_free(&v);
    SA_CHECK(t, sa_llama2c_vocab_read(&v, path, 513, &err) == SA_ERR_FORMAT);
    SA_CHECK(t, has(err.msg, "token 512: record header truncated"));
    SA_CHECK(t, v.n == 0 && v.pieces == NULL);
    SA_CHECK(t, sa_llama2c_vocab_read(&v, path, 511, &err) == SA_ERR_FORMAT);
    SA_CHECK(t, has(err.msg, "extra bytes after token 511"));
}

static void test_vocab_llama2(sa_test *t) {
    const char *path = sa_test_data(t, "tokenizers/llama2c/tokenizer.bin");
    if (!path) return;
    sa_llama2c_vocab v;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_llama2c_vocab_read(&v, path, 32000, &err), &err);
    SA_CHECK_EQ_INT(t, v.n, 32000);
    SA_CHECK_EQ_INT(t, v.max_token_length, 27);
    SA_CHECK_STR(t, v.pieces[1], "\n<s>\n");
    SA_CHECK_STR(t, v.pieces[2], "\n</s>\n");
    SA_CHECK_STR(t, v.pieces[259], "  ");
    SA_CHECK_STR(t, v.pieces[260], " t");
    SA_CHECK_STR(t, v.pieces[261], "er");
    SA_CHECK_STR(t, v.pieces[29871], " ");
    SA_CHECK_STR(t, v.pieces[31999], "\xe7\xbb\x99");
    SA_CHECK(t, v.scores[259] == -1e9f && v.scores[261] == -2.0f && v.scores[31999] == -31740.0f);
    uint32_t maxlen = 0;
    for (int i = 0; i < v.n; i++)
        if (v.lens[i] > maxlen) maxlen = v.lens[i];
    SA_CHECK_EQ_INT(t, maxlen, 27);
    sa_llama2c_vocab_free(&v);
}

static void vocab_rec(img *b, float score, const char *s, int32_t len) {
    img_put(b, &score, 4);
    img_i32(b, len);
    img_put(b, s, strlen(s));
}

#define EXPECT_VOCAB_FAIL(t, data, size, n, code, sub)                                     \
    do {                                                                                   \
        sa_llama2c_vocab v_;                                                               \
        sa_err e_ = {0};                                                                   \
        sa_status s_ = sa_llama2c_vocab_read_memory(&v_, (data), (size), "tok", (n), &e_); \
        SA_CHECKF(t, s_ == (code) && has(e_.msg, (sub)) && v_.pieces == NULL,              \
                  "expected %d '%s', got %d: %s", (int)(code), (sub), (int)s_, e_.msg);    \
        sa_llama2c_vocab_free(&v_);                                                        \
    } while (0)

static void test_vocab_corrupt(sa_test *t) {
    img b = {0};
    img_i32(&b, 4);
    vocab_rec(&b, 0.0f, "<u>", 3);
    vocab_rec(&b, -1.5f, "ab", 2);
    vocab_rec(&b, -2.0f, "", 0);
    vocab_rec(&b, -3.0f, "wxyz", 4);
    sa_llama2c_vocab v;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_llama2c_vocab_read_memory(&v, b.p, b.n, "tok", 4, &err), &err);
    SA_CHECK_EQ_INT(t, v.n, 4);
    SA_CHECK_STR(t, v.pieces[1], "ab");
    SA_CHECK_STR(t, v.pieces[2], "");
    SA_CHECK_EQ_INT(t, v.lens[3], 4);
    SA_CHECK(t, v.scores[1] == -1.5f);
    sa_llama2c_vocab_free(&v);
    /* every proper prefix fails when the count is known */
    int ok = 0;
    for (size_t n = 0; n < b.n; n++) {
        sa_llama2c_vocab w;
        if (sa_llama2c_vocab_read_memory(&w, b.p, n, "tok", 4, NULL) == SA_OK) ok++;
        sa_llama2c_vocab_free(&w);
    }
    SA_CHECK_EQ_INT(t, ok, 0);
    EXPECT_VOCAB_FAIL(t, b.p, 2, 0, SA_ERR_FORMAT, "too short");
    EXPECT_VOCAB_FAIL(t, b.p, b.n - 2, 0, SA_ERR_FORMAT, "token 3: 4 bytes run past the end");
    EXPECT_VOCAB_FAIL(t, b.p, b.n - 9, 0, SA_ERR_FORMAT, "token 3: record header truncated");
    uint8_t *c = malloc(b.n);
    SA_REQUIRE(t, c != NULL);
    memcpy(c, b.p, b.n);
    set_i32(c, 0, 3); /* "wxyz" is longer than max_token_length */
    EXPECT_VOCAB_FAIL(t, c, b.n, 0, SA_ERR_FORMAT, "length 4 outside [0, max_token_length 3]");
    memcpy(c, b.p, b.n);
    set_i32(c, 0, -1);
    EXPECT_VOCAB_FAIL(t, c, b.n, 0, SA_ERR_FORMAT, "max_token_length -1");
    memcpy(c, b.p, b.n);
    set_i32(c, 4 + 4, -5);
    EXPECT_VOCAB_FAIL(t, c, b.n, 0, SA_ERR_FORMAT, "length -5");
    memcpy(c, b.p, b.n);
    uint32_t nan_bits = 0x7fc00000u;
    memcpy(c + 4, &nan_bits, 4);
    EXPECT_VOCAB_FAIL(t, c, b.n, 0, SA_ERR_FORMAT, "score is NaN");
    EXPECT_VOCAB_FAIL(t, b.p, b.n, -1, SA_ERR_INVALID_ARG, "out of range");
    /* an empty vocabulary (header only) is valid in read-to-EOF mode */
    SA_CHECK_OK(t, sa_llama2c_vocab_read_memory(&v, b.p, 4, "tok", 0, &err), &err);
    SA_CHECK_EQ_INT(t, v.n, 0);
    sa_llama2c_vocab_free(&v);
    free(c);
    free(b.p);
}

static const sa_test_def tests[] = {
    {"stories260k_v0", test_stories260k_v0},
    {"stories260k_q8", test_stories260k_q8},
    {"write_v0_roundtrip", test_write_v0_roundtrip},
    {"small_v0_separate_classifier", test_small_v0_and_separate_classifier},
    {"v1_matches_v0", test_v1_matches_v0},
    {"corrupt_v0", test_corrupt_v0},
    {"q8_prefixes", test_q8_prefixes},
    {"vocab_tok512", test_vocab_tok512},
    {"vocab_llama2", test_vocab_llama2},
    {"vocab_corrupt", test_vocab_corrupt},
};
SA_TEST_MAIN(tests)
