/* cmd_humpback.c — `selfalign humpback`: the whole instruction-backtranslation
 * loop in one resumable run directory (include/sa/humpback.h). This file maps
 * options to sa_humpback_opts. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "dist_args.h"
#include "engine_args.h"
#include "opts.h"
#include "sa/humpback.h"
#include "sa/signal.h"
#include "train_args.h"

static const cli_opt k_opts[] = {
    {.name = "run", .type = CLI_OPT_STR, .metavar = "DIR", .required = true,
     .help = "run directory (created; rerun the same command to resume)"},
    {.name = "base", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "base model: HF directory, .gguf or llama2.c checkpoint"},
    {.name = "seed", .type = CLI_OPT_STR, .metavar = "FILE", .required = true,
     .help = "seed (instruction, output) records: ours, Alpaca, ShareGPT, messages, Self-Instruct"},
    {.name = "corpus", .type = CLI_OPT_STR, .metavar = "PATH", .required = true, .repeat = true,
     .help = "unlabeled documents: file or directory (repeatable)"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH", .help = "tokenizer (default: the base model's own)"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template: chatml, llama2, llama3, zephyr, phi3, alpaca, raw (default: the tokenizer's, else alpaca)"},
    {.name = "prompts", .type = CLI_OPT_STR, .metavar = "DIR", .help = "override built-in prompts with DIR/NAME.txt"},
    {.name = "iterations", .type = CLI_OPT_INT, .metavar = "N", .def = "2", .min = 0, .max = 100,
     .help = "curate-and-retrain rounds after M0"},
    {.name = "control", .type = CLI_OPT_FLAG,
     .help = "also train an uncurated control: the base on seed + every candidate (stage control/)"},
    {.name = "model-steps", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1000000000,
     .help = "M1..Mn and the control train exactly N optimizer steps (equal compute; 0: by --steps/--epochs)"},
    {.name = "curation-mode", .type = CLI_OPT_STR, .metavar = "MODE", .def = "logits",
     .help = "generate, constrained, logits or pmi"},
    {.name = "min-score", .type = CLI_OPT_FLOAT, .metavar = "K", .min = -1e9, .max = 1e9,
     .help = "select candidates scoring >= K (default: 5 generate/constrained, 4.5 logits, 0 pmi)"},
    {.name = "min-chars", .type = CLI_OPT_INT, .metavar = "N", .def = "600", .min = 0, .max = 1000000000,
     .help = "shortest corpus segment kept (characters)"},
    {.name = "max-chars", .type = CLI_OPT_INT, .metavar = "N", .def = "3000", .min = 1, .max = 1000000000,
     .help = "longest corpus segment kept (characters)"},
    {.name = "dedup-threshold", .type = CLI_OPT_FLOAT, .metavar = "J", .def = "0.8", .min = 0.01, .max = 1,
     .help = "MinHash Jaccard estimate for a near-duplicate segment"},
    {.name = "no-near-dedup", .type = CLI_OPT_FLAG, .help = "exact segment dedup only"},
    {.name = "instruction-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "128", .min = 1, .max = 1 << 20,
     .help = "backtranslation: new tokens at most per instruction"},
    {.name = "max-instruction-chars", .type = CLI_OPT_INT, .metavar = "N", .def = "1000", .min = 1, .max = 1 << 30,
     .help = "backtranslation: reject longer instructions"},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0.7", .min = 0, .max = 100,
     .help = "backtranslation sampling temperature"},
    {.name = "top-p", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0.9", .min = 1e-6, .max = 1,
     .help = "backtranslation nucleus mass"},
    {.name = "curate-max-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 1 << 20,
     .help = "curation (generate/constrained): reason tokens at most"},
    {.name = "curate-temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0", .min = 0, .max = 100,
     .help = "curation (generate/constrained): sampling temperature (0 = greedy)"},
    {.name = "random-seed", .type = CLI_OPT_INT, .metavar = "S", .def = "1", .min = 0, .max = 9.2e18,
     .help = "run seed for training, sampling and MinHash"},
    {.name = "export", .type = CLI_OPT_STR, .metavar = "FORMAT",
     .help = "also write each iteration's selected records as alpaca, sharegpt or messages JSONL"},
    {.name = "gen-batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together in generation and curation"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs; keep it fixed across reruns for bit-exact training resumes)"},
    {.name = "no-prefix-cache", .type = CLI_OPT_FLAG, .help = "recompute the rubric for every pair"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress bars"},
    CLI_TRAIN_OPTIONS,
    CLI_ENGINE_OPTIONS,
};

static const cli_cmd_spec k_spec = {
    "humpback", "--base PATH --seed FILE --corpus PATH... --run DIR [options]",
    "Instruction backtranslation end to end: corpus, backward model, augmentation, M0, then curate + retrain.",
    k_opts, sizeof k_opts / sizeof k_opts[0], 0, 0,
    "stages (each a folder of --run): corpus, backward, augment, m0, then curate-t and mt for t = 1..iterations.\n"
    "Every model starts from the base; M_t trains on seed + the candidates M_{t-1} scored >= --min-score.\n"
    "The training options apply to every fine-tune (backward model included). manifest.json records the\n"
    "resolved config and stage states: rerun the same command after Ctrl-C or a crash to resume;\n"
    "`selfalign status --run DIR` shows where a run is.\n",
};

int cmd_humpback(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    sa_humpback_opts o = sa_humpback_defaults();
    if (!cli_engine_check_args(&a, "humpback")) return CLI_EXIT_USAGE;
    sa_engine_http_opts http = cli_engine_http_opts(&a);
    if (cli_engine_is_http(&a)) o.http = &http;
    if (!cli_train_apply(&a, "humpback", &o.train)) return CLI_EXIT_USAGE;
    if (sa_curate_mode_parse(cli_str(&a, "curation-mode"), &o.mode, &err)) {
        cli_error("humpback: %s", err.msg);
        return CLI_EXIT_USAGE;
    }
    if (cli_is_set(&a, "export")) {
        if (sa_record_format_parse(cli_str(&a, "export"), &o.export_format, &err) ||
            (o.export_format != SA_RECORD_FORMAT_ALPACA && o.export_format != SA_RECORD_FORMAT_SHAREGPT &&
             o.export_format != SA_RECORD_FORMAT_MESSAGES)) {
            cli_error("humpback: --export must be alpaca, sharegpt or messages, not '%s'", cli_str(&a, "export"));
            return CLI_EXIT_USAGE;
        }
    }
    int n_corpus = 0;
    o.corpus = cli_str_all(&a, "corpus", &n_corpus);
    o.n_corpus = (size_t)n_corpus;
    o.run_dir = cli_str(&a, "run");
    o.base = cli_str(&a, "base");
    o.seed_path = cli_str(&a, "seed");
    o.tokenizer = cli_str(&a, "tokenizer");
    o.template_name = cli_str(&a, "template");
    o.prompts_dir = cli_str(&a, "prompts");
    o.iterations = (int32_t)cli_int(&a, "iterations");
    o.control = cli_flag(&a, "control");
    o.model_steps = cli_int(&a, "model-steps");
    o.min_score = cli_is_set(&a, "min-score") ? cli_float(&a, "min-score") : NAN;
    o.corpus_opts.min_chars = (uint32_t)cli_int(&a, "min-chars");
    o.corpus_opts.max_chars = (uint32_t)cli_int(&a, "max-chars");
    o.corpus_opts.minhash.threshold = cli_float(&a, "dedup-threshold");
    o.corpus_opts.near_dedup = !cli_flag(&a, "no-near-dedup");
    o.bt_max_tokens = (int32_t)cli_int(&a, "instruction-tokens");
    o.max_instruction_chars = (uint32_t)cli_int(&a, "max-instruction-chars");
    o.bt_temperature = (float)cli_float(&a, "temperature");
    o.bt_top_p = (float)cli_float(&a, "top-p");
    o.curate_max_tokens = (int32_t)cli_int(&a, "curate-max-tokens");
    o.curate_temperature = (float)cli_float(&a, "curate-temperature");
    o.seed = (uint64_t)cli_int(&a, "random-seed");
    o.gen_batch = (int32_t)cli_int(&a, "gen-batch");
    o.threads = (int)cli_int(&a, "threads");
    o.prefix_cache = !cli_flag(&a, "no-prefix-cache");
    o.quiet = cli_flag(&a, "quiet");
    if (o.corpus_opts.min_chars > o.corpus_opts.max_chars) {
        cli_error("humpback: --min-chars %u is above --max-chars %u", o.corpus_opts.min_chars, o.corpus_opts.max_chars);
        return CLI_EXIT_USAGE;
    }
    sa_dist dist; /* under mpirun: rank 0 owns the run, the work is split (humpback.h) */
    int drc = cli_dist_begin(&dist);
    if (drc) return drc;
    o.dist = &dist;
    o.threads = cli_dist_threads(&dist, o.threads);
    sa_status s = sa_signal_install(&err);
    if (!s) s = sa_humpback_run(&o, &err);
    sa_signal_uninstall();
    if (s == SA_ERR_INTERRUPTED)
        fprintf(stderr, "selfalign: humpback interrupted; rerun the same command to resume\n");
    return cli_dist_end(&dist, s ? cli_fail(s, &err) : CLI_EXIT_OK);
}
