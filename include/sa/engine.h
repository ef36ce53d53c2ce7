/* engine.h — THE SEAM between the pipeline and whatever runs the model.
 *
 * Purpose: the pipeline never touches a model; it builds prompts, hands them
 * to an sa_engine and writes records. Two operations:
 *   generate  a list of requests -> one result per request, delivered by
 *             callback as each finishes (so the caller journals it at once);
 *   score     log-probabilities of a continuation after a prompt, and the
 *             probabilities of given candidate tokens after a prompt.
 * Implementations: local (this process's CPU model: continuous batching over
 * slots, shared-prefix KV reuse, per-request seeded sampling) and HTTP
 * (engine_http.h: OpenAI-compatible servers).
 *
 * Determinism: request r samples with an RNG split from (r.seed, r.id), and
 * the local engine computes every row so that its bits do not depend on
 * what else shares the forward call: prompts are prefilled in blocks of
 * SA_ENGINE_SCORE_BLOCK positions aligned to the prompt start (each its own
 * attention run, only whole cached blocks reused) with sgemm, and decode
 * steps with per-row matmuls whatever the number of slots (kernels.h,
 * sa_matmul_path). So a request's tokens, sampled or greedy, do not depend
 * on which other requests share the batch, on the slot count, on what the
 * prefix cache held or on the order requests finish; with the same thread
 * count they are the same bits in every run (tests/test_engine.c checks
 * sampled outputs on a near-flat model, where one flipped bit reorders the
 * top-p candidates).
 * Scores and next-token probabilities are bit-reproducible for a given
 * thread count: the local engine computes a scored sequence in blocks of
 * SA_ENGINE_SCORE_BLOCK positions aligned to the sequence start and reuses
 * only whole blocks from its prefix cache, so every position is always
 * computed with the same rows, whatever was cached before (a resumed
 * curation run gives the same bytes as an uninterrupted one, and turning the
 * prefix cache off changes speed, not results).
 *
 * Ownership: sa_engine_local_new borrows the model and tokenizer (they must
 * outlive the engine); sa_engine_free releases the engine. Request fields
 * are borrowed for the duration of the call. A result passed to the
 * callback is valid only during the callback.
 *
 * Usage:
 *     sa_engine *e;
 *     sa_engine_local_opts o = sa_engine_local_defaults();
 *     sa_engine_local_new(&e, model, tok, &o, &err);
 *     sa_gen_request r = sa_gen_request_default();
 *     r.id = 1; r.prompt = "Once upon a time"; r.max_tokens = 64;
 *     sa_engine_generate(e, &r, 1, on_result, ctx, &err);
 *     sa_engine_free(e);
 */
#ifndef SA_ENGINE_H
#define SA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/model.h"
#include "sa/sampler.h"
#include "sa/status.h"
#include "sa/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_gen_request {
    uint64_t id;                 /* caller's id: seeds the RNG, echoed in the result */
    const char *prompt;          /* prompt text, or NULL when prompt_tokens is given */
    bool prompt_trusted;         /* the text is our own template: match special tokens */
    bool add_bos;                /* prepend BOS (if the tokenizer adds one by default) */
    const int32_t *prompt_tokens; /* pre-tokenized prompt (e.g. from sa_chat_encode) */
    int32_t n_prompt_tokens;
    int32_t max_tokens;          /* new tokens at most */
    sa_sampling_params sampling;
    uint64_t seed;               /* run seed; the stream is split by id */
    const char *const *stop;     /* stop strings (not included in the text) */
    int32_t n_stop;
    const int32_t *allowed_first; /* if n_allowed_first > 0: the first new token must be one of these */
    int32_t n_allowed_first;
    void *user;                  /* echoed in the result */
} sa_gen_request;

/* Defaults: add_bos true, max_tokens 256, the paper's sampling (T 0.7, top-p 0.9), seed 0. */
sa_gen_request sa_gen_request_default(void);

typedef enum sa_finish_reason {
    SA_FINISH_EOS = 0,    /* the model ended its turn (an end-of-generation token) */
    SA_FINISH_STOP,       /* a stop string appeared */
    SA_FINISH_LENGTH,     /* max_tokens reached */
    SA_FINISH_CONTEXT,    /* the context window is full */
    SA_FINISH_ERROR,      /* this request failed (see error); others go on */
} sa_finish_reason;

const char *sa_finish_reason_str(sa_finish_reason r); /* "eos", "stop", "length", "context", "error" */

typedef struct sa_gen_result {
    uint64_t id;
    const char *text;       /* generated text (NUL-terminated), without the stop string */
    size_t text_len;
    const int32_t *tokens;  /* generated tokens (the end-of-generation token excluded) */
    int32_t n_tokens;
    int32_t n_prompt_tokens;
    int32_t n_cached_tokens; /* prompt tokens reused from the shared-prefix cache */
    sa_finish_reason finish;
    const char *error;      /* message when finish == SA_FINISH_ERROR, else NULL */
    void *user;
} sa_gen_result;

/* Called once per request as it finishes, from the thread that called
 * sa_engine_generate. Returning anything but SA_OK stops generation: the
 * call returns that status after finishing no further requests. */
typedef sa_status (*sa_gen_callback)(void *ctx, const sa_gen_result *res);

typedef struct sa_score_request {
    uint64_t id;
    const char *prompt;      /* conditioning text (may be "" for unconditional scores) */
    bool prompt_trusted;
    const char *continuation; /* the text whose log-probability is wanted */
    bool add_bos;
    /* Pre-tokenized prompt (e.g. from sa_chat_encode); when n_prompt_tokens >
     * 0 it replaces prompt/prompt_trusted/add_bos and the continuation is
     * encoded on its own as plain text (no BOS, no special tokens). */
    const int32_t *prompt_tokens;
    int32_t n_prompt_tokens;
} sa_score_request;

typedef struct sa_score_result {
    double logprob_sum;  /* sum of log p(continuation token | everything before) */
    int32_t n_tokens;    /* continuation tokens */
    float *token_logprobs; /* [n_tokens], owned by the result: free with sa_score_result_free */
    sa_status status;    /* SA_OK, or why this pair could not be scored */
} sa_score_result;

void sa_score_result_free(sa_score_result *r);

/* Rows per forward call when scoring (see Determinism above). */
#define SA_ENGINE_SCORE_BLOCK 64

typedef struct sa_engine sa_engine;

sa_status sa_engine_generate(sa_engine *e, const sa_gen_request *reqs, size_t n, sa_gen_callback cb,
                             void *ctx, sa_err *err);
/* One result per request in out[n] (caller-allocated; free each with sa_score_result_free). */
sa_status sa_engine_score(sa_engine *e, const sa_score_request *reqs, size_t n, sa_score_result *out,
                          sa_err *err);
/* Probabilities (softmax over the whole vocabulary) of each candidate token
 * as the next token after prompt; probs[n_cands]. */
sa_status sa_engine_next_token_probs(sa_engine *e, const char *prompt, bool prompt_trusted, bool add_bos,
                                     const int32_t *cands, int32_t n_cands, float *probs, sa_err *err);
/* The same after a pre-tokenized prompt toks[n_toks] (no BOS is added). */
sa_status sa_engine_next_token_probs_tokens(sa_engine *e, const int32_t *toks, int32_t n_toks, const int32_t *cands,
                                            int32_t n_cands, float *probs, sa_err *err);
const sa_tokenizer *sa_engine_tokenizer(const sa_engine *e);
/* The most tokens one sequence may hold, prompt and generated together: a
 * longer prompt fails (generate: SA_FINISH_ERROR; score: SA_ERR_RANGE), and
 * so does a prompt that fills it for generate and next-token probabilities,
 * whose next token needs a place too (servers count it: vLLM and selfalign
 * serve both refuse such a request). 0 when the engine cannot tell (an HTTP server
 * that does not report max_model_len, or was not probed). Callers that build
 * long prompts (curation) fit them to it. */
int32_t sa_engine_max_context(const sa_engine *e);
void sa_engine_free(sa_engine *e);

/* ---- the local engine ----------------------------------------------------------- */
typedef struct sa_engine_local_opts {
    int32_t n_slots;        /* sequences decoded together (continuous batching) */
    int32_t n_threads;      /* kernel threads (<= 0: all CPUs) */
    int32_t max_ctx;        /* context per slot (<= 0: the model's max_seq_len) */
    int32_t prefill_chunk;  /* prompt tokens per forward call at most */
    int32_t prefix_cache_entries; /* 0 disables shared-prefix reuse */
    int32_t min_prefix_tokens;    /* reuse only common prefixes at least this long */
    bool reference_kernels; /* run the naive reference kernels (slow; for checking) */
} sa_engine_local_opts;

sa_engine_local_opts sa_engine_local_defaults(void);
sa_status sa_engine_local_new(sa_engine **out, const sa_model *m, const sa_tokenizer *tok,
                              const sa_engine_local_opts *opts, sa_err *err);

/* Counters since creation (for stats and benchmarks). */
typedef struct sa_engine_stats {
    uint64_t prompt_tokens, cached_tokens, generated_tokens, forward_calls, requests;
} sa_engine_stats;
void sa_engine_get_stats(const sa_engine *e, sa_engine_stats *out);

#ifdef __cplusplus
}
#endif
#endif
