/* demo_run.c — `selfalign demo`: world, base model, Humpback, evaluation
 * (demo_world.h). Each step calls the module that owns it: the world
 * generator, sa_model (random init), sa_train_run (plain-text
 * pretraining), sa_humpback_run, and the local engine for the answers the
 * checker scores. */
#include "sa/demo_world.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/chat.h"
#include "sa/dromedary.h"
#include "sa/engine.h"
#include "sa/fileio.h"
#include "sa/humpback.h"
#include "sa/json.h"
#include "sa/model.h"
#include "sa/prompts.h"
#include "sa/rng.h"
#include "sa/record.h"
#include "sa/report.h"
#include "sa/run.h"
#include "sa/signal.h"
#include "sa/tokenizer.h"
#include "sa/trainer.h"

#include "demo_internal.h"

static const char *const k_models[SA_DEMO_MODELS] = {"m0", "m1", "m2", "control", "dromedary"};
static const char *const k_labels[SA_DEMO_MODELS] = {"M0", "M1", "M2", "control (uncurated)", "Dromedary"};

sa_demo_run_opts sa_demo_run_defaults(void) {
    sa_demo_run_opts o;
    memset(&o, 0, sizeof o);
    o.out_dir = "demo";
    o.seed = 1;
    o.min_score = NAN;
    o.min_copy_probe = 0.5;
    return o;
}

typedef struct run {
    const sa_demo_run_opts *o;
    FILE *log;
    sa_strbuf p[4]; /* scratch paths */
    double t0;
    json_t *res;    /* demo_results.json */
    sa_run *run;    /* the demo's run directory (manifest, stage states) */
} run;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *path(run *r, int i, const char *a, const char *b) {
    sa_strbuf_reset(&r->p[i]);
    if (sa_path_join(&r->p[i], r->o->out_dir, a)) return NULL;
    if (b && (sa_strbuf_putc(&r->p[i], '/') || sa_strbuf_puts(&r->p[i], b))) return NULL;
    return sa_strbuf_cstr(&r->p[i]);
}

static void say(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(run *r, const char *fmt, ...) {
    fprintf(r->log, "demo [%6.1fs] ", now_s() - r->t0);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->log, fmt, ap);
    va_end(ap);
    fputc('\n', r->log);
    fflush(r->log);
}

/* ---- sizes ---- */

typedef struct shape {
    int32_t dim, hidden, layers, heads, seq_len;
    int64_t pretrain_steps;
    int32_t epochs;
    double min_score;
    int32_t dromedary_epochs;
    int64_t model_steps;
} shape;

/* The full demo's pmi threshold, 0.3: in the score histograms of seeds 1-3
 * (and seed 1 at two threads) it keeps 94-100% of the correctly labelled
 * clean pages in round 2 and at most 7% of the decoys; 0.2 kept up to 43%
 * of the decoys in some runs. */
static shape demo_shape(const sa_demo_run_opts *o) {
    shape s = o->quick ? (shape){64, 192, 2, 4, 128, 150, 4, 0.1, 1, 0} : (shape){128, 384, 4, 4, 128, 1800, 8, 0.3, 3, 700};
    if (o->pretrain_steps > 0) s.pretrain_steps = o->pretrain_steps;
    if (o->epochs > 0) s.epochs = o->epochs;
    if (o->model_steps != 0) s.model_steps = o->model_steps > 0 ? o->model_steps : 0;
    if (!isnan(o->min_score)) s.min_score = o->min_score;
    return s;
}

/* ---- base model ---- */

static sa_status copy_file(const char *from, const char *to, sa_err *err) {
    sa_strbuf b = {0};
    sa_status s = sa_file_read_strbuf(from, &b, err);
    if (!s) s = sa_file_write_atomic(to, b.buf ? b.buf : "", b.len, err);
    sa_strbuf_free(&b);
    return s;
}

static sa_status make_init(run *r, const shape *sh, int32_t vocab, uint64_t seed, int64_t *n_params, sa_err *err) {
    sa_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = SA_ARCH_LLAMA;
    c.dim = sh->dim, c.hidden_dim = sh->hidden, c.n_layers = sh->layers, c.n_heads = sh->heads;
    c.n_kv_heads = sh->heads, c.head_dim = sh->dim / sh->heads;
    c.vocab_size = vocab; /* no padding: the engine may sample any row of the classifier */
    c.max_seq_len = 1024, c.rope_theta = 10000.0f, c.norm_eps = 1e-5f;
    c.rope_layout = SA_ROPE_LAYOUT_NEOX, c.tied_embeddings = true;
    c.bos_id = SA_DEMO_TOK_EOT, c.eos_id = SA_DEMO_TOK_EOT;
    *n_params = sa_model_config_n_params(&c);
    sa_model *m = NULL;
    sa_status s = sa_model_alloc(&m, &c, err);
    if (s) return s;
    sa_model_randomize(m, seed, 0.02f);
    s = sa_model_save_hf(m, path(r, 0, "init", NULL), SA_DTYPE_F32, err);
    sa_model_free(m);
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2 && !s; i++) s = copy_file(path(r, 1, "world/tokenizer", files[i]), path(r, 2, "init", files[i]), err);
    return s;
}

static sa_status pretrain(run *r, const shape *sh, uint64_t seed, sa_train_result *tr, sa_err *err) {
    sa_train_opts t = sa_train_defaults();
    const char *data[] = {path(r, 0, "world", "pretrain.jsonl")};
    t.base = path(r, 1, "init", NULL);
    t.data = data, t.n_data = 1;
    t.out_dir = path(r, 2, "base", NULL);
    t.text_mode = true;
    t.seq_len = sh->seq_len;
    t.steps = sh->pretrain_steps;
    t.batch = 16;
    t.sched = (sa_lr_schedule){.type = SA_LR_COSINE, .lr = 3e-3f, .lr_final = 3e-4f, .warmup = sh->pretrain_steps / 20};
    t.seed = seed;
    t.threads = r->o->threads;
    t.log_every = 50;
    t.resume = true;
    t.log = r->log;
    t.quiet = r->o->quiet;
    return sa_train_run(&t, tr, err);
}

/* ---- Humpback ---- */

/* The settings of every fine-tune of the demo (Humpback's and Dromedary's). */
static void demo_finetune(sa_train_opts *t, int32_t epochs) {
    t->seq_len = 192;
    t->epochs = epochs;
    t->batch = 16;
    t->sched = (sa_lr_schedule){.type = SA_LR_LINEAR, .lr = 1e-3f, .lr_final = 1e-4f, .warmup = 5};
    t->log_every = 25;
}

static sa_status humpback(run *r, const shape *sh, sa_err *err) {
    sa_humpback_opts o = sa_humpback_defaults();
    const char *corpus[] = {path(r, 0, "world", "unlabeled")};
    o.run_dir = path(r, 1, "humpback", NULL);
    o.base = path(r, 2, "base", "model");
    o.seed_path = path(r, 3, "world", "seed.jsonl");
    o.corpus = corpus, o.n_corpus = 1;
    o.iterations = 2;
    o.control = true;
    o.model_steps = sh->model_steps;
    o.mode = SA_CURATE_PMI;
    o.min_score = sh->min_score;
    o.corpus_opts.min_chars = 40;
    o.corpus_opts.max_chars = 1500;
    o.bt_max_tokens = 48;
    /* greedy backtranslation: sampling at 0.7 from a model this small
     * garbles the genre word the instruction must copy from the page */
    o.bt_temperature = 0.0f;
    o.max_instruction_chars = 300;
    demo_finetune(&o.train, sh->epochs);
    o.seed = r->o->seed;
    o.gen_batch = 16;
    o.threads = r->o->threads;
    o.log = r->log;
    o.quiet = r->o->quiet;
    return sa_humpback_run(&o, err);
}


/* ---- what the base model can do: a copying probe ----
 *
 * Every later step copies words (page -> instruction, instruction ->
 * answer), so the base is probed for exactly that, not judged by its loss:
 * "Words: w1 .. wn.\nOnce more:" with n = 4 random world words in an order
 * never seen, greedy; a hit is the exact list back. Chance is about 0. */
static sa_status copy_probe(run *r, const char *model_dir, double *acc, sa_err *err) {
    enum { N = 40 };
    sa_strbuf wj = {0};
    json_t *w = NULL;
    sa_status s = sa_file_read_strbuf(path(r, 0, "world", "world.json"), &wj, err);
    if (!s) s = sa_json_parse(wj.buf, wj.len, "world.json", &w, err);
    sa_strbuf_free(&wj);
    if (s) return s;
    const json_t *wi = json_object_get(w, "items"), *ents = json_object_get(w, "entities");
    size_t ni = json_array_size(wi), ne = json_array_size(ents);
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    char prompt[N][256], want[N][256], *outs[N] = {0};
    sa_gen_request rq[N];
    sa_rng rng;
    sa_rng_init(&rng, r->o->seed ^ 0x70726f6265ull);
    for (int i = 0; i < N; i++) {
        char list[200] = "";
        for (int k = 0; k < 4 && ni && ne; k++) {
            const char *word = sa_rng_below(&rng, 2) ? json_string_value(json_array_get(wi, sa_rng_below(&rng, ni)))
                                                     : json_string_value(json_object_get(
                                                           json_array_get(ents, sa_rng_below(&rng, ne)), "name"));
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", k ? " " : "", word ? word : "");
        }
        snprintf(prompt[i], sizeof prompt[i], "Words: %s.\nOnce more:", list);
        snprintf(want[i], sizeof want[i], " %s.", list);
        rq[i] = sa_gen_request_default();
        rq[i].id = (uint64_t)i, rq[i].prompt = prompt[i], rq[i].max_tokens = 8;
        rq[i].sampling = sa_sampling_greedy();
        static const char *const stop[] = {"\n"};
        rq[i].stop = stop, rq[i].n_stop = 1;
    }
    s = sa_model_load(&m, model_dir, err);
    if (!s) s = sa_tokenizer_load(&tok, model_dir, err);
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = 16;
    eo.n_threads = r->o->threads;
    if (!s) s = sa_engine_local_new(&e, m, tok, &eo, err);
    if (!s) s = sa_engine_generate(e, rq, N, demo_collect_text, outs, err);
    int hits = 0;
    for (int i = 0; i < N; i++) {
        if (!s && outs[i] && strncmp(outs[i], want[i], strlen(want[i])) == 0) hits++;
        free(outs[i]);
    }
    *acc = hits / (double)N;
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    json_decref(w);
    return s;
}

/* ---- what backtranslation and curation did, against the world's truth ---- */

/* A candidate is CLEAN when its output is one well-formed genre document,
 * and RIGHT when, besides, its instruction asks for exactly that document. */
static bool classify(const sa_record *rec, bool *right, bool *heldout) {
    sa_demo_task doc, ask;
    *right = false;
    *heldout = false;
    if (!rec->output || !sa_demo_doc_parse(rec->output, strlen(rec->output), &doc)) return false;
    *heldout = sa_demo_genre_heldout(doc.genre);
    if (rec->instruction && sa_demo_task_parse(rec->instruction, &ask) && ask.genre == doc.genre &&
        strcmp(ask.entity, doc.entity) == 0) {
        *right = true;
        for (int k = 0; k < SA_DEMO_ITEMS; k++) *right = *right && strcmp(ask.items[k], doc.items[k]) == 0;
    }
    return true;
}

/* Counts over a candidates file; with has_threshold, also what was
 * selected (score >= min_score). */
static sa_status analyse(const char *file, bool has_threshold, double min_score, json_t **out, sa_err *err) {
    sa_record_reader rd;
    sa_record_reader_opts ro = {.format = SA_RECORD_FORMAT_OURS, .policy = SA_JSONL_SKIP};
    sa_status s = sa_record_reader_open(&rd, file, &ro, err);
    if (s) return s;
    sa_record rec;
    sa_record_init(&rec);
    int64_t n = 0, clean = 0, right = 0, held_clean = 0, held_right = 0, sel = 0, sel_clean = 0, sel_right = 0,
            sel_held_clean = 0;
    double sc_clean = 0, sc_junk = 0;
    while ((s = sa_record_reader_next(&rd, &rec, err)) == SA_OK) {
        bool ok, ho, is_clean = classify(&rec, &ok, &ho);
        bool is_sel = has_threshold && rec.has_score && rec.score >= min_score;
        n++;
        clean += is_clean, right += ok, held_clean += is_clean && ho, held_right += ok && ho;
        sel += is_sel, sel_clean += is_sel && is_clean, sel_right += is_sel && ok, sel_held_clean += is_sel && is_clean && ho;
        if (rec.has_score) {
            if (is_clean) sc_clean += rec.score;
            else sc_junk += rec.score;
        }
    }
    if (s == SA_ERR_EOF) s = SA_OK;
    sa_record_free(&rec);
    sa_record_reader_close(&rd);
    if (s) return s;
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I}", "candidates", (json_int_t)n, "clean", (json_int_t)clean,
                          "clean_right_instruction", (json_int_t)right, "heldout_clean", (json_int_t)held_clean,
                          "heldout_right_instruction", (json_int_t)held_right);
    if (j && has_threshold) {
        json_object_set_new(j, "min_score", json_real(min_score));
        json_object_set_new(j, "selected", json_integer(sel));
        json_object_set_new(j, "selected_clean", json_integer(sel_clean));
        json_object_set_new(j, "selected_right", json_integer(sel_right));
        json_object_set_new(j, "selected_heldout_clean", json_integer(sel_held_clean));
        json_object_set_new(j, "precision", json_real(sel ? (double)sel_clean / (double)sel : 0));
        json_object_set_new(j, "recall", json_real(clean ? (double)sel_clean / (double)clean : 0));
        json_object_set_new(j, "junk_kept", json_integer(sel - sel_clean));
        json_object_set_new(j, "junk_total", json_integer(n - clean));
        json_object_set_new(j, "mean_score_clean", json_real(clean ? sc_clean / (double)clean : 0));
        json_object_set_new(j, "mean_score_junk", json_real(n > clean ? sc_junk / (double)(n - clean) : 0));
    }
    *out = j;
    return j ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
}

/* ---- Dromedary (short) ---- */

static sa_status dromedary(run *r, const shape *sh, sa_err *err) {
    sa_dromedary_opts o = sa_dromedary_defaults();
    o.run_dir = path(r, 0, "dromedary", NULL);
    o.base = path(r, 1, "base", "model");
    o.seed_path = path(r, 2, "world", "seed.jsonl");
    o.prompts_dir = path(r, 3, "world", "prompts");
    o.target = r->o->quick ? 4 : 16;
    o.max_rounds = r->o->quick ? 1 : 3;
    o.k = 4;
    o.si_max_tokens = 48;
    o.answer_max_tokens = 96; /* thoughts and the answer */
    /* one worked exemplar: the base was pretrained on 128-token windows, and
     * with both (a 271-token fixed part) the query sat where it never learned
     * to read. Seed 1: 54 of 300 answers passed the filters, most naming the
     * base's favourite entity and thing; with one (184 tokens) 274 passed,
     * and the Dromedary model's seen-genre form rose from 0.17 to 0.60
     * (content 0.03 to 0.10: the answers still rarely copy the user's thing) */
    o.n_exemplars = 1;
    o.min_words = 5;
    /* greedy, like the demo's backtranslation: sampling at 0.7 from a model
     * this small drifts out of the exemplars' format */
    o.temperature = 0.0f;
    sa_train_opts *t[2] = {&o.engrave, &o.clone};
    for (int k = 0; k < 2; k++) demo_finetune(t[k], sh->dromedary_epochs);
    o.seed = r->o->seed;
    o.gen_batch = 16;
    o.threads = r->o->threads;
    o.log = r->log;
    o.quiet = r->o->quiet;
    return sa_dromedary_run(&o, err);
}

/* The figures of the dromedary run's manifest that say how far it got. */
static json_t *dromedary_summary(run *r) {
    json_t *m = NULL, *sum = json_object();
    bool active = false;
    sa_err e = {0};
    if (!sum || sa_run_read(path(r, 0, "dromedary", NULL), &m, &active, &e)) return sum;
    static const char *const pick[][3] = {
        {"selfinstruct", "accepted", "new_prompts"},       {"principles", "queries", "principle_queries"},
        {"principles", "accepted", "principle_answers"},   {"principles", "rejected", "principle_rejected"},
        {"clone-gen", "accepted", "verbose_answers"},      {"engrave", "final_loss", "engrave_loss_last"},
        {"clone", "final_loss", "clone_loss_last"},
    };
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(m, "stages"), i, st) {
        const char *name = json_string_value(json_object_get(st, "name"));
        for (size_t k = 0; name && k < sizeof pick / sizeof pick[0]; k++) {
            json_t *v = json_object_get(json_object_get(st, "summary"), pick[k][1]);
            if (strcmp(name, pick[k][0]) == 0 && v) json_object_set(sum, pick[k][2], v);
        }
        if (name && strcmp(name, "principles") == 0)
            json_object_set(sum, "principle_rejected_by",
                            json_object_get(json_object_get(st, "summary"), "rejected_by_reason"));
    }
    json_decref(m);
    return sum;
}

/* ---- the run ---- */

static const char *const k_stages[] = {"world", "base", "humpback", "dromedary", "evaluate"};
#define N_STAGES (sizeof k_stages / sizeof k_stages[0])

static json_t *split_json(const sa_demo_split_score *d, double lo, double hi) {
    return json_pack("{s:I, s:f, s:[f,f], s:f, s:f}", "n", (json_int_t)d->n, "pass", d->pass, "pass_ci",
                     isfinite(lo) ? lo : 0.0, isfinite(hi) ? hi : 0.0, "form", d->form, "content", d->content);
}

/* Begin a stage; the caller ends it with stage_end. */
static sa_status stage_begin(run *r, const char *name, sa_err *err) {
    return sa_run_stage_begin(r->run, name, err);
}

static sa_status stage_end(run *r, const char *name, sa_status result, json_t *summary, const sa_err *why) {
    sa_err e2 = {0};
    sa_status s = sa_run_stage_end(r->run, name, result, summary, result ? why->msg : NULL, &e2);
    json_decref(summary);
    (void)s;
    return result;
}

static sa_status write_results(run *r, sa_err *err) {
    sa_strbuf out = {0};
    sa_status s = sa_json_dump_line(r->res, &out, err);
    if (!s) s = sa_file_write_atomic(path(r, 0, "demo_results.json", NULL), out.buf, out.len, err);
    sa_strbuf_free(&out);
    return s;
}

/* Whether the base copies in context is decided early in pretraining and
 * by chance (the initialisation, and the thread count, which changes the
 * rounding): a base that fails the copy probe is set aside as
 * base-failed-<k> (init-failed-<k>) and pretrained again from another
 * initialisation, at most BASE_ATTEMPTS times in all. */
#define BASE_ATTEMPTS 3

static sa_status pretrain_base(run *r, const shape *sh, const sa_demo_world_stats *ws, int attempt, json_t *sum,
                               sa_err *err) {
    sa_status s = SA_OK;
    uint64_t seed = r->o->seed + 1000u * (uint64_t)attempt;
    if (!sa_path_exists(path(r, 0, "base", "model/config.json"))) {
        int64_t n_params = 0;
        s = make_init(r, sh, ws->vocab_size, seed, &n_params, err);
        if (!s) say(r, "2/6 random-init model in %s: %.0f parameters", path(r, 0, "init", NULL), (double)n_params);
        if (!s)
            say(r, "2/6 pretraining the base on world/pretrain.jsonl for %.0f steps%s", (double)sh->pretrain_steps,
                attempt ? " (another initialisation)" : "");
        sa_train_result tr;
        memset(&tr, 0, sizeof tr);
        if (!s) s = pretrain(r, sh, seed, &tr, err);
        if (!s) {
            json_object_set_new(sum, "steps", json_integer((json_int_t)tr.steps));
            json_object_set_new(sum, "loss_first", json_real(tr.first_loss));
            json_object_set_new(sum, "loss_last", json_real(tr.final_loss));
            json_object_set_new(sum, "tokens_per_s", json_real(tr.tokens_per_s));
            json_object_set_new(r->res, "pretrain", json_deep_copy(sum));
        }
    } else {
        say(r, "2/6 base model already pretrained: %s", path(r, 0, "base", "model"));
    }
    return s;
}

/* Set base/ and init/ aside as base-failed-<k>, init-failed-<k>. */
static sa_status set_aside(run *r, int k, sa_err *err) {
    static const char *const dirs[] = {"base", "init"};
    for (int i = 0; i < 2; i++) {
        char to[32];
        snprintf(to, sizeof to, "%s-failed-%d", dirs[i], k);
        if (rename(path(r, 0, dirs[i], NULL), path(r, 1, to, NULL)) != 0)
            return sa_err_set(err, SA_ERR_IO, "demo: renaming %s to %s: %s", path(r, 2, dirs[i], NULL),
                              path(r, 3, to, NULL), strerror(errno));
    }
    return SA_OK;
}

static sa_status base_stage(run *r, const shape *sh, const sa_demo_world_stats *ws, double *probe, sa_err *err) {
    json_t *sum = json_object(), *tries = json_array();
    sa_status s = sum && tries ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    int attempt = 0; /* bases set aside by an earlier (interrupted) run */
    while (attempt + 1 < BASE_ATTEMPTS) {
        char d[32];
        snprintf(d, sizeof d, "base-failed-%d", attempt + 1);
        if (!sa_path_exists(path(r, 0, d, NULL))) break;
        attempt++;
    }
    for (;;) {
        if (!s) s = pretrain_base(r, sh, ws, attempt, sum, err);
        if (!s) s = copy_probe(r, path(r, 3, "base", "model"), probe, err);
        if (s) break;
        json_array_append_new(tries, json_real(*probe));
        if (r->o->min_copy_probe <= 0 || *probe >= r->o->min_copy_probe || attempt + 1 >= BASE_ATTEMPTS) break;
        fprintf(r->log,
                "demo: base copy probe %.0f%% is below %.0f%%: setting it aside (base-failed-%d) and pretraining "
                "from another initialisation\n",
                100 * *probe, 100 * r->o->min_copy_probe, attempt + 1);
        s = set_aside(r, ++attempt, err);
    }
    if (!s) {
        json_object_set_new(sum, "attempts", json_integer(attempt + 1));
        json_object_set(sum, "probes", tries);
    }
    json_decref(tries);
    sa_model_config c;
    if (!s && sa_model_config_from_hf(&c, path(r, 0, "base", "model/config.json"), err) == SA_OK) {
        json_t *mj = json_pack("{s:i, s:i, s:i, s:i, s:i, s:I}", "dim", c.dim, "hidden", c.hidden_dim, "layers",
                               c.n_layers, "heads", c.n_heads, "vocab", c.vocab_size, "params",
                               (json_int_t)sa_model_config_n_params(&c));
        json_object_set_new(r->res, "model", mj);
        json_object_set_new(sum, "params", json_integer((json_int_t)sa_model_config_n_params(&c)));
    }
    if (!s) {
        const char *verdict =
            *probe >= 0.25 ? "the base copies in context"
                           : "the base barely copies in context: backtranslated instructions will not name the "
                             "page's entity and item and the forward models will not copy them into answers, so no "
                             "held-out effect is expected (pretrain longer: --pretrain-steps)";
        json_object_set_new(r->res, "base_copy_probe",
                            json_pack("{s:f, s:s, s:s}", "accuracy", *probe, "what",
                                      "4 random world words said back exactly, greedy; chance ~0", "verdict", verdict));
        json_object_set_new(sum, "copy_probe", json_real(*probe));
        fprintf(r->log, "demo: base model copy probe: %.0f%% of 4-word lists said back exactly (chance ~0): %s\n",
                100 * *probe, verdict);
    }
    return stage_end(r, "base", s, sum, err);
}

static sa_status humpback_stage(run *r, const shape *sh, sa_err *err) {
    say(r, "3/6 humpback: backward model, augmentation, M0, pmi curation >= %.3g, M1, M2, control", sh->min_score);
    sa_status s = humpback(r, sh, err);
    json_t *sum = json_object(), *aug = NULL, *c1 = NULL, *c2 = NULL;
    if (!s && !sum) s = sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    /* what backtranslation and curation did, against the world's truth */
    if (!s) s = analyse(path(r, 0, "humpback", "augment/candidates.jsonl"), false, 0, &aug, err);
    if (!s) s = analyse(path(r, 0, "humpback", "curate-1/scored.jsonl"), true, sh->min_score, &c1, err);
    if (!s) s = analyse(path(r, 0, "humpback", "curate-2/scored.jsonl"), true, sh->min_score, &c2, err);
    if (!s) {
        json_object_set_new(r->res, "candidates", json_incref(aug));
        json_object_set_new(r->res, "curation", json_pack("[O, O]", c1, c2));
        json_int_t n = json_integer_value(json_object_get(aug, "candidates"));
        json_int_t cl = json_integer_value(json_object_get(aug, "clean"));
        json_object_set_new(sum, "candidates", json_integer(n));
        json_object_set_new(sum, "candidates_clean", json_integer(cl));
        json_object_set_new(sum, "candidates_junk", json_integer(n - cl));
        json_object_set_new(sum, "candidates_heldout_clean", json_incref(json_object_get(aug, "heldout_clean")));
        fprintf(r->log, "demo: %lld candidates, %lld clean documents (%lld with the exact instruction), %lld junk\n",
                (long long)n, (long long)cl,
                (long long)json_integer_value(json_object_get(aug, "clean_right_instruction")), (long long)(n - cl));
        json_t *cs[2] = {c1, c2};
        for (int k = 0; k < 2; k++) {
            char key[32];
            fprintf(r->log, "demo: curate-%d kept %lld: precision %.3f, recall %.3f, junk kept %lld of %lld\n", k + 1,
                    (long long)json_integer_value(json_object_get(cs[k], "selected")),
                    json_real_value(json_object_get(cs[k], "precision")),
                    json_real_value(json_object_get(cs[k], "recall")),
                    (long long)json_integer_value(json_object_get(cs[k], "junk_kept")),
                    (long long)json_integer_value(json_object_get(cs[k], "junk_total")));
            snprintf(key, sizeof key, "curate%d_kept", k + 1);
            json_object_set_new(sum, key, json_incref(json_object_get(cs[k], "selected")));
            snprintf(key, sizeof key, "curate%d_junk_kept", k + 1);
            json_object_set_new(sum, key, json_incref(json_object_get(cs[k], "junk_kept")));
            snprintf(key, sizeof key, "curate%d_precision", k + 1);
            json_object_set_new(sum, key, json_incref(json_object_get(cs[k], "precision")));
            snprintf(key, sizeof key, "curate%d_recall", k + 1);
            json_object_set_new(sum, key, json_incref(json_object_get(cs[k], "recall")));
        }
    }
    json_decref(aug);
    json_decref(c1);
    json_decref(c2);
    return stage_end(r, "humpback", s, sum, err);
}

static sa_status evaluate_stage(run *r, sa_demo_results *res, sa_err *err) {
    sa_demo_items it = {0};
    sa_prompts *tags = NULL, *world_pr = NULL;
    json_t *sum = json_object(), *models = json_object();
    sa_status s = sum && models ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    if (!s) s = sa_demo_items_load(path(r, 0, "world", "eval.jsonl"), &it, err);
    if (!s) s = sa_prompts_load(&tags, NULL, err);
    if (!s) s = sa_prompts_load(&world_pr, path(r, 0, "world", "prompts"), err);
    if (!s) s = sa_mkdir_p(path(r, 0, "eval", NULL), 0777, err);
    sa_demo_chance ch[2] = {res->chance_heldout, res->chance_seen};
    sa_demo_eval_spec spec[SA_DEMO_MODELS];
    char dirs[SA_DEMO_MODELS][4096];
    for (int k = 0; k < SA_DEMO_MODELS && !s; k++) {
        bool is_dr = k == SA_DEMO_MODELS - 1;
        char md[64];
        snprintf(md, sizeof md, "%s/model", k_models[k]);
        snprintf(dirs[k], sizeof dirs[k], "%s", is_dr ? path(r, 1, "dromedary", "clone/model") : path(r, 1, "humpback", md));
        spec[k] = (sa_demo_eval_spec){r->o->out_dir, k_models[k], k_labels[k], dirs[k],
                                      is_dr ? NULL : sa_prompts_get(tags, "tag_seed"), r->o->threads, r->o->seed};
        char cfgp[4200];
        snprintf(cfgp, sizeof cfgp, "%s/config.json", dirs[k]);
        if (!sa_path_exists(cfgp)) {
            say(r, "6/6 %s: no model (%s), not evaluated", k_labels[k], dirs[k]);
            continue;
        }
        say(r, "6/6 evaluating %s on the held-out and seen instructions", k_labels[k]);
        sa_demo_eval_result er;
        s = sa_demo_eval_model(&spec[k], &it, ch, &er, err);
        if (s) break;
        res->evaluated[k] = true;
        res->heldout[k] = er.heldout, res->seen[k] = er.seen;
        res->heldout_lo[k] = er.heldout_lo, res->heldout_hi[k] = er.heldout_hi;
        res->nll_heldout[k] = er.nll_heldout;
        res->answer_prompts_per_s[k] = er.answer_prompts_per_s;
        res->nll_prompts_per_s[k] = er.nll_prompts_per_s;
        json_t *mj = json_pack("{s:o, s:o, s:f, s:f, s:f, s:f}", "heldout",
                               split_json(&er.heldout, er.heldout_lo, er.heldout_hi), "seen",
                               split_json(&er.seen, er.seen_lo, er.seen_hi), "nll_heldout",
                               isfinite(er.nll_heldout) ? er.nll_heldout : 0.0, "nll_seen",
                               isfinite(er.nll_seen) ? er.nll_seen : 0.0, "answer_prompts_per_s",
                               er.answer_prompts_per_s, "nll_prompts_per_s", er.nll_prompts_per_s);
        json_object_set_new(models, k_models[k], mj);
        char key[48];
        snprintf(key, sizeof key, "%s_heldout_pass", k_models[k]);
        json_object_set_new(sum, key, json_real(er.heldout.pass));
        snprintf(key, sizeof key, "%s_seen_pass", k_models[k]);
        json_object_set_new(sum, key, json_real(er.seen.pass));
    }
    res->pairwise_win_rate = res->pairwise_lo = res->pairwise_hi = res->pairwise_order_bias = NAN;
    if (!s && res->evaluated[2] && res->evaluated[0]) {
        say(r, "6/6 pairwise: M2 against M0 on the held-out instructions, M2 judging both orders (logits)");
        sa_eval_pairwise_result pr;
        s = sa_demo_eval_pairwise(&spec[2], &spec[0], world_pr, &it, &pr, err);
        if (!s) {
            res->pairwise_win_rate = pr.sum.win_rate, res->pairwise_lo = pr.sum.win_rate_lo;
            res->pairwise_hi = pr.sum.win_rate_hi, res->pairwise_order_bias = pr.sum.order_bias;
            res->pairwise_prompts_per_s = pr.prompts_per_s;
            json_object_set_new(
                r->res, "pairwise_m2_m0",
                json_pack("{s:f, s:[f,f], s:f, s:I, s:I, s:I, s:f, s:s}", "win_rate",
                          isfinite(pr.sum.win_rate) ? pr.sum.win_rate : 0.0, "win_rate_ci",
                          isfinite(pr.sum.win_rate_lo) ? pr.sum.win_rate_lo : 0.0,
                          isfinite(pr.sum.win_rate_hi) ? pr.sum.win_rate_hi : 0.0, "order_bias",
                          isfinite(pr.sum.order_bias) ? pr.sum.order_bias : 0.0, "wins", (json_int_t)pr.sum.wins,
                          "ties", (json_int_t)pr.sum.ties, "losses", (json_int_t)pr.sum.losses, "prompts_per_s",
                          pr.prompts_per_s, "judge",
                          "M2 itself, logits mode, both orders: a 1M-parameter world model, not a real judge; the "
                          "checker's pass is the measure"));
            json_object_set_new(sum, "pairwise_m2_vs_m0_win_rate", json_real(isfinite(pr.sum.win_rate) ? pr.sum.win_rate : 0));
            json_object_set_new(sum, "pairwise_order_bias", json_real(isfinite(pr.sum.order_bias) ? pr.sum.order_bias : 0));
        }
    }
    json_object_set_new(r->res, "models", models);
    sa_prompts_free(tags);
    sa_prompts_free(world_pr);
    sa_demo_items_free(&it);
    return stage_end(r, "evaluate", s, sum, err);
}

sa_status sa_demo_run(const sa_demo_run_opts *o, sa_demo_results *res, sa_err *err) {
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.log = o->log ? o->log : stderr;
    r.t0 = now_s();
    r.res = json_object();
    sa_demo_results local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    for (int k = 0; k < SA_DEMO_MODELS; k++) res->model_names[k] = k_models[k];
    shape sh = demo_shape(o);
    sa_status s = r.res ? sa_mkdir_p(o->out_dir, 0777, err) : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    json_t *cfg = json_pack("{s:I, s:b, s:I, s:i, s:I, s:i, s:f, s:i, s:i, s:i, s:i}", "seed", (json_int_t)o->seed,
                            "quick", o->quick, "pretrain_steps", (json_int_t)sh.pretrain_steps, "epochs", sh.epochs,
                            "model_steps", (json_int_t)sh.model_steps,
                            "dromedary_epochs", sh.dromedary_epochs, "min_score", sh.min_score, "dim", sh.dim,
                            "layers", sh.layers, "hidden", sh.hidden, "heads", sh.heads);
    if (!s && !cfg) s = sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    if (!s) s = sa_run_open(&r.run, o->out_dir, "demo", cfg, k_stages, N_STAGES, err);
    json_decref(cfg);

    /* 1. the world (always rewritten: it is deterministic and takes a second) */
    sa_demo_world_opts wo = sa_demo_world_defaults(o->quick);
    wo.seed = o->seed;
    sa_demo_world_stats ws;
    memset(&ws, 0, sizeof ws);
    if (!s) say(&r, "1/6 writing the world (seed %.0f)", (double)o->seed);
    if (!s && !(s = stage_begin(&r, "world", err))) {
        s = sa_demo_world_write(&wo, path(&r, 0, "world", NULL), &ws, err);
        json_t *w = NULL, *sum = NULL;
        if (!s) s = sa_json_load_file(path(&r, 0, "world", "world.json"), 1 << 24, &w, err);
        if (!s) {
            json_object_set_new(r.res, "world", json_pack("{s:O, s:O}", "sizes", json_object_get(w, "sizes"),
                                                            "chance", json_object_get(w, "chance")));
            res->chance_heldout = (sa_demo_chance){ws.chance_pass, ws.chance_form, ws.chance_content};
            json_t *cs = json_object_get(json_object_get(w, "chance"), "seen");
            res->chance_seen = (sa_demo_chance){json_real_value(json_object_get(cs, "pass")),
                                                json_real_value(json_object_get(cs, "form")),
                                                json_real_value(json_object_get(cs, "content"))};
            sum = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:f, s:f}", "pretrain_docs",
                            (json_int_t)ws.pretrain_docs, "pages", (json_int_t)ws.pages, "pages_decoy",
                            (json_int_t)ws.pages_by_kind[SA_DEMO_PAGE_DECOY], "seed_pairs", (json_int_t)ws.seed_pairs,
                            "eval_heldout", (json_int_t)ws.eval_heldout, "eval_seen", (json_int_t)ws.eval_seen,
                            "vocab", ws.vocab_size, "chance_heldout_pass", ws.chance_pass, "chance_heldout_form",
                            ws.chance_form);
            fprintf(r.log,
                    "demo: %lld pretraining documents, %lld web pages (%lld decoys), %lld seed pairs, %lld held-out + "
                    "%lld seen eval items, %d-token vocabulary; held-out chance: pass %.3f, form %.3f, content %.3f\n",
                    (long long)ws.pretrain_docs, (long long)ws.pages, (long long)ws.pages_by_kind[SA_DEMO_PAGE_DECOY],
                    (long long)ws.seed_pairs, (long long)ws.eval_heldout, (long long)ws.eval_seen, ws.vocab_size,
                    ws.chance_pass, ws.chance_form, ws.chance_content);
        }
        json_decref(w);
        s = stage_end(&r, "world", s, sum, err);
    }
    double t_world = now_s();

    /* 2. the base model and what it can do */
    double probe = 0;
    if (!s && !(s = stage_begin(&r, "base", err))) s = base_stage(&r, &sh, &ws, &probe, err);
    res->copy_probe = probe;
    if (!s && o->min_copy_probe > 0 && probe < o->min_copy_probe) {
        json_object_set_new(r.res, "stopped",
                            json_sprintf("after pretraining: the base copy probe %.3f is below %.3f", probe,
                                         o->min_copy_probe));
        s = write_results(&r, err);
        if (!s)
            s = sa_err_set(err, SA_ERR_RANGE,
                           "demo: the base copy probe %.3f is below --min-copy-probe %.3f; stopped after pretraining "
                           "(%s/demo_results.json): pretrain longer (--pretrain-steps) or try another --seed",
                           probe, o->min_copy_probe, o->out_dir);
    }
    double t_base = now_s();

    /* 3. Humpback, with what backtranslation and curation did */
    if (!s && !(s = stage_begin(&r, "humpback", err))) s = humpback_stage(&r, &sh, err);
    double t_hb = now_s();

    /* 4. a short Dromedary from the same base; a run whose base writes no
     * usable principle answer is reported as a failed stage, and the demo
     * goes on to evaluate the Humpback models */
    if (!s && !(s = stage_begin(&r, "dromedary", err))) {
        say(&r, "4/6 dromedary (short): self-instruct, principle answers, engraving, verbose cloning");
        sa_err derr = {0};
        sa_status ds = dromedary(&r, &sh, &derr);
        json_t *dsum = dromedary_summary(&r);
        json_object_set(r.res, "dromedary", dsum);
        stage_end(&r, "dromedary", ds, dsum, &derr);
        if (ds == SA_ERR_INTERRUPTED || ds == SA_ERR_NOMEM) {
            *err = derr;
            s = ds;
        } else if (ds) {
            fprintf(r.log, "demo: dromedary failed (%s); the report shows the stage as failed\n", derr.msg);
            json_object_set_new(r.res, "dromedary_error", json_string(derr.msg));
        }
    }
    double t_dr = now_s();

    /* 5-6. evaluation */
    if (!s && !(s = stage_begin(&r, "evaluate", err))) s = evaluate_stage(&r, res, err);
    double t_end = now_s();
    res->seconds = t_end - r.t0;
    if (!s) {
        json_object_set_new(r.res, "seed", json_integer((json_int_t)o->seed));
        json_object_set_new(r.res, "quick", json_boolean(o->quick));
        json_object_set_new(r.res, "settings",
                            json_pack("{s:s, s:f, s:i, s:I, s:I, s:s, s:s}", "curation", "pmi", "min_score",
                                      sh.min_score, "epochs", sh.epochs, "model_steps", (json_int_t)sh.model_steps,
                                      "pretrain_steps", (json_int_t)sh.pretrain_steps,
                                      "eval_system", "tag_seed", "decoding", "greedy"));
        json_object_set_new(r.res, "seconds",
                            json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "world", t_world - r.t0, "base",
                                      t_base - t_world, "humpback", t_hb - t_base, "dromedary", t_dr - t_hb,
                                      "evaluation", t_end - t_dr, "total", t_end - r.t0));
        s = write_results(&r, err);
    }
    if (r.run) {
        sa_run_close(r.run);
        r.run = NULL;
        /* the page, also after a failure (it shows how far the run got) */
        sa_err rerr = {0};
        if (sa_path_exists(path(&r, 0, "manifest.json", NULL))) {
            if (sa_report_write(o->out_dir, NULL, &rerr) == SA_OK)
                fprintf(r.log, "demo: report: %s\n", path(&r, 0, "report.html", NULL));
            else if (!s)
                s = sa_err_set(err, SA_ERR_IO, "demo: report: %s", rerr.msg);
        }
    }
    json_decref(r.res);
    for (int i = 0; i < 4; i++) sa_strbuf_free(&r.p[i]);
    return s;
}
