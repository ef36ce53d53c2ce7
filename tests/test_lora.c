/* test_lora.c — LoRA adapters and the general training step: gradients of
 * every adapter matrix against finite differences (frozen and trainable
 * base, LoRA and residual dropout), the frozen base's early stop, merging,
 * the PEFT directory round trip in both rotary layouts and its errors,
 * gradient accumulation with a shared denominator, and short sequences in
 * long buffers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sa/alloc.h"
#include "sa/lora.h"
#include "sa/model_train.h"
#include "sa/rng.h"
#include "sa_test.h"

enum { B = 2, T = 6 };

static sa_model_config tiny_config(sa_rope_layout layout) {
    /* GQA (4 heads over 2 kv heads) with q/k/v bias: every LoRA slice of the
     * fused qkv output has a different width */
    sa_model_config c = {.arch = SA_ARCH_QWEN2, .dim = 16, .hidden_dim = 24, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 2, .head_dim = 4, .vocab_size = 13, .max_seq_len = 16,
                         .rope_theta = 10000.0f, .norm_eps = 1e-5f, .rope_layout = layout, .tied_embeddings = false,
                         .qkv_bias = true, .bos_id = -1, .eos_id = -1};
    return c;
}

static void fill_batch(int32_t *tok, int32_t *tgt, uint8_t *mask, int n, int t_len, int salt, int vocab) {
    for (int i = 0; i < n; i++) {
        tok[i] = (i * 5 + 2 + salt) % vocab;
        tgt[i] = (i * 7 + 1 + 3 * salt) % vocab;
        if (mask) mask[i] = (i % t_len) >= 2; /* the first two tokens of each sequence are "prompt" */
    }
}

/* A random adapter with B != 0, so dA is not zero. */
static bool make_adapter(sa_test *t, sa_lora *l, const sa_model_config *c, uint32_t targets, float drop,
                         uint64_t seed) {
    sa_lora_config lc = {.rank = 3, .alpha = 6.0f, .dropout = drop, .targets = targets};
    sa_err e = {0};
    if (sa_lora_init(l, c, &lc, &e)) {
        sa_test_fail(t, __FILE__, __LINE__, "sa_lora_init: %s", e.msg);
        return false;
    }
    sa_lora_randomize(l, seed);
    sa_rng r;
    sa_rng_init(&r, seed + 1);
    for (int32_t layer = 0; layer < c->n_layers; layer++)
        for (int tg = 0; tg < SA_LORA_N_TARGETS; tg++) {
            const sa_lora_pair *p = sa_lora_get(l, layer, (sa_lora_target)tg);
            if (!p) continue;
            for (int64_t i = 0; i < (int64_t)p->out * lc.rank; i++) p->b[i] = (float)(0.3 * sa_rng_normal(&r));
        }
    return true;
}

static float eval_loss(sa_test *t, const sa_model *m, sa_train_acts *a, const sa_kernels *k, sa_train_args args) {
    float l = 0;
    sa_err e = {0};
    args.backward = false;
    if (sa_model_train_step(m, a, k, &args, &l, NULL, &e)) sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
    return l;
}

/* Directional derivative along a random unit u inside w[0..n) vs the
 * central difference; returns false (after reporting) on a mismatch. */
static bool fd_check(sa_test *t, const char *what, float *w, const float *grad, size_t n, sa_rng *r,
                     const sa_model *m, sa_train_acts *a, const sa_kernels *k, sa_train_args args) {
    float *u = sa_malloc_array(n, sizeof(float));
    double norm = 0, an = 0;
    for (size_t j = 0; j < n; j++) u[j] = (float)sa_rng_normal(r), norm += (double)u[j] * u[j];
    norm = sqrt(norm);
    for (size_t j = 0; j < n; j++) u[j] = (float)(u[j] / norm), an += (double)grad[j] * u[j];
    const float eps = 1e-2f;
    for (size_t j = 0; j < n; j++) w[j] += eps * u[j];
    float lp = eval_loss(t, m, a, k, args);
    for (size_t j = 0; j < n; j++) w[j] -= 2 * eps * u[j];
    float lm = eval_loss(t, m, a, k, args);
    for (size_t j = 0; j < n; j++) w[j] += eps * u[j];
    free(u);
    double fd = ((double)lp - lm) / (2.0 * eps);
    /* as in test_model_grad: fp32 loss noise ~3e-5 over 2 eps, eps^2 truncation ~1e-4 relative */
    bool ok = fabs(fd - an) <= 2e-2 * fabs(an) + 2e-4;
    if (!ok) sa_test_fail(t, __FILE__, __LINE__, "%s: analytic %.6g, finite difference %.6g", what, an, fd);
    return ok;
}

/* dL/dA, dL/dB of every target (and the base, when trainable) against
 * finite differences, with optional LoRA and residual dropout. */
static void check_lora_grads(sa_test *t, bool frozen, float lora_drop, float resid_drop, sa_rope_layout layout) {
    sa_model_config c = tiny_config(layout);
    sa_err e = {0};
    sa_model *m, *g = NULL;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    sa_model_randomize(m, 7, 0.3f);
    if (!frozen) SA_REQUIRE_OK(t, sa_model_alloc(&g, &c, &e), &e);
    sa_lora l, lg;
    SA_REQUIRE(t, make_adapter(t, &l, &c, SA_LORA_TARGETS_ALL, lora_drop, 11));
    SA_REQUIRE_OK(t, sa_lora_init(&lg, &c, &l.cfg, &e), &e);
    sa_train_acts a;
    SA_REQUIRE_OK(t, sa_train_acts_init(&a, &c, &l.cfg, B, T, &e), &e);
    sa_kernels k;
    sa_kernels_init(&k, 1);
    int32_t tok[B * T], tgt[B * T];
    uint8_t mask[B * T];
    fill_batch(tok, tgt, mask, B * T, T, 0, c.vocab_size);
    sa_train_args args = {.tokens = tok, .targets = tgt, .mask = mask, .backward = true, .grads = g, .lora = &l,
                          .lora_grads = &lg, .dropout = resid_drop, .dropout_seed = 1234};
    float loss;
    int64_t n;
    SA_REQUIRE_OK(t, sa_model_train_step(m, &a, &k, &args, &loss, &n, &e), &e);
    SA_CHECK_EQ_INT(t, n, B * (T - 2));
    SA_CHECK(t, loss > 0 && isfinite(loss));
    /* the eval pass of the same seed sees the same masks */
    SA_CHECK(t, eval_loss(t, m, &a, &k, args) == loss);
    sa_rng r;
    sa_rng_init(&r, 99);
    int bad = 0;
    char what[96];
    for (int32_t layer = 0; layer < c.n_layers && bad < 4; layer++)
        for (int tg = 0; tg < SA_LORA_N_TARGETS && bad < 4; tg++) {
            const sa_lora_pair *p = sa_lora_get(&l, layer, (sa_lora_target)tg), *gp = sa_lora_get(&lg, layer, tg);
            double ga = 0;
            for (int64_t i = 0; i < (int64_t)l.cfg.rank * p->in; i++) ga += fabs(gp->a[i]);
            SA_CHECKF(t, ga > 0, "dA of layer %d %s is zero", layer, sa_lora_target_name(tg));
            snprintf(what, sizeof what, "layer %d %s A (frozen %d, drop %g/%g)", layer, sa_lora_target_name(tg),
                     frozen, lora_drop, resid_drop);
            bad += !fd_check(t, what, p->a, gp->a, (size_t)l.cfg.rank * p->in, &r, m, &a, &k, args);
            snprintf(what, sizeof what, "layer %d %s B (frozen %d, drop %g/%g)", layer, sa_lora_target_name(tg),
                     frozen, lora_drop, resid_drop);
            bad += !fd_check(t, what, p->b, gp->b, (size_t)l.cfg.rank * p->out, &r, m, &a, &k, args);
        }
    if (!frozen) { /* the base's gradient with adapters and dropout in the way: one direction per layer */
        for (int32_t layer = 0; layer < c.n_layers; layer++) {
            float *w = m->w.layers[layer].wq;
            /* wq .. the next layer's wq (or the final norm): every tensor of the layer */
            const float *end = layer + 1 < c.n_layers ? m->w.layers[layer + 1].wq : m->w.out_norm;
            size_t off = (size_t)(w - m->storage), len = (size_t)(end - w);
            snprintf(what, sizeof what, "base layer %d (drop %g/%g)", layer, lora_drop, resid_drop);
            fd_check(t, what, w, g->storage + off, len, &r, m, &a, &k, args);
        }
        snprintf(what, sizeof what, "base embeddings (drop %g/%g)", lora_drop, resid_drop);
        fd_check(t, what, m->w.tok_embd, g->w.tok_embd, (size_t)c.vocab_size * c.dim, &r, m, &a, &k, args);
    }
    sa_train_acts_free(&a);
    sa_lora_free(&l);
    sa_lora_free(&lg);
    sa_model_free(m);
    sa_model_free(g);
}

static void test_grads_frozen(sa_test *t) { check_lora_grads(t, true, 0, 0, SA_ROPE_LAYOUT_NEOX); }
static void test_grads_trainable(sa_test *t) { check_lora_grads(t, false, 0, 0, SA_ROPE_LAYOUT_NEOX); }
static void test_grads_dropout_frozen(sa_test *t) { check_lora_grads(t, true, 0.3f, 0.2f, SA_ROPE_LAYOUT_NORM); }
static void test_grads_dropout_trainable(sa_test *t) { check_lora_grads(t, false, 0.25f, 0.1f, SA_ROPE_LAYOUT_NEOX); }

/* A frozen base (grads NULL) gives the adapters the same gradients as a
 * trainable one, for target sets where the backward stops early at
 * different points of the lowest layer; eval never writes gradients. */
static void test_frozen_matches_trainable(sa_test *t) {
    sa_model_config c = tiny_config(SA_ROPE_LAYOUT_NEOX);
    c.n_layers = 3;
    sa_err e = {0};
    sa_model *m, *g;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    SA_REQUIRE_OK(t, sa_model_alloc(&g, &c, &e), &e);
    sa_model_randomize(m, 5, 0.3f);
    sa_kernels k;
    sa_kernels_init(&k, 1);
    int32_t tok[B * T], tgt[B * T];
    fill_batch(tok, tgt, NULL, B * T, T, 1, c.vocab_size);
    const uint32_t sets[] = {SA_LORA_TARGETS_ALL, SA_LORA_TARGETS_ATTN, 1u << SA_LORA_DOWN,
                             (1u << SA_LORA_GATE) | (1u << SA_LORA_UP), 1u << SA_LORA_V, 1u << SA_LORA_O};
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++) {
        sa_lora l, g1, g2;
        SA_REQUIRE(t, make_adapter(t, &l, &c, sets[si], 0.1f, 20 + si));
        SA_REQUIRE_OK(t, sa_lora_init(&g1, &c, &l.cfg, &e), &e);
        SA_REQUIRE_OK(t, sa_lora_init(&g2, &c, &l.cfg, &e), &e);
        sa_train_acts a;
        SA_REQUIRE_OK(t, sa_train_acts_init(&a, &c, &l.cfg, B, T, &e), &e);
        sa_train_args args = {.tokens = tok, .targets = tgt, .backward = true, .lora = &l, .lora_grads = &g1,
                              .dropout = 0.1f, .dropout_seed = 77};
        float l1, l2, l3;
        SA_REQUIRE_OK(t, sa_model_train_step(m, &a, &k, &args, &l1, NULL, &e), &e);
        args.grads = g, args.lora_grads = &g2;
        SA_REQUIRE_OK(t, sa_model_train_step(m, &a, &k, &args, &l2, NULL, &e), &e);
        SA_CHECK(t, l1 == l2);
        double maxd = 0, maxg = 0;
        for (size_t j = 0; j < l.storage_floats; j++) {
            maxd = fmax(maxd, fabs(g1.storage[j] - g2.storage[j]));
            maxg = fmax(maxg, fabs(g2.storage[j]));
        }
        SA_CHECKF(t, maxg > 0 && maxd <= 1e-6 * maxg,
                  "targets 0x%x: frozen vs trainable LoRA grads differ by %g (max %g)", (unsigned)sets[si], maxd, maxg);
        /* evaluation writes nothing */
        float *before = sa_memdup(g->storage, g->storage_floats * sizeof(float));
        float *lbefore = sa_memdup(g2.storage, g2.storage_floats * sizeof(float));
        args.backward = false;
        SA_REQUIRE_OK(t, sa_model_train_step(m, &a, &k, &args, &l3, NULL, &e), &e);
        SA_CHECK(t, l3 == l1);
        SA_CHECK(t, memcmp(before, g->storage, g->storage_floats * sizeof(float)) == 0);
        SA_CHECK(t, memcmp(lbefore, g2.storage, g2.storage_floats * sizeof(float)) == 0);
        free(before);
        free(lbefore);
        memset(g->storage, 0, g->storage_floats * sizeof(float));
        sa_train_acts_free(&a);
        sa_lora_free(&l);
        sa_lora_free(&g1);
        sa_lora_free(&g2);
    }
    sa_model_free(m);
    sa_model_free(g);
}

/* PEFT's initialisation (B = 0) leaves the loss bit for bit unchanged. */
static void test_fresh_adapter_is_identity(sa_test *t) {
    sa_model_config c = tiny_config(SA_ROPE_LAYOUT_NEOX);
    sa_err e = {0};
    sa_model *m;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    sa_model_randomize(m, 3, 0.3f);
    sa_lora_config lc = {.rank = 4, .alpha = 8, .dropout = 0.2f, .targets = SA_LORA_TARGETS_ALL};
    sa_lora l;
    SA_REQUIRE_OK(t, sa_lora_init(&l, &c, &lc, &e), &e);
    sa_lora_randomize(&l, 9);
    const sa_lora_pair *p = sa_lora_get(&l, 1, SA_LORA_UP);
    float bound = 1.0f / sqrtf((float)p->in);
    double amax = 0;
    for (int64_t i = 0; i < (int64_t)lc.rank * p->in; i++) amax = fmax(amax, fabs(p->a[i]));
    SA_CHECK(t, amax > 0.5 * bound && amax <= bound);
    sa_train_acts a;
    SA_REQUIRE_OK(t, sa_train_acts_init(&a, &c, &lc, B, T, &e), &e);
    sa_kernels k;
    sa_kernels_init(&k, 1);
    int32_t tok[B * T], tgt[B * T];
    fill_batch(tok, tgt, NULL, B * T, T, 2, c.vocab_size);
    sa_train_args args = {.tokens = tok, .targets = tgt, .dropout = 0.1f, .dropout_seed = 5};
    float base = eval_loss(t, m, &a, &k, args);
    args.lora = &l;
    float with = eval_loss(t, m, &a, &k, args);
    SA_CHECKF(t, base == with, "loss %.9g without adapter, %.9g with a fresh one", base, with);
    /* and residual dropout changes the loss; another seed another mask */
    args.dropout = 0;
    float nodrop = eval_loss(t, m, &a, &k, args);
    args.dropout = 0.1f, args.dropout_seed = 6;
    float other = eval_loss(t, m, &a, &k, args);
    SA_CHECK(t, nodrop != base && other != base);
    /* targets_parse */
    uint32_t set;
    SA_CHECK_OK(t, sa_lora_targets_parse("q, k,v ,o", &set, &e), &e);
    SA_CHECK_EQ_INT(t, set, SA_LORA_TARGETS_ATTN);
    SA_CHECK_OK(t, sa_lora_targets_parse("all", &set, &e), &e);
    SA_CHECK_EQ_INT(t, set, SA_LORA_TARGETS_ALL);
    SA_CHECK_OK(t, sa_lora_targets_parse("gate_proj,down", &set, &e), &e);
    SA_CHECK_EQ_INT(t, set, (1u << SA_LORA_GATE) | (1u << SA_LORA_DOWN));
    SA_CHECK_EQ_INT(t, sa_lora_targets_parse("q,lm_head", &set, &e), SA_ERR_INVALID_ARG);
    SA_CHECK(t, strstr(e.msg, "\"lm_head\"") != NULL);
    SA_CHECK_EQ_INT(t, sa_lora_targets_parse("", &set, &e), SA_ERR_INVALID_ARG);
    SA_CHECK_STR(t, sa_lora_target_name(SA_LORA_GATE), "gate");
    /* invalid configurations and a rank the acts were not sized for */
    sa_lora bad;
    sa_lora_config bc = lc;
    bc.rank = 0;
    SA_CHECK_EQ_INT(t, sa_lora_init(&bad, &c, &bc, &e), SA_ERR_INVALID_ARG);
    bc = lc, bc.dropout = 1.0f;
    SA_CHECK_EQ_INT(t, sa_lora_init(&bad, &c, &bc, &e), SA_ERR_INVALID_ARG);
    bc = lc, bc.targets = 1u << 9;
    SA_CHECK_EQ_INT(t, sa_lora_init(&bad, &c, &bc, &e), SA_ERR_INVALID_ARG);
    bc = lc, bc.rank = 5;
    SA_REQUIRE_OK(t, sa_lora_init(&bad, &c, &bc, &e), &e);
    args.lora = &bad;
    float lx;
    SA_CHECK_EQ_INT(t, sa_model_train_step(m, &a, &k, &args, &lx, NULL, &e), SA_ERR_INVALID_ARG);
    sa_lora_free(&bad);
    args.lora = NULL, args.T = T + 1;
    SA_CHECK_EQ_INT(t, sa_model_train_step(m, &a, &k, &args, &lx, NULL, &e), SA_ERR_INVALID_ARG);
    sa_train_acts_free(&a);
    sa_lora_free(&l);
    sa_model_free(m);
}

static sa_model *copy_model(sa_test *t, const sa_model *m) {
    sa_model *c;
    sa_err e = {0};
    if (sa_model_alloc(&c, &m->cfg, &e)) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
        return NULL;
    }
    memcpy(c->storage, m->storage, m->storage_floats * sizeof(float));
    return c;
}

/* merge: W' == W + scale B A (computed here in double, rounded once), and
 * the merged model's logits equal the base + adapter's. */
static void test_merge(sa_test *t) {
    sa_model_config c = tiny_config(SA_ROPE_LAYOUT_NEOX);
    sa_err e = {0};
    sa_model *m, *mm;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    sa_model_randomize(m, 4, 0.3f);
    sa_lora l;
    SA_REQUIRE(t, make_adapter(t, &l, &c, SA_LORA_TARGETS_ALL & ~(1u << SA_LORA_K), 0.0f, 31));
    SA_REQUIRE(t, (mm = copy_model(t, m)) != NULL);
    SA_REQUIRE_OK(t, sa_lora_merge(&l, mm, &e), &e);
    size_t changed = 0, mism = 0;
    for (int32_t layer = 0; layer < c.n_layers; layer++) {
        const sa_layer_weights *W = &m->w.layers[layer], *M = &mm->w.layers[layer];
        const float *w0[] = {W->wq, W->wk, W->wv, W->wo, W->w_gate, W->w_up, W->w_down};
        const float *w1[] = {M->wq, M->wk, M->wv, M->wo, M->w_gate, M->w_up, M->w_down};
        for (int tg = 0; tg < SA_LORA_N_TARGETS; tg++) {
            const sa_lora_pair *p = sa_lora_get(&l, layer, (sa_lora_target)tg);
            int32_t in = tg == SA_LORA_O ? c.n_heads * c.head_dim : tg == SA_LORA_DOWN ? c.hidden_dim : c.dim;
            int32_t out = tg == SA_LORA_Q ? c.n_heads * c.head_dim
                          : tg <= SA_LORA_V ? c.n_kv_heads * c.head_dim
                          : tg == SA_LORA_O || tg == SA_LORA_DOWN ? c.dim : c.hidden_dim;
            for (int64_t o = 0; o < out; o++)
                for (int64_t i = 0; i < in; i++) {
                    float want = w0[tg][o * in + i];
                    if (p) {
                        double acc = 0;
                        for (int j = 0; j < l.cfg.rank; j++) acc += (double)p->b[o * l.cfg.rank + j] * p->a[j * in + i];
                        want = (float)((double)want + (double)l.scale * acc);
                    }
                    mism += w1[tg][o * in + i] != want;
                    changed += w1[tg][o * in + i] != w0[tg][o * in + i];
                }
        }
    }
    SA_CHECK_EQ_INT(t, mism, 0);
    SA_CHECK(t, changed > 0);
    SA_CHECK(t, memcmp(m->w.layers[0].wk, mm->w.layers[0].wk, sizeof(float) * 8 * 16) == 0);
    /* logits: merged model alone vs base + adapter */
    sa_train_acts a1, a2;
    SA_REQUIRE_OK(t, sa_train_acts_init(&a1, &c, &l.cfg, B, T, &e), &e);
    SA_REQUIRE_OK(t, sa_train_acts_init(&a2, &c, NULL, B, T, &e), &e);
    sa_kernels k;
    sa_kernels_init(&k, 1);
    int32_t tok[B * T], tgt[B * T];
    fill_batch(tok, tgt, NULL, B * T, T, 3, c.vocab_size);
    size_t nlog = (size_t)B * T * c.vocab_size;
    float *lg1 = sa_malloc_array(nlog, sizeof(float)), *lg2 = sa_malloc_array(nlog, sizeof(float));
    SA_REQUIRE(t, lg1 && lg2);
    sa_train_args args = {.tokens = tok, .targets = tgt, .lora = &l, .logits_out = lg1};
    float la = eval_loss(t, m, &a1, &k, args);
    args.lora = NULL, args.logits_out = lg2;
    float lb = eval_loss(t, mm, &a2, &k, args);
    /* two fp32 evaluation orders of the same function: a few ulps per op */
    SA_CHECKF(t, fabsf(la - lb) <= 1e-5f * fabsf(la), "loss with adapter %.9g, merged %.9g", la, lb);
    double maxd = 0, maxl = 0;
    for (size_t i = 0; i < nlog; i++) {
        maxd = fmax(maxd, fabs(lg1[i] - lg2[i]));
        maxl = fmax(maxl, fabs(lg1[i]));
    }
    free(lg1), free(lg2);
    SA_CHECKF(t, maxd <= 1e-5 * maxl, "logits differ by %g (max %g)", maxd, maxl);
    sa_lora other;
    sa_model_config c2 = c;
    c2.dim = 32, c2.head_dim = 8;
    sa_lora_config lc = l.cfg;
    SA_REQUIRE_OK(t, sa_lora_init(&other, &c2, &lc, &e), &e);
    SA_CHECK_EQ_INT(t, sa_lora_merge(&other, mm, &e), SA_ERR_INVALID_ARG);
    sa_lora_free(&other);
    sa_train_acts_free(&a1);
    sa_train_acts_free(&a2);
    sa_lora_free(&l);
    sa_model_free(m);
    sa_model_free(mm);
}

static bool file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

/* save -> load is bit-exact in both layouts; for a NORM-layout model the
 * PEFT directory matches the HF export: merging the reloaded adapter into
 * the reloaded HF base gives exactly the HF export of the merged model. */
static void check_roundtrip(sa_test *t, sa_rope_layout layout) {
    sa_model_config c = tiny_config(layout);
    sa_err e = {0};
    sa_model *m;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    sa_model_randomize(m, 8, 0.3f);
    sa_lora l, r;
    SA_REQUIRE(t, make_adapter(t, &l, &c, SA_LORA_TARGETS_ALL, 0.05f, 41));
    char dir[600];
    const bool norm = layout == SA_ROPE_LAYOUT_NORM;
    snprintf(dir, sizeof dir, "%s", sa_test_tmpfile(t, norm ? "adapter_norm" : "adapter_neox"));
    SA_REQUIRE_OK(t, sa_lora_save_peft(&l, dir, "org/base \"model\"", &e), &e);
    SA_REQUIRE_OK(t, sa_lora_load_peft(&r, dir, &c, &e), &e);
    SA_CHECK_EQ_INT(t, r.cfg.rank, l.cfg.rank);
    SA_CHECK(t, r.cfg.alpha == l.cfg.alpha && r.cfg.dropout == l.cfg.dropout && r.cfg.targets == l.cfg.targets);
    SA_REQUIRE(t, r.storage_floats == l.storage_floats);
    SA_CHECK(t, memcmp(r.storage, l.storage, l.storage_floats * sizeof(float)) == 0);
    char cfgpath[700];
    snprintf(cfgpath, sizeof cfgpath, "%s/adapter_config.json", dir);
    SA_CHECK(t, file_contains(cfgpath, "\"peft_type\": \"LORA\""));
    SA_CHECK(t, file_contains(cfgpath, "\"lora_dropout\": 0.05,"));
    SA_CHECK(t, file_contains(cfgpath, "\"base_model_name_or_path\": \"org/base \\\"model\\\"\""));
    SA_CHECK(t, file_contains(cfgpath, "[\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", "
                                       "\"up_proj\", \"down_proj\"]"));
    sa_lora_free(&r);
    /* HF export of merge(l) vs merge(load_peft) on the reloaded HF base */
    char base_dir[600], merged_dir[600];
    snprintf(base_dir, sizeof base_dir, "%s", sa_test_tmpfile(t, norm ? "base_norm" : "base_neox"));
    snprintf(merged_dir, sizeof merged_dir, "%s", sa_test_tmpfile(t, norm ? "merged_norm" : "merged_neox"));
    sa_model *mm = copy_model(t, m), *hb = NULL, *hm = NULL;
    SA_REQUIRE(t, mm != NULL);
    SA_REQUIRE_OK(t, sa_lora_merge(&l, mm, &e), &e);
    SA_REQUIRE_OK(t, sa_model_save_hf(m, base_dir, SA_DTYPE_F32, &e), &e);
    SA_REQUIRE_OK(t, sa_model_save_hf(mm, merged_dir, SA_DTYPE_F32, &e), &e);
    SA_REQUIRE_OK(t, sa_model_load(&hb, base_dir, &e), &e);
    SA_REQUIRE_OK(t, sa_model_load(&hm, merged_dir, &e), &e);
    SA_CHECK(t, hb->cfg.rope_layout == SA_ROPE_LAYOUT_NEOX);
    SA_REQUIRE_OK(t, sa_lora_load_peft(&r, dir, &hb->cfg, &e), &e);
    /* the adapter also works unmerged on the HF base: same loss as on m */
    sa_train_acts a;
    SA_REQUIRE_OK(t, sa_train_acts_init(&a, &c, &l.cfg, B, T, &e), &e);
    sa_kernels k;
    sa_kernels_init(&k, 1);
    int32_t tok[B * T], tgt[B * T];
    fill_batch(tok, tgt, NULL, B * T, T, 4, c.vocab_size);
    sa_train_args args = {.tokens = tok, .targets = tgt, .lora = &l};
    float l_orig = eval_loss(t, m, &a, &k, args);
    args.lora = &r;
    float l_hf = eval_loss(t, hb, &a, &k, args);
    SA_CHECKF(t, fabsf(l_orig - l_hf) <= 1e-5f * l_orig, "adapter on original %.9g vs on HF export %.9g", l_orig,
              l_hf);
    SA_REQUIRE_OK(t, sa_lora_merge(&r, hb, &e), &e);
    /* the permutation commutes with B A row by row: the weights agree exactly */
    SA_REQUIRE(t, hb->storage_floats == hm->storage_floats);
    SA_CHECK(t, memcmp(hb->storage, hm->storage, hm->storage_floats * sizeof(float)) == 0);
    args.lora = NULL;
    float l1 = eval_loss(t, hb, &a, &k, args), l2 = eval_loss(t, hm, &a, &k, args);
    SA_CHECK(t, l1 == l2);
    sa_train_acts_free(&a);
    sa_lora_free(&r);
    sa_lora_free(&l);
    sa_model_free(m);
    sa_model_free(mm);
    sa_model_free(hb);
    sa_model_free(hm);
}

static void test_roundtrip_neox(sa_test *t) { check_roundtrip(t, SA_ROPE_LAYOUT_NEOX); }
static void test_roundtrip_norm(sa_test *t) { check_roundtrip(t, SA_ROPE_LAYOUT_NORM); }

static void write_config(sa_test *t, const char *dir, const char *json) {
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    sa_test_write_file(t, path, json, strlen(json));
}

/* Bad adapter directories: each a clear error naming the file (and tensor). */
static void test_load_errors(sa_test *t) {
    sa_model_config c = tiny_config(SA_ROPE_LAYOUT_NEOX);
    sa_err e = {0};
    sa_lora l, r;
    SA_REQUIRE(t, make_adapter(t, &l, &c, (1u << SA_LORA_Q) | (1u << SA_LORA_K), 0, 50));
    char dir[600];
    snprintf(dir, sizeof dir, "%s", sa_test_tmpfile(t, "bad_adapter"));
    SA_REQUIRE_OK(t, sa_lora_save_peft(&l, dir, "base", &e), &e);
    const char *good = "{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", "
                       "\"k_proj\"], \"bias\": \"none\", \"use_dora\": false}";
    write_config(t, dir, good);
    SA_CHECK_OK(t, sa_lora_load_peft(&r, dir, &c, &e), &e);
    sa_lora_free(&r);
    struct {
        const char *json, *needle, *needle2;
        sa_status code;
    } cases[] = {
        {"{\"peft_type\": \"LORA\", \"r\": 3,", "adapter_config.json", NULL, SA_ERR_FORMAT},
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", \"k_proj\"], "
         "\"use_dora\": true}",
         "adapter_config.json", "use_dora", SA_ERR_UNSUPPORTED},
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", \"k_proj\"], "
         "\"use_rslora\": true}",
         "adapter_config.json", "use_rslora", SA_ERR_UNSUPPORTED},
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", \"k_proj\"], "
         "\"bias\": \"all\"}",
         "adapter_config.json", "bias", SA_ERR_UNSUPPORTED},
        {"{\"peft_type\": \"IA3\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\"]}",
         "adapter_config.json", "IA3", SA_ERR_UNSUPPORTED},
        {"{\"peft_type\": \"LORA\", \"r\": -2, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\"]}",
         "adapter_config.json", "r = -2", SA_ERR_FORMAT},
        {"{\"peft_type\": \"LORA\", \"r\": \"3\", \"lora_alpha\": 6, \"target_modules\": [\"q_proj\"]}",
         "adapter_config.json", "\"r\"", SA_ERR_FORMAT},
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", \"lm_head\"]}",
         "adapter_config.json", "lm_head", SA_ERR_UNSUPPORTED},
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", 7]}",
         "adapter_config.json", "target_modules[1]", SA_ERR_UNSUPPORTED},
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"lora_dropout\": 1.5, \"target_modules\": "
         "[\"q_proj\"]}",
         "adapter_config.json", "lora_dropout", SA_ERR_FORMAT},
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", \"k_proj\"], "
         "\"layers_to_transform\": [0]}",
         "adapter_config.json", "layers_to_transform", SA_ERR_UNSUPPORTED},
        /* the file holds q and k only: v is missing */
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", \"k_proj\", "
         "\"v_proj\"]}",
         "adapter_model.safetensors", "layers.0.self_attn.v_proj.lora_A.weight", SA_ERR_NOT_FOUND},
        /* wrong rank: every A is [3, 16], not [4, 16] */
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\", \"k_proj\"]}",
         "adapter_model.safetensors", "q_proj.lora_A.weight has shape [3, 16], expected [4, 16]", SA_ERR_FORMAT},
        /* k's tensors in the file are not declared */
        {"{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"q_proj\"]}",
         "adapter_model.safetensors", "unexpected tensor", SA_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_config(t, dir, cases[i].json);
        sa_err_clear(&e);
        sa_status s = sa_lora_load_peft(&r, dir, &c, &e);
        SA_CHECKF(t, s == cases[i].code, "case %zu: status %d, expected %d (%s)", i, (int)s, (int)cases[i].code, e.msg);
        SA_CHECKF(t, strstr(e.msg, cases[i].needle) != NULL, "case %zu: message \"%s\" lacks \"%s\"", i, e.msg,
                  cases[i].needle);
        SA_CHECKF(t, !cases[i].needle2 || strstr(e.msg, cases[i].needle2) != NULL,
                  "case %zu: message \"%s\" lacks \"%s\"", i, e.msg, cases[i].needle2);
        SA_CHECK(t, r.storage == NULL && r.layers == NULL);
    }
    /* another model's shape */
    write_config(t, dir, good);
    sa_model_config c2 = c;
    c2.dim = 32, c2.head_dim = 8;
    SA_CHECK_EQ_INT(t, sa_lora_load_peft(&r, dir, &c2, &e), SA_ERR_FORMAT);
    SA_CHECK(t, strstr(e.msg, "adapter_model.safetensors") != NULL);
    /* no directory at all */
    SA_CHECK(t, sa_lora_load_peft(&r, sa_test_tmpfile(t, "nothing_here"), &c, &e) != SA_OK);
    SA_CHECK(t, strstr(e.msg, "nothing_here/adapter_config.json") != NULL);
    sa_lora_free(&l);
}

/* Two calls with denom = both calls' counted rows == one call over both
 * batches; a short T in long buffers == buffers of that T. */
static void test_accumulation_and_short_T(sa_test *t) {
    sa_model_config c = tiny_config(SA_ROPE_LAYOUT_NEOX);
    sa_err e = {0};
    sa_model *m, *g1, *g2;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    SA_REQUIRE_OK(t, sa_model_alloc(&g1, &c, &e), &e);
    SA_REQUIRE_OK(t, sa_model_alloc(&g2, &c, &e), &e);
    sa_model_randomize(m, 12, 0.3f);
    sa_lora l, lg1, lg2;
    SA_REQUIRE(t, make_adapter(t, &l, &c, SA_LORA_TARGETS_ALL, 0, 60));
    SA_REQUIRE_OK(t, sa_lora_init(&lg1, &c, &l.cfg, &e), &e);
    SA_REQUIRE_OK(t, sa_lora_init(&lg2, &c, &l.cfg, &e), &e);
    sa_kernels k;
    sa_kernels_init(&k, 1);
    int32_t tok[2 * B * T], tgt[2 * B * T];
    uint8_t mask[2 * B * T];
    fill_batch(tok, tgt, mask, 2 * B * T, T, 5, c.vocab_size);
    for (int i = B * T; i < 2 * B * T; i++) mask[i] = (i % T) >= 4; /* the batches count different numbers of rows */
    sa_train_acts big, small;
    SA_REQUIRE_OK(t, sa_train_acts_init(&big, &c, &l.cfg, 2 * B, T, &e), &e);
    SA_REQUIRE_OK(t, sa_train_acts_init(&small, &c, &l.cfg, B, T, &e), &e);
    sa_train_args args = {.tokens = tok, .targets = tgt, .mask = mask, .backward = true, .grads = g1, .lora = &l,
                          .lora_grads = &lg1};
    float lall, la, lb;
    int64_t nall, na, nb;
    SA_REQUIRE_OK(t, sa_model_train_step(m, &big, &k, &args, &lall, &nall, &e), &e);
    args.grads = g2, args.lora_grads = &lg2, args.denom = nall;
    SA_REQUIRE_OK(t, sa_model_train_step(m, &small, &k, &args, &la, &na, &e), &e);
    args.tokens += B * T, args.targets += B * T, args.mask += B * T;
    SA_REQUIRE_OK(t, sa_model_train_step(m, &small, &k, &args, &lb, &nb, &e), &e);
    SA_CHECK_EQ_INT(t, na + nb, nall);
    SA_CHECK(t, na != nb);
    /* each call still reports its own mean */
    SA_CHECKF(t, fabs(((double)la * na + (double)lb * nb) / nall - lall) <= 1e-6 * lall, "losses %g %g vs %g", la, lb,
              lall);
    double maxd = 0, maxg = 0;
    for (size_t j = 0; j < g1->storage_floats; j++)
        maxd = fmax(maxd, fabs(g1->storage[j] - g2->storage[j])), maxg = fmax(maxg, fabs(g1->storage[j]));
    for (size_t j = 0; j < lg1.storage_floats; j++)
        maxd = fmax(maxd, fabs(lg1.storage[j] - lg2.storage[j])), maxg = fmax(maxg, fabs(lg1.storage[j]));
    /* fp32 sums in another blocking (GEMMs over 12 rows twice vs 24 once):
     * ~1.6e-6 of the largest gradient observed */
    SA_CHECKF(t, maxg > 0 && maxd <= 5e-6 * maxg, "accumulated gradients differ by %g (max %g)", maxd, maxg);
    /* short T: T = 5 in buffers for 8 vs buffers for 5 */
    enum { TL = 8, TS = 5 };
    sa_train_acts a8, a5;
    SA_REQUIRE_OK(t, sa_train_acts_init(&a8, &c, &l.cfg, B, TL, &e), &e);
    SA_REQUIRE_OK(t, sa_train_acts_init(&a5, &c, &l.cfg, B, TS, &e), &e);
    int32_t tk[B * TS], tg[B * TS];
    uint8_t mk[B * TS];
    fill_batch(tk, tg, mk, B * TS, TS, 6, c.vocab_size);
    memset(g1->storage, 0, g1->storage_floats * sizeof(float));
    memset(g2->storage, 0, g2->storage_floats * sizeof(float));
    memset(lg1.storage, 0, lg1.storage_floats * sizeof(float));
    memset(lg2.storage, 0, lg2.storage_floats * sizeof(float));
    sa_train_args s1 = {.tokens = tk, .targets = tg, .mask = mk, .T = TS, .backward = true, .grads = g1, .lora = &l,
                        .lora_grads = &lg1, .dropout = 0.1f, .dropout_seed = 3};
    sa_train_args s2 = s1;
    s2.T = 0, s2.grads = g2, s2.lora_grads = &lg2;
    float x8 = 0, x5 = 0;
    /* run a full-length step first so the long buffers hold stale data */
    int32_t tk8[B * TL], tg8[B * TL];
    fill_batch(tk8, tg8, NULL, B * TL, TL, 7, c.vocab_size);
    sa_train_args warm = {.tokens = tk8, .targets = tg8, .lora = &l};
    eval_loss(t, m, &a8, &k, warm);
    SA_REQUIRE_OK(t, sa_model_train_step(m, &a8, &k, &s1, &x8, NULL, &e), &e);
    SA_REQUIRE_OK(t, sa_model_train_step(m, &a5, &k, &s2, &x5, NULL, &e), &e);
    SA_CHECKF(t, x8 == x5, "loss %.9g (T 5 of 8) vs %.9g", x8, x5);
    SA_CHECK(t, memcmp(g1->storage, g2->storage, g1->storage_floats * sizeof(float)) == 0);
    SA_CHECK(t, memcmp(lg1.storage, lg2.storage, lg1.storage_floats * sizeof(float)) == 0);
    sa_train_acts_free(&a8);
    sa_train_acts_free(&a5);
    sa_train_acts_free(&big);
    sa_train_acts_free(&small);
    sa_lora_free(&l);
    sa_lora_free(&lg1);
    sa_lora_free(&lg2);
    sa_model_free(m);
    sa_model_free(g1);
    sa_model_free(g2);
}

/* The naive reference kernels give the fast path's LoRA gradients (the
 * frozen base's dw == NULL matmuls included), at T = 40 (GEMM attention). */
static void test_reference_kernels_agree(sa_test *t) {
    sa_model_config c = tiny_config(SA_ROPE_LAYOUT_NEOX);
    c.max_seq_len = 64;
    sa_err e = {0};
    sa_model *m;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    sa_model_randomize(m, 13, 0.2f);
    sa_lora l, g1, g2;
    SA_REQUIRE(t, make_adapter(t, &l, &c, SA_LORA_TARGETS_ALL, 0.1f, 70));
    SA_REQUIRE_OK(t, sa_lora_init(&g1, &c, &l.cfg, &e), &e);
    SA_REQUIRE_OK(t, sa_lora_init(&g2, &c, &l.cfg, &e), &e);
    sa_train_acts a;
    SA_REQUIRE_OK(t, sa_train_acts_init(&a, &c, &l.cfg, 3, 40, &e), &e);
    int32_t tok[120], tgt[120];
    fill_batch(tok, tgt, NULL, 120, 40, 8, c.vocab_size);
    sa_kernels fast, ref;
    sa_kernels_init(&fast, 2);
    sa_kernels_init(&ref, 1);
    ref.reference = true;
    sa_train_args args = {.tokens = tok, .targets = tgt, .backward = true, .lora = &l, .lora_grads = &g1,
                          .dropout = 0.1f, .dropout_seed = 9};
    float l1, l2;
    SA_REQUIRE_OK(t, sa_model_train_step(m, &a, &fast, &args, &l1, NULL, &e), &e);
    args.lora_grads = &g2;
    SA_REQUIRE_OK(t, sa_model_train_step(m, &a, &ref, &args, &l2, NULL, &e), &e);
    SA_CHECKF(t, fabsf(l1 - l2) < 1e-5f, "loss %g vs %g", l1, l2);
    double maxd = 0, maxg = 0;
    for (size_t j = 0; j < g1.storage_floats; j++)
        maxd = fmax(maxd, fabs(g1.storage[j] - g2.storage[j])), maxg = fmax(maxg, fabs(g2.storage[j]));
    SA_CHECKF(t, maxg > 0 && maxd <= 1e-4 * maxg, "fast and reference LoRA gradients differ by %g (max %g)", maxd,
              maxg);
    sa_train_acts_free(&a);
    sa_lora_free(&l);
    sa_lora_free(&g1);
    sa_lora_free(&g2);
    sa_model_free(m);
}

static const sa_test_def tests[] = {
    {"grads_frozen", test_grads_frozen},
    {"grads_trainable", test_grads_trainable},
    {"grads_dropout_frozen", test_grads_dropout_frozen},
    {"grads_dropout_trainable", test_grads_dropout_trainable},
    {"frozen_matches_trainable", test_frozen_matches_trainable},
    {"fresh_adapter_is_identity", test_fresh_adapter_is_identity},
    {"merge", test_merge},
    {"roundtrip_neox", test_roundtrip_neox},
    {"roundtrip_norm", test_roundtrip_norm},
    {"load_errors", test_load_errors},
    {"accumulation_and_short_T", test_accumulation_and_short_T},
    {"reference_kernels_agree", test_reference_kernels_agree},
};
SA_TEST_MAIN(tests)
