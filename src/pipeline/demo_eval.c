/* demo_eval.c — evaluating the demo's models (demo_world.h, demo_internal.h).
 *
 * Each model answers every item of world/eval.jsonl greedily (the local
 * engine, 64 new tokens at most, the model's chat template with the given
 * system message) and the world's checker scores each answer. Per split
 * ("heldout", "seen") the results are written where the run report reads
 * them (eval.h's file layout, kind "task"): OUT/eval/<split>-<model>.json
 * with accuracy = the checker's PASS rate and its percentile-bootstrap 95%
 * interval (sa_bootstrap_ci), the measured chance level, form and content
 * means, and the generation throughput; OUT/eval/<split>-<model>.items.jsonl
 * with every answer and its three scores. Then sa_eval_nll scores each
 * split's reference answers under the model (kind "nll":
 * OUT/eval/nll-<split>-<model>.json and its items). Optionally
 * sa_eval_pairwise compares two models with a judge in both orders
 * (logits mode). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/eval.h"
#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/model.h"
#include "sa/tokenizer.h"

#include "demo_internal.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- eval items ---- */

void sa_demo_items_free(sa_demo_items *it) {
    for (size_t i = 0; i < it->n; i++) free(it->v[i].id), free(it->v[i].prompt), free(it->v[i].answer);
    free(it->v);
    memset(it, 0, sizeof *it);
}

sa_status sa_demo_items_load(const char *file, sa_demo_items *out, sa_err *err) {
    memset(out, 0, sizeof *out);
    sa_strbuf b = {0};
    sa_status s = sa_file_read_strbuf(file, &b, err);
    size_t cap = 0;
    for (size_t i = 0, ln = 1; !s && i < b.len; ln++) {
        const char *nl = memchr(b.buf + i, '\n', b.len - i);
        size_t e = nl ? (size_t)(nl - b.buf) : b.len;
        json_t *j = NULL;
        s = sa_json_parse(b.buf + i, e - i, file, &j, err);
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *pr = json_string_value(json_object_get(j, "prompt"));
        const char *an = json_string_value(json_object_get(j, "answer"));
        const char *sp = json_string_value(json_object_get(j, "split"));
        sa_demo_task t;
        if (!s && (!id || !pr || !an || !sp || !sa_demo_task_parse(pr, &t)))
            s = sa_err_set(err, SA_ERR_FORMAT, "%s:%zu: not a demo eval item", file, ln);
        if (!s && out->n == cap) {
            cap = cap ? cap * 2 : 64;
            sa_demo_item *nv = realloc(out->v, cap * sizeof *nv);
            if (!nv) s = sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
            else out->v = nv;
        }
        if (!s) {
            sa_demo_item *x = &out->v[out->n++];
            x->task = t, x->heldout = strcmp(sp, "heldout") == 0;
            x->id = sa_strdup(id), x->prompt = sa_strdup(pr), x->answer = sa_strdup(an);
            if (!x->id || !x->prompt || !x->answer) s = sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
        }
        json_decref(j);
        i = e + 1;
    }
    sa_strbuf_free(&b);
    if (s) sa_demo_items_free(out);
    return s;
}

/* The items of one split as an eval set (prompt, reference = the answer
 * that passes, accepted answer = the same text), for sa_eval_nll and
 * sa_eval_pairwise. */
static sa_status split_set(const sa_demo_items *it, bool heldout, const char *name, sa_eval_set *set, sa_err *err) {
    memset(set, 0, sizeof *set);
    set->items = sa_calloc(it->n ? it->n : 1, sizeof *set->items);
    set->path = sa_strdup(name);
    set->format = SA_EVAL_FORMAT_TASK;
    if (!set->items || !set->path) return sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    for (size_t i = 0; i < it->n; i++) {
        if (it->v[i].heldout != heldout) continue;
        sa_eval_item *x = &set->items[set->n++];
        x->id = sa_strdup(it->v[i].id);
        x->prompt = sa_strdup(it->v[i].prompt);
        x->reference = sa_strdup(it->v[i].answer);
        x->answers = sa_calloc(1, sizeof *x->answers);
        if (x->answers) x->answers[0] = sa_strdup(it->v[i].answer), x->n_answers = 1;
        x->line = i + 1;
        if (!x->id || !x->prompt || !x->reference || !x->answers || !x->answers[0])
            return sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    }
    set->n_reference = set->n_answers = set->n;
    return SA_OK;
}

/* ---- one model ---- */

typedef struct loaded {
    sa_model *m;
    sa_tokenizer *tok;
    sa_engine *e;
    sa_chat_template tmpl;
} loaded;

static void unload(loaded *l) {
    sa_engine_free(l->e);
    sa_tokenizer_free(l->tok);
    sa_model_free(l->m);
    memset(l, 0, sizeof *l);
}

static sa_status load(const char *dir, int threads, loaded *l, sa_err *err) {
    memset(l, 0, sizeof *l);
    bool fell_back = false;
    sa_status s = sa_model_load(&l->m, dir, err);
    if (!s) s = sa_tokenizer_load(&l->tok, dir, err);
    if (!s) s = sa_chat_template_resolve(l->tok, NULL, &l->tmpl, &fell_back, err);
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = 16;
    eo.n_threads = threads;
    if (!s) s = sa_engine_local_new(&l->e, l->m, l->tok, &eo, err);
    if (s) unload(l);
    return s;
}

sa_status demo_collect_text(void *ctx, const sa_gen_result *res) {
    char **out = ctx;
    free(out[res->id]);
    out[res->id] = strndup(res->text ? res->text : "", res->text_len);
    return out[res->id] ? SA_OK : SA_ERR_NOMEM;
}

/* Greedy answers of l to every item into outs[i]. */
static sa_status answer_all(const loaded *l, const char *system, const sa_demo_items *it, uint64_t seed, char **outs,
                            sa_err *err) {
    sa_tokens *ids = sa_calloc(it->n ? it->n : 1, sizeof *ids);
    sa_gen_request *rq = sa_calloc(it->n ? it->n : 1, sizeof *rq);
    sa_status s = ids && rq ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    for (size_t i = 0; i < it->n && !s; i++) {
        sa_chat_msg msgs[2] = {{SA_CHAT_ROLE_SYSTEM, system}, {SA_CHAT_ROLE_USER, it->v[i].prompt}};
        size_t off = system ? 0 : 1;
        s = sa_chat_encode(l->tok, &l->tmpl, msgs + off, 2 - off, true, &ids[i], NULL, err);
        rq[i] = sa_gen_request_default();
        rq[i].id = i;
        rq[i].prompt_tokens = ids[i].ids;
        rq[i].n_prompt_tokens = (int32_t)ids[i].n;
        rq[i].max_tokens = 64;
        rq[i].sampling = sa_sampling_greedy();
        rq[i].seed = seed;
    }
    if (!s) s = sa_engine_generate(l->e, rq, it->n, demo_collect_text, outs, err);
    for (size_t i = 0; i < it->n && ids; i++) sa_tokens_free(&ids[i]);
    free(ids);
    free(rq);
    return s;
}

static sa_status eval_path(const char *out_dir, const char *prefix, const char *split, const char *model,
                           const char *ext, sa_strbuf *p) {
    sa_strbuf_reset(p);
    sa_status s = sa_path_join(p, out_dir, "eval/");
    if (!s) s = sa_strbuf_appendf(p, "%s%s-%s%s", prefix, split, model, ext);
    return s;
}

/* The task summary and items of one split. */
static sa_status write_split(const sa_demo_eval_spec *m, const sa_demo_items *it, char **outs, bool heldout,
                             double chance, double seconds, uint64_t seed, sa_demo_split_score *d, double *lo,
                             double *hi, sa_err *err) {
    const char *split = heldout ? "heldout" : "seen";
    double *v = sa_calloc(it->n ? it->n : 1, sizeof *v);
    sa_strbuf lines = {0}, p = {0};
    sa_status s = v ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < it->n && !s; i++) {
        if (it->v[i].heldout != heldout) continue;
        const char *a = outs[i] ? outs[i] : "";
        sa_demo_score sc;
        sa_demo_check(&it->v[i].task, a, strlen(a), &sc);
        v[d->n++] = sc.pass;
        d->pass += sc.pass, d->form += sc.form, d->content += sc.content;
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:f}", "id", it->v[i].id, "prompt", it->v[i].prompt,
                              "answer", it->v[i].answer, "output", a, "pass", sc.pass, "form", sc.form, "content",
                              sc.content);
        s = j ? sa_json_dump_line(j, &lines, err) : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
        json_decref(j);
    }
    *lo = *hi = NAN;
    if (!s && d->n) {
        double n = (double)d->n;
        s = sa_bootstrap_ci(v, (size_t)d->n, 1000, seed, 0.05, lo, hi, err);
        d->pass /= n, d->form /= n, d->content /= n;
    }
    if (!s) s = eval_path(m->out_dir, "", split, m->name, ".items.jsonl", &p);
    if (!s) s = sa_file_write_atomic(sa_strbuf_cstr(&p), lines.buf ? lines.buf : "", lines.len, err);
    json_t *j = NULL;
    if (!s) {
        char set[64];
        snprintf(set, sizeof set, "%s genres (world/eval.jsonl)", heldout ? "held-out" : "seen");
        j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:[f,f], s:f, s:f, s:f, s:s, s:f, s:f, s:I, s:i, s:i, s:I, s:I}",
                      "kind", "task", "model", m->label, "set", set, "n", (json_int_t)d->n, "correct",
                      (json_int_t)llround(d->pass * (double)d->n), "accuracy", d->pass, "ci", *lo, *hi, "chance",
                      chance, "form", d->form, "content", d->content, "checker",
                      "pass: the answer is exactly the genre form with the instruction's words (sa_demo_check)",
                      "seconds", seconds, "prompts_per_s", seconds > 0 ? (double)it->n / seconds : 0.0, "resamples",
                      (json_int_t)1000, "max_tokens", 64, "errors", 0, "bad_lines", (json_int_t)0, "seed",
                      (json_int_t)seed);
        if (!j) s = sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    }
    if (!s) s = eval_path(m->out_dir, "", split, m->name, ".json", &p);
    if (!s) s = sa_json_write_pretty(sa_strbuf_cstr(&p), j, err);
    json_decref(j);
    sa_strbuf_free(&lines);
    sa_strbuf_free(&p);
    free(v);
    return s;
}

sa_status sa_demo_eval_model(const sa_demo_eval_spec *m, const sa_demo_items *it, const sa_demo_chance *chance,
                             sa_demo_eval_result *res, sa_err *err) {
    memset(res, 0, sizeof *res);
    res->nll_heldout = res->nll_seen = NAN;
    loaded l;
    char **outs = sa_calloc(it->n ? it->n : 1, sizeof *outs);
    sa_status s = outs ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    if (!s) s = load(m->model_dir, m->threads, &l, err);
    if (s) {
        free(outs);
        return s;
    }
    double t0 = now_s();
    s = answer_all(&l, m->system, it, m->seed, outs, err);
    double gen_s = now_s() - t0;
    res->answer_prompts_per_s = gen_s > 0 ? (double)it->n / gen_s : 0;
    if (!s)
        s = write_split(m, it, outs, true, chance[0].pass, gen_s, m->seed, &res->heldout, &res->heldout_lo,
                        &res->heldout_hi, err);
    if (!s)
        s = write_split(m, it, outs, false, chance[1].pass, gen_s, m->seed, &res->seen, &res->seen_lo, &res->seen_hi,
                        err);
    /* the reference answers' likelihood under the model */
    double nll_s = 0;
    size_t nll_n = 0;
    for (int k = 0; k < 2 && !s; k++) {
        sa_eval_set set;
        sa_strbuf p = {0};
        const char *split = k == 0 ? "heldout" : "seen";
        s = split_set(it, k == 0, k == 0 ? "held-out genres (world/eval.jsonl)" : "seen genres (world/eval.jsonl)",
                      &set, err);
        if (!s && set.n == 0) {
            sa_eval_set_free(&set);
            continue;
        }
        if (!s) s = eval_path(m->out_dir, "nll-", split, m->name, ".json", &p);
        sa_eval_opts eo = sa_eval_default_opts();
        eo.out = sa_strbuf_cstr(&p);
        eo.system = m->system;
        eo.tmpl_a = &l.tmpl;
        eo.model_name = m->label;
        eo.seed = m->seed;
        sa_eval_nll_result nr;
        if (!s) s = sa_eval_nll(l.e, &set, &eo, &nr, err);
        if (!s) {
            *(k == 0 ? &res->nll_heldout : &res->nll_seen) = nr.mean_nll;
            nll_s += nr.seconds, nll_n += set.n;
        }
        sa_eval_set_free(&set);
        sa_strbuf_free(&p);
    }
    res->nll_prompts_per_s = nll_s > 0 ? (double)nll_n / nll_s : 0;
    for (size_t i = 0; i < it->n; i++) free(outs[i]);
    free(outs);
    unload(&l);
    return s;
}

sa_status sa_demo_eval_pairwise(const sa_demo_eval_spec *a, const sa_demo_eval_spec *b, const sa_prompts *prompts,
                                const sa_demo_items *it, sa_eval_pairwise_result *res, sa_err *err) {
    loaded la, lb;
    memset(&lb, 0, sizeof lb);
    sa_status s = load(a->model_dir, a->threads, &la, err);
    if (s) return s;
    s = load(b->model_dir, b->threads, &lb, err);
    sa_eval_set set;
    memset(&set, 0, sizeof set);
    if (!s) s = split_set(it, true, "held-out genres (world/eval.jsonl)", &set, err);
    sa_strbuf p = {0}, stem = {0};
    if (!s) s = sa_strbuf_appendf(&stem, "%s-%s", a->name, b->name);
    if (!s) s = eval_path(a->out_dir, "pairwise-", "heldout", sa_strbuf_cstr(&stem), ".json", &p);
    sa_eval_opts eo = sa_eval_default_opts();
    eo.out = sa_strbuf_cstr(&p);
    eo.judge_mode = SA_JUDGE_LOGITS;
    eo.max_tokens = 64;
    eo.system = a->system;
    eo.prompts = prompts;
    eo.tmpl_a = &la.tmpl, eo.tmpl_b = &lb.tmpl, eo.tmpl_judge = &la.tmpl;
    eo.a_name = a->label, eo.b_name = b->label, eo.judge_name = a->label;
    eo.seed = a->seed;
    if (!s) s = sa_eval_pairwise(la.e, lb.e, la.e, &set, &eo, res, err);
    sa_eval_set_free(&set);
    sa_strbuf_free(&p);
    sa_strbuf_free(&stem);
    unload(&lb);
    unload(&la);
    return s;
}
