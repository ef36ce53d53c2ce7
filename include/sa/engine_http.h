/* engine_http.h — an sa_engine (engine.h) over an OpenAI-compatible HTTP
 * server: `selfalign serve`, vLLM, llama.cpp's server, ...
 *
 * Purpose: run any generating or scoring stage against a server instead
 * of the in-process model, with libcurl's multi interface:
 *   generate  POST /v1/completions, up to `concurrency` requests in flight,
 *             each result handed to the callback as it arrives. The prompt
 *             is sent as token ids when the request has prompt_tokens or
 *             the engine has a tokenizer (encoded exactly as the local
 *             engine would: BOS, trust rule), else as text. Servers that
 *             accept token-id prompts: selfalign serve, vLLM, llama.cpp's
 *             server, OpenAI's legacy completions; TGI does not (give no
 *             tokenizer for text-only servers). max_tokens, temperature,
 *             top_p, top_k/min_p/repetition_penalty (when not off), seed
 *             and stop are passed through.
 *   score     POST /v1/completions {echo: true, logprobs: 1, max_tokens: 0}
 *             over prompt + continuation (tokenized here as sa_engine_score
 *             tokenizes them); the continuation's log-probs are read from
 *             logprobs.token_logprobs. Needs a tokenizer.
 *   next-token probabilities over candidate tokens: selfalign serve's
 *             "sa_candidate_ids" (exact); other servers: top_logprobs (20)
 *             of a one-token greedy completion, matched by token text
 *             (candidates outside the top 20 get probability 0).
 * With selfalign serve (detected from /v1/models owned_by "selfalign") the
 * request id travels as "sa_id", so sampled outputs equal the in-process
 * engine's for the same (seed, id); other servers get seed = a hash of
 * (seed, id), deterministic per request where the server honours seeds.
 *
 * Reliability: every request has a timeout; 429, 408, 5xx, timeouts and
 * connection failures (a server restarting) are retried with exponential
 * backoff and full jitter (honouring Retry-After) up to max_retries, then
 * the call fails with SA_ERR_IO (the stage stops; a rerun resumes). Other
 * 4xx answers fail only that request (SA_FINISH_ERROR / its score status).
 * Each request's result is delivered exactly once. SIGINT/SIGTERM
 * (signal.h) interrupt waiting with SA_ERR_INTERRUPTED.
 *
 * Capabilities: sa_engine_http_new probes the server (GET /v1/models; then
 * one tiny echo request to learn whether prompt log-probs are returned) so
 * a stage can fail at start; score() on a server without prompt log-probs
 * fails with SA_ERR_UNSUPPORTED and a message saying so.
 *
 * Models by name: with `model` set the probe requires /v1/models to list
 * it, or loads it (load_model_dir / load_adapter_dir below), so a stage
 * fails at start when the server cannot answer for that model.
 *
 * Secrets: the key is read from the environment variable named by
 * api_key_env and sent as "Authorization: Bearer ..."; it never appears in
 * logs or error messages.
 *
 * Ownership: the options' strings are copied; the tokenizer is borrowed
 * (must outlive the engine). Free with sa_engine_free. Calls on one engine
 * must not overlap (like every sa_engine).
 *
 * Usage:
 *     sa_engine_http_opts o = sa_engine_http_defaults();
 *     o.url = "http://127.0.0.1:8080"; o.api_key_env = "SA_KEY"; o.tok = tok;
 *     sa_engine *e;
 *     if (sa_engine_http_new(&e, &o, &err)) ...;
 *     sa_engine_generate(e, reqs, n, on_result, ctx, &err);
 *
 * Built without libcurl (NO_CURL=1) sa_engine_http_new returns
 * SA_ERR_UNSUPPORTED.
 */
#ifndef SA_ENGINE_HTTP_H
#define SA_ENGINE_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_engine_http_opts {
    const char *url;          /* base URL: http://host:port (a trailing /v1 is accepted) */
    const char *api_key_env;  /* name of the environment variable with the key, or NULL */
    const char *model;        /* "model" sent in requests; NULL = the first of /v1/models */
    const sa_tokenizer *tok;  /* the model's tokenizer (borrowed), or NULL (text prompts, no scoring) */
    int32_t concurrency;      /* requests in flight at most */
    double timeout_s;         /* per request (per attempt) */
    double connect_timeout_s;
    int32_t max_retries;      /* retries of one request before the call fails */
    double backoff_s;         /* first retry delay (doubled each time, full jitter) */
    double backoff_max_s;     /* cap of one delay */
    bool probe;               /* check the server at creation (default true) */
    /* A model the server may not have yet (with model set): when /v1/models
     * does not list `model`, the engine asks the server to load it
     * (POST /v1/load_lora_adapter {lora_name: model, lora_path}) and to
     * unload it when the engine is freed. selfalign serve (--models-root)
     * gets load_model_dir (any model directory); other servers (vLLM with
     * VLLM_ALLOW_RUNTIME_LORA_UPDATING) get load_adapter_dir, a PEFT adapter
     * of the served base. Absolute paths, as the server sees them. */
    const char *load_model_dir;
    const char *load_adapter_dir;
    FILE *log;                /* retry notices (never the key) or NULL */
} sa_engine_http_opts;

/* concurrency 8, timeout 300 s, connect 10 s, 10 retries, backoff 0.25 s up
 * to 8 s, probe on, no log. */
sa_engine_http_opts sa_engine_http_defaults(void);

sa_status sa_engine_http_new(sa_engine **out, const sa_engine_http_opts *o, sa_err *err);

typedef struct sa_engine_http_caps {
    bool selfalign;       /* the server is selfalign serve (exact ids, seeds, candidates) */
    bool prompt_logprobs; /* echo returns prompt log-probs: score() works */
    bool next_token;      /* candidate probabilities are available (exact or top_logprobs) */
    bool loaded;          /* this engine asked the server to load the model (it unloads it when freed) */
    char model[512];      /* the model name used in requests */
    int32_t max_ctx;      /* the server's max_model_len for it (a model this engine loads: the first listed,
                             the base it is served beside); 0 if not reported */
} sa_engine_http_caps;

/* What the probe learned. SA_ERR_INVALID_ARG if e is not an HTTP engine. */
sa_status sa_engine_http_get_caps(const sa_engine *e, sa_engine_http_caps *out, sa_err *err);
/* True if e is an HTTP engine. */
bool sa_engine_is_http(const sa_engine *e);

/* Counters: requests sent (attempts), retries, failures given up on. */
typedef struct sa_engine_http_stats {
    uint64_t attempts, retries, successes, request_errors;
} sa_engine_http_stats;
void sa_engine_http_get_stats(const sa_engine *e, sa_engine_http_stats *out);

#ifdef __cplusplus
}
#endif
#endif
