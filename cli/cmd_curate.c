/* cmd_curate.c — `selfalign curate`: the model rates candidate pairs with
 * the rubric (generate | constrained | logits | pmi), resumable; see curate.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dist_args.h"
#include "engine_args.h"
#include "model_args.h"
#include "opts.h"
#include "sa/curate.h"
#include "sa/engine.h"
#include "sa/engine_http.h"
#include "sa/model.h"
#include "sa/prompts.h"
#include "sa/signal.h"

static const cli_opt k_opts[] = {
    {.name = "model", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "the model that rates: HF directory, .gguf, or llama2.c checkpoint"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH",
     .help = "tokenizer (default: the model directory or GGUF itself)"},
    {.name = "in", .type = CLI_OPT_STR, .metavar = "FILE", .required = true, .help = "candidates (JSONL, our schema)"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "FILE", .required = true,
     .help = "scored records journal (resumable); stats.json goes next to it"},
    {.name = "mode", .type = CLI_OPT_STR, .metavar = "MODE", .def = "logits",
     .help = "generate, constrained, logits or pmi"},
    {.name = "min-score", .type = CLI_OPT_FLOAT, .metavar = "K", .def = "5", .min = -1e9, .max = 1e9,
     .help = "selected: score >= K"},
    {.name = "selected", .type = CLI_OPT_STR, .metavar = "FILE", .help = "also write the selected records here"},
    {.name = "prompts", .type = CLI_OPT_STR, .metavar = "DIR", .help = "override built-in prompts with DIR/NAME.txt"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template: chatml, llama2, llama3, zephyr, phi3, alpaca, raw (default: detect, else alpaca)"},
    {.name = "max-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 1 << 20,
     .help = "generate/constrained: reason tokens at most"},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0", .min = 0, .max = 100,
     .help = "generate/constrained: sampling temperature (0 = greedy)"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "0", .min = 0, .max = 9.2e18, .help = "run seed"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "no-prefix-cache", .type = CLI_OPT_FLAG, .help = "recompute the rubric for every pair"},
    CLI_ENGINE_OPTIONS,
};

static const cli_cmd_spec k_spec = {
    "curate", "--model PATH --in FILE --out FILE [--mode MODE] [--min-score K] [options]",
    "Rate candidate (instruction, output) pairs with the model and a five-point rubric.", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "modes: generate (reason, then \"Score: N\", parsed; unparsable outputs are kept and counted),\n"
    "constrained (reason, then the best digit after a forced \"Score: \"), logits (expected digit\n"
    "after \"Score: \", one forward pass), pmi (length-normalised log p(y|x) - log p(y)).\n"
    "A rerun with the same --out skips records already scored.\n",
};

static void on_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    (void)ctx;
    fprintf(stderr, "selfalign: warning: %s:%llu: %s (skipped)\n", path, (unsigned long long)line, reason);
}

int cmd_curate(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    if (!cli_engine_check_args(&a, "curate")) return CLI_EXIT_USAGE;
    sa_err err = {0};
    sa_curate_opts o = sa_curate_default_opts();
    if (sa_curate_mode_parse(cli_str(&a, "mode"), &o.mode, &err)) {
        cli_error("curate: %s", err.msg);
        return CLI_EXIT_USAGE;
    }
    sa_dist dist;
    if ((rc = cli_dist_begin(&dist))) return rc;
    o.dist = &dist;
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    sa_prompts *pr = NULL;
    sa_curator *c = NULL;
    sa_chat_template tmpl;
    const char *mpath = cli_str(&a, "model");
    sa_status s = sa_prompts_load(&pr, cli_str(&a, "prompts"), &err);
    if (!s) s = cli_engine_load(&a, &m, &tok, &err);
    if (!s && cli_is_set(&a, "template")) {
        s = sa_chat_template_from_name(cli_str(&a, "template"), &tmpl, &err);
        o.tmpl = &tmpl;
    }
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = (int32_t)cli_int(&a, "batch");
    eo.n_threads = cli_dist_threads(&dist, (int)cli_int(&a, "threads"));
    if (cli_flag(&a, "no-prefix-cache")) eo.prefix_cache_entries = 0;
    if (!s) s = cli_engine_new(&a, m, tok, &eo, &e, &err);
    if (!s && sa_engine_is_http(e)) { /* fail at start if the server cannot give what the mode needs */
        sa_engine_http_caps caps;
        sa_engine_http_get_caps(e, &caps, NULL);
        if (o.mode == SA_CURATE_PMI && !caps.prompt_logprobs)
            s = sa_err_set(&err, SA_ERR_UNSUPPORTED, "curate --mode pmi needs prompt-token log-probabilities, which the "
                                                     "server at %s does not return (use selfalign serve or vLLM)",
                           cli_str(&a, "url"));
        else if ((o.mode == SA_CURATE_LOGITS || o.mode == SA_CURATE_CONSTRAINED) && !caps.next_token)
            s = sa_err_set(&err, SA_ERR_UNSUPPORTED, "curate --mode %s needs next-token probabilities, which the server "
                                                     "at %s does not give", sa_curate_mode_name(o.mode), cli_str(&a, "url"));
    }
    o.min_score = cli_float(&a, "min-score");
    o.max_tokens = (int32_t)cli_int(&a, "max-tokens");
    o.temperature = (float)cli_float(&a, "temperature");
    o.seed = (uint64_t)cli_int(&a, "seed");
    o.chunk = eo.n_slots * 4;
    o.prompts = pr;
    o.model_name = mpath;
    o.on_bad = cli_dist_speaks(&dist) ? on_bad : NULL; /* every rank reads the input: rank 0 reports it */
    if (!s) s = sa_curator_new(&c, e, &o, &err);
    if (!s) s = sa_signal_install(&err);
    sa_curate_stats st;
    memset(&st, 0, sizeof st);
    bool speak = cli_dist_speaks(&dist);
    if (!s && speak && dist.size > 1)
        fprintf(stderr, "curate: %d MPI ranks (records split by id hash; rank 0 merges)\n", dist.size);
    if (!s) {
        if (speak)
        fprintf(stderr, "curate: model %s, mode %s, rubric %s, min score %g, prefix cache %s\n", mpath,
                sa_curate_mode_name(o.mode), sa_prompts_origin(pr, "rubric"), o.min_score,
                eo.prefix_cache_entries ? "on" : "off");
        s = sa_curate_file(c, cli_str(&a, "in"), cli_str(&a, "out"), cli_str(&a, "selected"), &st, &err);
        if (speak)
        fprintf(stderr, "curate: %llu new (%llu done before, %llu skipped), %llu bad input; output %llu records: %llu "
                        "scored (%llu on an output cut to fit the context), %llu unparsable, %llu errors, %llu "
                        "selected; %.2f pairs/s\n",
                (unsigned long long)st.new_records, (unsigned long long)st.done_before, (unsigned long long)st.skipped,
                (unsigned long long)st.bad_input, (unsigned long long)st.records, (unsigned long long)st.scored,
                (unsigned long long)st.cut, (unsigned long long)st.unparsable, (unsigned long long)st.errors,
                (unsigned long long)st.selected, st.pairs_per_s);
    }
    rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
    sa_curator_free(c);
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    sa_prompts_free(pr);
    return cli_dist_end(&dist, rc);
}
