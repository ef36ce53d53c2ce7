/* trainer.c — the fine-tuning loop (see trainer.h): set-up, data, steps with
 * gradient accumulation, evaluation, checkpoints, resume and export. */
#include "sa/trainer.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "sa/alloc.h"
#include "sa/chat.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/log.h"
#include "sa/model_train.h"
#include "sa/progress.h"
#include "sa/signal.h"
#include "sa/tokenizer.h"
#include "train_internal.h"

sa_train_opts sa_train_defaults(void) {
    sa_train_opts o;
    memset(&o, 0, sizeof o);
    o.seq_len = 512;
    o.batch = 8;
    o.grad_accum = 1;
    o.epochs = 1;
    o.bucket = true;
    o.trunc = SA_SFT_TRUNC_SKIP;
    o.sched = (sa_lr_schedule){.type = SA_LR_CONSTANT, .lr = 1e-5f, .lr_final = 1e-5f};
    o.adamw = (sa_adamw_params){.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    o.clip = 1.0f;
    o.seed = 1;
    o.log_every = 10;
    o.lora = (sa_lora_config){.rank = 0, .alpha = 0, .dropout = 0.05f, .targets = SA_LORA_TARGETS_ALL};
    o.export_dtype = SA_DTYPE_F32;
    return o;
}

/* Everything one run holds. */
typedef struct run {
    const sa_train_opts *o;
    sa_log log;
    sa_model *m, *g; /* g: gradients (full fine-tuning only) */
    sa_tokenizer *tok;
    sa_chat_template tmpl;
    bool lora_on;
    sa_lora lora, lgrad;
    sa_kernels k;
    sa_train_acts acts;
    sa_adamw opt;
    float *params, *grads; /* the trainable vector and its gradient */
    size_t n_params;
    sa_sft_data data;
    uint32_t *train_idx, *eval_idx;
    size_t n_train, n_eval;
    sa_sft_batches plan; /* of plan_epoch */
    int64_t plan_epoch;
    int32_t *tokens, *targets; /* [grad_accum][B * seq_len] */
    uint8_t *mask;
    int32_t *Ts;
    int64_t *nloss;
    sa_strbuf config_json; /* the settings a resume must match */
    sa_strbuf path;        /* scratch */
    FILE *metrics;
} run;

static const char *opath(run *r, const char *name) {
    if (sa_path_join(&r->path, r->o->out_dir, name)) return "";
    return sa_strbuf_cstr(&r->path);
}

static void report_bad(void *ud, const char *where, const char *reason) {
    run *r = ud;
    SA_LOG_WARN(&r->log, "%s: %s", where, reason);
}

/* ---- configuration as JSON ------------------------------------------------------ */

static json_t *identity_json(const run *r) {
    const sa_train_opts *o = r->o;
    json_t *j = json_object(), *data = json_array(), *tags = json_object();
    for (size_t i = 0; i < o->n_data; i++) json_array_append_new(data, json_string(o->data[i]));
    for (size_t i = 0; i < o->n_tags; i++) json_object_set_new(tags, o->tags[i].source, json_string(o->tags[i].system));
    json_object_set_new(j, "base", json_string(o->base));
    json_object_set_new(j, "data", data);
    json_object_set_new(j, "tags", tags);
    json_object_set_new(j, "text_mode", json_boolean(o->text_mode));
    json_object_set_new(j, "template", json_string(sa_chat_format_name(r->tmpl.format)));
    json_object_set_new(j, "reverse", json_boolean(o->reverse));
    json_object_set_new(j, "truncation", json_string(o->trunc == SA_SFT_TRUNC_RIGHT ? "right" : "skip"));
    json_object_set_new(j, "seq_len", json_integer(o->seq_len));
    json_object_set_new(j, "eval_frac", json_real(o->eval_frac));
    json_object_set_new(j, "bucket", json_boolean(o->bucket));
    json_object_set_new(j, "method", json_string(r->lora_on ? "lora" : "full"));
    if (r->lora_on) {
        json_t *l = json_object(), *t = json_array();
        for (int i = 0; i < SA_LORA_N_TARGETS; i++)
            if (r->lora.cfg.targets & (1u << i)) json_array_append_new(t, json_string(sa_lora_target_name((sa_lora_target)i)));
        json_object_set_new(l, "rank", json_integer(r->lora.cfg.rank));
        json_object_set_new(l, "alpha", json_real(r->lora.cfg.alpha));
        json_object_set_new(l, "dropout", json_real(r->lora.cfg.dropout));
        json_object_set_new(l, "targets", t);
        json_object_set_new(j, "lora", l);
    }
    json_object_set_new(j, "dropout", json_real(o->dropout));
    json_object_set_new(j, "steps", json_integer(o->sched.total_steps));
    json_object_set_new(j, "batch", json_integer(o->batch));
    json_object_set_new(j, "grad_accum", json_integer(o->grad_accum));
    const char *sched = o->sched.type == SA_LR_LINEAR ? "linear" : o->sched.type == SA_LR_COSINE ? "cosine" : "constant";
    json_object_set_new(j, "schedule", json_string(sched));
    json_object_set_new(j, "lr", json_real(o->sched.lr));
    json_object_set_new(j, "lr_final", json_real(o->sched.lr_final));
    json_object_set_new(j, "warmup", json_integer(o->sched.warmup));
    json_object_set_new(j, "beta1", json_real(o->adamw.beta1));
    json_object_set_new(j, "beta2", json_real(o->adamw.beta2));
    json_object_set_new(j, "eps", json_real(o->adamw.eps));
    json_object_set_new(j, "weight_decay", json_real(o->adamw.weight_decay));
    json_object_set_new(j, "clip", json_real(o->clip));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    return j;
}

static sa_status write_config(run *r, int64_t total_steps, sa_err *err) {
    json_t *id = identity_json(r);
    sa_strbuf line = {0};
    sa_status s = sa_json_dump_line(id, &r->config_json, err);
    if (!s && r->config_json.len && r->config_json.buf[r->config_json.len - 1] == '\n')
        sa_strbuf_truncate(&r->config_json, r->config_json.len - 1);
    /* the full file adds what may change between invocations */
    json_t *full = json_deep_copy(id);
    json_object_set_new(full, "out_dir", json_string(r->o->out_dir));
    json_object_set_new(full, "tokenizer", r->o->tokenizer ? json_string(r->o->tokenizer) : json_null());
    json_object_set_new(full, "epochs", json_integer(r->o->epochs));
    json_object_set_new(full, "total_steps", json_integer(total_steps));
    json_object_set_new(full, "threads", json_integer(r->k.n_threads));
    json_object_set_new(full, "log_every", json_integer(r->o->log_every));
    json_object_set_new(full, "eval_every", json_integer(r->o->eval_every));
    json_object_set_new(full, "save_every", json_integer(r->o->save_every));
    json_object_set_new(full, "trainable_params", json_integer((json_int_t)r->n_params));
    json_object_set_new(full, "train_examples", json_integer((json_int_t)r->n_train));
    json_object_set_new(full, "eval_examples", json_integer((json_int_t)r->n_eval));
    json_object_set_new(full, "export_dtype", json_string(sa_dtype_name(r->o->export_dtype)));
    json_object_set_new(full, "export_gguf", json_boolean(r->o->export_gguf));
    char *pretty = json_dumps(full, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s && !pretty) s = sa_err_set(err, SA_ERR_NOMEM, "train: out of memory");
    if (!s) {
        if (r->o->quiet) /* the file has it all; one line keeps a loop's log readable */
            SA_LOG_INFO(&r->log, "configuration: %s", opath(r, "train_config.json"));
        else
            SA_LOG_INFO(&r->log, "configuration:\n%s", pretty);
        sa_strbuf_puts(&line, pretty);
        sa_strbuf_putc(&line, '\n');
        s = sa_file_write_atomic(opath(r, "train_config.json"), line.buf, line.len, err);
    }
    free(pretty);
    json_decref(full);
    json_decref(id);
    sa_strbuf_free(&line);
    return s;
}

static sa_status write_data_stats(run *r, sa_err *err) {
    const sa_sft_stats *st = &r->data.stats;
    sa_strbuf b = {0};
    sa_strbuf_appendf(&b,
                      "{\n  \"records\": %" PRId64 ",\n  \"examples\": %" PRId64 ",\n  \"bad\": %" PRId64
                      ",\n  \"empty_response\": %" PRId64 ",\n  \"too_long\": %" PRId64 ",\n  \"truncated\": %" PRId64
                      ",\n  \"tokens\": %" PRId64 ",\n  \"loss_tokens\": %" PRId64 ",\n  \"max_len\": %d,\n"
                      "  \"train_examples\": %zu,\n  \"eval_examples\": %zu\n}\n",
                      st->records, st->examples, st->bad, st->empty_response, st->too_long, st->truncated, st->tokens,
                      st->loss_tokens, st->max_len, r->n_train, r->n_eval);
    sa_status s = b.buf ? sa_file_write_atomic(opath(r, "data_stats.json"), b.buf, b.len, err)
                        : sa_err_set(err, SA_ERR_NOMEM, "train: out of memory");
    sa_strbuf_free(&b);
    return s;
}

/* ---- set-up -------------------------------------------------------------------- */

static sa_status setup_model(run *r, sa_err *err) {
    const sa_train_opts *o = r->o;
    sa_status s = sa_model_load(&r->m, o->base, err);
    if (s) return s;
    const char *tpath = o->tokenizer ? o->tokenizer : o->base;
    s = sa_tokenizer_load(&r->tok, tpath, err);
    if (s) {
        if (!o->tokenizer) sa_err_prefix(err, "no tokenizer found with the model (give one): ");
        return s;
    }
    if (sa_tokenizer_vocab_size(r->tok) > r->m->cfg.vocab_size)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "tokenizer %s has %d tokens but the model only %d", tpath,
                          sa_tokenizer_vocab_size(r->tok), r->m->cfg.vocab_size);
    bool fell_back = false;
    if ((s = sa_chat_template_resolve(r->tok, o->template_name, &r->tmpl, &fell_back, err))) return s;
    if (fell_back && !o->text_mode)
        SA_LOG_WARN(&r->log, "the tokenizer's chat template is absent or not recognised: using the alpaca "
                             "instruction template (choose one with a template name)");
    if (o->seq_len < 2 || o->seq_len > r->m->cfg.max_seq_len)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "sequence length %d: must be in [2, %d] (the model's context)",
                          o->seq_len, r->m->cfg.max_seq_len);
    return SA_OK;
}

static sa_status setup_data(run *r, sa_err *err) {
    const sa_train_opts *o = r->o;
    sa_sft_opts so = {.tok = r->tok, .tmpl = &r->tmpl, .seq_len = o->seq_len, .tags = o->tags, .n_tags = o->n_tags,
                      .reverse = o->reverse, .trunc = o->trunc, .fail_on_bad = o->fail_on_bad, .on_bad = report_bad,
                      .ud = r};
    sa_sft_data_init(&r->data);
    for (size_t i = 0; i < o->n_data; i++) {
        sa_status s = o->text_mode ? sa_sft_data_add_text(&r->data, o->data[i], &so, err)
                                   : sa_sft_data_add_records(&r->data, o->data[i], &so, err);
        if (s) return s;
    }
    const sa_sft_stats *st = &r->data.stats;
    SA_LOG_INFO(&r->log,
                "data: %" PRId64 " records -> %" PRId64 " examples (%" PRId64 " tokens, %" PRId64
                " trained); reported: %" PRId64 " bad, %" PRId64 " empty response, %" PRId64 " too long, %" PRId64
                " truncated",
                st->records, st->examples, st->tokens, st->loss_tokens, st->bad, st->empty_response, st->too_long,
                st->truncated);
    if (r->data.n_ex == 0) return sa_err_set(err, SA_ERR_INVALID_ARG, "train: no usable examples in the data");
    sa_status s = sa_sft_split(&r->data, o->eval_frac, o->seed, &r->train_idx, &r->n_train, &r->eval_idx, &r->n_eval, err);
    if (s) return s;
    if (r->n_train == 0) return sa_err_set(err, SA_ERR_INVALID_ARG, "train: the held-out split left no training examples");
    return SA_OK;
}

static sa_status setup_trainable(run *r, sa_err *err) {
    const sa_train_opts *o = r->o;
    sa_status s;
    if (r->lora_on) {
        sa_lora_config lc = o->lora;
        if (lc.alpha <= 0) lc.alpha = 2.0f * (float)lc.rank;
        if ((s = sa_lora_init(&r->lora, &r->m->cfg, &lc, err)) || (s = sa_lora_init(&r->lgrad, &r->m->cfg, &lc, err)))
            return s;
        sa_lora_randomize(&r->lora, sa_hash_mix(o->seed, 0x4c6f5241u));
        r->params = r->lora.storage, r->grads = r->lgrad.storage, r->n_params = r->lora.storage_floats;
    } else {
        if ((s = sa_model_alloc(&r->g, &r->m->cfg, err))) return s;
        r->params = r->m->storage, r->grads = r->g->storage, r->n_params = r->m->storage_floats;
    }
    if ((s = sa_adamw_init(&r->opt, r->n_params, o->adamw, err))) return s;
    if ((s = sa_train_acts_init(&r->acts, &r->m->cfg, r->lora_on ? &r->lora.cfg : NULL, o->batch, o->seq_len - 1, err)))
        return s;
    size_t per = (size_t)o->batch * (size_t)(o->seq_len - 1), G = (size_t)o->grad_accum;
    r->tokens = sa_malloc_array(per * G, sizeof(int32_t));
    r->targets = sa_malloc_array(per * G, sizeof(int32_t));
    r->mask = sa_malloc_array(per * G, 1);
    r->Ts = sa_malloc_array(G, sizeof(int32_t));
    r->nloss = sa_malloc_array(G, sizeof(int64_t));
    if (!r->tokens || !r->targets || !r->mask || !r->Ts || !r->nloss)
        return sa_err_set(err, SA_ERR_NOMEM, "train: batch buffers");
    return SA_OK;
}

/* ---- steps --------------------------------------------------------------------- */

static sa_status plan_for(run *r, int64_t epoch, sa_err *err) {
    if (r->plan.idx && r->plan_epoch == epoch) return SA_OK;
    sa_sft_batches_free(&r->plan);
    r->plan_epoch = epoch;
    return sa_sft_plan_epoch(&r->data, r->train_idx, r->n_train, r->o->batch, r->o->seed, epoch, r->o->bucket,
                             &r->plan, err);
}

static sa_train_args step_args(run *r, size_t j, bool backward) {
    size_t per = (size_t)r->o->batch * (size_t)(r->o->seq_len - 1);
    return (sa_train_args){.tokens = r->tokens + j * per, .targets = r->targets + j * per, .mask = r->mask + j * per,
                           .T = r->Ts[j], .backward = backward, .grads = backward ? r->g : NULL,
                           .lora = r->lora_on ? &r->lora : NULL, .lora_grads = backward && r->lora_on ? &r->lgrad : NULL};
}

/* Mean loss over the eval split (no dropout), token-weighted. */
static sa_status evaluate(run *r, double *loss_out, int64_t *tokens_out, sa_err *err) {
    *loss_out = NAN;
    *tokens_out = 0;
    if (r->n_eval == 0) return SA_OK;
    sa_sft_batches bt = {0};
    sa_status s = sa_sft_plan_epoch(&r->data, r->eval_idx, r->n_eval, r->o->batch, r->o->seed, 0, true, &bt, err);
    double sum = 0;
    int64_t n = 0;
    for (int64_t i = 0; !s && i < bt.n_batches; i++) {
        sa_sft_batch_fill(&r->data, bt.idx + i * bt.B, bt.B, r->o->seq_len - 1, r->tokens, r->targets, r->mask, &r->Ts[0],
                          &r->nloss[0]);
        if (r->nloss[0] == 0) continue;
        sa_train_args a = step_args(r, 0, false);
        float l;
        int64_t c;
        s = sa_model_train_step(r->m, &r->acts, &r->k, &a, &l, &c, err);
        sum += (double)l * (double)c, n += c;
    }
    sa_sft_batches_free(&bt);
    if (!s && n) *loss_out = sum / (double)n, *tokens_out = n;
    return s;
}

static void log_metrics(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_metrics(run *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->metrics, fmt, ap);
    va_end(ap);
    fflush(r->metrics);
}

static sa_status export_all(run *r, sa_err *err) {
    const sa_train_opts *o = r->o;
    sa_status s = SA_OK;
    if (r->lora_on) {
        s = sa_lora_save_peft(&r->lora, opath(r, "adapter"), o->base_name ? o->base_name : o->base, err);
        if (!s) s = sa_lora_merge(&r->lora, r->m, err);
    }
    if (!s) s = sa_model_save_hf(r->m, opath(r, "model"), o->export_dtype, err);
    if (!s) s = sa_train_copy_tokenizer(o->tokenizer ? o->tokenizer : o->base, opath(r, "model"), &r->log, err);
    if (!s && o->export_gguf) s = sa_model_save_gguf(r->m, opath(r, "model.gguf"), o->export_dtype, r->tok, err);
    return s;
}

static sa_status train_loop(run *r, sa_train_result *res, sa_err *err) {
    const sa_train_opts *o = r->o;
    const int64_t G = o->grad_accum, total = o->sched.total_steps;
    int64_t start = 0;
    sa_status s;
    if (o->resume) {
        bool found = false;
        s = sa_ckpt_load(o->out_dir, r->params, &r->opt, sa_strbuf_cstr(&r->config_json), &start, &found, err);
        if (s) return s;
        if (found) {
            SA_LOG_INFO(&r->log, "resuming at step %" PRId64 " of %" PRId64, start, total);
            if ((s = sa_metrics_truncate(opath(r, "metrics.jsonl"), start, err))) return s;
        }
    } else if ((s = sa_metrics_truncate(opath(r, "metrics.jsonl"), -1, err))) {
        return s;
    }
    res->resumed_from = start;
    r->metrics = fopen(opath(r, "metrics.jsonl"), "a");
    if (!r->metrics) return sa_err_set(err, SA_ERR_IO, "%s: cannot open for appending", sa_strbuf_cstr(&r->path));
    double el;
    int64_t et;
    if (start == 0) {
        if ((s = evaluate(r, &el, &et, err))) return s;
        res->eval_loss_start = (float)el;
        if (et) {
            SA_LOG_INFO(&r->log, "eval loss before training: %.4f (%" PRId64 " tokens)", el, et);
            log_metrics(r, "{\"step\":0,\"eval_loss\":%.6f,\"eval_tokens\":%" PRId64 "}\n", el, et);
        }
    }
    const int64_t nb = (int64_t)((r->n_train + (size_t)o->batch - 1) / (size_t)o->batch);
    sa_progress prog;
    sa_progress_init(&prog, "train", (uint64_t)total, o->quiet ? NULL : (o->log ? o->log : stderr));
    sa_progress_set(&prog, (uint64_t)start);
    double t0 = sa_progress_clock_monotonic(NULL), t_log = t0;
    int64_t rows_log = 0, rows_all = 0, done_here = 0;
    bool first = true;
    for (int64_t step = start; step < total; step++) {
        int64_t n_step = 0, rows_step = 0;
        for (int64_t j = 0; j < G; j++) {
            int64_t mb = step * G + j, epoch = mb / nb, bi = mb % nb;
            if ((s = plan_for(r, epoch, err))) goto out;
            size_t per = (size_t)o->batch * (size_t)(o->seq_len - 1);
            sa_sft_batch_fill(&r->data, r->plan.idx + bi * r->plan.B, r->plan.B, o->seq_len - 1, r->tokens + j * per,
                              r->targets + j * per, r->mask + j * per, &r->Ts[j], &r->nloss[j]);
            n_step += r->nloss[j];
            for (int32_t b = 0; b < r->plan.B; b++) { /* real (non-padding) rows */
                uint32_t ex = r->plan.idx[bi * r->plan.B + b];
                if (ex != SA_SFT_NONE) rows_step += r->data.ex[ex].n - 1 < r->Ts[j] ? r->data.ex[ex].n - 1 : r->Ts[j];
            }
        }
        memset(r->grads, 0, r->n_params * sizeof(float));
        double lsum = 0;
        for (int64_t j = 0; j < G && n_step; j++) {
            if (!r->nloss[j]) continue;
            sa_train_args a = step_args(r, (size_t)j, true);
            a.dropout = o->dropout;
            a.dropout_seed = sa_hash_mix(o->seed, (uint64_t)(step * G + j) + 1);
            a.denom = n_step;
            float l;
            int64_t c;
            if ((s = sa_model_train_step(r->m, &r->acts, &r->k, &a, &l, &c, err))) goto out;
            lsum += (double)l * (double)c;
        }
        float loss = n_step ? (float)(lsum / (double)n_step) : 0.0f, lr = sa_lr_at(&o->sched, step), norm = 0;
        if (n_step) { /* a step with nothing to learn leaves weights and moments alone */
            norm = sa_grad_clip(r->grads, r->n_params, o->clip);
            sa_adamw_step(&r->opt, r->params, r->grads, lr);
        }
        if (!isfinite(loss) || !isfinite(norm)) {
            s = sa_err_set(err, SA_ERR_RANGE, "train: step %" PRId64 ": loss %g, gradient norm %g — diverged (lower the "
                                              "learning rate)", step + 1, loss, norm);
            goto out;
        }
        if (first) res->first_loss = loss, first = false;
        res->final_loss = loss;
        rows_log += rows_step, rows_all += rows_step, done_here++;
        int64_t done = step + 1;
        sa_progress_set(&prog, (uint64_t)done);
        bool last = done == total;
        bool do_eval = r->n_eval && (last || (o->eval_every > 0 && done % o->eval_every == 0));
        if (last || (o->log_every > 0 && done % o->log_every == 0) || do_eval) {
            double t = sa_progress_clock_monotonic(NULL), tps = t > t_log ? (double)rows_log / (t - t_log) : 0;
            log_metrics(r,
                        "{\"step\":%" PRId64 ",\"epoch\":%.4f,\"loss\":%.6f,\"lr\":%.6g,\"grad_norm\":%.6f,"
                        "\"loss_tokens\":%" PRId64 ",\"tokens\":%" PRId64 ",\"tokens_per_s\":%.1f,\"elapsed_s\":%.2f",
                        done, (double)(done * G) / (double)nb, loss, lr, norm, n_step, rows_step, tps, t - t0);
            char evs[64] = "";
            if (do_eval) {
                if ((s = evaluate(r, &el, &et, err))) goto out;
                res->eval_loss_end = (float)el;
                log_metrics(r, ",\"eval_loss\":%.6f,\"eval_tokens\":%" PRId64, el, et);
                snprintf(evs, sizeof evs, " eval-loss %.4f", el);
            }
            log_metrics(r, "}\n");
            SA_LOG_INFO(&r->log, "step %" PRId64 "/%" PRId64 " loss %.4f lr %.3g grad-norm %.3f %.0f tok/s%s", done,
                        total, loss, lr, norm, tps, evs);
            t_log = t, rows_log = 0;
        }
        bool stop = (o->stop_after > 0 && done_here >= o->stop_after) || sa_signal_pending();
        if (last || stop || (o->save_every > 0 && done % o->save_every == 0)) {
            if ((s = sa_ckpt_save(o->out_dir, done, r->params, &r->opt, sa_strbuf_cstr(&r->config_json), err))) goto out;
        }
        if (stop && !last) {
            s = sa_err_set(err, SA_ERR_INTERRUPTED, "train: interrupted at step %" PRId64 "; checkpoint written (resume "
                                                    "to continue)", done);
            goto out;
        }
    }
    res->steps = total;
    double el_t = sa_progress_clock_monotonic(NULL) - t0;
    res->tokens_per_s = el_t > 0 ? (double)rows_all / el_t : 0;
out:
    sa_progress_finish(&prog);
    if (s == SA_ERR_INTERRUPTED) res->steps = start + done_here;
    return s;
}

sa_status sa_train_run(const sa_train_opts *o, sa_train_result *res, sa_err *err) {
    memset(res, 0, sizeof *res);
    res->eval_loss_start = res->eval_loss_end = NAN;
    if (!o->base || !o->out_dir || !o->data || o->n_data == 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: a base model, data files and an output directory are required");
    if (o->batch < 1 || o->grad_accum < 1 || o->epochs < 0 || o->steps < 0 || (o->steps == 0 && o->epochs == 0))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: batch, gradient accumulation and steps/epochs must be positive");
    if (!(o->dropout >= 0 && o->dropout < 1) || !(o->eval_frac >= 0 && o->eval_frac < 1) || !(o->sched.lr > 0))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: dropout and eval fraction must be in [0, 1), lr positive");
    run r;
    memset(&r, 0, sizeof r);
    sa_train_opts oc = *o; /* total_steps resolved below */
    r.o = &oc;
    sa_log_init(&r.log, SA_LOG_LEVEL_INFO, o->log ? o->log : stderr);
    r.log.prefix = "train";
    r.lora_on = o->lora.rank > 0;
    sa_kernels_init(&r.k, o->threads);
    sa_status s = sa_mkdir_p(o->out_dir, 0755, err);
    if (!s) s = setup_model(&r, err);
    if (!s) s = setup_data(&r, err);
    if (!s) s = write_data_stats(&r, err);
    if (!s) {
        int64_t nb = (int64_t)((r.n_train + (size_t)o->batch - 1) / (size_t)o->batch);
        oc.sched.total_steps = o->steps ? o->steps : (o->epochs * nb + o->grad_accum - 1) / o->grad_accum;
        if (oc.sched.lr_final <= 0 && oc.sched.type == SA_LR_CONSTANT) oc.sched.lr_final = oc.sched.lr;
    }
    if (!s) s = setup_trainable(&r, err);
    if (!s) s = write_config(&r, oc.sched.total_steps, err);
    res->train_examples = (int64_t)r.n_train, res->eval_examples = (int64_t)r.n_eval;
    res->data = r.data.stats;
    if (!s) {
        SA_LOG_INFO(&r.log, "%s fine-tuning: %zu trainable parameters, %zu train / %zu eval examples, %" PRId64
                            " steps of %d x %d sequences",
                    r.lora_on ? "LoRA" : "full", r.n_params, r.n_train, r.n_eval, oc.sched.total_steps, o->batch,
                    o->grad_accum);
        s = train_loop(&r, res, err);
    }
    if (!s) s = export_all(&r, err);
    if (!s) SA_LOG_INFO(&r.log, "done: %s", opath(&r, "model"));
    if (r.metrics) fclose(r.metrics);
    sa_sft_batches_free(&r.plan);
    free(r.tokens), free(r.targets), free(r.mask), free(r.Ts), free(r.nloss);
    free(r.train_idx), free(r.eval_idx);
    sa_sft_data_free(&r.data);
    sa_train_acts_free(&r.acts);
    sa_adamw_free(&r.opt);
    if (r.lora_on) sa_lora_free(&r.lora), sa_lora_free(&r.lgrad);
    sa_model_free(r.g);
    sa_model_free(r.m);
    sa_tokenizer_free(r.tok);
    sa_strbuf_free(&r.config_json);
    sa_strbuf_free(&r.path);
    return s;
}
