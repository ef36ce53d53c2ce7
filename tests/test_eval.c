/* test_eval.c — evaluation: bootstrap intervals (coverage, and a wrong
 * interval that the check catches), combining the two judging orders under
 * a fake position-biased judge, verdict parsing (hostile texts included),
 * answer matching, the eval-set readers (one crafted file per format, bad
 * lines reported path:line, the real self-instruct seed tasks), and
 * `selfalign eval` end to end on stories260K in every mode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sa/eval.h"
#include "sa/json.h"
#include "sa/rng.h"
#include "sa_test.h"
#include "sa_test_run.h"

/* ---- bootstrap ------------------------------------------------------------------------ */

static void bernoulli(sa_rng *r, double p, double *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = sa_rng_double(r) < p ? 1 : 0;
}

static void test_bootstrap_known_mean(sa_test *t) {
    enum { N = 2000 };
    static double v[N];
    sa_rng r;
    sa_rng_init(&r, 7);
    bernoulli(&r, 0.7, v, N);
    double lo = 0, hi = 0, lo2 = 0, hi2 = 0;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_bootstrap_ci(v, N, 2000, 11, 0.05, &lo, &hi, &err), &err);
    SA_CHECKF(t, lo < 0.7 && 0.7 < hi, "95%% interval [%f, %f] misses 0.7", lo, hi);
    /* about 2 * 1.96 * sqrt(0.21 / 2000) = 0.040 wide */
    SA_CHECKF(t, hi - lo > 0.03 && hi - lo < 0.05, "width %f", hi - lo);
    /* deterministic in the seed */
    SA_REQUIRE_OK(t, sa_bootstrap_ci(v, N, 2000, 11, 0.05, &lo2, &hi2, &err), &err);
    SA_CHECK(t, lo == lo2 && hi == hi2);
    /* weights of 1 give the plain mean's interval */
    static double w[N];
    for (size_t i = 0; i < N; i++) w[i] = 1;
    SA_REQUIRE_OK(t, sa_bootstrap_ci_weighted(v, w, N, 2000, 11, 0.05, &lo2, &hi2, &err), &err);
    SA_CHECKF(t, fabs(lo - lo2) < 1e-12 && fabs(hi - hi2) < 1e-12, "[%f, %f] vs [%f, %f]", lo, hi, lo2, hi2);
    /* a ratio: per-item means 1 (weight 3) and 0 (weight 1) -> 0.75 */
    double rv[400], rw[400];
    for (int i = 0; i < 400; i++) {
        rv[i] = i % 2 ? 1 : 0;
        rw[i] = i % 2 ? 3 : 1;
    }
    SA_REQUIRE_OK(t, sa_bootstrap_ci_weighted(rv, rw, 400, 1000, 3, 0.05, &lo2, &hi2, &err), &err);
    SA_CHECKF(t, lo2 < 0.75 && 0.75 < hi2 && hi2 - lo2 < 0.15, "ratio interval [%f, %f]", lo2, hi2);
    /* one value: a point */
    double one = 3.5;
    SA_REQUIRE_OK(t, sa_bootstrap_ci(&one, 1, 100, 1, 0.05, &lo2, &hi2, &err), &err);
    SA_CHECK(t, lo2 == 3.5 && hi2 == 3.5);
    /* bad arguments */
    SA_CHECK(t, sa_bootstrap_ci(v, 0, 100, 1, 0.05, &lo, &hi, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_bootstrap_ci(v, N, 0, 1, 0.05, &lo, &hi, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_bootstrap_ci(v, N, 100, 1, 1.0, &lo, &hi, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_bootstrap_ci(v, N, 100, 1, 0, &lo, &hi, &err) == SA_ERR_INVALID_ARG);
    rw[0] = -1;
    SA_CHECK(t, sa_bootstrap_ci_weighted(rv, rw, 400, 100, 1, 0.05, &lo, &hi, &err) == SA_ERR_INVALID_ARG);
}

static void test_bootstrap_coverage(sa_test *t) {
    enum { EXPERIMENTS = 200, N = 100 };
    double v[N];
    sa_rng r;
    sa_rng_init(&r, 2024);
    int covered = 0, half_covered = 0;
    sa_err err = {0};
    for (int e = 0; e < EXPERIMENTS; e++) {
        bernoulli(&r, 0.7, v, N);
        double lo, hi, mean = 0;
        SA_REQUIRE_OK(t, sa_bootstrap_ci(v, N, 1000, (uint64_t)e + 1, 0.05, &lo, &hi, &err), &err);
        for (int i = 0; i < N; i++) mean += v[i] / N;
        covered += lo <= 0.7 && 0.7 <= hi;
        /* a deliberately wrong interval: half the width around the estimate */
        double hl = mean - (mean - lo) / 2, hh = mean + (hi - mean) / 2;
        half_covered += hl <= 0.7 && 0.7 <= hh;
    }
    double cov = (double)covered / EXPERIMENTS, half = (double)half_covered / EXPERIMENTS;
    SA_CHECKF(t, cov >= 0.90 && cov <= 0.99, "coverage of the 95%% interval: %.3f", cov);
    SA_CHECKF(t, half < 0.90, "the half-width interval covers %.3f: the check could not catch a wrong interval", half);
}

/* ---- verdicts and combining ---------------------------------------------------------------- */

static void test_verdict_parse(sa_test *t) {
    static const struct {
        const char *text;
        int want; /* 0 none, 1 first (A), 2 second (B), 3 tie */
    } cases[] = {
        {"Verdict: A", 1},
        {"verdict: b", 2},
        {"Verdict: tie", 3},
        {"Verdict: TIE.", 3},
        {"Reply A is longer but B answers the question.\nVerdict: B", 2},
        {"**Verdict:** A", 1},
        {"**Verdict**: B", 2},
        {"Final verdict: [[A]]", 1},
        {"Verdict - A", 1},
        {"Verdict = B", 2},
        {"Verdict: Answer B", 2},
        {"Verdict: \"tie\"", 3},
        {"Verdict: A.", 1},
        {"Verdict: tie (both are fine)", 3},
        {"Verdict: B\r\n", 2},
        {"Verdict:A", 1},
        {"The format is Verdict: A, Verdict: B or Verdict: tie. Verdict: B", 2}, /* the last wins */
        {"Verdict: A\nOn second thought, Verdict: B", 2},
        {"Verdict: B\nVerdict: maybe", 2}, /* a bad later one does not erase a good one */
        /* hostile or unparsable */
        {"Verdict: AB", 0},
        {"Verdict: A or B", 0},
        {"Verdict: C", 0},
        {"Verdict: A because it is longer", 0},
        {"Verdict: tied", 0},
        {"Verdict: both", 0},
        {"Verdict:", 0},
        {"Verdict", 0},
        {"", 0},
        {"A", 0},
        {"The answer is A.", 0},
        {"Verdicts: A", 0},
        {"nonverdict: A", 0},
        {"Verdict: \xff\xfe A", 0},
        {"Verdict: </s> A", 0},
        {"Verdict:\nA", 0}, /* the value must be on the verdict's line */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sa_verdict v = SA_VERDICT_NONE;
        bool ok = sa_verdict_parse(cases[i].text, strlen(cases[i].text), &v);
        if (cases[i].want) SA_CHECKF(t, ok && (int)v == cases[i].want, "\"%s\": got %d (ok %d), want %d", cases[i].text, (int)v, ok, cases[i].want);
        else SA_CHECKF(t, !ok, "\"%s\": parsed %d, want unparsable", cases[i].text, (int)v);
    }
    SA_CHECK(t, !sa_verdict_parse(NULL, 0, NULL));
    sa_verdict v;
    SA_CHECK(t, !sa_verdict_parse("Verdict: A", 9, &v)); /* length is respected */
    /* an embedded NUL does not end the scan early or read past len */
    const char nul[] = "x\0 Verdict: B";
    SA_CHECK(t, sa_verdict_parse(nul, sizeof nul - 1, &v) && v == SA_VERDICT_SECOND);
    /* long hostile input: many verdict words, none valid, then a valid one */
    sa_strbuf b = {0};
    for (int i = 0; i < 20000; i++) sa_strbuf_puts(&b, "verdict verdict: Z ");
    sa_strbuf_puts(&b, "\nVerdict: tie");
    SA_CHECK(t, sa_verdict_parse(b.buf, b.len, &v) && v == SA_VERDICT_TIE);
    sa_strbuf_free(&b);
    SA_CHECK_STR(t, sa_verdict_label(SA_VERDICT_FIRST), "A");
    SA_CHECK(t, sa_verdict_label(SA_VERDICT_NONE) == NULL);
}

static void test_combine(sa_test *t) {
    const sa_verdict F = SA_VERDICT_FIRST, S = SA_VERDICT_SECOND, T = SA_VERDICT_TIE, N = SA_VERDICT_NONE;
    /* (AB, BA) -> outcome for A. In BA, FIRST is model B. */
    SA_CHECK(t, sa_pairwise_combine(F, S) == SA_PAIR_WIN);  /* A preferred in both orders */
    SA_CHECK(t, sa_pairwise_combine(S, F) == SA_PAIR_LOSS); /* B preferred in both */
    SA_CHECK(t, sa_pairwise_combine(F, F) == SA_PAIR_TIE);  /* first shown both times: split */
    SA_CHECK(t, sa_pairwise_combine(S, S) == SA_PAIR_TIE);  /* second shown both times: split */
    SA_CHECK(t, sa_pairwise_combine(T, T) == SA_PAIR_TIE);
    SA_CHECK(t, sa_pairwise_combine(F, T) == SA_PAIR_WIN);
    SA_CHECK(t, sa_pairwise_combine(T, S) == SA_PAIR_WIN);
    SA_CHECK(t, sa_pairwise_combine(S, T) == SA_PAIR_LOSS);
    SA_CHECK(t, sa_pairwise_combine(T, F) == SA_PAIR_LOSS);
    SA_CHECK(t, sa_pairwise_combine(N, S) == SA_PAIR_UNPARSABLE);
    SA_CHECK(t, sa_pairwise_combine(F, N) == SA_PAIR_UNPARSABLE);
    SA_CHECK(t, sa_pairwise_combine((sa_verdict)99, F) == SA_PAIR_UNPARSABLE);
    SA_CHECK_STR(t, sa_pair_outcome_name(SA_PAIR_WIN), "win");
    /* counts and exact values on a small array */
    sa_verdict_pair v[] = {{F, S}, {F, F}, {S, F}, {T, T}, {N, F}};
    sa_pairwise_summary s;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_pairwise_summarize(v, 5, 1000, 1, 0.05, &s, &err), &err);
    SA_CHECK_EQ_INT(t, s.wins, 1);
    SA_CHECK_EQ_INT(t, s.ties, 2);
    SA_CHECK_EQ_INT(t, s.losses, 1);
    SA_CHECK_EQ_INT(t, s.unparsable, 1);
    SA_CHECK(t, fabs(s.win_rate - 0.5) < 1e-12);
    /* judged items: (F,S) 0, (F,F) +1, (S,F) 0, (T,T) 0 -> 1/4 */
    SA_CHECK(t, fabs(s.order_bias - 0.25) < 1e-12);
    SA_CHECK(t, s.win_rate_lo <= s.win_rate && s.win_rate <= s.win_rate_hi);
    /* nothing judged: NaN rates */
    sa_verdict_pair nv[] = {{N, N}};
    SA_REQUIRE_OK(t, sa_pairwise_summarize(nv, 1, 1000, 1, 0.05, &s, &err), &err);
    SA_CHECK(t, s.unparsable == 1 && isnan(s.win_rate) && isnan(s.order_bias));
}

/* A fake judge: picks the first-shown answer with probability q regardless
 * of content, otherwise tells the truth. truth: +1 A better, -1 B better, 0 tie. */
static sa_verdict fake_judge(sa_rng *r, double q, int truth, bool a_first) {
    if (sa_rng_double(r) < q) return SA_VERDICT_FIRST;
    if (truth == 0) return SA_VERDICT_TIE;
    bool first_better = (truth > 0) == a_first;
    return first_better ? SA_VERDICT_FIRST : SA_VERDICT_SECOND;
}

static void simulate(sa_test *t, double w, double l, double q, uint64_t seed, sa_pairwise_summary *s) {
    enum { N = 1000 };
    static sa_verdict_pair v[N];
    sa_rng r;
    sa_rng_init(&r, seed);
    for (int i = 0; i < N; i++) {
        double u = sa_rng_double(&r);
        int truth = u < w ? 1 : u < w + l ? -1 : 0;
        v[i].ab = fake_judge(&r, q, truth, true);
        v[i].ba = fake_judge(&r, q, truth, false);
    }
    sa_err err = {0};
    SA_CHECK_OK(t, sa_pairwise_summarize(v, N, 2000, seed, 0.05, s, &err), &err);
}

static void test_pairwise_fake_judge(sa_test *t) {
    sa_pairwise_summary s;
    /* 1. An unbiased judge: the combined win rate estimates the truth
     * T = w + t/2 = 0.5 + 0.1 = 0.6 and there is no order bias. */
    simulate(t, 0.5, 0.3, 0.0, 1, &s);
    SA_CHECKF(t, s.win_rate_lo < 0.6 && 0.6 < s.win_rate_hi, "q 0: win rate %.3f [%.3f, %.3f], truth 0.6", s.win_rate,
              s.win_rate_lo, s.win_rate_hi);
    SA_CHECKF(t, s.order_bias_lo <= 0 && 0 <= s.order_bias_hi, "q 0: order bias %.3f [%.3f, %.3f]", s.order_bias,
              s.order_bias_lo, s.order_bias_hi);
    SA_CHECK_EQ_INT(t, s.wins + s.ties + s.losses + s.unparsable, 1000);

    /* 2. Position bias q = 0.3, same truth. The order bias estimates q; the
     * combined win rate estimates 0.5 + (1 - q)(T - 0.5) = 0.57 (the truth's
     * side of 0.5, shrunk by the judge's reliability), and dividing the
     * shrinkage out recovers T; the single order is off by
     * q (t/2 + l) = +0.09 and its interval misses T. */
    simulate(t, 0.5, 0.3, 0.3, 2, &s);
    SA_CHECKF(t, s.order_bias_lo < 0.3 && 0.3 < s.order_bias_hi, "q 0.3: order bias %.3f [%.3f, %.3f]", s.order_bias,
              s.order_bias_lo, s.order_bias_hi);
    SA_CHECKF(t, s.win_rate_lo < 0.57 && 0.57 < s.win_rate_hi, "q 0.3: win rate %.3f [%.3f, %.3f], expected 0.57",
              s.win_rate, s.win_rate_lo, s.win_rate_hi);
    double debiased = 0.5 + (s.win_rate - 0.5) / (1 - s.order_bias);
    SA_CHECKF(t, fabs(debiased - 0.6) < 0.04, "q 0.3: de-shrunk win rate %.3f, truth 0.6", debiased);
    SA_CHECKF(t, s.single_lo > 0.6, "q 0.3: single-order win rate %.3f [%.3f, %.3f] should miss the truth 0.6 (biased "
              "to about 0.69)", s.single_win_rate, s.single_lo, s.single_hi);

    /* 3. The bias flips a single-order conclusion: B is better (T = 0.4),
     * q = 0.4. Single order: 0.4 + 0.4 (0.1 + 0.5) = 0.64, "A wins".
     * Both orders: 0.5 + 0.6 (-0.1) = 0.44, "B wins", as it should. */
    simulate(t, 0.3, 0.5, 0.4, 3, &s);
    SA_CHECKF(t, s.win_rate_hi < 0.5, "flip: combined %.3f [%.3f, %.3f] should be below 0.5", s.win_rate, s.win_rate_lo,
              s.win_rate_hi);
    SA_CHECKF(t, s.win_rate_lo < 0.44 && 0.44 < s.win_rate_hi, "flip: combined %.3f [%.3f, %.3f], expected 0.44",
              s.win_rate, s.win_rate_lo, s.win_rate_hi);
    SA_CHECKF(t, s.single_lo > 0.5, "flip: single order %.3f [%.3f, %.3f] (expected about 0.64)", s.single_win_rate,
              s.single_lo, s.single_hi);
    SA_CHECKF(t, s.order_bias_lo < 0.4 && 0.4 < s.order_bias_hi, "flip: order bias %.3f [%.3f, %.3f]", s.order_bias,
              s.order_bias_lo, s.order_bias_hi);
}

/* ---- answers ------------------------------------------------------------------------------ */

static void test_answer_match(sa_test *t) {
    sa_strbuf b = {0};
    SA_CHECK_OK(t, sa_eval_normalize("  \"Hello,   World!\"\n\t", &b), NULL);
    SA_CHECK_STR(t, sa_strbuf_cstr(&b), "hello, world");
    sa_strbuf_reset(&b);
    SA_CHECK_OK(t, sa_eval_normalize("...", &b), NULL);
    SA_CHECK_STR(t, sa_strbuf_cstr(&b), "");
    sa_strbuf_free(&b);
    const char *paris[] = {"Paris."};
    SA_CHECK(t, sa_eval_answer_match("The capital is PARIS!", paris, 1));
    SA_CHECK(t, !sa_eval_answer_match("Parisian food", paris, 1));
    const char *four[] = {"4"};
    SA_CHECK(t, sa_eval_answer_match("2 + 2 = 4.", four, 1));
    SA_CHECK(t, !sa_eval_answer_match("42", four, 1));
    SA_CHECK(t, sa_eval_answer_match("3.4", four, 1)); /* "4" after '.' is a whole word */
    const char *ny[] = {"nothing", "New  York"};
    SA_CHECK(t, sa_eval_answer_match("She lives in new\nyork city.", ny, 2));
    SA_CHECK(t, !sa_eval_answer_match("newyork", ny, 2));
    const char *cafe[] = {"caf"};
    SA_CHECK(t, !sa_eval_answer_match("un caf\xc3\xa9", cafe, 1)); /* non-ASCII bytes are word characters */
    SA_CHECK(t, !sa_eval_answer_match("", paris, 1));
    SA_CHECK(t, !sa_eval_answer_match("anything", paris, 0));
}

/* ---- eval sets ------------------------------------------------------------------------------ */

typedef struct bad_log {
    int n;
    uint64_t line[16];
    char reason[16][200];
} bad_log;

static void log_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    bad_log *b = ctx;
    (void)path;
    if (b->n < 16) {
        b->line[b->n] = line;
        snprintf(b->reason[b->n], sizeof b->reason[0], "%s", reason);
    }
    b->n++;
}

static const char *put(sa_test *t, const char *name, const char *text) {
    const char *p = sa_test_tmpfile(t, name);
    sa_test_write_file(t, p, text, strlen(text));
    return p;
}

static bool load(sa_test *t, const char *path, sa_eval_format f, sa_eval_set *s, bad_log *bl) {
    memset(bl, 0, sizeof *bl);
    sa_eval_set_opts o = {.format = f, .on_bad = log_bad, .ctx = bl};
    sa_err err = {0};
    sa_status st = sa_eval_set_load(s, path, &o, &err);
    if (st) sa_test_fail(t, __FILE__, __LINE__, "%s: %s", path, err.msg);
    return st == SA_OK;
}

static bool has_bad(const bad_log *b, uint64_t line, const char *needle) {
    for (int i = 0; i < b->n && i < 16; i++)
        if (b->line[i] == line && strstr(b->reason[i], needle)) return true;
    return false;
}

static void test_set_formats(sa_test *t) {
    sa_eval_set s;
    bad_log bl;
    /* MT-bench (first turn only, reference[0]) and the older Vicuna form */
    const char *mt = put(t, "question.jsonl",
                         "{\"question_id\": 81, \"category\": \"writing\", \"turns\": [\"Write a travel blog post.\", "
                         "\"Rewrite it.\"]}\n"
                         "{\"question_id\": 111, \"category\": \"math\", \"turns\": [\"What is 2+2?\", \"And 3+3?\"], "
                         "\"reference\": [\"4\", \"6\"]}\n"
                         "{\"question_id\": 112, \"turns\": []}\n"
                         "{\"question_id\": 113, \"turns\": [5]}\n"
                         "{\"question_id\": 81, \"turns\": [\"again\"]}\n"
                         "{\"question_id\": 1, \"text\": \"How can I sleep better?\", \"category\": \"generic\"}\n"
                         "{\"question_id\": 2, \"turns\": \"not a list\"}\n");
    if (load(t, mt, SA_EVAL_FORMAT_AUTO, &s, &bl)) {
        SA_CHECK(t, s.format == SA_EVAL_FORMAT_MT_BENCH);
        SA_CHECK_EQ_INT(t, s.n, 3);
        SA_CHECK_EQ_INT(t, s.bad, 4);
        SA_CHECK_STR(t, s.items[0].id, "81");
        SA_CHECK_STR(t, s.items[0].prompt, "Write a travel blog post.");
        SA_CHECK(t, s.items[0].reference == NULL);
        SA_CHECK_STR(t, s.items[1].reference, "4");
        SA_CHECK_STR(t, s.items[2].prompt, "How can I sleep better?");
        SA_CHECK(t, has_bad(&bl, 3, "empty"));
        SA_CHECK(t, has_bad(&bl, 4, "turns[0]"));
        SA_CHECK(t, has_bad(&bl, 5, "duplicate id \"81\" (first at line 1)"));
        SA_CHECK(t, has_bad(&bl, 7, "turns"));
        SA_CHECK_EQ_INT(t, s.n_reference, 1);
        sa_eval_set_free(&s);
    }
    /* Koala */
    const char *ko = put(t, "koala.jsonl",
                         "{\"id\": \"koala_1\", \"prompt\": \"Plan a birthday party.\"}\n"
                         "{\"id\": \"koala_2\"}\n"
                         "{\"id\": \"koala_3\", \"prompt\": \"   \"}\n"
                         "\n"
                         "{\"id\": \"koala_4\", \"prompt\": \"Hi </s> [INST] <|im_end|>\"}\n"
                         "[1, 2]\n"
                         "{\"id\": [\"x\"], \"prompt\": \"list id\"}\n"
                         "{\"id\": \"koala_5\", \"prompt\": \"torn");
    if (load(t, ko, SA_EVAL_FORMAT_AUTO, &s, &bl)) {
        SA_CHECK(t, s.format == SA_EVAL_FORMAT_KOALA);
        SA_CHECK_EQ_INT(t, s.n, 2);
        SA_CHECK_EQ_INT(t, s.bad, 5);
        SA_CHECK_STR(t, s.items[1].prompt, "Hi </s> [INST] <|im_end|>");
        SA_CHECK_EQ_INT(t, s.items[1].line, 5);
        SA_CHECK(t, has_bad(&bl, 2, "no \"prompt\""));
        SA_CHECK(t, has_bad(&bl, 3, "empty prompt"));
        SA_CHECK(t, has_bad(&bl, 6, "object"));
        SA_CHECK(t, has_bad(&bl, 7, "\"id\""));
        SA_CHECK_EQ_INT(t, bl.n, 5); /* the torn last line too */
        sa_eval_set_free(&s);
    }
    /* self-instruct user-oriented: instruction + input, output as reference */
    const char *si = put(t, "user_oriented.jsonl",
                         "{\"id\": \"user_oriented_task_0\", \"motivation_app\": \"Grammarly\", \"instruction\": \"Fix "
                         "the grammar.\", \"instances\": [{\"input\": \"i has a apple\", \"output\": \"I have an "
                         "apple.\"}]}\n"
                         "{\"id\": \"user_oriented_task_1\", \"user_oriented\": true, \"instruction\": \"Name a "
                         "color.\", \"instances\": [{\"input\": \"\", \"output\": \"Blue.\"}, {\"input\": \"x\", "
                         "\"output\": \"y\"}]}\n"
                         "{\"id\": \"user_oriented_task_2\", \"instruction\": \"Bad.\", \"instances\": \"x\"}\n"
                         "{\"id\": \"user_oriented_task_3\", \"instruction\": 7, \"instances\": []}\n");
    if (load(t, si, SA_EVAL_FORMAT_AUTO, &s, &bl)) {
        SA_CHECK(t, s.format == SA_EVAL_FORMAT_SELF_INSTRUCT);
        SA_CHECK_EQ_INT(t, s.n, 2);
        SA_CHECK_STR(t, s.items[0].prompt, "Fix the grammar.\n\ni has a apple");
        SA_CHECK_STR(t, s.items[0].reference, "I have an apple.");
        SA_CHECK_STR(t, s.items[1].prompt, "Name a color.");
        SA_CHECK_STR(t, s.items[1].reference, "Blue.");
        SA_CHECK(t, has_bad(&bl, 3, "instances"));
        SA_CHECK(t, has_bad(&bl, 4, "instruction"));
        sa_eval_set_free(&s);
    }
    /* Alpaca, as a JSON array: ids computed from the content */
    const char *al = put(t, "alpaca.json",
                         "[\n{\"instruction\": \"Give a synonym.\", \"input\": \"happy\", \"output\": \"glad\"},\n"
                         "{\"instruction\": \"No output here.\"},\n"
                         "{\"instruction\": \"Say hi.\", \"input\": \"\", \"output\": \"Hi!\"}\n]\n");
    if (load(t, al, SA_EVAL_FORMAT_AUTO, &s, &bl)) {
        SA_CHECK(t, s.format == SA_EVAL_FORMAT_RECORDS);
        SA_CHECK_EQ_INT(t, s.n, 2);
        SA_CHECK_EQ_INT(t, s.bad, 1);
        SA_CHECK_STR(t, s.items[0].prompt, "Give a synonym.\n\nhappy");
        SA_CHECK_STR(t, s.items[0].reference, "glad");
        SA_CHECK(t, s.items[0].id && strlen(s.items[0].id) == 16);
        SA_CHECK_EQ_INT(t, bl.n, 1);
        SA_CHECK(t, bl.n >= 1 && bl.line[0] == 3 && strstr(bl.reason[0], "index 1") != NULL);
        sa_eval_set_free(&s);
    }
    /* our records */
    const char *ours = put(t, "records.jsonl",
                           "{\"id\": \"00000000000000aa\", \"instruction\": \"Count to three.\", \"output\": \"1, 2, "
                           "3.\", \"source\": \"seed\"}\n"
                           "{\"instruction\": \"Typo key.\", \"output\": \"x\", \"sourse\": \"seed\"}\n");
    if (load(t, ours, SA_EVAL_FORMAT_AUTO, &s, &bl)) {
        SA_CHECK(t, s.format == SA_EVAL_FORMAT_RECORDS);
        SA_CHECK_EQ_INT(t, s.n, 1);
        SA_CHECK_STR(t, s.items[0].id, "00000000000000aa");
        SA_CHECK_EQ_INT(t, s.bad, 1);
        SA_CHECK(t, has_bad(&bl, 2, "sourse"));
        sa_eval_set_free(&s);
    }
    /* the task format */
    const char *task = put(t, "task.jsonl",
                           "{\"id\": \"q1\", \"prompt\": \"Capital of France?\", \"answer\": \"Paris\", \"chance\": 0.25}\n"
                           "{\"id\": \"q2\", \"prompt\": \"2+2?\", \"answer\": [\"4\", \"four\"]}\n"
                           "{\"id\": \"q3\", \"prompt\": \"x\", \"answer\": \"...\"}\n"
                           "{\"id\": \"q4\", \"prompt\": \"x\", \"answer\": \"y\", \"chance\": 2}\n"
                           "{\"id\": \"q5\", \"prompt\": \"x\", \"answer\": 5}\n"
                           "{\"id\": \"q6\", \"prompt\": \"x\", \"answer\": []}\n"
                           "{\"id\": \"q7\", \"prompt\": \"x\", \"answer\": [\"ok\", null]}\n"
                           "{\"id\": 8, \"prompt\": \"Numeric id.\", \"answer\": \"ok\"}\n"
                           "{\"prompt\": \"No id.\", \"answer\": \"ok\"}\n");
    if (load(t, task, SA_EVAL_FORMAT_AUTO, &s, &bl)) {
        SA_CHECK(t, s.format == SA_EVAL_FORMAT_TASK);
        SA_CHECK_EQ_INT(t, s.n, 4);
        SA_CHECK_EQ_INT(t, s.bad, 5);
        SA_CHECK(t, s.items[0].has_chance && s.items[0].chance == 0.25);
        SA_CHECK(t, !s.items[1].has_chance && s.items[1].n_answers == 2);
        SA_CHECK_STR(t, s.items[2].id, "8");
        SA_CHECK_STR(t, s.items[3].id, "line9");
        SA_CHECK(t, has_bad(&bl, 3, "empty after normalisation"));
        SA_CHECK(t, has_bad(&bl, 4, "outside [0, 1]"));
        SA_CHECK(t, has_bad(&bl, 5, "answer"));
        SA_CHECK(t, has_bad(&bl, 6, "empty array"));
        SA_CHECK(t, has_bad(&bl, 7, "answer[1]"));
        sa_eval_set_free(&s);
    }
    /* limit, a forced format, fail_on_bad, an unknown shape, an empty set */
    sa_err err = {0};
    sa_eval_set_opts o = {.limit = 1};
    SA_CHECK_OK(t, sa_eval_set_load(&s, task, &o, &err), &err);
    SA_CHECK_EQ_INT(t, s.n, 1);
    sa_eval_set_free(&s);
    o = (sa_eval_set_opts){.format = SA_EVAL_FORMAT_KOALA}; /* read a task file as bare prompts */
    SA_CHECK_OK(t, sa_eval_set_load(&s, task, &o, &err), &err);
    SA_CHECK(t, s.n == 9 && s.n_answers == 0); /* every line has an id and a prompt */
    sa_eval_set_free(&s);
    o = (sa_eval_set_opts){.fail_on_bad = true};
    SA_CHECK(t, sa_eval_set_load(&s, task, &o, &err) == SA_ERR_FORMAT);
    SA_CHECKF(t, strstr(err.msg, "task.jsonl:3: ") != NULL, "%s", err.msg);
    const char *odd = put(t, "odd.jsonl", "{\"foo\": 1}\n");
    SA_CHECK(t, sa_eval_set_load(&s, odd, NULL, &err) != SA_OK);
    SA_CHECKF(t, strstr(err.msg, "odd.jsonl:1: ") != NULL, "%s", err.msg);
    const char *empty = put(t, "empty.jsonl", "\n\nnot json\n");
    SA_CHECK(t, sa_eval_set_load(&s, empty, NULL, &err) == SA_ERR_FORMAT);
    SA_CHECK(t, s.bad == 1);
    SA_CHECK(t, sa_eval_set_load(&s, sa_test_tmpfile(t, "missing.jsonl"), NULL, &err) == SA_ERR_IO);
    sa_eval_format f;
    SA_CHECK(t, sa_eval_format_parse("mt-bench", &f, &err) == SA_OK && f == SA_EVAL_FORMAT_MT_BENCH);
    SA_CHECK(t, sa_eval_format_parse("vicuna", &f, &err) == SA_ERR_INVALID_ARG);
}

static void test_set_real_self_instruct(sa_test *t) {
    const char *p = sa_test_data(t, "instructions/self-instruct_seed_tasks.jsonl");
    if (!p) return;
    sa_eval_set s;
    bad_log bl;
    if (!load(t, p, SA_EVAL_FORMAT_AUTO, &s, &bl)) return;
    SA_CHECK(t, s.format == SA_EVAL_FORMAT_SELF_INSTRUCT);
    SA_CHECK_EQ_INT(t, s.n, 175);
    SA_CHECK_EQ_INT(t, s.bad, 0);
    SA_CHECK_STR(t, s.items[0].id, "seed_task_0");
    SA_CHECK(t, strncmp(s.items[0].prompt, "Is there anything I can eat for a breakfast", 43) == 0);
    SA_CHECK(t, s.n_reference >= 170);
    size_t with_input = 0;
    for (size_t i = 0; i < s.n; i++) with_input += strstr(s.items[i].prompt, "\n\n") != NULL;
    SA_CHECKF(t, with_input > 20, "%zu prompts carry an input", with_input);
    sa_eval_set_free(&s);
}

/* ---- end to end on stories260K ------------------------------------------------------------------ */

typedef struct e2e {
    const char *model, *tok, *prompts, *set, *task;
    char model2[1200];
} e2e;

/* stories260K: a 512-token context and a 512-piece vocabulary; the judge
 * prompt is replaced with a short one. */
static bool e2e_setup(sa_test *t, e2e *f) {
    memset(f, 0, sizeof *f);
    const char *m = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    const char *k = m ? sa_test_data(t, "models/llama2c-stories260K/tok512.bin") : NULL;
    if (!m || !k || !bin_path(t)) return false;
    f->model = m;
    f->tok = k;
    /* the same file under another name ("dir/./file"): a second engine, loaded separately */
    const char *sl = strrchr(m, '/');
    if (!sl) return false;
    snprintf(f->model2, sizeof f->model2, "%.*s/.%s", (int)(sl - m), m, sl);
    f->prompts = sa_test_tmpfile(t, "prompts");
    mkdir(f->prompts, 0777);
    char jp[1200];
    snprintf(jp, sizeof jp, "%s/judge_pairwise.txt", f->prompts);
    const char *judge = "Which reply is better?\nQuestion: {{question}}\nReply A: {{answer_a}}\nReply B: {{answer_b}}\n"
                        "End with Verdict: A, Verdict: B or Verdict: tie.\n";
    sa_test_write_file(t, jp, judge, strlen(judge));
    f->set = put(t, "e2e_set.jsonl",
                 "{\"instruction\": \"Tell me a story about a cat.\", \"output\": \"Once upon a time there was a cat.\"}\n"
                 "{\"instruction\": \"What did Lily find?\", \"output\": \"Lily found a big red ball.\"}\n"
                 "{\"instruction\": \"Write about a dog </s> [INST]\", \"output\": \"The dog ran fast. <|im_end|>\"}\n"
                 "{\"instruction\": \"Who is Ben?\", \"output\": \"Ben is a boy who likes to play.\"}\n"
                 "this line is not JSON\n");
    f->task = put(t, "e2e_task.jsonl",
                  "{\"id\": \"t1\", \"prompt\": \"Once upon a time\", \"answer\": [\"the\", \"a\"], \"chance\": 0.5}\n"
                  "{\"id\": \"t2\", \"prompt\": \"Lily and Tom\", \"answer\": \"zebra\", \"chance\": 0.5}\n"
                  "{\"id\": \"t3\", \"prompt\": \"The sun\", \"answer\": \"was\", \"chance\": 0.5}\n");
    return true;
}

static json_t *load_json(sa_test *t, const char *path) {
    json_t *j = NULL;
    sa_err err = {0};
    if (sa_json_load_file(path, 1 << 20, &j, &err)) sa_test_fail(t, __FILE__, __LINE__, "%s", err.msg);
    return j;
}

static long jint(json_t *j, const char *k) { return (long)json_integer_value(json_object_get(j, k)); }

/* Lines of the items file beside out, each parsed; returns the count. */
static int items_lines(sa_test *t, const char *out) {
    sa_strbuf ip = {0}, data = {0};
    sa_eval_items_path(out, &ip);
    slurp(sa_strbuf_cstr(&ip), &data);
    int n = 0;
    const char *p = sa_strbuf_cstr(&data);
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e) {
            sa_test_fail(t, __FILE__, __LINE__, "%s: last line has no newline", sa_strbuf_cstr(&ip));
            break;
        }
        json_t *o = NULL;
        sa_err err = {0};
        if (sa_json_parse(p, (size_t)(e - p), "items", &o, &err) || !json_object_get(o, "id") ||
            !json_object_get(o, "prompt"))
            sa_test_fail(t, __FILE__, __LINE__, "%s line %d: %s", sa_strbuf_cstr(&ip), n + 1, err.msg);
        json_decref(o);
        n++;
        p = e + 1;
    }
    sa_strbuf_free(&ip);
    sa_strbuf_free(&data);
    return n;
}

static void test_e2e_pairwise(sa_test *t) {
    e2e f;
    if (!e2e_setup(t, &f)) return;
    for (int mode = 0; mode < 2; mode++) {
        const char *out = sa_test_tmpfile(t, mode ? "eval/pw_logits.json" : "eval/pw_generate.json");
        run_result r;
        /* A = the model, B = the same file loaded again, judge = the model */
        if (!run(t, &r, NULL, "eval", "--pairwise", "--a", f.model, "--b", f.model2, "--judge", f.model, "--tokenizer",
                 f.tok, "--set", f.set, "--out", out, "--judge-mode", mode ? "logits" : "generate", "--max-tokens",
                 "16", "--judge-max-tokens", "16", "--threads", "1", "--batch", "4", "--prompts", f.prompts, NULL))
            return;
        SA_CHECKF(t, r.rc == 0, "rc %d: %s", r.rc, ERR(r));
        CHECK_HAS(t, OUT(r), " vs ");
        CHECK_HAS(t, OUT(r), "win rate");
        CHECK_HAS(t, ERR(r), "e2e_set.jsonl:5: "); /* the bad line, reported */
        json_t *j = load_json(t, out);
        if (j) {
            SA_CHECK_STR(t, json_string_value(json_object_get(j, "kind")), "pairwise");
            SA_CHECK_STR(t, json_string_value(json_object_get(j, "judge_mode")), mode ? "logits" : "generate");
            SA_CHECK_EQ_INT(t, jint(j, "n"), 4);
            SA_CHECK_EQ_INT(t, jint(j, "bad_lines"), 1);
            SA_CHECK_EQ_INT(t, jint(j, "wins") + jint(j, "ties") + jint(j, "losses") + jint(j, "unparsable"), 4);
            SA_CHECK(t, json_is_array(json_object_get(j, "win_rate_ci")));
            SA_CHECK(t, json_is_array(json_object_get(j, "order_bias_ci")));
            SA_CHECK(t, json_is_number(json_object_get(j, "seconds")));
            SA_CHECK(t, json_is_number(json_object_get(j, "prompts_per_s")));
            SA_CHECK_STR(t, json_string_value(json_object_get(j, "a")), f.model);
            if (mode == 1) {
                /* A against itself in logits mode: identical answers, so each
                 * order sees the same prompt and the orders cancel exactly */
                SA_CHECK_EQ_INT(t, jint(j, "unparsable"), 0);
                SA_CHECK_EQ_INT(t, jint(j, "ties"), 4);
                SA_CHECKF(t, json_real_value(json_object_get(j, "win_rate")) == 0.5, "win rate %g",
                          json_real_value(json_object_get(j, "win_rate")));
                json_t *ci = json_object_get(j, "win_rate_ci");
                SA_CHECK(t, json_real_value(json_array_get(ci, 0)) == 0.5 && json_real_value(json_array_get(ci, 1)) == 0.5);
            }
            json_decref(j);
        }
        SA_CHECK_EQ_INT(t, items_lines(t, out), 4);
        result_free(&r);
    }
}

static void test_e2e_nll_task(sa_test *t) {
    e2e f;
    if (!e2e_setup(t, &f)) return;
    const char *out = sa_test_tmpfile(t, "eval/nll.json");
    run_result r;
    if (!run(t, &r, NULL, "eval", "--nll", "--model", f.model, "--tokenizer", f.tok, "--set", f.set, "--out", out,
             "--threads", "1", "--quiet", NULL))
        return;
    SA_CHECKF(t, r.rc == 0, "rc %d: %s", r.rc, ERR(r));
    CHECK_HAS(t, OUT(r), "mean NLL");
    CHECK_HAS(t, ERR(r), "e2e_set.jsonl:5: "); /* bad lines are reported even with --quiet */
    SA_CHECKF(t, strstr(ERR(r), "eval: scoring") == NULL, "--quiet printed progress: %s", ERR(r));
    json_t *j = load_json(t, out);
    if (j) {
        SA_CHECK_STR(t, json_string_value(json_object_get(j, "kind")), "nll");
        SA_CHECK_EQ_INT(t, jint(j, "n") + jint(j, "errors") + jint(j, "no_reference"), 4);
        SA_CHECK_EQ_INT(t, jint(j, "n"), 4);
        double m = json_real_value(json_object_get(j, "mean_nll"));
        json_t *ci = json_object_get(j, "ci");
        SA_CHECKF(t, m > 0 && m < 20, "mean nll %g", m);
        SA_CHECK(t, json_real_value(json_array_get(ci, 0)) <= m && m <= json_real_value(json_array_get(ci, 1)));
        SA_CHECK(t, jint(j, "tokens") > 10);
        json_decref(j);
    }
    SA_CHECK_EQ_INT(t, items_lines(t, out), 4);
    result_free(&r);

    out = sa_test_tmpfile(t, "eval/task.json");
    if (!run(t, &r, NULL, "eval", "--task", "--model", f.model, "--tokenizer", f.tok, "--set", f.task, "--out", out,
             "--max-tokens", "24", "--threads", "1", "--quiet", NULL))
        return;
    SA_CHECKF(t, r.rc == 0, "rc %d: %s", r.rc, ERR(r));
    CHECK_HAS(t, OUT(r), "accuracy");
    j = load_json(t, out);
    if (j) {
        SA_CHECK_STR(t, json_string_value(json_object_get(j, "kind")), "task");
        SA_CHECK_EQ_INT(t, jint(j, "n"), 3);
        long c = jint(j, "correct");
        SA_CHECK(t, c >= 0 && c <= 3);
        SA_CHECK(t, fabs(json_real_value(json_object_get(j, "accuracy")) - c / 3.0) < 1e-12);
        SA_CHECK(t, json_real_value(json_object_get(j, "chance")) == 0.5);
        /* a story model continues "Once upon a time" with "the"/"a" somewhere */
        SA_CHECK(t, c >= 1);
        json_decref(j);
    }
    SA_CHECK_EQ_INT(t, items_lines(t, out), 3);
    result_free(&r);

    /* usage errors */
    if (!run(t, &r, NULL, "eval", "--set", f.set, "--out", out, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 2);
    result_free(&r);
    if (!run(t, &r, NULL, "eval", "--pairwise", "--a", f.model, "--b", f.model, "--set", f.set, "--out", out, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "--judge");
    result_free(&r);
    /* nll on a set without references is a runtime error, not a crash */
    if (!run(t, &r, NULL, "eval", "--nll", "--model", f.model, "--tokenizer", f.tok, "--set", f.task, "--out", out,
             "--threads", "1", "--quiet", NULL))
        return;
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "reference");
    result_free(&r);
}

static const sa_test_def k_tests[] = {
    {"bootstrap_known_mean", test_bootstrap_known_mean},
    {"bootstrap_coverage", test_bootstrap_coverage},
    {"verdict_parse", test_verdict_parse},
    {"combine", test_combine},
    {"pairwise_fake_judge", test_pairwise_fake_judge},
    {"answer_match", test_answer_match},
    {"set_formats", test_set_formats},
    {"set_real_self_instruct", test_set_real_self_instruct},
    {"e2e_pairwise", test_e2e_pairwise},
    {"e2e_nll_task", test_e2e_nll_task},
};

SA_TEST_MAIN(k_tests)
