/* trainer.c — the fine-tuning loop (see trainer.h): set-up, data, steps with
 * gradient accumulation (data-parallel over sa_dist ranks), evaluation,
 * checkpoints, resume and export. */
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
#include "sa/thread.h"
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
    int rank, size;            /* of o->dist */
    int32_t Bl;                /* rows per micro-batch on this rank (B, or a share of it) */
    uint32_t *lidx;            /* [Bl]: this rank's rows of a micro-batch */
    float *slots;              /* deterministic mode: [grad_accum][n_params] */
    double *mb_loss;           /* deterministic mode: [grad_accum] loss sums */
    int32_t *tokens, *targets; /* [grad_accum][Bl * seq_len] */
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
    if (!s && r->rank == 0) {
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
    /* default data-parallel mode splits each micro-batch's rows across ranks */
    r->Bl = o->deterministic || r->size == 1 ? o->batch : (o->batch + r->size - 1) / r->size;
    if ((s = sa_train_acts_init(&r->acts, &r->m->cfg, r->lora_on ? &r->lora.cfg : NULL, r->Bl, o->seq_len - 1, err)))
        return s;
    size_t per = (size_t)r->Bl * (size_t)(o->seq_len - 1), G = (size_t)o->grad_accum;
    r->lidx = sa_malloc_array((size_t)r->Bl, sizeof(uint32_t));
    if (!r->lidx) return sa_err_set(err, SA_ERR_NOMEM, "train: batch buffers");
    if (o->deterministic) {
        if (r->n_params && G > SIZE_MAX / sizeof(float) / r->n_params)
            return sa_err_set(err, SA_ERR_NOMEM, "train: deterministic gradient slots overflow");
        r->slots = sa_malloc_array(G * r->n_params, sizeof(float));
        r->mb_loss = sa_malloc_array(G, sizeof(double));
        if (!r->slots || !r->mb_loss)
            return sa_err_set(err, SA_ERR_NOMEM, "train: deterministic mode needs %zu gradient copies (%zu floats each)",
                              G, r->n_params);
    }
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
    size_t per = (size_t)r->Bl * (size_t)(r->o->seq_len - 1);
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
    sa_status s = sa_sft_plan_epoch(&r->data, r->eval_idx, r->n_eval, r->Bl, r->o->seed, 0, true, &bt, err);
    double sum = 0;
    int64_t n = 0;
    for (int64_t i = r->rank; !s && i < bt.n_batches; i += r->size) { /* batch i on rank i mod size */
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
    double tot[2] = {sum, (double)n};
    if (!s) s = sa_dist_allreduce_f64(r->o->dist, tot, 2, err);
    sum = tot[0], n = (int64_t)tot[1];
    if (!s && n) *loss_out = sum / (double)n, *tokens_out = n;
    return s;
}

static void log_metrics(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_metrics(run *r, const char *fmt, ...) {
    if (!r->metrics) return; /* ranks other than 0 */
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

/* Real (non-padding) tokens of a planned micro-batch row set, for tokens/s. */
static int64_t real_rows(const run *r, const uint32_t *idx, int32_t B) {
    int64_t rows = 0, maxT = r->o->seq_len - 1;
    for (int32_t b = 0; b < B; b++)
        if (idx[b] != SA_SFT_NONE) rows += r->data.ex[idx[b]].n - 1 < maxT ? r->data.ex[idx[b]].n - 1 : maxT;
    return rows;
}

/* The planned rows of micro-batch j of a step. */
static sa_status mb_rows(run *r, int64_t step, int64_t j, const uint32_t **rows, sa_err *err) {
    const int64_t G = r->o->grad_accum, nb = (int64_t)((r->n_train + (size_t)r->o->batch - 1) / (size_t)r->o->batch);
    int64_t mb = step * G + j;
    sa_status s = plan_for(r, mb / nb, err);
    *rows = s ? NULL : r->plan.idx + (mb % nb) * r->plan.B;
    return s;
}

static sa_status mb_backward(run *r, int64_t step, int64_t j, int64_t denom, double *lsum, sa_err *err) {
    sa_train_args a = step_args(r, (size_t)j, true);
    a.dropout = r->o->dropout;
    a.dropout_seed = sa_hash_mix(r->o->seed, (uint64_t)(step * r->o->grad_accum + j) + 1);
    a.denom = denom;
    float l;
    int64_t c;
    sa_status s = sa_model_train_step(r->m, &r->acts, &r->k, &a, &l, &c, err);
    *lsum += (double)l * (double)c;
    return s;
}

/* Default mode: every rank takes rows [rank*B/size, (rank+1)*B/size) of each
 * micro-batch; gradients and loss sums are all-reduced. With one process
 * this is plain gradient accumulation. */
static sa_status step_grads_split(run *r, int64_t step, int64_t *n_step, int64_t *rows_step, double *lsum,
                                  sa_err *err) {
    const sa_train_opts *o = r->o;
    const int64_t G = o->grad_accum;
    size_t per = (size_t)r->Bl * (size_t)(o->seq_len - 1);
    int64_t n_local = 0;
    sa_status s = SA_OK;
    for (int64_t j = 0; j < G && !s; j++) {
        const uint32_t *rows;
        if ((s = mb_rows(r, step, j, &rows, err))) break;
        int32_t B = r->plan.B, lo = (int32_t)((int64_t)B * r->rank / r->size),
                hi = (int32_t)((int64_t)B * (r->rank + 1) / r->size);
        for (int32_t b = 0; b < r->Bl; b++) r->lidx[b] = lo + b < hi ? rows[lo + b] : SA_SFT_NONE;
        sa_sft_batch_fill(&r->data, r->lidx, r->Bl, o->seq_len - 1, r->tokens + j * per, r->targets + j * per,
                          r->mask + j * per, &r->Ts[j], &r->nloss[j]);
        n_local += r->nloss[j];
        *rows_step += real_rows(r, rows, B);
    }
    if (s) return s;
    /* the loss is normalised by the response tokens of the whole global step */
    double n_all = (double)n_local;
    if ((s = sa_dist_allreduce_f64(o->dist, &n_all, 1, err))) return s;
    *n_step = (int64_t)n_all;
    memset(r->grads, 0, r->n_params * sizeof(float));
    for (int64_t j = 0; j < G && *n_step && !s; j++)
        if (r->nloss[j]) s = mb_backward(r, step, j, *n_step, lsum, err);
    if (!s && r->size > 1 && *n_step) s = sa_dist_allreduce_f32(o->dist, r->grads, r->n_params, err);
    if (!s) s = sa_dist_allreduce_f64(o->dist, lsum, 1, err);
    return s;
}

/* Deterministic mode (trainer.h): micro-batch j belongs to rank
 * floor(j*size/G), its gradient goes alone into slot j, the slots are
 * all-reduced (one non-zero contributor per element: exact) and summed in
 * the order j = 0, 1, ... on every rank. */
static sa_status step_grads_fixed(run *r, int64_t step, int64_t *n_step, int64_t *rows_step, double *lsum,
                                  sa_err *err) {
    const sa_train_opts *o = r->o;
    const int64_t G = o->grad_accum;
    const size_t P = r->n_params, per = (size_t)r->Bl * (size_t)(o->seq_len - 1);
    sa_status s = SA_OK;
    for (int64_t j = 0; j < G && !s; j++) { /* every rank fills every micro-batch: n_step is known to all */
        const uint32_t *rows;
        if ((s = mb_rows(r, step, j, &rows, err))) break;
        sa_sft_batch_fill(&r->data, rows, r->plan.B, o->seq_len - 1, r->tokens + j * per, r->targets + j * per,
                          r->mask + j * per, &r->Ts[j], &r->nloss[j]);
        *n_step += r->nloss[j];
        *rows_step += real_rows(r, rows, r->plan.B);
    }
    if (s) return s;
    memset(r->slots, 0, (size_t)G * P * sizeof(float));
    for (int64_t j = 0; j < G; j++) r->mb_loss[j] = 0;
    for (int64_t j = 0; j < G && *n_step && !s; j++) {
        if (j * r->size / G != r->rank || !r->nloss[j]) continue;
        memset(r->grads, 0, P * sizeof(float));
        if ((s = mb_backward(r, step, j, *n_step, &r->mb_loss[j], err))) break;
        float *slot = r->slots + (size_t)j * P;
        for (size_t i = 0; i < P; i++) slot[i] = r->grads[i] == 0.0f ? 0.0f : r->grads[i]; /* -0 -> +0 */
    }
    if (!s && r->size > 1 && *n_step) s = sa_dist_allreduce_f32(o->dist, r->slots, (size_t)G * P, err);
    if (!s) s = sa_dist_allreduce_f64(o->dist, r->mb_loss, (size_t)G, err);
    if (s) return s;
    memcpy(r->grads, r->slots, P * sizeof(float));
    for (int64_t j = 1; j < G; j++) {
        const float *slot = r->slots + (size_t)j * P;
        for (size_t i = 0; i < P; i++) r->grads[i] += slot[i];
    }
    for (int64_t j = 0; j < G; j++) *lsum += r->mb_loss[j];
    return SA_OK;
}

/* The data-parallel invariant, checked once at the end: every rank holds
 * the same trainable bits (a hash compared through max(h) and max(~h)). */
static sa_status check_same_weights(run *r, sa_err *err) {
    uint64_t h = sa_hash64(r->params, r->n_params * sizeof(float), 0) >> 1; /* fits int64 */
    int64_t v[2] = {(int64_t)h, -(int64_t)h};
    sa_status s = sa_dist_allreduce_max_i64(r->o->dist, v, 2, err);
    if (s) return s;
    if (v[0] != (int64_t)h || -v[1] != (int64_t)h)
        return sa_err_set(err, SA_ERR_INTERNAL, "train: the weights differ between ranks after the last step (a bug)");
    SA_LOG_INFO(&r->log, "weights identical on all %d ranks (hash %016llx)", r->size, (unsigned long long)h);
    return SA_OK;
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
            if (r->rank == 0 && (s = sa_metrics_truncate(opath(r, "metrics.jsonl"), start, err))) return s;
        }
    } else if (r->rank == 0 && (s = sa_metrics_truncate(opath(r, "metrics.jsonl"), -1, err))) {
        return s;
    }
    /* every rank has read the checkpoint before rank 0 may write the next one */
    if ((s = sa_dist_barrier(o->dist, err))) return s;
    res->resumed_from = start;
    if (r->rank == 0) {
        r->metrics = fopen(opath(r, "metrics.jsonl"), "a");
        if (!r->metrics) return sa_err_set(err, SA_ERR_IO, "%s: cannot open for appending", sa_strbuf_cstr(&r->path));
    }
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
    sa_progress_init(&prog, "train", (uint64_t)total, o->quiet || r->rank ? NULL : (o->log ? o->log : stderr));
    sa_progress_set(&prog, (uint64_t)start);
    double t0 = sa_progress_clock_monotonic(NULL), t_log = t0;
    int64_t rows_log = 0, rows_all = 0, done_here = 0;
    bool first = true;
    for (int64_t step = start; step < total; step++) {
        int64_t n_step = 0, rows_step = 0;
        double lsum = 0;
        if ((s = o->deterministic ? step_grads_fixed(r, step, &n_step, &rows_step, &lsum, err)
                                  : step_grads_split(r, step, &n_step, &rows_step, &lsum, err)))
            goto out;
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
        int64_t stop_v = (o->stop_after > 0 && done_here >= o->stop_after) || sa_signal_pending();
        if ((s = sa_dist_allreduce_max_i64(o->dist, &stop_v, 1, err))) goto out; /* all ranks stop together */
        bool stop = stop_v != 0;
        if (r->rank == 0 && (last || stop || (o->save_every > 0 && done % o->save_every == 0))) {
            if ((s = sa_ckpt_save(o->out_dir, done, r->params, &r->opt, sa_strbuf_cstr(&r->config_json), err))) goto out;
        }
        if (stop && !last) {
            s = sa_err_set(err, SA_ERR_INTERRUPTED, "train: interrupted at step %" PRId64 "; checkpoint written (resume "
                                                    "to continue)", done);
            goto out;
        }
    }
    res->steps = total;
    if (r->size > 1 && (s = check_same_weights(r, err))) goto out;
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
    r.rank = sa_dist_rank(o->dist), r.size = sa_dist_size(o->dist);
    if (r.rank) r.log.level = SA_LOG_LEVEL_WARN; /* rank 0 speaks for the group */
    int threads = o->threads;
    if (threads <= 0 && r.size > 1) { /* ranks share the node's CPUs unless told otherwise */
        threads = sa_cpu_count() / r.size;
        if (threads < 1) threads = 1;
    }
    sa_kernels_init(&r.k, threads);
    sa_status s = sa_mkdir_p(o->out_dir, 0755, err);
    if (!s) s = setup_model(&r, err);
    if (!s) s = setup_data(&r, err);
    if (!s && r.rank == 0) s = write_data_stats(&r, err);
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
        if (r.size > 1)
            SA_LOG_INFO(&r.log, "data-parallel over %d ranks (%s mode, %d threads each)", r.size,
                        o->deterministic ? "deterministic" : "default", r.k.n_threads);
        s = train_loop(&r, res, err);
    }
    if (!s && r.rank == 0) s = export_all(&r, err);
    if (!s) SA_LOG_INFO(&r.log, "done: %s", opath(&r, "model"));
    if (r.metrics) fclose(r.metrics);
    sa_sft_batches_free(&r.plan);
    free(r.tokens), free(r.targets), free(r.mask), free(r.Ts), free(r.nloss);
    free(r.lidx), free(r.slots), free(r.mb_loss);
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
