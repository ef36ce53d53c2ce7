/* test_sampler.c — greedy, temperature, top-k, top-p, min-p, repetition
 * penalty, allowed-token constraint and determinism of the sampler. */
#include <math.h>

#include "sa/sampler.h"
#include "sa_test.h"

static void test_greedy_and_validation(sa_test *t) {
    sa_sampler s;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_sampler_init(&s, 5, &e), &e);
    sa_sampling_params g = sa_sampling_greedy();
    sa_rng rng;
    sa_rng_init(&rng, 1);
    float lg[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.0f};
    SA_CHECK_EQ_INT(t, sa_sampler_sample(&s, &g, lg, NULL, 0, NULL, 0, &rng), 1); /* tie: lower id */
    float lg2[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.0f};
    int32_t allowed[3] = {0, 4, 99};
    SA_CHECK_EQ_INT(t, sa_sampler_sample(&s, &g, lg2, NULL, 0, allowed, 3, &rng), 4);
    int32_t none[1] = {7};
    SA_CHECK_EQ_INT(t, sa_sampler_sample(&s, &g, lg2, NULL, 0, none, 1, &rng), -1);
    sa_sampling_params bad = g;
    bad.top_p = 0;
    SA_CHECK_EQ_INT(t, sa_sampling_validate(&bad, &e), SA_ERR_INVALID_ARG);
    SA_CHECK(t, strstr(e.msg, "top_p") != NULL);
    bad = g;
    bad.temperature = -1;
    SA_CHECK_EQ_INT(t, sa_sampling_validate(&bad, &e), SA_ERR_INVALID_ARG);
    SA_CHECK_OK(t, sa_sampling_validate(&g, &e), &e);
    sa_sampler_free(&s);
}

/* Draw many samples and compare frequencies with the expected distribution. */
static void frequencies(sa_sampler *s, const sa_sampling_params *p, const float *base, int32_t V, int n,
                        double *freq, uint64_t seed) {
    sa_rng rng;
    sa_rng_init(&rng, seed);
    float lg[16];
    for (int32_t v = 0; v < V; v++) freq[v] = 0;
    for (int i = 0; i < n; i++) {
        memcpy(lg, base, (size_t)V * sizeof(float));
        int32_t x = sa_sampler_sample(s, p, lg, NULL, 0, NULL, 0, &rng);
        freq[x] += 1.0 / n;
    }
}

static void test_distributions(sa_test *t) {
    sa_sampler s;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_sampler_init(&s, 4, &e), &e);
    const float base[4] = {2.0f, 1.0f, 0.0f, -1.0f};
    double freq[4], expect[4], z = 0;
    const int N = 40000;
    /* temperature 0.5: p ∝ exp(2 * logit) */
    sa_sampling_params p = {.temperature = 0.5f, .top_p = 1.0f, .repetition_penalty = 1.0f};
    for (int v = 0; v < 4; v++) z += expect[v] = exp(2.0 * base[v]);
    for (int v = 0; v < 4; v++) expect[v] /= z;
    frequencies(&s, &p, base, 4, N, freq, 7);
    /* 5 standard errors of a binomial proportion at N = 40000 is < 0.0125 */
    for (int v = 0; v < 4; v++) SA_CHECKF(t, fabs(freq[v] - expect[v]) < 0.0125, "T=0.5 token %d: %g vs %g", v, freq[v], expect[v]);
    /* top-k 2 at T=1: only the two best, renormalised */
    p = (sa_sampling_params){.temperature = 1.0f, .top_k = 2, .top_p = 1.0f, .repetition_penalty = 1.0f};
    frequencies(&s, &p, base, 4, N, freq, 8);
    double e0 = exp(2.0) / (exp(2.0) + exp(1.0));
    SA_CHECKF(t, fabs(freq[0] - e0) < 0.0125 && freq[2] == 0 && freq[3] == 0, "top-k: %g %g %g", freq[0], freq[2], freq[3]);
    /* top-p 0.7 at T=1: probabilities .644 .237 .087 .032 -> nucleus {0, 1} */
    p = (sa_sampling_params){.temperature = 1.0f, .top_p = 0.7f, .repetition_penalty = 1.0f};
    frequencies(&s, &p, base, 4, N, freq, 9);
    SA_CHECKF(t, freq[2] == 0 && freq[3] == 0 && fabs(freq[0] - e0) < 0.0125, "top-p: %g %g %g", freq[0], freq[2], freq[3]);
    /* top-p 0.6: the first token alone already covers it */
    p.top_p = 0.6f;
    frequencies(&s, &p, base, 4, 2000, freq, 10);
    SA_CHECK(t, freq[0] > 0.99999 && freq[1] == 0);
    /* min-p 0.3: keep p >= 0.3 * 0.644 = 0.193 -> {0, 1} */
    p = (sa_sampling_params){.temperature = 1.0f, .top_p = 1.0f, .min_p = 0.3f, .repetition_penalty = 1.0f};
    frequencies(&s, &p, base, 4, N, freq, 11);
    SA_CHECKF(t, freq[2] == 0 && freq[3] == 0 && freq[1] > 0.2, "min-p: %g %g", freq[1], freq[2]);
    sa_sampler_free(&s);
}

static void test_repetition_and_determinism(sa_test *t) {
    sa_sampler s;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_sampler_init(&s, 3, &e), &e);
    sa_sampling_params g = sa_sampling_greedy();
    g.repetition_penalty = 2.0f;
    sa_rng rng;
    sa_rng_init(&rng, 3);
    /* token 0 (logit 3) was just used: 3/2 = 1.5 < 2 -> token 1 wins */
    float lg[3] = {3.0f, 2.0f, -5.0f};
    int32_t hist[2] = {0, 0};
    SA_CHECK_EQ_INT(t, sa_sampler_sample(&s, &g, lg, hist, 2, NULL, 0, &rng), 1);
    SA_CHECK(t, lg[0] == 1.5f && lg[1] == 2.0f); /* penalised once, not per occurrence */
    /* negative logits are multiplied */
    float lg2[3] = {-1.0f, -1.5f, -5.0f};
    int32_t h2[1] = {0};
    SA_CHECK_EQ_INT(t, sa_sampler_sample(&s, &g, lg2, h2, 1, NULL, 0, &rng), 1);
    /* repeat_last_n limits the window */
    g.repeat_last_n = 1;
    float lg3[3] = {3.0f, 2.0f, -5.0f};
    int32_t h3[2] = {0, 2};
    SA_CHECK_EQ_INT(t, sa_sampler_sample(&s, &g, lg3, h3, 2, NULL, 0, &rng), 0);
    /* the same rng state gives the same draws */
    sa_sampling_params p = sa_sampling_default();
    sa_rng a, b;
    sa_rng_split(&a, 42, 7);
    sa_rng_split(&b, 42, 7);
    for (int i = 0; i < 100; i++) {
        float x[3] = {0.5f, 0.4f, 0.3f}, y[3] = {0.5f, 0.4f, 0.3f};
        SA_CHECK(t, sa_sampler_sample(&s, &p, x, NULL, 0, NULL, 0, &a) == sa_sampler_sample(&s, &p, y, NULL, 0, NULL, 0, &b));
    }
    sa_sampler_free(&s);
}

static const sa_test_def tests[] = {
    {"greedy_and_validation", test_greedy_and_validation},
    {"distributions", test_distributions},
    {"repetition_and_determinism", test_repetition_and_determinism},
};
SA_TEST_MAIN(tests)
