/* eval.c — the evaluation runs (eval.h): pairwise judging in both orders,
 * reference NLL and task accuracy, each writing a summary JSON and a
 * per-item JSONL.
 *
 * Prompts: an item's prompt is one user message (after an optional system
 * message) in the model's chat template, encoded with sa_chat_encode so the
 * text never becomes control tokens. The judge prompt is our template with
 * the question and the two answers filled in, also one user message; the
 * template's text before {{question}} is the same for every item, so the
 * engine's prefix cache computes it once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/eval.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/signal.h"

#define VERDICT_PREFIX "Verdict: "

static const char *const k_judge_modes[SA_JUDGE_MODE_COUNT] = {"generate", "logits"};

const char *sa_judge_mode_name(sa_judge_mode m) {
    return (unsigned)m < SA_JUDGE_MODE_COUNT ? k_judge_modes[m] : "?";
}

sa_status sa_judge_mode_parse(const char *name, sa_judge_mode *out, sa_err *err) {
    for (int i = 0; i < SA_JUDGE_MODE_COUNT; i++)
        if (name && strcmp(name, k_judge_modes[i]) == 0) {
            *out = (sa_judge_mode)i;
            return SA_OK;
        }
    return sa_err_set(err, SA_ERR_INVALID_ARG, "unknown judge mode \"%s\" (generate, logits)", name ? name : "(null)");
}

sa_eval_opts sa_eval_default_opts(void) {
    sa_eval_opts o;
    memset(&o, 0, sizeof o);
    o.judge_mode = SA_JUDGE_GENERATE;
    o.max_tokens = 256;
    o.judge_max_tokens = 256;
    o.temperature = 0;
    o.resamples = 1000;
    o.alpha = 0.05;
    o.chunk = 64;
    return o;
}

sa_status sa_eval_items_path(const char *out_path, sa_strbuf *out) {
    size_t n = strlen(out_path);
    if (n > 5 && strcmp(out_path + n - 5, ".json") == 0) n -= 5;
    sa_status s = sa_strbuf_append(out, out_path, n);
    if (!s) s = sa_strbuf_puts(out, ".items.jsonl");
    return s;
}

static sa_status check_opts(const sa_eval_opts *o, sa_err *err) {
    if (!o || !o->out || !*o->out) return sa_err_set(err, SA_ERR_INVALID_ARG, "eval: no output path");
    if (o->max_tokens < 1 || o->judge_max_tokens < 1 || o->resamples < 1 || !(o->alpha > 0 && o->alpha < 1) ||
        o->chunk < 1 || !(o->temperature >= 0) || (unsigned)o->judge_mode >= SA_JUDGE_MODE_COUNT)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "eval: invalid options (max_tokens %d, judge_max_tokens %d, resamples %d, alpha %g, "
                          "chunk %d, temperature %g, judge mode %d)", o->max_tokens, o->judge_max_tokens, o->resamples,
                          o->alpha, o->chunk, (double)o->temperature, (int)o->judge_mode);
    return SA_OK;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- shared helpers --------------------------------------------------------------------- */

typedef struct model_ctx {
    sa_engine *e;
    const sa_tokenizer *tok;
    sa_chat_template tmpl;
} model_ctx;

static void model_init(model_ctx *m, sa_engine *e, const sa_chat_template *t) {
    m->e = e;
    m->tok = sa_engine_tokenizer(e);
    if (t) m->tmpl = *t;
    else sa_chat_template_resolve(m->tok, NULL, &m->tmpl, NULL, NULL); /* alpaca for a base model */
}

/* [system], user -> ids with the assistant turn open. */
static sa_status encode_prompt(const model_ctx *m, const char *system, const char *user, sa_tokens *ids, sa_err *err) {
    sa_chat_msg msgs[2];
    size_t n = 0;
    if (system && *system) msgs[n++] = (sa_chat_msg){SA_CHAT_ROLE_SYSTEM, system};
    msgs[n++] = (sa_chat_msg){SA_CHAT_ROLE_USER, user};
    return sa_chat_encode(m->tok, &m->tmpl, msgs, n, true, ids, NULL, err);
}

static uint64_t item_stream(const sa_eval_item *it) { return sa_hash_str(it->id, 0); }

typedef struct gen_slot {
    char *text;  /* generated text, or NULL */
    char *error; /* why there is no text, or NULL */
} gen_slot;

static void slot_free(gen_slot *g) {
    free(g->text);
    free(g->error);
    g->text = g->error = NULL;
}

static sa_status on_gen(void *ctx, const sa_gen_result *res) {
    gen_slot *g = (gen_slot *)ctx + (size_t)(uintptr_t)res->user;
    if (res->finish == SA_FINISH_ERROR) g->error = sa_strdup(res->error ? res->error : "generation failed");
    else g->text = sa_strdup(res->text ? res->text : "");
    return (g->text || g->error) ? SA_OK : SA_ERR_NOMEM;
}

/* Generate for prompts[n] (token ids prepared by the caller; an entry with
 * n == 0 and out[i].error already set is skipped). */
static sa_status generate(sa_engine *e, sa_tokens *prompts, const uint64_t *ids, size_t n, int32_t max_tokens,
                          float temperature, uint64_t seed, gen_slot *out, sa_err *err) {
    sa_gen_request *rq = sa_calloc(n ? n : 1, sizeof *rq);
    if (!rq) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i].error) continue;
        sa_gen_request r = sa_gen_request_default();
        r.id = ids[i];
        r.prompt_tokens = prompts[i].ids;
        r.n_prompt_tokens = (int32_t)prompts[i].n;
        r.max_tokens = max_tokens;
        r.sampling.temperature = temperature;
        r.seed = seed;
        r.user = (void *)(uintptr_t)i;
        rq[k++] = r;
    }
    sa_status s = k ? sa_engine_generate(e, rq, k, on_gen, out, err) : SA_OK;
    free(rq);
    for (size_t i = 0; i < n && !s; i++)
        if (!out[i].text && !out[i].error && !(out[i].error = sa_strdup("no result")))
            s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    return s;
}

/* Prompts of items[0..n) for model m into toks[n]; failures go to out[i].error. */
static sa_status answer_prompts(const model_ctx *m, const sa_eval_opts *o, const sa_eval_item *items, size_t n,
                                sa_tokens *toks, gen_slot *out, sa_err *err) {
    for (size_t i = 0; i < n; i++) {
        sa_err e = {0};
        toks[i].n = 0;
        if (out[i].error) continue; /* not asked (the caller says why) */
        sa_status s = encode_prompt(m, o->system, items[i].prompt, &toks[i], &e);
        if (s == SA_ERR_NOMEM) return sa_err_set(err, s, "%s", e.msg);
        if (s && !(out[i].error = sa_strdup(e.msg))) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    return SA_OK;
}

static sa_status answer_items(const model_ctx *m, const sa_eval_opts *o, const sa_eval_item *items, size_t n,
                              gen_slot *out, sa_err *err) {
    sa_tokens *toks = sa_calloc(n ? n : 1, sizeof *toks);
    uint64_t *ids = sa_calloc(n ? n : 1, sizeof *ids);
    sa_status s = (!toks || !ids) ? sa_err_set(err, SA_ERR_NOMEM, "out of memory") : SA_OK;
    for (size_t i = 0; i < n && !s; i++) ids[i] = item_stream(&items[i]);
    if (!s) s = answer_prompts(m, o, items, n, toks, out, err);
    if (!s) s = generate(m->e, toks, ids, n, o->max_tokens, o->temperature, o->seed, out, err);
    for (size_t i = 0; toks && i < n; i++) sa_tokens_free(&toks[i]);
    free(toks);
    free(ids);
    return s;
}

static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *jci(double lo, double hi) {
    json_t *a = json_array();
    json_array_append_new(a, jnum(lo));
    json_array_append_new(a, jnum(hi));
    return a;
}

static json_t *jstr(const char *s) { return s ? json_string(s) : json_null(); }

/* Append obj as one canonical line to items; steals obj. */
static sa_status add_line(sa_strbuf *items, json_t *obj, sa_err *err) {
    if (!obj) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_status s = sa_json_dump_line(obj, items, err);
    json_decref(obj);
    return s;
}

static sa_status write_outputs(const sa_eval_opts *o, json_t *summary, const sa_strbuf *items, sa_err *err) {
    sa_strbuf ip = {0};
    sa_status s = summary ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    const char *sl = strrchr(o->out, '/');
    if (!s && sl && sl != o->out) { /* the output directory may be new (RUN/eval/) */
        char *dir = sa_strndup(o->out, (size_t)(sl - o->out));
        s = dir ? sa_mkdir_p(dir, 0777, err) : sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        free(dir);
    }
    if (!s && sa_eval_items_path(o->out, &ip)) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    if (!s) s = sa_file_write_atomic(sa_strbuf_cstr(&ip), items->buf ? items->buf : "", items->len, err);
    if (!s) s = sa_json_write_pretty(o->out, summary, err);
    sa_strbuf_free(&ip);
    return s;
}

static void set_common(json_t *j, const char *kind, const sa_eval_set *set, const sa_eval_opts *o, size_t n) {
    json_object_set_new(j, "kind", json_string(kind));
    json_object_set_new(j, "set", jstr(set->path));
    json_object_set_new(j, "n", json_integer((json_int_t)n));
    json_object_set_new(j, "bad_lines", json_integer((json_int_t)set->bad));
    json_object_set_new(j, "resamples", json_integer(o->resamples));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
}

static void set_timing(json_t *j, double seconds, size_t n, double *pps) {
    *pps = seconds > 0 ? (double)n / seconds : 0;
    json_object_set_new(j, "seconds", json_real(round(seconds * 1e3) / 1e3));
    json_object_set_new(j, "prompts_per_s", json_real(round(*pps * 1e3) / 1e3));
}

static void progress(const sa_eval_opts *o, const char *stage, size_t done, size_t total) {
    if (o->on_progress) o->on_progress(o->ctx, stage, done, total);
}

static sa_status check_signal(sa_err *err) { return sa_signal_pending() ? sa_signal_check(err) : SA_OK; }

/* ---- pairwise ----------------------------------------------------------------------------- */

typedef struct judge_ctx {
    model_ctx m;
    const char *tmpl_text;
    sa_tokens prefix;  /* VERDICT_PREFIX encoded on its own */
    int32_t cand[2];   /* "A", "B" as they follow the prefix */
} judge_ctx;

/* The id a label gets right after VERDICT_PREFIX (as curate finds digits). */
static sa_status find_label(judge_ctx *j, const char *label, int32_t *out, sa_err *err) {
    char buf[32];
    snprintf(buf, sizeof buf, VERDICT_PREFIX "%s", label);
    sa_tokens t = {0};
    sa_status s = sa_tokenizer_encode(j->m.tok, buf, strlen(buf), 0, &t, err);
    int32_t id = -1;
    if (!s && t.n == j->prefix.n + 1 && memcmp(t.ids, j->prefix.ids, j->prefix.n * sizeof(int32_t)) == 0)
        id = t.ids[t.n - 1];
    if (!s && id < 0) id = sa_tokenizer_find(j->m.tok, label, strlen(label));
    sa_tokens_free(&t);
    if (s) return s;
    if (id < 0) return sa_err_set(err, SA_ERR_UNSUPPORTED, "eval: the judge's tokenizer has no token for \"%s\"", label);
    *out = id;
    return SA_OK;
}

/* Judge prompt for (question, first, second) into ids; logits mode appends
 * the verdict prefix. */
static sa_status judge_prompt(judge_ctx *j, bool logits, const char *q, const char *first, const char *second,
                              sa_tokens *ids, sa_err *err) {
    const char *keys[] = {"question", "answer_a", "answer_b"};
    const char *vals[] = {q, first, second};
    sa_strbuf msg = {0};
    sa_status s = sa_prompt_render(j->tmpl_text, keys, vals, 3, &msg, err);
    if (!s) s = encode_prompt(&j->m, NULL, sa_strbuf_cstr(&msg), ids, err);
    sa_strbuf_free(&msg);
    for (size_t i = 0; !s && logits && i < j->prefix.n; i++)
        if (sa_tokens_push(ids, j->prefix.ids[i])) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    return s;
}

typedef struct pair_item {
    gen_slot a, b;       /* answers */
    gen_slot judge[2];   /* judge text per order (generate), or error */
    float p[2][2];       /* logits: [order][p(A), p(B)] */
    sa_verdict v[2];     /* [0] order AB, [1] order BA */
    bool judged[2];
} pair_item;

static sa_verdict logits_verdict(const float p[2]) {
    if (!isfinite(p[0]) || !isfinite(p[1]) || (p[0] <= 0 && p[1] <= 0)) return SA_VERDICT_NONE;
    return p[0] > p[1] ? SA_VERDICT_FIRST : p[1] > p[0] ? SA_VERDICT_SECOND : SA_VERDICT_TIE;
}

static sa_status judge_chunk(judge_ctx *j, const sa_eval_opts *o, const sa_eval_item *items, pair_item *pi, size_t n,
                             sa_err *err) {
    bool logits = o->judge_mode == SA_JUDGE_LOGITS;
    size_t m = 2 * n;
    sa_tokens *toks = sa_calloc(m ? m : 1, sizeof *toks);
    gen_slot *gs = sa_calloc(m ? m : 1, sizeof *gs);
    uint64_t *ids = sa_calloc(m ? m : 1, sizeof *ids);
    sa_status s = (!toks || !gs || !ids) ? sa_err_set(err, SA_ERR_NOMEM, "out of memory") : SA_OK;
    for (size_t k = 0; k < m && !s; k++) {
        size_t i = k / 2;
        int order = (int)(k % 2);
        pair_item *p = &pi[i];
        ids[k] = sa_hash_mix(item_stream(&items[i]), (uint64_t)order + 1);
        if (p->a.error || p->b.error) { /* no answer to judge */
            gs[k].error = sa_strdup(p->a.error ? "model A could not answer" : "model B could not answer");
            if (!gs[k].error) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            continue;
        }
        const char *first = order == 0 ? p->a.text : p->b.text, *second = order == 0 ? p->b.text : p->a.text;
        sa_err e = {0};
        sa_status es = judge_prompt(j, logits, items[i].prompt, first, second, &toks[k], &e);
        if (es == SA_ERR_NOMEM) s = sa_err_set(err, es, "%s", e.msg);
        else if (es && !(gs[k].error = sa_strdup(e.msg))) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    if (!s && !logits) s = generate(j->m.e, toks, ids, m, o->judge_max_tokens, 0, o->seed, gs, err);
    for (size_t k = 0; k < m && !s; k++) {
        pair_item *p = &pi[k / 2];
        int order = (int)(k % 2);
        if (logits && !gs[k].error) {
            sa_err e = {0};
            float pr[2] = {0, 0};
            sa_status es = sa_engine_next_token_probs_tokens(j->m.e, toks[k].ids, (int32_t)toks[k].n, j->cand, 2, pr, &e);
            if (es == SA_ERR_NOMEM) {
                s = sa_err_set(err, es, "%s", e.msg);
                break;
            }
            if (es) gs[k].error = sa_strdup(e.msg);
            else {
                p->p[order][0] = pr[0];
                p->p[order][1] = pr[1];
                p->v[order] = logits_verdict(pr);
                p->judged[order] = true;
            }
        } else if (!gs[k].error) {
            p->judged[order] = true;
            if (!sa_verdict_parse(gs[k].text, strlen(gs[k].text), &p->v[order])) p->v[order] = SA_VERDICT_NONE;
        }
        p->judge[order] = gs[k]; /* moves the strings */
        memset(&gs[k], 0, sizeof gs[k]);
    }
    for (size_t k = 0; k < m; k++) {
        if (toks) sa_tokens_free(&toks[k]);
        if (gs) slot_free(&gs[k]);
    }
    free(toks);
    free(gs);
    free(ids);
    return s;
}

static json_t *pair_line(const sa_eval_item *it, const pair_item *p, bool logits) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(it->id));
    json_object_set_new(o, "prompt", json_string(it->prompt));
    json_object_set_new(o, "answer_a", jstr(p->a.text));
    json_object_set_new(o, "answer_b", jstr(p->b.text));
    static const char *const jk[2] = {"judge_ab", "judge_ba"}, *const pk[2] = {"p_ab", "p_ba"},
                             *const vk[2] = {"verdict_ab", "verdict_ba"};
    sa_strbuf why = {0};
    if (p->a.error) sa_strbuf_appendf(&why, "model A: %s", p->a.error);
    if (p->b.error) sa_strbuf_appendf(&why, "%smodel B: %s", why.len ? "; " : "", p->b.error);
    for (int k = 0; k < 2; k++) {
        if (logits && p->judged[k]) json_object_set_new(o, pk[k], jci(round(p->p[k][0] * 1e6) / 1e6, round(p->p[k][1] * 1e6) / 1e6));
        else if (!logits) json_object_set_new(o, jk[k], jstr(p->judge[k].text));
        json_object_set_new(o, vk[k], jstr(sa_verdict_label(p->v[k])));
        if (p->judge[k].error && !p->a.error && !p->b.error)
            sa_strbuf_appendf(&why, "%sjudge %s: %s", why.len ? "; " : "", k ? "BA" : "AB", p->judge[k].error);
    }
    json_object_set_new(o, "outcome", json_string(sa_pair_outcome_name(sa_pairwise_combine(p->v[0], p->v[1]))));
    if (why.len) json_object_set_new(o, "error", json_string(sa_strbuf_cstr(&why)));
    sa_strbuf_free(&why);
    return o;
}

sa_status sa_eval_pairwise(sa_engine *a, sa_engine *b, sa_engine *judge, const sa_eval_set *set,
                           const sa_eval_opts *o, sa_eval_pairwise_result *res, sa_err *err) {
    sa_eval_pairwise_result r;
    memset(&r, 0, sizeof r);
    sa_status s = check_opts(o, err);
    if (s) return s;
    if (!a || !b || !judge || !set) return sa_err_set(err, SA_ERR_INVALID_ARG, "eval: missing engine or set");
    double t0 = now_s();
    bool logits = o->judge_mode == SA_JUDGE_LOGITS;
    model_ctx ma, mb;
    model_init(&ma, a, o->tmpl_a);
    model_init(&mb, b, o->tmpl_b);
    judge_ctx j;
    memset(&j, 0, sizeof j);
    model_init(&j.m, judge, o->tmpl_judge);
    j.tmpl_text = sa_prompts_get(o->prompts, "judge_pairwise");
    if (!j.tmpl_text) return sa_err_set(err, SA_ERR_NOT_FOUND, "eval: no \"judge_pairwise\" prompt");
    s = sa_tokenizer_encode(j.m.tok, VERDICT_PREFIX, strlen(VERDICT_PREFIX), 0, &j.prefix, err);
    if (!s && logits) s = find_label(&j, "A", &j.cand[0], err);
    if (!s && logits) s = find_label(&j, "B", &j.cand[1], err);
    size_t n = set->n, chunk = (size_t)o->chunk;
    pair_item *pi = sa_calloc(n ? n : 1, sizeof *pi);
    if (!s && !pi) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    for (size_t c0 = 0; c0 < n && !s; c0 += chunk) {
        size_t cn = n - c0 < chunk ? n - c0 : chunk;
        gen_slot *ga = sa_calloc(cn, sizeof *ga), *gb = sa_calloc(cn, sizeof *gb);
        if (!ga || !gb) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        if (!s) s = answer_items(&ma, o, set->items + c0, cn, ga, err);
        if (!s) progress(o, "answers A", c0 + cn, n);
        if (!s) s = answer_items(&mb, o, set->items + c0, cn, gb, err);
        if (!s) progress(o, "answers B", c0 + cn, n);
        for (size_t i = 0; i < cn && ga && gb; i++) {
            pi[c0 + i].a = ga[i];
            pi[c0 + i].b = gb[i];
        }
        free(ga);
        free(gb);
        if (!s) s = judge_chunk(&j, o, set->items + c0, pi + c0, cn, err);
        if (!s) progress(o, "judging", c0 + cn, n);
        if (!s) s = check_signal(err);
    }
    sa_verdict_pair *vp = sa_calloc(n ? n : 1, sizeof *vp);
    if (!s && !vp) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_strbuf items = {0};
    for (size_t i = 0; i < n && !s; i++) {
        vp[i].ab = pi[i].v[0];
        vp[i].ba = pi[i].v[1];
        if (pi[i].a.error || pi[i].b.error || pi[i].judge[0].error || pi[i].judge[1].error) r.errors++;
        s = add_line(&items, pair_line(&set->items[i], &pi[i], logits), err);
    }
    if (!s) s = sa_pairwise_summarize(vp, n, o->resamples, o->seed, o->alpha, &r.sum, err);
    r.seconds = now_s() - t0;
    if (!s) {
        json_t *jo = json_object();
        set_common(jo, "pairwise", set, o, n);
        json_object_set_new(jo, "a", jstr(o->a_name));
        json_object_set_new(jo, "b", jstr(o->b_name));
        json_object_set_new(jo, "judge", jstr(o->judge_name));
        json_object_set_new(jo, "judge_mode", json_string(sa_judge_mode_name(o->judge_mode)));
        json_object_set_new(jo, "wins", json_integer((json_int_t)r.sum.wins));
        json_object_set_new(jo, "ties", json_integer((json_int_t)r.sum.ties));
        json_object_set_new(jo, "losses", json_integer((json_int_t)r.sum.losses));
        json_object_set_new(jo, "unparsable", json_integer((json_int_t)r.sum.unparsable));
        json_object_set_new(jo, "errors", json_integer((json_int_t)r.errors));
        json_object_set_new(jo, "win_rate", jnum(r.sum.win_rate));
        json_object_set_new(jo, "win_rate_ci", jci(r.sum.win_rate_lo, r.sum.win_rate_hi));
        json_object_set_new(jo, "order_bias", jnum(r.sum.order_bias));
        json_object_set_new(jo, "order_bias_ci", jci(r.sum.order_bias_lo, r.sum.order_bias_hi));
        json_object_set_new(jo, "max_tokens", json_integer(o->max_tokens));
        set_timing(jo, r.seconds, n, &r.prompts_per_s);
        s = write_outputs(o, jo, &items, err);
        json_decref(jo);
    }
    sa_strbuf_free(&items);
    for (size_t i = 0; pi && i < n; i++) {
        slot_free(&pi[i].a);
        slot_free(&pi[i].b);
        slot_free(&pi[i].judge[0]);
        slot_free(&pi[i].judge[1]);
    }
    free(pi);
    free(vp);
    sa_tokens_free(&j.prefix);
    if (res) *res = r;
    return s;
}

/* ---- NLL ------------------------------------------------------------------------------------ */

sa_status sa_eval_nll(sa_engine *e, const sa_eval_set *set, const sa_eval_opts *o, sa_eval_nll_result *res,
                      sa_err *err) {
    sa_eval_nll_result r;
    memset(&r, 0, sizeof r);
    r.mean_nll = r.lo = r.hi = NAN;
    sa_status s = check_opts(o, err);
    if (s) return s;
    if (!e || !set) return sa_err_set(err, SA_ERR_INVALID_ARG, "eval: missing engine or set");
    if (set->n_reference == 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "%s: no item has a reference answer (nll needs them)", set->path);
    double t0 = now_s();
    model_ctx m;
    model_init(&m, e, o->tmpl_a);
    size_t n = set->n, chunk = (size_t)o->chunk;
    double *nll = sa_calloc(n, sizeof *nll), *tok = sa_calloc(n, sizeof *tok);
    sa_tokens *toks = sa_calloc(chunk, sizeof *toks);
    sa_score_request *rq = sa_calloc(chunk, sizeof *rq);
    sa_score_result *out = sa_calloc(chunk, sizeof *out);
    size_t *map = sa_calloc(chunk, sizeof *map);
    if (!nll || !tok || !toks || !rq || !out || !map) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_strbuf items = {0};
    double total = 0;
    for (size_t c0 = 0; c0 < n && !s; c0 += chunk) {
        size_t cn = n - c0 < chunk ? n - c0 : chunk, k = 0;
        char **why = sa_calloc(cn, sizeof *why);
        if (!why) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < cn && !s; i++) {
            const sa_eval_item *it = &set->items[c0 + i];
            if (!it->reference) continue;
            sa_err pe = {0};
            toks[k].n = 0;
            sa_status ps = encode_prompt(&m, o->system, it->prompt, &toks[k], &pe);
            if (ps == SA_ERR_NOMEM) s = sa_err_set(err, ps, "%s", pe.msg);
            else if (ps) why[i] = sa_strdup(pe.msg);
            else {
                memset(&rq[k], 0, sizeof rq[k]);
                rq[k].id = item_stream(it);
                rq[k].prompt_tokens = toks[k].ids;
                rq[k].n_prompt_tokens = (int32_t)toks[k].n;
                rq[k].continuation = it->reference;
                map[k++] = i;
            }
        }
        if (!s && k) {
            memset(out, 0, k * sizeof *out);
            s = sa_engine_score(e, rq, k, out, err);
        }
        double *cnll = sa_calloc(cn, sizeof *cnll);
        int32_t *ctok = sa_calloc(cn, sizeof *ctok);
        if (!s && (!cnll || !ctok)) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        for (size_t q = 0; q < k && !s; q++) {
            size_t i = map[q];
            if (out[q].status || out[q].n_tokens <= 0) {
                char b[160];
                snprintf(b, sizeof b, "could not be scored (%s; too long for the context, or an empty reference)",
                         sa_status_str(out[q].status ? out[q].status : SA_ERR_RANGE));
                why[i] = sa_strdup(b);
            } else {
                ctok[i] = out[q].n_tokens;
                cnll[i] = -out[q].logprob_sum / out[q].n_tokens;
            }
        }
        for (size_t q = 0; q < k; q++) sa_score_result_free(&out[q]);
        for (size_t i = 0; i < cn && !s; i++) {
            const sa_eval_item *it = &set->items[c0 + i];
            if (!it->reference) {
                r.no_reference++;
                continue;
            }
            json_t *jl = json_object();
            json_object_set_new(jl, "id", json_string(it->id));
            json_object_set_new(jl, "prompt", json_string(it->prompt));
            json_object_set_new(jl, "reference", json_string(it->reference));
            if (why[i] || ctok[i] <= 0) {
                r.errors++;
                json_object_set_new(jl, "error", json_string(why[i] ? why[i] : "not scored"));
            } else {
                nll[r.n] = cnll[i];
                tok[r.n] = ctok[i];
                total += cnll[i] * ctok[i];
                r.tokens += (uint64_t)ctok[i];
                r.n++;
                json_object_set_new(jl, "nll", json_real(round(cnll[i] * 1e6) / 1e6));
                json_object_set_new(jl, "tokens", json_integer(ctok[i]));
            }
            s = add_line(&items, jl, err);
        }
        for (size_t i = 0; why && i < cn; i++) free(why[i]);
        free(why);
        free(cnll);
        free(ctok);
        for (size_t q = 0; q < chunk; q++) sa_tokens_free(&toks[q]);
        if (!s) progress(o, "scoring", c0 + cn, n);
        if (!s) s = check_signal(err);
    }
    if (!s && r.n > 0) {
        r.mean_nll = total / (double)r.tokens;
        s = sa_bootstrap_ci_weighted(nll, tok, r.n, o->resamples, o->seed, o->alpha, &r.lo, &r.hi, err);
    }
    r.seconds = now_s() - t0;
    if (!s) {
        json_t *jo = json_object();
        set_common(jo, "nll", set, o, r.n);
        json_object_set_new(jo, "model", jstr(o->model_name));
        json_object_set_new(jo, "tokens", json_integer((json_int_t)r.tokens));
        json_object_set_new(jo, "mean_nll", jnum(r.mean_nll));
        json_object_set_new(jo, "ci", jci(r.lo, r.hi));
        json_object_set_new(jo, "no_reference", json_integer((json_int_t)r.no_reference));
        json_object_set_new(jo, "errors", json_integer((json_int_t)r.errors));
        set_timing(jo, r.seconds, r.n, &r.prompts_per_s);
        s = write_outputs(o, jo, &items, err);
        json_decref(jo);
    }
    sa_strbuf_free(&items);
    free(nll);
    free(tok);
    free(toks);
    free(rq);
    free(out);
    free(map);
    if (res) *res = r;
    return s;
}

/* ---- task ----------------------------------------------------------------------------------- */

sa_status sa_eval_task(sa_engine *e, const sa_eval_set *set, const sa_eval_opts *o, sa_eval_task_result *res,
                       sa_err *err) {
    sa_eval_task_result r;
    memset(&r, 0, sizeof r);
    r.accuracy = r.lo = r.hi = r.chance = NAN;
    sa_status s = check_opts(o, err);
    if (s) return s;
    if (!e || !set) return sa_err_set(err, SA_ERR_INVALID_ARG, "eval: missing engine or set");
    if (set->n_answers == 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "%s: no item has accepted answers (task needs the task format)",
                          set->path);
    double t0 = now_s();
    model_ctx m;
    model_init(&m, e, o->tmpl_a);
    size_t n = set->n, chunk = (size_t)o->chunk;
    double *val = sa_calloc(n, sizeof *val);
    if (!val) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_strbuf items = {0};
    double chance_sum = 0;
    size_t n_chance = 0;
    for (size_t c0 = 0; c0 < n && !s; c0 += chunk) {
        size_t cn = n - c0 < chunk ? n - c0 : chunk;
        gen_slot *g = sa_calloc(cn, sizeof *g);
        if (!g) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < cn && !s; i++) /* items without answers are not asked */
            if (!set->items[c0 + i].n_answers && !(g[i].error = sa_strdup("no accepted answers")))
                s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        if (!s) s = answer_items(&m, o, set->items + c0, cn, g, err);
        for (size_t i = 0; i < cn && !s; i++) {
            const sa_eval_item *it = &set->items[c0 + i];
            if (!it->n_answers) {
                r.no_answers++;
                continue;
            }
            bool ok = !g[i].error && sa_eval_answer_match(g[i].text, (const char *const *)it->answers, it->n_answers);
            if (g[i].error) r.errors++;
            val[r.n++] = ok ? 1 : 0;
            r.correct += ok;
            if (it->has_chance) {
                chance_sum += it->chance;
                n_chance++;
            }
            json_t *jl = json_object();
            json_object_set_new(jl, "id", json_string(it->id));
            json_object_set_new(jl, "prompt", json_string(it->prompt));
            json_object_set_new(jl, "output", jstr(g[i].text));
            json_t *ans = json_array();
            for (size_t k = 0; k < it->n_answers; k++) json_array_append_new(ans, json_string(it->answers[k]));
            json_object_set_new(jl, "answers", ans);
            json_object_set_new(jl, "correct", json_boolean(ok));
            if (g[i].error) json_object_set_new(jl, "error", json_string(g[i].error));
            s = add_line(&items, jl, err);
        }
        for (size_t i = 0; g && i < cn; i++) slot_free(&g[i]);
        free(g);
        if (!s) progress(o, "answers", c0 + cn, n);
        if (!s) s = check_signal(err);
    }
    if (!s && r.n > 0) {
        r.accuracy = (double)r.correct / (double)r.n;
        s = sa_bootstrap_ci(val, r.n, o->resamples, o->seed, o->alpha, &r.lo, &r.hi, err);
    }
    if (n_chance > 0 && n_chance == r.n) {
        r.has_chance = true;
        r.chance = chance_sum / (double)n_chance;
    }
    r.seconds = now_s() - t0;
    if (!s) {
        json_t *jo = json_object();
        set_common(jo, "task", set, o, r.n);
        json_object_set_new(jo, "model", jstr(o->model_name));
        json_object_set_new(jo, "correct", json_integer((json_int_t)r.correct));
        json_object_set_new(jo, "accuracy", jnum(r.accuracy));
        json_object_set_new(jo, "ci", jci(r.lo, r.hi));
        json_object_set_new(jo, "chance", r.has_chance ? json_real(r.chance) : json_null());
        json_object_set_new(jo, "errors", json_integer((json_int_t)r.errors));
        json_object_set_new(jo, "no_answers", json_integer((json_int_t)r.no_answers));
        json_object_set_new(jo, "max_tokens", json_integer(o->max_tokens));
        set_timing(jo, r.seconds, r.n, &r.prompts_per_s);
        s = write_outputs(o, jo, &items, err);
        json_decref(jo);
    }
    sa_strbuf_free(&items);
    free(val);
    if (res) *res = r;
    return s;
}
