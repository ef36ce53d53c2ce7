/* test_model.c — the Llama forward pass on a real tiny model: greedy
 * generation from llama2.c's stories260K must reproduce llama2.c's own
 * output token for token; batched, chunked and reference-kernel runs must
 * agree with the plain one; bad inputs give clear errors. */
#include <math.h>
#include <stdlib.h>

#include "sa/alloc.h"
#include "sa/mmap.h"
#include "sa/model.h"
#include "sa_test.h"

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Expected ids: tests/data/stories260K_greedy.ids (see tests/data/README.md). */
static int32_t load_expected(sa_test *t, int32_t *ids, int32_t cap) {
    const char *root = getenv("SA_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/stories260K_greedy.ids", root ? root : ".");
    char *buf;
    size_t n;
    sa_err e = {0};
    if (sa_file_read_all(path, 1 << 20, &buf, &n, &e)) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
        return 0;
    }
    int32_t cnt = 0;
    char *p = buf, *end;
    while (cnt < cap) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[cnt++] = (int32_t)v;
        p = end;
    }
    free(buf);
    return cnt;
}

static void greedy(sa_test *t, const sa_model *m, const sa_kernels *k, int32_t *out, int32_t steps) {
    sa_model_state st;
    sa_kv_cache kv;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_model_state_init(&st, &m->cfg, 1, m->cfg.max_seq_len, &e), &e);
    SA_REQUIRE_OK(t, sa_kv_cache_init(&kv, &m->cfg, m->cfg.max_seq_len, &e), &e);
    int32_t tok = 1; /* BOS, as llama2.c starts an empty prompt */
    for (int32_t pos = 0; pos < steps; pos++) {
        const float *logits;
        if (sa_model_forward_seq(m, &st, k, &kv, &tok, 1, pos, &logits, &e)) {
            sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
            break;
        }
        tok = out[pos] = argmax(logits, m->cfg.vocab_size);
    }
    sa_kv_cache_free(&kv);
    sa_model_state_free(&st);
}

static void test_stories260k_greedy_matches_llama2c(sa_test *t) {
    const char *path = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!path) return;
    sa_model *m;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_model_load(&m, path, &e), &e);
    SA_CHECK_EQ_INT(t, m->cfg.dim, 64);
    SA_CHECK_EQ_INT(t, m->cfg.n_kv_heads, 4);
    SA_CHECK(t, m->cfg.tied_embeddings);
    int32_t expect[256], got[256];
    int32_t n = load_expected(t, expect, 256);
    SA_REQUIRE(t, n == 200);
    for (int threads = 1; threads <= 2; threads++) {
        sa_kernels k;
        sa_kernels_init(&k, threads);
        memset(got, 0, sizeof got);
        greedy(t, m, &k, got, n);
        int32_t first_diff = -1;
        for (int32_t i = 0; i < n && first_diff < 0; i++)
            if (got[i] != expect[i]) first_diff = i;
        SA_CHECKF(t, first_diff < 0, "%d threads: token %d differs: got %d, llama2.c %d", threads, first_diff,
                  first_diff >= 0 ? got[first_diff] : 0, first_diff >= 0 ? expect[first_diff] : 0);
    }
    /* the naive reference kernels agree on the first 60 tokens (drift in the
     * last bits may legitimately flip a near-tie later) */
    sa_kernels ref;
    sa_kernels_init(&ref, 1);
    ref.reference = true;
    greedy(t, m, &ref, got, 60);
    for (int32_t i = 0; i < 60; i++) SA_CHECKF(t, got[i] == expect[i], "reference kernels: token %d", i);
    sa_model_free(m);
}

/* Prefill of a prompt in one call, in chunks, and two sequences batched
 * together all give the logits of token-by-token decoding. */
static void test_batched_and_chunked_agree(sa_test *t) {
    const char *path = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!path) return;
    sa_model *m;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_model_load(&m, path, &e), &e);
    const int32_t V = m->cfg.vocab_size, N = 40;
    int32_t toks[2][40];
    for (int32_t i = 0; i < N; i++) {
        toks[0][i] = (int32_t)((i * 37 + 1) % V);
        toks[1][i] = (int32_t)((i * 91 + 7) % V);
    }
    sa_kernels k;
    sa_kernels_init(&k, 2);
    /* token by token */
    float *ref = sa_malloc_array((size_t)2 * N * V, sizeof(float));
    sa_model_state st1;
    SA_REQUIRE_OK(t, sa_model_state_init(&st1, &m->cfg, 1, 64, &e), &e);
    for (int s = 0; s < 2; s++) {
        sa_kv_cache kv;
        SA_REQUIRE_OK(t, sa_kv_cache_init(&kv, &m->cfg, 64, &e), &e);
        for (int32_t i = 0; i < N; i++) {
            const float *lg;
            SA_REQUIRE_OK(t, sa_model_forward_seq(m, &st1, &k, &kv, &toks[s][i], 1, i, &lg, &e), &e);
            memcpy(ref + ((size_t)s * N + i) * V, lg, (size_t)V * sizeof(float));
        }
        sa_kv_cache_free(&kv);
    }
    sa_model_state_free(&st1);
    /* both sequences in one batch, rows of sequence 0 then sequence 1, all logits */
    sa_model_state st;
    SA_REQUIRE_OK(t, sa_model_state_init(&st, &m->cfg, 2 * N, 64, &e), &e);
    sa_kv_cache kv[2];
    SA_REQUIRE_OK(t, sa_kv_cache_init(&kv[0], &m->cfg, 64, &e), &e);
    SA_REQUIRE_OK(t, sa_kv_cache_init(&kv[1], &m->cfg, 64, &e), &e);
    sa_batch_row rows[80];
    for (int s = 0; s < 2; s++)
        for (int32_t i = 0; i < N; i++) rows[s * N + i] = (sa_batch_row){toks[s][i], i, &kv[s], true, false};
    SA_REQUIRE_OK(t, sa_model_forward(m, &st, &k, rows, 2 * N, &e), &e);
    double maxd = 0;
    for (size_t i = 0; i < (size_t)2 * N * V; i++) maxd = fmax(maxd, fabs((double)st.logits[i] - ref[i]));
    /* the same math in a different summation order (GEMM vs GEMV): fp32 noise only */
    SA_CHECKF(t, maxd < 1e-4, "batched prefill differs from decode by %g", maxd);
    /* decode step for both sequences at once after a chunked prefill of 33 tokens */
    sa_model_state st8;
    SA_REQUIRE_OK(t, sa_model_state_init(&st8, &m->cfg, 8, 64, &e), &e);
    for (int s = 0; s < 2; s++) SA_REQUIRE_OK(t, sa_model_forward_seq(m, &st8, &k, &kv[s], toks[s], 33, 0, NULL, &e), &e);
    sa_batch_row step[2] = {{toks[0][33], 33, &kv[0], true, false}, {toks[1][33], 33, &kv[1], true, false}};
    SA_REQUIRE_OK(t, sa_model_forward(m, &st8, &k, step, 2, &e), &e);
    maxd = 0;
    for (int s = 0; s < 2; s++)
        for (int32_t v = 0; v < V; v++)
            maxd = fmax(maxd, fabs((double)st8.logits[(size_t)s * V + v] - ref[((size_t)s * N + 33) * V + v]));
    SA_CHECKF(t, maxd < 1e-4, "batched decode after chunked prefill differs by %g", maxd);
    /* bad rows */
    sa_batch_row bad = {V, 0, &kv[0], true, false};
    SA_CHECK_EQ_INT(t, sa_model_forward(m, &st8, &k, &bad, 1, &e), SA_ERR_RANGE);
    SA_CHECK(t, strstr(e.msg, "outside the vocabulary") != NULL);
    bad = (sa_batch_row){1, 64, &kv[0], true, false};
    SA_CHECK_EQ_INT(t, sa_model_forward(m, &st8, &k, &bad, 1, &e), SA_ERR_RANGE);
    sa_kv_cache_free(&kv[0]);
    sa_kv_cache_free(&kv[1]);
    sa_model_state_free(&st);
    sa_model_state_free(&st8);
    free(ref);
    sa_model_free(m);
}

static void test_bad_models(sa_test *t) {
    sa_err e = {0};
    sa_model *m = NULL;
    /* unknown architecture in config.json */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", sa_test_tmpdir(t));
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    const char *gpt = "{\"architectures\":[\"GPTNeoXForCausalLM\"],\"hidden_size\":8}";
    SA_REQUIRE(t, sa_test_write_file(t, cfg, gpt, strlen(gpt)));
    SA_CHECK_EQ_INT(t, sa_model_load(&m, dir, &e), SA_ERR_UNSUPPORTED);
    SA_CHECK(t, strstr(e.msg, "GPTNeoXForCausalLM") != NULL);
    /* heads that do not divide */
    const char *odd = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
                      "\"num_hidden_layers\":2,\"num_attention_heads\":6,\"num_key_value_heads\":4,\"vocab_size\":10}";
    SA_REQUIRE(t, sa_test_write_file(t, cfg, odd, strlen(odd)));
    SA_CHECK_EQ_INT(t, sa_model_load(&m, dir, &e), SA_ERR_FORMAT);
    SA_CHECK(t, strstr(e.msg, "not a multiple") != NULL);
    /* truncated llama2.c checkpoint */
    const char *path = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!path) return;
    sa_mmap mm;
    SA_REQUIRE_OK(t, sa_mmap_open(&mm, path, &e), &e);
    const char *trunc = sa_test_tmpfile(t, "trunc.bin");
    char tp[1024];
    snprintf(tp, sizeof tp, "%s", trunc);
    SA_REQUIRE(t, sa_test_write_file(t, tp, mm.data, mm.size - 100));
    sa_mmap_close(&mm);
    SA_CHECK(t, sa_model_load(&m, tp, &e) != SA_OK);
    SA_CHECK(t, strstr(e.msg, "trunc.bin") != NULL);
    SA_CHECK(t, m == NULL);
}

static const sa_test_def tests[] = {
    {"stories260k_greedy_matches_llama2c", test_stories260k_greedy_matches_llama2c},
    {"batched_and_chunked_agree", test_batched_and_chunked_agree},
    {"bad_models", test_bad_models},
};
SA_TEST_MAIN(tests)
