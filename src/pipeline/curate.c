/* curate.c — self-curation of candidate pairs (curate.h).
 *
 * Prompt layout: one user message = the rubric template with the pair
 * filled in, wrapped by the model's chat template, encoded with
 * sa_chat_encode so the pair stays plain text. The rubric sits before the
 * {{instruction}} placeholder, so every prompt starts with the same tokens
 * and the engine's prefix cache computes them once.
 */
#include "sa/curate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/journal.h"
#include "sa/shard.h"
#include "sa/json.h"
#include "sa/signal.h"
#include "sa/utf8.h"

#define SCORE_PREFIX "Score: "

struct sa_curator {
    sa_engine *e;
    const sa_tokenizer *tok;
    sa_curate_opts o;
    sa_chat_template tmpl;
    const char *rubric;
    int32_t digits[5]; /* token ids of "1".."5" as they follow SCORE_PREFIX */
    sa_tokens score_prefix; /* SCORE_PREFIX encoded on its own (plain text) */
};

static const char *const k_mode_names[SA_CURATE_MODE_COUNT] = {"generate", "constrained", "logits", "pmi"};

const char *sa_curate_mode_name(sa_curate_mode m) {
    return (unsigned)m < SA_CURATE_MODE_COUNT ? k_mode_names[m] : "?";
}

sa_status sa_curate_mode_parse(const char *name, sa_curate_mode *out, sa_err *err) {
    for (int i = 0; i < SA_CURATE_MODE_COUNT; i++)
        if (name && strcmp(name, k_mode_names[i]) == 0) {
            *out = (sa_curate_mode)i;
            return SA_OK;
        }
    return sa_err_set(err, SA_ERR_INVALID_ARG, "unknown curation mode \"%s\" (generate, constrained, logits, pmi)",
                      name ? name : "(null)");
}

sa_curate_opts sa_curate_default_opts(void) {
    sa_curate_opts o = {0};
    o.mode = SA_CURATE_LOGITS;
    o.min_score = 5;
    o.max_tokens = 256;
    o.temperature = 0;
    o.chunk = 32;
    return o;
}

/* The id a digit gets right after SCORE_PREFIX: encode the prefix with and
 * without the digit; when the digit adds exactly one token, that is it
 * (BPE and SentencePiece may glue a space to the digit or not). */
static sa_status find_digit(sa_curator *c, int d, sa_err *err) {
    char buf[32];
    snprintf(buf, sizeof buf, SCORE_PREFIX "%d", d);
    sa_tokens t = {0};
    sa_status s = sa_tokenizer_encode(c->tok, buf, strlen(buf), 0, &t, err);
    int32_t id = -1;
    if (!s && t.n == c->score_prefix.n + 1 &&
        memcmp(t.ids, c->score_prefix.ids, c->score_prefix.n * sizeof(int32_t)) == 0)
        id = t.ids[t.n - 1];
    if (!s && id < 0) {
        char p[2] = {(char)('0' + d), 0};
        id = sa_tokenizer_find(c->tok, p, 1);
    }
    sa_tokens_free(&t);
    if (s) return s;
    if (id < 0) return sa_err_set(err, SA_ERR_UNSUPPORTED, "curate: the tokenizer has no token for the digit %d", d);
    c->digits[d - 1] = id;
    return SA_OK;
}

sa_status sa_curator_new(sa_curator **out, sa_engine *e, const sa_curate_opts *o, sa_err *err) {
    *out = NULL;
    sa_curate_opts opts = o ? *o : sa_curate_default_opts();
    if ((unsigned)opts.mode >= SA_CURATE_MODE_COUNT || opts.max_tokens < 1 || opts.chunk < 1 || opts.temperature < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "curate: invalid options (mode %d, max_tokens %d, chunk %d)",
                          (int)opts.mode, opts.max_tokens, opts.chunk);
    if (!e && !opts.tok) return sa_err_set(err, SA_ERR_INVALID_ARG, "curate: no engine and no tokenizer");
    sa_curator *c = sa_calloc(1, sizeof *c);
    if (!c) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    c->e = e;
    c->tok = opts.tok ? opts.tok : sa_engine_tokenizer(e);
    c->o = opts;
    if (opts.tmpl) c->tmpl = *opts.tmpl;
    else sa_chat_template_resolve(c->tok, NULL, &c->tmpl, NULL, NULL); /* alpaca for a base model */
    c->rubric = sa_prompts_get(opts.prompts, "rubric");
    sa_status s = SA_OK;
    if (!c->rubric) s = sa_err_set(err, SA_ERR_NOT_FOUND, "curate: no \"rubric\" prompt");
    if (!s) s = sa_tokenizer_encode(c->tok, SCORE_PREFIX, strlen(SCORE_PREFIX), 0, &c->score_prefix, err);
    for (int d = 1; d <= 5 && !s; d++) s = find_digit(c, d, err);
    if (s) {
        sa_curator_free(c);
        return s;
    }
    *out = c;
    return SA_OK;
}

void sa_curator_free(sa_curator *c) {
    if (!c) return;
    sa_tokens_free(&c->score_prefix);
    free(c);
}

/* instruction + "\n\n" + input, as the record's user turn reads. */
static char *user_turn(const sa_record *r) {
    sa_strbuf b = {0};
    sa_strbuf_puts(&b, r->instruction ? r->instruction : "");
    if (r->input && *r->input) sa_strbuf_appendf(&b, "\n\n%s", r->input);
    return sa_strbuf_detach(&b, NULL);
}

static sa_status encode_user(sa_curator *c, const char *content, sa_tokens *out, sa_err *err) {
    sa_chat_msg m = {SA_CHAT_ROLE_USER, content};
    return sa_chat_encode(c->tok, &c->tmpl, &m, 1, true, out, NULL, err);
}

static sa_status append_ids(sa_tokens *dst, const sa_tokens *src, sa_err *err) {
    for (size_t i = 0; i < src->n; i++)
        if (sa_tokens_push(dst, src->ids[i])) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    return SA_OK;
}

/* The rubric prompt (generation prompt open, nothing of the answer yet)
 * with output standing for the record's. */
static sa_status rubric_prompt_with(sa_curator *c, const sa_record *rec, const char *output, sa_tokens *out,
                                    sa_err *err) {
    char *instr = user_turn(rec);
    if (!instr) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    const char *keys[] = {"instruction", "output"};
    const char *vals[] = {instr, output};
    sa_strbuf msg = {0};
    sa_status s = sa_prompt_render(c->rubric, keys, vals, 2, &msg, err);
    free(instr);
    if (!s) s = encode_user(c, sa_strbuf_cstr(&msg), out, err);
    sa_strbuf_free(&msg);
    return s;
}

static sa_status rubric_prompt(sa_curator *c, const sa_record *rec, sa_tokens *out, sa_err *err) {
    return rubric_prompt_with(c, rec, rec->output ? rec->output : "", out, err);
}

/* Append plain text (never special tokens) to ids. */
static sa_status append_plain(sa_curator *c, const char *text, sa_tokens *ids, sa_err *err) {
    return sa_tokenizer_encode(c->tok, text, strlen(text), 0, ids, err);
}

/* ---- pairs longer than the context ---------------------------------------------------
 * A web page can be longer than the rater's context. Rather than fail such a
 * pair, the rater sees the output cut at the end (at a word boundary where
 * one is near, followed by CUT_MARK in a rubric; pmi scores the kept part
 * alone) and meta.curation.output_cut records how much it saw. The record
 * written keeps its whole output. */
#define CUT_MARK " [...]"

/* Tokens a request takes beyond its prompt: generate, the reason (at most
 * half the context); constrained, also the newline and "Score: " forced
 * after it. Logits asks for the next token after its prompt, which already
 * ends with "Score: ": a server counts that token against the context (vLLM
 * and selfalign serve refuse a prompt that fills it), so it takes one.
 * pmi's continuation is counted apart (it is echoed, nothing is generated). */
static int32_t request_extra(const sa_curator *c, int32_t ctx) {
    int32_t gen = c->o.max_tokens < ctx / 2 ? c->o.max_tokens : ctx / 2;
    switch (c->o.mode) {
    case SA_CURATE_GENERATE: return gen;
    case SA_CURATE_CONSTRAINED: return gen + (int32_t)c->score_prefix.n + 1;
    case SA_CURATE_LOGITS: return 1;
    default: return 0;
    }
}

/* The size of the request for rec with its output cut to its first keep
 * bytes, plus extra: pmi, the kept output's tokens (into *out); else the
 * rubric prompt over the kept output and CUT_MARK (into *out). */
static sa_status cut_size(sa_curator *c, const sa_record *rec, size_t keep, int32_t extra, sa_tokens *out,
                          int32_t *n, sa_err *err) {
    out->n = 0;
    sa_status s;
    if (c->o.mode == SA_CURATE_PMI) {
        s = sa_tokenizer_encode(c->tok, rec->output, keep, 0, out, err);
    } else {
        sa_strbuf b = {0};
        sa_strbuf_append(&b, rec->output, keep);
        sa_strbuf_puts(&b, CUT_MARK);
        s = rubric_prompt_with(c, rec, sa_strbuf_cstr(&b), out, err);
        sa_strbuf_free(&b);
        if (!s && c->o.mode == SA_CURATE_LOGITS) s = append_ids(out, &c->score_prefix, err);
    }
    *n = (int32_t)out->n + extra;
    return s;
}

/* The prompt the current mode sends for rec, in *out (emptied first), fitted
 * to the engine's context: *kept = SIZE_MAX when the whole output fits, else
 * the bytes of it the request keeps (pmi: the continuation to score). */
static sa_status fitted_prompt(sa_curator *c, const sa_record *rec, sa_tokens *out, size_t *kept, sa_err *err) {
    *kept = SIZE_MAX;
    out->n = 0;
    sa_status s = sa_curator_prompt(c, rec, out, err);
    int32_t ctx = c->e ? sa_engine_max_context(c->e) : 0;
    const char *o = rec->output ? rec->output : "";
    size_t len = strlen(o);
    if (s || ctx <= 0 || len == 0) return s;
    int32_t extra = request_extra(c, ctx);
    if (c->o.mode == SA_CURATE_PMI) extra = (int32_t)out->n; /* the conditional prompt */
    /* pmi: no text takes more tokens than bytes, and a SentencePiece space one more */
    if ((int64_t)out->n + (c->o.mode == SA_CURATE_PMI ? (int64_t)len + 1 : extra) <= ctx) return SA_OK;
    sa_tokens tmp = {0};
    int32_t n = 0;
    if (c->o.mode == SA_CURATE_PMI) {
        s = cut_size(c, rec, len, extra, &tmp, &n, err);
        if (!s && n <= ctx) {
            sa_tokens_free(&tmp);
            return SA_OK;
        }
    }
    /* the largest cut that fits (request sizes grow with the bytes kept) */
    if (!s) s = cut_size(c, rec, 0, extra, &tmp, &n, err);
    if (!s && n > ctx)
        s = sa_err_set(err, SA_ERR_RANGE,
                       "the pair does not fit the context of %d tokens even with an empty output (%d tokens: "
                       "the instruction is too long)",
                       ctx, n);
    size_t lo = 0, hi = len; /* lo fits, hi does not */
    while (!s && hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        s = cut_size(c, rec, sa_utf8_complete_prefix(o, mid), extra, &tmp, &n, err);
        if (!s && n <= ctx) lo = mid;
        else if (!s) hi = mid;
    }
    size_t k = sa_utf8_complete_prefix(o, lo), w = k;
    if (o[k] != ' ' && o[k] != '\n') { /* not at a word end already: back to the last space, if near */
        while (w > 0 && k - w < 48 && o[w - 1] != ' ' && o[w - 1] != '\n') w--;
        if (w > 0 && k - w < 48) k = w - 1;
    }
    if (!s) s = cut_size(c, rec, k, extra, &tmp, &n, err);
    if (!s && n > ctx) s = cut_size(c, rec, k = 0, extra, &tmp, &n, err); /* sizes that do not grow monotonically */
    if (!s && c->o.mode != SA_CURATE_PMI) {
        out->n = 0;
        s = append_ids(out, &tmp, err);
    }
    sa_tokens_free(&tmp);
    if (!s) *kept = k;
    return s;
}

/* meta.curation.output_cut after scoring, when the rater saw only part of the output. */
static void note_cut(sa_record *r, size_t kept) {
    json_t *m = json_object_get(r->meta, "curation");
    if (kept == SIZE_MAX || !m) return;
    json_t *o = json_object();
    json_object_set_new(o, "bytes", json_integer((json_int_t)strlen(r->output ? r->output : "")));
    json_object_set_new(o, "kept_bytes", json_integer((json_int_t)kept));
    json_object_set_new(m, "output_cut", o);
}

sa_status sa_curator_prompt(sa_curator *c, const sa_record *rec, sa_tokens *out, sa_err *err) {
    if (c->o.mode == SA_CURATE_PMI) {
        char *instr = user_turn(rec);
        if (!instr) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        sa_status s = encode_user(c, instr, out, err);
        free(instr);
        return s;
    }
    sa_status s = rubric_prompt(c, rec, out, err);
    if (!s && c->o.mode == SA_CURATE_LOGITS) s = append_ids(out, &c->score_prefix, err);
    return s;
}

/* ---- per-record results ------------------------------------------------------------ */

static json_t *curation_meta(sa_curator *c, sa_record *r) {
    if (!r->meta) r->meta = json_object();
    if (!r->meta) return NULL;
    json_object_del(r->meta, "unparsable");
    json_object_del(r->meta, "error");
    json_t *m = json_object();
    json_object_set_new(m, "mode", json_string(sa_curate_mode_name(c->o.mode)));
    if (c->o.model_name) json_object_set_new(m, "model", json_string(c->o.model_name));
    json_object_set_new(r->meta, "curation", m);
    return m;
}

static void set_reason(sa_record *r, const char *text) {
    free(r->reason);
    r->reason = sa_strdup(text ? text : "");
}

static void set_error(sa_curator *c, sa_record *r, const char *why) {
    curation_meta(c, r);
    r->has_score = false;
    if (r->meta) json_object_set_new(r->meta, "error", json_string(why));
}

/* Digit distribution -> meta.curation.probs (normalised over 1..5) and the
 * argmax (constrained) or expected value (logits). */
static void set_digit_score(sa_curator *c, sa_record *r, const float p[5], bool expected) {
    double sum = 0, ev = 0;
    int best = 0;
    for (int d = 0; d < 5; d++) {
        sum += p[d];
        if (p[d] > p[best]) best = d;
    }
    json_t *m = curation_meta(c, r);
    json_t *arr = json_array();
    for (int d = 0; d < 5; d++) {
        double q = sum > 0 ? p[d] / sum : 0.2;
        ev += q * (d + 1);
        json_array_append_new(arr, json_real(round(q * 1e6) / 1e6));
    }
    if (m) {
        json_object_set_new(m, "probs", arr);
        json_object_set_new(m, "digit_mass", json_real(round(sum * 1e6) / 1e6));
    } else json_decref(arr);
    r->has_score = true;
    /* rounded so that tiny float differences (batching) do not show in files */
    r->score = expected ? round(ev * 1e4) / 1e4 : (double)(best + 1);
}

typedef struct gen_out {
    char **text;
    sa_finish_reason *finish;
} gen_out;

static sa_status on_gen(void *ctx, const sa_gen_result *res) {
    gen_out *g = ctx;
    size_t i = (size_t)(uintptr_t)res->user;
    g->text[i] = sa_strdup(res->finish == SA_FINISH_ERROR ? (res->error ? res->error : "error") : res->text);
    g->finish[i] = res->finish;
    return g->text[i] ? SA_OK : SA_ERR_NOMEM;
}

static sa_status score_generated(sa_curator *c, sa_record *recs, size_t n, sa_err *err) {
    sa_tokens *toks = sa_calloc(n, sizeof *toks);
    sa_gen_request *rq = sa_calloc(n, sizeof *rq);
    gen_out g = {sa_calloc(n, sizeof(char *)), sa_calloc(n, sizeof(sa_finish_reason))};
    bool *ok = sa_calloc(n, sizeof(bool));
    size_t *kept = sa_calloc(n, sizeof(size_t));
    size_t nreq = 0;
    sa_status s = (!toks || !rq || !g.text || !g.finish || !ok || !kept) ? sa_err_set(err, SA_ERR_NOMEM, "out of memory")
                                                                         : SA_OK;
    const char *stop = "Score:";
    for (size_t i = 0; i < n && !s; i++) {
        sa_err e = {0};
        sa_status es = fitted_prompt(c, &recs[i], &toks[i], &kept[i], &e);
        if (es == SA_ERR_NOMEM) s = sa_err_set(err, es, "%s", e.msg);
        if (es) {
            set_error(c, &recs[i], e.msg);
            continue;
        }
        sa_gen_request r = sa_gen_request_default();
        r.id = (uint64_t)i;
        if (recs[i].id) r.id = sa_hash_str(recs[i].id, 0); /* seeds depend on the record, not the chunk */
        r.prompt_tokens = toks[i].ids;
        r.n_prompt_tokens = (int32_t)toks[i].n;
        r.max_tokens = c->o.max_tokens;
        r.sampling.temperature = c->o.temperature;
        r.seed = c->o.seed;
        if (c->o.mode == SA_CURATE_CONSTRAINED) {
            r.stop = &stop;
            r.n_stop = 1;
        }
        r.user = (void *)(uintptr_t)i;
        rq[nreq++] = r;
        ok[i] = true;
    }
    if (!s && nreq) s = sa_engine_generate(c->e, rq, nreq, on_gen, &g, err);
    sa_tokens ids = {0};
    for (size_t i = 0; i < n && !s; i++) {
        if (!ok[i]) continue;
        sa_record *r = &recs[i];
        if (!g.text[i] || g.finish[i] == SA_FINISH_ERROR) {
            set_error(c, r, g.text[i] ? g.text[i] : "no result");
            continue;
        }
        json_t *m = curation_meta(c, r);
        if (m) json_object_set_new(m, "finish_reason", json_string(sa_finish_reason_str(g.finish[i])));
        if (c->o.mode == SA_CURATE_GENERATE) {
            int32_t sc;
            set_reason(r, g.text[i]);
            if (sa_score_parse(g.text[i], strlen(g.text[i]), &sc)) {
                r->has_score = true;
                r->score = sc;
            } else {
                r->has_score = false;
                if (r->meta)
                    json_object_set_new(r->meta, "unparsable",
                                        json_string("no \"Score: N\" with N in 1..5 in the model's output"));
            }
            note_cut(r, kept[i]);
            continue;
        }
        /* constrained: the reason, then "Score: " forced, then the best digit */
        sa_err e = {0};
        ids.n = 0;
        sa_status es = append_ids(&ids, &toks[i], &e);
        size_t tl = strlen(g.text[i]);
        bool nl = g.finish[i] != SA_FINISH_STOP && tl && g.text[i][tl - 1] != '\n';
        if (!es && tl) es = append_plain(c, g.text[i], &ids, &e);
        if (!es && nl) es = append_plain(c, "\n", &ids, &e);
        if (!es) es = append_ids(&ids, &c->score_prefix, &e);
        float p[5];
        if (!es) es = sa_engine_next_token_probs_tokens(c->e, ids.ids, (int32_t)ids.n, c->digits, 5, p, &e);
        set_reason(r, g.text[i]);
        if (es == SA_ERR_NOMEM) s = sa_err_set(err, es, "%s", e.msg);
        else if (es) set_error(c, r, e.msg);
        else set_digit_score(c, r, p, false);
        note_cut(r, kept[i]);
    }
    sa_tokens_free(&ids);
    for (size_t i = 0; i < n; i++) {
        if (toks) sa_tokens_free(&toks[i]);
        if (g.text) free(g.text[i]);
    }
    free(toks);
    free(rq);
    free(g.text);
    free(g.finish);
    free(ok);
    free(kept);
    return s;
}

static sa_status score_logits(sa_curator *c, sa_record *recs, size_t n, sa_err *err) {
    sa_tokens ids = {0};
    sa_status s = SA_OK;
    for (size_t i = 0; i < n && !s; i++) {
        sa_err e = {0};
        float p[5];
        size_t kept;
        sa_status es = fitted_prompt(c, &recs[i], &ids, &kept, &e);
        if (!es) es = sa_engine_next_token_probs_tokens(c->e, ids.ids, (int32_t)ids.n, c->digits, 5, p, &e);
        if (es == SA_ERR_NOMEM) s = sa_err_set(err, es, "%s", e.msg);
        else if (es) set_error(c, &recs[i], e.msg);
        else {
            set_digit_score(c, &recs[i], p, true);
            char why[160];
            snprintf(why, sizeof why, "logits: expected rubric score %.4f from p(1..5) after \"" SCORE_PREFIX "\"",
                     recs[i].score);
            set_reason(&recs[i], why);
            note_cut(&recs[i], kept);
        }
    }
    sa_tokens_free(&ids);
    return s;
}

static sa_status score_pmi(sa_curator *c, sa_record *recs, size_t n, sa_err *err) {
    sa_tokens cond = {0}, uncond = {0};
    sa_status s = encode_user(c, "", &uncond, err);
    for (size_t i = 0; i < n && !s; i++) {
        sa_record *r = &recs[i];
        sa_err e = {0};
        size_t kept;
        char *cut = NULL;
        sa_status es = fitted_prompt(c, r, &cond, &kept, &e);
        if (!es && kept != SIZE_MAX && !(cut = sa_strndup(r->output, kept))) es = sa_err_set(&e, SA_ERR_NOMEM, "out of memory");
        sa_score_result res[2];
        memset(res, 0, sizeof res);
        if (!es) {
            /* the unconditional prompt first: it is the same for every pair
             * and lands in the prefix cache */
            sa_score_request rq[2] = {{0}, {0}};
            rq[0].prompt_tokens = uncond.ids;
            rq[0].n_prompt_tokens = (int32_t)uncond.n;
            rq[0].continuation = cut ? cut : r->output;
            rq[1] = rq[0];
            rq[1].prompt_tokens = cond.ids;
            rq[1].n_prompt_tokens = (int32_t)cond.n;
            es = sa_engine_score(c->e, rq, 2, res, &e);
            if (!es && (res[0].status || res[1].status)) {
                sa_err_set(&e, res[0].status ? res[0].status : res[1].status,
                           "pmi: the pair could not be scored (%s; too long for the context, or an empty output)",
                           sa_status_str(res[0].status ? res[0].status : res[1].status));
                es = SA_ERR_RANGE;
            }
        }
        if (es == SA_ERR_NOMEM) s = sa_err_set(err, es, "%s", e.msg);
        else if (es) set_error(c, r, e.msg);
        else {
            int32_t nt = res[1].n_tokens > 0 ? res[1].n_tokens : 1;
            double pmi = (res[1].logprob_sum - res[0].logprob_sum) / nt;
            json_t *m = curation_meta(c, r);
            if (m) {
                json_object_set_new(m, "logp_cond", json_real(round(res[1].logprob_sum * 1e4) / 1e4));
                json_object_set_new(m, "logp_uncond", json_real(round(res[0].logprob_sum * 1e4) / 1e4));
                json_object_set_new(m, "n_tokens", json_integer(nt));
            }
            r->has_score = true;
            r->score = round(pmi * 1e4) / 1e4;
            char why[200];
            snprintf(why, sizeof why, "pmi: (log p(output|instruction) - log p(output)) / %d tokens = %.4f", nt, r->score);
            set_reason(r, why);
            note_cut(r, kept);
        }
        free(cut);
        sa_score_result_free(&res[0]);
        sa_score_result_free(&res[1]);
    }
    sa_tokens_free(&cond);
    sa_tokens_free(&uncond);
    return s;
}

sa_status sa_curator_score(sa_curator *c, sa_record *recs, size_t n, sa_err *err) {
    if (n == 0) return SA_OK;
    if (!c->e) return sa_err_set(err, SA_ERR_INVALID_ARG, "curate: this curator has no engine (prompts only)");
    switch (c->o.mode) {
    case SA_CURATE_GENERATE:
    case SA_CURATE_CONSTRAINED: return score_generated(c, recs, n, err);
    case SA_CURATE_LOGITS: return score_logits(c, recs, n, err);
    case SA_CURATE_PMI: return score_pmi(c, recs, n, err);
    default: return sa_err_set(err, SA_ERR_INVALID_ARG, "curate: invalid mode");
    }
}

/* ---- files ------------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Directory of path + "/" + name. */
static char *sibling(const char *path, const char *name) {
    const char *sl = strrchr(path, '/');
    sa_strbuf b = {0};
    if (sl) sa_strbuf_append(&b, path, (size_t)(sl - path + 1));
    sa_strbuf_puts(&b, name);
    return sa_strbuf_detach(&b, NULL);
}

/* Counts over the whole output (so they add up after any number of resumed
 * runs) and the selected records. */
static sa_status summarize(sa_curator *c, const char *out_path, const char *selected_path, sa_curate_stats *st,
                           sa_err *err) {
    sa_record_reader rd;
    sa_record_reader_opts ro = {.format = SA_RECORD_FORMAT_OURS, .policy = SA_JSONL_FAIL};
    sa_status s = sa_record_reader_open(&rd, out_path, &ro, err);
    if (s) return s;
    sa_atomic_file af = {0};
    bool sel = selected_path != NULL;
    if (sel && (s = sa_atomic_open(&af, selected_path, err))) {
        sa_record_reader_close(&rd);
        return s;
    }
    sa_record rec;
    sa_record_init(&rec);
    sa_strbuf line = {0};
    while ((s = sa_record_reader_next(&rd, &rec, err)) == SA_OK) {
        st->records++;
        if (json_object_get(json_object_get(rec.meta, "curation"), "output_cut")) st->cut++;
        if (!rec.has_score) {
            json_t *m = rec.meta;
            if (json_object_get(m, "unparsable")) st->unparsable++;
            else st->errors++;
            continue;
        }
        st->scored++;
        if (c->o.mode != SA_CURATE_PMI) {
            long b = lround(rec.score);
            if (b >= 1 && b <= 5) st->hist[b - 1]++;
        }
        if (rec.score >= c->o.min_score) {
            st->selected++;
            if (sel) {
                sa_strbuf_reset(&line);
                s = sa_record_write(&line, &rec, SA_RECORD_FORMAT_OURS, err);
                if (!s) s = sa_atomic_write(&af, sa_strbuf_cstr(&line), line.len, err);
                if (s) break;
            }
        }
    }
    if (s == SA_ERR_EOF) s = SA_OK;
    sa_record_free(&rec);
    sa_strbuf_free(&line);
    sa_record_reader_close(&rd);
    if (sel) {
        if (!s) s = sa_atomic_commit(&af, err);
        else sa_atomic_abort(&af);
    }
    return s;
}

static sa_status write_stats(sa_curator *c, const char *out_path, const sa_curate_stats *st, sa_err *err) {
    json_t *o = json_object();
    json_object_set_new(o, "mode", json_string(sa_curate_mode_name(c->o.mode)));
    if (c->o.model_name) json_object_set_new(o, "model", json_string(c->o.model_name));
    json_object_set_new(o, "min_score", json_real(c->o.min_score));
    json_object_set_new(o, "records", json_integer((json_int_t)st->records));
    json_object_set_new(o, "scored", json_integer((json_int_t)st->scored));
    json_object_set_new(o, "unparsable", json_integer((json_int_t)st->unparsable));
    json_object_set_new(o, "errors", json_integer((json_int_t)st->errors));
    json_object_set_new(o, "output_cut", json_integer((json_int_t)st->cut));
    json_object_set_new(o, "selected", json_integer((json_int_t)st->selected));
    if (c->o.mode != SA_CURATE_PMI) {
        json_t *h = json_object();
        for (int d = 0; d < 5; d++) {
            char k[2] = {(char)('1' + d), 0};
            json_object_set_new(h, k, json_integer((json_int_t)st->hist[d]));
        }
        json_object_set_new(o, "histogram", h);
    }
    json_t *run = json_object();
    json_object_set_new(run, "new_records", json_integer((json_int_t)st->new_records));
    json_object_set_new(run, "done_before", json_integer((json_int_t)st->done_before));
    json_object_set_new(run, "bad_input", json_integer((json_int_t)st->bad_input));
    json_object_set_new(run, "skipped", json_integer((json_int_t)st->skipped));
    json_object_set_new(run, "seconds", json_real(st->seconds));
    json_object_set_new(run, "pairs_per_s", json_real(st->pairs_per_s));
    json_object_set_new(o, "this_run", run);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    char *path = sibling(out_path, "stats.json");
    sa_status s = (!text || !path) ? sa_err_set(err, SA_ERR_NOMEM, "out of memory") : SA_OK;
    if (!s) {
        sa_strbuf b = {0};
        sa_strbuf_puts(&b, text);
        sa_strbuf_putc(&b, '\n');
        s = sa_file_write_atomic(path, sa_strbuf_cstr(&b), b.len, err);
        sa_strbuf_free(&b);
    }
    free(text);
    free(path);
    return s;
}

static sa_status flush_chunk(sa_curator *c, sa_shard *j, sa_record *recs, size_t n, sa_curate_stats *st,
                             sa_err *err) {
    sa_status s = sa_curator_score(c, recs, n, err);
    for (size_t i = 0; i < n && !s; i++) {
        json_t *o = NULL;
        s = sa_record_to_json(&recs[i], &o, err);
        if (!s) s = sa_shard_append(j, o, err);
        json_decref(o);
        if (!s) st->new_records++;
    }
    for (size_t i = 0; i < n; i++) sa_record_free(&recs[i]);
    if (!s && sa_signal_pending()) s = sa_signal_check(err);
    return s;
}

sa_status sa_curate_file(sa_curator *c, const char *in_path, const char *out_path, const char *selected_path,
                         sa_curate_stats *st_out, sa_err *err) {
    sa_curate_stats st;
    memset(&st, 0, sizeof st);
    double t0 = now_s();
    sa_shard j;
    memset(&j, 0, sizeof j);
    sa_journal_opts jo = sa_journal_default_opts();
    const sa_dist *dist = c->o.dist;
    const bool rank0 = sa_dist_rank(dist) == 0;
    json_t *order = json_array(); /* rank 0 under MPI: the input's ids, in order, for the fold */
    sa_status s = SA_OK;
    const char *sl = strrchr(out_path, '/');
    if (sl && sl != out_path) { /* the output directory may be new */
        char *dir = sa_strndup(out_path, (size_t)(sl - out_path));
        s = dir ? sa_mkdir_p(dir, 0777, err) : sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        free(dir);
    }
    /* every rank must reach the collective open, even after a failed mkdir */
    s = sa_dist_agree(dist, s ? s : (order ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "out of memory")), err);
    if (!s) s = sa_shard_open(&j, dist, out_path, &jo, err);
    if (s) {
        json_decref(order);
        return s;
    }
    st.done_before = sa_shard_done_before(&j);
    sa_record_reader rd;
    sa_record_reader_opts ro = {.format = SA_RECORD_FORMAT_AUTO, .policy = SA_JSONL_SKIP, .on_bad = c->o.on_bad,
                                .ctx = c->o.ctx, .source = "augmented"};
    s = sa_record_reader_open(&rd, in_path, &ro, err);
    size_t cap = (size_t)c->o.chunk, n = 0;
    bool reading = !s;
    sa_record *recs = s ? NULL : sa_calloc(cap, sizeof *recs);
    if (!s && !recs) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_record rec;
    sa_record_init(&rec);
    for (size_t i = 0; i < cap && recs; i++) sa_record_init(&recs[i]);
    while (!s) {
        s = sa_record_reader_next(&rd, &rec, err);
        if (s == SA_ERR_EOF) {
            s = SA_OK;
            break;
        }
        if (s) break;
        if (!rec.id && (s = sa_record_set_id(&rec, err))) break;
        if ((j.size > 1 || j.reorder) && rank0) json_array_append_new(order, json_string(rec.id));
        if (!sa_shard_mine(&j, rec.id)) continue; /* another rank's record */
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++) dup = strcmp(recs[i].id, rec.id) == 0;
        if (dup || sa_shard_has(&j, rec.id)) { /* an earlier run, or repeated in this input */
            st.skipped++;
            continue;
        }
        recs[n] = rec; /* moves the strings and meta */
        sa_record_init(&rec);
        if (++n == cap) {
            s = flush_chunk(c, &j, recs, n, &st, err);
            n = 0;
        }
    }
    if (!s && n) s = flush_chunk(c, &j, recs, n, &st, err);
    else
        for (size_t i = 0; i < n; i++) sa_record_free(&recs[i]);
    sa_record_free(&rec);
    free(recs);
    if (reading) {
        st.bad_input = sa_record_reader_bad(&rd);
        sa_record_reader_close(&rd);
    }
    /* the fold puts every rank's records into out_path in input order */
    size_t n_order = json_array_size(order);
    const char **ids = n_order ? sa_calloc(n_order, sizeof *ids) : NULL;
    for (size_t i = 0; ids && i < n_order; i++) ids[i] = json_string_value(json_array_get(order, i));
    s = sa_shard_finish(&j, s, ids, ids ? n_order : 0, err);
    free(ids);
    json_decref(order);
    double sums[2] = {(double)st.new_records, (double)st.skipped};
    if (!s) s = sa_dist_allreduce_f64(dist, sums, 2, err);
    st.new_records = (uint64_t)sums[0], st.skipped = (uint64_t)sums[1];
    st.seconds = now_s() - t0;
    st.pairs_per_s = st.seconds > 0 ? st.new_records / st.seconds : 0;
    if (!s && rank0) s = summarize(c, out_path, selected_path, &st, err);
    if (!s && rank0) s = write_stats(c, out_path, &st, err);
    if (st_out) *st_out = st;
    return s;
}
