/* test_model_grad.c — the whole model's backward pass against finite
 * differences: for every weight tensor of tiny models (GQA with q/k/v bias,
 * tied and untied embeddings, both rotary layouts), the analytic directional
 * derivative g·u along a random unit direction u equals the central
 * difference (L(w + eps u) - L(w - eps u)) / 2 eps of the masked
 * cross-entropy over a batch of two sequences. Also: gradients accumulate
 * across calls, and masked rows contribute nothing. */
#include <math.h>
#include <stdlib.h>

#include "sa/alloc.h"
#include "sa/model_train.h"
#include "sa/rng.h"
#include "sa_test.h"

enum { B = 2, T = 6 };

static float loss_of(sa_test *t, const sa_model *m, sa_train_acts *a, const sa_kernels *k, const int32_t *tok,
                     const int32_t *tgt, const uint8_t *mask) {
    float l = 0;
    sa_err e = {0};
    if (sa_model_loss_grad(m, NULL, a, k, tok, tgt, mask, &l, NULL, &e)) sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
    return l;
}

/* Every tensor of the model as (pointer, size), gradients at the same offsets. */
typedef struct tensor_ref {
    const char *name;
    size_t off, n;
} tensor_ref;

static size_t list_tensors(const sa_model *m, tensor_ref *out) {
    size_t n = 0;
    const sa_model_config *c = &m->cfg;
    size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, qd = (size_t)c->n_heads * c->head_dim,
           kvd = (size_t)c->n_kv_heads * c->head_dim, V = (size_t)c->vocab_size;
#define ADD(nm, ptr, cnt) out[n++] = (tensor_ref){nm, (size_t)((ptr) - m->storage), (cnt)}
    ADD("tok_embd", m->w.tok_embd, V * D);
    for (int l = 0; l < c->n_layers; l++) {
        const sa_layer_weights *L = &m->w.layers[l];
        ADD("attn_norm", L->attn_norm, D);
        ADD("wq", L->wq, qd * D);
        ADD("wk", L->wk, kvd * D);
        ADD("wv", L->wv, kvd * D);
        ADD("wo", L->wo, D * qd);
        if (L->bq) {
            ADD("bq", L->bq, qd);
            ADD("bk", L->bk, kvd);
            ADD("bv", L->bv, kvd);
        }
        ADD("ffn_norm", L->ffn_norm, D);
        ADD("w_gate", L->w_gate, F * D);
        ADD("w_up", L->w_up, F * D);
        ADD("w_down", L->w_down, D * F);
    }
    ADD("out_norm", m->w.out_norm, D);
    if (!c->tied_embeddings) ADD("output", m->w.output, V * D);
#undef ADD
    return n;
}

static void check_model(sa_test *t, bool tied, bool bias, sa_rope_layout layout) {
    sa_model_config c = {.arch = bias ? SA_ARCH_QWEN2 : SA_ARCH_LLAMA, .dim = 16, .hidden_dim = 24, .n_layers = 2,
                         .n_heads = 4, .n_kv_heads = 2, .head_dim = 4, .vocab_size = 13, .max_seq_len = 16,
                         .rope_theta = 10000.0f, .norm_eps = 1e-5f, .rope_layout = layout, .tied_embeddings = tied,
                         .qkv_bias = bias, .bos_id = -1, .eos_id = -1};
    sa_err e = {0};
    sa_model *m, *g;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    SA_REQUIRE_OK(t, sa_model_alloc(&g, &c, &e), &e);
    sa_model_randomize(m, 7, 0.3f);
    sa_train_acts a;
    SA_REQUIRE_OK(t, sa_train_acts_init(&a, &c, NULL, B, T, &e), &e);
    sa_kernels k;
    sa_kernels_init(&k, 1);
    int32_t tok[B * T], tgt[B * T];
    uint8_t mask[B * T];
    for (int i = 0; i < B * T; i++) {
        tok[i] = (i * 5 + 2) % c.vocab_size;
        tgt[i] = (i * 7 + 1) % c.vocab_size;
        mask[i] = (i % T) >= 2; /* the first two tokens of each sequence are "prompt" */
    }
    float loss;
    int64_t counted;
    SA_REQUIRE_OK(t, sa_model_loss_grad(m, g, &a, &k, tok, tgt, mask, &loss, &counted, &e), &e);
    SA_CHECK_EQ_INT(t, counted, B * (T - 2));
    SA_CHECK(t, loss > 0 && isfinite(loss));
    tensor_ref ts[64];
    size_t nt = list_tensors(m, ts);
    sa_rng r;
    sa_rng_init(&r, 99);
    float *u = sa_malloc_array(m->storage_floats, sizeof(float));
    int bad = 0;
    for (size_t i = 0; i < nt; i++) {
        /* random unit direction inside this tensor */
        double norm = 0, an = 0;
        for (size_t j = 0; j < ts[i].n; j++) {
            u[j] = (float)sa_rng_normal(&r);
            norm += (double)u[j] * u[j];
        }
        norm = sqrt(norm);
        float *w = m->storage + ts[i].off;
        const float *gr = g->storage + ts[i].off;
        for (size_t j = 0; j < ts[i].n; j++) {
            u[j] = (float)(u[j] / norm);
            an += (double)gr[j] * u[j];
        }
        const float eps = 1e-2f;
        for (size_t j = 0; j < ts[i].n; j++) w[j] += eps * u[j];
        float lp = loss_of(t, m, &a, &k, tok, tgt, mask);
        for (size_t j = 0; j < ts[i].n; j++) w[j] -= 2 * eps * u[j];
        float lm = loss_of(t, m, &a, &k, tok, tgt, mask);
        for (size_t j = 0; j < ts[i].n; j++) w[j] += eps * u[j];
        double fd = ((double)lp - lm) / (2.0 * eps);
        /* fp32 losses (~2.6, rounding ~3e-7) over 2 eps = 0.02 give ~3e-5 of
         * noise; eps^2 truncation is ~1e-4 relative. */
        bool ok = fabs(fd - an) <= 2e-2 * fabs(an) + 2e-4;
        if (!ok && bad++ < 6)
            sa_test_fail(t, __FILE__, __LINE__, "%s (tensor %zu, tied %d bias %d layout %d): analytic %.6g, finite difference %.6g",
                         ts[i].name, i, tied, bias, (int)layout, an, fd);
    }
    /* gradients accumulate: a second call doubles them */
    float *g1 = sa_memdup(g->storage, g->storage_floats * sizeof(float));
    SA_REQUIRE_OK(t, sa_model_loss_grad(m, g, &a, &k, tok, tgt, mask, &loss, &counted, &e), &e);
    double maxd = 0;
    for (size_t j = 0; j < g->storage_floats; j++) maxd = fmax(maxd, fabs(g->storage[j] - 2 * g1[j]));
    SA_CHECKF(t, maxd < 1e-5, "second call does not accumulate (max diff %g)", maxd);
    /* a fully masked batch: loss 0, no gradient */
    memset(g->storage, 0, g->storage_floats * sizeof(float));
    uint8_t none[B * T] = {0};
    SA_REQUIRE_OK(t, sa_model_loss_grad(m, g, &a, &k, tok, tgt, none, &loss, &counted, &e), &e);
    SA_CHECK(t, loss == 0 && counted == 0);
    double s = 0;
    for (size_t j = 0; j < g->storage_floats; j++) s += fabs(g->storage[j]);
    SA_CHECK(t, s == 0);
    /* a counted row with a target outside the vocabulary is an error */
    tgt[3] = c.vocab_size;
    SA_CHECK_EQ_INT(t, sa_model_loss_grad(m, g, &a, &k, tok, tgt, mask, &loss, &counted, &e), SA_ERR_RANGE);
    free(g1);
    free(u);
    sa_train_acts_free(&a);
    sa_model_free(m);
    sa_model_free(g);
}

static void test_untied_gqa(sa_test *t) { check_model(t, false, false, SA_ROPE_LAYOUT_NEOX); }
static void test_tied_bias(sa_test *t) { check_model(t, true, true, SA_ROPE_LAYOUT_NEOX); }
static void test_norm_layout(sa_test *t) { check_model(t, false, true, SA_ROPE_LAYOUT_NORM); }

/* the reference kernels give the same gradients as the fast ones */
static void test_reference_kernels_agree(sa_test *t) {
    sa_model_config c = {.arch = SA_ARCH_LLAMA, .dim = 32, .hidden_dim = 40, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 1, .head_dim = 8, .vocab_size = 50, .max_seq_len = 64, .rope_theta = 10000.0f,
                         .norm_eps = 1e-5f, .rope_layout = SA_ROPE_LAYOUT_NEOX, .bos_id = -1, .eos_id = -1};
    sa_err e = {0};
    sa_model *m, *g1, *g2;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    SA_REQUIRE_OK(t, sa_model_alloc(&g1, &c, &e), &e);
    SA_REQUIRE_OK(t, sa_model_alloc(&g2, &c, &e), &e);
    sa_model_randomize(m, 3, 0.1f);
    sa_train_acts a;
    SA_REQUIRE_OK(t, sa_train_acts_init(&a, &c, NULL, 3, 40, &e), &e); /* T = 40: the GEMM attention path */
    int32_t tok[120], tgt[120];
    for (int i = 0; i < 120; i++) tok[i] = (i * 11 + 3) % 50, tgt[i] = (i * 13 + 5) % 50;
    sa_kernels fast, ref;
    sa_kernels_init(&fast, 2);
    sa_kernels_init(&ref, 1);
    ref.reference = true;
    float l1, l2;
    SA_REQUIRE_OK(t, sa_model_loss_grad(m, g1, &a, &fast, tok, tgt, NULL, &l1, NULL, &e), &e);
    SA_REQUIRE_OK(t, sa_model_loss_grad(m, g2, &a, &ref, tok, tgt, NULL, &l2, NULL, &e), &e);
    SA_CHECKF(t, fabsf(l1 - l2) < 1e-5f, "loss %g vs %g", l1, l2);
    double maxd = 0, maxg = 0;
    for (size_t j = 0; j < g1->storage_floats; j++) {
        maxd = fmax(maxd, fabs(g1->storage[j] - g2->storage[j]));
        maxg = fmax(maxg, fabs(g2->storage[j]));
    }
    SA_CHECKF(t, maxd <= 1e-4 * maxg, "fast and reference gradients differ by %g (max %g)", maxd, maxg);
    sa_train_acts_free(&a);
    sa_model_free(m);
    sa_model_free(g1);
    sa_model_free(g2);
}

static const sa_test_def tests[] = {
    {"untied_gqa", test_untied_gqa},
    {"tied_bias", test_tied_bias},
    {"norm_layout", test_norm_layout},
    {"reference_kernels_agree", test_reference_kernels_agree},
};
SA_TEST_MAIN(tests)
