/* bench_curate.c — curation throughput (pairs/s) per mode, with and without
 * the shared rubric prefix, on M-tiny with random weights and the Llama 2
 * tokenizer (vocabulary 32000).
 *
 * Usage: bench_curate [threads=2] [pairs=16] [max_tokens=64] [mode|all]
 * Data: $SA_DATA_DIR (default ../shared/data)/tokenizers/hf/llama-2.
 * A random model never writes "Score:", so generate and constrained run to
 * max_tokens: the figures are the cost of a reason of that length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa/curate.h"
#include "sa/model.h"

static const char *k_words[] = {"the", "river", "bakes", "slowly", "under", "a", "bright", "garden", "of", "stone",
                                "and", "music", "while", "engineers", "measure", "quiet", "data", "for", "every", "city"};

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
    int pairs = argc > 2 ? atoi(argv[2]) : 16;
    int max_tokens = argc > 3 ? atoi(argv[3]) : 64;
    const char *only = argc > 4 ? argv[4] : "all";
    const char *data = getenv("SA_DATA_DIR");
    char tpath[1024];
    snprintf(tpath, sizeof tpath, "%s/tokenizers/hf/llama-2", data ? data : "../shared/data");
    sa_err err = {0};
    sa_tokenizer *tok = NULL;
    if (sa_tokenizer_load(&tok, tpath, &err)) {
        fprintf(stderr, "bench_curate: %s (set SA_DATA_DIR)\n", err.msg);
        return 1;
    }
    sa_model_config c;
    sa_model_config_preset("m-tiny", &c);
    sa_model *m = NULL;
    if (sa_model_alloc(&m, &c, &err)) {
        fprintf(stderr, "bench_curate: %s\n", err.msg);
        return 1;
    }
    sa_model_randomize(m, 1, 0.02f);
    char dir[] = "/tmp/bench_curate.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char in[1100];
    snprintf(in, sizeof in, "%s/cands.jsonl", dir);
    FILE *f = fopen(in, "w");
    if (!f) return 1;
    for (int i = 0; i < pairs; i++) {
        char ins[400], outp[1200];
        text(ins, sizeof ins, (unsigned)i * 7 + 1, 12);
        text(outp, sizeof outp, (unsigned)i * 13 + 5, 90);
        fprintf(f, "{\"instruction\": \"%s?\", \"output\": \"%s.\"}\n", ins, outp);
    }
    fclose(f);
    sa_prompts *pr = NULL;
    sa_prompts_load(&pr, NULL, &err);
    printf("selfalign curation benchmark: M-tiny F32 random weights, Llama 2 tokenizer, %d threads, %d pairs, "
           "reason max %d tokens\n", threads, pairs, max_tokens);
    printf("%-12s %14s %14s %8s\n", "mode", "prefix pairs/s", "no-prefix p/s", "ratio");
    double pps[SA_CURATE_MODE_COUNT][2];
    int rc = 0;
    for (int mode = 0; mode < SA_CURATE_MODE_COUNT && !rc; mode++) {
        if (strcmp(only, "all") != 0 && strcmp(only, sa_curate_mode_name((sa_curate_mode)mode)) != 0) {
            pps[mode][0] = pps[mode][1] = 0;
            continue;
        }
        for (int p = 0; p < 2 && !rc; p++) {
            sa_engine_local_opts eo = sa_engine_local_defaults();
            eo.n_threads = threads;
            eo.n_slots = 8;
            if (p) eo.prefix_cache_entries = 0;
            sa_engine *e = NULL;
            sa_curator *cur = NULL;
            sa_curate_opts o = sa_curate_default_opts();
            o.mode = (sa_curate_mode)mode;
            o.prompts = pr;
            o.max_tokens = max_tokens;
            o.chunk = pairs;
            char out[1200];
            snprintf(out, sizeof out, "%s/%d_%d/scored.jsonl", dir, mode, p);
            sa_curate_stats st;
            if (sa_engine_local_new(&e, m, tok, &eo, &err) || sa_curator_new(&cur, e, &o, &err) ||
                sa_curate_file(cur, in, out, NULL, &st, &err)) {
                fprintf(stderr, "bench_curate: %s\n", err.msg);
                rc = 1;
            } else
                pps[mode][p] = st.pairs_per_s;
            sa_curator_free(cur);
            sa_engine_free(e);
        }
        if (!rc)
            printf("%-12s %14.2f %14.2f %7.2fx\n", sa_curate_mode_name((sa_curate_mode)mode), pps[mode][0], pps[mode][1],
                   pps[mode][0] / pps[mode][1]);
    }
    if (!rc && pps[SA_CURATE_GENERATE][0] > 0 && pps[SA_CURATE_LOGITS][0] > 0)
        printf("logits / generate (with prefix): %.1fx\n", pps[SA_CURATE_LOGITS][0] / pps[SA_CURATE_GENERATE][0]);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_curate: could not remove %s\n", dir);
    sa_prompts_free(pr);
    sa_model_free(m);
    sa_tokenizer_free(tok);
    return rc;
}
