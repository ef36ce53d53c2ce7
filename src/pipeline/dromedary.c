/* dromedary.c — the SELF-ALIGN loop over a run directory (dromedary.h):
 * self-instruct + red-teaming, principle-driven answers, engraving, verbose
 * cloning. Each stage is one call into its module; loop.c keeps the books. */
#include "sa/dromedary.h"

#include <stdlib.h>
#include <string.h>

#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/principles.h"
#include "sa/record.h"
#include "sa/selfinstruct.h"

#include "loop.h"

const char *const sa_dromedary_stages[5] = {"selfinstruct", "principles", "engrave", "clone-gen", "clone"};

sa_dromedary_opts sa_dromedary_defaults(void) {
    sa_dromedary_opts o;
    memset(&o, 0, sizeof o);
    o.seed_prompts = true;
    o.target = 200;
    o.stall_rounds = 50;
    o.k = 6;
    o.si_max_tokens = 256;
    o.answer_max_tokens = 512;
    o.temperature = 0.7f;
    o.top_p = 0.9f;
    o.min_words = 8;
    o.engrave = sa_train_defaults();
    o.clone = sa_train_defaults();
    o.seed = 1;
    o.gen_batch = 8;
    o.prefix_cache = true;
    return o;
}

typedef struct dr {
    const sa_dromedary_opts *o;
    sa_loop L;
} dr;

/* ---- config ---- */

static json_t *train_json(const sa_train_opts *t) {
    static const char *const lr_names[] = {"constant", "linear", "cosine"};
    return json_pack("{s:i, s:f, s:f, s:i, s:f, s:I, s:I, s:i, s:i, s:i, s:s, s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:s}",
                     "lora_rank", t->lora.rank, "lora_alpha", (double)t->lora.alpha, "lora_dropout",
                     (double)t->lora.dropout, "lora_targets", (int)t->lora.targets, "dropout", (double)t->dropout,
                     "epochs", (json_int_t)t->epochs, "steps", (json_int_t)t->steps, "batch", t->batch, "grad_accum",
                     t->grad_accum, "seq_len", t->seq_len, "schedule",
                     lr_names[t->sched.type <= SA_LR_COSINE ? t->sched.type : 0], "lr", (double)t->sched.lr,
                     "lr_final", (double)t->sched.lr_final, "warmup", (json_int_t)t->sched.warmup, "weight_decay",
                     (double)t->adamw.weight_decay, "beta2", (double)t->adamw.beta2, "clip", (double)t->clip,
                     "eval_frac", t->eval_frac, "truncate", t->trunc == SA_SFT_TRUNC_RIGHT ? "right" : "skip");
}

static json_t *build_config(const sa_dromedary_opts *o) {
    json_t *c = json_object();
    json_object_set_new(c, "base", json_string(o->base));
    json_object_set_new(c, "tokenizer", o->tokenizer ? json_string(o->tokenizer) : json_null());
    json_object_set_new(c, "template", o->template_name ? json_string(o->template_name) : json_null());
    json_object_set_new(c, "seed_tasks", json_string(o->seed_path));
    json_object_set_new(c, "red_team", o->redteam_path ? json_string(o->redteam_path) : json_null());
    json_object_set_new(c, "prompts", o->prompts_dir ? json_string(o->prompts_dir) : json_null());
    json_object_set_new(c, "seed_prompts", json_boolean(o->seed_prompts));
    json_object_set_new(c, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(c, "selfinstruct",
                        json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:i}", "target", (json_int_t)o->target,
                                  "max_rounds", (int)o->max_rounds, "stall_rounds", (int)o->stall_rounds, "k",
                                  (int)o->k, "topics_per_type", (int)o->topics_per_type, "questions_per_topic",
                                  (int)o->questions_per_topic, "max_tokens", o->si_max_tokens));
    json_t *leak = json_array();
    for (size_t i = 0; i < o->n_leak_words; i++) json_array_append_new(leak, json_string(o->leak_words[i]));
    json_object_set_new(c, "answers",
                        json_pack("{s:i, s:f, s:f, s:i, s:o}", "max_tokens", o->answer_max_tokens, "temperature",
                                  (double)o->temperature, "top_p", (double)o->top_p, "min_words", (int)o->min_words,
                                  "leak_words", leak));
    /* only when set, so that runs begun before the option still resume */
    if (o->n_exemplars > 0) json_object_set_new(json_object_get(c, "answers"), "exemplars", json_integer(o->n_exemplars));
    json_object_set_new(c, "engrave", train_json(&o->engrave));
    json_object_set_new(c, "clone", train_json(&o->clone));
    return c;
}

/* ---- stages ---- */

static void on_bad_line(void *ctx, const char *path, uint64_t line, const char *reason) {
    dr *d = ctx;
    SA_LOG_WARN(&d->L.log, "%s:%llu: %s (skipped)", path, (unsigned long long)line, reason);
}

static sa_status do_selfinstruct(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    dr *d = ctx;
    sa_status s = sa_mkdir_p(sa_loop_path(l, 0, name), 0777, err);
    if (s) return s;
    sa_model *m;
    sa_engine *e;
    if ((s = sa_loop_engine(l, NULL, &m, &e, err))) return s;
    sa_si_opts so = sa_si_default_opts();
    so.seed_path = d->o->seed_path;
    so.types_path = d->o->redteam_path;
    so.out_path = sa_loop_path(l, 0, "selfinstruct/prompts.jsonl");
    so.stats_path = sa_loop_path(l, 1, "selfinstruct/stats.json");
    so.prompts = l->prompts;
    so.model_name = "base";
    so.target = d->o->target;
    so.max_rounds = d->o->max_rounds;
    so.stall_rounds = d->o->stall_rounds;
    if (d->o->k) so.k = d->o->k;
    if (d->o->topics_per_type) so.topics_per_type = d->o->topics_per_type;
    if (d->o->questions_per_topic) so.questions_per_topic = d->o->questions_per_topic;
    so.max_tokens = d->o->si_max_tokens;
    so.temperature = d->o->temperature;
    so.top_p = d->o->top_p;
    so.seed = d->o->seed;
    so.progress = l->quiet ? NULL : (l->out ? l->out : stderr);
    sa_si_stats st;
    memset(&st, 0, sizeof st);
    s = sa_si_run(e, l->tok, &l->tmpl, &so, &st, err);
    if (!s) {
        json_t *rej = json_object();
        uint64_t nrej = 0;
        for (int r = 1; r < SA_SI_REASON_COUNT; r++) {
            json_object_set_new(rej, sa_si_reason_name((sa_si_reason)r), json_integer((json_int_t)st.by_reason[r]));
            nrej += st.by_reason[r];
        }
        *summary = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s}", "seeds", (json_int_t)st.seeds,
                             "types", (json_int_t)st.types, "rounds", (json_int_t)st.rounds, "requests",
                             (json_int_t)st.requests, "candidates", (json_int_t)st.generated, "accepted",
                             (json_int_t)st.by_reason[0], "accepted_red_team", (json_int_t)st.accepted_red_team,
                             "rejected", (json_int_t)nrej, "rejected_by_reason", rej, "stop_reason", st.stop_reason);
        SA_LOG_INFO(&l->log, "selfinstruct: %llu candidates -> %llu new prompts (%llu red-team), stopped: %s",
                    (unsigned long long)st.generated, (unsigned long long)st.by_reason[0],
                    (unsigned long long)st.accepted_red_team, st.stop_reason);
    }
    sa_engine_free(e);
    sa_model_free(m);
    return s;
}

/* principles/queries.jsonl: the seed instructions (source "seed") and the new
 * prompts, each {id, instruction, source}; rewritten identically on rerun. */
static sa_status write_queries(dr *d, const char *path, uint64_t *n_seed, uint64_t *n_new, sa_err *err) {
    sa_loop *l = &d->L;
    sa_strbuf body = {0};
    sa_status s = SA_OK;
    *n_seed = *n_new = 0;
    if (d->o->seed_prompts) {
        sa_si_seeds seeds;
        memset(&seeds, 0, sizeof seeds);
        s = sa_si_seeds_load(d->o->seed_path, false, on_bad_line, d, &seeds, err);
        for (size_t i = 0; i < seeds.n && !s; i++) {
            sa_record r;
            sa_record_init(&r);
            r.instruction = seeds.v[i];
            r.output = "";
            char id[17];
            sa_record_compute_id(&r, id);
            json_t *j = json_pack("{s:s, s:s, s:s}", "id", id, "instruction", seeds.v[i], "source", "seed");
            s = j ? sa_json_dump_line(j, &body, err) : sa_err_set(err, SA_ERR_NOMEM, "dromedary: out of memory");
            json_decref(j);
            (*n_seed)++;
        }
        sa_si_seeds_free(&seeds);
    }
    if (!s) {
        sa_strbuf gen = {0};
        s = sa_file_read_strbuf(sa_loop_path(l, 2, "selfinstruct/prompts.jsonl"), &gen, err);
        if (!s && gen.len) {
            s = sa_strbuf_append(&body, gen.buf, gen.len);
            for (size_t i = 0; i < gen.len; i++) *n_new += gen.buf[i] == '\n';
        }
        sa_strbuf_free(&gen);
    }
    if (!s && *n_seed + *n_new == 0)
        s = sa_err_set(err, SA_ERR_INVALID_ARG,
                       "principles: no query to answer: self-instruct accepted no prompt (see %s) and seed prompts "
                       "are off",
                       sa_loop_path(l, 2, "selfinstruct/prompts.jsonl.rejected.jsonl"));
    if (!s) s = sa_file_write_atomic(path, body.buf ? body.buf : "", body.len, err);
    sa_strbuf_free(&body);
    return s;
}

/* One principles-stage run (answer or verbose mode) from RUN/<model_dir>. */
static sa_status answers(dr *d, const char *dir, const char *model_dir, sa_principles_mode mode, json_t **summary,
                         sa_err *err) {
    sa_loop *l = &d->L;
    char rel[128];
    sa_status s = sa_mkdir_p(sa_loop_path(l, 0, dir), 0777, err);
    if (s) return s;
    sa_model *m;
    sa_engine *e;
    if ((s = sa_loop_engine(l, model_dir, &m, &e, err))) return s;
    sa_principles_opts po = sa_principles_default_opts();
    po.mode = mode;
    po.in_path = sa_loop_path(l, 0, "principles/queries.jsonl");
    snprintf(rel, sizeof rel, "%s/answers.jsonl", dir);
    po.out_path = sa_loop_path(l, 1, rel);
    snprintf(rel, sizeof rel, "%s/stats.json", dir);
    po.stats_path = sa_loop_path(l, 2, rel);
    po.model_name = model_dir ? model_dir : "base";
    po.prompts = l->prompts;
    po.leak_words = d->o->leak_words;
    po.n_leak_words = d->o->n_leak_words;
    po.min_words = d->o->min_words;
    po.max_tokens = d->o->answer_max_tokens;
    po.n_exemplars = d->o->n_exemplars;
    po.temperature = d->o->temperature;
    po.top_p = d->o->top_p;
    po.seed = d->o->seed;
    po.chunk = (uint32_t)(l->gen_batch * 8 < 64 ? 64 : l->gen_batch * 8);
    po.progress = l->quiet ? NULL : (l->out ? l->out : stderr);
    sa_principles_stats st;
    memset(&st, 0, sizeof st);
    s = sa_principles_run(e, l->tok, &l->tmpl, &po, &st, err);
    if (!s) {
        json_t *rej = json_object();
        uint64_t nrej = 0;
        for (int r = 1; r < SA_ANS_REASON_COUNT; r++) {
            json_object_set_new(rej, sa_answer_reason_name((sa_answer_reason)r), json_integer((json_int_t)st.by_reason[r]));
            nrej += st.by_reason[r];
        }
        uint64_t acc = st.by_reason[SA_ANS_ACCEPTED];
        *summary = json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:s}", "queries", (json_int_t)st.inputs, "bad_lines",
                             (json_int_t)st.bad_lines, "accepted", (json_int_t)acc, "rejected", (json_int_t)nrej,
                             "rejected_by_reason", rej, "cut", (json_int_t)st.cut, "prefix_tokens",
                             (json_int_t)st.prefix_tokens, "mode", sa_principles_mode_name(mode));
        SA_LOG_INFO(&l->log, "%s: %llu queries -> %llu answers kept, %llu rejected", dir,
                    (unsigned long long)st.inputs, (unsigned long long)acc, (unsigned long long)nrej);
        if (acc == 0) {
            snprintf(rel, sizeof rel, "%s/answers.jsonl.rejected.jsonl", dir);
            s = sa_err_set(err, SA_ERR_INVALID_ARG,
                           "%s: no answer passed the filters (%llu rejected; reasons in %s): the model does not follow "
                           "the %s prompt — use a larger base model, or adapt the prompts (docs/principles.md)",
                           dir, (unsigned long long)nrej, sa_loop_path(l, 0, rel),
                           mode == SA_PRINCIPLES_ANSWER ? "principles" : "verbose persona");
        }
    }
    sa_engine_free(e);
    sa_model_free(m);
    return s;
}

static sa_status do_principles(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    dr *d = ctx;
    sa_status s = sa_mkdir_p(sa_loop_path(l, 0, name), 0777, err);
    uint64_t n_seed = 0, n_new = 0;
    if (!s) s = write_queries(d, sa_loop_path(l, 0, "principles/queries.jsonl"), &n_seed, &n_new, err);
    if (!s) s = answers(d, name, NULL, SA_PRINCIPLES_ANSWER, summary, err);
    if (!s && *summary) {
        json_object_set_new(*summary, "seed_queries", json_integer((json_int_t)n_seed));
        json_object_set_new(*summary, "new_queries", json_integer((json_int_t)n_new));
    }
    return s;
}

static sa_status do_engrave(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    dr *d = ctx;
    const char *data[] = {sa_loop_path(l, 1, "principles/answers.jsonl")};
    return sa_loop_train(l, &d->o->engrave, name, data, 1, false, NULL, 0, summary, err);
}

static sa_status do_clone_gen(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    (void)l;
    return answers(ctx, name, "engrave", SA_PRINCIPLES_VERBOSE, summary, err);
}

static sa_status do_clone(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err) {
    dr *d = ctx;
    const char *data[] = {sa_loop_path(l, 1, "clone-gen/answers.jsonl")};
    return sa_loop_train(l, &d->o->clone, name, data, 1, false, NULL, 0, summary, err);
}

sa_status sa_dromedary_run(const sa_dromedary_opts *o, sa_err *err) {
    if (!o->run_dir || !o->base || !o->seed_path)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "dromedary: a run directory, a base model and seed tasks are required");
    if (o->target < 1) return sa_err_set(err, SA_ERR_INVALID_ARG, "dromedary: the prompt target must be at least 1");
    if (o->n_exemplars < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "dromedary: exemplars must be >= 0 (0 = all), not %d", o->n_exemplars);
    if (!sa_path_exists(o->seed_path)) return sa_err_set(err, SA_ERR_NOT_FOUND, "%s: seed tasks not found", o->seed_path);
    if (o->redteam_path && !sa_path_exists(o->redteam_path))
        return sa_err_set(err, SA_ERR_NOT_FOUND, "%s: red-team types not found", o->redteam_path);
    dr d;
    memset(&d, 0, sizeof d);
    d.o = o;
    sa_loop *l = &d.L;
    l->base = o->base, l->tokenizer_path = o->tokenizer, l->template_name = o->template_name;
    l->seed = o->seed, l->threads = o->threads, l->gen_batch = o->gen_batch;
    l->prefix_cache = o->prefix_cache, l->quiet = o->quiet, l->out = o->log, l->http = o->http, l->dist = o->dist;
    json_t *cfg = build_config(o);
    if (!cfg) return sa_err_set(err, SA_ERR_NOMEM, "dromedary: out of memory");
    sa_status s = sa_loop_open(l, o->run_dir, "dromedary", "dromedary", o->prompts_dir, cfg,
                               (char *const *)sa_dromedary_stages, 5, err);
    json_decref(cfg);
    static const sa_loop_stage_fn fns[5] = {do_selfinstruct, do_principles, do_engrave, do_clone_gen, do_clone};
    if (!s)
        SA_LOG_INFO(&l->log, "run %s: 5 stages, template %s, %s prefix sharing", o->run_dir,
                    sa_chat_format_name(l->tmpl.format), o->prefix_cache ? "with" : "without");
    /* generation stages run on rank 0 under MPI (selfinstruct and principles are not sharded); training on all */
    for (int i = 0; i < 5 && !s; i++)
        s = fns[i] == do_engrave || fns[i] == do_clone ? sa_loop_stage(l, sa_dromedary_stages[i], fns[i], &d, err)
                                                       : sa_loop_stage_root(l, sa_dromedary_stages[i], fns[i], &d, err);
    if (!s) SA_LOG_INFO(&l->log, "run %s complete: final model %s/clone/model", o->run_dir, o->run_dir);
    sa_loop_finish(l, o->run_dir, !s);
    return s;
}
