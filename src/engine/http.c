/* http.c — the HTTP engine (engine_http.h): sa_engine's operations over an
 * OpenAI-compatible server with libcurl's multi interface, retries with
 * exponential backoff and jitter, and a capability probe. */
#include "sa/engine_http.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

sa_engine_http_opts sa_engine_http_defaults(void) {
    return (sa_engine_http_opts){.url = NULL, .api_key_env = NULL, .model = NULL, .tok = NULL, .concurrency = 8,
                                 .timeout_s = 300, .connect_timeout_s = 10, .max_retries = 10, .backoff_s = 0.25,
                                 .backoff_max_s = 8, .probe = true, .log = NULL, .load_model_dir = NULL,
                                 .load_adapter_dir = NULL};
}

#ifndef SA_HAVE_CURL

sa_status sa_engine_http_new(sa_engine **out, const sa_engine_http_opts *o, sa_err *err) {
    (void)o;
    *out = NULL;
    return sa_err_set(err, SA_ERR_UNSUPPORTED, "the HTTP engine needs libcurl: this build has none (install "
                                               "libcurl4-openssl-dev and rebuild without NO_CURL=1)");
}
sa_status sa_engine_http_get_caps(const sa_engine *e, sa_engine_http_caps *out, sa_err *err) {
    (void)e, (void)out;
    return sa_err_set(err, SA_ERR_INVALID_ARG, "not an HTTP engine");
}
bool sa_engine_is_http(const sa_engine *e) { return e && false; }
void sa_engine_http_get_stats(const sa_engine *e, sa_engine_http_stats *out) { (void)e, memset(out, 0, sizeof *out); }

#else

#include <curl/curl.h>
#include <time.h>
#include <unistd.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/rng.h"
#include "sa/signal.h"
#include "sa/strbuf.h"

#define MAX_RESPONSE (64u << 20)

typedef struct http_engine {
    sa_engine base;
    sa_engine_http_opts o;
    char *url;      /* base, without a trailing "/" or "/v1" */
    char *shown;    /* the URL for messages (user:password@ removed) */
    char *auth;     /* "Authorization: Bearer ..." or NULL: never printed */
    char *load_dirs[2]; /* owned copies of load_model_dir, load_adapter_dir */
    const char *load_dir; /* the one sent, when caps.loaded */
    bool reload;        /* the server lost the model we loaded (restarted): load it again before retrying */
    sa_engine_http_caps caps;
    bool probed;
    CURLM *multi;
    sa_rng rng;     /* backoff jitter only: results never depend on it */
    sa_engine_stats stats;
    sa_engine_http_stats hs;
} http_engine;

static const sa_engine_ops k_http_ops;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- transfers with retries ------------------------------------------------------------- */

enum { X_NEW = 0, X_ACTIVE, X_WAIT, X_DONE };

typedef struct xfer {
    char *body;   /* JSON to POST, or NULL for GET */
    int state, attempt;
    double due;
    CURL *h;
    struct curl_slist *hdrs;
    sa_strbuf resp;
    bool overflow;
} xfer;

/* Called once per transfer with its final answer (2xx or a 4xx that is not
 * retried). A non-OK return stops the whole run with that status. */
typedef sa_status (*xfer_done_fn)(void *ctx, size_t idx, long status, const sa_strbuf *body, sa_err *err);

static size_t on_write(char *p, size_t sz, size_t nm, void *ud) {
    xfer *x = ud;
    size_t n = sz * nm;
    if (x->resp.len + n > MAX_RESPONSE) {
        x->overflow = true;
        return 0;
    }
    return sa_strbuf_append(&x->resp, p, n) ? 0 : n;
}

static size_t discard(char *p, size_t sz, size_t nm, void *ud) {
    (void)p, (void)ud;
    return sz * nm;
}

static sa_status start_xfer(http_engine *h, const char *path, xfer *x, size_t idx, sa_err *err) {
    sa_strbuf url = {0};
    sa_strbuf_appendf(&url, "%s%s", h->url, path);
    sa_strbuf_reset(&x->resp);
    x->overflow = false;
    x->h = curl_easy_init();
    x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (x->hdrs) x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    if (x->hdrs && h->auth) x->hdrs = curl_slist_append(x->hdrs, h->auth);
    if (!x->h || !x->hdrs) {
        sa_strbuf_free(&url);
        return sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
    }
    curl_easy_setopt(x->h, CURLOPT_URL, sa_strbuf_cstr(&url));
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, (void *)(uintptr_t)idx);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)(h->o.timeout_s * 1000));
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(h->o.connect_timeout_s * 1000));
    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (x->body) {
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    } else {
        curl_easy_setopt(x->h, CURLOPT_HTTPGET, 1L);
    }
    sa_strbuf_free(&url); /* curl copies the URL */
    if (curl_multi_add_handle(h->multi, x->h) != CURLM_OK) return sa_err_set(err, SA_ERR_IO, "http engine: curl_multi_add_handle failed");
    x->state = X_ACTIVE;
    x->attempt++;
    h->hs.attempts++;
    return SA_OK;
}

static void end_xfer(http_engine *h, xfer *x) {
    if (x->h) {
        curl_multi_remove_handle(h->multi, x->h);
        curl_easy_cleanup(x->h);
    }
    curl_slist_free_all(x->hdrs);
    x->h = NULL;
    x->hdrs = NULL;
}

/* The server's error message from an OpenAI-style body (or the start of the body). */
static void server_message(const sa_strbuf *b, char *out, size_t cap) {
    json_t *v = NULL;
    const char *m = NULL;
    if (b->len && !sa_json_parse(b->buf, b->len, "response", &v, NULL)) {
        json_t *e = json_object_get(v, "error");
        m = json_string_value(json_is_object(e) ? json_object_get(e, "message") : e);
        if (!m) m = json_string_value(json_object_get(v, "message"));
    }
    if (m) snprintf(out, cap, "%.300s", m);
    else if (b->len) snprintf(out, cap, "%.120s", sa_strbuf_cstr(b));
    else snprintf(out, cap, "(empty body)");
    json_decref(v);
}

static bool retryable_curl(CURLcode c) {
    return c != CURLE_OK && c != CURLE_UNSUPPORTED_PROTOCOL && c != CURLE_URL_MALFORMAT && c != CURLE_OUT_OF_MEMORY &&
           c != CURLE_WRITE_ERROR;
}

/* Load the model again (one blocking request) after the server answered
 * 404 for it; on failure the retries go on and count against max_retries. */
static void reload_model(http_engine *h) {
    h->reload = false;
    json_t *o = json_object();
    json_object_set_new(o, "lora_name", json_string(h->caps.model));
    json_object_set_new(o, "lora_path", json_string(h->load_dir));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    sa_strbuf url = {0};
    sa_strbuf_appendf(&url, "%s/v1/load_lora_adapter", h->url);
    CURL *c = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    if (hd && h->auth) hd = curl_slist_append(hd, h->auth);
    long code = 0;
    if (c && hd && body && url.buf) {
        curl_easy_setopt(c, CURLOPT_URL, url.buf);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(h->o.timeout_s * 1000));
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(h->o.connect_timeout_s * 1000));
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    }
    if (h->o.log)
        fprintf(h->o.log, "http engine: %s no longer has %s: %s\n", h->shown, h->caps.model,
                code == 200 ? "loaded it again" : "loading it again failed (will retry)");
    curl_slist_free_all(hd);
    if (c) curl_easy_cleanup(c);
    sa_strbuf_free(&url);
    free(body);
}

static sa_status run_xfers(http_engine *h, const char *path, xfer *xs, size_t n, xfer_done_fn fn, void *ctx,
                           sa_err *err) {
    size_t next_new = 0, done = 0;
    int32_t active = 0;
    sa_status s = SA_OK;
    const char *method = xs && n && xs[0].body ? "POST" : "GET";
    while (done < n && !s) {
        if (sa_signal_pending()) {
            s = sa_signal_check(err);
            break;
        }
        if (h->reload) reload_model(h);
        double now = mono_s();
        while (active < h->o.concurrency && !s) {
            size_t pick = n;
            for (size_t i = 0; i < next_new && pick == n; i++)
                if (xs[i].state == X_WAIT && xs[i].due <= now) pick = i;
            if (pick == n && next_new < n) pick = next_new++;
            if (pick == n) break;
            s = start_xfer(h, path, &xs[pick], pick, err);
            active++;
        }
        if (s) break;
        int running = 0;
        curl_multi_perform(h->multi, &running);
        CURLMsg *msg;
        int left;
        while (!s && (msg = curl_multi_info_read(h->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            void *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            size_t i = (size_t)(uintptr_t)priv;
            xfer *x = &xs[i];
            CURLcode rc = msg->data.result;
            long code = 0;
            curl_off_t retry_after = 0;
            curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
            curl_easy_getinfo(x->h, CURLINFO_RETRY_AFTER, &retry_after);
            end_xfer(h, x);
            active--;
            bool lost = code == 404 && h->caps.loaded && strcmp(path, "/v1/completions") == 0;
            if (lost) h->reload = true; /* a restarted server forgot the model: load it again, then retry */
            bool transient = (rc != CURLE_OK && retryable_curl(rc)) || code == 429 || code == 408 || code >= 500 || lost;
            if (rc != CURLE_OK && !transient) {
                s = sa_err_set(err, SA_ERR_IO, "http engine: %s %s%s: %s", method, h->shown, path,
                               x->overflow ? "response larger than 64 MiB" : curl_easy_strerror(rc));
                break;
            }
            if (transient) {
                char why[400];
                if (rc != CURLE_OK) snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
                else {
                    char m[320];
                    server_message(&x->resp, m, sizeof m);
                    snprintf(why, sizeof why, "HTTP %ld: %s", code, m);
                }
                if (x->attempt > h->o.max_retries) {
                    s = sa_err_set(err, SA_ERR_IO, "http engine: %s %s%s failed after %d attempts; last: %s", method,
                                   h->shown, path, x->attempt, why);
                    break;
                }
                double d = h->o.backoff_s * pow(2, x->attempt - 1);
                if (d > h->o.backoff_max_s) d = h->o.backoff_max_s;
                d *= 0.5 + 0.5 * sa_rng_double(&h->rng); /* jitter: spread the retries of many clients */
                if (retry_after > 0 && (double)retry_after > d)
                    d = (double)retry_after < h->o.backoff_max_s ? (double)retry_after : h->o.backoff_max_s;
                x->state = X_WAIT;
                x->due = mono_s() + d;
                h->hs.retries++;
                if (h->o.log)
                    fprintf(h->o.log, "http engine: retry %d of %s%s in %.2f s (%s)\n", x->attempt, h->shown, path, d, why);
                continue;
            }
            x->state = X_DONE;
            done++;
            if (code >= 200 && code < 300) h->hs.successes++;
            else h->hs.request_errors++;
            s = fn(ctx, i, code, &x->resp, err);
        }
        if (s || done >= n) break;
        double wait = 0.1;
        if (active == 0) { /* only retries are waiting: sleep until the first is due */
            double first = 1e30;
            for (size_t i = 0; i < next_new; i++)
                if (xs[i].state == X_WAIT && xs[i].due < first) first = xs[i].due;
            wait = first - mono_s();
            if (wait > 0.1) wait = 0.1;
        }
        if (wait > 0) curl_multi_poll(h->multi, NULL, 0, (int)(wait * 1000) + 1, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        if (xs[i].state == X_ACTIVE) end_xfer(h, &xs[i]);
        sa_strbuf_free(&xs[i].resp);
    }
    return s;
}

/* ---- request bodies ---------------------------------------------------------------------- */

static char *dump(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static json_t *ids_json(const int32_t *ids, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
    return a;
}

static json_t *base_body(const http_engine *h) {
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(h->caps.model));
    json_object_set_new(o, "n", json_integer(1));
    json_object_set_new(o, "stream", json_false());
    return o;
}

static sa_status encode_text(const http_engine *h, const char *text, bool trusted, bool add_bos, sa_tokens *out,
                             sa_err *err) {
    unsigned flags = (trusted ? SA_ENCODE_SPECIAL : 0) | (add_bos ? SA_ENCODE_BOS : 0);
    return sa_tokenizer_encode(h->o.tok, text ? text : "", text ? strlen(text) : 0, flags, out, err);
}

/* The /v1/completions body for one generation request (NULL + msg if it cannot be sent). */
static char *gen_body(http_engine *h, const sa_gen_request *r, char *msg, size_t cap) {
    if (r->n_allowed_first > 0 && !h->caps.selfalign) {
        snprintf(msg, cap, "a first-token constraint needs a selfalign server (this one is not)");
        return NULL;
    }
    json_t *o = base_body(h);
    int64_t n_prompt = -1; /* tokens, when known here */
    if (r->prompt_tokens) {
        json_object_set_new(o, "prompt", ids_json(r->prompt_tokens, (size_t)r->n_prompt_tokens));
        h->stats.prompt_tokens += (uint64_t)r->n_prompt_tokens;
        n_prompt = r->n_prompt_tokens;
    } else if (h->o.tok) {
        sa_tokens t = {0};
        sa_err e = {0};
        if (encode_text(h, r->prompt, r->prompt_trusted, r->add_bos, &t, &e)) {
            snprintf(msg, cap, "%s", e.msg);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "prompt", ids_json(t.ids, t.n));
        h->stats.prompt_tokens += t.n;
        n_prompt = (int64_t)t.n;
        sa_tokens_free(&t);
    } else {
        json_object_set_new(o, "prompt", json_string(r->prompt ? r->prompt : ""));
    }
    /* The local engine generates until the context is full; vLLM refuses a
     * request whose prompt and max_tokens together exceed max_model_len, so
     * ask for no more than the context holds (a prompt that fills it is left
     * for the server to refuse). */
    int64_t max_tokens = r->max_tokens > 0 ? r->max_tokens : 0;
    if (h->caps.max_ctx > 0 && n_prompt >= 0 && n_prompt < h->caps.max_ctx && max_tokens > h->caps.max_ctx - n_prompt)
        max_tokens = h->caps.max_ctx - n_prompt;
    json_object_set_new(o, "max_tokens", json_integer((json_int_t)max_tokens));
    json_object_set_new(o, "temperature", json_real(r->sampling.temperature));
    json_object_set_new(o, "top_p", json_real(r->sampling.top_p));
    if (r->sampling.top_k > 0) json_object_set_new(o, "top_k", json_integer(r->sampling.top_k));
    if (r->sampling.min_p > 0) json_object_set_new(o, "min_p", json_real(r->sampling.min_p));
    if (r->sampling.repetition_penalty != 1.0f)
        json_object_set_new(o, "repetition_penalty", json_real(r->sampling.repetition_penalty));
    if (h->caps.selfalign) {
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)r->id);
        json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
        json_object_set_new(o, "sa_id", json_string(id));
        if (r->n_allowed_first > 0)
            json_object_set_new(o, "sa_first_token_ids", ids_json(r->allowed_first, (size_t)r->n_allowed_first));
    } else {
        json_object_set_new(o, "seed", json_integer((json_int_t)(sa_hash_mix(r->seed, r->id) >> 1)));
    }
    if (r->n_stop > 0) {
        json_t *st = json_array();
        for (int32_t i = 0; i < r->n_stop; i++)
            if (r->stop[i] && *r->stop[i]) json_array_append_new(st, json_string(r->stop[i]));
        json_object_set_new(o, "stop", st);
    }
    return dump(o);
}

/* choices[0] of a completion response, or NULL with msg. */
static json_t *parse_choice(const sa_strbuf *b, json_t **doc, char *msg, size_t cap) {
    sa_err e = {0};
    *doc = NULL;
    if (sa_json_parse(b->buf ? b->buf : "", b->len, "response", doc, &e)) {
        snprintf(msg, cap, "bad response from the server: %.400s", e.msg);
        return NULL;
    }
    json_t *ch = json_array_get(json_object_get(*doc, "choices"), 0);
    if (!json_is_object(ch)) snprintf(msg, cap, "bad response from the server: no choices[0]");
    return json_is_object(ch) ? ch : NULL;
}

/* ---- generate ------------------------------------------------------------------------------ */

typedef struct gen_ctx {
    http_engine *h;
    const sa_gen_request *reqs;
    sa_gen_callback cb;
    void *ctx;
    char **pre_err; /* per request: could not be sent */
} gen_ctx;

static sa_status deliver_error(gen_ctx *g, size_t i, const char *msg) {
    sa_gen_result r = {0};
    r.id = g->reqs[i].id;
    r.text = "";
    r.finish = SA_FINISH_ERROR;
    r.error = msg;
    r.user = g->reqs[i].user;
    g->h->stats.requests++;
    return g->cb(g->ctx, &r);
}

static sa_status on_gen_done(void *p, size_t i, long code, const sa_strbuf *b, sa_err *err) {
    gen_ctx *g = p;
    char msg[512];
    if (code < 200 || code >= 300) {
        char m[400];
        server_message(b, m, sizeof m);
        snprintf(msg, sizeof msg, "server answered HTTP %ld: %s", code, m);
        sa_status s = deliver_error(g, i, msg);
        return s ? sa_err_set(err, s, "generation stopped by the callback (status %s)", sa_status_str(s)) : SA_OK;
    }
    json_t *doc;
    json_t *ch = parse_choice(b, &doc, msg, sizeof msg);
    const char *text = ch ? json_string_value(json_object_get(ch, "text")) : NULL;
    if (ch && !text) snprintf(msg, sizeof msg, "bad response from the server: choices[0].text is not a string");
    sa_status s;
    if (!text) {
        s = deliver_error(g, i, msg);
    } else {
        sa_gen_result r = {0};
        const sa_gen_request *q = &g->reqs[i];
        r.id = q->id;
        r.user = q->user;
        r.text = text;
        r.text_len = json_string_length(json_object_get(ch, "text"));
        sa_tokens toks = {0};
        json_t *ti = json_object_get(ch, "token_ids");
        size_t k;
        json_t *x;
        if (json_is_array(ti)) {
            json_array_foreach(ti, k, x) if (json_is_integer(x)) sa_tokens_push(&toks, (int32_t)json_integer_value(x));
        } else if (g->h->o.tok) {
            sa_tokenizer_encode(g->h->o.tok, text, r.text_len, 0, &toks, NULL);
        }
        r.tokens = toks.ids;
        r.n_tokens = (int32_t)toks.n;
        json_t *usage = json_object_get(doc, "usage");
        r.n_prompt_tokens = (int32_t)json_integer_value(json_object_get(usage, "prompt_tokens"));
        const char *fin = json_string_value(json_object_get(ch, "sa_finish"));
        const char *fr = json_string_value(json_object_get(ch, "finish_reason"));
        if (fin && strcmp(fin, "eos") == 0) r.finish = SA_FINISH_EOS;
        else if (fin && strcmp(fin, "stop") == 0) r.finish = SA_FINISH_STOP;
        else if (fin && strcmp(fin, "context") == 0) r.finish = SA_FINISH_CONTEXT;
        else if (fin) r.finish = SA_FINISH_LENGTH;
        else if (fr && strcmp(fr, "length") == 0) r.finish = SA_FINISH_LENGTH;
        else { /* "stop": a stop string if the server names one (vLLM's stop_reason), else the end of the turn */
            r.finish = json_is_string(json_object_get(ch, "stop_reason")) ? SA_FINISH_STOP : SA_FINISH_EOS;
        }
        /* max_tokens cut to the context (gen_body): reaching it is reaching the context, as the local engine says */
        int32_t ctx_max = g->h->caps.max_ctx;
        if (r.finish == SA_FINISH_LENGTH && ctx_max > 0 && r.n_prompt_tokens > 0 && r.n_prompt_tokens < ctx_max &&
            q->max_tokens > ctx_max - r.n_prompt_tokens)
            r.finish = SA_FINISH_CONTEXT;
        g->h->stats.requests++;
        g->h->stats.generated_tokens += toks.n;
        s = g->cb(g->ctx, &r);
        sa_tokens_free(&toks);
    }
    json_decref(doc);
    return s ? sa_err_set(err, s, "generation stopped by the callback (status %s)", sa_status_str(s)) : SA_OK;
}

static sa_status http_generate(sa_engine *eng, const sa_gen_request *reqs, size_t n, sa_gen_callback cb, void *ctx,
                               sa_err *err) {
    http_engine *h = (http_engine *)eng;
    xfer *xs = sa_calloc(n ? n : 1, sizeof *xs);
    size_t *map = sa_calloc(n ? n : 1, sizeof *map);
    if (!xs || !map) {
        free(xs);
        free(map);
        return sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
    }
    gen_ctx g = {h, reqs, cb, ctx, NULL};
    sa_status s = SA_OK;
    size_t nx = 0;
    for (size_t i = 0; i < n && !s; i++) {
        char msg[SA_ERR_MSG_MAX];
        char *body = gen_body(h, &reqs[i], msg, sizeof msg);
        if (!body) {
            s = deliver_error(&g, i, msg);
            if (s) sa_err_set(err, s, "generation stopped by the callback (status %s)", sa_status_str(s));
            continue;
        }
        xs[nx].body = body;
        map[nx++] = i;
    }
    if (!s && nx) { /* transfers are numbered 0..nx: hand the callback the requests in that order */
        gen_ctx g2 = g;
        sa_gen_request *sent = sa_malloc_array(nx, sizeof *sent);
        if (!sent) s = sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
        else {
            for (size_t k = 0; k < nx; k++) sent[k] = reqs[map[k]];
            g2.reqs = sent;
            s = run_xfers(h, "/v1/completions", xs, nx, on_gen_done, &g2, err);
            free(sent);
        }
    }
    for (size_t i = 0; i < nx; i++) free(xs[i].body);
    free(xs);
    free(map);
    return s;
}

/* ---- scoring ------------------------------------------------------------------------------- */

static int32_t lcp(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return (int32_t)i;
}

/* Prompt + continuation as the local engine tokenizes them (engine.h's
 * encode rule), and where the continuation starts. */
static sa_status encode_pair(const http_engine *h, const sa_score_request *rq, sa_tokens *all, int32_t *np, sa_err *e) {
    const char *p = rq->prompt ? rq->prompt : "", *c = rq->continuation ? rq->continuation : "";
    sa_tokens tmp = {0};
    sa_status s = SA_OK;
    all->n = 0;
    if (rq->n_prompt_tokens > 0) {
        for (int32_t i = 0; i < rq->n_prompt_tokens && !s; i++) s = sa_tokens_push(&tmp, rq->prompt_tokens[i]);
    } else {
        s = encode_text(h, p, rq->prompt_trusted, rq->add_bos, &tmp, e);
    }
    if (!s && (rq->prompt_trusted || rq->n_prompt_tokens > 0)) {
        for (size_t i = 0; i < tmp.n && !s; i++) s = sa_tokens_push(all, tmp.ids[i]);
        *np = (int32_t)tmp.n;
        if (!s) s = sa_tokenizer_encode(h->o.tok, c, strlen(c), 0, all, e);
    } else if (!s) {
        size_t lp = strlen(p), lc = strlen(c);
        char *joined = sa_malloc(lp + lc + 1);
        if (!joined) s = sa_err_set(e, SA_ERR_NOMEM, "out of memory");
        else {
            memcpy(joined, p, lp);
            memcpy(joined + lp, c, lc + 1);
            s = encode_text(h, joined, false, rq->add_bos, all, e);
            free(joined);
            if (!s) *np = lcp(tmp.ids, tmp.n, all->ids, all->n);
        }
    }
    sa_tokens_free(&tmp);
    return s;
}

typedef struct score_ctx {
    http_engine *h;
    sa_score_result *out;
    size_t *map;     /* transfer -> request */
    int32_t *np, *n; /* per transfer: continuation start and total tokens */
} score_ctx;

static sa_status unsupported_logprobs(const http_engine *h, sa_err *err) {
    return sa_err_set(err, SA_ERR_UNSUPPORTED,
                      "the server at %s does not return prompt-token log-probabilities (echo + logprobs with "
                      "max_tokens 0), so it cannot score text: use selfalign serve or vLLM, or the local engine",
                      h->shown);
}

static sa_status on_score_done(void *p, size_t k, long code, const sa_strbuf *b, sa_err *err) {
    score_ctx *c = p;
    sa_score_result *r = &c->out[c->map[k]];
    if (code < 200 || code >= 300) {
        r->status = code == 400 || code == 422 ? SA_ERR_INVALID_ARG : SA_ERR_IO;
        return SA_OK;
    }
    char msg[256];
    json_t *doc;
    json_t *ch = parse_choice(b, &doc, msg, sizeof msg);
    json_t *tl = json_object_get(json_object_get(ch, "logprobs"), "token_logprobs");
    int32_t np = c->np[k], n = c->n[k];
    if (!json_is_array(tl) || json_array_size(tl) < (size_t)n) {
        json_decref(doc);
        return unsupported_logprobs(c->h, err);
    }
    r->n_tokens = n - np;
    r->token_logprobs = sa_calloc((size_t)r->n_tokens, sizeof(float));
    if (!r->token_logprobs) {
        json_decref(doc);
        return sa_err_set(err, SA_ERR_NOMEM, "score: out of memory");
    }
    for (int32_t i = np; i < n; i++) {
        json_t *v = json_array_get(tl, (size_t)i);
        if (!json_is_number(v)) {
            json_decref(doc);
            return unsupported_logprobs(c->h, err);
        }
        double lp = json_number_value(v);
        r->token_logprobs[i - np] = (float)lp;
        r->logprob_sum += lp;
    }
    c->h->stats.requests++;
    json_decref(doc);
    return SA_OK;
}

static sa_status http_score(sa_engine *eng, const sa_score_request *reqs, size_t n, sa_score_result *out, sa_err *err) {
    http_engine *h = (http_engine *)eng;
    for (size_t i = 0; i < n; i++) memset(&out[i], 0, sizeof out[i]);
    if (!h->o.tok)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "the HTTP engine scores only with a tokenizer (give the model's "
                                                   "tokenizer: --tokenizer or --model)");
    if (h->probed && !h->caps.prompt_logprobs) return unsupported_logprobs(h, err);
    xfer *xs = sa_calloc(n ? n : 1, sizeof *xs);
    size_t *map = sa_calloc(n ? n : 1, sizeof *map);
    int32_t *np = sa_calloc(n ? n : 1, sizeof *np), *nt = sa_calloc(n ? n : 1, sizeof *nt);
    sa_status s = (!xs || !map || !np || !nt) ? sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory") : SA_OK;
    size_t nx = 0;
    sa_tokens all = {0};
    for (size_t i = 0; i < n && !s; i++) {
        sa_err e = {0};
        int32_t p = 0;
        out[i].status = encode_pair(h, &reqs[i], &all, &p, &e);
        if (out[i].status) continue;
        if (p == 0 || (int32_t)all.n <= p) {
            out[i].status = SA_ERR_INVALID_ARG;
            continue;
        }
        json_t *o = base_body(h);
        json_object_set_new(o, "prompt", ids_json(all.ids, all.n));
        json_object_set_new(o, "max_tokens", json_integer(0));
        json_object_set_new(o, "echo", json_true());
        json_object_set_new(o, "temperature", json_real(0));
        json_object_set_new(o, "logprobs", json_integer(h->caps.selfalign ? 0 : 1));
        if (h->caps.selfalign) json_object_set_new(o, "sa_logprobs_from", json_integer(p));
        xs[nx].body = dump(o);
        if (!xs[nx].body) {
            s = sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
            break;
        }
        h->stats.prompt_tokens += all.n;
        map[nx] = i;
        np[nx] = p;
        nt[nx++] = (int32_t)all.n;
    }
    sa_tokens_free(&all);
    score_ctx c = {h, out, map, np, nt};
    if (!s && nx) s = run_xfers(h, "/v1/completions", xs, nx, on_score_done, &c, err);
    for (size_t i = 0; xs && i < nx; i++) free(xs[i].body);
    free(xs);
    free(map);
    free(np);
    free(nt);
    return s;
}

/* ---- next-token probabilities --------------------------------------------------------------- */

typedef struct probs_ctx {
    http_engine *h;
    const int32_t *cands;
    int32_t n_cands;
    float *probs;
    bool exact;
    const int32_t *toks; /* the prompt: candidates are decoded in its context */
    int32_t n_toks;
    char msg[400];
    long code;
} probs_ctx;

static sa_status on_probs_done(void *p, size_t k, long code, const sa_strbuf *b, sa_err *err) {
    (void)k;
    probs_ctx *c = p;
    c->code = code;
    if (code < 200 || code >= 300) {
        server_message(b, c->msg, sizeof c->msg);
        return SA_OK;
    }
    json_t *doc;
    json_t *ch = parse_choice(b, &doc, c->msg, sizeof c->msg);
    sa_status s = SA_OK;
    for (int32_t i = 0; i < c->n_cands; i++) c->probs[i] = 0;
    if (c->exact) {
        json_t *cl = json_object_get(ch, "sa_candidate_logprobs");
        size_t j = 0;
        for (int32_t i = 0; i < c->n_cands; i++) {
            if (c->cands[i] < 0 || (c->h->o.tok && c->cands[i] >= sa_tokenizer_vocab_size(c->h->o.tok))) continue;
            json_t *v = json_array_get(cl, j++);
            if (!json_is_number(v)) {
                s = sa_err_set(err, SA_ERR_FORMAT, "http engine: the server sent no sa_candidate_logprobs");
                break;
            }
            c->probs[i] = (float)exp(json_number_value(v));
        }
    } else {
        json_t *top = json_array_get(json_object_get(json_object_get(ch, "logprobs"), "top_logprobs"), 0);
        if (!json_is_object(top)) {
            s = sa_err_set(err, SA_ERR_UNSUPPORTED, "the server at %s returns no top_logprobs, so next-token "
                                                    "probabilities are unavailable (use selfalign serve)", c->h->shown);
        }
        sa_strbuf before = {0}, after = {0};
        int32_t w[9], w0 = c->n_toks > 8 ? c->n_toks - 8 : 0, nw = c->n_toks - w0;
        memcpy(w, c->toks + w0, (size_t)nw * sizeof(int32_t));
        sa_tokenizer_decode(c->h->o.tok, w, (size_t)nw, SA_DECODE_SKIP_SPECIAL, &before, NULL);
        for (int32_t i = 0; !s && i < c->n_cands; i++) { /* the token's text as the server shows it */
            w[nw] = c->cands[i];
            sa_strbuf_reset(&after);
            if (sa_tokenizer_decode(c->h->o.tok, w, (size_t)nw + 1, SA_DECODE_SKIP_SPECIAL, &after, NULL) ||
                after.len < before.len)
                continue;
            json_t *v = json_object_get(top, sa_strbuf_cstr(&after) + before.len);
            if (json_is_number(v)) c->probs[i] = (float)exp(json_number_value(v));
        }
        sa_strbuf_free(&before);
        sa_strbuf_free(&after);
    }
    c->h->stats.requests++;
    json_decref(doc);
    return s;
}

static sa_status http_next_tokens(sa_engine *eng, const int32_t *toks, int32_t n_toks, const int32_t *cands,
                                  int32_t n_cands, float *probs, sa_err *err) {
    http_engine *h = (http_engine *)eng;
    if (!toks || n_toks <= 0) return sa_err_set(err, SA_ERR_INVALID_ARG, "next-token probabilities: empty prompt");
    if (!h->caps.selfalign && !h->o.tok)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "next-token probabilities from %s need selfalign serve, or the "
                                                   "model's tokenizer to read top_logprobs", h->shown);
    json_t *o = base_body(h);
    json_object_set_new(o, "prompt", ids_json(toks, (size_t)n_toks));
    json_object_set_new(o, "temperature", json_real(0));
    if (h->caps.selfalign) {
        json_t *c = json_array();
        for (int32_t i = 0; i < n_cands; i++)
            if (cands[i] >= 0 && (!h->o.tok || cands[i] < sa_tokenizer_vocab_size(h->o.tok)))
                json_array_append_new(c, json_integer(cands[i]));
        json_object_set_new(o, "max_tokens", json_integer(0));
        json_object_set_new(o, "sa_candidate_ids", c);
    } else {
        json_object_set_new(o, "max_tokens", json_integer(1));
        json_object_set_new(o, "logprobs", json_integer(20));
    }
    xfer x = {0};
    x.body = dump(o);
    if (!x.body) return sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
    h->stats.prompt_tokens += (uint64_t)n_toks;
    probs_ctx c = {h, cands, n_cands, probs, h->caps.selfalign, toks, n_toks, "", 0};
    sa_status s = run_xfers(h, "/v1/completions", &x, 1, on_probs_done, &c, err);
    free(x.body);
    if (!s && (c.code < 200 || c.code >= 300))
        s = sa_err_set(err, SA_ERR_INVALID_ARG, "next-token probabilities: server answered HTTP %ld: %s", c.code, c.msg);
    return s;
}

static sa_status http_next_token_probs(sa_engine *eng, const char *prompt, bool trusted, bool add_bos,
                                       const int32_t *cands, int32_t n_cands, float *probs, sa_err *err) {
    http_engine *h = (http_engine *)eng;
    if (!h->o.tok)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "next-token probabilities over HTTP need the model's tokenizer");
    sa_tokens t = {0};
    sa_status s = encode_text(h, prompt, trusted, add_bos, &t, err);
    if (!s) s = http_next_tokens(eng, t.ids, (int32_t)t.n, cands, n_cands, probs, err);
    sa_tokens_free(&t);
    return s;
}

/* ---- capabilities and lifecycle -------------------------------------------------------------- */

typedef struct probe_ctx {
    http_engine *h;
    long code;
    sa_strbuf body;
} probe_ctx;

static sa_status on_probe_done(void *p, size_t k, long code, const sa_strbuf *b, sa_err *err) {
    (void)k, (void)err;
    probe_ctx *c = p;
    c->code = code;
    sa_strbuf_reset(&c->body);
    sa_strbuf_append(&c->body, b->buf ? b->buf : "", b->len);
    return SA_OK;
}

/* POST {lora_name: the model, [lora_path]} to path; the status code and body in c. */
static sa_status post_model(http_engine *h, const char *path, const char *dir, probe_ctx *c, sa_err *err) {
    json_t *o = json_object();
    json_object_set_new(o, "lora_name", json_string(h->caps.model));
    if (dir) json_object_set_new(o, "lora_path", json_string(dir));
    xfer x = {0};
    x.body = dump(o);
    sa_status s = x.body ? run_xfers(h, path, &x, 1, on_probe_done, c, err) : sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
    free(x.body);
    return s;
}

/* The server does not list the model: load it, if we were told from where. */
static sa_status load_model(http_engine *h, bool server_ours, sa_err *err) {
    const char *dir = server_ours ? h->o.load_model_dir : h->o.load_adapter_dir;
    if (!h->o.load_model_dir && !h->o.load_adapter_dir)
        return sa_err_set(err, SA_ERR_NOT_FOUND, "http engine: %s/v1/models does not list the model '%s'", h->shown,
                          h->caps.model);
    if (!dir)
        return sa_err_set(err, SA_ERR_UNSUPPORTED,
                          "http engine: %s does not list the model '%s' and, not being selfalign serve, can load "
                          "only a LoRA adapter at run time: this one was fully fine-tuned (train it with LoRA, or "
                          "serve %s yourself under that name)",
                          h->shown, h->caps.model, h->o.load_model_dir);
    probe_ctx c = {h, 0, {0}};
    sa_status s = post_model(h, "/v1/load_lora_adapter", dir, &c, err);
    if (!s && c.code != 200) {
        char msg[400];
        server_message(&c.body, msg, sizeof msg);
        s = sa_err_set(err, c.code == 404 && !server_ours ? SA_ERR_UNSUPPORTED : SA_ERR_IO,
                       "http engine: %s cannot load the model '%s' from %s (HTTP %ld: %s)%s", h->shown, h->caps.model,
                       dir, c.code, msg,
                       c.code == 404 ? server_ours ? ": start selfalign serve with --models-root over the run directory"
                                                   : ": start vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora"
                                     : "");
    }
    if (!s) {
        h->caps.loaded = true;
        h->load_dir = dir;
        h->caps.selfalign = server_ours;
        if (h->o.log) fprintf(h->o.log, "http engine: %s loaded %s\n", h->shown, h->caps.model);
    }
    sa_strbuf_free(&c.body);
    return s;
}

static sa_status probe(http_engine *h, sa_err *err) {
    probe_ctx c = {h, 0, {0}};
    xfer x = {0};
    sa_status s = run_xfers(h, "/v1/models", &x, 1, on_probe_done, &c, err);
    char msg[400];
    if (!s && c.code == 401)
        s = sa_err_set(err, SA_ERR_INVALID_ARG, "http engine: %s refused the request (401)%s", h->shown,
                       h->auth ? ": check the key in the variable named by --api-key-env" : ": it needs a key (--api-key-env VAR)");
    else if (!s && c.code != 200) {
        server_message(&c.body, msg, sizeof msg);
        s = sa_err_set(err, SA_ERR_IO, "http engine: GET %s/v1/models answered HTTP %ld: %s", h->shown, c.code, msg);
    }
    json_t *doc = NULL;
    if (!s && sa_json_parse(c.body.buf ? c.body.buf : "", c.body.len, "models", &doc, err)) {
        sa_err_prefix(err, "http engine: GET %s/v1/models: ", h->shown);
        s = SA_ERR_FORMAT;
    }
    bool listed = false, server_ours = false;
    if (!s) {
        json_t *data = json_object_get(doc, "data"), *m;
        size_t i;
        const char *first = NULL;
        json_int_t first_len = 0;
        json_array_foreach(data, i, m) {
            const char *id = json_string_value(json_object_get(m, "id"));
            const char *own = json_string_value(json_object_get(m, "owned_by"));
            json_int_t len = json_integer_value(json_object_get(m, "max_model_len")); /* vLLM and ours */
            if (len < 0 || len > INT32_MAX) len = 0;
            if (!id) continue;
            if (!first) first = id, first_len = len;
            bool ours = own && strcmp(own, "selfalign") == 0;
            server_ours |= ours;
            if (!h->o.model || strcmp(h->o.model, id) == 0) {
                if (!listed) h->caps.max_ctx = (int32_t)len; /* the first match is the model used */
                listed = true;
                h->caps.selfalign |= ours;
            }
        }
        if (!listed) h->caps.max_ctx = (int32_t)first_len; /* to be loaded beside the base */
        if (!h->o.model && !first)
            s = sa_err_set(err, SA_ERR_NOT_FOUND, "http engine: %s/v1/models lists no model", h->shown);
        else if (!h->o.model) snprintf(h->caps.model, sizeof h->caps.model, "%s", first); /* o.model is caps.model */
    }
    json_decref(doc);
    doc = NULL;
    if (!s && !listed) s = load_model(h, server_ours, err);
    /* can it score? one tiny echo request */
    if (!s) {
        json_t *o = base_body(h);
        sa_tokens t = {0};
        if (h->o.tok && !encode_text(h, "Hello world", false, true, &t, NULL) && t.n >= 2)
            json_object_set_new(o, "prompt", ids_json(t.ids, t.n));
        else json_object_set_new(o, "prompt", json_string("Hello world"));
        sa_tokens_free(&t);
        json_object_set_new(o, "max_tokens", json_integer(0));
        json_object_set_new(o, "echo", json_true());
        json_object_set_new(o, "logprobs", json_integer(1));
        json_object_set_new(o, "temperature", json_real(0));
        xfer y = {0};
        y.body = dump(o);
        s = y.body ? run_xfers(h, "/v1/completions", &y, 1, on_probe_done, &c, err)
                   : sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
        free(y.body);
        if (!s && c.code == 200 && !sa_json_parse(c.body.buf, c.body.len, "probe", &doc, NULL)) {
            json_t *tl = json_object_get(json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "logprobs"),
                                         "token_logprobs");
            size_t n = json_array_size(tl);
            h->caps.prompt_logprobs = n >= 2 && json_is_number(json_array_get(tl, n - 1));
        }
        json_decref(doc);
    }
    h->caps.next_token = h->caps.selfalign || h->o.tok;
    sa_strbuf_free(&c.body);
    h->probed = !s;
    return s;
}

sa_status sa_engine_http_get_caps(const sa_engine *e, sa_engine_http_caps *out, sa_err *err) {
    if (!sa_engine_is_http(e)) return sa_err_set(err, SA_ERR_INVALID_ARG, "not an HTTP engine");
    *out = ((const http_engine *)e)->caps;
    return SA_OK;
}

bool sa_engine_is_http(const sa_engine *e) { return e && e->ops == &k_http_ops; }

void sa_engine_http_get_stats(const sa_engine *e, sa_engine_http_stats *out) {
    if (sa_engine_is_http(e)) *out = ((const http_engine *)e)->hs;
    else memset(out, 0, sizeof *out);
}

static const sa_tokenizer *http_tokenizer(const sa_engine *e) { return ((const http_engine *)e)->o.tok; }
static void http_stats(const sa_engine *e, sa_engine_stats *out) { *out = ((const http_engine *)e)->stats; }

static void http_free(sa_engine *e) {
    http_engine *h = (http_engine *)e;
    if (h->caps.loaded && h->multi) { /* best effort: a server that is gone has nothing to free */
        probe_ctx c = {h, 0, {0}};
        sa_err ignored = {0};
        h->o.max_retries = 1;
        post_model(h, "/v1/unload_lora_adapter", NULL, &c, &ignored);
        sa_strbuf_free(&c.body);
    }
    if (h->multi) curl_multi_cleanup(h->multi);
    if (h->auth) memset(h->auth, 0, strlen(h->auth));
    free(h->auth);
    free(h->load_dirs[0]);
    free(h->load_dirs[1]);
    free(h->url);
    free(h->shown);
    free(h);
}

static int32_t http_max_context(const sa_engine *e) { return ((const http_engine *)e)->caps.max_ctx; }

static const sa_engine_ops k_http_ops = {http_generate, http_score, http_next_token_probs, http_tokenizer,
                                         http_stats, http_free, http_next_tokens, http_max_context};

sa_status sa_engine_http_new(sa_engine **out, const sa_engine_http_opts *opts, sa_err *err) {
    *out = NULL;
    sa_engine_http_opts o = opts ? *opts : sa_engine_http_defaults();
    if (!o.url || !*o.url) return sa_err_set(err, SA_ERR_INVALID_ARG, "http engine: no URL (--url http://host:port)");
    if (strncmp(o.url, "http://", 7) != 0 && strncmp(o.url, "https://", 8) != 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "http engine: the URL must start with http:// or https://");
    if (o.concurrency <= 0 || o.timeout_s <= 0 || o.max_retries < 0 || o.backoff_s < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "http engine: invalid options (concurrency %d, timeout %g s, retries %d)",
                          o.concurrency, o.timeout_s, o.max_retries);
    const char *key = NULL;
    if (o.api_key_env && *o.api_key_env) {
        key = getenv(o.api_key_env);
        if (!key || !*key)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "http engine: the environment variable %.64s (--api-key-env) is not set",
                              o.api_key_env);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return sa_err_set(err, SA_ERR_IO, "http engine: curl_global_init failed");
    http_engine *h = sa_calloc(1, sizeof *h);
    if (!h) return sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
    h->base.ops = &k_http_ops;
    h->o = o;
    h->o.url = h->o.model = h->o.api_key_env = h->o.load_model_dir = h->o.load_adapter_dir = NULL; /* copies below */
    size_t ul = strlen(o.url);
    while (ul && o.url[ul - 1] == '/') ul--;
    if (ul >= 3 && strncmp(o.url + ul - 3, "/v1", 3) == 0) ul -= 3;
    h->url = sa_strndup(o.url, ul);
    /* hide user:password@ in messages */
    const char *at = strchr(o.url, '@'), *hs = strstr(o.url, "://");
    const char *slash = hs ? strchr(hs + 3, '/') : NULL;
    sa_strbuf sh = {0};
    if (at && hs && (!slash || at < slash)) sa_strbuf_appendf(&sh, "%.*s://***@%.*s", (int)(hs - o.url), o.url, (int)(ul - (size_t)(at + 1 - o.url)), at + 1);
    else sa_strbuf_append(&sh, o.url, ul);
    h->shown = sa_strbuf_detach(&sh, NULL);
    if (key) {
        sa_strbuf a = {0};
        sa_strbuf_appendf(&a, "Authorization: Bearer %s", key);
        h->auth = sa_strbuf_detach(&a, NULL);
    }
    h->multi = curl_multi_init();
    snprintf(h->caps.model, sizeof h->caps.model, "%s", o.model ? o.model : "default");
    h->caps.prompt_logprobs = h->caps.next_token = true; /* until a probe says otherwise */
    sa_rng_init(&h->rng, (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)h);
    sa_status s = SA_OK;
    if (!h->url || !h->shown || !h->multi || (key && !h->auth)) s = sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
    if (!s) curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)o.concurrency + 4);
    if (!s && o.model) {
        if (strlen(o.model) >= sizeof h->caps.model) s = sa_err_set(err, SA_ERR_INVALID_ARG, "http engine: model name too long");
        h->o.model = h->caps.model;
    }
    if (!s && o.load_model_dir && !(h->o.load_model_dir = h->load_dirs[0] = sa_strdup(o.load_model_dir)))
        s = sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
    if (!s && o.load_adapter_dir && !(h->o.load_adapter_dir = h->load_dirs[1] = sa_strdup(o.load_adapter_dir)))
        s = sa_err_set(err, SA_ERR_NOMEM, "http engine: out of memory");
    if (!s && o.probe) s = probe(h, err);
    if (s) {
        http_free(&h->base);
        return s;
    }
    *out = &h->base;
    return SA_OK;
}

#endif
