/* cmd_dromedary.c — `selfalign dromedary`: principle-driven self-alignment
 * end to end in one resumable run directory (include/sa/dromedary.h). This
 * file maps options to sa_dromedary_opts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dist_args.h"
#include "engine_args.h"
#include "opts.h"
#include "sa/dromedary.h"
#include "sa/signal.h"
#include "train_args.h"

static const cli_opt k_opts[] = {
    {.name = "run", .type = CLI_OPT_STR, .metavar = "DIR", .required = true,
     .help = "run directory (created; rerun the same command to resume)"},
    {.name = "base", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "base model: HF directory, .gguf or llama2.c checkpoint"},
    {.name = "seed", .type = CLI_OPT_STR, .metavar = "TASKS", .required = true,
     .help = "seed tasks: Self-Instruct seed_tasks.jsonl, records, {instruction} or {question} lines"},
    {.name = "red-team", .type = CLI_OPT_STR, .metavar = "TYPES",
     .help = "red-team question types JSONL ({type, description, examples} or TGRT {topic, question_type, question})"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH", .help = "tokenizer (default: the base model's own)"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template: chatml, llama2, llama3, zephyr, phi3, alpaca, raw (default: the tokenizer's, else alpaca)"},
    {.name = "prompts", .type = CLI_OPT_STR, .metavar = "DIR",
     .help = "override built-in prompts (principles, exemplars, persona...) with DIR/NAME.txt"},
    {.name = "target", .type = CLI_OPT_INT, .metavar = "N", .def = "200", .min = 1, .max = 100000000,
     .help = "new prompts to generate in the self-instruct stage"},
    {.name = "max-rounds", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 100000000,
     .help = "self-instruct rounds at most (0 = until the target or a stall)"},
    {.name = "stall-rounds", .type = CLI_OPT_INT, .metavar = "N", .def = "50", .min = 0, .max = 100000000,
     .help = "stop self-instruct after N rounds in a row accept nothing (0 = never)"},
    {.name = "k", .type = CLI_OPT_INT, .metavar = "N", .def = "6", .min = 1, .max = 64,
     .help = "pool instructions shown per self-instruct prompt"},
    {.name = "topics-per-type", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 100000,
     .help = "red-team topics kept per type (0 = the smallest type's count)"},
    {.name = "questions-per-topic", .type = CLI_OPT_INT, .metavar = "N", .def = "2", .min = 1, .max = 1000,
     .help = "red-team questions per (type, topic)"},
    {.name = "no-seed-prompts", .type = CLI_OPT_FLAG,
     .help = "answer only the generated prompts (default: the seed instructions too)"},
    {.name = "prompt-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 1 << 20,
     .help = "self-instruct: new tokens at most per request"},
    {.name = "answer-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "512", .min = 1, .max = 1 << 20,
     .help = "principle and verbose answers: new tokens at most (thoughts + answer)"},
    {.name = "exemplars", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1 << 20,
     .help = "principle answers: only the first N worked exemplars in the prompt, for a small context (0 = all)"},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0.7", .min = 0, .max = 100,
     .help = "sampling temperature of every generation"},
    {.name = "top-p", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0.9", .min = 1e-6, .max = 1,
     .help = "nucleus mass"},
    {.name = "min-words", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 0, .max = 100000,
     .help = "shortest accepted answer (words)"},
    {.name = "leak-words", .type = CLI_OPT_STR, .metavar = "W,...",
     .help = "extra phrases that mark an answer as leaking exemplar content"},
    {.name = "random-seed", .type = CLI_OPT_INT, .metavar = "S", .def = "1", .min = 0, .max = 9.2e18,
     .help = "run seed for sampling and training"},
    {.name = "gen-batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs; keep it fixed across reruns for bit-exact training resumes)"},
    {.name = "no-prefix-cache", .type = CLI_OPT_FLAG, .help = "recompute the principles prefix for every query"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress bars"},
    CLI_TRAIN_OPTIONS,
    CLI_ENGINE_OPTIONS,
};

static const cli_cmd_spec k_spec = {
    "dromedary", "--base PATH --seed TASKS --run DIR [--red-team TYPES] [options]",
    "Principle-driven self-alignment end to end: self-instruct + red-teaming, principle answers, engraving, "
    "verbose cloning.",
    k_opts, sizeof k_opts / sizeof k_opts[0], 0, 0,
    "stages (each a folder of --run): selfinstruct, principles, engrave, clone-gen, clone (the final model).\n"
    "Training options apply to both fine-tunes; without --lora/--full and --lr they default to the paper's\n"
    "engraving recipe: LoRA r = 16 on q, k, v, o, lr 4e-4. Rerun the same command to resume;\n"
    "`selfalign status --run DIR` shows where a run is. docs/principles.md: adapting the principles.\n",
};

#define MAX_LEAK 256

int cmd_dromedary(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    sa_dromedary_opts o = sa_dromedary_defaults();
    if (!cli_engine_check_args(&a, "dromedary")) return CLI_EXIT_USAGE;
    sa_engine_http_opts http = cli_engine_http_opts(&a);
    if (cli_engine_is_http(&a)) o.http = &http;
    if (!cli_train_apply(&a, "dromedary", &o.engrave)) return CLI_EXIT_USAGE;
    if (!cli_is_set(&a, "lora") && !cli_flag(&a, "full")) { /* the paper's engraving: LoRA r16 on attention */
        o.engrave.lora.rank = 16;
        o.engrave.lora.alpha = 0;
        o.engrave.lora.dropout = (float)cli_float(&a, "lora-dropout");
        if (!cli_is_set(&a, "lora-targets") &&
            sa_lora_targets_parse("q,k,v,o", &o.engrave.lora.targets, &err)) {
            cli_error("dromedary: %s", err.msg);
            return CLI_EXIT_RUNTIME;
        }
    }
    if (!cli_is_set(&a, "lr")) {
        o.engrave.sched.lr = 4e-4f;
        if (!cli_is_set(&a, "lr-final"))
            o.engrave.sched.lr_final = o.engrave.sched.type == SA_LR_CONSTANT ? 4e-4f : 4e-5f;
    }
    o.clone = o.engrave;
    char *leak_copy = NULL;
    const char *leak[MAX_LEAK];
    size_t n_leak = 0;
    if (cli_is_set(&a, "leak-words")) {
        leak_copy = strdup(cli_str(&a, "leak-words"));
        if (!leak_copy) {
            cli_error("dromedary: out of memory");
            return CLI_EXIT_RUNTIME;
        }
        for (char *p = leak_copy, *next; p; p = next) {
            next = strchr(p, ',');
            if (next) *next++ = 0;
            if (*p && n_leak < MAX_LEAK) leak[n_leak++] = p;
        }
    }
    o.run_dir = cli_str(&a, "run");
    o.base = cli_str(&a, "base");
    o.seed_path = cli_str(&a, "seed");
    o.redteam_path = cli_str(&a, "red-team");
    o.tokenizer = cli_str(&a, "tokenizer");
    o.template_name = cli_str(&a, "template");
    o.prompts_dir = cli_str(&a, "prompts");
    o.seed_prompts = !cli_flag(&a, "no-seed-prompts");
    o.target = (uint64_t)cli_int(&a, "target");
    o.max_rounds = (uint32_t)cli_int(&a, "max-rounds");
    o.stall_rounds = (uint32_t)cli_int(&a, "stall-rounds");
    o.k = (uint32_t)cli_int(&a, "k");
    o.topics_per_type = (uint32_t)cli_int(&a, "topics-per-type");
    o.questions_per_topic = (uint32_t)cli_int(&a, "questions-per-topic");
    o.si_max_tokens = (int32_t)cli_int(&a, "prompt-tokens");
    o.answer_max_tokens = (int32_t)cli_int(&a, "answer-tokens");
    o.n_exemplars = (int32_t)cli_int(&a, "exemplars");
    o.temperature = (float)cli_float(&a, "temperature");
    o.top_p = (float)cli_float(&a, "top-p");
    o.min_words = (uint32_t)cli_int(&a, "min-words");
    o.leak_words = leak;
    o.n_leak_words = n_leak;
    o.seed = (uint64_t)cli_int(&a, "random-seed");
    o.gen_batch = (int32_t)cli_int(&a, "gen-batch");
    o.threads = (int)cli_int(&a, "threads");
    o.prefix_cache = !cli_flag(&a, "no-prefix-cache");
    o.quiet = cli_flag(&a, "quiet");
    sa_dist dist; /* under mpirun: rank 0 owns the run, the work is split (humpback.h) */
    int drc = cli_dist_begin(&dist);
    if (drc) return drc;
    o.dist = &dist;
    o.threads = cli_dist_threads(&dist, o.threads);
    sa_status s = sa_signal_install(&err);
    if (!s) s = sa_dromedary_run(&o, &err);
    sa_signal_uninstall();
    free(leak_copy);
    if (s == SA_ERR_INTERRUPTED)
        fprintf(stderr, "selfalign: dromedary interrupted; rerun the same command to resume\n");
    return cli_dist_end(&dist, s ? cli_fail(s, &err) : CLI_EXIT_OK);
}
