/* test_engine.c — the local engine on the real stories260K model: greedy
 * output equals llama2.c's; a request's output does not depend on what it
 * is batched with, on the shared-prefix cache or on the thread count;
 * seeded sampling repeats; stop strings, max tokens, the allowed-token
 * constraint and errors behave; scores equal a direct forward pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/engine.h"
#include "sa/mmap.h"
#include "sa/strbuf.h"
#include "sa_test.h"

typedef struct collected {
    int n;
    uint64_t ids[64];
    char *text[64];
    int32_t *toks[64];
    int32_t ntok[64];
    sa_finish_reason finish[64];
    int32_t cached[64];
} collected;

static sa_status collect(void *ctx, const sa_gen_result *r) {
    collected *c = ctx;
    int i = c->n++;
    c->ids[i] = r->id;
    c->text[i] = sa_strdup(r->text);
    c->toks[i] = sa_memdup(r->tokens, (size_t)r->n_tokens * sizeof(int32_t));
    c->ntok[i] = r->n_tokens;
    c->finish[i] = r->finish;
    c->cached[i] = r->n_cached_tokens;
    return SA_OK;
}

static void collected_free(collected *c) {
    for (int i = 0; i < c->n; i++) {
        free(c->text[i]);
        free(c->toks[i]);
    }
    c->n = 0;
}

static int find_id(const collected *c, uint64_t id) {
    for (int i = 0; i < c->n; i++)
        if (c->ids[i] == id) return i;
    return -1;
}

typedef struct fixture {
    sa_model *m;
    sa_tokenizer *tok;
} fixture;

static bool load(sa_test *t, fixture *f) {
    sa_err e = {0};
    const char *mp = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!mp) return false;
    char mpath[1024];
    snprintf(mpath, sizeof mpath, "%s", mp);
    const char *tp = sa_test_data(t, "models/llama2c-stories260K/tok512.bin");
    if (!tp) return false;
    if (sa_model_load(&f->m, mpath, &e) || sa_tokenizer_load(&f->tok, tp, &e)) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
        return false;
    }
    return true;
}

static void unload(fixture *f) {
    sa_model_free(f->m);
    sa_tokenizer_free(f->tok);
}

static void test_greedy_equals_llama2c(sa_test *t) {
    fixture f;
    if (!load(t, &f)) return;
    sa_engine *e;
    sa_err err = {0};
    sa_engine_local_opts o = sa_engine_local_defaults();
    o.n_threads = 2;
    SA_REQUIRE_OK(t, sa_engine_local_new(&e, f.m, f.tok, &o, &err), &err);
    sa_gen_request r = sa_gen_request_default();
    r.id = 1;
    r.prompt = "";
    r.max_tokens = 200;
    r.sampling = sa_sampling_greedy();
    collected c = {0};
    SA_REQUIRE_OK(t, sa_engine_generate(e, &r, 1, collect, &c, &err), &err);
    SA_REQUIRE(t, c.n == 1);
    const char *root = getenv("SA_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/stories260K_greedy.txt", root ? root : ".");
    char *want;
    size_t wn;
    SA_REQUIRE_OK(t, sa_file_read_all(path, 1 << 20, &want, &wn, &err), &err);
    if (wn && want[wn - 1] == '\n') want[--wn] = '\0'; /* run.c prints a final newline */
    SA_CHECKF(t, strcmp(c.text[0], want) == 0, "text differs:\n got: %.120s\nwant: %.120s", c.text[0], want);
    SA_CHECK_EQ_INT(t, c.ntok[0], 200);
    SA_CHECK_EQ_INT(t, c.finish[0], SA_FINISH_LENGTH);
    free(want);
    collected_free(&c);
    sa_engine_free(e);
    unload(&f);
}

/* 32 requests: prompts sharing a long prefix plus distinct ones, greedy and
 * seeded-sampled; each must produce exactly what it produces alone. */
static void test_batch_invariance(sa_test *t) {
    fixture f;
    if (!load(t, &f)) return;
    sa_err err = {0};
    enum { N = 32 };
    char prompts[N][512];
    sa_gen_request reqs[N];
    /* longer than one SA_ENGINE_SCORE_BLOCK (64 tokens): only whole blocks are reused */
    const char *shared = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
                         "Her friend Tom had a big red ball and a small dog. Every day they ran to the tree by the "
                         "pond and looked at the fish. The sun was warm and the birds sang in the sky. ";
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0) snprintf(prompts[i], sizeof prompts[i], "%sOne day, %s", shared, i % 4 ? "she saw" : "a dog");
        else snprintf(prompts[i], sizeof prompts[i], "Tom had %d red %s.", i, i % 3 ? "balls" : "cars");
        reqs[i] = sa_gen_request_default();
        reqs[i].id = 1000 + (uint64_t)i;
        reqs[i].prompt = prompts[i];
        reqs[i].max_tokens = 24 + i % 7;
        reqs[i].seed = 99;
        if (i % 3 == 0) reqs[i].sampling = sa_sampling_greedy();
    }
    /* alone: one slot, no prefix cache, 1 thread */
    collected alone = {0};
    sa_engine_local_opts o1 = sa_engine_local_defaults();
    o1.n_slots = 1;
    o1.n_threads = 1;
    o1.prefix_cache_entries = 0;
    sa_engine *e1;
    SA_REQUIRE_OK(t, sa_engine_local_new(&e1, f.m, f.tok, &o1, &err), &err);
    for (int i = 0; i < N; i++) SA_REQUIRE_OK(t, sa_engine_generate(e1, &reqs[i], 1, collect, &alone, &err), &err);
    sa_engine_free(e1);
    /* together: 32 slots, prefix cache, 2 threads; and 5 slots (continuous batching) */
    /* 24 slots: decode steps of more than SA_SMALL_M rows, which sgemm would round differently */
    int configs[3][3] = {{32, 4, 2}, {5, 2, 1}, {24, 4, 1}};
    for (int cfg = 0; cfg < 3; cfg++) {
        sa_engine_local_opts o = sa_engine_local_defaults();
        o.n_slots = configs[cfg][0];
        o.prefix_cache_entries = configs[cfg][1];
        o.n_threads = configs[cfg][2];
        o.min_prefix_tokens = 8;
        o.prefill_chunk = 64;
        sa_engine *e;
        SA_REQUIRE_OK(t, sa_engine_local_new(&e, f.m, f.tok, &o, &err), &err);
        collected all = {0};
        SA_REQUIRE_OK(t, sa_engine_generate(e, reqs, N, collect, &all, &err), &err);
        SA_CHECK_EQ_INT(t, all.n, N);
        int reused = 0;
        for (int i = 0; i < N; i++) {
            int a = find_id(&alone, reqs[i].id), b = find_id(&all, reqs[i].id);
            SA_REQUIRE(t, a >= 0 && b >= 0);
            SA_CHECKF(t, alone.ntok[a] == all.ntok[b] && memcmp(alone.toks[a], all.toks[b], (size_t)all.ntok[b] * 4) == 0,
                      "config %d request %d: batched output differs from alone\n alone: %s\n batch: %s", cfg, i,
                      alone.text[a], all.text[b]);
            reused += all.cached[b] > 0;
        }
        SA_CHECKF(t, reused >= 8, "config %d: only %d requests reused a cached prefix", cfg, reused);
        sa_engine_stats st;
        sa_engine_get_stats(e, &st);
        SA_CHECK(t, st.cached_tokens > 0 && st.requests == N);
        collected_free(&all);
        sa_engine_free(e);
    }
    /* seeded sampling repeats run to run; another seed changes it */
    for (int i = 1; i < N; i += 3) SA_CHECK(t, reqs[i].sampling.temperature > 0);
    sa_engine_local_opts o = sa_engine_local_defaults();
    sa_engine *e;
    SA_REQUIRE_OK(t, sa_engine_local_new(&e, f.m, f.tok, &o, &err), &err);
    collected again = {0}, other = {0};
    SA_REQUIRE_OK(t, sa_engine_generate(e, &reqs[1], 1, collect, &again, &err), &err);
    sa_gen_request r2 = reqs[1];
    r2.seed = 100;
    SA_REQUIRE_OK(t, sa_engine_generate(e, &r2, 1, collect, &other, &err), &err);
    int a = find_id(&alone, reqs[1].id);
    SA_CHECK(t, strcmp(again.text[0], alone.text[a]) == 0);
    SA_CHECK(t, strcmp(other.text[0], alone.text[a]) != 0);
    collected_free(&again);
    collected_free(&other);
    sa_engine_free(e);
    collected_free(&alone);
    unload(&f);
}

static void test_stops_limits_constraints(sa_test *t) {
    fixture f;
    if (!load(t, &f)) return;
    sa_err err = {0};
    sa_engine *e;
    SA_REQUIRE_OK(t, sa_engine_local_new(&e, f.m, f.tok, NULL, &err), &err);
    /* the greedy story contains "park." early: stop there */
    const char *stops[2] = {"zzz", " park"};
    sa_gen_request r = sa_gen_request_default();
    r.prompt = "";
    r.sampling = sa_sampling_greedy();
    r.stop = stops;
    r.n_stop = 2;
    r.max_tokens = 100;
    collected c = {0};
    SA_REQUIRE_OK(t, sa_engine_generate(e, &r, 1, collect, &c, &err), &err);
    SA_CHECK_EQ_INT(t, c.finish[0], SA_FINISH_STOP);
    SA_CHECK_STR(t, c.text[0], "Once upon a time, there was a little girl named Lily. She loved to play outside in the");
    collected_free(&c);
    /* max tokens */
    r.n_stop = 0;
    r.max_tokens = 3;
    SA_REQUIRE_OK(t, sa_engine_generate(e, &r, 1, collect, &c, &err), &err);
    SA_CHECK(t, c.finish[0] == SA_FINISH_LENGTH && c.ntok[0] == 3);
    collected_free(&c);
    /* allowed tokens force the first one */
    sa_tokens tt = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_encode(f.tok, "Tom", 3, 0, &tt, &err), &err);
    int32_t allowed[2] = {tt.ids[0], -5};
    sa_tokens_free(&tt);
    r.allowed_first = allowed;
    r.n_allowed_first = 2;
    SA_REQUIRE_OK(t, sa_engine_generate(e, &r, 1, collect, &c, &err), &err);
    SA_CHECK(t, c.ntok[0] == 3 && c.toks[0][0] == allowed[0]);
    collected_free(&c);
    /* a prompt longer than the context fails alone; the next request still runs */
    sa_strbuf big = {0};
    for (int i = 0; i < 400; i++) sa_strbuf_puts(&big, "Lily and Tom played. ");
    sa_gen_request two[2] = {sa_gen_request_default(), sa_gen_request_default()};
    two[0].id = 1;
    two[0].prompt = sa_strbuf_cstr(&big);
    two[1].id = 2;
    two[1].prompt = "Tom";
    two[1].max_tokens = 4;
    SA_REQUIRE_OK(t, sa_engine_generate(e, two, 2, collect, &c, &err), &err);
    SA_CHECK_EQ_INT(t, c.n, 2);
    int i1 = find_id(&c, 1), i2 = find_id(&c, 2);
    SA_CHECK(t, i1 >= 0 && c.finish[i1] == SA_FINISH_ERROR);
    SA_CHECK(t, i2 >= 0 && c.finish[i2] == SA_FINISH_LENGTH);
    sa_strbuf_free(&big);
    collected_free(&c);
    /* invalid sampling parameters are a per-request error */
    sa_gen_request bad = sa_gen_request_default();
    bad.prompt = "x";
    bad.sampling.top_p = 2;
    SA_REQUIRE_OK(t, sa_engine_generate(e, &bad, 1, collect, &c, &err), &err);
    SA_CHECK(t, c.finish[0] == SA_FINISH_ERROR);
    collected_free(&c);
    sa_engine_free(e);
    unload(&f);
}

/* Scores must equal log-softmax values from a direct forward pass. */
static void test_score_and_probs(sa_test *t) {
    fixture f;
    if (!load(t, &f)) return;
    sa_err err = {0};
    sa_engine *e;
    sa_engine_local_opts o = sa_engine_local_defaults();
    o.min_prefix_tokens = 4;
    SA_REQUIRE_OK(t, sa_engine_local_new(&e, f.m, f.tok, &o, &err), &err);
    const char *prompt = "Once upon a time, there was a little girl named Lily.";
    const char *cont = " She loved to play.";
    sa_score_request rq[2] = {{.id = 1, .prompt = prompt, .continuation = cont, .add_bos = true},
                              {.id = 2, .prompt = prompt, .continuation = cont, .add_bos = true}};
    sa_score_result res[2];
    SA_REQUIRE_OK(t, sa_engine_score(e, rq, 2, res, &err), &err);
    SA_REQUIRE(t, res[0].status == SA_OK && res[1].status == SA_OK);
    /* the second pass reuses the cached prompt: identical up to fp32 summation noise */
    SA_CHECKF(t, fabs(res[0].logprob_sum - res[1].logprob_sum) < 1e-4, "%g vs %g", res[0].logprob_sum, res[1].logprob_sum);
    /* direct: tokens of prompt (with BOS) then continuation, token-by-token forward */
    /* the continuation's tokens are those of the joined text after the prompt's */
    sa_tokens a = {0}, w = {0}, b = {0};
    char joined[256];
    snprintf(joined, sizeof joined, "%s%s", prompt, cont);
    SA_REQUIRE_OK(t, sa_tokenizer_encode(f.tok, prompt, strlen(prompt), SA_ENCODE_BOS, &a, &err), &err);
    SA_REQUIRE_OK(t, sa_tokenizer_encode(f.tok, joined, strlen(joined), SA_ENCODE_BOS, &w, &err), &err);
    SA_REQUIRE(t, w.n > a.n && memcmp(w.ids, a.ids, a.n * sizeof(int32_t)) == 0);
    for (size_t i = a.n; i < w.n; i++) sa_tokens_push(&b, w.ids[i]);
    sa_tokens_free(&w);
    SA_CHECK_EQ_INT(t, res[0].n_tokens, (int)b.n);
    sa_model_state st;
    sa_kv_cache kv;
    SA_REQUIRE_OK(t, sa_model_state_init(&st, &f.m->cfg, 1, 512, &err), &err);
    SA_REQUIRE_OK(t, sa_kv_cache_init(&kv, &f.m->cfg, 512, &err), &err);
    sa_kernels k;
    sa_kernels_init(&k, 1);
    k.reference = true;
    double sum = 0;
    int32_t pos = 0;
    const float *lg = NULL;
    for (size_t i = 0; i < a.n; i++, pos++) SA_REQUIRE_OK(t, sa_model_forward_seq(f.m, &st, &k, &kv, &a.ids[i], 1, pos, &lg, &err), &err);
    for (size_t j = 0; j < b.n; j++, pos++) {
        double mx = lg[0], z = 0;
        for (int v = 1; v < f.m->cfg.vocab_size; v++) mx = fmax(mx, lg[v]);
        for (int v = 0; v < f.m->cfg.vocab_size; v++) z += exp(lg[v] - mx);
        double lp = lg[b.ids[j]] - mx - log(z);
        SA_CHECKF(t, fabs(lp - res[0].token_logprobs[j]) < 1e-3, "token %zu: %g vs %g", j, lp, res[0].token_logprobs[j]);
        sum += lp;
        SA_REQUIRE_OK(t, sa_model_forward_seq(f.m, &st, &k, &kv, &b.ids[j], 1, pos, &lg, &err), &err);
    }
    SA_CHECKF(t, fabs(sum - res[0].logprob_sum) < 1e-3, "sum %g vs %g", sum, res[0].logprob_sum);
    /* next-token probabilities after the prompt+continuation prefix */
    int32_t cands[3] = {b.ids[0], b.ids[0] == 5 ? 6 : 5, 0};
    float probs[3];
    SA_REQUIRE_OK(t, sa_engine_next_token_probs(e, prompt, false, true, cands, 3, probs, &err), &err);
    double p0 = exp(res[0].token_logprobs[0]);
    SA_CHECKF(t, fabs(probs[0] - p0) < 1e-4 * (1 + p0 * 100), "p(first token) %g vs %g", probs[0], p0);
    SA_CHECK(t, probs[0] + probs[1] + probs[2] <= 1.0001f && probs[1] > 0);
    /* the token asked for needs a place in the context, as for generate and on a server */
    int32_t ctx = sa_engine_max_context(e), *full = calloc((size_t)ctx, sizeof *full);
    SA_REQUIRE(t, ctx == 512 && full);
    for (int32_t i = 0; i < ctx; i++) full[i] = 1 + i % 100;
    SA_CHECK_OK(t, sa_engine_next_token_probs_tokens(e, full, ctx - 1, cands, 3, probs, &err), &err);
    SA_CHECK_EQ_INT(t, sa_engine_next_token_probs_tokens(e, full, ctx, cands, 3, probs, &err), SA_ERR_RANGE);
    SA_CHECKF(t, strstr(err.msg, "512 tokens leaves no room") != NULL, "message: %s", err.msg);
    free(full);
    sa_tokens_free(&a);
    sa_tokens_free(&b);
    sa_kv_cache_free(&kv);
    sa_model_state_free(&st);
    for (int i = 0; i < 2; i++) sa_score_result_free(&res[i]);
    sa_engine_free(e);
    unload(&f);
}

/* A model whose vocabulary is padded beyond the tokenizer's (as Qwen2.5's
 * is) never samples a padding id, even when those rows have the largest
 * logits: here every real row of the output matrix is zero and the padding
 * rows are random, so without the mask greedy decoding would pick one. */
static void test_padded_vocab_masked(sa_test *t) {
    fixture f;
    if (!load(t, &f)) return;
    sa_err err = {0};
    sa_model_config cfg = f.m->cfg;
    int32_t real = sa_tokenizer_vocab_size(f.tok);
    cfg.vocab_size = real + 8;
    cfg.tied_embeddings = false;
    sa_model *pm = NULL;
    SA_REQUIRE_OK(t, sa_model_alloc(&pm, &cfg, &err), &err);
    sa_model_randomize(pm, 7, 0.5f);
    memset(pm->w.output, 0, (size_t)real * (size_t)cfg.dim * sizeof(float));
    sa_engine *e;
    SA_REQUIRE_OK(t, sa_engine_local_new(&e, pm, f.tok, NULL, &err), &err);
    sa_gen_request r[2] = {sa_gen_request_default(), sa_gen_request_default()};
    r[0].id = 1;
    r[0].prompt = "Once upon a time";
    r[0].sampling = sa_sampling_greedy();
    r[0].max_tokens = 12;
    r[1] = r[0];
    r[1].id = 2;
    r[1].sampling.temperature = 1.0f;
    r[1].seed = 3;
    collected c = {0};
    SA_REQUIRE_OK(t, sa_engine_generate(e, r, 2, collect, &c, &err), &err);
    SA_CHECK_EQ_INT(t, c.n, 2);
    for (int i = 0; i < c.n; i++) {
        SA_CHECKF(t, c.finish[i] != SA_FINISH_ERROR, "request %d failed", i);
        for (int32_t k = 0; k < c.ntok[i]; k++) SA_CHECKF(t, c.toks[i][k] < real, "sampled padding id %d", c.toks[i][k]);
    }
    collected_free(&c);
    sa_engine_free(e);
    sa_model_free(pm);
    unload(&f);
}

/* The same with a random model whose next-token distribution is nearly
 * flat: with top-p, sampling sorts tokens by probability, so the last bit
 * of any logit reorders them and changes the token drawn. Any dependence
 * of a row's bits on what shares its forward call (sgemm vs per-row
 * kernels, how a prompt is split, a reused prefix) shows up here. */
static void test_batch_invariance_bits(sa_test *t) {
    fixture f;
    if (!load(t, &f)) return;
    sa_err err = {0};
    sa_model *rm = NULL;
    sa_model_config cfg = f.m->cfg;
    SA_REQUIRE_OK(t, sa_model_alloc(&rm, &cfg, &err), &err);
    sa_model_randomize(rm, 11, 0.02f);
    enum { N = 32 };
    char prompts[N][512];
    sa_gen_request reqs[N];
    for (int i = 0; i < N; i++) {
        snprintf(prompts[i], sizeof prompts[i],
                 "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. Her "
                 "friend Tom had a big red ball and a small dog. Every day they ran to the tree by the pond. %d %s",
                 i, i % 2 ? "Then" : "One day she saw");
        reqs[i] = sa_gen_request_default();
        reqs[i].id = 500 + (uint64_t)i;
        reqs[i].prompt = prompts[i];
        reqs[i].max_tokens = 64;
        reqs[i].seed = 3;
        reqs[i].sampling.temperature = 1.0f;
        reqs[i].sampling.top_p = 0.9f;
    }
    collected alone = {0};
    sa_engine_local_opts o1 = sa_engine_local_defaults();
    o1.n_slots = 1;
    o1.n_threads = 1;
    o1.prefix_cache_entries = 0;
    sa_engine *e1;
    SA_REQUIRE_OK(t, sa_engine_local_new(&e1, rm, f.tok, &o1, &err), &err);
    for (int i = 0; i < N; i++) SA_REQUIRE_OK(t, sa_engine_generate(e1, &reqs[i], 1, collect, &alone, &err), &err);
    sa_engine_free(e1);
    int configs[3][2] = {{32, 4}, {5, 2}, {2, 1}}; /* slots, cache entries */
    for (int c = 0; c < 3; c++) {
        sa_engine_local_opts o = sa_engine_local_defaults();
        o.n_slots = configs[c][0];
        o.prefix_cache_entries = configs[c][1];
        o.n_threads = 1;
        sa_engine *e;
        SA_REQUIRE_OK(t, sa_engine_local_new(&e, rm, f.tok, &o, &err), &err);
        collected all = {0};
        SA_REQUIRE_OK(t, sa_engine_generate(e, reqs, N, collect, &all, &err), &err);
        int same = 0, reused = 0;
        for (int i = 0; i < N; i++) {
            int a = find_id(&alone, reqs[i].id), b = find_id(&all, reqs[i].id);
            SA_REQUIRE(t, a >= 0 && b >= 0);
            same += alone.ntok[a] == all.ntok[b] && memcmp(alone.toks[a], all.toks[b], (size_t)all.ntok[b] * 4) == 0;
            reused += all.cached[b] > 0;
        }
        SA_CHECKF(t, same == N, "config %d: %d of %d sampled outputs equal their run alone", c, same, N);
        SA_CHECKF(t, reused >= N / 2, "config %d: only %d requests reused a cached prefix", c, reused);
        collected_free(&all);
        sa_engine_free(e);
    }
    collected_free(&alone);
    sa_model_free(rm);
    unload(&f);
}

static const sa_test_def tests[] = {
    {"greedy_equals_llama2c", test_greedy_equals_llama2c},
    {"batch_invariance", test_batch_invariance},
    {"batch_invariance_bits", test_batch_invariance_bits},
    {"stops_limits_constraints", test_stops_limits_constraints},
    {"score_and_probs", test_score_and_probs},
    {"padded_vocab_masked", test_padded_vocab_masked},
};
SA_TEST_MAIN(tests)
