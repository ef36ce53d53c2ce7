/* bench_principles.c — principle-driven answers per second (Dromedary stage
 * 2) with and without the shared prefix (principles + exemplars, the same
 * for every query), on M-tiny with random weights and the Llama 2 tokenizer
 * (vocabulary 32000), with the built-in prompts.
 *
 * Usage: bench_principles [threads=2] [queries=16] [max_tokens=32] [batch=8]
 * Data: $SA_DATA_DIR (default ../shared/data)/tokenizers/hf/llama-2.
 * A random model never writes "### Answer:", so every answer runs to
 * max_tokens (rejected as truncated): the figures are the cost of a reply of
 * that length after a prompt of (fixed part + query) tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa/model.h"
#include "sa/principles.h"

static const char *k_words[] = {"why", "does", "the", "river", "freeze", "in", "winter", "and", "how", "do",
                                "engineers", "measure", "quiet", "data", "for", "every", "city", "garden", "stone",
                                "music"};

static void text(char *out, size_t cap, unsigned seed, int words) {
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < words && n + 16 < cap; i++) {
        seed = seed * 1103515245u + 12345u;
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", k_words[(seed >> 16) % 20]);
    }
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int queries = argc > 2 ? atoi(argv[2]) : 16;
    int max_tokens = argc > 3 ? atoi(argv[3]) : 32;
    int batch = argc > 4 ? atoi(argv[4]) : 8;
    const char *data = getenv("SA_DATA_DIR");
    char tpath[1024];
    snprintf(tpath, sizeof tpath, "%s/tokenizers/hf/llama-2", data ? data : "../shared/data");
    sa_err err = {0};
    sa_tokenizer *tok = NULL;
    if (sa_tokenizer_load(&tok, tpath, &err)) {
        fprintf(stderr, "bench_principles: %s (set SA_DATA_DIR)\n", err.msg);
        return 1;
    }
    sa_model_config c;
    sa_model_config_preset("m-tiny", &c);
    sa_model *m = NULL;
    if (sa_model_alloc(&m, &c, &err)) {
        fprintf(stderr, "bench_principles: %s\n", err.msg);
        return 1;
    }
    sa_model_randomize(m, 1, 0.02f);
    sa_chat_template tm;
    sa_chat_template_resolve(tok, NULL, &tm, NULL, NULL);
    size_t prefix = 0, sample = 0;
    sa_tokens ids = {0};
    if (sa_principles_shared_prefix(tok, &tm, NULL, SA_PRINCIPLES_ANSWER, 0, &prefix, &err) ||
        sa_principles_prompt_ids(tok, &tm, NULL, SA_PRINCIPLES_ANSWER, 0, "Why does the river freeze in winter?", &ids,
                                 &err)) {
        fprintf(stderr, "bench_principles: %s\n", err.msg);
        return 1;
    }
    sample = ids.n;
    sa_tokens_free(&ids);
    char dir[] = "/tmp/bench_principles.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char in[1100];
    snprintf(in, sizeof in, "%s/prompts.jsonl", dir);
    FILE *f = fopen(in, "w");
    if (!f) return 1;
    for (int i = 0; i < queries; i++) {
        char q[400];
        text(q, sizeof q, (unsigned)i * 7 + 1, 10);
        fprintf(f, "{\"id\": \"q%d\", \"instruction\": \"%s?\"}\n", i, q);
    }
    fclose(f);
    printf("selfalign principle-driven answers benchmark: M-tiny F32 random weights, Llama 2 tokenizer, template %s,\n"
           "%d threads, %d slots, %d queries, answer max %d tokens, built-in prompts\n",
           sa_chat_format_name(tm.format), threads, batch, queries, max_tokens);
    printf("fixed part (principles + exemplars + query preamble): %zu tokens; a whole prompt: %zu tokens\n", prefix,
           sample);
    printf("%-10s %12s %14s %16s\n", "prefix", "answers/s", "prompt tok/s", "cached tokens");
    double aps[2] = {0, 0};
    int rc = 0;
    for (int p = 0; p < 2 && !rc; p++) {
        sa_engine_local_opts eo = sa_engine_local_defaults();
        eo.n_threads = threads;
        eo.n_slots = batch;
        if (p) eo.prefix_cache_entries = 0;
        sa_engine *e = NULL;
        sa_principles_opts o = sa_principles_default_opts();
        char out[1200];
        snprintf(out, sizeof out, "%s/%d_answers.jsonl", dir, p);
        o.in_path = in;
        o.out_path = out;
        o.max_tokens = max_tokens;
        o.chunk = (uint32_t)queries;
        sa_principles_stats st;
        if (sa_engine_local_new(&e, m, tok, &eo, &err) || sa_principles_run(e, tok, &tm, &o, &st, &err)) {
            fprintf(stderr, "bench_principles: %s\n", err.msg);
            rc = 1;
        } else {
            aps[p] = st.answers_per_s;
            printf("%-10s %12.3f %14.1f %16llu\n", p ? "off" : "on", st.answers_per_s,
                   st.gen_seconds > 0 ? (double)st.prompt_tokens / st.gen_seconds : 0,
                   (unsigned long long)st.cached_tokens);
        }
        sa_engine_free(e);
    }
    if (!rc && aps[1] > 0) printf("speed-up from the shared prefix: %.2fx\n", aps[0] / aps[1]);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_principles: could not remove %s\n", dir);
    sa_model_free(m);
    sa_tokenizer_free(tok);
    return rc;
}
