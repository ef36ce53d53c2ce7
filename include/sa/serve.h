/* serve.h — an OpenAI-compatible HTTP server over an in-process engine
 * (`selfalign serve`), on libmicrohttpd.
 *
 * Purpose: let any OpenAI client (and our own HTTP engine, engine_http.h)
 * use a local model. Endpoints:
 *   GET  /health               200 {"status":"ok"} (no key needed)
 *   GET  /v1/models            the served models, owned_by "selfalign"
 *   POST /v1/completions       prompt: string, [string], token ids, [[ids]]
 *   POST /v1/chat/completions  messages rendered with the model's chat template
 * Fields: model (any string), prompt/messages, max_tokens (completions 16,
 * chat 256 by default), temperature (1), top_p (1), top_k, min_p,
 * repetition_penalty, seed, stop (string or array of at most 16), n (1 only),
 * stream (false only), logprobs (completions: 0..20 top alternatives per
 * token; chat: true with top_logprobs 0..20), echo (completions). With
 * echo true and max_tokens 0 the prompt tokens' log-probabilities are
 * returned (the first is null): that is how a client scores a text.
 * Unknown fields are ignored; a field of the wrong type or range is a 400
 * naming it; invalid JSON or UTF-8 a 400; a body over max_body a 413; a
 * Content-Type other than application/json a 415; errors have OpenAI's
 * shape {"error": {"message", "type", "param", "code"}}.
 *
 * selfalign extensions (other servers ignore or lack them; our HTTP engine
 * uses them when /v1/models says owned_by "selfalign"):
 *   request  "sa_id": "<decimal u64>"  the request id: sampling draws from
 *            the stream split by (seed, sa_id), exactly as the in-process
 *            engine does for request id sa_id, so outputs are identical;
 *            "sa_first_token_ids": [ids]  the first new token must be one of these;
 *            "sa_logprobs_from": N  with echo: only tokens N.. get log-probs
 *            (the others are null; the computation matches sa_engine_score);
 *            "sa_candidate_ids": [ids]  log-probabilities of these tokens as
 *            the next token after the prompt, in choice "sa_candidate_logprobs".
 *   choice   "token_ids" (generated ids), "sa_finish" (eos, stop, length,
 *            context, error: finer than finish_reason).
 *
 * Models loaded at run time (models_root set; vLLM's API for LoRA adapters):
 *   POST /v1/load_lora_adapter   {"lora_name": N, "lora_path": P} loads the
 *            model directory P (relative to models_root, or absolute; after
 *            resolving links it must lie inside models_root, else 403) under
 *            the name N. Any model sa_model_load reads is accepted (a run's
 *            RUN/<stage>/model, LoRA merged); its vocabulary must be the
 *            base's, and the server's tokenizer and chat template are used.
 *            Loading the same name from the same path again is a no-op 200;
 *            from another path a 400.
 *   POST /v1/unload_lora_adapter {"lora_name": N} frees it once the requests
 *            using it are answered (the base cannot be unloaded).
 *   /v1/models lists every loaded model (with "parent": the base). A request
 *   whose "model" names a loaded model is served by it; the base serves
 *   requests that name none. With models_root set an unknown name is a 404
 *   (model_not_found); without it any name means the base, as single-model
 *   servers behave. Each model has its own engine (load_engine settings);
 *   one engine call batches requests for one model.
 *
 * Scheduling: libmicrohttpd runs one thread per connection; handlers parse
 * and tokenize, then queue a job and wait for it. One scheduler thread owns
 * the engine: it waits up to gather_ms after the first queued job for
 * others, then hands up to max_batch generation jobs to one
 * sa_engine_generate call (continuous batching over the engine's slots);
 * each job is answered as soon as its result arrives. Scoring (echo
 * log-probs, candidates, logprobs of generated tokens) runs on the same
 * thread with its own forward state, in the same aligned blocks as the
 * local engine's scoring, so the numbers equal sa_engine_score's for the
 * same thread count.
 *
 * Ownership: sa_serve_start borrows the engine, model and tokenizer (they
 * must outlive the server) and copies the options' strings (the API key
 * included; it is never logged) and load_engine. Models loaded at run time
 * are owned by the server. sa_serve_stop stops accepting
 * connections, answers every request already received and joins the
 * threads; sa_serve_free stops (if needed) and releases the server.
 *
 * Usage:
 *     sa_serve_opts o = sa_serve_defaults();
 *     o.port = 8080; o.api_key = getenv("MY_KEY");
 *     sa_server *srv;
 *     if (sa_serve_start(&srv, engine, model, tok, &tmpl, &o, &err)) ...;
 *     while (!sa_signal_pending()) sleep(1);
 *     sa_serve_free(srv);   // graceful
 *
 * Built without libmicrohttpd (NO_MHD=1) sa_serve_start returns
 * SA_ERR_UNSUPPORTED.
 */
#ifndef SA_SERVE_H
#define SA_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/model.h"
#include "sa/status.h"
#include "sa/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_serve_opts {
    const char *host;        /* IPv4 address to bind ("127.0.0.1"; "0.0.0.0" = all) */
    int port;                /* 0 = any free port (see sa_serve_port) */
    const char *model_name;  /* id reported by /v1/models and in responses */
    const char *api_key;     /* NULL or "" = no key; else "Authorization: Bearer KEY" is required */
    size_t max_body;         /* request bodies over this are refused with 413 */
    int32_t max_batch;       /* generation jobs per engine call at most */
    int32_t gather_ms;       /* how long the first queued job waits for others */
    int32_t max_connections; /* concurrent connections at most */
    int32_t n_threads;       /* kernel threads for scoring (match the engine's) */
    int32_t max_ctx;         /* context (<= 0: the model's) */
    FILE *log;               /* one line per request (method, path, status, ms) or NULL */
    const char *models_root; /* NULL: one model; else models under this directory load at run time */
    const sa_engine_local_opts *load_engine; /* engine settings of models loaded at run time (NULL: defaults) */
} sa_serve_opts;

/* 127.0.0.1, port 0, model "selfalign", no key, 1 MiB bodies, batches of
 * 64, 5 ms gathering, 256 connections, all CPUs, the model's context. */
sa_serve_opts sa_serve_defaults(void);

typedef struct sa_server sa_server;

sa_status sa_serve_start(sa_server **out, sa_engine *e, const sa_model *m, const sa_tokenizer *tok,
                         const sa_chat_template *tmpl, const sa_serve_opts *o, sa_err *err);
/* The port the server listens on. */
int sa_serve_port(const sa_server *s);

typedef struct sa_serve_stats {
    uint64_t requests, ok, client_errors, server_errors, engine_calls, jobs, generated_tokens;
} sa_serve_stats;
void sa_serve_get_stats(sa_server *s, sa_serve_stats *out);

/* Graceful stop: no new connections, in-flight requests are answered (at
 * most wait_ms for them), then the threads are joined. Idempotent. */
void sa_serve_stop(sa_server *s, int32_t wait_ms);
void sa_serve_free(sa_server *s);

#ifdef __cplusplus
}
#endif
#endif
