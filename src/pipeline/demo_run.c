/* demo_run.c — `selfalign demo`: world, base model, Humpback, evaluation
 * (demo_world.h). Each step calls the module that owns it: the world
 * generator, sa_model (random init), sa_train_run (plain-text
 * pretraining), sa_humpback_run, and the local engine for the answers the
 * checker scores. */
#include "sa/demo_world.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/fileio.h"
#include "sa/humpback.h"
#include "sa/json.h"
#include "sa/model.h"
#include "sa/prompts.h"
#include "sa/rng.h"
#include "sa/record.h"
#include "sa/signal.h"
#include "sa/tokenizer.h"
#include "sa/trainer.h"

#include "demo_internal.h"

static const char *const k_models[SA_DEMO_MODELS] = {"m0", "m1", "m2", "control"};

sa_demo_run_opts sa_demo_run_defaults(void) {
    sa_demo_run_opts o;
    memset(&o, 0, sizeof o);
    o.out_dir = "demo";
    o.seed = 1;
    o.min_score = NAN;
    return o;
}

typedef struct run {
    const sa_demo_run_opts *o;
    FILE *log;
    sa_strbuf p[4]; /* scratch paths */
    double t0;
    json_t *res;    /* demo_results.json */
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
} shape;

static shape demo_shape(const sa_demo_run_opts *o) {
    shape s = o->quick ? (shape){64, 192, 2, 4, 128, 60, 2, 0.5} : (shape){128, 384, 4, 4, 128, 1000, 8, 0.1};
    if (o->pretrain_steps > 0) s.pretrain_steps = o->pretrain_steps;
    if (o->epochs > 0) s.epochs = o->epochs;
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

static sa_status make_init(run *r, const shape *sh, int32_t vocab, int64_t *n_params, sa_err *err) {
    sa_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = SA_ARCH_LLAMA;
    c.dim = sh->dim, c.hidden_dim = sh->hidden, c.n_layers = sh->layers, c.n_heads = sh->heads;
    c.n_kv_heads = sh->heads, c.head_dim = sh->dim / sh->heads;
    c.vocab_size = vocab; /* no padding: the engine may sample any row of the classifier */
    c.max_seq_len = 512, c.rope_theta = 10000.0f, c.norm_eps = 1e-5f;
    c.rope_layout = SA_ROPE_LAYOUT_NEOX, c.tied_embeddings = true;
    c.bos_id = SA_DEMO_TOK_EOT, c.eos_id = SA_DEMO_TOK_EOT;
    *n_params = sa_model_config_n_params(&c);
    sa_model *m = NULL;
    sa_status s = sa_model_alloc(&m, &c, err);
    if (s) return s;
    sa_model_randomize(m, r->o->seed, 0.02f);
    s = sa_model_save_hf(m, path(r, 0, "init", NULL), SA_DTYPE_F32, err);
    sa_model_free(m);
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2 && !s; i++) s = copy_file(path(r, 1, "world/tokenizer", files[i]), path(r, 2, "init", files[i]), err);
    return s;
}

static sa_status pretrain(run *r, const shape *sh, sa_train_result *tr, sa_err *err) {
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
    t.seed = r->o->seed;
    t.threads = r->o->threads;
    t.log_every = 50;
    t.resume = true;
    t.log = r->log;
    t.quiet = r->o->quiet;
    return sa_train_run(&t, tr, err);
}

/* ---- Humpback ---- */

static sa_status humpback(run *r, const shape *sh, sa_err *err) {
    sa_humpback_opts o = sa_humpback_defaults();
    const char *corpus[] = {path(r, 0, "world", "unlabeled")};
    o.run_dir = path(r, 1, "humpback", NULL);
    o.base = path(r, 2, "base", "model");
    o.seed_path = path(r, 3, "world", "seed.jsonl");
    o.corpus = corpus, o.n_corpus = 1;
    o.iterations = 2;
    o.control = true;
    o.mode = SA_CURATE_PMI;
    o.min_score = sh->min_score;
    o.corpus_opts.min_chars = 40;
    o.corpus_opts.max_chars = 1500;
    o.bt_max_tokens = 48;
    /* greedy backtranslation: sampling at 0.7 from a model this small
     * garbles the genre word the instruction must copy from the page */
    o.bt_temperature = 0.0f;
    o.max_instruction_chars = 300;
    o.train.seq_len = 192;
    o.train.epochs = sh->epochs;
    o.train.batch = 16;
    o.train.sched = (sa_lr_schedule){.type = SA_LR_LINEAR, .lr = 1e-3f, .lr_final = 1e-4f, .warmup = 5};
    o.train.log_every = 25;
    o.seed = r->o->seed;
    o.gen_batch = 16;
    o.threads = r->o->threads;
    o.log = r->log;
    o.quiet = r->o->quiet;
    return sa_humpback_run(&o, err);
}

/* ---- evaluation ---- */

typedef struct item {
    sa_demo_task task;
    char *id, *prompt;
    bool heldout;
} item;

typedef struct items {
    item *v;
    size_t n;
} items;

static void items_free(items *it) {
    for (size_t i = 0; i < it->n; i++) free(it->v[i].id), free(it->v[i].prompt);
    free(it->v);
    memset(it, 0, sizeof *it);
}

static sa_status load_items(const char *file, items *out, sa_err *err) {
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
        const char *sp = json_string_value(json_object_get(j, "split"));
        sa_demo_task t;
        if (!s && (!id || !pr || !sp || !sa_demo_task_parse(pr, &t)))
            s = sa_err_set(err, SA_ERR_FORMAT, "%s:%zu: not a demo eval item", file, ln);
        if (!s && out->n == cap) {
            cap = cap ? cap * 2 : 64;
            item *nv = realloc(out->v, cap * sizeof *nv);
            if (!nv) s = sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
            else out->v = nv;
        }
        if (!s) {
            item *x = &out->v[out->n++];
            x->task = t, x->id = strdup(id), x->prompt = strdup(pr), x->heldout = strcmp(sp, "heldout") == 0;
            if (!x->id || !x->prompt) s = sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
        }
        json_decref(j);
        i = e + 1;
    }
    sa_strbuf_free(&b);
    return s;
}

typedef struct gen_ctx {
    char **out;
} gen_ctx;

static sa_status on_gen(void *ctx, const sa_gen_result *res) {
    gen_ctx *g = ctx;
    free(g->out[res->id]);
    g->out[res->id] = strndup(res->text ? res->text : "", res->text_len);
    return g->out[res->id] ? SA_OK : SA_ERR_NOMEM;
}

/* Greedy answers of model_dir to every item, scored; writes out_file. */
static sa_status eval_model(run *r, const char *model_dir, const char *system, const items *it, const char *out_file,
                            sa_demo_split_score *held, sa_demo_split_score *seen, sa_err *err) {
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    sa_chat_template tmpl;
    sa_tokens *ids = calloc(it->n ? it->n : 1, sizeof *ids);
    sa_gen_request *rq = calloc(it->n ? it->n : 1, sizeof *rq);
    char **outs = calloc(it->n ? it->n : 1, sizeof *outs);
    sa_status s = ids && rq && outs ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    if (!s) s = sa_model_load(&m, model_dir, err);
    if (!s) s = sa_tokenizer_load(&tok, model_dir, err);
    bool fell_back = false;
    if (!s) s = sa_chat_template_resolve(tok, NULL, &tmpl, &fell_back, err);
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = 16;
    eo.n_threads = r->o->threads;
    if (!s) s = sa_engine_local_new(&e, m, tok, &eo, err);
    for (size_t i = 0; i < it->n && !s; i++) {
        sa_chat_msg msgs[2] = {{SA_CHAT_ROLE_SYSTEM, system}, {SA_CHAT_ROLE_USER, it->v[i].prompt}};
        s = sa_chat_encode(tok, &tmpl, msgs, 2, true, &ids[i], NULL, err);
        rq[i] = sa_gen_request_default();
        rq[i].id = i;
        rq[i].prompt_tokens = ids[i].ids;
        rq[i].n_prompt_tokens = (int32_t)ids[i].n;
        rq[i].max_tokens = 64;
        rq[i].sampling = sa_sampling_greedy();
        rq[i].seed = r->o->seed;
    }
    gen_ctx g = {outs};
    if (!s) s = sa_engine_generate(e, rq, it->n, on_gen, &g, err);
    sa_strbuf lines = {0};
    memset(held, 0, sizeof *held);
    memset(seen, 0, sizeof *seen);
    for (size_t i = 0; i < it->n && !s; i++) {
        const char *a = outs[i] ? outs[i] : "";
        sa_demo_score sc;
        sa_demo_check(&it->v[i].task, a, strlen(a), &sc);
        sa_demo_split_score *d = it->v[i].heldout ? held : seen;
        d->n++, d->pass += sc.pass, d->form += sc.form, d->content += sc.content;
        json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:b, s:f}", "id", it->v[i].id, "prompt", it->v[i].prompt, "output",
                              a, "pass", sc.pass, "form", sc.form, "content", sc.content);
        s = j ? sa_json_dump_line(j, &lines, err) : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
        json_decref(j);
    }
    sa_demo_split_score *both[2] = {held, seen};
    for (int k = 0; k < 2; k++)
        if (both[k]->n) {
            double n = (double)both[k]->n;
            both[k]->pass /= n, both[k]->form /= n, both[k]->content /= n;
        }
    if (!s) s = sa_file_write_atomic(out_file, lines.buf ? lines.buf : "", lines.len, err);
    sa_strbuf_free(&lines);
    for (size_t i = 0; i < it->n; i++) {
        if (ids) sa_tokens_free(&ids[i]);
        if (outs) free(outs[i]);
    }
    free(ids);
    free(rq);
    free(outs);
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    return s;
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
    gen_ctx g = {outs};
    if (!s) s = sa_engine_generate(e, rq, N, on_gen, &g, err);
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

/* ---- the run ---- */

static json_t *split_json(const sa_demo_split_score *d) {
    return json_pack("{s:I, s:f, s:f, s:f}", "n", (json_int_t)d->n, "pass", d->pass, "form", d->form, "content",
                     d->content);
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

    /* 1. the world */
    sa_demo_world_opts wo = sa_demo_world_defaults(o->quick);
    wo.seed = o->seed;
    sa_demo_world_stats ws;
    if (!s) say(&r, "1/5 writing the world (seed %.0f)", (double)o->seed);
    if (!s) s = sa_demo_world_write(&wo, path(&r, 0, "world", NULL), &ws, err);
    if (!s) {
        json_t *w = NULL;
        s = sa_json_load_file(path(&r, 0, "world", "world.json"), 1 << 24, &w, err);
        if (!s) json_object_set_new(r.res, "world", json_pack("{s:O, s:O}", "sizes", json_object_get(w, "sizes"),
                                                                "chance", json_object_get(w, "chance")));
        json_decref(w);
        res->chance_heldout = (sa_demo_chance){ws.chance_pass, ws.chance_form, ws.chance_content};
        fprintf(r.log,
                "demo: %lld pretraining documents, %lld web pages, %lld seed pairs, %lld held-out + %lld seen eval "
                "items, %d-token vocabulary; held-out chance: pass %.3f, form %.3f, content %.3f\n",
                (long long)ws.pretrain_docs, (long long)ws.pages, (long long)ws.seed_pairs, (long long)ws.eval_heldout,
                (long long)ws.eval_seen, ws.vocab_size, ws.chance_pass, ws.chance_form, ws.chance_content);
    }
    double t_world = now_s();

    /* 2. the base model */
    int64_t n_params = 0;
    bool have_base = sa_path_exists(path(&r, 0, "base", "model/config.json"));
    if (!s && !have_base) {
        s = make_init(&r, &sh, ws.vocab_size, &n_params, err);
        if (!s) say(&r, "2/5 random-init model in %s: %.0f parameters", path(&r, 0, "init", NULL), (double)n_params);
        if (!s) say(&r, "2/5 pretraining the base on world/pretrain.jsonl for %.0f steps", (double)sh.pretrain_steps);
        sa_train_result tr;
        memset(&tr, 0, sizeof tr);
        if (!s) s = pretrain(&r, &sh, &tr, err);
        if (!s)
            json_object_set_new(r.res, "pretrain", json_pack("{s:I, s:f, s:f, s:f}", "steps", (json_int_t)tr.steps,
                                                             "first_loss", (double)tr.first_loss, "final_loss",
                                                             (double)tr.final_loss, "tokens_per_s", tr.tokens_per_s));
    } else if (!s) {
        say(&r, "2/5 base model already pretrained: %s", path(&r, 0, "base", "model"));
    }
    if (!s) {
        sa_model_config c;
        if (sa_model_config_from_hf(&c, path(&r, 0, "base", "model/config.json"), err) == SA_OK)
            json_object_set_new(r.res, "model",
                                json_pack("{s:i, s:i, s:i, s:i, s:i, s:I}", "dim", c.dim, "hidden", c.hidden_dim,
                                          "layers", c.n_layers, "heads", c.n_heads, "vocab", c.vocab_size, "params",
                                          (json_int_t)sa_model_config_n_params(&c)));
    }
    if (!s) {
        double acc = 0;
        s = copy_probe(&r, path(&r, 3, "base", "model"), &acc, err);
        if (!s) {
            const char *verdict =
                acc >= 0.25 ? "the base copies in context"
                            : "the base barely copies in context: backtranslated instructions will not name the "
                              "page's entity and item and the forward models will not copy them into answers, so no "
                              "held-out effect is expected (pretrain longer: --pretrain-steps)";
            json_object_set_new(r.res, "base_copy_probe",
                                json_pack("{s:f, s:s, s:s}", "accuracy", acc, "what",
                                          "4 random world words said back exactly, greedy; chance ~0", "verdict",
                                          verdict));
            fprintf(r.log, "demo: base model copy probe: %.0f%% of 4-word lists said back exactly (chance ~0): %s\n",
                    100 * acc, verdict);
            if (o->min_copy_probe > 0 && acc < o->min_copy_probe) {
                json_object_set_new(r.res, "stopped",
                                    json_sprintf("after pretraining: the base copy probe %.3f is below %.3f (%s)", acc,
                                                 o->min_copy_probe, verdict));
                sa_strbuf out = {0};
                s = sa_json_dump_line(r.res, &out, err);
                if (!s) s = sa_file_write_atomic(path(&r, 0, "demo_results.json", NULL), out.buf, out.len, err);
                sa_strbuf_free(&out);
                if (!s)
                    s = sa_err_set(err, SA_ERR_RANGE,
                                   "demo: the base copy probe %.3f is below --min-copy-probe %.3f; stopped after "
                                   "pretraining (%s/demo_results.json)",
                                   acc, o->min_copy_probe, o->out_dir);
            }
        }
    }
    double t_base = now_s();

    /* 3. Humpback */
    if (!s) say(&r, "3/5 humpback: backward model, augmentation, M0, pmi curation >= %.3g, M1, M2, control", sh.min_score);
    if (!s) s = humpback(&r, &sh, err);
    double t_hb = now_s();

    /* 4. what backtranslation and curation did */
    if (!s) {
        say(&r, "4/5 checking candidates and curation against the world's truth");
        json_t *aug = NULL, *c1 = NULL, *c2 = NULL;
        s = analyse(path(&r, 0, "humpback", "augment/candidates.jsonl"), false, 0, &aug, err);
        if (!s) s = analyse(path(&r, 0, "humpback", "curate-1/scored.jsonl"), true, sh.min_score, &c1, err);
        if (!s) s = analyse(path(&r, 0, "humpback", "curate-2/scored.jsonl"), true, sh.min_score, &c2, err);
        if (!s) json_object_set_new(r.res, "candidates", json_incref(aug));
        if (!s) json_object_set_new(r.res, "curation", json_pack("[O, O]", c1, c2));
        if (!s) {
            json_int_t cl = json_integer_value(json_object_get(aug, "clean"));
            fprintf(r.log, "demo: %lld candidates, %lld clean documents (%lld with the exact instruction), %lld junk\n",
                    (long long)json_integer_value(json_object_get(aug, "candidates")), (long long)cl,
                    (long long)json_integer_value(json_object_get(aug, "clean_right_instruction")),
                    (long long)(json_integer_value(json_object_get(aug, "candidates")) - cl));
            json_t *cs[2] = {c1, c2};
            for (int k = 0; k < 2; k++)
                fprintf(r.log, "demo: curate-%d kept %lld: precision %.3f, recall %.3f, junk kept %lld of %lld\n", k + 1,
                        (long long)json_integer_value(json_object_get(cs[k], "selected")),
                        json_real_value(json_object_get(cs[k], "precision")),
                        json_real_value(json_object_get(cs[k], "recall")),
                        (long long)json_integer_value(json_object_get(cs[k], "junk_kept")),
                        (long long)json_integer_value(json_object_get(cs[k], "junk_total")));
        }
        json_decref(aug);
        json_decref(c1);
        json_decref(c2);
    }

    /* 5. evaluation */
    items it = {0};
    sa_prompts *pr = NULL;
    if (!s) s = load_items(path(&r, 0, "world", "eval.jsonl"), &it, err);
    if (!s) s = sa_prompts_load(&pr, NULL, err);
    if (!s) s = sa_mkdir_p(path(&r, 0, "eval", NULL), 0777, err);
    json_t *models = json_object();
    for (int k = 0; k < SA_DEMO_MODELS && !s; k++) {
        say(&r, "5/5 evaluating %s on the held-out and seen instructions", k_models[k]);
        char md[64], of[64];
        snprintf(md, sizeof md, "%s/model", k_models[k]);
        snprintf(of, sizeof of, "%s.jsonl", k_models[k]);
        s = eval_model(&r, path(&r, 1, "humpback", md), sa_prompts_get(pr, "tag_seed"), &it, path(&r, 2, "eval", of),
                       &res->heldout[k], &res->seen[k], err);
        if (!s) {
            res->evaluated[k] = true;
            json_object_set_new(models, k_models[k], json_pack("{s:o, s:o}", "heldout", split_json(&res->heldout[k]),
                                                               "seen", split_json(&res->seen[k])));
        }
    }
    sa_prompts_free(pr);
    items_free(&it);
    json_object_set_new(r.res, "models", models);
    double t_end = now_s();
    res->seconds = t_end - r.t0;
    if (!s) {
        json_object_set_new(r.res, "seed", json_integer((json_int_t)o->seed));
        json_object_set_new(r.res, "quick", json_boolean(o->quick));
        json_object_set_new(r.res, "settings",
                            json_pack("{s:s, s:f, s:i, s:I, s:s, s:s}", "curation", "pmi", "min_score", sh.min_score,
                                      "epochs", sh.epochs, "pretrain_steps", (json_int_t)sh.pretrain_steps,
                                      "eval_system", "tag_seed", "decoding", "greedy"));
        json_object_set_new(r.res, "seconds",
                            json_pack("{s:f, s:f, s:f, s:f, s:f}", "world", t_world - r.t0, "base", t_base - t_world,
                                      "humpback", t_hb - t_base, "evaluation", t_end - t_hb, "total", t_end - r.t0));
        sa_strbuf out = {0};
        s = sa_json_dump_line(r.res, &out, err);
        if (!s) s = sa_file_write_atomic(path(&r, 0, "demo_results.json", NULL), out.buf, out.len, err);
        sa_strbuf_free(&out);
    }
    json_decref(r.res);
    for (int i = 0; i < 4; i++) sa_strbuf_free(&r.p[i]);
    (void)n_params;
    return s;
}
