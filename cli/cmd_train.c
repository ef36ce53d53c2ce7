/* cmd_train.c — `selfalign train`: fine-tune a base model on instruction
 * records (or plain text), full or LoRA, resumable; the loop is
 * sa_train_run (trainer.h). This file maps options to sa_train_opts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "opts.h"
#include "train_args.h"
#include "sa/dist.h"
#include "sa/signal.h"
#include "sa/trainer.h"

static const cli_opt k_opts[] = {
    {.name = "base", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "base model: HF directory, .gguf or llama2.c checkpoint"},
    {.name = "data", .type = CLI_OPT_STR, .metavar = "FILE[,FILE...]", .required = true,
     .help = "record files (ours, Alpaca, ShareGPT, messages; JSONL or JSON) or, with --text, text files"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "DIR", .required = true, .help = "output directory"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH", .help = "tokenizer (default: the model's own)"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template: chatml, llama2, llama3, zephyr, phi3, alpaca, raw (default: the tokenizer's; alpaca "
             "when it has none)"},
    {.name = "text", .type = CLI_OPT_FLAG, .help = "plain-text language modelling (.jsonl {\"text\"} or any text file)"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "1", .min = 0, .max = 9e18, .help = "run seed"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "reverse", .type = CLI_OPT_FLAG, .help = "backward-model examples: output -> instruction"},
    {.name = "tag", .type = CLI_OPT_STR, .metavar = "SOURCE=TEXT", .repeat = true,
     .help = "system sentence for records of a source (repeatable)"},
    {.name = "resume", .type = CLI_OPT_FLAG, .help = "continue from the output directory's last checkpoint"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress bar"},
    {.name = "stop-after", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1000000000,
     .help = "stop (as if interrupted, with a checkpoint) after N steps of this invocation"},
    CLI_TRAIN_OPTIONS,
};

static const cli_cmd_spec k_spec = {
    "train", "[options]", "Fine-tune a model (full or LoRA) on instruction records or text.", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "writes OUT/train_config.json, metrics.jsonl, data_stats.json, checkpoints (ckpt-*, checkpoint.json),\n"
    "and at the end OUT/model (HF directory, LoRA merged), OUT/adapter (PEFT, with --lora), OUT/model.gguf.\n"
    "Ctrl-C writes a checkpoint; run again with --resume to continue exactly where it stopped.\n"
    "Data-parallel: mpirun -np N selfalign train ... (rank 0 writes; see docs/mpi.md).\n",
};

#define MAX_FILES 256

int cmd_train(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    sa_train_opts o = sa_train_defaults();
    if (!cli_train_apply(&a, "train", &o)) return CLI_EXIT_USAGE;
    /* --data a,b,c (and repeated commas are an error: an empty name) */
    char *data_copy = strdup(cli_str(&a, "data"));
    if (!data_copy) {
        cli_error("train: out of memory");
        return CLI_EXIT_RUNTIME;
    }
    const char *files[MAX_FILES];
    size_t n_files = 0;
    rc = CLI_CONTINUE;
    for (char *p = data_copy, *next; p && rc == CLI_CONTINUE; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = 0;
        if (!*p || n_files == MAX_FILES) {
            cli_error("train: --data: %s", *p ? "too many files" : "empty file name in the list");
            rc = CLI_EXIT_USAGE;
        } else {
            files[n_files++] = p;
        }
    }
    int n_tags = 0;
    const char *const *tag_args = cli_str_all(&a, "tag", &n_tags);
    sa_sft_tag tags[CLI_MAX_REPEAT];
    char *tag_copies[CLI_MAX_REPEAT] = {0};
    for (int i = 0; i < n_tags && rc == CLI_CONTINUE; i++) {
        tag_copies[i] = strdup(tag_args[i]);
        char *eq = tag_copies[i] ? strchr(tag_copies[i], '=') : NULL;
        if (!eq || eq == tag_copies[i]) {
            cli_error("train: --tag '%s': expected SOURCE=TEXT", tag_args[i]);
            rc = CLI_EXIT_USAGE;
            break;
        }
        *eq = 0;
        tags[i] = (sa_sft_tag){tag_copies[i], eq + 1};
    }
    sa_status s = SA_OK;
    if (rc == CLI_CONTINUE) {
        o.base = cli_str(&a, "base");
        o.tokenizer = cli_str(&a, "tokenizer");
        o.data = files, o.n_data = n_files;
        o.out_dir = cli_str(&a, "out");
        o.text_mode = cli_flag(&a, "text");
        o.template_name = cli_str(&a, "template");
        o.tags = tags, o.n_tags = (size_t)n_tags;
        o.reverse = cli_flag(&a, "reverse");
        o.seed = (uint64_t)cli_int(&a, "seed");
        o.threads = (int)cli_int(&a, "threads");
        o.resume = cli_flag(&a, "resume");
        o.quiet = cli_flag(&a, "quiet");
        o.stop_after = cli_int(&a, "stop-after");
    }
    if (rc == CLI_CONTINUE) {
        sa_dist dist;
        s = sa_dist_init(&dist, &err);
        o.dist = &dist;
        if (!s) s = sa_signal_install(&err);
        sa_train_result r;
        if (!s) s = sa_train_run(&o, &r, &err);
        sa_signal_uninstall();
        rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
        bool speak = dist.rank == 0;
        if (s) sa_dist_abandon(&dist);
        else sa_dist_free(&dist);
        if (!s && speak)
            printf("trained %lld steps (resumed at %lld): loss %.4f -> %.4f, eval loss %.4f -> %.4f, %.0f tokens/s\n",
                   (long long)r.steps, (long long)r.resumed_from, r.first_loss, r.final_loss, r.eval_loss_start,
                   r.eval_loss_end, r.tokens_per_s);
    }
    free(data_copy);
    for (int i = 0; i < n_tags; i++) free(tag_copies[i]);
    return rc;
}
