/* sampler.h — choosing the next token from logits.
 *
 * Purpose: greedy decoding and sampling with temperature, top-k, top-p
 * (nucleus), min-p and a repetition penalty, optionally restricted to an
 * allowed set of tokens (used to force a score digit). The random source is
 * an explicit sa_rng, which the engine derives from (run seed, request id),
 * so a request's tokens never depend on batch composition or threads.
 *
 * Order of operations (as in llama.cpp and HF transformers): repetition
 * penalty on the raw logits → allowed-token mask → greedy if temperature is
 * 0 → divide by temperature → softmax → top-k → top-p → min-p → renormalise
 * → draw one token.
 *
 * Ownership: sa_sampler holds vocab-sized scratch (no allocation per
 * step); one sampler per concurrently decoding sequence or thread.
 *
 * Usage:
 *     sa_sampler s; sa_sampler_init(&s, vocab, &err);
 *     sa_sampling_params p = sa_sampling_default();   // T 0.7, top-p 0.9
 *     sa_rng rng; sa_rng_split(&rng, run_seed, request_id);
 *     int32_t next = sa_sampler_sample(&s, &p, logits, hist, n_hist, NULL, 0, &rng);
 *     sa_sampler_free(&s);
 */
#ifndef SA_SAMPLER_H
#define SA_SAMPLER_H

#include <stdint.h>

#include "sa/rng.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_sampling_params {
    float temperature;        /* 0 = greedy */
    int32_t top_k;            /* 0 = off */
    float top_p;              /* 1 = off */
    float min_p;              /* 0 = off; keep tokens with p >= min_p * p_max */
    float repetition_penalty; /* 1 = off; HF style: positive logits / r, negative * r */
    int32_t repeat_last_n;    /* how many recent tokens the penalty looks at (0 = all given) */
} sa_sampling_params;

/* The paper's generation settings: temperature 0.7, top-p 0.9, rest off. */
sa_sampling_params sa_sampling_default(void);
/* Greedy decoding. */
sa_sampling_params sa_sampling_greedy(void);
/* SA_ERR_INVALID_ARG naming the bad field (negative temperature, top_p
 * outside (0, 1], ...). */
sa_status sa_sampling_validate(const sa_sampling_params *p, sa_err *err);

typedef struct sa_sampler {
    int32_t vocab;
    float *probs;     /* [vocab] */
    int32_t *idx;     /* [vocab] candidate ids */
    uint8_t *seen;    /* [vocab] repetition-penalty marks */
} sa_sampler;

sa_status sa_sampler_init(sa_sampler *s, int32_t vocab, sa_err *err);
void sa_sampler_free(sa_sampler *s);

/* Pick the next token. logits[vocab] is modified (penalty, mask, scaling).
 * history: the sequence so far (for the repetition penalty), may be NULL.
 * allowed: if n_allowed > 0, only these ids may be chosen (ids outside the
 * vocabulary are ignored; if none is valid the result is -1). */
int32_t sa_sampler_sample(sa_sampler *s, const sa_sampling_params *p, float *logits,
                          const int32_t *history, int32_t n_history, const int32_t *allowed,
                          int32_t n_allowed, sa_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
