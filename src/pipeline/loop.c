/* loop.c — shared machinery of the method loops (loop.h). */
#include "loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/engine_http.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/report.h"
#include "sa/signal.h"

bool sa_loop_root(const sa_loop *l) { return sa_dist_rank(l->dist) == 0; }

/* RUN/rel into out (replacing it); the same on every rank. */
static sa_status loop_join(const sa_loop *l, const char *rel, sa_strbuf *out) {
    if (l->run) return sa_run_path(l->run, rel, out);
    sa_strbuf_reset(out);
    return sa_strbuf_appendf(out, "%s/%s", l->dir, rel);
}

sa_status sa_loop_open(sa_loop *l, const char *run_dir, const char *kind, const char *log_prefix,
                       const char *prompts_dir, const json_t *config, char *const *stages, size_t n_stages,
                       sa_err *err) {
    bool root = sa_loop_root(l);
    if (!root) l->quiet = true; /* rank 0 speaks for the run */
    sa_log_init(&l->log, root ? SA_LOG_LEVEL_INFO : SA_LOG_LEVEL_WARN, l->out ? l->out : stderr);
    l->log.prefix = log_prefix;
    sa_status s = (l->dir = sa_strdup(run_dir)) ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", log_prefix);
    if (!s) s = sa_prompts_load(&l->prompts, prompts_dir, err);
    if (!s) s = sa_tokenizer_load(&l->tok, l->tokenizer_path ? l->tokenizer_path : l->base, err);
    bool fell_back = false;
    if (!s) s = sa_chat_template_resolve(l->tok, l->template_name, &l->tmpl, &fell_back, err);
    if (!s && fell_back)
        SA_LOG_WARN(&l->log, "the tokenizer's chat template is absent or not recognised: every model of the run uses "
                             "the alpaca template");
    if (!s && root) s = sa_run_open(&l->run, run_dir, kind, config, (const char *const *)stages, n_stages, err);
    return sa_dist_agree(l->dist, s, err);
}

void sa_loop_close(sa_loop *l) {
    sa_run_close(l->run);
    sa_tokenizer_free(l->tok);
    sa_prompts_free(l->prompts);
    for (int i = 0; i < 3; i++) sa_strbuf_free(&l->scratch[i]);
    free(l->dir);
    l->run = NULL, l->tok = NULL, l->prompts = NULL, l->dir = NULL;
}

const char *sa_loop_path(sa_loop *l, int i, const char *rel) {
    if (loop_join(l, rel, &l->scratch[i])) return NULL;
    return sa_strbuf_cstr(&l->scratch[i]);
}

static sa_status stage(sa_loop *l, const char *name, sa_loop_stage_fn fn, void *ctx, bool root_only, sa_err *err) {
    /* rank 0 reads the manifest; every rank follows its decision */
    int64_t done = l->run && sa_run_stage_is_done(l->run, name);
    sa_status s = sa_dist_allreduce_max_i64(l->dist, &done, 1, err);
    if (s) return s;
    if (done) {
        SA_LOG_INFO(&l->log, "stage %s: done before, skipped", name);
        return SA_OK;
    }
    if ((s = sa_dist_agree(l->dist, sa_signal_pending() ? sa_signal_check(err) : SA_OK, err))) return s;
    SA_LOG_INFO(&l->log, "stage %s: starting", name);
    if ((s = sa_dist_agree(l->dist, l->run ? sa_run_stage_begin(l->run, name, err) : SA_OK, err))) return s;
    json_t *summary = NULL;
    s = sa_dist_agree(l->dist, root_only && !sa_loop_root(l) ? SA_OK : fn(l, ctx, name, &summary, err), err);
    sa_err e2 = {0};
    sa_status s2 = l->run ? sa_run_stage_end(l->run, name, s, summary, s ? err->msg : NULL, &e2) : SA_OK;
    json_decref(summary);
    if (s) return s;
    s2 = sa_dist_agree(l->dist, s2, &e2);
    if (s2) *err = e2;
    return s2;
}

sa_status sa_loop_stage(sa_loop *l, const char *name, sa_loop_stage_fn fn, void *ctx, sa_err *err) {
    return stage(l, name, fn, ctx, false, err);
}

sa_status sa_loop_stage_root(sa_loop *l, const char *name, sa_loop_stage_fn fn, void *ctx, sa_err *err) {
    return stage(l, name, fn, ctx, true, err);
}

sa_status sa_loop_train(sa_loop *l, const sa_train_opts *tmpl, const char *dir, const char *const *data, size_t n_data,
                        bool reverse, const sa_sft_tag *tags, size_t n_tags, json_t **summary, sa_err *err) {
    sa_train_opts t = *tmpl;
    sa_strbuf out = {0};
    if (loop_join(l, dir, &out)) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", l->log.prefix);
    t.base = l->base;
    t.tokenizer = l->tokenizer_path;
    t.template_name = l->template_name;
    t.data = data;
    t.n_data = n_data;
    t.out_dir = sa_strbuf_cstr(&out);
    t.text_mode = false;
    t.reverse = reverse;
    t.tags = tags;
    t.n_tags = n_tags;
    t.resume = true; /* a fresh directory starts at step 0; an interrupted one continues */
    t.seed = l->seed;
    t.threads = l->threads;
    t.dist = l->dist;
    t.log = l->out;
    t.quiet = l->quiet;
    t.base_name = l->base;
    sa_train_result r;
    sa_status s = sa_train_run(&t, &r, err);
    if (!s) {
        *summary = json_pack("{s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:s}", "steps", (json_int_t)r.steps,
                             "train_examples", (json_int_t)r.train_examples, "eval_examples",
                             (json_int_t)r.eval_examples, "first_loss", (double)r.first_loss, "final_loss",
                             (double)r.final_loss, "records", (json_int_t)r.data.records, "examples",
                             (json_int_t)r.data.examples, "bad_records", (json_int_t)r.data.bad, "too_long",
                             (json_int_t)r.data.too_long, "model", dir);
        if (*summary && isfinite(r.eval_loss_end))
            json_object_set_new(*summary, "eval_loss_end", json_real(r.eval_loss_end));
    }
    sa_strbuf_free(&out);
    return s;
}

/* RUN/<dir>/<leaf> resolved, or NULL when it does not exist. */
static char *real_stage_path(sa_loop *l, const char *dir, const char *leaf) {
    sa_strbuf p = {0};
    char *r = NULL;
    if (!loop_join(l, dir, &p) && !sa_strbuf_puts(&p, leaf)) r = realpath(sa_strbuf_cstr(&p), NULL);
    sa_strbuf_free(&p);
    return r;
}

/* The HTTP engine for RUN/<dir>/model (the server's own model when dir is
 * NULL). The name sent is "<run folder>-<hash of its path>/<dir>": unique
 * per run on a shared server, and readable in the server's log. */
static sa_status http_engine(sa_loop *l, const char *dir, sa_engine **e, sa_err *err) {
    sa_engine_http_opts o = *l->http;
    o.tok = l->tok;
    o.model = NULL;
    char *mdir = NULL, *adir = NULL, *root = NULL;
    sa_strbuf name = {0};
    sa_status s = SA_OK;
    if (dir) {
        mdir = real_stage_path(l, dir, "/model");
        adir = real_stage_path(l, dir, "/adapter");
        root = real_stage_path(l, ".", "");
        if (!mdir || !root) {
            s = sa_err_set(err, SA_ERR_NOT_FOUND, "%s: %s/model is missing", l->log.prefix, dir);
        } else {
            const char *base = strrchr(root, '/');
            base = base && base[1] ? base + 1 : "run";
            sa_strbuf_appendf(&name, "%.100s-%08x/%s", base, (unsigned)(sa_hash64(root, strlen(root), 0) & 0xffffffffu), dir);
            o.model = sa_strbuf_cstr(&name);
            o.load_model_dir = mdir;
            o.load_adapter_dir = adir;
        }
    }
    if (!s) s = sa_engine_http_new(e, &o, err);
    if (!s && !l->quiet) {
        sa_engine_http_caps c;
        if (!sa_engine_http_get_caps(*e, &c, NULL))
            SA_LOG_INFO(&l->log, "engine: %s, model %s%s", l->http->url, c.model, c.loaded ? " (loaded for this stage)" : "");
    }
    if (s) sa_err_prefix(err, "%s: ", l->log.prefix);
    free(mdir);
    free(adir);
    free(root);
    sa_strbuf_free(&name);
    return s;
}

sa_status sa_loop_engine(sa_loop *l, const char *dir, sa_model **m, sa_engine **e, sa_err *err) {
    *m = NULL;
    *e = NULL;
    if (l->http) return http_engine(l, dir, e, err);
    sa_strbuf p = {0};
    sa_status s = SA_OK;
    if (dir) {
        if (loop_join(l, dir, &p) || sa_strbuf_puts(&p, "/model"))
            return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", l->log.prefix);
        s = sa_model_load(m, sa_strbuf_cstr(&p), err);
    } else {
        s = sa_model_load(m, l->base, err);
    }
    sa_strbuf_free(&p);
    if (s) return s;
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = l->gen_batch > 0 ? l->gen_batch : 8;
    eo.n_threads = l->threads;
    if (!l->prefix_cache) eo.prefix_cache_entries = 0;
    s = sa_engine_local_new(e, *m, l->tok, &eo, err);
    if (s) {
        sa_model_free(*m);
        *m = NULL;
    }
    return s;
}

void sa_loop_finish(sa_loop *l, const char *run_dir, bool report) {
    sa_log log = l->log;
    bool root = sa_loop_root(l);
    sa_loop_close(l);
    if (!report || !root) return;
    sa_strbuf p = {0};
    sa_err e = {0};
    if (sa_path_join(&p, run_dir, "report.html")) return;
    if (sa_report_write(run_dir, sa_strbuf_cstr(&p), &e)) SA_LOG_WARN(&log, "report not written: %s", e.msg);
    else SA_LOG_INFO(&log, "report: %s", sa_strbuf_cstr(&p));
    sa_strbuf_free(&p);
}
