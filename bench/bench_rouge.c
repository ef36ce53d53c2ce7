/* bench_rouge.c — cost of the ROUGE-L near-duplicate filter per candidate as
 * the self-instruct pool grows: the pruned index (sa_rouge_pool_max) against
 * comparing with every member (sa_rouge_pool_max_brute), same queries, same
 * answers (checked).
 *
 * Usage: build/bench/bench_rouge [max_pool] [queries] [seed]
 *   max_pool defaults to 50000, queries (candidates timed per size) to 400,
 *   seed to 1. Texts are synthetic instructions: an imperative or question
 *   opening, then 4-30 words drawn from a Zipf(1.1) vocabulary of 20,000
 *   words with function words on top; a quarter of the queries are light
 *   edits of pool members (the near duplicates the filter exists for).
 *   Times are thread CPU time (the machine is shared); brute force runs with
 *   fewer queries at the largest size.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/rng.h"
#include "sa/rouge.h"
#include "sa/strbuf.h"

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { VOCAB = 20000 };

typedef struct gen {
    sa_rng rng;
    double *cdf; /* Zipf over VOCAB ranks */
    char (*words)[16];
} gen;

static const char *const k_func[] = {"the", "a", "of", "to", "and", "in", "for", "is", "that", "with", "on", "your",
                                     "this", "how", "what", "about", "an", "are", "it", "be"};
static const char *const k_open[] = {"Write", "Explain", "Describe", "List", "Give", "Summarize", "Classify",
                                     "Generate", "Suggest", "What is", "How do I", "Why does", "Compare", "Create",
                                     "Tell me", "Rewrite", "Find", "Identify", "Can you", "Make"};

static void gen_init(gen *g, uint64_t seed) {
    sa_rng_init(&g->rng, seed);
    g->cdf = malloc(VOCAB * sizeof *g->cdf);
    g->words = malloc(VOCAB * sizeof *g->words);
    double sum = 0;
    for (int r = 0; r < VOCAB; r++) {
        sum += 1.0 / pow(r + 1, 1.1);
        g->cdf[r] = sum;
        /* pronounceable pseudo-words, 3-9 letters, distinct by construction (rank in base 20 + a tail) */
        static const char cons[] = "bcdfghklmnprstvwz", vow[] = "aeiou";
        int n = 0, x = r;
        do {
            g->words[r][n++] = cons[x % 17];
            g->words[r][n++] = vow[(x / 17) % 5];
            x /= 85;
        } while (x && n < 12);
        g->words[r][n++] = cons[r % 13];
        g->words[r][n] = 0;
    }
    for (int r = 0; r < VOCAB; r++) g->cdf[r] /= sum;
}

static const char *zipf_word(gen *g) {
    double u = sa_rng_double(&g->rng);
    if (u < 0.35) return k_func[sa_rng_below(&g->rng, 20)];
    u = sa_rng_double(&g->rng);
    size_t lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g->cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return g->words[lo];
}

static void make_text(gen *g, sa_strbuf *b) {
    sa_strbuf_reset(b);
    sa_strbuf_puts(b, k_open[sa_rng_below(&g->rng, 20)]);
    int n = 4 + (int)sa_rng_below(&g->rng, 27);
    for (int i = 0; i < n; i++) sa_strbuf_appendf(b, " %s", zipf_word(g));
    sa_strbuf_puts(b, sa_rng_below(&g->rng, 3) ? "." : "?");
}

/* A light edit of src: each word dropped or replaced with probability 1/10. */
static void edit_text(gen *g, const char *src, sa_strbuf *b) {
    sa_strbuf_reset(b);
    const char *p = src;
    while (*p) {
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        uint64_t k = sa_rng_below(&g->rng, 20);
        if (k == 0) { /* drop */
        } else if (k == 1) sa_strbuf_appendf(b, "%s%s", b->len ? " " : "", zipf_word(g));
        else {
            if (b->len) sa_strbuf_putc(b, ' ');
            sa_strbuf_append(b, p, n);
        }
        p += n;
        while (*p == ' ') p++;
    }
}

int main(int argc, char **argv) {
    size_t max_pool = argc > 1 ? (size_t)atol(argv[1]) : 50000;
    size_t nq = argc > 2 ? (size_t)atol(argv[2]) : 400;
    uint64_t seed = argc > 3 ? (uint64_t)atoll(argv[3]) : 1;
    if (nq < 1) nq = 1;
    gen g;
    gen_init(&g, seed);
    sa_rouge_pool *p;
    sa_err e = {0};
    if (sa_rouge_pool_new(&p, &e)) return 1;
    char **texts = calloc(max_pool, sizeof *texts);
    sa_strbuf b = {0};
    const size_t sizes[] = {1000, 5000, 10000, 50000};
    printf("command: %s %zu %zu %llu\n", argv[0], max_pool, nq, (unsigned long long)seed);
    printf("ROUGE-L near-duplicate filter (threshold 0.7), thread CPU time per candidate\n");
    printf("%8s %12s %12s %8s %14s %14s %6s\n", "pool", "index us", "brute us", "ratio", "LCS/cand idx",
           "cands/query", "dups");
    size_t have = 0;
    int mismatches = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] && sizes[si] <= max_pool; si++) {
        for (; have < sizes[si]; have++) {
            make_text(&g, &b);
            texts[have] = strdup(sa_strbuf_cstr(&b));
            if (sa_rouge_pool_add(p, texts[have], NULL, &e)) return 1;
        }
        /* the query set: 3/4 fresh texts, 1/4 light edits of members */
        char **qs = calloc(nq, sizeof *qs);
        for (size_t i = 0; i < nq; i++) {
            if (i % 4 == 3) edit_text(&g, texts[sa_rng_below(&g.rng, have)], &b);
            else make_text(&g, &b);
            qs[i] = strdup(sa_strbuf_cstr(&b));
        }
        sa_rouge_pool_stats s0, s1;
        sa_rouge_pool_get_stats(p, &s0);
        bool *fi = calloc(nq, sizeof *fi);
        double *bi = calloc(nq, sizeof *bi);
        size_t dups = 0;
        double t0 = cpu_s();
        for (size_t i = 0; i < nq; i++) sa_rouge_pool_max(p, qs[i], 0.7, &bi[i], NULL, &fi[i], &e);
        double t_idx = (cpu_s() - t0) / (double)nq * 1e6;
        sa_rouge_pool_get_stats(p, &s1);
        double lcs_per = (double)(s1.lcs_computed - s0.lcs_computed) / (double)nq;
        double cand_per = (double)(s1.candidates - s0.candidates) / (double)nq;
        /* brute force: every query up to 10k members, an eighth of them at 50k */
        size_t nb = sizes[si] > 10000 ? (nq + 7) / 8 : nq;
        t0 = cpu_s();
        for (size_t i = 0; i < nb; i++) {
            bool f;
            double best;
            sa_rouge_pool_max_brute(p, qs[i], 0.7, &best, NULL, &f, &e);
            if (f != fi[i] || (f && best != bi[i])) mismatches++;
        }
        double t_bf = (cpu_s() - t0) / (double)nb * 1e6;
        for (size_t i = 0; i < nq; i++) dups += fi[i];
        printf("%8zu %12.2f %12.2f %7.1fx %14.1f %14.1f %6zu\n", sizes[si], t_idx, t_bf, t_bf / t_idx, lcs_per,
               cand_per, dups);
        for (size_t i = 0; i < nq; i++) free(qs[i]);
        free(qs);
        free(fi);
        free(bi);
    }
    printf("index and brute force disagreed on %d queries\n", mismatches);
    for (size_t i = 0; i < have; i++) free(texts[i]);
    free(texts);
    free(g.cdf);
    free(g.words);
    sa_strbuf_free(&b);
    sa_rouge_pool_free(p);
    return mismatches != 0;
}
