/* cmd_principles.c — `selfalign principles`: Dromedary's principle-driven
 * answers (--mode answer) and the verbose-persona answers of verbose cloning
 * (--mode verbose), filtered and resumable (include/sa/principles.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "model_args.h"
#include "opts.h"
#include "sa/alloc.h"
#include "sa/engine.h"
#include "sa/fileio.h"
#include "sa/model.h"
#include "sa/principles.h"
#include "sa/prompts.h"
#include "sa/signal.h"
#include "sa/strbuf.h"

static const cli_opt k_opts[] = {
    {.name = "model", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "answer mode: the base model; verbose mode: the engraved model"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH",
     .help = "tokenizer (default: the model directory or GGUF itself)"},
    {.name = "in", .type = CLI_OPT_STR, .metavar = "FILE", .required = true,
     .help = "prompt records JSONL ({id?, instruction | question | prompt, ...})"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "FILE", .required = true, .help = "accepted answers (records)"},
    {.name = "mode", .type = CLI_OPT_STR, .metavar = "MODE", .def = "answer",
     .help = "answer (principles + exemplars) or verbose (detailed persona, for cloning)"},
    {.name = "rejected", .type = CLI_OPT_STR, .metavar = "FILE", .help = "rejected answers (default: <out>.rejected.jsonl)"},
    {.name = "stats", .type = CLI_OPT_STR, .metavar = "FILE", .help = "statistics (default: stats.json beside --out)"},
    {.name = "prompts", .type = CLI_OPT_STR, .metavar = "DIR",
     .help = "override built-in prompts with DIR/NAME.txt (principles, principle_exemplars, principle_query, "
             "verbose_persona)"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template: chatml, llama2, llama3, zephyr, phi3, alpaca, raw (default: the tokenizer's, else alpaca)"},
    {.name = "leak-words", .type = CLI_OPT_STR, .metavar = "W,...",
     .help = "extra phrases whose presence (absent from the query) rejects an answer as leakage"},
    {.name = "refusals", .type = CLI_OPT_STR, .metavar = "FILE",
     .help = "refusal patterns, one per line, replacing the built-ins (an empty file disables the filter)"},
    {.name = "min-words", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 0, .max = 1 << 20,
     .help = "reject answers with fewer words (after cutting a repeated tail)"},
    {.name = "max-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "512", .min = 1, .max = 1 << 20,
     .help = "new tokens at most (thoughts + answer; a cut-off reply is rejected as truncated)"},
    {.name = "exemplars", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1 << 20,
     .help = "answer mode: only the first N worked exemplars in the prompt, for a small context (0 = all)"},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0.7", .min = 0, .max = 100,
     .help = "sampling temperature (0 = greedy)"},
    {.name = "top-p", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0.9", .min = 1e-6, .max = 1,
     .help = "nucleus sampling mass"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "0", .min = 0, .max = 9.2e18,
     .help = "run seed (each prompt samples from a stream split by its id)"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "no-prefix-cache", .type = CLI_OPT_FLAG, .help = "recompute the fixed prompt part for every query"},
    {.name = "strict", .type = CLI_OPT_FLAG, .help = "stop at the first bad input line instead of skipping it"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress lines"},
};

static const cli_cmd_spec k_spec = {
    "principles", "--model PATH --in FILE --out FILE [--mode answer|verbose] [options]",
    "Answer prompts guided by written principles and exemplars (Dromedary), or with the verbose persona.", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "Only the final answer is kept (after \"### Answer:\" in answer mode). Accepted answers go to --out\n"
    "as records (source \"principle_answer\" or \"verbose_clone\", instruction = the query alone);\n"
    "rejected ones (error, truncated, no_marker, leakage, repetition, refusal, too_short) to --rejected\n"
    "with the reason. Both files are in input order. Results are journaled in <out>.journal: a rerun\n"
    "after Ctrl-C or a crash skips answered prompts. See docs/principles.md to adapt the prompts.\n",
};

/* Split "a,b,,c" into owned non-blank pieces. */
static sa_status split_words(const char *s, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    while (s && *s) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        while (len && (*s == ' ')) s++, len--;
        while (len && s[len - 1] == ' ') len--;
        if (len) {
            if (!sa_grow((void **)out, &cap, *n + 1, sizeof **out) || !((*out)[*n] = sa_strndup(s, len)))
                return SA_ERR_NOMEM;
            (*n)++;
        }
        s = c ? c + 1 : NULL;
    }
    return SA_OK;
}

/* One pattern per non-blank line of path. *out is non-NULL even when empty
 * (an empty list disables the filter). */
static sa_status read_patterns(const char *path, char ***out, size_t *n, sa_err *err) {
    sa_strbuf b = {0};
    sa_status s = sa_file_read_strbuf(path, &b, err);
    *n = 0;
    size_t cap = 1;
    *out = sa_calloc(1, sizeof **out);
    if (!s && !*out) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    const char *p = sa_strbuf_cstr(&b);
    while (!s && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *q = p;
        while (len && (*q == ' ' || *q == '\t')) q++, len--;
        while (len && (q[len - 1] == ' ' || q[len - 1] == '\t' || q[len - 1] == '\r')) len--;
        if (len) {
            if (!sa_grow((void **)out, &cap, *n + 1, sizeof **out) || !((*out)[*n] = sa_strndup(q, len)))
                s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            else
                (*n)++;
        }
        p = nl ? nl + 1 : p + strlen(p);
    }
    sa_strbuf_free(&b);
    return s;
}

static void free_list(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

int cmd_principles(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    sa_principles_opts o = sa_principles_default_opts();
    if (sa_principles_mode_parse(cli_str(&a, "mode"), &o.mode, &err)) {
        cli_error("principles: %s", err.msg);
        return CLI_EXIT_USAGE;
    }
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    sa_prompts *pr = NULL;
    char **leak = NULL, **refusals = NULL;
    size_t n_leak = 0, n_refusals = 0;
    const char *mpath = cli_str(&a, "model");
    sa_status s = sa_prompts_load(&pr, cli_str(&a, "prompts"), &err);
    if (!s && split_words(cli_str(&a, "leak-words"), &leak, &n_leak)) s = sa_err_set(&err, SA_ERR_NOMEM, "out of memory");
    if (!s && cli_is_set(&a, "refusals")) s = read_patterns(cli_str(&a, "refusals"), &refusals, &n_refusals, &err);
    if (!s) s = cli_load_model_tokenizer(&a, &m, &tok, &err);
    sa_chat_template tmpl;
    bool fell_back = false;
    if (!s) s = sa_chat_template_resolve(tok, cli_str(&a, "template"), &tmpl, &fell_back, &err);
    if (!s && fell_back)
        fprintf(stderr, "selfalign: warning: the tokenizer's chat template is absent or not recognised: using the "
                        "alpaca template, as `selfalign train` does (choose one with --template)\n");
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = (int32_t)cli_int(&a, "batch");
    eo.n_threads = (int32_t)cli_int(&a, "threads");
    if (cli_flag(&a, "no-prefix-cache")) eo.prefix_cache_entries = 0;
    if (!s) s = sa_engine_local_new(&e, m, tok, &eo, &err);
    if (!s) s = sa_signal_install(&err);
    if (!s) {
        o.in_path = cli_str(&a, "in");
        o.out_path = cli_str(&a, "out");
        o.rejected_path = cli_str(&a, "rejected");
        o.stats_path = cli_str(&a, "stats");
        o.model_name = mpath;
        o.prompts = pr;
        o.leak_words = (const char *const *)leak;
        o.n_leak_words = n_leak;
        if (refusals) {
            o.refusals = (const char *const *)refusals;
            o.n_refusals = n_refusals;
        }
        o.min_words = (uint32_t)cli_int(&a, "min-words");
        o.max_tokens = (int32_t)cli_int(&a, "max-tokens");
        o.n_exemplars = (int32_t)cli_int(&a, "exemplars");
        o.temperature = (float)cli_float(&a, "temperature");
        o.top_p = (float)cli_float(&a, "top-p");
        o.seed = (uint64_t)cli_int(&a, "seed");
        /* enough requests per call to keep every slot busy between refills */
        o.chunk = (uint32_t)(cli_int(&a, "batch") * 8 < 64 ? 64 : cli_int(&a, "batch") * 8);
        o.strict = cli_flag(&a, "strict");
        o.progress = cli_flag(&a, "quiet") ? NULL : stderr;
        bool answer = o.mode == SA_PRINCIPLES_ANSWER;
        fprintf(stderr, "principles: model %s, mode %s, template %s, prompts %s, max_tokens %d, temperature %g, top_p "
                        "%g, seed %llu, prefix cache %s\n",
                mpath, sa_principles_mode_name(o.mode), sa_chat_format_name(tmpl.format),
                sa_prompts_origin(pr, answer ? "principle_exemplars" : "verbose_persona"), o.max_tokens,
                (double)o.temperature, (double)o.top_p, (unsigned long long)o.seed,
                eo.prefix_cache_entries ? "on" : "off");
        sa_principles_stats st;
        s = sa_principles_run(e, tok, &tmpl, &o, &st, &err);
        if (!s)
            fprintf(stderr, "principles: fixed prompt part %u tokens; %llu of %llu prompt tokens this run came from the "
                            "prefix cache; leakage blacklist %llu entries\n",
                    st.prefix_tokens, (unsigned long long)st.cached_tokens, (unsigned long long)st.prompt_tokens,
                    (unsigned long long)st.leak_entries);
    }
    rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    sa_prompts_free(pr);
    free_list(leak, n_leak);
    free_list(refusals, n_refusals);
    return rc;
}
