/* serve_api.c — OpenAI request parsing and response shapes for the server
 * (serve.h). Requests are hostile: every field is type- and range-checked
 * and an error names it. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/chat.h"
#include "sa/utf8.h"
#include "serve_internal.h"

void serve_err_set(serve_err *e, int status, const char *param, const char *fmt, ...) {
    e->status = status;
    e->type = status == 401 ? "authentication_error" : status >= 500 ? "server_error" : "invalid_request_error";
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

json_t *serve_api_error(const serve_err *e) {
    json_t *in = json_object();
    json_object_set_new(in, "message", json_string(e->msg));
    json_object_set_new(in, "type", json_string(e->type ? e->type : "invalid_request_error"));
    json_object_set_new(in, "param", e->param[0] ? json_string(e->param) : json_null());
    json_object_set_new(in, "code", json_integer(e->status));
    json_t *o = json_object();
    json_object_set_new(o, "error", in);
    return o;
}

void serve_job_clear(serve_job *j) {
    sa_tokens_free(&j->prompt);
    sa_tokens_free(&j->first_ids);
    sa_tokens_free(&j->cands);
    sa_tokens_free(&j->out);
    for (int32_t i = 0; i < j->n_stop; i++) free(j->stop[i]);
    j->n_stop = 0;
    sa_strbuf_free(&j->text);
    free(j->error);
    free(j->lp);
    free(j->top_ids);
    free(j->top_lp);
    free(j->cand_lp);
    j->error = NULL;
    j->lp = j->cand_lp = NULL;
    j->top_lp = NULL;
    j->top_ids = NULL;
}

/* ---- typed fields (null counts as absent) ------------------------------------------- */

static const json_t *field(const json_t *o, const char *k) {
    const json_t *v = json_object_get(o, k);
    return json_is_null(v) ? NULL : v;
}

static bool get_num(const json_t *o, const char *k, double lo, double hi, double *out, serve_err *e) {
    const json_t *v = field(o, k);
    if (!v) return true;
    if (!json_is_number(v)) {
        serve_err_set(e, 400, k, "'%s' must be a number, not %s", k, json_is_string(v) ? "a string" : "this type");
        return false;
    }
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) {
        serve_err_set(e, 400, k, "'%s' must be between %g and %g (got %g)", k, lo, hi, d);
        return false;
    }
    *out = d;
    return true;
}

static bool get_int(const json_t *o, const char *k, long long lo, long long hi, long long *out, serve_err *e) {
    const json_t *v = field(o, k);
    if (!v) return true;
    if (!json_is_integer(v)) {
        serve_err_set(e, 400, k, "'%s' must be an integer", k);
        return false;
    }
    long long x = json_integer_value(v);
    if (x < lo || x > hi) {
        serve_err_set(e, 400, k, "'%s' must be between %lld and %lld (got %lld)", k, lo, hi, x);
        return false;
    }
    *out = x;
    return true;
}

static bool get_bool(const json_t *o, const char *k, bool *out, serve_err *e) {
    const json_t *v = field(o, k);
    if (!v) return true;
    if (!json_is_boolean(v)) {
        serve_err_set(e, 400, k, "'%s' must be a boolean", k);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* An array of token ids in [0, vocab) into out. */
static bool get_ids(const json_t *arr, const char *k, int32_t vocab, size_t max_n, sa_tokens *out, serve_err *e) {
    if (!json_is_array(arr)) {
        serve_err_set(e, 400, k, "'%s' must be an array of token ids", k);
        return false;
    }
    if (json_array_size(arr) > max_n) {
        serve_err_set(e, 400, k, "'%s' has %zu entries, at most %zu allowed", k, json_array_size(arr), max_n);
        return false;
    }
    size_t i;
    const json_t *x;
    json_array_foreach(arr, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= vocab) {
            serve_err_set(e, 400, k, "'%s'[%zu] must be a token id in [0, %d)", k, i, vocab);
            return false;
        }
        if (sa_tokens_push(out, (int32_t)json_integer_value(x))) {
            serve_err_set(e, 500, k, "out of memory");
            return false;
        }
    }
    return true;
}

static bool all_ints(const json_t *arr) {
    size_t i;
    const json_t *x;
    json_array_foreach(arr, i, x) if (!json_is_integer(x)) return false;
    return json_array_size(arr) > 0;
}

static bool encode_text(const serve_ctx *c, const char *s, size_t n, sa_tokens *out, serve_err *e) {
    sa_err te = {0};
    if (sa_tokenizer_encode(c->tok, s, n, SA_ENCODE_BOS, out, &te)) {
        serve_err_set(e, 400, "prompt", "prompt: %s", te.msg);
        return false;
    }
    return true;
}

static bool parse_prompt(const serve_ctx *c, const json_t *body, serve_job *j, serve_err *e) {
    const json_t *p = field(body, "prompt");
    if (!p) {
        serve_err_set(e, 400, "prompt", "'prompt' is required");
        return false;
    }
    if (json_is_array(p) && json_array_size(p) == 1 && !json_is_integer(json_array_get(p, 0)))
        p = json_array_get(p, 0); /* one prompt in a batch of one */
    if (json_is_string(p)) return encode_text(c, json_string_value(p), json_string_length(p), &j->prompt, e);
    if (json_is_array(p) && all_ints(p)) return get_ids(p, "prompt", c->vocab, (size_t)c->max_ctx, &j->prompt, e);
    if (json_is_array(p) && json_array_size(p) > 1)
        serve_err_set(e, 400, "prompt", "'prompt' holds %zu prompts; send one per request", json_array_size(p));
    else serve_err_set(e, 400, "prompt", "'prompt' must be a string or an array of token ids");
    return false;
}

static bool parse_messages(const serve_ctx *c, const json_t *body, serve_job *j, serve_err *e) {
    const json_t *ms = field(body, "messages");
    if (!json_is_array(ms) || json_array_size(ms) == 0) {
        serve_err_set(e, 400, "messages", "'messages' must be a non-empty array");
        return false;
    }
    size_t n = json_array_size(ms);
    if (n > SERVE_MAX_MSGS) {
        serve_err_set(e, 400, "messages", "'messages' has %zu entries, at most %d allowed", n, SERVE_MAX_MSGS);
        return false;
    }
    sa_chat_msg *m = sa_calloc(n, sizeof *m);
    char **owned = sa_calloc(n, sizeof *owned);
    bool ok = m && owned;
    if (!ok) serve_err_set(e, 500, NULL, "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        const json_t *x = json_array_get(ms, i);
        const char *role = json_string_value(json_object_get(x, "role"));
        const json_t *ct = json_object_get(x, "content");
        char pname[40];
        snprintf(pname, sizeof pname, "messages[%zu]", i);
        if (!json_is_object(x) || !role) {
            serve_err_set(e, 400, pname, "%s must be an object with a string 'role'", pname);
            ok = false;
            break;
        }
        sa_chat_role r = strcmp(role, "developer") == 0 ? SA_CHAT_ROLE_SYSTEM : sa_chat_role_from_name(role);
        if (r == SA_CHAT_ROLE_INVALID) {
            serve_err_set(e, 400, pname, "%s: unknown role '%.32s' (system, user or assistant)", pname, role);
            ok = false;
            break;
        }
        m[i].role = r;
        if (json_is_string(ct)) {
            m[i].content = json_string_value(ct);
            if (strlen(m[i].content) != json_string_length(ct)) {
                serve_err_set(e, 400, pname, "%s: content holds a NUL character", pname);
                ok = false;
            }
            continue;
        }
        if (!json_is_array(ct)) {
            serve_err_set(e, 400, pname, "%s: 'content' must be a string or an array of text parts", pname);
            ok = false;
            break;
        }
        sa_strbuf sb = {0};
        size_t k;
        const json_t *part;
        json_array_foreach(ct, k, part) {
            const char *type = json_string_value(json_object_get(part, "type"));
            const json_t *tx = json_object_get(part, "text");
            if (!type || strcmp(type, "text") != 0 || !json_is_string(tx)) {
                serve_err_set(e, 400, pname, "%s: content[%zu] must be {\"type\": \"text\", \"text\": string}", pname, k);
                ok = false;
                break;
            }
            sa_strbuf_append(&sb, json_string_value(tx), json_string_length(tx));
        }
        owned[i] = sa_strbuf_detach(&sb, NULL);
        m[i].content = owned[i] ? owned[i] : "";
    }
    if (ok) {
        sa_err te = {0};
        if (sa_chat_encode(c->tok, c->tmpl, m, n, true, &j->prompt, NULL, &te)) {
            serve_err_set(e, 400, "messages", "messages: %s", te.msg);
            ok = false;
        }
    }
    for (size_t i = 0; owned && i < n; i++) free(owned[i]);
    free(owned);
    free(m);
    return ok;
}

bool serve_api_parse(const serve_ctx *c, const json_t *body, bool chat, serve_job *j, serve_err *e) {
    if (!json_is_object(body)) {
        serve_err_set(e, 400, NULL, "the request body must be a JSON object");
        return false;
    }
    const json_t *model = field(body, "model");
    if (model && !json_is_string(model)) {
        serve_err_set(e, 400, "model", "'model' must be a string");
        return false;
    }
    long long n = 1, max_tokens = chat ? 256 : 16, seed = 0, top_k = 0, lp = -1, top_lp = 0, lp_from = 1;
    double temperature = 1, top_p = 1, min_p = 0, rep = 1;
    bool stream = false, echo = false, chat_lp = false;
    if (!get_int(body, "n", 1, 1000000, &n, e) || !get_bool(body, "stream", &stream, e)) return false;
    if (n != 1) {
        serve_err_set(e, 400, "n", "only n = 1 is supported (got %lld)", n);
        return false;
    }
    if (stream) {
        serve_err_set(e, 400, "stream", "streaming is not supported: send \"stream\": false");
        return false;
    }
    if (!get_int(body, chat && field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens", 0,
                 1 << 24, &max_tokens, e) ||
        !get_num(body, "temperature", 0, 100, &temperature, e) || !get_num(body, "top_p", 1e-9, 1, &top_p, e) ||
        !get_int(body, "top_k", -1, 1 << 24, &top_k, e) || !get_num(body, "min_p", 0, 1, &min_p, e) ||
        !get_num(body, "repetition_penalty", 1e-3, 100, &rep, e) ||
        !get_int(body, "seed", INT64_MIN, INT64_MAX, &seed, e))
        return false;
    if (chat) {
        if (!get_bool(body, "logprobs", &chat_lp, e) || !get_int(body, "top_logprobs", 0, SERVE_MAX_TOP, &top_lp, e))
            return false;
        if (chat_lp) lp = top_lp;
        if (!parse_messages(c, body, j, e)) return false;
    } else {
        if (!get_int(body, "logprobs", 0, SERVE_MAX_TOP, &lp, e) || !get_bool(body, "echo", &echo, e) ||
            !get_int(body, "sa_logprobs_from", 1, 1 << 30, &lp_from, e))
            return false;
        if (field(body, "logprobs") && json_is_boolean(field(body, "logprobs"))) lp = json_is_true(field(body, "logprobs")) ? 0 : -1;
        if (!parse_prompt(c, body, j, e)) return false;
    }
    if (j->prompt.n == 0) {
        serve_err_set(e, 400, chat ? "messages" : "prompt", "the prompt is empty");
        return false;
    }
    if ((int64_t)j->prompt.n >= c->max_ctx && !(echo && max_tokens == 0 && (int64_t)j->prompt.n == c->max_ctx)) {
        serve_err_set(e, 400, chat ? "messages" : "prompt", "the prompt has %zu tokens; the context holds %d",
                      j->prompt.n, c->max_ctx);
        return false;
    }
    const json_t *stop = field(body, "stop");
    if (stop) {
        if (json_is_string(stop)) {
            if (json_string_length(stop)) j->stop[j->n_stop++] = sa_strdup(json_string_value(stop));
        } else if (json_is_array(stop) && json_array_size(stop) <= SERVE_MAX_STOP) {
            size_t i;
            const json_t *x;
            json_array_foreach(stop, i, x) {
                if (!json_is_string(x)) {
                    serve_err_set(e, 400, "stop", "'stop'[%zu] must be a string", i);
                    return false;
                }
                if (json_string_length(x)) j->stop[j->n_stop++] = sa_strdup(json_string_value(x));
            }
        } else {
            serve_err_set(e, 400, "stop", "'stop' must be a string or an array of at most %d strings", SERVE_MAX_STOP);
            return false;
        }
    }
    const json_t *sid = field(body, "sa_id");
    if (sid) {
        const char *s = json_string_value(sid);
        char *end = NULL;
        unsigned long long v = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
        if (!s || !end || *end) {
            serve_err_set(e, 400, "sa_id", "'sa_id' must be a decimal string (an unsigned 64-bit request id)");
            return false;
        }
        j->stream = v;
    }
    const json_t *fi = field(body, "sa_first_token_ids");
    if (fi && !get_ids(fi, "sa_first_token_ids", c->vocab, (size_t)c->vocab, &j->first_ids, e)) return false;
    const json_t *ca = field(body, "sa_candidate_ids");
    if (ca && !get_ids(ca, "sa_candidate_ids", c->vocab, 4096, &j->cands, e)) return false;
    if (j->cands.n && max_tokens > 0) {
        serve_err_set(e, 400, "sa_candidate_ids", "'sa_candidate_ids' needs \"max_tokens\": 0");
        return false;
    }
    j->chat = chat;
    j->max_tokens = (int32_t)max_tokens;
    j->sp = sa_sampling_default();
    j->sp.temperature = (float)temperature;
    j->sp.top_p = (float)top_p;
    j->sp.top_k = top_k < 0 ? 0 : (int32_t)top_k;
    j->sp.min_p = (float)min_p;
    j->sp.repetition_penalty = (float)rep;
    j->seed = (uint64_t)seed;
    j->logprobs = (int32_t)lp;
    j->echo = echo;
    j->lp_from = (int32_t)lp_from;
    return true;
}

/* ---- responses ------------------------------------------------------------------------ */

/* Text of token i within ids (decoded in a short window so SentencePiece's
 * dropped leading space and split UTF-8 characters come out right). */
static void token_text(const sa_tokenizer *tok, const int32_t *ids, size_t i, sa_strbuf *out) {
    size_t w0 = i >= 8 ? i - 8 : 0;
    sa_strbuf a = {0}, b = {0};
    sa_tokenizer_decode(tok, ids + w0, i - w0, SA_DECODE_SKIP_SPECIAL, &a, NULL);
    sa_tokenizer_decode(tok, ids + w0, i + 1 - w0, SA_DECODE_SKIP_SPECIAL, &b, NULL);
    sa_strbuf_reset(out);
    if (b.len >= a.len && memcmp(a.buf ? a.buf : "", b.buf ? b.buf : "", a.len) == 0)
        sa_strbuf_append(out, b.buf + a.len, b.len - a.len);
    sa_strbuf_free(&a);
    sa_strbuf_free(&b);
}

/* Text of token id if it stood at position i of ids (top alternatives). */
static void alt_token_text(const sa_tokenizer *tok, const int32_t *ids, size_t i, int32_t id, sa_strbuf *out) {
    int32_t w[9];
    size_t w0 = i >= 8 ? i - 8 : 0, n = i - w0;
    memcpy(w, ids + w0, n * sizeof(int32_t));
    w[n] = id;
    token_text(tok, w, n, out);
}

/* A JSON string for a token's text; bytes that are not whole UTF-8 are
 * written as "bytes:\xNN..." (as vLLM does). */
static json_t *token_json(const sa_strbuf *s) {
    if (sa_utf8_valid(s->buf ? s->buf : "", s->len, NULL)) return json_stringn(s->buf ? s->buf : "", s->len);
    sa_strbuf x = {0};
    sa_strbuf_puts(&x, "bytes:");
    for (size_t i = 0; i < s->len; i++) sa_strbuf_appendf(&x, "\\x%02x", (unsigned char)s->buf[i]);
    json_t *v = json_string(sa_strbuf_cstr(&x));
    sa_strbuf_free(&x);
    return v;
}

/* A JSON string for generated text; invalid UTF-8 (a character cut by the
 * token limit) becomes U+FFFD, as other servers do. */
static json_t *text_json(const char *s, size_t n) {
    if (sa_utf8_valid(s, n, NULL)) return json_stringn(s, n);
    sa_strbuf x = {0};
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = sa_utf8_decode(s + i, n - i, &cp);
        if (l == 0) {
            sa_strbuf_puts(&x, "\xef\xbf\xbd");
            i++;
        } else {
            sa_strbuf_append(&x, s + i, l);
            i += l;
        }
    }
    json_t *v = json_stringn(x.buf ? x.buf : "", x.len);
    sa_strbuf_free(&x);
    return v;
}

static json_t *lp_value(double v) { return isnan(v) ? json_null() : json_real(v); }

/* Legacy completions logprobs over tokens [from, to) of the combined sequence. */
static json_t *completion_logprobs(const serve_ctx *c, const serve_job *j, const int32_t *all, size_t from, size_t to) {
    json_t *toks = json_array(), *tlp = json_array(), *top = json_array(), *off = json_array();
    sa_strbuf s = {0};
    size_t o = 0;
    for (size_t i = from; i < to; i++) {
        token_text(c->tok, all, i, &s);
        json_array_append_new(toks, token_json(&s));
        json_array_append_new(tlp, j->lp ? lp_value(j->lp[i]) : json_null());
        json_array_append_new(off, json_integer((json_int_t)o));
        o += s.len;
        if (j->logprobs > 0 && j->top_ids && !isnan(j->lp[i])) {
            json_t *m = json_object();
            sa_strbuf t = {0};
            for (int32_t k = 0; k < j->logprobs; k++) {
                int32_t id = j->top_ids[i * (size_t)j->logprobs + (size_t)k];
                if (id < 0) continue;
                alt_token_text(c->tok, all, i, id, &t);
                json_t *key = token_json(&t);
                json_object_set_new(m, json_string_value(key), json_real((double)j->top_lp[i * (size_t)j->logprobs + (size_t)k]));
                json_decref(key);
            }
            sa_strbuf_free(&t);
            json_array_append_new(top, m);
        } else {
            json_array_append_new(top, json_null());
        }
    }
    sa_strbuf_free(&s);
    json_t *o2 = json_object();
    json_object_set_new(o2, "tokens", toks);
    json_object_set_new(o2, "token_logprobs", tlp);
    json_object_set_new(o2, "top_logprobs", top);
    json_object_set_new(o2, "text_offset", off);
    return o2;
}

static json_t *chat_logprobs(const serve_ctx *c, const serve_job *j, const int32_t *all, size_t from, size_t to) {
    json_t *content = json_array();
    sa_strbuf s = {0}, t = {0};
    for (size_t i = from; i < to; i++) {
        token_text(c->tok, all, i, &s);
        json_t *e = json_object();
        json_object_set_new(e, "token", token_json(&s));
        json_object_set_new(e, "logprob", j->lp ? lp_value(j->lp[i]) : json_null());
        json_t *tops = json_array();
        for (int32_t k = 0; j->top_ids && k < j->logprobs; k++) {
            int32_t id = j->top_ids[i * (size_t)j->logprobs + (size_t)k];
            if (id < 0) continue;
            alt_token_text(c->tok, all, i, id, &t);
            json_t *x = json_object();
            json_object_set_new(x, "token", token_json(&t));
            json_object_set_new(x, "logprob", json_real((double)j->top_lp[i * (size_t)j->logprobs + (size_t)k]));
            json_array_append_new(tops, x);
        }
        json_object_set_new(e, "top_logprobs", tops);
        json_array_append_new(content, e);
    }
    sa_strbuf_free(&s);
    sa_strbuf_free(&t);
    json_t *o = json_object();
    json_object_set_new(o, "content", content);
    return o;
}

json_t *serve_api_response(const serve_ctx *c, const serve_job *j, uint64_t serial) {
    size_t np = j->prompt.n, ng = j->out.n;
    int32_t *all = sa_malloc_array(np + ng + 1, sizeof(int32_t));
    if (!all) return NULL;
    memcpy(all, j->prompt.ids, np * sizeof(int32_t));
    if (ng) memcpy(all + np, j->out.ids, ng * sizeof(int32_t));
    json_t *ch = json_object();
    json_object_set_new(ch, "index", json_integer(0));
    const char *fr = j->finish == SA_FINISH_LENGTH || j->finish == SA_FINISH_CONTEXT ? "length" : "stop";
    const char *text = sa_strbuf_cstr(&j->text);
    if (j->chat) {
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", text_json(text, j->text.len));
        json_object_set_new(ch, "message", msg);
        json_object_set_new(ch, "logprobs", j->logprobs >= 0 ? chat_logprobs(c, j, all, np, np + ng) : json_null());
    } else {
        if (j->echo) {
            sa_strbuf full = {0};
            sa_tokenizer_decode(c->tok, j->prompt.ids, np, SA_DECODE_SKIP_SPECIAL, &full, NULL);
            sa_strbuf_append(&full, text, j->text.len);
            json_object_set_new(ch, "text", text_json(full.buf ? full.buf : "", full.len));
            sa_strbuf_free(&full);
        } else {
            json_object_set_new(ch, "text", text_json(text, j->text.len));
        }
        json_object_set_new(ch, "logprobs",
                            j->logprobs >= 0 ? completion_logprobs(c, j, all, j->echo ? 0 : np, np + ng) : json_null());
    }
    json_object_set_new(ch, "finish_reason", json_string(fr));
    json_object_set_new(ch, "sa_finish", json_string(sa_finish_reason_str(j->finish)));
    json_t *ids = json_array();
    for (size_t i = 0; i < ng; i++) json_array_append_new(ids, json_integer(j->out.ids[i]));
    json_object_set_new(ch, "token_ids", ids);
    if (j->cands.n) {
        json_t *cl = json_array();
        for (size_t i = 0; i < j->cands.n; i++) json_array_append_new(cl, j->cand_lp ? json_real(j->cand_lp[i]) : json_null());
        json_object_set_new(ch, "sa_candidate_logprobs", cl);
    }
    json_t *o = json_object();
    char id[40];
    snprintf(id, sizeof id, "%s-%llu", j->chat ? "chatcmpl" : "cmpl", (unsigned long long)serial);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "object", json_string(j->chat ? "chat.completion" : "text_completion"));
    json_object_set_new(o, "created", json_integer((json_int_t)time(NULL)));
    json_object_set_new(o, "model", json_string(c->model_name));
    json_t *chs = json_array();
    json_array_append_new(chs, ch);
    json_object_set_new(o, "choices", chs);
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer((json_int_t)np));
    json_object_set_new(u, "completion_tokens", json_integer((json_int_t)ng));
    json_object_set_new(u, "total_tokens", json_integer((json_int_t)(np + ng)));
    json_object_set_new(o, "usage", u);
    free(all);
    return o;
}
