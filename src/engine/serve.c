/* serve.c — the OpenAI-compatible server (serve.h): libmicrohttpd
 * connection threads, the scheduler thread that owns the engine, and the
 * scoring pass for log-probabilities. Request parsing and response shapes
 * are in serve_api.c. */
#include "sa/serve.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/kernels.h"
#include "sa/strbuf.h"
#include "serve_internal.h"

sa_serve_opts sa_serve_defaults(void) {
    return (sa_serve_opts){.host = "127.0.0.1", .port = 0, .model_name = "selfalign", .api_key = NULL,
                           .max_body = 1u << 20, .max_batch = 64, .gather_ms = 5, .max_connections = 256,
                           .n_threads = 0, .max_ctx = 0, .log = NULL};
}

#ifndef SA_HAVE_MHD

struct sa_server {
    int unused;
};

sa_status sa_serve_start(sa_server **out, sa_engine *e, const sa_model *m, const sa_tokenizer *tok,
                         const sa_chat_template *tmpl, const sa_serve_opts *o, sa_err *err) {
    (void)e, (void)m, (void)tok, (void)tmpl, (void)o;
    *out = NULL;
    return sa_err_set(err, SA_ERR_UNSUPPORTED, "serve: this build has no libmicrohttpd (rebuild without NO_MHD=1 "
                                               "after installing libmicrohttpd-dev)");
}
int sa_serve_port(const sa_server *s) { return s ? 0 : 0; }
void sa_serve_get_stats(sa_server *s, sa_serve_stats *out) { (void)s, memset(out, 0, sizeof *out); }
void sa_serve_stop(sa_server *s, int32_t wait_ms) { (void)s, (void)wait_ms; }
void sa_serve_free(sa_server *s) { free(s); }

#else

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "sa/json.h"

/* One model the server answers for: the base (borrowed) or one loaded at
 * run time through /v1/load_lora_adapter (owned). Jobs hold a reference;
 * an unloaded model is freed when the last reference goes. */
typedef struct serve_model {
    char *name, *path;      /* path: the resolved directory (NULL for the base) */
    sa_model *owned;        /* NULL for the base */
    const sa_model *m;
    sa_engine *e;
    bool owns_e, dead;
    int32_t refs;
    serve_ctx ctx;          /* parsing context: the server's tokenizer, this model's vocab and context */
    sa_model_state st;      /* scoring state, used only by the scheduler thread */
    sa_kv_cache kv;
    struct serve_model *next;
} serve_model;

struct sa_server {
    serve_model *models;    /* the base first, then loaded ones (guarded by mu) */
    const sa_tokenizer *tok;
    sa_engine_local_opts load_eo;
    char *models_root;      /* resolved; NULL: run-time loading is off */
    pthread_mutex_t load_mu; /* one load at a time */
    sa_chat_template tmpl;
    sa_serve_opts o;
    char *host, *api_key;
    struct MHD_Daemon *d;
    int port;
    pthread_t sched;
    bool sched_started, stopped;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* jobs queued, or stopping */
    pthread_cond_t idle_cv; /* in_flight dropped */
    serve_job *head, *tail;
    bool quit;              /* scheduler: exit once the queue is empty */
    bool draining;          /* new requests get 503 */
    int32_t in_flight;
    uint64_t serial;
    sa_serve_stats stats;
    /* scoring, used only by the scheduler thread */
    sa_kernels k;
    sa_batch_row *rows;
    serve_job **batch;      /* [max_batch] */
};

static void model_free(serve_model *sm) {
    if (!sm) return;
    if (sm->owns_e) sa_engine_free(sm->e);
    sa_model_free(sm->owned);
    sa_model_state_free(&sm->st);
    sa_kv_cache_free(&sm->kv);
    free(sm->name);
    free(sm->path);
    free(sm);
}

/* A model entry over m (its scoring state for contexts up to max_ctx). */
static sa_status model_new(serve_model **out, const char *name, const sa_model *m, const sa_tokenizer *tok,
                           const sa_chat_template *tmpl, int32_t max_ctx, sa_err *err) {
    serve_model *sm = sa_calloc(1, sizeof *sm);
    if (!sm || !(sm->name = sa_strdup(name))) {
        free(sm);
        return sa_err_set(err, SA_ERR_NOMEM, "serve: out of memory");
    }
    sm->m = m;
    int32_t ctx = max_ctx > 0 && max_ctx < m->cfg.max_seq_len ? max_ctx : m->cfg.max_seq_len;
    sm->ctx = (serve_ctx){tok, tmpl, m->cfg.vocab_size, ctx, sm->name};
    sa_status st = sa_model_state_init(&sm->st, &m->cfg, SA_ENGINE_SCORE_BLOCK, ctx, err);
    if (!st) st = sa_kv_cache_init(&sm->kv, &m->cfg, ctx, err);
    if (st) {
        model_free(sm);
        return st;
    }
    *out = sm;
    return SA_OK;
}

/* Drop a reference (mu held); returns the model when it is now to be freed
 * (by the caller, after unlocking). */
static serve_model *model_unref_locked(serve_model *sm) {
    return --sm->refs == 0 && sm->dead ? sm : NULL;
}

static void model_unref(sa_server *s, serve_model *sm) {
    pthread_mutex_lock(&s->mu);
    serve_model *f = model_unref_locked(sm);
    pthread_mutex_unlock(&s->mu);
    model_free(f);
}

/* The live model called name (mu held); NULL if none. */
static serve_model *model_find_locked(sa_server *s, const char *name) {
    for (serve_model *m = s->models; m; m = m->next)
        if (!m->dead && strcmp(m->name, name) == 0) return m;
    return NULL;
}

/* ---- scoring ------------------------------------------------------------------------ */

/* log p(t) from one row's logits, computed exactly as the local engine does. */
static double log_softmax_at(const float *lg, int32_t V, int32_t t, double *lse_out, float *mx_out) {
    float mx = lg[0];
    for (int32_t i = 1; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    double s = 0;
    for (int32_t i = 0; i < V; i++) s += exp((double)lg[i] - mx);
    if (lse_out) *lse_out = log(s);
    if (mx_out) *mx_out = mx;
    return (double)lg[t] - mx - log(s);
}

/* Run ids[0..n) in blocks of SA_ENGINE_SCORE_BLOCK aligned to position 0
 * (as the local engine scores), with logits from row first_wanted on, and
 * fill the job's log-probs (token i >= first_wanted + 1), top alternatives
 * and candidate log-probs (after the last row). */
static sa_status score_job(sa_server *s, serve_model *sm, serve_job *j, const int32_t *ids, int32_t n,
                           int32_t first_wanted, sa_err *err) {
    const int32_t V = sm->m->cfg.vocab_size, B = SA_ENGINE_SCORE_BLOCK;
    if (n > sm->kv.max_ctx) return sa_err_set(err, SA_ERR_RANGE, "%d tokens do not fit the context of %d", n, sm->kv.max_ctx);
    const int32_t K = j->logprobs > 0 ? j->logprobs : 0;
    for (int32_t i0 = 0; i0 < n; i0 += B) {
        int32_t cnt = n - i0 < B ? n - i0 : B;
        for (int32_t r = 0; r < cnt; r++) s->rows[r] = (sa_batch_row){ids[i0 + r], i0 + r, &sm->kv, i0 + r >= first_wanted, false};
        sa_status st = sa_model_forward(sm->m, &sm->st, &s->k, s->rows, cnt, err);
        if (st) return st;
        for (int32_t r = 0; r < cnt; r++) {
            int32_t i = i0 + r;
            if (i < first_wanted) continue;
            const float *lg = sm->st.logits + (int64_t)r * V;
            if (i + 1 < n && j->lp) {
                double lse;
                float mx;
                j->lp[i + 1] = log_softmax_at(lg, V, ids[i + 1], &lse, &mx);
                int32_t *ti = K ? j->top_ids + (size_t)(i + 1) * K : NULL;
                float *tl = K ? j->top_lp + (size_t)(i + 1) * K : NULL;
                int32_t have = 0;
                for (int32_t v = 0; K && v < V; v++) { /* keep the K best, sorted, in one pass */
                    if (have == K && !(lg[v] > lg[ti[K - 1]])) continue;
                    int32_t p = have < K ? have++ : K - 1;
                    while (p > 0 && lg[v] > lg[ti[p - 1]]) {
                        ti[p] = ti[p - 1];
                        p--;
                    }
                    ti[p] = v;
                }
                for (int32_t k = 0; k < have; k++) tl[k] = (float)((double)lg[ti[k]] - mx - lse);
            }
            if (i == n - 1 && j->cands.n)
                for (size_t c = 0; c < j->cands.n; c++) j->cand_lp[c] = log_softmax_at(lg, V, j->cands.ids[c], NULL, NULL);
        }
    }
    return SA_OK;
}

/* Log-probs the job asked for: echo (prompt tokens from lp_from), the
 * generated tokens (logprobs), candidates after the prompt. */
static sa_status job_scores(sa_server *s, serve_model *sm, serve_job *j, sa_err *err) {
    bool want_gen = j->logprobs >= 0 && j->out.n > 0, want_echo = j->echo && j->logprobs >= 0, want_c = j->cands.n > 0;
    if (!want_gen && !want_echo && !want_c) return SA_OK;
    size_t np = j->prompt.n, n = np + (want_gen || want_echo ? j->out.n : 0);
    int32_t *ids = sa_malloc_array(n + 1, sizeof(int32_t));
    j->lp = sa_malloc_array(n + 1, sizeof(double));
    if (j->logprobs > 0) {
        j->top_ids = sa_malloc_array((n + 1) * (size_t)j->logprobs, sizeof(int32_t));
        j->top_lp = sa_malloc_array((n + 1) * (size_t)j->logprobs, sizeof(float));
    }
    if (want_c) j->cand_lp = sa_malloc_array(j->cands.n, sizeof(double));
    if (!ids || !j->lp || (j->logprobs > 0 && (!j->top_ids || !j->top_lp)) || (want_c && !j->cand_lp)) {
        free(ids);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i <= n; i++) j->lp[i] = NAN;
    for (size_t i = 0; j->top_ids && i < (n + 1) * (size_t)j->logprobs; i++) j->top_ids[i] = -1;
    memcpy(ids, j->prompt.ids, np * sizeof(int32_t));
    if (n > np) memcpy(ids + np, j->out.ids, (n - np) * sizeof(int32_t));
    int32_t first = (int32_t)n - 1;
    if (want_gen) first = (int32_t)np - 1;
    if (want_echo) first = j->lp_from - 1 < first ? j->lp_from - 1 : first;
    if (first < 0) first = 0;
    sa_status st = score_job(s, sm, j, ids, (int32_t)n, first, err);
    free(ids);
    return st;
}

/* ---- the scheduler ---------------------------------------------------------------------- */

static void job_finish(sa_server *s, serve_job *j) {
    pthread_mutex_lock(&s->mu);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&s->mu);
}

static bool needs_scores(const serve_job *j) { return j->logprobs >= 0 || j->cands.n > 0; }

typedef struct batch_cb {
    sa_server *s;
    serve_job **jobs;
    bool *answered; /* a finished job may be freed by its connection thread at once */
} batch_cb;

static sa_status on_gen(void *ctx, const sa_gen_result *r) {
    batch_cb *b = ctx;
    serve_job *j = b->jobs[(size_t)(uintptr_t)r->user];
    sa_strbuf_append(&j->text, r->text ? r->text : "", r->text_len);
    for (int32_t i = 0; i < r->n_tokens; i++) sa_tokens_push(&j->out, r->tokens[i]);
    j->finish = r->finish;
    if (r->error) j->error = sa_strdup(r->error);
    if (r->finish == SA_FINISH_ERROR || !needs_scores(j)) {
        b->answered[(size_t)(uintptr_t)r->user] = true;
        job_finish(b->s, j);
    }
    return SA_OK;
}

static void run_batch(sa_server *s, serve_model *sm, serve_job **jobs, size_t n) {
    sa_gen_request *reqs = sa_calloc(n, sizeof *reqs);
    bool *answered = sa_calloc(n, sizeof *answered);
    if (!answered) {
        free(reqs);
        reqs = NULL;
    }
    size_t nr = 0;
    for (size_t i = 0; reqs && i < n; i++) {
        serve_job *j = jobs[i];
        if (j->max_tokens == 0) {
            j->finish = SA_FINISH_LENGTH;
            continue;
        }
        sa_gen_request r = sa_gen_request_default();
        r.id = j->stream;
        r.prompt_tokens = j->prompt.ids;
        r.n_prompt_tokens = (int32_t)j->prompt.n;
        r.max_tokens = j->max_tokens;
        r.sampling = j->sp;
        r.seed = j->seed;
        r.stop = (const char *const *)j->stop;
        r.n_stop = j->n_stop;
        r.allowed_first = j->first_ids.n ? j->first_ids.ids : NULL;
        r.n_allowed_first = (int32_t)j->first_ids.n;
        r.user = (void *)(uintptr_t)i;
        reqs[nr++] = r;
    }
    sa_err err = {0};
    batch_cb b = {s, jobs, answered};
    sa_status st = reqs ? SA_OK : SA_ERR_NOMEM;
    if (reqs && nr) st = sa_engine_generate(sm->e, reqs, nr, on_gen, &b, &err);
    free(reqs);
    pthread_mutex_lock(&s->mu);
    s->stats.engine_calls += nr > 0;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        serve_job *j = jobs[i];
        if (answered && answered[i]) continue;
        if (st && !j->error && j->finish != SA_FINISH_ERROR) {
            j->finish = SA_FINISH_ERROR;
            j->error = sa_strdup(err.msg[0] ? err.msg : "engine failure");
        } else if (j->finish != SA_FINISH_ERROR) {
            sa_err e2 = {0};
            if (job_scores(s, sm, j, &e2)) {
                j->finish = SA_FINISH_ERROR;
                free(j->error);
                j->error = sa_strdup(e2.msg);
            }
        }
        job_finish(s, j);
    }
    free(answered);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *scheduler_main(void *p) {
    sa_server *s = p;
    size_t cap = (size_t)s->o.max_batch;
    serve_job **batch = s->batch;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->quit) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->head) break;
        /* let others join for up to gather_ms after the first */
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        long ns = dl.tv_nsec + (long)s->o.gather_ms * 1000000L;
        dl.tv_sec += ns / 1000000000L;
        dl.tv_nsec = ns % 1000000000L;
        for (;;) {
            size_t q = 0;
            for (serve_job *j = s->head; j && q < cap; j = j->next) q++;
            if (q >= cap || s->quit) break;
            if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
        }
        /* one engine call serves one model: take the head's model's jobs, in order */
        size_t n = 0;
        serve_model *sm = s->head->model;
        serve_job **link = &s->head, *last = NULL;
        while (*link && n < cap && batch) {
            serve_job *j = *link;
            if (j->model == sm) {
                batch[n++] = j;
                *link = j->next;
            } else {
                last = j;
                link = &j->next;
            }
        }
        s->tail = NULL;
        for (serve_job *j = last ? last : s->head; j; j = j->next) s->tail = j;
        s->stats.jobs += n;
        sm->refs++; /* the engine call outlives the jobs answered early */
        pthread_mutex_unlock(&s->mu);
        run_batch(s, sm, batch, n);
        model_unref(s, sm);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Queue a job and wait for its result (connection thread). */
static void submit_and_wait(sa_server *s, serve_job *j) {
    pthread_cond_init(&j->cv, NULL);
    pthread_mutex_lock(&s->mu);
    j->next = NULL;
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->cv);
    while (!j->done) pthread_cond_wait(&j->cv, &s->mu);
    s->stats.generated_tokens += j->out.n;
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&j->cv);
}

/* ---- HTTP --------------------------------------------------------------------------- */

typedef struct conn {
    sa_strbuf body;
    bool too_big, counted;
    double t0;
} conn;

static enum MHD_Result reply(sa_server *s, struct MHD_Connection *c, int status, json_t *v, const char *method,
                             const char *url, double t0) {
    sa_strbuf out = {0};
    if (!v || sa_json_dump_line(v, &out, NULL)) {
        sa_strbuf_reset(&out);
        sa_strbuf_puts(&out, "{\"error\":{\"message\":\"internal error: response not encodable\",\"type\":\"server_error\","
                             "\"param\":null,\"code\":500}}\n");
        status = 500;
    }
    json_decref(v);
    size_t len = 0;
    char *buf = sa_strbuf_detach(&out, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf ? buf : (char *)"", buf ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    pthread_mutex_lock(&s->mu);
    if (s->draining) MHD_add_response_header(r, "Connection", "close");
    s->stats.requests++;
    if (status < 400) s->stats.ok++;
    else if (status < 500) s->stats.client_errors++;
    else s->stats.server_errors++;
    pthread_mutex_unlock(&s->mu);
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    if (s->o.log) /* never the headers: they may hold the key */
        fprintf(s->o.log, "serve: %s %s %d %.1f ms\n", method, url, status, (now_s() - t0) * 1000);
    return ret;
}

static enum MHD_Result reply_err(sa_server *s, struct MHD_Connection *c, serve_err *e, const char *method,
                                 const char *url, double t0) {
    return reply(s, c, e->status, serve_api_error(e), method, url, t0);
}

static bool key_ok(const sa_server *s, struct MHD_Connection *c) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    size_t a = strlen(h), b = strlen(s->api_key);
    unsigned diff = (unsigned)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned)((unsigned char)s->api_key[i] ^ (unsigned char)(i < a ? h[i] : 0));
    return diff == 0;
}

static json_t *models_json(sa_server *s) {
    json_t *d = json_array();
    pthread_mutex_lock(&s->mu);
    for (const serve_model *sm = s->models; sm; sm = sm->next) {
        if (sm->dead) continue;
        json_t *m = json_object();
        json_object_set_new(m, "id", json_string(sm->name));
        json_object_set_new(m, "object", json_string("model"));
        json_object_set_new(m, "created", json_integer(0));
        json_object_set_new(m, "owned_by", json_string("selfalign"));
        json_object_set_new(m, "max_model_len", json_integer(sm->ctx.max_ctx));
        if (sm != s->models) json_object_set_new(m, "parent", json_string(s->models->name));
        json_array_append_new(d, m);
    }
    pthread_mutex_unlock(&s->mu);
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", d);
    return o;
}

/* Parse the body as a JSON object (415/413/400 into e otherwise). */
static json_t *parse_body(sa_server *s, struct MHD_Connection *c, const conn *cn, serve_err *e) {
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        serve_err_set(e, 415, NULL, "Content-Type must be application/json");
        return NULL;
    }
    if (cn->too_big) {
        serve_err_set(e, 413, NULL, "the request body is larger than %zu bytes", s->o.max_body);
        return NULL;
    }
    json_t *body = NULL;
    sa_err je = {0};
    if (sa_json_parse(cn->body.buf ? cn->body.buf : "", cn->body.len, "body", &body, &je)) {
        serve_err_set(e, 400, NULL, "invalid JSON: %s", je.msg);
        return NULL;
    }
    return body;
}

/* The model a request names, with a reference taken: the base when it
 * names none or (run-time loading off) one the server does not know, as
 * OpenAI-style single-model servers do; NULL (404 in e) when loading is on
 * and no live model has that name. */
static serve_model *model_for(sa_server *s, const json_t *body, serve_err *e) {
    const json_t *mv = json_is_object(body) ? json_object_get(body, "model") : NULL;
    const char *name = json_is_string(mv) ? json_string_value(mv) : NULL;
    pthread_mutex_lock(&s->mu);
    serve_model *sm = name ? model_find_locked(s, name) : NULL;
    if (!sm && (!name || !s->models_root)) sm = s->models;
    if (sm) sm->refs++;
    pthread_mutex_unlock(&s->mu);
    if (!sm) {
        serve_err_set(e, 404, "model", "the model '%.200s' does not exist (load it with POST /v1/load_lora_adapter)", name);
        e->type = "model_not_found";
    }
    return sm;
}

static enum MHD_Result handle_completion(sa_server *s, struct MHD_Connection *c, conn *cn, bool chat,
                                         const char *method, const char *url) {
    serve_err e = {0};
    json_t *body = parse_body(s, c, cn, &e);
    if (!body) return reply_err(s, c, &e, method, url, cn->t0);
    serve_model *sm = model_for(s, body, &e);
    serve_job *j = sm ? sa_calloc(1, sizeof *j) : NULL;
    if (sm && !j) serve_err_set(&e, 500, NULL, "out of memory");
    bool ok = j && serve_api_parse(&sm->ctx, body, chat, j, &e);
    json_decref(body);
    if (!ok) {
        if (j) serve_job_clear(j);
        free(j);
        if (sm) model_unref(s, sm);
        return reply_err(s, c, &e, method, url, cn->t0);
    }
    j->model = sm;
    submit_and_wait(s, j);
    enum MHD_Result r;
    if (j->finish == SA_FINISH_ERROR) {
        serve_err_set(&e, 400, NULL, "%s", j->error ? j->error : "generation failed");
        r = reply_err(s, c, &e, method, url, cn->t0);
    } else {
        pthread_mutex_lock(&s->mu);
        uint64_t serial = ++s->serial;
        pthread_mutex_unlock(&s->mu);
        r = reply(s, c, 200, serve_api_response(&sm->ctx, j, serial), method, url, cn->t0);
    }
    serve_job_clear(j);
    free(j);
    model_unref(s, sm);
    return r;
}

/* ---- run-time models (vLLM's /v1/load_lora_adapter, /v1/unload_lora_adapter) ------------- */

static json_t *ok_json(const char *msg, const char *name) {
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("ok"));
    json_object_set_new(o, "message", json_string(msg));
    json_object_set_new(o, "lora_name", json_string(name));
    return o;
}

/* A name clients can send back verbatim: 1..255 printable ASCII bytes. */
static bool name_ok(const char *n) {
    size_t l = strlen(n);
    if (l == 0 || l > 255) return false;
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)n[i] < 0x20 || (unsigned char)n[i] > 0x7e) return false;
    return true;
}

static enum MHD_Result handle_load(sa_server *s, struct MHD_Connection *c, conn *cn, bool load, const char *method,
                                   const char *url) {
    serve_err e = {0};
    if (!s->models_root) {
        serve_err_set(&e, 404, NULL, "loading models at run time is off (start the server with --models-root DIR)");
        return reply_err(s, c, &e, method, url, cn->t0);
    }
    json_t *body = parse_body(s, c, cn, &e);
    if (!body) return reply_err(s, c, &e, method, url, cn->t0);
    const json_t *nv = json_is_object(body) ? json_object_get(body, "lora_name") : NULL;
    const json_t *pv = json_is_object(body) ? json_object_get(body, "lora_path") : NULL;
    const char *name = json_string_value(nv), *path = json_string_value(pv);
    if (!json_is_object(body)) serve_err_set(&e, 400, NULL, "the request body must be a JSON object");
    else if (!name || !name_ok(name)) serve_err_set(&e, 400, "lora_name", "'lora_name' must be a string of 1 to 255 printable ASCII characters");
    else if (load && (!path || !*path || strlen(path) >= 4096)) serve_err_set(&e, 400, "lora_path", "'lora_path' must be a non-empty path");
    if (e.status) {
        json_decref(body);
        return reply_err(s, c, &e, method, url, cn->t0);
    }
    enum MHD_Result r;
    if (!load) {
        pthread_mutex_lock(&s->mu);
        serve_model *sm = model_find_locked(s, name), *f = NULL;
        if (sm && sm != s->models) {
            sm->dead = true; /* new requests no longer find it; the last reference frees it */
            for (serve_model **l = &s->models; *l; l = &(*l)->next)
                if (*l == sm) {
                    *l = sm->next;
                    break;
                }
            sm->refs++;
            f = model_unref_locked(sm);
        }
        pthread_mutex_unlock(&s->mu);
        model_free(f);
        if (!sm) serve_err_set(&e, 404, "lora_name", "no model named '%.200s' is loaded", name);
        else if (sm == s->models) serve_err_set(&e, 400, "lora_name", "the base model cannot be unloaded");
        r = e.status ? reply_err(s, c, &e, method, url, cn->t0) : reply(s, c, 200, ok_json("unloaded", name), method, url, cn->t0);
        json_decref(body);
        return r;
    }
    /* resolve the path inside the root */
    sa_strbuf p = {0};
    if (path[0] == '/') sa_strbuf_puts(&p, path);
    else sa_strbuf_appendf(&p, "%s/%s", s->models_root, path);
    char *real = realpath(sa_strbuf_cstr(&p), NULL);
    sa_strbuf_free(&p);
    size_t rl = strlen(s->models_root);
    if (!real) serve_err_set(&e, 404, "lora_path", "'%.200s' does not exist", path);
    else if (strncmp(real, s->models_root, rl) != 0 || (real[rl] != '/' && real[rl] != 0))
        serve_err_set(&e, 403, "lora_path", "'%.200s' is outside --models-root", path);
    bool already = false;
    pthread_mutex_lock(&s->load_mu);
    if (!e.status) {
        pthread_mutex_lock(&s->mu);
        serve_model *have = model_find_locked(s, name);
        bool same = have && have->path && strcmp(have->path, real) == 0;
        pthread_mutex_unlock(&s->mu);
        if (have && !same) serve_err_set(&e, 400, "lora_name", "a model named '%.200s' is already loaded from another path", name);
        already = same;
    }
    serve_model *sm = NULL;
    if (!e.status && !already) {
        sa_err le = {0};
        sa_model *m = NULL;
        sa_status st = sa_model_load(&m, real, &le);
        if (!st && m->cfg.vocab_size != s->models->m->cfg.vocab_size)
            st = sa_err_set(&le, SA_ERR_FORMAT, "its vocabulary (%d) is not the served tokenizer's model's (%d)",
                            m->cfg.vocab_size, s->models->m->cfg.vocab_size);
        if (!st) st = model_new(&sm, name, m, s->tok, &s->tmpl, s->o.max_ctx, &le);
        if (!st) {
            sm->owned = m;
            m = NULL;
            sm->path = sa_strdup(real);
            st = sm->path ? sa_engine_local_new(&sm->e, sm->owned, s->tok, &s->load_eo, &le)
                          : sa_err_set(&le, SA_ERR_NOMEM, "out of memory");
            sm->owns_e = !st;
        }
        sa_model_free(m);
        if (st) {
            model_free(sm);
            sm = NULL;
            serve_err_set(&e, st == SA_ERR_NOMEM ? 500 : 400, "lora_path", "cannot load '%.200s': %s", path, le.msg);
        }
    }
    if (sm) {
        pthread_mutex_lock(&s->mu);
        serve_model **l = &s->models;
        while (*l) l = &(*l)->next;
        *l = sm;
        pthread_mutex_unlock(&s->mu);
        if (s->o.log) fprintf(s->o.log, "serve: loaded %s from %s\n", name, real);
    }
    r = e.status ? reply_err(s, c, &e, method, url, cn->t0)
                 : reply(s, c, 200, ok_json(already ? "already loaded" : "loaded", name), method, url, cn->t0);
    pthread_mutex_unlock(&s->load_mu);
    free(real);
    json_decref(body);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    sa_server *s = cls;
    conn *cn = *con_cls;
    if (!cn) {
        cn = sa_calloc(1, sizeof *cn);
        if (!cn) return MHD_NO;
        cn->t0 = now_s();
        *con_cls = cn;
        pthread_mutex_lock(&s->mu);
        s->in_flight++;
        cn->counted = true;
        pthread_mutex_unlock(&s->mu);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) cn->too_big = true;
        return MHD_YES;
    }
    if (*upload_size) { /* a body chunk: keep up to max_body, discard the rest */
        if (!cn->too_big && cn->body.len + *upload_size <= s->o.max_body) sa_strbuf_append(&cn->body, upload, *upload_size);
        else cn->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    serve_err e = {0};
    bool draining;
    pthread_mutex_lock(&s->mu);
    draining = s->draining;
    pthread_mutex_unlock(&s->mu);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/health") == 0) {
        if (!get) goto bad_method;
        json_t *o = json_object();
        json_object_set_new(o, "status", json_string(draining ? "stopping" : "ok"));
        return reply(s, c, draining ? 503 : 200, o, method, url, cn->t0);
    }
    bool models = strcmp(url, "/v1/models") == 0, compl = strcmp(url, "/v1/completions") == 0,
         chat = strcmp(url, "/v1/chat/completions") == 0, load = strcmp(url, "/v1/load_lora_adapter") == 0,
         unload = strcmp(url, "/v1/unload_lora_adapter") == 0;
    if (!models && !compl && !chat && !load && !unload) {
        serve_err_set(&e, 404, NULL, "no such endpoint: %.64s", url);
        return reply_err(s, c, &e, method, url, cn->t0);
    }
    if (!key_ok(s, c)) {
        serve_err_set(&e, 401, NULL, "a valid API key is required (Authorization: Bearer ...)");
        return reply_err(s, c, &e, method, url, cn->t0);
    }
    if (models) {
        if (!get) goto bad_method;
        return reply(s, c, 200, models_json(s), method, url, cn->t0);
    }
    if (!post) goto bad_method;
    if (draining) {
        serve_err_set(&e, 503, NULL, "the server is shutting down");
        return reply_err(s, c, &e, method, url, cn->t0);
    }
    if (load || unload) return handle_load(s, c, cn, load, method, url);
    return handle_completion(s, c, cn, chat, method, url);
bad_method:
    serve_err_set(&e, 405, NULL, "method %.16s is not allowed on %.64s", method, url);
    return reply_err(s, c, &e, method, url, cn->t0);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c, (void)toe;
    sa_server *s = cls;
    conn *cn = *con_cls;
    if (!cn) return;
    if (cn->counted) {
        pthread_mutex_lock(&s->mu);
        s->in_flight--;
        pthread_cond_broadcast(&s->idle_cv);
        pthread_mutex_unlock(&s->mu);
    }
    sa_strbuf_free(&cn->body);
    free(cn);
    *con_cls = NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

int sa_serve_port(const sa_server *s) { return s ? s->port : 0; }

void sa_serve_get_stats(sa_server *s, sa_serve_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

void sa_serve_stop(sa_server *s, int32_t wait_ms) {
    if (!s || s->stopped) return;
    s->stopped = true;
    if (s->d) MHD_quiesce_daemon(s->d); /* no new connections */
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += wait_ms / 1000;
    dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    while (s->in_flight > 0)
        if (pthread_cond_timedwait(&s->idle_cv, &s->mu, &dl) == ETIMEDOUT) break;
    s->quit = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->sched_started) pthread_join(s->sched, NULL); /* answers whatever is still queued */
    s->sched_started = false;
    if (s->d) MHD_stop_daemon(s->d);
    s->d = NULL;
}

void sa_serve_free(sa_server *s) {
    if (!s) return;
    sa_serve_stop(s, 30000);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->load_mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->idle_cv);
    for (serve_model *m = s->models, *nx; m; m = nx) {
        nx = m->next;
        model_free(m);
    }
    free(s->rows);
    free(s->batch);
    free(s->host);
    free(s->models_root);
    if (s->api_key) memset(s->api_key, 0, strlen(s->api_key));
    free(s->api_key);
    free(s);
}

sa_status sa_serve_start(sa_server **out, sa_engine *e, const sa_model *m, const sa_tokenizer *tok,
                         const sa_chat_template *tmpl, const sa_serve_opts *opts, sa_err *err) {
    *out = NULL;
    sa_serve_opts o = opts ? *opts : sa_serve_defaults();
    if (o.port < 0 || o.port > 65535 || o.max_batch <= 0 || o.gather_ms < 0 || o.max_body == 0 || o.max_connections <= 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "serve: invalid options (port %d, batch %d, gather %d ms)", o.port,
                          o.max_batch, o.gather_ms);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)o.port);
    const char *host = o.host ? o.host : "127.0.0.1";
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "serve: --host must be an IPv4 address (got '%.64s')", host);
    sa_server *s = sa_calloc(1, sizeof *s);
    if (!s) return sa_err_set(err, SA_ERR_NOMEM, "serve: out of memory");
    s->tok = tok;
    s->tmpl = *tmpl;
    s->o = o;
    s->load_eo = o.load_engine ? *o.load_engine : sa_engine_local_defaults();
    s->host = sa_strdup(host);
    s->api_key = o.api_key && *o.api_key ? sa_strdup(o.api_key) : NULL;
    s->o.api_key = NULL; /* only the copy, never printed */
    s->o.model_name = s->o.models_root = NULL;
    s->o.load_engine = NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->load_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    sa_kernels_init(&s->k, o.n_threads);
    sa_status st = model_new(&s->models, o.model_name ? o.model_name : "selfalign", m, tok, &s->tmpl, o.max_ctx, err);
    if (!st) s->models->e = e;
    if (!st && o.models_root && !(s->models_root = realpath(o.models_root, NULL)))
        st = sa_err_set(err, SA_ERR_NOT_FOUND, "serve: --models-root %.200s: %s", o.models_root, strerror(errno));
    if (!st && (!(s->rows = sa_malloc_array(SA_ENGINE_SCORE_BLOCK, sizeof(sa_batch_row))) ||
                !(s->batch = sa_calloc((size_t)o.max_batch, sizeof *s->batch))))
        st = sa_err_set(err, SA_ERR_NOMEM, "serve: out of memory");
    if (!st && !s->host) st = sa_err_set(err, SA_ERR_NOMEM, "serve: out of memory");
    if (!st) {
        if (pthread_create(&s->sched, NULL, scheduler_main, s)) st = sa_err_set(err, SA_ERR_IO, "serve: cannot start the scheduler thread");
        else s->sched_started = true;
    }
    if (!st) {
        s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC,
                                0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned)o.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
        if (!s->d) st = sa_err_set(err, SA_ERR_IO, "serve: cannot listen on %s:%d (in use, or not allowed)", host, o.port);
    }
    if (!st) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = di ? di->port : o.port;
    }
    if (st) {
        sa_serve_free(s);
        return st;
    }
    *out = s;
    return SA_OK;
}

#endif
