/* cmd_generate.c — `selfalign generate`: text from a model, for one prompt
 * or a JSONL file of prompts (resumable: a rerun skips ids already in the
 * output journal).
 *
 * Input lines are objects with "prompt" (plain text), or "instruction"
 * (+ optional "input"), or with --chat "messages" [{role, content}]; an
 * optional "id" (string or integer) names the result, else the id is a
 * hash of the prompt. Bad lines are reported with file:line and counted.
 *
 * Under `mpirun -np N` each rank generates the prompts whose id hashes to
 * it into its own shard of the journal, and rank 0 folds the shards into
 * --out in input order (shard.h); each result depends only on (seed, id),
 * so the records are those of one process (one process writes them in
 * completion order, the fold in input order).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dist_args.h"
#include "engine_args.h"
#include "model_args.h"
#include "opts.h"
#include "sa/alloc.h"
#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/hash.h"
#include "sa/journal.h"
#include "sa/jsonl.h"
#include "sa/progress.h"
#include "sa/shard.h"
#include "sa/signal.h"

static const cli_opt k_opts[] = {
    {.name = "model", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "model: HF directory, .gguf, or llama2.c checkpoint"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH",
     .help = "tokenizer (default: the model directory or GGUF itself)"},
    {.name = "prompt", .type = CLI_OPT_STR, .metavar = "TEXT", .help = "one prompt; the text goes to stdout"},
    {.name = "in", .type = CLI_OPT_STR, .metavar = "FILE", .help = "JSONL prompts (with --out)"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "FILE", .help = "JSONL results journal (resumable)"},
    {.name = "chat", .type = CLI_OPT_FLAG, .help = "wrap prompts in the model's chat template"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template: chatml, llama2, llama3, zephyr, phi3, alpaca, raw (default: detect)"},
    {.name = "system", .type = CLI_OPT_STR, .metavar = "TEXT", .help = "system message for --chat"},
    {.name = "max-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 1 << 20,
     .help = "new tokens at most"},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0.7", .min = 0, .max = 100,
     .help = "sampling temperature (0 = greedy)"},
    {.name = "top-p", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0.9", .min = 1e-6, .max = 1,
     .help = "nucleus sampling mass"},
    {.name = "top-k", .type = CLI_OPT_INT, .metavar = "K", .def = "0", .min = 0, .max = 1 << 24,
     .help = "keep the K most likely tokens (0 = off)"},
    {.name = "min-p", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0", .min = 0, .max = 1,
     .help = "drop tokens below P x the best token's probability"},
    {.name = "repeat-penalty", .type = CLI_OPT_FLOAT, .metavar = "R", .def = "1", .min = 1e-3, .max = 100,
     .help = "repetition penalty (1 = off)"},
    {.name = "stop", .type = CLI_OPT_STR, .metavar = "TEXT", .help = "stop when this text appears"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "0", .min = 0, .max = 9.2e18,
     .help = "run seed (each prompt samples from a stream split by its id)"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "ctx", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1 << 24,
     .help = "context per sequence (0 = the model's)"},
    {.name = "strict", .type = CLI_OPT_FLAG, .help = "stop at the first bad input line instead of skipping it"},
    CLI_ENGINE_OPTIONS,
};

static const cli_cmd_spec k_spec = {
    "generate", "--model PATH (--prompt TEXT | --in FILE --out FILE) [options]",
    "Generate text with a model, for one prompt or a JSONL file of prompts.", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "input lines: {\"id\": ..., \"prompt\": ...} or {\"instruction\": ..., \"input\": ...}\n"
    "or with --chat {\"messages\": [{\"role\": ..., \"content\": ...}]}.\n"
    "output lines: {\"id\", \"prompt\", \"output\", \"finish_reason\", \"n_prompt_tokens\", \"n_tokens\", \"meta\"}.\n"
    "A rerun with the same --out skips ids already there; Ctrl-C keeps every finished result.\n",
};

typedef struct gen_ctx {
    const cli_args *a;
    const sa_tokenizer *tok;
    sa_chat_template tmpl;
    bool chat;
    sa_shard *j;
    const sa_dist *dist;
    sa_progress *prog;
    const char *model_path;
    json_t **items; /* per request: the input object, kept alive during generation */
    char **ids;
    FILE *single_out;
    sa_err err;
} gen_ctx;

static sa_status on_result(void *p, const sa_gen_result *r) {
    gen_ctx *g = p;
    if (g->single_out) {
        if (r->finish == SA_FINISH_ERROR) return sa_err_set(&g->err, SA_ERR_INVALID_ARG, "%s", r->error);
        fprintf(g->single_out, "%s\n", r->text);
        fflush(g->single_out);
        return SA_OK;
    }
    size_t i = (size_t)(uintptr_t)r->user;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(g->ids[i]));
    json_t *pr = json_object_get(g->items[i], "prompt");
    if (pr) json_object_set(o, "prompt", pr);
    json_object_set_new(o, "output", json_string(r->text));
    json_object_set_new(o, "finish_reason", json_string(sa_finish_reason_str(r->finish)));
    if (r->error) json_object_set_new(o, "error", json_string(r->error));
    json_object_set_new(o, "n_prompt_tokens", json_integer(r->n_prompt_tokens));
    json_object_set_new(o, "n_tokens", json_integer(r->n_tokens));
    json_t *meta = json_object();
    json_object_set_new(meta, "model", json_string(g->model_path));
    json_object_set_new(meta, "temperature", json_real(cli_float(g->a, "temperature")));
    json_object_set_new(meta, "top_p", json_real(cli_float(g->a, "top-p")));
    json_object_set_new(meta, "seed", json_integer((json_int_t)cli_int(g->a, "seed")));
    json_object_set_new(meta, "max_tokens", json_integer((json_int_t)cli_int(g->a, "max-tokens")));
    json_object_set_new(o, "meta", meta);
    sa_status s = sa_shard_append(g->j, o, &g->err);
    json_decref(o);
    if (g->prog) sa_progress_add(g->prog, 1);
    if (!s && sa_signal_pending()) s = sa_signal_check(&g->err);
    return s;
}

/* Fill req from one input object; false (with reason) if it has no prompt. */
static bool build_request(gen_ctx *g, json_t *o, sa_gen_request *req, sa_tokens *toks, char *why, size_t cap) {
    json_t *msgs = json_object_get(o, "messages");
    const char *prompt = json_string_value(json_object_get(o, "prompt"));
    const char *instr = json_string_value(json_object_get(o, "instruction"));
    const char *input = json_string_value(json_object_get(o, "input"));
    sa_strbuf text = {0};
    if (prompt) sa_strbuf_puts(&text, prompt);
    else if (instr) {
        sa_strbuf_puts(&text, instr);
        if (input && *input) sa_strbuf_appendf(&text, "\n\n%s", input);
    } else if (!(g->chat && json_is_array(msgs))) {
        snprintf(why, cap, "no \"prompt\", \"instruction\"%s", g->chat ? " or \"messages\"" : " (\"messages\" needs --chat)");
        return false;
    }
    if (!prompt) { /* keep what was generated from, for the output record */
        if (text.len) json_object_set_new(o, "prompt", json_string(sa_strbuf_cstr(&text)));
    }
    if (!g->chat) {
        req->prompt = json_string_value(json_object_get(o, "prompt"));
        sa_strbuf_free(&text);
        return true;
    }
    sa_chat_msg m[66];
    size_t n = 0;
    const char *sys = cli_str(g->a, "system");
    if (sys) m[n++] = (sa_chat_msg){SA_CHAT_ROLE_SYSTEM, sys};
    if (json_is_array(msgs) && !text.len) {
        size_t k;
        json_t *x;
        json_array_foreach(msgs, k, x) {
            const char *role = json_string_value(json_object_get(x, "role"));
            const char *content = json_string_value(json_object_get(x, "content"));
            if (!role || !content || n >= 64) {
                snprintf(why, cap, "messages[%zu]: needs string \"role\" and \"content\" (at most 64 messages)", k);
                return false;
            }
            sa_chat_role r = strcmp(role, "system") == 0 ? SA_CHAT_ROLE_SYSTEM
                             : strcmp(role, "assistant") == 0 ? SA_CHAT_ROLE_ASSISTANT : SA_CHAT_ROLE_USER;
            m[n++] = (sa_chat_msg){r, content};
        }
    } else {
        m[n++] = (sa_chat_msg){SA_CHAT_ROLE_USER, json_string_value(json_object_get(o, "prompt"))};
    }
    sa_err e = {0};
    toks->n = 0;
    sa_status s = sa_chat_encode(g->tok, &g->tmpl, m, n, true, toks, NULL, &e);
    sa_strbuf_free(&text);
    if (s) {
        snprintf(why, cap, "%s", e.msg);
        return false;
    }
    req->prompt_tokens = toks->ids;
    req->n_prompt_tokens = (int32_t)toks->n;
    return true;
}

static void on_bad_line(void *ctx, const char *path, uint64_t line, const char *reason) {
    (void)ctx;
    fprintf(stderr, "selfalign: warning: %s:%llu: %s (skipped)\n", path, (unsigned long long)line, reason);
}

#define CHUNK 256

static int run_file(gen_ctx *g, sa_engine *e, sa_gen_request base) {
    const cli_args *a = g->a;
    sa_err err = {0};
    sa_shard j;
    sa_journal_opts jo = {.fsync_every_n = 16, .fsync_every_ms = 2000};
    if (sa_shard_open(&j, g->dist, cli_str(a, "out"), &jo, &err)) return cli_fail(err.code, &err);
    g->j = &j;
    const bool rank0 = j.rank == 0;
    uint64_t done_before = sa_shard_done_before(&j);
    json_t *order = json_array(); /* rank 0 under MPI: input ids in order, for the fold */
    sa_jsonl_reader rd;
    sa_jsonl_opts ro = {.policy = cli_flag(a, "strict") ? SA_JSONL_FAIL : SA_JSONL_SKIP,
                        .on_bad = rank0 ? on_bad_line : NULL};
    if (sa_jsonl_reader_open(&rd, cli_str(a, "in"), &ro, &err)) {
        /* the other ranks wait in the finish: agree on the failure there */
        sa_status fs = sa_shard_finish(&j, err.code, NULL, 0, &err);
        json_decref(order);
        return cli_fail(fs, &err);
    }
    sa_gen_request reqs[CHUNK];
    json_t *items[CHUNK];
    char *ids[CHUNK];
    sa_tokens toks[CHUNK];
    memset(toks, 0, sizeof toks);
    g->items = items;
    g->ids = ids;
    sa_progress prog;
    sa_progress_init(&prog, "generate", 0, rank0 ? stderr : NULL);
    g->prog = &prog;
    uint64_t skipped = 0, bad = 0, submitted = 0;
    sa_status s = SA_OK;
    bool eof = false;
    while (!eof && !s) {
        size_t n = 0;
        while (n < CHUNK) {
            json_t *o;
            uint64_t line;
            s = sa_jsonl_next(&rd, &o, &line, &err);
            if (s == SA_ERR_EOF) {
                s = SA_OK;
                eof = true;
                break;
            }
            if (s) break;
            /* the id: given, or a hash of the object's canonical text */
            json_t *jid = json_object_get(o, "id");
            char idbuf[32];
            const char *id = json_string_value(jid);
            if (!id && json_is_integer(jid)) {
                snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(jid));
                id = idbuf;
            }
            char *dump = NULL;
            if (!id) {
                dump = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
                sa_hash_hex(sa_hash_str(dump ? dump : "", 0), idbuf);
                id = idbuf;
            }
            if ((j.size > 1 || j.reorder) && rank0) json_array_append_new(order, json_string(id));
            if (!sa_shard_mine(&j, id)) { /* another rank's prompt */
                free(dump);
                json_decref(o);
                continue;
            }
            if (sa_shard_has(&j, id)) {
                skipped++;
                free(dump);
                json_decref(o);
                continue;
            }
            char why[SA_ERR_MSG_MAX];
            reqs[n] = base;
            if (!build_request(g, o, &reqs[n], &toks[n], why, sizeof why)) {
                fprintf(stderr, "selfalign: warning: %s:%llu: %s (skipped)\n", cli_str(a, "in"), (unsigned long long)line, why);
                bad++;
                free(dump);
                json_decref(o);
                if (cli_flag(a, "strict")) {
                    s = sa_err_set(&err, SA_ERR_FORMAT, "%s:%llu: %s", cli_str(a, "in"), (unsigned long long)line, why);
                    break;
                }
                continue;
            }
            items[n] = o;
            ids[n] = sa_strdup(id);
            free(dump);
            reqs[n].id = sa_hash_str(ids[n], 0);
            reqs[n].user = (void *)(uintptr_t)n;
            n++;
        }
        if (!s && n) {
            s = sa_engine_generate(e, reqs, n, on_result, g, &err);
            if (s && g->err.code) err = g->err;
            submitted += n;
        }
        for (size_t i = 0; i < n; i++) {
            json_decref(items[i]);
            free(ids[i]);
        }
    }
    sa_progress_finish(&prog);
    for (size_t i = 0; i < CHUNK; i++) sa_tokens_free(&toks[i]);
    uint64_t bad_lines = sa_jsonl_stats_bad(&rd.stats);
    sa_jsonl_reader_close(&rd);
    size_t n_order = json_array_size(order);
    const char **oids = n_order ? calloc(n_order, sizeof *oids) : NULL;
    for (size_t i = 0; oids && i < n_order; i++) oids[i] = json_string_value(json_array_get(order, i));
    s = sa_shard_finish(&j, s, oids, oids ? n_order : 0, &err); /* rank 0 folds every rank's results into --out */
    free(oids);
    json_decref(order);
    double sums[3] = {(double)submitted, (double)skipped, (double)bad};
    if (!s) s = sa_dist_allreduce_f64(g->dist, sums, 3, &err);
    submitted = (uint64_t)sums[0], skipped = (uint64_t)sums[1], bad = (uint64_t)sums[2];
    if (rank0)
    fprintf(stderr, "generate: %llu new results (%llu already done, %llu skipped as done now), %llu bad input lines, "
                    "%llu bad records\n",
            (unsigned long long)submitted, (unsigned long long)done_before, (unsigned long long)skipped,
            (unsigned long long)bad_lines, (unsigned long long)bad);
    if (s) return cli_fail(s, &err);
    return CLI_EXIT_OK;
}

int cmd_generate(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    if (!cli_engine_check_args(&a, "generate")) return CLI_EXIT_USAGE;
    bool single = cli_is_set(&a, "prompt");
    if (single == (cli_is_set(&a, "in") || cli_is_set(&a, "out")) || (!single && !(cli_is_set(&a, "in") && cli_is_set(&a, "out")))) {
        cli_error("generate: give either --prompt TEXT or both --in FILE and --out FILE");
        return CLI_EXIT_USAGE;
    }
    sa_err err = {0};
    sa_dist dist;
    if ((rc = cli_dist_begin(&dist))) return rc;
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    const char *mpath = cli_str(&a, "model");
    sa_status s = cli_engine_load(&a, &m, &tok, &err);
    gen_ctx g = {.a = &a, .tok = tok, .chat = cli_flag(&a, "chat"), .model_path = mpath, .dist = &dist};
    if (!s && g.chat) {
        if (cli_is_set(&a, "template")) s = sa_chat_template_from_name(cli_str(&a, "template"), &g.tmpl, &err);
        else sa_chat_template_for_tokenizer(tok, &g.tmpl);
    }
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = (int32_t)cli_int(&a, "batch");
    eo.n_threads = cli_dist_threads(&dist, (int)cli_int(&a, "threads"));
    eo.max_ctx = (int32_t)cli_int(&a, "ctx");
    if (!s) s = cli_engine_new(&a, m, tok, &eo, &e, &err);
    if (s) {
        rc = cli_fail(s, &err);
        goto done;
    }
    sa_gen_request base = sa_gen_request_default();
    base.max_tokens = (int32_t)cli_int(&a, "max-tokens");
    base.sampling.temperature = (float)cli_float(&a, "temperature");
    base.sampling.top_p = (float)cli_float(&a, "top-p");
    base.sampling.top_k = (int32_t)cli_int(&a, "top-k");
    base.sampling.min_p = (float)cli_float(&a, "min-p");
    base.sampling.repetition_penalty = (float)cli_float(&a, "repeat-penalty");
    base.seed = (uint64_t)cli_int(&a, "seed");
    const char *stop = cli_str(&a, "stop");
    if (stop) {
        base.stop = &stop;
        base.n_stop = 1;
    }
    if (!cli_dist_speaks(&dist))
        ; /* rank 0 describes the run */
    else if (!m)
        fprintf(stderr, "generate: --engine http, tokenizer of %s (%s), max_tokens %d, temperature %g, top_p %g, "
                        "top_k %d, seed %llu\n", mpath, sa_tokenizer_describe(tok), base.max_tokens,
                (double)base.sampling.temperature, (double)base.sampling.top_p, base.sampling.top_k,
                (unsigned long long)base.seed);
    else
    fprintf(stderr, "generate: model %s (%s, %d layers, dim %d, vocab %d), %s, max_tokens %d, temperature %g, "
                    "top_p %g, top_k %d, seed %llu, batch %d\n",
            mpath, sa_arch_name(m->cfg.arch), m->cfg.n_layers, m->cfg.dim, m->cfg.vocab_size, sa_tokenizer_describe(tok),
            base.max_tokens, (double)base.sampling.temperature, (double)base.sampling.top_p, base.sampling.top_k,
            (unsigned long long)base.seed, eo.n_slots);
    if (sa_signal_install(&err)) {
        rc = cli_fail(err.code, &err);
        goto done;
    }
    if (single && dist.size > 1) {
        cli_error("generate: --prompt is one request: run it without mpirun (--in/--out is split across ranks)");
        rc = CLI_EXIT_USAGE;
    } else if (single) {
        sa_tokens toks = {0};
        json_t *o = json_object();
        json_object_set_new(o, "prompt", json_string(cli_str(&a, "prompt")));
        char why[SA_ERR_MSG_MAX];
        g.single_out = stdout;
        if (!build_request(&g, o, &base, &toks, why, sizeof why)) {
            cli_error("%s", why);
            rc = CLI_EXIT_RUNTIME;
        } else {
            s = sa_engine_generate(e, &base, 1, on_result, &g, &err);
            if (s && g.err.code) err = g.err;
            rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
        }
        json_decref(o);
        sa_tokens_free(&toks);
    } else {
        rc = run_file(&g, e, base);
    }
done:
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    return cli_dist_end(&dist, rc);
}
