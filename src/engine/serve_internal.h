/* serve_internal.h — the pieces of the server (serve.h) shared by serve.c
 * (HTTP, scheduler, scoring) and serve_api.c (OpenAI request parsing and
 * response shapes). */
#ifndef SA_SERVE_INTERNAL_H
#define SA_SERVE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "sa/serve.h"
#include "sa/strbuf.h"

#define SERVE_MAX_STOP 16
#define SERVE_MAX_TOP 20
#define SERVE_MAX_MSGS 256

/* One request's work, queued by a connection thread and done by the scheduler. */
typedef struct serve_job {
    /* ---- input (filled by serve_api_parse) */
    bool chat;
    sa_tokens prompt;          /* always token ids: text prompts are tokenized on the connection thread */
    int32_t max_tokens;
    sa_sampling_params sp;
    uint64_t seed, stream;     /* sampling stream: split(seed, stream) */
    char *stop[SERVE_MAX_STOP];
    int32_t n_stop;
    sa_tokens first_ids;       /* sa_first_token_ids */
    int32_t logprobs;          /* -1: none; else top alternatives per token (0..20) */
    bool echo;
    int32_t lp_from;           /* echo: first prompt token whose log-prob is computed (>= 1) */
    sa_tokens cands;           /* sa_candidate_ids */
    /* ---- output (filled by the scheduler) */
    sa_strbuf text;
    sa_tokens out;
    sa_finish_reason finish;
    char *error;               /* engine message for SA_FINISH_ERROR */
    double *lp;                /* [prompt.n + out.n] log p(token i | before); NAN where not computed */
    int32_t *top_ids;          /* [(prompt.n + out.n) * logprobs] */
    float *top_lp;
    double *cand_lp;           /* [cands.n] */
    bool done;
    pthread_cond_t cv;
    struct serve_model *model; /* the model that answers (a reference held by the connection thread) */
    struct serve_job *next;
} serve_job;

typedef struct serve_ctx {
    const sa_tokenizer *tok;
    const sa_chat_template *tmpl;
    int32_t vocab, max_ctx;
    const char *model_name;
} serve_ctx;

/* An HTTP error for the client: status, OpenAI type, offending param (or NULL). */
typedef struct serve_err {
    int status;
    const char *type;
    char param[64];
    char msg[SA_ERR_MSG_MAX];
} serve_err;

void serve_err_set(serve_err *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fill job from a parsed request body (chat selects the endpoint). false
 * with *e filled (4xx) on a bad request. */
bool serve_api_parse(const serve_ctx *c, const json_t *body, bool chat, serve_job *job, serve_err *e);
/* The response object for a finished job (a new reference). */
json_t *serve_api_response(const serve_ctx *c, const serve_job *job, uint64_t serial);
/* {"error": {...}} for e (a new reference). */
json_t *serve_api_error(const serve_err *e);
/* Release what a job owns (not the job itself). */
void serve_job_clear(serve_job *job);

#endif
