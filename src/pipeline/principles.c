/* principles.c — Dromedary stage 2: principle-driven (and verbose-persona)
 * answers, journaled and resumable (see include/sa/principles.h for the
 * contract: prompt layout, input, filters, files). Its structure follows
 * backtranslate.c: read inputs in chunks, journal raw generations keyed by
 * prompt id, classify at the final pass and rewrite the final files in
 * input order. */
#include "sa/principles.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/journal.h"
#include "sa/json.h"
#include "sa/jsonl.h"
#include "sa/record.h"
#include "sa/signal.h"
#include "sa/strbuf.h"

#include "stage_util.h"

#define PR_ID_SEED 0x7072696e63706c65ULL /* "princple": request ids differ from other stages' */
#define PR_QID_SEED 0x7072716964000000ULL /* ids of records without one */

static const char *const k_mode_names[SA_PRINCIPLES_MODE_COUNT] = {"answer", "verbose"};
static const char *const k_answer_stops[] = {SA_MARK_END, SA_MARK_USER, "### Instruction:"};
static const char *const k_verbose_stops[] = {"### Instruction:"};

const char *sa_principles_mode_name(sa_principles_mode m) {
    return (unsigned)m < SA_PRINCIPLES_MODE_COUNT ? k_mode_names[m] : "?";
}

sa_status sa_principles_mode_parse(const char *name, sa_principles_mode *out, sa_err *err) {
    for (int i = 0; i < SA_PRINCIPLES_MODE_COUNT; i++)
        if (name && strcmp(name, k_mode_names[i]) == 0) {
            *out = (sa_principles_mode)i;
            return SA_OK;
        }
    return sa_err_set(err, SA_ERR_INVALID_ARG, "unknown principles mode \"%s\" (answer, verbose)", name ? name : "(null)");
}

sa_principles_opts sa_principles_default_opts(void) {
    sa_principles_opts o = {0};
    o.mode = SA_PRINCIPLES_ANSWER;
    o.refusal_max_words = 50;
    o.min_words = 8;
    o.leak_min_entities = 2;
    o.max_tokens = 512;
    o.temperature = 0.7f;
    o.top_p = 0.9f;
    o.chunk = 64;
    return o;
}

uint64_t sa_principles_request_id(const char *prompt_id) { return sa_hash_str(prompt_id, PR_ID_SEED); }

/* ---- prompts ----------------------------------------------------------------------- */

static sa_status get_prompt(const sa_prompts *p, const char *name, const char **out, sa_err *err) {
    *out = sa_prompts_get(p, name);
    if (!*out) return sa_err_set(err, SA_ERR_NOT_FOUND, "principles: no \"%s\" prompt (prompts/%s.txt)", name, name);
    return SA_OK;
}

static sa_status append_trimmed(sa_strbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    while (n && (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t')) s++, n--;
    return sa_strbuf_append(b, s, n);
}

sa_status sa_principles_exemplars(const sa_prompts *prompts, sa_exemplars *out, sa_err *err) {
    const char *text;
    sa_status s = get_prompt(prompts, "principle_exemplars", &text, err);
    if (s) return s;
    const char *origin = sa_prompts_origin(prompts, "principle_exemplars");
    char name[1100];
    snprintf(name, sizeof name, "%s", origin && strcmp(origin, "builtin") != 0 ? origin : "prompts/principle_exemplars.txt");
    return sa_exemplars_parse(text, name, out, err);
}

/* The exemplars text up to the (n+1)-th exemplar (all of it when n <= 0 or
 * there are no more), appended to b trimmed. */
static sa_status append_exemplars(sa_strbuf *b, const char *ex, int32_t n, sa_err *err) {
    if (n <= 0) return append_trimmed(b, ex) ? sa_err_set(err, SA_ERR_NOMEM, "out of memory") : SA_OK;
    sa_exemplars x = {0};
    sa_status s = sa_exemplars_parse(ex, "principle_exemplars", &x, err);
    size_t cut = strlen(ex);
    if (!s && (size_t)n < x.n) { /* the start of line x.v[n].line */
        const char *p = ex;
        for (uint32_t line = 1; line < x.v[n].line && p; line++) p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
        if (p) cut = (size_t)(p - ex);
    }
    sa_exemplars_free(&x);
    char *part = s ? NULL : sa_strndup(ex, cut);
    if (!s && (!part || append_trimmed(b, part))) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    free(part);
    return s;
}

sa_status sa_principles_prompt_ids(const sa_tokenizer *tok, const sa_chat_template *t, const sa_prompts *prompts,
                                   sa_principles_mode mode, int32_t n_exemplars, const char *query, sa_tokens *ids,
                                   sa_err *err) {
    SA_ASSERT(tok && t && query && ids);
    if ((unsigned)mode >= SA_PRINCIPLES_MODE_COUNT)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "principles: invalid mode %d", (int)mode);
    const char *keys[] = {"query"}, *vals[] = {query};
    sa_strbuf sys = {0}, user = {0};
    sa_status s = SA_OK;
    size_t before = ids->n;
    if (mode == SA_PRINCIPLES_ANSWER) {
        const char *pr, *ex, *q;
        if ((s = get_prompt(prompts, "principles", &pr, err)) || (s = get_prompt(prompts, "principle_exemplars", &ex, err)) ||
            (s = get_prompt(prompts, "principle_query", &q, err)))
            goto done;
        if (append_trimmed(&sys, pr) || sa_strbuf_puts(&sys, "\n\n")) {
            s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((s = append_exemplars(&sys, ex, n_exemplars, err))) goto done;
        if ((s = sa_prompt_render(q, keys, vals, 1, &user, err))) goto done;
        sa_chat_msg m[2] = {{SA_CHAT_ROLE_SYSTEM, sa_strbuf_cstr(&sys)}, {SA_CHAT_ROLE_USER, sa_strbuf_cstr(&user)}};
        if ((s = sa_chat_encode(tok, t, m, 2, true, ids, NULL, err))) goto done;
        /* the assistant turn opens in its internal thoughts (plain text, ours) */
        static const char opener[] = SA_MARK_THOUGHTS "\n";
        sa_tokens op = {0};
        s = sa_tokenizer_encode(tok, opener, sizeof opener - 1, 0, &op, err);
        for (size_t i = 0; !s && i < op.n; i++)
            if (sa_tokens_push(ids, op.ids[i])) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        sa_tokens_free(&op);
    } else {
        const char *vp;
        if ((s = get_prompt(prompts, "verbose_persona", &vp, err))) goto done;
        if ((s = sa_prompt_render(vp, keys, vals, 1, &user, err))) goto done;
        sa_chat_msg m = {SA_CHAT_ROLE_USER, sa_strbuf_cstr(&user)};
        s = sa_chat_encode(tok, t, &m, 1, true, ids, NULL, err);
    }
done:
    if (s) ids->n = before;
    sa_strbuf_free(&sys);
    sa_strbuf_free(&user);
    return s;
}

sa_status sa_principles_shared_prefix(const sa_tokenizer *tok, const sa_chat_template *t, const sa_prompts *prompts,
                                      sa_principles_mode mode, int32_t n_exemplars, size_t *n, sa_err *err) {
    sa_tokens a = {0}, b = {0};
    /* two probes with nothing in common, not even their first byte */
    sa_status s = sa_principles_prompt_ids(tok, t, prompts, mode, n_exemplars, "Zebra?", &a, err);
    if (!s) s = sa_principles_prompt_ids(tok, t, prompts, mode, n_exemplars, "1 + 1", &b, err);
    size_t k = 0;
    while (!s && k < a.n && k < b.n && a.ids[k] == b.ids[k]) k++;
    *n = k;
    sa_tokens_free(&a);
    sa_tokens_free(&b);
    return s;
}

/* Hash of the prompt texts a generation depends on (kept in the settings). */
static void prompts_hash(const sa_prompts *p, sa_principles_mode mode, char out[17]) {
    static const char *const answer[] = {"principles", "principle_exemplars", "principle_query"};
    static const char *const verbose[] = {"verbose_persona"};
    const char *const *names = mode == SA_PRINCIPLES_ANSWER ? answer : verbose;
    size_t n = mode == SA_PRINCIPLES_ANSWER ? 3 : 1;
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = sa_prompts_get(p, names[i]);
        h = sa_hash_mix(h, sa_hash_str(t ? t : "", (uint64_t)i));
    }
    sa_hash_hex(h, out);
}

/* ---- a string-keyed table (ids seen, journal records) ----------------------------- */

/* ---- reading prompt records ---------------------------------------------------------- */

typedef struct prompt_in {
    json_t *obj;             /* the input object (owned reference) */
    const char *id;          /* borrowed from obj or idbuf */
    const char *instruction; /* borrowed from obj: the query's main text */
    const char *input;       /* borrowed from obj, or NULL */
    char *query;             /* owned: instruction [+ "\n\n" + input] */
    bool harmful;
    char idbuf[32];
} prompt_in;

static void prompt_in_clear(prompt_in *p) {
    if (p->obj) json_decref(p->obj);
    free(p->query);
    memset(p, 0, sizeof *p);
}

typedef struct in_reader {
    sa_jsonl_reader rd;
    const char *path;
    bool strict;
    sa_idmap seen;
    uint64_t bad;
    FILE *warn;
} in_reader;

static void on_bad_line(void *ctx, const char *path, uint64_t line, const char *reason) {
    FILE *f = ctx;
    if (f) fprintf(f, "selfalign: warning: %s:%llu: %s (skipped)\n", path, (unsigned long long)line, reason);
}

static sa_status in_open(in_reader *r, const char *path, bool strict, FILE *warn, sa_err *err) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->strict = strict;
    r->warn = warn;
    sa_jsonl_opts ro = {.policy = strict ? SA_JSONL_FAIL : SA_JSONL_SKIP, .on_bad = on_bad_line, .ctx = warn};
    return sa_jsonl_reader_open(&r->rd, path, &ro, err);
}

static void in_close(in_reader *r) {
    sa_jsonl_reader_close(&r->rd);
    sa_idmap_free(&r->seen);
}

static uint64_t in_bad(const in_reader *r) { return r->bad + sa_jsonl_stats_bad(&r->rd.stats); }

static bool blank(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f') s++;
    return *s == 0;
}

static const char *query_field(json_t *o) {
    static const char *const keys[] = {"instruction", "question", "prompt"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(o, keys[i]));
        if (v && !blank(v)) return v;
    }
    return NULL;
}

/* Next valid, first-seen prompt record into *p (cleared first). SA_ERR_EOF at the end. */
static sa_status in_next(in_reader *r, prompt_in *p, sa_err *err) {
    prompt_in_clear(p);
    for (;;) {
        json_t *o;
        uint64_t line;
        sa_status st = sa_jsonl_next(&r->rd, &o, &line, err);
        if (st) return st;
        const char *why = NULL;
        const char *q = json_is_object(o) ? query_field(o) : NULL;
        if (!json_is_object(o)) why = "not a JSON object";
        else if (!q) why = "no non-blank string \"instruction\", \"question\" or \"prompt\"";
        const char *input = NULL;
        if (!why && q == json_string_value(json_object_get(o, "instruction"))) {
            input = json_string_value(json_object_get(o, "input"));
            if (input && blank(input)) input = NULL;
        }
        char *query = NULL;
        if (!why) {
            sa_strbuf b = {0};
            if (sa_strbuf_puts(&b, q) || (input && sa_strbuf_appendf(&b, "\n\n%s", input))) {
                sa_strbuf_free(&b);
                json_decref(o);
                return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            }
            query = sa_strbuf_detach(&b, NULL);
        }
        const char *sid = NULL;
        if (!why) {
            json_t *jid = json_object_get(o, "id");
            sid = json_string_value(jid);
            if (!sid && json_is_integer(jid)) {
                snprintf(p->idbuf, sizeof p->idbuf, "%lld", (long long)json_integer_value(jid));
                sid = p->idbuf;
            } else if (!sid && !jid) {
                sa_hash_hex(sa_hash_str(query, PR_QID_SEED), p->idbuf);
                sid = p->idbuf;
            }
            if (!sid || !*sid) why = "\"id\" is not a non-empty string or an integer";
        }
        if (!why) {
            bool added;
            if (sa_idmap_put(&r->seen, sid, NULL, &added)) {
                free(query);
                json_decref(o);
                return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            }
            if (!added) why = json_object_get(o, "id") ? "repeated id" : "repeated query (no \"id\")";
        }
        if (!why) {
            p->obj = o, p->id = sid, p->instruction = q, p->input = input, p->query = query;
            json_t *meta = json_object_get(o, "meta");
            p->harmful = json_is_true(json_object_get(o, "harmful")) || json_is_true(json_object_get(meta, "harmful"));
            return SA_OK;
        }
        free(query);
        r->bad++;
        if (r->warn)
            fprintf(r->warn, "selfalign: warning: %s:%llu: %s (skipped)\n", r->path, (unsigned long long)line, why);
        json_decref(o);
        if (r->strict) return sa_err_set(err, SA_ERR_FORMAT, "%s:%llu: %s", r->path, (unsigned long long)line, why);
    }
}

/* ---- generation ---------------------------------------------------------------------- */

typedef struct pr_run {
    const sa_principles_opts *o;
    sa_journal j;
    char **ids; /* per request of the current chunk */
    uint64_t generated, tokens, prompt_tokens, cached_tokens;
    sa_err err;
} pr_run;

static sa_status journal_result(pr_run *r, const char *id, const char *text, size_t len, sa_finish_reason fin,
                                const char *error, int32_t n_tokens) {
    json_t *o = json_object();
    json_t *jt = json_stringn(text ? text : "", text ? len : 0);
    if (!jt) { /* the model produced bytes that are not UTF-8: keep the fact, not the bytes */
        jt = json_string("");
        fin = SA_FINISH_ERROR;
        error = "generated text is not valid UTF-8";
    }
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "text", jt);
    json_object_set_new(o, "finish", json_string(sa_finish_reason_str(fin)));
    if (error) json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "n_tokens", json_integer(n_tokens));
    sa_status s = sa_journal_append(&r->j, o, &r->err);
    json_decref(o);
    if (!s) r->generated++, r->tokens += (uint64_t)(n_tokens > 0 ? n_tokens : 0);
    return s;
}

static sa_status on_result(void *p, const sa_gen_result *res) {
    pr_run *r = p;
    size_t i = (size_t)(uintptr_t)res->user;
    r->prompt_tokens += (uint64_t)(res->n_prompt_tokens > 0 ? res->n_prompt_tokens : 0);
    r->cached_tokens += (uint64_t)(res->n_cached_tokens > 0 ? res->n_cached_tokens : 0);
    sa_status s = journal_result(r, r->ids[i], res->text, res->text_len, res->finish, res->error, res->n_tokens);
    if (!s && sa_signal_pending()) s = sa_signal_check(&r->err);
    return s;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sa_status generate_all(sa_engine *e, const sa_tokenizer *tok, const sa_chat_template *t, pr_run *r,
                              sa_principles_stats *st, sa_err *err) {
    const sa_principles_opts *o = r->o;
    in_reader ir;
    sa_status s = in_open(&ir, o->in_path, o->strict, o->progress, err);
    if (s) return s;
    size_t chunk = o->chunk ? o->chunk : 64;
    sa_gen_request *reqs = calloc(chunk, sizeof *reqs);
    sa_tokens *toks = calloc(chunk, sizeof *toks);
    r->ids = calloc(chunk, sizeof *r->ids);
    if (!reqs || !toks || !r->ids) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_gen_request base = sa_gen_request_default();
    base.max_tokens = o->max_tokens;
    base.sampling.temperature = o->temperature;
    base.sampling.top_p = o->top_p;
    base.seed = o->seed;
    if (o->mode == SA_PRINCIPLES_ANSWER) {
        base.stop = k_answer_stops;
        base.n_stop = (int32_t)(sizeof k_answer_stops / sizeof *k_answer_stops);
    } else {
        base.stop = k_verbose_stops;
        base.n_stop = (int32_t)(sizeof k_verbose_stops / sizeof *k_verbose_stops);
    }
    prompt_in p = {0};
    bool eof = false;
    double last_report = now_s();
    while (!s && !eof) {
        size_t n = 0;
        while (!s && n < chunk) {
            s = in_next(&ir, &p, err);
            if (s == SA_ERR_EOF) {
                s = SA_OK;
                eof = true;
                break;
            }
            if (s) break;
            st->inputs++;
            if (sa_journal_has(&r->j, p.id)) continue;
            sa_err pe = {0};
            toks[n].n = 0;
            if (sa_principles_prompt_ids(tok, t, o->prompts, o->mode, o->n_exemplars, p.query, &toks[n], &pe)) {
                /* a prompt that cannot be built is this record's outcome, not the run's */
                s = journal_result(r, p.id, "", 0, SA_FINISH_ERROR, pe.msg, 0);
                if (s) *err = r->err;
                continue;
            }
            reqs[n] = base;
            reqs[n].prompt_tokens = toks[n].ids;
            reqs[n].n_prompt_tokens = (int32_t)toks[n].n;
            reqs[n].id = sa_principles_request_id(p.id);
            reqs[n].user = (void *)(uintptr_t)n;
            r->ids[n] = sa_strdup(p.id);
            if (!r->ids[n]) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            else n++;
        }
        if (!s && sa_signal_pending()) s = sa_signal_check(err);
        if (!s && n) {
            s = sa_engine_generate(e, reqs, n, on_result, r, err);
            if (s && r->err.code) *err = r->err;
        }
        for (size_t i = 0; i < n; i++) {
            free(r->ids[i]);
            r->ids[i] = NULL;
        }
        if (o->progress && n && !s && now_s() - last_report >= 5) {
            last_report = now_s();
            fprintf(o->progress, "principles: %llu prompts read, %llu answered this run\n",
                    (unsigned long long)st->inputs, (unsigned long long)r->generated);
        }
    }
    prompt_in_clear(&p);
    st->bad_lines = in_bad(&ir);
    for (size_t i = 0; toks && i < chunk; i++) sa_tokens_free(&toks[i]);
    free(toks);
    free(reqs);
    free(r->ids);
    r->ids = NULL;
    in_close(&ir);
    return s;
}

/* ---- final files ---------------------------------------------------------------------- */

static sa_status load_journal(const char *path, sa_idmap *m, sa_err *err) {
    sa_jsonl_reader rd;
    sa_status s = sa_jsonl_reader_open(&rd, path, NULL, err);
    if (s) return s;
    json_t *o;
    while ((s = sa_jsonl_next(&rd, &o, NULL, err)) == SA_OK) {
        const char *id = json_string_value(json_object_get(o, "id"));
        bool added = false;
        if (id && (s = sa_idmap_put(m, id, o, &added)) != SA_OK) {
            json_decref(o);
            s = sa_err_set(err, s, "out of memory");
            break;
        }
        if (!added) json_decref(o);
    }
    sa_jsonl_reader_close(&rd);
    return s == SA_ERR_EOF ? SA_OK : s;
}

static sa_finish_reason finish_from(const char *s) {
    static const sa_finish_reason all[] = {SA_FINISH_EOS, SA_FINISH_STOP, SA_FINISH_LENGTH, SA_FINISH_CONTEXT,
                                           SA_FINISH_ERROR};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, sa_finish_reason_str(all[i])) == 0) return all[i];
    return SA_FINISH_ERROR;
}

static sa_status write_line(sa_atomic_file *af, json_t *v, sa_strbuf *line, sa_err *err) {
    sa_strbuf_reset(line);
    sa_status s = sa_json_dump_line(v, line, err);
    if (!s) s = sa_atomic_write(af, line->buf, line->len, err);
    return s;
}

/* Through float -> shortest text -> double, so 0.7f is written as 0.7. */
static double short_real(float f) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)f);
    return strtod(b, NULL);
}

static sa_status accepted_record(const sa_principles_opts *o, const sa_chat_template *t, const prompt_in *p,
                                 const sa_answer_verdict *v, json_t **out, sa_err *err) {
    sa_record rec;
    sa_record_init(&rec);
    rec.instruction = sa_strdup(p->instruction);
    rec.input = p->input ? sa_strdup(p->input) : NULL;
    rec.output = sa_strndup(v->answer, v->answer_len);
    rec.source = sa_strdup(o->mode == SA_PRINCIPLES_ANSWER ? "principle_answer" : "verbose_clone");
    rec.meta = json_object();
    if (!rec.instruction || (p->input && !rec.input) || !rec.output || !rec.source || !rec.meta) {
        sa_record_free(&rec);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    json_object_set_new(rec.meta, "prompt_id", json_string(p->id));
    json_object_set_new(rec.meta, "mode", json_string(sa_principles_mode_name(o->mode)));
    json_object_set_new(rec.meta, "model", json_string(o->model_name ? o->model_name : ""));
    json_object_set_new(rec.meta, "template", json_string(sa_chat_format_name(t->format)));
    json_object_set_new(rec.meta, "temperature", json_real(short_real(o->temperature)));
    json_object_set_new(rec.meta, "top_p", json_real(short_real(o->top_p)));
    json_object_set_new(rec.meta, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(rec.meta, "max_tokens", json_integer(o->max_tokens));
    if (v->cut) json_object_set_new(rec.meta, "cut", json_true());
    json_t *src = json_object_get(p->obj, "source");
    if (json_is_string(src)) json_object_set(rec.meta, "query_source", src);
    json_t *meta = json_object_get(p->obj, "meta");
    if (json_is_object(meta)) json_object_set(rec.meta, "query_meta", meta);
    sa_status s = sa_record_to_json(&rec, out, err);
    sa_record_free(&rec);
    return s;
}

static sa_status write_stats(const char *path, const sa_chat_template *t, const sa_principles_opts *o,
                             const sa_principles_stats *st, sa_err *err) {
    json_t *j = json_object();
    json_object_set_new(j, "stage", json_string("principles"));
    json_object_set_new(j, "mode", json_string(sa_principles_mode_name(o->mode)));
    json_object_set_new(j, "inputs", json_integer((json_int_t)st->inputs));
    json_object_set_new(j, "bad_lines", json_integer((json_int_t)st->bad_lines));
    json_object_set_new(j, "accepted", json_integer((json_int_t)st->by_reason[SA_ANS_ACCEPTED]));
    json_object_set_new(j, "accepted_cut", json_integer((json_int_t)st->cut));
    json_t *rej = json_object();
    uint64_t nrej = 0;
    for (int r = 1; r < SA_ANS_REASON_COUNT; r++) {
        json_object_set_new(rej, sa_answer_reason_name((sa_answer_reason)r), json_integer((json_int_t)st->by_reason[r]));
        nrej += st->by_reason[r];
    }
    json_object_set_new(j, "rejected", json_integer((json_int_t)nrej));
    json_object_set_new(j, "rejected_by_reason", rej);
    json_object_set_new(j, "leak_entries", json_integer((json_int_t)st->leak_entries));
    json_object_set_new(j, "prefix_tokens", json_integer((json_int_t)st->prefix_tokens));
    json_object_set_new(j, "resumed", json_integer((json_int_t)st->resumed));
    json_object_set_new(j, "generated_this_run", json_integer((json_int_t)st->generated));
    json_object_set_new(j, "generated_tokens_this_run", json_integer((json_int_t)st->gen_tokens));
    json_object_set_new(j, "generation_seconds", json_real(st->gen_seconds));
    json_object_set_new(j, "answers_per_s", json_real(st->answers_per_s));
    json_t *set = json_object();
    json_object_set_new(set, "model", json_string(o->model_name ? o->model_name : ""));
    json_object_set_new(set, "template", json_string(sa_chat_format_name(t->format)));
    json_object_set_new(set, "temperature", json_real(short_real(o->temperature)));
    json_object_set_new(set, "top_p", json_real(short_real(o->top_p)));
    json_object_set_new(set, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(set, "max_tokens", json_integer(o->max_tokens));
    json_object_set_new(set, "min_words", json_integer(o->min_words));
    json_object_set_new(set, "refusal_max_words", json_integer(o->refusal_max_words));
    json_object_set_new(set, "leak_min_entities", json_integer(o->leak_min_entities));
    json_object_set_new(j, "settings", set);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!text) return sa_err_set(err, SA_ERR_NOMEM, "%s: cannot serialise stats", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps's NUL becomes the final newline */
    sa_status s = sa_file_write_atomic(path, text, n + 1, err);
    free(text);
    return s;
}

static sa_status write_finals(const sa_principles_opts *o, const sa_chat_template *t, const sa_answer_filter *f,
                              const char *journal, const char *rejected, const char *stats, sa_principles_stats *st,
                              sa_err *err) {
    sa_idmap jm = {0};
    in_reader ir;
    sa_atomic_file fo = {0}, fr = {0};
    sa_strbuf line = {0};
    prompt_in p = {0};
    sa_status s = load_journal(journal, &jm, err);
    if (s) return s;
    /* the input was already checked and reported: read it quietly this time */
    if ((s = in_open(&ir, o->in_path, false, NULL, err)) != SA_OK) {
        sa_idmap_free(&jm);
        return s;
    }
    memset(st->by_reason, 0, sizeof st->by_reason);
    st->cut = 0;
    if (!(s = sa_atomic_open(&fo, o->out_path, err))) s = sa_atomic_open(&fr, rejected, err);
    while (!s) {
        s = in_next(&ir, &p, err);
        if (s) break;
        sa_idmap_entry *je = sa_idmap_get(&jm, p.id);
        if (!je) { /* the input changed since generation */
            s = sa_err_set(err, SA_ERR_INVALID_ARG, "%s: prompt %s has no journaled result in %s (was the input "
                           "changed during the run?)", o->in_path, p.id, journal);
            break;
        }
        const char *gen = json_string_value(json_object_get(je->rec, "text"));
        sa_finish_reason fin = finish_from(json_string_value(json_object_get(je->rec, "finish")));
        sa_answer_verdict v;
        sa_answer_reason why = sa_answer_classify(f, p.query, p.harmful, gen, fin, &v);
        st->by_reason[why]++;
        json_t *rec = NULL;
        if (why == SA_ANS_ACCEPTED) {
            st->cut += v.cut;
            s = accepted_record(o, t, &p, &v, &rec, err);
            if (!s) s = write_line(&fo, rec, &line, err);
        } else {
            rec = json_object();
            json_object_set_new(rec, "prompt_id", json_string(p.id));
            json_object_set_new(rec, "instruction", json_string(p.query));
            json_object_set_new(rec, "reason", json_string(sa_answer_reason_name(why)));
            json_object_set_new(rec, "text", json_string(gen ? gen : ""));
            if (v.detail) json_object_set_new(rec, "detail", json_string(v.detail));
            const char *e = json_string_value(json_object_get(je->rec, "error"));
            if (why == SA_ANS_ERROR && e) json_object_set_new(rec, "error", json_string(e));
            s = write_line(&fr, rec, &line, err);
        }
        if (rec) json_decref(rec);
    }
    if (s == SA_ERR_EOF) s = SA_OK;
    prompt_in_clear(&p);
    if (!s) s = sa_atomic_commit(&fo, err);
    if (!s) s = sa_atomic_commit(&fr, err);
    sa_atomic_abort(&fo);
    sa_atomic_abort(&fr);
    if (!s) s = write_stats(stats, t, o, st, err);
    sa_strbuf_free(&line);
    in_close(&ir);
    sa_idmap_free(&jm);
    return s;
}

/* The generation settings a journal's results depend on, kept beside it
 * (<journal>.settings); a rerun with others is refused. */
static sa_status check_settings(const char *jpath, const sa_chat_template *t, const sa_principles_opts *o,
                                bool has_results, sa_err *err) {
    char ph[17];
    prompts_hash(o->prompts, o->mode, ph);
    json_t *j = json_pack("{s:s, s:s, s:s, s:f, s:f, s:I, s:i, s:s}", "mode", sa_principles_mode_name(o->mode), "model",
                          o->model_name ? o->model_name : "", "template", sa_chat_format_name(t->format), "temperature",
                          (double)o->temperature, "top_p", (double)o->top_p, "seed", (json_int_t)o->seed, "max_tokens",
                          (int)o->max_tokens, "prompts", ph);
    /* only when set, so that journals written before the option still resume */
    if (j && o->n_exemplars > 0 && o->mode == SA_PRINCIPLES_ANSWER)
        json_object_set_new(j, "exemplars", json_integer(o->n_exemplars));
    char *now = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    char *spath = sa_stage_path_suffix(jpath, ".settings");
    sa_status s = SA_OK;
    if (!now || !spath) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_strbuf saved = {0};
    if (!s && has_results && sa_path_exists(spath)) {
        s = sa_file_read_strbuf(spath, &saved, err);
        if (!s && strcmp(sa_strbuf_cstr(&saved), now) != 0)
            s = sa_err_set(err, SA_ERR_INVALID_ARG,
                           "%s: its results were generated with other settings (%s; now %s): rerun with those "
                           "settings, or write to a new --out",
                           jpath, sa_strbuf_cstr(&saved), now);
    } else if (!s) {
        s = sa_file_write_atomic(spath, now, strlen(now), err);
    }
    sa_strbuf_free(&saved);
    free(now);
    free(spath);
    return s;
}

sa_status sa_principles_run(sa_engine *e, const sa_tokenizer *tok, const sa_chat_template *t,
                            const sa_principles_opts *o, sa_principles_stats *stats, sa_err *err) {
    SA_ASSERT(e && tok && t && o);
    if (!o->in_path || !o->out_path)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "principles: input and output paths are required");
    if (o->max_tokens < 1) return sa_err_set(err, SA_ERR_INVALID_ARG, "principles: max_tokens must be >= 1");
    if (o->n_exemplars < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "principles: exemplars must be >= 0 (0 = all), not %d", o->n_exemplars);
    if ((unsigned)o->mode >= SA_PRINCIPLES_MODE_COUNT)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "principles: invalid mode %d", (int)o->mode);
    sa_principles_stats st_local, *st = stats ? stats : &st_local;
    memset(st, 0, sizeof *st);
    /* the prompts and the filter first: a malformed exemplar file fails before any work */
    sa_exemplars ex = {0};
    sa_leak_list *leaks = NULL;
    sa_status s = SA_OK;
    if (o->mode == SA_PRINCIPLES_ANSWER) s = sa_principles_exemplars(o->prompts, &ex, err);
    if (!s) s = sa_leak_list_build(o->mode == SA_PRINCIPLES_ANSWER ? &ex : NULL, o->leak_words, o->n_leak_words, &leaks, err);
    if (!s) {
        sa_leak_list_set_min_entities(leaks, o->leak_min_entities);
        st->leak_entries = sa_leak_list_count(leaks);
        size_t pre = 0;
        s = sa_principles_shared_prefix(tok, t, o->prompts, o->mode, o->n_exemplars, &pre, err);
        st->prefix_tokens = (uint32_t)pre;
    }
    sa_answer_filter f = sa_answer_filter_default();
    f.need_marker = o->mode == SA_PRINCIPLES_ANSWER;
    f.leaks = leaks;
    f.refusals = o->refusals;
    f.n_refusals = o->n_refusals;
    f.refusal_max_words = o->refusal_max_words;
    f.min_words = o->min_words;
    char *jpath = o->journal_path ? sa_strdup(o->journal_path) : sa_stage_path_suffix(o->out_path, ".journal");
    char *rpath = o->rejected_path ? sa_strdup(o->rejected_path) : sa_stage_path_suffix(o->out_path, ".rejected.jsonl");
    char *spath = o->stats_path ? sa_strdup(o->stats_path) : sa_stage_stats_beside(o->out_path);
    pr_run r = {.o = o};
    if (!s && (!jpath || !rpath || !spath)) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_journal_opts jo = sa_journal_default_opts();
    jo.on_bad = on_bad_line;
    jo.ctx = o->progress;
    bool opened = false;
    if (!s) {
        s = sa_journal_open(&r.j, jpath, &jo, err);
        opened = !s;
    }
    if (!s) s = check_settings(jpath, t, o, sa_journal_count(&r.j) > 0, err);
    if (s && opened) sa_journal_close(&r.j, NULL);
    if (!s) {
        st->resumed = sa_journal_count(&r.j);
        double t0 = now_s();
        s = generate_all(e, tok, t, &r, st, err);
        st->gen_seconds = now_s() - t0;
        st->generated = r.generated;
        st->gen_tokens = r.tokens;
        st->prompt_tokens = r.prompt_tokens;
        st->cached_tokens = r.cached_tokens;
        st->answers_per_s = st->gen_seconds > 0 ? (double)r.generated / st->gen_seconds : 0;
        sa_err ce = {0};
        sa_status cs = sa_journal_close(&r.j, &ce);
        if (!s && cs) {
            s = cs;
            if (err) *err = ce;
        }
    }
    if (!s) s = write_finals(o, t, &f, jpath, rpath, spath, st, err);
    if (!s && o->progress) {
        fprintf(o->progress, "principles: %llu prompts (%llu resumed, %llu generated, %.2f answers/s), %llu accepted,",
                (unsigned long long)st->inputs, (unsigned long long)st->resumed, (unsigned long long)st->generated,
                st->answers_per_s, (unsigned long long)st->by_reason[0]);
        for (int i = 1; i < SA_ANS_REASON_COUNT; i++)
            fprintf(o->progress, " %llu %s", (unsigned long long)st->by_reason[i],
                    sa_answer_reason_name((sa_answer_reason)i));
        fprintf(o->progress, ", %llu bad input lines\n", (unsigned long long)st->bad_lines);
    }
    free(jpath);
    free(rpath);
    free(spath);
    sa_leak_list_free(leaks);
    sa_exemplars_free(&ex);
    return s;
}
