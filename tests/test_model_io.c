/* test_model_io.c — a model written as an HF directory, GGUF or llama2.c
 * checkpoint reloads to the same logits (exactly for fp32, within the
 * quantisation error for BF16 and Q8_0), across rotary layouts, for
 * GQA/MHA, q/k/v bias and tied/untied embeddings; corrupt or mismatched
 * model files give clear errors. */
#include <math.h>
#include <stdlib.h>

#include "sa/alloc.h"
#include "sa/model.h"
#include "sa_test.h"

/* Logits of a fixed 12-token sequence at every position. */
static float *logits_of(sa_test *t, const sa_model *m) {
    sa_err e = {0};
    sa_model_state st;
    sa_kv_cache kv;
    const int32_t N = 12, V = m->cfg.vocab_size;
    if (sa_model_state_init(&st, &m->cfg, N, 32, &e) || sa_kv_cache_init(&kv, &m->cfg, 32, &e)) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
        return NULL;
    }
    sa_batch_row rows[12];
    for (int32_t i = 0; i < N; i++) rows[i] = (sa_batch_row){(i * 7 + 3) % V, i, &kv, true, false};
    sa_kernels k;
    sa_kernels_init(&k, 1);
    float *out = NULL;
    if (sa_model_forward(m, &st, &k, rows, N, &e)) sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
    else out = sa_memdup(st.logits, (size_t)N * V * sizeof(float));
    sa_kv_cache_free(&kv);
    sa_model_state_free(&st);
    return out;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static sa_model_config tiny(sa_arch arch, int heads, int kv, bool tied, bool bias) {
    sa_model_config c = {0};
    c.arch = arch;
    c.dim = 64;
    c.hidden_dim = 96;
    c.n_layers = 2;
    c.n_heads = heads;
    c.n_kv_heads = kv;
    c.head_dim = 64 / heads;
    c.vocab_size = 70;
    c.max_seq_len = 64;
    c.rope_theta = 10000.0f;
    c.norm_eps = 1e-5f;
    c.tied_embeddings = tied;
    c.qkv_bias = bias;
    c.rope_layout = SA_ROPE_LAYOUT_NEOX;
    c.bos_id = 1;
    c.eos_id = 2;
    return c;
}

static void roundtrip_all(sa_test *t, const sa_model_config *cfg, const char *tag) {
    sa_err e = {0};
    sa_model *m;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, cfg, &e), &e);
    sa_model_randomize(m, 42, 0.08f);
    float *ref = logits_of(t, m);
    SA_REQUIRE(t, ref != NULL);
    size_t n = (size_t)12 * cfg->vocab_size;
    char path[1024];
    struct { const char *suffix; int kind; sa_dtype dt; double tol; } outs[] = {
        {"hf", 0, SA_DTYPE_F32, 0.0},
        {"hf16", 0, SA_DTYPE_BF16, 0.15}, /* bf16 keeps 8 bits: logits move by a few 1e-2 */
        {"f32.gguf", 1, SA_DTYPE_F32, 0.0},
        {"q8.gguf", 1, SA_DTYPE_Q8_0, 0.05},
        {"l2c.bin", 2, SA_DTYPE_F32, 0.0},
    };
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        bool l2c_ok = cfg->arch == SA_ARCH_LLAMA && !cfg->qkv_bias;
        snprintf(path, sizeof path, "%s/%s-%s", sa_test_tmpdir(t), tag, outs[i].suffix);
        sa_status s = outs[i].kind == 0 ? sa_model_save_hf(m, path, outs[i].dt, &e)
                      : outs[i].kind == 1 ? sa_model_save_gguf(m, path, outs[i].dt, NULL, &e)
                                          : sa_model_save_llama2c(m, path, &e);
        if (outs[i].kind == 2 && !l2c_ok) {
            SA_CHECKF(t, s == SA_ERR_UNSUPPORTED, "%s: llama2.c export of %s should be refused", tag, sa_arch_name(cfg->arch));
            continue;
        }
        SA_CHECKF(t, s == SA_OK, "%s %s: save: %s", tag, outs[i].suffix, e.msg);
        if (s) continue;
        sa_model *r;
        s = sa_model_load(&r, path, &e);
        SA_CHECKF(t, s == SA_OK, "%s %s: load: %s", tag, outs[i].suffix, e.msg);
        if (s) continue;
        SA_CHECK_EQ_INT(t, r->cfg.qkv_bias, cfg->qkv_bias);
        SA_CHECK_EQ_INT(t, r->cfg.n_kv_heads, cfg->n_kv_heads);
        SA_CHECK_EQ_INT(t, r->cfg.tied_embeddings, cfg->tied_embeddings);
        float *got = logits_of(t, r);
        if (got) {
            double d = max_diff(ref, got, n);
            /* fp32 exports must give the same logits up to the summation order
             * of the rotary pairing (the permutation reorders nothing in the dot
             * products, so 1e-5 is generous) */
            double tol = outs[i].tol > 0 ? outs[i].tol : 1e-5;
            SA_CHECKF(t, d <= tol, "%s %s: logits differ by %g (tolerance %g)", tag, outs[i].suffix, d, tol);
        }
        free(got);
        sa_model_free(r);
    }
    free(ref);
    sa_model_free(m);
}

static void test_roundtrips(sa_test *t) {
    sa_model_config c = tiny(SA_ARCH_LLAMA, 4, 2, false, false); /* GQA, untied */
    roundtrip_all(t, &c, "llama-gqa");
    c = tiny(SA_ARCH_LLAMA, 4, 4, true, false); /* MHA, tied */
    roundtrip_all(t, &c, "llama-mha-tied");
    c = tiny(SA_ARCH_QWEN2, 4, 1, true, true); /* MQA, bias, tied */
    roundtrip_all(t, &c, "qwen2");
    c = tiny(SA_ARCH_LLAMA, 2, 1, false, false);
    c.rope_layout = SA_ROPE_LAYOUT_NORM; /* a llama2.c-style model exported to HF */
    roundtrip_all(t, &c, "llama-norm");
}

static void test_real_checkpoint_roundtrip(sa_test *t) {
    const char *p = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!p) return;
    sa_err e = {0};
    sa_model *m;
    SA_REQUIRE_OK(t, sa_model_load(&m, p, &e), &e);
    float *ref = logits_of(t, m);
    char path[1024];
    snprintf(path, sizeof path, "%s/stories-hf", sa_test_tmpdir(t));
    SA_REQUIRE_OK(t, sa_model_save_hf(m, path, SA_DTYPE_F32, &e), &e);
    sa_model *r;
    SA_REQUIRE_OK(t, sa_model_load(&r, path, &e), &e);
    float *got = logits_of(t, r);
    SA_CHECK(t, r->cfg.rope_layout == SA_ROPE_LAYOUT_NEOX);
    SA_CHECKF(t, ref && got && max_diff(ref, got, (size_t)12 * 512) <= 1e-5, "HF export of stories260K changes logits");
    free(got);
    sa_model_free(r);
    free(ref);
    sa_model_free(m);
}

static void test_mismatched_files(sa_test *t) {
    sa_err e = {0};
    sa_model_config c = tiny(SA_ARCH_LLAMA, 4, 2, false, false);
    sa_model *m;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    char dir[1024], cfgp[1100];
    snprintf(dir, sizeof dir, "%s/mismatch", sa_test_tmpdir(t));
    SA_REQUIRE_OK(t, sa_model_save_hf(m, dir, SA_DTYPE_F32, &e), &e);
    sa_model_free(m);
    /* config says more layers than the weights have: missing tensor */
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    const char *more = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":96,"
                       "\"num_hidden_layers\":3,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":70}";
    SA_REQUIRE(t, sa_test_write_file(t, cfgp, more, strlen(more)));
    SA_CHECK_EQ_INT(t, sa_model_load(&m, dir, &e), SA_ERR_NOT_FOUND);
    SA_CHECK(t, strstr(e.msg, "model.layers.2.") != NULL);
    /* a wrong width: shape mismatch names the tensor and both shapes */
    const char *wide = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
                       "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":70}";
    SA_REQUIRE(t, sa_test_write_file(t, cfgp, wide, strlen(wide)));
    SA_CHECK_EQ_INT(t, sa_model_load(&m, dir, &e), SA_ERR_FORMAT);
    SA_CHECK(t, strstr(e.msg, "[96, 64], expected [128, 64]") != NULL);
    /* not JSON */
    SA_REQUIRE(t, sa_test_write_file(t, cfgp, "{oops", 5));
    SA_CHECK_EQ_INT(t, sa_model_load(&m, dir, &e), SA_ERR_FORMAT);
    SA_CHECK(t, strstr(e.msg, "config.json") != NULL);
}

static const sa_test_def tests[] = {
    {"roundtrips", test_roundtrips},
    {"real_checkpoint_roundtrip", test_real_checkpoint_roundtrip},
    {"mismatched_files", test_mismatched_files},
};
SA_TEST_MAIN(tests)
