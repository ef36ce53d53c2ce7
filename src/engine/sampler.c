/* sampler.c — next-token selection (see sampler.h). Works on a candidate
 * list so that top-k and top-p sort only what survives the cheaper cuts. */
#include "sa/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"

sa_sampling_params sa_sampling_default(void) {
    return (sa_sampling_params){.temperature = 0.7f, .top_k = 0, .top_p = 0.9f, .min_p = 0.0f,
                                .repetition_penalty = 1.0f, .repeat_last_n = 64};
}

sa_sampling_params sa_sampling_greedy(void) {
    sa_sampling_params p = sa_sampling_default();
    p.temperature = 0.0f;
    p.top_p = 1.0f;
    return p;
}

sa_status sa_sampling_validate(const sa_sampling_params *p, sa_err *err) {
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "temperature must be >= 0 (got %g)", (double)p->temperature);
    if (p->top_k < 0) return sa_err_set(err, SA_ERR_INVALID_ARG, "top_k must be >= 0 (got %d)", p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "top_p must be in (0, 1] (got %g)", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "min_p must be in [0, 1] (got %g)", (double)p->min_p);
    if (!(p->repetition_penalty > 0.0f) || !isfinite(p->repetition_penalty))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "repetition_penalty must be > 0 (got %g)",
                          (double)p->repetition_penalty);
    if (p->repeat_last_n < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "repeat_last_n must be >= 0 (got %d)", p->repeat_last_n);
    return SA_OK;
}

sa_status sa_sampler_init(sa_sampler *s, int32_t vocab, sa_err *err) {
    memset(s, 0, sizeof *s);
    if (vocab <= 0) return sa_err_set(err, SA_ERR_INVALID_ARG, "sampler: vocabulary size must be positive");
    s->probs = sa_malloc_array((size_t)vocab, sizeof(float));
    s->idx = sa_malloc_array((size_t)vocab, sizeof(int32_t));
    s->seen = sa_calloc((size_t)vocab, 1);
    if (!s->probs || !s->idx || !s->seen) {
        sa_sampler_free(s);
        return sa_err_set(err, SA_ERR_NOMEM, "sampler: out of memory for %d tokens", vocab);
    }
    s->vocab = vocab;
    return SA_OK;
}

void sa_sampler_free(sa_sampler *s) {
    free(s->probs);
    free(s->idx);
    free(s->seen);
    memset(s, 0, sizeof *s);
}

/* Descending by probability, ties by lower id (deterministic). */
static int cmp_desc(const void *a, const void *b, void *ctx) {
    const float *p = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (p[x] > p[y]) return -1;
    if (p[x] < p[y]) return 1;
    return (x > y) - (x < y);
}

int32_t sa_sampler_sample(sa_sampler *s, const sa_sampling_params *p, float *logits,
                          const int32_t *history, int32_t n_history, const int32_t *allowed,
                          int32_t n_allowed, sa_rng *rng) {
    const int32_t V = s->vocab;
    /* repetition penalty over the distinct recent tokens */
    if (p->repetition_penalty != 1.0f && history && n_history > 0) {
        int32_t start = p->repeat_last_n > 0 && n_history > p->repeat_last_n ? n_history - p->repeat_last_n : 0;
        for (int32_t i = start; i < n_history; i++) {
            int32_t t = history[i];
            if (t < 0 || t >= V || s->seen[t]) continue;
            s->seen[t] = 1;
            logits[t] = logits[t] > 0 ? logits[t] / p->repetition_penalty : logits[t] * p->repetition_penalty;
        }
        for (int32_t i = start; i < n_history; i++)
            if (history[i] >= 0 && history[i] < V) s->seen[history[i]] = 0;
    }
    /* candidates: all tokens, or the allowed ones */
    int32_t n = 0;
    if (n_allowed > 0) {
        for (int32_t i = 0; i < n_allowed; i++) {
            int32_t t = allowed[i];
            if (t < 0 || t >= V || s->seen[t]) continue;
            s->seen[t] = 1; /* dedupe */
            s->idx[n++] = t;
        }
        for (int32_t i = 0; i < n; i++) s->seen[s->idx[i]] = 0;
        if (n == 0) return -1;
    } else {
        for (int32_t i = 0; i < V; i++) s->idx[i] = i;
        n = V;
    }
    /* greedy: the highest logit, lowest id on ties */
    int32_t best = s->idx[0];
    for (int32_t i = 1; i < n; i++) {
        int32_t t = s->idx[i];
        if (logits[t] > logits[best] || (logits[t] == logits[best] && t < best)) best = t;
    }
    if (p->temperature <= 0.0f || n == 1) return best;
    /* softmax over candidates at temperature T, probabilities in s->probs[id] */
    float mx = logits[best], inv_t = 1.0f / p->temperature;
    double sum = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t t = s->idx[i];
        float e = expf((logits[t] - mx) * inv_t);
        s->probs[t] = e;
        sum += e;
    }
    for (int32_t i = 0; i < n; i++) s->probs[s->idx[i]] = (float)(s->probs[s->idx[i]] / sum);
    /* The mass top-p is measured against: 1, or the top-k set's mass when
     * top-k ran first (HF renormalises after each warper). */
    float pmax = s->probs[best];
    bool sorted = false;
    double mass = 1.0;
    if (p->top_k > 0 && p->top_k < n) {
        qsort_r(s->idx, (size_t)n, sizeof(int32_t), cmp_desc, s->probs);
        sorted = true;
        n = p->top_k;
        mass = 0;
        for (int32_t i = 0; i < n; i++) mass += s->probs[s->idx[i]];
    } else if (p->top_p < 1.0f && n > 1) {
        /* pre-cut before sorting: a token with p < (1 - top_p) / (n - 1)
         * can never be needed to reach top_p (all of them together hold
         * less than 1 - top_p), so drop them and sort only the rest */
        float cut = (1.0f - p->top_p) / (float)(n - 1);
        if (cut <= pmax) {
            int32_t m = 0;
            for (int32_t i = 0; i < n; i++)
                if (s->probs[s->idx[i]] >= cut) s->idx[m++] = s->idx[i];
            n = m;
        }
    }
    if (p->top_p < 1.0f) {
        if (!sorted) qsort_r(s->idx, (size_t)n, sizeof(int32_t), cmp_desc, s->probs);
        sorted = true;
        double cum = 0;
        int32_t m = 0;
        while (m < n) {
            cum += s->probs[s->idx[m++]];
            if (cum >= p->top_p * mass) break;
        }
        n = m;
    }
    if (p->min_p > 0) { /* relative to the best token, so independent of normalisation */
        float cut = p->min_p * pmax;
        int32_t m = 0;
        for (int32_t i = 0; i < n; i++)
            if (s->probs[s->idx[i]] >= cut) s->idx[m++] = s->idx[i];
        n = m; /* the best token always survives */
    }
    /* draw */
    double total = 0;
    for (int32_t i = 0; i < n; i++) total += s->probs[s->idx[i]];
    double r = sa_rng_double(rng) * total, acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += s->probs[s->idx[i]];
        if (r < acc) return s->idx[i];
    }
    return s->idx[n - 1]; /* rounding at the very end */
}
