/* humpback.c — the instruction-backtranslation loop over a run directory
 * (humpback.h). Each stage is one call into its module; this file decides
 * the order, the paths, the resumption and the accounting. */
#include "sa/humpback.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/backtranslate.h"
#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/log.h"
#include "sa/model.h"
#include "sa/prompts.h"
#include "sa/run.h"
#include "sa/signal.h"
#include "sa/tokenizer.h"

#include "loop.h"

sa_humpback_opts sa_humpback_defaults(void) {
    sa_humpback_opts o;
    memset(&o, 0, sizeof o);
    o.iterations = 2;
    o.mode = SA_CURATE_LOGITS;
    o.min_score = NAN;
    sa_corpus_default_opts(&o.corpus_opts);
    o.bt_max_tokens = 128;
    o.bt_temperature = 0.7f;
    o.bt_top_p = 0.9f;
    o.max_instruction_chars = 1000;
    o.curate_max_tokens = 256;
    o.curate_temperature = 0;
    o.train = sa_train_defaults();
    o.seed = 1;
    o.gen_batch = 8;
    o.prefix_cache = true;
    o.export_format = SA_RECORD_FORMAT_AUTO;
    return o;
}

double sa_humpback_min_score(const sa_humpback_opts *o) {
    if (!isnan(o->min_score)) return o->min_score;
    switch (o->mode) {
    case SA_CURATE_LOGITS: return 4.5;
    case SA_CURATE_PMI: return 0.0;
    default: return 5.0;
    }
}

void sa_humpback_stages_free(char **stages, size_t n) {
    if (!stages) return;
    for (size_t i = 0; i < n; i++) free(stages[i]);
    free(stages);
}

sa_status sa_humpback_stages(int32_t iterations, bool control, char ***out, size_t *n, sa_err *err) {
    *out = NULL;
    *n = 0;
    if (iterations < 0 || iterations > 1000)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "humpback: iterations must be in 0..1000, not %d", iterations);
    size_t cnt = 4 + 2 * (size_t)iterations + (control ? 1 : 0);
    char **s = calloc(cnt, sizeof *s);
    if (!s) return sa_err_set(err, SA_ERR_NOMEM, "humpback: out of memory");
    const char *fixed[] = {"corpus", "backward", "augment", "m0"};
    bool ok = true;
    for (size_t i = 0; i < 4; i++) ok = ok && (s[i] = strdup(fixed[i]));
    for (int32_t t = 1; t <= iterations && ok; t++) {
        char buf[32];
        snprintf(buf, sizeof buf, "curate-%d", t);
        ok = (s[4 + 2 * (t - 1)] = strdup(buf)) != NULL;
        snprintf(buf, sizeof buf, "m%d", t);
        ok = ok && (s[5 + 2 * (t - 1)] = strdup(buf)) != NULL;
    }
    if (ok && control) ok = (s[cnt - 1] = strdup("control")) != NULL;
    if (!ok) {
        sa_humpback_stages_free(s, cnt);
        return sa_err_set(err, SA_ERR_NOMEM, "humpback: out of memory");
    }
    *out = s;
    *n = cnt;
    return SA_OK;
}

/* ---- the resolved configuration recorded in the manifest ---- */

static json_t *train_config(const sa_train_opts *t) {
    static const char *const lr_names[] = {"constant", "linear", "cosine"};
    json_t *j = json_object();
    json_object_set_new(j, "lora_rank", json_integer(t->lora.rank));
    if (t->lora.rank > 0) {
        json_object_set_new(j, "lora_alpha", json_real(t->lora.alpha > 0 ? t->lora.alpha : 2.0 * t->lora.rank));
        json_object_set_new(j, "lora_dropout", json_real(t->lora.dropout));
        json_object_set_new(j, "lora_targets", json_integer(t->lora.targets));
    }
    json_object_set_new(j, "dropout", json_real(t->dropout));
    json_object_set_new(j, "epochs", json_integer(t->epochs));
    json_object_set_new(j, "steps", json_integer(t->steps));
    json_object_set_new(j, "batch", json_integer(t->batch));
    json_object_set_new(j, "grad_accum", json_integer(t->grad_accum));
    json_object_set_new(j, "seq_len", json_integer(t->seq_len));
    json_object_set_new(j, "truncate", json_string(t->trunc == SA_SFT_TRUNC_RIGHT ? "right" : "skip"));
    json_object_set_new(j, "bucket", json_boolean(t->bucket));
    json_object_set_new(j, "eval_frac", json_real(t->eval_frac));
    json_object_set_new(j, "schedule", json_string(lr_names[t->sched.type <= SA_LR_COSINE ? t->sched.type : 0]));
    json_object_set_new(j, "lr", json_real(t->sched.lr));
    json_object_set_new(j, "lr_final", json_real(t->sched.lr_final));
    json_object_set_new(j, "warmup", json_integer(t->sched.warmup));
    json_object_set_new(j, "weight_decay", json_real(t->adamw.weight_decay));
    json_object_set_new(j, "beta1", json_real(t->adamw.beta1));
    json_object_set_new(j, "beta2", json_real(t->adamw.beta2));
    json_object_set_new(j, "eps", json_real(t->adamw.eps));
    json_object_set_new(j, "clip", json_real(t->clip));
    json_object_set_new(j, "fail_on_bad", json_boolean(t->fail_on_bad));
    json_object_set_new(j, "export_dtype", json_string(sa_dtype_name(t->export_dtype)));
    json_object_set_new(j, "gguf", json_boolean(t->export_gguf));
    return j;
}

static json_t *build_config(const sa_humpback_opts *o, double min_score) {
    json_t *c = json_object();
    json_object_set_new(c, "base", json_string(o->base));
    json_object_set_new(c, "tokenizer", o->tokenizer ? json_string(o->tokenizer) : json_null());
    json_object_set_new(c, "template", o->template_name ? json_string(o->template_name) : json_null());
    json_object_set_new(c, "seed_data", json_string(o->seed_path));
    json_t *cp = json_array();
    for (size_t i = 0; i < o->n_corpus; i++) json_array_append_new(cp, json_string(o->corpus[i]));
    json_object_set_new(c, "corpus", cp);
    json_object_set_new(c, "prompts", o->prompts_dir ? json_string(o->prompts_dir) : json_null());
    json_object_set_new(c, "iterations", json_integer(o->iterations));
    json_object_set_new(c, "control", json_boolean(o->control));
    json_object_set_new(c, "seed", json_integer((json_int_t)o->seed));
    const sa_corpus_opts *co = &o->corpus_opts;
    json_object_set_new(
        c, "corpus_filters",
        json_pack("{s:i, s:i, s:f, s:i, s:f, s:f, s:b, s:b, s:i, s:i, s:i, s:f}", "min_chars", (json_int_t)co->min_chars,
                  "max_chars", (json_int_t)co->max_chars, "min_letter_ratio", co->min_letter_ratio, "rep_ngram",
                  (json_int_t)co->rep_ngram, "rep_threshold", co->rep_threshold, "rep_min_frac", co->rep_min_frac,
                  "exact_dedup", co->exact_dedup, "near_dedup", co->near_dedup, "minhash_perm",
                  (json_int_t)co->minhash.num_perm, "minhash_bands", (json_int_t)co->minhash.bands, "minhash_shingle",
                  (json_int_t)co->minhash.shingle, "minhash_threshold", co->minhash.threshold));
    json_object_set_new(c, "backtranslate",
                        json_pack("{s:i, s:f, s:f, s:i}", "max_tokens", (json_int_t)o->bt_max_tokens, "temperature",
                                  (double)o->bt_temperature, "top_p", (double)o->bt_top_p, "max_instruction_chars",
                                  (json_int_t)o->max_instruction_chars));
    json_object_set_new(c, "curate",
                        json_pack("{s:s, s:f, s:i, s:f}", "mode", sa_curate_mode_name(o->mode), "min_score", min_score,
                                  "max_tokens", (json_int_t)o->curate_max_tokens, "temperature",
                                  (double)o->curate_temperature));
    json_object_set_new(c, "train", train_config(&o->train));
    /* only when set: runs made before the option existed resume unchanged */
    if (o->model_steps > 0) json_object_set_new(c, "model_steps", json_integer((json_int_t)o->model_steps));
    json_object_set_new(c, "export_format", o->export_format == SA_RECORD_FORMAT_AUTO
                                                ? json_null()
                                                : json_string(sa_record_format_name(o->export_format)));
    return c;
}

/* ---- the loop ---- */

typedef struct hb {
    const sa_humpback_opts *o;
    sa_loop L;
    double min_score;
} hb;

static void warn_line(void *ctx, const char *msg) {
    hb *h = ctx;
    SA_LOG_WARN(&h->L.log, "%s", msg);
}

static sa_status do_corpus(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    hb *h = ctx;
    (void)name;
    sa_status s = sa_mkdir_p(sa_loop_path(l, 0, "corpus"), 0777, err);
    if (s) return s;
    sa_corpus_opts co = h->o->corpus_opts;
    co.minhash.seed = h->o->seed;
    sa_corpus *c = NULL;
    s = sa_corpus_init(&c, &co, err);
    if (s) return s;
    sa_corpus_set_warn(c, warn_line, h);
    for (size_t i = 0; i < h->o->n_corpus && !s; i++) s = sa_corpus_add_path(c, h->o->corpus[i], err);
    if (!s)
        s = sa_corpus_write(c, sa_loop_path(l, 0, "corpus/segments.jsonl"), sa_loop_path(l, 1, "corpus/rejected.jsonl"),
                            sa_loop_path(l, 2, "corpus/stats.json"), err);
    if (!s) {
        sa_strbuf line = {0};
        s = sa_corpus_stats_json(c, &line, err);
        if (!s) s = sa_json_parse(line.buf, line.len, "corpus stats", summary, err);
        sa_strbuf_free(&line);
        const sa_corpus_stats *st = sa_corpus_get_stats(c);
        SA_LOG_INFO(&l->log, "corpus: %llu documents -> %llu segments, %llu kept", (unsigned long long)st->documents,
                    (unsigned long long)st->segments, (unsigned long long)st->kept);
        if (!s && st->kept == 0)
            s = sa_err_set(err, SA_ERR_INVALID_ARG,
                           "corpus: no segment passed the filters (see %s); check --corpus and the length bounds",
                           sa_loop_path(l, 1, "corpus/rejected.jsonl"));
    }
    sa_corpus_free(c);
    return s;
}

static sa_status do_augment(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    hb *h = ctx;
    (void)name;
    sa_status s = sa_mkdir_p(sa_loop_path(l, 0, "augment"), 0777, err);
    if (s) return s;
    sa_model *m;
    sa_engine *e;
    if ((s = sa_loop_engine(l, "backward", &m, &e, err))) return s;
    sa_bt_opts bo = sa_bt_default_opts();
    bo.in_path = sa_loop_path(l, 0, "corpus/segments.jsonl");
    bo.out_path = sa_loop_path(l, 1, "augment/candidates.jsonl");
    bo.stats_path = sa_loop_path(l, 2, "augment/stats.json");
    bo.model_name = "backward/model"; /* run-relative: outputs do not depend on where the run lives */
    bo.max_instruction_chars = h->o->max_instruction_chars;
    bo.max_tokens = h->o->bt_max_tokens;
    bo.temperature = h->o->bt_temperature;
    bo.top_p = h->o->bt_top_p;
    bo.seed = h->o->seed;
    bo.dist = l->dist;
    bo.chunk = (uint32_t)(l->gen_batch * 8 < 64 ? 64 : l->gen_batch * 8);
    bo.progress = l->quiet ? NULL : (l->out ? l->out : stderr);
    sa_bt_stats st;
    memset(&st, 0, sizeof st);
    s = sa_bt_run(e, l->tok, &l->tmpl, &bo, &st, err);
    if (!s) {
        json_t *rej = json_object();
        uint64_t nrej = 0;
        for (int r = 1; r < SA_BT_REASON_COUNT; r++) {
            json_object_set_new(rej, sa_bt_reason_name((sa_bt_reason)r), json_integer((json_int_t)st.by_reason[r]));
            nrej += st.by_reason[r];
        }
        *summary = json_pack("{s:I, s:I, s:I, s:I, s:o}", "segments", (json_int_t)st.segments, "bad_lines",
                             (json_int_t)st.bad_lines, "accepted", (json_int_t)st.by_reason[SA_BT_ACCEPTED],
                             "rejected", (json_int_t)nrej, "rejected_by_reason", rej);
        SA_LOG_INFO(&l->log, "augment: %llu segments -> %llu candidates, %llu rejected",
                    (unsigned long long)st.segments, (unsigned long long)st.by_reason[SA_BT_ACCEPTED],
                    (unsigned long long)nrej);
    }
    sa_engine_free(e);
    sa_model_free(m);
    return s;
}

static void on_bad_record(void *ctx, const char *path, uint64_t line, const char *reason) {
    hb *h = ctx;
    SA_LOG_WARN(&h->L.log, "%s:%llu: %s (skipped)", path, (unsigned long long)line, reason);
}

/* Write RUN/<dir>/selected.<fmt>.jsonl from selected.jsonl. */
static sa_status export_selected(hb *h, const char *dir, sa_err *err) {
    sa_strbuf in = {0}, outp = {0}, body = {0};
    sa_status s = SA_OK;
    if (sa_run_path(h->L.run, dir, &in) || sa_run_path(h->L.run, dir, &outp) ||
        sa_strbuf_puts(&in, "/selected.jsonl") ||
        sa_strbuf_appendf(&outp, "/selected.%s.jsonl", sa_record_format_name(h->o->export_format)))
        s = sa_err_set(err, SA_ERR_NOMEM, "humpback: out of memory");
    sa_record_reader rd;
    sa_record_reader_opts ro = {.format = SA_RECORD_FORMAT_OURS, .policy = SA_JSONL_FAIL};
    bool open = false;
    if (!s) s = sa_record_reader_open(&rd, sa_strbuf_cstr(&in), &ro, err);
    open = !s;
    sa_record rec;
    sa_record_init(&rec);
    while (!s) {
        s = sa_record_reader_next(&rd, &rec, err);
        if (s == SA_ERR_EOF) {
            s = SA_OK;
            break;
        }
        json_t *j = NULL;
        if (!s) s = sa_record_export(&rec, h->o->export_format, &j, err);
        if (!s) s = sa_json_dump_line(j, &body, err);
        json_decref(j);
    }
    sa_record_free(&rec);
    if (open) sa_record_reader_close(&rd);
    if (!s) s = sa_file_write_atomic(sa_strbuf_cstr(&outp), body.buf ? body.buf : "", body.len, err);
    sa_strbuf_free(&in);
    sa_strbuf_free(&outp);
    sa_strbuf_free(&body);
    return s;
}

/* "curate-t": every candidate rated by M_{t-1} into RUN/curate-t. */
static sa_status do_curate(sa_loop *l, void *ctx, const char *dir, json_t **summary, sa_err *err) {
    hb *h = ctx;
    char rater[32];
    snprintf(rater, sizeof rater, "m%d", atoi(dir + strlen("curate-")) - 1);
    sa_status s = sa_mkdir_p(sa_loop_path(l, 0, dir), 0777, err);
    if (s) return s;
    sa_model *m;
    sa_engine *e;
    if ((s = sa_loop_engine(l, rater, &m, &e, err))) return s;
    sa_curate_opts co = sa_curate_default_opts();
    co.mode = h->o->mode;
    co.min_score = h->min_score;
    co.max_tokens = h->o->curate_max_tokens;
    co.temperature = h->o->curate_temperature;
    co.seed = h->o->seed;
    co.chunk = (l->gen_batch > 0 ? l->gen_batch : 8) * 4;
    co.prompts = l->prompts;
    co.tmpl = &l->tmpl;
    char model_name[64];
    snprintf(model_name, sizeof model_name, "%s/model", rater);
    co.model_name = model_name;
    co.dist = l->dist;
    co.on_bad = on_bad_record;
    co.ctx = h;
    sa_curator *c = NULL;
    s = sa_curator_new(&c, e, &co, err);
    sa_curate_stats st;
    memset(&st, 0, sizeof st);
    if (!s) {
        char scored[64], selected[64];
        snprintf(scored, sizeof scored, "%s/scored.jsonl", dir);
        snprintf(selected, sizeof selected, "%s/selected.jsonl", dir);
        s = sa_curate_file(c, sa_loop_path(l, 0, "augment/candidates.jsonl"), sa_loop_path(l, 1, scored),
                           sa_loop_path(l, 2, selected), &st, err);
    }
    if (!s && h->o->export_format != SA_RECORD_FORMAT_AUTO && sa_loop_root(l)) s = export_selected(h, dir, err);
    if (!s) {
        uint64_t below = st.scored >= st.selected ? st.scored - st.selected : 0;
        json_t *hist = json_array();
        for (int i = 0; i < 5; i++) json_array_append_new(hist, json_integer((json_int_t)st.hist[i]));
        *summary = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:o, s:I}", "candidates",
                             (json_int_t)st.records, "scored", (json_int_t)st.scored, "selected",
                             (json_int_t)st.selected, "below_threshold", (json_int_t)below, "unparsable",
                             (json_int_t)st.unparsable, "errors", (json_int_t)st.errors, "output_cut",
                             (json_int_t)st.cut, "mode", sa_curate_mode_name(h->o->mode), "rater", model_name,
                             "min_score", h->min_score, "hist", hist, "bad_input", (json_int_t)st.bad_input);
        SA_LOG_INFO(&l->log, "%s: %llu candidates rated by %s: %llu selected (score >= %g), %llu below, %llu unparsable, "
                             "%llu errors; %llu rated on an output cut to fit the context",
                    dir, (unsigned long long)st.records, model_name, (unsigned long long)st.selected, h->min_score,
                    (unsigned long long)below, (unsigned long long)st.unparsable, (unsigned long long)st.errors,
                    (unsigned long long)st.cut);
    }
    sa_curator_free(c);
    sa_engine_free(e);
    sa_model_free(m);
    return s;
}

static sa_status do_backward(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    hb *h = ctx;
    const char *data[] = {h->o->seed_path};
    /* the backward model learns p(x|y): no system sentence */
    return sa_loop_train(l, &h->o->train, name, data, 1, true, NULL, 0, summary, err);
}

/* The training options of M1..Mn and the control: model_steps when set. */
static sa_train_opts model_train(const sa_humpback_opts *o) {
    sa_train_opts t = o->train;
    if (o->model_steps > 0) t.steps = o->model_steps;
    return t;
}

/* "m<t>": t == 0 trains on the seed; t > 0 on seed + curate-t/selected.jsonl.
 * Seed records carry the seed tag, augmented ones the augmented tag. */
static sa_status do_model(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    hb *h = ctx;
    int t = atoi(name + 1);
    sa_sft_tag tags[2] = {{"seed", sa_prompts_get(l->prompts, "tag_seed")},
                          {"augmented", sa_prompts_get(l->prompts, "tag_augmented")}};
    if (t == 0) {
        const char *data[] = {h->o->seed_path};
        return sa_loop_train(l, &h->o->train, name, data, 1, false, tags, 2, summary, err);
    }
    char rel[64];
    snprintf(rel, sizeof rel, "curate-%d", t);
    const json_t *cs = l->run ? sa_run_stage_summary(l->run, rel) : NULL; /* rank 0 logs and records it */
    json_int_t nsel = cs ? json_integer_value(json_object_get(cs, "selected")) : -1;
    if (nsel == 0)
        SA_LOG_WARN(&l->log, "curation selected no candidate at iteration %d: %s is trained on the seed alone", t, name);
    snprintf(rel, sizeof rel, "curate-%d/selected.jsonl", t);
    const char *data[] = {h->o->seed_path, sa_loop_path(l, 0, rel)};
    sa_train_opts tr = model_train(h->o);
    sa_status s = sa_loop_train(l, &tr, name, data, 2, false, tags, 2, summary, err);
    if (!s && *summary) json_object_set_new(*summary, "augmented_selected", json_integer(nsel));
    return s;
}

/* "control": seed + every candidate, no curation (the comparison the paper
 * makes to show that curation matters). */
static sa_status do_control(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    hb *h = ctx;
    sa_sft_tag tags[2] = {{"seed", sa_prompts_get(l->prompts, "tag_seed")},
                          {"augmented", sa_prompts_get(l->prompts, "tag_augmented")}};
    const char *data[] = {h->o->seed_path, sa_loop_path(l, 0, "augment/candidates.jsonl")};
    sa_train_opts tr = model_train(h->o);
    return sa_loop_train(l, &tr, name, data, 2, false, tags, 2, summary, err);
}

static sa_status check_opts(const sa_humpback_opts *o, sa_err *err) {
    if (!o->run_dir || !o->base || !o->seed_path || !o->corpus || o->n_corpus == 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "humpback: a run directory, a base model, seed data and corpus paths are required");
    if (o->mode < 0 || o->mode >= SA_CURATE_MODE_COUNT)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "humpback: unknown curation mode %d", (int)o->mode);
    if (o->model_steps < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "humpback: model steps %lld < 0", (long long)o->model_steps);
    if (!sa_path_exists(o->seed_path)) return sa_err_set(err, SA_ERR_NOT_FOUND, "%s: seed data not found", o->seed_path);
    for (size_t i = 0; i < o->n_corpus; i++)
        if (!sa_path_exists(o->corpus[i]))
            return sa_err_set(err, SA_ERR_NOT_FOUND, "%s: corpus path not found", o->corpus[i]);
    return SA_OK;
}

sa_status sa_humpback_run(const sa_humpback_opts *o, sa_err *err) {
    sa_status s = check_opts(o, err);
    if (s) return s;
    hb h;
    memset(&h, 0, sizeof h);
    h.o = o;
    h.min_score = sa_humpback_min_score(o);
    sa_loop *l = &h.L;
    l->base = o->base, l->tokenizer_path = o->tokenizer, l->template_name = o->template_name;
    l->seed = o->seed, l->threads = o->threads, l->gen_batch = o->gen_batch;
    l->prefix_cache = o->prefix_cache, l->quiet = o->quiet, l->out = o->log, l->http = o->http, l->dist = o->dist;
    char **stages = NULL;
    size_t n_stages = 0;
    json_t *cfg = build_config(o, h.min_score);
    if (!cfg) return sa_err_set(err, SA_ERR_NOMEM, "humpback: out of memory");
    s = sa_humpback_stages(o->iterations, o->control, &stages, &n_stages, err);
    if (!s) s = sa_loop_open(l, o->run_dir, "humpback", "humpback", o->prompts_dir, cfg, stages, n_stages, err);
    json_decref(cfg);
    if (!s)
        SA_LOG_INFO(&l->log, "run %s: %zu stages, %d iterations, curation %s (selected: score >= %g), template %s",
                    o->run_dir, n_stages, o->iterations, sa_curate_mode_name(o->mode), h.min_score,
                    sa_chat_format_name(l->tmpl.format));
    for (size_t i = 0; i < n_stages && !s; i++) {
        const char *nm = stages[i];
        sa_loop_stage_fn fn = strcmp(nm, "corpus") == 0       ? do_corpus
                              : strcmp(nm, "backward") == 0    ? do_backward
                              : strcmp(nm, "augment") == 0     ? do_augment
                              : strncmp(nm, "curate-", 7) == 0 ? do_curate
                              : strcmp(nm, "control") == 0     ? do_control
                                                               : do_model;
        s = fn == do_corpus ? sa_loop_stage_root(l, nm, fn, &h, err) : sa_loop_stage(l, nm, fn, &h, err);
    }
    if (!s) SA_LOG_INFO(&l->log, "run %s complete: final model %s/m%d/model", o->run_dir, o->run_dir, o->iterations);
    sa_loop_finish(l, o->run_dir, !s);
    sa_humpback_stages_free(stages, n_stages);
    return s;
}
