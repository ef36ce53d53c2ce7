/* test_torch_train.c — one training step against a PyTorch twin.
 *
 * tests/data/torch_train_ref.json was written by tools/torch_train_ref.py:
 * an independent PyTorch implementation (float64, from the fp32 weights)
 * run on the HF directories build/tools/mkmodel writes. Here the same
 * models are rebuilt from their config and seed (sa_model_randomize, as
 * mkmodel does; HF row order on both sides) and run on the same batch of
 * B = 2 sequences x T = 8 tokens whose mask drops prompt rows and one
 * padded row. Models: GQA Llama with untied embeddings; Qwen2 with q/k/v
 * bias and tied embeddings (also the LoRA model).
 *
 * What is compared, and why each tolerance. Our side computes in fp32 with
 * other summation orders; the reference is float64, stored with 7
 * significant digits (9 for parameters and LoRA inputs), so what the test
 * measures is our own rounding: ~1e-6 relative (measured 6.5e-7 for
 * gradients, 1.4e-6 for LoRA gradients, 5e-7 on logits). Each bound keeps
 * a >10x margin over that yet catches any real error, which moves values
 * by 1e-3 relative or more:
 *   loss                        |diff| <= 1e-5 (loss ~4)
 *   counted rows                exact (11 of 16)
 *   logits, every row           |diff| <= 1e-4 (logits are O(1))
 *   every parameter gradient    max |diff| <= 2e-5 * max |g| of that tensor;
 *                               its HF name must be one of ours, and every
 *                               tensor of ours must be in the file
 *   gradient norm before clip   relative 1e-5
 *   parameters after clip_grad_norm_(1.0) + one AdamW step (lr 1e-3,
 *   betas 0.9/0.999, eps 1e-8, weight decay 0.1) on the flat storage
 *   (every element, or every k-th of a tensor: params_after_stride):
 *     - from the REFERENCE gradients: |diff| <= 1e-6 for every element
 *       (the step moves each weight by ~lr = 1e-3; 1e-6 is 8 fp32 ulp at
 *       1.0, where the norm weights sit);
 *     - from OUR gradients: the same 1e-6 where the reference clipped
 *       gradient has |g| >= 1e-5. The first Adam step is lr * g / (|g| +
 *       eps): where |g| is tiny its direction follows the sign of g, which
 *       fp32 noise may flip, so such elements (mostly exact zeros: rows of
 *       unused tokens) are only held to the bound of any first step,
 *       |diff| <= 2 lr, and counted in the printout.
 *   the same gradients from the naive reference kernels (k.reference).
 *   sa_model_train_step (no adapter): loss and every gradient as above.
 *   LoRA via sa_model_train_step (rank 2, alpha 8, all seven targets, base
 *   frozen: grads NULL, fixed non-zero A and B read from the file): loss
 *   as above, and every A and B gradient max |diff| <= 2e-5 * max |g| of
 *   that tensor. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "sa/alloc.h"
#include "sa/json.h"
#include "sa/lora.h"
#include "sa/model.h"
#include "sa/model_train.h"
#include "sa/optim.h"
#include "sa_test.h"

enum { MAX_T = 16, MAX_ROWS = 64, MAX_TENSORS = 128 };

typedef struct named_tensor {
    char name[96];
    float *p;
    size_t n;
} named_tensor;

/* Every parameter tensor of m under its Hugging Face name. Tied models have
 * no lm_head. Returns the count. */
static size_t hf_tensors(sa_model *m, named_tensor *out) {
    const sa_model_config *c = &m->cfg;
    size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, V = (size_t)c->vocab_size,
           qd = (size_t)c->n_heads * (size_t)c->head_dim, kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim, n = 0;
#define ADD(p_, n_, ...)                                                     \
    do {                                                                     \
        snprintf(out[n].name, sizeof out[n].name, __VA_ARGS__);              \
        out[n].p = (p_), out[n].n = (n_), n++;                               \
    } while (0)
    ADD(m->w.tok_embd, V * D, "model.embed_tokens.weight");
    ADD(m->w.out_norm, D, "model.norm.weight");
    if (!c->tied_embeddings) ADD(m->w.output, V * D, "lm_head.weight");
    for (int32_t l = 0; l < c->n_layers; l++) {
        sa_layer_weights *W = &m->w.layers[l];
        ADD(W->attn_norm, D, "model.layers.%d.input_layernorm.weight", l);
        ADD(W->wq, qd * D, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(W->wk, kvd * D, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(W->wv, kvd * D, "model.layers.%d.self_attn.v_proj.weight", l);
        if (c->qkv_bias) {
            ADD(W->bq, qd, "model.layers.%d.self_attn.q_proj.bias", l);
            ADD(W->bk, kvd, "model.layers.%d.self_attn.k_proj.bias", l);
            ADD(W->bv, kvd, "model.layers.%d.self_attn.v_proj.bias", l);
        }
        ADD(W->wo, D * qd, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(W->ffn_norm, D, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(W->w_gate, F * D, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(W->w_up, F * D, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(W->w_down, D * F, "model.layers.%d.mlp.down_proj.weight", l);
    }
#undef ADD
    return n;
}

static double num(const json_t *a, size_t i) { return json_number_value(json_array_get(a, i)); }

/* max |ours - ref| and max |ref| over n values (ref a JSON array of n). */
static void diff_stats(const float *ours, const json_t *ref, size_t n, double *maxd, double *maxv) {
    *maxd = 0, *maxv = 0;
    for (size_t i = 0; i < n; i++) {
        double r = num(ref, i);
        *maxd = fmax(*maxd, fabs(r - ours[i]));
        *maxv = fmax(*maxv, fabs(r));
    }
}

/* The shared inputs of the reference file. */
typedef struct batch {
    int32_t B, T;
    int32_t tokens[MAX_ROWS], targets[MAX_ROWS];
    uint8_t mask[MAX_ROWS];
    double lr, beta1, beta2, eps, wd, max_norm;
} batch;

static json_t *load_ref(sa_test *t, batch *bt) {
    const char *root = getenv("SA_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/torch_train_ref.json", root ? root : ".");
    json_t *doc;
    sa_err e = {0};
    if (sa_json_load_file(path, 4u << 20, &doc, &e) != SA_OK) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
        return NULL;
    }
    bt->B = (int32_t)json_integer_value(json_object_get(doc, "B"));
    bt->T = (int32_t)json_integer_value(json_object_get(doc, "T"));
    json_t *tok = json_object_get(doc, "tokens"), *tgt = json_object_get(doc, "targets"),
           *mk = json_object_get(doc, "mask"), *o = json_object_get(doc, "optim");
    size_t R = (size_t)bt->B * (size_t)bt->T;
    if (bt->B <= 0 || bt->T <= 0 || bt->T > MAX_T || R > MAX_ROWS || json_array_size(tok) != R ||
        json_array_size(tgt) != R || json_array_size(mk) != R || !o) {
        sa_test_fail(t, __FILE__, __LINE__, "%s: unexpected batch layout", path);
        json_decref(doc);
        return NULL;
    }
    for (size_t i = 0; i < R; i++) {
        bt->tokens[i] = (int32_t)json_integer_value(json_array_get(tok, i));
        bt->targets[i] = (int32_t)json_integer_value(json_array_get(tgt, i));
        bt->mask[i] = (uint8_t)json_integer_value(json_array_get(mk, i));
    }
    bt->lr = json_number_value(json_object_get(o, "lr"));
    bt->beta1 = json_number_value(json_object_get(o, "beta1"));
    bt->beta2 = json_number_value(json_object_get(o, "beta2"));
    bt->eps = json_number_value(json_object_get(o, "eps"));
    bt->wd = json_number_value(json_object_get(o, "weight_decay"));
    bt->max_norm = json_number_value(json_object_get(o, "max_norm"));
    return doc;
}

/* The reference model rebuilt from its config.json and seed. */
static sa_status build_model(sa_test *t, const json_t *doc, const json_t *mj, sa_model **out, sa_err *e) {
    char cfgpath[1200];
    snprintf(cfgpath, sizeof cfgpath, "%s/%s.json", sa_test_tmpdir(t), json_string_value(json_object_get(mj, "name")));
    if (json_dump_file(json_object_get(mj, "config"), cfgpath, 0) != 0)
        return sa_err_set(e, SA_ERR_IO, "%s: cannot write", cfgpath);
    sa_model_config cfg;
    sa_status s = sa_model_config_from_hf(&cfg, cfgpath, e);
    if (!s) s = sa_model_alloc(out, &cfg, e);
    if (!s)
        sa_model_randomize(*out, (uint64_t)json_integer_value(json_object_get(mj, "seed")),
                           (float)json_number_value(json_object_get(doc, "std")));
    return s;
}

/* Compare every gradient tensor of g with the reference "grads" object;
 * the sets of names must be equal. */
static void check_grads(sa_test *t, const char *model, const char *via, sa_model *g, const json_t *ref) {
    named_tensor nt[MAX_TENSORS];
    size_t n = hf_tensors(g, nt);
    SA_CHECKF(t, json_object_size(ref) == n, "%s: reference has %zu gradient tensors, we have %zu", model,
              json_object_size(ref), n);
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_object_get(ref, nt[i].name);
        if (!r || json_array_size(r) != nt[i].n) {
            SA_CHECKF(t, false, "%s: gradient %s missing or of size %zu (want %zu)", model, nt[i].name,
                      json_array_size(r), nt[i].n);
            continue;
        }
        double maxd, maxv;
        diff_stats(nt[i].p, r, nt[i].n, &maxd, &maxv);
        double rel = maxv > 0 ? maxd / maxv : maxd;
        SA_CHECKF(t, maxd <= 2e-5 * maxv, "%s (%s): gradient %s differs by %g (max |g| %g)", model, via, nt[i].name,
                  maxd, maxv);
        if (rel > worst) worst = rel, worst_name = nt[i].name;
    }
    fprintf(stderr, "  %-16s %-10s %zu gradient tensors, worst max|diff|/max|g| %.2e (%s)\n", model, via, n, worst,
            worst_name);
}

/* Parameters after clip + one AdamW step on the flat storage, starting from
 * the model's seed, with gradients gsrc. With ref_grads set, every recorded
 * element is held to 1e-6; otherwise elements whose reference gradient is
 * tiny are held to 2 lr (see the header). */
static void check_step(sa_test *t, const char *model, const char *via, const batch *bt, const json_t *doc,
                       const json_t *mj, sa_model *gsrc, bool ref_grads) {
    sa_model *p;
    sa_err e = {0};
    SA_REQUIRE_OK(t, build_model(t, doc, mj, &p, &e), &e);
    float norm = sa_grad_clip(gsrc->storage, gsrc->storage_floats, (float)bt->max_norm);
    double ref_norm = json_number_value(json_object_get(mj, "grad_norm"));
    SA_CHECKF(t, fabs(norm - ref_norm) <= 1e-5 * ref_norm, "%s (%s): gradient norm %g, PyTorch %g", model, via,
              norm, ref_norm);
    double coef = ref_norm > bt->max_norm ? bt->max_norm / (ref_norm + 1e-6) : 1.0;
    sa_adamw opt;
    SA_REQUIRE_OK(t, sa_adamw_init(&opt, p->storage_floats,
                                   (sa_adamw_params){(float)bt->beta1, (float)bt->beta2, (float)bt->eps, (float)bt->wd},
                                   &e),
                  &e);
    sa_adamw_step(&opt, p->storage, gsrc->storage, (float)bt->lr);
    named_tensor nt[MAX_TENSORS];
    size_t n = hf_tensors(p, nt), stride = (size_t)json_integer_value(json_object_get(mj, "params_after_stride"));
    const json_t *after = json_object_get(mj, "params_after"), *grads = json_object_get(mj, "grads");
    SA_REQUIRE(t, stride >= 1 && json_object_size(after) == n);
    double worst = 0, worst_loose = 0;
    size_t n_cmp = 0, n_loose = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_object_get(after, nt[i].name), *gr = json_object_get(grads, nt[i].name);
        size_t cnt = (nt[i].n + stride - 1) / stride;
        if (!r || json_array_size(r) != cnt || json_array_size(gr) != nt[i].n) {
            SA_CHECKF(t, false, "%s: params_after %s missing or of the wrong size", model, nt[i].name);
            continue;
        }
        for (size_t j = 0; j < cnt; j++) {
            double d = fabs(num(r, j) - nt[i].p[j * stride]);
            if (ref_grads || fabs(num(gr, j * stride) * coef) >= 1e-5) {
                SA_CHECKF(t, d <= 1e-6, "%s (%s): %s[%zu] after the step %.9g, PyTorch %.9g", model, via, nt[i].name,
                          j * stride, nt[i].p[j * stride], num(r, j));
                worst = fmax(worst, d);
            } else {
                SA_CHECKF(t, d <= 2 * bt->lr, "%s (%s): %s[%zu] after the step %.9g, PyTorch %.9g", model, via,
                          nt[i].name, j * stride, nt[i].p[j * stride], num(r, j));
                worst_loose = fmax(worst_loose, d), n_loose++;
            }
            n_cmp++;
        }
    }
    fprintf(stderr, "  %-16s %-10s norm %.6f (PyTorch %.6f); after AdamW max|diff| %.2e over %zu values",
            model, via, norm, ref_norm, worst, n_cmp - n_loose);
    if (!ref_grads) fprintf(stderr, "; %zu with |g| < 1e-5: max|diff| %.2e", n_loose, worst_loose);
    fprintf(stderr, "\n");
    sa_adamw_free(&opt);
    sa_model_free(p);
}

/* Loss, counted rows and logits of one call against the reference model mj. */
static void check_loss_logits(sa_test *t, const char *model, const char *via, const json_t *mj, float loss,
                              int64_t n_counted, const float *logits, int32_t R, int32_t V) {
    double ref_loss = json_number_value(json_object_get(mj, "loss"));
    SA_CHECKF(t, fabs(loss - ref_loss) <= 1e-5, "%s (%s): loss %.8f, PyTorch %.8f", model, via, loss, ref_loss);
    SA_CHECK_EQ_INT(t, n_counted, json_integer_value(json_object_get(mj, "n_counted")));
    if (!logits) return;
    const json_t *lg = json_object_get(mj, "logits");
    SA_REQUIRE(t, (int32_t)json_array_size(lg) == R);
    double maxd = 0;
    for (int32_t r = 0; r < R; r++) {
        const json_t *row = json_array_get(lg, (size_t)r);
        SA_REQUIRE(t, (int32_t)json_array_size(row) == V);
        double d, v;
        diff_stats(logits + (size_t)r * (size_t)V, row, (size_t)V, &d, &v);
        maxd = fmax(maxd, d);
    }
    SA_CHECKF(t, maxd <= 1e-4, "%s (%s): logits differ from PyTorch by %g", model, via, maxd);
    fprintf(stderr, "  %-16s %-10s loss %.7f (PyTorch %.7f), logits max|diff| %.2e\n", model, via, loss, ref_loss,
            maxd);
}

static void test_grads_and_step_match_pytorch(sa_test *t) {
    batch bt;
    json_t *doc = load_ref(t, &bt);
    if (!doc) return;
    json_t *models = json_object_get(doc, "models");
    SA_CHECK(t, json_array_size(models) >= 2);
    size_t mi;
    json_t *mj;
    json_array_foreach(models, mi, mj) {
        const char *name = json_string_value(json_object_get(mj, "name"));
        sa_model *m = NULL, *g = NULL, *g2 = NULL;
        sa_train_acts a = {0};
        sa_err e = {0};
        SA_CHECK_OK(t, build_model(t, doc, mj, &m, &e), &e);
        if (m) SA_CHECK_OK(t, sa_model_alloc(&g, &m->cfg, &e), &e);
        if (g) SA_CHECK_OK(t, sa_model_alloc(&g2, &m->cfg, &e), &e);
        if (g2) SA_CHECK_OK(t, sa_train_acts_init(&a, &m->cfg, NULL, bt.B, bt.T, &e), &e);
        if (!a.x) {
            sa_model_free(g2), sa_model_free(g), sa_model_free(m);
            break;
        }
        sa_kernels k;
        sa_kernels_init(&k, 2);
        float loss = 0;
        int64_t nc = 0;
        SA_CHECK_OK(t, sa_model_loss_grad(m, g, &a, &k, bt.tokens, bt.targets, bt.mask, &loss, &nc, &e), &e);
        /* training never holds every row's logits: ask a loss-only step for them */
        float loss_fwd = 0;
        int64_t nc_fwd = 0;
        float *logits = sa_malloc_array((size_t)bt.B * bt.T * m->cfg.vocab_size, sizeof(float));
        SA_REQUIRE(t, logits != NULL);
        sa_train_args fa = {.tokens = bt.tokens, .targets = bt.targets, .mask = bt.mask, .logits_out = logits};
        SA_CHECK_OK(t, sa_model_train_step(m, &a, &k, &fa, &loss_fwd, &nc_fwd, &e), &e);
        SA_CHECK(t, loss_fwd == loss && nc_fwd == nc);
        check_loss_logits(t, name, "loss_grad", mj, loss, nc, logits, bt.B * bt.T, m->cfg.vocab_size);
        free(logits);
        check_grads(t, name, "loss_grad", g, json_object_get(mj, "grads"));
        check_step(t, name, "ours", &bt, doc, mj, g, false);
        /* the naive reference kernels give the same gradients */
        k.reference = true;
        SA_CHECK_OK(t, sa_model_loss_grad(m, g2, &a, &k, bt.tokens, bt.targets, bt.mask, &loss, &nc, &e), &e);
        check_grads(t, name, "naive", g2, json_object_get(mj, "grads"));
        /* the optimizer alone, fed the reference gradients */
        memset(g2->storage, 0, g2->storage_floats * sizeof(float));
        named_tensor nt[MAX_TENSORS];
        size_t n = hf_tensors(g2, nt);
        const json_t *grads = json_object_get(mj, "grads");
        for (size_t i = 0; i < n; i++) {
            const json_t *r = json_object_get(grads, nt[i].name);
            if (json_array_size(r) != nt[i].n) continue; /* reported by check_grads */
            for (size_t j = 0; j < nt[i].n; j++) nt[i].p[j] = (float)num(r, j);
        }
        check_step(t, name, "ref-grads", &bt, doc, mj, g2, true);
        sa_train_acts_free(&a);
        sa_model_free(g2);
        sa_model_free(g);
        sa_model_free(m);
    }
    json_decref(doc);
}

static void test_train_step_matches_pytorch(sa_test *t) {
    batch bt;
    json_t *doc = load_ref(t, &bt);
    if (!doc) return;
    json_t *models = json_object_get(doc, "models");
    size_t mi;
    json_t *mj;
    int n_lora = 0;
    json_array_foreach(models, mi, mj) {
        const char *name = json_string_value(json_object_get(mj, "name"));
        sa_model *m = NULL, *g = NULL;
        sa_train_acts a = {0};
        sa_err e = {0};
        SA_CHECK_OK(t, build_model(t, doc, mj, &m, &e), &e);
        const json_t *lj = json_object_get(mj, "lora");
        sa_lora_config lc = {.rank = (int32_t)json_integer_value(json_object_get(lj, "rank")),
                             .alpha = (float)json_number_value(json_object_get(lj, "alpha")),
                             .dropout = 0.0f,
                             .targets = SA_LORA_TARGETS_ALL};
        if (m) SA_CHECK_OK(t, sa_model_alloc(&g, &m->cfg, &e), &e);
        if (g) SA_CHECK_OK(t, sa_train_acts_init(&a, &m->cfg, lj ? &lc : NULL, bt.B, bt.T, &e), &e);
        if (!a.x) {
            sa_model_free(g), sa_model_free(m);
            break;
        }
        sa_kernels k;
        sa_kernels_init(&k, 2);
        float loss = 0;
        int64_t nc = 0;
        sa_train_args args = {.tokens = bt.tokens, .targets = bt.targets, .mask = bt.mask, .backward = true,
                              .grads = g};
        SA_CHECK_OK(t, sa_model_train_step(m, &a, &k, &args, &loss, &nc, &e), &e);
        check_loss_logits(t, name, "train_step", mj, loss, nc, NULL, 0, 0);
        check_grads(t, name, "train_step", g, json_object_get(mj, "grads"));

        if (lj) {
            n_lora++;
            sa_lora ad = {0}, lg = {0};
            SA_CHECK_OK(t, sa_lora_init(&ad, &m->cfg, &lc, &e), &e);
            SA_CHECK_OK(t, sa_lora_init(&lg, &m->cfg, &lc, &e), &e);
            const json_t *adapters = json_object_get(lj, "adapters");
            SA_CHECK_EQ_INT(t, json_array_size(adapters), m->cfg.n_layers * SA_LORA_N_TARGETS);
            bool filled = ad.storage && lg.storage;
            size_t ai;
            json_t *aj;
            /* fill A and B with the reference's values (our row order = HF's) */
            json_array_foreach(adapters, ai, aj) {
                if (!filled) break;
                int32_t layer = (int32_t)json_integer_value(json_object_get(aj, "layer"));
                const char *tn = json_string_value(json_object_get(aj, "target"));
                int tg = -1;
                for (int x = 0; x < SA_LORA_N_TARGETS; x++)
                    if (tn && strcmp(tn, sa_lora_target_name((sa_lora_target)x)) == 0) tg = x;
                const sa_lora_pair *pr = tg >= 0 ? sa_lora_get(&ad, layer, (sa_lora_target)tg) : NULL;
                const json_t *ja = json_object_get(aj, "a"), *jb = json_object_get(aj, "b");
                size_t na = pr ? (size_t)lc.rank * (size_t)pr->in : 0, nb = pr ? (size_t)pr->out * (size_t)lc.rank : 0;
                if (!pr || json_array_size(ja) != na || json_array_size(jb) != nb) {
                    SA_CHECKF(t, false, "%s: LoRA layer %d target %s missing or of the wrong shape", name, layer,
                              tn ? tn : "?");
                    filled = false;
                    break;
                }
                for (size_t i = 0; i < na; i++) pr->a[i] = (float)num(ja, i);
                for (size_t i = 0; i < nb; i++) pr->b[i] = (float)num(jb, i);
            }
            if (filled) {
                sa_train_args la = {.tokens = bt.tokens, .targets = bt.targets, .mask = bt.mask, .backward = true,
                                    .grads = NULL, .lora = &ad, .lora_grads = &lg};
                SA_CHECK_OK(t, sa_model_train_step(m, &a, &k, &la, &loss, &nc, &e), &e);
                double ref_loss = json_number_value(json_object_get(lj, "loss"));
                SA_CHECKF(t, fabs(loss - ref_loss) <= 1e-5, "%s LoRA: loss %.8f, PyTorch %.8f", name, loss, ref_loss);
                double worst = 0;
                json_array_foreach(adapters, ai, aj) {
                    int32_t layer = (int32_t)json_integer_value(json_object_get(aj, "layer"));
                    const char *tn = json_string_value(json_object_get(aj, "target"));
                    int tg = -1;
                    for (int x = 0; x < SA_LORA_N_TARGETS; x++)
                        if (strcmp(tn, sa_lora_target_name((sa_lora_target)x)) == 0) tg = x;
                    const sa_lora_pair *gp = sa_lora_get(&lg, layer, (sa_lora_target)tg);
                    const char *keys[2] = {"grad_a", "grad_b"};
                    const float *ours[2] = {gp->a, gp->b};
                    size_t cnt[2] = {(size_t)lc.rank * (size_t)gp->in, (size_t)gp->out * (size_t)lc.rank};
                    for (int w = 0; w < 2; w++) {
                        const json_t *r = json_object_get(aj, keys[w]);
                        SA_REQUIRE(t, json_array_size(r) == cnt[w]);
                        double maxd, maxv;
                        diff_stats(ours[w], r, cnt[w], &maxd, &maxv);
                        SA_CHECKF(t, maxd <= 2e-5 * maxv, "%s LoRA layer %d %s %s differs by %g (max |g| %g)", name,
                                  layer, tn, keys[w], maxd, maxv);
                        worst = fmax(worst, maxv > 0 ? maxd / maxv : maxd);
                    }
                }
                fprintf(stderr, "  %-16s LoRA       loss %.7f (PyTorch %.7f), %zu A/B gradients, worst "
                                "max|diff|/max|g| %.2e\n",
                        name, loss, ref_loss, 2 * json_array_size(adapters), worst);
            }
            sa_lora_free(&lg);
            sa_lora_free(&ad);
        }
        sa_train_acts_free(&a);
        sa_model_free(g);
        sa_model_free(m);
    }
    SA_CHECK(t, n_lora == 1);
    json_decref(doc);
}

static const sa_test_def tests[] = {
    {"grads_and_step_match_pytorch", test_grads_and_step_match_pytorch},
    {"train_step_matches_pytorch", test_train_step_matches_pytorch},
};
SA_TEST_MAIN(tests)
