/* test_rouge.c — ROUGE-L against hand-computed references, the pool's
 * pruning against brute force on randomized texts (it must be exact), and
 * near-duplicate detection on the real Self-Instruct seed tasks. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sa/rng.h"
#include "sa/rouge.h"
#include "sa/strbuf.h"
#include "sa_test.h"

static bool near(double a, double b) { return fabs(a - b) < 1e-12; }

#define CHECK_F(t, a, b, want)                                                                          \
    do {                                                                                                \
        double f_ = sa_rouge_l((a), (b)), g_ = sa_rouge_l((b), (a));                                    \
        SA_CHECKF((t), near(f_, (want)) && near(g_, (want)), "rouge(\"%s\", \"%s\") = %.6f / %.6f, want %.6f", \
                  (a), (b), f_, g_, (double)(want));                                                    \
    } while (0)

static void test_reference_pairs(sa_test *t) {
    /* a: the cat sat on the mat (6)   b: the cat is on the mat (6)
     * LCS = the cat on the mat = 5; P = R = 5/6; F = 2*5/(6+6) = 0.8333 */
    CHECK_F(t, "The cat sat on the mat.", "the cat is on the mat", 10.0 / 12.0);
    /* police killed the gunman (4) / police kill the gunman (4): LCS = police the gunman = 3;
     * P = R = 3/4; F = 6/8 = 0.75 */
    CHECK_F(t, "police killed the gunman", "police kill the gunman", 0.75);
    /* word order matters: "the gunman kill police" shares "the gunman" in order (2), or
     * "police" alone (1): LCS = 2, F = 4/8 = 0.5 (a bag-of-words overlap would say 0.75) */
    CHECK_F(t, "police killed the gunman", "the gunman kill police", 0.5);
    /* case and ASCII punctuation do not matter: identical word lists, F = 1 */
    CHECK_F(t, "Hello, WORLD!", "hello world", 1.0);
    CHECK_F(t, "re-use it", "RE use; it...", 1.0);
    /* different lengths: a b c d e f g h (8) vs b d f h x (5): LCS = b d f h = 4;
     * P = 4/5, R = 4/8, F = 2*(0.8*0.5)/(0.8+0.5) = 0.8/1.3 = 8/13 */
    CHECK_F(t, "a b c d e f g h", "b d f h x", 8.0 / 13.0);
    /* repeats: a a a b (4) vs a b a a (4): LCS = a a a = 3; F = 6/8 */
    CHECK_F(t, "a a a b", "a b a a", 0.75);
    /* non-ASCII bytes are word bytes: "café" != "cafe", so LCS = au lait = 2, F = 4/6 */
    CHECK_F(t, "café au lait", "cafe au lait", 4.0 / 6.0);
    /* ... and a whole UTF-8 run is one word: "日本語 text" has 2 words, "日本 text" another first word:
     * LCS = text = 1, F = 2/4 */
    CHECK_F(t, "日本語 text", "日本 text", 0.5);
    /* nothing shared, or no words at all: 0 */
    CHECK_F(t, "one two three", "four five", 0.0);
    CHECK_F(t, "", "abc", 0.0);
    CHECK_F(t, "!!! ...", "?", 0.0);
    SA_CHECK_EQ_INT(t, sa_rouge_count_words("Hello, world! It's 2024 -- naïve café"), 7); /* "It's" is two words */
    SA_CHECK_EQ_INT(t, sa_rouge_count_words("  ,;  "), 0);
    /* the LCS kernel directly */
    uint32_t a[] = {1, 2, 3, 4, 1}, b[] = {3, 4, 1, 2, 3, 4}, row[7];
    SA_CHECK_EQ_INT(t, sa_rouge_lcs(a, 5, b, 6, row), 4); /* 1 2 3 4 = b[2..5] */
    SA_CHECK_EQ_INT(t, sa_rouge_lcs(a, 0, b, 6, row), 0);
}

/* ---- random texts: a Zipf-like vocabulary, many near copies ------------------------------ */

static void random_text(sa_rng *r, sa_strbuf *out, const sa_strbuf *texts, size_t n_texts) {
    static const char *const vocab[] = {"the", "a", "of", "to", "and", "write", "list", "explain", "why",
                                        "how", "what", "story", "poem", "short", "about", "given", "text",
                                        "sentence", "summarize", "classify", "three", "five", "reasons",
                                        "good", "bad", "Dog", "CAT", "river", "city", "Naïve", "café", "x1"};
    enum { V = sizeof vocab / sizeof vocab[0] };
    sa_strbuf_reset(out);
    if (n_texts && sa_rng_below(r, 3) == 0) {
        /* a light edit of an earlier text: drop, swap or insert a word or two */
        const char *src = sa_strbuf_cstr(&texts[sa_rng_below(r, n_texts)]);
        char buf[512];
        snprintf(buf, sizeof buf, "%s", src);
        char *save = NULL;
        for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            uint64_t k = sa_rng_below(r, 12);
            if (k == 0) continue;                                     /* drop */
            if (k == 1) sa_strbuf_appendf(out, "%s ", vocab[sa_rng_below(r, V)]); /* insert */
            if (k == 2) sa_strbuf_appendf(out, "%s, ", vocab[sa_rng_below(r, V)]); /* replace */
            else sa_strbuf_appendf(out, "%s ", w);
        }
        return;
    }
    size_t len = (size_t)sa_rng_below(r, 18); /* 0 words sometimes */
    for (size_t i = 0; i < len; i++) {
        /* Zipf-ish: the square of a uniform favours the first words */
        double u = sa_rng_double(r);
        size_t w = (size_t)(u * u * V);
        sa_strbuf_appendf(out, "%s%s", vocab[w], sa_rng_below(r, 10) == 0 ? "! " : " ");
    }
    if (sa_rng_below(r, 20) == 0) sa_strbuf_puts(out, "unseenword");
}

static void test_pool_exact(sa_test *t) {
    enum { N = 2500 };
    static sa_strbuf texts[N];
    sa_rng r;
    sa_rng_init(&r, 42);
    sa_rouge_pool *p;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_rouge_pool_new(&p, &e), &e);
    const double thr[] = {0.3, 0.5, 0.7, 0.85, 1.0};
    size_t mismatches = 0, found_n = 0, compared = 0;
    sa_strbuf q = {0};
    for (size_t i = 0; i < N; i++) {
        random_text(&r, &texts[i], texts, i);
        /* two queries per insertion, at every threshold */
        for (int k = 0; k < 2; k++) {
            random_text(&r, &q, texts, i + 1);
            for (size_t ti = 0; ti < sizeof thr / sizeof thr[0]; ti++) {
                double b1 = -1, b2 = -1;
                int64_t i1 = -2, i2 = -2;
                bool f1 = false, f2 = false;
                SA_REQUIRE_OK(t, sa_rouge_pool_max(p, sa_strbuf_cstr(&q), thr[ti], &b1, &i1, &f1, &e), &e);
                SA_REQUIRE_OK(t, sa_rouge_pool_max_brute(p, sa_strbuf_cstr(&q), thr[ti], &b2, &i2, &f2, &e), &e);
                compared++;
                bool ok = f1 == f2 && (!f1 || (b1 == b2 && i1 == i2)) && (f1 || b1 <= b2);
                if (!ok && mismatches++ < 5)
                    sa_test_fail(t, __FILE__, __LINE__, "query \"%s\" at %.2f: index %d/%.4f/%lld, brute %d/%.4f/%lld",
                                 sa_strbuf_cstr(&q), thr[ti], f1, b1, (long long)i1, f2, b2, (long long)i2);
                found_n += f2;
                /* the reported member really has that score */
                if (f1 && i1 >= 0)
                    SA_CHECK(t, near(sa_rouge_l(sa_strbuf_cstr(&q), sa_strbuf_cstr(&texts[i1])), b1));
            }
        }
        SA_REQUIRE_OK(t, sa_rouge_pool_add(p, sa_strbuf_cstr(&texts[i]), NULL, &e), &e);
    }
    SA_CHECK_EQ_INT(t, mismatches, 0);
    SA_CHECK_EQ_INT(t, sa_rouge_pool_size(p), N);
    /* the set exercises both answers */
    SA_CHECKF(t, found_n > compared / 10 && found_n < compared * 9 / 10, "%zu of %zu found", found_n, compared);
    /* pruning saved work (brute-force calls are counted too, so under half the pairs were computed) */
    sa_rouge_pool_stats st;
    sa_rouge_pool_get_stats(p, &st);
    SA_CHECK_EQ_INT(t, st.queries, 2 * compared);
    SA_CHECKF(t, st.lcs_computed < st.pairs * 3 / 5, "lcs %llu of %llu pairs", (unsigned long long)st.lcs_computed,
              (unsigned long long)st.pairs);
    SA_CHECK_EQ_INT(t, st.pruned, st.pairs - st.lcs_computed);
    /* bad thresholds */
    SA_CHECK_EQ_INT(t, sa_rouge_pool_max(p, "x", 0, NULL, NULL, NULL, &e), SA_ERR_INVALID_ARG);
    SA_CHECK_EQ_INT(t, sa_rouge_pool_max(p, "x", 1.5, NULL, NULL, NULL, &e), SA_ERR_INVALID_ARG);
    sa_strbuf_free(&q);
    for (size_t i = 0; i < N; i++) sa_strbuf_free(&texts[i]);
    sa_rouge_pool_free(p);
}

static void test_pool_small(sa_test *t) {
    sa_rouge_pool *p;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_rouge_pool_new(&p, &e), &e);
    double b;
    int64_t at;
    bool f;
    SA_CHECK_OK(t, sa_rouge_pool_max(p, "anything at all", 0.7, &b, &at, &f, &e), &e);
    SA_CHECK(t, !f && b == 0 && at == -1);
    size_t idx = 99;
    SA_CHECK_OK(t, sa_rouge_pool_add(p, "Write a poem about the sea.", &idx, &e), &e);
    SA_CHECK_EQ_INT(t, idx, 0);
    SA_CHECK_OK(t, sa_rouge_pool_add(p, "", &idx, &e), &e); /* a member with no words */
    SA_CHECK_OK(t, sa_rouge_pool_add(p, "Explain how tides work.", &idx, &e), &e);
    SA_CHECK_OK(t, sa_rouge_pool_add(p, "write a POEM about the sea", &idx, &e), &e);
    SA_CHECK_EQ_INT(t, idx, 3);
    /* equal best scores: the lowest index is reported */
    SA_CHECK_OK(t, sa_rouge_pool_max(p, "Write a poem about the sea!", 0.7, &b, &at, &f, &e), &e);
    SA_CHECK(t, f && b == 1.0 && at == 0);
    /* write a short poem about the sea (7) vs write a poem about the sea (6): LCS 6, F = 12/13 */
    SA_CHECK_OK(t, sa_rouge_pool_max(p, "Write a short poem about the sea", 0.9, &b, &at, &f, &e), &e);
    SA_CHECK(t, f && near(b, 12.0 / 13.0) && at == 0);
    SA_CHECK_OK(t, sa_rouge_pool_max(p, "Write a short poem about the sea", 0.95, &b, &at, &f, &e), &e);
    SA_CHECK(t, !f && b < 0.95);
    SA_CHECK_OK(t, sa_rouge_pool_max(p, "", 0.7, &b, &at, &f, &e), &e);
    SA_CHECK(t, !f && at == -1);
    sa_rouge_pool_free(p);
}

/* ---- near duplicates of the real seed tasks -------------------------------------------- */

static void edit_upper_nopunct(const char *s, sa_strbuf *o) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ',' || c == '.' || c == '?' || c == '!') continue;
        sa_strbuf_putc(o, (char)(c >= 'a' && c <= 'z' ? c - 32 : c));
    }
}

/* Replace the middle word (space separated) with "really". */
static void edit_swap_middle(const char *s, sa_strbuf *o) {
    size_t words = 0;
    for (const char *p = s; *p; p++) words += (*p == ' ');
    size_t mid = words / 2, k = 0;
    const char *p = s;
    for (; *p; p++) {
        if (*p == ' ') k++;
        if (k == mid && (p == s || *p == ' ')) break;
    }
    sa_strbuf_append(o, s, (size_t)(p - s));
    sa_strbuf_puts(o, mid ? " really" : "really");
    const char *q = p + (*p == ' ');
    while (*q && *q != ' ') q++;
    sa_strbuf_puts(o, q);
}

static void test_seed_paraphrases(sa_test *t) {
    const char *path = sa_test_data(t, "instructions/self-instruct_seed_tasks.jsonl");
    if (!path) return;
    FILE *f = fopen(path, "r");
    SA_REQUIRE(t, f != NULL);
    sa_rouge_pool *p;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_rouge_pool_new(&p, &e), &e);
    char *line = NULL;
    size_t cap = 0;
    json_t *seeds = json_array();
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        const char *ins = json_string_value(json_object_get(o, "instruction"));
        if (ins) {
            json_array_append_new(seeds, json_string(ins));
            SA_CHECK_OK(t, sa_rouge_pool_add(p, ins, NULL, &e), &e);
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    SA_REQUIRE(t, json_array_size(seeds) == 175);
    size_t caught = 0, tried = 0;
    for (size_t i = 0; i < json_array_size(seeds); i += 5) {
        const char *ins = json_string_value(json_array_get(seeds, i));
        if (sa_rouge_count_words(ins) < 8) continue; /* one changed word of a short text is a real change */
        for (int k = 0; k < 3; k++) {
            sa_strbuf v = {0};
            if (k == 0) edit_upper_nopunct(ins, &v);
            else if (k == 1) edit_swap_middle(ins, &v);
            else sa_strbuf_appendf(&v, "Please %s", ins);
            double b;
            int64_t at;
            bool fd;
            SA_CHECK_OK(t, sa_rouge_pool_max(p, sa_strbuf_cstr(&v), 0.7, &b, &at, &fd, &e), &e);
            tried++;
            caught += fd && b > 0.7 && at == (int64_t)i;
            SA_CHECKF(t, fd && at == (int64_t)i, "variant \"%s\" of seed %zu: found %d at %lld (%.3f)", sa_strbuf_cstr(&v),
                      i, fd, (long long)at, b);
            sa_strbuf_free(&v);
        }
    }
    SA_CHECK(t, tried >= 30 && caught == tried);
    /* distinct instructions in our own words are kept */
    static const char *const fresh[] = {
        "Compose a limerick about a forgetful robot who keeps losing its keys.",
        "Convert this recipe for twelve muffins into one for thirty muffins.",
        "Which chess opening would you recommend to a beginner who likes to attack, and why?",
        "Describe the water cycle to a seven-year-old in four sentences.",
        "Rank these programming languages by how easy they are to learn: Python, C, Haskell.",
        "Draft a polite email declining an invitation to a colleague's barbecue.",
    };
    for (size_t i = 0; i < sizeof fresh / sizeof fresh[0]; i++) {
        double b;
        int64_t at;
        bool fd;
        SA_CHECK_OK(t, sa_rouge_pool_max(p, fresh[i], 0.7, &b, &at, &fd, &e), &e);
        SA_CHECKF(t, !fd, "\"%s\" matched seed %lld at %.3f", fresh[i], (long long)at, b);
    }
    json_decref(seeds);
    sa_rouge_pool_free(p);
}

static const sa_test_def k_tests[] = {
    {"reference_pairs", test_reference_pairs},
    {"pool_small", test_pool_small},
    {"pool_exact", test_pool_exact},
    {"seed_paraphrases", test_seed_paraphrases},
};
SA_TEST_MAIN(k_tests)
