/* cmd_train.c — `selfalign train`: fine-tune a base model on instruction
 * records (or plain text), full or LoRA, resumable; the loop is
 * sa_train_run (trainer.h). This file maps options to sa_train_opts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "opts.h"
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
    {.name = "lora", .type = CLI_OPT_INT, .metavar = "R", .min = 1, .max = 4096, .help = "LoRA rank (base frozen)"},
    {.name = "full", .type = CLI_OPT_FLAG, .help = "train every weight (the default without --lora)"},
    {.name = "lora-alpha", .type = CLI_OPT_FLOAT, .metavar = "X", .min = 0, .max = 1e6,
     .help = "LoRA alpha (default 2 x rank)"},
    {.name = "lora-dropout", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0.05", .min = 0, .max = 0.99,
     .help = "dropout on the LoRA input"},
    {.name = "lora-targets", .type = CLI_OPT_STR, .metavar = "LIST", .def = "all",
     .help = "adapted projections: q,k,v,o,gate,up,down or all"},
    {.name = "dropout", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0", .min = 0, .max = 0.99,
     .help = "residual dropout"},
    {.name = "epochs", .type = CLI_OPT_INT, .metavar = "N", .def = "1", .min = 1, .max = 1000000,
     .help = "passes over the training split (when --steps is not given)"},
    {.name = "steps", .type = CLI_OPT_INT, .metavar = "N", .min = 1, .max = 1000000000, .help = "optimizer steps"},
    {.name = "lr", .type = CLI_OPT_FLOAT, .metavar = "X", .def = "1e-5", .min = 1e-12, .max = 10, .help = "peak learning rate"},
    {.name = "lr-final", .type = CLI_OPT_FLOAT, .metavar = "X", .min = 0, .max = 10,
     .help = "learning rate at the last step for linear/cosine (default: lr / 10)"},
    {.name = "schedule", .type = CLI_OPT_STR, .metavar = "S", .def = "linear", .help = "constant, linear or cosine"},
    {.name = "warmup", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1000000000,
     .help = "warm-up steps"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 65536, .help = "sequences per micro-batch"},
    {.name = "grad-accum", .type = CLI_OPT_INT, .metavar = "N", .def = "1", .min = 1, .max = 65536,
     .help = "micro-batches per optimizer step"},
    {.name = "seq-len", .type = CLI_OPT_INT, .metavar = "N", .def = "512", .min = 2, .max = 1 << 20,
     .help = "max tokens per example"},
    {.name = "truncate", .type = CLI_OPT_STR, .metavar = "POLICY", .def = "skip",
     .help = "longer examples: skip (reported) or right (cut, reported)"},
    {.name = "weight-decay", .type = CLI_OPT_FLOAT, .metavar = "X", .def = "0.1", .min = 0, .max = 10, .help = "AdamW weight decay"},
    {.name = "beta2", .type = CLI_OPT_FLOAT, .metavar = "X", .def = "0.95", .min = 0, .max = 0.999999, .help = "AdamW beta2"},
    {.name = "clip", .type = CLI_OPT_FLOAT, .metavar = "X", .def = "1", .min = 0, .max = 1e9,
     .help = "global gradient-norm clip (0 = off)"},
    {.name = "eval-frac", .type = CLI_OPT_FLOAT, .metavar = "F", .def = "0", .min = 0, .max = 0.9,
     .help = "held-out fraction for the eval loss"},
    {.name = "eval-every", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1000000000,
     .help = "steps between evaluations (0 = start and end)"},
    {.name = "save-every", .type = CLI_OPT_INT, .metavar = "N", .def = "100", .min = 0, .max = 1000000000,
     .help = "steps between checkpoints (0 = end only)"},
    {.name = "log-every", .type = CLI_OPT_INT, .metavar = "N", .def = "10", .min = 1, .max = 1000000000,
     .help = "steps between metrics lines"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "1", .min = 0, .max = 9e18, .help = "run seed"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "reverse", .type = CLI_OPT_FLAG, .help = "backward-model examples: output -> instruction"},
    {.name = "tag", .type = CLI_OPT_STR, .metavar = "SOURCE=TEXT", .repeat = true,
     .help = "system sentence for records of a source (repeatable)"},
    {.name = "fail-on-bad", .type = CLI_OPT_FLAG, .help = "stop at the first bad record (default: report, count, skip)"},
    {.name = "no-bucket", .type = CLI_OPT_FLAG, .help = "do not group examples of similar length"},
    {.name = "resume", .type = CLI_OPT_FLAG, .help = "continue from the output directory's last checkpoint"},
    {.name = "export-dtype", .type = CLI_OPT_STR, .metavar = "T", .def = "f32", .help = "f32, f16 or bf16 weights in the export"},
    {.name = "gguf", .type = CLI_OPT_FLAG, .help = "also write OUT/model.gguf"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress bar"},
    {.name = "stop-after", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1000000000,
     .help = "stop (as if interrupted, with a checkpoint) after N steps of this invocation"},
};

static const cli_cmd_spec k_spec = {
    "train", "[options]", "Fine-tune a model (full or LoRA) on instruction records or text.", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "writes OUT/train_config.json, metrics.jsonl, data_stats.json, checkpoints (ckpt-*, checkpoint.json),\n"
    "and at the end OUT/model (HF directory, LoRA merged), OUT/adapter (PEFT, with --lora), OUT/model.gguf.\n"
    "Ctrl-C writes a checkpoint; run again with --resume to continue exactly where it stopped.\n",
};

#define MAX_FILES 256

int cmd_train(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    sa_train_opts o = sa_train_defaults();
    if (cli_is_set(&a, "lora") && cli_flag(&a, "full")) {
        cli_error("train: --lora and --full exclude each other");
        return CLI_EXIT_USAGE;
    }
    if (cli_is_set(&a, "steps") && cli_is_set(&a, "epochs")) {
        cli_error("train: give --epochs or --steps, not both");
        return CLI_EXIT_USAGE;
    }
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
    const char *tr = cli_str(&a, "truncate");
    if (rc == CLI_CONTINUE && strcmp(tr, "skip") != 0 && strcmp(tr, "right") != 0) {
        cli_error("train: --truncate must be skip or right, not '%s'", tr);
        rc = CLI_EXIT_USAGE;
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
        o.trunc = strcmp(tr, "right") == 0 ? SA_SFT_TRUNC_RIGHT : SA_SFT_TRUNC_SKIP;
        o.fail_on_bad = cli_flag(&a, "fail-on-bad");
        o.seq_len = (int32_t)cli_int(&a, "seq-len");
        o.eval_frac = cli_float(&a, "eval-frac");
        o.bucket = !cli_flag(&a, "no-bucket");
        if (cli_is_set(&a, "lora")) {
            o.lora.rank = (int32_t)cli_int(&a, "lora");
            o.lora.alpha = cli_is_set(&a, "lora-alpha") ? (float)cli_float(&a, "lora-alpha") : 0.0f;
            o.lora.dropout = (float)cli_float(&a, "lora-dropout");
            s = sa_lora_targets_parse(cli_str(&a, "lora-targets"), &o.lora.targets, &err);
        }
        o.dropout = (float)cli_float(&a, "dropout");
        o.epochs = cli_int(&a, "epochs");
        o.steps = cli_is_set(&a, "steps") ? cli_int(&a, "steps") : 0;
        o.batch = (int32_t)cli_int(&a, "batch");
        o.grad_accum = (int32_t)cli_int(&a, "grad-accum");
        if (!s) s = sa_lr_type_parse(cli_str(&a, "schedule"), &o.sched.type, &err);
        o.sched.lr = (float)cli_float(&a, "lr");
        o.sched.lr_final = cli_is_set(&a, "lr-final") ? (float)cli_float(&a, "lr-final")
                           : o.sched.type == SA_LR_CONSTANT ? o.sched.lr : o.sched.lr / 10.0f;
        o.sched.warmup = cli_int(&a, "warmup");
        o.adamw.weight_decay = (float)cli_float(&a, "weight-decay");
        o.adamw.beta2 = (float)cli_float(&a, "beta2");
        o.clip = (float)cli_float(&a, "clip");
        o.eval_every = cli_int(&a, "eval-every");
        o.save_every = cli_int(&a, "save-every");
        o.log_every = cli_int(&a, "log-every");
        o.seed = (uint64_t)cli_int(&a, "seed");
        o.threads = (int)cli_int(&a, "threads");
        o.resume = cli_flag(&a, "resume");
        o.export_gguf = cli_flag(&a, "gguf");
        o.quiet = cli_flag(&a, "quiet");
        o.stop_after = cli_int(&a, "stop-after");
        const char *dts = cli_str(&a, "export-dtype");
        o.export_dtype = strcasecmp(dts, "f32") == 0 ? SA_DTYPE_F32 : strcasecmp(dts, "f16") == 0 ? SA_DTYPE_F16
                         : strcasecmp(dts, "bf16") == 0 ? SA_DTYPE_BF16 : SA_DTYPE_INVALID;
        if (!s && o.export_dtype != SA_DTYPE_F32 && o.export_dtype != SA_DTYPE_F16 && o.export_dtype != SA_DTYPE_BF16)
            s = sa_err_set(&err, SA_ERR_INVALID_ARG, "--export-dtype must be F32, F16 or BF16");
        if (s) {
            cli_error("train: %s", err.msg);
            rc = CLI_EXIT_USAGE;
        }
    }
    if (rc == CLI_CONTINUE) {
        s = sa_signal_install(&err);
        sa_train_result r;
        if (!s) s = sa_train_run(&o, &r, &err);
        sa_signal_uninstall();
        rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
        if (!s)
            printf("trained %lld steps (resumed at %lld): loss %.4f -> %.4f, eval loss %.4f -> %.4f, %.0f tokens/s\n",
                   (long long)r.steps, (long long)r.resumed_from, r.first_loss, r.final_loss, r.eval_loss_start,
                   r.eval_loss_end, r.tokens_per_s);
    }
    free(data_copy);
    for (int i = 0; i < n_tags; i++) free(tag_copies[i]);
    return rc;
}
