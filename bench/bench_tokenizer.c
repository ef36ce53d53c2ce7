/* bench_tokenizer.c — single-thread encode throughput (MB/s of UTF-8 input)
 * of the tokenizers on the corpus files, plus a decode figure.
 *
 * Usage: build/bench/bench_tokenizer [data_dir] [repeats]
 *   data_dir defaults to $SA_DATA_DIR or ../shared/data; repeats to 3 (the
 *   best time of the repeats is reported, which filters out noise from the
 *   other processes on a shared machine).
 * Each file is encoded whole, as untrusted text (no special-token matching).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/mmap.h"
#include "sa/tokenizer.h"

/* Thread CPU time: the machine is shared, and wall time would count the
 * slices other processes take from us (the load average here is often 4 on
 * 2 cores). Cache contention from them still shows, so take the best of N. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct vocab {
    const char *label, *rel;
} vocab;

static const vocab vocabs[] = {
    {"GPT-2 (vocab.json)", "tokenizers/hf/gpt2"},
    {"Llama 3 (encoder.json)", "tokenizers/hf/llama-3.2"},
    {"Qwen2.5 (vocab.json)", "tokenizers/hf/qwen2.5-0.5b-instruct"},
    {"Llama 2 SPM (tokenizer.json)", "tokenizers/hf/llama-2/tokenizer.json"},
};

static const char *const files[] = {
    "corpus/exllamav2_cal/c4.utf8",        "corpus/exllamav2_cal/wiki.utf8",
    "corpus/exllamav2_cal/tiny.utf8",      "corpus/exllamav2_cal/technical.utf8",
    "corpus/exllamav2_cal/multilingual.utf8", "corpus/misc/war-and-peace.txt",
    "corpus/wikitext-2/test.txt",
};
#define N_FILES (sizeof files / sizeof files[0])

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("SA_DATA_DIR");
    if (!dir) dir = "../shared/data";
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    if (repeats < 1) repeats = 1;

    char *text[N_FILES];
    size_t len[N_FILES];
    char path[4096];
    for (size_t f = 0; f < N_FILES; f++) {
        sa_err err = {0};
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        if (sa_file_read_all(path, 0, &text[f], &len[f], &err)) {
            fprintf(stderr, "bench_tokenizer: %s (set SA_DATA_DIR)\n", err.msg);
            return 1;
        }
    }
    printf("single-thread encode throughput, MB/s of input (1e6 bytes) per thread-CPU second, best of %d\n",
           repeats);
    printf("%-30s", "tokenizer");
    for (size_t f = 0; f < N_FILES; f++) {
        const char *b = strrchr(files[f], '/') + 1;
        printf(" %12.12s", b);
    }
    printf(" %9s %9s %9s %10s\n", "all", "all-wall", "tok/byte", "decode");
    int rc = 0;
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++) {
        sa_tokenizer *tok;
        sa_err err = {0};
        snprintf(path, sizeof path, "%s/%s", dir, vocabs[v].rel);
        double t0 = now_s();
        if (sa_tokenizer_load(&tok, path, &err)) {
            printf("%-30s load failed: %s\n", vocabs[v].label, err.msg);
            rc = 1;
            continue;
        }
        double load_s = now_s() - t0;
        printf("%-30s", vocabs[v].label);
        double tot_bytes = 0, tot_s = 0, tot_wall = 0, tot_tokens = 0, dec_s = 0, dec_bytes = 0;
        sa_tokens ids = {0};
        sa_strbuf out = {0};
        for (size_t f = 0; f < N_FILES; f++) {
            double best = 1e30, best_dec = 1e30, best_wall = 1e30;
            for (int r = 0; r < repeats; r++) {
                ids.n = 0;
                double w = wall_s();
                double a = now_s();
                if (sa_tokenizer_encode(tok, text[f], len[f], 0, &ids, &err)) {
                    printf(" encode failed: %s\n", err.msg);
                    rc = 1;
                    break;
                }
                double b = now_s();
                w = wall_s() - w;
                if (b - a < best) best = b - a;
                if (w < best_wall) best_wall = w;
                sa_strbuf_reset(&out);
                a = now_s();
                sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &out, &err);
                b = now_s();
                if (b - a < best_dec) best_dec = b - a;
            }
            printf(" %12.1f", (double)len[f] / best / 1e6);
            tot_bytes += (double)len[f];
            tot_s += best;
            tot_wall += best_wall;
            tot_tokens += (double)ids.n;
            dec_s += best_dec;
            dec_bytes += (double)out.len;
        }
        printf(" %9.1f %9.1f %9.3f %10.1f   (load %.2f s cpu)\n", tot_bytes / tot_s / 1e6,
               tot_bytes / tot_wall / 1e6, tot_tokens / tot_bytes,
               dec_bytes / dec_s / 1e6, load_s);
        sa_tokens_free(&ids);
        sa_strbuf_free(&out);
        sa_tokenizer_free(tok);
    }
    for (size_t f = 0; f < N_FILES; f++) free(text[f]);
    return rc;
}
