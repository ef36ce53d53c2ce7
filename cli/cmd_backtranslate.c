/* cmd_backtranslate.c — `selfalign backtranslate`: one candidate instruction
 * per corpus segment from the backward model (include/sa/backtranslate.h). */
#include <stdio.h>

#include "commands.h"
#include "dist_args.h"
#include "engine_args.h"
#include "model_args.h"
#include "opts.h"
#include "sa/backtranslate.h"
#include "sa/engine.h"
#include "sa/model.h"
#include "sa/signal.h"

static const cli_opt k_opts[] = {
    {.name = "model", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "backward model M_yx (from `selfalign train --reverse`)"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH",
     .help = "tokenizer (default: the model directory or GGUF itself)"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template as in training: chatml, llama2, llama3, zephyr, phi3, alpaca, raw "
             "(default: the tokenizer's, else alpaca)"},
    {.name = "in", .type = CLI_OPT_STR, .metavar = "FILE", .required = true, .help = "segments JSONL ({id, text, ...})"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "FILE", .required = true, .help = "accepted candidates (records)"},
    {.name = "rejected", .type = CLI_OPT_STR, .metavar = "FILE", .help = "rejected candidates (default: <out>.rejected.jsonl)"},
    {.name = "stats", .type = CLI_OPT_STR, .metavar = "FILE", .help = "statistics (default: stats.json beside --out)"},
    {.name = "max-instruction-chars", .type = CLI_OPT_INT, .metavar = "N", .def = "1000", .min = 1, .max = 1 << 30,
     .help = "reject longer instructions (code points)"},
    {.name = "max-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "128", .min = 1, .max = 1 << 20,
     .help = "new tokens at most (a cut-off instruction is rejected as truncated)"},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0.7", .min = 0, .max = 100,
     .help = "sampling temperature (0 = greedy)"},
    {.name = "top-p", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0.9", .min = 1e-6, .max = 1,
     .help = "nucleus sampling mass"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "0", .min = 0, .max = 9.2e18,
     .help = "run seed (each segment samples from a stream split by its id)"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "strict", .type = CLI_OPT_FLAG, .help = "stop at the first bad input line instead of skipping it"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress lines"},
    CLI_ENGINE_OPTIONS,
};

static const cli_cmd_spec k_spec = {
    "backtranslate", "--model PATH --in FILE --out FILE [options]",
    "Write one candidate instruction per corpus segment with the backward model (resumable).", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "Accepted candidates go to --out as records (source \"augmented\"); rejected ones (empty, too_long,\n"
    "truncated, copied, error) to --rejected as {segment_id, reason, text}. Both files are in input\n"
    "order. Results are journaled in <out>.journal: a rerun after Ctrl-C or a crash skips done segments.\n",
};

int cmd_backtranslate(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    if (!cli_engine_check_args(&a, "backtranslate")) return CLI_EXIT_USAGE;
    sa_err err = {0};
    sa_dist dist;
    if ((rc = cli_dist_begin(&dist))) return rc;
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    const char *mpath = cli_str(&a, "model");
    sa_status s = cli_engine_load(&a, &m, &tok, &err);
    sa_chat_template tmpl;
    bool fell_back = false;
    if (!s) s = sa_chat_template_resolve(tok, cli_str(&a, "template"), &tmpl, &fell_back, &err);
    if (!s && fell_back)
        fprintf(stderr, "selfalign: warning: the tokenizer's chat template is absent or not recognised: using the "
                        "alpaca template, as `selfalign train` does (choose one with --template)\n");
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = (int32_t)cli_int(&a, "batch");
    eo.n_threads = cli_dist_threads(&dist, (int)cli_int(&a, "threads"));
    if (!s) s = cli_engine_new(&a, m, tok, &eo, &e, &err);
    if (!s) s = sa_signal_install(&err);
    if (!s) {
        sa_bt_opts o = sa_bt_default_opts();
        o.in_path = cli_str(&a, "in");
        o.out_path = cli_str(&a, "out");
        o.rejected_path = cli_str(&a, "rejected");
        o.stats_path = cli_str(&a, "stats");
        o.model_name = mpath;
        o.max_instruction_chars = (uint32_t)cli_int(&a, "max-instruction-chars");
        o.max_tokens = (int32_t)cli_int(&a, "max-tokens");
        o.temperature = (float)cli_float(&a, "temperature");
        o.top_p = (float)cli_float(&a, "top-p");
        o.seed = (uint64_t)cli_int(&a, "seed");
        /* enough requests per call to keep every slot busy between refills */
        o.chunk = (uint32_t)(cli_int(&a, "batch") * 8 < 64 ? 64 : cli_int(&a, "batch") * 8);
        o.strict = cli_flag(&a, "strict");
        o.progress = cli_flag(&a, "quiet") ? NULL : stderr;
        o.dist = &dist;
        if (cli_dist_speaks(&dist))
            fprintf(stderr, "backtranslate: model %s, template %s, max_tokens %d, temperature %g, top_p %g, seed %llu\n",
                mpath, sa_chat_format_name(tmpl.format), o.max_tokens, (double)o.temperature, (double)o.top_p,
                (unsigned long long)o.seed);
        s = sa_bt_run(e, tok, &tmpl, &o, NULL, &err);
    }
    rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    return cli_dist_end(&dist, rc);
}
